/* jose-tool: a thin command-line front end to veil's JOSE and JCS code, so
 * that tests can exchange keys, tokens and JWEs with other implementations.
 * Every verb reads stdin and writes stdout; errors go to stderr, exit 1. */
#include <stdio.h>
#include "veil/crypto.h"

#define TOOL_MAX_INPUT (64u << 20)

static uint8_t *
read_stdin (size_t *len)
{
  veil_buf_t b = { 0 };
  uint8_t chunk[65536];
  size_t n;
  while ((n = fread (chunk, 1, sizeof (chunk), stdin)) > 0)
    {
      if (b.len + n > TOOL_MAX_INPUT)
        {
          fputs ("jose-tool: input too large\n", stderr);
          exit (1);
        }
      veil_buf_append (&b, chunk, n);
    }
  *len = b.len;
  return b.data ? b.data : xcalloc (1, 1);
}

static int
fail (veil_error_t *err)
{
  fprintf (stderr, "jose-tool: %s\n", err ? err->msg : "failed");
  veil_error_free (err);
  return 1;
}

static json_t *
load_json_file (const char *path, veil_error_t **err)
{
  _cleanup_free_ uint8_t *data = NULL;
  size_t len = 0;
  if (veil_file_read (path, 1 << 20, &data, &len, err) < 0)
    return NULL;
  return veil_json_parse (data, len, 1 << 20, err);
}

static void
print_json (const json_t *j)
{
  char *s = json_dumps (j, JSON_COMPACT | JSON_ENCODE_ANY);
  puts (s);
  free (s);
}

static int
cmd_jwe_encrypt (int argc, char **argv)
{
  veil_error_t *err = NULL;
  if (argc < 1)
    return 2;
  _cleanup_json_ json_t *jwk = load_json_file (argv[0], &err);
  if (!jwk)
    return fail (err);
  size_t len;
  _cleanup_free_ uint8_t *pt = read_stdin (&len);
  _cleanup_json_ json_t *jwe = veil_jwe_encrypt_enc (jwk, argc > 1 ? argv[1] : NULL,
                                                     argc > 2 ? argv[2] : NULL, pt, len, &err);
  if (!jwe)
    return fail (err);
  print_json (jwe);
  return 0;
}

static int
cmd_jwe_compact (int argc, char **argv)
{
  (void) argc;
  (void) argv;
  veil_error_t *err = NULL;
  size_t len;
  _cleanup_free_ uint8_t *in = read_stdin (&len);
  _cleanup_json_ json_t *jwe = veil_json_parse (in, len, TOOL_MAX_INPUT, &err);
  if (!jwe)
    return fail (err);
  _cleanup_free_ char *c = veil_jwe_to_compact (jwe, &err);
  if (!c)
    return fail (err);
  puts (c);
  return 0;
}

static int
cmd_jwe_decrypt (int argc, char **argv)
{
  veil_error_t *err = NULL;
  if (argc < 1)
    return 2;
  _cleanup_pkey_ EVP_PKEY *key = veil_pkey_load_file (argv[0], &err);
  if (!key)
    return fail (err);
  size_t len;
  _cleanup_free_ uint8_t *in = read_stdin (&len);
  while (len && (in[len - 1] == '\n' || in[len - 1] == '\r' || in[len - 1] == ' '))
    in[--len] = 0;
  /* JSON (object, or compact as a JSON string) or bare compact text */
  _cleanup_json_ json_t *jwe = NULL;
  if (len && in[0] == '{')
    jwe = veil_json_parse (in, len, TOOL_MAX_INPUT, &err);
  else if (len && in[0] == '"')
    {
      json_error_t je;
      if (!(jwe = json_loadb ((const char *) in, len, JSON_DECODE_ANY, &je)))
        veil_error_set (&err, EBADMSG, "json: %s", je.text);
    }
  else
    jwe = json_stringn ((const char *) in, len);
  if (!jwe)
    return fail (err);
  _cleanup_secret_ uint8_t *pt = NULL;
  size_t pt_len = 0;
  if (veil_jwe_decrypt (jwe, key, &pt, &pt_len, &err) < 0)
    return fail (err);
  fwrite (pt, 1, pt_len, stdout);
  return 0;
}

static int
cmd_jws_sign (int argc, char **argv)
{
  veil_error_t *err = NULL;
  if (argc < 2)
    return 2;
  _cleanup_pkey_ EVP_PKEY *key = veil_pkey_load_file (argv[0], &err);
  if (!key)
    return fail (err);
  size_t len;
  _cleanup_free_ uint8_t *in = read_stdin (&len);
  _cleanup_json_ json_t *extra = NULL;
  if (argc > 2)
    {
      extra = veil_json_parse (argv[2], strlen (argv[2]), 1 << 16, &err);
      if (!extra)
        return fail (err);
    }
  _cleanup_free_ char *jws = veil_jws_sign (extra, in, len, key, argv[1], &err);
  if (!jws)
    return fail (err);
  puts (jws);
  return 0;
}

static int
cmd_jws_verify (int argc, char **argv)
{
  veil_error_t *err = NULL;
  if (argc < 1)
    return 2;
  _cleanup_pkey_ EVP_PKEY *key = veil_pkey_load_file (argv[0], &err);
  if (!key)
    return fail (err);
  size_t len;
  _cleanup_free_ uint8_t *in = read_stdin (&len);
  while (len && (in[len - 1] == '\n' || in[len - 1] == '\r' || in[len - 1] == ' '))
    in[--len] = 0;
  _cleanup_free_ uint8_t *payload = NULL;
  size_t plen = 0;
  if (veil_jws_verify ((const char *) in, key, NULL, &payload, &plen, &err) < 0)
    return fail (err);
  fwrite (payload, 1, plen, stdout);
  return 0;
}

static int
cmd_jwt_verify (int argc, char **argv)
{
  veil_error_t *err = NULL;
  int64_t now = 0, leeway = 0;
  if (argc < 3)
    return 2;
  if (veil_parse_i64 (argv[1], INT64_MIN, INT64_MAX, &now, &err) < 0
      || veil_parse_i64 (argv[2], 0, 86400, &leeway, &err) < 0)
    return fail (err);
  _cleanup_pkey_ EVP_PKEY *key = veil_pkey_load_file (argv[0], &err);
  if (!key)
    return fail (err);
  size_t len;
  _cleanup_free_ uint8_t *in = read_stdin (&len);
  while (len && (in[len - 1] == '\n' || in[len - 1] == '\r'))
    in[--len] = 0;
  _cleanup_json_ json_t *claims = veil_jwt_verify ((const char *) in, key, now, leeway, &err);
  if (!claims)
    return fail (err);
  print_json (claims);
  return 0;
}

static int
cmd_jwk_from_pem (int argc, char **argv)
{
  veil_error_t *err = NULL;
  if (argc < 1)
    return 2;
  _cleanup_pkey_ EVP_PKEY *key = veil_pkey_load_file (argv[0], &err);
  if (!key)
    return fail (err);
  bool priv = argc > 1 && !strcmp (argv[1], "private");
  _cleanup_json_ json_t *jwk = veil_jwk_from_pkey (key, priv, &err);
  if (!jwk)
    return fail (err);
  print_json (jwk);
  return 0;
}

static int
cmd_jwk_to_pem (int argc, char **argv)
{
  veil_error_t *err = NULL;
  if (argc < 1)
    return 2;
  _cleanup_json_ json_t *jwk = load_json_file (argv[0], &err);
  if (!jwk)
    return fail (err);
  _cleanup_pkey_ EVP_PKEY *key = veil_jwk_to_pkey (jwk, &err);
  if (!key)
    return fail (err);
  bool priv = argc > 1 && !strcmp (argv[1], "private");
  _cleanup_free_ char *pem = veil_pkey_to_pem (key, priv);
  fputs (pem, stdout);
  return 0;
}

static int
cmd_thumbprint (int argc, char **argv)
{
  veil_error_t *err = NULL;
  if (argc < 1)
    return 2;
  _cleanup_json_ json_t *jwk = load_json_file (argv[0], &err);
  if (!jwk)
    return fail (err);
  _cleanup_free_ char *t = veil_jwk_thumbprint (jwk, &err);
  if (!t)
    return fail (err);
  puts (t);
  return 0;
}

static int
cmd_jcs (int argc, char **argv)
{
  (void) argc;
  (void) argv;
  veil_error_t *err = NULL;
  size_t len;
  _cleanup_free_ uint8_t *in = read_stdin (&len);
  _cleanup_json_ json_t *j = veil_json_parse (in, len, TOOL_MAX_INPUT, &err);
  if (!j)
    return fail (err);
  _cleanup_free_ char *s = veil_jcs (j, &err);
  if (!s)
    return fail (err);
  fputs (s, stdout);
  return 0;
}

static const struct
{
  const char *name;
  int (*fn) (int argc, char **argv);
  const char *usage;
} verbs[] = {
  { "jwe-encrypt", cmd_jwe_encrypt, "JWK_FILE [ALG [ENC]]  < plaintext" },
  { "jwe-decrypt", cmd_jwe_decrypt, "KEY_PEM  < JWE (JSON or compact)" },
  { "jwe-compact", cmd_jwe_compact, " < flattened JWE" },
  { "jws-sign", cmd_jws_sign, "KEY_PEM ALG [HEADER_JSON]  < payload" },
  { "jws-verify", cmd_jws_verify, "PUB_PEM  < compact JWS" },
  { "jwt-verify", cmd_jwt_verify, "PUB_PEM NOW LEEWAY  < JWT" },
  { "jwk-from-pem", cmd_jwk_from_pem, "PEM [private]" },
  { "jwk-to-pem", cmd_jwk_to_pem, "JWK_FILE [private]" },
  { "thumbprint", cmd_thumbprint, "JWK_FILE" },
  { "jcs", cmd_jcs, " < JSON" },
};

int
main (int argc, char **argv)
{
  for (size_t i = 0; argc > 1 && i < VEIL_ARRAY_SIZE (verbs); i++)
    if (!strcmp (argv[1], verbs[i].name))
      {
        int r = verbs[i].fn (argc - 2, argv + 2);
        if (r == 2)
          fprintf (stderr, "usage: jose-tool %s %s\n", verbs[i].name, verbs[i].usage);
        return r;
      }
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (verbs); i++)
    fprintf (stderr, "usage: jose-tool %s %s\n", verbs[i].name, verbs[i].usage);
  return 2;
}
