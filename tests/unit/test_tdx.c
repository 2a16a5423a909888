/* Unit tests of the TDX verifier and the CCEL event log replay, against
 * quotes and an event log captured on real hardware (tests/data/tdx,
 * tests/data/eventlog).  Expected values are read from the raw files at
 * their spec offsets, or derived from the vectors' own parsed forms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>
#include <cmocka.h>
#include <openssl/x509.h>
#include "veil/attest.h"
#include "../../lib/attest/tdx_internal.h"

/* 2025-11-23T00:00:00Z: inside the validity of the PCK chains, of the TCB
 * Signing certificate and of the collateral (issued 2025-10-27/28). */
#define NOW 1763856000

static uint8_t *
load (const char *rel, size_t *len)
{
  const char *dir = getenv ("VEIL_TEST_DATA");
  assert_non_null (dir);
  _cleanup_free_ char *path = xasprintf ("%s/%s", dir, rel);
  uint8_t *data = NULL;
  assert_int_equal (veil_file_read (path, 16 << 20, &data, len, NULL), 0);
  return data;
}

static char *
data_path (const char *rel)
{
  return xasprintf ("%s/%s", getenv ("VEIL_TEST_DATA"), rel);
}

/* Body offset in the file: v4 body follows the header, v5 also a 6-byte descriptor. */
static size_t
body_off (const uint8_t *q)
{
  return q[0] == 4 ? 48 : 54;
}

static json_t *
verify (const uint8_t *q, size_t len, const veil_attest_expect_t *ex, const veil_attest_config_t *cfg,
        veil_error_t **err)
{
  return veil_tdx_verify_quote (q, len, ex, cfg, err);
}

static void
assert_claim_bytes (const json_t *claims, const char *name, const uint8_t *p, size_t n)
{
  _cleanup_free_ char *hex = veil_hex_encode (p, n);
  const char *got = veil_json_str (claims, name);
  assert_non_null (got);
  assert_string_equal (got, hex);
}

/* Expect failure with a message containing what. */
static void
assert_fails (const uint8_t *q, size_t len, const veil_attest_expect_t *ex, const veil_attest_config_t *cfg,
              const char *what)
{
  veil_error_t *err = NULL;
  json_t *c = verify (q, len, ex, cfg, &err);
  if (c || !err || !strstr (err->msg, what))
    fail_msg ("expected failure naming '%s', got %s", what, err ? err->msg : "success");
  veil_error_free (err);
}

static void
test_quote_v4 (void **state)
{
  (void) state;
  size_t len;
  _cleanup_free_ uint8_t *q = load ("tdx/tdx_quote_4.dat", &len);
  veil_attest_config_t cfg = { .now = NOW, .allow_debug = true };
  veil_error_t *err = NULL;
  _cleanup_json_ json_t *c = verify (q, len, NULL, &cfg, &err);
  if (!c)
    fail_msg ("%s", err->msg);
  const uint8_t *b = q + 48;
  assert_int_equal (json_integer_value (json_object_get (c, "quote_version")), 4);
  assert_claim_bytes (c, "mrtd", b + 136, 48);
  assert_claim_bytes (c, "mrconfigid", b + 184, 48);
  assert_claim_bytes (c, "rtmr0", b + 328, 48);
  assert_claim_bytes (c, "rtmr3", b + 472, 48);
  assert_claim_bytes (c, "report_data", b + 520, 64);
  assert_claim_bytes (c, "td_attributes", b + 120, 8);
  assert_claim_bytes (c, "tee_tcb_svn", b, 16);
  assert_null (json_object_get (c, "mrservicetd"));
  /* this TD was launched with td_attributes.DEBUG (byte 0 = 0x01) */
  assert_true (json_is_true (json_object_get (c, "td_attributes_debug")));
  /* FMSPC and PCESVN from the PCK certificate's SGX extension (openssl asn1parse) */
  assert_string_equal (veil_json_str (c, "fmspc"), "50806f000000");
  assert_int_equal (json_integer_value (json_object_get (c, "pce_svn")), 11);
  assert_null (json_object_get (c, "tcb_status"));

  /* the same quote without allow_debug */
  cfg.allow_debug = false;
  assert_fails (q, len, NULL, &cfg, "DEBUG");
}

static void
test_quote_v5 (void **state)
{
  (void) state;
  size_t len;
  _cleanup_free_ uint8_t *q = load ("tdx/tdx_quote_5.dat", &len);
  veil_attest_config_t cfg = { .now = NOW };
  veil_error_t *err = NULL;
  _cleanup_json_ json_t *c = verify (q, len, NULL, &cfg, &err);
  if (!c)
    fail_msg ("%s", err->msg);
  const uint8_t *b = q + 54;
  assert_int_equal (json_integer_value (json_object_get (c, "quote_version")), 5);
  assert_true (json_is_false (json_object_get (c, "td_attributes_debug")));
  assert_claim_bytes (c, "mrtd", b + 136, 48);
  assert_claim_bytes (c, "rtmr1", b + 376, 48);
  assert_claim_bytes (c, "report_data", b + 520, 64);
  assert_claim_bytes (c, "tee_tcb_svn2", b + 584, 16);
  assert_claim_bytes (c, "mrservicetd", b + 600, 48);
  assert_string_equal (veil_json_str (c, "fmspc"), "90c06f000000");
  assert_int_equal (json_integer_value (json_object_get (c, "pce_svn")), 13);
  /* QE report fields, at their SGX report body offsets */
  const uint8_t *qe = q + 54 + 648 + 4 + 128 + 6;
  assert_claim_bytes (c, "qe_mrsigner", qe + 128, 32);
  assert_int_equal (json_integer_value (json_object_get (c, "qe_isvsvn")), qe[258] | qe[259] << 8);

  /* a PCK chain checked at a time it was not yet valid */
  veil_attest_config_t early = { .now = 1000000000 };
  assert_fails (q, len, NULL, &early, "PCK certificate chain");
}

static void
test_expectations (void **state)
{
  (void) state;
  size_t len;
  _cleanup_free_ uint8_t *q = load ("tdx/tdx_quote_5.dat", &len);
  veil_attest_config_t cfg = { .now = NOW };
  uint8_t rd[64], digest[48] = { 0 };
  memcpy (rd, q + 54 + 520, 64);
  /* the vector's mrconfigid is all zero: a zero 32-byte digest is its prefix */
  assert_memory_equal (q + 54 + 184, digest, 48);
  veil_attest_expect_t ex = { .report_data = rd, .report_data_len = 64, .init_data_digest = digest, .init_data_digest_len = 32 };
  veil_error_t *err = NULL;
  _cleanup_json_ json_t *c = verify (q, len, &ex, &cfg, &err);
  if (!c)
    fail_msg ("%s", err->msg);

  rd[63] ^= 1;
  assert_fails (q, len, &ex, &cfg, "report_data does not match");
  rd[63] ^= 1;
  digest[0] = 1;
  assert_fails (q, len, &ex, &cfg, "mrconfigid does not match");
  /* a shorter report_data is zero-padded: the vector's is not zero at the end */
  digest[0] = 0;
  ex.report_data_len = 32;
  assert_fails (q, len, &ex, &cfg, "report_data does not match");
}

/* Flip one byte of each signed region: the check that covers it must say so. */
static void
test_tamper (void **state)
{
  (void) state;
  static const char *files[] = { "tdx/tdx_quote_4.dat", "tdx/tdx_quote_5.dat" };
  for (size_t f = 0; f < 2; f++)
    {
      size_t len;
      _cleanup_free_ uint8_t *q = load (files[f], &len);
      veil_attest_config_t cfg = { .now = NOW, .allow_debug = true };
      size_t b = body_off (q), sig = b + (q[0] == 4 ? 584 : 648) + 4, qe = sig + 128 + 6;
      size_t auth = qe + 384 + 64 + 2;
      const char *pem = memmem (q, len, "-----END CERTIFICATE-----", 25);
      assert_non_null (pem);
      size_t pck_sig = (size_t) ((const uint8_t *) pem - q) - 12; /* in the PCK leaf's signature */
      struct
      {
        size_t off;
        const char *what;
      } cases[] = {
        { 12, "qe_vendor_id" },                  /* header: QE vendor */
        { 30, "quote signature" },               /* header: user_data */
        { b + 0, "quote signature" },            /* tee_tcb_svn */
        { b + 20, "quote signature" },           /* mrseam */
        { b + 70, "quote signature" },           /* mrsignerseam */
        { b + 113, "quote signature" },          /* seam_attributes */
        { b + 121, "quote signature" },          /* td_attributes */
        { b + 129, "quote signature" },          /* xfam */
        { b + 140, "quote signature" },          /* mrtd */
        { b + 190, "quote signature" },          /* mrconfigid */
        { b + 240, "quote signature" },          /* mrowner */
        { b + 290, "quote signature" },          /* mrownerconfig */
        { b + 330, "quote signature" },          /* rtmr0 */
        { b + 475, "quote signature" },          /* rtmr3 */
        { b + 530, "quote signature" },          /* report_data */
        { sig + 5, "quote signature" },          /* signature r */
        { sig + 40, "quote signature" },         /* signature s */
        { sig + 64 + 10, "attestation key" },    /* attestation key */
        { qe + 70, "QE report signature" },      /* QE mrenclave */
        { qe + 256, "QE report signature" },     /* QE isvprodid */
        { qe + 330, "QE report binding" },       /* QE report_data */
        { qe + 384 + 3, "QE report signature" }, /* QE report signature */
        { auth + 3, "QE report binding" },       /* QE auth data */
        { pck_sig, "PCK certificate chain" },    /* PCK leaf */
      };
      if (q[0] == 5)
        {
          /* the TDX 1.5 fields of the v5 body are signed too */
          q[b + 600] ^= 0x01;
          assert_fails (q, len, NULL, &cfg, "quote signature");
          q[b + 600] ^= 0x01;
        }
      for (size_t i = 0; i < VEIL_ARRAY_SIZE (cases); i++)
        {
          uint8_t old = q[cases[i].off];
          /* keep base64 text base64 so that the certificate check, not the decoder, fires */
          q[cases[i].off] = cases[i].off == pck_sig ? (old == 'A' ? 'B' : 'A') : old ^ 0x01;
          assert_fails (q, len, NULL, &cfg, cases[i].what);
          q[cases[i].off] = old;
        }
      veil_error_t *err = NULL;
      _cleanup_json_ json_t *c = verify (q, len, NULL, &cfg, &err);
      assert_non_null (c); /* restored */
    }
}

static void
test_truncated_and_absurd (void **state)
{
  (void) state;
  size_t len;
  _cleanup_free_ uint8_t *q = load ("tdx/tdx_quote_4.dat", &len);
  veil_attest_config_t cfg = { .now = NOW, .allow_debug = true };
  for (size_t n = 0; n < len; n += (n < 1200 ? 1 : 13))
    {
      _cleanup_free_ uint8_t *t = xmemdup (q, n ? n : 1);
      veil_error_t *err = NULL;
      json_t *c = verify (t, n, NULL, &cfg, &err);
      assert_null (c);
      assert_non_null (err);
      assert_true (strlen (err->msg) > 5);
      veil_error_free (err);
    }
  /* appended bytes are not silently ignored */
  _cleanup_free_ uint8_t *longer = xcalloc (1, len + 1);
  memcpy (longer, q, len);
  assert_fails (longer, len + 1, NULL, &cfg, "trailing");

  size_t sig = 48 + 584;
  struct
  {
    size_t off;
    uint32_t v;
    int width;
    const char *what;
  } cases[] = {
    { 0, 3, 2, "version" },
    { 2, 3, 2, "attestation key type" },
    { 4, 0, 4, "TEE type" },
    { sig, 0xffffffffu, 4, "overruns" },            /* signature data length */
    { sig + 4 + 128, 5, 2, "expected 6" },          /* certification data type */
    { sig + 4 + 130, 0xffffffffu, 4, "overruns" },  /* certification data size */
    { sig + 4 + 134 + 448, 0xffff, 2, "overruns" }, /* QE auth data size */
  };
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (cases); i++)
    {
      _cleanup_free_ uint8_t *t = xmemdup (q, len);
      for (int k = 0; k < cases[i].width; k++)
        t[cases[i].off + k] = (uint8_t) (cases[i].v >> (8 * k));
      assert_fails (t, len, NULL, &cfg, cases[i].what);
    }
  /* v5 body descriptor: unknown type, wrong size */
  size_t len5;
  _cleanup_free_ uint8_t *q5 = load ("tdx/tdx_quote_5.dat", &len5);
  q5[48] = 9;
  assert_fails (q5, len5, NULL, &cfg, "body type");
  q5[48] = 3;
  q5[53] = 0x7f;
  assert_fails (q5, len5, NULL, &cfg, "has size");
  veil_error_t *err = NULL;
  assert_null (verify (q, VEIL_TDX_QUOTE_MAX + 1, NULL, &cfg, &err));
  assert_int_equal (err->code, E2BIG);
  veil_error_free (err);
}

static void
test_evidence_forms (void **state)
{
  (void) state;
  size_t len;
  _cleanup_free_ uint8_t *q = load ("tdx/tdx_quote_5.dat", &len);
  veil_attest_config_t cfg = { .now = NOW };
  _cleanup_free_ char *std = veil_b64_encode (q, len);
  _cleanup_free_ char *url = veil_b64url_encode (q, len);
  assert_non_null (strpbrk (std, "+/")); /* so that the two forms differ */
  const char *forms[] = { std, url };
  for (int i = 0; i < 2; i++)
    {
      _cleanup_json_ json_t *ev = json_pack ("{s:s}", "quote", forms[i]);
      veil_error_t *err = NULL;
      _cleanup_json_ json_t *c = veil_attest_verify ("tdx", ev, NULL, &cfg, &err);
      if (!c)
        fail_msg ("%s", err->msg);
      assert_string_equal (veil_json_str (c, "tee"), "tdx");
    }
  /* missing quote */
  _cleanup_json_ json_t *empty = json_object ();
  veil_error_t *err = NULL;
  assert_null (veil_attest_verify ("tdx", empty, NULL, &cfg, &err));
  assert_non_null (strstr (err->msg, "quote"));
  veil_error_free (err);
}

/* RTMRs computed from the vector's parsed form: extend SHA-384 digests of
 * the events of CC MR index i+1 into RTMR i. */
static void
rtmrs_from_json (uint8_t rtmr[4][48], size_t *n_events)
{
  size_t len;
  _cleanup_free_ uint8_t *text = load ("eventlog/CCEL_data_out.json", &len);
  _cleanup_json_ json_t *j = veil_json_parse (text, len, len, NULL);
  assert_non_null (j);
  json_t *events = json_object_get (j, "uefi_event_logs"), *e;
  size_t i;
  memset (rtmr, 0, 4 * 48);
  *n_events = json_array_size (events);
  json_array_foreach (events, i, e)
  {
    json_int_t idx = json_integer_value (json_object_get (e, "index"));
    json_t *d = json_array_get (json_object_get (e, "digests"), 0);
    assert_string_equal (veil_json_str (d, "alg"), "SHA-384");
    if (idx < 1 || idx > 4)
      continue;
    uint8_t buf[96];
    memcpy (buf, rtmr[idx - 1], 48);
    assert_int_equal (veil_hex_decode_exact (veil_json_str (d, "digest"), buf + 48, 48, NULL), 0);
    veil_sha384 (buf, 96, rtmr[idx - 1]);
  }
}

static void
test_ccel_replay (void **state)
{
  (void) state;
  size_t len, n_json;
  _cleanup_free_ uint8_t *log = load ("eventlog/CCEL_data", &len);
  uint8_t want[4][48], got[4][48];
  rtmrs_from_json (want, &n_json);
  veil_error_t *err = NULL;
  if (veil_ccel_replay (log, len, got, &err) < 0)
    fail_msg ("%s", err->msg);
  assert_memory_equal (got, want, sizeof (want));
  /* the log extends RTMR0 and RTMR1 only */
  static const uint8_t zero[48] = { 0 };
  assert_memory_not_equal (got[0], zero, 48);
  assert_memory_equal (got[2], zero, 48);

  _cleanup_json_ json_t *events = veil_ccel_parse (log, len, &err);
  assert_non_null (events);
  assert_int_equal (json_array_size (events), n_json);
  size_t jl;
  _cleanup_free_ uint8_t *text = load ("eventlog/CCEL_data_out.json", &jl);
  _cleanup_json_ json_t *j = veil_json_parse (text, jl, jl, NULL);
  for (size_t i = 0; i < n_json; i++)
    {
      json_t *a = json_array_get (events, i), *b = json_array_get (json_object_get (j, "uefi_event_logs"), i);
      assert_int_equal (json_integer_value (json_object_get (a, "index")), json_integer_value (json_object_get (b, "index")));
      assert_string_equal (veil_json_str (json_object_get (a, "digests"), "sha384"),
                           veil_json_str (json_array_get (json_object_get (b, "digests"), 0), "digest"));
    }
}

static void
test_ccel_malformed (void **state)
{
  (void) state;
  size_t len;
  _cleanup_free_ uint8_t *log = load ("eventlog/CCEL_data", &len);
  size_t used = 5760; /* the log proper; the rest of the CCEL area is erased */
  uint8_t rtmr[4][48];
  for (size_t n = 0; n < used; n += (n < 200 ? 1 : 7))
    {
      veil_error_t *err = NULL;
      if (veil_ccel_replay (log, n, rtmr, &err) < 0)
        {
          assert_non_null (err);
          veil_error_free (err);
        }
    }
  /* an event size far past the end */
  _cleanup_free_ uint8_t *bad = xmemdup (log, len);
  size_t ev1 = 4 + 4 + 20 + 4 + 0x28; /* first TCG_PCR_EVENT2 after the Spec ID event */
  size_t size_off = ev1 + 4 + 4 + 4 + 2 + 48;
  assert_int_equal (bad[size_off] | bad[size_off + 1] << 8, 0x1494); /* the td_hob event */
  bad[size_off + 3] = 0x7f;
  veil_error_t *err = NULL;
  assert_true (veil_ccel_replay (bad, len, rtmr, &err) < 0);
  assert_non_null (strstr (err->msg, "overruns"));
  veil_error_free (err);
  err = NULL;
  /* an MR index that is not MRTD or an RTMR */
  memcpy (bad, log, len);
  bad[ev1] = 9;
  assert_true (veil_ccel_replay (bad, len, rtmr, &err) < 0);
  assert_non_null (strstr (err->msg, "MR index"));
  veil_error_free (err);
  err = NULL;
  /* a digest count larger than the declared algorithms */
  memcpy (bad, log, len);
  bad[ev1 + 8] = 200;
  assert_true (veil_ccel_replay (bad, len, rtmr, &err) < 0);
  veil_error_free (err);
  err = NULL;
  assert_true (veil_ccel_replay (log, VEIL_CCEL_MAX + 1, rtmr, &err) < 0);
  veil_error_free (err);
}

static void
test_evidence_eventlog_mismatch (void **state)
{
  (void) state;
  size_t len, ll;
  _cleanup_free_ uint8_t *q = load ("tdx/tdx_quote_5.dat", &len);
  _cleanup_free_ uint8_t *log = load ("eventlog/CCEL_data", &ll);
  _cleanup_free_ char *qb = veil_b64_encode (q, len);
  _cleanup_free_ char *lb = veil_b64_encode (log, ll);
  /* the log comes from another TD: its replay cannot match this quote */
  _cleanup_json_ json_t *ev = json_pack ("{s:s,s:s}", "quote", qb, "cc_eventlog", lb);
  veil_attest_config_t cfg = { .now = NOW };
  veil_error_t *err = NULL;
  assert_null (veil_attest_verify ("tdx", ev, NULL, &cfg, &err));
  assert_non_null (err);
  assert_string_equal (err->msg, "tdx: event log does not replay to RTMR0");
  veil_error_free (err);
  /* an empty event log string means none */
  json_object_set_new (ev, "cc_eventlog", json_string (""));
  err = NULL;
  _cleanup_json_ json_t *c = veil_attest_verify ("tdx", ev, NULL, &cfg, &err);
  assert_non_null (c);
}

/* ---- collateral ---------------------------------------------------------- */

static char *
make_dir (const char *const *files, size_t n)
{
  char tmpl[] = "/tmp/veil-tdx-XXXXXX";
  assert_non_null (mkdtemp (tmpl));
  for (size_t i = 0; i < n; i++)
    {
      size_t len;
      _cleanup_free_ char *rel = xasprintf ("tdx/%s", files[i]);
      _cleanup_free_ uint8_t *d = load (rel, &len);
      _cleanup_free_ char *dst = xasprintf ("%s/%s", tmpl, files[i]);
      assert_int_equal (veil_file_write_atomic (dst, d, len, 0644, NULL), 0);
    }
  return xstrdup (tmpl);
}

static void
remove_dir (char *dir)
{
  static const char *names[] = { "tcbInfo.json", "enclaveIdentity.json", "tcb_signing_chain.pem" };
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (names); i++)
    {
      _cleanup_free_ char *p = xasprintf ("%s/%s", dir, names[i]);
      unlink (p);
    }
  rmdir (dir);
  free (dir);
}

static void
test_collateral_fmspc_mismatch (void **state)
{
  (void) state;
  _cleanup_free_ char *dir = data_path ("tdx");
  static const char *files[] = { "tdx/tdx_quote_4.dat", "tdx/tdx_quote_5.dat" };
  for (int i = 0; i < 2; i++)
    {
      size_t len;
      _cleanup_free_ uint8_t *q = load (files[i], &len);
      veil_attest_config_t cfg = { .now = NOW, .allow_debug = true, .tdx_collateral_dir = dir };
      /* signatures verify; the collateral is for FMSPC 00A06D080000 */
      assert_fails (q, len, NULL, &cfg, "FMSPC mismatch");
    }
}

static void
test_collateral_signatures (void **state)
{
  (void) state;
  size_t len;
  _cleanup_free_ uint8_t *q = load ("tdx/tdx_quote_5.dat", &len);
  static const char *all[] = { "tcbInfo.json", "enclaveIdentity.json", "tcb_signing_chain.pem" };
  static const struct
  {
    const char *file, *find, *what;
  } tampers[] = {
    { "tcbInfo.json", "\"signature\":\"2b", "tcbInfo signature does not verify" },
    { "tcbInfo.json", "\"pcesvn\":13", "tcbInfo signature does not verify" },
    { "enclaveIdentity.json", "\"isvsvn\":4", "enclaveIdentity signature does not verify" },
  };
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (tampers); i++)
    {
      char *dir = make_dir (all, 3);
      _cleanup_free_ char *p = xasprintf ("%s/%s", dir, tampers[i].file);
      uint8_t *d = NULL;
      size_t n;
      assert_int_equal (veil_file_read (p, 1 << 20, &d, &n, NULL), 0);
      char *at = memmem (d, n, tampers[i].find, strlen (tampers[i].find));
      assert_non_null (at);
      at[strlen (tampers[i].find) - 1] ^= 0x01; /* '2b'->'3b', '13'->'12', '4'->'5' */
      assert_int_equal (veil_file_write_atomic (p, d, n, 0644, NULL), 0);
      free (d);
      veil_attest_config_t cfg = { .now = NOW, .tdx_collateral_dir = dir };
      assert_fails (q, len, NULL, &cfg, tampers[i].what);
      remove_dir (dir);
    }
  /* collateral without the signing chain is refused, not skipped */
  static const char *nochain[] = { "tcbInfo.json" };
  char *dir = make_dir (nochain, 1);
  veil_attest_config_t cfg = { .now = NOW, .tdx_collateral_dir = dir };
  assert_fails (q, len, NULL, &cfg, "TCB Signing chain");
  remove_dir (dir);
}

/* With only the QE identity, the QE report is judged: mrsigner dc9e2a7c...,
 * isvprodid 2, attributes 0x15 & 0xfb = 0x11, isvsvn 6 >= 4 → UpToDate. */
static void
test_collateral_qe_identity (void **state)
{
  (void) state;
  size_t len;
  _cleanup_free_ uint8_t *q = load ("tdx/tdx_quote_5.dat", &len);
  static const char *files[] = { "enclaveIdentity.json", "tcb_signing_chain.pem" };
  char *dir = make_dir (files, 2);
  veil_attest_config_t cfg = { .now = NOW, .tdx_collateral_dir = dir };
  veil_error_t *err = NULL;
  json_t *c = verify (q, len, NULL, &cfg, &err);
  if (!c)
    fail_msg ("%s", err->msg);
  assert_string_equal (veil_json_str (c, "qe_tcb_status"), "UpToDate");
  assert_string_equal (veil_json_str (c, "tcb_status"), "UpToDate");
  assert_true (json_is_false (json_object_get (c, "collateral_expired")));
  json_decref (c);
  /* after nextUpdate (2025-11-27T06:45:09Z) the status is marked */
  cfg.now = 1764300000;
  c = verify (q, len, NULL, &cfg, &err);
  assert_non_null (c);
  assert_string_equal (veil_json_str (c, "tcb_status"), "UpToDate (collateral expired)");
  assert_true (json_is_true (json_object_get (c, "collateral_expired")));
  json_decref (c);
  remove_dir (dir);
}

/* TCB level matching on the real tcbInfo with its FMSPC set to the PCK's
 * (no signature involved): neither level fits quote 5's PCK (SGX component
 * 1 is 1 < 2), and a crafted level that does gives its status. */
static void
test_tcb_levels (void **state)
{
  (void) state;
  size_t len, tl;
  _cleanup_free_ uint8_t *q = load ("tdx/tdx_quote_5.dat", &len);
  veil_tdx_quote_t pq;
  assert_int_equal (veil_tdx_quote_parse (q, len, &pq, NULL), 0);
  _cleanup_x509_stack_ STACK_OF (X509) *chain = veil_x509_stack_from_pem (pq.pck_chain, pq.pck_chain_len, NULL);
  tdx_pck_info_t pck;
  assert_int_equal (tdx_pck_info (sk_X509_value (chain, 0), &pck, NULL), 0);
  assert_int_equal (pck.comp_svn[0], 1);
  assert_int_equal (pck.pcesvn, 13);

  _cleanup_free_ uint8_t *text = load ("tdx/tcbInfo.json", &tl);
  _cleanup_json_ json_t *doc = veil_json_parse (text, tl, tl, NULL);
  json_t *info = json_object_get (doc, "tcbInfo");
  json_object_set_new (info, "fmspc", json_string ("90C06F000000"));
  _cleanup_json_ json_t *claims = json_object ();
  veil_error_t *err = NULL;
  assert_true (tdx_tcb_eval (info, &pck, pq.body, claims, &err) < 0);
  assert_non_null (strstr (err->msg, "no tcbInfo TCB level matches"));
  veil_error_free (err);
  err = NULL;

  /* append a level that quote 5 meets: SGX components of its PCK, pcesvn 13,
   * TDX components (5,1,2) -- index 0-1 are judged by module TDX_01 */
  json_t *levels = json_object_get (info, "tcbLevels");
  json_t *lvl = json_deep_copy (json_array_get (levels, 0));
  json_t *sgx = json_object_get (json_object_get (lvl, "tcb"), "sgxtcbcomponents");
  for (size_t i = 0; i < 16; i++)
    json_object_set_new (json_array_get (sgx, i), "svn", json_integer (pck.comp_svn[i]));
  json_object_set_new (lvl, "tcbStatus", json_string ("SWHardeningNeeded"));
  json_object_set_new (lvl, "advisoryIDs", json_pack ("[s]", "INTEL-SA-00837"));
  json_array_append_new (levels, lvl);
  assert_int_equal (tdx_tcb_eval (info, &pck, pq.body, claims, &err), 0);
  assert_string_equal (veil_json_str (claims, "tcb_status"), "SWHardeningNeeded");
  assert_string_equal (veil_json_str (claims, "tdx_module_tcb_status"), "UpToDate");
  assert_string_equal (json_string_value (json_array_get (json_object_get (claims, "advisory_ids"), 0)), "INTEL-SA-00837");

  /* the TDX module identity's level is worse: the combined status is too */
  json_t *mod = json_array_get (json_object_get (info, "tdxModuleIdentities"), 1);
  assert_string_equal (veil_json_str (mod, "id"), "TDX_01");
  json_t *ml = json_object_get (mod, "tcbLevels");
  json_object_set_new (json_object_get (json_array_get (ml, 0), "tcb"), "isvsvn", json_integer (9));
  assert_int_equal (tdx_tcb_eval (info, &pck, pq.body, claims, &err), 0);
  assert_string_equal (veil_json_str (claims, "tdx_module_tcb_status"), "OutOfDate"); /* isvsvn 2 <= 5 */
  assert_string_equal (veil_json_str (claims, "tcb_status"), "OutOfDate");

  /* a module signed by someone else */
  json_object_set_new (mod, "mrsigner", json_string ("01000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
                                                     "0"));
  assert_true (tdx_tcb_eval (info, &pck, pq.body, claims, &err) < 0);
  assert_non_null (strstr (err->msg, "TDX_01: mrsignerseam mismatch"));
  veil_error_free (err);
}

/* A look-alike root (same subject, other key) is refused by name of the check. */
static X509 *
fake_root (void)
{
  _cleanup_pkey_ EVP_PKEY *k = veil_pkey_generate ("P-256", NULL);
  X509 *x = X509_new ();
  X509_set_version (x, 2);
  ASN1_INTEGER_set (X509_get_serialNumber (x), 1);
  X509_NAME *n = X509_get_subject_name (x);
  X509_NAME_add_entry_by_txt (n, "CN", MBSTRING_ASC, (const unsigned char *) "Intel SGX Root CA", -1, -1, 0);
  X509_set_issuer_name (x, n);
  X509_gmtime_adj (X509_getm_notBefore (x), -86400L * 365 * 10);
  X509_gmtime_adj (X509_getm_notAfter (x), 86400L * 365 * 30);
  X509_set_pubkey (x, k);
  assert_true (X509_sign (x, k, EVP_sha256 ()) > 0);
  return x;
}

static void
test_chain_anchor (void **state)
{
  (void) state;
  size_t len;
  _cleanup_free_ uint8_t *pem = load ("tdx/tcb_signing_chain.pem", &len);
  _cleanup_x509_stack_ STACK_OF (X509) *good = veil_x509_stack_from_pem ((char *) pem, len, NULL);
  assert_int_equal (sk_X509_num (good), 2);
  assert_int_equal (X509_cmp (sk_X509_value (good, 1), veil_tdx_intel_root ()), 0);
  assert_int_equal (tdx_chain_verify (good, NOW, "test chain", NULL), 0);
  /* expired: the TCB Signing certificate ends 2032-05-06 */
  veil_error_t *err = NULL;
  assert_true (tdx_chain_verify (good, 1967500000, "test chain", &err) < 0);
  assert_non_null (strstr (err->msg, "expired"));
  veil_error_free (err);
  err = NULL;

  _cleanup_x509_stack_ STACK_OF (X509) *bad = sk_X509_new_null ();
  X509 *leaf = sk_X509_value (good, 0);
  X509_up_ref (leaf);
  sk_X509_push (bad, leaf);
  sk_X509_push (bad, fake_root ());
  assert_true (tdx_chain_verify (bad, NOW, "test chain", &err) < 0);
  assert_non_null (strstr (err->msg, "ends at a root that is not the Intel SGX Root CA"));
  veil_error_free (err);
  err = NULL;
  /* the look-alike alone as a leaf does not chain either */
  X509 *root = sk_X509_pop (bad);
  X509_free (sk_X509_pop (bad));
  sk_X509_push (bad, root);
  assert_true (tdx_chain_verify (bad, NOW, "test chain", &err) < 0);
  assert_non_null (strstr (err->msg, "does not verify to the Intel SGX Root CA"));
  veil_error_free (err);
}

static void
test_json_member_span (void **state)
{
  (void) state;
  const char *start;
  size_t n;
  const char *doc = "{ \"a\" : [1, {\"b\": \"}\\\"\"}], \"tcbInfo\":{\"x\":\"{\"} ,\"signature\":\"00\"}";
  assert_int_equal (tdx_json_member_span (doc, strlen (doc), "tcbInfo", &start, &n, NULL), 0);
  assert_int_equal (n, strlen ("{\"x\":\"{\"}"));
  assert_memory_equal (start, "{\"x\":\"{\"}", n);
  veil_error_t *err = NULL;
  const char *twice = "{\"tcbInfo\":{},\"tcbInfo\":{}}";
  assert_true (tdx_json_member_span (twice, strlen (twice), "tcbInfo", &start, &n, &err) < 0);
  assert_non_null (strstr (err->msg, "twice"));
  veil_error_free (err);
  const char *bad[] = { "", "[", "{\"tcbInfo\":{", "{\"tcbInfo\"", "{\"tcbInfo\":\"x", "{\"x\":1}" };
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (bad); i++)
    {
      err = NULL;
      assert_true (tdx_json_member_span (bad[i], strlen (bad[i]), "tcbInfo", &start, &n, &err) < 0);
      veil_error_free (err);
    }
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_quote_v4),
    cmocka_unit_test (test_quote_v5),
    cmocka_unit_test (test_expectations),
    cmocka_unit_test (test_tamper),
    cmocka_unit_test (test_truncated_and_absurd),
    cmocka_unit_test (test_evidence_forms),
    cmocka_unit_test (test_ccel_replay),
    cmocka_unit_test (test_ccel_malformed),
    cmocka_unit_test (test_evidence_eventlog_mismatch),
    cmocka_unit_test (test_collateral_fmspc_mismatch),
    cmocka_unit_test (test_collateral_signatures),
    cmocka_unit_test (test_collateral_qe_identity),
    cmocka_unit_test (test_tcb_levels),
    cmocka_unit_test (test_json_member_span),
    cmocka_unit_test (test_chain_anchor),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
