/* SPDX-License-Identifier: MIT */
/* stepwise serve: start executions from webhooks, S3 events and an inbox
 * directory, and keep running them (src/server). Runs until SIGTERM or
 * SIGINT, then stops where it is: unfinished executions stay RUNNING and
 * the next `stepwise serve` resumes them.
 *
 * Settings come from the command line, then the INI file named by
 * --config (or STEPWISE_CONFIG, default ./stepwise.ini when it exists):
 *   [serve]        listen = HOST:PORT, inbox = DIR, s3_dir = DIR (S3 objects fetched to, [HOME/s3]),
 *                  max_body_bytes = N, settle_ms = N
 *   [controlshift] webhook_secret = S  (or env
 *                  STEPWISE_CONTROLSHIFT_WEBHOOK_SECRET)
 *   [ingest]       inbox = DIR          (when [serve] has none)
 * The same file configures the activities (their own sections), so
 * --config also sets STEPWISE_CONFIG for them. Parsed with libinih. */
#define _XOPEN_SOURCE 700 /* realpath */
#include "cli/cli_int.h"
#include "server/server.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>
#include <uv.h>

const char cli_serve_help[] =
    "usage: stepwise serve [--listen HOST:PORT] [--port-file FILE]\n"
    "                      [--config FILE] [--inbox DIR] [--s3-dir DIR]\n"
    "                      [--home DIR] [--workflows DIR] [--sql DIR]\n"
    "                      [--warehouse URL] [--quiet]\n"
    "Start executions from events and run them until SIGTERM:\n"
    "  POST /hooks/controlshift  ControlShift bulk-data webhook ->\n"
    "                            controlshift_bulk_data\n"
    "  POST /hooks/s3            S3 ObjectCreated event -> file_ingest\n"
    "  GET  /health, GET /metrics\n"
    "  files settling in --inbox DIR -> file_ingest {\"file\": PATH}\n"
    "  --listen HOST:PORT   [127.0.0.1:8080]; port 0 picks a free one\n"
    "  --port-file FILE     write the port listened on to FILE\n"
    "  --config FILE        INI settings ([serve], [controlshift]\n"
    "                       webhook_secret, [ingest]) [STEPWISE_CONFIG or\n"
    "                       ./stepwise.ini]\n"
    "A webhook is answered 2xx only once its execution is on disk; the same\n"
    "delivery twice starts one execution. Unfinished executions are resumed\n"
    "by the next stepwise serve.\n";

typedef struct serve_cfg {
  char *listen, *inbox, *s3_dir, *secret;
  long long max_body, settle_ms;
  const char *path;
  int bad_line;
  char bad[160];
} serve_cfg;

static int on_ini(void *user, const char *section, const char *key,
                  const char *value)
{
  serve_cfg *c = user;
  char *end = NULL;

  if (!strcmp(section, "serve")) {
    if (!strcmp(key, "listen")) {
      sw_free(c->listen);
      c->listen = sw_strdup(value);
    } else if (!strcmp(key, "inbox")) {
      sw_free(c->inbox);
      c->inbox = sw_strdup(value);
    } else if (!strcmp(key, "s3_dir")) {
      sw_free(c->s3_dir);
      c->s3_dir = sw_strdup(value);
    } else if (!strcmp(key, "max_body_bytes") ||
               !strcmp(key, "settle_ms")) {
      long long v = strtoll(value, &end, 10);
      if (!end || end == value || *end || v <= 0 ||
          (!strcmp(key, "max_body_bytes") && v > 262144)) {
        snprintf(c->bad, sizeof(c->bad),
                 "[serve] %s: expected a positive integer (max_body_bytes "
                 "at most 262144), got \"%.40s\"",
                 key, value);
        return 0;
      }
      if (!strcmp(key, "settle_ms"))
        c->settle_ms = v;
      else
        c->max_body = v;
    }
  } else if (!strcmp(section, "controlshift") &&
             !strcmp(key, "webhook_secret")) {
    sw_free(c->secret);
    c->secret = sw_strdup(value);
  } else if (!strcmp(section, "ingest") && !strcmp(key, "inbox") &&
             !c->inbox) {
    c->inbox = sw_strdup(value);
  }
  return 1; /* other sections and keys belong to the activities */
}

typedef struct serve_ctx {
  uv_loop_t loop;
  uv_signal_t sigint, sigterm;
  sw_server *srv;
  bool stopping;
  bool quiet;
} serve_ctx;

static void closed(void *payload)
{
  serve_ctx *c = payload;

  c->srv = NULL;
  uv_close((uv_handle_t *)&c->sigint, NULL);
  uv_close((uv_handle_t *)&c->sigterm, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
  serve_ctx *c = h->data;
  sw_server_stats st;

  if (c->stopping)
    return;
  c->stopping = true;
  sw_server_get_stats(c->srv, &st);
  if (!c->quiet)
    fprintf(stderr,
            "stepwise serve: %s; stopping (accepted %lu, duplicate %lu, "
            "rejected %lu, skipped %lu; %d execution(s) left RUNNING for "
            "the next start)\n",
            signum == SIGINT ? "SIGINT" : "SIGTERM", st.accepted,
            st.duplicate, st.rejected, st.skipped, st.running);
  sw_server_close(c->srv, closed, c);
}

/* "HOST:PORT" or ":PORT" or "PORT" */
static bool parse_listen(const char *s, char *host, size_t hsize, int *port)
{
  const char *colon = strrchr(s, ':');
  const char *p = colon ? colon + 1 : s;
  char *end = NULL;
  long v = strtol(p, &end, 10);

  if (!end || end == p || *end || v < 0 || v > 65535)
    return false;
  if (colon && colon != s)
    snprintf(host, hsize, "%.*s", (int)(colon - s), s);
  else
    snprintf(host, hsize, "127.0.0.1");
  *port = (int)v;
  return true;
}

int cli_cmd_serve(int argc, char **argv)
{
  serve_ctx c;
  serve_cfg cfg;
  sw_server_opts so;
  sw_err err = SW_ERR_INIT;
  cli_opts co;
  const char *listen = NULL, *port_file = NULL, *config = NULL;
  const char *inbox = NULL, *s3_dir = NULL, *env;
  char *home = NULL, *wf = NULL, *sql = NULL, *inbox_abs = NULL;
  char host[64];
  int i, port = 8080, code = SW_EXIT_USAGE, line;

  memset(&c, 0, sizeof(c));
  memset(&cfg, 0, sizeof(cfg));
  memset(&co, 0, sizeof(co));
  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *val = i + 1 < argc ? argv[i + 1] : NULL;
    const char **slot = NULL;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      fputs(cli_serve_help, stdout);
      return SW_EXIT_OK;
    }
    if (!strcmp(a, "--quiet")) {
      c.quiet = true;
      continue;
    }
    if (!strcmp(a, "--listen"))
      slot = &listen;
    else if (!strcmp(a, "--port-file"))
      slot = &port_file;
    else if (!strcmp(a, "--config"))
      slot = &config;
    else if (!strcmp(a, "--inbox"))
      slot = &inbox;
    else if (!strcmp(a, "--s3-dir"))
      slot = &s3_dir;
    else if (!strcmp(a, "--home"))
      slot = &co.home;
    else if (!strcmp(a, "--workflows"))
      slot = &co.workflows;
    else if (!strcmp(a, "--sql"))
      slot = &co.sql;
    else if (!strcmp(a, "--warehouse"))
      slot = &co.warehouse;
    if (!slot) {
      cli_error("serve: unknown option \"%s\" (see stepwise serve --help)",
                a);
      return SW_EXIT_USAGE;
    }
    if (!val) {
      cli_error("serve: %s needs a value", a);
      return SW_EXIT_USAGE;
    }
    *slot = val;
    i++;
  }

  /* The INI file: explicit, else STEPWISE_CONFIG, else ./stepwise.ini. */
  env = getenv("STEPWISE_CONFIG");
  cfg.path = config ? config : env && *env ? env : "stepwise.ini";
  if (config || sw_file_exists(cfg.path)) {
    line = ini_parse(cfg.path, on_ini, &cfg);
    if (line < 0) {
      cli_error("%s: cannot read the configuration file", cfg.path);
      goto done;
    }
    if (line > 0) {
      cli_error("%s:%d: %s", cfg.path, line,
                cfg.bad[0] ? cfg.bad : "expected [section] or key = value");
      goto done;
    }
    if (config)
      setenv("STEPWISE_CONFIG", config, 1); /* for the activities */
  }
  if (!listen)
    listen = cfg.listen;
  if (listen && !parse_listen(listen, host, sizeof(host), &port)) {
    cli_error("serve: --listen \"%s\": expected HOST:PORT with PORT in "
              "0..65535",
              listen);
    goto done;
  }
  if (!listen)
    snprintf(host, sizeof(host), "127.0.0.1");
  if (!inbox)
    inbox = cfg.inbox;
  if (inbox) {
    inbox_abs = realpath(inbox, NULL);
    if (!inbox_abs) {
      cli_error("serve: inbox %s: expected an existing directory", inbox);
      goto done;
    }
  }
  if (!s3_dir)
    s3_dir = cfg.s3_dir;
  env = getenv("STEPWISE_CONTROLSHIFT_WEBHOOK_SECRET");
  if (!cfg.secret && env && *env)
    cfg.secret = sw_strdup(env);

  home = cli_home(&co);
  wf = cli_workflows_dir(&co);
  if (!wf) {
    cli_error("serve: no workflows directory (looked at --workflows, "
              "STEPWISE_WORKFLOWS, ./workflows and %s/workflows)",
              SW_SHARE_DIR);
    goto done;
  }
  sql = cli_sql_dir(&co, wf);
  if (uv_loop_init(&c.loop) != 0) {
    cli_error("cannot create the event loop");
    goto done;
  }
  memset(&so, 0, sizeof(so));
  so.host = host;
  so.port = port;
  so.home = home;
  so.workflows_dir = wf;
  so.sql_dir = sql;
  so.warehouse = co.warehouse;
  so.controlshift_secret = cfg.secret;
  so.inbox = inbox_abs;
  so.s3_dir = s3_dir;
  so.max_body = (size_t)cfg.max_body;
  so.settle_ms = (int)cfg.settle_ms;
  so.quiet = c.quiet;
  if (sw_server_new(&c.srv, &c.loop, &so, &err) < 0) {
    cli_error("%s", err.msg);
    code = err.code == SW_EIO ? SW_EXIT_FAILED : SW_EXIT_USAGE;
    uv_loop_close(&c.loop);
    goto done;
  }
  if (port_file) {
    FILE *f = fopen(port_file, "w");
    if (f) {
      fprintf(f, "%d\n", sw_server_port(c.srv));
      fclose(f);
    }
  }
  if (!c.quiet)
    fprintf(stderr, "stepwise serve: listening on http://%s:%d%s%s\n", host,
            sw_server_port(c.srv), inbox_abs ? ", watching " : "",
            inbox_abs ? inbox_abs : "");
  uv_signal_init(&c.loop, &c.sigint);
  uv_signal_init(&c.loop, &c.sigterm);
  c.sigint.data = &c;
  c.sigterm.data = &c;
  uv_signal_start(&c.sigint, on_signal, SIGINT);
  uv_signal_start(&c.sigterm, on_signal, SIGTERM);
  uv_run(&c.loop, UV_RUN_DEFAULT);
  code = SW_EXIT_OK;
  if (c.srv && !c.stopping) { /* the engine stopped the loop: store failed */
    cli_error("the state store failed; executions stay RUNNING at their "
              "last checkpoint and the next stepwise serve resumes them");
    c.stopping = true;
    sw_server_close(c.srv, closed, &c);
    uv_run(&c.loop, UV_RUN_DEFAULT);
    code = SW_EXIT_FAILED;
  }
  if (uv_loop_close(&c.loop) != 0)
    sw_log(SW_LOG_WARN, "event loop closed with handles still open");
done:
  if (cfg.secret) {
    memset(cfg.secret, 0, strlen(cfg.secret));
    sw_free(cfg.secret);
  }
  sw_free(cfg.listen);
  sw_free(cfg.inbox);
  sw_free(cfg.s3_dir);
  sw_free(inbox_abs); /* from realpath: malloc, as sw_free expects */
  sw_free(home);
  sw_free(wf);
  sw_free(sql);
  return code;
}
