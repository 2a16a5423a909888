/* libveil autoscale: Knative's KPA (knative/serving pkg/autoscaler) as a pure
 * function of (metrics, config, clock).  No I/O, no threads, no clock reads:
 * the caller records one sample per revision per second and asks for a
 * decision every tick (2 s), passing the time each time.  Times are in
 * milliseconds of any monotonic clock. */
#ifndef VEIL_AUTOSCALE_H
#define VEIL_AUTOSCALE_H

#include "veil/base.h"

/* Bounds: a window is whole seconds, at most an hour (3600 one-second
 * buckets), as Knative's `window` annotation allows. */
#define VEIL_KPA_BUCKET_MS 1000
#define VEIL_KPA_MAX_WINDOW_MS (3600 * 1000)
#define VEIL_KPA_ANNOTATION_PREFIX "autoscaling.knative.dev/"

typedef enum
{
  VEIL_KPA_METRIC_CONCURRENCY = 0,
  VEIL_KPA_METRIC_RPS,
} veil_kpa_metric_t;

typedef struct veil_kpa_config
{
  veil_kpa_metric_t metric;
  /* The revision's containerConcurrency (0 = unlimited). */
  int32_t container_concurrency;
  /* Per-pod total target from the `target` annotation; 0 = use the default
   * below (or containerConcurrency when set and the metric is concurrency). */
  double target;
  double target_default_concurrency; /* 100 */
  double target_default_rps;         /* 200 */
  double target_utilization;         /* 0.7: fraction of the total aimed at */
  int64_t stable_window_ms;          /* 60 s */
  double panic_window_pct;           /* 10 */
  double panic_threshold_pct;        /* 200 */
  double max_scale_up_rate;          /* 1000 */
  double max_scale_down_rate;        /* 2 */
  int32_t min_scale;                 /* 0 */
  int32_t max_scale;                 /* 0 = unbounded */
  int32_t initial_scale;             /* 1 */
  bool enable_scale_to_zero;         /* true */
  int64_t scale_to_zero_grace_ms;    /* 30 s */
  int64_t scale_down_delay_ms;       /* 0 */
  double activator_capacity;         /* 100 requests per activator */
  double target_burst_capacity;      /* 211; -1 = activator always, 0 = never */
  int64_t tick_ms;                   /* 2 s: the decision period */
  /* false when the revision takes no traffic (not routed): then neither the
   * scale-down rate nor min-scale hold it up. */
  bool reachable;
} veil_kpa_config_t;

/* Fill cfg with Knative's defaults (config-autoscaler). */
void veil_kpa_config_default (veil_kpa_config_t *cfg);
/* Check every field is in range; errors name the field. */
int veil_kpa_config_validate (const veil_kpa_config_t *cfg, veil_error_t **err);
/* Override cfg (already holding the global defaults) from the
 * autoscaling.knative.dev/ annotations of a revision: a JSON object whose
 * values are strings.  Other keys are ignored.  On error cfg may be partly
 * updated. */
int veil_kpa_config_from_annotations (veil_kpa_config_t *cfg, const json_t *annotations,
                                      veil_error_t **err);
/* Per-pod target (total × utilization, at least 0.01) and total per pod. */
void veil_kpa_config_target (const veil_kpa_config_t *cfg, double *target, double *total);

typedef struct veil_kpa_state veil_kpa_state_t;

/* State of one revision.  ready_pods is what runs when the autoscaler
 * starts: with more than one the state begins in panic mode holding that
 * count, so that a restart with no metric history does not scale down. */
veil_kpa_state_t *veil_kpa_state_new (const veil_kpa_config_t *cfg, int64_t now_ms,
                                      int32_t ready_pods, veil_error_t **err);
void veil_kpa_state_free (veil_kpa_state_t *st);
VEIL_DEFINE_CLEANUP (veil_kpa_state_t *, veil_kpa_state_free)

/* One sample: the revision's observed concurrency (requests in flight) and
 * requests per second.  Several samples in the same second are averaged;
 * samples older than the stable window are dropped. */
void veil_kpa_record (veil_kpa_state_t *st, int64_t now_ms, double concurrency, double rps);

/* Windowed averages of the configured metric, as Knative's collector
 * computes them (average over the buckets present in the window). */
void veil_kpa_averages (const veil_kpa_state_t *st, veil_kpa_metric_t metric, int64_t now_ms,
                        double *stable, double *panic);

typedef struct veil_kpa_decision
{
  int32_t desired_scale;
  bool panic;
  double stable_value;
  double panic_value;
  /* ready × total − target burst capacity − panic value, floored; < 0 means
   * the revision cannot absorb a burst and the activator must buffer. */
  int32_t excess_burst_capacity;
  int32_t num_activators;
  bool activator_in_path;
  const char *reason; /* static string */
} veil_kpa_decision_t;

/* Decide the scale of the revision at now_ms with ready_pods ready.  cfg
 * must have the windows the state was created with (a new window needs a
 * new state, as a new metric collector in Knative). */
int veil_kpa_decide (veil_kpa_state_t *st, const veil_kpa_config_t *cfg, int64_t now_ms,
                     int32_t ready_pods, veil_kpa_decision_t *out, veil_error_t **err);

#endif
