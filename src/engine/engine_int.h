/* SPDX-License-Identifier: MIT */
/* engine internals shared by the engine's files. */
#ifndef SW_ENGINE_INT_H
#define SW_ENGINE_INT_H

#include "engine/engine.h"

typedef enum phase {
  PH_ENTER,    /* about to enter st: no <Type>StateEntered event yet */
  PH_TASK,     /* TaskScheduled committed; waiting for the outcome */
  PH_WAIT,     /* Wait state timer running until due_ms */
  PH_RETRY,    /* Retry backoff timer running until due_ms */
  PH_CHILDREN, /* Parallel branches / Map iterations running */
  PH_END       /* branch finished (see status) */
} phase;

typedef enum bstatus {
  BS_RUNNING,
  BS_SUCCEEDED,
  BS_FAILED,
  BS_ABORTED
} bstatus;

struct exec;

/* One branch of control: the execution's root, a Parallel branch or a Map
 * iteration. Its position is mirrored in the store's branches table. */
typedef struct branch {
  struct exec *ex;
  char *path;                 /* "" root; "<parent>/<State>#<step>.<try>/<i>" */
  struct branch *parent;      /* NULL for the root */
  int idx;                    /* index within the parent */
  const sw_asl_machine *m;    /* machine this branch walks */
  const sw_asl_state *st;     /* current state */
  int64_t step;               /* states entered in this branch */
  phase ph;
  bstatus status;
  cJSON *input;               /* owned: raw input of the current state */
  cJSON *output;              /* owned: final output when SUCCEEDED */
  int64_t entered_event;      /* id of the current state's Entered event */
  int64_t entered_ms;         /* epoch ms the current state was entered */

  /* Task / Retry. */
  int attempt;                /* 0-based attempt of the current state */
  int *retry_counts;          /* per retrier of st; n = st->n_retry */
  char token[65];             /* idempotency token of the current attempt */
  cJSON *params;              /* owned: effective task parameters */
  sw_task *task;              /* live resource call, or NULL */
  cJSON *out_output;          /* owned: arrived task result */
  char *out_error, *out_cause;/* owned: arrived task failure */
  char *out_external_id;      /* owned: id of work the task submitted */
  bool has_outcome;
  bool timed_out;             /* the outcome is a TimeoutSeconds expiry */
  int64_t due_ms;             /* epoch ms a Wait/Retry ends */
  int64_t task_ms;            /* epoch ms the current task was scheduled */
  bool fired;                 /* the Wait/Retry timer has fired */

  /* Redrive point: the last Task in this branch that submitted external
   * work (a statement). A branch that failed in a state that does no work
   * (a Fail or Choice after a status check) is redriven from there, so a
   * fixed script is submitted again instead of the Fail state failing
   * again. */
  char *redrive_state;        /* owned state name, or NULL */
  char *redrive_input;        /* owned JSON text: that state's raw input */

  /* Variables (Assign) declared in this branch's scope; enclosing
   * branches' scopes are read through `parent`. */
  cJSON *vars;                /* owned object, or NULL */

  /* Failure (status FAILED). */
  char *error, *cause;        /* owned */

  /* Children (Parallel / Map). */
  struct branch **kids;       /* owned array of n_kids (NULL slots = not
                                 started yet, Map only) */
  size_t n_kids;
  size_t n_started;
  size_t n_done;
  struct branch *failed_kid;  /* first kid that failed */
  cJSON *items;               /* owned: Map items */
  cJSON *next_item;           /* borrowed: items entry n_started */
  cJSON *eff_input;           /* owned: Map effective input (ItemSelector) */
  int max_concurrency;        /* Map: 0 = unlimited */
  int64_t tol_count;          /* Map: failures tolerated; -1 = none */
  double tol_percent;         /* Map: % of items that may fail; -1 = none */
  size_t n_failed;            /* Map: failed iterations tolerated so far */

  /* Handles and scheduling. */
  uv_timer_t timer;           /* Wait, Retry and Task timeout */
  bool timer_init;
  bool queued;                /* in the engine's ready queue */
  struct branch *next_ready;
  bool dirty;                 /* snapshot row must be written */
  struct branch *next_dirty;
  bool deferred;              /* in the deferred-invoke list */
  struct branch *next_deferred;
  bool dead;                  /* freed logically; memory goes at close */
} branch;

typedef struct exec {
  sw_engine *eng;
  char id[37];
  char *name;
  char *workflow;
  const sw_asl_definition *def;
  cJSON *input;               /* owned: execution input */
  cJSON *ctx_execution;       /* owned: $$.Execution */
  cJSON *ctx_machine;         /* owned: $$.StateMachine */
  int64_t start_ms;
  int64_t next_event;         /* id of the next history event */
  int redrive_count;
  int64_t redrive_ms;         /* epoch ms of the last redrive; 0 = none */
  branch *root;
  bool finished;              /* final status recorded */
  char final_status[16];
  uv_timer_t timeout;         /* execution TimeoutSeconds */
  bool timeout_init;
  struct exec *next;          /* engine list */
  struct exec *next_done;
  bool done_pending;
  struct exec *next_batch;    /* started in the open batch */
} exec;

/* A parsed definition kept by content hash (sw_engine_definition). */
typedef struct engine_def {
  char hash[65];
  char *text;                 /* owned */
  sw_asl_definition *def;     /* owned */
  struct engine_def *next;
} engine_def;

struct sw_engine {
  uv_loop_t *loop;
  sw_store *store;
  sw_resources *res;
  sw_engine_opts opts;
  uv_idle_t pump;
  bool pump_active;
  branch *ready_head, *ready_tail;
  branch *dirty_head;
  branch *deferred_head;
  exec *execs;
  exec *done_head;
  int running;
  sw_buf scratch;             /* reused for each event's details text */
  sw_err fatal;               /* first store error; stops the engine */
  bool failed;
  bool batching;              /* sw_engine_begin_batch is open */
  bool batch_failed;          /* a start in the batch failed to write */
  exec *batch_head;           /* executions started in the batch */
  engine_def *defs;           /* parsed definitions, freed with the engine */
};

#endif
