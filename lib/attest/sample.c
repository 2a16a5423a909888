/* Trustee's "sample" TEE: no hardware, no signature — the evidence is
 * {"svn": "1", "report_data": "<b64 of the 48-byte binding digest>"}.  It
 * proves nothing and is refused unless the configuration allows it; the
 * release policy additionally refuses it unless a policy names it. */
#include "veil/attest.h"

#define SAMPLE_MAX_REPORT_DATA 64

static json_t *
sample_verify (const json_t *evidence, const veil_attest_expect_t *expect,
               const veil_attest_config_t *cfg, veil_error_t **err)
{
  if (!cfg->allow_sample)
    {
      veil_error_set (err, EACCES, "sample: the sample TEE is not allowed by the configuration");
      return NULL;
    }
  const char *svn = veil_json_req_str (evidence, "svn", err);
  if (!svn)
    {
      veil_error_wrap (err, "sample");
      return NULL;
    }
  _cleanup_free_ uint8_t *rd = NULL;
  size_t rd_len = 0;
  if (veil_json_req_b64 (evidence, "report_data", SAMPLE_MAX_REPORT_DATA, &rd, &rd_len, err) < 0)
    {
      veil_error_wrap (err, "sample");
      return NULL;
    }
  /* The sample TEE carries the binding digest exactly, not padded. */
  if (expect && expect->report_data
      && (rd_len != expect->report_data_len
          || !veil_ct_equal (rd, expect->report_data, rd_len)))
    {
      veil_error_set (err, EKEYREJECTED,
                      "sample: report_data does not match the runtime-data binding");
      return NULL;
    }
  _cleanup_free_ char *hex = veil_hex_encode (rd, rd_len);
  return json_pack ("{s:s, s:s}", "svn", svn, "report_data", hex);
}

const veil_verifier_ops_t veil_verifier_sample = { .tee = "sample", .verify = sample_verify };
