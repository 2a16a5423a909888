/* Fuzzes ocicrypt: the private and public options parsers, the key
 * annotations (comma-separated JWEs, the attestation-agent packet) as they
 * are unwrapped with fixed test keys, and the decrypt reader over arbitrary
 * ciphertext for a fixed layer key.  The first input byte picks the target:
 *   0  private options JSON
 *   1  pubopts annotation (base64 text)
 *   2  a JSON object of layer annotations, unwrapped with the fixed EC key
 *      and the fixed KEK, then decrypting an empty layer
 *   3  ciphertext of the fixed layer (byte 1 = read size selector)
 * The fixed layer: symkey 0x11.., nonce 0x22.., plaintext FIXED_LEN bytes
 * of (i*7)%251, its options wrapped for kid FIXED_KID with the KEK 0x33..
 * (A256GCM, IV 0x44..): seeds made for these reach the cipher and finish(). */
#include <openssl/core_names.h>
#include "veil/image.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define FIXED_LEN 1000
#define FIXED_KID "kbs:///default/key/fuzz"

/* Test-only P-256 key (no secret value), the same as the JOSE harness's. */
static const char ec_jwk[] = "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"e5YLLNbeUyeaQsIyhNXWTXA51WXvp0yhfpvNIQfvhRU\","
                             "\"y\":\"a90ZyeiJ8wfVqbslnIO5rnzxw6xc7CXcTW4k-Qs4-38\",\"d\":\"m29NF9fvXkWxp6kg24kUx1d92q"
                             "EyhePfSUihjXFWYwU\"}";

static EVP_PKEY *ec_key;
static uint8_t kek[32];
static veil_descriptor_t fixed_layer;

static int
fetch_kek (void *ctx, const char *kid, uint8_t **out, size_t *out_len, veil_error_t **err)
{
  (void) ctx;
  if (strcmp (kid, FIXED_KID))
    return veil_error_set (err, ENOENT, "no resource %s", kid);
  *out = veil_secret_dup (kek, sizeof (kek));
  *out_len = sizeof (kek);
  return 0;
}

/* ---- the fixed layer ---------------------------------------------------------- */

static char *
b64_json (const char *s)
{
  return veil_b64_encode (s, strlen (s));
}

static void
make_fixed_layer (void)
{
  uint8_t symkey[32], nonce[16], iv[12], plain[FIXED_LEN], ct[FIXED_LEN], hmac[32];
  memset (symkey, 0x11, sizeof (symkey));
  memset (nonce, 0x22, sizeof (nonce));
  memset (kek, 0x33, sizeof (kek));
  memset (iv, 0x44, sizeof (iv));
  for (size_t i = 0; i < FIXED_LEN; i++)
    plain[i] = (uint8_t) ((i * 7) % 251);
  int n = 0;
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new ();
  EVP_EncryptInit_ex (c, EVP_aes_256_ctr (), NULL, symkey, nonce);
  EVP_EncryptUpdate (c, ct, &n, plain, FIXED_LEN);
  size_t hl = 0;
  EVP_Q_mac (NULL, "HMAC", NULL, "SHA256", NULL, symkey, sizeof (symkey), ct, FIXED_LEN, hmac, sizeof (hmac), &hl);

  uint8_t md[32];
  veil_sha256 (plain, FIXED_LEN, md);
  char *hex = veil_hex_encode (md, 32), *kb = veil_b64_encode (symkey, 32), *nb = veil_b64_encode (nonce, 16);
  char *priv = xasprintf ("{\"symkey\":\"%s\",\"digest\":\"sha256:%s\",\"cipheroptions\":{\"nonce\":\"%s\"}}", kb,
                          hex, nb);
  size_t pl = strlen (priv);
  uint8_t *wrapped = xmalloc (pl + 16);
  EVP_EncryptInit_ex (c, EVP_aes_256_gcm (), NULL, kek, iv);
  EVP_EncryptUpdate (c, wrapped, &n, (const uint8_t *) priv, (int) pl);
  EVP_EncryptFinal_ex (c, wrapped + n, &n);
  EVP_CIPHER_CTX_ctrl (c, EVP_CTRL_GCM_GET_TAG, 16, wrapped + pl);
  EVP_CIPHER_CTX_free (c);
  char *wb = veil_b64_encode (wrapped, pl + 16), *ivb = veil_b64_encode (iv, 12), *hb = veil_b64_encode (hmac, 32);
  char *pkt = xasprintf ("{\"kid\":\"" FIXED_KID "\",\"wrapped_data\":\"%s\",\"iv\":\"%s\",\"wrap_type\":\"A256GCM\"}",
                         wb, ivb);
  char *pub = xasprintf ("{\"cipher\":\"AES_256_CTR_HMAC_SHA256\",\"hmac\":\"%s\",\"cipheroptions\":{}}", hb);
  char *pktb = b64_json (pkt), *pubb = b64_json (pub);
  fixed_layer.media_type = xstrdup (VEIL_MT_OCI_LAYER_GZIP VEIL_MT_ENCRYPTED_SUFFIX);
  fixed_layer.digest = xstrdup ("sha256:fixed");
  fixed_layer.size = FIXED_LEN;
  fixed_layer.annotations = json_pack ("{ssss}", VEIL_OCICRYPT_ANN_AA, pktb, VEIL_OCICRYPT_ANN_PUBOPTS, pubb);
  free (hex), free (kb), free (nb), free (priv), free (wrapped), free (wb), free (ivb), free (hb);
  free (pkt), free (pub), free (pktb), free (pubb);
}

static void
init (void)
{
  json_t *j = json_loads (ec_jwk, 0, NULL);
  ec_key = veil_jwk_to_pkey (j, NULL);
  json_decref (j);
  if (!ec_key)
    abort ();
  make_fixed_layer ();
}

/* ---- targets -------------------------------------------------------------------- */

static void
drain (const veil_descriptor_t *layer, const uint8_t *ct, size_t len, size_t bufsz)
{
  EVP_PKEY *pks[] = { ec_key };
  veil_ocicrypt_keys_t keys = { .privkeys = pks, .n_privkeys = 1, .fetch_kek = fetch_kek };
  veil_error_t *err = NULL;
  veil_reader_t *in = veil_reader_mem (ct, len);
  veil_reader_t *r = veil_ocicrypt_decrypt_reader (in, layer, &keys, &err);
  if (!r)
    {
      in->free (in);
      veil_error_free (err);
      return;
    }
  uint8_t *buf = xmalloc (bufsz);
  ssize_t n;
  while ((n = r->read (r, buf, bufsz, &err)) > 0)
    ;
  if (n == 0)
    r->finish (r, &err);
  veil_error_free (err);
  free (buf);
  r->free (r);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static bool ready;
  if (!ready)
    {
      init ();
      ready = true;
    }
  if (size < 1)
    return 0;
  uint8_t mode = data[0];
  data++, size--;
  veil_error_t *err = NULL;
  switch (mode)
    {
    case 0:
      {
        veil_ocicrypt_opts_t *o = veil_secret_alloc (sizeof (*o));
        veil_ocicrypt_privopts_parse (data, size, o, &err);
        veil_secret_free (o);
        break;
      }
    case 1:
      {
        char *s = xstrndup ((const char *) data, size);
        veil_ocicrypt_opts_t *o = veil_secret_alloc (sizeof (*o));
        veil_ocicrypt_pubopts_parse (s, o, &err);
        veil_secret_free (o);
        free (s);
        break;
      }
    case 2:
      {
        json_t *ann = veil_json_parse (data, size, 1 << 20, NULL);
        if (!ann)
          break;
        veil_descriptor_t d = { .media_type = (char *) VEIL_MT_OCI_LAYER_GZIP VEIL_MT_ENCRYPTED_SUFFIX,
                                .digest = (char *) "sha256:fuzz",
                                .annotations = ann };
        drain (&d, (const uint8_t *) "", 0, 4096);
        json_decref (ann);
        break;
      }
    case 3:
      {
        static const size_t sizes[] = { 1, 7, 16, 100, 4096, 65536, 200003 };
        size_t bufsz = size ? sizes[data[0] % VEIL_ARRAY_SIZE (sizes)] : 4096;
        if (size)
          data++, size--;
        drain (&fixed_layer, data, size, bufsz);
        break;
      }
    default:
      break;
    }
  veil_error_free (err);
  return 0;
}
