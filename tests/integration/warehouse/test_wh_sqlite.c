/* SPDX-License-Identifier: MIT */
/* sqlite warehouse driver, as a Data API user sees it: submit, poll
 * describe, read results; failures roll back; ClientToken dedupes; cancel
 * aborts; a statement that never committed runs again after a crash, and
 * one that committed never does. */
#include "sw_test.h"

#include <sqlite3.h>
#include <stdlib.h>

#include "common/common.h"
#include "warehouse/warehouse.h"

typedef struct waitbox {
  bool done;
  int code;       /* 0 or the sw_err code */
  char msg[SW_ERR_MSG_MAX];
  char id[64];
  cJSON *resp;    /* owned */
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

static void run_until(uv_loop_t *loop, waitbox *b)
{
  while (!b->done)
    uv_run(loop, UV_RUN_ONCE);
}

/* Submit and wait for the Id; returns the sw_err code. */
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
    snprintf(b->msg, sizeof(b->msg), "%s", err.msg);
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

/* Poll DescribeStatement (as a workflow's Wait/Describe/Choice loop does)
 * until the status is `want`, or terminal when want is NULL. */
static cJSON *wait_status(uv_loop_t *loop, sw_warehouse *wh, const char *id,
                          const char *want)
{
  waitbox b;
  cJSON *d;
  const char *s;
  int i;

  for (i = 0; i < 5000; i++) {
    d = describe(loop, wh, id, &b);
    if (!d)
      return NULL;
    s = sw_json_get_str(d, "Status");
    if (want ? !strcmp(s, want) : terminal(s))
      return d;
    cJSON_Delete(d);
    uv_sleep(2);
  }
  return NULL;
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

static char *db_path(void)
{
  return sw_asprintf("%s/wh.db", sw_test_tmpdir());
}

static sw_warehouse *open_wh(uv_loop_t *loop, const char *path)
{
  char *url = sw_asprintf("sqlite:%s", path);
  sw_warehouse *wh = NULL;
  sw_err err = SW_ERR_INIT;

  if (sw_warehouse_open(&wh, loop, url, NULL, &err) < 0)
    fprintf(stderr, "  open: %s\n", err.msg);
  sw_free(url);
  return wh;
}

/* One integer from the database, read behind the driver's back. */
static long long scalar(const char *path, const char *sql)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  long long v = -999;

  if (sqlite3_open(path, &db) == SQLITE_OK &&
      sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW)
    v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

static int exec_raw(const char *path, const char *sql)
{
  sqlite3 *db = NULL;
  int rc;

  rc = sqlite3_open(path, &db);
  if (rc == SQLITE_OK)
    rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
  sqlite3_close(db);
  return rc;
}

SW_TEST(warehouse_sqlite__submit_describe_result_roundtrip)
{
  uv_loop_t loop;
  char *path = db_path();
  char id[64];
  sw_warehouse *wh;
  waitbox b;
  cJSON *d, *r;

  uv_loop_init(&loop);
  wh = open_wh(&loop, path);
  SW_ASSERT_NOT_NULL(wh);
  SW_ASSERT_STR_EQ(sw_warehouse_driver(wh), "sqlite");
  SW_ASSERT_OK(submit1(&loop, wh,
                       "CREATE TABLE item (i_id INTEGER, price REAL, "
                       "name TEXT, note TEXT, raw BLOB);\n"
                       "INSERT INTO item VALUES (1, 2.5, 'hat', NULL, "
                       "x'0102ff');\n"
                       "INSERT INTO item VALUES (2, 10, 'scarf', 'x', NULL);",
                       id));
  d = wait_status(&loop, wh, id, NULL);
  SW_ASSERT_NOT_NULL(d);
  SW_ASSERT_STR_EQ(sw_json_get_str(d, "Status"), "FINISHED");
  SW_ASSERT_STR_EQ(sw_json_get_str(d, "Id"), id);
  SW_ASSERT_STR_EQ(sw_json_get_str(d, "Database"), "dev");
  SW_ASSERT(cJSON_IsFalse(sw_json_get(d, "HasResultSet")));
  SW_ASSERT_EQ(sw_json_get(d, "ResultRows")->valuedouble, 2);
  SW_ASSERT_NULL(sw_json_get(d, "Error"));
  SW_ASSERT_NULL(sw_json_get(d, "SubStatements"));
  SW_ASSERT_STR_CONTAINS(sw_json_get_str(d, "CreatedAt"), "Z");
  cJSON_Delete(d);

  SW_ASSERT_OK(submit1(&loop, wh,
                       "SELECT i_id, price, name, note, raw, i_id * 2 AS dbl "
                       "FROM item ORDER BY i_id",
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
                    "[[{\"longValue\":1},{\"doubleValue\":2.5},"
                    "{\"stringValue\":\"hat\"},{\"isNull\":true},"
                    "{\"blobValue\":\"AQL/\"},{\"longValue\":2}],"
                    "[{\"longValue\":2},{\"doubleValue\":10},"
                    "{\"stringValue\":\"scarf\"},{\"stringValue\":\"x\"},"
                    "{\"isNull\":true},{\"longValue\":4}]]");
  SW_ASSERT_EQ(sw_json_get(r, "TotalNumRows")->valuedouble, 2);
  SW_ASSERT_NULL(sw_json_get(r, "NextToken"));
  SW_ASSERT_STR_EQ(
      sw_json_get_str(cJSON_GetArrayItem(sw_json_get(r, "ColumnMetadata"), 2),
                      "name"),
      "name");
  SW_ASSERT_STR_EQ(
      sw_json_get_str(cJSON_GetArrayItem(sw_json_get(r, "ColumnMetadata"), 0),
                      "typeName"),
      "integer");
  SW_ASSERT_STR_EQ(
      sw_json_get_str(cJSON_GetArrayItem(sw_json_get(r, "ColumnMetadata"), 5),
                      "typeName"),
      "int8");
  cJSON_Delete(r);

  close_wh(&loop, wh);
  SW_ASSERT_EQ(uv_loop_close(&loop), 0);
  sw_free(path);
}

SW_TEST(warehouse_sqlite__batch_has_sub_statements)
{
  uv_loop_t loop;
  char *path = db_path();
  char id[64], sub[80];
  const char *sqls[] = {"CREATE TABLE t (x INTEGER)",
                        "INSERT INTO t VALUES (1), (2), (3)",
                        "SELECT sum(x) AS total FROM t"};
  sw_warehouse *wh;
  waitbox b;
  cJSON *d, *subs, *r;

  uv_loop_init(&loop);
  wh = open_wh(&loop, path);
  SW_ASSERT_NOT_NULL(wh);
  SW_ASSERT_OK(submit(&loop, wh, sqls, 3, true, NULL, 0, NULL, id));
  d = wait_status(&loop, wh, id, NULL);
  SW_ASSERT_NOT_NULL(d);
  SW_ASSERT_STR_EQ(sw_json_get_str(d, "Status"), "FINISHED");
  SW_ASSERT(cJSON_IsTrue(sw_json_get(d, "HasResultSet")));
  subs = sw_json_get(d, "SubStatements");
  SW_ASSERT_EQ(cJSON_GetArraySize(subs), 3);
  snprintf(sub, sizeof(sub), "%s:2", id);
  SW_ASSERT_STR_EQ(sw_json_get_str(cJSON_GetArrayItem(subs, 1), "Id"), sub);
  SW_ASSERT_STR_EQ(sw_json_get_str(cJSON_GetArrayItem(subs, 1), "Status"),
                   "FINISHED");
  SW_ASSERT_EQ(sw_json_get(cJSON_GetArrayItem(subs, 1), "ResultRows")
                   ->valuedouble, 3);
  SW_ASSERT_STR_EQ(
      sw_json_get_str(cJSON_GetArrayItem(subs, 2), "QueryString"), sqls[2]);
  SW_ASSERT_NULL(sw_json_get(cJSON_GetArrayItem(subs, 2), "_result"));
  cJSON_Delete(d);

  /* A sub-statement Id works with DescribeStatement and GetStatementResult */
  d = describe(&loop, wh, sub, &b);
  SW_ASSERT_NOT_NULL(d);
  SW_ASSERT_STR_EQ(sw_json_get_str(d, "Id"), sub);
  SW_ASSERT_STR_EQ(sw_json_get_str(d, "QueryString"), sqls[1]);
  cJSON_Delete(d);
  snprintf(sub, sizeof(sub), "%s:3", id);
  r = result(&loop, wh, sub, &b);
  SW_ASSERT_NOT_NULL(r);
  SW_ASSERT_JSON_EQ(sw_json_get(r, "Records"), "[[{\"longValue\":6}]]");
  cJSON_Delete(r);
  snprintf(sub, sizeof(sub), "%s:1", id);
  SW_ASSERT_NULL(result(&loop, wh, sub, &b));
  SW_ASSERT_EQ(b.code, SW_EINVAL);
  SW_ASSERT_STR_CONTAINS(b.msg, "does not have result");
  snprintf(sub, sizeof(sub), "%s:4", id);
  SW_ASSERT_NULL(describe(&loop, wh, sub, &b));
  SW_ASSERT_EQ(b.code, SW_ENOTFOUND);

  close_wh(&loop, wh);
  SW_ASSERT_EQ(uv_loop_close(&loop), 0);
  sw_free(path);
}

SW_TEST(warehouse_sqlite__failed_batch_rolls_back)
{
  uv_loop_t loop;
  char *path = db_path();
  char id[64];
  const char *sqls[] = {"INSERT INTO t VALUES (2)", "SELEC 1",
                        "INSERT INTO t VALUES (3)"};
  sw_warehouse *wh;
  cJSON *d, *subs;

  uv_loop_init(&loop);
  wh = open_wh(&loop, path);
  SW_ASSERT_NOT_NULL(wh);
  SW_ASSERT_OK(submit1(&loop, wh,
                       "CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1)",
                       id));
  d = wait_status(&loop, wh, id, NULL);
  SW_ASSERT_NOT_NULL(d);
  cJSON_Delete(d);

  SW_ASSERT_OK(submit(&loop, wh, sqls, 3, true, NULL, 0, NULL, id));
  d = wait_status(&loop, wh, id, NULL);
  SW_ASSERT_NOT_NULL(d);
  SW_ASSERT_STR_EQ(sw_json_get_str(d, "Status"), "FAILED");
  SW_ASSERT_STR_EQ(sw_json_get_str(d, "Error"), "near \"SELEC\": syntax error");
  subs = sw_json_get(d, "SubStatements");
  SW_ASSERT_STR_EQ(sw_json_get_str(cJSON_GetArrayItem(subs, 1), "Status"),
                   "FAILED");
  SW_ASSERT_STR_CONTAINS(
      sw_json_get_str(cJSON_GetArrayItem(subs, 1), "Error"), "SELEC");
  SW_ASSERT_STR_EQ(sw_json_get_str(cJSON_GetArrayItem(subs, 2), "Status"),
                   "ABORTED");
  cJSON_Delete(d);
  /* The first INSERT ran, but the batch is one transaction. */
  SW_ASSERT_EQ(scalar(path, "SELECT count(*) FROM t"), 1);

  /* A runtime error (not a parse error) also fails and rolls back. */
  SW_ASSERT_OK(submit1(&loop, wh,
                       "INSERT INTO t VALUES (5); INSERT INTO nope VALUES (1)",
                       id));
  d = wait_status(&loop, wh, id, NULL);
  SW_ASSERT_NOT_NULL(d);
  SW_ASSERT_STR_EQ(sw_json_get_str(d, "Status"), "FAILED");
  SW_ASSERT_STR_EQ(sw_json_get_str(d, "Error"), "no such table: nope");
  cJSON_Delete(d);
  SW_ASSERT_EQ(scalar(path, "SELECT count(*) FROM t"), 1);

  close_wh(&loop, wh);
  SW_ASSERT_EQ(uv_loop_close(&loop), 0);
  sw_free(path);
}

SW_TEST(warehouse_sqlite__client_token_runs_once)
{
  uv_loop_t loop;
  char *path = db_path();
  char id1[64], id2[64], id3[64];
  const char *setup = "CREATE TABLE t (x INTEGER)";
  const char *ins = "INSERT INTO t VALUES (42)";
  sw_wh_submit req = {&ins, 1, false, NULL, 0, "tok-A", NULL, NULL};
  waitbox b1 = {0}, b2 = {0};
  sw_err err = SW_ERR_INIT;
  sw_warehouse *wh;
  cJSON *d;

  uv_loop_init(&loop);
  wh = open_wh(&loop, path);
  SW_ASSERT_NOT_NULL(wh);
  SW_ASSERT_OK(submit(&loop, wh, &setup, 1, false, NULL, 0, NULL, id1));
  d = wait_status(&loop, wh, id1, NULL);
  cJSON_Delete(d);

  /* Two submits of one token in flight at once, then a third later. */
  SW_ASSERT_OK(sw_warehouse_submit(wh, &req, on_submit, &b1, &err));
  SW_ASSERT_OK(sw_warehouse_submit(wh, &req, on_submit, &b2, &err));
  run_until(&loop, &b1);
  run_until(&loop, &b2);
  SW_ASSERT_EQ(b1.code, 0);
  SW_ASSERT_EQ(b2.code, 0);
  SW_ASSERT_STR_EQ(b1.id, b2.id);
  d = wait_status(&loop, wh, b1.id, NULL);
  SW_ASSERT_NOT_NULL(d);
  SW_ASSERT_STR_EQ(sw_json_get_str(d, "Status"), "FINISHED");
  cJSON_Delete(d);
  SW_ASSERT_OK(submit(&loop, wh, &ins, 1, false, NULL, 0, "tok-A", id3));
  SW_ASSERT_STR_EQ(id3, b1.id);
  /* A different token is a different statement. */
  SW_ASSERT_OK(submit(&loop, wh, &ins, 1, false, NULL, 0, "tok-B", id2));
  SW_ASSERT(strcmp(id2, b1.id) != 0);
  d = wait_status(&loop, wh, id2, NULL);
  cJSON_Delete(d);
  close_wh(&loop, wh);

  SW_ASSERT_EQ(scalar(path, "SELECT count(*) FROM t"), 2);
  /* And after a restart the token still finds the first statement. */
  wh = open_wh(&loop, path);
  SW_ASSERT_NOT_NULL(wh);
  SW_ASSERT_OK(submit(&loop, wh, &ins, 1, false, NULL, 0, "tok-A", id3));
  SW_ASSERT_STR_EQ(id3, b1.id);
  close_wh(&loop, wh);
  SW_ASSERT_EQ(scalar(path, "SELECT count(*) FROM t"), 2);
  SW_ASSERT_EQ(uv_loop_close(&loop), 0);
  sw_free(path);
}

static const char long_sql[] =
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
    "WHERE x < 2000000000) SELECT count(*) FROM c";

SW_TEST(warehouse_sqlite__cancel_aborts_running_statement)
{
  uv_loop_t loop;
  char *path = db_path();
  char id[64];
  const char *sqls[] = {"CREATE TABLE t (x INTEGER)",
                        "INSERT INTO t VALUES (1)", long_sql};
  sw_warehouse *wh;
  sw_err err = SW_ERR_INIT;
  waitbox b = {0};
  cJSON *d;

  uv_loop_init(&loop);
  wh = open_wh(&loop, path);
  SW_ASSERT_NOT_NULL(wh);
  SW_ASSERT_OK(submit(&loop, wh, sqls, 3, true, NULL, 0, NULL, id));
  d = wait_status(&loop, wh, id, "STARTED");
  SW_ASSERT_NOT_NULL(d);
  cJSON_Delete(d);
  uv_sleep(50);
  SW_ASSERT_OK(sw_warehouse_cancel(wh, id, on_json, &b, &err));
  run_until(&loop, &b);
  SW_ASSERT_EQ(b.code, 0);
  SW_ASSERT_JSON_EQ(b.resp, "{\"Status\": true}");
  cJSON_Delete(b.resp);

  d = describe(&loop, wh, id, &b);
  SW_ASSERT_NOT_NULL(d);
  SW_ASSERT_STR_EQ(sw_json_get_str(d, "Status"), "ABORTED");
  cJSON_Delete(d);
  /* Its earlier statements were rolled back with it. */
  SW_ASSERT_EQ(scalar(path, "SELECT count(*) FROM sqlite_master "
                            "WHERE name = 't'"), 0);

  /* Cancelling what is no longer running is a ValidationException. */
  memset(&b, 0, sizeof(b));
  SW_ASSERT_OK(sw_warehouse_cancel(wh, id, on_json, &b, &err));
  run_until(&loop, &b);
  SW_ASSERT_EQ(b.code, SW_EINVAL);
  SW_ASSERT_STR_CONTAINS(b.msg, "already in ABORTED state");

  close_wh(&loop, wh);
  SW_ASSERT_EQ(uv_loop_close(&loop), 0);
  sw_free(path);
}

SW_TEST(warehouse_sqlite__close_interrupts_and_next_open_reruns)
{
  uv_loop_t loop;
  char *path = db_path();
  char id[64];
  sw_warehouse *wh;
  cJSON *d;

  uv_loop_init(&loop);
  wh = open_wh(&loop, path);
  SW_ASSERT_NOT_NULL(wh);
  SW_ASSERT_OK(submit1(&loop, wh, long_sql, id));
  d = wait_status(&loop, wh, id, "STARTED");
  SW_ASSERT_NOT_NULL(d);
  cJSON_Delete(d);
  close_wh(&loop, wh);
  /* Not ABORTED: a graceful stop leaves it to run again, as a crash. */
  SW_ASSERT_EQ(scalar(path, "SELECT status = 'STARTED' FROM "
                            "stepwise_statements"), 1);
  SW_ASSERT_EQ(uv_loop_close(&loop), 0);
  sw_free(path);
}

/* A killed process leaves a row STARTED whose transaction SQLite rolled
 * back; reopening runs it once. A row FINISHED is never run again. */
SW_TEST(warehouse_sqlite__recovery_reruns_uncommitted_once)
{
  uv_loop_t loop;
  char *path = db_path();
  char id[64];
  const char *lost = "aaaaaaaa-1111-4111-8111-000000000001";
  const char *done = "aaaaaaaa-1111-4111-8111-000000000002";
  const char *again = "INSERT INTO t VALUES (7)";
  sw_warehouse *wh;
  cJSON *d;

  uv_loop_init(&loop);
  wh = open_wh(&loop, path);
  SW_ASSERT_NOT_NULL(wh);
  SW_ASSERT_OK(submit1(&loop, wh, "CREATE TABLE t (x INTEGER)", id));
  d = wait_status(&loop, wh, id, NULL);
  cJSON_Delete(d);
  close_wh(&loop, wh);

  SW_ASSERT_EQ(
      exec_raw(path,
               "INSERT INTO stepwise_statements (id, client_token, sqls,"
               " status, created_at, updated_at) VALUES"
               " ('aaaaaaaa-1111-4111-8111-000000000002', 'tok-done',"
               "  '[\"INSERT INTO t VALUES (99)\"]', 'FINISHED', 1, 1),"
               " ('aaaaaaaa-1111-4111-8111-000000000001', 'tok-lost',"
               "  '[\"INSERT INTO t VALUES (:v)\"]', 'STARTED', 2, 2);"
               "UPDATE stepwise_statements SET params ="
               " '[{\"name\":\"v\",\"value\":\"7\"}]'"
               " WHERE id = 'aaaaaaaa-1111-4111-8111-000000000001'"),
      SQLITE_OK);

  wh = open_wh(&loop, path);
  SW_ASSERT_NOT_NULL(wh);
  d = wait_status(&loop, wh, lost, NULL);
  SW_ASSERT_NOT_NULL(d);
  SW_ASSERT_STR_EQ(sw_json_get_str(d, "Status"), "FINISHED");
  cJSON_Delete(d);
  d = wait_status(&loop, wh, done, NULL);
  SW_ASSERT_STR_EQ(sw_json_get_str(d, "Status"), "FINISHED");
  cJSON_Delete(d);
  /* Resubmitting with the lost statement's token runs nothing. */
  SW_ASSERT_OK(submit(&loop, wh, &again, 1, false, NULL, 0, "tok-lost", id));
  SW_ASSERT_STR_EQ(id, lost);
  close_wh(&loop, wh);
  SW_ASSERT_EQ(scalar(path, "SELECT count(*) FROM t WHERE x = 7"), 1);
  SW_ASSERT_EQ(scalar(path, "SELECT count(*) FROM t WHERE x = 99"), 0);

  /* Opening again runs nothing: the re-run committed its ledger row. */
  wh = open_wh(&loop, path);
  SW_ASSERT_NOT_NULL(wh);
  d = wait_status(&loop, wh, lost, NULL);
  SW_ASSERT_STR_EQ(sw_json_get_str(d, "Status"), "FINISHED");
  cJSON_Delete(d);
  close_wh(&loop, wh);
  SW_ASSERT_EQ(scalar(path, "SELECT count(*) FROM t"), 1);
  SW_ASSERT_EQ(uv_loop_close(&loop), 0);
  sw_free(path);
}

SW_TEST(warehouse_sqlite__named_parameters_are_bound)
{
  uv_loop_t loop;
  char *path = db_path();
  char id[64];
  const char *ins = "CREATE TABLE sales (d TEXT, qty INTEGER);"
                    "INSERT INTO sales VALUES ('2021-06-25', 1),"
                    " ('2021-06-26', 2), ('2021-06-26', 3);"
                    "SELECT sum(qty) * :scale AS q FROM sales"
                    " WHERE d = :run_date";
  const char *missing = "SELECT :nope";
  sw_wh_param params[] = {{"run_date", "2021-06-26"}, {"scale", "10"}};
  sw_warehouse *wh;
  waitbox b;
  cJSON *d, *r;

  uv_loop_init(&loop);
  wh = open_wh(&loop, path);
  SW_ASSERT_NOT_NULL(wh);
  SW_ASSERT_OK(submit(&loop, wh, &ins, 1, false, params, 2, NULL, id));
  d = wait_status(&loop, wh, id, NULL);
  SW_ASSERT_NOT_NULL(d);
  SW_ASSERT_STR_EQ(sw_json_get_str(d, "Status"), "FINISHED");
  SW_ASSERT_JSON_EQ(sw_json_get(d, "QueryParameters"),
                    "[{\"name\":\"run_date\",\"value\":\"2021-06-26\"},"
                    "{\"name\":\"scale\",\"value\":\"10\"}]");
  cJSON_Delete(d);
  r = result(&loop, wh, id, &b);
  SW_ASSERT_NOT_NULL(r);
  SW_ASSERT_JSON_EQ(sw_json_get(r, "Records"), "[[{\"longValue\":50}]]");
  cJSON_Delete(r);

  /* A value that is not given fails the statement rather than bind NULL. */
  SW_ASSERT_OK(submit(&loop, wh, &missing, 1, false, params, 2, NULL, id));
  d = wait_status(&loop, wh, id, NULL);
  SW_ASSERT_NOT_NULL(d);
  SW_ASSERT_STR_EQ(sw_json_get_str(d, "Status"), "FAILED");
  SW_ASSERT_STR_EQ(sw_json_get_str(d, "Error"),
                   "no value given for parameter \":nope\"");
  cJSON_Delete(d);

  close_wh(&loop, wh);
  SW_ASSERT_EQ(uv_loop_close(&loop), 0);
  sw_free(path);
}

SW_TEST(warehouse_sqlite__validation_and_not_found)
{
  uv_loop_t loop;
  char *path = db_path();
  const char *sqls[41];
  sw_wh_param bad[] = {{"run-date", "x"}};
  sw_warehouse *wh;
  sw_err err = SW_ERR_INIT;
  waitbox b;
  size_t i;

  for (i = 0; i < 41; i++)
    sqls[i] = "SELECT 1";
  uv_loop_init(&loop);
  wh = open_wh(&loop, path);
  SW_ASSERT_NOT_NULL(wh);
  SW_ASSERT_EQ(submit(&loop, wh, sqls, 41, true, NULL, 0, NULL, NULL),
               SW_EINVAL);
  SW_ASSERT_EQ(submit(&loop, wh, sqls, 1, false, bad, 1, NULL, NULL),
               SW_EINVAL);
  SW_ASSERT_ERR(sw_warehouse_describe(wh, "not-an-id", on_json, &b, &err),
                SW_EINVAL);
  SW_ASSERT_STR_CONTAINS(err.msg, "'Id'");
  SW_ASSERT_NULL(describe(&loop, wh, "00000000-0000-4000-8000-000000000000",
                          &b));
  SW_ASSERT_EQ(b.code, SW_ENOTFOUND);
  SW_ASSERT_STR_CONTAINS(b.msg, "does not exist");
  close_wh(&loop, wh);
  SW_ASSERT_EQ(uv_loop_close(&loop), 0);
  sw_free(path);
}

SW_TEST(warehouse_sqlite__url_schemes)
{
  uv_loop_t loop;
  sw_warehouse *wh = NULL;
  sw_err err = SW_ERR_INIT;
  char *url;

  uv_loop_init(&loop);
  SW_ASSERT_ERR(sw_warehouse_open(&wh, &loop, "mysql://h/db", NULL, &err),
                SW_EINVAL);
  SW_ASSERT_STR_EQ(err.msg, "unknown warehouse URL scheme 'mysql:' (expected "
                            "sqlite:PATH, postgresql://..., "
                            "redshift-data://...)");
  /* postgres: a malformed URL is bad config; a closed port is
   * transient. */
  SW_ASSERT_ERR(sw_warehouse_open(&wh, &loop, "postgresql://h/x?bogus=1",
                                  NULL, &err),
                SW_EINVAL);
  SW_ASSERT_STR_CONTAINS(err.msg, "bogus");
  SW_ASSERT_ERR(sw_warehouse_open(&wh, &loop, "postgresql://127.0.0.1:1/x",
                                  NULL, &err),
                SW_EAGAIN);
  SW_ASSERT_STR_CONTAINS(err.msg, "could not connect");
  /* redshift-data is checked at open (its own tests are in
   * tests/integration/redshift/): a URL parameter it does not know. */
  SW_ASSERT_ERR(sw_warehouse_open(&wh, &loop,
                                  "redshift-data://wg/dev?bogus=1", NULL,
                                  &err),
                SW_EINVAL);
  SW_ASSERT_STR_CONTAINS(err.msg, "unknown parameter 'bogus'");
  SW_ASSERT_ERR(sw_warehouse_open(&wh, &loop, "sqlite:/nonexistent/dir/x.db",
                                  NULL, &err),
                SW_EIO);
  SW_ASSERT_STR_CONTAINS(err.msg, "/nonexistent/dir/x.db");
  /* NULL URL: HOME/warehouse.db */
  SW_ASSERT_OK(sw_warehouse_open(&wh, &loop, NULL, sw_test_tmpdir(), &err));
  close_wh(&loop, wh);
  url = sw_asprintf("%s/warehouse.db", sw_test_tmpdir());
  SW_ASSERT(sw_file_exists(url));
  sw_free(url);
  SW_ASSERT_EQ(uv_loop_close(&loop), 0);
}

static cJSON *result_page(uv_loop_t *loop, sw_warehouse *wh, const char *id,
                          const char *token, waitbox *b)
{
  sw_err err = SW_ERR_INIT;

  memset(b, 0, sizeof(*b));
  if (sw_warehouse_result(wh, id, token, on_json, b, &err) < 0)
    return NULL;
  run_until(loop, b);
  return b->resp;
}

SW_TEST(warehouse_sqlite__result_pages_and_size_limit)
{
  uv_loop_t loop;
  char *path = db_path();
  char id[64], tok[32];
  sw_warehouse *wh;
  waitbox b;
  cJSON *d, *r;
  int pages = 0, rows = 0;

  uv_loop_init(&loop);
  wh = open_wh(&loop, path);
  SW_ASSERT_NOT_NULL(wh);
  SW_ASSERT_OK(submit1(&loop, wh,
                       "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT "
                       "x + 1 FROM c WHERE x < 2500) SELECT x FROM c",
                       id));
  d = wait_status(&loop, wh, id, NULL);
  SW_ASSERT_STR_EQ(sw_json_get_str(d, "Status"), "FINISHED");
  cJSON_Delete(d);
  tok[0] = '\0';
  do {
    r = result_page(&loop, wh, id, tok, &b);
    SW_ASSERT_NOT_NULL(r);
    SW_ASSERT_EQ(sw_json_get(r, "TotalNumRows")->valuedouble, 2500);
    rows += cJSON_GetArraySize(sw_json_get(r, "Records"));
    snprintf(tok, sizeof(tok), "%s",
             sw_json_get_str(r, "NextToken") ? sw_json_get_str(r, "NextToken")
                                             : "");
    cJSON_Delete(r);
    pages++;
  } while (tok[0]);
  SW_ASSERT_EQ(rows, 2500);
  SW_ASSERT_EQ(pages, 3);

  /* Past the bound the statement FAILS with a message that says why. */
  SW_ASSERT_OK(submit1(&loop, wh,
                       "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT "
                       "x + 1 FROM c WHERE x < 10001) SELECT x FROM c",
                       id));
  d = wait_status(&loop, wh, id, NULL);
  SW_ASSERT_STR_EQ(sw_json_get_str(d, "Status"), "FAILED");
  SW_ASSERT_STR_CONTAINS(sw_json_get_str(d, "Error"), "more than 10000 rows");
  cJSON_Delete(d);
  SW_ASSERT_NULL(result_page(&loop, wh, id, NULL, &b));
  SW_ASSERT_EQ(b.code, SW_EINVAL);

  close_wh(&loop, wh);
  SW_ASSERT_EQ(uv_loop_close(&loop), 0);
  sw_free(path);
}

/* Closing with a submit in flight: its callback still fires, once, with
 * SW_ECANCELED; the statement was recorded and runs on the next open. */
SW_TEST(warehouse_sqlite__close_cancels_pending_callbacks)
{
  uv_loop_t loop;
  char *path = db_path();
  const char *sql = "CREATE TABLE t (x INTEGER)";
  sw_wh_submit req = {&sql, 1, false, NULL, 0, "tok-close", NULL, NULL};
  sw_err err = SW_ERR_INIT;
  waitbox b = {0};
  sw_warehouse *wh;
  char id[64];
  cJSON *d;

  uv_loop_init(&loop);
  wh = open_wh(&loop, path);
  SW_ASSERT_NOT_NULL(wh);
  SW_ASSERT_OK(sw_warehouse_submit(wh, &req, on_submit, &b, &err));
  close_wh(&loop, wh);
  SW_ASSERT(b.done);
  SW_ASSERT_EQ(b.code, SW_ECANCELED);

  wh = open_wh(&loop, path);
  SW_ASSERT_NOT_NULL(wh);
  SW_ASSERT_OK(submit(&loop, wh, &sql, 1, false, NULL, 0, "tok-close", id));
  d = wait_status(&loop, wh, id, NULL);
  SW_ASSERT_NOT_NULL(d);
  SW_ASSERT_STR_EQ(sw_json_get_str(d, "Status"), "FINISHED");
  cJSON_Delete(d);
  close_wh(&loop, wh);
  SW_ASSERT_EQ(uv_loop_close(&loop), 0);
  sw_free(path);
}

/* ---- bulk load (libcsv, prepared INSERTs in one transaction) --------- */

typedef struct memreader {
  const char *text;
  size_t off, chunk;
} memreader;

static int mem_read(void *payload, char *buf, size_t cap, size_t *n_out,
                    sw_err *err)
{
  memreader *m = payload;
  size_t n = strlen(m->text + m->off);

  (void)err;
  if (n > cap)
    n = cap;
  if (n > m->chunk)
    n = m->chunk; /* split records and quoted fields across reads */
  memcpy(buf, m->text + m->off, n);
  m->off += n;
  *n_out = n;
  return 0;
}

typedef struct loadbox {
  bool done;
  int code;
  char msg[SW_ERR_MSG_MAX];
  long long rows;
} loadbox;

static void on_loaded(const sw_err *err, long long rows, void *payload)
{
  loadbox *b = payload;

  b->done = true;
  b->code = err ? err->code : 0;
  if (err)
    snprintf(b->msg, sizeof(b->msg), "%s", err->msg);
  b->rows = rows;
}

SW_TEST(warehouse_sqlite__bulk_load_csv)
{
  uv_loop_t loop;
  char *path = db_path();
  char id[64];
  sw_warehouse *wh;
  const char *cols[] = {"a", "b", "c"};
  memreader m = {"a,b,c\n1,\"x, \"\"y\"\"\",\n2,,\"\"\n3,\"multi\nline\",z\n",
                 0, 5};
  sw_wh_bulk_load req = {"t t", cols, 3, true, mem_read, &m};
  loadbox lb = {0};
  sw_err err = SW_ERR_INIT;

  uv_loop_init(&loop);
  wh = open_wh(&loop, path);
  SW_ASSERT_NOT_NULL(wh);
  SW_ASSERT_OK(submit1(&loop, wh, "CREATE TABLE \"t t\" (a INT, b TEXT, c "
                                  "TEXT)", id));
  cJSON_Delete(wait_status(&loop, wh, id, NULL));
  SW_ASSERT_OK(sw_warehouse_bulk_load(wh, &req, on_loaded, &lb, &err));
  while (!lb.done)
    uv_run(&loop, UV_RUN_ONCE);
  SW_ASSERT_EQ(lb.code, 0);
  SW_ASSERT_EQ(lb.rows, 3);
  SW_ASSERT_EQ(scalar(path, "SELECT count(*) FROM \"t t\" WHERE b = "
                            "'x, \"y\"' AND c IS NULL"), 1);
  SW_ASSERT_EQ(scalar(path, "SELECT count(*) FROM \"t t\" WHERE a = 2 AND "
                            "b IS NULL AND c = ''"), 1);
  SW_ASSERT_EQ(scalar(path, "SELECT length(b) FROM \"t t\" WHERE a = 3"), 10);
  /* A short record fails the load; nothing of it is kept. */
  memset(&lb, 0, sizeof(lb));
  m.text = "4,a,b\n5,only-two\n";
  m.off = 0;
  req.header = false;
  SW_ASSERT_OK(sw_warehouse_bulk_load(wh, &req, on_loaded, &lb, &err));
  while (!lb.done)
    uv_run(&loop, UV_RUN_ONCE);
  SW_ASSERT_EQ(lb.code, SW_EINVAL);
  SW_ASSERT_STR_CONTAINS(lb.msg, "record 2 has 2 fields, expected 3");
  SW_ASSERT_EQ(scalar(path, "SELECT count(*) FROM \"t t\""), 3);
  close_wh(&loop, wh);
  uv_run(&loop, UV_RUN_DEFAULT);
  SW_ASSERT_OK(uv_loop_close(&loop));
  sw_free(path);
}
