/* veil image: pull, push, list, inspect and prune OCI images in the content
 * store (STATE/images; STATE is --state, else $VEIL_STATE, else
 * $HOME/.local/share/veil). */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <time.h>
#include "veil.h"
#include "veil/image.h"

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
};

typedef struct image_opts
{
  const char *state, *authfile, *ca_file, *output;
  bool insecure, quiet;
  size_t chunk;
  int n_args;
  char **args;
} image_opts_t;

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
  /* { "unpack", image_unpack },   REF DIR: rootfs + OCI config (unpack pipeline) */
  /* { "encrypt", image_encrypt }, SRC DST --recipient … (ocicrypt) */
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
