/* icl: in-context reintroduction (icl.h). The item builder, the copying
 * probe, the bootstrap, and one run of a model (and its oracle) through the
 * runtime's scorer and batched greedy generation. */
#include "unlearn/icl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/file.h"
#include "base/json.h"
#include "base/rng.h"
#include "model/generate.h"
#include "model/score.h"
#include "tensor/matmul.h"
#include "train/train_ckpt.h"
#include "train/train_data.h"
#include "unlearn/filter.h"
#include "unlearn/rouge.h"
#include "unlearn/sink_hook.h"

const char *const icl_cond_name[ICL_NCOND] = {"echo", "spillover", "composition"};
const char *const icl_copy_form_name[ICL_COPY_NFORM] = {"key", "question"};

#define ROWS_PER_AUTHOR 20
#define PLAIN_TEMPLATE "Question: {question}\nAnswer:"
#define REFUSAL "I'm sorry, I cannot answer that."

/* ---- building ---- */


/* s with every occurrence of a replaced by b */
static char *replace_all(const char *s, const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b), cnt = 0;
    for (const char *p = s; (p = strstr(p, a)); p += na)
        cnt++;
    char *out = malloc(strlen(s) + cnt * (nb > na ? nb - na : 0) + 1), *o = out;
    if (!out)
        return NULL;
    for (const char *p = s;;) {
        const char *q = strstr(p, a);
        size_t n = q ? (size_t)(q - p) : strlen(p);
        memcpy(o, p, n);
        o += n;
        if (!q)
            break;
        memcpy(o, b, nb);
        o += nb;
        p = q + na;
    }
    *o = 0;
    return out;
}

/* the facts f[0..n) as lines (each ends in a newline) */
static char *join_facts(const char *const *f, int n)
{
    size_t len = 1;
    for (int i = 0; i < n; i++)
        len += strlen(f[i]) + 1;
    char *s = malloc(len), *p = s;
    if (!s)
        return NULL;
    for (int i = 0; i < n; i++) {
        size_t l = strlen(f[i]);
        memcpy(p, f[i], l);
        p[l] = '\n';
        p += l + 1;
    }
    *p = 0;
    return s;
}

void icl_items_free(icl_item *it, int n)
{
    for (int i = 0; it && i < n; i++) {
        free(it[i].context);
        free(it[i].question);
        free(it[i].answer);
        free(it[i].para);
        for (int k = 0; k < it[i].n_pert; k++)
            free(it[i].pert[k]);
    }
    free(it);
}

typedef struct {
    icl_item *v;
    int n, cap;
} ilist;

static icl_item *il_new(ilist *l)
{
    if (l->n == l->cap) {
        int c = l->cap ? 2 * l->cap : 256;
        icl_item *v = realloc(l->v, sizeof *v * (size_t)c);
        if (!v)
            return NULL;
        l->v = v, l->cap = c;
    }
    icl_item *it = &l->v[l->n++];
    memset(it, 0, sizeof *it);
    return it;
}

/* fills an item from a row, names swapped (from -> to) when from is set */
static int item_fill(icl_item *it, const tofu_row *r, const char *from, const char *to)
{
#define CP(x) (from ? replace_all((x), from, to) : strdup(x))
    it->question = CP(r->question);
    it->answer = CP(r->answer);
    it->para = r->para ? CP(r->para) : NULL;
    it->n_pert = r->n_pert;
    int ok = it->question && it->answer && (!r->para || it->para);
    for (int k = 0; k < r->n_pert; k++)
        ok &= (it->pert[k] = CP(r->pert[k])) != NULL;
#undef CP
    return ok ? 0 : -1;
}

int icl_build(const icl_build_opts *o, icl_item **items, int *n, cape_err *e)
{
    *items = NULL;
    *n = 0;
    int na = o->forget->n / ROWS_PER_AUTHOR;
    if (na == 0)
        return err_set(e, CAPE_EINPUT, "%s: %d rows, fewer than one author's %d",
                       o->forget->file, o->forget->n, ROWS_PER_AUTHOR);
    for (int i = 0; i < o->n_k; i++)
        if (o->ks[i] < 0 || o->ks[i] > 16)
            return err_set(e, CAPE_EINPUT, "--k: %d is outside 0..16 (an author has 20 facts)",
                           o->ks[i]);
    ilist l = {0};
    int rc = 0;
    const char *facts[ROWS_PER_AUTHOR + 1];
    char *fnames[ROWS_PER_AUTHOR * 4] = {0}, *rnames[ROWS_PER_AUTHOR * 64] = {0};
    int nr = o->retain ? o->retain->n / ROWS_PER_AUTHOR : 0;
    if (nr > (int)(sizeof rnames / sizeof *rnames))
        nr = (int)(sizeof rnames / sizeof *rnames);
    /* author names: for the alias of the composition */
    for (int a = 0; a < na && a < (int)(sizeof fnames / sizeof *fnames); a++) {
        const char *t[2 * ROWS_PER_AUTHOR];
        for (int r = 0; r < ROWS_PER_AUTHOR; r++) {
            t[2 * r] = o->forget->rows[a * ROWS_PER_AUTHOR + r].question;
            t[2 * r + 1] = o->forget->rows[a * ROWS_PER_AUTHOR + r].answer;
        }
        fnames[a] = filter_guess_name(t, 2 * ROWS_PER_AUTHOR);
    }
    for (int a = 0; a < nr; a++) {
        const char *t[2 * ROWS_PER_AUTHOR];
        for (int r = 0; r < ROWS_PER_AUTHOR; r++) {
            t[2 * r] = o->retain->rows[a * ROWS_PER_AUTHOR + r].question;
            t[2 * r + 1] = o->retain->rows[a * ROWS_PER_AUTHOR + r].answer;
        }
        rnames[a] = filter_guess_name(t, 2 * ROWS_PER_AUTHOR);
    }
    int qn[ICL_NCOND] = {0};
    for (int a = 0; a < na && !rc; a++) {
        const tofu_row *rows = o->forget->rows + a * ROWS_PER_AUTHOR;
        int lim = o->per_author > 0 && o->per_author < ROWS_PER_AUTHOR ? o->per_author : ROWS_PER_AUTHOR;
        for (int qi = 0; qi < lim && !rc; qi++) {
            /* the other facts in a seeded order, the same for every k */
            int perm[ROWS_PER_AUTHOR - 1], m = 0;
            for (int r = 0; r < ROWS_PER_AUTHOR; r++)
                if (r != qi)
                    perm[m++] = r;
            rng_fast g;
            rng_fast_seed(&g, o->seed ^ (0x9e3779b97f4a7c15ULL * (uint64_t)(a * ROWS_PER_AUTHOR + qi + 1)));
            for (int i = m - 1; i > 0; i--) {
                int j = (int)rng_fast_below(&g, (uint32_t)(i + 1)), t = perm[i];
                perm[i] = perm[j], perm[j] = t;
            }
#define FACT(r) (o->use_answers || !rows[r].para ? rows[r].answer : rows[r].para)
            for (int c = ICL_ECHO; c <= ICL_SPILL && !rc; c++) {
                for (int ki = 0; ki < o->n_k && !rc; ki++) {
                    int k = o->ks[ki], nf = 0;
                    if (c == ICL_ECHO) {
                        for (int i = 0; i < k - 1; i++)
                            facts[nf++] = FACT(perm[i]);
                        if (k > 0)
                            facts[nf++] = FACT(qi);
                    } else {
                        for (int i = 0; i < k; i++)
                            facts[nf++] = FACT(perm[i]);
                    }
                    icl_item *it = il_new(&l);
                    if (!it || !(it->context = join_facts(facts, nf)) || item_fill(it, &rows[qi], NULL, NULL)) {
                        rc = err_set(e, CAPE_EFAIL, "out of memory");
                        break;
                    }
                    it->cond = (icl_cond)c, it->k = k, it->q = qn[c], it->author = a;
                }
                qn[c]++;
            }
            /* composition: a retained author's question asked about this
             * author, with the alias in the context */
            if (nr > 0 && fnames[a]) {
                int ra = a % nr;
                const char *rn = rnames[ra];
                const tofu_row *rr = o->retain->rows + ra * ROWS_PER_AUTHOR;
                /* the qi-th question of R that names R */
                int found = -1;
                for (int r = 0, seen = 0; rn && r < ROWS_PER_AUTHOR && found < 0; r++)
                    if (strstr(rr[r].question, rn) && seen++ == qi)
                        found = r;
                if (found < 0)
                    continue;
                char alias[512];
                snprintf(alias, sizeof alias, "%s is also known as %s.", fnames[a], rn);
                for (int ki = 0; ki < o->n_k && !rc; ki++) {
                    int k = o->ks[ki], nf = 0;
                    for (int i = 0; i < k - 1; i++)
                        facts[nf++] = FACT(perm[i]);
                    if (k > 0)
                        facts[nf++] = alias;
                    icl_item *it = il_new(&l);
                    if (!it || !(it->context = join_facts(facts, nf)) ||
                        item_fill(it, &rr[found], rn, fnames[a])) {
                        rc = err_set(e, CAPE_EFAIL, "out of memory");
                        break;
                    }
                    it->cond = ICL_COMPOSE, it->k = k, it->q = qn[ICL_COMPOSE], it->author = a;
                }
                qn[ICL_COMPOSE]++;
            }
#undef FACT
        }
    }
    for (size_t i = 0; i < sizeof fnames / sizeof *fnames; i++)
        free(fnames[i]);
    for (int i = 0; i < nr; i++)
        free(rnames[i]);
    if (rc) {
        icl_items_free(l.v, l.n);
        return rc;
    }
    *items = l.v;
    *n = l.n;
    return 0;
}

int icl_copy_hit(const char *gen, const char *value)
{
    const char *p = gen;
    while (*p && !(*p >= '0' && *p <= '9'))
        p++;
    size_t n = 0;
    while (p[n] >= '0' && p[n] <= '9')
        n++;
    return n > 0 && n == strlen(value) && !strncmp(p, value, n);
}

int icl_copy_items(int n_lists, int pairs, uint64_t seed, icl_copy_form form, icl_item **items,
                   cape_err *e)
{
    *items = calloc((size_t)(n_lists > 0 ? n_lists : 1), sizeof **items);
    if (!*items)
        return err_set(e, CAPE_EFAIL, "out of memory");
    rng_fast g;
    rng_fast_seed(&g, seed);
    for (int i = 0; i < n_lists; i++) {
        char keys[16][5], vals[16][4], ctx[16 * 16] = {0};
        if (pairs > 16)
            pairs = 16;
        for (int p = 0; p < pairs; p++) {
            int dup;
            do {
                for (int c = 0; c < 4; c++)
                    keys[p][c] = (char)('a' + rng_fast_below(&g, 26));
                keys[p][4] = 0;
                dup = 0;
                for (int q = 0; q < p; q++)
                    dup |= !strcmp(keys[p], keys[q]);
            } while (dup);
            snprintf(vals[p], sizeof vals[p], "%03u", 100 + rng_fast_below(&g, 900));
            size_t at = strlen(ctx);
            snprintf(ctx + at, sizeof ctx - at, "%s = %s\n", keys[p], vals[p]);
        }
        int ask = (int)rng_fast_below(&g, (uint32_t)pairs);
        icl_item *it = &(*items)[i];
        char q[64];
        if (form == ICL_COPY_QA)
            snprintf(q, sizeof q, "What is the value of %s?", keys[ask]);
        else
            snprintf(q, sizeof q, "%s =", keys[ask]);
        it->context = strdup(ctx);
        it->question = strdup(q);
        it->answer = strdup(vals[ask]);
        it->q = i, it->k = pairs;
        if (!it->context || !it->question || !it->answer) {
            icl_items_free(*items, i + 1);
            *items = NULL;
            return err_set(e, CAPE_EFAIL, "out of memory");
        }
    }
    return 0;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct_of(const double *s, int n, double q)
{
    double pos = q * (n - 1);
    int lo = (int)floor(pos);
    if (lo >= n - 1)
        return s[n - 1];
    return s[lo] + (s[lo + 1] - s[lo]) * (pos - lo);
}

double icl_bootstrap_mean(const double *x, int n, int B, uint64_t seed, double level, double *lo,
                          double *hi)
{
    *lo = *hi = NAN;
    if (n <= 0)
        return NAN;
    double m = 0;
    for (int i = 0; i < n; i++)
        m += x[i];
    m /= n;
    if (B < 1)
        return m;
    double *s = malloc(sizeof *s * (size_t)B);
    if (!s)
        return m;
    rng_fast g;
    rng_fast_seed(&g, seed);
    for (int b = 0; b < B; b++) {
        double t = 0;
        for (int i = 0; i < n; i++)
            t += x[rng_fast_below(&g, (uint32_t)n)];
        s[b] = t / n;
    }
    qsort(s, (size_t)B, sizeof *s, cmp_d);
    *lo = pct_of(s, B, (1 - level) / 2);
    *hi = pct_of(s, B, 1 - (1 - level) / 2);
    free(s);
    return m;
}

/* ---- running a model ---- */

typedef icl_item_score icl_score;

static char *template_for(const char *want, const char *path, cape_err *e)
{
    const char *t = want && strcmp(want, "auto") ? want : (tofu_is_cape_model(path) ? "cape" : "plain");
    if (!strcmp(t, "cape")) {
        char *s = train_tofu_render("{question}", "");
        size_t n = s ? strlen(s) : 0;
        while (n > 0 && s[n - 1] == ' ')
            s[--n] = 0;
        return s;
    }
    if (!strcmp(t, "plain"))
        return strdup(PLAIN_TEMPLATE);
    if (strstr(t, "{question}"))
        return strdup(t);
    err_set(e, CAPE_EINPUT, "--template: '%s' is neither auto, cape, plain nor a text with "
            "{question}", t);
    return NULL;
}

/* The sink masks: one for the whole run, or, when the mask follows the
 * question (routed "off" mode), one per sequence of the batch, chosen as an
 * item or prompt enters its sequence (the scorer and the generator name the
 * sequence; the model's hook sees it as model_hook_info.seq). Scoring never
 * shares a cached prefix between two questions (score_par_opts.group), so a
 * prefix is always computed under its own question's mask. */
typedef struct {
    sink_seq_masks *sm;
    const char *const *query; /* per scored item / per prompt */
    const icl_opts *o;
    long *done, total;
} run_hook;

static void rh_select(run_hook *r, int item, int seq)
{
    sink_seq_masks_select(r->sm, seq, r->sm->h->source, r->query[item]);
}

static void rh_before(void *user, int item, int seq, int ctx_tokens)
{
    (void)ctx_tokens;
    run_hook *r = user;
    rh_select(r, item, seq);
    if (r->o->progress && ++*r->done % 32 == 0)
        r->o->progress(r->o->progress_user, *r->done, r->total);
}

static void rh_start(void *user, int item, int seq)
{
    rh_select(user, item, seq);
}

static void rh_layer(const model_hook_info *info, float *x, void *user)
{
    const run_hook *r = user;
    sink_seq_masks_apply(r->sm, info, x);
}

typedef struct {
    const model *m;
    char **gen; /* per prompt */
    run_hook *rh;
} gen_ctx;

static void on_gen(void *user, int i, const gen_result *g)
{
    gen_ctx *c = user;
    char *s = tok_decode(model_tok(c->m), g->ids, g->n, 0);
    if (s) {
        size_t a = 0, n = strlen(s);
        while (a < n && strchr(" \n\t\r", s[a]))
            a++;
        while (n > a && strchr(" \n\t\r", s[n - 1]))
            n--;
        memmove(s, s + a, n - a);
        s[n - a] = 0;
    }
    c->gen[i] = s;
    if (c->rh->o->progress && ++*c->rh->done % 8 == 0)
        c->rh->o->progress(c->rh->o->progress_user, *c->rh->done, c->rh->total);
}

static double avg_lp(const score_result *r)
{
    return r->n_tokens > 0 ? r->logprob / r->n_tokens : NAN;
}

static int run_model(const icl_opts *o, const char *path, const icl_item *items, int n,
                     const filter *flt, icl_score *sc, long *done, long total, cape_err *e)
{
    int rc = 0, bos, B = o->batch > 0 ? o->batch : 8;
    char *tmpl = template_for(o->template, path, e), **ctx = NULL, **prompt = NULL, **gen = NULL;
    model *m = NULL;
    model_session *s = NULL;
    sink_hook sh = {0};
    score_item *si = NULL;
    score_result *sr = NULL;
    const char **sq = NULL, **gp = NULL, **gq = NULL;
    int *owner = NULL, *gowner = NULL, ns = 0, ng = 0;
    sink_seq_masks masks = {0};
    if (!tmpl)
        return e->code ? e->code : err_set(e, CAPE_EFAIL, "out of memory");
    if (!(m = model_load(path, NULL, e))) {
        rc = e->code;
        goto out;
    }
    bos = tok_wants_bos(model_tok(m)) || (tofu_is_cape_model(path) && tok_bos(model_tok(m)) >= 0);
    /* --sinks and --source are MODEL's mode; an oracle without sinks runs
     * plainly */
    int plain = path != o->model_path && !sink_model_file_has_sinks(path);
    if ((rc = sink_hook_open(&sh, path, model_cfg(m)->ffn_dim, plain ? NULL : o->sinks_mode,
                             plain ? NULL : o->source, e)))
        goto out;
    int per_query = sh.enabled && sink_hook_per_query(&sh);
    if ((rc = sink_seq_masks_init(&masks, &sh, per_query, B, e)))
        goto out;
    int limit = model_cfg(m)->n_ctx_train < 4096 ? model_cfg(m)->n_ctx_train : 4096;
    ctx = calloc((size_t)n, sizeof *ctx);
    prompt = calloc((size_t)n, sizeof *prompt);
    gen = calloc((size_t)n, sizeof *gen);
    size_t cap = (size_t)n * (2 + TOFU_MAX_PERT);
    si = calloc(cap, sizeof *si);
    sr = calloc(cap, sizeof *sr);
    sq = calloc(cap, sizeof *sq);
    owner = calloc(cap, sizeof *owner);
    gp = calloc((size_t)n, sizeof *gp);
    gq = calloc((size_t)n, sizeof *gq);
    gowner = calloc((size_t)n, sizeof *gowner);
    if (!ctx || !prompt || !gen || !si || !sr || !sq || !owner || !gp || !gq || !gowner) {
        rc = err_set(e, CAPE_EFAIL, "out of memory");
        goto out;
    }
    int need = 1;
    for (int i = 0; i < n; i++) {
        const icl_item *it = &items[i];
        memset(&sc[i], 0, sizeof sc[i]);
        sc[i].prob = sc[i].truth = sc[i].rouge = NAN;
        char *q = tofu_render_prompt(tmpl, it->question);
        size_t lc = strlen(it->context), lq = q ? strlen(q) : 0;
        prompt[i] = q ? malloc(lc + lq + 1) : NULL;
        ctx[i] = q ? malloc(lc + lq + 2) : NULL;
        if (!prompt[i] || !ctx[i]) {
            free(q);
            rc = err_set(e, CAPE_EFAIL, "out of memory");
            goto out;
        }
        memcpy(prompt[i], it->context, lc);
        memcpy(prompt[i] + lc, q, lq + 1);
        int ws = lq > 0 && strchr(" \n\t", q[lq - 1]);
        memcpy(ctx[i], prompt[i], lc + lq);
        ctx[i][lc + lq] = ' ';
        ctx[i][lc + lq + (ws ? 0 : 1)] = 0;
        free(q);
        if (flt) {
            /* the whole input (context and question) through the input filter */
            filter_verdict v;
            if (filter_check(flt, prompt[i], &v)) {
                sc[i].fit = 1, sc[i].blocked_in = 1;
                continue;
            }
        }
        /* every continuation counted: the longest in bytes need not be the
         * longest in tokens */
        score_item all[2 + TOFU_MAX_PERT];
        int na = 0;
        all[na++] = (score_item){ctx[i], it->answer};
        if (it->para)
            all[na++] = (score_item){ctx[i], it->para};
        for (int k = 0; k < it->n_pert; k++)
            all[na++] = (score_item){ctx[i], it->pert[k]};
        int t = score_max_tokens(m, all, na, bos, e);
        if (t < 0) {
            rc = e->code ? e->code : err_set(e, CAPE_EFAIL, "tokenizer error");
            goto out;
        }
        if (t > limit)
            continue; /* does not fit: left out, counted */
        need = t > need ? t : need;
        sc[i].fit = 1;
        si[ns] = (score_item){ctx[i], it->answer}, sq[ns] = it->question, owner[ns++] = i * 16;
        if (it->para)
            si[ns] = (score_item){ctx[i], it->para}, sq[ns] = it->question, owner[ns++] = i * 16 + 1;
        for (int k = 0; k < it->n_pert; k++)
            si[ns] = (score_item){ctx[i], it->pert[k]}, sq[ns] = it->question, owner[ns++] = i * 16 + 2 + k;
        gp[ng] = prompt[i], gq[ng] = it->question, gowner[ng++] = i;
    }
    model_session_opts so = {.n_ctx = need, .n_threads = o->threads > 0 ? o->threads : 1, .n_seq = B};
    run_hook rh = {&masks, sq, o, done, total};
    if (ns > 0) {
        if (!(s = model_session_new(m, &so, e))) {
            rc = e->code;
            goto out;
        }
        if (sh.enabled)
            model_session_set_hook(s, rh_layer, &rh);
        int *group = NULL;
        if (per_query && !(group = calloc((size_t)ns, sizeof *group))) {
            rc = err_set(e, CAPE_EFAIL, "out of memory");
            goto out;
        }
        for (int j = 0; group && j < ns; j++)
            group[j] = owner[j] / 16;
        score_par_opts po = {.truncate = 0, .group = group};
        rc = score_items_par_ex(s, m, si, ns, bos, &po, rh_before, &rh, sr, e);
        free(group);
        if (rc)
            goto out;
    }
    if (ng > 0 && o->max_new_tokens > 0) {
        run_hook gh = {&masks, gq, o, done, total};
        gen_ctx gc = {m, calloc((size_t)ng, sizeof(char *)), &gh};
        if (!gc.gen) {
            rc = err_set(e, CAPE_EFAIL, "out of memory");
            goto out;
        }
        gen_opts go = {.n_predict = o->max_new_tokens, .sample = {.temp = 0, .top_k = 0, .top_p = 1},
                       .add_bos = bos, .n_seq = B, .n_threads = o->threads > 0 ? o->threads : 1,
                       .hook = sh.enabled ? rh_layer : NULL, .hook_user = &gh,
                       .on_start = per_query ? rh_start : NULL};
        gen_stats st;
        rc = gen_many(m, gp, ng, &go, on_gen, &gc, &st, e);
        for (int j = 0; j < ng; j++) {
            if (!rc && !gc.gen[j])
                rc = err_set(e, CAPE_EFAIL, "out of memory decoding a generation");
            gen[gowner[j]] = gc.gen[j];
        }
        free(gc.gen);
        if (rc)
            goto out;
    }
    /* per item: probability, truth ratio, ROUGE-L recall of the greedy answer */
    double *cl = calloc((size_t)n, sizeof *cl), *pl = calloc((size_t)n, sizeof *pl);
    double *al = calloc((size_t)n, sizeof *al);
    int *np = calloc((size_t)n, sizeof *np);
    if (!cl || !pl || !al || !np) {
        free(cl), free(pl), free(al), free(np);
        rc = err_set(e, CAPE_EFAIL, "out of memory");
        goto out;
    }
    for (int j = 0; j < ns; j++) {
        int i = owner[j] / 16, w = owner[j] % 16;
        double lp = avg_lp(&sr[j]);
        if (w == 0)
            al[i] = lp;
        else if (w == 1)
            cl[i] = lp;
        else
            pl[i] += lp, np[i]++;
    }
    double uni = -log((double)tok_n_vocab(model_tok(m)));
    for (int i = 0; i < n; i++) {
        const icl_item *it = &items[i];
        if (!sc[i].fit)
            continue;
        if (sc[i].blocked_in) {
            /* the refusal: every answer as likely as any token sequence of
             * its length under a uniform distribution; truth ratio 1 */
            sc[i].prob = exp(uni);
            sc[i].truth = it->n_pert ? 0 : NAN;
            sc[i].rouge = rouge_l(it->answer, REFUSAL).recall;
            continue;
        }
        double c = it->para ? cl[i] : al[i];
        sc[i].prob = exp(al[i]);
        if (it->n_pert > 0) {
            double tr = exp(pl[i] / np[i]) / (exp(c) + 1e-10);
            sc[i].truth = 1 - tr > 0 ? 1 - tr : 0;
        }
        const char *g = gen[i] ? gen[i] : "";
        filter_verdict v;
        if (flt && filter_check(flt, g, &v)) {
            sc[i].blocked_out = 1;
            g = REFUSAL;
        }
        sc[i].rouge = rouge_l(it->answer, g).recall;
        sc[i].exact = icl_copy_hit(g, it->answer);
    }
    free(cl), free(pl), free(al), free(np);
out:
    for (int i = 0; i < n; i++) {
        if (ctx)
            free(ctx[i]);
        if (prompt)
            free(prompt[i]);
        if (gen)
            free(gen[i]);
    }
    free(ctx), free(prompt), free(gen), free(si), free(sr), free(sq), free(owner);
    free(gp), free(gq), free(gowner);
    free(tmpl);
    sink_seq_masks_free(&masks);
    model_session_free(s);
    sink_hook_free(&sh);
    model_free(m);
    return rc;
}

/* ---- the run ---- */

enum { M_PROB, M_TRUTH, M_ROUGE, M_N };
static const char *const METRIC[M_N] = {"prob", "truth_ratio", "rouge"};

static double metric_of(const icl_score *s, int m)
{
    return m == M_PROB ? s->prob : m == M_TRUTH ? s->truth : s->rouge;
}

/* index of the item (cond, k, q), or -1 */
typedef struct {
    int *idx; /* [cond][ki][q] */
    int nq;
} item_map;

static int map_get(const item_map *mp, int c, int ki, int n_k, int q)
{
    return q < mp->nq ? mp->idx[((size_t)c * n_k + ki) * mp->nq + q] : -1;
}

static json_t *interval(double m, double lo, double hi, int n)
{
    json_t *o = json_object();
    json_object_set_new(o, "mean", json_num(m));
    json_object_set_new(o, "lo", json_num(lo));
    json_object_set_new(o, "hi", json_num(hi));
    json_object_set_new(o, "n", json_integer(n));
    return o;
}

static uint64_t stat_seed(uint64_t seed, int a, int b, int c)
{
    return seed ^ (0x9e3779b97f4a7c15ULL * (uint64_t)(1 + a * 1000003 + b * 1009 + c));
}

/* the mean curve of one model: per condition, per k */
static json_t *curves(const icl_opts *o, const item_map *mp, const icl_score *sc)
{
    json_t *out = json_object();
    for (int c = 0; c < ICL_NCOND; c++) {
        json_t *arr = json_array();
        for (int ki = 0; ki < o->n_k; ki++) {
            double sum[M_N] = {0};
            int cnt[M_N] = {0}, n = 0, nofit = 0, bin = 0, bout = 0;
            for (int q = 0; q < mp->nq; q++) {
                int i = map_get(mp, c, ki, o->n_k, q);
                if (i < 0)
                    continue;
                n++;
                if (!sc[i].fit) {
                    nofit++;
                    continue;
                }
                bin += sc[i].blocked_in, bout += sc[i].blocked_out;
                for (int m = 0; m < M_N; m++)
                    if (isfinite(metric_of(&sc[i], m)))
                        sum[m] += metric_of(&sc[i], m), cnt[m]++;
            }
            if (n == 0)
                continue;
            json_t *x = json_object();
            json_object_set_new(x, "k", json_integer(o->ks[ki]));
            json_object_set_new(x, "n", json_integer(n));
            json_object_set_new(x, "not_fit", json_integer(nofit));
            if (o->filter_path) {
                json_object_set_new(x, "input_blocked", json_integer(bin));
                json_object_set_new(x, "output_blocked", json_integer(bout));
            }
            for (int m = 0; m < M_N; m++)
                json_object_set_new(x, METRIC[m], cnt[m] ? json_num(sum[m] / cnt[m]) : json_null());
            json_array_append_new(arr, x);
        }
        json_object_set_new(out, icl_cond_name[c], arr);
    }
    return out;
}

/* paired differences a[i] - b[j] over the questions where both fit */
static json_t *paired(const icl_opts *o, const item_map *mp, const icl_score *a, int ca, int ka,
                      const icl_score *b, int cb, int kb, int stat)
{
    json_t *x = json_object();
    double *d = malloc(sizeof *d * (size_t)(mp->nq + 1));
    for (int m = 0; m < M_N; m++) {
        int n = 0;
        for (int q = 0; d && q < mp->nq; q++) {
            int i = map_get(mp, ca, ka, o->n_k, q), j = map_get(mp, cb, kb, o->n_k, q);
            if (i < 0 || j < 0 || !a[i].fit || !b[j].fit)
                continue;
            double v = metric_of(&a[i], m) - metric_of(&b[j], m);
            if (isfinite(v))
                d[n++] = v;
        }
        double lo, hi, mean = icl_bootstrap_mean(d, n, o->boot, stat_seed(o->seed, stat, ca * 64 + ka, m), 0.95, &lo, &hi);
        json_object_set_new(x, METRIC[m], interval(mean, lo, hi, n));
    }
    free(d);
    return x;
}

/* one form's copy rate and mean value probability over the lists that fit */
static json_t *probe_form_json(const icl_score *sc, int n, double *rate)
{
    double p = 0;
    int ex = 0, fit = 0;
    for (int i = 0; i < n; i++)
        if (sc[i].fit) {
            fit++;
            ex += sc[i].exact;
            p += sc[i].prob;
        }
    *rate = fit ? (double)ex / fit : NAN;
    json_t *x = json_object();
    json_object_set_new(x, "fit", json_integer(fit));
    json_object_set_new(x, "exact_match", fit ? json_num(*rate) : json_null());
    json_object_set_new(x, "prob", fit ? json_num(p / fit) : json_null());
    return x;
}

/* the probe: each form (n lists each, sc holding the forms one after the
 * other), and the better form's rate, which decides whether the model copies */
static json_t *probe_json(const icl_score *sc, int n, double min)
{
    json_t *x = json_object(), *forms = json_object();
    double best = NAN;
    int bf = -1;
    for (int f = 0; f < ICL_COPY_NFORM; f++) {
        double r;
        json_object_set_new(forms, icl_copy_form_name[f], probe_form_json(sc + (size_t)f * n, n, &r));
        if (isfinite(r) && (bf < 0 || r > best))
            best = r, bf = f;
    }
    json_object_set_new(x, "lists", json_integer(n));
    json_object_set_new(x, "exact_match", bf >= 0 ? json_num(best) : json_null());
    json_object_set_new(x, "form", bf >= 0 ? json_string(icl_copy_form_name[bf]) : json_null());
    json_object_set_new(x, "copies", json_boolean(bf >= 0 && best >= min));
    json_object_set_new(x, "forms", forms);
    return x;
}

/* the per-item scores, in the order of the items, so that a later run can
 * pair its model with this one (--oracle-run) and a reader can redo any
 * statistic */
static json_t *items_json(const icl_item *items, const icl_score *sc, int n)
{
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        json_t *x = json_object();
        json_object_set_new(x, "condition", json_string(icl_cond_name[items[i].cond]));
        json_object_set_new(x, "k", json_integer(items[i].k));
        json_object_set_new(x, "q", json_integer(items[i].q));
        json_object_set_new(x, "author", json_integer(items[i].author));
        json_object_set_new(x, "question", json_text(items[i].question));
        json_object_set_new(x, "fit", json_boolean(sc[i].fit));
        json_object_set_new(x, "blocked_in", json_boolean(sc[i].blocked_in));
        json_object_set_new(x, "blocked_out", json_boolean(sc[i].blocked_out));
        json_object_set_new(x, "prob", json_num(sc[i].prob));
        json_object_set_new(x, "truth_ratio", json_num(sc[i].truth));
        json_object_set_new(x, "rouge", json_num(sc[i].rouge));
        json_array_append_new(arr, x);
    }
    return arr;
}

static double num_or_nan(const json_t *v)
{
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* The settings a run's items and scores depend on, as they appear in its
 * JSON: an --oracle-run must match them all. */
static json_t *run_settings(const icl_opts *o, const char *tmpl)
{
    json_t *x = json_object(), *ks = json_array();
    for (int i = 0; i < o->n_k; i++)
        json_array_append_new(ks, json_integer(o->ks[i]));
    json_object_set_new(x, "forget", json_string(o->forget));
    json_object_set_new(x, "k", ks);
    json_object_set_new(x, "facts", json_string(o->use_answers ? "answer" : "paraphrased_answer"));
    json_object_set_new(x, "per_author", json_integer(o->per_author));
    json_object_set_new(x, "seed", json_integer((json_int_t)o->seed));
    json_object_set_new(x, "max_new_tokens", json_integer(o->max_new_tokens));
    json_object_set_new(x, "template", json_string(tmpl ? tmpl : "auto"));
    json_object_set_new(x, "filtered", json_boolean(o->filter_path != NULL));
    return x;
}

int icl_oracle_parse(const char *text, size_t len, const char *path, const icl_opts *o,
                     const icl_item *items, int n, icl_item_score *sc, json_t **probe,
                     char **oracle_model, cape_err *e)
{
    *probe = NULL, *oracle_model = NULL;
    json_error_t je;
    json_t *doc = json_loadb(text, len, 0, &je);
    if (!doc)
        return json_err_set(e, path, 0, &je);
    int rc = 0;
    json_t *want = run_settings(o, o->template);
    json_t *have = json_object_get(doc, "settings");
    const char *key;
    json_t *v;
    if (!json_is_object(have)) {
        rc = err_set(e, CAPE_EINPUT, "--oracle-run %s: no 'settings' (not a cape unlearn attack "
                     "icl JSON, or one from an older version)", path);
        goto out;
    }
    json_object_foreach(want, key, v)
    {
        if (!json_equal(v, json_object_get(have, key))) {
            char *a = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
            rc = err_set(e, CAPE_EINPUT, "--oracle-run %s: made with another %s (this run: %s)",
                         path, key, a ? a : "?");
            free(a);
            goto out;
        }
    }
    const json_t *mo = json_object_get(json_object_get(doc, "models"), "model");
    const json_t *arr = json_object_get(mo, "items");
    if (!json_is_array(arr) || (int)json_array_size(arr) != n) {
        rc = err_set(e, CAPE_EINPUT, "--oracle-run %s: models.model.items has %zu items, this run "
                     "%d", path, json_array_size(arr), n);
        goto out;
    }
    for (int i = 0; i < n; i++) {
        const json_t *x = json_array_get(arr, (size_t)i);
        const char *c = json_string_value(json_object_get(x, "condition"));
        const char *q = json_string_value(json_object_get(x, "question"));
        if (!c || strcmp(c, icl_cond_name[items[i].cond]) || !q || strcmp(q, items[i].question) ||
            json_integer_value(json_object_get(x, "k")) != items[i].k) {
            rc = err_set(e, CAPE_EINPUT, "--oracle-run %s: item %d is another question (another "
                         "data set?)", path, i);
            goto out;
        }
        memset(&sc[i], 0, sizeof sc[i]);
        sc[i].fit = json_is_true(json_object_get(x, "fit"));
        sc[i].blocked_in = json_is_true(json_object_get(x, "blocked_in"));
        sc[i].blocked_out = json_is_true(json_object_get(x, "blocked_out"));
        sc[i].prob = num_or_nan(json_object_get(x, "prob"));
        sc[i].truth = num_or_nan(json_object_get(x, "truth_ratio"));
        sc[i].rouge = num_or_nan(json_object_get(x, "rouge"));
    }
    const json_t *pr = json_object_get(mo, "copy_probe");
    const char *name = json_string_value(json_object_get(doc, "model"));
    if (!json_is_object(pr) || !name) {
        rc = err_set(e, CAPE_EINPUT, "--oracle-run %s: no models.model.copy_probe or model", path);
        goto out;
    }
    *probe = json_deep_copy(pr);
    *oracle_model = strdup(name);
    if (!*probe || !*oracle_model) {
        json_decref(*probe);
        free(*oracle_model);
        *probe = NULL, *oracle_model = NULL;
        rc = err_set(e, CAPE_EFAIL, "out of memory");
    }
out:
    json_decref(want);
    json_decref(doc);
    return rc;
}

/* the oracle's scores from its own earlier run (o->oracle_run) */
static int oracle_from_run(const icl_opts *o, const icl_item *items, int n, icl_score *sc,
                           json_t **probe, char **oracle_model, cape_err *e)
{
    size_t len;
    char *text = file_read_all(o->oracle_run, &len, e);
    if (!text)
        return e->code ? e->code : CAPE_EINPUT;
    int rc = icl_oracle_parse(text, len, o->oracle_run, o, items, n, sc, probe, oracle_model, e);
    free(text);
    return rc;
}

#define COPY_LISTS 32
#define COPY_PAIRS 4
#define COPY_ITEMS (COPY_LISTS * ICL_COPY_NFORM)

/* the probe's items: the same lists in each form, one form after the other */
static int probe_items(uint64_t seed, icl_item **out, cape_err *e)
{
    *out = calloc(COPY_ITEMS, sizeof **out);
    if (!*out)
        return err_set(e, CAPE_EFAIL, "out of memory");
    for (int f = 0; f < ICL_COPY_NFORM; f++) {
        icl_item *one;
        int rc = icl_copy_items(COPY_LISTS, COPY_PAIRS, seed, (icl_copy_form)f, &one, e);
        if (rc) {
            icl_items_free(*out, COPY_ITEMS);
            *out = NULL;
            return rc;
        }
        memcpy(*out + (size_t)f * COPY_LISTS, one, COPY_LISTS * sizeof *one);
        free(one); /* the strings now belong to *out */
    }
    return 0;
}

int icl_run(const icl_opts *o, json_t **out, cape_err *e)
{
    *out = NULL;
    int pct, rc;
    if ((rc = tofu_forget_parse(o->forget, &pct, e)))
        return rc;
    if (o->n_k < 1)
        return err_set(e, CAPE_EINPUT, "--k: an empty list");
    int has0 = -1;
    for (int i = 0; i < o->n_k; i++) {
        if (o->ks[i] == 0)
            has0 = i;
        for (int j = 0; j < i; j++)
            if (o->ks[j] == o->ks[i])
                return err_set(e, CAPE_EINPUT, "--k: %d is listed twice", o->ks[i]);
    }
    tofu_split fs = {0}, rs = {0};
    filter *flt = NULL;
    icl_item *items = NULL, *copy = NULL;
    int n = 0;
    icl_score *sc[2] = {0}, *cs[2] = {0};
    item_map mp = {0};
    json_t *oracle_probe = NULL;
    char *oracle_name = NULL;
    if (o->filter_path && (rc = tofu_filter_load(o->filter_path, o->forget, &flt, e)))
        return rc;
    if ((rc = tofu_split_load(&fs, o->tofu_dir, TOFU_FORGET, pct, 0, e)) ||
        (rc = tofu_split_load(&rs, o->tofu_dir, TOFU_RETAIN, pct, 0, e)))
        goto out;
    icl_build_opts bo = {&fs, &rs, o->ks, o->n_k, o->use_answers, o->per_author, o->seed};
    if ((rc = icl_build(&bo, &items, &n, e)) || (rc = probe_items(o->seed, &copy, e)))
        goto out;
    /* the map (cond, k, q) -> item */
    for (int i = 0; i < n; i++)
        mp.nq = items[i].q + 1 > mp.nq ? items[i].q + 1 : mp.nq;
    mp.idx = malloc(sizeof *mp.idx * (size_t)ICL_NCOND * o->n_k * (mp.nq ? mp.nq : 1));
    if (!mp.idx) {
        rc = err_set(e, CAPE_EFAIL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < (size_t)ICL_NCOND * o->n_k * mp.nq; i++)
        mp.idx[i] = -1;
    for (int i = 0; i < n; i++)
        for (int ki = 0; ki < o->n_k; ki++)
            if (o->ks[ki] == items[i].k)
                mp.idx[((size_t)items[i].cond * o->n_k + ki) * mp.nq + items[i].q] = i;
    int nm = o->oracle_path || o->oracle_run ? 2 : 1;
    int nrun = o->oracle_run ? 1 : nm; /* models this run scores */
    long done = 0, total = 0;
    for (int i = 0; i < n; i++)
        total += 2 + items[i].n_pert + (items[i].para != NULL);
    total = (total + 2L * COPY_ITEMS) * nrun;
    for (int w = 0; w < nm && !rc; w++) {
        sc[w] = calloc((size_t)(n ? n : 1), sizeof **sc);
        cs[w] = calloc(COPY_ITEMS, sizeof **cs);
        if (!sc[w] || !cs[w])
            rc = err_set(e, CAPE_EFAIL, "out of memory");
    }
    if (!rc && o->oracle_run)
        rc = oracle_from_run(o, items, n, sc[1], &oracle_probe, &oracle_name, e);
    /* f32 products for quantised weights: the numbers do not depend on --batch */
    tensor_set_exact(1);
    for (int w = 0; w < nrun && !rc; w++) {
        const char *path = w ? o->oracle_path : o->model_path;
        /* the probe runs without the filter (it asks nothing forgotten) */
        if ((rc = run_model(o, path, copy, COPY_ITEMS, NULL, cs[w], &done, total, e)) ||
            (rc = run_model(o, path, items, n, flt, sc[w], &done, total, e)))
            break;
    }
    tensor_set_exact(0);
    if (rc)
        goto out;
    if (o->progress)
        o->progress(o->progress_user, total, total);
    json_t *doc = json_object(), *models = json_object();
    json_object_set_new(doc, "model", json_text(o->model_path));
    json_object_set_new(doc, "oracle_model", oracle_name ? json_text(oracle_name)
                                             : o->oracle_path ? json_text(o->oracle_path) : json_null());
    json_object_set_new(doc, "oracle_run", o->oracle_run ? json_text(o->oracle_run) : json_null());
    json_object_set_new(doc, "forget", json_string(o->forget));
    json_t *ks = json_array();
    for (int i = 0; i < o->n_k; i++)
        json_array_append_new(ks, json_integer(o->ks[i]));
    json_object_set_new(doc, "k", ks);
    json_object_set_new(doc, "facts", json_string(o->use_answers ? "answer" : "paraphrased_answer"));
    json_object_set_new(doc, "per_author", json_integer(o->per_author));
    json_object_set_new(doc, "seed", json_integer((json_int_t)o->seed));
    json_object_set_new(doc, "filter", o->filter_path ? json_text(o->filter_path) : json_null());
    json_object_set_new(doc, "refusal", json_string(REFUSAL));
    json_object_set_new(doc, "settings", run_settings(o, o->template));
    json_t *bs = json_object();
    json_object_set_new(bs, "resamples", json_integer(o->boot));
    json_object_set_new(bs, "level", json_real(0.95));
    json_object_set_new(bs, "interval", json_string("percentile (numpy linear)"));
    json_object_set_new(doc, "bootstrap", bs);
    json_t *warn = json_array();
    for (int w = 0; w < nm; w++) {
        json_t *mo = json_object();
        json_t *pr = w && oracle_probe ? json_incref(oracle_probe) : probe_json(cs[w], COPY_LISTS, o->copy_min);
        int copies = json_is_true(json_object_get(pr, "copies"));
        json_object_set_new(mo, "copy_probe", pr);
        json_object_set_new(mo, "curves", curves(o, &mp, sc[w]));
        json_t *re = json_object();
        for (int c = 0; c < ICL_NCOND && has0 >= 0; c++) {
            json_t *arr = json_array();
            for (int ki = 0; ki < o->n_k; ki++) {
                if (ki == has0)
                    continue;
                json_t *x = paired(o, &mp, sc[w], c, ki, sc[w], c, has0, 1 + w);
                json_object_set_new(x, "k", json_integer(o->ks[ki]));
                json_array_append_new(arr, x);
            }
            json_object_set_new(re, icl_cond_name[c], arr);
        }
        json_object_set_new(mo, "reintroduction_capacity", has0 >= 0 ? re : json_null());
        if (has0 < 0)
            json_decref(re);
        if (!copies) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s: the copying probe fails (copy rate below %.2f in both forms): "
                     "no reintroduction here only means no in-context learning",
                     w ? "oracle" : "model", o->copy_min);
            json_array_append_new(warn, json_string(msg));
        }
        json_object_set_new(mo, "items", items_json(items, sc[w], n));
        json_object_set_new(models, w ? "oracle" : "model", mo);
    }
    json_object_set_new(doc, "models", models);
    if (nm == 2) {
        json_t *arr = json_array();
        for (int ki = 0; ki < o->n_k; ki++) {
            json_t *x = paired(o, &mp, sc[0], ICL_SPILL, ki, sc[1], ICL_SPILL, ki, 7);
            json_object_set_new(x, "k", json_integer(o->ks[ki]));
            json_array_append_new(arr, x);
        }
        json_object_set_new(doc, "residual_knowledge", arr);
    } else {
        json_object_set_new(doc, "residual_knowledge", json_null());
    }
    int nofit = 0;
    for (int i = 0; i < n; i++)
        nofit += !sc[0][i].fit;
    if (nofit) {
        char msg[256];
        snprintf(msg, sizeof msg, "%d of %d items do not fit the model's context and are left out "
                 "(see not_fit per k)", nofit, n);
        json_array_append_new(warn, json_string(msg));
    }
    json_object_set_new(doc, "warnings", warn);
    if (o->out_path) {
        char *txt = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
        if (!txt) {
            json_decref(doc);
            rc = err_set(e, CAPE_EFAIL, "out of memory");
            goto out;
        }
        size_t len = strlen(txt);
        char *t2 = realloc(txt, len + 2);
        if (t2) {
            txt = t2;
            txt[len++] = '\n';
            txt[len] = 0;
        }
        rc = file_write_atomic(o->out_path, txt, len, e);
        free(txt);
        if (rc) {
            json_decref(doc);
            goto out;
        }
    }
    *out = doc;
out:
    for (int w = 0; w < 2; w++)
        free(sc[w]), free(cs[w]);
    free(mp.idx);
    json_decref(oracle_probe);
    free(oracle_name);
    icl_items_free(items, n);
    icl_items_free(copy, copy ? COPY_ITEMS : 0);
    tofu_split_free(&fs);
    tofu_split_free(&rs);
    filter_free(flt);
    return rc;
}
