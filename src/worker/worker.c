/* SPDX-License-Identifier: MIT */
/* worker: polls Step Functions for activity tasks, checkpoints each one in
 * worker.db before its work starts, runs it (a built-in resource, a whole
 * workflow, or an embedder's handler) and reports the result. Decisions
 * are in worker/worker.h. Invariant: a task is in exactly one of the
 * phases RUNNING (work in flight, heartbeats on), SENDING (result
 * checkpointed, being sent) or DEAD (unlinked; freed once its timer is
 * closed and no request of it is pending). */
#include "worker/worker.h"
#include "engine/engine.h"
#include "http/http.h"
#include "resources/resources.h"
#include "store/store.h"
#include "warehouse/warehouse.h"
#include "worker/worker_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WF_ACTIVITY "stepwise.workflow.run"
#define MAX_OUTPUT 262144       /* SendTaskSuccess.output, bytes */
#define MAX_ERROR 256           /* SendTaskFailure.error */
#define MAX_CAUSE 32768         /* SendTaskFailure.cause */
#define MAX_RESPONSE (4u << 20) /* token 2 KiB + input 1 MiB, JSON-escaped */
#define CALL_TIMEOUT_MS 30000   /* SendTask* client timeout */
#define POLL_BACKOFF_BASE 250
#define POLL_BACKOFF_CAP 30000
#define SEND_BACKOFF_BASE 100
#define SEND_BACKOFF_CAP 10000

typedef enum akind { A_WORKFLOW, A_BUILTIN, A_CUSTOM } akind;

typedef struct activity {
  sw_worker *w;
  char *arn;                /* owned */
  char *url;                /* endpoint; owned */
  char *region;             /* owned */
  akind kind;
  sw_worker_start_cb start; /* A_CUSTOM */
  sw_worker_cancel_cb cancel;
  void *payload;
  int fails;                /* consecutive poll failures (backoff) */
  uv_timer_t backoff;       /* armed while the activity backs off */
  bool backing_off;
  struct activity *next;
} activity;

typedef enum tphase { T_RUNNING, T_SENDING, T_DEAD } tphase;

struct sw_worker_task {
  sw_worker *w;
  activity *act;
  char id[65];              /* SHA-256 hex of the token */
  char *token;              /* owned */
  char *input;              /* owned JSON text */
  tphase phase;
  /* result (T_SENDING) */
  char *output, *error, *cause; /* owned; output NULL on failure */
  int send_attempts;
  /* work */
  sw_task *rtask;           /* built-in resource call, or NULL */
  char exec_id[37];         /* workflow.run execution, "" before start */
  bool custom_live;         /* custom handler may still complete */
  /* handles */
  uv_timer_t timer;         /* heartbeats (RUNNING), re-send (SENDING) */
  bool hb_inflight;
  int pending;              /* our HTTP requests not yet completed */
  bool timer_closed;
  struct sw_worker_task *next;
};

/* One open GetActivityTask. */
typedef struct poll {
  activity *act;
  sw_http_req *req;
  struct poll *next, *prev;
} poll;

struct sw_worker {
  uv_loop_t *loop;
  sw_worker_opts o;
  char *home, *worker_name, *workflows_dir, *sql_dir, *warehouse_url;
  char *opt_region;
  sw_aws_creds creds;
  sw_http *http;
  sw__worker_db *db;
  sw_store *store;
  sw_warehouse *wh;
  sw_resources *res;
  sw_engine *eng;
  activity *acts;
  activity *rr;             /* next activity to poll */
  sw_worker_task *tasks;
  poll *polls;
  int polls_open;
  sw_worker_stats st;
  uint64_t rng;
  bool started, draining, closing;
  uv_timer_t drain_timer;
  bool drain_timer_init;
  void (*drain_cb)(void *);
  void *drain_payload;
  void (*close_cb)(void *);
  void *close_payload;
  int close_pending;
  int n_alloc;              /* tasks allocated and not yet freed */
  bool tasks_hold;          /* close waits for n_alloc to reach 0 */
};

static void refill(sw_worker *w);
static void task_complete(sw_worker_task *t, char *output, const char *error,
                          const char *cause);
static void send_result(sw_worker_task *t);
static void drain_check(sw_worker *w);
static void close_one(void *payload);

/* ---- small helpers ----------------------------------------------------- */

static uint64_t rnd(sw_worker *w)
{
  w->rng ^= w->rng << 13;
  w->rng ^= w->rng >> 7;
  w->rng ^= w->rng << 17;
  return w->rng;
}

/* Full jitter: uniform in [cap/8, min(cap, base * 2^n)]. */
static uint64_t backoff_ms(sw_worker *w, int n, uint64_t base, uint64_t cap)
{
  uint64_t hi = base;
  int i;

  for (i = 0; i < n && hi < cap; i++)
    hi *= 2;
  if (hi > cap)
    hi = cap;
  return hi / 8 + rnd(w) % (hi - hi / 8 + 1);
}

/* The name of an activity ARN (after ":activity:"), or NULL. */
static const char *arn_name(const char *arn)
{
  const char *p = arn ? strstr(arn, ":activity:") : NULL;

  if (!arn || strncmp(arn, "arn:", 4) != 0 || !p || !p[10])
    return NULL;
  return p + 10;
}

/* Region field of arn:PARTITION:states:REGION:... into a new string. */
static char *arn_region(const char *arn)
{
  const char *p = arn;
  const char *e;
  int i;

  for (i = 0; i < 3 && p; i++) {
    p = strchr(p, ':');
    if (p)
      p++;
  }
  if (!p)
    return NULL;
  e = strchr(p, ':');
  return e && e > p ? sw_strndup(p, (size_t)(e - p)) : NULL;
}

/* Cut s (owned or NULL) to at most max bytes on a UTF-8 boundary. */
static void utf8_cut(char *s, size_t max)
{
  size_t n;

  if (!s || strlen(s) <= max)
    return;
  n = max;
  while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
    n--;
  s[n] = '\0';
}

static activity *find_activity(sw_worker *w, const char *arn)
{
  activity *a;

  for (a = w->acts; a; a = a->next)
    if (!strcmp(a->arn, arn))
      return a;
  return NULL;
}

/* ---- calls to Step Functions ------------------------------------------- */

typedef enum rkind {
  RK_OK,       /* 2xx */
  RK_RETRY,    /* throttled, 5xx, connection failure, client timeout */
  RK_GONE,     /* TaskTimedOut, TaskDoesNotExist, InvalidToken */
  RK_REJECT,   /* any other answer: not worth repeating */
  RK_CANCELED  /* we cancelled it (drain, close) */
} rkind;

typedef struct outcome {
  rkind kind;
  cJSON *doc;        /* parsed body (owned by the caller), may be NULL */
  char type[96];     /* __type after '#', or "" */
  char message[256]; /* message, or the transport error */
} outcome;

static void classify(outcome *oc, const sw_err *herr,
                     const sw_http_response *resp)
{
  const char *type = NULL, *msg = NULL, *hash;

  memset(oc, 0, sizeof(*oc));
  if (resp && resp->status > 0 && resp->body_len)
    oc->doc = cJSON_ParseWithLength(resp->body, resp->body_len);
  if (!herr) {
    oc->kind = RK_OK;
    return;
  }
  if (herr->code == SW_ECANCELED) {
    oc->kind = RK_CANCELED;
    return;
  }
  if (oc->doc) {
    type = sw_json_get_str(oc->doc, "__type");
    msg = sw_json_get_str(oc->doc, "message");
    if (!msg)
      msg = sw_json_get_str(oc->doc, "Message");
  }
  if (type) {
    hash = strrchr(type, '#');
    snprintf(oc->type, sizeof(oc->type), "%s", hash ? hash + 1 : type);
  }
  snprintf(oc->message, sizeof(oc->message), "%.*s",
           (int)sizeof(oc->message) - 1, msg ? msg : herr->msg);
  if (!strcmp(oc->type, "TaskTimedOut") ||
      !strcmp(oc->type, "TaskDoesNotExist") ||
      !strcmp(oc->type, "InvalidToken"))
    oc->kind = RK_GONE;
  else if (herr->code == SW_EAGAIN || herr->code == SW_ETIMEDOUT ||
           (resp && resp->status >= 500) ||
           strstr(oc->type, "Throttling") ||
           !strcmp(oc->type, "RequestLimitExceeded") ||
           !strcmp(oc->type, "ServiceUnavailable"))
    oc->kind = RK_RETRY;
  else
    oc->kind = RK_REJECT;
}

/* POST one operation; `body` is consumed. */
static int call(sw_worker *w, activity *a, const char *op, cJSON *body,
                long timeout_ms, sw_http_cb cb, void *payload,
                sw_http_req **req_out, sw_err *err)
{
  char target[80];
  const char *headers[2];
  sw_http_opts ho;
  char *text = sw_json_print(body);
  int rc;

  cJSON_Delete(body);
  snprintf(target, sizeof(target), "X-Amz-Target: AWSStepFunctions.%s", op);
  headers[0] = "Content-Type: application/x-amz-json-1.0";
  headers[1] = target;
  memset(&ho, 0, sizeof(ho));
  ho.method = "POST";
  ho.url = a->url;
  ho.headers = headers;
  ho.n_headers = 2;
  ho.body = text;
  ho.body_len = strlen(text);
  ho.sigv4_region = a->region;
  ho.sigv4_service = "states";
  ho.creds = &w->creds;
  ho.timeout_ms = timeout_ms;
  ho.max_body = MAX_RESPONSE;
  rc = sw_http_request(w->http, &ho, cb, payload, req_out, err);
  sw_free(text);
  return rc;
}

/* ---- task lifetime ---------------------------------------------------- */

static void task_free(sw_worker_task *t)
{
  sw_free(t->token);
  sw_free(t->input);
  sw_free(t->output);
  sw_free(t->error);
  sw_free(t->cause);
  sw_free(t);
}

/* Free once dead, the timer is closed and no request is pending. */
static void task_maybe_free(sw_worker_task *t)
{
  sw_worker *w = t->w;

  if (t->phase != T_DEAD || !t->timer_closed || t->pending > 0)
    return;
  task_free(t);
  if (--w->n_alloc == 0 && w->tasks_hold) {
    w->tasks_hold = false;
    close_one(w);
  }
}

static void task_timer_closed(uv_handle_t *h)
{
  sw_worker_task *t = SW_CONTAINER_OF((uv_timer_t *)h, sw_worker_task,
                                      timer);
  t->timer_closed = true;
  task_maybe_free(t);
}

/* Unlink a task and let it go (its row is handled by the caller). */
static void task_end(sw_worker_task *t)
{
  sw_worker *w = t->w;
  sw_worker_task **pp;

  if (t->phase == T_DEAD)
    return;
  for (pp = &w->tasks; *pp; pp = &(*pp)->next)
    if (*pp == t) {
      *pp = t->next;
      break;
    }
  t->phase = T_DEAD;
  w->st.in_progress--;
  uv_close((uv_handle_t *)&t->timer, task_timer_closed);
  if (!w->closing) {
    refill(w);
    drain_check(w);
  }
}

/* Stop the work of a running task (no outcome will be delivered). `why`
 * NULL: the worker is closing, so a workflow execution is left RUNNING in
 * the store for the next start to resume; otherwise it is stopped. */
static void stop_work(sw_worker_task *t, const char *why)
{
  sw_worker *w = t->w;

  if (t->rtask) {
    sw_task_cancel(t->rtask);
    t->rtask = NULL;
  }
  if (t->exec_id[0] && w->eng && why) {
    sw_engine_stop(w->eng, t->exec_id, "States.Timeout", why, NULL);
    t->exec_id[0] = '\0';
  }
  if (t->custom_live) {
    t->custom_live = false;
    if (t->act->cancel)
      t->act->cancel(t, t->act->payload);
  }
}

static void forget(sw_worker_task *t)
{
  sw_err err = SW_ERR_INIT;

  if (sw__worker_db_delete(t->w->db, t->id, &err) < 0)
    sw_log(SW_LOG_WARN, "worker: task %.8s: %s", t->id, err.msg);
}

/* Step Functions closed the task: stop, forget, move on. */
static void task_lost(sw_worker_task *t, const outcome *oc)
{
  sw_log(SW_LOG_WARN,
         "worker: task %.8s of %s is closed (%s: %s); its work stops",
         t->id, arn_name(t->act->arn), oc->type, oc->message);
  t->w->st.lost++;
  if (t->phase == T_RUNNING)
    stop_work(t, "Step Functions closed the activity task");
  forget(t);
  task_end(t);
}

/* ---- heartbeats --------------------------------------------------------- */

static void on_heartbeat(const sw_err *herr, const sw_http_response *resp,
                         void *payload)
{
  sw_worker_task *t = payload;
  outcome oc;

  t->pending--;
  t->hb_inflight = false;
  classify(&oc, herr, resp);
  if (oc.kind == RK_OK)
    t->w->st.heartbeats++;
  else if (oc.kind == RK_GONE && t->phase == T_RUNNING)
    task_lost(t, &oc);
  else if (oc.kind != RK_CANCELED && t->phase == T_RUNNING)
    sw_log(SW_LOG_INFO, "worker: task %.8s: heartbeat: %s %s", t->id,
           oc.type, oc.message);
  cJSON_Delete(oc.doc);
  task_maybe_free(t);
}

static void on_task_timer(uv_timer_t *h)
{
  sw_worker_task *t = SW_CONTAINER_OF(h, sw_worker_task, timer);
  sw_err err = SW_ERR_INIT;
  cJSON *body;

  if (t->phase == T_SENDING) {
    send_result(t);
    return;
  }
  if (t->phase != T_RUNNING || t->hb_inflight)
    return;
  body = cJSON_CreateObject();
  cJSON_AddStringToObject(body, "taskToken", t->token);
  if (call(t->w, t->act, "SendTaskHeartbeat", body, CALL_TIMEOUT_MS,
           on_heartbeat, t, NULL, &err) == 0) {
    t->pending++;
    t->hb_inflight = true;
  }
}

/* ---- results ------------------------------------------------------------ */

static void on_sent(const sw_err *herr, const sw_http_response *resp,
                    void *payload)
{
  sw_worker_task *t = payload;
  sw_worker *w = t->w;
  outcome oc;

  t->pending--;
  classify(&oc, herr, resp);
  if (t->phase != T_SENDING || oc.kind == RK_CANCELED)
    goto done;
  switch (oc.kind) {
  case RK_OK:
    if (t->output)
      w->st.succeeded++;
    else
      w->st.failed++;
    sw_log(SW_LOG_DEBUG, "worker: task %.8s reported", t->id);
    forget(t);
    task_end(t);
    break;
  case RK_GONE:
    task_lost(t, &oc);
    break;
  case RK_RETRY:
    w->st.retries++;
    t->send_attempts++;
    uv_timer_start(&t->timer, on_task_timer,
                   backoff_ms(w, t->send_attempts, SEND_BACKOFF_BASE,
                              SEND_BACKOFF_CAP),
                   0);
    break;
  default:
    if (t->output && !strcmp(oc.type, "InvalidOutput")) {
      /* Report why instead of dropping the task. */
      char *cause = sw_asprintf("SendTaskSuccess refused the output: %s",
                                oc.message);
      sw_free(t->output);
      t->output = NULL;
      t->error = sw_strdup("States.Runtime");
      t->cause = cause;
      t->send_attempts = 0;
      send_result(t);
      break;
    }
    sw_log(SW_LOG_ERROR, "worker: task %.8s: the result was refused (%s: "
                         "%s); dropping it",
           t->id, oc.type, oc.message);
    forget(t);
    task_end(t);
  }
done:
  cJSON_Delete(oc.doc);
  task_maybe_free(t);
}

static void send_result(sw_worker_task *t)
{
  sw_err err = SW_ERR_INIT;
  cJSON *body = cJSON_CreateObject();
  const char *op;

  cJSON_AddStringToObject(body, "taskToken", t->token);
  if (t->output) {
    op = "SendTaskSuccess";
    cJSON_AddStringToObject(body, "output", t->output);
  } else {
    op = "SendTaskFailure";
    if (t->error)
      cJSON_AddStringToObject(body, "error", t->error);
    if (t->cause)
      cJSON_AddStringToObject(body, "cause", t->cause);
  }
  if (call(t->w, t->act, op, body, CALL_TIMEOUT_MS, on_sent, t, NULL,
           &err) == 0) {
    t->pending++;
    return;
  }
  /* Only a closing HTTP handle refuses; the row stays for the restart. */
  sw_log(SW_LOG_WARN, "worker: task %.8s: %s", t->id, err.msg);
}

/* The work ended: checkpoint the result, then send it. `output` (owned
 * JSON text) or error/cause (borrowed). */
static void task_complete(sw_worker_task *t, char *output, const char *error,
                          const char *cause)
{
  sw_err err = SW_ERR_INIT;
  size_t n;

  if (t->phase != T_RUNNING) {
    sw_free(output);
    return;
  }
  uv_timer_stop(&t->timer);
  t->rtask = NULL;
  t->exec_id[0] = '\0';
  t->custom_live = false;
  if (output && (n = strlen(output)) > MAX_OUTPUT) {
    t->error = sw_strdup("States.DataLimitExceeded");
    t->cause = sw_asprintf("The task output is %zu bytes; SendTaskSuccess "
                           "accepts at most %d bytes.",
                           n, MAX_OUTPUT);
    sw_free(output);
    output = NULL;
  } else if (!output) {
    t->error = sw_strdup(error ? error : "States.TaskFailed");
    t->cause = sw_strdup(cause);
  }
  t->output = output;
  utf8_cut(t->error, MAX_ERROR);
  utf8_cut(t->cause, MAX_CAUSE);
  if (sw__worker_db_set_result(t->w->db, t->id, t->output, t->error,
                               t->cause, &err) < 0)
    sw_log(SW_LOG_WARN, "worker: task %.8s: %s", t->id, err.msg);
  t->phase = T_SENDING;
  t->send_attempts = 0;
  send_result(t);
}

/* ---- work: built-in resources ------------------------------------------ */

static void on_resource_done(sw_task_outcome *o, void *payload)
{
  sw_worker_task *t = payload;
  char *out = NULL;

  t->rtask = NULL;
  if (o->output) {
    out = sw_json_print(o->output);
    cJSON_Delete(o->output);
  }
  task_complete(t, out, o->error, o->cause);
}

/* ---- work: stepwise.workflow.run --------------------------------------- */

static bool valid_workflow_name(const char *s)
{
  size_t n = 0;

  if (!s || !*s || s[0] == '.')
    return false;
  for (; *s; s++, n++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
          (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' || *s == '.'))
      return false;
  return n <= 80;
}

/* Report an execution that has ended (from its store row). */
static void report_execution(sw_worker_task *t, const sw_store_execution *e)
{
  if (!strcmp(e->status, "SUCCEEDED"))
    task_complete(t, sw_strdup(e->output ? e->output : "null"), NULL, NULL);
  else
    task_complete(t, NULL, e->error ? e->error : "States.TaskFailed",
                  e->cause ? e->cause
                           : "The workflow execution did not succeed.");
}

/* Start (or after a restart, find and resume) the execution of a
 * workflow.run task. Fails the task itself on bad input. */
static void start_workflow(sw_worker_task *t)
{
  sw_worker *w = t->w;
  sw_err err = SW_ERR_INIT;
  sw_store_execution e;
  cJSON *in = NULL;
  const char *wf;
  char name[40];
  char *path = NULL, *text = NULL;
  const sw_asl_definition *def;
  const char *def_text = NULL;
  size_t len;

  memset(&e, 0, sizeof(e));
  snprintf(name, sizeof(name), "sfn-%.32s", t->id);
  if (sw_store_get_execution(w->store, name, &e, &err) == 0) {
    /* A restart: the execution exists; never start a second one. */
    if (strcmp(e.status, "RUNNING") != 0) {
      report_execution(t, &e);
      goto done;
    }
    if (sw_store_get_definition(w->store, e.definition_hash, &text,
                                &err) < 0 ||
        !(def = sw_engine_definition(w->eng, text, e.definition_hash, NULL,
                                     &err)) ||
        sw_engine_resume(w->eng, e.id, def, &err) < 0)
      goto runtime;
    snprintf(t->exec_id, sizeof(t->exec_id), "%s", e.id);
    goto done;
  }
  if (err.code != SW_ENOTFOUND)
    goto runtime;
  err = (sw_err)SW_ERR_INIT;
  if (sw_json_parse(&in, t->input, strlen(t->input), "input", &err) < 0)
    goto runtime;
  wf = sw_json_get_str(in, "workflow");
  if (!valid_workflow_name(wf)) {
    sw_err_set(&err, SW_EINVAL, SW_ORIGIN_NONE, 0,
               WF_ACTIVITY " needs input {\"workflow\": NAME, \"input\": "
                           "{...}} with NAME a workflow in %s/",
               w->workflows_dir);
    goto runtime;
  }
  path = sw_asprintf("%s/%s.asl.json", w->workflows_dir, wf);
  if (sw_file_read(&text, &len, path, 16u << 20, &err) < 0)
    goto runtime;
  if (!(def = sw_engine_definition(w->eng, text, path, &def_text, &err)))
    goto runtime;
  {
    sw_engine_start_req req;
    const cJSON *input = sw_json_get(in, "input");
    cJSON *empty = input ? NULL : cJSON_CreateObject();

    memset(&req, 0, sizeof(req));
    req.def = def;
    req.definition_text = def_text;
    req.workflow = wf;
    req.source = path;
    req.name = name;
    req.input = input ? input : empty;
    req.warehouse = w->warehouse_url;
    if (sw_engine_start(w->eng, &req, t->exec_id, &err) < 0) {
      t->exec_id[0] = '\0';
      cJSON_Delete(empty);
      goto runtime;
    }
    cJSON_Delete(empty);
  }
  goto done;

runtime:
  /* An input over the payload limit is AWS's States.DataLimitExceeded. */
  task_complete(t, NULL,
                err.code == SW_ELIMIT ? "States.DataLimitExceeded"
                                      : "States.Runtime",
                err.msg);
done:
  sw_store_execution_dispose(&e);
  cJSON_Delete(in);
  sw_free(path);
}

static void on_engine_done(const char *execution_id, const char *status,
                           void *payload)
{
  sw_worker *w = payload;
  sw_worker_task *t;
  sw_store_execution e;
  sw_err err = SW_ERR_INIT;

  (void)status;
  for (t = w->tasks; t; t = t->next)
    if (t->phase == T_RUNNING && !strcmp(t->exec_id, execution_id))
      break;
  if (!t)
    return; /* stopped because the task was lost */
  memset(&e, 0, sizeof(e));
  if (sw_store_get_execution(w->store, execution_id, &e, &err) < 0)
    task_complete(t, NULL, "States.Runtime", err.msg);
  else
    report_execution(t, &e);
  sw_store_execution_dispose(&e);
}

/* ---- accepting and starting tasks ------------------------------------ */

static void start_work(sw_worker_task *t)
{
  sw_worker *w = t->w;
  sw_err err = SW_ERR_INIT;

  if (w->o.heartbeat_seconds > 0) {
    uint64_t every = (uint64_t)(w->o.heartbeat_seconds * 1000.0 / 3.0);
    if (every < 10)
      every = 10;
    uv_timer_start(&t->timer, on_task_timer, every, every);
  }
  switch (t->act->kind) {
  case A_WORKFLOW:
    start_workflow(t);
    break;
  case A_CUSTOM:
    t->custom_live = true;
    t->act->start(t, t->input, t->act->payload);
    break;
  case A_BUILTIN: {
    sw_task_call c;
    cJSON *params = NULL;

    if (sw_json_parse(&params, t->input, strlen(t->input), "input",
                      &err) < 0) {
      task_complete(t, NULL, "States.Runtime", err.msg);
      break;
    }
    c.resource = t->act->arn;
    c.parameters = params;
    c.token = t->id;
    if (sw_resources_invoke(&t->rtask, w->res, &c, on_resource_done, t,
                            &err) < 0) {
      t->rtask = NULL;
      task_complete(t, NULL, "States.Runtime", err.msg);
    }
    cJSON_Delete(params);
    break;
  }
  }
}

static sw_worker_task *task_new(sw_worker *w, activity *a, const char *token,
                                const char *input)
{
  sw_worker_task *t = sw_calloc(1, sizeof(*t));

  t->w = w;
  t->act = a;
  t->token = sw_strdup(token);
  t->input = sw_strdup(input ? input : "{}");
  sw_sha256_hex(t->id, token, strlen(token));
  uv_timer_init(w->loop, &t->timer);
  w->n_alloc++;
  t->next = w->tasks;
  w->tasks = t;
  w->st.in_progress++;
  return t;
}

/* A poll returned a task: checkpoint, then work. */
static void accept_task(sw_worker *w, activity *a, const char *token,
                        const char *input)
{
  sw_worker_task *t = task_new(w, a, token, input);
  sw__worker_row row;
  sw_err err = SW_ERR_INIT;

  w->st.accepted++;
  memset(&row, 0, sizeof(row));
  row.id = t->id;
  row.token = t->token;
  row.activity = a->arn;
  row.input = t->input;
  row.accepted_ms = sw_time_now_ms();
  if (sw__worker_db_insert(w->db, &row, &err) < 0) {
    /* Without a checkpoint the work must not start: say so instead. */
    sw_log(SW_LOG_ERROR, "worker: task %.8s: %s", t->id, err.msg);
    t->error = sw_strdup("Stepwise.CheckpointFailed");
    t->cause = sw_strdup(err.msg);
    t->phase = T_SENDING;
    send_result(t);
    return;
  }
  sw_log(SW_LOG_DEBUG, "worker: task %.8s of %s accepted", t->id,
         arn_name(a->arn));
  start_work(t);
}

/* ---- polling ------------------------------------------------------------ */

static void on_backoff_done(uv_timer_t *h)
{
  activity *a = SW_CONTAINER_OF(h, activity, backoff);

  a->backing_off = false;
  refill(a->w);
}

static void poll_failed(activity *a, const outcome *oc)
{
  sw_worker *w = a->w;

  /* The polls open at the time all fail together; only the first failure
   * of a backoff window makes the next window longer. */
  if (!a->backing_off)
    a->fails++;
  w->st.retries++;
  if (oc->kind == RK_REJECT)
    sw_log(a->fails == 1 ? SW_LOG_ERROR : SW_LOG_DEBUG,
           "worker: GetActivityTask %s: %s: %s", a->arn, oc->type,
           oc->message);
  else
    sw_log(SW_LOG_INFO, "worker: GetActivityTask %s: %s %s (backing off)",
           arn_name(a->arn), oc->type, oc->message);
  if (!a->backing_off && !w->closing) {
    a->backing_off = true;
    uv_timer_start(&a->backoff, on_backoff_done,
                   backoff_ms(w, a->fails, POLL_BACKOFF_BASE,
                              POLL_BACKOFF_CAP),
                   0);
  }
}

static void on_poll(const sw_err *herr, const sw_http_response *resp,
                    void *payload)
{
  poll *p = payload;
  activity *a = p->act;
  sw_worker *w = a->w;
  outcome oc;
  const char *token, *input;

  if (p->prev)
    p->prev->next = p->next;
  else
    w->polls = p->next;
  if (p->next)
    p->next->prev = p->prev;
  sw_free(p);
  w->polls_open--;
  classify(&oc, herr, resp);
  if (oc.kind == RK_CANCELED)
    goto done;
  w->st.polls++;
  if (oc.kind != RK_OK) {
    poll_failed(a, &oc);
  } else {
    a->fails = 0;
    token = sw_json_get_str(oc.doc, "taskToken");
    input = sw_json_get_str(oc.doc, "input");
    /* A task that arrives while draining is still accepted: it was handed
     * to us exactly once. */
    if (token && *token && !w->closing)
      accept_task(w, a, token, input);
  }
done:
  cJSON_Delete(oc.doc);
  if (!w->closing) {
    refill(w);
    drain_check(w);
  }
}

static int poll_start(sw_worker *w, activity *a)
{
  sw_err err = SW_ERR_INIT;
  poll *p = sw_calloc(1, sizeof(*p));
  cJSON *body = cJSON_CreateObject();

  cJSON_AddStringToObject(body, "activityArn", a->arn);
  cJSON_AddStringToObject(body, "workerName", w->worker_name);
  p->act = a;
  if (call(w, a, "GetActivityTask", body, w->o.poll_timeout_ms, on_poll, p,
           &p->req, &err) < 0) {
    sw_log(SW_LOG_ERROR, "worker: %s", err.msg);
    sw_free(p);
    return -1;
  }
  p->next = w->polls;
  if (w->polls)
    w->polls->prev = p;
  w->polls = p;
  w->polls_open++;
  return 0;
}

/* Keep concurrency - in_progress polls open, round-robin over the
 * activities that are not backing off. */
static void refill(sw_worker *w)
{
  int idle = 0, n = 0;
  activity *a;

  if (!w->started || w->draining || w->closing || !w->acts)
    return;
  for (a = w->acts; a; a = a->next)
    n++;
  while (w->polls_open + w->st.in_progress < w->o.concurrency && idle < n) {
    a = w->rr ? w->rr : w->acts;
    w->rr = a->next;
    if (a->backing_off) {
      idle++;
      continue;
    }
    if (poll_start(w, a) < 0)
      return;
    idle = 0;
  }
}

/* ---- public API --------------------------------------------------------- */

static int worker_new(sw_worker **out, uv_loop_t *loop,
                      const sw_worker_opts *o, sw_err *err)
{
  sw_worker *w;
  sw_engine_opts eo;
  sw_http_limits lim;
  char host[81] = "";
  char *path = NULL;
  int rc;

  *out = NULL;
  if (!o || o->version != SW_WORKER_OPTS_VERSION)
    return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                      "worker options: version must be "
                      "SW_WORKER_OPTS_VERSION");
  if (o->worker_name && (!*o->worker_name || strlen(o->worker_name) > 80))
    return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                      "worker name must be 1 to 80 characters");
  if (o->concurrency < 0 || o->concurrency > 1000)
    return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                      "concurrency must be 1 to 1000 (Step Functions "
                      "allows 1,000 pollers per activity)");
  w = sw_calloc(1, sizeof(*w));
  w->loop = loop;
  w->o = *o;
  if (w->o.concurrency == 0)
    w->o.concurrency = 1;
  if (w->o.heartbeat_seconds == 0)
    w->o.heartbeat_seconds = 60;
  if (w->o.drain_seconds == 0)
    w->o.drain_seconds = 30;
  if (w->o.poll_timeout_ms == 0)
    w->o.poll_timeout_ms = 70000;
  w->home = sw_strdup(o->home ? o->home : ".stepwise");
  if (o->worker_name) {
    w->worker_name = sw_strdup(o->worker_name);
  } else {
    if (gethostname(host, sizeof(host) - 1) != 0 || !host[0])
      snprintf(host, sizeof(host), "stepwise");
    w->worker_name = sw_strdup(host);
  }
  w->workflows_dir = sw_strdup(o->workflows_dir ? o->workflows_dir
                                                : "workflows");
  w->sql_dir = sw_strdup(o->sql_dir ? o->sql_dir : "sql");
  w->warehouse_url = sw_strdup(o->warehouse);
  w->opt_region = sw_strdup(o->region);
  w->o.home = w->o.worker_name = w->o.workflows_dir = NULL;
  w->o.sql_dir = w->o.warehouse = w->o.region = NULL;
  w->rng = (uint64_t)sw_time_now_ms() * 2654435761u ^ (uint64_t)getpid();
  if (!w->rng)
    w->rng = 1;
  uv_timer_init(loop, &w->drain_timer);
  w->drain_timer_init = true;
  *out = w;

  rc = sw_mkdirs(w->home, err);
  if (rc == 0)
    rc = sw_aws_creds_resolve(&w->creds, err);
  if (rc < 0)
    return rc;
  memset(&lim, 0, sizeof(lim));
  lim.max_total_connections = w->o.concurrency * 2L + 16;
  lim.max_host_connections = lim.max_total_connections;
  rc = sw_http_new(&w->http, loop, &lim, err);
  if (rc < 0)
    return rc;
  path = sw_asprintf("%s/worker.db", w->home);
  rc = sw__worker_db_open(&w->db, path, err);
  sw_free(path);
  if (rc < 0)
    return rc;
  path = sw_asprintf("%s/state.db", w->home);
  rc = sw_store_open(&w->store, path, err);
  sw_free(path);
  if (rc < 0)
    return rc;
  rc = sw_warehouse_open(&w->wh, loop, w->warehouse_url, w->home, err);
  if (rc < 0)
    return rc;
  rc = sw_resources_new(&w->res, loop, w->wh, w->sql_dir, err);
  if (rc < 0)
    return rc;
  memset(&eo, 0, sizeof(eo));
  eo.on_done = on_engine_done;
  eo.payload = w;
  return sw_engine_new(&w->eng, loop, w->store, w->res, &eo, err);
}

int sw_worker_new(sw_worker **out, uv_loop_t *loop, const sw_worker_opts *o,
                  sw_err *err)
{
  int rc = worker_new(out, loop, o, err);

  if (rc < 0 && *out) {
    sw_worker_close(*out, NULL, NULL);
    *out = NULL;
  }
  return rc;
}

static int add(sw_worker *w, const char *arn, akind kind, activity **out,
               sw_err *err)
{
  activity *a;
  char *region = NULL;
  int rc;

  *out = NULL;
  if (!arn_name(arn) || strlen(arn) > 256)
    return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                      "\"%s\" is not an activity ARN (expected "
                      "arn:aws:states:REGION:ACCOUNT:activity:NAME)",
                      arn ? arn : "");
  if (find_activity(w, arn))
    return sw_err_set(err, SW_EEXISTS, SW_ORIGIN_NONE, 0,
                      "activity %s is served already", arn);
  if (w->opt_region) {
    region = sw_strdup(w->opt_region);
  } else {
    char *from_arn = arn_region(arn);
    rc = sw_aws_region_resolve(&region, from_arn, err);
    sw_free(from_arn);
    if (rc < 0)
      return rc;
  }
  a = sw_calloc(1, sizeof(*a));
  a->w = w;
  a->arn = sw_strdup(arn);
  a->region = region;
  a->kind = kind;
  sw_aws_endpoint(&a->url, "SFN", "states", region);
  uv_timer_init(w->loop, &a->backoff);
  a->next = w->acts;
  w->acts = a;
  *out = a;
  return 0;
}

int sw_worker_add_activity(sw_worker *w, const char *activity_arn,
                           sw_err *err)
{
  activity *a;
  const char *name = arn_name(activity_arn);
  int rc;

  if (name && strcmp(name, WF_ACTIVITY) != 0) {
    rc = sw_resources_preflight(w->res, activity_arn, NULL, err);
    if (rc < 0) {
      return sw_err_set(err, SW_ENOTFOUND, SW_ORIGIN_NONE, 0,
                        "activity \"%s\" is not a stepwise built-in "
                        "(expected " WF_ACTIVITY " or "
                        "stepwise.sql.submitScript)",
                        name);
    }
  }
  return add(w, activity_arn,
             name && !strcmp(name, WF_ACTIVITY) ? A_WORKFLOW : A_BUILTIN,
             &a, err);
}

int sw_worker_register(sw_worker *w, const char *activity_arn,
                       sw_worker_start_cb start, sw_worker_cancel_cb cancel,
                       void *payload, sw_err *err)
{
  activity *a;
  int rc;

  if (!start)
    return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                      "sw_worker_register needs a start callback");
  rc = add(w, activity_arn, A_CUSTOM, &a, err);
  if (rc < 0)
    return rc;
  a->start = start;
  a->cancel = cancel;
  a->payload = payload;
  return 0;
}

typedef struct resume_ctx {
  sw_worker *w;
  sw_worker_task **list; /* resumed tasks, started after the load */
  size_t n, cap;
} resume_ctx;

static void resume_row(const sw__worker_row *r, void *payload)
{
  resume_ctx *rc = payload;
  activity *a = find_activity(rc->w, r->activity);
  sw_worker_task *t;

  if (!a) {
    sw_log(SW_LOG_WARN,
           "worker: task %.8s of %s is checkpointed but that activity is "
           "not served now; it stays in worker.db",
           r->id, r->activity);
    return;
  }
  t = task_new(rc->w, a, r->token, r->input);
  rc->w->st.resumed++;
  if (!strcmp(r->state, "DONE")) {
    t->output = sw_strdup(r->output);
    t->error = sw_strdup(r->error);
    t->cause = sw_strdup(r->cause);
    t->phase = T_SENDING;
  }
  if (rc->n == rc->cap) {
    rc->cap = rc->cap ? rc->cap * 2 : 16;
    rc->list = sw_realloc(rc->list, rc->cap * sizeof(*rc->list));
  }
  rc->list[rc->n++] = t;
}

int sw_worker_start(sw_worker *w, sw_err *err)
{
  resume_ctx rc;
  size_t i;
  int r;

  if (!w->acts)
    return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                      "the worker serves no activity");
  memset(&rc, 0, sizeof(rc));
  rc.w = w;
  r = sw__worker_db_load(w->db, resume_row, &rc, err);
  /* Start the work only after the SELECT is finished. */
  for (i = 0; i < rc.n; i++) {
    sw_worker_task *t = rc.list[i];
    sw_log(SW_LOG_INFO, "worker: resuming task %.8s of %s", t->id,
           arn_name(t->act->arn));
    if (t->phase == T_SENDING)
      send_result(t);
    else
      start_work(t);
  }
  sw_free(rc.list);
  if (r < 0)
    return r;
  w->started = true;
  refill(w);
  return 0;
}

const char *sw_worker_task_id(const sw_worker_task *task)
{
  return task->id;
}

int sw_worker_task_succeed(sw_worker_task *task, const char *output,
                           sw_err *err)
{
  cJSON *v = NULL;
  int rc;

  rc = sw_json_parse(&v, output ? output : "", output ? strlen(output) : 0,
                     "output", err);
  cJSON_Delete(v);
  if (rc < 0) {
    task_complete(task, NULL, "States.Runtime", err ? err->msg : "bad JSON");
    return rc;
  }
  task_complete(task, sw_strdup(output), NULL, NULL);
  return 0;
}

void sw_worker_task_fail(sw_worker_task *task, const char *error,
                         const char *cause)
{
  task_complete(task, NULL, error, cause);
}

void sw_worker_get_stats(const sw_worker *w, sw_worker_stats *out)
{
  *out = w->st;
}

/* ---- drain and close ----------------------------------------------------- */

static void drain_finish(sw_worker *w)
{
  void (*cb)(void *) = w->drain_cb;

  w->drain_cb = NULL;
  if (w->drain_timer_init)
    uv_timer_stop(&w->drain_timer);
  if (cb)
    cb(w->drain_payload);
}

static void drain_check(sw_worker *w)
{
  if (w->draining && w->drain_cb && w->st.in_progress == 0 &&
      w->polls_open == 0)
    drain_finish(w);
}

static void on_drain_timer(uv_timer_t *h)
{
  sw_worker *w = SW_CONTAINER_OF(h, sw_worker, drain_timer);

  if (w->st.in_progress > 0)
    sw_log(SW_LOG_WARN,
           "worker: %d task(s) still in flight after the drain period; "
           "they stay checkpointed and resume on the next start",
           w->st.in_progress);
  drain_finish(w);
}

void sw_worker_drain(sw_worker *w, void (*cb)(void *payload), void *payload)
{
  poll *p;

  w->draining = true;
  w->drain_cb = cb;
  w->drain_payload = payload;
  for (p = w->polls; p; p = p->next)
    sw_http_cancel(p->req);
  uv_timer_start(&w->drain_timer, on_drain_timer,
                 (uint64_t)(w->o.drain_seconds * 1000.0), 0);
  if (!w->polls)
    drain_check(w);
}

static void close_done(sw_worker *w);

static void close_one(void *payload)
{
  sw_worker *w = payload;

  if (--w->close_pending == 0)
    close_done(w);
}

static void close_handle_cb(uv_handle_t *h) { close_one(h->data); }

static void close_done(sw_worker *w)
{
  void (*cb)(void *) = w->close_cb;
  void *payload = w->close_payload;
  activity *a;

  sw_store_close(w->store);
  sw__worker_db_close(w->db);
  sw_aws_creds_dispose(&w->creds);
  while ((a = w->acts)) {
    w->acts = a->next;
    sw_free(a->arn);
    sw_free(a->url);
    sw_free(a->region);
    sw_free(a);
  }
  sw_free(w->home);
  sw_free(w->worker_name);
  sw_free(w->workflows_dir);
  sw_free(w->sql_dir);
  sw_free(w->warehouse_url);
  sw_free(w->opt_region);
  sw_free(w);
  if (cb)
    cb(payload);
}

void sw_worker_close(sw_worker *w, void (*cb)(void *payload), void *payload)
{
  sw_worker_task *t;
  activity *a;

  if (!w) {
    if (cb)
      cb(payload);
    return;
  }
  w->closing = true;
  w->close_cb = NULL; /* set below, once the tasks are freed */
  w->close_pending = 1; /* held until every close is started */
  /* Stop the work (it stays checkpointed) and end every task; requests of
   * theirs complete with SW_ECANCELED inside sw_http_close. */
  while ((t = w->tasks)) {
    if (t->phase == T_RUNNING)
      stop_work(t, NULL);
    task_end(t);
  }
  if (w->n_alloc > 0) {
    w->tasks_hold = true;
    w->close_pending++;
  }
  if (w->http) {
    w->close_pending++;
    sw_http_close(w->http, close_one, w);
    w->http = NULL;
  }
  if (w->eng)
    sw_engine_free(w->eng);
  w->eng = NULL;
  sw_resources_free(w->res);
  w->res = NULL;
  if (w->wh) {
    w->close_pending++;
    sw_warehouse_close(w->wh, close_one, w);
    w->wh = NULL;
  }
  for (a = w->acts; a; a = a->next) {
    w->close_pending++;
    a->backoff.data = w;
    uv_close((uv_handle_t *)&a->backoff, close_handle_cb);
  }
  if (w->drain_timer_init) {
    w->close_pending++;
    w->drain_timer.data = w;
    uv_close((uv_handle_t *)&w->drain_timer, close_handle_cb);
  }
  w->close_cb = cb;
  w->close_payload = payload;
  close_one(w);
}
