/* SPDX-License-Identifier: MIT */
/* The stepwise command line: option parsing, help, and the commands that
 * only read the store (status, list, history) or definitions (validate). */
#include "cli/cli.h"
#include "cli/cli_int.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char usage_text[] =
    "usage: stepwise <command> [options]\n"
    "\n"
    "Run Amazon States Language workflows durably: every step is\n"
    "checkpointed, so a killed or failed execution resumes where it stopped.\n"
    "\n"
    "commands:\n"
    "  start NAME       run the workflow workflows/NAME.asl.json to the end\n"
    "  exec FILE        run a definition file that is not in workflows/\n"
    "  resume ID        continue a killed execution, or redrive a FAILED one\n"
    "                   from the state that failed\n"
    "  status [ID]      describe an execution (default: the latest)\n"
    "  list             list executions, newest first\n"
    "  history ID       the execution's history events\n"
    "  validate FILE... check definitions; one line per file\n"
    "  worker --activity ARN...  serve AWS Step Functions activities\n"
    "                   (stepwise worker --help)\n"
    "  serve            start executions from webhooks, S3 events and an\n"
    "                   inbox directory (stepwise serve --help)\n"
    "\n"
    "options:\n"
    "  --input JSON|@FILE   execution input (default {})\n"
    "  --name NAME          execution name (unique per workflow)\n"
    "  --warehouse URL      sqlite:PATH (default HOME/warehouse.db)\n"
    "  --home DIR           state directory (STEPWISE_HOME, default "
    "./.stepwise)\n"
    "  --workflows DIR      where NAME.asl.json is found (STEPWISE_WORKFLOWS,\n"
    "                       ./workflows, then the installed share directory)\n"
    "  --sql DIR            where scripts are found (default: the sql/ beside\n"
    "                       the workflows directory)\n"
    "  --status S           list: RUNNING, SUCCEEDED, FAILED, TIMED_OUT, "
    "ABORTED\n"
    "  --json               print the DescribeExecution shape as JSON\n"
    "  --quiet              no progress lines on stderr\n"
    "  -h, --help           this text; `stepwise CMD --help` for one command\n"
    "\n"
    "exit status: 0 SUCCEEDED, 1 FAILED (or TIMED_OUT), 2 usage error or\n"
    "invalid definition/input.\n";

static const struct {
  const char *cmd;
  const char *help;
} cmd_help[] = {
    {"start",
     "usage: stepwise start NAME [--input JSON|@FILE] [--name EXEC_NAME]\n"
     "                      [--warehouse URL] [--home DIR] [--json]\n"
     "Run workflows/NAME.asl.json to the end. Progress goes to stderr when\n"
     "it is a terminal. Exit 0 SUCCEEDED, 1 FAILED, 2 usage or invalid.\n"},
    {"exec",
     "usage: stepwise exec FILE [--input JSON|@FILE] [--name EXEC_NAME]\n"
     "                     [--warehouse URL] [--home DIR] [--json]\n"
     "Run the definition in FILE (any path) to the end, durably.\n"},
    {"resume",
     "usage: stepwise resume ID [--warehouse URL] [--home DIR] [--json]\n"
     "Continue execution ID (or name) from its last checkpoint. A RUNNING\n"
     "execution (killed) continues where it stopped; a FAILED one is\n"
     "redriven from the state that failed, as RedriveExecution does.\n"},
    {"status",
     "usage: stepwise status [ID] [--home DIR]\n"
     "Print the DescribeExecution shape of ID (default: the latest).\n"},
    {"list",
     "usage: stepwise list [--status S] [--home DIR] [--json]\n"
     "List executions, newest first.\n"},
    {"history",
     "usage: stepwise history ID [--home DIR] [--json]\n"
     "Print the history events of execution ID.\n"},
    {"validate",
     "usage: stepwise validate FILE...\n"
     "Check each definition; print \"FILE: valid\" or the first problem.\n"
     "Exit 0 when all are valid, 2 otherwise.\n"},
};

void cli_error(const char *fmt, ...)
{
  va_list ap;

  fputs("stepwise: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

char *cli_home(const cli_opts *o)
{
  const char *h = o->home ? o->home : getenv("STEPWISE_HOME");
  return sw_strdup(h && *h ? h : ".stepwise");
}

int cli_open_store(sw_store **out, const cli_opts *o, bool create)
{
  sw_err err = SW_ERR_INIT;
  char *home = cli_home(o);
  char *path = sw_asprintf("%s/state.db", home);
  int rc = 0;

  *out = NULL;
  if (!create && !sw_file_exists(path)) {
    cli_error("%s: no executions yet (the state store does not exist)",
              path);
    rc = SW_ENOTFOUND;
    goto done;
  }
  if (create && (rc = sw_mkdirs(home, &err)) < 0) {
    cli_error("%s", err.msg);
    goto done;
  }
  rc = sw_store_open(out, path, &err);
  if (rc < 0)
    cli_error("%s", err.msg);
done:
  sw_free(home);
  sw_free(path);
  return rc;
}

static bool is_dir(const char *p)
{
  struct stat st;
  return p && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

char *cli_workflows_dir(const cli_opts *o)
{
  const char *env = getenv("STEPWISE_WORKFLOWS");

  if (o->workflows)
    return is_dir(o->workflows) ? sw_strdup(o->workflows) : NULL;
  if (env && *env)
    return is_dir(env) ? sw_strdup(env) : NULL;
  if (is_dir("workflows"))
    return sw_strdup("workflows");
  if (is_dir(SW_SHARE_DIR "/workflows"))
    return sw_strdup(SW_SHARE_DIR "/workflows");
  return NULL;
}

char *cli_sql_dir(const cli_opts *o, const char *workflows_dir)
{
  const char *env = getenv("STEPWISE_SQL");

  if (o->sql)
    return sw_strdup(o->sql);
  if (env && *env)
    return sw_strdup(env);
  if (workflows_dir) {
    char *p = sw_asprintf("%s/../sql", workflows_dir);
    if (is_dir(p))
      return p;
    sw_free(p);
  }
  return sw_strdup("sql");
}

static cJSON *json_or_string(const char *text)
{
  cJSON *v = text ? cJSON_Parse(text) : NULL;
  return v ? v : cJSON_CreateString(text ? text : "");
}

cJSON *cli_describe(const sw_store_execution *e)
{
  cJSON *d = cJSON_CreateObject();
  char ts[40];
  char *arn = sw_asprintf("arn:aws:states:local:000000000000:execution:%s:%s",
                          e->workflow, e->name);

  cJSON_AddStringToObject(d, "executionArn", arn);
  sw_free(arn);
  arn = sw_asprintf("arn:aws:states:local:000000000000:stateMachine:%s",
                    e->workflow);
  cJSON_AddStringToObject(d, "stateMachineArn", arn);
  sw_free(arn);
  cJSON_AddStringToObject(d, "executionId", e->id);
  cJSON_AddStringToObject(d, "name", e->name);
  cJSON_AddStringToObject(d, "status", e->status);
  sw_time_format_iso(ts, sizeof(ts), e->start_ms);
  cJSON_AddStringToObject(d, "startDate", ts);
  if (e->stop_ms) {
    sw_time_format_iso(ts, sizeof(ts), e->stop_ms);
    cJSON_AddStringToObject(d, "stopDate", ts);
  } else {
    cJSON_AddNullToObject(d, "stopDate");
  }
  cJSON_AddItemToObject(d, "input", json_or_string(e->input));
  if (e->output)
    cJSON_AddItemToObject(d, "output", json_or_string(e->output));
  else
    cJSON_AddNullToObject(d, "output");
  if (e->error)
    cJSON_AddStringToObject(d, "error", e->error);
  else
    cJSON_AddNullToObject(d, "error");
  if (e->cause)
    cJSON_AddStringToObject(d, "cause", e->cause);
  else
    cJSON_AddNullToObject(d, "cause");
  cJSON_AddNumberToObject(d, "redriveCount", e->redrive_count);
  return d;
}

static void print_json(const cJSON *v)
{
  char *s = cJSON_Print(v);
  puts(s);
  sw_free(s);
}

static int cmd_validate(const cli_opts *o)
{
  int i, bad = 0;

  if (o->n_args < 1) {
    cli_error("validate needs at least one FILE (see stepwise validate "
              "--help)");
    return SW_EXIT_USAGE;
  }
  for (i = 0; i < o->n_args; i++) {
    sw_asl_definition *def = NULL;
    sw_err err = SW_ERR_INIT;
    if (sw_asl_load_file(&def, o->args[i], &err) < 0) {
      fprintf(stdout, "%s\n", err.msg);
      bad++;
    } else {
      fprintf(stdout, "%s: valid\n", o->args[i]);
    }
    sw_asl_free(def);
  }
  return bad ? SW_EXIT_USAGE : SW_EXIT_OK;
}

static int cmd_status(const cli_opts *o)
{
  sw_store *st = NULL;
  sw_store_execution e;
  sw_err err = SW_ERR_INIT;
  int rc;

  if (cli_open_store(&st, o, false) < 0)
    return SW_EXIT_USAGE;
  rc = sw_store_get_execution(st, o->arg, &e, &err);
  if (rc < 0) {
    cli_error("%s", err.msg);
    sw_store_close(st);
    return SW_EXIT_USAGE;
  }
  {
    cJSON *d = cli_describe(&e);
    print_json(d);
    cJSON_Delete(d);
  }
  sw_store_execution_dispose(&e);
  sw_store_close(st);
  return SW_EXIT_OK;
}

typedef struct list_ctx {
  bool json;
  cJSON *arr;
  int n;
  sw_store_execution *first; /* for status without ID */
} list_ctx;

static void list_cb(const sw_store_execution *e, void *payload)
{
  list_ctx *lc = payload;
  char start[40], stop[40];

  lc->n++;
  if (lc->json) {
    cJSON_AddItemToArray(lc->arr, cli_describe(e));
    return;
  }
  sw_time_format_iso(start, sizeof(start), e->start_ms);
  if (e->stop_ms)
    sw_time_format_iso(stop, sizeof(stop), e->stop_ms);
  else
    snprintf(stop, sizeof(stop), "-");
  printf("%-36s  %-10s  %-24s  %-24s  %s  %s\n", e->id, e->status, start, stop,
         e->workflow, e->name);
}

static int cmd_list(const cli_opts *o)
{
  static const char *statuses[] = {"RUNNING", "SUCCEEDED", "FAILED",
                                   "TIMED_OUT", "ABORTED"};
  sw_store *st = NULL;
  sw_err err = SW_ERR_INIT;
  list_ctx lc = {o->json, NULL, 0, NULL};
  size_t i;
  bool ok = !o->status;

  for (i = 0; o->status && i < SW_ARRAY_SIZE(statuses); i++)
    ok = ok || !strcmp(o->status, statuses[i]);
  if (!ok) {
    cli_error("--status %s: expected one of RUNNING, SUCCEEDED, FAILED, "
              "TIMED_OUT, ABORTED",
              o->status);
    return SW_EXIT_USAGE;
  }
  if (cli_open_store(&st, o, false) < 0)
    return SW_EXIT_USAGE;
  if (o->json)
    lc.arr = cJSON_CreateArray();
  else
    printf("%-36s  %-10s  %-24s  %-24s  %s  %s\n", "ID", "STATUS", "STARTED",
           "STOPPED", "WORKFLOW", "NAME");
  if (sw_store_list_executions(st, o->status, list_cb, &lc, &err) < 0) {
    cli_error("%s", err.msg);
    cJSON_Delete(lc.arr);
    sw_store_close(st);
    return SW_EXIT_USAGE;
  }
  if (o->json) {
    cJSON *w = cJSON_CreateObject();
    cJSON_AddItemToObject(w, "executions", lc.arr);
    print_json(w);
    cJSON_Delete(w);
  }
  sw_store_close(st);
  return SW_EXIT_OK;
}

/* "TaskStateEntered" -> "stateEnteredEventDetails"; "TaskScheduled" ->
 * "taskScheduledEventDetails", as GetExecutionHistory names them. */
static char *details_key(const char *type)
{
  size_t n = strlen(type);
  char *k;

  if (n > 12 && !strcmp(type + n - 12, "StateEntered"))
    return sw_strdup("stateEnteredEventDetails");
  if (n > 11 && !strcmp(type + n - 11, "StateExited"))
    return sw_strdup("stateExitedEventDetails");
  k = sw_asprintf("%sEventDetails", type);
  if (k[0] >= 'A' && k[0] <= 'Z')
    k[0] = (char)(k[0] - 'A' + 'a');
  return k;
}

typedef struct hist_ctx {
  bool json;
  cJSON *arr;
} hist_ctx;

static void history_cb(const sw_store_event *ev, void *payload)
{
  hist_ctx *hc = payload;
  char ts[40];
  cJSON *details = cJSON_Parse(ev->details);

  sw_time_format_iso(ts, sizeof(ts), ev->ts_ms);
  if (hc->json) {
    cJSON *e = cJSON_CreateObject();
    char *key = details_key(ev->type);
    cJSON_AddStringToObject(e, "timestamp", ts);
    cJSON_AddStringToObject(e, "type", ev->type);
    cJSON_AddNumberToObject(e, "id", (double)ev->id);
    cJSON_AddNumberToObject(e, "previousEventId", (double)ev->previous_id);
    /* Step Functions records payloads as JSON-encoded strings. */
    {
      static const char *payload_keys[] = {"input", "output", "parameters"};
      size_t i;
      for (i = 0; i < SW_ARRAY_SIZE(payload_keys); i++) {
        cJSON *p = sw_json_get(details, payload_keys[i]);
        if (p && !cJSON_IsString(p)) {
          char *text = sw_json_print(p);
          cJSON_ReplaceItemInObjectCaseSensitive(details, payload_keys[i],
                                                 cJSON_CreateString(text));
          sw_free(text);
        }
      }
    }
    if (details && details->child)
      cJSON_AddItemToObject(e, key, details);
    else
      cJSON_Delete(details);
    sw_free(key);
    cJSON_AddItemToArray(hc->arr, e);
    return;
  }
  {
    const char *name = sw_json_get_str(details, "name");
    const char *error = sw_json_get_str(details, "error");
    printf("%5lld  %s  %-24s %s%s%s\n", (long long)ev->id, ts, ev->type,
           name ? name : "", error ? " error=" : "", error ? error : "");
  }
  cJSON_Delete(details);
}

static int cmd_history(const cli_opts *o)
{
  sw_store *st = NULL;
  sw_store_execution e;
  sw_err err = SW_ERR_INIT;
  hist_ctx hc = {o->json, NULL};
  int rc;

  if (!o->arg) {
    cli_error("history needs an execution ID (see stepwise history --help)");
    return SW_EXIT_USAGE;
  }
  if (cli_open_store(&st, o, false) < 0)
    return SW_EXIT_USAGE;
  rc = sw_store_get_execution(st, o->arg, &e, &err);
  if (rc < 0) {
    cli_error("%s", err.msg);
    sw_store_close(st);
    return SW_EXIT_USAGE;
  }
  if (o->json)
    hc.arr = cJSON_CreateArray();
  rc = sw_store_list_events(st, e.id, history_cb, &hc, &err);
  if (rc < 0)
    cli_error("%s", err.msg);
  if (o->json) {
    cJSON *w = cJSON_CreateObject();
    cJSON_AddItemToObject(w, "events", hc.arr);
    print_json(w);
    cJSON_Delete(w);
  }
  sw_store_execution_dispose(&e);
  sw_store_close(st);
  return rc < 0 ? SW_EXIT_USAGE : SW_EXIT_OK;
}

static void first_cb(const sw_store_execution *e, void *payload)
{
  list_ctx *lc = payload;
  if (lc->n++ == 0) {
    lc->first->id = sw_strdup(e->id);
  }
}

static int cmd_status_latest(const cli_opts *o)
{
  sw_store *st = NULL;
  sw_store_execution e;
  sw_err err = SW_ERR_INIT;
  list_ctx lc = {false, NULL, 0, &e};
  cli_opts o2 = *o;
  int rc;

  memset(&e, 0, sizeof(e));
  if (cli_open_store(&st, o, false) < 0)
    return SW_EXIT_USAGE;
  rc = sw_store_list_executions(st, NULL, first_cb, &lc, &err);
  sw_store_close(st);
  if (rc < 0 || !e.id) {
    cli_error("%s", rc < 0 ? err.msg : "no executions yet");
    return SW_EXIT_USAGE;
  }
  o2.arg = e.id;
  rc = cmd_status(&o2);
  sw_free(e.id);
  return rc;
}

static const char *cmd_usage(const char *cmd)
{
  size_t i;
  for (i = 0; i < SW_ARRAY_SIZE(cmd_help); i++)
    if (!strcmp(cmd_help[i].cmd, cmd))
      return cmd_help[i].help;
  return NULL;
}

int sw_cli_main(int argc, char **argv)
{
  cli_opts o;
  char **pos = NULL;
  int i, n = 0, rc;
  bool help = false;

  sw_json_init_hooks();
  memset(&o, 0, sizeof(o));
  if (argc < 2) {
    fputs(usage_text, stderr);
    return SW_EXIT_USAGE;
  }
  if (!strcmp(argv[1], "worker")) /* repeatable options: own parser */
    return cli_cmd_worker(argc - 1, argv + 1);
  if (!strcmp(argv[1], "serve")) /* its own options */
    return cli_cmd_serve(argc - 1, argv + 1);
  pos = sw_calloc((size_t)argc, sizeof(char *));
  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char **slot = NULL;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      help = true;
      continue;
    }
    if (!strcmp(a, "--json")) {
      o.json = true;
      continue;
    }
    if (!strcmp(a, "--quiet")) {
      o.quiet = true;
      continue;
    }
    if (!strcmp(a, "--input"))
      slot = &o.input;
    else if (!strcmp(a, "--name"))
      slot = &o.name;
    else if (!strcmp(a, "--warehouse"))
      slot = &o.warehouse;
    else if (!strcmp(a, "--home"))
      slot = &o.home;
    else if (!strcmp(a, "--workflows"))
      slot = &o.workflows;
    else if (!strcmp(a, "--sql"))
      slot = &o.sql;
    else if (!strcmp(a, "--status"))
      slot = &o.status;
    if (slot) {
      if (i + 1 >= argc) {
        cli_error("%s needs a value (see stepwise --help)", a);
        sw_free(pos);
        return SW_EXIT_USAGE;
      }
      *slot = argv[++i];
      continue;
    }
    if (a[0] == '-' && a[1]) {
      cli_error("unknown option %s (see stepwise --help)", a);
      sw_free(pos);
      return SW_EXIT_USAGE;
    }
    pos[n++] = argv[i];
  }
  if (n == 0) {
    fputs(usage_text, help ? stdout : stderr);
    sw_free(pos);
    return help ? SW_EXIT_OK : SW_EXIT_USAGE;
  }
  o.cmd = pos[0];
  o.args = pos + 1;
  o.n_args = n - 1;
  o.arg = n > 1 ? pos[1] : NULL;
  if (help) {
    const char *u = cmd_usage(o.cmd);
    fputs(u ? u : usage_text, stdout);
    sw_free(pos);
    return SW_EXIT_OK;
  }
  if (!strcmp(o.cmd, "start") || !strcmp(o.cmd, "exec"))
    rc = cli_cmd_run(&o);
  else if (!strcmp(o.cmd, "resume"))
    rc = cli_cmd_resume(&o);
  else if (!strcmp(o.cmd, "status"))
    rc = o.arg ? cmd_status(&o) : cmd_status_latest(&o);
  else if (!strcmp(o.cmd, "list"))
    rc = cmd_list(&o);
  else if (!strcmp(o.cmd, "history"))
    rc = cmd_history(&o);
  else if (!strcmp(o.cmd, "validate"))
    rc = cmd_validate(&o);
  else {
    cli_error("unknown command \"%s\" (expected start, exec, resume, status, "
              "list, history, validate, worker or serve; see stepwise --help)",
              o.cmd);
    rc = SW_EXIT_USAGE;
  }
  sw_free(pos);
  return rc;
}
