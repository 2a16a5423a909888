/* veil_error_t: one error type threaded through everything. */
#include <stdio.h>
#include "veil/base.h"

static int error_vset (veil_error_t **err, int code, const char *fmt, va_list ap)
    __attribute__ ((format (printf, 3, 0)));

static int
error_vset (veil_error_t **err, int code, const char *fmt, va_list ap)
{
  if (code <= 0)
    code = EINVAL;
  if (!err)
    return -code;
  if (*err)
    veil_error_free (*err);
  veil_error_t *e = xcalloc (1, sizeof (*e));
  e->code = code;
  e->msg = xvasprintf (fmt, ap);
  *err = e;
  return -code;
}

int
veil_error_set (veil_error_t **err, int code, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  int r = error_vset (err, code, fmt, ap);
  va_end (ap);
  return r;
}

int
veil_error_wrap (veil_error_t **err, const char *fmt, ...)
{
  if (!err || !*err)
    return -EINVAL;
  va_list ap;
  va_start (ap, fmt);
  _cleanup_free_ char *ctx = xvasprintf (fmt, ap);
  va_end (ap);
  char *msg = xasprintf ("%s: %s", ctx, (*err)->msg);
  free ((*err)->msg);
  (*err)->msg = msg;
  return -(*err)->code;
}

int
veil_error_propagate (veil_error_t **dst, veil_error_t *src)
{
  int code = src ? src->code : EINVAL;
  if (dst)
    {
      if (*dst)
        veil_error_free (*dst);
      *dst = src;
    }
  else
    {
      veil_error_free (src);
    }
  return -code;
}

void
veil_error_free (veil_error_t *e)
{
  if (!e)
    return;
  free (e->msg);
  free (e);
}

void
veil_error_freep (veil_error_t **e)
{
  veil_error_free (*e);
  *e = NULL;
}
