/* ocicrypt-tool: encrypts and decrypts the layers of an OCI image layout
 * with veil's ocicrypt, so that tests can exchange encrypted images with
 * skopeo and other ocicrypt implementations.
 *
 *   ocicrypt-tool decrypt LAYOUT TAG OUTDIR [--key PRIV.pem]... [--kid KID --kek-file F]
 *     writes each layer's plaintext to OUTDIR/<n> (n = layer index) and
 *     prints one JSON line per layer;
 *   ocicrypt-tool encrypt SRC TAG DST [--recipient jwe:PUB.pem]... [--kid KID
 *                 --kek-file F] [--layer N]...
 *     writes DST, a layout whose manifest has the chosen (default: all)
 *     layers encrypted.
 * The KEK file holds the 32 raw bytes.  Errors go to stderr, exit 1. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include "veil/image.h"

#define DOC_MAX (4u << 20)
#define MAX_LAYERS 128

static int
fail (veil_error_t *err)
{
  fprintf (stderr, "ocicrypt-tool: %s\n", err ? err->msg : "failed");
  veil_error_free (err);
  return 1;
}

/* "sha256:<hex>" of data (kept here so that this file needs only crypto). */
/* ---- a file reader ---------------------------------------------------------- */

static veil_reader_t *
file_reader (const char *path, veil_error_t **err)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    {
      veil_error_set (err, errno, "%s: %s", path, strerror (errno));
      return NULL;
    }
  return veil_reader_fd (fd);
}

/* ---- the layout ----------------------------------------------------------------- */

static char *
blob_path (const char *layout, const char *digest)
{
  if (!digest || strncmp (digest, "sha256:", 7) || strlen (digest) != 71 || strchr (digest, '/'))
    return NULL;
  return xasprintf ("%s/blobs/sha256/%s", layout, digest + 7);
}

static json_t *
read_json (const char *path, veil_error_t **err)
{
  _cleanup_free_ uint8_t *data = NULL;
  size_t len = 0;
  if (veil_file_read (path, DOC_MAX, &data, &len, err) < 0)
    return NULL;
  return veil_json_parse (data, len, DOC_MAX, err);
}

/* The manifest tagged TAG in LAYOUT's index.json. */
static json_t *
load_manifest (const char *layout, const char *tag, veil_error_t **err)
{
  _cleanup_free_ char *ip = xasprintf ("%s/index.json", layout);
  _cleanup_json_ json_t *idx = read_json (ip, err);
  if (!idx)
    return NULL;
  size_t i;
  json_t *m;
  json_array_foreach (json_object_get (idx, "manifests"), i, m)
  {
    const char *name = veil_json_str (json_object_get (m, "annotations"), "org.opencontainers.image.ref.name");
    if (!name || strcmp (name, tag))
      continue;
    _cleanup_free_ char *mp = blob_path (layout, veil_json_str (m, "digest"));
    if (!mp)
      break;
    return read_json (mp, err);
  }
  veil_error_set (err, ENOENT, "%s: no manifest tagged '%s'", layout, tag);
  return NULL;
}

static void
descriptor_from_json (const json_t *j, veil_descriptor_t *d)
{
  d->media_type = (char *) veil_json_str (j, "mediaType");
  d->digest = (char *) veil_json_str (j, "digest");
  d->size = json_integer_value (json_object_get (j, "size"));
  d->annotations = json_object_get (j, "annotations");
}

static int
read_kek (const char *path, uint8_t **kek, veil_error_t **err)
{
  uint8_t *data = NULL;
  size_t len = 0;
  if (veil_file_read (path, 64, &data, &len, err) < 0)
    return -EIO;
  int rc = 0;
  if (len != 32)
    rc = veil_error_set (err, EINVAL, "%s: a KEK is 32 bytes, not %zu", path, len);
  else
    *kek = veil_secret_dup (data, 32);
  veil_wipe (data, len);
  free (data);
  return rc;
}

typedef struct kek_file
{
  const char *kid;
  uint8_t *kek;
} kek_file_t;

static int
fetch_kek_file (void *ctx, const char *kid, uint8_t **kek, size_t *kek_len, veil_error_t **err)
{
  kek_file_t *k = ctx;
  if (strcmp (kid, k->kid))
    return veil_error_set (err, ENOENT, "no KEK for %s (only %s)", kid, k->kid);
  *kek = veil_secret_dup (k->kek, 32);
  *kek_len = 32;
  return 0;
}

/* ---- verbs ------------------------------------------------------------------------ */

static int
decrypt_layer (const char *layout, const json_t *lj, size_t idx, const char *outdir,
               const veil_ocicrypt_keys_t *keys, veil_error_t **err)
{
  veil_descriptor_t d = { 0 };
  descriptor_from_json (lj, &d);
  _cleanup_free_ char *in = blob_path (layout, d.digest);
  if (!in)
    return veil_error_set (err, EBADMSG, "layer %zu: bad digest", idx);
  veil_reader_t *r = file_reader (in, err);
  if (!r)
    return -EIO;
  bool enc = veil_ocicrypt_is_encrypted (&d);
  if (enc)
    {
      veil_reader_t *dec = veil_ocicrypt_decrypt_reader (r, &d, keys, err);
      if (!dec)
        {
          r->free (r);
          return -EACCES;
        }
      r = dec;
    }
  _cleanup_reader_ veil_reader_t *rr = r;
  _cleanup_free_ char *out = xasprintf ("%s/%zu", outdir, idx);
  _cleanup_close_ int fd = open (out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return veil_error_set (err, errno, "%s: %s", out, strerror (errno));
  static uint8_t buf[1 << 20];
  ssize_t n;
  while ((n = rr->read (rr, buf, sizeof (buf), err)) > 0)
    if (write (fd, buf, (size_t) n) != n)
      return veil_error_set (err, EIO, "%s: short write", out);
  if (n < 0 || rr->finish (rr, err) < 0)
    {
      unlink (out); /* never keep a plaintext that failed its checks */
      return -EBADMSG;
    }
  printf ("{\"index\":%zu,\"encrypted\":%s,\"digest\":\"%s\",\"path\":\"%s\"}\n", idx, enc ? "true" : "false",
          d.digest, out);
  return 0;
}

static int
decrypt_all (const char *layout, const char *tag, const char *outdir, const veil_ocicrypt_keys_t *keys,
             veil_error_t **err)
{
  _cleanup_json_ json_t *m = load_manifest (layout, tag, err);
  if (!m || veil_mkdir_p (outdir, 0700, err) < 0)
    return -EIO;
  size_t i;
  json_t *lj;
  json_array_foreach (json_object_get (m, "layers"), i, lj)
  {
    if (decrypt_layer (layout, lj, i, outdir, keys, err) < 0)
      return -EIO;
  }
  return 0;
}

static int
cmd_decrypt (int argc, char **argv)
{
  veil_error_t *err = NULL;
  if (argc < 3)
    return 2;
  const char *paths[64] = { NULL };
  size_t np = 0;
  const char *kid = NULL, *kek_path = NULL;
  for (int i = 3; i + 1 < argc; i += 2)
    {
      if (!strcmp (argv[i], "--key") && np < 64)
        paths[np++] = argv[i + 1];
      else if (!strcmp (argv[i], "--kid"))
        kid = argv[i + 1];
      else if (!strcmp (argv[i], "--kek-file"))
        kek_path = argv[i + 1];
      else
        return 2;
    }
  veil_ocicrypt_keys_t keys = { 0 };
  kek_file_t kf = { .kid = kid };
  int rc = veil_ocicrypt_keys_load_files (&keys, paths, np, &err);
  if (rc == 0 && kid && kek_path && (rc = read_kek (kek_path, &kf.kek, &err)) == 0)
    {
      keys.fetch_kek = fetch_kek_file;
      keys.fetch_ctx = &kf;
    }
  if (rc == 0)
    rc = decrypt_all (argv[0], argv[1], argv[2], &keys, &err);
  veil_ocicrypt_keys_clear (&keys);
  veil_secret_free (kf.kek);
  return rc < 0 ? fail (err) : 0;
}

static int
write_blob (const char *layout, const void *data, size_t len, char **digest, veil_error_t **err)
{
  *digest = veil_digest_of (data, len);
  _cleanup_free_ char *p = blob_path (layout, *digest);
  return veil_file_write_atomic (p, data, len, 0644, err);
}

static int
copy_blob (const char *src, const char *dst, const char *digest, veil_error_t **err)
{
  _cleanup_free_ char *sp = blob_path (src, digest);
  _cleanup_free_ uint8_t *data = NULL;
  size_t len = 0;
  _cleanup_free_ char *d = NULL;
  if (!sp || veil_file_read (sp, 1u << 30, &data, &len, err) < 0)
    return veil_error_set (err, EBADMSG, "blob %s: cannot read", digest);
  return write_blob (dst, data, len, &d, err);
}

static int
encrypt_layer (const char *src, const char *dst, json_t *lj, const veil_ocicrypt_recipients_t *rcpt,
               veil_error_t **err)
{
  veil_descriptor_t plain = { 0 };
  descriptor_from_json (lj, &plain);
  _cleanup_free_ char *in = blob_path (src, plain.digest);
  if (!in)
    return veil_error_set (err, EBADMSG, "layer: bad digest");
  _cleanup_reader_ veil_reader_t *r = file_reader (in, err);
  if (!r)
    return -EIO;
  _cleanup_free_ char *tmp = xasprintf ("%s/blobs/sha256/.enc-XXXXXX", dst);
  _cleanup_close_ int fd = mkostemp (tmp, O_CLOEXEC);
  if (fd < 0)
    return veil_error_set (err, errno, "%s: %s", tmp, strerror (errno));
  veil_descriptor_t enc = { 0 };
  if (veil_ocicrypt_encrypt_layer (r, fd, &plain, rcpt, &enc, err) < 0)
    {
      unlink (tmp);
      return -EIO;
    }
  _cleanup_free_ char *out = blob_path (dst, enc.digest);
  int rc = rename (tmp, out) < 0 ? veil_error_set (err, errno, "rename: %s", strerror (errno)) : 0;
  fchmod (fd, 0644);
  json_object_set_new (lj, "mediaType", json_string (enc.media_type));
  json_object_set_new (lj, "digest", json_string (enc.digest));
  json_object_set_new (lj, "size", json_integer (enc.size));
  json_object_set_new (lj, "annotations", enc.annotations);
  free (enc.media_type);
  free (enc.digest);
  return rc;
}

static int
encrypt_all (const char *src, const char *tag, const char *dst, const veil_ocicrypt_recipients_t *rcpt,
             const bool *chosen, bool any_chosen, veil_error_t **err)
{
  _cleanup_json_ json_t *m = load_manifest (src, tag, err);
  _cleanup_free_ char *blobs = xasprintf ("%s/blobs/sha256", dst);
  if (!m || veil_mkdir_p (blobs, 0755, err) < 0)
    return -EIO;
  if (copy_blob (src, dst, veil_json_str (json_object_get (m, "config"), "digest"), err) < 0)
    return -EIO;
  size_t i;
  json_t *lj;
  json_array_foreach (json_object_get (m, "layers"), i, lj)
  {
    int r = i < MAX_LAYERS && (!any_chosen || chosen[i])
                ? encrypt_layer (src, dst, lj, rcpt, err)
                : copy_blob (src, dst, veil_json_str (lj, "digest"), err);
    if (r < 0)
      return r;
  }
  _cleanup_free_ char *ms = json_dumps (m, JSON_COMPACT);
  _cleanup_free_ char *md = NULL;
  if (write_blob (dst, ms, strlen (ms), &md, err) < 0)
    return -EIO;
  const char *mt = veil_json_str (m, "mediaType");
  _cleanup_json_ json_t *idx = json_pack ("{s:i,s:[{s:s,s:s,s:I,s:{s:s}}]}", "schemaVersion", 2, "manifests",
                                          "mediaType", mt ? mt : VEIL_MT_OCI_MANIFEST, "digest", md, "size",
                                          (json_int_t) strlen (ms), "annotations",
                                          "org.opencontainers.image.ref.name", tag);
  _cleanup_free_ char *is = json_dumps (idx, JSON_COMPACT);
  _cleanup_free_ char *ip = xasprintf ("%s/index.json", dst), *lp = xasprintf ("%s/oci-layout", dst);
  static const char layout_doc[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
  if (veil_file_write_atomic (ip, is, strlen (is), 0644, err) < 0
      || veil_file_write_atomic (lp, layout_doc, strlen (layout_doc), 0644, err) < 0)
    return -EIO;
  printf ("%s\n", md);
  return 0;
}

static int
cmd_encrypt (int argc, char **argv)
{
  veil_error_t *err = NULL;
  if (argc < 3)
    return 2;
  veil_ocicrypt_recipients_t rcpt = { 0 };
  _cleanup_secret_ uint8_t *kek = NULL;
  bool chosen[MAX_LAYERS] = { false }, any_chosen = false;
  int rc = 0;
  for (int i = 3; rc == 0 && i + 1 < argc; i += 2)
    {
      int64_t n = 0;
      if (!strcmp (argv[i], "--recipient"))
        rc = veil_ocicrypt_recipients_add_spec (&rcpt, argv[i + 1], &err);
      else if (!strcmp (argv[i], "--kid"))
        rcpt.kbs_kid = argv[i + 1];
      else if (!strcmp (argv[i], "--kek-file"))
        rc = read_kek (argv[i + 1], &kek, &err);
      else if (!strcmp (argv[i], "--layer") && (rc = veil_parse_i64 (argv[i + 1], 0, MAX_LAYERS - 1, &n, &err)) == 0)
        chosen[n] = any_chosen = true;
      else if (rc == 0)
        rc = veil_error_set (&err, EINVAL, "unknown option %s", argv[i]);
    }
  rcpt.kbs_kek = kek;
  if (rc == 0)
    rc = encrypt_all (argv[0], argv[1], argv[2], &rcpt, chosen, any_chosen, &err);
  veil_ocicrypt_recipients_clear (&rcpt);
  return rc < 0 ? fail (err) : 0;
}

int
main (int argc, char **argv)
{
  if (argc >= 2 && !strcmp (argv[1], "decrypt"))
    return cmd_decrypt (argc - 2, argv + 2);
  if (argc >= 2 && !strcmp (argv[1], "encrypt"))
    return cmd_encrypt (argc - 2, argv + 2);
  fputs ("usage: ocicrypt-tool decrypt LAYOUT TAG OUTDIR [--key PRIV]... [--kid KID --kek-file F]\n"
         "       ocicrypt-tool encrypt SRC TAG DST [--recipient jwe:PUB]... [--kid KID --kek-file F] [--layer N]...\n",
         stderr);
  return 2;
}
