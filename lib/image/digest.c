/* Content digests of OCI descriptors (image-spec "Digests"): veil accepts
 * only sha256, the algorithm every registry and image builder uses; a
 * registered-but-unused algorithm (sha512) would only widen what an attacker
 * can steer us into. */
#include "veil/image.h"

bool
veil_digest_valid (const char *digest)
{
  if (digest == NULL || strncmp (digest, "sha256:", 7) != 0)
    return false;
  const char *h = digest + 7;
  size_t n = 0;
  /* lowercase hex only: the spec's encoded form for sha256 is [a-f0-9]{64},
   * and one spelling per blob keeps store paths unique */
  for (; h[n]; n++)
    if (!((h[n] >= '0' && h[n] <= '9') || (h[n] >= 'a' && h[n] <= 'f')))
      return false;
  return n == 64;
}

char *
veil_digest_of (const void *data, size_t len)
{
  uint8_t md[VEIL_SHA256_LEN];
  veil_sha256 (data, len, md);
  _cleanup_free_ char *hex = veil_hex_encode (md, sizeof md);
  return xasprintf ("sha256:%s", hex);
}
