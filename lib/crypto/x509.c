/* X.509 loading and chain-link checks. */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include "veil/crypto.h"

#define CERT_MAX (64 * 1024)

X509 *
veil_x509_from_der (const uint8_t *der, size_t len, veil_error_t **err)
{
  if (len == 0 || len > CERT_MAX)
    {
      veil_error_set (err, EBADMSG, "x509: certificate of %zu bytes", len);
      return NULL;
    }
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
  BIO *bio = BIO_new_mem_buf (pem, (int) len);
  X509 *x = bio ? PEM_read_bio_X509 (bio, NULL, NULL, NULL) : NULL;
  BIO_free (bio);
  if (!x)
    veil_error_set (err, EBADMSG, "x509: cannot parse PEM certificate: %s", veil_openssl_error ());
  return x;
}

STACK_OF (X509) * veil_x509_stack_from_pem (const char *pem, size_t len, veil_error_t **err)
{
  if (len > CERT_MAX * 16)
    {
      veil_error_set (err, E2BIG, "x509: PEM bundle too large");
      return NULL;
    }
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
  if (X509_verify (cert, pk) != 1)
    {
      ERR_clear_error ();
      return veil_error_set (err, EKEYREJECTED, "%s: certificate signature does not verify", what);
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
