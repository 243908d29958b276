/* SPDX-License-Identifier: MIT */
/* objects: the front (URL, keys, dispatch) and the local-directory
 * backend, whose copies run as libuv thread-pool jobs (see objects.h). */
#include "objects/objects.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "objects/objects_int.h"

#define COPY_CHUNK (1024 * 1024)
#define TMP_MARK ".stepwise-tmp-"
#define MAX_KEY 1024

/* ---- keys -------------------------------------------------------------- */

int sw__objects_check_key(const char *key, sw_err *err)
{
  const char *p, *c;
  size_t n = key ? strlen(key) : 0, len;

  if (n == 0 || n > MAX_KEY)
    return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                      "object key must be 1..%d bytes (got %zu)", MAX_KEY,
                      n);
  for (p = key; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f)
      return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                        "object key '%.200s' holds a control character",
                        key);
  for (p = key;; p = c + 1) {
    c = strchr(p, '/');
    len = c ? (size_t)(c - p) : strlen(p);
    if (len == 0 || (len == 1 && p[0] == '.') ||
        (len == 2 && p[0] == '.' && p[1] == '.'))
      return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                        "object key '%.200s' has an empty, '.' or '..' "
                        "component (expected a relative path like "
                        "'stage/x.csv')", key);
    if (!c)
      break;
  }
  return 0;
}

/* ---- files ------------------------------------------------------------- */

void sw__objects_sync_dir(const char *path)
{
  const char *slash = strrchr(path, '/');
  char *d = !slash ? sw_strdup(".")
            : slash == path ? sw_strdup("/")
                            : sw_strndup(path, (size_t)(slash - path));
  int fd;

  fd = open(d, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    (void)fsync(fd);
    close(fd);
  }
  sw_free(d);
}

static int write_all(int fd, const char *p, size_t n)
{
  ssize_t w;

  while (n > 0) {
    w = write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

int sw__objects_copy_file(const char *src, const char *dst, const char *what,
                          sw_err *err)
{
  const char *slash = strrchr(dst, '/');
  char *tmp, *buf = NULL;
  int in = -1, out = -1, rc = 0, e;
  ssize_t n;

  tmp = slash ? sw_asprintf("%.*s/.%s" TMP_MARK "XXXXXX",
                            (int)(slash - dst), dst, slash + 1)
              : sw_asprintf(".%s" TMP_MARK "XXXXXX", dst);
  in = open(src, O_RDONLY | O_CLOEXEC);
  if (in < 0) {
    e = errno;
    rc = sw_err_set(err, e == ENOENT ? SW_ENOTFOUND : SW_EIO, SW_ORIGIN_OS,
                    e, "%s: %s", what,
                    e == ENOENT ? "no such file" : uv_strerror(-(e)));
    goto done;
  }
  out = mkstemp(tmp);
  if (out < 0) {
    rc = sw_err_set(err, SW_EIO, SW_ORIGIN_OS, errno,
                    "%s: cannot create a temporary file beside '%s': %s",
                    what, dst, uv_strerror(-(errno)));
    goto done;
  }
  (void)fchmod(out, 0644);
  buf = sw_malloc(COPY_CHUNK);
  for (;;) {
    n = read(in, buf, COPY_CHUNK);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 || (n > 0 && write_all(out, buf, (size_t)n) < 0)) {
      rc = sw_err_set(err, SW_EIO, SW_ORIGIN_OS, errno, "%s: %s", what,
                      uv_strerror(-(errno)));
      goto done;
    }
    if (n == 0)
      break;
  }
  if (sw_fsync_close(out) < 0) {
    out = -1;
    rc = sw_err_set(err, SW_EIO, SW_ORIGIN_OS, errno, "%s: fsync: %s",
                    what, uv_strerror(-(errno)));
    goto done;
  }
  out = -1;
  if (rename(tmp, dst) < 0) {
    rc = sw_err_set(err, SW_EIO, SW_ORIGIN_OS, errno,
                    "%s: cannot rename into '%s': %s", what, dst,
                    uv_strerror(-(errno)));
    goto done;
  }
  sw__objects_sync_dir(dst);
done:
  if (out >= 0)
    close(out);
  if (rc < 0)
    (void)unlink(tmp);
  if (in >= 0)
    close(in);
  sw_free(buf);
  sw_free(tmp);
  return rc;
}

/* ---- local backend: thread-pool jobs ------------------------------------ */

typedef enum job_kind { J_PUT, J_GET, J_DELETE, J_LIST } job_kind;

typedef struct job {
  uv_work_t work;
  sw_objects *os;
  job_kind kind;
  char *key;        /* as given */
  char *path;       /* the local file (put/get) */
  char *full;       /* dir/key */
  char *prefix;     /* list */
  sw_err err;
  int rc;
  sw_object_info *items; /* list result; keys owned */
  size_t n, cap;
  sw_objects_cb cb;
  sw_objects_list_cb list_cb;
  void *payload;
} job;

static void add_item(job *j, const char *key, const struct stat *st)
{
  if (j->n == j->cap) {
    j->cap = j->cap ? j->cap * 2 : 64;
    j->items = sw_realloc(j->items, j->cap * sizeof(*j->items));
  }
  j->items[j->n].key = sw_strdup(key);
  j->items[j->n].size = (uint64_t)st->st_size;
  j->items[j->n].etag = "";
  j->items[j->n].mtime_ms = (int64_t)st->st_mtim.tv_sec * 1000 +
                            st->st_mtim.tv_nsec / 1000000;
  j->n++;
}

/* Walk dir/rel recursively, adding regular files whose key starts with
 * the prefix. */
static int walk(job *j, const char *rel)
{
  char *path = *rel ? sw_asprintf("%s/%s", j->os->dir, rel)
                    : sw_strdup(j->os->dir);
  DIR *d = opendir(path);
  struct dirent *de;
  struct stat st;
  char *key, *full;
  size_t plen = strlen(j->prefix);
  int rc = 0;

  if (!d) {
    rc = errno == ENOENT ? 0
                         : sw_err_set(&j->err, SW_EIO, SW_ORIGIN_OS, errno,
                                      "list %s: %s", path, uv_strerror(-(errno)));
    sw_free(path);
    return rc;
  }
  while (rc == 0 && (de = readdir(d)) != NULL) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
        strstr(de->d_name, TMP_MARK))
      continue;
    key = *rel ? sw_asprintf("%s/%s", rel, de->d_name)
               : sw_strdup(de->d_name);
    full = sw_asprintf("%s/%s", path, de->d_name);
    if (lstat(full, &st) == 0) {
      size_t klen = strlen(key);
      size_t cmp = klen < plen ? klen : plen;
      if (S_ISDIR(st.st_mode) && !strncmp(key, j->prefix, cmp))
        rc = walk(j, key);
      else if (S_ISREG(st.st_mode) && klen >= plen &&
               !strncmp(key, j->prefix, plen))
        add_item(j, key, &st);
    }
    sw_free(key);
    sw_free(full);
  }
  closedir(d);
  sw_free(path);
  return rc;
}

static int item_cmp(const void *a, const void *b)
{
  return strcmp(((const sw_object_info *)a)->key,
                ((const sw_object_info *)b)->key);
}

static void job_work(uv_work_t *w)
{
  job *j = SW_CONTAINER_OF(w, job, work);
  char *what, *parent, *slash;

  switch (j->kind) {
  case J_PUT:
    parent = sw_strdup(j->full);
    slash = strrchr(parent, '/');
    if (slash)
      *slash = '\0';
    j->rc = sw_mkdirs(parent, &j->err);
    sw_free(parent);
    if (j->rc < 0)
      break;
    what = sw_asprintf("put %s%s from '%s'", j->os->base_url, j->key,
                       j->path);
    j->rc = sw__objects_copy_file(j->path, j->full, what, &j->err);
    sw_free(what);
    break;
  case J_GET: {
    struct stat st;
    what = sw_asprintf("get %s%s", j->os->base_url, j->key);
    if (stat(j->full, &st) < 0 || !S_ISREG(st.st_mode))
      j->rc = sw_err_set(&j->err, SW_ENOTFOUND, SW_ORIGIN_OS, ENOENT,
                         "%s: NoSuchKey: the key does not exist", what);
    else
      j->rc = sw__objects_copy_file(j->full, j->path, what, &j->err);
    sw_free(what);
    break;
  }
  case J_DELETE:
    if (unlink(j->full) < 0 && errno != ENOENT)
      j->rc = sw_err_set(&j->err, SW_EIO, SW_ORIGIN_OS, errno,
                         "delete %s%s: %s", j->os->base_url, j->key,
                         uv_strerror(-(errno)));
    else
      sw__objects_sync_dir(j->full);
    break;
  case J_LIST:
    j->rc = walk(j, "");
    if (j->rc == 0 && j->n > 1)
      qsort(j->items, j->n, sizeof(*j->items), item_cmp);
    break;
  }
}

static void job_after(uv_work_t *w, int status)
{
  job *j = SW_CONTAINER_OF(w, job, work);
  sw_objects *os = j->os;
  size_t i;

  if (status == UV_ECANCELED && j->rc == 0)
    j->rc = sw_err_set(&j->err, SW_ECANCELED, SW_ORIGIN_UV, status,
                       "object store closed");
  if (j->kind == J_LIST)
    j->list_cb(j->rc < 0 ? &j->err : NULL, j->rc < 0 ? NULL : j->items,
               j->rc < 0 ? 0 : j->n, j->payload);
  else
    j->cb(j->rc < 0 ? &j->err : NULL, j->payload);
  for (i = 0; i < j->n; i++)
    sw_free((char *)j->items[i].key);
  sw_free(j->items);
  sw_free(j->key);
  sw_free(j->path);
  sw_free(j->full);
  sw_free(j->prefix);
  sw_free(j);
  sw__objects_release(os);
}

static int job_start(sw_objects *os, job_kind kind, const char *key,
                     const char *path, sw_objects_cb cb,
                     sw_objects_list_cb list_cb, void *payload, sw_err *err)
{
  job *j = sw_calloc(1, sizeof(*j));
  int rc;

  j->os = os;
  j->kind = kind;
  j->cb = cb;
  j->list_cb = list_cb;
  j->payload = payload;
  if (kind == J_LIST) {
    j->prefix = sw_strdup(key ? key : "");
  } else {
    j->key = sw_strdup(key);
    j->full = sw_asprintf("%s/%s", os->dir, key);
    j->path = sw_strdup(path);
  }
  rc = uv_queue_work(os->loop, &j->work, job_work, job_after);
  if (rc < 0) {
    sw_free(j->key);
    sw_free(j->full);
    sw_free(j->path);
    sw_free(j->prefix);
    sw_free(j);
    return sw_err_set(err, SW_EIO, SW_ORIGIN_UV, rc, "uv_queue_work: %s",
                      uv_strerror(rc));
  }
  os->pending++;
  return 0;
}

/* ---- front -------------------------------------------------------------- */

static void os_free(sw_objects *os)
{
  if (os->is_s3)
    sw__s3_free(os);
  sw_free(os->base_url);
  sw_free(os->dir);
  sw_free(os);
}

void sw__objects_release(sw_objects *os)
{
  os->pending--;
  if (os->closing && os->pending == 0) {
    void (*cb)(void *) = os->close_cb;
    void *payload = os->close_payload;
    os_free(os);
    if (cb)
      cb(payload);
  }
}

int sw_objects_open(sw_objects **out, uv_loop_t *loop, const char *url,
                    const char *home, sw_err *err)
{
  sw_objects *os;
  char *dflt = NULL;
  size_t n;
  int rc = 0;

  *out = NULL;
  if (!url || !*url) {
    if (!home)
      return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                        "object store: no URL and no home directory");
    dflt = sw_asprintf("file://%s%s/objects", home[0] == '/' ? "" : "",
                       home);
    url = dflt;
  }
  os = sw_calloc(1, sizeof(*os));
  os->loop = loop;
  if (!strncmp(url, "file://", 7)) {
    const char *p = url + 7;
    char cwd[4096];
    if (!*p || strchr(p, '?')) {
      rc = sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                      "object store URL '%.200s': expected file:///DIR",
                      url);
      goto done;
    }
    if (*p == '/')
      os->dir = sw_strdup(p);
    else if (getcwd(cwd, sizeof(cwd)))
      os->dir = sw_asprintf("%s/%s", cwd, p); /* file://rel (the default) */
    else
      os->dir = sw_strdup(p);
    n = strlen(os->dir);
    while (n > 1 && os->dir[n - 1] == '/')
      os->dir[--n] = '\0';
    rc = sw_mkdirs(os->dir, err);
    if (rc < 0)
      goto done;
    os->base_url = sw_asprintf("file://%s/", os->dir);
  } else if (!strncmp(url, "s3://", 5)) {
    os->is_s3 = true;
    rc = sw__s3_open(os, url + 5, err);
  } else {
    rc = sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                    "unknown object store URL '%.200s' (expected "
                    "file:///DIR or s3://BUCKET/PREFIX)", url);
  }
done:
  sw_free(dflt);
  if (rc < 0) {
    os_free(os);
    return rc;
  }
  *out = os;
  return 0;
}

void sw_objects_close(sw_objects *os, void (*cb)(void *payload),
                      void *payload)
{
  if (!os) {
    if (cb)
      cb(payload);
    return;
  }
  os->closing = true;
  os->close_cb = cb;
  os->close_payload = payload;
  os->pending++; /* held until the backend has started closing */
  if (os->is_s3)
    sw__s3_close(os);
  sw__objects_release(os);
}

static int check_open(sw_objects *os, sw_err *err)
{
  if (os->closing)
    return sw_err_set(err, SW_ECANCELED, SW_ORIGIN_NONE, 0,
                      "object store is closing");
  return 0;
}

int sw_objects_put(sw_objects *os, const char *key, const char *path,
                   sw_objects_cb cb, void *payload, sw_err *err)
{
  int rc = check_open(os, err);

  if (rc == 0)
    rc = sw__objects_check_key(key, err);
  if (rc < 0)
    return rc;
  if (os->is_s3)
    return sw__s3_put(os, key, path, cb, payload, err);
  return job_start(os, J_PUT, key, path, cb, NULL, payload, err);
}

int sw_objects_get(sw_objects *os, const char *key, const char *path,
                   sw_objects_cb cb, void *payload, sw_err *err)
{
  int rc = check_open(os, err);

  if (rc == 0)
    rc = sw__objects_check_key(key, err);
  if (rc < 0)
    return rc;
  if (os->is_s3)
    return sw__s3_get(os, key, path, cb, payload, err);
  return job_start(os, J_GET, key, path, cb, NULL, payload, err);
}

int sw_objects_delete(sw_objects *os, const char *key, sw_objects_cb cb,
                      void *payload, sw_err *err)
{
  int rc = check_open(os, err);

  if (rc == 0)
    rc = sw__objects_check_key(key, err);
  if (rc < 0)
    return rc;
  if (os->is_s3)
    return sw__s3_delete(os, key, cb, payload, err);
  return job_start(os, J_DELETE, key, NULL, cb, NULL, payload, err);
}

int sw_objects_list(sw_objects *os, const char *prefix,
                    sw_objects_list_cb cb, void *payload, sw_err *err)
{
  int rc = check_open(os, err);

  if (rc < 0)
    return rc;
  if (prefix && strlen(prefix) > MAX_KEY)
    return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                      "list prefix longer than %d bytes", MAX_KEY);
  if (os->is_s3)
    return sw__s3_list(os, prefix ? prefix : "", cb, payload, err);
  return job_start(os, J_LIST, prefix ? prefix : "", NULL, NULL, cb,
                   payload, err);
}

char *sw_objects_url_of(const sw_objects *os, const char *key)
{
  return sw_asprintf("%s%s", os->base_url, key);
}

const char *sw_objects_scheme(const sw_objects *os)
{
  return os->is_s3 ? "s3" : "file";
}
