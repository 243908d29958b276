/* SPDX-License-Identifier: MIT */
/* bench/run_unpack driver: sw_unpack DEST PART... through src/archive. */
#include <stdio.h>

#include "archive/archive.h"

int main(int argc, char **argv)
{
  sw_archive_opts o = {0};
  sw_archive_stats st;
  sw_err err = SW_ERR_INIT;

  if (argc < 3) {
    fprintf(stderr, "usage: sw_bench_unpack DEST PART...\n");
    return 2;
  }
  o.dest_dir = argv[1];
  o.parts = (const char *const *)(argv + 2);
  o.n_parts = (size_t)(argc - 2);
  if (sw_archive_unpack(&o, &st, &err) < 0) {
    fprintf(stderr, "sw_bench_unpack: %s\n", err.msg);
    return 1;
  }
  printf("%llu entries, %llu bytes in, %llu bytes out\n",
         (unsigned long long)st.entries, (unsigned long long)st.bytes_in,
         (unsigned long long)st.bytes_out);
  return 0;
}
