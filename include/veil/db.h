/* libveil db: a small SQLite helper — WAL, busy timeout, schema migrations
 * by user_version, transactions.  Used by veil-trustee's state and, later,
 * the control plane's store. */
#ifndef VEIL_DB_H
#define VEIL_DB_H

#include <sqlite3.h>
#include "veil/base.h"

typedef struct veil_db veil_db_t;

/* Opens (creating) path in WAL mode with foreign keys on and a busy timeout,
 * then applies migrations[user_version .. n-1], each in its own transaction,
 * setting user_version after each.  A database newer than n is refused. */
veil_db_t *veil_db_open (const char *path, const char *const *migrations, size_t n_migrations,
                         veil_error_t **err);
void veil_db_close (veil_db_t *db);
/* The connection is opened in serialized mode; a transaction holds the db's
 * own lock so that several threads can share one veil_db_t. */
sqlite3 *veil_db_handle (veil_db_t *db);

int veil_db_exec (veil_db_t *db, const char *sql, veil_error_t **err);
int veil_db_begin (veil_db_t *db, veil_error_t **err); /* BEGIN IMMEDIATE; takes the lock */
int veil_db_commit (veil_db_t *db, veil_error_t **err);
void veil_db_rollback (veil_db_t *db);

/* Prepare with a clear error ("db: prepare: <sqlite message>"). */
sqlite3_stmt *veil_db_prepare (veil_db_t *db, const char *sql, veil_error_t **err);
/* sqlite3_step wrapper: returns SQLITE_ROW, SQLITE_DONE, or -errno with *err set. */
int veil_db_step (veil_db_t *db, sqlite3_stmt *st, veil_error_t **err);

/* A cached prepared statement for hot paths: taken with veil_db_stmt_get
 * (exclusive to the caller), returned reset with veil_db_stmt_put (or the
 * _cleanup_db_stmt_ attribute).  Same SQL text → same compiled statement. */
typedef struct veil_db_stmt
{
  veil_db_t *db;
  sqlite3_stmt *st;
  int slot;
} veil_db_stmt_t;

int veil_db_stmt_get (veil_db_t *db, const char *sql, veil_db_stmt_t *out, veil_error_t **err);
void veil_db_stmt_put (veil_db_stmt_t *s);
#define _cleanup_db_stmt_ _cleanup_ (veil_db_stmt_put)

static inline void
veil_db_stmt_freep (sqlite3_stmt **st)
{
  if (*st)
    sqlite3_finalize (*st);
}
#define _cleanup_stmt_ _cleanup_ (veil_db_stmt_freep)

#endif
