/* Fuzzes release policy validation and evaluation: the input is a policy
 * and a claims object, separated by the first newline.  Any JSON must give
 * 1, 0 (with a reason) or an error, never a crash or unbounded work. */
#include "veil/policy.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const uint8_t *nl = memchr (data, '\n', size);
  size_t plen = nl ? (size_t) (nl - data) : size;
  json_t *policy = json_loadb ((const char *) data, plen, JSON_DECODE_ANY, NULL);
  json_t *claims = nl ? json_loadb ((const char *) nl + 1, size - plen - 1, JSON_DECODE_ANY, NULL)
                      : json_object ();
  if (policy != NULL && claims != NULL)
    {
      veil_error_t *err = NULL;
      int valid = veil_release_policy_validate (policy, &err);
      veil_error_free (err);
      err = NULL;
      char *reason = NULL;
      int r = veil_release_policy_eval (policy, claims, &reason, &err);
      /* eval validates: the verdicts must agree (for claims that are an
       * object), and a refusal says why */
      if (json_is_object (claims) && (valid < 0) != (r < 0))
        abort ();
      if (r == 0 && reason == NULL)
        abort ();
      if (r != 0 && reason != NULL)
        abort ();
      free (reason);
      veil_error_free (err);
    }
  json_decref (policy);
  json_decref (claims);
  return 0;
}
