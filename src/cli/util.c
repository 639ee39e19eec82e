#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/text.h"
#include "cli/cli.h"

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "cape %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see 'cape %s --help')\n", cmd);
    return CAPE_EINPUT;
}

int cli_report(const cape_err *e)
{
    fprintf(stderr, "cape: %s\n", e->msg[0] ? e->msg : "unknown error");
    return e->code ? e->code : CAPE_EFAIL;
}

void cli_tok_warning(const tok *t)
{
    if (t && tok_warning(t)[0])
        fprintf(stderr, "cape: warning: %s\n", tok_warning(t));
}

int cli_parse_double(const char *cmd, const char *opt, const char *s, double *out)
{
    if (text_parse_double(s, out))
        return cli_usage_error(cmd, "%s expects a number, got '%s'", opt, s);
    return 0;
}

int cli_parse_int(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out)
{
    if (text_parse_int(s, out) || *out < lo || *out > hi)
        return cli_usage_error(cmd, "%s expects an integer in [%ld, %ld], got '%s'", opt, lo, hi,
                               s);
    return 0;
}

int cli_parse_kv(const char *cmd, const char *s, model_kv_type *out)
{
    if (strcmp(s, "f32") == 0)
        *out = MODEL_KV_F32;
    else if (strcmp(s, "f16") == 0)
        *out = MODEL_KV_F16;
    else
        return cli_usage_error(cmd, "--kv expects f32 or f16, got '%s'", s);
    return 0;
}

static int is_data_dir(const char *dir)
{
    char probe[PATH_MAX + 64];
    snprintf(probe, sizeof probe, "%s/benchmarks/base_models.csv", dir);
    return access(probe, R_OK) == 0;
}

const char *cli_data_dir(void)
{
    static char dir[PATH_MAX + 32];
    const char *env = getenv("CAPE_DATA");
    if (env && *env)
        return env;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        for (int up = 0; up < 5; up++) {
            char *slash = strrchr(exe, '/');
            if (!slash)
                break;
            *slash = 0;
            snprintf(dir, sizeof dir, "%s/data", exe);
            if (is_data_dir(dir))
                return dir;
            snprintf(dir, sizeof dir, "%s/share/cape/data", exe);
            if (is_data_dir(dir))
                return dir;
        }
    }
    return "data";
}

int cli_parse_families(const char *cmd, const char *arg, char **buf, const char **names, int *n,
                       int max)
{
    char *copy = strdup(arg);
    if (!copy)
        return cli_usage_error(cmd, "out of memory");
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (*n >= max) {
            free(copy);
            return cli_usage_error(cmd, "at most %d --family values", max);
        }
        if (!(buf[*n] = strdup(tok))) {
            free(copy);
            return cli_usage_error(cmd, "out of memory");
        }
        names[*n] = buf[*n];
        (*n)++;
    }
    free(copy);
    return 0;
}
