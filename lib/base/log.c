/* Structured logging: logfmt lines on stderr. */
#include <stdio.h>
#include <strings.h>
#include <time.h>
#include "veil/base.h"

static veil_log_level_t min_level = VEIL_LOG_INFO;
static const char *const level_names[] = { "debug", "info", "warn", "error" };

void
veil_log_set_level (veil_log_level_t level)
{
  min_level = level;
}

void
veil_log_init_from_env (void)
{
  const char *v = secure_getenv ("VEIL_LOG_LEVEL");
  if (!v)
    return;
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (level_names); i++)
    if (strcasecmp (v, level_names[i]) == 0)
      min_level = (veil_log_level_t) i;
}

bool
veil_log_enabled (veil_log_level_t level)
{
  return level >= min_level;
}

/* Quote a value for logfmt: escape quotes, backslashes and control bytes so
 * a hostile string cannot forge log fields or lines. */
static void
put_quoted (veil_buf_t *b, const char *s)
{
  veil_buf_append_str (b, "\"");
  for (; *s; s++)
    {
      unsigned char c = (unsigned char) *s;
      if (c == '"' || c == '\\')
        veil_buf_printf (b, "\\%c", c);
      else if (c < 0x20 || c == 0x7f)
        veil_buf_printf (b, "\\x%02x", c);
      else
        veil_buf_append (b, &c, 1);
    }
  veil_buf_append_str (b, "\"");
}

void
veil_log (veil_log_level_t level, const char *module, const char *msg, const char *kvfmt, ...)
{
  if (level < min_level)
    return;
  struct timespec ts;
  struct tm tm;
  clock_gettime (CLOCK_REALTIME, &ts);
  gmtime_r (&ts.tv_sec, &tm);
  _cleanup_buf_ veil_buf_t b = { 0 };
  veil_buf_printf (&b, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s module=%s msg=",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                   tm.tm_sec, ts.tv_nsec / 1000000, level_names[level], module);
  put_quoted (&b, msg);
  if (kvfmt && strcmp (kvfmt, "-") != 0)
    {
      va_list ap;
      va_start (ap, kvfmt);
      _cleanup_free_ char *kv = xvasprintf (kvfmt, ap);
      va_end (ap);
      veil_buf_append_str (&b, " ");
      /* key=value pairs: control bytes never reach the log verbatim */
      for (char *p = kv; *p; p++)
        if ((unsigned char) *p < 0x20)
          *p = '?';
      veil_buf_append_str (&b, kv);
    }
  veil_buf_append_str (&b, "\n");
  fwrite (b.data, 1, b.len, stderr);
  fflush (stderr);
}
