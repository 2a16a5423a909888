/* Unit tests of libveil db: migrations, version checks, transactions, WAL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>

#include "veil/db.h"

static const char *const migrations[] = {
  "CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT NOT NULL);",
  /* one migration of two statements */
  ("CREATE TABLE parent (id INTEGER PRIMARY KEY);"
   "CREATE TABLE child (id INTEGER PRIMARY KEY, p INTEGER NOT NULL REFERENCES parent(id));"),
  "INSERT INTO kv VALUES ('seeded', 'once');",
};

struct tmp
{
  char dir[64];
  char *path;
};

static int
setup (void **state)
{
  struct tmp *t = xcalloc (1, sizeof (*t));
  snprintf (t->dir, sizeof (t->dir), "/tmp/veil-db-XXXXXX");
  if (mkdtemp (t->dir) == NULL)
    return -1;
  t->path = xasprintf ("%s/state.db", t->dir);
  *state = t;
  return 0;
}

static int
teardown (void **state)
{
  struct tmp *t = *state;
  const char *suffix[] = { "", "-wal", "-shm", "-journal" };
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (suffix); i++)
    {
      _cleanup_free_ char *p = xasprintf ("%s%s", t->path, suffix[i]);
      unlink (p);
    }
  rmdir (t->dir);
  free (t->path);
  free (t);
  return 0;
}

static int64_t
query_int (veil_db_t *db, const char *sql)
{
  _cleanup_stmt_ sqlite3_stmt *st = veil_db_prepare (db, sql, NULL);
  assert_non_null (st);
  assert_int_equal (veil_db_step (db, st, NULL), SQLITE_ROW);
  return sqlite3_column_int64 (st, 0);
}

static veil_db_t *
must_open (const char *path, size_t n)
{
  veil_error_t *err = NULL;
  veil_db_t *db = veil_db_open (path, migrations, n, &err);
  if (db == NULL)
    fail_msg ("%s", err->msg);
  return db;
}

static void
test_migrations_once (void **state)
{
  struct tmp *t = *state;
  veil_db_t *db = must_open (t->path, 2);
  assert_int_equal (query_int (db, "PRAGMA user_version"), 2);
  veil_db_close (db);

  /* reopening with one more migration applies only that one */
  db = must_open (t->path, 3);
  assert_int_equal (query_int (db, "PRAGMA user_version"), 3);
  assert_int_equal (query_int (db, "SELECT count(*) FROM kv WHERE k = 'seeded'"), 1);
  veil_db_close (db);

  /* and reopening again re-applies nothing (the seed would be a duplicate
   * primary key if it ran twice) */
  db = must_open (t->path, 3);
  assert_int_equal (query_int (db, "SELECT count(*) FROM kv"), 1);
  veil_db_close (db);
}

static void
test_newer_refused (void **state)
{
  struct tmp *t = *state;
  veil_db_close (must_open (t->path, 3));
  veil_error_t *err = NULL;
  assert_null (veil_db_open (t->path, migrations, 2, &err));
  assert_non_null (err);
  assert_int_equal (err->code, EPROTO);
  assert_non_null (strstr (err->msg, t->path));
  assert_non_null (strstr (err->msg, "newer"));
  veil_error_free (err);
}

static void
test_failed_migration_rolls_back (void **state)
{
  struct tmp *t = *state;
  static const char *const bad[] = {
    "CREATE TABLE a (x INTEGER);",
    "CREATE TABLE b (y INTEGER); INSERT INTO nosuchtable VALUES (1);",
  };
  veil_error_t *err = NULL;
  assert_null (veil_db_open (t->path, bad, 2, &err));
  assert_non_null (strstr (err->msg, "migration 2"));
  assert_non_null (strstr (err->msg, "nosuchtable"));
  veil_error_free (err);
  /* the first migration stayed, the second left nothing behind */
  veil_db_t *db = must_open (t->path, 1);
  assert_int_equal (query_int (db, "PRAGMA user_version"), 1);
  assert_int_equal (query_int (db, "SELECT count(*) FROM sqlite_master WHERE name = 'b'"), 0);
  veil_db_close (db);
}

static void
test_transactions (void **state)
{
  struct tmp *t = *state;
  veil_db_t *db = must_open (t->path, 2);
  veil_error_t *err = NULL;

  assert_int_equal (veil_db_begin (db, &err), 0);
  assert_int_equal (veil_db_exec (db, "INSERT INTO kv VALUES ('a', '1')", &err), 0);
  veil_db_rollback (db);
  assert_int_equal (query_int (db, "SELECT count(*) FROM kv"), 0);

  assert_int_equal (veil_db_begin (db, &err), 0);
  assert_int_equal (veil_db_exec (db, "INSERT INTO kv VALUES ('b', '2')", &err), 0);
  assert_int_equal (veil_db_commit (db, &err), 0);
  assert_int_equal (query_int (db, "SELECT count(*) FROM kv"), 1);

  /* constraint violations are errors that name the database */
  assert_true (veil_db_exec (db, "INSERT INTO kv VALUES ('b', '3')", &err) < 0);
  assert_int_equal (err->code, EEXIST);
  assert_non_null (strstr (err->msg, "db: "));
  assert_non_null (strstr (err->msg, "UNIQUE"));
  veil_error_free (err);
  err = NULL;

  /* foreign keys are enforced */
  assert_true (veil_db_exec (db, "INSERT INTO child VALUES (1, 42)", &err) < 0);
  assert_non_null (strstr (err->msg, "FOREIGN KEY"));
  veil_error_free (err);
  err = NULL;

  assert_null (veil_db_prepare (db, "SELEKT 1", &err));
  assert_non_null (strstr (err->msg, "prepare"));
  veil_error_free (err);
  err = NULL;

  assert_true (veil_db_commit (db, &err) < 0);
  veil_error_free (err);
  veil_db_close (db);
}

static void
test_wal_and_pragmas (void **state)
{
  struct tmp *t = *state;
  veil_db_t *db = must_open (t->path, 1);
  _cleanup_stmt_ sqlite3_stmt *st = veil_db_prepare (db, "PRAGMA journal_mode", NULL);
  assert_int_equal (veil_db_step (db, st, NULL), SQLITE_ROW);
  assert_string_equal ((const char *) sqlite3_column_text (st, 0), "wal");
  assert_int_equal (query_int (db, "PRAGMA foreign_keys"), 1);
  assert_int_equal (query_int (db, "PRAGMA synchronous"), 1); /* NORMAL */
  assert_int_equal (query_int (db, "PRAGMA busy_timeout"), 5000);
  assert_true (sqlite3_threadsafe ());
  veil_db_close (db);
}

struct counter_arg
{
  veil_db_t *db;
  int ok;
};

/* each thread increments a counter with read-modify-write inside a
 * transaction: without the db's lock the updates would be lost or the
 * transactions would nest */
static void *
counter_main (void *arg)
{
  struct counter_arg *a = arg;
  for (int i = 0; i < 100; i++)
    {
      if (veil_db_begin (a->db, NULL) < 0)
        continue;
      int64_t v = 0;
      {
        _cleanup_stmt_ sqlite3_stmt *st
            = veil_db_prepare (a->db, "SELECT CAST(v AS INTEGER) FROM kv WHERE k = 'n'", NULL);
        if (st != NULL && veil_db_step (a->db, st, NULL) == SQLITE_ROW)
          v = sqlite3_column_int64 (st, 0);
      }
      char sql[96];
      snprintf (sql, sizeof (sql), "UPDATE kv SET v = '%lld' WHERE k = 'n'", (long long) v + 1);
      if (veil_db_exec (a->db, sql, NULL) == 0 && veil_db_commit (a->db, NULL) == 0)
        a->ok++;
      else
        veil_db_rollback (a->db);
    }
  return NULL;
}

static void
test_threads_share_handle (void **state)
{
  struct tmp *t = *state;
  veil_db_t *db = must_open (t->path, 1);
  assert_int_equal (veil_db_exec (db, "INSERT INTO kv VALUES ('n', '0')", NULL), 0);
  pthread_t th[4];
  struct counter_arg args[4];
  for (int i = 0; i < 4; i++)
    {
      args[i] = (struct counter_arg){ .db = db };
      pthread_create (&th[i], NULL, counter_main, &args[i]);
    }
  for (int i = 0; i < 4; i++)
    {
      pthread_join (th[i], NULL);
      assert_int_equal (args[i].ok, 100);
    }
  assert_int_equal (query_int (db, "SELECT CAST(v AS INTEGER) FROM kv WHERE k = 'n'"), 400);
  veil_db_close (db);
}

static void
test_open_errors (void **state)
{
  (void) state;
  veil_error_t *err = NULL;
  assert_null (veil_db_open ("/nonexistent-dir/x/state.db", migrations, 1, &err));
  assert_non_null (err);
  assert_non_null (strstr (err->msg, "db: /nonexistent-dir/x/state.db: "));
  veil_error_free (err);
}

/* Cached statements: reused when returned, distinct while checked out,
 * and handed back reset with no bindings left over. */
static void
test_stmt_cache (void **state)
{
  struct tmp *t = *state;
  veil_db_t *db = must_open (t->path, VEIL_ARRAY_SIZE (migrations));
  const char *sql = "SELECT v FROM kv WHERE k = ?";
  veil_db_stmt_t a = { 0 }, b = { 0 }, c = { 0 };
  assert_int_equal (veil_db_stmt_get (db, sql, &a, NULL), 0);
  sqlite3_stmt *first = a.st;
  sqlite3_bind_text (a.st, 1, "seeded", -1, SQLITE_STATIC);
  assert_int_equal (veil_db_step (db, a.st, NULL), SQLITE_ROW);
  assert_string_equal ((const char *) sqlite3_column_text (a.st, 0), "once");
  assert_int_equal (veil_db_stmt_get (db, sql, &b, NULL), 0);
  assert_ptr_not_equal (b.st, first); /* a is still checked out */
  veil_db_stmt_put (&a);
  assert_null (a.st);
  assert_int_equal (veil_db_stmt_get (db, sql, &c, NULL), 0);
  assert_ptr_equal (c.st, first); /* reused, reset, bindings cleared */
  assert_int_equal (veil_db_step (db, c.st, NULL), SQLITE_DONE);
  veil_db_stmt_put (&b);
  veil_db_stmt_put (&c);
  veil_error_t *err = NULL;
  veil_db_stmt_t bad = { 0 };
  assert_true (veil_db_stmt_get (db, "SELEKT nonsense", &bad, &err) < 0);
  veil_error_free (err);
  veil_db_close (db);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_migrations_once, setup, teardown),
    cmocka_unit_test_setup_teardown (test_stmt_cache, setup, teardown),
    cmocka_unit_test_setup_teardown (test_newer_refused, setup, teardown),
    cmocka_unit_test_setup_teardown (test_failed_migration_rolls_back, setup, teardown),
    cmocka_unit_test_setup_teardown (test_transactions, setup, teardown),
    cmocka_unit_test_setup_teardown (test_wal_and_pragmas, setup, teardown),
    cmocka_unit_test_setup_teardown (test_threads_share_handle, setup, teardown),
    cmocka_unit_test (test_open_errors),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
