/* Hashes, randomness and small OpenSSL helpers. */
#include <openssl/err.h>
#include <openssl/rand.h>
#include <stdio.h>
#include "veil/crypto.h"

static void
digest (const EVP_MD *md, const void *data, size_t len, uint8_t *out)
{
  unsigned int n = 0;
  if (EVP_Digest (data, len, out, &n, md, NULL) != 1)
    abort ();
}

void
veil_sha256 (const void *data, size_t len, uint8_t out[VEIL_SHA256_LEN])
{
  digest (EVP_sha256 (), data, len, out);
}

void
veil_sha384 (const void *data, size_t len, uint8_t out[VEIL_SHA384_LEN])
{
  digest (EVP_sha384 (), data, len, out);
}

void
veil_sha512 (const void *data, size_t len, uint8_t out[VEIL_SHA512_LEN])
{
  digest (EVP_sha512 (), data, len, out);
}

int
veil_digest (const char *name, const void *data, size_t len, uint8_t out[VEIL_SHA512_LEN])
{
  if (!name)
    return -1;
  if (!strcmp (name, "sha256") || !strcmp (name, "SHA256") || !strcmp (name, "sha-256"))
    {
      veil_sha256 (data, len, out);
      return VEIL_SHA256_LEN;
    }
  if (!strcmp (name, "sha384") || !strcmp (name, "SHA384") || !strcmp (name, "sha-384"))
    {
      veil_sha384 (data, len, out);
      return VEIL_SHA384_LEN;
    }
  if (!strcmp (name, "sha512") || !strcmp (name, "SHA512") || !strcmp (name, "sha-512"))
    {
      veil_sha512 (data, len, out);
      return VEIL_SHA512_LEN;
    }
  return -1;
}

void
veil_random (void *buf, size_t len)
{
  if (len > INT32_MAX || RAND_bytes (buf, (int) len) != 1)
    abort ();
}

bool
veil_ct_equal (const void *a, const void *b, size_t n)
{
  const volatile uint8_t *x = a, *y = b;
  uint8_t d = 0;
  for (size_t i = 0; i < n; i++)
    d |= x[i] ^ y[i];
  return d == 0;
}

const char *
veil_openssl_error (void)
{
  static __thread char buf[256];
  unsigned long e = ERR_get_error ();
  if (!e)
    return "unknown OpenSSL error";
  ERR_error_string_n (e, buf, sizeof (buf));
  ERR_clear_error ();
  return buf;
}
