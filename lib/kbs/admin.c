/* The admin API of veil-trustee.  Like Trustee's, it is authenticated by a
 * JWT (EdDSA) signed with the admin's Ed25519 key, whose public key is in the
 * configuration; everything it sets is audited (never the secret itself).
 *   POST|PUT /kbs/v0/resource/<repo>/<type>/<tag>   body: the secret bytes
 *   DELETE   /kbs/v0/resource/<repo>/<type>/<tag>
 *   PUT|DELETE /kbs/v0/admin/release-policy/<pattern>   body: policy JSON
 *   PUT|DELETE /kbs/v0/admin/reference-values/<workload> body: {"tee":…,"values":{…}}
 *   GET /kbs/v0/admin/{resources,release-policies,reference-values}
 *   GET /kbs/v0/admin/audit?since=ID&limit=N */
#include <stdio.h>
#include "internal.h"
#include "veil/policy.h"

#define NAME_MAX_LEN 256

static int
admin_authenticate (veil_kbs_t *kbs, const veil_http_request_t *req, veil_error_t **err)
{
  if (!kbs->cfg.admin_key)
    return veil_error_set (err, EPERM, "admin API disabled: no admin public key configured");
  const char *authz = veil_http_request_header (req, "authorization");
  if (!authz || strncasecmp (authz, "Bearer ", 7) != 0)
    return veil_error_set (err, EPERM, "admin: Authorization: Bearer <admin JWT> required");
  _cleanup_json_ json_t *claims = veil_jwt_verify (authz + 7, kbs->cfg.admin_key,
                                                   veil_now_unix (), 5, err);
  if (!claims)
    return veil_error_wrap (err, "admin token");
  return 0;
}

static bool
name_valid (const char *s)
{
  size_t n = strnlen (s, NAME_MAX_LEN + 1);
  if (n == 0 || n > NAME_MAX_LEN)
    return false;
  for (; *s; s++)
    if ((unsigned char) *s < 0x21 || (unsigned char) *s > 0x7e)
      return false;
  return true;
}

/* The rest of s after prefix, or NULL when s does not start with it. */
static const char *
after_prefix (const char *s, const char *prefix)
{
  size_t n = strlen (prefix);
  return strncmp (s, prefix, n) == 0 ? s + n : NULL;
}

static void
ok (veil_http_response_t *resp, const char *what, const char *name)
{
  veil_http_response_json (resp, 200, json_pack ("{s:s, s:s}", "updated", what, "name", name));
}

static void
admin_resource (veil_kbs_t *kbs, const veil_http_request_t *req, const char *path,
                veil_http_response_t *resp)
{
  _cleanup_error_ veil_error_t *err = NULL;
  int r;
  const char *event;
  if (!strcmp (req->method, "DELETE"))
    {
      event = "admin.delete-resource";
      r = kbs_store_delete_resource (&kbs->store, path, &err);
    }
  else if (!strcmp (req->method, "POST") || !strcmp (req->method, "PUT"))
    {
      event = "admin.set-resource";
      r = kbs_store_put_resource (&kbs->store, path, req->body, req->body_len, &err);
    }
  else
    {
      veil_http_response_problem (resp, 405, "method-not-allowed", "resource: use GET, PUT, POST or DELETE");
      return;
    }
  kbs_store_audit (&kbs->store, event, r < 0 ? "failed" : "ok", NULL, NULL, path,
                   r < 0 ? err->msg : NULL, req->peer);
  if (r < 0)
    veil_http_response_problem (resp, r == -ENOENT ? 404 : r == -E2BIG ? 413
                                                                       : 500,
                                r == -ENOENT ? "not-found" : "store", err->msg);
  else
    ok (resp, "resource", path);
}

static json_t *
admin_json_body (const veil_http_request_t *req, veil_http_response_t *resp)
{
  _cleanup_error_ veil_error_t *err = NULL;
  json_t *j = veil_json_parse (req->body, req->body_len, 1 << 20, &err);
  if (!j)
    veil_http_response_problem (resp, 400, "bad-request", err->msg);
  return j;
}

static void
admin_policy (veil_kbs_t *kbs, const veil_http_request_t *req, const char *pattern,
              veil_http_response_t *resp)
{
  _cleanup_error_ veil_error_t *err = NULL;
  int r;
  if (!strcmp (req->method, "DELETE"))
    r = kbs_store_delete_policy (&kbs->store, pattern, &err);
  else
    {
      _cleanup_json_ json_t *policy = admin_json_body (req, resp);
      if (!policy)
        return;
      if (veil_release_policy_validate (policy, &err) < 0)
        {
          veil_error_wrap (&err, "release policy");
          veil_http_response_problem (resp, 400, "invalid-policy", err->msg);
          return;
        }
      r = kbs_store_put_policy (&kbs->store, pattern, policy, &err);
    }
  kbs_store_audit (&kbs->store, "admin.release-policy", r < 0 ? "failed" : "ok", NULL, NULL,
                   pattern, r < 0 ? err->msg : req->method, req->peer);
  if (r < 0)
    veil_http_response_problem (resp, r == -ENOENT ? 404 : 500, r == -ENOENT ? "not-found" : "store",
                                err->msg);
  else
    ok (resp, "release-policy", pattern);
}

/* Reference values: {"tee": "snp", "values": {"measurement": ["hex", …], …}}. */
static int
reference_validate (const json_t *doc, veil_error_t **err)
{
  const char *tee = veil_json_req_str (doc, "tee", err);
  if (!tee)
    return -EINVAL;
  if (!veil_verifier_find (tee))
    return veil_error_set (err, EINVAL, "reference values: unknown TEE '%.32s'", tee);
  json_t *values = json_object_get (doc, "values");
  if (!json_is_object (values) || json_object_size (values) == 0)
    return veil_error_set (err, EINVAL, "reference values: 'values' must be a non-empty object");
  const char *k;
  json_t *v;
  json_object_foreach (values, k, v)
  {
    if (!json_is_array (v) || json_array_size (v) == 0)
      return veil_error_set (err, EINVAL, "reference values: values.%s must be a non-empty array", k);
  }
  return 0;
}

static void
admin_reference (veil_kbs_t *kbs, const veil_http_request_t *req, const char *workload,
                 veil_http_response_t *resp)
{
  _cleanup_error_ veil_error_t *err = NULL;
  int r;
  if (!strcmp (req->method, "DELETE"))
    r = kbs_store_delete_reference (&kbs->store, workload, &err);
  else
    {
      _cleanup_json_ json_t *doc = admin_json_body (req, resp);
      if (!doc)
        return;
      if (reference_validate (doc, &err) < 0)
        {
          veil_http_response_problem (resp, 400, "invalid-reference-values", err->msg);
          return;
        }
      r = kbs_store_put_reference (&kbs->store, workload, doc, &err);
    }
  kbs_store_audit (&kbs->store, "admin.reference-values", r < 0 ? "failed" : "ok", NULL, NULL,
                   workload, r < 0 ? err->msg : req->method, req->peer);
  if (r < 0)
    veil_http_response_problem (resp, r == -ENOENT ? 404 : 500, r == -ENOENT ? "not-found" : "store",
                                err->msg);
  else
    ok (resp, "reference-values", workload);
}

static int64_t
query_int (const char *query, const char *key, int64_t def, int64_t max)
{
  if (!query)
    return def;
  size_t kl = strlen (key);
  for (const char *p = query; p && *p;)
    {
      if (!strncmp (p, key, kl) && p[kl] == '=')
        {
          char buf[24];
          size_t n = strcspn (p + kl + 1, "&");
          if (n == 0 || n >= sizeof (buf))
            return def;
          memcpy (buf, p + kl + 1, n);
          buf[n] = 0;
          int64_t v;
          if (veil_parse_i64 (buf, 0, max, &v, NULL) == 0)
            return v;
          return def;
        }
      p = strchr (p, '&');
      p = p ? p + 1 : NULL;
    }
  return def;
}

void
kbs_handle_admin (veil_kbs_t *kbs, const veil_http_request_t *req, const char *sub,
                  veil_http_response_t *resp)
{
  _cleanup_error_ veil_error_t *err = NULL;
  if (admin_authenticate (kbs, req, &err) < 0)
    {
      kbs_store_audit (&kbs->store, "admin", "refused", NULL, NULL, NULL, err->msg, req->peer);
      veil_http_response_problem (resp, 401, "unauthorized", err->msg);
      return;
    }
  bool get = !strcmp (req->method, "GET");
  const char *name;
  if ((name = after_prefix (sub, "resource/")))
    admin_resource (kbs, req, name, resp);
  else if ((name = after_prefix (sub, "admin/release-policy/")) && name_valid (name) && !get)
    admin_policy (kbs, req, name, resp);
  else if ((name = after_prefix (sub, "admin/reference-values/")) && name_valid (name) && !get)
    admin_reference (kbs, req, name, resp);
  else if (get && (!strcmp (sub, "admin/resources") || !strcmp (sub, "admin/release-policies") || !strcmp (sub, "admin/reference-values")))
    {
      const char *what = !strcmp (sub, "admin/resources")          ? "resources"
                         : !strcmp (sub, "admin/release-policies") ? "policies"
                                                                   : "references";
      json_t *list = kbs_store_list (&kbs->store, what, &err);
      if (list)
        veil_http_response_json (resp, 200, list);
      else
        veil_http_response_problem (resp, 500, "store", err->msg);
    }
  else if (get && !strcmp (sub, "admin/audit"))
    {
      json_t *rows = kbs_store_audit_read (&kbs->store, query_int (req->query, "since", 0, INT64_MAX),
                                           query_int (req->query, "limit", 100, 10000), &err);
      if (rows)
        veil_http_response_json (resp, 200, rows);
      else
        veil_http_response_problem (resp, 500, "store", err->msg);
    }
  else
    {
      _cleanup_free_ char *d = xasprintf ("no admin endpoint %.16s /kbs/v0/%.200s", req->method, sub);
      veil_http_response_problem (resp, 404, "not-found", d);
    }
}
