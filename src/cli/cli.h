/* SPDX-License-Identifier: MIT */
/* cli: the stepwise command line (start, resume, status, list, history,
 * validate, exec). */
#ifndef SW_CLI_H
#define SW_CLI_H

/** Run the CLI. Returns the process exit code: 0 SUCCEEDED / ok, 1 FAILED
 * (or TIMED_OUT/ABORTED), 2 usage error or invalid definition/input. */
int sw_cli_main(int argc, char **argv);

#endif
