/* SPDX-License-Identifier: MIT */
/* Small synchronous file helpers for start-up work (definitions, scripts). */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <uv.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int sw_file_read(char **out, size_t *len_out, const char *path, size_t max,
                 sw_err *err)
{
  FILE *f = NULL;
  sw_buf b = SW_BUF_INIT(max);
  char chunk[65536];
  size_t n;
  int rc = 0;

  *out = NULL;
  f = fopen(path, "rb");
  if (!f) {
    int e = errno;
    return sw_err_set(err, e == ENOENT ? SW_ENOTFOUND : SW_EIO, SW_ORIGIN_OS,
                      e, "%s: cannot open: %s", path,
                      e == ENOENT ? "no such file" : "I/O error");
  }
  while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
    rc = sw_buf_put(&b, chunk, n, err);
    if (rc < 0) {
      sw_err_set(err, SW_ELIMIT, SW_ORIGIN_NONE, 0,
                 "%s: larger than %zu bytes", path, max);
      goto done;
    }
  }
  if (ferror(f)) {
    rc = sw_err_set(err, SW_EIO, SW_ORIGIN_OS, errno, "%s: read error", path);
    goto done;
  }
  if (len_out)
    *len_out = b.len;
  *out = sw_buf_detach(&b);
done:
  sw_buf_dispose(&b);
  fclose(f);
  return rc;
}

int sw_mkdirs(const char *path, sw_err *err)
{
  char *p = sw_strdup(path);
  char *s;
  int rc = 0;

  for (s = p + 1; *s; s++) {
    if (*s != '/')
      continue;
    *s = '\0';
    if (mkdir(p, 0755) < 0 && errno != EEXIST) {
      rc = sw_err_set(err, SW_EIO, SW_ORIGIN_OS, errno,
                      "%s: cannot create directory", p);
      goto done;
    }
    *s = '/';
  }
  if (mkdir(p, 0755) < 0 && errno != EEXIST)
    rc = sw_err_set(err, SW_EIO, SW_ORIGIN_OS, errno,
                    "%s: cannot create directory", p);
done:
  sw_free(p);
  return rc;
}

bool sw_file_exists(const char *path)
{
  struct stat st;
  return stat(path, &st) == 0;
}

int sw_file_lock(const char *path, int *fd_out, sw_err *err)
{
  struct flock fl;
  int fd, e;

  *fd_out = -1;
  fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return sw_err_set(err, SW_EIO, SW_ORIGIN_OS, errno,
                      "%s: cannot create the lock file: %s", path,
                      uv_strerror(uv_translate_sys_error(errno)));
  memset(&fl, 0, sizeof(fl));
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  if (fcntl(fd, F_SETLK, &fl) < 0) {
    e = errno;
    close(fd);
    if (e == EACCES || e == EAGAIN)
      return sw_err_set(err, SW_EAGAIN, SW_ORIGIN_OS, e,
                        "%s is locked by another process", path);
    return sw_err_set(err, SW_EIO, SW_ORIGIN_OS, e, "%s: cannot lock: %s",
                      path, uv_strerror(uv_translate_sys_error(e)));
  }
  *fd_out = fd;
  return 0;
}

int sw_fsync_close(int fd)
{
  int rc = fsync(fd), e = errno;

  if (close(fd) < 0 && rc == 0)
    return -1;
  if (rc < 0)
    errno = e;
  return rc;
}
