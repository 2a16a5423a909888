/* Unit tests of image references: the distribution reference grammar,
 * Docker Hub shorthands, oci: layouts, and the errors for bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "veil/image.h"

#define D64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void
test_valid (void **state)
{
  (void) state;
  static const struct
  {
    const char *in, *registry, *repo, *tag, *digest, *formatted;
  } cases[] = {
    { "busybox", "docker.io", "library/busybox", "latest", NULL, "docker.io/library/busybox:latest" },
    { "busybox:1.36", "docker.io", "library/busybox", "1.36", NULL, NULL },
    { "team/app", "docker.io", "team/app", "latest", NULL, NULL },
    { "index.docker.io/library/alpine:3", "docker.io", "library/alpine", "3", NULL,
      "docker.io/library/alpine:3" },
    { "localhost/app", "localhost", "app", "latest", NULL, "localhost/app:latest" },
    { "localhost:5000/a/b/c:v_1.0-rc", "localhost:5000", "a/b/c", "v_1.0-rc", NULL, NULL },
    { "127.0.0.1:5000/repo:tag", "127.0.0.1:5000", "repo", "tag", NULL, NULL },
    { "ghcr.io/o-r_g/a__b.c--d:TAG", "ghcr.io", "o-r_g/a__b.c--d", "TAG", NULL, NULL },
    { "[::1]:5000/x", "[::1]:5000", "x", "latest", NULL, NULL },
    { "quay.io/x@sha256:" D64, "quay.io", "x", NULL, "sha256:" D64, "quay.io/x@sha256:" D64 },
    { "quay.io/x:t@sha256:" D64, "quay.io", "x", "t", "sha256:" D64, NULL },
    { "Registry/x", "Registry", "x", "latest", NULL, NULL },
  };
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (cases); i++)
    {
      veil_image_ref_t r;
      veil_error_t *err = NULL;
      int rc = veil_image_ref_parse (cases[i].in, &r, &err);
      if (rc < 0)
        fail_msg ("%s: %s", cases[i].in, err->msg);
      assert_int_equal (r.kind, VEIL_REF_REGISTRY);
      assert_string_equal (r.registry, cases[i].registry);
      assert_string_equal (r.repository, cases[i].repo);
      if (cases[i].tag)
        assert_string_equal (r.tag, cases[i].tag);
      else
        assert_null (r.tag);
      if (cases[i].digest)
        assert_string_equal (r.digest, cases[i].digest);
      else
        assert_null (r.digest);
      char *f = veil_image_ref_format (&r);
      if (cases[i].formatted)
        assert_string_equal (f, cases[i].formatted);
      /* format → parse is a fixed point */
      veil_image_ref_t r2;
      assert_int_equal (veil_image_ref_parse (f, &r2, NULL), 0);
      char *f2 = veil_image_ref_format (&r2);
      assert_string_equal (f, f2);
      free (f);
      free (f2);
      veil_image_ref_clear (&r2);
      veil_image_ref_clear (&r);
    }
}

static void
test_invalid (void **state)
{
  (void) state;
  static const struct
  {
    const char *in, *msg;
  } cases[] = {
    { "", "empty" },
    { "Busybox", "invalid repository component" },
    { "docker.io/UPPER/x", "invalid repository component" },
    { "a//b", "invalid repository component" },
    { "a/b/", "invalid repository component" },
    { "-a", "invalid repository component" },
    { "a.", "invalid repository component" },
    { "a..b", "invalid repository component" },
    { "a___b", "invalid repository component" },
    { "x:", "invalid tag" },
    { "x:-tag", "invalid tag" },
    { "x:t/a", "invalid registry" },
    { "x:"
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
      "invalid tag" },
    { "x@sha256:abc", "invalid digest" },
    { "x@sha256:"
      "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
      "invalid digest" },
    { "x@md5:" D64, "invalid digest" },
    { "host:0/x", "invalid registry" },
    { "host:99999/x", "invalid registry" },
    { "-host.io/x", "invalid registry" },
    { "host.io:/x", "invalid registry" },
    { "a b", "whitespace" },
    { "oci:", "needs a directory" },
    { "oci:/tmp/x:bad tag", "whitespace" },
    { "oci:/tmp/x:-t", "invalid tag" },
  };
  /* 250 characters: fine alone, too long once docker.io/library/ is added */
  char long_name[251];
  memset (long_name, 'a', 250);
  long_name[250] = 0;
  veil_image_ref_t lr;
  veil_error_t *lerr = NULL;
  assert_int_equal (veil_image_ref_parse (long_name, &lr, &lerr), -EINVAL);
  assert_non_null (strstr (lerr->msg, "name longer than 255"));
  veil_error_free (lerr);
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (cases); i++)
    {
      veil_image_ref_t r;
      veil_error_t *err = NULL;
      int rc = veil_image_ref_parse (cases[i].in, &r, &err);
      if (rc == 0)
        fail_msg ("'%s' was accepted", cases[i].in);
      assert_non_null (err);
      if (strstr (err->msg, cases[i].msg) == NULL)
        fail_msg ("'%s': message '%s' lacks '%s'", cases[i].in, err->msg, cases[i].msg);
      assert_null (r.registry);
      veil_error_free (err);
    }
}

static void
test_layout (void **state)
{
  (void) state;
  veil_image_ref_t r;
  assert_int_equal (veil_image_ref_parse ("oci:/tmp/a:b/layout:v1", &r, NULL), 0);
  assert_int_equal (r.kind, VEIL_REF_OCI_LAYOUT);
  assert_string_equal (r.layout_dir, "/tmp/a:b/layout");
  assert_string_equal (r.tag, "v1");
  char *f = veil_image_ref_format (&r);
  assert_string_equal (f, "oci:/tmp/a:b/layout:v1");
  free (f);
  veil_image_ref_clear (&r);
  assert_int_equal (veil_image_ref_parse ("oci:rel/dir", &r, NULL), 0);
  assert_string_equal (r.layout_dir, "rel/dir");
  assert_null (r.tag);
  veil_image_ref_clear (&r);
}

static void
test_digest (void **state)
{
  (void) state;
  assert_true (veil_digest_valid ("sha256:" D64));
  assert_false (veil_digest_valid ("sha256:" D64 "0"));
  assert_false (veil_digest_valid ("sha512:" D64));
  assert_false (veil_digest_valid (NULL));
  char *d = veil_digest_of ("", 0);
  assert_string_equal (d, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  free (d);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_valid),
    cmocka_unit_test (test_invalid),
    cmocka_unit_test (test_layout),
    cmocka_unit_test (test_digest),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
