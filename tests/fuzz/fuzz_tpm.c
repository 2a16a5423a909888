/* Fuzzes the TPM quote parsers (TPMS_ATTEST, TPMT_SIGNATURE) on raw bytes
 * and the "tpm" verifier on the input as JSON evidence. */
#include "veil/attest.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  veil_error_t *err = NULL;
  veil_tpm_attest_t a;
  veil_tpm_signature_t s;
  if (veil_tpm_attest_parse (data, size, &a, &err) == 0)
    {
      /* every borrowed pointer stays inside the input */
      if (a.extra_data_len && (a.extra_data < data || a.extra_data + a.extra_data_len > data + size))
        __builtin_trap ();
      if (a.pcr_digest_len && a.pcr_digest + a.pcr_digest_len > data + size)
        __builtin_trap ();
    }
  veil_error_free (err);
  err = NULL;
  if (veil_tpm_signature_parse (data, size, &s, &err) == 0)
    {
      if (s.sig_len && s.sig + s.sig_len > data + size)
        __builtin_trap ();
      if (s.s_len && s.s + s.s_len > data + size)
        __builtin_trap ();
    }
  veil_error_free (err);
  err = NULL;

  json_t *ev = veil_json_parse (data, size, 1 << 16, NULL);
  if (json_is_object (ev))
    {
      static const uint8_t rd[64] = { 1 };
      veil_attest_expect_t exp = { .report_data = rd, .report_data_len = sizeof (rd) };
      static const veil_attest_config_t cfg = { 0 };
      json_decref (veil_verifier_tpm.verify (ev, &exp, &cfg, &err));
      veil_error_free (err);
    }
  json_decref (ev);
  return 0;
}
