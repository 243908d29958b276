/* SPDX-License-Identifier: MIT */
/* worker_db: the activity worker's checkpoint table, HOME/worker.db.
 *
 * Why a file of its own beside state.db: the engine keeps one write
 * transaction open per loop turn on state.db (group commit), so a second
 * connection writing to state.db from the same thread would meet
 * SQLITE_BUSY with nobody able to release the lock. worker.db has one
 * writer (this connection) and every write is its own durable transaction
 * (WAL, synchronous=FULL), which is what "checkpoint before work" needs. */
#include "worker/worker_int.h"

#include <sqlite3.h>
#include <string.h>

struct sw__worker_db {
  sqlite3 *db;
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS worker_tasks ("
    " id TEXT PRIMARY KEY,"
    " token TEXT NOT NULL,"
    " activity TEXT NOT NULL,"
    " input TEXT NOT NULL,"
    " state TEXT NOT NULL,"
    " output TEXT, error TEXT, cause TEXT,"
    " accepted_ms INTEGER NOT NULL)";

static int db_fail(sw__worker_db *d, int src, sw_err *err)
{
  return sw_err_set(err, SW_EIO, SW_ORIGIN_SQLITE, src, "worker.db: %s",
                    d && d->db ? sqlite3_errmsg(d->db) : sqlite3_errstr(src));
}

int sw__worker_db_open(sw__worker_db **out, const char *path, sw_err *err)
{
  sw__worker_db *d = sw_calloc(1, sizeof(*d));
  int rc;

  *out = NULL;
  rc = sqlite3_open_v2(path, &d->db,
                       SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_busy_timeout(d->db, 5000);
  if (rc == SQLITE_OK)
    rc = sqlite3_exec(d->db,
                      "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;",
                      NULL, NULL, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_exec(d->db, schema, NULL, NULL, NULL);
  if (rc != SQLITE_OK) {
    rc = db_fail(d, rc, err);
    sw_err_prefix(err, "%s: ", path);
    sw__worker_db_close(d);
    return rc;
  }
  *out = d;
  return 0;
}

void sw__worker_db_close(sw__worker_db *d)
{
  if (!d)
    return;
  sqlite3_close(d->db);
  sw_free(d);
}

/* Prepare, bind texts (NULL binds NULL), step to done. */
static int run(sw__worker_db *d, const char *sql, const char *const *texts,
               int n, int64_t i64, int i64_at, sw_err *err)
{
  sqlite3_stmt *st = NULL;
  int rc, i;

  rc = sqlite3_prepare_v2(d->db, sql, -1, &st, NULL);
  for (i = 0; rc == SQLITE_OK && i < n; i++)
    rc = texts[i] ? sqlite3_bind_text(st, i + 1, texts[i], -1,
                                      SQLITE_STATIC)
                  : sqlite3_bind_null(st, i + 1);
  if (rc == SQLITE_OK && i64_at > 0)
    rc = sqlite3_bind_int64(st, i64_at, i64);
  if (rc == SQLITE_OK) {
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
      rc = SQLITE_OK;
  }
  if (rc != SQLITE_OK)
    rc = db_fail(d, rc, err);
  sqlite3_finalize(st);
  return rc;
}

int sw__worker_db_insert(sw__worker_db *d, const sw__worker_row *r,
                         sw_err *err)
{
  const char *t[] = {r->id, r->token, r->activity, r->input};

  return run(d,
             "INSERT OR IGNORE INTO worker_tasks (id, token, activity, "
             "input, state, accepted_ms) VALUES (?1, ?2, ?3, ?4, 'RUNNING', "
             "?5)",
             t, 4, r->accepted_ms, 5, err);
}

int sw__worker_db_set_result(sw__worker_db *d, const char *id,
                             const char *output, const char *error,
                             const char *cause, sw_err *err)
{
  const char *t[] = {id, output, error, cause};

  return run(d,
             "UPDATE worker_tasks SET state = 'DONE', output = ?2, "
             "error = ?3, cause = ?4 WHERE id = ?1",
             t, 4, 0, 0, err);
}

int sw__worker_db_delete(sw__worker_db *d, const char *id, sw_err *err)
{
  const char *t[] = {id};

  return run(d, "DELETE FROM worker_tasks WHERE id = ?1", t, 1, 0, 0, err);
}

static const char *col(sqlite3_stmt *st, int i)
{
  return (const char *)sqlite3_column_text(st, i);
}

int sw__worker_db_load(sw__worker_db *d, sw__worker_row_cb cb, void *payload,
                       sw_err *err)
{
  sqlite3_stmt *st = NULL;
  sw__worker_row r;
  int rc;

  rc = sqlite3_prepare_v2(d->db,
                          "SELECT id, token, activity, input, state, output, "
                          "error, cause, accepted_ms FROM worker_tasks "
                          "ORDER BY accepted_ms, id",
                          -1, &st, NULL);
  while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    r.id = col(st, 0);
    r.token = col(st, 1);
    r.activity = col(st, 2);
    r.input = col(st, 3);
    r.state = col(st, 4);
    r.output = col(st, 5);
    r.error = col(st, 6);
    r.cause = col(st, 7);
    r.accepted_ms = sqlite3_column_int64(st, 8);
    cb(&r, payload);
    rc = SQLITE_OK;
  }
  if (rc == SQLITE_DONE)
    rc = SQLITE_OK;
  if (rc != SQLITE_OK)
    rc = db_fail(d, rc, err);
  sqlite3_finalize(st);
  return rc;
}
