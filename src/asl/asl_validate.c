/* SPDX-License-Identifier: MIT */
/* asl validation helpers: one-line "NAME: POINTER: expected ..." messages,
 * typed field readers, and the whole-machine checks (transitions stay in
 * their machine, StartAt, terminal state, reachability, unique names). */
#include "asl/asl_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- messages and pointers -------------------------------------------- */

int sw__asl_fail(sw__asl_ctx *c, const char *pointer, const char *fmt, ...)
{
  va_list ap;
  char *msg;

  va_start(ap, fmt);
  msg = sw_vasprintf(fmt, ap);
  va_end(ap);
  if (pointer && *pointer)
    sw_err_set(c->err, SW_EINVAL, SW_ORIGIN_ASL, 0, "%s: %s: %s", c->name,
               pointer, msg);
  else
    sw_err_set(c->err, SW_EINVAL, SW_ORIGIN_ASL, 0, "%s: %s", c->name, msg);
  sw_free(msg);
  return SW_EINVAL;
}

int sw__asl_fail_from(sw__asl_ctx *c, const char *pointer, int rc)
{
  if (pointer && *pointer)
    sw_err_prefix(c->err, "%s: %s: ", c->name, pointer);
  else
    sw_err_prefix(c->err, "%s: ", c->name);
  /* Definition problems are always SW_EINVAL, whatever paths/ said. */
  if (c->err)
    c->err->code = SW_EINVAL;
  (void)rc;
  return SW_EINVAL;
}

char *sw__asl_ptr(const char *base, const char *token)
{
  sw_buf b = SW_BUF_INIT(0);

  /* Unbounded buffer: appends cannot fail (OOM aborts). */
  (void)sw_buf_puts(&b, base, NULL);
  (void)sw_json_pointer_append(&b, token, NULL);
  return sw_buf_detach(&b);
}

char *sw__asl_ptr_index(const char *base, size_t index)
{
  return sw_asprintf("%s/%zu", base, index);
}

/* ---- field checks ----------------------------------------------------- */

/* Fields of JSONata states; named in the message when they show up in a
 * JSONPath state, which is the usual mistake. */
static const char *const jsonata_fields[] = {
    "Arguments", "Output", "Items", "Condition", NULL};

static bool in_list(const char *const *list, const char *s)
{
  for (; *list; list++)
    if (strcmp(*list, s) == 0)
      return true;
  return false;
}

int sw__asl_check_fields(sw__asl_ctx *c, const cJSON *obj, const char *ptr,
                         const char *const *allowed, const char *what)
{
  const cJSON *f, *g;
  char *fp;
  int rc;

  for (f = obj->child; f; f = f->next) {
    for (g = obj->child; g != f; g = g->next) {
      if (strcmp(g->string, f->string) == 0) {
        fp = sw__asl_ptr(ptr, f->string);
        rc = sw__asl_fail(c, fp, "duplicate field");
        sw_free(fp);
        return rc;
      }
    }
    if (in_list(allowed, f->string))
      continue;
    fp = sw__asl_ptr(ptr, f->string);
    if (in_list(jsonata_fields, f->string))
      rc = sw__asl_fail(c, fp,
                        "field not allowed in %s (it is a JSONata field; "
                        "JSONata is not supported yet)",
                        what);
    else
      rc = sw__asl_fail(c, fp, "field not allowed in %s", what);
    sw_free(fp);
    return rc;
  }
  return 0;
}

/* A JSON number that is an exact integer within +-2^53. */
static bool json_int(const cJSON *v, int64_t *out)
{
  double d;

  if (!cJSON_IsNumber(v))
    return false;
  d = v->valuedouble;
  if (!isfinite(d) || floor(d) != d || fabs(d) > 9007199254740992.0)
    return false;
  *out = (int64_t)d;
  return true;
}

int sw__asl_get_int(sw__asl_ctx *c, const cJSON *obj, const char *ptr,
                    const char *key, int64_t min, int64_t max,
                    const char *expect, int64_t *out, bool *present)
{
  const cJSON *v = sw_json_get(obj, key);
  int64_t n = 0;
  char *fp;
  int rc = 0;

  *present = v != NULL;
  if (!v)
    return 0;
  if (!json_int(v, &n) || n < min) {
    fp = sw__asl_ptr(ptr, key);
    rc = sw__asl_fail(c, fp, "%s", expect);
    sw_free(fp);
    return rc;
  }
  if (n > max) {
    fp = sw__asl_ptr(ptr, key);
    rc = sw__asl_fail(c, fp, "expected an integer no larger than %lld",
                      (long long)max);
    sw_free(fp);
    return rc;
  }
  *out = n;
  return 0;
}

int sw__asl_get_str(sw__asl_ctx *c, const cJSON *obj, const char *ptr,
                    const char *key, const char **out)
{
  const cJSON *v = sw_json_get(obj, key);
  char *fp;
  int rc;

  *out = NULL;
  if (!v)
    return 0;
  if (!cJSON_IsString(v)) {
    fp = sw__asl_ptr(ptr, key);
    rc = sw__asl_fail(c, fp, "expected a string");
    sw_free(fp);
    return rc;
  }
  *out = v->valuestring;
  return 0;
}

int sw__asl_get_path(sw__asl_ctx *c, const cJSON *obj, const char *ptr,
                     const char *key, sw_path_kind kind, bool allow_null,
                     sw_path **out, bool *is_null)
{
  const cJSON *v = sw_json_get(obj, key);
  char *fp = NULL;
  int rc = 0;

  *out = NULL;
  if (is_null)
    *is_null = false;
  if (!v)
    return 0;
  fp = sw__asl_ptr(ptr, key);
  if (allow_null && cJSON_IsNull(v)) {
    if (is_null)
      *is_null = true;
    goto done;
  }
  if (!cJSON_IsString(v)) {
    rc = sw__asl_fail(c, fp,
                      kind == SW_PATH_REFERENCE
                          ? "expected a reference path string%s"
                          : "expected a path string%s",
                      allow_null ? " or null" : "");
    goto done;
  }
  rc = sw_path_compile(out, v->valuestring, kind, c->err);
  if (rc < 0) {
    *out = NULL;
    rc = sw__asl_fail_from(c, fp, rc);
  }

done:
  sw_free(fp);
  return rc;
}

int sw__asl_get_template(sw__asl_ctx *c, const cJSON *obj, const char *ptr,
                         const char *key, bool allow_array,
                         sw_template **out)
{
  const cJSON *v = sw_json_get(obj, key);
  char *fp = NULL;
  int rc = 0;

  *out = NULL;
  if (!v)
    return 0;
  fp = sw__asl_ptr(ptr, key);
  if (!cJSON_IsObject(v) && !(allow_array && cJSON_IsArray(v))) {
    rc = sw__asl_fail(c, fp, allow_array ? "expected an object or an array"
                                         : "expected an object");
    goto done;
  }
  rc = sw_template_compile(out, v, c->err);
  if (rc < 0) {
    *out = NULL;
    rc = sw__asl_fail_from(c, fp, rc);
  }

done:
  sw_free(fp);
  return rc;
}

/* Consume a run of characters accepted by `ok`; false when none. */
static bool span(const char **s, int (*ok)(int ch), bool allow_empty)
{
  const char *p = *s;

  while (*p && ok((unsigned char)*p))
    p++;
  if (p == *s && !allow_empty)
    return false;
  *s = p;
  return true;
}

static int is_lower_dash(int ch)
{
  return (ch >= 'a' && ch <= 'z') || ch == '-';
}

static int is_lower_digit_dash(int ch)
{
  return is_lower_dash(ch) || (ch >= '0' && ch <= '9');
}

static int is_digit(int ch)
{
  return ch >= '0' && ch <= '9';
}

static int is_word(int ch)
{
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
         (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
}

static int is_word_dot(int ch)
{
  return is_word(ch) || ch == '.';
}

static bool colon(const char **s)
{
  if (**s != ':')
    return false;
  (*s)++;
  return true;
}

bool sw__asl_resource_ok(const char *s)
{
  const char *open = strstr(s, "${");

  /* A CloudFormation/SAM substitution is resolved at deploy time. */
  if (open && strchr(open + 2, '}'))
    return true;
  if (strncmp(s, "arn:", 4) != 0)
    return false;
  s += 4;
  /* arn:PARTITION:SERVICE:REGION:ACCOUNT:TYPE:NAME[:QUALIFIER], the shape
   * asl-validator's Resource pattern accepts (service names may hold
   * digits). Region and account may be empty (arn:aws:states:::...). */
  if (!span(&s, is_lower_dash, false) || !colon(&s) ||
      !span(&s, is_lower_digit_dash, false) || !colon(&s) ||
      !span(&s, is_lower_digit_dash, true) || !colon(&s) ||
      !span(&s, is_digit, true) || !colon(&s) ||
      !span(&s, is_lower_dash, false) || !colon(&s) ||
      !span(&s, is_word_dot, false))
    return false;
  if (*s == '\0')
    return true;
  if (!colon(&s))
    return false;
  if (strcmp(s, "$LATEST") == 0)
    return true;
  return span(&s, is_word, false) && *s == '\0';
}

size_t sw__asl_utf8_len(const char *s)
{
  size_t n = 0;

  for (; *s; s++)
    if (((unsigned char)*s & 0xC0) != 0x80)
      n++;
  return n;
}

/* ---- whole-definition checks ------------------------------------------ */

/* Check one QueryLanguage member (absent is fine). */
static int check_query_language(sw__asl_ctx *c, const cJSON *obj,
                                const char *ptr)
{
  const cJSON *v = sw_json_get(obj, "QueryLanguage");
  char *fp;
  int rc = 0;

  if (!v)
    return 0;
  fp = sw__asl_ptr(ptr, "QueryLanguage");
  if (cJSON_IsString(v) && strcmp(v->valuestring, "JSONata") == 0)
    rc = sw__asl_fail(c, fp, "JSONata is not supported yet");
  else if (!cJSON_IsString(v) || strcmp(v->valuestring, "JSONPath") != 0)
    rc = sw__asl_fail(c, fp, "expected \"JSONPath\" or \"JSONata\"");
  sw_free(fp);
  return rc;
}

/* Recurse into a nested machine member (an object) if present. */
static int reject_jsonata_in(sw__asl_ctx *c, const cJSON *obj,
                             const char *ptr, const char *key)
{
  const cJSON *v = sw_json_get(obj, key);
  char *fp;
  int rc;

  if (!cJSON_IsObject(v))
    return 0;
  fp = sw__asl_ptr(ptr, key);
  rc = sw__asl_reject_jsonata(c, v, fp);
  sw_free(fp);
  return rc;
}

int sw__asl_reject_jsonata(sw__asl_ctx *c, const cJSON *machine,
                           const char *ptr)
{
  const cJSON *states, *st, *br;
  char *sp = NULL, *stp = NULL, *bp = NULL, *ip = NULL;
  size_t i;
  int rc;

  /* Tolerant walk: structural problems are reported later, in order. */
  rc = check_query_language(c, machine, ptr);
  if (rc < 0)
    return rc;
  states = sw_json_get(machine, "States");
  if (!cJSON_IsObject(states))
    return 0;
  sp = sw__asl_ptr(ptr, "States");
  for (st = states->child; st && rc == 0; st = st->next) {
    if (!cJSON_IsObject(st))
      continue;
    stp = sw__asl_ptr(sp, st->string);
    rc = check_query_language(c, st, stp);
    if (rc == 0)
      rc = reject_jsonata_in(c, st, stp, "ItemProcessor");
    if (rc == 0)
      rc = reject_jsonata_in(c, st, stp, "Iterator");
    br = sw_json_get(st, "Branches");
    if (rc == 0 && cJSON_IsArray(br)) {
      bp = sw__asl_ptr(stp, "Branches");
      for (i = 0; rc == 0 && i < (size_t)cJSON_GetArraySize(br); i++) {
        const cJSON *b = cJSON_GetArrayItem(br, (int)i);
        if (!cJSON_IsObject(b))
          continue;
        ip = sw__asl_ptr_index(bp, i);
        rc = sw__asl_reject_jsonata(c, b, ip);
        sw_free(ip);
        ip = NULL;
      }
      sw_free(bp);
      bp = NULL;
    }
    sw_free(stp);
    stp = NULL;
  }
  sw_free(sp);
  return rc;
}

void sw__asl_add_name(sw__asl_ctx *c, const char *name, const char *pointer)
{
  if (c->n_names == c->cap_names) {
    c->cap_names = c->cap_names ? 2 * c->cap_names : 16;
    c->names = sw_realloc(c->names, c->cap_names * sizeof(*c->names));
  }
  c->names[c->n_names].name = name;
  c->names[c->n_names].pointer = pointer;
  c->names[c->n_names].seq = c->n_names;
  c->n_names++;
}

static int cmp_names(const void *a, const void *b)
{
  const sw__asl_name *x = a, *y = b;
  int d = strcmp(x->name, y->name);

  if (d)
    return d;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int sw__asl_check_unique(sw__asl_ctx *c, sw__asl_name *names, size_t n)
{
  const sw__asl_name *dup = NULL, *first = NULL;
  size_t i;

  qsort(names, n, sizeof(*names), cmp_names);
  /* Report the duplicate that comes first in the document, next to the
   * earlier state of the same name. */
  for (i = 1; i < n; i++) {
    if (strcmp(names[i - 1].name, names[i].name) != 0)
      continue;
    if (!dup || names[i].seq < dup->seq) {
      size_t j = i - 1;
      while (j > 0 && strcmp(names[j - 1].name, names[i].name) == 0)
        j--;
      dup = &names[i];
      first = &names[j];
    }
  }
  if (!dup)
    return 0;
  return sw__asl_fail(c, dup->pointer,
                      "duplicate state name \"%s\" (also at %s); state "
                      "names must be unique in the whole state machine",
                      dup->name, first->pointer);
}

static bool ends_with(const char *s, const char *suffix)
{
  size_t n = strlen(s), k = strlen(suffix);

  return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* "branch" or "Map processor", from a nested machine's pointer. */
static const char *machine_kind(const char *pointer)
{
  if (ends_with(pointer, "/Iterator") || ends_with(pointer, "/ItemProcessor"))
    return "Map processor";
  return "branch";
}

/* Resolve a transition target to an index of m; fail when m has no state
 * of that name (targets in other machines are out of reach too). */
static int cmp_key(const void *key, const void *elem)
{
  return strcmp(key, ((const sw__asl_name *)elem)->name);
}

static int resolve(sw__asl_ctx *c,            /* context */
                   const sw_asl_machine *m,   /* machine of the state */
                   const sw__asl_name *names, /* m's names, sorted */
                   const char *state_ptr,     /* pointer of the state */
                   const char *field,         /* "/Next", "/Default", ... */
                   const char *target,        /* state name to find */
                   int *index)                /* OUT: its index in m */
{
  const sw__asl_name *t =
      bsearch(target, names, m->n_states, sizeof(*names), cmp_key);
  char *fp;
  int rc;

  if (t) {
    *index = (int)t->seq;
    return 0;
  }
  fp = sw_asprintf("%s%s", state_ptr, field);
  if (*m->pointer)
    rc = sw__asl_fail(c, fp,
                      "no state named \"%s\" in this %s (transitions cannot "
                      "leave a Parallel branch or Map processor)",
                      target, machine_kind(m->pointer));
  else
    rc = sw__asl_fail(c, fp, "no state named \"%s\"", target);
  sw_free(fp);
  return rc;
}

static int link_state(sw__asl_ctx *c, const sw_asl_machine *m,
                      const sw__asl_name *names, sw_asl_state *s)
{
  char field[64];
  size_t i;
  int rc = 0;

  if (s->next)
    rc = resolve(c, m, names, s->pointer, "/Next", s->next, &s->next_index);
  for (i = 0; rc == 0 && i < s->n_choices; i++) {
    snprintf(field, sizeof(field), "/Choices/%zu/Next", i);
    rc = resolve(c, m, names, s->pointer, field, s->choices[i].next,
                 &s->choices[i].next_index);
  }
  if (rc == 0 && s->default_next)
    rc = resolve(c, m, names, s->pointer, "/Default", s->default_next,
                 &s->default_index);
  for (i = 0; rc == 0 && i < s->n_catch; i++) {
    snprintf(field, sizeof(field), "/Catch/%zu/Next", i);
    rc = resolve(c, m, names, s->pointer, field, s->catchers[i].next,
                 &s->catchers[i].next_index);
  }
  return rc;
}

static bool is_terminal(const sw_asl_state *s)
{
  return s->end || s->type == SW_STATE_SUCCEED || s->type == SW_STATE_FAIL;
}

int sw__asl_link_machine(sw__asl_ctx *c, sw_asl_machine *m)
{
  sw__asl_name *names = NULL;
  bool *seen = NULL;
  int *stack = NULL;
  size_t i, top = 0;
  bool terminal = false;
  char *fp = NULL;
  int rc = 0;

  /* Names sorted once: duplicates show up as neighbours, and every
   * transition is a binary search (long Choice chains stay fast). */
  names = sw_calloc(m->n_states, sizeof(*names));
  for (i = 0; i < m->n_states; i++) {
    names[i].name = m->states[i].name;
    names[i].pointer = m->states[i].pointer;
    names[i].seq = i;
  }
  rc = sw__asl_check_unique(c, names, m->n_states);
  for (i = 0; rc == 0 && i < m->n_states; i++)
    rc = link_state(c, m, names, &m->states[i]);
  if (rc < 0)
    goto done;

  {
    const sw__asl_name *start =
        bsearch(m->start_at, names, m->n_states, sizeof(*names), cmp_key);
    if (!start) {
      fp = sw__asl_ptr(m->pointer, "StartAt");
      rc = sw__asl_fail(c, fp, "no state named \"%s\"", m->start_at);
      goto done;
    }
    m->start_index = (int)start->seq;
  }

  for (i = 0; i < m->n_states; i++)
    terminal = terminal || is_terminal(&m->states[i]);
  if (!terminal) {
    fp = sw__asl_ptr(m->pointer, "States");
    rc = sw__asl_fail(c, fp,
                      "no terminal state (a state with \"End\": true, or a "
                      "Succeed or Fail state)");
    goto done;
  }

  /* ASL (asl-validator): every state must be reachable from StartAt. */
  seen = sw_calloc(m->n_states, sizeof(*seen));
  stack = sw_calloc(m->n_states, sizeof(*stack));
  seen[m->start_index] = true;
  stack[top++] = m->start_index;
  while (top > 0) {
    const sw_asl_state *s = &m->states[stack[--top]];
    int targets_fixed[2] = {s->next_index, s->default_index};
    size_t k;

    for (k = 0; k < 2; k++) {
      int t = targets_fixed[k];
      if (t >= 0 && !seen[t]) {
        seen[t] = true;
        stack[top++] = t;
      }
    }
    for (k = 0; k < s->n_choices + s->n_catch; k++) {
      int t = k < s->n_choices ? s->choices[k].next_index
                               : s->catchers[k - s->n_choices].next_index;
      if (t >= 0 && !seen[t]) {
        seen[t] = true;
        stack[top++] = t;
      }
    }
  }
  for (i = 0; i < m->n_states; i++) {
    if (!seen[i]) {
      rc = sw__asl_fail(c, m->states[i].pointer,
                        "state is not reachable from StartAt \"%s\"",
                        m->start_at);
      goto done;
    }
  }

done:
  sw_free(names);
  sw_free(seen);
  sw_free(stack);
  sw_free(fp);
  return rc;
}
