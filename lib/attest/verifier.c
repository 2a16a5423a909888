/* Verifier registry and dispatch. */
#include "veil/attest.h"

static const veil_verifier_ops_t *const verifiers[] = {
  &veil_verifier_snp,
  &veil_verifier_tdx,
  &veil_verifier_tpm,
  &veil_verifier_az_snp_vtpm,
  &veil_verifier_sample,
};

const veil_verifier_ops_t *
veil_verifier_find (const char *tee)
{
  for (size_t i = 0; tee && i < VEIL_ARRAY_SIZE (verifiers); i++)
    if (!strcmp (verifiers[i]->tee, tee))
      return verifiers[i];
  return NULL;
}

json_t *
veil_attest_verify (const char *tee, const json_t *evidence, const veil_attest_expect_t *expect,
                    const veil_attest_config_t *cfg, veil_error_t **err)
{
  const veil_verifier_ops_t *ops = veil_verifier_find (tee);
  if (!ops)
    {
      veil_error_set (err, ENOTSUP, "attest: unknown TEE '%s'", tee ? tee : "(none)");
      return NULL;
    }
  if (!json_is_object (evidence))
    {
      veil_error_set (err, EBADMSG, "%s: evidence is not a JSON object", ops->tee);
      return NULL;
    }
  static const veil_attest_config_t defaults = { 0 };
  json_t *claims = ops->verify (evidence, expect, cfg ? cfg : &defaults, err);
  if (claims && !json_object_get (claims, "tee"))
    json_object_set_new (claims, "tee", json_string (ops->tee));
  return claims;
}
