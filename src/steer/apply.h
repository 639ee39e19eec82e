/* apply: steering a model at inference. A control vector's slots are added
 * to the residual stream after their blocks, scaled, at every position or
 * from the last prompt token on (the paper's variant), optionally with the
 * paper's cosine gate choosing the strength per prompt. */
#ifndef CAPE_STEER_APPLY_H
#define CAPE_STEER_APPLY_H

#include "model/model.h"
#include "model/sample.h"
#include "steer/cvec.h"
#include "steer/hook.h"

typedef struct {
    const cvec *cv;
    float scale;
    int layer_lo, layer_hi; /* blocks steered, inclusive; -1: every slot the file has */
    int last_only;          /* from the last prompt token on, instead of at every position */
    int gate;               /* multiply scale by the paper's gate strength */
    int gate_layer;         /* block whose state the gate reads (-1: the first steered) */
    int relative;           /* scale is a fraction of the block's mean residual norm */
} steer_cfg;

typedef struct {
    float *vec;          /* [n_layers][dim] */
    unsigned char *on;   /* [n_layers] */
    int first_layer;
} steer_plan;

/* Checks the vector against the model (width, layer range) and lays it out. */
int steer_plan_make(const steer_cfg *c, const model_config *mc, steer_plan *p, cape_err *e);
void steer_plan_free(steer_plan *p);
/* Fills a hook for a prompt of n_prompt tokens with the given strength. */
void steer_plan_hook(const steer_plan *p, const steer_cfg *c, const model_config *mc,
                     int n_prompt, float strength, steer_hook *h);

/* The gate: cosine of the prompt's last-token state after the gate layer with
 * the direction there, and the strength it implies (1 when gating is off). */
int steer_gate(model_session *s, const model *m, const steer_cfg *c, const steer_plan *p,
               const int *ids, int n, double *cosine, float *strength, cape_err *e);

/* Plans, gates and installs the steering hook for a prompt of n tokens on
 * the session (h and p must outlive the generation; free p afterwards). */
int steer_attach(model_session *s, const model *m, const steer_cfg *c, const int *ids, int n,
                 steer_plan *p, steer_hook *h, double *gate_cosine, cape_err *e);

typedef void (*steer_token_fn)(void *user, const char *piece, int len);

/* Generates up to n_predict tokens after the prompt (steered when c is not
 * NULL), streaming pieces to fn. *text receives the whole continuation. */
int steer_generate(model_session *s, const model *m, const char *prompt, const steer_cfg *c,
                   const sample_opts *so, int n_predict, int ignore_eos, steer_token_fn fn,
                   void *user, char **text, double *gate_cosine, cape_err *e);

#endif
