/* SPDX-License-Identifier: MIT */
/* sw_bench_copy URL FILE TABLE COLS...: bulk-load a CSV file (with a
 * header) through sw_warehouse_bulk_load and print "rows seconds". Used
 * by bench/run_copy. */
#include <stdio.h>
#include <stdlib.h>

#include "common/common.h"
#include "warehouse/warehouse.h"

static int file_read(void *payload, char *buf, size_t cap, size_t *n_out,
                     sw_err *err)
{
  FILE *f = payload;

  *n_out = fread(buf, 1, cap, f);
  if (*n_out == 0 && ferror(f))
    return sw_err_set(err, SW_EIO, SW_ORIGIN_OS, 0, "read error");
  return 0;
}

static bool done;
static int code;
static long long nrows;

static void on_load(const sw_err *err, long long rows, void *payload)
{
  (void)payload;
  done = true;
  nrows = rows;
  if (err) {
    code = err->code;
    fprintf(stderr, "load: %s\n", err->msg);
  }
}

static void on_closed(void *payload)
{
  *(bool *)payload = true;
}

int main(int argc, char **argv)
{
  uv_loop_t loop;
  sw_warehouse *wh = NULL;
  sw_err err = SW_ERR_INIT;
  sw_wh_bulk_load req;
  bool closed = false;
  uint64_t t0;
  FILE *f;

  if (argc < 5) {
    fprintf(stderr, "usage: sw_bench_copy URL FILE TABLE COL...\n");
    return 2;
  }
  f = fopen(argv[2], "rb");
  if (!f) {
    perror(argv[2]);
    return 1;
  }
  uv_loop_init(&loop);
  if (sw_warehouse_open(&wh, &loop, argv[1], ".", &err) < 0) {
    fprintf(stderr, "open: %s\n", err.msg);
    return 1;
  }
  req.table = argv[3];
  req.columns = (const char *const *)(argv + 4);
  req.n_columns = (size_t)(argc - 4);
  req.header = true;
  req.read = file_read;
  req.read_payload = f;
  t0 = uv_hrtime();
  if (sw_warehouse_bulk_load(wh, &req, on_load, NULL, &err) < 0) {
    fprintf(stderr, "bulk_load: %s\n", err.msg);
    return 1;
  }
  while (!done)
    uv_run(&loop, UV_RUN_ONCE);
  printf("%lld %.3f\n", nrows, (double)(uv_hrtime() - t0) / 1e9);
  sw_warehouse_close(wh, on_closed, &closed);
  while (!closed)
    uv_run(&loop, UV_RUN_ONCE);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  fclose(f);
  return code ? 1 : 0;
}
