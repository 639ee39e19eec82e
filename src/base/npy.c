#include "base/npy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int npy_open(npy_writer *w, const char *path, int64_t rows, int64_t cols, cape_err *e)
{
    memset(w, 0, sizeof *w);
    if (rows < 0 || cols < 1)
        return err_set(e, CAPE_EINPUT, "%s: bad matrix shape %lld x %lld", path, (long long)rows,
                       (long long)cols);
    if (file_atomic_open(&w->f, path, e))
        return e->code;
    char dict[128];
    int n = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%lld, %lld), }",
                     (long long)rows, (long long)cols);
    /* magic (6) + version (2) + header length (2) + dict + padding + '\n'
     * must be a multiple of 64 so the data is aligned. */
    int total = 10 + n + 1, pad = (64 - total % 64) % 64;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0, 0};
    uint16_t hl = (uint16_t)(n + pad + 1);
    pre[8] = (unsigned char)(hl & 0xff);
    pre[9] = (unsigned char)(hl >> 8);
    fwrite(pre, 1, 10, w->f.fp);
    fwrite(dict, 1, (size_t)n, w->f.fp);
    for (int i = 0; i < pad; i++)
        fputc(' ', w->f.fp);
    fputc('\n', w->f.fp);
    w->rows = rows;
    w->cols = cols;
    return 0;
}

int npy_append(npy_writer *w, const float *row, cape_err *e)
{
    if (w->written >= w->rows)
        return err_set(e, CAPE_EFAIL, "npy: more rows than declared (%lld)", (long long)w->rows);
    if (fwrite(row, sizeof(float), (size_t)w->cols, w->f.fp) != (size_t)w->cols)
        return err_set(e, CAPE_EFAIL, "npy: write failed");
    w->written++;
    return 0;
}

int npy_close(npy_writer *w, cape_err *e)
{
    if (w->written != w->rows) {
        npy_abort(w);
        return err_set(e, CAPE_EFAIL, "npy: %lld rows written, %lld declared",
                       (long long)w->written, (long long)w->rows);
    }
    return file_atomic_commit(&w->f, e);
}

void npy_abort(npy_writer *w)
{
    file_atomic_abort(&w->f);
}

float *npy_read(const char *path, int64_t *rows, int64_t *cols, cape_err *e)
{
    size_t len;
    char *buf = file_read_all(path, &len, e);
    if (!buf)
        return NULL;
    float *out = NULL;
    long long r, c;
    if (len < 10 || memcmp(buf, "\x93NUMPY", 6) != 0 || buf[6] != 1) {
        err_set(e, CAPE_EINPUT, "%s: not a version-1 .npy file", path);
        goto done;
    }
    size_t hl = (unsigned char)buf[8] | (size_t)(unsigned char)buf[9] << 8;
    if (10 + hl > len) {
        err_set(e, CAPE_EINPUT, "%s: truncated header", path);
        goto done;
    }
    char *hdr = strndup(buf + 10, hl);
    const char *shape = hdr ? strstr(hdr, "'shape': (") : NULL;
    if (!hdr || !strstr(hdr, "'descr': '<f4'") || !strstr(hdr, "'fortran_order': False") ||
        !shape || sscanf(shape, "'shape': (%lld, %lld)", &r, &c) != 2 || r < 0 || c < 1 ||
        (size_t)(r * c) * 4 != len - 10 - hl) {
        free(hdr);
        err_set(e, CAPE_EINPUT, "%s: expected a C-order float32 matrix", path);
        goto done;
    }
    free(hdr);
    out = malloc((size_t)(r * c) * sizeof *out + 1);
    if (!out) {
        err_set(e, CAPE_EFAIL, "out of memory");
        goto done;
    }
    memcpy(out, buf + 10 + hl, (size_t)(r * c) * sizeof *out);
    *rows = r;
    *cols = c;
done:
    free(buf);
    return out;
}
