/* placeholder until the az-snp-vtpm verifier lands */
#include "veil/attest.h"

static json_t *
az_verify (const json_t *evidence, const veil_attest_expect_t *expect,
           const veil_attest_config_t *cfg, veil_error_t **err)
{
  (void) evidence;
  (void) expect;
  (void) cfg;
  veil_error_set (err, ENOSYS, "az-snp-vtpm: verifier not built yet");
  return NULL;
}

const veil_verifier_ops_t veil_verifier_az_snp_vtpm = { .tee = "az-snp-vtpm", .verify = az_verify };
