/* AMD SEV-SNP verifier: the raw ATTESTATION_REPORT (SNP ABI spec 56860 §7.3,
 * Table 23) signed by a VCEK or VLEK, which chains to AMD's ARK through the
 * ASK or the ASVK (VCEK spec 57230).  Evidence arrives in veil's compact form
 * or in Trustee's SnpEvidence form; both are turned into the raw report and
 * go through veil_snp_verify_report(). */
#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>
#include <strings.h>
#include "internal.h"

#define CHAIN_MAX 16       /* certificates accepted in an evidence cert_chain */
#define CERT_DER_MAX 16384 /* one DER certificate inside evidence */
#define EVIDENCE_B64_MAX (4 * CERT_DER_MAX)

/* ---- products ------------------------------------------------------------ */

static const char *const product_names[SNP_N_PRODUCTS] = { "Milan", "Genoa", "Turin" };

const char *
veil_snp_product_name (snp_product_t p)
{
  return p >= 0 && p < SNP_N_PRODUCTS ? product_names[p] : "unknown";
}

snp_product_t
veil_snp_product_from_name (const char *name)
{
  for (int i = 0; name && i < SNP_N_PRODUCTS; i++)
    {
      size_t n = strlen (product_names[i]);
      if (!strncasecmp (name, product_names[i], n) && (name[n] == 0 || name[n] == '-'))
        return (snp_product_t) i;
    }
  return SNP_PRODUCT_UNKNOWN;
}

/* CPUID family 19h models 00h-0Fh are Milan, 10h-1Fh and A0h-AFh Genoa
 * (and Bergamo/Siena, which use Genoa's keys); family 1Ah models 00h-11h
 * Turin — the same mapping AMD's KDS and Trustee use. */
snp_product_t
veil_snp_product_from_cpuid (uint8_t family, uint8_t model)
{
  if (family == 0x19 && model <= 0x0F)
    return SNP_MILAN;
  if (family == 0x19 && ((model >= 0x10 && model <= 0x1F) || (model >= 0xA0 && model <= 0xAF)))
    return SNP_GENOA;
  if (family == 0x1A && model <= 0x11)
    return SNP_TURIN;
  return SNP_PRODUCT_UNKNOWN;
}

/* ---- TCB_VERSION ---------------------------------------------------------- */

void
veil_snp_tcb_decode (uint64_t v, bool turin, veil_snp_tcb_t *out)
{
  uint8_t b[8];
  veil_put_le64 (b, v);
  if (turin)
    *out = (veil_snp_tcb_t){ .fmc = b[0], .bootloader = b[1], .tee = b[2], .snp = b[3], .microcode = b[7] };
  else
    *out = (veil_snp_tcb_t){ .bootloader = b[0], .tee = b[1], .snp = b[6], .microcode = b[7] };
}

uint64_t
veil_snp_tcb_encode (const veil_snp_tcb_t *t, bool turin)
{
  uint8_t b[8] = { 0 };
  if (turin)
    {
      b[0] = t->fmc;
      b[1] = t->bootloader;
      b[2] = t->tee;
      b[3] = t->snp;
    }
  else
    {
      b[0] = t->bootloader;
      b[1] = t->tee;
      b[6] = t->snp;
    }
  b[7] = t->microcode;
  return veil_le64 (b);
}

/* ---- certificate checks ------------------------------------------------------ */

/* AMD signs every certificate of the chain with RSASSA-PSS, SHA-384,
 * MGF1-SHA-384, salt 48 (57230 §2.2).  Pinning the parameters keeps a weaker
 * scheme from being accepted on the strength of the same RSA key. */
static int
check_pss_sha384 (X509 *cert, const char *what, veil_error_t **err)
{
  const ASN1_BIT_STRING *sig = NULL;
  const X509_ALGOR *alg = NULL;
  X509_get0_signature (&sig, &alg, cert);
  const ASN1_OBJECT *obj = NULL;
  int ptype = 0;
  const void *pval = NULL;
  X509_ALGOR_get0 (&obj, &ptype, &pval, alg);
  if (OBJ_obj2nid (obj) != NID_rsassaPss || ptype != V_ASN1_SEQUENCE)
    return veil_error_set (err, EKEYREJECTED, "%s: signature algorithm is %s, not RSA-PSS",
                           what, OBJ_nid2sn (OBJ_obj2nid (obj)));
  const ASN1_STRING *seq = pval;
  const unsigned char *p = ASN1_STRING_get0_data (seq);
  RSA_PSS_PARAMS *pss = d2i_RSA_PSS_PARAMS (NULL, &p, ASN1_STRING_length (seq));
  /* OpenSSL 3 leaves pss->maskHash unset: decode MGF1's hash ourselves */
  const ASN1_TYPE *mgf = pss && pss->maskGenAlgorithm && OBJ_obj2nid (pss->maskGenAlgorithm->algorithm) == NID_mgf1
                             ? pss->maskGenAlgorithm->parameter
                             : NULL;
  X509_ALGOR *mgf_md = mgf && mgf->type == V_ASN1_SEQUENCE ? ASN1_TYPE_unpack_sequence (ASN1_ITEM_rptr (X509_ALGOR), mgf) : NULL;
  bool ok = pss && pss->hashAlgorithm && OBJ_obj2nid (pss->hashAlgorithm->algorithm) == NID_sha384
            && mgf_md && OBJ_obj2nid (mgf_md->algorithm) == NID_sha384
            && pss->saltLength && ASN1_INTEGER_get (pss->saltLength) == VEIL_SHA384_LEN;
  X509_ALGOR_free (mgf_md);
  RSA_PSS_PARAMS_free (pss);
  ERR_clear_error ();
  if (!ok)
    return veil_error_set (err, EKEYREJECTED,
                           "%s: RSA-PSS parameters are not SHA-384, MGF1-SHA-384, salt 48", what);
  return 0;
}

int
veil_snp_check_link (X509 *cert, X509 *issuer, const char *what, veil_error_t **err)
{
  EVP_PKEY *pk = X509_get0_pubkey (issuer);
  if (!pk || !EVP_PKEY_is_a (pk, "RSA"))
    return veil_error_set (err, EKEYREJECTED, "%s: issuer key is not RSA", what);
  if (check_pss_sha384 (cert, what, err) < 0)
    return -EKEYREJECTED;
  return veil_x509_check_signed_by (cert, issuer, what, err);
}

/* ---- VCEK/VLEK extensions ------------------------------------------------------ */

/* The DER content of the one extension with this OID; NULL when absent.  A
 * duplicated extension is an error: which copy counts would be ambiguous. */
static const ASN1_OCTET_STRING *
ext_find (X509 *cert, const char *oid, const char *what, int *rc, veil_error_t **err)
{
  ASN1_OBJECT *obj = OBJ_txt2obj (oid, 1);
  if (!obj)
    abort ();
  int i = X509_get_ext_by_OBJ (cert, obj, -1);
  int j = i >= 0 ? X509_get_ext_by_OBJ (cert, obj, i) : -1;
  ASN1_OBJECT_free (obj);
  *rc = 0;
  if (i < 0)
    return NULL;
  if (j >= 0)
    {
      *rc = veil_error_set (err, EBADMSG, "%s: extension %s appears more than once", what, oid);
      return NULL;
    }
  return X509_EXTENSION_get_data (X509_get_ext (cert, i));
}

static int
ext_spl (X509 *cert, const char *oid, const char *name, const char *what, bool required,
         uint8_t *out, bool *present, veil_error_t **err)
{
  int rc;
  const ASN1_OCTET_STRING *os = ext_find (cert, oid, what, &rc, err);
  if (rc < 0)
    return rc;
  if (present)
    *present = os != NULL;
  if (!os)
    return required ? veil_error_set (err, EBADMSG, "%s: no %s extension (%s)", what, name, oid) : 0;
  const unsigned char *p = ASN1_STRING_get0_data (os);
  long len = ASN1_STRING_length (os);
  ASN1_INTEGER *ai = d2i_ASN1_INTEGER (NULL, &p, len);
  int64_t v = -1;
  bool ok = ai && p == ASN1_STRING_get0_data (os) + len && ASN1_INTEGER_get_int64 (&v, ai) == 1;
  ASN1_INTEGER_free (ai);
  ERR_clear_error ();
  if (!ok || v < 0 || v > 255)
    return veil_error_set (err, EBADMSG, "%s: %s extension is not an INTEGER 0..255", what, name);
  *out = (uint8_t) v;
  return 0;
}

/* hwID was once the 64 raw bytes; AMD's KDS now wraps it in an OCTET STRING
 * (the two sample "invalid" VCEKs carry one form each). */
static int
ext_hwid (X509 *cert, const char *what, snp_cert_ext_t *out, veil_error_t **err)
{
  int rc;
  const ASN1_OCTET_STRING *os = ext_find (cert, SNP_OID_HWID, what, &rc, err);
  if (rc < 0 || !os)
    return rc;
  const unsigned char *p = ASN1_STRING_get0_data (os);
  long len = ASN1_STRING_length (os);
  if (len == SNP_CHIP_ID_LEN)
    {
      memcpy (out->hwid, p, SNP_CHIP_ID_LEN);
      out->has_hwid = true;
      return 0;
    }
  ASN1_OCTET_STRING *inner = d2i_ASN1_OCTET_STRING (NULL, &p, len);
  bool ok = inner && p == ASN1_STRING_get0_data (os) + len && ASN1_STRING_length (inner) == SNP_CHIP_ID_LEN;
  if (ok)
    memcpy (out->hwid, ASN1_STRING_get0_data (inner), SNP_CHIP_ID_LEN);
  ASN1_OCTET_STRING_free (inner);
  ERR_clear_error ();
  if (!ok)
    return veil_error_set (err, EBADMSG, "%s: hwID extension is not 64 bytes", what);
  out->has_hwid = true;
  return 0;
}

static int
ext_product (X509 *cert, const char *what, snp_cert_ext_t *out, veil_error_t **err)
{
  int rc;
  const ASN1_OCTET_STRING *os = ext_find (cert, SNP_OID_PRODUCT_NAME, what, &rc, err);
  if (rc < 0 || !os)
    return rc;
  const unsigned char *p = ASN1_STRING_get0_data (os);
  long len = ASN1_STRING_length (os);
  ASN1_TYPE *t = d2i_ASN1_TYPE (NULL, &p, len);
  int type = t ? ASN1_TYPE_get (t) : -1;
  bool ok = t && p == ASN1_STRING_get0_data (os) + len
            && (type == V_ASN1_IA5STRING || type == V_ASN1_UTF8STRING || type == V_ASN1_PRINTABLESTRING)
            && t->value.asn1_string->length > 0
            && (size_t) t->value.asn1_string->length < sizeof (out->product_name);
  for (int i = 0; ok && i < t->value.asn1_string->length; i++)
    {
      unsigned char c = t->value.asn1_string->data[i];
      ok = c > 0x20 && c < 0x7f;
      out->product_name[i] = (char) c;
    }
  ASN1_TYPE_free (t);
  ERR_clear_error ();
  if (!ok)
    {
      out->product_name[0] = 0;
      return veil_error_set (err, EBADMSG, "%s: productName extension is not a short printable string", what);
    }
  return 0;
}

int
veil_snp_cert_ext (X509 *cert, const char *what, snp_cert_ext_t *out, veil_error_t **err)
{
  memset (out, 0, sizeof (*out));
  if (ext_spl (cert, SNP_OID_BL_SPL, "blSPL", what, true, &out->spl.bootloader, NULL, err) < 0
      || ext_spl (cert, SNP_OID_TEE_SPL, "teeSPL", what, true, &out->spl.tee, NULL, err) < 0
      || ext_spl (cert, SNP_OID_SNP_SPL, "snpSPL", what, true, &out->spl.snp, NULL, err) < 0
      || ext_spl (cert, SNP_OID_UCODE_SPL, "ucodeSPL", what, true, &out->spl.microcode, NULL, err) < 0
      || ext_spl (cert, SNP_OID_FMC_SPL, "fmcSPL", what, false, &out->spl.fmc, &out->has_fmc, err) < 0
      || ext_hwid (cert, what, out, err) < 0 || ext_product (cert, what, out, err) < 0)
    return -EBADMSG;
  return 0;
}

/* ---- report ------------------------------------------------------------------------ */

static int
report_check_format (const uint8_t *r, size_t len, veil_error_t **err)
{
  if (!r || len != VEIL_SNP_REPORT_SIZE)
    return veil_error_set (err, EBADMSG, "snp: report size is %zu bytes, expected %d", r ? len : 0,
                           VEIL_SNP_REPORT_SIZE);
  uint32_t version = veil_le32 (r + SNP_OFF_VERSION);
  if (version != 2 && version != 3 && version != 5)
    return veil_error_set (err, EBADMSG, "snp: unsupported report version %u (accepted: 2, 3, 5)", version);
  uint32_t algo = veil_le32 (r + SNP_OFF_SIG_ALGO);
  if (algo != SNP_SIG_ALGO_ECDSA_P384_SHA384)
    return veil_error_set (err, EBADMSG,
                           "snp: unsupported signature_algo %u (only 1, ECDSA P-384 with SHA-384)", algo);
  unsigned key = SNP_SIGNING_KEY (veil_le32 (r + SNP_OFF_SIGNER_INFO));
  if (key != SNP_SIGNING_KEY_VCEK && key != SNP_SIGNING_KEY_VLEK)
    return veil_error_set (err, EBADMSG, "snp: signer_info names signing key %u, neither VCEK (0) nor VLEK (1)", key);
  return 0;
}

/* r and s are 72-byte little-endian fields of which only the low 48 bytes
 * carry the P-384 value; the rest must be zero (Table 141, ECDSA signature). */
static int
report_check_signature (const uint8_t *r, X509 *vek, const char *vek_name, veil_error_t **err)
{
  EVP_PKEY *pk = X509_get0_pubkey (vek);
  char group[32] = "";
  size_t glen = 0;
  if (!pk || !EVP_PKEY_is_a (pk, "EC") || !EVP_PKEY_get_group_name (pk, group, sizeof (group), &glen)
      || strcmp (group, "secp384r1") != 0)
    {
      ERR_clear_error ();
      return veil_error_set (err, EKEYREJECTED, "snp: %s public key is not ECDSA P-384", vek_name);
    }
  uint8_t rb[SNP_P384_LEN], sb[SNP_P384_LEN];
  for (int i = SNP_P384_LEN; i < SNP_SIG_FIELD_LEN; i++)
    if (r[SNP_OFF_SIG_R + i] || r[SNP_OFF_SIG_S + i])
      return veil_error_set (err, EKEYREJECTED, "snp: report signature has non-zero bytes beyond 384-bit r/s");
  for (int i = 0; i < SNP_P384_LEN; i++)
    {
      rb[i] = r[SNP_OFF_SIG_R + SNP_P384_LEN - 1 - i];
      sb[i] = r[SNP_OFF_SIG_S + SNP_P384_LEN - 1 - i];
    }
  if (veil_ecdsa_verify_rs (pk, EVP_sha384 (), r, VEIL_SNP_SIGNED_SIZE, rb, sb, SNP_P384_LEN, NULL) < 0)
    return veil_error_set (err, EKEYREJECTED, "snp: report signature does not verify with the %s", vek_name);
  return 0;
}

/* ---- chain to a root ------------------------------------------------------------------ */

typedef struct snp_trust
{
  snp_product_t product;
  X509 *ark, *ask; /* borrowed: a built-in anchor or certificates of the evidence */
  bool sim;
} snp_trust_t;

/* Byte-equal DER, told by the SHA-256 of each encoding (kept with parsed
 * certificates: no re-encoding of two RSA-4096 certificates per request). */
static bool
der_equal (X509 *a, X509 *b)
{
  uint8_t da[VEIL_SHA256_LEN], db[VEIL_SHA256_LEN];
  return a == b
         || (veil_x509_sha256 (a, da) == 0 && veil_x509_sha256 (b, db) == 0
             && memcmp (da, db, sizeof (da)) == 0);
}

static bool
is_sim_root (const veil_attest_config_t *cfg, X509 *c)
{
  for (int i = 0; cfg->sim_roots && i < sk_X509_num (cfg->sim_roots); i++)
    if (der_equal (sk_X509_value (cfg->sim_roots, i), c))
      return true;
  return false;
}

static void
issuer_cn (X509 *c, const char *fallback, char *buf, size_t n)
{
  if (X509_NAME_get_text_by_NID (X509_get_issuer_name (c), NID_commonName, buf, (int) n) < 0)
    snprintf (buf, n, "%s", fallback);
  ERR_clear_error ();
}

/* A software "AMD" (the sim CA) is accepted only when its ARK is byte-equal
 * to a root the operator configured: the ARK, an intermediate and the VEK
 * from the evidence go through the same link checks as AMD's chain. */
static int
trust_find_sim (X509 *vek, int kind, STACK_OF (X509) * chain, const veil_attest_config_t *cfg,
                snp_trust_t *t, veil_error_t **err)
{
  const char *vek_name = kind == SNP_SIGNING_KEY_VCEK ? "VCEK" : "VLEK";
  int rc = -ENOENT;
  for (int i = 0; i < sk_X509_num (chain); i++)
    {
      X509 *root = sk_X509_value (chain, i);
      if (!is_sim_root (cfg, root))
        continue;
      if ((rc = veil_snp_check_link (root, root, "snp: sim ARK self-signature", err)) < 0)
        continue;
      for (int j = 0; j < sk_X509_num (chain); j++)
        {
          X509 *ica = sk_X509_value (chain, j);
          if (j == i || (rc = veil_snp_check_link (ica, root, "snp: sim ASK by sim ARK", err)) < 0)
            continue;
          _cleanup_free_ char *what = xasprintf ("snp: %s by sim ASK", vek_name);
          if ((rc = veil_snp_check_link (vek, ica, what, err)) < 0)
            continue;
          snp_cert_ext_t ext;
          if ((rc = veil_snp_cert_ext (vek, vek_name, &ext, err)) < 0)
            return veil_error_wrap (err, "snp");
          t->product = veil_snp_product_from_name (ext.product_name);
          if (t->product == SNP_PRODUCT_UNKNOWN)
            return veil_error_set (err, EKEYREJECTED, "snp: sim %s names unknown product '%s'",
                                   vek_name, ext.product_name);
          t->ark = root;
          t->ask = ica;
          t->sim = true;
          return 0;
        }
    }
  if (rc == -ENOENT)
    return veil_error_set (err, EKEYREJECTED, "snp: evidence cert_chain holds none of the configured sim roots");
  return rc;
}

static int
trust_find (X509 *vek, int kind, STACK_OF (X509) * chain, const veil_attest_config_t *cfg,
            snp_trust_t *t, veil_error_t **err)
{
  size_t n = 0;
  const veil_snp_anchor_t *a = veil_snp_anchors (&n, err);
  if (!a)
    return -EBADMSG;
  const char *vek_name = kind == SNP_SIGNING_KEY_VCEK ? "VCEK" : "VLEK";
  const char *ica_name = kind == SNP_SIGNING_KEY_VCEK ? "ASK" : "ASVK";
  _cleanup_error_ veil_error_t *link_err = NULL;
  for (size_t i = 0; i < n; i++)
    {
      X509 *ica = kind == SNP_SIGNING_KEY_VCEK ? a[i].ask : a[i].asvk;
      /* only the product whose intermediate issued it can have signed it */
      if (X509_NAME_cmp (X509_get_issuer_name (vek), X509_get_subject_name (ica)) != 0)
        continue;
      _cleanup_free_ char *what = xasprintf ("%s by %s-%s", vek_name, ica_name, a[i].product);
      if (veil_snp_check_link (vek, ica, what, &link_err) < 0)
        continue;
      *t = (snp_trust_t){ .product = veil_snp_product_from_name (a[i].product), .ark = a[i].ark, .ask = ica };
      return 0;
    }
  if (cfg->sim_roots && sk_X509_num (cfg->sim_roots) > 0 && chain && sk_X509_num (chain) > 0)
    {
      veil_error_t *sim_err = NULL;
      if (trust_find_sim (vek, kind, chain, cfg, t, &sim_err) == 0)
        return 0;
      if (!link_err)
        return veil_error_propagate (err, sim_err);
      veil_error_free (sim_err);
    }
  if (link_err)
    return veil_error_set (err, EKEYREJECTED, "snp: %s does not chain to AMD: %s", vek_name, link_err->msg);
  char issuer[128];
  issuer_cn (vek, "(no CN)", issuer, sizeof (issuer));
  return veil_error_set (err, EKEYREJECTED, "snp: %s does not chain to an AMD %s (Milan, Genoa, Turin)%s: its issuer is '%s'",
                         vek_name, ica_name, cfg->sim_roots && sk_X509_num (cfg->sim_roots) > 0 ? " nor to a configured sim root" : "",
                         issuer);
}

static int
trust_check_time (X509 *vek, const char *vek_name, const snp_trust_t *t, const veil_attest_config_t *cfg,
                  veil_error_t **err)
{
  int64_t now = cfg->now ? cfg->now : veil_now_unix ();
  if (veil_x509_check_time (vek, now, vek_name, err) < 0 || veil_x509_check_time (t->ask, now, "ASK", err) < 0
      || veil_x509_check_time (t->ark, now, "ARK", err) < 0)
    return veil_error_wrap (err, "snp");
  return 0;
}

/* ---- report contents vs certificate and policy ---------------------------------------- */

static const char *
tcb_first_diff (const veil_snp_tcb_t *a, const veil_snp_tcb_t *b, bool fmc, int *va, int *vb)
{
#define TCB_CMP(f)            \
  if (a->f != b->f)           \
    {                         \
      *va = a->f, *vb = b->f; \
      return #f;              \
    }
  TCB_CMP (bootloader)
  TCB_CMP (tee)
  TCB_CMP (snp)
  TCB_CMP (microcode)
  if (fmc)
    TCB_CMP (fmc)
#undef TCB_CMP
  return NULL;
}

static const char *
tcb_first_below (const veil_snp_tcb_t *a, const veil_snp_tcb_t *min, bool fmc, int *va, int *vb)
{
#define TCB_MIN(f)              \
  if (a->f < min->f)            \
    {                           \
      *va = a->f, *vb = min->f; \
      return #f;                \
    }
  TCB_MIN (bootloader)
  TCB_MIN (tee)
  TCB_MIN (snp)
  TCB_MIN (microcode)
  if (fmc)
    TCB_MIN (fmc)
#undef TCB_MIN
  return NULL;
}

/* The VEK is derived for (issued at) one TCB: reported_tcb must equal its
 * SPL extensions, and a VCEK's hwID must equal chip_id. */
static int
check_against_cert (const uint8_t *r, X509 *vek, int kind, snp_product_t product, veil_error_t **err)
{
  const char *vek_name = kind == SNP_SIGNING_KEY_VCEK ? "VCEK" : "VLEK";
  snp_cert_ext_t ext;
  if (veil_snp_cert_ext (vek, vek_name, &ext, err) < 0)
    return veil_error_wrap (err, "snp");
  bool turin = product == SNP_TURIN;
  if (turin && !ext.has_fmc)
    return veil_error_set (err, EBADMSG, "snp: Turin %s has no fmcSPL extension", vek_name);
  veil_snp_tcb_t rep;
  veil_snp_tcb_decode (veil_le64 (r + SNP_OFF_REPORTED_TCB), turin, &rep);
  int va = 0, vb = 0;
  const char *f = tcb_first_diff (&rep, &ext.spl, turin, &va, &vb);
  if (f)
    return veil_error_set (err, EKEYREJECTED, "snp: reported_tcb.%s is %d but the %s was issued for %d",
                           f, va, vek_name, vb);
  if (kind == SNP_SIGNING_KEY_VCEK)
    {
      if (!ext.has_hwid)
        return veil_error_set (err, EBADMSG, "snp: VCEK has no hwID extension");
      if (!veil_ct_equal (ext.hwid, r + SNP_OFF_CHIP_ID, SNP_CHIP_ID_LEN))
        return veil_error_set (err, EKEYREJECTED, "snp: report chip_id does not match the VCEK's hwID");
    }
  return 0;
}

static int
check_product (const uint8_t *r, const snp_trust_t *t, veil_error_t **err)
{
  if (veil_le32 (r + SNP_OFF_VERSION) < 3)
    return 0;
  snp_product_t p = veil_snp_product_from_cpuid (r[SNP_OFF_CPUID_FAM], r[SNP_OFF_CPUID_MOD]);
  if (p != SNP_PRODUCT_UNKNOWN && p != t->product)
    return veil_error_set (err, EKEYREJECTED, "snp: report CPUID (family %#x model %#x) is %s but the key chains to %s",
                           r[SNP_OFF_CPUID_FAM], r[SNP_OFF_CPUID_MOD], veil_snp_product_name (p),
                           veil_snp_product_name (t->product));
  return 0;
}

static bool
chip_id_allowed (const uint8_t *chip_id, const veil_attest_config_t *cfg)
{
  _cleanup_free_ char *hex = veil_hex_encode (chip_id, SNP_CHIP_ID_LEN);
  for (size_t i = 0; i < cfg->n_snp_chip_ids; i++)
    if (cfg->snp_chip_ids[i] && !strcasecmp (cfg->snp_chip_ids[i], hex))
      return true;
  return false;
}

static int
check_policy (const uint8_t *r, snp_product_t product, const veil_attest_config_t *cfg, veil_error_t **err)
{
  uint64_t policy = veil_le64 (r + SNP_OFF_POLICY);
  if ((policy & SNP_POLICY_DEBUG) && !cfg->allow_debug)
    return veil_error_set (err, EACCES, "snp: guest policy allows debugging (policy.DEBUG, bit 19) and debug is not allowed");
  bool turin = product == SNP_TURIN;
  veil_snp_tcb_t rep;
  veil_snp_tcb_decode (veil_le64 (r + SNP_OFF_REPORTED_TCB), turin, &rep);
  int va = 0, vb = 0;
  const char *f = tcb_first_below (&rep, &cfg->snp_min_tcb, turin, &va, &vb);
  if (f)
    return veil_error_set (err, EACCES, "snp: reported_tcb.%s %d is below the minimum %d", f, va, vb);
  if (cfg->snp_chip_ids && !chip_id_allowed (r + SNP_OFF_CHIP_ID, cfg))
    return veil_error_set (err, EACCES, "snp: chip_id is not in the allowed list");
  return 0;
}

static int
check_expect (const uint8_t *r, const veil_attest_expect_t *expect, veil_error_t **err)
{
  if (!expect)
    return 0;
  if (expect->report_data)
    {
      uint8_t want[64] = { 0 };
      if (expect->report_data_len > sizeof (want))
        return veil_error_set (err, EINVAL, "snp: expected report_data of %zu bytes exceeds 64", expect->report_data_len);
      memcpy (want, expect->report_data, expect->report_data_len);
      if (!veil_ct_equal (want, r + SNP_OFF_REPORT_DATA, sizeof (want)))
        return veil_error_set (err, EACCES, "snp: report_data does not match the expected value");
    }
  if (expect->init_data_digest)
    {
      uint8_t want[32] = { 0 };
      if (expect->init_data_digest_len > sizeof (want))
        return veil_error_set (err, EINVAL, "snp: init-data digest of %zu bytes exceeds host_data (32)",
                               expect->init_data_digest_len);
      memcpy (want, expect->init_data_digest, expect->init_data_digest_len);
      if (!veil_ct_equal (want, r + SNP_OFF_HOST_DATA, sizeof (want)))
        return veil_error_set (err, EACCES, "snp: host_data does not match the init-data digest");
    }
  return 0;
}

/* ---- claims ----------------------------------------------------------------------------- */

static void
put_hex (json_t *o, const char *key, const uint8_t *p, size_t n)
{
  _cleanup_free_ char *h = veil_hex_encode (p, n);
  json_object_set_new (o, key, json_string (h));
}

static void
put_u64 (json_t *o, const char *key, uint64_t v)
{
  /* jansson integers are signed 64-bit; reserved high bits make larger values meaningless */
  json_object_set_new (o, key, v <= INT64_MAX ? json_integer ((json_int_t) v) : json_null ());
}

static void
put_tcb (json_t *o, const char *prefix, uint64_t v, bool turin)
{
  veil_snp_tcb_t t;
  veil_snp_tcb_decode (v, turin, &t);
  char k[64];
  snprintf (k, sizeof (k), "%s_bootloader", prefix);
  json_object_set_new (o, k, json_integer (t.bootloader));
  snprintf (k, sizeof (k), "%s_tee", prefix);
  json_object_set_new (o, k, json_integer (t.tee));
  snprintf (k, sizeof (k), "%s_snp", prefix);
  json_object_set_new (o, k, json_integer (t.snp));
  snprintf (k, sizeof (k), "%s_microcode", prefix);
  json_object_set_new (o, k, json_integer (t.microcode));
  if (turin)
    {
      snprintf (k, sizeof (k), "%s_fmc", prefix);
      json_object_set_new (o, k, json_integer (t.fmc));
    }
}

static void
put_fw_version (json_t *o, const char *key, const uint8_t *p)
{
  char v[16];
  snprintf (v, sizeof (v), "%u.%u.%u", p[2], p[1], p[0]); /* major.minor.build */
  json_object_set_new (o, key, json_string (v));
}

static json_t *
claims_build (const uint8_t *r, int kind, const snp_trust_t *t)
{
  bool turin = t->product == SNP_TURIN;
  uint32_t version = veil_le32 (r + SNP_OFF_VERSION);
  uint64_t policy = veil_le64 (r + SNP_OFF_POLICY), plat = veil_le64 (r + SNP_OFF_PLATFORM_INFO);
  uint32_t signer = veil_le32 (r + SNP_OFF_SIGNER_INFO);
  json_t *c = json_object ();
  json_object_set_new (c, "version", json_integer (version));
  json_object_set_new (c, "guest_svn", json_integer (veil_le32 (r + SNP_OFF_GUEST_SVN)));
  put_u64 (c, "policy", policy);
  json_object_set_new (c, "policy_abi_major", json_integer ((policy >> 8) & 0xff));
  json_object_set_new (c, "policy_abi_minor", json_integer (policy & 0xff));
  json_object_set_new (c, "policy_smt_allowed", json_boolean (policy & SNP_POLICY_SMT));
  json_object_set_new (c, "policy_migrate_ma", json_boolean (policy & SNP_POLICY_MIGRATE_MA));
  json_object_set_new (c, "policy_debug_allowed", json_boolean (policy & SNP_POLICY_DEBUG));
  json_object_set_new (c, "policy_single_socket", json_boolean (policy & SNP_POLICY_SINGLE_SOCKET));
  put_hex (c, "family_id", r + SNP_OFF_FAMILY_ID, 16);
  put_hex (c, "image_id", r + SNP_OFF_IMAGE_ID, 16);
  json_object_set_new (c, "vmpl", json_integer (veil_le32 (r + SNP_OFF_VMPL)));
  put_tcb (c, "current_tcb", veil_le64 (r + SNP_OFF_CURRENT_TCB), turin);
  put_tcb (c, "reported_tcb", veil_le64 (r + SNP_OFF_REPORTED_TCB), turin);
  put_tcb (c, "committed_tcb", veil_le64 (r + SNP_OFF_COMMITTED_TCB), turin);
  put_tcb (c, "launch_tcb", veil_le64 (r + SNP_OFF_LAUNCH_TCB), turin);
  put_u64 (c, "platform_info", plat);
  json_object_set_new (c, "platform_smt_enabled", json_boolean (plat & 1));
  json_object_set_new (c, "platform_tsme_enabled", json_boolean (plat & 2));
  json_object_set_new (c, "author_key_en", json_boolean (signer & 1));
  json_object_set_new (c, "mask_chip_key", json_boolean (signer & 2));
  put_hex (c, "report_data", r + SNP_OFF_REPORT_DATA, 64);
  put_hex (c, "measurement", r + SNP_OFF_MEASUREMENT, 48);
  put_hex (c, "host_data", r + SNP_OFF_HOST_DATA, 32);
  put_hex (c, "id_key_digest", r + SNP_OFF_ID_KEY_DIGEST, 48);
  put_hex (c, "author_key_digest", r + SNP_OFF_AUTHOR_KEY_DIGEST, 48);
  put_hex (c, "report_id", r + SNP_OFF_REPORT_ID, 32);
  put_hex (c, "report_id_ma", r + SNP_OFF_REPORT_ID_MA, 32);
  put_hex (c, "chip_id", r + SNP_OFF_CHIP_ID, SNP_CHIP_ID_LEN);
  put_fw_version (c, "current_version", r + SNP_OFF_CURRENT_VERSION);
  put_fw_version (c, "committed_version", r + SNP_OFF_COMMITTED_VERSION);
  if (version >= 3)
    {
      json_object_set_new (c, "cpuid_family", json_integer (r[SNP_OFF_CPUID_FAM]));
      json_object_set_new (c, "cpuid_model", json_integer (r[SNP_OFF_CPUID_MOD]));
      json_object_set_new (c, "cpuid_stepping", json_integer (r[SNP_OFF_CPUID_STEP]));
    }
  if (version >= 5)
    {
      put_u64 (c, "launch_mit_vector", veil_le64 (r + SNP_OFF_LAUNCH_MIT));
      put_u64 (c, "current_mit_vector", veil_le64 (r + SNP_OFF_CURRENT_MIT));
    }
  json_object_set_new (c, "signing_key", json_string (kind == SNP_SIGNING_KEY_VCEK ? "vcek" : "vlek"));
  json_object_set_new (c, "product", json_string (veil_snp_product_name (t->product)));
  if (t->sim)
    json_object_set_new (c, "sim", json_true ());
  return c;
}

json_t *
veil_snp_verify_report (const uint8_t *report, size_t len, X509 *vcek, STACK_OF (X509) * chain,
                        const veil_attest_expect_t *expect, const veil_attest_config_t *cfg,
                        veil_error_t **err)
{
  static const veil_attest_config_t defaults = { 0 };
  if (!cfg)
    cfg = &defaults;
  if (report_check_format (report, len, err) < 0)
    return NULL;
  int kind = (int) SNP_SIGNING_KEY (veil_le32 (report + SNP_OFF_SIGNER_INFO));
  const char *vek_name = kind == SNP_SIGNING_KEY_VCEK ? "VCEK" : "VLEK";
  if (!vcek)
    {
      veil_error_set (err, ENOENT, "snp: no %s certificate for the report", vek_name);
      return NULL;
    }
  /* The signature comes first so that any change to a signed field is
   * reported as what it is, before the fields are interpreted. */
  snp_trust_t t = { 0 };
  if (trust_find (vcek, kind, chain, cfg, &t, err) < 0 || trust_check_time (vcek, vek_name, &t, cfg, err) < 0
      || report_check_signature (report, vcek, vek_name, err) < 0 || check_product (report, &t, err) < 0
      || check_against_cert (report, vcek, kind, t.product, err) < 0 || check_policy (report, t.product, cfg, err) < 0
      || check_expect (report, expect, err) < 0)
    return NULL;
  if (t.sim)
    veil_log_warn ("attest", "accepted an SNP report from a sim (software, INSECURE) root", "product=%s",
                   veil_snp_product_name (t.product));
  return claims_build (report, kind, &t);
}

/* ---- evidence ---------------------------------------------------------------------------- */

typedef struct snp_certs
{
  X509 *vek;                /* owned */
  int vek_type;             /* -1 unknown (compact form), else SNP_SIGNING_KEY_* */
  STACK_OF (X509) * others; /* owned: ASK/ASVK/ARK and anything else supplied */
} snp_certs_t;

static void
snp_certs_clear (snp_certs_t *c)
{
  X509_free (c->vek);
  veil_x509_stack_free (c->others);
  c->vek = NULL;
  c->others = NULL;
}

static int
bytes_from_json_array (const json_t *a, size_t max, uint8_t **out, size_t *out_len, const char *what,
                       veil_error_t **err)
{
  size_t n = json_array_size (a);
  if (n == 0 || n > max)
    return veil_error_set (err, EBADMSG, "%s: array of %zu bytes (1..%zu allowed)", what, n, max);
  _cleanup_free_ uint8_t *b = xmalloc (n);
  for (size_t i = 0; i < n; i++)
    {
      json_t *v = json_array_get (a, i);
      if (!json_is_integer (v) || json_integer_value (v) < 0 || json_integer_value (v) > 255)
        return veil_error_set (err, EBADMSG, "%s: element %zu is not a byte", what, i);
      b[i] = (uint8_t) json_integer_value (v);
    }
  *out = steal_pointer (&b);
  *out_len = n;
  return 0;
}

/* One certificate source: PEM text (one or more certificates), base64 DER,
 * or an array of byte values (serde's Vec<u8>). */
static STACK_OF (X509) * certs_from_json (const json_t *v, const char *what, veil_error_t **err)
{
  _cleanup_free_ uint8_t *der = NULL;
  size_t len = 0;
  if (json_is_string (v))
    {
      const char *s = json_string_value (v);
      size_t sl = json_string_length (v);
      if (sl > EVIDENCE_B64_MAX)
        {
          veil_error_set (err, E2BIG, "%s: %zu characters is too long for a certificate", what, sl);
          return NULL;
        }
      if (memmem (s, sl, "-----BEGIN", 10))
        {
          STACK_OF (X509) *sk = veil_x509_stack_from_pem (s, sl, err);
          if (!sk)
            veil_error_wrap (err, "%s", what);
          return sk;
        }
      if (veil_b64any_decode (s, &der, &len, err) < 0)
        {
          veil_error_wrap (err, "%s: neither PEM nor base64 DER", what);
          return NULL;
        }
    }
  else if (json_is_array (v))
    {
      if (bytes_from_json_array (v, CERT_DER_MAX, &der, &len, what, err) < 0)
        return NULL;
    }
  else
    {
      veil_error_set (err, EBADMSG, "%s: not a string or an array of bytes", what);
      return NULL;
    }
  X509 *x = veil_x509_from_der (der, len, err);
  if (!x)
    {
      veil_error_wrap (err, "%s", what);
      return NULL;
    }
  STACK_OF (X509) *sk = sk_X509_new_null ();
  sk_X509_push (sk, x);
  return sk;
}

/* Trustee's CertTableEntry type (sev crate CertType, serde unit variants):
 * "VCEK", "VLEK", "ASK", "ARK", "CRL", "Empty" or {"OTHER": uuid}. */
static int
cert_type_of (const json_t *entry)
{
  const char *t = veil_json_str (entry, "cert_type");
  if (!t)
    return -2; /* OTHER / unknown: skipped */
  if (!strcmp (t, "VCEK"))
    return SNP_SIGNING_KEY_VCEK;
  if (!strcmp (t, "VLEK"))
    return SNP_SIGNING_KEY_VLEK;
  if (!strcmp (t, "ASK") || !strcmp (t, "ARK") || !strcmp (t, "ASVK"))
    return -1;
  return -2;
}

static bool
is_ec_cert (X509 *x)
{
  EVP_PKEY *pk = X509_get0_pubkey (x);
  ERR_clear_error ();
  return pk && EVP_PKEY_is_a (pk, "EC");
}

static int
certs_add (snp_certs_t *c, STACK_OF (X509) * sk, int type, const char *what, veil_error_t **err)
{
  while (sk_X509_num (sk) > 0)
    {
      X509 *x = sk_X509_shift (sk);
      /* typed entries name the VEK; untyped ones (compact form) are told
       * apart by their key: VCEK/VLEK are P-384, ASK/ASVK/ARK RSA-4096 */
      bool is_vek = type >= 0 || (type == -3 && is_ec_cert (x));
      if (is_vek && c->vek)
        {
          X509_free (x);
          return veil_error_set (err, EBADMSG, "%s: more than one VCEK/VLEK in cert_chain", what);
        }
      if (is_vek)
        {
          c->vek = x;
          c->vek_type = type;
        }
      else
        sk_X509_push (c->others, x);
    }
  return 0;
}

static int
certs_parse (const json_t *chain, snp_certs_t *c, veil_error_t **err)
{
  c->others = sk_X509_new_null ();
  c->vek_type = -1;
  if (!chain || json_is_null (chain))
    return 0;
  if (!json_is_array (chain))
    return veil_error_set (err, EBADMSG, "snp: evidence cert_chain is not an array");
  if (json_array_size (chain) > CHAIN_MAX)
    return veil_error_set (err, E2BIG, "snp: evidence cert_chain has %zu entries (at most %d)",
                           json_array_size (chain), CHAIN_MAX);
  size_t i;
  json_t *e;
  json_array_foreach (chain, i, e)
  {
    char what[48];
    snprintf (what, sizeof (what), "snp: cert_chain[%zu]", i);
    int type = -3; /* untyped */
    const json_t *src = e;
    if (json_is_object (e))
      {
        type = cert_type_of (e);
        if (type == -2)
          continue;
        src = json_object_get (e, "data");
      }
    _cleanup_x509_stack_ STACK_OF (X509) *sk = certs_from_json (src, what, err);
    if (!sk)
      return -EBADMSG;
    if (type >= 0 && sk_X509_num (sk) != 1)
      return veil_error_set (err, EBADMSG, "%s: a VCEK/VLEK entry holds %d certificates", what, sk_X509_num (sk));
    if (sk_X509_num (c->others) + sk_X509_num (sk) > CHAIN_MAX)
      return veil_error_set (err, E2BIG, "snp: evidence cert_chain has more than %d certificates", CHAIN_MAX);
    if (certs_add (c, sk, type, what, err) < 0)
      return -EBADMSG;
  }
  return 0;
}

/* ---- Trustee's SnpEvidence.attestation_report --------------------------------------------
 * serde_json of the `sev` crate's AttestationReport.  sev 6/7 (Trustee since
 * 2025): integers as numbers; byte arrays as arrays of numbers; GuestPolicy,
 * PlatformInfo, KeyInfo as their integer; TcbVersion as
 * {"fmc": null|n, "bootloader", "tee", "snp", "microcode"} (fmc set = Turin
 * layout); cpuid_* and *_mit_vector as null|n; current/committed as
 * {"major","minor","build"}; signature as {"r":[72], "s":[72]}.  sev 1.x-3.x
 * (older Trustee) kept the reserved fields: TcbVersion {"bootloader","tee",
 * "_reserved":[4],"snp","microcode"}, "_author_key_en", "_reserved_0".."_reserved_4",
 * "current_build"/"current_minor"/..., signature "_reserved":[368].  Both
 * are accepted; reserved bytes the newer form drops are zero, as the
 * firmware writes them, so the signature still covers exactly what was sent. */

enum
{
  SJ_U8,
  SJ_U32,
  SJ_U64,
  SJ_BYTES,
  SJ_TCB,
  SJ_FWVER,
};

#define SJ_REQ 1  /* must be present */
#define SJ_NULL 2 /* may be null (serde Option::None) */

static const struct sev_field
{
  const char *name;
  uint16_t off;
  uint8_t kind;
  uint16_t len;
  uint8_t flags;
} sev_fields[] = {
  { "version", SNP_OFF_VERSION, SJ_U32, 0, SJ_REQ },
  { "guest_svn", SNP_OFF_GUEST_SVN, SJ_U32, 0, SJ_REQ },
  { "policy", SNP_OFF_POLICY, SJ_U64, 0, SJ_REQ },
  { "family_id", SNP_OFF_FAMILY_ID, SJ_BYTES, 16, SJ_REQ },
  { "image_id", SNP_OFF_IMAGE_ID, SJ_BYTES, 16, SJ_REQ },
  { "vmpl", SNP_OFF_VMPL, SJ_U32, 0, SJ_REQ },
  { "sig_algo", SNP_OFF_SIG_ALGO, SJ_U32, 0, SJ_REQ },
  { "current_tcb", SNP_OFF_CURRENT_TCB, SJ_TCB, 0, SJ_REQ },
  { "plat_info", SNP_OFF_PLATFORM_INFO, SJ_U64, 0, SJ_REQ },
  { "key_info", SNP_OFF_SIGNER_INFO, SJ_U32, 0, 0 },
  { "_author_key_en", SNP_OFF_SIGNER_INFO, SJ_U32, 0, 0 },
  { "_reserved_0", 0x04C, SJ_U32, 0, 0 },
  { "report_data", SNP_OFF_REPORT_DATA, SJ_BYTES, 64, SJ_REQ },
  { "measurement", SNP_OFF_MEASUREMENT, SJ_BYTES, 48, SJ_REQ },
  { "host_data", SNP_OFF_HOST_DATA, SJ_BYTES, 32, SJ_REQ },
  { "id_key_digest", SNP_OFF_ID_KEY_DIGEST, SJ_BYTES, 48, SJ_REQ },
  { "author_key_digest", SNP_OFF_AUTHOR_KEY_DIGEST, SJ_BYTES, 48, SJ_REQ },
  { "report_id", SNP_OFF_REPORT_ID, SJ_BYTES, 32, SJ_REQ },
  { "report_id_ma", SNP_OFF_REPORT_ID_MA, SJ_BYTES, 32, SJ_REQ },
  { "reported_tcb", SNP_OFF_REPORTED_TCB, SJ_TCB, 0, SJ_REQ },
  { "_reserved_1", SNP_OFF_CPUID_FAM, SJ_BYTES, 24, 0 },
  { "cpuid_fam_id", SNP_OFF_CPUID_FAM, SJ_U8, 0, SJ_NULL },
  { "cpuid_mod_id", SNP_OFF_CPUID_MOD, SJ_U8, 0, SJ_NULL },
  { "cpuid_step", SNP_OFF_CPUID_STEP, SJ_U8, 0, SJ_NULL },
  { "chip_id", SNP_OFF_CHIP_ID, SJ_BYTES, 64, SJ_REQ },
  { "committed_tcb", SNP_OFF_COMMITTED_TCB, SJ_TCB, 0, SJ_REQ },
  { "current", SNP_OFF_CURRENT_VERSION, SJ_FWVER, 0, 0 },
  { "committed", SNP_OFF_COMMITTED_VERSION, SJ_FWVER, 0, 0 },
  { "current_build", SNP_OFF_CURRENT_VERSION, SJ_U8, 0, 0 },
  { "current_minor", SNP_OFF_CURRENT_VERSION + 1, SJ_U8, 0, 0 },
  { "current_major", SNP_OFF_CURRENT_VERSION + 2, SJ_U8, 0, 0 },
  { "_reserved_2", SNP_OFF_CURRENT_VERSION + 3, SJ_U8, 0, 0 },
  { "committed_build", SNP_OFF_COMMITTED_VERSION, SJ_U8, 0, 0 },
  { "committed_minor", SNP_OFF_COMMITTED_VERSION + 1, SJ_U8, 0, 0 },
  { "committed_major", SNP_OFF_COMMITTED_VERSION + 2, SJ_U8, 0, 0 },
  { "_reserved_3", SNP_OFF_COMMITTED_VERSION + 3, SJ_U8, 0, 0 },
  { "launch_tcb", SNP_OFF_LAUNCH_TCB, SJ_TCB, 0, SJ_REQ },
  { "_reserved_4", SNP_OFF_LAUNCH_MIT, SJ_BYTES, 168, 0 },
  { "launch_mit_vector", SNP_OFF_LAUNCH_MIT, SJ_U64, 0, SJ_NULL },
  { "current_mit_vector", SNP_OFF_CURRENT_MIT, SJ_U64, 0, SJ_NULL },
};

static int
sj_uint (const json_t *v, uint64_t max, uint64_t *out, const char *name, veil_error_t **err)
{
  if (!json_is_integer (v) || json_integer_value (v) < 0 || (uint64_t) json_integer_value (v) > max)
    return veil_error_set (err, EBADMSG, "field '%s': not an integer in 0..%llu", name, (unsigned long long) max);
  *out = (uint64_t) json_integer_value (v);
  return 0;
}

static int
sj_bytes (const json_t *v, uint8_t *out, size_t n, const char *name, veil_error_t **err)
{
  if (!json_is_array (v) || json_array_size (v) != n)
    return veil_error_set (err, EBADMSG, "field '%s': not an array of %zu bytes", name, n);
  for (size_t i = 0; i < n; i++)
    {
      uint64_t b;
      if (sj_uint (json_array_get (v, i), 255, &b, name, err) < 0)
        return -EBADMSG;
      out[i] = (uint8_t) b;
    }
  return 0;
}

static int
sj_u8_member (const json_t *o, const char *key, uint8_t *out, const char *name, veil_error_t **err)
{
  uint64_t v;
  const json_t *m = json_object_get (o, key);
  if (!m)
    return veil_error_set (err, EBADMSG, "field '%s.%s': missing", name, key);
  if (sj_uint (m, 255, &v, key, err) < 0)
    return veil_error_wrap (err, "field '%s'", name);
  *out = (uint8_t) v;
  return 0;
}

static int
sj_tcb (const json_t *v, uint8_t *out, const char *name, veil_error_t **err)
{
  if (!json_is_object (v))
    return veil_error_set (err, EBADMSG, "field '%s': not a TcbVersion object", name);
  veil_snp_tcb_t t = { 0 };
  if (sj_u8_member (v, "bootloader", &t.bootloader, name, err) < 0 || sj_u8_member (v, "tee", &t.tee, name, err) < 0
      || sj_u8_member (v, "snp", &t.snp, name, err) < 0 || sj_u8_member (v, "microcode", &t.microcode, name, err) < 0)
    return -EBADMSG;
  const json_t *fmc = json_object_get (v, "fmc");
  bool turin = fmc && !json_is_null (fmc);
  if (turin && sj_u8_member (v, "fmc", &t.fmc, name, err) < 0)
    return -EBADMSG;
  veil_put_le64 (out, veil_snp_tcb_encode (&t, turin));
  /* sev < 4 kept TCB_VERSION bytes 2-5 as "_reserved" (Milan/Genoa only) */
  const json_t *res = json_object_get (v, "_reserved");
  if (res && turin)
    return veil_error_set (err, EBADMSG, "field '%s': both fmc and _reserved", name);
  return res ? sj_bytes (res, out + 2, 4, name, err) : 0;
}

static int
sj_fwver (const json_t *v, uint8_t *out, const char *name, veil_error_t **err)
{
  if (!json_is_object (v))
    return veil_error_set (err, EBADMSG, "field '%s': not a Version object", name);
  return sj_u8_member (v, "build", &out[0], name, err) < 0 || sj_u8_member (v, "minor", &out[1], name, err) < 0
                 || sj_u8_member (v, "major", &out[2], name, err) < 0
             ? -EBADMSG
             : 0;
}

static int
sj_field (const struct sev_field *f, const json_t *v, uint8_t *out, veil_error_t **err)
{
  uint64_t n;
  switch (f->kind)
    {
    case SJ_U8:
      if (sj_uint (v, 0xff, &n, f->name, err) < 0)
        return -EBADMSG;
      out[f->off] = (uint8_t) n;
      return 0;
    case SJ_U32:
      if (sj_uint (v, 0xffffffffu, &n, f->name, err) < 0)
        return -EBADMSG;
      veil_put_le32 (out + f->off, (uint32_t) n);
      return 0;
    case SJ_U64:
      if (sj_uint (v, INT64_MAX, &n, f->name, err) < 0)
        return -EBADMSG;
      veil_put_le64 (out + f->off, n);
      return 0;
    case SJ_BYTES:
      return sj_bytes (v, out + f->off, f->len, f->name, err);
    case SJ_TCB:
      return sj_tcb (v, out + f->off, f->name, err);
    case SJ_FWVER:
      return sj_fwver (v, out + f->off, f->name, err);
    }
  abort ();
}

static int
sj_signature (const json_t *sig, uint8_t *out, veil_error_t **err)
{
  if (!json_is_object (sig))
    return veil_error_set (err, EBADMSG, "field 'signature': missing or not an object");
  if (sj_bytes (json_object_get (sig, "r"), out + SNP_OFF_SIG_R, SNP_SIG_FIELD_LEN, "signature.r", err) < 0
      || sj_bytes (json_object_get (sig, "s"), out + SNP_OFF_SIG_S, SNP_SIG_FIELD_LEN, "signature.s", err) < 0)
    return -EBADMSG;
  const json_t *res = json_object_get (sig, "_reserved");
  size_t off = SNP_OFF_SIG_S + SNP_SIG_FIELD_LEN;
  return res ? sj_bytes (res, out + off, VEIL_SNP_REPORT_SIZE - off, "signature._reserved", err) : 0;
}

int
veil_snp_report_from_sev_json (const json_t *j, uint8_t out[VEIL_SNP_REPORT_SIZE], veil_error_t **err)
{
  memset (out, 0, VEIL_SNP_REPORT_SIZE);
  if (!json_is_object (j))
    return veil_error_set (err, EBADMSG, "snp: attestation_report is not an object");
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (sev_fields); i++)
    {
      const struct sev_field *f = &sev_fields[i];
      const json_t *v = json_object_get (j, f->name);
      if (!v && (f->flags & SJ_REQ))
        return veil_error_set (err, EBADMSG, "snp: attestation_report: field '%s': missing", f->name);
      if (!v || (json_is_null (v) && (f->flags & SJ_NULL)))
        continue;
      if (sj_field (f, v, out, err) < 0)
        return veil_error_wrap (err, "snp: attestation_report");
    }
  if (!json_object_get (j, "key_info") && !json_object_get (j, "_author_key_en"))
    return veil_error_set (err, EBADMSG, "snp: attestation_report: field 'key_info': missing");
  if (!json_object_get (j, "current") && !json_object_get (j, "current_build"))
    return veil_error_set (err, EBADMSG, "snp: attestation_report: field 'current': missing");
  if (sj_signature (json_object_get (j, "signature"), out, err) < 0)
    return veil_error_wrap (err, "snp: attestation_report");
  return 0;
}

/* VCEK cache directory (cfg->snp_vcek_dir), no network.  Files, DER or PEM,
 * tried in this order:
 *   VCEK: <chip_id hex>-<reported_tcb as 16 hex digits>.{der,pem}, then <chip_id hex>.{der,pem}
 *   VLEK: vlek-<reported_tcb as 16 hex digits>.{der,pem}, then vlek.{der,pem}
 * chip_id hex is the 128 lowercase hex digits of the report's CHIP_ID;
 * reported_tcb is the u64 at 0x180 printed with %016llx (e.g. 7308000000000003
 * for the sample Milan report), the same value AMD's KDS encodes as SPLs. */
static X509 *
vek_from_dir (const char *dir, const uint8_t *r, int kind, veil_error_t **err)
{
  _cleanup_free_ char *chip = veil_hex_encode (r + SNP_OFF_CHIP_ID, SNP_CHIP_ID_LEN);
  static const uint8_t zero[SNP_CHIP_ID_LEN];
  if (kind == SNP_SIGNING_KEY_VCEK && !memcmp (r + SNP_OFF_CHIP_ID, zero, sizeof (zero)))
    {
      veil_error_set (err, ENOENT, "snp: chip_id is masked (MASK_CHIP_ID): no VCEK can be looked up; supply it in cert_chain");
      return NULL;
    }
  const char *base = kind == SNP_SIGNING_KEY_VCEK ? chip : "vlek";
  unsigned long long tcb = veil_le64 (r + SNP_OFF_REPORTED_TCB);
  static const char *const ext[] = { "der", "pem" };
  for (int with_tcb = 1; with_tcb >= 0; with_tcb--)
    for (size_t i = 0; i < VEIL_ARRAY_SIZE (ext); i++)
      {
        _cleanup_free_ char *path = with_tcb ? xasprintf ("%s/%s-%016llx.%s", dir, base, tcb, ext[i])
                                             : xasprintf ("%s/%s.%s", dir, base, ext[i]);
        if (access (path, F_OK) < 0)
          continue;
        X509 *x = veil_x509_load_file (path, err);
        if (!x)
          veil_error_wrap (err, "snp: VCEK cache");
        return x;
      }
  veil_error_set (err, ENOENT, "snp: no %s in cert_chain and none in %s for chip_id %.16s... reported_tcb %016llx",
                  kind == SNP_SIGNING_KEY_VCEK ? "VCEK" : "VLEK", dir, chip, tcb);
  return NULL;
}

static int
evidence_report (const json_t *evidence, uint8_t **report, size_t *len, veil_error_t **err)
{
  const json_t *ar = json_object_get (evidence, "attestation_report");
  if (json_is_object (ar))
    {
      *report = xmalloc (VEIL_SNP_REPORT_SIZE);
      *len = VEIL_SNP_REPORT_SIZE;
      return veil_snp_report_from_sev_json (ar, *report, err);
    }
  if (json_is_string (json_object_get (evidence, "report")))
    return veil_json_req_b64 (evidence, "report", 2 * VEIL_SNP_REPORT_SIZE, report, len, err) < 0
               ? veil_error_wrap (err, "snp: evidence")
               : 0;
  return veil_error_set (err, EBADMSG, "snp: evidence has neither 'report' (base64) nor 'attestation_report' (Trustee form)");
}

static json_t *
snp_verify (const json_t *evidence, const veil_attest_expect_t *expect, const veil_attest_config_t *cfg,
            veil_error_t **err)
{
  _cleanup_free_ uint8_t *report = NULL;
  size_t len = 0;
  if (evidence_report (evidence, &report, &len, err) < 0 || report_check_format (report, len, err) < 0)
    return NULL;
  int kind = (int) SNP_SIGNING_KEY (veil_le32 (report + SNP_OFF_SIGNER_INFO));
  const char *vek_name = kind == SNP_SIGNING_KEY_VCEK ? "VCEK" : "VLEK";
  _cleanup_ (snp_certs_clear) snp_certs_t certs = { 0 };
  if (certs_parse (json_object_get (evidence, "cert_chain"), &certs, err) < 0)
    return NULL;
  if (certs.vek && certs.vek_type >= 0 && certs.vek_type != kind)
    {
      veil_error_set (err, EKEYREJECTED, "snp: cert_chain supplies a %s but the report is signed by a %s (signer_info)",
                      certs.vek_type == SNP_SIGNING_KEY_VCEK ? "VCEK" : "VLEK", vek_name);
      return NULL;
    }
  if (!certs.vek && !cfg->snp_vcek_dir)
    {
      veil_error_set (err, ENOENT, "snp: evidence has no %s in cert_chain and no VCEK directory is configured", vek_name);
      return NULL;
    }
  if (!certs.vek && !(certs.vek = vek_from_dir (cfg->snp_vcek_dir, report, kind, err)))
    return NULL;
  return veil_snp_verify_report (report, len, certs.vek, certs.others, expect, cfg, err);
}

const veil_verifier_ops_t veil_verifier_snp = { .tee = "snp", .verify = snp_verify };
