/* SPDX-License-Identifier: MIT */
/* stepwise worker: serve Step Functions activities until SIGTERM (drain,
 * exit 0) or SIGINT (drain; a second SIGINT exits at once with 130, which
 * the checkpoint in HOME/worker.db makes safe). Options are parsed here
 * because --activity repeats. */
#include "cli/cli_int.h"
#include "stepwise/worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

const char cli_worker_help[] =
    "usage: stepwise worker --activity ARN [--activity ARN ...]\n"
    "                       [--concurrency N] [--worker-name NAME]\n"
    "                       [--heartbeat-seconds S] [--drain-seconds S]\n"
    "                       [--home DIR] [--workflows DIR] [--sql DIR]\n"
    "                       [--warehouse URL] [--region R] [--quiet]\n"
    "Serve AWS Step Functions activities: long-poll GetActivityTask, run\n"
    "each task durably, report SendTaskSuccess/SendTaskFailure.\n"
    "  --activity ARN        arn:aws:states:REGION:ACCOUNT:activity:NAME;\n"
    "                        NAME is stepwise.workflow.run (input\n"
    "                        {\"workflow\": NAME, \"input\": {...}}) or a\n"
    "                        built-in such as stepwise.sql.submitScript\n"
    "  --concurrency N       tasks in progress at most, and open polls [1]\n"
    "  --worker-name NAME    recorded in ActivityStarted [host name]\n"
    "  --heartbeat-seconds S the HeartbeatSeconds of the states; a\n"
    "                        heartbeat goes every S/3 [60]\n"
    "  --drain-seconds S     on SIGTERM, wait this long for tasks in\n"
    "                        flight; the rest resume on the next start [30]\n"
    "  --region R            instead of the ARN's region\n"
    "Endpoint: AWS_ENDPOINT_URL_SFN, AWS_ENDPOINT_URL, else\n"
    "https://states.REGION.amazonaws.com. Credentials: AWS_ACCESS_KEY_ID...\n"
    "or AWS_PROFILE. Tasks are checkpointed in HOME/worker.db and resumed\n"
    "when the worker starts again. SIGTERM drains and exits 0.\n";

typedef struct worker_ctx {
  uv_loop_t loop;
  uv_signal_t sigint, sigterm;
  sw_worker *w;
  int sigints;
  bool draining;
  bool quiet;
} worker_ctx;

static void closed(void *payload)
{
  worker_ctx *c = payload;

  c->w = NULL;
  uv_close((uv_handle_t *)&c->sigint, NULL);
  uv_close((uv_handle_t *)&c->sigterm, NULL);
}

static void print_stats(worker_ctx *c)
{
  sw_worker_stats s;

  if (c->quiet || !c->w)
    return;
  sw_worker_get_stats(c->w, &s);
  fprintf(stderr,
          "stepwise worker: accepted %lu, resumed %lu, succeeded %lu, "
          "failed %lu, lost %lu, retries %lu, in progress %d\n",
          s.accepted, s.resumed, s.succeeded, s.failed, s.lost, s.retries,
          s.in_progress);
}

static void drained(void *payload)
{
  worker_ctx *c = payload;

  print_stats(c);
  sw_worker_close(c->w, closed, c);
}

static void on_signal(uv_signal_t *s, int signum)
{
  worker_ctx *c = s->data;

  if (signum == SIGINT && ++c->sigints >= 2) {
    /* At once: every accepted task is in worker.db already. */
    fprintf(stderr, "stepwise worker: interrupted; unfinished tasks resume "
                    "on the next start\n");
    _exit(130);
  }
  if (c->draining)
    return;
  c->draining = true;
  if (!c->quiet)
    fprintf(stderr, "stepwise worker: draining (%s)%s\n",
            signum == SIGINT ? "SIGINT" : "SIGTERM",
            signum == SIGINT ? "; SIGINT again to exit at once" : "");
  sw_worker_drain(c->w, drained, c);
}

static bool num_arg(const char *s, double lo, double hi, double *out)
{
  char *end = NULL;
  double v = strtod(s, &end);

  if (!end || end == s || *end || v < lo || v > hi)
    return false;
  *out = v;
  return true;
}

int cli_cmd_worker(int argc, char **argv)
{
  worker_ctx c;
  sw_worker_opts o = SW_WORKER_OPTS_INIT;
  sw_err err = SW_ERR_INIT;
  const char **arns = sw_calloc((size_t)argc + 1, sizeof(*arns));
  cli_opts co;
  char *home = NULL, *wf = NULL, *sql = NULL;
  int n_arns = 0, i, code = SW_EXIT_USAGE;
  double v;

  memset(&c, 0, sizeof(c));
  memset(&co, 0, sizeof(co));
  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *val = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      fputs(cli_worker_help, stdout);
      code = SW_EXIT_OK;
      goto done;
    }
    if (!strcmp(a, "--quiet")) {
      c.quiet = true;
      continue;
    }
    if (a[0] != '-' || !a[1]) {
      cli_error("worker takes no positional argument \"%s\" (see stepwise "
                "worker --help)", a);
      goto done;
    }
    if (!val) {
      cli_error("%s needs a value (see stepwise worker --help)", a);
      goto done;
    }
    i++;
    if (!strcmp(a, "--activity")) {
      arns[n_arns++] = val;
    } else if (!strcmp(a, "--concurrency") && num_arg(val, 1, 1000, &v) &&
               v == (int)v) {
      o.concurrency = (int)v;
    } else if (!strcmp(a, "--heartbeat-seconds") &&
               num_arg(val, 0.03, 99999999, &v)) {
      o.heartbeat_seconds = v;
    } else if (!strcmp(a, "--drain-seconds") &&
               num_arg(val, 0.001, 86400, &v)) {
      o.drain_seconds = v;
    } else if (!strcmp(a, "--worker-name")) {
      o.worker_name = val;
    } else if (!strcmp(a, "--home")) {
      co.home = val;
    } else if (!strcmp(a, "--workflows")) {
      co.workflows = val;
    } else if (!strcmp(a, "--sql")) {
      co.sql = val;
    } else if (!strcmp(a, "--warehouse")) {
      o.warehouse = val;
    } else if (!strcmp(a, "--region")) {
      o.region = val;
    } else if (!strcmp(a, "--concurrency") ||
               !strcmp(a, "--heartbeat-seconds") ||
               !strcmp(a, "--drain-seconds")) {
      cli_error("%s: bad value \"%s\" (see stepwise worker --help)", a, val);
      goto done;
    } else {
      cli_error("unknown option %s (see stepwise worker --help)", a);
      goto done;
    }
  }
  if (n_arns == 0) {
    cli_error("worker needs at least one --activity ARN (see stepwise "
              "worker --help)");
    goto done;
  }
  home = cli_home(&co);
  wf = cli_workflows_dir(&co);
  sql = cli_sql_dir(&co, wf);
  o.home = home;
  o.workflows_dir = wf ? wf : "workflows";
  o.sql_dir = sql;
  if (uv_loop_init(&c.loop) != 0) {
    cli_error("cannot create the event loop");
    code = SW_EXIT_FAILED;
    goto done;
  }
  if (sw_worker_new(&c.w, &c.loop, &o, &err) < 0) {
    cli_error("%s", err.msg);
    code = err.code == SW_EINVAL ? SW_EXIT_USAGE : SW_EXIT_FAILED;
    goto run;
  }
  for (i = 0; i < n_arns; i++)
    if (sw_worker_add_activity(c.w, arns[i], &err) < 0) {
      cli_error("%s", err.msg);
      sw_worker_close(c.w, NULL, NULL);
      c.w = NULL;
      goto run;
    }
  if (sw_worker_start(c.w, &err) < 0) {
    cli_error("%s", err.msg);
    code = SW_EXIT_FAILED;
    sw_worker_close(c.w, NULL, NULL);
    c.w = NULL;
    goto run;
  }
  c.sigint.data = &c;
  c.sigterm.data = &c;
  uv_signal_init(&c.loop, &c.sigint);
  uv_signal_init(&c.loop, &c.sigterm);
  uv_signal_start(&c.sigint, on_signal, SIGINT);
  uv_signal_start(&c.sigterm, on_signal, SIGTERM);
  if (!c.quiet)
    fprintf(stderr,
            "stepwise worker: serving %d activit%s with %d poll%s (pid %d)\n",
            n_arns, n_arns == 1 ? "y" : "ies",
            o.concurrency ? o.concurrency : 1,
            o.concurrency > 1 ? "s" : "", (int)getpid());
  code = SW_EXIT_OK;
run:
  uv_run(&c.loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&c.loop) != 0)
    sw_log(SW_LOG_WARN, "event loop closed with handles still open");
done:
  sw_free(arns);
  sw_free(home);
  sw_free(wf);
  sw_free(sql);
  return code;
}
