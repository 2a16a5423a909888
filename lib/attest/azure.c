/* Azure confidential VM verifier (tee "az-snp-vtpm"): an SNP report inside
 * an HCL report, plus a vTPM quote signed by the HCL's attestation key.
 *
 * Chain of trust: AMD VCEK → SNP report (VMPL 0, i.e. written by the HCL
 * paravisor, not the guest OS) → report_data[0:32] = sha256(HCL variable
 * data) → HCLAkPub in that variable data → TPM quote → PCRs and the
 * nonce in extraData.
 *
 * Evidence (version 1 and 2, as Trustee's Azure attester sends it):
 *   {"version": 1, "hcl_report": b64url, "vcek": b64url DER,
 *    "tpm_quote": {"message": hex TPMS_ATTEST, "signature": hex raw
 *                  RSASSA-PKCS1v1.5/SHA-256, "pcrs": [hex, ...]}} */
#include <inttypes.h>
#include "veil/attest.h"

#define HCL_REPORT_MAX (64 * 1024)
#define VCEK_MAX (16 * 1024)
#define QUOTE_MSG_MAX 1024
#define QUOTE_SIG_MAX 1024

/* SNP ABI Table 21: VMPL offset. */
#define SNP_VMPL_OFF 0x030

static uint32_t
le32 (const uint8_t *p)
{
  return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

/* ---- the "az-snp-vtpm" verifier ----------------------------------------- */

static int
hex_member (const json_t *o, const char *key, size_t max, uint8_t **out, size_t *len, veil_error_t **err)
{
  const char *s = veil_json_req_str (o, key, err);
  if (!s)
    return veil_error_wrap (err, "az-snp-vtpm: tpm_quote");
  if (strlen (s) > 2 * max)
    return veil_error_set (err, E2BIG, "az-snp-vtpm: tpm_quote.%s longer than %zu bytes", key, max);
  if (veil_hex_decode (s, out, len, err) < 0)
    return veil_error_wrap (err, "az-snp-vtpm: tpm_quote.%s", key);
  return 0;
}

static int
parse_evidence_version (const json_t *evidence, veil_error_t **err)
{
  json_t *v = json_object_get (evidence, "version");
  /* v2 carries the same fields (it also copies report_data into the var
   * data, which the TPM nonce check already covers); v0 (bincode arrays,
   * PEM VCEK) predates the JSON form and is not accepted. */
  if (!json_is_integer (v) || (json_integer_value (v) != 1 && json_integer_value (v) != 2))
    return veil_error_set (err, EBADMSG, "az-snp-vtpm: evidence version must be 1 or 2");
  return 0;
}

/* Without a VCEK in the evidence, the local cache is searched under the
 * names the SNP verifier documents: <chip_id>-<reported_tcb>.{der,pem},
 * then <chip_id>.{der,pem} (SNP ABI Table 21: chip_id @0x1A0, reported_tcb
 * @0x180). */
static X509 *
vcek_from_dir (const uint8_t *report, const veil_attest_config_t *cfg, veil_error_t **err)
{
  uint64_t tcb = 0;
  for (int i = 7; i >= 0; i--)
    tcb = tcb << 8 | report[0x180 + i];
  _cleanup_free_ char *chip = veil_hex_encode (report + 0x1A0, 64);
  static const char *const ext[] = { "der", "pem" };
  for (int with_tcb = 1; with_tcb >= 0; with_tcb--)
    for (size_t i = 0; i < VEIL_ARRAY_SIZE (ext); i++)
      {
        _cleanup_free_ char *path = with_tcb ? xasprintf ("%s/%s-%016" PRIx64 ".%s", cfg->snp_vcek_dir, chip, tcb, ext[i])
                                             : xasprintf ("%s/%s.%s", cfg->snp_vcek_dir, chip, ext[i]);
        if (access (path, R_OK) == 0)
          {
            X509 *x = veil_x509_load_file (path, err);
            if (!x)
              veil_error_wrap (err, "az-snp-vtpm: VCEK cache");
            return x;
          }
      }
  veil_error_set (err, ENOENT, "az-snp-vtpm: no vcek in the evidence nor in the VCEK cache for this chip");
  return NULL;
}

static X509 *
load_vcek (const json_t *evidence, const uint8_t *report, const veil_attest_config_t *cfg, veil_error_t **err)
{
  _cleanup_free_ uint8_t *der = NULL;
  size_t len = 0;
  if (!json_object_get (evidence, "vcek") && cfg->snp_vcek_dir)
    return vcek_from_dir (report, cfg, err);
  if (veil_json_req_b64 (evidence, "vcek", VCEK_MAX, &der, &len, err) < 0)
    {
      veil_error_wrap (err, "az-snp-vtpm: evidence");
      return NULL;
    }
  X509 *x = veil_x509_from_der (der, len, err);
  if (!x)
    veil_error_wrap (err, "az-snp-vtpm: vcek");
  return x;
}

/* Copy the verified SNP claims in, and prefix the TPM ones. */
static json_t *
az_claims (json_t *snp, json_t *tpm, const uint8_t *vd_hash, size_t vd_hash_len)
{
  const char *k;
  json_t *v;
  json_object_foreach (tpm, k, v)
  {
    _cleanup_free_ char *key = xasprintf ("tpm_%s", k);
    json_object_set (snp, key, v);
  }
  _cleanup_free_ char *hex = veil_hex_encode (vd_hash, vd_hash_len);
  json_object_set_new (snp, vd_hash_len == VEIL_SHA256_LEN ? "hcl_var_data_sha256" : "hcl_var_data_digest",
                       json_string (hex));
  return json_incref (snp);
}

static json_t *
az_verify (const json_t *evidence, const veil_attest_expect_t *expect, const veil_attest_config_t *cfg,
           veil_error_t **err)
{
  _cleanup_free_ uint8_t *hcl_buf = NULL, *msg = NULL, *sig = NULL;
  size_t hcl_len = 0, msg_len = 0, sig_len = 0;
  veil_hcl_report_t hcl;
  if (parse_evidence_version (evidence, err) < 0)
    return NULL;
  json_t *jq = veil_json_req_obj (evidence, "tpm_quote", err);
  if (!jq || veil_json_req_b64 (evidence, "hcl_report", HCL_REPORT_MAX, &hcl_buf, &hcl_len, err) < 0)
    {
      veil_error_wrap (err, "az-snp-vtpm: evidence");
      return NULL;
    }
  if (hex_member (jq, "message", QUOTE_MSG_MAX, &msg, &msg_len, err) < 0
      || hex_member (jq, "signature", QUOTE_SIG_MAX, &sig, &sig_len, err) < 0)
    return NULL;
  if (veil_hcl_report_parse (hcl_buf, hcl_len, &hcl, err) < 0)
    return NULL;

  /* 1. The var data (holding the AK) is bound into the SNP report.
   *    Checked before anything in the var data is used. */
  uint8_t vd_hash[VEIL_SHA512_LEN];
  size_t vd_hash_len = 0;
  if (veil_hcl_check_binding (&hcl, vd_hash, &vd_hash_len, err) < 0)
    return NULL;
  /* Only the paravisor runs at VMPL 0; a report requested by the guest OS
   * (VMPL > 0) could carry any report_data it likes. */
  uint32_t vmpl = le32 (hcl.snp_report + SNP_VMPL_OFF);
  if (vmpl != 0)
    {
      veil_error_set (err, EKEYREJECTED, "az-snp-vtpm: SNP report VMPL is %u, not 0 (HCL)", vmpl);
      return NULL;
    }

  /* 2. The SNP report itself: VCEK chain to AMD, signature, TCB, policy.
   *    Its report_data is the var-data hash, not the nonce: no expect. */
  _cleanup_x509_ X509 *vcek = load_vcek (evidence, hcl.snp_report, cfg, err);
  if (!vcek)
    return NULL;
  _cleanup_json_ json_t *snp = veil_snp_verify_report (hcl.snp_report, VEIL_SNP_REPORT_SIZE, vcek, NULL, NULL,
                                                       cfg, err);
  if (!snp)
    {
      veil_error_wrap (err, "az-snp-vtpm");
      return NULL;
    }

  /* 3. The TPM quote, with the HCL's AK; its extraData carries the nonce.
   *    The Azure vTPM sends the bare RSASSA-PKCS1v1.5 SHA-256 signature,
   *    not a TPMT_SIGNATURE. */
  _cleanup_pkey_ EVP_PKEY *ak = veil_hcl_ak_pub (&hcl, err);
  if (!ak)
    return NULL;
  veil_tpm_quote_t q = {
    .message = msg,
    .message_len = msg_len,
    .sig = { .sig_alg = VEIL_TPM_ALG_RSASSA, .hash_alg = VEIL_TPM_ALG_SHA256, .sig = sig, .sig_len = sig_len },
    .pcrs = json_object_get (jq, "pcrs"),
  };
  _cleanup_json_ json_t *tpm = json_object ();
  if (veil_tpm_quote_verify (&q, ak, expect, "", tpm, err) < 0)
    return NULL;
  return az_claims (snp, tpm, vd_hash, vd_hash_len);
}

const veil_verifier_ops_t veil_verifier_az_snp_vtpm = { .tee = "az-snp-vtpm", .verify = az_verify };
