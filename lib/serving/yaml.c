/* One YAML document to a jansson value, through libyaml's event API.
 *
 * A manifest comes from a tenant, so the loader is bounded: document size,
 * nesting depth, and node count.  Aliases are resolved by sharing the
 * anchored value (json_incref), but each alias counts as every node it
 * stands for, so that a "billion laughs" document is refused as soon as its
 * expansion passes VEIL_SERVICE_MAX_NODES, before anything walks it.
 * Scalars follow the YAML 1.2 core schema; duplicate keys are refused as
 * Kubernetes' strict decoding does. */
#include <math.h>
#include <stdio.h>
#include <yaml.h>

#include "internal.h"

#define MAX_ANCHORS 1024

typedef struct frame
{
  json_t *node; /* object or array under construction */
  char *key;    /* pending key of a mapping */
  size_t first_node;
  char *anchor;
} frame_t;

typedef struct anchor
{
  char *name;
  json_t *node;
  size_t size;
} anchor_t;

typedef struct loader
{
  frame_t stack[VEIL_SERVICE_MAX_DEPTH];
  size_t depth;
  anchor_t anchors[MAX_ANCHORS];
  size_t n_anchors;
  size_t nodes;
  size_t docs;
  json_t *root;
} loader_t;

static int
fail (veil_error_t **err, const yaml_mark_t *m, const char *why)
{
  return veil_error_set (err, EBADMSG, "yaml: line %zu column %zu: %s", m->line + 1, m->column + 1, why);
}

static void
loader_clear (loader_t *l)
{
  for (size_t i = 0; i < l->depth; i++)
    {
      json_decref (l->stack[i].node);
      free (l->stack[i].key);
      free (l->stack[i].anchor);
    }
  for (size_t i = 0; i < l->n_anchors; i++)
    {
      free (l->anchors[i].name);
      json_decref (l->anchors[i].node);
    }
  json_decref (l->root);
}

static bool
all_digits (const char *s, size_t n, const char *set)
{
  if (n == 0)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!strchr (set, s[i]) || s[i] == '\0')
      return false;
  return true;
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static bool
is_float (const char *s, size_t n)
{
  size_t i = 0, digits = 0;
  if (i < n && (s[i] == '-' || s[i] == '+'))
    i++;
  while (i < n && s[i] >= '0' && s[i] <= '9')
    i++, digits++;
  if (i < n && s[i] == '.')
    {
      i++;
      while (i < n && s[i] >= '0' && s[i] <= '9')
        i++, digits++;
    }
  if (digits == 0)
    return false;
  if (i < n && (s[i] == 'e' || s[i] == 'E'))
    {
      i++;
      if (i < n && (s[i] == '-' || s[i] == '+'))
        i++;
      if (!all_digits (s + i, n - i, "0123456789"))
        return false;
      return true;
    }
  return i == n;
}

static json_t *
parse_int (const char *s, int base)
{
  errno = 0;
  char *end = NULL;
  long long v = strtoll (s, &end, base);
  if (errno || !end || *end)
    return NULL;
  return json_integer (v);
}

/* YAML 1.2 core schema (§10.3.2) for plain scalars. */
static json_t *
resolve_plain (const char *s, size_t n)
{
  static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (nulls); i++)
    if (strcmp (s, nulls[i]) == 0)
      return json_null ();
  if (!strcmp (s, "true") || !strcmp (s, "True") || !strcmp (s, "TRUE"))
    return json_true ();
  if (!strcmp (s, "false") || !strcmp (s, "False") || !strcmp (s, "FALSE"))
    return json_false ();
  json_t *v = NULL;
  size_t sign = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  if (all_digits (s + sign, n - sign, "0123456789"))
    v = parse_int (s, 10);
  else if (n > 2 && s[0] == '0' && s[1] == 'o' && all_digits (s + 2, n - 2, "01234567"))
    v = parse_int (s + 2, 8);
  else if (n > 2 && s[0] == '0' && s[1] == 'x' && all_digits (s + 2, n - 2, "0123456789abcdefABCDEF"))
    v = parse_int (s + 2, 16);
  if (v)
    return v;
  if (is_float (s, n))
    {
      double d = strtod (s, NULL);
      if (isfinite (d))
        return json_real (d);
    }
  return json_stringn (s, n);
}

static json_t *
scalar_value (const yaml_event_t *ev, veil_error_t **err)
{
  const char *s = (const char *) ev->data.scalar.value;
  size_t n = ev->data.scalar.length;
  if (memchr (s, '\0', n))
    {
      fail (err, &ev->start_mark, "NUL character in a scalar");
      return NULL;
    }
  const char *tag = (const char *) ev->data.scalar.tag;
  bool is_str = !ev->data.scalar.plain_implicit
                || (tag && (strcmp (tag, YAML_STR_TAG) == 0 || strcmp (tag, "!") == 0));
  json_t *v = is_str ? json_stringn (s, n) : resolve_plain (s, n);
  if (!v)
    fail (err, &ev->start_mark, "invalid UTF-8 in a scalar");
  return v;
}

/* Attach v (a reference is taken over) to the node being built, or make it
 * the root. */
static int
attach (loader_t *l, json_t *v, const yaml_mark_t *m, veil_error_t **err)
{
  if (l->depth == 0)
    {
      json_decref (l->root);
      l->root = v;
      return 0;
    }
  frame_t *f = &l->stack[l->depth - 1];
  if (json_is_array (f->node))
    {
      json_array_append_new (f->node, v);
      return 0;
    }
  if (!f->key)
    {
      json_decref (v);
      return fail (err, m, "mapping keys must be scalars");
    }
  _cleanup_free_ char *key = steal_pointer (&f->key);
  if (json_object_get (f->node, key))
    {
      json_decref (v);
      _cleanup_free_ char *why = xasprintf ("duplicate key '%.64s'", key);
      return fail (err, m, why);
    }
  if (json_object_set_new (f->node, key, v) < 0)
    return fail (err, m, "invalid mapping key");
  return 0;
}

static int
count_node (loader_t *l, size_t n, const yaml_mark_t *m, veil_error_t **err)
{
  if (n > VEIL_SERVICE_MAX_NODES - l->nodes)
    {
      _cleanup_free_ char *why = xasprintf ("more than %d nodes (aliases count expanded)", VEIL_SERVICE_MAX_NODES);
      return fail (err, m, why);
    }
  l->nodes += n;
  return 0;
}

static int
on_scalar (loader_t *l, const yaml_event_t *ev, veil_error_t **err)
{
  int r = count_node (l, 1, &ev->start_mark, err);
  if (r < 0)
    return r;
  if (l->depth > 0 && json_is_object (l->stack[l->depth - 1].node) && !l->stack[l->depth - 1].key)
    {
      const char *s = (const char *) ev->data.scalar.value;
      if (memchr (s, '\0', ev->data.scalar.length))
        return fail (err, &ev->start_mark, "NUL character in a key");
      l->stack[l->depth - 1].key = xstrndup (s, ev->data.scalar.length);
      return 0;
    }
  json_t *v = scalar_value (ev, err);
  if (!v)
    return -EBADMSG;
  if (ev->data.scalar.anchor)
    {
      /* anchored scalars are rare; keep them like collections */
      if (l->n_anchors == MAX_ANCHORS)
        {
          json_decref (v);
          return fail (err, &ev->start_mark, "too many anchors");
        }
      anchor_t *a = &l->anchors[l->n_anchors++];
      a->name = xstrdup ((const char *) ev->data.scalar.anchor);
      a->node = json_incref (v);
      a->size = 1;
    }
  return attach (l, v, &ev->start_mark, err);
}

static int
on_start (loader_t *l, const yaml_event_t *ev, bool mapping, veil_error_t **err)
{
  if (l->depth > 0 && json_is_object (l->stack[l->depth - 1].node) && !l->stack[l->depth - 1].key)
    return fail (err, &ev->start_mark, "mapping keys must be scalars");
  if (l->depth == VEIL_SERVICE_MAX_DEPTH)
    {
      _cleanup_free_ char *why = xasprintf ("nesting deeper than %d levels", VEIL_SERVICE_MAX_DEPTH);
      return fail (err, &ev->start_mark, why);
    }
  int r = count_node (l, 1, &ev->start_mark, err);
  if (r < 0)
    return r;
  const yaml_char_t *anchor = mapping ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
  frame_t *f = &l->stack[l->depth++];
  f->node = mapping ? json_object () : json_array ();
  f->key = NULL;
  f->first_node = l->nodes - 1;
  f->anchor = anchor ? xstrdup ((const char *) anchor) : NULL;
  return 0;
}

static int
on_end (loader_t *l, const yaml_event_t *ev, veil_error_t **err)
{
  frame_t *f = &l->stack[--l->depth];
  json_t *v = f->node;
  free (f->key);
  f->node = NULL;
  f->key = NULL;
  /* the anchor is registered only now, so an alias inside its own node is
   * undefined and no value can contain itself */
  if (f->anchor)
    {
      if (l->n_anchors == MAX_ANCHORS)
        {
          free (steal_pointer (&f->anchor));
          json_decref (v);
          return fail (err, &ev->start_mark, "too many anchors");
        }
      anchor_t *a = &l->anchors[l->n_anchors++];
      a->name = steal_pointer (&f->anchor);
      a->node = json_incref (v);
      a->size = l->nodes - f->first_node;
    }
  return attach (l, v, &ev->start_mark, err);
}

static int
on_alias (loader_t *l, const yaml_event_t *ev, veil_error_t **err)
{
  const char *name = (const char *) ev->data.alias.anchor;
  if (l->depth > 0 && json_is_object (l->stack[l->depth - 1].node) && !l->stack[l->depth - 1].key)
    return fail (err, &ev->start_mark, "aliases cannot be mapping keys");
  for (size_t i = l->n_anchors; i-- > 0;)
    if (strcmp (l->anchors[i].name, name) == 0)
      {
        int r = count_node (l, l->anchors[i].size, &ev->start_mark, err);
        if (r < 0)
          return r;
        return attach (l, json_incref (l->anchors[i].node), &ev->start_mark, err);
      }
  _cleanup_free_ char *why = xasprintf ("undefined alias '%.64s'", name);
  return fail (err, &ev->start_mark, why);
}

static int
on_event (loader_t *l, const yaml_event_t *ev, veil_error_t **err)
{
  switch (ev->type)
    {
    case YAML_DOCUMENT_START_EVENT:
      if (++l->docs > 1)
        return fail (err, &ev->start_mark, "a manifest holds a single document");
      return 0;
    case YAML_SCALAR_EVENT:
      return on_scalar (l, ev, err);
    case YAML_SEQUENCE_START_EVENT:
      return on_start (l, ev, false, err);
    case YAML_MAPPING_START_EVENT:
      return on_start (l, ev, true, err);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
      return on_end (l, ev, err);
    case YAML_ALIAS_EVENT:
      return on_alias (l, ev, err);
    default:
      return 0;
    }
}

json_t *
veil_serving_yaml_load (const void *data, size_t len, veil_error_t **err)
{
  if (len > VEIL_SERVICE_MAX_DOC)
    {
      veil_error_set (err, E2BIG, "yaml: document of %zu bytes exceeds the limit of %u", len, VEIL_SERVICE_MAX_DOC);
      return NULL;
    }
  yaml_parser_t parser;
  if (!yaml_parser_initialize (&parser))
    abort ();
  yaml_parser_set_input_string (&parser, data, len);
  loader_t *l = xcalloc (1, sizeof (*l));
  bool done = false;
  int r = 0;
  while (!done && r == 0)
    {
      yaml_event_t ev;
      if (!yaml_parser_parse (&parser, &ev))
        {
          const char *why = parser.problem ? parser.problem : "syntax error";
          if (parser.context)
            {
              _cleanup_free_ char *msg = xasprintf ("%s (%s)", why, parser.context);
              r = fail (err, &parser.problem_mark, msg);
            }
          else
            r = fail (err, &parser.problem_mark, why);
          break;
        }
      done = ev.type == YAML_STREAM_END_EVENT;
      r = on_event (l, &ev, err);
      yaml_event_delete (&ev);
    }
  yaml_parser_delete (&parser);
  json_t *root = NULL;
  if (r == 0 && !l->root)
    veil_error_set (err, EBADMSG, "yaml: empty document");
  else if (r == 0)
    root = steal_pointer (&l->root);
  loader_clear (l);
  free (l);
  return root;
}
