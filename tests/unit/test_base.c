/* Unit tests of libveil base: errors, encodings, JSON, secrets, files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "veil/base.h"

static void
test_error_set_wrap (void **state)
{
  (void) state;
  veil_error_t *err = NULL;
  assert_int_equal (veil_error_set (&err, EBADMSG, "snp: bad %s", "report"), -EBADMSG);
  veil_error_wrap (&err, "verify");
  assert_string_equal (err->msg, "verify: snp: bad report");
  assert_int_equal (err->code, EBADMSG);
  veil_error_free (err);
  assert_int_equal (veil_error_set (NULL, ENOENT, "ignored"), -ENOENT);
}

static void
test_b64_roundtrip (void **state)
{
  (void) state;
  /* RFC 4648 §10 test vectors */
  static const char *in[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
  static const char *std[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (in); i++)
    {
      _cleanup_free_ char *e = veil_b64_encode (in[i], strlen (in[i]));
      assert_string_equal (e, std[i]);
      _cleanup_free_ uint8_t *d = NULL;
      size_t n = 0;
      assert_int_equal (veil_b64_decode (e, &d, &n, NULL), 0);
      assert_int_equal (n, strlen (in[i]));
      assert_memory_equal (d, in[i], n);
    }
  uint8_t bin[] = { 0xfb, 0xff, 0xfe };
  _cleanup_free_ char *u = veil_b64url_encode (bin, 3);
  assert_string_equal (u, "-__-");
  _cleanup_free_ uint8_t *d = NULL;
  size_t n;
  veil_error_t *err = NULL;
  assert_true (veil_b64_decode ("-__-", &d, &n, &err) < 0);
  veil_error_free (err);
  err = NULL;
  assert_int_equal (veil_b64any_decode ("-__-", &d, &n, NULL), 0);
  assert_memory_equal (d, bin, 3);
  free (d);
  d = NULL;
  assert_true (veil_b64_decode ("Zg=", &d, &n, &err) < 0);
  veil_error_free (err);
  err = NULL;
  assert_true (veil_b64_decode ("Z", &d, &n, &err) < 0);
  veil_error_free (err);
}

static void
test_hex (void **state)
{
  (void) state;
  uint8_t b[3] = { 0x00, 0xab, 0xff };
  _cleanup_free_ char *h = veil_hex_encode (b, 3);
  assert_string_equal (h, "00abff");
  uint8_t o[3];
  assert_int_equal (veil_hex_decode_exact ("00ABff", o, 3, NULL), 0);
  assert_memory_equal (o, b, 3);
  veil_error_t *err = NULL;
  assert_true (veil_hex_decode_exact ("00abf", o, 3, &err) < 0);
  veil_error_free (err);
  err = NULL;
  assert_true (veil_hex_decode_exact ("00abzz", o, 3, &err) < 0);
  veil_error_free (err);
}

static void
test_json_parse_bounds (void **state)
{
  (void) state;
  veil_error_t *err = NULL;
  json_t *j = veil_json_parse ("{\"a\":1}", 7, 6, &err);
  assert_null (j);
  assert_int_equal (err->code, E2BIG);
  veil_error_free (err);
  err = NULL;
  j = veil_json_parse ("{\"a\":1,\"a\":2}", 13, 100, &err);
  assert_null (j);
  veil_error_free (err);
  err = NULL;
  j = veil_json_parse ("{\"a\":\"x\"}", 9, 100, &err);
  assert_non_null (j);
  assert_string_equal (veil_json_req_str (j, "a", NULL), "x");
  assert_null (veil_json_req_str (j, "b", &err));
  assert_string_equal (err->msg, "field 'b': missing");
  veil_error_free (err);
  json_decref (j);
}

static void
test_secret_alloc (void **state)
{
  (void) state;
  uint8_t *s = veil_secret_dup ("0123456789", 10);
  assert_int_equal (veil_secret_size (s), 10);
  assert_memory_equal (s, "0123456789", 10);
  veil_secret_free (s);
  veil_secret_free (NULL);
}

static void
test_file_roundtrip (void **state)
{
  (void) state;
  char dir[] = "/tmp/veil-test-XXXXXX";
  assert_non_null (mkdtemp (dir));
  _cleanup_free_ char *sub = xasprintf ("%s/a/b", dir);
  assert_int_equal (veil_mkdir_p (sub, 0700, NULL), 0);
  _cleanup_free_ char *path = xasprintf ("%s/f", sub);
  assert_int_equal (veil_file_write_atomic (path, "hello", 5, 0600, NULL), 0);
  _cleanup_free_ uint8_t *d = NULL;
  size_t n;
  assert_int_equal (veil_file_read (path, 5, &d, &n, NULL), 0);
  assert_int_equal (n, 5);
  veil_error_t *err = NULL;
  uint8_t *d2 = NULL;
  assert_int_equal (veil_file_read (path, 4, &d2, &n, &err), -E2BIG);
  veil_error_free (err);
  unlink (path);
  _cleanup_free_ char *cmd = xasprintf ("rm -rf %s", dir);
  assert_int_equal (system (cmd), 0);
}

static void
test_parse_i64 (void **state)
{
  (void) state;
  int64_t v;
  assert_int_equal (veil_parse_i64 ("42", 0, 100, &v, NULL), 0);
  assert_int_equal (v, 42);
  veil_error_t *err = NULL;
  assert_true (veil_parse_i64 ("42x", 0, 100, &v, &err) < 0);
  veil_error_free (err);
  err = NULL;
  assert_true (veil_parse_i64 ("101", 0, 100, &v, &err) < 0);
  veil_error_free (err);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_error_set_wrap),
    cmocka_unit_test (test_b64_roundtrip),
    cmocka_unit_test (test_hex),
    cmocka_unit_test (test_json_parse_bounds),
    cmocka_unit_test (test_secret_alloc),
    cmocka_unit_test (test_file_roundtrip),
    cmocka_unit_test (test_parse_i64),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
