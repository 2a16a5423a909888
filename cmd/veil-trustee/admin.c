/* veil-trustee admin: the admin's Ed25519 key, its JWTs, and a client for
 * the admin API of a running veil-trustee. */
#include <getopt.h>
#include <stdio.h>
#include "trustee.h"

static const char admin_help[]
    = "usage: veil-trustee admin keygen DIR\n"
      "       veil-trustee admin token --key FILE [--ttl SECONDS]\n"
      "       veil-trustee admin [--url URL] --key FILE set-resource PATH FILE|-\n"
      "       veil-trustee admin [--url URL] --key FILE set-policy PATTERN FILE|-\n"
      "       veil-trustee admin [--url URL] --key FILE set-reference WORKLOAD FILE|-\n"
      "       veil-trustee admin [--url URL] --key FILE delete resource|policy|reference NAME\n"
      "       veil-trustee admin [--url URL] --key FILE list resources|release-policies|reference-values\n"
      "       veil-trustee admin [--url URL] --key FILE audit [--since ID] [--limit N]\n"
      "       (--cacert FILE: CA bundle for an HTTPS veil-trustee)\n"
      "\n"
      "keygen writes DIR/admin.key (Ed25519, 0600) and DIR/admin.pub; put admin.pub in\n"
      "the config as \"admin\": {\"public_key_file\": …}.  URL defaults to\n"
      "$VEIL_TRUSTEE_URL or http://127.0.0.1:8080.  PATH is <repo>/<type>/<tag>; PATTERN\n"
      "may use * per segment (default/key/*).\n";

static char *
admin_token (const char *key_file, int64_t ttl, veil_error_t **err)
{
  _cleanup_pkey_ EVP_PKEY *key = veil_pkey_load_file (key_file, err);
  if (!key)
    return NULL;
  int64_t now = veil_now_unix ();
  _cleanup_json_ json_t *claims = json_pack ("{s:I, s:I}", "iat", (json_int_t) now, "exp",
                                             (json_int_t) (now + ttl));
  _cleanup_free_ char *payload = veil_json_dump (claims);
  return veil_jws_sign (NULL, payload, strlen (payload), key, "EdDSA", err);
}

static int
admin_keygen (const char *dir, veil_error_t **err)
{
  if (veil_mkdir_p (dir, 0700, err) < 0)
    return -EIO;
  _cleanup_pkey_ EVP_PKEY *key = veil_pkey_generate ("Ed25519", err);
  if (!key)
    return -EIO;
  _cleanup_free_ char *priv = veil_pkey_to_pem (key, true), *pub = veil_pkey_to_pem (key, false);
  _cleanup_free_ char *kp = xasprintf ("%s/admin.key", dir), *pp = xasprintf ("%s/admin.pub", dir);
  int r = veil_file_write_atomic (kp, priv, strlen (priv), 0600, err);
  veil_wipe (priv, strlen (priv));
  if (r < 0 || veil_file_write_atomic (pp, pub, strlen (pub), 0644, err) < 0)
    return -EIO;
  fprintf (stderr, "admin key: %s (keep it secret)\nadmin public key: %s\n", kp, pp);
  return 0;
}

/* One admin API call; prints the JSON answer. */
static const char *admin_cacert; /* --cacert: CA bundle for an HTTPS service */

static int
admin_call (const char *url, const char *key_file, const char *method, const char *ep,
            const void *body, size_t len, veil_error_t **err)
{
  _cleanup_free_ char *token = admin_token (key_file, 300, err);
  if (!token)
    return -EIO;
  _cleanup_free_ char *authz = xasprintf ("Authorization: Bearer %s", token);
  const char *hdrs[] = { authz, "Content-Type: application/octet-stream", NULL };
  veil_http_client_opts_t o = { .ca_file = admin_cacert };
  veil_http_client_t *http = veil_http_client_new (&o, err);
  if (!http)
    return -EIO;
  _cleanup_free_ char *full = xasprintf ("%s%s", url, ep);
  veil_http_result_t res = { 0 };
  int r = veil_http_client_request (http, method, full, hdrs, body, len, &res, err);
  if (r == 0)
    {
      if (res.status >= 200 && res.status < 300)
        printf ("%s\n", veil_buf_cstr (&res.body));
      else
        {
          _cleanup_json_ json_t *p = json_loadb ((char *) res.body.data, res.body.len, 0, NULL);
          const char *d = veil_json_str (p, "detail");
          r = veil_error_set (err, EPERM, "%s %s: HTTP %ld: %s", method, ep, res.status,
                              d ? d : veil_buf_cstr (&res.body));
        }
    }
  veil_http_result_free (&res);
  veil_http_client_free (http);
  return r;
}

static int
admin_put_file (const char *url, const char *key, const char *ep, const char *file,
                veil_error_t **err)
{
  _cleanup_free_ uint8_t *data = NULL;
  size_t len = 0;
  if (read_input (file, 1 << 20, &data, &len, err) < 0)
    return -EIO;
  int r = admin_call (url, key, "PUT", ep, data, len, err);
  veil_wipe (data, len); /* resources are secrets */
  return r;
}

int
cmd_admin (int argc, char **argv, veil_error_t **err)
{
  static const struct option opts[] = {
    { "url", required_argument, NULL, 'u' },
    { "key", required_argument, NULL, 'k' },
    { "ttl", required_argument, NULL, 't' },
    { "since", required_argument, NULL, 's' },
    { "limit", required_argument, NULL, 'l' },
    { "cacert", required_argument, NULL, 'c' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  const char *url = secure_getenv ("VEIL_TRUSTEE_URL"), *key = NULL;
  int64_t ttl = 300, since = 0, limit = 100;
  int c;
  optind = 1;
  while ((c = getopt_long (argc, argv, "+", opts, NULL)) != -1)
    {
      int r = 0;
      switch (c)
        {
        case 'u':
          url = optarg;
          break;
        case 'c':
          admin_cacert = optarg;
          break;
        case 'k':
          key = optarg;
          break;
        case 't':
          r = veil_parse_i64 (optarg, 1, 86400, &ttl, err);
          break;
        case 's':
          r = veil_parse_i64 (optarg, 0, INT64_MAX, &since, err);
          break;
        case 'l':
          r = veil_parse_i64 (optarg, 1, 10000, &limit, err);
          break;
        case 'h':
          fputs (admin_help, stdout);
          return 0;
        default:
          fputs (admin_help, stderr);
          return veil_error_set (err, EINVAL, "bad option");
        }
      if (r < 0)
        return r;
    }
  if (!url)
    url = "http://127.0.0.1:8080";
  char **a = argv + optind;
  int n = argc - optind;
  if (n < 1)
    {
      fputs (admin_help, stderr);
      return veil_error_set (err, EINVAL, "admin: which subcommand?");
    }
  if (!strcmp (a[0], "keygen") && n == 2)
    return admin_keygen (a[1], err);
  if (!key)
    return veil_error_set (err, EINVAL, "admin %s: --key FILE required", a[0]);
  if (!strcmp (a[0], "token"))
    {
      _cleanup_free_ char *t = admin_token (key, ttl, err);
      if (!t)
        return -EIO;
      puts (t);
      return 0;
    }
  _cleanup_free_ char *ep = NULL;
  if (!strcmp (a[0], "set-resource") && n == 3)
    return admin_put_file (url, key, (ep = xasprintf ("/kbs/v0/resource/%s", a[1])), a[2], err);
  if (!strcmp (a[0], "set-policy") && n == 3)
    return admin_put_file (url, key, (ep = xasprintf ("/kbs/v0/admin/release-policy/%s", a[1])), a[2], err);
  if (!strcmp (a[0], "set-reference") && n == 3)
    return admin_put_file (url, key, (ep = xasprintf ("/kbs/v0/admin/reference-values/%s", a[1])), a[2], err);
  if (!strcmp (a[0], "delete") && n == 3)
    {
      const char *kind = a[1];
      if (!strcmp (kind, "resource"))
        ep = xasprintf ("/kbs/v0/resource/%s", a[2]);
      else if (!strcmp (kind, "policy"))
        ep = xasprintf ("/kbs/v0/admin/release-policy/%s", a[2]);
      else if (!strcmp (kind, "reference"))
        ep = xasprintf ("/kbs/v0/admin/reference-values/%s", a[2]);
      else
        return veil_error_set (err, EINVAL, "admin delete: resource, policy or reference");
      return admin_call (url, key, "DELETE", ep, NULL, 0, err);
    }
  if (!strcmp (a[0], "list") && n == 2)
    return admin_call (url, key, "GET", (ep = xasprintf ("/kbs/v0/admin/%s", a[1])), NULL, 0, err);
  if (!strcmp (a[0], "audit"))
    return admin_call (url, key, "GET",
                       (ep = xasprintf ("/kbs/v0/admin/audit?since=%lld&limit=%lld",
                                        (long long) since, (long long) limit)),
                       NULL, 0, err);
  fputs (admin_help, stderr);
  return veil_error_set (err, EINVAL, "admin: unknown or incomplete subcommand '%s'", a[0]);
}
