/* SPDX-License-Identifier: MIT */
/* start, exec and resume: set up the loop, store, warehouse, resources and
 * engine; run until the execution reaches a final status; report it.
 * Everything a user can get wrong (unknown workflow, invalid definition or
 * input, missing script, bad warehouse URL) is checked before the store is
 * opened, so bad input leaves the store untouched. */
#include "cli/cli_int.h"
#include "engine/engine.h"
#include "resources/resources.h"
#include "server/server.h"
#include "warehouse/warehouse.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct run_ctx {
  uv_loop_t loop;
  uv_signal_t sigint;
  uv_signal_t sigterm;
  sw_store *store;
  sw_warehouse *wh;
  sw_resources *res;
  sw_engine *eng;
  sw_asl_definition *def;
  char *def_text;
  char exec_id[37];
  bool done;
  bool interrupted;
  bool progress;
  int64_t t0;
} run_ctx;

/* ---- progress and outcome --------------------------------------------- */

static void on_event(const char *id, const char *type, const cJSON *details,
                     void *payload)
{
  run_ctx *rc = payload;
  size_t n = strlen(type);
  const char *name = sw_json_get_str(details, "name");

  (void)id;
  if (!rc->progress)
    return;
  if (n > 12 && !strcmp(type + n - 12, "StateEntered") && name) {
    fprintf(stderr, "  %6.1fs  %-13.*s %s\n",
            (double)(sw_time_now_ms() - rc->t0) / 1000.0, (int)(n - 12), type,
            name);
  } else if (!strcmp(type, "TaskFailed") || !strcmp(type, "TaskTimedOut")) {
    const char *e = sw_json_get_str(details, "error");
    const char *c = sw_json_get_str(details, "cause");
    fprintf(stderr, "           %s: %s%s%s\n", type, e ? e : "",
            c ? ": " : "", c ? c : "");
  }
}

static void on_done(const char *id, const char *status, void *payload)
{
  run_ctx *rc = payload;

  if (!strcmp(id, rc->exec_id)) {
    rc->done = true;
    (void)status;
    uv_stop(&rc->loop);
  }
}

static void on_signal(uv_signal_t *s, int signum)
{
  run_ctx *rc = s->data;

  (void)signum;
  rc->interrupted = true;
  uv_stop(&rc->loop);
}

/* Print the final state; returns the exit code. */
static int report(run_ctx *rc, const cli_opts *o)
{
  sw_store_execution e;
  sw_err err = SW_ERR_INIT;
  int code;

  if (sw_store_get_execution(rc->store, rc->exec_id, &e, &err) < 0) {
    cli_error("%s", err.msg);
    return SW_EXIT_FAILED;
  }
  if (o->json) {
    cJSON *d = cli_describe(&e);
    char *s = cJSON_Print(d);
    puts(s);
    sw_free(s);
    cJSON_Delete(d);
  } else {
    printf("%s %s (%s) in %.1f s\n", e.status, e.id, e.name,
           (double)((e.stop_ms ? e.stop_ms : sw_time_now_ms()) - rc->t0) /
               1000.0);
    if (e.output)
      printf("output: %s\n", e.output);
    if (e.error)
      printf("error: %s\n", e.error);
    if (e.cause)
      printf("cause: %s\n", e.cause);
  }
  if (!strcmp(e.status, "SUCCEEDED"))
    code = SW_EXIT_OK;
  else if (!strcmp(e.status, "RUNNING")) {
    fprintf(stderr, "stepwise: execution %s is still RUNNING; continue it "
                    "with: stepwise resume %s\n",
            e.id, e.id);
    code = SW_EXIT_FAILED;
  } else {
    if (!o->json)
      fprintf(stderr, "stepwise: fix the cause, then: stepwise resume %s\n",
              e.id);
    code = SW_EXIT_FAILED;
  }
  sw_store_execution_dispose(&e);
  return code;
}

/* One process runs an execution at a time: a POSIX record lock on
 * HOME/locks/ID, held until the process exits (the kernel drops it when a
 * killed process dies, so a crash never leaves it stuck). Returns the
 * descriptor, or -1 (and prints why) when another process holds it. */
static int lock_execution(const cli_opts *o, const char *id)
{
  sw_err err = SW_ERR_INIT;
  char *home = cli_home(o);
  char *dir = sw_asprintf("%s/locks", home);
  char *path = sw_asprintf("%s/%s", dir, id);
  int fd = -1, r;

  r = sw_mkdirs(dir, &err);
  if (r == 0)
    r = sw_file_lock(path, &fd, &err);
  if (r == SW_EAGAIN)
    cli_error("execution %s is being run by another stepwise process; "
              "wait for it or stop it first",
              id);
  else if (r < 0)
    cli_error("%s", err.msg);
  sw_free(home);
  sw_free(dir);
  sw_free(path);
  return fd;
}

/* Does a stepwise serve hold HOME/locks/serve? */
static bool serve_running(const cli_opts *o)
{
  sw_err err = SW_ERR_INIT;
  char *home = cli_home(o);
  char *path = sw_asprintf("%s/locks/serve", home);
  int fd = -1;
  bool held = false;

  if (sw_file_exists(path)) {
    held = sw_file_lock(path, &fd, &err) == SW_EAGAIN;
    if (fd >= 0)
      close(fd);
  }
  sw_free(home);
  sw_free(path);
  return held;
}

/* ---- set-up and teardown ---------------------------------------------- */

static void wh_closed(void *payload) { *(bool *)payload = true; }

static void teardown(run_ctx *rc)
{
  bool closed = false;

  if (rc->eng)
    sw_engine_free(rc->eng);
  rc->eng = NULL;
  uv_run(&rc->loop, UV_RUN_NOWAIT);
  sw_resources_free(rc->res);
  rc->res = NULL;
  if (rc->wh) {
    sw_warehouse_close(rc->wh, wh_closed, &closed);
    while (!closed && uv_run(&rc->loop, UV_RUN_ONCE))
      ;
  }
  rc->wh = NULL;
  if (uv_is_active((uv_handle_t *)&rc->sigint) ||
      rc->sigint.type == UV_SIGNAL) {
    uv_close((uv_handle_t *)&rc->sigint, NULL);
    uv_close((uv_handle_t *)&rc->sigterm, NULL);
  }
  uv_run(&rc->loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&rc->loop) != 0)
    sw_log(SW_LOG_WARN, "event loop closed with handles still open");
  sw_store_close(rc->store);
  rc->store = NULL;
  sw_asl_free(rc->def);
  sw_free(rc->def_text);
}

/* Resolve a JSON Pointer inside doc (borrowed result) or NULL. */
static const cJSON *at_pointer(const cJSON *doc, const char *ptr)
{
  const cJSON *cur = doc;
  char tok[512];

  while (cur && *ptr == '/') {
    size_t n = 0;
    ptr++;
    while (*ptr && *ptr != '/' && n < sizeof(tok) - 1) {
      if (ptr[0] == '~' && ptr[1] == '1') {
        tok[n++] = '/';
        ptr += 2;
      } else if (ptr[0] == '~' && ptr[1] == '0') {
        tok[n++] = '~';
        ptr += 2;
      } else {
        tok[n++] = *ptr++;
      }
    }
    tok[n] = '\0';
    if (cJSON_IsArray(cur))
      cur = cJSON_GetArrayItem(cur, (int)strtol(tok, NULL, 10));
    else
      cur = cJSON_GetObjectItemCaseSensitive(cur, tok);
  }
  return cur;
}

typedef struct preflight_ctx {
  const sw_asl_definition *def;
  const sw_resources *res;
  sw_err err;
  bool bad;
} preflight_ctx;

static void preflight_cb(const sw_asl_machine *m, const sw_asl_state *s,
                         void *payload)
{
  preflight_ctx *pc = payload;
  const cJSON *state_json, *params;
  sw_err err = SW_ERR_INIT;

  (void)m;
  if (pc->bad || s->type != SW_STATE_TASK)
    return;
  state_json = at_pointer(pc->def->doc, s->pointer);
  params = sw_json_get(state_json, "Parameters");
  if (sw_resources_preflight(pc->res, s->resource, params, &err) < 0) {
    pc->bad = true;
    sw_err_set(&pc->err, err.code, SW_ORIGIN_ASL, 0, "%s: %s: %s",
               pc->def->name, s->pointer, err.msg);
  }
}

/* Open the warehouse and resources, check the definition's Task states
 * against them, then open the store. Prints errors. */
static int setup(run_ctx *rc, const cli_opts *o, const char *warehouse,
                 const char *sql_dir)
{
  sw_err err = SW_ERR_INIT;
  sw_engine_opts eo;
  preflight_ctx pc;
  char *home = cli_home(o);
  int r;

  r = sw_mkdirs(home, &err);
  if (r == 0)
    r = sw_warehouse_open(&rc->wh, &rc->loop, warehouse, home, &err);
  if (r < 0) {
    cli_error("%s", err.msg);
    sw_free(home);
    return r;
  }
  sw_free(home);
  r = sw_resources_new(&rc->res, &rc->loop, rc->wh, sql_dir, &err);
  if (r < 0) {
    cli_error("%s", err.msg);
    return r;
  }
  memset(&pc, 0, sizeof(pc));
  pc.def = rc->def;
  pc.res = rc->res;
  sw_asl_walk(rc->def, preflight_cb, &pc);
  if (pc.bad) {
    cli_error("%s", pc.err.msg);
    return pc.err.code;
  }
  r = cli_open_store(&rc->store, o, true);
  if (r < 0)
    return r;
  memset(&eo, 0, sizeof(eo));
  eo.on_event = on_event;
  eo.on_done = on_done;
  eo.payload = rc;
  r = sw_engine_new(&rc->eng, &rc->loop, rc->store, rc->res, &eo, &err);
  if (r < 0) {
    cli_error("%s", err.msg);
    return r;
  }
  rc->sigint.data = rc;
  rc->sigterm.data = rc;
  uv_signal_init(&rc->loop, &rc->sigint);
  uv_signal_init(&rc->loop, &rc->sigterm);
  uv_signal_start(&rc->sigint, on_signal, SIGINT);
  uv_signal_start(&rc->sigterm, on_signal, SIGTERM);
  uv_unref((uv_handle_t *)&rc->sigint);
  uv_unref((uv_handle_t *)&rc->sigterm);
  return 0;
}

/* Run the loop until our execution is done or we are interrupted. */
static int run_to_end(run_ctx *rc, const cli_opts *o)
{
  int code;

  while (!rc->done && !rc->interrupted) {
    if (uv_run(&rc->loop, UV_RUN_DEFAULT) == 0 && !rc->done)
      break; /* nothing left to wait for */
    if (sw_engine_failed(rc->eng, NULL))
      break; /* the store cannot record progress: stop now */
  }
  {
    sw_err err = SW_ERR_INIT;
    if (sw_engine_failed(rc->eng, &err)) {
      fprintf(stderr,
              "stepwise: the state store failed (%s); execution %s stays "
              "RUNNING at its last checkpoint. Continue it with: stepwise "
              "resume %s\n",
              err.msg, rc->exec_id, rc->exec_id);
      return SW_EXIT_FAILED;
    }
  }
  if (rc->interrupted) {
    fprintf(stderr,
            "stepwise: interrupted; execution %s stays RUNNING. Continue it "
            "with: stepwise resume %s\n",
            rc->exec_id, rc->exec_id);
    return 130;
  }
  code = report(rc, o);
  return code;
}

static int read_input(cJSON **out, const char *arg)
{
  sw_err err = SW_ERR_INIT;
  char *text = NULL;
  size_t len = 0;
  int r;

  if (!arg) {
    *out = cJSON_CreateObject();
    return 0;
  }
  if (arg[0] == '@') {
    r = sw_file_read(&text, &len, arg + 1, 64u << 20, &err);
    if (r == 0)
      r = sw_json_parse(out, text, len, arg + 1, &err);
  } else {
    r = sw_json_parse(out, arg, strlen(arg), "--input", &err);
  }
  sw_free(text);
  if (r < 0)
    cli_error("%s", err.msg);
  return r;
}

static void list_workflows(const char *dir, sw_buf *b)
{
  DIR *d = opendir(dir);
  struct dirent *de;
  int n = 0;

  if (!d)
    return;
  while ((de = readdir(d))) {
    size_t len = strlen(de->d_name);
    if (len > 9 && !strcmp(de->d_name + len - 9, ".asl.json")) {
      sw_buf_printf(b, NULL, "%s%.*s", n++ ? ", " : "", (int)(len - 9),
                    de->d_name);
    }
  }
  closedir(d);
}

static char *base_name(const char *path)
{
  const char *b = strrchr(path, '/');
  char *s = sw_strdup(b ? b + 1 : path);
  char *dot = strstr(s, ".asl.json");
  if (!dot)
    dot = strrchr(s, '.');
  if (dot && dot != s)
    *dot = '\0';
  return s;
}

int cli_cmd_run(const cli_opts *o)
{
  run_ctx rc;
  sw_err err = SW_ERR_INIT;
  bool is_exec = !strcmp(o->cmd, "exec");
  char *wf_dir = NULL, *path = NULL, *workflow = NULL, *sql_dir = NULL;
  cJSON *input = NULL;
  int code = SW_EXIT_USAGE;
  int lock_fd = -1;
  size_t len = 0;

  memset(&rc, 0, sizeof(rc));
  rc.t0 = sw_time_now_ms();
  if (!o->arg) {
    cli_error("%s needs a %s (see stepwise %s --help)", o->cmd,
              is_exec ? "definition FILE" : "workflow NAME", o->cmd);
    return SW_EXIT_USAGE;
  }
  wf_dir = cli_workflows_dir(o);
  if (is_exec) {
    path = sw_strdup(o->arg);
    workflow = base_name(o->arg);
  } else {
    if (!wf_dir) {
      cli_error("no workflows directory (looked at --workflows, "
                "STEPWISE_WORKFLOWS, ./workflows and %s/workflows)",
                SW_SHARE_DIR);
      goto done;
    }
    path = sw_asprintf("%s/%s.asl.json", wf_dir, o->arg);
    workflow = sw_strdup(o->arg);
    if (strchr(o->arg, '/') || !sw_file_exists(path)) {
      sw_buf known = SW_BUF_INIT(0);
      list_workflows(wf_dir, &known);
      cli_error("unknown workflow \"%s\" in %s/ (known: %s)", o->arg, wf_dir,
                known.len ? known.ptr : "none");
      sw_buf_dispose(&known);
      goto done;
    }
  }
  if (sw_file_read(&rc.def_text, &len, path, 16u << 20, &err) < 0 ||
      sw_asl_parse(&rc.def, rc.def_text, len, path, &err) < 0) {
    cli_error("%s", err.msg);
    goto done;
  }
  if (read_input(&input, o->input) < 0)
    goto done;
  sql_dir = cli_sql_dir(o, wf_dir);
  if (uv_loop_init(&rc.loop) != 0) {
    cli_error("cannot create the event loop");
    goto done;
  }
  rc.progress = !o->quiet && isatty(2);
  if (setup(&rc, o, o->warehouse, sql_dir) < 0) {
    code = SW_EXIT_USAGE;
    goto teardown;
  }
  {
    sw_engine_start_req req;
    memset(&req, 0, sizeof(req));
    req.def = rc.def;
    req.definition_text = rc.def_text;
    req.workflow = workflow;
    req.source = path;
    req.name = o->name;
    req.input = input;
    req.warehouse = o->warehouse;
    if (sw_engine_start(rc.eng, &req, rc.exec_id, &err) < 0) {
      cli_error("%s", err.msg);
      code = err.code == SW_EEXISTS || err.code == SW_ELIMIT ? SW_EXIT_USAGE
                                                             : SW_EXIT_FAILED;
      goto teardown;
    }
  }
  lock_fd = lock_execution(o, rc.exec_id);
  if (rc.progress)
    fprintf(stderr, "stepwise: %s execution %s\n", workflow, rc.exec_id);
  code = run_to_end(&rc, o);
teardown:
  teardown(&rc);
  rc.def = NULL;
  rc.def_text = NULL;
done:
  sw_asl_free(rc.def);
  sw_free(rc.def_text);
  cJSON_Delete(input);
  sw_free(wf_dir);
  sw_free(path);
  sw_free(workflow);
  sw_free(sql_dir);
  if (lock_fd >= 0)
    close(lock_fd);
  return code;
}

int cli_cmd_resume(const cli_opts *o)
{
  run_ctx rc;
  sw_err err = SW_ERR_INIT;
  sw_store *st = NULL;
  sw_store_execution e;
  char *wf_dir = NULL, *sql_dir = NULL;
  int code = SW_EXIT_USAGE;
  int lock_fd = -1;

  memset(&rc, 0, sizeof(rc));
  memset(&e, 0, sizeof(e));
  rc.t0 = sw_time_now_ms();
  if (!o->arg) {
    cli_error("resume needs an execution ID (see stepwise resume --help)");
    return SW_EXIT_USAGE;
  }
  /* Read what we need, then close: setup() opens the store again after
   * every check has passed. */
  if (cli_open_store(&st, o, false) < 0)
    return SW_EXIT_USAGE;
  if (sw_store_get_execution(st, o->arg, &e, &err) < 0 ||
      sw_store_get_definition(st, e.definition_hash, &rc.def_text, &err) < 0) {
    cli_error("%s", err.msg);
    sw_store_close(st);
    goto done;
  }
  sw_store_close(st);
  if (!strcmp(e.status, "SUCCEEDED")) {
    cli_error("execution %s SUCCEEDED already; nothing to resume", e.id);
    goto done;
  }
  if (sw_asl_parse(&rc.def, rc.def_text, strlen(rc.def_text),
                   e.source ? e.source : e.workflow, &err) < 0) {
    cli_error("%s", err.msg);
    goto done;
  }
  if (sw_server_owns_workflow(e.workflow) && serve_running(o)) {
    cli_error("execution %s (%s) belongs to the stepwise serve running "
              "with this home; it resumes it itself (stop the server to "
              "resume it by hand)",
              e.id, e.workflow);
    goto done;
  }
  lock_fd = lock_execution(o, e.id);
  if (lock_fd < 0)
    goto done;
  wf_dir = cli_workflows_dir(o);
  sql_dir = cli_sql_dir(o, wf_dir);
  snprintf(rc.exec_id, sizeof(rc.exec_id), "%s", e.id);
  if (uv_loop_init(&rc.loop) != 0)
    goto done;
  rc.progress = !o->quiet && isatty(2);
  if (setup(&rc, o, o->warehouse ? o->warehouse : e.warehouse, sql_dir) < 0)
    goto teardown;
  if (sw_engine_resume(rc.eng, e.id, rc.def, &err) < 0) {
    cli_error("%s", err.msg);
    goto teardown;
  }
  if (rc.progress)
    fprintf(stderr, "stepwise: resuming %s execution %s\n", e.workflow,
            e.id);
  code = run_to_end(&rc, o);
teardown:
  teardown(&rc);
  rc.def = NULL;
  rc.def_text = NULL;
done:
  sw_asl_free(rc.def);
  sw_free(rc.def_text);
  sw_store_execution_dispose(&e);
  sw_free(wf_dir);
  sw_free(sql_dir);
  if (lock_fd >= 0)
    close(lock_fd);
  return code;
}
