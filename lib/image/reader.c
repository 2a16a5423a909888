/* Pull-based layer readers: a file, a digest check, and decompression.
 *
 * A layer blob flows file → digest → [decrypt] → decompress → tar, each stage
 * pulling from the one it wraps.  The buffers are large (128 KiB) and every
 * stage works on whole buffers, so the chain runs at the speed of sha256,
 * inflate and the disk rather than of per-call overhead. */
#include <inttypes.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>
#include "veil/image.h"

#define READER_BUF (128 * 1024)
/* max_out 0: larger than any layer we expect, still finite */
#define DEFAULT_MAX_OUT (UINT64_C (64) << 30)

/* ---- helpers ---------------------------------------------------------------- */

/* "sha256:<64 lowercase hex>" → 32 bytes (OCI image-spec descriptor.md:
 * the encoded part of a sha256 digest is [a-f0-9]{64}). */
static bool
parse_sha256 (const char *digest, uint8_t out[VEIL_SHA256_LEN])
{
  static const char prefix[] = "sha256:";
  if (!digest || strncmp (digest, prefix, sizeof (prefix) - 1) != 0)
    return false;
  const char *hex = digest + sizeof (prefix) - 1;
  if (strlen (hex) != 2 * VEIL_SHA256_LEN)
    return false;
  for (size_t i = 0; i < 2 * VEIL_SHA256_LEN; i++)
    if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f')))
      return false;
  return veil_hex_decode_exact (hex, out, VEIL_SHA256_LEN, NULL) == 0;
}

static void
format_sha256 (const uint8_t md[VEIL_SHA256_LEN], char out[8 + 2 * VEIL_SHA256_LEN])
{
  static const char hexd[] = "0123456789abcdef";
  memcpy (out, "sha256:", 7);
  for (size_t i = 0; i < VEIL_SHA256_LEN; i++)
    {
      out[7 + 2 * i] = hexd[md[i] >> 4];
      out[7 + 2 * i + 1] = hexd[md[i] & 15];
    }
  out[7 + 2 * VEIL_SHA256_LEN] = '\0';
}

static EVP_MD_CTX *
sha256_new (void)
{
  EVP_MD_CTX *ctx = EVP_MD_CTX_new ();
  if (!ctx || EVP_DigestInit_ex (ctx, EVP_sha256 (), NULL) != 1)
    abort ();
  return ctx;
}

static void
sha256_update (EVP_MD_CTX *ctx, const void *p, size_t n)
{
  if (n && EVP_DigestUpdate (ctx, p, n) != 1)
    abort ();
}

static void
sha256_final (EVP_MD_CTX *ctx, uint8_t md[VEIL_SHA256_LEN])
{
  unsigned int n = 0;
  if (EVP_DigestFinal_ex (ctx, md, &n) != 1 || n != VEIL_SHA256_LEN)
    abort ();
}

/* Reads r to its end, discarding (but thereby hashing/checking) the bytes. */
static int
reader_drain (veil_reader_t *r, veil_error_t **err)
{
  _cleanup_free_ uint8_t *buf = xmalloc (READER_BUF);
  for (;;)
    {
      ssize_t n = r->read (r, buf, READER_BUF, err);
      if (n < 0)
        return (int) n;
      if (n == 0)
        return 0;
    }
}

/* ---- file ----------------------------------------------------------------------- */

typedef struct
{
  veil_reader_t base;
  int fd;
} fd_reader_t;

static ssize_t
fd_read (veil_reader_t *r, void *buf, size_t len, veil_error_t **err)
{
  fd_reader_t *f = (fd_reader_t *) r;
  if (len > SSIZE_MAX)
    len = SSIZE_MAX;
  for (;;)
    {
      ssize_t n = read (f->fd, buf, len);
      if (n >= 0)
        return n;
      if (errno != EINTR)
        return veil_error_set (err, errno, "read: %s", strerror (errno));
    }
}

static int
fd_finish (veil_reader_t *r, veil_error_t **err)
{
  (void) r;
  (void) err;
  return 0;
}

static void
fd_free (veil_reader_t *r)
{
  fd_reader_t *f = (fd_reader_t *) r;
  if (f->fd >= 0)
    close (f->fd);
  free (f);
}

veil_reader_t *
veil_reader_fd (int fd)
{
  fd_reader_t *f = xcalloc (1, sizeof (*f));
  f->base = (veil_reader_t){ .read = fd_read, .finish = fd_finish, .free = fd_free };
  f->fd = fd;
  return &f->base;
}

/* ---- digest --------------------------------------------------------------------- */

typedef struct
{
  veil_reader_t base;
  veil_reader_t *inner;
  EVP_MD_CTX *md;
  char *digest; /* as given, for messages; NULL: not checked */
  uint8_t expect[VEIL_SHA256_LEN];
  bool digest_ok;
  int64_t size;
  uint64_t count;
  bool eof;
} digest_reader_t;

static ssize_t
digest_read (veil_reader_t *r, void *buf, size_t len, veil_error_t **err)
{
  digest_reader_t *d = (digest_reader_t *) r;
  if (d->digest && !d->digest_ok)
    return veil_error_set (err, EINVAL, "digest reader: invalid digest '%s'", d->digest);
  if (d->eof || len == 0)
    return 0;
  if (d->size >= 0)
    {
      /* Never ask for more than is left; once nothing is left, one more byte
       * tells a clean end from a stream longer than announced. */
      uint64_t left = (uint64_t) d->size - d->count;
      if (len > left)
        len = left ? left : 1;
    }
  ssize_t n = d->inner->read (d->inner, buf, len, err);
  if (n < 0)
    return n;
  if (n == 0)
    {
      d->eof = true;
      return 0;
    }
  d->count += (uint64_t) n;
  if (d->size >= 0 && d->count > (uint64_t) d->size)
    return veil_error_set (err, E2BIG, "size mismatch: blob %s is longer than %" PRId64 " bytes",
                           d->digest ? d->digest : "", d->size);
  sha256_update (d->md, buf, (size_t) n);
  return n;
}

static int
digest_finish (veil_reader_t *r, veil_error_t **err)
{
  digest_reader_t *d = (digest_reader_t *) r;
  int ret = reader_drain (r, err);
  if (ret < 0)
    return ret;
  ret = d->inner->finish (d->inner, err);
  if (ret < 0)
    return ret;
  if (d->size >= 0 && d->count != (uint64_t) d->size)
    return veil_error_set (err, EBADMSG, "size mismatch: expected %" PRId64 " bytes, got %" PRIu64,
                           d->size, d->count);
  if (!d->digest)
    return 0;
  uint8_t got[VEIL_SHA256_LEN];
  sha256_final (d->md, got);
  /* a second finish() must not hash an empty tail into a fresh state */
  EVP_DigestInit_ex (d->md, EVP_sha256 (), NULL);
  if (!veil_ct_equal (got, d->expect, sizeof (got)))
    {
      char hex[80];
      format_sha256 (got, hex);
      return veil_error_set (err, EBADMSG, "digest mismatch: expected %s, got %s", d->digest, hex);
    }
  return 0;
}

static void
digest_free (veil_reader_t *r)
{
  digest_reader_t *d = (digest_reader_t *) r;
  d->inner->free (d->inner);
  EVP_MD_CTX_free (d->md);
  free (d->digest);
  free (d);
}

veil_reader_t *
veil_reader_digest (veil_reader_t *inner, const char *digest, int64_t size)
{
  digest_reader_t *d = xcalloc (1, sizeof (*d));
  d->base = (veil_reader_t){ .read = digest_read, .finish = digest_finish, .free = digest_free };
  d->inner = inner;
  d->md = sha256_new ();
  d->size = size;
  if (digest)
    {
      d->digest = xstrdup (digest);
      d->digest_ok = parse_sha256 (digest, d->expect);
    }
  return &d->base;
}

/* ---- decompress ----------------------------------------------------------------- */

typedef enum
{
  COMP_NONE,
  COMP_GZIP,
  COMP_ZSTD,
} comp_t;

typedef struct
{
  veil_reader_t base;
  veil_reader_t *inner;
  comp_t comp;
  z_stream z;
  bool z_init;
  ZSTD_DCtx *zd;
  uint8_t *in; /* compressed input buffer */
  size_t in_pos, in_len;
  bool in_eof;     /* inner returned 0 */
  bool stream_end; /* the compressed stream ended cleanly and inner is at EOF */
  bool frame_done; /* gzip member / zstd frame complete at the current position */
  bool any_frame;  /* at least one member/frame started */
  uint64_t out, max_out;
  EVP_MD_CTX *md;
  bool have_expect;
  uint8_t expect[VEIL_SHA256_LEN];
  char expect_str[80];
  char diff_id[80];
  bool failed; /* a read failed: the stream state is undefined from here */
} decomp_reader_t;

static const char *
comp_name (comp_t c)
{
  return c == COMP_GZIP ? "gzip" : c == COMP_ZSTD ? "zstd"
                                                  : "tar";
}

/* Refills the input buffer; returns bytes available, 0 at EOF of inner. */
static ssize_t
decomp_fill (decomp_reader_t *d, veil_error_t **err)
{
  if (d->in_pos < d->in_len)
    return (ssize_t) (d->in_len - d->in_pos);
  if (d->in_eof)
    return 0;
  ssize_t n = d->inner->read (d->inner, d->in, READER_BUF, err);
  if (n < 0)
    return n;
  d->in_pos = 0;
  d->in_len = (size_t) n;
  if (n == 0)
    d->in_eof = true;
  return n;
}

/* Bytes the caller may receive before max_out is exceeded; one more than
 * the limit is allowed through so that exceeding it is detected. */
static size_t
decomp_room (decomp_reader_t *d, size_t len)
{
  uint64_t room = d->max_out - d->out + 1;
  return room < len ? (size_t) room : len;
}

static ssize_t decomp_fail (decomp_reader_t *d, veil_error_t **err, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

/* Marks the stream broken and fails with EBADMSG "<codec>: <why>". */
static ssize_t
decomp_fail (decomp_reader_t *d, veil_error_t **err, const char *fmt, ...)
{
  d->failed = true;
  va_list ap;
  va_start (ap, fmt);
  _cleanup_free_ char *why = xvasprintf (fmt, ap);
  va_end (ap);
  return veil_error_set (err, EBADMSG, "%s: %s", comp_name (d->comp), why);
}

static ssize_t
gzip_step (decomp_reader_t *d, uint8_t *buf, size_t len, veil_error_t **err)
{
  for (;;)
    {
      if (d->frame_done)
        {
          /* RFC 1952 §2.2: a gzip file is a series of members; anything after
           * the last member that does not start another one is garbage. */
          ssize_t avail = decomp_fill (d, err);
          if (avail < 0)
            return avail;
          if (avail == 0)
            {
              d->stream_end = true;
              return 0;
            }
          if (d->in[d->in_pos] != 0x1f)
            return decomp_fail (d, err, "trailing garbage after the compressed stream");
          if (inflateReset (&d->z) != Z_OK)
            return decomp_fail (d, err, "inflateReset failed");
          d->frame_done = false;
        }
      ssize_t avail = decomp_fill (d, err);
      if (avail < 0)
        return avail;
      if (avail == 0)
        return decomp_fail (d, err, "truncated: the compressed stream ends early");
      d->any_frame = true;
      d->z.next_in = d->in + d->in_pos;
      d->z.avail_in = (uInt) avail;
      d->z.next_out = buf;
      d->z.avail_out = (uInt) (len > UINT32_MAX ? UINT32_MAX : len);
      int zr = inflate (&d->z, Z_NO_FLUSH);
      size_t used = (size_t) avail - d->z.avail_in;
      size_t produced = (size_t) (d->z.next_out - buf);
      d->in_pos += used;
      if (zr == Z_STREAM_END)
        d->frame_done = true;
      else if (zr == Z_BUF_ERROR && used == 0 && produced == 0)
        return decomp_fail (d, err, "corrupt stream (no progress)");
      else if (zr != Z_OK && zr != Z_BUF_ERROR)
        return decomp_fail (d, err, "corrupt stream: %s", d->z.msg ? d->z.msg : zError (zr));
      if (produced)
        return (ssize_t) produced;
    }
}

static ssize_t
zstd_step (decomp_reader_t *d, uint8_t *buf, size_t len, veil_error_t **err)
{
  for (;;)
    {
      ssize_t avail = decomp_fill (d, err);
      if (avail < 0)
        return avail;
      if (avail == 0)
        {
          /* RFC 8878 §3.1: frames follow each other; the stream may end only
           * at a frame boundary, after at least one frame. */
          if (!d->frame_done || !d->any_frame)
            return decomp_fail (d, err, "truncated: the compressed stream ends early");
          d->stream_end = true;
          return 0;
        }
      bool at_boundary = d->frame_done || !d->any_frame;
      ZSTD_inBuffer in = { d->in + d->in_pos, (size_t) avail, 0 };
      ZSTD_outBuffer out = { buf, len, 0 };
      size_t zr = ZSTD_decompressStream (d->zd, &out, &in);
      d->in_pos += in.pos;
      if (ZSTD_isError (zr))
        {
          if (at_boundary && d->any_frame && ZSTD_getErrorCode (zr) == ZSTD_error_prefix_unknown)
            return decomp_fail (d, err, "trailing garbage after the compressed stream");
          return decomp_fail (d, err, "corrupt stream: %s", ZSTD_getErrorName (zr));
        }
      d->any_frame = true;
      /* 0 means a frame was fully decoded and flushed */
      d->frame_done = zr == 0;
      if (out.pos)
        return (ssize_t) out.pos;
      if (in.pos == 0 && !d->frame_done)
        return decomp_fail (d, err, "corrupt stream (no progress)");
    }
}

static ssize_t
plain_step (decomp_reader_t *d, uint8_t *buf, size_t len, veil_error_t **err)
{
  /* straight into the caller's buffer: no copy for uncompressed layers */
  ssize_t n = d->inner->read (d->inner, buf, len, err);
  if (n == 0)
    d->stream_end = true;
  return n;
}

static ssize_t
decomp_read (veil_reader_t *r, void *buf, size_t len, veil_error_t **err)
{
  decomp_reader_t *d = (decomp_reader_t *) r;
  if (d->failed)
    return veil_error_set (err, EIO, "%s: read after an error", comp_name (d->comp));
  if (d->stream_end || len == 0)
    return 0;
  len = decomp_room (d, len);
  ssize_t n;
  switch (d->comp)
    {
    case COMP_GZIP:
      n = gzip_step (d, buf, len, err);
      break;
    case COMP_ZSTD:
      n = zstd_step (d, buf, len, err);
      break;
    default:
      n = plain_step (d, buf, len, err);
      break;
    }
  if (n < 0)
    {
      d->failed = true;
      return n;
    }
  d->out += (uint64_t) n;
  if (d->out > d->max_out)
    {
      d->failed = true;
      return veil_error_set (err, E2BIG, "%s: decompressed layer exceeds %" PRIu64 " bytes",
                             comp_name (d->comp), d->max_out);
    }
  sha256_update (d->md, buf, (size_t) n);
  if (n == 0 && d->stream_end && !d->diff_id[0])
    {
      uint8_t md[VEIL_SHA256_LEN];
      sha256_final (d->md, md);
      format_sha256 (md, d->diff_id);
    }
  return n;
}

static int
decomp_finish (veil_reader_t *r, veil_error_t **err)
{
  decomp_reader_t *d = (decomp_reader_t *) r;
  int ret = reader_drain (r, err);
  if (ret < 0)
    return ret;
  if (!d->stream_end)
    return veil_error_set (err, EBADMSG, "%s: truncated: the compressed stream did not end",
                           comp_name (d->comp));
  ret = d->inner->finish (d->inner, err);
  if (ret < 0)
    return ret;
  if (d->have_expect)
    {
      uint8_t got[VEIL_SHA256_LEN];
      if (veil_hex_decode_exact (d->diff_id + 7, got, sizeof (got), NULL) < 0
          || !veil_ct_equal (got, d->expect, sizeof (got)))
        return veil_error_set (err, EBADMSG, "diff_id mismatch: expected %s, got %s",
                               d->expect_str, d->diff_id);
    }
  return 0;
}

static void
decomp_free (veil_reader_t *r)
{
  decomp_reader_t *d = (decomp_reader_t *) r;
  d->inner->free (d->inner);
  if (d->z_init)
    inflateEnd (&d->z);
  ZSTD_freeDCtx (d->zd);
  EVP_MD_CTX_free (d->md);
  free (d->in);
  free (d);
}

static bool
has_suffix (const char *s, const char *suffix)
{
  size_t n = strlen (s), m = strlen (suffix);
  return n >= m && memcmp (s + n - m, suffix, m) == 0;
}

/* OCI image-spec media-types.md: layers are "…tar", "…tar+gzip",
 * "…tar+zstd" (also the non-distributable variants); Docker's image manifest
 * v2 schema 2 uses "…diff.tar.gzip". */
static int
comp_of_media_type (const char *mt, comp_t *c, veil_error_t **err)
{
  if (!mt || !*mt)
    return veil_error_set (err, EINVAL, "decompress: no layer media type");
  if (has_suffix (mt, VEIL_MT_ENCRYPTED_SUFFIX))
    return veil_error_set (err, ENOTSUP, "decompress: layer media type '%s' is encrypted: decrypt it first", mt);
  if (has_suffix (mt, "+gzip") || has_suffix (mt, ".tar.gzip"))
    *c = COMP_GZIP;
  else if (has_suffix (mt, "+zstd"))
    *c = COMP_ZSTD;
  else if (has_suffix (mt, ".tar"))
    *c = COMP_NONE;
  else
    return veil_error_set (err, ENOTSUP, "decompress: unsupported layer media type '%s'", mt);
  return 0;
}

veil_reader_t *
veil_reader_decompress (veil_reader_t *inner, const char *media_type, const char *expect_diff_id,
                        uint64_t max_out, veil_error_t **err)
{
  comp_t comp = COMP_NONE;
  if (comp_of_media_type (media_type, &comp, err) < 0)
    return NULL;
  uint8_t expect[VEIL_SHA256_LEN];
  if (expect_diff_id && !parse_sha256 (expect_diff_id, expect))
    {
      veil_error_set (err, EINVAL, "decompress: invalid diff_id '%s'", expect_diff_id);
      return NULL;
    }
  decomp_reader_t *d = xcalloc (1, sizeof (*d));
  d->base = (veil_reader_t){ .read = decomp_read, .finish = decomp_finish, .free = decomp_free };
  d->comp = comp;
  d->max_out = max_out ? max_out : DEFAULT_MAX_OUT;
  if (d->max_out == UINT64_MAX)
    d->max_out--; /* keeps max_out + 1 in decomp_room finite */
  d->md = sha256_new ();
  if (expect_diff_id)
    {
      d->have_expect = true;
      memcpy (d->expect, expect, sizeof (expect));
      snprintf (d->expect_str, sizeof (d->expect_str), "%s", expect_diff_id);
    }
  if (comp == COMP_GZIP)
    {
      /* 15 + 16: gzip wrapper only (RFC 1952), 32 KiB window */
      if (inflateInit2 (&d->z, 15 + 16) != Z_OK)
        abort ();
      d->z_init = true;
    }
  else if (comp == COMP_ZSTD)
    {
      d->zd = ZSTD_createDCtx ();
      if (!d->zd)
        abort ();
      /* The window is memory the stream makes us allocate: keep zstd's
       * default ceiling (128 MiB) explicit rather than implied. */
      ZSTD_DCtx_setParameter (d->zd, ZSTD_d_windowLogMax, 27);
    }
  if (comp != COMP_NONE)
    d->in = xmalloc (READER_BUF);
  d->inner = inner;
  return &d->base;
}

const char *
veil_reader_decompress_diff_id (veil_reader_t *r)
{
  if (!r || r->read != decomp_read)
    return NULL;
  decomp_reader_t *d = (decomp_reader_t *) r;
  return d->diff_id[0] ? d->diff_id : NULL;
}

/* ---- memory -------------------------------------------------------------- */

typedef struct mem_reader
{
  veil_reader_t base;
  const uint8_t *data;
  size_t len, off;
} mem_reader_t;

static ssize_t
mem_read (veil_reader_t *r, void *buf, size_t len, veil_error_t **err)
{
  (void) err;
  mem_reader_t *m = (mem_reader_t *) r;
  size_t n = m->len - m->off < len ? m->len - m->off : len;
  if (n)
    memcpy (buf, m->data + m->off, n);
  m->off += n;
  return (ssize_t) n;
}

static int
mem_finish (veil_reader_t *r, veil_error_t **err)
{
  (void) r;
  (void) err;
  return 0;
}

static void
mem_free (veil_reader_t *r)
{
  free (r);
}

veil_reader_t *
veil_reader_mem (const void *data, size_t len)
{
  mem_reader_t *m = xcalloc (1, sizeof (*m));
  m->base = (veil_reader_t){ .read = mem_read, .finish = mem_finish, .free = mem_free };
  m->data = data;
  m->len = len;
  return &m->base;
}
