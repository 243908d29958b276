/* SPDX-License-Identifier: MIT */
/* Megabyte strings through the intrinsic functions: States.Format with a
 * 1 MB argument and with a 1 MB template (full of escapes and
 * placeholders), StringSplit and StringToJson over 1 MB, and the 10,000
 * character limits of Base64 and Hash, which must fail fast. Linear time,
 * no quadratic copying. */
#include "patho.h"
#include "paths/paths.h"

#define MB (1024 * 1024)

static cJSON *eval(const char *expr, const cJSON *input, sw_err *err,
                   int *rc)
{
  cJSON *out = NULL;

  *rc = sw_intrinsic_eval(&out, expr, &(sw_eval_env){input, NULL, NULL},
                          err);
  return out;
}

SW_TEST(pathological_huge_format__one_megabyte)
{
  double t0 = patho_now();
  sw_buf b = SW_BUF_INIT(0);
  cJSON *in = cJSON_CreateObject(), *out;
  sw_err err = SW_ERR_INIT;
  char *s;
  size_t i;
  int rc;

  /* A 1 MB argument. */
  for (i = 0; i < MB / 16; i++)
    (void)sw_buf_puts(&b, "0123456789abcde,", NULL);
  s = sw_buf_detach(&b);
  cJSON_AddStringToObject(in, "s", s);
  out = eval("States.Format('<{}>', $.s)", in, &err, &rc);
  SW_ASSERT_OK(rc);
  SW_ASSERT_EQ(strlen(out->valuestring), MB + 2);
  SW_ASSERT(out->valuestring[0] == '<' && out->valuestring[MB + 1] == '>');
  cJSON_Delete(out);

  /* The same string split on ',' (65,536 pieces) and back into JSON. */
  out = eval("States.ArrayLength(States.StringSplit($.s, ','))", in, &err,
             &rc);
  SW_ASSERT_OK(rc);
  SW_ASSERT_EQ(out->valuedouble, MB / 16);
  cJSON_Delete(out);
  sw_free(s);

  /* A 1 MB template read from the input: escapes and 999 placeholders
   * (a call takes at most 1000 arguments). */
  for (i = 0; i < MB / 8; i++)
    (void)sw_buf_puts(&b, i < 999 ? "a{}\\{\\}b\\" : "ab\\{\\}cd", NULL);
  s = sw_buf_detach(&b);
  cJSON_AddStringToObject(in, "t", s);
  sw_free(s);
  (void)sw_buf_puts(&b, "States.Format($.t", NULL);
  for (i = 0; i < 999; i++)
    (void)sw_buf_puts(&b, ", 7", NULL);
  (void)sw_buf_puts(&b, ")", NULL);
  out = eval(b.ptr, in, &err, &rc);
  sw_buf_dispose(&b);
  SW_ASSERT_OK(rc);
  SW_ASSERT(strlen(out->valuestring) > MB / 2);
  SW_ASSERT(strncmp(out->valuestring, "a7{}b", 5) == 0);
  cJSON_Delete(out);

  /* A 1 MB JSON document in a string. */
  (void)sw_buf_puts(&b, "[", NULL);
  for (i = 0; i < MB / 8; i++)
    (void)sw_buf_puts(&b, i ? ",\"abcde\"" : "\"abcde\"", NULL);
  (void)sw_buf_puts(&b, "]", NULL);
  cJSON_AddStringToObject(in, "j", b.ptr);
  sw_buf_dispose(&b);
  out = eval("States.ArrayLength(States.StringToJson($.j))", in, &err, &rc);
  SW_ASSERT_OK(rc);
  SW_ASSERT_EQ(out->valuedouble, MB / 8);
  cJSON_Delete(out);

  /* Over the 10,000 character limits: refused without work. */
  out = eval("States.Base64Encode($.t)", in, &err, &rc);
  SW_ASSERT_ERR(rc, SW_ELIMIT);
  SW_ASSERT_NULL(out);
  out = eval("States.Hash($.j, 'SHA-512')", in, &err, &rc);
  SW_ASSERT_ERR(rc, SW_ELIMIT);
  SW_ASSERT_NULL(out);
  cJSON_Delete(in);
  SW_ASSERT(patho_now() - t0 < PATHO_MAX_SECONDS);
  SW_ASSERT(patho_peak_rss_mb() < PATHO_MAX_RSS_MB);
}
