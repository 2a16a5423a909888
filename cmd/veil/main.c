/* veil: the command-line interface of veil. */
#include <stdio.h>
#include "veil.h"

static const struct
{
  const char *name;
  int (*fn) (int argc, char **argv, veil_error_t **err);
  const char *help;
} nouns[] = {
  { "attest", cmd_attest, "attest to a veil-trustee (KBS) and fetch resources" },
  { "image", cmd_image, "pull, push, list, inspect, prune OCI images" },
};

static void
usage (FILE *f)
{
  fprintf (f, "usage: veil <command> [options]\n\ncommands:\n");
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (nouns); i++)
    fprintf (f, "  %-8s %s\n", nouns[i].name, nouns[i].help);
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
      printf ("veil %s\n", VEIL_VERSION);
      return 0;
    }
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (nouns); i++)
    if (!strcmp (argv[1], nouns[i].name))
      {
        veil_error_t *err = NULL;
        int r = nouns[i].fn (argc - 1, argv + 1, &err);
        if (r < 0)
          {
            fprintf (stderr, "veil %s: %s\n", nouns[i].name, err ? err->msg : strerror (-r));
            veil_error_free (err);
            return 1;
          }
        return 0;
      }
  fprintf (stderr, "veil: unknown command '%s'\n", argv[1]);
  usage (stderr);
  return 2;
}
