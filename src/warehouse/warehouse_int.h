/* SPDX-License-Identifier: MIT */
/* warehouse internals: the driver ops table every statement service
 * implements, and the limits the front end (warehouse.c) checks before a
 * request reaches a driver, so every driver answers bad input the same way
 * the Data API does (ValidationException -> SW_EINVAL). */
#ifndef SW_WAREHOUSE_INT_H
#define SW_WAREHOUSE_INT_H

#include "warehouse/warehouse.h"

#define SW_WH_OPS_VERSION 1

#define SW_WH_MAX_SQLS 40             /* BatchExecuteStatement Sqls max */
#define SW_WH_MAX_SQL_BYTES (100 * 1024) /* Data API statement size: 100 KB */
#define SW_WH_MAX_TOKEN 64            /* ClientToken 1..64 chars */
#define SW_WH_MAX_NAME 2048           /* StatementName 0..2048 chars */
#define SW_WH_ID_MAX 48               /* "<uuid>:<nn>" plus NUL, rounded up */

/** A statement service. `impl` is the driver's own object, created by
 * open and freed by close (after which the driver calls cb(payload)). All
 * functions are called on the loop thread; the front end has validated the
 * request (see warehouse.c) before submit/describe/result/cancel run. */
typedef struct sw_wh_driver_ops {
  unsigned version; /* SW_WH_OPS_VERSION */
  const char *name; /* "sqlite", ... (static) */
  int (*open)(void **impl_out, uv_loop_t *loop, const char *target,
              sw_err *err);
  void (*close)(void *impl, void (*cb)(void *payload), void *payload);
  int (*submit)(void *impl, const sw_wh_submit *req, sw_wh_submit_cb cb,
                void *payload, sw_err *err);
  int (*describe)(void *impl, const char *id, sw_wh_json_cb cb,
                  void *payload, sw_err *err);
  int (*result)(void *impl, const char *id, const char *next_token,
                sw_wh_json_cb cb, void *payload, sw_err *err);
  int (*cancel)(void *impl, const char *id, sw_wh_json_cb cb, void *payload,
                sw_err *err);
} sw_wh_driver_ops;

/* The embedded driver (wh_sqlite.c); `target` is the database path. */
extern const sw_wh_driver_ops sw__wh_sqlite_ops;

/** Split a statement Id into its base Id and sub-statement number:
 * "<uuid>" gives sub 0, "<uuid>:2" gives sub 2. SW_EINVAL (with the Data
 * API's pattern message) for anything else. base must hold SW_WH_ID_MAX. */
int sw__wh_parse_id(const char *id, char *base, int *sub, sw_err *err);

#endif
