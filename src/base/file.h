/* file: whole-file reads and atomic writes (temp file in the same directory,
 * fsync, rename), so a reader never sees a half-written file and a crash
 * never destroys the previous version.
 *
 * Output paths: only a regular file is ever replaced. A directory, device,
 * FIFO or socket is refused (CAPE_EINPUT), before the temp file is created
 * and again before the rename. A symbolic link is written through: the temp
 * file goes beside the link's final target and the rename replaces the
 * target, so the link stays a link. The temp file PATH.tmp.XXXXXX is held
 * under an exclusive flock until the rename; a temp file of the same path
 * whose lock can be taken was left by a killed writer and is removed. */
#ifndef CAPE_FILE_H
#define CAPE_FILE_H

#include <stdio.h>
#include <stddef.h>

#include "base/err.h"

/* Reads the whole file (NUL-terminated for convenience; *len excludes it). */
char *file_read_all(const char *path, size_t *len, cape_err *e);

typedef struct {
    FILE *fp;
    char *path;  /* the file replaced (a symbolic link resolved) */
    char *shown; /* the path as given, for messages */
    char *tmp;
} file_atomic;

/* 0 when PATH may be written: absent, or a regular file (through links). */
int file_check_output(const char *path, cape_err *e);
/* Removes the temp files (NAME.tmp.XXXXXX) of dead writers in DIR; returns
 * how many. */
int file_remove_stale_temps(const char *dir);
/* Async-signal-safe: unlinks the temp files of writes in progress (for a
 * handler that then dies of the signal). */
void file_atomic_unlink_live(void);

int file_atomic_open(file_atomic *f, const char *path, cape_err *e);
/* Flushes, fsyncs and renames over the target; on any write error the temp
 * file is removed and the target left untouched. */
int file_atomic_commit(file_atomic *f, cape_err *e);
void file_atomic_abort(file_atomic *f);
int file_write_atomic(const char *path, const void *data, size_t len, cape_err *e);

#endif
