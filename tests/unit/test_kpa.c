/* Unit tests of the KPA autoscaler: windowed averages, steady state, panic
 * entry/exit, rate limits, min/max/initial scale, scale to zero, scale-down
 * delay, burst capacity and annotations.  Clocks are synthetic: every time
 * is in seconds from 0, converted to ms by S(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "veil/autoscale.h"

#define S(sec) ((int64_t) (sec) *1000)

/* One sample per second from `from` to `to` inclusive. */
static void
feed (veil_kpa_state_t *st, int from, int to, double conc)
{
  for (int t = from; t <= to; t++)
    veil_kpa_record (st, S (t), conc, conc);
}

static veil_kpa_decision_t
decide (veil_kpa_state_t *st, const veil_kpa_config_t *cfg, int t, int32_t ready)
{
  veil_kpa_decision_t d;
  _cleanup_error_ veil_error_t *err = NULL;
  int r = veil_kpa_decide (st, cfg, S (t), ready, &d, &err);
  if (r < 0)
    fail_msg ("decide: %s", err->msg);
  return d;
}

static veil_kpa_state_t *
new_state (const veil_kpa_config_t *cfg, int t, int32_t ready)
{
  _cleanup_error_ veil_error_t *err = NULL;
  veil_kpa_state_t *st = veil_kpa_state_new (cfg, S (t), ready, &err);
  if (st == NULL)
    fail_msg ("state: %s", err->msg);
  return st;
}

static void
test_window_average (void **unused)
{
  (void) unused;
  veil_kpa_config_t cfg;
  veil_kpa_config_default (&cfg);
  _cleanup_ (veil_kpa_state_freep) veil_kpa_state_t *st = new_state (&cfg, 0, 0);
  double s, p;
  veil_kpa_averages (st, VEIL_KPA_METRIC_CONCURRENCY, S (0), &s, &p);
  assert_true (s == 0 && p == 0);
  /* t=0: 0, t=1: 30 -> partial window of 2 buckets: (0+30)/2 = 15 */
  veil_kpa_record (st, S (0), 0, 0);
  veil_kpa_record (st, S (1), 30, 60);
  veil_kpa_averages (st, VEIL_KPA_METRIC_CONCURRENCY, S (1), &s, &p);
  assert_true (s == 15 && p == 15);
  veil_kpa_averages (st, VEIL_KPA_METRIC_RPS, S (1), &s, &p);
  assert_true (s == 30 && p == 30);
  /* two samples in the same second are averaged: t=1 holds (30+10)/2 = 20,
   * average (0+20)/2 = 10 */
  veil_kpa_record (st, S (1) + 500, 10, 0);
  veil_kpa_averages (st, VEIL_KPA_METRIC_CONCURRENCY, S (1), &s, &p);
  assert_true (s == 10 && p == 10);
  /* feed 0..9 at 12, asked at t=9 */
  feed (st, 2, 9, 12);
  veil_kpa_averages (st, VEIL_KPA_METRIC_CONCURRENCY, S (9), &s, &p);
  /* stable: (0 + 20 + 8×12) / 10 = 116/10 = 11.6; panic (6 buckets 4..9) = 12 */
  assert_true (s > 11.599 && s < 11.601);
  assert_true (p == 12);
  /* no data since t=9, asked at t=12: the panic window [7..12] keeps
   * buckets 7..9 present: 36/3 = 12; stable keeps all 10: 11.6 */
  veil_kpa_averages (st, VEIL_KPA_METRIC_CONCURRENCY, S (12), &s, &p);
  assert_true (p == 12);
  assert_true (s > 11.599 && s < 11.601);
  /* 6 s without data: the panic window is empty */
  veil_kpa_averages (st, VEIL_KPA_METRIC_CONCURRENCY, S (15), &s, &p);
  assert_true (p == 0);
  /* 60 s without data: stable empty too */
  veil_kpa_averages (st, VEIL_KPA_METRIC_CONCURRENCY, S (69), &s, &p);
  assert_true (s == 0);
}

static void
test_steady (void **unused)
{
  (void) unused;
  veil_kpa_config_t cfg;
  veil_kpa_config_default (&cfg);
  _cleanup_ (veil_kpa_state_freep) veil_kpa_state_t *st = new_state (&cfg, 0, 0);
  /* target = 100 × 0.7 = 70; 350 in flight -> ceil(350/70) = 5 */
  feed (st, 0, 59, 350);
  veil_kpa_decision_t d = decide (st, &cfg, 59, 5);
  assert_int_equal (d.desired_scale, 5);
  assert_false (d.panic);
  /* 351 -> ceil(5.014) = 6; panic ratio 6/5 = 1.2 < 2 */
  feed (st, 60, 119, 351);
  d = decide (st, &cfg, 119, 5);
  assert_int_equal (d.desired_scale, 6);
  assert_false (d.panic);

  /* rps metric: target 200 × 0.7 = 140 rps per pod; 700 rps -> 5 */
  cfg.metric = VEIL_KPA_METRIC_RPS;
  _cleanup_ (veil_kpa_state_freep) veil_kpa_state_t *r = new_state (&cfg, 0, 0);
  feed (r, 0, 59, 700);
  d = decide (r, &cfg, 59, 5);
  assert_int_equal (d.desired_scale, 5);
  /* containerConcurrency 10 with the concurrency metric: target 10 × 0.7 = 7,
   * 35 in flight -> 5 */
  cfg.metric = VEIL_KPA_METRIC_CONCURRENCY;
  cfg.container_concurrency = 10;
  _cleanup_ (veil_kpa_state_freep) veil_kpa_state_t *c = new_state (&cfg, 0, 0);
  feed (c, 0, 59, 35);
  d = decide (c, &cfg, 59, 5);
  assert_int_equal (d.desired_scale, 5);
}

static void
test_panic (void **unused)
{
  (void) unused;
  veil_kpa_config_t cfg;
  veil_kpa_config_default (&cfg);
  _cleanup_ (veil_kpa_state_freep) veil_kpa_state_t *st = new_state (&cfg, 0, 0);
  feed (st, 0, 59, 70);
  /* stable 70/70 = 1, panic 1/1 < 2 */
  veil_kpa_decision_t d = decide (st, &cfg, 59, 1);
  assert_int_equal (d.desired_scale, 1);
  assert_false (d.panic);

  /* Burst: 700 for 6 s.  Panic window (6 buckets 60..65) = 700 -> ceil(700/70)
   * = 10 pods, 10/1 ready >= 200% -> panic.  Stable: buckets 6..65 =
   * (54×70 + 6×700)/60 = 7980/60 = 133 -> 2; panic takes the max: 10. */
  feed (st, 60, 65, 700);
  d = decide (st, &cfg, 65, 1);
  assert_true (d.panic);
  assert_int_equal (d.desired_scale, 10);
  assert_string_equal (d.reason, "panic");

  /* Load back to 70 with 10 ready.  Panic: 70 -> 1, 1/10 < 2, but the last
   * time over threshold was t=65, 71-65 = 6 s <= 60 s: still panicking.
   * Stable (12..71) = (48×70 + 6×700 + 6×70)/60 = 133 -> 2, clamped up to
   * floor(10/2) = 5; panic mode never goes below its max: 10. */
  feed (st, 66, 71, 70);
  d = decide (st, &cfg, 71, 10);
  assert_true (d.panic);
  assert_int_equal (d.desired_scale, 10);
  /* t=125: 125-65 = 60 s, not yet more than a stable window */
  feed (st, 72, 125, 70);
  d = decide (st, &cfg, 125, 10);
  assert_true (d.panic);
  assert_int_equal (d.desired_scale, 10);
  /* t=126: 61 s > 60 s below threshold: leave panic.  Stable (67..126) = 70
   * -> 1, rate-limited to floor(10/2) = 5. */
  feed (st, 126, 126, 70);
  d = decide (st, &cfg, 126, 10);
  assert_false (d.panic);
  assert_int_equal (d.desired_scale, 5);
  assert_string_equal (d.reason, "stable");

  /* A second burst while panicking extends the panic time: at t=130 a
   * 6 s burst of 1400 with 5 ready -> 20 pods, 20/5 = 4 >= 2. */
  feed (st, 127, 132, 1400);
  d = decide (st, &cfg, 132, 5);
  assert_true (d.panic);
  assert_int_equal (d.desired_scale, 20);
}

static void
test_restart_starts_in_panic (void **unused)
{
  (void) unused;
  veil_kpa_config_t cfg;
  veil_kpa_config_default (&cfg);
  /* 4 pods run when the autoscaler (re)starts with no history: hold 4 */
  _cleanup_ (veil_kpa_state_freep) veil_kpa_state_t *st = new_state (&cfg, 0, 4);
  feed (st, 0, 2, 0);
  veil_kpa_decision_t d = decide (st, &cfg, 2, 4);
  assert_true (d.panic);
  assert_int_equal (d.desired_scale, 4);
  /* after a stable window (t=61 > 0+60) it leaves panic: 0 demand, rate
   * limit floor(4/2) = 2 */
  feed (st, 3, 61, 0);
  d = decide (st, &cfg, 61, 4);
  assert_false (d.panic);
  assert_int_equal (d.desired_scale, 2);
}

static void
test_rate_limits (void **unused)
{
  (void) unused;
  veil_kpa_config_t cfg;
  veil_kpa_config_default (&cfg);
  _cleanup_ (veil_kpa_state_freep) veil_kpa_state_t *st = new_state (&cfg, 0, 0);
  /* demand 70 -> 1 pod, but from 10 ready at most 10/2 = 5 per decision:
   * 10 -> 5 -> floor(5/2) = 2 -> floor(2/2) = 1 */
  feed (st, 0, 59, 70);
  assert_int_equal (decide (st, &cfg, 59, 10).desired_scale, 5);
  assert_int_equal (decide (st, &cfg, 59, 5).desired_scale, 2);
  assert_int_equal (decide (st, &cfg, 59, 2).desired_scale, 1);
  assert_int_equal (decide (st, &cfg, 59, 1).desired_scale, 1);

  /* max scale-up rate 2: from 2 ready at most ceil(2×2) = 4, although 7000
   * in flight asks for 7000/70 = 100 */
  veil_kpa_config_t up = cfg;
  up.max_scale_up_rate = 2;
  _cleanup_ (veil_kpa_state_freep) veil_kpa_state_t *u = new_state (&up, 0, 0);
  feed (u, 0, 59, 7000);
  veil_kpa_decision_t d = decide (u, &up, 59, 2);
  assert_int_equal (d.desired_scale, 4);
  /* from zero ready the rate counts one pod: ceil(2×1) = 2 */
  _cleanup_ (veil_kpa_state_freep) veil_kpa_state_t *z = new_state (&up, 0, 0);
  feed (z, 0, 5, 7000);
  assert_int_equal (decide (z, &up, 5, 0).desired_scale, 2);
}

static void
test_min_max_initial (void **unused)
{
  (void) unused;
  veil_kpa_config_t cfg;
  veil_kpa_config_default (&cfg);
  cfg.initial_scale = 3;
  _cleanup_ (veil_kpa_state_freep) veil_kpa_state_t *st = new_state (&cfg, 0, 0);
  /* new revision, no traffic: initial scale 3 until 3 are ready once */
  feed (st, 0, 1, 0);
  veil_kpa_decision_t d = decide (st, &cfg, 1, 0);
  assert_int_equal (d.desired_scale, 3);
  assert_string_equal (d.reason, "initial scale");
  assert_int_equal (decide (st, &cfg, 3, 2).desired_scale, 3);
  /* 3 ready: initial scale reached; no demand, rate limit floor(3/2) = 1 */
  feed (st, 2, 5, 0);
  assert_int_equal (decide (st, &cfg, 5, 3).desired_scale, 1);
  /* and it does not come back when the count drops below 3 */
  assert_int_equal (decide (st, &cfg, 7, 1).desired_scale, 1);

  /* min-scale 2: no demand, 2 ready -> floor(2/2) = 1 -> raised to 2, never 0 */
  veil_kpa_config_t mn;
  veil_kpa_config_default (&mn);
  mn.min_scale = 2;
  _cleanup_ (veil_kpa_state_freep) veil_kpa_state_t *m = new_state (&mn, 0, 0);
  feed (m, 0, 200, 0);
  d = decide (m, &mn, 200, 2);
  assert_int_equal (d.desired_scale, 2);
  assert_string_equal (d.reason, "min scale");
  /* unreachable revisions are held neither by min-scale nor by the rate
   * limit: 0 wanted, but the pods became ready at t=200, less than a stable
   * window ago, so 1 remains */
  mn.reachable = false;
  d = decide (m, &mn, 202, 2);
  assert_int_equal (d.desired_scale, 1);
  assert_string_equal (d.reason, "active for less than a stable window");

  /* max-scale 5: 7000 in flight asks 100 -> 5 */
  veil_kpa_config_t mx;
  veil_kpa_config_default (&mx);
  mx.max_scale = 5;
  _cleanup_ (veil_kpa_state_freep) veil_kpa_state_t *x = new_state (&mx, 0, 0);
  feed (x, 0, 59, 7000);
  d = decide (x, &mx, 59, 5);
  assert_int_equal (d.desired_scale, 5);
  assert_string_equal (d.reason, "max scale");
}

static void
test_scale_to_zero (void **unused)
{
  (void) unused;
  veil_kpa_config_t cfg;
  veil_kpa_config_default (&cfg);
  _cleanup_ (veil_kpa_state_freep) veil_kpa_state_t *st = new_state (&cfg, 0, 0);
  /* 10 in flight for t=0..9, then idle; one pod ready throughout.  The
   * stable window at t covers buckets t-59..t, so bucket 9 leaves it at
   * t=69: from then the demand is 0.  Decisions every 2 s: the first with
   * zero demand is t=70; the grace period of 30 s ends at t=100. */
  feed (st, 0, 9, 10);
  veil_kpa_decision_t d;
  for (int t = 10; t <= 110; t++)
    {
      feed (st, t, t, 0);
      if (t % 2)
        continue;
      d = decide (st, &cfg, t, 1);
      if (t < 70)
        {
          /* bucket 0..9 still in the window: stable average
           * 100 / min(t + 1, 60) > 0 -> ceil(avg / 70) = 1 */
          assert_int_equal (d.desired_scale, 1);
          assert_string_equal (d.reason, "stable");
        }
      else if (t < 100)
        {
          /* no demand but inside the grace period: hold, activator in */
          assert_int_equal (d.desired_scale, 1);
          assert_true (d.activator_in_path);
          assert_string_equal (d.reason, "idle: waiting for scale-to-zero grace period");
        }
      else
        {
          assert_int_equal (d.desired_scale, 0);
          assert_true (d.activator_in_path);
        }
    }
  /* once at zero it stays there with no traffic and no pods */
  feed (st, 111, 120, 0);
  assert_int_equal (decide (st, &cfg, 120, 0).desired_scale, 0);
  /* a request arrives: 1 in flight -> ceil(1/70) = 1 */
  feed (st, 121, 121, 1);
  d = decide (st, &cfg, 122, 0);
  assert_int_equal (d.desired_scale, 1);
  assert_true (d.activator_in_path);

  /* traffic in the grace period cancels it */
  _cleanup_ (veil_kpa_state_freep) veil_kpa_state_t *g = new_state (&cfg, 0, 0);
  feed (g, 0, 9, 10);
  feed (g, 10, 80, 0);
  assert_int_equal (decide (g, &cfg, 80, 1).desired_scale, 1); /* grace starts at 80 */
  feed (g, 81, 81, 5);
  feed (g, 82, 112, 0);
  /* t=112: bucket 81 still in the window -> 1, and grace restarted */
  d = decide (g, &cfg, 112, 1);
  assert_int_equal (d.desired_scale, 1);
  assert_string_equal (d.reason, "stable");

  /* a pod that became ready less than a stable window ago is kept */
  _cleanup_ (veil_kpa_state_freep) veil_kpa_state_t *a = new_state (&cfg, 0, 0);
  feed (a, 0, 10, 0);
  d = decide (a, &cfg, 10, 1); /* active since 10 */
  assert_int_equal (d.desired_scale, 1);
  assert_string_equal (d.reason, "active for less than a stable window");

  /* scale to zero disabled: 1 */
  cfg.enable_scale_to_zero = false;
  _cleanup_ (veil_kpa_state_freep) veil_kpa_state_t *nz = new_state (&cfg, 0, 0);
  feed (nz, 0, 200, 0);
  assert_int_equal (decide (nz, &cfg, 200, 1).desired_scale, 1);
}

static void
test_scale_down_delay (void **unused)
{
  (void) unused;
  veil_kpa_config_t cfg;
  veil_kpa_config_default (&cfg);
  cfg.stable_window_ms = S (6);     /* panic window: ceil(0.6 s) = 1 bucket */
  cfg.scale_down_delay_ms = S (60); /* 60 s / 2 s tick = 30 slots */
  _cleanup_ (veil_kpa_state_freep) veil_kpa_state_t *st = new_state (&cfg, 0, 0);
  /* 700 in flight, 10 ready: 700/70 = 10, panic 10/10 = 1 < 2.  Recorded in
   * tick slot 5000/2000 = 2. */
  feed (st, 0, 5, 700);
  assert_int_equal (decide (st, &cfg, 5, 10).desired_scale, 10);
  /* idle from t=6: stable 0, rate limit floor(10/2) = 5, but the max over
   * the last 60 s (slots 5-29 .. 5) still holds 10 */
  feed (st, 6, 11, 0);
  veil_kpa_decision_t d = decide (st, &cfg, 11, 10);
  assert_int_equal (d.desired_scale, 10);
  assert_string_equal (d.reason, "scale-down delay");
  /* t=63: slot 31, the window (1, 31] still holds slot 2 = 10 */
  feed (st, 12, 63, 0);
  assert_int_equal (decide (st, &cfg, 63, 10).desired_scale, 10);
  /* t=65: slot 32, window (2, 32]: the 10 left; max(5 at slot 5, 5) = 5 */
  feed (st, 64, 65, 0);
  d = decide (st, &cfg, 65, 10);
  assert_int_equal (d.desired_scale, 5);
  assert_string_equal (d.reason, "stable");
}

static void
test_activator (void **unused)
{
  (void) unused;
  veil_kpa_config_t cfg;
  veil_kpa_config_default (&cfg);
  _cleanup_ (veil_kpa_state_freep) veil_kpa_state_t *st = new_state (&cfg, 0, 0);
  /* 3 ready × 100 − 211 − 50 in flight = 39 >= 0: activator out */
  feed (st, 0, 59, 50);
  veil_kpa_decision_t d = decide (st, &cfg, 59, 3);
  assert_int_equal (d.excess_burst_capacity, 39);
  assert_false (d.activator_in_path);
  /* activators: ceil((300 + 211)/100) = 6 */
  assert_int_equal (d.num_activators, 6);
  /* 100 in flight (panic window 60..65): 300 − 211 − 100 = −11 < 0: in */
  feed (st, 60, 65, 100);
  d = decide (st, &cfg, 65, 3);
  assert_int_equal (d.excess_burst_capacity, -11);
  assert_true (d.activator_in_path);
  /* 2 ready: 200 − 211 − 0 < 0 even idle */
  _cleanup_ (veil_kpa_state_freep) veil_kpa_state_t *i = new_state (&cfg, 0, 0);
  feed (i, 0, 5, 0);
  d = decide (i, &cfg, 5, 2);
  assert_int_equal (d.excess_burst_capacity, -11);
  assert_true (d.activator_in_path);

  /* target burst capacity 0: never in path while pods are ready */
  veil_kpa_config_t zero = cfg;
  zero.target_burst_capacity = 0;
  d = decide (st, &zero, 65, 3);
  assert_int_equal (d.excess_burst_capacity, 0);
  assert_false (d.activator_in_path);
  assert_int_equal (d.num_activators, 2);
  /* but always with no ready pod */
  d = decide (st, &zero, 65, 0);
  assert_true (d.activator_in_path);
  /* -1: always in path; activators ceil(300/100) = 3 */
  veil_kpa_config_t always = cfg;
  always.target_burst_capacity = -1;
  d = decide (st, &always, 65, 3);
  assert_int_equal (d.excess_burst_capacity, -1);
  assert_true (d.activator_in_path);
  assert_int_equal (d.num_activators, 3);
}

static void
expect_error (const char *json, const char *msg)
{
  veil_kpa_config_t cfg;
  veil_kpa_config_default (&cfg);
  _cleanup_json_ json_t *j = json_loads (json, 0, NULL);
  assert_non_null (j);
  _cleanup_error_ veil_error_t *err = NULL;
  assert_true (veil_kpa_config_from_annotations (&cfg, j, &err) < 0);
  assert_non_null (err);
  if (strstr (err->msg, msg) == NULL)
    fail_msg ("error '%s' lacks '%s'", err->msg, msg);
}

static void
test_annotations (void **unused)
{
  (void) unused;
  veil_kpa_config_t cfg;
  veil_kpa_config_default (&cfg);
  _cleanup_json_ json_t *j = json_loads (
      "{\"autoscaling.knative.dev/target\": \"10\","
      " \"autoscaling.knative.dev/metric\": \"rps\","
      " \"autoscaling.knative.dev/min-scale\": \"1\","
      " \"autoscaling.knative.dev/max-scale\": \"8\","
      " \"autoscaling.knative.dev/initial-scale\": \"2\","
      " \"autoscaling.knative.dev/window\": \"1m30s\","
      " \"autoscaling.knative.dev/panic-window-percentage\": \"20\","
      " \"autoscaling.knative.dev/panic-threshold-percentage\": \"150\","
      " \"autoscaling.knative.dev/scale-down-delay\": \"15s\","
      " \"autoscaling.knative.dev/target-utilization-percentage\": \"50\","
      " \"autoscaling.knative.dev/target-burst-capacity\": \"-1\","
      " \"autoscaling.knative.dev/class\": \"kpa.autoscaling.knative.dev\","
      " \"example.com/other\": 5}",
      0, NULL);
  assert_non_null (j);
  _cleanup_error_ veil_error_t *err = NULL;
  assert_int_equal (veil_kpa_config_from_annotations (&cfg, j, &err), 0);
  assert_true (cfg.target == 10);
  assert_int_equal (cfg.metric, VEIL_KPA_METRIC_RPS);
  assert_int_equal (cfg.min_scale, 1);
  assert_int_equal (cfg.max_scale, 8);
  assert_int_equal (cfg.initial_scale, 2);
  assert_int_equal (cfg.stable_window_ms, 90000);
  assert_true (cfg.panic_window_pct == 20);
  assert_true (cfg.panic_threshold_pct == 150);
  assert_int_equal (cfg.scale_down_delay_ms, 15000);
  assert_true (cfg.target_utilization == 0.5);
  assert_true (cfg.target_burst_capacity == -1);
  assert_int_equal (veil_kpa_config_validate (&cfg, &err), 0);
  /* per-pod target = 10 × 0.5 = 5 */
  double target, total;
  veil_kpa_config_target (&cfg, &target, &total);
  assert_true (target == 5 && total == 10);

  expect_error ("{\"autoscaling.knative.dev/target\": \"abc\"}",
                "annotation autoscaling.knative.dev/target: 'abc' is not a number > 0");
  expect_error ("{\"autoscaling.knative.dev/target\": \"0\"}", "is not a number > 0");
  expect_error ("{\"autoscaling.knative.dev/target\": 10}", "not a string");
  expect_error ("{\"autoscaling.knative.dev/metric\": \"cpu\"}", "not one of concurrency, rps");
  expect_error ("{\"autoscaling.knative.dev/min-scale\": \"-1\"}", "'-1' is not an integer >= 0");
  expect_error ("{\"autoscaling.knative.dev/max-scale\": \"1.5\"}", "is not an integer");
  expect_error ("{\"autoscaling.knative.dev/min-scale\": \"5\", \"autoscaling.knative.dev/max-scale\": \"2\"}",
                "greater than max-scale");
  expect_error ("{\"autoscaling.knative.dev/window\": \"5s\"}", "not a duration in [6s, 1h]");
  expect_error ("{\"autoscaling.knative.dev/window\": \"2h\"}", "not a duration");
  expect_error ("{\"autoscaling.knative.dev/window\": \"60\"}", "not a duration");
  expect_error ("{\"autoscaling.knative.dev/window\": \"6500ms\"}", "whole seconds");
  expect_error ("{\"autoscaling.knative.dev/panic-window-percentage\": \"0.5\"}", "not a number in [1, 100]");
  expect_error ("{\"autoscaling.knative.dev/panic-threshold-percentage\": \"100\"}", "not a number in [110, 1000]");
  expect_error ("{\"autoscaling.knative.dev/target-utilization-percentage\": \"101\"}", "[1, 100]");
  expect_error ("{\"autoscaling.knative.dev/scale-down-delay\": \"-1s\"}", "scale-down-delay");
  expect_error ("{\"autoscaling.knative.dev/target-burst-capacity\": \"-2\"}", "target-burst-capacity");

  /* a window change needs a new state */
  veil_kpa_config_t d1, d2;
  veil_kpa_config_default (&d1);
  d2 = d1;
  d2.stable_window_ms = S (90);
  _cleanup_ (veil_kpa_state_freep) veil_kpa_state_t *st = new_state (&d1, 0, 0);
  veil_kpa_decision_t out;
  _cleanup_error_ veil_error_t *e2 = NULL;
  assert_true (veil_kpa_decide (st, &d2, 0, 0, &out, &e2) < 0);
  assert_non_null (strstr (e2->msg, "windows changed"));
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_window_average),
    cmocka_unit_test (test_steady),
    cmocka_unit_test (test_panic),
    cmocka_unit_test (test_restart_starts_in_panic),
    cmocka_unit_test (test_rate_limits),
    cmocka_unit_test (test_min_max_initial),
    cmocka_unit_test (test_scale_to_zero),
    cmocka_unit_test (test_scale_down_delay),
    cmocka_unit_test (test_activator),
    cmocka_unit_test (test_annotations),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
