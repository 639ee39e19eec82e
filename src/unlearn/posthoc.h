/* posthoc: post-hoc unlearning of a cape-trained model (llama or GPT-2
 * blocks, with or without sinks) by fine-tuning it with an unlearning loss
 * on the trainer's own forward/backward and AdamW (train/).
 *
 * The methods are those of open-unlearning (locuslab/open-unlearning), with
 * its defaults and its loss definitions (docs/METHODS.md, "Post-hoc
 * unlearning"):
 *   ga       -NLL on the forget set (token mean over the batch)
 *   graddiff gamma * (-NLL_f) + alpha * NLL_r (or alpha * KL(ref || model) on retain)
 *   npo      (2/beta) mean log(1 + (pi/pi_ref)^beta) on forget + alpha * NLL_r
 *   simnpo   -(2/beta) mean log sigmoid(beta (NLL_f / |y| - delta)), weight gamma, + alpha * NLL_r
 *   rmu      MSE of layer-l activations to c * u on forget answers, alpha * MSE to the
 *            reference's activations on retain answers
 *   idkdpo   DPO with a refusal as preferred and the true answer as rejected, + alpha * NLL_r
 *
 * Data (TOFU): the forget split forgetNN is the last NN% of the authors of
 * full.json, the retain split the first authors (the complement by
 * default). Each forget item is paired with a retain item drawn at random
 * (open-unlearning's ForgetRetainDataset, anchored on forget); an epoch is
 * one pass over the shuffled forget items. The loss counts the answer
 * tokens of "Question: Q\nAnswer: A" (train_tofu_render).
 *
 * Optimisation as open-unlearning's TOFU recipe: AdamW (0.9, 0.999, 1e-8,
 * weight decay 0.01 on matrices and embeddings), gradient clipping at 1,
 * a linear warm-up over the first epoch then linear decay to 0 (Hugging
 * Face's "linear" schedule), micro-batches of `batch` forget items
 * accumulated `accum` times. Checkpoints (the model and the AdamW state)
 * are written atomically like cape train's; a resumed run is identical to
 * an uninterrupted one (same --threads). */
#ifndef CAPE_POSTHOC_H
#define CAPE_POSTHOC_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "train/train_adamw.h"
#include "train/train_model.h"
#include "train/train_tok.h"
#include "unlearn/sink_model.h"

typedef struct {
    double beta, alpha, gamma, delta;
    double steering; /* RMU's steering coefficient c */
    int layer;       /* RMU's layer (output of block `layer`); -1 = n_layers / 3 */
    int retain_kl;   /* retain term KL(ref || model), not NLL (graddiff, npo, simnpo, idkdpo) */
} posthoc_hparams;

/* One tokenised QA item: tokens = start, prompt, answer, end; the answer
 * tokens (and the end token) are those at positions >= scored_from. */
typedef struct {
    int *tokens;
    int len;
    int scored_from;
    uint32_t source; /* sink source id (1-based), 0 = none */
} posthoc_item;

typedef struct posthoc_batch posthoc_batch;

/* A method's loss on one micro-batch: returns the loss and fills the
 * batch's gradient requests (posthoc.c documents the fields). */
typedef double (*posthoc_loss_fn)(posthoc_batch *b);

typedef struct {
    const char *name;
    const char *summary;
    posthoc_loss_fn loss;
    int needs_ref;    /* the frozen reference model takes part in the loss */
    int needs_idk;    /* pairs each forget item with a refusal (DPO) */
    int needs_retain; /* draws retain items */
    int acts;         /* the loss reads the layer activations, not the logits (RMU) */
    posthoc_hparams defaults;
} posthoc_method;

extern const posthoc_method POSTHOC_METHODS[];
/* Plain NLL on the "forget" items of a batch (fine-tuning; not an
 * unlearning method, so not in the table): the relearning attack's loss. */
extern const posthoc_method posthoc_nll;
/* The method of that name, or NULL. */
const posthoc_method *posthoc_method_find(const char *name);
/* "ga, graddiff, ..." */
const char *posthoc_method_list(char *buf, size_t n);

/* ---- one micro-batch: loss and gradients (for tests and the loop) ----- */

typedef struct {
    const posthoc_method *method;
    posthoc_hparams h;
    train_model *m;   /* trained; activations for at least max_rows x T */
    train_model *ref; /* frozen reference (same shape and activations), or NULL */
    const sink_model *sinks; /* NULL or disabled: no masks */
    int max_rows, T;  /* T: the longest row */
    int Tb;           /* the width of the batch in progress (its longest item) */
    int layer;        /* RMU layer in force */
    float *u;         /* RMU direction (dim), unit norm */
    /* scratch */
    int *tokens, *targets;
    float *masks, *ce_scale, *kl_scale, *dact;
    double *nll, *ref_nll;
    int *ntgt, *rowlen, *scored_from;
    /* parameters that get no gradient (RMU: above its layer) are restored
     * after the update, as torch's AdamW skips parameters without one */
    size_t frozen_from;
    float *frozen;
} posthoc_state;

int posthoc_state_init(posthoc_state *s, const posthoc_method *meth, const posthoc_hparams *h,
                       train_model *m, train_model *ref, const sink_model *sinks, int max_rows,
                       uint64_t seed, cape_err *e);
void posthoc_state_free(posthoc_state *s);
/* Sets the RMU direction (normalised here). */
void posthoc_set_direction(posthoc_state *s, const float *u);

typedef struct {
    double loss;
    double forget_nll, retain_nll; /* token means over the batch's forget / retain answers */
} posthoc_batch_stats;

/* Loss of one micro-batch: nf forget items (idk[i] the refusal paired with
 * forget[i] when the method needs one) and nr retain items; the gradient
 * of scale * loss is added into s->m->grads. nf + (idk ? nf : 0) + nr must
 * not exceed max_rows and no item may be longer than the model's T. */
int posthoc_batch_grad(posthoc_state *s, const posthoc_item *const *forget,
                       const posthoc_item *const *idk, int nf, const posthoc_item *const *retain,
                       int nr, float scale, posthoc_batch_stats *st, cape_err *e);

/* The update that follows a step's gradients: global-norm clipping at
 * `clip`, AdamW with learning rate lr, and the restoring of parameters the
 * loss does not reach. Returns the gradient norm before clipping. */
double posthoc_apply(posthoc_state *s, adamw_state *opt, const adamw_hparams *h, float lr,
                     double clip);

/* Hugging Face's linear schedule: lr * step / warmup during warm-up, then
 * lr * (total - step) / (total - warmup); step is 0-based. */
float posthoc_lr_at(long step, long warmup, long total, float lr);

/* The refusals of TOFU's idontknow.jsonl: one per line, plain text or a
 * JSON string (a line starting with '"'), surrounding blanks trimmed, blank
 * lines skipped. A bad JSON line, a NUL byte or no refusal at all is an
 * input error naming `what` and the line. */
int posthoc_refusals_parse(const char *buf, size_t len, const char *what, char ***out, int *n,
                           cape_err *e);
void posthoc_refusals_free(char **v, int n);

/* One TOFU pair as the trainer renders it: start "Question: Q\nAnswer: A"
 * end, the answer and end scored, at most ctx tokens; *kept = 0 (and *it
 * untouched) when no answer token fits. it->tokens is the caller's. */
int posthoc_item_build(const train_tokenizer *tk, const char *question, const char *answer,
                       uint32_t source, int ctx, posthoc_item *it, int *kept, cape_err *e);

/* ---- the whole run ---------------------------------------------------- */

typedef struct {
    const char *model;  /* a GGUF cape train wrote */
    const char *method;
    const char *tofu;   /* TOFU directory: full.json, idontknow.jsonl */
    const char *forget; /* forget01 | forget05 | forget10 */
    const char *retain; /* retain90 | retain95 | retain99, NULL = the complement */
    const char *out;    /* OUT.gguf; checkpoints go to OUT.gguf.ckpt/ */
    double lr;          /* 1e-5 */
    int epochs;         /* 10 */
    int batch;          /* forget items per micro-batch, 8 */
    int accum;          /* micro-batches per step, 4 */
    double weight_decay, clip;
    int set_beta, set_alpha, set_gamma, set_delta, set_steering; /* which h fields were given */
    posthoc_hparams h;
    uint64_t seed;
    int eval_retain; /* retain items evaluated after each epoch (400) */
    long ckpt_every; /* steps; 0 = at the end of each epoch */
    int resume;
    long stop_after; /* > 0: checkpoint after this step and return */
    volatile int *stop;
    void (*on_epoch)(void *ctx, int epoch, double forget_loss, double retain_loss);
    void *epoch_ctx;
} posthoc_opts;

void posthoc_opts_defaults(posthoc_opts *o);

typedef struct {
    int epochs;           /* entries below: epoch 0 = before unlearning */
    double *forget_loss;  /* mean answer-token loss of the forget items */
    double *retain_loss;  /* the same for the evaluated retain items */
    double *train_loss;   /* mean method loss over the epoch's steps (NAN for epoch 0) */
    long steps, start_step, done_steps;
    int n_forget, n_retain, layer;
    int n_skipped; /* items with no answer token within the model's context */
    posthoc_hparams h;
    int stopped; /* stopped before the end (checkpoint written) */
} posthoc_result;

void posthoc_result_free(posthoc_result *r);

int posthoc_run(const posthoc_opts *o, posthoc_result *r, cape_err *e);

#endif
