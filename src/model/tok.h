/* tok: tokenizers of the models cape runs.
 *
 *   SPM  SentencePiece-style BPE: text with spaces as U+2581 (and a dummy
 *        leading space), adjacent pieces merged by highest vocabulary score,
 *        unknown characters spelled as <0xXX> byte tokens (Llama 1/2, Gemma,
 *        llama2.c). A variant merges by rank from a merge list instead of by
 *        score (Hugging Face tokenizer.json files with byte_fallback).
 *   BPE  byte-level BPE: text split by pre-tokenizer regexes (every rule set
 *        llama.cpp names in tokenizer.ggml.pre, see tok_pre.c), each piece's
 *        bytes mapped to printable characters and merged by rank (GPT-2,
 *        GPT-NeoX/Pythia, Qwen, Llama 3, ...); a few rule sets merge raw UTF-8
 *        with U+2581 for spaces and <0xXX> byte tokens (Gemma 4).
 *
 * Special tokens (control and user-defined ones) are matched in the text
 * first when TOK_PARSE_SPECIAL is given. Sources: a GGUF vocabulary, a
 * llama2.c tokenizer.bin, or a Hugging Face tokenizer.json. */
#ifndef CAPE_TOK_H
#define CAPE_TOK_H

#include <stddef.h>

#include "base/err.h"

typedef struct gguf_file gguf_file;
typedef struct tok tok;

typedef enum { TOK_SPM, TOK_BPE } tok_kind;

/* Token types as GGUF numbers them (tokenizer.ggml.token_type). */
typedef enum {
    TOK_TYPE_NORMAL = 1,
    TOK_TYPE_UNKNOWN = 2,
    TOK_TYPE_CONTROL = 3,
    TOK_TYPE_USER = 4,
    TOK_TYPE_UNUSED = 5,
    TOK_TYPE_BYTE = 6,
} tok_type;

enum {
    TOK_ADD_BOS = 1,       /* prepend BOS (when the vocabulary has one) */
    TOK_PARSE_SPECIAL = 2, /* "<s>" in the text becomes the control token */
};

tok *tok_from_gguf(const gguf_file *f, cape_err *e);
/* pre: a tokenizer.ggml.pre name to use instead of the file's (NULL: the
 * file's). A name cape does not know is an error; a file without the key gets
 * llama.cpp's "default" rules and a warning (tok_warning). */
tok *tok_from_gguf_pre(const gguf_file *f, const char *pre, cape_err *e);
tok *tok_from_llama2c(const char *path, int n_vocab, cape_err *e);
tok *tok_from_hf_json(const char *path, cape_err *e);
tok *tok_from_hf_json_buffer(const char *json, size_t len, const char *name, cape_err *e);
void tok_free(tok *t);

/* The tokenizer.ggml.pre names cape knows (llama.cpp's list), by index. */
int tok_pre_count(void);
const char *tok_pre_name_at(int i); /* NULL past the end */

tok_kind tok_get_kind(const tok *t);
/* A one-line note for the user about the vocabulary ("" when none). */
const char *tok_warning(const tok *t);
/* "spm", "bpe-gpt2", "bpe-llama3", ... */
const char *tok_describe(const tok *t);
int tok_n_vocab(const tok *t);
int tok_bos(const tok *t); /* -1 when none */
int tok_eos(const tok *t);
/* Whether the model's own settings add BOS (tokenizer.ggml.add_bos_token). */
int tok_wants_bos(const tok *t);
tok_type tok_token_type(const tok *t, int id);
/* The vocabulary string of a token, as stored (e.g. "\xe2\x96\x81Once" or "Ġthe"). */
const char *tok_text(const tok *t, int id);

/* Encodes len bytes of text. *ids is malloc'ed (free it); returns 0 or an error. */
int tok_encode(const tok *t, const char *text, size_t len, int flags, int **ids, int *n,
               cape_err *e);
/* The bytes a token stands for (byte tokens give their byte, U+2581 gives a
 * space, byte-level pieces are mapped back). Control tokens give "" unless
 * `special`. Returns the length written (at most bufsz, no NUL), or the
 * length needed when bufsz is too small. */
int tok_piece(const tok *t, int id, int special, char *buf, int bufsz);
/* Whole-sequence decode into a malloc'ed NUL-terminated string; a SentencePiece
 * dummy space at the start is removed, as the reference decoders do. */
char *tok_decode(const tok *t, const int *ids, int n, int special);

#endif
