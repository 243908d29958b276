/* SPDX-License-Identifier: MIT */
/* The one place that calls the C allocator. OOM policy: fail fast (log and
 * abort); durable state makes a restart safe (STYLE.md 2.6 rule 2). */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t n)
{
  fprintf(stderr, "stepwise: out of memory allocating %zu bytes\n", n);
  abort();
}

void *sw_malloc(size_t n)
{
  void *p = malloc(n ? n : 1);
  if (!p)
    oom(n);
  return p;
}

void *sw_calloc(size_t count, size_t n)
{
  void *p = calloc(count ? count : 1, n ? n : 1);
  if (!p)
    oom(count * n);
  return p;
}

void *sw_realloc(void *p, size_t n)
{
  void *q = realloc(p, n ? n : 1);
  if (!q)
    oom(n);
  return q;
}

char *sw_strdup(const char *s)
{
  size_t n;
  char *d;

  if (!s)
    return NULL;
  n = strlen(s) + 1;
  d = sw_malloc(n);
  memcpy(d, s, n);
  return d;
}

char *sw_strndup(const char *s, size_t n)
{
  size_t len = 0;
  char *d;

  if (!s)
    return NULL;
  while (len < n && s[len])
    len++;
  d = sw_malloc(len + 1);
  memcpy(d, s, len);
  d[len] = '\0';
  return d;
}

void sw_free(void *p) { free(p); }

char *sw_vasprintf(const char *fmt, va_list ap)
{
  va_list ap2;
  int n;
  char *s;

  va_copy(ap2, ap);
  n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (n < 0)
    n = 0;
  s = sw_malloc((size_t)n + 1);
  vsnprintf(s, (size_t)n + 1, fmt, ap);
  return s;
}

char *sw_asprintf(const char *fmt, ...)
{
  va_list ap;
  char *s;

  va_start(ap, fmt);
  s = sw_vasprintf(fmt, ap);
  va_end(ap);
  return s;
}

static void *json_malloc(size_t n) { return sw_malloc(n); }

void sw_json_init_hooks(void)
{
  cJSON_Hooks hooks = {json_malloc, sw_free};
  cJSON_InitHooks(&hooks);
}
