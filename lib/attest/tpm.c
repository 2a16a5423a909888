/* TPM 2.0 quote verifier (tee "tpm") and the quote checks shared with the
 * Azure vTPM verifier.
 *
 * Byte layouts are from the TCG TPM 2.0 Library, Part 2 (Structures); all
 * integers are big-endian.  The evidence is what Trustee's TPM attester
 * sends: {"ak_public": b64 DER SPKI, "tpm_quote": {"message": b64
 * TPMS_ATTEST, "signature": b64 TPMT_SIGNATURE, "pcrs": [hex, ...]}}. */
#include <inttypes.h>
#include <stdio.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include "veil/attest.h"

/* Bounds on untrusted sizes.  TPMS_ATTEST of a quote is < 512 bytes with
 * the largest TPM2B fields; TPM2B_NAME is at most a TPMT_HA (2 + 64);
 * TPM2B_DATA at most sizeof(TPMT_HA) = 66 (Part 2 §10.4.3). */
#define ATTEST_MAX 1024
#define SIGNATURE_MAX 2048
#define AK_PUBLIC_MAX 4096
#define NAME_MAX_LEN 68
#define EXTRA_DATA_MAX 64
#define RSA_SIG_MAX 1024 /* RSA-8192 */
#define ECC_PARAM_MAX 66 /* P-521 */
#define TPM_MAX_PCRS (VEIL_TPM_MAX_PCR_SELECT * 8)
#define INITDATA_PCR 8

/* ---- a bounded big-endian reader ------------------------------------- */

typedef struct
{
  const uint8_t *p;
  size_t len, off;
} reader_t;

static bool
rd_bytes (reader_t *r, size_t n, const uint8_t **out)
{
  if (n > r->len - r->off)
    return false;
  *out = r->p + r->off;
  r->off += n;
  return true;
}

static bool
rd_be (reader_t *r, size_t n, uint64_t *v)
{
  const uint8_t *b;
  if (!rd_bytes (r, n, &b))
    return false;
  *v = 0;
  for (size_t i = 0; i < n; i++)
    *v = (*v << 8) | b[i];
  return true;
}

static bool
rd_u16 (reader_t *r, uint16_t *v)
{
  uint64_t x;
  if (!rd_be (r, 2, &x))
    return false;
  *v = (uint16_t) x;
  return true;
}

static bool
rd_u32 (reader_t *r, uint32_t *v)
{
  uint64_t x;
  if (!rd_be (r, 4, &x))
    return false;
  *v = (uint32_t) x;
  return true;
}

/* A TPM2B: u16 size then that many bytes, size bounded by max. */
static int
rd_tpm2b (reader_t *r, size_t max, const uint8_t **out, size_t *out_len, const char *what,
          veil_error_t **err)
{
  uint16_t n;
  if (!rd_u16 (r, &n))
    return veil_error_set (err, EBADMSG, "tpm: %s: truncated size", what);
  if (n > max)
    return veil_error_set (err, EBADMSG, "tpm: %s: size %u exceeds %zu", what, n, max);
  if (!rd_bytes (r, n, out))
    return veil_error_set (err, EBADMSG, "tpm: %s: truncated (%u bytes announced)", what, n);
  *out_len = n;
  return 0;
}

/* ---- algorithms -------------------------------------------------------- */

typedef struct
{
  uint16_t alg;
  const char *name;
  size_t len;
  const EVP_MD *(*md) (void);
} tpm_hash_t;

static const tpm_hash_t tpm_hashes[] = {
  { VEIL_TPM_ALG_SHA256, "sha256", VEIL_SHA256_LEN, EVP_sha256 },
  { VEIL_TPM_ALG_SHA384, "sha384", VEIL_SHA384_LEN, EVP_sha384 },
  { VEIL_TPM_ALG_SHA512, "sha512", VEIL_SHA512_LEN, EVP_sha512 },
};

/* SHA-1 is refused everywhere: a SHA-1 quote signature or PCR bank can be
 * forged with chosen-prefix collisions. */
static const tpm_hash_t *
tpm_hash_find (uint16_t alg, const char *what, veil_error_t **err)
{
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (tpm_hashes); i++)
    if (tpm_hashes[i].alg == alg)
      return &tpm_hashes[i];
  if (alg == VEIL_TPM_ALG_SHA1)
    veil_error_set (err, EBADMSG, "tpm: %s: SHA-1 is refused", what);
  else
    veil_error_set (err, EBADMSG, "tpm: %s: unsupported hash algorithm 0x%04x", what, alg);
  return NULL;
}

static const char *
sig_alg_name (uint16_t alg)
{
  switch (alg)
    {
    case VEIL_TPM_ALG_RSASSA:
      return "rsassa";
    case VEIL_TPM_ALG_RSAPSS:
      return "rsapss";
    case VEIL_TPM_ALG_ECDSA:
      return "ecdsa";
    default:
      return NULL;
    }
}

/* ---- TPMS_ATTEST (Part 2 §10.12.12) ------------------------------------ */

static int
attest_truncated (veil_error_t **err, const char *field)
{
  return veil_error_set (err, EBADMSG, "tpm: TPMS_ATTEST truncated at %s", field);
}

/* TPMS_CLOCK_INFO (§10.11.1) and firmwareVersion. */
static int
attest_parse_clock (reader_t *r, veil_tpm_attest_t *a, veil_error_t **err)
{
  uint64_t v;
  if (!rd_be (r, 8, &a->clock))
    return attest_truncated (err, "clockInfo.clock");
  if (!rd_u32 (r, &a->reset_count))
    return attest_truncated (err, "clockInfo.resetCount");
  if (!rd_u32 (r, &a->restart_count))
    return attest_truncated (err, "clockInfo.restartCount");
  if (!rd_be (r, 1, &v))
    return attest_truncated (err, "clockInfo.safe");
  /* TPMI_YES_NO: anything but 0/1 is not a TPM-produced structure */
  if (v > 1)
    return veil_error_set (err, EBADMSG, "tpm: TPMS_ATTEST clockInfo.safe is %u, not 0 or 1", (unsigned) v);
  a->safe = v == 1;
  if (!rd_be (r, 8, &a->firmware_version))
    return attest_truncated (err, "firmwareVersion");
  return 0;
}

/* TPMS_QUOTE_INFO (§10.12.1): TPML_PCR_SELECTION (§10.9.7) + pcrDigest.
 * veil accepts one bank only: the evidence carries a flat PCR list, which
 * is only unambiguous for a single bank. */
static int
attest_parse_quote_info (reader_t *r, veil_tpm_attest_t *a, veil_error_t **err)
{
  uint32_t count;
  const uint8_t *sel;
  uint64_t size;
  if (!rd_u32 (r, &count))
    return attest_truncated (err, "pcrSelect.count");
  if (count != 1)
    return veil_error_set (err, EBADMSG, "tpm: PCR selection: %u banks, exactly one is supported", count);
  if (!rd_u16 (r, &a->pcr_hash_alg))
    return attest_truncated (err, "pcrSelect.hash");
  if (!rd_be (r, 1, &size))
    return attest_truncated (err, "pcrSelect.sizeofSelect");
  if (size == 0 || size > VEIL_TPM_MAX_PCR_SELECT)
    return veil_error_set (err, EBADMSG, "tpm: PCR selection: sizeofSelect %u not in 1..%d",
                           (unsigned) size, VEIL_TPM_MAX_PCR_SELECT);
  if (!rd_bytes (r, size, &sel))
    return attest_truncated (err, "pcrSelect.pcrSelect");
  a->pcr_select_size = (uint8_t) size;
  memcpy (a->pcr_select, sel, size);
  if (rd_tpm2b (r, VEIL_SHA512_LEN, &a->pcr_digest, &a->pcr_digest_len, "TPMS_ATTEST pcrDigest", err) < 0)
    return -EBADMSG;
  return 0;
}

int
veil_tpm_attest_parse (const uint8_t *buf, size_t len, veil_tpm_attest_t *out, veil_error_t **err)
{
  reader_t r = { .p = buf, .len = len };
  veil_tpm_attest_t a = { 0 };
  if (!buf || len > ATTEST_MAX)
    return veil_error_set (err, EBADMSG, "tpm: TPMS_ATTEST of %zu bytes (max %d)", len, ATTEST_MAX);
  if (!rd_u32 (&r, &a.magic))
    return attest_truncated (err, "magic");
  /* TPM_GENERATED proves the TPM built this structure: an AK only signs
   * data starting with it that the TPM itself produced (Part 1 §36.1). */
  if (a.magic != VEIL_TPM_GENERATED)
    return veil_error_set (err, EBADMSG, "tpm: TPMS_ATTEST magic is 0x%08x, not TPM_GENERATED", a.magic);
  if (!rd_u16 (&r, &a.type))
    return attest_truncated (err, "type");
  if (a.type != VEIL_TPM_ST_ATTEST_QUOTE)
    return veil_error_set (err, EBADMSG, "tpm: TPMS_ATTEST type is 0x%04x, not TPM_ST_ATTEST_QUOTE", a.type);
  if (rd_tpm2b (&r, NAME_MAX_LEN, &a.qualified_signer, &a.qualified_signer_len, "TPMS_ATTEST qualifiedSigner", err) < 0
      || rd_tpm2b (&r, EXTRA_DATA_MAX, &a.extra_data, &a.extra_data_len, "TPMS_ATTEST extraData", err) < 0
      || attest_parse_clock (&r, &a, err) < 0 || attest_parse_quote_info (&r, &a, err) < 0)
    return -EBADMSG;
  if (r.off != len)
    return veil_error_set (err, EBADMSG, "tpm: TPMS_ATTEST has %zu trailing bytes", len - r.off);
  *out = a;
  return 0;
}

/* ---- TPMT_SIGNATURE (Part 2 §11.3.4) ----------------------------------- */

int
veil_tpm_signature_parse (const uint8_t *buf, size_t len, veil_tpm_signature_t *out, veil_error_t **err)
{
  reader_t r = { .p = buf, .len = len };
  veil_tpm_signature_t s = { 0 };
  if (!buf || len > SIGNATURE_MAX)
    return veil_error_set (err, EBADMSG, "tpm: TPMT_SIGNATURE of %zu bytes (max %d)", len, SIGNATURE_MAX);
  if (!rd_u16 (&r, &s.sig_alg) || !rd_u16 (&r, &s.hash_alg))
    return veil_error_set (err, EBADMSG, "tpm: TPMT_SIGNATURE truncated at sigAlg/hash");
  if (!sig_alg_name (s.sig_alg))
    return veil_error_set (err, EBADMSG, "tpm: TPMT_SIGNATURE: unsupported sigAlg 0x%04x", s.sig_alg);
  if (!tpm_hash_find (s.hash_alg, "TPMT_SIGNATURE hash", err))
    return -EBADMSG;
  if (s.sig_alg == VEIL_TPM_ALG_ECDSA)
    {
      /* TPMS_SIGNATURE_ECC (§11.3.2): TPM2B_ECC_PARAMETER r, s */
      if (rd_tpm2b (&r, ECC_PARAM_MAX, &s.r, &s.r_len, "TPMT_SIGNATURE ECDSA r", err) < 0
          || rd_tpm2b (&r, ECC_PARAM_MAX, &s.s, &s.s_len, "TPMT_SIGNATURE ECDSA s", err) < 0)
        return -EBADMSG;
      if (s.r_len == 0 || s.s_len == 0)
        return veil_error_set (err, EBADMSG, "tpm: TPMT_SIGNATURE ECDSA: empty r or s");
    }
  else
    {
      /* TPMS_SIGNATURE_RSA (§11.3.1): TPM2B_PUBLIC_KEY_RSA sig */
      if (rd_tpm2b (&r, RSA_SIG_MAX, &s.sig, &s.sig_len, "TPMT_SIGNATURE RSA signature", err) < 0)
        return -EBADMSG;
      if (s.sig_len == 0)
        return veil_error_set (err, EBADMSG, "tpm: TPMT_SIGNATURE RSA: empty signature");
    }
  if (r.off != len)
    return veil_error_set (err, EBADMSG, "tpm: TPMT_SIGNATURE has %zu trailing bytes", len - r.off);
  *out = s;
  return 0;
}

/* ---- signature check ----------------------------------------------------- */

static int
check_ak (EVP_PKEY *ak, uint16_t sig_alg, veil_error_t **err)
{
  bool rsa = EVP_PKEY_is_a (ak, "RSA");
  if (sig_alg == VEIL_TPM_ALG_ECDSA ? !EVP_PKEY_is_a (ak, "EC") : !rsa)
    return veil_error_set (err, EKEYREJECTED, "tpm: quote signature: %s signature but the AK is %s",
                           sig_alg_name (sig_alg), EVP_PKEY_get0_type_name (ak));
  if (rsa && EVP_PKEY_get_bits (ak) < 2048)
    return veil_error_set (err, EKEYREJECTED, "tpm: AK: RSA key of %d bits (min 2048)", EVP_PKEY_get_bits (ak));
  return 0;
}

static int
verify_rsa (EVP_PKEY *ak, const veil_tpm_signature_t *sig, const EVP_MD *md, const uint8_t *msg,
            size_t len, veil_error_t **err)
{
  _cleanup_ (EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new ();
  EVP_PKEY_CTX *pctx = NULL;
  if (!ctx)
    abort ();
  bool pss = sig->sig_alg == VEIL_TPM_ALG_RSAPSS;
  /* TPMs sign RSA-PSS with salt = digest length, but Part 1 §B.7 lets
   * them use the maximum: accept what the signature encodes. */
  int ok = EVP_DigestVerifyInit (ctx, &pctx, md, NULL, ak) == 1
           && EVP_PKEY_CTX_set_rsa_padding (pctx, pss ? RSA_PKCS1_PSS_PADDING : RSA_PKCS1_PADDING) == 1
           && (!pss || EVP_PKEY_CTX_set_rsa_pss_saltlen (pctx, RSA_PSS_SALTLEN_AUTO) == 1)
           && EVP_DigestVerify (ctx, sig->sig, sig->sig_len, msg, len) == 1;
  ERR_clear_error ();
  if (!ok)
    return veil_error_set (err, EKEYREJECTED, "tpm: quote signature does not verify with the AK");
  return 0;
}

static int
verify_ecdsa (EVP_PKEY *ak, const veil_tpm_signature_t *sig, const EVP_MD *md, const uint8_t *msg,
              size_t len, veil_error_t **err)
{
  /* r and s are minimal-length big-endian; left-pad both to one width */
  uint8_t r[ECC_PARAM_MAX] = { 0 }, s[ECC_PARAM_MAX] = { 0 };
  size_t n = sig->r_len > sig->s_len ? sig->r_len : sig->s_len;
  memcpy (r + n - sig->r_len, sig->r, sig->r_len);
  memcpy (s + n - sig->s_len, sig->s, sig->s_len);
  if (veil_ecdsa_verify_rs (ak, md, msg, len, r, s, n, NULL) < 0)
    return veil_error_set (err, EKEYREJECTED, "tpm: quote signature does not verify with the AK");
  return 0;
}

static int
verify_signature (EVP_PKEY *ak, const veil_tpm_signature_t *sig, const uint8_t *msg, size_t len,
                  veil_error_t **err)
{
  const tpm_hash_t *h = tpm_hash_find (sig->hash_alg, "quote signature", err);
  if (!h || check_ak (ak, sig->sig_alg, err) < 0)
    return -EKEYREJECTED;
  if (sig->sig_alg == VEIL_TPM_ALG_ECDSA)
    {
      if (!sig->r || !sig->s || sig->r_len > ECC_PARAM_MAX || sig->s_len > ECC_PARAM_MAX)
        return veil_error_set (err, EBADMSG, "tpm: quote signature: malformed ECDSA r/s");
      return verify_ecdsa (ak, sig, h->md (), msg, len, err);
    }
  if (!sig->sig || sig->sig_len == 0)
    return veil_error_set (err, EBADMSG, "tpm: quote signature: empty RSA signature");
  return verify_rsa (ak, sig, h->md (), msg, len, err);
}

/* ---- PCRs, bindings, claims ----------------------------------------- */

static bool
pcr_selected (const veil_tpm_attest_t *a, unsigned i)
{
  /* Part 2 §10.6.1: PCR i is bit (i % 8) of octet (i / 8). */
  return i / 8 < a->pcr_select_size && (a->pcr_select[i / 8] >> (i % 8)) & 1;
}

/* Decode the evidence's PCR values into vals (n values of bank->len bytes,
 * selection order) and check pcrDigest.  TPM2_Quote (Part 3 §18.4)
 * computes pcrDigest with the signing scheme's hash over the concatenated
 * selected PCR values, so the digest uses sig_hash, not the bank's. */
static int
check_pcrs (const veil_tpm_attest_t *a, const tpm_hash_t *bank, const tpm_hash_t *sig_hash,
            const json_t *pcrs, uint8_t vals[TPM_MAX_PCRS][VEIL_SHA512_LEN], unsigned idx[TPM_MAX_PCRS],
            size_t *n_out, veil_error_t **err)
{
  size_t n = 0;
  for (unsigned i = 0; i < TPM_MAX_PCRS; i++)
    if (pcr_selected (a, i))
      idx[n++] = i;
  if (n == 0)
    return veil_error_set (err, EBADMSG, "tpm: PCR selection selects no PCR");
  if (!json_is_array (pcrs) || json_array_size (pcrs) != n)
    return veil_error_set (err, EBADMSG, "tpm: pcrs: expected an array of %zu values (the quote's selection)", n);
  _cleanup_ (EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new ();
  if (!ctx || EVP_DigestInit_ex (ctx, sig_hash->md (), NULL) != 1)
    abort ();
  for (size_t i = 0; i < n; i++)
    {
      const char *hex = json_string_value (json_array_get (pcrs, i));
      if (!hex || veil_hex_decode_exact (hex, vals[i], bank->len, NULL) < 0)
        return veil_error_set (err, EBADMSG, "tpm: pcrs[%zu]: not %zu bytes of hex", i, bank->len);
      EVP_DigestUpdate (ctx, vals[i], bank->len);
    }
  uint8_t md[EVP_MAX_MD_SIZE];
  unsigned md_len = 0;
  EVP_DigestFinal_ex (ctx, md, &md_len);
  if (a->pcr_digest_len != md_len || !veil_ct_equal (md, a->pcr_digest, md_len))
    return veil_error_set (err, EKEYREJECTED, "tpm: pcrDigest does not match the PCR values");
  *n_out = n;
  return 0;
}

/* Nonce binding rule: extraData and expect->report_data must be equal once
 * the shorter is zero-padded to the longer's length.  Trustee's TPM
 * attester puts report_data zero-padded to 64 bytes into extraData and
 * its verifier compares against report_data padded to 64; the Azure vTPM
 * attester puts report_data as-is ("challenge").  Both satisfy this rule,
 * as does a relying party that hands in a 64-byte zero-padded value. */
static int
check_extra_data (const veil_tpm_attest_t *a, const veil_attest_expect_t *expect, veil_error_t **err)
{
  if (!expect || !expect->report_data)
    return 0;
  const uint8_t *rd = expect->report_data;
  size_t rd_len = expect->report_data_len;
  if (a->extra_data_len == 0)
    return veil_error_set (err, EPERM, "tpm: extraData is empty, expected report_data");
  size_t common = rd_len < a->extra_data_len ? rd_len : a->extra_data_len;
  bool ok = veil_ct_equal (rd, a->extra_data, common);
  for (size_t i = common; i < rd_len; i++)
    ok &= rd[i] == 0;
  for (size_t i = common; i < a->extra_data_len; i++)
    ok &= a->extra_data[i] == 0;
  if (!ok)
    return veil_error_set (err, EPERM, "tpm: extraData does not match report_data");
  return 0;
}

/* Init-data binding (as Trustee): the attester extends PCR8 once with the
 * init-data digest, so PCR8 = H(zeros || digest) in the quoted bank. */
static int
check_init_data (const tpm_hash_t *bank, const uint8_t vals[][VEIL_SHA512_LEN],
                 const unsigned *idx, size_t n, const veil_attest_expect_t *expect, veil_error_t **err)
{
  if (!expect || !expect->init_data_digest)
    return 0;
  if (expect->init_data_digest_len != bank->len)
    return veil_error_set (err, EINVAL, "tpm: init_data digest of %zu bytes cannot extend the %s PCR bank",
                           expect->init_data_digest_len, bank->name);
  uint8_t in[2 * VEIL_SHA512_LEN] = { 0 }, md[EVP_MAX_MD_SIZE];
  memcpy (in + bank->len, expect->init_data_digest, bank->len);
  if (EVP_Digest (in, 2 * bank->len, md, NULL, bank->md (), NULL) != 1)
    abort ();
  for (size_t i = 0; i < n; i++)
    if (idx[i] == INITDATA_PCR)
      {
        if (!veil_ct_equal (md, vals[i], bank->len))
          return veil_error_set (err, EPERM, "tpm: PCR8 does not match the expected init_data digest");
        return 0;
      }
  return veil_error_set (err, EPERM, "tpm: PCR8 (init_data) is not in the quote");
}

static void
claim_set (json_t *claims, const char *prefix, const char *name, json_t *v)
{
  _cleanup_free_ char *key = xasprintf ("%s%s", prefix, name);
  json_object_set_new (claims, key, v);
}

static void
claim_hex (json_t *claims, const char *prefix, const char *name, const void *p, size_t n)
{
  _cleanup_free_ char *hex = veil_hex_encode (p, n);
  claim_set (claims, prefix, name, json_string (hex));
}

static void
add_claims (json_t *claims, const char *prefix, const veil_tpm_attest_t *a, const veil_tpm_signature_t *sig,
            const tpm_hash_t *bank, const tpm_hash_t *sig_hash, const uint8_t vals[][VEIL_SHA512_LEN],
            const unsigned *idx, size_t n)
{
  claim_hex (claims, prefix, "extra_data", a->extra_data, a->extra_data_len);
  claim_hex (claims, prefix, "qualified_signer", a->qualified_signer, a->qualified_signer_len);
  claim_set (claims, prefix, "clock", json_integer ((json_int_t) a->clock));
  claim_set (claims, prefix, "reset_count", json_integer (a->reset_count));
  claim_set (claims, prefix, "restart_count", json_integer (a->restart_count));
  claim_set (claims, prefix, "clock_safe", json_boolean (a->safe));
  _cleanup_free_ char *fw = xasprintf ("%016" PRIx64, a->firmware_version);
  claim_set (claims, prefix, "firmware_version", json_string (fw));
  claim_set (claims, prefix, "pcr_bank", json_string (bank->name));
  _cleanup_free_ char *alg = xasprintf ("%s-%s", sig_alg_name (sig->sig_alg), sig_hash->name);
  claim_set (claims, prefix, "quote_signature_alg", json_string (alg));
  for (size_t i = 0; i < n; i++)
    {
      char name[16];
      snprintf (name, sizeof (name), "pcr%02u", idx[i]);
      claim_hex (claims, prefix, name, vals[i], bank->len);
    }
}

int
veil_tpm_quote_verify (const veil_tpm_quote_t *q, EVP_PKEY *ak, const veil_attest_expect_t *expect,
                       const char *prefix, json_t *claims, veil_error_t **err)
{
  veil_tpm_attest_t a;
  uint8_t vals[TPM_MAX_PCRS][VEIL_SHA512_LEN];
  unsigned idx[TPM_MAX_PCRS];
  size_t n = 0;
  if (!q || !ak || !claims)
    return veil_error_set (err, EINVAL, "tpm: quote verify: missing argument");
  /* Structure first so that a wrong magic/type is named as such; then the
   * signature, so that nothing below trusts unsigned bytes. */
  if (veil_tpm_attest_parse (q->message, q->message_len, &a, err) < 0)
    return -EBADMSG;
  const tpm_hash_t *bank = tpm_hash_find (a.pcr_hash_alg, "PCR bank", err);
  if (!bank)
    return -EBADMSG;
  if (verify_signature (ak, &q->sig, q->message, q->message_len, err) < 0)
    return -EKEYREJECTED;
  const tpm_hash_t *sig_hash = tpm_hash_find (q->sig.hash_alg, "quote signature", err);
  if (check_pcrs (&a, bank, sig_hash, q->pcrs, vals, idx, &n, err) < 0
      || check_extra_data (&a, expect, err) < 0
      || check_init_data (bank, (const uint8_t (*)[VEIL_SHA512_LEN]) vals, idx, n, expect, err) < 0)
    return err && *err ? -(*err)->code : -EPERM;
  if (a.clock > INT64_MAX)
    return veil_error_set (err, EBADMSG, "tpm: clockInfo.clock out of range");
  const char *pfx = prefix ? prefix : "";
  add_claims (claims, pfx, &a, &q->sig, bank, sig_hash, (const uint8_t (*)[VEIL_SHA512_LEN]) vals, idx, n);
  /* Trustee-compatible names: the nonce and the init-data PCR */
  claim_hex (claims, pfx, "report_data", a.extra_data, a.extra_data_len);
  for (size_t i = 0; i < n; i++)
    if (idx[i] == INITDATA_PCR)
      claim_hex (claims, pfx, "init_data", vals[i], bank->len);
  return 0;
}

/* ---- the "tpm" verifier ------------------------------------------------- */

static EVP_PKEY *
ak_from_der (const uint8_t *der, size_t len, veil_error_t **err)
{
  const uint8_t *p = der;
  EVP_PKEY *pk = d2i_PUBKEY (NULL, &p, (long) len);
  ERR_clear_error ();
  if (!pk)
    {
      veil_error_set (err, EBADMSG, "tpm: ak_public: not a DER SubjectPublicKeyInfo");
      return NULL;
    }
  if (p != der + len)
    {
      EVP_PKEY_free (pk);
      veil_error_set (err, EBADMSG, "tpm: ak_public: trailing bytes after the key");
      return NULL;
    }
  return pk;
}

static bool
ak_trusted (const veil_attest_config_t *cfg, const uint8_t hash[VEIL_SHA256_LEN])
{
  for (size_t i = 0; i < cfg->n_tpm_trusted_aks; i++)
    {
      uint8_t want[VEIL_SHA256_LEN];
      if (veil_hex_decode_exact (cfg->tpm_trusted_aks[i], want, sizeof (want), NULL) == 0
          && veil_ct_equal (want, hash, sizeof (want)))
        return true;
    }
  return false;
}

static json_t *
tpm_verify (const json_t *evidence, const veil_attest_expect_t *expect, const veil_attest_config_t *cfg,
            veil_error_t **err)
{
  _cleanup_free_ uint8_t *ak_der = NULL, *msg = NULL, *sig_buf = NULL;
  size_t ak_len = 0, msg_len = 0, sig_len = 0;
  json_t *jq = veil_json_req_obj (evidence, "tpm_quote", err);
  if (!jq)
    {
      veil_error_wrap (err, "tpm: evidence");
      return NULL;
    }
  if (veil_json_req_b64 (evidence, "ak_public", AK_PUBLIC_MAX, &ak_der, &ak_len, err) < 0
      || veil_json_req_b64 (jq, "message", ATTEST_MAX, &msg, &msg_len, err) < 0
      || veil_json_req_b64 (jq, "signature", SIGNATURE_MAX, &sig_buf, &sig_len, err) < 0)
    {
      veil_error_wrap (err, "tpm: evidence");
      return NULL;
    }
  veil_tpm_quote_t q = { .message = msg, .message_len = msg_len, .pcrs = json_object_get (jq, "pcrs") };
  if (veil_tpm_signature_parse (sig_buf, sig_len, &q.sig, err) < 0)
    return NULL;
  _cleanup_pkey_ EVP_PKEY *ak = ak_from_der (ak_der, ak_len, err);
  if (!ak)
    return NULL;
  /* The AK is self-asserted by the evidence: the quote proves only that
   * the holder of this key signed it.  So the key itself must be one the
   * configuration trusts (an AK certified out of band, as Trustee's
   * trusted-AK list), unless the caller only inspects the quote. */
  _cleanup_json_ json_t *claims = json_object ();
  uint8_t ak_hash[VEIL_SHA256_LEN];
  veil_sha256 (ak_der, ak_len, ak_hash);
  if (veil_tpm_quote_verify (&q, ak, expect, "", claims, err) < 0)
    return NULL;
  if (!cfg->tpm_any_ak && !ak_trusted (cfg, ak_hash))
    {
      _cleanup_free_ char *hex = veil_hex_encode (ak_hash, sizeof (ak_hash));
      veil_error_set (err, EKEYREJECTED,
                      "tpm: attestation key %s is not trusted (list its SHA-256 in tpm.trusted_aks)", hex);
      return NULL;
    }
  claim_hex (claims, "", "ak_public_sha256", ak_hash, sizeof (ak_hash));
  return steal_pointer (&claims);
}

const veil_verifier_ops_t veil_verifier_tpm = { .tee = "tpm", .verify = tpm_verify };
