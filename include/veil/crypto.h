/* libveil crypto: hashes, randomness, X.509 helpers, JWK/JWS/JWT/JWE —
 * all on OpenSSL 3.  Depends only on base. */
#ifndef VEIL_CRYPTO_H
#define VEIL_CRYPTO_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include "veil/base.h"

VEIL_DEFINE_CLEANUP (EVP_PKEY *, EVP_PKEY_free)
VEIL_DEFINE_CLEANUP (X509 *, X509_free)
VEIL_DEFINE_CLEANUP (EVP_MD_CTX *, EVP_MD_CTX_free)
VEIL_DEFINE_CLEANUP (EVP_PKEY_CTX *, EVP_PKEY_CTX_free)
VEIL_DEFINE_CLEANUP (EVP_CIPHER_CTX *, EVP_CIPHER_CTX_free)
static inline void
veil_x509_stack_free (STACK_OF (X509) * s)
{
  sk_X509_pop_free (s, X509_free);
}
VEIL_DEFINE_CLEANUP (STACK_OF (X509) *, veil_x509_stack_free)
#define _cleanup_pkey_ _cleanup_ (EVP_PKEY_freep)
#define _cleanup_x509_ _cleanup_ (X509_freep)
#define _cleanup_x509_stack_ _cleanup_ (veil_x509_stack_freep)

#define VEIL_SHA256_LEN 32
#define VEIL_SHA384_LEN 48
#define VEIL_SHA512_LEN 64

/* ---- hashes and randomness (abort only if OpenSSL itself is broken) ---- */
void veil_sha256 (const void *data, size_t len, uint8_t out[VEIL_SHA256_LEN]);
void veil_sha384 (const void *data, size_t len, uint8_t out[VEIL_SHA384_LEN]);
void veil_sha512 (const void *data, size_t len, uint8_t out[VEIL_SHA512_LEN]);
/* Digest by name ("sha256", "sha384", "sha512"); returns the length or -1. */
int veil_digest (const char *name, const void *data, size_t len, uint8_t out[VEIL_SHA512_LEN]);
void veil_random (void *buf, size_t len);
/* Constant-time comparison. */
bool veil_ct_equal (const void *a, const void *b, size_t n);
/* Text of the last OpenSSL error (for messages); never NULL. */
const char *veil_openssl_error (void);

/* ---- X.509 ------------------------------------------------------------- */
X509 *veil_x509_from_der (const uint8_t *der, size_t len, veil_error_t **err);
X509 *veil_x509_from_pem (const char *pem, size_t len, veil_error_t **err);
/* All certificates of a PEM bundle, in file order. */
STACK_OF (X509) * veil_x509_stack_from_pem (const char *pem, size_t len, veil_error_t **err);
/* Either DER or PEM, detected. */
X509 *veil_x509_load_file (const char *path, veil_error_t **err);
/* SHA-256 of the certificate's DER (kept with certificates parsed by the
 * functions above, computed otherwise). */
int veil_x509_sha256 (X509 *x, uint8_t out[VEIL_SHA256_LEN]);
/* The signature of cert verifies with issuer's public key (RSA-PSS, RSA, ECDSA).
 * what names the link for the message, e.g. "VCEK by ASK". */
int veil_x509_check_signed_by (X509 *cert, X509 *issuer, const char *what, veil_error_t **err);
/* notBefore <= now <= notAfter. */
int veil_x509_check_time (X509 *cert, int64_t now, const char *what, veil_error_t **err);

/* ---- keys ------------------------------------------------------------------ */
/* kind: "P-256", "P-384", "P-521", "RSA-2048", "RSA-3072", "RSA-4096", "Ed25519". */
EVP_PKEY *veil_pkey_generate (const char *kind, veil_error_t **err);
/* PEM private or public key (PKCS#8, SPKI, traditional). */
EVP_PKEY *veil_pkey_from_pem (const char *pem, size_t len, veil_error_t **err);
EVP_PKEY *veil_pkey_load_file (const char *path, veil_error_t **err);
char *veil_pkey_to_pem (EVP_PKEY *pk, bool private_key);
char *veil_x509_to_pem (X509 *x);

/* ECDSA over msg with md, signature given as big-endian r and s of n bytes each. */
int veil_ecdsa_verify_rs (EVP_PKEY *pub, const EVP_MD *md, const void *msg, size_t msg_len,
                          const uint8_t *r, const uint8_t *s, size_t n, veil_error_t **err);
/* ECDSA sign → big-endian r||s, each n bytes (n = curve size). */
int veil_ecdsa_sign_rs (EVP_PKEY *priv, const EVP_MD *md, const void *msg, size_t msg_len,
                        uint8_t *r, uint8_t *s, size_t n, veil_error_t **err);

/* ---- JOSE (RFC 7515/7516/7517/7518/7519/7638, RFC 8037) ---------------- */
/* JWK of a key; private members only when include_private. */
json_t *veil_jwk_from_pkey (EVP_PKEY *pk, bool include_private, veil_error_t **err);
/* RSA (n,e[,d,p,q,dp,dq,qi]), EC P-256/384/521 (crv,x,y[,d]), OKP Ed25519 (crv,x[,d]).
 * Validates sizes and that EC points are on the curve. */
EVP_PKEY *veil_jwk_to_pkey (const json_t *jwk, veil_error_t **err);
/* RFC 7638 thumbprint, base64url of SHA-256. */
char *veil_jwk_thumbprint (const json_t *jwk, veil_error_t **err);

/* Compact JWS. alg: ES256, ES384, ES512, EdDSA, RS256, PS256.  extra_header
 * members (e.g. "kid", "typ") are merged into the protected header. */
char *veil_jws_sign (const json_t *extra_header, const void *payload, size_t len, EVP_PKEY *key,
                     const char *alg, veil_error_t **err);
/* Verifies with key; the header's alg must be one of the key's algorithms
 * ("none" and HMAC are always refused).  Outputs are optional. */
int veil_jws_verify (const char *jws, EVP_PKEY *key, json_t **header, uint8_t **payload,
                     size_t *payload_len, veil_error_t **err);
/* JWT: verify signature, then exp/nbf (with leeway seconds) against now.
 * "exp" is REQUIRED (a token without one is refused): every token veil
 * verifies (admin, EAR) is issued with an expiry.  Returns the claims. */
json_t *veil_jwt_verify (const char *jwt, EVP_PKEY *key, int64_t now, int64_t leeway,
                         veil_error_t **err);

/* JWE flattened JSON serialisation to a recipient public JWK.  alg NULL picks
 * RSA-OAEP-256 for RSA keys and ECDH-ES+A256KW for EC keys; enc is A256GCM. */
json_t *veil_jwe_encrypt (const json_t *recipient_jwk, const char *alg, const void *pt, size_t len,
                          veil_error_t **err);
/* Decrypts a JWE given as a flattened or general JSON object (first recipient
 * that the key opens) or a compact string (JSON string).  Algs: RSA-OAEP,
 * RSA-OAEP-256, ECDH-ES, ECDH-ES+A128KW/A192KW/A256KW; enc A128GCM, A192GCM,
 * A256GCM.  *pt is a secret allocation (veil_secret_free). */
int veil_jwe_decrypt (const json_t *jwe, EVP_PKEY *priv, uint8_t **pt, size_t *pt_len,
                      veil_error_t **err);
/* veil_jwe_encrypt with a chosen enc: A128GCM, A192GCM or A256GCM (NULL =
 * A256GCM).  alg may be any that veil_jwe_decrypt accepts. */
json_t *veil_jwe_encrypt_enc (const json_t *recipient_jwk, const char *alg, const char *enc,
                              const void *pt, size_t len, veil_error_t **err);
/* The same to a key already imported (and checked) by veil_jwk_to_pkey:
 * saves a second import when one key receives several JWEs. */
json_t *veil_jwe_encrypt_pkey (EVP_PKEY *pk, const char *alg, const char *enc, const void *pt,
                               size_t len, veil_error_t **err);
/* Compact serialisation (RFC 7516 §7.1) of a flattened JWE that has no
 * unprotected header and no aad. */
char *veil_jwe_to_compact (const json_t *flattened, veil_error_t **err);

#endif
