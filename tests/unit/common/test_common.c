/* SPDX-License-Identifier: MIT */
#include "sw_test.h"
#include "common/common.h"

SW_TEST(common_json__syntax_error_has_line_and_column)
{
  sw_err err = SW_ERR_INIT;
  cJSON *v = NULL;
  const char *text = "{\n  \"a\": 1,\n  \"b\": }\n";

  SW_ASSERT_ERR(sw_json_parse(&v, text, strlen(text), "x.json", &err),
                SW_EINVAL);
  SW_ASSERT_NULL(v);
  SW_ASSERT_STR_CONTAINS(err.msg, "x.json:3:8: invalid JSON");
}

SW_TEST(common_json__trailing_text_is_an_error)
{
  sw_err err = SW_ERR_INIT;
  cJSON *v = NULL;
  const char *text = "{\"a\": 1} x";

  SW_ASSERT_ERR(sw_json_parse(&v, text, strlen(text), "in", &err), SW_EINVAL);
  SW_ASSERT_STR_CONTAINS(err.msg, "in:1:10:");
}

SW_TEST(common_time__rfc3339_roundtrip)
{
  int64_t ms = 0;
  char buf[40];

  SW_ASSERT_OK(sw_time_parse_rfc3339(&ms, "2016-03-14T01:59:00Z"));
  SW_ASSERT_EQ(ms, 1457920740000LL);
  sw_time_format_iso(buf, sizeof(buf), ms + 5);
  SW_ASSERT_STR_EQ(buf, "2016-03-14T01:59:00.005Z");
  SW_ASSERT_OK(sw_time_parse_rfc3339(&ms, "2016-03-14T03:59:00.5+02:00"));
  SW_ASSERT_EQ(ms, 1457920740500LL);
  SW_ASSERT_ERR(sw_time_parse_rfc3339(&ms, "2016-02-30T00:00:00Z"), SW_EINVAL);
  SW_ASSERT_ERR(sw_time_parse_rfc3339(&ms, "2016-03-14 01:59:00Z"), SW_EINVAL);
}

SW_TEST(common_buf__limit_disposes)
{
  sw_err err = SW_ERR_INIT;
  sw_buf b = SW_BUF_INIT(4);

  SW_ASSERT_OK(sw_buf_puts(&b, "abc", &err));
  SW_ASSERT_ERR(sw_buf_puts(&b, "de", &err), SW_ELIMIT);
  SW_ASSERT_NULL(b.ptr);
  SW_ASSERT_EQ(b.len, 0);
}

SW_TEST(common_crypto__sha256_known_vector)
{
  char hex[65];
  sw_sha256_hex(hex, "abc", 3);
  SW_ASSERT_STR_EQ(hex, "ba7816bf8f01cfea414140de5dae2223"
                        "b00361a396177a9cb410ff61f20015ad");
}
