/* veil-trustee: the attestation service and key broker of veil. */
#include <stdio.h>
#include "trustee.h"

static const struct
{
  const char *name;
  int (*fn) (int argc, char **argv, veil_error_t **err);
  const char *help;
} verbs[] = {
  { "serve", cmd_serve, "run the KBS (attestation + key broker) HTTP service" },
  { "verify", cmd_verify, "verify evidence offline and print its claims" },
  { "sim-ca", cmd_sim_ca, "create a software SNP root (INSECURE, for tests) and sign reports" },
  { "admin", cmd_admin, "admin keys and tokens; set resources, policies, reference values" },
};

static void
usage (FILE *f)
{
  fprintf (f, "usage: veil-trustee <command> [options]\n\ncommands:\n");
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (verbs); i++)
    fprintf (f, "  %-8s %s\n", verbs[i].name, verbs[i].help);
  fprintf (f, "\n`veil-trustee <command> --help` describes each command.\n");
}

int
read_input (const char *path, size_t max, uint8_t **out, size_t *len, veil_error_t **err)
{
  return veil_file_read (strcmp (path, "-") ? path : "/dev/stdin", max, out, len, err);
}

int
main (int argc, char **argv)
{
  veil_log_init_from_env ();
  if (argc < 2 || !strcmp (argv[1], "--help") || !strcmp (argv[1], "-h"))
    {
      usage (argc < 2 ? stderr : stdout);
      return argc < 2 ? 2 : 0;
    }
  if (!strcmp (argv[1], "--version"))
    {
      printf ("veil-trustee %s\n", VEIL_VERSION);
      return 0;
    }
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (verbs); i++)
    {
      if (strcmp (argv[1], verbs[i].name))
        continue;
      veil_error_t *err = NULL;
      int r = verbs[i].fn (argc - 1, argv + 1, &err);
      if (r < 0)
        {
          fprintf (stderr, "veil-trustee %s: %s\n", verbs[i].name, err ? err->msg : strerror (-r));
          veil_error_free (err);
          return r == -EINVAL && !err ? 2 : 1;
        }
      return 0;
    }
  fprintf (stderr, "veil-trustee: unknown command '%s'\n", argv[1]);
  usage (stderr);
  return 2;
}
