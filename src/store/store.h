/* SPDX-License-Identifier: MIT */
/* store: the SQLite checkpoint store (state.db) that makes executions
 * durable (DESIGN.md §4). It holds executions, definitions by content hash,
 * the history events named as Step Functions names them, a snapshot of
 * every branch's position (so resume never replays history), and pending
 * tasks with their idempotency token and external id.
 *
 * Transactions: the engine opens one transaction lazily with
 * sw_store_begin and commits it once per loop turn (group commit); every
 * write below must happen inside it, except where noted. WAL mode with
 * synchronous=FULL: a committed transaction survives a process kill and a
 * power loss. Not thread-safe: use from the loop thread only. */
#ifndef SW_STORE_H
#define SW_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/common.h"

typedef struct sw_store sw_store;

/** Open (creating the file and schema if needed) the store at `path`.
 * @return 0; SW_EIO when the file cannot be opened or is not a stepwise
 *         store. The caller closes it with sw_store_close. */
int sw_store_open(sw_store **out, const char *path, sw_err *err);
/** Close; an open transaction is rolled back. NULL-safe. */
void sw_store_close(sw_store *st);

/** Begin a transaction unless one is open. SW_EIO on failure. */
int sw_store_begin(sw_store *st, sw_err *err);
/** Commit the open transaction (no-op without one). Fault hook: with
 * STEPWISE_FAULT=kill-after-commit:N the process kills itself (SIGKILL)
 * right after the Nth successful commit, for crash tests. SW_EIO. */
int sw_store_commit(sw_store *st, sw_err *err);
/** Roll back the open transaction, if any. */
void sw_store_rollback(sw_store *st);
bool sw_store_in_txn(const sw_store *st);
/** Number of commits so far in this process. */
int64_t sw_store_commit_count(const sw_store *st);

/* ---- definitions ------------------------------------------------------ */

/** Store a definition text under its SHA-256 hex hash (no-op if present). */
int sw_store_put_definition(sw_store *st, const char *hash, const char *text,
                            sw_err *err);
/** The text for `hash` into *out (caller frees). SW_ENOTFOUND. */
int sw_store_get_definition(sw_store *st, const char *hash, char **out,
                            sw_err *err);

/* ---- executions ------------------------------------------------------- */

/** An execution row. Strings owned by the struct after a get (dispose with
 * sw_store_execution_dispose); borrowed when passed in. */
typedef struct sw_store_execution {
  char *id;              /* UUID */
  char *name;            /* unique per workflow */
  char *workflow;        /* workflow name (or definition file for exec) */
  char *source;          /* path of the definition file it was read from */
  char *definition_hash; /* key into definitions */
  char *input;           /* JSON text */
  char *status;          /* RUNNING | SUCCEEDED | FAILED | TIMED_OUT | ABORTED */
  char *output;          /* JSON text or NULL */
  char *error;           /* or NULL */
  char *cause;           /* or NULL */
  char *warehouse;       /* warehouse URL it runs against, or NULL (default) */
  int64_t start_ms;      /* epoch ms */
  int64_t stop_ms;       /* epoch ms, 0 while running */
  int redrive_count;
  int64_t redrive_ms;    /* epoch ms of the last redrive, 0 = never */
} sw_store_execution;

int sw_store_insert_execution(sw_store *st, const sw_store_execution *e,
                              sw_err *err);
/** Set the final status, stop date, output or error/cause. */
int sw_store_finish_execution(sw_store *st, const char *id, const char *status,
                              int64_t stop_ms, const char *output,
                              const char *error, const char *cause,
                              sw_err *err);
/** Mark RUNNING again (redrive) at redrive_ms (epoch ms), clearing stop
 * date/error/cause. */
int sw_store_reopen_execution(sw_store *st, const char *id, int redrive_count,
                              int64_t redrive_ms, sw_err *err);
/** Find by id, or by name (most recent first). SW_ENOTFOUND. */
int sw_store_get_execution(sw_store *st, const char *id_or_name,
                           sw_store_execution *out, sw_err *err);
void sw_store_execution_dispose(sw_store_execution *e);
/** Is there an execution of `workflow` named `name`? */
int sw_store_execution_name_taken(sw_store *st, const char *workflow,
                                  const char *name, bool *out, sw_err *err);
typedef void (*sw_store_execution_cb)(const sw_store_execution *e,
                                      void *payload);
/** Executions, newest first, optionally only those with `status`. */
int sw_store_list_executions(sw_store *st, const char *status,
                             sw_store_execution_cb cb, void *payload,
                             sw_err *err);

/* ---- history events --------------------------------------------------- */

typedef struct sw_store_event {
  int64_t id;            /* 1-based, per execution */
  int64_t previous_id;   /* 0 for the first */
  int64_t ts_ms;         /* epoch ms */
  const char *type;      /* "TaskStateEntered", ... */
  const char *details;   /* JSON object text, e.g. {"name":..,"input":..} */
} sw_store_event;

int sw_store_append_event(sw_store *st, const char *execution_id,
                          const sw_store_event *ev, sw_err *err);
int sw_store_max_event_id(sw_store *st, const char *execution_id,
                          int64_t *out, sw_err *err);
typedef void (*sw_store_event_cb)(const sw_store_event *ev, void *payload);
int sw_store_list_events(sw_store *st, const char *execution_id,
                         sw_store_event_cb cb, void *payload, sw_err *err);

/* ---- branch snapshot -------------------------------------------------- */

/** The position of one branch (the execution's root, a Parallel branch or
 * a Map iteration). Strings borrowed on put, owned by the callee's caller
 * on list (valid during the callback only). */
typedef struct sw_store_branch {
  const char *path;     /* "" for the root; "<parent>/<State>#<step>/<i>" */
  const char *parent;   /* parent path, NULL for the root */
  int idx;              /* branch / item index within the parent */
  const char *machine;  /* JSON Pointer of the machine in the definition */
  const char *state;    /* current state name */
  int64_t step;         /* states entered so far in this branch */
  const char *phase;    /* enter | task | wait | retry | children | end */
  const char *input;    /* JSON: the raw input of the current state */
  const char *data;     /* JSON object: phase details (attempt, token...) */
  const char *status;   /* RUNNING | SUCCEEDED | FAILED | ABORTED */
  const char *output;   /* JSON, when SUCCEEDED */
} sw_store_branch;

int sw_store_put_branch(sw_store *st, const char *execution_id,
                        const sw_store_branch *b, sw_err *err);
/** Delete every branch strictly below `path` (its descendants). */
int sw_store_delete_branches_below(sw_store *st, const char *execution_id,
                                   const char *path, sw_err *err);
typedef void (*sw_store_branch_cb)(const sw_store_branch *b, void *payload);
/** All branches of an execution, parents before children. */
int sw_store_list_branches(sw_store *st, const char *execution_id,
                           sw_store_branch_cb cb, void *payload, sw_err *err);

/* ---- tasks ------------------------------------------------------------ */

typedef struct sw_store_task {
  const char *token;       /* idempotency token (64 hex) */
  const char *branch;      /* branch path */
  const char *state;       /* state name */
  int attempt;             /* 0-based */
  const char *resource;
  const char *parameters;  /* JSON: effective parameters */
  const char *external_id; /* statement Id etc., or NULL */
  const char *status;      /* SCHEDULED | SUBMITTED | SUCCEEDED | FAILED */
  int64_t scheduled_ms;
} sw_store_task;

int sw_store_put_task(sw_store *st, const char *execution_id,
                      const sw_store_task *t, sw_err *err);
int sw_store_set_task_status(sw_store *st, const char *execution_id,
                             const char *token, const char *status,
                             const char *external_id, sw_err *err);
/** The task with `token`; strings valid until the next store call
 * (copied into `out` fields by the callee as owned strings: free with
 * sw_store_task_dispose). SW_ENOTFOUND. */
int sw_store_get_task(sw_store *st, const char *execution_id,
                      const char *token, sw_store_task *out, sw_err *err);
void sw_store_task_dispose(sw_store_task *t);

#endif
