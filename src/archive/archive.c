/* SPDX-License-Identifier: MIT */
/* archive: libarchive reader over a list of part files (see archive.h).
 * The reader callback hands libarchive one 1 MiB buffer at a time from
 * the current part and moves to the next part at its end; libarchive's
 * gzip filter sees one continuous stream. */
#include "archive/archive.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#define READ_CHUNK (1024 * 1024)
#define DEFAULT_MAX_ENTRY (4ULL << 30)
#define DEFAULT_MAX_TOTAL (64ULL << 30)

typedef struct reader {
  const char *const *parts;
  size_t n_parts;
  size_t cur;      /* index of the open part */
  int fd;          /* -1 when none is open */
  char *buf;       /* READ_CHUNK bytes; owned */
  uint64_t bytes_in;
  sw_err err;      /* why the reader failed, if it did */
} reader;

static int open_part(reader *r)
{
  r->fd = open(r->parts[r->cur], O_RDONLY | O_CLOEXEC);
  if (r->fd < 0) {
    int e = errno;
    sw_err_set(&r->err, e == ENOENT ? SW_ENOTFOUND : SW_EIO, SW_ORIGIN_OS,
               e, "cannot open part %zu '%s': %s", r->cur + 1,
               r->parts[r->cur], e == ENOENT ? "no such file" : "I/O error");
    return -1;
  }
  return 0;
}

static la_ssize_t on_read(struct archive *a, void *data, const void **out)
{
  reader *r = data;
  ssize_t n;

  (void)a;
  for (;;) {
    if (r->cur >= r->n_parts)
      return 0; /* end of the last part */
    if (r->fd < 0 && open_part(r) < 0)
      return -1;
    n = read(r->fd, r->buf, READ_CHUNK);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      sw_err_set(&r->err, SW_EIO, SW_ORIGIN_OS, errno,
                 "cannot read part %zu '%s'", r->cur + 1, r->parts[r->cur]);
      return -1;
    }
    if (n > 0) {
      r->bytes_in += (uint64_t)n;
      *out = r->buf;
      return n;
    }
    close(r->fd); /* this part is done: go on with the next one */
    r->fd = -1;
    r->cur++;
  }
}

static int on_close(struct archive *a, void *data)
{
  reader *r = data;

  (void)a;
  if (r->fd >= 0)
    close(r->fd);
  r->fd = -1;
  return ARCHIVE_OK;
}

/* 0 when `path` is a safe relative path: not empty, not absolute, no ".."
 * component, no backslash tricks. */
static int check_path(const char *path, sw_err *err)
{
  const char *p = path, *e;
  size_t n;

  if (!path || !*path)
    return sw_err_set(err, SW_EINVAL, SW_ORIGIN_ARCHIVE, 0,
                      "archive entry with an empty name refused");
  if (path[0] == '/')
    return sw_err_set(err, SW_EINVAL, SW_ORIGIN_ARCHIVE, 0,
                      "archive entry '%s' refused: absolute path", path);
  while (*p) {
    e = strchr(p, '/');
    n = e ? (size_t)(e - p) : strlen(p);
    if (n == 2 && p[0] == '.' && p[1] == '.')
      return sw_err_set(err, SW_EINVAL, SW_ORIGIN_ARCHIVE, 0,
                        "archive entry '%s' refused: '..' in its path",
                        path);
    if (!e)
      break;
    p = e + 1;
  }
  return 0;
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

/* Make the parent directories of dest/rel. */
static int make_parents(const char *full, sw_err *err)
{
  char *dir = sw_strdup(full);
  char *slash = strrchr(dir, '/');
  int rc = 0;

  if (slash) {
    *slash = '\0';
    rc = sw_mkdirs(dir, err);
  }
  sw_free(dir);
  return rc;
}

static int extract_entry(struct archive *a, struct archive_entry *ent,
                         const sw_archive_opts *o, uint64_t max_entry,
                         uint64_t max_total, sw_archive_stats *st,
                         sw_err *err)
{
  const char *path = archive_entry_pathname(ent);
  mode_t type = archive_entry_filetype(ent);
  char *full = NULL;
  const void *blk;
  size_t len;
  la_int64_t off;
  uint64_t written = 0;
  int fd = -1, rc, r;

  rc = check_path(path, err);
  if (rc < 0)
    return rc;
  if (archive_entry_hardlink(ent) || archive_entry_symlink(ent) ||
      (type != AE_IFREG && type != AE_IFDIR))
    return sw_err_set(err, SW_EINVAL, SW_ORIGIN_ARCHIVE, 0,
                      "archive entry '%s' refused: only regular files and "
                      "directories are unpacked (links, devices refused)",
                      path);
  if (archive_entry_size_is_set(ent) &&
      (uint64_t)archive_entry_size(ent) > max_entry)
    return sw_err_set(err, SW_ELIMIT, SW_ORIGIN_ARCHIVE, 0,
                      "archive entry '%s' refused: %lld bytes is more than "
                      "the bound of %llu", path,
                      (long long)archive_entry_size(ent),
                      (unsigned long long)max_entry);
  full = sw_asprintf("%s/%s", o->dest_dir, path);
  if (type == AE_IFDIR) {
    rc = sw_mkdirs(full, err);
    goto done;
  }
  rc = make_parents(full, err);
  if (rc < 0)
    goto done;
  fd = open(full, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
            0644);
  if (fd < 0) {
    rc = sw_err_set(err, errno == EEXIST ? SW_EINVAL : SW_EIO, SW_ORIGIN_OS,
                    errno, "cannot create '%s'%s", full,
                    errno == EEXIST ? ": the archive holds it twice or the "
                                      "directory was not empty" : "");
    goto done;
  }
  for (;;) {
    r = archive_read_data_block(a, &blk, &len, &off);
    if (r == ARCHIVE_EOF)
      break;
    if (r < ARCHIVE_WARN) {
      rc = sw_err_set(err, SW_EINVAL, SW_ORIGIN_ARCHIVE,
                      archive_errno(a), "reading entry '%s': %s", path,
                      archive_error_string(a) ? archive_error_string(a)
                                              : "corrupt archive");
      goto done;
    }
    written += len;
    if (written > max_entry || st->bytes_out + len > max_total) {
      rc = sw_err_set(err, SW_ELIMIT, SW_ORIGIN_ARCHIVE, 0,
                      "archive entry '%s' refused: larger than the bound "
                      "of %llu bytes", path,
                      (unsigned long long)(written > max_entry ? max_entry
                                                               : max_total));
      goto done;
    }
    /* tar entries are written sequentially; sparse offsets would need
     * lseek, which we do not support (Direct Data has none). */
    if (write_all(fd, blk, len) < 0) {
      rc = sw_err_set(err, SW_EIO, SW_ORIGIN_OS, errno,
                      "cannot write '%s'", full);
      goto done;
    }
    st->bytes_out += len;
  }
  st->entries++;
done:
  if (fd >= 0 && close(fd) < 0 && rc == 0)
    rc = sw_err_set(err, SW_EIO, SW_ORIGIN_OS, errno, "cannot close '%s'",
                    full);
  sw_free(full);
  return rc;
}

int sw_archive_unpack(const sw_archive_opts *o, sw_archive_stats *stats_out,
                      sw_err *err)
{
  sw_archive_stats st = {0, 0, 0};
  reader rd;
  struct archive *a = NULL;
  struct archive_entry *ent;
  uint64_t max_entry, max_total;
  int rc = 0, r;

  memset(&rd, 0, sizeof(rd));
  rd.fd = -1;
  if (!o || !o->parts || o->n_parts == 0 || !o->dest_dir)
    return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                      "archive unpack: no parts or no destination");
  max_entry = o->max_entry_bytes ? o->max_entry_bytes : DEFAULT_MAX_ENTRY;
  max_total = o->max_total_bytes ? o->max_total_bytes : DEFAULT_MAX_TOTAL;
  rc = sw_mkdirs(o->dest_dir, err);
  if (rc < 0)
    goto done;
  rd.parts = o->parts;
  rd.n_parts = o->n_parts;
  rd.buf = sw_malloc(READ_CHUNK);
  a = archive_read_new();
  if (!a) {
    rc = sw_err_set(err, SW_ENOMEM, SW_ORIGIN_ARCHIVE, 0,
                    "archive_read_new failed");
    goto done;
  }
  archive_read_support_filter_all(a);
  archive_read_support_format_tar(a);
  archive_read_support_format_zip(a);
  if (archive_read_open(a, &rd, NULL, on_read, on_close) != ARCHIVE_OK) {
    rc = -1;
    goto arc_err;
  }
  for (;;) {
    r = archive_read_next_header(a, &ent);
    if (r == ARCHIVE_EOF)
      break;
    if (r < ARCHIVE_WARN) {
      rc = -1;
      goto arc_err;
    }
    rc = extract_entry(a, ent, o, max_entry, max_total, &st, err);
    if (rc < 0)
      goto done;
  }
  goto done;
arc_err:
  if (rd.err.code < 0) {
    if (err)
      *err = rd.err;
    rc = rd.err.code;
  } else {
    rc = sw_err_set(err, SW_EINVAL, SW_ORIGIN_ARCHIVE, archive_errno(a),
                    "corrupt or truncated archive '%s'%s: %s", o->parts[0],
                    o->n_parts > 1 ? " (and its parts)" : "",
                    archive_error_string(a) ? archive_error_string(a)
                                            : "unreadable");
  }
done:
  if (a)
    archive_read_free(a);
  else
    on_close(NULL, &rd);
  sw_free(rd.buf);
  st.bytes_in = rd.bytes_in;
  if (stats_out)
    *stats_out = st;
  return rc;
}

/* ---- asynchronous wrapper ---------------------------------------------- */

typedef struct job {
  uv_work_t work;           /* embedded; the job is freed in after_work */
  sw_archive_opts opts;     /* parts/dest copied: the job owns them */
  char **parts;
  sw_archive_stats stats;
  sw_err err;
  int rc;
  sw_archive_cb cb;
  void *payload;
} job;

static void unpack_work(uv_work_t *w)
{
  job *j = SW_CONTAINER_OF(w, job, work);

  j->rc = sw_archive_unpack(&j->opts, &j->stats, &j->err);
}

static void unpack_after(uv_work_t *w, int status)
{
  job *j = SW_CONTAINER_OF(w, job, work);
  size_t i;

  if (status < 0 && j->rc == 0)
    j->rc = sw_err_set(&j->err, SW_ECANCELED, SW_ORIGIN_UV, status,
                       "unpack cancelled");
  j->cb(j->rc < 0 ? &j->err : NULL, &j->stats, j->payload);
  for (i = 0; i < j->opts.n_parts; i++)
    sw_free(j->parts[i]);
  sw_free(j->parts);
  sw_free((char *)j->opts.dest_dir);
  sw_free(j);
}

int sw_archive_unpack_async(uv_loop_t *loop, const sw_archive_opts *o,
                            sw_archive_cb cb, void *payload, sw_err *err)
{
  job *j;
  size_t i;

  if (!o || !o->parts || o->n_parts == 0 || !o->dest_dir || !cb)
    return sw_err_set(err, SW_EINVAL, SW_ORIGIN_NONE, 0,
                      "archive unpack: no parts or no destination");
  j = sw_calloc(1, sizeof(*j));
  j->parts = sw_calloc(o->n_parts, sizeof(char *));
  for (i = 0; i < o->n_parts; i++)
    j->parts[i] = sw_strdup(o->parts[i]);
  j->opts = *o;
  j->opts.parts = (const char *const *)j->parts;
  j->opts.dest_dir = sw_strdup(o->dest_dir);
  j->cb = cb;
  j->payload = payload;
  uv_queue_work(loop, &j->work, unpack_work, unpack_after);
  return 0;
}
