/* veil image: pull, push, list, inspect and prune OCI images in the content
 * store (STATE/images; STATE is --state, else $VEIL_STATE, else
 * $HOME/.local/share/veil). */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <time.h>
#include "veil.h"
#include "veil/image.h"
#include "veil/kbs.h"

static const char image_help[]
    = "usage: veil image <verb> [options]\n"
      "\n"
      "  pull REF [--insecure-registry] [--authfile F] [--ca-file F] [--quiet]\n"
      "        fetch an image (registry/repo:tag, …@sha256:…, oci:DIR[:TAG]) into the store;\n"
      "        prints the manifest digest\n"
      "  push SRC DST [--insecure-registry] [--authfile F] [--ca-file F] [--chunk-size N] [--quiet]\n"
      "        SRC: an image in the store or oci:DIR[:TAG]; DST: registry/repo:tag\n"
      "  list [-o json]                 the images in the store\n"
      "  inspect REF [-o json]          manifest, config and layers of a stored image\n"
      "  prune                          remove blobs and layers no image refers to\n"
      "  unpack REF DIR [--decryption-key F]… [--kbs URL [--kbs-tee sample|sim] [--sim-ca DIR]\n"
      "          [--sim-measurement HEX]]\n"
      "        DIR/rootfs (every layer, verified, decrypted as needed) and DIR/config.json\n"
      "        (an OCI runtime bundle); REF is pulled first when not in the store\n"
      "  encrypt SRC DST [--recipient jwe:PUB.pem]… [--keyprovider kbs --kid kbs:///R/T/ID\n"
      "          --kek-file F] [--layer N]…\n"
      "        SRC: an image in the store or oci:DIR[:TAG]; DST: a name for the store, or\n"
      "        oci:DIR[:TAG] to write an OCI layout (skopeo/CoCo can decrypt the result)\n"
      "\n"
      "  --state DIR   state directory (default $VEIL_STATE, else $HOME/.local/share/veil);\n"
      "                the store is DIR/images\n"
      "  --insecure-registry   plain HTTP (loopback registries only)\n"
      "  --authfile F  docker-style auth.json (default $REGISTRY_AUTH_FILE)\n";

enum
{
  OPT_STATE = 1000,
  OPT_INSECURE,
  OPT_AUTHFILE,
  OPT_CAFILE,
  OPT_CHUNK,
  OPT_QUIET,
  OPT_OUTPUT,
  OPT_DECKEY,
  OPT_KBS,
  OPT_KBS_TEE,
  OPT_SIM_CA,
  OPT_KBS_CACERT,
  OPT_RECIPIENT,
  OPT_KEYPROVIDER,
  OPT_KID,
  OPT_KEK_FILE,
  OPT_LAYER,
  OPT_SIM_MEASUREMENT,
};

#define MAX_MULTI 16

typedef struct image_opts
{
  const char *state, *authfile, *ca_file, *output;
  bool insecure, quiet;
  size_t chunk;
  int n_args;
  char **args;
  const char *deckeys[MAX_MULTI], *recipients[MAX_MULTI];
  size_t n_deckeys, n_recipients;
  const char *kbs, *kbs_tee, *sim_ca, *kbs_cacert, *keyprovider, *kid, *kek_file, *sim_measurement;
  int layers[MAX_MULTI];
  size_t n_layers;
} image_opts_t;

static int
add_multi (const char **arr, size_t *n, const char *v, const char *opt, veil_error_t **err)
{
  if (*n >= MAX_MULTI)
    return veil_error_set (err, E2BIG, "%s: at most %d times", opt, MAX_MULTI);
  arr[(*n)++] = v;
  return 0;
}

static int
parse (int argc, char **argv, image_opts_t *o, veil_error_t **err)
{
  static const struct option opts[] = {
    { "state", required_argument, NULL, OPT_STATE },
    { "insecure-registry", no_argument, NULL, OPT_INSECURE },
    { "authfile", required_argument, NULL, OPT_AUTHFILE },
    { "ca-file", required_argument, NULL, OPT_CAFILE },
    { "chunk-size", required_argument, NULL, OPT_CHUNK },
    { "quiet", no_argument, NULL, 'q' },
    { "output", required_argument, NULL, 'o' },
    { "decryption-key", required_argument, NULL, OPT_DECKEY },
    { "kbs", required_argument, NULL, OPT_KBS },
    { "kbs-tee", required_argument, NULL, OPT_KBS_TEE },
    { "sim-ca", required_argument, NULL, OPT_SIM_CA },
    { "kbs-cacert", required_argument, NULL, OPT_KBS_CACERT },
    { "recipient", required_argument, NULL, OPT_RECIPIENT },
    { "keyprovider", required_argument, NULL, OPT_KEYPROVIDER },
    { "kid", required_argument, NULL, OPT_KID },
    { "kek-file", required_argument, NULL, OPT_KEK_FILE },
    { "layer", required_argument, NULL, OPT_LAYER },
    { "sim-measurement", required_argument, NULL, OPT_SIM_MEASUREMENT },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  int c;
  optind = 1;
  while ((c = getopt_long (argc, argv, "qo:h", opts, NULL)) != -1)
    {
      int64_t v;
      switch (c)
        {
        case OPT_STATE:
          o->state = optarg;
          break;
        case OPT_INSECURE:
          o->insecure = true;
          break;
        case OPT_AUTHFILE:
          o->authfile = optarg;
          break;
        case OPT_CAFILE:
          o->ca_file = optarg;
          break;
        case OPT_CHUNK:
          if (veil_parse_i64 (optarg, 1, INT32_MAX, &v, err) < 0)
            return veil_error_wrap (err, "--chunk-size");
          o->chunk = (size_t) v;
          break;
        case 'q':
          o->quiet = true;
          break;
        case OPT_DECKEY:
          if (add_multi (o->deckeys, &o->n_deckeys, optarg, "--decryption-key", err) < 0)
            return -E2BIG;
          break;
        case OPT_RECIPIENT:
          if (add_multi (o->recipients, &o->n_recipients, optarg, "--recipient", err) < 0)
            return -E2BIG;
          break;
        case OPT_KBS:
          o->kbs = optarg;
          break;
        case OPT_KBS_TEE:
          o->kbs_tee = optarg;
          break;
        case OPT_SIM_CA:
          o->sim_ca = optarg;
          break;
        case OPT_KBS_CACERT:
          o->kbs_cacert = optarg;
          break;
        case OPT_KEYPROVIDER:
          o->keyprovider = optarg;
          break;
        case OPT_KID:
          o->kid = optarg;
          break;
        case OPT_KEK_FILE:
          o->kek_file = optarg;
          break;
        case OPT_SIM_MEASUREMENT:
          o->sim_measurement = optarg;
          break;
        case OPT_LAYER:
          if (o->n_layers >= MAX_MULTI || veil_parse_i64 (optarg, 0, 4096, &v, err) < 0)
            return veil_error_set (err, EINVAL, "--layer: a layer index 0-4096, at most %d times", MAX_MULTI);
          o->layers[o->n_layers++] = (int) v;
          break;
        case 'o':
          if (strcmp (optarg, "json") != 0)
            return veil_error_set (err, EINVAL, "-o: only 'json' is supported");
          o->output = optarg;
          break;
        case 'h':
          fputs (image_help, stdout);
          exit (0);
        default:
          return veil_error_set (err, EINVAL, "invalid option (see veil image --help)");
        }
    }
  o->n_args = argc - optind;
  o->args = argv + optind;
  return 0;
}

static veil_image_store_t *
open_store (const image_opts_t *o, veil_error_t **err)
{
  const char *state = o->state ? o->state : secure_getenv ("VEIL_STATE");
  _cleanup_free_ char *dflt = NULL;
  if (state == NULL || *state == 0)
    {
      const char *home = secure_getenv ("HOME");
      if (home == NULL || *home == 0)
        return veil_error_set (err, EINVAL, "no --state, VEIL_STATE or HOME"), NULL;
      state = dflt = xasprintf ("%s/.local/share/veil", home);
    }
  _cleanup_free_ char *dir = xasprintf ("%s/images", state);
  return veil_image_store_open (dir, err);
}

VEIL_DEFINE_CLEANUP (veil_image_store_t *, veil_image_store_free)

static void
fmt_size (char *out, size_t n, double bytes)
{
  static const char *const units[] = { "B", "kB", "MB", "GB", "TB" };
  size_t u = 0;
  while (bytes >= 1000 && u + 1 < VEIL_ARRAY_SIZE (units))
    bytes /= 1000, u++;
  snprintf (out, n, u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
}

/* ---- progress ------------------------------------------------------------- */

typedef struct progress
{
  bool tty, quiet;
  uint64_t started, last;
  const veil_descriptor_t *d;
} progress_t;

static const char *
blob_kind (const veil_descriptor_t *d)
{
  return strstr (d->media_type, "config") ? "config" : "layer";
}

static void
on_start (void *ctx, const veil_descriptor_t *d, bool present)
{
  progress_t *p = ctx;
  p->d = d;
  p->started = veil_now_mono_ns ();
  p->last = 0;
  (void) present;
}

static void
on_progress (void *ctx, uint64_t done, uint64_t total)
{
  progress_t *p = ctx;
  uint64_t now = veil_now_mono_ns ();
  if (p->quiet || !p->tty || p->d == NULL || (now - p->last < 100000000ull && done < total))
    return;
  p->last = now;
  double secs = (double) (now - p->started) / 1e9;
  double rate = secs > 0 ? (double) done / secs : 0;
  char sd[32], st[32], sr[32];
  fmt_size (sd, sizeof sd, (double) done);
  fmt_size (st, sizeof st, (double) total);
  fmt_size (sr, sizeof sr, rate);
  char bar[31];
  int fill = total ? (int) (30 * done / total) : 0;
  for (int i = 0; i < 30; i++)
    bar[i] = i < fill ? '#' : ' ';
  bar[30] = 0;
  double eta = rate > 0 && total > done ? (double) (total - done) / rate : 0;
  printf ("\r\033[K%s %.19s… [%s] %s / %s  %s/s  ETA %.0fs", blob_kind (p->d), p->d->digest, bar,
          sd, st, sr, eta);
  fflush (stdout);
}

static void
on_done (void *ctx, const veil_descriptor_t *d, uint64_t ns, bool present)
{
  progress_t *p = ctx;
  p->d = NULL;
  if (p->quiet)
    return;
  char sz[32];
  fmt_size (sz, sizeof sz, (double) d->size);
  printf ("%s%s %.19s… %s %s", p->tty ? "\r\033[K" : "", blob_kind (d), d->digest, sz,
          present ? "already present\n" : "done");
  if (!present)
    printf (" in %.1f s\n", (double) ns / 1e9);
  fflush (stdout);
}

static void
progress_init (progress_t *p, veil_image_progress_t *pr, bool quiet)
{
  memset (p, 0, sizeof *p);
  p->tty = isatty (STDOUT_FILENO);
  p->quiet = quiet;
  *pr = (veil_image_progress_t){ .blob_start = on_start, .progress = on_progress, .blob_done = on_done, .ctx = p };
}

/* ---- verbs ------------------------------------------------------------------- */

static int
image_pull (int argc, char **argv, veil_error_t **err)
{
  image_opts_t o = { 0 };
  if (parse (argc, argv, &o, err) < 0)
    return -EINVAL;
  if (o.n_args != 1)
    return veil_error_set (err, EINVAL, "usage: veil image pull REF [options]");
  veil_image_ref_t ref;
  if (veil_image_ref_parse (o.args[0], &ref, err) < 0)
    return -EINVAL;
  _cleanup_ (veil_image_store_freep) veil_image_store_t *st = open_store (&o, err);
  if (st == NULL)
    {
      veil_image_ref_clear (&ref);
      return -EIO;
    }
  veil_registry_opts_t ro = { .insecure = o.insecure, .auth_file = o.authfile, .ca_file = o.ca_file };
  progress_t p;
  veil_image_progress_t pr;
  progress_init (&p, &pr, o.quiet);
  _cleanup_free_ char *digest = NULL;
  int r = veil_image_pull (st, &ref, &ro, &pr, &digest, err);
  veil_image_ref_clear (&ref);
  if (r < 0)
    return r;
  printf ("%s\n", digest);
  return 0;
}

static int
image_push (int argc, char **argv, veil_error_t **err)
{
  image_opts_t o = { 0 };
  if (parse (argc, argv, &o, err) < 0)
    return -EINVAL;
  if (o.n_args != 2)
    return veil_error_set (err, EINVAL, "usage: veil image push SRC DST [options]");
  veil_image_ref_t dst;
  if (veil_image_ref_parse (o.args[1], &dst, err) < 0)
    return -EINVAL;
  _cleanup_ (veil_image_store_freep) veil_image_store_t *st = open_store (&o, err);
  int r = -EIO;
  _cleanup_free_ char *digest = NULL;
  if (st)
    {
      veil_registry_opts_t ro
          = { .insecure = o.insecure, .auth_file = o.authfile, .ca_file = o.ca_file };
      progress_t p;
      veil_image_progress_t pr;
      progress_init (&p, &pr, o.quiet);
      r = veil_image_push (st, o.args[0], &dst, &ro, o.chunk, &pr, &digest, err);
    }
  veil_image_ref_clear (&dst);
  if (r == 0)
    printf ("%s\n", digest);
  return r;
}

static int
image_list (int argc, char **argv, veil_error_t **err)
{
  image_opts_t o = { 0 };
  if (parse (argc, argv, &o, err) < 0)
    return -EINVAL;
  _cleanup_ (veil_image_store_freep) veil_image_store_t *st = open_store (&o, err);
  if (st == NULL)
    return -EIO;
  _cleanup_json_ json_t *list = veil_image_store_list (st, err);
  if (list == NULL)
    return -EIO;
  size_t i;
  json_t *e;
  json_array_foreach (list, i, e)
  {
    /* sizes from the manifests; an image whose blobs went missing still lists */
    json_t *info = veil_image_store_inspect (st, veil_json_str (e, "name"), NULL);
    if (info)
      json_object_set (e, "size", json_object_get (info, "size"));
    json_decref (info);
  }
  if (o.output)
    {
      char *s = json_dumps (list, JSON_INDENT (2));
      puts (s);
      free (s);
      return 0;
    }
  printf ("%-50s %-26s %10s\n", "NAME", "DIGEST", "SIZE");
  json_array_foreach (list, i, e)
  {
    char sz[32] = "?";
    json_t *s = json_object_get (e, "size");
    if (json_is_integer (s))
      fmt_size (sz, sizeof sz, (double) json_integer_value (s));
    printf ("%-50s %.26s %10s\n", veil_json_str (e, "name"), veil_json_str (e, "digest"), sz);
  }
  return 0;
}

/* A name as given, normalized like a reference, or a manifest digest. */
static json_t *
inspect_any (veil_image_store_t *st, const char *name, veil_error_t **err)
{
  json_t *j = veil_image_store_inspect (st, name, NULL);
  if (j)
    return j;
  veil_image_ref_t ref;
  if (veil_image_ref_parse (name, &ref, NULL) == 0)
    {
      _cleanup_free_ char *norm = veil_image_ref_format (&ref);
      veil_image_ref_clear (&ref);
      if ((j = veil_image_store_inspect (st, norm, NULL)) != NULL)
        return j;
    }
  return veil_image_store_inspect (st, name, err);
}

static int
image_inspect (int argc, char **argv, veil_error_t **err)
{
  image_opts_t o = { 0 };
  if (parse (argc, argv, &o, err) < 0)
    return -EINVAL;
  if (o.n_args != 1)
    return veil_error_set (err, EINVAL, "usage: veil image inspect REF [-o json]");
  _cleanup_ (veil_image_store_freep) veil_image_store_t *st = open_store (&o, err);
  if (st == NULL)
    return -EIO;
  _cleanup_json_ json_t *j = inspect_any (st, o.args[0], err);
  if (j == NULL)
    return -ENOENT;
  if (o.output)
    {
      char *s = json_dumps (j, JSON_INDENT (2));
      puts (s);
      free (s);
      return 0;
    }
  char sz[32];
  fmt_size (sz, sizeof sz, (double) json_integer_value (json_object_get (j, "size")));
  json_t *cfg = json_object_get (j, "config");
  printf ("Name:       %s\nDigest:     %s\nMediaType:  %s\nPlatform:   %s/%s\nCreated:    %s\n"
          "Size:       %s\nConfig:     %s (%" JSON_INTEGER_FORMAT " bytes)\nLayers:\n",
          veil_json_str (j, "name"), veil_json_str (j, "digest"), veil_json_str (j, "mediaType"),
          veil_json_str (j, "os") ? veil_json_str (j, "os") : "?",
          veil_json_str (j, "architecture") ? veil_json_str (j, "architecture") : "?",
          veil_json_str (j, "created") ? veil_json_str (j, "created") : "?", sz,
          veil_json_str (cfg, "digest"), json_integer_value (json_object_get (cfg, "size")));
  size_t i;
  json_t *l;
  json_array_foreach (json_object_get (j, "layers"), i, l)
  {
    fmt_size (sz, sizeof sz, (double) json_integer_value (json_object_get (l, "size")));
    printf ("  %s  %10s  %s\n", veil_json_str (l, "digest"), sz, veil_json_str (l, "mediaType"));
  }
  return 0;
}

static int
image_prune (int argc, char **argv, veil_error_t **err)
{
  image_opts_t o = { 0 };
  if (parse (argc, argv, &o, err) < 0)
    return -EINVAL;
  _cleanup_ (veil_image_store_freep) veil_image_store_t *st = open_store (&o, err);
  if (st == NULL)
    return -EIO;
  uint64_t freed = 0;
  if (veil_image_store_prune (st, &freed, err) < 0)
    return -EIO;
  char sz[32];
  fmt_size (sz, sizeof sz, (double) freed);
  printf ("freed %s\n", sz);
  return 0;
}

/* ---- unpack and encrypt ----------------------------------------------------- */

/* REF → manifest digest in the store: a digest as is, a stored name, or
 * (when not stored yet) pulled first. */
static char *
resolve_or_pull (veil_image_store_t *st, const image_opts_t *o, const char *ref_s, veil_error_t **err)
{
  if (veil_digest_valid (ref_s))
    return xstrdup (ref_s);
  veil_image_ref_t ref;
  if (veil_image_ref_parse (ref_s, &ref, err) < 0)
    return NULL;
  _cleanup_free_ char *name = veil_image_ref_format (&ref);
  veil_error_t *e = NULL;
  char *digest = ref.kind == VEIL_REF_REGISTRY ? veil_image_store_resolve (st, name, &e) : NULL;
  veil_error_free (e);
  if (!digest)
    {
      veil_registry_opts_t ro = { .insecure = o->insecure, .auth_file = o->authfile, .ca_file = o->ca_file };
      progress_t p;
      veil_image_progress_t pr;
      progress_init (&p, &pr, o->quiet);
      if (veil_image_pull (st, &ref, &ro, &pr, &digest, err) < 0)
        digest = NULL;
    }
  veil_image_ref_clear (&ref);
  return digest;
}

/* KEKs of provider.attestation-agent layers come from a KBS, after the
 * caller attests (sample TEE, or a sim-CA-signed SNP report). */
typedef struct kbs_provider
{
  const image_opts_t *o;
  veil_kbs_client_t *client;
  veil_kbs_sim_ctx_t sim;
} kbs_provider_t;

static int
fetch_kek (void *ctx, const char *kid, uint8_t **kek, size_t *kek_len, veil_error_t **err)
{
  kbs_provider_t *k = ctx;
  const char *prefix = "kbs:///";
  if (strncmp (kid, prefix, strlen (prefix)) != 0)
    return veil_error_set (err, EINVAL, "key provider: kid '%.64s' is not kbs:///<repo>/<type>/<tag>", kid);
  if (!k->client)
    {
      bool sim = k->o->kbs_tee && !strcmp (k->o->kbs_tee, "sim");
      if (sim && !(k->sim.ca = veil_sim_ca_load (k->o->sim_ca ? k->o->sim_ca : "", err)))
        return veil_error_wrap (err, "--kbs-tee sim needs --sim-ca DIR");
      if (sim && k->o->sim_measurement
          && veil_hex_decode_exact (k->o->sim_measurement, k->sim.params.measurement, 48, err) < 0)
        return veil_error_wrap (err, "--sim-measurement");
      veil_kbs_client_opts_t co = {
        .url = k->o->kbs,
        .tee = sim ? "snp" : "sample",
        .evidence = sim ? veil_kbs_evidence_sim : veil_kbs_evidence_sample,
        .evidence_ctx = &k->sim,
        .http = { .ca_file = k->o->kbs_cacert },
      };
      if (!(k->client = veil_kbs_client_new (&co, err)))
        return -EIO;
    }
  return veil_kbs_client_get_resource (k->client, kid + strlen (prefix), kek, kek_len, err);
}

static void
on_layer (void *ctx, size_t i, size_t n, const veil_descriptor_t *d, uint64_t ns)
{
  const image_opts_t *o = ctx;
  if (o->quiet)
    return;
  char sz[32];
  fmt_size (sz, sizeof sz, (double) d->size);
  printf ("layer %zu/%zu %.19s… %s %sunpacked and verified in %.2f s\n", i + 1, n, d->digest, sz,
          veil_ocicrypt_is_encrypted (d) ? "decrypted, " : "", (double) ns / 1e9);
  fflush (stdout);
}

static int
image_unpack (int argc, char **argv, veil_error_t **err)
{
  image_opts_t o = { 0 };
  if (parse (argc, argv, &o, err) < 0)
    return -EINVAL;
  if (o.n_args != 2)
    return veil_error_set (err, EINVAL, "usage: veil image unpack REF DIR [options]");
  _cleanup_ (veil_image_store_freep) veil_image_store_t *st = open_store (&o, err);
  if (!st)
    return -EIO;
  _cleanup_free_ char *digest = resolve_or_pull (st, &o, o.args[0], err);
  if (!digest)
    return -ENOENT;
  veil_ocicrypt_keys_t keys = { 0 };
  kbs_provider_t kp = { .o = &o };
  int r = veil_ocicrypt_keys_load_files (&keys, o.deckeys, o.n_deckeys, err);
  if (o.kbs)
    {
      keys.fetch_kek = fetch_kek;
      keys.fetch_ctx = &kp;
    }
  veil_image_unpack_opts_t uo = { .keys = &keys, .on_layer = on_layer, .progress_ctx = &o };
  uint64_t t0 = veil_now_mono_ns ();
  if (r == 0)
    r = veil_image_unpack (st, digest, o.args[1], &uo, err);
  if (r == 0 && !o.quiet)
    printf ("unpacked %s into %s in %.2f s\n", digest, o.args[1], (double) (veil_now_mono_ns () - t0) / 1e9);
  veil_ocicrypt_keys_clear (&keys);
  veil_kbs_client_free (kp.client);
  veil_sim_ca_free (kp.sim.ca);
  return r;
}

static int
image_encrypt (int argc, char **argv, veil_error_t **err)
{
  image_opts_t o = { 0 };
  if (parse (argc, argv, &o, err) < 0)
    return -EINVAL;
  if (o.n_args != 2)
    return veil_error_set (err, EINVAL, "usage: veil image encrypt SRC DST [options]");
  veil_ocicrypt_recipients_t rc = { 0 };
  _cleanup_secret_ uint8_t *kek = NULL;
  int r = 0;
  for (size_t i = 0; r == 0 && i < o.n_recipients; i++)
    r = veil_ocicrypt_recipients_add_spec (&rc, o.recipients[i], err);
  if (r == 0 && o.keyprovider)
    {
      if (strcmp (o.keyprovider, "kbs") != 0 || !o.kid || !o.kek_file)
        r = veil_error_set (err, EINVAL, "--keyprovider kbs needs --kid kbs:///<repo>/<type>/<tag> and --kek-file F");
      _cleanup_free_ uint8_t *raw = NULL;
      size_t len = 0;
      if (r == 0 && veil_file_read (o.kek_file, 64, &raw, &len, err) < 0)
        r = -EIO;
      if (r == 0 && len != 32)
        r = veil_error_set (err, EINVAL, "--kek-file: a KEK is 32 bytes, %s has %zu", o.kek_file, len);
      if (r == 0)
        {
          kek = veil_secret_dup (raw, 32);
          rc.kbs_kid = o.kid;
          rc.kbs_kek = kek;
        }
      if (raw)
        veil_wipe (raw, len);
    }
  _cleanup_ (veil_image_store_freep) veil_image_store_t *st = r == 0 ? open_store (&o, err) : NULL;
  _cleanup_free_ char *src = st ? resolve_or_pull (st, &o, o.args[0], err) : NULL;
  _cleanup_free_ char *out = NULL;
  if (r == 0 && !src)
    r = -ENOENT;
  if (r == 0)
    r = veil_image_encrypt (st, src, &rc, o.layers, o.n_layers, &out, err);
  if (r == 0 && !strncmp (o.args[1], "oci:", 4))
    {
      veil_image_ref_t dst;
      r = veil_image_ref_parse (o.args[1], &dst, err);
      if (r == 0)
        r = veil_image_layout_write (st, out, dst.layout_dir, dst.tag, err);
      if (r == 0)
        veil_image_ref_clear (&dst);
    }
  else if (r == 0)
    {
      veil_image_ref_t dst;
      r = veil_image_ref_parse (o.args[1], &dst, err);
      _cleanup_free_ char *name = r == 0 ? veil_image_ref_format (&dst) : NULL;
      if (r == 0)
        r = veil_image_store_tag (st, name, out, err);
      if (r == 0)
        veil_image_ref_clear (&dst);
    }
  if (r == 0)
    printf ("%s\n", out);
  veil_ocicrypt_recipients_clear (&rc);
  return r;
}

static const struct
{
  const char *name;
  int (*fn) (int argc, char **argv, veil_error_t **err);
} verbs[] = {
  { "pull", image_pull },
  { "push", image_push },
  { "list", image_list },
  { "inspect", image_inspect },
  { "prune", image_prune },
  { "unpack", image_unpack },
  { "encrypt", image_encrypt },
};

int
cmd_image (int argc, char **argv, veil_error_t **err)
{
  if (argc < 2 || !strcmp (argv[1], "--help") || !strcmp (argv[1], "-h"))
    {
      fputs (image_help, argc < 2 ? stderr : stdout);
      return argc < 2 ? veil_error_set (err, EINVAL, "missing verb") : 0;
    }
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (verbs); i++)
    if (!strcmp (argv[1], verbs[i].name))
      return verbs[i].fn (argc - 1, argv + 1, err);
  return veil_error_set (err, EINVAL, "unknown verb '%s' (see veil image --help)", argv[1]);
}
