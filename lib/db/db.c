/* SQLite helper: one connection in serialized mode, WAL journal, schema
 * migrations by PRAGMA user_version.
 *
 * Locking: SQLITE_OPEN_FULLMUTEX makes every sqlite3_* call on the shared
 * connection safe from any thread, so single statements outside a
 * transaction need nothing more.  A transaction, however, is state of the
 * connection: two threads issuing BEGIN/INSERT/COMMIT on the same handle
 * would interleave their statements into one transaction.  veil_db_begin()
 * therefore takes the db's own mutex and holds it until commit/rollback;
 * a thread must not use the handle for other work of its own between the
 * two (it would deadlock on nothing, but others wait for it). */
#include <pthread.h>
#include <stdio.h>
#include <strings.h>

#include "veil/db.h"

#define BUSY_TIMEOUT_MS 5000

/* Prepared statements reused across calls: compiling SQL costs more than
 * running the small statements of a request.  A cached statement is checked
 * out by one thread at a time (a statement cannot be stepped by two). */
#define STMT_CACHE_SLOTS 32

struct stmt_slot
{
  char *sql;
  sqlite3_stmt *st;
  bool busy;
};

struct veil_db
{
  sqlite3 *h;
  char *path;
  pthread_mutex_t txn_lock;
  bool in_txn;
  pthread_mutex_t cache_lock;
  struct stmt_slot cache[STMT_CACHE_SLOTS];
};

static int
db_error (veil_db_t *db, veil_error_t **err, const char *what)
{
  int rc = sqlite3_extended_errcode (db->h);
  int code;
  switch (rc & 0xff)
    {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      code = EBUSY;
      break;
    case SQLITE_CONSTRAINT:
      code = EEXIST;
      break;
    case SQLITE_NOMEM:
      code = ENOMEM;
      break;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      code = EACCES;
      break;
    case SQLITE_FULL:
      code = ENOSPC;
      break;
    case SQLITE_CANTOPEN:
      code = ENOENT;
      break;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      code = EBADMSG;
      break;
    case SQLITE_TOOBIG:
      code = E2BIG;
      break;
    case SQLITE_MISUSE:
    case SQLITE_RANGE:
    case SQLITE_MISMATCH:
      code = EINVAL;
      break;
    default:
      code = EIO;
      break;
    }
  return veil_error_set (err, code, "db: %s: %s: %s", db->path, what, sqlite3_errmsg (db->h));
}

static int
exec_sql (veil_db_t *db, const char *sql, const char *what, veil_error_t **err)
{
  char *msg = NULL;
  if (sqlite3_exec (db->h, sql, NULL, NULL, &msg) != SQLITE_OK)
    {
      int r = db_error (db, err, what);
      sqlite3_free (msg);
      return r;
    }
  return 0;
}

static int
pragma_int (veil_db_t *db, const char *sql, int64_t *out, veil_error_t **err)
{
  _cleanup_stmt_ sqlite3_stmt *st = veil_db_prepare (db, sql, err);
  if (st == NULL)
    return -EIO;
  int rc = veil_db_step (db, st, err);
  if (rc < 0)
    return rc;
  if (rc != SQLITE_ROW)
    return veil_error_set (err, EIO, "db: %s: %s returned no row", db->path, sql);
  *out = sqlite3_column_int64 (st, 0);
  return 0;
}

static int
pragma_text (veil_db_t *db, const char *sql, char *out, size_t out_len, veil_error_t **err)
{
  _cleanup_stmt_ sqlite3_stmt *st = veil_db_prepare (db, sql, err);
  if (st == NULL)
    return -EIO;
  int rc = veil_db_step (db, st, err);
  if (rc < 0)
    return rc;
  const unsigned char *t = rc == SQLITE_ROW ? sqlite3_column_text (st, 0) : NULL;
  snprintf (out, out_len, "%s", t ? (const char *) t : "");
  return 0;
}

static int
configure (veil_db_t *db, veil_error_t **err)
{
  sqlite3_busy_timeout (db->h, BUSY_TIMEOUT_MS);
  sqlite3_extended_result_codes (db->h, 1);
  char mode[32];
  int r = pragma_text (db, "PRAGMA journal_mode=WAL", mode, sizeof (mode), err);
  if (r < 0)
    return r;
  /* an in-memory database reports "memory": WAL does not apply there */
  if (strcasecmp (mode, "wal") != 0 && strcmp (db->path, ":memory:") != 0)
    return veil_error_set (err, EIO, "db: %s: cannot switch to WAL (journal_mode=%s)", db->path,
                           mode);
  /* WAL + NORMAL: a crash may lose the last transactions but never
   * corrupts the database */
  r = exec_sql (db, "PRAGMA synchronous=NORMAL", "synchronous", err);
  if (r == 0)
    r = exec_sql (db, "PRAGMA foreign_keys=ON", "foreign_keys", err);
  return r;
}

static int
migrate (veil_db_t *db, const char *const *migrations, size_t n, veil_error_t **err)
{
  int64_t version = 0;
  int r = pragma_int (db, "PRAGMA user_version", &version, err);
  if (r < 0)
    return r;
  if (version < 0 || (uint64_t) version > n)
    return veil_error_set (err, EPROTO,
                           "db: %s: schema version %lld is newer than this program knows (%zu)",
                           db->path, (long long) version, n);
  for (size_t i = (size_t) version; i < n; i++)
    {
      r = veil_db_begin (db, err);
      if (r < 0)
        return r;
      r = exec_sql (db, migrations[i], "migration", err);
      if (r == 0)
        {
          /* PRAGMA takes no bound parameters; i is our own number */
          char sql[64];
          snprintf (sql, sizeof (sql), "PRAGMA user_version=%zu", i + 1);
          r = exec_sql (db, sql, "user_version", err);
        }
      if (r == 0)
        r = veil_db_commit (db, err);
      else
        veil_db_rollback (db);
      if (r < 0)
        return veil_error_wrap (err, "migration %zu", i + 1);
      veil_log_info ("db", "schema migrated", "path=%s version=%zu", db->path, i + 1);
    }
  return 0;
}

veil_db_t *
veil_db_open (const char *path, const char *const *migrations, size_t n_migrations,
              veil_error_t **err)
{
  if (path == NULL)
    {
      veil_error_set (err, EINVAL, "db: no path");
      return NULL;
    }
  veil_db_t *db = xcalloc (1, sizeof (*db));
  db->path = xstrdup (path);
  pthread_mutex_init (&db->txn_lock, NULL);
  pthread_mutex_init (&db->cache_lock, NULL);
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX;
#ifdef SQLITE_OPEN_EXRESCODE
  flags |= SQLITE_OPEN_EXRESCODE;
#endif
  /* SQLite opens its files with O_CLOEXEC on Linux already (unixOpen);
   * there is no SQLITE_OPEN_ flag for it */
  int rc = sqlite3_open_v2 (path, &db->h, flags, NULL);
  if (rc != SQLITE_OK)
    {
      if (db->h != NULL)
        db_error (db, err, "open");
      else
        veil_error_set (err, ENOMEM, "db: %s: open: out of memory", path);
      veil_db_close (db);
      return NULL;
    }
  if (configure (db, err) < 0 || migrate (db, migrations, n_migrations, err) < 0)
    {
      veil_db_close (db);
      return NULL;
    }
  return db;
}

void
veil_db_close (veil_db_t *db)
{
  if (db == NULL)
    return;
  for (size_t i = 0; i < STMT_CACHE_SLOTS; i++)
    {
      sqlite3_finalize (db->cache[i].st);
      free (db->cache[i].sql);
    }
  if (db->h != NULL)
    sqlite3_close_v2 (db->h);
  pthread_mutex_destroy (&db->txn_lock);
  pthread_mutex_destroy (&db->cache_lock);
  free (db->path);
  free (db);
}

sqlite3 *
veil_db_handle (veil_db_t *db)
{
  return db->h;
}

int
veil_db_exec (veil_db_t *db, const char *sql, veil_error_t **err)
{
  return exec_sql (db, sql, "exec", err);
}

int
veil_db_begin (veil_db_t *db, veil_error_t **err)
{
  pthread_mutex_lock (&db->txn_lock);
  /* IMMEDIATE takes the write lock now, so that a transaction never fails
   * halfway with SQLITE_BUSY when it first writes */
  int r = exec_sql (db, "BEGIN IMMEDIATE", "begin", err);
  if (r < 0)
    {
      pthread_mutex_unlock (&db->txn_lock);
      return r;
    }
  db->in_txn = true;
  return 0;
}

int
veil_db_commit (veil_db_t *db, veil_error_t **err)
{
  if (!db->in_txn)
    return veil_error_set (err, EINVAL, "db: %s: commit without begin", db->path);
  int r = exec_sql (db, "COMMIT", "commit", err);
  if (r < 0)
    {
      /* a failed COMMIT leaves the transaction open: undo it so that the
       * lock is not released with a transaction still pending */
      sqlite3_exec (db->h, "ROLLBACK", NULL, NULL, NULL);
    }
  db->in_txn = false;
  pthread_mutex_unlock (&db->txn_lock);
  return r;
}

void
veil_db_rollback (veil_db_t *db)
{
  if (!db->in_txn)
    return;
  if (sqlite3_get_autocommit (db->h) == 0)
    sqlite3_exec (db->h, "ROLLBACK", NULL, NULL, NULL);
  db->in_txn = false;
  pthread_mutex_unlock (&db->txn_lock);
}

int
veil_db_stmt_get (veil_db_t *db, const char *sql, veil_db_stmt_t *out, veil_error_t **err)
{
  out->db = db;
  out->slot = -1;
  pthread_mutex_lock (&db->cache_lock);
  int free_slot = -1;
  for (int i = 0; i < STMT_CACHE_SLOTS; i++)
    {
      struct stmt_slot *c = &db->cache[i];
      if (c->sql && !c->busy && strcmp (c->sql, sql) == 0)
        {
          c->busy = true;
          out->st = c->st;
          out->slot = i;
          pthread_mutex_unlock (&db->cache_lock);
          return 0;
        }
      if (!c->sql && free_slot < 0)
        free_slot = i;
    }
  if (free_slot >= 0)
    {
      db->cache[free_slot].sql = xstrdup (sql); /* reserved; filled below */
      db->cache[free_slot].busy = true;
    }
  pthread_mutex_unlock (&db->cache_lock);
  out->st = veil_db_prepare (db, sql, err);
  if (free_slot >= 0)
    {
      pthread_mutex_lock (&db->cache_lock);
      if (out->st)
        {
          db->cache[free_slot].st = out->st;
          out->slot = free_slot;
        }
      else
        {
          free (db->cache[free_slot].sql);
          db->cache[free_slot] = (struct stmt_slot){ 0 };
        }
      pthread_mutex_unlock (&db->cache_lock);
    }
  return out->st ? 0 : -EIO;
}

void
veil_db_stmt_put (veil_db_stmt_t *s)
{
  if (!s->st)
    return;
  sqlite3_reset (s->st);
  sqlite3_clear_bindings (s->st);
  if (s->slot < 0)
    sqlite3_finalize (s->st);
  else
    {
      pthread_mutex_lock (&s->db->cache_lock);
      s->db->cache[s->slot].busy = false;
      pthread_mutex_unlock (&s->db->cache_lock);
    }
  s->st = NULL;
}

sqlite3_stmt *
veil_db_prepare (veil_db_t *db, const char *sql, veil_error_t **err)
{
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2 (db->h, sql, -1, &st, NULL) != SQLITE_OK)
    {
      db_error (db, err, "prepare");
      return NULL;
    }
  if (st == NULL)
    veil_error_set (err, EINVAL, "db: %s: prepare: empty statement", db->path);
  return st;
}

int
veil_db_step (veil_db_t *db, sqlite3_stmt *st, veil_error_t **err)
{
  int rc = sqlite3_step (st);
  if (rc == SQLITE_ROW || rc == SQLITE_DONE)
    return rc;
  return db_error (db, err, "step");
}
