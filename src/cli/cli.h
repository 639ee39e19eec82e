/* cli: shared pieces of the subcommands: the command table, usage errors,
 * option parsing helpers and where the bundled data lives. */
#ifndef CAPE_CLI_H
#define CAPE_CLI_H

#include <stdint.h>

#include "base/err.h"

#define CAPE_VERSION "0.1.0"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} cli_command;

/* Prints "cape CMD: message" and a hint to run --help; returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "cape: message" for a library error and returns its exit code. */
int cli_report(const cape_err *e);

int cli_parse_double(const char *cmd, const char *opt, const char *s, double *out);
int cli_parse_int(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out);

/* Directory of the bundled data: $CAPE_DATA, else a data/ directory found
 * next to or above the executable, else the install location. */
const char *cli_data_dir(void);

int cmd_diagnose(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);

#endif
