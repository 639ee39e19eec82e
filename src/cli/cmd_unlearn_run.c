/* cape unlearn run: post-hoc unlearning of a cape-trained model by
 * fine-tuning with an unlearning loss (src/unlearn/posthoc.h). Parses the
 * options, calls posthoc_run and prints the per-epoch losses. */
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/file.h"
#include "cli/cli.h"
#include "train/train_gemm.h"
#include "unlearn/posthoc.h"

static void help(void)
{
    char buf[256];
    printf(
        "usage: cape unlearn run MODEL.gguf --method M --tofu DIR --forget forgetNN -o OUT.gguf\n"
        "                        [options]\n"
        "\n"
        "Fine-tunes a model cape train wrote (llama or gpt2 blocks, with or without sinks)\n"
        "so that it forgets TOFU's forget split (the last 1, 5 or 10%% of the authors), with\n"
        "open-unlearning's losses and defaults, and writes OUT.gguf with the model's metadata\n"
        "(tokenizer, sinks, sources). Methods: %s.\n"
        "Checkpoints go to OUT.gguf.ckpt/ (removed at the end); an interrupted run\n"
        "continues with --resume and gives the same model as an uninterrupted one.\n"
        "Definitions and sources: docs/METHODS.md; usage: docs/UNLEARN.md.\n"
        "\n"
        "options:\n"
        "  --method M          ga | graddiff | npo | simnpo | rmu | idkdpo\n"
        "  --tofu DIR          TOFU directory (full.json; idontknow.jsonl for idkdpo)\n"
        "  --forget SPLIT      forget01 | forget05 | forget10\n"
        "  --retain-split S    retain90 | retain95 | retain99 (default: the complement)\n"
        "  -o, --output FILE   the unlearned model\n"
        "  --lr X              peak learning rate (1e-5); linear warm-up over the first\n"
        "                      epoch, then linear decay to 0\n"
        "  --epochs N          passes over the forget set (10)\n"
        "  --batch N           forget items per micro-batch, each with a retain item (8)\n"
        "  --accum N           micro-batches per step (4)\n"
        "  --wd X              AdamW weight decay (0.01)\n"
        "  --beta X            NPO/IdkDPO 0.1, SimNPO 4.5\n"
        "  --alpha X           retain weight (1)\n"
        "  --gamma X           forget weight (1; SimNPO 0.125)\n"
        "  --delta X           SimNPO margin (0)\n"
        "  --retain-loss nll|kl  retain term of graddiff/npo/simnpo/idkdpo (nll)\n"
        "  --layer N           RMU: output of block N (0-based; default layers/3)\n"
        "  --steering C        RMU steering coefficient (2)\n"
        "  --seed N            data order, retain pairing, refusals, RMU direction (0)\n"
        "  --eval-retain N     retain items evaluated after each epoch (400)\n"
        "  --threads N         (2)\n"
        "  --ckpt-every N      checkpoint every N steps (default: every epoch)\n"
        "  --resume            continue from the newest checkpoint in OUT.gguf.ckpt/\n"
        "  --stop-after N      checkpoint after step N and stop\n"
        "  --json              machine-readable summary\n"
        "  -h, --help          this help\n",
        posthoc_method_list(buf, sizeof buf));
}

typedef struct {
    posthoc_opts o;
    int threads, json;
} run_args;

static int parse_args(int argc, char **argv, run_args *a)
{
    enum { O_METHOD = 256, O_TOFU, O_FORGET, O_RETAIN, O_LR, O_EPOCHS, O_BATCH, O_ACCUM, O_WD,
           O_BETA, O_ALPHA, O_GAMMA, O_DELTA, O_RLOSS, O_LAYER, O_STEER, O_SEED, O_EVR,
           O_THREADS, O_CKPT, O_RESUME, O_STOPAFTER, O_JSON };
    static const struct option opts[] = {
        {"method", 1, 0, O_METHOD}, {"tofu", 1, 0, O_TOFU}, {"forget", 1, 0, O_FORGET},
        {"retain-split", 1, 0, O_RETAIN}, {"lr", 1, 0, O_LR}, {"epochs", 1, 0, O_EPOCHS},
        {"batch", 1, 0, O_BATCH}, {"accum", 1, 0, O_ACCUM}, {"wd", 1, 0, O_WD},
        {"beta", 1, 0, O_BETA}, {"alpha", 1, 0, O_ALPHA}, {"gamma", 1, 0, O_GAMMA},
        {"delta", 1, 0, O_DELTA}, {"retain-loss", 1, 0, O_RLOSS}, {"layer", 1, 0, O_LAYER},
        {"steering", 1, 0, O_STEER}, {"seed", 1, 0, O_SEED}, {"eval-retain", 1, 0, O_EVR},
        {"threads", 1, 0, O_THREADS}, {"ckpt-every", 1, 0, O_CKPT}, {"resume", 0, 0, O_RESUME},
        {"stop-after", 1, 0, O_STOPAFTER}, {"json", 0, 0, O_JSON}, {"output", 1, 0, 'o'},
        {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    const char *cmd = "unlearn run";
    posthoc_opts *o = &a->o;
    long v;
    int c, rc = 0;
    opterr = 0;
    optind = 1;
    while (rc == 0 && (c = getopt_long(argc, argv, ":ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'h': help(); return -1;
        case 'o': o->out = optarg; break;
        case O_METHOD: o->method = optarg; break;
        case O_TOFU: o->tofu = optarg; break;
        case O_FORGET: o->forget = optarg; break;
        case O_RETAIN: o->retain = optarg; break;
        case O_LR: rc = cli_parse_double(cmd, "--lr", optarg, &o->lr); break;
        case O_EPOCHS: rc = cli_parse_int(cmd, "--epochs", optarg, 1, 100000, &v); o->epochs = (int)v; break;
        case O_BATCH: rc = cli_parse_int(cmd, "--batch", optarg, 1, 1024, &v); o->batch = (int)v; break;
        case O_ACCUM: rc = cli_parse_int(cmd, "--accum", optarg, 1, 1024, &v); o->accum = (int)v; break;
        case O_WD: rc = cli_parse_double(cmd, "--wd", optarg, &o->weight_decay); break;
        case O_BETA: rc = cli_parse_double(cmd, "--beta", optarg, &o->h.beta); o->set_beta = 1; break;
        case O_ALPHA: rc = cli_parse_double(cmd, "--alpha", optarg, &o->h.alpha); o->set_alpha = 1; break;
        case O_GAMMA: rc = cli_parse_double(cmd, "--gamma", optarg, &o->h.gamma); o->set_gamma = 1; break;
        case O_DELTA: rc = cli_parse_double(cmd, "--delta", optarg, &o->h.delta); o->set_delta = 1; break;
        case O_STEER: rc = cli_parse_double(cmd, "--steering", optarg, &o->h.steering); o->set_steering = 1; break;
        case O_RLOSS:
            if (strcmp(optarg, "nll") && strcmp(optarg, "kl"))
                rc = cli_usage_error(cmd, "--retain-loss expects nll or kl, got '%s'", optarg);
            o->h.retain_kl = !strcmp(optarg, "kl");
            break;
        case O_LAYER: rc = cli_parse_int(cmd, "--layer", optarg, 0, 1023, &v); o->h.layer = (int)v; break;
        case O_SEED: rc = cli_parse_int(cmd, "--seed", optarg, 0, 1L << 53, &v); o->seed = (uint64_t)v; break;
        case O_EVR: rc = cli_parse_int(cmd, "--eval-retain", optarg, 1, 1 << 24, &v); o->eval_retain = (int)v; break;
        case O_THREADS: rc = cli_parse_int(cmd, "--threads", optarg, 1, 256, &v); a->threads = (int)v; break;
        case O_CKPT: rc = cli_parse_int(cmd, "--ckpt-every", optarg, 1, 1L << 40, &v); o->ckpt_every = v; break;
        case O_RESUME: o->resume = 1; break;
        case O_STOPAFTER: rc = cli_parse_int(cmd, "--stop-after", optarg, 1, 1L << 40, &v); o->stop_after = v; break;
        case O_JSON: a->json = 1; break;
        case ':': return cli_usage_error(cmd, "%s needs a value", argv[optind - 1]);
        default: return cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (rc)
        return rc;
    if (optind != argc - 1)
        return cli_usage_error(cmd, "expected one MODEL.gguf argument");
    o->model = argv[optind];
    if (!o->method || !o->tofu || !o->forget || !o->out)
        return cli_usage_error(cmd, "give --method, --tofu DIR, --forget forgetNN and -o OUT.gguf");
    return 0;
}

static volatile int g_stop;

static void on_signal(int sig)
{
    if (g_stop) {
        file_atomic_unlink_live();
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    g_stop = sig;
}

static void on_epoch(void *ctx, int epoch, double f, double r)
{
    (void)ctx;
    if (isatty(2))
        fprintf(stderr, "cape unlearn run: epoch %d: forget loss %.4f, retain loss %.4f\n", epoch,
                f, r);
}

int cmd_unlearn_run(int argc, char **argv)
{
    run_args a = {.threads = 2};
    posthoc_opts_defaults(&a.o);
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc < 0 ? 0 : rc;
    tg_set_threads(a.threads);
    a.o.stop = &g_stop;
    a.o.on_epoch = on_epoch;
    a.o.epoch_ctx = &a;
    struct sigaction sa = {0}, old_int, old_term;
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    posthoc_result r;
    cape_err e = {0};
    rc = posthoc_run(&a.o, &r, &e);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (rc) {
        posthoc_result_free(&r);
        return cli_report(&e);
    }
    if (r.stopped) {
        fprintf(stderr, "cape unlearn run: stopped after step %ld of %ld%s; the checkpoint is in "
                "%s.ckpt, continue with --resume\n",
                r.done_steps, r.steps,
                g_stop ? (g_stop == SIGINT ? " (SIGINT)" : " (SIGTERM)") : "", a.o.out);
        int code = g_stop ? 128 + g_stop : 0;
        posthoc_result_free(&r);
        return code;
    }
    if (a.json) {
        json_t *j = json_object(), *ep = json_array();
        json_object_set_new(j, "model", json_string(a.o.out));
        json_object_set_new(j, "method", json_string(a.o.method));
        json_object_set_new(j, "forget", json_string(a.o.forget));
        json_object_set_new(j, "forget_items", json_integer(r.n_forget));
        json_object_set_new(j, "retain_items", json_integer(r.n_retain));
        json_object_set_new(j, "skipped_items", json_integer(r.n_skipped));
        json_object_set_new(j, "steps", json_integer(r.steps));
        for (int i = 0; i < r.epochs; i++) {
            json_t *o = json_object();
            json_object_set_new(o, "epoch", json_integer(i));
            json_object_set_new(o, "forget_loss", json_real(r.forget_loss[i]));
            json_object_set_new(o, "retain_loss", json_real(r.retain_loss[i]));
            json_object_set_new(o, "train_loss",
                                isfinite(r.train_loss[i]) ? json_real(r.train_loss[i]) : json_null());
            json_array_append_new(ep, o);
        }
        json_object_set_new(j, "epochs", ep);
        char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("%s\n", s);
        free(s);
        json_decref(j);
    } else {
        printf("%5s %12s %12s %12s\n", "epoch", "forget_loss", "retain_loss", "train_loss");
        for (int i = 0; i < r.epochs; i++)
            printf("%5d %12.4f %12.4f %12.4f\n", i, r.forget_loss[i], r.retain_loss[i],
                   r.train_loss[i]);
        printf("wrote %s: %s on %s (%d forget, %d retain items), %ld steps; forget loss %.4f -> "
               "%.4f, retain loss %.4f -> %.4f\n",
               a.o.out, a.o.method, a.o.forget, r.n_forget, r.n_retain, r.steps, r.forget_loss[0],
               r.forget_loss[r.epochs - 1], r.retain_loss[0], r.retain_loss[r.epochs - 1]);
        if (r.n_skipped)
            printf("%d items had no answer token within the model's context and were left out\n",
                   r.n_skipped);
    }
    posthoc_result_free(&r);
    return 0;
}
