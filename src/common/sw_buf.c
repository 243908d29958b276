/* SPDX-License-Identifier: MIT */
/* sw_buf: a bounded growable byte buffer (curl dynbuf rules). */
#include "common.h"

#include <stdio.h>
#include <string.h>

int sw_buf_put(sw_buf *b, const void *data, size_t n, sw_err *err)
{
  size_t need;

  if (b->max && (n > b->max || b->len > b->max - n)) {
    sw_buf_dispose(b);
    return sw_err_set(err, SW_ELIMIT, SW_ORIGIN_NONE, 0,
                      "buffer limit of %zu bytes exceeded", b->max);
  }
  need = b->len + n + 1;
  if (need > b->cap) {
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
      cap *= 2;
    b->ptr = sw_realloc(b->ptr, cap);
    b->cap = cap;
  }
  if (n)
    memcpy(b->ptr + b->len, data, n);
  b->len += n;
  b->ptr[b->len] = '\0';
  return 0;
}

int sw_buf_puts(sw_buf *b, const char *s, sw_err *err)
{
  return sw_buf_put(b, s, strlen(s), err);
}

int sw_buf_printf(sw_buf *b, sw_err *err, const char *fmt, ...)
{
  va_list ap;
  char *s;
  int rc;

  va_start(ap, fmt);
  s = sw_vasprintf(fmt, ap);
  va_end(ap);
  rc = sw_buf_puts(b, s, err);
  sw_free(s);
  return rc;
}

char *sw_buf_detach(sw_buf *b)
{
  char *p = b->ptr ? b->ptr : sw_strdup("");

  b->ptr = NULL;
  b->len = b->cap = 0;
  return p;
}

void sw_buf_dispose(sw_buf *b)
{
  sw_free(b->ptr);
  b->ptr = NULL;
  b->len = b->cap = 0;
}
