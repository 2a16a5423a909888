/* libveil http: an HTTP/1.1 server over h2o's evloop (TLS optional) and an
 * HTTP client over libcurl.  Handlers are synchronous and may run on several
 * worker threads at once. */
#ifndef VEIL_HTTP_H
#define VEIL_HTTP_H

#include "veil/base.h"

/* ---- server -------------------------------------------------------------- */

typedef struct veil_http_request
{
  const char *method;  /* "GET", "POST", ... NUL-terminated copy */
  const char *path;    /* path without the query string, NUL-terminated */
  const char *query;   /* query string without '?', or NULL */
  const uint8_t *body; /* request body (NUL-terminated copy), body_len bytes */
  size_t body_len;
  const char *peer; /* "127.0.0.1:5123" or "unix" */
  void *impl;       /* server private */
  bool local;       /* made by veil_http_request_new_local */
} veil_http_request_t;

/* A request that did not come over a connection, for driving handlers from
 * tests and fuzzers: headers are "Name: value" strings (NULL-terminated
 * array, may be NULL).  All strings are copied. */
veil_http_request_t *veil_http_request_new_local (const char *method, const char *path,
                                                  const char *const *headers, const void *body,
                                                  size_t body_len);
void veil_http_request_free_local (veil_http_request_t *req);

/* Header value (first occurrence, case-insensitive name), NULL if absent.
 * The string lives as long as the request. */
const char *veil_http_request_header (const veil_http_request_t *req, const char *name);
/* Value of one cookie from the Cookie header(s), NULL if absent. */
const char *veil_http_request_cookie (const veil_http_request_t *req, const char *name);

#define VEIL_HTTP_MAX_HEADERS 16

typedef struct veil_http_response
{
  int status;         /* 200 when the handler leaves it 0 */
  char *content_type; /* NULL: application/json */
  veil_buf_t body;
  struct
  {
    char *name, *value;
  } headers[VEIL_HTTP_MAX_HEADERS];
  size_t n_headers;
} veil_http_response_t;

void veil_http_response_header (veil_http_response_t *resp, const char *name, const char *value);
/* Body from a JSON value (steals the reference), compact. */
void veil_http_response_json (veil_http_response_t *resp, int status, json_t *body);
/* RFC 7807 problem: {"type": "https://veil.dev/problems/<type>", "title": …,
 * "status": N, "detail": detail}, Content-Type application/problem+json. */
void veil_http_response_problem (veil_http_response_t *resp, int status, const char *type,
                                 const char *detail);
void veil_http_response_text (veil_http_response_t *resp, int status, const char *content_type,
                              const void *data, size_t len);
void veil_http_response_clear (veil_http_response_t *resp);

typedef void (*veil_http_handler_fn) (void *ctx, const veil_http_request_t *req,
                                      veil_http_response_t *resp);

typedef struct veil_http_server_config
{
  const char *listen;   /* "127.0.0.1:8080", "[::1]:0", "0.0.0.0:80", "unix:/path" */
  const char *tls_cert; /* PEM chain; NULL for plain HTTP */
  const char *tls_key;  /* PEM key */
  size_t max_body;      /* larger request bodies get 413; 0 → 1 MiB */
  int threads;          /* worker threads (each its own event loop); 0 → number of CPUs */
  veil_http_handler_fn handler;
  void *ctx;
} veil_http_server_config_t;

typedef struct veil_http_server veil_http_server_t;

/* Binds the listening socket(s) (so the port is known before run). */
veil_http_server_t *veil_http_server_new (const veil_http_server_config_t *cfg, veil_error_t **err);
/* The bound TCP port (useful with port 0), or 0 for a Unix socket. */
int veil_http_server_port (const veil_http_server_t *srv);
/* Serves until veil_http_server_stop(); returns 0 after a clean stop. */
int veil_http_server_run (veil_http_server_t *srv, veil_error_t **err);
/* Safe from a signal handler or another thread. */
void veil_http_server_stop (veil_http_server_t *srv);
void veil_http_server_free (veil_http_server_t *srv);

/* ---- client -------------------------------------------------------------- */

typedef struct veil_http_client_opts
{
  const char *ca_file; /* extra CA bundle (PEM); NULL: system CAs */
  bool insecure;       /* skip TLS verification (tests only) */
  long timeout_ms;     /* whole request; 0 → 30 s */
  size_t max_response; /* larger bodies fail with E2BIG; 0 → 16 MiB */
} veil_http_client_opts_t;

typedef struct veil_http_client veil_http_client_t;

typedef struct veil_http_result
{
  long status;
  char *content_type; /* may be NULL */
  veil_buf_t body;    /* NUL-terminated */
} veil_http_result_t;

/* A client keeps cookies between requests (the KBS session cookie) and
 * reuses connections. Not thread-safe: one client per thread. */
veil_http_client_t *veil_http_client_new (const veil_http_client_opts_t *opts, veil_error_t **err);
/* headers: NULL-terminated array of "Name: value" strings, or NULL.
 * Transport failures are errors; any HTTP status is a result. */
int veil_http_client_request (veil_http_client_t *c, const char *method, const char *url,
                              const char *const *headers, const void *body, size_t body_len,
                              veil_http_result_t *out, veil_error_t **err);
void veil_http_result_free (veil_http_result_t *r);
void veil_http_client_free (veil_http_client_t *c);

#endif
