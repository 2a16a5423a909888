/* Safe extraction of an OCI layer (a tar stream) into a directory.
 *
 * A layer is hostile input: names with "..", absolute names, symlinks that
 * point outside and are then written through, hardlinks to files outside,
 * device nodes, bombs.  libarchive only parses; every placement is ours:
 *
 *  - names are normalised and any ".." component is refused;
 *  - the parent directory of every entry is opened with openat2(2)
 *    RESOLVE_IN_ROOT (Linux ≥ 5.6), so symlinks on the way are followed as if
 *    the root were "/" and cannot lead out; where openat2 is missing (ENOSYS,
 *    old kernels or seccomp filters) a component walk with O_NOFOLLOW does
 *    the same resolution by hand;
 *  - the entry itself is created with *at() calls relative to that parent
 *    and never follows a symlink at the last component (O_NOFOLLOW, O_EXCL,
 *    AT_SYMLINK_NOFOLLOW); an existing path is removed first.
 *
 * Whiteouts follow the OCI image-spec, layer.md "Whiteouts": ".wh.<name>"
 * hides <name> of the lower layers, ".wh..wh..opq" hides every lower entry
 * of its directory; both apply only to lower layers, never to entries of the
 * same layer, so the set of paths this layer created is tracked. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include "veil/image.h"

#define TAR_BUF (128 * 1024)
#define DEFAULT_MAX_BYTES (UINT64_C (16) << 30)
#define DEFAULT_MAX_ENTRIES UINT64_C (1000000)
/* symlinks followed while resolving one path (the kernel's own limit) */
#define MAX_SYMLINKS 40
/* directory depth for recursive removal: deeper than any tar name allows */
#define MAX_DEPTH (PATH_MAX / 2)
#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"

/* ---- path set ----------------------------------------------------------------- */

/* Open-addressing set of the paths this layer created (normalised). */
typedef struct
{
  char **slot;
  size_t cap, n;
} pathset_t;

static uint64_t
path_hash (const char *s)
{
  uint64_t h = UINT64_C (14695981039346656037); /* FNV-1a */
  for (; *s; s++)
    h = (h ^ (uint8_t) *s) * UINT64_C (1099511628211);
  return h;
}

static size_t
pathset_find (const pathset_t *ps, const char *s)
{
  size_t i = path_hash (s) & (ps->cap - 1);
  while (ps->slot[i] && strcmp (ps->slot[i], s) != 0)
    i = (i + 1) & (ps->cap - 1);
  return i;
}

static bool
pathset_has (const pathset_t *ps, const char *s)
{
  return ps->cap && ps->slot[pathset_find (ps, s)] != NULL;
}

static void
pathset_add (pathset_t *ps, const char *s)
{
  if (2 * (ps->n + 1) > ps->cap)
    {
      pathset_t bigger = { xcalloc (ps->cap ? 2 * ps->cap : 1024, sizeof (char *)),
                           ps->cap ? 2 * ps->cap : 1024, ps->n };
      for (size_t i = 0; i < ps->cap; i++)
        if (ps->slot[i])
          bigger.slot[pathset_find (&bigger, ps->slot[i])] = ps->slot[i];
      free (ps->slot);
      *ps = bigger;
    }
  size_t i = pathset_find (ps, s);
  if (!ps->slot[i])
    {
      ps->slot[i] = xstrdup (s);
      ps->n++;
    }
}

static void
pathset_clear (pathset_t *ps)
{
  for (size_t i = 0; i < ps->cap; i++)
    free (ps->slot[i]);
  free (ps->slot);
  memset (ps, 0, sizeof (*ps));
}

/* ---- state ---------------------------------------------------------------------- */

/* Directory metadata is applied at the end: creating children changes a
 * directory's mtime, and a read-only mode would stop us creating them. */
typedef struct
{
  char *path;
  dev_t dev;
  ino_t ino;
  mode_t mode;
  struct timespec times[2];
} dir_meta_t;

typedef struct
{
  int root_fd;
  uint64_t max_bytes, max_entries;
  bool same_owner, overlay, allow_devices, portable, is_root;
  json_t *opaque_dirs;
  uint64_t bytes, entries;
  pathset_t created;
  dir_meta_t *dirs;
  size_t n_dirs, cap_dirs;
  /* the last parent directory resolved, valid while nothing was removed */
  char *pcache_path;
  int pcache_fd;
  uint64_t gen, pcache_gen;
  struct archive *a;
  veil_reader_t *tar;
  veil_error_t *read_err;
  bool source_eof;   /* the tar stream returned its end */
  bool unterminated; /* it ended right after the last entry's data */
  uint8_t *buf;
} unpack_t;

/* Records path and its ancestors as this layer's: a directory this layer
 * puts entries in is part of the layer even without an entry of its own
 * (it is an upper directory in overlayfs terms). */
static void
mark_created (unpack_t *u, const char *path)
{
  _cleanup_free_ char *p = xstrdup (path);
  for (;;)
    {
      if (pathset_has (&u->created, p))
        return;
      pathset_add (&u->created, p);
      char *slash = strrchr (p, '/');
      if (!slash)
        return;
      *slash = '\0';
    }
}

/* ---- names ---------------------------------------------------------------------- */

/* A name as it can be shown in a message: control and non-ASCII bytes
 * escaped, long names cut, so a hostile name cannot forge log lines. */
static char *
display_name (const char *s)
{
  veil_buf_t b = { 0 };
  size_t i;
  for (i = 0; s[i] && i < 200; i++)
    {
      unsigned char c = (unsigned char) s[i];
      if (c < 0x20 || c >= 0x7f || c == '\'' || c == '\\')
        veil_buf_printf (&b, "\\x%02x", c);
      else
        veil_buf_append (&b, &s[i], 1);
    }
  if (s[i])
    veil_buf_append_str (&b, "...");
  return veil_buf_cstr (&b);
}

/* Normalises a tar name: leading "/" and "./" go, "." and empty components
 * go; ".." is refused outright (it is never needed in a layer, and refusing
 * it is simpler to get right than tracking depth).  "" is the root. */
static char *
normalise (const char *name, veil_error_t **err)
{
  size_t len = strlen (name);
  if (len == 0)
    {
      veil_error_set (err, EINVAL, "empty name");
      return NULL;
    }
  if (len >= PATH_MAX)
    {
      veil_error_set (err, ENAMETOOLONG, "name longer than %d bytes", PATH_MAX - 1);
      return NULL;
    }
  char *out = xmalloc (len + 1);
  size_t o = 0;
  const char *p = name;
  while (*p)
    {
      while (*p == '/')
        p++;
      const char *end = strchrnul (p, '/');
      size_t n = (size_t) (end - p);
      if (n == 0 || (n == 1 && p[0] == '.'))
        {
          p = end;
          continue;
        }
      if (n == 2 && p[0] == '.' && p[1] == '.')
        {
          free (out);
          veil_error_set (err, EPERM, "path escapes the root ('..' component)");
          return NULL;
        }
      if (n > NAME_MAX)
        {
          free (out);
          veil_error_set (err, ENAMETOOLONG, "path component longer than %d bytes", NAME_MAX);
          return NULL;
        }
      if (o)
        out[o++] = '/';
      memcpy (out + o, p, n);
      o += n;
      p = end;
    }
  out[o] = '\0';
  return out;
}

/* Splits "a/b/c" into parent "a/b" (written into path) and leaf "c". */
static const char *
split_leaf (char *path)
{
  char *slash = strrchr (path, '/');
  if (!slash)
    return path;
  *slash = '\0';
  return slash + 1;
}

static char *
join_path (const char *dir, const char *name)
{
  return *dir ? xasprintf ("%s/%s", dir, name) : xstrdup (name);
}

/* ---- resolution inside the root ------------------------------------------------- */

static int
openat2_in_root (int root_fd, const char *path)
{
  struct open_how how = {
    .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
    /* magic links (/proc/self/fd/…) jump anywhere: never follow them */
    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
  };
  for (int tries = 0;; tries++)
    {
      long fd = syscall (SYS_openat2, root_fd, path, &how, sizeof (how));
      /* EAGAIN: a concurrent rename raced a ".." step; the kernel asks us
       * to retry (openat2(2)) */
      if (fd < 0 && errno == EAGAIN && tries < 16)
        continue;
      return (int) fd;
    }
}

/* The same resolution as RESOLVE_IN_ROOT, by hand: one component at a
 * time with O_NOFOLLOW; a symlink's target is spliced into the remaining
 * path, an absolute target restarts at the root, ".." never climbs above
 * the root.  Returns an O_PATH directory fd or -1 with errno. */
static int
walk_in_root (int root_fd, const char *path)
{
  size_t cap = 16, depth = 0;
  int *stack = xmalloc (cap * sizeof (int));
  int ret = -1, saved = 0, links = 0;
  char *rest = xstrdup (path);
  size_t pos = 0;
  stack[depth++] = openat (root_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (stack[0] < 0)
    {
      saved = errno;
      depth = 0;
      goto out;
    }
  for (;;)
    {
      while (rest[pos] == '/')
        pos++;
      if (!rest[pos])
        break;
      size_t n = strcspn (rest + pos, "/");
      char name[NAME_MAX + 1];
      if (n > NAME_MAX)
        {
          saved = ENAMETOOLONG;
          goto out;
        }
      memcpy (name, rest + pos, n);
      name[n] = '\0';
      pos += n;
      if (!strcmp (name, "."))
        continue;
      if (!strcmp (name, ".."))
        {
          if (depth > 1)
            close (stack[--depth]);
          continue;
        }
      int fd = openat (stack[depth - 1], name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
      struct stat st;
      if (fd < 0 || fstat (fd, &st) < 0)
        {
          saved = errno;
          if (fd >= 0)
            close (fd);
          goto out;
        }
      if (S_ISLNK (st.st_mode))
        {
          char target[PATH_MAX];
          ssize_t tl = readlinkat (fd, "", target, sizeof (target) - 1);
          close (fd);
          if (tl <= 0 || ++links > MAX_SYMLINKS)
            {
              saved = tl < 0 ? errno : tl == 0 ? ENOENT
                                               : ELOOP;
              goto out;
            }
          target[tl] = '\0';
          if (strlen (rest + pos) + (size_t) tl + 2 > 2 * PATH_MAX)
            {
              saved = ENAMETOOLONG;
              goto out;
            }
          char *spliced = xasprintf ("%s/%s", target, rest + pos);
          free (rest);
          rest = spliced;
          pos = 0;
          if (target[0] == '/')
            while (depth > 1)
              close (stack[--depth]);
          continue;
        }
      if (!S_ISDIR (st.st_mode))
        {
          close (fd);
          saved = ENOTDIR;
          goto out;
        }
      if (depth == cap)
        stack = xrealloc (stack, (cap *= 2) * sizeof (int));
      stack[depth++] = fd;
    }
  ret = stack[--depth];
out:
  while (depth > 0)
    close (stack[--depth]);
  free (stack);
  free (rest);
  if (ret < 0)
    errno = saved;
  return ret;
}

/* An O_PATH fd of directory path ("" = the root) resolved inside the root,
 * or -1 with errno. */
static int
open_in_root (unpack_t *u, const char *path)
{
  if (!*path)
    return openat (u->root_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (!u->portable)
    {
      int fd = openat2_in_root (u->root_fd, path);
      if (fd >= 0 || errno != ENOSYS)
        return fd;
      u->portable = true;
    }
  return walk_in_root (u->root_fd, path);
}

static int
resolve_error (int e, const char *what, const char *path, veil_error_t **err)
{
  _cleanup_free_ char *shown = display_name (path);
  if (e == ELOOP)
    return veil_error_set (err, ELOOP, "%s '%s': too many symlinks", what, shown);
  if (e == ENOTDIR)
    return veil_error_set (err, ENOTDIR, "%s '%s' is not a directory", what, shown);
  return veil_error_set (err, e, "%s '%s': %s", what, shown, strerror (e));
}

/* Opens directory path inside the root; with create, missing directories
 * are made (0755, as tar does for parents the archive omits). */
static int
resolve_dir (unpack_t *u, const char *path, bool create, int *out, veil_error_t **err)
{
  int fd = open_in_root (u, path);
  if (fd >= 0)
    {
      *out = fd;
      return 0;
    }
  if (errno != ENOENT || !create)
    return resolve_error (errno, "directory", path, err);
  /* Some component is missing: walk the prefixes, making what is absent.
   * Each mkdirat is relative to a directory already resolved inside the
   * root, and names a single component that is not "..". */
  _cleanup_free_ char *prefix = xstrdup (path);
  _cleanup_close_ int prev = open_in_root (u, "");
  if (prev < 0)
    return resolve_error (errno, "directory", "", err);
  size_t len = strlen (path);
  for (size_t i = 0; i <= len; i++)
    {
      if (path[i] != '/' && path[i] != '\0')
        continue;
      prefix[i] = '\0';
      const char *comp = strrchr (prefix, '/');
      comp = comp ? comp + 1 : prefix;
      fd = open_in_root (u, prefix);
      if (fd < 0 && errno == ENOENT)
        {
          if (mkdirat (prev, comp, 0755) < 0)
            {
              if (errno == EEXIST)
                return veil_error_set (err, ENOTDIR, "directory '%s' is a dangling symlink", prefix);
              return resolve_error (errno, "mkdir", prefix, err);
            }
          mark_created (u, prefix);
          fd = openat (prev, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
      if (fd < 0)
        return resolve_error (errno, "directory", prefix, err);
      close (prev);
      prev = fd;
      prefix[i] = path[i];
    }
  *out = prev;
  prev = -1;
  return 0;
}

/* The parent directory of the current entry, cached across entries of one
 * directory; the cache is dropped whenever anything was removed, since a
 * removal is the only way an existing path can change meaning. */
static int
parent_fd (unpack_t *u, const char *path, int *out, veil_error_t **err)
{
  if (u->pcache_path && u->pcache_gen == u->gen && !strcmp (u->pcache_path, path))
    {
      *out = u->pcache_fd;
      return 0;
    }
  int fd;
  int ret = resolve_dir (u, path, true, &fd, err);
  if (ret < 0)
    return ret;
  if (u->pcache_fd >= 0)
    close (u->pcache_fd);
  free (u->pcache_path);
  u->pcache_path = xstrdup (path);
  u->pcache_fd = fd;
  u->pcache_gen = u->gen;
  *out = fd;
  return 0;
}

/* ---- removal -------------------------------------------------------------------- */

/* rm -rf of name in dfd, never following a symlink. */
static int
remove_tree (unpack_t *u, int dfd, const char *name, int depth, veil_error_t **err)
{
  struct stat st;
  u->gen++;
  if (fstatat (dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return errno == ENOENT ? 0 : veil_error_set (err, errno, "stat '%s': %s", name, strerror (errno));
  if (!S_ISDIR (st.st_mode))
    {
      if (unlinkat (dfd, name, 0) < 0 && errno != ENOENT)
        return veil_error_set (err, errno, "unlink '%s': %s", name, strerror (errno));
      return 0;
    }
  if (depth > MAX_DEPTH)
    return veil_error_set (err, ELOOP, "remove '%s': directories nested too deep", name);
  int cfd = openat (dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (cfd < 0)
    return veil_error_set (err, errno, "open '%s': %s", name, strerror (errno));
  DIR *d = fdopendir (cfd);
  if (!d)
    {
      close (cfd);
      return veil_error_set (err, errno, "opendir '%s': %s", name, strerror (errno));
    }
  int ret = 0;
  struct dirent *de;
  while (ret == 0 && (de = readdir (d)))
    {
      if (!strcmp (de->d_name, ".") || !strcmp (de->d_name, ".."))
        continue;
      ret = remove_tree (u, dirfd (d), de->d_name, depth + 1, err);
    }
  closedir (d);
  if (ret == 0 && unlinkat (dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
    ret = veil_error_set (err, errno, "rmdir '%s': %s", name, strerror (errno));
  return ret;
}

/* Removes from directory dfd (at layer path `path`) everything the lower
 * layers put there: entries this layer created stay, and directories this
 * layer created over lower ones are pruned the same way. */
static int
prune_lower (unpack_t *u, int dfd, const char *path, int depth, veil_error_t **err)
{
  if (depth > MAX_DEPTH)
    return veil_error_set (err, ELOOP, "prune '%s': directories nested too deep", path);
  int rfd = openat (dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (rfd < 0)
    return veil_error_set (err, errno, "open directory: %s", strerror (errno));
  DIR *d = fdopendir (rfd);
  if (!d)
    {
      close (rfd);
      return veil_error_set (err, errno, "opendir: %s", strerror (errno));
    }
  int ret = 0;
  struct dirent *de;
  while (ret == 0 && (de = readdir (d)))
    {
      if (!strcmp (de->d_name, ".") || !strcmp (de->d_name, ".."))
        continue;
      _cleanup_free_ char *child = join_path (path, de->d_name);
      if (!pathset_has (&u->created, child))
        {
          ret = remove_tree (u, dirfd (d), de->d_name, 0, err);
          continue;
        }
      int cfd = openat (dirfd (d), de->d_name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (cfd < 0)
        continue; /* not a directory: this layer's own file stays */
      ret = prune_lower (u, cfd, child, depth + 1, err);
      close (cfd);
    }
  closedir (d);
  return ret;
}

/* Makes room for a new entry at leaf: an existing directory stays when a
 * directory is wanted (tar merges them), anything else is removed, so that
 * nothing is ever written through what was there. */
static int
clear_leaf (unpack_t *u, int pfd, const char *leaf, bool want_dir, bool *is_dir, veil_error_t **err)
{
  struct stat st;
  *is_dir = false;
  if (fstatat (pfd, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0)
    {
      if (errno == ENOENT)
        return 0;
      return veil_error_set (err, errno, "stat: %s", strerror (errno));
    }
  if (want_dir && S_ISDIR (st.st_mode))
    {
      *is_dir = true;
      return 0;
    }
  return remove_tree (u, pfd, leaf, 0, err);
}

/* ---- metadata ------------------------------------------------------------------- */

/* Which xattrs a layer may set.  user.* always; security.capability and
 * trusted.* only as root (others cannot set them anyway).  Never
 * trusted.overlay.* / user.overlay.*: they are overlayfs' own metadata
 * (whiteouts, opaque, redirect, metacopy) and a layer that forged them could
 * make the stacked image show something else than its layers say. */
static bool
xattr_allowed (const unpack_t *u, const char *name)
{
  if (!strncmp (name, "trusted.overlay.", 16) || !strncmp (name, "user.overlay.", 13))
    return false;
  if (!strncmp (name, "user.", 5))
    return true;
  if (!u->is_root)
    return false;
  return !strcmp (name, "security.capability") || !strncmp (name, "trusted.", 8);
}

static int
apply_xattrs (unpack_t *u, int fd, struct archive_entry *e, veil_error_t **err)
{
  const char *name;
  const void *value;
  size_t size;
  archive_entry_xattr_reset (e);
  while (archive_entry_xattr_next (e, &name, &value, &size) == ARCHIVE_OK)
    {
      if (!name || !xattr_allowed (u, name))
        {
          _cleanup_free_ char *shown = display_name (name ? name : "");
          veil_log_debug ("image", "unpack: xattr skipped", "name='%s'", shown);
          continue;
        }
      if (fsetxattr (fd, name, value, size, 0) < 0)
        {
          _cleanup_free_ char *shown = display_name (name);
          if (errno == ENOTSUP)
            {
              veil_log_warn ("image", "unpack: the filesystem does not take this xattr", "name='%s'", shown);
              continue;
            }
          return veil_error_set (err, errno, "xattr '%s': %s", shown, strerror (errno));
        }
    }
  return 0;
}

static void
entry_times (struct archive_entry *e, struct timespec ts[2])
{
  ts[0].tv_nsec = ts[1].tv_nsec = UTIME_OMIT;
  ts[0].tv_sec = ts[1].tv_sec = 0;
  if (archive_entry_atime_is_set (e))
    ts[0] = (struct timespec){ archive_entry_atime (e), archive_entry_atime_nsec (e) };
  if (archive_entry_mtime_is_set (e))
    ts[1] = (struct timespec){ archive_entry_mtime (e), archive_entry_mtime_nsec (e) };
  for (int i = 0; i < 2; i++)
    if (ts[i].tv_nsec != UTIME_OMIT && (ts[i].tv_nsec < 0 || ts[i].tv_nsec > 999999999))
      ts[i].tv_nsec = 0;
  if (ts[0].tv_nsec == UTIME_OMIT)
    ts[0] = ts[1];
}

/* The permission bits to apply: setuid/setgid only survive when we are
 * root and give the file its archived owner; otherwise they would grant the
 * unpacking user's identity to whatever runs the file. */
static mode_t
entry_perm (const unpack_t *u, struct archive_entry *e)
{
  mode_t m = archive_entry_perm (e) & 07777;
  if (!(u->is_root && u->same_owner) && archive_entry_filetype (e) != AE_IFDIR)
    m &= ~(mode_t) (S_ISUID | S_ISGID);
  return m;
}

static int
entry_owner (struct archive_entry *e, uid_t *uid, gid_t *gid, veil_error_t **err)
{
  la_int64_t u = archive_entry_uid (e), g = archive_entry_gid (e);
  /* (uid_t) -1 means "leave unchanged" to chown: refuse it as an owner */
  if (u < 0 || u >= UINT32_MAX || g < 0 || g >= UINT32_MAX)
    return veil_error_set (err, ERANGE, "uid/gid %" PRId64 "/%" PRId64 " out of range",
                           (int64_t) u, (int64_t) g);
  *uid = (uid_t) u;
  *gid = (gid_t) g;
  return 0;
}

/* ---- entries -------------------------------------------------------------------- */

static int
do_dir (unpack_t *u, int pfd, const char *leaf, const char *path, struct archive_entry *e,
        veil_error_t **err)
{
  bool exists;
  int ret = clear_leaf (u, pfd, leaf, true, &exists, err);
  if (ret < 0)
    return ret;
  /* owner-only until the end, so we can still create the children */
  if (!exists && mkdirat (pfd, leaf, 0700) < 0)
    return veil_error_set (err, errno, "mkdir: %s", strerror (errno));
  _cleanup_close_ int fd = openat (pfd, leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat (fd, &st) < 0)
    return veil_error_set (err, errno, "open directory: %s", strerror (errno));
  if (u->same_owner)
    {
      uid_t uid;
      gid_t gid;
      if (entry_owner (e, &uid, &gid, err) < 0)
        return -ERANGE;
      if (fchown (fd, uid, gid) < 0)
        return veil_error_set (err, errno, "chown: %s", strerror (errno));
    }
  ret = apply_xattrs (u, fd, e, err);
  if (ret < 0)
    return ret;
  if (u->n_dirs == u->cap_dirs)
    {
      u->cap_dirs = u->cap_dirs ? 2 * u->cap_dirs : 256;
      u->dirs = xrealloc (u->dirs, u->cap_dirs * sizeof (*u->dirs));
    }
  dir_meta_t *m = &u->dirs[u->n_dirs++];
  m->path = xstrdup (path);
  m->dev = st.st_dev;
  m->ino = st.st_ino;
  m->mode = entry_perm (u, e);
  entry_times (e, m->times);
  return 0;
}

static int
write_all (int fd, const uint8_t *p, size_t n, off_t off)
{
  while (n > 0)
    {
      ssize_t w = pwrite (fd, p, n, off);
      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0)
        return -(w < 0 ? errno : EIO);
      p += w;
      n -= (size_t) w;
      off += w;
    }
  return 0;
}

static int
archive_fail (unpack_t *u, const char *what, veil_error_t **err)
{
  if (u->read_err)
    {
      veil_error_t *e = steal_pointer (&u->read_err);
      return veil_error_propagate (err, e);
    }
  const char *msg = archive_error_string (u->a);
  int code = archive_errno (u->a);
  return veil_error_set (err, code > 0 ? code : EBADMSG, "%s: %s", what, msg ? msg : "malformed tar");
}

static int
do_file (unpack_t *u, int pfd, const char *leaf, struct archive_entry *e, veil_error_t **err)
{
  if (archive_entry_size_is_set (e))
    {
      la_int64_t size = archive_entry_size (e);
      if (size < 0 || (uint64_t) size > u->max_bytes - u->bytes)
        return veil_error_set (err, E2BIG, "layer exceeds %" PRIu64 " bytes of file data", u->max_bytes);
    }
  bool unused;
  int ret = clear_leaf (u, pfd, leaf, false, &unused, err);
  if (ret < 0)
    return ret;
  _cleanup_close_ int fd = openat (pfd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return veil_error_set (err, errno, "create: %s", strerror (errno));
  off_t end = 0;
  for (;;)
    {
      const void *blk;
      size_t len;
      la_int64_t off;
      int r = archive_read_data_block (u->a, &blk, &len, &off);
      if (r == ARCHIVE_EOF)
        break;
      /* umoci 0.4 (and other Go tar writers never closed) end a layer right
       * after the last file's data: no padding to 512 bytes, no
       * end-of-archive blocks.  When every byte of the entry arrived and
       * the stream itself ended, that is the end of the layer, as Go's tar
       * reader (umoci, containerd) takes it; the digests below this reader
       * vouch for the bytes either way. */
      if (r < ARCHIVE_WARN && u->source_eof && archive_entry_size_is_set (e) && end == archive_entry_size (e))
        {
          u->unterminated = true;
          break;
        }
      if (r < ARCHIVE_WARN)
        return archive_fail (u, "read data", err);
      if (off < 0 || len > u->max_bytes - u->bytes)
        return veil_error_set (err, E2BIG, "layer exceeds %" PRIu64 " bytes of file data", u->max_bytes);
      u->bytes += len;
      ret = write_all (fd, blk, len, (off_t) off);
      if (ret < 0)
        return veil_error_set (err, -ret, "write: %s", strerror (-ret));
      if ((off_t) (off + len) > end)
        end = (off_t) (off + len);
    }
  /* a sparse file may end in a hole */
  if (archive_entry_size_is_set (e) && archive_entry_size (e) > end
      && ftruncate (fd, (off_t) archive_entry_size (e)) < 0)
    return veil_error_set (err, errno, "truncate: %s", strerror (errno));
  if (u->same_owner)
    {
      uid_t uid;
      gid_t gid;
      if (entry_owner (e, &uid, &gid, err) < 0)
        return -ERANGE;
      if (fchown (fd, uid, gid) < 0)
        return veil_error_set (err, errno, "chown: %s", strerror (errno));
    }
  /* after chown, which clears setuid bits and security.capability */
  if (fchmod (fd, entry_perm (u, e)) < 0)
    return veil_error_set (err, errno, "chmod: %s", strerror (errno));
  ret = apply_xattrs (u, fd, e, err);
  if (ret < 0)
    return ret;
  struct timespec ts[2];
  entry_times (e, ts);
  if (futimens (fd, ts) < 0)
    return veil_error_set (err, errno, "utimens: %s", strerror (errno));
  return 0;
}

/* chown/utimes of a path that must not be followed if it is a symlink. */
static int
set_meta_nofollow (unpack_t *u, int pfd, const char *leaf, struct archive_entry *e, veil_error_t **err)
{
  if (u->same_owner)
    {
      uid_t uid;
      gid_t gid;
      if (entry_owner (e, &uid, &gid, err) < 0)
        return -ERANGE;
      if (fchownat (pfd, leaf, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
        return veil_error_set (err, errno, "chown: %s", strerror (errno));
    }
  struct timespec ts[2];
  entry_times (e, ts);
  if (utimensat (pfd, leaf, ts, AT_SYMLINK_NOFOLLOW) < 0)
    return veil_error_set (err, errno, "utimens: %s", strerror (errno));
  return 0;
}

static int
do_symlink (unpack_t *u, int pfd, const char *leaf, struct archive_entry *e, veil_error_t **err)
{
  /* The target is only data here: whatever it says, later paths through
   * it are resolved inside the root. */
  const char *target = archive_entry_symlink (e);
  if (!target || !*target)
    return veil_error_set (err, EINVAL, "symlink without a target");
  if (strlen (target) >= PATH_MAX)
    return veil_error_set (err, ENAMETOOLONG, "symlink target longer than %d bytes", PATH_MAX - 1);
  bool unused;
  int ret = clear_leaf (u, pfd, leaf, false, &unused, err);
  if (ret < 0)
    return ret;
  if (symlinkat (target, pfd, leaf) < 0)
    return veil_error_set (err, errno, "symlink: %s", strerror (errno));
  return set_meta_nofollow (u, pfd, leaf, e, err);
}

static int
do_node (unpack_t *u, int pfd, const char *leaf, struct archive_entry *e, veil_error_t **err)
{
  mode_t type = archive_entry_filetype (e);
  if (type != AE_IFIFO && !(u->allow_devices && u->is_root))
    return veil_error_set (err, EPERM, "device nodes are refused (%s %u:%u)",
                           type == AE_IFCHR ? "char" : "block",
                           (unsigned) archive_entry_rdevmajor (e), (unsigned) archive_entry_rdevminor (e));
  bool unused;
  int ret = clear_leaf (u, pfd, leaf, false, &unused, err);
  if (ret < 0)
    return ret;
  dev_t dev = type == AE_IFIFO ? 0 : makedev (archive_entry_rdevmajor (e), archive_entry_rdevminor (e));
  if (mknodat (pfd, leaf, (type == AE_IFIFO ? S_IFIFO : type == AE_IFCHR ? S_IFCHR
                                                                         : S_IFBLK)
                              | 0600,
               dev)
      < 0)
    return veil_error_set (err, errno, "mknod: %s", strerror (errno));
  ret = set_meta_nofollow (u, pfd, leaf, e, err);
  if (ret < 0)
    return ret;
  /* glibc implements AT_SYMLINK_NOFOLLOW through O_PATH and /proc; without
   * /proc fall back to a plain fchmodat of the node we just made */
  if (fchmodat (pfd, leaf, entry_perm (u, e), AT_SYMLINK_NOFOLLOW) < 0
      && fchmodat (pfd, leaf, entry_perm (u, e), 0) < 0)
    return veil_error_set (err, errno, "chmod: %s", strerror (errno));
  return 0;
}

static int
do_hardlink (unpack_t *u, int pfd, const char *leaf, const char *path, const char *link,
             veil_error_t **err)
{
  _cleanup_free_ char *target = normalise (link, err);
  if (!target)
    return veil_error_wrap (err, "hardlink target");
  _cleanup_free_ char *shown = display_name (target);
  if (!*target || !strcmp (target, path))
    return veil_error_set (err, EINVAL, "hardlink to '%s' refused", shown);
  _cleanup_free_ char *tdir = xstrdup (target);
  const char *tleaf = split_leaf (tdir);
  if (tleaf == tdir)
    {
      tleaf = target;
      tdir[0] = '\0';
    }
  _cleanup_close_ int tfd = -1;
  if (resolve_dir (u, tdir, false, &tfd, err) < 0)
    return veil_error_wrap (err, "hardlink target '%s'", shown);
  struct stat st;
  if (fstatat (tfd, tleaf, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return veil_error_set (err, errno, "hardlink target '%s': %s", shown, strerror (errno));
  /* Only regular files: a link to a directory is impossible, to a device
   * it would copy a node we refused, and to a symlink it is never needed. */
  if (!S_ISREG (st.st_mode))
    return veil_error_set (err, EPERM, "hardlink target '%s' is not a regular file", shown);
  bool unused;
  int ret = clear_leaf (u, pfd, leaf, false, &unused, err);
  if (ret < 0)
    return ret;
  if (linkat (tfd, tleaf, pfd, leaf, 0) < 0)
    return veil_error_set (err, errno, "hardlink to '%s': %s", shown, strerror (errno));
  return 0;
}

static int
mark_opaque (unpack_t *u, const char *dir, veil_error_t **err)
{
  if (u->opaque_dirs)
    json_array_append_new (u->opaque_dirs, json_string (dir));
  if (!u->overlay)
    {
      /* in place: what the lower layers put here goes now */
      _cleanup_close_ int fd = -1;
      if (resolve_dir (u, dir, false, &fd, err) < 0)
        {
          if ((*err)->code != ENOENT)
            return -(*err)->code;
          veil_error_free (steal_pointer (err));
          return 0;
        }
      return prune_lower (u, fd, dir, 0, err);
    }
  /* overlayfs (Documentation/filesystems/overlayfs.rst, "whiteouts and
   * opaque directories"): a directory with trusted.overlay.opaque=y hides
   * the lower layers' entries below it.  Setting trusted.* needs root;
   * otherwise the caller has opaque_dirs. */
  _cleanup_close_ int fd = -1;
  int ret = resolve_dir (u, dir, true, &fd, err);
  if (ret < 0 || !u->is_root)
    return ret;
  _cleanup_close_ int rfd = openat (fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (rfd < 0 || fsetxattr (rfd, "trusted.overlay.opaque", "y", 1, 0) < 0)
    return veil_error_set (err, errno, "mark opaque: %s", strerror (errno));
  return 0;
}

static int
do_whiteout (unpack_t *u, const char *dir, const char *leaf, veil_error_t **err)
{
  if (!strcmp (leaf, WH_OPAQUE))
    return mark_opaque (u, dir, err);
  const char *name = leaf + strlen (WH_PREFIX);
  if (!strncmp (leaf, WH_PREFIX WH_PREFIX, 2 * strlen (WH_PREFIX)))
    return 0; /* aufs metadata (.wh..wh.plnk, .wh..wh.aufs): no meaning in OCI */
  if (!*name || !strcmp (name, ".") || !strcmp (name, ".."))
    return veil_error_set (err, EINVAL, "invalid whiteout");
  _cleanup_free_ char *path = join_path (dir, name);
  /* layer.md: whiteouts apply only to lower layers; an entry of this layer
   * with the same name stays */
  bool same_layer = pathset_has (&u->created, path);
  if (u->overlay)
    {
      if (same_layer)
        return 0;
      int pfd;
      int ret = parent_fd (u, dir, &pfd, err);
      bool unused;
      if (ret == 0)
        ret = clear_leaf (u, pfd, name, false, &unused, err);
      if (ret < 0)
        return ret;
      /* overlayfs: a whiteout is a character device 0/0 */
      if (mknodat (pfd, name, S_IFCHR | 0000, makedev (0, 0)) < 0)
        return veil_error_set (err, errno, "whiteout: mknod 0/0: %s", strerror (errno));
      return 0;
    }
  _cleanup_close_ int dfd = -1;
  if (resolve_dir (u, dir, false, &dfd, err) < 0)
    {
      int code = (*err)->code;
      if (code != ENOENT && code != ENOTDIR)
        return -code;
      veil_error_free (steal_pointer (err));
      return 0; /* nothing below to hide */
    }
  if (!same_layer)
    return remove_tree (u, dfd, name, 0, err);
  _cleanup_close_ int cfd = openat (dfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  return cfd < 0 ? 0 : prune_lower (u, cfd, path, 0, err);
}

static const char *
entry_name (struct archive_entry *e)
{
  /* raw bytes first: the filesystem takes bytes, and the locale of the
   * process must not change what a layer unpacks to */
  const char *s = archive_entry_pathname (e);
  return s ? s : archive_entry_pathname_utf8 (e);
}

static int
unpack_entry (unpack_t *u, struct archive_entry *e, const char *name, veil_error_t **err)
{
  _cleanup_free_ char *path = normalise (name, err);
  if (!path)
    return -(*err)->code;
  mode_t type = archive_entry_filetype (e);
  const char *link = archive_entry_hardlink (e);
  if (!*path)
    {
      /* "./": the root itself; only its metadata can be set */
      if (link || type != AE_IFDIR)
        return veil_error_set (err, EPERM, "the root can only be a directory");
      return do_dir (u, u->root_fd, ".", "", e, err);
    }
  _cleanup_free_ char *dir = xstrdup (path);
  const char *leaf = split_leaf (dir);
  if (leaf == dir)
    {
      leaf = path;
      dir[0] = '\0';
    }
  if (!strncmp (leaf, WH_PREFIX, strlen (WH_PREFIX)))
    return do_whiteout (u, dir, leaf, err);
  int pfd;
  int ret = parent_fd (u, dir, &pfd, err);
  if (ret < 0)
    return ret;
  if (link)
    ret = do_hardlink (u, pfd, leaf, path, link, err);
  else
    switch (type)
      {
      case AE_IFDIR:
        ret = do_dir (u, pfd, leaf, path, e, err);
        break;
      case AE_IFREG:
        ret = do_file (u, pfd, leaf, e, err);
        break;
      case AE_IFLNK:
        ret = do_symlink (u, pfd, leaf, e, err);
        break;
      case AE_IFIFO:
      case AE_IFCHR:
      case AE_IFBLK:
        ret = do_node (u, pfd, leaf, e, err);
        break;
      default:
        ret = veil_error_set (err, ENOTSUP, "unsupported entry type 0%o", (unsigned) type);
        break;
      }
  if (ret == 0)
    mark_created (u, path);
  return ret;
}

/* Deferred directory modes and times, once every child exists.  Each
 * directory is re-resolved inside the root and must still be the very
 * inode we made (a later entry may have replaced it). */
static int
finish_dirs (unpack_t *u, veil_error_t **err)
{
  for (size_t i = 0; i < u->n_dirs; i++)
    {
      dir_meta_t *m = &u->dirs[i];
      _cleanup_close_ int pfd = open_in_root (u, m->path);
      if (pfd < 0)
        continue; /* removed or replaced by a later entry */
      _cleanup_close_ int fd = openat (pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      struct stat st;
      if (fd < 0 || fstat (fd, &st) < 0 || st.st_dev != m->dev || st.st_ino != m->ino)
        continue;
      if (fchmod (fd, m->mode) < 0 || futimens (fd, m->times) < 0)
        {
          _cleanup_free_ char *shown = display_name (m->path);
          return veil_error_set (err, errno, "unpack: directory '%s': %s", shown, strerror (errno));
        }
    }
  return 0;
}

static la_ssize_t
tar_read (struct archive *a, void *ctx, const void **buf)
{
  unpack_t *u = ctx;
  ssize_t n = u->tar->read (u->tar, u->buf, TAR_BUF, &u->read_err);
  if (n < 0)
    {
      archive_set_error (a, (int) -n, "%s", u->read_err ? u->read_err->msg : "read failed");
      return -1;
    }
  if (n == 0)
    u->source_eof = true;
  *buf = u->buf;
  return n;
}

static void
unpack_clear (unpack_t *u)
{
  if (u->a)
    archive_read_free (u->a);
  pathset_clear (&u->created);
  for (size_t i = 0; i < u->n_dirs; i++)
    free (u->dirs[i].path);
  free (u->dirs);
  free (u->pcache_path);
  if (u->pcache_fd >= 0)
    close (u->pcache_fd);
  veil_error_free (u->read_err);
  free (u->buf);
}

static int
unpack_run (unpack_t *u, veil_error_t **err)
{
  u->a = archive_read_new ();
  if (!u->a)
    abort ();
  /* tar only (ustar, pax, GNU, v7) and no filters: decompression is the
   * reader's business, where it is bounded and hashed */
  archive_read_support_format_tar (u->a);
  if (archive_read_open (u->a, u, NULL, tar_read, NULL) != ARCHIVE_OK)
    return archive_fail (u, "unpack", err);
  for (;;)
    {
      struct archive_entry *e;
      int r = archive_read_next_header (u->a, &e);
      if (r == ARCHIVE_EOF)
        break;
      if (r < ARCHIVE_WARN)
        return archive_fail (u, u->entries ? "unpack: after the last good entry" : "unpack", err);
      if (++u->entries > u->max_entries)
        return veil_error_set (err, E2BIG, "unpack: layer has more than %" PRIu64 " entries", u->max_entries);
      const char *name = entry_name (e);
      if (!name)
        {
          const char *why = archive_error_string (u->a);
          return veil_error_set (err, EBADMSG, "unpack: entry %" PRIu64 " has no name%s%s", u->entries,
                                 why ? ": " : "", why ? why : "");
        }
      if (r == ARCHIVE_WARN)
        {
          _cleanup_free_ char *shown = display_name (name);
          const char *why = archive_error_string (u->a);
          veil_log_warn ("image", "unpack: tar warning", "entry='%s' warning='%s'", shown, why ? why : "");
        }
      if (unpack_entry (u, e, name, err) < 0)
        {
          _cleanup_free_ char *shown = display_name (name);
          return veil_error_wrap (err, "unpack: entry '%s'", shown);
        }
      if (u->unterminated)
        break;
    }
  /* Read what follows the end-of-archive blocks (record padding) so the
   * digest and HMAC checks of the readers below see the whole stream. */
  for (;;)
    {
      ssize_t n = u->tar->read (u->tar, u->buf, TAR_BUF, err);
      if (n < 0)
        return veil_error_wrap (err, "unpack: after the end of the archive");
      if (n == 0)
        break;
    }
  return finish_dirs (u, err);
}

int
veil_unpack_tar (veil_reader_t *tar, int root_fd, const veil_unpack_limits_t *lim,
                 veil_error_t **err)
{
  unpack_t u = {
    .root_fd = root_fd,
    .is_root = geteuid () == 0,
    .pcache_fd = -1,
    .tar = tar,
  };
  u.max_bytes = lim && lim->max_bytes ? lim->max_bytes : DEFAULT_MAX_BYTES;
  u.max_entries = lim && lim->max_entries ? lim->max_entries : DEFAULT_MAX_ENTRIES;
  u.same_owner = lim ? lim->same_owner : u.is_root;
  u.overlay = lim && lim->overlay_whiteouts;
  u.allow_devices = lim && lim->allow_devices;
  u.portable = lim && lim->portable_resolve;
  u.opaque_dirs = lim && json_is_array (lim->opaque_dirs) ? lim->opaque_dirs : NULL;
  struct stat st;
  if (fstat (root_fd, &st) < 0 || !S_ISDIR (st.st_mode))
    return veil_error_set (err, ENOTDIR, "unpack: the target is not a directory");
  u.buf = xmalloc (TAR_BUF);
  /* internally err is never NULL: errors are inspected on the way */
  veil_error_t *local = NULL;
  int ret = unpack_run (&u, &local);
  unpack_clear (&u);
  if (ret < 0)
    return veil_error_propagate (err, local ? local : NULL);
  veil_error_free (local);
  return 0;
}
