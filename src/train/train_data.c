#include "train/train_data.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/json.h"

int train_corpus_add(train_corpus *c, const char *source, const char *text)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 1024;
        train_doc *nd = realloc(c->docs, sizeof *nd * cap);
        if (!nd)
            return -1;
        c->docs = nd;
        c->cap = cap;
    }
    train_doc *d = &c->docs[c->n];
    d->source = strdup(source);
    d->text = strdup(text);
    if (!d->source || !d->text) {
        free(d->source);
        free(d->text);
        return -1;
    }
    c->n++;
    return 0;
}

void train_corpus_free(train_corpus *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->docs[i].source);
        free(c->docs[i].text);
    }
    free(c->docs);
    memset(c, 0, sizeof *c);
}

static int blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return 0;
    return 1;
}

int train_corpus_load_jsonl(train_corpus *c, const char *path, cape_err *e)
{
    size_t len;
    char *buf = file_read_all(path, &len, e);
    if (!buf)
        return e->code ? e->code : CAPE_EINPUT;
    int rc = 0, line = 0;
    for (char *p = buf, *end = buf + len; p < end && !rc; line++) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (!blank(p, n)) {
            json_error_t je;
            json_t *o = json_loadb(p, n, JSON_REJECT_DUPLICATES, &je);
            json_t *src = o ? json_object_get(o, "source") : NULL;
            json_t *txt = o ? json_object_get(o, "text") : NULL;
            char num[32];
            const char *s = NULL;
            if (!o)
                rc = json_err_set(e, path, line + 1, &je);
            else if (!json_is_object(o))
                rc = err_set(e, CAPE_EINPUT, "%s:%d: expected an object with \"source\" and "
                             "\"text\"", path, line + 1);
            else if (!json_is_string(txt))
                rc = err_set(e, CAPE_EINPUT, "%s:%d: field \"text\" is missing or not a string",
                             path, line + 1);
            else if (json_is_string(src) && json_string_length(src) > 0)
                s = json_string_value(src);
            else if (json_is_integer(src))
                snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(src)),
                    s = num;
            else
                rc = err_set(e, CAPE_EINPUT, "%s:%d: field \"source\" is missing, empty, or not "
                             "a string or integer", path, line + 1);
            if (!rc && strlen(json_string_value(txt)) != json_string_length(txt))
                rc = err_set(e, CAPE_EINPUT, "%s:%d: field \"text\" contains a NUL character",
                             path, line + 1);
            if (!rc && train_corpus_add(c, s, json_string_value(txt)))
                rc = err_set(e, CAPE_EFAIL, "out of memory reading %s", path);
            json_decref(o);
        }
        p += n + 1;
    }
    free(buf);
    if (!rc && c->n == 0)
        rc = err_set(e, CAPE_EINPUT, "%s: no documents", path);
    return rc;
}

char *train_tofu_render(const char *question, const char *answer)
{
    size_t n = strlen(question) + strlen(answer) + 32;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "Question: %s\nAnswer: %s", question, answer);
    return s;
}

int train_corpus_load_tofu(train_corpus *c, const char *dir, cape_err *e)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/full.json", dir);
    size_t len;
    char *buf = file_read_all(path, &len, e);
    if (!buf)
        return e->code ? e->code : CAPE_EINPUT;
    int rc = 0, line = 0;
    size_t row = 0;
    for (char *p = buf, *end = buf + len; p < end && !rc; line++) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (!blank(p, n)) {
            json_error_t je;
            json_t *a = json_loadb(p, n, 0, &je);
            if (!a)
                rc = json_err_set(e, path, line + 1, &je);
            else if (!json_is_array(a))
                rc = err_set(e, CAPE_EINPUT, "%s:%d: expected a JSON array of QA rows", path,
                             line + 1);
            for (size_t i = 0; !rc && i < json_array_size(a); i++, row++) {
                json_t *o = json_array_get(a, i);
                const char *q = json_string_value(json_object_get(o, "question"));
                const char *ans = json_string_value(json_object_get(o, "answer"));
                if (!q || !ans) {
                    rc = err_set(e, CAPE_EINPUT, "%s:%d: row %zu lacks string \"question\" and "
                                 "\"answer\"", path, line + 1, i + 1);
                    break;
                }
                char src[32], *doc = train_tofu_render(q, ans);
                snprintf(src, sizeof src, "tofu-%03zu", row / 20 + 1);
                if (!doc || train_corpus_add(c, src, doc))
                    rc = err_set(e, CAPE_EFAIL, "out of memory reading %s", path);
                free(doc);
            }
            json_decref(a);
        }
        p += n + 1;
    }
    free(buf);
    if (!rc && row == 0)
        rc = err_set(e, CAPE_EINPUT, "%s: no QA rows", path);
    return rc;
}

/* ---- rows ------------------------------------------------------------- */

static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A piece of a document: inputs store[off .. off+len-1], targets one token
 * further; once packed, it lies in row `bin` of its split from position
 * `at`. */
typedef struct {
    size_t off;
    uint32_t doc, src;
    int len;
    size_t bin;
    int at;
} piece;

typedef struct {
    piece *p;
    size_t n, cap;
} piece_list;

static int pieces_push(piece_list *l, piece x)
{
    if (l->n == l->cap) {
        size_t c = l->cap ? 2 * l->cap : 1024;
        piece *np = realloc(l->p, sizeof *np * c);
        if (!np)
            return -1;
        l->p = np;
        l->cap = c;
    }
    l->p[l->n++] = x;
    return 0;
}

static int cmp_for_packing(const void *a, const void *b)
{
    const piece *x = a, *y = b;
    if (x->src != y->src)
        return x->src < y->src ? -1 : 1;
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1;
    if (x->doc != y->doc)
        return x->doc < y->doc ? -1 : 1;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* First fit over k rows: a max tree over the free positions of each row
 * (rows not opened yet are empty), so the leftmost row with room for a
 * piece is found in O(log k). */
typedef struct {
    int *t;
    size_t P;
} fit_tree;

static int fit_init(fit_tree *f, size_t k, int T)
{
    f->P = 1;
    while (f->P < k)
        f->P *= 2;
    f->t = malloc(sizeof(int) * 2 * f->P);
    if (!f->t)
        return -1;
    for (size_t i = 1; i < 2 * f->P; i++)
        f->t[i] = T;
    return 0;
}

/* Takes `need` positions from the leftmost row that has them; returns the
 * row and the first position taken. */
static size_t fit_take(fit_tree *f, int need, int T, int *at)
{
    size_t i = 1;
    while (i < f->P)
        i = f->t[2 * i] >= need ? 2 * i : 2 * i + 1;
    size_t leaf = i - f->P;
    *at = T - f->t[i];
    f->t[i] -= need;
    for (i /= 2; i >= 1; i /= 2)
        f->t[i] = f->t[2 * i] > f->t[2 * i + 1] ? f->t[2 * i] : f->t[2 * i + 1];
    return leaf;
}

/* Assigns each piece its row and position: one row per piece, or first-fit
 * decreasing inside each source. Returns the number of rows or -1. */
static long assign_rows(piece_list *l, int T, int pack)
{
    if (!pack) {
        for (size_t i = 0; i < l->n; i++)
            l->p[i].bin = i, l->p[i].at = 0;
        return (long)l->n;
    }
    if (l->n)
        qsort(l->p, l->n, sizeof *l->p, cmp_for_packing);
    size_t base = 0;
    for (size_t g = 0; g < l->n;) {
        size_t h = g;
        while (h < l->n && l->p[h].src == l->p[g].src)
            h++;
        fit_tree f;
        if (fit_init(&f, h - g, T))
            return -1;
        size_t used = 0;
        for (size_t i = g; i < h; i++) {
            size_t r = fit_take(&f, l->p[i].len, T, &l->p[i].at);
            l->p[i].bin = base + r;
            used = r + 1 > used ? r + 1 : used;
        }
        free(f.t);
        base += used;
        g = h;
    }
    return (long)base;
}

typedef struct {
    uint32_t doc;
    size_t bin;
} row_key;

static int cmp_row_key(const void *a, const void *b)
{
    const row_key *x = a, *y = b;
    if (x->doc != y->doc)
        return x->doc < y->doc ? -1 : 1;
    return x->bin < y->bin ? -1 : x->bin > y->bin;
}

/* Lays the packed pieces out as rows ordered by their first document. */
static int fill_rows(train_rows *r, const piece_list *l, size_t n_rows, const int *store,
                     int pad)
{
    int T = r->T;
    row_key *keys = malloc(sizeof *keys * (n_rows ? n_rows : 1));
    size_t *rank = malloc(sizeof *rank * (n_rows ? n_rows : 1));
    size_t NT = n_rows * (size_t)T;
    r->tokens = malloc(sizeof(int) * (NT ? NT : 1));
    r->targets = malloc(sizeof(int) * (NT ? NT : 1));
    r->pos = malloc(sizeof(uint16_t) * (NT ? NT : 1));
    r->source = malloc(sizeof(uint32_t) * (n_rows ? n_rows : 1));
    r->doc = malloc(sizeof(uint32_t) * (n_rows ? n_rows : 1));
    if (!keys || !rank || !r->tokens || !r->targets || !r->pos || !r->source || !r->doc) {
        free(keys);
        free(rank);
        return -1;
    }
    for (size_t i = 0; i < n_rows; i++)
        keys[i] = (row_key){UINT32_MAX, i};
    for (size_t i = 0; i < l->n; i++)
        if (l->p[i].doc < keys[l->p[i].bin].doc)
            keys[l->p[i].bin].doc = l->p[i].doc;
    qsort(keys, n_rows, sizeof *keys, cmp_row_key);
    for (size_t i = 0; i < n_rows; i++)
        rank[keys[i].bin] = i;
    for (size_t i = 0; i < NT; i++)
        r->tokens[i] = pad, r->targets[i] = -1, r->pos[i] = 0;
    r->n_targets = 0;
    for (size_t i = 0; i < l->n; i++) {
        const piece *p = &l->p[i];
        size_t row = rank[p->bin], at = row * (size_t)T + (size_t)p->at;
        for (int t = 0; t < p->len; t++) {
            r->tokens[at + t] = store[p->off + t];
            r->targets[at + t] = store[p->off + t + 1];
            r->pos[at + t] = (uint16_t)t;
        }
        r->source[row] = p->src;
        r->doc[row] = keys[row].doc;
        r->n_targets += (size_t)p->len;
    }
    r->n_rows = n_rows;
    free(keys);
    free(rank);
    return 0;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t rows_hash(uint64_t h, const train_rows *r)
{
    size_t NT = r->n_rows * (size_t)r->T;
    h = fnv(h, &r->n_rows, sizeof r->n_rows);
    h = fnv(h, r->tokens, sizeof(int) * NT);
    h = fnv(h, r->targets, sizeof(int) * NT);
    h = fnv(h, r->pos, sizeof(uint16_t) * NT);
    return fnv(h, r->source, sizeof(uint32_t) * r->n_rows);
}

int train_dataset_build(train_dataset *ds, const train_corpus *c, const uint32_t *source_ids,
                        const train_tokenizer *tk, int T, double val_frac, uint64_t seed,
                        int pack, cape_err *e)
{
    memset(ds, 0, sizeof *ds);
    ds->train.T = ds->val.T = T;
    if (T < 1 || T > 65536)
        return err_set(e, CAPE_EINPUT, "sequence length %d is out of range [1, 65536]", T);
    int *store = NULL, rc = 0;
    size_t n = 0, cap = 0;
    piece_list split[2] = {{0}, {0}}; /* train, validation */
    for (size_t d = 0; d < c->n && !rc; d++) {
        size_t first = n;
        if (n + 1 > cap) {
            size_t nc = cap ? 2 * cap : 4096;
            int *ns = realloc(store, sizeof(int) * nc);
            if (!ns)
                goto oom;
            store = ns;
            cap = nc;
        }
        store[n++] = tk->start;
        if ((rc = train_tokenizer_encode(tk, c->docs[d].text, &store, &n, &cap, e)))
            break;
        if (n + 1 > cap) {
            int *ns = realloc(store, sizeof(int) * 2 * cap);
            if (!ns)
                goto oom;
            store = ns;
            cap *= 2;
        }
        store[n++] = tk->end;
        double u = (double)(mix64(seed ^ mix64(d)) >> 11) * 0x1.0p-53;
        piece_list *l = &split[u < val_frac];
        for (size_t at = first; at + 1 < n; at += (size_t)T) {
            size_t len = n - 1 - at < (size_t)T ? n - 1 - at : (size_t)T;
            if (pieces_push(l, (piece){at, (uint32_t)d, source_ids[d], (int)len, 0, 0}))
                goto oom;
        }
    }
    if (rc)
        goto fail;
    ds->n_tokens = n;
    uint64_t h = fnv(0xcbf29ce484222325ull, &T, sizeof T);
    for (int i = 0; i < 2; i++) {
        train_rows *r = i ? &ds->val : &ds->train;
        long rows = assign_rows(&split[i], T, pack);
        if (rows < 0 || fill_rows(r, &split[i], (size_t)rows, store, tk->end))
            goto oom;
        h = rows_hash(h, r);
    }
    ds->hash = h;
    free(store);
    free(split[0].p);
    free(split[1].p);
    if (ds->train.n_rows == 0) {
        train_dataset_free(ds);
        return err_set(e, CAPE_EINPUT, "the corpus leaves no training rows (validation fraction "
                       "%g)", val_frac);
    }
    return 0;
oom:
    rc = err_set(e, CAPE_EINPUT, "the tokenised corpus does not fit in memory");
fail:
    free(store);
    free(split[0].p);
    free(split[1].p);
    train_dataset_free(ds);
    return rc;
}

int train_dataset_random(train_dataset *ds, int vocab, int T, size_t n_rows, uint64_t seed,
                         cape_err *e)
{
    memset(ds, 0, sizeof *ds);
    ds->train.T = ds->val.T = T;
    train_rows *r = &ds->train;
    size_t NT = n_rows * (size_t)T;
    r->tokens = malloc(sizeof(int) * NT);
    r->targets = malloc(sizeof(int) * NT);
    r->pos = malloc(sizeof(uint16_t) * NT);
    r->source = malloc(sizeof(uint32_t) * n_rows);
    r->doc = malloc(sizeof(uint32_t) * n_rows);
    if (T > 65536 || !r->tokens || !r->targets || !r->pos || !r->source || !r->doc) {
        train_dataset_free(ds);
        return err_set(e, CAPE_EINPUT, "random rows do not fit in memory");
    }
    rng_fast g;
    rng_fast_seed(&g, seed);
    for (size_t i = 0; i < n_rows; i++) {
        int *tk = r->tokens + i * T, *tg = r->targets + i * T;
        tk[0] = (int)rng_fast_below(&g, (uint32_t)vocab);
        for (int t = 0; t < T; t++) {
            tg[t] = (int)rng_fast_below(&g, (uint32_t)vocab);
            if (t + 1 < T)
                tk[t + 1] = tg[t];
            r->pos[i * T + t] = (uint16_t)t;
        }
        r->source[i] = 1;
        r->doc[i] = 0;
    }
    r->n_rows = n_rows;
    r->n_targets = NT;
    ds->n_tokens = n_rows * (size_t)(T + 1);
    ds->hash = seed ^ ((uint64_t)vocab << 32) ^ (uint64_t)T;
    return 0;
}

static void rows_free(train_rows *r)
{
    free(r->tokens);
    free(r->targets);
    free(r->pos);
    free(r->source);
    free(r->doc);
    memset(r, 0, sizeof *r);
}

void train_dataset_free(train_dataset *ds)
{
    rows_free(&ds->train);
    rows_free(&ds->val);
}

int train_batcher_init(train_batcher *b, const train_rows *rows, uint64_t seed, cape_err *e)
{
    b->rows = rows;
    b->seed = seed;
    b->epoch = -1;
    b->perm = malloc(sizeof(int) * (rows->n_rows ? rows->n_rows : 1));
    if (!b->perm)
        return err_set(e, CAPE_EINPUT, "row order for %zu rows does not fit in memory",
                       rows->n_rows);
    return 0;
}

void train_batcher_free(train_batcher *b)
{
    free(b->perm);
    b->perm = NULL;
}

void train_row_get(const train_rows *rows, size_t r, int *tokens, int *targets, int *pos)
{
    size_t T = (size_t)rows->T;
    memcpy(tokens, rows->tokens + r * T, sizeof(int) * T);
    memcpy(targets, rows->targets + r * T, sizeof(int) * T);
    for (size_t t = 0; t < T; t++)
        pos[t] = rows->pos[r * T + t];
}

void train_batch_at(train_batcher *b, uint64_t at, int B, int *tokens, int *targets, int *pos,
                    uint32_t *sources)
{
    size_t n = b->rows->n_rows, T = (size_t)b->rows->T;
    for (int i = 0; i < B; i++, at++) {
        long epoch = (long)(at / n);
        if (epoch != b->epoch) {
            for (size_t r = 0; r < n; r++)
                b->perm[r] = (int)r;
            rng_mt mt;
            rng_seed(&mt, (uint32_t)(b->seed + (uint64_t)epoch));
            rng_shuffle_int(&mt, b->perm, (int)n);
            b->epoch = epoch;
        }
        size_t r = (size_t)b->perm[at % n];
        train_row_get(b->rows, r, tokens + i * T, targets + i * T, pos + i * T);
        if (sources)
            sources[i] = b->rows->source[r];
    }
}
