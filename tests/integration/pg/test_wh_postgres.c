/* SPDX-License-Identifier: MIT */
/* postgres warehouse driver against a real PostgreSQL (SW_TEST_PG_DSN,
 * started by tools/test; skipped when unset): Data API round trip,
 * batches, FAILED with rollback, ClientToken dedupe, cancel -> ABORTED,
 * recovery of a statement that never committed, connection loss, and
 * COPY bulk load with back-pressure. Each test gets a fresh database. */
#include "sw_test.h"

#include <libpq-fe.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/common.h"
#include "warehouse/warehouse.h"

typedef struct waitbox {
  bool done;
  int code;
  char msg[SW_ERR_MSG_MAX];
  char id[64];
  cJSON *resp;
  long long rows;
} waitbox;

static void on_submit(const sw_err *err, const char *id, void *payload)
{
  waitbox *b = payload;

  b->done = true;
  b->code = err ? err->code : 0;
  if (err)
    snprintf(b->msg, sizeof(b->msg), "%s", err->msg);
  if (id)
    snprintf(b->id, sizeof(b->id), "%s", id);
}

static void on_json(const sw_err *err, cJSON *resp, void *payload)
{
  waitbox *b = payload;

  b->done = true;
  b->code = err ? err->code : 0;
  if (err)
    snprintf(b->msg, sizeof(b->msg), "%s", err->msg);
  b->resp = resp;
}

static void on_load(const sw_err *err, long long rows, void *payload)
{
  waitbox *b = payload;

  b->done = true;
  b->code = err ? err->code : 0;
  if (err)
    snprintf(b->msg, sizeof(b->msg), "%s", err->msg);
  b->rows = rows;
}

static void run_until(uv_loop_t *loop, waitbox *b)
{
  while (!b->done)
    uv_run(loop, UV_RUN_ONCE);
}

/* A fresh database on the test server; returns its DSN (sw_free) or NULL
 * (and skips) when there is no server. */
static char *fresh_db(void)
{
  const char *dsn = getenv("SW_TEST_PG_DSN");
  char name[64], *sql, *out;
  const char *slash;
  PGconn *c;
  PGresult *r;
  static int seq;

  if (!dsn || !*dsn) {
    sw_test_skip("SW_TEST_PG_DSN is not set");
    return NULL;
  }
  snprintf(name, sizeof(name), "sw_t%d_%d_%lld", (int)getpid(), ++seq,
           (long long)(sw_time_now_ms() % 100000000));
  c = PQconnectdb(dsn);
  sql = sw_asprintf("CREATE DATABASE %s", name);
  r = PQexec(c, sql);
  if (PQresultStatus(r) != PGRES_COMMAND_OK)
    fprintf(stderr, "  create database: %s", PQerrorMessage(c));
  PQclear(r);
  PQfinish(c);
  sw_free(sql);
  slash = strrchr(dsn, '/');
  out = sw_asprintf("%.*s/%s", (int)(slash - dsn), dsn, name);
  return out;
}

static sw_warehouse *open_wh(uv_loop_t *loop, const char *dsn)
{
  sw_warehouse *wh = NULL;
  sw_err err = SW_ERR_INIT;

  if (sw_warehouse_open(&wh, loop, dsn, NULL, &err) < 0)
    fprintf(stderr, "  open: %s\n", err.msg);
  return wh;
}

static void on_closed(void *payload)
{
  *(bool *)payload = true;
}

static void close_wh(uv_loop_t *loop, sw_warehouse *wh)
{
  bool closed = false;

  sw_warehouse_close(wh, on_closed, &closed);
  while (!closed)
    uv_run(loop, UV_RUN_ONCE);
}

static int loop_done(uv_loop_t *loop)
{
  uv_run(loop, UV_RUN_DEFAULT);
  return uv_loop_close(loop);
}

static int submit(uv_loop_t *loop, sw_warehouse *wh, const char *const *sqls,
                  size_t n, bool batch, const sw_wh_param *params,
                  size_t n_params, const char *token, char *id_out)
{
  sw_wh_submit req = {sqls, n, batch, params, n_params, token, NULL, "dev"};
  waitbox b = {0};
  sw_err err = SW_ERR_INIT;
  int rc = sw_warehouse_submit(wh, &req, on_submit, &b, &err);

  if (rc < 0)
    return rc;
  run_until(loop, &b);
  if (id_out)
    snprintf(id_out, 64, "%s", b.id);
  return b.code;
}

static int submit1(uv_loop_t *loop, sw_warehouse *wh, const char *sql,
                   char *id_out)
{
  return submit(loop, wh, &sql, 1, false, NULL, 0, NULL, id_out);
}

static cJSON *describe(uv_loop_t *loop, sw_warehouse *wh, const char *id,
                       waitbox *b)
{
  sw_err err = SW_ERR_INIT;

  memset(b, 0, sizeof(*b));
  if (sw_warehouse_describe(wh, id, on_json, b, &err) < 0) {
    b->code = err.code;
    return NULL;
  }
  run_until(loop, b);
  return b->resp;
}

static cJSON *result(uv_loop_t *loop, sw_warehouse *wh, const char *id,
                     waitbox *b)
{
  sw_err err = SW_ERR_INIT;

  memset(b, 0, sizeof(*b));
  if (sw_warehouse_result(wh, id, NULL, on_json, b, &err) < 0) {
    b->code = err.code;
    return NULL;
  }
  run_until(loop, b);
  return b->resp;
}

static bool terminal(const char *s)
{
  return s && (!strcmp(s, "FINISHED") || !strcmp(s, "FAILED") ||
               !strcmp(s, "ABORTED"));
}

static cJSON *wait_status(uv_loop_t *loop, sw_warehouse *wh, const char *id,
                          const char *want)
{
  waitbox b;
  cJSON *d;
  const char *s;
  int i;

  for (i = 0; i < 3000; i++) {
    d = describe(loop, wh, id, &b);
    if (!d)
      return NULL;
    s = sw_json_get_str(d, "Status");
    if (want ? !strcmp(s, want) : terminal(s))
      return d;
    cJSON_Delete(d);
    uv_sleep(5);
  }
  return NULL;
}

/* One value read behind the driver's back (NULL -> "NULL"). */
static char *scalar(const char *dsn, const char *sql)
{
  PGconn *c = PQconnectdb(dsn);
  PGresult *r = PQexec(c, sql);
  char *v;

  if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0)
    v = sw_strdup(PQgetisnull(r, 0, 0) ? "NULL" : PQgetvalue(r, 0, 0));
  else
    v = sw_asprintf("error: %s", PQerrorMessage(c));
  PQclear(r);
  PQfinish(c);
  return v;
}

#define ASSERT_SCALAR(dsn, sql, want)                                          \
  do {                                                                         \
    char *v_ = scalar((dsn), (sql));                                           \
    int eq_ = !strcmp(v_, (want));                                             \
    if (!eq_)                                                                  \
      fprintf(stderr, "  %s -> %s\n", (sql), v_);                              \
    sw_free(v_);                                                               \
    SW_ASSERT(eq_);                                                            \
  } while (0)

SW_TEST(pg_wh__roundtrip_types_and_result)
{
  uv_loop_t loop;
  char *dsn = fresh_db();
  char id[64];
  sw_warehouse *wh;
  waitbox b;
  cJSON *d, *r;

  if (!dsn)
    return;
  uv_loop_init(&loop);
  wh = open_wh(&loop, dsn);
  SW_ASSERT_NOT_NULL(wh);
  SW_ASSERT_STR_EQ(sw_warehouse_driver(wh), "postgres");
  SW_ASSERT_OK(submit1(&loop, wh,
                       "CREATE TABLE item (i_id INTEGER, price NUMERIC(7,2),"
                       " name TEXT, note TEXT, raw BYTEA, f FLOAT8,"
                       " ok BOOLEAN);\n"
                       "-- a comment; with a semicolon\n"
                       "INSERT INTO item VALUES (1, 2.5, 'hat;''s', NULL,"
                       " '\\x0102ff', 0.5, true);\n"
                       "INSERT INTO item VALUES (2, 10, $$scarf;$$, 'x',"
                       " NULL, NULL, false);",
                       id));
  d = wait_status(&loop, wh, id, NULL);
  SW_ASSERT_NOT_NULL(d);
  SW_ASSERT_STR_EQ(sw_json_get_str(d, "Status"), "FINISHED");
  SW_ASSERT_STR_EQ(sw_json_get_str(d, "Database"), "dev");
  SW_ASSERT_EQ(sw_json_get(d, "ResultRows")->valuedouble, 2);
  SW_ASSERT(cJSON_IsFalse(sw_json_get(d, "HasResultSet")));
  cJSON_Delete(d);

  SW_ASSERT_OK(submit1(&loop, wh,
                       "SELECT i_id, price, name, note, raw, f, ok,"
                       " i_id * 2::bigint AS dbl FROM item ORDER BY i_id",
                       id));
  d = wait_status(&loop, wh, id, NULL);
  SW_ASSERT_NOT_NULL(d);
  SW_ASSERT_STR_EQ(sw_json_get_str(d, "Status"), "FINISHED");
  SW_ASSERT(cJSON_IsTrue(sw_json_get(d, "HasResultSet")));
  SW_ASSERT_EQ(sw_json_get(d, "ResultRows")->valuedouble, 2);
  cJSON_Delete(d);
  r = result(&loop, wh, id, &b);
  SW_ASSERT_NOT_NULL(r);
  SW_ASSERT_JSON_EQ(sw_json_get(r, "Records"),
                    "[[{\"longValue\":1},{\"stringValue\":\"2.50\"},"
                    "{\"stringValue\":\"hat;'s\"},{\"isNull\":true},"
                    "{\"blobValue\":\"AQL/\"},{\"doubleValue\":0.5},"
                    "{\"booleanValue\":true},{\"longValue\":2}],"
                    "[{\"longValue\":2},{\"stringValue\":\"10.00\"},"
                    "{\"stringValue\":\"scarf;\"},{\"stringValue\":\"x\"},"
                    "{\"isNull\":true},{\"isNull\":true},"
                    "{\"booleanValue\":false},{\"longValue\":4}]]");
  SW_ASSERT_STR_EQ(
      sw_json_get_str(cJSON_GetArrayItem(sw_json_get(r, "ColumnMetadata"), 1),
                      "typeName"),
      "numeric");
  cJSON_Delete(r);
  close_wh(&loop, wh);
  SW_ASSERT_OK(loop_done(&loop));
  sw_free(dsn);
}

SW_TEST(pg_wh__named_params_per_occurrence_types)
{
  uv_loop_t loop;
  char *dsn = fresh_db();
  char id[64];
  sw_warehouse *wh;
  waitbox b;
  cJSON *d, *r;
  const char *sql =
      "CREATE TABLE d (d DATE, note TEXT);\n"
      "INSERT INTO d VALUES (:run_date, 'day ' || :run_date || '::x');\n"
      "SELECT note, d = :run_date AS same, CAST(:scale AS INTEGER) + 1 AS s,"
      " now()::date IS NOT NULL AS t FROM d";
  sw_wh_param params[] = {{"run_date", "2021-06-26"}, {"scale", "2"}};

  if (!dsn)
    return;
  uv_loop_init(&loop);
  wh = open_wh(&loop, dsn);
  SW_ASSERT_NOT_NULL(wh);
  SW_ASSERT_OK(submit(&loop, wh, &sql, 1, false, params, 2, NULL, id));
  d = wait_status(&loop, wh, id, NULL);
  SW_ASSERT_NOT_NULL(d);
  if (strcmp(sw_json_get_str(d, "Status"), "FINISHED"))
    fprintf(stderr, "  error: %s\n", sw_json_get_str(d, "Error"));
  SW_ASSERT_STR_EQ(sw_json_get_str(d, "Status"), "FINISHED");
  cJSON_Delete(d);
  r = result(&loop, wh, id, &b);
  SW_ASSERT_NOT_NULL(r);
  SW_ASSERT_JSON_EQ(sw_json_get(r, "Records"),
                    "[[{\"stringValue\":\"day 2021-06-26::x\"},"
                    "{\"booleanValue\":true},{\"longValue\":3},"
                    "{\"booleanValue\":true}]]");
  cJSON_Delete(r);
  /* A missing parameter fails the statement. */
  SW_ASSERT_OK(submit1(&loop, wh, "SELECT :nope", id));
  d = wait_status(&loop, wh, id, NULL);
  SW_ASSERT_STR_EQ(sw_json_get_str(d, "Status"), "FAILED");
  SW_ASSERT_STR_CONTAINS(sw_json_get_str(d, "Error"), ":nope");
  cJSON_Delete(d);
  close_wh(&loop, wh);
  SW_ASSERT_OK(loop_done(&loop));
  sw_free(dsn);
}

SW_TEST(pg_wh__batch_substatements_and_failed_rollback)
{
  uv_loop_t loop;
  char *dsn = fresh_db();
  char id[64], sub[80];
  sw_warehouse *wh;
  waitbox b;
  cJSON *d, *r, *subs;
  const char *ok[] = {"CREATE TABLE t (a INT)",
                      "INSERT INTO t VALUES (1), (2), (3)",
                      "SELECT count(*) AS n FROM t"};
  const char *bad[] = {"INSERT INTO t VALUES (4)",
                       "INSERT INTO missing_table VALUES (1)",
                       "INSERT INTO t VALUES (5)"};

  if (!dsn)
    return;
  uv_loop_init(&loop);
  wh = open_wh(&loop, dsn);
  SW_ASSERT_NOT_NULL(wh);
  SW_ASSERT_OK(submit(&loop, wh, ok, 3, true, NULL, 0, NULL, id));
  d = wait_status(&loop, wh, id, NULL);
  SW_ASSERT_NOT_NULL(d);
  SW_ASSERT_STR_EQ(sw_json_get_str(d, "Status"), "FINISHED");
  subs = sw_json_get(d, "SubStatements");
  SW_ASSERT_EQ(cJSON_GetArraySize(subs), 3);
  SW_ASSERT_EQ(
      sw_json_get(cJSON_GetArrayItem(subs, 1), "ResultRows")->valuedouble, 3);
  cJSON_Delete(d);
  snprintf(sub, sizeof(sub), "%s:3", id);
  r = result(&loop, wh, sub, &b);
  SW_ASSERT_NOT_NULL(r);
  SW_ASSERT_JSON_EQ(sw_json_get(r, "Records"), "[[{\"longValue\":3}]]");
  cJSON_Delete(r);

  SW_ASSERT_OK(submit(&loop, wh, bad, 3, true, NULL, 0, NULL, id));
  d = wait_status(&loop, wh, id, NULL);
  SW_ASSERT_NOT_NULL(d);
  SW_ASSERT_STR_EQ(sw_json_get_str(d, "Status"), "FAILED");
  SW_ASSERT_STR_EQ(sw_json_get_str(d, "Error"),
                   "relation \"missing_table\" does not exist");
  subs = sw_json_get(d, "SubStatements");
  SW_ASSERT_STR_EQ(sw_json_get_str(cJSON_GetArrayItem(subs, 1), "Status"),
                   "FAILED");
  SW_ASSERT_STR_EQ(sw_json_get_str(cJSON_GetArrayItem(subs, 2), "Status"),
                   "ABORTED");
  cJSON_Delete(d);
  ASSERT_SCALAR(dsn, "SELECT count(*) FROM t", "3"); /* 4 rolled back */
  close_wh(&loop, wh);
  SW_ASSERT_OK(loop_done(&loop));
  sw_free(dsn);
}

SW_TEST(pg_wh__client_token_dedupe)
{
  uv_loop_t loop;
  char *dsn = fresh_db();
  char id1[64], id2[64];
  sw_warehouse *wh;
  cJSON *d;
  const char *sql = "CREATE TABLE IF NOT EXISTS c (a INT);"
                    " INSERT INTO c VALUES (1)";

  if (!dsn)
    return;
  uv_loop_init(&loop);
  wh = open_wh(&loop, dsn);
  SW_ASSERT_NOT_NULL(wh);
  SW_ASSERT_OK(submit(&loop, wh, &sql, 1, false, NULL, 0, "tok-1", id1));
  d = wait_status(&loop, wh, id1, NULL);
  cJSON_Delete(d);
  SW_ASSERT_OK(submit(&loop, wh, &sql, 1, false, NULL, 0, "tok-1", id2));
  SW_ASSERT_STR_EQ(id1, id2);
  close_wh(&loop, wh);
  /* Also across a reopen (a resumed process). */
  wh = open_wh(&loop, dsn);
  SW_ASSERT_NOT_NULL(wh);
  SW_ASSERT_OK(submit(&loop, wh, &sql, 1, false, NULL, 0, "tok-1", id2));
  SW_ASSERT_STR_EQ(id1, id2);
  close_wh(&loop, wh);
  ASSERT_SCALAR(dsn, "SELECT count(*) FROM c", "1");
  SW_ASSERT_OK(loop_done(&loop));
  sw_free(dsn);
}

SW_TEST(pg_wh__cancel_aborts)
{
  uv_loop_t loop;
  char *dsn = fresh_db();
  char id[64];
  sw_warehouse *wh;
  waitbox b = {0};
  sw_err err = SW_ERR_INIT;
  cJSON *d;

  if (!dsn)
    return;
  uv_loop_init(&loop);
  wh = open_wh(&loop, dsn);
  SW_ASSERT_NOT_NULL(wh);
  SW_ASSERT_OK(submit1(&loop, wh,
                       "CREATE TABLE s (a INT); INSERT INTO s VALUES (1);"
                       " SELECT pg_sleep(30)",
                       id));
  d = wait_status(&loop, wh, id, "STARTED");
  SW_ASSERT_NOT_NULL(d);
  cJSON_Delete(d);
  uv_sleep(200); /* into pg_sleep */
  SW_ASSERT_OK(sw_warehouse_cancel(wh, id, on_json, &b, &err));
  run_until(&loop, &b);
  SW_ASSERT_EQ(b.code, 0);
  SW_ASSERT(cJSON_IsTrue(sw_json_get(b.resp, "Status")));
  cJSON_Delete(b.resp);
  d = wait_status(&loop, wh, id, NULL);
  SW_ASSERT_STR_EQ(sw_json_get_str(d, "Status"), "ABORTED");
  cJSON_Delete(d);
  ASSERT_SCALAR(dsn, "SELECT to_regclass('s') IS NULL", "t");
  /* Cancelling a finished statement is refused. */
  memset(&b, 0, sizeof(b));
  SW_ASSERT_OK(sw_warehouse_cancel(wh, id, on_json, &b, &err));
  run_until(&loop, &b);
  SW_ASSERT_EQ(b.code, SW_EINVAL);
  SW_ASSERT_STR_CONTAINS(b.msg, "ABORTED");
  close_wh(&loop, wh);
  SW_ASSERT_OK(loop_done(&loop));
  sw_free(dsn);
}

SW_TEST(pg_wh__recovery_runs_uncommitted_only)
{
  uv_loop_t loop;
  char *dsn = fresh_db();
  sw_warehouse *wh;
  char *v;
  cJSON *d;
  PGconn *c;
  int i;

  if (!dsn)
    return;
  uv_loop_init(&loop);
  wh = open_wh(&loop, dsn); /* creates the registry */
  SW_ASSERT_NOT_NULL(wh);
  close_wh(&loop, wh);
  /* A process died after recording two statements: one whose batch never
   * committed (STARTED) and one that committed (FINISHED). */
  c = PQconnectdb(dsn);
  PQclear(PQexec(c,
      "CREATE TABLE r (a INT);"
      "INSERT INTO stepwise_statements (id, sqls, status, created_at,"
      " updated_at) VALUES"
      " ('11111111-1111-4111-8111-111111111111',"
      "  '[\"INSERT INTO r VALUES (1)\"]', 'STARTED', 1, 1),"
      " ('22222222-2222-4222-8222-222222222222',"
      "  '[\"INSERT INTO r VALUES (2)\"]', 'FINISHED', 2, 2)"));
  PQfinish(c);
  wh = open_wh(&loop, dsn);
  SW_ASSERT_NOT_NULL(wh);
  d = wait_status(&loop, wh, "11111111-1111-4111-8111-111111111111", NULL);
  SW_ASSERT_NOT_NULL(d);
  SW_ASSERT_STR_EQ(sw_json_get_str(d, "Status"), "FINISHED");
  cJSON_Delete(d);
  close_wh(&loop, wh);
  for (i = 0; i < 1; i++) {
    v = scalar(dsn, "SELECT string_agg(a::text, ',' ORDER BY a) FROM r");
    SW_ASSERT_STR_EQ(v, "1");
    sw_free(v);
  }
  SW_ASSERT_OK(loop_done(&loop));
  sw_free(dsn);
}

SW_TEST(pg_wh__connection_loss_reruns_batch)
{
  uv_loop_t loop;
  char *dsn = fresh_db();
  char id[64];
  sw_warehouse *wh;
  cJSON *d;
  char *killed;
  int i;

  if (!dsn)
    return;
  uv_loop_init(&loop);
  wh = open_wh(&loop, dsn);
  SW_ASSERT_NOT_NULL(wh);
  SW_ASSERT_OK(submit1(&loop, wh,
                       "CREATE TABLE IF NOT EXISTS k (a INT);"
                       " INSERT INTO k VALUES (1); SELECT pg_sleep(0.6)",
                       id));
  d = wait_status(&loop, wh, id, "STARTED");
  cJSON_Delete(d);
  /* Terminate the backend running the batch (57P01): the driver must
   * run the whole batch again on a new connection, exactly once. */
  killed = NULL;
  for (i = 0; i < 100; i++) {
    uv_run(&loop, UV_RUN_NOWAIT);
    killed = scalar(dsn, "SELECT count(pg_terminate_backend(pid)) FROM"
                         " pg_stat_activity WHERE query LIKE"
                         " 'SELECT pg_sleep(0.6)%'");
    if (!strcmp(killed, "1"))
      break;
    sw_free(killed);
    killed = NULL;
    uv_sleep(20);
  }
  SW_ASSERT_NOT_NULL(killed);
  sw_free(killed);
  d = wait_status(&loop, wh, id, NULL);
  SW_ASSERT_NOT_NULL(d);
  SW_ASSERT_STR_EQ(sw_json_get_str(d, "Status"), "FINISHED");
  cJSON_Delete(d);
  ASSERT_SCALAR(dsn, "SELECT count(*) FROM k", "1");
  close_wh(&loop, wh);
  SW_ASSERT_OK(loop_done(&loop));
  sw_free(dsn);
}

/* A CSV producer: `rows` store_sales-shaped lines, generated. */
typedef struct gen {
  long long next, rows;
  bool header;
  bool bad_at_end; /* a short row last */
  size_t calls;
} gen;

static int gen_read(void *payload, char *buf, size_t cap, size_t *n_out,
                    sw_err *err)
{
  gen *g = payload;
  size_t n = 0;
  int k;

  (void)err;
  g->calls++;
  if (g->header) {
    n += (size_t)snprintf(buf, cap, "a,b,c,d\n");
    g->header = false;
  }
  while (g->next < g->rows && cap - n > 128) {
    k = snprintf(buf + n, cap - n, "%lld,\"item, %lld\",%lld.%02lld,%s\n",
                 g->next, g->next % 1000, g->next % 500, g->next % 100,
                 g->next % 7 ? "x" : "");
    n += (size_t)k;
    g->next++;
  }
  if (g->next == g->rows && g->bad_at_end && cap - n > 16) {
    n += (size_t)snprintf(buf + n, cap - n, "1,2\n");
    g->bad_at_end = false;
  }
  *n_out = n;
  return 0;
}

SW_TEST(pg_wh__bulk_load_copy_backpressure)
{
  uv_loop_t loop;
  char *dsn = fresh_db();
  char id[64];
  sw_warehouse *wh;
  const char *cols[] = {"a", "b", "c", "d"};
  gen g = {0, 200000, true, false, 0};
  sw_wh_bulk_load req = {"load t", cols, 4, true, gen_read, &g};
  waitbox b = {0};
  sw_err err = SW_ERR_INIT;
  cJSON *d;

  if (!dsn)
    return;
  uv_loop_init(&loop);
  wh = open_wh(&loop, dsn);
  SW_ASSERT_NOT_NULL(wh);
  SW_ASSERT_OK(submit1(&loop, wh,
                       "CREATE TABLE \"load t\" (a BIGINT PRIMARY KEY,"
                       " b TEXT, c NUMERIC(7,2), d TEXT)",
                       id));
  d = wait_status(&loop, wh, id, NULL);
  cJSON_Delete(d);
  SW_ASSERT_OK(sw_warehouse_bulk_load(wh, &req, on_load, &b, &err));
  run_until(&loop, &b);
  if (b.code)
    fprintf(stderr, "  load: %s\n", b.msg);
  SW_ASSERT_EQ(b.code, 0);
  SW_ASSERT_EQ(b.rows, 200000);
  SW_ASSERT(g.calls > 20); /* streamed in chunks, not slurped */
  ASSERT_SCALAR(dsn, "SELECT count(*) FROM \"load t\" WHERE d IS NULL",
                "28572");
  ASSERT_SCALAR(dsn, "SELECT b FROM \"load t\" WHERE a = 1001", "item, 1");

  /* A malformed last row fails the whole load: nothing is kept. */
  memset(&b, 0, sizeof(b));
  g.next = 200000;
  g.rows = 250000;
  g.bad_at_end = true;
  req.header = false;
  SW_ASSERT_OK(sw_warehouse_bulk_load(wh, &req, on_load, &b, &err));
  run_until(&loop, &b);
  SW_ASSERT_EQ(b.code, SW_EREMOTE);
  SW_ASSERT_STR_CONTAINS(b.msg, "missing data");
  ASSERT_SCALAR(dsn, "SELECT count(*) FROM \"load t\"", "200000");
  close_wh(&loop, wh);
  SW_ASSERT_OK(loop_done(&loop));
  sw_free(dsn);
}
