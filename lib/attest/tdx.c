/* Intel TDX quote verifier (quote v4 and v5, ECDSA P-256 attestation key,
 * PCK certificate chain embedded as certification data type 6/5).
 *
 * Layouts: Intel TDX DCAP Quote Generation Library and Quote Verification
 * Library API, Appendix "Quote Format" (v4) and "TDX 1.5 Quote Format" (v5).
 * All integers are little-endian.  The quote comes from an untrusted guest:
 * every length is bounded against what is left of the buffer. */
#include <pthread.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include "tdx_internal.h"

#define ATT_KEY_ECDSA_P256 2
#define TEE_TYPE_TDX 0x81
#define BODY_TDX10 2
#define BODY_TDX15 3
#define CERT_PCK_CHAIN 5
#define CERT_QE_REPORT 6
#define TD_ATTR_DEBUG 0x01

/* QE vendor ID of Intel's quoting enclave (Quote Format, header). */
static const uint8_t intel_qe_vendor_id[16] = { 0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9,
                                                0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07 };

/* Intel SGX Root CA, the only trust anchor for PCK and TCB Signing chains.
 * SHA-256 fingerprint 44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3
 * (certificates.trustedservices.intel.com/Intel_SGX_Provisioning_Certification_RootCA). */
static const char intel_sgx_root_pem[] = "-----BEGIN CERTIFICATE-----\n"
                                         "MIICjzCCAjSgAwIBAgIUImUM1lqdNInzg7SVUr9QGzknBqwwCgYIKoZIzj0EAwIw\n"
                                         "aDEaMBgGA1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENv\n"
                                         "cnBvcmF0aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJ\n"
                                         "BgNVBAYTAlVTMB4XDTE4MDUyMTEwNDUxMFoXDTQ5MTIzMTIzNTk1OVowaDEaMBgG\n"
                                         "A1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENvcnBvcmF0\n"
                                         "aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJBgNVBAYT\n"
                                         "AlVTMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEC6nEwMDIYZOj/iPWsCzaEKi7\n"
                                         "1OiOSLRFhWGjbnBVJfVnkY4u3IjkDYYL0MxO4mqsyYjlBalTVYxFP2sJBK5zlKOB\n"
                                         "uzCBuDAfBgNVHSMEGDAWgBQiZQzWWp00ifODtJVSv1AbOScGrDBSBgNVHR8ESzBJ\n"
                                         "MEegRaBDhkFodHRwczovL2NlcnRpZmljYXRlcy50cnVzdGVkc2VydmljZXMuaW50\n"
                                         "ZWwuY29tL0ludGVsU0dYUm9vdENBLmRlcjAdBgNVHQ4EFgQUImUM1lqdNInzg7SV\n"
                                         "Ur9QGzknBqwwDgYDVR0PAQH/BAQDAgEGMBIGA1UdEwEB/wQIMAYBAf8CAQEwCgYI\n"
                                         "KoZIzj0EAwIDSQAwRgIhAOW/5QkR+S9CiSDcNoowLuPRLsWGf/Yi7GSX94BgwTwg\n"
                                         "AiEA4J0lrHoMs+Xo5o/sX6O9QWxHRAvZUGOdRQ7cvqRXaqI=\n"
                                         "-----END CERTIFICATE-----\n";

static X509 *intel_root;
static pthread_once_t intel_root_once = PTHREAD_ONCE_INIT;

static void
intel_root_load (void)
{
  intel_root = veil_x509_from_pem (intel_sgx_root_pem, sizeof (intel_sgx_root_pem) - 1, NULL);
  if (!intel_root)
    abort (); /* a constant of this file: cannot fail unless OpenSSL is broken */
}

X509 *
veil_tdx_intel_root (void)
{
  pthread_once (&intel_root_once, intel_root_load);
  return intel_root;
}

/* ---- parsing ------------------------------------------------------------- */

static uint16_t
le16 (const uint8_t *p)
{
  return (uint16_t) (p[0] | p[1] << 8);
}

static uint32_t
le32 (const uint8_t *p)
{
  return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

typedef struct cursor
{
  const uint8_t *p;
  size_t len, off;
} cursor_t;

static const uint8_t *
take (cursor_t *c, size_t n)
{
  if (n > c->len - c->off)
    return NULL;
  const uint8_t *r = c->p + c->off;
  c->off += n;
  return r;
}

/* Certification data header: type u16, size u32, then size bytes. */
static const uint8_t *
take_cert_data (cursor_t *c, uint16_t *type, size_t *size)
{
  const uint8_t *h = take (c, 6);
  if (!h)
    return NULL;
  *type = le16 (h);
  *size = le32 (h + 2);
  return take (c, *size);
}

/* QE report certification data (type 6): QE report, its signature, QE
 * authentication data (u16 size + data), then the nested certification
 * data that must be the PCK chain (type 5). */
static int
parse_qe_cert_data (const uint8_t *p, size_t len, veil_tdx_quote_t *q, veil_error_t **err)
{
  cursor_t c = { p, len, 0 };
  const uint8_t *auth_len;
  if (!(q->qe_report = take (&c, VEIL_TDX_QE_REPORT_SIZE)) || !(q->qe_report_sig = take (&c, 64))
      || !(auth_len = take (&c, 2)))
    return veil_error_set (err, EBADMSG, "tdx: quote: QE report certification data truncated");
  q->qe_auth_len = le16 (auth_len);
  if (!(q->qe_auth = take (&c, q->qe_auth_len)))
    return veil_error_set (err, EBADMSG, "tdx: quote: QE auth data of %zu bytes overruns the quote", q->qe_auth_len);
  uint16_t type;
  size_t size;
  const uint8_t *chain = take_cert_data (&c, &type, &size);
  if (!chain)
    return veil_error_set (err, EBADMSG, "tdx: quote: PCK certification data overruns the quote");
  if (type != CERT_PCK_CHAIN)
    return veil_error_set (err, EBADMSG, "tdx: quote: QE certification data type %u, expected 5 (PCK chain)", type);
  if (c.off != c.len)
    return veil_error_set (err, EBADMSG, "tdx: quote: %zu trailing bytes after the PCK chain", c.len - c.off);
  q->pck_chain = (const char *) chain;
  q->pck_chain_len = size;
  return 0;
}

static int
parse_body (cursor_t *c, veil_tdx_quote_t *q, veil_error_t **err)
{
  if (q->version == 4)
    {
      q->body_type = BODY_TDX10;
      q->body_len = VEIL_TDX_BODY10_SIZE;
    }
  else
    {
      /* v5 body descriptor: type u16, size u32 (signed with the body). */
      const uint8_t *d = take (c, 6);
      if (!d)
        return veil_error_set (err, EBADMSG, "tdx: quote: truncated v5 body descriptor");
      q->body_type = le16 (d);
      q->body_len = le32 (d + 2);
      size_t want = q->body_type == BODY_TDX10   ? VEIL_TDX_BODY10_SIZE
                    : q->body_type == BODY_TDX15 ? VEIL_TDX_BODY15_SIZE
                                                 : 0;
      if (!want)
        return veil_error_set (err, EBADMSG, "tdx: quote: v5 body type %u is not a TD report (2 or 3)", q->body_type);
      if (q->body_len != want)
        return veil_error_set (err, EBADMSG, "tdx: quote: v5 body of type %u has size %zu, expected %zu",
                               q->body_type, q->body_len, want);
    }
  if (!(q->body = take (c, q->body_len)))
    return veil_error_set (err, EBADMSG, "tdx: quote: truncated TD report body");
  q->signed_data = c->p;
  q->signed_len = c->off;
  return 0;
}

int
veil_tdx_quote_parse (const uint8_t *quote, size_t len, veil_tdx_quote_t *q, veil_error_t **err)
{
  memset (q, 0, sizeof (*q));
  if (!quote || len > VEIL_TDX_QUOTE_MAX)
    return veil_error_set (err, E2BIG, "tdx: quote: %zu bytes exceeds the %u-byte limit", len, VEIL_TDX_QUOTE_MAX);
  cursor_t c = { quote, len, 0 };
  if (!(q->header = take (&c, VEIL_TDX_HEADER_SIZE)))
    return veil_error_set (err, EBADMSG, "tdx: quote: %zu bytes is shorter than the header", len);
  q->version = le16 (q->header);
  if (q->version != 4 && q->version != 5)
    return veil_error_set (err, EBADMSG, "tdx: quote header: version %u is not 4 or 5", q->version);
  if (le16 (q->header + 2) != ATT_KEY_ECDSA_P256)
    return veil_error_set (err, EBADMSG, "tdx: quote header: attestation key type %u is not ECDSA P-256",
                           le16 (q->header + 2));
  if (le32 (q->header + 4) != TEE_TYPE_TDX)
    return veil_error_set (err, EBADMSG, "tdx: quote header: TEE type 0x%x is not TDX", le32 (q->header + 4));
  if (parse_body (&c, q, err) < 0)
    return -EBADMSG;

  const uint8_t *sl = take (&c, 4);
  if (!sl)
    return veil_error_set (err, EBADMSG, "tdx: quote: truncated signature data length");
  size_t sig_len = le32 (sl);
  const uint8_t *sig = take (&c, sig_len);
  if (!sig)
    return veil_error_set (err, EBADMSG, "tdx: quote: signature data of %zu bytes overruns the quote", sig_len);
  if (c.off != c.len)
    return veil_error_set (err, EBADMSG, "tdx: quote: %zu trailing bytes after the signature data", c.len - c.off);

  /* ECDSA 256-bit quote signature data: signature, attestation key, then
   * certification data. */
  cursor_t s = { sig, sig_len, 0 };
  if (!(q->signature = take (&s, 64)) || !(q->attest_key = take (&s, 64)))
    return veil_error_set (err, EBADMSG, "tdx: quote: truncated signature data");
  uint16_t type;
  size_t size;
  const uint8_t *cd = take_cert_data (&s, &type, &size);
  if (!cd)
    return veil_error_set (err, EBADMSG, "tdx: quote: certification data overruns the signature data");
  if (type != CERT_QE_REPORT)
    return veil_error_set (err, EBADMSG, "tdx: quote: certification data type %u, expected 6 (QE report)", type);
  if (s.off != s.len)
    return veil_error_set (err, EBADMSG, "tdx: quote: %zu trailing bytes in the signature data", s.len - s.off);
  return parse_qe_cert_data (cd, size, q, err);
}

/* ---- verification ------------------------------------------------------- */

static EVP_PKEY *
attest_key_pkey (const uint8_t *xy, veil_error_t **err)
{
  _cleanup_free_ char *x = veil_b64url_encode (xy, 32);
  _cleanup_free_ char *y = veil_b64url_encode (xy + 32, 32);
  _cleanup_json_ json_t *jwk = json_pack ("{s:s,s:s,s:s,s:s}", "kty", "EC", "crv", "P-256", "x", x, "y", y);
  veil_error_t *e = NULL;
  EVP_PKEY *pk = veil_jwk_to_pkey (jwk, &e);
  if (!pk)
    {
      veil_error_set (err, EKEYREJECTED, "tdx: attestation key is not a P-256 point: %s", e->msg);
      veil_error_free (e);
    }
  return pk;
}

int
tdx_chain_verify (STACK_OF (X509) * chain, int64_t now, const char *what, veil_error_t **err)
{
  X509 *root = veil_tdx_intel_root ();
  X509 *leaf = sk_X509_value (chain, 0);
  X509 *last = sk_X509_value (chain, sk_X509_num (chain) - 1);
  /* The root in the evidence is only a hint: the anchor is the built-in one,
   * and a chain that ends at any other self-signed certificate is refused. */
  if (sk_X509_num (chain) > 1 && X509_check_issued (last, last) == X509_V_OK && X509_cmp (last, root) != 0)
    return veil_error_set (err, EKEYREJECTED, "tdx: %s ends at a root that is not the Intel SGX Root CA", what);
  X509_STORE *store = X509_STORE_new ();
  X509_STORE_CTX *ctx = X509_STORE_CTX_new ();
  STACK_OF (X509) *untrusted = sk_X509_new_null ();
  for (int i = 1; i < sk_X509_num (chain); i++)
    if (X509_cmp (sk_X509_value (chain, i), root) != 0)
      sk_X509_push (untrusted, sk_X509_value (chain, i));
  int ok = store && ctx && untrusted && X509_STORE_add_cert (store, root) == 1
           && X509_STORE_CTX_init (ctx, store, leaf, untrusted) == 1;
  if (ok)
    {
      X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param (ctx);
      X509_VERIFY_PARAM_set_time (param, (time_t) now);
      ok = X509_verify_cert (ctx) == 1;
    }
  int code = ctx ? X509_STORE_CTX_get_error (ctx) : X509_V_ERR_UNSPECIFIED;
  sk_X509_free (untrusted);
  X509_STORE_CTX_free (ctx);
  X509_STORE_free (store);
  ERR_clear_error ();
  if (!ok)
    return veil_error_set (err, EKEYREJECTED, "tdx: %s does not verify to the Intel SGX Root CA: %s", what,
                           X509_verify_cert_error_string (code));
  return 0;
}

static void
claim_hex (json_t *claims, const char *name, const uint8_t *p, size_t n)
{
  char *hex = veil_hex_encode (p, n);
  json_object_set_new (claims, name, json_string (hex));
  free (hex);
}

static json_t *
quote_claims (const veil_tdx_quote_t *q)
{
  static const struct
  {
    const char *name;
    size_t off, len;
  } fields[] = {
    { "tee_tcb_svn", TDX_B_TEE_TCB_SVN, 16 },
    { "mrseam", TDX_B_MRSEAM, 48 },
    { "mrsignerseam", TDX_B_MRSIGNERSEAM, 48 },
    { "seam_attributes", TDX_B_SEAM_ATTRIBUTES, 8 },
    { "td_attributes", TDX_B_TD_ATTRIBUTES, 8 },
    { "xfam", TDX_B_XFAM, 8 },
    { "mrtd", TDX_B_MRTD, 48 },
    { "mrconfigid", TDX_B_MRCONFIGID, 48 },
    { "mrowner", TDX_B_MROWNER, 48 },
    { "mrownerconfig", TDX_B_MROWNERCONFIG, 48 },
    { "rtmr0", TDX_B_RTMR0, 48 },
    { "rtmr1", TDX_B_RTMR0 + 48, 48 },
    { "rtmr2", TDX_B_RTMR0 + 96, 48 },
    { "rtmr3", TDX_B_RTMR0 + 144, 48 },
    { "report_data", TDX_B_REPORT_DATA, 64 },
    { "tee_tcb_svn2", TDX_B_TEE_TCB_SVN2, 16 },
    { "mrservicetd", TDX_B_MRSERVICETD, 48 },
  };
  json_t *claims = json_object ();
  json_object_set_new (claims, "quote_version", json_integer (q->version));
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (fields); i++)
    if (fields[i].off + fields[i].len <= q->body_len)
      claim_hex (claims, fields[i].name, q->body + fields[i].off, fields[i].len);
  json_object_set_new (claims, "td_attributes_debug", json_boolean (q->body[TDX_B_TD_ATTRIBUTES] & TD_ATTR_DEBUG));
  claim_hex (claims, "qe_mrenclave", q->qe_report + SGX_R_MRENCLAVE, 32);
  claim_hex (claims, "qe_mrsigner", q->qe_report + SGX_R_MRSIGNER, 32);
  json_object_set_new (claims, "qe_isvprodid", json_integer (le16 (q->qe_report + SGX_R_ISVPRODID)));
  json_object_set_new (claims, "qe_isvsvn", json_integer (le16 (q->qe_report + SGX_R_ISVSVN)));
  return claims;
}

/* Quote signature, then the QE report's binding of the attestation key:
 * report_data = SHA-256(attestation key || QE auth data) || 32 zero bytes. */
static int
check_quote_signature (const veil_tdx_quote_t *q, veil_error_t **err)
{
  _cleanup_pkey_ EVP_PKEY *ak = attest_key_pkey (q->attest_key, err);
  if (!ak)
    return -EKEYREJECTED;
  if (veil_ecdsa_verify_rs (ak, EVP_sha256 (), q->signed_data, q->signed_len, q->signature, q->signature + 32, 32, NULL) < 0)
    return veil_error_set (err, EKEYREJECTED, "tdx: quote signature does not verify with the attestation key");
  _cleanup_free_ uint8_t *bound = xmalloc (64 + q->qe_auth_len);
  memcpy (bound, q->attest_key, 64);
  memcpy (bound + 64, q->qe_auth, q->qe_auth_len);
  uint8_t digest[VEIL_SHA256_LEN];
  static const uint8_t zero[32] = { 0 };
  veil_sha256 (bound, 64 + q->qe_auth_len, digest);
  const uint8_t *rd = q->qe_report + SGX_R_REPORT_DATA;
  if (!veil_ct_equal (rd, digest, 32) || !veil_ct_equal (rd + 32, zero, 32))
    return veil_error_set (err, EKEYREJECTED,
                           "tdx: QE report binding: report_data is not SHA-256(attestation key || QE auth data)");
  return 0;
}

/* PCK chain to the built-in root, then the QE report signature by the PCK. */
static X509 *
check_pck (const veil_tdx_quote_t *q, int64_t now, veil_error_t **err)
{
  veil_error_t *e = NULL;
  _cleanup_x509_stack_ STACK_OF (X509) *chain = veil_x509_stack_from_pem (q->pck_chain, q->pck_chain_len, &e);
  if (!chain)
    {
      veil_error_set (err, EBADMSG, "tdx: PCK certificate chain: %s", e->msg);
      veil_error_free (e);
      return NULL;
    }
  if (tdx_chain_verify (chain, now, "PCK certificate chain", err) < 0)
    return NULL;
  X509 *pck = sk_X509_value (chain, 0);
  EVP_PKEY *pub = X509_get0_pubkey (pck);
  if (!pub || EVP_PKEY_get_base_id (pub) != EVP_PKEY_EC || EVP_PKEY_get_bits (pub) != 256)
    {
      veil_error_set (err, EKEYREJECTED, "tdx: PCK certificate key is not ECDSA P-256");
      return NULL;
    }
  if (veil_ecdsa_verify_rs (pub, EVP_sha256 (), q->qe_report, VEIL_TDX_QE_REPORT_SIZE, q->qe_report_sig,
                            q->qe_report_sig + 32, 32, NULL)
      < 0)
    {
      veil_error_set (err, EKEYREJECTED, "tdx: QE report signature does not verify with the PCK certificate");
      return NULL;
    }
  X509_up_ref (pck);
  return pck;
}

static int
check_expect (const veil_tdx_quote_t *q, const veil_attest_expect_t *expect, const veil_attest_config_t *cfg,
              veil_error_t **err)
{
  if ((q->body[TDX_B_TD_ATTRIBUTES] & TD_ATTR_DEBUG) && !cfg->allow_debug)
    return veil_error_set (err, EACCES, "tdx: td_attributes: TD is debuggable (DEBUG bit set) and debug is not allowed");
  if (!expect)
    return 0;
  if (expect->report_data)
    {
      uint8_t want[64] = { 0 };
      if (expect->report_data_len > sizeof (want))
        return veil_error_set (err, EINVAL, "tdx: expected report_data of %zu bytes exceeds 64", expect->report_data_len);
      memcpy (want, expect->report_data, expect->report_data_len);
      if (!veil_ct_equal (want, q->body + TDX_B_REPORT_DATA, 64))
        return veil_error_set (err, EACCES, "tdx: report_data does not match the expected value");
    }
  if (expect->init_data_digest)
    {
      uint8_t want[48] = { 0 };
      if (expect->init_data_digest_len > sizeof (want))
        return veil_error_set (err, EINVAL, "tdx: init-data digest of %zu bytes exceeds mrconfigid",
                               expect->init_data_digest_len);
      memcpy (want, expect->init_data_digest, expect->init_data_digest_len);
      if (!veil_ct_equal (want, q->body + TDX_B_MRCONFIGID, 48))
        return veil_error_set (err, EACCES, "tdx: mrconfigid does not match the expected init-data digest");
    }
  return 0;
}

json_t *
veil_tdx_verify_quote (const uint8_t *quote, size_t len, const veil_attest_expect_t *expect,
                       const veil_attest_config_t *cfg, veil_error_t **err)
{
  static const veil_attest_config_t defaults = { 0 };
  veil_tdx_quote_t q;
  if (!cfg)
    cfg = &defaults;
  int64_t now = cfg->now ? cfg->now : veil_now_unix ();
  if (veil_tdx_quote_parse (quote, len, &q, err) < 0)
    return NULL;
  if (memcmp (q.header + 12, intel_qe_vendor_id, 16) != 0)
    {
      veil_error_set (err, EKEYREJECTED, "tdx: quote header: qe_vendor_id is not Intel's quoting enclave");
      return NULL;
    }
  if (check_quote_signature (&q, err) < 0)
    return NULL;
  _cleanup_x509_ X509 *pck = check_pck (&q, now, err);
  if (!pck)
    return NULL;
  tdx_pck_info_t info;
  if (tdx_pck_info (pck, &info, err) < 0 || check_expect (&q, expect, cfg, err) < 0)
    return NULL;
  _cleanup_json_ json_t *claims = quote_claims (&q);
  claim_hex (claims, "fmspc", info.fmspc, sizeof (info.fmspc));
  json_object_set_new (claims, "pce_svn", json_integer (info.pcesvn));
  if (tdx_collateral_check (cfg->tdx_collateral_dir, &q, &info, now, claims, err) < 0)
    return NULL;
  return steal_pointer (&claims);
}

/* ---- evidence ------------------------------------------------------------ */

static int
check_eventlog (const json_t *evidence, const veil_tdx_quote_t *q, veil_error_t **err)
{
  const json_t *el = json_object_get (evidence, "cc_eventlog");
  if (!el || json_is_null (el) || (json_is_string (el) && json_string_length (el) == 0))
    return 0;
  _cleanup_free_ uint8_t *log = NULL;
  size_t log_len = 0;
  if (veil_json_req_b64 (evidence, "cc_eventlog", VEIL_CCEL_MAX, &log, &log_len, err) < 0)
    return veil_error_wrap (err, "tdx: evidence");
  uint8_t rtmr[4][VEIL_SHA384_LEN];
  if (veil_ccel_replay (log, log_len, rtmr, err) < 0)
    return veil_error_wrap (err, "tdx");
  for (int i = 0; i < 4; i++)
    if (memcmp (rtmr[i], q->body + TDX_B_RTMR0 + 48 * i, VEIL_SHA384_LEN) != 0)
      return veil_error_set (err, EKEYREJECTED, "tdx: event log does not replay to RTMR%d", i);
  return 0;
}

/* Evidence: {"quote": b64, "cc_eventlog": b64 (optional)} as Trustee's
 * TdxEvidence, either base64 alphabet. */
static json_t *
tdx_verify (const json_t *evidence, const veil_attest_expect_t *expect, const veil_attest_config_t *cfg,
            veil_error_t **err)
{
  _cleanup_free_ uint8_t *quote = NULL;
  size_t len = 0;
  if (veil_json_req_b64 (evidence, "quote", VEIL_TDX_QUOTE_MAX, &quote, &len, err) < 0)
    {
      veil_error_wrap (err, "tdx: evidence");
      return NULL;
    }
  _cleanup_json_ json_t *claims = veil_tdx_verify_quote (quote, len, expect, cfg, err);
  if (!claims)
    return NULL;
  veil_tdx_quote_t q;
  if (veil_tdx_quote_parse (quote, len, &q, err) < 0 || check_eventlog (evidence, &q, err) < 0)
    return NULL;
  if (json_object_get (evidence, "cc_eventlog") && json_string_length (json_object_get (evidence, "cc_eventlog")))
    json_object_set_new (claims, "eventlog_verified", json_true ());
  return steal_pointer (&claims);
}

const veil_verifier_ops_t veil_verifier_tdx = { .tee = "tdx", .verify = tdx_verify };
