/* Unit tests of the sim CA (software "AMD", INSECURE by design): the files
 * it creates, the reports it signs, and that the SNP verifier accepts them
 * only through a configured sim root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>
#include <cmocka.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include "veil/attest.h"
#include "../../lib/attest/internal.h"

static char dir_a[64], dir_b[64];
static veil_sim_ca_t *ca_a, *ca_b;
static const veil_snp_tcb_t tcb_a = { .bootloader = 4, .tee = 1, .snp = 22, .microcode = 213 };

static int
make_ca (char *dir, size_t n, const veil_snp_tcb_t *tcb, veil_sim_ca_t **out)
{
  snprintf (dir, n, "/tmp/veil-test-sim-XXXXXX");
  if (!mkdtemp (dir))
    return -1;
  veil_error_t *err = NULL;
  /* a subdirectory that does not exist yet: init creates it */
  _cleanup_free_ char *sub = xasprintf ("%s/ca", dir);
  if (veil_sim_ca_init (sub, tcb, &err) < 0 || !(*out = veil_sim_ca_load (sub, &err)))
    {
      fprintf (stderr, "sim CA: %s\n", err->msg);
      return -1;
    }
  return 0;
}

static void
remove_ca (const char *dir)
{
  static const char *const files[] = { "ark.pem", "ask.pem", "vcek.pem", "vcek.key", "chip_id" };
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (files); i++)
    {
      _cleanup_free_ char *p = xasprintf ("%s/ca/%s", dir, files[i]);
      unlink (p);
    }
  _cleanup_free_ char *sub = xasprintf ("%s/ca", dir);
  rmdir (sub);
  rmdir (dir);
}

static int
group_setup (void **state)
{
  (void) state;
  return make_ca (dir_a, sizeof (dir_a), &tcb_a, &ca_a) < 0 || make_ca (dir_b, sizeof (dir_b), NULL, &ca_b) < 0 ? -1 : 0;
}

static int
group_teardown (void **state)
{
  (void) state;
  veil_sim_ca_free (ca_a);
  veil_sim_ca_free (ca_b);
  remove_ca (dir_a);
  remove_ca (dir_b);
  return 0;
}

static STACK_OF (X509) * roots_of (veil_sim_ca_t *ca)
{
  STACK_OF (X509) *sk = sk_X509_new_null ();
  sk_X509_push (sk, X509_dup (veil_sim_ca_ark (ca)));
  return sk;
}

static json_t *
verify_ok (const json_t *ev, const veil_attest_expect_t *expect, const veil_attest_config_t *cfg)
{
  veil_error_t *err = NULL;
  json_t *c = veil_attest_verify ("snp", ev, expect, cfg, &err);
  if (!c)
    fail_msg ("rejected: %s", err->msg);
  return c;
}

static void
verify_fails (const json_t *ev, const veil_attest_config_t *cfg, const char *needle)
{
  veil_error_t *err = NULL;
  json_t *c = veil_attest_verify ("snp", ev, NULL, cfg, &err);
  if (c)
    {
      json_decref (c);
      fail_msg ("accepted, expected '%s'", needle);
    }
  if (!strstr (err->msg, needle))
    fail_msg ("error '%s' does not mention '%s'", err->msg, needle);
  veil_error_free (err);
}

static void
check_pss (X509 *x)
{
  assert_int_equal (X509_get_signature_nid (x), NID_rsassaPss);
  const ASN1_BIT_STRING *sig;
  const X509_ALGOR *alg;
  X509_get0_signature (&sig, &alg, x);
  const ASN1_OBJECT *obj;
  int ptype;
  const void *pval;
  X509_ALGOR_get0 (&obj, &ptype, &pval, alg);
  assert_int_equal (ptype, V_ASN1_SEQUENCE);
  const ASN1_STRING *seq = pval;
  const unsigned char *p = ASN1_STRING_get0_data (seq);
  RSA_PSS_PARAMS *pss = d2i_RSA_PSS_PARAMS (NULL, &p, ASN1_STRING_length (seq));
  assert_non_null (pss);
  assert_int_equal (OBJ_obj2nid (pss->hashAlgorithm->algorithm), NID_sha384);
  assert_int_equal (OBJ_obj2nid (pss->maskGenAlgorithm->algorithm), NID_mgf1);
  X509_ALGOR *mgf_md = ASN1_TYPE_unpack_sequence (ASN1_ITEM_rptr (X509_ALGOR), pss->maskGenAlgorithm->parameter);
  assert_non_null (mgf_md);
  assert_int_equal (OBJ_obj2nid (mgf_md->algorithm), NID_sha384);
  X509_ALGOR_free (mgf_md);
  assert_int_equal (ASN1_INTEGER_get (pss->saltLength), 48);
  RSA_PSS_PARAMS_free (pss);
}

static void
test_files (void **state)
{
  (void) state;
  static const char *const files[] = { "ark.pem", "ask.pem", "vcek.pem", "vcek.key", "chip_id" };
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (files); i++)
    {
      _cleanup_free_ char *p = xasprintf ("%s/ca/%s", dir_a, files[i]);
      struct stat st;
      assert_int_equal (stat (p, &st), 0);
      if (!strcmp (files[i], "vcek.key"))
        assert_int_equal (st.st_mode & 0777, 0600);
    }
  _cleanup_free_ char *idp = xasprintf ("%s/ca/chip_id", dir_a);
  _cleanup_free_ uint8_t *hex = NULL;
  size_t len = 0;
  assert_int_equal (veil_file_read (idp, 1024, &hex, &len, NULL), 0);
  assert_int_equal (len, 129); /* 128 hex digits and a newline */

  X509 *ark = veil_sim_ca_ark (ca_a), *ask = veil_sim_ca_ask (ca_a), *vcek = veil_sim_ca_vcek (ca_a);
  /* laid out like AMD's: RSA-4096 ARK/ASK, PSS SHA-384 salt 48, P-384 VCEK */
  assert_int_equal (EVP_PKEY_get_bits (X509_get0_pubkey (ark)), 4096);
  assert_int_equal (EVP_PKEY_get_bits (X509_get0_pubkey (ask)), 4096);
  assert_int_equal (EVP_PKEY_get_bits (X509_get0_pubkey (vcek)), 384);
  check_pss (ark);
  check_pss (ask);
  check_pss (vcek);
  assert_int_equal (veil_snp_check_link (ark, ark, "ARK", NULL), 0);
  assert_int_equal (veil_snp_check_link (ask, ark, "ASK", NULL), 0);
  assert_int_equal (veil_snp_check_link (vcek, ask, "VCEK", NULL), 0);
  char cn[128];
  X509_NAME_get_text_by_NID (X509_get_subject_name (vcek), NID_commonName, cn, sizeof (cn));
  assert_non_null (strstr (cn, "veil sim"));
  X509_NAME_get_text_by_NID (X509_get_subject_name (ark), NID_commonName, cn, sizeof (cn));
  assert_non_null (strstr (cn, "veil sim"));
  /* AMD extensions: SPLs from the init TCB, hwID = chip_id */
  snp_cert_ext_t ext;
  assert_int_equal (veil_snp_cert_ext (vcek, "VCEK", &ext, NULL), 0);
  assert_int_equal (ext.spl.bootloader, 4);
  assert_int_equal (ext.spl.tee, 1);
  assert_int_equal (ext.spl.snp, 22);
  assert_int_equal (ext.spl.microcode, 213);
  assert_true (ext.has_hwid);
  _cleanup_free_ char *hw = veil_hex_encode (ext.hwid, 64);
  assert_memory_equal (hw, hex, 128);
  assert_int_equal (veil_snp_product_from_name (ext.product_name), SNP_MILAN);
  /* two CAs never share a chip_id or a root */
  snp_cert_ext_t ext_b;
  assert_int_equal (veil_snp_cert_ext (veil_sim_ca_vcek (ca_b), "VCEK", &ext_b, NULL), 0);
  assert_memory_not_equal (ext.hwid, ext_b.hwid, 64);
  assert_int_equal (ext_b.spl.snp, 8); /* default TCB */
}

static void
test_report_layout (void **state)
{
  (void) state;
  veil_sim_report_params_t p = { 0 };
  memset (p.report_data, 0xab, sizeof (p.report_data));
  memset (p.measurement, 0xcd, sizeof (p.measurement));
  memset (p.host_data, 0xef, sizeof (p.host_data));
  uint8_t r[VEIL_SNP_REPORT_SIZE];
  assert_int_equal (veil_sim_ca_sign_report (ca_a, &p, r, NULL), 0);
  assert_int_equal (veil_le32 (r + 0x000), 3);       /* default version */
  assert_int_equal (veil_le64 (r + 0x008), 0x30000); /* default policy */
  assert_int_equal (veil_le32 (r + 0x034), 1);       /* ECDSA P-384 SHA-384 */
  assert_int_equal (veil_le32 (r + 0x048), 0);       /* signer_info: VCEK */
  const uint8_t tcb[8] = { 4, 1, 0, 0, 0, 0, 22, 213 };
  for (size_t off = 0; off < 4; off++)
    {
      static const size_t offs[] = { 0x038, 0x180, 0x1E0, 0x1F0 };
      assert_memory_equal (r + offs[off], tcb, 8);
    }
  snp_cert_ext_t ext;
  assert_int_equal (veil_snp_cert_ext (veil_sim_ca_vcek (ca_a), "VCEK", &ext, NULL), 0);
  assert_memory_equal (r + 0x1A0, ext.hwid, 64);
  assert_int_equal (r[0x050], 0xab);
  assert_int_equal (r[0x090], 0xcd);
  assert_int_equal (r[0x0C0], 0xef);
  /* r and s little-endian, 48 significant bytes, zero above */
  for (int i = 48; i < 72; i++)
    {
      assert_int_equal (r[0x2A0 + i], 0);
      assert_int_equal (r[0x2E8 + i], 0);
    }
  uint8_t rb[48], sb[48];
  for (int i = 0; i < 48; i++)
    {
      rb[i] = r[0x2A0 + 47 - i];
      sb[i] = r[0x2E8 + 47 - i];
    }
  assert_int_equal (veil_ecdsa_verify_rs (X509_get0_pubkey (veil_sim_ca_vcek (ca_a)), EVP_sha384 (), r, 0x2A0, rb, sb, 48, NULL), 0);
}

static void
test_verify_with_sim_root (void **state)
{
  (void) state;
  veil_sim_report_params_t p = { 0 };
  for (int i = 0; i < 64; i++)
    p.report_data[i] = (uint8_t) i;
  _cleanup_json_ json_t *ev = veil_sim_ca_evidence (ca_a, &p, NULL);
  assert_non_null (ev);
  assert_true (json_is_string (json_object_get (ev, "report")));
  assert_int_equal (json_array_size (json_object_get (ev, "cert_chain")), 3);

  _cleanup_x509_stack_ STACK_OF (X509) *roots = roots_of (ca_a);
  veil_attest_config_t cfg = { .sim_roots = roots };
  veil_attest_expect_t exp = { .report_data = p.report_data, .report_data_len = 64 };
  _cleanup_json_ json_t *c = verify_ok (ev, &exp, &cfg);
  assert_true (json_is_true (json_object_get (c, "sim")));
  assert_string_equal (veil_json_str (c, "tee"), "snp");
  assert_string_equal (veil_json_str (c, "product"), "Milan");
  assert_string_equal (veil_json_str (c, "signing_key"), "vcek");
  assert_int_equal (json_integer_value (json_object_get (c, "reported_tcb_snp")), 22);
  assert_int_equal (json_integer_value (json_object_get (c, "reported_tcb_microcode")), 213);
  assert_false (json_is_true (json_object_get (c, "policy_debug_allowed")));
  assert_int_equal (json_integer_value (json_object_get (c, "version")), 3);

  /* the chain as Trustee-style typed entries */
  json_t *chain = json_object_get (ev, "cert_chain");
  _cleanup_json_ json_t *typed = json_pack ("{s:O, s:[{s:s,s:O},{s:s,s:O},{s:s,s:O}]}", "report", json_object_get (ev, "report"),
                                            "cert_chain", "cert_type", "VCEK", "data", json_array_get (chain, 0), "cert_type",
                                            "ASK", "data", json_array_get (chain, 1), "cert_type", "ARK", "data",
                                            json_array_get (chain, 2));
  _cleanup_json_ json_t *c2 = verify_ok (typed, &exp, &cfg);
  assert_true (json_is_true (json_object_get (c2, "sim")));

  /* the same checks apply as for AMD: report_data, min TCB, tampering */
  p.report_data[0] ^= 1;
  verify_fails (ev, &(veil_attest_config_t){ .sim_roots = roots, .snp_min_tcb = { .snp = 23 } }, "below the minimum");
  veil_error_t *err = NULL;
  assert_null (veil_attest_verify ("snp", ev, &exp, &cfg, &err));
  assert_non_null (strstr (err->msg, "report_data"));
  veil_error_free (err);
  uint8_t r[VEIL_SNP_REPORT_SIZE];
  assert_int_equal (veil_sim_ca_sign_report (ca_a, NULL, r, NULL), 0);
  r[0x90] ^= 1;
  _cleanup_free_ char *b64 = veil_b64_encode (r, sizeof (r));
  _cleanup_json_ json_t *tampered = json_deep_copy (ev);
  json_object_set_new (tampered, "report", json_string (b64));
  verify_fails (tampered, &cfg, "signature");
}

static void
test_versions (void **state)
{
  (void) state;
  _cleanup_x509_stack_ STACK_OF (X509) *roots = roots_of (ca_a);
  veil_attest_config_t cfg = { .sim_roots = roots };
  static const uint32_t versions[] = { 2, 3, 5 };
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (versions); i++)
    {
      veil_sim_report_params_t p = { .version = versions[i], .vmpl = 2 };
      _cleanup_json_ json_t *ev = veil_sim_ca_evidence (ca_a, &p, NULL);
      _cleanup_json_ json_t *c = verify_ok (ev, NULL, &cfg);
      assert_int_equal (json_integer_value (json_object_get (c, "version")), versions[i]);
      assert_int_equal (json_integer_value (json_object_get (c, "vmpl")), 2);
      assert_int_equal (json_object_get (c, "cpuid_family") != NULL, versions[i] >= 3);
      assert_int_equal (json_object_get (c, "launch_mit_vector") != NULL, versions[i] >= 5);
    }
  veil_sim_report_params_t p = { .version = 4 };
  _cleanup_json_ json_t *ev = veil_sim_ca_evidence (ca_a, &p, NULL);
  verify_fails (ev, &cfg, "unsupported report version 4");
}

static void
test_refused_without_sim_root (void **state)
{
  (void) state;
  _cleanup_json_ json_t *ev = veil_sim_ca_evidence (ca_a, NULL, NULL);
  /* no sim roots at all (NULL config and NULL stack) */
  verify_fails (ev, NULL, "does not chain to an AMD ASK");
  verify_fails (ev, &(veil_attest_config_t){ 0 }, "does not chain to an AMD ASK");
  /* an empty stack */
  _cleanup_x509_stack_ STACK_OF (X509) *empty = sk_X509_new_null ();
  verify_fails (ev, &(veil_attest_config_t){ .sim_roots = empty }, "does not chain");
  /* another sim CA's root */
  _cleanup_x509_stack_ STACK_OF (X509) *other = roots_of (ca_b);
  verify_fails (ev, &(veil_attest_config_t){ .sim_roots = other }, "none of the configured sim roots");
  /* the right root configured, but the evidence leaves it out */
  _cleanup_x509_stack_ STACK_OF (X509) *roots = roots_of (ca_a);
  _cleanup_json_ json_t *no_ark = json_deep_copy (ev);
  json_array_remove (json_object_get (no_ark, "cert_chain"), 2);
  verify_fails (no_ark, &(veil_attest_config_t){ .sim_roots = roots }, "none of the configured sim roots");
  /* CA B's intermediate under CA A's root: the link check fails */
  _cleanup_json_ json_t *ev_b = veil_sim_ca_evidence (ca_b, NULL, NULL);
  _cleanup_json_ json_t *mixed = json_deep_copy (ev_b);
  json_array_set (json_object_get (mixed, "cert_chain"), 2, json_array_get (json_object_get (ev, "cert_chain"), 2));
  verify_fails (mixed, &(veil_attest_config_t){ .sim_roots = roots }, "sim ASK by sim ARK");
  /* several configured roots: the one byte-equal to the evidence's ARK is used */
  _cleanup_x509_stack_ STACK_OF (X509) *both = roots_of (ca_b);
  sk_X509_push (both, X509_dup (veil_sim_ca_ark (ca_a)));
  _cleanup_json_ json_t *c = verify_ok (ev, NULL, &(veil_attest_config_t){ .sim_roots = both });
  assert_true (json_is_true (json_object_get (c, "sim")));
}

static void
test_load_errors (void **state)
{
  (void) state;
  veil_error_t *err = NULL;
  assert_null (veil_sim_ca_load ("/nonexistent/veil-sim", &err));
  assert_non_null (strstr (err->msg, "sim CA"));
  veil_error_free (err);
  err = NULL;
  /* a chip_id file that does not match the VCEK */
  _cleanup_free_ char *idp = xasprintf ("%s/ca/chip_id", dir_b);
  _cleanup_free_ uint8_t *orig = NULL;
  size_t len = 0;
  assert_int_equal (veil_file_read (idp, 1024, &orig, &len, NULL), 0);
  char bad[130];
  memset (bad, '0', 128);
  bad[128] = '\n';
  bad[129] = 0;
  assert_int_equal (veil_file_write_atomic (idp, bad, 129, 0644, NULL), 0);
  _cleanup_free_ char *sub = xasprintf ("%s/ca", dir_b);
  assert_null (veil_sim_ca_load (sub, &err));
  assert_non_null (strstr (err->msg, "chip_id"));
  veil_error_free (err);
  assert_int_equal (veil_file_write_atomic (idp, orig, len, 0644, NULL), 0);
  veil_sim_ca_t *again = veil_sim_ca_load (sub, NULL);
  assert_non_null (again);
  veil_sim_ca_free (again);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_files),
    cmocka_unit_test (test_report_layout),
    cmocka_unit_test (test_verify_with_sim_root),
    cmocka_unit_test (test_versions),
    cmocka_unit_test (test_refused_without_sim_root),
    cmocka_unit_test (test_load_errors),
  };
  return cmocka_run_group_tests (tests, group_setup, group_teardown);
}
