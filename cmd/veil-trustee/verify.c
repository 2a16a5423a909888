/* veil-trustee verify: offline verification of one piece of evidence. */
#include <getopt.h>
#include <stdio.h>
#include "trustee.h"

#define EVIDENCE_MAX (4 << 20)

static const char verify_help[]
    = "usage: veil-trustee verify --tee snp|tdx|tpm|az-snp-vtpm|sample --evidence FILE\n"
      "                           [--vcek FILE] [--collateral DIR] [--config FILE]\n"
      "                           [--report-data HEX] [--allow-debug] [--at UNIX_TIME]\n"
      "\n"
      "Prints the claims as JSON and exits 0 when the evidence verifies; exits 1\n"
      "with the reason otherwise.  FILE may be JSON evidence (as sent to /attest)\n"
      "or raw: an SNP report (with --vcek) or a TDX quote.  --at checks certificate\n"
      "validity at that time instead of now (evidence captured in the past).\n";

/* A raw (non-JSON) evidence file becomes the compact JSON form. */
static json_t *
evidence_from_file (const char *tee, const uint8_t *data, size_t len, const char *vcek,
                    veil_error_t **err)
{
  if (len && (data[0] == '{' || data[0] == ' ' || data[0] == '\n'))
    return veil_json_parse (data, len, EVIDENCE_MAX, err);
  _cleanup_free_ char *b64 = veil_b64_encode (data, len);
  if (!strcmp (tee, "tdx"))
    return json_pack ("{s:s}", "quote", b64);
  if (strcmp (tee, "snp") != 0)
    {
      veil_error_set (err, EINVAL, "raw evidence is understood for snp and tdx only; give JSON");
      return NULL;
    }
  json_t *chain = json_array ();
  if (vcek)
    {
      _cleanup_free_ uint8_t *c = NULL;
      size_t cl = 0;
      if (veil_file_read (vcek, 64 * 1024, &c, &cl, err) < 0)
        {
          json_decref (chain);
          return NULL;
        }
      if (memmem (c, cl, "-----BEGIN", 10))
        json_array_append_new (chain, json_stringn ((char *) c, cl));
      else
        {
          _cleanup_free_ char *cb = veil_b64_encode (c, cl);
          json_array_append_new (chain, json_string (cb));
        }
    }
  return json_pack ("{s:s, s:o}", "report", b64, "cert_chain", chain);
}

int
cmd_verify (int argc, char **argv, veil_error_t **err)
{
  static const struct option opts[] = {
    { "tee", required_argument, NULL, 't' },
    { "evidence", required_argument, NULL, 'e' },
    { "vcek", required_argument, NULL, 'v' },
    { "collateral", required_argument, NULL, 'C' },
    { "config", required_argument, NULL, 'c' },
    { "report-data", required_argument, NULL, 'r' },
    { "allow-debug", no_argument, NULL, 'd' },
    { "help", no_argument, NULL, 'h' },
    { "at", required_argument, NULL, 'a' },
    { NULL, 0, NULL, 0 },
  };
  const char *tee = NULL, *evidence = NULL, *vcek = NULL, *collateral = NULL, *config = NULL,
             *report_data = NULL;
  bool allow_debug = false;
  int64_t at = 0;
  int c;
  optind = 1;
  while ((c = getopt_long (argc, argv, "", opts, NULL)) != -1)
    switch (c)
      {
      case 't':
        tee = optarg;
        break;
      case 'e':
        evidence = optarg;
        break;
      case 'v':
        vcek = optarg;
        break;
      case 'C':
        collateral = optarg;
        break;
      case 'c':
        config = optarg;
        break;
      case 'r':
        report_data = optarg;
        break;
      case 'd':
        allow_debug = true;
        break;
      case 'a':
        if (veil_parse_i64 (optarg, 1, INT64_MAX / 2, &at, err) < 0)
          return veil_error_wrap (err, "--at");
        break;
      case 'h':
        fputs (verify_help, stdout);
        return 0;
      default:
        fputs (verify_help, stderr);
        return veil_error_set (err, EINVAL, "bad option");
      }
  if (!tee || !evidence)
    return veil_error_set (err, EINVAL, "--tee and --evidence are required (see --help)");
  veil_kbs_config_t cfg = { 0 };
  _cleanup_ (veil_kbs_config_file_freep) veil_kbs_config_file_t *file = NULL;
  if (config && !(file = veil_kbs_config_load (config, &cfg, err)))
    return -EINVAL;
  if (allow_debug)
    cfg.attest.allow_debug = true;
  if (at)
    cfg.attest.now = at;
  if (collateral)
    cfg.attest.tdx_collateral_dir = collateral;
  if (!strcmp (tee, "sample"))
    cfg.attest.allow_sample = true;
  /* offline inspection: a TPM quote is checked against the AK it carries;
   * its ak_public_sha256 claim is what a service's tpm.trusted_aks lists */
  if (!cfg.attest.n_tpm_trusted_aks)
    cfg.attest.tpm_any_ak = true;
  _cleanup_free_ uint8_t *data = NULL;
  size_t len = 0;
  if (read_input (evidence, EVIDENCE_MAX, &data, &len, err) < 0)
    return -EIO;
  _cleanup_json_ json_t *ev = evidence_from_file (tee, data, len, vcek, err);
  if (!ev)
    return veil_error_wrap (err, "%s", evidence);
  uint8_t rd[64] = { 0 };
  veil_attest_expect_t expect = { 0 };
  if (report_data)
    {
      _cleanup_free_ uint8_t *raw = NULL;
      size_t n = 0;
      if (veil_hex_decode (report_data, &raw, &n, err) < 0 || n > 64)
        return veil_error_set (err, EINVAL, "--report-data: up to 64 bytes of hex");
      memcpy (rd, raw, n);
      expect.report_data = rd;
      expect.report_data_len = !strcmp (tee, "sample") ? n : 64;
    }
  _cleanup_json_ json_t *claims = veil_attest_verify (tee, ev, &expect, &cfg.attest, err);
  if (!claims)
    return -EKEYREJECTED;
  _cleanup_free_ char *out = json_dumps (claims, JSON_INDENT (2) | JSON_SORT_KEYS);
  puts (out);
  return 0;
}
