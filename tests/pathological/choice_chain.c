/* SPDX-License-Identifier: MIT */
/* Long Choice chains: 2,000 Choice states one after the other (each
 * testing the input and moving to the next), and one Choice with 5,000
 * rules where only the last matches. Parsing, validation (reachability)
 * and the run stay linear. */
#include "patho.h"

#define CHAIN 2000
#define RULES 5000

SW_TEST(pathological_choice_chain__two_thousand_states)
{
  double t0 = patho_now();
  patho_engine h;
  sw_store_execution e;
  sw_err err = SW_ERR_INIT;
  sw_buf b = SW_BUF_INIT(0);
  int i;

  (void)sw_buf_puts(&b, "{\"StartAt\":\"C0\",\"States\":{", NULL);
  for (i = 0; i < CHAIN; i++)
    (void)sw_buf_printf(
        &b, NULL,
        "\"C%d\":{\"Type\":\"Choice\",\"Choices\":[{\"Variable\":\"$.n\","
        "\"NumericLessThan\":%d,\"Next\":\"Early\"},{\"And\":[{"
        "\"Variable\":\"$.tag\",\"StringMatches\":\"go*\"},{\"Not\":{"
        "\"Variable\":\"$.n\",\"IsNull\":true}}],\"Next\":\"C%d\"}],"
        "\"Default\":\"Early\"},",
        i, -i, i + 1);
  (void)sw_buf_printf(&b, NULL,
                      "\"C%d\":{\"Type\":\"Pass\",\"Result\":\"end\","
                      "\"ResultPath\":\"$.at\",\"End\":true},"
                      "\"Early\":{\"Type\":\"Fail\",\"Error\":\"Early\"}}}",
                      CHAIN);
  SW_ASSERT_OK(patho_open(&h, &err));
  SW_ASSERT_OK(patho_run(&h, b.ptr, "{\"n\":1,\"tag\":\"gone\"}", &e, &err));
  SW_ASSERT_STR_EQ(e.status, "SUCCEEDED");
  SW_ASSERT_STR_EQ(e.output, "{\"n\":1,\"tag\":\"gone\",\"at\":\"end\"}");
  sw_store_execution_dispose(&e);
  SW_ASSERT_EQ(patho_close(&h), 0);
  sw_buf_dispose(&b);
  SW_ASSERT(patho_now() - t0 < PATHO_MAX_SECONDS);
  SW_ASSERT(patho_peak_rss_mb() < PATHO_MAX_RSS_MB);
}

SW_TEST(pathological_choice_chain__five_thousand_rules)
{
  double t0 = patho_now();
  patho_engine h;
  sw_store_execution e;
  sw_err err = SW_ERR_INIT;
  sw_buf b = SW_BUF_INIT(0);
  int i;

  (void)sw_buf_puts(&b, "{\"StartAt\":\"C\",\"States\":{\"C\":{\"Type\":"
                        "\"Choice\",\"Choices\":[",
                    NULL);
  for (i = 0; i < RULES; i++)
    (void)sw_buf_printf(&b, NULL,
                        "%s{\"Variable\":\"$.k\",\"StringEquals\":\"k%d\","
                        "\"Next\":\"S%d\"}",
                        i ? "," : "", i, i % 2);
  (void)sw_buf_puts(&b, "],\"Default\":\"F\"},\"S0\":{\"Type\":\"Succeed\"},"
                        "\"S1\":{\"Type\":\"Pass\",\"Result\":1,"
                        "\"ResultPath\":\"$.odd\",\"End\":true},"
                        "\"F\":{\"Type\":\"Fail\",\"Error\":\"None\"}}}",
                    NULL);
  SW_ASSERT_OK(patho_open(&h, &err));
  SW_ASSERT_OK(patho_run(&h, b.ptr, "{\"k\":\"k4999\"}", &e, &err));
  SW_ASSERT_STR_EQ(e.status, "SUCCEEDED");
  SW_ASSERT_STR_EQ(e.output, "{\"k\":\"k4999\",\"odd\":1}");
  sw_store_execution_dispose(&e);
  SW_ASSERT_EQ(patho_close(&h), 0);
  sw_buf_dispose(&b);
  SW_ASSERT(patho_now() - t0 < PATHO_MAX_SECONDS);
  SW_ASSERT(patho_peak_rss_mb() < PATHO_MAX_RSS_MB);
}
