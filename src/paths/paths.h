/* SPDX-License-Identifier: MIT */
/* paths: pure evaluation of ASL's JSONPath-mode expressions, as AWS Step
 * Functions runs them (shared/reference/notes/asl-semantics.md §4-§7, §11,
 * §13): Paths and Reference Paths, ResultPath assignment, payload templates
 * (".$" keys), intrinsic functions, and Choice rules. No I/O, no loop.
 *
 * Errors: evaluation failures return a negative sw_code with err->msg set
 * to the text AWS puts in the `cause` of a States.Runtime error (without
 * the "An error occurred while executing the state ..." prefix, which the
 * engine adds). Compile failures return SW_EINVAL with a message that says
 * what was expected; callers prefix it with the file and JSON Pointer. */
#ifndef SW_PATHS_H
#define SW_PATHS_H

#include <stdbool.h>

#include "common/common.h"

/** What an expression is evaluated against. All pointers borrowed. */
typedef struct sw_eval_env {
  const cJSON *input;     /* "$": the effective input */
  const cJSON *context;   /* "$$": the context object; may be NULL */
  const cJSON *variables; /* "$name": an object of variables; may be NULL */
} sw_eval_env;

/* ---- Paths ------------------------------------------------------------ */

typedef enum sw_path_kind {
  SW_PATH_PATH,      /* full JSONPath: InputPath, OutputPath, Variable... */
  SW_PATH_REFERENCE  /* single node, only . and [n] / ['x']: ResultPath... */
} sw_path_kind;

typedef struct sw_path sw_path; /* compiled; immutable; thread-safe to read */

/**
 * Compile `text` ("$", "$.a.b[0]", "$['x y']", "$$.Execution.Id",
 * "$.a[*].b", "$..c", "$.a[?(@.n > 1)]", ...). A Reference Path rejects
 * wildcards, filters, slices, unions and "..".
 * @param[out] out  the compiled path; the caller frees it with sw_path_free.
 * @return 0, or SW_EINVAL when the text is not a valid path of that kind.
 */
int sw_path_compile(sw_path **out, const char *text, sw_path_kind kind,
                    sw_err *err);
void sw_path_free(sw_path *p);                /* NULL-safe */
const char *sw_path_text(const sw_path *p);   /* borrowed */
bool sw_path_is_root(const sw_path *p);       /* exactly "$" */
bool sw_path_is_definite(const sw_path *p);   /* selects at most one node */

/**
 * Evaluate a path. "$..." reads env->input, "$$..." env->context. A
 * definite path yields a copy of the single node it names; an indefinite
 * one (wildcard, filter, slice, union, "..") yields an array of copies of
 * the matches (possibly empty), as AWS does.
 * @param[out] out  new value owned by the caller (cJSON_Delete).
 * @return 0; SW_ENOTFOUND when a definite path names nothing (msg: AWS
 *         cause text naming the path).
 */
int sw_path_eval(cJSON **out, const sw_path *p, const sw_eval_env *env,
                 sw_err *err);

/**
 * ResultPath: place `value` into *doc at the reference path `p`, creating
 * intermediate objects, replacing what is there. "$" replaces *doc
 * entirely (the old *doc is deleted). Always consumes `value`.
 * @param doc  in/out: the raw state input, modified in place or replaced.
 * @return 0; SW_EINVAL when a step crosses a non-object (AWS cause text,
 *         e.g. "Invalid path '$.a.b' : ...").
 */
int sw_path_assign(cJSON **doc, const sw_path *p, cJSON *value, sw_err *err);

/* ---- Payload templates (Parameters, ResultSelector, ItemSelector) ------ */

typedef struct sw_template sw_template;

/**
 * Compile a payload template: objects and arrays are walked; a key ending
 * in ".$" must have a string value that is a Path, a context path ("$$."),
 * a variable reference ("$name") or an intrinsic function call
 * ("States.Format('{}', $.x)"). Keys equal after stripping ".$" are an
 * error. `tmpl` is borrowed only during the call.
 * @return 0, or SW_EINVAL with a message naming the offending key.
 */
int sw_template_compile(sw_template **out, const cJSON *tmpl, sw_err *err);
void sw_template_free(sw_template *t);

/**
 * Evaluate a template against env.
 * @param[out] out  new value owned by the caller.
 * @return 0; SW_ENOTFOUND when a ".$" path selects nothing (cause text:
 *         "The JSONPath '$.x' specified for the field 'k.$' could not be
 *         found in the input '<input as compact JSON>'"); SW_EINVAL for an
 *         intrinsic-function failure (cause text as AWS words it);
 *         SW_ELIMIT when an intrinsic limit is exceeded.
 */
int sw_template_eval(cJSON **out, const sw_template *t, const sw_eval_env *env,
                     sw_err *err);

/* ---- Intrinsic functions --------------------------------------------- */

/** Evaluate one intrinsic call expression, e.g.
 * "States.Format('Hello {}', $.name)". Same errors as sw_template_eval.
 * (Templates call this internally; exposed for ErrorPath/CausePath and
 * tests.) */
int sw_intrinsic_eval(cJSON **out, const char *expr, const sw_eval_env *env,
                      sw_err *err);
/** Same as sw_intrinsic_eval, with `field` (e.g. "CausePath" or "k.$";
 * may be NULL) named in the cause when a Path argument selects nothing:
 * "The JSONPath '$.x' specified for the field 'CausePath' could not be
 * found in the input '<json>'". */
int sw_intrinsic_eval_field(cJSON **out, const char *expr, const char *field,
                            const sw_eval_env *env, sw_err *err);
/** true when `s` looks like an intrinsic call ("States.Name(...)"). */
bool sw_intrinsic_is_call(const char *s);

/* ---- Choice rules ----------------------------------------------------- */

typedef struct sw_rule sw_rule;

/**
 * Compile one Choice rule (a data-test with Variable and exactly one
 * comparison operator or Is* test, or And/Or/Not). `top_level` rules must
 * carry "Next" (checked here only for presence; the state name is checked
 * by asl/); nested rules must not.
 * @param pointer  JSON Pointer of `rule`, used in error messages.
 * @return 0, or SW_EINVAL with "POINTER: what was expected".
 */
int sw_rule_compile(sw_rule **out, const cJSON *rule, bool top_level,
                    const char *pointer, sw_err *err);
void sw_rule_free(sw_rule *r);

/**
 * Evaluate a compiled rule against env: every operator of ASL JSONPath
 * mode, with AWS's type rules (a comparison against a value of the wrong
 * type is false; IsPresent false for a missing Variable; a missing
 * Variable for any other operator is a States.Runtime error).
 * @param[out] out  the rule's truth value.
 * @return 0, or SW_ENOTFOUND/SW_EINVAL with the AWS cause text.
 */
int sw_rule_eval(bool *out, const sw_rule *r, const sw_eval_env *env,
                 sw_err *err);

#endif
