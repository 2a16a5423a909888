/* JSON helpers over jansson. */
#include "veil/base.h"

json_t *
veil_json_parse (const void *data, size_t len, size_t max_len, veil_error_t **err)
{
  if (len > max_len)
    {
      veil_error_set (err, E2BIG, "json: document of %zu bytes exceeds the limit of %zu", len, max_len);
      return NULL;
    }
  json_error_t je;
  json_t *j = json_loadb (data, len, JSON_REJECT_DUPLICATES, &je);
  if (!j)
    veil_error_set (err, EBADMSG, "json: %s at line %d column %d", je.text, je.line, je.column);
  return j;
}

char *
veil_json_dump (const json_t *j)
{
  char *s = json_dumps (j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
  if (!s)
    abort ();
  return s;
}

const char *
veil_json_str (const json_t *o, const char *key)
{
  json_t *v = json_is_object (o) ? json_object_get (o, key) : NULL;
  return json_is_string (v) ? json_string_value (v) : NULL;
}

const char *
veil_json_req_str (const json_t *o, const char *key, veil_error_t **err)
{
  json_t *v = json_is_object (o) ? json_object_get (o, key) : NULL;
  if (!v)
    {
      veil_error_set (err, EBADMSG, "field '%s': missing", key);
      return NULL;
    }
  if (!json_is_string (v))
    {
      veil_error_set (err, EBADMSG, "field '%s': not a string", key);
      return NULL;
    }
  return json_string_value (v);
}

json_t *
veil_json_req_obj (const json_t *o, const char *key, veil_error_t **err)
{
  json_t *v = json_is_object (o) ? json_object_get (o, key) : NULL;
  if (!v)
    {
      veil_error_set (err, EBADMSG, "field '%s': missing", key);
      return NULL;
    }
  if (!json_is_object (v))
    {
      veil_error_set (err, EBADMSG, "field '%s': not an object", key);
      return NULL;
    }
  return v;
}

int
veil_json_req_b64 (const json_t *o, const char *key, size_t max_len, uint8_t **out,
                   size_t *out_len, veil_error_t **err)
{
  const char *s = veil_json_req_str (o, key, err);
  if (!s)
    return -EBADMSG;
  if (strlen (s) / 4 * 3 > max_len + 3)
    return veil_error_set (err, E2BIG, "field '%s': longer than %zu bytes", key, max_len);
  if (veil_b64any_decode (s, out, out_len, err) < 0)
    return veil_error_wrap (err, "field '%s'", key);
  if (*out_len > max_len)
    {
      free (*out);
      *out = NULL;
      return veil_error_set (err, E2BIG, "field '%s': longer than %zu bytes", key, max_len);
    }
  return 0;
}
