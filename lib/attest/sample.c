/* placeholder until the sample verifier lands */
#include "veil/attest.h"

static json_t *
sample_verify (const json_t *evidence, const veil_attest_expect_t *expect,
               const veil_attest_config_t *cfg, veil_error_t **err)
{
  (void) evidence;
  (void) expect;
  (void) cfg;
  veil_error_set (err, ENOSYS, "sample: verifier not built yet");
  return NULL;
}

const veil_verifier_ops_t veil_verifier_sample = { .tee = "sample", .verify = sample_verify };
