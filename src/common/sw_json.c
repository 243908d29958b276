/* SPDX-License-Identifier: MIT */
/* JSON helpers over cJSON: parsing with line:column errors, the "consume"
 * rule for inserts, JSON Pointer tokens. */
#include "common.h"

#include <ctype.h>
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

char *sw_json_print(const cJSON *v)
{
  char *s = v ? cJSON_PrintUnformatted(v) : NULL;
  return s ? s : sw_strdup("null");
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
  char *s = sw_json_print(v);
  size_t n = strlen(s);
  sw_free(s);
  return n;
}
