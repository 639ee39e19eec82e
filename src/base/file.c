#include "base/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *file_read_all(const char *path, size_t *len, cape_err *e)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        err_set(e, CAPE_EINPUT, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(fp), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(fp);
        err_set(e, CAPE_EINPUT, "%s: is a directory, expected a file", path);
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, fp);
        n += got;
        if (got == 0)
            break;
    }
    int bad = ferror(fp);
    fclose(fp);
    if (!buf) {
        err_set(e, CAPE_EFAIL, "%s: out of memory", path);
        return NULL;
    }
    if (bad) {
        free(buf);
        err_set(e, CAPE_EINPUT, "%s: read error", path);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

int file_atomic_open(file_atomic *f, const char *path, cape_err *e)
{
    memset(f, 0, sizeof *f);
    size_t n = strlen(path);
    f->path = strdup(path);
    f->tmp = malloc(n + 16);
    if (!f->path || !f->tmp) {
        file_atomic_abort(f);
        return err_set(e, CAPE_EFAIL, "%s: out of memory", path);
    }
    snprintf(f->tmp, n + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(f->tmp);
    if (fd < 0) {
        int er = errno;
        free(f->tmp);
        f->tmp = NULL;
        file_atomic_abort(f);
        return err_set(e, CAPE_EINPUT, "%s: cannot create: %s", path, strerror(er));
    }
    fchmod(fd, 0644);
    f->fp = fdopen(fd, "wb");
    if (!f->fp) {
        close(fd);
        file_atomic_abort(f);
        return err_set(e, CAPE_EFAIL, "%s: cannot open stream", path);
    }
    return 0;
}

int file_atomic_commit(file_atomic *f, cape_err *e)
{
    int bad = fflush(f->fp) != 0 || ferror(f->fp) || fsync(fileno(f->fp)) != 0;
    int er = errno;
    bad |= fclose(f->fp) != 0;
    f->fp = NULL;
    if (!bad && rename(f->tmp, f->path) != 0) {
        er = errno;
        bad = 1;
    }
    if (bad) {
        err_set(e, CAPE_EFAIL, "%s: write failed: %s", f->path, strerror(er));
        file_atomic_abort(f);
        return CAPE_EFAIL;
    }
    free(f->tmp);
    free(f->path);
    memset(f, 0, sizeof *f);
    return 0;
}

void file_atomic_abort(file_atomic *f)
{
    if (f->fp)
        fclose(f->fp);
    if (f->tmp)
        unlink(f->tmp);
    free(f->tmp);
    free(f->path);
    memset(f, 0, sizeof *f);
}

int file_write_atomic(const char *path, const void *data, size_t len, cape_err *e)
{
    file_atomic f;
    if (file_atomic_open(&f, path, e))
        return e->code;
    if (len && fwrite(data, 1, len, f.fp) != len) {
        file_atomic_abort(&f);
        return err_set(e, CAPE_EFAIL, "%s: write failed", path);
    }
    return file_atomic_commit(&f, e);
}
