/* SPDX-License-Identifier: MIT */
/* directdata: Veeva Vault Direct Data as stepwise built-in activities
 *   stepwise.directdata.list      window from the durable cursor + listing
 *   stepwise.directdata.retrieve  download one file's parts (md5, size)
 *   stepwise.directdata.unpack    tar.gz parts -> directory (src/archive)
 *   stepwise.directdata.load      manifest/metadata driven warehouse load
 * (workflows/direct_data.asl.json chains them). The Vault client runs on
 * src/http; the loader uses the warehouse's statement service and bulk
 * load. Configuration comes from an INI file (section = the input's
 * `secret`); passwords and session ids are never logged nor returned.
 *
 * Errors (ASL names): DirectData.ConfigError, DirectData.AuthFailed,
 * DirectData.VaultMismatch, DirectData.Transient (retryable: md5/size
 * mismatch, truncated or failed transfer, Vault FAILURE that may pass),
 * DirectData.VaultError, DirectData.FullReloadRequired,
 * DirectData.NotDownloaded, DirectData.UnsafeArchive,
 * DirectData.NotUnpacked, DirectData.BadExtract, DirectData.LoadFailed.
 * All calls and callbacks on the loop thread. */
#ifndef SW_DIRECTDATA_H
#define SW_DIRECTDATA_H

#include <stdbool.h>

#include <uv.h>

#include "common/common.h"
#include "warehouse/warehouse.h"

typedef struct sw_directdata sw_directdata;
typedef struct sw_dd_task sw_dd_task;

/** Shared state of the activities (the cached Vault sessions). `wh` is
 * borrowed and must outlive it. Never fails. */
void sw_directdata_new(sw_directdata **out, uv_loop_t *loop,
                       sw_warehouse *wh);
/** NULL-safe; no task may be live. Synchronous. */
void sw_directdata_free(sw_directdata *dd);

/** True when `activity` (the name after ":activity:") is one of ours. */
bool sw_directdata_handles(const char *activity);

/** Completion: success with `output` (the callee takes it) and error NULL,
 * or error/cause set (borrowed for the call) and output NULL. */
typedef void (*sw_dd_done_cb)(cJSON *output, const char *error,
                              const char *cause, void *payload);

/**
 * Start activity `activity` with its effective parameters; `token` is the
 * engine's idempotency token (64 hex). `done` runs exactly once, never
 * inside this call, unless the task is cancelled.
 * @return 0; SW_ENOTFOUND for an activity that is not ours.
 */
int sw_directdata_invoke(sw_dd_task **out, sw_directdata *dd,
                         const char *activity, const cJSON *params,
                         const char *token, sw_dd_done_cb done,
                         void *payload, sw_err *err);

/** Detach: `done` is never called; the work finishes (or stops at its
 * next step) in the background and frees itself. */
void sw_directdata_cancel(sw_dd_task *t);

#endif
