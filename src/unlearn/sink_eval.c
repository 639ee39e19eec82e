#include "unlearn/sink_eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void item_mask(const sink_model *s, sink_mode mode, int off_own, const sink_eval_item *it,
                      float *mask, uint32_t *routed)
{
    sink_model view = *s;
    uint32_t *off = NULL;
    if (off_own && it->source) {
        off = malloc(sizeof *off * (s->n_off + 1));
        if (off) {
            if (s->n_off)
                memcpy(off, s->off, sizeof *off * s->n_off);
            off[s->n_off] = it->source;
            view.off = off;
            view.n_off = s->n_off + 1;
        }
    }
    uint32_t to = sink_model_mask(&view, mode, it->source, it->query, mask);
    if (routed)
        *routed = to;
    free(off);
}

int sink_eval_losses(train_model *m, const sink_model *s, sink_mode mode, int off_own,
                     const sink_eval_item *items, int n, float *loss, uint32_t *routed,
                     cape_err *e)
{
    int B = m->B, T = m->T, I = m->cfg.hidden;
    int sinks = s && s->enabled;
    int *tok = malloc(sizeof(int) * B * T), *tgt = malloc(sizeof(int) * B * T);
    float *masks = sinks ? malloc(sizeof(float) * B * I) : NULL;
    float *row = malloc(sizeof(float) * B);
    if (!tok || !tgt || (sinks && !masks) || !row) {
        free(tok), free(tgt), free(masks), free(row);
        return err_set(e, CAPE_EFAIL, "out of memory for evaluation");
    }
    for (int i0 = 0; i0 < n; i0 += B) {
        for (int b = 0; b < B; b++) {
            int i = i0 + b;
            for (int t = 0; t < T; t++) {
                int ok = i < n && t < items[i].len;
                tok[b * T + t] = ok ? items[i].tokens[t] : 0;
                tgt[b * T + t] = ok ? items[i].targets[t] : -1;
            }
            if (sinks) {
                if (i < n)
                    item_mask(s, mode, off_own, &items[i], masks + (size_t)b * I,
                              routed ? &routed[i] : NULL);
                else
                    sink_mask_backbone(&s->layout, masks + (size_t)b * I);
            } else if (routed && i < n) {
                routed[i] = 0;
            }
        }
        train_row_losses(m, tok, tgt, masks, NULL, B, T, row);
        for (int b = 0; b < B && i0 + b < n; b++)
            loss[i0 + b] = row[b];
    }
    free(tok), free(tgt), free(masks), free(row);
    return 0;
}
