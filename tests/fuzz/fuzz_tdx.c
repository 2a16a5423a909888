/* Fuzzes the TDX quote parser and verifier, the CCEL event log parser and
 * replay, and the scanner that finds the signed bytes of Intel collateral.
 * The first input byte selects the target (seeds: corpus/tdx/). */
#include "veil/attest.h"
#include "../../lib/attest/tdx_internal.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  uint8_t sel = data[0] % 3;
  data++;
  size--;
  veil_error_t *err = NULL;
  if (sel == 0)
    {
      veil_tdx_quote_t q;
      veil_tdx_quote_parse (data, size, &q, NULL);
      veil_attest_config_t cfg = { .allow_debug = true, .now = 1763856000 };
      json_decref (veil_tdx_verify_quote (data, size, NULL, &cfg, &err));
    }
  else if (sel == 1)
    {
      uint8_t rtmr[4][VEIL_SHA384_LEN];
      json_decref (veil_ccel_parse (data, size, &err));
      veil_error_free (err);
      err = NULL;
      veil_ccel_replay (data, size, rtmr, &err);
    }
  else
    {
      const char *start;
      size_t n;
      if (tdx_json_member_span ((const char *) data, size, "tcbInfo", &start, &n, &err) == 0
          && (start < (const char *) data || start + n > (const char *) data + size))
        __builtin_trap ();
    }
  veil_error_free (err);
  return 0;
}
