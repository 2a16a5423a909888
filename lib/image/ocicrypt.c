/* ocicrypt: encrypted OCI layers, in the format of containers/ocicrypt
 * (what skopeo, podman and buildah write) and of CoCo's attestation-agent
 * key provider, so that images move between them and veil both ways.
 *
 * Layer cipher "AES_256_CTR_HMAC_SHA256" (ocicrypt blockcipher/):
 *   ciphertext = AES-256-CTR(symkey, initial counter block = nonce, plain)
 *   hmac       = HMAC-SHA256(symkey, ciphertext)
 * Annotations on the encrypted descriptor (ocicrypt spec/spec.go):
 *   org.opencontainers.image.enc.pubopts: base64 of
 *     {"cipher":"AES_256_CTR_HMAC_SHA256","hmac":b64,"cipheroptions":{}}
 *   org.opencontainers.image.enc.keys.jwe: comma-separated base64 of JWEs
 *     (JSON serialisation; ocicrypt keywrap/jwe: RSA-OAEP for RSA keys,
 *     ECDH-ES+A256KW for EC keys, enc A256GCM) of the private options
 *     {"symkey":b64(32),"digest":"sha256:…","cipheroptions":{"nonce":b64(16)}}
 *   org.opencontainers.image.enc.keys.provider.attestation-agent: base64 of
 *     {"kid":"kbs:///…","wrapped_data":b64,"iv":b64,"wrap_type":"A256GCM"}
 *     where wrapped_data = AES-256-GCM(KEK, iv (12 bytes), private options)
 *     with the 16-byte tag appended (guest-components AnnotationPacket).
 * Every []byte of the Go structs is standard base64 with padding.
 *
 * The decrypt reader runs at hash speed: the HMAC over the ciphertext is
 * computed by a helper thread while this thread runs AES-CTR and the sha256
 * of the plaintext (the private options' "digest"), on large chunks. */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include "veil/image.h"

#define OCICRYPT_CIPHER "AES_256_CTR_HMAC_SHA256"
#define OCICRYPT_WRAP_GCM "A256GCM"
#define ANN_PREFIX "org.opencontainers.image.enc."

/* Bounds on everything read from annotations (attacker-controlled until
 * the HMAC verified). */
#define MAX_ANNOTATION (1u << 20) /* one annotation value */
#define MAX_JWE_PARTS 64          /* comma-separated JWEs */
#define MAX_JWE_JSON (256u << 10) /* one decoded JWE */
#define MAX_PRIVOPTS (16u << 10)  /* decoded private options */
#define MAX_AA_JSON (64u << 10)   /* decoded attestation-agent packet */
#define MAX_KID 1024
#define GCM_IV_LEN 12
#define GCM_TAG_LEN 16

/* Stream chunking: large chunks keep EVP at full speed and make the
 * hand-off to the HMAC thread cheap relative to the work. */
#define CHUNK (1u << 20)
#define DIRECT_MIN (64u << 10) /* caller buffers this large get plaintext directly */
#define PARALLEL_MIN (128u << 10)

/* ---- media types ------------------------------------------------------- */

bool
veil_ocicrypt_is_encrypted (const veil_descriptor_t *d)
{
  if (!d || !d->media_type)
    return false;
  size_t n = strlen (d->media_type), s = strlen (VEIL_MT_ENCRYPTED_SUFFIX);
  return n > s && !strcmp (d->media_type + n - s, VEIL_MT_ENCRYPTED_SUFFIX);
}

char *
veil_ocicrypt_plain_media_type (const char *media_type)
{
  size_t n = strlen (media_type), s = strlen (VEIL_MT_ENCRYPTED_SUFFIX);
  if (n > s && !strcmp (media_type + n - s, VEIL_MT_ENCRYPTED_SUFFIX))
    return xstrndup (media_type, n - s);
  return xstrdup (media_type);
}

/* ---- small helpers ----------------------------------------------------- */

/* Decodes standard base64 (as Go's encoding/base64.StdEncoding writes it)
 * of exactly n bytes into out; the temporary copy is wiped. */
static int
b64_exact (const char *s, uint8_t *out, size_t n, const char *what, veil_error_t **err)
{
  if (!s)
    return veil_error_set (err, EBADMSG, "%s: missing or not a string", what);
  if (strlen (s) > 4 * ((n + 2) / 3))
    return veil_error_set (err, EBADMSG, "%s: longer than %zu bytes", what, n);
  uint8_t *d = NULL;
  size_t len = 0;
  veil_error_t *e = NULL;
  if (veil_b64_decode (s, &d, &len, &e) < 0)
    {
      veil_error_free (e);
      return veil_error_set (err, EBADMSG, "%s: not base64", what);
    }
  int rc = 0;
  if (len != n)
    rc = veil_error_set (err, EBADMSG, "%s: %zu bytes, expected %zu", what, len, n);
  else
    memcpy (out, d, n);
  veil_wipe (d, len);
  free (d);
  return rc;
}

/* Wipes a JSON string value in place: jansson holds its own copy of the
 * base64 key text, which must not outlive the key. */
static void
json_wipe_str (json_t *o, const char *key)
{
  json_t *s = o ? json_object_get (o, key) : NULL;
  if (json_is_string (s))
    veil_wipe ((char *) json_string_value (s), json_string_length (s));
}

static bool
digest_ok (const char *d)
{
  if (!d || strncmp (d, "sha256:", 7) || strlen (d) != 71)
    return false;
  for (const char *p = d + 7; *p; p++)
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
      return false;
  return true;
}

static void
digest_format (const uint8_t md[32], char out[72])
{
  static const char hex[] = "0123456789abcdef";
  memcpy (out, "sha256:", 7);
  for (int i = 0; i < 32; i++)
    {
      out[7 + 2 * i] = hex[md[i] >> 4];
      out[8 + 2 * i] = hex[md[i] & 15];
    }
  out[71] = 0;
}

/* AES-256-GCM with a 12-byte IV, no AAD, tag appended: the
 * attestation-agent key wrap (wrap_type "A256GCM"). */
static int
gcm (bool enc, const uint8_t key[32], const uint8_t iv[GCM_IV_LEN], const uint8_t *in,
     size_t in_len, uint8_t *out, veil_error_t **err)
{
  if (in_len > INT_MAX - GCM_TAG_LEN || (!enc && in_len < GCM_TAG_LEN))
    return veil_error_set (err, EBADMSG, "A256GCM: bad length %zu", in_len);
  _cleanup_ (EVP_CIPHER_CTX_freep) EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new ();
  size_t body = enc ? in_len : in_len - GCM_TAG_LEN;
  int n = 0, f = 0;
  if (!c || EVP_CipherInit_ex (c, EVP_aes_256_gcm (), NULL, key, iv, enc) != 1)
    return veil_error_set (err, EIO, "A256GCM: %s", veil_openssl_error ());
  if (EVP_CipherUpdate (c, out, &n, in, (int) body) != 1)
    return veil_error_set (err, EIO, "A256GCM: %s", veil_openssl_error ());
  if (!enc && EVP_CIPHER_CTX_ctrl (c, EVP_CTRL_GCM_SET_TAG, GCM_TAG_LEN, (void *) (in + body)) != 1)
    return veil_error_set (err, EIO, "A256GCM: %s", veil_openssl_error ());
  if (EVP_CipherFinal_ex (c, out + n, &f) != 1)
    {
      veil_wipe (out, body);
      return veil_error_set (err, EBADMSG, "A256GCM: authentication tag mismatch");
    }
  if (enc && EVP_CIPHER_CTX_ctrl (c, EVP_CTRL_GCM_GET_TAG, GCM_TAG_LEN, out + body) != 1)
    return veil_error_set (err, EIO, "A256GCM: %s", veil_openssl_error ());
  return 0;
}

/* ---- options -------------------------------------------------------------- */

int
veil_ocicrypt_privopts_parse (const void *data, size_t len, veil_ocicrypt_opts_t *o,
                              veil_error_t **err)
{
  if (len > MAX_PRIVOPTS)
    return veil_error_set (err, E2BIG, "ocicrypt: private options: %zu bytes (max %u)", len, MAX_PRIVOPTS);
  _cleanup_json_ json_t *j = veil_json_parse (data, len, MAX_PRIVOPTS, err);
  if (!j)
    return veil_error_wrap (err, "ocicrypt: private options");
  if (!json_is_object (j))
    return veil_error_set (err, EBADMSG, "ocicrypt: private options: not a JSON object");
  json_t *co = json_object_get (j, "cipheroptions");
  int rc = b64_exact (veil_json_str (j, "symkey"), o->symkey, sizeof (o->symkey),
                      "ocicrypt: private options: 'symkey'", err);
  if (rc == 0)
    {
      /* ocicrypt's GetOpt looks up cipher options by name ("nonce") in
       * the private options (blockcipher.go); older writers put nothing
       * else there. */
      if (!json_is_object (co))
        rc = veil_error_set (err, EBADMSG, "ocicrypt: private options: 'cipheroptions' missing or not an object");
      else
        rc = b64_exact (veil_json_str (co, "nonce"), o->nonce, sizeof (o->nonce),
                        "ocicrypt: private options: 'cipheroptions.nonce'", err);
    }
  const char *d = veil_json_str (j, "digest");
  if (rc == 0 && !digest_ok (d))
    rc = veil_error_set (err, EBADMSG, "ocicrypt: private options: 'digest' is not sha256:<64 hex>");
  if (rc == 0)
    memcpy (o->digest, d, 72);
  json_wipe_str (j, "symkey");
  json_wipe_str (co, "nonce");
  if (rc < 0)
    veil_wipe (o, sizeof (*o));
  return rc;
}

int
veil_ocicrypt_pubopts_parse (const char *b64, veil_ocicrypt_opts_t *o, veil_error_t **err)
{
  if (!b64)
    return veil_error_set (err, EBADMSG, "ocicrypt: no %s annotation", VEIL_OCICRYPT_ANN_PUBOPTS);
  if (strlen (b64) > MAX_ANNOTATION)
    return veil_error_set (err, E2BIG, "ocicrypt: pubopts annotation too large");
  _cleanup_free_ uint8_t *raw = NULL;
  size_t len = 0;
  veil_error_t *e = NULL;
  if (veil_b64_decode (b64, &raw, &len, &e) < 0)
    {
      veil_error_free (e);
      return veil_error_set (err, EBADMSG, "ocicrypt: pubopts annotation is not base64");
    }
  _cleanup_json_ json_t *j = veil_json_parse (raw, len, MAX_ANNOTATION, err);
  if (!j)
    return veil_error_wrap (err, "ocicrypt: pubopts");
  if (!json_is_object (j))
    return veil_error_set (err, EBADMSG, "ocicrypt: pubopts: not a JSON object");
  const char *cipher = veil_json_str (j, "cipher");
  if (!cipher || strcmp (cipher, OCICRYPT_CIPHER))
    return veil_error_set (err, ENOTSUP, "ocicrypt: pubopts: cipher '%s' is not supported (only %s)",
                           cipher ? cipher : "(none)", OCICRYPT_CIPHER);
  /* Current ocicrypt writes "hmac" at the top; early versions put it in
   * the public "cipheroptions" (blockcipher_aes_ctr.go, GetOpt). */
  const char *h = veil_json_str (j, "hmac");
  json_t *co = json_object_get (j, "cipheroptions");
  if (!h && json_is_object (co))
    h = veil_json_str (co, "hmac");
  return b64_exact (h, o->hmac, sizeof (o->hmac), "ocicrypt: pubopts: 'hmac'", err);
}

/* ---- unwrapping the private options ---------------------------------- */

typedef struct unwrap_log
{
  size_t jwe_recipients; /* counted over all comma-separated JWEs */
  veil_buf_t notes;      /* "; …" per thing that could not be tried */
  bool garbled;
} unwrap_log_t;

static void
note (unwrap_log_t *l, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
static void
note (unwrap_log_t *l, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  _cleanup_free_ char *s = xvasprintf (fmt, ap);
  va_end (ap);
  veil_buf_printf (&l->notes, "; %s", s);
}

/* 1 when pt (the private options) was opened and parsed, 0 when not. */
static int
opts_from_privopts (const uint8_t *pt, size_t len, veil_ocicrypt_opts_t *o, const char *via,
                    veil_error_t **err)
{
  if (veil_ocicrypt_privopts_parse (pt, len, o, err) < 0)
    return veil_error_wrap (err, "%s", via);
  return 1;
}

static int
try_jwe_one (json_t *jwe, const veil_ocicrypt_keys_t *keys, veil_ocicrypt_opts_t *o,
             size_t idx, veil_error_t **err)
{
  for (size_t k = 0; keys && k < keys->n_privkeys; k++)
    {
      _cleanup_secret_ uint8_t *pt = NULL;
      size_t pt_len = 0;
      veil_error_t *e = NULL;
      if (veil_jwe_decrypt (jwe, keys->privkeys[k], &pt, &pt_len, &e) < 0)
        {
          veil_error_free (e);
          continue;
        }
      _cleanup_free_ char *via = xasprintf ("ocicrypt: JWE %zu opened with key %zu", idx + 1, k + 1);
      return opts_from_privopts (pt, pt_len, o, via, err);
    }
  return 0;
}

static int
try_jwe (const char *ann, const veil_ocicrypt_keys_t *keys, veil_ocicrypt_opts_t *o,
         unwrap_log_t *l, veil_error_t **err)
{
  if (strlen (ann) > MAX_ANNOTATION)
    {
      l->garbled = true;
      note (l, "JWE annotation larger than %u bytes", MAX_ANNOTATION);
      return 0;
    }
  const char *p = ann;
  for (size_t i = 0; *p || i == 0; i++)
    {
      const char *end = strchr (p, ',');
      size_t n = end ? (size_t) (end - p) : strlen (p);
      if (i >= MAX_JWE_PARTS)
        {
          l->garbled = true;
          note (l, "more than %d JWEs", MAX_JWE_PARTS);
          return 0;
        }
      _cleanup_free_ char *part = xstrndup (p, n);
      p = end ? end + 1 : p + n;
      _cleanup_free_ uint8_t *raw = NULL;
      size_t raw_len = 0;
      veil_error_t *e = NULL;
      _cleanup_json_ json_t *jwe = NULL;
      if (n > 4 * (MAX_JWE_JSON / 3) || veil_b64_decode (part, &raw, &raw_len, &e) < 0)
        {
          veil_error_free (e);
          l->garbled = true;
          note (l, "JWE %zu: not base64 (or too large)", i + 1);
        }
      else if (!(jwe = veil_json_parse (raw, raw_len, MAX_JWE_JSON, &e)) || !json_is_object (jwe))
        {
          l->garbled = true;
          note (l, "JWE %zu: not a JSON object%s%s", i + 1, e ? ": " : "", e ? e->msg : "");
          veil_error_free (e);
        }
      else
        {
          json_t *r = json_object_get (jwe, "recipients");
          l->jwe_recipients += json_is_array (r) ? json_array_size (r) : 1;
          int rc = try_jwe_one (jwe, keys, o, i, err);
          if (rc != 0)
            return rc;
        }
      if (!end)
        break;
    }
  return 0;
}

static int
try_aa (const char *ann, const veil_ocicrypt_keys_t *keys, veil_ocicrypt_opts_t *o,
        unwrap_log_t *l, veil_error_t **err)
{
  _cleanup_free_ uint8_t *raw = NULL;
  size_t raw_len = 0;
  veil_error_t *e = NULL;
  if (strlen (ann) > 4 * (MAX_AA_JSON / 3) || veil_b64_decode (ann, &raw, &raw_len, &e) < 0)
    {
      veil_error_free (e);
      l->garbled = true;
      note (l, "provider.attestation-agent annotation: not base64 (or too large)");
      return 0;
    }
  _cleanup_json_ json_t *j = veil_json_parse (raw, raw_len, MAX_AA_JSON, &e);
  const char *kid = j ? veil_json_str (j, "kid") : NULL;
  const char *wt = j ? veil_json_str (j, "wrap_type") : NULL;
  if (!kid || !*kid || strlen (kid) > MAX_KID)
    {
      l->garbled = true;
      note (l, "provider.attestation-agent annotation: %s", e ? e->msg : "no valid 'kid'");
      veil_error_free (e);
      return 0;
    }
  if (!wt || strcmp (wt, OCICRYPT_WRAP_GCM))
    {
      l->garbled = true;
      note (l, "key provider for %s: wrap_type '%s' is not supported (only " OCICRYPT_WRAP_GCM ")",
            kid, wt ? wt : "(none)");
      return 0;
    }
  uint8_t iv[GCM_IV_LEN];
  const char *wd = veil_json_str (j, "wrapped_data");
  if (b64_exact (veil_json_str (j, "iv"), iv, sizeof (iv), "'iv'", &e) < 0
      || !wd || strlen (wd) > 4 * ((MAX_PRIVOPTS + GCM_TAG_LEN + 2) / 3))
    {
      l->garbled = true;
      note (l, "key provider for %s: %s", kid, e ? e->msg : "'wrapped_data' missing or too large");
      veil_error_free (e);
      return 0;
    }
  _cleanup_free_ uint8_t *wrapped = NULL;
  size_t wrapped_len = 0;
  if (veil_b64_decode (wd, &wrapped, &wrapped_len, &e) < 0 || wrapped_len < GCM_TAG_LEN)
    {
      veil_error_free (e);
      l->garbled = true;
      note (l, "key provider for %s: 'wrapped_data' is not base64 of at least %d bytes", kid, GCM_TAG_LEN);
      return 0;
    }
  if (!keys || !keys->fetch_kek)
    {
      note (l, "no key provider for %s", kid);
      return 0;
    }
  _cleanup_secret_ uint8_t *kek = NULL;
  size_t kek_len = 0;
  if (keys->fetch_kek (keys->fetch_ctx, kid, &kek, &kek_len, &e) < 0)
    {
      note (l, "key provider for %s: %s", kid, e ? e->msg : "failed");
      veil_error_free (e);
      return 0;
    }
  if (!kek || kek_len != 32)
    {
      note (l, "key provider for %s: KEK is %zu bytes, not 32", kid, kek_len);
      return 0;
    }
  _cleanup_secret_ uint8_t *pt = veil_secret_alloc (wrapped_len);
  if (gcm (false, kek, iv, wrapped, wrapped_len, pt, &e) < 0)
    {
      note (l, "key provider for %s: the KEK does not open wrapped_data (%s)", kid, e->msg);
      veil_error_free (e);
      return 0;
    }
  _cleanup_free_ char *via = xasprintf ("ocicrypt: key provider for %s", kid);
  return opts_from_privopts (pt, wrapped_len - GCM_TAG_LEN, o, via, err);
}

int
veil_ocicrypt_unwrap (const veil_descriptor_t *layer, const veil_ocicrypt_keys_t *keys,
                      veil_ocicrypt_opts_t **opts, veil_error_t **err)
{
  const char *dg = layer->digest ? layer->digest : "(no digest)";
  json_t *ann = json_is_object (layer->annotations) ? layer->annotations : NULL;
  const char *jwe = veil_json_str (ann, VEIL_OCICRYPT_ANN_JWE);
  const char *aa = veil_json_str (ann, VEIL_OCICRYPT_ANN_AA);
  if (!jwe && !aa)
    return veil_error_set (err, EBADMSG,
                           "ocicrypt: layer %s has no key annotation (" VEIL_OCICRYPT_ANN_JWE
                           " or " VEIL_OCICRYPT_ANN_AA ")",
                           dg);
  _cleanup_secret_ veil_ocicrypt_opts_t *o = veil_secret_alloc (sizeof (*o));
  if (veil_ocicrypt_pubopts_parse (veil_json_str (ann, VEIL_OCICRYPT_ANN_PUBOPTS), o, err) < 0)
    return veil_error_wrap (err, "layer %s", dg);

  unwrap_log_t l = { 0 };
  int rc = 0;
  if (jwe)
    rc = try_jwe (jwe, keys, o, &l, err);
  if (rc == 0 && aa)
    rc = try_aa (aa, keys, o, &l, err);
  if (rc > 0)
    {
      veil_buf_free (&l.notes);
      *opts = steal_pointer (&o);
      return 0;
    }
  if (rc < 0)
    {
      veil_buf_free (&l.notes);
      return veil_error_wrap (err, "layer %s", dg);
    }
  size_t nk = keys ? keys->n_privkeys : 0;
  _cleanup_free_ char *tried = jwe ? xasprintf ("tried %zu JWE recipient%s with %zu key%s", l.jwe_recipients,
                                                l.jwe_recipients == 1 ? "" : "s", nk, nk == 1 ? "" : "s")
                                   : xstrdup ("no JWE recipients");
  rc = veil_error_set (err, l.garbled && !l.jwe_recipients ? EBADMSG : EKEYREJECTED,
                       "ocicrypt: no offered key opens layer %s: %s%s", dg, tried,
                       l.notes.len ? veil_buf_cstr (&l.notes) : "");
  veil_buf_free (&l.notes);
  return rc;
}

/* ---- the HMAC helper thread ---------------------------------------------- */

/* One job at a time: optionally AES-CTR over [ctr_in, ctr_in+ctr_n) into
 * ctr_out with its own context (the second part of a chunk; ctr_done is
 * signalled as soon as it is written), then HMAC-update mac over [p, p+n).
 * The submitting thread touches none of these until the matching wait
 * returned.  Decrypting, the two threads then share the work nearly evenly:
 * this one CTR(first part) + sha256(plaintext), the helper CTR(rest) + HMAC. */
typedef struct mac_worker
{
  pthread_t th;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  EVP_MAC_CTX *mac;
  EVP_CIPHER_CTX *ctr;
  const uint8_t *p, *ctr_in;
  uint8_t *ctr_out;
  size_t n, ctr_n;
  /* claimed: taken by the helper, or by the submitter itself when the
   * helper had not started it yet (a busy machine then degrades to the
   * one-thread speed instead of waiting for the helper to be scheduled) */
  bool pending, claimed, ctr_done, quit, ok, started;
} mac_worker_t;

static void *
mac_worker_main (void *arg)
{
  mac_worker_t *w = arg;
  pthread_mutex_lock (&w->mu);
  for (;;)
    {
      while (!(w->pending && !w->claimed) && !w->quit)
        pthread_cond_wait (&w->cv, &w->mu);
      if (w->quit)
        break;
      w->claimed = true;
      const uint8_t *p = w->p, *ci = w->ctr_in;
      uint8_t *co = w->ctr_out;
      size_t n = w->n, cn = w->ctr_n;
      pthread_mutex_unlock (&w->mu);
      int outl = 0;
      bool ok = cn == 0 || (EVP_CipherUpdate (w->ctr, co, &outl, ci, (int) cn) == 1 && (size_t) outl == cn);
      if (cn)
        {
          pthread_mutex_lock (&w->mu);
          w->ctr_done = true;
          w->ok = w->ok && ok;
          pthread_cond_broadcast (&w->cv);
          pthread_mutex_unlock (&w->mu);
        }
      ok = EVP_MAC_update (w->mac, p, n) == 1 && ok;
      pthread_mutex_lock (&w->mu);
      w->ok = w->ok && ok;
      w->pending = false;
      pthread_cond_broadcast (&w->cv);
    }
  pthread_mutex_unlock (&w->mu);
  return NULL;
}

/* Starts the thread on first use; false when one core (or no thread):
 * then the caller computes the HMAC itself. */
static bool
mac_worker_start (mac_worker_t *w, EVP_MAC_CTX *mac, EVP_CIPHER_CTX *ctr)
{
  if (w->started)
    return true;
  static long ncpu = 0;
  if (ncpu == 0)
    ncpu = sysconf (_SC_NPROCESSORS_ONLN);
  if (ncpu < 2)
    return false;
  w->mac = mac;
  w->ctr = ctr;
  w->ok = true;
  pthread_mutex_init (&w->mu, NULL);
  pthread_cond_init (&w->cv, NULL);
  if (pthread_create (&w->th, NULL, mac_worker_main, w) != 0)
    {
      pthread_cond_destroy (&w->cv);
      pthread_mutex_destroy (&w->mu);
      return false;
    }
  w->started = true;
  return true;
}

static void
mac_submit (mac_worker_t *w, const uint8_t *p, size_t n, const uint8_t *ctr_in, uint8_t *ctr_out,
            size_t ctr_n)
{
  pthread_mutex_lock (&w->mu);
  w->p = p;
  w->n = n;
  w->ctr_in = ctr_in;
  w->ctr_out = ctr_out;
  w->ctr_n = ctr_n;
  w->ctr_done = ctr_n == 0;
  w->claimed = false;
  w->pending = true;
  pthread_cond_broadcast (&w->cv);
  pthread_mutex_unlock (&w->mu);
}

/* Takes the submitted job back when the helper has not started it: the
 * caller then runs it inline (mac_run_inline).  False when the helper has it. */
static bool
mac_reclaim (mac_worker_t *w)
{
  pthread_mutex_lock (&w->mu);
  bool mine = !w->claimed;
  if (mine)
    {
      w->claimed = true;
      w->pending = false;
    }
  pthread_mutex_unlock (&w->mu);
  return mine;
}

static bool
mac_run_inline (mac_worker_t *w)
{
  int outl = 0;
  bool ok = w->ctr_n == 0
            || (EVP_CipherUpdate (w->ctr, w->ctr_out, &outl, w->ctr_in, (int) w->ctr_n) == 1
                && (size_t) outl == w->ctr_n);
  return EVP_MAC_update (w->mac, w->p, w->n) == 1 && ok;
}

static void
mac_wait_ctr (mac_worker_t *w)
{
  pthread_mutex_lock (&w->mu);
  while (!w->ctr_done)
    pthread_cond_wait (&w->cv, &w->mu);
  pthread_mutex_unlock (&w->mu);
}

static bool
mac_wait (mac_worker_t *w)
{
  pthread_mutex_lock (&w->mu);
  while (w->pending)
    pthread_cond_wait (&w->cv, &w->mu);
  bool ok = w->ok;
  pthread_mutex_unlock (&w->mu);
  return ok;
}

static void
mac_worker_stop (mac_worker_t *w)
{
  if (!w->started)
    return;
  pthread_mutex_lock (&w->mu);
  w->quit = true;
  pthread_cond_broadcast (&w->cv);
  pthread_mutex_unlock (&w->mu);
  pthread_join (w->th, NULL);
  pthread_cond_destroy (&w->cv);
  pthread_mutex_destroy (&w->mu);
  w->started = false;
}

/* ---- the layer cipher ------------------------------------------------------ */

typedef struct layer_cipher
{
  const veil_ocicrypt_opts_t *o;
  EVP_CIPHER_CTX *ctr;
  EVP_CIPHER_CTX *ctr2; /* the helper thread's part (decryption) */
  EVP_MAC_CTX *mac;     /* HMAC-SHA256 over the ciphertext */
  EVP_MD_CTX *plain;    /* sha256 of the plaintext (NULL: not computed) */
  EVP_MD_CTX *ct;       /* sha256 of the ciphertext (encryption only) */
  mac_worker_t worker;
} layer_cipher_t;

static void
layer_cipher_free (layer_cipher_t *c)
{
  mac_worker_stop (&c->worker);
  EVP_CIPHER_CTX_free (c->ctr); /* these cleanse their key material */
  EVP_CIPHER_CTX_free (c->ctr2);
  EVP_MAC_CTX_free (c->mac);
  EVP_MD_CTX_free (c->plain);
  EVP_MD_CTX_free (c->ct);
  memset (c, 0, sizeof (*c));
}

static int
layer_cipher_init (layer_cipher_t *c, const veil_ocicrypt_opts_t *o, bool enc, bool plain_digest,
                   veil_error_t **err)
{
  memset (c, 0, sizeof (*c));
  EVP_MAC *hmac = EVP_MAC_fetch (NULL, "HMAC", NULL);
  OSSL_PARAM params[] = { OSSL_PARAM_construct_utf8_string (OSSL_MAC_PARAM_DIGEST, (char *) "SHA256", 0),
                          OSSL_PARAM_construct_end () };
  c->o = o;
  c->ctr = EVP_CIPHER_CTX_new ();
  c->ctr2 = enc ? NULL : EVP_CIPHER_CTX_new ();
  c->mac = hmac ? EVP_MAC_CTX_new (hmac) : NULL;
  EVP_MAC_free (hmac);
  c->plain = enc || plain_digest ? EVP_MD_CTX_new () : NULL;
  c->ct = enc ? EVP_MD_CTX_new () : NULL;
  /* AES-256-CTR: the 16-byte nonce is the whole initial counter block,
   * incremented as a 128-bit big-endian number (Go cipher.NewCTR). */
  if (!c->ctr || !c->mac || ((enc || plain_digest) && !c->plain) || (enc && !c->ct) || (!enc && !c->ctr2)
      || EVP_CipherInit_ex (c->ctr, EVP_aes_256_ctr (), NULL, o->symkey, o->nonce, enc) != 1
      || (!enc && EVP_CipherInit_ex (c->ctr2, EVP_aes_256_ctr (), NULL, o->symkey, o->nonce, enc) != 1)
      || EVP_MAC_init (c->mac, o->symkey, sizeof (o->symkey), params) != 1
      || (c->plain && EVP_DigestInit_ex (c->plain, EVP_sha256 (), NULL) != 1)
      || (enc && EVP_DigestInit_ex (c->ct, EVP_sha256 (), NULL) != 1))
    {
      layer_cipher_free (c);
      return veil_error_set (err, EIO, "ocicrypt: cipher setup: %s", veil_openssl_error ());
    }
  return 0;
}

/* Positions a CTR context at byte off of the stream: counter block =
 * nonce + off/16 (128-bit big-endian, wrapping, as Go's cipher.NewCTR and
 * OpenSSL's CTR mode both count), then off%16 keystream bytes skipped. */
static bool
ctr_at (EVP_CIPHER_CTX *c, const uint8_t nonce[16], uint64_t off)
{
  uint8_t iv[16], skip[16] = { 0 };
  uint64_t blk = off / 16;
  unsigned carry = 0;
  for (int i = 15; i >= 0; i--)
    {
      unsigned sum = nonce[i] + (unsigned) (blk & 0xff) + carry;
      iv[i] = (uint8_t) sum;
      carry = sum >> 8;
      blk >>= 8;
    }
  int outl = 0;
  return EVP_CipherInit_ex (c, NULL, NULL, NULL, iv, -1) == 1
         && (off % 16 == 0 || EVP_CipherUpdate (c, skip, &outl, skip, (int) (off % 16)) == 1);
}

/* Decrypts n bytes of ct (stream offset off) into pt (distinct buffers),
 * HMAC over ct, sha256 over pt.  Large chunks are split with the helper
 * thread (see mac_worker_t). */
static int
layer_decrypt_chunk (layer_cipher_t *c, const uint8_t *ct, uint8_t *pt, size_t n, uint64_t off,
                     veil_error_t **err)
{
  bool par = n >= PARALLEL_MIN && mac_worker_start (&c->worker, c->mac, c->ctr2);
  /* this thread: CTR over [0, h), sha256 over all; helper: CTR over [h, n),
   * HMAC over all.  Without the plaintext sha256 this thread has only CTR
   * to do, which is far cheaper than the helper's HMAC: it does all of it. */
  size_t h = par && c->plain ? (n / 4) & ~(size_t) 15 : n;
  bool ok = ctr_at (c->ctr, c->o->nonce, off) && (!par || h == n || ctr_at (c->ctr2, c->o->nonce, off + h));
  if (!ok)
    return veil_error_set (err, EIO, "ocicrypt: decrypt: %s", veil_openssl_error ());
  if (par)
    mac_submit (&c->worker, ct, n, ct + h, pt + h, n - h);
  else if (EVP_MAC_update (c->mac, ct, n) != 1)
    return veil_error_set (err, EIO, "ocicrypt: HMAC: %s", veil_openssl_error ());
  int outl = 0;
  ok = EVP_CipherUpdate (c->ctr, pt, &outl, ct, (int) h) == 1 && (size_t) outl == h
       && (!c->plain || EVP_DigestUpdate (c->plain, pt, h) == 1);
  if (par && mac_reclaim (&c->worker))
    ok = mac_run_inline (&c->worker) && (!c->plain || EVP_DigestUpdate (c->plain, pt + h, n - h) == 1) && ok;
  else if (par)
    {
      if (h < n)
        {
          mac_wait_ctr (&c->worker);
          ok = (!c->plain || EVP_DigestUpdate (c->plain, pt + h, n - h) == 1) && ok;
        }
      ok = mac_wait (&c->worker) && ok;
    }
  if (!ok)
    return veil_error_set (err, EIO, "ocicrypt: decrypt: %s", veil_openssl_error ());
  return 0;
}

/* Encrypts buf in place: sha256 of the plaintext, CTR, then HMAC and
 * sha256 of the ciphertext. */
static int
layer_encrypt_chunk (layer_cipher_t *c, uint8_t *buf, size_t n, veil_error_t **err)
{
  int outl = 0;
  if (EVP_DigestUpdate (c->plain, buf, n) != 1
      || EVP_CipherUpdate (c->ctr, buf, &outl, buf, (int) n) != 1 || (size_t) outl != n)
    return veil_error_set (err, EIO, "ocicrypt: encrypt: %s", veil_openssl_error ());
  bool par = n >= PARALLEL_MIN && mac_worker_start (&c->worker, c->mac, NULL);
  bool ok = true;
  if (par)
    mac_submit (&c->worker, buf, n, NULL, NULL, 0);
  else
    ok = EVP_MAC_update (c->mac, buf, n) == 1;
  ok = EVP_DigestUpdate (c->ct, buf, n) == 1 && ok;
  if (par && mac_reclaim (&c->worker))
    ok = mac_run_inline (&c->worker) && ok;
  else if (par && !mac_wait (&c->worker))
    ok = false;
  if (!ok)
    return veil_error_set (err, EIO, "ocicrypt: encrypt: %s", veil_openssl_error ());
  return 0;
}

static int
layer_cipher_final (layer_cipher_t *c, uint8_t hmac[32], char plain_digest[72], char ct_digest[72],
                    veil_error_t **err)
{
  uint8_t md[32];
  size_t hl = 0;
  unsigned int ml = 0;
  if (EVP_MAC_final (c->mac, hmac, &hl, 32) != 1 || hl != 32
      || (c->plain && EVP_DigestFinal_ex (c->plain, md, &ml) != 1))
    return veil_error_set (err, EIO, "ocicrypt: %s", veil_openssl_error ());
  if (c->plain)
    digest_format (md, plain_digest);
  else
    plain_digest[0] = 0;
  if (c->ct)
    {
      if (EVP_DigestFinal_ex (c->ct, md, &ml) != 1)
        return veil_error_set (err, EIO, "ocicrypt: %s", veil_openssl_error ());
      digest_format (md, ct_digest);
    }
  return 0;
}

/* ---- the decrypt reader ------------------------------------------------------ */

typedef struct dec_reader
{
  veil_reader_t base;
  veil_reader_t *inner;
  veil_ocicrypt_opts_t *opts; /* secret */
  layer_cipher_t c;
  char *layer_digest;
  uint8_t *ct; /* CHUNK */
  uint8_t *pt; /* CHUNK, plaintext not yet handed out */
  size_t pt_off, pt_len;
  uint64_t total;
  bool inner_eof, eof, failed, finished;
} dec_reader_t;

/* Reads up to want bytes of ciphertext, looping over short reads so that
 * chunks stay large. */
static ssize_t
dec_fill (dec_reader_t *d, size_t want, veil_error_t **err)
{
  size_t got = 0;
  while (got < want && !d->inner_eof)
    {
      ssize_t n = d->inner->read (d->inner, d->ct + got, want - got, err);
      if (n < 0)
        return n;
      if (n == 0)
        d->inner_eof = true;
      got += (size_t) n;
    }
  return (ssize_t) got;
}

static ssize_t
dec_read (veil_reader_t *r, void *buf, size_t len, veil_error_t **err)
{
  dec_reader_t *d = (dec_reader_t *) r;
  if (d->failed)
    return veil_error_set (err, EIO, "ocicrypt: layer %s: read after an error", d->layer_digest);
  if (len == 0)
    return 0;
  if (d->pt_off < d->pt_len)
    {
      size_t n = d->pt_len - d->pt_off < len ? d->pt_len - d->pt_off : len;
      memcpy (buf, d->pt + d->pt_off, n);
      d->pt_off += n;
      return (ssize_t) n;
    }
  if (d->eof)
    return 0;
  bool direct = len >= DIRECT_MIN;
  size_t want = direct && len < CHUNK ? len : CHUNK;
  ssize_t n = dec_fill (d, want, err);
  if (n == 0)
    d->eof = true;
  if (n <= 0)
    {
      d->failed = n < 0;
      return n;
    }
  uint8_t *dst = direct ? buf : d->pt;
  if (layer_decrypt_chunk (&d->c, d->ct, dst, (size_t) n, d->total, err) < 0)
    {
      d->failed = true;
      return -EIO;
    }
  d->total += (uint64_t) n;
  if (direct)
    return n;
  d->pt_len = (size_t) n;
  d->pt_off = len < d->pt_len ? len : d->pt_len;
  memcpy (buf, d->pt, d->pt_off);
  return (ssize_t) d->pt_off;
}

static int
dec_finish (veil_reader_t *r, veil_error_t **err)
{
  dec_reader_t *d = (dec_reader_t *) r;
  if (d->failed || d->finished)
    return veil_error_set (err, EIO, "ocicrypt: layer %s: finish after an error or twice", d->layer_digest);
  if (!d->eof || d->pt_off < d->pt_len)
    return veil_error_set (err, EINVAL, "ocicrypt: layer %s: finish before the end of the stream", d->layer_digest);
  d->finished = true;
  /* The ciphertext's own checks (digest, size) first: a truncated or
   * substituted blob is reported as such, not as an HMAC failure. */
  int rc = d->inner->finish (d->inner, err);
  if (rc < 0)
    return rc;
  uint8_t hmac[32];
  char plain[72];
  if (layer_cipher_final (&d->c, hmac, plain, NULL, err) < 0)
    return -EIO;
  /* Constant time: the HMAC is the layer's authenticator. */
  if (!veil_ct_equal (hmac, d->opts->hmac, sizeof (hmac)))
    return veil_error_set (err, EBADMSG, "ocicrypt: layer HMAC mismatch (layer %s, %llu bytes of ciphertext)",
                           d->layer_digest, (unsigned long long) d->total);
  if (d->c.plain && strcmp (plain, d->opts->digest))
    return veil_error_set (err, EBADMSG,
                           "ocicrypt: layer %s: decrypted content is %s, the private options say %s",
                           d->layer_digest, plain, d->opts->digest);
  return 0;
}

static void
dec_free (veil_reader_t *r)
{
  dec_reader_t *d = (dec_reader_t *) r;
  layer_cipher_free (&d->c);
  if (d->inner)
    d->inner->free (d->inner);
  veil_secret_free (d->opts);
  veil_wipe (d->pt, CHUNK); /* confidential plaintext */
  free (d->pt);
  free (d->ct);
  free (d->layer_digest);
  free (d);
}

veil_reader_t *
veil_ocicrypt_decrypt_reader (veil_reader_t *inner, const veil_descriptor_t *layer,
                              const veil_ocicrypt_keys_t *keys, veil_error_t **err)
{
  veil_ocicrypt_opts_t *o = NULL;
  if (!veil_ocicrypt_is_encrypted (layer))
    {
      veil_error_set (err, EINVAL, "ocicrypt: layer %s: media type '%s' is not encrypted",
                      layer->digest ? layer->digest : "(no digest)", layer->media_type ? layer->media_type : "");
      return NULL;
    }
  if (veil_ocicrypt_unwrap (layer, keys, &o, err) < 0)
    return NULL;
  dec_reader_t *d = xcalloc (1, sizeof (*d));
  if (layer_cipher_init (&d->c, o, false, !(keys && keys->plain_checked_by_caller), err) < 0)
    {
      veil_secret_free (o);
      free (d);
      return NULL;
    }
  d->base = (veil_reader_t){ .read = dec_read, .finish = dec_finish, .free = dec_free };
  d->opts = o;
  d->layer_digest = xstrdup (layer->digest ? layer->digest : "(no digest)");
  d->ct = xmalloc (CHUNK);
  d->pt = xmalloc (CHUNK);
  d->inner = inner;
  return &d->base;
}

/* ---- encryption ------------------------------------------------------------- */

static int
write_all (int fd, const uint8_t *p, size_t n, veil_error_t **err)
{
  while (n > 0)
    {
      ssize_t w = write (fd, p, n);
      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0)
        return veil_error_set (err, w < 0 ? errno : EIO, "ocicrypt: writing the encrypted layer: %s",
                               w < 0 ? strerror (errno) : "short write");
      p += w;
      n -= (size_t) w;
    }
  return 0;
}

/* Streams in → out_fd; fills the hmac and both digests. */
static int
encrypt_stream (veil_reader_t *in, int out_fd, const veil_ocicrypt_opts_t *o, uint8_t hmac[32],
                char plain_digest[72], char ct_digest[72], int64_t *size, veil_error_t **err)
{
  layer_cipher_t c;
  if (layer_cipher_init (&c, o, true, true, err) < 0)
    return -EIO;
  _cleanup_free_ uint8_t *buf = xmalloc (CHUNK);
  int rc = 0;
  *size = 0;
  for (;;)
    {
      size_t got = 0;
      ssize_t n = 1;
      while (got < CHUNK && (n = in->read (in, buf + got, CHUNK - got, err)) > 0)
        got += (size_t) n;
      if (n < 0)
        {
          rc = (int) n;
          break;
        }
      if (got && ((rc = layer_encrypt_chunk (&c, buf, got, err)) < 0 || (rc = write_all (out_fd, buf, got, err)) < 0))
        break;
      *size += (int64_t) got;
      if (n == 0)
        break;
    }
  if (rc == 0)
    rc = in->finish (in, err);
  if (rc == 0)
    rc = layer_cipher_final (&c, hmac, plain_digest, ct_digest, err);
  layer_cipher_free (&c);
  veil_wipe (buf, CHUNK);
  return rc < 0 ? rc : 0;
}

/* The private options as ocicrypt marshals them (json.Marshal of
 * PrivateLayerBlockCipherOptions, field order kept), in secret memory. */
static char *
privopts_json (const veil_ocicrypt_opts_t *o, size_t *len)
{
  _cleanup_free_ char *k = veil_b64_encode (o->symkey, sizeof (o->symkey));
  _cleanup_free_ char *n = veil_b64_encode (o->nonce, sizeof (o->nonce));
  size_t cap = strlen (k) + strlen (n) + 160;
  char *s = veil_secret_alloc (cap);
  int w = snprintf (s, cap, "{\"symkey\":\"%s\",\"digest\":\"%s\",\"cipheroptions\":{\"nonce\":\"%s\"}}", k,
                    o->digest, n);
  veil_wipe (k, strlen (k));
  veil_wipe (n, strlen (n));
  *len = (size_t) w;
  return s;
}

static const char *
jwe_alg_for (EVP_PKEY *pk)
{
  switch (EVP_PKEY_get_base_id (pk))
    {
    case EVP_PKEY_RSA:
      return "RSA-OAEP"; /* ocicrypt keywrap/jwe: jose.RSA_OAEP */
    case EVP_PKEY_EC:
      return "ECDH-ES+A256KW"; /* jose.ECDH_ES_A256KW */
    default:
      return NULL;
    }
}

/* One flattened JWE per recipient, comma-separated: ocicrypt's own unwrap
 * splits on ',' and tries each (encryption.go preUnwrapKey). */
static char *
wrap_jwe (const veil_ocicrypt_recipients_t *rcpt, const char *pt, size_t len, veil_error_t **err)
{
  veil_buf_t out = { 0 };
  for (size_t i = 0; i < rcpt->n_pubkeys; i++)
    {
      const char *alg = jwe_alg_for (rcpt->pubkeys[i]);
      if (!alg)
        {
          veil_buf_free (&out);
          veil_error_set (err, ENOTSUP, "ocicrypt: recipient %zu: only RSA and EC keys can be JWE recipients", i + 1);
          return NULL;
        }
      _cleanup_json_ json_t *jwe = veil_jwe_encrypt_pkey (rcpt->pubkeys[i], alg, "A256GCM", pt, len, err);
      if (!jwe)
        {
          veil_buf_free (&out);
          veil_error_wrap (err, "ocicrypt: recipient %zu", i + 1);
          return NULL;
        }
      _cleanup_free_ char *s = json_dumps (jwe, JSON_COMPACT | JSON_PRESERVE_ORDER);
      _cleanup_free_ char *b = veil_b64_encode (s, strlen (s));
      if (out.len)
        veil_buf_append_str (&out, ",");
      veil_buf_append_str (&out, b);
    }
  return veil_buf_cstr (&out);
}

static char *
wrap_aa (const char *kid, const uint8_t *kek, const char *pt, size_t len, veil_error_t **err)
{
  uint8_t iv[GCM_IV_LEN];
  veil_random (iv, sizeof (iv));
  _cleanup_free_ uint8_t *wrapped = xmalloc (len + GCM_TAG_LEN);
  if (gcm (true, kek, iv, (const uint8_t *) pt, len, wrapped, err) < 0)
    return NULL;
  _cleanup_free_ char *wd = veil_b64_encode (wrapped, len + GCM_TAG_LEN);
  _cleanup_free_ char *ivb = veil_b64_encode (iv, sizeof (iv));
  _cleanup_json_ json_t *j = json_object ();
  json_object_set_new (j, "kid", json_string (kid));
  json_object_set_new (j, "wrapped_data", json_string (wd));
  json_object_set_new (j, "iv", json_string (ivb));
  json_object_set_new (j, "wrap_type", json_string (OCICRYPT_WRAP_GCM));
  _cleanup_free_ char *s = json_dumps (j, JSON_COMPACT | JSON_PRESERVE_ORDER);
  return veil_b64_encode (s, strlen (s));
}

static char *
pubopts_b64 (const uint8_t hmac[32])
{
  _cleanup_free_ char *h = veil_b64_encode (hmac, 32);
  _cleanup_free_ char *s = xasprintf ("{\"cipher\":\"" OCICRYPT_CIPHER "\",\"hmac\":\"%s\",\"cipheroptions\":{}}", h);
  return veil_b64_encode (s, strlen (s));
}

int
veil_ocicrypt_encrypt_layer (veil_reader_t *in, int out_fd, const veil_descriptor_t *plain,
                             const veil_ocicrypt_recipients_t *rcpt, veil_descriptor_t *enc,
                             veil_error_t **err)
{
  if (!plain->media_type || veil_ocicrypt_is_encrypted (plain))
    return veil_error_set (err, EINVAL, "ocicrypt: layer %s is already encrypted or has no media type",
                           plain->digest ? plain->digest : "(no digest)");
  bool aa = rcpt->kbs_kid != NULL;
  if (aa && (!rcpt->kbs_kek || !*rcpt->kbs_kid || strlen (rcpt->kbs_kid) > MAX_KID))
    return veil_error_set (err, EINVAL, "ocicrypt: key provider recipient needs a kid (≤ %d bytes) and a 32-byte KEK", MAX_KID);
  if (rcpt->n_pubkeys == 0 && !aa)
    return veil_error_set (err, EINVAL, "ocicrypt: no recipients (give a jwe: public key or a key provider kid)");

  _cleanup_secret_ veil_ocicrypt_opts_t *o = veil_secret_alloc (sizeof (*o));
  veil_random (o->symkey, sizeof (o->symkey));
  veil_random (o->nonce, sizeof (o->nonce));
  char ct_digest[72];
  int64_t size = 0;
  if (encrypt_stream (in, out_fd, o, o->hmac, o->digest, ct_digest, &size, err) < 0)
    return veil_error_wrap (err, "ocicrypt: layer %s", plain->digest ? plain->digest : "(no digest)");
  if (plain->digest && (strcmp (plain->digest, o->digest) || plain->size != size))
    return veil_error_set (err, EBADMSG, "ocicrypt: layer %s: the input is %s (%lld bytes), not what its descriptor says",
                           plain->digest, o->digest, (long long) size);

  size_t pl = 0;
  _cleanup_secret_ char *priv = privopts_json (o, &pl);
  _cleanup_free_ char *jwe = rcpt->n_pubkeys ? wrap_jwe (rcpt, priv, pl, err) : NULL;
  if (rcpt->n_pubkeys && !jwe)
    return -EINVAL;
  _cleanup_free_ char *aa_ann = aa ? wrap_aa (rcpt->kbs_kid, rcpt->kbs_kek, priv, pl, err) : NULL;
  if (aa && !aa_ann)
    return -EIO;

  json_t *ann = json_is_object (plain->annotations) ? json_deep_copy (plain->annotations) : json_object ();
  const char *k;
  json_t *v;
  void *tmp;
  json_object_foreach_safe (ann, tmp, k, v)
  {
    if (!strncmp (k, ANN_PREFIX, strlen (ANN_PREFIX)))
      json_object_del (ann, k);
  }
  if (jwe)
    json_object_set_new (ann, VEIL_OCICRYPT_ANN_JWE, json_string (jwe));
  if (aa_ann)
    json_object_set_new (ann, VEIL_OCICRYPT_ANN_AA, json_string (aa_ann));
  _cleanup_free_ char *pub = pubopts_b64 (o->hmac);
  json_object_set_new (ann, VEIL_OCICRYPT_ANN_PUBOPTS, json_string (pub));
  *enc = (veil_descriptor_t){ 0 };
  enc->media_type = xasprintf ("%s" VEIL_MT_ENCRYPTED_SUFFIX, plain->media_type);
  enc->digest = xstrdup (ct_digest);
  enc->size = size;
  enc->annotations = ann;
  return 0;
}

/* ---- keys and recipients ----------------------------------------------- */

static bool
pkey_is_private (EVP_PKEY *pk)
{
  BIGNUM *bn = NULL;
  const char *name = EVP_PKEY_get_base_id (pk) == EVP_PKEY_RSA ? OSSL_PKEY_PARAM_RSA_D : OSSL_PKEY_PARAM_PRIV_KEY;
  bool ok = EVP_PKEY_get_bn_param (pk, name, &bn) == 1;
  BN_clear_free (bn);
  return ok;
}

int
veil_ocicrypt_keys_load_files (veil_ocicrypt_keys_t *keys, const char *const *paths, size_t n,
                               veil_error_t **err)
{
  for (size_t i = 0; i < n; i++)
    {
      EVP_PKEY *pk = veil_pkey_load_file (paths[i], err);
      if (!pk)
        return veil_error_wrap (err, "ocicrypt: decryption key %s", paths[i]);
      int id = EVP_PKEY_get_base_id (pk);
      if ((id != EVP_PKEY_RSA && id != EVP_PKEY_EC) || !pkey_is_private (pk))
        {
          EVP_PKEY_free (pk);
          return veil_error_set (err, EINVAL, "ocicrypt: decryption key %s: not an RSA or EC private key", paths[i]);
        }
      keys->privkeys = xrealloc (keys->privkeys, (keys->n_privkeys + 1) * sizeof (*keys->privkeys));
      keys->privkeys[keys->n_privkeys++] = pk;
    }
  return 0;
}

void
veil_ocicrypt_keys_clear (veil_ocicrypt_keys_t *keys)
{
  for (size_t i = 0; i < keys->n_privkeys; i++)
    EVP_PKEY_free (keys->privkeys[i]);
  free (keys->privkeys);
  keys->privkeys = NULL;
  keys->n_privkeys = 0;
}

int
veil_ocicrypt_recipients_add_spec (veil_ocicrypt_recipients_t *r, const char *spec, veil_error_t **err)
{
  const char *colon = strchr (spec, ':');
  if (!colon || strncmp (spec, "jwe:", 4))
    return veil_error_set (err, ENOTSUP, "ocicrypt: recipient '%s': only jwe:PUBKEY.pem is supported", spec);
  EVP_PKEY *pk = veil_pkey_load_file (colon + 1, err);
  if (!pk)
    return veil_error_wrap (err, "ocicrypt: recipient %s", spec);
  if (!jwe_alg_for (pk))
    {
      EVP_PKEY_free (pk);
      return veil_error_set (err, ENOTSUP, "ocicrypt: recipient %s: not an RSA or EC key", spec);
    }
  r->pubkeys = xrealloc (r->pubkeys, (r->n_pubkeys + 1) * sizeof (*r->pubkeys));
  r->pubkeys[r->n_pubkeys++] = pk;
  return 0;
}

void
veil_ocicrypt_recipients_clear (veil_ocicrypt_recipients_t *r)
{
  for (size_t i = 0; i < r->n_pubkeys; i++)
    EVP_PKEY_free (r->pubkeys[i]);
  free (r->pubkeys);
  r->pubkeys = NULL;
  r->n_pubkeys = 0;
}
