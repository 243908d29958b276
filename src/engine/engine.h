/* SPDX-License-Identifier: MIT */
/* engine: the interpreter. Runs many executions of ASL definitions at once
 * on one libuv loop, checkpointing every step in the store (DESIGN.md §4):
 *  - checkpoint before effect: a Task's resource is invoked only after the
 *    transaction holding its TaskScheduled event and idempotency token has
 *    committed;
 *  - result before next: a task's result commits with (or before) the
 *    next state's entry, and no later effect is issued before that commit;
 *  - group commit: all writes of one loop turn (many executions, many pure
 *    steps) share one transaction.
 * A Wait is a uv timer, never a sleep. Resume reloads the branch snapshot
 * and pending tasks; a FAILED execution is redriven from the failed state.
 * All calls on the loop thread. */
#ifndef SW_ENGINE_H
#define SW_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "asl/asl.h"
#include "common/common.h"
#include "resources/resources.h"
#include "store/store.h"

typedef struct sw_engine sw_engine;

/** Observer of progress: called after each history event is recorded
 * (not necessarily committed yet). `details` is borrowed. */
typedef void (*sw_engine_event_cb)(const char *execution_id, const char *type,
                                   const cJSON *details, void *payload);
/** Called once when an execution reaches a final status (after the commit
 * that records it). */
typedef void (*sw_engine_done_cb)(const char *execution_id,
                                  const char *status, void *payload);

typedef struct sw_engine_opts {
  sw_engine_event_cb on_event; /* may be NULL */
  sw_engine_done_cb on_done;   /* may be NULL */
  void *payload;
  int step_budget;             /* pure steps per loop turn; 0 = 4096 */
} sw_engine_opts;

/** Create an engine over a store and a resource registry (both borrowed,
 * must outlive it). */
int sw_engine_new(sw_engine **out, uv_loop_t *loop, sw_store *store,
                  sw_resources *res, const sw_engine_opts *opts, sw_err *err);
/** Stop every execution's handles and free the engine. The loop must run
 * afterwards until the handles are closed (uv_run with UV_RUN_DEFAULT).
 * Executions not finished stay RUNNING in the store (resumable). */
void sw_engine_free(sw_engine *eng);

/** What to start. Borrowed during the call. */
typedef struct sw_engine_start_req {
  const sw_asl_definition *def; /* borrowed; must outlive the execution */
  const char *definition_text;  /* stored by content hash */
  const char *workflow;         /* workflow name */
  const char *source;           /* definition file path */
  const char *name;             /* execution name, or NULL for the id */
  const cJSON *input;           /* execution input */
  const char *warehouse;        /* warehouse URL recorded, or NULL */
} sw_engine_start_req;

/**
 * Create an execution (ExecutionStarted, committed before this returns) and
 * start running it on the loop.
 * @param[out] id_out  the new execution id (37 bytes).
 * @return 0; SW_EEXISTS when the name is taken for that workflow; SW_EIO.
 */
int sw_engine_start(sw_engine *eng, const sw_engine_start_req *req,
                    char id_out[37], sw_err *err);

/**
 * Group the starts that follow into one commit (one fsync for many
 * executions, e.g. the webhooks a server read in one loop turn): until
 * sw_engine_commit_batch, sw_engine_start writes but neither commits nor
 * runs the executions it creates. Both calls must come from the same
 * loop callback (nothing else may use the store in between).
 */
void sw_engine_begin_batch(sw_engine *eng);

/**
 * Commit the batch and start running its executions. *started (may be
 * NULL) gets how many starts it held.
 * @return 0 when every start of the batch is on disk; SW_EIO when a
 *         start failed to write or the commit failed: then none of them
 *         was recorded (rolled back) and none runs, every id the batch
 *         returned is void, and the engine has failed as on any store
 *         error (sw_engine_failed; the loop is stopped).
 */
int sw_engine_commit_batch(sw_engine *eng, size_t *started, sw_err *err);

/**
 * Resume an execution from the store: a RUNNING one continues where its
 * last commit left it; a FAILED/TIMED_OUT/ABORTED one is redriven from the
 * states that failed (RedriveExecution). `def` must be the definition
 * stored for it (the caller loads it by hash).
 * @return 0; SW_EINVAL when it SUCCEEDED already; SW_EIO.
 */
int sw_engine_resume(sw_engine *eng, const char *execution_id,
                     const sw_asl_definition *def, sw_err *err);

/**
 * Stop a running execution of this engine (StopExecution): cancel its
 * tasks and timers and record it ABORTED with `error`/`cause` (both may be
 * NULL; copied). Used by the activity worker when Step Functions says its
 * task timed out. on_done runs later, as for any final status.
 * @return 0; SW_ENOTFOUND when no running execution has that id.
 */
int sw_engine_stop(sw_engine *eng, const char *execution_id,
                   const char *error, const char *cause, sw_err *err);

/**
 * A definition parsed once per distinct text and kept until the engine is
 * freed (executions borrow their definition: a process that starts or
 * resumes many executions, like the worker or the server, parses each
 * text once).
 * @param text      definition text (sw_alloc'd); the engine takes it in
 *                  every case.
 * @param name      for messages (the file, or NULL for the content hash).
 * @param text_out  (may be NULL) the engine's copy of the text, valid as
 *                  long as the engine (for sw_engine_start_req).
 * @return the definition; NULL with err set (SW_EINVAL, naming `name`)
 *         when the text is not a valid definition.
 */
const sw_asl_definition *sw_engine_definition(sw_engine *eng, char *text,
                                              const char *name,
                                              const char **text_out,
                                              sw_err *err);

/** Number of executions still running in this engine. */
int sw_engine_running(const sw_engine *eng);

/** true once the store failed to record progress: the engine stopped
 * issuing effects and stopping the loop; *err (may be NULL) gets the
 * store's error. What committed before stays resumable. */
bool sw_engine_failed(const sw_engine *eng, sw_err *err);

/** The token an effect of this state attempt carries (64 hex chars):
 * SHA-256 of "<execution>/<branch path>/<state>#<step>.<attempt>". */
void sw_engine_token(char out[65], const char *execution_id,
                     const char *branch_path, const char *state, int64_t step,
                     int attempt);

#endif
