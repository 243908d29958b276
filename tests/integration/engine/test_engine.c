/* SPDX-License-Identifier: MIT */
/* The engine on a real loop and store: Retry timing and backoff, Catch,
 * States.ALL vs States.Runtime, execution TimeoutSeconds, many executions
 * with Waits at once on one thread, and history event names. */
#include "sw_test.h"

#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "resources/resources.h"
#include "store/store.h"
#include "warehouse/warehouse.h"

typedef struct harness {
  uv_loop_t loop;
  sw_store *store;
  sw_warehouse *wh;
  sw_resources *res;
  sw_engine *eng;
  sw_asl_definition *defs[256];
  int n_defs;
  int done;
} harness;

static void on_done(const char *id, const char *status, void *payload)
{
  harness *h = payload;
  (void)id;
  (void)status;
  h->done++;
}

static int h_open(harness *h)
{
  sw_err err = SW_ERR_INIT;
  sw_engine_opts eo;
  char *path = sw_asprintf("%s/state.db", sw_test_tmpdir());
  int rc;

  memset(h, 0, sizeof(*h));
  uv_loop_init(&h->loop);
  rc = sw_store_open(&h->store, path, &err);
  sw_free(path);
  if (rc == 0)
    rc = sw_warehouse_open(&h->wh, &h->loop, NULL, sw_test_tmpdir(), &err);
  if (rc == 0)
    rc = sw_resources_new(&h->res, &h->loop, h->wh, "sql", &err);
  memset(&eo, 0, sizeof(eo));
  eo.on_done = on_done;
  eo.payload = h;
  if (rc == 0)
    rc = sw_engine_new(&h->eng, &h->loop, h->store, h->res, &eo, &err);
  if (rc < 0)
    fprintf(stderr, "  open: %s\n", err.msg);
  return rc;
}

static void wh_closed(void *p) { *(bool *)p = true; }

static int h_close(harness *h)
{
  bool closed = false;
  int i;

  sw_engine_free(h->eng);
  uv_run(&h->loop, UV_RUN_NOWAIT);
  sw_resources_free(h->res);
  sw_warehouse_close(h->wh, wh_closed, &closed);
  while (!closed && uv_run(&h->loop, UV_RUN_ONCE))
    ;
  uv_run(&h->loop, UV_RUN_DEFAULT);
  sw_store_close(h->store);
  for (i = 0; i < h->n_defs; i++)
    sw_asl_free(h->defs[i]);
  return uv_loop_close(&h->loop);
}

/* Start `def_text` with `input`; id into id_out. */
static int h_start(harness *h, const char *def_text, const char *input,
                   char id_out[37])
{
  sw_err err = SW_ERR_INIT;
  sw_engine_start_req req;
  sw_asl_definition *def = NULL;
  cJSON *in = NULL;
  int rc;

  rc = sw_asl_parse(&def, def_text, strlen(def_text), "test.asl.json", &err);
  if (rc < 0) {
    fprintf(stderr, "  parse: %s\n", err.msg);
    return rc;
  }
  h->defs[h->n_defs++] = def;
  sw_json_parse(&in, input, strlen(input), "input", &err);
  memset(&req, 0, sizeof(req));
  req.def = def;
  req.definition_text = def_text;
  req.workflow = "test";
  req.input = in;
  rc = sw_engine_start(h->eng, &req, id_out, &err);
  cJSON_Delete(in);
  if (rc < 0)
    fprintf(stderr, "  start: %s\n", err.msg);
  return rc;
}

static void h_run(harness *h, int want_done)
{
  while (h->done < want_done)
    if (uv_run(&h->loop, UV_RUN_ONCE) == 0 && h->done < want_done)
      break;
}

typedef struct events {
  char types[512][40];
  int64_t ts[512];
  int n;
} events;

static void ev_cb(const sw_store_event *ev, void *payload)
{
  events *e = payload;
  if (e->n < 512) {
    snprintf(e->types[e->n], sizeof(e->types[0]), "%s", ev->type);
    e->ts[e->n] = ev->ts_ms;
    e->n++;
  }
}

static int64_t nth_ts(const events *e, const char *type, int nth)
{
  int i;
  for (i = 0; i < e->n; i++)
    if (!strcmp(e->types[i], type) && nth-- == 0)
      return e->ts[i];
  return -1;
}

static int count_type(const events *e, const char *type)
{
  int i, n = 0;
  for (i = 0; i < e->n; i++)
    n += !strcmp(e->types[i], type);
  return n;
}

/* A Parallel whose only branch always fails with error "Boom": Retry and
 * Catch on it exercise the engine's timing without any Task resource. */
#define FAILING_PARALLEL(retry, catch_)                                        \
  "{\"StartAt\":\"P\",\"States\":{\"P\":{\"Type\":\"Parallel\","             \
  "\"Branches\":[{\"StartAt\":\"F\",\"States\":{\"F\":{\"Type\":\"Fail\","     \
  "\"Error\":\"Boom\",\"Cause\":\"it broke\"}}}]," retry catch_                \
  "\"Next\":\"Done\"},\"Done\":{\"Type\":\"Pass\",\"End\":true}}}"

SW_TEST(engine_retry__backoff_intervals_and_catch)
{
  harness h;
  char id[37];
  sw_store_execution e;
  sw_err err = SW_ERR_INIT;
  events ev;
  int64_t t0, t1, t2;

  SW_ASSERT_OK(h_open(&h));
  SW_ASSERT_OK(h_start(
      &h,
      FAILING_PARALLEL(
          "\"Retry\":[{\"ErrorEquals\":[\"Boom\"],\"IntervalSeconds\":1,"
          "\"BackoffRate\":2,\"MaxAttempts\":2}],",
          "\"Catch\":[{\"ErrorEquals\":[\"States.ALL\"],\"ResultPath\":"
          "\"$.caught\",\"Next\":\"Done\"}],"),
      "{\"a\":1}", id));
  h_run(&h, 1);
  SW_ASSERT_OK(sw_store_get_execution(h.store, id, &e, &err));
  SW_ASSERT_STR_EQ(e.status, "SUCCEEDED");
  SW_ASSERT_STR_EQ(e.output, "{\"a\":1,\"caught\":{\"Error\":\"Boom\","
                             "\"Cause\":\"it broke\"}}");
  memset(&ev, 0, sizeof(ev));
  SW_ASSERT_OK(sw_store_list_events(h.store, id, ev_cb, &ev, &err));
  /* One try plus two retries, 1 s then 2 s apart (IntervalSeconds x
   * BackoffRate^n). */
  SW_ASSERT_EQ(count_type(&ev, "ParallelStateStarted"), 3);
  t0 = nth_ts(&ev, "ParallelStateFailed", 0);
  t1 = nth_ts(&ev, "ParallelStateStarted", 1);
  t2 = nth_ts(&ev, "ParallelStateStarted", 2);
  SW_ASSERT(t1 - t0 >= 950 && t1 - t0 < 1800);
  SW_ASSERT(t2 - nth_ts(&ev, "ParallelStateFailed", 1) >= 1950);
  SW_ASSERT(t2 - nth_ts(&ev, "ParallelStateFailed", 1) < 2900);
  sw_store_execution_dispose(&e);
  SW_ASSERT_EQ(h_close(&h), 0);
}

SW_TEST(engine_retry__max_delay_caps_backoff)
{
  harness h;
  char id[37];
  sw_err err = SW_ERR_INIT;
  events ev;
  int64_t gap;

  SW_ASSERT_OK(h_open(&h));
  SW_ASSERT_OK(h_start(
      &h,
      FAILING_PARALLEL("\"Retry\":[{\"ErrorEquals\":[\"States.ALL\"],"
                       "\"IntervalSeconds\":1,\"BackoffRate\":10,"
                       "\"MaxAttempts\":2,\"MaxDelaySeconds\":1}],",
                       ""),
      "{}", id));
  h_run(&h, 1);
  memset(&ev, 0, sizeof(ev));
  SW_ASSERT_OK(sw_store_list_events(h.store, id, ev_cb, &ev, &err));
  gap = nth_ts(&ev, "ParallelStateStarted", 2) -
        nth_ts(&ev, "ParallelStateFailed", 1);
  /* Uncapped it would be 10 s; MaxDelaySeconds holds it at 1 s. */
  SW_ASSERT(gap >= 950 && gap < 1800);
  SW_ASSERT_EQ(count_type(&ev, "ExecutionFailed"), 1);
  SW_ASSERT_EQ(h_close(&h), 0);
}

SW_TEST(engine_retry__first_matching_retrier_decides)
{
  harness h;
  char id[37];
  sw_err err = SW_ERR_INIT;
  events ev;

  SW_ASSERT_OK(h_open(&h));
  /* The first retrier matches Boom with MaxAttempts 0: no retry at all,
   * even though the second one would allow 3. */
  SW_ASSERT_OK(h_start(
      &h,
      FAILING_PARALLEL(
          "\"Retry\":[{\"ErrorEquals\":[\"Boom\"],\"MaxAttempts\":0},"
          "{\"ErrorEquals\":[\"States.ALL\"],\"MaxAttempts\":3}],",
          ""),
      "{}", id));
  h_run(&h, 1);
  memset(&ev, 0, sizeof(ev));
  SW_ASSERT_OK(sw_store_list_events(h.store, id, ev_cb, &ev, &err));
  SW_ASSERT_EQ(count_type(&ev, "ParallelStateStarted"), 1);
  SW_ASSERT_EQ(h_close(&h), 0);
}

SW_TEST(engine_errors__states_all_does_not_catch_runtime)
{
  harness h;
  char id[37];
  sw_store_execution e;
  sw_err err = SW_ERR_INIT;

  SW_ASSERT_OK(h_open(&h));
  SW_ASSERT_OK(h_start(
      &h,
      "{\"StartAt\":\"P\",\"States\":{\"P\":{\"Type\":\"Parallel\","
      "\"Branches\":[{\"StartAt\":\"X\",\"States\":{\"X\":{\"Type\":\"Pass\","
      "\"InputPath\":\"$.missing\",\"End\":true}}}],"
      "\"Catch\":[{\"ErrorEquals\":[\"States.ALL\"],\"Next\":\"C\"}],"
      "\"End\":true},\"C\":{\"Type\":\"Succeed\"}}}",
      "{}", id));
  h_run(&h, 1);
  SW_ASSERT_OK(sw_store_get_execution(h.store, id, &e, &err));
  SW_ASSERT_STR_EQ(e.status, "FAILED");
  SW_ASSERT_STR_EQ(e.error, "States.Runtime");
  SW_ASSERT_STR_CONTAINS(e.cause, "An error occurred while executing the "
                                  "state 'X'");
  sw_store_execution_dispose(&e);
  SW_ASSERT_EQ(h_close(&h), 0);
}

SW_TEST(engine_timeout__execution_timeout_seconds)
{
  harness h;
  char id[37];
  sw_store_execution e;
  sw_err err = SW_ERR_INIT;
  uint64_t t0;

  SW_ASSERT_OK(h_open(&h));
  t0 = uv_hrtime();
  SW_ASSERT_OK(h_start(&h,
                       "{\"TimeoutSeconds\":1,\"StartAt\":\"W\",\"States\":{"
                       "\"W\":{\"Type\":\"Wait\",\"Seconds\":30,\"End\":true}}}",
                       "{}", id));
  h_run(&h, 1);
  SW_ASSERT((uv_hrtime() - t0) / 1000000 < 3000);
  SW_ASSERT_OK(sw_store_get_execution(h.store, id, &e, &err));
  SW_ASSERT_STR_EQ(e.status, "TIMED_OUT");
  SW_ASSERT_STR_EQ(e.error, "States.Timeout");
  sw_store_execution_dispose(&e);
  SW_ASSERT_EQ(h_close(&h), 0);
}

SW_TEST(engine_loop__many_waits_run_concurrently_on_one_thread)
{
  harness h;
  char id[37];
  uint64_t t0, ms;
  int i;

  SW_ASSERT_OK(h_open(&h));
  t0 = uv_hrtime();
  for (i = 0; i < 200; i++)
    SW_ASSERT_OK(h_start(
        &h,
        "{\"StartAt\":\"W\",\"States\":{\"W\":{\"Type\":\"Wait\","
        "\"Seconds\":1,\"Next\":\"P\"},\"P\":{\"Type\":\"Parallel\","
        "\"Branches\":[{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":"
        "\"Wait\",\"Seconds\":1,\"End\":true}}},{\"StartAt\":\"B\","
        "\"States\":{\"B\":{\"Type\":\"Wait\",\"Seconds\":1,\"End\":true}}}],"
        "\"End\":true}}}",
        "{}", id));
  h_run(&h, 200);
  ms = (uv_hrtime() - t0) / 1000000;
  SW_ASSERT_EQ(h.done, 200);
  /* 200 executions x (1 s + two parallel 1 s waits) = 2 s, not 600 s. */
  SW_ASSERT(ms >= 1900 && ms < 5000);
  SW_ASSERT_EQ(h_close(&h), 0);
}

SW_TEST(engine_history__step_functions_event_names)
{
  harness h;
  char id[37];
  sw_err err = SW_ERR_INIT;
  events ev;

  SW_ASSERT_OK(h_open(&h));
  SW_ASSERT_OK(h_start(
      &h,
      "{\"StartAt\":\"C\",\"States\":{\"C\":{\"Type\":\"Choice\",\"Choices\":"
      "[{\"Variable\":\"$.x\",\"NumericEquals\":1,\"Next\":\"W\"}],"
      "\"Default\":\"F\"},\"W\":{\"Type\":\"Wait\",\"Seconds\":0,\"Next\":"
      "\"M\"},\"M\":{\"Type\":\"Map\",\"ItemsPath\":\"$.items\","
      "\"ItemProcessor\":{\"StartAt\":\"I\",\"States\":{\"I\":{\"Type\":"
      "\"Pass\",\"End\":true}}},\"Next\":\"S\"},\"S\":{\"Type\":\"Succeed\"},"
      "\"F\":{\"Type\":\"Fail\",\"Error\":\"E\"}}}",
      "{\"x\":1,\"items\":[1,2]}", id));
  h_run(&h, 1);
  memset(&ev, 0, sizeof(ev));
  SW_ASSERT_OK(sw_store_list_events(h.store, id, ev_cb, &ev, &err));
  SW_ASSERT_STR_EQ(ev.types[0], "ExecutionStarted");
  SW_ASSERT_EQ(count_type(&ev, "ChoiceStateEntered"), 1);
  SW_ASSERT_EQ(count_type(&ev, "WaitStateExited"), 1);
  SW_ASSERT_EQ(count_type(&ev, "MapStateStarted"), 1);
  SW_ASSERT_EQ(count_type(&ev, "PassStateEntered"), 2);
  SW_ASSERT_EQ(count_type(&ev, "MapStateSucceeded"), 1);
  SW_ASSERT_STR_EQ(ev.types[ev.n - 1], "ExecutionSucceeded");
  SW_ASSERT_EQ(h_close(&h), 0);
}

/* A Map whose iteration fails when the item is "bad". */
#define TOLERANT_MAP(tolerance)                                                \
  "{\"StartAt\":\"M\",\"States\":{\"M\":{\"Type\":\"Map\",\"ItemProcessor\":"  \
  "{\"ProcessorConfig\":{\"Mode\":\"DISTRIBUTED\",\"ExecutionType\":"          \
  "\"STANDARD\"},\"StartAt\":\"C\",\"States\":{\"C\":{\"Type\":\"Choice\","    \
  "\"Choices\":[{\"Variable\":\"$\",\"StringEquals\":\"bad\",\"Next\":\"F\"}]," \
  "\"Default\":\"P\"},\"F\":{\"Type\":\"Fail\",\"Error\":\"Bad\",\"Cause\":"   \
  "\"bad item\"},\"P\":{\"Type\":\"Pass\",\"End\":true}}}," tolerance          \
  "\"End\":true}}}"

SW_TEST(engine_map__tolerated_failures)
{
  harness h;
  char id1[37], id2[37];
  sw_store_execution e;
  sw_err err = SW_ERR_INIT;

  SW_ASSERT_OK(h_open(&h));
  SW_ASSERT_OK(h_start(&h, TOLERANT_MAP("\"ToleratedFailureCount\":1,"),
                       "[\"a\",\"bad\",\"c\"]", id1));
  SW_ASSERT_OK(h_start(&h, TOLERANT_MAP("\"ToleratedFailurePercentage\":50,"),
                       "[\"bad\",\"bad\",\"c\"]", id2));
  h_run(&h, 2);
  /* One failure of three is within a count of 1: the failed item's
   * result is its error. */
  SW_ASSERT_OK(sw_store_get_execution(h.store, id1, &e, &err));
  SW_ASSERT_STR_EQ(e.status, "SUCCEEDED");
  SW_ASSERT_STR_EQ(e.output, "[\"a\",{\"Error\":\"Bad\",\"Cause\":\"bad "
                             "item\"},\"c\"]");
  sw_store_execution_dispose(&e);
  /* Two of three (67%) exceed 50%. */
  SW_ASSERT_OK(sw_store_get_execution(h.store, id2, &e, &err));
  SW_ASSERT_STR_EQ(e.status, "FAILED");
  SW_ASSERT_STR_EQ(e.error, "States.ExceedToleratedFailureThreshold");
  sw_store_execution_dispose(&e);
  SW_ASSERT_EQ(h_close(&h), 0);
}
