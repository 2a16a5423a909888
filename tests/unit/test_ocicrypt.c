/* Unit tests of ocicrypt (lib/image/ocicrypt.c): round trips with JWE (RSA,
 * EC) and key-provider recipients, a known-answer vector written by
 * containers/ocicrypt, and every way a layer or its annotations can be
 * wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/mman.h>
#include <cmocka.h>
#include "veil/image.h"

/* "sha256:<hex>" of data (kept here so that this file needs only crypto). */
static char *
sha256_digest (const void *data, size_t len)
{
  uint8_t md[VEIL_SHA256_LEN];
  veil_sha256 (data, len, md);
  _cleanup_free_ char *hex = veil_hex_encode (md, sizeof (md));
  return xasprintf ("sha256:%s", hex);
}

/* ---- an in-memory reader (short reads on demand) ------------------------- */

typedef struct mem_reader
{
  veil_reader_t base;
  const uint8_t *p;
  size_t len, off, max_read;
} mem_reader_t;

static ssize_t
mem_read (veil_reader_t *r, void *buf, size_t len, veil_error_t **err)
{
  (void) err;
  mem_reader_t *m = (mem_reader_t *) r;
  size_t n = m->len - m->off;
  if (n > len)
    n = len;
  if (m->max_read && n > m->max_read)
    n = m->max_read;
  memcpy (buf, m->p + m->off, n);
  m->off += n;
  return (ssize_t) n;
}

static int
mem_finish (veil_reader_t *r, veil_error_t **err)
{
  (void) r;
  (void) err;
  return 0;
}

static void
mem_free (veil_reader_t *r)
{
  free (r);
}

static veil_reader_t *
mem_reader (const void *p, size_t len, size_t max_read)
{
  mem_reader_t *m = xcalloc (1, sizeof (*m));
  m->base = (veil_reader_t){ .read = mem_read, .finish = mem_finish, .free = mem_free };
  m->p = p;
  m->len = len;
  m->max_read = max_read;
  return &m->base;
}

/* ---- fixtures ------------------------------------------------------------------ */

static EVP_PKEY *rsa_key, *ec_key, *other_rsa;
static const char *const test_kid = "kbs:///default/key/layer";
static uint8_t test_kek[32];

static int
setup (void **state)
{
  (void) state;
  rsa_key = veil_pkey_generate ("RSA-2048", NULL);
  ec_key = veil_pkey_generate ("P-256", NULL);
  other_rsa = veil_pkey_generate ("RSA-2048", NULL);
  for (size_t i = 0; i < sizeof (test_kek); i++)
    test_kek[i] = (uint8_t) (0xa0 + i);
  return rsa_key && ec_key && other_rsa ? 0 : -1;
}

static int
teardown (void **state)
{
  (void) state;
  EVP_PKEY_free (rsa_key);
  EVP_PKEY_free (ec_key);
  EVP_PKEY_free (other_rsa);
  return 0;
}

static int
fetch_kek (void *ctx, const char *kid, uint8_t **kek, size_t *kek_len, veil_error_t **err)
{
  const uint8_t *k = ctx;
  if (strcmp (kid, test_kid))
    return veil_error_set (err, ENOENT, "no such resource %s", kid);
  *kek = veil_secret_dup (k, 32);
  *kek_len = 32;
  return 0;
}

static void
desc_clear (veil_descriptor_t *d)
{
  free (d->media_type);
  free (d->digest);
  if (d->annotations)
    json_decref (d->annotations);
  memset (d, 0, sizeof (*d));
}

static uint8_t *
random_data (size_t n)
{
  uint8_t *p = xmalloc (n ? n : 1);
  veil_random (p, n);
  return p;
}

/* Encrypts data; the ciphertext comes back in *ct. */
static void
encrypt (const uint8_t *data, size_t len, const veil_ocicrypt_recipients_t *rcpt, veil_descriptor_t *enc,
         uint8_t **ct, size_t *ct_len)
{
  veil_descriptor_t plain = { .media_type = (char *) VEIL_MT_OCI_LAYER_GZIP, .size = (int64_t) len };
  _cleanup_free_ char *dg = sha256_digest (data, len);
  plain.digest = dg;
  int fd = memfd_create ("ct", MFD_CLOEXEC);
  assert_true (fd >= 0);
  veil_reader_t *in = mem_reader (data, len, 0);
  veil_error_t *err = NULL;
  int rc = veil_ocicrypt_encrypt_layer (in, fd, &plain, rcpt, enc, &err);
  if (rc < 0)
    fail_msg ("encrypt: %s", err->msg);
  in->free (in);
  assert_string_equal (enc->media_type, VEIL_MT_OCI_LAYER_GZIP "+encrypted");
  off_t sz = lseek (fd, 0, SEEK_END);
  assert_int_equal (sz, (off_t) len);
  assert_int_equal (enc->size, (int64_t) len);
  *ct = xmalloc (len + 1);
  assert_int_equal (pread (fd, *ct, len, 0), (ssize_t) len);
  *ct_len = len;
  close (fd);
  _cleanup_free_ char *cd = sha256_digest (*ct, len);
  assert_string_equal (cd, enc->digest);
}

/* Decrypts ct with keys, reading bufsz at a time; 0 or -errno, *err set. */
static int
decrypt (const veil_descriptor_t *enc, const uint8_t *ct, size_t ct_len, const veil_ocicrypt_keys_t *keys,
         size_t bufsz, size_t max_read, uint8_t **out, size_t *out_len, veil_error_t **err)
{
  veil_reader_t *in = mem_reader (ct, ct_len, max_read);
  veil_reader_t *r = veil_ocicrypt_decrypt_reader (in, enc, keys, err);
  if (!r)
    {
      in->free (in);
      return -(*err)->code;
    }
  veil_buf_t b = { 0 };
  uint8_t *buf = xmalloc (bufsz);
  ssize_t n;
  while ((n = r->read (r, buf, bufsz, err)) > 0)
    veil_buf_append (&b, buf, (size_t) n);
  free (buf);
  int rc = n < 0 ? (int) n : r->finish (r, err);
  r->free (r);
  *out = b.data;
  *out_len = b.len;
  return rc;
}

static void
assert_roundtrip (const veil_descriptor_t *enc, const uint8_t *ct, const uint8_t *data, size_t len,
                  const veil_ocicrypt_keys_t *keys, size_t bufsz, size_t max_read)
{
  uint8_t *out = NULL;
  size_t out_len = 0;
  veil_error_t *err = NULL;
  int rc = decrypt (enc, ct, len, keys, bufsz, max_read, &out, &out_len, &err);
  if (rc < 0)
    fail_msg ("decrypt: %s", err->msg);
  assert_int_equal (out_len, len);
  if (len)
    assert_memory_equal (out, data, len);
  free (out);
}

/* Expects a failure whose message contains want. */
static void
assert_decrypt_fails (const veil_descriptor_t *enc, const uint8_t *ct, size_t ct_len,
                      const veil_ocicrypt_keys_t *keys, int code, const char *want)
{
  uint8_t *out = NULL;
  size_t out_len = 0;
  veil_error_t *err = NULL;
  int rc = decrypt (enc, ct, ct_len, keys, 65536, 0, &out, &out_len, &err);
  free (out);
  assert_true (rc < 0);
  assert_non_null (err);
  if (!strstr (err->msg, want) || (code && err->code != code))
    fail_msg ("error %d '%s', expected %d containing '%s'", err->code, err->msg, code, want);
  veil_error_free (err);
}

/* ---- round trips ----------------------------------------------------------------- */

static void
test_roundtrip_rsa_ec (void **state)
{
  (void) state;
  size_t sizes[] = { 0, 1, 4095, (3u << 20) + 17 };
  for (size_t s = 0; s < VEIL_ARRAY_SIZE (sizes); s++)
    {
      size_t len = sizes[s];
      _cleanup_free_ uint8_t *data = random_data (len);
      EVP_PKEY *pubs[] = { rsa_key, ec_key };
      veil_ocicrypt_recipients_t rcpt = { .pubkeys = pubs, .n_pubkeys = 2 };
      veil_descriptor_t enc = { 0 };
      _cleanup_free_ uint8_t *ct = NULL;
      size_t ct_len = 0;
      encrypt (data, len, &rcpt, &enc, &ct, &ct_len);
      /* one flattened JWE per recipient, comma-separated */
      const char *jwe = veil_json_str (enc.annotations, VEIL_OCICRYPT_ANN_JWE);
      assert_non_null (jwe);
      assert_non_null (strchr (jwe, ','));
      assert_non_null (veil_json_str (enc.annotations, VEIL_OCICRYPT_ANN_PUBOPTS));
      assert_null (veil_json_str (enc.annotations, VEIL_OCICRYPT_ANN_AA));
      if (len > 1)
        assert_memory_not_equal (ct, data, len);

      EVP_PKEY *only_rsa[] = { rsa_key }, *only_ec[] = { ec_key }, *both[] = { other_rsa, ec_key };
      veil_ocicrypt_keys_t k1 = { .privkeys = only_rsa, .n_privkeys = 1 };
      veil_ocicrypt_keys_t k2 = { .privkeys = only_ec, .n_privkeys = 1 };
      veil_ocicrypt_keys_t k3 = { .privkeys = both, .n_privkeys = 2 };
      assert_roundtrip (&enc, ct, data, len, &k1, 1 << 20, 0);
      assert_roundtrip (&enc, ct, data, len, &k2, 4096, 0);      /* buffered path */
      assert_roundtrip (&enc, ct, data, len, &k3, 100000, 7777); /* short inner reads */
      /* chunks at offsets that are not multiples of the AES block, split
       * between the two threads */
      assert_roundtrip (&enc, ct, data, len, &k1, 200003, 0);
      assert_roundtrip (&enc, ct, data, len, &k1, 65537, 999);
      desc_clear (&enc);
    }
}

static void
test_roundtrip_kek (void **state)
{
  (void) state;
  size_t len = (2u << 20) + 5;
  _cleanup_free_ uint8_t *data = random_data (len);
  veil_ocicrypt_recipients_t rcpt = { .kbs_kid = test_kid, .kbs_kek = test_kek };
  veil_descriptor_t enc = { 0 };
  _cleanup_free_ uint8_t *ct = NULL;
  size_t ct_len = 0;
  encrypt (data, len, &rcpt, &enc, &ct, &ct_len);
  assert_null (veil_json_str (enc.annotations, VEIL_OCICRYPT_ANN_JWE));

  /* the packet is what CoCo's attestation-agent reads */
  const char *aa = veil_json_str (enc.annotations, VEIL_OCICRYPT_ANN_AA);
  assert_non_null (aa);
  uint8_t *raw = NULL;
  size_t raw_len = 0;
  assert_int_equal (veil_b64_decode (aa, &raw, &raw_len, NULL), 0);
  json_t *pkt = veil_json_parse (raw, raw_len, 1 << 16, NULL);
  free (raw);
  assert_non_null (pkt);
  assert_string_equal (veil_json_str (pkt, "kid"), test_kid);
  assert_string_equal (veil_json_str (pkt, "wrap_type"), "A256GCM");
  assert_non_null (veil_json_str (pkt, "iv"));
  assert_non_null (veil_json_str (pkt, "wrapped_data"));
  json_decref (pkt);

  veil_ocicrypt_keys_t keys = { .fetch_kek = fetch_kek, .fetch_ctx = test_kek };
  assert_roundtrip (&enc, ct, data, len, &keys, 1 << 16, 0);

  /* a KEK that does not open it, and no key provider at all */
  uint8_t wrong[32] = { 1 };
  veil_ocicrypt_keys_t bad = { .fetch_kek = fetch_kek, .fetch_ctx = wrong };
  assert_decrypt_fails (&enc, ct, ct_len, &bad, EKEYREJECTED, "the KEK does not open wrapped_data");
  assert_decrypt_fails (&enc, ct, ct_len, NULL, EKEYREJECTED,
                        "ocicrypt: no offered key opens layer sha256:");
  assert_decrypt_fails (&enc, ct, ct_len, NULL, 0, "no key provider for kbs:///default/key/layer");
  desc_clear (&enc);
}

/* Both kinds of recipient on one layer, as `veil image encrypt` with
 * --recipient and --keyprovider writes it. */
static void
test_jwe_and_kek (void **state)
{
  (void) state;
  size_t len = 300000;
  _cleanup_free_ uint8_t *data = random_data (len);
  EVP_PKEY *pubs[] = { rsa_key };
  veil_ocicrypt_recipients_t rcpt = { .pubkeys = pubs, .n_pubkeys = 1, .kbs_kid = test_kid, .kbs_kek = test_kek };
  veil_descriptor_t enc = { 0 };
  _cleanup_free_ uint8_t *ct = NULL;
  size_t ct_len = 0;
  encrypt (data, len, &rcpt, &enc, &ct, &ct_len);
  EVP_PKEY *wrong[] = { other_rsa };
  veil_ocicrypt_keys_t keys = { .privkeys = wrong, .n_privkeys = 1, .fetch_kek = fetch_kek, .fetch_ctx = test_kek };
  assert_roundtrip (&enc, ct, data, len, &keys, 1 << 16, 0);
  desc_clear (&enc);
}

/* ---- refusals --------------------------------------------------------------------- */

static void
test_wrong_key (void **state)
{
  (void) state;
  size_t len = 1000;
  _cleanup_free_ uint8_t *data = random_data (len);
  EVP_PKEY *pubs[] = { rsa_key, ec_key };
  veil_ocicrypt_recipients_t rcpt = { .pubkeys = pubs, .n_pubkeys = 2 };
  veil_descriptor_t enc = { 0 };
  _cleanup_free_ uint8_t *ct = NULL;
  size_t ct_len = 0;
  encrypt (data, len, &rcpt, &enc, &ct, &ct_len);
  EVP_PKEY *wrong[] = { other_rsa };
  veil_ocicrypt_keys_t keys = { .privkeys = wrong, .n_privkeys = 1 };
  assert_decrypt_fails (&enc, ct, ct_len, &keys, EKEYREJECTED,
                        "ocicrypt: no offered key opens layer sha256:");
  assert_decrypt_fails (&enc, ct, ct_len, &keys, EKEYREJECTED, "tried 2 JWE recipients with 1 key");
  assert_decrypt_fails (&enc, ct, ct_len, NULL, EKEYREJECTED, "tried 2 JWE recipients with 0 keys");
  desc_clear (&enc);
}

static void
test_tampering (void **state)
{
  (void) state;
  size_t len = (1u << 20) + 333;
  _cleanup_free_ uint8_t *data = random_data (len);
  EVP_PKEY *pubs[] = { ec_key };
  veil_ocicrypt_recipients_t rcpt = { .pubkeys = pubs, .n_pubkeys = 1 };
  veil_descriptor_t enc = { 0 };
  _cleanup_free_ uint8_t *ct = NULL;
  size_t ct_len = 0;
  encrypt (data, len, &rcpt, &enc, &ct, &ct_len);
  veil_ocicrypt_keys_t keys = { .privkeys = pubs, .n_privkeys = 1 };

  /* a flipped ciphertext byte: the HMAC catches it at finish() */
  size_t spots[] = { 0, len / 2, len - 1 };
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (spots); i++)
    {
      ct[spots[i]] ^= 0x01;
      assert_decrypt_fails (&enc, ct, ct_len, &keys, EBADMSG, "ocicrypt: layer HMAC mismatch");
      ct[spots[i]] ^= 0x01;
    }
  /* truncated, and extended */
  assert_decrypt_fails (&enc, ct, ct_len - 1, &keys, EBADMSG, "ocicrypt: layer HMAC mismatch");
  assert_decrypt_fails (&enc, ct, 4096, &keys, EBADMSG, "ocicrypt: layer HMAC mismatch");
  assert_decrypt_fails (&enc, ct, 0, &keys, EBADMSG, "ocicrypt: layer HMAC mismatch");

  /* a flipped bit of the HMAC in the pubopts annotation */
  const char *pub = veil_json_str (enc.annotations, VEIL_OCICRYPT_ANN_PUBOPTS);
  uint8_t *raw = NULL;
  size_t raw_len = 0;
  assert_int_equal (veil_b64_decode (pub, &raw, &raw_len, NULL), 0);
  json_t *j = veil_json_parse (raw, raw_len, 4096, NULL);
  free (raw);
  uint8_t hmac[32];
  uint8_t *h = NULL;
  size_t hl = 0;
  assert_int_equal (veil_b64_decode (veil_json_str (j, "hmac"), &h, &hl, NULL), 0);
  assert_int_equal (hl, 32);
  memcpy (hmac, h, 32);
  free (h);
  hmac[31] ^= 0x80;
  _cleanup_free_ char *hb = veil_b64_encode (hmac, 32);
  json_object_set_new (j, "hmac", json_string (hb));
  _cleanup_free_ char *s = veil_json_dump (j);
  json_decref (j);
  _cleanup_free_ char *pub2 = veil_b64_encode (s, strlen (s));
  _cleanup_free_ char *pub_orig = xstrdup (pub);
  json_object_set_new (enc.annotations, VEIL_OCICRYPT_ANN_PUBOPTS, json_string (pub2));
  assert_decrypt_fails (&enc, ct, ct_len, &keys, EBADMSG, "ocicrypt: layer HMAC mismatch");
  json_object_set_new (enc.annotations, VEIL_OCICRYPT_ANN_PUBOPTS, json_string (pub_orig));
  assert_roundtrip (&enc, ct, data, len, &keys, 1 << 20, 0);
  desc_clear (&enc);
}

static void
test_bad_annotations (void **state)
{
  (void) state;
  size_t len = 100;
  _cleanup_free_ uint8_t *data = random_data (len);
  EVP_PKEY *pubs[] = { rsa_key };
  veil_ocicrypt_recipients_t rcpt = { .pubkeys = pubs, .n_pubkeys = 1 };
  veil_descriptor_t enc = { 0 };
  _cleanup_free_ uint8_t *ct = NULL;
  size_t ct_len = 0;
  encrypt (data, len, &rcpt, &enc, &ct, &ct_len);
  veil_ocicrypt_keys_t keys = { .privkeys = pubs, .n_privkeys = 1 };
  json_t *saved = json_deep_copy (enc.annotations);

  json_object_del (enc.annotations, VEIL_OCICRYPT_ANN_PUBOPTS);
  assert_decrypt_fails (&enc, ct, ct_len, &keys, EBADMSG, "no " VEIL_OCICRYPT_ANN_PUBOPTS " annotation");
  json_object_set_new (enc.annotations, VEIL_OCICRYPT_ANN_PUBOPTS, json_string ("!!!"));
  assert_decrypt_fails (&enc, ct, ct_len, &keys, EBADMSG, "pubopts annotation is not base64");
  _cleanup_free_ char *other_cipher = veil_b64_encode ("{\"cipher\":\"AES_128_GCM\",\"hmac\":\"\"}", 34);
  json_object_set_new (enc.annotations, VEIL_OCICRYPT_ANN_PUBOPTS, json_string (other_cipher));
  assert_decrypt_fails (&enc, ct, ct_len, &keys, ENOTSUP, "cipher 'AES_128_GCM' is not supported");
  json_object_set (enc.annotations, VEIL_OCICRYPT_ANN_PUBOPTS, json_object_get (saved, VEIL_OCICRYPT_ANN_PUBOPTS));

  json_object_del (enc.annotations, VEIL_OCICRYPT_ANN_JWE);
  assert_decrypt_fails (&enc, ct, ct_len, &keys, EBADMSG, "has no key annotation");
  json_object_set_new (enc.annotations, VEIL_OCICRYPT_ANN_JWE, json_string ("%%%"));
  assert_decrypt_fails (&enc, ct, ct_len, &keys, EBADMSG, "JWE 1: not base64");
  json_object_set_new (enc.annotations, VEIL_OCICRYPT_ANN_JWE, json_string ("bm90IGpzb24="));
  assert_decrypt_fails (&enc, ct, ct_len, &keys, EBADMSG, "JWE 1: not a JSON object");
  /* a garbled JWE before a good one is skipped */
  _cleanup_free_ char *two = xasprintf ("bm90IGpzb24=,%s", veil_json_str (saved, VEIL_OCICRYPT_ANN_JWE));
  json_object_set_new (enc.annotations, VEIL_OCICRYPT_ANN_JWE, json_string (two));
  assert_roundtrip (&enc, ct, data, len, &keys, 4096, 0);
  json_object_del (enc.annotations, VEIL_OCICRYPT_ANN_JWE);

  _cleanup_free_ char *pkt = veil_b64_encode ("{\"kid\":\"kbs:///a/b/c\",\"wrap_type\":\"RSA\"}", 40);
  json_object_set_new (enc.annotations, VEIL_OCICRYPT_ANN_AA, json_string (pkt));
  assert_decrypt_fails (&enc, ct, ct_len, &keys, EBADMSG, "wrap_type 'RSA' is not supported");
  json_object_set_new (enc.annotations, VEIL_OCICRYPT_ANN_AA, json_string ("e30="));
  assert_decrypt_fails (&enc, ct, ct_len, &keys, EBADMSG, "no valid 'kid'");

  json_decref (enc.annotations);
  enc.annotations = NULL;
  assert_decrypt_fails (&enc, ct, ct_len, &keys, EBADMSG, "has no key annotation");
  enc.annotations = saved;

  /* not an encrypted media type */
  char *mt = enc.media_type;
  enc.media_type = (char *) VEIL_MT_OCI_LAYER_GZIP;
  assert_decrypt_fails (&enc, ct, ct_len, &keys, EINVAL, "is not encrypted");
  enc.media_type = mt;
  desc_clear (&enc);
}

static void
test_privopts_parse (void **state)
{
  (void) state;
  static const struct
  {
    const char *json, *want;
  } bad[] = {
    { "[]", "not a JSON object" },
    { "{\"symkey\":\"AAAA\",\"digest\":\"sha256:00\",\"cipheroptions\":{}}", "'symkey': 3 bytes" },
    { "{\"symkey\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\",\"cipheroptions\":{\"nonce\":\"AAAAAAAAAAAAAAAAAAAAAA==\"}}", "'digest'" },
    { "{\"symkey\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\",\"digest\":\"sha256:x\"}", "'cipheroptions'" },
    { "{\"symkey\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\",\"cipheroptions\":{\"nonce\":\"AAAA\"}}", "'cipheroptions.nonce': 3 bytes" },
    { "{\"symkey\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\",\"cipheroptions\":{}}", "'symkey': 26 bytes" },
    { "{\"symkey\":1}", "'symkey': missing" },
    { "{", "private options" },
  };
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (bad); i++)
    {
      _cleanup_secret_ veil_ocicrypt_opts_t *o = veil_secret_alloc (sizeof (*o));
      veil_error_t *err = NULL;
      int rc = veil_ocicrypt_privopts_parse (bad[i].json, strlen (bad[i].json), o, &err);
      assert_non_null (err);
      assert_int_equal (rc, -err->code);
      if (!strstr (err->msg, bad[i].want))
        fail_msg ("case %zu: '%s' lacks '%s'", i, err->msg, bad[i].want);
      veil_error_free (err);
    }
  const char *good = "{\"symkey\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE=\",\"digest\":\"sha256:"
                     "0000000000000000000000000000000000000000000000000000000000000000\",\"cipheroptions\":{\"nonce\":\"AAAAAAAAAAAAAAAAAAAAAg==\"},"
                     "\"previouslayersdigest\":\"\"}";
  _cleanup_secret_ veil_ocicrypt_opts_t *o = veil_secret_alloc (sizeof (*o));
  assert_int_equal (veil_ocicrypt_privopts_parse (good, strlen (good), o, NULL), 0);
  assert_int_equal (o->symkey[31], 1);
  assert_int_equal (o->nonce[15], 2);
  /* early ocicrypt kept the hmac in the public cipheroptions */
  const char *old = "{\"cipher\":\"AES_256_CTR_HMAC_SHA256\",\"hmac\":null,\"cipheroptions\":{\"hmac\":\"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\"}}";
  _cleanup_free_ char *ob = veil_b64_encode (old, strlen (old));
  assert_int_equal (veil_ocicrypt_pubopts_parse (ob, o, NULL), 0);
  assert_int_equal (o->hmac[0], 1);
}

/* A layer written by containers/ocicrypt v1.1 (skopeo 1.9.3), with its
 * private options rewrapped for the key provider: the layer cipher, nonce
 * handling and HMAC agree with ocicrypt's. */
static void
test_ocicrypt_vector (void **state)
{
  (void) state;
  static const char ct_hex[] = "2f9e590f29a2f3270311f9905ef011ec97478313d53df3ff0811a5c8fe25a634d9cfbd0945fc87d9f4981e0391acfe7b49c02a9e33adce95fa4db635dbb6393b9f886ca5f31689c4bf1397116a8b2244e668e77047efe91b4e4174175f3d63edb9da8003314ee2ed32d6f4b94b7ff6af3e7405dc";
  static const char privopts[] = "{\"symkey\":\"1YTz1wC5Si3myX72sNARdmNvNql0B47p7efgetKStdA=\",\"digest\":\"sha256:00c205b13f95c93cedcc6d51578b7297a0d1a6f95d950752a716aa65985229b6\",\"cipheroptions\":{\"nonce\":\"lFfeMfK5S+mVUiWANOMhmA==\"}}";
  static const char pubopts[] = "{\"cipher\":\"AES_256_CTR_HMAC_SHA256\",\"hmac\":\"3eKO5JqWC6xE1OjEJkuprIZyu/Nkf0uo73gh/DevjO8=\",\"cipheroptions\":{}}";
  uint8_t *ct = NULL;
  size_t ct_len = 0;
  assert_int_equal (veil_hex_decode (ct_hex, &ct, &ct_len, NULL), 0);
  assert_int_equal (ct_len, 116);

  /* wrap the private options for the key provider, as CoCo's keyprovider does */
  uint8_t iv[12] = { 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2 };
  size_t pl = strlen (privopts);
  uint8_t wrapped[512];
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new ();
  int n = 0, f = 0;
  assert_int_equal (EVP_EncryptInit_ex (c, EVP_aes_256_gcm (), NULL, test_kek, iv), 1);
  assert_int_equal (EVP_EncryptUpdate (c, wrapped, &n, (const uint8_t *) privopts, (int) pl), 1);
  assert_int_equal (EVP_EncryptFinal_ex (c, wrapped + n, &f), 1);
  assert_int_equal (EVP_CIPHER_CTX_ctrl (c, EVP_CTRL_GCM_GET_TAG, 16, wrapped + pl), 1);
  EVP_CIPHER_CTX_free (c);
  _cleanup_free_ char *wd = veil_b64_encode (wrapped, pl + 16);
  _cleanup_free_ char *ivb = veil_b64_encode (iv, 12);
  _cleanup_free_ char *pkt = xasprintf ("{\"kid\":\"%s\",\"wrapped_data\":\"%s\",\"iv\":\"%s\",\"wrap_type\":\"A256GCM\"}", test_kid, wd, ivb);
  _cleanup_free_ char *pktb = veil_b64_encode (pkt, strlen (pkt));
  _cleanup_free_ char *pubb = veil_b64_encode (pubopts, strlen (pubopts));

  veil_descriptor_t enc = {
    .media_type = xstrdup (VEIL_MT_OCI_LAYER_GZIP "+encrypted"),
    .digest = xstrdup ("sha256:7c7ef88d4918e0df4760918304f133f851e83a67bd22590d319bd340fe05b1d8"),
    .size = 116,
    .annotations = json_pack ("{ssss}", VEIL_OCICRYPT_ANN_AA, pktb, VEIL_OCICRYPT_ANN_PUBOPTS, pubb),
  };
  veil_ocicrypt_keys_t keys = { .fetch_kek = fetch_kek, .fetch_ctx = test_kek };
  uint8_t *out = NULL;
  size_t out_len = 0;
  veil_error_t *err = NULL;
  int rc = decrypt (&enc, ct, ct_len, &keys, 4096, 0, &out, &out_len, &err);
  if (rc < 0)
    fail_msg ("%s", err->msg);
  assert_int_equal (out_len, 116);
  _cleanup_free_ char *dg = sha256_digest (out, out_len);
  assert_string_equal (dg, "sha256:00c205b13f95c93cedcc6d51578b7297a0d1a6f95d950752a716aa65985229b6");
  assert_int_equal (out[0], 0x1f); /* gzip */
  assert_int_equal (out[1], 0x8b);
  free (out);
  free (ct);
  desc_clear (&enc);
}

static void
test_finish_early_and_encrypt_checks (void **state)
{
  (void) state;
  size_t len = 200000;
  _cleanup_free_ uint8_t *data = random_data (len);
  EVP_PKEY *pubs[] = { ec_key };
  veil_ocicrypt_recipients_t rcpt = { .pubkeys = pubs, .n_pubkeys = 1 };
  veil_descriptor_t enc = { 0 };
  _cleanup_free_ uint8_t *ct = NULL;
  size_t ct_len = 0;
  encrypt (data, len, &rcpt, &enc, &ct, &ct_len);
  veil_ocicrypt_keys_t keys = { .privkeys = pubs, .n_privkeys = 1 };

  veil_error_t *err = NULL;
  veil_reader_t *in = mem_reader (ct, ct_len, 0);
  veil_reader_t *r = veil_ocicrypt_decrypt_reader (in, &enc, &keys, &err);
  assert_non_null (r);
  uint8_t buf[1000];
  assert_int_equal (r->read (r, buf, sizeof (buf), &err), (ssize_t) sizeof (buf));
  assert_true (r->finish (r, &err) < 0);
  assert_int_equal (err->code, EINVAL);
  veil_error_free (err);
  err = NULL;
  r->free (r);

  /* the encrypted descriptor refuses to be encrypted again; a plaintext
   * that does not match its descriptor is refused */
  int fd = memfd_create ("ct", MFD_CLOEXEC);
  veil_descriptor_t enc2 = { 0 };
  in = mem_reader (ct, ct_len, 0);
  assert_true (veil_ocicrypt_encrypt_layer (in, fd, &enc, &rcpt, &enc2, &err) < 0);
  veil_error_free (err);
  err = NULL;
  in->free (in);
  veil_descriptor_t plain = { .media_type = (char *) VEIL_MT_OCI_LAYER_GZIP, .digest = enc.digest, .size = (int64_t) len };
  in = mem_reader (data, len, 0);
  assert_int_equal (veil_ocicrypt_encrypt_layer (in, fd, &plain, &rcpt, &enc2, &err), -EBADMSG);
  assert_non_null (strstr (err->msg, "not what its descriptor says"));
  veil_error_free (err);
  err = NULL;
  in->free (in);
  veil_ocicrypt_recipients_t none = { 0 };
  plain.digest = NULL;
  in = mem_reader (data, len, 0);
  assert_int_equal (veil_ocicrypt_encrypt_layer (in, fd, &plain, &none, &enc2, &err), -EINVAL);
  veil_error_free (err);
  in->free (in);
  close (fd);
  desc_clear (&enc);
}

static void
test_keys_and_specs (void **state)
{
  (void) state;
  char dir[] = "/tmp/ocicrypt-test-XXXXXX";
  assert_non_null (mkdtemp (dir));
  _cleanup_free_ char *priv = xasprintf ("%s/priv.pem", dir), *pub = xasprintf ("%s/pub.pem", dir);
  _cleanup_free_ char *priv_pem = veil_pkey_to_pem (ec_key, true), *pub_pem = veil_pkey_to_pem (ec_key, false);
  assert_int_equal (veil_file_write_atomic (priv, priv_pem, strlen (priv_pem), 0600, NULL), 0);
  assert_int_equal (veil_file_write_atomic (pub, pub_pem, strlen (pub_pem), 0644, NULL), 0);

  veil_ocicrypt_keys_t keys = { 0 };
  const char *paths[] = { priv };
  assert_int_equal (veil_ocicrypt_keys_load_files (&keys, paths, 1, NULL), 0);
  assert_int_equal (keys.n_privkeys, 1);
  veil_error_t *err = NULL;
  const char *pubs[] = { pub };
  assert_true (veil_ocicrypt_keys_load_files (&keys, pubs, 1, &err) < 0);
  assert_non_null (strstr (err->msg, "not an RSA or EC private key"));
  veil_error_free (err);
  err = NULL;

  veil_ocicrypt_recipients_t r = { 0 };
  _cleanup_free_ char *spec = xasprintf ("jwe:%s", pub);
  assert_int_equal (veil_ocicrypt_recipients_add_spec (&r, spec, NULL), 0);
  assert_int_equal (r.n_pubkeys, 1);
  assert_int_equal (veil_ocicrypt_recipients_add_spec (&r, "pgp:someone@example.com", &err), -ENOTSUP);
  veil_error_free (err);

  size_t len = 5000;
  _cleanup_free_ uint8_t *data = random_data (len);
  veil_descriptor_t enc = { 0 };
  _cleanup_free_ uint8_t *ct = NULL;
  size_t ct_len = 0;
  encrypt (data, len, &r, &enc, &ct, &ct_len);
  assert_roundtrip (&enc, ct, data, len, &keys, 4096, 0);
  desc_clear (&enc);
  veil_ocicrypt_keys_clear (&keys);
  veil_ocicrypt_recipients_clear (&r);
  unlink (priv);
  unlink (pub);
  rmdir (dir);

  assert_true (veil_ocicrypt_is_encrypted (&(veil_descriptor_t){ .media_type = (char *) "a+encrypted" }));
  assert_false (veil_ocicrypt_is_encrypted (&(veil_descriptor_t){ .media_type = (char *) "+encrypted" }));
  _cleanup_free_ char *p = veil_ocicrypt_plain_media_type (VEIL_MT_OCI_LAYER_ZSTD "+encrypted");
  assert_string_equal (p, VEIL_MT_OCI_LAYER_ZSTD);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_roundtrip_rsa_ec),
    cmocka_unit_test (test_roundtrip_kek),
    cmocka_unit_test (test_jwe_and_kek),
    cmocka_unit_test (test_wrong_key),
    cmocka_unit_test (test_tampering),
    cmocka_unit_test (test_bad_annotations),
    cmocka_unit_test (test_privopts_parse),
    cmocka_unit_test (test_ocicrypt_vector),
    cmocka_unit_test (test_finish_early_and_encrypt_checks),
    cmocka_unit_test (test_keys_and_specs),
  };
  return cmocka_run_group_tests (tests, setup, teardown);
}
