/* SPDX-License-Identifier: MIT */
/* sqlite warehouse driver: Data API semantics over an embedded SQLite
 * database, statements run as libuv thread-pool jobs. Key invariant: a
 * statement's registry row becomes FINISHED in the same transaction as its
 * SQL, so "the batch committed" and "the row says FINISHED" are one fact.
 *
 * Durability decisions (DESIGN.md §4.6):
 * - The registry is the table stepwise_statements in the warehouse
 *   database itself. submit INSERTs the row (status SUBMITTED, committed)
 *   before the Id is reported, so a reported Id always survives a crash.
 * - A ClientToken is UNIQUE in the registry: a second submit with the same
 *   token answers with the first row's Id and runs nothing. Tokens are kept
 *   as long as the rows (the Data API forgets them after 8 h; we never
 *   do, which only makes duplicates less likely).
 * - A run marks the row STARTED (autocommit), then BEGIN IMMEDIATE, runs
 *   every statement, UPDATEs the row to FINISHED with its result, and
 *   COMMITs. On an SQL error: ROLLBACK, then mark FAILED (autocommit) with
 *   SQLite's message; after CancelStatement: ABORTED.
 * - On open, rows still SUBMITTED/PICKED/STARTED never committed (SQLite
 *   rolled their transaction back when the process died), so they are run
 *   again in created_at order. FINISHED rows are never run again.
 * - sw_warehouse_close interrupts a running batch but does not mark it
 *   ABORTED: it stays STARTED and runs again on the next open, exactly as
 *   after a crash, so a graceful stop never fails a workflow.
 * - WAL mode with synchronous=FULL: a FINISHED the engine has seen is on
 *   disk even after a power loss.
 * - Writes are serialised on the loop thread (one writer job in the pool
 *   at a time; registry inserts go ahead of queued batches), so pool
 *   threads never sit in busy_timeout waiting for each other. Reads
 *   (describe, result) run concurrently on their own pooled connections.
 *   Describe always reads the row, so it is right after a restart.
 * - Result sets are captured whole (at most RESULT_MAX_ROWS rows and
 *   RESULT_MAX_BYTES bytes, else the statement FAILS) and stored as JSON in
 *   the row; GetStatementResult pages them PAGE_ROWS at a time. */
#include "warehouse/warehouse.h"

#include <inttypes.h>
#include <csv.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "warehouse/warehouse_int.h"

#define RESULT_MAX_ROWS 10000
#define RESULT_MAX_BYTES (16u << 20) /* estimated bytes of kept results */
#define PAGE_ROWS 1000               /* GetStatementResult page */
#define BUSY_TIMEOUT_MS 60000        /* other processes holding the lock */

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS stepwise_statements (\n"
    "  id TEXT PRIMARY KEY,\n"
    "  client_token TEXT UNIQUE,\n"
    "  statement_name TEXT,\n"
    "  database_name TEXT,\n"
    "  is_batch INTEGER NOT NULL DEFAULT 0,\n"
    "  sqls TEXT NOT NULL,            -- JSON array of SQL texts\n"
    "  params TEXT,                   -- JSON [{name, value}] or NULL\n"
    "  status TEXT NOT NULL,          -- SUBMITTED ... FAILED\n"
    "  error TEXT,\n"
    "  created_at INTEGER NOT NULL,   -- epoch ms\n"
    "  updated_at INTEGER NOT NULL,   -- epoch ms\n"
    "  duration_ns INTEGER NOT NULL DEFAULT -1,\n"
    "  result_rows INTEGER NOT NULL DEFAULT -1,\n"
    "  result_size INTEGER NOT NULL DEFAULT -1,\n"
    "  has_result_set INTEGER NOT NULL DEFAULT 0,\n"
    "  result TEXT,                   -- {ColumnMetadata, Records}\n"
    "  sub_statements TEXT            -- JSON SubStatements of a batch\n"
    ");\n"
    "CREATE INDEX IF NOT EXISTS stepwise_statements_pending\n"
    "  ON stepwise_statements(status, created_at);\n";

enum job_kind {
  JOB_INSERT,   /* record a submit (writer) */
  JOB_RUN,      /* run a recorded statement (writer) */
  JOB_DESCRIBE, /* read a row */
  JOB_RESULT,   /* read a result page */
  JOB_CANCEL,   /* cancel of a statement not running here: read its row */
  JOB_LOAD,     /* bulk load (writer) */
  JOB_NOOP      /* defers the close callback out of sw_warehouse_close */
};

typedef struct conn {
  sqlite3 *db;
  struct conn *next;
} conn;

typedef struct waiter { /* a CancelStatement waiting for its run to end */
  sw_wh_json_cb cb;
  void *payload;
  struct waiter *next;
} waiter;

struct wh_sqlite;

typedef struct job {
  uv_work_t work;          /* embedded; container_of gives the job */
  struct wh_sqlite *wh;    /* owner */
  enum job_kind kind;
  struct job *next;        /* writer queue link */
  struct job *next_run;    /* wh->runs link (JOB_RUN only) */
  bool dropped;            /* close began before it ran: do nothing */
  char id[SW_WH_ID_MAX];   /* statement Id (":n" kept for reads) */
  int sub;                 /* sub-statement number, 0 = whole */
  /* submit / run request; owned */
  char **sqls;
  size_t n_sqls;
  bool batch;
  char **pnames;
  char **pvalues;
  size_t n_params;
  char *token;
  char *name;
  char *database;
  long long offset; /* JOB_RESULT: first record (from NextToken) */
  /* completion */
  sw_wh_submit_cb submit_cb;
  sw_wh_json_cb json_cb;
  void *payload;
  waiter *waiters; /* JOB_RUN: cancels waiting for the outcome */
  /* shared with the worker thread; guarded by wh->mu */
  bool cancel;       /* CancelStatement asked for this run */
  sqlite3 *running;  /* connection while the batch runs (for interrupt) */
  /* outcome: written by the worker, read in after_work */
  int rc;
  sw_err err;
  cJSON *response; /* JSON answer of a read job */
  bool is_new;     /* JOB_INSERT: the row was inserted (not a dedupe) */
  char status[12]; /* JOB_RUN: final status, "" when left as it was */
  /* JOB_LOAD */
  sw_wh_bulk_load load;    /* borrowed pointers, as the caller promised */
  sw_wh_load_cb load_cb;
  long long load_rows;
} job;

typedef struct wh_sqlite {
  uv_loop_t *loop;
  char *path;        /* database file; owned */
  uv_mutex_t mu;     /* guards pool, closing_w, job->cancel/running */
  conn *pool;        /* idle connections */
  bool closing_w;    /* closing, as seen by workers (under mu) */
  job *iq_head, *iq_tail; /* queued inserts (run first) */
  job *rq_head, *rq_tail; /* queued runs, FIFO */
  job *writer;       /* the write job in the pool, or NULL */
  job *runs;         /* JOB_RUN jobs queued or running */
  unsigned jobs;     /* uv_work items in flight */
  bool closing;      /* sw_warehouse_close called (loop thread) */
  void (*close_cb)(void *payload);
  void *close_payload;
} wh_sqlite;

/* ---- small helpers ---------------------------------------------------- */

static int db_fail(sqlite3 *db, sw_err *err, const char *what)
{
  int xrc = sqlite3_extended_errcode(db);
  int prc = xrc & 0xff;
  int code = (prc == SQLITE_BUSY || prc == SQLITE_LOCKED) ? SW_EAGAIN : SW_EIO;

  return sw_err_set(err, code, SW_ORIGIN_SQLITE, xrc, "%s: %s", what,
                    sqlite3_errmsg(db));
}

static int db_exec(sqlite3 *db, const char *sql, sw_err *err)
{
  if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
    return db_fail(db, err, "warehouse registry");
  return 0;
}

static void free_strv(char **v, size_t n)
{
  size_t i;

  if (!v)
    return;
  for (i = 0; i < n; i++)
    sw_free(v[i]);
  sw_free(v);
}

static void job_free(job *j)
{
  waiter *w, *next;

  if (!j)
    return;
  free_strv(j->sqls, j->n_sqls);
  free_strv(j->pnames, j->n_params);
  free_strv(j->pvalues, j->n_params);
  sw_free(j->token);
  sw_free(j->name);
  sw_free(j->database);
  for (w = j->waiters; w; w = next) {
    next = w->next;
    sw_free(w);
  }
  cJSON_Delete(j->response);
  sw_free(j);
}

static job *job_new(wh_sqlite *wh, enum job_kind kind)
{
  job *j = sw_calloc(1, sizeof(*j));

  j->wh = wh;
  j->kind = kind;
  return j;
}

/* ---- connection pool (any thread) ------------------------------------- */

static int conn_open(sqlite3 **out, const char *path, sw_err *err)
{
  sqlite3 *db = NULL;
  int rc;

  *out = NULL;
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                      NULL) != SQLITE_OK) {
    rc = sw_err_set(err, SW_EIO, SW_ORIGIN_SQLITE,
                    db ? sqlite3_extended_errcode(db) : SQLITE_NOMEM,
                    "cannot open warehouse database %s: %s", path,
                    db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_close(db);
    return rc;
  }
  sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
  rc = db_exec(db, "PRAGMA synchronous=FULL", err);
  if (rc < 0) {
    sw_err_prefix(err, "%s: ", path);
    sqlite3_close(db);
    return rc;
  }
  *out = db;
  return 0;
}

static int conn_get(wh_sqlite *wh, sqlite3 **out, sw_err *err)
{
  conn *c;

  uv_mutex_lock(&wh->mu);
  c = wh->pool;
  if (c)
    wh->pool = c->next;
  uv_mutex_unlock(&wh->mu);
  if (!c)
    return conn_open(out, wh->path, err);
  *out = c->db;
  sw_free(c);
  return 0;
}

static void conn_put(wh_sqlite *wh, sqlite3 *db)
{
  conn *c = sw_calloc(1, sizeof(*c));

  c->db = db;
  uv_mutex_lock(&wh->mu);
  c->next = wh->pool;
  wh->pool = c;
  uv_mutex_unlock(&wh->mu);
}

/* ---- the registry row: insert (worker) -------------------------------- */

static char *sqls_json(char **sqls, size_t n)
{
  cJSON *a = cJSON_CreateArray();
  char *s;
  size_t i;

  for (i = 0; i < n; i++)
    cJSON_AddItemToArray(a, cJSON_CreateString(sqls[i]));
  s = sw_json_print(a);
  cJSON_Delete(a);
  return s;
}

static cJSON *params_cjson(char **names, char **values, size_t n)
{
  cJSON *a = cJSON_CreateArray(), *p;
  size_t i;

  for (i = 0; i < n; i++) {
    p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "name", names[i]);
    cJSON_AddStringToObject(p, "value", values[i]);
    cJSON_AddItemToArray(a, p);
  }
  return a;
}

/* Record the submit, or find the row that already holds its ClientToken.
 * One IMMEDIATE transaction, so two submits of one token cannot both
 * insert even if another process shares the file. */
static int do_insert(job *j, sqlite3 *db, sw_err *err)
{
  static const char find_sql[] =
      "SELECT id FROM stepwise_statements WHERE client_token = ?1";
  static const char ins_sql[] =
      "INSERT INTO stepwise_statements (id, client_token, statement_name,"
      " database_name, is_batch, sqls, params, status, created_at,"
      " updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'SUBMITTED', ?8, ?8)";
  sqlite3_stmt *st = NULL;
  char *sqls = NULL, *params = NULL;
  cJSON *pj = NULL;
  int rc, src;

  rc = db_exec(db, "BEGIN IMMEDIATE", err);
  if (rc < 0)
    return rc;
  if (j->token) {
    if (sqlite3_prepare_v2(db, find_sql, -1, &st, NULL) != SQLITE_OK) {
      rc = db_fail(db, err, "warehouse registry");
      goto done;
    }
    sqlite3_bind_text(st, 1, j->token, -1, SQLITE_STATIC);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
      snprintf(j->id, sizeof(j->id), "%s",
               (const char *)sqlite3_column_text(st, 0));
      j->is_new = false;
      goto commit;
    }
    if (src != SQLITE_DONE) {
      rc = db_fail(db, err, "warehouse registry");
      goto done;
    }
    sqlite3_finalize(st);
    st = NULL;
  }
  sw_uuid_v4(j->id);
  j->is_new = true;
  sqls = sqls_json(j->sqls, j->n_sqls);
  if (j->n_params) {
    pj = params_cjson(j->pnames, j->pvalues, j->n_params);
    params = sw_json_print(pj);
  }
  if (sqlite3_prepare_v2(db, ins_sql, -1, &st, NULL) != SQLITE_OK) {
    rc = db_fail(db, err, "warehouse registry");
    goto done;
  }
  sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, j->token, -1, SQLITE_STATIC); /* NULL ok */
  sqlite3_bind_text(st, 3, j->name, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, j->database, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 5, j->batch ? 1 : 0);
  sqlite3_bind_text(st, 6, sqls, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 7, params, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 8, sw_time_now_ms());
  if (sqlite3_step(st) != SQLITE_DONE) {
    rc = db_fail(db, err, "warehouse registry");
    goto done;
  }

commit:
  sqlite3_finalize(st);
  st = NULL;
  rc = db_exec(db, "COMMIT", err);

done:
  sqlite3_finalize(st);
  if (!sqlite3_get_autocommit(db))
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
  cJSON_Delete(pj);
  sw_free(sqls);
  sw_free(params);
  return rc;
}

/* ---- running a batch (worker) ----------------------------------------- */

typedef sw_wh_sub sub_out; /* what one entry of sqls[] did */

typedef struct run_ctx {
  job *j;
  sqlite3 *db;
  size_t bytes;      /* estimated bytes of all kept results */
  int sqlite_rc;     /* primary SQLite code of the failure, or 0 */
  char *errmsg;      /* owned; the failure as the Data API reports it */
} run_ctx;

static bool stop_requested(run_ctx *c)
{
  bool stop;

  uv_mutex_lock(&c->j->wh->mu);
  stop = c->j->cancel || c->j->wh->closing_w;
  uv_mutex_unlock(&c->j->wh->mu);
  return stop;
}

static int run_fail(run_ctx *c, int sqlite_rc, char *msg)
{
  if (!c->errmsg) {
    c->errmsg = msg;
    c->sqlite_rc = sqlite_rc;
  } else {
    sw_free(msg);
  }
  return -1;
}

static int run_fail_db(run_ctx *c)
{
  return run_fail(c, sqlite3_errcode(c->db) & 0xff,
                  sw_strdup(sqlite3_errmsg(c->db)));
}

static const char *param_value(job *j, const char *name)
{
  size_t i;

  for (i = 0; i < j->n_params; i++)
    if (!strcmp(j->pnames[i], name))
      return j->pvalues[i];
  return NULL;
}

/* Bind every parameter the statement names (:name, @name or $name) from
 * the request, as text; a missing one fails the statement instead of
 * silently binding NULL. */
static int bind_params(run_ctx *c, sqlite3_stmt *st)
{
  int i, n = sqlite3_bind_parameter_count(st);
  const char *pname, *value;

  for (i = 1; i <= n; i++) {
    pname = sqlite3_bind_parameter_name(st, i);
    if (!pname || pname[0] == '?')
      return run_fail(c, SQLITE_ERROR,
                      sw_strdup("positional parameters (?) are not "
                                "supported; name them (:name) and pass "
                                "Parameters"));
    value = param_value(c->j, pname + 1);
    if (!value)
      return run_fail(c, SQLITE_ERROR,
                      sw_asprintf("no value given for parameter \"%s\"",
                                  pname));
    if (sqlite3_bind_text(st, i, value, -1, SQLITE_STATIC) != SQLITE_OK)
      return run_fail_db(c);
  }
  return 0;
}

static cJSON *column_meta(sqlite3_stmt *st, int i)
{
  cJSON *m = cJSON_CreateObject();
  const char *name = sqlite3_column_name(st, i);
  const char *decl = sqlite3_column_decltype(st, i);
  char type[64];
  size_t k;

  if (decl) {
    for (k = 0; decl[k] && k < sizeof(type) - 1; k++)
      type[k] = (char)((decl[k] >= 'A' && decl[k] <= 'Z') ? decl[k] + 32
                                                           : decl[k]);
    type[k] = '\0';
  } else {
    /* An expression has no declared type: name it after the first row's
     * storage class (filled in by add_row), as Redshift would type it. */
    snprintf(type, sizeof(type), "%s", "unknown");
  }
  cJSON_AddStringToObject(m, "name", name ? name : "");
  cJSON_AddStringToObject(m, "label", name ? name : "");
  cJSON_AddStringToObject(m, "typeName", type);
  cJSON_AddNumberToObject(m, "nullable", 2); /* columnNullableUnknown */
  return m;
}

static const char *storage_type(int t)
{
  switch (t) {
  case SQLITE_INTEGER: return "int8";
  case SQLITE_FLOAT: return "float8";
  case SQLITE_BLOB: return "varbyte";
  default: return "varchar";
  }
}

static cJSON *field(sqlite3_stmt *st, int i, size_t *bytes)
{
  cJSON *f = cJSON_CreateObject();
  const unsigned char *blob;
  unsigned char *b64;
  int n;

  switch (sqlite3_column_type(st, i)) {
  case SQLITE_INTEGER:
    cJSON_AddNumberToObject(f, "longValue",
                            (double)sqlite3_column_int64(st, i));
    *bytes += 32;
    break;
  case SQLITE_FLOAT:
    cJSON_AddNumberToObject(f, "doubleValue", sqlite3_column_double(st, i));
    *bytes += 40;
    break;
  case SQLITE_NULL:
    cJSON_AddBoolToObject(f, "isNull", 1);
    *bytes += 16;
    break;
  case SQLITE_BLOB:
    blob = sqlite3_column_blob(st, i);
    n = sqlite3_column_bytes(st, i);
    b64 = sw_malloc(4 * (((size_t)n + 2) / 3) + 1);
    EVP_EncodeBlock(b64, blob ? blob : (const unsigned char *)"", n);
    cJSON_AddStringToObject(f, "blobValue", (const char *)b64);
    sw_free(b64);
    *bytes += 16 + 4 * (((size_t)n + 2) / 3);
    break;
  default:
    cJSON_AddStringToObject(f, "stringValue",
                            (const char *)sqlite3_column_text(st, i));
    *bytes += 20 + (size_t)sqlite3_column_bytes(st, i);
    break;
  }
  return f;
}

/* Run one SQL text (possibly several ';'-separated statements) inside the
 * open transaction, walking it with prepare_v2's tail pointer. */
static int run_text(run_ctx *c, const char *text, sub_out *so)
{
  sqlite3_stmt *st = NULL;
  const char *tail = text, *next = NULL;
  cJSON *cols = NULL, *records = NULL, *row;
  size_t bytes = 0;
  long long nrows;
  sqlite3_int64 before;
  int ncols, i, src, rc = 0;

  while (tail && *tail) {
    if (stop_requested(c)) {
      rc = run_fail(c, SQLITE_INTERRUPT, sw_strdup("interrupted"));
      goto done;
    }
    if (sqlite3_prepare_v2(c->db, tail, -1, &st, &next) != SQLITE_OK) {
      rc = run_fail_db(c);
      goto done;
    }
    tail = next;
    if (!st) /* only whitespace or comments left */
      continue;
    rc = bind_params(c, st);
    if (rc < 0)
      goto done;
    ncols = sqlite3_column_count(st);
    before = sqlite3_total_changes64(c->db);
    if (ncols > 0) {
      cols = cJSON_CreateArray();
      for (i = 0; i < ncols; i++)
        cJSON_AddItemToArray(cols, column_meta(st, i));
      records = cJSON_CreateArray();
      bytes = 0;
    }
    nrows = 0;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
      if (ncols == 0)
        continue;
      if (++nrows > RESULT_MAX_ROWS) {
        rc = run_fail(c, SQLITE_TOOBIG,
                      sw_asprintf("result set has more than %d rows, the "
                                  "sqlite warehouse's limit; aggregate or "
                                  "LIMIT the query", RESULT_MAX_ROWS));
        goto done;
      }
      row = cJSON_CreateArray();
      for (i = 0; i < ncols; i++) {
        cJSON_AddItemToArray(row, field(st, i, &bytes));
        if (nrows == 1 && sqlite3_column_decltype(st, i) == NULL &&
            sqlite3_column_type(st, i) != SQLITE_NULL)
          cJSON_ReplaceItemInObjectCaseSensitive(
              cJSON_GetArrayItem(cols, i), "typeName",
              cJSON_CreateString(
                  storage_type(sqlite3_column_type(st, i))));
      }
      cJSON_AddItemToArray(records, row);
      if (c->bytes + bytes > RESULT_MAX_BYTES) {
        rc = run_fail(c, SQLITE_TOOBIG,
                      sw_asprintf("result set is larger than %u MiB, the "
                                  "sqlite warehouse's limit; aggregate or "
                                  "LIMIT the query",
                                  RESULT_MAX_BYTES >> 20));
        goto done;
      }
    }
    if (src != SQLITE_DONE) {
      rc = run_fail_db(c);
      goto done;
    }
    if (ncols > 0) {
      /* The last statement that returns rows owns the result. */
      c->bytes -= so->result_bytes;
      cJSON_Delete(so->result);
      so->result = cJSON_CreateObject();
      cJSON_AddItemToObject(so->result, "ColumnMetadata", cols);
      cJSON_AddItemToObject(so->result, "Records", records);
      cols = records = NULL;
      so->result_bytes = bytes;
      c->bytes += bytes;
      so->has_rs = true;
      so->rows = nrows;
    } else if (!so->has_rs) {
      so->rows = (so->rows < 0 ? 0 : so->rows) +
                 (long long)(sqlite3_total_changes64(c->db) - before);
    }
    sqlite3_finalize(st);
    st = NULL;
  }

done:
  sqlite3_finalize(st);
  cJSON_Delete(cols);
  cJSON_Delete(records);
  return rc;
}

static int mark_started(job *j, sqlite3 *db, bool *runnable, sw_err *err)
{
  static const char sql[] =
      "UPDATE stepwise_statements SET status = 'STARTED', updated_at = ?2"
      " WHERE id = ?1 AND status IN ('SUBMITTED', 'PICKED', 'STARTED')";
  sqlite3_stmt *st = NULL;
  int rc = 0;

  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
    return db_fail(db, err, "warehouse registry");
  sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, sw_time_now_ms());
  if (sqlite3_step(st) != SQLITE_DONE)
    rc = db_fail(db, err, "warehouse registry");
  else
    *runnable = sqlite3_changes(db) == 1;
  sqlite3_finalize(st);
  return rc;
}

/* Write the outcome to the row. For FINISHED this runs inside the batch's
 * transaction (the ledger write); otherwise in autocommit. */
static int write_outcome(job *j, sqlite3 *db, const char *status,
                         const char *error, uint64_t duration_ns,
                         long long rows, long long size, bool has_rs,
                         const char *result, const char *subs, sw_err *err)
{
  static const char sql[] =
      "UPDATE stepwise_statements SET status = ?2, error = ?3,"
      " duration_ns = ?4, result_rows = ?5, result_size = ?6,"
      " has_result_set = ?7, result = ?8, sub_statements = ?9,"
      " updated_at = ?10 WHERE id = ?1";
  sqlite3_stmt *st = NULL;
  int rc = 0;

  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
    return db_fail(db, err, "warehouse registry");
  sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, error, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, (sqlite3_int64)duration_ns);
  sqlite3_bind_int64(st, 5, rows);
  sqlite3_bind_int64(st, 6, size);
  sqlite3_bind_int(st, 7, has_rs ? 1 : 0);
  sqlite3_bind_text(st, 8, result, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 9, subs, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 10, sw_time_now_ms());
  if (sqlite3_step(st) != SQLITE_DONE)
    rc = db_fail(db, err, "warehouse registry");
  sqlite3_finalize(st);
  return rc;
}

static void do_run(job *j, sqlite3 *db, sw_err *err)
{
  wh_sqlite *wh = j->wh;
  run_ctx c = {j, db, 0, 0, NULL};
  sub_out *subs = sw_calloc(j->n_sqls, sizeof(*subs));
  cJSON *subs_j = NULL, *last = NULL;
  char *subs_txt = NULL, *result_txt = NULL;
  const char *status;
  bool runnable = false, canceled, closing, any_rs = false;
  uint64_t t0;
  long long rows = 0;
  size_t i, failed_at = j->n_sqls;
  int rc;

  j->status[0] = '\0';
  rc = mark_started(j, db, &runnable, err);
  if (rc < 0 || !runnable) /* a terminal row is never run again */
    goto done;

  uv_mutex_lock(&wh->mu);
  canceled = j->cancel;
  closing = wh->closing_w;
  if (!canceled && !closing)
    j->running = db;
  uv_mutex_unlock(&wh->mu);
  if (closing) /* left STARTED: the next open runs it */
    goto done;
  t0 = uv_hrtime();
  if (canceled) {
    run_fail(&c, SQLITE_INTERRUPT, sw_strdup("interrupted"));
    goto failed;
  }

  if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
    run_fail_db(&c);
    goto failed;
  }
  for (i = 0; i < j->n_sqls; i++) {
    uint64_t s0 = uv_hrtime();

    subs[i].created_ms = sw_time_now_ms();
    subs[i].rows = -1;
    rc = run_text(&c, j->sqls[i], &subs[i]);
    subs[i].duration_ns = uv_hrtime() - s0;
    subs[i].updated_ms = sw_time_now_ms();
    if (rc < 0) {
      failed_at = i;
      goto failed;
    }
    subs[i].status = "FINISHED";
    if (subs[i].has_rs) {
      any_rs = true;
      last = subs[i].result;
    }
    rows += subs[i].rows > 0 ? subs[i].rows : 0;
  }

  /* The ledger write: FINISHED, in the batch's own transaction. */
  if (j->batch) {
    subs_j = cJSON_CreateArray();
    for (i = 0; i < j->n_sqls; i++)
      cJSON_AddItemToArray(subs_j, sw__wh_sub_json(j->id, i, j->sqls[i], &subs[i], true));
    subs_txt = sw_json_print(subs_j);
  } else {
    rows = subs[0].rows;
  }
  if (last)
    result_txt = sw_json_print(last);
  rc = write_outcome(j, db, "FINISHED", NULL, uv_hrtime() - t0, rows,
                     any_rs ? (long long)c.bytes : -1, any_rs, result_txt,
                     subs_txt, err);
  if (rc < 0) {
    run_fail_db(&c);
    goto failed;
  }
  if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
    run_fail_db(&c);
    goto failed;
  }
  uv_mutex_lock(&wh->mu);
  j->running = NULL;
  uv_mutex_unlock(&wh->mu);
  snprintf(j->status, sizeof(j->status), "%s", "FINISHED");
  rc = 0;
  goto done;

failed:
  /* The message was copied before ROLLBACK, which would reset it. */
  uv_mutex_lock(&wh->mu);
  j->running = NULL;
  canceled = j->cancel;
  closing = wh->closing_w;
  uv_mutex_unlock(&wh->mu);
  if (!sqlite3_get_autocommit(db))
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
  if (c.sqlite_rc == SQLITE_INTERRUPT && closing && !canceled) {
    /* Interrupted by sw_warehouse_close: nothing committed; leave the row
     * STARTED so that the next open runs it, as after a crash. */
    rc = 0;
    goto done;
  }
  status = (c.sqlite_rc == SQLITE_INTERRUPT && canceled) ? "ABORTED"
                                                        : "FAILED";
  if (!strcmp(status, "ABORTED")) {
    sw_free(c.errmsg);
    c.errmsg = sw_strdup("Query cancelled by CancelStatement.");
  }
  cJSON_Delete(subs_j);
  subs_j = NULL;
  sw_free(subs_txt);
  subs_txt = NULL;
  if (j->batch) {
    subs_j = cJSON_CreateArray();
    for (i = 0; i < j->n_sqls; i++) {
      /* Earlier statements ran but were rolled back with the batch. */
      if (i < failed_at) {
        subs[i].status = "FINISHED";
      } else if (i == failed_at) {
        subs[i].status = status;
        subs[i].error = sw_strdup(c.errmsg);
      } else {
        subs[i].status = "ABORTED";
        subs[i].created_ms = subs[i].updated_ms = sw_time_now_ms();
      }
      subs[i].has_rs = false;
      subs[i].rows = -1;
      cJSON_AddItemToArray(subs_j, sw__wh_sub_json(j->id, i, j->sqls[i], &subs[i], false));
    }
    subs_txt = sw_json_print(subs_j);
  }
  rc = write_outcome(j, db, status, c.errmsg, uv_hrtime() - t0, -1, -1,
                     false, NULL, subs_txt, err);
  if (rc == 0)
    snprintf(j->status, sizeof(j->status), "%s", status);

done:
  j->rc = rc;
  if (subs) {
    for (i = 0; i < j->n_sqls; i++) {
      sw_free(subs[i].error);
      cJSON_Delete(subs[i].result);
    }
  }
  sw_free(subs);
  cJSON_Delete(subs_j);
  sw_free(subs_txt);
  sw_free(result_txt);
  sw_free(c.errmsg);
}

/* ---- reads (worker) ---------------------------------------------------- */

#define ROW_COLS                                                               \
  "id, client_token, statement_name, database_name, is_batch, sqls,"         \
  " params, status, error, created_at, updated_at, duration_ns,"             \
  " result_rows, result_size, has_result_set, sub_statements, result"
enum {
  C_ID, C_TOKEN, C_NAME, C_DB, C_BATCH, C_SQLS, C_PARAMS, C_STATUS, C_ERROR,
  C_CREATED, C_UPDATED, C_DURATION, C_ROWS, C_SIZE, C_HASRS, C_SUBS, C_RESULT
};

static const char *col_text(sqlite3_stmt *st, int i)
{
  return (const char *)sqlite3_column_text(st, i);
}

static int read_row(sqlite3 *db, const char *id, sqlite3_stmt **out,
                    sw_err *err)
{
  static const char sql[] =
      "SELECT " ROW_COLS " FROM stepwise_statements WHERE id = ?1";
  sqlite3_stmt *st = NULL;
  int src;

  *out = NULL;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
    return db_fail(db, err, "warehouse registry");
  sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
  src = sqlite3_step(st);
  if (src == SQLITE_ROW) {
    *out = st;
    return 0;
  }
  if (src == SQLITE_DONE) {
    sqlite3_finalize(st);
    return sw_err_set(err, SW_ENOTFOUND, SW_ORIGIN_NONE, 0,
                      "Query does not exist: %s", id);
  }
  src = db_fail(db, err, "warehouse registry");
  sqlite3_finalize(st);
  return src;
}

/* The row under `st` (from read_row) as the shared view. */
static void row_view(sqlite3_stmt *st, sw_wh_row *row)
{
  memset(row, 0, sizeof(*row));
  row->id = col_text(st, C_ID);
  row->database = col_text(st, C_DB);
  row->sqls = col_text(st, C_SQLS);
  row->params = col_text(st, C_PARAMS);
  row->status = col_text(st, C_STATUS);
  row->error = col_text(st, C_ERROR);
  row->subs = col_text(st, C_SUBS);
  row->result = col_text(st, C_RESULT);
  row->is_batch = sqlite3_column_int(st, C_BATCH) != 0;
  row->has_rs = sqlite3_column_int(st, C_HASRS) != 0;
  row->created_ms = sqlite3_column_int64(st, C_CREATED);
  row->updated_ms = sqlite3_column_int64(st, C_UPDATED);
  row->duration_ns = sqlite3_column_int64(st, C_DURATION);
  row->rows = sqlite3_column_int64(st, C_ROWS);
  row->size = sqlite3_column_int64(st, C_SIZE);
}

static int do_read(job *j, sqlite3 *db, sw_err *err)
{
  sqlite3_stmt *st = NULL;
  char base[SW_WH_ID_MAX];
  sw_wh_row row;
  int sub, rc;

  rc = sw__wh_parse_id(j->id, base, &sub, err);
  if (rc < 0)
    return rc;
  rc = read_row(db, base, &st, err);
  if (rc < 0)
    return rc;
  row_view(st, &row);
  if (j->kind == JOB_DESCRIBE)
    rc = sw__wh_describe_json(&row, j->id, &j->response, err);
  else
    rc = sw__wh_result_json(&row, j->id, j->offset, &j->response, err);
  sqlite3_finalize(st);
  return rc;
}

/* CancelStatement of a statement this process is not running. */
static int do_cancel_lookup(job *j, sqlite3 *db, sw_err *err)
{
  sqlite3_stmt *st = NULL;
  int rc = read_row(db, j->id, &st, err);

  if (rc < 0)
    return rc;
  rc = sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                  "Could not cancel a query that is already in %s state.",
                  col_text(st, C_STATUS));
  sqlite3_finalize(st);
  return rc;
}

/* ---- bulk load (worker) ------------------------------------------------ */

#define LOAD_CHUNK (256u << 10) /* bytes per read */

typedef struct load_ctx {
  job *j;
  sqlite3_stmt *st;
  size_t col;          /* fields of the current record so far */
  long long record;    /* records seen, header included */
  int rc;              /* first failure, or 0 */
  sw_err *err;
} load_ctx;

/* libcsv field callback: bind it (NULL for an empty unquoted field). */
static void load_field(void *s, size_t len, void *data)
{
  load_ctx *lc = data;
  int col;

  if (lc->rc < 0 || (lc->j->load.header && lc->record == 0))
    return;
  col = (int)lc->col++;
  if (lc->col > lc->j->load.n_columns)
    return; /* too wide: reported at the end of the record */
  if (!s)
    sqlite3_bind_null(lc->st, col + 1);
  else
    sqlite3_bind_text(lc->st, col + 1, s, (int)len, SQLITE_TRANSIENT);
}

/* libcsv record callback: insert the bound row. */
static void load_record(int c, void *data)
{
  load_ctx *lc = data;
  sqlite3 *db = sqlite3_db_handle(lc->st);

  (void)c;
  if (lc->rc < 0)
    return;
  if (lc->j->load.header && lc->record++ == 0) {
    lc->col = 0;
    return;
  }
  if (!lc->j->load.header)
    lc->record++;
  if (lc->col != lc->j->load.n_columns) {
    lc->rc = sw_err_set(lc->err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                        "bulk load into %s: record %lld has %zu fields, "
                        "expected %zu", lc->j->load.table, lc->record,
                        lc->col, lc->j->load.n_columns);
    return;
  }
  if (sqlite3_step(lc->st) != SQLITE_DONE) {
    lc->rc = db_fail(db, lc->err, "bulk load");
    sw_err_prefix(lc->err, "record %lld: ", lc->record);
    return;
  }
  sqlite3_reset(lc->st);
  sqlite3_clear_bindings(lc->st);
  lc->col = 0;
  lc->j->load_rows++;
}

/* One transaction of prepared INSERTs, fed by libcsv from the reader. */
static int do_load(job *j, sqlite3 *db, sw_err *err)
{
  struct csv_parser p;
  load_ctx lc;
  sw_buf sql = SW_BUF_INIT(0);
  char *buf = NULL;
  size_t i, n = 0;
  bool parser = false;
  int rc;

  memset(&lc, 0, sizeof(lc));
  lc.j = j;
  lc.err = err;
  rc = sw_buf_puts(&sql, "INSERT INTO ", err);
  if (rc == 0)
    rc = sw__wh_quote_ident(&sql, j->load.table, err);
  for (i = 0; rc == 0 && i < j->load.n_columns; i++) {
    rc = sw_buf_puts(&sql, i ? ", " : " (", err);
    if (rc == 0)
      rc = sw__wh_quote_ident(&sql, j->load.columns[i], err);
  }
  if (rc == 0)
    rc = sw_buf_puts(&sql, ") VALUES (", err);
  for (i = 0; rc == 0 && i < j->load.n_columns; i++)
    rc = sw_buf_puts(&sql, i ? ", ?" : "?", err);
  if (rc == 0)
    rc = sw_buf_puts(&sql, ")", err);
  if (rc < 0)
    goto done;
  rc = db_exec(db, "BEGIN IMMEDIATE", err);
  if (rc < 0)
    goto done;
  if (sqlite3_prepare_v2(db, sql.ptr, -1, &lc.st, NULL) != SQLITE_OK) {
    rc = db_fail(db, err, "bulk load");
    goto done;
  }
  if (csv_init(&p, CSV_STRICT | CSV_APPEND_NULL | CSV_EMPTY_IS_NULL) != 0) {
    rc = sw_err_set(err, SW_EIO, SW_ORIGIN_NONE, 0,
                    "bulk load: cannot initialise the CSV parser");
    goto done;
  }
  parser = true;
  csv_set_realloc_func(&p, sw_realloc);
  csv_set_free_func(&p, sw_free);
  buf = sw_malloc(LOAD_CHUNK);
  for (;;) {
    uv_mutex_lock(&j->wh->mu);
    rc = j->wh->closing_w ? -1 : 0;
    uv_mutex_unlock(&j->wh->mu);
    if (rc < 0) {
      rc = sw_err_set(err, SW_ECANCELED, SW_ORIGIN_NONE, 0,
                      "the warehouse is closing");
      goto done;
    }
    n = 0;
    rc = j->load.read(j->load.read_payload, buf, LOAD_CHUNK, &n, err);
    if (rc < 0)
      goto done;
    if (n == 0)
      break;
    if (csv_parse(&p, buf, n, load_field, load_record, &lc) != n &&
        lc.rc == 0)
      lc.rc = sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                         "bulk load into %s: malformed CSV after record "
                         "%lld: %s", j->load.table, lc.record,
                         csv_strerror(csv_error(&p)));
    if (lc.rc < 0) {
      rc = lc.rc;
      goto done;
    }
  }
  if (csv_fini(&p, load_field, load_record, &lc) != 0 && lc.rc == 0)
    lc.rc = sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                       "bulk load into %s: malformed CSV at the end: %s",
                       j->load.table, csv_strerror(csv_error(&p)));
  rc = lc.rc;
  if (rc < 0)
    goto done;
  sqlite3_finalize(lc.st);
  lc.st = NULL;
  rc = db_exec(db, "COMMIT", err);

done:
  if (parser)
    csv_free(&p);
  sqlite3_finalize(lc.st);
  if (!sqlite3_get_autocommit(db))
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
  if (rc < 0)
    j->load_rows = 0;
  sw_free(buf);
  sw_buf_dispose(&sql);
  return rc;
}

/* ---- job plumbing (loop thread + worker) ------------------------------ */

static void work_cb(uv_work_t *w)
{
  job *j = SW_CONTAINER_OF(w, job, work);
  sqlite3 *db = NULL;
  int rc;

  if (j->dropped || j->kind == JOB_NOOP)
    return;
  rc = conn_get(j->wh, &db, &j->err);
  if (rc < 0) {
    j->rc = rc;
    return;
  }
  switch (j->kind) {
  case JOB_INSERT: j->rc = do_insert(j, db, &j->err); break;
  case JOB_RUN: do_run(j, db, &j->err); break;
  case JOB_DESCRIBE:
  case JOB_RESULT: j->rc = do_read(j, db, &j->err); break;
  case JOB_CANCEL: j->rc = do_cancel_lookup(j, db, &j->err); break;
  case JOB_LOAD: j->rc = do_load(j, db, &j->err); break;
  case JOB_NOOP: break;
  }
  conn_put(j->wh, db);
}

static void after_work_cb(uv_work_t *w, int status);

static void start_job(wh_sqlite *wh, job *j)
{
  int rc;

  wh->jobs++;
  rc = uv_queue_work(wh->loop, &j->work, work_cb, after_work_cb);
  /* uv_queue_work fails only without a work callback. */
  (void)rc;
}

static void enqueue(job **head, job **tail, job *j)
{
  j->next = NULL;
  if (*tail)
    (*tail)->next = j;
  else
    *head = j;
  *tail = j;
}

static job *dequeue(job **head, job **tail)
{
  job *j = *head;

  if (j) {
    *head = j->next;
    if (!*head)
      *tail = NULL;
    j->next = NULL;
  }
  return j;
}

/* Start the next write job if none is in the pool. Inserts go first: they
 * are short, and a submit should not wait behind queued batches. */
static void pump(wh_sqlite *wh)
{
  job *j;

  if (wh->writer || wh->closing)
    return;
  j = dequeue(&wh->iq_head, &wh->iq_tail);
  if (!j)
    j = dequeue(&wh->rq_head, &wh->rq_tail);
  if (!j)
    return;
  wh->writer = j;
  start_job(wh, j);
}

static void add_run(wh_sqlite *wh, job *r)
{
  r->next_run = wh->runs;
  wh->runs = r;
  enqueue(&wh->rq_head, &wh->rq_tail, r);
}

static void remove_run(wh_sqlite *wh, job *r)
{
  job **pp;

  for (pp = &wh->runs; *pp; pp = &(*pp)->next_run)
    if (*pp == r) {
      *pp = r->next_run;
      return;
    }
}

static void finish_insert(wh_sqlite *wh, job *j)
{
  sw_err e = SW_ERR_INIT;
  job *r;

  if (wh->closing) {
    sw_err_set(&e, SW_ECANCELED, SW_ORIGIN_NONE, 0,
               "the warehouse is closing");
    j->submit_cb(&e, NULL, j->payload);
    return;
  }
  if (j->rc < 0) {
    j->submit_cb(&j->err, NULL, j->payload);
    return;
  }
  if (j->is_new) {
    /* The row is committed; queue its run before reporting the Id, so a
     * describe issued from the callback already finds it queued. */
    r = job_new(wh, JOB_RUN);
    memcpy(r->id, j->id, sizeof(r->id));
    r->sqls = j->sqls;
    r->n_sqls = j->n_sqls;
    r->batch = j->batch;
    r->pnames = j->pnames;
    r->pvalues = j->pvalues;
    r->n_params = j->n_params;
    j->sqls = j->pnames = j->pvalues = NULL;
    j->n_sqls = j->n_params = 0;
    add_run(wh, r);
  }
  j->submit_cb(NULL, j->id, j->payload);
}

static void finish_run(wh_sqlite *wh, job *j)
{
  sw_err e = SW_ERR_INIT;
  cJSON *resp;
  waiter *w;

  remove_run(wh, j);
  if (j->rc < 0)
    sw_log(SW_LOG_ERROR, "warehouse statement %s: %s", j->id, j->err.msg);
  for (w = j->waiters; w; w = w->next) {
    if (wh->closing) {
      sw_err_set(&e, SW_ECANCELED, SW_ORIGIN_NONE, 0,
                 "the warehouse is closing");
      w->cb(&e, NULL, w->payload);
    } else if (!strcmp(j->status, "ABORTED")) {
      resp = cJSON_CreateObject();
      cJSON_AddBoolToObject(resp, "Status", 1);
      w->cb(NULL, resp, w->payload);
    } else {
      sw_err_set(&e, SW_EINVAL, SW_ORIGIN_NONE, 0,
                 "Could not cancel a query that is already in %s state.",
                 j->status[0] ? j->status : "FINISHED");
      w->cb(&e, NULL, w->payload);
    }
  }
}

static void finish_close(wh_sqlite *wh)
{
  conn *c, *next;
  void (*cb)(void *) = wh->close_cb;
  void *payload = wh->close_payload;

  for (c = wh->pool; c; c = next) {
    next = c->next;
    sqlite3_close(c->db);
    sw_free(c);
  }
  uv_mutex_destroy(&wh->mu);
  sw_free(wh->path);
  sw_free(wh);
  if (cb)
    cb(payload);
}

static void after_work_cb(uv_work_t *w, int status)
{
  job *j = SW_CONTAINER_OF(w, job, work);
  wh_sqlite *wh = j->wh;
  sw_err e = SW_ERR_INIT;

  (void)status;
  wh->jobs--;
  if (wh->writer == j)
    wh->writer = NULL;
  switch (j->kind) {
  case JOB_INSERT: finish_insert(wh, j); break;
  case JOB_RUN: finish_run(wh, j); break;
  case JOB_DESCRIBE:
  case JOB_RESULT:
  case JOB_CANCEL:
    if (wh->closing) {
      sw_err_set(&e, SW_ECANCELED, SW_ORIGIN_NONE, 0,
                 "the warehouse is closing");
      j->json_cb(&e, NULL, j->payload);
    } else if (j->rc < 0) {
      j->json_cb(&j->err, NULL, j->payload);
    } else {
      cJSON *resp = j->response;
      j->response = NULL;
      j->json_cb(NULL, resp, j->payload);
    }
    break;
  case JOB_LOAD:
    if (wh->closing) {
      sw_err_set(&e, SW_ECANCELED, SW_ORIGIN_NONE, 0,
                 "the warehouse is closing");
      j->load_cb(&e, 0, j->payload);
    } else if (j->rc < 0) {
      j->load_cb(&j->err, 0, j->payload);
    } else {
      j->load_cb(NULL, j->load_rows, j->payload);
    }
    break;
  case JOB_NOOP: break;
  }
  job_free(j);
  if (!wh->closing)
    pump(wh);
  else if (wh->jobs == 0)
    finish_close(wh);
}

/* ---- driver ops (loop thread) ----------------------------------------- */

static job *find_run(wh_sqlite *wh, const char *id)
{
  job *r;

  for (r = wh->runs; r; r = r->next_run)
    if (!strcmp(r->id, id))
      return r;
  return NULL;
}

static char **strv_dup(const char *const *v, size_t n)
{
  char **out = sw_calloc(n ? n : 1, sizeof(*out));
  size_t i;

  for (i = 0; i < n; i++)
    out[i] = sw_strdup(v[i]);
  return out;
}

static int closing_err(sw_err *err)
{
  return sw_err_set(err, SW_ECANCELED, SW_ORIGIN_NONE, 0,
                    "the warehouse is closing");
}

static int sq_submit(void *impl, const sw_wh_submit *req, sw_wh_submit_cb cb,
                     void *payload, sw_err *err)
{
  wh_sqlite *wh = impl;
  job *j;
  size_t i;

  if (wh->closing)
    return closing_err(err);
  j = job_new(wh, JOB_INSERT);
  j->sqls = strv_dup(req->sqls, req->n_sqls);
  j->n_sqls = req->n_sqls;
  j->batch = req->batch;
  j->n_params = req->n_params;
  j->pnames = sw_calloc(req->n_params ? req->n_params : 1, sizeof(char *));
  j->pvalues = sw_calloc(req->n_params ? req->n_params : 1, sizeof(char *));
  for (i = 0; i < req->n_params; i++) {
    j->pnames[i] = sw_strdup(req->params[i].name);
    j->pvalues[i] = sw_strdup(req->params[i].value);
  }
  j->token = sw_strdup(req->client_token);
  j->name = sw_strdup(req->statement_name);
  j->database = sw_strdup(req->database);
  j->submit_cb = cb;
  j->payload = payload;
  enqueue(&wh->iq_head, &wh->iq_tail, j);
  pump(wh);
  return 0;
}

static int start_read(wh_sqlite *wh, enum job_kind kind, const char *id,
                      long long offset, sw_wh_json_cb cb, void *payload,
                      sw_err *err)
{
  job *j;

  if (wh->closing)
    return closing_err(err);
  j = job_new(wh, kind);
  snprintf(j->id, sizeof(j->id), "%s", id);
  j->offset = offset;
  j->json_cb = cb;
  j->payload = payload;
  start_job(wh, j);
  return 0;
}

static int sq_describe(void *impl, const char *id, sw_wh_json_cb cb,
                       void *payload, sw_err *err)
{
  return start_read(impl, JOB_DESCRIBE, id, 0, cb, payload, err);
}

static int sq_result(void *impl, const char *id, const char *next_token,
                     sw_wh_json_cb cb, void *payload, sw_err *err)
{
  long long off = 0;
  int rc = sw__wh_parse_next_token(next_token, &off, err);

  if (rc < 0)
    return rc;
  return start_read(impl, JOB_RESULT, id, off, cb, payload, err);
}

static int sq_cancel(void *impl, const char *id, sw_wh_json_cb cb,
                     void *payload, sw_err *err)
{
  wh_sqlite *wh = impl;
  char base[SW_WH_ID_MAX];
  waiter *w;
  job *r;
  int sub, rc;

  if (wh->closing)
    return closing_err(err);
  rc = sw__wh_parse_id(id, base, &sub, err);
  if (rc < 0)
    return rc;
  r = find_run(wh, base);
  if (!r)
    return start_read(wh, JOB_CANCEL, base, 0, cb, payload, err);
  w = sw_calloc(1, sizeof(*w));
  w->cb = cb;
  w->payload = payload;
  w->next = r->waiters;
  r->waiters = w;
  /* Under mu, so the worker either sees `cancel` before it publishes its
   * connection or has published it and gets interrupted here. */
  uv_mutex_lock(&wh->mu);
  r->cancel = true;
  if (r->running)
    sqlite3_interrupt(r->running);
  uv_mutex_unlock(&wh->mu);
  return 0;
}

static int sq_bulk_load(void *impl, const sw_wh_bulk_load *req,
                        sw_wh_load_cb cb, void *payload, sw_err *err)
{
  wh_sqlite *wh = impl;
  job *j;

  if (wh->closing)
    return closing_err(err);
  j = job_new(wh, JOB_LOAD);
  j->load = *req;
  j->load_cb = cb;
  j->payload = payload;
  /* A writer like a batch: queued behind runs, one writer at a time. */
  enqueue(&wh->rq_head, &wh->rq_tail, j);
  pump(wh);
  return 0;
}

static void sq_close(void *impl, void (*cb)(void *payload), void *payload)
{
  wh_sqlite *wh = impl;
  job *j, *r;

  wh->closing = true;
  wh->close_cb = cb;
  wh->close_payload = payload;
  uv_mutex_lock(&wh->mu);
  wh->closing_w = true;
  for (r = wh->runs; r; r = r->next_run)
    if (r->running)
      sqlite3_interrupt(r->running);
  uv_mutex_unlock(&wh->mu);
  /* Queued writes complete through the pool as no-ops, so every callback
   * still fires (with SW_ECANCELED) from after_work, never from here. */
  while ((j = dequeue(&wh->iq_head, &wh->iq_tail)) != NULL) {
    j->dropped = true;
    start_job(wh, j);
  }
  while ((j = dequeue(&wh->rq_head, &wh->rq_tail)) != NULL) {
    j->dropped = true;
    start_job(wh, j);
  }
  if (wh->jobs == 0)
    start_job(wh, job_new(wh, JOB_NOOP));
}

/* Parse a registry row's sqls/params JSON into a run job. */
static int load_run(job *r, const char *sqls_txt, const char *params_txt)
{
  cJSON *sqls = sqls_txt ? cJSON_Parse(sqls_txt) : NULL;
  cJSON *params = params_txt ? cJSON_Parse(params_txt) : NULL;
  cJSON *it;
  size_t n = 0;
  int rc = -1;

  if (!cJSON_IsArray(sqls) || cJSON_GetArraySize(sqls) < 1 ||
      (params_txt && !cJSON_IsArray(params)))
    goto done;
  r->sqls = sw_calloc((size_t)cJSON_GetArraySize(sqls), sizeof(char *));
  cJSON_ArrayForEach(it, sqls) {
    if (!cJSON_IsString(it))
      goto done;
    r->sqls[r->n_sqls++] = sw_strdup(it->valuestring);
  }
  n = params ? (size_t)cJSON_GetArraySize(params) : 0;
  r->pnames = sw_calloc(n ? n : 1, sizeof(char *));
  r->pvalues = sw_calloc(n ? n : 1, sizeof(char *));
  cJSON_ArrayForEach(it, params) {
    const char *name = sw_json_get_str(it, "name");
    const char *value = sw_json_get_str(it, "value");
    if (!name || !value)
      goto done;
    r->pnames[r->n_params] = sw_strdup(name);
    r->pvalues[r->n_params++] = sw_strdup(value);
  }
  rc = 0;

done:
  cJSON_Delete(sqls);
  cJSON_Delete(params);
  return rc;
}

/* Queue every statement recorded but never committed, oldest first. */
static int recover(wh_sqlite *wh, sqlite3 *db, sw_err *err)
{
  static const char sql[] =
      "SELECT id, sqls, params, is_batch FROM stepwise_statements"
      " WHERE status IN ('SUBMITTED', 'PICKED', 'STARTED')"
      " ORDER BY created_at, rowid";
  sqlite3_stmt *st = NULL;
  job *r;
  int src, n = 0;

  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
    return db_fail(db, err, "warehouse registry");
  while ((src = sqlite3_step(st)) == SQLITE_ROW) {
    r = job_new(wh, JOB_RUN);
    snprintf(r->id, sizeof(r->id), "%s", col_text(st, 0));
    r->batch = sqlite3_column_int(st, 3) != 0;
    if (load_run(r, col_text(st, 1), col_text(st, 2)) < 0) {
      sw_log(SW_LOG_WARN, "warehouse %s: statement %s has an unreadable "
             "registry row; not running it", wh->path, r->id);
      job_free(r);
      continue;
    }
    add_run(wh, r);
    n++;
  }
  if (src != SQLITE_DONE)
    src = db_fail(db, err, "warehouse registry");
  else
    src = 0;
  sqlite3_finalize(st);
  if (n > 0)
    sw_log(SW_LOG_INFO, "warehouse %s: running %d statement(s) that never "
           "committed", wh->path, n);
  return src;
}

/* Opening is synchronous on the loop thread (schema, WAL, recovery
 * query): it happens once, before any execution runs. */
static int sq_open(void **impl_out, uv_loop_t *loop, const char *target,
                   sw_err *err)
{
  wh_sqlite *wh = sw_calloc(1, sizeof(*wh));
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  int rc;

  *impl_out = NULL;
  wh->loop = loop;
  wh->path = sw_strdup(target);
  if (uv_mutex_init(&wh->mu) != 0) {
    sw_free(wh->path);
    sw_free(wh);
    return sw_err_set(err, SW_EIO, SW_ORIGIN_UV, 0, "uv_mutex_init failed");
  }
  rc = conn_open(&db, target, err);
  if (rc < 0)
    goto done;
  if (sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &st, NULL) !=
          SQLITE_OK ||
      sqlite3_step(st) != SQLITE_ROW) {
    rc = db_fail(db, err, target);
    goto done;
  }
  if (strcmp((const char *)sqlite3_column_text(st, 0), "wal") != 0) {
    rc = sw_err_set(err, SW_EIO, SW_ORIGIN_SQLITE, 0,
                    "%s: cannot switch the warehouse to WAL mode", target);
    goto done;
  }
  sqlite3_finalize(st);
  st = NULL;
  rc = db_exec(db, schema_sql, err);
  if (rc < 0)
    goto done;
  rc = recover(wh, db, err);

done:
  sqlite3_finalize(st);
  if (rc < 0) {
    job *j;
    while ((j = dequeue(&wh->rq_head, &wh->rq_tail)) != NULL)
      job_free(j);
    sqlite3_close(db);
    uv_mutex_destroy(&wh->mu);
    sw_free(wh->path);
    sw_free(wh);
    return rc;
  }
  conn_put(wh, db);
  pump(wh);
  *impl_out = wh;
  return 0;
}

const sw_wh_driver_ops sw__wh_sqlite_ops = {
    SW_WH_OPS_VERSION, "sqlite",    sq_open,   sq_close,     sq_submit,
    sq_describe,       sq_result, sq_cancel, sq_bulk_load,
};
