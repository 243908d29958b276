/* SPDX-License-Identifier: MIT */
/* worker: stepwise as the durable activity worker behind AWS Step
 * Functions (issue 6). The API is the public include/stepwise/worker.h;
 * this module header records the decisions behind it.
 *
 * Protocol. GetActivityTask / SendTaskSuccess / SendTaskFailure /
 * SendTaskHeartbeat over src/http (AWS JSON 1.0, X-Amz-Target
 * AWSStepFunctions.<Op>, SigV4 service "states" signed by libcurl). The
 * endpoint is AWS_ENDPOINT_URL_SFN, then AWS_ENDPOINT_URL, else
 * https://states.REGION.amazonaws.com, where REGION is opts.region, else
 * the region in the activity ARN, else AWS_REGION/AWS_DEFAULT_REGION/the
 * profile (an activity only exists in its own region). Polls have a 70 s
 * client timeout (the service holds them up to 60 s).
 *
 * Concurrency. --concurrency N bounds the tasks in progress; the worker
 * keeps N - (tasks in progress) polls open, shared round-robin among the
 * activities, so it never accepts a task it has no room for.
 *
 * Errors. Throttling (ThrottlingException, KmsThrottlingException, 429),
 * 5xx, connection failures and client timeouts are retried with capped
 * exponential backoff and full jitter: a poll backs off its activity
 * (250 ms doubling to 30 s), a result is re-sent (100 ms doubling to
 * 10 s) until Step Functions answers. TaskTimedOut, TaskDoesNotExist and
 * InvalidToken are final: the work stops (statements are cancelled with
 * sw_task_cancel, a workflow execution is stopped ABORTED with
 * States.Timeout) and the checkpoint is dropped. Any other 4xx to a poll
 * (ActivityDoesNotExist, InvalidArn, bad credentials) is logged and
 * backed off the same way, so a worker started before its activity exists
 * begins serving when it is created.
 *
 * Durability. Each accepted task is written to HOME/worker.db
 * (worker_db.c: id = SHA-256 of the token, token, activity, input, state)
 * before any work starts; its result is written there before it is sent;
 * the row is deleted once Step Functions took the result or said the task
 * is gone. On start, RUNNING rows are started again and DONE rows are
 * sent again. Restarted work is idempotent: built-ins get the row id as
 * their idempotency token (the Data API ClientToken), and
 * stepwise.workflow.run names its execution "sfn-<first 32 hex of the
 * id>", so a restart finds and resumes the same execution in
 * HOME/state.db (or reports it if it had ended) instead of starting a new
 * one. A result sent just before a kill is sent again after restart and
 * refused by the service with TaskTimedOut ("already closed"), which is
 * handled as a lost task. Only the first 8 hex characters of the id are
 * logged, never the token.
 *
 * Heartbeats. The HeartbeatSeconds of the states are not visible to a
 * worker (they are not part of the task), so the worker is told with
 * opts.heartbeat_seconds (--heartbeat-seconds, default 60) and sends
 * SendTaskHeartbeat every third of it while a task's work runs (not while
 * its result is being sent). A failed heartbeat other than a final error
 * is ignored; the next one is on time.
 *
 * Results. Output over 262,144 bytes becomes SendTaskFailure
 * States.DataLimitExceeded with the size in the cause; error names are cut
 * to 256 bytes and causes to 32,768 bytes (on UTF-8 boundaries). An input
 * that stepwise.workflow.run cannot use fails with States.Runtime.
 *
 * Shutdown. Drain (SIGTERM or a first SIGINT in the CLI) cancels the open
 * polls (a task the service had already handed to a cancelled poll is
 * lost to this worker and times out on the service, as with any worker),
 * waits up to opts.drain_seconds for the tasks in flight to finish and be
 * reported, and leaves the rest checkpointed for the next start. */
#ifndef SW_WORKER_H
#define SW_WORKER_H

#include "stepwise/worker.h"

#endif
