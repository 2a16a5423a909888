/* veil-trustee serve */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include "trustee.h"

static veil_http_server_t *running;

static void
on_signal (int sig)
{
  (void) sig;
  if (running)
    veil_http_server_stop (running);
}

static const char serve_help[]
    = "usage: veil-trustee serve --listen ADDR --state DIR [--config FILE]\n"
      "                          [--tls-cert FILE --tls-key FILE | --insecure-http] [--threads N]\n"
      "\n"
      "  --listen ADDR     address to listen on: 127.0.0.1:8080, [::1]:8080, unix:/path\n"
      "  --state DIR       state directory (database, signing key, at-rest key); created 0700\n"
      "  --config FILE     JSON configuration (see docs/trustee.md)\n"
      "  --tls-cert FILE   serve HTTPS with this certificate chain (PEM)\n"
      "  --tls-key FILE    and this private key (PEM)\n"
      "  --insecure-http   serve plain HTTP (loopback tests and behind a TLS proxy only)\n"
      "  --threads N       worker threads (default: number of CPUs)\n";

int
cmd_serve (int argc, char **argv, veil_error_t **err)
{
  static const struct option opts[] = {
    { "listen", required_argument, NULL, 'l' },
    { "state", required_argument, NULL, 's' },
    { "config", required_argument, NULL, 'c' },
    { "tls-cert", required_argument, NULL, 'C' },
    { "tls-key", required_argument, NULL, 'K' },
    { "insecure-http", no_argument, NULL, 'i' },
    { "threads", required_argument, NULL, 't' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  const char *listen = NULL, *state = NULL, *config = NULL, *cert = NULL, *key = NULL;
  bool insecure = false;
  int64_t threads = 0;
  int c;
  optind = 1;
  while ((c = getopt_long (argc, argv, "", opts, NULL)) != -1)
    switch (c)
      {
      case 'l':
        listen = optarg;
        break;
      case 's':
        state = optarg;
        break;
      case 'c':
        config = optarg;
        break;
      case 'C':
        cert = optarg;
        break;
      case 'K':
        key = optarg;
        break;
      case 'i':
        insecure = true;
        break;
      case 't':
        if (veil_parse_i64 (optarg, 1, 256, &threads, err) < 0)
          return veil_error_wrap (err, "--threads");
        break;
      case 'h':
        fputs (serve_help, stdout);
        return 0;
      default:
        fputs (serve_help, stderr);
        return veil_error_set (err, EINVAL, "bad option");
      }
  if (!listen || !state)
    return veil_error_set (err, EINVAL, "--listen and --state are required (see --help)");
  if (!!cert != !!key)
    return veil_error_set (err, EINVAL, "--tls-cert and --tls-key go together");
  if (!cert && !insecure)
    return veil_error_set (err, EINVAL,
                           "give --tls-cert/--tls-key, or --insecure-http to serve plain HTTP");
  veil_kbs_config_t cfg = { .state_dir = state };
  veil_kbs_config_file_t *file = NULL;
  if (config && !(file = veil_kbs_config_load (config, &cfg, err)))
    return -EINVAL;
  veil_kbs_t *kbs = veil_kbs_new (&cfg, err);
  if (!kbs)
    {
      veil_kbs_config_file_free (file);
      return -EIO;
    }
  veil_http_server_config_t hc = { .listen = listen, .tls_cert = cert, .tls_key = key, .threads = (int) threads, .handler = veil_kbs_handle, .ctx = kbs, .max_body = 1 << 20 };
  running = veil_http_server_new (&hc, err);
  int r = -EIO;
  if (running)
    {
      struct sigaction sa = { .sa_handler = on_signal };
      sigaction (SIGINT, &sa, NULL);
      sigaction (SIGTERM, &sa, NULL);
      signal (SIGPIPE, SIG_IGN);
      veil_log_info ("trustee", "serving", "listen=%s port=%d tls=%s sample=%s sim_roots=%d admin=%s",
                     listen, veil_http_server_port (running), cert ? "on" : "off",
                     cfg.attest.allow_sample ? "allowed" : "refused",
                     cfg.attest.sim_roots ? sk_X509_num (cfg.attest.sim_roots) : 0,
                     cfg.admin_key ? "on" : "off");
      r = veil_http_server_run (running, err);
      veil_http_server_free (running);
      running = NULL;
    }
  veil_kbs_free (kbs);
  veil_kbs_config_file_free (file);
  return r;
}
