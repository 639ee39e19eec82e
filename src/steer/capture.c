#include "steer/capture.h"

#include <stdlib.h>
#include <string.h>

int capture_tokenize(const model *m, const char *text, int add_bos, int **ids, int *n,
                     cape_err *e)
{
    const tok *t = model_tok(m);
    int bos = add_bos < 0 ? tok_wants_bos(t) : add_bos && tok_bos(t) >= 0;
    if (tok_encode(t, text, strlen(text), bos ? TOK_ADD_BOS : 0, ids, n, e))
        return e->code;
    if (*n == 0) {
        free(*ids);
        *ids = NULL;
        return err_set(e, CAPE_EINPUT, "an empty prompt gives no tokens");
    }
    return 0;
}

int capture_prompts(model_session *s, const model *m, char *const *prompts, int n,
                    const capture_opts *o, capture_fn fn, void *user, cape_err *e)
{
    const model_config *c = model_cfg(m);
    capture_row row = {c->n_layers, c->dim, c->n_heads * c->head_dim, c->n_heads, c->head_dim,
                       NULL, NULL, 0};
    float *resid = malloc((size_t)c->n_layers * c->dim * sizeof *resid);
    float *heads = o->want_heads
                       ? malloc((size_t)c->n_layers * row.head_width * sizeof *heads)
                       : NULL;
    if (!resid || (o->want_heads && !heads)) {
        free(resid);
        free(heads);
        return err_set(e, CAPE_EFAIL, "out of memory");
    }
    steer_hook h = {0};
    if (o->steer)
        h = *o->steer;
    h.n_layers = c->n_layers;
    h.dim = c->dim;
    h.head_width = row.head_width;
    h.resid = resid;
    h.heads = heads;
    model_session_set_hook(s, steer_hook_fn, &h);
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        int *ids, len;
        if ((rc = capture_tokenize(m, prompts[i], o->add_bos, &ids, &len, e))) {
            err_clear(e);
            rc = err_set(e, CAPE_EINPUT, "prompt %d: an empty prompt gives no tokens", i + 1);
            break;
        }
        if (len > model_session_n_ctx(s)) {
            free(ids);
            rc = err_set(e, CAPE_EINPUT, "prompt %d: %d tokens exceed the context of %d", i + 1,
                         len, model_session_n_ctx(s));
            break;
        }
        model_session_rewind(s, 0);
        h.capture_pos = len - 1;
        rc = model_eval(s, ids, len, MODEL_LOGITS_NONE, e);
        free(ids);
        if (rc)
            break;
        row.resid = resid;
        row.heads = heads;
        row.n_tokens = len;
        rc = fn(user, i, &row, e);
        if (o->progress)
            o->progress(o->progress_user, i + 1, n);
    }
    model_session_set_hook(s, NULL, NULL);
    free(resid);
    free(heads);
    return rc;
}
