#include "base/err.h"

#include <stdarg.h>
#include <stdio.h>

int err_set(cape_err *e, int code, const char *fmt, ...)
{
    if (!e || e->code)
        return code;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return code;
}

void err_clear(cape_err *e)
{
    e->code = 0;
    e->msg[0] = 0;
}
