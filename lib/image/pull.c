/* Pull (registry or layout → store) and push (store or layout → registry).
 * Both walk the same graph: manifest (or index → the linux/amd64 manifest),
 * config, layers.  Every blob is verified by the store on the way in; the
 * image is tagged only once all of it is present. */
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include "veil/image.h"

#define DOC_MAX (4u << 20)

/* Where manifests and blobs come from. */
typedef struct source
{
  veil_registry_t *reg;
  const char *layout;
  veil_image_store_t *st;
} source_t;

static char *
source_blob_path (const source_t *s, const char *digest)
{
  return s->layout ? veil_image_layout_blob_path (s->layout, digest)
                   : veil_image_store_blob_path (s->st, digest);
}

/* A manifest by digest (or, from a registry, by tag). */
static int
source_manifest (const source_t *s, const char *reference, veil_buf_t *body, char **ct,
                 char **digest, veil_error_t **err)
{
  if (s->reg)
    return veil_registry_get_manifest (s->reg, reference, body, ct, digest, err);
  _cleanup_free_ char *p = source_blob_path (s, reference);
  if (p == NULL)
    return veil_error_set (err, ENOENT, "manifest %s not found", reference);
  _cleanup_free_ uint8_t *data = NULL;
  size_t len = 0;
  if (veil_file_read (p, DOC_MAX, &data, &len, err) < 0)
    return -EIO;
  _cleanup_free_ char *d = veil_digest_of (data, len);
  if (strcmp (d, reference) != 0)
    return veil_error_set (err, EBADMSG, "manifest %s: digest mismatch: expected %s, got %s",
                           reference, reference, d);
  body->len = 0;
  veil_buf_append (body, data, len);
  *ct = NULL;
  *digest = steal_pointer (&d);
  return 0;
}

typedef struct fetch_ctx
{
  const source_t *src;
  const veil_descriptor_t *d;
  const veil_image_progress_t *pr;
} fetch_ctx_t;

/* Copies at most size + 1 bytes: enough for the store to see a file that is
 * larger than its descriptor, without copying an unbounded one. */
static int
copy_file (const char *path, int out, int64_t size, veil_error_t **err)
{
  _cleanup_close_ int in = open (path, O_RDONLY | O_CLOEXEC);
  if (in < 0)
    return veil_error_set (err, errno, "%s: %s", path, strerror (errno));
  static __thread char buf[1 << 16];
  int64_t left = size >= 0 ? size + 1 : INT64_MAX;
  while (left > 0)
    {
      ssize_t n = read (in, buf, left < (int64_t) sizeof buf ? (size_t) left : sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return veil_error_set (err, errno, "%s: read: %s", path, strerror (errno));
      if (n == 0)
        break;
      for (ssize_t off = 0; off < n;)
        {
          ssize_t w = write (out, buf + off, (size_t) (n - off));
          if (w < 0 && errno == EINTR)
            continue;
          if (w < 0)
            return veil_error_set (err, errno, "write: %s", strerror (errno));
          off += w;
        }
      left -= n;
    }
  return 0;
}

static int
fetch_blob (void *ctx, int fd, veil_error_t **err)
{
  fetch_ctx_t *f = ctx;
  /* the download checks digest and size as it streams: tell the store */
  if (f->src->reg)
    {
      int r = veil_registry_get_blob (f->src->reg, f->d->digest, f->d->size, fd,
                                      f->pr ? f->pr->progress : NULL, f->pr ? f->pr->ctx : NULL, err);
      return r < 0 ? r : 1;
    }
  _cleanup_free_ char *p = source_blob_path (f->src, f->d->digest);
  if (p == NULL)
    return veil_error_set (err, ENOENT, "blob %s not found", f->d->digest);
  return copy_file (p, fd, f->d->size, err);
}

static int
pull_blob (veil_image_store_t *st, const source_t *src, const veil_descriptor_t *d,
           const veil_image_progress_t *pr, veil_error_t **err)
{
  _cleanup_free_ char *have = veil_image_store_blob_path (st, d->digest);
  if (pr && pr->blob_start)
    pr->blob_start (pr->ctx, d, have != NULL);
  uint64_t t0 = veil_now_mono_ns ();
  fetch_ctx_t f = { src, d, pr };
  int r = veil_image_store_ensure_blob (st, d->digest, d->size, fetch_blob, &f, err);
  if (r < 0)
    return r;
  if (pr && pr->blob_done)
    pr->blob_done (pr->ctx, d, veil_now_mono_ns () - t0, have != NULL);
  return 0;
}

/* The top manifest, and for an index the linux/amd64 one it names. */
static int
resolve_manifest (const source_t *src, const char *reference, veil_buf_t *body,
                  veil_manifest_t *m, char **digest, veil_error_t **err)
{
  _cleanup_free_ char *ct = NULL;
  int r = source_manifest (src, reference, body, &ct, digest, err);
  if (r < 0)
    return r;
  bool is_index = false;
  veil_descriptor_t picked;
  if ((r = veil_manifest_parse (body->data, body->len, ct, m, &is_index, &picked, err)) < 0)
    return veil_error_wrap (err, "%s", reference);
  if (!is_index)
    return 0;
  /* image-spec image-index.md: entries are manifests; veil follows one level */
  veil_manifest_clear (m);
  free (steal_pointer (digest));
  free (steal_pointer (&ct));
  r = source_manifest (src, picked.digest, body, &ct, digest, err);
  if (r == 0 && (int64_t) body->len != picked.size)
    r = veil_error_set (err, EBADMSG, "manifest %s: %zu bytes, the index says %" PRId64,
                        picked.digest, body->len, picked.size);
  if (r == 0 && (r = veil_manifest_parse (body->data, body->len, ct, m, &is_index, NULL, err)) == 0
      && is_index)
    {
      veil_manifest_clear (m);
      r = veil_error_set (err, EINVAL, "manifest %s: an index inside an index", picked.digest);
    }
  veil_descriptor_clear (&picked);
  return r;
}

static int
pull_into (veil_image_store_t *st, const source_t *src, const char *reference,
           const veil_image_progress_t *pr, char **manifest_digest, veil_error_t **err)
{
  _cleanup_buf_ veil_buf_t body = { 0 };
  _cleanup_free_ char *digest = NULL, *stored = NULL;
  veil_manifest_t m;
  int r = resolve_manifest (src, reference, &body, &m, &digest, err);
  if (r < 0)
    return r;
  uint8_t *cfg_data = NULL;
  size_t cfg_len = 0;
  json_t *cfg = NULL, *diff_ids = NULL;
  if ((r = pull_blob (st, src, &m.config, pr, err)) < 0)
    goto out;
  if ((r = veil_image_store_read_blob (st, m.config.digest, DOC_MAX, &cfg_data, &cfg_len, err)) < 0)
    goto out;
  if ((cfg = veil_json_parse (cfg_data, cfg_len, DOC_MAX, err)) == NULL
      || (diff_ids = veil_image_config_diff_ids (cfg, m.n_layers, err)) == NULL)
    {
      r = veil_error_wrap (err, "config %s", m.config.digest);
      goto out;
    }
  for (size_t i = 0; i < m.n_layers && r == 0; i++)
    r = pull_blob (st, src, &m.layers[i], pr, err);
  /* the manifest last: its presence means the whole image is */
  if (r == 0)
    r = veil_image_store_put_blob (st, body.data, body.len, &stored, err);
  if (r == 0 && manifest_digest)
    *manifest_digest = steal_pointer (&digest);
out:
  free (cfg_data);
  json_decref (cfg);
  json_decref (diff_ids);
  veil_manifest_clear (&m);
  return r;
}

int
veil_image_pull (veil_image_store_t *st, const veil_image_ref_t *ref,
                 const veil_registry_opts_t *opts, const veil_image_progress_t *pr,
                 char **manifest_digest, veil_error_t **err)
{
  if (veil_image_store_pin (st, err) < 0)
    return -EIO;
  _cleanup_free_ char *digest = NULL, *name = veil_image_ref_format (ref);
  source_t src = { 0 };
  int r;
  if (ref->kind == VEIL_REF_OCI_LAYOUT)
    {
      veil_descriptor_t top;
      if ((r = veil_image_layout_resolve (ref->layout_dir, ref->tag, &top, err)) < 0)
        return r;
      src.layout = ref->layout_dir;
      r = pull_into (st, &src, top.digest, pr, &digest, err);
      veil_descriptor_clear (&top);
    }
  else
    {
      src.reg = veil_registry_new (ref, opts, err);
      if (src.reg == NULL)
        return -EINVAL;
      r = pull_into (st, &src, ref->digest ? ref->digest : ref->tag, pr, &digest, err);
      veil_registry_free (src.reg);
    }
  if (r < 0)
    return veil_error_wrap (err, "pull %s", name);
  if ((r = veil_image_store_tag (st, name, digest, err)) < 0)
    return r;
  if (manifest_digest)
    *manifest_digest = steal_pointer (&digest);
  return 0;
}

/* ---- push --------------------------------------------------------------------- */

static int
push_blob (veil_registry_t *reg, const source_t *src, const veil_descriptor_t *d, size_t chunk,
           const veil_image_progress_t *pr, veil_error_t **err)
{
  int have = veil_registry_blob_exists (reg, d->digest, err);
  if (have < 0)
    return have;
  if (pr && pr->blob_start)
    pr->blob_start (pr->ctx, d, have == 1);
  uint64_t t0 = veil_now_mono_ns ();
  if (have == 0)
    {
      _cleanup_free_ char *p = source_blob_path (src, d->digest);
      _cleanup_close_ int fd = p ? open (p, O_RDONLY | O_CLOEXEC) : -1;
      if (fd < 0)
        return veil_error_set (err, ENOENT, "blob %s is missing from the source", d->digest);
      struct stat sb;
      if (fstat (fd, &sb) < 0 || sb.st_size != d->size)
        return veil_error_set (err, EBADMSG, "blob %s: size differs from its descriptor",
                               d->digest);
      int r = veil_registry_put_blob (reg, d->digest, fd, d->size, chunk, err);
      if (r < 0)
        return r;
      if (pr && pr->progress)
        pr->progress (pr->ctx, (uint64_t) d->size, (uint64_t) d->size);
    }
  if (pr && pr->blob_done)
    pr->blob_done (pr->ctx, d, veil_now_mono_ns () - t0, have == 1);
  return 0;
}

/* Pushes one manifest (and, for an index, each child manifest first). */
static int
push_manifest (veil_registry_t *reg, const source_t *src, const char *digest, const char *tag,
               size_t chunk, const veil_image_progress_t *pr, int depth, veil_error_t **err)
{
  _cleanup_buf_ veil_buf_t body = { 0 };
  _cleanup_free_ char *ct = NULL, *d = NULL;
  int r = source_manifest (src, digest, &body, &ct, &d, err);
  if (r < 0)
    return r;
  veil_manifest_t m;
  bool is_index = false;
  if ((r = veil_manifest_parse (body.data, body.len, NULL, &m, &is_index, NULL, err)) < 0
      && !(err && *err && (*err)->code == ENOENT))
    return veil_error_wrap (err, "%s", digest);
  if (r < 0)
    {
      /* an index without linux/amd64 can still be pushed as it is */
      veil_error_free (steal_pointer (err));
      is_index = true;
      json_t *doc = veil_json_parse (body.data, body.len, DOC_MAX, NULL);
      const char *mt = veil_json_str (doc, "mediaType");
      memset (&m, 0, sizeof m);
      m.media_type = xstrdup (mt ? mt : VEIL_MT_OCI_INDEX);
      m.doc = doc;
    }
  if (is_index)
    {
      if (depth > 0)
        r = veil_error_set (err, EINVAL, "manifest %s: an index inside an index", digest);
      size_t i;
      json_t *e;
      json_array_foreach (json_object_get (m.doc, "manifests"), i, e)
      {
        if (r < 0)
          break;
        const char *cd = veil_json_str (e, "digest");
        if (!veil_digest_valid (cd))
          r = veil_error_set (err, EINVAL, "index %s: entry %zu has no valid digest", digest, i);
        else
          r = push_manifest (reg, src, cd, NULL, chunk, pr, depth + 1, err);
      }
    }
  else
    {
      r = push_blob (reg, src, &m.config, chunk, pr, err);
      for (size_t i = 0; i < m.n_layers && r == 0; i++)
        r = push_blob (reg, src, &m.layers[i], chunk, pr, err);
    }
  if (r == 0)
    r = veil_registry_put_manifest (reg, tag ? tag : digest, body.data, body.len, m.media_type,
                                    err);
  veil_manifest_clear (&m);
  return r;
}

/* SRC of a push: oci:DIR[:TAG], a store name (as given or normalized like a
 * reference), or a manifest digest in the store. */
static int
resolve_source (veil_image_store_t *st, const char *s, source_t *src, char **digest,
                veil_image_ref_t *lref, veil_error_t **err)
{
  if (!strncmp (s, "oci:", 4))
    {
      if (veil_image_ref_parse (s, lref, err) < 0)
        return -EINVAL;
      veil_descriptor_t d;
      if (veil_image_layout_resolve (lref->layout_dir, lref->tag, &d, err) < 0)
        return -ENOENT;
      src->layout = lref->layout_dir;
      *digest = steal_pointer (&d.digest);
      veil_descriptor_clear (&d);
      return 0;
    }
  src->st = st;
  if (veil_digest_valid (s))
    {
      _cleanup_free_ char *p = veil_image_store_blob_path (st, s);
      if (p == NULL)
        return veil_error_set (err, ENOENT, "push: %s is not in the store", s);
      *digest = xstrdup (s);
      return 0;
    }
  if ((*digest = veil_image_store_resolve (st, s, NULL)) != NULL)
    return 0;
  veil_image_ref_t ref;
  if (veil_image_ref_parse (s, &ref, NULL) == 0)
    {
      _cleanup_free_ char *norm = veil_image_ref_format (&ref);
      veil_image_ref_clear (&ref);
      if ((*digest = veil_image_store_resolve (st, norm, NULL)) != NULL)
        return 0;
    }
  return veil_error_set (err, ENOENT, "push: no image '%s' in the store (see `veil image list`)",
                         s);
}

int
veil_image_push (veil_image_store_t *st, const char *src_name, const veil_image_ref_t *dst,
                 const veil_registry_opts_t *opts, size_t chunk, const veil_image_progress_t *pr,
                 char **manifest_digest, veil_error_t **err)
{
  if (dst->kind != VEIL_REF_REGISTRY)
    return veil_error_set (err, EINVAL, "push: the destination must be a registry reference");
  source_t src = { 0 };
  veil_image_ref_t lref = { 0 };
  _cleanup_free_ char *digest = NULL;
  int r = resolve_source (st, src_name, &src, &digest, &lref, err);
  if (r == 0 && dst->digest && strcmp (dst->digest, digest) != 0)
    r = veil_error_set (err, EINVAL, "push: destination digest %s is not the source's %s",
                        dst->digest, digest);
  if (r == 0)
    {
      veil_registry_t *reg = veil_registry_new (dst, opts, err);
      if (reg == NULL)
        r = -EINVAL;
      else
        {
          r = push_manifest (reg, &src, digest, dst->tag, chunk, pr, 0, err);
          veil_registry_free (reg);
        }
    }
  veil_image_ref_clear (&lref);
  if (r < 0)
    {
      _cleanup_free_ char *n = veil_image_ref_format (dst);
      return veil_error_wrap (err, "push %s", n);
    }
  if (manifest_digest)
    *manifest_digest = steal_pointer (&digest);
  return 0;
}
