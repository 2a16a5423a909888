/* Knative serving.knative.dev/v1 Service: validation into veil_service_t.
 *
 * The checks follow Knative's webhook (pkg/apis/serving/v1) and the
 * Kubernetes core validation it reuses, and the messages take Kubernetes'
 * form, "<field path>: <why>", so that a manifest that works with Knative
 * fails here the same way when it fails.  Every problem is collected (up to
 * VEIL_SERVICE_MAX_ERRORS), not just the first.  Fields that Kubernetes
 * accepts but that mean nothing on one veil node (imagePullPolicy,
 * serviceAccountName, ...) are accepted and ignored; fields whose meaning
 * veil cannot honour yet (volumes, valueFrom, ...) are refused; anything
 * else is an unknown field, as with kubectl's strict field validation. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#include "internal.h"
#include "veil/crypto.h"
#include "veil/image.h"

#define PATHLEN 512
#define MAX_LIST 1024 /* command, args, env entries */
#define MAX_TRAFFIC 100
#define MAX_ANNOTATIONS_SIZE (256u * 1024u) /* Kubernetes TotalAnnotationSizeLimitB */

/* snprintf for field paths: a path longer than PATHLEN is cut, which is
 * fine for a message. */
static void path_fmt (char *out, size_t n, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));

static void
path_fmt (char *out, size_t n, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (out, n, fmt, ap);
  va_end (ap);
}

typedef struct errs
{
  veil_buf_t buf;
  size_t n;
} errs_t;

static void errs_add (errs_t *e, const char *path, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static void
errs_add (errs_t *e, const char *path, const char *fmt, ...)
{
  if (e->n++ >= VEIL_SERVICE_MAX_ERRORS)
    return;
  if (e->buf.len)
    veil_buf_append_str (&e->buf, "; ");
  veil_buf_printf (&e->buf, "%s: ", path);
  va_list ap;
  va_start (ap, fmt);
  _cleanup_free_ char *s = xvasprintf (fmt, ap);
  va_end (ap);
  veil_buf_append_str (&e->buf, s);
}

/* ---- typed getters: null counts as absent, as in Kubernetes ---------- */

static const json_t *
get (const json_t *o, const char *key)
{
  json_t *v = json_is_object (o) ? json_object_get (o, key) : NULL;
  return json_is_null (v) ? NULL : v;
}

static const json_t *
get_obj (errs_t *e, const char *base, const json_t *o, const char *key, bool required)
{
  char path[PATHLEN];
  path_fmt (path, sizeof path, "%s%s%s", base, *base ? "." : "", key);
  const json_t *v = get (o, key);
  if (!v && required)
    errs_add (e, path, "Required value");
  else if (v && !json_is_object (v))
    {
      errs_add (e, path, "Invalid value: must be an object");
      return NULL;
    }
  return v;
}

static const json_t *
get_arr (errs_t *e, const char *base, const json_t *o, const char *key, size_t max)
{
  char path[PATHLEN];
  path_fmt (path, sizeof path, "%s.%s", base, key);
  const json_t *v = get (o, key);
  if (v && !json_is_array (v))
    {
      errs_add (e, path, "Invalid value: must be a list");
      return NULL;
    }
  if (v && json_array_size (v) > max)
    {
      errs_add (e, path, "Too many: %zu: must have at most %zu items", json_array_size (v), max);
      return NULL;
    }
  return v;
}

static const char *
get_str (errs_t *e, const char *base, const json_t *o, const char *key, bool required)
{
  char path[PATHLEN];
  path_fmt (path, sizeof path, "%s%s%s", base, *base ? "." : "", key);
  const json_t *v = get (o, key);
  if (!v)
    {
      if (required)
        errs_add (e, path, "Required value");
      return NULL;
    }
  if (!json_is_string (v))
    {
      errs_add (e, path, "Invalid value: must be a string");
      return NULL;
    }
  if (required && json_string_length (v) == 0)
    {
      errs_add (e, path, "Required value");
      return NULL;
    }
  return json_string_value (v);
}

/* Integer member in [min,max]; *out keeps its default when absent. */
static void
get_int (errs_t *e, const char *base, const json_t *o, const char *key, int min, int max, int *out)
{
  char path[PATHLEN];
  path_fmt (path, sizeof path, "%s.%s", base, key);
  const json_t *v = get (o, key);
  if (!v)
    return;
  if (!json_is_integer (v))
    errs_add (e, path, "Invalid value: must be an integer");
  else if (json_integer_value (v) < min || json_integer_value (v) > max)
    errs_add (e, path, "Invalid value: %" JSON_INTEGER_FORMAT ": must be between %d and %d, inclusive",
              json_integer_value (v), min, max);
  else
    *out = (int) json_integer_value (v);
}

static bool
in_list (const char *key, const char *const *list)
{
  for (; list && *list; list++)
    if (strcmp (key, *list) == 0)
      return true;
  return false;
}

/* known: modelled or harmlessly ignored; refused: meaningful but not
 * supported yet; anything else: unknown. */
static void
check_keys (errs_t *e, const char *base, const json_t *o, const char *const *known,
            const char *const *refused)
{
  const char *key;
  json_t *v;
  json_object_foreach ((json_t *) o, key, v)
  {
    char path[PATHLEN];
    path_fmt (path, sizeof path, "%s%s%.128s", base, *base ? "." : "", key);
    if (in_list (key, known))
      continue;
    if (in_list (key, refused))
      errs_add (e, path, "Forbidden: not supported by veil yet");
    else
      errs_add (e, path, "unknown field");
  }
}

/* ---- names ----------------------------------------------------------- */

static bool
label_char (char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Kubernetes label value / qualified name part:
 * ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9], at most 63 characters. */
static bool
qualified_part (const char *s, size_t n, bool empty_ok)
{
  if (n == 0)
    return empty_ok;
  if (n > 63 || !label_char (s[0]) || !label_char (s[n - 1]))
    return false;
  for (size_t i = 0; i < n; i++)
    if (!label_char (s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
      return false;
  return true;
}

/* DNS-1123 subdomain: labels joined by dots, at most 253 characters. */
static bool
dns_subdomain (const char *s, size_t n)
{
  if (n == 0 || n > 253)
    return false;
  char buf[254];
  memcpy (buf, s, n);
  buf[n] = '\0';
  char *save = NULL;
  size_t seen = 0;
  for (char *l = strtok_r (buf, ".", &save); l; l = strtok_r (NULL, ".", &save))
    {
      if (!veil_service_dns1123_label (l))
        return false;
      seen += strlen (l) + 1;
    }
  return seen == n + 1; /* no empty labels */
}

/* [prefix/]name: the key of a label or annotation. */
static bool
qualified_name (const char *s)
{
  const char *slash = strchr (s, '/');
  if (!slash)
    return qualified_part (s, strlen (s), false);
  return dns_subdomain (s, (size_t) (slash - s)) && qualified_part (slash + 1, strlen (slash + 1), false);
}

/* labels or annotations: an object of strings, copied. */
static json_t *
string_map (errs_t *e, const char *base, const json_t *meta, const char *key, bool labels)
{
  char path[PATHLEN];
  path_fmt (path, sizeof path, "%s.%s", base, key);
  json_t *out = json_object ();
  const json_t *m = get_obj (e, base, meta, key, false);
  if (!m)
    return out;
  size_t total = 0;
  const char *k;
  json_t *v;
  json_object_foreach ((json_t *) m, k, v)
  {
    char kpath[PATHLEN];
    path_fmt (kpath, sizeof kpath, "%s.%.300s", path, k);
    if (!qualified_name (k))
      errs_add (e, path, "Invalid value: '%.64s': not a qualified name ([prefix/]name)", k);
    else if (!json_is_string (v))
      errs_add (e, kpath, "Invalid value: must be a string");
    else if (labels && !qualified_part (json_string_value (v), json_string_length (v), true))
      errs_add (e, kpath, "Invalid value: '%.64s': not a valid label value", json_string_value (v));
    else
      {
        total += strlen (k) + json_string_length (v);
        json_object_set (out, k, v);
      }
  }
  if (total > MAX_ANNOTATIONS_SIZE)
    errs_add (e, path, "Too long: must have at most %u bytes", MAX_ANNOTATIONS_SIZE);
  return out;
}

/* ---- autoscaling.knative.dev annotations ------------------------------ */

#define AS_PREFIX "autoscaling.knative.dev/"

/* The annotation's value, also under its legacy camelCase alias. */
static const char *
as_get (errs_t *e, const char *base, const json_t *ann, const char *key, const char *alias)
{
  char k[128], a[128];
  path_fmt (k, sizeof k, AS_PREFIX "%s", key);
  const char *v = veil_json_str (ann, k);
  if (alias)
    {
      path_fmt (a, sizeof a, AS_PREFIX "%s", alias);
      const char *va = veil_json_str (ann, a);
      if (v && va)
        {
          char path[PATHLEN];
          path_fmt (path, sizeof path, "%s.%s", base, k);
          errs_add (e, path, "Forbidden: conflicts with %s", a);
        }
      if (!v)
        v = va;
    }
  return v;
}

static void
as_double (errs_t *e, const char *base, const json_t *ann, const char *key, const char *alias,
           double min, double max, double *out)
{
  const char *s = as_get (e, base, ann, key, alias);
  if (!s)
    return;
  char path[PATHLEN];
  path_fmt (path, sizeof path, "%s." AS_PREFIX "%s", base, key);
  char *end = NULL;
  errno = 0;
  double d = (*s >= '0' && *s <= '9') || *s == '.' ? strtod (s, &end) : NAN;
  if (errno || !end || *end || !isfinite (d) || d < min || d > max)
    errs_add (e, path, "Invalid value: '%.64s': must be a number between %g and %g", s, min, max);
  else
    *out = d;
}

static void
as_int (errs_t *e, const char *base, const json_t *ann, const char *key, const char *alias,
        int64_t *out)
{
  const char *s = as_get (e, base, ann, key, alias);
  if (!s)
    return;
  char path[PATHLEN];
  path_fmt (path, sizeof path, "%s." AS_PREFIX "%s", base, key);
  int64_t v;
  if (!(*s >= '0' && *s <= '9') || veil_parse_i64 (s, 0, INT32_MAX, &v, NULL) < 0)
    errs_add (e, path, "Invalid value: '%.64s': must be a non-negative integer", s);
  else
    *out = v;
}

static void
as_duration (errs_t *e, const char *base, const json_t *ann, const char *key, int64_t min_ms,
             int64_t max_ms, int64_t *out)
{
  const char *s = as_get (e, base, ann, key, NULL);
  if (!s)
    return;
  char path[PATHLEN];
  path_fmt (path, sizeof path, "%s." AS_PREFIX "%s", base, key);
  int64_t ms;
  if (veil_service_duration_ms (s, &ms, NULL) < 0 || ms < min_ms || ms > max_ms)
    errs_add (e, path, "Invalid value: '%.64s': must be a duration between %" PRId64 "s and %" PRId64 "s", s,
              min_ms / 1000, max_ms / 1000);
  else
    *out = ms;
}

static void
autoscaling (errs_t *e, const char *base, const json_t *ann, veil_service_autoscaling_t *as)
{
  *as = (veil_service_autoscaling_t){
    .min_scale = -1, .max_scale = -1, .initial_scale = -1, .window_ms = -1, .scale_down_delay_ms = -1
  };
  char path[PATHLEN];
  const char *cls = as_get (e, base, ann, "class", NULL);
  path_fmt (path, sizeof path, "%s." AS_PREFIX "class", base);
  if (cls && strcmp (cls, "kpa.autoscaling.knative.dev") != 0)
    errs_add (e, path, "Unsupported value: \"%.64s\": supported values: \"kpa.autoscaling.knative.dev\"", cls);
  const char *metric = as_get (e, base, ann, "metric", NULL);
  path_fmt (path, sizeof path, "%s." AS_PREFIX "metric", base);
  if (metric && strcmp (metric, "rps") == 0)
    as->metric_rps = true;
  else if (metric && strcmp (metric, "concurrency") != 0)
    errs_add (e, path, "Unsupported value: \"%.64s\": supported values: \"concurrency\", \"rps\"", metric);
  as_double (e, base, ann, "target", NULL, 0.01, 1e9, &as->target);
  as_double (e, base, ann, "target-utilization-percentage", "targetUtilizationPercentage", 1, 100,
             &as->target_utilization);
  as_int (e, base, ann, "min-scale", "minScale", &as->min_scale);
  as_int (e, base, ann, "max-scale", "maxScale", &as->max_scale);
  as_int (e, base, ann, "initial-scale", "initialScale", &as->initial_scale);
  as_duration (e, base, ann, "window", 6000, 3600000, &as->window_ms);
  as_double (e, base, ann, "panic-window-percentage", "panicWindowPercentage", 1, 100,
             &as->panic_window_percentage);
  as_double (e, base, ann, "panic-threshold-percentage", "panicThresholdPercentage", 110, 1000,
             &as->panic_threshold_percentage);
  as_duration (e, base, ann, "scale-down-delay", 0, 3600000, &as->scale_down_delay_ms);
  path_fmt (path, sizeof path, "%s." AS_PREFIX "max-scale", base);
  if (as->max_scale > 0 && as->min_scale > as->max_scale)
    errs_add (e, path, "Invalid value: %" PRId64 ": must be greater than or equal to min-scale %" PRId64,
              as->max_scale, as->min_scale);
}

/* ---- container -------------------------------------------------------- */

static char **
string_list (errs_t *e, const char *base, const json_t *c, const char *key, size_t *n)
{
  *n = 0;
  const json_t *a = get_arr (e, base, c, key, MAX_LIST);
  if (!a || json_array_size (a) == 0)
    return NULL;
  char **out = xcalloc (json_array_size (a) + 1, sizeof (char *));
  size_t i;
  json_t *v;
  json_array_foreach (a, i, v)
  {
    if (!json_is_string (v))
      {
        char path[PATHLEN];
        path_fmt (path, sizeof path, "%s.%s[%zu]", base, key, i);
        errs_add (e, path, "Invalid value: must be a string");
        continue;
      }
    out[(*n)++] = xstrdup (json_string_value (v));
  }
  return out;
}

static void
container_image (errs_t *e, const char *base, const json_t *c, veil_service_container_t *ct)
{
  const char *image = get_str (e, base, c, "image", true);
  if (!image)
    return;
  char path[PATHLEN];
  path_fmt (path, sizeof path, "%s.image", base);
  veil_image_ref_t ref;
  _cleanup_error_ veil_error_t *ierr = NULL;
  if (veil_image_ref_parse (image, &ref, &ierr) < 0)
    {
      errs_add (e, path, "Invalid value: '%.128s': %s", image, ierr->msg);
      return;
    }
  /* a tenant must not name a directory of the node */
  if (ref.kind != VEIL_REF_REGISTRY)
    errs_add (e, path, "Invalid value: '%.128s': must name a registry image", image);
  else
    ct->image = xstrdup (image);
  veil_image_ref_clear (&ref);
}

static void
container_env (errs_t *e, const char *base, const json_t *c, veil_service_container_t *ct)
{
  static const char *const reserved[] = { "PORT", "K_SERVICE", "K_CONFIGURATION", "K_REVISION", NULL };
  static const char *const known[] = { "name", "value", NULL };
  static const char *const refused[] = { "valueFrom", NULL };
  const json_t *a = get_arr (e, base, c, "env", MAX_LIST);
  if (!a || json_array_size (a) == 0)
    return;
  ct->env = xcalloc (json_array_size (a), sizeof (*ct->env));
  size_t i;
  json_t *v;
  json_array_foreach (a, i, v)
  {
    char path[PATHLEN];
    path_fmt (path, sizeof path, "%s.env[%zu]", base, i);
    if (!json_is_object (v))
      {
        errs_add (e, path, "Invalid value: must be an object");
        continue;
      }
    check_keys (e, path, v, known, refused);
    const char *name = get_str (e, path, v, "name", true);
    const char *value = get_str (e, path, v, "value", false);
    if (!name)
      continue;
    char npath[PATHLEN];
    path_fmt (npath, sizeof npath, "%s.name", path);
    if (strchr (name, '='))
      errs_add (e, npath, "Invalid value: '%.64s': must not contain '='", name);
    else if (in_list (name, reserved))
      errs_add (e, npath, "Invalid value: '%.64s': is a reserved environment variable", name);
    else
      {
        ct->env[ct->n_env].name = xstrdup (name);
        ct->env[ct->n_env++].value = xstrdup (value ? value : "");
      }
  }
}

static void
container_ports (errs_t *e, const char *base, const json_t *c, veil_service_container_t *ct)
{
  static const char *const known[] = { "containerPort", "name", "protocol", NULL };
  static const char *const refused[] = { "hostPort", "hostIP", NULL };
  ct->port = VEIL_SERVICE_DEFAULT_PORT;
  char path[PATHLEN];
  path_fmt (path, sizeof path, "%s.ports", base);
  const json_t *a = get_arr (e, base, c, "ports", MAX_LIST);
  if (!a || json_array_size (a) == 0)
    return;
  if (json_array_size (a) > 1)
    {
      errs_add (e, path, "Too many: %zu: must have at most one port", json_array_size (a));
      return;
    }
  const json_t *p = json_array_get (a, 0);
  path_fmt (path, sizeof path, "%s.ports[0]", base);
  if (!json_is_object (p))
    {
      errs_add (e, path, "Invalid value: must be an object");
      return;
    }
  check_keys (e, path, p, known, refused);
  if (!get (p, "containerPort"))
    errs_add (e, path, "Required value: containerPort");
  get_int (e, path, p, "containerPort", 1, 65535, &ct->port);
  const char *name = get_str (e, path, p, "name", false);
  char fpath[PATHLEN];
  path_fmt (fpath, sizeof fpath, "%s.name", path);
  if (name && *name && strcmp (name, "http1") != 0 && strcmp (name, "h2c") != 0)
    errs_add (e, fpath, "Unsupported value: \"%.64s\": supported values: \"http1\", \"h2c\"", name);
  ct->h2c = name && strcmp (name, "h2c") == 0;
  const char *proto = get_str (e, path, p, "protocol", false);
  path_fmt (fpath, sizeof fpath, "%s.protocol", path);
  if (proto && strcmp (proto, "TCP") != 0)
    errs_add (e, fpath, "Unsupported value: \"%.64s\": supported values: \"TCP\"", proto);
}

static void
resource_list (errs_t *e, const char *base, const json_t *res, const char *key, veil_service_resources_t *out)
{
  static const char *const known[] = { "cpu", "memory", "ephemeral-storage", NULL };
  const json_t *l = get_obj (e, base, res, key, false);
  if (!l)
    return;
  char path[PATHLEN];
  path_fmt (path, sizeof path, "%s.%s", base, key);
  check_keys (e, path, l, known, NULL);
  for (int i = 0; i < 2; i++)
    {
      const char *name = i ? "cpu" : "memory";
      const json_t *v = get (l, name);
      if (!v)
        continue;
      char qpath[PATHLEN], num[64];
      path_fmt (qpath, sizeof qpath, "%s.%s", path, name);
      /* resource.Quantity also unmarshals from a JSON number */
      const char *s = json_is_string (v) ? json_string_value (v) : NULL;
      if (json_is_integer (v))
        {
          path_fmt (num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value (v));
          s = num;
        }
      else if (json_is_real (v))
        {
          path_fmt (num, sizeof num, "%.9f", json_real_value (v));
          s = num;
        }
      _cleanup_error_ veil_error_t *qerr = NULL;
      int64_t q = 0;
      int r = !s  ? veil_error_set (&qerr, EINVAL, "must be a quantity")
              : i ? veil_service_quantity_millis (s, &q, &qerr)
                  : veil_service_quantity_bytes (s, &q, &qerr);
      if (r < 0)
        errs_add (e, qpath, "Invalid value: %s", qerr->msg);
      else if (i)
        out->cpu_millis = q;
      else
        out->memory_bytes = q;
    }
}

static void
container_resources (errs_t *e, const char *base, const json_t *c, veil_service_container_t *ct)
{
  static const char *const known[] = { "limits", "requests", NULL };
  static const char *const refused[] = { "claims", NULL };
  const json_t *r = get_obj (e, base, c, "resources", false);
  if (!r)
    return;
  char path[PATHLEN];
  path_fmt (path, sizeof path, "%s.resources", base);
  check_keys (e, path, r, known, refused);
  resource_list (e, path, r, "limits", &ct->limits);
  resource_list (e, path, r, "requests", &ct->requests);
  if (ct->limits.memory_bytes && ct->requests.memory_bytes > ct->limits.memory_bytes)
    errs_add (e, path, "Invalid value: requests.memory: must be less than or equal to memory limit");
  if (ct->limits.cpu_millis && ct->requests.cpu_millis > ct->limits.cpu_millis)
    errs_add (e, path, "Invalid value: requests.cpu: must be less than or equal to cpu limit");
}

/* The probe port, when given, must be the container's: veil probes the
 * port it routes to. */
static void
probe_port (errs_t *e, const char *base, const json_t *h, int container_port)
{
  const json_t *p = get (h, "port");
  if (!p)
    return;
  char path[PATHLEN];
  path_fmt (path, sizeof path, "%s.port", base);
  if (!json_is_integer (p) || json_integer_value (p) != container_port)
    errs_add (e, path, "Invalid value: may only be the container port %d", container_port);
}

static void
probe_handler (errs_t *e, const char *path, const json_t *probe, veil_service_container_t *ct)
{
  static const char *const tcp_known[] = { "port", "host", NULL };
  static const char *const http_known[] = { "path", "port", "scheme", "httpHeaders", "host", NULL };
  veil_service_probe_t *p = &ct->readiness;
  const json_t *tcp = get_obj (e, path, probe, "tcpSocket", false);
  const json_t *http = get_obj (e, path, probe, "httpGet", false);
  char hpath[PATHLEN];
  if (tcp && http)
    errs_add (e, path, "Forbidden: may not specify more than 1 handler type");
  if (tcp)
    {
      path_fmt (hpath, sizeof hpath, "%s.tcpSocket", path);
      check_keys (e, hpath, tcp, tcp_known, NULL);
      probe_port (e, hpath, tcp, ct->port);
    }
  else if (http)
    {
      path_fmt (hpath, sizeof hpath, "%s.httpGet", path);
      check_keys (e, hpath, http, http_known, NULL);
      probe_port (e, hpath, http, ct->port);
      const char *hp = get_str (e, hpath, http, "path", false);
      const char *scheme = get_str (e, hpath, http, "scheme", false);
      char fpath[PATHLEN];
      path_fmt (fpath, sizeof fpath, "%s.path", hpath);
      if (hp && *hp && *hp != '/')
        errs_add (e, fpath, "Invalid value: '%.64s': must start with '/'", hp);
      path_fmt (fpath, sizeof fpath, "%s.scheme", hpath);
      if (scheme && strcmp (scheme, "HTTP") != 0 && strcmp (scheme, "HTTPS") != 0)
        errs_add (e, fpath, "Unsupported value: \"%.64s\": supported values: \"HTTP\", \"HTTPS\"", scheme);
      p->kind = VEIL_PROBE_HTTP;
      p->path = xstrdup (hp && *hp ? hp : "/");
      p->https = scheme && strcmp (scheme, "HTTPS") == 0;
    }
}

static void
container_probe (errs_t *e, const char *base, const json_t *c, veil_service_container_t *ct)
{
  static const char *const known[] = { "tcpSocket", "httpGet", "periodSeconds", "timeoutSeconds",
                                       "initialDelaySeconds", "failureThreshold", "successThreshold",
                                       "terminationGracePeriodSeconds", NULL };
  static const char *const refused[] = { "exec", "grpc", NULL };
  veil_service_probe_t *p = &ct->readiness;
  *p = (veil_service_probe_t){ .kind = VEIL_PROBE_TCP, .timeout_seconds = 1, .failure_threshold = 3, .success_threshold = 1 };
  const json_t *probe = get_obj (e, base, c, "readinessProbe", false);
  if (!probe)
    return;
  char path[PATHLEN];
  path_fmt (path, sizeof path, "%s.readinessProbe", base);
  check_keys (e, path, probe, known, refused);
  probe_handler (e, path, probe, ct);
  get_int (e, path, probe, "periodSeconds", 0, 3600, &p->period_seconds);
  get_int (e, path, probe, "timeoutSeconds", 1, 3600, &p->timeout_seconds);
  get_int (e, path, probe, "initialDelaySeconds", 0, 3600, &p->initial_delay_seconds);
  get_int (e, path, probe, "failureThreshold", 1, 1000, &p->failure_threshold);
  get_int (e, path, probe, "successThreshold", 1, 1000, &p->success_threshold);
}

static void
container (errs_t *e, const char *base, const json_t *c, veil_service_container_t *ct)
{
  static const char *const known[] = { "name", "image", "command", "args", "env", "ports", "resources",
                                       "workingDir", "readinessProbe", "imagePullPolicy", "securityContext",
                                       "livenessProbe", "startupProbe", "terminationMessagePath",
                                       "terminationMessagePolicy", NULL };
  static const char *const refused[] = { "volumeMounts", "envFrom", "lifecycle", "stdin", "stdinOnce", "tty",
                                         "volumeDevices", NULL };
  if (!json_is_object (c))
    {
      errs_add (e, base, "Invalid value: must be an object");
      return;
    }
  check_keys (e, base, c, known, refused);
  const char *name = get_str (e, base, c, "name", false);
  char path[PATHLEN];
  path_fmt (path, sizeof path, "%s.name", base);
  if (name && *name && !veil_service_dns1123_label (name))
    errs_add (e, path, "Invalid value: '%.64s' is not a DNS-1123 label", name);
  else if (name && *name)
    ct->name = xstrdup (name);
  container_image (e, base, c, ct);
  ct->command = string_list (e, base, c, "command", &ct->n_command);
  ct->args = string_list (e, base, c, "args", &ct->n_args);
  container_env (e, base, c, ct);
  container_ports (e, base, c, ct);
  container_resources (e, base, c, ct);
  container_probe (e, base, c, ct);
  const char *wd = get_str (e, base, c, "workingDir", false);
  path_fmt (path, sizeof path, "%s.workingDir", base);
  if (wd && *wd && *wd != '/')
    errs_add (e, path, "Invalid value: '%.64s': must be an absolute path", wd);
  else if (wd && *wd)
    ct->working_dir = xstrdup (wd);
}

/* ---- template ----------------------------------------------------------- */

static void
template_spec (errs_t *e, const json_t *spec, veil_service_t *svc)
{
  static const char *const known[] = {
    "containers", "containerConcurrency", "timeoutSeconds", "runtimeClassName",
    "responseStartTimeoutSeconds", "idleTimeoutSeconds", "serviceAccountName", "enableServiceLinks",
    "imagePullSecrets", "automountServiceAccountToken", "nodeSelector", "affinity", "tolerations",
    "securityContext", "schedulerName", "priorityClassName", "dnsPolicy", "dnsConfig",
    "topologySpreadConstraints", "hostAliases", NULL
  };
  static const char *const refused[] = { "volumes", "initContainers", NULL };
  static const char *const classes[] = { "runc", "container", "kata", "microvm", "kata-snp",
                                         "kata-tdx", "kata-sim", "confidential", NULL };
  const char *base = "spec.template.spec";
  check_keys (e, base, spec, known, refused);
  svc->timeout_seconds = VEIL_SERVICE_DEFAULT_TIMEOUT;
  get_int (e, base, spec, "containerConcurrency", 0, 1000, &svc->container_concurrency);
  get_int (e, base, spec, "timeoutSeconds", 1, 3600, &svc->timeout_seconds);
  const char *rc = get_str (e, base, spec, "runtimeClassName", false);
  if (rc && !in_list (rc, classes))
    errs_add (e, "spec.template.spec.runtimeClassName",
              "Unsupported value: \"%.64s\": supported values: \"runc\", \"container\", \"kata\", "
              "\"microvm\", \"kata-snp\", \"kata-tdx\", \"kata-sim\", \"confidential\"",
              rc);
  else if (rc)
    svc->runtime_class_name = xstrdup (rc);
  const json_t *cs = get_arr (e, base, spec, "containers", MAX_LIST);
  if (!cs || json_array_size (cs) == 0)
    {
      if (!get (spec, "containers"))
        errs_add (e, "spec.template.spec.containers", "Required value");
      else if (cs)
        errs_add (e, "spec.template.spec.containers", "Required value: one container");
      return;
    }
  if (json_array_size (cs) > 1)
    {
      errs_add (e, "spec.template.spec.containers",
                "Too many: %zu: veil runs exactly one container per revision (sidecars are not supported yet)",
                json_array_size (cs));
      return;
    }
  container (e, "spec.template.spec.containers[0]", json_array_get (cs, 0), &svc->container);
}

static void template(errs_t *e, const json_t *tmpl, veil_service_t *svc)
{
  static const char *const known[] = { "metadata", "spec", NULL };
  static const char *const meta_known[] = { "name", "labels", "annotations", "namespace",
                                            "creationTimestamp", "generateName", NULL };
  check_keys (e, "spec.template", tmpl, known, NULL);
  const json_t *meta = get_obj (e, "spec.template", tmpl, "metadata", false);
  if (meta)
    check_keys (e, "spec.template.metadata", meta, meta_known, NULL);
  const char *rev = get_str (e, "spec.template.metadata", meta, "name", false);
  if (rev && *rev)
    {
      size_t n = svc->name ? strlen (svc->name) : 0;
      if (!veil_service_dns1035_label (rev))
        errs_add (e, "spec.template.metadata.name", "'%.64s' is not a DNS-1035 label", rev);
      /* Knative: a revision named by the user carries the service's name */
      else if (svc->name && (strncmp (rev, svc->name, n) != 0 || rev[n] != '-' || rev[n + 1] == '\0'))
        errs_add (e, "spec.template.metadata.name", "Invalid value: '%.64s': must have prefix '%s-'", rev, svc->name);
      else
        svc->revision_name = xstrdup (rev);
    }
  svc->template_labels = string_map (e, "spec.template.metadata", meta, "labels", true);
  svc->template_annotations = string_map (e, "spec.template.metadata", meta, "annotations", false);
  autoscaling (e, "spec.template.metadata.annotations", svc->template_annotations, &svc->autoscaling);
  const json_t *spec = get_obj (e, "spec.template", tmpl, "spec", true);
  if (spec)
    template_spec (e, spec, svc);
}

/* ---- traffic ------------------------------------------------------------ */

static void
traffic_target (errs_t *e, const char *path, const json_t *t, veil_service_t *svc, veil_service_traffic_t *out)
{
  static const char *const known[] = { "revisionName", "latestRevision", "percent", "tag", "url", NULL };
  static const char *const refused[] = { "configurationName", NULL };
  check_keys (e, path, t, known, refused);
  char fpath[PATHLEN];
  const char *rev = get_str (e, path, t, "revisionName", false);
  const json_t *latest = get (t, "latestRevision");
  path_fmt (fpath, sizeof fpath, "%s.latestRevision", path);
  if (latest && !json_is_boolean (latest))
    errs_add (e, fpath, "Invalid value: must be a boolean");
  bool is_latest = json_is_true (latest);
  if (rev && *rev && is_latest)
    errs_add (e, path, "expected exactly one, got both: latestRevision, revisionName");
  else if (!(rev && *rev) && !is_latest)
    errs_add (e, path, "expected exactly one, got neither: latestRevision, revisionName");
  path_fmt (fpath, sizeof fpath, "%s.revisionName", path);
  if (rev && *rev && !veil_service_dns1123_label (rev))
    errs_add (e, fpath, "'%.64s' is not a DNS-1123 label", rev);
  out->latest_revision = is_latest;
  out->revision_name = rev && *rev && !is_latest ? xstrdup (rev) : NULL;
  get_int (e, path, t, "percent", 0, 100, &out->percent);
  const char *tag = get_str (e, path, t, "tag", false);
  path_fmt (fpath, sizeof fpath, "%s.tag", path);
  if (tag && *tag && !veil_service_dns1035_label (tag))
    errs_add (e, fpath, "'%.64s' is not a DNS-1035 label", tag);
  /* the tag's host is <tag>-<service>.<namespace>.<domain> */
  else if (tag && *tag && svc->name && strlen (tag) + 1 + strlen (svc->name) > 63)
    errs_add (e, fpath, "Invalid value: '%.64s': '<tag>-<service>' is longer than 63 characters", tag);
  else if (tag && *tag)
    out->tag = xstrdup (tag);
}

static void
traffic (errs_t *e, const json_t *spec, veil_service_t *svc)
{
  const json_t *a = get_arr (e, "spec", spec, "traffic", MAX_TRAFFIC);
  if (!a)
    {
      if (get (spec, "traffic"))
        return;
      svc->traffic = xcalloc (1, sizeof (*svc->traffic));
      svc->traffic[0] = (veil_service_traffic_t){ .latest_revision = true, .percent = 100 };
      svc->n_traffic = 1;
      return;
    }
  svc->traffic = xcalloc (json_array_size (a) + 1, sizeof (*svc->traffic));
  int sum = 0;
  size_t i;
  json_t *t;
  json_array_foreach (a, i, t)
  {
    char path[PATHLEN];
    path_fmt (path, sizeof path, "spec.traffic[%zu]", i);
    if (!json_is_object (t))
      {
        errs_add (e, path, "Invalid value: must be an object");
        continue;
      }
    veil_service_traffic_t *out = &svc->traffic[svc->n_traffic++];
    traffic_target (e, path, t, svc, out);
    sum += out->percent;
    for (size_t j = 0; out->tag && j + 1 < svc->n_traffic; j++)
      if (svc->traffic[j].tag && strcmp (svc->traffic[j].tag, out->tag) == 0)
        {
          char tpath[PATHLEN];
          path_fmt (tpath, sizeof tpath, "%s.tag", path);
          errs_add (e, tpath, "Duplicate value: \"%s\"", out->tag);
        }
  }
  if (sum != 100)
    errs_add (e, "spec.traffic", "percents sum to %d, must be 100", sum);
}

/* ---- the Service ------------------------------------------------------- */

static void
metadata (errs_t *e, const json_t *meta, veil_service_t *svc)
{
  static const char *const known[] = { "name", "namespace", "labels", "annotations", "uid",
                                       "resourceVersion", "generation", "creationTimestamp",
                                       "managedFields", "finalizers", "ownerReferences", "selfLink",
                                       "deletionTimestamp", "deletionGracePeriodSeconds", NULL };
  static const char *const refused[] = { "generateName", NULL };
  check_keys (e, "metadata", meta, known, refused);
  const char *name = get_str (e, "metadata", meta, "name", true);
  if (name && !veil_service_dns1035_label (name))
    errs_add (e, "metadata.name", "'%.64s' is not a DNS-1035 label", name);
  else if (name)
    svc->name = xstrdup (name);
  const char *ns = get_str (e, "metadata", meta, "namespace", false);
  if (ns && *ns && !veil_service_dns1123_label (ns))
    errs_add (e, "metadata.namespace", "'%.64s' is not a DNS-1123 label", ns);
  svc->namespace = xstrdup (ns && *ns ? ns : "default");
  svc->labels = string_map (e, "metadata", meta, "labels", true);
  svc->annotations = string_map (e, "metadata", meta, "annotations", false);
}

static void
service (errs_t *e, const json_t *doc, veil_service_t *svc)
{
  static const char *const known[] = { "apiVersion", "kind", "metadata", "spec", "status", NULL };
  check_keys (e, "", doc, known, NULL);
  const char *api = get_str (e, "", doc, "apiVersion", true);
  if (api && strcmp (api, "serving.knative.dev/v1") != 0)
    errs_add (e, "apiVersion", "Unsupported value: \"%.64s\": supported values: \"serving.knative.dev/v1\"", api);
  const char *kind = get_str (e, "", doc, "kind", true);
  if (kind && strcmp (kind, "Service") != 0)
    errs_add (e, "kind", "Unsupported value: \"%.64s\": supported values: \"Service\"", kind);
  const json_t *meta = get_obj (e, "", doc, "metadata", true);
  if (meta)
    metadata (e, meta, svc);
  const json_t *spec = get_obj (e, "", doc, "spec", true);
  if (!spec)
    return;
  check_keys (e, "spec", spec, (const char *const[]){ "template", "traffic", NULL }, NULL);
  const json_t *tmpl = get_obj (e, "spec", spec, "template", true);
  if (tmpl)
    template(e, tmpl, svc);
  traffic (e, spec, svc);
}

int
veil_service_from_json (const json_t *doc, veil_service_t **out, veil_error_t **err)
{
  if (!json_is_object (doc))
    return veil_error_set (err, EINVAL, "service: the manifest must be an object");
  errs_t e = { 0 };
  veil_service_t *svc = xcalloc (1, sizeof (*svc));
  service (&e, doc, svc);
  if (e.n == 0)
    {
      *out = svc;
      return 0;
    }
  veil_service_free (svc);
  if (e.n > VEIL_SERVICE_MAX_ERRORS)
    veil_buf_printf (&e.buf, "; and %zu more", e.n - VEIL_SERVICE_MAX_ERRORS);
  int r = veil_error_set (err, EINVAL, "%s", veil_buf_cstr (&e.buf));
  veil_buf_free (&e.buf);
  return r;
}

int
veil_service_parse (const void *data, size_t len, veil_service_t **out, veil_error_t **err)
{
  if (len > VEIL_SERVICE_MAX_DOC)
    return veil_error_set (err, E2BIG, "service: manifest of %zu bytes exceeds the limit of %u", len,
                           VEIL_SERVICE_MAX_DOC);
  const char *p = data;
  size_t i = 0;
  while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
    i++;
  _cleanup_json_ json_t *doc = i < len && p[i] == '{'
                                   ? veil_json_parse (data, len, VEIL_SERVICE_MAX_DOC, err)
                                   : veil_serving_yaml_load (data, len, err);
  if (!doc)
    return veil_error_wrap (err, "service");
  return veil_service_from_json (doc, out, err);
}

static void
free_strv (char **v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free (v[i]);
  free (v);
}

void
veil_service_free (veil_service_t *svc)
{
  if (!svc)
    return;
  veil_service_container_t *c = &svc->container;
  free (c->name);
  free (c->image);
  free_strv (c->command, c->n_command);
  free_strv (c->args, c->n_args);
  for (size_t i = 0; i < c->n_env; i++)
    {
      free (c->env[i].name);
      free (c->env[i].value);
    }
  free (c->env);
  free (c->working_dir);
  free (c->readiness.path);
  for (size_t i = 0; i < svc->n_traffic; i++)
    {
      free (svc->traffic[i].revision_name);
      free (svc->traffic[i].tag);
    }
  free (svc->traffic);
  free (svc->name);
  free (svc->namespace);
  free (svc->revision_name);
  free (svc->runtime_class_name);
  json_decref (svc->labels);
  json_decref (svc->annotations);
  json_decref (svc->template_labels);
  json_decref (svc->template_annotations);
  free (svc);
}

/* ---- canonical template, digest, revision names ------------------------- */

static json_t *
strv_json (char **v, size_t n)
{
  json_t *a = json_array ();
  for (size_t i = 0; i < n; i++)
    json_array_append_new (a, json_string (v[i]));
  return a;
}

static json_t *
resources_json (const veil_service_resources_t *r)
{
  json_t *o = json_object ();
  if (r->memory_bytes)
    json_object_set_new (o, "memory", json_sprintf ("%" PRId64, r->memory_bytes));
  if (r->cpu_millis)
    json_object_set_new (o, "cpu", json_sprintf ("%" PRId64 "m", r->cpu_millis));
  return o;
}

static json_t *
probe_json (const veil_service_probe_t *p)
{
  json_t *o = json_pack ("{s:i, s:i, s:i, s:i, s:i}", "periodSeconds", p->period_seconds, "timeoutSeconds",
                         p->timeout_seconds, "initialDelaySeconds", p->initial_delay_seconds,
                         "failureThreshold", p->failure_threshold, "successThreshold", p->success_threshold);
  if (p->kind == VEIL_PROBE_HTTP)
    json_object_set_new (o, "httpGet", json_pack ("{s:s, s:s}", "path", p->path, "scheme", p->https ? "HTTPS" : "HTTP"));
  else
    json_object_set_new (o, "tcpSocket", json_object ());
  return o;
}

static json_t *
container_json (const veil_service_container_t *c)
{
  json_t *o = json_object ();
  if (c->name)
    json_object_set_new (o, "name", json_string (c->name));
  json_object_set_new (o, "image", json_string (c->image));
  if (c->n_command)
    json_object_set_new (o, "command", strv_json (c->command, c->n_command));
  if (c->n_args)
    json_object_set_new (o, "args", strv_json (c->args, c->n_args));
  if (c->n_env)
    {
      json_t *env = json_array ();
      for (size_t i = 0; i < c->n_env; i++)
        json_array_append_new (env, json_pack ("{s:s, s:s}", "name", c->env[i].name, "value", c->env[i].value));
      json_object_set_new (o, "env", env);
    }
  json_t *port = json_pack ("{s:i}", "containerPort", c->port);
  if (c->h2c)
    json_object_set_new (port, "name", json_string ("h2c"));
  json_object_set_new (o, "ports", json_pack ("[o]", port));
  if (c->working_dir)
    json_object_set_new (o, "workingDir", json_string (c->working_dir));
  json_object_set_new (o, "resources", json_pack ("{s:o, s:o}", "limits", resources_json (&c->limits), "requests", resources_json (&c->requests)));
  json_object_set_new (o, "readinessProbe", probe_json (&c->readiness));
  return o;
}

json_t *
veil_service_template_canonical (const veil_service_t *svc)
{
  json_t *meta = json_pack ("{s:O, s:O}", "labels", svc->template_labels, "annotations", svc->template_annotations);
  if (svc->revision_name)
    json_object_set_new (meta, "name", json_string (svc->revision_name));
  json_t *spec = json_pack ("{s:i, s:i, s:[o]}", "containerConcurrency", svc->container_concurrency,
                            "timeoutSeconds", svc->timeout_seconds, "containers", container_json (&svc->container));
  if (svc->runtime_class_name)
    json_object_set_new (spec, "runtimeClassName", json_string (svc->runtime_class_name));
  return json_pack ("{s:o, s:o}", "metadata", meta, "spec", spec);
}

char *
veil_service_template_digest (const veil_service_t *svc, veil_error_t **err)
{
  _cleanup_json_ json_t *t = veil_service_template_canonical (svc);
  _cleanup_free_ char *jcs = veil_jcs (t, err);
  if (!jcs)
    {
      veil_error_wrap (err, "service: template digest");
      return NULL;
    }
  uint8_t d[VEIL_SHA256_LEN];
  veil_sha256 (jcs, strlen (jcs), d);
  _cleanup_free_ char *hex = veil_hex_encode (d, sizeof d);
  return xasprintf ("sha256:%s", hex);
}

char *
veil_service_revision_name (const veil_service_t *svc, unsigned generation)
{
  if (svc->revision_name)
    return xstrdup (svc->revision_name);
  return xasprintf ("%s-%05u", svc->name, generation);
}
