/* Azure CVM HCL report: parsing, the report_data binding of its variable
 * data, and the vTPM attestation key (HCLAkPub) inside that data. */
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include "veil/attest.h"

#define HCL_REPORT_MAX (64 * 1024)
#define VAR_DATA_JSON_MAX (32 * 1024)
#define RSA_N_MAX 512 /* RSA-4096 */

/* HCL report layout (little-endian; the paravisor's IGVM attestation
 * request, as Microsoft's az-cvm-vtpm `hcl` module reads it):
 *   0x000 header: signature "HCLA", version, report_size, request_type,
 *                 status, reserved[3]                      (32 bytes)
 *   0x020 hardware report slot (SNP report, 0x4A0 bytes; a TD report is
 *         smaller and also starts here)
 *   0x4C0 IGVM_REQUEST_DATA: data_size, version, report_type,
 *         report_data_hash_type, variable_data_size       (20 bytes)
 *   0x4D4 variable data (variable_data_size bytes)              */
#define HCL_SIGNATURE 0x414c4348u /* "HCLA" */
#define HCL_HW_REPORT_OFF 0x20
#define HCL_REQ_DATA_OFF (HCL_HW_REPORT_OFF + VEIL_SNP_REPORT_SIZE)
#define HCL_REQ_DATA_HDR 20
#define HCL_VAR_DATA_OFF (HCL_REQ_DATA_OFF + HCL_REQ_DATA_HDR)
#define HCL_REPORT_TYPE_SNP 2
#define HCL_HASH_SHA256 1
#define HCL_HASH_SHA384 2
#define HCL_HASH_SHA512 3

/* SNP ABI Table 21: report_data offset. */
#define SNP_REPORT_DATA_OFF 0x050

static uint32_t
le32 (const uint8_t *p)
{
  return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

int
veil_hcl_report_parse (const uint8_t *buf, size_t len, veil_hcl_report_t *out, veil_error_t **err)
{
  if (!buf || len < HCL_VAR_DATA_OFF)
    return veil_error_set (err, EBADMSG, "hcl: report of %zu bytes is shorter than its fixed part (%d)", len,
                           HCL_VAR_DATA_OFF);
  if (len > HCL_REPORT_MAX)
    return veil_error_set (err, E2BIG, "hcl: report of %zu bytes (max %d)", len, HCL_REPORT_MAX);
  if (le32 (buf) != HCL_SIGNATURE)
    return veil_error_set (err, EBADMSG, "hcl: header signature is not \"HCLA\"");
  const uint8_t *req = buf + HCL_REQ_DATA_OFF;
  uint32_t data_size = le32 (req), var_size = le32 (req + 16);
  veil_hcl_report_t h = {
    .snp_report = buf + HCL_HW_REPORT_OFF,
    .report_type = le32 (req + 8),
    .hash_type = le32 (req + 12),
    .var_data = buf + HCL_VAR_DATA_OFF,
    .var_data_len = var_size,
  };
  if (h.report_type != HCL_REPORT_TYPE_SNP)
    return veil_error_set (err, EBADMSG, "hcl: report type %u is not SNP (%d)", h.report_type,
                           HCL_REPORT_TYPE_SNP);
  if (var_size > len - HCL_VAR_DATA_OFF)
    return veil_error_set (err, EBADMSG, "hcl: variable data of %u bytes overruns the report (%zu left)",
                           var_size, len - HCL_VAR_DATA_OFF);
  /* data_size counts the request-data header and the variable data */
  if (data_size < HCL_REQ_DATA_HDR || data_size - HCL_REQ_DATA_HDR != var_size)
    return veil_error_set (err, EBADMSG, "hcl: request data size %u does not match variable data size %u",
                           data_size, var_size);
  *out = h;
  return 0;
}

int
veil_hcl_check_binding (const veil_hcl_report_t *hcl, uint8_t digest[VEIL_SHA512_LEN], size_t *digest_len,
                        veil_error_t **err)
{
  uint8_t md[VEIL_SHA512_LEN];
  size_t n;
  switch (hcl->hash_type)
    {
    case HCL_HASH_SHA256:
      veil_sha256 (hcl->var_data, hcl->var_data_len, md);
      n = VEIL_SHA256_LEN;
      break;
    case HCL_HASH_SHA384:
      veil_sha384 (hcl->var_data, hcl->var_data_len, md);
      n = VEIL_SHA384_LEN;
      break;
    case HCL_HASH_SHA512:
      veil_sha512 (hcl->var_data, hcl->var_data_len, md);
      n = VEIL_SHA512_LEN;
      break;
    default:
      return veil_error_set (err, EBADMSG, "hcl: unsupported report_data hash type %u", hcl->hash_type);
    }
  /* The SNP report_data is what the AMD signature covers; binding the var
   * data to it is what makes HCLAkPub (and so the vTPM) trustworthy. */
  if (!veil_ct_equal (md, hcl->snp_report + SNP_REPORT_DATA_OFF, n))
    return veil_error_set (err, EKEYREJECTED, "az-snp-vtpm: report_data does not bind var data");
  if (digest)
    memcpy (digest, md, n);
  if (digest_len)
    *digest_len = n;
  return 0;
}

/* RSA public key from a JWK's n and e (RFC 7518 §6.3.1). */
static EVP_PKEY *
rsa_from_jwk (const json_t *jwk, veil_error_t **err)
{
  _cleanup_free_ uint8_t *n = NULL, *e = NULL;
  size_t n_len = 0, e_len = 0;
  const char *sn = veil_json_str (jwk, "n"), *se = veil_json_str (jwk, "e");
  if (!sn || !se || strlen (sn) > RSA_N_MAX * 2 || strlen (se) > 16 || veil_b64url_decode (sn, &n, &n_len, NULL) < 0
      || veil_b64url_decode (se, &e, &e_len, NULL) < 0 || n_len < 256 || n_len > RSA_N_MAX || e_len == 0
      || e_len > 8)
    {
      veil_error_set (err, EBADMSG, "hcl: HCLAkPub: malformed RSA n/e (RSA 2048..4096 expected)");
      return NULL;
    }
  BIGNUM *bn = BN_bin2bn (n, (int) n_len, NULL), *be = BN_bin2bn (e, (int) e_len, NULL);
  OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new ();
  if (!bn || !be || !bld || !OSSL_PARAM_BLD_push_BN (bld, OSSL_PKEY_PARAM_RSA_N, bn)
      || !OSSL_PARAM_BLD_push_BN (bld, OSSL_PKEY_PARAM_RSA_E, be))
    abort ();
  OSSL_PARAM *params = OSSL_PARAM_BLD_to_param (bld);
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name (NULL, "RSA", NULL);
  EVP_PKEY *pk = NULL;
  if (!params || !ctx || EVP_PKEY_fromdata_init (ctx) != 1
      || EVP_PKEY_fromdata (ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1)
    pk = NULL;
  EVP_PKEY_CTX_free (ctx);
  OSSL_PARAM_free (params);
  OSSL_PARAM_BLD_free (bld);
  BN_free (bn);
  BN_free (be);
  ERR_clear_error ();
  if (!pk)
    veil_error_set (err, EBADMSG, "hcl: HCLAkPub: OpenSSL refused the RSA key");
  return pk;
}

EVP_PKEY *
veil_hcl_ak_pub (const veil_hcl_report_t *hcl, veil_error_t **err)
{
  /* The variable data is JSON, possibly followed by NUL padding. */
  size_t len = strnlen ((const char *) hcl->var_data, hcl->var_data_len);
  _cleanup_json_ json_t *vd = veil_json_parse (hcl->var_data, len, VAR_DATA_JSON_MAX, err);
  if (!vd)
    {
      veil_error_wrap (err, "hcl: variable data");
      return NULL;
    }
  json_t *keys = json_object_get (vd, "keys");
  size_t i;
  json_t *k;
  json_array_foreach (keys, i, k)
  {
    const char *kid = veil_json_str (k, "kid");
    if (!kid || strcmp (kid, "HCLAkPub"))
      continue;
    const char *kty = veil_json_str (k, "kty");
    if (!kty || strcmp (kty, "RSA"))
      {
        veil_error_set (err, EBADMSG, "hcl: HCLAkPub is not an RSA key");
        return NULL;
      }
    return rsa_from_jwk (k, err);
  }
  veil_error_set (err, EBADMSG, "hcl: variable data has no HCLAkPub key");
  return NULL;
}
