/* A client of the OCI distribution spec (v1.1; "distribution API v2") over
 * libcurl.  Unlike the buffered veil_http client it streams: blobs go
 * straight into a file while their sha256 is computed, so a layer of any
 * size costs one pass and a bounded amount of memory.
 *
 * Trust: the registry (and any proxy or CDN in between) is untrusted.  Every
 * body is bounded (manifests 4 MiB, blobs by the descriptor's size, whatever
 * Content-Length says), every blob and digest-addressed manifest is checked
 * against its digest, and redirects may not downgrade https to http. */
#include <curl/curl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include "veil/image.h"

#define MANIFEST_MAX (4u << 20)
#define TOKEN_MAX (1u << 20)
#define ERRBODY_MAX 4096
#define HEADER_MAX 8192
#define AUTHFILE_MAX (1u << 20)

struct veil_registry
{
  CURL *curl;
  char *base; /* "https://host:port" */
  char *host; /* the registry as named in references (auth.json key) */
  char *repo;
  char *basic; /* base64 "user:pass" from auth.json: a secret */
  char *token; /* bearer token: a secret */
  bool basic_requested;
  bool insecure;
  char *ca_file;
  int retries;
};

/* One transfer: what the response said and where its body goes. */
typedef struct xfer
{
  long status;
  char *www_auth, *location, *content_type, *range;
  int64_t content_length;
  /* body sinks (2xx only): a bounded buffer, or an fd with a digest */
  veil_buf_t *buf;
  size_t buf_max;
  int fd;
  int64_t max; /* fd: most bytes accepted (descriptor size) */
  int64_t got;
  EVP_MD_CTX *md;
  int fail;           /* an errno that aborted the transfer from a callback */
  veil_buf_t errbody; /* body of a non-2xx response, bounded, for messages */
  veil_progress_fn progress;
  void *progress_ctx;
  /* request body: from memory or an fd range */
  const uint8_t *src_mem;
  int src_fd;
  int64_t src_start, src_len, src_off;
} xfer_t;

static void
xfer_reset_response (xfer_t *x)
{
  x->status = 0;
  x->content_length = -1;
  free (x->www_auth);
  free (x->location);
  free (x->content_type);
  free (x->range);
  x->www_auth = x->location = x->content_type = x->range = NULL;
}

/* Back to the state before the transfer, so that it can be retried. */
static int
xfer_rewind (xfer_t *x)
{
  xfer_reset_response (x);
  x->errbody.len = 0;
  x->fail = 0;
  x->src_off = 0;
  if (x->buf)
    x->buf->len = 0;
  if (x->fd >= 0)
    {
      if (x->got > 0 && (ftruncate (x->fd, 0) < 0 || lseek (x->fd, 0, SEEK_SET) < 0))
        return -errno;
      if (x->md && EVP_DigestInit_ex (x->md, EVP_sha256 (), NULL) != 1)
        return -EIO;
    }
  x->got = 0;
  return 0;
}

static void
xfer_clear (xfer_t *x)
{
  xfer_reset_response (x);
  veil_buf_free (&x->errbody);
  if (x->md)
    EVP_MD_CTX_free (x->md);
  x->md = NULL;
}

static bool
is_2xx (long s)
{
  return s >= 200 && s < 300;
}

static size_t
header_cb (char *data, size_t size, size_t n, void *ud)
{
  xfer_t *x = ud;
  size_t len = size * n;
  if (len >= 5 && !strncmp (data, "HTTP/", 5))
    {
      /* a new response (after a redirect or 100-continue): forget the last */
      xfer_reset_response (x);
      const char *sp = memchr (data, ' ', len);
      if (sp)
        x->status = strtol (sp + 1, NULL, 10);
      return len;
    }
  const char *colon = memchr (data, ':', len);
  if (colon == NULL || len > HEADER_MAX)
    return len;
  size_t nl = (size_t) (colon - data);
  const char *v = colon + 1;
  size_t vl = len - nl - 1;
  while (vl && (*v == ' ' || *v == '\t'))
    v++, vl--;
  while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
    vl--;
  char **slot = NULL;
  if (nl == 16 && !strncasecmp (data, "WWW-Authenticate", nl))
    slot = &x->www_auth;
  else if (nl == 8 && !strncasecmp (data, "Location", nl))
    slot = &x->location;
  else if (nl == 12 && !strncasecmp (data, "Content-Type", nl))
    slot = &x->content_type;
  else if (nl == 5 && !strncasecmp (data, "Range", nl))
    slot = &x->range;
  else if (nl == 14 && !strncasecmp (data, "Content-Length", nl) && is_2xx (x->status))
    {
      _cleanup_free_ char *s = xstrndup (v, vl);
      int64_t cl;
      if (veil_parse_i64 (s, 0, INT64_MAX, &cl, NULL) == 0)
        x->content_length = cl;
      /* refuse before reading a byte: the descriptor's size is the bound */
      if (x->fd >= 0 && x->max >= 0 && cl > x->max)
        {
          x->fail = E2BIG;
          return 0;
        }
      if (x->buf && cl > (int64_t) x->buf_max)
        {
          x->fail = E2BIG;
          return 0;
        }
    }
  if (slot)
    {
      free (*slot);
      *slot = xstrndup (v, vl);
    }
  return len;
}

static size_t
write_cb (char *data, size_t size, size_t n, void *ud)
{
  xfer_t *x = ud;
  size_t len = size * n;
  if (!is_2xx (x->status))
    {
      if (x->errbody.len < ERRBODY_MAX)
        veil_buf_append (&x->errbody, data,
                         len < ERRBODY_MAX - x->errbody.len ? len : ERRBODY_MAX - x->errbody.len);
      return len;
    }
  if (x->buf)
    {
      if (x->buf->len + len > x->buf_max)
        {
          x->fail = E2BIG;
          return 0;
        }
      veil_buf_append (x->buf, data, len);
      return len;
    }
  if (x->fd < 0)
    return len;
  if (x->max >= 0 && (int64_t) len > x->max - x->got)
    {
      x->fail = E2BIG; /* more than the descriptor says: stop reading now */
      return 0;
    }
  if (x->md && EVP_DigestUpdate (x->md, data, len) != 1)
    {
      x->fail = EIO;
      return 0;
    }
  for (size_t off = 0; off < len;)
    {
      ssize_t w = write (x->fd, data + off, len - off);
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0)
        {
          x->fail = errno;
          return 0;
        }
      off += (size_t) w;
    }
  x->got += (int64_t) len;
  if (x->progress)
    x->progress (x->progress_ctx, (uint64_t) x->got, x->max >= 0 ? (uint64_t) x->max : 0);
  return len;
}

static size_t
read_cb (char *out, size_t size, size_t n, void *ud)
{
  xfer_t *x = ud;
  size_t want = size * n;
  int64_t left = x->src_len - x->src_off;
  if (left <= 0)
    return 0;
  if ((int64_t) want > left)
    want = (size_t) left;
  if (x->src_mem)
    {
      memcpy (out, x->src_mem + x->src_off, want);
      x->src_off += (int64_t) want;
      return want;
    }
  ssize_t r;
  do
    r = pread (x->src_fd, out, want, x->src_start + x->src_off);
  while (r < 0 && errno == EINTR);
  if (r <= 0)
    {
      x->fail = r < 0 ? errno : EIO; /* the file shrank under us */
      return CURL_READFUNC_ABORT;
    }
  x->src_off += r;
  return (size_t) r;
}

/* The "errors" array of the distribution spec ("Error Codes"), for messages. */
static char *
describe_errbody (const xfer_t *x)
{
  json_t *j = json_loadb ((const char *) x->errbody.data, x->errbody.len, 0, NULL);
  json_t *e0 = json_array_get (json_object_get (j, "errors"), 0);
  const char *code = veil_json_str (e0, "code"), *msg = veil_json_str (e0, "message");
  char *s = code ? xasprintf (" (%s%s%s)", code, msg ? ": " : "", msg ? msg : "") : xstrdup ("");
  json_decref (j);
  return s;
}

static bool
is_loopback (const char *host)
{
  return !strncmp (host, "localhost", 9) || !strncmp (host, "127.", 4)
         || !strncmp (host, "[::1]", 5);
}

/* ---- credentials ---------------------------------------------------------- */

/* auth.json as podman/skopeo/docker write it: {"auths": {"host": {"auth":
 * base64("user:pass")}}}; Docker Hub is also keyed by its legacy v1 URL. */
static int
load_basic (veil_registry_t *r, const char *path, veil_error_t **err)
{
  if (path == NULL)
    path = secure_getenv ("REGISTRY_AUTH_FILE");
  if (path == NULL || *path == 0)
    return 0;
  _cleanup_free_ uint8_t *data = NULL;
  size_t len = 0;
  if (veil_file_read (path, AUTHFILE_MAX, &data, &len, err) < 0)
    return veil_error_wrap (err, "registry: auth file");
  _cleanup_json_ json_t *j = veil_json_parse (data, len, AUTHFILE_MAX, err);
  veil_wipe (data, len);
  if (j == NULL)
    return veil_error_wrap (err, "registry: auth file %s", path);
  json_t *auths = json_object_get (j, "auths");
  if (auths != NULL && !json_is_object (auths))
    return veil_error_set (err, EINVAL, "registry: auth file %s: 'auths' is not an object", path);
  _cleanup_free_ char *https = xasprintf ("https://%s", r->host);
  _cleanup_free_ char *http = xasprintf ("http://%s", r->host);
  const char *keys[] = { r->host, https, http, "https://index.docker.io/v1/", "index.docker.io" };
  size_t n_keys = strcmp (r->host, "docker.io") == 0 ? 5 : 3;
  for (size_t i = 0; i < n_keys; i++)
    {
      json_t *e = json_object_get (auths, keys[i]);
      if (e == NULL)
        continue;
      const char *a = veil_json_str (e, "auth");
      if (a == NULL)
        return veil_error_set (err, EINVAL, "registry: auth file %s: entry '%s' has no 'auth'",
                               path, keys[i]);
      uint8_t *raw = NULL;
      size_t rl = 0;
      bool ok = veil_b64_decode (a, &raw, &rl, NULL) == 0 && memchr (raw, ':', rl) != NULL;
      if (raw)
        veil_wipe (raw, rl);
      free (raw);
      if (!ok)
        return veil_error_set (err, EINVAL,
                               "registry: auth file %s: entry '%s': 'auth' is not base64 of "
                               "user:password",
                               path, keys[i]);
      r->basic = veil_secret_dup (a, strlen (a) + 1);
      return 0;
    }
  return 0;
}

/* ---- transfers ------------------------------------------------------------ */

typedef struct req
{
  const char *method; /* GET HEAD POST PUT PATCH */
  const char *url;
  const char *const *headers; /* extra "Name: value", NULL-terminated */
  bool follow;                /* follow redirects (GET/HEAD of blobs, manifests) */
  bool has_body;
  const char *auth; /* full Authorization header or NULL */
} req_t;

static void
setup_common (veil_registry_t *r, xfer_t *x)
{
  CURL *h = r->curl;
  curl_easy_reset (h); /* keeps the connection cache */
  curl_easy_setopt (h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt (h, CURLOPT_PROTOCOLS_STR, r->insecure ? "http,https" : "https");
  curl_easy_setopt (h, CURLOPT_CONNECTTIMEOUT, 30L);
  /* a stalled peer: less than 1 byte/s for a minute */
  curl_easy_setopt (h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt (h, CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt (h, CURLOPT_USERAGENT, "veil/" VEIL_VERSION);
  curl_easy_setopt (h, CURLOPT_HEADERFUNCTION, header_cb);
  curl_easy_setopt (h, CURLOPT_HEADERDATA, x);
  curl_easy_setopt (h, CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt (h, CURLOPT_WRITEDATA, x);
  /* blobs are large: fewer, bigger reads and writes */
  curl_easy_setopt (h, CURLOPT_BUFFERSIZE, 512L * 1024);
  if (r->ca_file)
    {
      /* CAINFO replaces the bundle; CAPATH keeps the system CAs as well */
      curl_easy_setopt (h, CURLOPT_CAINFO, r->ca_file);
      curl_easy_setopt (h, CURLOPT_CAPATH, "/etc/ssl/certs");
    }
}

static CURLcode
perform (veil_registry_t *r, const req_t *q, xfer_t *x)
{
  CURL *h = r->curl;
  setup_common (r, x);
  struct curl_slist *hl = NULL;
  /* no "Expect: 100-continue" round trip before uploads */
  hl = curl_slist_append (hl, "Expect:");
  for (const char *const *p = q->headers; p && *p; p++)
    hl = curl_slist_append (hl, *p);
  if (q->auth)
    hl = curl_slist_append (hl, q->auth);
  curl_easy_setopt (h, CURLOPT_URL, q->url);
  curl_easy_setopt (h, CURLOPT_HTTPHEADER, hl);
  if (q->follow)
    {
      /* registries answer blob GETs with a redirect to storage: follow, but
       * never from https to http (the protocol set is the base's scheme);
       * curl does not send our Authorization header to another host */
      curl_easy_setopt (h, CURLOPT_FOLLOWLOCATION, 1L);
      curl_easy_setopt (h, CURLOPT_MAXREDIRS, 5L);
      curl_easy_setopt (h, CURLOPT_REDIR_PROTOCOLS_STR,
                        !strncmp (r->base, "https:", 6) ? "https" : "http");
    }
  if (!strcmp (q->method, "HEAD"))
    curl_easy_setopt (h, CURLOPT_NOBODY, 1L);
  else if (q->has_body)
    {
      curl_easy_setopt (h, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt (h, CURLOPT_READFUNCTION, read_cb);
      curl_easy_setopt (h, CURLOPT_READDATA, x);
      curl_easy_setopt (h, CURLOPT_INFILESIZE_LARGE, (curl_off_t) x->src_len);
      if (strcmp (q->method, "PUT") != 0)
        curl_easy_setopt (h, CURLOPT_CUSTOMREQUEST, q->method);
    }
  else if (!strcmp (q->method, "POST"))
    {
      curl_easy_setopt (h, CURLOPT_POST, 1L);
      curl_easy_setopt (h, CURLOPT_POSTFIELDS, "");
      curl_easy_setopt (h, CURLOPT_POSTFIELDSIZE, 0L);
    }
  else if (strcmp (q->method, "GET") != 0)
    curl_easy_setopt (h, CURLOPT_CUSTOMREQUEST, q->method);
  CURLcode rc = curl_easy_perform (h);
  long code = 0;
  if (curl_easy_getinfo (h, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK && code)
    x->status = code;
  curl_easy_setopt (h, CURLOPT_HTTPHEADER, (struct curl_slist *) NULL);
  curl_slist_free_all (hl);
  return rc;
}

static bool
retriable (CURLcode rc)
{
  switch (rc)
    {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
    }
}

static void
backoff (int attempt)
{
  /* 200 ms, 400 ms, 800 ms, ... capped at 5 s */
  long ms = 200L << (attempt < 5 ? attempt : 5);
  if (ms > 5000)
    ms = 5000;
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
  while (nanosleep (&ts, &ts) < 0 && errno == EINTR)
    ;
}

/* One request with retries on connection errors and 5xx, no auth logic. */
static int
request_retry (veil_registry_t *r, const req_t *q, xfer_t *x, veil_error_t **err)
{
  for (int attempt = 0;; attempt++)
    {
      int e = xfer_rewind (x);
      if (e < 0)
        return veil_error_set (err, -e, "registry: %s %s: cannot rewind for a retry: %s", q->method,
                               q->url, strerror (-e));
      CURLcode rc = perform (r, q, x);
      if (x->fail)
        return -x->fail; /* the caller words it: it knows the object */
      if (rc != CURLE_OK)
        {
          if (retriable (rc) && attempt < r->retries)
            {
              veil_log_warn ("image", "registry request failed, retrying", "url=%s error=\"%s\" attempt=%d",
                             q->url, curl_easy_strerror (rc), attempt + 1);
              backoff (attempt);
              continue;
            }
          return veil_error_set (err, rc == CURLE_COULDNT_CONNECT ? ECONNREFUSED : EIO,
                                 "registry: %s %s: %s", q->method, q->url, curl_easy_strerror (rc));
        }
      if (x->status >= 500 && attempt < r->retries)
        {
          veil_log_warn ("image", "registry server error, retrying", "url=%s status=%ld attempt=%d",
                         q->url, x->status, attempt + 1);
          backoff (attempt);
          continue;
        }
      return 0;
    }
}

/* WWW-Authenticate (RFC 7235 §4.1): scheme, then auth-params key=value or
 * key="quoted", comma-separated.  Returns the value of one parameter. */
static char *
challenge_param (const char *ch, const char *key)
{
  const char *p = strchr (ch, ' ');
  size_t kl = strlen (key);
  while (p && *p)
    {
      while (*p == ' ' || *p == ',' || *p == '\t')
        p++;
      const char *eq = strchr (p, '=');
      if (eq == NULL)
        return NULL;
      bool match = (size_t) (eq - p) == kl && !strncasecmp (p, key, kl);
      const char *v = eq + 1;
      veil_buf_t val = { 0 };
      if (*v == '"')
        {
          for (v++; *v && *v != '"'; v++)
            {
              if (*v == '\\' && v[1])
                v++;
              veil_buf_append (&val, v, 1);
            }
          if (*v == '"')
            v++;
        }
      else
        {
          size_t n = strcspn (v, ", \t");
          veil_buf_append (&val, v, n);
          v += n;
        }
      if (match)
        return veil_buf_cstr (&val);
      veil_buf_free (&val);
      p = v;
    }
  return NULL;
}

static void
set_token (veil_registry_t *r, const char *tok)
{
  veil_secret_free (r->token);
  r->token = tok ? veil_secret_dup (tok, strlen (tok) + 1) : NULL;
}

/* Docker token authentication (the distribution project's "token" spec,
 * which every public registry implements): GET realm?service=&scope= with
 * the basic credentials if any, and use {"token"} or {"access_token"}. */
static int
fetch_token (veil_registry_t *r, const char *challenge, bool push, veil_error_t **err)
{
  _cleanup_free_ char *realm = challenge_param (challenge, "realm");
  _cleanup_free_ char *service = challenge_param (challenge, "service");
  _cleanup_free_ char *ch_scope = challenge_param (challenge, "scope");
  if (realm == NULL)
    return veil_error_set (err, EPROTO, "registry: %s: Bearer challenge without realm", r->host);
  /* the token endpoint may receive our password: https only, unless the
   * registry itself is a plain-http loopback one */
  if (strncmp (realm, "https://", 8) != 0 && !(r->insecure && !strncmp (realm, "http://", 7)))
    return veil_error_set (err, EPROTO, "registry: %s: token realm '%s' is not https", r->host,
                           realm);
  _cleanup_free_ char *want
      = xasprintf ("repository:%s:%s", r->repo, push ? "pull,push" : "pull");
  const char *scope = ch_scope && !push ? ch_scope : want;
  char *esc_scope = curl_easy_escape (r->curl, scope, 0);
  char *esc_service = service ? curl_easy_escape (r->curl, service, 0) : NULL;
  _cleanup_free_ char *url
      = xasprintf ("%s%sscope=%s%s%s", realm, strchr (realm, '?') ? "&" : "?", esc_scope,
                   esc_service ? "&service=" : "", esc_service ? esc_service : "");
  curl_free (esc_scope);
  curl_free (esc_service);

  _cleanup_secret_ char *auth = r->basic ? veil_secret_alloc (strlen (r->basic) + 32) : NULL;
  if (auth)
    snprintf (auth, strlen (r->basic) + 32, "Authorization: Basic %s", r->basic);
  veil_buf_t body = { 0 };
  xfer_t x = { .fd = -1, .buf = &body, .buf_max = TOKEN_MAX, .src_fd = -1 };
  req_t q = { .method = "GET", .url = url, .auth = auth };
  int ret = request_retry (r, &q, &x, err);
  if (ret == -E2BIG)
    ret = veil_error_set (err, E2BIG, "registry: %s: token response larger than %u bytes", r->host,
                          TOKEN_MAX);
  else if (ret == 0 && (x.status == 401 || x.status == 403))
    ret = veil_error_set (err, EACCES, "registry: authentication denied for %s (token server %s: "
                                       "HTTP %ld)",
                          r->repo, realm, x.status);
  else if (ret == 0 && x.status != 200)
    ret = veil_error_set (err, EPROTO, "registry: token server %s: HTTP %ld", realm, x.status);
  if (ret == 0)
    {
      json_t *j = veil_json_parse (body.data, body.len, TOKEN_MAX, err);
      const char *tok = veil_json_str (j, "token");
      if (tok == NULL)
        tok = veil_json_str (j, "access_token");
      if (j == NULL)
        ret = veil_error_wrap (err, "registry: token server %s", realm);
      else if (tok == NULL || *tok == 0 || strlen (tok) > 64 * 1024)
        ret = veil_error_set (err, EPROTO, "registry: token server %s: no token in the response",
                              realm);
      else
        set_token (r, tok);
      json_decref (j);
    }
  veil_buf_wipe (&body);
  xfer_clear (&x);
  return ret;
}

/* Answers a 401: Bearer → fetch a token, Basic → send credentials. */
static int
authenticate (veil_registry_t *r, xfer_t *x, bool push, veil_error_t **err)
{
  const char *ch = x->www_auth;
  if (ch && !strncasecmp (ch, "Bearer ", 7))
    return fetch_token (r, ch, push, err);
  if (ch && !strncasecmp (ch, "Basic", 5) && r->basic && !r->basic_requested)
    {
      r->basic_requested = true;
      return 0;
    }
  if (r->basic)
    return veil_error_set (err, EACCES, "registry: authentication denied for %s/%s", r->host,
                           r->repo);
  return veil_error_set (err, EACCES, "registry: authentication required for %s/%s (no "
                                      "credentials for %s in the auth file)",
                         r->host, r->repo, r->host);
}

/* A request with authentication: on 401, answer the challenge once and
 * retry (also the path by which a pull-scoped token is upgraded to push). */
static int
request (veil_registry_t *r, req_t *q, xfer_t *x, bool push, veil_error_t **err)
{
  for (int round = 0;; round++)
    {
      _cleanup_secret_ char *auth = NULL;
      const char *secret = r->token ? r->token : (r->basic_requested ? r->basic : NULL);
      if (secret)
        {
          size_t n = strlen (secret) + 32;
          auth = veil_secret_alloc (n);
          snprintf (auth, n, "Authorization: %s %s", r->token ? "Bearer" : "Basic", secret);
        }
      q->auth = auth;
      int ret = request_retry (r, q, x, err);
      q->auth = NULL;
      if (ret < 0 || x->status != 401)
        return ret;
      if (round == 1)
        return veil_error_set (err, EACCES, "registry: authentication denied for %s/%s", r->host,
                               r->repo);
      if ((ret = authenticate (r, x, push, err)) < 0)
        return ret;
    }
}

static int
status_error (veil_registry_t *r, const xfer_t *x, const char *what, veil_error_t **err)
{
  _cleanup_free_ char *detail = describe_errbody (x);
  int code = x->status == 404 ? ENOENT : x->status == 401 || x->status == 403 ? EACCES
                                                                              : EPROTO;
  return veil_error_set (err, code, "registry: %s in %s/%s: HTTP %ld%s", what, r->host, r->repo,
                         x->status, detail);
}

/* ---- API ---------------------------------------------------------------- */

static void
global_init (void)
{
  curl_global_init (CURL_GLOBAL_DEFAULT);
}

veil_registry_t *
veil_registry_new (const veil_image_ref_t *ref, const veil_registry_opts_t *opts,
                   veil_error_t **err)
{
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  static const veil_registry_opts_t defaults = { 0 };
  if (opts == NULL)
    opts = &defaults;
  if (ref->kind != VEIL_REF_REGISTRY || ref->registry == NULL || ref->repository == NULL)
    return veil_error_set (err, EINVAL, "registry: not a registry reference"), NULL;
  if (opts->insecure && !is_loopback (ref->registry))
    return veil_error_set (err, EPERM,
                           "registry: %s: plain http is only allowed for loopback registries",
                           ref->registry),
           NULL;
  pthread_once (&once, global_init);
  veil_registry_t *r = xcalloc (1, sizeof *r);
  r->host = xstrdup (ref->registry);
  r->repo = xstrdup (ref->repository);
  r->insecure = opts->insecure;
  r->retries = opts->retries > 0 ? opts->retries : 3;
  r->ca_file = opts->ca_file ? xstrdup (opts->ca_file) : NULL;
  /* Docker Hub's API is not served at docker.io */
  const char *api = strcmp (r->host, "docker.io") == 0 ? "registry-1.docker.io" : r->host;
  r->base = xasprintf ("%s://%s", opts->insecure ? "http" : "https", api);
  r->curl = curl_easy_init ();
  if (r->curl == NULL)
    {
      veil_registry_free (r);
      return veil_error_set (err, ENOMEM, "registry: curl_easy_init failed"), NULL;
    }
  if (load_basic (r, opts->auth_file, err) < 0)
    {
      veil_registry_free (r);
      return NULL;
    }
  return r;
}

void
veil_registry_free (veil_registry_t *r)
{
  if (r == NULL)
    return;
  if (r->curl)
    curl_easy_cleanup (r->curl);
  free (r->base);
  free (r->host);
  free (r->repo);
  free (r->ca_file);
  veil_secret_free (r->basic);
  veil_secret_free (r->token);
  free (r);
}

/* distribution spec "Checking if content exists": GET /v2/ answers 200
 * (or 401 with the challenge) on a conformant registry. */
int
veil_registry_ping (veil_registry_t *r, veil_error_t **err)
{
  _cleanup_free_ char *url = xasprintf ("%s/v2/", r->base);
  xfer_t x = { .fd = -1, .src_fd = -1 };
  req_t q = { .method = "GET", .url = url, .follow = false };
  int ret = request (r, &q, &x, false, err);
  if (ret == 0 && x.status != 200)
    ret = status_error (r, &x, "ping /v2/", err);
  xfer_clear (&x);
  return ret;
}

int
veil_registry_get_manifest (veil_registry_t *r, const char *reference, veil_buf_t *body,
                            char **content_type, char **digest, veil_error_t **err)
{
  bool by_digest = !strncmp (reference, "sha256:", 7);
  if (by_digest && !veil_digest_valid (reference))
    return veil_error_set (err, EINVAL, "registry: invalid digest '%s'", reference);
  _cleanup_free_ char *url = xasprintf ("%s/v2/%s/manifests/%s", r->base, r->repo, reference);
  /* distribution spec "Pulling manifests": Accept lists what we parse */
  static const char *const hdrs[]
      = { "Accept: " VEIL_MT_OCI_MANIFEST ", " VEIL_MT_OCI_INDEX ", " VEIL_MT_DOCKER_MANIFEST
          ", " VEIL_MT_DOCKER_LIST,
          NULL };
  body->len = 0;
  xfer_t x = { .fd = -1, .src_fd = -1, .buf = body, .buf_max = MANIFEST_MAX };
  req_t q = { .method = "GET", .url = url, .headers = hdrs, .follow = true };
  int ret = request (r, &q, &x, false, err);
  if (ret == -E2BIG)
    ret = veil_error_set (err, E2BIG, "registry: manifest %s in %s/%s: larger than %u bytes",
                          reference, r->host, r->repo, MANIFEST_MAX);
  else if (ret == 0 && x.status == 404)
    ret = veil_error_set (err, ENOENT, "registry: manifest %s not found in %s/%s", reference,
                          r->host, r->repo);
  else if (ret == 0 && x.status != 200)
    ret = status_error (r, &x, "manifest", err);
  if (ret == 0)
    {
      _cleanup_free_ char *d = veil_digest_of (body->data, body->len);
      /* content addressing: a manifest fetched by digest is that digest */
      if (by_digest && strcmp (d, reference) != 0)
        ret = veil_error_set (err, EBADMSG, "registry: manifest %s: digest mismatch: expected %s, "
                                            "got %s",
                              reference, reference, d);
      else
        {
          if (content_type)
            *content_type = x.content_type ? xstrdup (x.content_type) : NULL;
          if (digest)
            *digest = steal_pointer (&d);
        }
    }
  xfer_clear (&x);
  return ret;
}

int
veil_registry_get_blob (veil_registry_t *r, const char *digest, int64_t size, int fd,
                        veil_progress_fn progress, void *progress_ctx, veil_error_t **err)
{
  if (!veil_digest_valid (digest))
    return veil_error_set (err, EINVAL, "registry: invalid blob digest '%s'", digest);
  _cleanup_free_ char *url = xasprintf ("%s/v2/%s/blobs/%s", r->base, r->repo, digest);
  xfer_t x = { .fd = fd, .src_fd = -1, .max = size, .md = EVP_MD_CTX_new (), .progress = progress, .progress_ctx = progress_ctx };
  if (x.md == NULL || EVP_DigestInit_ex (x.md, EVP_sha256 (), NULL) != 1)
    abort ();
  req_t q = { .method = "GET", .url = url, .follow = true };
  int ret = request (r, &q, &x, false, err);
  if (ret == -E2BIG)
    ret = veil_error_set (err, E2BIG, "registry: blob %s: larger than its descriptor's %" PRId64 " bytes", digest, size);
  else if (ret < 0 && err && *err == NULL)
    ret = veil_error_set (err, -ret, "registry: blob %s: %s", digest, strerror (-ret));
  else if (ret == 0 && x.status == 404)
    ret = veil_error_set (err, ENOENT, "registry: blob %s not found in %s/%s", digest, r->host,
                          r->repo);
  else if (ret == 0 && x.status != 200)
    ret = status_error (r, &x, "blob", err);
  else if (ret == 0 && size >= 0 && x.got != size)
    ret = veil_error_set (err, EBADMSG, "registry: blob %s: size mismatch: expected %" PRId64 " bytes, got %" PRId64,
                          digest, size, x.got);
  if (ret == 0)
    {
      uint8_t md[VEIL_SHA256_LEN];
      unsigned mdl = 0;
      EVP_DigestFinal_ex (x.md, md, &mdl);
      _cleanup_free_ char *hex = veil_hex_encode (md, sizeof md);
      if (strcmp (hex, digest + 7) != 0)
        ret = veil_error_set (err, EBADMSG, "registry: blob digest mismatch: expected %s, got "
                                            "sha256:%s",
                              digest, hex);
    }
  xfer_clear (&x);
  return ret;
}

int
veil_registry_blob_exists (veil_registry_t *r, const char *digest, veil_error_t **err)
{
  if (!veil_digest_valid (digest))
    return veil_error_set (err, EINVAL, "registry: invalid blob digest '%s'", digest);
  _cleanup_free_ char *url = xasprintf ("%s/v2/%s/blobs/%s", r->base, r->repo, digest);
  xfer_t x = { .fd = -1, .src_fd = -1 };
  req_t q = { .method = "HEAD", .url = url, .follow = true };
  /* push scope: this is asked before an upload, and a pull token would be
   * exchanged again right after */
  int ret = request (r, &q, &x, true, err);
  if (ret == 0)
    ret = x.status == 200 ? 1 : x.status == 404 ? 0
                                                : status_error (r, &x, "blob HEAD", err);
  xfer_clear (&x);
  return ret;
}

/* An upload URL from Location: relative to the registry, or absolute with
 * the registry's own scheme (no downgrade to http). */
static char *
upload_url (veil_registry_t *r, const char *loc, veil_error_t **err)
{
  if (loc == NULL || *loc == 0)
    return veil_error_set (err, EPROTO, "registry: upload response without Location"), NULL;
  if (loc[0] == '/')
    return xasprintf ("%s%s", r->base, loc);
  size_t sl = strcspn (r->base, ":") + 3;
  if (strncmp (loc, r->base, sl) != 0)
    return veil_error_set (err, EPROTO, "registry: upload Location '%.200s' changes the scheme",
                           loc),
           NULL;
  return xstrdup (loc);
}

static int
upload (veil_registry_t *r, const char *method, const char *url, int fd, int64_t start,
        int64_t len, const char *const *hdrs, long want, char **next, veil_error_t **err)
{
  xfer_t x = { .fd = -1, .src_fd = fd, .src_start = start, .src_len = len };
  req_t q = { .method = method, .url = url, .headers = hdrs, .has_body = true };
  int ret = request (r, &q, &x, true, err);
  if (ret < 0 && err && *err == NULL)
    ret = veil_error_set (err, -ret, "registry: %s %s: reading the blob: %s", method, url,
                          strerror (-ret));
  else if (ret == 0 && x.status != want)
    ret = status_error (r, &x, "blob upload", err);
  if (ret == 0 && next)
    *next = upload_url (r, x.location, err);
  if (ret == 0 && next && *next == NULL)
    ret = -EPROTO;
  xfer_clear (&x);
  return ret;
}

int
veil_registry_put_blob (veil_registry_t *r, const char *digest, int fd, int64_t size, size_t chunk,
                        veil_error_t **err)
{
  if (!veil_digest_valid (digest) || size < 0)
    return veil_error_set (err, EINVAL, "registry: put blob: invalid digest or size");
  /* distribution spec "Pushing blobs": POST opens an upload session */
  _cleanup_free_ char *start = xasprintf ("%s/v2/%s/blobs/uploads/", r->base, r->repo);
  xfer_t x = { .fd = -1, .src_fd = -1 };
  req_t q = { .method = "POST", .url = start };
  int ret = request (r, &q, &x, true, err);
  if (ret == 0 && x.status != 202)
    ret = status_error (r, &x, "blob upload start", err);
  _cleanup_free_ char *loc = ret == 0 ? upload_url (r, x.location, err) : NULL;
  xfer_clear (&x);
  if (ret < 0)
    return ret;
  if (loc == NULL)
    return -EPROTO;
  static const char *const octet[] = { "Content-Type: application/octet-stream", NULL };
  int64_t off = 0;
  if (chunk > 0)
    {
      /* "Pushing a blob in chunks": PATCH with Content-Range (inclusive),
       * each answered by 202 and the Location of the next one */
      for (; off < size;)
        {
          int64_t n = size - off < (int64_t) chunk ? size - off : (int64_t) chunk;
          char range[80];
          snprintf (range, sizeof range, "Content-Range: %" PRId64 "-%" PRId64, off, off + n - 1);
          const char *const hdrs[] = { octet[0], range, NULL };
          char *next = NULL;
          if ((ret = upload (r, "PATCH", loc, fd, off, n, hdrs, 202, &next, err)) < 0)
            return ret;
          free (loc);
          loc = next;
          off += n;
        }
    }
  /* the closing PUT ?digest= carries the rest (all of it when monolithic) */
  _cleanup_free_ char *put = xasprintf ("%s%sdigest=%s", loc, strchr (loc, '?') ? "&" : "?", digest);
  ret = upload (r, "PUT", put, fd, off, size - off, octet, 201, NULL, err);
  if (ret < 0)
    return veil_error_wrap (err, "registry: push blob %s", digest);
  return 0;
}

int
veil_registry_put_manifest (veil_registry_t *r, const char *reference, const void *body,
                            size_t len, const char *content_type, veil_error_t **err)
{
  if (len > MANIFEST_MAX)
    return veil_error_set (err, E2BIG, "registry: manifest larger than %u bytes", MANIFEST_MAX);
  _cleanup_free_ char *url = xasprintf ("%s/v2/%s/manifests/%s", r->base, r->repo, reference);
  _cleanup_free_ char *ct = xasprintf ("Content-Type: %s", content_type);
  const char *const hdrs[] = { ct, NULL };
  xfer_t x = { .fd = -1, .src_fd = -1, .src_mem = body, .src_len = (int64_t) len };
  req_t q = { .method = "PUT", .url = url, .headers = hdrs, .has_body = true };
  int ret = request (r, &q, &x, true, err);
  if (ret == 0 && x.status != 201)
    ret = status_error (r, &x, "manifest push", err);
  xfer_clear (&x);
  return ret;
}
