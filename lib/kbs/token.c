/* EAR attestation results (draft-ietf-rats-ear) as ES256 JWTs, and the
 * appraisal that fills them: verified claims against reference values. */
#include <strings.h>
#include "internal.h"

#define EAR_PROFILE "tag:github.com,2023:veraison/ear"
#define TOKEN_MAX (64 * 1024)

/* AR4SI trustworthiness claim values (draft-ietf-rats-ar4si §2.3). */
enum
{
  AR_AFFIRMING = 2,
  AR_UNRECOGNIZED = 33, /* executables: unrecognized runtime */
  AR_UNSAFE = 32,       /* hardware: unsafe; configuration: unsafe */
  AR_CONTRAINDICATED = 96,
};

static const char *
status_of_tier (int worst)
{
  if (worst >= 96)
    return "contraindicated";
  if (worst >= 32)
    return "warning";
  return "affirming";
}

/* A reference value matches a claim when equal; hex strings compare
 * case-insensitively, numbers by value. */
static bool
value_matches (const json_t *claim, const json_t *ref)
{
  if (json_is_string (claim) && json_is_string (ref))
    return strcasecmp (json_string_value (claim), json_string_value (ref)) == 0;
  if (json_is_number (claim) && json_is_number (ref))
    return json_number_value (claim) == json_number_value (ref);
  return json_equal ((json_t *) claim, (json_t *) ref);
}

static bool
claim_in (const json_t *claim, const json_t *allowed)
{
  if (!claim)
    return false;
  if (!json_is_array (allowed))
    return value_matches (claim, allowed);
  size_t i;
  json_t *v;
  json_array_foreach (allowed, i, v)
  {
    if (value_matches (claim, v))
      return true;
  }
  return false;
}

/* Every named claim takes one of its reference values. */
static bool
workload_matches (const json_t *doc, const json_t *claims)
{
  json_t *values = json_object_get (doc, "values");
  if (!json_is_object (values) || json_object_size (values) == 0)
    return false;
  const char *name;
  json_t *allowed;
  json_object_foreach (values, name, allowed)
  {
    if (!claim_in (json_object_get (claims, name), allowed))
      return false;
  }
  return true;
}

static bool
claim_true (const json_t *claims, const char *name)
{
  return json_is_true (json_object_get (claims, name));
}

json_t *
kbs_appraise (kbs_store_t *st, const char *tee, const json_t *claims, veil_error_t **err)
{
  _cleanup_json_ json_t *refs = kbs_store_references_for (st, tee, err);
  if (!refs)
    return NULL;
  int hardware = AR_AFFIRMING, configuration = AR_AFFIRMING, executables;
  /* Software roots prove nothing about hardware: never better than warning. */
  if (claim_true (claims, "sim") || !strcmp (tee, "sample"))
    hardware = AR_UNSAFE;
  if (claim_true (claims, "policy_debug_allowed") || claim_true (claims, "td_attributes_debug"))
    configuration = AR_UNSAFE;
  const char *workload = NULL;
  if (json_object_size (refs) == 0)
    executables = AR_UNRECOGNIZED;
  else
    {
      executables = AR_CONTRAINDICATED;
      const char *name;
      json_t *doc;
      json_object_foreach (refs, name, doc)
      {
        if (workload_matches (doc, claims))
          {
            executables = AR_AFFIRMING;
            workload = name;
            break;
          }
      }
    }
  int worst = hardware;
  if (configuration > worst)
    worst = configuration;
  if (executables > worst)
    worst = executables;
  _cleanup_free_ char *policy_id
      = workload ? xasprintf ("veil:workload:%s", workload) : xstrdup ("veil:default");
  return json_pack ("{s:s, s:{s:i, s:i, s:i, s:i}, s:s, s:o}", "status", status_of_tier (worst),
                    "vector", "instance-identity", AR_AFFIRMING, "configuration", configuration,
                    "executables", executables, "hardware", hardware, "policy_id", policy_id,
                    "workload", workload ? json_string (workload) : json_null ());
}

json_t *
kbs_policy_input (const char *tee, const json_t *claims, const json_t *appraisal)
{
  json_t *in = json_deep_copy (claims);
  json_object_set_new (in, "tee", json_string (tee));
  json_object_set (in, "ear.status", json_object_get (appraisal, "status"));
  json_object_set (in, "workload", json_object_get (appraisal, "workload"));
  return in;
}

int
kbs_signer_open (kbs_signer_t *s, const char *state_dir, veil_error_t **err)
{
  memset (s, 0, sizeof (*s));
  _cleanup_free_ char *path = xasprintf ("%s/keys/token-signing.pem", state_dir);
  if (access (path, F_OK) == 0)
    s->key = veil_pkey_load_file (path, err);
  else
    {
      s->key = veil_pkey_generate ("P-256", err);
      if (s->key)
        {
          _cleanup_free_ char *pem = veil_pkey_to_pem (s->key, true);
          int r = veil_file_write_atomic (path, pem, strlen (pem), 0600, err);
          veil_wipe (pem, strlen (pem));
          if (r < 0)
            {
              EVP_PKEY_free (s->key);
              s->key = NULL;
            }
        }
    }
  if (!s->key)
    return veil_error_wrap (err, "token signing key");
  if (EVP_PKEY_get_base_id (s->key) != EVP_PKEY_EC || EVP_PKEY_get_bits (s->key) != 256)
    return veil_error_set (err, EINVAL, "%s: the token signing key must be EC P-256 (ES256)",
                           path);
  _cleanup_json_ json_t *jwk = veil_jwk_from_pkey (s->key, false, err);
  if (!jwk)
    return -EINVAL;
  s->kid = veil_jwk_thumbprint (jwk, err);
  if (!s->kid)
    return -EINVAL;
  json_object_set_new (jwk, "kid", json_string (s->kid));
  json_object_set_new (jwk, "alg", json_string ("ES256"));
  json_object_set_new (jwk, "use", json_string ("sig"));
  s->jwks = json_pack ("{s:[O]}", "keys", jwk);
  return 0;
}

void
kbs_signer_close (kbs_signer_t *s)
{
  EVP_PKEY_free (s->key);
  free (s->kid);
  json_decref (s->jwks);
  memset (s, 0, sizeof (*s));
}

char *
kbs_token_issue (kbs_signer_t *s, const char *verifier_id, int64_t ttl, const char *tee,
                 const json_t *claims, const json_t *appraisal, const json_t *runtime_data,
                 const json_t *init_data_claims, veil_error_t **err)
{
  int64_t now = veil_now_unix ();
  json_t *annotated = json_object ();
  json_object_set (annotated, tee, (json_t *) claims);
  json_object_set (annotated, "runtime_data_claims", (json_t *) runtime_data);
  if (init_data_claims)
    json_object_set (annotated, "init_data_claims", (json_t *) init_data_claims);
  _cleanup_json_ json_t *body = json_pack (
      "{s:s, s:I, s:I, s:{s:s, s:s}, s:{s:{s:O, s:O, s:O, s:o}}}", "eat_profile", EAR_PROFILE,
      "iat", (json_int_t) now, "exp", (json_int_t) (now + ttl), "ear.verifier-id", "developer",
      "veil", "build", verifier_id, "submods", "cpu0", "ear.status",
      json_object_get (appraisal, "status"), "ear.trustworthiness-vector",
      json_object_get (appraisal, "vector"), "ear.appraisal-policy-id",
      json_object_get (appraisal, "policy_id"), "ear.veraison.annotated-evidence", annotated);
  if (!body)
    {
      veil_error_set (err, EINVAL, "token: cannot build the EAR claims");
      return NULL;
    }
  /* Key order is irrelevant to a JWT's claims: skip the sort that
   * veil_json_dump does for stored documents (~40 claims, every flow). */
  _cleanup_free_ char *payload = json_dumps (body, JSON_COMPACT);
  if (!payload)
    abort ();
  _cleanup_json_ json_t *hdr = json_pack ("{s:s, s:s}", "kid", s->kid, "typ", "JWT");
  return veil_jws_sign (hdr, payload, strlen (payload), s->key, "ES256", err);
}

int
kbs_token_check (kbs_signer_t *s, const char *token, json_t **policy_input, EVP_PKEY **tee_key,
                 veil_error_t **err)
{
  if (strlen (token) > TOKEN_MAX)
    return veil_error_set (err, E2BIG, "token: longer than %d bytes", TOKEN_MAX);
  _cleanup_json_ json_t *body = veil_jwt_verify (token, s->key, veil_now_unix (), 5, err);
  if (!body)
    return veil_error_wrap (err, "token");
  json_t *cpu0 = json_object_get (json_object_get (body, "submods"), "cpu0");
  json_t *ann = json_object_get (cpu0, "ear.veraison.annotated-evidence");
  json_t *rt = json_object_get (ann, "runtime_data_claims");
  json_t *pub = json_object_get (rt, "tee-pubkey");
  const char *status = veil_json_str (cpu0, "ear.status");
  const char *policy_id = veil_json_str (cpu0, "ear.appraisal-policy-id");
  const char *tee = NULL;
  json_t *claims = NULL, *v;
  const char *k;
  json_object_foreach (ann, k, v)
  {
    if (strcmp (k, "runtime_data_claims") && strcmp (k, "init_data_claims"))
      {
        tee = k;
        claims = v;
      }
  }
  if (!json_is_object (pub) || !status || !tee || !json_is_object (claims))
    return veil_error_set (err, EBADMSG, "token: not an EAR token of this service");
  const char *prefix = "veil:workload:";
  _cleanup_json_ json_t *appraisal = json_pack (
      "{s:s, s:o}", "status", status, "workload",
      policy_id && !strncmp (policy_id, prefix, strlen (prefix))
          ? json_string (policy_id + strlen (prefix))
          : json_null ());
  *tee_key = veil_jwk_to_pkey (pub, err);
  if (!*tee_key)
    return veil_error_wrap (err, "token: tee-pubkey");
  *policy_input = kbs_policy_input (tee, claims, appraisal);
  json_t *init = json_object_get (ann, "init_data_claims");
  if (json_is_object (init))
    json_object_set (*policy_input, "init_data", init);
  return 0;
}
