/* SPDX-License-Identifier: MIT */
/* stepwise: the command-line entry point; everything else is in cmd_*.c. */
#include "cli/cli.h"

int main(int argc, char **argv) { return sw_cli_main(argc, argv); }
