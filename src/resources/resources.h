/* SPDX-License-Identifier: MIT */
/* resources: the Task resources a state can name, in one registry that
 * serves the local engine (and later the activity worker):
 *   arn:aws:states:::aws-sdk:redshiftdata:executeStatement
 *   arn:aws:states:::aws-sdk:redshiftdata:batchExecuteStatement
 *   arn:aws:states:::aws-sdk:redshiftdata:describeStatement
 *   arn:aws:states:::aws-sdk:redshiftdata:getStatementResult
 *   arn:aws:states:::aws-sdk:redshiftdata:cancelStatement
 *   arn:aws:states:REGION:ACCOUNT:activity:stepwise.sql.submitScript
 *   arn:aws:states:REGION:ACCOUNT:activity:stepwise.objects.get
 *     {Bucket | Store, Key, Target} -> {file, key}: fetch an object (S3,
 *     or a store URL of src/objects) into a local file; errors
 *     Objects.NoSuchKey, Objects.Transient (after the store's own
 *     retries), Objects.Refused (AccessDenied ...), Objects.Failed
 *   stepwise.directdata.* (src/directdata)
 * (region and account may be empty). Parameters and results have the Data
 * API's shapes (shared/reference/botocore/redshift-data/service-2.json,
 * members in PascalCase as Step Functions' aws-sdk integration uses them);
 * failures are named "RedshiftData.<Exception>" (e.g.
 * RedshiftData.ValidationException, RedshiftData.ResourceNotFoundException)
 * or "Stepwise.<Reason>" for built-in activities. All calls and callbacks
 * on the loop thread. */
#ifndef SW_RESOURCES_H
#define SW_RESOURCES_H

#include <stdint.h>

#include <uv.h>

#include "common/common.h"
#include "warehouse/warehouse.h"

typedef struct sw_resources sw_resources;

/**
 * Create the registry.
 * @param wh       statement service used by redshiftdata and sql.* (borrowed;
 *                 must outlive the registry).
 * @param sql_dir  directory that scripts are resolved against ("sql").
 */
int sw_resources_new(sw_resources **out, uv_loop_t *loop, sw_warehouse *wh,
                     const char *sql_dir, sw_err *err);
void sw_resources_free(sw_resources *r); /* NULL-safe; no task may be live */

/**
 * Check, before an execution is created, that `resource` is known and
 * that what can be known statically about `parameters` (the state's
 * Parameters template as written, may be NULL) is right: e.g. a literal
 * "Script" of submitScript names an existing file under sql_dir.
 * @return 0; SW_ENOTFOUND for an unknown resource or a missing script;
 *         SW_EINVAL for parameters that can never be valid. Messages are
 *         one line without a file prefix (the caller adds file+pointer).
 */
int sw_resources_preflight(const sw_resources *r, const char *resource,
                           const cJSON *parameters, sw_err *err);

/** What a task produced. Exactly one of output / error is set. */
typedef struct sw_task_outcome {
  cJSON *output;         /* success: the result; the callback takes it */
  const char *error;     /* failure: ASL error name, e.g.
                            "RedshiftData.ValidationException" */
  const char *cause;     /* failure: human-readable cause; may be NULL */
  const char *external_id; /* success: the id of external work the task
                              submitted (a statement Id), or NULL for tasks
                              that only read (describe, result); the engine
                              records it as TaskSubmitted and as the place a
                              redrive restarts from */
} sw_task_outcome;

/** Called once per invocation, unless the task was cancelled. */
typedef void (*sw_task_done_cb)(sw_task_outcome *outcome, void *payload);

typedef struct sw_task sw_task;

/** A task invocation. Pointers borrowed during the call. */
typedef struct sw_task_call {
  const char *resource;     /* the state's Resource */
  const cJSON *parameters;  /* effective parameters (after Parameters) */
  const char *token;        /* idempotency token, 64 hex chars: sent as the
                               ClientToken of every submit, so invoking
                               again with the same token after a crash runs
                               nothing twice */
} sw_task_call;

/**
 * Start a task. On success *out is a handle valid until `done` is called
 * or sw_task_cancel returns.
 * @return 0; < 0 (and `done` is never called) only for a resource that is
 *         not registered (SW_ENOTFOUND).
 */
int sw_resources_invoke(sw_task **out, sw_resources *r,
                        const sw_task_call *call, sw_task_done_cb done,
                        void *payload, sw_err *err);

/** Stop waiting for a task (Task TimeoutSeconds, execution stopped): its
 * `done` is never called; a running statement is cancelled best-effort. */
void sw_task_cancel(sw_task *t);

#endif
