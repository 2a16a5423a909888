/* RFC 8785 JSON Canonicalization Scheme over jansson values.
 *
 * Numbers: JCS is defined on I-JSON (RFC 7493), where every number is an
 * IEEE 754 double, and serialises them as ECMAScript Number.prototype.
 * toString does (§3.2.2.3).  jansson keeps integers as 64-bit ints.  Integers
 * of magnitude <= 2^53 are exact doubles and print as their decimal digits
 * (toString never uses exponent form below 1e21).  Larger integers are
 * refused (ERANGE) rather than rounded: rounding would make two different
 * documents canonicalise — and hash — to the same bytes, which is the one
 * thing a canonical form used under a signature must not do (RFC 7493 §2.2
 * asks senders not to emit such numbers anyway). */
#include <math.h>
#include <stdio.h>
#include "veil/base.h"

#define JCS_MAX_DEPTH 64
#define JCS_MAX_SAFE_INT 9007199254740992LL /* 2^53 */

static int jcs_value (veil_buf_t *b, const json_t *j, int depth, veil_error_t **err);

/* §3.2.2.2: only the mandatory escapes; everything else literal UTF-8. */
static void
jcs_string (veil_buf_t *b, const char *s, size_t n)
{
  veil_buf_append (b, "\"", 1);
  for (size_t i = 0; i < n; i++)
    {
      unsigned char c = (unsigned char) s[i];
      const char *esc = NULL;
      switch (c)
        {
        case '"':
          esc = "\\\"";
          break;
        case '\\':
          esc = "\\\\";
          break;
        case '\b':
          esc = "\\b";
          break;
        case '\f':
          esc = "\\f";
          break;
        case '\n':
          esc = "\\n";
          break;
        case '\r':
          esc = "\\r";
          break;
        case '\t':
          esc = "\\t";
          break;
        default:
          break;
        }
      if (esc)
        veil_buf_append_str (b, esc);
      else if (c < 0x20)
        veil_buf_printf (b, "\\u%04x", c);
      else
        veil_buf_append (b, &s[i], 1);
    }
  veil_buf_append (b, "\"", 1);
}

/* Shortest decimal digits that round-trip to v (v finite, > 0), as in
 * ECMAScript Number::toString step 5: digits[0..k) and n such that
 * v = 0.digits × 10^n.  For each precision the correctly rounded candidate
 * is tried, then its neighbour on the other side of v: near a power of two
 * the rounding interval is asymmetric and the shortest string may lie on
 * the wider side. */
static int
shortest_digits (double v, char digits[32], int *n_out)
{
  char tmp[64];
  for (int p = 1; p <= 17; p++)
    {
      snprintf (tmp, sizeof (tmp), "%.*e", p - 1, v);
      /* tmp = d[.ddd]e±XX */
      uint64_t m = 0;
      const char *q = tmp;
      for (; *q && *q != 'e'; q++)
        if (*q >= '0' && *q <= '9')
          m = m * 10 + (uint64_t) (*q - '0');
      int e10 = atoi (q + 1) - (p - 1); /* v ≈ m × 10^e10 */
      uint64_t cands[3] = { m, m + 1, m - 1 };
      for (int c = 0; c < 3; c++)
        {
          if (cands[c] == 0)
            continue;
          snprintf (tmp, sizeof (tmp), "%llue%d", (unsigned long long) cands[c], e10);
          if (strtod (tmp, NULL) != v)
            continue;
          int len = snprintf (digits, 32, "%llu", (unsigned long long) cands[c]);
          int n = e10 + len;
          while (len > 1 && digits[len - 1] == '0')
            digits[--len] = 0;
          *n_out = n;
          return len;
        }
    }
  return -1;
}

static int
jcs_double (veil_buf_t *b, double v, veil_error_t **err)
{
  if (!isfinite (v))
    return veil_error_set (err, EINVAL, "jcs: NaN and Infinity are not JSON numbers");
  if (v == 0)
    {
      veil_buf_append_str (b, "0"); /* also -0 (Number::toString step 2) */
      return 0;
    }
  if (v < 0)
    {
      veil_buf_append_str (b, "-");
      v = -v;
    }
  char d[32];
  int n = 0;
  int k = shortest_digits (v, d, &n);
  if (k < 0)
    return veil_error_set (err, EINVAL, "jcs: cannot format number %.17g", v);
  if (k <= n && n <= 21)
    {
      /* integer: digits then n-k zeros */
      veil_buf_append (b, d, (size_t) k);
      for (int i = 0; i < n - k; i++)
        veil_buf_append (b, "0", 1);
    }
  else if (0 < n && n <= 21)
    {
      veil_buf_append (b, d, (size_t) n);
      veil_buf_append (b, ".", 1);
      veil_buf_append (b, d + n, (size_t) (k - n));
    }
  else if (-6 < n && n <= 0)
    {
      veil_buf_append_str (b, "0.");
      for (int i = 0; i < -n; i++)
        veil_buf_append (b, "0", 1);
      veil_buf_append (b, d, (size_t) k);
    }
  else
    {
      veil_buf_append (b, d, 1);
      if (k > 1)
        {
          veil_buf_append (b, ".", 1);
          veil_buf_append (b, d + 1, (size_t) (k - 1));
        }
      veil_buf_printf (b, "e%c%d", n - 1 >= 0 ? '+' : '-', abs (n - 1));
    }
  return 0;
}

/* A key as UTF-16 code units: §3.2.3 sorts on those, not on code points
 * or UTF-8 bytes (they differ above U+FFFF vs U+E000..U+FFFF). */
typedef struct
{
  const char *key;
  size_t key_len;
  uint16_t *u16;
  size_t n;
  const json_t *value;
} jcs_member_t;

static int
utf16_units (const char *s, size_t len, uint16_t **out, size_t *out_n)
{
  uint16_t *u = xmalloc ((len + 1) * sizeof (uint16_t));
  size_t n = 0;
  for (size_t i = 0; i < len;)
    {
      unsigned char c = (unsigned char) s[i];
      uint32_t cp;
      size_t extra;
      if (c < 0x80)
        cp = c, extra = 0;
      else if ((c & 0xe0) == 0xc0)
        cp = c & 0x1f, extra = 1;
      else if ((c & 0xf0) == 0xe0)
        cp = c & 0x0f, extra = 2;
      else if ((c & 0xf8) == 0xf0)
        cp = c & 0x07, extra = 3;
      else
        goto bad;
      if (i + extra >= len)
        goto bad;
      for (size_t k = 1; k <= extra; k++)
        {
          unsigned char cc = (unsigned char) s[i + k];
          if ((cc & 0xc0) != 0x80)
            goto bad;
          cp = cp << 6 | (cc & 0x3f);
        }
      i += extra + 1;
      if (cp >= 0x10000)
        {
          if (cp > 0x10ffff)
            goto bad;
          cp -= 0x10000;
          u[n++] = (uint16_t) (0xd800 + (cp >> 10));
          u[n++] = (uint16_t) (0xdc00 + (cp & 0x3ff));
        }
      else
        u[n++] = (uint16_t) cp;
    }
  *out = u;
  *out_n = n;
  return 0;
bad:
  free (u);
  return -1;
}

static int
member_cmp (const void *a, const void *b)
{
  const jcs_member_t *x = a, *y = b;
  size_t n = x->n < y->n ? x->n : y->n;
  for (size_t i = 0; i < n; i++)
    if (x->u16[i] != y->u16[i])
      return x->u16[i] < y->u16[i] ? -1 : 1;
  return x->n < y->n ? -1 : x->n > y->n ? 1
                                        : 0;
}

static int
jcs_object (veil_buf_t *b, const json_t *j, int depth, veil_error_t **err)
{
  size_t count = json_object_size (j);
  jcs_member_t *m = xcalloc (count ? count : 1, sizeof (*m));
  size_t i = 0;
  int r = 0;
  const char *key;
  size_t key_len;
  json_t *value;
  json_object_keylen_foreach ((json_t *) j, key, key_len, value)
  {
    if (i >= count)
      break;
    m[i].key = key;
    m[i].key_len = key_len;
    m[i].value = value;
    if (utf16_units (key, key_len, &m[i].u16, &m[i].n) < 0)
      {
        r = veil_error_set (err, EILSEQ, "jcs: object key is not valid UTF-8");
        goto out;
      }
    i++;
  }
  qsort (m, i, sizeof (*m), member_cmp);
  veil_buf_append (b, "{", 1);
  for (size_t k = 0; k < i && r == 0; k++)
    {
      if (k)
        veil_buf_append (b, ",", 1);
      jcs_string (b, m[k].key, m[k].key_len);
      veil_buf_append (b, ":", 1);
      r = jcs_value (b, m[k].value, depth + 1, err);
    }
  veil_buf_append (b, "}", 1);
out:
  for (size_t k = 0; k < count; k++)
    free (m[k].u16);
  free (m);
  return r;
}

static int
jcs_value (veil_buf_t *b, const json_t *j, int depth, veil_error_t **err)
{
  if (depth > JCS_MAX_DEPTH)
    return veil_error_set (err, E2BIG, "jcs: nesting deeper than %d", JCS_MAX_DEPTH);
  switch (json_typeof (j))
    {
    case JSON_NULL:
      veil_buf_append_str (b, "null");
      return 0;
    case JSON_TRUE:
      veil_buf_append_str (b, "true");
      return 0;
    case JSON_FALSE:
      veil_buf_append_str (b, "false");
      return 0;
    case JSON_STRING:
      jcs_string (b, json_string_value (j), json_string_length (j));
      return 0;
    case JSON_INTEGER:
      {
        json_int_t v = json_integer_value (j);
        if (v > JCS_MAX_SAFE_INT || v < -JCS_MAX_SAFE_INT)
          return veil_error_set (err, ERANGE,
                                 "jcs: integer %" JSON_INTEGER_FORMAT
                                 " is beyond 2^53 and not exact as an I-JSON number",
                                 v);
        veil_buf_printf (b, "%" JSON_INTEGER_FORMAT, v);
        return 0;
      }
    case JSON_REAL:
      return jcs_double (b, json_real_value (j), err);
    case JSON_ARRAY:
      {
        veil_buf_append (b, "[", 1);
        for (size_t i = 0; i < json_array_size (j); i++)
          {
            if (i)
              veil_buf_append (b, ",", 1);
            if (jcs_value (b, json_array_get (j, i), depth + 1, err) < 0)
              return -EINVAL;
          }
        veil_buf_append (b, "]", 1);
        return 0;
      }
    case JSON_OBJECT:
      return jcs_object (b, j, depth, err);
    }
  return veil_error_set (err, EINVAL, "jcs: unknown JSON type");
}

char *
veil_jcs (const json_t *j, veil_error_t **err)
{
  if (!j)
    {
      veil_error_set (err, EINVAL, "jcs: no value");
      return NULL;
    }
  veil_buf_t b = { 0 };
  if (jcs_value (&b, j, 0, err) < 0)
    {
      veil_buf_free (&b);
      return NULL;
    }
  return veil_buf_cstr (&b);
}
