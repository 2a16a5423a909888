/* libveil image: OCI references, manifests, a distribution-v2 registry
 * client, the content store, streaming readers (file, digest, decompress,
 * ocicrypt decrypt), safe tar unpack, and ocicrypt encryption.
 *
 * The pull path is a chain of pull-based readers, so that a layer is read
 * from the store once and digest-checked, decrypted, decompressed and
 * untarred in one pass:
 *   file → [ocicrypt decrypt (AES-256-CTR, HMAC at end)] → decompress
 *   (gzip/zstd, sha256 of the output = diff_id) → tar unpack
 * Every stage checks its own integrity in finish(); the unpacked tree is
 * committed (renamed into the layer cache) only after all finish() passed. */
#ifndef VEIL_IMAGE_H
#define VEIL_IMAGE_H

#include <sys/types.h>
#include "veil/crypto.h"

/* ---- media types ---------------------------------------------------------- */
#define VEIL_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define VEIL_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define VEIL_MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define VEIL_MT_OCI_LAYER "application/vnd.oci.image.layer.v1.tar"
#define VEIL_MT_OCI_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define VEIL_MT_OCI_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define VEIL_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define VEIL_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define VEIL_MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define VEIL_MT_DOCKER_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"
/* ocicrypt appends "+encrypted" to the layer media type */
#define VEIL_MT_ENCRYPTED_SUFFIX "+encrypted"

/* "sha256:<64 hex>" only (the one algorithm OCI images use in practice). */
bool veil_digest_valid (const char *digest);
char *veil_digest_of (const void *data, size_t len); /* "sha256:…" */

/* ---- references ------------------------------------------------------------ */

typedef enum
{
  VEIL_REF_REGISTRY,
  VEIL_REF_OCI_LAYOUT
} veil_ref_kind_t;

typedef struct veil_image_ref
{
  veil_ref_kind_t kind;
  char *registry;   /* "127.0.0.1:5000", "docker.io" (registry refs) */
  char *repository; /* "library/busybox", "team/app" */
  char *tag;        /* "latest" when neither tag nor digest is given */
  char *digest;     /* "sha256:…" or NULL */
  char *layout_dir; /* oci:DIR[:TAG] refs */
} veil_image_ref_t;

/* registry/repo[:tag][@sha256:…], repo (→ docker.io/library/repo:latest),
 * oci:DIR[:TAG].  Errors say which part is wrong. */
int veil_image_ref_parse (const char *s, veil_image_ref_t *ref, veil_error_t **err);
char *veil_image_ref_format (const veil_image_ref_t *ref);
void veil_image_ref_clear (veil_image_ref_t *ref);

/* ---- manifests --------------------------------------------------------------- */

typedef struct veil_descriptor
{
  char *media_type;
  char *digest;
  int64_t size;
  json_t *annotations;                                  /* object or NULL */
  char *platform_os, *platform_arch, *platform_variant; /* index entries */
} veil_descriptor_t;

typedef struct veil_manifest
{
  char *media_type;
  veil_descriptor_t config;
  veil_descriptor_t *layers;
  size_t n_layers;
  json_t *doc; /* the parsed manifest */
} veil_manifest_t;

/* Parses an OCI/Docker index or manifest (bounded, strict types).  For an
 * index, *is_index is set and *picked is the linux/amd64 entry's descriptor. */
int veil_manifest_parse (const void *data, size_t len, const char *content_type,
                         veil_manifest_t *m, bool *is_index, veil_descriptor_t *picked,
                         veil_error_t **err);
void veil_manifest_clear (veil_manifest_t *m);
void veil_descriptor_clear (veil_descriptor_t *d);
/* One descriptor object (image-spec descriptor.md, with "platform" when
 * present): strict types, a valid sha256 digest, string annotations. */
int veil_descriptor_parse (const json_t *o, veil_descriptor_t *d, veil_error_t **err);
/* The config's rootfs.diff_ids (array of "sha256:…"), validated. */
json_t *veil_image_config_diff_ids (const json_t *config, size_t n_layers, veil_error_t **err);

/* ---- readers (pull-based streams) ------------------------------------------ */

typedef struct veil_reader veil_reader_t;
struct veil_reader
{
  /* up to len bytes; 0 at the end; -errno with *err */
  ssize_t (*read) (veil_reader_t *r, void *buf, size_t len, veil_error_t **err);
  /* after the end: the stage's final checks (digest, HMAC) and those of the
   * readers it wraps; 0 when all passed */
  int (*finish) (veil_reader_t *r, veil_error_t **err);
  /* frees this stage and the readers it wraps */
  void (*free) (veil_reader_t *r);
};

static inline void
veil_reader_freep (veil_reader_t **r)
{
  if (*r)
    (*r)->free (*r);
}
#define _cleanup_reader_ _cleanup_ (veil_reader_freep)

/* Wrapping readers take ownership of inner when they succeed; when one
 * returns NULL, inner still belongs to the caller.  finish() first reads
 * what the consumer left unread (e.g. tar padding after the end-of-archive
 * blocks), so that every check covers the whole stream. */

/* Reads a file (the fd is owned by the reader and closed by free()). */
veil_reader_t *veil_reader_fd (int fd);
/* Reads a buffer the caller keeps alive until the reader is freed. */
veil_reader_t *veil_reader_mem (const void *data, size_t len);
/* Passes bytes through; finish() fails unless sha256 matches and the byte
 * count equals size (size < 0: not checked).  digest NULL: only the size is
 * checked; an invalid digest fails the first read.  Reading past size fails
 * at once with E2BIG, so a lying server cannot keep us hashing. */
veil_reader_t *veil_reader_digest (veil_reader_t *inner, const char *digest, int64_t size);
/* gzip, zstd or identity by layer media type (suffix "+gzip", "+zstd", none);
 * computes sha256 of the output: the layer's diff_id, compared in finish()
 * when expect_diff_id is given.  Output is bounded by max_out bytes (a
 * decompression bomb fails with E2BIG; 0 → 64 GiB).  Also accepts Docker's
 * ".tar.gzip"; "+encrypted" and unknown types fail with ENOTSUP.  Multi-member
 * gzip and multi-frame zstd are accepted; bytes after the compressed stream
 * and a stream that stops early (EBADMSG "truncated") are refused. */
veil_reader_t *veil_reader_decompress (veil_reader_t *inner, const char *media_type,
                                       const char *expect_diff_id, uint64_t max_out,
                                       veil_error_t **err);
/* The diff_id ("sha256:…") a decompress reader computed, once its output
 * ended (NULL before that, or when r is not a decompress reader). */
const char *veil_reader_decompress_diff_id (veil_reader_t *r);

/* ---- tar unpack -------------------------------------------------------------- */

typedef struct veil_unpack_limits
{
  uint64_t max_bytes;   /* total file bytes; 0 → 16 GiB */
  uint64_t max_entries; /* 0 → 1,000,000 */
  bool same_owner;      /* chown to the tar's uid/gid (default when root) */
  /* false (default): whiteouts are applied in place, as umoci does for a
   * single-tree unpack (".wh.x" removes x, ".wh..wh..opq" empties the
   * directory of what lower layers put there).
   * true: the root is a fresh directory that overlayfs will stack over the
   * lower layers, so whiteouts are recorded the way overlayfs reads them: a
   * 0/0 character device named x, and the xattr trusted.overlay.opaque="y"
   * on opaque directories (written only when root; opaque_dirs lists them
   * in every case). */
  bool overlay_whiteouts;
  /* Character and block devices are refused unless this is set and we are
   * root; FIFOs are always allowed (they grant nothing). */
  bool allow_devices;
  /* Resolve paths with the portable component walk even where openat2
   * RESOLVE_IN_ROOT exists (tests; it is picked automatically on kernels or
   * seccomp filters without openat2). */
  bool portable_resolve;
  /* When not NULL (a JSON array): the layer-relative paths ("a/b", "" for
   * the root) of the directories this layer marks opaque are appended. */
  json_t *opaque_dirs;
} veil_unpack_limits_t;

/* Extracts the tar stream into the directory root_fd (an OCI layer: applies
 * .wh. whiteouts and .wh..wh..opq opaque markers against what is already in
 * the root).  Nothing is created outside the root: paths resolve inside it
 * (openat2 RESOLVE_IN_ROOT where available); "..", absolute and symlink
 * escapes, hardlinks to outside, device nodes (unless root and allowed) are
 * refused with an error naming the entry.  lim may be NULL (defaults, with
 * same_owner when root).  The stream is read to its end, so the caller's
 * finish() checks cover all of it; on failure the root holds a partial tree
 * that the caller removes. */
int veil_unpack_tar (veil_reader_t *tar, int root_fd, const veil_unpack_limits_t *lim,
                     veil_error_t **err);

/* ---- ocicrypt ------------------------------------------------------------------ */

/* Key material offered for decryption: private keys (JWE recipients) and/or
 * a KBS client that can fetch KEKs for provider.attestation-agent layers. */
typedef struct veil_ocicrypt_keys
{
  EVP_PKEY **privkeys;
  size_t n_privkeys;
  /* fetch the 32-byte KEK named by kid ("kbs:///default/key/ID") into a
   * secret allocation; NULL when no key provider is available */
  int (*fetch_kek) (void *ctx, const char *kid, uint8_t **kek, size_t *kek_len,
                    veil_error_t **err);
  void *fetch_ctx;
  /* The caller verifies the decrypted bytes itself (the unpack pipeline
   * checks the config's diff_id over the decompressed layer): skip the
   * sha256 of the plaintext against the private options' digest.  The
   * HMAC over the ciphertext is always checked. */
  bool plain_checked_by_caller;
} veil_ocicrypt_keys_t;

/* True when the descriptor's media type ends in "+encrypted". */
bool veil_ocicrypt_is_encrypted (const veil_descriptor_t *d);
/* The layer media type with "+encrypted" removed (caller frees). */
char *veil_ocicrypt_plain_media_type (const char *media_type);

/* Unwraps the layer's private options with the offered keys and returns a
 * reader that decrypts inner (AES-256-CTR) and checks the HMAC-SHA256 over
 * the ciphertext in finish().  Keys are wiped when the reader is freed.
 * finish() also checks the plaintext's sha256 against the private options'
 * "digest".  keys may be NULL.  On failure inner stays the caller's. */
veil_reader_t *veil_ocicrypt_decrypt_reader (veil_reader_t *inner, const veil_descriptor_t *layer,
                                             const veil_ocicrypt_keys_t *keys, veil_error_t **err);

typedef struct veil_ocicrypt_recipients
{
  EVP_PKEY **pubkeys; /* JWE recipients, enc A256GCM: RSA → RSA-OAEP (what ocicrypt
                       * itself writes), EC → ECDH-ES+A256KW */
  size_t n_pubkeys;
  const char *kbs_kid;    /* "kbs:///default/key/ID" for provider.attestation-agent */
  const uint8_t *kbs_kek; /* its 32-byte KEK */
} veil_ocicrypt_recipients_t;

/* Encrypts a layer blob: reads plain (the compressed layer) from in, writes
 * the ciphertext to out_fd, and fills *enc with the encrypted descriptor
 * (media type + "+encrypted", digest and size of the ciphertext, the
 * org.opencontainers.image.enc.* annotations). */
int veil_ocicrypt_encrypt_layer (veil_reader_t *in, int out_fd, const veil_descriptor_t *plain,
                                 const veil_ocicrypt_recipients_t *rcpt, veil_descriptor_t *enc,
                                 veil_error_t **err);

/* Annotation names (containers/ocicrypt spec/spec.go). */
#define VEIL_OCICRYPT_ANN_JWE "org.opencontainers.image.enc.keys.jwe"
#define VEIL_OCICRYPT_ANN_AA "org.opencontainers.image.enc.keys.provider.attestation-agent"
#define VEIL_OCICRYPT_ANN_PUBOPTS "org.opencontainers.image.enc.pubopts"

/* A layer's unwrapped cipher options: from the private options (symkey,
 * nonce, plaintext digest) and the public ones (hmac).  Always held in a
 * secret allocation (veil_secret_alloc / veil_secret_free). */
typedef struct veil_ocicrypt_opts
{
  uint8_t symkey[32];
  uint8_t nonce[16];
  uint8_t hmac[32];
  char digest[72]; /* "sha256:<64 hex>" of the plaintext (compressed) layer */
} veil_ocicrypt_opts_t;

/* Private options JSON {"symkey","digest","cipheroptions":{"nonce"}} → o. */
int veil_ocicrypt_privopts_parse (const void *json, size_t len, veil_ocicrypt_opts_t *o,
                                  veil_error_t **err);
/* The pubopts annotation (base64 of {"cipher","hmac","cipheroptions"}) → o->hmac. */
int veil_ocicrypt_pubopts_parse (const char *b64, veil_ocicrypt_opts_t *o, veil_error_t **err);
/* Unwraps the layer's options with the offered keys (keys may be NULL):
 * JWE recipients first, then the attestation-agent key provider.  *opts is
 * a secret allocation. */
int veil_ocicrypt_unwrap (const veil_descriptor_t *layer, const veil_ocicrypt_keys_t *keys,
                          veil_ocicrypt_opts_t **opts, veil_error_t **err);

/* Adds the private keys (PEM: PKCS#8 or traditional RSA/EC) of the given
 * files to keys->privkeys; veil_ocicrypt_keys_clear frees them. */
int veil_ocicrypt_keys_load_files (veil_ocicrypt_keys_t *keys, const char *const *paths, size_t n,
                                   veil_error_t **err);
void veil_ocicrypt_keys_clear (veil_ocicrypt_keys_t *keys);
/* Adds a recipient given as skopeo does: "jwe:PUB.pem".  The key is owned
 * by r afterwards; veil_ocicrypt_recipients_clear frees r->pubkeys. */
int veil_ocicrypt_recipients_add_spec (veil_ocicrypt_recipients_t *r, const char *spec,
                                       veil_error_t **err);
void veil_ocicrypt_recipients_clear (veil_ocicrypt_recipients_t *r);

/* ---- OCI runtime bundle config -------------------------------------------- */

/* An OCI runtime-spec config.json (like `runc spec`, then filled from the
 * image config: Entrypoint + Cmd, Env, WorkingDir, User, ExposedPorts are
 * not runtime settings) for a bundle whose root is rootfs_dir.  User names
 * are resolved in rootfs_dir/etc/passwd and etc/group without following
 * links out of the rootfs. */
json_t *veil_image_runtime_spec (const json_t *image_config, int rootfs_fd, veil_error_t **err);

/* ---- registry client (distribution API v2 over libcurl) ------------------ */

typedef struct veil_registry_opts
{
  bool insecure;         /* plain HTTP (loopback registries) */
  const char *auth_file; /* docker-style auth.json; NULL → $REGISTRY_AUTH_FILE or none */
  const char *ca_file;   /* extra CA bundle */
  int retries;           /* on 5xx and connection errors; 0 → 3 */
} veil_registry_opts_t;

typedef struct veil_registry veil_registry_t;
typedef void (*veil_progress_fn) (void *ctx, uint64_t done, uint64_t total);

veil_registry_t *veil_registry_new (const veil_image_ref_t *ref, const veil_registry_opts_t *opts,
                                    veil_error_t **err);
void veil_registry_free (veil_registry_t *r);
/* GET /v2/<repo>/manifests/<reference> (tag or digest), accepting OCI and
 * Docker manifests and indexes.  *digest is sha256 of the body; when the
 * reference is a digest the body must match it. */
int veil_registry_get_manifest (veil_registry_t *r, const char *reference, veil_buf_t *body,
                                char **content_type, char **digest, veil_error_t **err);
/* Streams a blob into fd, checking size and digest as it goes (EBADMSG
 * "digest mismatch" otherwise); progress may be NULL. */
int veil_registry_get_blob (veil_registry_t *r, const char *digest, int64_t size, int fd,
                            veil_progress_fn progress, void *progress_ctx, veil_error_t **err);
/* 1 when the registry has the blob, 0 when not. */
int veil_registry_blob_exists (veil_registry_t *r, const char *digest, veil_error_t **err);
/* Uploads a blob from fd (monolithic, or chunked in pieces of chunk bytes when chunk > 0). */
int veil_registry_put_blob (veil_registry_t *r, const char *digest, int fd, int64_t size,
                            size_t chunk, veil_error_t **err);
int veil_registry_put_manifest (veil_registry_t *r, const char *reference, const void *body,
                                size_t len, const char *content_type, veil_error_t **err);
/* GET /v2/ (distribution spec "API version check"), authenticating if the
 * registry asks: 0 when it answers 200. */
int veil_registry_ping (veil_registry_t *r, veil_error_t **err);

/* ---- content store (under the state dir) -------------------------------- */

typedef struct veil_image_store veil_image_store_t;

/* DIR/blobs/sha256/<hex>, DIR/layers/sha256/<diff_id hex>/, DIR/images.json */
veil_image_store_t *veil_image_store_open (const char *dir, veil_error_t **err);
void veil_image_store_free (veil_image_store_t *st);
/* Absolute path of a present blob (caller frees) or NULL. */
char *veil_image_store_blob_path (veil_image_store_t *st, const char *digest);
/* Makes a blob present: fetch() writes it to a temp file, the digest (and
 * size when ≥ 0) are checked, then it is renamed into place.  Concurrent
 * callers (threads or processes) for one digest share a single fetch.
 * fetch() returns 0, or 1 when it checked the digest and size of every
 * byte it wrote itself (a streaming download): then the store does not
 * read the file back a second time. */
typedef int (*veil_fetch_fn) (void *ctx, int fd, veil_error_t **err);
int veil_image_store_ensure_blob (veil_image_store_t *st, const char *digest, int64_t size,
                                  veil_fetch_fn fetch, void *ctx, veil_error_t **err);
/* Stores a small document (manifest, config) and returns its digest. */
int veil_image_store_put_blob (veil_image_store_t *st, const void *data, size_t len, char **digest,
                               veil_error_t **err);
/* Image names → manifest digests. */
int veil_image_store_tag (veil_image_store_t *st, const char *name, const char *manifest_digest,
                          veil_error_t **err);
json_t *veil_image_store_list (veil_image_store_t *st, veil_error_t **err);
/* Directory of an unpacked layer, by diff_id (caller frees); it exists only
 * once committed. */
char *veil_image_store_layer_dir (veil_image_store_t *st, const char *diff_id);
/* Removes blobs and layers no tagged image references. */
int veil_image_store_prune (veil_image_store_t *st, uint64_t *freed_bytes, veil_error_t **err);
/* The store's directory. */
const char *veil_image_store_dir (veil_image_store_t *st);
/* The manifest digest an image name is tagged with (caller frees); NULL with
 * ENOENT when the name is not in images.json. */
char *veil_image_store_resolve (veil_image_store_t *st, const char *name, veil_error_t **err);
/* Reads a present blob of at most max bytes (NUL-terminated; caller frees). */
int veil_image_store_read_blob (veil_image_store_t *st, const char *digest, size_t max,
                                uint8_t **data, size_t *len, veil_error_t **err);
/* Keeps prune away while this handle lives (held by a pull between fetching
 * blobs and tagging them); prune waits for every holder. */
int veil_image_store_pin (veil_image_store_t *st, veil_error_t **err);
/* A stored image described for `inspect`: name, digest, mediaType, config
 * and layers (digest, size, mediaType), total size, os/architecture and
 * created from the config. */
json_t *veil_image_store_inspect (veil_image_store_t *st, const char *name, veil_error_t **err);

/* ---- OCI image layout (image-spec image-layout.md) ---------------------- */

/* index.json of the layout in dir → the descriptor of the manifest whose
 * org.opencontainers.image.ref.name is tag (tag NULL: the only manifest). */
int veil_image_layout_resolve (const char *dir, const char *tag, veil_descriptor_t *desc,
                               veil_error_t **err);
/* dir/blobs/sha256/<hex> (caller frees); NULL for an invalid digest. */
char *veil_image_layout_blob_path (const char *dir, const char *digest);

/* ---- pull and push -------------------------------------------------------- */

typedef struct veil_image_progress
{
  /* before each blob (config, layers); present: already in the destination */
  void (*blob_start) (void *ctx, const veil_descriptor_t *d, bool present);
  veil_progress_fn progress; /* bytes of the current blob */
  void (*blob_done) (void *ctx, const veil_descriptor_t *d, uint64_t elapsed_ns, bool present);
  void *ctx;
} veil_image_progress_t;

/* Pulls ref (a registry or an oci: layout) into the store: manifest (the
 * linux/amd64 one of an index), config and layers, then tags the image as
 * veil_image_ref_format(ref).  *manifest_digest (optional) is the pulled
 * manifest's digest.  pr may be NULL. */
int veil_image_pull (veil_image_store_t *st, const veil_image_ref_t *ref,
                     const veil_registry_opts_t *opts, const veil_image_progress_t *pr,
                     char **manifest_digest, veil_error_t **err);
/* Pushes src (a name in the store, a manifest digest in the store, or
 * oci:DIR[:TAG]) to the registry reference dst: the blobs the registry lacks
 * (chunked in pieces of chunk bytes when chunk > 0), then the manifest under
 * dst's tag (or digest). */
int veil_image_push (veil_image_store_t *st, const char *src, const veil_image_ref_t *dst,
                     const veil_registry_opts_t *opts, size_t chunk,
                     const veil_image_progress_t *pr, char **manifest_digest, veil_error_t **err);

/* ---- unpack pipeline --------------------------------------------------------- */

typedef struct veil_image_unpack_opts
{
  const veil_ocicrypt_keys_t *keys; /* NULL: encrypted layers are refused */
  veil_unpack_limits_t limits;
  /* called after each layer is unpacked and verified */
  void (*on_layer) (void *ctx, size_t index, size_t n_layers, const veil_descriptor_t *layer,
                    uint64_t elapsed_ns);
  void *progress_ctx;
} veil_image_unpack_opts_t;

/* A stored image (manifest digest) → dir/rootfs (every layer applied in
 * order, whiteouts in place) and dir/config.json (runtime spec).  rootfs is
 * replaced only when all layers verified (digest, HMAC, diff_id). */
int veil_image_unpack (veil_image_store_t *st, const char *manifest_digest, const char *dir,
                       const veil_image_unpack_opts_t *opts, veil_error_t **err);
/* A platform manifest from the store, its digest checked on the way in
 * (the store's disk is not trusted); an index is refused.  *len (optional)
 * is the manifest's size. */
int veil_image_load_manifest (veil_image_store_t *st, const char *manifest_digest, veil_manifest_t *m,
                              size_t *len, veil_error_t **err);
/* The layer cache: unpacks a layer once (overlayfs whiteouts) into
 * layers/sha256/<diff_id>, shared by every instance; *layer_dir is its path. */
int veil_image_layer_ensure (veil_image_store_t *st, const veil_descriptor_t *layer,
                             const char *diff_id, const veil_image_unpack_opts_t *opts,
                             char **layer_dir, veil_error_t **err);

/* ---- encrypt and export ------------------------------------------------ */

/* Encrypts the chosen layers (indices; none given = all) of a stored image
 * for the recipients and stores the result: ciphertext blobs, the same
 * config, and an OCI manifest whose digest is returned. */
int veil_image_encrypt (veil_image_store_t *st, const char *manifest_digest,
                        const veil_ocicrypt_recipients_t *rcpt, const int *layers, size_t n_layers,
                        char **out_digest, veil_error_t **err);
/* Writes a stored image as an OCI image layout in dir (blobs hard-linked
 * where possible), its index.json naming it tag. */
int veil_image_layout_write (veil_image_store_t *st, const char *manifest_digest, const char *dir,
                             const char *tag, veil_error_t **err);

#endif
