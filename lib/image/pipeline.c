/* The unpack pipeline: a stored image → a runtime bundle (rootfs +
 * config.json), or a layer → the layer cache.  Each layer is read from the
 * content store once, through digest → [decrypt] → decompress (diff_id) →
 * untar, and the result is committed (renamed into place) only after every
 * stage's final check passed; a failed layer leaves nothing behind. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include "veil/image.h"

#define DOC_MAX (4 << 20)
#define DEFAULT_MAX_LAYER (64ull << 30)

/* Removes a tree below dirfd/name without following symlinks. */
static int
rm_rf_at (int at, const char *name)
{
  if (unlinkat (at, name, 0) == 0 || errno == ENOENT)
    return 0;
  if (errno != EISDIR && errno != EPERM)
    return -errno;
  int fd = openat (at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  DIR *d = fdopendir (fd);
  if (!d)
    {
      close (fd);
      return -errno;
    }
  struct dirent *e;
  while ((e = readdir (d)))
    if (strcmp (e->d_name, ".") && strcmp (e->d_name, ".."))
      rm_rf_at (dirfd (d), e->d_name);
  closedir (d);
  return unlinkat (at, name, AT_REMOVEDIR) == 0 ? 0 : -errno;
}

static json_t *
read_doc (veil_image_store_t *st, const char *digest, const char *what, veil_error_t **err)
{
  _cleanup_free_ char *path = veil_image_store_blob_path (st, digest);
  if (!path)
    {
      veil_error_set (err, ENOENT, "image: %s %s is not in the store (pull the image first)", what, digest);
      return NULL;
    }
  _cleanup_free_ uint8_t *data = NULL;
  size_t len = 0;
  if (veil_file_read (path, DOC_MAX, &data, &len, err) < 0)
    return NULL;
  /* the store is on the (untrusted) host: check what we read */
  _cleanup_free_ char *d = veil_digest_of (data, len);
  if (strcmp (d, digest) != 0)
    {
      veil_error_set (err, EBADMSG, "image: %s %s in the store has digest %s", what, digest, d);
      return NULL;
    }
  return veil_json_parse (data, len, DOC_MAX, err);
}

/* Reads what a stage left unread (tar end-of-archive padding) so that
 * every byte passes the digest and HMAC. */
static int
drain (veil_reader_t *r, veil_error_t **err)
{
  uint8_t buf[65536];
  ssize_t n;
  while ((n = r->read (r, buf, sizeof (buf), err)) > 0)
    ;
  return n < 0 ? (int) n : 0;
}

static int
unpack_layer (veil_image_store_t *st, const veil_descriptor_t *layer, const char *diff_id,
              int root_fd, const veil_image_unpack_opts_t *o, veil_error_t **err)
{
  _cleanup_free_ char *path = veil_image_store_blob_path (st, layer->digest);
  if (!path)
    return veil_error_set (err, ENOENT, "layer %s is not in the store (pull the image first)", layer->digest);
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return veil_error_set (err, errno, "layer %s: %s", layer->digest, strerror (errno));
  /* The blob's own digest was checked when it entered the store; what is
   * read back now is checked by what the image commits to further up: the
   * HMAC and plaintext digest of an encrypted layer, and for every layer
   * the config's diff_id over the decompressed tar (the config itself is
   * digest-checked on read).  So the store, on an untrusted disk, cannot
   * substitute a layer, and the data is hashed once less. */
  _cleanup_reader_ veil_reader_t *r = veil_reader_fd (fd);
  _cleanup_free_ char *plain_mt = NULL;
  const char *mt = layer->media_type;
  if (veil_ocicrypt_is_encrypted (layer))
    {
      /* the diff_id check below covers the plaintext: one sha256 pass less */
      veil_ocicrypt_keys_t k = o && o->keys ? *o->keys : (veil_ocicrypt_keys_t){ 0 };
      k.plain_checked_by_caller = diff_id != NULL;
      veil_reader_t *dec = veil_ocicrypt_decrypt_reader (r, layer, &k, err);
      if (!dec)
        return -EACCES;
      r = dec;
      mt = plain_mt = veil_ocicrypt_plain_media_type (layer->media_type);
    }
  uint64_t max = o && o->limits.max_bytes ? o->limits.max_bytes : DEFAULT_MAX_LAYER;
  veil_reader_t *integrity = r; /* HMAC of an encrypted layer */
  veil_reader_t *dz = veil_reader_decompress (r, mt, diff_id, max, err);
  if (!dz)
    return -EINVAL;
  r = dz;
  veil_unpack_limits_t lim = o ? o->limits : (veil_unpack_limits_t){ 0 };
  /* as root, files keep the image's owners (and so their setuid bits), as
   * a container runtime expects of its rootfs */
  if (geteuid () == 0)
    lim.same_owner = true;
  if (veil_unpack_tar (r, root_fd, &lim, err) < 0 || drain (r, err) < 0)
    {
      /* A tampered blob usually breaks decompression or the tar first; say
       * what really happened: finish the digest/HMAC stages on the rest of
       * the stream, and report their failure when they have one. */
      veil_error_t *cause = NULL;
      if (drain (integrity, &cause) < 0 || integrity->finish (integrity, &cause) < 0)
        {
          veil_error_wrap (&cause, "layer %s", layer->digest);
          return veil_error_propagate (err, cause);
        }
      veil_error_free (cause);
      return veil_error_wrap (err, "layer %s", layer->digest);
    }
  /* every stage's final check, innermost first */
  if (r->finish (r, err) < 0)
    return veil_error_wrap (err, "layer %s", layer->digest);
  return 0;
}

int
veil_image_load_manifest (veil_image_store_t *st, const char *manifest_digest, veil_manifest_t *m,
                          size_t *len_out, veil_error_t **err)
{
  _cleanup_free_ char *mpath = veil_image_store_blob_path (st, manifest_digest);
  _cleanup_free_ uint8_t *data = NULL;
  size_t len = 0;
  if (!mpath)
    return veil_error_set (err, ENOENT, "image: manifest %s is not in the store", manifest_digest);
  if (veil_file_read (mpath, DOC_MAX, &data, &len, err) < 0)
    return -EIO;
  _cleanup_free_ char *d = veil_digest_of (data, len);
  if (strcmp (d, manifest_digest) != 0)
    return veil_error_set (err, EBADMSG, "image: manifest %s in the store has digest %s", manifest_digest, d);
  bool is_index = false;
  veil_descriptor_t picked = { 0 };
  if (veil_manifest_parse (data, len, NULL, m, &is_index, &picked, err) < 0)
    return -EBADMSG;
  veil_descriptor_clear (&picked);
  if (is_index)
    {
      veil_manifest_clear (m);
      return veil_error_set (err, EINVAL, "image: %s is an index; use its platform manifest", manifest_digest);
    }
  if (len_out)
    *len_out = len;
  return 0;
}

/* Layers with their diff_ids, checked against the config. */
static int
load_image (veil_image_store_t *st, const char *manifest_digest, veil_manifest_t *m, json_t **config,
            json_t **diff_ids, veil_error_t **err)
{
  if (veil_image_load_manifest (st, manifest_digest, m, NULL, err) < 0)
    return -EBADMSG;
  *config = read_doc (st, m->config.digest, "config", err);
  if (!*config)
    return -EIO;
  *diff_ids = veil_image_config_diff_ids (*config, m->n_layers, err);
  return *diff_ids ? 0 : -EBADMSG;
}

int
veil_image_unpack (veil_image_store_t *st, const char *manifest_digest, const char *dir,
                   const veil_image_unpack_opts_t *o, veil_error_t **err)
{
  veil_manifest_t m = { 0 };
  _cleanup_json_ json_t *config = NULL, *diff_ids = NULL;
  int r = load_image (st, manifest_digest, &m, &config, &diff_ids, err);
  if (r < 0)
    {
      veil_manifest_clear (&m);
      return r;
    }
  if (veil_mkdir_p (dir, 0755, err) < 0)
    {
      veil_manifest_clear (&m);
      return -EIO;
    }
  _cleanup_close_ int dfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  char tmp[64];
  snprintf (tmp, sizeof (tmp), ".rootfs.tmp-%d", (int) getpid ());
  rm_rf_at (dfd, tmp);
  if (dfd < 0 || mkdirat (dfd, tmp, 0755) < 0)
    {
      veil_manifest_clear (&m);
      return veil_error_set (err, errno, "%s: %s", dir, strerror (errno));
    }
  _cleanup_close_ int root_fd = openat (dfd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  for (size_t i = 0; r == 0 && i < m.n_layers; i++)
    {
      uint64_t t0 = veil_now_mono_ns ();
      r = unpack_layer (st, &m.layers[i], json_string_value (json_array_get (diff_ids, i)), root_fd, o, err);
      if (r == 0 && o && o->on_layer)
        o->on_layer (o->progress_ctx, i, m.n_layers, &m.layers[i], veil_now_mono_ns () - t0);
    }
  _cleanup_json_ json_t *spec = r == 0 ? veil_image_runtime_spec (config, root_fd, err) : NULL;
  if (r == 0 && !spec)
    r = -EINVAL;
  if (r == 0)
    {
      _cleanup_free_ char *text = json_dumps (spec, JSON_INDENT (2));
      _cleanup_free_ char *cpath = xasprintf ("%s/config.json", dir);
      r = veil_file_write_atomic (cpath, text, strlen (text), 0644, err);
    }
  if (r == 0)
    {
      /* the tree is complete and checked: only now does it become rootfs */
      rm_rf_at (dfd, "rootfs");
      if (renameat (dfd, tmp, dfd, "rootfs") < 0)
        r = veil_error_set (err, errno, "%s/rootfs: %s", dir, strerror (errno));
    }
  if (r < 0)
    rm_rf_at (dfd, tmp);
  veil_manifest_clear (&m);
  return r;
}

int
veil_image_layer_ensure (veil_image_store_t *st, const veil_descriptor_t *layer, const char *diff_id,
                         const veil_image_unpack_opts_t *o, char **layer_dir, veil_error_t **err)
{
  _cleanup_free_ char *final = veil_image_store_layer_dir (st, diff_id);
  if (!final)
    return veil_error_set (err, EINVAL, "layer cache: bad diff_id '%s'", diff_id);
  struct stat sb;
  if (stat (final, &sb) == 0 && S_ISDIR (sb.st_mode))
    {
      *layer_dir = steal_pointer (&final);
      return 0;
    }
  _cleanup_free_ char *tmp = xasprintf ("%s.tmp-%d", final, (int) getpid ());
  _cleanup_free_ char *parent = xstrdup (final);
  *strrchr (parent, '/') = 0;
  if (veil_mkdir_p (parent, 0755, err) < 0)
    return -EIO;
  _cleanup_close_ int pfd = open (parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const char *tmp_name = strrchr (tmp, '/') + 1, *final_name = strrchr (final, '/') + 1;
  rm_rf_at (pfd, tmp_name);
  if (pfd < 0 || mkdirat (pfd, tmp_name, 0755) < 0)
    return veil_error_set (err, errno, "%s: %s", tmp, strerror (errno));
  _cleanup_close_ int root_fd = openat (pfd, tmp_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  veil_image_unpack_opts_t lo = o ? *o : (veil_image_unpack_opts_t){ 0 };
  lo.limits.overlay_whiteouts = true; /* cached layers are stacked with overlayfs */
  int r = unpack_layer (st, layer, diff_id, root_fd, &lo, err);
  if (r == 0 && renameat (pfd, tmp_name, pfd, final_name) < 0)
    {
      /* another process committed the same layer first: keep theirs */
      r = errno == ENOTEMPTY || errno == EEXIST ? 0 : veil_error_set (err, errno, "%s: %s", final, strerror (errno));
    }
  rm_rf_at (pfd, tmp_name);
  if (r == 0)
    *layer_dir = steal_pointer (&final);
  return r;
}
