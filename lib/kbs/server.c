/* The KBS protocol (Trustee RCAR v0.1.x) over HTTP:
 *   POST /kbs/v0/auth       → session cookie + single-use nonce
 *   POST /kbs/v0/attest     → evidence bound to the nonce and the tee-pubkey → EAR token
 *   GET  /kbs/v0/resource/<repo>/<type>/<tag> → JWE to the attested tee-pubkey
 * Errors are RFC 7807 problems that say what failed. */
#include <stdio.h>
#include "internal.h"
#include "veil/policy.h"

#define BODY_MAX (1 << 20)
#define RESOURCE_PATH_MAX 256
#define INIT_DATA_MAX (64 * 1024)

static void
problem_from (veil_http_response_t *resp, int status, const char *type, const veil_error_t *err)
{
  veil_http_response_problem (resp, status, type, err ? err->msg : type);
}

static json_t *
parse_body (const veil_http_request_t *req, veil_http_response_t *resp)
{
  _cleanup_error_ veil_error_t *err = NULL;
  json_t *j = veil_json_parse (req->body, req->body_len, BODY_MAX, &err);
  if (!j)
    {
      veil_error_wrap (&err, "request body");
      problem_from (resp, err->code == E2BIG ? 413 : 400, "bad-request", err);
      return NULL;
    }
  if (!json_is_object (j))
    {
      json_decref (j);
      veil_http_response_problem (resp, 400, "bad-request", "request body: not a JSON object");
      return NULL;
    }
  return j;
}

/* ---- /auth ---- */

static void
handle_auth (veil_kbs_t *kbs, const veil_http_request_t *req, veil_http_response_t *resp)
{
  _cleanup_json_ json_t *body = parse_body (req, resp);
  if (!body)
    return;
  _cleanup_error_ veil_error_t *err = NULL;
  const char *version = veil_json_req_str (body, "version", &err);
  const char *tee = version ? veil_json_req_str (body, "tee", &err) : NULL;
  if (!tee)
    {
      veil_error_wrap (&err, "auth");
      problem_from (resp, 400, "bad-request", err);
      return;
    }
  /* Protocol 0.1.x: newer minor versions of clients speak the same flow. */
  if (strncmp (version, "0.1.", 4) != 0)
    {
      _cleanup_free_ char *d = xasprintf ("auth: protocol version '%s' is not supported (0.1.x)", version);
      veil_http_response_problem (resp, 400, "unsupported-version", d);
      return;
    }
  if (!veil_verifier_find (tee))
    {
      _cleanup_free_ char *d = xasprintf ("auth: unknown TEE '%.64s'", tee);
      kbs_store_audit (&kbs->store, "auth", "refused", NULL, NULL, NULL, d, req->peer);
      veil_http_response_problem (resp, 400, "unsupported-tee", d);
      return;
    }
  if (!strcmp (tee, "sample") && !kbs->cfg.attest.allow_sample)
    {
      veil_http_response_problem (resp, 403, "tee-not-allowed",
                                  "auth: the sample TEE is not allowed by this service's configuration");
      return;
    }
  char id[KBS_SESSION_ID_LEN + 1];
  uint8_t nonce[VEIL_KBS_NONCE_LEN];
  if (kbs_sessions_create (&kbs->sessions, tee, id, nonce, &err) < 0)
    {
      problem_from (resp, 503, "busy", err);
      return;
    }
  _cleanup_free_ char *nonce_b64 = veil_b64_encode (nonce, sizeof (nonce));
  _cleanup_free_ char *cookie = xasprintf ("%s=%s; Path=/kbs; Max-Age=%lld; HttpOnly",
                                           VEIL_KBS_SESSION_COOKIE, id,
                                           (long long) kbs->cfg.session_ttl);
  veil_http_response_header (resp, "Set-Cookie", cookie);
  veil_http_response_json (resp, 200,
                           json_pack ("{s:s, s:s}", "nonce", nonce_b64, "extra-params", ""));
}

/* ---- /attest ---- */

int
veil_kbs_runtime_data_digest (const json_t *runtime_data, uint8_t out[VEIL_SHA384_LEN],
                              veil_error_t **err)
{
  _cleanup_free_ char *jcs = veil_jcs (runtime_data, err);
  if (!jcs)
    return veil_error_wrap (err, "runtime-data");
  veil_sha384 (jcs, strlen (jcs), out);
  return 0;
}

/* The init-data digest algorithm is named inside the document: TOML
 * `algorithm = "sha384"` (Trustee's initdata.toml) or a JSON "algorithm". */
static char *
init_data_algorithm (const char *format, const char *body, veil_error_t **err)
{
  if (!strcmp (format, "json"))
    {
      _cleanup_json_ json_t *j = veil_json_parse (body, strlen (body), INIT_DATA_MAX, err);
      const char *a = j ? veil_json_str (j, "algorithm") : NULL;
      if (!a)
        {
          veil_error_set (err, EBADMSG, "init-data: JSON body has no \"algorithm\"");
          return NULL;
        }
      return xstrdup (a);
    }
  if (!strcmp (format, "toml"))
    {
      for (const char *line = body; line && *line;)
        {
          const char *end = strchr (line, '\n');
          size_t n = end ? (size_t) (end - line) : strlen (line);
          char alg[16];
          /* only a top-level key, before any [table] */
          if (n && line[0] == '[')
            break;
          if (sscanf (line, " algorithm = \"%15[a-z0-9]\"", alg) == 1)
            return xstrdup (alg);
          line = end ? end + 1 : NULL;
        }
      veil_error_set (err, EBADMSG, "init-data: TOML body has no top-level algorithm");
      return NULL;
    }
  veil_error_set (err, EBADMSG, "init-data: unknown format '%.16s' (toml or json)", format);
  return NULL;
}

static json_t *
init_data_claims (const json_t *init_data, uint8_t digest[VEIL_SHA512_LEN], size_t *digest_len,
                  veil_error_t **err)
{
  const char *format = veil_json_req_str (init_data, "format", err);
  const char *body = format ? veil_json_req_str (init_data, "body", err) : NULL;
  if (!body)
    {
      veil_error_wrap (err, "init-data");
      return NULL;
    }
  if (strlen (body) > INIT_DATA_MAX)
    {
      veil_error_set (err, E2BIG, "init-data: body larger than %d bytes", INIT_DATA_MAX);
      return NULL;
    }
  _cleanup_free_ char *alg = init_data_algorithm (format, body, err);
  if (!alg)
    return NULL;
  int n = veil_digest (alg, body, strlen (body), digest);
  if (n < 0)
    {
      veil_error_set (err, EBADMSG, "init-data: unsupported algorithm '%s'", alg);
      return NULL;
    }
  *digest_len = (size_t) n;
  _cleanup_free_ char *hex = veil_hex_encode (digest, (size_t) n);
  return json_pack ("{s:s, s:s, s:s}", "format", format, "algorithm", alg, "digest", hex);
}

/* tee-evidence: {"primary_evidence": {...}, "additional_evidence": "…"}, or
 * (older clients) the evidence itself, as an object or a JSON string. */
static json_t *
primary_evidence (json_t *tee_evidence, veil_error_t **err)
{
  if (json_is_string (tee_evidence))
    {
      const char *s = json_string_value (tee_evidence);
      return veil_json_parse (s, strlen (s), BODY_MAX, err);
    }
  if (!json_is_object (tee_evidence))
    {
      veil_error_set (err, EBADMSG, "field 'tee-evidence': not an object");
      return NULL;
    }
  json_t *p = json_object_get (tee_evidence, "primary_evidence");
  if (!p)
    return json_incref (tee_evidence);
  if (json_is_string (p))
    return veil_json_parse (json_string_value (p), strlen (json_string_value (p)), BODY_MAX, err);
  return json_incref (p);
}

/* The tee-pubkey must be a public RSA or EC key we can encrypt to; the
 * imported key is kept for the session's resources. */
static EVP_PKEY *
check_tee_pubkey (const json_t *jwk, veil_error_t **err)
{
  if (!json_is_object (jwk))
    {
      veil_error_set (err, EBADMSG, "runtime-data: tee-pubkey is not a JWK object");
      return NULL;
    }
  if (json_object_get (jwk, "d"))
    {
      veil_error_set (err, EBADMSG, "runtime-data: tee-pubkey contains a private key");
      return NULL;
    }
  _cleanup_pkey_ EVP_PKEY *pk = veil_jwk_to_pkey (jwk, err);
  if (!pk)
    {
      veil_error_wrap (err, "runtime-data: tee-pubkey");
      return NULL;
    }
  int id = EVP_PKEY_get_base_id (pk);
  if (id != EVP_PKEY_RSA && id != EVP_PKEY_EC)
    {
      veil_error_set (err, EBADMSG, "runtime-data: tee-pubkey must be an RSA or EC key");
      return NULL;
    }
  return steal_pointer (&pk);
}

typedef struct attest_ctx
{
  const char *session;
  char tee[32];
  uint8_t nonce[VEIL_KBS_NONCE_LEN];
  json_t *runtime_data;
  json_t *init_claims;
  EVP_PKEY *tee_key;
  uint8_t init_digest[VEIL_SHA512_LEN];
  size_t init_digest_len;
} attest_ctx_t;

static int
check_nonce (const attest_ctx_t *a, veil_error_t **err)
{
  const char *n = veil_json_req_str (a->runtime_data, "nonce", err);
  if (!n)
    return veil_error_wrap (err, "runtime-data");
  _cleanup_free_ uint8_t *raw = NULL;
  size_t len = 0;
  if (strlen (n) > 128 || veil_b64any_decode (n, &raw, &len, NULL) < 0 || len != VEIL_KBS_NONCE_LEN
      || !veil_ct_equal (raw, a->nonce, VEIL_KBS_NONCE_LEN))
    return veil_error_set (err, EKEYREJECTED,
                           "runtime-data: nonce is not the one issued to this session");
  return 0;
}

static json_t *
attest_verify (veil_kbs_t *kbs, attest_ctx_t *a, json_t *body, veil_error_t **err)
{
  a->runtime_data = veil_json_req_obj (body, "runtime-data", err);
  if (!a->runtime_data)
    return NULL;
  if (check_nonce (a, err) < 0)
    return NULL;
  a->tee_key = check_tee_pubkey (json_object_get (a->runtime_data, "tee-pubkey"), err);
  if (!a->tee_key)
    return NULL;
  uint8_t digest[VEIL_SHA384_LEN], rd[64] = { 0 };
  if (veil_kbs_runtime_data_digest (a->runtime_data, digest, err) < 0)
    return NULL;
  memcpy (rd, digest, sizeof (digest));
  veil_attest_expect_t expect = {
    .report_data = rd,
    /* SNP/TDX carry 64 bytes (digest zero-padded); sample carries it exactly */
    .report_data_len = !strcmp (a->tee, "sample") ? VEIL_SHA384_LEN : 64,
  };
  json_t *init = json_object_get (body, "init-data");
  if (init && !json_is_null (init))
    {
      a->init_claims = init_data_claims (init, a->init_digest, &a->init_digest_len, err);
      if (!a->init_claims)
        return NULL;
      expect.init_data_digest = a->init_digest;
      expect.init_data_digest_len = a->init_digest_len;
    }
  json_t *te = json_object_get (body, "tee-evidence");
  if (!te)
    {
      veil_error_set (err, EBADMSG, "field 'tee-evidence': missing");
      return NULL;
    }
  _cleanup_json_ json_t *evidence = primary_evidence (te, err);
  if (!evidence)
    return NULL;
  return veil_attest_verify (a->tee, evidence, &expect, &kbs->cfg.attest, err);
}

static void
handle_attest (veil_kbs_t *kbs, const veil_http_request_t *req, veil_http_response_t *resp)
{
  _cleanup_error_ veil_error_t *err = NULL;
  attest_ctx_t a = { .session = veil_http_request_cookie (req, VEIL_KBS_SESSION_COOKIE) };
  if (!a.session)
    {
      veil_http_response_problem (resp, 401, "no-session",
                                  "attest: no kbs-session-id cookie: POST /kbs/v0/auth first");
      return;
    }
  _cleanup_json_ json_t *body = parse_body (req, resp);
  if (!body)
    return;
  /* The nonce is consumed by this attempt whatever its outcome: replay of a
   * captured attestation, or retries against the verifier, need a new /auth. */
  int r = kbs_sessions_take_nonce (&kbs->sessions, a.session, a.tee, a.nonce, &err);
  if (r < 0)
    {
      veil_error_wrap (&err, "attest");
      kbs_store_audit (&kbs->store, "attest", "refused", NULL, a.session, NULL, err->msg, req->peer);
      problem_from (resp, 401, r == -EALREADY ? "nonce-reused" : "invalid-session", err);
      return;
    }
  _cleanup_json_ json_t *claims = attest_verify (kbs, &a, body, &err);
  _cleanup_json_ json_t *init_claims = a.init_claims;
  _cleanup_pkey_ EVP_PKEY *tee_key = a.tee_key;
  veil_wipe (a.nonce, sizeof (a.nonce));
  if (!claims)
    {
      veil_error_wrap (&err, "attest");
      kbs_store_audit (&kbs->store, "attest", "refused", a.tee, a.session, NULL, err->msg, req->peer);
      problem_from (resp, err->code == EBADMSG ? 400 : 401, "attestation-failed", err);
      return;
    }
  _cleanup_json_ json_t *appraisal = kbs_appraise (&kbs->store, a.tee, claims, &err);
  _cleanup_free_ char *token
      = appraisal ? kbs_token_issue (&kbs->signer, kbs->verifier_id, kbs->cfg.token_ttl, a.tee,
                                     claims, appraisal, a.runtime_data, init_claims, &err)
                  : NULL;
  if (!token)
    {
      problem_from (resp, 500, "internal", err);
      return;
    }
  json_t *in = kbs_policy_input (a.tee, claims, appraisal);
  if (init_claims)
    json_object_set (in, "init_data", init_claims);
  kbs_sessions_set_attested (&kbs->sessions, a.session, in, steal_pointer (&tee_key),
                             veil_now_unix () + kbs->cfg.token_ttl, NULL);
  _cleanup_free_ char *why = xasprintf ("ear.status=%s", veil_json_str (appraisal, "status"));
  kbs_store_audit (&kbs->store, "attest", "accepted", a.tee, a.session, NULL, why, req->peer);
  /* The token is base64url segments joined by dots: nothing to escape, so
   * the body is written directly instead of serialising a 4 KB string. */
  _cleanup_free_ char *doc = xasprintf ("{\"token\":\"%s\"}", token);
  veil_http_response_text (resp, 200, "application/json", doc, strlen (doc));
}

/* ---- /resource ---- */

/* <repo>/<type>/<tag>: three non-empty segments of [A-Za-z0-9._-], no dot
 * segments, so a path can never escape into something else. */
bool kbs_resource_path_valid (const char *p);
bool
kbs_resource_path_valid (const char *p)
{
  if (!p || !*p || strlen (p) > RESOURCE_PATH_MAX)
    return false;
  int segs = 1;
  size_t seglen = 0;
  const char *seg = p;
  for (const char *c = p;; c++)
    {
      if (*c == '/' || *c == 0)
        {
          if (seglen == 0 || (seglen == 1 && seg[0] == '.')
              || (seglen == 2 && seg[0] == '.' && seg[1] == '.'))
            return false;
          if (*c == 0)
            break;
          segs++;
          seglen = 0;
          seg = c + 1;
          continue;
        }
      if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')
            || *c == '.' || *c == '_' || *c == '-'))
        return false;
      seglen++;
    }
  return segs == 3;
}

static int
resource_caller (veil_kbs_t *kbs, const veil_http_request_t *req, json_t **input, EVP_PKEY **pubkey,
                 veil_error_t **err)
{
  const char *authz = veil_http_request_header (req, "authorization");
  if (authz && !strncasecmp (authz, "Bearer ", 7))
    return kbs_token_check (&kbs->signer, authz + 7, input, pubkey, err);
  const char *sid = veil_http_request_cookie (req, VEIL_KBS_SESSION_COOKIE);
  if (!sid)
    return veil_error_set (err, EPERM, "no session cookie and no bearer token: attest first");
  return kbs_sessions_get_attested (&kbs->sessions, sid, input, pubkey, err);
}

static void
refuse (veil_kbs_t *kbs, const veil_http_request_t *req, veil_http_response_t *resp, int status,
        const char *type, const char *tee, const char *path, const char *why)
{
  kbs_store_audit (&kbs->store, "release", "refused", tee, veil_http_request_cookie (req, VEIL_KBS_SESSION_COOKIE),
                   path, why, req->peer);
  veil_http_response_problem (resp, status, type, why);
}

static void
handle_resource_get (veil_kbs_t *kbs, const veil_http_request_t *req, const char *path,
                     veil_http_response_t *resp)
{
  _cleanup_error_ veil_error_t *err = NULL;
  _cleanup_json_ json_t *input = NULL;
  _cleanup_pkey_ EVP_PKEY *pubkey = NULL;
  if (resource_caller (kbs, req, &input, &pubkey, &err) < 0)
    {
      veil_error_wrap (&err, "resource");
      refuse (kbs, req, resp, 401, "unauthorized", NULL, path, err->msg);
      return;
    }
  const char *tee = veil_json_str (input, "tee");
  _cleanup_secret_ uint8_t *secret = NULL;
  size_t len = 0;
  int r = kbs_store_get_resource (&kbs->store, path, &secret, &len, &err);
  if (r < 0)
    {
      refuse (kbs, req, resp, r == -ENOENT ? 404 : 500, r == -ENOENT ? "not-found" : "internal",
              tee, path, err->msg);
      return;
    }
  _cleanup_free_ char *pattern = NULL;
  _cleanup_json_ json_t *policy = kbs_store_find_policy (&kbs->store, path, &pattern, &err);
  if (!policy)
    {
      _cleanup_free_ char *why = err ? xasprintf ("release policy: %s", err->msg)
                                     : xasprintf ("no release policy covers '%s' (default deny)", path);
      refuse (kbs, req, resp, 403, "policy-denied", tee, path, why);
      return;
    }
  _cleanup_free_ char *reason = NULL;
  const char *status = veil_json_str (input, "ear.status");
  if (status && !strcmp (status, "contraindicated"))
    r = 0, reason = xstrdup ("attestation result is contraindicated");
  else
    r = veil_release_policy_eval (policy, input, &reason, &err);
  if (r <= 0)
    {
      _cleanup_free_ char *why = xasprintf ("release policy '%s' refused: %s", pattern,
                                            r < 0 ? err->msg : reason ? reason
                                                                      : "rule not satisfied");
      refuse (kbs, req, resp, 403, "policy-denied", tee, path, why);
      return;
    }
  _cleanup_json_ json_t *jwe = veil_jwe_encrypt_pkey (pubkey, NULL, "A256GCM", secret, len, &err);
  if (!jwe)
    {
      veil_error_wrap (&err, "resource: encrypting to tee-pubkey");
      refuse (kbs, req, resp, 500, "internal", tee, path, err->msg);
      return;
    }
  _cleanup_free_ char *why = xasprintf ("release policy '%s'", pattern);
  kbs_store_audit (&kbs->store, "release", "released", tee,
                   veil_http_request_cookie (req, VEIL_KBS_SESSION_COOKIE), path, why, req->peer);
  veil_http_response_json (resp, 200, steal_pointer (&jwe));
}

/* ---- dispatch ---- */

void
veil_kbs_handle (void *ctx, const veil_http_request_t *req, veil_http_response_t *resp)
{
  veil_kbs_t *kbs = ctx;
  const char *p = req->path;
  bool get = !strcmp (req->method, "GET"), post = !strcmp (req->method, "POST");
  const char *rprefix = "/kbs/v0/resource/";
  if (!strcmp (p, "/kbs/v0/auth") && post)
    handle_auth (kbs, req, resp);
  else if (!strcmp (p, "/kbs/v0/attest") && post)
    handle_attest (kbs, req, resp);
  else if (!strncmp (p, rprefix, strlen (rprefix)))
    {
      const char *path = p + strlen (rprefix);
      if (!kbs_resource_path_valid (path))
        veil_http_response_problem (resp, 400, "bad-request",
                                    "resource path must be <repository>/<type>/<tag> of [A-Za-z0-9._-]");
      else if (get)
        handle_resource_get (kbs, req, path, resp);
      else
        kbs_handle_admin (kbs, req, p + strlen ("/kbs/v0/"), resp);
    }
  else if (!strncmp (p, "/kbs/v0/admin/", 14))
    kbs_handle_admin (kbs, req, p + strlen ("/kbs/v0/"), resp);
  else if (get && (!strcmp (p, "/kbs/v0/jwks") || !strcmp (p, "/.well-known/jwks.json")))
    veil_http_response_json (resp, 200, json_incref (kbs->signer.jwks));
  else if (get && !strcmp (p, "/kbs/v0/health"))
    veil_http_response_json (resp, 200, json_pack ("{s:s}", "status", "ok"));
  else
    {
      _cleanup_free_ char *d = xasprintf ("no endpoint %.16s %.200s", req->method, p);
      veil_http_response_problem (resp, 404, "not-found", d);
    }
}

json_t *
veil_kbs_jwks (veil_kbs_t *kbs)
{
  return json_incref (kbs->signer.jwks);
}

veil_kbs_t *
veil_kbs_new (const veil_kbs_config_t *cfg, veil_error_t **err)
{
  if (!cfg->state_dir)
    {
      veil_error_set (err, EINVAL, "kbs: no state directory");
      return NULL;
    }
  if (veil_mkdir_p (cfg->state_dir, 0700, err) < 0)
    return NULL;
  veil_kbs_t *kbs = xcalloc (1, sizeof (*kbs));
  kbs->cfg = *cfg;
  if (!kbs->cfg.session_ttl)
    kbs->cfg.session_ttl = 300;
  if (!kbs->cfg.token_ttl)
    kbs->cfg.token_ttl = 300;
  if (!kbs->cfg.max_sessions)
    kbs->cfg.max_sessions = 65536;
  kbs->verifier_id = cfg->verifier_id ? xstrdup (cfg->verifier_id)
                                      : xstrdup ("veil-trustee " VEIL_VERSION);
  kbs_sessions_init (&kbs->sessions, kbs->cfg.max_sessions, kbs->cfg.session_ttl);
  if (kbs_store_open (&kbs->store, cfg->state_dir, err) < 0
      || kbs_signer_open (&kbs->signer, cfg->state_dir, err) < 0)
    {
      veil_error_wrap (err, "kbs: %s", cfg->state_dir);
      veil_kbs_free (kbs);
      return NULL;
    }
  return kbs;
}

void
veil_kbs_free (veil_kbs_t *kbs)
{
  if (!kbs)
    return;
  kbs_sessions_destroy (&kbs->sessions);
  if (kbs->store.db)
    kbs_store_close (&kbs->store);
  kbs_signer_close (&kbs->signer);
  free (kbs->verifier_id);
  free (kbs);
}
