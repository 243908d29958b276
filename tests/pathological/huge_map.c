/* SPDX-License-Identifier: MIT */
/* A 100,000-item inline Map run by the engine on a real loop and store,
 * MaxConcurrency 0 (unlimited): every iteration runs (a Pass with an
 * ItemSelector), results come back in item order, and the whole run stays
 * within the time and memory bounds. The item array is 100,000 digits,
 * 200 KB, under the 256 KiB payload limit (and so is the result). */
#include "patho.h"

#define ITEMS 100000

SW_TEST(pathological_huge_map__hundred_thousand_items)
{
  static const char def[] =
      "{\"StartAt\":\"M\",\"States\":{\"M\":{\"Type\":\"Map\","
      "\"ItemsPath\":\"$.items\",\"MaxConcurrency\":0,"
      "\"ItemSelector\":{\"v.$\":\"$$.Map.Item.Value\","
      "\"i.$\":\"$$.Map.Item.Index\"},"
      "\"ItemProcessor\":{\"StartAt\":\"P\",\"States\":{\"P\":{"
      "\"Type\":\"Pass\",\"OutputPath\":\"$.v\",\"End\":true}}},"
      "\"ResultSelector\":{\"n.$\":\"States.ArrayLength($)\","
      "\"first.$\":\"$[0]\",\"last.$\":\"$[-1]\","
      "\"mid.$\":\"States.ArrayGetItem($, 54327)\"},"
      "\"End\":true}}}";
  double t0 = patho_now(), w0 = patho_wall(), dt;
  patho_engine h;
  sw_store_execution e;
  sw_err err = SW_ERR_INIT;
  sw_buf in = SW_BUF_INIT(0);
  int i;

  (void)sw_buf_puts(&in, "{\"items\":[", NULL);
  for (i = 0; i < ITEMS; i++)
    (void)sw_buf_printf(&in, NULL, i ? ",%d" : "%d", i % 10);
  (void)sw_buf_puts(&in, "]}", NULL);
  SW_ASSERT_OK(patho_open(&h, &err));
  SW_ASSERT_OK(patho_run(&h, def, in.ptr, &e, &err));
  dt = patho_now() - t0;
  printf("  100,000-item Map: %.2f s CPU, %.2f s wall, peak RSS %ld MB\n",
         dt, patho_wall() - w0, patho_peak_rss_mb());
  SW_ASSERT_STR_EQ(e.status, "SUCCEEDED");
  /* Item i is i % 10 and comes back at position i: item order, not
   * finishing order. */
  SW_ASSERT_STR_EQ(e.output, "{\"n\":100000,\"first\":0,\"last\":9,"
                             "\"mid\":7}");
  sw_store_execution_dispose(&e);
  SW_ASSERT_EQ(patho_close(&h), 0);
  sw_buf_dispose(&in);
  SW_ASSERT(dt < PATHO_MAX_SECONDS);
  SW_ASSERT(patho_peak_rss_mb() < PATHO_MAX_RSS_MB);
}
