/* SPDX-License-Identifier: MIT */
/* SQL text scanning shared by the drivers: split a script into statements
 * and rewrite the Data API's :name parameters into PostgreSQL's $n. Both
 * walk the text with one lexer (scan_skip) that knows PostgreSQL's quoting:
 * '...' strings with '' escapes (E'...' also with backslash escapes),
 * "..." identifiers, -- and (nested) slash-star comments, and $tag$ dollar
 * quotes. Pure functions: no I/O, any thread. */
#include "warehouse/warehouse.h"

#include <string.h>

#include "warehouse/warehouse_int.h"

static bool ident_char(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_' || (unsigned char)c >= 0x80;
}

static int line_of(const char *text, const char *p)
{
  int line = 1;

  for (; text < p; text++)
    if (*text == '\n')
      line++;
  return line;
}

/* If `p` starts a quoted or commented span, return the position just past
 * it (*kind: 1 string, 2 identifier, 3 comment, 4 dollar quote); return p
 * itself when it does not. Returns NULL for an unterminated span, with
 * *kind set. `start` is the beginning of the text (to look behind). */
static const char *scan_skip(const char *start, const char *p, int *kind)
{
  const char *q, *tag_end;
  size_t tag_len;
  bool backslash;
  int depth;

  *kind = 0;
  if (*p == '\'') {
    /* E'...' (escape string syntax) also takes backslash escapes. */
    backslash = p > start && (p[-1] == 'E' || p[-1] == 'e') &&
                (p - 1 == start || !ident_char(p[-2]));
    *kind = 1;
    for (q = p + 1; *q; q++) {
      if (backslash && *q == '\\' && q[1]) {
        q++;
      } else if (*q == '\'') {
        if (q[1] == '\'')
          q++;
        else
          return q + 1;
      }
    }
    return NULL;
  }
  if (*p == '"') {
    *kind = 2;
    for (q = p + 1; *q; q++) {
      if (*q == '"') {
        if (q[1] == '"')
          q++;
        else
          return q + 1;
      }
    }
    return NULL;
  }
  if (p[0] == '-' && p[1] == '-') {
    *kind = 3;
    q = strchr(p, '\n');
    return q ? q + 1 : p + strlen(p);
  }
  if (p[0] == '/' && p[1] == '*') {
    *kind = 3;
    depth = 1;
    for (q = p + 2; *q; q++) {
      if (q[0] == '/' && q[1] == '*') {
        depth++;
        q++;
      } else if (q[0] == '*' && q[1] == '/') {
        q++;
        if (--depth == 0)
          return q + 1;
      }
    }
    return NULL;
  }
  if (*p == '$' && (p == start || !ident_char(p[-1]))) {
    /* $tag$ with tag = [A-Za-z_][A-Za-z0-9_]* or empty; $1 is a
     * positional parameter, not a quote. */
    q = p + 1;
    if (*q != '$' && !((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
                       *q == '_'))
      return p;
    while (*q != '$' && ident_char(*q))
      q++;
    if (*q != '$')
      return p;
    tag_end = q + 1;
    tag_len = (size_t)(tag_end - p);
    *kind = 4;
    for (q = tag_end; *q; q++)
      if (*q == '$' && !strncmp(q, p, tag_len))
        return q + tag_len;
    return NULL;
  }
  return p;
}

static const char *span_name(int kind)
{
  switch (kind) {
  case 1: return "string literal";
  case 2: return "quoted identifier";
  case 3: return "comment";
  default: return "dollar-quoted string";
  }
}

void sw__wh_strv_free(char **v, size_t n)
{
  size_t i;

  if (!v)
    return;
  for (i = 0; i < n; i++)
    sw_free(v[i]);
  sw_free(v);
}

/* Append text[a..b) trimmed of leading blanks/comments and trailing blanks,
 * unless nothing is left. */
static void push_stmt(const char *text, const char *a, const char *b,
                      char ***v, size_t *n, size_t *cap)
{
  const char *q;
  int kind;

  for (;;) {
    while (a < b && (*a == ' ' || *a == '\t' || *a == '\n' || *a == '\r' ||
                     *a == '\f' || *a == '\v'))
      a++;
    if (a < b && ((a[0] == '-' && a[1] == '-') ||
                  (a[0] == '/' && a[1] == '*'))) {
      q = scan_skip(text, a, &kind);
      a = q && q < b ? q : b;
      continue;
    }
    break;
  }
  while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\n' ||
                   b[-1] == '\r' || b[-1] == '\f' || b[-1] == '\v'))
    b--;
  if (a == b)
    return;
  if (*n == *cap) {
    *cap = *cap ? *cap * 2 : 8;
    *v = sw_realloc(*v, *cap * sizeof(**v));
  }
  (*v)[(*n)++] = sw_strndup(a, (size_t)(b - a));
}

int sw__wh_sql_split(const char *script, char ***out, size_t *n_out,
                     sw_err *err)
{
  const char *p = script, *stmt = script, *q;
  char **v = NULL;
  size_t n = 0, cap = 0;
  int kind;

  *out = NULL;
  *n_out = 0;
  while (*p) {
    q = scan_skip(script, p, &kind);
    if (!q) {
      sw__wh_strv_free(v, n);
      return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                        "unterminated %s starting at line %d",
                        span_name(kind), line_of(script, p));
    }
    if (q != p) {
      p = q;
      continue;
    }
    if (*p == ';') {
      push_stmt(script, stmt, p, &v, &n, &cap);
      stmt = p + 1;
    }
    p++;
  }
  push_stmt(script, stmt, p, &v, &n, &cap);
  *out = v;
  *n_out = n;
  return 0;
}

int sw__wh_sql_bind_names(const char *sql, const char *const *names,
                          size_t n_names, char **sql_out, size_t **idx_out,
                          size_t *n_out, sw_err *err)
{
  sw_buf b = SW_BUF_INIT(0);
  const char *p = sql, *q, *name;
  size_t *idx = NULL, n = 0, cap = 0, len, i;
  int kind, rc = 0;

  *sql_out = NULL;
  *idx_out = NULL;
  *n_out = 0;
  while (*p) {
    q = scan_skip(sql, p, &kind);
    if (!q) {
      rc = sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                      "unterminated %s starting at line %d",
                      span_name(kind), line_of(sql, p));
      goto done;
    }
    if (q != p) {
      if ((rc = sw_buf_put(&b, p, (size_t)(q - p), err)) < 0)
        goto done;
      p = q;
      continue;
    }
    /* :name, but not the :: cast, not a[1:2], not :=. */
    if (*p == ':' && ident_char(p[1]) && p[1] != ':' &&
        (p == sql || (p[-1] != ':' && !ident_char(p[-1]) && p[-1] != ']'))) {
      name = p + 1;
      for (len = 0; ident_char(name[len]) &&
                    (unsigned char)name[len] < 0x80; len++)
        ;
      for (i = 0; i < n_names; i++)
        if (strlen(names[i]) == len && !strncmp(names[i], name, len))
          break;
      if (i == n_names) {
        rc = sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                        "no value given for parameter \":%.*s\"",
                        (int)(len > 64 ? 64 : len), name);
        goto done;
      }
      if (n == cap) {
        cap = cap ? cap * 2 : 8;
        idx = sw_realloc(idx, cap * sizeof(*idx));
      }
      idx[n++] = i;
      if ((rc = sw_buf_printf(&b, err, "$%zu", n)) < 0)
        goto done;
      p = name + len;
      continue;
    }
    if ((rc = sw_buf_put(&b, p, 1, err)) < 0)
      goto done;
    p++;
  }
  *sql_out = b.ptr ? sw_buf_detach(&b) : sw_strdup("");
  *idx_out = idx;
  *n_out = n;
  idx = NULL;

done:
  sw_buf_dispose(&b);
  sw_free(idx);
  return rc;
}

int sw__wh_quote_ident(sw_buf *b, const char *name, sw_err *err)
{
  const char *p;
  int rc;

  if (!name || !*name)
    return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                      "an SQL identifier must not be empty");
  if ((rc = sw_buf_put(b, "\"", 1, err)) < 0)
    return rc;
  for (p = name; *p; p++) {
    if (*p == '"' && (rc = sw_buf_put(b, "\"", 1, err)) < 0)
      return rc;
    if ((rc = sw_buf_put(b, p, 1, err)) < 0)
      return rc;
  }
  return sw_buf_put(b, "\"", 1, err);
}
