#include "steer/hook.h"

#include <string.h>

void steer_hook_fn(const model_hook_info *in, float *x, void *user)
{
    steer_hook *h = user;
    int l = in->layer;
    if (in->point == MODEL_HOOK_RESID_POST && h->vec && h->on && h->on[l] && h->scale != 0) {
        const float *v = h->vec + (size_t)l * h->dim;
        int from = h->from_pos_seq && in->seq >= 0 && in->seq < h->n_from_seq
                       ? h->from_pos_seq[in->seq] : h->add_from_pos;
        for (int t = 0; t < in->n_tokens; t++) {
            if (in->pos0 + t < from)
                continue;
            float *row = x + (size_t)t * in->width;
            for (int j = 0; j < in->width; j++)
                row[j] += h->scale * v[j];
        }
    }
    int r = h->capture_pos - in->pos0;
    if (h->capture_pos >= 0 && r >= 0 && r < in->n_tokens) {
        const float *row = x + (size_t)r * in->width;
        if (in->point == MODEL_HOOK_RESID_POST && h->resid)
            memcpy(h->resid + (size_t)l * h->dim, row, (size_t)h->dim * sizeof *row);
        else if (in->point == MODEL_HOOK_ATTN_HEADS && h->heads)
            memcpy(h->heads + (size_t)l * h->head_width, row,
                   (size_t)h->head_width * sizeof *row);
    }
    if (h->next)
        h->next(in, x, h->next_user);
}
