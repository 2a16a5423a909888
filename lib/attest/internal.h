/* Private declarations shared by the attest module: the SEV-SNP report
 * layout, TCB encodings, VCEK extension parsing and certificate-link checks
 * used by snp.c, roots.c and sim.c. */
#ifndef VEIL_ATTEST_INTERNAL_H
#define VEIL_ATTEST_INTERNAL_H

#include "veil/attest.h"

/* ATTESTATION_REPORT field offsets (SNP ABI spec 56860, Table 23 "ATTESTATION_REPORT
 * Structure"; all integers little-endian). */
#define SNP_OFF_VERSION 0x000
#define SNP_OFF_GUEST_SVN 0x004
#define SNP_OFF_POLICY 0x008
#define SNP_OFF_FAMILY_ID 0x010
#define SNP_OFF_IMAGE_ID 0x020
#define SNP_OFF_VMPL 0x030
#define SNP_OFF_SIG_ALGO 0x034
#define SNP_OFF_CURRENT_TCB 0x038
#define SNP_OFF_PLATFORM_INFO 0x040
#define SNP_OFF_SIGNER_INFO 0x048
#define SNP_OFF_REPORT_DATA 0x050
#define SNP_OFF_MEASUREMENT 0x090
#define SNP_OFF_HOST_DATA 0x0C0
#define SNP_OFF_ID_KEY_DIGEST 0x0E0
#define SNP_OFF_AUTHOR_KEY_DIGEST 0x110
#define SNP_OFF_REPORT_ID 0x140
#define SNP_OFF_REPORT_ID_MA 0x160
#define SNP_OFF_REPORTED_TCB 0x180
#define SNP_OFF_CPUID_FAM 0x188 /* version >= 3 */
#define SNP_OFF_CPUID_MOD 0x189
#define SNP_OFF_CPUID_STEP 0x18A
#define SNP_OFF_CHIP_ID 0x1A0
#define SNP_OFF_COMMITTED_TCB 0x1E0
#define SNP_OFF_CURRENT_VERSION 0x1E8   /* build, minor, major, reserved */
#define SNP_OFF_COMMITTED_VERSION 0x1EC /* build, minor, major, reserved */
#define SNP_OFF_LAUNCH_TCB 0x1F0
#define SNP_OFF_LAUNCH_MIT 0x1F8  /* version >= 5 */
#define SNP_OFF_CURRENT_MIT 0x200 /* version >= 5 */
#define SNP_OFF_SIG_R 0x2A0       /* 72 bytes, little-endian */
#define SNP_OFF_SIG_S 0x2E8       /* 72 bytes, little-endian */
#define SNP_SIG_FIELD_LEN 72
#define SNP_P384_LEN 48
#define SNP_CHIP_ID_LEN 64

#define SNP_SIG_ALGO_ECDSA_P384_SHA384 1
#define SNP_POLICY_SMT (1ULL << 16)
#define SNP_POLICY_MIGRATE_MA (1ULL << 18)
#define SNP_POLICY_DEBUG (1ULL << 19)
#define SNP_POLICY_SINGLE_SOCKET (1ULL << 20)
/* signer_info bits 4:2 SIGNING_KEY: 0 VCEK, 1 VLEK, 7 none (Table 23). */
#define SNP_SIGNING_KEY(signer_info) (((signer_info) >> 2) & 7)
#define SNP_SIGNING_KEY_VCEK 0
#define SNP_SIGNING_KEY_VLEK 1

typedef enum
{
  SNP_PRODUCT_UNKNOWN = -1,
  SNP_MILAN = 0,
  SNP_GENOA,
  SNP_TURIN,
  SNP_N_PRODUCTS,
} snp_product_t;

const char *veil_snp_product_name (snp_product_t p);
/* "Milan", "Milan-B0", "Genoa", ... → product; unknown → SNP_PRODUCT_UNKNOWN. */
snp_product_t veil_snp_product_from_name (const char *name);
/* From the CPUID family/model of a version >= 3 report (as AMD's KDS
 * documentation maps them); unknown → SNP_PRODUCT_UNKNOWN. */
snp_product_t veil_snp_product_from_cpuid (uint8_t family, uint8_t model);

static inline uint32_t
veil_le32 (const uint8_t *p)
{
  return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}
static inline uint64_t
veil_le64 (const uint8_t *p)
{
  return (uint64_t) veil_le32 (p) | (uint64_t) veil_le32 (p + 4) << 32;
}
static inline void
veil_put_le32 (uint8_t *p, uint32_t v)
{
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t) (v >> (8 * i));
}
static inline void
veil_put_le64 (uint8_t *p, uint64_t v)
{
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t) (v >> (8 * i));
}

/* TCB_VERSION (SNP ABI Table 3): Milan/Genoa: byte0 boot loader, byte1 TEE,
 * bytes 2-5 reserved, byte6 SNP, byte7 microcode.  Turin (family 1Ah) adds
 * FMC: byte0 FMC, byte1 boot loader, byte2 TEE, byte3 SNP, bytes 4-6
 * reserved, byte7 microcode. */
void veil_snp_tcb_decode (uint64_t v, bool turin, veil_snp_tcb_t *out);
uint64_t veil_snp_tcb_encode (const veil_snp_tcb_t *t, bool turin);

/* The AMD extensions of a VCEK/VLEK (AMD 57230 Table 8), under
 * 1.3.6.1.4.1.3704.1: .2 productName (IA5String), .3.1 blSPL, .3.2 teeSPL,
 * .3.3 snpSPL, .3.8 ucodeSPL, .3.9 fmcSPL (Turin) (INTEGER), .4 hwID (VCEK
 * only: 64 bytes, raw in older certificates, an OCTET STRING in newer). */
typedef struct snp_cert_ext
{
  veil_snp_tcb_t spl;
  bool has_fmc;
  bool has_hwid;
  uint8_t hwid[SNP_CHIP_ID_LEN];
  char product_name[64]; /* "" when absent */
} snp_cert_ext_t;

int veil_snp_cert_ext (X509 *cert, const char *what, snp_cert_ext_t *out, veil_error_t **err);

#define SNP_OID_PRODUCT_NAME "1.3.6.1.4.1.3704.1.2"
#define SNP_OID_BL_SPL "1.3.6.1.4.1.3704.1.3.1"
#define SNP_OID_TEE_SPL "1.3.6.1.4.1.3704.1.3.2"
#define SNP_OID_SNP_SPL "1.3.6.1.4.1.3704.1.3.3"
#define SNP_OID_UCODE_SPL "1.3.6.1.4.1.3704.1.3.8"
#define SNP_OID_FMC_SPL "1.3.6.1.4.1.3704.1.3.9"
#define SNP_OID_HWID "1.3.6.1.4.1.3704.1.4"
#define SNP_OID_STRUCT_VERSION "1.3.6.1.4.1.3704.1.1"

/* One link of an AMD chain: cert is signed by issuer with RSA-PSS, SHA-384,
 * MGF1-SHA-384, salt 48 (the only scheme AMD uses for ARK/ASK/ASVK/VCEK/VLEK
 * certificates) and the signature verifies.  Used for the built-in anchors
 * and for sim chains alike. */
int veil_snp_check_link (X509 *cert, X509 *issuer, const char *what, veil_error_t **err);

/* Rebuild the raw 0x4A0-byte report from the serde-JSON form of the `sev`
 * crate's AttestationReport (Trustee's SnpEvidence.attestation_report). */
int veil_snp_report_from_sev_json (const json_t *j, uint8_t out[VEIL_SNP_REPORT_SIZE],
                                   veil_error_t **err);

#endif
