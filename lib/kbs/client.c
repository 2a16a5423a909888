/* KBS client: the guest side of RCAR (auth → attest → resource), used by
 * veil-agent in confidential VMs and by `veil attest`. */
#include "veil/kbs.h"

#define RESPONSE_MAX (4 << 20)

struct veil_kbs_client
{
  char *url;
  char *tee;
  veil_kbs_evidence_fn evidence;
  void *evidence_ctx;
  EVP_PKEY *key; /* ephemeral: lives only as long as the client */
  json_t *pubjwk;
  json_t *init_data;
  veil_http_client_t *http;
  char *token;
};

veil_kbs_client_t *
veil_kbs_client_new (const veil_kbs_client_opts_t *o, veil_error_t **err)
{
  if (!o->url || !o->tee || !o->evidence)
    {
      veil_error_set (err, EINVAL, "kbs client: url, tee and an evidence source are required");
      return NULL;
    }
  veil_kbs_client_t *c = xcalloc (1, sizeof (*c));
  size_t ul = strlen (o->url);
  c->url = xstrndup (o->url, ul && o->url[ul - 1] == '/' ? ul - 1 : ul);
  c->tee = xstrdup (o->tee);
  c->evidence = o->evidence;
  c->evidence_ctx = o->evidence_ctx;
  c->init_data = o->init_data ? json_deep_copy (o->init_data) : NULL;
  veil_http_client_opts_t h = o->http;
  if (!h.max_response)
    h.max_response = RESPONSE_MAX;
  c->key = veil_pkey_generate (o->key_kind ? o->key_kind : "P-256", err);
  c->pubjwk = c->key ? veil_jwk_from_pkey (c->key, false, err) : NULL;
  c->http = c->pubjwk ? veil_http_client_new (&h, err) : NULL;
  if (!c->http)
    {
      veil_error_wrap (err, "kbs client");
      veil_kbs_client_free (c);
      return NULL;
    }
  return c;
}

void
veil_kbs_client_free (veil_kbs_client_t *c)
{
  if (!c)
    return;
  free (c->url);
  free (c->tee);
  EVP_PKEY_free (c->key);
  json_decref (c->pubjwk);
  json_decref (c->init_data);
  veil_http_client_free (c->http);
  if (c->token)
    veil_wipe (c->token, strlen (c->token));
  free (c->token);
  free (c);
}

const char *
veil_kbs_client_token (const veil_kbs_client_t *c)
{
  return c->token;
}

/* A non-2xx answer becomes an error carrying the server's RFC 7807 detail. */
static int
http_error (const char *what, veil_http_result_t *res, veil_error_t **err)
{
  _cleanup_json_ json_t *p = json_loadb ((char *) res->body.data, res->body.len, 0, NULL);
  const char *detail = veil_json_str (p, "detail");
  int code = res->status == 401 ? EACCES : res->status == 403 ? EPERM
                                       : res->status == 404   ? ENOENT
                                                              : EPROTO;
  return veil_error_set (err, code, "kbs: %s: HTTP %ld: %s", what, res->status,
                         detail ? detail : "(no detail)");
}

static json_t *
post_json (veil_kbs_client_t *c, const char *ep, const json_t *body, const char *what,
           veil_error_t **err)
{
  _cleanup_free_ char *url = xasprintf ("%s%s", c->url, ep);
  _cleanup_free_ char *text = veil_json_dump (body);
  static const char *const hdrs[] = { "Content-Type: application/json", NULL };
  veil_http_result_t res = { 0 };
  if (veil_http_client_request (c->http, "POST", url, hdrs, text, strlen (text), &res, err) < 0)
    return NULL;
  json_t *j = NULL;
  if (res.status != 200)
    http_error (what, &res, err);
  else if (!(j = veil_json_parse (res.body.data, res.body.len, RESPONSE_MAX, err)))
    veil_error_wrap (err, "kbs: %s: response", what);
  veil_http_result_free (&res);
  return j;
}

int
veil_kbs_client_attest (veil_kbs_client_t *c, veil_error_t **err)
{
  _cleanup_json_ json_t *auth_req = json_pack ("{s:s, s:s, s:{}}", "version", VEIL_KBS_PROTOCOL_VERSION,
                                               "tee", c->tee, "extra-params");
  _cleanup_json_ json_t *auth = post_json (c, "/kbs/v0/auth", auth_req, "auth", err);
  if (!auth)
    return -EPROTO;
  const char *nonce = veil_json_req_str (auth, "nonce", err);
  if (!nonce)
    return veil_error_wrap (err, "kbs: auth response");
  _cleanup_json_ json_t *rt = json_pack ("{s:s, s:O}", "nonce", nonce, "tee-pubkey", c->pubjwk);
  uint8_t digest[VEIL_SHA384_LEN], rd[64] = { 0 };
  if (veil_kbs_runtime_data_digest (rt, digest, err) < 0)
    return -EINVAL;
  memcpy (rd, digest, sizeof (digest));
  json_t *evidence = c->evidence (c->evidence_ctx, c->tee, rd, err);
  if (!evidence)
    return veil_error_wrap (err, "kbs: collecting %s evidence", c->tee);
  _cleanup_json_ json_t *req = json_pack ("{s:O, s:{s:o, s:s}}", "runtime-data", rt, "tee-evidence",
                                          "primary_evidence", evidence, "additional_evidence", "{}");
  if (c->init_data)
    json_object_set (req, "init-data", c->init_data);
  _cleanup_json_ json_t *res = post_json (c, "/kbs/v0/attest", req, "attest", err);
  if (!res)
    return -EACCES;
  const char *token = veil_json_req_str (res, "token", err);
  if (!token)
    return veil_error_wrap (err, "kbs: attest response");
  free (c->token);
  c->token = xstrdup (token);
  return 0;
}

int
veil_kbs_client_get_resource (veil_kbs_client_t *c, const char *path, uint8_t **secret,
                              size_t *secret_len, veil_error_t **err)
{
  if (!c->token && veil_kbs_client_attest (c, err) < 0)
    return -EACCES;
  _cleanup_free_ char *url = xasprintf ("%s/kbs/v0/resource/%s", c->url, path);
  _cleanup_free_ char *what = xasprintf ("resource %s", path);
  veil_http_result_t res = { 0 };
  if (veil_http_client_request (c->http, "GET", url, NULL, NULL, 0, &res, err) < 0)
    return -EIO;
  int r = 0;
  if (res.status != 200)
    r = http_error (what, &res, err);
  else
    {
      _cleanup_json_ json_t *jwe = veil_json_parse (res.body.data, res.body.len, RESPONSE_MAX, err);
      r = jwe ? veil_jwe_decrypt (jwe, c->key, secret, secret_len, err) : -EBADMSG;
      if (r < 0)
        veil_error_wrap (err, "kbs: %s", what);
    }
  veil_http_result_free (&res);
  return r;
}

json_t *
veil_kbs_evidence_sample (void *ctx, const char *tee, const uint8_t report_data[64],
                          veil_error_t **err)
{
  (void) ctx;
  (void) tee;
  (void) err;
  _cleanup_free_ char *rd = veil_b64_encode (report_data, VEIL_SHA384_LEN);
  return json_pack ("{s:s, s:s}", "svn", "1", "report_data", rd);
}

json_t *
veil_kbs_evidence_sim (void *ctx, const char *tee, const uint8_t report_data[64],
                       veil_error_t **err)
{
  veil_kbs_sim_ctx_t *s = ctx;
  (void) tee;
  memcpy (s->params.report_data, report_data, 64);
  return veil_sim_ca_evidence (s->ca, &s->params, err);
}
