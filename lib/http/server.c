/* HTTP/1.1 server over h2o's own event loop (h2o 2.2, built without libuv).
 *
 * Threading: N workers, each with its own h2o_context_t and evloop.  On TCP
 * each worker listens on its own SO_REUSEPORT socket, so that the kernel
 * spreads connections evenly (a shared socket polled by every loop gave
 * splits as bad as 93/7 when clients connect in a burst); on a Unix socket
 * all workers accept from a dup() of the one socket.  A handler runs synchronously
 * on the worker that read the request, so the response is complete before
 * the loop goes on.
 *
 * Stopping: every worker watches the read end of its own pipe; stop() writes
 * one byte to each (write(2) is async-signal-safe).  A worker then closes its
 * listener, lets idle keep-alive connections time out immediately and
 * disposes its context. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <h2o.h>
#include <h2o/version.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "veil/http.h"

#define DEFAULT_MAX_BODY (1024 * 1024)
#define MAX_THREADS 256
/* How long (in loop turns of 10 ms) a stopping worker waits for its
 * connections to go away before it disposes of the context anyway. */
#define DRAIN_TURNS 100

struct worker
{
  veil_http_server_t *srv;
  size_t index;
  pthread_t thread;
  bool started;
  h2o_evloop_t *loop;
  h2o_context_t ctx;
  h2o_accept_ctx_t accept_ctx;
  h2o_socket_t *listener;
  h2o_socket_t *stop_sock;
  int listen_fd;    /* owned until handed to h2o */
  int stop_pipe[2]; /* [0] owned until handed to h2o, [1] written by stop() */
  volatile bool stopping;
  uint64_t n_requests;
};

struct veil_http_server
{
  h2o_globalconf_t globalconf;
  h2o_hostconf_t *hostconf;
  SSL_CTX *ssl_ctx;
  veil_http_handler_fn handler;
  void *handler_ctx;
  size_t max_body;
  int listen_fd;
  int port;
  struct sockaddr_storage bound; /* TCP: the address listen_fd is bound to */
  socklen_t bound_len;
  bool is_unix;
  char *unix_path;
  size_t n_workers;
  struct worker *workers;
  atomic_bool stop_requested;
};

struct veil_handler
{
  h2o_handler_t super;
  veil_http_server_t *srv;
};

/* Replaces the plain-text body of the errors h2o emits on its own (413 from
 * the Content-Length check before the body is read, 404 for request targets
 * outside "/", 400 for broken chunked encoding) with an RFC 7807 document,
 * so that clients see one error format. */
struct problem_ostream
{
  h2o_ostream_t super;
  h2o_iovec_t body;
  bool sent;
};

/* ---- response helpers ---------------------------------------------------- */

static const char *
reason_phrase (int status)
{
  switch (status)
    {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Range Not Satisfiable";
    case 417:
      return "Expectation Failed";
    case 422:
      return "Unprocessable Content";
    case 425:
      return "Too Early";
    case 428:
      return "Precondition Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      break;
    }
  if (status >= 200 && status < 300)
    return "OK";
  if (status >= 300 && status < 400)
    return "Redirection";
  if (status >= 400 && status < 500)
    return "Client Error";
  return "Server Error";
}

void
veil_http_response_header (veil_http_response_t *resp, const char *name, const char *value)
{
  if (resp->n_headers >= VEIL_HTTP_MAX_HEADERS)
    {
      veil_log_warn ("http", "response header dropped", "name=%s reason=too_many", name);
      return;
    }
  resp->headers[resp->n_headers].name = xstrdup (name);
  resp->headers[resp->n_headers].value = xstrdup (value);
  resp->n_headers++;
}

static void
response_set_body (veil_http_response_t *resp, int status, const char *content_type,
                   const void *data, size_t len)
{
  resp->status = status;
  free (resp->content_type);
  resp->content_type = content_type ? xstrdup (content_type) : NULL;
  resp->body.len = 0;
  if (len > 0)
    veil_buf_append (&resp->body, data, len);
}

void
veil_http_response_json (veil_http_response_t *resp, int status, json_t *body)
{
  _cleanup_json_ json_t *j = body;
  _cleanup_free_ char *s = j ? json_dumps (j, JSON_COMPACT) : NULL;
  if (s == NULL)
    {
      veil_http_response_problem (resp, 500, "internal", "response could not be serialised");
      return;
    }
  response_set_body (resp, status, NULL, s, strlen (s));
}

static char *
problem_document (int status, const char *type, const char *detail)
{
  _cleanup_json_ json_t *j = json_object ();
  _cleanup_free_ char *uri = xasprintf ("https://veil.dev/problems/%s", type ? type : "about-blank");
  json_object_set_new (j, "type", json_string (uri));
  json_object_set_new (j, "title", json_string (reason_phrase (status)));
  json_object_set_new (j, "status", json_integer (status));
  if (detail != NULL)
    {
      /* detail may come from a peer: json_string refuses invalid UTF-8 */
      json_t *d = json_string (detail);
      json_object_set_new (j, "detail", d ? d : json_string ("(detail not valid UTF-8)"));
    }
  char *s = json_dumps (j, JSON_COMPACT);
  if (s == NULL)
    abort ();
  return s;
}

void
veil_http_response_problem (veil_http_response_t *resp, int status, const char *type,
                            const char *detail)
{
  _cleanup_free_ char *s = problem_document (status, type, detail);
  response_set_body (resp, status, "application/problem+json", s, strlen (s));
}

void
veil_http_response_text (veil_http_response_t *resp, int status, const char *content_type,
                         const void *data, size_t len)
{
  response_set_body (resp, status, content_type ? content_type : "text/plain; charset=utf-8",
                     data, len);
}

void
veil_http_response_clear (veil_http_response_t *resp)
{
  for (size_t i = 0; i < resp->n_headers; i++)
    {
      free (resp->headers[i].name);
      free (resp->headers[i].value);
    }
  free (resp->content_type);
  veil_buf_free (&resp->body);
  memset (resp, 0, sizeof (*resp));
}

/* ---- request accessors --------------------------------------------------- */

/* ---- local requests (tests, fuzzers) ------------------------------------- */

struct local_req
{
  veil_http_request_t req;
  h2o_mem_pool_t pool;
  char **headers; /* "Name: value" copies */
  size_t n_headers;
};

/* Value of the next header called name from *cursor on (all when cursor is
 * NULL: the first). */
static const char *
local_header (const veil_http_request_t *req, const char *name, size_t *cursor)
{
  struct local_req *lr = req->impl;
  size_t n = strlen (name);
  for (size_t i = cursor ? *cursor : 0; i < lr->n_headers; i++)
    {
      const char *h = lr->headers[i];
      if (strncasecmp (h, name, n) == 0 && h[n] == ':')
        {
          if (cursor)
            *cursor = i + 1;
          h += n + 1;
          while (*h == ' ' || *h == '\t')
            h++;
          return h;
        }
    }
  return NULL;
}

veil_http_request_t *
veil_http_request_new_local (const char *method, const char *path, const char *const *headers,
                             const void *body, size_t body_len)
{
  struct local_req *lr = xcalloc (1, sizeof (*lr));
  h2o_mem_init_pool (&lr->pool);
  for (size_t i = 0; headers && headers[i]; i++)
    {
      lr->headers = xrealloc (lr->headers, (i + 1) * sizeof (char *));
      lr->headers[i] = xstrdup (headers[i]);
      lr->n_headers = i + 1;
    }
  const char *q = strchr (path, '?');
  lr->req.method = xstrdup (method);
  lr->req.path = q ? xstrndup (path, (size_t) (q - path)) : xstrdup (path);
  lr->req.query = q ? xstrdup (q + 1) : NULL;
  lr->req.body = xmemdup (body ? body : "", body_len);
  lr->req.body_len = body_len;
  lr->req.peer = "local";
  lr->req.impl = lr;
  lr->req.local = true;
  return &lr->req;
}

void
veil_http_request_free_local (veil_http_request_t *req)
{
  if (!req)
    return;
  struct local_req *lr = req->impl;
  for (size_t i = 0; i < lr->n_headers; i++)
    free (lr->headers[i]);
  free (lr->headers);
  free ((char *) req->method);
  free ((char *) req->path);
  free ((char *) req->query);
  veil_wipe ((void *) req->body, req->body_len);
  free ((void *) req->body);
  h2o_mem_clear_pool (&lr->pool);
  free (lr);
}

const char *
veil_http_request_header (const veil_http_request_t *req, const char *name)
{
  if (req->local)
    return local_header (req, name, NULL);
  h2o_req_t *r = req->impl;
  size_t n = strlen (name);
  for (size_t i = 0; i < r->headers.size; i++)
    {
      h2o_header_t *h = &r->headers.entries[i];
      if (h->name->len == n && strncasecmp (h->name->base, name, n) == 0)
        return h2o_strdup (&r->pool, h->value.base, h->value.len).base;
    }
  return NULL;
}

/* RFC 6265 §5.4: "name=value" pairs separated by "; " in one or several
 * Cookie headers; the first matching name wins. */
static const char *
cookie_in (h2o_mem_pool_t *pool, const char *s, size_t len, const char *name)
{
  size_t nlen = strlen (name);
  size_t i = 0;
  while (i < len)
    {
      while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == ';'))
        i++;
      size_t start = i;
      while (i < len && s[i] != ';')
        i++;
      const char *pair = s + start;
      size_t plen = i - start;
      const char *eq = memchr (pair, '=', plen);
      if (eq == NULL)
        continue;
      size_t klen = (size_t) (eq - pair);
      while (klen > 0 && (pair[klen - 1] == ' ' || pair[klen - 1] == '\t'))
        klen--;
      if (klen != nlen || memcmp (pair, name, nlen) != 0)
        continue;
      const char *v = eq + 1;
      size_t vlen = plen - (size_t) (v - pair);
      while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
        vlen--;
      if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"')
        {
          v++;
          vlen -= 2;
        }
      return h2o_strdup (pool, v, vlen).base;
    }
  return NULL;
}

const char *
veil_http_request_cookie (const veil_http_request_t *req, const char *name)
{
  if (req->local)
    {
      struct local_req *lr = req->impl;
      size_t cursor = 0;
      const char *v;
      while ((v = local_header (req, "cookie", &cursor)))
        {
          const char *found = cookie_in (&lr->pool, v, strlen (v), name);
          if (found)
            return found;
        }
      return NULL;
    }
  h2o_req_t *r = req->impl;
  ssize_t cursor = -1;
  while ((cursor = h2o_find_header (&r->headers, H2O_TOKEN_COOKIE, cursor)) != -1)
    {
      h2o_iovec_t v = r->headers.entries[cursor].value;
      const char *found = cookie_in (&r->pool, v.base, v.len, name);
      if (found != NULL)
        return found;
    }
  return NULL;
}

/* ---- request handling ---------------------------------------------------- */

static struct worker *
worker_of (h2o_req_t *req)
{
  return (struct worker *) (void *) ((char *) req->conn->ctx - offsetof (struct worker, ctx));
}

static bool
header_text_ok (const char *s)
{
  return strpbrk (s, "\r\n") == NULL;
}

static void
send_response (h2o_req_t *req, veil_http_response_t *resp)
{
  int status = resp->status ? resp->status : 200;
  if (status < 100 || status > 599)
    status = 500;
  req->res.status = status;
  req->res.reason = reason_phrase (status);
  req->res.content_length = resp->body.len;
  const char *ct = resp->content_type ? resp->content_type : "application/json";
  if (!header_text_ok (ct))
    ct = "application/octet-stream";
  h2o_iovec_t ctv = h2o_strdup (&req->pool, ct, SIZE_MAX);
  h2o_add_header (&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, ctv.base, ctv.len);
  for (size_t i = 0; i < resp->n_headers && i < VEIL_HTTP_MAX_HEADERS; i++)
    {
      const char *name = resp->headers[i].name, *value = resp->headers[i].value;
      /* a CR or LF in a handler-supplied header would split the response */
      if (name == NULL || value == NULL || *name == '\0' || !header_text_ok (name)
          || strchr (name, ':') != NULL || !header_text_ok (value))
        {
          veil_log_warn ("http", "invalid response header dropped", "-");
          continue;
        }
      h2o_iovec_t orig = h2o_strdup (&req->pool, name, SIZE_MAX);
      h2o_iovec_t lower = h2o_strdup (&req->pool, name, SIZE_MAX);
      h2o_strtolower (lower.base, lower.len);
      h2o_iovec_t val = h2o_strdup (&req->pool, value, SIZE_MAX);
      h2o_add_header_by_str (&req->pool, &req->res.headers, lower.base, lower.len, 1, orig.base,
                             val.base, val.len);
    }
  h2o_send_inline (req, resp->body.len ? (const char *) resp->body.data : "", resp->body.len);
}

static void
format_peer (h2o_req_t *req, char *out, size_t out_len)
{
  struct sockaddr_storage ss;
  socklen_t sl = req->conn->callbacks->get_peername (req->conn, (struct sockaddr *) &ss);
  if (sl == 0 || ss.ss_family == AF_UNIX)
    {
      snprintf (out, out_len, "unix");
      return;
    }
  char host[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (ss.ss_family == AF_INET)
    {
      struct sockaddr_in *sin = (struct sockaddr_in *) &ss;
      inet_ntop (AF_INET, &sin->sin_addr, host, sizeof (host));
      port = ntohs (sin->sin_port);
      snprintf (out, out_len, "%s:%d", host, port);
    }
  else if (ss.ss_family == AF_INET6)
    {
      struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) &ss;
      inet_ntop (AF_INET6, &sin6->sin6_addr, host, sizeof (host));
      port = ntohs (sin6->sin6_port);
      snprintf (out, out_len, "[%s]:%d", host, port);
    }
  else
    snprintf (out, out_len, "unknown");
}

static void
access_log (const veil_http_request_t *vreq, int status, size_t out_len, uint64_t start_ns)
{
  if (!veil_log_enabled (VEIL_LOG_DEBUG))
    return;
  uint64_t us = (veil_now_mono_ns () - start_ns) / 1000;
  veil_log_debug ("http", "request", "method=%s path=%s status=%d in=%zu out=%zu us=%llu peer=%s",
                  vreq->method, vreq->path, status, vreq->body_len, out_len,
                  (unsigned long long) us, vreq->peer);
}

static int
on_req (h2o_handler_t *self, h2o_req_t *req)
{
  veil_http_server_t *srv = ((struct veil_handler *) self)->srv;
  uint64_t start_ns = veil_log_enabled (VEIL_LOG_DEBUG) ? veil_now_mono_ns () : 0;
  worker_of (req)->n_requests++;

  char peer[INET6_ADDRSTRLEN + 16];
  format_peer (req, peer, sizeof (peer));

  size_t path_len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
  veil_http_request_t vreq = {
    .method = h2o_strdup (&req->pool, req->method.base, req->method.len).base,
    .path = h2o_strdup (&req->pool, req->path.base, path_len).base,
    .query = NULL,
    .peer = peer,
    .impl = req,
  };
  if (req->query_at != SIZE_MAX)
    vreq.query = h2o_strdup (&req->pool, req->path.base + req->query_at + 1,
                             req->path.len - req->query_at - 1)
                     .base;

  veil_http_response_t resp = { 0 };
  if (req->entity.len > srv->max_body)
    {
      /* h2o refuses a too large Content-Length before reading; this catches
       * whatever got through another way (chunked bodies at the edge). */
      vreq.body = (const uint8_t *) "";
      _cleanup_free_ char *detail
          = xasprintf ("request body exceeds the limit of %zu bytes", srv->max_body);
      veil_http_response_problem (&resp, 413, "payload-too-large", detail);
      req->http1_is_persistent = 0;
    }
  else
    {
      if (req->entity.base != NULL)
        {
          vreq.body = (const uint8_t *) h2o_strdup (&req->pool, req->entity.base, req->entity.len).base;
          vreq.body_len = req->entity.len;
        }
      else
        vreq.body = (const uint8_t *) "";
      srv->handler (srv->handler_ctx, &vreq, &resp);
      /* Bodies can carry secrets (an admin's resource upload): none stays in
       * memory once the request is handled — neither our copy nor the bytes
       * h2o read from the socket. */
      if (vreq.body_len)
        {
          explicit_bzero ((void *) vreq.body, vreq.body_len);
          explicit_bzero (req->entity.base, req->entity.len);
        }
    }
  int status = resp.status ? resp.status : 200;
  size_t out_len = resp.body.len;
  send_response (req, &resp);
  veil_http_response_clear (&resp);
  access_log (&vreq, status, out_len, start_ns);
  return 0;
}

/* ---- problem documents for h2o's own errors ------------------------------ */

static void
problem_do_send (h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t bufcnt,
                 h2o_send_state_t state)
{
  struct problem_ostream *p = (struct problem_ostream *) self;
  (void) bufs;
  (void) bufcnt;
  if (!p->sent)
    {
      p->sent = true;
      h2o_ostream_send_next (self, req, &p->body, 1, state);
    }
  else
    h2o_ostream_send_next (self, req, NULL, 0, state);
}

static void
problem_on_setup_ostream (h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
  (void) self;
  int status = req->res.status;
  bool is_head = h2o_memis (req->input.method.base, req->input.method.len, H2O_STRLIT ("HEAD"));
  if (status >= 400 && !is_head)
    {
      veil_http_server_t *srv = worker_of (req)->srv;
      _cleanup_free_ char *detail = NULL;
      const char *type = "bad-request";
      if (status == 413)
        {
          detail = xasprintf ("request body exceeds the limit of %zu bytes", srv->max_body);
          type = "payload-too-large";
        }
      else if (status == 404)
        {
          detail = xstrdup ("no such resource");
          type = "not-found";
        }
      else
        detail = xstrdup (req->res.reason ? req->res.reason : "request refused");
      _cleanup_free_ char *doc = problem_document (status, type, detail);
      h2o_iovec_t body = h2o_strdup (&req->pool, doc, strlen (doc));
      memset (&req->res.headers, 0, sizeof (req->res.headers));
      h2o_add_header (&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                      H2O_STRLIT ("application/problem+json"));
      req->res.content_length = body.len;
      struct problem_ostream *p = (struct problem_ostream *) h2o_add_ostream (req, sizeof (*p), slot);
      p->super.do_send = problem_do_send;
      p->body = body;
      p->sent = false;
      slot = &p->super.next;
      veil_log_debug ("http", "request refused by the server", "status=%d", status);
    }
  h2o_setup_next_ostream (req, slot);
}

/* ---- listening sockets ---------------------------------------------------- */

static bool
unix_socket_is_live (const struct sockaddr_un *sun)
{
  _cleanup_close_ int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return false;
  return connect (fd, (const struct sockaddr *) sun, sizeof (*sun)) == 0;
}

static int
listen_unix (veil_http_server_t *srv, const char *path, veil_error_t **err)
{
  struct sockaddr_un sun = { .sun_family = AF_UNIX };
  if (*path == '\0' || strlen (path) >= sizeof (sun.sun_path))
    return veil_error_set (err, ENAMETOOLONG, "http: listen unix:%s: path empty or too long", path);
  memcpy (sun.sun_path, path, strlen (path) + 1);

  struct stat st;
  if (lstat (path, &st) == 0)
    {
      if (!S_ISSOCK (st.st_mode))
        return veil_error_set (err, EEXIST, "http: listen unix:%s: exists and is not a socket", path);
      /* a socket file nobody answers on is left over from a dead server */
      if (unix_socket_is_live (&sun))
        return veil_error_set (err, EADDRINUSE, "http: listen unix:%s: a server is running there", path);
      unlink (path);
    }

  _cleanup_close_ int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return veil_error_set (err, errno, "http: listen unix:%s: socket: %s", path, strerror (errno));
  if (bind (fd, (struct sockaddr *) &sun, sizeof (sun)) < 0)
    return veil_error_set (err, errno, "http: listen unix:%s: bind: %s", path, strerror (errno));
  if (listen (fd, SOMAXCONN) < 0)
    {
      int e = errno;
      unlink (path);
      return veil_error_set (err, e, "http: listen unix:%s: listen: %s", path, strerror (e));
    }
  srv->is_unix = true;
  srv->unix_path = xstrdup (path);
  srv->listen_fd = fd;
  fd = -1;
  return 0;
}

/* "host:port", "[v6]:port", ":port" or "*:port" (any address). */
static int
split_host_port (const char *listen_addr, char **host, char **port, veil_error_t **err)
{
  const char *colon;
  if (listen_addr[0] == '[')
    {
      const char *close = strchr (listen_addr, ']');
      if (close == NULL || close[1] != ':')
        return veil_error_set (err, EINVAL, "http: listen %s: expected [address]:port", listen_addr);
      *host = xstrndup (listen_addr + 1, (size_t) (close - listen_addr - 1));
      colon = close + 1;
    }
  else
    {
      colon = strrchr (listen_addr, ':');
      if (colon == NULL)
        return veil_error_set (err, EINVAL, "http: listen %s: expected host:port", listen_addr);
      *host = xstrndup (listen_addr, (size_t) (colon - listen_addr));
    }
  int64_t p;
  veil_error_t *perr = NULL;
  if (veil_parse_i64 (colon + 1, 0, 65535, &p, &perr) < 0)
    {
      veil_error_free (perr);
      free (*host);
      *host = NULL;
      return veil_error_set (err, EINVAL, "http: listen %s: invalid port '%s'", listen_addr, colon + 1);
    }
  *port = xasprintf ("%d", (int) p);
  return 0;
}

static int
listen_tcp (veil_http_server_t *srv, const char *listen_addr, veil_error_t **err)
{
  _cleanup_free_ char *host = NULL, *port = NULL;
  int r = split_host_port (listen_addr, &host, &port, err);
  if (r < 0)
    return r;
  struct addrinfo hints = {
    .ai_family = AF_UNSPEC,
    .ai_socktype = SOCK_STREAM,
    .ai_flags = AI_PASSIVE | AI_NUMERICSERV,
  };
  const char *node = (*host == '\0' || strcmp (host, "*") == 0) ? NULL : host;
  struct addrinfo *res = NULL;
  int gai = getaddrinfo (node, port, &hints, &res);
  if (gai != 0)
    return veil_error_set (err, EADDRNOTAVAIL, "http: listen %s: %s", listen_addr, gai_strerror (gai));

  int last_errno = EADDRNOTAVAIL;
  const char *what = "getaddrinfo";
  int fd = -1;
  for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next)
    {
      fd = socket (ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
      if (fd < 0)
        {
          last_errno = errno;
          what = "socket";
          continue;
        }
      int one = 1;
      /* restarting while old connections sit in TIME_WAIT must not fail */
      setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof (one));
      /* each worker gets its own socket in the port's reuseport group, so
       * that the kernel spreads connections evenly over the workers */
      if (srv->n_workers > 1)
        setsockopt (fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof (one));
      if (bind (fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen (fd, SOMAXCONN) == 0)
        break;
      last_errno = errno;
      what = "bind";
      close (fd);
      fd = -1;
    }
  freeaddrinfo (res);
  if (fd < 0)
    return veil_error_set (err, last_errno, "http: listen %s: %s: %s", listen_addr, what,
                           strerror (last_errno));

  struct sockaddr_storage ss;
  socklen_t sl = sizeof (ss);
  if (getsockname (fd, (struct sockaddr *) &ss, &sl) == 0)
    {
      srv->port = ss.ss_family == AF_INET6 ? ntohs (((struct sockaddr_in6 *) &ss)->sin6_port)
                                           : ntohs (((struct sockaddr_in *) &ss)->sin_port);
      srv->bound = ss;
      srv->bound_len = sl;
    }
  srv->listen_fd = fd;
  return 0;
}

/* Another socket in the reuseport group of listen_fd (same address and,
 * with port 0, the port the kernel picked). */
static int
reuseport_socket (veil_http_server_t *srv, veil_error_t **err)
{
  int fd = socket (srv->bound.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return veil_error_set (err, errno, "http: worker socket: %s", strerror (errno));
  int one = 1;
  setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof (one));
  if (setsockopt (fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof (one)) < 0
      || bind (fd, (struct sockaddr *) &srv->bound, srv->bound_len) < 0
      || listen (fd, SOMAXCONN) < 0)
    {
      int e = errno;
      close (fd);
      return veil_error_set (err, e, "http: worker socket on port %d: %s", srv->port, strerror (e));
    }
  return fd;
}

static int
setup_tls (veil_http_server_t *srv, const veil_http_server_config_t *cfg, veil_error_t **err)
{
  if (cfg->tls_cert == NULL && cfg->tls_key == NULL)
    return 0;
  if (cfg->tls_cert == NULL || cfg->tls_key == NULL)
    return veil_error_set (err, EINVAL, "http: TLS needs both a certificate and a key");
  SSL_CTX *ctx = SSL_CTX_new (TLS_server_method ());
  if (ctx == NULL)
    return veil_error_set (err, ENOMEM, "http: SSL_CTX_new failed");
  srv->ssl_ctx = ctx;
  SSL_CTX_set_min_proto_version (ctx, TLS1_2_VERSION);
  SSL_CTX_set_options (ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION
                                | SSL_OP_CIPHER_SERVER_PREFERENCE);
  char ebuf[256];
  if (SSL_CTX_use_certificate_chain_file (ctx, cfg->tls_cert) != 1)
    {
      ERR_error_string_n (ERR_get_error (), ebuf, sizeof (ebuf));
      ERR_clear_error ();
      return veil_error_set (err, EINVAL, "http: TLS certificate %s: %s", cfg->tls_cert, ebuf);
    }
  if (SSL_CTX_use_PrivateKey_file (ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1
      || SSL_CTX_check_private_key (ctx) != 1)
    {
      ERR_error_string_n (ERR_get_error (), ebuf, sizeof (ebuf));
      ERR_clear_error ();
      return veil_error_set (err, EINVAL, "http: TLS key %s: %s", cfg->tls_key, ebuf);
    }
  return 0;
}

/* ---- server lifecycle ----------------------------------------------------- */

static int
default_threads (void)
{
  long n = sysconf (_SC_NPROCESSORS_ONLN);
  if (n < 1)
    n = 1;
  return n > MAX_THREADS ? MAX_THREADS : (int) n;
}

veil_http_server_t *
veil_http_server_new (const veil_http_server_config_t *cfg, veil_error_t **err)
{
  if (cfg == NULL || cfg->listen == NULL || cfg->handler == NULL)
    {
      veil_error_set (err, EINVAL, "http: server needs a listen address and a handler");
      return NULL;
    }
  if (cfg->threads < 0 || cfg->threads > MAX_THREADS)
    {
      veil_error_set (err, EINVAL, "http: threads %d out of range 0..%d", cfg->threads, MAX_THREADS);
      return NULL;
    }
  veil_http_server_t *srv = xcalloc (1, sizeof (*srv));
  srv->listen_fd = -1;
  srv->handler = cfg->handler;
  srv->handler_ctx = cfg->ctx;
  srv->max_body = cfg->max_body ? cfg->max_body : DEFAULT_MAX_BODY;
  srv->n_workers = cfg->threads ? (size_t) cfg->threads : (size_t) default_threads ();
  atomic_init (&srv->stop_requested, false);

  int r = strncmp (cfg->listen, "unix:", 5) == 0 ? listen_unix (srv, cfg->listen + 5, err)
                                                 : listen_tcp (srv, cfg->listen, err);
  if (r == 0)
    r = setup_tls (srv, cfg, err);
  if (r < 0)
    {
      veil_http_server_free (srv);
      return NULL;
    }

  h2o_config_init (&srv->globalconf);
  /* h2o answers a Content-Length above this with 413 before reading the
   * body, and stops reading a chunked body once it grows beyond it */
  srv->globalconf.max_request_entity_size = srv->max_body;
  /* handlers are synchronous and HTTP/1.1 only: no h2c upgrade */
  srv->globalconf.http1.upgrade_to_http2 = 0;
  srv->globalconf.server_name = h2o_iovec_init (H2O_STRLIT ("veil"));
  srv->hostconf = h2o_config_register_host (&srv->globalconf, h2o_iovec_init (H2O_STRLIT ("default")),
                                            65535);
  h2o_pathconf_t *pathconf = h2o_config_register_path (srv->hostconf, "/", 0);
  struct veil_handler *h = (struct veil_handler *) h2o_create_handler (pathconf, sizeof (*h));
  h->super.on_req = on_req;
  h->srv = srv;
  h2o_filter_t *f = h2o_create_filter (&srv->hostconf->fallback_path, sizeof (*f));
  f->on_setup_ostream = problem_on_setup_ostream;

  srv->workers = xcalloc (srv->n_workers, sizeof (*srv->workers));
  for (size_t i = 0; i < srv->n_workers; i++)
    {
      struct worker *w = &srv->workers[i];
      w->srv = srv;
      w->index = i;
      w->listen_fd = -1;
      w->stop_pipe[0] = w->stop_pipe[1] = -1;
    }
  for (size_t i = 0; i < srv->n_workers; i++)
    {
      struct worker *w = &srv->workers[i];
      /* worker 0 shares the first socket; with reuseport the others get
       * their own, otherwise all poll the same one */
      if (i > 0 && srv->bound_len > 0 && srv->n_workers > 1)
        {
          w->listen_fd = reuseport_socket (srv, err);
          if (w->listen_fd < 0)
            {
              veil_http_server_free (srv);
              return NULL;
            }
        }
      else
        w->listen_fd = fcntl (srv->listen_fd, F_DUPFD_CLOEXEC, 3);
      if (w->listen_fd < 0 || pipe2 (w->stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        {
          veil_error_set (err, errno, "http: worker %zu setup: %s", i, strerror (errno));
          veil_http_server_free (srv);
          return NULL;
        }
    }
  veil_log_debug ("http", "listening", "listen=%s port=%d threads=%zu tls=%s max_body=%zu",
                  cfg->listen, srv->port, srv->n_workers, srv->ssl_ctx ? "yes" : "no",
                  srv->max_body);
  return srv;
}

int
veil_http_server_port (const veil_http_server_t *srv)
{
  return srv->is_unix ? 0 : srv->port;
}

static void
on_accept (h2o_socket_t *listener, const char *err)
{
  struct worker *w = listener->data;
  if (err != NULL)
    return;
  /* one connection per wake-up: where loops share a socket (Unix
   * sockets), a loop that took a whole batch would leave the others idle */
  h2o_socket_t *sock = h2o_evloop_socket_accept (listener);
  if (sock != NULL)
    h2o_accept (&w->accept_ctx, sock);
}

static void
on_stop (h2o_socket_t *sock, const char *err)
{
  struct worker *w = sock->data;
  (void) err;
  w->stopping = true;
  h2o_socket_read_stop (sock);
}

static void
worker_drain (struct worker *w)
{
  h2o_socket_read_stop (w->listener);
  h2o_socket_close (w->listener);
  w->listener = NULL;
  h2o_socket_close (w->stop_sock);
  w->stop_sock = NULL;
  /* no more keep-alive, and connections waiting for their next request
   * (or a TLS handshake) time out at once */
  /* (not h2o_context_request_shutdown: it arms HTTP/2's graceful shutdown
   * timer, which h2o_context_dispose then finds still linked) */
  w->ctx.shutdown_requested = 1;
  w->ctx.http1.req_timeout.timeout = 0;
  w->ctx.handshake_timeout.timeout = 0;
  w->ctx.http2.idle_timeout.timeout = 0;
  for (int i = 0; i < DRAIN_TURNS; i++)
    {
      h2o_evloop_run (w->loop, 10);
      if (h2o_linklist_is_empty (&w->ctx.http1._conns)
          && h2o_linklist_is_empty (&w->ctx.http2._conns))
        break;
    }
  h2o_evloop_run (w->loop, 0);
}

#if H2O_VERSION_MAJOR == 2 && H2O_VERSION_MINOR == 2
/* h2o 2.2's h2o_evloop_destroy frees the loop but not its epoll descriptor
 * (lib/common/socket/evloop/epoll.c.h: the loop is h2o_evloop_t followed
 * by the epoll fd).  Close it ourselves, after checking that the slot does
 * hold an epoll descriptor, so that servers can be created and freed many
 * times in one process. */
struct h2o22_epoll_loop
{
  h2o_evloop_t super;
  int ep;
};

static int
evloop_epoll_fd (h2o_evloop_t *loop)
{
  int ep = ((struct h2o22_epoll_loop *) (void *) loop)->ep;
  char proc[64], target[64];
  snprintf (proc, sizeof (proc), "/proc/self/fd/%d", ep);
  ssize_t n = readlink (proc, target, sizeof (target) - 1);
  if (n <= 0)
    return -1;
  target[n] = '\0';
  return strcmp (target, "anon_inode:[eventpoll]") == 0 ? ep : -1;
}
#else
static int
evloop_epoll_fd (h2o_evloop_t *loop)
{
  (void) loop;
  return -1;
}
#endif

static void *
worker_main (void *arg)
{
  struct worker *w = arg;
  veil_http_server_t *srv = w->srv;
  w->loop = h2o_evloop_create ();
  h2o_context_init (&w->ctx, w->loop, &srv->globalconf);
  w->accept_ctx.ctx = &w->ctx;
  w->accept_ctx.hosts = srv->globalconf.hosts;
  w->accept_ctx.ssl_ctx = srv->ssl_ctx;

  w->listener = h2o_evloop_socket_create (w->loop, w->listen_fd, H2O_SOCKET_FLAG_DONT_READ);
  w->listen_fd = -1;
  w->listener->data = w;
  h2o_socket_read_start (w->listener, on_accept);
  w->stop_sock = h2o_evloop_socket_create (w->loop, w->stop_pipe[0], 0);
  w->stop_pipe[0] = -1;
  w->stop_sock->data = w;
  h2o_socket_read_start (w->stop_sock, on_stop);

  while (!w->stopping && !atomic_load (&srv->stop_requested))
    {
      if (h2o_evloop_run (w->loop, INT32_MAX) != 0 && errno != EINTR)
        {
          veil_log_error ("http", "event loop failed", "worker=%zu error=\"%s\"", w->index,
                          strerror (errno));
          break;
        }
    }
  worker_drain (w);
  veil_log_debug ("http", "worker stopped", "worker=%zu requests=%llu", w->index,
                  (unsigned long long) w->n_requests);
  h2o_context_dispose (&w->ctx);
  /* sockets closed by the dispose (the context's queue) are freed by the
   * next turn of the loop */
  h2o_evloop_run (w->loop, 0);
  int ep = evloop_epoll_fd (w->loop);
  h2o_evloop_destroy (w->loop);
  if (ep >= 0)
    close (ep);
  w->loop = NULL;
  return NULL;
}

int
veil_http_server_run (veil_http_server_t *srv, veil_error_t **err)
{
  /* Workers block every signal: a signal meant to stop the server is then
   * handled by the thread that called run(), and SIGPIPE from a write to a
   * closed peer stays pending (the write fails with EPIPE) instead of
   * killing the process. */
  sigset_t all, old;
  sigfillset (&all);
  pthread_sigmask (SIG_SETMASK, &all, &old);
  int rc = 0;
  size_t started = 0;
  for (size_t i = 0; i < srv->n_workers; i++)
    {
      struct worker *w = &srv->workers[i];
      if (w->listen_fd < 0)
        {
          rc = veil_error_set (err, EINVAL, "http: server already ran");
          break;
        }
      int e = pthread_create (&w->thread, NULL, worker_main, w);
      if (e != 0)
        {
          rc = veil_error_set (err, e, "http: starting worker %zu: %s", i, strerror (e));
          break;
        }
      w->started = true;
      started++;
    }
  pthread_sigmask (SIG_SETMASK, &old, NULL);
  if (rc < 0)
    veil_http_server_stop (srv);
  for (size_t i = 0; i < srv->n_workers; i++)
    if (srv->workers[i].started)
      {
        pthread_join (srv->workers[i].thread, NULL);
        srv->workers[i].started = false;
      }
  veil_log_debug ("http", "server stopped", "workers=%zu", started);
  return rc;
}

void
veil_http_server_stop (veil_http_server_t *srv)
{
  if (srv == NULL)
    return;
  int saved = errno;
  atomic_store (&srv->stop_requested, true);
  for (size_t i = 0; i < srv->n_workers; i++)
    if (srv->workers[i].stop_pipe[1] >= 0)
      {
        ssize_t n = write (srv->workers[i].stop_pipe[1], "x", 1);
        (void) n; /* a full pipe already holds a stop request */
      }
  errno = saved;
}

void
veil_http_server_free (veil_http_server_t *srv)
{
  if (srv == NULL)
    return;
  if (srv->workers != NULL)
    {
      for (size_t i = 0; i < srv->n_workers; i++)
        {
          struct worker *w = &srv->workers[i];
          if (w->listen_fd >= 0)
            close (w->listen_fd);
          if (w->stop_pipe[0] >= 0)
            close (w->stop_pipe[0]);
          if (w->stop_pipe[1] >= 0)
            close (w->stop_pipe[1]);
        }
      free (srv->workers);
      h2o_config_dispose (&srv->globalconf);
    }
  if (srv->listen_fd >= 0)
    close (srv->listen_fd);
  if (srv->is_unix && srv->unix_path != NULL)
    unlink (srv->unix_path);
  free (srv->unix_path);
  if (srv->ssl_ctx != NULL)
    SSL_CTX_free (srv->ssl_ctx);
  free (srv);
}
