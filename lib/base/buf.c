/* Growable byte buffers. */
#include <stdio.h>
#include "veil/base.h"

static void
buf_reserve (veil_buf_t *b, size_t extra)
{
  if (b->len + extra + 1 <= b->cap)
    return;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < b->len + extra + 1)
    cap *= 2;
  b->data = xrealloc (b->data, cap);
  b->cap = cap;
}

void
veil_buf_append (veil_buf_t *b, const void *p, size_t n)
{
  buf_reserve (b, n);
  if (n)
    memcpy (b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = 0;
}

void
veil_buf_append_str (veil_buf_t *b, const char *s)
{
  veil_buf_append (b, s, strlen (s));
}

void
veil_buf_printf (veil_buf_t *b, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  _cleanup_free_ char *s = xvasprintf (fmt, ap);
  va_end (ap);
  veil_buf_append_str (b, s);
}

char *
veil_buf_cstr (veil_buf_t *b)
{
  buf_reserve (b, 0);
  b->data[b->len] = 0;
  return (char *) b->data;
}

void
veil_buf_free (veil_buf_t *b)
{
  free (b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

void
veil_buf_wipe (veil_buf_t *b)
{
  veil_wipe (b->data, b->cap);
  veil_buf_free (b);
}
