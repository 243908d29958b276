/* SPDX-License-Identifier: MIT */
/* One-line logging to stderr with a level threshold from STEPWISE_LOG. */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int threshold = -1;

static void init_threshold(void)
{
  const char *e = getenv("STEPWISE_LOG");

  threshold = SW_LOG_WARN;
  if (!e)
    return;
  if (!strcmp(e, "debug"))
    threshold = SW_LOG_DEBUG;
  else if (!strcmp(e, "info"))
    threshold = SW_LOG_INFO;
  else if (!strcmp(e, "error"))
    threshold = SW_LOG_ERROR;
}

void sw_log_set_level(sw_log_level level) { threshold = (int)level; }

void sw_log(sw_log_level level, const char *fmt, ...)
{
  static const char *names[] = {"debug", "info", "warning", "error"};
  va_list ap;

  if (threshold < 0)
    init_threshold();
  if ((int)level < threshold)
    return;
  fprintf(stderr, "stepwise: %s: ", names[level]);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}
