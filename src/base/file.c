#include "base/file.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
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

/* ---- output paths ------------------------------------------------------ */

static const char *kind_of(mode_t m)
{
    if (S_ISDIR(m))
        return "a directory";
    if (S_ISCHR(m))
        return "a character device";
    if (S_ISBLK(m))
        return "a block device";
    if (S_ISFIFO(m))
        return "a FIFO";
    if (S_ISSOCK(m))
        return "a socket";
    if (S_ISLNK(m))
        return "a symbolic link";
    return "not a regular file";
}

static int refuse(cape_err *e, const char *shown, mode_t m)
{
    return err_set(e, CAPE_EINPUT, "%s: is %s, not a regular file; refusing to replace it", shown,
                   kind_of(m));
}

/* The file an output path names: the path itself, or the final target of a
 * symbolic link (written through). NULL after an error. */
static char *resolve_target(const char *path, cape_err *e)
{
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
        char *real = realpath(path, NULL);
        if (!real)
            err_set(e, CAPE_EINPUT, "%s: is a symbolic link to %s; refusing to write through it",
                    path, errno == ENOENT ? "a missing file" : "a path that cannot be resolved");
        return real;
    }
    char *t = strdup(path);
    if (!t)
        err_set(e, CAPE_EFAIL, "%s: out of memory", path);
    return t;
}

/* 0 when target (already resolved) is absent or a regular file. */
static int check_target(const char *target, const char *shown, int nofollow, cape_err *e)
{
    struct stat st;
    if ((nofollow ? lstat(target, &st) : stat(target, &st)) != 0) {
        if (errno == ENOENT)
            return 0;
        return err_set(e, CAPE_EINPUT, "%s: cannot create: %s", shown, strerror(errno));
    }
    return S_ISREG(st.st_mode) ? 0 : refuse(e, shown, st.st_mode);
}

int file_check_output(const char *path, cape_err *e)
{
    char *t = resolve_target(path, e);
    if (!t)
        return e->code;
    int rc = check_target(t, path, 0, e);
    free(t);
    return rc;
}

/* ---- temp files left by killed writers --------------------------------- */

/* NAME is PREFIX ".tmp." and six mkstemp characters (any prefix when NULL). */
static int is_temp_name(const char *name, const char *prefix)
{
    size_t n = strlen(name);
    if (n < 11 || memcmp(name + n - 11, ".tmp.", 5) != 0)
        return 0;
    if (prefix ? (strlen(prefix) != n - 11 || memcmp(name, prefix, n - 11) != 0) : n == 11)
        return 0;
    for (size_t i = n - 6; i < n; i++)
        if (!isalnum((unsigned char)name[i]))
            return 0;
    return 1;
}

/* A writer holds an exclusive flock on its temp file until the rename; a
 * temp file whose lock can be taken belongs to a process that died. */
static int remove_stale(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int removed = 0, dfd = dirfd(d);
    for (struct dirent *de; (de = readdir(d));) {
        if (!is_temp_name(de->d_name, prefix))
            continue;
        int fd = openat(dfd, de->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
            continue;
        struct stat a, b;
        if (fstat(fd, &a) == 0 && S_ISREG(a.st_mode) && flock(fd, LOCK_EX | LOCK_NB) == 0 &&
            fstatat(dfd, de->d_name, &b, AT_SYMLINK_NOFOLLOW) == 0 && a.st_dev == b.st_dev &&
            a.st_ino == b.st_ino && unlinkat(dfd, de->d_name, 0) == 0)
            removed++;
        close(fd);
    }
    closedir(d);
    return removed;
}

int file_remove_stale_temps(const char *dir)
{
    return remove_stale(dir, NULL);
}

/* ---- temp files of live writers, removed on a fatal signal ------------- */

enum { NLIVE = 16 };
static _Atomic(char *) g_live[NLIVE];

static void live_add(char *tmp)
{
    for (int i = 0; i < NLIVE; i++) {
        char *want = NULL;
        if (atomic_compare_exchange_strong(&g_live[i], &want, tmp))
            return;
    }
}

static void live_del(char *tmp)
{
    for (int i = 0; i < NLIVE; i++) {
        char *want = tmp;
        if (atomic_compare_exchange_strong(&g_live[i], &want, NULL))
            return;
    }
}

void file_atomic_unlink_live(void)
{
    for (int i = 0; i < NLIVE; i++) {
        char *t = atomic_load(&g_live[i]);
        if (t)
            unlink(t);
    }
}

/* ---- atomic writes ------------------------------------------------------ */

int file_atomic_open(file_atomic *f, const char *path, cape_err *e)
{
    memset(f, 0, sizeof *f);
    f->shown = strdup(path);
    if (!f->shown) {
        file_atomic_abort(f);
        return err_set(e, CAPE_EFAIL, "%s: out of memory", path);
    }
    if (!(f->path = resolve_target(path, e)) || check_target(f->path, path, 0, e)) {
        file_atomic_abort(f);
        return e->code;
    }
    size_t n = strlen(f->path);
    char *slash = strrchr(f->path, '/');
    char *dir = slash ? strndup(f->path, slash == f->path ? 1 : (size_t)(slash - f->path))
                      : strdup(".");
    if (dir) {
        remove_stale(dir, slash ? slash + 1 : f->path);
        free(dir);
    }
    f->tmp = malloc(n + 16);
    if (!f->tmp) {
        file_atomic_abort(f);
        return err_set(e, CAPE_EFAIL, "%s: out of memory", path);
    }
    int fd = -1;
    for (int tries = 0; fd < 0 && tries < 8; tries++) {
        snprintf(f->tmp, n + 16, "%s.tmp.XXXXXX", f->path);
        fd = mkostemp(f->tmp, O_CLOEXEC);
        if (fd < 0) {
            int er = errno;
            free(f->tmp);
            f->tmp = NULL;
            file_atomic_abort(f);
            return err_set(e, CAPE_EINPUT, "%s: cannot create: %s", path, strerror(er));
        }
        /* lock first, then make sure a cleaner did not take the name away
         * between its creation and the lock */
        struct stat a, b;
        if (flock(fd, LOCK_EX) != 0 || fstat(fd, &a) != 0 || lstat(f->tmp, &b) != 0 ||
            a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
            close(fd);
            fd = -1;
        }
    }
    if (fd < 0) {
        free(f->tmp);
        f->tmp = NULL;
        file_atomic_abort(f);
        return err_set(e, CAPE_EFAIL, "%s: cannot lock a temporary file", path);
    }
    live_add(f->tmp);
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
    errno = 0;
    int bad = fflush(f->fp) != 0 || ferror(f->fp) || fsync(fileno(f->fp)) != 0;
    int er = errno;
    if (bad) {
        err_set(e, CAPE_EFAIL, "%s: write failed%s%s", f->shown, er ? ": " : "",
                er ? strerror(er) : "");
        file_atomic_abort(f);
        return CAPE_EFAIL;
    }
    /* the target may have been replaced while we wrote */
    if (check_target(f->path, f->shown, 1, e)) {
        file_atomic_abort(f);
        return e->code;
    }
    /* rename while the lock is held, so no cleaner takes the file */
    if (rename(f->tmp, f->path) != 0) {
        er = errno;
        err_set(e, CAPE_EFAIL, "%s: write failed: %s", f->shown, strerror(er));
        file_atomic_abort(f);
        return CAPE_EFAIL;
    }
    live_del(f->tmp);
    fclose(f->fp);
    free(f->tmp);
    free(f->path);
    free(f->shown);
    memset(f, 0, sizeof *f);
    return 0;
}

void file_atomic_abort(file_atomic *f)
{
    if (f->tmp) {
        live_del(f->tmp);
        unlink(f->tmp);
    }
    if (f->fp)
        fclose(f->fp);
    free(f->tmp);
    free(f->path);
    free(f->shown);
    memset(f, 0, sizeof *f);
}

int file_write_atomic(const char *path, const void *data, size_t len, cape_err *e)
{
    file_atomic f;
    if (file_atomic_open(&f, path, e))
        return e->code;
    if (len && fwrite(data, 1, len, f.fp) != len) {
        int er = errno;
        file_atomic_abort(&f);
        return err_set(e, CAPE_EFAIL, "%s: write failed: %s", path, strerror(er));
    }
    return file_atomic_commit(&f, e);
}
