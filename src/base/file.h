/* file: whole-file reads and atomic writes (temp file in the same directory,
 * fsync, rename), so a reader never sees a half-written file and a crash
 * never destroys the previous version. */
#ifndef CAPE_FILE_H
#define CAPE_FILE_H

#include <stdio.h>
#include <stddef.h>

#include "base/err.h"

/* Reads the whole file (NUL-terminated for convenience; *len excludes it). */
char *file_read_all(const char *path, size_t *len, cape_err *e);

typedef struct {
    FILE *fp;
    char *path;
    char *tmp;
} file_atomic;

int file_atomic_open(file_atomic *f, const char *path, cape_err *e);
/* Flushes, fsyncs and renames over the target; on any write error the temp
 * file is removed and the target left untouched. */
int file_atomic_commit(file_atomic *f, cape_err *e);
void file_atomic_abort(file_atomic *f);
int file_write_atomic(const char *path, const void *data, size_t len, cape_err *e);

#endif
