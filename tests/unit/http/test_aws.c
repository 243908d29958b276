/* SPDX-License-Identifier: MIT */
/* AWS configuration chain: credentials (environment over profile,
 * credentials file over config file), region order, endpoint overrides. */
#include "sw_test.h"

#include <stdlib.h>

#include "common/common.h"
#include "http/http.h"

static void write_file(const char *name, const char *text, char *path_out)
{
  FILE *f;

  snprintf(path_out, 1024, "%s/%s", sw_test_tmpdir(), name);
  f = fopen(path_out, "w");
  fputs(text, f);
  fclose(f);
}

static void clear_env(void)
{
  const char *vars[] = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                        "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION",
                        "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL",
                        "AWS_ENDPOINT_URL_REDSHIFT_DATA",
                        "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"};
  size_t i;

  for (i = 0; i < SW_ARRAY_SIZE(vars); i++)
    unsetenv(vars[i]);
  setenv("HOME", sw_test_tmpdir(), 1);
}

SW_TEST(http_aws__environment_wins)
{
  sw_aws_creds c;
  sw_err err = SW_ERR_INIT;
  char p[1024];

  clear_env();
  write_file("credentials", "[default]\naws_access_key_id = FILEKEY\n"
                            "aws_secret_access_key = filesecret\n", p);
  setenv("AWS_SHARED_CREDENTIALS_FILE", p, 1);
  setenv("AWS_ACCESS_KEY_ID", "ENVKEY", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
  setenv("AWS_SESSION_TOKEN", "tok", 1);
  SW_ASSERT_OK(sw_aws_creds_resolve(&c, &err));
  SW_ASSERT_STR_EQ(c.access_key_id, "ENVKEY");
  SW_ASSERT_STR_EQ(c.session_token, "tok");
  SW_ASSERT_STR_EQ(c.source, "environment");
  sw_aws_creds_dispose(&c);
  unsetenv("AWS_SECRET_ACCESS_KEY");
  SW_ASSERT_ERR(sw_aws_creds_resolve(&c, &err), SW_EINVAL);
  SW_ASSERT_STR_CONTAINS(err.msg, "AWS_SECRET_ACCESS_KEY");
}

SW_TEST(http_aws__profiles)
{
  sw_aws_creds c;
  sw_err err = SW_ERR_INIT;
  char cred[1024], conf[1024];
  char *region = NULL;

  clear_env();
  write_file("credentials", "[default]\naws_access_key_id = DEF\n"
                            "aws_secret_access_key = s1\n"
                            "[ci]\naws_access_key_id = CI\n"
                            "aws_secret_access_key = s2\n"
                            "aws_session_token = t2\n", cred);
  write_file("config", "[default]\nregion = eu-west-1\n"
                       "[profile ci]\nregion = us-west-2\n"
                       "[profile cfgonly]\naws_access_key_id = CFG\n"
                       "aws_secret_access_key = s3\n", conf);
  setenv("AWS_SHARED_CREDENTIALS_FILE", cred, 1);
  setenv("AWS_CONFIG_FILE", conf, 1);
  SW_ASSERT_OK(sw_aws_creds_resolve(&c, &err));
  SW_ASSERT_STR_EQ(c.access_key_id, "DEF");
  SW_ASSERT_NULL(c.session_token);
  sw_aws_creds_dispose(&c);
  SW_ASSERT_OK(sw_aws_region_resolve(&region, NULL, &err));
  SW_ASSERT_STR_EQ(region, "eu-west-1");
  sw_free(region);

  setenv("AWS_PROFILE", "ci", 1);
  SW_ASSERT_OK(sw_aws_creds_resolve(&c, &err));
  SW_ASSERT_STR_EQ(c.access_key_id, "CI");
  SW_ASSERT_STR_EQ(c.session_token, "t2");
  SW_ASSERT_STR_CONTAINS(c.source, "profile ci in ");
  sw_aws_creds_dispose(&c);
  SW_ASSERT_OK(sw_aws_region_resolve(&region, NULL, &err));
  SW_ASSERT_STR_EQ(region, "us-west-2");
  sw_free(region);

  setenv("AWS_PROFILE", "cfgonly", 1);
  SW_ASSERT_OK(sw_aws_creds_resolve(&c, &err));
  SW_ASSERT_STR_EQ(c.access_key_id, "CFG");
  sw_aws_creds_dispose(&c);

  setenv("AWS_PROFILE", "nope", 1);
  SW_ASSERT_ERR(sw_aws_creds_resolve(&c, &err), SW_ENOTFOUND);
  SW_ASSERT_STR_CONTAINS(err.msg, "AWS_PROFILE 'nope' not found");
}

SW_TEST(http_aws__region_order_and_endpoint)
{
  sw_err err = SW_ERR_INIT;
  char *r = NULL, *e = NULL;

  clear_env();
  SW_ASSERT_ERR(sw_aws_region_resolve(&r, NULL, &err), SW_ENOTFOUND);
  SW_ASSERT_STR_CONTAINS(err.msg, "no AWS region");
  setenv("AWS_DEFAULT_REGION", "ap-south-1", 1);
  SW_ASSERT_OK(sw_aws_region_resolve(&r, NULL, &err));
  SW_ASSERT_STR_EQ(r, "ap-south-1");
  sw_free(r);
  setenv("AWS_REGION", "us-east-2", 1);
  SW_ASSERT_OK(sw_aws_region_resolve(&r, NULL, &err));
  SW_ASSERT_STR_EQ(r, "us-east-2");
  sw_free(r);
  SW_ASSERT_OK(sw_aws_region_resolve(&r, "eu-central-1", &err));
  SW_ASSERT_STR_EQ(r, "eu-central-1");
  sw_free(r);
  SW_ASSERT_ERR(sw_aws_region_resolve(&r, "us east", &err), SW_EINVAL);

  sw_aws_endpoint(&e, "REDSHIFT_DATA", "redshift-data", "us-east-1");
  SW_ASSERT_STR_EQ(e, "https://redshift-data.us-east-1.amazonaws.com");
  sw_free(e);
  setenv("AWS_ENDPOINT_URL", "http://all:1/", 1);
  sw_aws_endpoint(&e, "REDSHIFT_DATA", "redshift-data", "us-east-1");
  SW_ASSERT_STR_EQ(e, "http://all:1");
  sw_free(e);
  setenv("AWS_ENDPOINT_URL_REDSHIFT_DATA", "http://rs:2", 1);
  sw_aws_endpoint(&e, "redshift-data", "redshift-data", "us-east-1");
  SW_ASSERT_STR_EQ(e, "http://rs:2");
  sw_free(e);
}
