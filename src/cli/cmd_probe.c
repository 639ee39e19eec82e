/* cape probe: internal coupling of two prompt sets inside a model. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "cli/cli.h"
#include "model/model.h"
#include "steer/probe_run.h"
#include "steer/prompts.h"
#include "steer/tqa.h"

static void help(void)
{
    printf(
        "usage: cape probe MODEL (--set-a FILE --set-b FILE | --truthfulqa [CSV]) [options]\n"
        "\n"
        "Runs two prompt sets through MODEL and reads, at each prompt's last token and\n"
        "after every block, the residual stream (and with --heads each attention head's\n"
        "output). Prints per layer the cosine of the two sets' mean vectors on the\n"
        "hidden state, after the final norm, after the unembedding (logit lens) and on\n"
        "GELU of the normed state; the representational dimension d_rep (participation\n"
        "ratio of the PCA spectrum); and per-head coupling counts (cooperative c > 0,\n"
        "competing c < -0.5, near zero |c| < 0.1, net mean). See docs/METHODS.md.\n"
        "\n"
        "  --set-a FILE, --set-b FILE   one prompt per line (\\n escapes a newline)\n"
        "  --truthfulqa [CSV]  set A: each question with its best answer, set B: with its\n"
        "                      first incorrect answer (default: the bundled TruthfulQA)\n"
        "  --limit N           use the first N prompts of each set\n"
        "  --heads             per-head coupling\n"
        "  --out DIR           stream activations to DIR/resid_LNN.npy (rows: set A then\n"
        "                      set B; heads_LNN.npy with --heads)\n"
        "  --reservoir N       vectors kept per layer for d_rep (auto, at most 1024)\n"
        "  --seed N            seed of that sample and of the shuffles (0)\n"
        "  --shuffles N        chance level: the prompts of both sets pooled and dealt at\n"
        "                      random into sets of the same sizes, N times; every coupling\n"
        "                      is shown with its mean and 5th-95th percentile range over\n"
        "                      the shuffles (20; 0: skip)\n"
        "  -t, --threads K     threads (2)\n"
        "  --json              machine-readable output; -o FILE writes it atomically\n"
        "  -h, --help          this help\n"
        "\n"
        "The paper's 10 + 10 prompts: --set-a data/prompts/paper_reasoning.txt\n"
        "                              --set-b data/prompts/paper_misconception.txt\n");
}

typedef struct {
    const char *model, *set_a, *set_b, *tqa, *out_dir, *output;
    int tqa_on, heads, json, threads, limit, reservoir, shuffles;
    long seed;
} probe_args;

static int parse(int argc, char **argv, probe_args *a)
{
    enum { O_A = 256, O_B, O_TQA, O_LIMIT, O_HEADS, O_OUT, O_RES, O_SEED, O_JSON, O_SHUF };
    static const struct option opts[] = {
        {"set-a", 1, 0, O_A}, {"set-b", 1, 0, O_B}, {"truthfulqa", 2, 0, O_TQA},
        {"limit", 1, 0, O_LIMIT}, {"heads", 0, 0, O_HEADS}, {"out", 1, 0, O_OUT},
        {"reservoir", 1, 0, O_RES}, {"seed", 1, 0, O_SEED}, {"json", 0, 0, O_JSON}, {"shuffles", 1, 0, O_SHUF},
        {"threads", 1, 0, 't'}, {"output", 1, 0, 'o'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    long v;
    int c, rc = 0;
    opterr = 0;
    optind = 1;
    while (rc == 0 && (c = getopt_long(argc, argv, "ht:o:", opts, NULL)) != -1) {
        switch (c) {
        case 'h': help(); return -1;
        case O_A: a->set_a = optarg; break;
        case O_B: a->set_b = optarg; break;
        case O_TQA:
            a->tqa_on = 1;
            if (optarg)
                a->tqa = optarg;
            else if (optind < argc && argv[optind][0] != '-' && strstr(argv[optind], ".csv"))
                a->tqa = argv[optind++];
            break;
        case O_LIMIT:
            rc = cli_parse_int("probe", "--limit", optarg, 1, 1000000000, &v);
            a->limit = (int)v;
            break;
        case O_HEADS: a->heads = 1; break;
        case O_OUT: a->out_dir = optarg; break;
        case O_RES:
            rc = cli_parse_int("probe", "--reservoir", optarg, 2, 100000, &v);
            a->reservoir = (int)v;
            break;
        case O_SEED: rc = cli_parse_int("probe", "--seed", optarg, 0, 4294967295L, &a->seed); break;
        case O_JSON: a->json = 1; break;
        case O_SHUF:
            rc = cli_parse_int("probe", "--shuffles", optarg, 0, 100000, &v);
            a->shuffles = (int)v;
            break;
        case 't':
            rc = cli_parse_int("probe", "--threads", optarg, 1, 256, &v);
            a->threads = (int)v;
            break;
        case 'o': a->output = optarg; break;
        case ':': return cli_usage_error("probe", "%s needs a value", argv[optind - 1]);
        default: return cli_usage_error("probe", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (rc)
        return rc;
    if (optind >= argc)
        return cli_usage_error("probe", "no MODEL given");
    a->model = argv[optind];
    if (optind + 1 < argc)
        return cli_usage_error("probe", "unexpected argument '%s'", argv[optind + 1]);
    if (a->tqa_on == !!(a->set_a || a->set_b))
        return cli_usage_error("probe", "give either --set-a and --set-b, or --truthfulqa");
    if (!a->tqa_on && !(a->set_a && a->set_b))
        return cli_usage_error("probe", "--set-a and --set-b go together");
    return 0;
}

static json_t *darr(const double *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_num(v[i]));
    return a;
}

static json_t *counts_json(const coup_head_counts *h)
{
    return json_pack("{s:i,s:i,s:i,s:i,s:o}", "heads", h->heads, "cooperative", h->cooperative,
                     "competing", h->competing, "near_zero", h->near_zero, "net", json_num(h->net));
}

static json_t *null_json(const prun_null *z, int n)
{
    json_t *mean = json_array(), *lo = json_array(), *hi = json_array();
    for (int i = 0; i < n; i++) {
        json_array_append_new(mean, json_num(z[i].mean));
        json_array_append_new(lo, json_num(z[i].p05));
        json_array_append_new(hi, json_num(z[i].p95));
    }
    return json_pack("{s:o,s:o,s:o}", "mean", mean, "p05", lo, "p95", hi);
}

static json_t *result_json(const probe_args *a, const model *m, const prun_result *r)
{
    json_t *j = json_object();
    json_object_set_new(j, "model", json_string(a->model));
    json_object_set_new(j, "architecture", json_string(model_cfg(m)->arch_name));
    json_object_set_new(j, "set_a", json_pack("{s:s,s:i}", "source",
                                              a->tqa_on ? "truthfulqa:best" : a->set_a, "n", r->na));
    json_object_set_new(j, "set_b", json_pack("{s:s,s:i}", "source",
                                              a->tqa_on ? "truthfulqa:incorrect" : a->set_b, "n",
                                              r->nb));
    json_object_set_new(j, "hidden", darr(r->hidden, r->n_layers));
    json_object_set_new(j, "normed", darr(r->normed, r->n_layers));
    json_object_set_new(j, "output", darr(r->output, r->n_layers));
    json_object_set_new(j, "gelu", darr(r->gelu, r->n_layers));
    json_object_set_new(j, "d_rep", darr(r->d_rep, r->n_layers));
    json_object_set_new(j, "d_rep_vectors", json_integer(r->d_rep_n));
    if (r->head_c) {
        json_t *layers = json_array();
        for (int l = 0; l < r->n_layers; l++) {
            json_t *lj = counts_json(&r->head_layer[l]);
            json_object_set_new(lj, "c", darr(r->head_c + (size_t)l * r->n_heads, r->n_heads));
            json_array_append_new(layers, lj);
        }
        json_object_set_new(j, "heads", json_pack("{s:o,s:o}", "all", counts_json(&r->head_all),
                                                  "layers", layers));
    }
    if (r->shuffles) {
        json_t *sh = json_pack("{s:i,s:I,s:o,s:o,s:o,s:o}", "shuffles", r->shuffles, "seed",
                               (json_int_t)a->seed, "hidden", null_json(r->sh_hidden, r->n_layers),
                               "normed", null_json(r->sh_normed, r->n_layers), "output",
                               null_json(r->sh_output, r->n_layers), "gelu",
                               null_json(r->sh_gelu, r->n_layers));
        if (r->sh_head_net) {
            json_object_set_new(sh, "head_net", null_json(r->sh_head_net, r->n_layers));
            json_object_set_new(sh, "heads_all_net", null_json(&r->sh_head_all_net, 1));
            json_object_set_new(sh, "heads_all_cooperative_fraction",
                                null_json(&r->sh_head_all_coop, 1));
        }
        json_object_set_new(j, "shuffled_labels", sh);
    } else {
        json_object_set_new(j, "shuffled_labels", json_null());
    }
    return j;
}

static void fmt3(char *b, size_t n, double v)
{
    if (isfinite(v))
        snprintf(b, n, "%+.4f", v);
    else
        snprintf(b, n, "n/a");
}

static void print_text(FILE *out, const probe_args *a, const model *m, const prun_result *r)
{
    const model_config *c = model_cfg(m);
    fprintf(out, "%s: %s, %d layers, width %d, %d heads\n", a->model, c->arch_name, c->n_layers,
            c->dim, c->n_heads);
    fprintf(out, "set A: %s (%d prompts), set B: %s (%d prompts); last token of each prompt\n",
            a->tqa_on ? "TruthfulQA best answers" : a->set_a, r->na,
            a->tqa_on ? "TruthfulQA incorrect answers" : a->set_b, r->nb);
    fprintf(out, "\n%5s %8s %8s %8s %8s %7s", "layer", "hidden", "normed", "output", "gelu",
            "d_rep");
    if (r->head_c)
        fprintf(out, "  %5s %5s %5s %7s", "coop", "comp", "~0", "net");
    fputc('\n', out);
    for (int l = 0; l < r->n_layers; l++) {
        char h[16], nm[16], o[16], g[16];
        fmt3(h, sizeof h, r->hidden[l]);
        fmt3(nm, sizeof nm, r->normed[l]);
        fmt3(o, sizeof o, r->output[l]);
        fmt3(g, sizeof g, r->gelu[l]);
        fprintf(out, "%5d %8s %8s %8s %8s", l, h, nm, o, g);
        if (isfinite(r->d_rep[l]))
            fprintf(out, " %7.2f", r->d_rep[l]);
        else
            fprintf(out, " %7s", "n/a");
        if (r->head_c) {
            const coup_head_counts *k = &r->head_layer[l];
            fprintf(out, "  %5d %5d %5d %+7.3f", k->cooperative, k->competing, k->near_zero, k->net);
        }
        fputc('\n', out);
    }
    if (r->shuffles) {
        fprintf(out,
                "\nchance level: labels shuffled %d times (the prompts pooled and dealt into sets "
                "of %d and %d);\nmean [5th, 95th percentile] of the same cosines. A coupling "
                "inside this range is what\nany split of these prompts gives at this sample "
                "size.\n",
                r->shuffles, r->na, r->nb);
        fprintf(out, "%5s %22s %22s %22s %22s", "layer", "hidden", "normed", "output", "gelu");
        if (r->sh_head_net)
            fprintf(out, " %22s", "head net");
        fputc('\n', out);
        for (int l = 0; l < r->n_layers; l++) {
            const prun_null *z[5] = {&r->sh_hidden[l], &r->sh_normed[l], &r->sh_output[l],
                                     &r->sh_gelu[l], r->sh_head_net ? &r->sh_head_net[l] : NULL};
            fprintf(out, "%5d", l);
            for (int q = 0; q < 5 && z[q]; q++) {
                char m[16], lo[16], hi[16], cell[64];
                fmt3(m, sizeof m, z[q]->mean);
                fmt3(lo, sizeof lo, z[q]->p05);
                fmt3(hi, sizeof hi, z[q]->p95);
                snprintf(cell, sizeof cell, "%s [%s,%s]", m, lo, hi);
                fprintf(out, " %22s", cell);
            }
            fputc('\n', out);
        }
    }
    int last = r->n_layers - 1;
    fprintf(out,
            "\nlast block, the paper's definitions: hidden %+.4f, output %+.4f, wider (GELU) "
            "%+.4f\n",
            r->normed[last], r->output[last], r->gelu[last]);
    fprintf(out, "d_rep from %d pooled vectors per layer\n", r->d_rep_n);
    if (r->head_c) {
        const coup_head_counts *k = &r->head_all;
        fprintf(out,
                "heads: %d in all; cooperative %d (%.1f%%), competing %d, near zero %d, net "
                "%+.4f\n",
                k->heads, k->cooperative, 100.0 * k->cooperative / (k->heads ? k->heads : 1),
                k->competing, k->near_zero, k->net);
        if (r->shuffles) {
            char m[16], lo[16], hi[16];
            fmt3(m, sizeof m, r->sh_head_all_net.mean);
            fmt3(lo, sizeof lo, r->sh_head_all_net.p05);
            fmt3(hi, sizeof hi, r->sh_head_all_net.p95);
            fprintf(out,
                    "heads, labels shuffled: cooperative %.1f%% (mean), net %s [%s, %s]\n",
                    100 * r->sh_head_all_coop.mean, m, lo, hi);
        }
    }
}

static int load_sets(const probe_args *a, prompt_set *A, prompt_set *B, cape_err *e)
{
    if (a->tqa_on) {
        char def[4096];
        const char *path = a->tqa;
        if (!path) {
            snprintf(def, sizeof def, "%s/truthfulqa/TruthfulQA.csv", cli_data_dir());
            path = def;
        }
        tqa_set s;
        if (tqa_load(path, 0, &s, e))
            return e->code;
        int rc = prompts_from_tqa(&s, NULL, s.n, A, B, e);
        tqa_free(&s);
        return rc;
    }
    if (prompts_read(a->set_a, A, e))
        return e->code;
    if (prompts_read(a->set_b, B, e)) {
        prompts_free(A);
        return e->code;
    }
    return 0;
}

int cmd_probe(int argc, char **argv)
{
    probe_args a = {.threads = 2, .shuffles = 20};
    int rc = parse(argc, argv, &a);
    if (rc)
        return rc < 0 ? 0 : rc;
    cape_err e = {0};
    prompt_set A = {0}, B = {0};
    if (load_sets(&a, &A, &B, &e))
        return cli_report(&e);
    if (a.limit) {
        A.n = A.n < a.limit ? A.n : a.limit;
        B.n = B.n < a.limit ? B.n : a.limit;
    }
    model *m = model_load(a.model, NULL, &e);
    model_session *s = m ? model_session_new(m, &(model_session_opts){.n_threads = a.threads}, &e)
                         : NULL;
    prun_result r = {0};
    if (s) {
        cli_progress bar;
        cli_progress_init(&bar, "probe");
        prun_opts po = {.heads = a.heads, .out_dir = a.out_dir, .reservoir = a.reservoir,
                        .seed = (uint32_t)a.seed, .shuffles = a.shuffles, .progress = cli_progress_cb, .progress_user = &bar};
        rc = prun_run(s, m, A.text, A.n, B.text, B.n, &po, &r, &e);
    } else {
        rc = e.code;
    }
    if (!rc) {
        cli_out out;
        if ((rc = cli_out_open(&out, a.output, a.json)) == 0) {
            if (!a.json)
                print_text(out.fp, &a, m, &r);
            rc = cli_out_close(&out, a.json ? result_json(&a, m, &r) : NULL);
        }
    } else {
        rc = cli_report(&e);
    }
    prun_free(&r);
    model_session_free(s);
    model_free(m);
    prompts_free(&A);
    prompts_free(&B);
    return rc;
}
