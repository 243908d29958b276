/* SPDX-License-Identifier: MIT */
/* stepwise/worker.h: the Step Functions activity worker as a library.
 *
 * A worker long-polls AWS Step Functions (GetActivityTask, JSON 1.0, SigV4
 * service "states") for the activities it serves, checkpoints every task
 * it accepts in HOME/worker.db before any work starts, runs it, and sends
 * SendTaskSuccess / SendTaskFailure, with SendTaskHeartbeat while the work
 * is in flight. A worker killed and started again with the same home
 * resumes its unfinished tasks and still reports them.
 *
 * What an activity runs is chosen by the activity name (the part of the
 * ARN after ":activity:"):
 *  - stepwise.workflow.run: input {"workflow": NAME, "input": {...}} runs
 *    WORKFLOWS/NAME.asl.json to its end with the engine (checkpointed in
 *    HOME/state.db); its output is the task's output, its error/cause the
 *    task's failure;
 *  - any other stepwise built-in (stepwise.sql.submitScript, ...): the
 *    input is the resource's Parameters;
 *  - a name registered with sw_worker_register: the embedder's handler.
 *
 * Everything runs on the caller's libuv loop; every call and callback is
 * on the loop thread. */
#ifndef STEPWISE_WORKER_H
#define STEPWISE_WORKER_H

#include <stddef.h>

#include <uv.h>

#include "stepwise/error.h"

typedef struct sw_worker sw_worker;
typedef struct sw_worker_task sw_worker_task;

#define SW_WORKER_OPTS_VERSION 1

/** Options of sw_worker_new. Strings are borrowed during the call only. */
typedef struct sw_worker_opts {
  unsigned version;          /* SW_WORKER_OPTS_VERSION */
  const char *home;          /* state directory: worker.db, state.db and the
                                default warehouse ["./.stepwise"] */
  const char *worker_name;   /* GetActivityTask workerName, 1-80 chars
                                [host name, else "stepwise"] */
  int concurrency;           /* tasks in progress at most; the worker keeps
                                concurrency - in-progress polls open [1] */
  double heartbeat_seconds;  /* the HeartbeatSeconds of the states that use
                                these activities; a heartbeat is sent every
                                third of it [60] */
  double drain_seconds;      /* sw_worker_drain waits this long for tasks
                                in flight before checkpointing them [30] */
  const char *workflows_dir; /* for stepwise.workflow.run ["workflows"] */
  const char *sql_dir;       /* scripts of sql.* activities ["sql"] */
  const char *warehouse;     /* warehouse URL [sqlite:HOME/warehouse.db] */
  const char *region;        /* overrides the ARN's region, AWS_REGION... */
  long poll_timeout_ms;      /* client timeout of GetActivityTask; at least
                                65000 because the service holds a poll up
                                to 60 s [70000] */
} sw_worker_opts;

#define SW_WORKER_OPTS_INIT                                                    \
  {SW_WORKER_OPTS_VERSION, NULL, NULL, 1, 0, 0, NULL, NULL, NULL, NULL, 0}

/**
 * Create a worker on `loop`: resolves AWS credentials (environment, then
 * the shared files), opens HOME/worker.db and HOME/state.db and the
 * warehouse. Nothing is polled until sw_worker_start.
 * @param[out] out  the worker; close it with sw_worker_close. NULL on
 *                  failure (what was opened is being closed: keep running
 *                  the loop until it has no active handles).
 * @return 0; SW_EINVAL for bad options; SW_ENOTFOUND when no credentials
 *         are found; SW_EIO when a database cannot be opened.
 */
SW_EXTERN int sw_worker_new(sw_worker **out, uv_loop_t *loop,
                            const sw_worker_opts *opts, sw_err *err);

/**
 * Serve a built-in activity: `activity_arn` is
 * arn:aws:states:REGION:ACCOUNT:activity:NAME with NAME
 * stepwise.workflow.run or a resource of the built-in registry. The region
 * in the ARN (else opts.region, AWS_REGION, ...) picks the endpoint:
 * AWS_ENDPOINT_URL_SFN, then AWS_ENDPOINT_URL, else
 * https://states.REGION.amazonaws.com.
 * @return 0; SW_EINVAL for a malformed ARN; SW_ENOTFOUND for a NAME that
 *         is not a built-in; SW_EEXISTS when already served.
 */
SW_EXTERN int sw_worker_add_activity(sw_worker *w, const char *activity_arn,
                                     sw_err *err);

/** Starts the work of `task`; `input` (JSON text) is borrowed for the call.
 * The handler later calls sw_worker_task_succeed or sw_worker_task_fail
 * exactly once (possibly from inside this call), unless the worker calls
 * the cancel callback first. */
typedef void (*sw_worker_start_cb)(sw_worker_task *task, const char *input,
                                   void *payload);
/** Step Functions closed the task (TaskTimedOut, TaskDoesNotExist) or the
 * worker is closing: stop the work; the task handle is invalid after this
 * returns and must not be completed. */
typedef void (*sw_worker_cancel_cb)(sw_worker_task *task, void *payload);

/**
 * Serve `activity_arn` with the embedder's handler. A task of it that was
 * accepted before a crash is started again after sw_worker_start, with the
 * same sw_worker_task_id, so the handler can make its effects idempotent.
 * @return 0; SW_EINVAL for a malformed ARN or a NULL start; SW_EEXISTS.
 */
SW_EXTERN int sw_worker_register(sw_worker *w, const char *activity_arn,
                                 sw_worker_start_cb start,
                                 sw_worker_cancel_cb cancel, void *payload,
                                 sw_err *err);

/**
 * Resume the tasks checkpointed in worker.db (their results are sent if
 * the work had finished) and open the polls.
 * @return 0; SW_EINVAL when no activity was added; SW_EIO.
 */
SW_EXTERN int sw_worker_start(sw_worker *w, sw_err *err);

/** The task's idempotency id: 64 hex characters (SHA-256 of its task
 * token), stable across restarts. Borrowed; valid while the task is. */
SW_EXTERN const char *sw_worker_task_id(const sw_worker_task *task);

/**
 * Complete a task with `output` (JSON text, copied). It is checkpointed,
 * then sent with SendTaskSuccess (retried with backoff on throttling and
 * 5xx). Output larger than 262144 bytes is reported with SendTaskFailure
 * States.DataLimitExceeded instead. The handle is invalid afterwards.
 * @return 0; SW_EINVAL for text that is not JSON (the task is then failed
 *         with States.Runtime).
 */
SW_EXTERN int sw_worker_task_succeed(sw_worker_task *task, const char *output,
                                     sw_err *err);

/** Complete a task with an ASL error name and cause (copied; cause may be
 * NULL), truncated to 256 and 32768 bytes. The handle is invalid
 * afterwards. */
SW_EXTERN void sw_worker_task_fail(sw_worker_task *task, const char *error,
                                   const char *cause);

/** Counters since sw_worker_new. */
typedef struct sw_worker_stats {
  unsigned long polls;       /* GetActivityTask calls answered */
  unsigned long accepted;    /* tasks accepted from polls */
  unsigned long resumed;     /* tasks resumed from worker.db */
  unsigned long succeeded;   /* SendTaskSuccess accepted */
  unsigned long failed;      /* SendTaskFailure accepted */
  unsigned long lost;        /* closed by Step Functions (TaskTimedOut,
                                TaskDoesNotExist) before the result went */
  unsigned long retries;     /* calls retried after throttling/errors */
  unsigned long heartbeats;  /* SendTaskHeartbeat accepted */
  int in_progress;           /* tasks accepted and not yet reported */
} sw_worker_stats;

SW_EXTERN void sw_worker_get_stats(const sw_worker *w, sw_worker_stats *out);

/**
 * Drain (SIGTERM): stop polling, let the tasks in flight finish and send
 * their results for up to opts.drain_seconds, then stop the rest (they
 * stay checkpointed and resume on the next start) and call `cb` once.
 * The worker must still be closed with sw_worker_close afterwards.
 */
SW_EXTERN void sw_worker_drain(sw_worker *w, void (*cb)(void *payload),
                               void *payload);

/**
 * Close: abort every request, stop (but keep checkpointed) the tasks in
 * flight, close the databases and handles; `cb` (may be NULL) runs once
 * everything is freed. The loop must run until then. NULL-safe.
 */
SW_EXTERN void sw_worker_close(sw_worker *w, void (*cb)(void *payload),
                               void *payload);

#endif
