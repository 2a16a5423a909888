/* Unit tests of libveil policy: release policy validation and evaluation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>

#include "veil/policy.h"

static const char *claims_json
    = "{\"tee\":\"snp\",\"svn\":3,\"ratio\":0.5,\"debug\":false,\"measurement\":\"abc\","
      "\"tags\":[1,2],\"nested\":{\"x\":1},"
      "\"submods\":{\"cpu0\":{\"ear.status\":\"affirming\",\"ear.trustworthiness-vector\":"
      "{\"executables\":2}}},"
      "\"a.b\":\"literal\",\"a\":{\"b\":\"nested\"}}";

static json_t *
parse (const char *s)
{
  json_error_t e;
  json_t *j = json_loads (s, 0, &e);
  if (j == NULL)
    fail_msg ("bad JSON in test: %s: %s", s, e.text);
  return j;
}

/* Evaluates policy text against claims text; returns 1/0/-err, checks that
 * a 0 comes with a reason and that the reason contains want_reason. */
static int
eval_str (const char *policy, const char *claims, const char *want_reason)
{
  _cleanup_json_ json_t *p = parse (policy);
  _cleanup_json_ json_t *c = parse (claims);
  _cleanup_free_ char *reason = NULL;
  veil_error_t *err = NULL;
  int r = veil_release_policy_eval (p, c, &reason, &err);
  if (r < 0)
    {
      veil_error_free (err);
      return r;
    }
  if (r == 0)
    {
      assert_non_null (reason);
      if (want_reason != NULL && strstr (reason, want_reason) == NULL)
        fail_msg ("reason '%s' lacks '%s'", reason, want_reason);
    }
  else
    assert_null (reason);
  return r;
}

static int
eval_c (const char *policy, const char *want_reason)
{
  return eval_str (policy, claims_json, want_reason);
}

static void
test_operators (void **state)
{
  (void) state;
  static const struct
  {
    const char *policy;
    int want;
  } cases[] = {
    { "{\"claim\":\"tee\",\"equals\":\"snp\"}", 1 },
    { "{\"claim\":\"tee\",\"equals\":\"SNP\"}", 0 }, /* exact, case-sensitive */
    { "{\"claim\":\"tee\",\"notEquals\":\"tdx\"}", 1 },
    { "{\"claim\":\"tee\",\"notEquals\":\"snp\"}", 0 },
    { "{\"claim\":\"svn\",\"equals\":3}", 1 },
    { "{\"claim\":\"svn\",\"equals\":3.0}", 1 },   /* integer vs real by value */
    { "{\"claim\":\"svn\",\"equals\":\"3\"}", 0 }, /* no type juggling */
    { "{\"claim\":\"debug\",\"equals\":false}", 1 },
    { "{\"claim\":\"debug\",\"equals\":null}", 0 },
    { "{\"claim\":\"tags\",\"equals\":[1,2]}", 1 },
    { "{\"claim\":\"nested\",\"equals\":{\"x\":1}}", 1 },
    { "{\"claim\":\"svn\",\"greater\":2}", 1 },
    { "{\"claim\":\"svn\",\"greater\":3}", 0 },
    { "{\"claim\":\"svn\",\"greater\":2.5}", 1 },
    { "{\"claim\":\"svn\",\"greaterOrEquals\":3}", 1 },
    { "{\"claim\":\"svn\",\"greaterOrEquals\":4}", 0 },
    { "{\"claim\":\"svn\",\"less\":4}", 1 },
    { "{\"claim\":\"svn\",\"less\":3}", 0 },
    { "{\"claim\":\"svn\",\"lessOrEquals\":3}", 1 },
    { "{\"claim\":\"svn\",\"lessOrEquals\":2.99}", 0 },
    { "{\"claim\":\"ratio\",\"less\":1}", 1 },
    { "{\"claim\":\"ratio\",\"greaterOrEquals\":0.5}", 1 },
    { "{\"claim\":\"svn\",\"exists\":true}", 1 },
    { "{\"claim\":\"svn\",\"exists\":false}", 0 },
    { "{\"claim\":\"nope\",\"exists\":false}", 1 },
    { "{\"claim\":\"nope\",\"exists\":true}", 0 },
  };
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (cases); i++)
    {
      int r = eval_c (cases[i].policy, NULL);
      if (r != cases[i].want)
        fail_msg ("%s: got %d, want %d", cases[i].policy, r, cases[i].want);
    }
}

static void
test_reasons (void **state)
{
  (void) state;
  assert_int_equal (eval_c ("{\"claim\":\"measurement\",\"equals\":\"def\"}",
                            "claim 'measurement' does not equal the expected value"),
                    0);
  /* the expected value never appears in the reason */
  _cleanup_json_ json_t *p = parse ("{\"claim\":\"measurement\",\"equals\":\"s3cr3t-value\"}");
  _cleanup_json_ json_t *c = parse (claims_json);
  _cleanup_free_ char *reason = NULL;
  assert_int_equal (veil_release_policy_eval (p, c, &reason, NULL), 0);
  assert_null (strstr (reason, "s3cr3t"));

  assert_int_equal (eval_c ("{\"claim\":\"tee\",\"greater\":1}", "claim 'tee' is not a number"), 0);
  assert_int_equal (eval_c ("{\"claim\":\"missing\",\"equals\":1}", "claim 'missing' is missing"),
                    0);
  /* missing claims fail closed, even for notEquals */
  assert_int_equal (eval_c ("{\"claim\":\"missing\",\"notEquals\":1}", "is missing"), 0);
  assert_int_equal (eval_c ("{\"allOf\":[{\"claim\":\"tee\",\"equals\":\"snp\"},"
                            "{\"claim\":\"svn\",\"greaterOrEquals\":7}]}",
                            "allOf[1]: claim 'svn' is not greater than or equal to"),
                    0);
  /* a NULL reason pointer is fine */
  assert_int_equal (veil_release_policy_eval (p, c, NULL, NULL), 0);
}

static void
test_nesting (void **state)
{
  (void) state;
  const char *yes = "{\"allOf\":[{\"claim\":\"tee\",\"equals\":\"snp\"},"
                    "{\"anyOf\":[{\"claim\":\"svn\",\"greater\":10},"
                    "{\"allOf\":[{\"claim\":\"debug\",\"equals\":false},"
                    "{\"claim\":\"ratio\",\"less\":1}]}]}]}";
  assert_int_equal (eval_c (yes, NULL), 1);
  const char *no = "{\"allOf\":[{\"claim\":\"tee\",\"equals\":\"snp\"},"
                   "{\"anyOf\":[{\"claim\":\"svn\",\"greater\":10},"
                   "{\"claim\":\"debug\",\"equals\":true}]}]}";
  assert_int_equal (eval_c (no, "allOf[1].anyOf: no rule holds (first: allOf[1].anyOf[0]: claim "
                                "'svn' is not greater than"),
                    0);
  assert_int_equal (eval_c ("{\"anyOf\":[{\"claim\":\"x\",\"exists\":true},"
                            "{\"claim\":\"tee\",\"equals\":\"snp\"}]}",
                            NULL),
                    1);
}

static void
test_dotted_paths (void **state)
{
  (void) state;
  assert_int_equal (eval_c ("{\"claim\":\"submods.cpu0.ear.status\",\"equals\":\"affirming\"}",
                            NULL),
                    1);
  assert_int_equal (
      eval_c ("{\"claim\":\"submods.cpu0.ear.trustworthiness-vector.executables\",\"lessOrEquals\":2}",
              NULL),
      1);
  assert_int_equal (eval_c ("{\"claim\":\"nested.x\",\"equals\":1}", NULL), 1);
  assert_int_equal (eval_c ("{\"claim\":\"nested.y\",\"exists\":false}", NULL), 1);
  assert_int_equal (eval_c ("{\"claim\":\"tee.x\",\"exists\":true}", "missing"), 0);
  /* a literal key wins over the nested path */
  assert_int_equal (eval_c ("{\"claim\":\"a.b\",\"equals\":\"literal\"}", NULL), 1);
}

static void
test_sample_and_sim (void **state)
{
  (void) state;
  const char *sample = "{\"tee\":\"sample\",\"svn\":1}";
  const char *sim = "{\"tee\":\"snp\",\"sim\":true,\"svn\":1}";
  const char *generic = "{\"claim\":\"svn\",\"greaterOrEquals\":1}";
  /* a policy that would otherwise hold does not accept test evidence */
  assert_int_equal (eval_str (generic, sample, "sample TEE"), 0);
  assert_int_equal (eval_str (generic, sim, "sim root"), 0);
  assert_int_equal (eval_str ("{\"claim\":\"tee\",\"notEquals\":\"snp\"}", sample, "sample"), 0);
  /* naming it anywhere in the tree lets it through */
  assert_int_equal (eval_str ("{\"allOf\":[{\"claim\":\"svn\",\"greaterOrEquals\":1},"
                              "{\"anyOf\":[{\"claim\":\"tee\",\"equals\":\"snp\"},"
                              "{\"claim\":\"tee\",\"equals\":\"sample\"}]}]}",
                              sample, NULL),
                    1);
  assert_int_equal (eval_str ("{\"allOf\":[{\"claim\":\"sim\",\"equals\":true},"
                              "{\"claim\":\"svn\",\"greaterOrEquals\":1}]}",
                              sim, NULL),
                    1);
  /* naming sample does not admit sim and vice versa */
  assert_int_equal (eval_str ("{\"anyOf\":[{\"claim\":\"tee\",\"equals\":\"sample\"},"
                              "{\"claim\":\"svn\",\"equals\":1}]}",
                              sim, "sim root"),
                    0);
  /* "sim": false and other tee values are ordinary evidence */
  assert_int_equal (eval_str (generic, "{\"tee\":\"snp\",\"sim\":false,\"svn\":1}", NULL), 1);
  /* naming it is necessary, not sufficient: the rest still has to hold */
  assert_int_equal (eval_str ("{\"allOf\":[{\"claim\":\"tee\",\"equals\":\"sample\"},"
                              "{\"claim\":\"svn\",\"greater\":5}]}",
                              sample, "claim 'svn'"),
                    0);
}

static void
test_malformed (void **state)
{
  (void) state;
  static const struct
  {
    const char *policy;
    const char *msg;
  } cases[] = {
    { "[]", "policy: not an object" },
    { "{}", "policy: claim: missing" },
    { "{\"claim\":1,\"equals\":1}", "policy: claim: not a string" },
    { "{\"claim\":\"\",\"equals\":1}", "policy: claim: length" },
    { "{\"claim\":\"x\"}", "policy: no operator" },
    { "{\"claim\":\"x\",\"equals\":1,\"less\":2}", "more than one operator" },
    { "{\"claim\":\"x\",\"matches\":\"a\"}", "policy: matches: unknown operator" },
    { "{\"claim\":\"x\",\"greater\":\"1\"}", "policy: greater: not a number" },
    { "{\"claim\":\"x\",\"exists\":1}", "policy: exists: not a boolean" },
    { "{\"allOf\":{}}", "policy: allOf: not an array" },
    { "{\"allOf\":[]}", "policy: allOf: empty" },
    { "{\"anyOf\":[{\"claim\":\"x\",\"equals\":1},{\"equals\":1}]}", "policy: anyOf[1].claim: missing" },
    { "{\"allOf\":[{\"claim\":\"x\",\"equals\":1},{\"anyOf\":[{\"claim\":\"y\",\"less\":true}]}]}",
      "policy: allOf[1].anyOf[0].less: not a number" },
    { "{\"allOf\":[{\"claim\":\"x\",\"equals\":1}],\"claim\":\"y\"}", "only member" },
    { "{\"allOf\":[3]}", "policy: allOf[0]: not an object" },
  };
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (cases); i++)
    {
      _cleanup_json_ json_t *p = parse (cases[i].policy);
      veil_error_t *err = NULL;
      assert_true (veil_release_policy_validate (p, &err) < 0);
      if (strstr (err->msg, cases[i].msg) == NULL)
        fail_msg ("%s: message '%s' lacks '%s'", cases[i].policy, err->msg, cases[i].msg);
      veil_error_free (err);
      /* eval refuses the same policy as an error, not as "does not hold" */
      assert_true (eval_c (cases[i].policy, NULL) < 0);
    }
  /* claims must be an object */
  _cleanup_json_ json_t *p = parse ("{\"claim\":\"x\",\"exists\":true}");
  _cleanup_json_ json_t *c = parse ("[1]");
  veil_error_t *err = NULL;
  assert_true (veil_release_policy_eval (p, c, NULL, &err) < 0);
  veil_error_free (err);
}

static void
test_limits (void **state)
{
  (void) state;
  /* nesting: 32 levels are fine, 40 are not */
  for (int depth = 32; depth <= 40; depth += 8)
    {
      json_t *rule = json_pack ("{s:s, s:b}", "claim", "svn", "exists", 1);
      for (int i = 0; i < depth; i++)
        rule = json_pack ("{s:[o]}", "allOf", rule);
      veil_error_t *err = NULL;
      int r = veil_release_policy_validate (rule, &err);
      if (depth == 32)
        assert_int_equal (r, 0);
      else
        {
          assert_int_equal (r, -E2BIG);
          assert_non_null (strstr (err->msg, "nested deeper"));
          veil_error_free (err);
        }
      json_decref (rule);
    }
  /* rule count */
  json_t *list = json_array ();
  for (int i = 0; i < 1100; i++)
    json_array_append_new (list, json_pack ("{s:s, s:b}", "claim", "svn", "exists", 1));
  json_t *big = json_pack ("{s:o}", "anyOf", list);
  veil_error_t *err = NULL;
  assert_int_equal (veil_release_policy_validate (big, &err), -E2BIG);
  assert_non_null (strstr (err->msg, "more than 1024 rules"));
  veil_error_free (err);
  json_decref (big);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_operators),
    cmocka_unit_test (test_reasons),
    cmocka_unit_test (test_nesting),
    cmocka_unit_test (test_dotted_paths),
    cmocka_unit_test (test_sample_and_sim),
    cmocka_unit_test (test_malformed),
    cmocka_unit_test (test_limits),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
