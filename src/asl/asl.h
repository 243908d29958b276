/* SPDX-License-Identifier: MIT */
/* asl: parse and validate an Amazon States Language definition (JSONPath
 * query language) into an immutable model the engine walks. Pure: no I/O.
 *
 * Spec: https://states-language.net/spec.html, with AWS's behaviour where
 * it differs (shared/reference/notes/asl-semantics.md). Every error is one
 * line: "NAME: POINTER: what was expected", e.g.
 *   workflows/x.asl.json: /States/Load/Next: no state named "Lod"
 * and a JSON syntax error is "NAME:LINE:COLUMN: invalid JSON: ...". */
#ifndef SW_ASL_H
#define SW_ASL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"
#include "paths/paths.h"

typedef enum sw_state_type {
  SW_STATE_PASS,
  SW_STATE_TASK,
  SW_STATE_CHOICE,
  SW_STATE_WAIT,
  SW_STATE_SUCCEED,
  SW_STATE_FAIL,
  SW_STATE_PARALLEL,
  SW_STATE_MAP
} sw_state_type;

/** "Pass", "Task", ... (static). */
const char *sw_state_type_name(sw_state_type t);

typedef struct sw_asl_machine sw_asl_machine;

/** A Retry entry. Defaults per ASL: IntervalSeconds 1, MaxAttempts 3,
 * BackoffRate 2.0, no MaxDelaySeconds, JitterStrategy NONE. */
typedef struct sw_asl_retrier {
  char **error_equals;    /* borrowed from the definition document */
  size_t n_error_equals;
  double interval_s;      /* seconds before the first retry */
  int max_attempts;       /* 0 = never retry */
  double backoff_rate;    /* >= 1.0 */
  double max_delay_s;     /* cap on one delay in seconds; 0 = none */
  bool jitter_full;       /* JitterStrategy FULL */
} sw_asl_retrier;

/** A Catch entry. */
typedef struct sw_asl_catcher {
  char **error_equals;    /* borrowed from the definition document */
  size_t n_error_equals;
  const char *next;       /* state name in the same machine */
  int next_index;         /* index into machine->states */
  sw_path *result_path;   /* NULL with result_path_null false = "$" */
  bool result_path_null;  /* "ResultPath": null */
  sw_template *assign;    /* Assign (variables); NULL when absent */
} sw_asl_catcher;

/** One Choice rule with its target. */
typedef struct sw_asl_choice {
  sw_rule *rule;          /* compiled by paths/ */
  const char *next;
  int next_index;
  sw_template *assign;    /* the rule's own Assign; NULL when absent */
} sw_asl_choice;

/** One state. Pointers to strings and cJSON are borrowed from the
 * definition's document and live as long as the sw_asl_definition. An
 * optional path field is NULL when absent (meaning "$"), with its *_null
 * flag set when the definition gave JSON null. */
typedef struct sw_asl_state {
  const char *name;
  sw_state_type type;
  int index;               /* position in machine->states */
  const char *pointer;     /* JSON Pointer of the state, e.g. "/States/A" */
  const char *next;        /* NULL when End or for Choice/Succeed/Fail */
  int next_index;          /* -1 when there is no Next */
  bool end;                /* "End": true */
  bool uses_context;       /* some expression of the state (or of states
                              nested in it) reads the context object "$$";
                              the engine builds "$$" only for those */

  /* Input and output processing. */
  sw_path *input_path;
  bool input_path_null;
  sw_path *output_path;
  bool output_path_null;
  sw_path *result_path;
  bool result_path_null;
  sw_template *parameters;       /* Parameters, or Map ItemSelector */
  sw_template *result_selector;
  const cJSON *result;           /* Pass "Result"; NULL when absent */
  sw_template *assign;           /* Assign (variables); NULL when absent */

  /* Task. */
  const char *resource;
  int64_t timeout_s;             /* 0 = none given (AWS: 99999999) */
  sw_path *timeout_path;         /* TimeoutSecondsPath */
  int64_t heartbeat_s;           /* 0 = none given */
  sw_path *heartbeat_path;       /* HeartbeatSecondsPath */
  sw_template *credentials;      /* Credentials; NULL when absent */

  /* Task, Parallel, Map. */
  sw_asl_retrier *retry;
  size_t n_retry;
  sw_asl_catcher *catchers;
  size_t n_catch;

  /* Choice. */
  sw_asl_choice *choices;
  size_t n_choices;
  const char *default_next;      /* NULL when no Default */
  int default_index;             /* -1 when no Default */

  /* Wait: exactly one of the four is set. */
  bool has_seconds;
  int64_t seconds;
  sw_path *seconds_path;
  bool has_timestamp;
  int64_t timestamp_ms;          /* parsed RFC 3339, epoch ms */
  sw_path *timestamp_path;

  /* Fail. */
  const char *error;
  const char *cause;
  sw_path *error_path;           /* ErrorPath (a Path) */
  const char *error_path_intrinsic; /* ErrorPath given as intrinsic call */
  sw_path *cause_path;
  const char *cause_path_intrinsic;

  /* Parallel. */
  sw_asl_machine **branches;
  size_t n_branches;

  /* Map (inline). */
  sw_asl_machine *iterator;      /* ItemProcessor or legacy Iterator */
  sw_path *items_path;           /* NULL = "$" */
  int max_concurrency;           /* 0 = unlimited */
  sw_path *max_concurrency_path;
  /* Distributed Map over an items array (no ItemReader/ItemBatcher/
   * ResultWriter): runs like an inline Map, with a failure tolerance. */
  bool distributed;              /* ProcessorConfig Mode DISTRIBUTED */
  int64_t tolerated_count;       /* ToleratedFailureCount; -1 = none */
  sw_path *tolerated_count_path;
  double tolerated_percent;      /* ToleratedFailurePercentage; -1 = none */
  sw_path *tolerated_percent_path;
} sw_asl_state;

/** A state machine: the top level, a Parallel branch or a Map processor. */
struct sw_asl_machine {
  const char *pointer;     /* JSON Pointer of the machine; "" at top level */
  const char *start_at;
  int start_index;
  sw_asl_state *states;    /* array of n_states, in document order */
  size_t n_states;
};

/** A parsed, validated definition. Immutable; may be shared. */
typedef struct sw_asl_definition {
  cJSON *doc;              /* owned: the parsed JSON */
  char *name;              /* owned: file name used in messages */
  sw_asl_machine *root;    /* owned */
  int64_t timeout_s;       /* execution TimeoutSeconds; 0 = none */
  char *comment;           /* owned copy of Comment, or NULL */
} sw_asl_definition;

/**
 * Parse and validate a definition.
 * @param[out] out  the definition; the caller frees it with sw_asl_free.
 * @param text, len  the JSON text (len bytes, need not be NUL-terminated).
 * @param name  used as the first part of every message (usually the path).
 * @return 0; SW_EINVAL with one line "NAME:LINE:COL: invalid JSON: ..." or
 *         "NAME: POINTER: ..." for the first problem found. A definition
 *         whose QueryLanguage is "JSONata" (top level or any state) fails
 *         with "NAME: POINTER: JSONata is not supported yet".
 */
int sw_asl_parse(sw_asl_definition **out, const char *text, size_t len,
                 const char *name, sw_err *err);

/** Read the file at `path` and parse it (name = path). SW_ENOTFOUND when
 * the file does not exist, else as sw_asl_parse. */
int sw_asl_load_file(sw_asl_definition **out, const char *path, sw_err *err);

void sw_asl_free(sw_asl_definition *def); /* NULL-safe */

/** The state named `name` in `m`, or NULL. */
const sw_asl_state *sw_asl_find(const sw_asl_machine *m, const char *name);

/** Callback for sw_asl_walk: every state of every machine, depth first. */
typedef void (*sw_asl_visit_cb)(const sw_asl_machine *m,
                                const sw_asl_state *s, void *payload);
void sw_asl_walk(const sw_asl_definition *def, sw_asl_visit_cb cb,
                 void *payload);

#endif
