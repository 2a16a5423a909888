/* Private declarations shared by the KBS server's files. */
#ifndef VEIL_KBS_INTERNAL_H
#define VEIL_KBS_INTERNAL_H

#include <pthread.h>
#include "veil/db.h"
#include "veil/kbs.h"

#define KBS_MAX_RESOURCE (1 << 20)
#define KBS_SESSION_ID_LEN 36

/* ---- sessions (in memory: a restart ends every session) ---- */
typedef struct kbs_session
{
  char id[KBS_SESSION_ID_LEN + 1];
  char tee[32];
  uint8_t nonce[VEIL_KBS_NONCE_LEN];
  int64_t expires; /* unix seconds */
  bool nonce_used; /* an /attest consumed it (success or not) */
  bool attested;
  json_t *policy_input; /* claims the release policy sees; immutable once set */
  EVP_PKEY *tee_key;    /* the attested tee-pubkey resources are encrypted to */
  struct kbs_session *next;
} kbs_session_t;

#define KBS_SESSION_BUCKETS 4096

typedef struct kbs_sessions
{
  pthread_mutex_t lock;
  kbs_session_t *buckets[KBS_SESSION_BUCKETS];
  size_t count, max;
  int64_t ttl;
} kbs_sessions_t;

void kbs_sessions_init (kbs_sessions_t *s, size_t max, int64_t ttl);
void kbs_sessions_destroy (kbs_sessions_t *s);
/* Creates a session with a fresh nonce; copies id and nonce out. */
int kbs_sessions_create (kbs_sessions_t *s, const char *tee, char id[KBS_SESSION_ID_LEN + 1],
                         uint8_t nonce[VEIL_KBS_NONCE_LEN], veil_error_t **err);
/* Takes the nonce for an attestation: fails if unknown, expired or used. */
int kbs_sessions_take_nonce (kbs_sessions_t *s, const char *id, char tee[32],
                             uint8_t nonce[VEIL_KBS_NONCE_LEN], veil_error_t **err);
/* Records a successful attestation (steals both references; the claims
 * are never modified afterwards, so readers on other threads share them). */
int kbs_sessions_set_attested (kbs_sessions_t *s, const char *id, json_t *policy_input,
                               EVP_PKEY *tee_key, int64_t expires, veil_error_t **err);
/* New references to an attested session's claims and key. */
int kbs_sessions_get_attested (kbs_sessions_t *s, const char *id, json_t **policy_input,
                               EVP_PKEY **tee_key, veil_error_t **err);

/* ---- store (SQLite, resources encrypted at rest) ---- */
typedef struct kbs_store
{
  veil_db_t *db;
  uint8_t *at_rest_key; /* secret allocation, 32 bytes */
  /* Policies and reference values are read on every flow and written only
   * through this process's admin API: an in-memory snapshot of each,
   * reloaded when a write bumped the generation.  (Resources are not
   * cached: their plaintext stays in memory no longer than a release.) */
  pthread_mutex_t snap_lock;
  uint64_t gen, policies_gen, refs_gen;
  json_t *policies; /* {"<pattern>": policy} */
  json_t *refs;     /* {"<workload>": doc} */
} kbs_store_t;

int kbs_store_open (kbs_store_t *st, const char *state_dir, veil_error_t **err);
void kbs_store_close (kbs_store_t *st);
int kbs_store_put_resource (kbs_store_t *st, const char *path, const uint8_t *data, size_t len,
                            veil_error_t **err);
/* -ENOENT when absent; *data is a secret allocation. */
int kbs_store_get_resource (kbs_store_t *st, const char *path, uint8_t **data, size_t *len,
                            veil_error_t **err);
int kbs_store_delete_resource (kbs_store_t *st, const char *path, veil_error_t **err);
int kbs_store_put_policy (kbs_store_t *st, const char *pattern, const json_t *policy,
                          veil_error_t **err);
int kbs_store_delete_policy (kbs_store_t *st, const char *pattern, veil_error_t **err);
/* The most specific policy whose pattern matches path (fnmatch); NULL when none. */
json_t *kbs_store_find_policy (kbs_store_t *st, const char *path, char **pattern,
                               veil_error_t **err);
int kbs_store_put_reference (kbs_store_t *st, const char *workload, const json_t *doc,
                             veil_error_t **err);
int kbs_store_delete_reference (kbs_store_t *st, const char *workload, veil_error_t **err);
/* All reference-value documents for a TEE: {"<workload>": doc, ...}. */
json_t *kbs_store_references_for (kbs_store_t *st, const char *tee, veil_error_t **err);
/* Listing for the admin API (never secrets). */
json_t *kbs_store_list (kbs_store_t *st, const char *what, veil_error_t **err);
/* Audit: never pass a secret. */
void kbs_store_audit (kbs_store_t *st, const char *event, const char *outcome, const char *tee,
                      const char *session, const char *resource, const char *reason,
                      const char *peer);
json_t *kbs_store_audit_read (kbs_store_t *st, int64_t since_id, int64_t limit, veil_error_t **err);

/* ---- appraisal and tokens ---- */
/* Compares claims with the reference values registered for tee and returns
 * {"status": …, "vector": {...}, "policy_id": …, "workload": name|null}. */
json_t *kbs_appraise (kbs_store_t *st, const char *tee, const json_t *claims, veil_error_t **err);

typedef struct kbs_signer
{
  EVP_PKEY *key; /* P-256 */
  char *kid;
  json_t *jwks;
} kbs_signer_t;

int kbs_signer_open (kbs_signer_t *s, const char *state_dir, veil_error_t **err);
void kbs_signer_close (kbs_signer_t *s);
char *kbs_token_issue (kbs_signer_t *s, const char *verifier_id, int64_t ttl, const char *tee,
                       const json_t *claims, const json_t *appraisal, const json_t *runtime_data,
                       const json_t *init_data_claims, veil_error_t **err);
/* Verifies one of our tokens and recovers the policy input and tee-pubkey. */
int kbs_token_check (kbs_signer_t *s, const char *token, json_t **policy_input,
                     EVP_PKEY **tee_key, veil_error_t **err);
/* The claims a release policy sees: verifier claims + tee, ear.status, workload. */
json_t *kbs_policy_input (const char *tee, const json_t *claims, const json_t *appraisal);

/* ---- the server object ---- */
struct veil_kbs
{
  veil_kbs_config_t cfg;
  kbs_sessions_t sessions;
  kbs_store_t store;
  kbs_signer_t signer;
  char *verifier_id;
};

void kbs_handle_admin (veil_kbs_t *kbs, const veil_http_request_t *req, const char *sub,
                       veil_http_response_t *resp);

#endif
