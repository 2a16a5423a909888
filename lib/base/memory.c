/* Allocation that aborts on failure, and wiped secret allocations. */
#include <stdio.h>
#include "veil/base.h"

static void
oom (void)
{
  fputs ("veil: out of memory\n", stderr);
  abort ();
}

void *
xmalloc (size_t n)
{
  void *p = malloc (n ? n : 1);
  if (!p)
    oom ();
  return p;
}

void *
xcalloc (size_t n, size_t size)
{
  void *p = calloc (n ? n : 1, size ? size : 1);
  if (!p)
    oom ();
  return p;
}

void *
xrealloc (void *p, size_t n)
{
  void *q = realloc (p, n ? n : 1);
  if (!q)
    oom ();
  return q;
}

char *
xstrdup (const char *s)
{
  char *p = strdup (s ? s : "");
  if (!p)
    oom ();
  return p;
}

char *
xstrndup (const char *s, size_t n)
{
  char *p = strndup (s, n);
  if (!p)
    oom ();
  return p;
}

void *
xmemdup (const void *p, size_t n)
{
  void *q = xmalloc (n + 1);
  if (n)
    memcpy (q, p, n);
  ((char *) q)[n] = 0;
  return q;
}

char *
xvasprintf (const char *fmt, va_list ap)
{
  char *s = NULL;
  if (vasprintf (&s, fmt, ap) < 0)
    oom ();
  return s;
}

char *
xasprintf (const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  char *s = xvasprintf (fmt, ap);
  va_end (ap);
  return s;
}

void
veil_wipe (void *p, size_t n)
{
  if (p && n)
    explicit_bzero (p, n);
}

/* A secret allocation is [size_t size][padding to 16][data...]. */
#define SECRET_HDR 16

void *
veil_secret_alloc (size_t n)
{
  uint8_t *base = xcalloc (1, SECRET_HDR + n + 1);
  memcpy (base, &n, sizeof (n));
  return base + SECRET_HDR;
}

void *
veil_secret_dup (const void *p, size_t n)
{
  uint8_t *s = veil_secret_alloc (n);
  if (n)
    memcpy (s, p, n);
  return s;
}

size_t
veil_secret_size (const void *p)
{
  size_t n;
  memcpy (&n, (const uint8_t *) p - SECRET_HDR, sizeof (n));
  return n;
}

void
veil_secret_free (void *p)
{
  if (!p)
    return;
  uint8_t *base = (uint8_t *) p - SECRET_HDR;
  size_t n = veil_secret_size (p);
  explicit_bzero (base, SECRET_HDR + n + 1);
  free (base);
}
