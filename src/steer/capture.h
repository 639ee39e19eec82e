/* capture: runs prompts through a model one at a time and hands the caller,
 * for each, the residual stream after every block (and optionally every
 * attention head's output) at the prompt's last token. Nothing is kept: the
 * caller streams or reduces each row, so prompt sets of any size fit. */
#ifndef CAPE_CAPTURE_H
#define CAPE_CAPTURE_H

#include "model/model.h"
#include "steer/hook.h"

typedef struct {
    int n_layers, dim, head_width, n_heads, head_dim;
    const float *resid; /* [n_layers][dim] */
    const float *heads; /* [n_layers][head_width], NULL unless asked for */
    int n_tokens;
} capture_row;

typedef int (*capture_fn)(void *user, int index, const capture_row *row, cape_err *e);
typedef void (*capture_progress_fn)(void *user, long done, long total);

typedef struct {
    int want_heads;
    int add_bos; /* -1: the model's choice */
    /* steering to apply while capturing (vec/on/scale/add_from_pos of it are
     * used; NULL: none) */
    const steer_hook *steer;
    capture_progress_fn progress;
    void *progress_user;
} capture_opts;

int capture_prompts(model_session *s, const model *m, char *const *prompts, int n,
                    const capture_opts *o, capture_fn fn, void *user, cape_err *e);

/* Tokens of a prompt as capture and generation see them. Caller frees. */
int capture_tokenize(const model *m, const char *text, int add_bos, int **ids, int *n,
                     cape_err *e);

#endif
