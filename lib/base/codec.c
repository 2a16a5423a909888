/* base64 (RFC 4648 §4), base64url (§5) and hex. */
#include "veil/base.h"

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static char *
b64_encode (const uint8_t *in, size_t len, const char *alpha, bool pad)
{
  char *out = xmalloc (4 * ((len + 2) / 3) + 1);
  size_t o = 0, i = 0;
  for (; i + 2 < len; i += 3)
    {
      uint32_t v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8 | in[i + 2];
      out[o++] = alpha[v >> 18 & 63];
      out[o++] = alpha[v >> 12 & 63];
      out[o++] = alpha[v >> 6 & 63];
      out[o++] = alpha[v & 63];
    }
  if (i < len)
    {
      uint32_t v = (uint32_t) in[i] << 16;
      if (i + 1 < len)
        v |= (uint32_t) in[i + 1] << 8;
      out[o++] = alpha[v >> 18 & 63];
      out[o++] = alpha[v >> 12 & 63];
      if (i + 1 < len)
        out[o++] = alpha[v >> 6 & 63];
      else if (pad)
        out[o++] = '=';
      if (pad)
        out[o++] = '=';
    }
  out[o] = 0;
  return out;
}

char *
veil_b64_encode (const void *data, size_t len)
{
  return b64_encode (data, len, b64_std, true);
}

char *
veil_b64url_encode (const void *data, size_t len)
{
  return b64_encode (data, len, b64_url, false);
}

/* mode bit 1: standard alphabet allowed, bit 2: url alphabet allowed */
static int
b64_value (char c, int mode)
{
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if ((mode & 1) && c == '+')
    return 62;
  if ((mode & 1) && c == '/')
    return 63;
  if ((mode & 2) && c == '-')
    return 62;
  if ((mode & 2) && c == '_')
    return 63;
  return -1;
}

static int
b64_decode (const char *s, int mode, uint8_t **out, size_t *out_len, veil_error_t **err)
{
  if (!s)
    return veil_error_set (err, EINVAL, "base64: no input");
  size_t n = strlen (s);
  size_t pad = 0;
  while (n > 0 && s[n - 1] == '=' && pad < 2)
    {
      n--;
      pad++;
    }
  if (pad && (n + pad) % 4 != 0)
    return veil_error_set (err, EBADMSG, "base64: bad padding");
  if (n % 4 == 1)
    return veil_error_set (err, EBADMSG, "base64: bad length %zu", n);
  uint8_t *o = xmalloc (n / 4 * 3 + 3 + 1);
  size_t ol = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++)
    {
      int v = b64_value (s[i], mode);
      if (v < 0)
        {
          free (o);
          return veil_error_set (err, EBADMSG, "base64: invalid character at offset %zu", i);
        }
      acc = acc << 6 | (uint32_t) v;
      bits += 6;
      if (bits >= 8)
        {
          bits -= 8;
          o[ol++] = (uint8_t) (acc >> bits);
          acc &= (1u << bits) - 1;
        }
    }
  o[ol] = 0;
  *out = o;
  *out_len = ol;
  return 0;
}

int
veil_b64_decode (const char *s, uint8_t **out, size_t *out_len, veil_error_t **err)
{
  return b64_decode (s, 1, out, out_len, err);
}

int
veil_b64url_decode (const char *s, uint8_t **out, size_t *out_len, veil_error_t **err)
{
  return b64_decode (s, 2, out, out_len, err);
}

int
veil_b64any_decode (const char *s, uint8_t **out, size_t *out_len, veil_error_t **err)
{
  return b64_decode (s, 3, out, out_len, err);
}

char *
veil_hex_encode (const void *data, size_t len)
{
  static const char d[] = "0123456789abcdef";
  const uint8_t *p = data;
  char *o = xmalloc (len * 2 + 1);
  for (size_t i = 0; i < len; i++)
    {
      o[2 * i] = d[p[i] >> 4];
      o[2 * i + 1] = d[p[i] & 15];
    }
  o[len * 2] = 0;
  return o;
}

static int
hex_nibble (char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static int
hex_into (const char *s, size_t n, uint8_t *o, veil_error_t **err)
{
  for (size_t i = 0; i < n; i++)
    {
      int hi = hex_nibble (s[2 * i]), lo = hex_nibble (s[2 * i + 1]);
      if (hi < 0 || lo < 0)
        return veil_error_set (err, EBADMSG, "hex: invalid character near offset %zu", 2 * i);
      o[i] = (uint8_t) (hi << 4 | lo);
    }
  return 0;
}

int
veil_hex_decode (const char *s, uint8_t **out, size_t *out_len, veil_error_t **err)
{
  size_t n = s ? strlen (s) : 0;
  if (!s || n % 2)
    return veil_error_set (err, EBADMSG, "hex: odd length");
  uint8_t *o = xmalloc (n / 2 + 1);
  if (hex_into (s, n / 2, o, err) < 0)
    {
      free (o);
      return -EBADMSG;
    }
  o[n / 2] = 0;
  *out = o;
  *out_len = n / 2;
  return 0;
}

int
veil_hex_decode_exact (const char *s, uint8_t *out, size_t n, veil_error_t **err)
{
  if (!s || strlen (s) != 2 * n)
    return veil_error_set (err, EBADMSG, "hex: expected %zu bytes", n);
  return hex_into (s, n, out, err);
}
