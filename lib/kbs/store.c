/* veil-trustee's state: resources (AES-256-GCM at rest, the path as AAD so
 * a ciphertext cannot be moved to another path), release policies,
 * reference values and the audit log, in SQLite under the state dir. */
#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include "internal.h"

#define AT_REST_KEY_LEN 32
#define GCM_IV_LEN 12
#define GCM_TAG_LEN 16

static const char *const migrations[] = {
  "CREATE TABLE resources (path TEXT PRIMARY KEY, iv BLOB NOT NULL, ciphertext BLOB NOT NULL,"
  "  tag BLOB NOT NULL, updated INTEGER NOT NULL);"
  "CREATE TABLE release_policies (pattern TEXT PRIMARY KEY, policy TEXT NOT NULL,"
  "  updated INTEGER NOT NULL);"
  "CREATE TABLE reference_values (workload TEXT PRIMARY KEY, tee TEXT NOT NULL,"
  "  doc TEXT NOT NULL, updated INTEGER NOT NULL);"
  "CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL,"
  "  event TEXT NOT NULL, outcome TEXT NOT NULL, tee TEXT, session TEXT, resource TEXT,"
  "  reason TEXT, peer TEXT);",
};

/* The at-rest key lives beside the database, readable by its owner only. */
static int
load_or_create_key (const char *path, uint8_t **key, veil_error_t **err)
{
  _cleanup_free_ uint8_t *raw = NULL;
  size_t len = 0;
  if (veil_file_read (path, 64, &raw, &len, NULL) == 0)
    {
      if (len != AT_REST_KEY_LEN)
        {
          veil_wipe (raw, len);
          return veil_error_set (err, EBADMSG, "%s: at-rest key must be %d bytes", path,
                                 AT_REST_KEY_LEN);
        }
      *key = veil_secret_dup (raw, len);
      veil_wipe (raw, len);
      return 0;
    }
  _cleanup_secret_ uint8_t *k = veil_secret_alloc (AT_REST_KEY_LEN);
  veil_random (k, AT_REST_KEY_LEN);
  if (veil_file_write_atomic (path, k, AT_REST_KEY_LEN, 0600, err) < 0)
    return -EIO;
  *key = steal_pointer (&k);
  return 0;
}

int
kbs_store_open (kbs_store_t *st, const char *state_dir, veil_error_t **err)
{
  memset (st, 0, sizeof (*st));
  pthread_mutex_init (&st->snap_lock, NULL);
  _cleanup_free_ char *keys = xasprintf ("%s/keys", state_dir);
  if (veil_mkdir_p (keys, 0700, err) < 0)
    return -EIO;
  _cleanup_free_ char *keyp = xasprintf ("%s/resource.key", keys);
  if (load_or_create_key (keyp, &st->at_rest_key, err) < 0)
    return -EIO;
  _cleanup_free_ char *dbp = xasprintf ("%s/trustee.db", state_dir);
  st->db = veil_db_open (dbp, migrations, VEIL_ARRAY_SIZE (migrations), err);
  if (!st->db && err && *err && strstr ((*err)->msg, "locked"))
    veil_error_wrap (err, "another veil-trustee holds this state directory");
  if (!st->db)
    {
      veil_secret_free (st->at_rest_key);
      st->at_rest_key = NULL;
      return -EIO;
    }
  chmod (dbp, 0600);
  /* One veil-trustee owns its state directory: hold SQLite's lock for the
   * life of the process (no file-lock system calls per transaction, and a
   * second instance on the same state cannot interleave writes).  The
   * first write takes the lock now, so a second instance fails at start. */
  if (veil_db_exec (st->db, "PRAGMA locking_mode=EXCLUSIVE; BEGIN IMMEDIATE; COMMIT;", err) < 0)
    {
      veil_error_wrap (err, "another veil-trustee holds this state directory");
      kbs_store_close (st);
      return -EBUSY;
    }
  return 0;
}

void
kbs_store_close (kbs_store_t *st)
{
  veil_db_close (st->db);
  veil_secret_free (st->at_rest_key);
  json_decref (st->policies);
  json_decref (st->refs);
  pthread_mutex_destroy (&st->snap_lock);
  memset (st, 0, sizeof (*st));
}

static char *
aad_of (const char *path)
{
  return xasprintf ("veil-kbs-resource:%s", path);
}

int
kbs_store_put_resource (kbs_store_t *st, const char *path, const uint8_t *data, size_t len,
                        veil_error_t **err)
{
  if (len > KBS_MAX_RESOURCE)
    return veil_error_set (err, E2BIG, "resource larger than %d bytes", KBS_MAX_RESOURCE);
  uint8_t iv[GCM_IV_LEN], tag[GCM_TAG_LEN];
  veil_random (iv, sizeof (iv));
  _cleanup_free_ uint8_t *ct = xmalloc (len + 1);
  _cleanup_free_ char *aad = aad_of (path);
  _cleanup_ (EVP_CIPHER_CTX_freep) EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new ();
  int n = 0, f = 0;
  if (EVP_EncryptInit_ex (c, EVP_aes_256_gcm (), NULL, st->at_rest_key, iv) != 1
      || EVP_EncryptUpdate (c, NULL, &n, (uint8_t *) aad, (int) strlen (aad)) != 1
      || EVP_EncryptUpdate (c, ct, &n, data, (int) len) != 1
      || EVP_EncryptFinal_ex (c, ct + n, &f) != 1
      || EVP_CIPHER_CTX_ctrl (c, EVP_CTRL_GCM_GET_TAG, GCM_TAG_LEN, tag) != 1)
    return veil_error_set (err, EIO, "resource encryption failed: %s", veil_openssl_error ());
  _cleanup_stmt_ sqlite3_stmt *s = veil_db_prepare (
      st->db, "INSERT OR REPLACE INTO resources (path, iv, ciphertext, tag, updated)"
              " VALUES (?, ?, ?, ?, ?)",
      err);
  if (!s)
    return -EIO;
  sqlite3_bind_text (s, 1, path, -1, SQLITE_TRANSIENT);
  sqlite3_bind_blob (s, 2, iv, sizeof (iv), SQLITE_TRANSIENT);
  sqlite3_bind_blob (s, 3, ct, (int) len, SQLITE_TRANSIENT);
  sqlite3_bind_blob (s, 4, tag, sizeof (tag), SQLITE_TRANSIENT);
  sqlite3_bind_int64 (s, 5, veil_now_unix ());
  return veil_db_step (st->db, s, err) == SQLITE_DONE ? 0 : -EIO;
}

int
kbs_store_get_resource (kbs_store_t *st, const char *path, uint8_t **data, size_t *len,
                        veil_error_t **err)
{
  _cleanup_db_stmt_ veil_db_stmt_t q = { 0 };
  if (veil_db_stmt_get (st->db, "SELECT iv, ciphertext, tag FROM resources WHERE path = ?", &q, err) < 0)
    return -EIO;
  sqlite3_stmt *s = q.st;
  sqlite3_bind_text (s, 1, path, -1, SQLITE_TRANSIENT);
  int r = veil_db_step (st->db, s, err);
  if (r == SQLITE_DONE)
    return veil_error_set (err, ENOENT, "resource '%s' does not exist", path);
  if (r != SQLITE_ROW)
    return -EIO;
  const uint8_t *iv = sqlite3_column_blob (s, 0), *ct = sqlite3_column_blob (s, 1),
                *tag = sqlite3_column_blob (s, 2);
  int ct_len = sqlite3_column_bytes (s, 1);
  if (sqlite3_column_bytes (s, 0) != GCM_IV_LEN || sqlite3_column_bytes (s, 2) != GCM_TAG_LEN
      || ct_len < 0 || ct_len > KBS_MAX_RESOURCE)
    return veil_error_set (err, EBADMSG, "resource '%s': corrupt record", path);
  _cleanup_secret_ uint8_t *pt = veil_secret_alloc ((size_t) ct_len);
  _cleanup_free_ char *aad = aad_of (path);
  _cleanup_ (EVP_CIPHER_CTX_freep) EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new ();
  int n = 0, f = 0;
  if (EVP_DecryptInit_ex (c, EVP_aes_256_gcm (), NULL, st->at_rest_key, iv) != 1
      || EVP_DecryptUpdate (c, NULL, &n, (uint8_t *) aad, (int) strlen (aad)) != 1
      || (ct_len && EVP_DecryptUpdate (c, pt, &n, ct, ct_len) != 1)
      || EVP_CIPHER_CTX_ctrl (c, EVP_CTRL_GCM_SET_TAG, GCM_TAG_LEN, (void *) tag) != 1
      || EVP_DecryptFinal_ex (c, pt + n, &f) != 1)
    return veil_error_set (err, EBADMSG,
                           "resource '%s': at-rest authentication failed (wrong key or tampered)",
                           path);
  *data = steal_pointer (&pt);
  *len = (size_t) ct_len;
  return 0;
}

/* After a write to policies or reference values (whatever its outcome):
 * the next read reloads its snapshot. */
static int
invalidate_after (kbs_store_t *st, int r)
{
  pthread_mutex_lock (&st->snap_lock);
  st->gen++;
  pthread_mutex_unlock (&st->snap_lock);
  return r;
}

static int
delete_where (kbs_store_t *st, const char *sql, const char *key, const char *what,
              veil_error_t **err)
{
  _cleanup_stmt_ sqlite3_stmt *s = veil_db_prepare (st->db, sql, err);
  if (!s)
    return -EIO;
  sqlite3_bind_text (s, 1, key, -1, SQLITE_TRANSIENT);
  if (veil_db_step (st->db, s, err) != SQLITE_DONE)
    return -EIO;
  if (sqlite3_changes (veil_db_handle (st->db)) == 0)
    return veil_error_set (err, ENOENT, "%s '%s' does not exist", what, key);
  return 0;
}

int
kbs_store_delete_resource (kbs_store_t *st, const char *path, veil_error_t **err)
{
  return delete_where (st, "DELETE FROM resources WHERE path = ?", path, "resource", err);
}

int
kbs_store_delete_policy (kbs_store_t *st, const char *pattern, veil_error_t **err)
{
  return invalidate_after (st, delete_where (st, "DELETE FROM release_policies WHERE pattern = ?", pattern,
                                             "release policy", err));
}

int
kbs_store_delete_reference (kbs_store_t *st, const char *workload, veil_error_t **err)
{
  return invalidate_after (st, delete_where (st, "DELETE FROM reference_values WHERE workload = ?", workload,
                                             "workload", err));
}

static int
put_json (kbs_store_t *st, const char *sql, const char *key, const char *tee, const json_t *doc,
          veil_error_t **err)
{
  _cleanup_free_ char *text = veil_json_dump (doc);
  _cleanup_stmt_ sqlite3_stmt *s = veil_db_prepare (st->db, sql, err);
  if (!s)
    return -EIO;
  int i = 1;
  sqlite3_bind_text (s, i++, key, -1, SQLITE_TRANSIENT);
  if (tee)
    sqlite3_bind_text (s, i++, tee, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text (s, i++, text, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64 (s, i, veil_now_unix ());
  return veil_db_step (st->db, s, err) == SQLITE_DONE ? 0 : -EIO;
}

int
kbs_store_put_policy (kbs_store_t *st, const char *pattern, const json_t *policy,
                      veil_error_t **err)
{
  return invalidate_after (st, put_json (st,
                                         "INSERT OR REPLACE INTO release_policies (pattern, policy, updated)"
                                         " VALUES (?, ?, ?)",
                                         pattern, NULL, policy, err));
}

int
kbs_store_put_reference (kbs_store_t *st, const char *workload, const json_t *doc,
                         veil_error_t **err)
{
  const char *tee = veil_json_req_str (doc, "tee", err);
  if (!tee)
    return -EINVAL;
  return invalidate_after (st, put_json (st,
                                         "INSERT OR REPLACE INTO reference_values (workload, tee, doc, updated)"
                                         " VALUES (?, ?, ?, ?)",
                                         workload, tee, doc, err));
}

/* Specificity: fewer wildcard characters first, then the longer pattern. */
static bool
more_specific (const char *a, const char *b)
{
  size_t wa = 0, wb = 0;
  for (const char *p = a; *p; p++)
    wa += (*p == '*' || *p == '?');
  for (const char *p = b; *p; p++)
    wb += (*p == '*' || *p == '?');
  if (wa != wb)
    return wa < wb;
  return strlen (a) > strlen (b);
}

/* Reloads a table into a JSON object {key: parsed document} when a write
 * happened since the last load.  Called with snap_lock held. */
static int
snapshot_refresh (kbs_store_t *st, const char *sql, json_t **snap, uint64_t *snap_gen,
                  veil_error_t **err)
{
  if (*snap && *snap_gen == st->gen)
    return 0;
  _cleanup_stmt_ sqlite3_stmt *s = veil_db_prepare (st->db, sql, err);
  if (!s)
    return -EIO;
  _cleanup_json_ json_t *out = json_object ();
  int r;
  while ((r = veil_db_step (st->db, s, err)) == SQLITE_ROW)
    {
      const char *k = (const char *) sqlite3_column_text (s, 0);
      const char *doc = (const char *) sqlite3_column_text (s, 1);
      json_t *j = doc ? json_loads (doc, 0, NULL) : NULL;
      if (k && j)
        json_object_set_new (out, k, j);
      else
        json_decref (j);
    }
  if (r != SQLITE_DONE)
    return -EIO;
  json_decref (*snap);
  *snap = steal_pointer (&out);
  *snap_gen = st->gen;
  return 0;
}

json_t *
kbs_store_find_policy (kbs_store_t *st, const char *path, char **pattern, veil_error_t **err)
{
  pthread_mutex_lock (&st->snap_lock);
  if (snapshot_refresh (st, "SELECT pattern, policy FROM release_policies", &st->policies,
                        &st->policies_gen, err)
      < 0)
    {
      pthread_mutex_unlock (&st->snap_lock);
      return NULL;
    }
  const char *best = NULL, *pat;
  json_t *doc, *found = NULL;
  json_object_foreach (st->policies, pat, doc)
  {
    if (fnmatch (pat, path, FNM_PATHNAME) == 0 && (!best || more_specific (pat, best)))
      {
        best = pat;
        found = doc;
      }
  }
  json_t *copy = found ? json_deep_copy (found) : NULL;
  if (copy && pattern)
    *pattern = xstrdup (best);
  pthread_mutex_unlock (&st->snap_lock);
  return copy;
}

json_t *
kbs_store_references_for (kbs_store_t *st, const char *tee, veil_error_t **err)
{
  pthread_mutex_lock (&st->snap_lock);
  if (snapshot_refresh (st, "SELECT workload, doc FROM reference_values", &st->refs, &st->refs_gen,
                        err)
      < 0)
    {
      pthread_mutex_unlock (&st->snap_lock);
      return NULL;
    }
  json_t *out = json_object ();
  const char *w;
  json_t *doc;
  json_object_foreach (st->refs, w, doc)
  {
    const char *t = veil_json_str (doc, "tee");
    if (t && !strcmp (t, tee))
      json_object_set_new (out, w, json_deep_copy (doc));
  }
  pthread_mutex_unlock (&st->snap_lock);
  return out;
}

json_t *
kbs_store_list (kbs_store_t *st, const char *what, veil_error_t **err)
{
  const char *sql;
  if (!strcmp (what, "resources"))
    sql = "SELECT path, updated, length(ciphertext) FROM resources ORDER BY path";
  else if (!strcmp (what, "policies"))
    sql = "SELECT pattern, updated, policy FROM release_policies ORDER BY pattern";
  else if (!strcmp (what, "references"))
    sql = "SELECT workload, updated, doc FROM reference_values ORDER BY workload";
  else
    {
      veil_error_set (err, EINVAL, "unknown listing '%s'", what);
      return NULL;
    }
  _cleanup_stmt_ sqlite3_stmt *s = veil_db_prepare (st->db, sql, err);
  if (!s)
    return NULL;
  _cleanup_json_ json_t *arr = json_array ();
  int r;
  while ((r = veil_db_step (st->db, s, err)) == SQLITE_ROW)
    {
      json_t *row = json_pack ("{s:s, s:I}", "name", (const char *) sqlite3_column_text (s, 0),
                               "updated", (json_int_t) sqlite3_column_int64 (s, 1));
      if (!strcmp (what, "resources"))
        json_object_set_new (row, "size", json_integer (sqlite3_column_int64 (s, 2)));
      else
        {
          const char *doc = (const char *) sqlite3_column_text (s, 2);
          json_t *j = doc ? json_loads (doc, 0, NULL) : NULL;
          json_object_set_new (row, "document", j ? j : json_null ());
        }
      json_array_append_new (arr, row);
    }
  if (r != SQLITE_DONE)
    return NULL;
  return steal_pointer (&arr);
}

void
kbs_store_audit (kbs_store_t *st, const char *event, const char *outcome, const char *tee,
                 const char *session, const char *resource, const char *reason, const char *peer)
{
  veil_error_t *err = NULL;
  _cleanup_db_stmt_ veil_db_stmt_t q = { 0 };
  sqlite3_stmt *s = veil_db_stmt_get (st->db,
                                      "INSERT INTO audit (ts, event, outcome, tee, session, resource, reason, peer)"
                                      " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                      &q, &err)
                            == 0
                        ? q.st
                        : NULL;
  if (s)
    {
      sqlite3_bind_int64 (s, 1, veil_now_unix ());
      sqlite3_bind_text (s, 2, event, -1, SQLITE_TRANSIENT);
      sqlite3_bind_text (s, 3, outcome, -1, SQLITE_TRANSIENT);
      sqlite3_bind_text (s, 4, tee, -1, SQLITE_TRANSIENT);
      sqlite3_bind_text (s, 5, session, -1, SQLITE_TRANSIENT);
      sqlite3_bind_text (s, 6, resource, -1, SQLITE_TRANSIENT);
      sqlite3_bind_text (s, 7, reason, -1, SQLITE_TRANSIENT);
      sqlite3_bind_text (s, 8, peer, -1, SQLITE_TRANSIENT);
      veil_db_step (st->db, s, &err);
    }
  if (err)
    veil_log_error ("kbs", "audit write failed", "error=\"%s\"", err->msg);
  veil_error_free (err);
  veil_log_info ("kbs", event, "outcome=%s tee=%s resource=%s reason=\"%s\"", outcome,
                 tee ? tee : "-", resource ? resource : "-", reason ? reason : "");
}

json_t *
kbs_store_audit_read (kbs_store_t *st, int64_t since_id, int64_t limit, veil_error_t **err)
{
  _cleanup_stmt_ sqlite3_stmt *s = veil_db_prepare (
      st->db,
      "SELECT id, ts, event, outcome, tee, session, resource, reason, peer FROM audit"
      " WHERE id > ? ORDER BY id LIMIT ?",
      err);
  if (!s)
    return NULL;
  sqlite3_bind_int64 (s, 1, since_id);
  sqlite3_bind_int64 (s, 2, limit);
  _cleanup_json_ json_t *arr = json_array ();
  int r;
  static const char *const cols[] = { "id", "ts", "event", "outcome", "tee",
                                      "session", "resource", "reason", "peer" };
  while ((r = veil_db_step (st->db, s, err)) == SQLITE_ROW)
    {
      json_t *row = json_object ();
      for (int i = 0; i < 9; i++)
        {
          if (i < 2)
            json_object_set_new (row, cols[i], json_integer (sqlite3_column_int64 (s, i)));
          else if (sqlite3_column_type (s, i) == SQLITE_NULL)
            json_object_set_new (row, cols[i], json_null ());
          else
            {
              json_t *v = json_string ((const char *) sqlite3_column_text (s, i));
              json_object_set_new (row, cols[i], v ? v : json_null ());
            }
        }
      json_array_append_new (arr, row);
    }
  if (r != SQLITE_DONE)
    return NULL;
  return steal_pointer (&arr);
}
