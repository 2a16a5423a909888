/* OCI image layouts (image-spec image-layout.md): DIR/oci-layout,
 * DIR/index.json naming the manifests (a tag is the
 * org.opencontainers.image.ref.name annotation), DIR/blobs/<alg>/<hex>. */
#include "veil/image.h"

#define INDEX_MAX (4u << 20)
#define REF_NAME "org.opencontainers.image.ref.name"

int
veil_image_layout_resolve (const char *dir, const char *tag, veil_descriptor_t *desc,
                           veil_error_t **err)
{
  memset (desc, 0, sizeof *desc);
  _cleanup_free_ char *p = xasprintf ("%s/index.json", dir);
  _cleanup_free_ uint8_t *data = NULL;
  size_t len = 0;
  if (veil_file_read (p, INDEX_MAX, &data, &len, err) < 0)
    return veil_error_wrap (err, "layout %s", dir);
  _cleanup_json_ json_t *j = veil_json_parse (data, len, INDEX_MAX, err);
  if (j == NULL)
    return veil_error_wrap (err, "layout %s: index.json", dir);
  json_t *list = json_object_get (j, "manifests");
  if (!json_is_array (list))
    return veil_error_set (err, EINVAL, "layout %s: index.json has no 'manifests' array", dir);
  size_t n = json_array_size (list), i, found = 0;
  json_t *e;
  veil_buf_t tags = { 0 };
  int ret = 0;
  json_array_foreach (list, i, e)
  {
    veil_descriptor_t d;
    if ((ret = veil_descriptor_parse (e, &d, err)) < 0)
      {
        veil_error_wrap (err, "layout %s: index.json: entry %zu", dir, i);
        break;
      }
    const char *name = veil_json_str (d.annotations, REF_NAME);
    if (tags.len < 512)
      veil_buf_printf (&tags, "%s%s", tags.len ? ", " : "", name ? name : "(untagged)");
    if ((tag && name && !strcmp (name, tag)) || (!tag && n == 1))
      {
        if (found++ == 0)
          {
            *desc = d;
            continue;
          }
      }
    veil_descriptor_clear (&d);
  }
  if (ret == 0 && found == 0)
    ret = veil_error_set (err, ENOENT, "layout %s: %s%s%s (has: %s)", dir,
                          tag ? "no manifest tagged '" : "no tag given and not exactly one manifest",
                          tag ? tag : "", tag ? "'" : "", tags.len ? veil_buf_cstr (&tags) : "nothing");
  if (ret == 0 && found > 1)
    ret = veil_error_set (err, EINVAL, "layout %s: tag '%s' names %zu manifests", dir, tag, found);
  if (ret < 0)
    veil_descriptor_clear (desc);
  veil_buf_free (&tags);
  return ret;
}

char *
veil_image_layout_blob_path (const char *dir, const char *digest)
{
  if (!veil_digest_valid (digest))
    return NULL;
  return xasprintf ("%s/blobs/sha256/%s", dir, digest + 7);
}
