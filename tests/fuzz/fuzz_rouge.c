/* libFuzzer harness: ROUGE-1 and ROUGE-L (src/unlearn/rouge.c) on two texts
 * split from the input at its first NUL byte (else at its middle) must never
 * crash or read out of bounds, and must keep the identities of the scores:
 * every value in [0, 1]; the LCS is at most the unigram overlap; swapping
 * the texts swaps precision and recall; a text scored against itself is 1
 * or, when it has no token, 0. The bytes also feed the two-sample KS test
 * and the ROC AUC as small integer samples: D and p in [0, 1]. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stats/stats.h"
#include "unlearn/rouge.h"

static void check(rouge_score s)
{
    if (!(s.precision >= 0 && s.precision <= 1 && s.recall >= 0 && s.recall <= 1 &&
          s.fmeasure >= 0 && s.fmeasure <= 1))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t na = nul ? (size_t)(nul - data) : size / 2;
    size_t nb = size - na - (nul ? 1 : 0);
    char *a = malloc(na + 1), *b = malloc(nb + 1);
    if (!a || !b)
        abort();
    memcpy(a, data, na);
    a[na] = 0;
    memcpy(b, data + size - nb, nb);
    b[nb] = 0;

    rouge_score l = rouge_l(a, b), u = rouge_1(a, b), lr = rouge_l(b, a), ur = rouge_1(b, a);
    check(l), check(u), check(lr), check(ur);
    if (l.recall > u.recall || l.precision > u.precision)
        abort(); /* a common subsequence is a multiset overlap */
    if (l.recall != lr.precision || l.precision != lr.recall || u.recall != ur.precision)
        abort();
    rouge_score self = rouge_l(a, a);
    if (!(self.recall == 1.0 || (self.recall == 0 && u.recall == 0 && l.recall == 0)))
        abort();

    /* the stemmer on every maximal run of lower-case letters */
    char *out = malloc(na + 1);
    if (!out)
        abort();
    for (size_t i = 0; i < na;) {
        size_t j = i;
        while (j < na && a[j] >= 'a' && a[j] <= 'z')
            j++;
        if (j > i && rouge_porter_stem(a + i, j - i, out) > j - i)
            abort(); /* a stem never grows */
        i = j > i ? j : i + 1;
    }
    free(out);

    /* the bytes as two samples of small integers */
    if (size >= 2) {
        int n1 = 1 + data[0] % 40, n2 = 1 + data[1] % 40;
        double x[40], y[40];
        for (int i = 0; i < n1; i++)
            x[i] = (double)(data[(2 + i) % size] % 16);
        for (int i = 0; i < n2; i++)
            y[i] = (double)(data[(2 + n1 + i) % size] % 16);
        stats_ks k = stats_ks_2samp(x, n1, y, n2);
        if (!(k.d >= 0 && k.d <= 1 && k.p >= 0 && k.p <= 1))
            abort();
        double auc = stats_roc_auc(x, n1, y, n2);
        if (!(auc >= 0 && auc <= 1) || fabs(auc + stats_roc_auc(y, n2, x, n1) - 1) > 1e-12)
            abort();
    }
    free(a);
    free(b);
    return 0;
}
