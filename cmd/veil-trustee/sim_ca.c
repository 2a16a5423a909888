/* veil-trustee sim-ca: a software SNP root for machines without SNP.
 * Everything it signs is marked "sim": true by the verifier and never
 * satisfies a release policy that does not name sim.  INSECURE by design. */
#include <getopt.h>
#include <stdio.h>
#include "trustee.h"

static const char sim_help[]
    = "usage: veil-trustee sim-ca init DIR [--tcb BL,TEE,SNP,UCODE]\n"
      "       veil-trustee sim-ca report --ca DIR [--report-data HEX] [--measurement HEX]\n"
      "                                  [--host-data HEX] [--policy N] [--vmpl N]\n"
      "                                  [--out FILE]\n"
      "\n"
      "init    creates DIR/{ark.pem,ask.pem,vcek.pem,vcek.key,chip_id}: a root whose\n"
      "        certificates are laid out like AMD's (list ark.pem under sim_roots in\n"
      "        veil-trustee's config to accept it).\n"
      "report  signs an SNP report with the sim VCEK; writes the raw report to --out,\n"
      "        or prints the JSON evidence {\"report\", \"cert_chain\"} to stdout.\n";

static int
hex_field (const char *opt, const char *hex, uint8_t *out, size_t n, veil_error_t **err)
{
  _cleanup_free_ uint8_t *raw = NULL;
  size_t len = 0;
  if (veil_hex_decode (hex, &raw, &len, err) < 0 || len > n)
    return veil_error_set (err, EINVAL, "%s: up to %zu bytes of hex", opt, n);
  memset (out, 0, n);
  memcpy (out, raw, len);
  return 0;
}

static int
sim_init (int argc, char **argv, veil_error_t **err)
{
  veil_snp_tcb_t tcb = { .bootloader = 3, .tee = 0, .snp = 8, .microcode = 115 };
  const char *dir = NULL;
  for (int i = 1; i < argc; i++)
    {
      if (!strcmp (argv[i], "--tcb") && i + 1 < argc)
        {
          unsigned bl, tee, snp, uc;
          if (sscanf (argv[++i], "%u,%u,%u,%u", &bl, &tee, &snp, &uc) != 4 || bl > 255 || tee > 255
              || snp > 255 || uc > 255)
            return veil_error_set (err, EINVAL, "--tcb: four numbers 0-255: BL,TEE,SNP,UCODE");
          tcb = (veil_snp_tcb_t){ .bootloader = (uint8_t) bl, .tee = (uint8_t) tee, .snp = (uint8_t) snp, .microcode = (uint8_t) uc };
        }
      else if (!dir && argv[i][0] != '-')
        dir = argv[i];
      else
        return veil_error_set (err, EINVAL, "sim-ca init: unexpected '%s'", argv[i]);
    }
  if (!dir)
    return veil_error_set (err, EINVAL, "sim-ca init: DIR required");
  if (veil_sim_ca_init (dir, &tcb, err) < 0)
    return -EIO;
  fprintf (stderr, "sim CA (INSECURE, for tests) created in %s; trust it with \"sim_roots\": [\"%s/ark.pem\"]\n",
           dir, dir);
  return 0;
}

static int
sim_report (int argc, char **argv, veil_error_t **err)
{
  static const struct option opts[] = {
    { "ca", required_argument, NULL, 'c' },
    { "report-data", required_argument, NULL, 'r' },
    { "measurement", required_argument, NULL, 'm' },
    { "host-data", required_argument, NULL, 'H' },
    { "policy", required_argument, NULL, 'p' },
    { "vmpl", required_argument, NULL, 'v' },
    { "out", required_argument, NULL, 'o' },
    { NULL, 0, NULL, 0 },
  };
  veil_sim_report_params_t p = { 0 };
  const char *ca_dir = NULL, *out = NULL;
  int64_t v;
  int c;
  optind = 1;
  while ((c = getopt_long (argc, argv, "", opts, NULL)) != -1)
    {
      int r = 0;
      switch (c)
        {
        case 'c':
          ca_dir = optarg;
          break;
        case 'r':
          r = hex_field ("--report-data", optarg, p.report_data, 64, err);
          break;
        case 'm':
          r = hex_field ("--measurement", optarg, p.measurement, 48, err);
          break;
        case 'H':
          r = hex_field ("--host-data", optarg, p.host_data, 32, err);
          break;
        case 'p':
          r = veil_parse_i64 (optarg, 0, INT64_MAX, &v, err);
          p.policy = (uint64_t) v;
          break;
        case 'v':
          r = veil_parse_i64 (optarg, 0, 3, &v, err);
          p.vmpl = (uint32_t) v;
          break;
        case 'o':
          out = optarg;
          break;
        default:
          return veil_error_set (err, EINVAL, "bad option (see --help)");
        }
      if (r < 0)
        return r;
    }
  if (!ca_dir)
    return veil_error_set (err, EINVAL, "sim-ca report: --ca DIR required");
  veil_sim_ca_t *ca = veil_sim_ca_load (ca_dir, err);
  if (!ca)
    return -EIO;
  int r = 0;
  if (out)
    {
      uint8_t report[VEIL_SNP_REPORT_SIZE];
      r = veil_sim_ca_sign_report (ca, &p, report, err);
      if (r == 0)
        r = veil_file_write_atomic (out, report, sizeof (report), 0644, err);
    }
  else
    {
      _cleanup_json_ json_t *ev = veil_sim_ca_evidence (ca, &p, err);
      if (!ev)
        r = -EIO;
      else
        {
          _cleanup_free_ char *s = json_dumps (ev, JSON_INDENT (2));
          puts (s);
        }
    }
  veil_sim_ca_free (ca);
  return r;
}

int
cmd_sim_ca (int argc, char **argv, veil_error_t **err)
{
  if (argc < 2 || !strcmp (argv[1], "--help"))
    {
      fputs (sim_help, argc < 2 ? stderr : stdout);
      return argc < 2 ? veil_error_set (err, EINVAL, "sim-ca: init or report?") : 0;
    }
  if (!strcmp (argv[1], "init"))
    return sim_init (argc - 1, argv + 1, err);
  if (!strcmp (argv[1], "report"))
    return sim_report (argc - 1, argv + 1, err);
  return veil_error_set (err, EINVAL, "sim-ca: unknown subcommand '%s'", argv[1]);
}
