/* Private declarations shared by the TDX verifier's files (and its tests). */
#ifndef VEIL_ATTEST_TDX_INTERNAL_H
#define VEIL_ATTEST_TDX_INTERNAL_H

#include "veil/attest.h"

/* TD report body offsets (DCAP Quote Library, "TD Quote Body"). */
#define TDX_B_TEE_TCB_SVN 0
#define TDX_B_MRSEAM 16
#define TDX_B_MRSIGNERSEAM 64
#define TDX_B_SEAM_ATTRIBUTES 112
#define TDX_B_TD_ATTRIBUTES 120
#define TDX_B_XFAM 128
#define TDX_B_MRTD 136
#define TDX_B_MRCONFIGID 184
#define TDX_B_MROWNER 232
#define TDX_B_MROWNERCONFIG 280
#define TDX_B_RTMR0 328
#define TDX_B_REPORT_DATA 520
#define TDX_B_TEE_TCB_SVN2 584
#define TDX_B_MRSERVICETD 600

/* SGX report body offsets of the QE report (SGX SDK sgx_report_body_t). */
#define SGX_R_CPUSVN 0
#define SGX_R_MISCSELECT 16
#define SGX_R_ATTRIBUTES 48
#define SGX_R_MRENCLAVE 64
#define SGX_R_MRSIGNER 128
#define SGX_R_ISVPRODID 256
#define SGX_R_ISVSVN 258
#define SGX_R_REPORT_DATA 320

/* What the PCK certificate's SGX extensions (OID 1.2.840.113741.1.13.1,
 * Intel SGX PCK Certificate and CRL Profile §1.3.5) say about the platform. */
typedef struct tdx_pck_info
{
  uint8_t fmspc[6];
  uint8_t pceid[2];
  uint8_t cpusvn[16];
  uint8_t comp_svn[16]; /* SGX TCB components 1..16 */
  uint16_t pcesvn;
} tdx_pck_info_t;

int tdx_pck_info (X509 *pck, tdx_pck_info_t *out, veil_error_t **err);

/* Verify a chain whose first certificate is the leaf up to the built-in
 * Intel SGX Root CA.  what names the chain in messages. */
int tdx_chain_verify (STACK_OF (X509) * chain, int64_t now, const char *what, veil_error_t **err);

/* The exact text of the value of top-level member `member` of the JSON
 * document (Intel signs these bytes, not a re-serialisation). */
int tdx_json_member_span (const char *text, size_t len, const char *member, const char **start,
                          size_t *n, veil_error_t **err);

/* TCB status of the platform against a (verified) tcbInfo object: adds
 * tcb_status, tcb_date, advisory_ids to claims. */
int tdx_tcb_eval (const json_t *tcbinfo, const tdx_pck_info_t *pck, const uint8_t *body, json_t *claims,
                  veil_error_t **err);
/* QE identity (enclaveIdentity object) against the QE report: adds qe_tcb_status. */
int tdx_qe_identity_eval (const json_t *identity, const uint8_t *qe_report, json_t *claims,
                          veil_error_t **err);
/* Everything in cfg->tdx_collateral_dir; no-op when the dir is unset or holds
 * neither file. */
int tdx_collateral_check (const char *dir, const veil_tdx_quote_t *q, const tdx_pck_info_t *pck,
                          int64_t now, json_t *claims, veil_error_t **err);

#endif
