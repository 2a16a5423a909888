/* sim CA: a software stand-in for AMD's SEV-SNP key hierarchy, for machines
 * without SNP (tests, the demo, the host's software TEE).  INSECURE BY
 * DESIGN: whoever holds DIR/vcek.key can sign any report.  Its certificates
 * are laid out as AMD's (57230 §2-3): RSA-4096 ARK and ASK signing with
 * RSA-PSS SHA-384 salt 48, a P-384 VCEK carrying the SPL/hwID/productName
 * extensions, so reports it signs go through the same verifier code; they
 * are only accepted when the verifier is configured with this ARK as a sim
 * root, and the claims then say "sim": true. */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>
#include "internal.h"

/* "<product>-<stepping>" as AMD writes it; parsed as Milan by the verifier */
#define SIM_PRODUCT_NAME "Milan-SIM"
#define SIM_ORG "veil sim (software TEE, INSECURE, not AMD)"
#define SIM_VALID_DAYS (25 * 365)
#define SIM_FILE_MAX (64 * 1024)
/* CPUID family 19h model 01h stepping 1: a Milan part, to match the product */
#define SIM_CPUID_FAM 0x19
#define SIM_CPUID_MOD 0x01
#define SIM_CPUID_STEP 0x01

struct veil_sim_ca
{
  X509 *ark, *ask, *vcek;
  EVP_PKEY *key;
  uint8_t chip_id[SNP_CHIP_ID_LEN];
  veil_snp_tcb_t tcb;
  char *ark_pem, *ask_pem, *vcek_pem;
};

static const veil_snp_tcb_t default_tcb = { .bootloader = 3, .tee = 0, .snp = 8, .microcode = 115 };

/* ---- certificates ----------------------------------------------------------------- */

static void
cert_add_raw_ext (X509 *x, const char *oid, const unsigned char *der, int len)
{
  ASN1_OBJECT *obj = OBJ_txt2obj (oid, 1);
  ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new ();
  if (!obj || !os || !ASN1_OCTET_STRING_set (os, der, len))
    abort ();
  X509_EXTENSION *e = X509_EXTENSION_create_by_OBJ (NULL, obj, 0, os);
  if (!e || !X509_add_ext (x, e, -1))
    abort ();
  X509_EXTENSION_free (e);
  ASN1_OCTET_STRING_free (os);
  ASN1_OBJECT_free (obj);
}

static void
cert_add_int_ext (X509 *x, const char *oid, long v)
{
  ASN1_INTEGER *ai = ASN1_INTEGER_new ();
  unsigned char *der = NULL;
  int len;
  if (!ai || !ASN1_INTEGER_set (ai, v) || (len = i2d_ASN1_INTEGER (ai, &der)) <= 0)
    abort ();
  cert_add_raw_ext (x, oid, der, len);
  OPENSSL_free (der);
  ASN1_INTEGER_free (ai);
}

/* The VCEK extensions of 57230 Table 8, hwID in the current (OCTET STRING) form. */
static void
cert_add_amd_exts (X509 *x, const veil_snp_tcb_t *tcb, const uint8_t chip_id[SNP_CHIP_ID_LEN])
{
  cert_add_int_ext (x, SNP_OID_STRUCT_VERSION, 0);
  ASN1_IA5STRING *name = ASN1_IA5STRING_new ();
  unsigned char *der = NULL;
  int len;
  if (!name || !ASN1_STRING_set (name, SIM_PRODUCT_NAME, -1) || (len = i2d_ASN1_IA5STRING (name, &der)) <= 0)
    abort ();
  cert_add_raw_ext (x, SNP_OID_PRODUCT_NAME, der, len);
  OPENSSL_free (der);
  ASN1_IA5STRING_free (name);
  cert_add_int_ext (x, SNP_OID_BL_SPL, tcb->bootloader);
  cert_add_int_ext (x, SNP_OID_TEE_SPL, tcb->tee);
  cert_add_int_ext (x, SNP_OID_SNP_SPL, tcb->snp);
  cert_add_int_ext (x, SNP_OID_UCODE_SPL, tcb->microcode);
  ASN1_OCTET_STRING *hwid = ASN1_OCTET_STRING_new ();
  der = NULL;
  if (!hwid || !ASN1_OCTET_STRING_set (hwid, chip_id, SNP_CHIP_ID_LEN) || (len = i2d_ASN1_OCTET_STRING (hwid, &der)) <= 0)
    abort ();
  cert_add_raw_ext (x, SNP_OID_HWID, der, len);
  OPENSSL_free (der);
  ASN1_OCTET_STRING_free (hwid);
}

static void
cert_add_ca_exts (X509 *x, X509 *issuer)
{
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb (&ctx);
  X509V3_set_ctx (&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
  static const struct
  {
    int nid;
    const char *value;
  } exts[] = {
    { NID_basic_constraints, "critical,CA:TRUE" },
    { NID_key_usage, "critical,keyCertSign,cRLSign" },
  };
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (exts); i++)
    {
      X509_EXTENSION *e = X509V3_EXT_conf_nid (NULL, &ctx, exts[i].nid, exts[i].value);
      if (!e || !X509_add_ext (x, e, -1))
        abort ();
      X509_EXTENSION_free (e);
    }
}

static X509 *
cert_new (const char *cn, EVP_PKEY *subject_key, X509 *issuer)
{
  X509 *x = X509_new ();
  BIGNUM *serial = BN_new ();
  if (!x || !serial || !X509_set_version (x, X509_VERSION_3) || !BN_rand (serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY)
      || !BN_to_ASN1_INTEGER (serial, X509_get_serialNumber (x)))
    abort ();
  BN_free (serial);
  X509_NAME *name = X509_get_subject_name (x);
  if (!X509_gmtime_adj (X509_getm_notBefore (x), -3600)
      || !X509_time_adj_ex (X509_getm_notAfter (x), SIM_VALID_DAYS, 0, NULL)
      || !X509_NAME_add_entry_by_txt (name, "O", MBSTRING_UTF8, (const unsigned char *) SIM_ORG, -1, -1, 0)
      || !X509_NAME_add_entry_by_txt (name, "CN", MBSTRING_UTF8, (const unsigned char *) cn, -1, -1, 0)
      || !X509_set_issuer_name (x, issuer ? X509_get_subject_name (issuer) : name) || !X509_set_pubkey (x, subject_key))
    abort ();
  return x;
}

/* RSASSA-PSS, SHA-384, MGF1-SHA-384, salt 48: what AMD's ARK and ASK use. */
static int
cert_sign (X509 *x, EVP_PKEY *key, veil_error_t **err)
{
  _cleanup_ (EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new ();
  EVP_PKEY_CTX *pctx = NULL;
  if (!ctx || EVP_DigestSignInit (ctx, &pctx, EVP_sha384 (), NULL, key) != 1
      || EVP_PKEY_CTX_set_rsa_padding (pctx, RSA_PKCS1_PSS_PADDING) != 1
      || EVP_PKEY_CTX_set_rsa_pss_saltlen (pctx, VEIL_SHA384_LEN) != 1
      || EVP_PKEY_CTX_set_rsa_mgf1_md (pctx, EVP_sha384 ()) != 1 || X509_sign_ctx (x, ctx) <= 0)
    return veil_error_set (err, EIO, "sim: signing a certificate: %s", veil_openssl_error ());
  return 0;
}

static int
write_file (const char *dir, const char *name, const char *text, int mode, veil_error_t **err)
{
  _cleanup_free_ char *path = xasprintf ("%s/%s", dir, name);
  if (veil_file_write_atomic (path, text, strlen (text), mode, err) < 0)
    return veil_error_wrap (err, "sim CA");
  return 0;
}

int
veil_sim_ca_init (const char *dir, const veil_snp_tcb_t *tcb, veil_error_t **err)
{
  if (!tcb)
    tcb = &default_tcb;
  if (veil_mkdir_p (dir, 0700, err) < 0)
    return veil_error_wrap (err, "sim CA");
  _cleanup_pkey_ EVP_PKEY *ark_key = veil_pkey_generate ("RSA-4096", err);
  _cleanup_pkey_ EVP_PKEY *ask_key = ark_key ? veil_pkey_generate ("RSA-4096", err) : NULL;
  _cleanup_pkey_ EVP_PKEY *vcek_key = ask_key ? veil_pkey_generate ("P-384", err) : NULL;
  if (!vcek_key)
    return veil_error_wrap (err, "sim CA");
  uint8_t chip_id[SNP_CHIP_ID_LEN];
  veil_random (chip_id, sizeof (chip_id));

  _cleanup_x509_ X509 *ark = cert_new ("veil sim ARK-Milan (INSECURE)", ark_key, NULL);
  cert_add_ca_exts (ark, NULL);
  _cleanup_x509_ X509 *ask = cert_new ("veil sim ASK-Milan (INSECURE)", ask_key, ark);
  cert_add_ca_exts (ask, ark);
  _cleanup_x509_ X509 *vcek = cert_new ("veil sim VCEK (INSECURE)", vcek_key, ask);
  cert_add_amd_exts (vcek, tcb, chip_id);
  if (cert_sign (ark, ark_key, err) < 0 || cert_sign (ask, ark_key, err) < 0 || cert_sign (vcek, ask_key, err) < 0)
    return -EIO;

  _cleanup_free_ char *ark_pem = veil_x509_to_pem (ark), *ask_pem = veil_x509_to_pem (ask), *vcek_pem = veil_x509_to_pem (vcek);
  _cleanup_secret_ char *key_pem = NULL;
  {
    _cleanup_free_ char *k = veil_pkey_to_pem (vcek_key, true);
    key_pem = veil_secret_dup (k, strlen (k) + 1);
    veil_wipe (k, strlen (k));
  }
  _cleanup_free_ char *chip_hex = veil_hex_encode (chip_id, sizeof (chip_id));
  _cleanup_free_ char *chip_line = xasprintf ("%s\n", chip_hex);
  if (write_file (dir, "ark.pem", ark_pem, 0644, err) < 0 || write_file (dir, "ask.pem", ask_pem, 0644, err) < 0
      || write_file (dir, "vcek.pem", vcek_pem, 0644, err) < 0 || write_file (dir, "vcek.key", key_pem, 0600, err) < 0
      || write_file (dir, "chip_id", chip_line, 0644, err) < 0)
    return -EIO;
  veil_log_info ("attest", "created a sim SNP CA (software, INSECURE)", "dir=%s", dir);
  return 0;
}

/* ---- loading --------------------------------------------------------------------------- */

static char *
read_text (const char *dir, const char *name, veil_error_t **err)
{
  _cleanup_free_ char *path = xasprintf ("%s/%s", dir, name);
  uint8_t *data = NULL;
  size_t len = 0;
  if (veil_file_read (path, SIM_FILE_MAX, &data, &len, err) < 0)
    {
      veil_error_wrap (err, "sim CA");
      return NULL;
    }
  return (char *) data;
}

static X509 *
load_cert (const char *dir, const char *name, char **pem_out, veil_error_t **err)
{
  _cleanup_free_ char *pem = read_text (dir, name, err);
  if (!pem)
    return NULL;
  X509 *x = veil_x509_from_pem (pem, strlen (pem), err);
  if (!x)
    {
      veil_error_wrap (err, "sim CA: %s/%s", dir, name);
      return NULL;
    }
  *pem_out = steal_pointer (&pem);
  return x;
}

static int
load_key_and_id (veil_sim_ca_t *ca, const char *dir, veil_error_t **err)
{
  _cleanup_free_ char *key_path = xasprintf ("%s/vcek.key", dir);
  ca->key = veil_pkey_load_file (key_path, err);
  if (!ca->key)
    return veil_error_wrap (err, "sim CA");
  if (EVP_PKEY_eq (X509_get0_pubkey (ca->vcek), ca->key) != 1)
    {
      ERR_clear_error ();
      return veil_error_set (err, EKEYREJECTED, "sim CA: %s does not hold the key of vcek.pem", key_path);
    }
  snp_cert_ext_t ext;
  if (veil_snp_cert_ext (ca->vcek, "sim CA: vcek.pem", &ext, err) < 0)
    return -EBADMSG;
  if (!ext.has_hwid)
    return veil_error_set (err, EBADMSG, "sim CA: vcek.pem has no hwID extension");
  ca->tcb = ext.spl;
  memcpy (ca->chip_id, ext.hwid, sizeof (ca->chip_id));
  _cleanup_free_ char *hex = read_text (dir, "chip_id", err);
  if (!hex)
    return -ENOENT;
  hex[strcspn (hex, "\r\n")] = 0;
  uint8_t id[SNP_CHIP_ID_LEN];
  if (veil_hex_decode_exact (hex, id, sizeof (id), err) < 0)
    return veil_error_wrap (err, "sim CA: %s/chip_id", dir);
  if (memcmp (id, ca->chip_id, sizeof (id)) != 0)
    return veil_error_set (err, EBADMSG, "sim CA: %s/chip_id differs from the VCEK's hwID", dir);
  return 0;
}

veil_sim_ca_t *
veil_sim_ca_load (const char *dir, veil_error_t **err)
{
  veil_sim_ca_t *ca = xcalloc (1, sizeof (*ca));
  if (!(ca->ark = load_cert (dir, "ark.pem", &ca->ark_pem, err))
      || !(ca->ask = load_cert (dir, "ask.pem", &ca->ask_pem, err))
      || !(ca->vcek = load_cert (dir, "vcek.pem", &ca->vcek_pem, err)) || load_key_and_id (ca, dir, err) < 0)
    {
      veil_sim_ca_free (ca);
      return NULL;
    }
  return ca;
}

void
veil_sim_ca_free (veil_sim_ca_t *ca)
{
  if (!ca)
    return;
  X509_free (ca->ark);
  X509_free (ca->ask);
  X509_free (ca->vcek);
  EVP_PKEY_free (ca->key);
  free (ca->ark_pem);
  free (ca->ask_pem);
  free (ca->vcek_pem);
  free (ca);
}

X509 *
veil_sim_ca_ark (veil_sim_ca_t *ca)
{
  return ca->ark;
}

X509 *
veil_sim_ca_ask (veil_sim_ca_t *ca)
{
  return ca->ask;
}

X509 *
veil_sim_ca_vcek (veil_sim_ca_t *ca)
{
  return ca->vcek;
}

/* ---- reports ---------------------------------------------------------------------------- */

int
veil_sim_ca_sign_report (veil_sim_ca_t *ca, const veil_sim_report_params_t *p,
                         uint8_t out[VEIL_SNP_REPORT_SIZE], veil_error_t **err)
{
  static const veil_sim_report_params_t defaults = { 0 };
  if (!p)
    p = &defaults;
  uint32_t version = p->version ? p->version : 3;
  uint64_t tcb = veil_snp_tcb_encode (&ca->tcb, false);
  memset (out, 0, VEIL_SNP_REPORT_SIZE);
  veil_put_le32 (out + SNP_OFF_VERSION, version);
  veil_put_le64 (out + SNP_OFF_POLICY, p->policy ? p->policy : 0x30000);
  veil_put_le32 (out + SNP_OFF_VMPL, p->vmpl);
  veil_put_le32 (out + SNP_OFF_SIG_ALGO, SNP_SIG_ALGO_ECDSA_P384_SHA384);
  veil_put_le64 (out + SNP_OFF_CURRENT_TCB, tcb);
  veil_put_le64 (out + SNP_OFF_REPORTED_TCB, tcb);
  veil_put_le64 (out + SNP_OFF_COMMITTED_TCB, tcb);
  veil_put_le64 (out + SNP_OFF_LAUNCH_TCB, tcb);
  memcpy (out + SNP_OFF_REPORT_DATA, p->report_data, sizeof (p->report_data));
  memcpy (out + SNP_OFF_MEASUREMENT, p->measurement, sizeof (p->measurement));
  memcpy (out + SNP_OFF_HOST_DATA, p->host_data, sizeof (p->host_data));
  veil_random (out + SNP_OFF_REPORT_ID, 32);
  memset (out + SNP_OFF_REPORT_ID_MA, 0xff, 32); /* no migration agent */
  if (version >= 3)
    {
      out[SNP_OFF_CPUID_FAM] = SIM_CPUID_FAM;
      out[SNP_OFF_CPUID_MOD] = SIM_CPUID_MOD;
      out[SNP_OFF_CPUID_STEP] = SIM_CPUID_STEP;
    }
  memcpy (out + SNP_OFF_CHIP_ID, ca->chip_id, SNP_CHIP_ID_LEN);
  static const uint8_t fw[3] = { 0, 55, 1 }; /* build, minor, major: "1.55.0" */
  memcpy (out + SNP_OFF_CURRENT_VERSION, fw, 3);
  memcpy (out + SNP_OFF_COMMITTED_VERSION, fw, 3);

  /* the firmware stores r and s little-endian in 72-byte fields */
  uint8_t r[SNP_P384_LEN], s[SNP_P384_LEN];
  if (veil_ecdsa_sign_rs (ca->key, EVP_sha384 (), out, VEIL_SNP_SIGNED_SIZE, r, s, SNP_P384_LEN, err) < 0)
    return veil_error_wrap (err, "sim CA: signing report");
  for (int i = 0; i < SNP_P384_LEN; i++)
    {
      out[SNP_OFF_SIG_R + i] = r[SNP_P384_LEN - 1 - i];
      out[SNP_OFF_SIG_S + i] = s[SNP_P384_LEN - 1 - i];
    }
  return 0;
}

json_t *
veil_sim_ca_evidence (veil_sim_ca_t *ca, const veil_sim_report_params_t *p, veil_error_t **err)
{
  uint8_t report[VEIL_SNP_REPORT_SIZE];
  if (veil_sim_ca_sign_report (ca, p, report, err) < 0)
    return NULL;
  _cleanup_free_ char *b64 = veil_b64_encode (report, sizeof (report));
  json_t *ev = json_pack ("{s:s, s:[s,s,s]}", "report", b64, "cert_chain", ca->vcek_pem, ca->ask_pem, ca->ark_pem);
  if (!ev)
    abort ();
  return ev;
}
