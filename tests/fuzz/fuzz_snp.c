/* Fuzzes the SEV-SNP verifier: the input as a raw report checked against
 * the sample VCEK (or VLEK, as signer_info says), and as evidence JSON (the
 * compact and the Trustee forms, cert_chain parsing, sev JSON → raw). */
#include <stdio.h>
#include "veil/attest.h"

#ifndef VEIL_TEST_DATA_DIR
#define VEIL_TEST_DATA_DIR "tests/data"
#endif
/* 2025-06-01: both sample certificates are valid, so inputs can get past the chain checks */
#define FUZZ_NOW 1748736000

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static X509 *vcek, *vlek;

static X509 *
load (const char *name)
{
  const char *dir = getenv ("VEIL_TEST_DATA");
  _cleanup_free_ char *path = xasprintf ("%s/snp/%s", dir ? dir : VEIL_TEST_DATA_DIR, name);
  veil_error_t *err = NULL;
  X509 *x = veil_x509_load_file (path, &err);
  if (!x)
    {
      fprintf (stderr, "fuzz_snp: %s\n", err->msg);
      abort ();
    }
  return x;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (!vcek)
    {
      veil_log_set_level (VEIL_LOG_ERROR);
      vcek = load ("test-vcek.der");
      vlek = load ("test-vlek.der");
    }
  static const veil_attest_config_t cfg = { .now = FUZZ_NOW };
  veil_error_t *err = NULL;
  X509 *cert = size > 0x48 && ((data[0x48] >> 2) & 7) == 1 ? vlek : vcek;
  json_decref (veil_snp_verify_report (data, size, cert, NULL, NULL, &cfg, &err));
  veil_error_free (err);
  err = NULL;
  json_t *ev = veil_json_parse (data, size, 1 << 20, &err);
  veil_error_free (err);
  err = NULL;
  if (json_is_object (ev))
    {
      json_decref (veil_attest_verify ("snp", ev, NULL, &cfg, &err));
      veil_error_free (err);
    }
  json_decref (ev);
  return 0;
}
