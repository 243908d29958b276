/* SPDX-License-Identifier: MIT */
/* JSONPath as Step Functions runs it (Jayway JsonPath underneath): a path
 * is compiled once into an array of segments; definite paths are walked
 * without copying, indefinite ones collect borrowed matches and copy them
 * into one array at the end. Also ResultPath assignment (sw_path_assign).
 *
 * Decisions: error texts follow Jayway's PathNotFoundException wording,
 * which AWS embeds in its causes ("Invalid path '$.x' : No results for
 * path: $['x']"). Inside quoted bracket names only a backslash before the
 * quote character is an escape; other backslashes are literal (AWS-recorded
 * case ESCAPE_SEQUENCES_JSONPATH). A filter on an object tests the object
 * itself, as Jayway does; "!=" against a missing value is true.
 * Two forms come from asl-path-validator's grammar (aslPaths.pegjs), which
 * asl-validator applies to every definition: a bare name on the right of a
 * filter comparison ("[?(@.k == FooBar)]") is the string 'FooBar', and the
 * script expression "[(@.length-N)]" is the index [-N]. */
#include "paths/paths_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef enum seg_kind {
  SEG_NAME,    /* .name or ['name'] */
  SEG_INDEX,   /* [n], n may be negative */
  SEG_WILD,    /* .* or [*] */
  SEG_NAMES,   /* ['a','b'] */
  SEG_INDEXES, /* [0,2] */
  SEG_SLICE,   /* [start:end:step] */
  SEG_FILTER   /* [?(expr)] */
} seg_kind;

typedef struct filt filt;

typedef struct seg {
  seg_kind kind;
  bool descend;       /* preceded by "..": applies at every depth */
  char *name;         /* SEG_NAME; owned */
  long index;         /* SEG_INDEX */
  char **names;       /* SEG_NAMES; owned, n entries */
  long *indexes;      /* SEG_INDEXES; owned, n entries */
  size_t n;           /* entries in names/indexes */
  long start, end;    /* SEG_SLICE bounds (when has_*) */
  long step;          /* SEG_SLICE step, never 0 */
  bool has_start;     /* SEG_SLICE: start given */
  bool has_end;       /* SEG_SLICE: end given */
  filt *filter;       /* SEG_FILTER; owned */
  size_t norm_end;    /* length of sw_path.norm up to this segment */
} seg;

typedef enum root_kind { ROOT_INPUT, ROOT_CONTEXT, ROOT_VAR } root_kind;

struct sw_path {
  char *text;      /* source text; owned */
  root_kind root;  /* what "$" means */
  char *var;       /* ROOT_VAR: variable name; owned */
  seg *segs;       /* owned, nsegs entries */
  size_t nsegs;
  bool definite;   /* only SEG_NAME / SEG_INDEX, no ".." */
  char *norm;      /* Jayway's normalised form "$['a'][0]"; owned */
};

/* ---- filter expressions ---------------------------------------------- */

typedef enum fkind { F_OR, F_AND, F_NOT, F_CMP, F_EXISTS } fkind;
typedef enum okind { O_LIT, O_REL, O_ABS } okind;
typedef enum cmp_op { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE } cmp_op;

typedef struct operand {
  okind kind;
  cJSON *lit;    /* O_LIT; owned */
  seg *segs;     /* O_REL (from @) / O_ABS (from $); definite; owned */
  size_t nsegs;
} operand;

struct filt {
  fkind kind;
  filt *a, *b;  /* F_OR/F_AND: both; F_NOT: a */
  cmp_op op;    /* F_CMP */
  operand l, r; /* F_CMP: both; F_EXISTS: l */
};

/* ---- parser ---------------------------------------------------------- */

typedef struct parser {
  const char *s;   /* whole text */
  size_t i;        /* cursor */
  sw_path_kind kind;
  sw_err *err;
  int depth;       /* filter nesting, bounded */
} parser;

static void segs_free(seg *segs, size_t n);

static void filt_free(filt *f)
{
  if (!f)
    return;
  filt_free(f->a);
  filt_free(f->b);
  cJSON_Delete(f->l.lit);
  cJSON_Delete(f->r.lit);
  segs_free(f->l.segs, f->l.nsegs);
  segs_free(f->r.segs, f->r.nsegs);
  sw_free(f);
}

static void seg_dispose(seg *s)
{
  size_t i;

  sw_free(s->name);
  if (s->names)
    for (i = 0; i < s->n; i++)
      sw_free(s->names[i]);
  sw_free(s->names);
  sw_free(s->indexes);
  filt_free(s->filter);
}

static void segs_free(seg *segs, size_t n)
{
  size_t i;

  if (!segs)
    return;
  for (i = 0; i < n; i++)
    seg_dispose(&segs[i]);
  sw_free(segs);
}

static int perr(parser *p, const char *what)
{
  return sw_err_set(p->err, SW_EINVAL, SW_ORIGIN_ASL, 0,
                    "invalid %s '%s' at offset %zu: %s",
                    p->kind == SW_PATH_REFERENCE ? "reference path" : "path",
                    p->s, p->i, what);
}

static void skip_ws(parser *p)
{
  while (p->s[p->i] == ' ' || p->s[p->i] == '\t')
    p->i++;
}

static seg *push_seg(seg **segs, size_t *n, size_t *cap)
{
  seg *s;

  if (*n == *cap) {
    *cap = *cap ? *cap * 2 : 4;
    *segs = sw_realloc(*segs, *cap * sizeof(**segs));
  }
  s = &(*segs)[(*n)++];
  memset(s, 0, sizeof(*s));
  return s;
}

/* A quoted name at p->i (opening quote included). Only "\<quote>" is an
 * escape. */
static int parse_quoted(parser *p, char **out)
{
  char q = p->s[p->i++];
  sw_buf b = SW_BUF_INIT(0);
  size_t start;

  *out = NULL;
  for (;;) {
    start = p->i;
    while (p->s[p->i] && p->s[p->i] != q &&
           !(p->s[p->i] == '\\' && p->s[p->i + 1] == q))
      p->i++;
    (void)sw_buf_put(&b, p->s + start, p->i - start, NULL);
    if (!p->s[p->i]) {
      sw_buf_dispose(&b);
      return perr(p, "unterminated quoted name");
    }
    if (p->s[p->i] == q)
      break;
    (void)sw_buf_put(&b, &q, 1, NULL);
    p->i += 2;
  }
  p->i++;
  *out = sw_buf_detach(&b);
  return 0;
}

static bool parse_long(parser *p, long *out)
{
  char *end = NULL;
  const char *s = p->s + p->i;

  if (!(*s == '-' || (*s >= '0' && *s <= '9')))
    return false;
  if (*s == '-' && !(s[1] >= '0' && s[1] <= '9'))
    return false;
  errno = 0;
  *out = strtol(s, &end, 10);
  if (errno)
    return false;
  p->i += (size_t)(end - s);
  return true;
}

static int parse_filter_or(parser *p, filt **out);

/* Dot-notation member name: up to '.', '[' or the end; inside a filter
 * also up to blanks, ')' and operator characters. */
static int parse_dot_name(parser *p, bool in_filter, char **out)
{
  size_t start = p->i;

  while (p->s[p->i] && p->s[p->i] != '.' && p->s[p->i] != '[') {
    if (in_filter && strchr(" \t)<>=!&|,", p->s[p->i]))
      break;
    p->i++;
  }
  if (p->i == start)
    return perr(p, "expected a member name");
  *out = sw_strndup(p->s + start, p->i - start);
  return 0;
}

/* The one script expression asl-path-validator's grammar has (and
 * jsonpath-plus runs): "[(@.length-N)]", the N-th element from the end,
 * which is the index [-N]. N must be at least 1: "@.length-0" is past the
 * end of every array. */
static int parse_script_index(parser *p, seg *sg)
{
  long n = 0;

  p->i++; /* '(' */
  skip_ws(p);
  if (strncmp(p->s + p->i, "@.length", 8) != 0)
    return perr(p, "expected '@.length' in a script expression; only "
                   "'(@.length-N)' is supported");
  p->i += 8;
  skip_ws(p);
  if (p->s[p->i] != '-')
    return perr(p, "expected '-' after '@.length'");
  p->i++;
  skip_ws(p);
  if (!(p->s[p->i] >= '0' && p->s[p->i] <= '9') || !parse_long(p, &n))
    return perr(p, "expected a number after '@.length-'");
  if (n < 1)
    return perr(p, "'(@.length-0)' is past the end of every array");
  skip_ws(p);
  if (p->s[p->i] != ')')
    return perr(p, "expected ')' closing the script expression");
  p->i++;
  sg->kind = SEG_INDEX;
  sg->index = -n;
  return 0;
}

static int parse_bracket(parser *p, seg *sg)
{
  int rc = 0;

  p->i++; /* '[' */
  skip_ws(p);
  if (p->s[p->i] == '\'' || p->s[p->i] == '"') {
    char *name = NULL;
    size_t cap = 0;

    for (;;) {
      rc = parse_quoted(p, &name);
      if (rc < 0)
        return rc;
      if (sg->n == cap) {
        cap = cap ? cap * 2 : 2;
        sg->names = sw_realloc(sg->names, cap * sizeof(char *));
      }
      sg->names[sg->n++] = name;
      skip_ws(p);
      if (p->s[p->i] != ',')
        break;
      p->i++;
      skip_ws(p);
      if (p->s[p->i] != '\'' && p->s[p->i] != '"')
        return perr(p, "expected a quoted name after ','");
    }
    if (sg->n == 1) {
      sg->kind = SEG_NAME;
      sg->name = sg->names[0];
      sw_free(sg->names);
      sg->names = NULL;
      sg->n = 0;
    } else {
      sg->kind = SEG_NAMES;
    }
  } else if (p->s[p->i] == '*') {
    p->i++;
    sg->kind = SEG_WILD;
  } else if (p->s[p->i] == '(') {
    rc = parse_script_index(p, sg);
    if (rc < 0)
      return rc;
  } else if (p->s[p->i] == '?') {
    p->i++;
    skip_ws(p);
    if (p->s[p->i] != '(')
      return perr(p, "expected '(' after '?'");
    p->i++;
    sg->kind = SEG_FILTER;
    rc = parse_filter_or(p, &sg->filter);
    if (rc < 0)
      return rc;
    skip_ws(p);
    if (p->s[p->i] != ')')
      return perr(p, "expected ')' closing the filter");
    p->i++;
  } else {
    long v = 0;
    bool have = parse_long(p, &v);

    skip_ws(p);
    if (p->s[p->i] == ':') {
      sg->kind = SEG_SLICE;
      sg->has_start = have;
      sg->start = v;
      sg->step = 1;
      p->i++;
      skip_ws(p);
      sg->has_end = parse_long(p, &sg->end);
      skip_ws(p);
      if (p->s[p->i] == ':') {
        p->i++;
        skip_ws(p);
        if (parse_long(p, &sg->step) && sg->step == 0)
          return perr(p, "slice step must not be 0");
        skip_ws(p);
      }
    } else if (!have) {
      return perr(p, "expected a quoted name, an index, '*' or '?('");
    } else if (p->s[p->i] == ',') {
      size_t cap = 4;

      sg->kind = SEG_INDEXES;
      sg->indexes = sw_malloc(cap * sizeof(long));
      sg->indexes[sg->n++] = v;
      while (p->s[p->i] == ',') {
        p->i++;
        skip_ws(p);
        if (!parse_long(p, &v))
          return perr(p, "expected an index after ','");
        if (sg->n == cap) {
          cap *= 2;
          sg->indexes = sw_realloc(sg->indexes, cap * sizeof(long));
        }
        sg->indexes[sg->n++] = v;
        skip_ws(p);
      }
    } else {
      sg->kind = SEG_INDEX;
      sg->index = v;
    }
  }
  skip_ws(p);
  if (p->s[p->i] != ']')
    return perr(p, "expected ']'");
  p->i++;
  return 0;
}

/* Segments until the end of text (or, in a filter, until a character
 * that cannot continue a path). */
static int parse_segs(parser *p, bool in_filter, seg **out, size_t *n_out)
{
  seg *segs = NULL;
  size_t n = 0, cap = 0;
  int rc = 0;

  for (;;) {
    char c = p->s[p->i];
    seg *sg;
    bool descend = false;

    if (c == '.') {
      p->i++;
      if (p->s[p->i] == '.') {
        p->i++;
        descend = true;
      }
      sg = push_seg(&segs, &n, &cap);
      sg->descend = descend;
      if (p->s[p->i] == '*') {
        p->i++;
        sg->kind = SEG_WILD;
      } else if (p->s[p->i] == '[') {
        /* "$.['x y']" and "$..['x']" (asl-semantics.md section 5). */
        rc = parse_bracket(p, sg);
      } else {
        sg->kind = SEG_NAME;
        rc = parse_dot_name(p, in_filter, &sg->name);
      }
    } else if (c == '[') {
      sg = push_seg(&segs, &n, &cap);
      rc = parse_bracket(p, sg);
    } else if (c == '\0' || in_filter) {
      break;
    } else {
      rc = perr(p, "expected '.' or '['");
    }
    if (rc < 0)
      goto done;
  }
done:
  if (rc < 0) {
    segs_free(segs, n);
    segs = NULL;
    n = 0;
  }
  *out = segs;
  *n_out = n;
  return rc;
}

static bool segs_definite(const seg *segs, size_t n)
{
  size_t i;

  for (i = 0; i < n; i++)
    if (segs[i].descend ||
        (segs[i].kind != SEG_NAME && segs[i].kind != SEG_INDEX))
      return false;
  return true;
}

/* ---- filter parser ---------------------------------------------------- */

/* Characters of a bare name on the right of a filter comparison
 * (asl-path-validator's ID rule, which also stops at '&', '|' and blanks
 * here so that "&&" and "||" still combine comparisons). */
static bool bare_name_char(char ch)
{
  return ch && !strchr("),'\"\\.[] \t><!=&|", ch);
}

static int parse_operand(parser *p, operand *o, bool rhs)
{
  const char *s;
  int rc;

  skip_ws(p);
  s = p->s + p->i;
  if (*s == '@' || (*s == '$' && s[1] != '$')) {
    o->kind = *s == '@' ? O_REL : O_ABS;
    p->i++;
    rc = parse_segs(p, true, &o->segs, &o->nsegs);
    if (rc < 0)
      return rc;
    if (!segs_definite(o->segs, o->nsegs))
      return perr(p, "filter operands must be definite paths");
    return 0;
  }
  o->kind = O_LIT;
  if (*s == '\'' || *s == '"') {
    char *str = NULL;

    rc = parse_quoted(p, &str);
    if (rc < 0)
      return rc;
    o->lit = cJSON_CreateString(str);
    sw_free(str);
    return 0;
  }
  if (!strncmp(s, "true", 4) && !bare_name_char(s[4])) {
    o->lit = cJSON_CreateTrue();
    p->i += 4;
    return 0;
  }
  if (!strncmp(s, "false", 5) && !bare_name_char(s[5])) {
    o->lit = cJSON_CreateFalse();
    p->i += 5;
    return 0;
  }
  if (!strncmp(s, "null", 4) && !bare_name_char(s[4])) {
    o->lit = cJSON_CreateNull();
    p->i += 4;
    return 0;
  }
  if (*s == '-' || (*s >= '0' && *s <= '9')) {
    char *end = NULL;
    double d = strtod(s, &end);

    if (end == s)
      return perr(p, "bad number in filter");
    o->lit = cJSON_CreateNumber(d);
    p->i += (size_t)(end - s);
    return 0;
  }
  if (rhs && bare_name_char(*s)) {
    /* "[?(@.OutputKey == FooBar)]": asl-path-validator accepts a bare name
     * where a value is expected; it stands for the string 'FooBar'. */
    size_t start = p->i;
    char *str;

    while (bare_name_char(p->s[p->i]))
      p->i++;
    str = sw_strndup(p->s + start, p->i - start);
    o->lit = cJSON_CreateString(str);
    sw_free(str);
    return 0;
  }
  return perr(p, "expected '@', '$', a string, a number, true, false or "
                 "null in filter");
}

static int parse_filter_unary(parser *p, filt **out)
{
  filt *f = sw_calloc(1, sizeof(*f));
  int rc = 0;
  const char *s;

  *out = f;
  if (++p->depth > 32)
    return perr(p, "filter nested too deeply");
  skip_ws(p);
  s = p->s + p->i;
  if (*s == '!' && s[1] != '=') {
    p->i++;
    f->kind = F_NOT;
    rc = parse_filter_unary(p, &f->a);
    goto done;
  }
  if (*s == '(') {
    p->i++;
    f->kind = F_OR; /* placeholder replaced below */
    sw_free(f);
    *out = NULL;
    rc = parse_filter_or(p, out);
    if (rc < 0)
      goto done;
    skip_ws(p);
    if (p->s[p->i] != ')') {
      rc = perr(p, "expected ')'");
      goto done;
    }
    p->i++;
    goto done;
  }
  rc = parse_operand(p, &f->l, false);
  if (rc < 0)
    goto done;
  skip_ws(p);
  s = p->s + p->i;
  if (!strncmp(s, "==", 2) || !strncmp(s, "!=", 2) || !strncmp(s, "<=", 2) ||
      !strncmp(s, ">=", 2)) {
    f->op = s[0] == '=' ? OP_EQ : s[0] == '!' ? OP_NE : s[0] == '<' ? OP_LE
                                                                    : OP_GE;
    p->i += 2;
  } else if (*s == '<' || *s == '>') {
    f->op = *s == '<' ? OP_LT : OP_GT;
    p->i++;
  } else {
    if (f->l.kind == O_LIT) {
      rc = perr(p, "expected a comparison operator");
      goto done;
    }
    f->kind = F_EXISTS;
    goto done;
  }
  f->kind = F_CMP;
  rc = parse_operand(p, &f->r, true);
done:
  p->depth--;
  return rc;
}

static int parse_filter_and(parser *p, filt **out)
{
  int rc = parse_filter_unary(p, out);

  while (rc == 0) {
    filt *f;

    skip_ws(p);
    if (strncmp(p->s + p->i, "&&", 2))
      break;
    p->i += 2;
    f = sw_calloc(1, sizeof(*f));
    f->kind = F_AND;
    f->a = *out;
    *out = f;
    rc = parse_filter_unary(p, &f->b);
  }
  return rc;
}

static int parse_filter_or(parser *p, filt **out)
{
  int rc = parse_filter_and(p, out);

  while (rc == 0) {
    filt *f;

    skip_ws(p);
    if (strncmp(p->s + p->i, "||", 2))
      break;
    p->i += 2;
    f = sw_calloc(1, sizeof(*f));
    f->kind = F_OR;
    f->a = *out;
    *out = f;
    rc = parse_filter_and(p, &f->b);
  }
  return rc;
}

/* ---- compile ---------------------------------------------------------- */

static void build_norm(sw_path *path)
{
  sw_buf b = SW_BUF_INIT(0);
  size_t i, j;

  (void)sw_buf_puts(&b, "$", NULL);
  for (i = 0; i < path->nsegs; i++) {
    const seg *s = &path->segs[i];

    if (s->descend)
      (void)sw_buf_puts(&b, "..", NULL);
    switch (s->kind) {
    case SEG_NAME:
      (void)sw_buf_printf(&b, NULL, "['%s']", s->name);
      break;
    case SEG_INDEX:
      (void)sw_buf_printf(&b, NULL, "[%ld]", s->index);
      break;
    case SEG_WILD:
      (void)sw_buf_puts(&b, "[*]", NULL);
      break;
    case SEG_NAMES:
      (void)sw_buf_puts(&b, "[", NULL);
      for (j = 0; j < s->n; j++)
        (void)sw_buf_printf(&b, NULL, "%s'%s'", j ? ", " : "", s->names[j]);
      (void)sw_buf_puts(&b, "]", NULL);
      break;
    case SEG_INDEXES:
      (void)sw_buf_puts(&b, "[", NULL);
      for (j = 0; j < s->n; j++)
        (void)sw_buf_printf(&b, NULL, "%s%ld", j ? "," : "", s->indexes[j]);
      (void)sw_buf_puts(&b, "]", NULL);
      break;
    case SEG_SLICE:
      (void)sw_buf_puts(&b, "[slice]", NULL);
      break;
    case SEG_FILTER:
      (void)sw_buf_puts(&b, "[?]", NULL);
      break;
    }
    path->segs[i].norm_end = b.len;
  }
  path->norm = sw_buf_detach(&b);
}

int sw_path_compile(sw_path **out, const char *text, sw_path_kind kind,
                    sw_err *err)
{
  parser p;
  sw_path *path = NULL;
  int rc = 0;

  *out = NULL;
  if (!text)
    return sw_err_set(err, SW_EINVAL, SW_ORIGIN_ASL, 0, "path is NULL");
  p.s = text;
  p.i = 0;
  p.kind = kind;
  p.err = err;
  p.depth = 0;
  path = sw_calloc(1, sizeof(*path));
  path->text = sw_strdup(text);
  if (text[0] != '$') {
    rc = perr(&p, "must start with '$'");
    goto done;
  }
  p.i = 1;
  if (text[1] == '$') {
    path->root = ROOT_CONTEXT;
    p.i = 2;
  } else if (text[1] && text[1] != '.' && text[1] != '[') {
    /* "$name" or "$name.field": a variable reference. */
    size_t start = 1;

    while (text[p.i] && text[p.i] != '.' && text[p.i] != '[')
      p.i++;
    path->root = ROOT_VAR;
    path->var = sw_strndup(text + start, p.i - start);
  }
  rc = parse_segs(&p, false, &path->segs, &path->nsegs);
  if (rc < 0)
    goto done;
  path->definite = segs_definite(path->segs, path->nsegs);
  if (kind == SW_PATH_REFERENCE && !path->definite) {
    p.i = 0;
    rc = perr(&p, "a reference path selects one node: only '.name', "
                  "\"['name']\" and '[n]' are allowed");
    goto done;
  }
  build_norm(path);
done:
  if (rc < 0) {
    sw_path_free(path);
    path = NULL;
  }
  *out = path;
  return rc;
}

void sw_path_free(sw_path *p)
{
  if (!p)
    return;
  segs_free(p->segs, p->nsegs);
  sw_free(p->text);
  sw_free(p->var);
  sw_free(p->norm);
  sw_free(p);
}

const char *sw_path_text(const sw_path *p)
{
  return p->text;
}

bool sw_path_is_root(const sw_path *p)
{
  return p->root == ROOT_INPUT && p->nsegs == 0;
}

bool sw_path_is_definite(const sw_path *p)
{
  return p->definite;
}

/* ---- evaluation -------------------------------------------------------- */

typedef struct nvec {
  const cJSON **v; /* borrowed nodes; array owned */
  size_t n, cap;
} nvec;

static void nvec_push(nvec *nv, const cJSON *x)
{
  if (nv->n == nv->cap) {
    nv->cap = nv->cap ? nv->cap * 2 : 8;
    nv->v = sw_realloc(nv->v, nv->cap * sizeof(*nv->v));
  }
  nv->v[nv->n++] = x;
}

static const cJSON *get_member(const cJSON *obj, const char *name)
{
  const cJSON *c;

  if (!cJSON_IsObject(obj))
    return NULL;
  for (c = obj->child; c; c = c->next)
    if (c->string && strcmp(c->string, name) == 0)
      return c;
  return NULL;
}

static const cJSON *get_index(const cJSON *arr, long idx)
{
  int size;

  if (!cJSON_IsArray(arr))
    return NULL;
  size = cJSON_GetArraySize(arr);
  if (idx < 0)
    idx += size;
  if (idx < 0 || idx >= size)
    return NULL;
  return cJSON_GetArrayItem(arr, (int)idx);
}

static const cJSON *walk_definite(const cJSON *node, const seg *segs,
                                  size_t n)
{
  size_t i;

  for (i = 0; node && i < n; i++)
    node = segs[i].kind == SEG_NAME ? get_member(node, segs[i].name)
                                    : get_index(node, segs[i].index);
  return node;
}

static bool filt_match(const filt *f, const cJSON *cur, const cJSON *root);

static const cJSON *operand_value(const operand *o, const cJSON *cur,
                                  const cJSON *root)
{
  switch (o->kind) {
  case O_LIT: return o->lit;
  case O_REL: return walk_definite(cur, o->segs, o->nsegs);
  case O_ABS: return walk_definite(root, o->segs, o->nsegs);
  }
  return NULL;
}

/* Member of obj named `name`, trying `hint` (the member at the same
 * position in the other object) first: objects that are equal usually
 * list their members in the same order, and then the lookup is O(1). */
static const cJSON *member_hint(const cJSON *obj, const cJSON *hint,
                                const char *name)
{
  if (hint && hint->string && strcmp(hint->string, name) == 0)
    return hint;
  return get_member(obj, name);
}

bool sw__json_equal(const cJSON *a, const cJSON *b)
{
  const cJSON *x, *y, *h;
  int na = 0, nb = 0;

  if (!a || !b)
    return a == b;
  if (cJSON_IsNumber(a) || cJSON_IsNumber(b))
    return cJSON_IsNumber(a) && cJSON_IsNumber(b) &&
           a->valuedouble == b->valuedouble;
  if (cJSON_IsString(a) || cJSON_IsString(b))
    return cJSON_IsString(a) && cJSON_IsString(b) &&
           strcmp(a->valuestring, b->valuestring) == 0;
  if (cJSON_IsBool(a) || cJSON_IsBool(b))
    return cJSON_IsBool(a) && cJSON_IsBool(b) &&
           cJSON_IsTrue(a) == cJSON_IsTrue(b);
  if (cJSON_IsNull(a) || cJSON_IsNull(b))
    return cJSON_IsNull(a) && cJSON_IsNull(b);
  if (cJSON_IsArray(a) && cJSON_IsArray(b)) {
    for (x = a->child, y = b->child; x && y; x = x->next, y = y->next)
      if (!sw__json_equal(x, y))
        return false;
    return !x && !y;
  }
  if (!cJSON_IsObject(a) || !cJSON_IsObject(b))
    return false;
  for (x = a->child; x; x = x->next)
    na++;
  for (y = b->child; y; y = y->next)
    nb++;
  if (na != nb)
    return false;
  /* Same number of members and every member of a equal in b: equal (for
   * objects without duplicate names, which is every parsed ASL value). */
  for (x = a->child, h = b->child; x; x = x->next, h = h ? h->next : NULL) {
    y = member_hint(b, h, x->string ? x->string : "");
    if (!y || !sw__json_equal(x, y))
      return false;
  }
  return true;
}

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
  const unsigned char *c = p;
  size_t i;

  for (i = 0; i < n; i++)
    h = (h ^ c[i]) * 0x100000001b3ULL; /* FNV-1a */
  return h;
}

uint64_t sw__json_hash(const cJSON *v)
{
  uint64_t h = 0xcbf29ce484222325ULL, sum = 0;
  const cJSON *c;
  double d;

  if (!v)
    return h;
  if (cJSON_IsNumber(v)) {
    d = v->valuedouble == 0 ? 0 : v->valuedouble; /* -0 == 0 */
    return hash_bytes(h ^ 1, &d, sizeof(d));
  }
  if (cJSON_IsString(v))
    return hash_bytes(h ^ 2, v->valuestring, strlen(v->valuestring));
  if (cJSON_IsBool(v))
    return h ^ (cJSON_IsTrue(v) ? 3 : 4);
  if (cJSON_IsArray(v)) {
    h ^= 5;
    for (c = v->child; c; c = c->next)
      h = (h ^ sw__json_hash(c)) * 0x100000001b3ULL;
    return h;
  }
  if (cJSON_IsObject(v)) {
    /* Order-independent: a sum over the members. */
    for (c = v->child; c; c = c->next)
      sum += hash_bytes(sw__json_hash(c), c->string ? c->string : "",
                        c->string ? strlen(c->string) : 0);
    return h ^ 6 ^ (sum * 0x9e3779b97f4a7c15ULL);
  }
  return h ^ 7; /* null */
}

static bool values_equal(const cJSON *a, const cJSON *b)
{
  if (cJSON_IsNumber(a) && cJSON_IsNumber(b))
    return a->valuedouble == b->valuedouble;
  if (cJSON_IsString(a) && cJSON_IsString(b))
    return strcmp(a->valuestring, b->valuestring) == 0;
  if (cJSON_IsBool(a) && cJSON_IsBool(b))
    return cJSON_IsTrue(a) == cJSON_IsTrue(b);
  if (cJSON_IsNull(a) && cJSON_IsNull(b))
    return true;
  if ((cJSON_IsArray(a) && cJSON_IsArray(b)) ||
      (cJSON_IsObject(a) && cJSON_IsObject(b)))
    return sw__json_equal(a, b);
  return false;
}

static bool filt_match(const filt *f, const cJSON *cur, const cJSON *root)
{
  const cJSON *l, *r;
  int c;

  switch (f->kind) {
  case F_OR: return filt_match(f->a, cur, root) || filt_match(f->b, cur, root);
  case F_AND:
    return filt_match(f->a, cur, root) && filt_match(f->b, cur, root);
  case F_NOT: return !filt_match(f->a, cur, root);
  case F_EXISTS: return operand_value(&f->l, cur, root) != NULL;
  case F_CMP: break;
  }
  l = operand_value(&f->l, cur, root);
  r = operand_value(&f->r, cur, root);
  if (f->op == OP_NE)
    return !(l && r && values_equal(l, r));
  if (!l || !r)
    return false;
  if (f->op == OP_EQ)
    return values_equal(l, r);
  if (cJSON_IsNumber(l) && cJSON_IsNumber(r))
    c = l->valuedouble < r->valuedouble ? -1
        : l->valuedouble > r->valuedouble ? 1 : 0;
  else if (cJSON_IsString(l) && cJSON_IsString(r))
    c = strcmp(l->valuestring, r->valuestring);
  else
    return false;
  switch (f->op) {
  case OP_LT: return c < 0;
  case OP_LE: return c <= 0;
  case OP_GT: return c > 0;
  case OP_GE: return c >= 0;
  default: return false;
  }
}

/* Python-style slice over an array of `size` elements. */
static void apply_slice(nvec *out, const seg *s, const cJSON *arr)
{
  long size = cJSON_GetArraySize(arr);
  long start, end, i;
  const cJSON **items;
  const cJSON *c;

  if (size == 0)
    return;
  items = sw_malloc((size_t)size * sizeof(*items));
  for (i = 0, c = arr->child; c; c = c->next)
    items[i++] = c;
  if (s->step > 0) {
    start = s->has_start ? s->start : 0;
    end = s->has_end ? s->end : size;
    if (start < 0)
      start = start + size < 0 ? 0 : start + size;
    if (end < 0)
      end = end + size < 0 ? 0 : end + size;
    if (end > size)
      end = size;
    for (i = start; i < end; i += s->step)
      nvec_push(out, items[i]);
  } else {
    start = s->has_start ? s->start : size - 1;
    end = s->has_end ? s->end : -size - 1;
    if (start < 0)
      start += size;
    if (start >= size)
      start = size - 1;
    if (end < 0)
      end += size;
    for (i = start; i > end && i >= 0; i += s->step)
      nvec_push(out, items[i]);
  }
  sw_free(items);
}

static void apply_seg(nvec *out, const seg *s, const cJSON *node,
                      const cJSON *root)
{
  const cJSON *c;
  size_t j;

  switch (s->kind) {
  case SEG_NAME:
    c = get_member(node, s->name);
    if (c)
      nvec_push(out, c);
    break;
  case SEG_INDEX:
    c = get_index(node, s->index);
    if (c)
      nvec_push(out, c);
    break;
  case SEG_WILD:
    if (cJSON_IsObject(node) || cJSON_IsArray(node))
      for (c = node->child; c; c = c->next)
        nvec_push(out, c);
    break;
  case SEG_NAMES:
    for (j = 0; j < s->n; j++) {
      c = get_member(node, s->names[j]);
      if (c)
        nvec_push(out, c);
    }
    break;
  case SEG_INDEXES:
    for (j = 0; j < s->n; j++) {
      c = get_index(node, s->indexes[j]);
      if (c)
        nvec_push(out, c);
    }
    break;
  case SEG_SLICE:
    if (cJSON_IsArray(node))
      apply_slice(out, s, node);
    break;
  case SEG_FILTER:
    if (cJSON_IsArray(node)) {
      for (c = node->child; c; c = c->next)
        if (filt_match(s->filter, c, root))
          nvec_push(out, c);
    } else if (cJSON_IsObject(node) && filt_match(s->filter, node, root)) {
      nvec_push(out, node);
    }
    break;
  }
}

/* "..": apply the selector to the node and to every descendant. */
static void apply_descend(nvec *out, const seg *s, const cJSON *node,
                          const cJSON *root, int depth)
{
  const cJSON *c;

  apply_seg(out, s, node, root);
  if (depth > 1000)
    return;
  if (cJSON_IsObject(node) || cJSON_IsArray(node))
    for (c = node->child; c; c = c->next)
      if (cJSON_IsObject(c) || cJSON_IsArray(c))
        apply_descend(out, s, c, root, depth + 1);
}

static const char *java_type(const cJSON *v)
{
  if (!v || cJSON_IsNull(v))
    return "null";
  if (cJSON_IsString(v))
    return "java.lang.String";
  if (cJSON_IsBool(v))
    return "java.lang.Boolean";
  if (cJSON_IsNumber(v))
    return v->valuedouble == floor(v->valuedouble) ? "java.lang.Integer"
                                                   : "java.lang.Double";
  if (cJSON_IsArray(v))
    return "net.minidev.json.JSONArray";
  return "net.minidev.json.JSONObject";
}

static int root_node(const cJSON **out, const sw_path *p,
                     const sw_eval_env *env, sw_err *err)
{
  switch (p->root) {
  case ROOT_INPUT: *out = env->input; break;
  case ROOT_CONTEXT: *out = env->context; break;
  case ROOT_VAR:
    *out = get_member(env->variables, p->var);
    if (!*out)
      return sw_err_set(err, SW_ENOTFOUND, SW_ORIGIN_ASL, 0,
                        "The variable '$%s' is not defined", p->var);
    break;
  }
  return 0;
}

static int select_definite(const cJSON **out, const sw_path *p,
                           const cJSON *node, sw_err *err)
{
  size_t i;

  for (i = 0; i < p->nsegs; i++) {
    const seg *s = &p->segs[i];
    size_t prev = i ? p->segs[i - 1].norm_end : 1;
    const cJSON *next;

    if (s->kind == SEG_NAME) {
      if (!cJSON_IsObject(node))
        return sw_err_set(
            err, SW_ENOTFOUND, SW_ORIGIN_ASL, 0,
            "Expected to find an object with property ['%s'] in path %.*s "
            "but found '%s'. This is not a json object according to the "
            "JsonProvider: 'com.jayway.jsonpath.spi.json."
            "JsonSmartJsonProvider'.",
            s->name, (int)prev, p->norm, java_type(node));
      next = get_member(node, s->name);
      if (!next) {
        if (i + 1 == p->nsegs)
          return sw_err_set(err, SW_ENOTFOUND, SW_ORIGIN_ASL, 0,
                            "No results for path: %s", p->norm);
        return sw_err_set(err, SW_ENOTFOUND, SW_ORIGIN_ASL, 0,
                          "Missing property in path %.*s", (int)s->norm_end,
                          p->norm);
      }
    } else {
      if (!node || cJSON_IsNull(node))
        return sw_err_set(err, SW_ENOTFOUND, SW_ORIGIN_ASL, 0,
                          "The path %.*s is null", (int)prev, p->norm);
      if (!cJSON_IsArray(node)) {
        char *txt = sw_json_print(node);
        sw_err_set(err, SW_ENOTFOUND, SW_ORIGIN_ASL, 0,
                   "Filter: [%ld] can only be applied to arrays. Current "
                   "context is: %s",
                   s->index, txt);
        sw_free(txt);
        return SW_ENOTFOUND;
      }
      next = get_index(node, s->index);
      if (!next)
        return sw_err_set(err, SW_ENOTFOUND, SW_ORIGIN_ASL, 0,
                          "No results for path: %s", p->norm);
    }
    node = next;
  }
  *out = node;
  return 0;
}

int sw__path_select(const cJSON **out, cJSON **owned, const sw_path *p,
                    const sw_eval_env *env, sw_err *err)
{
  const cJSON *node = NULL;
  nvec cur = {NULL, 0, 0}, nxt = {NULL, 0, 0};
  cJSON *arr = NULL;
  size_t i, j;
  int rc;

  *out = NULL;
  *owned = NULL;
  rc = root_node(&node, p, env, err);
  if (rc < 0)
    return rc;
  if (p->definite) {
    if (!node)
      return sw_err_set(err, SW_ENOTFOUND, SW_ORIGIN_ASL, 0,
                        "No results for path: %s", p->norm);
    return select_definite(out, p, node, err);
  }
  /* Indefinite: AWS yields an array of the matches, possibly empty (the
   * AWS-recorded "wildcard or slice with no input" cases). */
  if (node)
    nvec_push(&cur, node);
  for (i = 0; i < p->nsegs && cur.n; i++) {
    const seg *s = &p->segs[i];

    nxt.n = 0;
    for (j = 0; j < cur.n; j++) {
      if (s->descend)
        apply_descend(&nxt, s, cur.v[j], env->input, 0);
      else
        apply_seg(&nxt, s, cur.v[j], env->input);
    }
    {
      nvec t = cur;
      cur = nxt;
      nxt = t;
    }
  }
  arr = cJSON_CreateArray();
  for (j = 0; j < cur.n; j++)
    cJSON_AddItemToArray(arr, sw_json_dup(cur.v[j]));
  sw_free(cur.v);
  sw_free(nxt.v);
  *out = arr;
  *owned = arr;
  return 0;
}

int sw_path_eval(cJSON **out, const sw_path *p, const sw_eval_env *env,
                 sw_err *err)
{
  const cJSON *node = NULL;
  cJSON *owned = NULL;
  int rc;

  *out = NULL;
  rc = sw__path_select(&node, &owned, p, env, err);
  if (rc < 0) {
    sw_err_prefix(err, "Invalid path '%s' : ", p->text);
    return rc;
  }
  *out = owned ? owned : sw_json_dup(node);
  return 0;
}

int sw__path_not_found(sw_err *err, const char *path_text, const char *field,
                       const sw_eval_env *env)
{
  char *in = sw_json_print(env->input);

  if (field)
    sw_err_set(err, SW_ENOTFOUND, SW_ORIGIN_ASL, 0,
               "The JSONPath '%s' specified for the field '%s' could not be "
               "found in the input '%s'",
               path_text, field, in);
  else
    sw_err_set(err, SW_ENOTFOUND, SW_ORIGIN_ASL, 0,
               "The JSONPath '%s' could not be found in the input '%s'",
               path_text, in);
  sw_free(in);
  return SW_ENOTFOUND;
}

/* ---- ResultPath -------------------------------------------------------- */

static int assign_err(const sw_path *p, size_t i, const char *found,
                      sw_err *err)
{
  size_t prev = i ? p->segs[i - 1].norm_end : 1;

  return sw_err_set(err, SW_EINVAL, SW_ORIGIN_ASL, 0,
                    "Invalid path '%s' : Expected to find an object with "
                    "property %.*s in path %.*s but found '%s'. This is not "
                    "a json object according to the JsonProvider: "
                    "'com.jayway.jsonpath.spi.json.JsonSmartJsonProvider'.",
                    p->text, (int)(p->segs[i].norm_end - prev),
                    p->norm + prev, (int)prev, p->norm, found);
}

int sw_path_assign(cJSON **doc, const sw_path *p, cJSON *value, sw_err *err)
{
  cJSON *node;
  size_t i;

  if (p->root != ROOT_INPUT || !p->definite) {
    cJSON_Delete(value);
    return sw_err_set(err, SW_EINVAL, SW_ORIGIN_ASL, 0,
                      "Invalid path '%s' : a result can only be placed "
                      "into the state input ('$...')",
                      p->text);
  }
  /* ASL: "ResultPath": "$" replaces the whole input with the result. */
  if (p->nsegs == 0) {
    cJSON_Delete(*doc);
    *doc = value;
    return 0;
  }
  if (!*doc)
    *doc = cJSON_CreateObject();
  node = *doc;
  for (i = 0; i < p->nsegs; i++) {
    const seg *s = &p->segs[i];
    bool last = i + 1 == p->nsegs;

    if (s->kind == SEG_NAME) {
      cJSON *child;

      if (!cJSON_IsObject(node)) {
        const char *t = java_type(node);
        cJSON_Delete(value);
        return assign_err(p, i, t, err);
      }
      child = cJSON_GetObjectItemCaseSensitive(node, s->name);
      if (last) {
        sw_json_set(node, s->name, value);
        return 0;
      }
      /* ASL: ResultPath creates the intermediate objects it names. */
      if (!child) {
        child = cJSON_CreateObject();
        cJSON_AddItemToObject(node, s->name, child);
      }
      node = child;
    } else {
      int size;
      long idx = s->index;

      if (!cJSON_IsArray(node)) {
        const char *t = java_type(node);
        cJSON_Delete(value);
        return assign_err(p, i, t, err);
      }
      size = cJSON_GetArraySize(node);
      if (idx < 0)
        idx += size;
      if (idx < 0 || idx >= size) {
        cJSON_Delete(value);
        return sw_err_set(err, SW_EINVAL, SW_ORIGIN_ASL, 0,
                          "Invalid path '%s' : Index %ld out of bounds for "
                          "length %d",
                          p->text, s->index, size);
      }
      if (last) {
        cJSON_ReplaceItemInArray(node, (int)idx, value);
        return 0;
      }
      node = cJSON_GetArrayItem(node, (int)idx);
    }
  }
  cJSON_Delete(value);
  return 0;
}
