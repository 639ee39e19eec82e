#include "steer/steer_eval.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "steer/prompts.h"

static void stage(const steer_eval_opts *o, const char *label)
{
    if (o->stage)
        o->stage(o->stage_user, label);
}

/* The blocks to sweep, each one the file has a direction for. */
static int choose_layers(const steer_eval_opts *o, int n_layers, steer_eval_result *r, cape_err *e)
{
    const cvec *cv = o->cv;
    int n = 0;
    if (o->layers) {
        for (int k = 0; k < o->nlayers && n < STEER_EVAL_MAX_LAYERS; k++)
            r->layers[n++] = o->layers[k];
    } else if (cv->chosen >= 0 && cv->present[cv->chosen]) {
        /* the block build chose, and the paper's quarter depth when the file has it */
        int quarter = n_layers / 4;
        r->layers[n++] = cv->chosen;
        if (quarter != cv->chosen && quarter < cv->n_slots && cv->present[quarter])
            r->layers[n++] = quarter;
    } else {
        for (int l = 0; l < cv->n_slots && n < STEER_EVAL_MAX_LAYERS; l++)
            if (cv->present[l])
                r->layers[n++] = l;
    }
    r->nlayers = n;
    for (int k = 0; k < n; k++) {
        int l = r->layers[k];
        if (l < 0 || l >= cv->n_slots || !cv->present[l] || l >= n_layers)
            return err_set(e, CAPE_EINPUT, "%s has no direction for block %d",
                           o->cvec_name ? o->cvec_name : "the control vector", l);
    }
    return 0;
}

/* The paper's measure: how many greedy continuations change under c. */
static int changed_measure(model_session *ses, const model *m, const steer_eval_opts *o,
                           const steer_cfg *c, steer_eval_result *r, cape_err *e)
{
    prompt_set P;
    if (prompts_read(o->changed_prompts, &P, e))
        return e->code;
    int n = o->changed < P.n ? o->changed : P.n, rc = 0;
    sample_opts greedy = {.temp = 0};
    if (!(r->changes = calloc((size_t)(n ? n : 1), sizeof *r->changes)))
        rc = err_set(e, CAPE_EFAIL, "out of memory");
    for (int i = 0; i < n && !rc; i++) {
        steer_eval_change *ch = &r->changes[i];
        r->nchanges = i + 1;
        if (!(ch->prompt = strdup(P.text[i])))
            rc = err_set(e, CAPE_EFAIL, "out of memory");
        if (!rc)
            rc = steer_generate(ses, m, P.text[i], NULL, &greedy, 50, 0, NULL, NULL,
                                &ch->unsteered, NULL, e);
        if (!rc)
            rc = steer_generate(ses, m, P.text[i], c, &greedy, 50, 0, NULL, NULL, &ch->steered,
                                NULL, e);
        if (!rc) {
            ch->changed = strcmp(ch->unsteered, ch->steered) != 0;
            r->nchanged += ch->changed;
        }
    }
    prompts_free(&P);
    return rc;
}

/* The steering of sweep point p, on the template t. */
static steer_cfg at_point(const steer_cfg *t, const mceval_point *p)
{
    steer_cfg c = *t;
    c.scale = (float)p->scale;
    c.layer_lo = c.layer_hi = p->layer;
    return c;
}

static int eval_on(model_session *ses, const model *m, const tqa_set *s, const int *idx, int n,
                   const steer_cfg *c, const steer_eval_opts *o, const char *label,
                   mceval_run *run, cape_err *e)
{
    stage(o, label);
    return mceval_truthfulqa(ses, m, s, idx, n, c, o->progress, o->progress_user, run, e);
}

static void on_point(void *user, int layer, double scale)
{
    const steer_eval_opts *o = user;
    char lab[64];
    snprintf(lab, sizeof lab, "block %d x%g", layer, scale);
    stage(o, lab);
}

int steer_eval_run(model_session *ses, const model *m, const tqa_set *s, const int *held, int nheld,
                   const steer_eval_opts *o, steer_eval_result *r, cape_err *e)
{
    memset(r, 0, sizeof *r);
    int rc = choose_layers(o, model_cfg(m)->n_layers, r, e);
    if (rc)
        return rc;
    r->ndev = nheld / 2;
    r->ntest = nheld - r->ndev;
    if (r->ndev < 2)
        return err_set(e, CAPE_EINPUT, "too few held-out questions (%d)", nheld);
    const int *dev = held, *test = held + r->ndev;
    int ndev = o->dev_limit && o->dev_limit < r->ndev ? o->dev_limit : r->ndev;
    r->ndev = ndev;
    cvec rcv = {0};
    mceval_run base_dev = {0}, base_test = {0}, best_test = {0}, rnd_test = {0};
    if (o->control && (rc = mceval_random_cvec(o->cv, o->control_seed, &rcv, e)))
        return rc;
    r->np = o->nscales * r->nlayers;
    r->pts = calloc((size_t)r->np, sizeof *r->pts);
    r->rpts = o->control ? calloc((size_t)r->np, sizeof *r->rpts) : NULL;
    if (!r->pts || (o->control && !r->rpts)) {
        rc = err_set(e, CAPE_EFAIL, "out of memory");
        goto done;
    }
    if ((rc = eval_on(ses, m, s, dev, ndev, NULL, o, "baseline", &base_dev, e)))
        goto done;
    mceval_compare(&base_dev, &base_dev, o->nboot, o->seed, &r->dev_base);
    steer_cfg tmpl = {.cv = o->cv, .last_only = o->last_only, .gate = o->gate, .gate_layer = -1,
                      .relative = o->relative};
    steer_cfg rtmpl = tmpl;
    rtmpl.cv = &rcv;
    mceval_sweep_opts so = {.tmpl = &tmpl, .layers = r->layers, .nlayers = r->nlayers,
                            .scales = o->scales, .nscales = o->nscales,
                            .select_mc1 = o->select_mc1, .nboot = o->nboot, .seed = o->seed,
                            .on_point = on_point, .on_point_user = (void *)o,
                            .progress = o->progress, .progress_user = o->progress_user};
    if ((rc = mceval_sweep(ses, m, s, dev, ndev, &base_dev, &so, r->pts, &r->best, e)))
        goto done;
    so.tmpl = &rtmpl;
    if (o->control &&
        (rc = mceval_sweep(ses, m, s, dev, ndev, &base_dev, &so, r->rpts, &r->rbest, e)))
        goto done;
    steer_cfg bc = at_point(&tmpl, &r->pts[r->best]);
    if ((rc = eval_on(ses, m, s, test, r->ntest, NULL, o, "test, unsteered", &base_test, e)) ||
        (rc = eval_on(ses, m, s, test, r->ntest, &bc, o, "test, steered", &best_test, e)))
        goto done;
    mceval_compare(&base_test, &base_test, o->nboot, o->seed, &r->test_base);
    mceval_compare(&base_test, &best_test, o->nboot, o->seed, &r->test_steered);
    r->verdict = MCEVAL_NO_GAIN;
    if (o->control) {
        steer_cfg rc_cfg = at_point(&rtmpl, &r->rpts[r->rbest]);
        if ((rc = eval_on(ses, m, s, test, r->ntest, &rc_cfg, o, "test, random direction",
                          &rnd_test, e)))
            goto done;
        mceval_compare(&base_test, &rnd_test, o->nboot, o->seed, &r->test_random);
        mceval_compare(&rnd_test, &best_test, o->nboot, o->seed, &r->truth_minus_random);
        r->verdict = mceval_judge(&r->test_steered, &r->truth_minus_random, o->select_mc1);
    }
    if (o->changed && o->changed_prompts)
        rc = changed_measure(ses, m, o, &bc, r, e);
done:
    mceval_free(&base_dev);
    mceval_free(&base_test);
    mceval_free(&best_test);
    mceval_free(&rnd_test);
    cvec_free(&rcv);
    if (rc)
        steer_eval_result_free(r);
    return rc;
}

void steer_eval_result_free(steer_eval_result *r)
{
    free(r->pts);
    free(r->rpts);
    for (int i = 0; i < r->nchanges; i++) {
        free(r->changes[i].prompt);
        free(r->changes[i].unsteered);
        free(r->changes[i].steered);
    }
    free(r->changes);
    memset(r, 0, sizeof *r);
}
