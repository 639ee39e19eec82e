#include "phase/scores.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/csv.h"
#include "base/file.h"
#include "base/text.h"

static const bench_info BENCH[BENCH_COUNT] = {
    [BENCH_HELLASWAG] = {"hellaswag", "HS"},
    [BENCH_TRUTHFULQA_MC2] = {"truthfulqa_mc2", "TQA"},
    [BENCH_TRUTHFULQA_MC1] = {"truthfulqa_mc1", "TQA-MC1"},
    [BENCH_ARC] = {"arc", "ARC"},
    [BENCH_WINOGRANDE] = {"winogrande", "WG"},
    [BENCH_MMLU] = {"mmlu", "MMLU"},
    [BENCH_MMLU_PRO] = {"mmlu_pro", "MMLU-Pro"},
    [BENCH_GSM8K] = {"gsm8k", "GSM8K"},
    [BENCH_GPQA_DIAMOND] = {"gpqa_diamond", "GPQA"},
    [BENCH_SWE_BENCH_VERIFIED] = {"swe_bench_verified", "SWE"},
    [BENCH_SIMPLEQA] = {"simpleqa", "SimpleQA"},
    [BENCH_LOSS] = {"loss", "loss"},
    [BENCH_GRAD_NORM] = {"grad_norm", "|grad|"},
};

enum {
    COL_IGNORE = -1,
    COL_MODEL = BENCH_COUNT,
    COL_FAMILY,
    COL_LAB,
    COL_PARAMS,   /* unit-less: raw count unless a suffix is written */
    COL_PARAMS_B, /* billions */
    COL_D_MODEL,
    COL_N_LAYERS,
    COL_FLOPS,
    COL_PRIMARY,
};

typedef struct {
    const char *alias; /* normalised: lower-case alphanumerics only */
    int col;
} alias_entry;

/* Aliases are compared after text_normalise, so "HellaSwag (10-shot)",
 * "hellaswag_10shot" and "HELLASWAG" all match "hellaswag10shot"/"hellaswag". */
static const alias_entry ALIASES[] = {
    {"hellaswag", BENCH_HELLASWAG}, {"hs", BENCH_HELLASWAG}, {"hellaswag10shot", BENCH_HELLASWAG},
    {"hellaswagaccnorm", BENCH_HELLASWAG}, {"hellaswag0shot", BENCH_HELLASWAG},
    {"truthfulqa", BENCH_TRUTHFULQA_MC2}, {"truthfulqamc2", BENCH_TRUTHFULQA_MC2},
    {"truthfulqa0shot", BENCH_TRUTHFULQA_MC2}, {"tqa", BENCH_TRUTHFULQA_MC2},
    {"tqamc2", BENCH_TRUTHFULQA_MC2}, {"truthfulqa0shotmc2", BENCH_TRUTHFULQA_MC2},
    {"truthfulqamc1", BENCH_TRUTHFULQA_MC1}, {"tqamc1", BENCH_TRUTHFULQA_MC1},
    {"truthfulqa0shotmc1", BENCH_TRUTHFULQA_MC1},
    {"arc", BENCH_ARC}, {"arcchallenge", BENCH_ARC}, {"arcc", BENCH_ARC}, {"arc25shot", BENCH_ARC},
    {"winogrande", BENCH_WINOGRANDE}, {"wg", BENCH_WINOGRANDE},
    {"winogrande5shot", BENCH_WINOGRANDE},
    {"mmlu", BENCH_MMLU}, {"mmlu5shot", BENCH_MMLU},
    {"mmlupro", BENCH_MMLU_PRO},
    {"gsm8k", BENCH_GSM8K}, {"gsm8k5shot", BENCH_GSM8K},
    {"gpqa", BENCH_GPQA_DIAMOND}, {"gpqadiamond", BENCH_GPQA_DIAMOND},
    {"swebench", BENCH_SWE_BENCH_VERIFIED}, {"swebenchverified", BENCH_SWE_BENCH_VERIFIED},
    {"swe", BENCH_SWE_BENCH_VERIFIED},
    {"simpleqa", BENCH_SIMPLEQA},
    {"loss", BENCH_LOSS}, {"piletestxent", BENCH_LOSS}, {"valloss", BENCH_LOSS},
    {"validationloss", BENCH_LOSS}, {"testloss", BENCH_LOSS},
    {"gradnorm", BENCH_GRAD_NORM},
    {"model", COL_MODEL}, {"name", COL_MODEL}, {"modelname", COL_MODEL},
    {"papername", COL_MODEL}, {"fullname", COL_MODEL},
    {"family", COL_FAMILY}, {"paperfamily", COL_FAMILY}, {"modelfamily", COL_FAMILY},
    {"lab", COL_LAB}, {"organization", COL_LAB}, {"organisation", COL_LAB}, {"org", COL_LAB},
    {"params", COL_PARAMS}, {"n", COL_PARAMS}, {"nparams", COL_PARAMS},
    {"parameters", COL_PARAMS}, {"size", COL_PARAMS}, {"numparams", COL_PARAMS},
    {"paramsb", COL_PARAMS_B}, {"nb", COL_PARAMS_B}, {"sizeb", COL_PARAMS_B},
    {"parametersb", COL_PARAMS_B}, {"paramsbillions", COL_PARAMS_B},
    {"dmodel", COL_D_MODEL}, {"hiddensize", COL_D_MODEL}, {"nembd", COL_D_MODEL},
    {"width", COL_D_MODEL},
    {"nlayers", COL_N_LAYERS}, {"nlayer", COL_N_LAYERS}, {"numhiddenlayers", COL_N_LAYERS},
    {"layers", COL_N_LAYERS}, {"depth", COL_N_LAYERS},
    {"trainingflops", COL_FLOPS}, {"flops", COL_FLOPS},
    {"primary", COL_PRIMARY},
    /* descriptive columns cape reads past */
    {"source", COL_IGNORE}, {"sources", COL_IGNORE}, {"note", COL_IGNORE}, {"notes", COL_IGNORE},
    {"kind", COL_IGNORE}, {"subset", COL_IGNORE}, {"papersourcetag", COL_IGNORE},
    {"url", COL_IGNORE}, {"license", COL_IGNORE}, {"precision", COL_IGNORE},
    {"type", COL_IGNORE}, {"hresidual", COL_IGNORE}, {"gamma12", COL_IGNORE},
    {"date", COL_IGNORE}, {"releasedate", COL_IGNORE},
};

static int lookup_column(const char *header)
{
    char norm[128];
    text_normalise(header, norm, sizeof norm);
    for (size_t i = 0; i < sizeof ALIASES / sizeof *ALIASES; i++)
        if (strcmp(ALIASES[i].alias, norm) == 0)
            return ALIASES[i].col;
    return -2;
}

const bench_info *scores_bench_info(bench_id b)
{
    return (unsigned)b < BENCH_COUNT ? &BENCH[b] : NULL;
}

int scores_bench_lookup(const char *name)
{
    int c = lookup_column(name);
    if (c >= 0 && c < BENCH_COUNT)
        return c;
    char norm[128], key[64];
    text_normalise(name, norm, sizeof norm);
    for (int b = 0; b < BENCH_COUNT; b++) {
        text_normalise(BENCH[b].key, key, sizeof key);
        if (strcmp(norm, key) == 0)
            return b;
    }
    return -1;
}

static int parse_cell(const char *name, const csv_row *r, int j, const char *hdr, int col,
                      scores_model *m, double *params_bare, cape_err *e)
{
    const char *s = r->field[j];
    double v;
    if (col == COL_MODEL) {
        m->name = text_utf8_copy(s);
        return 0;
    }
    if (col == COL_FAMILY) {
        m->family = text_utf8_copy(s);
        return 0;
    }
    if (col == COL_LAB) {
        m->lab = text_utf8_copy(s);
        return 0;
    }
    if (text_is_blank(s))
        return 0;
    if (col == COL_PARAMS || col == COL_PARAMS_B) {
        int suffix = 0;
        if (text_parse_size(s, col == COL_PARAMS_B ? 1e9 : 1.0, &v, &suffix))
            return err_set(e, CAPE_EINPUT,
                           "%s:%d:%d: column '%s': expected a size such as 410M, 1.4B or 7e9, "
                           "got '%s'",
                           name, r->line, j + 1, hdr, s);
        if (!(v > 0))
            return err_set(e, CAPE_EINPUT, "%s:%d:%d: column '%s': size must be positive, got '%s'",
                           name, r->line, j + 1, hdr, s);
        if (col == COL_PARAMS && !suffix && v < 1e5)
            *params_bare = v;
        m->params = v;
        return 0;
    }
    if (col == COL_PRIMARY) {
        long k;
        if (text_parse_int(s, &k) || (k != 0 && k != 1))
            return err_set(e, CAPE_EINPUT, "%s:%d:%d: column '%s': expected 0 or 1, got '%s'", name,
                           r->line, j + 1, hdr, s);
        m->primary = (int)k;
        return 0;
    }
    if (text_parse_double(s, &v))
        return err_set(e, CAPE_EINPUT, "%s:%d:%d: column '%s': expected a number, got '%s'", name,
                       r->line, j + 1, hdr, s);
    if (col == COL_D_MODEL || col == COL_N_LAYERS || col == COL_FLOPS) {
        if (!(v > 0))
            return err_set(e, CAPE_EINPUT, "%s:%d:%d: column '%s': must be positive, got '%s'",
                           name, r->line, j + 1, hdr, s);
        if (col == COL_D_MODEL)
            m->d_model = v;
        else if (col == COL_N_LAYERS)
            m->n_layers = v;
        else
            m->flops = v;
        return 0;
    }
    /* percentages are range-checked once the scale is known (check_scale) */
    if (col != BENCH_LOSS && col != BENCH_GRAD_NORM && v < 0)
        return err_set(e, CAPE_EINPUT,
                       "%s:%d:%d: column '%s': expected a percentage in [0, 100], got '%s'", name,
                       r->line, j + 1, hdr, s);
    if ((col == BENCH_LOSS || col == BENCH_GRAD_NORM) && !(v > 0))
        return err_set(e, CAPE_EINPUT, "%s:%d:%d: column '%s': must be positive, got '%s'", name,
                       r->line, j + 1, hdr, s);
    m->score[col] = v;
    return 0;
}

static void init_model(scores_model *m, int line)
{
    memset(m, 0, sizeof *m);
    m->params = m->d_model = m->n_layers = m->flops = NAN;
    m->primary = -1;
    for (int b = 0; b < BENCH_COUNT; b++)
        m->score[b] = NAN;
    m->line = line;
}

static int read_header(const csv_table *c, const scores_options *opt, int *colmap,
                       scores_table *t, cape_err *e)
{
    const csv_row *h = &c->row[0];
    int seen[COL_PRIMARY + 1];
    int seen_at[COL_PRIMARY + 1];
    memset(seen, 0, sizeof seen);
    for (int j = 0; j < h->nfield; j++) {
        int col = lookup_column(h->field[j]);
        if (col == -2 && (strchr(h->field[j], '\t') || strchr(h->field[j], ';')))
            return err_set(e, CAPE_EINPUT,
                           "%s:%d:%d: unknown column '%s': looks %s-separated: use --sep %s",
                           c->name, h->line, j + 1, h->field[j],
                           strchr(h->field[j], '\t') ? "tab" : "semicolon",
                           strchr(h->field[j], '\t') ? "tab" : "semicolon");
        if (col == -2) {
            if (!opt || !opt->allow_unknown_columns)
                return err_set(e, CAPE_EINPUT,
                               "%s:%d:%d: unknown column '%s' (expected model, family, params, "
                               "d_model, hellaswag, truthfulqa_mc2, arc, winogrande, mmlu, loss... "
                               "see docs/FORMATS.md; --allow-extra-columns skips it)",
                               c->name, h->line, j + 1, h->field[j]);
            col = COL_IGNORE;
        }
        colmap[j] = col;
        if (col == COL_IGNORE)
            continue;
        int key = col == COL_PARAMS_B ? COL_PARAMS : col;
        if (seen[key])
            return err_set(e, CAPE_EINPUT,
                           "%s:%d:%d: column '%s' duplicates column %d ('%s'); keep one of them",
                           c->name, h->line, j + 1, h->field[j], seen_at[key] + 1,
                           h->field[seen_at[key]]);
        seen[key] = 1;
        seen_at[key] = j;
        if (col < BENCH_COUNT)
            t->has_column[col] = 1;
    }
    if (!seen[COL_MODEL])
        return err_set(e, CAPE_EINPUT, "%s:%d:1: no model column (expected a header named 'model')",
                       c->name, h->line);
    if (opt && opt->require_params && !seen[COL_PARAMS])
        return err_set(e, CAPE_EINPUT,
                       "%s:%d:1: no size column (expected 'params' or 'params_b' / '#Params (B)')",
                       c->name, h->line);
    t->has_params = seen[COL_PARAMS];
    t->has_d_model = seen[COL_D_MODEL];
    t->has_family = seen[COL_FAMILY];
    t->has_lab = seen[COL_LAB];
    return 0;
}

/* A name may repeat only on rows marked primary = 0 (alternative listings
 * of one deployed model, as in frontier.csv). */
static int check_duplicates(const scores_table *t, const char *name, cape_err *e)
{
    for (int i = 0; i < t->n; i++)
        for (int k = 0; k < i; k++)
            if (strcmp(t->model[i].name, t->model[k].name) == 0 && t->model[i].primary != 0 &&
                t->model[k].primary != 0)
                return err_set(e, CAPE_EINPUT,
                               "%s:%d:1: model '%s' already appears on line %d; each model once",
                               name, t->model[i].line, t->model[i].name, t->model[k].line);
    return 0;
}

static int is_percent(int col)
{
    return col >= 0 && col < BENCH_COUNT && col != BENCH_LOSS && col != BENCH_GRAD_NORM;
}

/* Scores as fractions (lm-eval-harness writes 0.7 for 70 %): with the
 * automatic scale, a table in which every value of every score column lies in
 * [0, 1] is read as fractions. The decision is for the whole table, so one
 * low-scoring column (gsm8k of small models) of a percent table is left as
 * it is. Then every score must lie in [0, 100]. */
static int check_scale(const csv_table *c, const int *colmap, const scores_options *opt,
                       scores_table *t, cape_err *e)
{
    scores_scale scale = opt ? opt->scale : SCORES_SCALE_AUTO;
    const csv_row *h = &c->row[0];
    int nvalues = 0, above = 0;
    for (int i = 0; i < t->n; i++)
        for (int j = 0; j < h->nfield; j++) {
            double v = is_percent(colmap[j]) ? t->model[i].score[colmap[j]] : NAN;
            if (isnan(v))
                continue;
            nvalues++;
            if (v > 1) {
                above = 1;
                if (scale == SCORES_SCALE_FRACTION)
                    return err_set(e, CAPE_EINPUT,
                                   "%s:%d:%d: column '%s': --scale fraction expects scores in "
                                   "[0, 1], got '%s'",
                                   c->name, c->row[i + 1].line, j + 1, h->field[j],
                                   c->row[i + 1].field[j]);
            }
        }
    int fraction = scale == SCORES_SCALE_FRACTION ||
                   (scale == SCORES_SCALE_AUTO && nvalues > 0 && !above);
    for (int j = 0; j < h->nfield; j++) {
        int b = colmap[j];
        if (!is_percent(b))
            continue;
        for (int i = 0; i < t->n; i++) {
            double *v = &t->model[i].score[b];
            if (isnan(*v))
                continue;
            if (fraction)
                *v *= 100;
            else if (*v > 100)
                return err_set(e, CAPE_EINPUT,
                               "%s:%d:%d: column '%s': expected a percentage in [0, 100], got "
                               "'%s'",
                               c->name, c->row[i + 1].line, j + 1, h->field[j],
                               c->row[i + 1].field[j]);
        }
        if (fraction) {
            t->scaled[b] = 1;
            t->nscaled++;
        }
    }
    return 0;
}

int scores_scale_values(double *const *v, int n, scores_scale scale, int *scaled, cape_err *e)
{
    int given = 0, above = 0;
    *scaled = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(*v[i])) {
            given++;
            if (*v[i] > 1) {
                above = 1;
                if (scale == SCORES_SCALE_FRACTION)
                    return err_set(e, CAPE_EINPUT,
                                   "--scale fraction expects scores in [0, 1], got %g", *v[i]);
            }
        }
    if (scale == SCORES_SCALE_PERCENT || !given || (scale == SCORES_SCALE_AUTO && above))
        return 0;
    for (int i = 0; i < n; i++)
        if (!isnan(*v[i]))
            *v[i] *= 100;
    *scaled = 1;
    return 0;
}

static int is_size_token(const char *s)
{
    /* 70m, 1.4b, 7b, 1.5t, 125k, 7b1 / 1b7 (BLOOM), 8x7b (mixtures) */
    const char *p = s;
    if (!isdigit((unsigned char)*p))
        return 0;
    while (isdigit((unsigned char)*p))
        p++;
    if (*p == 'x') {
        p++;
        if (!isdigit((unsigned char)*p))
            return 0;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return 0;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (!*p || !strchr("kmbt", *p))
        return 0;
    p++;
    while (isdigit((unsigned char)*p))
        p++;
    return *p == 0;
}

/* Suffixes that name a file format, precision or quantisation of the same
 * weights, not another model line. */
static int is_format_token(const char *s)
{
    static const char *const FORMAT[] = {"hf", "gguf", "ggml", "ggmlv3", "safetensors", "fp16",
                                         "bf16", "fp32", "fp8", "int8", "int4", "8bit", "4bit",
                                         "awq", "gptq", "exl2", "mlx", "onnx", "pt", "ckpt"};
    for (size_t i = 0; i < sizeof FORMAT / sizeof *FORMAT; i++)
        if (strcmp(s, FORMAT[i]) == 0)
            return 1;
    return 0;
}

int scores_family_from_name(const char *name, char *out, size_t outsz)
{
    const char *slash = strrchr(name, '/');
    const char *base = slash && slash[1] ? slash + 1 : name;
    char low[256];
    size_t n = 0;
    for (const char *p = base; *p && n + 1 < sizeof low; p++)
        low[n++] = (char)tolower((unsigned char)*p);
    low[n] = 0;
    char *tok[64];
    int ntok = 0;
    for (char *save = NULL, *t = strtok_r(low, "-_ \t", &save); t && ntok < 64;
         t = strtok_r(NULL, "-_ \t", &save))
        tok[ntok++] = t;
    int size_at = -1;
    for (int k = 1; k < ntok && size_at < 0; k++) /* the stem needs at least one token */
        if (is_size_token(tok[k]))
            size_at = k;
    size_t w = 0;
    if (outsz)
        out[0] = 0;
    for (int k = 0; k < ntok; k++) {
        /* after the size: formats, and an active-parameter count (57b-a14b), are dropped */
        int after = size_at >= 0 && k > size_at;
        if (k == size_at || (after && (is_format_token(tok[k]) ||
                                       (tok[k][0] == 'a' && is_size_token(tok[k] + 1)))))
            continue;
        int m = snprintf(out + w, outsz > w ? outsz - w : 0, "%s%s", w ? "-" : "", tok[k]);
        if (m > 0)
            w = w + (size_t)m < outsz ? w + (size_t)m : (outsz ? outsz - 1 : 0);
    }
    return size_at >= 0;
}

/* A table without a family column: families from the model names when at
 * least half of the names carry a size (leaderboard names such as
 * org/name-7b do; frontier API names such as "o3" or "Claude 3.5 Sonnet" do
 * not). Otherwise the table stays one family, "all". */
static int infer_families(scores_table *t, cape_err *e)
{
    char fam[256];
    int sized = 0;
    for (int i = 0; i < t->n; i++)
        sized += scores_family_from_name(t->model[i].name, fam, sizeof fam);
    if (sized == 0 || 2 * sized < t->n)
        return 0;
    for (int i = 0; i < t->n; i++) {
        scores_family_from_name(t->model[i].name, fam, sizeof fam);
        char *f = strdup(fam[0] ? fam : t->model[i].name);
        if (!f)
            return err_set(e, CAPE_EFAIL, "%s: out of memory", t->path);
        free(t->model[i].family);
        t->model[i].family = f;
        int seen = 0;
        for (int k = 0; k < i && !seen; k++)
            seen = strcmp(t->model[k].family, f) == 0;
        t->families_inferred += !seen;
    }
    return 0;
}

int scores_parse(const char *buf, unsigned long len, const char *name, const scores_options *opt,
                 scores_table *t, cape_err *e)
{
    memset(t, 0, sizeof *t);
    csv_table c;
    char sep = opt && opt->sep ? opt->sep : csv_sniff_sep(buf, len);
    if (csv_parse_sep(buf, len, name, sep, &c, e))
        return e->code;
    t->sep = sep;
    int rc = 0;
    int *colmap = calloc((size_t)c.row[0].nfield, sizeof *colmap);
    t->path = strdup(name);
    t->model = calloc((size_t)(c.nrow > 1 ? c.nrow - 1 : 1), sizeof *t->model);
    if (!colmap || !t->path || !t->model) {
        rc = err_set(e, CAPE_EFAIL, "%s: out of memory", name);
        goto done;
    }
    if ((rc = read_header(&c, opt, colmap, t, e)))
        goto done;
    if (c.nrow < 2) {
        rc = err_set(e, CAPE_EINPUT, "%s:%d:1: header but no rows", name, c.row[0].line);
        goto done;
    }
    for (int i = 1; i < c.nrow; i++) {
        const csv_row *r = &c.row[i];
        scores_model *m = &t->model[t->n++];
        init_model(m, r->line);
        double bare = NAN;
        int params_col = -1;
        for (int j = 0; j < r->nfield; j++) {
            if (colmap[j] == COL_IGNORE)
                continue;
            if (colmap[j] == COL_PARAMS || colmap[j] == COL_PARAMS_B)
                params_col = j;
            if ((rc = parse_cell(name, r, j, c.row[0].field[j], colmap[j], m, &bare, e)))
                goto done;
        }
        if (!isnan(bare))
            /* A bare 7 could mean 7 parameters or 7 billion; refuse to guess. */
            rc = err_set(e, CAPE_EINPUT,
                         "%s:%d:%d: column '%s': size '%s' has no unit; write 7B or 7e9, or name "
                         "the column params_b",
                         name, r->line, params_col + 1, c.row[0].field[params_col],
                         r->field[params_col]);
        if (!rc && (!m->name || text_is_blank(m->name)))
            rc = err_set(e, CAPE_EINPUT, "%s:%d:1: empty model name", name, r->line);
        if (!rc && opt && opt->require_params && isnan(m->params))
            rc = err_set(e, CAPE_EINPUT, "%s:%d:%d: model '%s' has no size", name, r->line,
                         params_col >= 0 ? params_col + 1 : 1, m->name);
        if (rc)
            goto done;
        if (!m->family)
            m->family = strdup("all"); /* a table without families is one family */
        if (!m->lab)
            m->lab = strdup("");
    }
    if ((rc = check_duplicates(t, name, e)) || (rc = check_scale(&c, colmap, opt, t, e)))
        goto done;
    if (!t->has_family && !(opt && opt->no_family_from_name))
        rc = infer_families(t, e);
done:
    free(colmap);
    csv_free(&c);
    if (rc)
        scores_free(t);
    return rc;
}

int scores_read_file(const char *path, const scores_options *opt, scores_table *t, cape_err *e)
{
    size_t len;
    char *buf = file_read_all(path, &len, e);
    if (!buf) {
        memset(t, 0, sizeof *t);
        return e->code;
    }
    int rc = scores_parse(buf, len, path, opt, t, e);
    free(buf);
    return rc;
}

void scores_free(scores_table *t)
{
    for (int i = 0; i < t->n; i++) {
        free(t->model[i].name);
        free(t->model[i].family);
        free(t->model[i].lab);
    }
    free(t->model);
    free(t->path);
    memset(t, 0, sizeof *t);
}
