/* Resource release policies over attestation claims (see policy.h).
 *
 * A policy decides whether a secret leaves the key broker, so evaluation
 * fails closed: a missing claim never satisfies a comparison, an empty
 * allOf/anyOf is refused at validation (it would hold for anyone), and
 * evidence from the sample TEE or a sim root only passes a policy that
 * names it explicitly. */
#include <math.h>
#include <stdio.h>

#include "veil/policy.h"

#define MAX_DEPTH 32
#define MAX_RULES 1024
#define MAX_CLAIM_NAME 256
/* steps of the dotted-path search (it may backtrack over keys that contain
 * dots, as EAR's "ear.status" does) */
#define MAX_LOOKUP_STEPS 256

enum op
{
  OP_EQUALS,
  OP_NOT_EQUALS,
  OP_GREATER,
  OP_GREATER_OR_EQUALS,
  OP_LESS,
  OP_LESS_OR_EQUALS,
  OP_EXISTS,
};

static const struct
{
  const char *name;
  enum op op;
  const char *says; /* for reasons: "claim 'x' <says> the expected value" */
} ops[] = {
  { "equals", OP_EQUALS, "does not equal" },
  { "notEquals", OP_NOT_EQUALS, "equals" },
  { "greater", OP_GREATER, "is not greater than" },
  { "greaterOrEquals", OP_GREATER_OR_EQUALS, "is not greater than or equal to" },
  { "less", OP_LESS, "is not less than" },
  { "lessOrEquals", OP_LESS_OR_EQUALS, "is not less than or equal to" },
  { "exists", OP_EXISTS, NULL },
};

/* ---- validation ------------------------------------------------------------ */

static char *
child_path (const char *path, const char *member)
{
  return *path ? xasprintf ("%s.%s", path, member) : xstrdup (member);
}

/* "allOf[1]: " for messages about a rule, nothing for the root rule */
static char *
where (const char *path)
{
  return *path ? xasprintf ("%s: ", path) : xstrdup ("");
}

static int
find_op (const json_t *rule, const char *path, size_t *which, veil_error_t **err)
{
  const char *key;
  json_t *v;
  bool found = false;
  _cleanup_free_ char *w = where (path);
  json_object_foreach ((json_t *) rule, key, v)
  {
    if (strcmp (key, "claim") == 0)
      continue;
    size_t i;
    for (i = 0; i < VEIL_ARRAY_SIZE (ops); i++)
      if (strcmp (key, ops[i].name) == 0)
        break;
    if (i == VEIL_ARRAY_SIZE (ops))
      {
        _cleanup_free_ char *p = child_path (path, key);
        return veil_error_set (err, EINVAL, "policy: %s: unknown operator", p);
      }
    if (found)
      return veil_error_set (err, EINVAL, "policy: %smore than one operator", w);
    found = true;
    *which = i;
  }
  if (!found)
    return veil_error_set (err, EINVAL, "policy: %sno operator (equals, notEquals, greater, ...)", w);
  return 0;
}

static int validate_rule (const json_t *rule, const char *path, int depth, size_t *count,
                          veil_error_t **err);

static int
validate_list (const json_t *list, const char *path, int depth, size_t *count, veil_error_t **err)
{
  if (!json_is_array (list))
    return veil_error_set (err, EINVAL, "policy: %s: not an array", path);
  if (json_array_size (list) == 0)
    /* an empty allOf would hold for any evidence at all */
    return veil_error_set (err, EINVAL, "policy: %s: empty", path);
  size_t i;
  json_t *r;
  json_array_foreach (list, i, r)
  {
    _cleanup_free_ char *p = xasprintf ("%s[%zu]", path, i);
    int rc = validate_rule (r, p, depth + 1, count, err);
    if (rc < 0)
      return rc;
  }
  return 0;
}

static int
validate_clause (const json_t *rule, const char *path, veil_error_t **err)
{
  _cleanup_free_ char *cp = child_path (path, "claim");
  json_t *claim = json_object_get (rule, "claim");
  if (claim == NULL)
    return veil_error_set (err, EINVAL, "policy: %s: missing", cp);
  if (!json_is_string (claim))
    return veil_error_set (err, EINVAL, "policy: %s: not a string", cp);
  size_t len = json_string_length (claim);
  if (len == 0 || len > MAX_CLAIM_NAME)
    return veil_error_set (err, EINVAL, "policy: %s: length must be 1..%d", cp, MAX_CLAIM_NAME);
  if (strlen (json_string_value (claim)) != len)
    return veil_error_set (err, EINVAL, "policy: %s: contains NUL", cp);
  size_t which = 0;
  int rc = find_op (rule, path, &which, err);
  if (rc < 0)
    return rc;
  json_t *expected = json_object_get (rule, ops[which].name);
  _cleanup_free_ char *op_path = child_path (path, ops[which].name);
  switch (ops[which].op)
    {
    case OP_GREATER:
    case OP_GREATER_OR_EQUALS:
    case OP_LESS:
    case OP_LESS_OR_EQUALS:
      if (!json_is_number (expected))
        return veil_error_set (err, EINVAL, "policy: %s: not a number", op_path);
      if (json_is_real (expected) && !isfinite (json_real_value (expected)))
        return veil_error_set (err, EINVAL, "policy: %s: not a finite number", op_path);
      break;
    case OP_EXISTS:
      if (!json_is_boolean (expected))
        return veil_error_set (err, EINVAL, "policy: %s: not a boolean", op_path);
      break;
    case OP_EQUALS:
    case OP_NOT_EQUALS:
      break;
    }
  return 0;
}

static int
validate_rule (const json_t *rule, const char *path, int depth, size_t *count, veil_error_t **err)
{
  _cleanup_free_ char *w = where (path);
  if (depth > MAX_DEPTH)
    return veil_error_set (err, E2BIG, "policy: %snested deeper than %d", w, MAX_DEPTH);
  if (++*count > MAX_RULES)
    return veil_error_set (err, E2BIG, "policy: %smore than %d rules", w, MAX_RULES);
  if (!json_is_object (rule))
    return veil_error_set (err, EINVAL, "policy: %snot an object", w);
  json_t *all = json_object_get (rule, "allOf"), *any = json_object_get (rule, "anyOf");
  if (all != NULL || any != NULL)
    {
      if (json_object_size (rule) != 1)
        return veil_error_set (err, EINVAL,
                               "policy: %sallOf/anyOf must be the only member of its rule", w);
      _cleanup_free_ char *p = child_path (path, all ? "allOf" : "anyOf");
      return validate_list (all ? all : any, p, depth, count, err);
    }
  return validate_clause (rule, path, err);
}

int
veil_release_policy_validate (const json_t *policy, veil_error_t **err)
{
  if (policy == NULL)
    return veil_error_set (err, EINVAL, "policy: missing");
  size_t count = 0;
  return validate_rule (policy, "", 0, &count, err);
}

/* ---- claims lookup ----------------------------------------------------------- */

/* The literal key first, then "a.b.c" walked through nested objects; a key
 * may itself contain dots ("submods.cpu0.ear.status" finds
 * {"submods":{"cpu0":{"ear.status":…}}}), so shorter prefixes are tried
 * first and the search backtracks, within a step budget. */
static const json_t *
lookup_in (const json_t *obj, const char *name, size_t len, int *budget)
{
  if (!json_is_object (obj) || --*budget < 0)
    return NULL;
  const json_t *v = json_object_getn (obj, name, len);
  if (v != NULL)
    return v;
  for (size_t i = 1; i + 1 < len; i++)
    {
      if (name[i] != '.')
        continue;
      const json_t *sub = json_object_getn (obj, name, i);
      if (!json_is_object (sub))
        continue;
      const json_t *found = lookup_in (sub, name + i + 1, len - i - 1, budget);
      if (found != NULL)
        return found;
      if (*budget < 0)
        return NULL;
    }
  return NULL;
}

static const json_t *
lookup_claim (const json_t *claims, const char *name)
{
  int budget = MAX_LOOKUP_STEPS;
  return lookup_in (claims, name, strlen (name), &budget);
}

/* ---- evaluation ---------------------------------------------------------------- */

/* Numbers compare by value whatever their JSON spelling (1 == 1.0); two
 * integers compare exactly, a mix goes through long double, which holds
 * every int64 exactly on the platforms we build for. */
static int
number_cmp (const json_t *a, const json_t *b)
{
  if (json_is_integer (a) && json_is_integer (b))
    {
      json_int_t x = json_integer_value (a), y = json_integer_value (b);
      return (x > y) - (x < y);
    }
  long double x = json_is_integer (a) ? (long double) json_integer_value (a)
                                      : (long double) json_real_value (a);
  long double y = json_is_integer (b) ? (long double) json_integer_value (b)
                                      : (long double) json_real_value (b);
  return (x > y) - (x < y);
}

static bool
values_equal (const json_t *a, const json_t *b)
{
  if (json_is_number (a) && json_is_number (b))
    return number_cmp (a, b) == 0;
  /* strings compare byte for byte (case-sensitive), objects and arrays
   * structurally */
  return json_equal ((json_t *) a, (json_t *) b);
}

/* Takes what (a reason without the rule path); claims are not secret, so a
 * reason may name a claim, never a value of the protected resource. */
static void
set_reason (char **reason, const char *path, char *what)
{
  if (reason == NULL || *reason != NULL)
    {
      free (what);
      return;
    }
  *reason = *path ? xasprintf ("%s: %s", path, what) : xstrdup (what);
  free (what);
}

static bool eval_rule (const json_t *rule, const json_t *claims, const char *path, char **reason);

static bool
eval_clause (const json_t *rule, const json_t *claims, const char *path, char **reason)
{
  const char *claim = json_string_value (json_object_get (rule, "claim"));
  size_t which = 0;
  if (find_op (rule, path, &which, NULL) < 0)
    return false;
  const json_t *expected = json_object_get (rule, ops[which].name);
  const json_t *actual = lookup_claim (claims, claim);
  enum op op = ops[which].op;

  if (op == OP_EXISTS)
    {
      bool want = json_is_true (expected);
      if ((actual != NULL) == want)
        return true;
      set_reason (reason, path,
                  xasprintf (want ? "claim '%s' is missing" : "claim '%s' is present", claim));
      return false;
    }
  if (actual == NULL)
    {
      set_reason (reason, path, xasprintf ("claim '%s' is missing", claim));
      return false;
    }
  bool ok;
  switch (op)
    {
    case OP_EQUALS:
      ok = values_equal (actual, expected);
      break;
    case OP_NOT_EQUALS:
      ok = !values_equal (actual, expected);
      break;
    default:
      if (!json_is_number (actual))
        {
          set_reason (reason, path, xasprintf ("claim '%s' is not a number", claim));
          return false;
        }
      if (json_is_real (actual) && isnan (json_real_value (actual)))
        ok = false;
      else
        {
          int c = number_cmp (actual, expected);
          ok = (op == OP_GREATER && c > 0) || (op == OP_GREATER_OR_EQUALS && c >= 0)
               || (op == OP_LESS && c < 0) || (op == OP_LESS_OR_EQUALS && c <= 0);
        }
      break;
    }
  if (!ok)
    set_reason (reason, path,
                xasprintf ("claim '%s' %s the expected value", claim, ops[which].says));
  return ok;
}

static bool
eval_rule (const json_t *rule, const json_t *claims, const char *path, char **reason)
{
  json_t *all = json_object_get (rule, "allOf"), *any = json_object_get (rule, "anyOf");
  if (all == NULL && any == NULL)
    return eval_clause (rule, claims, path, reason);
  _cleanup_free_ char *list_path = child_path (path, all ? "allOf" : "anyOf");
  size_t i;
  json_t *r;
  if (all != NULL)
    {
      json_array_foreach (all, i, r)
      {
        _cleanup_free_ char *p = xasprintf ("%s[%zu]", list_path, i);
        if (!eval_rule (r, claims, p, reason))
          return false;
      }
      return true;
    }
  /* anyOf: report the first branch's failure (a reason for every branch
   * would be long and rarely clearer) */
  _cleanup_free_ char *first = NULL;
  json_array_foreach (any, i, r)
  {
    _cleanup_free_ char *p = xasprintf ("%s[%zu]", list_path, i);
    char *why = NULL;
    if (eval_rule (r, claims, p, &why))
      {
        free (why);
        return true;
      }
    if (first == NULL)
      first = why;
    else
      free (why);
  }
  if (reason != NULL && *reason == NULL)
    *reason = xasprintf ("%s: no rule holds (first: %s)", list_path, first ? first : "?");
  return false;
}

/* Does the policy contain {"claim": name, "equals": value} anywhere? */
static bool
names_exactly (const json_t *rule, const char *name, const json_t *value)
{
  json_t *list = json_object_get (rule, "allOf");
  if (list == NULL)
    list = json_object_get (rule, "anyOf");
  if (list != NULL)
    {
      size_t i;
      json_t *r;
      json_array_foreach (list, i, r) if (names_exactly (r, name, value)) return true;
      return false;
    }
  const char *claim = json_string_value (json_object_get (rule, "claim"));
  json_t *eq = json_object_get (rule, "equals");
  return claim != NULL && strcmp (claim, name) == 0 && eq != NULL && json_equal (eq, (json_t *) value);
}

int
veil_release_policy_eval (const json_t *policy, const json_t *claims, char **reason,
                          veil_error_t **err)
{
  if (reason != NULL)
    *reason = NULL;
  int rc = veil_release_policy_validate (policy, err);
  if (rc < 0)
    return rc;
  if (!json_is_object (claims))
    return veil_error_set (err, EINVAL, "policy: claims are not a JSON object");

  /* Test and simulated evidence carries no hardware guarantee: it only
   * unlocks resources whose policy says so in as many words. */
  _cleanup_json_ json_t *sample = json_string ("sample");
  const json_t *tee = lookup_claim (claims, "tee");
  if (tee != NULL && json_equal ((json_t *) tee, sample) && !names_exactly (policy, "tee", sample))
    {
      if (reason != NULL)
        *reason = xstrdup ("evidence from the sample TEE needs a policy that names it "
                           "({\"claim\":\"tee\",\"equals\":\"sample\"})");
      return 0;
    }
  const json_t *sim = lookup_claim (claims, "sim");
  if (json_is_true (sim) && !names_exactly (policy, "sim", json_true ()))
    {
      if (reason != NULL)
        *reason = xstrdup ("evidence from a sim root needs a policy that names it "
                           "({\"claim\":\"sim\",\"equals\":true})");
      return 0;
    }

  char *why = NULL;
  bool ok = eval_rule (policy, claims, "", &why);
  if (ok)
    {
      free (why);
      return 1;
    }
  if (reason != NULL)
    *reason = why ? why : xstrdup ("policy does not hold");
  else
    free (why);
  return 0;
}
