/* libFuzzer harness: the JSON-lines corpus reader of `cape train --data` and
 * `cape forget --data` (src/train/train_data.c) must accept or reject any
 * byte string without crashing or reading out of bounds. An accepted corpus
 * goes the way `cape train` takes it: a byte-level BPE is trained on its
 * texts, sources get ids, and the documents are tokenised and cut into
 * (packed or unpacked) rows, whose every target, position and source is
 * checked, and a batch is drawn. The reader takes a path: the bytes go
 * through a memory file (memfd). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "train/bpe.h"
#include "train/train_data.h"
#include "train/train_tok.h"
#include "unlearn/sink.h"

static int in_fd = -1;
static char in_path[64];

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

static void check_rows(const train_rows *r, int T, int n_vocab, int n_sources)
{
    size_t counted = 0;
    for (size_t i = 0; i < r->n_rows; i++) {
        if (r->source[i] < 1 || (int)r->source[i] > n_sources)
            abort();
        for (int t = 0; t < T; t++) {
            size_t k = i * (size_t)T + (size_t)t;
            if (r->tokens[k] < 0 || r->tokens[k] >= n_vocab || r->targets[k] < -1 ||
                r->targets[k] >= n_vocab || r->pos[k] >= T)
                abort();
            counted += r->targets[k] >= 0;
        }
    }
    if (counted != r->n_targets)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (in_fd < 0) {
        in_fd = memfd_create("fuzz_corpus.jsonl", MFD_CLOEXEC);
        if (in_fd < 0)
            abort();
        snprintf(in_path, sizeof in_path, "/proc/self/fd/%d", in_fd);
    }
    if (put(in_fd, data, size))
        abort();
    train_corpus c = {0};
    cape_err e = {0};
    if (train_corpus_load_jsonl(&c, in_path, &e) != 0) {
        if (!e.msg[0])
            abort(); /* an error without a message */
        train_corpus_free(&c);
        return 0;
    }
    if (c.n == 0)
        abort();
    const char **texts = malloc(sizeof(char *) * c.n);
    uint32_t *ids = malloc(sizeof(uint32_t) * c.n);
    sink_sources src = {0};
    if (!texts || !ids)
        abort();
    for (size_t i = 0; i < c.n; i++) {
        if (!c.docs[i].source[0])
            abort(); /* the reader promises a non-empty source */
        texts[i] = c.docs[i].text;
        if (!(ids[i] = sink_sources_id(&src, c.docs[i].source, 1)))
            abort();
    }
    bpe_vocab v;
    err_clear(&e);
    if (bpe_train(&v, texts, c.n, 300, &e) == 0) {
        train_tokenizer tk;
        train_tokenizer_from_bpe(&tk, &v);
        int T = 1 + (int)(size % 13);
        train_dataset ds;
        err_clear(&e);
        if (train_dataset_build(&ds, &c, ids, &tk, T, 0.25, size, (int)(size & 1), &e) == 0) {
            check_rows(&ds.train, T, tk.n_vocab, src.n);
            check_rows(&ds.val, T, tk.n_vocab, src.n);
            train_batcher b;
            if (train_batcher_init(&b, &ds.train, 7, &e) == 0) {
                int B = 3;
                int *tok = malloc(sizeof(int) * (size_t)(3 * B * T));
                uint32_t *s = malloc(sizeof(uint32_t) * (size_t)B);
                if (!tok || !s)
                    abort();
                train_batch_at(&b, ds.train.n_rows, B, tok, tok + B * T, tok + 2 * B * T, s);
                free(tok);
                free(s);
                train_batcher_free(&b);
            }
            train_dataset_free(&ds);
        }
        train_tokenizer_free(&tk);
    }
    sink_sources_free(&src);
    free(ids);
    free(texts);
    train_corpus_free(&c);
    return 0;
}
