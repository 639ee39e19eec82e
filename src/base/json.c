#include "base/json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"

json_t *json_num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

int json_emit(json_t *root, const char *path, cape_err *e)
{
    char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    json_decref(root);
    if (!s)
        return err_set(e, CAPE_EFAIL, "cannot serialise JSON");
    int rc = 0;
    size_t n = strlen(s);
    if (!path || strcmp(path, "-") == 0) {
        fputs(s, stdout);
        fputc('\n', stdout);
    } else {
        s[n] = '\n';
        rc = file_write_atomic(path, s, n + 1, e);
    }
    free(s);
    return rc;
}
