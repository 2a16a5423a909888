/* JSON Web Keys (RFC 7517, key types of RFC 7518 §6 and RFC 8037 §2) on
 * OpenSSL 3 EVP_PKEY via OSSL_PARAM, and RFC 7638 thumbprints. */
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <pthread.h>
#include "jose-internal.h"

static const veil_jose_curve_t curves[] = {
  { "P-256", "prime256v1", 32 },
  { "P-384", "secp384r1", 48 },
  /* RFC 7518 §6.2.1.2: 521 bits round up to 66 octets. */
  { "P-521", "secp521r1", 66 },
};

static inline void
bn_clear_freep (BIGNUM **b)
{
  BN_clear_free (*b);
}
#define _cleanup_bn_ _cleanup_ (bn_clear_freep)
VEIL_DEFINE_CLEANUP (OSSL_PARAM_BLD *, OSSL_PARAM_BLD_free)
static inline void
ossl_param_clear_freep (OSSL_PARAM **p)
{
  /* OpenSSL 3.0 has no OSSL_PARAM_clear_free: the params hold copies of
   * private key components, wipe them first. */
  for (OSSL_PARAM *q = *p; q && q->key; q++)
    if (q->data)
      OPENSSL_cleanse (q->data, q->data_size);
  OSSL_PARAM_free (*p);
}

/* Building an EC group from its name costs more than a P-256 scalar
 * multiplication (the Montgomery constants of the order are recomputed), and
 * every tee-pubkey import and JWE ephemeral key needs one.  So one
 * parameters-only key per curve is made once; keys are then generated from
 * it or copy its (immutable, reference-counted) domain parameters. */
static EVP_PKEY *curve_params[VEIL_ARRAY_SIZE (curves)];
static pthread_once_t curve_params_once = PTHREAD_ONCE_INIT;

static void
curve_params_init (void)
{
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (curves); i++)
    {
      _cleanup_ (EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name (NULL, "EC", NULL);
      OSSL_PARAM p[] = {
        OSSL_PARAM_construct_utf8_string (OSSL_PKEY_PARAM_GROUP_NAME, (char *) curves[i].ossl_name, 0),
        OSSL_PARAM_construct_end (),
      };
      if (!ctx || EVP_PKEY_paramgen_init (ctx) != 1 || EVP_PKEY_CTX_set_params (ctx, p) != 1
          || EVP_PKEY_paramgen (ctx, &curve_params[i]) != 1)
        curve_params[i] = NULL; /* callers fall back to building the group by name */
    }
  ERR_clear_error ();
}

static EVP_PKEY *
curve_template (const veil_jose_curve_t *c)
{
  pthread_once (&curve_params_once, curve_params_init);
  return curve_params[c - curves];
}

EVP_PKEY *
veil_jose_ec_generate (const veil_jose_curve_t *c, veil_error_t **err)
{
  EVP_PKEY *tmpl = curve_template (c), *pk = NULL;
  if (!tmpl)
    return veil_pkey_generate (c->jwk_name, err);
  _cleanup_ (EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey (NULL, tmpl, NULL);
  if (!ctx || EVP_PKEY_keygen_init (ctx) != 1 || EVP_PKEY_keygen (ctx, &pk) != 1)
    {
      veil_error_set (err, EIO, "key: generating %s: %s", c->jwk_name, veil_openssl_error ());
      return NULL;
    }
  return pk;
}

const veil_jose_curve_t *
veil_jose_curve_by_name (const char *jwk_name)
{
  for (size_t i = 0; jwk_name && i < VEIL_ARRAY_SIZE (curves); i++)
    if (!strcmp (curves[i].jwk_name, jwk_name))
      return &curves[i];
  return NULL;
}

const veil_jose_curve_t *
veil_jose_curve_of (EVP_PKEY *pk)
{
  char group[64];
  size_t len = 0;
  if (!pk || EVP_PKEY_get_base_id (pk) != EVP_PKEY_EC)
    return NULL;
  if (EVP_PKEY_get_utf8_string_param (pk, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof (group), &len) != 1)
    {
      ERR_clear_error ();
      return NULL;
    }
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (curves); i++)
    if (!strcmp (curves[i].ossl_name, group))
      return &curves[i];
  return NULL;
}

int
veil_jose_rsa_bits (EVP_PKEY *pk)
{
  if (!pk || EVP_PKEY_get_base_id (pk) != EVP_PKEY_RSA)
    return 0;
  return EVP_PKEY_get_bits (pk);
}

static int
b64_bound (const char *s, size_t max, const char *what, veil_error_t **err)
{
  if (!s)
    return veil_error_set (err, EBADMSG, "jose: %s: missing", what);
  /* 4 characters per 3 bytes, unpadded: anything longer decodes to > max. */
  size_t limit = max / 3 * 4 + (max % 3 ? max % 3 + 1 : 0);
  if (strnlen (s, limit + 1) > limit)
    return veil_error_set (err, E2BIG, "jose: %s: longer than %zu bytes", what, max);
  return 0;
}

int
veil_jose_b64_decode (const char *s, size_t max, const char *what, uint8_t **out,
                      size_t *out_len, veil_error_t **err)
{
  if (b64_bound (s, max, what, err) < 0)
    return -EBADMSG;
  if (veil_b64url_decode (s, out, out_len, err) < 0)
    return veil_error_wrap (err, "jose: %s", what);
  return 0;
}

int
veil_jose_b64_decode_secret (const char *s, size_t max, const char *what, uint8_t **out,
                             size_t *out_len, veil_error_t **err)
{
  uint8_t *raw = NULL;
  size_t n = 0;
  if (veil_jose_b64_decode (s, max, what, &raw, &n, err) < 0)
    return -EBADMSG;
  *out = veil_secret_dup (raw, n);
  *out_len = n;
  veil_wipe (raw, n);
  free (raw);
  return 0;
}

/* ---- export ----------------------------------------------------------- */

/* base64url of a big-endian integer: minimal length when pad is 0 (RFC 7518
 * §6.3.1.1), else exactly pad bytes (§6.2.1.2 coordinates). */
static char *
bn_b64 (const BIGNUM *bn, size_t pad)
{
  size_t n = pad ? pad : (size_t) BN_num_bytes (bn);
  if (n == 0)
    n = 1;
  _cleanup_secret_ uint8_t *buf = veil_secret_alloc (n);
  if (BN_bn2binpad (bn, buf, (int) n) != (int) n)
    return NULL;
  return veil_b64url_encode (buf, n);
}

static int
set_bn_member (json_t *jwk, EVP_PKEY *pk, const char *param, const char *member, size_t pad,
               veil_error_t **err)
{
  _cleanup_bn_ BIGNUM *bn = NULL;
  if (EVP_PKEY_get_bn_param (pk, param, &bn) != 1)
    return veil_error_set (err, EINVAL, "jwk: key has no '%s' (%s): %s", member, param,
                           veil_openssl_error ());
  char *s = bn_b64 (bn, pad);
  if (!s)
    return veil_error_set (err, EINVAL, "jwk: '%s' does not fit %zu bytes", member, pad);
  json_object_set_new (jwk, member, json_string (s));
  veil_wipe (s, strlen (s));
  free (s);
  return 0;
}

static int
rsa_to_jwk (json_t *jwk, EVP_PKEY *pk, bool priv, veil_error_t **err)
{
  static const struct
  {
    const char *param, *member;
  } pub[] = { { OSSL_PKEY_PARAM_RSA_N, "n" }, { OSSL_PKEY_PARAM_RSA_E, "e" } },
    prv[] = {
      { OSSL_PKEY_PARAM_RSA_D, "d" },
      { OSSL_PKEY_PARAM_RSA_FACTOR1, "p" },
      { OSSL_PKEY_PARAM_RSA_FACTOR2, "q" },
      { OSSL_PKEY_PARAM_RSA_EXPONENT1, "dp" },
      { OSSL_PKEY_PARAM_RSA_EXPONENT2, "dq" },
      { OSSL_PKEY_PARAM_RSA_COEFFICIENT1, "qi" },
    };
  json_object_set_new (jwk, "kty", json_string ("RSA"));
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (pub); i++)
    if (set_bn_member (jwk, pk, pub[i].param, pub[i].member, 0, err) < 0)
      return -EINVAL;
  for (size_t i = 0; priv && i < VEIL_ARRAY_SIZE (prv); i++)
    if (set_bn_member (jwk, pk, prv[i].param, prv[i].member, 0, err) < 0)
      return veil_error_wrap (err, "jwk: RSA private key (multi-prime keys are not supported)");
  return 0;
}

static int
ec_to_jwk (json_t *jwk, EVP_PKEY *pk, bool priv, veil_error_t **err)
{
  const veil_jose_curve_t *c = veil_jose_curve_of (pk);
  if (!c)
    return veil_error_set (err, ENOTSUP, "jwk: EC key on a curve JOSE does not name (P-256, P-384, P-521 only)");
  json_object_set_new (jwk, "kty", json_string ("EC"));
  json_object_set_new (jwk, "crv", json_string (c->jwk_name));
  /* x and y from one uncompressed encoding (SEC 1 §2.3.3): one conversion
   * to affine coordinates instead of one per coordinate. */
  uint8_t point[1 + 2 * 66];
  size_t plen = 0;
  if (EVP_PKEY_get_octet_string_param (pk, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point, sizeof (point), &plen) == 1
      && plen == 1 + 2 * c->size && point[0] == 0x04)
    {
      _cleanup_free_ char *x = veil_b64url_encode (point + 1, c->size);
      _cleanup_free_ char *y = veil_b64url_encode (point + 1 + c->size, c->size);
      json_object_set_new (jwk, "x", json_string (x));
      json_object_set_new (jwk, "y", json_string (y));
    }
  else
    {
      /* a key kept in compressed form */
      ERR_clear_error ();
      if (set_bn_member (jwk, pk, OSSL_PKEY_PARAM_EC_PUB_X, "x", c->size, err) < 0
          || set_bn_member (jwk, pk, OSSL_PKEY_PARAM_EC_PUB_Y, "y", c->size, err) < 0)
        return -EINVAL;
    }
  if (priv && set_bn_member (jwk, pk, OSSL_PKEY_PARAM_PRIV_KEY, "d", c->size, err) < 0)
    return -EINVAL;
  return 0;
}

static int
okp_to_jwk (json_t *jwk, EVP_PKEY *pk, bool priv, veil_error_t **err)
{
  uint8_t raw[32];
  size_t n = sizeof (raw);
  if (EVP_PKEY_get_raw_public_key (pk, raw, &n) != 1 || n != 32)
    return veil_error_set (err, EINVAL, "jwk: Ed25519 public key: %s", veil_openssl_error ());
  json_object_set_new (jwk, "kty", json_string ("OKP"));
  json_object_set_new (jwk, "crv", json_string ("Ed25519"));
  _cleanup_free_ char *x = veil_b64url_encode (raw, n);
  json_object_set_new (jwk, "x", json_string (x));
  if (!priv)
    return 0;
  n = sizeof (raw);
  if (EVP_PKEY_get_raw_private_key (pk, raw, &n) != 1 || n != 32)
    return veil_error_set (err, EINVAL, "jwk: Ed25519 private key: %s", veil_openssl_error ());
  char *d = veil_b64url_encode (raw, n);
  veil_wipe (raw, sizeof (raw));
  json_object_set_new (jwk, "d", json_string (d));
  veil_wipe (d, strlen (d));
  free (d);
  return 0;
}

json_t *
veil_jwk_from_pkey (EVP_PKEY *pk, bool include_private, veil_error_t **err)
{
  if (!pk)
    {
      veil_error_set (err, EINVAL, "jwk: no key");
      return NULL;
    }
  _cleanup_json_ json_t *jwk = json_object ();
  int r;
  switch (EVP_PKEY_get_base_id (pk))
    {
    case EVP_PKEY_RSA:
      r = rsa_to_jwk (jwk, pk, include_private, err);
      break;
    case EVP_PKEY_EC:
      r = ec_to_jwk (jwk, pk, include_private, err);
      break;
    case EVP_PKEY_ED25519:
      r = okp_to_jwk (jwk, pk, include_private, err);
      break;
    default:
      r = veil_error_set (err, ENOTSUP, "jwk: unsupported key type %s (RSA, EC, Ed25519 only)",
                          EVP_PKEY_get0_type_name (pk));
    }
  if (r < 0)
    return NULL;
  return steal_pointer (&jwk);
}

/* ---- import ----------------------------------------------------------- */

static const char *
member (const json_t *jwk, const char *name, bool required, veil_error_t **err)
{
  json_t *v = json_object_get (jwk, name);
  if (!v)
    {
      if (required)
        veil_error_set (err, EBADMSG, "jwk: member '%s' missing", name);
      return NULL;
    }
  if (!json_is_string (v))
    {
      veil_error_set (err, EBADMSG, "jwk: member '%s' is not a string", name);
      return NULL;
    }
  return json_string_value (v);
}

/* Decodes a base64url integer member of at most max bytes into a BIGNUM. */
static BIGNUM *
member_bn (const json_t *jwk, const char *name, size_t max, veil_error_t **err)
{
  const char *s = member (jwk, name, true, err);
  _cleanup_secret_ uint8_t *raw = NULL;
  size_t n = 0;
  if (!s || veil_jose_b64_decode_secret (s, max, name, &raw, &n, err) < 0)
    return NULL;
  if (n == 0)
    {
      veil_error_set (err, EBADMSG, "jwk: member '%s' is empty", name);
      return NULL;
    }
  BIGNUM *bn = BN_bin2bn (raw, (int) n, NULL);
  if (!bn)
    abort ();
  return bn;
}

static EVP_PKEY *
pkey_fromdata (const char *type, OSSL_PARAM_BLD *bld, bool priv, veil_error_t **err)
{
  _cleanup_ (ossl_param_clear_freep) OSSL_PARAM *params = OSSL_PARAM_BLD_to_param (bld);
  _cleanup_ (EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name (NULL, type, NULL);
  EVP_PKEY *pk = NULL;
  if (!params || !ctx || EVP_PKEY_fromdata_init (ctx) != 1
      || EVP_PKEY_fromdata (ctx, &pk, priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) != 1)
    {
      veil_error_set (err, EBADMSG, "jwk: %s key rejected: %s", type, veil_openssl_error ());
      return NULL;
    }
  return pk;
}

/* Public check (EC: point on the curve and not at infinity — an off-curve
 * point would leak the private key through ECDH, the "invalid curve"
 * attack) and, for private keys, that the private part matches the public.
 * For EC the quick check suffices: P-256/384/521 have cofactor 1, so a point
 * on the curve is in the prime-order group; the full check's extra scalar
 * multiplication by the order would double the cost of every key import. */
static int
pkey_check (EVP_PKEY *pk, bool priv, const char *what, veil_error_t **err)
{
  _cleanup_ (EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey (NULL, pk, NULL);
  bool ec = EVP_PKEY_get_base_id (pk) == EVP_PKEY_EC;
  if (!ctx || (ec ? EVP_PKEY_public_check_quick (ctx) : EVP_PKEY_public_check (ctx)) != 1)
    return veil_error_set (err, EBADMSG, "jwk: %s public key is invalid: %s", what,
                           veil_openssl_error ());
  if (priv && EVP_PKEY_pairwise_check (ctx) != 1)
    return veil_error_set (err, EBADMSG, "jwk: %s private key does not match its public key: %s",
                           what, veil_openssl_error ());
  return 0;
}

static EVP_PKEY *
rsa_from_jwk (const json_t *jwk, veil_error_t **err)
{
  /* n may carry one superfluous leading zero byte (RFC 7518 §6.3.1.1 asks
   * for minimal octets but some libraries emit it); the bit count decides. */
  const size_t max_n = VEIL_JOSE_RSA_MAX_BITS / 8 + 1;
  if (json_object_get (jwk, "oth"))
    {
      veil_error_set (err, ENOTSUP, "jwk: RSA multi-prime keys ('oth') are not supported");
      return NULL;
    }
  _cleanup_bn_ BIGNUM *n = member_bn (jwk, "n", max_n, err);
  if (!n)
    return NULL;
  _cleanup_bn_ BIGNUM *e = member_bn (jwk, "e", 8, err);
  if (!e)
    return NULL;
  int bits = BN_num_bits (n);
  if (bits < VEIL_JOSE_RSA_MIN_BITS || bits > VEIL_JOSE_RSA_MAX_BITS)
    {
      veil_error_set (err, EKEYREJECTED, "jwk: RSA modulus of %d bits (need %d..%d, RFC 7518 §3.3)",
                      bits, VEIL_JOSE_RSA_MIN_BITS, VEIL_JOSE_RSA_MAX_BITS);
      return NULL;
    }
  if (!BN_is_odd (n) || !BN_is_odd (e) || BN_num_bits (e) < 2)
    {
      veil_error_set (err, EKEYREJECTED, "jwk: RSA modulus or exponent is even or trivial");
      return NULL;
    }
  _cleanup_ (OSSL_PARAM_BLD_freep) OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new ();
  OSSL_PARAM_BLD_push_BN (bld, OSSL_PKEY_PARAM_RSA_N, n);
  OSSL_PARAM_BLD_push_BN (bld, OSSL_PKEY_PARAM_RSA_E, e);
  bool priv = json_object_get (jwk, "d") != NULL;
  static const struct
  {
    const char *member, *param;
  } prv[] = {
    { "d", OSSL_PKEY_PARAM_RSA_D },
    { "p", OSSL_PKEY_PARAM_RSA_FACTOR1 },
    { "q", OSSL_PKEY_PARAM_RSA_FACTOR2 },
    { "dp", OSSL_PKEY_PARAM_RSA_EXPONENT1 },
    { "dq", OSSL_PKEY_PARAM_RSA_EXPONENT2 },
    { "qi", OSSL_PKEY_PARAM_RSA_COEFFICIENT1 },
  };
  BIGNUM *bns[VEIL_ARRAY_SIZE (prv)] = { 0 };
  EVP_PKEY *pk = NULL;
  bool ok = true;
  /* RFC 7518 §6.3.2: with "d", the CRT members SHOULD be present; we require
   * them rather than guess factors. */
  for (size_t i = 0; priv && ok && i < VEIL_ARRAY_SIZE (prv); i++)
    {
      bns[i] = member_bn (jwk, prv[i].member, (size_t) BN_num_bytes (n), err);
      if (!bns[i])
        {
          veil_error_wrap (err, "jwk: RSA private key needs d, p, q, dp, dq, qi");
          ok = false;
          break;
        }
      OSSL_PARAM_BLD_push_BN (bld, prv[i].param, bns[i]);
    }
  if (ok)
    pk = pkey_fromdata ("RSA", bld, priv, err);
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (bns); i++)
    BN_clear_free (bns[i]);
  if (pk && pkey_check (pk, priv, "RSA", err) < 0)
    {
      EVP_PKEY_free (pk);
      return NULL;
    }
  return pk;
}

static int
member_exact (const json_t *jwk, const char *name, size_t len, bool secret, uint8_t **out,
              veil_error_t **err)
{
  const char *s = member (jwk, name, true, err);
  size_t n = 0;
  if (!s)
    return -EBADMSG;
  int r = secret ? veil_jose_b64_decode_secret (s, len, name, out, &n, err)
                 : veil_jose_b64_decode (s, len, name, out, &n, err);
  if (r < 0)
    return r;
  if (n != len)
    {
      if (secret)
        veil_secret_free (*out);
      else
        free (*out);
      *out = NULL;
      return veil_error_set (err, EBADMSG, "jwk: member '%s' is %zu bytes, must be %zu", name, n,
                             len);
    }
  return 0;
}

static EVP_PKEY *
ec_from_jwk (const json_t *jwk, const char *crv, veil_error_t **err)
{
  const veil_jose_curve_t *c = veil_jose_curve_by_name (crv);
  if (!c)
    {
      veil_error_set (err, ENOTSUP, "jwk: unsupported EC curve '%s' (P-256, P-384, P-521)", crv);
      return NULL;
    }
  /* RFC 7518 §6.2.1.2/3: coordinates are exactly the curve size, so that
   * the same key has one encoding (and one thumbprint). */
  _cleanup_free_ uint8_t *x = NULL, *y = NULL;
  if (member_exact (jwk, "x", c->size, false, &x, err) < 0
      || member_exact (jwk, "y", c->size, false, &y, err) < 0)
    return NULL;
  _cleanup_free_ uint8_t *point = xmalloc (1 + 2 * c->size);
  point[0] = 0x04; /* SEC 1 §2.3.3 uncompressed */
  memcpy (point + 1, x, c->size);
  memcpy (point + 1 + c->size, y, c->size);
  bool priv = json_object_get (jwk, "d") != NULL;
  if (!priv)
    {
      /* public keys (every tee-pubkey): the curve's parameters copied from
       * the template, then the point set, which OpenSSL refuses unless it
       * is on the curve; pkey_check below then runs as for any key */
      EVP_PKEY *tmpl = curve_template (c);
      _cleanup_pkey_ EVP_PKEY *pk = tmpl ? EVP_PKEY_new () : NULL;
      if (pk && EVP_PKEY_copy_parameters (pk, tmpl) == 1
          && EVP_PKEY_set1_encoded_public_key (pk, point, 1 + 2 * c->size) == 1)
        return pkey_check (pk, false, crv, err) < 0 ? NULL : steal_pointer (&pk);
      if (pk)
        {
          veil_error_set (err, EBADMSG, "jwk: EC key rejected: %s", veil_openssl_error ());
          return NULL;
        }
    }
  _cleanup_ (OSSL_PARAM_BLD_freep) OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new ();
  OSSL_PARAM_BLD_push_utf8_string (bld, OSSL_PKEY_PARAM_GROUP_NAME, c->ossl_name, 0);
  OSSL_PARAM_BLD_push_octet_string (bld, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * c->size);
  _cleanup_bn_ BIGNUM *d = NULL;
  if (priv)
    {
      _cleanup_secret_ uint8_t *draw = NULL;
      if (member_exact (jwk, "d", c->size, true, &draw, err) < 0)
        return NULL;
      d = BN_bin2bn (draw, (int) c->size, NULL);
      OSSL_PARAM_BLD_push_BN (bld, OSSL_PKEY_PARAM_PRIV_KEY, d);
    }
  EVP_PKEY *pk = pkey_fromdata ("EC", bld, priv, err);
  if (pk && pkey_check (pk, priv, crv, err) < 0)
    {
      EVP_PKEY_free (pk);
      return NULL;
    }
  return pk;
}

static EVP_PKEY *
okp_from_jwk (const json_t *jwk, const char *crv, veil_error_t **err)
{
  if (strcmp (crv, "Ed25519") != 0)
    {
      veil_error_set (err, ENOTSUP, "jwk: unsupported OKP curve '%s' (Ed25519 only)", crv);
      return NULL;
    }
  _cleanup_free_ uint8_t *x = NULL;
  if (member_exact (jwk, "x", 32, false, &x, err) < 0)
    return NULL;
  if (!json_object_get (jwk, "d"))
    {
      EVP_PKEY *pk = EVP_PKEY_new_raw_public_key (EVP_PKEY_ED25519, NULL, x, 32);
      if (!pk)
        veil_error_set (err, EBADMSG, "jwk: Ed25519 public key rejected: %s", veil_openssl_error ());
      return pk;
    }
  _cleanup_secret_ uint8_t *d = NULL;
  if (member_exact (jwk, "d", 32, true, &d, err) < 0)
    return NULL;
  _cleanup_pkey_ EVP_PKEY *pk = EVP_PKEY_new_raw_private_key (EVP_PKEY_ED25519, NULL, d, 32);
  uint8_t pub[32];
  size_t n = sizeof (pub);
  if (!pk || EVP_PKEY_get_raw_public_key (pk, pub, &n) != 1)
    {
      veil_error_set (err, EBADMSG, "jwk: Ed25519 private key rejected: %s", veil_openssl_error ());
      return NULL;
    }
  /* RFC 8037 §2: x is derived from d; a mismatch means a corrupt key. */
  if (n != 32 || CRYPTO_memcmp (pub, x, 32) != 0)
    {
      veil_error_set (err, EBADMSG, "jwk: Ed25519 'x' does not match 'd'");
      return NULL;
    }
  return steal_pointer (&pk);
}

EVP_PKEY *
veil_jwk_to_pkey (const json_t *jwk, veil_error_t **err)
{
  if (!json_is_object (jwk))
    {
      veil_error_set (err, EBADMSG, "jwk: not a JSON object");
      return NULL;
    }
  const char *kty = member (jwk, "kty", true, err);
  if (!kty)
    return NULL;
  if (!strcmp (kty, "RSA"))
    return rsa_from_jwk (jwk, err);
  if (!strcmp (kty, "EC") || !strcmp (kty, "OKP"))
    {
      const char *crv = member (jwk, "crv", true, err);
      if (!crv)
        return NULL;
      return kty[0] == 'E' ? ec_from_jwk (jwk, crv, err) : okp_from_jwk (jwk, crv, err);
    }
  veil_error_set (err, ENOTSUP, "jwk: unsupported kty '%s' (RSA, EC, OKP)", kty);
  return NULL;
}

/* ---- RFC 7638 thumbprint ------------------------------------------------ */

char *
veil_jwk_thumbprint (const json_t *jwk, veil_error_t **err)
{
  /* §3.2: only the required public members of the key type, in
   * lexicographic order, no whitespace — exactly JCS of that subset since
   * all values are base64url or ASCII names. */
  static const char *rsa[] = { "e", "kty", "n", NULL };
  static const char *ec[] = { "crv", "kty", "x", "y", NULL };
  static const char *okp[] = { "crv", "kty", "x", NULL };
  if (!json_is_object (jwk))
    {
      veil_error_set (err, EBADMSG, "jwk: not a JSON object");
      return NULL;
    }
  const char *kty = member (jwk, "kty", true, err);
  if (!kty)
    return NULL;
  const char **names = !strcmp (kty, "RSA") ? rsa : !strcmp (kty, "EC") ? ec
                                                : !strcmp (kty, "OKP")  ? okp
                                                                        : NULL;
  if (!names)
    {
      veil_error_set (err, ENOTSUP, "jwk: thumbprint: unsupported kty '%s'", kty);
      return NULL;
    }
  _cleanup_json_ json_t *sub = json_object ();
  for (size_t i = 0; names[i]; i++)
    {
      const char *v = member (jwk, names[i], true, err);
      if (!v)
        return NULL;
      json_object_set_new (sub, names[i], json_string (v));
    }
  _cleanup_free_ char *canon = veil_jcs (sub, err);
  if (!canon)
    return NULL;
  uint8_t h[VEIL_SHA256_LEN];
  veil_sha256 (canon, strlen (canon), h);
  return veil_b64url_encode (h, sizeof (h));
}
