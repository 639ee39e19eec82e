/* Helpers shared by the analysis commands: output to stdout or atomically to
 * a file, benchmark lists, score tables and the bundled data. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/json.h"
#include "base/text.h"
#include "cli/cli.h"
#include "phase/analysis.h"

int cli_out_open(cli_out *o, const char *path, int json)
{
    memset(o, 0, sizeof *o);
    o->path = path && strcmp(path, "-") != 0 ? path : NULL;
    o->json = json;
    /* refuse a device, directory, FIFO or socket before the work is done */
    cape_err e = {0};
    if (o->path && file_check_output(o->path, &e))
        return cli_report(&e);
    if (json)
        return 0;
    o->fp = o->path ? open_memstream(&o->buf, &o->len) : stdout;
    if (!o->fp) {
        fprintf(stderr, "cape: cannot allocate the output buffer\n");
        return CAPE_EFAIL;
    }
    return 0;
}

int cli_out_close(cli_out *o, json_t *root)
{
    cape_err e = {0};
    int rc = 0;
    if (o->json) {
        if (root && json_emit(root, o->path, &e))
            rc = cli_report(&e);
        return rc;
    }
    json_decref(root);
    if (o->fp && o->fp != stdout) {
        fclose(o->fp);
        if (file_write_atomic(o->path, o->buf, o->len, &e))
            rc = cli_report(&e);
        free(o->buf);
    }
    o->fp = NULL;
    return rc;
}

json_t *cli_json_doc(const char *command, const char *table, json_t *body)
{
    return analysis_doc(command, table, body);
}

void cli_out_abort(cli_out *o)
{
    if (o->fp && o->fp != stdout) {
        fclose(o->fp);
        free(o->buf);
    }
    o->fp = NULL;
}

int cli_parse_bench(const char *cmd, const char *opt, const char *s, bench_id *out)
{
    int b = scores_bench_lookup(s);
    if (b < 0)
        return cli_usage_error(cmd, "%s: unknown benchmark '%s'", opt, s);
    *out = (bench_id)b;
    return 0;
}

int cli_parse_bench_list(const char *cmd, const char *opt, const char *s, bench_id *out, int max,
                         int *n)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", s);
    *n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (*n >= max)
            return cli_usage_error(cmd, "%s: at most %d benchmarks", opt, max);
        int rc = cli_parse_bench(cmd, opt, tok, &out[*n]);
        if (rc)
            return rc;
        for (int k = 0; k < *n; k++)
            if (out[k] == out[*n])
                return cli_usage_error(cmd, "%s: '%s' is listed twice", opt, tok);
        (*n)++;
    }
    if (*n == 0)
        return cli_usage_error(cmd, "%s needs at least one benchmark", opt);
    return 0;
}

const char *cli_bundled(const char *rel, char *buf, size_t n)
{
    snprintf(buf, n, "%s/%s", cli_data_dir(), rel);
    return buf;
}

int cli_read_table_opt(const char *path, const char *shown, const scores_options *so,
                       scores_table *t)
{
    cape_err e = {0};
    size_t len;
    char *buf = file_read_all(path, &len, &e);
    if (!buf)
        return cli_report(&e);
    int rc = scores_parse(buf, len, shown ? shown : path, so, t, &e);
    free(buf);
    if (rc)
        return cli_report(&e);
    cli_table_notes(t);
    return 0;
}

int cli_read_table(const char *path, const char *shown, int allow_extra, scores_table *t)
{
    scores_options so = {.allow_unknown_columns = allow_extra};
    return cli_read_table_opt(path, shown, &so, t);
}

int cli_read_table_arg_opt(const char *arg, const char *default_rel, const scores_options *so,
                           scores_table *t)
{
    if (arg)
        return cli_read_table_opt(arg, arg, so, t);
    char path[4096], shown[512];
    snprintf(shown, sizeof shown, "data/%s", default_rel);
    scores_options def = {.allow_unknown_columns = so ? so->allow_unknown_columns : 0};
    return cli_read_table_opt(cli_bundled(default_rel, path, sizeof path), shown, &def, t);
}

int cli_read_table_arg(const char *arg, const char *default_rel, int allow_extra, scores_table *t)
{
    scores_options so = {.allow_unknown_columns = allow_extra};
    return cli_read_table_arg_opt(arg, default_rel, &so, t);
}

void cli_table_notes(const scores_table *t)
{
    if (t->nscaled) {
        fprintf(stderr, "cape: note: %s: scores read as fractions and multiplied by 100 (",
                t->path);
        for (int b = 0, k = 0; b < BENCH_COUNT; b++)
            if (t->scaled[b])
                fprintf(stderr, "%s%s", k++ ? ", " : "", scores_bench_info((bench_id)b)->key);
        fprintf(stderr, "); --scale percent reads them as they are\n");
    }
    if (t->families_inferred > 1) {
        fprintf(stderr, "cape: note: %s: no family column; %d families inferred from the model "
                        "names:",
                t->path, t->families_inferred);
        for (int i = 0, shown = 0; i < t->n; i++) {
            int seen = 0, n = 0;
            for (int k = 0; k < i && !seen; k++)
                seen = strcmp(t->model[k].family, t->model[i].family) == 0;
            if (seen)
                continue;
            for (int k = i; k < t->n; k++)
                n += strcmp(t->model[k].family, t->model[i].family) == 0;
            fprintf(stderr, " %s (%d)%s", t->model[i].family, n,
                    ++shown < t->families_inferred ? "," : "");
        }
        fprintf(stderr, "; --family-from-name off keeps one family\n");
    }
}

int cli_table_option(const char *cmd, int opt, const char *arg, scores_options *so)
{
    switch (opt) {
    case CLI_OPT_SCALE:
        if (strcmp(arg, "percent") == 0)
            so->scale = SCORES_SCALE_PERCENT;
        else if (strcmp(arg, "fraction") == 0)
            so->scale = SCORES_SCALE_FRACTION;
        else if (strcmp(arg, "auto") == 0)
            so->scale = SCORES_SCALE_AUTO;
        else
            return cli_usage_error(cmd, "--scale expects percent, fraction or auto, got '%s'", arg);
        return 0;
    case CLI_OPT_SEP:
        if (strcmp(arg, ",") == 0 || strcmp(arg, "comma") == 0)
            so->sep = ',';
        else if (strcmp(arg, "\t") == 0 || strcmp(arg, "\\t") == 0 || strcmp(arg, "tab") == 0)
            so->sep = '\t';
        else if (strcmp(arg, ";") == 0 || strcmp(arg, "semicolon") == 0)
            so->sep = ';';
        else
            return cli_usage_error(cmd, "--sep expects comma, tab or semicolon, got '%s'", arg);
        return 0;
    case CLI_OPT_FAMILY_FROM_NAME:
        if (strcmp(arg, "on") == 0)
            so->no_family_from_name = 0;
        else if (strcmp(arg, "off") == 0)
            so->no_family_from_name = 1;
        else
            return cli_usage_error(cmd, "--family-from-name expects on or off, got '%s'", arg);
        return 0;
    default: return cli_usage_error(cmd, "unknown table option");
    }
}

void cli_fmt(char *buf, size_t n, const char *fmt, double v)
{
    if (isfinite(v))
        snprintf(buf, n, fmt, v);
    else
        snprintf(buf, n, "n/a");
}

void cli_fmt_size(char *buf, size_t n, double v)
{
    if (isfinite(v) && v > 0)
        text_format_size(v, buf, n);
    else
        snprintf(buf, n, "n/a");
}
