/* Files: bounded reads, atomic writes, directories. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include "veil/base.h"

int
veil_file_read (const char *path, size_t max_len, uint8_t **out, size_t *out_len, veil_error_t **err)
{
  _cleanup_close_ int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return veil_error_set (err, errno, "%s: %s", path, strerror (errno));
  veil_buf_t b = { 0 };
  uint8_t chunk[65536];
  for (;;)
    {
      ssize_t n = read (fd, chunk, sizeof (chunk));
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int e = errno;
          veil_buf_free (&b);
          return veil_error_set (err, e, "%s: read: %s", path, strerror (e));
        }
      if (n == 0)
        break;
      if (b.len + (size_t) n > max_len)
        {
          veil_buf_free (&b);
          return veil_error_set (err, E2BIG, "%s: larger than %zu bytes", path, max_len);
        }
      veil_buf_append (&b, chunk, (size_t) n);
    }
  *out_len = b.len;
  *out = b.data ? b.data : xcalloc (1, 1);
  return 0;
}

int
veil_file_write_atomic (const char *path, const void *data, size_t len, int mode, veil_error_t **err)
{
  _cleanup_free_ char *tmp = xasprintf ("%s.tmp.%d", path, (int) getpid ());
  _cleanup_close_ int fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0)
    return veil_error_set (err, errno, "%s: %s", tmp, strerror (errno));
  const uint8_t *p = data;
  size_t left = len;
  while (left)
    {
      ssize_t n = write (fd, p, left);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int e = errno;
          unlink (tmp);
          return veil_error_set (err, e, "%s: write: %s", tmp, strerror (e));
        }
      p += n;
      left -= (size_t) n;
    }
  if (fsync (fd) < 0 || rename (tmp, path) < 0)
    {
      int e = errno;
      unlink (tmp);
      return veil_error_set (err, e, "%s: %s", path, strerror (e));
    }
  return 0;
}

int
veil_mkdir_p (const char *path, int mode, veil_error_t **err)
{
  _cleanup_free_ char *p = xstrdup (path);
  for (char *s = p + 1; *s; s++)
    {
      if (*s != '/')
        continue;
      *s = 0;
      if (mkdir (p, (mode_t) mode) < 0 && errno != EEXIST)
        return veil_error_set (err, errno, "mkdir %s: %s", p, strerror (errno));
      *s = '/';
    }
  if (mkdir (p, (mode_t) mode) < 0 && errno != EEXIST)
    return veil_error_set (err, errno, "mkdir %s: %s", p, strerror (errno));
  return 0;
}

int
veil_parse_i64 (const char *s, int64_t min, int64_t max, int64_t *out, veil_error_t **err)
{
  if (!s || !*s)
    return veil_error_set (err, EINVAL, "empty number");
  char *end = NULL;
  errno = 0;
  long long v = strtoll (s, &end, 10);
  if (errno || *end || v < min || v > max)
    return veil_error_set (err, EINVAL, "'%s' is not an integer in [%lld, %lld]", s,
                           (long long) min, (long long) max);
  *out = v;
  return 0;
}

uint64_t
veil_now_mono_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}

int64_t
veil_now_unix (void)
{
  return (int64_t) time (NULL);
}
