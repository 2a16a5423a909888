/* Fuzzes the bounded JSON parser and the base64/hex decoders. */
#include "veil/base.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  veil_error_t *err = NULL;
  json_t *j = veil_json_parse (data, size, 1 << 20, &err);
  veil_error_free (err);
  json_decref (j);
  _cleanup_free_ char *s = xmemdup (data, size);
  uint8_t *out = NULL;
  size_t n = 0;
  err = NULL;
  if (veil_b64any_decode (s, &out, &n, &err) == 0)
    free (out);
  veil_error_free (err);
  err = NULL;
  out = NULL;
  if (veil_hex_decode (s, &out, &n, &err) == 0)
    free (out);
  veil_error_free (err);
  return 0;
}
