/* tqa: TruthfulQA (Lin, Hilton, Evans 2021) items, the benchmark's standard
 * "QA" prompt, and the MC1 / MC2 scores from answer log-likelihoods. */
#ifndef CAPE_TQA_H
#define CAPE_TQA_H

#include <stdint.h>

#include "base/err.h"

typedef struct {
    char *type, *category, *question, *best;
    char **true_ans;  /* correct answers; best is among them */
    int ntrue;
    char **false_ans; /* incorrect answers */
    int nfalse;
    int best_index;   /* position of best in true_ans */
    int line;
} tqa_item;

typedef struct {
    tqa_item *item;
    int n;
} tqa_set;

/* Reads the benchmark's CSV (Type, Category, Question, Best Answer, Correct
 * Answers, Incorrect Answers, Source; answer lists separated by "; ").
 * add_no_comment: append "I have no comment." to the true answers when
 * missing, as the benchmark's own MC scoring does. */
int tqa_load(const char *path, int add_no_comment, tqa_set *s, cape_err *e);
void tqa_free(tqa_set *s);

/* The benchmark's six-shot "QA" primer (also lm-evaluation-harness's). */
const char *tqa_qa_primer(void);
/* primer + "\n\nQ: " + question + "\nA:"; an answer is scored as the
 * continuation " " + answer. Caller frees. */
char *tqa_context(const tqa_item *it);

/* A seeded split of n items: order[] is a permutation, the first
 * tqa_split_count(n, frac) items form the first split. */
void tqa_split(int n, uint32_t seed, int *order);
int tqa_split_count(int n, double frac);

typedef struct {
    int mc1;    /* 1: the best answer's log-likelihood beats every false one */
    double mc2; /* probability mass on the true set, normalised over true+false */
} tqa_score;

tqa_score tqa_score_item(const tqa_item *it, const double *ll_true, const double *ll_false);

#endif
