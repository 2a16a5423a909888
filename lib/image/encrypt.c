/* Encrypting a stored image (ocicrypt), and writing a stored image out as
 * an OCI image layout (image-spec image-layout.md) — so that it can be
 * pushed, or handed to skopeo/umoci. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include "veil/image.h"

typedef struct copy_ctx
{
  int src_fd;
} copy_ctx_t;

/* veil_fetch_fn: copies an already written file into the store's temp file. */
static int
copy_fd (void *ctx, int fd, veil_error_t **err)
{
  copy_ctx_t *c = ctx;
  if (lseek (c->src_fd, 0, SEEK_SET) < 0)
    return veil_error_set (err, errno, "encrypt: seek: %s", strerror (errno));
  uint8_t buf[1 << 16];
  ssize_t n;
  while ((n = read (c->src_fd, buf, sizeof (buf))) > 0)
    for (ssize_t off = 0; off < n;)
      {
        ssize_t w = write (fd, buf + off, (size_t) (n - off));
        if (w < 0 && errno == EINTR)
          continue;
        if (w < 0)
          return veil_error_set (err, errno, "encrypt: write: %s", strerror (errno));
        off += w;
      }
  return n < 0 ? veil_error_set (err, errno, "encrypt: read: %s", strerror (errno)) : 0;
}

/* Encrypts one layer into the store; *enc describes the ciphertext. */
static int
encrypt_one (veil_image_store_t *st, const veil_descriptor_t *plain,
             const veil_ocicrypt_recipients_t *rcpt, veil_descriptor_t *enc, veil_error_t **err)
{
  _cleanup_free_ char *path = veil_image_store_blob_path (st, plain->digest);
  if (!path)
    return veil_error_set (err, ENOENT, "encrypt: layer %s is not in the store", plain->digest);
  int in = open (path, O_RDONLY | O_CLOEXEC);
  if (in < 0)
    return veil_error_set (err, errno, "encrypt: %s: %s", path, strerror (errno));
  _cleanup_reader_ veil_reader_t *r = veil_reader_digest (veil_reader_fd (in), plain->digest, plain->size);
  /* the ciphertext is not secret: an unlinked temp file in the store */
  _cleanup_close_ int tmp = open (veil_image_store_dir (st), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (tmp < 0)
    return veil_error_set (err, errno, "encrypt: temp file: %s", strerror (errno));
  if (veil_ocicrypt_encrypt_layer (r, tmp, plain, rcpt, enc, err) < 0)
    return veil_error_wrap (err, "encrypt: layer %s", plain->digest);
  copy_ctx_t c = { .src_fd = tmp };
  return veil_image_store_ensure_blob (st, enc->digest, enc->size, copy_fd, &c, err);
}

static json_t *
descriptor_json (const veil_descriptor_t *d)
{
  json_t *o = json_pack ("{s:s, s:s, s:I}", "mediaType", d->media_type, "digest", d->digest, "size",
                         (json_int_t) d->size);
  if (d->annotations && json_object_size (d->annotations))
    json_object_set (o, "annotations", d->annotations);
  return o;
}

int
veil_image_encrypt (veil_image_store_t *st, const char *manifest_digest,
                    const veil_ocicrypt_recipients_t *rcpt, const int *layers, size_t n_layers_sel,
                    char **out_digest, veil_error_t **err)
{
  if (!rcpt->n_pubkeys && !rcpt->kbs_kid)
    return veil_error_set (err, EINVAL, "encrypt: no recipient (--recipient jwe:PUB.pem or --keyprovider kbs)");
  veil_manifest_t m = { 0 };
  if (veil_image_load_manifest (st, manifest_digest, &m, NULL, err) < 0)
    return veil_error_wrap (err, "encrypt");
  int r = 0;
  for (size_t k = 0; r == 0 && k < n_layers_sel; k++)
    if (layers[k] < 0 || (size_t) layers[k] >= m.n_layers)
      r = veil_error_set (err, EINVAL, "encrypt: --layer %d: the image has %zu layers (0-%zu)", layers[k],
                          m.n_layers, m.n_layers ? m.n_layers - 1 : 0);
  _cleanup_json_ json_t *doc = r == 0 ? json_deep_copy (m.doc) : NULL;
  json_t *jlayers = doc ? json_object_get (doc, "layers") : NULL;
  for (size_t i = 0; r == 0 && i < m.n_layers; i++)
    {
      bool chosen = n_layers_sel == 0;
      for (size_t k = 0; k < n_layers_sel; k++)
        chosen |= (size_t) layers[k] == i;
      if (!chosen || veil_ocicrypt_is_encrypted (&m.layers[i]))
        continue;
      veil_descriptor_t enc = { 0 };
      r = encrypt_one (st, &m.layers[i], rcpt, &enc, err);
      if (r == 0)
        json_array_set_new (jlayers, i, descriptor_json (&enc));
      veil_descriptor_clear (&enc);
    }
  if (r == 0)
    {
      /* Docker schema2 has no encrypted layer types: the result is OCI */
      json_object_set_new (doc, "mediaType", json_string (VEIL_MT_OCI_MANIFEST));
      if (!strcmp (m.config.media_type, VEIL_MT_DOCKER_CONFIG))
        json_object_set_new (json_object_get (doc, "config"), "mediaType", json_string (VEIL_MT_OCI_CONFIG));
      _cleanup_free_ char *text = json_dumps (doc, JSON_COMPACT);
      r = veil_image_store_put_blob (st, text, strlen (text), out_digest, err);
    }
  veil_manifest_clear (&m);
  return r;
}

/* Copies a stored blob into the layout (hard link when on the same file system). */
static int
export_blob (veil_image_store_t *st, const char *dir, const char *digest, veil_error_t **err)
{
  _cleanup_free_ char *src = veil_image_store_blob_path (st, digest);
  _cleanup_free_ char *dst = veil_image_layout_blob_path (dir, digest);
  if (!src || !dst)
    return veil_error_set (err, ENOENT, "export: blob %s is not in the store", digest);
  if (access (dst, F_OK) == 0)
    return 0;
  if (link (src, dst) == 0)
    return 0;
  _cleanup_free_ uint8_t *data = NULL;
  size_t len = 0;
  if (veil_file_read (src, (size_t) 64 << 30, &data, &len, err) < 0)
    return -EIO;
  return veil_file_write_atomic (dst, data, len, 0644, err);
}

int
veil_image_layout_write (veil_image_store_t *st, const char *manifest_digest, const char *dir,
                         const char *tag, veil_error_t **err)
{
  _cleanup_free_ char *blobs = xasprintf ("%s/blobs/sha256", dir);
  if (veil_mkdir_p (blobs, 0755, err) < 0)
    return -EIO;
  veil_manifest_t m = { 0 };
  size_t len = 0;
  if (veil_image_load_manifest (st, manifest_digest, &m, &len, err) < 0)
    return veil_error_wrap (err, "export");
  int r = export_blob (st, dir, manifest_digest, err);
  if (r == 0)
    r = export_blob (st, dir, m.config.digest, err);
  for (size_t i = 0; r == 0 && i < m.n_layers; i++)
    r = export_blob (st, dir, m.layers[i].digest, err);
  if (r == 0)
    {
      _cleanup_free_ char *layout = xasprintf ("%s/oci-layout", dir);
      const char *lv = "{\"imageLayoutVersion\":\"1.0.0\"}";
      r = veil_file_write_atomic (layout, lv, strlen (lv), 0644, err);
    }
  if (r == 0)
    {
      _cleanup_json_ json_t *index = json_pack (
          "{s:i, s:s, s:[{s:s, s:s, s:I, s:{s:s}}]}", "schemaVersion", 2, "mediaType", VEIL_MT_OCI_INDEX,
          "manifests", "mediaType", m.media_type ? m.media_type : VEIL_MT_OCI_MANIFEST, "digest",
          manifest_digest, "size", (json_int_t) len, "annotations", "org.opencontainers.image.ref.name",
          tag ? tag : "latest");
      _cleanup_free_ char *text = json_dumps (index, JSON_COMPACT);
      _cleanup_free_ char *ipath = xasprintf ("%s/index.json", dir);
      r = veil_file_write_atomic (ipath, text, strlen (text), 0644, err);
    }
  veil_manifest_clear (&m);
  return r;
}
