/* SPDX-License-Identifier: MIT */
/* paths internals shared by jsonpath.c, template.c, intrinsics.c and
 * choice.c: borrowed-node path selection and compiled intrinsic calls.
 * Nothing here is used outside src/paths/. */
#ifndef SW_PATHS_INT_H
#define SW_PATHS_INT_H

#include "paths/paths.h"

#include <stdint.h>

/**
 * Select what `p` names without copying when possible. A definite path
 * sets *out to the borrowed node (valid while env's documents live) and
 * *owned to NULL; an indefinite one builds a new array of copies, sets
 * *out and *owned to it, and the caller deletes *owned.
 * @return 0; SW_ENOTFOUND when a definite path names nothing, with the
 *         Jayway-style detail ("No results for path: $['a']") in err->msg
 *         (no "Invalid path" prefix).
 */
int sw__path_select(const cJSON **out, cJSON **owned, const sw_path *p,
                    const sw_eval_env *env, sw_err *err);

/** Deep JSON equality in linear time (numbers by value, objects by
 * member name regardless of order). cJSON_Compare is not used: it
 * compares objects in both directions at every level, which takes 2^depth
 * steps on deeply nested objects. Bounded recursion: cJSON's parser
 * limits nesting to 1000. */
bool sw__json_equal(const cJSON *a, const cJSON *b);
/** Hash consistent with sw__json_equal (equal values hash equally). */
uint64_t sw__json_hash(const cJSON *v);

/** A compiled intrinsic call (see intrinsics.c). */
typedef struct sw__icall sw__icall;

/** Compile an intrinsic call expression; SW_EINVAL on syntax errors. */
int sw__icall_compile(sw__icall **out, const char *expr, sw_err *err);
void sw__icall_free(sw__icall *c);
/** Evaluate a compiled call; *out is new and owned by the caller. `field`
 * (may be NULL) names the template key or ASL field in error messages. */
int sw__icall_eval(cJSON **out, const sw__icall *c, const sw_eval_env *env,
                   const char *field, sw_err *err);

/** Message text when an intrinsic's Path argument selects nothing:
 * "The JSONPath '$.x' specified for the field 'k.$' could not be found in
 * the input '<json>'". `field` may be NULL (the field clause is then
 * left out). Returns SW_ENOTFOUND. */
int sw__path_not_found(sw_err *err, const char *path_text, const char *field,
                       const sw_eval_env *env);

#endif
