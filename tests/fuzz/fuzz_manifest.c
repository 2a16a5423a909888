/* Fuzzes what a registry or an image layout hands us before any digest
 * check can help: manifest/index parsing (with each Content-Type the
 * registry may claim), image config diff_ids, descriptors, and image
 * references. */
#include "veil/image.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static const char *const content_types[] = {
  NULL,
  VEIL_MT_OCI_MANIFEST,
  VEIL_MT_OCI_INDEX,
  VEIL_MT_DOCKER_MANIFEST,
  VEIL_MT_DOCKER_LIST,
  "application/json; charset=utf-8",
};

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size == 0)
    return 0;
  /* first byte picks the claimed Content-Type */
  const char *ct = content_types[data[0] % VEIL_ARRAY_SIZE (content_types)];
  veil_manifest_t m;
  veil_descriptor_t picked;
  bool is_index = false;
  veil_error_t *err = NULL;
  if (veil_manifest_parse (data + 1, size - 1, ct, &m, &is_index, &picked, &err) == 0)
    {
      if (is_index)
        veil_descriptor_clear (&picked);
      veil_manifest_clear (&m);
    }
  veil_error_free (err);

  json_t *j = veil_json_parse (data + 1, size - 1, 1 << 20, NULL);
  if (j)
    {
      err = NULL;
      json_t *ids = veil_image_config_diff_ids (j, json_array_size (json_object_get (json_object_get (j, "rootfs"), "diff_ids")),
                                                &err);
      json_decref (ids);
      veil_error_free (err);
      veil_descriptor_t d;
      err = NULL;
      if (veil_descriptor_parse (j, &d, &err) == 0)
        veil_descriptor_clear (&d);
      veil_error_free (err);
      json_decref (j);
    }

  if (size < 8192)
    {
      char *s = xstrndup ((const char *) data, size);
      veil_image_ref_t ref;
      err = NULL;
      if (veil_image_ref_parse (s, &ref, &err) == 0)
        {
          /* what we print must parse back to the same reference */
          char *f = veil_image_ref_format (&ref);
          veil_image_ref_t again;
          if (veil_image_ref_parse (f, &again, NULL) != 0)
            abort ();
          char *f2 = veil_image_ref_format (&again);
          if (strcmp (f, f2) != 0)
            abort ();
          free (f2);
          free (f);
          veil_image_ref_clear (&again);
          veil_image_ref_clear (&ref);
        }
      veil_error_free (err);
      (void) veil_digest_valid (s);
      free (s);
    }
  return 0;
}
