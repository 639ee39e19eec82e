/* libFuzzer harness: the llama2.c checkpoint loader (src/model/load.c) and
 * the llama2.c tokenizer.bin reader (src/model/tok.c) must accept or reject
 * any byte string without crashing or reading out of bounds.
 *
 * The input is read twice: as a checkpoint (with a generated, valid
 * tokenizer.bin of the vocabulary size its header names), and as a
 * tokenizer.bin of 32 tokens. An accepted checkpoint is run for two tokens,
 * so every weight the loader points into the file is read once. The loaders
 * take paths: the bytes go through two memory files (memfd). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "model/model.h"
#include "model/model_impl.h"
#include "model/tok.h"

#define TOK_VOCAB 32 /* vocabulary of the input read as a tokenizer.bin */

static int ckpt_fd = -1, tok_fd = -1;
static char ckpt_path[64], tok_path[64];
static int tok_written = -1; /* vocabulary of the generated tokenizer in tok_fd */

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

/* A valid llama2.c tokenizer.bin of n tokens: <unk>, <s>, </s>, the 256
 * byte tokens, then words (some with a leading space). */
static int gen_tokenizer(int n)
{
    size_t cap = 16 + (size_t)n * 32, len = 0;
    uint8_t *b = malloc(cap);
    if (!b)
        return -1;
    int32_t maxlen = 16;
    memcpy(b, &maxlen, 4);
    len = 4;
    for (int i = 0; i < n; i++) {
        char s[24];
        if (i == 0)
            snprintf(s, sizeof s, "<unk>");
        else if (i == 1)
            snprintf(s, sizeof s, "\n<s>\n");
        else if (i == 2)
            snprintf(s, sizeof s, "\n</s>\n");
        else if (i < 259)
            snprintf(s, sizeof s, "<0x%02X>", i - 3);
        else
            snprintf(s, sizeof s, "%sw%d", i % 2 ? " " : "", i);
        float score = -(float)i;
        int32_t k = (int32_t)strlen(s);
        memcpy(b + len, &score, 4);
        memcpy(b + len + 4, &k, 4);
        memcpy(b + len + 8, s, (size_t)k);
        len += 8 + (size_t)k;
    }
    int rc = put(tok_fd, b, len);
    free(b);
    return rc;
}

static int setup(void)
{
    if (ckpt_fd >= 0)
        return 0;
    ckpt_fd = memfd_create("fuzz_ckpt.bin", MFD_CLOEXEC);
    tok_fd = memfd_create("fuzz_tokenizer.bin", MFD_CLOEXEC);
    if (ckpt_fd < 0 || tok_fd < 0)
        abort();
    snprintf(ckpt_path, sizeof ckpt_path, "/proc/self/fd/%d", ckpt_fd);
    snprintf(tok_path, sizeof tok_path, "/proc/self/fd/%d", tok_fd);
    return 0;
}

static void as_checkpoint(const uint8_t *data, size_t size)
{
    int32_t vocab = 0;
    if (size >= 24)
        memcpy(&vocab, data + 20, 4);
    if (vocab < 0 && vocab != INT32_MIN)
        vocab = -vocab;
    /* a tokenizer that matches the header when the vocabulary is small (a
     * larger one cannot be backed by weights in a fuzzer-sized input) */
    int n = vocab >= 1 && vocab <= 4096 ? vocab : 1;
    if (n != tok_written) {
        if (gen_tokenizer(n))
            abort();
        tok_written = n;
    }
    model *m = calloc(1, sizeof *m);
    if (!m)
        abort();
    snprintf(m->path, sizeof m->path, "%s", ckpt_path);
    cape_err e = {0};
    model_load_opts o = {.tokenizer_path = tok_path};
    if (model_load_llama2c(m, ckpt_path, &o, &e) == 0) {
        const model_config *c = model_cfg(m);
        if (c->n_vocab != n || c->dim < 1 || c->n_layers < 1)
            abort(); /* accepted, yet not what the header says */
        model_session *s = model_session_new(m, &(model_session_opts){.n_ctx = 4, .n_threads = 1}, &e);
        if (s) {
            int ids[2] = {0, c->n_vocab - 1};
            if (model_eval(s, ids, 2, MODEL_LOGITS_ALL, &e) == 0) {
                volatile float x = model_logits(s, 1)[c->n_vocab - 1];
                (void)x;
            }
            model_session_free(s);
        }
    }
    model_free(m);
}

static void as_tokenizer(const uint8_t *data, size_t size)
{
    if (put(tok_fd, data, size))
        abort();
    tok_written = -1;
    cape_err e = {0};
    tok *t = tok_from_llama2c(tok_path, TOK_VOCAB, &e);
    if (!t)
        return;
    static const char text[] = "Once upon a time, \xc3\xa9t\xc3\xa9 <s> 42";
    int *ids = NULL, n = 0;
    if (tok_encode(t, text, sizeof text - 1, TOK_ADD_BOS | TOK_PARSE_SPECIAL, &ids, &n, &e) == 0) {
        for (int i = 0; i < n; i++)
            if (ids[i] < 0 || ids[i] >= TOK_VOCAB)
                abort();
        free(tok_decode(t, ids, n, 1));
    }
    free(ids);
    tok_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    if (put(ckpt_fd, data, size))
        abort();
    as_checkpoint(data, size);
    as_tokenizer(data, size);
    return 0;
}
