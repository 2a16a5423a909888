/* Unit tests of the tar unpacker: a normal tree, OCI whiteouts (in place
 * and overlayfs-style), and a hostile corpus that must be refused or
 * confined.  Every tar is built here with libarchive's writer; nothing is
 * committed.  Each unpack goes into TMP/root while TMP/outside holds a
 * sentinel: after every case the rest of TMP must be exactly as before. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include "veil/image.h"

#define MTIME 1600000000
#define TAR_CAP (64u << 20)

/* ---- tar builder ------------------------------------------------------------ */

typedef struct
{
  struct archive *a;
  uint8_t *mem;
  size_t used;
} tarb_t;

static void
tb_init (tarb_t *t)
{
  t->mem = mmap (NULL, TAR_CAP, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  assert_true (t->mem != MAP_FAILED);
  t->used = 0;
  t->a = archive_write_new ();
  assert_int_equal (archive_write_set_format_pax_restricted (t->a), ARCHIVE_OK);
  assert_int_equal (archive_write_open_memory (t->a, t->mem, TAR_CAP, &t->used), ARCHIVE_OK);
}

static struct archive_entry *
tb_entry (const char *path, mode_t type, mode_t perm)
{
  struct archive_entry *e = archive_entry_new ();
  archive_entry_set_pathname (e, path);
  archive_entry_set_filetype (e, type);
  archive_entry_set_perm (e, perm);
  archive_entry_set_mtime (e, MTIME, 123456789);
  archive_entry_set_uid (e, 0);
  archive_entry_set_gid (e, 0);
  archive_entry_set_size (e, 0);
  return e;
}

static void
tb_write (tarb_t *t, struct archive_entry *e, const void *data, size_t len)
{
  if (archive_write_header (t->a, e) != ARCHIVE_OK)
    fail_msg ("archive_write_header: %s", archive_error_string (t->a));
  if (len)
    assert_int_equal (archive_write_data (t->a, data, len), (la_ssize_t) len);
  archive_entry_free (e);
}

static void
tb_file (tarb_t *t, const char *path, mode_t perm, const char *data)
{
  struct archive_entry *e = tb_entry (path, AE_IFREG, perm);
  archive_entry_set_size (e, (la_int64_t) strlen (data));
  tb_write (t, e, data, strlen (data));
}

static void
tb_dir (tarb_t *t, const char *path, mode_t perm)
{
  tb_write (t, tb_entry (path, AE_IFDIR, perm), NULL, 0);
}

static void
tb_symlink (tarb_t *t, const char *path, const char *target)
{
  struct archive_entry *e = tb_entry (path, AE_IFLNK, 0777);
  archive_entry_set_symlink (e, target);
  tb_write (t, e, NULL, 0);
}

static void
tb_hardlink (tarb_t *t, const char *path, const char *target)
{
  struct archive_entry *e = tb_entry (path, AE_IFREG, 0644);
  archive_entry_set_hardlink (e, target);
  tb_write (t, e, NULL, 0);
}

static void
tb_node (tarb_t *t, const char *path, mode_t type, unsigned maj, unsigned min)
{
  struct archive_entry *e = tb_entry (path, type, 0644);
  archive_entry_set_rdevmajor (e, maj);
  archive_entry_set_rdevminor (e, min);
  tb_write (t, e, NULL, 0);
}

static veil_reader_t *
mem_reader (const void *data, size_t len)
{
  int fd = memfd_create ("unpack-test", MFD_CLOEXEC);
  assert_true (fd >= 0);
  const uint8_t *p = data;
  while (len)
    {
      ssize_t w = write (fd, p, len);
      assert_true (w > 0);
      p += w;
      len -= (size_t) w;
    }
  assert_int_equal (lseek (fd, 0, SEEK_SET), 0);
  return veil_reader_fd (fd);
}

/* Finishes the archive and returns a reader over it (frees the builder). */
static veil_reader_t *
tb_reader (tarb_t *t)
{
  assert_int_equal (archive_write_close (t->a), ARCHIVE_OK);
  archive_write_free (t->a);
  veil_reader_t *r = mem_reader (t->mem, t->used);
  munmap (t->mem, TAR_CAP);
  return r;
}

/* ---- raw ustar headers, for what libarchive's writer will not produce ------- */

static void
raw_header (uint8_t h[512], const void *name, size_t name_len, char type, size_t size)
{
  memset (h, 0, 512);
  memcpy (h, name, name_len > 100 ? 100 : name_len);
  memcpy (h + 100, "0000644", 7);
  memcpy (h + 108, "0000000", 7);
  memcpy (h + 116, "0000000", 7);
  snprintf ((char *) h + 124, 12, "%011zo", size);
  snprintf ((char *) h + 136, 12, "%011o", (unsigned) MTIME);
  h[156] = (uint8_t) type;
  memcpy (h + 257, "ustar", 6);
  memcpy (h + 263, "00", 2);
  memset (h + 148, ' ', 8);
  unsigned sum = 0;
  for (size_t i = 0; i < 512; i++)
    sum += h[i];
  snprintf ((char *) h + 148, 8, "%06o", sum);
}

static void
raw_append (veil_buf_t *b, const void *data, size_t len)
{
  veil_buf_append (b, data, len);
  static const uint8_t zero[512];
  if (len % 512)
    veil_buf_append (b, zero, 512 - len % 512);
}

/* ---- fixture: TMP/{root,outside/sentinel,victim} ------------------------------ */

typedef struct
{
  char tmp[64];
  char root[96];
  char outside[96];
  char sentinel[128];
  char *snapshot;
  struct stat passwd;
} fx_t;

static void
snap_walk (veil_buf_t *b, int dfd, const char *rel, const char *skip)
{
  DIR *d = fdopendir (dup (dfd));
  assert_non_null (d);
  char **names = NULL;
  size_t n = 0;
  struct dirent *de;
  while ((de = readdir (d)))
    if (strcmp (de->d_name, ".") && strcmp (de->d_name, ".."))
      {
        names = xrealloc (names, (n + 1) * sizeof (*names));
        names[n++] = xstrdup (de->d_name);
      }
  closedir (d);
  for (size_t i = 0; i < n; i++)
    for (size_t j = i + 1; j < n; j++)
      if (strcmp (names[i], names[j]) > 0)
        {
          char *x = names[i];
          names[i] = names[j];
          names[j] = x;
        }
  for (size_t i = 0; i < n; i++)
    {
      _cleanup_free_ char *path = *rel ? xasprintf ("%s/%s", rel, names[i]) : xstrdup (names[i]);
      if (!strcmp (path, skip))
        {
          free (names[i]);
          continue;
        }
      struct stat st;
      assert_int_equal (fstatat (dfd, names[i], &st, AT_SYMLINK_NOFOLLOW), 0);
      veil_buf_printf (b, "%s %o %lld %lu %lld.%ld", path, st.st_mode, (long long) st.st_size,
                       (unsigned long) st.st_nlink, (long long) st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
      if (S_ISLNK (st.st_mode))
        {
          char target[4096];
          ssize_t tl = readlinkat (dfd, names[i], target, sizeof (target) - 1);
          assert_true (tl >= 0);
          target[tl] = 0;
          veil_buf_printf (b, " -> %s", target);
        }
      else if (S_ISREG (st.st_mode))
        {
          uint8_t *data = NULL;
          size_t len = 0;
          _cleanup_free_ char *full = xasprintf ("/proc/self/fd/%d/%s", dfd, names[i]);
          assert_int_equal (veil_file_read (full, 1 << 20, &data, &len, NULL), 0);
          uint8_t md[VEIL_SHA256_LEN];
          veil_sha256 (data, len, md);
          _cleanup_free_ char *hex = veil_hex_encode (md, sizeof (md));
          veil_buf_printf (b, " %s", hex);
          free (data);
        }
      veil_buf_append_str (b, "\n");
      if (S_ISDIR (st.st_mode))
        {
          int cfd = openat (dfd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
          assert_true (cfd >= 0);
          snap_walk (b, cfd, path, skip);
          close (cfd);
        }
      free (names[i]);
    }
  free (names);
}

/* Everything under TMP except root/, in detail. */
static char *
snapshot (const fx_t *fx)
{
  veil_buf_t b = { 0 };
  int fd = open (fx->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  assert_true (fd >= 0);
  snap_walk (&b, fd, "", "root");
  close (fd);
  return veil_buf_cstr (&b);
}

static int
fx_setup (void **state)
{
  fx_t *fx = xcalloc (1, sizeof (*fx));
  strcpy (fx->tmp, "/tmp/veil-unpack-XXXXXX");
  assert_non_null (mkdtemp (fx->tmp));
  snprintf (fx->root, sizeof (fx->root), "%s/root", fx->tmp);
  snprintf (fx->outside, sizeof (fx->outside), "%s/outside", fx->tmp);
  snprintf (fx->sentinel, sizeof (fx->sentinel), "%s/sentinel", fx->outside);
  assert_int_equal (mkdir (fx->root, 0755), 0);
  assert_int_equal (mkdir (fx->outside, 0755), 0);
  assert_int_equal (veil_file_write_atomic (fx->sentinel, "sentinel\n", 9, 0644, NULL), 0);
  _cleanup_free_ char *victim = xasprintf ("%s/victim", fx->tmp);
  assert_int_equal (veil_file_write_atomic (victim, "victim\n", 7, 0644, NULL), 0);
  assert_int_equal (stat ("/etc/passwd", &fx->passwd), 0);
  fx->snapshot = snapshot (fx);
  *state = fx;
  return 0;
}

static void
rm_rf (const char *path)
{
  /* the test's own cleanup; nftw would follow nothing either, but keep it plain */
  int dfd = open (path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0)
    {
      unlink (path);
      return;
    }
  DIR *d = fdopendir (dfd);
  struct dirent *de;
  while ((de = readdir (d)))
    {
      if (!strcmp (de->d_name, ".") || !strcmp (de->d_name, ".."))
        continue;
      _cleanup_free_ char *child = xasprintf ("%s/%s", path, de->d_name);
      struct stat st;
      if (lstat (child, &st) == 0 && S_ISDIR (st.st_mode))
        {
          chmod (child, 0700);
          rm_rf (child);
        }
      else
        unlink (child);
    }
  closedir (d);
  rmdir (path);
}

static int
fx_teardown (void **state)
{
  fx_t *fx = *state;
  rm_rf (fx->tmp);
  free (fx->snapshot);
  free (fx);
  return 0;
}

/* Empties root for the next case. */
static void
fx_reset_root (fx_t *fx)
{
  rm_rf (fx->root);
  assert_int_equal (mkdir (fx->root, 0755), 0);
}

/* Nothing outside root changed, the sentinel is intact and has no new
 * links, and no file in root is /etc/passwd. */
static void
check_outside (fx_t *fx)
{
  _cleanup_free_ char *now = snapshot (fx);
  if (strcmp (now, fx->snapshot) != 0)
    fail_msg ("outside of the root changed:\nbefore:\n%s\nafter:\n%s", fx->snapshot, now);
  struct stat st;
  assert_int_equal (stat ("/etc/passwd", &st), 0);
  assert_int_equal (st.st_nlink, fx->passwd.st_nlink);
  assert_int_equal (st.st_mtim.tv_sec, fx->passwd.st_mtim.tv_sec);
}

static int
unpack_into (const char *root, veil_reader_t *r, const veil_unpack_limits_t *lim, veil_error_t **err)
{
  int fd = open (root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  assert_true (fd >= 0);
  int ret = veil_unpack_tar (r, fd, lim, err);
  close (fd);
  r->free (r);
  return ret;
}

static struct stat
lst (const char *root, const char *rel)
{
  _cleanup_free_ char *p = xasprintf ("%s/%s", root, rel);
  struct stat st;
  if (lstat (p, &st) < 0)
    fail_msg ("%s: %s", rel, strerror (errno));
  return st;
}

static bool
exists (const char *root, const char *rel)
{
  _cleanup_free_ char *p = xasprintf ("%s/%s", root, rel);
  struct stat st;
  return lstat (p, &st) == 0;
}

static char *
slurp (const char *root, const char *rel)
{
  _cleanup_free_ char *p = xasprintf ("%s/%s", root, rel);
  uint8_t *d = NULL;
  size_t n;
  assert_int_equal (veil_file_read (p, 1 << 20, &d, &n, NULL), 0);
  return (char *) d;
}

/* ---- normal tree -------------------------------------------------------------- */

static void
normal_tree (fx_t *fx, bool portable)
{
  fx_reset_root (fx);
  bool root = geteuid () == 0;
  tarb_t t;
  tb_init (&t);
  tb_dir (&t, "./", 0751);
  tb_dir (&t, "./etc/", 0755);
  tb_file (&t, "./etc/hosts", 0644, "127.0.0.1 localhost\n");
  tb_dir (&t, "bin", 0755);
  tb_file (&t, "bin/tool", 04755, "#!/bin/true\n");
  tb_symlink (&t, "bin/sh", "tool");
  tb_symlink (&t, "bin/abs", "/etc/hosts");
  tb_hardlink (&t, "bin/tool2", "bin/tool");
  tb_dir (&t, "ro", 0555);
  tb_file (&t, "ro/f", 0400, "read only");
  tb_file (&t, "implicit/parent/file", 0600, "x");
  tb_file (&t, "empty", 0644, "");
  tb_node (&t, "fifo", AE_IFIFO, 0, 0);
  {
    struct archive_entry *e = tb_entry ("owned", AE_IFREG, 0640);
    archive_entry_set_uid (e, 1234);
    archive_entry_set_gid (e, 5678);
    archive_entry_set_size (e, 2);
    archive_entry_xattr_add_entry (e, "user.veil", "v1", 2);
    archive_entry_xattr_add_entry (e, "trusted.overlay.opaque", "y", 1);
    tb_write (&t, e, "ok", 2);
  }
  {
    /* a name that is long but legal: pax path */
    char longname[300];
    memset (longname, 'n', 200);
    memcpy (longname + 200, "/", 2);
    memset (longname + 201, 'm', 90);
    longname[291] = 0;
    tb_file (&t, longname, 0644, "long");
  }
  tb_file (&t, "bin/tool", 04755, "#!/bin/true v2\n"); /* replaces, keeps the hardlink separate */
  veil_unpack_limits_t lim = { .same_owner = root, .portable_resolve = portable };
  veil_error_t *err = NULL;
  int ret = unpack_into (fx->root, tb_reader (&t), &lim, &err);
  if (ret < 0)
    fail_msg ("unpack: %s", err->msg);
  check_outside (fx);

  struct stat st = lst (fx->root, ".");
  assert_int_equal (st.st_mode & 07777, 0751);
  st = lst (fx->root, "etc");
  assert_true (S_ISDIR (st.st_mode));
  assert_int_equal (st.st_mode & 07777, 0755);
  assert_int_equal (st.st_mtim.tv_sec, MTIME); /* set after the children */
  _cleanup_free_ char *hosts = slurp (fx->root, "etc/hosts");
  assert_string_equal (hosts, "127.0.0.1 localhost\n");
  st = lst (fx->root, "etc/hosts");
  assert_int_equal (st.st_mode & 07777, 0644);
  assert_int_equal (st.st_mtim.tv_sec, MTIME);
  st = lst (fx->root, "bin/tool");
  /* setuid survives only as root giving the archived owner */
  assert_int_equal (st.st_mode & 07777, root ? 04755 : 0755);
  _cleanup_free_ char *tool = slurp (fx->root, "bin/tool");
  assert_string_equal (tool, "#!/bin/true v2\n");
  _cleanup_free_ char *tool2 = slurp (fx->root, "bin/tool2");
  assert_string_equal (tool2, "#!/bin/true\n");
  st = lst (fx->root, "bin/tool2");
  assert_int_equal (st.st_nlink, 1); /* its partner was replaced */
  st = lst (fx->root, "bin/sh");
  assert_true (S_ISLNK (st.st_mode));
  assert_int_equal (st.st_mtim.tv_sec, MTIME);
  char target[64];
  _cleanup_free_ char *shp = xasprintf ("%s/bin/abs", fx->root);
  ssize_t tl = readlink (shp, target, sizeof (target));
  assert_int_equal (tl, 10);
  assert_memory_equal (target, "/etc/hosts", 10);
  st = lst (fx->root, "ro");
  assert_int_equal (st.st_mode & 07777, 0555);
  _cleanup_free_ char *rof = slurp (fx->root, "ro/f");
  assert_string_equal (rof, "read only");
  st = lst (fx->root, "implicit/parent");
  assert_true (S_ISDIR (st.st_mode));
  st = lst (fx->root, "empty");
  assert_true (S_ISREG (st.st_mode) && st.st_size == 0);
  st = lst (fx->root, "fifo");
  assert_true (S_ISFIFO (st.st_mode));
  assert_int_equal (st.st_mode & 07777, 0644);
  st = lst (fx->root, "owned");
  assert_int_equal (st.st_mode & 07777, 0640);
  if (root)
    {
      assert_int_equal (st.st_uid, 1234);
      assert_int_equal (st.st_gid, 5678);
    }
  else
    print_message ("skip: ownership checks need root\n");
  _cleanup_free_ char *owned = xasprintf ("%s/owned", fx->root);
  char xv[8];
  ssize_t xl = lgetxattr (owned, "user.veil", xv, sizeof (xv));
  if (xl < 0 && errno == ENOTSUP)
    print_message ("skip: the filesystem of /tmp does not take user xattrs\n");
  else
    {
      assert_int_equal (xl, 2);
      assert_memory_equal (xv, "v1", 2);
    }
  /* overlayfs' own xattrs are never taken from a layer */
  assert_true (lgetxattr (owned, "trusted.overlay.opaque", xv, sizeof (xv)) < 0);
  char longname[300];
  memset (longname, 'n', 200);
  longname[200] = '/';
  memset (longname + 201, 'm', 90);
  longname[291] = 0;
  _cleanup_free_ char *lc = slurp (fx->root, longname);
  assert_string_equal (lc, "long");
}

static void
test_normal_tree (void **state)
{
  normal_tree (*state, false);
  normal_tree (*state, true);
}

static void
test_devices_allowed (void **state)
{
  fx_t *fx = *state;
  if (geteuid () != 0)
    {
      print_message ("skip: device nodes need root\n");
      return;
    }
  fx_reset_root (fx);
  tarb_t t;
  tb_init (&t);
  tb_node (&t, "dev/null", AE_IFCHR, 1, 3);
  tb_node (&t, "dev/loopx", AE_IFBLK, 7, 200);
  veil_unpack_limits_t lim = { .allow_devices = true };
  veil_error_t *err = NULL;
  if (unpack_into (fx->root, tb_reader (&t), &lim, &err) < 0)
    fail_msg ("unpack: %s", err->msg);
  struct stat st = lst (fx->root, "dev/null");
  assert_true (S_ISCHR (st.st_mode));
  assert_int_equal (major (st.st_rdev), 1);
  assert_int_equal (minor (st.st_rdev), 3);
  st = lst (fx->root, "dev/loopx");
  assert_true (S_ISBLK (st.st_mode));
  check_outside (fx);
}

/* ---- whiteouts ------------------------------------------------------------------ */

static void
lower_layer (fx_t *fx)
{
  tarb_t t;
  tb_init (&t);
  tb_dir (&t, "a", 0755);
  tb_file (&t, "a/x", 0644, "x");
  tb_file (&t, "a/y", 0644, "y");
  tb_file (&t, "a/sub/z", 0644, "z");
  tb_file (&t, "b/k", 0644, "k");
  tb_file (&t, "b/deep/k2", 0644, "k2");
  tb_file (&t, "c/keep", 0644, "c");
  tb_file (&t, "d/old", 0644, "old");
  tb_file (&t, "d/sub/old2", 0644, "old2");
  tb_file (&t, "g/lower", 0644, "lower");
  tb_symlink (&t, "lnk", "/a");
  veil_error_t *err = NULL;
  if (unpack_into (fx->root, tb_reader (&t), NULL, &err) < 0)
    fail_msg ("lower: %s", err->msg);
}

static void
whiteouts_in_place (fx_t *fx, bool portable)
{
  fx_reset_root (fx);
  lower_layer (fx);
  tarb_t t;
  tb_init (&t);
  tb_file (&t, "a/.wh.x", 0644, "");
  tb_dir (&t, "b", 0755);
  tb_file (&t, "b/.wh..wh..opq", 0644, "");
  tb_file (&t, "b/new", 0644, "new");
  tb_file (&t, ".wh.c", 0644, "");
  /* opaque after entries of the same layer: those stay */
  tb_dir (&t, "d", 0755);
  tb_file (&t, "d/new", 0644, "new");
  tb_file (&t, "d/sub/new2", 0644, "new2");
  tb_file (&t, "d/.wh..wh..opq", 0644, "");
  /* nothing below to hide: no directory appears */
  tb_file (&t, "e/.wh.nothing", 0644, "");
  /* a whiteout never hides an entry of its own layer */
  tb_file (&t, "f", 0644, "same layer");
  tb_file (&t, ".wh.f", 0644, "");
  /* through a symlink: resolved inside the root (lnk → /a) */
  tb_file (&t, "lnk/.wh.y", 0644, "");
  /* aufs metadata is ignored */
  tb_file (&t, ".wh..wh.plnk", 0644, "");
  /* whiteout then re-create: the new one wins */
  tb_file (&t, "g/.wh.lower", 0644, "");
  tb_file (&t, "g/lower", 0644, "upper");
  json_t *opaque = json_array ();
  veil_unpack_limits_t lim = { .portable_resolve = portable, .opaque_dirs = opaque };
  veil_error_t *err = NULL;
  if (unpack_into (fx->root, tb_reader (&t), &lim, &err) < 0)
    fail_msg ("upper: %s", err->msg);
  check_outside (fx);
  assert_false (exists (fx->root, "a/x"));
  assert_false (exists (fx->root, "a/y"));
  assert_true (exists (fx->root, "a/sub/z"));
  assert_false (exists (fx->root, "b/k"));
  assert_false (exists (fx->root, "b/deep"));
  assert_true (exists (fx->root, "b/new"));
  assert_false (exists (fx->root, "c"));
  assert_false (exists (fx->root, "d/old"));
  assert_false (exists (fx->root, "d/sub/old2"));
  assert_true (exists (fx->root, "d/new"));
  assert_true (exists (fx->root, "d/sub/new2"));
  assert_false (exists (fx->root, "e"));
  _cleanup_free_ char *f = slurp (fx->root, "f");
  assert_string_equal (f, "same layer");
  _cleanup_free_ char *g = slurp (fx->root, "g/lower");
  assert_string_equal (g, "upper");
  assert_false (exists (fx->root, ".wh.c"));
  assert_false (exists (fx->root, ".wh..wh.plnk"));
  assert_false (exists (fx->root, "b/.wh..wh..opq"));
  assert_int_equal (json_array_size (opaque), 2);
  assert_string_equal (json_string_value (json_array_get (opaque, 0)), "b");
  assert_string_equal (json_string_value (json_array_get (opaque, 1)), "d");
  json_decref (opaque);
}

static void
test_whiteouts_in_place (void **state)
{
  whiteouts_in_place (*state, false);
  whiteouts_in_place (*state, true);
}

static void
test_whiteouts_overlay (void **state)
{
  fx_t *fx = *state;
  fx_reset_root (fx);
  tarb_t t;
  tb_init (&t);
  tb_file (&t, "a/.wh.x", 0644, "");
  tb_dir (&t, "b", 0755);
  tb_file (&t, "b/.wh..wh..opq", 0644, "");
  tb_file (&t, "b/f", 0644, "f");
  tb_file (&t, "c", 0644, "same layer");
  tb_file (&t, ".wh.c", 0644, "");
  json_t *opaque = json_array ();
  veil_unpack_limits_t lim = { .overlay_whiteouts = true, .opaque_dirs = opaque };
  veil_error_t *err = NULL;
  int ret = unpack_into (fx->root, tb_reader (&t), &lim, &err);
  if (geteuid () != 0)
    {
      /* an unprivileged 0/0 mknod works on Linux ≥ 5.8 only */
      print_message ("skip: overlay whiteout checks need root (%s)\n", ret < 0 ? err->msg : "ok");
      veil_error_free (err);
      json_decref (opaque);
      return;
    }
  if (ret < 0)
    fail_msg ("unpack: %s", err->msg);
  check_outside (fx);
  struct stat st = lst (fx->root, "a/x");
  assert_true (S_ISCHR (st.st_mode));
  assert_int_equal (st.st_rdev, makedev (0, 0));
  assert_false (exists (fx->root, "a/.wh.x"));
  _cleanup_free_ char *b = xasprintf ("%s/b", fx->root);
  char v[4];
  ssize_t n = lgetxattr (b, "trusted.overlay.opaque", v, sizeof (v));
  assert_int_equal (n, 1);
  assert_int_equal (v[0], 'y');
  assert_true (exists (fx->root, "b/f"));
  assert_false (exists (fx->root, "b/.wh..wh..opq"));
  st = lst (fx->root, "c");
  assert_true (S_ISREG (st.st_mode));
  assert_int_equal (json_array_size (opaque), 1);
  assert_string_equal (json_string_value (json_array_get (opaque, 0)), "b");
  json_decref (opaque);
}

/* ---- hostile corpus --------------------------------------------------------------- */

typedef enum
{
  REFUSED,  /* must fail */
  CONFINED, /* may succeed; checked by the case */
} expect_t;

typedef struct
{
  const char *name;
  expect_t expect;
  const char *msg; /* part of the error message (REFUSED) */
  void (*build) (tarb_t *t, const fx_t *fx);
  veil_reader_t *(*raw) (const fx_t *fx); /* instead of build */
  void (*check) (const fx_t *fx);
  veil_unpack_limits_t lim;
} hostile_t;

/* "tmp/veil-unpack-XXXXXX/outside" for paths that mirror the real one */
static const char *
rel_outside (const fx_t *fx)
{
  return fx->outside + 1;
}

static void
b_dotdot (tarb_t *t, const fx_t *fx)
{
  (void) fx;
  tb_file (t, "../x", 0644, "pwned");
}

static void
b_abs (tarb_t *t, const fx_t *fx)
{
  _cleanup_free_ char *p = xasprintf ("%s/pwned", fx->outside);
  tb_file (t, p, 0644, "pwned"); /* leading "/" stripped: lands in root */
}

static void
c_abs (const fx_t *fx)
{
  _cleanup_free_ char *p = xasprintf ("%s/pwned", rel_outside (fx));
  assert_true (exists (fx->root, p));
}

static void
b_inner_dotdot (tarb_t *t, const fx_t *fx)
{
  (void) fx;
  tb_file (t, "a/../../x", 0644, "pwned");
}

static void
b_evil_root (tarb_t *t, const fx_t *fx)
{
  tb_symlink (t, "evil", "/");
  _cleanup_free_ char *p = xasprintf ("evil/%s/pwned", rel_outside (fx));
  tb_file (t, p, 0644, "pwned");
  _cleanup_free_ char *q = xasprintf ("evil/%s/sentinel", rel_outside (fx));
  tb_file (t, q, 0644, "pwned");
}

static void
c_evil_root (const fx_t *fx)
{
  _cleanup_free_ char *p = xasprintf ("%s/pwned", rel_outside (fx));
  assert_true (exists (fx->root, p));
}

static void
b_up (tarb_t *t, const fx_t *fx)
{
  (void) fx;
  tb_symlink (t, "up", "../../..");
  tb_file (t, "up/x", 0644, "pwned");
}

static void
b_up_dangling (tarb_t *t, const fx_t *fx)
{
  (void) fx;
  tb_symlink (t, "d/up2", "../../../../outside");
  tb_file (t, "d/up2/sentinel", 0644, "pwned");
}

static void
c_up (const fx_t *fx)
{
  assert_true (exists (fx->root, "x"));
}

static void
b_abs_link (tarb_t *t, const fx_t *fx)
{
  tb_symlink (t, "out", fx->outside);
  tb_file (t, "out/pwned", 0644, "pwned");
}

static void
b_abs_link_existing (tarb_t *t, const fx_t *fx)
{
  /* the mirror of outside exists in root: writes go there */
  _cleanup_free_ char *p = xasprintf ("%s/", rel_outside (fx));
  tb_dir (t, p, 0755);
  tb_symlink (t, "out", fx->outside);
  tb_file (t, "out/sentinel", 0644, "pwned");
}

static void
c_abs_link_existing (const fx_t *fx)
{
  _cleanup_free_ char *p = xasprintf ("%s/sentinel", rel_outside (fx));
  _cleanup_free_ char *s = slurp (fx->root, p);
  assert_string_equal (s, "pwned");
}

static void
b_hl_passwd (tarb_t *t, const fx_t *fx)
{
  (void) fx;
  tb_hardlink (t, "hl", "/etc/passwd");
}

static void
b_hl_dotdot (tarb_t *t, const fx_t *fx)
{
  (void) fx;
  tb_hardlink (t, "hl", "../outside/sentinel");
}

static void
b_hl_via_symlink (tarb_t *t, const fx_t *fx)
{
  tb_symlink (t, "evil", "/");
  _cleanup_free_ char *p = xasprintf ("evil/%s/sentinel", rel_outside (fx));
  tb_hardlink (t, "hl", p);
}

static void
b_hl_to_symlink (tarb_t *t, const fx_t *fx)
{
  tb_symlink (t, "s", fx->sentinel);
  tb_hardlink (t, "hl", "s");
}

static void
b_replace_by_symlink (tarb_t *t, const fx_t *fx)
{
  tb_file (t, "f", 0644, "first");
  tb_symlink (t, "f", fx->sentinel);
  tb_file (t, "f", 0644, "pwned");
}

static void
b_dir_replaced_by_symlink (tarb_t *t, const fx_t *fx)
{
  tb_dir (t, "d", 0755);
  tb_symlink (t, "d", fx->outside);
  tb_file (t, "d/sentinel", 0644, "pwned");
}

static void
c_replace_by_symlink (const fx_t *fx)
{
  struct stat st = lst (fx->root, "f");
  assert_true (S_ISREG (st.st_mode));
  _cleanup_free_ char *s = slurp (fx->root, "f");
  assert_string_equal (s, "pwned");
}

static void
b_dir_over_symlink (tarb_t *t, const fx_t *fx)
{
  tb_symlink (t, "d", fx->outside);
  tb_dir (t, "d", 0700);
  tb_file (t, "d/sentinel", 0644, "pwned");
}

static void
c_dir_over_symlink (const fx_t *fx)
{
  struct stat st = lst (fx->root, "d");
  assert_true (S_ISDIR (st.st_mode));
}

static void
b_chr (tarb_t *t, const fx_t *fx)
{
  (void) fx;
  tb_node (t, "null", AE_IFCHR, 1, 3);
}

static void
b_blk (tarb_t *t, const fx_t *fx)
{
  (void) fx;
  tb_node (t, "sda", AE_IFBLK, 8, 0);
}

static void
b_many (tarb_t *t, const fx_t *fx)
{
  (void) fx;
  for (int i = 0; i < 10000; i++)
    {
      char name[32];
      snprintf (name, sizeof (name), "f%05d", i);
      tb_file (t, name, 0644, "");
    }
}

static void
c_few (const fx_t *fx)
{
  (void) fx;
}

static void
b_big (tarb_t *t, const fx_t *fx)
{
  (void) fx;
  char *data = xmalloc (5001);
  memset (data, 'A', 5000);
  data[5000] = 0;
  tb_file (t, "big", 0644, data);
  free (data);
}

static void
b_sum_big (tarb_t *t, const fx_t *fx)
{
  (void) fx;
  char data[801];
  memset (data, 'A', 800);
  data[800] = 0;
  tb_file (t, "one", 0644, data);
  tb_file (t, "two", 0644, data);
}

static void
b_huge_path (tarb_t *t, const fx_t *fx)
{
  (void) fx;
  /* a 1 MiB pax path header */
  size_t n = 1 << 20;
  char *p = xmalloc (n + 1);
  for (size_t i = 0; i < n; i++)
    p[i] = (i % 100 == 99) ? '/' : 'p';
  p[n] = 0;
  tb_file (t, p, 0644, "pwned");
  free (p);
}

static void
b_long_component (tarb_t *t, const fx_t *fx)
{
  (void) fx;
  char p[400];
  memset (p, 'c', 300);
  p[300] = 0;
  tb_file (t, p, 0644, "x");
}

static void
b_huge_attr (tarb_t *t, const fx_t *fx)
{
  (void) fx;
  /* an 8 MiB xattr in the pax header */
  size_t n = 8u << 20;
  char *v = xcalloc (1, n);
  struct archive_entry *e = tb_entry ("xf", AE_IFREG, 0644);
  archive_entry_xattr_add_entry (e, "user.huge", v, n);
  tb_write (t, e, NULL, 0);
  free (v);
}

static void
b_dot_file (tarb_t *t, const fx_t *fx)
{
  (void) fx;
  tb_file (t, "./", 0644, "root as a file");
}

static void
b_loop (tarb_t *t, const fx_t *fx)
{
  (void) fx;
  tb_symlink (t, "l1", "l2");
  tb_symlink (t, "l2", "l1");
  tb_file (t, "l1/x", 0644, "x");
}

static void
b_wh_escape (tarb_t *t, const fx_t *fx)
{
  tb_symlink (t, "evil", "/");
  _cleanup_free_ char *p = xasprintf ("evil/%s/.wh.sentinel", rel_outside (fx));
  tb_file (t, p, 0644, "");
  _cleanup_free_ char *q = xasprintf ("evil/%s/.wh..wh..opq", rel_outside (fx));
  tb_file (t, q, 0644, "");
  tb_file (t, "evil/.wh..wh..opq", 0644, "");
  tb_symlink (t, "out", fx->outside);
  tb_file (t, "out/.wh.sentinel", 0644, "");
  tb_file (t, "out/.wh..wh..opq", 0644, "");
}

static void
b_wh_dotdot (tarb_t *t, const fx_t *fx)
{
  (void) fx;
  tb_file (t, "a/../.wh.outside", 0644, "");
}

static void
b_wh_invalid (tarb_t *t, const fx_t *fx)
{
  (void) fx;
  tb_file (t, "a/.wh.", 0644, "");
}

static void
b_sneaky_xattr (tarb_t *t, const fx_t *fx)
{
  (void) fx;
  struct archive_entry *e = tb_entry ("d", AE_IFDIR, 0755);
  archive_entry_xattr_add_entry (e, "trusted.overlay.opaque", "y", 1);
  archive_entry_xattr_add_entry (e, "trusted.overlay.redirect", "/etc", 4);
  archive_entry_xattr_add_entry (e, "security.selinux", "x", 1);
  tb_write (t, e, NULL, 0);
}

static void
c_sneaky_xattr (const fx_t *fx)
{
  _cleanup_free_ char *d = xasprintf ("%s/d", fx->root);
  char v[8];
  assert_true (lgetxattr (d, "trusted.overlay.opaque", v, sizeof (v)) < 0);
  assert_true (lgetxattr (d, "trusted.overlay.redirect", v, sizeof (v)) < 0);
}

/* pax "path" value with a NUL inside: the name must not be cut into
 * something that escapes, nor reach the filesystem with the NUL */
static veil_reader_t *
r_nul_pax (const fx_t *fx)
{
  (void) fx;
  static const char val[] = "x\0/../../../pwned";
  veil_buf_t rec = { 0 }, tar = { 0 };
  size_t body = strlen (" path=") + sizeof (val) - 1 + 1;
  size_t len = body + 2; /* two length digits */
  veil_buf_printf (&rec, "%zu path=", len);
  veil_buf_append (&rec, val, sizeof (val) - 1);
  veil_buf_append (&rec, "\n", 1);
  assert_int_equal (rec.len, len);
  uint8_t h[512];
  raw_header (h, "PaxHeader/x", 11, 'x', rec.len);
  raw_append (&tar, h, 512);
  raw_append (&tar, rec.data, rec.len);
  raw_header (h, "placeholder", 11, '0', 5);
  raw_append (&tar, h, 512);
  raw_append (&tar, "pwned", 5);
  /* and a plain ustar name with a NUL inside */
  static const char name[] = "y\0/../../../pwned2";
  raw_header (h, name, sizeof (name) - 1, '0', 5);
  raw_append (&tar, h, 512);
  raw_append (&tar, "pwned", 5);
  static const uint8_t end[1024];
  veil_buf_append (&tar, end, sizeof (end));
  veil_reader_t *r = mem_reader (tar.data, tar.len);
  veil_buf_free (&rec);
  veil_buf_free (&tar);
  return r;
}

static void
c_nul (const fx_t *fx)
{
  assert_false (exists (fx->root, "pwned"));
  assert_false (exists (fx->root, "pwned2"));
}

static veil_reader_t *
r_truncated (const fx_t *fx)
{
  (void) fx;
  uint8_t h[512];
  raw_header (h, "t", 1, '0', 4096);
  veil_buf_t b = { 0 };
  veil_buf_append (&b, h, 512);
  veil_buf_append (&b, "only a little", 13);
  veil_reader_t *r = mem_reader (b.data, b.len);
  veil_buf_free (&b);
  return r;
}

static veil_reader_t *
r_garbage (const fx_t *fx)
{
  (void) fx;
  char junk[2048];
  for (size_t i = 0; i < sizeof (junk); i++)
    junk[i] = (char) (i * 7 + 3);
  return mem_reader (junk, sizeof (junk));
}

static veil_reader_t *
r_bad_checksum (const fx_t *fx)
{
  (void) fx;
  uint8_t h[1536] = { 0 };
  raw_header (h, "c", 1, '0', 0);
  h[148] = '7'; /* checksum off */
  return mem_reader (h, sizeof (h));
}

static const hostile_t hostile[] = {
  { "../x", REFUSED, "path escapes the root", b_dotdot, NULL, NULL, { 0 } },
  { "/abs", CONFINED, NULL, b_abs, NULL, c_abs, { 0 } },
  { "a/../../x", REFUSED, "entry 'a/../../x': path escapes the root", b_inner_dotdot, NULL, NULL, { 0 } },
  { "evil -> / then evil/…", CONFINED, NULL, b_evil_root, NULL, c_evil_root, { 0 } },
  { "up -> ../../.. then up/x", CONFINED, NULL, b_up, NULL, c_up, { 0 } },
  { "dangling ../ symlink then write", REFUSED, "dangling symlink", b_up_dangling, NULL, NULL, { 0 } },
  { "symlink to outside then write", REFUSED, "entry 'out/pwned'", b_abs_link, NULL, NULL, { 0 } },
  { "symlink to outside, mirror in root", CONFINED, NULL, b_abs_link_existing, NULL, c_abs_link_existing, { 0 } },
  { "hardlink to /etc/passwd", REFUSED, "hardlink target", b_hl_passwd, NULL, NULL, { 0 } },
  { "hardlink to ../outside", REFUSED, "path escapes the root", b_hl_dotdot, NULL, NULL, { 0 } },
  { "hardlink through a symlink", REFUSED, "hardlink target", b_hl_via_symlink, NULL, NULL, { 0 } },
  { "hardlink to a symlink", REFUSED, "not a regular file", b_hl_to_symlink, NULL, NULL, { 0 } },
  { "file replaced by a symlink then written", CONFINED, NULL, b_replace_by_symlink, NULL, c_replace_by_symlink, { 0 } },
  { "dir replaced by a symlink then written", REFUSED, "entry 'd/sentinel'", b_dir_replaced_by_symlink, NULL, NULL, { 0 } },
  { "directory over a symlink", CONFINED, NULL, b_dir_over_symlink, NULL, c_dir_over_symlink, { 0 } },
  { "char device", REFUSED, "device nodes are refused", b_chr, NULL, NULL, { 0 } },
  { "block device", REFUSED, "device nodes are refused", b_blk, NULL, NULL, { 0 } },
  { "10,000 entries over a limit of 100", REFUSED, "more than 100 entries", b_many, NULL, c_few, { .max_entries = 100 } },
  { "file bigger than max_bytes", REFUSED, "exceeds 1000 bytes", b_big, NULL, NULL, { .max_bytes = 1000 } },
  { "files adding up over max_bytes", REFUSED, "exceeds 1000 bytes", b_sum_big, NULL, NULL, { .max_bytes = 1000 } },
  { "1 MiB pax path", REFUSED, "", b_huge_path, NULL, NULL, { 0 } },
  { "component over NAME_MAX", REFUSED, "path component longer", b_long_component, NULL, NULL, { 0 } },
  { "8 MiB pax xattr", CONFINED, NULL, b_huge_attr, NULL, NULL, { 0 } },
  { "root as a file", REFUSED, "unpack", b_dot_file, NULL, NULL, { 0 } },
  { "symlink loop", REFUSED, "too many symlinks", b_loop, NULL, NULL, { 0 } },
  { "whiteouts through symlinks", CONFINED, NULL, b_wh_escape, NULL, NULL, { 0 } },
  { "whiteout with ..", REFUSED, "path escapes the root", b_wh_dotdot, NULL, NULL, { 0 } },
  { "empty whiteout", REFUSED, "invalid whiteout", b_wh_invalid, NULL, NULL, { 0 } },
  { "overlay xattrs in a layer", CONFINED, NULL, b_sneaky_xattr, NULL, c_sneaky_xattr, { 0 } },
  { "NUL in names", CONFINED, NULL, NULL, r_nul_pax, c_nul, { 0 } },
  { "truncated tar", REFUSED, "", NULL, r_truncated, NULL, { 0 } },
  { "not a tar", REFUSED, "", NULL, r_garbage, NULL, { 0 } },
  { "bad header checksum", REFUSED, "", NULL, r_bad_checksum, NULL, { 0 } },
};

static void
run_hostile (fx_t *fx, bool portable)
{
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (hostile); i++)
    {
      const hostile_t *h = &hostile[i];
      fx_reset_root (fx);
      veil_reader_t *r;
      if (h->raw)
        r = h->raw (fx);
      else
        {
          tarb_t t;
          tb_init (&t);
          h->build (&t, fx);
          r = tb_reader (&t);
        }
      veil_unpack_limits_t lim = h->lim;
      lim.portable_resolve = portable;
      veil_error_t *err = NULL;
      int ret = unpack_into (fx->root, r, &lim, &err);
      if (h->expect == REFUSED)
        {
          if (ret == 0)
            fail_msg ("%s (%s): accepted", h->name, portable ? "walk" : "openat2");
          assert_non_null (err);
          if (!strstr (err->msg, h->msg))
            fail_msg ("%s: message '%s' lacks '%s'", h->name, err->msg, h->msg);
          assert_true (strncmp (err->msg, "unpack", 6) == 0);
        }
      else if (ret < 0)
        print_message ("  %s: refused (%s)\n", h->name, err->msg);
      veil_error_free (err);
      check_outside (fx);
      uint8_t *d = NULL;
      size_t n;
      assert_int_equal (veil_file_read (fx->sentinel, 100, &d, &n, NULL), 0);
      assert_string_equal ((char *) d, "sentinel\n");
      free (d);
      if (h->check && ret == 0)
        h->check (fx);
    }
}

static void
test_hostile_openat2 (void **state)
{
  run_hostile (*state, false);
}

static void
test_hostile_walk (void **state)
{
  run_hostile (*state, true);
}

static void
test_entry_limit_counts (void **state)
{
  /* the 10,000-entry layer stops at the limit: at most 100 files made */
  fx_t *fx = *state;
  fx_reset_root (fx);
  tarb_t t;
  tb_init (&t);
  b_many (&t, fx);
  veil_unpack_limits_t lim = { .max_entries = 100 };
  veil_error_t *err = NULL;
  assert_true (unpack_into (fx->root, tb_reader (&t), &lim, &err) < 0);
  assert_int_equal (err->code, E2BIG);
  veil_error_free (err);
  DIR *d = opendir (fx->root);
  size_t count = 0;
  struct dirent *de;
  while ((de = readdir (d)))
    count++;
  closedir (d);
  assert_true (count <= 100 + 2);
}

static void
test_through_gzip (void **state)
{
  /* the pipeline as used: decompress reader → unpack; the reader's finish
   * sees the whole stream (padding after the end-of-archive blocks) */
  fx_t *fx = *state;
  fx_reset_root (fx);
  tarb_t t;
  tb_init (&t);
  tb_file (&t, "hello", 0644, "world");
  assert_int_equal (archive_write_close (t.a), ARCHIVE_OK);
  archive_write_free (t.a);
  uint8_t md[VEIL_SHA256_LEN];
  veil_sha256 (t.mem, t.used, md);
  _cleanup_free_ char *hex = veil_hex_encode (md, sizeof (md));
  _cleanup_free_ char *diff_id = xasprintf ("sha256:%s", hex);
  veil_reader_t *plain = mem_reader (t.mem, t.used);
  munmap (t.mem, TAR_CAP);
  veil_error_t *err = NULL;
  veil_reader_t *r = veil_reader_decompress (plain, VEIL_MT_OCI_LAYER, diff_id, 0, &err);
  assert_non_null (r);
  int fd = open (fx->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  assert_int_equal (veil_unpack_tar (r, fd, NULL, &err), 0);
  close (fd);
  assert_string_equal (veil_reader_decompress_diff_id (r), diff_id);
  assert_int_equal (r->finish (r, &err), 0);
  r->free (r);
  _cleanup_free_ char *s = slurp (fx->root, "hello");
  assert_string_equal (s, "world");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_normal_tree, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown (test_devices_allowed, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown (test_whiteouts_in_place, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown (test_whiteouts_overlay, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown (test_hostile_openat2, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown (test_hostile_walk, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown (test_entry_limit_counts, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown (test_through_gzip, fx_setup, fx_teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
