/* SPDX-License-Identifier: MIT */
/* directdata: task life cycle, configuration (INI via inih) and the unpack
 * activity. A task runs as a chain of steps: thread-pool jobs (config,
 * file I/O, unpack), Vault requests (dd_vault.c) and warehouse statements
 * (dd_load.c). It ends through dd_fail or dd_succeed, which close the HTTP
 * handle and the timer; `done` runs from the timer's close callback, so
 * nothing of the task is live when the engine hears of it.
 *
 * Object store: a local directory (`object_store`, default
 * .stepwise/directdata): <store>/<name>/parts/<part filename> (verified
 * parts, renamed into place), <store>/<name>/data/ (unpacked, renamed
 * into place). On redshift-data the loader's bulk loads are staged in S3
 * by the warehouse driver (s3_staging= in its URL, src/objects). */
#include "directdata/dd_int.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>
#include <openssl/evp.h>

#include "archive/archive.h"

static const struct {
  const char *name;
  dd_action action;
} activities[] = {
    {"stepwise.directdata.list", A_LIST},
    {"stepwise.directdata.retrieve", A_RETRIEVE},
    {"stepwise.directdata.unpack", A_UNPACK},
    {"stepwise.directdata.load", A_LOAD},
};

void sw_directdata_new(sw_directdata **out, uv_loop_t *loop,
                       sw_warehouse *wh)
{
  sw_directdata *dd = sw_calloc(1, sizeof(*dd));

  dd->loop = loop;
  dd->wh = wh;
  *out = dd;
}

void sw_directdata_free(sw_directdata *dd)
{
  if (!dd)
    return;
  sw_free(dd->session_key);
  sw_free(dd->session_id);
  sw_free(dd);
}

bool sw_directdata_handles(const char *activity)
{
  size_t i;

  for (i = 0; activity && i < SW_ARRAY_SIZE(activities); i++)
    if (!strcmp(activity, activities[i].name))
      return true;
  return false;
}

/* ---- helpers ----------------------------------------------------------- */

bool dd_safe_name(const char *s)
{
  const char *p;

  if (!s || !*s || strlen(s) > 200 || s[0] == '.')
    return false;
  for (p = s; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
          (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
      return false;
  return true;
}

int dd_rmtree(const char *path)
{
  DIR *d;
  struct dirent *e;
  struct stat st;
  char *sub;
  int rc = 0;

  if (lstat(path, &st) < 0)
    return errno == ENOENT ? 0 : -1;
  if (!S_ISDIR(st.st_mode))
    return unlink(path);
  d = opendir(path);
  if (!d)
    return -1;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
      continue;
    sub = sw_asprintf("%s/%s", path, e->d_name);
    if (dd_rmtree(sub) < 0)
      rc = -1;
    sw_free(sub);
  }
  closedir(d);
  if (rmdir(path) < 0)
    rc = -1;
  return rc;
}

/* ---- configuration ----------------------------------------------------- */

static void cfg_dispose(dd_config *c)
{
  sw_free(c->section);
  sw_free(c->base_url);
  sw_free(c->dns);
  sw_free(c->username);
  if (c->password)
    memset(c->password, 0, strlen(c->password));
  sw_free(c->password);
  sw_free(c->version);
  sw_free(c->client_id);
  sw_free(c->store);
  memset(c, 0, sizeof(*c));
}

typedef struct ini_ctx {
  dd_config *c;
  bool found;
  char *vault_url;
} ini_ctx;

static void set_str(char **dst, const char *v)
{
  sw_free(*dst);
  *dst = sw_strdup(v);
}

static int on_ini(void *user, const char *section, const char *key,
                  const char *value)
{
  ini_ctx *x = user;
  dd_config *c = x->c;

  if (strcmp(section, c->section) != 0)
    return 1;
  x->found = true;
  if (!strcmp(key, "vault_dns"))
    set_str(&c->dns, value);
  else if (!strcmp(key, "vault_url"))
    set_str(&x->vault_url, value);
  else if (!strcmp(key, "vault_username"))
    set_str(&c->username, value);
  else if (!strcmp(key, "vault_password"))
    set_str(&c->password, value);
  else if (!strcmp(key, "vault_version") || !strcmp(key, "api_version"))
    set_str(&c->version, value);
  else if (!strcmp(key, "vault_client_id"))
    set_str(&c->client_id, value);
  else if (!strcmp(key, "vault_id"))
    c->vault_id = strtol(value, NULL, 10);
  else if (!strcmp(key, "object_store"))
    set_str(&c->store, value);
  else if (!strcmp(key, "max_parallel_downloads"))
    c->max_parallel = (int)strtol(value, NULL, 10);
  else if (!strcmp(key, "burst_limit_floor"))
    c->burst_floor = strtol(value, NULL, 10);
  else if (!strcmp(key, "burst_pause_ms"))
    c->burst_pause_ms = strtol(value, NULL, 10);
  else if (!strcmp(key, "part_timeout_ms"))
    c->part_timeout_ms = strtol(value, NULL, 10);
  else if (!strcmp(key, "max_entry_bytes"))
    c->max_entry_bytes = strtoull(value, NULL, 10);
  /* warehouse / s3_* / redshift_* keys: the engine's warehouse is used;
   * unknown keys are ignored as the upstream INI carries many. */
  return 1;
}

static const char *config_path(const sw_dd_task *t)
{
  const char *p = sw_json_get_str(t->params, "config");
  if (!p)
    p = getenv("STEPWISE_DIRECTDATA_CONFIG");
  return p ? p : "directdata.ini";
}

/* Thread pool: read and check the INI section named by `secret`. */
static void config_work(sw_dd_task *t)
{
  dd_config *c = &t->cfg;
  const char *path = config_path(t);
  const char *secret = sw_json_get_str(t->params, "secret");
  ini_ctx x = {c, false, NULL};
  int line;

  if (!secret || !*secret) {
    t->cfg_rc = sw_err_set(&t->err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                           "input has no \"secret\": name the section of "
                           "%s that holds the Vault settings", path);
    return;
  }
  c->section = sw_strdup(secret);
  c->max_parallel = 4;
  c->burst_floor = 10;
  c->burst_pause_ms = 1000;
  c->part_timeout_ms = 600000;
  line = ini_parse(path, on_ini, &x);
  if (line < 0) {
    t->cfg_rc = sw_err_set(&t->err, SW_ENOTFOUND, SW_ORIGIN_OS, 0,
                           "cannot read the Direct Data config %s (set "
                           "STEPWISE_DIRECTDATA_CONFIG or the \"config\" "
                           "parameter)", path);
    goto done;
  }
  if (line > 0) {
    t->cfg_rc = sw_err_set(&t->err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                           "%s:%d: not valid INI", path, line);
    goto done;
  }
  if (!x.found) {
    t->cfg_rc = sw_err_set(&t->err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                           "%s has no section [%s] (the input's \"secret\")",
                           path, secret);
    goto done;
  }
  if (!c->dns && !x.vault_url) {
    t->cfg_rc = sw_err_set(&t->err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                           "%s [%s]: vault_dns is missing", path, secret);
    goto done;
  }
  if (!c->username || !c->password) {
    t->cfg_rc = sw_err_set(&t->err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                           "%s [%s]: vault_username and vault_password are "
                           "required", path, secret);
    goto done;
  }
  if (!c->version)
    c->version = sw_strdup("v25.2");
  if (!c->client_id)
    c->client_id = sw_strdup("stepwise-directdata");
  if (!c->store)
    c->store = sw_strdup(".stepwise/directdata");
  if (c->max_parallel < 1)
    c->max_parallel = 1;
  if (x.vault_url) {
    size_t n = strlen(x.vault_url);
    while (n > 0 && x.vault_url[n - 1] == '/')
      x.vault_url[--n] = '\0';
    c->base_url = sw_strdup(x.vault_url);
  } else {
    c->base_url = sw_asprintf("https://%s", c->dns);
  }
done:
  sw_free(x.vault_url);
}

/* ---- life cycle -------------------------------------------------------- */

static void task_free(sw_dd_task *t)
{
  size_t i;

  dd_load_free(t);
  cfg_dispose(&t->cfg);
  cJSON_Delete(t->params);
  cJSON_Delete(t->out);
  cJSON_Delete(t->rows);
  sw_free(t->token);
  sw_free(t->dir);
  sw_free(t->cursor);
  sw_free(t->win_start);
  sw_free(t->win_stop);
  sw_free(t->stmt_id);
  for (i = 0; i < t->n_parts; i++) {
    sw_free(t->parts[i].name);
    sw_free(t->parts[i].filename);
    sw_free(t->parts[i].md5);
    if (t->parts[i].fd >= 0)
      close(t->parts[i].fd);
    EVP_MD_CTX_free(t->parts[i].md);
  }
  sw_free(t->parts);
  sw_free(t);
}

static void on_timer_closed(uv_handle_t *h)
{
  sw_dd_task *t = SW_CONTAINER_OF((uv_timer_t *)h, sw_dd_task, timer);
  cJSON *out = t->out;

  if (!t->cancelled) {
    t->out = NULL;
    if (t->fail_name)
      t->done(NULL, t->fail_name, t->err.msg, t->payload);
    else
      t->done(out, NULL, NULL, t->payload);
  }
  task_free(t);
}

static void on_http_closed(void *payload)
{
  sw_dd_task *t = payload;

  uv_close((uv_handle_t *)&t->timer, on_timer_closed);
}

static void finish(sw_dd_task *t)
{
  sw_http *h = t->http;

  if (t->finished)
    return;
  if (t->job_busy) { /* the thread-pool job still uses the task */
    t->finish_pending = true;
    return;
  }
  t->finished = true;
  uv_timer_stop(&t->timer);
  t->http = NULL;
  if (h)
    sw_http_close(h, on_http_closed, t);
  else
    on_http_closed(t);
}

void dd_fail(sw_dd_task *t, const char *name, const char *fmt, ...)
{
  va_list ap;
  char *msg;

  if (t->finished)
    return;
  va_start(ap, fmt);
  msg = sw_vasprintf(fmt, ap);
  va_end(ap);
  sw_err_set(&t->err, SW_ERROR, SW_ORIGIN_NONE, 0, "%s", msg);
  sw_free(msg);
  t->fail_name = name;
  cJSON_Delete(t->out);
  t->out = NULL;
  sw_log(SW_LOG_INFO, "directdata: %s: %s", name, t->err.msg);
  if (t->inflight > 0) { /* let the other requests end first */
    t->failing = true;
    return;
  }
  finish(t);
}

void dd_succeed(sw_dd_task *t, cJSON *out)
{
  if (t->out != out)
    cJSON_Delete(t->out);
  t->out = out;
  finish(t);
}

static void job_work(uv_work_t *w)
{
  sw_dd_task *t = SW_CONTAINER_OF(w, sw_dd_task, work);

  t->work_fn(t);
}

static void job_after(uv_work_t *w, int status)
{
  sw_dd_task *t = SW_CONTAINER_OF(w, sw_dd_task, work);

  (void)status;
  t->job_busy = false;
  if (t->finish_pending) {
    t->finish_pending = false;
    finish(t);
    return;
  }
  t->after_fn(t);
}

void dd_job(sw_dd_task *t, void (*work_fn)(sw_dd_task *),
            void (*after_fn)(sw_dd_task *))
{
  t->work_fn = work_fn;
  t->after_fn = after_fn;
  t->job_busy = true;
  uv_queue_work(t->loop, &t->work, job_work, job_after);
}

static void on_timer(uv_timer_t *h)
{
  sw_dd_task *t = SW_CONTAINER_OF(h, sw_dd_task, timer);

  t->timer_fn(t);
}

void dd_after(sw_dd_task *t, long ms, void (*fn)(sw_dd_task *))
{
  t->timer_fn = fn;
  uv_timer_start(&t->timer, on_timer, (uint64_t)(ms < 0 ? 0 : ms), 0);
}

/* ---- unpack -------------------------------------------------------------- */

static void unpack_work(sw_dd_task *t)
{
  sw_archive_opts o;
  sw_archive_stats st;
  char **paths;
  char *data = sw_asprintf("%s/data", t->dir);
  char *tmp = sw_asprintf("%s/data.tmp", t->dir);
  size_t i;
  int rc;

  if (sw_file_exists(data)) { /* unpacked before: renamed into place */
    t->out = cJSON_CreateObject();
    cJSON_AddStringToObject(t->out, "name", t->name);
    cJSON_AddBoolToObject(t->out, "unpacked", false);
    cJSON_AddStringToObject(t->out, "reason", "already unpacked");
    goto out;
  }
  paths = sw_calloc(t->n_parts, sizeof(char *));
  for (i = 0; i < t->n_parts; i++) {
    paths[i] = sw_asprintf("%s/parts/%s", t->dir, t->parts[i].filename);
    if (!sw_file_exists(paths[i]) && !t->fail_name) {
      t->fail_name = E_NOTDOWN;
      sw_err_set(&t->err, SW_ENOTFOUND, SW_ORIGIN_NONE, 0,
                 "part %s of %s is not downloaded: run the retrieve step "
                 "first", t->parts[i].filename, t->name);
    }
  }
  if (!t->fail_name) {
    dd_rmtree(tmp);
    memset(&o, 0, sizeof(o));
    o.parts = (const char *const *)paths;
    o.n_parts = t->n_parts;
    o.dest_dir = tmp;
    o.max_entry_bytes = t->cfg.max_entry_bytes;
    rc = sw_archive_unpack(&o, &st, &t->err);
    if (rc < 0) {
      t->fail_name = rc == SW_EINVAL || rc == SW_ELIMIT ? E_UNSAFE : E_LOAD;
      sw_err_prefix(&t->err, "unpacking %s (delete %s/parts and retrieve "
                    "it again if it is corrupt): ", t->name, t->dir);
      dd_rmtree(tmp);
    } else if (rename(tmp, data) < 0) {
      t->fail_name = E_LOAD;
      sw_err_set(&t->err, SW_EIO, SW_ORIGIN_OS, errno,
                 "cannot rename %s to %s", tmp, data);
    } else {
      t->out = cJSON_CreateObject();
      cJSON_AddStringToObject(t->out, "name", t->name);
      cJSON_AddBoolToObject(t->out, "unpacked", true);
      cJSON_AddNumberToObject(t->out, "entries", (double)st.entries);
      cJSON_AddNumberToObject(t->out, "bytes", (double)st.bytes_out);
    }
  }
  for (i = 0; i < t->n_parts; i++)
    sw_free(paths[i]);
  sw_free(paths);
out:
  sw_free(data);
  sw_free(tmp);
}

static void unpack_after(sw_dd_task *t)
{
  if (t->fail_name) {
    const char *n = t->fail_name;
    t->fail_name = NULL;
    dd_fail(t, n, "%s", t->err.msg);
    return;
  }
  dd_succeed(t, t->out ? t->out : cJSON_CreateObject());
}

/* ---- the file a task is about ----------------------------------------- */

/* Read params.file: {name, record_count, parts: [{name, filename, size,
 * md5checksum}]} (the list activity's shape). */
static int read_file_param(sw_dd_task *t)
{
  const cJSON *ps, *p;
  size_t i = 0;

  t->file = sw_json_get(t->params, "file");
  t->name = sw_json_get_str(t->file, "name");
  if (!t->name || !dd_safe_name(t->name)) {
    dd_fail(t, E_INPUT, "parameter \"file\" must be an entry of the list "
            "step's output with a valid \"name\"");
    return -1;
  }
  t->dir = sw_asprintf("%s/%s", t->cfg.store, t->name);
  ps = sw_json_get(t->file, "parts");
  t->n_parts = (size_t)cJSON_GetArraySize(ps);
  t->parts = sw_calloc(t->n_parts ? t->n_parts : 1, sizeof(dd_part));
  for (i = 0; i < t->n_parts; i++)
    t->parts[i].fd = -1;
  i = 0;
  cJSON_ArrayForEach(p, ps) {
    const char *n = sw_json_get_str(p, "name");
    const char *f = sw_json_get_str(p, "filename");
    const cJSON *sz = sw_json_get(p, "size");
    if (!dd_safe_name(n) || !dd_safe_name(f) || !cJSON_IsNumber(sz)) {
      dd_fail(t, E_INPUT, "file %s: part %zu has no valid name, filename "
              "and size", t->name, i + 1);
      return -1;
    }
    t->parts[i].name = sw_strdup(n);
    t->parts[i].filename = sw_strdup(f);
    t->parts[i].size = (long long)sz->valuedouble;
    t->parts[i].md5 = sw_strdup(sw_json_get_str(p, "md5checksum"));
    i++;
  }
  return 0;
}

static void config_after(sw_dd_task *t)
{
  if (t->cancelled) {
    dd_fail(t, "States.TaskFailed", "cancelled");
    return;
  }
  if (t->cfg_rc < 0) {
    dd_fail(t, E_CONFIG, "%s", t->err.msg);
    return;
  }
  switch (t->action) {
  case A_LIST:
    dd_list_start(t);
    return;
  case A_RETRIEVE:
    if (read_file_param(t) == 0)
      dd_retrieve_start(t);
    return;
  case A_UNPACK:
    if (read_file_param(t) < 0)
      return;
    if (cJSON_IsNumber(sw_json_get(t->file, "record_count")) &&
        sw_json_get(t->file, "record_count")->valuedouble == 0) {
      cJSON *o = cJSON_CreateObject();
      cJSON_AddStringToObject(o, "name", t->name);
      cJSON_AddBoolToObject(o, "unpacked", false);
      cJSON_AddStringToObject(o, "reason", "record_count is 0");
      dd_succeed(t, o);
      return;
    }
    dd_job(t, unpack_work, unpack_after);
    return;
  case A_LOAD:
    if (read_file_param(t) == 0)
      dd_load_start(t);
    return;
  }
}

int sw_directdata_invoke(sw_dd_task **out, sw_directdata *dd,
                         const char *activity, const cJSON *params,
                         const char *token, sw_dd_done_cb done,
                         void *payload, sw_err *err)
{
  sw_dd_task *t;
  size_t i;

  *out = NULL;
  for (i = 0; i < SW_ARRAY_SIZE(activities); i++)
    if (activity && !strcmp(activity, activities[i].name))
      break;
  if (i == SW_ARRAY_SIZE(activities))
    return sw_err_set(err, SW_ENOTFOUND, SW_ORIGIN_NONE, 0,
                      "unknown Direct Data activity \"%s\"",
                      activity ? activity : "");
  t = sw_calloc(1, sizeof(*t));
  t->dd = dd;
  t->loop = dd->loop;
  t->wh = dd->wh;
  t->action = activities[i].action;
  t->params = params ? sw_json_dup(params) : cJSON_CreateObject();
  t->token = sw_strdup(token);
  t->done = done;
  t->payload = payload;
  t->verifying = -1;
  uv_timer_init(t->loop, &t->timer);
  *out = t;
  dd_job(t, config_work, config_after);
  return 0;
}

void sw_directdata_cancel(sw_dd_task *t)
{
  if (t)
    t->cancelled = true;
}
