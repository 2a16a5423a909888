/* Complete RCAR flows (auth + attest + one resource) against a running
 * veil-trustee with sim-root SNP evidence, from concurrent clients, for a
 * bounded time.  Prints one CSV line:
 *   clients,flows,errors,seconds,flows_per_s,p50_ms,p99_ms,evidence_p50_ms,p50_without_evidence_ms
 * where the evidence columns are the time the simulated guest spent making
 * its evidence (signing the SNP report with P-384: the secure processor's
 * work on real hardware, not the service's).
 * usage: bench-trustee URL SIM_CA_DIR RESOURCE CLIENTS SECONDS MEASUREMENT_HEX */
#include <pthread.h>
#include <stdio.h>
#include "veil/kbs.h"

/* Times the sim evidence callback, so that the guest's own signing can be
 * told apart from the service's latency. */
typedef struct timed_sim
{
  veil_kbs_sim_ctx_t sim;
  uint64_t ns;
} timed_sim_t;

static json_t *
timed_evidence (void *ctx, const char *tee, const uint8_t report_data[64], veil_error_t **err)
{
  timed_sim_t *t = ctx;
  uint64_t t0 = veil_now_mono_ns ();
  json_t *ev = veil_kbs_evidence_sim (&t->sim, tee, report_data, err);
  t->ns += veil_now_mono_ns () - t0;
  return ev;
}

typedef struct worker
{
  const char *url, *ca_dir, *resource;
  uint8_t measurement[48];
  uint64_t deadline_ns;
  double *lat_ms, *ev_ms;
  size_t n, cap, errors;
  uint64_t last_evidence_ns;
  char first_error[256];
} worker_t;

static int
one_flow (worker_t *w, veil_sim_ca_t *ca)
{
  timed_sim_t sim = { .sim = { .ca = ca } };
  memcpy (sim.sim.params.measurement, w->measurement, 48);
  veil_kbs_client_opts_t o = { .url = w->url, .tee = "snp", .evidence = timed_evidence, .evidence_ctx = &sim };
  veil_error_t *err = NULL;
  veil_kbs_client_t *c = veil_kbs_client_new (&o, &err);
  uint8_t *secret = NULL;
  size_t len = 0;
  int r = c ? veil_kbs_client_get_resource (c, w->resource, &secret, &len, &err) : -1;
  if (r < 0 && !w->first_error[0])
    snprintf (w->first_error, sizeof (w->first_error), "%s", err ? err->msg : "?");
  veil_secret_free (secret);
  veil_kbs_client_free (c);
  veil_error_free (err);
  w->last_evidence_ns = sim.ns;
  return r;
}

static void *
run (void *arg)
{
  worker_t *w = arg;
  veil_error_t *err = NULL;
  veil_sim_ca_t *ca = veil_sim_ca_load (w->ca_dir, &err);
  if (!ca)
    {
      snprintf (w->first_error, sizeof (w->first_error), "%s", err->msg);
      w->errors++;
      veil_error_free (err);
      return NULL;
    }
  while (veil_now_mono_ns () < w->deadline_ns)
    {
      uint64_t t0 = veil_now_mono_ns ();
      if (one_flow (w, ca) < 0)
        {
          w->errors++;
          continue;
        }
      if (w->n == w->cap)
        {
          w->cap = w->cap ? w->cap * 2 : 1024;
          w->lat_ms = xrealloc (w->lat_ms, w->cap * sizeof (double));
          w->ev_ms = xrealloc (w->ev_ms, w->cap * sizeof (double));
        }
      w->ev_ms[w->n] = (double) w->last_evidence_ns / 1e6;
      w->lat_ms[w->n++] = (double) (veil_now_mono_ns () - t0) / 1e6;
    }
  veil_sim_ca_free (ca);
  return NULL;
}

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

int
main (int argc, char **argv)
{
  if (argc != 7)
    {
      fprintf (stderr, "usage: bench-trustee URL SIM_CA_DIR RESOURCE CLIENTS SECONDS MEASUREMENT_HEX\n");
      return 2;
    }
  int64_t clients, seconds;
  if (veil_parse_i64 (argv[4], 1, 64, &clients, NULL) < 0
      || veil_parse_i64 (argv[5], 1, 120, &seconds, NULL) < 0)
    {
      fprintf (stderr, "bench-trustee: CLIENTS 1-64, SECONDS 1-120\n");
      return 2;
    }
  worker_t *w = xcalloc ((size_t) clients, sizeof (*w));
  pthread_t *th = xcalloc ((size_t) clients, sizeof (*th));
  uint64_t start = veil_now_mono_ns ();
  for (int64_t i = 0; i < clients; i++)
    {
      w[i] = (worker_t){ .url = argv[1], .ca_dir = argv[2], .resource = argv[3], .deadline_ns = start + (uint64_t) seconds * 1000000000ull };
      if (veil_hex_decode_exact (argv[6], w[i].measurement, 48, NULL) < 0)
        return 2;
      pthread_create (&th[i], NULL, run, &w[i]);
    }
  size_t total = 0, errors = 0;
  for (int64_t i = 0; i < clients; i++)
    {
      pthread_join (th[i], NULL);
      total += w[i].n;
      errors += w[i].errors;
    }
  double secs = (double) (veil_now_mono_ns () - start) / 1e9;
  double *all = xcalloc (total + 1, sizeof (double));
  double *ev = xcalloc (total + 1, sizeof (double)), *net = xcalloc (total + 1, sizeof (double));
  size_t k = 0;
  for (int64_t i = 0; i < clients; i++)
    {
      memcpy (all + k, w[i].lat_ms, w[i].n * sizeof (double));
      memcpy (ev + k, w[i].ev_ms, w[i].n * sizeof (double));
      for (size_t j = 0; j < w[i].n; j++)
        net[k + j] = w[i].lat_ms[j] - w[i].ev_ms[j];
      k += w[i].n;
      if (w[i].first_error[0])
        fprintf (stderr, "bench-trustee: client %lld: %s\n", (long long) i, w[i].first_error);
    }
  qsort (all, total, sizeof (double), cmp_double);
  qsort (ev, total, sizeof (double), cmp_double);
  qsort (net, total, sizeof (double), cmp_double);
  double p50 = total ? all[total / 2] : 0, p99 = total ? all[(size_t) ((double) total * 0.99)] : 0;
  printf ("%lld,%zu,%zu,%.2f,%.1f,%.3f,%.3f,%.3f,%.3f\n", (long long) clients, total, errors, secs,
          (double) total / secs, p50, p99, total ? ev[total / 2] : 0, total ? net[total / 2] : 0);
  return errors && !total ? 1 : 0;
}
