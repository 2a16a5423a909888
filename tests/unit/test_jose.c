/* Unit tests of JWK, JWS, JWT and JWE (lib/crypto/jw*.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include "veil/crypto.h"

static const char *all_kinds[] = { "RSA-2048", "P-256", "P-384", "P-521", "Ed25519" };
static EVP_PKEY *keys[VEIL_ARRAY_SIZE (all_kinds)];
static EVP_PKEY *other_keys[VEIL_ARRAY_SIZE (all_kinds)]; /* same kinds, different keys */

static EVP_PKEY *
key_of (const char *kind, bool other)
{
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (all_kinds); i++)
    if (!strcmp (all_kinds[i], kind))
      return other ? other_keys[i] : keys[i];
  fail_msg ("no key %s", kind);
  return NULL;
}

static int
setup_keys (void **state)
{
  (void) state;
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (all_kinds); i++)
    {
      keys[i] = veil_pkey_generate (all_kinds[i], NULL);
      other_keys[i] = veil_pkey_generate (all_kinds[i], NULL);
      if (!keys[i] || !other_keys[i])
        return -1;
    }
  return 0;
}

static int
teardown_keys (void **state)
{
  (void) state;
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (all_kinds); i++)
    {
      EVP_PKEY_free (keys[i]);
      EVP_PKEY_free (other_keys[i]);
    }
  return 0;
}

/* Asserts that a call failed with an error message, then frees it. */
#define assert_failed(err)          \
  do                                \
    {                               \
      assert_non_null (err);        \
      assert_non_null ((err)->msg); \
      veil_error_free (err);        \
      (err) = NULL;                 \
    }                               \
  while (0)

static json_t *
jwk_of (EVP_PKEY *pk, bool priv)
{
  veil_error_t *err = NULL;
  json_t *j = veil_jwk_from_pkey (pk, priv, &err);
  if (!j)
    fail_msg ("jwk: %s", err->msg);
  return j;
}

/* Replaces one base64url character in the middle of a string by another:
 * the decoded bytes change (the middle never holds padding bits). */
static char *
flip_b64 (const char *s)
{
  char *t = xstrdup (s);
  size_t i = strlen (t) / 2;
  t[i] = t[i] == 'A' ? 'B' : 'A';
  return t;
}

/* ---- JWK -------------------------------------------------------------- */

static void
test_jwk_roundtrip (void **state)
{
  (void) state;
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (all_kinds); i++)
    {
      veil_error_t *err = NULL;
      _cleanup_json_ json_t *priv = jwk_of (keys[i], true);
      _cleanup_json_ json_t *pub = jwk_of (keys[i], false);
      assert_non_null (json_object_get (priv, "d"));
      assert_null (json_object_get (pub, "d"));
      _cleanup_pkey_ EVP_PKEY *a = veil_jwk_to_pkey (priv, &err);
      if (!a)
        fail_msg ("%s: %s", all_kinds[i], err->msg);
      _cleanup_pkey_ EVP_PKEY *b = veil_jwk_to_pkey (pub, &err);
      if (!b)
        fail_msg ("%s: %s", all_kinds[i], err->msg);
      assert_int_equal (EVP_PKEY_eq (a, keys[i]), 1);
      assert_int_equal (EVP_PKEY_eq (b, keys[i]), 1);
      assert_int_equal (EVP_PKEY_eq (b, other_keys[i]), 0);
      /* the private part survived: a JWK of the re-imported key is identical */
      _cleanup_json_ json_t *again = jwk_of (a, true);
      assert_true (json_equal (again, priv));
    }
  /* RFC 7518 §6.2.1.2: P-521 coordinates are 66 bytes = 88 base64url chars. */
  _cleanup_json_ json_t *p521 = jwk_of (key_of ("P-521", false), true);
  assert_int_equal (strlen (veil_json_str (p521, "x")), 88);
  assert_int_equal (strlen (veil_json_str (p521, "y")), 88);
  assert_int_equal (strlen (veil_json_str (p521, "d")), 88);
  assert_string_equal (veil_json_str (p521, "crv"), "P-521");
  _cleanup_json_ json_t *ed = jwk_of (key_of ("Ed25519", false), false);
  assert_string_equal (veil_json_str (ed, "kty"), "OKP");
  assert_string_equal (veil_json_str (ed, "crv"), "Ed25519");
  _cleanup_json_ json_t *rsa = jwk_of (key_of ("RSA-2048", false), false);
  assert_string_equal (veil_json_str (rsa, "e"), "AQAB");
}

static void
expect_jwk_rejected (json_t *jwk, const char *why)
{
  veil_error_t *err = NULL;
  EVP_PKEY *pk = veil_jwk_to_pkey (jwk, &err);
  if (pk)
    fail_msg ("JWK accepted although %s", why);
  assert_failed (err);
  json_decref (jwk);
}

static void
test_jwk_rejects (void **state)
{
  (void) state;
  json_t *j = jwk_of (key_of ("P-256", false), false);
  json_object_set_new (j, "kty", json_string ("oct"));
  expect_jwk_rejected (j, "kty is oct");

  j = jwk_of (key_of ("P-256", false), false);
  json_object_set_new (j, "crv", json_string ("P-192"));
  expect_jwk_rejected (j, "crv is P-192");

  j = jwk_of (key_of ("Ed25519", false), false);
  json_object_set_new (j, "crv", json_string ("X25519"));
  expect_jwk_rejected (j, "OKP crv is X25519");

  j = jwk_of (key_of ("P-256", false), false);
  json_object_del (j, "kty");
  expect_jwk_rejected (j, "kty is missing");

  j = jwk_of (key_of ("P-256", false), false);
  json_object_set_new (j, "x", json_integer (1));
  expect_jwk_rejected (j, "x is not a string");

  /* 31-byte coordinate: an encoding with the leading zero stripped */
  j = jwk_of (key_of ("P-256", false), false);
  uint8_t raw[48] = { 0 };
  _cleanup_free_ char *short_x = veil_b64url_encode (raw, 31);
  json_object_set_new (j, "x", json_string (short_x));
  expect_jwk_rejected (j, "x is 31 bytes");

  /* P-384-sized coordinates under crv P-256 */
  j = jwk_of (key_of ("P-384", false), false);
  json_object_set_new (j, "crv", json_string ("P-256"));
  expect_jwk_rejected (j, "coordinates of the wrong curve size");

  /* a point off the curve (invalid-curve attack on ECDH) */
  j = jwk_of (key_of ("P-256", false), false);
  _cleanup_free_ char *bad_y = flip_b64 (veil_json_str (j, "y"));
  json_object_set_new (j, "y", json_string (bad_y));
  expect_jwk_rejected (j, "the point is not on the curve");

  /* private EC scalar that does not match the public point */
  j = jwk_of (key_of ("P-256", false), true);
  json_t *o = jwk_of (key_of ("P-256", true), true);
  json_object_set (j, "d", json_object_get (o, "d"));
  json_decref (o);
  expect_jwk_rejected (j, "d belongs to another key");

  /* Ed25519 x that does not match d */
  j = jwk_of (key_of ("Ed25519", false), true);
  o = jwk_of (key_of ("Ed25519", true), false);
  json_object_set (j, "x", json_object_get (o, "x"));
  json_decref (o);
  expect_jwk_rejected (j, "Ed25519 x does not match d");

  /* RSA below 2048 bits */
  EVP_PKEY *small = EVP_PKEY_Q_keygen (NULL, NULL, "RSA", (size_t) 1024);
  assert_non_null (small);
  j = jwk_of (small, false);
  EVP_PKEY_free (small);
  expect_jwk_rejected (j, "RSA-1024");

  /* RSA private key without CRT members */
  j = jwk_of (key_of ("RSA-2048", false), true);
  json_object_del (j, "qi");
  expect_jwk_rejected (j, "qi is missing");

  j = jwk_of (key_of ("RSA-2048", false), false);
  json_object_set_new (j, "oth", json_array ());
  expect_jwk_rejected (j, "multi-prime");

  expect_jwk_rejected (json_string ("not an object"), "not an object");
}

/* RFC 7638 §3.1: the example key and its thumbprint. */
static void
test_thumbprint_rfc7638 (void **state)
{
  (void) state;
  const char *n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJ"
                  "ECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2Q"
                  "vzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6"
                  "WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
  _cleanup_json_ json_t *jwk = json_pack ("{s:s, s:s, s:s, s:s, s:s}", "kty", "RSA", "n", n, "e",
                                          "AQAB", "alg", "RS256", "kid", "2011-04-29");
  veil_error_t *err = NULL;
  _cleanup_free_ char *t = veil_jwk_thumbprint (jwk, &err);
  assert_non_null (t);
  assert_string_equal (t, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
  /* and the key itself imports (2048-bit modulus) */
  _cleanup_pkey_ EVP_PKEY *pk = veil_jwk_to_pkey (jwk, &err);
  assert_non_null (pk);

  /* private and public JWK of one key have one thumbprint */
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (all_kinds); i++)
    {
      _cleanup_json_ json_t *a = jwk_of (keys[i], true), *b = jwk_of (keys[i], false);
      _cleanup_json_ json_t *c = jwk_of (other_keys[i], false);
      _cleanup_free_ char *ta = veil_jwk_thumbprint (a, NULL), *tb = veil_jwk_thumbprint (b, NULL);
      _cleanup_free_ char *tc = veil_jwk_thumbprint (c, NULL);
      assert_non_null (ta);
      assert_string_equal (ta, tb);
      assert_string_not_equal (ta, tc);
      assert_int_equal (strlen (ta), 43);
    }
  json_t *bad = json_pack ("{s:s}", "kty", "EC");
  assert_null (veil_jwk_thumbprint (bad, &err));
  assert_failed (err);
  json_decref (bad);
}

/* ---- JWS -------------------------------------------------------------- */

static const struct
{
  const char *alg, *kind;
  size_t sig_len; /* 0: variable */
} jws_cases[] = {
  { "ES256", "P-256", 64 },
  { "ES384", "P-384", 96 },
  { "ES512", "P-521", 132 },
  { "EdDSA", "Ed25519", 64 },
  { "RS256", "RSA-2048", 256 },
  { "PS256", "RSA-2048", 256 },
};

static char *
sign (const char *alg, EVP_PKEY *key, const char *payload)
{
  veil_error_t *err = NULL;
  _cleanup_json_ json_t *extra = json_pack ("{s:s}", "kid", "k1");
  char *s = veil_jws_sign (extra, payload, strlen (payload), key, alg, &err);
  if (!s)
    fail_msg ("sign %s: %s", alg, err->msg);
  return s;
}

static void
expect_jws_rejected (const char *jws, EVP_PKEY *key, const char *why)
{
  veil_error_t *err = NULL;
  uint8_t *payload = NULL;
  size_t len = 0;
  if (veil_jws_verify (jws, key, NULL, &payload, &len, &err) == 0)
    fail_msg ("JWS accepted although %s", why);
  assert_null (payload);
  assert_failed (err);
}

static void
test_jws_roundtrip (void **state)
{
  (void) state;
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (jws_cases); i++)
    {
      EVP_PKEY *key = key_of (jws_cases[i].kind, false);
      _cleanup_free_ char *jws = sign (jws_cases[i].alg, key, "{\"hello\":\"world\"}");
      veil_error_t *err = NULL;
      _cleanup_json_ json_t *hdr = NULL;
      _cleanup_free_ uint8_t *payload = NULL;
      size_t len = 0;
      if (veil_jws_verify (jws, key, &hdr, &payload, &len, &err) < 0)
        fail_msg ("%s: %s", jws_cases[i].alg, err->msg);
      assert_string_equal (veil_json_str (hdr, "alg"), jws_cases[i].alg);
      assert_string_equal (veil_json_str (hdr, "kid"), "k1");
      assert_int_equal (len, 17);
      assert_memory_equal (payload, "{\"hello\":\"world\"}", len);
      /* RFC 7518 §3.4: ECDSA signatures are raw R||S of twice the curve size */
      const char *sig64 = strrchr (jws, '.') + 1;
      _cleanup_free_ uint8_t *sig = NULL;
      size_t sig_len = 0;
      assert_int_equal (veil_b64url_decode (sig64, &sig, &sig_len, NULL), 0);
      assert_int_equal (sig_len, jws_cases[i].sig_len);
      /* a public-only copy of the key verifies too */
      _cleanup_json_ json_t *pub = jwk_of (key, false);
      _cleanup_pkey_ EVP_PKEY *pk = veil_jwk_to_pkey (pub, NULL);
      assert_int_equal (veil_jws_verify (jws, pk, NULL, NULL, NULL, NULL), 0);
    }
  /* empty payload */
  _cleanup_free_ char *e = sign ("ES256", key_of ("P-256", false), "");
  assert_int_equal (veil_jws_verify (e, key_of ("P-256", false), NULL, NULL, NULL, NULL), 0);
}

static void
test_jws_tamper_and_wrong_key (void **state)
{
  (void) state;
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (jws_cases); i++)
    {
      EVP_PKEY *key = key_of (jws_cases[i].kind, false);
      _cleanup_free_ char *jws = sign (jws_cases[i].alg, key, "payload that matters");
      /* each of the three segments */
      const char *d1 = strchr (jws, '.'), *d2 = strrchr (jws, '.');
      _cleanup_free_ char *h = xstrndup (jws, (size_t) (d1 - jws));
      _cleanup_free_ char *p = xstrndup (d1 + 1, (size_t) (d2 - d1 - 1));
      _cleanup_free_ char *fh = flip_b64 (h), *fp = flip_b64 (p), *fs = flip_b64 (d2 + 1);
      _cleanup_free_ char *t1 = xasprintf ("%s.%s.%s", fh, p, d2 + 1);
      _cleanup_free_ char *t2 = xasprintf ("%s.%s.%s", h, fp, d2 + 1);
      _cleanup_free_ char *t3 = xasprintf ("%s.%s.%s", h, p, fs);
      expect_jws_rejected (t1, key, "the header was modified");
      expect_jws_rejected (t2, key, "the payload was modified");
      expect_jws_rejected (t3, key, "the signature was modified");
      /* a header re-encoded with one more member breaks the signature */
      _cleanup_json_ json_t *hj = json_pack ("{s:s, s:s}", "alg", jws_cases[i].alg, "kid", "k2");
      _cleanup_free_ char *hs = json_dumps (hj, JSON_COMPACT);
      _cleanup_free_ char *h2 = veil_b64url_encode (hs, strlen (hs));
      _cleanup_free_ char *t4 = xasprintf ("%s.%s.%s", h2, p, d2 + 1);
      expect_jws_rejected (t4, key, "the header was replaced");
      /* truncated signature */
      _cleanup_free_ char *t5 = xstrndup (jws, strlen (jws) - 4);
      expect_jws_rejected (t5, key, "the signature was truncated");
      expect_jws_rejected (jws, key_of (jws_cases[i].kind, true), "the key is another one");
    }
  /* RFC 8725 §3.1: the key decides the algorithm */
  _cleanup_free_ char *es256 = sign ("ES256", key_of ("P-256", false), "x");
  expect_jws_rejected (es256, key_of ("P-384", false), "ES256 under a P-384 key");
  expect_jws_rejected (es256, key_of ("RSA-2048", false), "ES256 under an RSA key");
  _cleanup_free_ char *rs = sign ("RS256", key_of ("RSA-2048", false), "x");
  expect_jws_rejected (rs, key_of ("P-256", false), "RS256 under an EC key");
  _cleanup_free_ char *ed = sign ("EdDSA", key_of ("Ed25519", false), "x");
  expect_jws_rejected (ed, key_of ("P-256", false), "EdDSA under an EC key");
  /* a PS256 signature is not an RS256 one */
  _cleanup_free_ char *ps = sign ("PS256", key_of ("RSA-2048", false), "x");
  const char *dot = strchr (ps, '.');
  _cleanup_free_ char *hs = xstrdup ("{\"alg\":\"RS256\"}");
  _cleanup_free_ char *h64 = veil_b64url_encode (hs, strlen (hs));
  _cleanup_free_ char *mixed = xasprintf ("%s%s", h64, dot);
  expect_jws_rejected (mixed, key_of ("RSA-2048", false), "PS256 signature with RS256 header");

  /* signing refuses mismatched algorithms and unknown ones */
  veil_error_t *err = NULL;
  assert_null (veil_jws_sign (NULL, "x", 1, key_of ("P-256", false), "ES384", &err));
  assert_failed (err);
  assert_null (veil_jws_sign (NULL, "x", 1, key_of ("P-256", false), "HS256", &err));
  assert_failed (err);
  assert_null (veil_jws_sign (NULL, "x", 1, key_of ("Ed25519", false), "RS256", &err));
  assert_failed (err);
}

static char *
forge (const char *header_json, const char *payload, const char *sig64)
{
  _cleanup_free_ char *h = veil_b64url_encode (header_json, strlen (header_json));
  _cleanup_free_ char *p = veil_b64url_encode (payload, strlen (payload));
  return xasprintf ("%s.%s.%s", h, p, sig64);
}

static void
test_jws_refused (void **state)
{
  (void) state;
  EVP_PKEY *key = key_of ("P-256", false);
  _cleanup_free_ char *none = forge ("{\"alg\":\"none\"}", "{}", "");
  expect_jws_rejected (none, key, "alg is none");
  _cleanup_free_ char *hs = forge ("{\"alg\":\"HS256\"}", "{}", "AAAA");
  expect_jws_rejected (hs, key, "alg is HS256");
  _cleanup_free_ char *noalg = forge ("{\"typ\":\"JWT\"}", "{}", "AAAA");
  expect_jws_rejected (noalg, key, "alg is missing");
  _cleanup_free_ char *arr = forge ("[\"ES256\"]", "{}", "AAAA");
  expect_jws_rejected (arr, key, "the header is an array");
  _cleanup_free_ char *notjson = forge ("{alg", "{}", "AAAA");
  expect_jws_rejected (notjson, key, "the header is not JSON");

  /* a correctly signed token whose crit names an unknown extension */
  _cleanup_json_ json_t *extra = json_pack ("{s:[s], s:s}", "crit", "exp", "exp", "1");
  _cleanup_free_ char *crit = veil_jws_sign (extra, "x", 1, key, "ES256", NULL);
  assert_non_null (crit);
  expect_jws_rejected (crit, key, "crit is present");

  _cleanup_free_ char *good = sign ("ES256", key, "x");
  _cleanup_free_ char *two = xstrndup (good, (size_t) (strrchr (good, '.') - good));
  expect_jws_rejected (two, key, "two segments");
  _cleanup_free_ char *four = xasprintf ("%s.AAAA", good);
  expect_jws_rejected (four, key, "four segments");
  expect_jws_rejected ("", key, "empty token");
  expect_jws_rejected ("..", key, "empty segments");
  _cleanup_free_ char *badchar = xstrdup (good);
  badchar[3] = '+'; /* standard alphabet is not base64url */
  expect_jws_rejected (badchar, key, "a '+' in a segment");

  /* size bound: a 2 MiB token is refused before any decoding */
  size_t big = 2u << 20;
  char *huge = xmalloc (big + 1);
  memset (huge, 'A', big);
  huge[big] = 0;
  huge[100] = '.';
  huge[200] = '.';
  veil_error_t *err = NULL;
  assert_true (veil_jws_verify (huge, key, NULL, NULL, NULL, &err) < 0);
  assert_int_equal (err->code, E2BIG);
  veil_error_free (err);
  free (huge);
}

/* ---- JWT -------------------------------------------------------------- */

static char *
jwt (const char *claims)
{
  return sign ("ES256", key_of ("P-256", false), claims);
}

static void
expect_jwt (const char *claims, int64_t now, int64_t leeway, int want_code)
{
  _cleanup_free_ char *t = jwt (claims);
  veil_error_t *err = NULL;
  json_t *c = veil_jwt_verify (t, key_of ("P-256", false), now, leeway, &err);
  if (want_code == 0)
    {
      if (!c)
        fail_msg ("%s at %lld rejected: %s", claims, (long long) now, err->msg);
      assert_true (json_is_object (c));
      json_decref (c);
      return;
    }
  if (c)
    fail_msg ("%s at %lld accepted", claims, (long long) now);
  assert_int_equal (err->code, want_code);
  veil_error_free (err);
}

static void
test_jwt (void **state)
{
  (void) state;
  expect_jwt ("{\"exp\":1000}", 999, 0, 0);
  expect_jwt ("{\"exp\":1000}", 1000, 0, EKEYEXPIRED); /* RFC 7519 §4.1.4: before exp */
  expect_jwt ("{\"exp\":1000}", 1005, 10, 0);          /* within leeway */
  expect_jwt ("{\"exp\":1000}", 1010, 10, EKEYEXPIRED);
  expect_jwt ("{\"exp\":1000.5}", 999, 0, 0);
  expect_jwt ("{\"sub\":\"x\"}", 0, 0, EKEYREJECTED); /* exp is required */
  expect_jwt ("{\"exp\":\"1000\"}", 0, 0, EBADMSG);
  expect_jwt ("{\"exp\":2000,\"nbf\":1500}", 1000, 0, EKEYREJECTED);
  expect_jwt ("{\"exp\":2000,\"nbf\":1500}", 1495, 10, 0);
  expect_jwt ("{\"exp\":2000,\"nbf\":1500}", 1500, 0, 0);
  expect_jwt ("{\"exp\":9223372036854775807}", 1000, 60, 0); /* no overflow */
  expect_jwt ("[1]", 0, 0, EBADMSG);
  /* the signature is checked before the claims */
  _cleanup_free_ char *t = jwt ("{\"exp\":1000}");
  veil_error_t *err = NULL;
  assert_null (veil_jwt_verify (t, key_of ("P-256", true), 0, 0, &err));
  assert_int_equal (err->code, EKEYREJECTED);
  veil_error_free (err);
}

/* ---- JWE -------------------------------------------------------------- */

static const struct
{
  const char *kind, *alg;
} jwe_cases[] = {
  { "RSA-2048", "RSA-OAEP" },
  { "RSA-2048", "RSA-OAEP-256" },
  { "P-256", "ECDH-ES" },
  { "P-256", "ECDH-ES+A128KW" },
  { "P-256", "ECDH-ES+A192KW" },
  { "P-256", "ECDH-ES+A256KW" },
  { "P-384", "ECDH-ES" },
  { "P-384", "ECDH-ES+A256KW" },
  { "P-521", "ECDH-ES" },
  { "P-521", "ECDH-ES+A128KW" },
  { "P-521", "ECDH-ES+A256KW" },
};
static const char *encs[] = { "A128GCM", "A192GCM", "A256GCM" };

static json_t *
encrypt_to (const char *kind, const char *alg, const char *enc, const void *pt, size_t len)
{
  _cleanup_json_ json_t *jwk = jwk_of (key_of (kind, false), false);
  veil_error_t *err = NULL;
  json_t *jwe = veil_jwe_encrypt_enc (jwk, alg, enc, pt, len, &err);
  if (!jwe)
    fail_msg ("encrypt %s %s %s: %s", kind, alg, enc, err->msg);
  return jwe;
}

static json_t *
protected_header (const json_t *jwe)
{
  _cleanup_free_ uint8_t *raw = NULL;
  size_t n = 0;
  assert_int_equal (veil_b64url_decode (veil_json_str (jwe, "protected"), &raw, &n, NULL), 0);
  json_t *h = veil_json_parse (raw, n, 1 << 16, NULL);
  assert_non_null (h);
  return h;
}

static void
expect_decrypts (const json_t *jwe, EVP_PKEY *key, const void *want, size_t want_len)
{
  veil_error_t *err = NULL;
  _cleanup_secret_ uint8_t *pt = NULL;
  size_t len = 0;
  if (veil_jwe_decrypt (jwe, key, &pt, &len, &err) < 0)
    fail_msg ("decrypt: %s", err->msg);
  assert_int_equal (len, want_len);
  assert_memory_equal (pt, want, len);
  assert_int_equal (veil_secret_size (pt), len); /* a wiped secret allocation */
}

static void
expect_jwe_rejected (const json_t *jwe, EVP_PKEY *key, const char *why)
{
  veil_error_t *err = NULL;
  uint8_t *pt = NULL;
  size_t len = 0;
  if (veil_jwe_decrypt (jwe, key, &pt, &len, &err) == 0)
    fail_msg ("JWE decrypted although %s", why);
  assert_null (pt);
  assert_failed (err);
}

static void
test_jwe_roundtrip (void **state)
{
  (void) state;
  const char msg[] = "the resource: a 32-byte AES key and then some";
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (jwe_cases); i++)
    for (size_t e = 0; e < VEIL_ARRAY_SIZE (encs); e++)
      {
        _cleanup_json_ json_t *jwe = encrypt_to (jwe_cases[i].kind, jwe_cases[i].alg, encs[e], msg,
                                                 sizeof (msg));
        _cleanup_json_ json_t *h = protected_header (jwe);
        assert_string_equal (veil_json_str (h, "alg"), jwe_cases[i].alg);
        assert_string_equal (veil_json_str (h, "enc"), encs[e]);
        bool ecdh = !strncmp (jwe_cases[i].alg, "ECDH", 4);
        if (ecdh)
          {
            /* epk is a public JWK on the recipient's curve */
            json_t *epk = json_object_get (h, "epk");
            assert_non_null (epk);
            assert_null (json_object_get (epk, "d"));
            assert_string_equal (veil_json_str (epk, "crv"), jwe_cases[i].kind);
          }
        /* ECDH-ES direct has no encrypted key: the member is absent */
        bool direct = !strcmp (jwe_cases[i].alg, "ECDH-ES");
        assert_int_equal (json_object_get (jwe, "encrypted_key") == NULL, direct);
        assert_int_equal (json_object_size (jwe), direct ? 4 : 5);
        _cleanup_free_ uint8_t *iv = NULL, *tag = NULL;
        size_t iv_len = 0, tag_len = 0;
        assert_int_equal (veil_b64url_decode (veil_json_str (jwe, "iv"), &iv, &iv_len, NULL), 0);
        assert_int_equal (veil_b64url_decode (veil_json_str (jwe, "tag"), &tag, &tag_len, NULL), 0);
        assert_int_equal (iv_len, 12);
        assert_int_equal (tag_len, 16);
        expect_decrypts (jwe, key_of (jwe_cases[i].kind, false), msg, sizeof (msg));
      }
  /* defaults: RSA-OAEP-256 / ECDH-ES+A256KW with A256GCM */
  const char *dk[] = { "RSA-2048", "P-256", "P-384", "P-521" };
  const char *da[] = { "RSA-OAEP-256", "ECDH-ES+A256KW", "ECDH-ES+A256KW", "ECDH-ES+A256KW" };
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (dk); i++)
    {
      _cleanup_json_ json_t *jwk = jwk_of (key_of (dk[i], false), false);
      _cleanup_json_ json_t *jwe = veil_jwe_encrypt (jwk, NULL, "", 0, NULL);
      assert_non_null (jwe);
      _cleanup_json_ json_t *h = protected_header (jwe);
      assert_string_equal (veil_json_str (h, "alg"), da[i]);
      assert_string_equal (veil_json_str (h, "enc"), "A256GCM");
      expect_decrypts (jwe, key_of (dk[i], false), "", 0);
    }
  /* an Ed25519 key cannot receive a JWE; unknown algs are refused */
  veil_error_t *err = NULL;
  _cleanup_json_ json_t *ed = jwk_of (key_of ("Ed25519", false), false);
  assert_null (veil_jwe_encrypt (ed, NULL, "x", 1, &err));
  assert_failed (err);
  _cleanup_json_ json_t *rsa = jwk_of (key_of ("RSA-2048", false), false);
  assert_null (veil_jwe_encrypt (rsa, "RSA1_5", "x", 1, &err));
  assert_failed (err);
  assert_null (veil_jwe_encrypt (rsa, "ECDH-ES", "x", 1, &err));
  assert_failed (err);
  assert_null (veil_jwe_encrypt_enc (rsa, NULL, "A256CBC-HS512", "x", 1, &err));
  assert_failed (err);
}

/* Copy of jwe with member replaced by a string value (or removed). */
static json_t *
with_member (const json_t *jwe, const char *member, const char *value)
{
  json_t *c = json_deep_copy (jwe);
  if (value)
    json_object_set_new (c, member, json_string (value));
  else
    json_object_del (c, member);
  return c;
}

static json_t *
with_header (const json_t *jwe, const json_t *hdr)
{
  _cleanup_free_ char *s = json_dumps (hdr, JSON_COMPACT);
  _cleanup_free_ char *p = veil_b64url_encode (s, strlen (s));
  return with_member (jwe, "protected", p);
}

static void
test_jwe_tamper_and_wrong_key (void **state)
{
  (void) state;
  static const char *members[] = { "protected", "encrypted_key", "iv", "ciphertext", "tag" };
  const char msg[] = "secret resource";
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (jwe_cases); i++)
    {
      EVP_PKEY *key = key_of (jwe_cases[i].kind, false);
      _cleanup_json_ json_t *jwe = encrypt_to (jwe_cases[i].kind, jwe_cases[i].alg, "A256GCM", msg,
                                               sizeof (msg));
      for (size_t m = 0; m < VEIL_ARRAY_SIZE (members); m++)
        {
          const char *v = veil_json_str (jwe, members[m]);
          if (!v)
            continue; /* ECDH-ES direct */
          _cleanup_free_ char *f = flip_b64 (v);
          _cleanup_json_ json_t *t = with_member (jwe, members[m], f);
          expect_jwe_rejected (t, key, members[m]);
          if (strcmp (members[m], "protected") != 0)
            {
              _cleanup_json_ json_t *gone = with_member (jwe, members[m], NULL);
              expect_jwe_rejected (gone, key, "a member is missing");
            }
        }
      /* a well-formed but different protected header changes the AAD */
      _cleanup_json_ json_t *h = protected_header (jwe);
      json_object_set_new (h, "kid", json_string ("x"));
      _cleanup_json_ json_t *t = with_header (jwe, h);
      expect_jwe_rejected (t, key, "the protected header was re-encoded");
      /* aad added after the fact */
      _cleanup_json_ json_t *aad = with_member (jwe, "aad", "AAAA");
      expect_jwe_rejected (aad, key, "an aad member was added");
      expect_jwe_rejected (jwe, key_of (jwe_cases[i].kind, true), "the key is another one");
      const char *wrong_type = strcmp (jwe_cases[i].kind, "RSA-2048") ? "RSA-2048" : "P-256";
      expect_jwe_rejected (jwe, key_of (wrong_type, false), "the key is of another type");
    }
  /* ECDH on another curve */
  _cleanup_json_ json_t *p256 = encrypt_to ("P-256", "ECDH-ES+A256KW", "A256GCM", "x", 1);
  expect_jwe_rejected (p256, key_of ("P-384", false), "the key is on another curve");
}

static void
test_jwe_forms (void **state)
{
  (void) state;
  const char msg[] = "forms";
  EVP_PKEY *key = key_of ("P-384", false);
  _cleanup_json_ json_t *flat = encrypt_to ("P-384", "ECDH-ES+A192KW", "A128GCM", msg, sizeof (msg));
  veil_error_t *err = NULL;

  /* compact (RFC 7516 §7.1), given as a JSON string */
  _cleanup_free_ char *compact = veil_jwe_to_compact (flat, &err);
  assert_non_null (compact);
  _cleanup_json_ json_t *cs = json_string (compact);
  expect_decrypts (cs, key, msg, sizeof (msg));
  _cleanup_free_ char *c2 = xasprintf ("%s.x", compact);
  _cleanup_json_ json_t *cs2 = json_string (c2);
  expect_jwe_rejected (cs2, key, "six compact segments");

  /* ECDH-ES direct compact: empty second segment */
  _cleanup_json_ json_t *dflat = encrypt_to ("P-256", "ECDH-ES", "A256GCM", msg, sizeof (msg));
  _cleanup_free_ char *dcompact = veil_jwe_to_compact (dflat, &err);
  assert_non_null (strstr (dcompact, ".."));
  _cleanup_json_ json_t *dcs = json_string (dcompact);
  expect_decrypts (dcs, key_of ("P-256", false), msg, sizeof (msg));

  /* general (§7.2.1): the first recipient is not for us */
  _cleanup_json_ json_t *gen = json_deep_copy (flat);
  json_t *ek = json_object_get (flat, "encrypted_key");
  json_object_del (gen, "encrypted_key");
  json_object_set_new (gen, "recipients",
                       json_pack ("[{s:s, s:{s:s}}, {s:O}]", "encrypted_key", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                                  "header", "kid", "someone-else", "encrypted_key", ek));
  expect_decrypts (gen, key, msg, sizeof (msg));
  /* an unprotected header may not repeat a protected member (§7.2.1) */
  _cleanup_json_ json_t *dup = json_deep_copy (gen);
  json_object_set_new (dup, "unprotected", json_pack ("{s:s}", "enc", "A128GCM"));
  expect_jwe_rejected (dup, key, "enc appears twice");
  _cleanup_json_ json_t *none = json_deep_copy (gen);
  json_object_set_new (none, "recipients", json_array ());
  expect_jwe_rejected (none, key, "no recipients");

  /* a compact form does not exist for JWEs with unprotected parts */
  assert_null (veil_jwe_to_compact (gen, &err));
  assert_failed (err);
  _cleanup_json_ json_t *num = json_integer (1);
  expect_jwe_rejected (num, key, "the JWE is a number");
}

static void
test_jwe_refused (void **state)
{
  (void) state;
  EVP_PKEY *key = key_of ("P-256", false);
  _cleanup_json_ json_t *jwe = encrypt_to ("P-256", "ECDH-ES+A256KW", "A256GCM", "x", 1);
  _cleanup_json_ json_t *h = protected_header (jwe);
  static const struct
  {
    const char *member, *value;
  } bad[] = {
    { "alg", "dir" },
    { "alg", "A256KW" },
    { "alg", "RSA1_5" },
    { "alg", "none" },
    { "enc", "A256CBC-HS512" },
    { "zip", "DEF" },
  };
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (bad); i++)
    {
      _cleanup_json_ json_t *hh = json_deep_copy (h);
      json_object_set_new (hh, bad[i].member, json_string (bad[i].value));
      _cleanup_json_ json_t *t = with_header (jwe, hh);
      expect_jwe_rejected (t, key, bad[i].value);
    }
  _cleanup_json_ json_t *hc = json_deep_copy (h);
  json_object_set_new (hc, "crit", json_pack ("[s]", "exp"));
  _cleanup_json_ json_t *tc = with_header (jwe, hc);
  expect_jwe_rejected (tc, key, "crit is present");

  /* epk: off the curve, private, missing, on another curve */
  _cleanup_json_ json_t *he = json_deep_copy (h);
  json_t *epk = json_object_get (he, "epk");
  _cleanup_free_ char *bad_y = flip_b64 (veil_json_str (epk, "y"));
  json_object_set_new (epk, "y", json_string (bad_y));
  _cleanup_json_ json_t *te = with_header (jwe, he);
  expect_jwe_rejected (te, key, "epk is off the curve");
  _cleanup_json_ json_t *hp = json_deep_copy (h);
  json_object_set_new (hp, "epk", jwk_of (key_of ("P-256", true), true));
  _cleanup_json_ json_t *tp = with_header (jwe, hp);
  expect_jwe_rejected (tp, key, "epk has d");
  _cleanup_json_ json_t *hm = json_deep_copy (h);
  json_object_del (hm, "epk");
  _cleanup_json_ json_t *tm = with_header (jwe, hm);
  expect_jwe_rejected (tm, key, "epk is missing");
  _cleanup_json_ json_t *h3 = json_deep_copy (h);
  json_object_set_new (h3, "epk", jwk_of (key_of ("P-384", true), false));
  _cleanup_json_ json_t *t3 = with_header (jwe, h3);
  expect_jwe_rejected (t3, key, "epk is on P-384");

  /* sizes: IV and tag have exactly one length; encrypted_key is bounded */
  uint8_t zeros[4096] = { 0 };
  _cleanup_free_ char *iv11 = veil_b64url_encode (zeros, 11);
  _cleanup_free_ char *tag15 = veil_b64url_encode (zeros, 15);
  _cleanup_free_ char *ek4k = veil_b64url_encode (zeros, sizeof (zeros));
  _cleanup_json_ json_t *a = with_member (jwe, "iv", iv11);
  _cleanup_json_ json_t *b = with_member (jwe, "tag", tag15);
  _cleanup_json_ json_t *c = with_member (jwe, "encrypted_key", ek4k);
  _cleanup_json_ json_t *d = with_member (jwe, "ciphertext", "A");
  expect_jwe_rejected (a, key, "the IV is 11 bytes");
  expect_jwe_rejected (b, key, "the tag is 15 bytes");
  expect_jwe_rejected (c, key, "the encrypted key is 4 KiB");
  expect_jwe_rejected (d, key, "the ciphertext is not base64url");
  _cleanup_json_ json_t *num = json_deep_copy (jwe);
  json_object_set_new (num, "iv", json_integer (5));
  expect_jwe_rejected (num, key, "the IV is a number");
}

/* RFC 7518 Appendix C: Alice's ephemeral key, Bob's static key, apu
 * "Alice", apv "Bob", enc A128GCM give the derived key
 * VqqN6vgjbSBcIijNcacQGg.  We encrypt with that key directly and let the
 * library derive it from Bob's private key. */
static void
test_jwe_rfc7518_appendix_c (void **state)
{
  (void) state;
  _cleanup_json_ json_t *bob
      = json_pack ("{s:s, s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-256", "x",
                   "weNJy2HscCSM6AEDTDg04biOvhFhyyWvOHQfeF_PxMQ", "y",
                   "e8lnCO-AlStT-NJVX-crhB7QRYhiix03illJOVAOyck", "d",
                   "VEmDZpDXXK8p8N0Cndsxs924q6nS1RXFASRl6BfUqdw");
  veil_error_t *err = NULL;
  _cleanup_pkey_ EVP_PKEY *bob_key = veil_jwk_to_pkey (bob, &err);
  assert_non_null (bob_key);
  _cleanup_json_ json_t *hdr = json_pack (
      "{s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s}}", "alg", "ECDH-ES", "enc", "A128GCM", "apu",
      "QWxpY2U", "apv", "Qm9i", "epk", "kty", "EC", "crv", "P-256", "x",
      "gI0GAILBdu7T53akrFmMyGcsF3n5dO7MmwNBHKW5SV0", "y", "SLW_xSffzlPWrHEVI30DHM_4egVwt3NQqeUD7nMFpps");
  _cleanup_free_ char *hs = json_dumps (hdr, JSON_COMPACT);
  _cleanup_free_ char *p64 = veil_b64url_encode (hs, strlen (hs));
  _cleanup_free_ uint8_t *cek = NULL;
  size_t cek_len = 0;
  assert_int_equal (veil_b64url_decode ("VqqN6vgjbSBcIijNcacQGg", &cek, &cek_len, NULL), 0);
  assert_int_equal (cek_len, 16);
  const char msg[] = "Appendix C";
  uint8_t iv[12] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 }, ct[sizeof (msg)], tag[16];
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new ();
  int n = 0;
  assert_int_equal (EVP_EncryptInit_ex (ctx, EVP_aes_128_gcm (), NULL, cek, iv), 1);
  assert_int_equal (EVP_EncryptUpdate (ctx, NULL, &n, (uint8_t *) p64, (int) strlen (p64)), 1);
  assert_int_equal (EVP_EncryptUpdate (ctx, ct, &n, (const uint8_t *) msg, sizeof (msg)), 1);
  assert_int_equal (EVP_EncryptFinal_ex (ctx, ct + n, &n), 1);
  assert_int_equal (EVP_CIPHER_CTX_ctrl (ctx, EVP_CTRL_GCM_GET_TAG, 16, tag), 1);
  EVP_CIPHER_CTX_free (ctx);
  _cleanup_free_ char *iv64 = veil_b64url_encode (iv, 12), *ct64 = veil_b64url_encode (ct, sizeof (ct));
  _cleanup_free_ char *tag64 = veil_b64url_encode (tag, 16);
  _cleanup_json_ json_t *jwe = json_pack ("{s:s, s:s, s:s, s:s}", "protected", p64, "iv", iv64,
                                          "ciphertext", ct64, "tag", tag64);
  expect_decrypts (jwe, bob_key, msg, sizeof (msg));
  /* without apu/apv the KDF input differs and the key is wrong */
  json_object_del (hdr, "apu");
  _cleanup_json_ json_t *t = with_header (jwe, hdr);
  expect_jwe_rejected (t, bob_key, "apu was dropped");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_jwk_roundtrip),
    cmocka_unit_test (test_jwk_rejects),
    cmocka_unit_test (test_thumbprint_rfc7638),
    cmocka_unit_test (test_jws_roundtrip),
    cmocka_unit_test (test_jws_tamper_and_wrong_key),
    cmocka_unit_test (test_jws_refused),
    cmocka_unit_test (test_jwt),
    cmocka_unit_test (test_jwe_roundtrip),
    cmocka_unit_test (test_jwe_tamper_and_wrong_key),
    cmocka_unit_test (test_jwe_forms),
    cmocka_unit_test (test_jwe_refused),
    cmocka_unit_test (test_jwe_rfc7518_appendix_c),
  };
  return cmocka_run_group_tests (tests, setup_keys, teardown_keys);
}
