#include "base/json.h"
#include "base/text.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"

json_t *json_num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

char *json_emit_string(const json_t *root, size_t *len)
{
    char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    if (!s)
        return NULL;
    size_t n = strlen(s);
    char *t = realloc(s, n + 2);
    if (!t) {
        free(s);
        return NULL;
    }
    t[n] = '\n';
    t[n + 1] = 0;
    if (len)
        *len = n + 1;
    return t;
}

int json_emit(json_t *root, const char *path, cape_err *e)
{
    size_t n;
    char *s = json_emit_string(root, &n);
    json_decref(root);
    if (!s)
        return err_set(e, CAPE_EFAIL, "cannot serialise JSON");
    int rc = 0;
    if (!path || strcmp(path, "-") == 0)
        fputs(s, stdout);
    else
        rc = file_write_atomic(path, s, n, e);
    free(s);
    return rc;
}

int json_err_set(cape_err *e, const char *path, int line, const json_error_t *je)
{
    const char *text = je->text;
    if (strstr(text, "JSON_ALLOW_NUL"))
        text = "a string contains \\u0000 (NUL), which cape does not accept";
    else if (strstr(text, "NUL byte in object key"))
        text = "a key contains \\u0000 (NUL), which cape does not accept";
    else if (strncmp(text, "unable to open ", 15) == 0 && strchr(text, ':'))
        text = strrchr(text, ':') + 2; /* "unable to open PATH: why": the path comes first */
    if (line <= 0)
        line = je->line;
    if (line > 0 && je->column > 0)
        return err_set(e, CAPE_EINPUT, "%s:%d:%d: %s", path, line, je->column, text);
    if (line > 0)
        return err_set(e, CAPE_EINPUT, "%s:%d: %s", path, line, text);
    return err_set(e, CAPE_EINPUT, "%s: %s", path, text);
}

json_t *json_text(const char *s)
{
    if (!s)
        return json_null();
    json_t *j = json_string(s);
    if (j)
        return j;
    char *clean = text_utf8_copy(s);
    j = clean ? json_string(clean) : NULL;
    free(clean);
    return j ? j : json_null();
}
