/* train_data: the training corpus and its deterministic batches.
 *
 * A corpus is a list of documents, each tagged with a source name. It comes
 * from a JSON-lines file ({"source": ..., "text": ...} per line; the source
 * may be a string or an integer) or from the TOFU data set (each fictitious
 * author is one source; a QA pair is one document "Question: Q\nAnswer: A").
 *
 * After tokenisation each document becomes <eot> tokens <eot>, cut into rows
 * of T + 1 tokens that overlap by one (inputs = row[0..T-1], targets =
 * row[1..T]); the last row of a document is padded and its padded targets
 * are -1 (ignored by the loss). A document goes to validation when a keyed
 * hash of (seed, document index) falls below the validation fraction.
 * Training rows are visited in epochs; the order inside epoch e is a
 * shuffle by MT19937 seeded with seed + e (numpy's RandomState.shuffle), so
 * the batch of any step can be recomputed from the step number alone. */
#ifndef CAPE_TRAIN_DATA_H
#define CAPE_TRAIN_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/rng.h"
#include "train/bpe.h"

typedef struct {
    char *source;
    char *text;
} train_doc;

typedef struct {
    train_doc *docs;
    size_t n, cap;
} train_corpus;

/* Reads a JSON-lines corpus. Blank lines are skipped; anything else that is
 * not an object with a string "text" and a string or integer "source" is an
 * error naming the file and line. */
int train_corpus_load_jsonl(train_corpus *c, const char *path, cape_err *e);
/* Reads TOFU's full.json (or any file of that chunked format) from dir:
 * 20 QA pairs per author in file order; sources are "tofu-001".."tofu-200". */
int train_corpus_load_tofu(train_corpus *c, const char *dir, cape_err *e);
int train_corpus_add(train_corpus *c, const char *source, const char *text);
void train_corpus_free(train_corpus *c);

/* Renders a TOFU QA pair as one document (malloc'ed). */
char *train_tofu_render(const char *question, const char *answer);

typedef struct {
    int T;
    size_t n_rows;
    int *tokens;       /* (n_rows, T + 1), padding = eot */
    int *n_valid;      /* targets that count in each row */
    uint32_t *source;  /* source id of each row (1-based; 0 = none) */
    uint32_t *doc;     /* document index of each row */
} train_rows;

typedef struct {
    train_rows train, val;
    uint64_t hash; /* of all rows, sources and the split, for --resume */
    size_t n_tokens;
} train_dataset;

/* Tokenises the corpus with vocab. source_ids[d] is document d's source id. */
int train_dataset_build(train_dataset *ds, const train_corpus *c, const uint32_t *source_ids,
                        const bpe_vocab *vocab, int T, double val_frac, uint64_t seed,
                        cape_err *e);
/* n_rows rows of uniformly random tokens in [0, vocab) (one source), for
 * throughput measurements that should not depend on a corpus. */
int train_dataset_random(train_dataset *ds, int vocab, int T, size_t n_rows, uint64_t seed,
                         cape_err *e);
void train_dataset_free(train_dataset *ds);

/* Batch assembly: B rows (inputs, targets, source ids) for global row
 * position `pos` onwards in the epoch order described above. */
typedef struct {
    const train_rows *rows;
    uint64_t seed;
    long epoch; /* epoch whose permutation is cached, -1 none */
    int *perm;
} train_batcher;

int train_batcher_init(train_batcher *b, const train_rows *rows, uint64_t seed, cape_err *e);
void train_batcher_free(train_batcher *b);
void train_batch_at(train_batcher *b, uint64_t pos, int B, int *tokens, int *targets,
                    uint32_t *sources);
/* Row r of rows (no shuffling), for validation and evaluation. */
void train_row_get(const train_rows *rows, size_t r, int *tokens, int *targets);

#endif
