/* npy: writes float32 matrices in NumPy's .npy format (version 1.0,
 * little-endian '<f4', C order) row by row, so large activation captures
 * stream to disk instead of living in memory. The file appears atomically
 * when complete; numpy.load reads it directly. */
#ifndef CAPE_NPY_H
#define CAPE_NPY_H

#include <stdint.h>

#include "base/err.h"
#include "base/file.h"

typedef struct {
    file_atomic f;
    int64_t rows, cols, written;
} npy_writer;

int npy_open(npy_writer *w, const char *path, int64_t rows, int64_t cols, cape_err *e);
int npy_append(npy_writer *w, const float *row, cape_err *e);
/* Fails (and removes the temp file) unless exactly `rows` rows were written. */
int npy_close(npy_writer *w, cape_err *e);
void npy_abort(npy_writer *w);

/* Reads a whole '<f4' 2-D .npy file (tests and small inputs). */
float *npy_read(const char *path, int64_t *rows, int64_t *cols, cape_err *e);

#endif
