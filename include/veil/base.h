/* libveil base: errors, memory, cleanup attributes, logging, buffers,
 * encodings, JSON helpers and files.  Imports nothing else of veil. */
#ifndef VEIL_BASE_H
#define VEIL_BASE_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>

/* ---- errors ---------------------------------------------------------- */

/* An error says what failed, where and why.  code is a positive errno value
 * (EINVAL, EBADMSG, EKEYREJECTED, EACCES, ENOENT, E2BIG, ...). */
typedef struct veil_error
{
  int code;
  char *msg;
} veil_error_t;

/* Fill *err (when err is not NULL) and return -code, so that a failing
 * int function can `return veil_error_set(err, EINVAL, "...")`. */
int veil_error_set (veil_error_t **err, int code, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));
/* Prefix the message of *err with context: "ctx: old message". */
int veil_error_wrap (veil_error_t **err, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));
void veil_error_free (veil_error_t *e);
void veil_error_freep (veil_error_t **e);
/* Move *src into *dst (dst may be NULL: then src is freed). Returns -code. */
int veil_error_propagate (veil_error_t **dst, veil_error_t *src);

/* ---- memory ---------------------------------------------------------- */

/* Allocation failure aborts: error paths are for real failures. */
void *xmalloc (size_t n);
void *xcalloc (size_t n, size_t size);
void *xrealloc (void *p, size_t n);
char *xstrdup (const char *s);
char *xstrndup (const char *s, size_t n);
void *xmemdup (const void *p, size_t n);
char *xasprintf (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));
char *xvasprintf (const char *fmt, va_list ap) __attribute__ ((format (printf, 1, 0)));

/* Secrets: memory that is wiped (explicit_bzero) before it is freed.  The
 * allocation remembers its size so that the cleanup attribute can wipe it. */
void *veil_secret_alloc (size_t n);
void *veil_secret_dup (const void *p, size_t n);
size_t veil_secret_size (const void *p);
void veil_secret_free (void *p);
void veil_wipe (void *p, size_t n);

static inline void *
veil_steal_ptr (void *pp)
{
  void **p = (void **) pp;
  void *v = *p;
  *p = NULL;
  return v;
}
#define steal_pointer(pp) veil_steal_ptr ((void *) (pp))

/* ---- cleanup attributes ---------------------------------------------- */

#define _cleanup_(f) __attribute__ ((cleanup (f)))
#define VEIL_DEFINE_CLEANUP(type, func) \
  static inline void func##p (type *p)  \
  {                                     \
    if (*p)                             \
      func (*p);                        \
  }

static inline void
veil_freep (void *p)
{
  free (*(void **) p);
}
static inline void
veil_closep (int *fd)
{
  if (*fd >= 0)
    close (*fd);
}
static inline void
veil_json_decrefp (json_t **j)
{
  if (*j)
    json_decref (*j);
}
static inline void
veil_secret_freep (void *p)
{
  veil_secret_free (*(void **) p);
}

#define _cleanup_free_ _cleanup_ (veil_freep)
#define _cleanup_close_ _cleanup_ (veil_closep)
#define _cleanup_json_ _cleanup_ (veil_json_decrefp)
#define _cleanup_secret_ _cleanup_ (veil_secret_freep)
#define _cleanup_error_ _cleanup_ (veil_error_freep)

/* ---- logging ----------------------------------------------------------- */

typedef enum
{
  VEIL_LOG_DEBUG = 0,
  VEIL_LOG_INFO,
  VEIL_LOG_WARN,
  VEIL_LOG_ERROR,
} veil_log_level_t;

/* Structured logging to stderr, one line per event:
 *   ts=2026-11-23T16:20:00.123Z level=info module=kbs msg="..." key=value ...
 * kvfmt formats the key=value pairs (may be "-" for none).  Never log a secret. */
void veil_log (veil_log_level_t level, const char *module, const char *msg,
               const char *kvfmt, ...) __attribute__ ((format (printf, 4, 5)));
void veil_log_set_level (veil_log_level_t level);
/* Reads VEIL_LOG_LEVEL=debug|info|warn|error. */
void veil_log_init_from_env (void);
bool veil_log_enabled (veil_log_level_t level);

#define veil_log_debug(mod, msg, ...) veil_log (VEIL_LOG_DEBUG, mod, msg, __VA_ARGS__)
#define veil_log_info(mod, msg, ...) veil_log (VEIL_LOG_INFO, mod, msg, __VA_ARGS__)
#define veil_log_warn(mod, msg, ...) veil_log (VEIL_LOG_WARN, mod, msg, __VA_ARGS__)
#define veil_log_error(mod, msg, ...) veil_log (VEIL_LOG_ERROR, mod, msg, __VA_ARGS__)

/* ---- buffers ----------------------------------------------------------- */

typedef struct veil_buf
{
  uint8_t *data;
  size_t len;
  size_t cap;
} veil_buf_t;

void veil_buf_append (veil_buf_t *b, const void *p, size_t n);
void veil_buf_append_str (veil_buf_t *b, const char *s);
void veil_buf_printf (veil_buf_t *b, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
/* NUL-terminates without counting the NUL; returns data as a string. */
char *veil_buf_cstr (veil_buf_t *b);
void veil_buf_free (veil_buf_t *b);
/* Wipe then free: for buffers that held secrets. */
void veil_buf_wipe (veil_buf_t *b);
static inline void
veil_buf_freep (veil_buf_t *b)
{
  veil_buf_free (b);
}
#define _cleanup_buf_ _cleanup_ (veil_buf_freep)

/* ---- encodings --------------------------------------------------------- */

/* Standard base64 with padding. */
char *veil_b64_encode (const void *data, size_t len);
/* base64url without padding (RFC 4648 §5, as JOSE uses it). */
char *veil_b64url_encode (const void *data, size_t len);
/* Decoders accept their alphabet with or without padding and nothing else
 * (no whitespace).  Output is NUL-terminated for convenience; *out is freed
 * by the caller (secrets: decode with veil_b64_decode_secret). */
int veil_b64_decode (const char *s, uint8_t **out, size_t *out_len, veil_error_t **err);
int veil_b64url_decode (const char *s, uint8_t **out, size_t *out_len, veil_error_t **err);
/* Accepts either alphabet (some peers send standard, some url-safe). */
int veil_b64any_decode (const char *s, uint8_t **out, size_t *out_len, veil_error_t **err);
char *veil_hex_encode (const void *data, size_t len);
int veil_hex_decode (const char *s, uint8_t **out, size_t *out_len, veil_error_t **err);
/* Decodes exactly n bytes of hex into out. */
int veil_hex_decode_exact (const char *s, uint8_t *out, size_t n, veil_error_t **err);

/* ---- JSON -------------------------------------------------------------- */

/* Parse at most max_len bytes of JSON; errors name the line and column. */
json_t *veil_json_parse (const void *data, size_t len, size_t max_len, veil_error_t **err);
/* Compact serialisation with sorted keys; caller frees. */
char *veil_json_dump (const json_t *j);
/* RFC 8785 JSON Canonicalization Scheme. */
char *veil_jcs (const json_t *j, veil_error_t **err);

/* Getters that return NULL/false when the member is missing or of another type. */
const char *veil_json_str (const json_t *o, const char *key);
/* Required members: fail with "field 'key': missing" / "not a string". */
const char *veil_json_req_str (const json_t *o, const char *key, veil_error_t **err);
json_t *veil_json_req_obj (const json_t *o, const char *key, veil_error_t **err);
/* Decode a base64 (either alphabet) string member, bounded by max_len decoded bytes. */
int veil_json_req_b64 (const json_t *o, const char *key, size_t max_len,
                       uint8_t **out, size_t *out_len, veil_error_t **err);

/* ---- files ------------------------------------------------------------- */

/* Read a whole file, refusing files larger than max_len. Output NUL-terminated. */
int veil_file_read (const char *path, size_t max_len, uint8_t **out, size_t *out_len,
                    veil_error_t **err);
/* Write via a temp file + fsync + rename, with the given mode. */
int veil_file_write_atomic (const char *path, const void *data, size_t len, int mode,
                            veil_error_t **err);
int veil_mkdir_p (const char *path, int mode, veil_error_t **err);

/* ---- numbers ------------------------------------------------------------ */

/* Checked parsing: the whole string must be a number within [min,max]. */
int veil_parse_i64 (const char *s, int64_t min, int64_t max, int64_t *out, veil_error_t **err);

/* Monotonic and wall clocks in nanoseconds / seconds. */
uint64_t veil_now_mono_ns (void);
int64_t veil_now_unix (void);

#define VEIL_ARRAY_SIZE(a) (sizeof (a) / sizeof ((a)[0]))

#endif
