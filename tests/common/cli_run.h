/* cli_run.h — running the vlkit binary from end-to-end tests. */
#ifndef VLKIT_TESTS_CLI_RUN_H
#define VLKIT_TESTS_CLI_RUN_H

/* $VLKIT_BIN (set by `make check-cli`), else build/vlkit. */
const char *vlkit(void);
/* Run a shell command; its stdout goes to *out (malloc'd; out may be NULL to discard it).
 * Returns the exit status (-1 when it did not exit normally). */
int run(const char *cmd, char **out);

#endif
