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
#define VEIL_SNP_REPORT_SIZE 0x4A0
#define VEIL_SNP_SIGNED_SIZE 0x2A0

/* Built-in AMD trust anchors: product "Milan", "Genoa", "Turin". */
typedef struct veil_snp_anchor
{
  const char *product;
  X509 *ark, *ask, *asvk;
} veil_snp_anchor_t;

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

#endif
