/* SPDX-License-Identifier: MIT */
/* JSON helpers over cJSON: parsing with line:column errors, the "consume"
 * rule for inserts, JSON Pointer tokens. */
#include "common.h"

#include <ctype.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void line_col(const char *text, const char *at, int *line, int *col)
{
  const char *p;

  *line = 1;
  *col = 1;
  for (p = text; p < at && *p; p++) {
    if (*p == '\n') {
      (*line)++;
      *col = 1;
    } else {
      (*col)++;
    }
  }
}

static const char *what_expected(const char *at)
{
  if (!at || !*at)
    return "a value or a closing bracket before the end of the text";
  switch (*at) {
  case '}': case ']':
    return "a value (no trailing comma)";
  case '\'':
    return "a double-quoted string";
  default:
    return "a JSON value, ',' or a closing bracket";
  }
}

int sw_json_parse(cJSON **out, const char *text, size_t len, const char *name,
                  sw_err *err)
{
  const char *end = NULL;
  cJSON *v;
  int line, col;

  *out = NULL;
  if (memchr(text, '\0', len)) {
    /* cJSON stops at a NUL; treat an embedded NUL as a syntax error. */
    const char *nul = memchr(text, '\0', len);
    line_col(text, nul, &line, &col);
    return sw_err_set(err, SW_EINVAL, SW_ORIGIN_JSON, 0,
                      "%s:%d:%d: invalid JSON: unexpected NUL byte", name,
                      line, col);
  }
  v = cJSON_ParseWithLengthOpts(text, len, &end, 0);
  if (!v) {
    const char *at = cJSON_GetErrorPtr();
    if (!at || at < text || at > text + len)
      at = text + len;
    line_col(text, at, &line, &col);
    if (at >= text + len)
      return sw_err_set(err, SW_EINVAL, SW_ORIGIN_JSON, 0,
                        "%s:%d:%d: invalid JSON: unexpected end of text "
                        "(expected a value or a closing bracket)",
                        name, line, col);
    return sw_err_set(err, SW_EINVAL, SW_ORIGIN_JSON, 0,
                      "%s:%d:%d: invalid JSON: expected %s, found '%c'", name,
                      line, col, what_expected(at), *at);
  }
  while (end && end < text + len && isspace((unsigned char)*end))
    end++;
  if (end && end < text + len) {
    line_col(text, end, &line, &col);
    cJSON_Delete(v);
    return sw_err_set(err, SW_EINVAL, SW_ORIGIN_JSON, 0,
                      "%s:%d:%d: invalid JSON: expected end of text after "
                      "the value, found '%c'",
                      name, line, col, *end);
  }
  *out = v;
  return 0;
}

/* Numbers: integers exactly (no printf), others with the shortest of %.15g
 * and %.17g that reads back the same double. NaN and infinities, which
 * JSON cannot hold, print as null (as cJSON does). */
static int write_number(sw_buf *b, double d, sw_err *err)
{
  char tmp[40];
  int n;

  if (d != d || d > DBL_MAX || d < -DBL_MAX)
    return sw_buf_put(b, "null", 4, err);
  if (d == floor(d) && fabs(d) < 9007199254740992.0) {
    long long v = (long long)d;
    unsigned long long u = v < 0 ? (unsigned long long)(-v)
                                 : (unsigned long long)v;
    char *p = tmp + sizeof(tmp);
    do {
      *--p = (char)('0' + u % 10);
      u /= 10;
    } while (u);
    if (v < 0)
      *--p = '-';
    return sw_buf_put(b, p, (size_t)(tmp + sizeof(tmp) - p), err);
  }
  n = snprintf(tmp, sizeof(tmp), "%.15g", d);
  if (strtod(tmp, NULL) != d)
    n = snprintf(tmp, sizeof(tmp), "%.17g", d);
  return sw_buf_put(b, tmp, (size_t)n, err);
}

static int write_string(sw_buf *b, const char *s, sw_err *err)
{
  const char *run = s;
  int rc = sw_buf_put(b, "\"", 1, err);

  for (; rc == 0 && *s; s++) {
    unsigned char c = (unsigned char)*s;
    const char *esc = NULL;
    char u[8];
    if (c >= 0x20 && c != '"' && c != '\\')
      continue;
    rc = sw_buf_put(b, run, (size_t)(s - run), err);
    switch (c) {
    case '"': esc = "\\\""; break;
    case '\\': esc = "\\\\"; break;
    case '\b': esc = "\\b"; break;
    case '\f': esc = "\\f"; break;
    case '\n': esc = "\\n"; break;
    case '\r': esc = "\\r"; break;
    case '\t': esc = "\\t"; break;
    default:
      snprintf(u, sizeof(u), "\\u%04x", c);
      esc = u;
    }
    if (rc == 0)
      rc = sw_buf_puts(b, esc, err);
    run = s + 1;
  }
  if (rc == 0)
    rc = sw_buf_put(b, run, (size_t)(s - run), err);
  if (rc == 0)
    rc = sw_buf_put(b, "\"", 1, err);
  return rc;
}

int sw_json_write(sw_buf *b, const cJSON *v, sw_err *err)
{
  const cJSON *c;
  int rc = 0;

  if (!v)
    return sw_buf_put(b, "null", 4, err);
  switch (v->type & 0xFF) {
  case cJSON_False: return sw_buf_put(b, "false", 5, err);
  case cJSON_True: return sw_buf_put(b, "true", 4, err);
  case cJSON_NULL: return sw_buf_put(b, "null", 4, err);
  case cJSON_Number: return write_number(b, v->valuedouble, err);
  case cJSON_String: return write_string(b, v->valuestring, err);
  case cJSON_Raw: return sw_buf_puts(b, v->valuestring ? v->valuestring : "",
                                     err);
  case cJSON_Array:
    rc = sw_buf_put(b, "[", 1, err);
    for (c = v->child; rc == 0 && c; c = c->next) {
      if (c != v->child)
        rc = sw_buf_put(b, ",", 1, err);
      if (rc == 0)
        rc = sw_json_write(b, c, err);
    }
    return rc ? rc : sw_buf_put(b, "]", 1, err);
  case cJSON_Object:
    rc = sw_buf_put(b, "{", 1, err);
    for (c = v->child; rc == 0 && c; c = c->next) {
      if (c != v->child)
        rc = sw_buf_put(b, ",", 1, err);
      if (rc == 0)
        rc = write_string(b, c->string ? c->string : "", err);
      if (rc == 0)
        rc = sw_buf_put(b, ":", 1, err);
      if (rc == 0)
        rc = sw_json_write(b, c, err);
    }
    return rc ? rc : sw_buf_put(b, "}", 1, err);
  default:
    return sw_buf_put(b, "null", 4, err);
  }
}

char *sw_json_print(const cJSON *v)
{
  sw_buf b = SW_BUF_INIT(0);

  sw_json_write(&b, v, NULL);
  return sw_buf_detach(&b);
}

void sw_json_set(cJSON *obj, const char *key, cJSON *val)
{
  if (!obj || !cJSON_IsObject(obj)) {
    cJSON_Delete(val);
    return;
  }
  if (cJSON_GetObjectItemCaseSensitive(obj, key))
    cJSON_ReplaceItemInObjectCaseSensitive(obj, key, val);
  else
    cJSON_AddItemToObject(obj, key, val);
}

cJSON *sw_json_get(const cJSON *obj, const char *key)
{
  if (!obj || !cJSON_IsObject(obj))
    return NULL;
  return cJSON_GetObjectItemCaseSensitive(obj, key);
}

const char *sw_json_get_str(const cJSON *obj, const char *key)
{
  cJSON *v = sw_json_get(obj, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

cJSON *sw_json_dup(const cJSON *v)
{
  cJSON *d;

  if (!v)
    return NULL;
  d = cJSON_Duplicate(v, 1);
  if (!d) {
    /* cJSON_Duplicate only fails on allocation, which aborts first. */
    d = cJSON_CreateNull();
  }
  return d;
}

int sw_json_pointer_append(sw_buf *b, const char *token, sw_err *err)
{
  int rc = sw_buf_put(b, "/", 1, err);

  for (; rc == 0 && *token; token++) {
    if (*token == '~')
      rc = sw_buf_put(b, "~0", 2, err);
    else if (*token == '/')
      rc = sw_buf_put(b, "~1", 2, err);
    else
      rc = sw_buf_put(b, token, 1, err);
  }
  return rc;
}

size_t sw_json_size(const cJSON *v)
{
  sw_buf b = SW_BUF_INIT(0);
  size_t n;

  sw_json_write(&b, v, NULL);
  n = b.len;
  sw_buf_dispose(&b);
  return n;
}
