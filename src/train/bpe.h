/* bpe: byte-level byte-pair encoding (Sennrich et al. 2016; the byte-level
 * variant of GPT-2, Radford et al. 2019), trained by cape on a corpus.
 *
 * Ids 0..255 are the bytes, then one id per merge in the order learned, then
 * the special token <|endoftext|> (document boundary, used as BOS and EOS).
 * Text is first split into pieces that merges never cross, as GPT-2's
 * pre-tokenizer does: contractions ('s 't 're 've 'm 'll 'd), an optional
 * space plus a run of letters, of digits, or of other symbols, and runs of
 * whitespace. Bytes >= 0x80 count as letters (so UTF-8 words stay whole).
 *
 * The vocabulary is written to GGUF in the "gpt2" tokenizer convention:
 * each token as a string through GPT-2's byte-to-unicode table, merges as
 * "left right". */
#ifndef CAPE_BPE_H
#define CAPE_BPE_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

typedef struct {
    int n_vocab;       /* 256 + n_merges + 1 */
    int n_merges;
    int (*merges)[2];  /* merge i makes id 256 + i from (left, right) */
    uint8_t **bytes;   /* bytes of each id */
    int *len;
    int eot;           /* id of <|endoftext|> */
    /* pair -> merge rank, open addressing */
    uint64_t *pair_keys;
    int *pair_rank;
    size_t pair_cap;
} bpe_vocab;

/* Learns vocab_size - 257 merges from the texts (most frequent adjacent
 * pair first; ties to the smaller pair of ids). Stops early when no pair
 * occurs twice. */
int bpe_train(bpe_vocab *v, const char *const *texts, size_t n_texts, int vocab_size,
              cape_err *e);
/* Rebuilds a vocabulary from merges given as (left, right) id pairs. */
int bpe_from_merges(bpe_vocab *v, const int (*merges)[2], int n_merges, cape_err *e);
void bpe_free(bpe_vocab *v);

/* Appends the ids of text to *ids (grown with realloc); returns the count
 * added or -1 when out of memory. */
long bpe_encode(const bpe_vocab *v, const char *text, int **ids, size_t *n, size_t *cap);
/* Writes the bytes of ids into out (NUL-terminated, truncated to outsz). */
size_t bpe_decode(const bpe_vocab *v, const int *ids, size_t n, char *out, size_t outsz);

/* GPT-2's printable form of a token (UTF-8), malloc'ed. */
char *bpe_token_string(const bpe_vocab *v, int id);
/* Inverse: the raw bytes of a GPT-2 token string; returns length or -1. */
int bpe_string_bytes(const char *s, uint8_t *out, int outsz);

#endif
