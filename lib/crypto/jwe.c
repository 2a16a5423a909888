/* JWE (RFC 7516) with key management RSA-OAEP / RSA-OAEP-256 (RFC 7518
 * §4.3), ECDH-ES and ECDH-ES+AxxxKW (§4.6) and content encryption AxxxGCM
 * (§5.3).  We emit the flattened JSON serialisation (§7.2.2) the KBS
 * protocol returns; we read flattened, general (§7.2.1) and compact (§7.1). */
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <pthread.h>
#include "jose-internal.h"

#define JWE_MAX_CT (64u << 20) /* KBS resources and image keys are far smaller */
#define JWE_MAX_HEADER (16u << 10)
#define JWE_MAX_EK 2048 /* RSA-16384 */
#define JWE_MAX_AAD (64u << 10)
#define JWE_MAX_PARTY 1024 /* apu / apv */
#define JWE_MAX_RECIPIENTS 16
#define JWE_IV_LEN 12  /* RFC 7518 §5.3: 96-bit IV */
#define JWE_TAG_LEN 16 /* RFC 7518 §5.3: 128-bit tag */

typedef enum
{
  KM_RSA_OAEP,
  KM_ECDH_DIRECT,
  KM_ECDH_KW,
} jwe_km_t;

typedef struct
{
  const char *name;
  jwe_km_t kind;
  const char *md; /* OAEP and MGF1 digest */
  size_t kek_len; /* AES key wrap key length */
} jwe_alg_t;

static const jwe_alg_t algs[] = {
  /* RSA-OAEP is SHA-1 OAEP (RFC 7518 §4.3): still what ocicrypt emits. */
  { "RSA-OAEP", KM_RSA_OAEP, "SHA1", 0 },
  { "RSA-OAEP-256", KM_RSA_OAEP, "SHA256", 0 },
  { "ECDH-ES", KM_ECDH_DIRECT, NULL, 0 },
  { "ECDH-ES+A128KW", KM_ECDH_KW, NULL, 16 },
  { "ECDH-ES+A192KW", KM_ECDH_KW, NULL, 24 },
  { "ECDH-ES+A256KW", KM_ECDH_KW, NULL, 32 },
};

typedef struct
{
  const char *name;
  size_t key_len;
} jwe_enc_t;

static const jwe_enc_t encs[] = {
  { "A128GCM", 16 },
  { "A192GCM", 24 },
  { "A256GCM", 32 },
};

static const jwe_alg_t *
alg_lookup (const char *name)
{
  for (size_t i = 0; name && i < VEIL_ARRAY_SIZE (algs); i++)
    if (!strcmp (algs[i].name, name))
      return &algs[i];
  return NULL;
}

static const jwe_enc_t *
enc_lookup (const char *name)
{
  for (size_t i = 0; name && i < VEIL_ARRAY_SIZE (encs); i++)
    if (!strcmp (encs[i].name, name))
      return &encs[i];
  return NULL;
}

/* OpenSSL 3 looks an algorithm up by name (under a lock) each time a
 * context is initialised with EVP_aes_256_gcm() and the like; fetching
 * once and reusing the fetched objects skips that on every JWE. */
static EVP_CIPHER *fetched_gcm[3], *fetched_wrap[3];
static EVP_MD *fetched_sha256;
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;

static void
fetch_init (void)
{
  static const char *const gcm[] = { "AES-128-GCM", "AES-192-GCM", "AES-256-GCM" };
  static const char *const wrap[] = { "AES-128-WRAP", "AES-192-WRAP", "AES-256-WRAP" };
  for (size_t i = 0; i < 3; i++)
    {
      fetched_gcm[i] = EVP_CIPHER_fetch (NULL, gcm[i], NULL);
      fetched_wrap[i] = EVP_CIPHER_fetch (NULL, wrap[i], NULL);
    }
  fetched_sha256 = EVP_MD_fetch (NULL, "SHA256", NULL);
  ERR_clear_error ();
}

static size_t
aes_index (size_t key_len)
{
  pthread_once (&fetch_once, fetch_init);
  return key_len == 16 ? 0 : key_len == 24 ? 1
                                           : 2;
}

static const EVP_CIPHER *
gcm_cipher (size_t key_len)
{
  size_t i = aes_index (key_len);
  if (fetched_gcm[i])
    return fetched_gcm[i];
  return key_len == 16 ? EVP_aes_128_gcm () : key_len == 24 ? EVP_aes_192_gcm ()
                                                            : EVP_aes_256_gcm ();
}

static const EVP_CIPHER *
wrap_cipher (size_t key_len)
{
  size_t i = aes_index (key_len);
  if (fetched_wrap[i])
    return fetched_wrap[i];
  return key_len == 16 ? EVP_aes_128_wrap () : key_len == 24 ? EVP_aes_192_wrap ()
                                                             : EVP_aes_256_wrap ();
}

static const EVP_MD *
kdf_md (void)
{
  pthread_once (&fetch_once, fetch_init);
  return fetched_sha256 ? fetched_sha256 : EVP_sha256 ();
}

/* ---- primitives ----------------------------------------------------------- */

/* RFC 3394 AES key wrap with the default IV (RFC 7518 §4.4). */
static int
aes_kw (bool wrap, const uint8_t *kek, size_t kek_len, const uint8_t *in, size_t in_len,
        uint8_t *out, size_t *out_len)
{
  _cleanup_ (EVP_CIPHER_CTX_freep) EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new ();
  int n1 = 0, n2 = 0;
  if (!ctx)
    return -1;
  EVP_CIPHER_CTX_set_flags (ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
  if (EVP_CipherInit_ex (ctx, wrap_cipher (kek_len), NULL, kek, NULL, wrap ? 1 : 0) != 1
      || EVP_CipherUpdate (ctx, out, &n1, in, (int) in_len) != 1
      || EVP_CipherFinal_ex (ctx, out + n1, &n2) != 1)
    {
      ERR_clear_error ();
      return -1;
    }
  *out_len = (size_t) n1 + (size_t) n2;
  return 0;
}

/* Concat KDF, NIST SP 800-56A §5.8.1 as profiled by RFC 7518 §4.6.2:
 * SHA-256 rounds over counter || Z || OtherInfo, where OtherInfo is
 * AlgorithmID || PartyUInfo || PartyVInfo (each length-prefixed) ||
 * SuppPubInfo (keydatalen in bits). */
static void
concat_kdf (const uint8_t *z, size_t z_len, const char *alg_id, const uint8_t *apu, size_t apu_len,
            const uint8_t *apv, size_t apv_len, uint8_t *out, size_t out_len)
{
  uint8_t be[4];
  uint8_t h[VEIL_SHA256_LEN];
#define BE32(v) (be[0] = (uint8_t) ((v) >> 24), be[1] = (uint8_t) ((v) >> 16), be[2] = (uint8_t) ((v) >> 8), be[3] = (uint8_t) (v), be)
  for (uint32_t counter = 1, done = 0; done < out_len; counter++)
    {
      _cleanup_ (EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new ();
      size_t id_len = strlen (alg_id);
      if (!ctx || EVP_DigestInit_ex (ctx, kdf_md (), NULL) != 1)
        abort ();
      EVP_DigestUpdate (ctx, BE32 (counter), 4);
      EVP_DigestUpdate (ctx, z, z_len);
      EVP_DigestUpdate (ctx, BE32 (id_len), 4);
      EVP_DigestUpdate (ctx, alg_id, id_len);
      EVP_DigestUpdate (ctx, BE32 (apu_len), 4);
      EVP_DigestUpdate (ctx, apu, apu_len);
      EVP_DigestUpdate (ctx, BE32 (apv_len), 4);
      EVP_DigestUpdate (ctx, apv, apv_len);
      EVP_DigestUpdate (ctx, BE32 (out_len * 8), 4);
      if (EVP_DigestFinal_ex (ctx, h, NULL) != 1)
        abort ();
      size_t n = out_len - done < sizeof (h) ? out_len - done : sizeof (h);
      memcpy (out + done, h, n);
      done += (uint32_t) n;
    }
#undef BE32
  veil_wipe (h, sizeof (h));
}

/* ECDH shared secret Z (the x coordinate, field-size bytes).  Every peer
 * key reaching here came through veil_jwk_to_pkey, which refused points off
 * the curve (the invalid-curve attack); on these cofactor-1 curves that is
 * the whole check, so OpenSSL's second, full validation (a scalar
 * multiplication by the order) is skipped. */
static int
ecdh (EVP_PKEY *priv, EVP_PKEY *peer, uint8_t **z, size_t *z_len, veil_error_t **err)
{
  _cleanup_ (EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey (NULL, priv, NULL);
  size_t n = 0;
  if (!ctx || EVP_PKEY_derive_init (ctx) != 1 || EVP_PKEY_derive_set_peer_ex (ctx, peer, 0) != 1
      || EVP_PKEY_derive (ctx, NULL, &n) != 1 || n == 0 || n > 132)
    return veil_error_set (err, EKEYREJECTED, "jwe: ECDH: %s", veil_openssl_error ());
  uint8_t *s = veil_secret_alloc (n);
  if (EVP_PKEY_derive (ctx, s, &n) != 1)
    {
      veil_secret_free (s);
      return veil_error_set (err, EKEYREJECTED, "jwe: ECDH: %s", veil_openssl_error ());
    }
  *z = s;
  *z_len = n;
  return 0;
}

static EVP_PKEY_CTX *
oaep_ctx (EVP_PKEY *pk, const char *md, bool enc)
{
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey (NULL, pk, NULL);
  if (!ctx || (enc ? EVP_PKEY_encrypt_init (ctx) : EVP_PKEY_decrypt_init (ctx)) != 1
      || EVP_PKEY_CTX_set_rsa_padding (ctx, RSA_PKCS1_OAEP_PADDING) != 1
      || EVP_PKEY_CTX_set_rsa_oaep_md_name (ctx, md, NULL) != 1
      || EVP_PKEY_CTX_set_rsa_mgf1_md_name (ctx, md, NULL) != 1)
    {
      EVP_PKEY_CTX_free (ctx);
      return NULL;
    }
  return ctx;
}

/* ---- encrypt -------------------------------------------------------------- */

typedef struct
{
  uint8_t *cek; /* secret */
  uint8_t *ek;
  size_t ek_len;
} wrapped_t;

static int
rsa_wrap (const jwe_alg_t *a, EVP_PKEY *pk, size_t cek_len, wrapped_t *w, veil_error_t **err)
{
  w->cek = veil_secret_alloc (cek_len);
  veil_random (w->cek, cek_len);
  _cleanup_ (EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = oaep_ctx (pk, a->md, true);
  size_t n = 0;
  if (!ctx || EVP_PKEY_encrypt (ctx, NULL, &n, w->cek, cek_len) != 1)
    return veil_error_set (err, EIO, "jwe: %s: %s", a->name, veil_openssl_error ());
  w->ek = xmalloc (n);
  if (EVP_PKEY_encrypt (ctx, w->ek, &n, w->cek, cek_len) != 1)
    return veil_error_set (err, EIO, "jwe: %s: %s", a->name, veil_openssl_error ());
  w->ek_len = n;
  return 0;
}

static int
ecdh_wrap (const jwe_alg_t *a, const jwe_enc_t *e, EVP_PKEY *pk, json_t *hdr, wrapped_t *w,
           veil_error_t **err)
{
  const veil_jose_curve_t *c = veil_jose_curve_of (pk);
  if (!c)
    return veil_error_set (err, EKEYREJECTED, "jwe: %s needs an EC P-256/384/521 key", a->name);
  _cleanup_pkey_ EVP_PKEY *eph = veil_jose_ec_generate (c, err);
  if (!eph)
    return -EIO;
  json_t *epk = veil_jwk_from_pkey (eph, false, err);
  if (!epk)
    return -EIO;
  json_object_set_new (hdr, "epk", epk);
  _cleanup_secret_ uint8_t *z = NULL;
  size_t z_len = 0;
  if (ecdh (eph, pk, &z, &z_len, err) < 0)
    return -EKEYREJECTED;
  if (a->kind == KM_ECDH_DIRECT)
    {
      /* §4.6.2: AlgorithmID is the "enc" value for direct agreement. */
      w->cek = veil_secret_alloc (e->key_len);
      concat_kdf (z, z_len, e->name, NULL, 0, NULL, 0, w->cek, e->key_len);
      return 0;
    }
  _cleanup_secret_ uint8_t *kek = veil_secret_alloc (a->kek_len);
  concat_kdf (z, z_len, a->name, NULL, 0, NULL, 0, kek, a->kek_len);
  w->cek = veil_secret_alloc (e->key_len);
  veil_random (w->cek, e->key_len);
  w->ek = xmalloc (e->key_len + 8);
  if (aes_kw (true, kek, a->kek_len, w->cek, e->key_len, w->ek, &w->ek_len) < 0)
    return veil_error_set (err, EIO, "jwe: AES key wrap failed");
  return 0;
}

static int
gcm_seal (const uint8_t *cek, size_t cek_len, const uint8_t iv[JWE_IV_LEN], const char *aad,
          const void *pt, size_t len, uint8_t *ct, uint8_t tag[JWE_TAG_LEN])
{
  _cleanup_ (EVP_CIPHER_CTX_freep) EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new ();
  int n = 0;
  if (!ctx || EVP_EncryptInit_ex (ctx, gcm_cipher (cek_len), NULL, NULL, NULL) != 1
      || EVP_CIPHER_CTX_ctrl (ctx, EVP_CTRL_GCM_SET_IVLEN, JWE_IV_LEN, NULL) != 1
      || EVP_EncryptInit_ex (ctx, NULL, NULL, cek, iv) != 1
      || EVP_EncryptUpdate (ctx, NULL, &n, (const uint8_t *) aad, (int) strlen (aad)) != 1
      || (len && EVP_EncryptUpdate (ctx, ct, &n, pt, (int) len) != 1)
      || EVP_EncryptFinal_ex (ctx, ct + (len ? n : 0), &n) != 1
      || EVP_CIPHER_CTX_ctrl (ctx, EVP_CTRL_GCM_GET_TAG, JWE_TAG_LEN, tag) != 1)
    return -1;
  return 0;
}

static void
set_b64 (json_t *o, const char *key, const void *data, size_t len)
{
  _cleanup_free_ char *s = veil_b64url_encode (data, len);
  json_object_set_new (o, key, json_string (s));
}

json_t *
veil_jwe_encrypt_enc (const json_t *recipient_jwk, const char *alg, const char *enc, const void *pt,
                      size_t len, veil_error_t **err)
{
  _cleanup_pkey_ EVP_PKEY *pk = veil_jwk_to_pkey (recipient_jwk, err);
  if (!pk)
    {
      veil_error_wrap (err, "jwe: recipient key");
      return NULL;
    }
  return veil_jwe_encrypt_pkey (pk, alg, enc, pt, len, err);
}

json_t *
veil_jwe_encrypt_pkey (EVP_PKEY *pk, const char *alg, const char *enc, const void *pt, size_t len,
                       veil_error_t **err)
{
  if (len > JWE_MAX_CT)
    {
      veil_error_set (err, E2BIG, "jwe: plaintext of %zu bytes exceeds %u", len, JWE_MAX_CT);
      return NULL;
    }
  const jwe_enc_t *e = enc_lookup (enc ? enc : "A256GCM");
  if (!e)
    {
      veil_error_set (err, ENOTSUP, "jwe: unsupported enc '%s' (A128GCM, A192GCM, A256GCM)", enc);
      return NULL;
    }
  if (!alg)
    alg = EVP_PKEY_get_base_id (pk) == EVP_PKEY_RSA ? "RSA-OAEP-256" : "ECDH-ES+A256KW";
  const jwe_alg_t *a = alg_lookup (alg);
  if (!a)
    {
      veil_error_set (err, ENOTSUP, "jwe: unsupported alg '%s'", alg);
      return NULL;
    }
  _cleanup_json_ json_t *hdr = json_object ();
  json_object_set_new (hdr, "alg", json_string (a->name));
  json_object_set_new (hdr, "enc", json_string (e->name));
  wrapped_t w = { 0 };
  int r;
  if (a->kind == KM_RSA_OAEP)
    r = veil_jose_rsa_bits (pk) ? rsa_wrap (a, pk, e->key_len, &w, err)
                                : veil_error_set (err, EKEYREJECTED, "jwe: %s needs an RSA key", a->name);
  else
    r = ecdh_wrap (a, e, pk, hdr, &w, err);
  _cleanup_secret_ uint8_t *cek = w.cek;
  _cleanup_free_ uint8_t *ek = w.ek;
  if (r < 0)
    return NULL;
  _cleanup_free_ char *hjson = json_dumps (hdr, JSON_COMPACT | JSON_SORT_KEYS);
  _cleanup_free_ char *p64 = veil_b64url_encode (hjson, strlen (hjson));
  uint8_t iv[JWE_IV_LEN], tag[JWE_TAG_LEN];
  veil_random (iv, sizeof (iv));
  _cleanup_free_ uint8_t *ct = xmalloc (len + 16);
  /* §5.1 step 14: AAD is ASCII(BASE64URL(protected header)). */
  if (gcm_seal (cek, e->key_len, iv, p64, pt, len, ct, tag) < 0)
    {
      veil_error_set (err, EIO, "jwe: %s encryption: %s", e->name, veil_openssl_error ());
      return NULL;
    }
  json_t *out = json_object ();
  json_object_set_new (out, "protected", json_string (p64));
  /* §7.2.1: encrypted_key is absent when empty (ECDH-ES direct). */
  if (w.ek_len)
    set_b64 (out, "encrypted_key", ek, w.ek_len);
  set_b64 (out, "iv", iv, sizeof (iv));
  set_b64 (out, "ciphertext", ct, len);
  set_b64 (out, "tag", tag, sizeof (tag));
  return out;
}

json_t *
veil_jwe_encrypt (const json_t *recipient_jwk, const char *alg, const void *pt, size_t len,
                  veil_error_t **err)
{
  return veil_jwe_encrypt_enc (recipient_jwk, alg, "A256GCM", pt, len, err);
}

char *
veil_jwe_to_compact (const json_t *jwe, veil_error_t **err)
{
  static const char *forbidden[] = { "unprotected", "header", "aad", "recipients" };
  if (!json_is_object (jwe))
    {
      veil_error_set (err, EINVAL, "jwe: not a JSON object");
      return NULL;
    }
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (forbidden); i++)
    if (json_object_get (jwe, forbidden[i]))
      {
        veil_error_set (err, EINVAL, "jwe: '%s' has no compact form (RFC 7516 §7.1)", forbidden[i]);
        return NULL;
      }
  const char *p = veil_json_req_str (jwe, "protected", err);
  const char *iv = p ? veil_json_req_str (jwe, "iv", err) : NULL;
  const char *ct = iv ? veil_json_req_str (jwe, "ciphertext", err) : NULL;
  const char *tag = ct ? veil_json_req_str (jwe, "tag", err) : NULL;
  const char *ek = veil_json_str (jwe, "encrypted_key");
  if (!tag)
    {
      veil_error_wrap (err, "jwe");
      return NULL;
    }
  return xasprintf ("%s.%s.%s.%s.%s", p, ek ? ek : "", iv, ct, tag);
}

/* ---- decrypt -------------------------------------------------------------- */

/* §5.2 step 2: the compact form as a flattened object. */
static json_t *
compact_to_flattened (const char *s, veil_error_t **err)
{
  static const char *names[] = { "protected", "encrypted_key", "iv", "ciphertext", "tag" };
  size_t max = (size_t) JWE_MAX_CT / 3 * 4 + 4 * JWE_MAX_HEADER;
  if (strnlen (s, max + 1) > max)
    {
      veil_error_set (err, E2BIG, "jwe: compact JWE longer than %zu bytes", max);
      return NULL;
    }
  _cleanup_json_ json_t *o = json_object ();
  const char *p = s;
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (names); i++)
    {
      const char *dot = strchr (p, '.');
      if ((i < 4) != (dot != NULL))
        {
          veil_error_set (err, EBADMSG, "jwe: compact JWE needs exactly five segments");
          return NULL;
        }
      size_t n = dot ? (size_t) (dot - p) : strlen (p);
      if (n || i != 1)
        json_object_set_new (o, names[i], json_stringn (p, n));
      p = dot ? dot + 1 : p + n;
    }
  return steal_pointer (&o);
}

/* The JOSE header of one recipient: the union of the protected, shared
 * unprotected and per-recipient headers, whose names must be disjoint
 * (§7.2.1) so that an unprotected member cannot shadow a protected one. */
static json_t *
merge_headers (const json_t *prot, const json_t *shared, const json_t *per, veil_error_t **err)
{
  const json_t *parts[] = { prot, shared, per };
  _cleanup_json_ json_t *h = json_object ();
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (parts); i++)
    {
      const char *k;
      json_t *v;
      if (!parts[i])
        continue;
      if (!json_is_object (parts[i]))
        {
          veil_error_set (err, EBADMSG, "jwe: header is not a JSON object");
          return NULL;
        }
      json_object_foreach ((json_t *) parts[i], k, v)
      {
        if (json_object_get (h, k))
          {
            veil_error_set (err, EBADMSG, "jwe: header member '%s' appears twice", k);
            return NULL;
          }
        json_object_set (h, k, v);
      }
    }
  return steal_pointer (&h);
}

static int
optional_b64 (const json_t *h, const char *key, uint8_t **out, size_t *len, veil_error_t **err)
{
  json_t *v = json_object_get (h, key);
  *out = NULL;
  *len = 0;
  if (!v)
    return 0;
  if (!json_is_string (v))
    return veil_error_set (err, EBADMSG, "jwe: '%s' is not a string", key);
  return veil_jose_b64_decode (json_string_value (v), JWE_MAX_PARTY, key, out, len, err);
}

static int
ecdh_unwrap (const jwe_alg_t *a, const jwe_enc_t *e, const json_t *h, EVP_PKEY *priv,
             const uint8_t *ek, size_t ek_len, uint8_t *cek, veil_error_t **err)
{
  const veil_jose_curve_t *c = veil_jose_curve_of (priv);
  if (!c)
    return veil_error_set (err, EKEYREJECTED, "jwe: %s needs an EC P-256/384/521 key", a->name);
  json_t *epk_jwk = json_object_get (h, "epk");
  if (!json_is_object (epk_jwk))
    return veil_error_set (err, EBADMSG, "jwe: %s header has no 'epk' object", a->name);
  if (json_object_get (epk_jwk, "d"))
    return veil_error_set (err, EBADMSG, "jwe: 'epk' carries a private key");
  const char *kty = veil_json_str (epk_jwk, "kty"), *crv = veil_json_str (epk_jwk, "crv");
  if (!kty || strcmp (kty, "EC") != 0 || !crv || strcmp (crv, c->jwk_name) != 0)
    return veil_error_set (err, EKEYREJECTED, "jwe: 'epk' is not an EC %s key", c->jwk_name);
  /* veil_jwk_to_pkey checks the point is on the curve (invalid-curve attack). */
  _cleanup_pkey_ EVP_PKEY *epk = veil_jwk_to_pkey (epk_jwk, err);
  if (!epk)
    return veil_error_wrap (err, "jwe: epk");
  _cleanup_free_ uint8_t *apu = NULL, *apv = NULL;
  size_t apu_len = 0, apv_len = 0;
  if (optional_b64 (h, "apu", &apu, &apu_len, err) < 0 || optional_b64 (h, "apv", &apv, &apv_len, err) < 0)
    return -EBADMSG;
  _cleanup_secret_ uint8_t *z = NULL;
  size_t z_len = 0;
  if (ecdh (priv, epk, &z, &z_len, err) < 0)
    return -EKEYREJECTED;
  if (a->kind == KM_ECDH_DIRECT)
    {
      /* §5.2 step 10: no encrypted key with direct key agreement. */
      if (ek_len)
        return veil_error_set (err, EBADMSG, "jwe: ECDH-ES with a non-empty encrypted_key");
      concat_kdf (z, z_len, e->name, apu, apu_len, apv, apv_len, cek, e->key_len);
      return 0;
    }
  if (ek_len != e->key_len + 8)
    return veil_error_set (err, EBADMSG, "jwe: wrapped key of %zu bytes for %s", ek_len, e->name);
  _cleanup_secret_ uint8_t *kek = veil_secret_alloc (a->kek_len);
  concat_kdf (z, z_len, a->name, apu, apu_len, apv, apv_len, kek, a->kek_len);
  size_t n = 0;
  if (aes_kw (false, kek, a->kek_len, ek, ek_len, cek, &n) < 0 || n != e->key_len)
    return veil_error_set (err, EBADMSG, "jwe: %s: key unwrap failed (wrong key or tampered)",
                           a->name);
  return 0;
}

static int
rsa_unwrap (const jwe_alg_t *a, const jwe_enc_t *e, EVP_PKEY *priv, const uint8_t *ek,
            size_t ek_len, uint8_t *cek, veil_error_t **err)
{
  int bits = veil_jose_rsa_bits (priv);
  if (!bits)
    return veil_error_set (err, EKEYREJECTED, "jwe: %s needs an RSA key", a->name);
  _cleanup_ (EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = oaep_ctx (priv, a->md, false);
  if (!ctx)
    return veil_error_set (err, EIO, "jwe: %s: %s", a->name, veil_openssl_error ());
  size_t n = (size_t) (bits + 7) / 8;
  _cleanup_secret_ uint8_t *out = veil_secret_alloc (n);
  int ok = EVP_PKEY_decrypt (ctx, out, &n, ek, ek_len) == 1 && n == e->key_len;
  ERR_clear_error ();
  /* RFC 7516 §11.5: on failure continue with a random CEK, so that a bad
   * encrypted key and a bad tag are indistinguishable to the sender. */
  if (ok)
    memcpy (cek, out, e->key_len);
  else
    veil_random (cek, e->key_len);
  return 0;
}

static int
gcm_open (const jwe_enc_t *e, const uint8_t *cek, const uint8_t *iv, const char *aad,
          size_t aad_len, const uint8_t *ct, size_t ct_len, const uint8_t *tag, uint8_t *pt)
{
  _cleanup_ (EVP_CIPHER_CTX_freep) EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new ();
  int n = 0;
  int ok = ctx && EVP_DecryptInit_ex (ctx, gcm_cipher (e->key_len), NULL, NULL, NULL) == 1
           && EVP_CIPHER_CTX_ctrl (ctx, EVP_CTRL_GCM_SET_IVLEN, JWE_IV_LEN, NULL) == 1
           && EVP_DecryptInit_ex (ctx, NULL, NULL, cek, iv) == 1
           && EVP_DecryptUpdate (ctx, NULL, &n, (const uint8_t *) aad, (int) aad_len) == 1
           && (ct_len == 0 || EVP_DecryptUpdate (ctx, pt, &n, ct, (int) ct_len) == 1)
           && EVP_CIPHER_CTX_ctrl (ctx, EVP_CTRL_GCM_SET_TAG, JWE_TAG_LEN, (void *) tag) == 1
           && EVP_DecryptFinal_ex (ctx, pt + (ct_len ? n : 0), &n) == 1;
  ERR_clear_error ();
  return ok ? 0 : -1;
}

/* The parts shared by every recipient. */
typedef struct
{
  json_t *prot;   /* decoded protected header, or NULL */
  json_t *shared; /* "unprotected" */
  char *aad;      /* ASCII(protected) [ '.' aad ] */
  uint8_t *iv, *ct, *tag;
  size_t ct_len;
} jwe_common_t;

static void
common_free (jwe_common_t *c)
{
  json_decref (c->prot);
  free (c->aad);
  free (c->iv);
  free (c->ct);
  free (c->tag);
}

static int
exact_b64 (const json_t *o, const char *key, size_t len, uint8_t **out, veil_error_t **err)
{
  size_t n = 0;
  const char *s = veil_json_req_str (o, key, err);
  if (!s)
    return veil_error_wrap (err, "jwe");
  if (veil_jose_b64_decode (s, len, key, out, &n, err) < 0)
    return veil_error_wrap (err, "jwe");
  if (n != len)
    return veil_error_set (err, EBADMSG, "jwe: '%s' is %zu bytes, must be %zu", key, n, len);
  return 0;
}

static int
parse_common (const json_t *jwe, jwe_common_t *c, veil_error_t **err)
{
  const char *p64 = veil_json_str (jwe, "protected");
  if (json_object_get (jwe, "protected") && !p64)
    return veil_error_set (err, EBADMSG, "jwe: 'protected' is not a string");
  if (p64)
    {
      _cleanup_free_ uint8_t *raw = NULL;
      size_t n = 0;
      if (veil_jose_b64_decode (p64, JWE_MAX_HEADER, "protected", &raw, &n, err) < 0)
        return veil_error_wrap (err, "jwe");
      c->prot = veil_json_parse (raw, n, JWE_MAX_HEADER, err);
      if (!c->prot)
        return veil_error_wrap (err, "jwe: protected header");
      if (!json_is_object (c->prot))
        return veil_error_set (err, EBADMSG, "jwe: protected header is not an object");
    }
  c->shared = json_object_get (jwe, "unprotected");
  const char *aad64 = veil_json_str (jwe, "aad");
  if (json_object_get (jwe, "aad") && !aad64)
    return veil_error_set (err, EBADMSG, "jwe: 'aad' is not a string");
  if (aad64)
    {
      _cleanup_free_ uint8_t *raw = NULL;
      size_t n = 0;
      /* validates the encoding and bounds it; the AAD uses the text itself */
      if (veil_jose_b64_decode (aad64, JWE_MAX_AAD, "aad", &raw, &n, err) < 0)
        return veil_error_wrap (err, "jwe");
    }
  /* §5.1 step 14 */
  c->aad = aad64 ? xasprintf ("%s.%s", p64 ? p64 : "", aad64) : xstrdup (p64 ? p64 : "");
  const char *ct64 = veil_json_req_str (jwe, "ciphertext", err);
  if (!ct64 || veil_jose_b64_decode (ct64, JWE_MAX_CT, "ciphertext", &c->ct, &c->ct_len, err) < 0)
    return veil_error_wrap (err, "jwe");
  if (exact_b64 (jwe, "iv", JWE_IV_LEN, &c->iv, err) < 0 || exact_b64 (jwe, "tag", JWE_TAG_LEN, &c->tag, err) < 0)
    return -EBADMSG;
  return 0;
}

/* Tries one recipient: header checks, CEK recovery, then GCM. */
static int
try_recipient (const jwe_common_t *c, const json_t *recip, EVP_PKEY *priv, uint8_t **pt,
               veil_error_t **err)
{
  if (!json_is_object (recip))
    return veil_error_set (err, EBADMSG, "jwe: recipient is not an object");
  _cleanup_json_ json_t *h = merge_headers (c->prot, c->shared, json_object_get (recip, "header"), err);
  if (!h)
    return -EBADMSG;
  const char *alg = veil_json_str (h, "alg"), *enc = veil_json_str (h, "enc");
  const jwe_alg_t *a = alg_lookup (alg);
  const jwe_enc_t *e = enc_lookup (enc);
  if (!a)
    return veil_error_set (err, ENOTSUP, "jwe: unsupported alg '%s'", alg ? alg : "(none)");
  if (!e)
    return veil_error_set (err, ENOTSUP, "jwe: unsupported enc '%s'", enc ? enc : "(none)");
  /* §4.1.3 zip would decompress attacker data after decryption; §4.1.13
   * crit extensions we do not know must be refused. */
  if (json_object_get (h, "zip"))
    return veil_error_set (err, ENOTSUP, "jwe: compressed ('zip') content is not supported");
  if (json_object_get (h, "crit"))
    return veil_error_set (err, ENOTSUP, "jwe: 'crit' header names extensions we do not implement");
  _cleanup_free_ uint8_t *ek = NULL;
  size_t ek_len = 0;
  const char *ek64 = veil_json_str (recip, "encrypted_key");
  if (json_object_get (recip, "encrypted_key") && !ek64)
    return veil_error_set (err, EBADMSG, "jwe: 'encrypted_key' is not a string");
  if (ek64 && veil_jose_b64_decode (ek64, JWE_MAX_EK, "encrypted_key", &ek, &ek_len, err) < 0)
    return veil_error_wrap (err, "jwe");
  _cleanup_secret_ uint8_t *cek = veil_secret_alloc (e->key_len);
  int r = a->kind == KM_RSA_OAEP ? rsa_unwrap (a, e, priv, ek, ek_len, cek, err)
                                 : ecdh_unwrap (a, e, h, priv, ek, ek_len, cek, err);
  if (r < 0)
    return r;
  uint8_t *out = veil_secret_alloc (c->ct_len);
  if (gcm_open (e, cek, c->iv, c->aad, strlen (c->aad), c->ct, c->ct_len, c->tag, out) < 0)
    {
      veil_secret_free (out);
      return veil_error_set (err, EBADMSG,
                             "jwe: %s/%s: decryption failed (wrong key or tampered message)",
                             a->name, e->name);
    }
  *pt = out;
  return 0;
}

int
veil_jwe_decrypt (const json_t *jwe, EVP_PKEY *priv, uint8_t **pt, size_t *pt_len,
                  veil_error_t **err)
{
  if (!priv || !pt || !pt_len)
    return veil_error_set (err, EINVAL, "jwe: no key or output");
  _cleanup_json_ json_t *flat = NULL;
  if (json_is_string (jwe))
    {
      if (!(flat = compact_to_flattened (json_string_value (jwe), err)))
        return -EBADMSG;
      jwe = flat;
    }
  if (!json_is_object (jwe))
    return veil_error_set (err, EBADMSG, "jwe: neither a JSON object nor a compact string");
  _cleanup_ (common_free) jwe_common_t c = { 0 };
  if (parse_common (jwe, &c, err) < 0)
    return -EBADMSG;
  json_t *recips = json_object_get (jwe, "recipients");
  if (!recips)
    {
      int r = try_recipient (&c, jwe, priv, pt, err);
      if (r == 0)
        *pt_len = c.ct_len;
      return r;
    }
  size_t n = json_array_size (recips);
  if (!json_is_array (recips) || n == 0 || n > JWE_MAX_RECIPIENTS)
    return veil_error_set (err, EBADMSG, "jwe: 'recipients' must be an array of 1..%d",
                           JWE_MAX_RECIPIENTS);
  /* §7.2.1: try each; the first whose CEK opens the ciphertext wins. */
  for (size_t i = 0; i < n; i++)
    {
      veil_error_t *e = NULL;
      if (try_recipient (&c, json_array_get (recips, i), priv, pt, &e) == 0)
        {
          *pt_len = c.ct_len;
          return 0;
        }
      if (i + 1 == n)
        {
          veil_error_propagate (err, e);
          return veil_error_wrap (err, "jwe: none of %zu recipients opens with this key", n);
        }
      veil_error_free (e);
    }
  return -EBADMSG;
}
