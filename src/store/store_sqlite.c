/* SPDX-License-Identifier: MIT */
/* The checkpoint store over SQLite. Invariant: everything the engine
 * writes for one loop turn commits atomically (one transaction), so a
 * crash leaves the store at a consistent turn boundary; side effects are
 * only issued after the commit that records their TaskScheduled event. */
#include "store/store.h"

#include <signal.h>
#include <stdio.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
  Q_PUT_DEF,
  Q_GET_DEF,
  Q_INS_EXEC,
  Q_FINISH_EXEC,
  Q_REOPEN_EXEC,
  Q_GET_EXEC_ID,
  Q_GET_EXEC_NAME,
  Q_NAME_TAKEN,
  Q_LIST_EXEC,
  Q_LIST_EXEC_STATUS,
  Q_INS_EVENT,
  Q_MAX_EVENT,
  Q_LIST_EVENTS,
  Q_PUT_BRANCH,
  Q_DEL_BRANCHES,
  Q_LIST_BRANCHES,
  Q_PUT_TASK,
  Q_SET_TASK,
  Q_GET_TASK,
  Q_EXEC_SEQ,
  Q_COUNT
};

static const char *const sql_text[Q_COUNT] = {
    [Q_PUT_DEF] = "INSERT OR IGNORE INTO definitions(hash, text) VALUES(?,?)",
    [Q_GET_DEF] = "SELECT text FROM definitions WHERE hash=?",
    [Q_INS_EXEC] =
        "INSERT INTO executions(id, name, workflow, source, definition_hash,"
        " input, status, start_ms, stop_ms, warehouse, redrive_count)"
        " VALUES(?,?,?,?,?,?,?,?,0,?,0)",
    [Q_FINISH_EXEC] = "UPDATE executions SET status=?, stop_ms=?, output=?,"
                      " error=?, cause=? WHERE id=?",
    [Q_REOPEN_EXEC] = "UPDATE executions SET status='RUNNING', stop_ms=0,"
                      " output=NULL, error=NULL, cause=NULL, redrive_count=?,"
                      " redrive_ms=? WHERE id=?",
    [Q_GET_EXEC_ID] = "SELECT id, name, workflow, source, definition_hash,"
                      " input, status, output, error, cause, warehouse,"
                      " start_ms, stop_ms, redrive_count, redrive_ms FROM executions"
                      " WHERE id=?",
    [Q_GET_EXEC_NAME] = "SELECT id, name, workflow, source, definition_hash,"
                        " input, status, output, error, cause, warehouse,"
                        " start_ms, stop_ms, redrive_count, redrive_ms FROM executions"
                        " WHERE name=? ORDER BY start_ms DESC LIMIT 1",
    [Q_NAME_TAKEN] = "SELECT 1 FROM executions WHERE workflow=? AND name=?",
    [Q_LIST_EXEC] = "SELECT id, name, workflow, source, definition_hash,"
                    " input, status, output, error, cause, warehouse,"
                    " start_ms, stop_ms, redrive_count, redrive_ms FROM executions"
                    " ORDER BY start_ms DESC, rowid DESC",
    [Q_LIST_EXEC_STATUS] = "SELECT id, name, workflow, source,"
                           " definition_hash, input, status, output, error,"
                           " cause, warehouse, start_ms, stop_ms,"
                           " redrive_count, redrive_ms FROM executions"
                           " WHERE status=?"
                           " ORDER BY start_ms DESC, rowid DESC",
    [Q_INS_EVENT] = "INSERT INTO events(key, previous_id, ts_ms,"
                    " type, details) VALUES((?1 << 32) | ?2,?3,?4,?5,?6)",
    [Q_MAX_EVENT] = "SELECT coalesce(max(key) & 4294967295, 0) FROM events"
                    " WHERE key BETWEEN (?1 << 32) AND (?1 << 32) | 4294967295",
    [Q_LIST_EVENTS] = "SELECT key & 4294967295, previous_id, ts_ms, type,"
                      " details FROM events WHERE key BETWEEN (?1 << 32)"
                      " AND (?1 << 32) | 4294967295 ORDER BY key",
    [Q_EXEC_SEQ] = "SELECT seq FROM executions WHERE id=?",
    [Q_PUT_BRANCH] =
        "INSERT INTO branches(execution_id, path, parent, idx, machine, state,"
        " step, phase, input, data, status, output)"
        " VALUES(?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(execution_id, path) DO"
        " UPDATE SET state=excluded.state, step=excluded.step,"
        " phase=excluded.phase, input=excluded.input, data=excluded.data,"
        " status=excluded.status, output=excluded.output",
    [Q_DEL_BRANCHES] = "DELETE FROM branches WHERE execution_id=? AND"
                       " path > ? || '/' AND path < ? || '0'",
    [Q_LIST_BRANCHES] = "SELECT path, parent, idx, machine, state, step, phase,"
                        " input, data, status, output FROM branches"
                        " WHERE execution_id=? ORDER BY length(path), path",
    [Q_PUT_TASK] = "INSERT OR REPLACE INTO tasks(execution_id, token, branch,"
                   " state, attempt, resource, parameters, external_id,"
                   " status, scheduled_ms) VALUES(?,?,?,?,?,?,?,?,?,?)",
    [Q_SET_TASK] = "UPDATE tasks SET status=?, external_id=coalesce(?,"
                   " external_id) WHERE execution_id=? AND token=?",
    [Q_GET_TASK] = "SELECT token, branch, state, attempt, resource, parameters,"
                   " external_id, status, scheduled_ms FROM tasks"
                   " WHERE execution_id=? AND token=?",
};

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);"
    "CREATE TABLE IF NOT EXISTS definitions(hash TEXT PRIMARY KEY,"
    " text TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS executions(seq INTEGER PRIMARY KEY,"
    " id TEXT NOT NULL UNIQUE,"
    " name TEXT NOT NULL, workflow TEXT NOT NULL, source TEXT,"
    " definition_hash TEXT NOT NULL, input TEXT NOT NULL,"
    " status TEXT NOT NULL, output TEXT, error TEXT, cause TEXT,"
    " warehouse TEXT, start_ms INTEGER NOT NULL, stop_ms INTEGER,"
    " redrive_count INTEGER NOT NULL DEFAULT 0,"
    " redrive_ms INTEGER NOT NULL DEFAULT 0,"
    " UNIQUE(workflow, name));"
    "CREATE INDEX IF NOT EXISTS executions_status ON executions(status);"
    "CREATE INDEX IF NOT EXISTS executions_name ON executions(name);"
    /* An event's rowid is (execution seq << 32) | event id: the hottest
     * insert of the product is an integer-keyed append into one b-tree,
     * and a large payload never sits in a key. */
    "CREATE TABLE IF NOT EXISTS events(key INTEGER PRIMARY KEY,"
    " previous_id INTEGER NOT NULL,"
    " ts_ms INTEGER NOT NULL, type TEXT NOT NULL, details TEXT NOT NULL);"
    /* Rowid tables: inputs and parameters can be large, and a large row
     * in a WITHOUT ROWID b-tree makes every neighbouring insert copy it. */
    "CREATE TABLE IF NOT EXISTS branches(execution_id TEXT NOT NULL,"
    " path TEXT NOT NULL, parent TEXT, idx INTEGER NOT NULL,"
    " machine TEXT NOT NULL, state TEXT, step INTEGER NOT NULL,"
    " phase TEXT NOT NULL, input TEXT, data TEXT, status TEXT NOT NULL,"
    " output TEXT, PRIMARY KEY(execution_id, path));"
    "CREATE TABLE IF NOT EXISTS tasks(execution_id TEXT NOT NULL,"
    " token TEXT NOT NULL, branch TEXT NOT NULL, state TEXT NOT NULL,"
    " attempt INTEGER NOT NULL, resource TEXT NOT NULL,"
    " parameters TEXT NOT NULL, external_id TEXT, status TEXT NOT NULL,"
    " scheduled_ms INTEGER NOT NULL, PRIMARY KEY(execution_id, token));"
    "INSERT OR IGNORE INTO meta(key, value) VALUES('schema', '1');";

struct sw_store {
  sqlite3 *db;
  sqlite3_stmt *q[Q_COUNT]; /* prepared lazily, finalized on close */
  bool in_txn;
  int64_t commits;          /* successful commits in this process */
  int64_t kill_after;       /* fault hook: SIGKILL after this commit; 0 off */
  char *path;
  char seq_id[37];          /* one-entry cache: execution id -> seq */
  int64_t seq;
};

static int db_err(sw_store *st, int rc, sw_err *err)
{
  return sw_err_set(err, SW_EIO, SW_ORIGIN_SQLITE,
                    sqlite3_extended_errcode(st->db), "%s: %s", st->path,
                    sqlite3_errmsg(st->db));
  (void)rc;
}

static int prep(sw_store *st, int q, sqlite3_stmt **out, sw_err *err)
{
  int rc;

  if (!st->q[q]) {
    rc = sqlite3_prepare_v3(st->db, sql_text[q], -1, SQLITE_PREPARE_PERSISTENT,
                            &st->q[q], NULL);
    if (rc != SQLITE_OK)
      return db_err(st, rc, err);
  }
  sqlite3_reset(st->q[q]);
  sqlite3_clear_bindings(st->q[q]);
  *out = st->q[q];
  return 0;
}

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
  if (v)
    sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(s, i);
}

/* Step a statement that returns no rows. */
static int exec_done(sw_store *st, sqlite3_stmt *s, sw_err *err)
{
  int rc = sqlite3_step(s);

  sqlite3_reset(s);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW)
    return db_err(st, rc, err);
  return 0;
}

static char *col_dup(sqlite3_stmt *s, int i)
{
  const unsigned char *t = sqlite3_column_text(s, i);
  return t ? sw_strdup((const char *)t) : NULL;
}

int sw_store_open(sw_store **out, const char *path, sw_err *err)
{
  sw_store *st = sw_calloc(1, sizeof(*st));
  const char *fault = getenv("STEPWISE_FAULT");
  char *emsg = NULL;
  int rc;

  *out = NULL;
  st->path = sw_strdup(path);
  rc = sqlite3_open_v2(path, &st->db,
                       SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                           SQLITE_OPEN_NOMUTEX,
                       NULL);
  if (rc != SQLITE_OK) {
    rc = sw_err_set(err, SW_EIO, SW_ORIGIN_SQLITE, rc,
                    "%s: cannot open the state store: %s", path,
                    st->db ? sqlite3_errmsg(st->db) : "out of memory");
    goto fail;
  }
  sqlite3_busy_timeout(st->db, 10000);
  /* WAL + FULL: a commit is durable before we issue the effect it
   * records (DESIGN.md §4.3). */
  rc = sqlite3_exec(st->db,
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                    "PRAGMA cache_size=-65536; PRAGMA mmap_size=268435456;"
                    "PRAGMA foreign_keys=OFF;",
                    NULL, NULL, &emsg);
  if (rc == SQLITE_OK)
    rc = sqlite3_exec(st->db, schema_sql, NULL, NULL, &emsg);
  if (rc != SQLITE_OK) {
    rc = sw_err_set(err, SW_EIO, SW_ORIGIN_SQLITE, rc,
                    "%s: not a usable stepwise state store: %s", path,
                    emsg ? emsg : sqlite3_errmsg(st->db));
    sqlite3_free(emsg);
    goto fail;
  }
  if (fault && !strncmp(fault, "kill-after-commit:", 18))
    st->kill_after = strtoll(fault + 18, NULL, 10);
  *out = st;
  return 0;
fail:
  sw_store_close(st);
  return rc;
}

void sw_store_close(sw_store *st)
{
  int i;

  if (!st)
    return;
  if (st->in_txn)
    sw_store_rollback(st);
  for (i = 0; i < Q_COUNT; i++)
    sqlite3_finalize(st->q[i]);
  sqlite3_close(st->db);
  sw_free(st->path);
  sw_free(st);
}

int sw_store_begin(sw_store *st, sw_err *err)
{
  int rc;

  if (st->in_txn)
    return 0;
  rc = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
  if (rc != SQLITE_OK)
    return db_err(st, rc, err);
  st->in_txn = true;
  return 0;
}

int sw_store_commit(sw_store *st, sw_err *err)
{
  int rc;

  if (!st->in_txn)
    return 0;
  rc = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
  if (rc != SQLITE_OK) {
    rc = db_err(st, rc, err);
    sw_store_rollback(st);
    return rc;
  }
  st->in_txn = false;
  st->commits++;
  if (st->kill_after > 0 && st->commits == st->kill_after) {
    /* Crash-test hook: die exactly at this commit point. */
    kill(getpid(), SIGKILL);
  }
  return 0;
}

void sw_store_rollback(sw_store *st)
{
  st->seq_id[0] = '\0'; /* the cached row may be rolled back */
  if (st->in_txn)
    sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
  st->in_txn = false;
}

bool sw_store_in_txn(const sw_store *st) { return st->in_txn; }
int64_t sw_store_commit_count(const sw_store *st) { return st->commits; }

int sw_store_put_definition(sw_store *st, const char *hash, const char *text,
                            sw_err *err)
{
  sqlite3_stmt *s;
  int rc = prep(st, Q_PUT_DEF, &s, err);

  if (rc < 0)
    return rc;
  bind_text(s, 1, hash);
  bind_text(s, 2, text);
  return exec_done(st, s, err);
}

int sw_store_get_definition(sw_store *st, const char *hash, char **out,
                            sw_err *err)
{
  sqlite3_stmt *s;
  int rc = prep(st, Q_GET_DEF, &s, err);

  *out = NULL;
  if (rc < 0)
    return rc;
  bind_text(s, 1, hash);
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    *out = col_dup(s, 0);
    sqlite3_reset(s);
    return 0;
  }
  sqlite3_reset(s);
  if (rc == SQLITE_DONE)
    return sw_err_set(err, SW_ENOTFOUND, SW_ORIGIN_NONE, 0,
                      "definition %s is not in the store", hash);
  return db_err(st, rc, err);
}

int sw_store_insert_execution(sw_store *st, const sw_store_execution *e,
                              sw_err *err)
{
  sqlite3_stmt *s;
  int rc = prep(st, Q_INS_EXEC, &s, err);

  if (rc < 0)
    return rc;
  bind_text(s, 1, e->id);
  bind_text(s, 2, e->name);
  bind_text(s, 3, e->workflow);
  bind_text(s, 4, e->source);
  bind_text(s, 5, e->definition_hash);
  bind_text(s, 6, e->input);
  bind_text(s, 7, e->status);
  sqlite3_bind_int64(s, 8, e->start_ms);
  bind_text(s, 9, e->warehouse);
  return exec_done(st, s, err);
}

int sw_store_finish_execution(sw_store *st, const char *id, const char *status,
                              int64_t stop_ms, const char *output,
                              const char *error, const char *cause,
                              sw_err *err)
{
  sqlite3_stmt *s;
  int rc = prep(st, Q_FINISH_EXEC, &s, err);

  if (rc < 0)
    return rc;
  bind_text(s, 1, status);
  sqlite3_bind_int64(s, 2, stop_ms);
  bind_text(s, 3, output);
  bind_text(s, 4, error);
  bind_text(s, 5, cause);
  bind_text(s, 6, id);
  return exec_done(st, s, err);
}

int sw_store_reopen_execution(sw_store *st, const char *id, int redrive_count,
                              int64_t redrive_ms, sw_err *err)
{
  sqlite3_stmt *s;
  int rc = prep(st, Q_REOPEN_EXEC, &s, err);

  if (rc < 0)
    return rc;
  sqlite3_bind_int(s, 1, redrive_count);
  sqlite3_bind_int64(s, 2, redrive_ms);
  bind_text(s, 3, id);
  return exec_done(st, s, err);
}

static void read_execution(sqlite3_stmt *s, sw_store_execution *e)
{
  e->id = col_dup(s, 0);
  e->name = col_dup(s, 1);
  e->workflow = col_dup(s, 2);
  e->source = col_dup(s, 3);
  e->definition_hash = col_dup(s, 4);
  e->input = col_dup(s, 5);
  e->status = col_dup(s, 6);
  e->output = col_dup(s, 7);
  e->error = col_dup(s, 8);
  e->cause = col_dup(s, 9);
  e->warehouse = col_dup(s, 10);
  e->start_ms = sqlite3_column_int64(s, 11);
  e->stop_ms = sqlite3_column_int64(s, 12);
  e->redrive_count = sqlite3_column_int(s, 13);
  e->redrive_ms = sqlite3_column_int64(s, 14);
}

void sw_store_execution_dispose(sw_store_execution *e)
{
  if (!e)
    return;
  sw_free(e->id);
  sw_free(e->name);
  sw_free(e->workflow);
  sw_free(e->source);
  sw_free(e->definition_hash);
  sw_free(e->input);
  sw_free(e->status);
  sw_free(e->output);
  sw_free(e->error);
  sw_free(e->cause);
  sw_free(e->warehouse);
  memset(e, 0, sizeof(*e));
}

int sw_store_get_execution(sw_store *st, const char *id_or_name,
                           sw_store_execution *out, sw_err *err)
{
  int qs[2] = {Q_GET_EXEC_ID, Q_GET_EXEC_NAME};
  int i, rc;

  memset(out, 0, sizeof(*out));
  for (i = 0; i < 2; i++) {
    sqlite3_stmt *s;
    rc = prep(st, qs[i], &s, err);
    if (rc < 0)
      return rc;
    bind_text(s, 1, id_or_name);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
      read_execution(s, out);
      sqlite3_reset(s);
      return 0;
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
      return db_err(st, rc, err);
  }
  return sw_err_set(err, SW_ENOTFOUND, SW_ORIGIN_NONE, 0,
                    "no execution with id or name \"%s\"", id_or_name);
}

int sw_store_execution_name_taken(sw_store *st, const char *workflow,
                                  const char *name, bool *out, sw_err *err)
{
  sqlite3_stmt *s;
  int rc = prep(st, Q_NAME_TAKEN, &s, err);

  if (rc < 0)
    return rc;
  bind_text(s, 1, workflow);
  bind_text(s, 2, name);
  rc = sqlite3_step(s);
  sqlite3_reset(s);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return db_err(st, rc, err);
  *out = rc == SQLITE_ROW;
  return 0;
}

int sw_store_list_executions(sw_store *st, const char *status,
                             sw_store_execution_cb cb, void *payload,
                             sw_err *err)
{
  sqlite3_stmt *s;
  int rc = prep(st, status ? Q_LIST_EXEC_STATUS : Q_LIST_EXEC, &s, err);

  if (rc < 0)
    return rc;
  if (status)
    bind_text(s, 1, status);
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    sw_store_execution e;
    read_execution(s, &e);
    cb(&e, payload);
    sw_store_execution_dispose(&e);
  }
  sqlite3_reset(s);
  return rc == SQLITE_DONE ? 0 : db_err(st, rc, err);
}

/* The integer seq of an execution (cached for the last one asked). */
static int exec_seq(sw_store *st, const char *id, int64_t *out, sw_err *err)
{
  sqlite3_stmt *s;
  int rc;

  if (!strcmp(st->seq_id, id)) {
    *out = st->seq;
    return 0;
  }
  rc = prep(st, Q_EXEC_SEQ, &s, err);
  if (rc < 0)
    return rc;
  bind_text(s, 1, id);
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    *out = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    snprintf(st->seq_id, sizeof(st->seq_id), "%s", id);
    st->seq = *out;
    return 0;
  }
  sqlite3_reset(s);
  if (rc == SQLITE_DONE)
    return sw_err_set(err, SW_ENOTFOUND, SW_ORIGIN_NONE, 0,
                      "no execution %s", id);
  return db_err(st, rc, err);
}

int sw_store_append_event(sw_store *st, const char *execution_id,
                          const sw_store_event *ev, sw_err *err)
{
  sqlite3_stmt *s;
  int64_t seq = 0;
  int rc = exec_seq(st, execution_id, &seq, err);

  if (rc == 0)
    rc = prep(st, Q_INS_EVENT, &s, err);
  if (rc < 0)
    return rc;
  sqlite3_bind_int64(s, 1, seq);
  sqlite3_bind_int64(s, 2, ev->id);
  sqlite3_bind_int64(s, 3, ev->previous_id);
  sqlite3_bind_int64(s, 4, ev->ts_ms);
  bind_text(s, 5, ev->type);
  bind_text(s, 6, ev->details);
  return exec_done(st, s, err);
}

int sw_store_max_event_id(sw_store *st, const char *execution_id, int64_t *out,
                          sw_err *err)
{
  sqlite3_stmt *s;
  int64_t seq = 0;
  int rc = exec_seq(st, execution_id, &seq, err);

  if (rc == 0)
    rc = prep(st, Q_MAX_EVENT, &s, err);
  if (rc < 0)
    return rc;
  sqlite3_bind_int64(s, 1, seq);
  rc = sqlite3_step(s);
  *out = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
  sqlite3_reset(s);
  return rc == SQLITE_ROW ? 0 : db_err(st, rc, err);
}

int sw_store_list_events(sw_store *st, const char *execution_id,
                         sw_store_event_cb cb, void *payload, sw_err *err)
{
  sqlite3_stmt *s;
  int64_t seq = 0;
  int rc = exec_seq(st, execution_id, &seq, err);

  if (rc == 0)
    rc = prep(st, Q_LIST_EVENTS, &s, err);
  if (rc < 0)
    return rc;
  sqlite3_bind_int64(s, 1, seq);
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    sw_store_event ev;
    ev.id = sqlite3_column_int64(s, 0);
    ev.previous_id = sqlite3_column_int64(s, 1);
    ev.ts_ms = sqlite3_column_int64(s, 2);
    ev.type = (const char *)sqlite3_column_text(s, 3);
    ev.details = (const char *)sqlite3_column_text(s, 4);
    cb(&ev, payload);
  }
  sqlite3_reset(s);
  return rc == SQLITE_DONE ? 0 : db_err(st, rc, err);
}

int sw_store_put_branch(sw_store *st, const char *execution_id,
                        const sw_store_branch *b, sw_err *err)
{
  sqlite3_stmt *s;
  int rc = prep(st, Q_PUT_BRANCH, &s, err);

  if (rc < 0)
    return rc;
  bind_text(s, 1, execution_id);
  bind_text(s, 2, b->path);
  bind_text(s, 3, b->parent);
  sqlite3_bind_int(s, 4, b->idx);
  bind_text(s, 5, b->machine);
  bind_text(s, 6, b->state);
  sqlite3_bind_int64(s, 7, b->step);
  bind_text(s, 8, b->phase);
  bind_text(s, 9, b->input);
  bind_text(s, 10, b->data);
  bind_text(s, 11, b->status);
  bind_text(s, 12, b->output);
  return exec_done(st, s, err);
}

int sw_store_delete_branches_below(sw_store *st, const char *execution_id,
                                   const char *path, sw_err *err)
{
  sqlite3_stmt *s;
  int rc = prep(st, Q_DEL_BRANCHES, &s, err);

  if (rc < 0)
    return rc;
  bind_text(s, 1, execution_id);
  bind_text(s, 2, path);
  bind_text(s, 3, path);
  return exec_done(st, s, err);
}

int sw_store_list_branches(sw_store *st, const char *execution_id,
                           sw_store_branch_cb cb, void *payload, sw_err *err)
{
  sqlite3_stmt *s;
  int rc = prep(st, Q_LIST_BRANCHES, &s, err);

  if (rc < 0)
    return rc;
  bind_text(s, 1, execution_id);
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    sw_store_branch b;
    b.path = (const char *)sqlite3_column_text(s, 0);
    b.parent = (const char *)sqlite3_column_text(s, 1);
    b.idx = sqlite3_column_int(s, 2);
    b.machine = (const char *)sqlite3_column_text(s, 3);
    b.state = (const char *)sqlite3_column_text(s, 4);
    b.step = sqlite3_column_int64(s, 5);
    b.phase = (const char *)sqlite3_column_text(s, 6);
    b.input = (const char *)sqlite3_column_text(s, 7);
    b.data = (const char *)sqlite3_column_text(s, 8);
    b.status = (const char *)sqlite3_column_text(s, 9);
    b.output = (const char *)sqlite3_column_text(s, 10);
    cb(&b, payload);
  }
  sqlite3_reset(s);
  return rc == SQLITE_DONE ? 0 : db_err(st, rc, err);
}

int sw_store_put_task(sw_store *st, const char *execution_id,
                      const sw_store_task *t, sw_err *err)
{
  sqlite3_stmt *s;
  int rc = prep(st, Q_PUT_TASK, &s, err);

  if (rc < 0)
    return rc;
  bind_text(s, 1, execution_id);
  bind_text(s, 2, t->token);
  bind_text(s, 3, t->branch);
  bind_text(s, 4, t->state);
  sqlite3_bind_int(s, 5, t->attempt);
  bind_text(s, 6, t->resource);
  bind_text(s, 7, t->parameters);
  bind_text(s, 8, t->external_id);
  bind_text(s, 9, t->status);
  sqlite3_bind_int64(s, 10, t->scheduled_ms);
  return exec_done(st, s, err);
}

int sw_store_set_task_status(sw_store *st, const char *execution_id,
                             const char *token, const char *status,
                             const char *external_id, sw_err *err)
{
  sqlite3_stmt *s;
  int rc = prep(st, Q_SET_TASK, &s, err);

  if (rc < 0)
    return rc;
  bind_text(s, 1, status);
  bind_text(s, 2, external_id);
  bind_text(s, 3, execution_id);
  bind_text(s, 4, token);
  return exec_done(st, s, err);
}

int sw_store_get_task(sw_store *st, const char *execution_id,
                      const char *token, sw_store_task *out, sw_err *err)
{
  sqlite3_stmt *s;
  int rc = prep(st, Q_GET_TASK, &s, err);

  memset(out, 0, sizeof(*out));
  if (rc < 0)
    return rc;
  bind_text(s, 1, execution_id);
  bind_text(s, 2, token);
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    out->token = col_dup(s, 0);
    out->branch = col_dup(s, 1);
    out->state = col_dup(s, 2);
    out->attempt = sqlite3_column_int(s, 3);
    out->resource = col_dup(s, 4);
    out->parameters = col_dup(s, 5);
    out->external_id = col_dup(s, 6);
    out->status = col_dup(s, 7);
    out->scheduled_ms = sqlite3_column_int64(s, 8);
    sqlite3_reset(s);
    return 0;
  }
  sqlite3_reset(s);
  if (rc == SQLITE_DONE)
    return sw_err_set(err, SW_ENOTFOUND, SW_ORIGIN_NONE, 0,
                      "no task with token %s", token);
  return db_err(st, rc, err);
}

void sw_store_task_dispose(sw_store_task *t)
{
  if (!t)
    return;
  sw_free((char *)t->token);
  sw_free((char *)t->branch);
  sw_free((char *)t->state);
  sw_free((char *)t->resource);
  sw_free((char *)t->parameters);
  sw_free((char *)t->external_id);
  sw_free((char *)t->status);
  memset(t, 0, sizeof(*t));
}
