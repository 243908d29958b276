/* SPDX-License-Identifier: MIT */
/* sw_err: recording one-line error messages in caller-owned structs. */
#include "common.h"

#include <stdio.h>
#include <string.h>

static void one_line(char *s)
{
  for (; *s; s++)
    if (*s == '\n' || *s == '\r')
      *s = ' ';
}

int sw_err_set(sw_err *err, int code, sw_origin origin, long native,
               const char *fmt, ...)
{
  va_list ap;

  if (!err)
    return code;
  err->code = code;
  err->origin = origin;
  err->native = native;
  err->sqlstate[0] = '\0';
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
  va_end(ap);
  one_line(err->msg);
  return code;
}

void sw_err_prefix(sw_err *err, const char *fmt, ...)
{
  char prefix[SW_ERR_MSG_MAX];
  char old[SW_ERR_MSG_MAX];
  va_list ap;

  if (!err)
    return;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof(prefix), fmt, ap);
  va_end(ap);
  memcpy(old, err->msg, sizeof(old));
  {
    size_t pl = strnlen(prefix, sizeof(prefix) - 1);
    size_t ol = strnlen(old, sizeof(old) - 1);
    if (ol > sizeof(err->msg) - 1 - pl)
      ol = sizeof(err->msg) - 1 - pl;
    memcpy(err->msg, prefix, pl);
    memcpy(err->msg + pl, old, ol);
    err->msg[pl + ol] = '\0';
  }
  one_line(err->msg);
}

void sw_err_clear(sw_err *err)
{
  sw_err init = SW_ERR_INIT;

  if (err)
    *err = init;
}

const char *sw_code_name(int code)
{
  switch (code) {
  case SW_OK: return "SW_OK";
  case SW_ERROR: return "SW_ERROR";
  case SW_ENOMEM: return "SW_ENOMEM";
  case SW_EINVAL: return "SW_EINVAL";
  case SW_ENOTFOUND: return "SW_ENOTFOUND";
  case SW_EEXISTS: return "SW_EEXISTS";
  case SW_ETIMEDOUT: return "SW_ETIMEDOUT";
  case SW_ECANCELED: return "SW_ECANCELED";
  case SW_EIO: return "SW_EIO";
  case SW_EREMOTE: return "SW_EREMOTE";
  case SW_ELIMIT: return "SW_ELIMIT";
  case SW_EAGAIN: return "SW_EAGAIN";
  default: return "SW_UNKNOWN";
  }
}
