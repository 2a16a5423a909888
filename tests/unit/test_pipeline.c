/* The layer cache: a stored layer unpacked once by diff_id, reused, and
 * never committed when its blob fails verification. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <sys/stat.h>
#include "veil/image.h"

static char dir[64];

static int
setup (void **state)
{
  (void) state;
  snprintf (dir, sizeof (dir), "/tmp/veil-pipeline-XXXXXX");
  return mkdtemp (dir) ? 0 : -1;
}

static int
teardown (void **state)
{
  (void) state;
  _cleanup_free_ char *cmd = xasprintf ("rm -rf '%s'", dir);
  return system (cmd);
}

/* A gzip'd tar of one file, made in memory; *diff_id is the plain tar's digest. */
static uint8_t *
make_layer (size_t *len, char **diff_id)
{
  size_t cap = 1 << 20, used = 0;
  uint8_t *tar = xmalloc (cap);
  struct archive *a = archive_write_new ();
  archive_write_set_format_pax_restricted (a);
  assert_int_equal (archive_write_open_memory (a, tar, cap, &used), ARCHIVE_OK);
  struct archive_entry *e = archive_entry_new ();
  const char *data = "cached layer content\n";
  archive_entry_set_pathname (e, "etc/motd");
  archive_entry_set_filetype (e, AE_IFREG);
  archive_entry_set_perm (e, 0644);
  archive_entry_set_size (e, (la_int64_t) strlen (data));
  archive_write_header (a, e);
  archive_write_data (a, data, strlen (data));
  archive_entry_free (e);
  archive_write_close (a);
  archive_write_free (a);
  *diff_id = veil_digest_of (tar, used);
  uint8_t *gz = xmalloc (cap);
  size_t gz_used = 0;
  a = archive_write_new ();
  archive_write_set_format_raw (a);
  archive_write_add_filter_gzip (a);
  assert_int_equal (archive_write_open_memory (a, gz, cap, &gz_used), ARCHIVE_OK);
  e = archive_entry_new ();
  archive_entry_set_filetype (e, AE_IFREG);
  archive_write_header (a, e);
  archive_write_data (a, tar, used);
  archive_entry_free (e);
  archive_write_close (a);
  archive_write_free (a);
  free (tar);
  *len = gz_used;
  return gz;
}

static void
test_layer_cache (void **state)
{
  (void) state;
  veil_error_t *err = NULL;
  veil_image_store_t *st = veil_image_store_open (dir, &err);
  assert_non_null (st);
  size_t len;
  _cleanup_free_ char *diff_id = NULL;
  _cleanup_free_ uint8_t *gz = make_layer (&len, &diff_id);
  _cleanup_free_ char *digest = NULL;
  assert_int_equal (veil_image_store_put_blob (st, gz, len, &digest, NULL), 0);
  veil_descriptor_t d = { .media_type = (char *) VEIL_MT_OCI_LAYER_GZIP, .digest = digest, .size = (int64_t) len };
  _cleanup_free_ char *ldir = NULL, *again = NULL;
  if (veil_image_layer_ensure (st, &d, diff_id, NULL, &ldir, &err) < 0)
    fail_msg ("%s", err->msg);
  _cleanup_free_ char *motd = xasprintf ("%s/etc/motd", ldir);
  struct stat s1, s2;
  assert_int_equal (stat (motd, &s1), 0);
  /* the second time the committed directory is reused, not unpacked again */
  assert_int_equal (veil_image_layer_ensure (st, &d, diff_id, NULL, &again, NULL), 0);
  assert_string_equal (ldir, again);
  assert_int_equal (stat (motd, &s2), 0);
  assert_int_equal (s1.st_ino, s2.st_ino);
  /* a wrong diff_id: refused, and nothing committed under it */
  char bad[72];
  snprintf (bad, sizeof (bad), "sha256:%064d", 0);
  _cleanup_free_ char *bad_dir = NULL;
  assert_true (veil_image_layer_ensure (st, &d, bad, NULL, &bad_dir, &err) < 0);
  if (!strstr (err->msg, "diff_id"))
    fail_msg ("unexpected error: %s", err->msg);
  veil_error_free (err);
  err = NULL;
  _cleanup_free_ char *would_be = veil_image_store_layer_dir (st, bad);
  assert_int_not_equal (access (would_be, F_OK), 0);
  veil_image_store_free (st);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_layer_cache, setup, teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
