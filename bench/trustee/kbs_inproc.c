/* RCAR flows (auth + attest + one resource) driven in process through
 * veil_kbs_handle, without sockets or the HTTP server, so that the handler's
 * own cost can be profiled (e.g. instruction counts under a profiler, which
 * do not depend on the machine's load).  The guest's evidence signing happens
 * between the auth and attest calls and is not counted in the phase times.
 * Prints the mean time per phase.
 * usage: kbs-inproc STATE_DIR SIM_CA_DIR FLOWS */
#include <stdio.h>
#include "veil/kbs.h"

#define RESOURCE "bench/key/k1"
#define MEASUREMENT_BYTE 0xab

static veil_kbs_t *kbs;

/* One request through the handler; returns the session cookie it set, if any. */
static char *
call (const char *method, const char *path, const char *const *headers, const void *body,
      size_t len, veil_http_response_t *resp)
{
  veil_http_request_t *r = veil_http_request_new_local (method, path, headers, body, len);
  memset (resp, 0, sizeof (*resp));
  veil_kbs_handle (kbs, r, resp);
  char *cookie = NULL;
  for (size_t i = 0; i < resp->n_headers; i++)
    if (!strcmp (resp->headers[i].name, "Set-Cookie"))
      cookie = xstrndup (resp->headers[i].value, strcspn (resp->headers[i].value, ";"));
  veil_http_request_free_local (r);
  return cookie;
}

static int
admin_setup (EVP_PKEY *admin, veil_error_t **err)
{
  int64_t now = veil_now_unix ();
  char claims[100];
  snprintf (claims, sizeof (claims), "{\"iat\":%lld,\"exp\":%lld}", (long long) now,
            (long long) now + 3600);
  _cleanup_free_ char *tok = veil_jws_sign (NULL, claims, strlen (claims), admin, "EdDSA", err);
  if (!tok)
    return -1;
  _cleanup_free_ char *authz = xasprintf ("Authorization: Bearer %s", tok);
  const char *h[] = { authz, NULL };
  veil_http_response_t resp;
  const char secret[] = "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk";
  free (call ("PUT", "/kbs/v0/resource/" RESOURCE, h, secret, 32, &resp));
  int st = resp.status;
  veil_http_response_clear (&resp);
  char pol[256];
  snprintf (pol, sizeof (pol),
            "{\"allOf\":[{\"claim\":\"sim\",\"equals\":true},"
            "{\"claim\":\"measurement\",\"equals\":\"%s\"}]}",
            "abababababababababababababababababababababababababababababababababababababababababababababababab");
  free (call ("PUT", "/kbs/v0/admin/release-policy/bench/key/*", h, pol, strlen (pol), &resp));
  if (st != 200 || resp.status != 200)
    {
      veil_error_set (err, EIO, "admin setup: status %d/%d", st, resp.status);
      veil_http_response_clear (&resp);
      return -1;
    }
  veil_http_response_clear (&resp);
  return 0;
}

typedef struct phase_ns
{
  uint64_t auth, attest, resource, evidence;
} phase_ns_t;

static int
one_flow (veil_sim_ca_t *ca, const json_t *jwk, phase_ns_t *t, veil_error_t **err)
{
  veil_http_response_t resp;
  const char *auth = "{\"version\":\"0.1.1\",\"tee\":\"snp\",\"extra-params\":{}}";
  uint64_t t0 = veil_now_mono_ns ();
  _cleanup_free_ char *cookie = call ("POST", "/kbs/v0/auth", NULL, auth, strlen (auth), &resp);
  uint64_t t1 = veil_now_mono_ns ();
  json_t *j = json_loadb ((const char *) resp.body.data, resp.body.len, 0, NULL);
  veil_http_response_clear (&resp);
  if (!cookie || !j)
    {
      json_decref (j);
      return veil_error_set (err, EIO, "auth failed");
    }
  json_t *rt = json_pack ("{s:O, s:O}", "nonce", json_object_get (j, "nonce"), "tee-pubkey", jwk);
  json_decref (j);
  uint8_t digest[VEIL_SHA384_LEN], rd[64] = { 0 };
  if (veil_kbs_runtime_data_digest (rt, digest, err) < 0)
    {
      json_decref (rt);
      return -1;
    }
  memcpy (rd, digest, sizeof (digest));
  veil_kbs_sim_ctx_t sim = { .ca = ca };
  memset (sim.params.measurement, MEASUREMENT_BYTE, sizeof (sim.params.measurement));
  json_t *ev = veil_kbs_evidence_sim (&sim, "snp", rd, err);
  if (!ev)
    {
      json_decref (rt);
      return -1;
    }
  _cleanup_json_ json_t *body
      = json_pack ("{s:o, s:{s:o, s:s}}", "runtime-data", rt, "tee-evidence", "primary_evidence",
                   ev, "additional_evidence", "{}");
  _cleanup_free_ char *bs = json_dumps (body, JSON_COMPACT);
  _cleanup_free_ char *ch = xasprintf ("Cookie: %s", cookie);
  const char *h[] = { ch, NULL };
  uint64_t t2 = veil_now_mono_ns ();
  free (call ("POST", "/kbs/v0/attest", h, bs, strlen (bs), &resp));
  uint64_t t3 = veil_now_mono_ns ();
  int st = resp.status;
  if (st != 200)
    veil_error_set (err, EIO, "attest: %d %s", st, veil_buf_cstr (&resp.body));
  veil_http_response_clear (&resp);
  if (st != 200)
    return -1;
  free (call ("GET", "/kbs/v0/resource/" RESOURCE, h, NULL, 0, &resp));
  uint64_t t4 = veil_now_mono_ns ();
  st = resp.status;
  if (st != 200)
    veil_error_set (err, EIO, "resource: %d %s", st, veil_buf_cstr (&resp.body));
  veil_http_response_clear (&resp);
  if (st != 200)
    return -1;
  t->auth += t1 - t0;
  t->evidence += t2 - t1;
  t->attest += t3 - t2;
  t->resource += t4 - t3;
  return 0;
}

int
main (int argc, char **argv)
{
  if (argc != 4)
    {
      fprintf (stderr, "usage: kbs-inproc STATE_DIR SIM_CA_DIR FLOWS\n");
      return 2;
    }
  veil_log_set_level (VEIL_LOG_ERROR);
  _cleanup_error_ veil_error_t *err = NULL;
  long n = strtol (argv[3], NULL, 10);
  veil_sim_ca_t *ca = veil_sim_ca_load (argv[2], &err);
  EVP_PKEY *admin = ca ? veil_pkey_generate ("Ed25519", &err) : NULL;
  EVP_PKEY *key = admin ? veil_pkey_generate ("P-256", &err) : NULL;
  json_t *jwk = key ? veil_jwk_from_pkey (key, false, &err) : NULL;
  if (!jwk || n <= 0)
    {
      fprintf (stderr, "kbs-inproc: %s\n", err ? err->msg : "bad flow count");
      return 1;
    }
  veil_kbs_config_t cfg = { .state_dir = argv[1], .admin_key = admin, .max_sessions = 1000000 };
  /* the sim root as the service's configuration loads it */
  _cleanup_free_ char *ark_path = xasprintf ("%s/ark.pem", argv[2]);
  X509 *ark = veil_x509_load_file (ark_path, &err);
  if (!ark)
    {
      fprintf (stderr, "kbs-inproc: %s\n", err->msg);
      return 1;
    }
  cfg.attest.sim_roots = sk_X509_new_null ();
  sk_X509_push (cfg.attest.sim_roots, ark);
  kbs = veil_kbs_new (&cfg, &err);
  if (!kbs || admin_setup (admin, &err) < 0)
    {
      fprintf (stderr, "kbs-inproc: %s\n", err->msg);
      return 1;
    }
  phase_ns_t t = { 0 };
  for (long i = 0; i < n; i++)
    if (one_flow (ca, jwk, &t, &err) < 0)
      {
        fprintf (stderr, "kbs-inproc: flow %ld: %s\n", i, err->msg);
        return 1;
      }
  printf ("flows %ld: auth %.3f attest %.3f resource %.3f handler total %.3f ms/flow"
          " (guest evidence %.3f, not counted)\n",
          n, t.auth / n / 1e6, t.attest / n / 1e6, t.resource / n / 1e6,
          (t.auth + t.attest + t.resource) / n / 1e6, t.evidence / n / 1e6);
  veil_kbs_free (kbs);
  sk_X509_pop_free (cfg.attest.sim_roots, X509_free);
  json_decref (jwk);
  EVP_PKEY_free (key);
  EVP_PKEY_free (admin);
  veil_sim_ca_free (ca);
  return 0;
}
