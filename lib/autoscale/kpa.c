/* Knative Pod Autoscaler (knative/serving pkg/autoscaler/scaling and the
 * scale-to-zero part of pkg/reconciler/autoscaling/kpa), as a pure function
 * of the recorded metrics, the config and the time the caller passes. */
#include "veil/autoscale.h"

#include <stdio.h>

/* ---- small numeric helpers (no libm: values are bounded pod counts) ---- */

static double
kpa_floor (double x)
{
  if (x >= 9e15 || x <= -9e15)
    return x;
  double t = (double) (int64_t) x;
  return t > x ? t - 1 : t;
}

static double
kpa_ceil (double x)
{
  return -kpa_floor (-x);
}

static int64_t
kpa_div_floor (int64_t a, int64_t b)
{
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static int64_t
kpa_mod (int64_t a, int64_t n)
{
  int64_t m = a % n;
  return m < 0 ? m + n : m;
}

static int32_t
kpa_to_i32 (double x)
{
  if (x > INT32_MAX)
    return INT32_MAX;
  if (x < INT32_MIN)
    return INT32_MIN;
  return (int32_t) x;
}

/* ---- windowed average (aggregation.TimedFloat64Buckets) ---------------- */

typedef struct
{
  double sum;
  uint32_t count;
} kpa_bucket_t;

typedef struct
{
  kpa_bucket_t *b;
  int64_t n;     /* buckets in the window */
  int64_t first; /* first bucket written since the window was last empty */
  int64_t last;  /* newest bucket written */
  double total;  /* sum of bucket values over the ring */
  bool has;
} kpa_window_t;

static double
bucket_value (const kpa_bucket_t *b)
{
  return b->count ? b->sum / b->count : 0.0;
}

static void
window_init (kpa_window_t *w, int64_t n)
{
  w->b = xcalloc ((size_t) n, sizeof *w->b);
  w->n = n;
  w->has = false;
  w->total = 0;
}

static void
window_clear_slot (kpa_window_t *w, int64_t idx)
{
  kpa_bucket_t *b = &w->b[kpa_mod (idx, w->n)];
  w->total -= bucket_value (b);
  b->sum = 0;
  b->count = 0;
}

static void
window_record (kpa_window_t *w, int64_t idx, double v)
{
  if (!w->has || idx - w->last >= w->n)
    {
      /* Nothing for a whole window: start over, so that the average is
       * again over the partial window since this write. */
      memset (w->b, 0, (size_t) w->n * sizeof *w->b);
      w->total = 0;
      w->first = w->last = idx;
      w->has = true;
    }
  else if (idx > w->last)
    {
      for (int64_t i = w->last + 1; i <= idx; i++)
        window_clear_slot (w, i);
      w->last = idx;
    }
  else if (idx + w->n <= w->last)
    return; /* older than the window: its slot holds newer data */
  if (idx < w->first)
    w->first = idx;
  kpa_bucket_t *b = &w->b[kpa_mod (idx, w->n)];
  w->total -= bucket_value (b);
  b->sum += v;
  b->count++;
  w->total += bucket_value (b);
}

/* Average over the buckets present: from the first write (or the start of
 * the window) to the newest write that the window still covers; gaps in
 * between count as zero. */
static double
window_average (const kpa_window_t *w, int64_t now_idx)
{
  if (!w->has)
    return 0;
  int64_t d = now_idx - w->last;
  if (d >= w->n)
    return 0;
  int64_t span = w->last - w->first + 1;
  if (d <= 0)
    return w->total / (double) (span < w->n ? span : w->n);
  double total = w->total;
  for (int64_t i = w->last + 1; i <= now_idx; i++)
    total -= bucket_value (&w->b[kpa_mod (i, w->n)]);
  int64_t nb = w->n - d;
  if (span < nb)
    nb = span;
  return total / (double) nb;
}

/* ---- max over a time window (aggregation/max.TimeWindow) --------------- */

typedef struct
{
  int64_t idx;
  int32_t v;
  bool used;
} kpa_slot_t;

/* ---- state ------------------------------------------------------------- */

struct veil_kpa_state
{
  int64_t stable_window_ms;
  int64_t panic_buckets;
  int64_t tick_ms;
  int64_t delay_ms;
  kpa_window_t stable[2]; /* indexed by veil_kpa_metric_t */
  kpa_window_t panic[2];
  kpa_slot_t *delay; /* ceil(delay / tick) slots, or NULL */
  int64_t delay_n;

  bool panicking;
  int64_t panic_time_ms;
  int32_t max_panic_pods;

  bool initial_reached;
  bool active; /* ready pods > 0 since active_since_ms */
  int64_t active_since_ms;
  bool inactive; /* wanted zero since inactive_since_ms */
  int64_t inactive_since_ms;
  int32_t last_desired; /* -1 before the first decision */
};

void
veil_kpa_config_default (veil_kpa_config_t *cfg)
{
  *cfg = (veil_kpa_config_t){
    .metric = VEIL_KPA_METRIC_CONCURRENCY,
    .container_concurrency = 0,
    .target = 0,
    .target_default_concurrency = 100,
    .target_default_rps = 200,
    .target_utilization = 0.7,
    .stable_window_ms = 60000,
    .panic_window_pct = 10,
    .panic_threshold_pct = 200,
    .max_scale_up_rate = 1000,
    .max_scale_down_rate = 2,
    .min_scale = 0,
    .max_scale = 0,
    .initial_scale = 1,
    .enable_scale_to_zero = true,
    .scale_to_zero_grace_ms = 30000,
    .scale_down_delay_ms = 0,
    .activator_capacity = 100,
    .target_burst_capacity = 211,
    .tick_ms = 2000,
    .reachable = true,
  };
}

int
veil_kpa_config_validate (const veil_kpa_config_t *c, veil_error_t **err)
{
  if (c->metric != VEIL_KPA_METRIC_CONCURRENCY && c->metric != VEIL_KPA_METRIC_RPS)
    return veil_error_set (err, EINVAL, "kpa: metric %d unknown", (int) c->metric);
  if (c->container_concurrency < 0)
    return veil_error_set (err, EINVAL, "kpa: container concurrency %d < 0", c->container_concurrency);
  if (!(c->target >= 0) || !(c->target_default_concurrency > 0) || !(c->target_default_rps > 0))
    return veil_error_set (err, EINVAL, "kpa: targets must be > 0");
  if (!(c->target_utilization > 0 && c->target_utilization <= 1))
    return veil_error_set (err, EINVAL, "kpa: target utilization %g not in (0, 1]", c->target_utilization);
  if (c->stable_window_ms < VEIL_KPA_BUCKET_MS || c->stable_window_ms > VEIL_KPA_MAX_WINDOW_MS
      || c->stable_window_ms % VEIL_KPA_BUCKET_MS)
    return veil_error_set (err, EINVAL, "kpa: stable window %lld ms not whole seconds in [1 s, 1 h]",
                           (long long) c->stable_window_ms);
  if (!(c->panic_window_pct >= 1 && c->panic_window_pct <= 100))
    return veil_error_set (err, EINVAL, "kpa: panic window percentage %g not in [1, 100]", c->panic_window_pct);
  if (!(c->panic_threshold_pct >= 110 && c->panic_threshold_pct <= 1000))
    return veil_error_set (err, EINVAL, "kpa: panic threshold percentage %g not in [110, 1000]",
                           c->panic_threshold_pct);
  if (!(c->max_scale_up_rate > 1 && c->max_scale_up_rate < 1e9) || !(c->max_scale_down_rate > 1 && c->max_scale_down_rate < 1e9))
    return veil_error_set (err, EINVAL, "kpa: max scale up/down rates must be > 1");
  if (c->min_scale < 0 || c->max_scale < 0 || c->initial_scale < 0)
    return veil_error_set (err, EINVAL, "kpa: min/max/initial scale must be >= 0");
  if (c->max_scale != 0 && c->min_scale > c->max_scale)
    return veil_error_set (err, EINVAL, "kpa: min scale %d > max scale %d", c->min_scale, c->max_scale);
  if (c->scale_to_zero_grace_ms < 0 || c->scale_to_zero_grace_ms > VEIL_KPA_MAX_WINDOW_MS)
    return veil_error_set (err, EINVAL, "kpa: scale-to-zero grace not in [0, 1 h]");
  if (c->tick_ms < 100 || c->tick_ms > 60000)
    return veil_error_set (err, EINVAL, "kpa: tick %lld ms not in [100 ms, 60 s]", (long long) c->tick_ms);
  if (c->scale_down_delay_ms < 0 || c->scale_down_delay_ms > VEIL_KPA_MAX_WINDOW_MS)
    return veil_error_set (err, EINVAL, "kpa: scale-down delay not in [0, 1 h]");
  if (!(c->activator_capacity >= 1))
    return veil_error_set (err, EINVAL, "kpa: activator capacity %g < 1", c->activator_capacity);
  if (!(c->target_burst_capacity >= 0 || c->target_burst_capacity == -1) || c->target_burst_capacity > 1e9)
    return veil_error_set (err, EINVAL, "kpa: target burst capacity %g must be >= 0 or -1",
                           c->target_burst_capacity);
  return 0;
}

/* ResolveMetricTarget: the annotation wins, then containerConcurrency for
 * the concurrency metric, then the global default; the per-pod target is
 * that total scaled by the utilization. */
void
veil_kpa_config_target (const veil_kpa_config_t *c, double *target, double *total)
{
  double tot;
  if (c->metric == VEIL_KPA_METRIC_RPS)
    tot = c->target_default_rps;
  else
    {
      tot = c->target_default_concurrency;
      if (c->container_concurrency > 0)
        tot = c->container_concurrency;
    }
  if (c->target > 0)
    tot = c->target;
  double t = tot * c->target_utilization;
  *target = t < 0.01 ? 0.01 : t;
  *total = tot;
}

/* ---- annotations --------------------------------------------------------- */

static int
parse_number (const char *key, const char *s, double min, double max, double *out,
              veil_error_t **err)
{
  char *end = NULL;
  errno = 0;
  double v = strtod (s, &end);
  if (*s == '\0' || *end != '\0' || errno != 0 || !(v == v) || v < min || v > max)
    {
      if (max >= 1e9)
        return veil_error_set (err, EINVAL, "annotation %s%s: '%s' is not a number %s %g",
                               VEIL_KPA_ANNOTATION_PREFIX, key, s, min > 0 ? ">" : ">=",
                               min > 0 && min < 0.1 ? 0.0 : min);
      return veil_error_set (err, EINVAL, "annotation %s%s: '%s' is not a number in [%g, %g]",
                             VEIL_KPA_ANNOTATION_PREFIX, key, s, min, max);
    }
  *out = v;
  return 0;
}

static int
parse_scale (const char *key, const char *s, int32_t *out, veil_error_t **err)
{
  int64_t v;
  _cleanup_error_ veil_error_t *e = NULL;
  if (veil_parse_i64 (s, 0, INT32_MAX, &v, &e) < 0)
    return veil_error_set (err, EINVAL, "annotation %s%s: '%s' is not an integer >= 0",
                           VEIL_KPA_ANNOTATION_PREFIX, key, s);
  *out = (int32_t) v;
  return 0;
}

/* Go's time.ParseDuration subset: decimal numbers with units h, m, s, ms
 * ("1m30s", "90s", "1.5m"); "0" alone is zero.  Result in ms. */
static int
parse_go_duration (const char *s, double *out_ms)
{
  if (strcmp (s, "0") == 0)
    {
      *out_ms = 0;
      return 0;
    }
  double total = 0;
  if (*s == '\0')
    return -1;
  while (*s)
    {
      char *end;
      if (!((*s >= '0' && *s <= '9') || *s == '.'))
        return -1;
      double v = strtod (s, &end);
      if (end == s || v < 0)
        return -1;
      s = end;
      double unit;
      if (strncmp (s, "ms", 2) == 0)
        unit = 1, s += 2;
      else if (*s == 'h')
        unit = 3600000, s++;
      else if (*s == 'm')
        unit = 60000, s++;
      else if (*s == 's')
        unit = 1000, s++;
      else
        return -1;
      total += v * unit;
      if (total > 1e12)
        return -1;
    }
  *out_ms = total;
  return 0;
}

static int
parse_window (const char *key, const char *s, int64_t min_ms, int64_t *out, veil_error_t **err)
{
  double ms;
  if (parse_go_duration (s, &ms) < 0 || ms < (double) min_ms || ms > VEIL_KPA_MAX_WINDOW_MS)
    return veil_error_set (err, EINVAL, "annotation %s%s: '%s' is not a duration in [%llds, 1h]",
                           VEIL_KPA_ANNOTATION_PREFIX, key, s, (long long) (min_ms / 1000));
  int64_t v = (int64_t) ms;
  if ((double) v != ms || v % 1000)
    return veil_error_set (err, EINVAL, "annotation %s%s: '%s' must be whole seconds",
                           VEIL_KPA_ANNOTATION_PREFIX, key, s);
  *out = v;
  return 0;
}

static int
apply_annotation (veil_kpa_config_t *c, const char *key, const char *v, veil_error_t **err)
{
  if (strcmp (key, "target") == 0)
    return parse_number (key, v, 0.01, 1e9, &c->target, err);
  if (strcmp (key, "target-utilization-percentage") == 0)
    {
      double pct;
      if (parse_number (key, v, 1, 100, &pct, err) < 0)
        return -EINVAL;
      c->target_utilization = pct / 100;
      return 0;
    }
  if (strcmp (key, "metric") == 0)
    {
      if (strcmp (v, "concurrency") == 0)
        c->metric = VEIL_KPA_METRIC_CONCURRENCY;
      else if (strcmp (v, "rps") == 0)
        c->metric = VEIL_KPA_METRIC_RPS;
      else
        return veil_error_set (err, EINVAL, "annotation %smetric: '%s' is not one of concurrency, rps",
                               VEIL_KPA_ANNOTATION_PREFIX, v);
      return 0;
    }
  if (strcmp (key, "min-scale") == 0)
    return parse_scale (key, v, &c->min_scale, err);
  if (strcmp (key, "max-scale") == 0)
    return parse_scale (key, v, &c->max_scale, err);
  if (strcmp (key, "initial-scale") == 0)
    return parse_scale (key, v, &c->initial_scale, err);
  if (strcmp (key, "window") == 0)
    return parse_window (key, v, 6000, &c->stable_window_ms, err);
  if (strcmp (key, "scale-down-delay") == 0)
    return parse_window (key, v, 0, &c->scale_down_delay_ms, err);
  if (strcmp (key, "panic-window-percentage") == 0)
    return parse_number (key, v, 1, 100, &c->panic_window_pct, err);
  if (strcmp (key, "panic-threshold-percentage") == 0)
    return parse_number (key, v, 110, 1000, &c->panic_threshold_pct, err);
  if (strcmp (key, "target-burst-capacity") == 0)
    {
      if (strcmp (v, "-1") == 0)
        {
          c->target_burst_capacity = -1;
          return 0;
        }
      return parse_number (key, v, 0, 1e9, &c->target_burst_capacity, err);
    }
  return 0; /* class, activation-scale, ...: not ours to refuse */
}

int
veil_kpa_config_from_annotations (veil_kpa_config_t *c, const json_t *ann, veil_error_t **err)
{
  if (ann == NULL)
    return 0;
  if (!json_is_object (ann))
    return veil_error_set (err, EINVAL, "annotations: not an object");
  const char *key;
  json_t *val;
  size_t plen = strlen (VEIL_KPA_ANNOTATION_PREFIX);
  json_object_foreach ((json_t *) ann, key, val)
  {
    if (strncmp (key, VEIL_KPA_ANNOTATION_PREFIX, plen) != 0)
      continue;
    if (!json_is_string (val))
      return veil_error_set (err, EINVAL, "annotation %s: not a string", key);
    if (apply_annotation (c, key + plen, json_string_value (val), err) < 0)
      return -EINVAL;
  }
  if (c->max_scale != 0 && c->min_scale > c->max_scale)
    return veil_error_set (err, EINVAL, "annotation %smin-scale: %d is greater than max-scale %d",
                           VEIL_KPA_ANNOTATION_PREFIX, c->min_scale, c->max_scale);
  if (c->max_scale != 0 && c->initial_scale > c->max_scale)
    return veil_error_set (err, EINVAL, "annotation %sinitial-scale: %d is greater than max-scale %d",
                           VEIL_KPA_ANNOTATION_PREFIX, c->initial_scale, c->max_scale);
  return 0;
}

/* ---- state ----------------------------------------------------------------- */

static int64_t
panic_buckets (const veil_kpa_config_t *c)
{
  /* panic window = stable × pct / 100, in ceil(window / 1 s) buckets */
  double ms = (double) c->stable_window_ms * c->panic_window_pct / 100.0;
  int64_t n = (int64_t) kpa_ceil (ms / VEIL_KPA_BUCKET_MS);
  return n < 1 ? 1 : n;
}

veil_kpa_state_t *
veil_kpa_state_new (const veil_kpa_config_t *cfg, int64_t now_ms, int32_t ready_pods,
                    veil_error_t **err)
{
  if (veil_kpa_config_validate (cfg, err) < 0)
    return NULL;
  veil_kpa_state_t *st = xcalloc (1, sizeof *st);
  st->stable_window_ms = cfg->stable_window_ms;
  st->panic_buckets = panic_buckets (cfg);
  st->tick_ms = cfg->tick_ms;
  st->delay_ms = cfg->scale_down_delay_ms;
  for (int m = 0; m < 2; m++)
    {
      window_init (&st->stable[m], cfg->stable_window_ms / VEIL_KPA_BUCKET_MS);
      window_init (&st->panic[m], st->panic_buckets);
    }
  if (st->delay_ms > 0)
    {
      st->delay_n = (st->delay_ms + st->tick_ms - 1) / st->tick_ms;
      st->delay = xcalloc ((size_t) st->delay_n, sizeof *st->delay);
    }
  /* Knative starts a new autoscaler in panic mode when more than one pod
   * runs: with no history yet it would otherwise scale straight down. */
  if (ready_pods > 1)
    {
      st->panicking = true;
      st->panic_time_ms = now_ms;
      st->max_panic_pods = ready_pods;
    }
  st->last_desired = -1;
  return st;
}

void
veil_kpa_state_free (veil_kpa_state_t *st)
{
  if (st == NULL)
    return;
  for (int m = 0; m < 2; m++)
    {
      free (st->stable[m].b);
      free (st->panic[m].b);
    }
  free (st->delay);
  free (st);
}

void
veil_kpa_record (veil_kpa_state_t *st, int64_t now_ms, double concurrency, double rps)
{
  int64_t idx = kpa_div_floor (now_ms, VEIL_KPA_BUCKET_MS);
  if (!(concurrency >= 0) || concurrency > 1e12)
    concurrency = 0;
  if (!(rps >= 0) || rps > 1e12)
    rps = 0;
  window_record (&st->stable[VEIL_KPA_METRIC_CONCURRENCY], idx, concurrency);
  window_record (&st->panic[VEIL_KPA_METRIC_CONCURRENCY], idx, concurrency);
  window_record (&st->stable[VEIL_KPA_METRIC_RPS], idx, rps);
  window_record (&st->panic[VEIL_KPA_METRIC_RPS], idx, rps);
}

void
veil_kpa_averages (const veil_kpa_state_t *st, veil_kpa_metric_t metric, int64_t now_ms,
                   double *stable, double *panic)
{
  int m = metric == VEIL_KPA_METRIC_RPS ? 1 : 0;
  int64_t idx = kpa_div_floor (now_ms, VEIL_KPA_BUCKET_MS);
  *stable = window_average (&st->stable[m], idx);
  *panic = window_average (&st->panic[m], idx);
}

/* Max of the desired counts over the scale-down delay, in tick slots. */
static int32_t
delay_record_max (veil_kpa_state_t *st, int64_t now_ms, int32_t v)
{
  int64_t idx = kpa_div_floor (now_ms, st->tick_ms);
  kpa_slot_t *s = &st->delay[kpa_mod (idx, st->delay_n)];
  if (!s->used || s->idx != idx)
    *s = (kpa_slot_t){ .idx = idx, .v = v, .used = true };
  else if (v > s->v)
    s->v = v;
  int32_t max = v;
  for (int64_t i = 0; i < st->delay_n; i++)
    {
      const kpa_slot_t *t = &st->delay[i];
      if (t->used && t->idx > idx - st->delay_n && t->idx <= idx && t->v > max)
        max = t->v;
    }
  return max;
}

/* Panic bookkeeping (autoscaler.go Scale): enter when the panic-window
 * demand reaches threshold × ready, stay while it does, leave a stable
 * window after it last did. */
static void
update_panic (veil_kpa_state_t *st, bool over, int64_t now_ms)
{
  if (over)
    {
      st->panicking = true;
      st->panic_time_ms = now_ms;
    }
  else if (st->panicking && now_ms - st->panic_time_ms > st->stable_window_ms)
    {
      st->panicking = false;
      st->max_panic_pods = 0;
    }
}

/* The reconciler's part (kpa scaler.go): bounds, then scale to zero only
 * once the revision was active a stable window and the activator has been
 * in the path for the grace period. */
static int32_t
apply_scale_to_zero (veil_kpa_state_t *st, const veil_kpa_config_t *cfg, int64_t now_ms,
                     int32_t ready, int32_t want, const char **reason, bool *hold_inactive)
{
  *hold_inactive = false;
  if (want != 0)
    {
      st->inactive = false;
      return want;
    }
  if (!cfg->enable_scale_to_zero)
    {
      *reason = "scale to zero disabled";
      return 1;
    }
  if (st->last_desired == 0)
    {
      *reason = "scaled to zero";
      return 0;
    }
  if (st->active && now_ms - st->active_since_ms < cfg->stable_window_ms)
    {
      *reason = "active for less than a stable window";
      return 1;
    }
  if (!st->inactive)
    {
      st->inactive = true;
      st->inactive_since_ms = now_ms;
    }
  if (now_ms - st->inactive_since_ms >= cfg->scale_to_zero_grace_ms)
    {
      *reason = "scaled to zero after grace period";
      return 0;
    }
  *reason = "idle: waiting for scale-to-zero grace period";
  *hold_inactive = true;
  return ready;
}

int
veil_kpa_decide (veil_kpa_state_t *st, const veil_kpa_config_t *cfg, int64_t now_ms,
                 int32_t ready_pods, veil_kpa_decision_t *out, veil_error_t **err)
{
  if (veil_kpa_config_validate (cfg, err) < 0)
    return -EINVAL;
  if (cfg->stable_window_ms != st->stable_window_ms || panic_buckets (cfg) != st->panic_buckets
      || cfg->tick_ms != st->tick_ms || cfg->scale_down_delay_ms != st->delay_ms)
    return veil_error_set (err, EINVAL, "kpa: windows changed since the state was created");
  if (ready_pods < 0)
    return veil_error_set (err, EINVAL, "kpa: ready pods %d < 0", ready_pods);

  double target, total;
  veil_kpa_config_target (cfg, &target, &total);
  *out = (veil_kpa_decision_t){ .reason = "stable" };
  veil_kpa_averages (st, cfg->metric, now_ms, &out->stable_value, &out->panic_value);

  /* Zero ready pods count as one so that the rates still allow a start. */
  double ready = ready_pods > 0 ? ready_pods : 1;
  double max_up = kpa_ceil (cfg->max_scale_up_rate * ready);
  double max_down = cfg->reachable ? kpa_floor (ready / cfg->max_scale_down_rate) : 0;
  double dspc = kpa_ceil (out->stable_value / target);
  double dppc = kpa_ceil (out->panic_value / target);
  int32_t want_stable = kpa_to_i32 (dspc < max_down ? max_down : dspc > max_up ? max_up
                                                                               : dspc);
  int32_t want_panic = kpa_to_i32 (dppc < max_down ? max_down : dppc > max_up ? max_up
                                                                              : dppc);

  update_panic (st, dppc / ready >= cfg->panic_threshold_pct / 100.0, now_ms);
  int32_t want = want_stable;
  if (st->panicking)
    {
      /* Provision for the larger of the two, and never below what panic
       * mode already asked for: only scale up while panicking. */
      if (want < want_panic)
        want = want_panic;
      if (want > st->max_panic_pods)
        st->max_panic_pods = want;
      want = st->max_panic_pods;
      out->panic = true;
      out->reason = "panic";
    }

  if (cfg->scale_down_delay_ms > 0)
    {
      int32_t held = delay_record_max (st, now_ms, want);
      if (held != want)
        out->reason = "scale-down delay";
      want = held;
    }

  /* Burst capacity: tbc 0 keeps the activator out (except from zero), -1
   * keeps it in, otherwise the spare capacity over the panic demand. */
  double tbc = cfg->target_burst_capacity;
  double cap = (double) ready_pods * total;
  double ebc = -1, nact = 2;
  if (tbc == 0)
    ebc = 0;
  else if (tbc > 0)
    {
      ebc = kpa_floor (cap - tbc - out->panic_value);
      nact = kpa_ceil ((cap + tbc) / cfg->activator_capacity);
    }
  else
    nact = kpa_ceil (cap / cfg->activator_capacity);
  out->excess_burst_capacity = kpa_to_i32 (ebc);
  out->num_activators = nact < 2 ? 2 : kpa_to_i32 (nact);

  /* Initial scale holds until the revision has once reached it. */
  if (!st->initial_reached && ready_pods >= cfg->initial_scale)
    st->initial_reached = true;
  if (!st->initial_reached && want < cfg->initial_scale)
    {
      want = cfg->initial_scale;
      out->reason = "initial scale";
    }

  int32_t min = cfg->reachable ? cfg->min_scale : 0;
  if (want < min)
    {
      want = min;
      out->reason = "min scale";
    }
  if (cfg->max_scale != 0 && want > cfg->max_scale)
    {
      want = cfg->max_scale;
      out->reason = "max scale";
    }

  if (ready_pods > 0 && !st->active)
    {
      st->active = true;
      st->active_since_ms = now_ms;
    }
  else if (ready_pods == 0)
    st->active = false;

  bool hold_inactive;
  want = apply_scale_to_zero (st, cfg, now_ms, ready_pods, want, &out->reason, &hold_inactive);
  out->desired_scale = want;
  out->activator_in_path = want == 0 || ready_pods == 0 || hold_inactive || ebc < 0;
  st->last_desired = want;
  return 0;
}
