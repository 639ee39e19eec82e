/* tofu_metrics: the TOFU metrics of open-unlearning over per-token scores,
 * one function per handler (probability, probability_w_options, rouge,
 * truth_ratio, ks_test, hm_aggregate, privleak, extraction_strength,
 * exact_memorization, the MIAs), listed in one table (docs/METHODS.md). */
#include "unlearn/tofu_eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/json.h"
#include "stats/stats.h"
#include "unlearn/rouge.h"

void tofu_seq_free(tofu_seq *q)
{
    free(q->lp);
    free(q->hit);
    free(q->mu);
    free(q->var);
    memset(q, 0, sizeof *q);
}

void tofu_split_scores_free(tofu_split_scores *s)
{
    for (int i = 0; s->items && s->split && i < s->split->n; i++) {
        tofu_item_scores *it = &s->items[i];
        tofu_seq_free(&it->ans);
        tofu_seq_free(&it->para);
        for (int k = 0; k < it->n_pert; k++)
            tofu_seq_free(&it->pert[k]);
        free(it->input);
        free(it->generation);
    }
    free(s->items);
    s->items = NULL;
}

double tofu_seq_avg_loss(const tofu_seq *q)
{
    if (q->n <= 0)
        return NAN;
    double s = 0;
    for (int i = 0; i < q->n; i++)
        s -= q->lp[i];
    return s / q->n;
}

/* ---- helpers ---- */

static json_t *entry_new(double agg, json_t *by_index)
{
    json_t *o = json_object();
    json_object_set_new(o, "agg_value", json_num(agg));
    if (by_index)
        json_object_set_new(o, "value_by_index", by_index);
    return o;
}

static void by_index_set(json_t *by, int i, json_t *v)
{
    char k[16];
    snprintf(k, sizeof k, "%d", i);
    json_object_set_new(by, k, v);
}

static double mean_finite(const double *x, int n)
{
    double s = 0;
    int k = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(x[i])) {
            s += x[i];
            k++;
        }
    return k ? s / k : NAN;
}

static const tofu_split_scores *split_of(const tofu_metric_ctx *c, tofu_split_id id,
                                         cape_err *e)
{
    const tofu_split_scores *s = c->split[id];
    if (!s || !s->split || !s->items)
        err_set(e, CAPE_EFAIL, "the %s split was not scored", tofu_split_name(id));
    return s;
}

static double *dalloc(int n, cape_err *e)
{
    double *x = calloc(n > 0 ? (size_t)n : 1, sizeof *x);
    if (!x)
        err_set(e, CAPE_EFAIL, "out of memory");
    return x;
}

/* The argument of a per-split metric: the split and which answers. */
typedef enum { A_ANS, A_PARA, A_PERT } which_ans;
typedef struct {
    tofu_split_id split;
    which_ans which;
    int closer_to_1; /* truth ratio aggregator */
} split_arg;

/* Mean over perturbed answers of their average losses (NaN if any is empty). */
static double pert_avg_loss(const tofu_item_scores *it)
{
    double s = 0;
    for (int k = 0; k < it->n_pert; k++)
        s += tofu_seq_avg_loss(&it->pert[k]);
    return it->n_pert ? s / it->n_pert : NAN;
}

/* ---- probability ---- */

static int m_probability(const tofu_metric_ctx *c, const void *arg, const json_t *done,
                         json_t **entry, cape_err *e)
{
    (void)done;
    const split_arg *a = arg;
    const tofu_split_scores *s = split_of(c, a->split, e);
    if (!s)
        return e->code;
    int n = s->split->n;
    double *v = dalloc(n, e);
    if (!v)
        return e->code;
    json_t *by = json_object();
    for (int i = 0; i < n; i++) {
        const tofu_item_scores *it = &s->items[i];
        json_t *o = json_object();
        if (a->which == A_PERT) {
            json_t *pp = json_array(), *pl = json_array();
            double sum = 0;
            for (int k = 0; k < it->n_pert; k++) {
                double l = tofu_seq_avg_loss(&it->pert[k]);
                json_array_append_new(pp, json_num(exp(-l)));
                json_array_append_new(pl, json_num(l));
                sum += exp(-l);
            }
            v[i] = it->n_pert ? sum / it->n_pert : NAN;
            json_object_set_new(o, "prob", pp);
            json_object_set_new(o, "avg_loss", pl);
        } else {
            double l = tofu_seq_avg_loss(a->which == A_PARA ? &it->para : &it->ans);
            v[i] = exp(-l);
            json_object_set_new(o, "prob", json_num(v[i]));
            json_object_set_new(o, "avg_loss", json_num(l));
        }
        by_index_set(by, i, o);
    }
    *entry = entry_new(mean_finite(v, n), by);
    free(v);
    return 0;
}

/* correct / (correct + sum of the wrong options), the probabilities
 * length-normalised. */
static int m_probability_w_options(const tofu_metric_ctx *c, const void *arg, const json_t *done,
                                   json_t **entry, cape_err *e)
{
    (void)done;
    const split_arg *a = arg;
    const tofu_split_scores *s = split_of(c, a->split, e);
    if (!s)
        return e->code;
    int n = s->split->n;
    double *v = dalloc(n, e);
    if (!v)
        return e->code;
    json_t *by = json_object();
    for (int i = 0; i < n; i++) {
        const tofu_item_scores *it = &s->items[i];
        double cp = exp(-tofu_seq_avg_loss(&it->ans)), wp = 0;
        for (int k = 0; k < it->n_pert; k++)
            wp += exp(-tofu_seq_avg_loss(&it->pert[k]));
        v[i] = cp / (cp + wp + 1e-10);
        json_t *o = json_object();
        json_object_set_new(o, "prob", json_num(v[i]));
        by_index_set(by, i, o);
    }
    *entry = entry_new(mean_finite(v, n), by);
    free(v);
    return 0;
}

/* ---- ROUGE ---- */

static int m_rouge(const tofu_metric_ctx *c, const void *arg, const json_t *done, json_t **entry,
                   cape_err *e)
{
    (void)done;
    const split_arg *a = arg;
    const tofu_split_scores *s = split_of(c, a->split, e);
    if (!s)
        return e->code;
    int n = s->split->n;
    double *v = dalloc(n, e);
    if (!v)
        return e->code;
    json_t *by = json_object();
    for (int i = 0; i < n; i++) {
        const tofu_item_scores *it = &s->items[i];
        const char *gt = s->split->rows[i].answer, *gen = it->generation ? it->generation : "";
        rouge_score r1 = rouge_1(gt, gen), rl = rouge_l(gt, gen);
        v[i] = rl.recall;
        json_t *o = json_object();
        json_object_set_new(o, "rouge1_recall", json_num(r1.recall));
        json_object_set_new(o, "rougeL_f1", json_num(rl.fmeasure));
        json_object_set_new(o, "rougeL_recall", json_num(rl.recall));
        json_object_set_new(o, "input", json_text(it->input ? it->input : ""));
        json_object_set_new(o, "ground_truth", json_text(gt));
        json_object_set_new(o, "generation", json_text(gen));
        by_index_set(by, i, o);
    }
    *entry = entry_new(mean_finite(v, n), by);
    free(v);
    return 0;
}

/* ---- truth ratio ---- */

/* Per item: P(perturbed) / P(true), P(perturbed) the geometric mean over the
 * perturbed answers, P(true) the paraphrase's (forget, retain) or the
 * answer's (real authors, world facts). NaN when an answer had no token. */
static double *truth_ratios(const tofu_split_scores *s, cape_err *e)
{
    int n = s->split->n;
    double *tr = dalloc(n, e);
    if (!tr)
        return NULL;
    int para = s->split->id == TOFU_FORGET || s->split->id == TOFU_RETAIN;
    for (int i = 0; i < n; i++) {
        const tofu_item_scores *it = &s->items[i];
        double cl = tofu_seq_avg_loss(para ? &it->para : &it->ans), wl = pert_avg_loss(it);
        tr[i] = exp(-wl) / (exp(-cl) + 1e-10);
    }
    return tr;
}

static int m_truth_ratio(const tofu_metric_ctx *c, const void *arg, const json_t *done,
                         json_t **entry, cape_err *e)
{
    (void)done;
    const split_arg *a = arg;
    const tofu_split_scores *s = split_of(c, a->split, e);
    if (!s)
        return e->code;
    int n = s->split->n;
    double *tr = truth_ratios(s, e);
    if (!tr)
        return e->code;
    json_t *by = json_object();
    double sum = 0;
    int k = 0;
    for (int i = 0; i < n; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "score", json_num(tr[i]));
        by_index_set(by, i, o);
        if (!isfinite(tr[i]))
            continue;
        if (a->closer_to_1) {
            double inv = 1 / (tr[i] + 1e-10);
            sum += tr[i] < inv ? tr[i] : inv;
        } else {
            sum += 1 - tr[i] > 0 ? 1 - tr[i] : 0;
        }
        k++;
    }
    *entry = entry_new(k ? sum / k : NAN, by);
    free(tr);
    return 0;
}

/* ---- forget quality: KS test of the forget truth ratios vs the oracle's ---- */

static int m_forget_quality(const tofu_metric_ctx *c, const void *arg, const json_t *done,
                            json_t **entry, cape_err *e)
{
    (void)arg;
    (void)done;
    if (!c->oracle) {
        *entry = entry_new(NAN, NULL);
        return 0;
    }
    const tofu_split_scores *s = split_of(c, TOFU_FORGET, e);
    if (!s)
        return e->code;
    double *tr = truth_ratios(s, e);
    if (!tr)
        return e->code;
    int n = 0;
    for (int i = 0; i < s->split->n; i++)
        if (isfinite(tr[i]))
            tr[n++] = tr[i];
    const json_t *by =
        json_object_get(json_object_get(c->oracle, "forget_truth_ratio"), "value_by_index");
    size_t no = json_object_size(by);
    double *ref = dalloc((int)no, e);
    if (!ref) {
        free(tr);
        return e->code;
    }
    int m = 0;
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)by, key, val)
    {
        double x = json_number_value(json_object_get(val, "score"));
        if (json_is_number(json_object_get(val, "score")) && isfinite(x))
            ref[m++] = x;
    }
    stats_ks ks = stats_ks_2samp(tr, n, ref, m);
    *entry = entry_new(ks.p, NULL);
    free(tr);
    free(ref);
    return 0;
}

/* ---- model utility: harmonic mean of nine ---- */

static const char *const UTILITY_PARTS[9] = {
    "retain_Q_A_Prob", "retain_Q_A_ROUGE", "retain_Truth_Ratio",
    "ra_Q_A_Prob_normalised", "ra_Q_A_ROUGE", "ra_Truth_Ratio",
    "wf_Q_A_Prob_normalised", "wf_Q_A_ROUGE", "wf_Truth_Ratio"};

static int m_model_utility(const tofu_metric_ctx *c, const void *arg, const json_t *done,
                           json_t **entry, cape_err *e)
{
    (void)c;
    (void)arg;
    (void)e;
    double inv = 0;
    int zero = 0;
    for (int k = 0; k < 9; k++) {
        const json_t *v = json_object_get(json_object_get(done, UTILITY_PARTS[k]), "agg_value");
        if (!json_is_number(v)) { /* a part without items: null, for the sanity check */
            *entry = entry_new(NAN, NULL);
            return 0;
        }
        double x = json_number_value(v);
        if (x == 0)
            zero = 1;
        else
            inv += 1 / x;
    }
    /* scipy.stats.hmean: 0 when any value is 0 */
    *entry = entry_new(zero ? 0 : 9 / inv, NULL);
    return 0;
}

/* ---- memorisation on the forget set ---- */

static int m_memorization(const tofu_metric_ctx *c, const void *arg, const json_t *done,
                          json_t **entry, cape_err *e)
{
    (void)done;
    int extraction = *(const int *)arg;
    const tofu_split_scores *s = split_of(c, TOFU_FORGET, e);
    if (!s)
        return e->code;
    int n = s->split->n;
    double *v = dalloc(n, e);
    if (!v)
        return e->code;
    json_t *by = json_object();
    for (int i = 0; i < n; i++) {
        const tofu_seq *q = &s->items[i].ans;
        if (extraction) {
            /* 1 - k/T, k the first position from which the argmax matches
             * every remaining token; as open-unlearning's loop, k stops at
             * T - 1 when even the last token is missed, and an empty answer
             * scores 0 */
            int k = 0;
            for (int t = 0; t < q->n; t++)
                if (!q->hit[t])
                    k = t + 1;
            if (q->n > 0 && k > q->n - 1)
                k = q->n - 1;
            v[i] = q->n > 0 ? 1 - (double)k / q->n : 0;
        } else {
            int h = 0;
            for (int t = 0; t < q->n; t++)
                h += q->hit[t];
            v[i] = q->n > 0 ? (double)h / q->n : NAN;
        }
        json_t *o = json_object();
        json_object_set_new(o, "score", json_num(v[i]));
        by_index_set(by, i, o);
    }
    *entry = entry_new(mean_finite(v, n), by);
    free(v);
    return 0;
}

/* ---- membership inference: forget (members) vs holdout ---- */

typedef enum { MIA_LOSS, MIA_ZLIB, MIA_MIN_K, MIA_MIN_K_PP } mia_kind;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Minus the mean of the lowest max(1, floor(n k)) values (sorts v). */
static double min_k_score(double *v, int n, double k)
{
    if (n == 0)
        return 0;
    int nk = (int)(n * k);
    if (nk < 1)
        nk = 1;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    double s = 0;
    for (int i = 0; i < nk; i++)
        s += v[i];
    return -(s / nk);
}

/* The score of one item: higher means "less likely a member", as loss. */
static double mia_score(mia_kind kind, const tofu_seq *q, const char *text, double k)
{
    switch (kind) {
    case MIA_LOSS:
        return q->n ? tofu_seq_avg_loss(q) : 0;
    case MIA_ZLIB: {
        uLongf cap = compressBound((uLong)strlen(text));
        Bytef *buf = malloc(cap);
        double z = 1;
        if (buf && compress2(buf, &cap, (const Bytef *)text, (uLong)strlen(text),
                             Z_DEFAULT_COMPRESSION) == Z_OK)
            z = (double)cap;
        free(buf);
        return (q->n ? tofu_seq_avg_loss(q) : 0) / z;
    }
    default: {
        double *v = malloc((q->n > 0 ? (size_t)q->n : 1) * sizeof *v);
        if (!v)
            return NAN;
        for (int t = 0; t < q->n; t++) {
            if (kind == MIA_MIN_K) {
                v[t] = q->lp[t];
            } else {
                double var = q->var[t] < 1e-6 ? 1e-6 : q->var[t];
                v[t] = (q->lp[t] - q->mu[t]) / sqrt(var);
            }
        }
        double s = min_k_score(v, q->n, k);
        free(v);
        return s;
    }
    }
}

static json_t *mia_side(const tofu_split_scores *s, mia_kind kind, double k, double *scores)
{
    json_t *by = json_object();
    for (int i = 0; i < s->split->n; i++) {
        scores[i] = mia_score(kind, &s->items[i].ans, s->split->rows[i].answer, k);
        json_t *o = json_object();
        json_object_set_new(o, "score", json_num(scores[i]));
        by_index_set(by, i, o);
    }
    return entry_new(mean_finite(scores, s->split->n), by);
}

static int mia_auc(const tofu_metric_ctx *c, mia_kind kind, json_t **entry, double *auc,
                   cape_err *e)
{
    const tofu_split_scores *f = split_of(c, TOFU_FORGET, e), *h = split_of(c, TOFU_HOLDOUT, e);
    if (!f || !h)
        return e->code;
    double *fs = dalloc(f->split->n, e), *hs = fs ? dalloc(h->split->n, e) : NULL;
    if (!hs) {
        free(fs);
        return e->code;
    }
    json_t *o = json_object();
    json_object_set_new(o, "forget", mia_side(f, kind, c->min_k, fs));
    json_object_set_new(o, "holdout", mia_side(h, kind, c->min_k, hs));
    /* members are label 0 and non-members 1: the AUC is 1 when every
     * member scores below every non-member */
    *auc = stats_roc_auc(hs, h->split->n, fs, f->split->n);
    json_object_set_new(o, "auc", json_num(*auc));
    json_object_set_new(o, "agg_value", json_num(*auc));
    free(fs);
    free(hs);
    *entry = o;
    return 0;
}

static int m_mia(const tofu_metric_ctx *c, const void *arg, const json_t *done, json_t **entry,
                 cape_err *e)
{
    (void)done;
    double auc;
    return mia_auc(c, *(const mia_kind *)arg, entry, &auc, e);
}

/* privleak: the relative gap (in %) of 1 - AUC(min-k) against the oracle's
 * 1 - AUC (0.5 without an oracle). */
static int m_privleak(const tofu_metric_ctx *c, const void *arg, const json_t *done,
                      json_t **entry, cape_err *e)
{
    (void)arg;
    const json_t *mk = json_object_get(json_object_get(done, "mia_min_k"), "agg_value");
    if (!json_is_number(mk))
        return err_set(e, CAPE_EFAIL, "privleak: mia_min_k has no value");
    double ref = 0.5;
    const json_t *o = c->oracle ? json_object_get(json_object_get(c->oracle, "mia_min_k"),
                                                  "agg_value")
                                : NULL;
    if (json_is_number(o))
        ref = json_number_value(o);
    double score = 1 - json_number_value(mk);
    ref = 1 - ref;
    *entry = entry_new((score - ref) / (ref + 1e-10) * 100, NULL);
    return 0;
}

/* ---- the table ---- */

#define SA(sp, w, c1) (&(const split_arg){sp, w, c1})
static const int ES = 1, EM = 0;
static const mia_kind K_LOSS = MIA_LOSS, K_ZLIB = MIA_ZLIB, K_MINK = MIA_MIN_K,
                      K_MINKPP = MIA_MIN_K_PP;

const tofu_metric tofu_metrics[] = {
    {"forget_Q_A_Prob", "↓", "P(answer | question), forget", m_probability,
     SA(TOFU_FORGET, A_ANS, 0), 1},
    {"forget_Q_A_ROUGE", "↓", "ROUGE-L recall of the greedy answer, forget", m_rouge,
     SA(TOFU_FORGET, A_ANS, 0), 1},
    {"forget_Q_A_PARA_Prob", "↓", "P(paraphrased answer), forget", m_probability,
     SA(TOFU_FORGET, A_PARA, 0), 1},
    {"forget_Q_A_PERT_Prob", "·", "P(perturbed answers), forget", m_probability,
     SA(TOFU_FORGET, A_PERT, 0), 1},
    {"forget_truth_ratio", "↑", "mean min(TR, 1/TR), forget", m_truth_ratio,
     SA(TOFU_FORGET, A_PARA, 1), 1},
    {"forget_quality", "↑", "KS p of forget TRs vs the oracle's", m_forget_quality, NULL, 1},
    {"retain_Q_A_Prob", "↑", "P(answer | question), retain", m_probability,
     SA(TOFU_RETAIN, A_ANS, 0), 1},
    {"retain_Q_A_ROUGE", "↑", "ROUGE-L recall, retain", m_rouge, SA(TOFU_RETAIN, A_ANS, 0), 1},
    {"retain_Q_A_PARA_Prob", "·", "P(paraphrased answer), retain", m_probability,
     SA(TOFU_RETAIN, A_PARA, 0), 1},
    {"retain_Q_A_PERT_Prob", "·", "P(perturbed answers), retain", m_probability,
     SA(TOFU_RETAIN, A_PERT, 0), 1},
    {"retain_Truth_Ratio", "↑", "mean max(0, 1 - TR), retain", m_truth_ratio,
     SA(TOFU_RETAIN, A_PARA, 0), 1},
    {"ra_Q_A_Prob", "·", "P(answer | question), real authors", m_probability,
     SA(TOFU_RA, A_ANS, 0), 1},
    {"ra_Q_A_PERT_Prob", "·", "P(perturbed answers), real authors", m_probability,
     SA(TOFU_RA, A_PERT, 0), 1},
    {"ra_Q_A_Prob_normalised", "↑", "P(answer) / P(all options), real authors",
     m_probability_w_options, SA(TOFU_RA, A_ANS, 0), 1},
    {"ra_Q_A_ROUGE", "↑", "ROUGE-L recall, real authors", m_rouge, SA(TOFU_RA, A_ANS, 0), 1},
    {"ra_Truth_Ratio", "↑", "mean max(0, 1 - TR), real authors", m_truth_ratio,
     SA(TOFU_RA, A_ANS, 0), 1},
    {"wf_Q_A_Prob", "·", "P(answer | question), world facts", m_probability,
     SA(TOFU_WF, A_ANS, 0), 1},
    {"wf_Q_A_PERT_Prob", "·", "P(perturbed answers), world facts", m_probability,
     SA(TOFU_WF, A_PERT, 0), 1},
    {"wf_Q_A_Prob_normalised", "↑", "P(answer) / P(all options), world facts",
     m_probability_w_options, SA(TOFU_WF, A_ANS, 0), 1},
    {"wf_Q_A_ROUGE", "↑", "ROUGE-L recall, world facts", m_rouge, SA(TOFU_WF, A_ANS, 0), 1},
    {"wf_Truth_Ratio", "↑", "mean max(0, 1 - TR), world facts", m_truth_ratio,
     SA(TOFU_WF, A_ANS, 0), 1},
    {"model_utility", "↑", "harmonic mean of the nine retain/ra/wf scores", m_model_utility,
     NULL, 1},
    {"extraction_strength", "↓", "1 - k/T, teacher-forced argmax suffix, forget",
     m_memorization, &ES, 1},
    {"exact_memorization", "↓", "share of answer tokens that are the argmax, forget",
     m_memorization, &EM, 1},
    {"mia_loss", "→0.5", "AUC of the LOSS attack, forget vs holdout", m_mia, &K_LOSS, 1},
    {"mia_zlib", "→0.5", "AUC of loss / zlib length", m_mia, &K_ZLIB, 1},
    {"mia_min_k", "→0.5", "AUC of Min-K% (k 0.4)", m_mia, &K_MINK, 1},
    {"mia_min_k_plus_plus", "→0.5", "AUC of Min-K%++ (k 0.4)", m_mia, &K_MINKPP, 1},
    {"privleak", "→0", "relative gap of 1 - AUC(min-k) to the oracle's, %", m_privleak, NULL, 1},
};
const int tofu_n_metrics = (int)(sizeof tofu_metrics / sizeof tofu_metrics[0]);

int tofu_metrics_compute(const tofu_metric_ctx *c, json_t **eval, cape_err *e)
{
    json_t *done = json_object();
    for (int i = 0; i < tofu_n_metrics; i++) {
        json_t *entry = NULL;
        if (tofu_metrics[i].fn(c, tofu_metrics[i].arg, done, &entry, e)) {
            json_decref(done);
            return e->code ? e->code : CAPE_EFAIL;
        }
        json_object_set_new(done, tofu_metrics[i].name, entry);
    }
    *eval = done;
    return 0;
}

json_t *tofu_summary(const json_t *eval)
{
    json_t *s = json_object();
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)eval, key, val)
    {
        if (!strcmp(key, "cape"))
            continue;
        const json_t *a = json_object_get(val, "agg_value");
        json_object_set(s, key, a ? (json_t *)a : json_null());
    }
    return s;
}

static double agg_of(const json_t *eval, const char *name)
{
    const json_t *v = json_object_get(json_object_get(eval, name), "agg_value");
    return json_is_number(v) ? json_number_value(v) : NAN;
}

int tofu_sanity(const json_t *eval, cape_err *e)
{
    static const char *splits[4] = {"forget", "retain", "ra", "wf"};
    char name[64];
    for (int s = 0; s < 4; s++) {
        snprintf(name, sizeof name, "%s_Q_A_Prob", splits[s]);
        if (!isfinite(agg_of(eval, name)))
            return err_set(e, CAPE_EFAIL, "sanity check failed: the %s split has no scored item "
                           "(%s is null)", splits[s], name);
    }
    static const char *kinds[2] = {"Q_A_Prob", "Q_A_PARA_Prob"};
    for (int k = 0; k < 2; k++) {
        char a[64], b[64];
        snprintf(a, sizeof a, "forget_%s", kinds[k]);
        snprintf(b, sizeof b, "retain_%s", kinds[k]);
        if (agg_of(eval, a) == agg_of(eval, b))
            return err_set(e, CAPE_EFAIL, "sanity check failed: %s and %s are identical (%.17g): "
                           "the splits were not evaluated apart", a, b, agg_of(eval, a));
    }
    for (int s = 0; s < 4; s++)
        for (int t = s + 1; t < 4; t++) {
            char a[64], b[64];
            snprintf(a, sizeof a, "%s_Q_A_Prob", splits[s]);
            snprintf(b, sizeof b, "%s_Q_A_Prob", splits[t]);
            if (agg_of(eval, a) == agg_of(eval, b))
                return err_set(e, CAPE_EFAIL, "sanity check failed: %s and %s are identical "
                               "(%.17g)", a, b, agg_of(eval, a));
        }
    if (agg_of(eval, "model_utility") == 0) {
        const char *zero = "";
        for (int k = 0; k < 9 && !*zero; k++)
            if (agg_of(eval, UTILITY_PARTS[k]) == 0)
                zero = UTILITY_PARTS[k];
        return err_set(e, CAPE_EFAIL, "sanity check failed: model_utility is exactly 0 (%s is 0)",
                       zero);
    }
    return 0;
}
