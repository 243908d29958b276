/* SPDX-License-Identifier: MIT */
/* asl internals shared by asl_parse.c (building the model) and
 * asl_validate.c (field checks, messages, graph checks). Not for use
 * outside src/asl/. */
#ifndef SW_ASL_INT_H
#define SW_ASL_INT_H

#include "asl/asl.h"

/* Longest state name in characters (Unicode code points), AWS quota. */
#define SW_ASL_NAME_MAX 80
/* Largest TimeoutSeconds, HeartbeatSeconds, Seconds, IntervalSeconds,
 * MaxAttempts the ASL JSON schema allows. */
#define SW_ASL_SECONDS_MAX 99999999
/* Largest retrier MaxDelaySeconds (one year plus a day, in seconds). */
#define SW_ASL_MAX_DELAY_MAX 31622400
/* Largest definition file sw_asl_load_file reads, in bytes. AWS caps a
 * definition at 1 MiB; local definitions may be generated and bigger. */
#define SW_ASL_FILE_MAX (8u * 1024u * 1024u)

/* A state name and where it is, for the uniqueness checks. */
typedef struct sw__asl_name {
  const char *name;    /* borrowed from the document */
  const char *pointer; /* borrowed from the state */
  size_t seq;          /* document (pre-)order over the whole definition */
} sw__asl_name;

/* Parse context: where messages go and what is collected on the way. */
typedef struct sw__asl_ctx {
  const char *name;      /* file name, first part of every message */
  sw_err *err;           /* caller's; may be NULL */
  sw__asl_name *names;   /* owned: every state of every machine */
  size_t n_names;
  size_t cap_names;
} sw__asl_ctx;

/* ---- messages and pointers (asl_validate.c) --------------------------- */

/* Record "NAME: POINTER: message" (or "NAME: message" for the root) as
 * SW_EINVAL in c->err, and return SW_EINVAL. */
int sw__asl_fail(sw__asl_ctx *c, const char *pointer, const char *fmt, ...)
    SW_PRINTF(3, 4);
/* Prefix the message a paths/ compiler left in c->err with "NAME: " and
 * "POINTER: " (pointer may be NULL when the message already has one). */
int sw__asl_fail_from(sw__asl_ctx *c, const char *pointer, int rc);
/* New string: base + "/" + token (RFC 6901 escaped). Caller frees. */
char *sw__asl_ptr(const char *base, const char *token);
/* New string: base + "/" + index. Caller frees. */
char *sw__asl_ptr_index(const char *base, size_t index);

/* ---- field checks (asl_validate.c) ------------------------------------ */

/* Fail on a duplicate member or one not in the NULL-terminated `allowed`
 * list: "POINTER/FIELD: field not allowed in WHAT". */
int sw__asl_check_fields(sw__asl_ctx *c, const cJSON *obj, const char *ptr,
                         const char *const *allowed, const char *what);
/* Optional integer member in [min, max]. `expect` is the message when the
 * value is not an integer or below min ("expected a positive integer").
 * *present tells whether the member was there. */
int sw__asl_get_int(sw__asl_ctx *c,      /* context */
                    const cJSON *obj,    /* object holding the member */
                    const char *ptr,     /* pointer of obj */
                    const char *key,     /* member name */
                    int64_t min,         /* smallest allowed */
                    int64_t max,         /* largest allowed */
                    const char *expect,  /* message when not an integer */
                    int64_t *out,        /* OUT: the value when present */
                    bool *present);      /* OUT: whether it was there */
/* Optional string member; *out NULL when absent. */
int sw__asl_get_str(sw__asl_ctx *c, const cJSON *obj, const char *ptr,
                    const char *key, const char **out);
/* Optional path member compiled as `kind`; with allow_null, JSON null
 * sets *is_null. *out NULL when absent or null. */
int sw__asl_get_path(sw__asl_ctx *c,      /* context */
                     const cJSON *obj,    /* object holding the member */
                     const char *ptr,     /* pointer of obj */
                     const char *key,     /* member name */
                     sw_path_kind kind,   /* Path or Reference Path */
                     bool allow_null,     /* JSON null allowed */
                     sw_path **out,       /* OUT: compiled, or NULL */
                     bool *is_null);      /* OUT: JSON null given */
/* Optional payload template member; objects always, arrays too when
 * allow_array. *out NULL when absent. */
int sw__asl_get_template(sw__asl_ctx *c, const cJSON *obj, const char *ptr,
                         const char *key, bool allow_array,
                         sw_template **out);
/* True when `s` has the shape of a Task Resource ARN
 * (arn:PARTITION:SERVICE:REGION:ACCOUNT:TYPE:NAME[:QUALIFIER]) or carries a
 * CloudFormation ${...} substitution, as asl-validator accepts. */
bool sw__asl_resource_ok(const char *s);
/* Number of Unicode code points in UTF-8 `s`. */
size_t sw__asl_utf8_len(const char *s);

/* ---- whole-definition checks (asl_validate.c) ------------------------- */

/* Fail with "JSONata is not supported yet" at the first QueryLanguage
 * "JSONata" in the definition (top level, any state, any nested machine),
 * or on a QueryLanguage that is neither "JSONPath" nor "JSONata". */
int sw__asl_reject_jsonata(sw__asl_ctx *c, const cJSON *machine,
                           const char *ptr);
/* Remember a state name for sw__asl_check_unique. */
void sw__asl_add_name(sw__asl_ctx *c, const char *name, const char *pointer);
/* Fail when two entries of names[0..n) share a name ("duplicate state
 * name"), naming the later one in document order. Sorts `names`. */
int sw__asl_check_unique(sw__asl_ctx *c, sw__asl_name *names, size_t n);
/* Resolve every Next, Default and Catch Next of machine m to an index in
 * m, then check that StartAt names a state, that m has a terminal state
 * and that every state is reachable from StartAt. */
int sw__asl_link_machine(sw__asl_ctx *c, sw_asl_machine *m);

#endif
