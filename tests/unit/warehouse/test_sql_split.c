/* SPDX-License-Identifier: MIT */
/* The shared SQL splitter and the :name -> $n rewriter. */
#include "sw_test.h"

#include "common/common.h"
#include "warehouse/warehouse_int.h"

SW_TEST(warehouse_sql_split__quotes_comments_dollar)
{
  char **v = NULL;
  size_t n = 0;
  sw_err err = SW_ERR_INIT;

  SW_ASSERT_OK(sw__wh_sql_split(
      "-- lead; comment\nSELECT 'a;''b' AS \"x;\"\"y\";\n"
      "/* block; /* nested; */ */ INSERT INTO t VALUES ($$;$$, $q$ $ ;$q$, "
      "E'\\';');;\n  ;  -- only a comment;\n"
      "SELECT $1, a$b FROM t",
      &v, &n, &err));
  SW_ASSERT_EQ(n, 3);
  SW_ASSERT_STR_EQ(v[0], "SELECT 'a;''b' AS \"x;\"\"y\"");
  SW_ASSERT_STR_EQ(v[1], "INSERT INTO t VALUES ($$;$$, $q$ $ ;$q$, "
                         "E'\\';')");
  SW_ASSERT_STR_EQ(v[2], "SELECT $1, a$b FROM t");
  sw__wh_strv_free(v, n);

  SW_ASSERT_OK(sw__wh_sql_split(" ;\n-- nothing\n", &v, &n, &err));
  SW_ASSERT_EQ(n, 0);
  SW_ASSERT_NULL(v);
  SW_ASSERT_ERR(sw__wh_sql_split("SELECT 1;\nSELECT 'open", &v, &n, &err),
                SW_EINVAL);
  SW_ASSERT_STR_CONTAINS(err.msg, "unterminated string literal");
  SW_ASSERT_STR_CONTAINS(err.msg, "line 2");
  SW_ASSERT_ERR(sw__wh_sql_split("SELECT $a$ x", &v, &n, &err), SW_EINVAL);
  SW_ASSERT_ERR(sw__wh_sql_split("SELECT /* x", &v, &n, &err), SW_EINVAL);
}

SW_TEST(warehouse_sql_split__named_to_positional)
{
  const char *names[] = {"run_date", "scale"};
  char *out = NULL;
  size_t *idx = NULL, n = 0;
  sw_err err = SW_ERR_INIT;

  SW_ASSERT_OK(sw__wh_sql_bind_names(
      "SELECT :run_date::date, ':scale', \":scale\", a[1:2], x := 1, "
      "CAST(:scale AS INT) -- :nope\n + :run_date /* :nope */ $$:nope$$",
      names, 2, &out, &idx, &n, &err));
  SW_ASSERT_STR_EQ(out, "SELECT $1::date, ':scale', \":scale\", a[1:2], "
                        "x := 1, CAST($2 AS INT) -- :nope\n + $3 "
                        "/* :nope */ $$:nope$$");
  SW_ASSERT_EQ(n, 3);
  SW_ASSERT_EQ(idx[0], 0);
  SW_ASSERT_EQ(idx[1], 1);
  SW_ASSERT_EQ(idx[2], 0);
  sw_free(out);
  sw_free(idx);
  SW_ASSERT_ERR(sw__wh_sql_bind_names("SELECT :missing", names, 2, &out,
                                      &idx, &n, &err),
                SW_EINVAL);
  SW_ASSERT_STR_EQ(err.msg, "no value given for parameter \":missing\"");
  SW_ASSERT_NULL(out);
}

SW_TEST(warehouse_sql_split__quote_ident)
{
  sw_buf b = SW_BUF_INIT(0);
  sw_err err = SW_ERR_INIT;

  SW_ASSERT_OK(sw__wh_quote_ident(&b, "we\"ird t", &err));
  SW_ASSERT_STR_EQ(b.ptr, "\"we\"\"ird t\"");
  sw_buf_dispose(&b);
  SW_ASSERT_ERR(sw__wh_quote_ident(&b, "", &err), SW_EINVAL);
}
