/* The OCI runtime bundle config (runtime-spec config.json) for an image:
 * runc's default Linux spec filled from the image config (image-spec
 * config.md "Properties"; runtime-spec config.md, config-linux.md). */
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <sys/syscall.h>
#include "veil/image.h"

#define PASSWD_MAX (1 << 20)
#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Opens rootfs/etc/<name> without ever leaving the rootfs: openat2 with
 * RESOLVE_IN_ROOT, or on older kernels refusing any symlink on the way. */
static int
open_in_rootfs (int rootfs_fd, const char *rel)
{
  struct open_how how = { .flags = O_RDONLY | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
  long fd = syscall (SYS_openat2, rootfs_fd, rel, &how, sizeof (how));
  if (fd >= 0 || errno != ENOSYS)
    return (int) fd;
  _cleanup_close_ int etc = openat (rootfs_fd, "etc", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (etc < 0)
    return -1;
  return openat (etc, strrchr (rel, '/') + 1, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
}

static char *
read_rootfs_file (int rootfs_fd, const char *rel)
{
  _cleanup_close_ int fd = open_in_rootfs (rootfs_fd, rel);
  if (fd < 0)
    return NULL;
  veil_buf_t b = { 0 };
  char chunk[8192];
  ssize_t n;
  while ((n = read (fd, chunk, sizeof (chunk))) > 0 && b.len + (size_t) n <= PASSWD_MAX)
    veil_buf_append (&b, chunk, (size_t) n);
  return b.data ? veil_buf_cstr (&b) : xstrdup ("");
}

/* Field 0 is the name; ids are fields 2 (and 3 for passwd's primary gid). */
static bool
lookup_db (const char *db, const char *name, int64_t *id, int64_t *gid)
{
  for (const char *line = db; line && *line;)
    {
      const char *end = strchr (line, '\n');
      size_t len = end ? (size_t) (end - line) : strlen (line);
      _cleanup_free_ char *l = xstrndup (line, len);
      char *f[4] = { 0 };
      char *p = l;
      for (int i = 0; i < 4; i++)
        {
          f[i] = strsep (&p, ":");
          if (!f[i])
            break;
        }
      if (f[0] && f[2] && !strcmp (f[0], name) && veil_parse_i64 (f[2], 0, UINT32_MAX, id, NULL) == 0)
        {
          if (gid && !(f[3] && veil_parse_i64 (f[3], 0, UINT32_MAX, gid, NULL) == 0))
            *gid = *id;
          return true;
        }
      line = end ? end + 1 : NULL;
    }
  return false;
}

/* User: "", "uid", "uid:gid", "name", "name:group" and mixtures. */
static int
resolve_user (const char *user, int rootfs_fd, int64_t *uid, int64_t *gid, veil_error_t **err)
{
  *uid = 0;
  *gid = 0;
  if (!user || !*user)
    return 0;
  _cleanup_free_ char *u = xstrdup (user);
  char *g = strchr (u, ':');
  if (g)
    *g++ = 0;
  bool have_gid = false;
  if (veil_parse_i64 (u, 0, UINT32_MAX, uid, NULL) < 0)
    {
      _cleanup_free_ char *passwd = read_rootfs_file (rootfs_fd, "etc/passwd");
      if (!passwd || !lookup_db (passwd, u, uid, gid))
        return veil_error_set (err, ENOENT, "image config: user '%s' is not in the image's /etc/passwd", u);
      have_gid = true;
    }
  if (g && *g)
    {
      if (veil_parse_i64 (g, 0, UINT32_MAX, gid, NULL) < 0)
        {
          _cleanup_free_ char *group = read_rootfs_file (rootfs_fd, "etc/group");
          if (!group || !lookup_db (group, g, gid, NULL))
            return veil_error_set (err, ENOENT, "image config: group '%s' is not in the image's /etc/group", g);
        }
    }
  else if (!have_gid)
    {
      /* a numeric uid alone: its primary group if /etc/passwd names it */
      _cleanup_free_ char *passwd = read_rootfs_file (rootfs_fd, "etc/passwd");
      *gid = 0;
      for (const char *line = passwd; line && *line;)
        {
          unsigned long lu, lg;
          if (sscanf (line, "%*[^:]:%*[^:]:%lu:%lu:", &lu, &lg) == 2 && (int64_t) lu == *uid)
            {
              *gid = (int64_t) lg;
              break;
            }
          line = strchr (line, '\n');
          line = line ? line + 1 : NULL;
        }
    }
  return 0;
}

static json_t *
string_array (const json_t *a)
{
  json_t *out = json_array ();
  size_t i;
  json_t *v;
  json_array_foreach (a, i, v)
  {
    if (json_is_string (v))
      json_array_append (out, v);
  }
  return out;
}

static json_t *
default_mounts (void)
{
  return json_pack (
      "[{s:s,s:s,s:s}, {s:s,s:s,s:s,s:[s,s,s,s]}, {s:s,s:s,s:s,s:[s,s,s,s,s,s]},"
      " {s:s,s:s,s:s,s:[s,s,s,s,s]}, {s:s,s:s,s:s,s:[s,s,s]}, {s:s,s:s,s:s,s:[s,s,s,s]}]",
      "destination", "/proc", "type", "proc", "source", "proc",
      "destination", "/dev", "type", "tmpfs", "source", "tmpfs", "options", "nosuid", "strictatime", "mode=755", "size=65536k",
      "destination", "/dev/pts", "type", "devpts", "source", "devpts", "options", "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5",
      "destination", "/dev/shm", "type", "tmpfs", "source", "shm", "options", "nosuid", "noexec", "nodev", "mode=1777", "size=65536k",
      "destination", "/dev/mqueue", "type", "mqueue", "source", "mqueue", "options", "nosuid", "noexec", "nodev",
      "destination", "/sys", "type", "sysfs", "source", "sysfs", "options", "nosuid", "noexec", "nodev", "ro");
}

json_t *
veil_image_runtime_spec (const json_t *image_config, int rootfs_fd, veil_error_t **err)
{
  const json_t *c = json_object_get (image_config, "config");
  if (c && !json_is_object (c))
    {
      veil_error_set (err, EBADMSG, "image config: 'config' is not an object");
      return NULL;
    }
  _cleanup_json_ json_t *args = json_array ();
  json_t *ep = json_object_get (c, "Entrypoint"), *cmd = json_object_get (c, "Cmd");
  if (json_is_array (ep))
    {
      json_t *sa = string_array (ep);
      json_array_extend (args, sa);
      json_decref (sa);
    }
  if (json_is_array (cmd))
    {
      json_t *sa = string_array (cmd);
      json_array_extend (args, sa);
      json_decref (sa);
    }
  if (json_array_size (args) == 0)
    json_array_append_new (args, json_string ("sh"));
  json_t *env = json_object_get (c, "Env");
  _cleanup_json_ json_t *envs = json_is_array (env) ? string_array (env) : json_array ();
  bool has_path = false;
  size_t i;
  json_t *v;
  json_array_foreach (envs, i, v)
  {
    has_path |= !strncmp (json_string_value (v), "PATH=", 5);
  }
  if (!has_path)
    json_array_insert_new (envs, 0, json_string (DEFAULT_PATH));
  const char *cwd = veil_json_str (c, "WorkingDir");
  int64_t uid = 0, gid = 0;
  if (resolve_user (veil_json_str (c, "User"), rootfs_fd, &uid, &gid, err) < 0)
    return NULL;
  return json_pack (
      "{s:s, s:{s:b, s:{s:I, s:I}, s:O, s:O, s:s, s:[{s:s, s:I, s:I}], s:b},"
      " s:{s:s, s:b}, s:s, s:o,"
      " s:{s:[{s:s},{s:s},{s:s},{s:s},{s:s}], s:[s,s,s,s,s,s,s,s,s], s:[s,s,s,s,s,s]}}",
      "ociVersion", "1.0.2",
      "process", "terminal", 0, "user", "uid", (json_int_t) uid, "gid", (json_int_t) gid,
      "args", args, "env", envs, "cwd", cwd && *cwd ? cwd : "/",
      "rlimits", "type", "RLIMIT_NOFILE", "hard", (json_int_t) 1024, "soft", (json_int_t) 1024,
      "noNewPrivileges", 1,
      "root", "path", "rootfs", "readonly", 0,
      "hostname", "veil",
      "mounts", default_mounts (),
      "linux", "namespaces", "type", "pid", "type", "network", "type", "ipc", "type", "uts", "type", "mount",
      "maskedPaths", "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
      "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
      "readonlyPaths", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", "/proc/scsi");
}
