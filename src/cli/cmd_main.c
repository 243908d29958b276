/* SPDX-License-Identifier: MIT */
#include "cli/cli.h"
#include <stdio.h>
int sw_cli_main(int argc, char **argv)
{
  (void)argc; (void)argv;
  fprintf(stderr, "stepwise: not built yet\n");
  return 2;
}
