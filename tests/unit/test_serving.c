/* Unit tests of Knative Service manifests: the hello-world sample in YAML
 * and JSON, defaults, env/ports/resources, quantities and durations,
 * autoscaling annotations, traffic splits, the canonical template and its
 * digest, and bad manifests, each refused with the field path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>

#include "veil/serving.h"

/* The sample of Knative's "Deploying your first Knative Service". */
static const char hello_yaml[] = "apiVersion: serving.knative.dev/v1\n"
                                 "kind: Service\n"
                                 "metadata:\n"
                                 "  name: hello\n"
                                 "spec:\n"
                                 "  template:\n"
                                 "    spec:\n"
                                 "      containers:\n"
                                 "        - image: ghcr.io/knative/helloworld-go:latest\n"
                                 "          ports:\n"
                                 "            - containerPort: 8080\n"
                                 "          env:\n"
                                 "            - name: TARGET\n"
                                 "              value: \"World\"\n";

static const char hello_json[]
    = "{\"apiVersion\":\"serving.knative.dev/v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"hello\"},"
      "\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"image\":\"ghcr.io/knative/helloworld-go:latest\","
      "\"ports\":[{\"containerPort\":8080}],\"env\":[{\"name\":\"TARGET\",\"value\":\"World\"}]}]}}}}";

static veil_service_t *
parse_ok (const char *doc)
{
  veil_service_t *svc = NULL;
  veil_error_t *err = NULL;
  int r = veil_service_parse (doc, strlen (doc), &svc, &err);
  if (r != 0)
    fail_msg ("unexpected error: %s", err->msg);
  return svc;
}

/* The error message of a refused manifest (caller frees). */
static char *
parse_err (const void *doc, size_t len)
{
  veil_service_t *svc = NULL;
  veil_error_t *err = NULL;
  if (veil_service_parse (doc, len, &svc, &err) == 0)
    {
      veil_service_free (svc);
      fail_msg ("manifest accepted: %.200s", (const char *) doc);
    }
  assert_non_null (err);
  char *msg = xstrdup (err->msg);
  veil_error_free (err);
  return msg;
}

static void
check_hello (const veil_service_t *svc)
{
  assert_string_equal (svc->name, "hello");
  assert_string_equal (svc->namespace, "default");
  assert_string_equal (svc->container.image, "ghcr.io/knative/helloworld-go:latest");
  assert_int_equal (svc->container.port, 8080);
  assert_int_equal (svc->container.n_env, 1);
  assert_string_equal (svc->container.env[0].name, "TARGET");
  assert_string_equal (svc->container.env[0].value, "World");
  assert_int_equal (svc->timeout_seconds, 300);
  assert_int_equal (svc->container_concurrency, 0);
  assert_null (svc->runtime_class_name);
  assert_null (svc->revision_name);
  assert_int_equal (svc->n_traffic, 1);
  assert_true (svc->traffic[0].latest_revision);
  assert_int_equal (svc->traffic[0].percent, 100);
}

static void
test_hello_yaml (void **state)
{
  (void) state;
  _cleanup_service_ veil_service_t *svc = parse_ok (hello_yaml);
  check_hello (svc);
}

static void
test_hello_json (void **state)
{
  (void) state;
  _cleanup_service_ veil_service_t *svc = parse_ok (hello_json);
  check_hello (svc);
  /* the same template in either syntax has the same digest */
  _cleanup_service_ veil_service_t *y = parse_ok (hello_yaml);
  _cleanup_free_ char *d1 = veil_service_template_digest (svc, NULL);
  _cleanup_free_ char *d2 = veil_service_template_digest (y, NULL);
  assert_non_null (d1);
  assert_int_equal (strlen (d1), 7 + 64);
  assert_memory_equal (d1, "sha256:", 7);
  assert_string_equal (d1, d2);
}

static void
test_defaults (void **state)
{
  (void) state;
  _cleanup_service_ veil_service_t *svc = parse_ok ("apiVersion: serving.knative.dev/v1\n"
                                                    "kind: Service\n"
                                                    "metadata: {name: s, namespace: team-a}\n"
                                                    "spec:\n"
                                                    "  template:\n"
                                                    "    spec:\n"
                                                    "      containers: [{image: busybox}]\n");
  assert_string_equal (svc->namespace, "team-a");
  assert_int_equal (svc->container.port, VEIL_SERVICE_DEFAULT_PORT);
  assert_false (svc->container.h2c);
  assert_int_equal (svc->timeout_seconds, VEIL_SERVICE_DEFAULT_TIMEOUT);
  assert_int_equal (svc->container.readiness.kind, VEIL_PROBE_TCP);
  assert_int_equal (svc->container.readiness.failure_threshold, 3);
  assert_int_equal (svc->container.limits.memory_bytes, 0);
  assert_int_equal (svc->container.n_command, 0);
  assert_int_equal (json_object_size (svc->labels), 0);
  assert_int_equal (svc->autoscaling.min_scale, -1);
  assert_int_equal (svc->autoscaling.window_ms, -1);
  assert_false (svc->autoscaling.metric_rps);
  _cleanup_free_ char *r1 = veil_service_revision_name (svc, 1);
  assert_string_equal (r1, "s-00001");
  _cleanup_free_ char *r2 = veil_service_revision_name (svc, 42);
  assert_string_equal (r2, "s-00042");
}

static const char full_yaml[]
    = "apiVersion: serving.knative.dev/v1\n"
      "kind: Service\n"
      "metadata:\n"
      "  name: api\n"
      "  labels: {app: api, example.com/tier: backend}\n"
      "  annotations: {example.com/owner: \"team a\"}\n"
      "spec:\n"
      "  template:\n"
      "    metadata:\n"
      "      name: api-v2\n"
      "      annotations:\n"
      "        autoscaling.knative.dev/target: \"50\"\n"
      "        autoscaling.knative.dev/metric: rps\n"
      "        autoscaling.knative.dev/min-scale: \"1\"\n"
      "        autoscaling.knative.dev/maxScale: \"10\"\n"
      "        autoscaling.knative.dev/initial-scale: \"2\"\n"
      "        autoscaling.knative.dev/window: 1m30s\n"
      "        autoscaling.knative.dev/panic-window-percentage: \"20.5\"\n"
      "        autoscaling.knative.dev/panic-threshold-percentage: \"150\"\n"
      "        autoscaling.knative.dev/scale-down-delay: 15m\n"
      "        autoscaling.knative.dev/target-utilization-percentage: \"80\"\n"
      "    spec:\n"
      "      containerConcurrency: 10\n"
      "      timeoutSeconds: 60\n"
      "      runtimeClassName: kata-snp\n"
      "      serviceAccountName: ignored\n"
      "      containers:\n"
      "        - name: app\n"
      "          image: registry.local:5000/team/api@sha256:"
      "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"
      "          imagePullPolicy: IfNotPresent\n"
      "          command: [/bin/api]\n"
      "          args: [--verbose, \"--level=2\"]\n"
      "          workingDir: /srv\n"
      "          env:\n"
      "            - {name: A, value: \"1\"}\n"
      "            - {name: EMPTY}\n"
      "          ports: [{name: h2c, containerPort: 9000, protocol: TCP}]\n"
      "          resources:\n"
      "            limits: {memory: 1Gi, cpu: \"2\"}\n"
      "            requests: {memory: 128Mi, cpu: 500m}\n"
      "          readinessProbe:\n"
      "            httpGet: {path: /healthz, port: 9000}\n"
      "            periodSeconds: 2\n"
      "            failureThreshold: 5\n"
      "  traffic:\n"
      "    - {revisionName: api-v1, percent: 80, tag: stable}\n"
      "    - {latestRevision: true, percent: 20, tag: canary}\n"
      "    - {revisionName: api-v0, percent: 0, tag: old}\n";

static void
test_full (void **state)
{
  (void) state;
  _cleanup_service_ veil_service_t *svc = parse_ok (full_yaml);
  assert_string_equal (json_string_value (json_object_get (svc->labels, "example.com/tier")), "backend");
  assert_string_equal (json_string_value (json_object_get (svc->annotations, "example.com/owner")), "team a");
  assert_string_equal (svc->revision_name, "api-v2");
  _cleanup_free_ char *rev = veil_service_revision_name (svc, 7);
  assert_string_equal (rev, "api-v2");
  assert_int_equal (svc->container_concurrency, 10);
  assert_int_equal (svc->timeout_seconds, 60);
  assert_string_equal (svc->runtime_class_name, "kata-snp");
  const veil_service_container_t *c = &svc->container;
  assert_string_equal (c->name, "app");
  assert_int_equal (c->n_command, 1);
  assert_string_equal (c->command[0], "/bin/api");
  assert_int_equal (c->n_args, 2);
  assert_string_equal (c->args[1], "--level=2");
  assert_string_equal (c->working_dir, "/srv");
  assert_int_equal (c->n_env, 2);
  assert_string_equal (c->env[0].value, "1");
  assert_string_equal (c->env[1].name, "EMPTY");
  assert_string_equal (c->env[1].value, "");
  assert_int_equal (c->port, 9000);
  assert_true (c->h2c);
  assert_int_equal (c->limits.memory_bytes, 1073741824);
  assert_int_equal (c->limits.cpu_millis, 2000);
  assert_int_equal (c->requests.memory_bytes, 134217728);
  assert_int_equal (c->requests.cpu_millis, 500);
  assert_int_equal (c->readiness.kind, VEIL_PROBE_HTTP);
  assert_string_equal (c->readiness.path, "/healthz");
  assert_int_equal (c->readiness.period_seconds, 2);
  assert_int_equal (c->readiness.failure_threshold, 5);

  /* autoscaling annotations: preserved as given, and parsed */
  const veil_service_autoscaling_t *as = &svc->autoscaling;
  assert_string_equal (json_string_value (json_object_get (svc->template_annotations, "autoscaling.knative.dev/window")),
                       "1m30s");
  assert_string_equal (json_string_value (json_object_get (svc->template_annotations, "autoscaling.knative.dev/maxScale")),
                       "10");
  assert_true (as->metric_rps);
  assert_true (as->target == 50.0);
  assert_int_equal (as->min_scale, 1);
  assert_int_equal (as->max_scale, 10);
  assert_int_equal (as->initial_scale, 2);
  assert_int_equal (as->window_ms, 90000);
  assert_true (as->panic_window_percentage == 20.5);
  assert_true (as->panic_threshold_percentage == 150.0);
  assert_int_equal (as->scale_down_delay_ms, 900000);
  assert_true (as->target_utilization == 80.0);

  /* traffic 80/20 with tags */
  assert_int_equal (svc->n_traffic, 3);
  assert_string_equal (svc->traffic[0].revision_name, "api-v1");
  assert_false (svc->traffic[0].latest_revision);
  assert_int_equal (svc->traffic[0].percent, 80);
  assert_string_equal (svc->traffic[0].tag, "stable");
  assert_null (svc->traffic[1].revision_name);
  assert_true (svc->traffic[1].latest_revision);
  assert_int_equal (svc->traffic[1].percent, 20);
  assert_string_equal (svc->traffic[1].tag, "canary");
  assert_int_equal (svc->traffic[2].percent, 0);

  /* the canonical template holds the normalised values */
  _cleanup_json_ json_t *t = veil_service_template_canonical (svc);
  json_t *ct = json_array_get (json_object_get (json_object_get (t, "spec"), "containers"), 0);
  assert_string_equal (json_string_value (json_object_get (json_object_get (json_object_get (ct, "resources"), "limits"), "memory")),
                       "1073741824");
  assert_string_equal (json_string_value (json_object_get (json_object_get (t, "metadata"), "name")), "api-v2");
  assert_string_equal (json_string_value (json_object_get (json_object_get (t, "spec"), "runtimeClassName")), "kata-snp");
  assert_null (json_object_get (t, "traffic"));
}

/* Two layouts of one template hash alike; a change of the template (not
 * of the traffic) changes the digest. */
static void
test_digest (void **state)
{
  (void) state;
  const char *a = "{\"apiVersion\":\"serving.knative.dev/v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"d\"},"
                  "\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"image\":\"busybox\",\"resources\":{\"limits\":{\"memory\":\"1Gi\"}}}]}}}}";
  const char *b = "kind: Service\n"
                  "apiVersion: serving.knative.dev/v1\n"
                  "metadata: {name: d}\n"
                  "spec:\n"
                  "  traffic: [{latestRevision: true, percent: 100, tag: x}]\n"
                  "  template:\n"
                  "    spec:\n"
                  "      timeoutSeconds: 300\n"
                  "      containers: [{image: busybox, ports: [{containerPort: 8080}], resources: {limits: {memory: 1024Mi}}}]\n";
  const char *c = "kind: Service\n"
                  "apiVersion: serving.knative.dev/v1\n"
                  "metadata: {name: d}\n"
                  "spec:\n"
                  "  template:\n"
                  "    spec:\n"
                  "      containers: [{image: busybox, resources: {limits: {memory: 1Gi}}, env: [{name: X, value: y}]}]\n";
  _cleanup_service_ veil_service_t *sa = parse_ok (a);
  _cleanup_service_ veil_service_t *sb = parse_ok (b);
  _cleanup_service_ veil_service_t *sc = parse_ok (c);
  _cleanup_free_ char *da = veil_service_template_digest (sa, NULL);
  _cleanup_free_ char *db = veil_service_template_digest (sb, NULL);
  _cleanup_free_ char *dc = veil_service_template_digest (sc, NULL);
  assert_string_equal (da, db);
  assert_string_not_equal (da, dc);
}

static void
test_quantities (void **state)
{
  (void) state;
  static const struct
  {
    const char *s;
    int64_t bytes; /* -1: refused */
    int64_t millis;
  } cases[] = {
    { "128Mi", 134217728, 134217728000 },
    { "1Gi", 1073741824, 1073741824000 },
    { "1024Mi", 1073741824, 1073741824000 },
    { "1Ki", 1024, 1024000 },
    { "1Ei", 1152921504606846976, -1 },
    { "500m", 1, 500 },
    { "0.5", 1, 500 },
    { ".5", 1, 500 },
    { "1", 1, 1000 },
    { "2", 2, 2000 },
    { "+3", 3, 3000 },
    { "0", 0, 0 },
    { "1.5Gi", 1610612736, 1610612736000 },
    { "100M", 100000000, 100000000000 },
    { "1k", 1000, 1000000 },
    { "1G", 1000000000, 1000000000000 },
    { "100u", 1, 1 },
    { "1n", 1, 1 },
    { "1e3", 1000, 1000000 },
    { "1E3", 1000, 1000000 },
    { "2.5e-1", 1, 250 },
    { "1E", 1000000000000000000, -1 },
    { "0.001", 1, 1 },
    { "0.0001", 1, 1 },
    { "", -1, -1 },
    { "Mi", -1, -1 },
    { "-1", -1, -1 },
    { "1.2.3", -1, -1 },
    { "1MiB", -1, -1 },
    { "1 Mi", -1, -1 },
    { "12x", -1, -1 },
    { "1e", -1, -1 },
    { "1e 3", -1, -1 },
    { "1e1000", -1, -1 },
    { "10Ei", -1, -1 },
    { "99999999999999999999", -1, -1 },
    { "0x10", -1, -1 },
  };
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (cases); i++)
    {
      int64_t v = -42;
      veil_error_t *err = NULL;
      int r = veil_service_quantity_bytes (cases[i].s, &v, &err);
      if (cases[i].bytes < 0)
        {
          if (r == 0)
            fail_msg ("quantity '%s' accepted as %lld bytes", cases[i].s, (long long) v);
          assert_non_null (err);
        }
      else if (r != 0 || v != cases[i].bytes)
        fail_msg ("quantity '%s': %lld bytes, want %lld", cases[i].s, (long long) v, (long long) cases[i].bytes);
      veil_error_free (err);
      v = -42;
      r = veil_service_quantity_millis (cases[i].s, &v, NULL);
      if (cases[i].millis < 0 ? r == 0 : (r != 0 || v != cases[i].millis))
        fail_msg ("quantity '%s': %lld millis (r=%d), want %lld", cases[i].s, (long long) v, r, (long long) cases[i].millis);
    }
}

static void
test_durations (void **state)
{
  (void) state;
  static const struct
  {
    const char *s;
    int64_t ms; /* -1: refused */
  } cases[] = {
    { "60s", 60000 },
    { "1m30s", 90000 },
    { "500ms", 500 },
    { "1.5h", 5400000 },
    { "0", 0 },
    { "2m", 120000 },
    { "1h0m0s", 3600000 },
    { "10s", 10000 },
    { "0.5s", 500 },
    { "", -1 },
    { "s", -1 },
    { "10", -1 },
    { "-1s", -1 },
    { "1x", -1 },
    { "1e3s", -1 },
  };
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (cases); i++)
    {
      int64_t v = -42;
      int r = veil_service_duration_ms (cases[i].s, &v, NULL);
      if (cases[i].ms < 0 ? r == 0 : (r != 0 || v != cases[i].ms))
        fail_msg ("duration '%s': %lld ms (r=%d), want %lld", cases[i].s, (long long) v, r, (long long) cases[i].ms);
    }
}

static void
test_names (void **state)
{
  (void) state;
  assert_true (veil_service_dns1035_label ("hello"));
  assert_true (veil_service_dns1035_label ("a-1"));
  assert_false (veil_service_dns1035_label ("1a"));
  assert_true (veil_service_dns1123_label ("1a"));
  assert_false (veil_service_dns1035_label ("Hello"));
  assert_false (veil_service_dns1035_label ("a-"));
  assert_false (veil_service_dns1035_label ("-a"));
  assert_false (veil_service_dns1035_label (""));
  assert_false (veil_service_dns1035_label ("a_b"));
  char long_name[65];
  memset (long_name, 'a', 64);
  long_name[64] = '\0';
  assert_false (veil_service_dns1035_label (long_name));
  long_name[63] = '\0';
  assert_true (veil_service_dns1035_label (long_name));
}

static void
test_yaml_features (void **state)
{
  (void) state;
  /* anchors and aliases within bounds, comments, block scalars */
  _cleanup_service_ veil_service_t *svc = parse_ok ("# a comment\n"
                                                    "apiVersion: serving.knative.dev/v1\n"
                                                    "kind: Service\n"
                                                    "metadata:\n"
                                                    "  name: y\n"
                                                    "  labels: &l {app: y}\n"
                                                    "spec:\n"
                                                    "  template:\n"
                                                    "    metadata: {labels: *l}\n"
                                                    "    spec:\n"
                                                    "      containers:\n"
                                                    "      - image: busybox\n"
                                                    "        args:\n"
                                                    "        - |\n"
                                                    "          line one\n"
                                                    "          line two\n"
                                                    "        - 'single'\n"
                                                    "...\n");
  assert_string_equal (json_string_value (json_object_get (svc->template_labels, "app")), "y");
  assert_string_equal (svc->container.args[0], "line one\nline two\n");
  assert_string_equal (svc->container.args[1], "single");
}

typedef struct bad
{
  const char *doc;
  const char *want; /* substring of the error */
} bad_t;

#define HEAD "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {name: s}\n"
#define TMPL(c) HEAD "spec:\n  template:\n    spec:\n      containers:\n      - " c "\n"

static const bad_t bad_cases[] = {
  { TMPL ("name: app"), "spec.template.spec.containers[0].image: Required value" },
  { TMPL ("image: \"\""), "spec.template.spec.containers[0].image: Required value" },
  { TMPL ("image: a\n      - image: b"), "spec.template.spec.containers: Too many: 2" },
  { HEAD "spec:\n  template:\n    spec:\n      containers: []\n", "spec.template.spec.containers: Required value" },
  { HEAD "spec:\n  template:\n    spec: {}\n", "spec.template.spec.containers: Required value" },
  { HEAD "spec: {}\n", "spec.template: Required value" },
  { "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {name: Hello_World}\nspec:\n  template:\n    spec:\n      containers: [{image: busybox}]\n",
    "metadata.name: 'Hello_World' is not a DNS-1035 label" },
  { "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {labels: {a: b}}\nspec:\n  template:\n    spec:\n      containers: [{image: busybox}]\n",
    "metadata.name: Required value" },
  { TMPL ("image: busybox") "  traffic:\n  - {latestRevision: true, percent: 50}\n  - {revisionName: s-1, percent: 40}\n",
    "spec.traffic: percents sum to 90, must be 100" },
  { TMPL ("image: busybox") "  traffic:\n  - {latestRevision: true, revisionName: s-1, percent: 100}\n",
    "spec.traffic[0]: expected exactly one, got both: latestRevision, revisionName" },
  { TMPL ("image: busybox") "  traffic:\n  - {latestRevision: false, percent: 100}\n",
    "spec.traffic[0]: expected exactly one, got neither" },
  { TMPL ("image: busybox") "  traffic:\n  - {latestRevision: true, percent: 101}\n",
    "spec.traffic[0].percent: Invalid value: 101" },
  { TMPL ("image: busybox") "  traffic:\n  - {latestRevision: true, percent: 50, tag: a}\n  - {revisionName: s-1, percent: 50, tag: a}\n",
    "spec.traffic[1].tag: Duplicate value: \"a\"" },
  { TMPL ("image: busybox") "  traffic:\n  - {latestRevision: true, percent: 100, tag: Bad_Tag}\n",
    "spec.traffic[0].tag: 'Bad_Tag' is not a DNS-1035 label" },
  { TMPL ("image: busybox") "  traffic:\n  - {configurationName: s, percent: 100}\n",
    "spec.traffic[0].configurationName: Forbidden" },
  { TMPL ("image: busybox\n        ports: [{containerPort: 70000}]"),
    "spec.template.spec.containers[0].ports[0].containerPort: Invalid value: 70000" },
  { TMPL ("image: busybox\n        ports: [{containerPort: 0}]"),
    "spec.template.spec.containers[0].ports[0].containerPort: Invalid value: 0" },
  { TMPL ("image: busybox\n        ports: [{containerPort: \"8080\"}]"),
    "spec.template.spec.containers[0].ports[0].containerPort: Invalid value: must be an integer" },
  { TMPL ("image: busybox\n        ports: [{containerPort: 1}, {containerPort: 2}]"),
    "spec.template.spec.containers[0].ports: Too many: 2" },
  { TMPL ("image: busybox\n        ports: [{name: grpc, containerPort: 2}]"),
    "spec.template.spec.containers[0].ports[0].name: Unsupported value: \"grpc\"" },
  { HEAD "spec:\n  template:\n    spec:\n      runtimeClassName: gvisor\n      containers: [{image: busybox}]\n",
    "spec.template.spec.runtimeClassName: Unsupported value: \"gvisor\"" },
  { HEAD "spec:\n  template:\n    spec:\n      containerConcurrency: 1001\n      containers: [{image: busybox}]\n",
    "spec.template.spec.containerConcurrency: Invalid value: 1001" },
  { HEAD "spec:\n  template:\n    spec:\n      timeoutSeconds: 0\n      containers: [{image: busybox}]\n",
    "spec.template.spec.timeoutSeconds: Invalid value: 0" },
  { HEAD "spec:\n  template:\n    spec:\n      volumes: []\n      containers: [{image: busybox}]\n",
    "spec.template.spec.volumes: Forbidden: not supported by veil yet" },
  { "apiVersion: serving.knative.dev/v1beta1\nkind: Service\nmetadata: {name: s}\nspec:\n  template:\n    spec:\n      containers: [{image: busybox}]\n",
    "apiVersion: Unsupported value: \"serving.knative.dev/v1beta1\"" },
  { "apiVersion: serving.knative.dev/v1\nkind: Route\nmetadata: {name: s}\nspec:\n  template:\n    spec:\n      containers: [{image: busybox}]\n",
    "kind: Unsupported value: \"Route\"" },
  { "kind: Service\nmetadata: {name: s}\nspec:\n  template:\n    spec:\n      containers: [{image: busybox}]\n",
    "apiVersion: Required value" },
  { TMPL ("image: busybox\n        env: [{name: A, valueFrom: {secretKeyRef: {name: s, key: k}}}]"),
    "spec.template.spec.containers[0].env[0].valueFrom: Forbidden" },
  { TMPL ("image: busybox\n        env: [{name: PORT, value: \"1\"}]"),
    "spec.template.spec.containers[0].env[0].name: Invalid value: 'PORT': is a reserved environment variable" },
  { TMPL ("image: busybox\n        env: [{value: x}]"), "spec.template.spec.containers[0].env[0].name: Required value" },
  { TMPL ("image: busybox\n        env: [{name: A, value: 1}]"),
    "spec.template.spec.containers[0].env[0].value: Invalid value: must be a string" },
  { TMPL ("image: busybox\n        resources: {limits: {memory: 12parsecs}}"),
    "spec.template.spec.containers[0].resources.limits.memory: Invalid value" },
  { TMPL ("image: busybox\n        resources: {limits: {memory: 1Mi}, requests: {memory: 2Mi}}"),
    "spec.template.spec.containers[0].resources: Invalid value: requests.memory" },
  { TMPL ("image: busybox\n        resources: {limits: {nvidia.com/gpu: 1}}"),
    "spec.template.spec.containers[0].resources.limits.nvidia.com/gpu: unknown field" },
  { TMPL ("imgae: busybox"), "spec.template.spec.containers[0].imgae: unknown field" },
  { TMPL ("image: \"oci:/etc\""), "spec.template.spec.containers[0].image: Invalid value: 'oci:/etc': must name a registry image" },
  { TMPL ("image: \"UPPER/Case\""), "spec.template.spec.containers[0].image: Invalid value" },
  { TMPL ("image: busybox\n        readinessProbe: {exec: {command: [true]}}"),
    "spec.template.spec.containers[0].readinessProbe.exec: Forbidden" },
  { TMPL ("image: busybox\n        readinessProbe: {tcpSocket: {port: 1234}}"),
    "spec.template.spec.containers[0].readinessProbe.tcpSocket.port: Invalid value: may only be the container port 8080" },
  { TMPL ("image: busybox\n        readinessProbe: {tcpSocket: {}, httpGet: {}}"),
    "spec.template.spec.containers[0].readinessProbe: Forbidden: may not specify more than 1 handler type" },
  { TMPL ("image: busybox\n        workingDir: srv"), "spec.template.spec.containers[0].workingDir: Invalid value" },
  { HEAD "spec:\n  template:\n    metadata: {name: other-v1}\n    spec:\n      containers: [{image: busybox}]\n",
    "spec.template.metadata.name: Invalid value: 'other-v1': must have prefix 's-'" },
  { HEAD "spec:\n  template:\n    metadata:\n      annotations: {autoscaling.knative.dev/min-scale: \"-1\"}\n    spec:\n      containers: [{image: busybox}]\n",
    "spec.template.metadata.annotations.autoscaling.knative.dev/min-scale: Invalid value: '-1'" },
  { HEAD "spec:\n  template:\n    metadata:\n      annotations: {autoscaling.knative.dev/min-scale: 5, autoscaling.knative.dev/max-scale: \"2\"}\n    spec:\n      containers: [{image: busybox}]\n",
    "spec.template.metadata.annotations.autoscaling.knative.dev/min-scale: Invalid value: must be a string" },
  { HEAD "spec:\n  template:\n    metadata:\n      annotations: {autoscaling.knative.dev/min-scale: \"5\", autoscaling.knative.dev/max-scale: \"2\"}\n    spec:\n      containers: [{image: busybox}]\n",
    "spec.template.metadata.annotations.autoscaling.knative.dev/max-scale: Invalid value: 2: must be greater than or equal to min-scale" },
  { HEAD "spec:\n  template:\n    metadata:\n      annotations: {autoscaling.knative.dev/window: 1s}\n    spec:\n      containers: [{image: busybox}]\n",
    "spec.template.metadata.annotations.autoscaling.knative.dev/window: Invalid value: '1s'" },
  { HEAD "spec:\n  template:\n    metadata:\n      annotations: {autoscaling.knative.dev/metric: cpu}\n    spec:\n      containers: [{image: busybox}]\n",
    "spec.template.metadata.annotations.autoscaling.knative.dev/metric: Unsupported value: \"cpu\"" },
  { HEAD "spec:\n  template:\n    metadata:\n      annotations: {autoscaling.knative.dev/minScale: \"1\", autoscaling.knative.dev/min-scale: \"1\"}\n    spec:\n      containers: [{image: busybox}]\n",
    "autoscaling.knative.dev/min-scale: Forbidden: conflicts with autoscaling.knative.dev/minScale" },
  { HEAD "spec:\n  template:\n    metadata:\n      labels: {\"bad key!\": x}\n    spec:\n      containers: [{image: busybox}]\n",
    "spec.template.metadata.labels: Invalid value: 'bad key!'" },
  /* YAML-level problems, with the line */
  { "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: s\n   bad: indent\n", "yaml: line 5" },
  { "a: [1, 2\n", "yaml: line 2" },
  { "a: 1\na: 2\n", "yaml: line 2 column 4: duplicate key 'a'" },
  { "a: 1\n---\nb: 2\n", "a manifest holds a single document" },
  { "a: *nothing\n", "undefined alias 'nothing'" },
  { "? [a]\n: b\n", "mapping keys must be scalars" },
  { "", "yaml: empty document" },
  { "- 1\n- 2\n", "service: the manifest must be an object" },
  { "{\"apiVersion\": ", "service: json:" },
  /* all the errors, not just the first */
  { "apiVersion: v1\nkind: Pod\nmetadata: {name: s}\nspec:\n  template:\n    spec:\n      containers: [{}]\n",
    "apiVersion: Unsupported value: \"v1\": supported values: \"serving.knative.dev/v1\"; kind: Unsupported value: \"Pod\"" },
};

static void
test_bad (void **state)
{
  (void) state;
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (bad_cases); i++)
    {
      _cleanup_free_ char *msg = parse_err (bad_cases[i].doc, strlen (bad_cases[i].doc));
      if (!strstr (msg, bad_cases[i].want))
        fail_msg ("case %zu: error '%s' lacks '%s'", i, msg, bad_cases[i].want);
    }
}

static void
test_many_errors (void **state)
{
  (void) state;
  veil_buf_t b = { 0 };
  veil_buf_append_str (&b, TMPL ("image: busybox\n        env:"));
  for (int i = 0; i < 30; i++)
    veil_buf_printf (&b, "\n        - {name: PORT}");
  veil_buf_append_str (&b, "\n");
  _cleanup_free_ char *msg = parse_err (b.data, b.len);
  assert_non_null (strstr (msg, "env[19].name"));
  assert_null (strstr (msg, "env[20].name"));
  assert_non_null (strstr (msg, "; and 10 more"));
  veil_buf_free (&b);
}

static void
test_limits (void **state)
{
  (void) state;
  /* oversized */
  size_t n = VEIL_SERVICE_MAX_DOC + 1;
  char *big = xmalloc (n);
  memset (big, '#', n);
  _cleanup_free_ char *m1 = parse_err (big, n);
  assert_non_null (strstr (m1, "exceeds the limit"));
  free (big);

  /* deep nesting, in YAML flow and block style, and in JSON */
  veil_buf_t b = { 0 };
  veil_buf_append_str (&b, "a: ");
  for (int i = 0; i < 200; i++)
    veil_buf_append_str (&b, "[");
  for (int i = 0; i < 200; i++)
    veil_buf_append_str (&b, "]");
  veil_buf_append_str (&b, "\n");
  _cleanup_free_ char *m2 = parse_err (b.data, b.len);
  assert_non_null (strstr (m2, "nesting deeper than"));
  veil_buf_free (&b);
  for (int i = 0; i < 100; i++)
    veil_buf_printf (&b, "%*sk%d:\n", i, "", i);
  _cleanup_free_ char *m3 = parse_err (b.data, b.len);
  assert_non_null (strstr (m3, "nesting deeper than"));
  veil_buf_free (&b);
  for (int i = 0; i < 5000; i++)
    veil_buf_append_str (&b, "[");
  _cleanup_free_ char *m4 = parse_err (b.data, b.len);
  assert_non_null (strstr (m4, "service: "));
  veil_buf_free (&b);

  /* alias bomb ("billion laughs"): refused while loading */
  const char *bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                     "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                     "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                     "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                     "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                     "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
                     "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
                     "i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]\n";
  _cleanup_free_ char *m5 = parse_err (bomb, strlen (bomb));
  assert_non_null (strstr (m5, "aliases count expanded"));
  assert_non_null (strstr (m5, "yaml: line 5"));

  /* many plain nodes */
  for (int i = 0; i < VEIL_SERVICE_MAX_NODES; i++)
    veil_buf_append_str (&b, "- 1\n");
  _cleanup_free_ char *m6 = parse_err (b.data, b.len);
  assert_non_null (strstr (m6, "more than"));
  veil_buf_free (&b);

  /* NUL inside a scalar */
  const char nul[] = "a: \"x\\0y\"\n";
  _cleanup_free_ char *m7 = parse_err (nul, sizeof nul - 1);
  assert_non_null (strstr (m7, "NUL"));
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_hello_yaml),
    cmocka_unit_test (test_hello_json),
    cmocka_unit_test (test_defaults),
    cmocka_unit_test (test_full),
    cmocka_unit_test (test_digest),
    cmocka_unit_test (test_quantities),
    cmocka_unit_test (test_durations),
    cmocka_unit_test (test_names),
    cmocka_unit_test (test_yaml_features),
    cmocka_unit_test (test_bad),
    cmocka_unit_test (test_many_errors),
    cmocka_unit_test (test_limits),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
