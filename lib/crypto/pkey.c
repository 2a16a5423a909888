/* Key generation, PEM, and raw (r,s) ECDSA. */
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include "veil/crypto.h"

EVP_PKEY *
veil_pkey_generate (const char *kind, veil_error_t **err)
{
  EVP_PKEY *pk = NULL;
  if (!strcmp (kind, "P-256"))
    pk = EVP_PKEY_Q_keygen (NULL, NULL, "EC", "P-256");
  else if (!strcmp (kind, "P-384"))
    pk = EVP_PKEY_Q_keygen (NULL, NULL, "EC", "P-384");
  else if (!strcmp (kind, "P-521"))
    pk = EVP_PKEY_Q_keygen (NULL, NULL, "EC", "P-521");
  else if (!strcmp (kind, "RSA-2048"))
    pk = EVP_PKEY_Q_keygen (NULL, NULL, "RSA", (size_t) 2048);
  else if (!strcmp (kind, "RSA-3072"))
    pk = EVP_PKEY_Q_keygen (NULL, NULL, "RSA", (size_t) 3072);
  else if (!strcmp (kind, "RSA-4096"))
    pk = EVP_PKEY_Q_keygen (NULL, NULL, "RSA", (size_t) 4096);
  else if (!strcmp (kind, "Ed25519"))
    pk = EVP_PKEY_Q_keygen (NULL, NULL, "ED25519");
  else
    {
      veil_error_set (err, EINVAL, "key: unknown key kind '%s'", kind);
      return NULL;
    }
  if (!pk)
    veil_error_set (err, EIO, "key: generating %s: %s", kind, veil_openssl_error ());
  return pk;
}

EVP_PKEY *
veil_pkey_from_pem (const char *pem, size_t len, veil_error_t **err)
{
  if (len > 1 << 20)
    {
      veil_error_set (err, E2BIG, "key: PEM too large");
      return NULL;
    }
  BIO *bio = BIO_new_mem_buf (pem, (int) len);
  EVP_PKEY *pk = PEM_read_bio_PrivateKey (bio, NULL, NULL, NULL);
  if (!pk)
    {
      ERR_clear_error ();
      BIO_free (bio);
      bio = BIO_new_mem_buf (pem, (int) len);
      pk = PEM_read_bio_PUBKEY (bio, NULL, NULL, NULL);
    }
  BIO_free (bio);
  if (!pk)
    veil_error_set (err, EBADMSG, "key: cannot parse PEM key: %s", veil_openssl_error ());
  return pk;
}

EVP_PKEY *
veil_pkey_load_file (const char *path, veil_error_t **err)
{
  _cleanup_secret_ uint8_t *data = NULL;
  _cleanup_free_ uint8_t *raw = NULL;
  size_t len = 0;
  if (veil_file_read (path, 1 << 20, &raw, &len, err) < 0)
    return NULL;
  data = veil_secret_dup (raw, len);
  veil_wipe (raw, len);
  EVP_PKEY *pk = veil_pkey_from_pem ((char *) data, len, err);
  if (!pk)
    veil_error_wrap (err, "%s", path);
  return pk;
}

/* Everything a memory BIO collected, as a NUL-terminated string. */
static char *
bio_text (BIO *bio)
{
  char *p = NULL;
  long n = BIO_get_mem_data (bio, &p);
  char *out = xmemdup (p, (size_t) n);
  BIO_free (bio);
  return out;
}

char *
veil_pkey_to_pem (EVP_PKEY *pk, bool private_key)
{
  BIO *bio = BIO_new (BIO_s_mem ());
  int ok = bio
           && (private_key ? PEM_write_bio_PrivateKey (bio, pk, NULL, NULL, 0, NULL, NULL)
                           : PEM_write_bio_PUBKEY (bio, pk));
  if (!ok)
    abort ();
  return bio_text (bio);
}

char *
veil_x509_to_pem (X509 *x)
{
  BIO *bio = BIO_new (BIO_s_mem ());
  if (!bio || !PEM_write_bio_X509 (bio, x))
    abort ();
  return bio_text (bio);
}

int
veil_ecdsa_verify_rs (EVP_PKEY *pub, const EVP_MD *md, const void *msg, size_t msg_len,
                      const uint8_t *r, const uint8_t *s, size_t n, veil_error_t **err)
{
  ECDSA_SIG *sig = ECDSA_SIG_new ();
  BIGNUM *br = BN_bin2bn (r, (int) n, NULL), *bs = BN_bin2bn (s, (int) n, NULL);
  if (!sig || !br || !bs || ECDSA_SIG_set0 (sig, br, bs) != 1)
    abort ();
  unsigned char *der = NULL;
  int der_len = i2d_ECDSA_SIG (sig, &der);
  ECDSA_SIG_free (sig);
  if (der_len <= 0)
    abort ();
  _cleanup_ (EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new ();
  int ok = EVP_DigestVerifyInit (ctx, NULL, md, NULL, pub) == 1 && EVP_DigestVerify (ctx, der, (size_t) der_len, msg, msg_len) == 1;
  OPENSSL_free (der);
  ERR_clear_error ();
  if (!ok)
    return veil_error_set (err, EKEYREJECTED, "ECDSA signature does not verify");
  return 0;
}

int
veil_ecdsa_sign_rs (EVP_PKEY *priv, const EVP_MD *md, const void *msg, size_t msg_len,
                    uint8_t *r, uint8_t *s, size_t n, veil_error_t **err)
{
  _cleanup_ (EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new ();
  uint8_t der[256];
  size_t der_len = sizeof (der);
  if (EVP_DigestSignInit (ctx, NULL, md, NULL, priv) != 1 || EVP_DigestSign (ctx, der, &der_len, msg, msg_len) != 1)
    return veil_error_set (err, EIO, "ECDSA sign: %s", veil_openssl_error ());
  const uint8_t *p = der;
  ECDSA_SIG *sig = d2i_ECDSA_SIG (NULL, &p, (long) der_len);
  if (!sig)
    abort ();
  int ok = BN_bn2binpad (ECDSA_SIG_get0_r (sig), r, (int) n) == (int) n && BN_bn2binpad (ECDSA_SIG_get0_s (sig), s, (int) n) == (int) n;
  ECDSA_SIG_free (sig);
  if (!ok)
    return veil_error_set (err, EINVAL, "ECDSA sign: signature does not fit %zu bytes", n);
  return 0;
}
