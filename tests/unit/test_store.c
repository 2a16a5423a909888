/* Unit tests of the content store: verified commits, one fetch per digest
 * across threads, images.json, prune. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "veil/image.h"

static char *
mkroot (void)
{
  char tmpl[] = "/tmp/veil-store-test-XXXXXX";
  assert_non_null (mkdtemp (tmpl));
  return xstrdup (tmpl);
}

static void
rmroot (char *root)
{
  char *cmd = xasprintf ("chmod -R u+rwx '%s' && rm -rf '%s'", root, root);
  assert_int_equal (system (cmd), 0);
  free (cmd);
  free (root);
}

static size_t
count_entries (const char *dir)
{
  DIR *d = opendir (dir);
  assert_non_null (d);
  size_t n = 0;
  struct dirent *de;
  while ((de = readdir (d)) != NULL)
    if (strcmp (de->d_name, ".") && strcmp (de->d_name, ".."))
      n++;
  closedir (d);
  return n;
}

typedef struct src
{
  const char *data;
  atomic_int calls;
  int delay_ms;
} src_t;

static int
fetch (void *ctx, int fd, veil_error_t **err)
{
  src_t *s = ctx;
  atomic_fetch_add (&s->calls, 1);
  if (s->delay_ms)
    {
      struct timespec ts = { 0, s->delay_ms * 1000000L };
      nanosleep (&ts, NULL);
    }
  size_t n = strlen (s->data);
  if (write (fd, s->data, n) != (ssize_t) n)
    return veil_error_set (err, EIO, "short write");
  return 0;
}

static void
test_mismatch_leaves_nothing (void **state)
{
  (void) state;
  char *root = mkroot ();
  veil_image_store_t *st = veil_image_store_open (root, NULL);
  assert_non_null (st);
  char *want = veil_digest_of ("good", 4);
  src_t s = { .data = "evil" };
  veil_error_t *err = NULL;
  assert_int_equal (veil_image_store_ensure_blob (st, want, 4, fetch, &s, &err), -EBADMSG);
  assert_non_null (strstr (err->msg, "digest mismatch"));
  veil_error_free (err);
  /* too long for the descriptor */
  s.data = "good+more";
  err = NULL;
  assert_int_equal (veil_image_store_ensure_blob (st, want, 4, fetch, &s, &err), -EBADMSG);
  veil_error_free (err);
  char *blobs = xasprintf ("%s/blobs/sha256", root);
  assert_int_equal (count_entries (blobs), 0);
  assert_null (veil_image_store_blob_path (st, want));
  /* and the right content commits */
  s.data = "good";
  assert_int_equal (veil_image_store_ensure_blob (st, want, 4, fetch, &s, NULL), 0);
  char *p = veil_image_store_blob_path (st, want);
  assert_non_null (p);
  assert_int_equal (count_entries (blobs), 1);
  /* present: no second fetch */
  int before = atomic_load (&s.calls);
  assert_int_equal (veil_image_store_ensure_blob (st, want, 4, fetch, &s, NULL), 0);
  assert_int_equal (atomic_load (&s.calls), before);
  free (p);
  free (blobs);
  free (want);
  veil_image_store_free (st);
  rmroot (root);
}

typedef struct thr
{
  const char *root;
  const char *digest;
  src_t *src;
  int rc;
} thr_t;

static void *
ensure_thread (void *arg)
{
  thr_t *t = arg;
  /* each thread its own handle, as separate processes would have */
  veil_image_store_t *st = veil_image_store_open (t->root, NULL);
  t->rc = veil_image_store_ensure_blob (st, t->digest, -1, fetch, t->src, NULL);
  veil_image_store_free (st);
  return NULL;
}

static void
test_concurrent_single_fetch (void **state)
{
  (void) state;
  char *root = mkroot ();
  const char *data = "shared layer bytes";
  char *d = veil_digest_of (data, strlen (data));
  src_t s = { .data = data, .delay_ms = 150 };
  thr_t t[8];
  pthread_t th[8];
  for (int i = 0; i < 8; i++)
    {
      t[i] = (thr_t){ root, d, &s, -1 };
      assert_int_equal (pthread_create (&th[i], NULL, ensure_thread, &t[i]), 0);
    }
  for (int i = 0; i < 8; i++)
    {
      pthread_join (th[i], NULL);
      assert_int_equal (t[i].rc, 0);
    }
  assert_int_equal (atomic_load (&s.calls), 1);
  free (d);
  rmroot (root);
}

static char *
put (veil_image_store_t *st, const char *s)
{
  char *d = NULL;
  assert_int_equal (veil_image_store_put_blob (st, s, strlen (s), &d, NULL), 0);
  return d;
}

static void
write_file (const char *path, const char *s)
{
  FILE *f = fopen (path, "w");
  assert_non_null (f);
  fputs (s, f);
  fclose (f);
}

static void
test_tag_list_prune (void **state)
{
  (void) state;
  char *root = mkroot ();
  veil_image_store_t *st = veil_image_store_open (root, NULL);
  char *layer = put (st, "layer-bytes");
  char *garbage = put (st, "unreferenced-garbage"); /* 20 bytes */
  char diff_keep[80], diff_drop[80];
  snprintf (diff_keep, sizeof diff_keep, "sha256:%064d", 1);
  snprintf (diff_drop, sizeof diff_drop, "sha256:%064d", 2);
  char *cfg_s = xasprintf ("{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":"
                           "\"layers\",\"diff_ids\":[\"%s\"]}}",
                           diff_keep);
  char *cfg = put (st, cfg_s);
  char *man_s = xasprintf ("{\"schemaVersion\":2,\"mediaType\":\"" VEIL_MT_OCI_MANIFEST "\","
                           "\"config\":{\"mediaType\":\"" VEIL_MT_OCI_CONFIG "\",\"digest\":\"%s\","
                           "\"size\":%zu},\"layers\":[{\"mediaType\":\"" VEIL_MT_OCI_LAYER
                           "\",\"digest\":\"%s\",\"size\":11}]}",
                           cfg, strlen (cfg_s), layer);
  char *man = put (st, man_s);
  assert_int_equal (veil_image_store_tag (st, "example.com/app:v1", man, NULL), 0);
  assert_int_equal (veil_image_store_tag (st, "example.com/app:v2", man, NULL), 0);

  char *r = veil_image_store_resolve (st, "example.com/app:v1", NULL);
  assert_string_equal (r, man);
  free (r);
  veil_error_t *err = NULL;
  assert_null (veil_image_store_resolve (st, "nope", &err));
  assert_int_equal (err->code, ENOENT);
  veil_error_free (err);
  json_t *list = veil_image_store_list (st, NULL);
  assert_int_equal (json_array_size (list), 2);
  assert_string_equal (veil_json_str (json_array_get (list, 0), "name"), "example.com/app:v1");
  json_decref (list);
  json_t *info = veil_image_store_inspect (st, "example.com/app:v2", NULL);
  assert_non_null (info);
  assert_string_equal (veil_json_str (info, "architecture"), "amd64");
  assert_int_equal (json_array_size (json_object_get (info, "layers")), 1);
  json_decref (info);

  /* layer dirs: one referenced by the config's diff_ids, one not (with a
   * read-only directory inside, as unpacked layers have) */
  char *keep_dir = veil_image_store_layer_dir (st, diff_keep);
  char *drop_dir = veil_image_store_layer_dir (st, diff_drop);
  assert_int_equal (mkdir (keep_dir, 0755), 0);
  assert_int_equal (mkdir (drop_dir, 0755), 0);
  char *ro = xasprintf ("%s/ro", drop_dir);
  assert_int_equal (mkdir (ro, 0755), 0);
  char *f = xasprintf ("%s/file", ro);
  write_file (f, "12345");
  chmod (ro, 0555);
  /* a stale temp file from a crashed download */
  char *tmp = xasprintf ("%s/blobs/sha256/.tmp-0000-abc", root);
  write_file (tmp, "xyz");

  uint64_t freed = 0;
  assert_int_equal (veil_image_store_prune (st, &freed, NULL), 0);
  assert_int_equal (freed, 20 + 5 + 3);
  char *gp = veil_image_store_blob_path (st, garbage);
  assert_null (gp);
  const char *kept[] = { layer, cfg, man };
  for (size_t i = 0; i < 3; i++)
    {
      char *p = veil_image_store_blob_path (st, kept[i]);
      assert_non_null (p);
      free (p);
    }
  struct stat sb;
  assert_int_equal (stat (keep_dir, &sb), 0);
  assert_int_equal (stat (drop_dir, &sb), -1);
  assert_int_equal (stat (tmp, &sb), -1);
  /* a second prune finds nothing */
  assert_int_equal (veil_image_store_prune (st, &freed, NULL), 0);
  assert_int_equal (freed, 0);

  free (tmp);
  free (f);
  free (ro);
  free (keep_dir);
  free (drop_dir);
  free (man_s);
  free (cfg_s);
  free (man);
  free (cfg);
  free (garbage);
  free (layer);
  veil_image_store_free (st);
  rmroot (root);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_mismatch_leaves_nothing),
    cmocka_unit_test (test_concurrent_single_fetch),
    cmocka_unit_test (test_tag_list_prune),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
