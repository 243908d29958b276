/* SPDX-License-Identifier: MIT */
/* cli internals: parsed options and helpers shared by the cmd_*.c files. */
#ifndef SW_CLI_INT_H
#define SW_CLI_INT_H

#include <stdbool.h>

#include "asl/asl.h"
#include "common/common.h"
#include "store/store.h"

/* Exit codes (issue #2): 0 SUCCEEDED, 1 FAILED, 2 usage/invalid input. */
#define SW_EXIT_OK 0
#define SW_EXIT_FAILED 1
#define SW_EXIT_USAGE 2

typedef struct cli_opts {
  const char *cmd;         /* subcommand */
  const char *arg;         /* first positional argument */
  char **args;             /* all positionals (borrowed from argv) */
  int n_args;
  const char *input;       /* --input JSON or @FILE */
  const char *name;        /* --name */
  const char *warehouse;   /* --warehouse URL */
  const char *home;        /* --home DIR */
  const char *workflows;   /* --workflows DIR */
  const char *sql;         /* --sql DIR */
  const char *status;      /* --status S (list) */
  bool json;               /* --json */
  bool quiet;              /* --quiet: no progress */
} cli_opts;

/** Print "stepwise: <msg>" on stderr. */
void cli_error(const char *fmt, ...) SW_PRINTF(1, 2);

/** The home directory (created if needed when `create`). Caller frees. */
char *cli_home(const cli_opts *o);
/** Open HOME/state.db. Prints the error. */
int cli_open_store(sw_store **out, const cli_opts *o, bool create);
/** The workflows directory that exists, or NULL (caller frees). */
char *cli_workflows_dir(const cli_opts *o);
/** The sql directory for scripts (caller frees). */
char *cli_sql_dir(const cli_opts *o, const char *workflows_dir);
/** DescribeExecution shape of a stored execution (caller deletes). */
cJSON *cli_describe(const sw_store_execution *e);

int cli_cmd_run(const cli_opts *o);      /* start, exec */
int cli_cmd_resume(const cli_opts *o);   /* resume */
/** stepwise worker: parses its own options (argv[0] is "worker"). */
int cli_cmd_worker(int argc, char **argv);
extern const char cli_worker_help[];
/** stepwise serve: parses its own options (argv[0] is "serve"). */
int cli_cmd_serve(int argc, char **argv);
extern const char cli_serve_help[];

#endif
