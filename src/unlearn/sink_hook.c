#include "unlearn/sink_hook.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sink_hook_open(sink_hook *h, const char *path, int ffn_dim, const char *mode_name,
                   const char *source, cape_err *e)
{
    memset(h, 0, sizeof *h);
    h->width = ffn_dim;
    int rc = sink_model_read_file(&h->sm, path, ffn_dim, e);
    if (rc)
        return rc;
    h->enabled = h->sm.enabled;
    if (!h->enabled) {
        if (mode_name || source)
            return err_set(e, CAPE_EINPUT, "%s: has no sinks (--sinks and --source need a model "
                           "trained with cape train --sinks)", path);
        return 0;
    }
    h->mode = source ? SINK_MODE_SOURCE : SINK_MODE_OFF;
    if (mode_name && sink_mode_parse(mode_name, &h->mode))
        return err_set(e, CAPE_EINPUT, "--sinks: unknown mode '%s' (source, backbone, all, off)",
                       mode_name);
    if (h->mode == SINK_MODE_SOURCE) {
        if (!source)
            return err_set(e, CAPE_EINPUT, "--sinks source needs --source NAME");
        if (!(h->source = sink_sources_id(&h->sm.sources, source, 0))) {
            cape_err u = {0};
            sink_unknown_source(&h->sm, source, &u);
            return err_set(e, CAPE_EINPUT, "%s: %s", path, u.msg);
        }
    } else if (source) {
        return err_set(e, CAPE_EINPUT, "--source goes with --sinks source, not '%s'",
                       sink_mode_name(h->mode));
    }
    h->mask = malloc(sizeof(float) * ffn_dim);
    if (!h->mask)
        return err_set(e, CAPE_EFAIL, "out of memory");
    sink_hook_select(h, "");
    return 0;
}

void sink_hook_select(sink_hook *h, const char *query)
{
    if (h->enabled)
        h->used = sink_model_mask(&h->sm, h->mode, h->source, query, h->mask);
}

int sink_hook_per_query(const sink_hook *h)
{
    return h->enabled && (h->mode == SINK_MODE_OFF ||
                          (h->mode == SINK_MODE_SOURCE && sink_model_is_off(&h->sm, h->source)));
}

void sink_hook_fn(const model_hook_info *info, float *x, void *user)
{
    sink_hook *h = user;
    sink_hook_apply_mask(h, info, x, h->mask);
    if (h->next)
        h->next(info, x, h->next_user);
}

void sink_hook_apply_mask(const sink_hook *h, const model_hook_info *info, float *x,
                          const float *mask)
{
    if (!h->enabled || info->point != MODEL_HOOK_MLP_HIDDEN || info->width != h->width)
        return;
    for (int t = 0; t < info->n_tokens; t++) {
        float *row = x + (size_t)t * info->width;
        for (int i = 0; i < info->width; i++)
            row[i] *= mask[i];
    }
}

void sink_hook_free(sink_hook *h)
{
    sink_model_free(&h->sm);
    free(h->mask);
    memset(h, 0, sizeof *h);
}

int sink_seq_masks_init(sink_seq_masks *s, const sink_hook *h, int per_query, int n_seq,
                        cape_err *e)
{
    *s = (sink_seq_masks){.h = h, .per_query = per_query && h->enabled, .n_seq = n_seq};
    if (s->per_query &&
        !(s->masks = malloc(sizeof(float) * (size_t)n_seq * (size_t)h->width)))
        return err_set(e, CAPE_EFAIL, "out of memory");
    return 0;
}

void sink_seq_masks_select(sink_seq_masks *s, int seq, uint32_t source, const char *query)
{
    if (s->per_query && seq >= 0 && seq < s->n_seq)
        sink_model_mask(&s->h->sm, s->h->mode, source, query,
                        s->masks + (size_t)seq * s->h->width);
}

void sink_seq_masks_apply(const sink_seq_masks *s, const model_hook_info *info, float *x)
{
    sink_hook_apply_mask(s->h, info, x,
                         s->per_query ? s->masks + (size_t)info->seq * s->h->width
                                      : s->h->mask);
}

void sink_seq_masks_free(sink_seq_masks *s)
{
    free(s->masks);
    s->masks = NULL;
}
