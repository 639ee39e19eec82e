/* prompts: prompt sets for probing and steering: one prompt per line of a
 * text file (llama.cpp's convention: "\n" in a line stands for a newline,
 * blank lines are skipped), or TruthfulQA answers written as statements. */
#ifndef CAPE_PROMPTS_H
#define CAPE_PROMPTS_H

#include "base/err.h"
#include "steer/tqa.h"

typedef struct {
    char **text;
    int n;
} prompt_set;

int prompts_read(const char *path, prompt_set *p, cape_err *e);
/* "Q: <question>\nA: <answer>" for each item's best answer (truthful) and its
 * first incorrect answer (untruthful), over the items listed in idx. */
int prompts_from_tqa(const tqa_set *s, const int *idx, int n, prompt_set *truthful,
                     prompt_set *untruthful, cape_err *e);
void prompts_free(prompt_set *p);

#endif
