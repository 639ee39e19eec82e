/* train_tok: the tokenizer of a training run, and its GGUF metadata.
 *
 * Two kinds:
 *   - a byte-level BPE cape trained on the corpus (train/bpe.h), written in
 *     the "gpt2" tokenizer convention of llama.cpp (tokenizer.ggml.model =
 *     "gpt2", tokens as byte-to-unicode strings, merges as "left right",
 *     <|endoftext|> as BOS and EOS);
 *   - the tokenizer of any GGUF that has a vocabulary (SentencePiece or
 *     byte-level BPE, model/tok.h), used through the runtime, so training and
 *     `cape run` split text the same way. Every checkpoint then carries a copy
 *     of all the source's tokenizer.* keys, unchanged.
 * The key cape.train.tokenizer ("bpe" or "gguf") tells them apart when a
 * run resumes or another model reuses the tokenizer.
 *
 * A document is encoded as  start text end : for cape's BPE both are
 * <|endoftext|>; for a GGUF tokenizer start is BOS (EOS when there is none)
 * and end is EOS (BOS when there is none). */
#ifndef CAPE_TRAIN_TOK_H
#define CAPE_TRAIN_TOK_H

#include <stddef.h>

#include "base/err.h"
#include "model/gguf.h"
#include "model/tok.h"
#include "train/bpe.h"
#include "train/train_ckpt.h"

int train_tok_to_ckpt(const bpe_vocab *v, ckpt_file *f);
/* Rebuilds a vocabulary that cape trained from a GGUF's metadata. */
int train_tok_from_ckpt(const ckpt_file *f, bpe_vocab *v, const char *what, cape_err *e);

typedef struct {
    bpe_vocab bpe;  /* cape's BPE, when rt is NULL */
    tok *rt;        /* a GGUF's tokenizer */
    gguf_file *src; /* with rt: the file whose tokenizer.* keys are copied */
    int n_vocab;
    int start, end; /* document delimiters */
} train_tokenizer;

/* Takes ownership of a BPE cape trained. */
void train_tokenizer_from_bpe(train_tokenizer *t, bpe_vocab *v);
/* The tokenizer of any GGUF with a vocabulary (a model or a vocabulary-only
 * file); a file without one is an input error naming it. */
int train_tokenizer_from_gguf(train_tokenizer *t, const char *path, cape_err *e);
/* The tokenizer a cape-trained model was trained with (either kind). */
int train_tokenizer_from_model(train_tokenizer *t, const char *path, cape_err *e);
void train_tokenizer_free(train_tokenizer *t);

/* Appends the ids of text (no delimiters, special-token names taken
 * literally) to *ids, grown with realloc. 0, or an error. */
int train_tokenizer_encode(const train_tokenizer *t, const char *text, int **ids, size_t *n,
                           size_t *cap, cape_err *e);
/* The text of n ids (control tokens give nothing), malloc'ed; NULL when
 * out of memory. */
char *train_tokenizer_decode(const train_tokenizer *t, const int *ids, int n);
/* Writes the tokenizer's metadata into a checkpoint: 0, or -1 when out of
 * memory. */
int train_tokenizer_to_ckpt(const train_tokenizer *t, ckpt_file *f);

#endif
