/* SPDX-License-Identifier: MIT */
/* The interpreter: executions as trees of branches driven by one idle
 * "pump" per loop turn. A pump runs ready branches (bounded by a step
 * budget), writes their snapshot rows, commits once (group commit), and
 * only then invokes the Task resources scheduled during the turn
 * (checkpoint before effect). Callbacks from resources and timers never
 * touch the store: they record what arrived and wake the branch. */
#include "engine/engine_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ASL: Task TimeoutSeconds defaults to 99999999 on AWS (no timer).
 * HeartbeatSeconds(Path) is validated but has no timer here: a Task run
 * in-process is the engine's own work, with nobody who could stop
 * heartbeating; the activity worker (src/worker) heartbeats to AWS. */
#define AWS_DEFAULT_TIMEOUT_S 99999999LL
/* AWS: state input/output limit, 256 KiB of UTF-8. */
#define SW_DATA_LIMIT 262144

static void wake(branch *b);
static void enter_state(branch *b);
static void finish_state(branch *b, cJSON *result);
static void handle_error(branch *b, const char *error, const char *cause);
static void branch_fail(branch *b, const char *error, const char *cause,
                        bool keep_phase);
static void branch_succeed(branch *b, cJSON *output);
static void schedule_task(branch *b);
static void start_children(branch *b);
static void abort_branch(branch *b);
static void free_branch(branch *b);

/* ---- small helpers ---------------------------------------------------- */

static const char *phase_name(phase ph)
{
  static const char *names[] = {"enter", "task", "wait", "retry", "children",
                                "end"};
  return names[ph];
}

static phase phase_parse(const char *s)
{
  int i;
  for (i = 0; i <= PH_END; i++)
    if (s && !strcmp(s, phase_name((phase)i)))
      return (phase)i;
  return PH_ENTER;
}

static const char *status_name(bstatus s)
{
  static const char *names[] = {"RUNNING", "SUCCEEDED", "FAILED", "ABORTED"};
  return names[s];
}

static bstatus status_parse(const char *s)
{
  int i;
  for (i = 0; i <= BS_ABORTED; i++)
    if (s && !strcmp(s, status_name((bstatus)i)))
      return (bstatus)i;
  return BS_RUNNING;
}

static void set_fatal(sw_engine *eng, const sw_err *err)
{
  if (!eng->failed) {
    eng->failed = true;
    eng->fatal = *err;
    sw_log(SW_LOG_ERROR, "checkpoint store: %s", err->msg);
  }
}

void sw_engine_token(char out[65], const char *execution_id,
                     const char *branch_path, const char *state, int64_t step,
                     int attempt)
{
  char *s = sw_asprintf("%s/%s/%s#%lld.%d", execution_id, branch_path, state,
                        (long long)step, attempt);
  sw_sha256_hex(out, s, strlen(s));
  sw_free(s);
}

/* Events are written into the open transaction. */
static int64_t emit(exec *ex, const char *type, cJSON *details)
{
  sw_engine *eng = ex->eng;
  sw_store_event ev;
  sw_err err = SW_ERR_INIT;
  char *text;

  if (!details)
    details = cJSON_CreateObject();
  ev.id = ex->next_event++;
  ev.previous_id = ev.id - 1;
  ev.ts_ms = sw_time_now_ms();
  ev.type = type;
  /* One reusable buffer for every event's text: no allocation per event
   * once it has grown. */
  eng->scratch.len = 0;
  sw_json_write(&eng->scratch, details, NULL);
  text = eng->scratch.ptr;
  ev.details = text;
  if (!eng->failed && (sw_store_begin(eng->store, &err) < 0 ||
                       sw_store_append_event(eng->store, ex->id, &ev, &err) < 0))
    set_fatal(eng, &err);
  if (eng->opts.on_event)
    eng->opts.on_event(ex->id, type, details, eng->opts.payload);
  cJSON_Delete(details);
  return ev.id;
}

/* {"name": state, key: <value>}. The store keeps the value as JSON (one
 * serialisation per event); `stepwise history --json` shows it as the
 * JSON-encoded string Step Functions records. `value` is referenced, not
 * copied: it must outlive the emit() call. */
static cJSON *state_details(const char *name, const char *key,
                            const cJSON *value)
{
  cJSON *d = cJSON_CreateObject();
  cJSON_AddStringToObject(d, "name", name);
  if (key)
    cJSON_AddItemReferenceToObject(d, key, (cJSON *)value);
  return d;
}

static void mark_dirty(branch *b)
{
  if (!b->dirty && !b->dead) {
    b->dirty = true;
    b->next_dirty = b->ex->eng->dirty_head;
    b->ex->eng->dirty_head = b;
  }
}

static char *branch_data(const branch *b)
{
  cJSON *d = cJSON_CreateObject();
  char *s;

  cJSON_AddNumberToObject(d, "attempt", b->attempt);
  if (b->st && b->st->n_retry && b->retry_counts) {
    cJSON *r = cJSON_CreateArray();
    size_t i;
    for (i = 0; i < b->st->n_retry; i++)
      cJSON_AddItemToArray(r, cJSON_CreateNumber(b->retry_counts[i]));
    cJSON_AddItemToObject(d, "retry", r);
  }
  if (b->ph == PH_WAIT || b->ph == PH_RETRY)
    cJSON_AddNumberToObject(d, "due_ms", (double)b->due_ms);
  if (b->ph == PH_TASK)
    cJSON_AddStringToObject(d, "token", b->token);
  cJSON_AddNumberToObject(d, "entered_event", (double)b->entered_event);
  if (b->error)
    cJSON_AddStringToObject(d, "error", b->error);
  if (b->cause)
    cJSON_AddStringToObject(d, "cause", b->cause);
  if (b->vars)
    cJSON_AddItemReferenceToObject(d, "vars", b->vars);
  if (b->redrive_state) {
    cJSON_AddStringToObject(d, "redrive_state", b->redrive_state);
    cJSON_AddStringToObject(d, "redrive_input", b->redrive_input);
  }
  s = sw_json_print(d);
  cJSON_Delete(d);
  return s;
}

static void flush_dirty(sw_engine *eng)
{
  sw_err err = SW_ERR_INIT;
  branch *b = eng->dirty_head;

  eng->dirty_head = NULL;
  while (b) {
    branch *next = b->next_dirty;
    b->dirty = false;
    b->next_dirty = NULL;
    if (!b->dead && !eng->failed) {
      sw_store_branch row;
      char *input = b->input ? sw_json_print(b->input) : NULL;
      char *output = b->output ? sw_json_print(b->output) : NULL;
      char *data = branch_data(b);
      row.path = b->path;
      row.parent = b->parent ? b->parent->path : NULL;
      row.idx = b->idx;
      row.machine = b->m->pointer;
      row.state = b->st ? b->st->name : NULL;
      row.step = b->step;
      row.phase = phase_name(b->ph);
      row.input = input;
      row.data = data;
      row.status = status_name(b->status);
      row.output = output;
      if (sw_store_begin(eng->store, &err) < 0 ||
          sw_store_put_branch(eng->store, b->ex->id, &row, &err) < 0)
        set_fatal(eng, &err);
      sw_free(input);
      sw_free(output);
      sw_free(data);
    }
    b = next;
  }
}

/* The context object "$$" for the branch's current state. References the
 * execution's parts instead of copying them. */
static cJSON *make_context(branch *b, const cJSON *map_index,
                           const cJSON *map_value)
{
  exec *ex = b->ex;
  cJSON *ctx, *state;
  char ts[40];

  /* Most states never read "$$": skip building it (a hot path). */
  if (!b->st->uses_context && !map_index)
    return NULL;
  ctx = cJSON_CreateObject();
  state = cJSON_CreateObject();

  cJSON_AddItemReferenceToObject(ctx, "Execution", ex->ctx_execution);
  cJSON_AddItemReferenceToObject(ctx, "StateMachine", ex->ctx_machine);
  sw_time_format_iso(ts, sizeof(ts), b->entered_ms);
  cJSON_AddStringToObject(state, "EnteredTime", ts);
  cJSON_AddStringToObject(state, "Name", b->st->name);
  /* AWS shows RetryCount only where Retry applies. */
  if (b->st->type == SW_STATE_TASK || b->st->type == SW_STATE_PARALLEL ||
      b->st->type == SW_STATE_MAP)
    cJSON_AddNumberToObject(state, "RetryCount", b->attempt);
  cJSON_AddItemToObject(ctx, "State", state);
  if (b->st->type == SW_STATE_TASK && b->token[0]) {
    cJSON *task = cJSON_CreateObject();
    cJSON_AddStringToObject(task, "Token", b->token);
    cJSON_AddItemToObject(ctx, "Task", task);
  }
  if (map_index) {
    cJSON *map = cJSON_CreateObject();
    cJSON *item = cJSON_CreateObject();
    cJSON_AddItemToObject(item, "Index", sw_json_dup(map_index));
    cJSON_AddItemToObject(item, "Value", sw_json_dup(map_value));
    cJSON_AddItemToObject(map, "Item", item);
    cJSON_AddItemToObject(ctx, "Map", map);
  }
  return ctx;
}

/* The variables a state sees: its own branch's scope and every enclosing
 * one (Parallel branches and Map iterations read outer variables). One
 * scope is passed as is; several are merged into a view of references,
 * inner names over outer ones. *tmp gets what the caller must delete. */
static const cJSON *vars_view(branch *b, cJSON **tmp)
{
  const branch *x;
  int n = 0;

  *tmp = NULL;
  for (x = b; x; x = x->parent)
    n += x->vars && x->vars->child;
  if (n == 0)
    return NULL;
  if (n == 1) {
    for (x = b; x; x = x->parent)
      if (x->vars && x->vars->child)
        return x->vars;
  }
  *tmp = cJSON_CreateObject();
  for (x = b; x; x = x->parent) {
    const cJSON *v;
    if (!x->vars)
      continue;
    cJSON_ArrayForEach(v, x->vars)
    {
      if (!sw_json_get(*tmp, v->string))
        cJSON_AddItemReferenceToObject(*tmp, v->string, (cJSON *)v);
    }
  }
  return *tmp;
}

/* Everything an expression of the current state may read. Dispose with
 * env_dispose. */
typedef struct eval_env {
  sw_eval_env env;
  cJSON *ctx;
  cJSON *vars;
} eval_env;

static void env_init(eval_env *e, branch *b, const cJSON *input,
                     const cJSON *map_index, const cJSON *map_value)
{
  e->ctx = make_context(b, map_index, map_value);
  e->env.input = input;
  e->env.context = e->ctx;
  e->env.variables = vars_view(b, &e->vars);
}

static void env_dispose(eval_env *e)
{
  cJSON_Delete(e->ctx);
  cJSON_Delete(e->vars);
}

/* States.Runtime with AWS's cause prefix. */
static void runtime_error(branch *b, const sw_err *err)
{
  char *cause = sw_asprintf("An error occurred while executing the state "
                            "'%s' (entered at the event id #%lld). %s",
                            b->st->name, (long long)b->entered_event,
                            err->msg);
  handle_error(b, "States.Runtime", cause);
  sw_free(cause);
}

/* Apply an optional Path (InputPath/OutputPath) to `in` (borrowed). */
static int apply_path(cJSON **out, const sw_path *p, bool is_null,
                      const cJSON *in, branch *b, sw_err *err)
{
  eval_env e;
  int rc;

  if (is_null) {
    *out = cJSON_CreateObject();
    return 0;
  }
  if (!p || sw_path_is_root(p)) {
    *out = sw_json_dup(in);
    return 0;
  }
  env_init(&e, b, in, NULL, NULL);
  rc = sw_path_eval(out, p, &e.env, err);
  env_dispose(&e);
  return rc;
}

static int apply_template(cJSON **out, const sw_template *t, const cJSON *in,
                          branch *b, sw_err *err)
{
  eval_env e;
  int rc;

  env_init(&e, b, in, NULL, NULL);
  rc = sw_template_eval(out, t, &e.env, err);
  env_dispose(&e);
  return rc;
}

/* Evaluate an Assign block against `in` (the state's result, or its input
 * where it has none). Values are computed now, against the variables as
 * they were on entry, and applied by assign_apply after the state's output
 * (asl-semantics.md §12.6). *out is NULL when there is no Assign. */
static int assign_eval(cJSON **out, const sw_template *assign,
                       const cJSON *in, branch *b, sw_err *err)
{
  *out = NULL;
  if (!assign)
    return 0;
  return apply_template(out, assign, in, b, err);
}

/* Add "assignedVariables" (values as JSON text, as AWS records them) to an
 * Exited event's details. */
static void assign_details(cJSON *details, const cJSON *assigned)
{
  cJSON *av;
  const cJSON *v;

  if (!assigned)
    return;
  av = cJSON_CreateObject();
  cJSON_ArrayForEach(v, assigned)
  {
    char *text = sw_json_print(v);
    cJSON_AddStringToObject(av, v->string, text);
    sw_free(text);
  }
  cJSON_AddItemToObject(details, "assignedVariables", av);
}

/* Apply evaluated assignments to the branch's scope (consumes them). */
static void assign_apply(branch *b, cJSON *assigned)
{
  cJSON *v;

  if (!assigned)
    return;
  if (!b->vars)
    b->vars = cJSON_CreateObject();
  while ((v = assigned->child)) {
    /* cJSON frees the item's old key before copying the new one: pass a
     * copy, never the item's own key. */
    char *key = sw_strdup(v->string);
    cJSON_DetachItemViaPointer(assigned, v);
    sw_json_set(b->vars, key, v);
    sw_free(key);
  }
  cJSON_Delete(assigned);
  mark_dirty(b);
}

/* InputPath then Parameters: the effective input. */
static int input_stage(cJSON **out, branch *b, sw_err *err)
{
  cJSON *eff = NULL;
  int rc;

  *out = NULL;
  rc = apply_path(&eff, b->st->input_path, b->st->input_path_null, b->input,
                  b, err);
  if (rc < 0)
    return rc;
  if (b->st->parameters && b->st->type != SW_STATE_MAP) {
    cJSON *p = NULL;
    rc = apply_template(&p, b->st->parameters, eff, b, err);
    cJSON_Delete(eff);
    if (rc < 0)
      return rc;
    eff = p;
  }
  *out = eff;
  return 0;
}

static void timer_closed(uv_handle_t *h)
{
  branch *b = SW_CONTAINER_OF((uv_timer_t *)h, branch, timer);
  sw_free(b);
}

static void on_timer(uv_timer_t *t)
{
  branch *b = SW_CONTAINER_OF(t, branch, timer);

  if (b->ph == PH_TASK) {
    /* ASL: TimeoutSeconds expired: the task fails with States.Timeout. */
    if (b->task) {
      sw_task_cancel(b->task);
      b->task = NULL;
    }
    if (!b->has_outcome) {
      b->has_outcome = true;
      b->timed_out = true;
      b->out_error = sw_strdup("States.Timeout");
      b->out_cause = sw_strdup("Task timed out.");
    }
  } else {
    b->fired = true;
  }
  wake(b);
}

static void start_timer(branch *b, int64_t delay_ms)
{
  if (!b->timer_init) {
    uv_timer_init(b->ex->eng->loop, &b->timer);
    b->timer_init = true;
  }
  b->fired = false;
  uv_timer_start(&b->timer, on_timer, delay_ms > 0 ? (uint64_t)delay_ms : 0,
                 0);
}

static void stop_timer(branch *b)
{
  if (b->timer_init)
    uv_timer_stop(&b->timer);
}

/* ---- the ready queue and the pump -------------------------------------- */

static void pump_cb(uv_idle_t *idle);

static void pump_start(sw_engine *eng)
{
  if (!eng->pump_active) {
    uv_idle_start(&eng->pump, pump_cb);
    eng->pump_active = true;
  }
}

static void wake(branch *b)
{
  sw_engine *eng = b->ex->eng;

  if (b->queued || b->dead)
    return;
  b->queued = true;
  b->next_ready = NULL;
  if (eng->ready_tail)
    eng->ready_tail->next_ready = b;
  else
    eng->ready_head = b;
  eng->ready_tail = b;
  pump_start(eng);
}

static void defer_invoke(branch *b)
{
  sw_engine *eng = b->ex->eng;

  if (b->deferred)
    return;
  b->deferred = true;
  b->next_deferred = eng->deferred_head;
  eng->deferred_head = b;
  pump_start(eng);
}

static void on_task_done(sw_task_outcome *o, void *payload)
{
  branch *b = payload;

  b->task = NULL;
  if (b->ph == PH_TASK)
    stop_timer(b);
  if (b->has_outcome) {
    cJSON_Delete(o->output);
    return;
  }
  b->has_outcome = true;
  sw_free(b->out_external_id);
  b->out_external_id = sw_strdup(o->external_id);
  b->out_output = o->output;
  o->output = NULL;
  if (!b->out_output) {
    b->out_error = sw_strdup(o->error ? o->error : "States.TaskFailed");
    b->out_cause = sw_strdup(o->cause);
  }
  wake(b);
}

static void invoke_task(branch *b)
{
  sw_engine *eng = b->ex->eng;
  sw_task_call call;
  sw_err err = SW_ERR_INIT;
  int64_t timeout_s = b->st->timeout_s;

  call.resource = b->st->resource;
  call.parameters = b->params;
  call.token = b->token;
  if (b->st->timeout_path) {
    cJSON *v = NULL;
    if (apply_path(&v, b->st->timeout_path, false, b->input, b, &err) == 0 &&
        cJSON_IsNumber(v) && v->valuedouble > 0)
      timeout_s = (int64_t)v->valuedouble;
    cJSON_Delete(v);
  }
  if (sw_resources_invoke(&b->task, eng->res, &call, on_task_done, b, &err) <
      0) {
    b->task = NULL;
    b->has_outcome = true;
    b->out_error = sw_strdup("States.Runtime");
    b->out_cause = sw_strdup(err.msg);
    wake(b);
    return;
  }
  /* The outcome may have arrived synchronously: no timer then. */
  /* The timeout counts from when the task was scheduled, also across a
   * resume (the time already spent is not given again). */
  if (b->task && !b->has_outcome && timeout_s > 0 &&
      timeout_s < AWS_DEFAULT_TIMEOUT_S)
    start_timer(b, timeout_s * 1000 - (sw_time_now_ms() - b->task_ms));
}

static void run_branch(branch *b, int *budget);

static void exec_free(exec *ex);

static void pump_cb(uv_idle_t *idle)
{
  sw_engine *eng = SW_CONTAINER_OF(idle, sw_engine, pump);
  int budget = eng->opts.step_budget > 0 ? eng->opts.step_budget : 4096;
  sw_err err = SW_ERR_INIT;
  branch *d;
  exec *ex;

  while (eng->ready_head && budget > 0 && !eng->failed) {
    branch *b = eng->ready_head;
    eng->ready_head = b->next_ready;
    if (!eng->ready_head)
      eng->ready_tail = NULL;
    b->queued = false;
    b->next_ready = NULL;
    run_branch(b, &budget);
  }
  flush_dirty(eng);
  if (!eng->failed && sw_store_commit(eng->store, &err) < 0)
    set_fatal(eng, &err);
  if (eng->failed) {
    /* The store cannot record progress: stop issuing effects. What was
     * committed before stays resumable. */
    sw_store_rollback(eng->store);
    uv_idle_stop(&eng->pump);
    eng->pump_active = false;
    uv_stop(eng->loop);
    return;
  }
  /* Only now, with the TaskScheduled events durable, issue the effects. */
  d = eng->deferred_head;
  eng->deferred_head = NULL;
  while (d) {
    branch *next = d->next_deferred;
    d->deferred = false;
    d->next_deferred = NULL;
    if (!d->dead && d->ph == PH_TASK && !d->task && !d->has_outcome)
      invoke_task(d);
    d = next;
  }
  /* Report finished executions after their final status committed. */
  while ((ex = eng->done_head)) {
    eng->done_head = ex->next_done;
    ex->done_pending = false;
    if (eng->opts.on_done)
      eng->opts.on_done(ex->id, ex->final_status, eng->opts.payload);
    exec_free(ex);
  }
  if (!eng->ready_head && !eng->deferred_head) {
    uv_idle_stop(&eng->pump);
    eng->pump_active = false;
  }
}

/* ---- state processing ------------------------------------------------- */

static const char *entered_type(sw_state_type t)
{
  switch (t) {
  case SW_STATE_PASS: return "PassStateEntered";
  case SW_STATE_TASK: return "TaskStateEntered";
  case SW_STATE_CHOICE: return "ChoiceStateEntered";
  case SW_STATE_WAIT: return "WaitStateEntered";
  case SW_STATE_SUCCEED: return "SucceedStateEntered";
  case SW_STATE_FAIL: return "FailStateEntered";
  case SW_STATE_PARALLEL: return "ParallelStateEntered";
  case SW_STATE_MAP: return "MapStateEntered";
  }
  return "StateEntered";
}

static const char *exited_type(sw_state_type t)
{
  switch (t) {
  case SW_STATE_PASS: return "PassStateExited";
  case SW_STATE_TASK: return "TaskStateExited";
  case SW_STATE_CHOICE: return "ChoiceStateExited";
  case SW_STATE_WAIT: return "WaitStateExited";
  case SW_STATE_SUCCEED: return "SucceedStateExited";
  case SW_STATE_FAIL: return "FailStateExited";
  case SW_STATE_PARALLEL: return "ParallelStateExited";
  case SW_STATE_MAP: return "MapStateExited";
  }
  return "StateExited";
}

/* Move to the next state with `output` (consumed), or end the branch. */
static void transition(branch *b, const char *next, int next_index,
                       cJSON *output)
{
  (void)next;
  stop_timer(b);
  if (next_index < 0) {
    branch_succeed(b, output);
    return;
  }
  cJSON_Delete(b->input);
  b->input = output;
  b->st = &b->m->states[next_index];
  b->ph = PH_ENTER;
  b->attempt = 0;
  b->token[0] = '\0';
  sw_free(b->retry_counts);
  b->retry_counts = NULL;
  mark_dirty(b);
}

/* ResultSelector, ResultPath, OutputPath; then exit and move on. */
static void finish_state(branch *b, cJSON *result)
{
  const sw_asl_state *st = b->st;
  sw_err err = SW_ERR_INIT;
  cJSON *doc = NULL, *out = NULL, *assigned = NULL;
  int rc;

  /* AWS: a result over 256 KiB fails with States.DataLimitExceeded. */
  if (result && sw_json_size(result) > SW_DATA_LIMIT) {
    char *cause = sw_asprintf("The state/task '%s' returned a result with a "
                              "size exceeding the maximum number of bytes "
                              "service limit.",
                              st->name);
    cJSON_Delete(result);
    handle_error(b, "States.DataLimitExceeded", cause);
    sw_free(cause);
    return;
  }
  if (st->result_selector) {
    cJSON *sel = NULL;
    rc = apply_template(&sel, st->result_selector, result, b, &err);
    cJSON_Delete(result);
    if (rc < 0)
      goto fail;
    result = sel;
  }
  if (assign_eval(&assigned, st->assign, result, b, &err) < 0)
    goto fail;
  /* ASL: "ResultPath": null discards the result and keeps the input. */
  if (st->result_path_null) {
    cJSON_Delete(result);
    doc = sw_json_dup(b->input);
  } else if (!st->result_path || sw_path_is_root(st->result_path)) {
    doc = result;
  } else {
    doc = sw_json_dup(b->input);
    rc = sw_path_assign(&doc, st->result_path, result, &err);
    if (rc < 0)
      goto fail;
  }
  result = NULL;
  rc = apply_path(&out, st->output_path, st->output_path_null, doc, b, &err);
  cJSON_Delete(doc);
  doc = NULL;
  if (rc < 0)
    goto fail;
  {
    cJSON *d = state_details(st->name, "output", out);
    assign_details(d, assigned);
    emit(b->ex, exited_type(st->type), d);
  }
  assign_apply(b, assigned);
  transition(b, st->next, st->end ? -1 : st->next_index, out);
  return;
fail:
  cJSON_Delete(result);
  cJSON_Delete(doc);
  cJSON_Delete(assigned);
  runtime_error(b, &err);
}

static bool error_matches(const sw_asl_state *st, const char *error,
                          char *const *list, size_t n)
{
  size_t i;

  for (i = 0; i < n; i++) {
    /* AWS: States.ALL matches neither States.Runtime nor
     * States.DataLimitExceeded (asl-semantics.md §9.4). */
    if (!strcmp(list[i], "States.ALL"))
      return strcmp(error, "States.Runtime") != 0 &&
             strcmp(error, "States.DataLimitExceeded") != 0;
    if (!strcmp(list[i], error))
      return true;
    /* States.TaskFailed in a Task matches any error but States.Timeout. */
    if (st->type == SW_STATE_TASK && !strcmp(list[i], "States.TaskFailed") &&
        strcmp(error, "States.Timeout") != 0 &&
        strcmp(error, "States.Runtime") != 0 &&
        strcmp(error, "States.DataLimitExceeded") != 0)
      return true;
  }
  return false;
}

/* Retry delay in ms for the n-th retry (0-based) of retrier r. */
static int64_t retry_delay_ms(const sw_asl_retrier *r, int n)
{
  double d = r->interval_s * pow(r->backoff_rate, n);

  if (r->max_delay_s > 0 && d > r->max_delay_s)
    d = r->max_delay_s;
  if (r->jitter_full)
    d = d * ((double)rand() / ((double)RAND_MAX + 1.0));
  return (int64_t)(d * 1000.0);
}

static void delete_kids(branch *b)
{
  sw_err err = SW_ERR_INIT;
  size_t i;

  if (!b->kids)
    return;
  /* Rows first (pending writes of kids must not outlive their delete). */
  flush_dirty(b->ex->eng);
  if (!b->ex->eng->failed &&
      (sw_store_begin(b->ex->eng->store, &err) < 0 ||
       sw_store_delete_branches_below(b->ex->eng->store, b->ex->id, b->path,
                                      &err) < 0))
    set_fatal(b->ex->eng, &err);
  for (i = 0; i < b->n_kids; i++)
    if (b->kids[i])
      free_branch(b->kids[i]);
  sw_free(b->kids);
  b->kids = NULL;
  b->n_kids = b->n_started = b->n_done = 0;
  b->failed_kid = NULL;
}

static void handle_error(branch *b, const char *error, const char *cause)
{
  const sw_asl_state *st = b->st;
  size_t i;

  /* AWS: States.Runtime and States.DataLimitExceeded are never retried. */
  for (i = 0; i < st->n_retry && strcmp(error, "States.Runtime") != 0 &&
              strcmp(error, "States.DataLimitExceeded") != 0;
       i++) {
    const sw_asl_retrier *r = &st->retry[i];
    if (!error_matches(st, error, r->error_equals, r->n_error_equals))
      continue;
    /* ASL: the first matching retrier decides; when its attempts are
     * spent there is no retry (no fall-through to later retriers). */
    if (!b->retry_counts)
      b->retry_counts = sw_calloc(st->n_retry, sizeof(int));
    if (b->retry_counts[i] < r->max_attempts) {
      int64_t delay = retry_delay_ms(r, b->retry_counts[i]);
      b->retry_counts[i]++;
      b->attempt++;
      b->ph = PH_RETRY;
      b->due_ms = sw_time_now_ms() + delay;
      mark_dirty(b);
      start_timer(b, delay);
      return;
    }
    break;
  }
  for (i = 0; i < st->n_catch; i++) {
    const sw_asl_catcher *c = &st->catchers[i];
    cJSON *eo, *doc;
    sw_err err = SW_ERR_INIT;
    if (!error_matches(st, error, c->error_equals, c->n_error_equals))
      continue;
    delete_kids(b);
    eo = cJSON_CreateObject();
    cJSON_AddStringToObject(eo, "Error", error);
    cJSON_AddStringToObject(eo, "Cause", cause ? cause : "");
    if (c->result_path_null) {
      cJSON_Delete(eo);
      doc = sw_json_dup(b->input);
    } else if (!c->result_path || sw_path_is_root(c->result_path)) {
      doc = eo;
    } else {
      doc = sw_json_dup(b->input);
      if (sw_path_assign(&doc, c->result_path, eo, &err) < 0) {
        cJSON_Delete(doc);
        branch_fail(b, "States.Runtime", err.msg, false);
        return;
      }
    }
    {
      /* A catcher's Assign reads the error output and writes this
       * branch's scope (for a Parallel or Map: the outer one). */
      cJSON *eo2 = cJSON_CreateObject(), *assigned = NULL, *d;
      cJSON_AddStringToObject(eo2, "Error", error);
      cJSON_AddStringToObject(eo2, "Cause", cause ? cause : "");
      if (assign_eval(&assigned, c->assign, eo2, b, &err) < 0) {
        cJSON_Delete(eo2);
        cJSON_Delete(doc);
        branch_fail(b, "States.Runtime", err.msg, false);
        return;
      }
      cJSON_Delete(eo2);
      d = state_details(st->name, "output", doc);
      assign_details(d, assigned);
      emit(b->ex, exited_type(st->type), d);
      assign_apply(b, assigned);
    }
    transition(b, c->next, c->next_index, doc);
    return;
  }
  branch_fail(b, error, cause, false);
}

static void finish_exec(exec *ex, const char *status, const cJSON *output,
                        const char *error, const char *cause)
{
  sw_engine *eng = ex->eng;
  sw_err err = SW_ERR_INIT;
  char *out = output ? sw_json_print(output) : NULL;
  cJSON *d = cJSON_CreateObject();
  const char *type;

  if (!strcmp(status, "SUCCEEDED")) {
    type = "ExecutionSucceeded";
    cJSON_AddItemReferenceToObject(d, "output", (cJSON *)output);
  } else if (!strcmp(status, "TIMED_OUT") || !strcmp(status, "ABORTED")) {
    type = status[0] == 'A' ? "ExecutionAborted" : "ExecutionTimedOut";
    if (error)
      cJSON_AddStringToObject(d, "error", error);
    if (cause)
      cJSON_AddStringToObject(d, "cause", cause);
  } else {
    type = "ExecutionFailed";
    if (error)
      cJSON_AddStringToObject(d, "error", error);
    if (cause)
      cJSON_AddStringToObject(d, "cause", cause);
  }
  emit(ex, type, d);
  if (!eng->failed &&
      sw_store_finish_execution(eng->store, ex->id, status, sw_time_now_ms(),
                                out, error, cause, &err) < 0)
    set_fatal(eng, &err);
  sw_free(out);
  ex->finished = true;
  snprintf(ex->final_status, sizeof(ex->final_status), "%s", status);
  if (ex->timeout_init)
    uv_timer_stop(&ex->timeout);
  eng->running--;
  if (!ex->done_pending) {
    ex->done_pending = true;
    ex->next_done = eng->done_head;
    eng->done_head = ex;
  }
  pump_start(eng);
}

/* Map failure tolerance (ToleratedFailureCount/Percentage): a failed
 * iteration within it counts as done, its result being its error; past
 * it the Map fails with States.ExceedToleratedFailureThreshold. */
static bool tolerates(const branch *p)
{
  return p->st->type == SW_STATE_MAP &&
         (p->tol_count > 0 || p->tol_percent > 0);
}

static bool tolerance_exceeded(const branch *p)
{
  return (p->tol_count < 0 || (int64_t)p->n_failed > p->tol_count) &&
         (p->tol_percent < 0 ||
          (double)p->n_failed * 100.0 / (double)(p->n_kids ? p->n_kids : 1) >
              p->tol_percent);
}

static void tolerate_kid(branch *p, branch *kid)
{
  cJSON *eo = cJSON_CreateObject();

  cJSON_AddStringToObject(eo, "Error", kid->error ? kid->error : "");
  cJSON_AddStringToObject(eo, "Cause", kid->cause ? kid->cause : "");
  cJSON_Delete(kid->output);
  kid->output = eo;
  p->n_failed++;
  p->n_done++;
}

static void kid_finished(branch *kid)
{
  branch *p = kid->parent;

  if (!p || p->status != BS_RUNNING || p->ph != PH_CHILDREN)
    return;
  if (kid->status == BS_SUCCEEDED) {
    p->n_done++;
  } else if (tolerates(p) && kid->status == BS_FAILED) {
    tolerate_kid(p, kid);
    if (tolerance_exceeded(p) && !p->failed_kid) {
      sw_free(kid->error);
      sw_free(kid->cause);
      kid->error = sw_strdup("States.ExceedToleratedFailureThreshold");
      kid->cause = sw_strdup("The specified tolerated failure threshold "
                             "was exceeded");
      p->failed_kid = kid;
    }
  } else if (!p->failed_kid) {
    p->failed_kid = kid;
  }
  wake(p);
}

/* MaxConcurrency(Path) of a Map branch, evaluated against its effective
 * input (at start and again on resume). */
static int map_concurrency(branch *b, sw_err *err)
{
  const sw_asl_state *st = b->st;
  cJSON *v = NULL;
  char *text;

  b->max_concurrency = st->max_concurrency;
  if (!st->max_concurrency_path)
    return 0;
  if (apply_path(&v, st->max_concurrency_path, false, b->eff_input, b,
                 err) < 0)
    return SW_EINVAL;
  if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
      v->valuedouble < 0) {
    text = cJSON_IsString(v) ? sw_strdup(v->valuestring) : sw_json_print(v);
    sw_err_set(err, SW_EINVAL, SW_ORIGIN_ASL, 0,
               "The MaxConcurrencyPath field refers to value \"%s\" "
               "which is not a valid integer: %s",
               text, sw_path_text(st->max_concurrency_path));
    sw_free(text);
    cJSON_Delete(v);
    return SW_EINVAL;
  }
  b->max_concurrency = (int)v->valuedouble;
  cJSON_Delete(v);
  return 0;
}

/* Read ToleratedFailureCount(Path)/Percentage(Path) for a Map branch. */
static int map_tolerance(branch *b, sw_err *err)
{
  const sw_asl_state *st = b->st;
  cJSON *v = NULL;
  char *text;

  b->tol_count = st->tolerated_count;
  b->tol_percent = st->tolerated_percent;
  if (st->tolerated_count_path) {
    if (apply_path(&v, st->tolerated_count_path, false, b->eff_input, b,
                   err) < 0)
      return SW_EINVAL;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble)) {
      text = cJSON_IsString(v) ? sw_strdup(v->valuestring) : sw_json_print(v);
      sw_err_set(err, SW_EINVAL, SW_ORIGIN_ASL, 0,
                 "The ToleratedFailureCountPath field refers to value \"%s\" "
                 "which is not a valid integer: %s",
                 text, sw_path_text(st->tolerated_count_path));
      sw_free(text);
      cJSON_Delete(v);
      return SW_EINVAL;
    }
    b->tol_count = (int64_t)v->valuedouble;
    cJSON_Delete(v);
    v = NULL;
  }
  if (b->tol_count < -1 || (st->tolerated_count_path && b->tol_count < 0))
    return sw_err_set(err, SW_EINVAL, SW_ORIGIN_ASL, 0,
                      "ToleratedFailureCount cannot be negative.");
  if (st->tolerated_percent_path) {
    if (apply_path(&v, st->tolerated_percent_path, false, b->eff_input, b,
                   err) < 0)
      return SW_EINVAL;
    if (!cJSON_IsNumber(v)) {
      text = cJSON_IsString(v) ? sw_strdup(v->valuestring) : sw_json_print(v);
      sw_err_set(err, SW_EINVAL, SW_ORIGIN_ASL, 0,
                 "The ToleratedFailurePercentagePath field refers to value "
                 "\"%s\" which is not a valid float: %s",
                 text, sw_path_text(st->tolerated_percent_path));
      sw_free(text);
      cJSON_Delete(v);
      return SW_EINVAL;
    }
    b->tol_percent = v->valuedouble;
    cJSON_Delete(v);
    if (b->tol_percent < 0 || b->tol_percent > 100)
      return sw_err_set(err, SW_EINVAL, SW_ORIGIN_ASL, 0,
                        "ToleratedFailurePercentage must be between 0 and "
                        "100.");
  }
  return 0;
}

static void branch_succeed(branch *b, cJSON *output)
{
  cJSON_Delete(b->output);
  b->output = output;
  b->status = BS_SUCCEEDED;
  b->ph = PH_END;
  mark_dirty(b);
  if (!b->parent)
    finish_exec(b->ex, "SUCCEEDED", output, NULL, NULL);
  else
    kid_finished(b);
}

/* Fail the branch at its current state. keep_phase: a Parallel/Map that
 * failed because of a child keeps its children for a redrive. */
static void branch_fail(branch *b, const char *error, const char *cause,
                        bool keep_phase)
{
  sw_free(b->error);
  sw_free(b->cause);
  b->error = sw_strdup(error);
  b->cause = sw_strdup(cause);
  b->status = BS_FAILED;
  if (!keep_phase)
    b->ph = PH_ENTER; /* a redrive re-enters the state that failed */
  mark_dirty(b);
  if (!b->parent)
    finish_exec(b->ex, "FAILED", NULL, error, cause);
  else
    kid_finished(b);
}

/* Stop a running branch and its children: cancel tasks and timers. */
static void abort_branch(branch *b)
{
  size_t i;

  if (b->status != BS_RUNNING)
    return;
  for (i = 0; i < b->n_kids; i++)
    if (b->kids[i])
      abort_branch(b->kids[i]);
  if (b->task) {
    sw_task_cancel(b->task);
    b->task = NULL;
  }
  stop_timer(b);
  b->status = BS_ABORTED;
  if (b->ph != PH_CHILDREN)
    b->ph = PH_ENTER; /* a redrive re-enters where it stopped */
  mark_dirty(b);
}

static void schedule_task(branch *b)
{
  exec *ex = b->ex;
  sw_engine *eng = ex->eng;
  sw_err err = SW_ERR_INIT;
  sw_store_task t;
  cJSON *d;
  char *params = sw_json_print(b->params);

  sw_engine_token(b->token, ex->id, b->path, b->st->name, b->step, b->attempt);
  d = cJSON_CreateObject();
  cJSON_AddStringToObject(d, "resourceType", "stepwise");
  cJSON_AddStringToObject(d, "resource", b->st->resource);
  cJSON_AddStringToObject(d, "region", "local");
  cJSON_AddItemReferenceToObject(d, "parameters", b->params);
  cJSON_AddStringToObject(d, "token", b->token);
  if (b->st->timeout_s)
    cJSON_AddNumberToObject(d, "timeoutInSeconds", (double)b->st->timeout_s);
  emit(ex, "TaskScheduled", d);
  t.token = b->token;
  t.branch = b->path;
  t.state = b->st->name;
  t.attempt = b->attempt;
  t.resource = b->st->resource;
  t.parameters = params;
  t.external_id = NULL;
  t.status = "SCHEDULED";
  t.scheduled_ms = sw_time_now_ms();
  b->task_ms = t.scheduled_ms;
  if (!eng->failed && sw_store_put_task(eng->store, ex->id, &t, &err) < 0)
    set_fatal(eng, &err);
  sw_free(params);
  b->ph = PH_TASK;
  b->has_outcome = false;
  b->timed_out = false;
  mark_dirty(b);
  defer_invoke(b);
}

static void task_outcome(branch *b)
{
  exec *ex = b->ex;
  sw_engine *eng = ex->eng;
  sw_err err = SW_ERR_INIT;
  cJSON *d;

  b->has_outcome = false;
  stop_timer(b);
  if (b->out_output) {
    cJSON *out = b->out_output;
    const char *ext = b->out_external_id;
    b->out_output = NULL;
    if (ext) {
      /* The external id (statement Id) of the work the task submitted. */
      d = cJSON_CreateObject();
      cJSON_AddStringToObject(d, "resource", b->st->resource);
      cJSON_AddStringToObject(d, "externalId", ext);
      emit(ex, "TaskSubmitted", d);
      sw_free(b->redrive_state);
      sw_free(b->redrive_input);
      b->redrive_state = sw_strdup(b->st->name);
      b->redrive_input = sw_json_print(b->input);
    }
    d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "resource", b->st->resource);
    cJSON_AddItemReferenceToObject(d, "output", out);
    emit(ex, "TaskSucceeded", d);
    if (!eng->failed &&
        sw_store_set_task_status(eng->store, ex->id, b->token, "SUCCEEDED",
                                 ext, &err) < 0)
      set_fatal(eng, &err);
    sw_free(b->out_external_id);
    b->out_external_id = NULL;
    cJSON_Delete(b->params);
    b->params = NULL;
    finish_state(b, out);
    return;
  }
  d = cJSON_CreateObject();
  cJSON_AddStringToObject(d, "resource", b->st->resource);
  cJSON_AddStringToObject(d, "error", b->out_error);
  if (b->out_cause)
    cJSON_AddStringToObject(d, "cause", b->out_cause);
  emit(ex, b->timed_out ? "TaskTimedOut" : "TaskFailed", d);
  if (!eng->failed &&
      sw_store_set_task_status(eng->store, ex->id, b->token, "FAILED", NULL,
                               &err) < 0)
    set_fatal(eng, &err);
  {
    char *e = b->out_error, *c = b->out_cause;
    b->out_error = b->out_cause = NULL;
    handle_error(b, e, c);
    sw_free(e);
    sw_free(c);
  }
}

/* Wait: the due time in epoch ms from Seconds/Timestamp(Path). */
static int wait_due(int64_t *due, branch *b, const cJSON *eff, sw_err *err)
{
  const sw_asl_state *st = b->st;
  cJSON *v = NULL;
  int rc;

  if (st->has_seconds) {
    *due = b->entered_ms + st->seconds * 1000;
    return 0;
  }
  if (st->has_timestamp) {
    *due = st->timestamp_ms;
    return 0;
  }
  {
    const sw_path *p = st->seconds_path ? st->seconds_path : st->timestamp_path;
    const char *field = st->seconds_path ? "SecondsPath" : "TimestampPath";
    rc = apply_path(&v, p, false, eff, b, err);
    if (rc < 0)
      return sw_err_set(err, SW_EINVAL, SW_ORIGIN_ASL, 0,
                        "The %s parameter does not reference an input "
                        "value: %s",
                        field, sw_path_text(p));
  }
  if (st->seconds_path) {
    char *text = cJSON_IsString(v) ? sw_strdup(v->valuestring)
                                   : sw_json_print(v);
    const char *pt = sw_path_text(st->seconds_path);
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble))
      rc = sw_err_set(err, SW_EINVAL, SW_ORIGIN_ASL, 0,
                      "The SecondsPath parameter cannot be parsed as a long "
                      "value: %s == %s",
                      pt, text);
    else if (v->valuedouble < 0)
      rc = sw_err_set(err, SW_EINVAL, SW_ORIGIN_ASL, 0,
                      "The SecondsPath parameter references a negative "
                      "value: %s == %s",
                      pt, text);
    sw_free(text);
    if (rc < 0) {
      cJSON_Delete(v);
      return rc;
    }
    *due = b->entered_ms + (int64_t)v->valuedouble * 1000;
  } else {
    if (!cJSON_IsString(v) || sw_time_parse_rfc3339(due, v->valuestring) < 0) {
      char *text = cJSON_IsString(v) ? sw_strdup(v->valuestring)
                                     : sw_json_print(v);
      rc = sw_err_set(err, SW_EINVAL, SW_ORIGIN_ASL, 0,
                      "The TimestampPath parameter does not reference a "
                      "valid ISO-8601 extended offset date-time format "
                      "string: %s == %s",
                      sw_path_text(st->timestamp_path), text);
      sw_free(text);
      cJSON_Delete(v);
      return rc;
    }
  }
  cJSON_Delete(v);
  return 0;
}

static int fail_field(char **out, const char *lit, const sw_path *p,
                      const char *intrinsic, branch *b, sw_err *err)
{
  cJSON *v = NULL;
  int rc;

  *out = NULL;
  if (lit) {
    *out = sw_strdup(lit);
    return 0;
  }
  if (p) {
    rc = apply_path(&v, p, false, b->input, b, err);
  } else if (intrinsic) {
    eval_env e;
    env_init(&e, b, b->input, NULL, NULL);
    rc = sw_intrinsic_eval(&v, intrinsic, &e.env, err);
    env_dispose(&e);
  } else {
    return 0;
  }
  if (rc < 0)
    return rc;
  *out = cJSON_IsString(v) ? sw_strdup(v->valuestring) : sw_json_print(v);
  cJSON_Delete(v);
  return 0;
}

static void enter_state(branch *b)
{
  const sw_asl_state *st = b->st;
  exec *ex = b->ex;
  sw_err err = SW_ERR_INIT;
  cJSON *eff = NULL;
  size_t i;

  b->step++;
  b->entered_ms = sw_time_now_ms();
  b->attempt = 0;
  b->token[0] = '\0';
  sw_free(b->retry_counts);
  b->retry_counts = NULL;
  sw_free(b->error);
  sw_free(b->cause);
  b->error = b->cause = NULL;
  b->entered_event =
      emit(ex, entered_type(st->type), state_details(st->name, "input",
                                                     b->input));
  mark_dirty(b);

  switch (st->type) {
  case SW_STATE_PASS:
    if (input_stage(&eff, b, &err) < 0)
      goto runtime;
    if (st->result) {
      cJSON_Delete(eff);
      eff = sw_json_dup(st->result);
    }
    finish_state(b, eff);
    return;

  case SW_STATE_TASK:
    if (input_stage(&eff, b, &err) < 0)
      goto runtime;
    if (st->timeout_path) {
      /* AWS: a TimeoutSecondsPath that selects nothing or no positive
       * integer fails the state (States.Runtime). */
      cJSON *v = NULL;
      if (apply_path(&v, st->timeout_path, false, b->input, b, &err) < 0)
        goto runtime;
      if (!cJSON_IsNumber(v) || v->valuedouble < 1 ||
          v->valuedouble != floor(v->valuedouble)) {
        char *text = sw_json_print(v);
        sw_err_set(&err, SW_EINVAL, SW_ORIGIN_ASL, 0,
                   "The TimeoutSecondsPath parameter does not reference a "
                   "valid positive integer: %s == %s",
                   sw_path_text(st->timeout_path), text);
        sw_free(text);
        cJSON_Delete(v);
        goto runtime;
      }
      cJSON_Delete(v);
    }
    cJSON_Delete(b->params);
    b->params = eff;
    schedule_task(b);
    return;

  case SW_STATE_CHOICE: {
    const char *next = NULL;
    int next_index = -1;
    const sw_template *assign = st->assign;
    cJSON *out = NULL, *assigned = NULL, *d;
    eval_env e;
    if (apply_path(&eff, st->input_path, st->input_path_null, b->input, b,
                   &err) < 0)
      goto runtime;
    env_init(&e, b, eff, NULL, NULL);
    for (i = 0; i < st->n_choices; i++) {
      bool match = false;
      if (sw_rule_eval(&match, st->choices[i].rule, &e.env, &err) < 0) {
        env_dispose(&e);
        goto runtime;
      }
      if (match) {
        next = st->choices[i].next;
        next_index = st->choices[i].next_index;
        /* A matching rule's Assign replaces the state's. */
        if (st->choices[i].assign)
          assign = st->choices[i].assign;
        break;
      }
    }
    env_dispose(&e);
    if (!next) {
      next = st->default_next;
      next_index = st->default_index;
    }
    if (!next) {
      cJSON_Delete(eff);
      handle_error(b, "States.NoChoiceMatched", "No Matches!");
      return;
    }
    if (assign_eval(&assigned, assign, eff, b, &err) < 0 ||
        apply_path(&out, st->output_path, st->output_path_null, eff, b,
                   &err) < 0) {
      cJSON_Delete(assigned);
      goto runtime;
    }
    cJSON_Delete(eff);
    d = state_details(st->name, "output", out);
    assign_details(d, assigned);
    emit(ex, exited_type(st->type), d);
    assign_apply(b, assigned);
    transition(b, next, next_index, out);
    return;
  }

  case SW_STATE_WAIT:
    if (apply_path(&eff, st->input_path, st->input_path_null, b->input, b,
                   &err) < 0)
      goto runtime;
    if (wait_due(&b->due_ms, b, eff, &err) < 0)
      goto runtime;
    cJSON_Delete(eff);
    b->ph = PH_WAIT;
    mark_dirty(b);
    start_timer(b, b->due_ms - sw_time_now_ms());
    return;

  case SW_STATE_SUCCEED: {
    cJSON *out = NULL;
    if (apply_path(&eff, st->input_path, st->input_path_null, b->input, b,
                   &err) < 0)
      goto runtime;
    if (apply_path(&out, st->output_path, st->output_path_null, eff, b,
                   &err) < 0)
      goto runtime;
    cJSON_Delete(eff);
    emit(ex, exited_type(st->type), state_details(st->name, "output", out));
    branch_succeed(b, out);
    return;
  }

  case SW_STATE_FAIL: {
    char *error = NULL, *cause = NULL;
    if (fail_field(&error, st->error, st->error_path, st->error_path_intrinsic,
                   b, &err) < 0 ||
        fail_field(&cause, st->cause, st->cause_path, st->cause_path_intrinsic,
                   b, &err) < 0) {
      sw_free(error);
      goto runtime;
    }
    branch_fail(b, error ? error : "", cause, false);
    sw_free(error);
    sw_free(cause);
    return;
  }

  case SW_STATE_PARALLEL:
  case SW_STATE_MAP:
    delete_kids(b);
    start_children(b);
    return;
  }
  return;
runtime:
  cJSON_Delete(eff);
  runtime_error(b, &err);
}

/* ---- Parallel and Map ------------------------------------------------- */

static branch *new_branch(exec *ex, branch *parent, int idx,
                          const sw_asl_machine *m, const char *path)
{
  branch *k = sw_calloc(1, sizeof(*k));

  k->ex = ex;
  k->parent = parent;
  k->idx = idx;
  k->m = m;
  k->st = &m->states[m->start_index];
  k->path = sw_strdup(path);
  k->ph = PH_ENTER;
  k->status = BS_RUNNING;
  return k;
}

static char *kid_path(const branch *b, size_t i)
{
  return sw_asprintf("%s/%s#%lld.%d/%zu", b->path, b->st->name,
                     (long long)b->step, b->attempt, i);
}

/* Start Map iterations up to MaxConcurrency. */
static void start_map_items(branch *b)
{
  const sw_asl_state *st = b->st;
  sw_err err = SW_ERR_INIT;

  while (b->n_started < b->n_kids &&
         (b->max_concurrency <= 0 ||
          (int)(b->n_started - b->n_done) < b->max_concurrency)) {
    size_t i = b->n_started;
    cJSON *item = b->next_item;
    cJSON *in = NULL;
    char *path = kid_path(b, i);
    branch *k = new_branch(b->ex, b, (int)i, st->iterator, path);
    sw_free(path);
    if (st->parameters) {
      eval_env e;
      cJSON *idx = cJSON_CreateNumber((double)i);
      env_init(&e, b, b->eff_input, idx, item);
      if (sw_template_eval(&in, st->parameters, &e.env, &err) < 0) {
        cJSON_Delete(idx);
        env_dispose(&e);
        free_branch(k);
        runtime_error(b, &err);
        return;
      }
      cJSON_Delete(idx);
      env_dispose(&e);
    } else {
      in = sw_json_dup(item);
    }
    k->input = in;
    b->kids[i] = k;
    b->n_started++;
    b->next_item = item ? item->next : NULL;
    mark_dirty(k);
    wake(k);
  }
}

static void start_children(branch *b)
{
  const sw_asl_state *st = b->st;
  exec *ex = b->ex;
  sw_err err = SW_ERR_INIT;
  cJSON *eff = NULL;
  size_t i;

  if (st->type == SW_STATE_PARALLEL) {
    if (input_stage(&eff, b, &err) < 0)
      goto runtime;
    emit(ex, "ParallelStateStarted", NULL);
    b->n_kids = st->n_branches;
    b->kids = sw_calloc(b->n_kids ? b->n_kids : 1, sizeof(branch *));
    b->ph = PH_CHILDREN;
    mark_dirty(b);
    for (i = 0; i < st->n_branches; i++) {
      char *path = kid_path(b, i);
      branch *k = new_branch(ex, b, (int)i, st->branches[i], path);
      sw_free(path);
      k->input = sw_json_dup(eff);
      b->kids[i] = k;
      mark_dirty(k);
      wake(k);
    }
    b->n_started = b->n_kids;
    cJSON_Delete(eff);
    if (b->n_kids == 0)
      wake(b);
    return;
  }
  /* Map */
  if (apply_path(&eff, st->input_path, st->input_path_null, b->input, b,
                 &err) < 0)
    goto runtime;
  {
    cJSON *items = NULL;
    cJSON *d;
    if (apply_path(&items, st->items_path, false, eff, b, &err) < 0)
      goto runtime;
    if (!cJSON_IsArray(items)) {
      cJSON_Delete(items);
      sw_err_set(&err, SW_EINVAL, SW_ORIGIN_ASL, 0,
                 "Invalid path '%s': The ItemsPath field must reference an "
                 "array.",
                 st->items_path ? sw_path_text(st->items_path) : "$");
      goto runtime;
    }
    cJSON_Delete(b->items);
    b->items = items;
    b->next_item = items->child;
    cJSON_Delete(b->eff_input);
    b->eff_input = eff;
    eff = NULL;
    if (map_concurrency(b, &err) < 0)
      goto runtime;
    b->n_failed = 0;
    if (map_tolerance(b, &err) < 0)
      goto runtime;
    d = cJSON_CreateObject();
    cJSON_AddNumberToObject(d, "length", cJSON_GetArraySize(items));
    emit(ex, "MapStateStarted", d);
  }
  b->n_kids = (size_t)cJSON_GetArraySize(b->items);
  b->kids = sw_calloc(b->n_kids ? b->n_kids : 1, sizeof(branch *));
  b->ph = PH_CHILDREN;
  mark_dirty(b);
  start_map_items(b);
  if (b->n_kids == 0)
    wake(b);
  return;
runtime:
  cJSON_Delete(eff);
  runtime_error(b, &err);
}

static void children_progress(branch *b)
{
  const sw_asl_state *st = b->st;
  bool is_map = st->type == SW_STATE_MAP;
  size_t i;

  if (b->failed_kid) {
    branch *k = b->failed_kid;
    char *error = sw_strdup(k->error ? k->error : "States.BranchFailed");
    char *cause = sw_strdup(k->cause);
    for (i = 0; i < b->n_kids; i++)
      if (b->kids[i])
        abort_branch(b->kids[i]);
    emit(b->ex, is_map ? "MapStateFailed" : "ParallelStateFailed", NULL);
    b->failed_kid = NULL;
    /* AWS: the failing branch's own error propagates (not BranchFailed).
     * Without a Retry/Catch the children stay for a redrive. */
    if (!st->n_retry && !st->n_catch) {
      branch_fail(b, error, cause, true);
    } else {
      handle_error(b, error, cause);
      if (b->status == BS_FAILED) {
        b->ph = PH_CHILDREN;
        mark_dirty(b);
      } else if (b->ph == PH_RETRY) {
        delete_kids(b);
      }
    }
    sw_free(error);
    sw_free(cause);
    return;
  }
  if (is_map && b->n_started < b->n_kids) {
    start_map_items(b);
    return;
  }
  if (b->n_done < b->n_kids)
    return;
  {
    cJSON *results = cJSON_CreateArray();
    for (i = 0; i < b->n_kids; i++) {
      cJSON_AddItemToArray(results, b->kids[i]->output);
      b->kids[i]->output = NULL;
    }
    emit(b->ex, is_map ? "MapStateSucceeded" : "ParallelStateSucceeded",
         NULL);
    delete_kids(b);
    cJSON_Delete(b->items);
    b->items = NULL;
    cJSON_Delete(b->eff_input);
    b->eff_input = NULL;
    finish_state(b, results);
  }
}

/* Run one branch until it blocks, ends or the budget is spent. */
static void run_branch(branch *b, int *budget)
{
  while (b->status == BS_RUNNING && !b->dead && !b->ex->finished) {
    if (*budget <= 0) {
      wake(b);
      return;
    }
    switch (b->ph) {
    case PH_ENTER:
      (*budget)--;
      enter_state(b);
      break;
    case PH_TASK:
      if (!b->has_outcome)
        return;
      (*budget)--;
      task_outcome(b);
      break;
    case PH_WAIT:
      if (!b->fired)
        return;
      b->fired = false;
      (*budget)--;
      {
        sw_err err = SW_ERR_INIT;
        cJSON *eff = NULL, *out = NULL;
        if (apply_path(&eff, b->st->input_path, b->st->input_path_null,
                       b->input, b, &err) < 0 ||
            apply_path(&out, b->st->output_path, b->st->output_path_null, eff,
                       b, &err) < 0) {
          cJSON_Delete(eff);
          runtime_error(b, &err);
          break;
        }
        {
          cJSON *assigned = NULL, *d;
          if (assign_eval(&assigned, b->st->assign, eff, b, &err) < 0) {
            cJSON_Delete(eff);
            cJSON_Delete(out);
            runtime_error(b, &err);
            break;
          }
          cJSON_Delete(eff);
          d = state_details(b->st->name, "output", out);
          assign_details(d, assigned);
          emit(b->ex, "WaitStateExited", d);
          assign_apply(b, assigned);
        }
        transition(b, b->st->next, b->st->end ? -1 : b->st->next_index, out);
      }
      break;
    case PH_RETRY:
      if (!b->fired)
        return;
      b->fired = false;
      (*budget)--;
      if (b->st->type == SW_STATE_TASK)
        schedule_task(b);
      else
        start_children(b);
      break;
    case PH_CHILDREN: {
      size_t before = b->n_done;
      bool failed = b->failed_kid != NULL;
      children_progress(b);
      if (b->ph == PH_CHILDREN && b->status == BS_RUNNING &&
          b->n_done == before && !failed)
        return;
      break;
    }
    case PH_END:
      return;
    }
  }
}

/* ---- executions ------------------------------------------------------- */

static void free_branch(branch *b)
{
  size_t i;

  if (!b || b->dead)
    return;
  for (i = 0; i < b->n_kids; i++)
    if (b->kids && b->kids[i])
      free_branch(b->kids[i]);
  sw_free(b->kids);
  b->kids = NULL;
  if (b->task) {
    sw_task_cancel(b->task);
    b->task = NULL;
  }
  b->dead = true;
  if (b->queued) {
    sw_engine *eng = b->ex->eng;
    branch **pp = &eng->ready_head, *prev = NULL;
    while (*pp && *pp != b) {
      prev = *pp;
      pp = &(*pp)->next_ready;
    }
    if (*pp) {
      *pp = b->next_ready;
      if (eng->ready_tail == b)
        eng->ready_tail = prev;
    }
    b->queued = false;
  }
  cJSON_Delete(b->input);
  cJSON_Delete(b->output);
  cJSON_Delete(b->params);
  cJSON_Delete(b->out_output);
  cJSON_Delete(b->items);
  cJSON_Delete(b->eff_input);
  cJSON_Delete(b->vars);
  b->vars = NULL;
  sw_free(b->out_error);
  sw_free(b->out_cause);
  sw_free(b->error);
  sw_free(b->cause);
  sw_free(b->out_external_id);
  sw_free(b->redrive_state);
  sw_free(b->redrive_input);
  sw_free(b->retry_counts);
  sw_free(b->path);
  b->input = b->output = b->params = b->out_output = NULL;
  b->items = b->eff_input = NULL;
  /* Unlink from the engine's lists; they are walked with `dead` checks,
   * but the memory must outlive them: free it from the timer's close
   * callback, or now when no timer was ever made and no list holds it. */
  if (b->timer_init) {
    uv_timer_stop(&b->timer);
    uv_close((uv_handle_t *)&b->timer, timer_closed);
  } else if (!b->queued && !b->dirty && !b->deferred) {
    sw_free(b);
  } else {
    /* Still linked: make it a zombie freed by a closed timer. */
    uv_timer_init(b->ex->eng->loop, &b->timer);
    b->timer_init = true;
    uv_close((uv_handle_t *)&b->timer, timer_closed);
  }
}

static void exec_timeout_closed(uv_handle_t *h)
{
  exec *ex = SW_CONTAINER_OF((uv_timer_t *)h, exec, timeout);
  sw_free(ex);
}

static void exec_free(exec *ex)
{
  sw_engine *eng = ex->eng;
  exec **pp;

  for (pp = &eng->execs; *pp; pp = &(*pp)->next)
    if (*pp == ex) {
      *pp = ex->next;
      break;
    }
  if (!ex->finished)
    eng->running--;
  free_branch(ex->root);
  cJSON_Delete(ex->input);
  cJSON_Delete(ex->ctx_execution);
  cJSON_Delete(ex->ctx_machine);
  sw_free(ex->name);
  sw_free(ex->workflow);
  if (ex->timeout_init)
    uv_close((uv_handle_t *)&ex->timeout, exec_timeout_closed);
  else
    sw_free(ex);
}

static void on_exec_timeout(uv_timer_t *t)
{
  exec *ex = SW_CONTAINER_OF(t, exec, timeout);

  if (ex->finished)
    return;
  abort_branch(ex->root);
  finish_exec(ex, "TIMED_OUT", NULL, "States.Timeout",
              "The execution timed out.");
}

static void build_context(exec *ex)
{
  char ts[40];
  char *arn;

  cJSON_Delete(ex->ctx_execution);
  cJSON_Delete(ex->ctx_machine);
  ex->ctx_execution = cJSON_CreateObject();
  arn = sw_asprintf("arn:aws:states:local:000000000000:execution:%s:%s",
                    ex->workflow, ex->name);
  cJSON_AddStringToObject(ex->ctx_execution, "Id", arn);
  sw_free(arn);
  cJSON_AddItemToObject(ex->ctx_execution, "Input", sw_json_dup(ex->input));
  cJSON_AddStringToObject(ex->ctx_execution, "Name", ex->name);
  cJSON_AddStringToObject(ex->ctx_execution, "RoleArn",
                          "arn:aws:iam::000000000000:role/stepwise");
  sw_time_format_iso(ts, sizeof(ts), ex->start_ms);
  cJSON_AddStringToObject(ex->ctx_execution, "StartTime", ts);
  cJSON_AddNumberToObject(ex->ctx_execution, "RedriveCount",
                          ex->redrive_count);
  ex->ctx_machine = cJSON_CreateObject();
  arn = sw_asprintf("arn:aws:states:local:000000000000:stateMachine:%s",
                    ex->workflow);
  cJSON_AddStringToObject(ex->ctx_machine, "Id", arn);
  sw_free(arn);
  cJSON_AddStringToObject(ex->ctx_machine, "Name", ex->workflow);
}

static exec *exec_new(sw_engine *eng, const sw_asl_definition *def,
                      const char *id, const char *name, const char *workflow,
                      cJSON *input, int64_t start_ms)
{
  exec *ex = sw_calloc(1, sizeof(*ex));

  ex->eng = eng;
  snprintf(ex->id, sizeof(ex->id), "%s", id);
  ex->name = sw_strdup(name);
  ex->workflow = sw_strdup(workflow);
  ex->def = def;
  ex->input = input;
  ex->start_ms = start_ms;
  ex->next_event = 1;
  build_context(ex);
  ex->next = eng->execs;
  eng->execs = ex;
  eng->running++;
  return ex;
}

static void arm_exec_timeout(exec *ex)
{
  int64_t left;

  if (ex->def->timeout_s <= 0)
    return;
  /* After a redrive the execution gets its TimeoutSeconds anew, counted
   * from the redrive (AWS redrives TIMED_OUT executions too). */
  left = (ex->redrive_ms ? ex->redrive_ms : ex->start_ms) +
         ex->def->timeout_s * 1000 - sw_time_now_ms();
  uv_timer_init(ex->eng->loop, &ex->timeout);
  ex->timeout_init = true;
  uv_timer_start(&ex->timeout, on_exec_timeout, left > 0 ? (uint64_t)left : 0,
                 0);
}

int sw_engine_new(sw_engine **out, uv_loop_t *loop, sw_store *store,
                  sw_resources *res, const sw_engine_opts *opts, sw_err *err)
{
  sw_engine *eng = sw_calloc(1, sizeof(*eng));

  (void)err;
  eng->loop = loop;
  eng->store = store;
  eng->res = res;
  if (opts)
    eng->opts = *opts;
  uv_idle_init(loop, &eng->pump);
  *out = eng;
  return 0;
}

static void pump_closed(uv_handle_t *h)
{
  sw_engine *eng = SW_CONTAINER_OF((uv_idle_t *)h, sw_engine, pump);
  engine_def *d;

  while ((d = eng->defs)) {
    eng->defs = d->next;
    sw_asl_free(d->def);
    sw_free(d->text);
    sw_free(d);
  }
  sw_free(eng);
}

const sw_asl_definition *sw_engine_definition(sw_engine *eng, char *text,
                                              const char *name,
                                              const char **text_out,
                                              sw_err *err)
{
  sw_asl_definition *def = NULL;
  engine_def *d;
  char hash[65];

  sw_sha256_hex(hash, text, strlen(text));
  for (d = eng->defs; d; d = d->next)
    if (!strcmp(d->hash, hash))
      break;
  if (d) {
    sw_free(text);
  } else {
    if (sw_asl_parse(&def, text, strlen(text), name ? name : hash, err) <
        0) {
      sw_free(text);
      return NULL;
    }
    d = sw_calloc(1, sizeof(*d));
    memcpy(d->hash, hash, sizeof(hash));
    d->text = text;
    d->def = def;
    d->next = eng->defs;
    eng->defs = d;
  }
  if (text_out)
    *text_out = d->text;
  return d->def;
}

void sw_engine_free(sw_engine *eng)
{
  if (!eng)
    return;
  while (eng->done_head) {
    exec *ex = eng->done_head;
    eng->done_head = ex->next_done;
    exec_free(ex);
  }
  while (eng->execs)
    exec_free(eng->execs);
  eng->ready_head = eng->ready_tail = NULL;
  eng->dirty_head = NULL;
  eng->deferred_head = NULL;
  sw_store_rollback(eng->store);
  sw_buf_dispose(&eng->scratch);
  uv_close((uv_handle_t *)&eng->pump, pump_closed);
}

int sw_engine_running(const sw_engine *eng) { return eng->running; }

bool sw_engine_failed(const sw_engine *eng, sw_err *err)
{
  if (eng->failed && err)
    *err = eng->fatal;
  return eng->failed;
}

int sw_engine_stop(sw_engine *eng, const char *execution_id,
                   const char *error, const char *cause, sw_err *err)
{
  exec *ex;

  for (ex = eng->execs; ex; ex = ex->next)
    if (!ex->finished && !strcmp(ex->id, execution_id))
      break;
  if (!ex)
    return sw_err_set(err, SW_ENOTFOUND, SW_ORIGIN_NONE, 0,
                      "no running execution %s", execution_id);
  abort_branch(ex->root);
  finish_exec(ex, "ABORTED", NULL, error, cause);
  return 0;
}

int sw_engine_start(sw_engine *eng, const sw_engine_start_req *req,
                    char id_out[37], sw_err *err)
{
  sw_store_execution row;
  char hash[65];
  char *input_text = NULL;
  bool taken = false;
  exec *ex;
  cJSON *d;
  int rc;

  sw_uuid_v4(id_out);
  if (req->name) {
    rc = sw_store_execution_name_taken(eng->store, req->workflow, req->name,
                                       &taken, err);
    if (rc < 0)
      return rc;
    if (taken)
      return sw_err_set(err, SW_EEXISTS, SW_ORIGIN_NONE, 0,
                        "an execution named \"%s\" of %s exists already",
                        req->name, req->workflow);
  }
  sw_sha256_hex(hash, req->definition_text, strlen(req->definition_text));
  input_text = sw_json_print(req->input);
  /* AWS: StartExecution input is at most 256 KiB of UTF-8. */
  if (strlen(input_text) > SW_DATA_LIMIT) {
    sw_free(input_text);
    return sw_err_set(err, SW_ELIMIT, SW_ORIGIN_ASL, 0,
                      "execution input is larger than %d bytes (the Step "
                      "Functions payload limit)",
                      SW_DATA_LIMIT);
  }
  memset(&row, 0, sizeof(row));
  row.id = id_out;
  row.name = (char *)(req->name ? req->name : id_out);
  row.workflow = (char *)req->workflow;
  row.source = (char *)req->source;
  row.definition_hash = hash;
  row.input = input_text;
  row.status = "RUNNING";
  row.warehouse = (char *)req->warehouse;
  row.start_ms = sw_time_now_ms();
  rc = eng->batch_failed ? sw_err_set(err, SW_EIO, SW_ORIGIN_SQLITE, 0,
                                       "an earlier start of this batch "
                                       "failed to write")
                          : sw_store_begin(eng->store, err);
  if (rc == 0)
    rc = sw_store_put_definition(eng->store, hash, req->definition_text, err);
  if (rc == 0)
    rc = sw_store_insert_execution(eng->store, &row, err);
  if (rc < 0) {
    if (eng->batching)
      eng->batch_failed = true; /* the whole batch rolls back */
    else
      sw_store_rollback(eng->store);
    sw_free(input_text);
    return rc;
  }
  ex = exec_new(eng, req->def, id_out, row.name, req->workflow,
                sw_json_dup(req->input), row.start_ms);
  d = cJSON_CreateObject();
  cJSON_AddItemReferenceToObject(d, "input", (cJSON *)req->input);
  cJSON_AddStringToObject(d, "roleArn",
                          "arn:aws:iam::000000000000:role/stepwise");
  emit(ex, "ExecutionStarted", d);
  sw_free(input_text);
  ex->root = new_branch(ex, NULL, 0, req->def->root, "");
  ex->root->input = sw_json_dup(req->input);
  mark_dirty(ex->root);
  flush_dirty(eng);
  if (eng->batching) { /* committed and woken by sw_engine_commit_batch */
    ex->next_batch = eng->batch_head;
    eng->batch_head = ex;
    if (eng->failed)
      eng->batch_failed = true;
    return 0;
  }
  rc = eng->failed ? sw_err_set(err, SW_EIO, SW_ORIGIN_SQLITE, 0, "%s",
                                eng->fatal.msg)
                   : sw_store_commit(eng->store, err);
  if (rc < 0) {
    exec_free(ex);
    return rc;
  }
  arm_exec_timeout(ex);
  wake(ex->root);
  return 0;
}

void sw_engine_begin_batch(sw_engine *eng)
{
  eng->batching = true;
  eng->batch_failed = false;
  eng->batch_head = NULL;
}

int sw_engine_commit_batch(sw_engine *eng, size_t *started, sw_err *err)
{
  exec *ex, *next;
  size_t n = 0;
  int rc = 0;

  eng->batching = false;
  for (ex = eng->batch_head; ex; ex = ex->next_batch)
    n++;
  if (started)
    *started = n;
  if (!n && !eng->batch_failed)
    return 0;
  if (eng->batch_failed || eng->failed) {
    rc = sw_err_set(err, SW_EIO, SW_ORIGIN_SQLITE, 0, "%s",
                    eng->fatal.msg[0] ? eng->fatal.msg
                                      : "a start of the batch failed to "
                                        "write; none was recorded");
    sw_store_rollback(eng->store);
  } else {
    rc = sw_store_commit(eng->store, err);
  }
  if (rc < 0) {
    /* The rollback took the other executions' uncommitted progress with
     * it: like any store failure, stop the engine (RUNNING executions
     * resume from their last commit) and the loop. */
    set_fatal(eng, err);
    uv_stop(eng->loop);
  }
  for (ex = eng->batch_head; ex; ex = next) {
    next = ex->next_batch;
    ex->next_batch = NULL;
    if (rc < 0) {
      exec_free(ex);
    } else {
      arm_exec_timeout(ex);
      wake(ex->root);
    }
  }
  eng->batch_head = NULL;
  eng->batch_failed = false;
  return rc;
}

/* ---- resume ----------------------------------------------------------- */

static const sw_asl_machine *machine_in(const sw_asl_machine *m,
                                        const char *pointer)
{
  size_t i, j;

  if (!strcmp(m->pointer, pointer))
    return m;
  for (i = 0; i < m->n_states; i++) {
    const sw_asl_state *s = &m->states[i];
    const sw_asl_machine *r;
    for (j = 0; j < s->n_branches; j++)
      if ((r = machine_in(s->branches[j], pointer)))
        return r;
    if (s->iterator && (r = machine_in(s->iterator, pointer)))
      return r;
  }
  return NULL;
}

typedef struct load_ctx {
  exec *ex;
  branch **all;
  size_t n, cap;
  sw_err err;
  bool bad;
} load_ctx;

static branch *find_loaded(load_ctx *lc, const char *path)
{
  size_t i = lc->n;

  while (i-- > 0)
    if (!strcmp(lc->all[i]->path, path))
      return lc->all[i];
  return NULL;
}

static void load_branch_cb(const sw_store_branch *row, void *payload)
{
  load_ctx *lc = payload;
  const sw_asl_machine *m = machine_in(lc->ex->def->root, row->machine);
  branch *b, *parent = NULL;
  cJSON *data = NULL;
  sw_err err = SW_ERR_INIT;
  const sw_asl_state *st;

  if (lc->bad)
    return;
  if (row->parent) {
    parent = find_loaded(lc, row->parent);
    if (!parent)
      return; /* orphan of a finished parent: ignore */
  }
  st = m && row->state ? sw_asl_find(m, row->state) : NULL;
  if (!m || !st) {
    lc->bad = true;
    sw_err_set(&lc->err, SW_EIO, SW_ORIGIN_NONE, 0,
               "checkpoint names state \"%s\" of machine \"%s\", which the "
               "stored definition does not have",
               row->state ? row->state : "", row->machine);
    return;
  }
  b = sw_calloc(1, sizeof(*b));
  b->ex = lc->ex;
  b->path = sw_strdup(row->path);
  b->parent = parent;
  b->idx = row->idx;
  b->m = m;
  b->st = st;
  b->step = row->step;
  b->ph = phase_parse(row->phase);
  b->status = status_parse(row->status);
  if (row->input)
    sw_json_parse(&b->input, row->input, strlen(row->input), "checkpoint",
                  &err);
  if (row->output)
    sw_json_parse(&b->output, row->output, strlen(row->output), "checkpoint",
                  &err);
  if (row->data &&
      sw_json_parse(&data, row->data, strlen(row->data), "checkpoint", &err) ==
          0) {
    cJSON *r = sw_json_get(data, "retry");
    const char *tok = sw_json_get_str(data, "token");
    cJSON *v;
    b->attempt = (int)cJSON_GetNumberValue(sw_json_get(data, "attempt"));
    if ((v = sw_json_get(data, "due_ms")))
      b->due_ms = (int64_t)v->valuedouble;
    if ((v = sw_json_get(data, "entered_event")))
      b->entered_event = (int64_t)v->valuedouble;
    if (tok)
      snprintf(b->token, sizeof(b->token), "%s", tok);
    b->error = sw_strdup(sw_json_get_str(data, "error"));
    b->cause = sw_strdup(sw_json_get_str(data, "cause"));
    b->redrive_state = sw_strdup(sw_json_get_str(data, "redrive_state"));
    if ((v = sw_json_get(data, "vars")) && cJSON_IsObject(v))
      b->vars = sw_json_dup(v);
    b->redrive_input = sw_strdup(sw_json_get_str(data, "redrive_input"));
    if (cJSON_IsArray(r) && st->n_retry) {
      size_t i;
      b->retry_counts = sw_calloc(st->n_retry, sizeof(int));
      for (i = 0; i < st->n_retry; i++)
        b->retry_counts[i] = (int)cJSON_GetNumberValue(
            cJSON_GetArrayItem(r, (int)i));
    }
    cJSON_Delete(data);
  }
  if (!b->input)
    b->input = cJSON_CreateObject();
  if (parent) {
    if (parent->n_kids <= (size_t)b->idx) {
      size_t n = (size_t)b->idx + 1;
      parent->kids = sw_realloc(parent->kids, n * sizeof(branch *));
      memset(parent->kids + parent->n_kids, 0,
             (n - parent->n_kids) * sizeof(branch *));
      parent->n_kids = n;
    }
    parent->kids[b->idx] = b;
  } else {
    lc->ex->root = b;
  }
  if (lc->n == lc->cap) {
    lc->cap = lc->cap ? lc->cap * 2 : 16;
    lc->all = sw_realloc(lc->all, lc->cap * sizeof(branch *));
  }
  lc->all[lc->n++] = b;
}

/* Bring a loaded branch back to life: timers, task re-invocation. */
static int revive(branch *b, sw_err *err)
{
  exec *ex = b->ex;
  sw_engine *eng = ex->eng;
  size_t i;

  if (b->status != BS_RUNNING)
    return 0;
  switch (b->ph) {
  case PH_ENTER:
    wake(b);
    break;
  case PH_TASK: {
    sw_store_task t;
    int rc = sw_store_get_task(eng->store, ex->id, b->token, &t, err);
    if (rc < 0)
      return rc;
    b->task_ms = t.scheduled_ms;
    rc = sw_json_parse(&b->params, t.parameters, strlen(t.parameters),
                       "checkpoint", err);
    sw_store_task_dispose(&t);
    if (rc < 0)
      return rc;
    /* DESIGN.md §4.6: invoke again with the same token; the resource
     * finds what it already submitted instead of running it twice. */
    b->entered_ms = sw_time_now_ms();
    defer_invoke(b);
    break;
  }
  case PH_WAIT:
  case PH_RETRY:
    /* A Wait resumes with the time that is left. */
    start_timer(b, b->due_ms - sw_time_now_ms());
    break;
  case PH_CHILDREN: {
    const sw_asl_state *st = b->st;
    /* Rebuild the Map's items from the state's input (pure). */
    if (st->type == SW_STATE_MAP) {
      cJSON *eff = NULL, *items = NULL;
      int rc = apply_path(&eff, st->input_path, st->input_path_null, b->input,
                          b, err);
      if (rc == 0)
        rc = apply_path(&items, st->items_path, false, eff, b, err);
      if (rc < 0 || !cJSON_IsArray(items)) {
        cJSON_Delete(eff);
        cJSON_Delete(items);
        return sw_err_set(err, SW_EIO, SW_ORIGIN_NONE, 0,
                          "cannot rebuild the items of Map state \"%s\"",
                          st->name);
      }
      b->eff_input = eff;
      b->items = items;
      if (map_concurrency(b, err) < 0)
        return SW_EIO;
      {
        size_t n = (size_t)cJSON_GetArraySize(items);
        if (b->n_kids < n) {
          b->kids = sw_realloc(b->kids, (n ? n : 1) * sizeof(branch *));
          memset(b->kids + b->n_kids, 0, (n - b->n_kids) * sizeof(branch *));
          b->n_kids = n;
        }
      }
      /* Iterations start in index order, so the started ones are a
       * prefix. */
      b->n_started = 0;
      b->next_item = items->child;
      while (b->n_started < b->n_kids && b->kids[b->n_started]) {
        b->n_started++;
        b->next_item = b->next_item ? b->next_item->next : NULL;
      }
    } else {
      b->n_started = b->n_kids;
    }
    b->n_done = 0;
    b->n_failed = 0;
    if (st->type == SW_STATE_MAP && map_tolerance(b, err) < 0)
      return SW_EIO;
    for (i = 0; i < b->n_kids; i++) {
      branch *k = b->kids[i];
      if (!k)
        continue;
      if (k->status == BS_SUCCEEDED)
        b->n_done++;
      else if (k->status == BS_FAILED && tolerates(b) &&
               !tolerance_exceeded(b))
        tolerate_kid(b, k);
      else if (k->status != BS_RUNNING && !b->failed_kid)
        b->failed_kid = k;
    }
    wake(b);
    break;
  }
  case PH_END:
    break;
  }
  return 0;
}

/* Redrive: failed and aborted branches run again from where they stopped;
 * succeeded ones keep their results (RedriveExecution). */
static void prepare_redrive(branch *b)
{
  size_t i;

  if (b->status == BS_SUCCEEDED)
    return;
  for (i = 0; i < b->n_kids; i++)
    if (b->kids[i])
      prepare_redrive(b->kids[i]);
  /* Our choice where AWS would fail again: a branch that failed in a state
   * that does no work itself (the Fail or Choice after a status check)
   * restarts from its last Task that submitted work, with that Task's
   * input, so the fixed statement runs again. */
  if (b->status == BS_FAILED && b->ph != PH_CHILDREN && b->redrive_state &&
      b->st->type != SW_STATE_TASK && b->st->type != SW_STATE_PARALLEL &&
      b->st->type != SW_STATE_MAP) {
    const sw_asl_state *st = sw_asl_find(b->m, b->redrive_state);
    cJSON *in = NULL;
    sw_err err = SW_ERR_INIT;
    if (st && sw_json_parse(&in, b->redrive_input, strlen(b->redrive_input),
                            "checkpoint", &err) == 0) {
      b->st = st;
      cJSON_Delete(b->input);
      b->input = in;
    }
  }
  b->status = BS_RUNNING;
  if (b->ph != PH_CHILDREN)
    b->ph = PH_ENTER;
  /* A redriven state gets its retriers back (the attempt number, part of
   * tokens and child paths, keeps counting). */
  sw_free(b->retry_counts);
  b->retry_counts = NULL;
  sw_free(b->error);
  sw_free(b->cause);
  b->error = b->cause = NULL;
  mark_dirty(b);
}

/* Drop ex's branches from the ready, dirty and deferred lists. */
static void unlink_exec(sw_engine *eng, exec *ex)
{
  branch **pp, *prev = NULL;

  for (pp = &eng->ready_head; *pp;) {
    if ((*pp)->ex == ex) {
      (*pp)->queued = false;
      *pp = (*pp)->next_ready;
    } else {
      prev = *pp;
      pp = &(*pp)->next_ready;
    }
  }
  eng->ready_tail = prev;
  for (pp = &eng->dirty_head; *pp;) {
    if ((*pp)->ex == ex) {
      (*pp)->dirty = false;
      *pp = (*pp)->next_dirty;
    } else {
      pp = &(*pp)->next_dirty;
    }
  }
  for (pp = &eng->deferred_head; *pp;) {
    if ((*pp)->ex == ex) {
      (*pp)->deferred = false;
      *pp = (*pp)->next_deferred;
    } else {
      pp = &(*pp)->next_deferred;
    }
  }
}

int sw_engine_resume(sw_engine *eng, const char *execution_id,
                     const sw_asl_definition *def, sw_err *err)
{
  sw_store_execution row;
  load_ctx lc;
  cJSON *input = NULL;
  exec *ex;
  bool redrive;
  size_t i;
  int rc;

  memset(&lc, 0, sizeof(lc));
  /* Commit what other executions wrote so a failed resume can roll back
   * its own writes alone. */
  flush_dirty(eng);
  if (!eng->failed && sw_store_commit(eng->store, err) < 0)
    return SW_EIO;
  rc = sw_store_get_execution(eng->store, execution_id, &row, err);
  if (rc < 0)
    return rc;
  if (!strcmp(row.status, "SUCCEEDED")) {
    rc = sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                    "execution %s SUCCEEDED already; nothing to resume",
                    row.id);
    goto done;
  }
  redrive = strcmp(row.status, "RUNNING") != 0;
  rc = sw_json_parse(&input, row.input, strlen(row.input), "checkpoint", err);
  if (rc < 0)
    goto done;
  ex = exec_new(eng, def, row.id, row.name, row.workflow, input,
                row.start_ms);
  ex->redrive_count = row.redrive_count;
  ex->redrive_ms = row.redrive_ms;
  input = NULL;
  rc = sw_store_max_event_id(eng->store, ex->id, &ex->next_event, err);
  if (rc < 0)
    goto fail;
  ex->next_event++;
  lc.ex = ex;
  rc = sw_store_list_branches(eng->store, ex->id, load_branch_cb, &lc, err);
  if (rc == 0 && lc.bad) {
    *err = lc.err;
    rc = SW_EIO;
  }
  if (rc == 0 && !ex->root)
    rc = sw_err_set(err, SW_EIO, SW_ORIGIN_NONE, 0,
                    "execution %s has no checkpointed position", ex->id);
  if (rc < 0)
    goto fail;
  rc = sw_store_begin(eng->store, err);
  if (rc < 0)
    goto fail;
  if (redrive) {
    cJSON *d = cJSON_CreateObject();
    ex->redrive_count++;
    ex->redrive_ms = sw_time_now_ms();
    build_context(ex);
    rc = sw_store_reopen_execution(eng->store, ex->id, ex->redrive_count,
                                   ex->redrive_ms, err);
    if (rc < 0)
      goto fail;
    cJSON_AddNumberToObject(d, "redriveCount", ex->redrive_count);
    emit(ex, "ExecutionRedriven", d);
    prepare_redrive(ex->root);
  }
  for (i = 0; i < lc.n && rc == 0; i++)
    rc = revive(lc.all[i], err);
  if (rc < 0)
    goto fail;
  flush_dirty(eng);
  rc = sw_store_commit(eng->store, err);
  if (rc < 0)
    goto fail;
  arm_exec_timeout(ex);
  pump_start(eng);
  goto done;
fail:
  /* Only this execution's writes are in the transaction (what was open
   * before was committed first), and only its branches leave the lists:
   * other executions on this engine go on. */
  sw_store_rollback(eng->store);
  unlink_exec(eng, ex);
  exec_free(ex);
done:
  sw_free(lc.all);
  cJSON_Delete(input);
  sw_store_execution_dispose(&row);
  return rc;
}
