/* libveil attest: evidence parsing and verification for SEV-SNP (incl. VLEK
 * and sim roots), TDX, TPM 2.0, Azure SNP vTPM and the sample TEE.  Each
 * verifier is an ops table and produces a flat claims JSON object.
 * Depends only on crypto and base. */
#ifndef VEIL_ATTEST_H
#define VEIL_ATTEST_H

#include "veil/crypto.h"

/* SNP TCB version as four SPL bytes (Milan/Genoa layout; Turin adds fmc). */
typedef struct veil_snp_tcb
{
  uint8_t bootloader, tee, snp, microcode, fmc;
} veil_snp_tcb_t;

/* Verifier configuration, shared by all verifiers; zero means default. */
typedef struct veil_attest_config
{
  bool allow_debug;                /* accept SNP policy.DEBUG / TDX attributes.DEBUG */
  bool allow_sample;               /* accept the sample TEE at all */
  const char *snp_vcek_dir;        /* local VCEK/VLEK cache (no network) */
  const char *tdx_collateral_dir;  /* tcbInfo.json, enclaveIdentity.json (optional) */
  STACK_OF (X509) * sim_roots;     /* non-AMD ARKs accepted for "sim": true */
  veil_snp_tcb_t snp_min_tcb;      /* minimum reported_tcb per component */
  const char *const *snp_chip_ids; /* allow-list of chip_id hex (NULL = any) */
  size_t n_snp_chip_ids;
  int64_t now; /* unix time for validity checks; 0 = now */
  /* TPM quotes carry their own AK: it is trusted only when its SHA-256
   * (of the DER SubjectPublicKeyInfo, hex) is listed here, or when
   * tpm_any_ak is set (offline inspection of a quote, never a service). */
  const char *const *tpm_trusted_aks;
  size_t n_tpm_trusted_aks;
  bool tpm_any_ak;
} veil_attest_config_t;

/* What the relying party expects the evidence to be bound to. */
typedef struct veil_attest_expect
{
  const uint8_t *report_data;      /* NULL: not checked (offline verify) */
  size_t report_data_len;          /* 64 for SNP/TDX (zero-padded), 48 sample */
  const uint8_t *init_data_digest; /* NULL: not checked; else = host_data/mrconfigid prefix */
  size_t init_data_digest_len;
} veil_attest_expect_t;

typedef struct veil_verifier_ops
{
  const char *tee; /* "snp", "tdx", "tpm", "az-snp-vtpm", "sample" */
  /* evidence: the KBS primary_evidence object (or what the CLI made of a
   * file).  Returns claims (new reference) or NULL with *err naming the
   * failed check ("snp: report signature does not verify with VCEK"). */
  json_t *(*verify) (const json_t *evidence, const veil_attest_expect_t *expect,
                     const veil_attest_config_t *cfg, veil_error_t **err);
} veil_verifier_ops_t;

extern const veil_verifier_ops_t veil_verifier_snp;
extern const veil_verifier_ops_t veil_verifier_tdx;
extern const veil_verifier_ops_t veil_verifier_tpm;
extern const veil_verifier_ops_t veil_verifier_az_snp_vtpm;
extern const veil_verifier_ops_t veil_verifier_sample;

/* Find by TEE name; NULL when unknown. */
const veil_verifier_ops_t *veil_verifier_find (const char *tee);
/* Dispatch: unknown TEE → ENOTSUP "attest: unknown TEE 'x'". Adds "tee" to claims. */
json_t *veil_attest_verify (const char *tee, const json_t *evidence, const veil_attest_expect_t *expect,
                            const veil_attest_config_t *cfg, veil_error_t **err);

/* ---- SNP building blocks (also used by the Azure verifier and the sim TEE) ---- */
/* veil_verifier_snp accepts two evidence forms:
 *   compact: {"report": "<base64 of the raw 0x4A0-byte report>",
 *             "cert_chain": [VCEK, ASK, ARK]}  (each PEM text or base64 DER;
 *             the P-384 certificate is the VCEK/VLEK; cert_chain optional)
 *   Trustee: {"attestation_report": {sev crate AttestationReport as serde JSON},
 *             "cert_chain": [{"cert_type": "VCEK"|"VLEK"|"ASK"|"ARK",
 *                             "data": [bytes] | "<base64/PEM>"}] | null}
 * Without a VCEK/VLEK in the evidence, cfg->snp_vcek_dir is searched for
 *   <chip_id hex>-<reported_tcb %016llx>.{der,pem}, then <chip_id hex>.{der,pem}
 *   (VLEK: vlek-<reported_tcb %016llx>.{der,pem}, then vlek.{der,pem}).
 * Claims are flat: version, policy, policy_debug_allowed, ..., reported_tcb_snp,
 * ..., measurement, report_data, host_data, chip_id (lowercase hex),
 * signing_key "vcek"|"vlek", product "Milan"|"Genoa"|"Turin", "sim": true
 * only for a chain to one of cfg->sim_roots. */
#define VEIL_SNP_REPORT_SIZE 0x4A0
#define VEIL_SNP_SIGNED_SIZE 0x2A0

/* Built-in AMD trust anchors: product "Milan", "Genoa", "Turin". */
typedef struct veil_snp_anchor
{
  const char *product;
  X509 *ark, *ask, *asvk;
} veil_snp_anchor_t;

/* The built-in anchors (Milan, Genoa, Turin), parsed and checked once,
 * thread-safely: each ARK self-signed, ASK and ASVK signed by it (RSA-PSS
 * SHA-384).  Never freed.  NULL with *err only if that check failed. */
const veil_snp_anchor_t *veil_snp_anchors (size_t *n, veil_error_t **err);

/* Verify a raw SNP report (0x4A0 bytes) against a VCEK or VLEK certificate:
 * chain to a built-in ARK (or a cfg->sim_roots root → "sim": true), report
 * signature, reported_tcb vs the certificate's SPL extensions and cfg's
 * minimum, debug policy, chip_id allow-list, expected report_data.  Returns
 * flat claims.  chain: optional extra certs (ASK/ARK) supplied with the
 * evidence, used only to find a sim root's intermediates. */
json_t *veil_snp_verify_report (const uint8_t *report, size_t len, X509 *vcek,
                                STACK_OF (X509) * chain, const veil_attest_expect_t *expect,
                                const veil_attest_config_t *cfg, veil_error_t **err);

/* ---- sim CA: a software "AMD" for machines without SNP (INSECURE) ---- */
/* Creates DIR/{ark.pem,ask.pem,vcek.pem,vcek.key,chip_id} : an RSA-4096 ARK
 * and ASK (RSA-PSS SHA-384), and a P-384 VCEK with the AMD SPL/hwID
 * extensions, as the real ones are laid out. */
int veil_sim_ca_init (const char *dir, const veil_snp_tcb_t *tcb, veil_error_t **err);

typedef struct veil_sim_ca veil_sim_ca_t;
veil_sim_ca_t *veil_sim_ca_load (const char *dir, veil_error_t **err);
void veil_sim_ca_free (veil_sim_ca_t *ca);
X509 *veil_sim_ca_ark (veil_sim_ca_t *ca);  /* borrowed */
X509 *veil_sim_ca_ask (veil_sim_ca_t *ca);  /* borrowed */
X509 *veil_sim_ca_vcek (veil_sim_ca_t *ca); /* borrowed */

typedef struct veil_sim_report_params
{
  uint8_t report_data[64];
  uint8_t measurement[48];
  uint8_t host_data[32];
  uint64_t policy; /* 0 → 0x30000 (SMT allowed, no debug) */
  uint32_t vmpl;
  uint32_t version; /* 0 → 3 */
} veil_sim_report_params_t;

/* Build and sign a 0x4A0-byte SNP report with the sim VCEK key. */
int veil_sim_ca_sign_report (veil_sim_ca_t *ca, const veil_sim_report_params_t *p,
                             uint8_t out[VEIL_SNP_REPORT_SIZE], veil_error_t **err);
/* Compact SNP evidence {"report": b64, "cert_chain": [pem VCEK, ASK, ARK]}. */
json_t *veil_sim_ca_evidence (veil_sim_ca_t *ca, const veil_sim_report_params_t *p,
                              veil_error_t **err);

/* ---- TPM 2.0 quotes (also used by the Azure vTPM verifier) ---- */
/* TPM 2.0 Library Part 2 §6.3 (TPM_ALG_ID) and §6.9 (TPM_ST). */
#define VEIL_TPM_GENERATED 0xff544347u
#define VEIL_TPM_ST_ATTEST_QUOTE 0x8018
#define VEIL_TPM_ALG_SHA1 0x0004
#define VEIL_TPM_ALG_SHA256 0x000B
#define VEIL_TPM_ALG_SHA384 0x000C
#define VEIL_TPM_ALG_SHA512 0x000D
#define VEIL_TPM_ALG_RSASSA 0x0014
#define VEIL_TPM_ALG_RSAPSS 0x0016
#define VEIL_TPM_ALG_ECDSA 0x0018
#define VEIL_TPM_MAX_PCR_SELECT 4 /* pcrSelect bytes per bank: up to 32 PCRs */

/* A parsed TPMS_ATTEST of type TPM_ST_ATTEST_QUOTE (Part 2 §10.12.12).
 * Pointers borrow from the parsed buffer. */
typedef struct veil_tpm_attest
{
  uint32_t magic;
  uint16_t type;
  const uint8_t *qualified_signer;
  size_t qualified_signer_len;
  const uint8_t *extra_data;
  size_t extra_data_len;
  uint64_t clock;
  uint32_t reset_count, restart_count;
  bool safe;
  uint64_t firmware_version;
  /* TPMS_QUOTE_INFO: one PCR bank (the only form veil accepts) */
  uint16_t pcr_hash_alg;
  uint8_t pcr_select_size;
  uint8_t pcr_select[VEIL_TPM_MAX_PCR_SELECT];
  const uint8_t *pcr_digest;
  size_t pcr_digest_len;
} veil_tpm_attest_t;

/* Parse a quote's TPMS_ATTEST: magic TPM_GENERATED, type ATTEST_QUOTE,
 * exactly one PCR bank, no trailing bytes; every size bounded. */
int veil_tpm_attest_parse (const uint8_t *buf, size_t len, veil_tpm_attest_t *out,
                           veil_error_t **err);

/* A parsed TPMT_SIGNATURE (Part 2 §11.3.4); pointers borrow from the buffer. */
typedef struct veil_tpm_signature
{
  uint16_t sig_alg;           /* VEIL_TPM_ALG_RSASSA, _RSAPSS, _ECDSA */
  uint16_t hash_alg;          /* SHA-256/384/512 (SHA-1 refused) */
  const uint8_t *sig, *r, *s; /* RSA: sig; ECDSA: r and s (big-endian) */
  size_t sig_len, r_len, s_len;
} veil_tpm_signature_t;

int veil_tpm_signature_parse (const uint8_t *buf, size_t len, veil_tpm_signature_t *out,
                              veil_error_t **err);

/* A quote as carried in evidence: the signed TPMS_ATTEST bytes, its
 * signature, and the quoted PCR values (JSON array of hex strings, one per
 * selected PCR in selection order). */
typedef struct veil_tpm_quote
{
  const uint8_t *message;
  size_t message_len;
  veil_tpm_signature_t sig;
  const json_t *pcrs;
} veil_tpm_quote_t;

/* Verify a quote with the attestation key ak: TPMS_ATTEST structure, the
 * signature, pcrDigest against the PCR values, extraData against
 * expect->report_data and PCR8 against expect->init_data_digest.  Adds the
 * TPM claims to claims, each name prefixed with prefix (may be ""). */
int veil_tpm_quote_verify (const veil_tpm_quote_t *q, EVP_PKEY *ak, const veil_attest_expect_t *expect,
                           const char *prefix, json_t *claims, veil_error_t **err);

/* ---- Azure CVM HCL report (az-snp-vtpm) ---- */
/* An HCL attestation report: 32-byte header, the hardware report in a
 * 0x4A0-byte slot, then the IGVM request data whose variable data (a JSON
 * JWK set with "HCLAkPub") is hashed into the SNP report_data.  Pointers
 * borrow from the parsed buffer. */
typedef struct veil_hcl_report
{
  const uint8_t *snp_report; /* VEIL_SNP_REPORT_SIZE bytes */
  uint32_t report_type;      /* 2: SNP */
  uint32_t hash_type;        /* 1: SHA-256, 2: SHA-384, 3: SHA-512 */
  const uint8_t *var_data;
  size_t var_data_len;
} veil_hcl_report_t;

int veil_hcl_report_parse (const uint8_t *buf, size_t len, veil_hcl_report_t *out,
                           veil_error_t **err);
/* The HCLAkPub RSA key of the variable data's JWK set. */
EVP_PKEY *veil_hcl_ak_pub (const veil_hcl_report_t *hcl, veil_error_t **err);
/* report_data[0:hash len] == hash(var data); fills digest/len when non-NULL. */
int veil_hcl_check_binding (const veil_hcl_report_t *hcl, uint8_t digest[VEIL_SHA512_LEN],
                            size_t *digest_len, veil_error_t **err);

/* ---- TDX building blocks (Intel TDX DCAP Quote Library, "Quote Format") ---- */
#define VEIL_TDX_HEADER_SIZE 48
#define VEIL_TDX_BODY10_SIZE 584 /* TD report body, TDX 1.0 (quote v4, v5 type 2) */
#define VEIL_TDX_BODY15_SIZE 648 /* TDX 1.5 (quote v5 type 3) */
#define VEIL_TDX_QE_REPORT_SIZE 384
#define VEIL_TDX_QUOTE_MAX (128 * 1024)
#define VEIL_CCEL_MAX (8 * 1024 * 1024)

/* A parsed quote: pointers into the caller's buffer, every length bounded. */
typedef struct veil_tdx_quote
{
  uint16_t version;   /* 4 or 5 */
  uint16_t body_type; /* 2 = TDX 1.0, 3 = TDX 1.5 */
  const uint8_t *header;
  const uint8_t *body;
  size_t body_len;
  const uint8_t *signed_data; /* header [+ v5 body descriptor] + body */
  size_t signed_len;
  const uint8_t *signature;  /* 64 bytes, r||s big-endian */
  const uint8_t *attest_key; /* 64 bytes, x||y */
  const uint8_t *qe_report;  /* 384-byte SGX report body */
  const uint8_t *qe_report_sig;
  const uint8_t *qe_auth;
  size_t qe_auth_len;
  const char *pck_chain; /* PEM: PCK leaf, intermediate CA, root CA */
  size_t pck_chain_len;
} veil_tdx_quote_t;

/* Structure only (no crypto): header fields, sizes, certification data. */
int veil_tdx_quote_parse (const uint8_t *quote, size_t len, veil_tdx_quote_t *out, veil_error_t **err);
/* Full verification of a raw quote (signatures, QE binding, PCK chain to the
 * built-in Intel SGX Root CA, debug policy, expectations, optional
 * collateral from cfg->tdx_collateral_dir).  Returns flat claims. */
json_t *veil_tdx_verify_quote (const uint8_t *quote, size_t len, const veil_attest_expect_t *expect,
                               const veil_attest_config_t *cfg, veil_error_t **err);
/* The built-in Intel SGX Root CA (borrowed; never NULL). */
X509 *veil_tdx_intel_root (void);

/* ---- CCEL: TCG2 crypto-agile event log of a TD (UEFI CC event log) ---- */
/* Parse with strict bounds: JSON array of {"index","type","digests":{alg: hex},
 * "event_size"}.  index is the CC MR index (0 = MRTD, 1..4 = RTMR0..3). */
json_t *veil_ccel_parse (const uint8_t *log, size_t len, veil_error_t **err);
/* Replay the SHA-384 digests into RTMR0..3 (CC MR index i+1 -> RTMR i). */
int veil_ccel_replay (const uint8_t *log, size_t len, uint8_t rtmr[4][VEIL_SHA384_LEN],
                      veil_error_t **err);

#endif
