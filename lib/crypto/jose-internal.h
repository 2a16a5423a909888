/* Declarations shared by jwk.c, jws.c and jwe.c (not part of the API). */
#ifndef VEIL_CRYPTO_JOSE_INTERNAL_H
#define VEIL_CRYPTO_JOSE_INTERNAL_H

#include "veil/crypto.h"

/* The NIST curves JOSE names (RFC 7518 §6.2.1.1). */
typedef struct veil_jose_curve
{
  const char *jwk_name;  /* "P-256" */
  const char *ossl_name; /* OpenSSL group name */
  size_t size;           /* coordinate / scalar length in bytes */
} veil_jose_curve_t;

/* Curve of an EC key, NULL when pk is not EC or on another curve. */
const veil_jose_curve_t *veil_jose_curve_of (EVP_PKEY *pk);
const veil_jose_curve_t *veil_jose_curve_by_name (const char *jwk_name);

/* A fresh key pair on the curve.  Made from a per-curve parameters
 * template (the group is built once, not per key). */
EVP_PKEY *veil_jose_ec_generate (const veil_jose_curve_t *c, veil_error_t **err);

/* Strict base64url (RFC 7515 §2: no padding needed) of a string whose decoded
 * length may not exceed max: the encoded length is checked before decoding,
 * so an attacker cannot make us allocate more than max.  what names the
 * member for the message. */
int veil_jose_b64_decode (const char *s, size_t max, const char *what, uint8_t **out,
                          size_t *out_len, veil_error_t **err);

/* Same, into a secret allocation (keys, plaintext). */
int veil_jose_b64_decode_secret (const char *s, size_t max, const char *what, uint8_t **out,
                                 size_t *out_len, veil_error_t **err);

/* Bits of an RSA modulus, 0 if pk is not RSA. */
int veil_jose_rsa_bits (EVP_PKEY *pk);

#define VEIL_JOSE_RSA_MIN_BITS 2048
#define VEIL_JOSE_RSA_MAX_BITS 16384

#endif
