/* X.509 loading and chain-link checks. */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include "veil/crypto.h"

/* Evidence carries the same few certificates (VCEK, ASK, ARK, PCK chains)
 * over and over; parsing an RSA-4096 certificate and verifying its
 * signature cost more than the report's own signature check.  So parsed
 * certificates are cached by the SHA-256 of their encoding, and a verified
 * (certificate, issuer) link by the SHA-256 of both encodings.  Keys are
 * over the full bytes, so a cache hit is the same answer for the same
 * input; only successes are remembered.  Direct-mapped and bounded. */
#define CACHE_SLOTS 128

typedef struct cache_slot
{
  uint8_t key[VEIL_SHA256_LEN];
  bool used;
  X509 *x;              /* parsed-certificate cache */
  STACK_OF (X509) * sk; /* parsed-bundle cache */
} cache_slot_t;

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static cache_slot_t cert_cache[CACHE_SLOTS], bundle_cache[CACHE_SLOTS], link_cache[CACHE_SLOTS];

static void
cache_key (const void *a, size_t al, const void *b, size_t bl, uint8_t key[VEIL_SHA256_LEN])
{
  _cleanup_ (EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new ();
  unsigned int n = 0;
  if (!ctx || EVP_DigestInit_ex (ctx, EVP_sha256 (), NULL) != 1 || EVP_DigestUpdate (ctx, a, al) != 1
      || (b && EVP_DigestUpdate (ctx, b, bl) != 1) || EVP_DigestFinal_ex (ctx, key, &n) != 1)
    abort ();
}

static cache_slot_t *
slot_of (cache_slot_t *table, const uint8_t key[VEIL_SHA256_LEN])
{
  return &table[(key[0] | (unsigned) key[1] << 8) % CACHE_SLOTS];
}

static X509 *
cert_cache_get (const uint8_t key[VEIL_SHA256_LEN])
{
  X509 *x = NULL;
  pthread_mutex_lock (&cache_lock);
  cache_slot_t *s = slot_of (cert_cache, key);
  if (s->used && !memcmp (s->key, key, VEIL_SHA256_LEN) && X509_up_ref (s->x) == 1)
    x = s->x;
  pthread_mutex_unlock (&cache_lock);
  return x;
}

static void
cert_cache_put (const uint8_t key[VEIL_SHA256_LEN], X509 *x)
{
  pthread_mutex_lock (&cache_lock);
  cache_slot_t *s = slot_of (cert_cache, key);
  if (s->used)
    X509_free (s->x);
  if (X509_up_ref (x) == 1)
    {
      memcpy (s->key, key, VEIL_SHA256_LEN);
      s->x = x;
      s->used = true;
    }
  else
    s->used = false;
  pthread_mutex_unlock (&cache_lock);
}

#define CERT_MAX (64 * 1024)

X509 *
veil_x509_from_der (const uint8_t *der, size_t len, veil_error_t **err)
{
  if (len == 0 || len > CERT_MAX)
    {
      veil_error_set (err, EBADMSG, "x509: certificate of %zu bytes", len);
      return NULL;
    }
  uint8_t key[VEIL_SHA256_LEN];
  cache_key (der, len, NULL, 0, key);
  X509 *cached = cert_cache_get (key);
  if (cached)
    return cached;
  const uint8_t *p = der;
  X509 *x = d2i_X509 (NULL, &p, (long) len);
  if (!x)
    {
      veil_error_set (err, EBADMSG, "x509: cannot parse DER certificate: %s", veil_openssl_error ());
      return NULL;
    }
  if (p != der + len)
    {
      X509_free (x);
      veil_error_set (err, EBADMSG, "x509: %zu trailing bytes after the certificate",
                      (size_t) (der + len - p));
      return NULL;
    }
  cert_cache_put (key, x);
  return x;
}

X509 *
veil_x509_from_pem (const char *pem, size_t len, veil_error_t **err)
{
  if (len > CERT_MAX * 4)
    {
      veil_error_set (err, E2BIG, "x509: PEM too large");
      return NULL;
    }
  uint8_t key[VEIL_SHA256_LEN];
  cache_key (pem, len, NULL, 0, key);
  X509 *x = cert_cache_get (key);
  if (x)
    return x;
  BIO *bio = BIO_new_mem_buf (pem, (int) len);
  x = bio ? PEM_read_bio_X509 (bio, NULL, NULL, NULL) : NULL;
  BIO_free (bio);
  if (!x)
    veil_error_set (err, EBADMSG, "x509: cannot parse PEM certificate: %s", veil_openssl_error ());
  else
    cert_cache_put (key, x);
  return x;
}

STACK_OF (X509) * veil_x509_stack_from_pem (const char *pem, size_t len, veil_error_t **err)
{
  if (len > CERT_MAX * 16)
    {
      veil_error_set (err, E2BIG, "x509: PEM bundle too large");
      return NULL;
    }
  uint8_t key[VEIL_SHA256_LEN];
  cache_key (pem, len, NULL, 0, key);
  pthread_mutex_lock (&cache_lock);
  cache_slot_t *slot = slot_of (bundle_cache, key);
  STACK_OF (X509) *hit = slot->used && !memcmp (slot->key, key, sizeof (key))
                             ? X509_chain_up_ref (slot->sk)
                             : NULL;
  pthread_mutex_unlock (&cache_lock);
  if (hit)
    return hit;
  BIO *bio = BIO_new_mem_buf (pem, (int) len);
  STACK_OF (X509) *sk = sk_X509_new_null ();
  X509 *x;
  while (bio && (x = PEM_read_bio_X509 (bio, NULL, NULL, NULL)))
    sk_X509_push (sk, x);
  ERR_clear_error ();
  BIO_free (bio);
  if (sk_X509_num (sk) == 0)
    {
      sk_X509_free (sk);
      veil_error_set (err, EBADMSG, "x509: no certificate in PEM bundle");
      return NULL;
    }
  STACK_OF (X509) *copy = X509_chain_up_ref (sk);
  pthread_mutex_lock (&cache_lock);
  slot = slot_of (bundle_cache, key);
  if (slot->used)
    sk_X509_pop_free (slot->sk, X509_free);
  slot->used = copy != NULL;
  slot->sk = copy;
  memcpy (slot->key, key, sizeof (key));
  pthread_mutex_unlock (&cache_lock);
  return sk;
}

X509 *
veil_x509_load_file (const char *path, veil_error_t **err)
{
  _cleanup_free_ uint8_t *data = NULL;
  size_t len = 0;
  if (veil_file_read (path, CERT_MAX * 4, &data, &len, err) < 0)
    return NULL;
  X509 *x = (len > 10 && memmem (data, len, "-----BEGIN", 10))
                ? veil_x509_from_pem ((char *) data, len, err)
                : veil_x509_from_der (data, len, err);
  if (!x)
    veil_error_wrap (err, "%s", path);
  return x;
}

int
veil_x509_check_signed_by (X509 *cert, X509 *issuer, const char *what, veil_error_t **err)
{
  EVP_PKEY *pk = X509_get0_pubkey (issuer);
  if (!pk)
    return veil_error_set (err, EBADMSG, "%s: issuer has no usable public key", what);
  uint8_t dc[VEIL_SHA256_LEN], di[VEIL_SHA256_LEN], key[VEIL_SHA256_LEN];
  unsigned int n = 0;
  bool keyed = X509_digest (cert, EVP_sha256 (), dc, &n) == 1 && X509_digest (issuer, EVP_sha256 (), di, &n) == 1;
  if (keyed)
    {
      cache_key (dc, sizeof (dc), di, sizeof (di), key);
      pthread_mutex_lock (&cache_lock);
      cache_slot_t *s = slot_of (link_cache, key);
      bool hit = s->used && !memcmp (s->key, key, sizeof (key));
      pthread_mutex_unlock (&cache_lock);
      if (hit)
        return 0;
    }
  if (X509_verify (cert, pk) != 1)
    {
      ERR_clear_error ();
      return veil_error_set (err, EKEYREJECTED, "%s: certificate signature does not verify", what);
    }
  if (keyed)
    {
      pthread_mutex_lock (&cache_lock);
      cache_slot_t *s = slot_of (link_cache, key);
      memcpy (s->key, key, sizeof (key));
      s->used = true;
      pthread_mutex_unlock (&cache_lock);
    }
  return 0;
}

int
veil_x509_check_time (X509 *cert, int64_t now, const char *what, veil_error_t **err)
{
  time_t t = (time_t) now;
  if (X509_cmp_time (X509_get0_notBefore (cert), &t) > 0)
    return veil_error_set (err, EKEYEXPIRED, "%s: certificate not yet valid", what);
  if (X509_cmp_time (X509_get0_notAfter (cert), &t) < 0)
    return veil_error_set (err, EKEYEXPIRED, "%s: certificate expired", what);
  return 0;
}
