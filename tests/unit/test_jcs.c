/* Unit tests of the RFC 8785 JSON Canonicalization Scheme (veil_jcs). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "veil/base.h"

static char *
jcs_of_text (const char *text)
{
  veil_error_t *err = NULL;
  json_t *j = veil_json_parse (text, strlen (text), 1 << 20, &err);
  if (!j)
    fail_msg ("parse: %s", err->msg);
  char *s = veil_jcs (j, &err);
  if (!s)
    fail_msg ("jcs: %s", err->msg);
  json_decref (j);
  return s;
}

/* RFC 8785 §3.2.2 "Sample" input and its canonical form (§3.2.3 end). */
static void
test_rfc_sample (void **state)
{
  (void) state;
  const char *in = "{\n"
                   "  \"numbers\": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],\n"
                   "  \"string\": \"\\u20ac$\\u000F\\u000aA'\\u0042\\u0022\\u005c\\\\\\\"\\/\",\n"
                   "  \"literals\": [null, true, false]\n"
                   "}";
  const char *want = "{\"literals\":[null,true,false],"
                     "\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],"
                     "\"string\":\"\xe2\x82\xac$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}";
  _cleanup_free_ char *out = jcs_of_text (in);
  assert_string_equal (out, want);
}

/* RFC 8785 §3.2.3: keys sort by UTF-16 code units, so U+1F600 (a surrogate
 * pair D83D DE00) sorts before U+FB33 although its code point is larger. */
static void
test_rfc_utf16_sort (void **state)
{
  (void) state;
  const char *in = "{\n"
                   "  \"\\u20ac\": \"Euro Sign\",\n"
                   "  \"\\r\": \"Carriage Return\",\n"
                   "  \"\\ufb33\": \"Hebrew Letter Dalet With Dagesh\",\n"
                   "  \"1\": \"One\",\n"
                   "  \"\\ud83d\\ude00\": \"Emoji: Grinning Face\",\n"
                   "  \"\\u0080\": \"Control\",\n"
                   "  \"\\u00f6\": \"Latin Small Letter O With Diaeresis\"\n"
                   "}";
  const char *want = "{\"\\r\":\"Carriage Return\","
                     "\"1\":\"One\","
                     "\"\xc2\x80\":\"Control\","
                     "\"\xc3\xb6\":\"Latin Small Letter O With Diaeresis\","
                     "\"\xe2\x82\xac\":\"Euro Sign\","
                     "\"\xf0\x9f\x98\x80\":\"Emoji: Grinning Face\","
                     "\"\xef\xac\xb3\":\"Hebrew Letter Dalet With Dagesh\"}";
  _cleanup_free_ char *out = jcs_of_text (in);
  assert_string_equal (out, want);
}

/* RFC 8785 Appendix B: IEEE 754 bit patterns and their serialisation.  Each
 * entry was also checked against Python's float repr of the same bits. */
static void
test_rfc_numbers (void **state)
{
  (void) state;
  static const struct
  {
    uint64_t bits;
    const char *want;
  } table[] = {
    { 0x0000000000000000ull, "0" },
    { 0x8000000000000000ull, "0" },
    { 0x0000000000000001ull, "5e-324" },
    { 0x8000000000000001ull, "-5e-324" },
    { 0x7fefffffffffffffull, "1.7976931348623157e+308" },
    { 0xffefffffffffffffull, "-1.7976931348623157e+308" },
    { 0x4340000000000000ull, "9007199254740992" },
    { 0xc340000000000000ull, "-9007199254740992" },
    { 0x4430000000000000ull, "295147905179352830000" },
    { 0x44b52d02c7e14af5ull, "9.999999999999997e+22" },
    { 0x44b52d02c7e14af6ull, "1e+23" },
    { 0x44b52d02c7e14af7ull, "1.0000000000000001e+23" },
    { 0x444b1ae4d6e2ef4eull, "999999999999999700000" },
    { 0x444b1ae4d6e2ef4full, "999999999999999900000" },
    { 0x444b1ae4d6e2ef50ull, "1e+21" },
    { 0x3eb0c6f7a0b5ed8cull, "9.999999999999997e-7" },
    { 0x3eb0c6f7a0b5ed8dull, "0.000001" },
    { 0x41b3de4355555553ull, "333333333.3333332" },
    { 0x41b3de4355555554ull, "333333333.33333325" },
    { 0x41b3de4355555555ull, "333333333.3333333" },
    { 0x41b3de4355555556ull, "333333333.3333334" },
    { 0x41b3de4355555557ull, "333333333.33333343" },
    { 0xbecbf647612f3696ull, "-0.0000033333333333333333" },
    { 0x43143ff3c1cb0959ull, "1424953923781206.2" },
  };
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (table); i++)
    {
      double d;
      memcpy (&d, &table[i].bits, sizeof (d));
      json_t *j = json_real (d);
      assert_non_null (j);
      veil_error_t *err = NULL;
      _cleanup_free_ char *s = veil_jcs (j, &err);
      json_decref (j);
      assert_non_null (s);
      if (strcmp (s, table[i].want) != 0)
        fail_msg ("bits %016llx: got %s, want %s", (unsigned long long) table[i].bits, s,
                  table[i].want);
    }
}

static void
test_integers (void **state)
{
  (void) state;
  _cleanup_free_ char *a = jcs_of_text ("[0,-1,42,9007199254740992,-9007199254740992,1.0,-0.0,100e0]");
  /* 1.0 is a real equal to an integer: no ".0" (Number::toString). */
  assert_string_equal (a, "[0,-1,42,9007199254740992,-9007199254740992,1,0,100]");
  /* Beyond 2^53 an integer is not exact as an I-JSON number: refused. */
  json_t *big = json_integer (9007199254740993LL);
  veil_error_t *err = NULL;
  assert_null (veil_jcs (big, &err));
  assert_non_null (err);
  assert_int_equal (err->code, ERANGE);
  veil_error_free (err);
  json_decref (big);
}

static void
test_strings (void **state)
{
  (void) state;
  json_t *s = json_stringn ("a\x01\x1f\x7f\b\f\n\r\t/\"\\\xc3\xa9", 14);
  _cleanup_free_ char *out = veil_jcs (s, NULL);
  json_decref (s);
  /* only the §3.2.2.2 escapes; DEL, '/' and non-ASCII stay literal */
  assert_string_equal (out, "\"a\\u0001\\u001f\x7f\\b\\f\\n\\r\\t/\\\"\\\\\xc3\xa9\"");
  json_t *nul = json_stringn ("x\0y", 3);
  _cleanup_free_ char *out2 = veil_jcs (nul, NULL);
  json_decref (nul);
  assert_string_equal (out2, "\"x\\u0000y\"");
}

static void
test_nesting (void **state)
{
  (void) state;
  _cleanup_free_ char *a = jcs_of_text ("{ \"b\" : [ { \"z\":1, \"a\":{} } , [] ], \"a\" : \"\" }");
  assert_string_equal (a, "{\"a\":\"\",\"b\":[{\"a\":{},\"z\":1},[]]}");
  /* Depth is bounded so that a hostile document cannot exhaust the stack. */
  json_t *deep = json_array ();
  json_t *cur = deep;
  for (int i = 0; i < 200; i++)
    {
      json_t *next = json_array ();
      json_array_append_new (cur, next);
      cur = next;
    }
  veil_error_t *err = NULL;
  assert_null (veil_jcs (deep, &err));
  assert_int_equal (err->code, E2BIG);
  veil_error_free (err);
  json_decref (deep);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_rfc_sample),
    cmocka_unit_test (test_rfc_utf16_sort),
    cmocka_unit_test (test_rfc_numbers),
    cmocka_unit_test (test_integers),
    cmocka_unit_test (test_strings),
    cmocka_unit_test (test_nesting),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
