/* SPDX-License-Identifier: MIT */
/* postgres warehouse driver: Data API semantics over a PostgreSQL server,
 * every call asynchronous on the loop (src/io: libpq on uv_poll, a small
 * pool). Key invariant, as in the sqlite driver: a statement's registry
 * row becomes FINISHED in the same transaction as its SQL, so "the batch
 * committed" and "the row says FINISHED" are one fact.
 *
 * Durability decisions (DESIGN.md §4.6):
 * - The registry is the table stepwise_statements in the PostgreSQL
 *   database (created when missing). submit INSERTs the row (SUBMITTED,
 *   committed) before the Id is reported. ClientToken is UNIQUE: INSERT
 *   ... ON CONFLICT DO NOTHING, then the existing row's Id.
 * - A run marks the row STARTED (autocommit), then BEGIN; SELECT the row
 *   FOR UPDATE (a second runner of the same Id -- another process, or a
 *   backend of a killed process still finishing -- waits here and then
 *   sees FINISHED and runs nothing); every statement; UPDATE the row to
 *   FINISHED with its result; COMMIT. On an SQL error: ROLLBACK, then mark
 *   FAILED (autocommit) with the server's primary message; after
 *   CancelStatement (57014): ABORTED.
 * - Each SQL text is split into statements (sw__wh_sql_split) and each
 *   statement sent with PQsendQueryParams, :name parameters rewritten to
 *   $n and bound as text, one number per occurrence so the server infers
 *   each type from its context.
 * - A lost connection (SQLSTATE class 08, 57P01) in the middle of a run
 *   rolled the batch back on the server: the run starts again on a new
 *   connection (up to RUN_ATTEMPTS times); the row lock makes that safe
 *   even if the old transaction had in fact committed.
 * - On open, rows still SUBMITTED/PICKED/STARTED are queued to run again,
 *   oldest first. Open is synchronous (like sqlite's): it runs its own
 *   private loop for the connect, the schema and the recovery query, so a
 *   bad URL or an unreachable server is reported by sw_warehouse_open.
 * - sw_warehouse_close drops running batches' connections (the server
 *   rolls them back) and leaves their rows STARTED: the next open runs
 *   them, exactly as after a crash.
 * - Result sets are read in single-row mode and kept bounded
 *   (SW_WH_RESULT_MAX_ROWS / _BYTES, else the statement FAILS). */
#include "warehouse/warehouse.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/io.h"
#include "warehouse/warehouse_int.h"

#define POOL_CONNS 8          /* connections per warehouse */
#define MAX_RUNS 4            /* batches running at once */
#define RUN_ATTEMPTS 3        /* runs restarted after a lost connection */
#define LOAD_CHUNK (256u << 10) /* bytes per bulk-load read */

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS stepwise_statements (\n"
    "  id TEXT PRIMARY KEY,\n"
    "  client_token TEXT UNIQUE,\n"
    "  statement_name TEXT,\n"
    "  database_name TEXT,\n"
    "  is_batch BOOLEAN NOT NULL DEFAULT false,\n"
    "  sqls TEXT NOT NULL,            -- JSON array of SQL texts\n"
    "  params TEXT,                   -- JSON [{name, value}] or NULL\n"
    "  status TEXT NOT NULL,          -- SUBMITTED ... FAILED\n"
    "  error TEXT,\n"
    "  created_at BIGINT NOT NULL,    -- epoch ms\n"
    "  updated_at BIGINT NOT NULL,    -- epoch ms\n"
    "  duration_ns BIGINT NOT NULL DEFAULT -1,\n"
    "  result_rows BIGINT NOT NULL DEFAULT -1,\n"
    "  result_size BIGINT NOT NULL DEFAULT -1,\n"
    "  has_result_set BOOLEAN NOT NULL DEFAULT false,\n"
    "  result TEXT,                   -- {ColumnMetadata, Records}\n"
    "  sub_statements TEXT            -- JSON SubStatements of a batch\n"
    ");\n"
    "CREATE INDEX IF NOT EXISTS stepwise_statements_pending\n"
    "  ON stepwise_statements(status, created_at);\n";

enum op_kind { OP_INSERT, OP_RUN, OP_DESCRIBE, OP_RESULT, OP_CANCEL, OP_LOAD };

typedef struct waiter { /* a CancelStatement waiting for its run to end */
  sw_wh_json_cb cb;
  void *payload;
  struct waiter *next;
} waiter;

typedef struct stmt { /* one statement of a SQL text, ready to send */
  char *sql;          /* $n form; owned */
  size_t *idx;        /* $k takes params[idx[k-1]]; owned */
  size_t n_idx;
} stmt;

struct wh_pg;

typedef struct op {
  struct wh_pg *wh;
  enum op_kind kind;
  sw_pg_conn *conn;      /* while held */
  struct op *next;       /* run queue / live list link */
  char id[SW_WH_ID_MAX + 8];
  int step;              /* position in the op's sequence */
  sw_err err;            /* first failure */
  /* request (owned) */
  char **sqls;
  size_t n_sqls;
  bool batch;
  char **pnames, **pvalues;
  size_t n_params;
  char *token, *name, *database;
  long long offset;      /* OP_RESULT */
  sw_wh_submit_cb submit_cb;
  sw_wh_json_cb json_cb;
  void *payload;
  /* OP_INSERT */
  bool is_new;
  bool found;
  /* reads */
  cJSON *response;
  /* OP_RUN */
  stmt **stmts;          /* per SQL text: its statements */
  size_t *n_stmts;
  size_t cur_sql, cur_stmt;
  sw_wh_sub *subs;
  size_t bytes;          /* kept result bytes, all statements */
  cJSON *cols, *records; /* result set being read */
  size_t rs_bytes;
  long long rs_rows;
  bool cancel;           /* CancelStatement asked */
  bool in_stmt;          /* a user statement is on the server now */
  bool runnable;
  int attempts;
  uint64_t t0;
  char status[12];       /* final status, "" when left as it was */
  char *errmsg;          /* the failure as the Data API reports it */
  waiter *waiters;
  /* OP_LOAD */
  sw_wh_bulk_load load;  /* borrowed pointers, as the caller promised */
  sw_wh_load_cb load_cb;
  long long load_rows;
  uv_work_t read_work;   /* embedded; one read at a time */
  bool reading, want, eof, read_failed, load_ended;
  char *buf_ready, *buf_read; /* LOAD_CHUNK each; owned */
  size_t ready_len, read_len;
  bool ready;
  sw_err read_err;
} op;

typedef struct wh_pg {
  uv_loop_t *loop;
  char *conninfo;         /* owned */
  sw_pg_pool *pool;
  op *rq_head, *rq_tail;  /* runs waiting for a slot */
  op *runs;               /* runs queued or running (live list) */
  unsigned running;
  unsigned ops;           /* ops in flight (all kinds) */
  bool closing;
  bool pool_closed;
  void (*close_cb)(void *payload);
  void *close_payload;
} wh_pg;

static void op_step(sw_pg_conn *conn, const sw_err *err, void *payload);
static void pump(wh_pg *wh);

/* ---- helpers ------------------------------------------------------------ */

static void op_free(op *o)
{
  size_t i, k;
  waiter *w, *next;

  if (!o)
    return;
  sw__wh_strv_free(o->sqls, o->n_sqls);
  sw__wh_strv_free(o->pnames, o->n_params);
  sw__wh_strv_free(o->pvalues, o->n_params);
  sw_free(o->token);
  sw_free(o->name);
  sw_free(o->database);
  cJSON_Delete(o->response);
  if (o->stmts) {
    for (i = 0; i < o->n_sqls; i++) {
      for (k = 0; o->stmts[i] && k < o->n_stmts[i]; k++) {
        sw_free(o->stmts[i][k].sql);
        sw_free(o->stmts[i][k].idx);
      }
      sw_free(o->stmts[i]);
    }
  }
  sw_free(o->stmts);
  sw_free(o->n_stmts);
  if (o->subs) {
    for (i = 0; i < o->n_sqls; i++) {
      sw_free(o->subs[i].error);
      cJSON_Delete(o->subs[i].result);
    }
  }
  sw_free(o->subs);
  cJSON_Delete(o->cols);
  cJSON_Delete(o->records);
  sw_free(o->errmsg);
  for (w = o->waiters; w; w = next) {
    next = w->next;
    sw_free(w);
  }
  sw_free(o->buf_ready);
  sw_free(o->buf_read);
  sw_free(o);
}

static op *op_new(wh_pg *wh, enum op_kind kind)
{
  op *o = sw_calloc(1, sizeof(*o));

  o->wh = wh;
  o->kind = kind;
  return o;
}

static int closing_err(sw_err *err)
{
  return sw_err_set(err, SW_ECANCELED, SW_ORIGIN_NONE, 0,
                    "the warehouse is closing");
}

static void finish_close_if_done(wh_pg *wh);

static void on_pool_closed(void *payload)
{
  wh_pg *wh = payload;

  wh->pool_closed = true;
  finish_close_if_done(wh);
}

static void finish_close_if_done(wh_pg *wh)
{
  void (*cb)(void *) = wh->close_cb;
  void *payload = wh->close_payload;

  if (!wh->closing || wh->ops > 0 || !wh->pool_closed)
    return;
  sw_free(wh->conninfo);
  sw_free(wh);
  if (cb)
    cb(payload);
}

/* Send `sql` with text params on the op's connection; op_step is next. */
static int qsend(op *o, const char *sql, int n, const char *const *values,
                sw_pg_result_fn on_result, bool single_row)
{
  sw_pg_query q;

  memset(&q, 0, sizeof(q));
  q.sql = sql;
  q.n_params = n;
  q.values = values;
  q.single_row = single_row;
  q.on_result = on_result;
  q.done = op_step;
  q.payload = o;
  return sw_pg_send(o->conn, &q, &o->err);
}

static void release(op *o)
{
  if (o->conn) {
    sw_pg_pool_release(o->wh->pool, o->conn);
    o->conn = NULL;
  }
}

static const char *val(const PGresult *r, int row, int col)
{
  return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

static long long num(const char *s)
{
  return s ? strtoll(s, NULL, 10) : 0;
}

/* ---- Data API values from PostgreSQL results --------------------------- */

static const char *type_name(Oid t)
{
  switch (t) {
  case 16: return "bool";
  case 17: return "bytea";
  case 18: return "char";
  case 19: return "name";
  case 20: return "int8";
  case 21: return "int2";
  case 23: return "int4";
  case 25: return "text";
  case 26: return "oid";
  case 114: return "json";
  case 700: return "float4";
  case 701: return "float8";
  case 1042: return "bpchar";
  case 1043: return "varchar";
  case 1082: return "date";
  case 1083: return "time";
  case 1114: return "timestamp";
  case 1184: return "timestamptz";
  case 1700: return "numeric";
  case 2950: return "uuid";
  case 3802: return "jsonb";
  default: return "unknown";
  }
}

static cJSON *columns_json(const PGresult *r)
{
  cJSON *cols = cJSON_CreateArray(), *m;
  int i;

  for (i = 0; i < PQnfields(r); i++) {
    m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "name", PQfname(r, i));
    cJSON_AddStringToObject(m, "label", PQfname(r, i));
    cJSON_AddStringToObject(m, "typeName", type_name(PQftype(r, i)));
    cJSON_AddNumberToObject(m, "nullable", 2); /* columnNullableUnknown */
    cJSON_AddItemToArray(cols, m);
  }
  return cols;
}

/* One field as the Data API spells it (numeric stays a string, as
 * Redshift returns it, so no precision is lost). */
static cJSON *field_json(const PGresult *r, int row, int col, size_t *bytes)
{
  cJSON *f = cJSON_CreateObject();
  const char *v = PQgetvalue(r, row, col);
  unsigned char *raw, *b64;
  size_t n;

  if (PQgetisnull(r, row, col)) {
    cJSON_AddBoolToObject(f, "isNull", 1);
    *bytes += 16;
    return f;
  }
  switch (PQftype(r, col)) {
  case 20: case 21: case 23: case 26:
    cJSON_AddNumberToObject(f, "longValue", (double)strtoll(v, NULL, 10));
    *bytes += 32;
    break;
  case 700: case 701:
    cJSON_AddNumberToObject(f, "doubleValue", strtod(v, NULL));
    *bytes += 40;
    break;
  case 16:
    cJSON_AddBoolToObject(f, "booleanValue", v[0] == 't');
    *bytes += 24;
    break;
  case 17:
    raw = PQunescapeBytea((const unsigned char *)v, &n);
    b64 = sw_malloc(4 * ((n + 2) / 3) + 1);
    EVP_EncodeBlock(b64, raw ? raw : (const unsigned char *)"", (int)n);
    cJSON_AddStringToObject(f, "blobValue", (const char *)b64);
    *bytes += 16 + 4 * ((n + 2) / 3);
    sw_free(b64);
    PQfreemem(raw);
    break;
  default:
    cJSON_AddStringToObject(f, "stringValue", v);
    *bytes += 20 + (size_t)PQgetlength(r, row, col);
    break;
  }
  return f;
}

/* ---- submit: the registry row ------------------------------------------ */

static int on_insert_result(const PGresult *r, void *payload, sw_err *err)
{
  op *o = payload;

  (void)err;
  if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0) {
    snprintf(o->id, sizeof(o->id), "%s", PQgetvalue(r, 0, 0));
    o->is_new = PQgetvalue(r, 0, 1)[0] == 't';
    o->found = true;
  }
  return 0;
}

static int insert_send(op *o)
{
  static const char sql[] =
      "WITH ins AS (INSERT INTO stepwise_statements (id, client_token,"
      " statement_name, database_name, is_batch, sqls, params, status,"
      " created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7,"
      " 'SUBMITTED', $8, $8) ON CONFLICT (client_token) DO NOTHING"
      " RETURNING id)"
      " SELECT id, true FROM ins UNION ALL"
      " SELECT id, false FROM stepwise_statements"
      " WHERE client_token = $2 AND NOT EXISTS (SELECT 1 FROM ins)";
  char *sqls = sw__wh_sqls_json(o->sqls, o->n_sqls);
  char *params = sw__wh_params_json(o->pnames, o->pvalues, o->n_params);
  char now[32];
  const char *v[8];
  int rc;

  sw_uuid_v4(o->id);
  snprintf(now, sizeof(now), "%lld", (long long)sw_time_now_ms());
  v[0] = o->id;
  v[1] = o->token;
  v[2] = o->name;
  v[3] = o->database;
  v[4] = o->batch ? "t" : "f";
  v[5] = sqls;
  v[6] = params;
  v[7] = now;
  o->found = false;
  rc = qsend(o, sql, 8, v, on_insert_result, false);
  sw_free(sqls);
  sw_free(params);
  return rc;
}

static void add_run(wh_pg *wh, op *r)
{
  r->next = NULL;
  if (wh->rq_tail)
    wh->rq_tail->next = r;
  else
    wh->rq_head = r;
  wh->rq_tail = r;
}

static void insert_done(op *o)
{
  wh_pg *wh = o->wh;
  sw_err e = SW_ERR_INIT;
  op *r;

  if (wh->closing) {
    closing_err(&e);
    o->submit_cb(&e, NULL, o->payload);
    return;
  }
  if (o->err.code < 0) {
    o->submit_cb(&o->err, NULL, o->payload);
    return;
  }
  if (o->is_new) {
    /* The row is committed; queue its run before reporting the Id. */
    r = op_new(wh, OP_RUN);
    memcpy(r->id, o->id, sizeof(r->id));
    r->sqls = o->sqls;
    r->n_sqls = o->n_sqls;
    r->batch = o->batch;
    r->pnames = o->pnames;
    r->pvalues = o->pvalues;
    r->n_params = o->n_params;
    o->sqls = o->pnames = o->pvalues = NULL;
    o->n_sqls = o->n_params = 0;
    add_run(wh, r);
  }
  o->submit_cb(NULL, o->id, o->payload);
  pump(wh);
}

/* ---- reads --------------------------------------------------------------- */

#define ROW_SQL(result_col)                                                    \
  "SELECT id, database_name, sqls, params, status, error, sub_statements, "  \
  result_col ", is_batch, has_result_set, created_at, updated_at, "          \
  "duration_ns, result_rows, result_size FROM stepwise_statements "          \
  "WHERE id = $1"

static void row_view(const PGresult *r, sw_wh_row *row)
{
  memset(row, 0, sizeof(*row));
  row->id = val(r, 0, 0);
  row->database = val(r, 0, 1);
  row->sqls = val(r, 0, 2);
  row->params = val(r, 0, 3);
  row->status = val(r, 0, 4);
  row->error = val(r, 0, 5);
  row->subs = val(r, 0, 6);
  row->result = val(r, 0, 7);
  row->is_batch = val(r, 0, 8) && val(r, 0, 8)[0] == 't';
  row->has_rs = val(r, 0, 9) && val(r, 0, 9)[0] == 't';
  row->created_ms = num(val(r, 0, 10));
  row->updated_ms = num(val(r, 0, 11));
  row->duration_ns = num(val(r, 0, 12));
  row->rows = num(val(r, 0, 13));
  row->size = num(val(r, 0, 14));
}

static int on_read_result(const PGresult *r, void *payload, sw_err *err)
{
  op *o = payload;
  sw_wh_row row;

  if (PQresultStatus(r) != PGRES_TUPLES_OK)
    return 0;
  if (PQntuples(r) == 0)
    return sw_err_set(err, SW_ENOTFOUND, SW_ORIGIN_NONE, 0,
                      "Query does not exist: %s", o->id);
  row_view(r, &row);
  switch (o->kind) {
  case OP_DESCRIBE:
    return sw__wh_describe_json(&row, o->id, &o->response, err);
  case OP_RESULT:
    return sw__wh_result_json(&row, o->id, o->offset, &o->response, err);
  default:
    return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                      "Could not cancel a query that is already in %s "
                      "state.", row.status);
  }
}

static int read_send(op *o)
{
  char base[SW_WH_ID_MAX];
  const char *v[1];
  int sub;

  if (sw__wh_parse_id(o->id, base, &sub, &o->err) < 0)
    return o->err.code;
  v[0] = base;
  /* Describe does not need the stored result set: leave it on the
   * server. */
  return qsend(o, o->kind == OP_RESULT ? ROW_SQL("result")
                                      : ROW_SQL("NULL::text"),
              1, v, on_read_result, false);
}

static void read_done(op *o)
{
  sw_err e = SW_ERR_INIT;
  cJSON *resp;

  if (o->wh->closing) {
    closing_err(&e);
    o->json_cb(&e, NULL, o->payload);
  } else if (o->err.code < 0) {
    o->json_cb(&o->err, NULL, o->payload);
  } else {
    resp = o->response;
    o->response = NULL;
    o->json_cb(NULL, resp, o->payload);
  }
}

/* ---- running a batch ------------------------------------------------------ */

enum {
  R_STARTED = 1, /* UPDATE ... STARTED sent */
  R_BEGIN,       /* BEGIN sent */
  R_LOCK,        /* SELECT ... FOR UPDATE sent */
  R_STMT,        /* a user statement sent */
  R_FINISH,      /* UPDATE ... FINISHED sent */
  R_COMMIT,      /* COMMIT sent */
  R_ROLLBACK,    /* ROLLBACK sent after a failure */
  R_MARK         /* UPDATE ... FAILED/ABORTED sent */
};

static int run_prepare(op *o, sw_err *err)
{
  const char **names = sw_calloc(o->n_params ? o->n_params : 1,
                                 sizeof(*names));
  char **parts = NULL;
  size_t n = 0, i, k;
  int rc = 0;

  for (i = 0; i < o->n_params; i++)
    names[i] = o->pnames[i];
  o->stmts = sw_calloc(o->n_sqls, sizeof(*o->stmts));
  o->n_stmts = sw_calloc(o->n_sqls, sizeof(*o->n_stmts));
  o->subs = sw_calloc(o->n_sqls, sizeof(*o->subs));
  for (i = 0; i < o->n_sqls; i++) {
    rc = sw__wh_sql_split(o->sqls[i], &parts, &n, err);
    if (rc < 0)
      goto done;
    o->stmts[i] = sw_calloc(n ? n : 1, sizeof(stmt));
    o->n_stmts[i] = n;
    for (k = 0; k < n; k++) {
      rc = sw__wh_sql_bind_names(parts[k], names, o->n_params,
                                 &o->stmts[i][k].sql, &o->stmts[i][k].idx,
                                 &o->stmts[i][k].n_idx, err);
      if (rc < 0)
        goto done;
    }
    sw__wh_strv_free(parts, n);
    parts = NULL;
    n = 0;
  }

done:
  sw__wh_strv_free(parts, n);
  sw_free(names);
  return rc;
}

static void run_fail_msg(op *o, const char *msg)
{
  if (!o->errmsg)
    o->errmsg = sw_strdup(msg);
}

static int on_stmt_result(const PGresult *r, void *payload, sw_err *err)
{
  op *o = payload;
  sw_wh_sub *so = &o->subs[o->cur_sql];
  cJSON *row;
  int i, st = PQresultStatus(r);
  size_t bytes = 0;

  if (st == PGRES_COMMAND_OK || st == PGRES_EMPTY_QUERY) {
    if (!so->has_rs)
      so->rows = (so->rows < 0 ? 0 : so->rows) + num(PQcmdTuples((PGresult *)r));
    return 0;
  }
  if (!o->cols)
    o->cols = columns_json(r);
  if (!o->records)
    o->records = cJSON_CreateArray();
  if (st == PGRES_TUPLES_OK) /* end of the set (single-row mode) */
    return 0;
  if (++o->rs_rows > SW_WH_RESULT_MAX_ROWS)
    return sw_err_set(err, SW_ELIMIT, SW_ORIGIN_NONE, 0,
                      "result set has more than %d rows, the warehouse's "
                      "limit; aggregate or LIMIT the query",
                      SW_WH_RESULT_MAX_ROWS);
  row = cJSON_CreateArray();
  for (i = 0; i < PQnfields(r); i++)
    cJSON_AddItemToArray(row, field_json(r, 0, i, &bytes));
  cJSON_AddItemToArray(o->records, row);
  o->rs_bytes += bytes;
  if (o->bytes + o->rs_bytes > SW_WH_RESULT_MAX_BYTES)
    return sw_err_set(err, SW_ELIMIT, SW_ORIGIN_NONE, 0,
                      "result set is larger than %u MiB, the warehouse's "
                      "limit; aggregate or LIMIT the query",
                      SW_WH_RESULT_MAX_BYTES >> 20);
  return 0;
}

/* A statement returned rows: the last such statement owns the result. */
static void keep_result(op *o)
{
  sw_wh_sub *so = &o->subs[o->cur_sql];

  if (!o->cols)
    return;
  o->bytes -= so->result_bytes;
  cJSON_Delete(so->result);
  so->result = cJSON_CreateObject();
  cJSON_AddItemToObject(so->result, "ColumnMetadata", o->cols);
  cJSON_AddItemToObject(so->result, "Records", o->records);
  o->cols = o->records = NULL;
  so->result_bytes = o->rs_bytes;
  o->bytes += o->rs_bytes;
  so->has_rs = true;
  so->rows = o->rs_rows;
}

static int send_stmt(op *o)
{
  stmt *s = &o->stmts[o->cur_sql][o->cur_stmt];
  const char **v = sw_calloc(s->n_idx ? s->n_idx : 1, sizeof(*v));
  size_t k;
  int rc;

  for (k = 0; k < s->n_idx; k++)
    v[k] = o->pvalues[s->idx[k]];
  o->rs_rows = 0;
  o->rs_bytes = 0;
  o->in_stmt = true;
  rc = qsend(o, s->sql, (int)s->n_idx, v, on_stmt_result, true);
  sw_free(v);
  return rc;
}

static int send_finish(op *o)
{
  static const char sql[] =
      "UPDATE stepwise_statements SET status = 'FINISHED', error = NULL,"
      " duration_ns = $2, result_rows = $3, result_size = $4,"
      " has_result_set = $5, result = $6, sub_statements = $7,"
      " updated_at = $8 WHERE id = $1";
  cJSON *subs_j = NULL, *last = NULL;
  char *subs_txt = NULL, *result_txt = NULL;
  char dur[32], rows_s[32], size_s[32], now[32];
  const char *v[8];
  long long rows = 0;
  bool any_rs = false;
  size_t i;
  int rc;

  for (i = 0; i < o->n_sqls; i++) {
    if (o->subs[i].has_rs) {
      any_rs = true;
      last = o->subs[i].result;
    }
    rows += o->subs[i].rows > 0 ? o->subs[i].rows : 0;
  }
  if (o->batch) {
    subs_j = cJSON_CreateArray();
    for (i = 0; i < o->n_sqls; i++)
      cJSON_AddItemToArray(subs_j, sw__wh_sub_json(o->id, i, o->sqls[i],
                                                   &o->subs[i], true));
    subs_txt = sw_json_print(subs_j);
  } else {
    rows = o->subs[0].rows;
  }
  if (last)
    result_txt = sw_json_print(last);
  snprintf(dur, sizeof(dur), "%llu",
           (unsigned long long)(uv_hrtime() - o->t0));
  snprintf(rows_s, sizeof(rows_s), "%lld", rows);
  snprintf(size_s, sizeof(size_s), "%lld",
           any_rs ? (long long)o->bytes : -1LL);
  snprintf(now, sizeof(now), "%lld", (long long)sw_time_now_ms());
  v[0] = o->id;
  v[1] = dur;
  v[2] = rows_s;
  v[3] = size_s;
  v[4] = any_rs ? "t" : "f";
  v[5] = result_txt;
  v[6] = subs_txt;
  v[7] = now;
  rc = qsend(o, sql, 8, v, NULL, false);
  cJSON_Delete(subs_j);
  sw_free(subs_txt);
  sw_free(result_txt);
  return rc;
}

static int send_mark(op *o)
{
  static const char sql[] =
      "UPDATE stepwise_statements SET status = $2, error = $3,"
      " duration_ns = $4, result_rows = -1, result_size = -1,"
      " has_result_set = false, result = NULL, sub_statements = $5,"
      " updated_at = $6 WHERE id = $1"
      " AND status IN ('SUBMITTED', 'PICKED', 'STARTED')";
  cJSON *subs_j = NULL;
  char *subs_txt = NULL;
  char dur[32], now[32];
  const char *v[6];
  size_t i, failed_at = o->cur_sql;
  int rc;

  if (o->batch) {
    subs_j = cJSON_CreateArray();
    for (i = 0; i < o->n_sqls; i++) {
      sw_wh_sub *so = &o->subs[i];
      /* Earlier statements ran but were rolled back with the batch. */
      if (i < failed_at) {
        so->status = "FINISHED";
      } else if (i == failed_at) {
        so->status = o->status;
        sw_free(so->error);
        so->error = sw_strdup(o->errmsg);
      } else {
        so->status = "ABORTED";
        so->created_ms = so->updated_ms = sw_time_now_ms();
      }
      so->has_rs = false;
      so->rows = -1;
      cJSON_AddItemToArray(subs_j,
                           sw__wh_sub_json(o->id, i, o->sqls[i], so, false));
    }
    subs_txt = sw_json_print(subs_j);
  }
  snprintf(dur, sizeof(dur), "%llu",
           (unsigned long long)(o->t0 ? uv_hrtime() - o->t0 : 0));
  snprintf(now, sizeof(now), "%lld", (long long)sw_time_now_ms());
  v[0] = o->id;
  v[1] = o->status;
  v[2] = o->errmsg;
  v[3] = dur;
  v[4] = subs_txt;
  v[5] = now;
  rc = qsend(o, sql, 6, v, NULL, false);
  cJSON_Delete(subs_j);
  sw_free(subs_txt);
  return rc;
}

static int on_started(const PGresult *r, void *payload, sw_err *err)
{
  op *o = payload;

  (void)err;
  if (PQresultStatus(r) == PGRES_COMMAND_OK)
    o->runnable = num(PQcmdTuples((PGresult *)r)) == 1;
  return 0;
}

static int on_lock(const PGresult *r, void *payload, sw_err *err)
{
  op *o = payload;

  (void)err;
  if (PQresultStatus(r) == PGRES_TUPLES_OK)
    o->runnable = PQntuples(r) == 1 && val(r, 0, 0) &&
                  !strcmp(val(r, 0, 0), "STARTED");
  return 0;
}

static void run_finish(op *o);
static void remove_run(wh_pg *wh, op *r);

/* Start (or restart after a lost connection) the run's sequence. */
static int run_begin(op *o)
{
  static const char sql[] =
      "UPDATE stepwise_statements SET status = 'STARTED', updated_at = $2"
      " WHERE id = $1 AND status IN ('SUBMITTED', 'PICKED', 'STARTED')";
  char now[32];
  const char *v[2];
  size_t i;

  for (i = 0; i < o->n_sqls; i++) {
    sw_free(o->subs[i].error);
    cJSON_Delete(o->subs[i].result);
    memset(&o->subs[i], 0, sizeof(o->subs[i]));
  }
  cJSON_Delete(o->cols);
  cJSON_Delete(o->records);
  o->cols = o->records = NULL;
  o->bytes = 0;
  o->cur_sql = o->cur_stmt = 0;
  o->runnable = false;
  snprintf(now, sizeof(now), "%lld", (long long)sw_time_now_ms());
  v[0] = o->id;
  v[1] = now;
  o->step = R_STARTED;
  return qsend(o, sql, 2, v, on_started, false);
}

/* Advance to the next user statement, or to the ledger write. */
static int run_advance(op *o)
{
  const char *v[1];

  while (o->cur_sql < o->n_sqls) {
    sw_wh_sub *so = &o->subs[o->cur_sql];
    if (o->cur_stmt == 0 && !so->created_ms) {
      so->created_ms = sw_time_now_ms();
      so->rows = -1;
      so->duration_ns = uv_hrtime();
    }
    if (o->cur_stmt < o->n_stmts[o->cur_sql]) {
      if (o->cancel) {
        run_fail_msg(o, "Query cancelled by CancelStatement.");
        snprintf(o->status, sizeof(o->status), "%s", "ABORTED");
        o->step = R_ROLLBACK;
        return qsend(o, "ROLLBACK", 0, NULL, NULL, false);
      }
      o->step = R_STMT;
      return send_stmt(o);
    }
    so->status = "FINISHED";
    so->duration_ns = uv_hrtime() - so->duration_ns;
    so->updated_ms = sw_time_now_ms();
    o->cur_sql++;
    o->cur_stmt = 0;
  }
  (void)v;
  o->step = R_FINISH;
  return send_finish(o);
}

/* After a failure inside the transaction: roll back, then mark. */
static int run_failed(op *o, const sw_err *err)
{
  if (err->code == SW_ECANCELED && o->cancel) {
    run_fail_msg(o, "Query cancelled by CancelStatement.");
    snprintf(o->status, sizeof(o->status), "%s", "ABORTED");
  } else {
    run_fail_msg(o, err->msg);
    snprintf(o->status, sizeof(o->status), "%s", "FAILED");
  }
  o->step = R_ROLLBACK;
  return qsend(o, "ROLLBACK", 0, NULL, NULL, false);
}

static void run_step(op *o, const sw_err *err)
{
  const char *v[1];
  int rc = 0;

  o->in_stmt = false;
  if (err && (!o->conn || sw_pg_conn_broken(o->conn) || o->wh->closing)) {
    /* The connection is gone: the server rolled the transaction back (or
     * committed it, if COMMIT got there: the row lock sorts that out).
     * Start over on another connection. */
    sw_pg_pool_release(o->wh->pool, o->conn);
    o->conn = NULL;
    if (!o->wh->closing && ++o->attempts < RUN_ATTEMPTS &&
        o->step != R_MARK) {
      sw_log(SW_LOG_WARN, "warehouse statement %s: %s; running it again",
             o->id, err->msg);
      remove_run(o->wh, o);
      add_run(o->wh, o);
      o->wh->running--;
      o->wh->ops--;
      pump(o->wh);
      return;
    }
    if (!o->wh->closing)
      sw_log(SW_LOG_ERROR, "warehouse statement %s: %s; it runs again when "
             "the warehouse is next opened", o->id, err->msg);
    o->status[0] = '\0';
    run_finish(o);
    return;
  }
  switch (o->step) {
  case R_STARTED:
    if (err || !o->runnable) { /* a terminal row is never run again */
      if (err)
        o->err = *err;
      run_finish(o);
      return;
    }
    o->t0 = uv_hrtime();
    o->step = R_BEGIN;
    rc = qsend(o, "BEGIN", 0, NULL, NULL, false);
    break;
  case R_BEGIN:
    if (err) {
      rc = run_failed(o, err);
      break;
    }
    v[0] = o->id;
    o->step = R_LOCK;
    rc = qsend(o,
              "SELECT status FROM stepwise_statements WHERE id = $1"
              " FOR UPDATE",
              1, v, on_lock, false);
    break;
  case R_LOCK:
    if (err) {
      rc = run_failed(o, err);
      break;
    }
    if (!o->runnable) {
      /* Another runner finished it meanwhile: nothing to do. */
      o->status[0] = '\0';
      o->step = R_MARK; /* ROLLBACK, then finish without marking */
      rc = qsend(o, "ROLLBACK", 0, NULL, NULL, false);
      break;
    }
    rc = run_advance(o);
    break;
  case R_STMT:
    if (err) {
      rc = run_failed(o, err);
      break;
    }
    keep_result(o);
    o->cur_stmt++;
    rc = run_advance(o);
    break;
  case R_FINISH:
    if (err) {
      rc = run_failed(o, err);
      break;
    }
    o->step = R_COMMIT;
    rc = qsend(o, "COMMIT", 0, NULL, NULL, false);
    break;
  case R_COMMIT:
    if (err) {
      /* COMMIT failed (serialization, deferred constraint): rolled back. */
      run_fail_msg(o, err->msg);
      snprintf(o->status, sizeof(o->status), "%s", "FAILED");
      o->step = R_MARK;
      rc = send_mark(o);
      break;
    }
    snprintf(o->status, sizeof(o->status), "%s", "FINISHED");
    run_finish(o);
    return;
  case R_ROLLBACK:
    o->step = R_MARK;
    rc = send_mark(o);
    break;
  case R_MARK:
    if (err) {
      o->err = *err;
      o->status[0] = '\0';
    }
    run_finish(o);
    return;
  default:
    run_finish(o);
    return;
  }
  if (rc < 0) {
    sw_err e = o->err;
    run_step(o, &e); /* the send failed: treat as that step's failure */
  }
}

static void remove_run(wh_pg *wh, op *r)
{
  op **pp;

  for (pp = &wh->runs; *pp; pp = &(*pp)->next)
    if (*pp == r) {
      *pp = r->next;
      return;
    }
}

static op *find_run(wh_pg *wh, const char *id)
{
  op *r;

  for (r = wh->runs; r; r = r->next)
    if (!strcmp(r->id, id))
      return r;
  for (r = wh->rq_head; r; r = r->next)
    if (!strcmp(r->id, id))
      return r;
  return NULL;
}

static void run_finish(op *o)
{
  wh_pg *wh = o->wh;
  sw_err e = SW_ERR_INIT;
  cJSON *resp;
  waiter *w;

  release(o);
  remove_run(wh, o);
  wh->running--;
  if (o->err.code < 0 && !wh->closing)
    sw_log(SW_LOG_ERROR, "warehouse statement %s: %s", o->id, o->err.msg);
  for (w = o->waiters; w; w = w->next) {
    if (wh->closing) {
      closing_err(&e);
      w->cb(&e, NULL, w->payload);
    } else if (!strcmp(o->status, "ABORTED")) {
      resp = cJSON_CreateObject();
      cJSON_AddBoolToObject(resp, "Status", 1);
      w->cb(NULL, resp, w->payload);
    } else {
      sw_err_set(&e, SW_EINVAL, SW_ORIGIN_NONE, 0,
                 "Could not cancel a query that is already in %s state.",
                 o->status[0] ? o->status : "FINISHED");
      w->cb(&e, NULL, w->payload);
    }
  }
  op_free(o);
  wh->ops--;
  pump(wh);
  finish_close_if_done(wh);
}

/* ---- bulk load (COPY FROM STDIN) ---------------------------------------- */

static void load_read_work(uv_work_t *w)
{
  op *o = SW_CONTAINER_OF(w, op, read_work);
  size_t n = 0;

  if (o->load.read(o->load.read_payload, o->buf_read, LOAD_CHUNK, &n,
                   &o->read_err) < 0) {
    o->read_failed = true;
    if (o->read_err.code == SW_OK)
      sw_err_set(&o->read_err, SW_EIO, SW_ORIGIN_NONE, 0,
                 "bulk load: the reader failed");
    return;
  }
  o->read_len = n;
}

static void load_after_read(uv_work_t *w, int status);

static void load_start_read(op *o)
{
  if (o->reading || o->eof || o->read_failed || o->ready)
    return;
  o->reading = true;
  o->read_len = 0;
  uv_queue_work(o->wh->loop, &o->read_work, load_read_work, load_after_read);
}

/* Hand the ready chunk (or the end) to COPY when it asked for one. */
static void load_feed(op *o)
{
  char *t;
  sw_err e = SW_ERR_INIT;

  if (!o->want || !o->conn)
    return;
  if (o->read_failed || o->wh->closing) {
    o->want = false;
    o->load_ended = true;
    sw_pg_copy_end(o->conn, o->read_failed ? o->read_err.msg
                                           : "the warehouse is closing", &e);
    return;
  }
  if (!o->ready)
    return;
  o->want = false;
  if (o->ready_len == 0) { /* end of input */
    o->load_ended = true;
    sw_pg_copy_end(o->conn, NULL, &e);
    return;
  }
  o->ready = false;
  if (sw_pg_copy_put(o->conn, o->buf_ready, o->ready_len, &e) < 0)
    return; /* the query completes with the error */
  (void)t;
  load_start_read(o);
}

static void load_after_read(uv_work_t *w, int status)
{
  op *o = SW_CONTAINER_OF(w, op, read_work);
  char *t;

  (void)status;
  o->reading = false;
  if (!o->read_failed) {
    /* The read buffer becomes the ready one. */
    t = o->buf_ready;
    o->buf_ready = o->buf_read;
    o->buf_read = t;
    o->ready_len = o->read_len;
    o->ready = true;
    if (o->read_len == 0)
      o->eof = true;
  }
  if (o->step == -1) { /* the COPY already completed: finish now */
    op_step(NULL, NULL, o);
    return;
  }
  load_feed(o);
  if (!o->ready)
    load_start_read(o);
}

static void on_fill(sw_pg_conn *conn, void *payload)
{
  op *o = payload;

  (void)conn;
  o->want = true;
  load_feed(o);
}

static int on_copy_result(const PGresult *r, void *payload, sw_err *err)
{
  op *o = payload;

  (void)err;
  if (PQresultStatus(r) == PGRES_COMMAND_OK)
    o->load_rows = num(PQcmdTuples((PGresult *)r));
  return 0;
}

static int load_send(op *o)
{
  sw_buf b = SW_BUF_INIT(0);
  sw_pg_query q;
  size_t i;
  int rc;

  rc = sw_buf_puts(&b, "COPY ", &o->err);
  if (rc == 0)
    rc = sw__wh_quote_ident(&b, o->load.table, &o->err);
  if (rc == 0)
    rc = sw_buf_puts(&b, " (", &o->err);
  for (i = 0; rc == 0 && i < o->load.n_columns; i++) {
    if (i > 0)
      rc = sw_buf_puts(&b, ", ", &o->err);
    if (rc == 0)
      rc = sw__wh_quote_ident(&b, o->load.columns[i], &o->err);
  }
  if (rc == 0)
    rc = sw_buf_printf(&b, &o->err,
                       ") FROM STDIN (FORMAT csv, HEADER %s, ENCODING "
                       "'UTF8')", o->load.header ? "true" : "false");
  if (rc < 0) {
    sw_buf_dispose(&b);
    return rc;
  }
  memset(&q, 0, sizeof(q));
  q.sql = b.ptr;
  q.on_result = on_copy_result;
  q.fill = on_fill;
  q.done = op_step;
  q.payload = o;
  rc = sw_pg_send(o->conn, &q, &o->err);
  sw_buf_dispose(&b);
  if (rc == 0)
    load_start_read(o);
  return rc;
}

static void load_done(op *o)
{
  sw_err e = SW_ERR_INIT;

  if (o->wh->closing) {
    closing_err(&e);
    o->load_cb(&e, 0, o->payload);
  } else if (o->read_failed) {
    o->load_cb(&o->read_err, 0, o->payload);
  } else if (o->err.code < 0) {
    o->load_cb(&o->err, 0, o->payload);
  } else {
    o->load_cb(NULL, o->load_rows, o->payload);
  }
}

/* ---- op plumbing ------------------------------------------------------- */

static void op_complete(op *o)
{
  wh_pg *wh = o->wh;

  release(o);
  switch (o->kind) {
  case OP_INSERT: insert_done(o); break;
  case OP_DESCRIBE:
  case OP_RESULT:
  case OP_CANCEL: read_done(o); break;
  case OP_LOAD: load_done(o); break;
  case OP_RUN: break;
  }
  op_free(o);
  wh->ops--;
  finish_close_if_done(wh);
}

/* Query completion for every op kind (and the pool hand-out of OP_RUN). */
static void op_step(sw_pg_conn *conn, const sw_err *err, void *payload)
{
  op *o = payload;

  (void)conn;
  if (o->kind == OP_RUN) {
    run_step(o, err);
    return;
  }
  if (err && o->err.code == SW_OK)
    o->err = *err;
  if (o->kind == OP_LOAD && o->reading) {
    /* A read job still holds the op: finish when it returns. */
    o->step = -1;
    return;
  }
  if (o->kind == OP_INSERT && !err && !o->found) {
    /* A concurrent submit of the same token won the race between our
     * snapshot and its commit: look again. */
    sw_err_set(&o->err, SW_EAGAIN, SW_ORIGIN_NONE, 0,
               "concurrent submit with the same ClientToken; retry");
  }
  op_complete(o);
}

static void on_conn(sw_pg_conn *conn, const sw_err *err, void *payload)
{
  op *o = payload;
  int rc;

  if (!conn) {
    if (o->kind == OP_RUN) {
      o->err = *err;
      o->status[0] = '\0';
      if (!o->wh->closing)
        sw_log(SW_LOG_ERROR, "warehouse statement %s: %s; it runs again "
               "when the warehouse is next opened", o->id, err->msg);
      run_finish(o);
      return;
    }
    o->err = *err;
    op_complete(o);
    return;
  }
  o->conn = conn;
  if (o->wh->closing) {
    closing_err(&o->err);
    if (o->kind == OP_RUN) {
      run_finish(o);
      return;
    }
    op_complete(o);
    return;
  }
  switch (o->kind) {
  case OP_INSERT: rc = insert_send(o); break;
  case OP_RUN:
    if (o->errmsg) { /* the SQL could not be split: mark it FAILED */
      o->step = R_MARK;
      rc = send_mark(o);
    } else {
      rc = run_begin(o);
    }
    if (rc < 0) {
      sw_err e = o->err;
      run_step(o, &e);
    }
    return;
  case OP_LOAD: rc = load_send(o); break;
  default: rc = read_send(o); break;
  }
  if (rc < 0)
    op_complete(o);
}

static int op_start(op *o, sw_err *err)
{
  wh_pg *wh = o->wh;
  int rc;

  wh->ops++;
  rc = sw_pg_pool_acquire(wh->pool, on_conn, o, err);
  if (rc < 0)
    wh->ops--;
  return rc;
}

/* Start queued runs while slots are free. */
static void pump(wh_pg *wh)
{
  sw_err e = SW_ERR_INIT;
  op *r;

  while (!wh->closing && wh->running < MAX_RUNS && wh->rq_head) {
    r = wh->rq_head;
    wh->rq_head = r->next;
    if (!wh->rq_head)
      wh->rq_tail = NULL;
    r->next = wh->runs;
    wh->runs = r;
    wh->running++;
    if (!r->stmts && run_prepare(r, &e) < 0) {
      /* Unsplittable SQL (an unterminated quote): the statement FAILS
       * without touching the database beyond its row. */
      r->errmsg = sw_strdup(e.msg);
      snprintf(r->status, sizeof(r->status), "%s", "FAILED");
    }
    if (op_start(r, &e) < 0) {
      remove_run(wh, r);
      wh->running--;
      op_free(r);
    }
  }
}

/* ---- driver ops -------------------------------------------------------- */

static char **strv_dup(const char *const *v, size_t n)
{
  char **out = sw_calloc(n ? n : 1, sizeof(*out));
  size_t i;

  for (i = 0; i < n; i++)
    out[i] = sw_strdup(v[i]);
  return out;
}

static int pg_submit(void *impl, const sw_wh_submit *req, sw_wh_submit_cb cb,
                     void *payload, sw_err *err)
{
  wh_pg *wh = impl;
  op *o;
  size_t i;
  int rc;

  if (wh->closing)
    return closing_err(err);
  o = op_new(wh, OP_INSERT);
  o->sqls = strv_dup(req->sqls, req->n_sqls);
  o->n_sqls = req->n_sqls;
  o->batch = req->batch;
  o->n_params = req->n_params;
  o->pnames = sw_calloc(req->n_params ? req->n_params : 1, sizeof(char *));
  o->pvalues = sw_calloc(req->n_params ? req->n_params : 1, sizeof(char *));
  for (i = 0; i < req->n_params; i++) {
    o->pnames[i] = sw_strdup(req->params[i].name);
    o->pvalues[i] = sw_strdup(req->params[i].value);
  }
  o->token = sw_strdup(req->client_token);
  o->name = sw_strdup(req->statement_name);
  o->database = sw_strdup(req->database);
  o->submit_cb = cb;
  o->payload = payload;
  rc = op_start(o, err);
  if (rc < 0)
    op_free(o);
  return rc;
}

static int start_read(wh_pg *wh, enum op_kind kind, const char *id,
                      long long offset, sw_wh_json_cb cb, void *payload,
                      sw_err *err)
{
  op *o;
  int rc;

  if (wh->closing)
    return closing_err(err);
  o = op_new(wh, kind);
  snprintf(o->id, sizeof(o->id), "%s", id);
  o->offset = offset;
  o->json_cb = cb;
  o->payload = payload;
  rc = op_start(o, err);
  if (rc < 0)
    op_free(o);
  return rc;
}

static int pg_describe(void *impl, const char *id, sw_wh_json_cb cb,
                       void *payload, sw_err *err)
{
  return start_read(impl, OP_DESCRIBE, id, 0, cb, payload, err);
}

static int pg_result(void *impl, const char *id, const char *next_token,
                     sw_wh_json_cb cb, void *payload, sw_err *err)
{
  long long off;
  int rc = sw__wh_parse_next_token(next_token, &off, err);

  if (rc < 0)
    return rc;
  return start_read(impl, OP_RESULT, id, off, cb, payload, err);
}

static int pg_cancel(void *impl, const char *id, sw_wh_json_cb cb,
                     void *payload, sw_err *err)
{
  wh_pg *wh = impl;
  char base[SW_WH_ID_MAX];
  waiter *w;
  op *r;
  int sub, rc;

  if (wh->closing)
    return closing_err(err);
  rc = sw__wh_parse_id(id, base, &sub, err);
  if (rc < 0)
    return rc;
  r = find_run(wh, base);
  if (!r)
    return start_read(wh, OP_CANCEL, base, 0, cb, payload, err);
  w = sw_calloc(1, sizeof(*w));
  w->cb = cb;
  w->payload = payload;
  w->next = r->waiters;
  r->waiters = w;
  r->cancel = true;
  /* A statement on the server is interrupted there (57014 -> ABORTED);
   * between statements the flag stops the batch before the next one. */
  if (r->in_stmt && r->conn)
    sw_pg_cancel(r->conn);
  return 0;
}

static int pg_bulk_load(void *impl, const sw_wh_bulk_load *req,
                        sw_wh_load_cb cb, void *payload, sw_err *err)
{
  wh_pg *wh = impl;
  op *o;
  int rc;

  if (wh->closing)
    return closing_err(err);
  o = op_new(wh, OP_LOAD);
  o->load = *req;
  o->load_cb = cb;
  o->payload = payload;
  o->buf_ready = sw_malloc(LOAD_CHUNK);
  o->buf_read = sw_malloc(LOAD_CHUNK);
  rc = op_start(o, err);
  if (rc < 0)
    op_free(o);
  return rc;
}

static void pg_close(void *impl, void (*cb)(void *payload), void *payload)
{
  wh_pg *wh = impl;
  op *r;

  wh->closing = true;
  wh->close_cb = cb;
  wh->close_payload = payload;
  /* Queued runs stay SUBMITTED/STARTED in the registry: the next open
   * runs them. */
  while ((r = wh->rq_head) != NULL) {
    wh->rq_head = r->next;
    op_free(r);
  }
  wh->rq_tail = NULL;
  /* Running batches: drop their connections; the server rolls back. */
  for (r = wh->runs; r; r = r->next)
    if (r->conn) {
      sw_pg_conn *c = r->conn;
      r->conn = NULL;
      sw_pg_pool_discard(wh->pool, c);
    }
  sw_pg_pool_close(wh->pool, on_pool_closed, wh);
}

/* ---- open: a private loop for connect, schema and recovery ------------- */

typedef struct opener {
  sw_pg_conn *conn;
  bool done;
  sw_err err;
  wh_pg *wh;
  int n_recovered;
} opener;

static void on_open_conn(sw_pg_conn *conn, const sw_err *err, void *payload)
{
  opener *p = payload;

  p->done = true;
  p->conn = conn;
  if (err)
    p->err = *err;
}

static void on_open_done(sw_pg_conn *conn, const sw_err *err, void *payload)
{
  opener *p = payload;

  (void)conn;
  p->done = true;
  if (err && p->err.code == SW_OK)
    p->err = *err;
}

static int on_recover_row(const PGresult *r, void *payload, sw_err *err)
{
  opener *p = payload;
  op *o;
  int i;

  (void)err;
  if (PQresultStatus(r) != PGRES_TUPLES_OK)
    return 0;
  for (i = 0; i < PQntuples(r); i++) {
    o = op_new(p->wh, OP_RUN);
    snprintf(o->id, sizeof(o->id), "%s", PQgetvalue(r, i, 0));
    o->batch = PQgetvalue(r, i, 3)[0] == 't';
    if (sw__wh_load_request(val(r, i, 1), val(r, i, 2), &o->sqls,
                            &o->n_sqls, &o->pnames, &o->pvalues,
                            &o->n_params) < 0) {
      sw_log(SW_LOG_WARN, "warehouse: statement %s has an unreadable "
             "registry row; not running it", o->id);
      op_free(o);
      continue;
    }
    add_run(p->wh, o);
    p->n_recovered++;
  }
  return 0;
}

static int open_query(uv_loop_t *l, opener *p, const char *sql,
                      sw_pg_result_fn on_result)
{
  sw_pg_query q;

  memset(&q, 0, sizeof(q));
  q.sql = sql;
  q.on_result = on_result;
  q.done = on_open_done;
  q.payload = p;
  p->done = false;
  if (sw_pg_send(p->conn, &q, &p->err) < 0)
    return p->err.code;
  while (!p->done)
    uv_run(l, UV_RUN_ONCE);
  return p->err.code;
}

static int pg_open(void **impl_out, uv_loop_t *loop, const char *target,
                   sw_err *err)
{
  static const char recover_sql[] =
      "SELECT id, sqls, params, is_batch FROM stepwise_statements"
      " WHERE status IN ('SUBMITTED', 'PICKED', 'STARTED')"
      " ORDER BY created_at, id";
  wh_pg *wh = sw_calloc(1, sizeof(*wh));
  opener p;
  uv_loop_t l;
  char **parts = NULL;
  size_t n = 0, i;
  op *o;
  int rc;

  *impl_out = NULL;
  memset(&p, 0, sizeof(p));
  p.wh = wh;
  wh->loop = loop;
  wh->conninfo = sw_strdup(target);
  uv_loop_init(&l);
  rc = sw_pg_connect(&l, target, on_open_conn, &p, err);
  if (rc < 0)
    goto done;
  while (!p.done)
    uv_run(&l, UV_RUN_ONCE);
  if (!p.conn) {
    rc = sw_err_set(err, p.err.code, p.err.origin, p.err.native,
                    "warehouse %s: %s", "postgres", p.err.msg);
    goto done;
  }
  rc = sw__wh_sql_split(schema_sql, &parts, &n, err);
  for (i = 0; rc == 0 && i < n; i++)
    rc = open_query(&l, &p, parts[i], NULL);
  if (rc == 0)
    rc = open_query(&l, &p, recover_sql, on_recover_row);
  if (rc < 0 && p.err.code < 0)
    rc = sw_err_set(err, p.err.code, p.err.origin, p.err.native,
                    "warehouse registry: %s", p.err.msg);

done:
  sw__wh_strv_free(parts, n);
  sw_pg_close(p.conn);
  uv_run(&l, UV_RUN_DEFAULT);
  if (uv_loop_close(&l) != 0)
    sw_log(SW_LOG_WARN, "postgres open: private loop had open handles");
  if (rc < 0) {
    while ((o = wh->rq_head) != NULL) {
      wh->rq_head = o->next;
      op_free(o);
    }
    sw_free(wh->conninfo);
    sw_free(wh);
    return rc;
  }
  if (p.n_recovered > 0)
    sw_log(SW_LOG_INFO, "warehouse postgres: running %d statement(s) that "
           "never committed", p.n_recovered);
  rc = sw_pg_pool_new(&wh->pool, loop, target, POOL_CONNS, err);
  if (rc < 0)
    return rc;
  pump(wh);
  *impl_out = wh;
  return 0;
}

const sw_wh_driver_ops sw__wh_postgres_ops = {
    SW_WH_OPS_VERSION, "postgres", pg_open,   pg_close,  pg_submit,
    pg_describe,       pg_result,  pg_cancel, pg_bulk_load,
};
