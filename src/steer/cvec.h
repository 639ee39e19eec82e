/* cvec: steering directions stored as llama.cpp control-vector GGUF files.
 *
 * Convention: slot L of a cvec is added to the residual stream after block L
 * (0-based), at every position unless the caller restricts it. In a file,
 * tensor `direction.N` is slot N, which is exactly where llama.cpp's applier
 * adds it, so a file behaves the same in both programs. (llama.cpp's
 * generator stores the vector it measured after block k as `direction.{k+1}`;
 * such a file is therefore applied one block after the one it was measured
 * at, in llama.cpp and, by default, in cape.) llama.cpp cannot represent slot
 * 0, so cape refuses to save a nonzero slot 0. */
#ifndef CAPE_CVEC_H
#define CAPE_CVEC_H

#include "base/err.h"

typedef struct {
    int n_embd;
    int n_slots;   /* highest slot + 1 */
    float *v;      /* [n_slots][n_embd], zero where absent */
    unsigned char *present;
    char model_hint[64];
    /* mean L2 norm of the residual stream after each block, as measured when
     * the directions were built (cape's own key `cape.residual_norm`; NULL in
     * files made elsewhere). Lets a scale be given relative to the stream. */
    float *resid_norm; /* [n_slots] */
    int chosen;        /* the block build chose (`cape.chosen_block`), -1 when unknown */
} cvec;

int cvec_init(cvec *cv, int n_slots, int n_embd, cape_err *e);
/* Reads a file. Every tensor must be `direction.N` (N >= 1), F32, 1-D, all of
 * one length, no N twice; expect_n_embd > 0 also checks the length. */
int cvec_load(const char *path, int expect_n_embd, cvec *cv, cape_err *e);
/* Adds scale * src into dst (the slots of both must agree in width). */
int cvec_add(cvec *dst, const cvec *src, float scale, cape_err *e);
/* Sets resid_norm from n values (copied). */
int cvec_set_norms(cvec *cv, const double *norms, int n, cape_err *e);
/* Writes the present slots as a control-vector GGUF, atomically. */
int cvec_save(const cvec *cv, const char *path, const char *model_hint, cape_err *e);
void cvec_free(cvec *cv);

#endif
