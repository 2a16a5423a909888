/* veil attest: the guest side of the KBS protocol from the command line —
 * with the sample TEE or a sim-CA-signed SNP report (tests, demos). */
#include <getopt.h>
#include <stdio.h>
#include "veil.h"

static const char attest_help[]
    = "usage: veil attest get-resource --kbs URL --tee sample|sim [options] PATH...\n"
      "       veil attest token --kbs URL --tee sample|sim [options]\n"
      "\n"
      "  --kbs URL           veil-trustee (or any Trustee KBS) base URL\n"
      "  --tee T             sample, or sim: SNP evidence signed by a sim CA\n"
      "  --sim-ca DIR        the sim CA (from `veil-trustee sim-ca init`) for --tee sim\n"
      "  --measurement HEX   measurement to put in the sim report (48 bytes)\n"
      "  --host-data HEX     host_data to put in the sim report (32 bytes)\n"
      "  --init-data FILE    init-data (TOML) sent with the evidence\n"
      "  --key-kind K        ephemeral key: P-256 (default), P-384, P-521, RSA-2048\n"
      "  --cacert FILE       CA bundle for an HTTPS KBS\n"
      "  --token-out FILE    write the EAR token to FILE\n"
      "\n"
      "get-resource prints each secret to stdout; token prints the token's claims.\n";

typedef struct attest_opts
{
  const char *kbs, *tee, *sim_ca, *init_data, *key_kind, *cacert, *token_out;
  veil_sim_report_params_t params;
} attest_opts_t;

static int
hex_into (const char *opt, const char *hex, uint8_t *out, size_t n, veil_error_t **err)
{
  _cleanup_free_ uint8_t *raw = NULL;
  size_t len = 0;
  if (veil_hex_decode (hex, &raw, &len, err) < 0 || len > n)
    return veil_error_set (err, EINVAL, "%s: up to %zu bytes of hex", opt, n);
  memcpy (out, raw, len);
  return 0;
}

static int
parse (int argc, char **argv, attest_opts_t *o, veil_error_t **err)
{
  static const struct option opts[] = {
    { "kbs", required_argument, NULL, 'k' },
    { "tee", required_argument, NULL, 't' },
    { "sim-ca", required_argument, NULL, 's' },
    { "measurement", required_argument, NULL, 'm' },
    { "host-data", required_argument, NULL, 'H' },
    { "init-data", required_argument, NULL, 'i' },
    { "key-kind", required_argument, NULL, 'K' },
    { "cacert", required_argument, NULL, 'c' },
    { "token-out", required_argument, NULL, 'o' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  int c;
  optind = 1;
  while ((c = getopt_long (argc, argv, "", opts, NULL)) != -1)
    {
      int r = 0;
      switch (c)
        {
        case 'k':
          o->kbs = optarg;
          break;
        case 't':
          o->tee = optarg;
          break;
        case 's':
          o->sim_ca = optarg;
          break;
        case 'm':
          r = hex_into ("--measurement", optarg, o->params.measurement, 48, err);
          break;
        case 'H':
          r = hex_into ("--host-data", optarg, o->params.host_data, 32, err);
          break;
        case 'i':
          o->init_data = optarg;
          break;
        case 'K':
          o->key_kind = optarg;
          break;
        case 'c':
          o->cacert = optarg;
          break;
        case 'o':
          o->token_out = optarg;
          break;
        case 'h':
          fputs (attest_help, stdout);
          return 1;
        default:
          fputs (attest_help, stderr);
          return veil_error_set (err, EINVAL, "bad option");
        }
      if (r < 0)
        return r;
    }
  if (!o->kbs || !o->tee)
    return veil_error_set (err, EINVAL, "--kbs and --tee are required (see --help)");
  if (strcmp (o->tee, "sample") && strcmp (o->tee, "sim"))
    return veil_error_set (err, EINVAL, "--tee: sample or sim (real TEEs attest from inside their guest)");
  if (!strcmp (o->tee, "sim") && !o->sim_ca)
    return veil_error_set (err, EINVAL, "--tee sim needs --sim-ca DIR");
  return 0;
}

static json_t *
load_init_data (const char *path, veil_error_t **err)
{
  _cleanup_free_ uint8_t *data = NULL;
  size_t len = 0;
  if (veil_file_read (path, 64 * 1024, &data, &len, err) < 0)
    return NULL;
  return json_pack ("{s:s, s:s%}", "format", "toml", "body", (char *) data, len);
}

int
cmd_attest (int argc, char **argv, veil_error_t **err)
{
  if (argc < 2 || (strcmp (argv[1], "get-resource") && strcmp (argv[1], "token")))
    {
      fputs (attest_help, argc < 2 ? stderr : stdout);
      return argc >= 2 && !strcmp (argv[1], "--help") ? 0 : veil_error_set (err, EINVAL, "attest: get-resource or token?");
    }
  bool token_only = !strcmp (argv[1], "token");
  attest_opts_t o = { 0 };
  int r = parse (argc - 1, argv + 1, &o, err);
  if (r != 0)
    return r < 0 ? r : 0;
  char **paths = argv + 1 + optind;
  int n_paths = argc - 1 - optind;
  if (!token_only && n_paths < 1)
    return veil_error_set (err, EINVAL, "get-resource: which resource path(s)?");
  veil_kbs_sim_ctx_t sim = { .params = o.params };
  if (o.sim_ca && !(sim.ca = veil_sim_ca_load (o.sim_ca, err)))
    return -EIO;
  _cleanup_json_ json_t *init = o.init_data ? load_init_data (o.init_data, err) : NULL;
  veil_kbs_client_opts_t co = {
    .url = o.kbs,
    .tee = !strcmp (o.tee, "sim") ? "snp" : "sample",
    .evidence = !strcmp (o.tee, "sim") ? veil_kbs_evidence_sim : veil_kbs_evidence_sample,
    .evidence_ctx = &sim,
    .key_kind = o.key_kind,
    .init_data = init,
    .http = { .ca_file = o.cacert },
  };
  veil_kbs_client_t *c = (!o.init_data || init) ? veil_kbs_client_new (&co, err) : NULL;
  r = c ? veil_kbs_client_attest (c, err) : -EIO;
  if (r == 0 && o.token_out)
    r = veil_file_write_atomic (o.token_out, veil_kbs_client_token (c),
                                strlen (veil_kbs_client_token (c)), 0600, err);
  if (r == 0 && token_only)
    {
      /* print the payload of our own token: the claims the KBS issued */
      const char *t = veil_kbs_client_token (c);
      const char *p1 = strchr (t, '.'), *p2 = p1 ? strchr (p1 + 1, '.') : NULL;
      _cleanup_free_ char *seg = p2 ? xstrndup (p1 + 1, (size_t) (p2 - p1 - 1)) : NULL;
      _cleanup_free_ uint8_t *payload = NULL;
      size_t len = 0;
      _cleanup_json_ json_t *claims = NULL;
      if (seg && veil_b64url_decode (seg, &payload, &len, err) == 0)
        claims = veil_json_parse (payload, len, 1 << 20, err);
      _cleanup_free_ char *out = claims ? json_dumps (claims, JSON_INDENT (2) | JSON_SORT_KEYS) : NULL;
      if (out)
        puts (out);
      else
        r = -EBADMSG;
    }
  for (int i = 0; r == 0 && !token_only && i < n_paths; i++)
    {
      _cleanup_secret_ uint8_t *secret = NULL;
      size_t len = 0;
      r = veil_kbs_client_get_resource (c, paths[i], &secret, &len, err);
      if (r == 0)
        {
          fwrite (secret, 1, len, stdout);
          fflush (stdout);
        }
    }
  veil_kbs_client_free (c);
  veil_sim_ca_free (sim.ca);
  return r;
}
