/* placeholder until the snp verifier lands */
#include "veil/attest.h"

static json_t *
snp_verify (const json_t *evidence, const veil_attest_expect_t *expect,
            const veil_attest_config_t *cfg, veil_error_t **err)
{
  (void) evidence;
  (void) expect;
  (void) cfg;
  veil_error_set (err, ENOSYS, "snp: verifier not built yet");
  return NULL;
}

const veil_verifier_ops_t veil_verifier_snp = { .tee = "snp", .verify = snp_verify };
