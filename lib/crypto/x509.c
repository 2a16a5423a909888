/* X.509 loading and chain-link checks. */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include "veil/crypto.h"

/* Evidence carries the same few certificates (VCEK, ASK, ARK, PCK chains)
 * over and over; parsing an RSA-4096 certificate and verifying its
 * signature cost more than the report's own signature check.  So parsed
 * certificates are cached by their encoding, and a verified (certificate,
 * issuer) link by the SHA-256 of both encodings.  A parse-cache hit needs
 * the very same bytes (compared in full: hashing kilobytes of PEM with
 * SHA-256 on every request cost more than the lookup saves), so a hit is the
 * same answer for the same input; only successes are remembered.
 * Direct-mapped and bounded. */
#define CACHE_SLOTS 128
#define CACHE_INPUT_MAX (64 * 1024) /* larger inputs are parsed every time */

typedef struct cache_slot
{
  uint64_t hash;
  size_t len;
  uint8_t *bytes;       /* the input, kept to compare a hit in full */
  X509 *x;              /* parsed-certificate cache */
  STACK_OF (X509) * sk; /* parsed-bundle cache */
} cache_slot_t;

typedef struct link_slot
{
  uint8_t key[2 * VEIL_SHA256_LEN]; /* SHA-256 of the certificate || of the issuer */
  bool used;
} link_slot_t;

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static cache_slot_t cert_cache[CACHE_SLOTS], bundle_cache[CACHE_SLOTS];
static link_slot_t link_cache[CACHE_SLOTS];

/* Picks a slot only (a hit is confirmed by comparing the bytes), so a fast
 * non-cryptographic mix is enough. */
static uint64_t
bytes_hash (const void *data, size_t len)
{
  const uint8_t *b = data;
  uint64_t h = 0x9e3779b97f4a7c15ull ^ len;
  size_t i = 0;
  for (; i + 8 <= len; i += 8)
    {
      uint64_t w;
      memcpy (&w, b + i, 8);
      h = (h ^ w) * 0x100000001b3ull;
      h ^= h >> 29;
    }
  for (; i < len; i++)
    h = (h ^ b[i]) * 0x100000001b3ull;
  return h;
}

static cache_slot_t *
slot_of (cache_slot_t *table, uint64_t hash)
{
  return &table[hash % CACHE_SLOTS];
}

static bool
slot_matches (const cache_slot_t *s, uint64_t hash, const void *data, size_t len)
{
  return s->bytes && s->hash == hash && s->len == len && !memcmp (s->bytes, data, len);
}

static void
slot_reset (cache_slot_t *s, uint64_t hash, const void *data, size_t len)
{
  free (s->bytes);
  X509_free (s->x);
  sk_X509_pop_free (s->sk, X509_free);
  *s = (cache_slot_t){ .hash = hash, .len = len, .bytes = xmemdup (data, len) };
}

/* The SHA-256 of a certificate's DER, computed once when the certificate is
 * parsed into the cache and kept with it (cached certificates are shared
 * and never modified), so link checks need not re-encode and re-hash the
 * same certificates on every request. */
static int digest_index = -1;
static pthread_once_t digest_once = PTHREAD_ONCE_INIT;

static void
digest_free (void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
  (void) parent, (void) ad, (void) idx, (void) argl, (void) argp;
  free (ptr);
}

static void
digest_index_init (void)
{
  digest_index = X509_get_ex_new_index (0, NULL, NULL, NULL, digest_free);
}

static void
digest_attach (X509 *x)
{
  uint8_t d[VEIL_SHA256_LEN];
  unsigned int n = 0;
  pthread_once (&digest_once, digest_index_init);
  if (digest_index >= 0 && X509_digest (x, EVP_sha256 (), d, &n) == 1)
    {
      void *copy = xmemdup (d, sizeof (d));
      if (X509_set_ex_data (x, digest_index, copy) != 1)
        free (copy);
    }
}

int
veil_x509_sha256 (X509 *x, uint8_t out[VEIL_SHA256_LEN])
{
  pthread_once (&digest_once, digest_index_init);
  const uint8_t *d = digest_index >= 0 ? X509_get_ex_data (x, digest_index) : NULL;
  if (d)
    {
      memcpy (out, d, VEIL_SHA256_LEN);
      return 0;
    }
  unsigned int n = 0;
  return X509_digest (x, EVP_sha256 (), out, &n) == 1 ? 0 : -EINVAL;
}

static X509 *
cert_cache_get (uint64_t hash, const void *data, size_t len)
{
  X509 *x = NULL;
  pthread_mutex_lock (&cache_lock);
  cache_slot_t *s = slot_of (cert_cache, hash);
  if (slot_matches (s, hash, data, len) && s->x && X509_up_ref (s->x) == 1)
    x = s->x;
  pthread_mutex_unlock (&cache_lock);
  return x;
}

static void
cert_cache_put (uint64_t hash, const void *data, size_t len, X509 *x)
{
  digest_attach (x);
  if (len > CACHE_INPUT_MAX || X509_up_ref (x) != 1)
    return;
  pthread_mutex_lock (&cache_lock);
  cache_slot_t *s = slot_of (cert_cache, hash);
  slot_reset (s, hash, data, len);
  s->x = x;
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
  uint64_t hash = bytes_hash (der, len);
  X509 *cached = cert_cache_get (hash, der, len);
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
  cert_cache_put (hash, der, len, x);
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
  uint64_t hash = bytes_hash (pem, len);
  X509 *x = cert_cache_get (hash, pem, len);
  if (x)
    return x;
  BIO *bio = BIO_new_mem_buf (pem, (int) len);
  x = bio ? PEM_read_bio_X509 (bio, NULL, NULL, NULL) : NULL;
  BIO_free (bio);
  if (!x)
    veil_error_set (err, EBADMSG, "x509: cannot parse PEM certificate: %s", veil_openssl_error ());
  else
    cert_cache_put (hash, pem, len, x);
  return x;
}

STACK_OF (X509) * veil_x509_stack_from_pem (const char *pem, size_t len, veil_error_t **err)
{
  if (len > CERT_MAX * 16)
    {
      veil_error_set (err, E2BIG, "x509: PEM bundle too large");
      return NULL;
    }
  uint64_t hash = bytes_hash (pem, len);
  pthread_mutex_lock (&cache_lock);
  cache_slot_t *slot = slot_of (bundle_cache, hash);
  STACK_OF (X509) *hit = slot_matches (slot, hash, pem, len) && slot->sk ? X509_chain_up_ref (slot->sk) : NULL;
  pthread_mutex_unlock (&cache_lock);
  if (hit)
    return hit;
  BIO *bio = BIO_new_mem_buf (pem, (int) len);
  STACK_OF (X509) *sk = sk_X509_new_null ();
  X509 *x;
  while (bio && (x = PEM_read_bio_X509 (bio, NULL, NULL, NULL)))
    {
      digest_attach (x);
      sk_X509_push (sk, x);
    }
  ERR_clear_error ();
  BIO_free (bio);
  if (sk_X509_num (sk) == 0)
    {
      sk_X509_free (sk);
      veil_error_set (err, EBADMSG, "x509: no certificate in PEM bundle");
      return NULL;
    }
  STACK_OF (X509) *copy = len <= CACHE_INPUT_MAX ? X509_chain_up_ref (sk) : NULL;
  if (copy)
    {
      pthread_mutex_lock (&cache_lock);
      slot = slot_of (bundle_cache, hash);
      slot_reset (slot, hash, pem, len);
      slot->sk = copy;
      pthread_mutex_unlock (&cache_lock);
    }
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
  uint8_t key[2 * VEIL_SHA256_LEN];
  bool keyed = veil_x509_sha256 (cert, key) == 0 && veil_x509_sha256 (issuer, key + VEIL_SHA256_LEN) == 0;
  link_slot_t *s = &link_cache[(key[0] ^ key[VEIL_SHA256_LEN] ^ (unsigned) key[1] << 8) % CACHE_SLOTS];
  if (keyed)
    {
      pthread_mutex_lock (&cache_lock);
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
