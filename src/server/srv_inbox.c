/* SPDX-License-Identifier: MIT */
/* The watched inbox: uv_fs_event says something changed, a scan every
 * settle_ms (and soon after each event) decides. A file is taken when two
 * scans at least settle_ms apart saw the same size and mtime, so a file
 * still being written (or copied in) is not taken half-way; files whose
 * name starts with '.' are never taken (writers that write under a dot
 * name and rename when done are handled exactly). The execution name is
 * derived from the path, size and mtime: a restart that finds the same
 * file again finds its execution, while a new file under an old name is a
 * new event. */
#include "server/server_int.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static srv_file *file_find(sw_server *s, const char *name)
{
  srv_file *f;

  for (f = s->files; f; f = f->next)
    if (!strcmp(f->name, name))
      return f;
  return NULL;
}

static void take(sw_server *s, srv_file *f)
{
  sw_err err = SW_ERR_INIT;
  char name[80], size[32], mtime[32];
  const char *parts[3];
  char *path = sw_asprintf("%s/%s", s->inbox, f->name);
  cJSON *in = cJSON_CreateObject();
  srv_outcome o;

  snprintf(size, sizeof(size), "%lld", f->size);
  snprintf(mtime, sizeof(mtime), "%lld", f->mtime_ns);
  parts[0] = path;
  parts[1] = size;
  parts[2] = mtime;
  sw_server_event_name(name, "file", parts, 3);
  cJSON_AddStringToObject(in, "file", path);
  o = srv_accept(s, SRV_WF_INGEST, name, name, in, &err);
  srv_count(s, SRV_SRC_INBOX, o);
  if (o == SRV_FAILED)
    sw_log(SW_LOG_ERROR, "inbox file %s: %s", path, err.msg);
  else
    f->taken = true; /* a failure is tried again on the next scan */
  cJSON_Delete(in);
  sw_free(path);
}

static void scan(sw_server *s)
{
  DIR *d = opendir(s->inbox);
  struct dirent *de;
  struct stat st;
  srv_file *f, **pp;
  char *path;

  if (!d) {
    sw_log(SW_LOG_ERROR, "inbox %s: cannot read it", s->inbox);
    return;
  }
  for (f = s->files; f; f = f->next)
    f->present = false;
  while ((de = readdir(d))) {
    long long mt;
    if (de->d_name[0] == '.')
      continue;
    path = sw_asprintf("%s/%s", s->inbox, de->d_name);
    if (stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
      sw_free(path);
      continue;
    }
    sw_free(path);
    mt = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    f = file_find(s, de->d_name);
    if (!f) {
      f = sw_calloc(1, sizeof(*f));
      f->name = sw_strdup(de->d_name);
      f->size = (long long)st.st_size;
      f->mtime_ns = mt;
      f->next = s->files;
      s->files = f;
    } else if (f->size != (long long)st.st_size || f->mtime_ns != mt) {
      /* changed (or replaced): wait for it to settle again */
      f->size = (long long)st.st_size;
      f->mtime_ns = mt;
      f->seen = 0;
      f->taken = false;
    } else {
      f->seen++;
    }
    f->present = true;
  }
  closedir(d);
  /* Forget files that left (archived by their execution). */
  for (pp = &s->files; (f = *pp);) {
    if (!f->present) {
      *pp = f->next;
      sw_free(f->name);
      sw_free(f);
    } else {
      pp = &f->next;
    }
  }
  for (f = s->files; f; f = f->next)
    if (!f->taken && f->seen >= 1)
      take(s, f);
  if (srv_queue_commit(s, NULL) < 0) /* nothing taken is on disk */
    for (f = s->files; f; f = f->next)
      f->taken = false;
}

static void on_tick(uv_timer_t *t) { scan(t->data); }

static void on_change(uv_fs_event_t *h, const char *filename, int events,
                      int status)
{
  sw_server *s = h->data;

  (void)filename;
  (void)events;
  (void)status;
  /* Scan a little later: a burst of events becomes one scan, and the
   * regular cadence still decides when a file has settled. */
  if (uv_timer_get_due_in(&s->inbox_timer) > 50)
    uv_timer_start(&s->inbox_timer, on_tick, 50, (uint64_t)s->settle_ms);
}

int srv_inbox_start(sw_server *s, const char *dir, sw_err *err)
{
  struct stat st;
  int rc;

  if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
    return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                      "inbox %s: expected an existing directory", dir);
  s->inbox = sw_strdup(dir);
  uv_fs_event_init(s->loop, &s->inbox_ev);
  uv_timer_init(s->loop, &s->inbox_timer);
  s->inbox_ev.data = s;
  s->inbox_timer.data = s;
  s->inbox_handles = true;
  rc = uv_fs_event_start(&s->inbox_ev, on_change, dir, 0);
  if (rc < 0)
    sw_log(SW_LOG_WARN, "inbox %s: no change events (%s); scanning every "
                        "%d ms",
           dir, uv_strerror(rc), s->settle_ms);
  scan(s); /* files that arrived while no server ran */
  uv_timer_start(&s->inbox_timer, on_tick, (uint64_t)s->settle_ms,
                 (uint64_t)s->settle_ms);
  return 0;
}

static void on_closed(uv_handle_t *h) { srv_handle_closed(h->data); }

void srv_inbox_stop(sw_server *s)
{
  srv_file *f;

  if (s->inbox_handles) {
    s->inbox_handles = false;
    s->closing_handles += 2;
    uv_close((uv_handle_t *)&s->inbox_ev, on_closed);
    uv_close((uv_handle_t *)&s->inbox_timer, on_closed);
  }
  while ((f = s->files)) {
    s->files = f->next;
    sw_free(f->name);
    sw_free(f);
  }
  sw_free(s->inbox);
  s->inbox = NULL;
}
