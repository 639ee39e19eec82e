/* err: errors travel as values. A library function that can fail takes a
 * cape_err* and returns 0 on success or a nonzero exit code (the process exit
 * status the CLI should use) after filling in a one-line message. */
#ifndef CAPE_ERR_H
#define CAPE_ERR_H

enum {
    CAPE_OK = 0,
    CAPE_EFAIL = 1,  /* a check failed, or a computation could not be done */
    CAPE_EINPUT = 2, /* bad usage or bad input */
};

typedef struct {
    int code;
    char msg[1024];
} cape_err;

/* Records the first error only (later calls keep the original cause) and
 * returns `code`, so callers can write `return err_set(e, CAPE_EINPUT, ...)`. */
int err_set(cape_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void err_clear(cape_err *e);

#endif
