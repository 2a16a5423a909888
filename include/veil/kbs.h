/* libveil kbs: the Trustee-compatible KBS protocol (RCAR v0.1.x) — the key
 * broker + attestation service logic of veil-trustee, and the client that
 * guests and the CLI use.  Trusted side: never includes the control plane. */
#ifndef VEIL_KBS_H
#define VEIL_KBS_H

#include "veil/attest.h"
#include "veil/http.h"

#define VEIL_KBS_PROTOCOL_VERSION "0.1.1"
#define VEIL_KBS_NONCE_LEN 32
#define VEIL_KBS_SESSION_COOKIE "kbs-session-id"

/* ---- server --------------------------------------------------------------- */

typedef struct veil_kbs_config
{
  const char *state_dir;       /* SQLite db, signing key, at-rest key */
  veil_attest_config_t attest; /* verifier settings */
  EVP_PKEY *admin_key;         /* Ed25519 public key of the admin (borrowed); NULL: no admin API */
  int64_t session_ttl;         /* seconds an auth nonce/session lives; 0 → 300 */
  int64_t token_ttl;           /* seconds an EAR token is valid; 0 → 300 */
  size_t max_sessions;         /* 0 → 65536 */
  const char *verifier_id;     /* ear.verifier-id build; NULL → "veil-trustee <version>" */
} veil_kbs_config_t;

typedef struct veil_kbs veil_kbs_t;

/* Opens/creates the state under cfg->state_dir. cfg is copied; the
 * attest config's pointers must outlive the server. */
veil_kbs_t *veil_kbs_new (const veil_kbs_config_t *cfg, veil_error_t **err);
void veil_kbs_free (veil_kbs_t *kbs);
/* veil_http_handler_fn: serves /kbs/v0/... and the JWKS. Thread-safe. */
void veil_kbs_handle (void *kbs, const veil_http_request_t *req, veil_http_response_t *resp);
/* The public JWK set of the token signing key ({"keys":[...]}). */
json_t *veil_kbs_jwks (veil_kbs_t *kbs);

/* Loads a JSON config file (documented in docs/trustee.md) into cfg; the
 * strings and keys it allocates belong to the returned holder. */
typedef struct veil_kbs_config_file veil_kbs_config_file_t;
veil_kbs_config_file_t *veil_kbs_config_load (const char *path, veil_kbs_config_t *cfg,
                                              veil_error_t **err);
void veil_kbs_config_file_free (veil_kbs_config_file_t *f);
VEIL_DEFINE_CLEANUP (veil_kbs_config_file_t *, veil_kbs_config_file_free)

/* The binding: SHA-384 over the RFC 8785 canonical JSON of runtime-data. */
int veil_kbs_runtime_data_digest (const json_t *runtime_data, uint8_t out[VEIL_SHA384_LEN],
                                  veil_error_t **err);

/* ---- client --------------------------------------------------------------- */

/* Produces the TEE's primary evidence for a 64-byte report_data (for the
 * sample TEE only the first 48 bytes matter). */
typedef json_t *(*veil_kbs_evidence_fn) (void *ctx, const char *tee, const uint8_t report_data[64],
                                         veil_error_t **err);

typedef struct veil_kbs_client_opts
{
  const char *url; /* "http://127.0.0.1:8080" */
  const char *tee; /* "snp", "tdx", "sample", ... (what /auth announces) */
  veil_kbs_evidence_fn evidence;
  void *evidence_ctx;
  const char *key_kind;    /* ephemeral tee key: "P-256" (default), "P-384", "P-521", "RSA-2048" */
  const json_t *init_data; /* optional {"format":…,"body":…} */
  veil_http_client_opts_t http;
} veil_kbs_client_opts_t;

typedef struct veil_kbs_client veil_kbs_client_t;

veil_kbs_client_t *veil_kbs_client_new (const veil_kbs_client_opts_t *opts, veil_error_t **err);
void veil_kbs_client_free (veil_kbs_client_t *c);
/* auth → attest; keeps the session cookie and the token. */
int veil_kbs_client_attest (veil_kbs_client_t *c, veil_error_t **err);
/* GET /kbs/v0/resource/<path>, attesting first if needed; the JWE is
 * decrypted with the ephemeral key. *secret is a secret allocation. */
int veil_kbs_client_get_resource (veil_kbs_client_t *c, const char *path, uint8_t **secret,
                                  size_t *secret_len, veil_error_t **err);
/* The EAR token (after attest), NULL before. */
const char *veil_kbs_client_token (const veil_kbs_client_t *c);

/* Built-in evidence producers: sample, and sim (ctx = veil_sim_ca_t *,
 * measurement/host_data from veil_kbs_sim_params). */
json_t *veil_kbs_evidence_sample (void *ctx, const char *tee, const uint8_t report_data[64],
                                  veil_error_t **err);
typedef struct veil_kbs_sim_ctx
{
  veil_sim_ca_t *ca;
  veil_sim_report_params_t params; /* report_data is filled in per request */
} veil_kbs_sim_ctx_t;
json_t *veil_kbs_evidence_sim (void *ctx, const char *tee, const uint8_t report_data[64],
                               veil_error_t **err);

#endif
