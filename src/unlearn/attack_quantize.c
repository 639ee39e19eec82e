/* attack_quantize: the weights rounded to each type by the weight quantiser
 * (an entry point given by the caller: the quantize module), and the
 * forget metrics (probability, ROUGE-L recall, truth ratio) measured again
 * on the forget split, beside the model as given. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/json.h"
#include "model/quantize_model.h"
#include "unlearn/attack.h"
#include "unlearn/filter.h"

/* The weight quantiser built into cape: the recipe of `type` as `cape
 * quantize` applies it (llama.cpp's rules), written to out. */
static int requantize_builtin(const char *in, const char *out, const char *type, cape_err *e)
{
    const quantize_recipe *rc = quantize_recipe_find(type);
    if (!rc)
        return err_set(e, CAPE_EINPUT, "--types: unknown type '%s' (%s)", type,
                       quantize_recipe_names());
    quantize_opts qo = {.recipe = rc, .n_threads = 1};
    quantize_stats st;
    return quantize_model(in, out, &qo, &st, e);
}
const attack_requantize_fn attack_requantize_builtin = requantize_builtin;

static const char *const DEFAULT_TYPES[] = {"q8_0", "q4_0", "q4_k"};

static int eval_file(const attack_quantize_opts *o, const char *path, const filter *flt,
                     const tofu_split *fs, attack_metrics *m, cape_err *e)
{
    tofu_eval_opts eo = {.model_path = path, .tofu_dir = o->tofu, .forget = o->forget,
                         .sinks_mode = o->sinks_mode, .source = o->source,
                         .threads = o->threads, .batch = o->eval_batch,
                         .max_new_tokens = o->max_new_tokens, .exact = 1,
                         .filter = flt};
    tofu_split_scores sc;
    int rc = tofu_eval_split(&eo, fs, 1, 1, &sc, e);
    if (!rc)
        rc = attack_metrics_of(&sc, m, e);
    tofu_split_scores_free(&sc);
    return rc;
}

int attack_quantize_run(const attack_quantize_opts *o, attack_quantize_result *r, cape_err *e)
{
    memset(r, 0, sizeof *r);
    int pct, rc;
    if ((rc = tofu_forget_parse(o->forget, &pct, e)))
        return rc;
    if (!o->requantize)
        return err_set(e, CAPE_EINPUT, "the quantize attack needs the weight quantiser (cape "
                       "quantize), which this build of cape does not have");
    const char *const *types = o->types ? o->types : DEFAULT_TYPES;
    int nt = o->types ? o->n_types : 3;
    if (nt < 1)
        return err_set(e, CAPE_EINPUT, "--types: an empty list");
    tofu_split fs = {0};
    filter *flt = NULL;
    if (o->filter_path && (rc = tofu_filter_load(o->filter_path, o->forget, &flt, e)))
        return rc;
    if ((rc = tofu_split_load(&fs, o->tofu, TOFU_FORGET, pct, o->max_items, e)))
        goto out;
    r->n = 1 + nt;
    r->label = calloc((size_t)r->n, sizeof *r->label);
    r->at = calloc((size_t)r->n, sizeof *r->at);
    if (!r->label || !r->at || !(r->label[0] = strdup("as given"))) {
        rc = err_set(e, CAPE_EFAIL, "out of memory");
        goto out;
    }
    if ((rc = eval_file(o, o->model, flt, &fs, &r->at[0], e)))
        goto out;
    for (int i = 0; i < nt && !rc; i++) {
        if (!(r->label[1 + i] = strdup(types[i]))) {
            rc = err_set(e, CAPE_EFAIL, "out of memory");
            break;
        }
        char tmp[4096];
        const char *td = getenv("TMPDIR");
        snprintf(tmp, sizeof tmp, "%s/cape-quant-XXXXXX.gguf", td && *td ? td : "/tmp");
        int fd = mkstemps(tmp, 5);
        if (fd < 0) {
            rc = err_set(e, CAPE_EFAIL, "cannot create a temporary model file");
            break;
        }
        close(fd);
        rc = o->requantize(o->model, tmp, types[i], e);
        if (!rc)
            rc = eval_file(o, tmp, flt, &fs, &r->at[1 + i], e);
        unlink(tmp);
    }
out:
    tofu_split_free(&fs);
    filter_free(flt);
    return rc;
}

void attack_quantize_result_free(attack_quantize_result *r)
{
    for (int i = 0; r->label && i < r->n; i++)
        free(r->label[i]);
    free(r->label);
    free(r->at);
    memset(r, 0, sizeof *r);
}

json_t *attack_quantize_json(const attack_quantize_opts *o, const attack_quantize_result *r)
{
    json_t *d = json_object();
    json_object_set_new(d, "attack", json_string("quantize"));
    json_object_set_new(d, "model", json_text(o->model));
    json_object_set_new(d, "forget", json_text(o->forget));
    json_object_set_new(d, "sinks", o->sinks_mode ? json_text(o->sinks_mode) : json_null());
    json_object_set_new(d, "filter", o->filter_path ? json_text(o->filter_path) : json_null());
    json_t *rows = json_array();
    for (int i = 0; i < r->n; i++) {
        json_t *x = json_object();
        json_object_set_new(x, "weights", json_text(r->label[i]));
        for (int k = 0; k < ATTACK_N_METRICS; k++) {
            double v = attack_metric_at(&r->at[i], k);
            json_object_set_new(x, ATTACK_METRIC_NAMES[k], json_num(v));
            char key[64];
            snprintf(key, sizeof key, "%s_change", ATTACK_METRIC_NAMES[k]);
            json_object_set_new(x, key, json_num(v - attack_metric_at(&r->at[0], k)));
        }
        json_array_append_new(rows, x);
    }
    json_object_set_new(d, "results", rows);
    return d;
}

void attack_quantize_table(FILE *fp, const attack_quantize_result *r)
{
    fprintf(fp, "%-9s %16s %17s %19s\n", "weights", "forget_Q_A_Prob", "forget_Q_A_ROUGE",
            "forget_truth_ratio");
    for (int i = 0; i < r->n; i++)
        fprintf(fp, "%-9s %16.4f %17.4f %19.4f\n", r->label[i], r->at[i].prob, r->at[i].rouge,
                r->at[i].truth_ratio);
}
