/* cli: shared pieces of the subcommands: the command table, usage errors,
 * option parsing helpers and where the bundled data lives. */
#ifndef CAPE_CLI_H
#define CAPE_CLI_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "base/err.h"
#include "base/version.h"
#include "model/model.h"
#include "model/tok.h"
#include "phase/scores.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} cli_command;

/* Prints "cape CMD: message" and a hint to run --help; returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "cape: message" for a library error and returns its exit code. */
int cli_report(const cape_err *e);
/* Prints the tokenizer's note about its file (a missing tokenizer.ggml.pre), if any. */
void cli_tok_warning(const tok *t);

int cli_parse_double(const char *cmd, const char *opt, const char *s, double *out);
/* --family A,B,...: appends each name (strdup'ed into buf, pointed to by
 * names) after the *n already given, at most max in all; a usage error
 * (exit 2) beyond that. */
int cli_parse_families(const char *cmd, const char *arg, char **buf, const char **names, int *n,
                       int max);
int cli_parse_int(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out);
/* --kv f32|f16 */
int cli_parse_kv(const char *cmd, const char *s, model_kv_type *out);

/* Directory of the bundled data: $CAPE_DATA, else a data/ directory found
 * next to or above the executable, else the install location. */
const char *cli_data_dir(void);

/* Progress bar for long work, drawn on stderr only when it is a terminal;
 * cli_progress_cb matches the library's (user, done, total) callbacks. */
typedef struct {
    const char *label;
    double start, last_draw;
    int tty;
} cli_progress;
void cli_progress_init(cli_progress *p, const char *label);
void cli_progress_cb(void *user, long done, long total);

int cmd_diagnose(int argc, char **argv);
int cmd_probe(int argc, char **argv);
int cmd_steer(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_ode(int argc, char **argv);
int cmd_frontier(int argc, char **argv);
int cmd_eigen(int argc, char **argv);
int cmd_advise(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_falsify(int argc, char **argv);
int cmd_serve(int argc, char **argv);

/* Output of a command: text to stdout, or collected and written atomically
 * to a file; --json output goes through json_emit. */
typedef struct {
    const char *path; /* NULL: stdout */
    int json;
    FILE *fp;         /* text output */
    char *buf;
    size_t len;
} cli_out;

int cli_out_open(cli_out *o, const char *path, int json);
/* Emits root (stolen; NULL for text output) or the text; returns the exit code. */
int cli_out_close(cli_out *o, json_t *root);
void cli_out_abort(cli_out *o);
/* The JSON document of an analysis command: cape_version, command, table
 * (left out when NULL), then the keys of body (stolen). */
json_t *cli_json_doc(const char *command, const char *table, json_t *body);

int cli_parse_bench(const char *cmd, const char *opt, const char *s, bench_id *out);
int cli_parse_bench_list(const char *cmd, const char *opt, const char *s, bench_id *out, int max,
                         int *n);
/* Path of a bundled file, relative to the data directory. */
const char *cli_bundled(const char *rel, char *buf, size_t n);
/* Reads a score table; prints the one-line error and returns 2 on failure.
 * shown: the name used in messages (NULL: path). */
int cli_read_table(const char *path, const char *shown, int allow_extra, scores_table *t);
/* The table named on the command line (arg), or else the bundled default_rel
 * (relative to the data directory, named data/<default_rel> in messages);
 * t->path holds the name shown. Prints the error and returns 2 on failure. */
int cli_read_table_arg(const char *arg, const char *default_rel, int allow_extra, scores_table *t);
/* The same with the table options of the command line (--scale, --sep,
 * --family-from-name; see cli_table_option). Notes on how the table was read
 * (scores converted from fractions, families inferred) go to stderr. */
int cli_read_table_opt(const char *path, const char *shown, const scores_options *so,
                       scores_table *t);
int cli_read_table_arg_opt(const char *arg, const char *default_rel, const scores_options *so,
                           scores_table *t);
void cli_table_notes(const scores_table *t);
/* Options every command that reads a score table accepts. */
enum { CLI_OPT_SCALE = 900, CLI_OPT_SEP, CLI_OPT_FAMILY_FROM_NAME };
#define CLI_TABLE_LONGOPTS                                                                         \
    {"scale", 1, 0, CLI_OPT_SCALE}, {"sep", 1, 0, CLI_OPT_SEP},                                   \
        {"family-from-name", 1, 0, CLI_OPT_FAMILY_FROM_NAME}
#define CLI_TABLE_HELP                                                                             \
    "  --scale S            scores are percent | fraction (default: fractions when every\n"       \
    "                       score of the table lies in [0, 1], then multiplied by 100)\n"         \
    "  --sep C              field separator: comma, tab, semicolon (default: sniffed)\n"          \
    "  --family-from-name on|off  without a family column, infer families from model\n"           \
    "                       names (on; docs/FORMATS.md)\n"
/* Handles CLI_OPT_* into so; returns 0 or the usage error's exit code. */
int cli_table_option(const char *cmd, int opt, const char *arg, scores_options *so);
/* "%.4f"-style formatting that prints n/a for NaN and infinities. */
void cli_fmt(char *buf, size_t n, const char *fmt, double v);
void cli_fmt_size(char *buf, size_t n, double v);
int cmd_train(int argc, char **argv);
int cmd_forget(int argc, char **argv);
int cmd_unlearn(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
/* the unlearn subcommands (cmd_unlearn.c dispatches) */
int cmd_unlearn_eval(int argc, char **argv);
int cmd_unlearn_run(int argc, char **argv);
int cmd_unlearn_attack(int argc, char **argv);
int cmd_filter(int argc, char **argv);
int cmd_unlearn_attack_icl(int argc, char **argv);

#endif
