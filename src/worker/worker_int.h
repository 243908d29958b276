/* SPDX-License-Identifier: MIT */
/* worker internals: the task checkpoint table (worker_db.c) shared with
 * worker.c. */
#ifndef SW_WORKER_INT_H
#define SW_WORKER_INT_H

#include <stdint.h>

#include "common/common.h"
#include "stepwise/worker.h"

typedef struct sw__worker_db sw__worker_db;

/** One checkpointed task. Strings owned by whoever filled the struct:
 * borrowed on put, owned by the row during a load callback only. */
typedef struct sw__worker_row {
  const char *id;       /* SHA-256 hex of the token: primary key */
  const char *token;    /* the task token (not a credential; never logged
                           in full) */
  const char *activity; /* activity ARN */
  const char *input;    /* task input JSON text */
  const char *state;    /* RUNNING | DONE */
  const char *output;   /* DONE and succeeded: output JSON text */
  const char *error;    /* DONE and failed: ASL error name */
  const char *cause;    /* DONE and failed: cause, may be NULL */
  int64_t accepted_ms;  /* epoch ms the task was accepted */
} sw__worker_row;

/** Open (creating) PATH with WAL and synchronous=FULL: a row is on disk
 * when a call returns. SW_EIO. */
int sw__worker_db_open(sw__worker_db **out, const char *path, sw_err *err);
void sw__worker_db_close(sw__worker_db *db); /* NULL-safe */
/** Insert a RUNNING row (no-op when the id exists). SW_EIO. */
int sw__worker_db_insert(sw__worker_db *db, const sw__worker_row *r,
                         sw_err *err);
/** Record the result: state DONE with output or error/cause. SW_EIO. */
int sw__worker_db_set_result(sw__worker_db *db, const char *id,
                             const char *output, const char *error,
                             const char *cause, sw_err *err);
/** Forget a task whose result Step Functions took (or refused). SW_EIO. */
int sw__worker_db_delete(sw__worker_db *db, const char *id, sw_err *err);
typedef void (*sw__worker_row_cb)(const sw__worker_row *r, void *payload);
/** Every row, oldest first. SW_EIO. */
int sw__worker_db_load(sw__worker_db *db, sw__worker_row_cb cb,
                       void *payload, sw_err *err);

#endif
