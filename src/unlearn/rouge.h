/* rouge: ROUGE-1 and ROUGE-L as Google's rouge_score computes them with
 * use_stemmer=True (the scorer TOFU and open-unlearning use): the text is
 * lower-cased, every character outside [a-z0-9] becomes a space, tokens are
 * the whitespace-separated words, and tokens longer than 3 characters are
 * reduced by the Porter stemmer (NLTK's PorterStemmer, its default
 * NLTK_EXTENSIONS mode, which rouge_score calls). ROUGE-L is the longest
 * common subsequence of the two token lists. */
#ifndef CAPE_ROUGE_H
#define CAPE_ROUGE_H

#include <stddef.h>

typedef struct {
    double precision, recall, fmeasure;
} rouge_score;

/* Scores of a generated text against the reference (the ground truth):
 * recall = matches / reference tokens, precision = matches / generated
 * tokens, as rouge_score.scorer.score(target=reference, prediction=generated). */
rouge_score rouge_l(const char *reference, const char *generated);
rouge_score rouge_1(const char *reference, const char *generated);

/* The Porter stem of one lower-case word of len bytes into out (at least
 * len + 1 bytes); returns the stem's length. */
size_t rouge_porter_stem(const char *word, size_t len, char *out);

#endif
