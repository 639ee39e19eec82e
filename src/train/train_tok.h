/* train_tok: a trained BPE vocabulary in GGUF metadata, in the "gpt2"
 * tokenizer convention of llama.cpp (tokenizer.ggml.model = "gpt2", tokens
 * as byte-to-unicode strings, merges as "left right", <|endoftext|> as BOS
 * and EOS), and back. */
#ifndef CAPE_TRAIN_TOK_H
#define CAPE_TRAIN_TOK_H

#include "base/err.h"
#include "train/bpe.h"
#include "train/train_ckpt.h"

int train_tok_to_ckpt(const bpe_vocab *v, ckpt_file *f);
/* Rebuilds a vocabulary that cape trained from a GGUF's metadata. */
int train_tok_from_ckpt(const ckpt_file *f, bpe_vocab *v, const char *what, cape_err *e);

#endif
