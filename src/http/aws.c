/* SPDX-License-Identifier: MIT */
/* aws: the parts of the AWS SDKs' configuration chain stepwise honours:
 * credentials from the environment or a named profile in the shared
 * credentials/config files (parsed by libinih), the region, and the
 * endpoint override variables. Decisions:
 * - Order as in the AWS SDKs: environment keys win over any profile; the
 *   credentials file wins over the config file for the same profile.
 * - An AWS_PROFILE that names no section anywhere is an error (the SDKs
 *   raise ProfileNotFound), not a silent fall-through.
 * - Not supported (left out, documented in the error message): SSO,
 *   credential_process, assume-role chains, web identity, IMDS/ECS. */
#include "http/http.h"

#include <ini.h>
#include <stdlib.h>
#include <string.h>

typedef struct prof_scan {
  const char *profile;      /* section wanted (credentials-file spelling) */
  bool config_file;         /* sections are "profile NAME" / "default" */
  bool found;               /* the section exists */
  char *key_id, *secret, *token, *region; /* owned copies */
} prof_scan;

static bool section_matches(const prof_scan *s, const char *section)
{
  if (!s->config_file || !strcmp(s->profile, "default"))
    if (!strcmp(section, s->profile))
      return true;
  if (s->config_file && !strncmp(section, "profile ", 8)) {
    const char *n = section + 8;
    while (*n == ' ')
      n++;
    return !strcmp(n, s->profile);
  }
  return false;
}

static void keep(char **slot, const char *value)
{
  sw_free(*slot);
  *slot = sw_strdup(value);
}

/* libinih handler: collect the keys of the wanted section. */
static int on_ini(void *user, const char *section, const char *name,
                  const char *value)
{
  prof_scan *s = user;

  if (!section_matches(s, section))
    return 1;
  s->found = true;
  if (!strcmp(name, "aws_access_key_id"))
    keep(&s->key_id, value);
  else if (!strcmp(name, "aws_secret_access_key"))
    keep(&s->secret, value);
  else if (!strcmp(name, "aws_session_token"))
    keep(&s->token, value);
  else if (!strcmp(name, "region"))
    keep(&s->region, value);
  return 1;
}

static void wipe_free(char *s)
{
  if (s) {
    memset(s, 0, strlen(s));
    sw_free(s);
  }
}

static void scan_dispose(prof_scan *s)
{
  sw_free(s->key_id);
  wipe_free(s->secret);
  wipe_free(s->token);
  sw_free(s->region);
}

/* $VAR, else ~/.aws/NAME; allocated. */
static char *aws_file(const char *var, const char *name)
{
  const char *v = getenv(var);
  const char *home = getenv("HOME");

  if (v && *v)
    return sw_strdup(v);
  return sw_asprintf("%s/.aws/%s", home && *home ? home : ".", name);
}

/* Scan one file; a missing file is not an error. */
static int scan_file(prof_scan *s, const char *path, sw_err *err)
{
  int rc = ini_parse(path, on_ini, s);

  if (rc == -1 || rc == 0)
    return 0; /* -1: cannot open (absent) */
  if (rc == -2)
    return sw_err_set(err, SW_ENOMEM, SW_ORIGIN_NONE, 0,
                      "%s: out of memory while parsing", path);
  return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                    "%s:%d: not a valid INI line (AWS shared config)", path,
                    rc);
}

static const char *profile_name(void)
{
  const char *p = getenv("AWS_PROFILE");

  return p && *p ? p : "default";
}

static int scan_profile(prof_scan *cred, prof_scan *conf, char **cred_path,
                        char **conf_path, sw_err *err)
{
  int rc;

  memset(cred, 0, sizeof(*cred));
  memset(conf, 0, sizeof(*conf));
  cred->profile = conf->profile = profile_name();
  conf->config_file = true;
  *cred_path = aws_file("AWS_SHARED_CREDENTIALS_FILE", "credentials");
  *conf_path = aws_file("AWS_CONFIG_FILE", "config");
  rc = scan_file(cred, *cred_path, err);
  if (rc == 0)
    rc = scan_file(conf, *conf_path, err);
  return rc;
}

int sw_aws_creds_resolve(sw_aws_creds *out, sw_err *err)
{
  const char *id = getenv("AWS_ACCESS_KEY_ID");
  const char *secret = getenv("AWS_SECRET_ACCESS_KEY");
  const char *token = getenv("AWS_SESSION_TOKEN");
  prof_scan cred, conf, *src = NULL;
  char *cred_path = NULL, *conf_path = NULL;
  int rc;

  memset(out, 0, sizeof(*out));
  if (id && *id) {
    if (!secret || !*secret)
      return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                        "AWS_ACCESS_KEY_ID is set but "
                        "AWS_SECRET_ACCESS_KEY is not");
    out->access_key_id = sw_strdup(id);
    out->secret_access_key = sw_strdup(secret);
    out->session_token = token && *token ? sw_strdup(token) : NULL;
    out->source = sw_strdup("environment");
    return 0;
  }
  rc = scan_profile(&cred, &conf, &cred_path, &conf_path, err);
  if (rc < 0)
    goto done;
  if (cred.key_id)
    src = &cred;
  else if (conf.key_id)
    src = &conf;
  if (!src) {
    if (getenv("AWS_PROFILE") && *getenv("AWS_PROFILE") && !cred.found &&
        !conf.found)
      rc = sw_err_set(err, SW_ENOTFOUND, SW_ORIGIN_NONE, 0,
                      "AWS_PROFILE '%s' not found in %s or %s",
                      cred.profile, cred_path, conf_path);
    else
      rc = sw_err_set(err, SW_ENOTFOUND, SW_ORIGIN_NONE, 0,
                      "no AWS credentials: set AWS_ACCESS_KEY_ID and "
                      "AWS_SECRET_ACCESS_KEY, or give profile '%s' "
                      "aws_access_key_id/aws_secret_access_key in %s or "
                      "%s (SSO, credential_process and instance roles are "
                      "not supported)",
                      cred.profile, cred_path, conf_path);
    goto done;
  }
  if (!src->secret) {
    rc = sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                    "profile '%s' in %s has aws_access_key_id but no "
                    "aws_secret_access_key", src->profile,
                    src == &cred ? cred_path : conf_path);
    goto done;
  }
  out->access_key_id = src->key_id;
  out->secret_access_key = src->secret;
  out->session_token = src->token;
  src->key_id = src->secret = src->token = NULL;
  out->source = sw_asprintf("profile %s in %s", src->profile,
                            src == &cred ? cred_path : conf_path);

done:
  scan_dispose(&cred);
  scan_dispose(&conf);
  sw_free(cred_path);
  sw_free(conf_path);
  return rc;
}

void sw_aws_creds_dispose(sw_aws_creds *c)
{
  if (!c)
    return;
  sw_free(c->access_key_id);
  wipe_free(c->secret_access_key);
  wipe_free(c->session_token);
  sw_free(c->source);
  memset(c, 0, sizeof(*c));
}

static int check_region(const char *r, const char *from, sw_err *err)
{
  const char *p;

  for (p = r; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
          *p == '-'))
      return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                        "AWS region '%.64s' (from %s) is not a region name "
                        "like us-east-1", r, from);
  return 0;
}

int sw_aws_region_resolve(char **out, const char *explicit_region,
                          sw_err *err)
{
  const char *vars[] = {"AWS_REGION", "AWS_DEFAULT_REGION"};
  prof_scan cred, conf;
  char *cred_path = NULL, *conf_path = NULL;
  const char *v;
  size_t i;
  int rc;

  *out = NULL;
  if (explicit_region && *explicit_region) {
    rc = check_region(explicit_region, "the URL", err);
    if (rc == 0)
      *out = sw_strdup(explicit_region);
    return rc;
  }
  for (i = 0; i < SW_ARRAY_SIZE(vars); i++) {
    v = getenv(vars[i]);
    if (v && *v) {
      rc = check_region(v, vars[i], err);
      if (rc == 0)
        *out = sw_strdup(v);
      return rc;
    }
  }
  rc = scan_profile(&cred, &conf, &cred_path, &conf_path, err);
  if (rc == 0 && conf.region) {
    rc = check_region(conf.region, conf_path, err);
    if (rc == 0) {
      *out = conf.region;
      conf.region = NULL;
    }
  } else if (rc == 0) {
    rc = sw_err_set(err, SW_ENOTFOUND, SW_ORIGIN_NONE, 0,
                    "no AWS region: give region= in the URL, or set "
                    "AWS_REGION or AWS_DEFAULT_REGION, or 'region' for "
                    "profile '%s' in %s", conf.profile, conf_path);
  }
  scan_dispose(&cred);
  scan_dispose(&conf);
  sw_free(cred_path);
  sw_free(conf_path);
  return rc;
}

void sw_aws_endpoint(char **out, const char *service_id,
                     const char *endpoint_prefix, const char *region)
{
  char *var = sw_asprintf("AWS_ENDPOINT_URL_%s", service_id);
  const char *v;
  char *p;
  size_t n;

  for (p = var + 17; *p; p++) {
    if (*p == '-' || *p == ' ')
      *p = '_';
    else if (*p >= 'a' && *p <= 'z')
      *p = (char)(*p - 'a' + 'A');
  }
  v = getenv(var);
  if (!v || !*v)
    v = getenv("AWS_ENDPOINT_URL");
  if (v && *v)
    *out = sw_strdup(v);
  else
    *out = sw_asprintf("https://%s.%s.amazonaws.com", endpoint_prefix,
                       region);
  n = strlen(*out);
  while (n > 0 && (*out)[n - 1] == '/')
    (*out)[--n] = '\0';
  sw_free(var);
}
