/* Unit tests of the KBS server's parts: sessions, the at-rest store, release
 * policy lookup, runtime-data binding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include "../../lib/kbs/internal.h"

bool kbs_resource_path_valid (const char *p);

static char *
tmpdir (void)
{
  char t[] = "/tmp/veil-kbs-XXXXXX";
  assert_non_null (mkdtemp (t));
  return xstrdup (t);
}

static void
rmrf (const char *d)
{
  _cleanup_free_ char *cmd = xasprintf ("rm -rf '%s'", d);
  assert_int_equal (system (cmd), 0);
}

static void
test_sessions_nonce_single_use (void **state)
{
  (void) state;
  kbs_sessions_t s;
  kbs_sessions_init (&s, 4, 60);
  char id[KBS_SESSION_ID_LEN + 1], tee[32];
  uint8_t nonce[32], got[32];
  assert_int_equal (kbs_sessions_create (&s, "snp", id, nonce, NULL), 0);
  assert_int_equal (strlen (id), 36);
  assert_int_equal (id[14], '4'); /* UUID v4 */
  assert_int_equal (kbs_sessions_take_nonce (&s, id, tee, got, NULL), 0);
  assert_memory_equal (got, nonce, 32);
  assert_string_equal (tee, "snp");
  veil_error_t *err = NULL;
  assert_int_equal (kbs_sessions_take_nonce (&s, id, tee, got, &err), -EALREADY);
  assert_non_null (strstr (err->msg, "already used"));
  veil_error_free (err);
  err = NULL;
  assert_true (kbs_sessions_take_nonce (&s, "00000000-0000-4000-8000-000000000000", tee, got, &err) < 0);
  assert_non_null (strstr (err->msg, "unknown session"));
  veil_error_free (err);
  kbs_sessions_destroy (&s);
}

static void
test_sessions_bounded_and_expiring (void **state)
{
  (void) state;
  kbs_sessions_t s;
  kbs_sessions_init (&s, 3, -1); /* already expired when created */
  char id[KBS_SESSION_ID_LEN + 1], tee[32];
  uint8_t nonce[32];
  for (int i = 0; i < 10; i++) /* expired sessions are swept when full */
    assert_int_equal (kbs_sessions_create (&s, "sample", id, nonce, NULL), 0);
  veil_error_t *err = NULL;
  assert_int_equal (kbs_sessions_take_nonce (&s, id, tee, nonce, &err), -ETIMEDOUT);
  veil_error_free (err);
  kbs_sessions_destroy (&s);
  kbs_sessions_init (&s, 2, 60);
  assert_int_equal (kbs_sessions_create (&s, "sample", id, nonce, NULL), 0);
  assert_int_equal (kbs_sessions_create (&s, "sample", id, nonce, NULL), 0);
  err = NULL;
  assert_int_equal (kbs_sessions_create (&s, "sample", id, nonce, &err), -EAGAIN);
  veil_error_free (err);
  kbs_sessions_destroy (&s);
}

static void
test_store_at_rest (void **state)
{
  (void) state;
  _cleanup_free_ char *d = tmpdir ();
  kbs_store_t st;
  assert_int_equal (kbs_store_open (&st, d, NULL), 0);
  const uint8_t secret[] = "top-secret-value";
  assert_int_equal (kbs_store_put_resource (&st, "a/b/c", secret, sizeof (secret), NULL), 0);
  uint8_t *out = NULL;
  size_t len = 0;
  assert_int_equal (kbs_store_get_resource (&st, "a/b/c", &out, &len, NULL), 0);
  assert_int_equal (len, sizeof (secret));
  assert_memory_equal (out, secret, len);
  veil_secret_free (out);
  veil_error_t *err = NULL;
  assert_int_equal (kbs_store_get_resource (&st, "a/b/x", &out, &len, &err), -ENOENT);
  veil_error_free (err);
  /* moving a ciphertext to another path fails authentication (path is AAD) */
  assert_int_equal (sqlite3_exec (veil_db_handle (st.db),
                                  "UPDATE resources SET path = 'a/b/moved' WHERE path = 'a/b/c'",
                                  NULL, NULL, NULL),
                    SQLITE_OK);
  err = NULL;
  assert_int_equal (kbs_store_get_resource (&st, "a/b/moved", &out, &len, &err), -EBADMSG);
  assert_non_null (strstr (err->msg, "authentication failed"));
  veil_error_free (err);
  kbs_store_close (&st);
  /* the plaintext is nowhere in the state directory */
  _cleanup_free_ char *cmd = xasprintf ("grep -r -q top-secret-value '%s'", d);
  assert_int_not_equal (system (cmd), 0);
  rmrf (d);
}

static void
test_store_policy_specificity (void **state)
{
  (void) state;
  _cleanup_free_ char *d = tmpdir ();
  kbs_store_t st;
  assert_int_equal (kbs_store_open (&st, d, NULL), 0);
  json_t *p1 = json_pack ("{s:s, s:s}", "claim", "tee", "equals", "wild");
  json_t *p2 = json_pack ("{s:s, s:s}", "claim", "tee", "equals", "exact");
  assert_int_equal (kbs_store_put_policy (&st, "default/*/*", p1, NULL), 0);
  assert_int_equal (kbs_store_put_policy (&st, "default/key/k1", p2, NULL), 0);
  char *pat = NULL;
  json_t *got = kbs_store_find_policy (&st, "default/key/k1", &pat, NULL);
  assert_string_equal (pat, "default/key/k1");
  assert_true (json_equal (got, p2));
  json_decref (got);
  free (pat);
  got = kbs_store_find_policy (&st, "default/key/k2", &pat, NULL);
  assert_string_equal (pat, "default/*/*");
  json_decref (got);
  free (pat);
  assert_null (kbs_store_find_policy (&st, "other/key/k2", NULL, NULL));
  json_decref (p1);
  json_decref (p2);
  kbs_store_close (&st);
  rmrf (d);
}

static void
test_resource_paths (void **state)
{
  (void) state;
  assert_true (kbs_resource_path_valid ("default/key/k1"));
  assert_true (kbs_resource_path_valid ("my-repo/image_key/v1.2"));
  assert_false (kbs_resource_path_valid ("default/key"));
  assert_false (kbs_resource_path_valid ("default/key/k1/x"));
  assert_false (kbs_resource_path_valid ("default/../k1"));
  assert_false (kbs_resource_path_valid ("default/./k1"));
  assert_false (kbs_resource_path_valid ("default//k1"));
  assert_false (kbs_resource_path_valid ("default/key/k%2f"));
  assert_false (kbs_resource_path_valid (""));
}

static void
test_runtime_data_digest (void **state)
{
  (void) state;
  /* JCS orders members and drops whitespace: both documents bind the same */
  json_t *a = json_loads ("{\"tee-pubkey\": {\"y\": \"2\", \"x\": \"1\"}, \"nonce\": \"n\"}", 0, NULL);
  json_t *b = json_loads ("{\"nonce\":\"n\",\"tee-pubkey\":{\"x\":\"1\",\"y\":\"2\"}}", 0, NULL);
  uint8_t da[48], db[48], expect[48];
  assert_int_equal (veil_kbs_runtime_data_digest (a, da, NULL), 0);
  assert_int_equal (veil_kbs_runtime_data_digest (b, db, NULL), 0);
  assert_memory_equal (da, db, 48);
  const char *canon = "{\"nonce\":\"n\",\"tee-pubkey\":{\"x\":\"1\",\"y\":\"2\"}}";
  veil_sha384 (canon, strlen (canon), expect);
  assert_memory_equal (da, expect, 48);
  json_decref (a);
  json_decref (b);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_sessions_nonce_single_use),
    cmocka_unit_test (test_sessions_bounded_and_expiring),
    cmocka_unit_test (test_store_at_rest),
    cmocka_unit_test (test_store_policy_specificity),
    cmocka_unit_test (test_resource_paths),
    cmocka_unit_test (test_runtime_data_digest),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
