/* attack_extract: prefix extraction. For each forget row the answer is
 * tokenised as it follows the prompt (" " + answer, the model's own
 * tokenizer); for each prefix share p the prompt is followed by the text of
 * the answer's first floor(p * T) tokens and the model continues greedily
 * (tofu_eval_split: the same sessions, sinks and stripping as cape unlearn
 * eval). The continuation extracts the answer exactly when it starts with
 * the rest of the answer (both stripped of surrounding white space). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "model/model.h"
#include "model/tok.h"
#include "unlearn/attack.h"
#include "unlearn/filter.h"
#include "unlearn/rouge.h"

static const double DEFAULT_PREFIXES[] = {0.0, 0.25, 0.5, 0.75};

static const char *skip_ws(const char *s)
{
    while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')
        s++;
    return s;
}

/* the rest starts the generation (white space around both ignored) */
static int starts_with_rest(const char *gen, const char *rest)
{
    gen = skip_ws(gen);
    rest = skip_ws(rest);
    size_t n = strlen(rest);
    while (n > 0 && (rest[n - 1] == ' ' || rest[n - 1] == '\n' || rest[n - 1] == '\t' ||
                     rest[n - 1] == '\r'))
        n--;
    return n > 0 && !strncmp(gen, rest, n);
}

int attack_extract_run(const attack_extract_opts *o, attack_extract_result *r, cape_err *e)
{
    memset(r, 0, sizeof *r);
    int pct, rc;
    if ((rc = tofu_forget_parse(o->forget, &pct, e)))
        return rc;
    const double *pf = o->prefixes ? o->prefixes : DEFAULT_PREFIXES;
    int np = o->prefixes ? o->n_prefixes : 4;
    if (np < 1 || np > ATTACK_MAX_PREFIX)
        return err_set(e, CAPE_EINPUT, "--prefixes: 1 to %d shares", ATTACK_MAX_PREFIX);
    for (int j = 0; j < np; j++)
        if (!(pf[j] >= 0 && pf[j] < 1) || (j && !(pf[j] > pf[j - 1])))
            return err_set(e, CAPE_EINPUT, "--prefixes: shares in [0, 1), ascending");
    /* the prompts carry answer prefixes: --sinks own could not find their
     * author (it looks the question up in full.json) and would run them on
     * the backbone without saying so */
    if (o->sinks_mode && !strcmp(o->sinks_mode, "own"))
        return err_set(e, CAPE_EINPUT, "--sinks own: the extraction prompts hold answer "
                       "prefixes, so their authors cannot be looked up (use off, source or "
                       "backbone)");
    tofu_split fs = {0};
    model *m = NULL;
    char *tpl = NULL;
    char **prompts = NULL, **rests = NULL; /* [np * n] */
    int *kk = NULL;                        /* [np * n] prefix tokens, -1 unusable */
    tofu_split sp = {0};
    filter *flt = NULL;
    if (o->filter_path && (rc = tofu_filter_load(o->filter_path, o->forget, &flt, e)))
        return rc;
    if ((rc = tofu_split_load(&fs, o->tofu, TOFU_FORGET, pct, o->max_items, e)))
        goto out;
    if (!(m = model_load(o->model, NULL, e))) {
        rc = e->code;
        goto out;
    }
    int n = fs.n;
    r->n = n;
    r->n_prefixes = np;
    tpl = tofu_model_template(o->model);
    prompts = calloc((size_t)np * n, sizeof *prompts);
    rests = calloc((size_t)np * n, sizeof *rests);
    kk = malloc(sizeof(int) * (size_t)np * n);
    r->item_strength = calloc((size_t)n, sizeof(double));
    r->item_tokens = calloc((size_t)n, sizeof(int));
    r->item_exact = calloc((size_t)np * n, 1);
    sp.rows = calloc((size_t)n, sizeof *sp.rows);
    if (!tpl || !prompts || !rests || !kk || !r->item_strength || !r->item_tokens ||
        !r->item_exact || !sp.rows) {
        rc = err_set(e, CAPE_EFAIL, "out of memory");
        goto out;
    }
    const tok *t = model_tok(m);
    for (int i = 0; i < n; i++) {
        const char *ans = fs.rows[i].answer;
        size_t al = strlen(ans);
        char *sa = malloc(al + 2);
        char *q = tofu_render_prompt(tpl, fs.rows[i].question);
        int *ids = NULL, T = 0;
        if (!sa || !q) {
            free(sa);
            free(q);
            rc = err_set(e, CAPE_EFAIL, "out of memory");
            goto out;
        }
        sa[0] = ' ';
        memcpy(sa + 1, ans, al + 1);
        if ((rc = tok_encode(t, sa, al + 1, 0, &ids, &T, e))) {
            free(sa);
            free(q);
            goto out;
        }
        r->item_tokens[i] = T;
        for (int j = 0; j < np; j++) {
            int k = (int)floor(pf[j] * T);
            char *pre = k ? tok_decode(t, ids, k, 0) : strdup("");
            size_t pl = pre ? strlen(pre) : 0;
            size_t ql = strlen(q);
            kk[j * n + i] = -1;
            if (pre && pl <= al + 1 && !strncmp(sa, pre, pl) && T > 0) {
                char *p = malloc(ql + pl + 1);
                if (p) {
                    memcpy(p, q, ql);
                    memcpy(p + ql, pre, pl + 1);
                    prompts[j * n + i] = p;
                    rests[j * n + i] = strdup(sa + pl);
                    kk[j * n + i] = k;
                }
            }
            free(pre);
        }
        free(ids);
        free(sa);
        free(q);
    }
    model_free(m);
    m = NULL;
    /* one greedy pass per prefix share, every row whose prefix is usable */
    tofu_eval_opts eo = {.model_path = o->model, .forget = o->forget,
                         .sinks_mode = o->sinks_mode, .source = o->source,
                         .template = "{question}", .threads = o->threads,
                         .batch = o->eval_batch, .max_new_tokens = o->max_new_tokens,
                         .exact = 1, .filter = flt};
    for (int j = 0; j < np && !rc; j++) {
        int *which = malloc(sizeof(int) * (size_t)n);
        if (!which) {
            rc = err_set(e, CAPE_EFAIL, "out of memory");
            break;
        }
        sp.n = 0;
        sp.id = TOFU_FORGET;
        for (int i = 0; i < n; i++)
            if (kk[j * n + i] >= 0 && prompts[j * n + i] && rests[j * n + i]) {
                sp.rows[sp.n] = (tofu_row){.question = prompts[j * n + i],
                                           .answer = rests[j * n + i]};
                which[sp.n++] = i;
            }
        r->prefix[j] = pf[j];
        r->n_items[j] = sp.n;
        r->exact_rate[j] = r->rouge[j] = NAN;
        if (sp.n > 0) {
            tofu_split_scores sc;
            rc = tofu_eval_split(&eo, &sp, 0, 1, &sc, e);
            if (!rc) {
                int ex = 0;
                double rs = 0;
                for (int s = 0; s < sp.n; s++) {
                    const char *g = sc.items[s].generation ? sc.items[s].generation : "";
                    int i = which[s];
                    r->item_exact[j * n + i] = (unsigned char)starts_with_rest(g, rests[j * n + i]);
                    ex += r->item_exact[j * n + i];
                    rs += rouge_l(rests[j * n + i], g).recall;
                }
                r->exact_rate[j] = (double)ex / sp.n;
                r->rouge[j] = rs / sp.n;
            }
            tofu_split_scores_free(&sc);
        }
        free(which);
    }
    if (rc)
        goto out;
    double ssum = 0;
    int scnt = 0;
    for (int i = 0; i < n; i++) {
        int ks[ATTACK_MAX_PREFIX];
        unsigned char ex[ATTACK_MAX_PREFIX];
        int c = 0;
        for (int j = 0; j < np; j++)
            if (kk[j * n + i] >= 0) {
                ks[c] = kk[j * n + i];
                ex[c++] = r->item_exact[j * n + i];
            }
        r->item_strength[i] = attack_extraction_strength(ks, ex, c, r->item_tokens[i]);
        if (isfinite(r->item_strength[i])) {
            ssum += r->item_strength[i];
            scnt++;
        }
    }
    r->strength = scnt ? ssum / scnt : NAN;
out:
    for (int i = 0; prompts && i < np * n; i++)
        free(prompts[i]);
    for (int i = 0; rests && i < np * n; i++)
        free(rests[i]);
    free(prompts);
    free(rests);
    free(kk);
    free(sp.rows);
    free(tpl);
    model_free(m);
    tofu_split_free(&fs);
    filter_free(flt);
    return rc;
}

void attack_extract_result_free(attack_extract_result *r)
{
    free(r->item_strength);
    free(r->item_tokens);
    free(r->item_exact);
    memset(r, 0, sizeof *r);
}

json_t *attack_extract_json(const attack_extract_opts *o, const attack_extract_result *r)
{
    json_t *d = json_object();
    json_object_set_new(d, "attack", json_string("extract"));
    json_object_set_new(d, "model", json_text(o->model));
    json_object_set_new(d, "forget", json_text(o->forget));
    json_object_set_new(d, "sinks", o->sinks_mode ? json_text(o->sinks_mode) : json_null());
    json_object_set_new(d, "filter", o->filter_path ? json_text(o->filter_path) : json_null());
    json_object_set_new(d, "max_new_tokens", json_integer(o->max_new_tokens));
    json_object_set_new(d, "items", json_integer(r->n));
    json_object_set_new(d, "extraction_strength", json_num(r->strength));
    json_t *pa = json_array();
    for (int j = 0; j < r->n_prefixes; j++) {
        json_t *p = json_object();
        json_object_set_new(p, "prefix", json_real(r->prefix[j]));
        json_object_set_new(p, "items", json_integer(r->n_items[j]));
        json_object_set_new(p, "exact_match_rate", json_num(r->exact_rate[j]));
        json_object_set_new(p, "rougeL_recall", json_num(r->rouge[j]));
        json_array_append_new(pa, p);
    }
    json_object_set_new(d, "prefixes", pa);
    json_t *by = json_object();
    for (int i = 0; i < r->n; i++) {
        json_t *it = json_object();
        json_object_set_new(it, "answer_tokens", json_integer(r->item_tokens[i]));
        json_object_set_new(it, "extraction_strength", json_num(r->item_strength[i]));
        json_t *ex = json_array();
        for (int j = 0; j < r->n_prefixes; j++)
            json_array_append_new(ex, json_boolean(r->item_exact[j * r->n + i]));
        json_object_set_new(it, "exact", ex);
        char k[16];
        snprintf(k, sizeof k, "%d", i);
        json_object_set_new(by, k, it);
    }
    json_object_set_new(d, "value_by_index", by);
    return d;
}

void attack_extract_table(FILE *fp, const attack_extract_result *r)
{
    fprintf(fp, "%-8s %6s %11s %13s\n", "prefix", "items", "exact_match", "rougeL_recall");
    for (int j = 0; j < r->n_prefixes; j++)
        fprintf(fp, "%-8.2f %6d %11.4f %13.4f\n", r->prefix[j], r->n_items[j], r->exact_rate[j],
                r->rouge[j]);
    fprintf(fp, "extraction strength %.4f over %d items (1 - shortest extracting prefix / answer "
                "tokens; 0 when none)\n", r->strength, r->n);
}
