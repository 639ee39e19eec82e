/* train_data: the training corpus and its deterministic batches.
 *
 * A corpus is a list of documents, each tagged with a source name. It comes
 * from a JSON-lines file ({"source": ..., "text": ...} per line; the source
 * may be a string or an integer) or from the TOFU data set (each fictitious
 * author is one source; a QA pair is one document "Question: Q\nAnswer: A").
 *
 * After tokenisation each document becomes  start tokens end  (train_tok.h)
 * and is cut into pieces of at most T input positions (a piece's targets are
 * its inputs shifted by one). A document goes to validation when a keyed
 * hash of (seed, document index) falls below the validation fraction.
 *
 * Rows: with packing, the pieces of one source are packed into rows of T
 * positions by first-fit decreasing (longest piece first; each piece goes to
 * the first row of that source with room), so a row never mixes sources and
 * the sink mask of a row is its source's. Every position carries its place
 * inside its document (pos); the model restarts positions at 0 there and
 * keeps attention inside each document (a block-diagonal causal mask), so a
 * packed document is computed exactly as it would be alone. Without packing
 * each piece is one row. Leftover positions are padding (target -1). Rows
 * are ordered by the first document they hold.
 *
 * Training rows are visited in epochs; the order inside epoch e is a
 * shuffle by MT19937 seeded with seed + e (numpy's RandomState.shuffle), so
 * the batch of any step can be recomputed from the step number alone. */
#ifndef CAPE_TRAIN_DATA_H
#define CAPE_TRAIN_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/rng.h"
#include "train/train_tok.h"
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
    int *tokens;       /* (n_rows, T) inputs; padding = the end token */
    int *targets;      /* (n_rows, T) next tokens; -1 = padding (not counted) */
    uint16_t *pos;     /* (n_rows, T) place inside the document; 0 starts one */
    uint32_t *source;  /* source id of each row (1-based; 0 = none) */
    uint32_t *doc;     /* first document of each row */
    size_t n_targets;  /* counted targets of all rows */
} train_rows;

typedef struct {
    train_rows train, val;
    uint64_t hash; /* of all rows, sources and the split, for --resume */
    size_t n_tokens;
} train_dataset;

/* Tokenises the corpus. source_ids[d] is document d's source id; pack packs
 * short documents of one source into shared rows (see above). T <= 65536. */
int train_dataset_build(train_dataset *ds, const train_corpus *c, const uint32_t *source_ids,
                        const train_tokenizer *tk, int T, double val_frac, uint64_t seed,
                        int pack, cape_err *e);
/* n_rows rows of uniformly random tokens in [0, vocab) (one source), for
 * throughput measurements that should not depend on a corpus. */
int train_dataset_random(train_dataset *ds, int vocab, int T, size_t n_rows, uint64_t seed,
                         cape_err *e);
void train_dataset_free(train_dataset *ds);

/* Batch assembly: B rows (inputs, targets, positions, source ids) for global
 * row position `at` onwards in the epoch order described above. */
typedef struct {
    const train_rows *rows;
    uint64_t seed;
    long epoch; /* epoch whose permutation is cached, -1 none */
    int *perm;
} train_batcher;

int train_batcher_init(train_batcher *b, const train_rows *rows, uint64_t seed, cape_err *e);
void train_batcher_free(train_batcher *b);
void train_batch_at(train_batcher *b, uint64_t at, int B, int *tokens, int *targets, int *pos,
                    uint32_t *sources);
/* Row r of rows (no shuffling), for validation and evaluation. */
void train_row_get(const train_rows *rows, size_t r, int *tokens, int *targets, int *pos);

#endif
