/* The content store, laid out like an OCI image layout's blob directory so
 * that blobs are addressed (and verified) by digest:
 *
 *   DIR/blobs/sha256/<hex>          blobs (manifests, configs, layers)
 *   DIR/layers/sha256/<diff hex>/   unpacked layers, by diff_id
 *   DIR/images.json                 {"images": {name: {"digest", "tagged_at"}}}
 *   DIR/locks/<hex>.lock            one download per digest (flock)
 *   DIR/locks/gc.lock               writers shared, prune exclusive
 *   DIR/locks/images.lock           images.json read-modify-write
 *
 * A blob appears under its name only after its digest was checked: it is
 * written to a temp file in the same directory, verified, fsynced and
 * renamed, so a reader never sees a partial or wrong blob, even after a
 * crash.  flock() works across processes and, since each caller opens its own
 * file description, across threads too. */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/file.h>
#include <sys/stat.h>
#include "veil/image.h"

#define IMAGES_MAX (16u << 20)
#define DOC_MAX (4u << 20)

struct veil_image_store
{
  char *dir, *blobs, *layers, *locks;
  int pin_fd;
};

veil_image_store_t *
veil_image_store_open (const char *dir, veil_error_t **err)
{
  if (dir == NULL || *dir == 0)
    return veil_error_set (err, EINVAL, "store: no directory"), NULL;
  veil_image_store_t *st = xcalloc (1, sizeof *st);
  st->pin_fd = -1;
  st->dir = xstrdup (dir);
  st->blobs = xasprintf ("%s/blobs/sha256", dir);
  st->layers = xasprintf ("%s/layers/sha256", dir);
  st->locks = xasprintf ("%s/locks", dir);
  const char *mk[] = { st->blobs, st->layers, st->locks };
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (mk); i++)
    if (veil_mkdir_p (mk[i], 0755, err) < 0)
      {
        veil_image_store_free (st);
        return veil_error_wrap (err, "store: %s", dir), NULL;
      }
  return st;
}

void
veil_image_store_free (veil_image_store_t *st)
{
  if (st == NULL)
    return;
  if (st->pin_fd >= 0)
    close (st->pin_fd);
  free (st->dir);
  free (st->blobs);
  free (st->layers);
  free (st->locks);
  free (st);
}

const char *
veil_image_store_dir (veil_image_store_t *st)
{
  return st->dir;
}

static int
lock_file (veil_image_store_t *st, const char *name, int how, veil_error_t **err)
{
  _cleanup_free_ char *p = xasprintf ("%s/%s", st->locks, name);
  int fd = open (p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0)
    return veil_error_set (err, errno, "store: %s: %s", p, strerror (errno));
  int r;
  do
    r = flock (fd, how);
  while (r < 0 && errno == EINTR);
  if (r < 0)
    {
      int e = errno;
      close (fd);
      return veil_error_set (err, e, "store: lock %s: %s", p, strerror (e));
    }
  return fd;
}

int
veil_image_store_pin (veil_image_store_t *st, veil_error_t **err)
{
  if (st->pin_fd >= 0)
    return 0;
  int fd = lock_file (st, "gc.lock", LOCK_SH, err);
  if (fd < 0)
    return fd;
  st->pin_fd = fd;
  return 0;
}

char *
veil_image_store_blob_path (veil_image_store_t *st, const char *digest)
{
  if (!veil_digest_valid (digest))
    return NULL;
  char *p = xasprintf ("%s/%s", st->blobs, digest + 7);
  struct stat sb;
  if (stat (p, &sb) < 0 || !S_ISREG (sb.st_mode))
    {
      free (p);
      return NULL;
    }
  return p;
}

char *
veil_image_store_layer_dir (veil_image_store_t *st, const char *diff_id)
{
  if (!veil_digest_valid (diff_id))
    return NULL;
  return xasprintf ("%s/%s", st->layers, diff_id + 7);
}

/* Hashes what fetch() wrote: the store checks every blob itself rather than
 * trusting the fetcher (a registry client, a layout copy, a test). */
static int
verify_file (int fd, const char *digest, int64_t size, veil_error_t **err)
{
  if (lseek (fd, 0, SEEK_SET) < 0)
    return veil_error_set (err, errno, "store: seek: %s", strerror (errno));
  _cleanup_ (EVP_MD_CTX_freep) EVP_MD_CTX *md = EVP_MD_CTX_new ();
  if (md == NULL || EVP_DigestInit_ex (md, EVP_sha256 (), NULL) != 1)
    abort ();
  static __thread uint8_t buf[1 << 16];
  int64_t total = 0;
  for (;;)
    {
      ssize_t n = read (fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return veil_error_set (err, errno, "store: read back: %s", strerror (errno));
      if (n == 0)
        break;
      EVP_DigestUpdate (md, buf, (size_t) n);
      total += n;
    }
  if (size >= 0 && total != size)
    return veil_error_set (err, EBADMSG,
                           "store: blob %s: size mismatch: expected %" PRId64 " bytes, got %" PRId64,
                           digest, size, total);
  uint8_t out[VEIL_SHA256_LEN];
  EVP_DigestFinal_ex (md, out, NULL);
  _cleanup_free_ char *hex = veil_hex_encode (out, sizeof out);
  if (strcmp (hex, digest + 7) != 0)
    return veil_error_set (err, EBADMSG, "store: digest mismatch: expected %s, got sha256:%s",
                           digest, hex);
  return 0;
}

static int
fsync_dir (const char *dir)
{
  _cleanup_close_ int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  return fd < 0 || fsync (fd) < 0 ? -errno : 0;
}

static int
present_ok (const char *path, const char *digest, int64_t size, veil_error_t **err)
{
  struct stat sb;
  if (stat (path, &sb) < 0)
    return 0;
  /* verified when written; a size the descriptor disagrees with means the
   * descriptor is wrong, not the blob */
  if (size >= 0 && sb.st_size != size)
    return veil_error_set (err, EBADMSG, "store: blob %s has %jd bytes, the descriptor says %" PRId64,
                           digest, (intmax_t) sb.st_size, size);
  return 1;
}

int
veil_image_store_ensure_blob (veil_image_store_t *st, const char *digest, int64_t size,
                              veil_fetch_fn fetch, void *ctx, veil_error_t **err)
{
  if (!veil_digest_valid (digest))
    return veil_error_set (err, EINVAL, "store: invalid digest '%s'", digest ? digest : "(null)");
  _cleanup_free_ char *path = xasprintf ("%s/%s", st->blobs, digest + 7);
  int r = present_ok (path, digest, size, err);
  if (r != 0)
    return r < 0 ? r : 0;
  /* shared gc lock: prune must not sweep our temp file */
  _cleanup_close_ int gc = lock_file (st, "gc.lock", LOCK_SH, err);
  if (gc < 0)
    return gc;
  _cleanup_free_ char *lname = xasprintf ("%s.lock", digest + 7);
  _cleanup_close_ int lk = lock_file (st, lname, LOCK_EX, err);
  if (lk < 0)
    return lk;
  /* whoever held the lock before us may have fetched it */
  if ((r = present_ok (path, digest, size, err)) != 0)
    return r < 0 ? r : 0;
  _cleanup_free_ char *tmp = xasprintf ("%s/.tmp-%.16s-XXXXXX", st->blobs, digest + 7);
  _cleanup_close_ int fd = mkostemp (tmp, O_CLOEXEC);
  if (fd < 0)
    return veil_error_set (err, errno, "store: %s: %s", tmp, strerror (errno));
  r = fetch (ctx, fd, err);
  if (r == 0)
    r = verify_file (fd, digest, size, err);
  else if (r > 0)
    r = 0; /* verified while it was written */
  if (r == 0 && (fchmod (fd, 0444) < 0 || fsync (fd) < 0 || rename (tmp, path) < 0))
    r = veil_error_set (err, errno, "store: commit %s: %s", digest, strerror (errno));
  if (r < 0)
    {
      unlink (tmp);
      return r;
    }
  fsync_dir (st->blobs);
  return 0;
}

typedef struct mem_src
{
  const void *data;
  size_t len;
} mem_src_t;

static int
write_mem (void *ctx, int fd, veil_error_t **err)
{
  mem_src_t *m = ctx;
  const uint8_t *p = m->data;
  for (size_t off = 0; off < m->len;)
    {
      ssize_t w = write (fd, p + off, m->len - off);
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0)
        return veil_error_set (err, errno, "store: write: %s", strerror (errno));
      off += (size_t) w;
    }
  return 0;
}

int
veil_image_store_put_blob (veil_image_store_t *st, const void *data, size_t len, char **digest,
                           veil_error_t **err)
{
  _cleanup_free_ char *d = veil_digest_of (data, len);
  mem_src_t m = { data, len };
  int r = veil_image_store_ensure_blob (st, d, (int64_t) len, write_mem, &m, err);
  if (r == 0 && digest)
    *digest = steal_pointer (&d);
  return r;
}

int
veil_image_store_read_blob (veil_image_store_t *st, const char *digest, size_t max, uint8_t **data,
                            size_t *len, veil_error_t **err)
{
  _cleanup_free_ char *p = veil_image_store_blob_path (st, digest);
  if (p == NULL)
    return veil_error_set (err, ENOENT, "store: blob %s is not in the store", digest);
  return veil_file_read (p, max, data, len, err);
}

/* ---- images.json ---------------------------------------------------------- */

static json_t *
images_load (veil_image_store_t *st, veil_error_t **err)
{
  _cleanup_free_ char *p = xasprintf ("%s/images.json", st->dir);
  _cleanup_free_ uint8_t *data = NULL;
  size_t len = 0;
  if (access (p, F_OK) < 0 && errno == ENOENT)
    return json_pack ("{s:{}}", "images");
  if (veil_file_read (p, IMAGES_MAX, &data, &len, err) < 0)
    return NULL;
  json_t *j = veil_json_parse (data, len, IMAGES_MAX, err);
  if (j == NULL)
    return veil_error_wrap (err, "store: %s", p), NULL;
  if (!json_is_object (json_object_get (j, "images")))
    {
      json_decref (j);
      return veil_error_set (err, EINVAL, "store: %s: no 'images' object", p), NULL;
    }
  return j;
}

static const char *
entry_digest (const json_t *e)
{
  const char *d = veil_json_str (e, "digest");
  return veil_digest_valid (d) ? d : NULL;
}

int
veil_image_store_tag (veil_image_store_t *st, const char *name, const char *manifest_digest,
                      veil_error_t **err)
{
  if (name == NULL || *name == 0 || strlen (name) > 4096 || !veil_digest_valid (manifest_digest))
    return veil_error_set (err, EINVAL, "store: tag: invalid name or digest");
  _cleanup_close_ int lk = lock_file (st, "images.lock", LOCK_EX, err);
  if (lk < 0)
    return lk;
  _cleanup_json_ json_t *j = images_load (st, err);
  if (j == NULL)
    return -EINVAL;
  json_object_set_new (json_object_get (j, "images"), name,
                       json_pack ("{s:s, s:I}", "digest", manifest_digest, "tagged_at",
                                  (json_int_t) veil_now_unix ()));
  char *s = json_dumps (j, JSON_INDENT (2) | JSON_SORT_KEYS);
  _cleanup_free_ char *p = xasprintf ("%s/images.json", st->dir);
  int r = veil_file_write_atomic (p, s, strlen (s), 0644, err);
  free (s);
  return r;
}

char *
veil_image_store_resolve (veil_image_store_t *st, const char *name, veil_error_t **err)
{
  _cleanup_close_ int lk = lock_file (st, "images.lock", LOCK_SH, err);
  if (lk < 0)
    return NULL;
  _cleanup_json_ json_t *j = images_load (st, err);
  if (j == NULL)
    return NULL;
  const char *d = entry_digest (json_object_get (json_object_get (j, "images"), name));
  if (d == NULL)
    return veil_error_set (err, ENOENT, "store: no image named '%s'", name), NULL;
  return xstrdup (d);
}

static int
cmp_str (const void *a, const void *b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

json_t *
veil_image_store_list (veil_image_store_t *st, veil_error_t **err)
{
  _cleanup_close_ int lk = lock_file (st, "images.lock", LOCK_SH, err);
  if (lk < 0)
    return NULL;
  _cleanup_json_ json_t *j = images_load (st, err);
  if (j == NULL)
    return NULL;
  json_t *images = json_object_get (j, "images");
  size_t n = json_object_size (images), i = 0;
  _cleanup_free_ const char **names = xcalloc (n ? n : 1, sizeof *names);
  const char *k;
  json_t *v;
  json_object_foreach (images, k, v) names[i++] = k;
  qsort (names, n, sizeof *names, cmp_str);
  json_t *out = json_array ();
  for (i = 0; i < n; i++)
    {
      json_t *e = json_object_get (images, names[i]);
      if (entry_digest (e) == NULL)
        continue;
      json_array_append_new (out, json_pack ("{s:s, s:s, s:O?}", "name", names[i], "digest",
                                             entry_digest (e), "tagged_at",
                                             json_object_get (e, "tagged_at")));
    }
  return out;
}

static json_t *
desc_json (const veil_descriptor_t *d)
{
  return json_pack ("{s:s, s:s, s:I, s:O?}", "mediaType", d->media_type, "digest", d->digest,
                    "size", (json_int_t) d->size, "annotations", d->annotations);
}

json_t *
veil_image_store_inspect (veil_image_store_t *st, const char *name, veil_error_t **err)
{
  _cleanup_free_ char *digest = NULL;
  if (veil_digest_valid (name) && (digest = veil_image_store_blob_path (st, name)) != NULL)
    {
      free (digest);
      digest = xstrdup (name);
    }
  else if ((digest = veil_image_store_resolve (st, name, err)) == NULL)
    return NULL;
  _cleanup_free_ uint8_t *mdata = NULL, *cdata = NULL;
  size_t mlen = 0, clen = 0;
  if (veil_image_store_read_blob (st, digest, DOC_MAX, &mdata, &mlen, err) < 0)
    return NULL;
  veil_manifest_t m;
  bool is_index = false;
  if (veil_manifest_parse (mdata, mlen, NULL, &m, &is_index, NULL, err) < 0)
    return veil_error_wrap (err, "store: %s", digest), NULL;
  json_t *out = NULL;
  _cleanup_json_ json_t *cfg = NULL;
  if (is_index)
    {
      veil_error_set (err, EINVAL, "store: %s is an index, not an image manifest", digest);
      goto done;
    }
  if (veil_image_store_read_blob (st, m.config.digest, DOC_MAX, &cdata, &clen, err) < 0)
    goto done;
  if ((cfg = veil_json_parse (cdata, clen, DOC_MAX, err)) == NULL)
    goto done;
  json_t *layers = json_array ();
  int64_t total = m.config.size + (int64_t) mlen;
  for (size_t i = 0; i < m.n_layers; i++)
    {
      json_array_append_new (layers, desc_json (&m.layers[i]));
      total += m.layers[i].size;
    }
  out = json_pack ("{s:s, s:s, s:s, s:o, s:o, s:I, s:O?, s:O?, s:O?, s:O?}", "name", name,
                   "digest", digest, "mediaType", m.media_type, "config", desc_json (&m.config),
                   "layers", layers, "size", (json_int_t) total, "os",
                   json_object_get (cfg, "os"), "architecture",
                   json_object_get (cfg, "architecture"), "created",
                   json_object_get (cfg, "created"), "diff_ids",
                   json_object_get (json_object_get (cfg, "rootfs"), "diff_ids"));
done:
  veil_manifest_clear (&m);
  return out;
}

/* ---- prune ------------------------------------------------------------------ */

static bool
is_hex64 (const char *s)
{
  size_t n = 0;
  for (; s[n]; n++)
    if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
      return false;
  return n == 64;
}

static void
mark (json_t *set, const char *digest)
{
  if (veil_digest_valid (digest))
    json_object_set_new (set, digest + 7, json_true ());
}

/* Marks a manifest (or an index and the children present) with its config,
 * layers and the layer dirs named by the config's diff_ids. */
static void
mark_manifest (veil_image_store_t *st, const char *digest, json_t *blobs, json_t *dirs, int depth)
{
  if (!veil_digest_valid (digest) || depth > 2 || json_object_get (blobs, digest + 7))
    return;
  mark (blobs, digest);
  _cleanup_free_ uint8_t *data = NULL;
  size_t len = 0;
  if (veil_image_store_read_blob (st, digest, DOC_MAX, &data, &len, NULL) < 0)
    return;
  _cleanup_json_ json_t *doc = veil_json_parse (data, len, DOC_MAX, NULL);
  json_t *children = json_object_get (doc, "manifests");
  if (json_is_array (children))
    {
      size_t i;
      json_t *c;
      json_array_foreach (children, i, c) mark_manifest (st, veil_json_str (c, "digest"), blobs,
                                                         dirs, depth + 1);
      return;
    }
  mark (blobs, veil_json_str (json_object_get (doc, "config"), "digest"));
  size_t i;
  json_t *l;
  json_array_foreach (json_object_get (doc, "layers"), i, l) mark (blobs, veil_json_str (l, "digest"));
  _cleanup_free_ uint8_t *cdata = NULL;
  size_t clen = 0;
  const char *cd = veil_json_str (json_object_get (doc, "config"), "digest");
  if (veil_image_store_read_blob (st, cd, DOC_MAX, &cdata, &clen, NULL) < 0)
    return;
  _cleanup_json_ json_t *cfg = veil_json_parse (cdata, clen, DOC_MAX, NULL);
  json_array_foreach (json_object_get (json_object_get (cfg, "rootfs"), "diff_ids"), i, l)
      mark (dirs, json_string_value (l));
}

/* rm -rf below dirfd/name, adding the sizes of removed files.  Directories
 * are made writable first: unpacked layers contain read-only ones. */
static int
remove_tree (int dirfd, const char *name, uint64_t *bytes, int depth)
{
  struct stat sb;
  if (fstatat (dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
    return -errno;
  if (!S_ISDIR (sb.st_mode))
    {
      if (unlinkat (dirfd, name, 0) < 0)
        return -errno;
      if (S_ISREG (sb.st_mode))
        *bytes += (uint64_t) sb.st_size;
      return 0;
    }
  if (depth > 4096)
    return -ELOOP;
  fchmodat (dirfd, name, 0700, 0);
  int fd = openat (dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  DIR *d = fdopendir (fd);
  if (d == NULL)
    {
      close (fd);
      return -errno;
    }
  int ret = 0;
  struct dirent *de;
  while ((de = readdir (d)) != NULL)
    {
      if (!strcmp (de->d_name, ".") || !strcmp (de->d_name, ".."))
        continue;
      int r = remove_tree (fd, de->d_name, bytes, depth + 1);
      if (r < 0 && ret == 0)
        ret = r;
    }
  closedir (d);
  if (unlinkat (dirfd, name, AT_REMOVEDIR) < 0 && ret == 0)
    ret = -errno;
  return ret;
}

static int
sweep (const char *dir, const json_t *keep, bool tmp_too, const char *lock_dir, uint64_t *freed,
       veil_error_t **err)
{
  _cleanup_close_ int dfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return veil_error_set (err, errno, "store: %s: %s", dir, strerror (errno));
  int dup_fd = dup (dfd);
  DIR *d = dup_fd >= 0 ? fdopendir (dup_fd) : NULL;
  if (d == NULL)
    return veil_error_set (err, errno, "store: %s: %s", dir, strerror (errno));
  struct dirent *de;
  int ret = 0;
  while ((de = readdir (d)) != NULL)
    {
      bool digest_named = is_hex64 (de->d_name);
      /* temp files are stale: every writer holds the gc lock we hold */
      bool stale_tmp = tmp_too && !strncmp (de->d_name, ".tmp-", 5);
      if (!(digest_named && !json_object_get (keep, de->d_name)) && !stale_tmp)
        continue;
      int r = remove_tree (dfd, de->d_name, freed, 0);
      if (r < 0 && ret == 0)
        ret = veil_error_set (err, -r, "store: remove %s/%s: %s", dir, de->d_name, strerror (-r));
      if (digest_named && lock_dir)
        {
          _cleanup_free_ char *lp = xasprintf ("%s/%s.lock", lock_dir, de->d_name);
          unlink (lp);
        }
    }
  closedir (d);
  return ret;
}

int
veil_image_store_prune (veil_image_store_t *st, uint64_t *freed_bytes, veil_error_t **err)
{
  if (st->pin_fd >= 0)
    return veil_error_set (err, EBUSY, "store: prune through a pinned handle would wait for itself");
  _cleanup_close_ int gc = lock_file (st, "gc.lock", LOCK_EX, err);
  if (gc < 0)
    return gc;
  _cleanup_json_ json_t *j = NULL;
  {
    _cleanup_close_ int lk = lock_file (st, "images.lock", LOCK_SH, err);
    if (lk < 0)
      return lk;
    if ((j = images_load (st, err)) == NULL)
      return -EINVAL;
  }
  _cleanup_json_ json_t *blobs = json_object (), *dirs = json_object ();
  const char *k;
  json_t *v;
  json_object_foreach (json_object_get (j, "images"), k, v)
      mark_manifest (st, entry_digest (v), blobs, dirs, 0);
  uint64_t freed = 0;
  int r = sweep (st->blobs, blobs, true, st->locks, &freed, err);
  if (r == 0)
    r = sweep (st->layers, dirs, false, NULL, &freed, err);
  if (freed_bytes)
    *freed_bytes = freed;
  return r;
}
