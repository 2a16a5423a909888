/* Fuzzes the layer path: arbitrary bytes as a plain tar stream unpacked
 * into a fresh scratch root, and the same bytes through the gzip and zstd
 * decompress readers (and on into the unpacker when they decode).  The
 * first byte picks options, so whiteout modes and both path resolvers are
 * covered.  Each run's scratch root is removed afterwards. */
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>
#include "veil/image.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static int
make_writable (const char *path, const struct stat *st, int type, struct FTW *ftw)
{
  (void) ftw;
  if (type == FTW_D || type == FTW_DNR)
    chmod (path, (st->st_mode & 07777) | 0700);
  return 0;
}

static int
remove_one (const char *path, const struct stat *st, int type, struct FTW *ftw)
{
  (void) st;
  (void) type;
  (void) ftw;
  remove (path);
  return 0;
}

static void
scratch_remove (const char *dir)
{
  /* FTW_PHYS: never follow the symlinks the input planted */
  nftw (dir, make_writable, 64, FTW_PHYS);
  nftw (dir, remove_one, 64, FTW_PHYS | FTW_DEPTH);
}

static void
unpack_once (veil_reader_t *r, uint8_t opts)
{
  char dir[] = "/tmp/veil-fuzz-unpack-XXXXXX";
  if (!mkdtemp (dir))
    abort ();
  int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    abort ();
  veil_unpack_limits_t lim = {
    .max_bytes = 16 << 20,
    .max_entries = 4096,
    .same_owner = (opts & 1) && geteuid () == 0,
    .overlay_whiteouts = opts & 2,
    .portable_resolve = opts & 4,
    .opaque_dirs = json_array (),
  };
  veil_error_t *err = NULL;
  if (veil_unpack_tar (r, fd, &lim, &err) == 0)
    r->finish (r, &err);
  veil_error_free (err);
  json_decref (lim.opaque_dirs);
  close (fd);
  scratch_remove (dir);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static bool quiet;
  if (!quiet)
    {
      veil_log_set_level (VEIL_LOG_ERROR);
      quiet = true;
    }
  uint8_t opts = size ? data[0] : 0;

  veil_reader_t *plain = veil_reader_mem (data, size);
  unpack_once (plain, opts);
  plain->free (plain);

  static const char *types[] = { VEIL_MT_OCI_LAYER_GZIP, VEIL_MT_OCI_LAYER_ZSTD };
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (types); i++)
    {
      veil_error_t *err = NULL;
      veil_reader_t *inner = veil_reader_mem (data, size);
      veil_reader_t *r = veil_reader_decompress (inner, types[i], NULL, 64 << 20, &err);
      if (!r)
        {
          inner->free (inner);
          veil_error_free (err);
          continue;
        }
      unpack_once (r, opts);
      r->free (r);
    }
  return 0;
}
