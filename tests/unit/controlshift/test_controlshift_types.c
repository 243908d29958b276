/* SPDX-License-Identifier: MIT */
/* ControlShift bulk-data schema types -> warehouse column types
 * (upstream-pipelines.md §3.7 for Redshift). */
#include "sw_test.h"
#include "controlshift/controlshift.h"

static const char *ty(const char *driver, const char *sql_type,
                      const char *type)
{
  static char buf[64];

  sw_controlshift_column_type(buf, sizeof(buf), driver, sql_type, type);
  return buf;
}

SW_TEST(controlshift_types__redshift_follows_create_tables_rb)
{
  SW_ASSERT_STR_EQ(ty("redshift-data", "character varying(255)", "string"),
                   "CHARACTER VARYING(max)");
  SW_ASSERT_STR_EQ(ty("redshift-data", "hstore", "hstore"),
                   "CHARACTER VARYING(max)");
  SW_ASSERT_STR_EQ(ty("redshift-data", "jsonb", "jsonb"),
                   "CHARACTER VARYING(max)");
  SW_ASSERT_STR_EQ(ty("redshift-data", NULL, "enum"),
                   "CHARACTER VARYING(max)");
  SW_ASSERT_STR_EQ(ty("redshift-data", "uuid", "uuid"), "CHAR(36)");
  SW_ASSERT_STR_EQ(ty("redshift-data", NULL, "datetime"),
                   "TIMESTAMP WITHOUT TIME ZONE");
  SW_ASSERT_STR_EQ(ty("redshift-data", "geography(Point,4326)", NULL),
                   "GEOGRAPHY");
  SW_ASSERT_STR_EQ(ty("redshift-data", "numeric(3,2)", "decimal"),
                   "NUMERIC(3,2)");
  SW_ASSERT_STR_EQ(ty("redshift-data", "integer", "integer"), "INTEGER");
  SW_ASSERT_STR_EQ(ty("redshift-data", "bigint", "integer"), "BIGINT");
}

SW_TEST(controlshift_types__postgres_keeps_core_types)
{
  SW_ASSERT_STR_EQ(ty("postgres", "timestamp(6) without time zone", NULL),
                   "TIMESTAMP(6) WITHOUT TIME ZONE");
  SW_ASSERT_STR_EQ(ty("postgres", "numeric(13,10)", NULL), "NUMERIC(13,10)");
  SW_ASSERT_STR_EQ(ty("postgres", "boolean", NULL), "BOOLEAN");
  SW_ASSERT_STR_EQ(ty("postgres", "uuid", NULL), "UUID");
  SW_ASSERT_STR_EQ(ty("postgres", "hstore", NULL), "TEXT");
  SW_ASSERT_STR_EQ(ty("postgres", "character varying(3)", NULL), "TEXT");
  SW_ASSERT_STR_EQ(ty("postgres", "interval", NULL), "INTERVAL");
  /* a precision that is not digits is not copied into DDL */
  SW_ASSERT_STR_EQ(ty("postgres", "numeric(1);drop", NULL), "NUMERIC");
}

SW_TEST(controlshift_types__sqlite_affinities)
{
  SW_ASSERT_STR_EQ(ty("sqlite", "bigint", NULL), "INTEGER");
  SW_ASSERT_STR_EQ(ty("sqlite", "boolean", NULL), "BOOLEAN");
  SW_ASSERT_STR_EQ(ty("sqlite", "timestamp without time zone", NULL),
                   "TEXT");
  SW_ASSERT_STR_EQ(ty("sqlite", "double precision", NULL), "REAL");
  SW_ASSERT_STR_EQ(ty("sqlite", "numeric(3,2)", NULL), "NUMERIC");
  SW_ASSERT_STR_EQ(ty("sqlite", NULL, NULL), "TEXT");
}
