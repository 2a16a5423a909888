/* Unit tests of the layer readers: file, digest, decompress (gzip, zstd,
 * plain), with the failures a hostile registry can cause: wrong digest,
 * wrong size, truncated and padded streams, decompression bombs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <zlib.h>
#include <zstd.h>
#include "veil/image.h"

/* ---- helpers ---------------------------------------------------------------- */

static char *
sha256_of (const void *data, size_t len)
{
  uint8_t md[VEIL_SHA256_LEN];
  veil_sha256 (data, len, md);
  _cleanup_free_ char *hex = veil_hex_encode (md, sizeof (md));
  return xasprintf ("sha256:%s", hex);
}

static veil_reader_t *
mem_reader (const void *data, size_t len)
{
  int fd = memfd_create ("reader-test", MFD_CLOEXEC);
  assert_true (fd >= 0);
  const uint8_t *p = data;
  size_t left = len;
  while (left)
    {
      ssize_t w = write (fd, p, left);
      assert_true (w > 0);
      p += w;
      left -= (size_t) w;
    }
  assert_int_equal (lseek (fd, 0, SEEK_SET), 0);
  return veil_reader_fd (fd);
}

/* Reads r to its end; returns the bytes or NULL with *err on a failure. */
static uint8_t *
read_all (veil_reader_t *r, size_t *len, veil_error_t **err)
{
  veil_buf_t b = { 0 };
  uint8_t buf[65536];
  for (;;)
    {
      ssize_t n = r->read (r, buf, sizeof (buf), err);
      if (n < 0)
        {
          *len = b.len;
          veil_buf_free (&b);
          return NULL;
        }
      if (n == 0)
        break;
      veil_buf_append (&b, buf, (size_t) n);
    }
  *len = b.len;
  if (!b.data)
    return xmalloc (1);
  return b.data;
}

static uint8_t *
sample_data (size_t len)
{
  /* compressible but not trivial: text-like with a pseudo-random walk */
  uint8_t *d = xmalloc (len);
  uint32_t x = 12345;
  for (size_t i = 0; i < len; i++)
    {
      x = x * 1103515245u + 12345u;
      d[i] = (uint8_t) ("abcdefgh ijklmnop\n"[(x >> 16) % 18]);
    }
  return d;
}

static uint8_t *
gzip_of (const uint8_t *data, size_t len, size_t *out_len)
{
  z_stream z = { 0 };
  assert_int_equal (deflateInit2 (&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
  size_t cap = deflateBound (&z, len) + 64;
  uint8_t *out = xmalloc (cap);
  z.next_in = (uint8_t *) data;
  z.avail_in = (uInt) len;
  z.next_out = out;
  z.avail_out = (uInt) cap;
  assert_int_equal (deflate (&z, Z_FINISH), Z_STREAM_END);
  *out_len = cap - z.avail_out;
  deflateEnd (&z);
  return out;
}

static uint8_t *
zstd_of (const uint8_t *data, size_t len, size_t *out_len)
{
  size_t cap = ZSTD_compressBound (len);
  uint8_t *out = xmalloc (cap);
  size_t n = ZSTD_compress (out, cap, data, len, 3);
  assert_false (ZSTD_isError (n));
  *out_len = n;
  return out;
}

static uint8_t *
concat (const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
  uint8_t *c = xmalloc (an + bn);
  memcpy (c, a, an);
  memcpy (c + an, b, bn);
  return c;
}

static void
assert_error (veil_error_t **err, int code, const char *needle)
{
  assert_non_null (*err);
  if ((*err)->code != code || !strstr ((*err)->msg, needle))
    fail_msg ("expected error %d containing '%s', got %d '%s'", code, needle, (*err)->code, (*err)->msg);
  veil_error_free (*err);
  *err = NULL;
}

/* ---- digest ------------------------------------------------------------------ */

static void
test_digest_pass (void **state)
{
  (void) state;
  _cleanup_free_ uint8_t *data = sample_data (300000);
  _cleanup_free_ char *digest = sha256_of (data, 300000);
  _cleanup_reader_ veil_reader_t *r = veil_reader_digest (mem_reader (data, 300000), digest, 300000);
  veil_error_t *err = NULL;
  size_t n;
  _cleanup_free_ uint8_t *got = read_all (r, &n, &err);
  assert_non_null (got);
  assert_int_equal (n, 300000);
  assert_memory_equal (got, data, n);
  assert_int_equal (r->finish (r, &err), 0);
  assert_null (err);
}

static void
test_digest_finish_drains (void **state)
{
  (void) state;
  /* a consumer that stops early must not skip the check of the rest */
  _cleanup_free_ uint8_t *data = sample_data (100000);
  _cleanup_free_ char *digest = sha256_of (data, 100000);
  data[99999] ^= 1;
  _cleanup_reader_ veil_reader_t *r = veil_reader_digest (mem_reader (data, 100000), digest, 100000);
  uint8_t buf[10];
  veil_error_t *err = NULL;
  assert_int_equal (r->read (r, buf, sizeof (buf), &err), 10);
  assert_true (r->finish (r, &err) < 0);
  assert_error (&err, EBADMSG, "digest mismatch: expected sha256:");
}

static void
test_digest_mismatch (void **state)
{
  (void) state;
  _cleanup_free_ uint8_t *data = sample_data (5000);
  _cleanup_free_ char *digest = sha256_of ("other", 5);
  _cleanup_reader_ veil_reader_t *r = veil_reader_digest (mem_reader (data, 5000), digest, 5000);
  veil_error_t *err = NULL;
  size_t n;
  _cleanup_free_ uint8_t *got = read_all (r, &n, &err);
  assert_non_null (got);
  assert_true (r->finish (r, &err) < 0);
  assert_non_null (strstr (err->msg, digest));
  assert_error (&err, EBADMSG, "digest mismatch");
}

static void
test_digest_size (void **state)
{
  (void) state;
  _cleanup_free_ uint8_t *data = sample_data (5000);
  _cleanup_free_ char *digest = sha256_of (data, 5000);
  veil_error_t *err = NULL;
  size_t n;
  /* the server sends more than the descriptor says: fail at once */
  {
    _cleanup_reader_ veil_reader_t *r = veil_reader_digest (mem_reader (data, 5000), digest, 4000);
    uint8_t *got = read_all (r, &n, &err);
    assert_null (got);
    assert_true (n <= 4000);
    assert_error (&err, E2BIG, "size mismatch");
  }
  /* less than announced */
  {
    _cleanup_reader_ veil_reader_t *r = veil_reader_digest (mem_reader (data, 5000), digest, 6000);
    _cleanup_free_ uint8_t *got = read_all (r, &n, &err);
    assert_non_null (got);
    assert_true (r->finish (r, &err) < 0);
    assert_error (&err, EBADMSG, "size mismatch");
  }
  /* size not checked (< 0), digest still is */
  {
    _cleanup_reader_ veil_reader_t *r = veil_reader_digest (mem_reader (data, 5000), digest, -1);
    _cleanup_free_ uint8_t *got = read_all (r, &n, &err);
    assert_non_null (got);
    assert_int_equal (n, 5000);
    assert_int_equal (r->finish (r, &err), 0);
  }
  /* an invalid expected digest fails the first read */
  {
    _cleanup_reader_ veil_reader_t *r = veil_reader_digest (mem_reader (data, 5000), "sha256:XYZ", 5000);
    uint8_t *got = read_all (r, &n, &err);
    assert_null (got);
    assert_error (&err, EINVAL, "invalid digest");
  }
  /* uppercase hex is not a valid OCI digest */
  {
    _cleanup_free_ char *upper = xstrdup (digest);
    for (char *p = upper + 7; *p; p++)
      if (*p >= 'a' && *p <= 'f')
        *p = (char) (*p - 'a' + 'A');
    _cleanup_reader_ veil_reader_t *r = veil_reader_digest (mem_reader (data, 5000), upper, 5000);
    uint8_t *got = read_all (r, &n, &err);
    assert_null (got);
    assert_error (&err, EINVAL, "invalid digest");
  }
}

/* ---- decompress -------------------------------------------------------------- */

typedef uint8_t *(*compress_fn) (const uint8_t *, size_t, size_t *);

static void
roundtrip (const char *media_type, compress_fn compress)
{
  size_t len = 1500000, clen;
  _cleanup_free_ uint8_t *data = sample_data (len);
  _cleanup_free_ uint8_t *comp = compress ? compress (data, len, &clen) : xmemdup (data, clen = len);
  _cleanup_free_ char *diff_id = sha256_of (data, len);
  _cleanup_free_ char *blob_digest = sha256_of (comp, clen);
  veil_error_t *err = NULL;
  /* the whole chain: file → digest → decompress */
  veil_reader_t *inner = veil_reader_digest (mem_reader (comp, clen), blob_digest, (int64_t) clen);
  _cleanup_reader_ veil_reader_t *r = veil_reader_decompress (inner, media_type, diff_id, 0, &err);
  assert_non_null (r);
  assert_null (veil_reader_decompress_diff_id (r));
  size_t n;
  _cleanup_free_ uint8_t *got = read_all (r, &n, &err);
  assert_non_null (got);
  assert_int_equal (n, len);
  assert_memory_equal (got, data, len);
  assert_int_equal (r->finish (r, &err), 0);
  assert_string_equal (veil_reader_decompress_diff_id (r), diff_id);
  assert_null (veil_reader_decompress_diff_id (inner));

  /* a wrong diff_id is caught in finish() */
  _cleanup_free_ char *wrong = sha256_of ("x", 1);
  _cleanup_reader_ veil_reader_t *r2 = veil_reader_decompress (mem_reader (comp, clen), media_type, wrong, 0, &err);
  assert_non_null (r2);
  _cleanup_free_ uint8_t *got2 = read_all (r2, &n, &err);
  assert_non_null (got2);
  assert_true (r2->finish (r2, &err) < 0);
  assert_error (&err, EBADMSG, "diff_id mismatch");
}

static void
test_gzip (void **state)
{
  (void) state;
  roundtrip (VEIL_MT_OCI_LAYER_GZIP, gzip_of);
  roundtrip (VEIL_MT_DOCKER_LAYER_GZIP, gzip_of);
}

static void
test_zstd (void **state)
{
  (void) state;
  roundtrip (VEIL_MT_OCI_LAYER_ZSTD, zstd_of);
}

static void
test_plain (void **state)
{
  (void) state;
  roundtrip (VEIL_MT_OCI_LAYER, NULL);
  roundtrip ("application/vnd.docker.image.rootfs.diff.tar", NULL);
}

static void
test_multi_member (void **state)
{
  (void) state;
  /* RFC 1952 members and RFC 8878 frames may follow each other */
  _cleanup_free_ uint8_t *a = sample_data (70000), *b = sample_data (90000);
  _cleanup_free_ uint8_t *ab = concat (a, 70000, b, 90000);
  _cleanup_free_ char *diff_id = sha256_of (ab, 160000);
  compress_fn fns[] = { gzip_of, zstd_of };
  const char *mts[] = { VEIL_MT_OCI_LAYER_GZIP, VEIL_MT_OCI_LAYER_ZSTD };
  for (size_t i = 0; i < 2; i++)
    {
      size_t an, bn, n;
      _cleanup_free_ uint8_t *ca = fns[i](a, 70000, &an), *cb = fns[i](b, 90000, &bn);
      _cleanup_free_ uint8_t *c = concat (ca, an, cb, bn);
      veil_error_t *err = NULL;
      _cleanup_reader_ veil_reader_t *r = veil_reader_decompress (mem_reader (c, an + bn), mts[i], diff_id, 0, &err);
      _cleanup_free_ uint8_t *got = read_all (r, &n, &err);
      assert_non_null (got);
      assert_int_equal (n, 160000);
      assert_memory_equal (got, ab, n);
      assert_int_equal (r->finish (r, &err), 0);
    }
}

static void
test_truncated (void **state)
{
  (void) state;
  size_t len = 200000;
  _cleanup_free_ uint8_t *data = sample_data (len);
  compress_fn fns[] = { gzip_of, zstd_of };
  const char *mts[] = { VEIL_MT_OCI_LAYER_GZIP, VEIL_MT_OCI_LAYER_ZSTD };
  for (size_t i = 0; i < 2; i++)
    {
      size_t clen, n;
      _cleanup_free_ uint8_t *c = fns[i](data, len, &clen);
      /* cut inside the data, and cut only the trailer (gzip CRC+ISIZE / zstd checksum) */
      size_t cuts[] = { clen / 2, clen - 4, 1, 0 };
      for (size_t k = 0; k < VEIL_ARRAY_SIZE (cuts); k++)
        {
          veil_error_t *err = NULL;
          _cleanup_reader_ veil_reader_t *r = veil_reader_decompress (mem_reader (c, cuts[k]), mts[i], NULL, 0, &err);
          uint8_t *got = read_all (r, &n, &err);
          assert_null (got);
          assert_non_null (err);
          if (!strstr (err->msg, "truncated") && !strstr (err->msg, "corrupt"))
            fail_msg ("cut %zu: %s", cuts[k], err->msg);
          assert_int_equal (err->code, EBADMSG);
          veil_error_free (err);
          err = NULL;
          /* a consumer that stopped early: finish() must not pass either */
          _cleanup_reader_ veil_reader_t *r2 = veil_reader_decompress (mem_reader (c, cuts[k]), mts[i], NULL, 0, &err);
          assert_true (r2->finish (r2, &err) < 0);
          assert_int_equal (err->code, EBADMSG);
          veil_error_free (err);
        }
    }
}

static void
test_trailing_garbage (void **state)
{
  (void) state;
  size_t len = 50000;
  _cleanup_free_ uint8_t *data = sample_data (len);
  compress_fn fns[] = { gzip_of, zstd_of };
  const char *mts[] = { VEIL_MT_OCI_LAYER_GZIP, VEIL_MT_OCI_LAYER_ZSTD };
  static const char junk[] = "this is not a compressed stream at all";
  for (size_t i = 0; i < 2; i++)
    {
      size_t clen, n;
      _cleanup_free_ uint8_t *c = fns[i](data, len, &clen);
      _cleanup_free_ uint8_t *cj = concat (c, clen, (const uint8_t *) junk, sizeof (junk));
      veil_error_t *err = NULL;
      _cleanup_reader_ veil_reader_t *r = veil_reader_decompress (mem_reader (cj, clen + sizeof (junk)), mts[i], NULL, 0, &err);
      uint8_t *got = read_all (r, &n, &err);
      assert_null (got);
      assert_error (&err, EBADMSG, "trailing garbage");
    }
}

static void
test_bomb (void **state)
{
  (void) state;
  /* 100 MB of zeros compress to ~100 KB: the reader must stop at max_out */
  const size_t chunk = 1 << 20, total = 100 * chunk;
  _cleanup_free_ uint8_t *zeros = xcalloc (1, chunk);
  veil_buf_t gz = { 0 }, zs = { 0 };
  z_stream z = { 0 };
  assert_int_equal (deflateInit2 (&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY), Z_OK);
  ZSTD_CCtx *cc = ZSTD_createCCtx ();
  uint8_t out[65536];
  for (size_t done = 0; done < total; done += chunk)
    {
      bool last = done + chunk == total;
      z.next_in = zeros;
      z.avail_in = (uInt) chunk;
      int zr;
      do
        {
          z.next_out = out;
          z.avail_out = sizeof (out);
          zr = deflate (&z, last ? Z_FINISH : Z_NO_FLUSH);
          veil_buf_append (&gz, out, sizeof (out) - z.avail_out);
        }
      while (z.avail_out == 0 || (last && zr != Z_STREAM_END));
      ZSTD_inBuffer in = { zeros, chunk, 0 };
      size_t left;
      do
        {
          ZSTD_outBuffer o = { out, sizeof (out), 0 };
          left = ZSTD_compressStream2 (cc, &o, &in, last ? ZSTD_e_end : ZSTD_e_continue);
          assert_false (ZSTD_isError (left));
          veil_buf_append (&zs, out, o.pos);
        }
      while (in.pos < in.size || (last && left != 0));
    }
  deflateEnd (&z);
  ZSTD_freeCCtx (cc);
  assert_true (gz.len < 1 << 20 && zs.len < 1 << 20);
  veil_buf_t *blobs[] = { &gz, &zs };
  const char *mts[] = { VEIL_MT_OCI_LAYER_GZIP, VEIL_MT_OCI_LAYER_ZSTD };
  for (size_t i = 0; i < 2; i++)
    {
      veil_error_t *err = NULL;
      size_t n;
      _cleanup_reader_ veil_reader_t *r = veil_reader_decompress (mem_reader (blobs[i]->data, blobs[i]->len), mts[i], NULL, 1 << 20, &err);
      uint8_t *got = read_all (r, &n, &err);
      assert_null (got);
      assert_true (n <= 1 << 20);
      assert_error (&err, E2BIG, "decompressed layer exceeds 1048576 bytes");
      /* and within the limit the same stream is fine */
      _cleanup_reader_ veil_reader_t *r2 = veil_reader_decompress (mem_reader (blobs[i]->data, blobs[i]->len), mts[i], NULL, total, &err);
      _cleanup_free_ uint8_t *got2 = read_all (r2, &n, &err);
      assert_non_null (got2);
      assert_int_equal (n, total);
      assert_int_equal (r2->finish (r2, &err), 0);
    }
  veil_buf_free (&gz);
  veil_buf_free (&zs);
}

static void
test_media_types (void **state)
{
  (void) state;
  veil_error_t *err = NULL;
  veil_reader_t *inner = mem_reader ("x", 1);
  assert_null (veil_reader_decompress (inner, "application/vnd.oci.image.layer.v1.tar+bzip2", NULL, 0, &err));
  assert_error (&err, ENOTSUP, "unsupported layer media type");
  assert_null (veil_reader_decompress (inner, VEIL_MT_OCI_LAYER_GZIP VEIL_MT_ENCRYPTED_SUFFIX, NULL, 0, &err));
  assert_error (&err, ENOTSUP, "encrypted");
  assert_null (veil_reader_decompress (inner, VEIL_MT_OCI_CONFIG, NULL, 0, &err));
  assert_error (&err, ENOTSUP, "unsupported");
  assert_null (veil_reader_decompress (inner, VEIL_MT_OCI_LAYER, "sha256:abc", 0, &err));
  assert_error (&err, EINVAL, "invalid diff_id");
  /* on failure inner still belongs to us */
  inner->free (inner);
}

static void
test_fd_reader (void **state)
{
  (void) state;
  int p[2];
  assert_int_equal (pipe2 (p, O_CLOEXEC), 0);
  assert_int_equal (write (p[1], "hello", 5), 5);
  close (p[1]);
  _cleanup_reader_ veil_reader_t *r = veil_reader_fd (p[0]);
  char buf[16];
  veil_error_t *err = NULL;
  assert_int_equal (r->read (r, buf, sizeof (buf), &err), 5);
  assert_memory_equal (buf, "hello", 5);
  assert_int_equal (r->read (r, buf, sizeof (buf), &err), 0);
  assert_int_equal (r->finish (r, &err), 0);
  /* a read error is reported, not a silent end */
  _cleanup_reader_ veil_reader_t *bad = veil_reader_fd (open ("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  assert_true (bad->read (bad, buf, sizeof (buf), &err) < 0);
  assert_error (&err, EISDIR, "read");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_fd_reader),
    cmocka_unit_test (test_digest_pass),
    cmocka_unit_test (test_digest_finish_drains),
    cmocka_unit_test (test_digest_mismatch),
    cmocka_unit_test (test_digest_size),
    cmocka_unit_test (test_gzip),
    cmocka_unit_test (test_zstd),
    cmocka_unit_test (test_plain),
    cmocka_unit_test (test_multi_member),
    cmocka_unit_test (test_truncated),
    cmocka_unit_test (test_trailing_garbage),
    cmocka_unit_test (test_bomb),
    cmocka_unit_test (test_media_types),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
