/* OCI image manifests and indexes (image-spec manifest.md, image-index.md,
 * descriptor.md) and their Docker schema2 counterparts (manifest v2 schema 2,
 * manifest list).  Registries and layouts are untrusted: every member is
 * type-checked, every count bounded, and a document must be exactly one kind
 * (a body with both "manifests" and "layers" is refused, the
 * manifest-confusion trick that lets two clients see different images). */
#include "veil/image.h"

#define MANIFEST_MAX_BYTES (4u << 20) /* distribution spec: registries SHOULD accept ≥ 4 MiB */
#define MAX_LAYERS 1024
#define MAX_INDEX_ENTRIES 4096
#define MAX_ANNOTATIONS 1024
#define MAX_STR 1024

typedef enum
{
  KIND_UNKNOWN,
  KIND_OCI_MANIFEST,
  KIND_OCI_INDEX,
  KIND_DOCKER_MANIFEST,
  KIND_DOCKER_LIST
} kind_t;

static kind_t
kind_of (const char *mt)
{
  if (mt == NULL)
    return KIND_UNKNOWN;
  if (!strcmp (mt, VEIL_MT_OCI_MANIFEST))
    return KIND_OCI_MANIFEST;
  if (!strcmp (mt, VEIL_MT_OCI_INDEX))
    return KIND_OCI_INDEX;
  if (!strcmp (mt, VEIL_MT_DOCKER_MANIFEST))
    return KIND_DOCKER_MANIFEST;
  if (!strcmp (mt, VEIL_MT_DOCKER_LIST))
    return KIND_DOCKER_LIST;
  return KIND_UNKNOWN;
}

static bool
layer_type_known (const char *mt)
{
  static const char *const known[] = {
    VEIL_MT_OCI_LAYER,
    VEIL_MT_OCI_LAYER_GZIP,
    VEIL_MT_OCI_LAYER_ZSTD,
    VEIL_MT_DOCKER_LAYER_GZIP,
  };
  size_t n = strlen (mt), sl = strlen (VEIL_MT_ENCRYPTED_SUFFIX);
  /* ocicrypt layers: the plain type + "+encrypted" */
  if (n > sl && !strcmp (mt + n - sl, VEIL_MT_ENCRYPTED_SUFFIX))
    n -= sl;
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (known); i++)
    if (strlen (known[i]) == n && !strncmp (mt, known[i], n))
      return true;
  return false;
}

static int
bounded_str (const json_t *o, const char *key, bool required, const char *where, char **out,
             veil_error_t **err)
{
  json_t *v = json_object_get (o, key);
  if (v == NULL && !required)
    return 0;
  if (!json_is_string (v))
    return veil_error_set (err, EINVAL, "manifest: %s: '%s' %s", where, key,
                           v ? "is not a string" : "is missing");
  if (json_string_length (v) > MAX_STR || strlen (json_string_value (v)) != json_string_length (v))
    return veil_error_set (err, EINVAL, "manifest: %s: '%s' too long or contains NUL", where, key);
  *out = xstrdup (json_string_value (v));
  return 0;
}

static int parse_descriptor_fields (const json_t *o, const char *where, bool platform,
                                    veil_descriptor_t *d, veil_error_t **err);

static int
parse_annotations (const json_t *o, const char *where, json_t **out, veil_error_t **err)
{
  json_t *a = json_object_get (o, "annotations");
  if (a == NULL || json_is_null (a))
    return 0;
  if (!json_is_object (a))
    return veil_error_set (err, EINVAL, "manifest: %s: annotations is not an object", where);
  if (json_object_size (a) > MAX_ANNOTATIONS)
    return veil_error_set (err, E2BIG, "manifest: %s: more than %d annotations", where,
                           MAX_ANNOTATIONS);
  const char *k;
  json_t *v;
  json_object_foreach (a, k, v)
  {
    /* image-spec annotations.md: "values MUST be strings" */
    if (!json_is_string (v))
      return veil_error_set (err, EINVAL, "manifest: %s: annotation '%s' is not a string", where,
                             k);
  }
  *out = json_incref (a);
  return 0;
}

static int
parse_descriptor (const json_t *o, const char *where, bool platform, veil_descriptor_t *d,
                  veil_error_t **err)
{
  memset (d, 0, sizeof *d);
  int r = parse_descriptor_fields (o, where, platform, d, err);
  if (r < 0)
    veil_descriptor_clear (d);
  return r;
}

int
veil_descriptor_parse (const json_t *o, veil_descriptor_t *d, veil_error_t **err)
{
  return parse_descriptor (o, "descriptor", true, d, err);
}

static int
parse_descriptor_fields (const json_t *o, const char *where, bool platform, veil_descriptor_t *d,
                         veil_error_t **err)
{
  if (!json_is_object (o))
    return veil_error_set (err, EINVAL, "manifest: %s: not an object", where);
  int r = bounded_str (o, "mediaType", true, where, &d->media_type, err);
  if (r == 0)
    r = bounded_str (o, "digest", true, where, &d->digest, err);
  if (r < 0)
    return r;
  if (!veil_digest_valid (d->digest))
    return veil_error_set (err, EINVAL, "manifest: %s: invalid digest '%s'", where, d->digest);
  json_t *size = json_object_get (o, "size");
  if (!json_is_integer (size) || json_integer_value (size) < 0)
    return veil_error_set (err, EINVAL, "manifest: %s: size is missing or not a non-negative "
                                        "integer",
                           where);
  d->size = json_integer_value (size);
  if ((r = parse_annotations (o, where, &d->annotations, err)) < 0)
    return r;
  json_t *p = json_object_get (o, "platform");
  if (platform && p != NULL)
    {
      if (!json_is_object (p))
        return veil_error_set (err, EINVAL, "manifest: %s: platform is not an object", where);
      if ((r = bounded_str (p, "os", true, where, &d->platform_os, err)) < 0
          || (r = bounded_str (p, "architecture", true, where, &d->platform_arch, err)) < 0
          || (r = bounded_str (p, "variant", false, where, &d->platform_variant, err)) < 0)
        return r;
    }
  return 0;
}

static int
parse_manifest_body (const json_t *doc, veil_manifest_t *m, veil_error_t **err)
{
  int r = parse_descriptor (json_object_get (doc, "config"), "config", false, &m->config, err);
  if (r < 0)
    return r;
  const char *ct = m->config.media_type;
  if (strcmp (ct, VEIL_MT_OCI_CONFIG) != 0 && strcmp (ct, VEIL_MT_DOCKER_CONFIG) != 0)
    return veil_error_set (err, EINVAL, "manifest: config: media type '%s' is not an image config",
                           ct);
  json_t *layers = json_object_get (doc, "layers");
  if (!json_is_array (layers))
    return veil_error_set (err, EINVAL, "manifest: 'layers' is missing or not an array");
  size_t n = json_array_size (layers);
  if (n > MAX_LAYERS)
    return veil_error_set (err, E2BIG, "manifest: %zu layers (at most %d)", n, MAX_LAYERS);
  m->layers = xcalloc (n ? n : 1, sizeof *m->layers);
  for (size_t i = 0; i < n; i++)
    {
      char where[32];
      snprintf (where, sizeof where, "layer %zu", i);
      m->n_layers = i + 1;
      if ((r = parse_descriptor (json_array_get (layers, i), where, false, &m->layers[i], err)) < 0)
        return r;
      if (!layer_type_known (m->layers[i].media_type))
        return veil_error_set (err, EINVAL, "manifest: %s: unsupported media type '%s'", where,
                               m->layers[i].media_type);
    }
  return 0;
}

/* image-spec image-index.md "platform": veil runs linux/amd64; the variant
 * is only meaningful for arm, so it is ignored here.  The first match wins,
 * as in containerd's platform matcher. */
static int
pick_platform (const json_t *doc, veil_descriptor_t *picked, veil_error_t **err)
{
  json_t *list = json_object_get (doc, "manifests");
  size_t n = json_array_size (list);
  if (n > MAX_INDEX_ENTRIES)
    return veil_error_set (err, E2BIG, "manifest: index has %zu entries (at most %d)", n,
                           MAX_INDEX_ENTRIES);
  bool found = false;
  veil_buf_t seen = { 0 };
  for (size_t i = 0; i < n; i++)
    {
      char where[40];
      snprintf (where, sizeof where, "index entry %zu", i);
      veil_descriptor_t d;
      int r = parse_descriptor (json_array_get (list, i), where, true, &d, err);
      if (r == 0 && kind_of (d.media_type) == KIND_UNKNOWN)
        r = veil_error_set (err, EINVAL, "manifest: %s: media type '%s' is not a manifest", where,
                            d.media_type);
      if (r < 0)
        {
          veil_descriptor_clear (&d);
          veil_buf_free (&seen);
          return r;
        }
      bool match = d.platform_os && !strcmp (d.platform_os, "linux")
                   && !strcmp (d.platform_arch, "amd64");
      if (match && !found)
        {
          *picked = d;
          found = true;
          continue;
        }
      if (seen.len < 512)
        veil_buf_printf (&seen, "%s%s/%s", seen.len ? ", " : "",
                         d.platform_os ? d.platform_os : "?",
                         d.platform_arch ? d.platform_arch : "?");
      veil_descriptor_clear (&d);
    }
  if (!found)
    {
      int r = veil_error_set (err, ENOENT, "manifest: index has no linux/amd64 image (has: %s)",
                              seen.len ? veil_buf_cstr (&seen) : "nothing");
      veil_buf_free (&seen);
      return r;
    }
  veil_buf_free (&seen);
  return 0;
}

/* "type/subtype; charset=..." → the bare media type */
static char *
bare_type (const char *ct)
{
  if (ct == NULL)
    return NULL;
  size_t n = strcspn (ct, ";");
  while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
    n--;
  return xstrndup (ct, n);
}

static int
parse_doc (const json_t *doc, const char *content_type, veil_manifest_t *m, bool *is_index,
           veil_descriptor_t *picked, veil_error_t **err)
{
  if (!json_is_object (doc))
    return veil_error_set (err, EINVAL, "manifest: not a JSON object");
  json_t *sv = json_object_get (doc, "schemaVersion");
  if (!json_is_integer (sv) || json_integer_value (sv) != 2)
    return veil_error_set (err, EINVAL, "manifest: schemaVersion is not 2");
  json_t *mtj = json_object_get (doc, "mediaType");
  if (mtj && !json_is_string (mtj))
    return veil_error_set (err, EINVAL, "manifest: mediaType is not a string");
  const char *mt = json_string_value (mtj);
  _cleanup_free_ char *ct = bare_type (content_type);
  kind_t k_doc = kind_of (mt), k_ct = kind_of (ct);
  if (mt && k_doc == KIND_UNKNOWN)
    return veil_error_set (err, EINVAL, "manifest: unsupported mediaType '%s'", mt);
  /* the document's own mediaType and the transport's Content-Type must
   * agree (image-spec: "the mediaType ... MUST match"); a generic transport
   * type (application/json, octet-stream) defers to the document */
  if (k_doc != KIND_UNKNOWN && k_ct != KIND_UNKNOWN && k_doc != k_ct)
    return veil_error_set (err, EINVAL, "manifest: mediaType '%s' does not match Content-Type '%s'",
                           mt, ct);
  bool generic_ct = ct == NULL || !strcmp (ct, "application/json")
                    || !strcmp (ct, "application/octet-stream") || !strcmp (ct, "text/plain");
  if (k_ct == KIND_UNKNOWN && !generic_ct)
    return veil_error_set (err, EINVAL, "manifest: unsupported Content-Type '%s'", ct);
  kind_t k = k_doc != KIND_UNKNOWN ? k_doc : k_ct;
  bool has_manifests = json_object_get (doc, "manifests") != NULL;
  bool has_layers = json_object_get (doc, "layers") != NULL || json_object_get (doc, "config") != NULL;
  if (has_manifests && has_layers)
    return veil_error_set (err, EINVAL, "manifest: has both 'manifests' and 'config'/'layers': "
                                        "ambiguous document refused");
  if (k == KIND_UNKNOWN)
    {
      /* OCI allows an absent mediaType; Docker schema2 requires it */
      k = has_manifests ? KIND_OCI_INDEX : KIND_OCI_MANIFEST;
    }
  if ((k == KIND_DOCKER_MANIFEST || k == KIND_DOCKER_LIST) && mt == NULL)
    return veil_error_set (err, EINVAL, "manifest: Docker schema2 document without mediaType");
  bool index = k == KIND_OCI_INDEX || k == KIND_DOCKER_LIST;
  if (index && !json_is_array (json_object_get (doc, "manifests")))
    return veil_error_set (err, EINVAL, "manifest: index: 'manifests' is missing or not an array");
  if (!index && has_manifests)
    return veil_error_set (err, EINVAL, "manifest: an image manifest with 'manifests'");
  m->media_type = xstrdup (k == KIND_OCI_MANIFEST      ? VEIL_MT_OCI_MANIFEST
                           : k == KIND_OCI_INDEX       ? VEIL_MT_OCI_INDEX
                           : k == KIND_DOCKER_MANIFEST ? VEIL_MT_DOCKER_MANIFEST
                                                       : VEIL_MT_DOCKER_LIST);
  if (is_index)
    *is_index = index;
  if (index)
    {
      veil_descriptor_t tmp;
      memset (&tmp, 0, sizeof tmp);
      int r = pick_platform (doc, picked ? picked : &tmp, err);
      veil_descriptor_clear (&tmp);
      return r;
    }
  return parse_manifest_body (doc, m, err);
}

int
veil_manifest_parse (const void *data, size_t len, const char *content_type, veil_manifest_t *m,
                     bool *is_index, veil_descriptor_t *picked, veil_error_t **err)
{
  memset (m, 0, sizeof *m);
  if (picked)
    memset (picked, 0, sizeof *picked);
  if (is_index)
    *is_index = false;
  if (len > MANIFEST_MAX_BYTES)
    return veil_error_set (err, E2BIG, "manifest: %zu bytes (at most %u)", len, MANIFEST_MAX_BYTES);
  json_t *doc = veil_json_parse (data, len, MANIFEST_MAX_BYTES, err);
  if (doc == NULL)
    return veil_error_wrap (err, "manifest");
  m->doc = doc;
  int r = parse_doc (doc, content_type, m, is_index, picked, err);
  if (r < 0)
    {
      veil_manifest_clear (m);
      if (picked)
        veil_descriptor_clear (picked);
    }
  return r;
}

void
veil_descriptor_clear (veil_descriptor_t *d)
{
  free (d->media_type);
  free (d->digest);
  if (d->annotations)
    json_decref (d->annotations);
  free (d->platform_os);
  free (d->platform_arch);
  free (d->platform_variant);
  memset (d, 0, sizeof *d);
}

void
veil_manifest_clear (veil_manifest_t *m)
{
  free (m->media_type);
  veil_descriptor_clear (&m->config);
  for (size_t i = 0; i < m->n_layers; i++)
    veil_descriptor_clear (&m->layers[i]);
  free (m->layers);
  if (m->doc)
    json_decref (m->doc);
  memset (m, 0, sizeof *m);
}

/* image-spec config.md "rootfs": type "layers" and one diff_id per layer,
 * in order — the uncompressed digests the unpacker checks each layer's
 * tar stream against. */
json_t *
veil_image_config_diff_ids (const json_t *config, size_t n_layers, veil_error_t **err)
{
  if (!json_is_object (config))
    return veil_error_set (err, EINVAL, "image config: not a JSON object"), NULL;
  json_t *rootfs = json_object_get (config, "rootfs");
  if (!json_is_object (rootfs))
    return veil_error_set (err, EINVAL, "image config: 'rootfs' is missing or not an object"), NULL;
  const char *type = veil_json_str (rootfs, "type");
  if (type == NULL || strcmp (type, "layers") != 0)
    return veil_error_set (err, EINVAL, "image config: rootfs.type is not \"layers\""), NULL;
  json_t *ids = json_object_get (rootfs, "diff_ids");
  if (!json_is_array (ids))
    return veil_error_set (err, EINVAL, "image config: rootfs.diff_ids is missing or not an array"),
           NULL;
  if (json_array_size (ids) != n_layers)
    return veil_error_set (err, EINVAL, "image config: %zu diff_ids for %zu layers",
                           json_array_size (ids), n_layers),
           NULL;
  size_t i;
  json_t *v;
  json_array_foreach (ids, i, v)
  {
    if (!veil_digest_valid (json_string_value (v)))
      return veil_error_set (err, EINVAL, "image config: diff_ids[%zu] is not a sha256 digest", i),
             NULL;
  }
  return json_incref (ids);
}
