/* attack: the pieces the attacks share: the relearn / eval halves, steps
 * to recovery, extraction strength, the forget metrics through tofu_eval's
 * metric table, step lists and the atomic JSON writer. */
#include "unlearn/attack.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/json.h"
#include "base/rng.h"

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

void attack_split_halves(const int *author, int n, uint64_t seed, unsigned char *relearn)
{
    int *idx = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    unsigned char *seen = calloc((size_t)(n > 0 ? n : 1), 1);
    if (!idx || !seen) {
        /* out of memory: everything evaluated, nothing relearned */
        memset(relearn, 0, (size_t)(n > 0 ? n : 0));
        free(idx);
        free(seen);
        return;
    }
    for (int i = 0; i < n; i++) {
        if (seen[i])
            continue;
        int k = 0;
        for (int j = i; j < n; j++)
            if (author[j] == author[i]) {
                idx[k++] = j;
                seen[j] = 1;
            }
        rng_mt r;
        rng_seed(&r, (uint32_t)mix64(seed ^ mix64((uint64_t)(uint32_t)author[i])));
        rng_shuffle_int(&r, idx, k);
        for (int j = 0; j < k; j++)
            relearn[idx[j]] = j < k / 2;
    }
    free(idx);
    free(seen);
}

long attack_steps_to_recover(const int *steps, const double *v, int n, double full, int dir,
                             double frac)
{
    if (n < 1 || !isfinite(v[0]) || !isfinite(full))
        return -1;
    double gap = dir * (full - v[0]);
    if (gap <= 0)
        return steps[0];
    for (int j = 0; j < n; j++) {
        if (!isfinite(v[j]))
            return -1;
        if (dir * (v[j] - v[0]) >= frac * gap)
            return steps[j];
    }
    return -1;
}

double attack_extraction_strength(const int *k, const unsigned char *exact, int n, int T)
{
    if (T <= 0)
        return NAN;
    for (int j = 0; j < n; j++)
        if (exact[j])
            return 1.0 - (double)k[j] / T;
    return 0.0;
}

const char *const ATTACK_METRIC_NAMES[ATTACK_N_METRICS] = {"forget_Q_A_Prob", "forget_Q_A_ROUGE",
                                                           "forget_truth_ratio"};
const int ATTACK_METRIC_DIR[ATTACK_N_METRICS] = {1, 1, -1};

double attack_metric_at(const attack_metrics *m, int i)
{
    return i == 0 ? m->prob : i == 1 ? m->rouge : m->truth_ratio;
}

int attack_metrics_of(const tofu_split_scores *sc, attack_metrics *out, cape_err *e)
{
    tofu_metric_ctx c = {.min_k = 0.4};
    c.split[TOFU_FORGET] = sc;
    double v[ATTACK_N_METRICS];
    for (int k = 0; k < ATTACK_N_METRICS; k++) {
        const tofu_metric *m = NULL;
        for (int i = 0; i < tofu_n_metrics && !m; i++)
            if (!strcmp(tofu_metrics[i].name, ATTACK_METRIC_NAMES[k]))
                m = &tofu_metrics[i];
        if (!m)
            return err_set(e, CAPE_EFAIL, "no metric %s", ATTACK_METRIC_NAMES[k]);
        json_t *entry = NULL, *done = json_object();
        int rc = m->fn(&c, m->arg, done, &entry, e);
        json_decref(done);
        if (rc) {
            json_decref(entry);
            return rc;
        }
        const json_t *a = json_object_get(entry, "agg_value");
        v[k] = json_is_number(a) ? json_number_value(a) : NAN;
        json_decref(entry);
    }
    out->prob = v[0];
    out->rouge = v[1];
    out->truth_ratio = v[2];
    return 0;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

int attack_parse_steps(const char *s, const char *what, int **out, int *n, cape_err *e)
{
    *out = NULL;
    *n = 0;
    if (!s || !*s)
        return err_set(e, CAPE_EINPUT, "%s: an empty list", what);
    int cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ',';
    int *v = malloc(sizeof(int) * (size_t)cap), k = 0;
    if (!v)
        return err_set(e, CAPE_EFAIL, "out of memory");
    const char *p = s;
    while (1) {
        char *end;
        long x = strtol(p, &end, 10);
        if (end == p || x < 0 || x > 1000000 || (*end && *end != ',') || *p == '-' || *p == '+' ||
            *p == ' ') {
            free(v);
            return err_set(e, CAPE_EINPUT, "%s: '%s' is not a comma list of step counts "
                           "(0..1000000)", what, s);
        }
        v[k++] = (int)x;
        if (!*end)
            break;
        p = end + 1;
    }
    qsort(v, (size_t)k, sizeof *v, cmp_int);
    for (int i = 1; i < k; i++)
        if (v[i] == v[i - 1]) {
            int twice = v[i];
            free(v);
            return err_set(e, CAPE_EINPUT, "%s: %d is given twice", what, twice);
        }
    *out = v;
    *n = k;
    return 0;
}

int attack_write_json(const char *path, const json_t *doc, cape_err *e)
{
    size_t len;
    char *s = json_emit_string(doc, &len);
    if (!s)
        return err_set(e, CAPE_EFAIL, "out of memory writing %s", path);
    int rc = file_write_atomic(path, s, len, e);
    free(s);
    return rc;
}
