/* libFuzzer harness: the control-vector reader (src/steer/cvec.c, llama.cpp
 * control-vector GGUF files) must accept or reject any byte string without
 * crashing or reading out of bounds. An accepted vector must be consistent
 * (slot 0 empty, a width, a direction in every present slot), survive
 * cvec_add, and come back unchanged from cvec_save and a second load.
 * cvec_load takes a path: the bytes go through a memory file (memfd); the
 * saved copy goes to a private temporary directory. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "steer/cvec.h"

static int in_fd = -1;
static char in_path[64], dir[64], out_path[96];

static void cleanup(void)
{
    unlink(out_path);
    rmdir(dir);
}

static void setup(void)
{
    if (in_fd >= 0)
        return;
    in_fd = memfd_create("fuzz_cvec.gguf", MFD_CLOEXEC);
    /* memory-backed when there is /dev/shm: cvec_save fsyncs every file */
    snprintf(dir, sizeof dir, "%s", "/dev/shm/fuzz_cvec.XXXXXX");
    int made = mkdtemp(dir) != NULL;
    if (!made) {
        snprintf(dir, sizeof dir, "%s", "/tmp/fuzz_cvec.XXXXXX");
        made = mkdtemp(dir) != NULL;
    }
    if (in_fd < 0 || !made)
        abort();
    snprintf(in_path, sizeof in_path, "/proc/self/fd/%d", in_fd);
    snprintf(out_path, sizeof out_path, "%s/again.gguf", dir);
    atexit(cleanup);
}

static int put(int fd, const void *data, size_t size)
{
    if (ftruncate(fd, 0) != 0)
        return -1;
    const uint8_t *p = data;
    for (size_t off = 0; off < size;) {
        ssize_t k = pwrite(fd, p + off, size - off, (off_t)off);
        if (k <= 0)
            return -1;
        off += (size_t)k;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    if (put(in_fd, data, size))
        abort();
    cvec cv;
    cape_err e = {0};
    if (cvec_load(in_path, 0, &cv, &e) != 0)
        return 0;
    if (cv.n_embd < 1 || cv.n_slots < 2 || cv.present[0] || !cv.present[cv.n_slots - 1] ||
        cv.chosen < -1 || cv.chosen >= cv.n_slots)
        abort();
    /* the same file, told the width it has, loads again */
    cvec again;
    err_clear(&e);
    if (cvec_load(in_path, cv.n_embd, &again, &e) != 0)
        abort();
    cvec_free(&again);
    /* cv + 1 * cv, then back */
    cvec sum;
    err_clear(&e);
    if (cvec_init(&sum, 1, cv.n_embd, &e) || cvec_add(&sum, &cv, 1.0f, &e))
        abort();
    if (sum.n_slots != cv.n_slots ||
        memcmp(sum.present, cv.present, (size_t)cv.n_slots) != 0)
        abort();
    cvec_free(&sum);
    /* save and load: the same slots and the same bits */
    err_clear(&e);
    if (cvec_save(&cv, out_path, cv.model_hint, &e) == 0) {
        err_clear(&e);
        if (cvec_load(out_path, cv.n_embd, &again, &e) != 0)
            abort();
        if (again.n_slots != cv.n_slots || again.n_embd != cv.n_embd ||
            again.chosen != cv.chosen ||
            memcmp(again.present, cv.present, (size_t)cv.n_slots) != 0 ||
            memcmp(again.v, cv.v, sizeof(float) * (size_t)cv.n_slots * (size_t)cv.n_embd) != 0 ||
            strcmp(again.model_hint, cv.model_hint) != 0)
            abort();
        cvec_free(&again);
    }
    unlink(out_path);
    cvec_free(&cv);
    return 0;
}
