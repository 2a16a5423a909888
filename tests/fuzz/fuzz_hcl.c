/* Fuzzes the Azure HCL report parser, its var-data binding and the
 * HCLAkPub JWK extraction on raw bytes, and the az-snp-vtpm verifier on
 * the input as JSON evidence. */
#include "veil/attest.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  veil_error_t *err = NULL;
  veil_hcl_report_t h;
  if (veil_hcl_report_parse (data, size, &h, &err) == 0)
    {
      if (h.var_data + h.var_data_len > data + size || h.snp_report + VEIL_SNP_REPORT_SIZE > data + size)
        __builtin_trap ();
      /* the binding fails on mutated input; the key is parsed regardless so
       * that the JSON/JWK path is fuzzed too */
      (void) veil_hcl_check_binding (&h, NULL, NULL, NULL);
      EVP_PKEY_free (veil_hcl_ak_pub (&h, &err));
    }
  veil_error_free (err);
  err = NULL;

  json_t *ev = veil_json_parse (data, size, 1 << 16, NULL);
  if (json_is_object (ev))
    {
      static const veil_attest_config_t cfg = { 0 };
      static const veil_attest_expect_t exp = { .report_data = (const uint8_t *) "challenge",
                                                .report_data_len = 9 };
      json_decref (veil_verifier_az_snp_vtpm.verify (ev, &exp, &cfg, &err));
      veil_error_free (err);
    }
  json_decref (ev);
  return 0;
}
