/* HTTP client over libcurl: one easy handle per client so that connections
 * and cookies (the KBS session cookie) carry over between requests. */
#include <pthread.h>
#include <signal.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "veil/http.h"

#define DEFAULT_TIMEOUT_MS 30000L
#define MAX_CONNECT_TIMEOUT_MS 10000L
#define DEFAULT_MAX_RESPONSE (16 * 1024 * 1024)

struct veil_http_client
{
  CURL *curl;
  char *ca_file;
  long timeout_ms;
  size_t max_response;
  char errbuf[CURL_ERROR_SIZE];
};

struct sink
{
  veil_buf_t *buf;
  size_t max;
  bool too_big;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_OK;

static void
curl_init_once (void)
{
  curl_init_rc = curl_global_init (CURL_GLOBAL_DEFAULT);
}

static size_t
on_write (char *ptr, size_t size, size_t nmemb, void *userdata)
{
  struct sink *s = userdata;
  size_t n = size * nmemb;
  if (n > s->max || s->buf->len > s->max - n)
    {
      /* returning less than n makes curl abort with CURLE_WRITE_ERROR */
      s->too_big = true;
      return 0;
    }
  veil_buf_append (s->buf, ptr, n);
  return n;
}

/* ca_file adds to the system trust store rather than replacing it: curl
 * has loaded its default bundle into the SSL_CTX when this runs. */
static CURLcode
on_ssl_ctx (CURL *curl, void *sslctx, void *userdata)
{
  (void) curl;
  const char *ca_file = userdata;
  X509_STORE *store = SSL_CTX_get_cert_store ((SSL_CTX *) sslctx);
  if (store == NULL || X509_STORE_load_file (store, ca_file) != 1)
    {
      ERR_clear_error ();
      return CURLE_SSL_CACERT_BADFILE;
    }
  return CURLE_OK;
}

veil_http_client_t *
veil_http_client_new (const veil_http_client_opts_t *opts, veil_error_t **err)
{
  pthread_once (&curl_once, curl_init_once);
  if (curl_init_rc != CURLE_OK)
    {
      veil_error_set (err, EIO, "http: curl_global_init: %s", curl_easy_strerror (curl_init_rc));
      return NULL;
    }
  veil_http_client_opts_t o = { 0 };
  if (opts != NULL)
    o = *opts;
  if (o.ca_file != NULL && access (o.ca_file, R_OK) != 0)
    {
      veil_error_set (err, errno, "http: CA file %s: %s", o.ca_file, strerror (errno));
      return NULL;
    }

  veil_http_client_t *c = xcalloc (1, sizeof (*c));
  c->curl = curl_easy_init ();
  if (c->curl == NULL)
    {
      free (c);
      veil_error_set (err, ENOMEM, "http: curl_easy_init failed");
      return NULL;
    }
  c->timeout_ms = o.timeout_ms > 0 ? o.timeout_ms : DEFAULT_TIMEOUT_MS;
  c->max_response = o.max_response ? o.max_response : DEFAULT_MAX_RESPONSE;
  CURL *h = c->curl;
  CURLcode rc = CURLE_OK;
#define SETOPT(opt, val)                     \
  do                                         \
    {                                        \
      if (rc == CURLE_OK)                    \
        rc = curl_easy_setopt (h, opt, val); \
    }                                        \
  while (0)
  SETOPT (CURLOPT_ERRORBUFFER, c->errbuf);
  /* in-memory cookie engine: Set-Cookie is kept for the next request */
  SETOPT (CURLOPT_COOKIEFILE, "");
  /* no file://, gopher:// or friends, even via a redirect */
  SETOPT (CURLOPT_PROTOCOLS_STR, "http,https");
  SETOPT (CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  SETOPT (CURLOPT_FOLLOWLOCATION, 0L);
  /* several threads each own a client: no SIGALRM for timeouts */
  SETOPT (CURLOPT_NOSIGNAL, 1L);
  SETOPT (CURLOPT_TIMEOUT_MS, c->timeout_ms);
  SETOPT (CURLOPT_CONNECTTIMEOUT_MS,
          c->timeout_ms < MAX_CONNECT_TIMEOUT_MS ? c->timeout_ms : MAX_CONNECT_TIMEOUT_MS);
  SETOPT (CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) c->max_response);
  SETOPT (CURLOPT_SSLVERSION, (long) CURL_SSLVERSION_TLSv1_2);
  SETOPT (CURLOPT_SSL_VERIFYPEER, o.insecure ? 0L : 1L);
  SETOPT (CURLOPT_SSL_VERIFYHOST, o.insecure ? 0L : 2L);
  SETOPT (CURLOPT_WRITEFUNCTION, on_write);
  SETOPT (CURLOPT_TCP_KEEPALIVE, 1L);
  SETOPT (CURLOPT_USERAGENT, "veil/" VEIL_VERSION);
  if (o.ca_file != NULL)
    {
      c->ca_file = xstrdup (o.ca_file);
      SETOPT (CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
      SETOPT (CURLOPT_SSL_CTX_DATA, c->ca_file);
    }
#undef SETOPT
  if (rc != CURLE_OK)
    {
      veil_error_set (err, EINVAL, "http: configuring curl: %s", curl_easy_strerror (rc));
      veil_http_client_free (c);
      return NULL;
    }
  return c;
}

static int
curl_errno (CURLcode rc)
{
  switch (rc)
    {
    case CURLE_OPERATION_TIMEDOUT:
      return ETIMEDOUT;
    case CURLE_COULDNT_CONNECT:
      return ECONNREFUSED;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return EHOSTUNREACH;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
      return EINVAL;
    case CURLE_FILESIZE_EXCEEDED:
      return E2BIG;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
      return EKEYREJECTED;
    case CURLE_SSL_CONNECT_ERROR:
      return EPROTO;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
      return ECONNRESET;
    default:
      return EIO;
    }
}

/* With CURLOPT_NOSIGNAL, a write to a peer that went away (OpenSSL writes
 * without MSG_NOSIGNAL) may raise SIGPIPE: keep it blocked in this thread
 * while curl runs, and discard it before restoring the mask. */
static CURLcode
perform_without_sigpipe (CURL *h)
{
  sigset_t pipe_set, old;
  sigemptyset (&pipe_set);
  sigaddset (&pipe_set, SIGPIPE);
  sigset_t pending;
  sigpending (&pending);
  bool was_pending = sigismember (&pending, SIGPIPE);
  pthread_sigmask (SIG_BLOCK, &pipe_set, &old);
  CURLcode rc = curl_easy_perform (h);
  if (!was_pending)
    {
      sigpending (&pending);
      if (sigismember (&pending, SIGPIPE))
        {
          struct timespec zero = { 0, 0 };
          sigtimedwait (&pipe_set, NULL, &zero);
        }
    }
  pthread_sigmask (SIG_SETMASK, &old, NULL);
  return rc;
}

static void
curl_slist_freep (struct curl_slist **l)
{
  if (*l)
    curl_slist_free_all (*l);
}

int
veil_http_client_request (veil_http_client_t *c, const char *method, const char *url,
                          const char *const *headers, const void *body, size_t body_len,
                          veil_http_result_t *out, veil_error_t **err)
{
  memset (out, 0, sizeof (*out));
  if (method == NULL || url == NULL)
    return veil_error_set (err, EINVAL, "http: request needs a method and a URL");
  CURL *h = c->curl;
  __attribute__ ((cleanup (curl_slist_freep))) struct curl_slist *hl = NULL;
  for (size_t i = 0; headers != NULL && headers[i] != NULL; i++)
    {
      struct curl_slist *n = curl_slist_append (hl, headers[i]);
      if (n == NULL)
        return veil_error_set (err, ENOMEM, "http: %s %s: header list", method, url);
      hl = n;
    }

  veil_buf_t buf = { 0 };
  struct sink sink = { .buf = &buf, .max = c->max_response };
  c->errbuf[0] = '\0';

  /* reset the per-request state left by the previous request */
  curl_easy_setopt (h, CURLOPT_HTTPGET, 1L);
  curl_easy_setopt (h, CURLOPT_NOBODY, 0L);
  curl_easy_setopt (h, CURLOPT_CUSTOMREQUEST, (char *) NULL);
  bool is_get = strcmp (method, "GET") == 0, is_head = strcmp (method, "HEAD") == 0;
  if (body != NULL || strcmp (method, "POST") == 0)
    {
      curl_easy_setopt (h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) body_len);
      curl_easy_setopt (h, CURLOPT_POSTFIELDS, body != NULL ? body : "");
    }
  if (is_head)
    curl_easy_setopt (h, CURLOPT_NOBODY, 1L);
  else if (!is_get && strcmp (method, "POST") != 0)
    curl_easy_setopt (h, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt (h, CURLOPT_URL, url);
  curl_easy_setopt (h, CURLOPT_HTTPHEADER, hl);
  curl_easy_setopt (h, CURLOPT_WRITEDATA, &sink);

  CURLcode rc = perform_without_sigpipe (h);
  curl_easy_setopt (h, CURLOPT_HTTPHEADER, (struct curl_slist *) NULL);
  curl_easy_setopt (h, CURLOPT_POSTFIELDS, (char *) NULL);
  curl_easy_setopt (h, CURLOPT_WRITEDATA, (void *) NULL);
  if (rc != CURLE_OK)
    {
      veil_buf_free (&buf);
      if (sink.too_big || rc == CURLE_FILESIZE_EXCEEDED)
        return veil_error_set (err, E2BIG, "http: %s %s: response larger than %zu bytes", method,
                               url, c->max_response);
      return veil_error_set (err, curl_errno (rc), "http: %s %s: %s", method, url,
                             c->errbuf[0] ? c->errbuf : curl_easy_strerror (rc));
    }
  long status = 0;
  curl_easy_getinfo (h, CURLINFO_RESPONSE_CODE, &status);
  char *ct = NULL;
  curl_easy_getinfo (h, CURLINFO_CONTENT_TYPE, &ct);
  out->status = status;
  out->content_type = ct ? xstrdup (ct) : NULL;
  veil_buf_cstr (&buf);
  out->body = buf;
  return 0;
}

void
veil_http_result_free (veil_http_result_t *r)
{
  if (r == NULL)
    return;
  free (r->content_type);
  veil_buf_free (&r->body);
  memset (r, 0, sizeof (*r));
}

void
veil_http_client_free (veil_http_client_t *c)
{
  if (c == NULL)
    return;
  if (c->curl != NULL)
    curl_easy_cleanup (c->curl);
  free (c->ca_file);
  free (c);
}
