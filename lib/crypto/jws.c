/* Compact JWS (RFC 7515 §7.1) with the asymmetric algorithms of RFC 7518 §3
 * and RFC 8037 §3.1, and JWT validation (RFC 7519 §7.2).
 *
 * JWT policy: veil_jwt_verify REQUIRES an "exp" claim.  Every token veil
 * verifies (admin tokens, EAR attestation tokens) is issued with one; a token
 * without expiry would be a bearer credential valid forever, so its absence
 * is an error rather than "never expires". */
#include <openssl/err.h>
#include <openssl/rsa.h>
#include "jose-internal.h"

/* RFC 7515 compact tokens are small; anything near 1 MiB is an attack. */
#define JWS_MAX_LEN (1u << 20)
#define JWS_MAX_HEADER (16u << 10)
#define JWS_MAX_SIG 2048 /* RSA-16384 */

typedef enum
{
  JWS_ECDSA,
  JWS_EDDSA,
  JWS_RSA_PKCS1,
  JWS_RSA_PSS,
} jws_kind_t;

typedef struct
{
  const char *name;
  jws_kind_t kind;
  const char *md;    /* digest name, NULL for EdDSA */
  const char *curve; /* JWK curve name for ECDSA */
} jws_alg_t;

static const jws_alg_t algs[] = {
  { "ES256", JWS_ECDSA, "SHA256", "P-256" },
  { "ES384", JWS_ECDSA, "SHA384", "P-384" },
  { "ES512", JWS_ECDSA, "SHA512", "P-521" },
  { "EdDSA", JWS_EDDSA, NULL, NULL },
  { "RS256", JWS_RSA_PKCS1, "SHA256", NULL },
  { "PS256", JWS_RSA_PSS, "SHA256", NULL },
};

static const jws_alg_t *
alg_lookup (const char *name)
{
  for (size_t i = 0; name && i < VEIL_ARRAY_SIZE (algs); i++)
    if (!strcmp (algs[i].name, name))
      return &algs[i];
  return NULL;
}

/* RFC 8725 §3.1: the key decides which algorithms are acceptable, never the
 * token: an RSA key must not verify an "ES256" header and vice versa, a P-256
 * key only ES256 (RFC 7518 §3.4 ties each ES alg to one curve). */
static int
alg_matches_key (const jws_alg_t *a, EVP_PKEY *key, veil_error_t **err)
{
  switch (a->kind)
    {
    case JWS_ECDSA:
      {
        const veil_jose_curve_t *c = veil_jose_curve_of (key);
        if (!c || strcmp (c->jwk_name, a->curve) != 0)
          return veil_error_set (err, EKEYREJECTED, "jws: alg %s needs an EC %s key", a->name,
                                 a->curve);
        return 0;
      }
    case JWS_EDDSA:
      if (EVP_PKEY_get_base_id (key) != EVP_PKEY_ED25519)
        return veil_error_set (err, EKEYREJECTED, "jws: alg EdDSA needs an Ed25519 key");
      return 0;
    case JWS_RSA_PKCS1:
    case JWS_RSA_PSS:
      {
        int bits = veil_jose_rsa_bits (key);
        if (bits == 0)
          return veil_error_set (err, EKEYREJECTED, "jws: alg %s needs an RSA key", a->name);
        if (bits < VEIL_JOSE_RSA_MIN_BITS)
          return veil_error_set (err, EKEYREJECTED,
                                 "jws: RSA key of %d bits is too small (RFC 7518 §3.3: 2048)",
                                 bits);
        return 0;
      }
    }
  return veil_error_set (err, EINVAL, "jws: unknown algorithm kind");
}

/* Sets up an RSA/EdDSA digest-sign or -verify context. */
static int
md_init (EVP_MD_CTX *ctx, const jws_alg_t *a, EVP_PKEY *key, bool sign)
{
  EVP_PKEY_CTX *pctx = NULL;
  int ok = sign ? EVP_DigestSignInit_ex (ctx, &pctx, a->md, NULL, NULL, key, NULL)
                : EVP_DigestVerifyInit_ex (ctx, &pctx, a->md, NULL, NULL, key, NULL);
  if (ok != 1)
    return -1;
  if (a->kind == JWS_RSA_PSS)
    {
      /* RFC 7518 §3.5: MGF1 with the same hash, salt as long as the hash. */
      if (EVP_PKEY_CTX_set_rsa_padding (pctx, RSA_PKCS1_PSS_PADDING) != 1
          || EVP_PKEY_CTX_set_rsa_pss_saltlen (pctx, RSA_PSS_SALTLEN_DIGEST) != 1
          || EVP_PKEY_CTX_set_rsa_mgf1_md_name (pctx, a->md, NULL) != 1)
        return -1;
    }
  else if (a->kind == JWS_RSA_PKCS1)
    {
      if (EVP_PKEY_CTX_set_rsa_padding (pctx, RSA_PKCS1_PADDING) != 1)
        return -1;
    }
  return 0;
}

static int
sign_raw (const jws_alg_t *a, EVP_PKEY *key, const char *input, size_t len, uint8_t **sig,
          size_t *sig_len, veil_error_t **err)
{
  if (a->kind == JWS_ECDSA)
    {
      size_t n = veil_jose_curve_of (key)->size;
      uint8_t *rs = xmalloc (2 * n);
      /* RFC 7518 §3.4: R || S, each the curve size, not DER. */
      if (veil_ecdsa_sign_rs (key, EVP_get_digestbyname (a->md), input, len, rs, rs + n, n, err)
          < 0)
        {
          free (rs);
          return veil_error_wrap (err, "jws: %s", a->name);
        }
      *sig = rs;
      *sig_len = 2 * n;
      return 0;
    }
  _cleanup_ (EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new ();
  size_t n = 0;
  if (!ctx || md_init (ctx, a, key, true) < 0
      || EVP_DigestSign (ctx, NULL, &n, (const uint8_t *) input, len) != 1)
    return veil_error_set (err, EIO, "jws: %s sign: %s", a->name, veil_openssl_error ());
  uint8_t *s = xmalloc (n);
  if (EVP_DigestSign (ctx, s, &n, (const uint8_t *) input, len) != 1)
    {
      free (s);
      return veil_error_set (err, EIO, "jws: %s sign: %s", a->name, veil_openssl_error ());
    }
  *sig = s;
  *sig_len = n;
  return 0;
}

char *
veil_jws_sign (const json_t *extra_header, const void *payload, size_t len, EVP_PKEY *key,
               const char *alg, veil_error_t **err)
{
  const jws_alg_t *a = alg_lookup (alg);
  if (!a)
    {
      veil_error_set (err, ENOTSUP, "jws: unsupported alg '%s'", alg ? alg : "(null)");
      return NULL;
    }
  if (!key || alg_matches_key (a, key, err) < 0)
    {
      if (!key)
        veil_error_set (err, EINVAL, "jws: no key");
      return NULL;
    }
  if (extra_header && !json_is_object (extra_header))
    {
      veil_error_set (err, EINVAL, "jws: extra header is not an object");
      return NULL;
    }
  if (len > JWS_MAX_LEN)
    {
      veil_error_set (err, E2BIG, "jws: payload of %zu bytes is too large", len);
      return NULL;
    }
  _cleanup_json_ json_t *hdr = extra_header ? json_deep_copy (extra_header) : json_object ();
  json_object_set_new (hdr, "alg", json_string (a->name));
  _cleanup_free_ char *hjson = json_dumps (hdr, JSON_COMPACT | JSON_SORT_KEYS);
  _cleanup_free_ char *h64 = veil_b64url_encode (hjson, strlen (hjson));
  _cleanup_free_ char *p64 = veil_b64url_encode (payload, len);
  _cleanup_free_ char *input = xasprintf ("%s.%s", h64, p64);
  _cleanup_free_ uint8_t *sig = NULL;
  size_t sig_len = 0;
  if (sign_raw (a, key, input, strlen (input), &sig, &sig_len, err) < 0)
    return NULL;
  _cleanup_free_ char *s64 = veil_b64url_encode (sig, sig_len);
  return xasprintf ("%s.%s", input, s64);
}

static int
verify_raw (const jws_alg_t *a, EVP_PKEY *key, const char *input, size_t len, const uint8_t *sig,
            size_t sig_len, veil_error_t **err)
{
  if (a->kind == JWS_ECDSA)
    {
      size_t n = veil_jose_curve_of (key)->size;
      if (sig_len != 2 * n)
        return veil_error_set (err, EKEYREJECTED,
                               "jws: %s signature is %zu bytes, must be %zu (R||S, RFC 7518 §3.4)",
                               a->name, sig_len, 2 * n);
      if (veil_ecdsa_verify_rs (key, EVP_get_digestbyname (a->md), input, len, sig, sig + n, n,
                                err)
          < 0)
        return veil_error_wrap (err, "jws: %s", a->name);
      return 0;
    }
  _cleanup_ (EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new ();
  if (!ctx || md_init (ctx, a, key, false) < 0)
    return veil_error_set (err, EIO, "jws: %s verify: %s", a->name, veil_openssl_error ());
  int ok = EVP_DigestVerify (ctx, sig, sig_len, (const uint8_t *) input, len);
  ERR_clear_error ();
  if (ok != 1)
    return veil_error_set (err, EKEYREJECTED, "jws: %s signature does not verify", a->name);
  return 0;
}

/* RFC 7515 §4.1.11: a recipient MUST reject a JWS whose "crit" names an
 * extension it does not understand.  We implement none (in particular not
 * RFC 7797 "b64"), so any "crit" is refused. */
static int
check_header (const json_t *hdr, const jws_alg_t **alg, veil_error_t **err)
{
  if (!json_is_object (hdr))
    return veil_error_set (err, EBADMSG, "jws: protected header is not a JSON object");
  const char *name = veil_json_str (hdr, "alg");
  if (!name)
    return veil_error_set (err, EBADMSG, "jws: protected header has no string 'alg'");
  if (!strcmp (name, "none"))
    return veil_error_set (err, EKEYREJECTED, "jws: unsigned tokens (alg none) are refused");
  if (!strncmp (name, "HS", 2))
    return veil_error_set (err, EKEYREJECTED, "jws: HMAC alg %s is refused (asymmetric keys only)",
                           name);
  if (!(*alg = alg_lookup (name)))
    return veil_error_set (err, ENOTSUP, "jws: unsupported alg '%s'", name);
  if (json_object_get (hdr, "crit"))
    return veil_error_set (err, ENOTSUP, "jws: 'crit' header names extensions we do not implement");
  return 0;
}

int
veil_jws_verify (const char *jws, EVP_PKEY *key, json_t **header, uint8_t **payload,
                 size_t *payload_len, veil_error_t **err)
{
  if (!jws || !key)
    return veil_error_set (err, EINVAL, "jws: no token or no key");
  size_t total = strnlen (jws, JWS_MAX_LEN + 1);
  if (total > JWS_MAX_LEN)
    return veil_error_set (err, E2BIG, "jws: token longer than %u bytes", JWS_MAX_LEN);
  const char *d1 = memchr (jws, '.', total);
  const char *d2 = d1 ? memchr (d1 + 1, '.', total - (size_t) (d1 + 1 - jws)) : NULL;
  if (!d1 || !d2 || memchr (d2 + 1, '.', total - (size_t) (d2 + 1 - jws)))
    return veil_error_set (err, EBADMSG, "jws: not a compact JWS (need exactly three segments)");
  _cleanup_free_ char *h64 = xstrndup (jws, (size_t) (d1 - jws));
  _cleanup_free_ char *p64 = xstrndup (d1 + 1, (size_t) (d2 - d1 - 1));
  const char *s64 = d2 + 1;
  _cleanup_free_ uint8_t *hraw = NULL, *sig = NULL, *pl = NULL;
  size_t hlen = 0, sig_len = 0, pl_len = 0;
  if (veil_jose_b64_decode (h64, JWS_MAX_HEADER, "protected header", &hraw, &hlen, err) < 0
      || veil_jose_b64_decode (s64, JWS_MAX_SIG, "signature", &sig, &sig_len, err) < 0
      || veil_jose_b64_decode (p64, JWS_MAX_LEN, "payload", &pl, &pl_len, err) < 0)
    return veil_error_wrap (err, "jws");
  _cleanup_json_ json_t *hdr = veil_json_parse (hraw, hlen, JWS_MAX_HEADER, err);
  if (!hdr)
    return veil_error_wrap (err, "jws: protected header");
  const jws_alg_t *a = NULL;
  if (check_header (hdr, &a, err) < 0 || alg_matches_key (a, key, err) < 0)
    return -EKEYREJECTED;
  if (verify_raw (a, key, jws, (size_t) (d2 - jws), sig, sig_len, err) < 0)
    return -EKEYREJECTED;
  if (header)
    *header = steal_pointer (&hdr);
  if (payload)
    *payload = steal_pointer (&pl);
  if (payload_len)
    *payload_len = pl_len;
  return 0;
}

/* A NumericDate (RFC 7519 §2) claim as whole seconds, saturated. */
static int
numeric_date (const json_t *claims, const char *name, bool *present, int64_t *out,
              veil_error_t **err)
{
  json_t *v = json_object_get (claims, name);
  *present = v != NULL;
  if (!v)
    return 0;
  if (json_is_integer (v))
    *out = json_integer_value (v);
  else if (json_is_real (v))
    {
      double d = json_real_value (v);
      if (d != d)
        return veil_error_set (err, EBADMSG, "jwt: claim '%s' is not a number", name);
      *out = d >= 9.2e18 ? INT64_MAX : d <= -9.2e18 ? INT64_MIN
                                                    : (int64_t) d;
    }
  else
    return veil_error_set (err, EBADMSG, "jwt: claim '%s' is not a NumericDate", name);
  return 0;
}

json_t *
veil_jwt_verify (const char *jwt, EVP_PKEY *key, int64_t now, int64_t leeway, veil_error_t **err)
{
  if (leeway < 0 || leeway > 86400)
    {
      veil_error_set (err, EINVAL, "jwt: leeway of %lld s is out of range", (long long) leeway);
      return NULL;
    }
  _cleanup_free_ uint8_t *payload = NULL;
  size_t len = 0;
  if (veil_jws_verify (jwt, key, NULL, &payload, &len, err) < 0)
    return NULL;
  _cleanup_json_ json_t *claims = veil_json_parse (payload, len, JWS_MAX_LEN, err);
  if (!claims)
    {
      veil_error_wrap (err, "jwt: claims");
      return NULL;
    }
  if (!json_is_object (claims))
    {
      veil_error_set (err, EBADMSG, "jwt: claims are not a JSON object");
      return NULL;
    }
  bool has_exp, has_nbf;
  int64_t exp = 0, nbf = 0;
  if (numeric_date (claims, "exp", &has_exp, &exp, err) < 0
      || numeric_date (claims, "nbf", &has_nbf, &nbf, err) < 0)
    return NULL;
  if (!has_exp)
    {
      veil_error_set (err, EKEYREJECTED, "jwt: token has no 'exp' claim (required)");
      return NULL;
    }
  /* §4.1.4: valid only while now < exp (+ leeway); an exp so large that
   * the sum overflows never expires. */
  int64_t limit;
  if (!__builtin_add_overflow (exp, leeway, &limit) && now >= limit)
    {
      veil_error_set (err, EKEYEXPIRED, "jwt: token expired at %lld (now %lld, leeway %lld s)",
                      (long long) exp, (long long) now, (long long) leeway);
      return NULL;
    }
  /* §4.1.5: not valid before nbf. */
  if (has_nbf && !__builtin_add_overflow (now, leeway, &limit) && limit < nbf)
    {
      veil_error_set (err, EKEYREJECTED, "jwt: token not valid before %lld (now %lld)",
                      (long long) nbf, (long long) now);
      return NULL;
    }
  return steal_pointer (&claims);
}
