/* Fuzzes the KBS request handling in process: arbitrary bodies for /auth,
 * /attest (with a live session, sample and snp), resource requests with
 * arbitrary bearer tokens and paths, and admin bodies (policy, reference
 * values) behind a valid admin token.  The first input byte picks the
 * endpoint; the rest is the body / token / path. */
#include <stdio.h>
#include "veil/kbs.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static veil_kbs_t *kbs;
static EVP_PKEY *admin_key;
static char *admin_authz;

static void
setup (void)
{
  char dir[] = "/tmp/veil-fuzz-kbs-XXXXXX";
  if (!mkdtemp (dir))
    abort ();
  veil_log_set_level (VEIL_LOG_ERROR + 1);
  admin_key = veil_pkey_generate ("Ed25519", NULL);
  veil_kbs_config_t cfg = { .state_dir = dir, .admin_key = admin_key };
  cfg.attest.allow_sample = true;
  kbs = veil_kbs_new (&cfg, NULL);
  if (!kbs)
    abort ();
  int64_t now = veil_now_unix ();
  _cleanup_free_ char *claims = xasprintf ("{\"iat\":%lld,\"exp\":%lld}", (long long) now,
                                           (long long) now + 86400);
  _cleanup_free_ char *tok = veil_jws_sign (NULL, claims, strlen (claims), admin_key, "EdDSA", NULL);
  admin_authz = xasprintf ("Authorization: Bearer %s", tok);
  /* a resource and a policy so that resource requests reach every check */
  const char *hdr[] = { admin_authz, NULL };
  veil_http_request_t *r = veil_http_request_new_local ("PUT", "/kbs/v0/resource/a/b/c", hdr, "s", 1);
  veil_http_response_t resp = { 0 };
  veil_kbs_handle (kbs, r, &resp);
  veil_http_response_clear (&resp);
  veil_http_request_free_local (r);
  const char *pol = "{\"claim\":\"tee\",\"equals\":\"sample\"}";
  r = veil_http_request_new_local ("PUT", "/kbs/v0/admin/release-policy/a/b/*", hdr, pol, strlen (pol));
  veil_kbs_handle (kbs, r, &resp);
  veil_http_response_clear (&resp);
  veil_http_request_free_local (r);
}

/* One request; returns the Set-Cookie value (session) if any. */
static char *
call (const char *method, const char *path, const char *const *hdr, const void *body, size_t len)
{
  veil_http_request_t *r = veil_http_request_new_local (method, path, hdr, body, len);
  veil_http_response_t resp = { 0 };
  veil_kbs_handle (kbs, r, &resp);
  char *cookie = NULL;
  for (size_t i = 0; i < resp.n_headers; i++)
    if (!strcmp (resp.headers[i].name, "Set-Cookie"))
      cookie = xstrndup (resp.headers[i].value, strcspn (resp.headers[i].value, ";"));
  if (resp.status == 0 || resp.status >= 500)
    abort (); /* every input gets a definite answer, never an internal error */
  veil_http_response_clear (&resp);
  veil_http_request_free_local (r);
  return cookie;
}

static void
attest_with (const char *tee, const uint8_t *body, size_t len)
{
  _cleanup_free_ char *auth = xasprintf ("{\"version\":\"0.1.1\",\"tee\":\"%s\",\"extra-params\":{}}", tee);
  _cleanup_free_ char *cookie = call ("POST", "/kbs/v0/auth", NULL, auth, strlen (auth));
  if (!cookie)
    abort ();
  _cleanup_free_ char *hdr = xasprintf ("Cookie: %s", cookie);
  const char *h[] = { hdr, NULL };
  free (call ("POST", "/kbs/v0/attest", h, body, len));
  free (call ("GET", "/kbs/v0/resource/a/b/c", h, NULL, 0));
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (!kbs)
    setup ();
  if (size < 1)
    return 0;
  uint8_t sel = data[0] % 6;
  data++;
  size--;
  _cleanup_free_ char *text = xmemdup (data, size);
  switch (sel)
    {
    case 0:
      free (call ("POST", "/kbs/v0/auth", NULL, data, size));
      break;
    case 1:
      attest_with ("sample", data, size);
      break;
    case 2:
      attest_with ("snp", data, size);
      break;
    case 3:
      {
        _cleanup_free_ char *h = xasprintf ("Authorization: Bearer %s", text);
        const char *hdr[] = { strchr (text, '\n') ? NULL : h, NULL };
        free (call ("GET", "/kbs/v0/resource/a/b/c", hdr, NULL, 0));
        break;
      }
    case 4:
      {
        const char *hdr[] = { admin_authz, NULL };
        free (call ("PUT", "/kbs/v0/admin/release-policy/a/b/*", hdr, data, size));
        free (call ("PUT", "/kbs/v0/admin/reference-values/w", hdr, data, size));
        break;
      }
    case 5:
      {
        if (memchr (data, 0, size))
          break;
        _cleanup_free_ char *path = xasprintf ("/kbs/v0/resource/%s", text);
        free (call ("GET", path, NULL, NULL, 0));
        break;
      }
    }
  return 0;
}
