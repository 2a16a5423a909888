/* Unit tests of libveil http: the h2o server and the curl client against
 * each other over loopback TCP, a Unix socket and TLS. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <dirent.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "veil/http.h"

#define TEST_MAX_BODY 4096

static atomic_int handler_calls;

static void
test_handler (void *ctx, const veil_http_request_t *req, veil_http_response_t *resp)
{
  (void) ctx;
  atomic_fetch_add (&handler_calls, 1);
  if (strcmp (req->path, "/hello") == 0)
    {
      json_t *j = json_pack ("{s:s, s:s?, s:s}", "hello", "world", "query", req->query, "method",
                             req->method);
      veil_http_response_json (resp, 200, j);
    }
  else if (strcmp (req->path, "/echo") == 0)
    {
      const char *ct = veil_http_request_header (req, "content-type");
      veil_http_response_text (resp, 200, ct ? ct : "application/octet-stream", req->body,
                               req->body_len);
    }
  else if (strcmp (req->path, "/login") == 0)
    {
      const char *x = veil_http_request_header (req, "X-Veil-Test");
      veil_http_response_header (resp, "Set-Cookie", "session=abc123; Path=/; HttpOnly");
      veil_http_response_header (resp, "X-Echo", x ? x : "none");
      veil_http_response_json (resp, 200, json_pack ("{s:b}", "ok", 1));
    }
  else if (strcmp (req->path, "/whoami") == 0)
    {
      const char *s = veil_http_request_cookie (req, "session");
      const char *o = veil_http_request_cookie (req, "other");
      json_t *j = json_pack ("{s:s?, s:s?}", "session", s, "other", o);
      veil_http_response_json (resp, s ? 200 : 401, j);
    }
  else if (strcmp (req->path, "/peer") == 0)
    veil_http_response_text (resp, 200, "text/plain", req->peer, strlen (req->peer));
  else
    veil_http_response_problem (resp, 404, "not-found", req->path);
}

struct running
{
  veil_http_server_t *srv;
  pthread_t thread;
  int rc;
  char base[128];
};

static void *
serve (void *arg)
{
  struct running *r = arg;
  veil_error_t *err = NULL;
  r->rc = veil_http_server_run (r->srv, &err);
  veil_error_free (err);
  return NULL;
}

static void
start_server (struct running *r, const char *listen, int threads, const char *cert,
              const char *key)
{
  veil_http_server_config_t cfg = {
    .listen = listen,
    .tls_cert = cert,
    .tls_key = key,
    .max_body = TEST_MAX_BODY,
    .threads = threads,
    .handler = test_handler,
  };
  veil_error_t *err = NULL;
  r->srv = veil_http_server_new (&cfg, &err);
  if (r->srv == NULL)
    fail_msg ("server: %s", err->msg);
  r->rc = -1;
  snprintf (r->base, sizeof (r->base), "%s://127.0.0.1:%d", cert ? "https" : "http",
            veil_http_server_port (r->srv));
  assert_int_equal (pthread_create (&r->thread, NULL, serve, r), 0);
}

static void
stop_server (struct running *r)
{
  veil_http_server_stop (r->srv);
  assert_int_equal (pthread_join (r->thread, NULL), 0);
  assert_int_equal (r->rc, 0);
  veil_http_server_free (r->srv);
}

static char *
url (struct running *r, const char *path)
{
  return xasprintf ("%s%s", r->base, path);
}

static void
must_request (veil_http_client_t *c, const char *method, const char *u, const char *const *hdrs,
              const void *body, size_t len, veil_http_result_t *res)
{
  veil_error_t *err = NULL;
  if (veil_http_client_request (c, method, u, hdrs, body, len, res, &err) < 0)
    fail_msg ("%s", err->msg);
}

static int
count_fds (void)
{
  DIR *d = opendir ("/proc/self/fd");
  if (d == NULL)
    return -1;
  int n = 0;
  while (readdir (d) != NULL)
    n++;
  closedir (d);
  return n;
}

static void
test_get_post (void **state)
{
  (void) state;
  int fds_before = count_fds ();
  struct running r;
  start_server (&r, "127.0.0.1:0", 2, NULL, NULL);
  assert_true (veil_http_server_port (r.srv) > 0);
  veil_http_client_t *c = veil_http_client_new (NULL, NULL);
  assert_non_null (c);

  veil_http_result_t res;
  _cleanup_free_ char *u1 = url (&r, "/hello?a=1&b=2");
  must_request (c, "GET", u1, NULL, NULL, 0, &res);
  assert_int_equal (res.status, 200);
  assert_string_equal (res.content_type, "application/json");
  assert_string_equal ((char *) res.body.data, "{\"hello\":\"world\",\"query\":\"a=1&b=2\",\"method\":\"GET\"}");
  veil_http_result_free (&res);

  _cleanup_free_ char *u2 = url (&r, "/echo");
  const char *body = "{\"nonce\":\"abc\",\"n\":[1,2,3]}";
  const char *hdrs[] = { "Content-Type: application/json", NULL };
  must_request (c, "POST", u2, hdrs, body, strlen (body), &res);
  assert_int_equal (res.status, 200);
  assert_string_equal (res.content_type, "application/json");
  assert_int_equal (res.body.len, strlen (body));
  assert_string_equal ((char *) res.body.data, body);
  veil_http_result_free (&res);

  /* empty POST body, and a PUT with a body */
  must_request (c, "POST", u2, NULL, NULL, 0, &res);
  assert_int_equal (res.status, 200);
  assert_int_equal (res.body.len, 0);
  veil_http_result_free (&res);
  must_request (c, "PUT", u2, hdrs, "[1]", 3, &res);
  assert_int_equal (res.status, 200);
  assert_string_equal ((char *) res.body.data, "[1]");
  veil_http_result_free (&res);

  veil_http_client_free (c);
  stop_server (&r);
  /* a server's whole life leaves no descriptor behind */
  assert_int_equal (count_fds (), fds_before);
}

static void
test_headers_cookies (void **state)
{
  (void) state;
  struct running r;
  start_server (&r, "127.0.0.1:0", 1, NULL, NULL);
  veil_http_client_t *c = veil_http_client_new (NULL, NULL);
  veil_http_result_t res;

  _cleanup_free_ char *who = url (&r, "/whoami");
  must_request (c, "GET", who, NULL, NULL, 0, &res);
  assert_int_equal (res.status, 401);
  veil_http_result_free (&res);

  _cleanup_free_ char *login = url (&r, "/login");
  const char *hdrs[] = { "X-Veil-Test: hello there", NULL };
  must_request (c, "POST", login, hdrs, "{}", 2, &res);
  assert_int_equal (res.status, 200);
  veil_http_result_free (&res);

  /* the client sends the cookie back on its own */
  must_request (c, "GET", who, NULL, NULL, 0, &res);
  assert_int_equal (res.status, 200);
  assert_string_equal ((char *) res.body.data, "{\"session\":\"abc123\",\"other\":null}");
  veil_http_result_free (&res);

  /* an explicit Cookie header with several pairs */
  veil_http_client_t *c2 = veil_http_client_new (NULL, NULL);
  const char *ck[] = { "Cookie: a=1; other=\"x y\"; session=zz", NULL };
  must_request (c2, "GET", who, ck, NULL, 0, &res);
  assert_int_equal (res.status, 200);
  assert_string_equal ((char *) res.body.data, "{\"session\":\"zz\",\"other\":\"x y\"}");
  veil_http_result_free (&res);
  veil_http_client_free (c2);

  veil_http_client_free (c);
  stop_server (&r);
}

static void
test_not_found_and_too_large (void **state)
{
  (void) state;
  struct running r;
  start_server (&r, "127.0.0.1:0", 1, NULL, NULL);
  veil_http_client_t *c = veil_http_client_new (NULL, NULL);
  veil_http_result_t res;

  _cleanup_free_ char *nope = url (&r, "/nope");
  must_request (c, "GET", nope, NULL, NULL, 0, &res);
  assert_int_equal (res.status, 404);
  assert_string_equal (res.content_type, "application/problem+json");
  json_t *j = json_loads ((char *) res.body.data, 0, NULL);
  assert_non_null (j);
  assert_string_equal (veil_json_str (j, "type"), "https://veil.dev/problems/not-found");
  assert_string_equal (veil_json_str (j, "title"), "Not Found");
  assert_int_equal (json_integer_value (json_object_get (j, "status")), 404);
  assert_string_equal (veil_json_str (j, "detail"), "/nope");
  json_decref (j);
  veil_http_result_free (&res);

  /* one byte over the limit: 413 problem, the handler never runs */
  int before = atomic_load (&handler_calls);
  size_t n = TEST_MAX_BODY + 1;
  _cleanup_free_ char *big = xmalloc (n);
  memset (big, 'a', n);
  _cleanup_free_ char *echo = url (&r, "/echo");
  must_request (c, "POST", echo, NULL, big, n, &res);
  assert_int_equal (res.status, 413);
  assert_string_equal (res.content_type, "application/problem+json");
  j = json_loads ((char *) res.body.data, 0, NULL);
  assert_non_null (j);
  assert_string_equal (veil_json_str (j, "type"), "https://veil.dev/problems/payload-too-large");
  assert_int_equal (json_integer_value (json_object_get (j, "status")), 413);
  json_decref (j);
  veil_http_result_free (&res);
  assert_int_equal (atomic_load (&handler_calls), before);

  /* a chunked body over the limit is refused too */
  const char *chunked[] = { "Transfer-Encoding: chunked", NULL };
  must_request (c, "POST", echo, chunked, big, n, &res);
  assert_int_equal (res.status, 413);
  veil_http_result_free (&res);
  assert_int_equal (atomic_load (&handler_calls), before);

  /* exactly the limit is fine */
  must_request (c, "POST", echo, NULL, big, TEST_MAX_BODY, &res);
  assert_int_equal (res.status, 200);
  assert_int_equal (res.body.len, TEST_MAX_BODY);
  veil_http_result_free (&res);

  veil_http_client_free (c);
  stop_server (&r);
}

static void
test_keepalive (void **state)
{
  (void) state;
  struct running r;
  start_server (&r, "127.0.0.1:0", 2, NULL, NULL);
  veil_http_client_t *c = veil_http_client_new (NULL, NULL);
  _cleanup_free_ char *u = url (&r, "/peer");
  _cleanup_free_ char *first = NULL;
  for (int i = 0; i < 300; i++)
    {
      veil_http_result_t res;
      must_request (c, "GET", u, NULL, NULL, 0, &res);
      assert_int_equal (res.status, 200);
      /* same client port every time: one persistent connection */
      if (first == NULL)
        first = xstrdup ((char *) res.body.data);
      else
        assert_string_equal ((char *) res.body.data, first);
      veil_http_result_free (&res);
    }
  assert_true (strncmp (first, "127.0.0.1:", 10) == 0);
  /* stopping with the idle connection still open does not wait for it */
  uint64_t t0 = veil_now_mono_ns ();
  stop_server (&r);
  assert_true (veil_now_mono_ns () - t0 < 2000000000ull);
  veil_http_client_free (c);
}

struct hammer
{
  const char *url;
  int ok;
};

static void *
hammer_main (void *arg)
{
  struct hammer *h = arg;
  veil_http_client_t *c = veil_http_client_new (NULL, NULL);
  if (c == NULL)
    return NULL;
  for (int i = 0; i < 200; i++)
    {
      veil_http_result_t res;
      char body[64];
      int len = snprintf (body, sizeof (body), "{\"i\":%d}", i);
      if (veil_http_client_request (c, "POST", h->url, NULL, body, (size_t) len, &res, NULL) == 0)
        {
          if (res.status == 200 && strcmp ((char *) res.body.data, body) == 0)
            h->ok++;
          veil_http_result_free (&res);
        }
    }
  veil_http_client_free (c);
  return NULL;
}

static void
test_concurrent (void **state)
{
  (void) state;
  struct running r;
  start_server (&r, "127.0.0.1:0", 4, NULL, NULL);
  _cleanup_free_ char *u = url (&r, "/echo");
  struct hammer hs[6];
  pthread_t th[6];
  for (int i = 0; i < 6; i++)
    {
      hs[i] = (struct hammer){ .url = u };
      assert_int_equal (pthread_create (&th[i], NULL, hammer_main, &hs[i]), 0);
    }
  for (int i = 0; i < 6; i++)
    {
      pthread_join (th[i], NULL);
      assert_int_equal (hs[i].ok, 200);
    }
  stop_server (&r);
}

static char *
raw_unix_get (const char *path, const char *request)
{
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true (fd >= 0);
  struct sockaddr_un sun = { .sun_family = AF_UNIX };
  snprintf (sun.sun_path, sizeof (sun.sun_path), "%s", path);
  assert_int_equal (connect (fd, (struct sockaddr *) &sun, sizeof (sun)), 0);
  assert_int_equal (write (fd, request, strlen (request)), (ssize_t) strlen (request));
  veil_buf_t b = { 0 };
  char tmp[4096];
  ssize_t n;
  while ((n = read (fd, tmp, sizeof (tmp))) > 0)
    veil_buf_append (&b, tmp, (size_t) n);
  close (fd);
  return veil_buf_cstr (&b);
}

static void
test_unix_socket (void **state)
{
  (void) state;
  char dir[] = "/tmp/veil-http-XXXXXX";
  assert_non_null (mkdtemp (dir));
  _cleanup_free_ char *path = xasprintf ("%s/api.sock", dir);
  _cleanup_free_ char *listen = xasprintf ("unix:%s", path);

  /* leave a stale socket file behind, as a crashed server would */
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sun = { .sun_family = AF_UNIX };
  snprintf (sun.sun_path, sizeof (sun.sun_path), "%s", path);
  assert_int_equal (bind (fd, (struct sockaddr *) &sun, sizeof (sun)), 0);
  close (fd);

  struct running r;
  start_server (&r, listen, 1, NULL, NULL);
  assert_int_equal (veil_http_server_port (r.srv), 0);

  /* a second server on a live socket is refused */
  veil_http_server_config_t cfg = { .listen = listen, .threads = 1, .handler = test_handler };
  veil_error_t *err = NULL;
  assert_null (veil_http_server_new (&cfg, &err));
  assert_int_equal (err->code, EADDRINUSE);
  veil_error_free (err);

  _cleanup_free_ char *resp
      = raw_unix_get (path, "GET /peer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  assert_true (strncmp (resp, "HTTP/1.1 200", 12) == 0);
  assert_non_null (strstr (resp, "\r\n\r\nunix"));
  stop_server (&r);
  struct stat st;
  assert_int_equal (stat (path, &st), -1);
  rmdir (dir);
}

/* A self-signed EC certificate for 127.0.0.1 / localhost, valid for a day. */
static void
make_cert (const char *cert_path, const char *key_path)
{
  EVP_PKEY *pkey = EVP_EC_gen ("P-256");
  assert_non_null (pkey);
  X509 *x = X509_new ();
  X509_set_version (x, 2);
  ASN1_INTEGER_set (X509_get_serialNumber (x), 1);
  X509_gmtime_adj (X509_getm_notBefore (x), -60);
  X509_gmtime_adj (X509_getm_notAfter (x), 86400);
  X509_set_pubkey (x, pkey);
  X509_NAME *name = X509_get_subject_name (x);
  X509_NAME_add_entry_by_txt (name, "CN", MBSTRING_ASC, (const unsigned char *) "veil test", -1,
                              -1, 0);
  X509_set_issuer_name (x, name);
  X509V3_CTX v3;
  X509V3_set_ctx_nodb (&v3);
  X509V3_set_ctx (&v3, x, x, NULL, NULL, 0);
  const char *exts[][2] = { { "subjectAltName", "IP:127.0.0.1,DNS:localhost" },
                            { "basicConstraints", "critical,CA:TRUE" },
                            { "keyUsage", "critical,digitalSignature,keyCertSign" } };
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (exts); i++)
    {
      X509_EXTENSION *e = X509V3_EXT_conf (NULL, &v3, exts[i][0], exts[i][1]);
      assert_non_null (e);
      X509_add_ext (x, e, -1);
      X509_EXTENSION_free (e);
    }
  assert_true (X509_sign (x, pkey, EVP_sha256 ()) > 0);
  FILE *f = fopen (cert_path, "w");
  assert_non_null (f);
  PEM_write_X509 (f, x);
  fclose (f);
  f = fopen (key_path, "w");
  assert_non_null (f);
  PEM_write_PrivateKey (f, pkey, NULL, NULL, 0, NULL, NULL);
  fclose (f);
  X509_free (x);
  EVP_PKEY_free (pkey);
}

static void
test_tls (void **state)
{
  (void) state;
  char dir[] = "/tmp/veil-tls-XXXXXX";
  assert_non_null (mkdtemp (dir));
  _cleanup_free_ char *cert = xasprintf ("%s/cert.pem", dir);
  _cleanup_free_ char *key = xasprintf ("%s/key.pem", dir);
  make_cert (cert, key);

  struct running r;
  start_server (&r, "127.0.0.1:0", 2, cert, key);
  _cleanup_free_ char *u = url (&r, "/hello");

  veil_http_client_opts_t o = { .ca_file = cert };
  veil_http_client_t *c = veil_http_client_new (&o, NULL);
  assert_non_null (c);
  veil_http_result_t res;
  for (int i = 0; i < 20; i++)
    {
      must_request (c, "GET", u, NULL, NULL, 0, &res);
      assert_int_equal (res.status, 200);
      assert_non_null (strstr ((char *) res.body.data, "world"));
      veil_http_result_free (&res);
    }
  veil_http_client_free (c);

  /* without the CA the certificate is refused, and the error names the URL */
  veil_http_client_t *strict = veil_http_client_new (NULL, NULL);
  veil_error_t *err = NULL;
  assert_true (veil_http_client_request (strict, "GET", u, NULL, NULL, 0, &res, &err) < 0);
  assert_int_equal (err->code, EKEYREJECTED);
  assert_non_null (strstr (err->msg, u));
  veil_error_free (err);
  veil_http_client_free (strict);

  /* plain HTTP to a TLS port fails cleanly */
  veil_http_client_t *plain = veil_http_client_new (NULL, NULL);
  _cleanup_free_ char *hu = xasprintf ("http://127.0.0.1:%d/hello", veil_http_server_port (r.srv));
  err = NULL;
  int rc = veil_http_client_request (plain, "GET", hu, NULL, NULL, 0, &res, &err);
  if (rc == 0)
    {
      assert_true (res.status >= 400);
      veil_http_result_free (&res);
    }
  else
    veil_error_free (err);
  veil_http_client_free (plain);

  stop_server (&r);
  unlink (cert);
  unlink (key);
  rmdir (dir);
}

static void
test_client_limits (void **state)
{
  (void) state;
  struct running r;
  start_server (&r, "127.0.0.1:0", 1, NULL, NULL);
  veil_http_client_opts_t o = { .max_response = 100, .timeout_ms = 5000 };
  veil_http_client_t *c = veil_http_client_new (&o, NULL);
  _cleanup_free_ char *u = url (&r, "/echo");
  char body[1000];
  memset (body, 'z', sizeof (body));
  veil_http_result_t res;
  veil_error_t *err = NULL;
  assert_true (veil_http_client_request (c, "POST", u, NULL, body, sizeof (body), &res, &err) < 0);
  assert_int_equal (err->code, E2BIG);
  veil_error_free (err);
  err = NULL;

  /* only http and https */
  assert_true (veil_http_client_request (c, "GET", "file:///etc/passwd", NULL, NULL, 0, &res, &err)
               < 0);
  assert_non_null (strstr (err->msg, "file:///etc/passwd"));
  veil_error_free (err);
  err = NULL;
  veil_http_client_free (c);
  stop_server (&r);

  /* nothing listens any more: connection refused, with the URL */
  c = veil_http_client_new (NULL, NULL);
  assert_true (veil_http_client_request (c, "GET", u, NULL, NULL, 0, &res, &err) < 0);
  assert_int_equal (err->code, ECONNREFUSED);
  assert_non_null (strstr (err->msg, u));
  veil_error_free (err);
  veil_http_client_free (c);
}

static void
test_listen_errors (void **state)
{
  (void) state;
  const char *bad[] = { "127.0.0.1", "127.0.0.1:99999", "[::1:80", "unix:", "nosuchhost.invalid:80" };
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (bad); i++)
    {
      veil_http_server_config_t cfg = { .listen = bad[i], .threads = 1, .handler = test_handler };
      veil_error_t *err = NULL;
      assert_null (veil_http_server_new (&cfg, &err));
      assert_non_null (err);
      assert_non_null (strstr (err->msg, "http: "));
      veil_error_free (err);
    }
  /* IPv6 loopback with port 0 (skipped where the machine has no IPv6) */
  veil_http_server_config_t cfg = { .listen = "[::1]:0", .threads = 1, .handler = test_handler };
  veil_error_t *err = NULL;
  veil_http_server_t *srv = veil_http_server_new (&cfg, &err);
  if (srv == NULL)
    {
      print_message ("skipping [::1]: %s\n", err->msg);
      veil_error_free (err);
      return;
    }
  assert_true (veil_http_server_port (srv) > 0);
  /* stop before run: run returns at once */
  veil_http_server_stop (srv);
  assert_int_equal (veil_http_server_run (srv, NULL), 0);
  veil_http_server_free (srv);
}

static void
test_response_helpers (void **state)
{
  (void) state;
  veil_http_response_t resp = { 0 };
  veil_http_response_problem (&resp, 403, "policy-denied", "claim 'x' does not match");
  assert_int_equal (resp.status, 403);
  assert_string_equal (resp.content_type, "application/problem+json");
  assert_string_equal (veil_buf_cstr (&resp.body),
                       "{\"type\":\"https://veil.dev/problems/policy-denied\",\"title\":\"Forbidden\","
                       "\"status\":403,\"detail\":\"claim 'x' does not match\"}");
  veil_http_response_json (&resp, 201, json_pack ("{s:i}", "a", 1));
  assert_int_equal (resp.status, 201);
  assert_null (resp.content_type);
  assert_string_equal (veil_buf_cstr (&resp.body), "{\"a\":1}");
  for (int i = 0; i < VEIL_HTTP_MAX_HEADERS + 3; i++)
    veil_http_response_header (&resp, "X-N", "v");
  assert_int_equal (resp.n_headers, VEIL_HTTP_MAX_HEADERS);
  veil_http_response_clear (&resp);
  assert_int_equal (resp.n_headers, 0);
  assert_null (resp.body.data);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_response_helpers),
    cmocka_unit_test (test_get_post),
    cmocka_unit_test (test_headers_cookies),
    cmocka_unit_test (test_not_found_and_too_large),
    cmocka_unit_test (test_keepalive),
    cmocka_unit_test (test_concurrent),
    cmocka_unit_test (test_unix_socket),
    cmocka_unit_test (test_tls),
    cmocka_unit_test (test_client_limits),
    cmocka_unit_test (test_listen_errors),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
