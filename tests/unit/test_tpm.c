/* Unit tests of the TPM 2.0 quote verifier and the Azure HCL report parser,
 * against evidence captured on real hardware (tests/data/tpm, azure) and
 * quotes the tests build and sign themselves. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include "veil/attest.h"

/* Offsets in the vector's TPMS_ATTEST (Part 2 §10.12.12), derived from its
 * sizes: magic 4, type 2, qualifiedSigner 2+34, extraData 2+64, clockInfo
 * 17, firmwareVersion 8, one pcr selection 4+2+1+3, pcrDigest 2+32. */
#define OFF_MAGIC 0
#define OFF_TYPE 4
#define OFF_EXTRA 42
#define OFF_CLOCK 108
#define OFF_DIGEST 143
#define MSG_LEN 177

/* The vectors' AKs are not certified by anything here: inspect quotes. */
static const veil_attest_config_t no_cfg = { .tpm_any_ak = true };

static char *
data_path (const char *rel)
{
  const char *dir = getenv ("VEIL_TEST_DATA");
  return xasprintf ("%s/%s", dir ? dir : "tests/data", rel);
}

static json_t *
load_json (const char *rel)
{
  _cleanup_free_ char *p = data_path (rel);
  _cleanup_free_ uint8_t *buf = NULL;
  size_t len = 0;
  assert_int_equal (veil_file_read (p, 1 << 20, &buf, &len, NULL), 0);
  json_t *j = veil_json_parse (buf, len, 1 << 20, NULL);
  assert_non_null (j);
  return j;
}

static uint8_t *
b64_member (const json_t *o, const char *key, size_t *len)
{
  uint8_t *out = NULL;
  assert_int_equal (veil_b64any_decode (json_string_value (json_object_get (o, key)), &out, len, NULL), 0);
  return out;
}

static void
set_b64 (json_t *o, const char *key, const uint8_t *p, size_t n)
{
  _cleanup_free_ char *s = veil_b64_encode (p, n);
  json_object_set_new (o, key, json_string (s));
}

/* Verify evidence and expect failure with a message containing what. */
static void
expect_fail (const veil_verifier_ops_t *ops, const json_t *ev, const veil_attest_expect_t *exp,
             const char *what)
{
  veil_error_t *err = NULL;
  json_t *c = ops->verify (ev, exp, &no_cfg, &err);
  if (c)
    fail_msg ("verified, expected failure naming '%s'", what);
  assert_non_null (err);
  if (!strstr (err->msg, what))
    fail_msg ("error '%s' does not name '%s'", err->msg, what);
  veil_error_free (err);
}

/* The vector's message with one byte changed (or its hash alg etc.). */
static json_t *
tamper_message (const json_t *ev, size_t off, uint8_t xor)
{
  json_t *t = json_deep_copy (ev);
  json_t *q = json_object_get (t, "tpm_quote");
  size_t n;
  _cleanup_free_ uint8_t *m = b64_member (q, "message", &n);
  assert_true (off < n);
  m[off] ^= xor;
  set_b64 (q, "message", m, n);
  return t;
}

/* A service trusts only listed AKs: the vector's AK by its SHA-256. */
static void
test_ak_trust_list (void **state)
{
  (void) state;
  _cleanup_json_ json_t *ev = load_json ("tpm/tpm_evidence.json");
  size_t n;
  _cleanup_free_ uint8_t *ak = b64_member (ev, "ak_public", &n);
  uint8_t h[VEIL_SHA256_LEN];
  veil_sha256 (ak, n, h);
  _cleanup_free_ char *hex = veil_hex_encode (h, sizeof (h));
  const char *good[] = { "00"
                         "11223344556677889900112233445566778899001122334455667788990011",
                         hex };
  veil_attest_config_t cfg = { .tpm_trusted_aks = good, .n_tpm_trusted_aks = 2 };
  veil_error_t *err = NULL;
  json_t *c = veil_verifier_tpm.verify (ev, NULL, &cfg, &err);
  if (!c)
    fail_msg ("%s", err->msg);
  json_decref (c);
  cfg.n_tpm_trusted_aks = 1; /* only the other key */
  c = veil_verifier_tpm.verify (ev, NULL, &cfg, &err);
  assert_null (c);
  assert_non_null (strstr (err->msg, "is not trusted"));
  veil_error_free (err);
  err = NULL;
  veil_attest_config_t none = { 0 };
  assert_null (veil_verifier_tpm.verify (ev, NULL, &none, &err));
  assert_non_null (strstr (err->msg, "tpm.trusted_aks"));
  veil_error_free (err);
}

static void
test_vector_verifies (void **state)
{
  (void) state;
  _cleanup_json_ json_t *ev = load_json ("tpm/tpm_evidence.json");
  json_t *q = json_object_get (ev, "tpm_quote");
  veil_error_t *err = NULL;
  _cleanup_json_ json_t *c = veil_verifier_tpm.verify (ev, NULL, &no_cfg, &err);
  if (!c)
    fail_msg ("%s", err->msg);

  size_t n, ak_len;
  _cleanup_free_ uint8_t *m = b64_member (q, "message", &n);
  _cleanup_free_ uint8_t *ak = b64_member (ev, "ak_public", &ak_len);
  assert_int_equal (n, MSG_LEN);
  _cleanup_free_ char *extra = veil_hex_encode (m + OFF_EXTRA + 2, 64);
  assert_string_equal (veil_json_str (c, "extra_data"), extra);
  assert_string_equal (veil_json_str (c, "report_data"), extra);
  uint8_t h[32];
  veil_sha256 (ak, ak_len, h);
  _cleanup_free_ char *hh = veil_hex_encode (h, 32);
  assert_string_equal (veil_json_str (c, "ak_public_sha256"), hh);
  assert_string_equal (veil_json_str (c, "pcr_bank"), "sha256");
  assert_string_equal (veil_json_str (c, "quote_signature_alg"), "rsassa-sha256");
  uint64_t clock = 0;
  for (int i = 0; i < 8; i++)
    clock = clock << 8 | m[OFF_CLOCK + i];
  assert_int_equal (json_integer_value (json_object_get (c, "clock")), (json_int_t) clock);
  for (int i = 0; i < 24; i++)
    {
      char name[16];
      snprintf (name, sizeof (name), "pcr%02d", i);
      assert_string_equal (veil_json_str (c, name), json_string_value (json_array_get (json_object_get (q, "pcrs"), i)));
    }
  assert_string_equal (veil_json_str (c, "init_data"), veil_json_str (c, "pcr08"));
}

static void
test_report_data_binding (void **state)
{
  (void) state;
  _cleanup_json_ json_t *ev = load_json ("tpm/tpm_evidence.json");
  size_t n;
  _cleanup_free_ uint8_t *m = b64_member (json_object_get (ev, "tpm_quote"), "message", &n);
  uint8_t rd[64];
  memcpy (rd, m + OFF_EXTRA + 2, 64);
  /* the attester zero-pads a 48-byte report_data to 64: both forms bind */
  for (size_t len = 48; len <= 64; len += 16)
    {
      veil_attest_expect_t exp = { .report_data = rd, .report_data_len = len };
      veil_error_t *err = NULL;
      json_t *c = veil_verifier_tpm.verify (ev, &exp, &no_cfg, &err);
      if (!c)
        fail_msg ("len %zu: %s", len, err->msg);
      json_decref (c);
    }
  rd[3] ^= 1;
  veil_attest_expect_t bad = { .report_data = rd, .report_data_len = 48 };
  expect_fail (&veil_verifier_tpm, ev, &bad, "extraData does not match report_data");
  rd[3] ^= 1;
  veil_attest_expect_t shorter = { .report_data = rd, .report_data_len = 40 };
  expect_fail (&veil_verifier_tpm, ev, &shorter, "extraData does not match report_data");
  /* PCR8 of the vector is zero: no init-data digest extends to that */
  uint8_t init[32] = { 1 };
  veil_attest_expect_t ini = { .init_data_digest = init, .init_data_digest_len = 32 };
  expect_fail (&veil_verifier_tpm, ev, &ini, "PCR8 does not match");
}

static void
test_tampered_fields (void **state)
{
  (void) state;
  _cleanup_json_ json_t *ev = load_json ("tpm/tpm_evidence.json");
  static const struct
  {
    size_t off;
    const char *what;
  } cases[] = {
    { OFF_MAGIC, "not TPM_GENERATED" },
    { OFF_TYPE + 1, "not TPM_ST_ATTEST_QUOTE" },
    { OFF_EXTRA + 2 + 5, "signature does not verify" },
    { OFF_CLOCK + 7, "signature does not verify" },
    { OFF_DIGEST + 2 + 31, "signature does not verify" },
  };
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (cases); i++)
    {
      _cleanup_json_ json_t *t = tamper_message (ev, cases[i].off, 0x01);
      expect_fail (&veil_verifier_tpm, t, NULL, cases[i].what);
    }
  /* a size field pointing past the end */
  _cleanup_json_ json_t *t = tamper_message (ev, OFF_EXTRA, 0x10);
  expect_fail (&veil_verifier_tpm, t, NULL, "extraData");
}

static void
test_tampered_signature_pcr_ak (void **state)
{
  (void) state;
  _cleanup_json_ json_t *ev = load_json ("tpm/tpm_evidence.json");
  size_t n;
  _cleanup_free_ uint8_t *s = b64_member (json_object_get (ev, "tpm_quote"), "signature", &n);

  _cleanup_json_ json_t *t1 = json_deep_copy (ev);
  s[100] ^= 0x80;
  set_b64 (json_object_get (t1, "tpm_quote"), "signature", s, n);
  expect_fail (&veil_verifier_tpm, t1, NULL, "signature does not verify");
  s[100] ^= 0x80;

  /* TPMT_SIGNATURE hash 0x0004 (SHA-1) */
  _cleanup_json_ json_t *t2 = json_deep_copy (ev);
  s[2] = 0x00;
  s[3] = 0x04;
  set_b64 (json_object_get (t2, "tpm_quote"), "signature", s, n);
  expect_fail (&veil_verifier_tpm, t2, NULL, "SHA-1 is refused");

  _cleanup_json_ json_t *t3 = json_deep_copy (ev);
  json_array_set_new (json_object_get (json_object_get (t3, "tpm_quote"), "pcrs"), 17,
                      json_string ("fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe"));
  expect_fail (&veil_verifier_tpm, t3, NULL, "pcrDigest does not match");

  _cleanup_json_ json_t *t4 = json_deep_copy (ev);
  json_array_remove (json_object_get (json_object_get (t4, "tpm_quote"), "pcrs"), 23);
  expect_fail (&veil_verifier_tpm, t4, NULL, "pcrs");

  _cleanup_pkey_ EVP_PKEY *other = veil_pkey_generate ("RSA-2048", NULL);
  assert_non_null (other);
  uint8_t *der = NULL;
  int der_len = i2d_PUBKEY (other, &der);
  assert_true (der_len > 0);
  _cleanup_json_ json_t *t5 = json_deep_copy (ev);
  set_b64 (t5, "ak_public", der, (size_t) der_len);
  OPENSSL_free (der);
  expect_fail (&veil_verifier_tpm, t5, NULL, "signature does not verify");

  _cleanup_json_ json_t *t6 = json_deep_copy (ev);
  json_object_del (t6, "ak_public");
  expect_fail (&veil_verifier_tpm, t6, NULL, "ak_public");
}

static void
test_truncations (void **state)
{
  (void) state;
  _cleanup_json_ json_t *ev = load_json ("tpm/tpm_evidence.json");
  json_t *q = json_object_get (ev, "tpm_quote");
  size_t mn, sn;
  _cleanup_free_ uint8_t *m = b64_member (q, "message", &mn);
  _cleanup_free_ uint8_t *s = b64_member (q, "signature", &sn);
  veil_tpm_attest_t a;
  veil_tpm_signature_t sig;
  assert_int_equal (veil_tpm_attest_parse (m, mn, &a, NULL), 0);
  assert_int_equal (a.extra_data_len, 64);
  assert_int_equal (a.pcr_hash_alg, VEIL_TPM_ALG_SHA256);
  assert_int_equal (veil_tpm_signature_parse (s, sn, &sig, NULL), 0);
  assert_int_equal (sig.sig_alg, VEIL_TPM_ALG_RSASSA);
  assert_int_equal (sig.sig_len, 256);
  for (size_t len = 0; len < mn; len++)
    {
      veil_error_t *err = NULL;
      uint8_t *cp = xmemdup (m, len); /* exact-size copy: ASan sees overreads */
      assert_true (veil_tpm_attest_parse (cp, len, &a, &err) < 0);
      assert_non_null (err);
      veil_error_free (err);
      _cleanup_json_ json_t *t = json_deep_copy (ev);
      set_b64 (json_object_get (t, "tpm_quote"), "message", cp, len);
      expect_fail (&veil_verifier_tpm, t, NULL, "tpm: ");
      free (cp);
    }
  for (size_t len = 0; len < sn; len++)
    {
      veil_error_t *err = NULL;
      uint8_t *cp = xmemdup (s, len);
      assert_true (veil_tpm_signature_parse (cp, len, &sig, &err) < 0);
      veil_error_free (err);
      free (cp);
    }
  /* one trailing byte is refused too */
  uint8_t *longer = xmalloc (mn + 1);
  memcpy (longer, m, mn);
  longer[mn] = 0;
  assert_true (veil_tpm_attest_parse (longer, mn + 1, &a, NULL) < 0);
  free (longer);
}

/* ---- quotes the test builds: PCRs it chooses, keys it generates ---- */

static void
put16 (uint8_t *p, uint16_t v)
{
  p[0] = (uint8_t) (v >> 8);
  p[1] = (uint8_t) v;
}

/* A TPMT_SIGNATURE for msg made with key (sig_alg/hash as given). */
static size_t
sign_tpmt (EVP_PKEY *key, uint16_t sig_alg, const uint8_t *msg, size_t len, uint8_t *out)
{
  put16 (out, sig_alg);
  put16 (out + 2, VEIL_TPM_ALG_SHA256);
  if (sig_alg == VEIL_TPM_ALG_ECDSA)
    {
      uint8_t r[32], s[32];
      assert_int_equal (veil_ecdsa_sign_rs (key, EVP_sha256 (), msg, len, r, s, 32, NULL), 0);
      put16 (out + 4, 32);
      memcpy (out + 6, r, 32);
      put16 (out + 38, 32);
      memcpy (out + 40, s, 32);
      return 72;
    }
  EVP_MD_CTX *ctx = EVP_MD_CTX_new ();
  EVP_PKEY_CTX *pctx = NULL;
  size_t sl = 512;
  assert_int_equal (EVP_DigestSignInit (ctx, &pctx, EVP_sha256 (), NULL, key), 1);
  if (sig_alg == VEIL_TPM_ALG_RSAPSS)
    {
      assert_int_equal (EVP_PKEY_CTX_set_rsa_padding (pctx, RSA_PKCS1_PSS_PADDING), 1);
      assert_int_equal (EVP_PKEY_CTX_set_rsa_pss_saltlen (pctx, RSA_PSS_SALTLEN_DIGEST), 1);
    }
  assert_int_equal (EVP_DigestSign (ctx, out + 6, &sl, msg, len), 1);
  EVP_MD_CTX_free (ctx);
  put16 (out + 4, (uint16_t) sl);
  return 6 + sl;
}

/* Evidence with the vector's TPMS_ATTEST but pcrDigest recomputed over
 * pcrs, signed by key. */
static json_t *
build_evidence (EVP_PKEY *key, uint16_t sig_alg, uint8_t pcrs[24][32])
{
  _cleanup_json_ json_t *vec = load_json ("tpm/tpm_evidence.json");
  size_t n;
  _cleanup_free_ uint8_t *m = b64_member (json_object_get (vec, "tpm_quote"), "message", &n);
  json_t *arr = json_array ();
  EVP_MD_CTX *ctx = EVP_MD_CTX_new ();
  EVP_DigestInit_ex (ctx, EVP_sha256 (), NULL);
  for (int i = 0; i < 24; i++)
    {
      _cleanup_free_ char *hex = veil_hex_encode (pcrs[i], 32);
      json_array_append_new (arr, json_string (hex));
      EVP_DigestUpdate (ctx, pcrs[i], 32);
    }
  EVP_DigestFinal_ex (ctx, m + OFF_DIGEST + 2, NULL);
  EVP_MD_CTX_free (ctx);
  uint8_t sig[600];
  size_t sl = sign_tpmt (key, sig_alg, m, n, sig);
  uint8_t *der = NULL;
  int der_len = i2d_PUBKEY (key, &der);
  json_t *q = json_object ();
  set_b64 (q, "message", m, n);
  set_b64 (q, "signature", sig, sl);
  json_object_set_new (q, "pcrs", arr);
  json_t *ev = json_object ();
  set_b64 (ev, "ak_public", der, (size_t) der_len);
  OPENSSL_free (der);
  json_object_set_new (ev, "tpm_quote", q);
  return ev;
}

static void
test_own_quotes (void **state)
{
  (void) state;
  static const struct
  {
    const char *kind, *alg_claim;
    uint16_t sig_alg;
  } cases[] = {
    { "P-256", "ecdsa-sha256", VEIL_TPM_ALG_ECDSA },
    { "RSA-2048", "rsapss-sha256", VEIL_TPM_ALG_RSAPSS },
    { "RSA-2048", "rsassa-sha256", VEIL_TPM_ALG_RSASSA },
  };
  uint8_t pcrs[24][32];
  for (int i = 0; i < 24; i++)
    memset (pcrs[i], i, 32);
  /* PCR8 = sha256(zeros || init-data digest): the attester's one extend */
  uint8_t init[32], in[64] = { 0 };
  memset (init, 0xab, 32);
  memcpy (in + 32, init, 32);
  veil_sha256 (in, 64, pcrs[8]);
  veil_attest_expect_t exp = { .init_data_digest = init, .init_data_digest_len = 32 };
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (cases); i++)
    {
      _cleanup_pkey_ EVP_PKEY *key = veil_pkey_generate (cases[i].kind, NULL);
      assert_non_null (key);
      _cleanup_json_ json_t *ev = build_evidence (key, cases[i].sig_alg, pcrs);
      veil_error_t *err = NULL;
      _cleanup_json_ json_t *c = veil_verifier_tpm.verify (ev, &exp, &no_cfg, &err);
      if (!c)
        fail_msg ("%s: %s", cases[i].alg_claim, err->msg);
      assert_string_equal (veil_json_str (c, "quote_signature_alg"), cases[i].alg_claim);
      _cleanup_free_ char *p5 = veil_hex_encode (pcrs[5], 32);
      assert_string_equal (veil_json_str (c, "pcr05"), p5);
      /* the signature scheme must match the key type */
      _cleanup_json_ json_t *t = json_deep_copy (ev);
      json_t *q = json_object_get (t, "tpm_quote");
      size_t n;
      _cleanup_free_ uint8_t *s = b64_member (q, "signature", &n);
      put16 (s, cases[i].sig_alg == VEIL_TPM_ALG_ECDSA ? VEIL_TPM_ALG_RSASSA : VEIL_TPM_ALG_ECDSA);
      set_b64 (q, "signature", s, n);
      expect_fail (&veil_verifier_tpm, t, NULL, "tpm: ");
    }
  uint8_t other[32] = { 0 };
  veil_attest_expect_t wrong = { .init_data_digest = other, .init_data_digest_len = 32 };
  _cleanup_pkey_ EVP_PKEY *key = veil_pkey_generate ("P-256", NULL);
  _cleanup_json_ json_t *ev = build_evidence (key, VEIL_TPM_ALG_ECDSA, pcrs);
  expect_fail (&veil_verifier_tpm, ev, &wrong, "PCR8 does not match");
  veil_attest_expect_t len48 = { .init_data_digest = other, .init_data_digest_len = 48 };
  expect_fail (&veil_verifier_tpm, ev, &len48, "init_data digest of 48 bytes");
}

/* ---- Azure HCL report ---- */

static uint8_t *
load_file (const char *rel, size_t *len)
{
  _cleanup_free_ char *p = data_path (rel);
  uint8_t *buf = NULL;
  assert_int_equal (veil_file_read (p, 1 << 20, &buf, len, NULL), 0);
  return buf;
}

static void
test_hcl_report (void **state)
{
  (void) state;
  size_t len;
  _cleanup_free_ uint8_t *buf = load_file ("azure/hcl-report.bin", &len);
  veil_hcl_report_t h;
  veil_error_t *err = NULL;
  if (veil_hcl_report_parse (buf, len, &h, &err) < 0)
    fail_msg ("%s", err->msg);
  assert_ptr_equal (h.snp_report, buf + 0x20);
  assert_int_equal (h.report_type, 2);
  assert_int_equal (h.hash_type, 1);
  assert_true (h.var_data_len > 0 && memcmp (h.var_data, "{\"keys\":", 8) == 0);
  uint8_t md[64];
  size_t md_len = 0;
  assert_int_equal (veil_hcl_check_binding (&h, md, &md_len, NULL), 0);
  assert_int_equal (md_len, 32);
  assert_memory_equal (md, buf + 0x20 + 0x50, 32);
  _cleanup_pkey_ EVP_PKEY *ak = veil_hcl_ak_pub (&h, &err);
  if (!ak)
    fail_msg ("%s", err->msg);
  assert_true (EVP_PKEY_is_a (ak, "RSA"));
  assert_int_equal (EVP_PKEY_get_bits (ak), 2048);

  /* one byte of var data changed: the SNP report no longer binds it */
  buf[0x6e0] ^= 1;
  assert_int_equal (veil_hcl_report_parse (buf, len, &h, NULL), 0);
  assert_true (veil_hcl_check_binding (&h, NULL, NULL, &err) < 0);
  assert_non_null (strstr (err->msg, "report_data does not bind var data"));
  veil_error_free (err);
  err = NULL;
  buf[0x6e0] ^= 1;

  for (size_t l = 0; l < len; l += (l < 0x500 ? 1 : 97))
    {
      uint8_t *cp = xmemdup (buf, l);
      if (veil_hcl_report_parse (cp, l, &h, NULL) == 0)
        {
          (void) veil_hcl_check_binding (&h, NULL, NULL, NULL);
          EVP_PKEY_free (veil_hcl_ak_pub (&h, NULL));
        }
      free (cp);
    }
  /* var data size beyond the buffer */
  buf[0x4c0 + 19] = 0xff;
  assert_true (veil_hcl_report_parse (buf, len, &h, &err) < 0);
  assert_non_null (strstr (err->msg, "overruns"));
  veil_error_free (err);
}

/* The Azure vector's quote through the shared TPM path, with HCLAkPub. */
static void
test_azure_quote (void **state)
{
  (void) state;
  _cleanup_json_ json_t *ev = load_json ("azure/evidence-v1.json");
  json_t *jq = json_object_get (ev, "tpm_quote");
  size_t hl, ml, sl;
  _cleanup_free_ uint8_t *hcl_buf = b64_member (ev, "hcl_report", &hl);
  _cleanup_free_ uint8_t *m = NULL, *s = NULL;
  assert_int_equal (veil_hex_decode (veil_json_str (jq, "message"), &m, &ml, NULL), 0);
  assert_int_equal (veil_hex_decode (veil_json_str (jq, "signature"), &s, &sl, NULL), 0);
  veil_hcl_report_t h;
  assert_int_equal (veil_hcl_report_parse (hcl_buf, hl, &h, NULL), 0);
  assert_int_equal (veil_hcl_check_binding (&h, NULL, NULL, NULL), 0);
  _cleanup_pkey_ EVP_PKEY *ak = veil_hcl_ak_pub (&h, NULL);
  assert_non_null (ak);
  veil_tpm_quote_t q = {
    .message = m,
    .message_len = ml,
    .sig = { .sig_alg = VEIL_TPM_ALG_RSASSA, .hash_alg = VEIL_TPM_ALG_SHA256, .sig = s, .sig_len = sl },
    .pcrs = json_object_get (jq, "pcrs"),
  };
  veil_attest_expect_t exp = { .report_data = (const uint8_t *) "challenge", .report_data_len = 9 };
  _cleanup_json_ json_t *c = json_object ();
  veil_error_t *err = NULL;
  if (veil_tpm_quote_verify (&q, ak, &exp, "tpm_", c, &err) < 0)
    fail_msg ("%s", err->msg);
  assert_string_equal (veil_json_str (c, "tpm_extra_data"), "6368616c6c656e6765"); /* "challenge" */
  assert_string_equal (veil_json_str (c, "tpm_pcr00"), json_string_value (json_array_get (q.pcrs, 0)));

  veil_attest_expect_t other = { .report_data = (const uint8_t *) "egnellahc", .report_data_len = 9 };
  assert_true (veil_tpm_quote_verify (&q, ak, &other, "", c, &err) < 0);
  assert_non_null (strstr (err->msg, "extraData does not match"));
  veil_error_free (err);
  err = NULL;

  m[ml - 1] ^= 1; /* pcrDigest: covered by the signature */
  assert_true (veil_tpm_quote_verify (&q, ak, NULL, "", c, &err) < 0);
  assert_non_null (strstr (err->msg, "signature does not verify"));
  veil_error_free (err);
}

/* ---- az-snp-vtpm end to end ---- */

static uint32_t
rd_le32 (const uint8_t *p)
{
  return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static const veil_attest_expect_t az_expect = { .report_data = (const uint8_t *) "challenge", .report_data_len = 9 };

static void
test_az_verifies (void **state)
{
  (void) state;
  _cleanup_json_ json_t *ev = load_json ("azure/evidence-v1.json");
  veil_error_t *err = NULL;
  _cleanup_json_ json_t *c = veil_verifier_az_snp_vtpm.verify (ev, &az_expect, &no_cfg, &err);
  if (!c)
    fail_msg ("%s", err->msg);
  assert_string_equal (veil_json_str (c, "tpm_extra_data"), "6368616c6c656e6765");
  json_t *pcrs = json_object_get (json_object_get (ev, "tpm_quote"), "pcrs");
  assert_string_equal (veil_json_str (c, "tpm_pcr00"), json_string_value (json_array_get (pcrs, 0)));
  assert_string_equal (veil_json_str (c, "tpm_pcr23"), json_string_value (json_array_get (pcrs, 23)));
  /* var data: 0x4D4, size at 0x4D0; its hash is report_data[0:32] */
  size_t hl;
  _cleanup_free_ uint8_t *h = b64_member (ev, "hcl_report", &hl);
  uint8_t md[32];
  veil_sha256 (h + 0x4d4, rd_le32 (h + 0x4d0), md);
  _cleanup_free_ char *mdh = veil_hex_encode (md, 32);
  assert_string_equal (veil_json_str (c, "hcl_var_data_sha256"), mdh);
  _cleanup_free_ char *meas = veil_hex_encode (h + 0x20 + 0x90, 48);
  assert_string_equal (veil_json_str (c, "measurement"), meas);

  /* through the dispatcher, without a nonce (offline verification) */
  json_t *c2 = veil_attest_verify ("az-snp-vtpm", ev, NULL, NULL, &err);
  if (!c2)
    fail_msg ("%s", err->msg);
  assert_string_equal (veil_json_str (c2, "tee"), "az-snp-vtpm");
  json_decref (c2);

  /* the VCEK from the local cache, named by chip_id, when not in the evidence */
  char dir[] = "/tmp/veil-test-vcek-XXXXXX";
  assert_non_null (mkdtemp (dir));
  size_t vl;
  _cleanup_free_ uint8_t *vcek = b64_member (ev, "vcek", &vl);
  _cleanup_free_ char *chip = veil_hex_encode (h + 0x20 + 0x1a0, 64);
  _cleanup_free_ char *path = xasprintf ("%s/%s.der", dir, chip);
  assert_int_equal (veil_file_write_atomic (path, vcek, vl, 0644, NULL), 0);
  _cleanup_json_ json_t *nov = json_deep_copy (ev);
  json_object_del (nov, "vcek");
  veil_attest_config_t cfg = { .snp_vcek_dir = dir };
  json_t *c3 = veil_verifier_az_snp_vtpm.verify (nov, &az_expect, &cfg, &err);
  unlink (path);
  rmdir (dir);
  if (!c3)
    fail_msg ("%s", err->msg);
  json_decref (c3);
}

static void
test_az_tampered (void **state)
{
  (void) state;
  _cleanup_json_ json_t *ev = load_json ("azure/evidence-v1.json");
  size_t hl;
  _cleanup_free_ uint8_t *h = b64_member (ev, "hcl_report", &hl);

  /* a byte of the HCLAkPub modulus in the var data */
  _cleanup_json_ json_t *t1 = json_deep_copy (ev);
  h[0x540] ^= 1;
  _cleanup_free_ char *e1 = veil_b64url_encode (h, hl);
  json_object_set_new (t1, "hcl_report", json_string (e1));
  expect_fail (&veil_verifier_az_snp_vtpm, t1, &az_expect, "report_data does not bind var data");
  h[0x540] ^= 1;

  /* a byte of the SNP measurement: the AMD signature breaks */
  _cleanup_json_ json_t *t2 = json_deep_copy (ev);
  h[0x20 + 0x90] ^= 1;
  _cleanup_free_ char *e2 = veil_b64url_encode (h, hl);
  json_object_set_new (t2, "hcl_report", json_string (e2));
  expect_fail (&veil_verifier_az_snp_vtpm, t2, &az_expect, "snp: ");
  h[0x20 + 0x90] ^= 1;

  /* the quote's clock: its signature breaks */
  _cleanup_json_ json_t *t3 = json_deep_copy (ev);
  json_t *q = json_object_get (t3, "tpm_quote");
  _cleanup_free_ char *msg = xstrdup (veil_json_str (q, "message"));
  msg[2 * 60] = msg[2 * 60] == '0' ? '1' : '0';
  json_object_set_new (q, "message", json_string (msg));
  expect_fail (&veil_verifier_az_snp_vtpm, t3, &az_expect, "signature does not verify");

  /* a PCR value */
  _cleanup_json_ json_t *t4 = json_deep_copy (ev);
  json_array_set_new (json_object_get (json_object_get (t4, "tpm_quote"), "pcrs"), 4,
                      json_string ("0000000000000000000000000000000000000000000000000000000000000000"));
  expect_fail (&veil_verifier_az_snp_vtpm, t4, &az_expect, "pcrDigest does not match");

  /* another nonce */
  veil_attest_expect_t other = { .report_data = (const uint8_t *) "challengf", .report_data_len = 9 };
  expect_fail (&veil_verifier_az_snp_vtpm, ev, &other, "extraData does not match report_data");

  _cleanup_json_ json_t *t5 = json_deep_copy (ev);
  json_object_set_new (t5, "version", json_integer (0));
  expect_fail (&veil_verifier_az_snp_vtpm, t5, &az_expect, "version");
  _cleanup_json_ json_t *t6 = json_deep_copy (ev);
  json_object_del (t6, "vcek");
  expect_fail (&veil_verifier_az_snp_vtpm, t6, &az_expect, "vcek");

  /* truncated HCL reports never crash */
  /* (bytes after the var data are padding: cutting them is harmless) */
  for (size_t l = 0; l < 0x4d4 + rd_le32 (h + 0x4d0); l += 13)
    {
      _cleanup_json_ json_t *t = json_deep_copy (ev);
      _cleanup_free_ char *e = veil_b64url_encode (h, l);
      json_object_set_new (t, "hcl_report", json_string (e));
      expect_fail (&veil_verifier_az_snp_vtpm, t, &az_expect, ": ");
    }
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_vector_verifies),
    cmocka_unit_test (test_ak_trust_list),
    cmocka_unit_test (test_report_data_binding),
    cmocka_unit_test (test_tampered_fields),
    cmocka_unit_test (test_tampered_signature_pcr_ak),
    cmocka_unit_test (test_truncations),
    cmocka_unit_test (test_own_quotes),
    cmocka_unit_test (test_hcl_report),
    cmocka_unit_test (test_azure_quote),
    cmocka_unit_test (test_az_verifies),
    cmocka_unit_test (test_az_tampered),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
