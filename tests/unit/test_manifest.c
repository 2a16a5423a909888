/* Unit tests of manifest and index parsing: OCI and Docker schema2, the
 * linux/amd64 pick, strict types, size bounds, config diff_ids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>

#include "veil/image.h"

#define D(c) "sha256:" c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c
#define DA D ("a")
#define DB D ("b")
#define DC D ("c")

static int
parse (const char *doc, const char *ct, veil_manifest_t *m, bool *is_index, veil_descriptor_t *p,
       veil_error_t **err)
{
  return veil_manifest_parse (doc, strlen (doc), ct, m, is_index, p, err);
}

static const char oci_manifest[]
    = "{\"schemaVersion\":2,\"mediaType\":\"" VEIL_MT_OCI_MANIFEST "\","
      "\"config\":{\"mediaType\":\"" VEIL_MT_OCI_CONFIG "\",\"digest\":\"" DA "\",\"size\":10},"
      "\"layers\":[{\"mediaType\":\"" VEIL_MT_OCI_LAYER_GZIP "\",\"digest\":\"" DB "\",\"size\":20,"
      "\"annotations\":{\"k\":\"v\"}},"
      "{\"mediaType\":\"" VEIL_MT_OCI_LAYER_ZSTD VEIL_MT_ENCRYPTED_SUFFIX "\",\"digest\":\"" DC
      "\",\"size\":30}]}";

static void
test_oci (void **state)
{
  (void) state;
  veil_manifest_t m;
  bool idx = true;
  veil_error_t *err = NULL;
  assert_int_equal (parse (oci_manifest, VEIL_MT_OCI_MANIFEST, &m, &idx, NULL, &err), 0);
  assert_false (idx);
  assert_string_equal (m.media_type, VEIL_MT_OCI_MANIFEST);
  assert_string_equal (m.config.digest, DA);
  assert_int_equal (m.config.size, 10);
  assert_int_equal (m.n_layers, 2);
  assert_string_equal (m.layers[0].digest, DB);
  assert_string_equal (json_string_value (json_object_get (m.layers[0].annotations, "k")), "v");
  assert_int_equal (m.layers[1].size, 30);
  veil_manifest_clear (&m);
  /* a generic Content-Type defers to the document; no Content-Type either */
  assert_int_equal (parse (oci_manifest, "application/json; charset=utf-8", &m, &idx, NULL, NULL), 0);
  veil_manifest_clear (&m);
  assert_int_equal (parse (oci_manifest, NULL, &m, &idx, NULL, NULL), 0);
  veil_manifest_clear (&m);
}

static void
test_docker (void **state)
{
  (void) state;
  const char *doc
      = "{\"schemaVersion\":2,\"mediaType\":\"" VEIL_MT_DOCKER_MANIFEST "\","
        "\"config\":{\"mediaType\":\"" VEIL_MT_DOCKER_CONFIG "\",\"digest\":\"" DA "\",\"size\":1},"
        "\"layers\":[{\"mediaType\":\"" VEIL_MT_DOCKER_LAYER_GZIP "\",\"digest\":\"" DB
        "\",\"size\":2}]}";
  veil_manifest_t m;
  bool idx;
  assert_int_equal (parse (doc, VEIL_MT_DOCKER_MANIFEST, &m, &idx, NULL, NULL), 0);
  assert_string_equal (m.media_type, VEIL_MT_DOCKER_MANIFEST);
  assert_int_equal (m.n_layers, 1);
  veil_manifest_clear (&m);
}

static void
test_index_pick (void **state)
{
  (void) state;
#define INDEX_FMT "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":["                       \
                  "{\"mediaType\":\"%s\",\"digest\":\"" DA "\",\"size\":1,"                         \
                  "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":\"v8\"}}," \
                  "{\"mediaType\":\"%s\",\"digest\":\"" DB "\",\"size\":2,"                         \
                  "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\",\"variant\":\"v3\"}}," \
                  "{\"mediaType\":\"%s\",\"digest\":\"" DC "\",\"size\":3,"                         \
                  "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}}]}"
  const char *kinds[][2] = { { VEIL_MT_OCI_INDEX, VEIL_MT_OCI_MANIFEST },
                             { VEIL_MT_DOCKER_LIST, VEIL_MT_DOCKER_MANIFEST } };
  for (size_t k = 0; k < 2; k++)
    {
      char doc[2048];
      snprintf (doc, sizeof doc, INDEX_FMT, kinds[k][0], kinds[k][1], kinds[k][1], kinds[k][1]);
      veil_manifest_t m;
      bool idx = false;
      veil_descriptor_t p;
      veil_error_t *err = NULL;
      if (parse (doc, kinds[k][0], &m, &idx, &p, &err) < 0)
        fail_msg ("%s", err->msg);
      assert_true (idx);
      /* the first linux/amd64 entry, variant ignored */
      assert_string_equal (p.digest, DB);
      assert_int_equal (p.size, 2);
      assert_string_equal (p.platform_variant, "v3");
      veil_descriptor_clear (&p);
      veil_manifest_clear (&m);
    }
  const char *arm_only = "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" VEIL_MT_OCI_MANIFEST
                         "\",\"digest\":\"" DA "\",\"size\":1,"
                         "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}}]}";
  veil_manifest_t m;
  veil_descriptor_t p;
  veil_error_t *err = NULL;
  assert_int_equal (parse (arm_only, NULL, &m, NULL, &p, &err), -ENOENT);
  assert_non_null (strstr (err->msg, "no linux/amd64"));
  assert_non_null (strstr (err->msg, "linux/arm64"));
  veil_error_free (err);
}

static void
expect_fail (const char *doc, const char *ct, const char *msg)
{
  veil_manifest_t m;
  veil_descriptor_t p;
  veil_error_t *err = NULL;
  bool idx;
  if (parse (doc, ct, &m, &idx, &p, &err) == 0)
    fail_msg ("accepted: %s", doc);
  if (strstr (err->msg, msg) == NULL)
    fail_msg ("'%s' lacks '%s'", err->msg, msg);
  assert_null (m.doc);
  veil_error_free (err);
}

static void
test_bad (void **state)
{
  (void) state;
  expect_fail ("[]", NULL, "not a JSON object");
  expect_fail ("{\"schemaVersion\":1}", NULL, "schemaVersion");
  expect_fail ("{\"schemaVersion\":\"2\"}", NULL, "schemaVersion");
  expect_fail ("{\"schemaVersion\":2,\"mediaType\":\"text/html\"}", NULL, "unsupported mediaType");
  expect_fail (oci_manifest, VEIL_MT_OCI_INDEX, "does not match Content-Type");
  expect_fail (oci_manifest, "image/png", "unsupported Content-Type");
  expect_fail ("{\"schemaVersion\":2,\"config\":{},\"layers\":[],\"manifests\":[]}", NULL,
               "ambiguous");
  expect_fail ("{\"schemaVersion\":2,\"mediaType\":\"" VEIL_MT_DOCKER_MANIFEST "\",\"config\":{"
               "\"mediaType\":\"" VEIL_MT_DOCKER_CONFIG "\",\"digest\":\"" DA "\",\"size\":-1},"
               "\"layers\":[]}",
               NULL, "size");
  expect_fail ("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" VEIL_MT_OCI_CONFIG
               "\",\"digest\":\"sha256:xyz\",\"size\":1},\"layers\":[]}",
               NULL, "invalid digest");
  expect_fail ("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/x-evil\",\"digest\":\"" DA
               "\",\"size\":1},\"layers\":[]}",
               NULL, "not an image config");
  expect_fail ("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" VEIL_MT_OCI_CONFIG "\",\"digest\":\"" DA
               "\",\"size\":1},\"layers\":[{\"mediaType\":\"application/x-tar\",\"digest\":\"" DB
               "\",\"size\":1}]}",
               NULL, "unsupported media type");
  expect_fail ("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" VEIL_MT_OCI_CONFIG "\",\"digest\":\"" DA
               "\",\"size\":1},\"layers\":[{\"mediaType\":\"" VEIL_MT_OCI_LAYER "\",\"digest\":\"" DB
               "\",\"size\":1,\"annotations\":{\"a\":1}}]}",
               NULL, "not a string");
  expect_fail ("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" VEIL_MT_OCI_CONFIG "\",\"digest\":\"" DA
               "\",\"size\":1.5},\"layers\":[]}",
               NULL, "size");
  expect_fail ("{\"schemaVersion\":2,\"mediaType\":\"" VEIL_MT_DOCKER_LIST "\",\"manifests\":{}}", NULL,
               "manifests");
  expect_fail ("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" VEIL_MT_OCI_CONFIG
               "\",\"digest\":\"" DA "\",\"size\":1}]}",
               NULL, "not a manifest");
  /* Docker schema2 requires mediaType in the document */
  expect_fail ("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" VEIL_MT_DOCKER_CONFIG
               "\",\"digest\":\"" DA "\",\"size\":1},\"layers\":[]}",
               VEIL_MT_DOCKER_MANIFEST, "without mediaType");
  expect_fail ("{\"schemaVersion\":2,\"schemaVersion\":2}", NULL, "duplicate");
}

static void
test_oversized (void **state)
{
  (void) state;
  /* 5 MiB of whitespace-padded JSON: refused before parsing */
  size_t n = 5u << 20;
  char *big = xmalloc (n);
  memset (big, ' ', n);
  memcpy (big, "{}", 2);
  veil_manifest_t m;
  veil_error_t *err = NULL;
  assert_int_equal (veil_manifest_parse (big, n, NULL, &m, NULL, NULL, &err), -E2BIG);
  veil_error_free (err);
  free (big);
  /* too many layers */
  veil_buf_t b = { 0 };
  veil_buf_append_str (&b, "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" VEIL_MT_OCI_CONFIG
                           "\",\"digest\":\"" DA "\",\"size\":1},\"layers\":[");
  for (int i = 0; i < 1100; i++)
    veil_buf_printf (&b, "%s{\"mediaType\":\"" VEIL_MT_OCI_LAYER "\",\"digest\":\"" DB "\",\"size\":1}",
                     i ? "," : "");
  veil_buf_append_str (&b, "]}");
  err = NULL;
  assert_int_equal (veil_manifest_parse (b.data, b.len, NULL, &m, NULL, NULL, &err), -E2BIG);
  assert_non_null (strstr (err->msg, "layers"));
  veil_error_free (err);
  veil_buf_free (&b);
}

static void
test_diff_ids (void **state)
{
  (void) state;
  json_t *cfg = json_pack ("{s:{s:s, s:[s,s]}}", "rootfs", "type", "layers", "diff_ids", DA, DB);
  json_t *ids = veil_image_config_diff_ids (cfg, 2, NULL);
  assert_non_null (ids);
  assert_int_equal (json_array_size (ids), 2);
  json_decref (ids);
  veil_error_t *err = NULL;
  assert_null (veil_image_config_diff_ids (cfg, 3, &err));
  assert_non_null (strstr (err->msg, "2 diff_ids for 3 layers"));
  veil_error_free (err);
  json_decref (cfg);
  cfg = json_pack ("{s:{s:s, s:[s]}}", "rootfs", "type", "layers", "diff_ids", "sha256:zz");
  err = NULL;
  assert_null (veil_image_config_diff_ids (cfg, 1, &err));
  veil_error_free (err);
  json_decref (cfg);
  cfg = json_pack ("{s:{s:s, s:[]}}", "rootfs", "type", "tar", "diff_ids");
  err = NULL;
  assert_null (veil_image_config_diff_ids (cfg, 0, &err));
  veil_error_free (err);
  json_decref (cfg);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_oci),
    cmocka_unit_test (test_docker),
    cmocka_unit_test (test_index_pick),
    cmocka_unit_test (test_bad),
    cmocka_unit_test (test_oversized),
    cmocka_unit_test (test_diff_ids),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
