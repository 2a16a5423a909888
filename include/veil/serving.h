/* libveil serving: Knative serving.knative.dev/v1 Service manifests (YAML or
 * JSON) parsed, validated and turned into a typed model.  Errors name the
 * field path and why, as the Kubernetes API server does.  Depends on base
 * and crypto. */
#ifndef VEIL_SERVING_H
#define VEIL_SERVING_H

#include "veil/base.h"

/* Bounds on a manifest: everything a tenant sends is bounded. */
#define VEIL_SERVICE_MAX_DOC (1u << 20) /* bytes */
#define VEIL_SERVICE_MAX_DEPTH 64       /* nesting of mappings/sequences */
#define VEIL_SERVICE_MAX_NODES 100000   /* nodes, aliases counted expanded */
#define VEIL_SERVICE_MAX_ERRORS 20      /* errors reported in one message */

#define VEIL_SERVICE_DEFAULT_PORT 8080
#define VEIL_SERVICE_DEFAULT_TIMEOUT 300

typedef struct veil_service_env
{
  char *name;
  char *value; /* "" when absent */
} veil_service_env_t;

/* Kubernetes resource quantities, normalised; 0 means not set. */
typedef struct veil_service_resources
{
  int64_t memory_bytes;
  int64_t cpu_millis;
} veil_service_resources_t;

typedef enum
{
  VEIL_PROBE_TCP = 0, /* the default: TCP connect to the container port */
  VEIL_PROBE_HTTP,
} veil_service_probe_kind_t;

typedef struct veil_service_probe
{
  veil_service_probe_kind_t kind;
  char *path;          /* httpGet.path ("/" by default); NULL for TCP */
  bool https;          /* httpGet.scheme: HTTPS */
  int period_seconds;  /* 0: Knative's aggressive probing */
  int timeout_seconds; /* default 1 */
  int initial_delay_seconds;
  int failure_threshold; /* default 3 */
  int success_threshold; /* default 1 */
} veil_service_probe_t;

typedef struct veil_service_container
{
  char *name; /* may be NULL */
  char *image;
  char **command;
  size_t n_command;
  char **args;
  size_t n_args;
  veil_service_env_t *env;
  size_t n_env;
  int port; /* containerPort, VEIL_SERVICE_DEFAULT_PORT when absent */
  bool h2c; /* ports[0].name == "h2c" */
  char *working_dir;
  veil_service_resources_t limits;
  veil_service_resources_t requests;
  veil_service_probe_t readiness;
} veil_service_container_t;

/* The autoscaling.knative.dev annotations of the template, parsed.  A
 * negative integer or 0.0 means "not set: use the global default". */
typedef struct veil_service_autoscaling
{
  bool metric_rps;           /* metric: "rps" (else concurrency) */
  double target;             /* > 0 when set */
  double target_utilization; /* percent, 1..100 */
  int64_t min_scale;
  int64_t max_scale;
  int64_t initial_scale;
  int64_t window_ms;                 /* 6 s .. 1 h */
  double panic_window_percentage;    /* 1..100 */
  double panic_threshold_percentage; /* 110..1000 */
  int64_t scale_down_delay_ms;       /* 0 .. 1 h */
} veil_service_autoscaling_t;

typedef struct veil_service_traffic
{
  char *revision_name; /* NULL when latest_revision */
  bool latest_revision;
  int percent; /* 0..100 */
  char *tag;   /* may be NULL */
} veil_service_traffic_t;

typedef struct veil_service
{
  char *name;          /* DNS-1035 label, at most 63 characters */
  char *namespace;     /* "default" when absent */
  json_t *labels;      /* object of strings, never NULL */
  json_t *annotations; /* object of strings, never NULL */

  /* spec.template */
  char *revision_name;          /* template metadata.name, may be NULL */
  json_t *template_labels;      /* never NULL */
  json_t *template_annotations; /* never NULL */
  veil_service_autoscaling_t autoscaling;
  int container_concurrency; /* 0 = unlimited */
  int timeout_seconds;
  char *runtime_class_name; /* NULL: the node's default class */
  veil_service_container_t container;

  /* spec.traffic; [{latestRevision: true, percent: 100}] when absent */
  veil_service_traffic_t *traffic;
  size_t n_traffic;
} veil_service_t;

/* Parse and validate a Service manifest (YAML, or JSON when the first
 * non-blank byte is '{').  On failure *err holds every problem found (up to
 * VEIL_SERVICE_MAX_ERRORS) joined by "; ", each as "<field path>: <why>". */
int veil_service_parse (const void *data, size_t len, veil_service_t **out, veil_error_t **err);
/* Validate an already decoded manifest (e.g. an API body). */
int veil_service_from_json (const json_t *doc, veil_service_t **out, veil_error_t **err);
void veil_service_free (veil_service_t *svc);
static inline void
veil_service_freep (veil_service_t **p)
{
  if (*p)
    veil_service_free (*p);
}
#define _cleanup_service_ _cleanup_ (veil_service_freep)

/* The Revision template with defaults applied, in Knative's shape
 * ({metadata:{…}, spec:{containerConcurrency, timeoutSeconds, containers:[…]}}):
 * equal templates give equal JSON, whatever the manifest's layout. */
json_t *veil_service_template_canonical (const veil_service_t *svc);
/* "sha256:<hex>" of the RFC 8785 form of the canonical template. */
char *veil_service_template_digest (const veil_service_t *svc, veil_error_t **err);
/* The revision's name: the template's metadata.name when set, else
 * "<service>-<generation as 5 digits>" (the caller numbers generations). */
char *veil_service_revision_name (const veil_service_t *svc, unsigned generation);

/* Kubernetes quantities ("128Mi", "1Gi", "500m", "0.5", "1e3"), rounded up
 * as resource.Quantity.Value()/MilliValue() do.  Negative values refused. */
int veil_service_quantity_bytes (const char *s, int64_t *out, veil_error_t **err);
int veil_service_quantity_millis (const char *s, int64_t *out, veil_error_t **err);
/* Go time.Duration strings ("60s", "1m30s", "500ms", "1.5h") in ms. */
int veil_service_duration_ms (const char *s, int64_t *out, veil_error_t **err);

/* Name checks, as Kubernetes' validation package. */
bool veil_service_dns1035_label (const char *s);
bool veil_service_dns1123_label (const char *s);

#endif
