/* Kubernetes resource quantities, Go durations and DNS label checks, as the
 * Kubernetes API machinery defines them (k8s.io/apimachinery
 * pkg/api/resource/quantity.go, pkg/util/validation/validation.go). */
#include <math.h>

#include "internal.h"

/* More significant digits than this are refused rather than rounded, so
 * that mantissa × 2^60 fits in 128 bits. */
#define MAX_SIG_DIGITS 19
#define MAX_EXPONENT 100

typedef struct suffix
{
  const char *s;
  int exp10;
  int exp2;
} suffix_t;

static const suffix_t suffixes[] = {
  { "Ki", 0, 10 },
  { "Mi", 0, 20 },
  { "Gi", 0, 30 },
  { "Ti", 0, 40 },
  { "Pi", 0, 50 },
  { "Ei", 0, 60 },
  { "n", -9, 0 },
  { "u", -6, 0 },
  { "m", -3, 0 },
  { "", 0, 0 },
  { "k", 3, 0 },
  { "M", 6, 0 },
  { "G", 9, 0 },
  { "T", 12, 0 },
  { "P", 15, 0 },
  { "E", 18, 0 },
};

static int
bad_quantity (veil_error_t **err, const char *s)
{
  return veil_error_set (err, EINVAL, "'%.64s' is not a quantity (e.g. 128Mi, 1Gi, 500m, 0.5)", s);
}

/* Parse the suffix or decimal exponent in p into *exp10 / *exp2. */
static int
quantity_suffix (const char *s, const char *p, int *exp10, int *exp2, veil_error_t **err)
{
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (suffixes); i++)
    if (strcmp (p, suffixes[i].s) == 0)
      {
        *exp10 += suffixes[i].exp10;
        *exp2 = suffixes[i].exp2;
        return 0;
      }
  if (*p != 'e' && *p != 'E')
    return bad_quantity (err, s);
  int64_t e = 0;
  if (veil_parse_i64 (p + 1, -MAX_EXPONENT, MAX_EXPONENT, &e, NULL) < 0 || !(p[1] == '+' || p[1] == '-' || (p[1] >= '0' && p[1] <= '9')))
    return bad_quantity (err, s);
  *exp10 += (int) e;
  *exp2 = 0;
  return 0;
}

/* value × 10^scale10, rounded up. */
static int
quantity_parse (const char *s, int scale10, int64_t *out, veil_error_t **err)
{
  const char *p = s;
  if (*p == '-')
    return veil_error_set (err, EINVAL, "'%.64s' must be greater than or equal to 0", s);
  if (*p == '+')
    p++;
  unsigned __int128 m = 0;
  int exp10 = scale10, exp2 = 0, sig = 0, digits = 0;
  bool frac = false;
  for (; (*p >= '0' && *p <= '9') || (*p == '.' && !frac); p++)
    {
      if (*p == '.')
        {
          frac = true;
          continue;
        }
      digits++;
      if (m == 0 && *p == '0' && !frac)
        continue;
      if (++sig > MAX_SIG_DIGITS)
        return veil_error_set (err, EINVAL, "'%.64s' has too many digits", s);
      m = m * 10 + (unsigned) (*p - '0');
      if (frac)
        exp10--;
    }
  if (digits == 0)
    return bad_quantity (err, s);
  int r = quantity_suffix (s, p, &exp10, &exp2, err);
  if (r < 0)
    return r;
  m <<= exp2;
  const unsigned __int128 max = INT64_MAX;
  if (exp10 < 0)
    {
      if (exp10 < -38)
        m = m ? 1 : 0;
      else
        {
          unsigned __int128 d = 1;
          for (int i = 0; i < -exp10; i++)
            d *= 10;
          m = m / d + (m % d ? 1 : 0);
        }
    }
  for (int i = 0; i < exp10 && m; i++)
    {
      m *= 10;
      if (m > max)
        break;
    }
  if (m > max)
    return veil_error_set (err, ERANGE, "'%.64s' is too large", s);
  *out = (int64_t) m;
  return 0;
}

int
veil_service_quantity_bytes (const char *s, int64_t *out, veil_error_t **err)
{
  return quantity_parse (s, 0, out, err);
}

int
veil_service_quantity_millis (const char *s, int64_t *out, veil_error_t **err)
{
  return quantity_parse (s, 3, out, err);
}

static double
duration_unit (const char **p)
{
  static const struct
  {
    const char *u;
    double ns;
  } units[] = {
    { "ns", 1 },
    { "us", 1e3 },
    { "\xc2\xb5s", 1e3 },
    { "\xce\xbcs", 1e3 },
    { "ms", 1e6 },
    { "s", 1e9 },
    { "m", 60e9 },
    { "h", 3600e9 },
  };
  /* longest match first: "ms" before "m" */
  double best = 0;
  size_t best_len = 0;
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (units); i++)
    {
      size_t n = strlen (units[i].u);
      if (n > best_len && strncmp (*p, units[i].u, n) == 0)
        {
          best = units[i].ns;
          best_len = n;
        }
    }
  *p += best_len;
  return best;
}

int
veil_service_duration_ms (const char *s, int64_t *out, veil_error_t **err)
{
  if (strcmp (s, "0") == 0)
    {
      *out = 0;
      return 0;
    }
  const char *p = s;
  double total = 0;
  if (*p == '+')
    p++;
  if (*p == '\0')
    return veil_error_set (err, EINVAL, "'%.64s' is not a duration (e.g. 60s, 1m30s)", s);
  while (*p)
    {
      double v = 0, scale = 1;
      bool frac = false, any = false;
      for (; (*p >= '0' && *p <= '9') || (*p == '.' && !frac); p++)
        {
          if (*p == '.')
            {
              frac = true;
              continue;
            }
          any = true;
          if (frac)
            v += (scale /= 10) * (*p - '0');
          else
            v = v * 10 + (*p - '0');
        }
      double unit = duration_unit (&p);
      if (!any || unit == 0)
        return veil_error_set (err, EINVAL, "'%.64s' is not a duration (e.g. 60s, 1m30s)", s);
      total += v * unit;
      if (!(total < 1e18))
        return veil_error_set (err, ERANGE, "'%.64s' is too long", s);
    }
  *out = (int64_t) (total / 1e6 + 0.5);
  return 0;
}

static bool
dns_label (const char *s, bool first_digit)
{
  size_t n = strlen (s);
  if (n == 0 || n > 63)
    return false;
  for (size_t i = 0; i < n; i++)
    {
      char c = s[i];
      bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
      if (!alnum && !(c == '-' && i > 0 && i < n - 1))
        return false;
    }
  return first_digit || (s[0] >= 'a' && s[0] <= 'z');
}

bool
veil_service_dns1035_label (const char *s)
{
  return dns_label (s, false);
}

bool
veil_service_dns1123_label (const char *s)
{
  return dns_label (s, true);
}
