/* Fuzzes what a tenant hands veild as a Service manifest: the bounded YAML
 * loader, the JSON path, and validation.  What parses must give a
 * canonical template, a digest and a revision name. */
#include "veil/serving.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  veil_service_t *svc = NULL;
  veil_error_t *err = NULL;
  if (veil_service_parse (data, size, &svc, &err) == 0)
    {
      if (!svc->name || !svc->container.image || svc->n_traffic == 0)
        abort ();
      char *d = veil_service_template_digest (svc, NULL);
      if (!d)
        abort ();
      free (d);
      char *rev = veil_service_revision_name (svc, 1);
      free (rev);
      veil_service_free (svc);
    }
  else if (!err || !err->msg)
    abort ();
  veil_error_free (err);

  if (size < 256)
    {
      char *s = xstrndup ((const char *) data, size);
      int64_t v;
      (void) veil_service_quantity_bytes (s, &v, NULL);
      (void) veil_service_quantity_millis (s, &v, NULL);
      (void) veil_service_duration_ms (s, &v, NULL);
      free (s);
    }
  return 0;
}
