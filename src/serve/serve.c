#include "serve/serve.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/file.h"
#include "base/json.h"
#include "base/text.h"
#include "base/version.h"
#include "phase/advice.h"
#include "phase/analysis.h"
#include "phase/phase_json.h"
#include "report/report.h"

/* The bundled tables, read at start (the commands' defaults among them). */
static const char *const BUNDLED[] = {
    "benchmarks/base_models.csv",
    "benchmarks/frontier.csv",
    "benchmarks/pythia_loss.csv",
    "benchmarks/paper/paper_base_63.csv",
    "benchmarks/paper/set_b_14.csv",
    "benchmarks/paper/pythia_set_a.csv",
    "benchmarks/paper/llama2_5bench.csv",
    "benchmarks/paper/paper_frontier_34_swe_gpqa.csv",
    "benchmarks/paper/pythia_gradnorm.csv",
};
enum { NBUNDLED = sizeof BUNDLED / sizeof *BUNDLED };

#define T_BASE "data/benchmarks/base_models.csv"
#define T_SETB "data/benchmarks/paper/set_b_14.csv"
#define T_SETA "data/benchmarks/paper/pythia_set_a.csv"
#define T_FRONT "data/benchmarks/paper/paper_frontier_34_swe_gpqa.csv"

typedef struct {
    char *name;    /* as the commands name it: data/benchmarks/... or the path given */
    int served;    /* given on the command line */
    char *text;    /* the CSV as read */
    size_t len;
    int ok;        /* parsed with the default options */
    scores_table t;
    char why[1024]; /* the parse error otherwise */
} table_entry;

struct serve_ctx {
    table_entry *tab;
    int ntab;
    size_t max_upload;
    int allow_extra;
    const serve_asset *assets;
    int nassets;
};

void serve_options_default(serve_options *o)
{
    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1";
    o->port = 8080;
    o->max_upload = 4u << 20;
    o->threads = 4;
    o->timeout_s = 15;
}

static int add_table(serve_ctx *c, const char *path, const char *name, int served, cape_err *e)
{
    cape_err fe = {0};
    size_t len;
    char *text = file_read_all(path, &len, &fe);
    if (!text) {
        if (served)
            return err_set(e, fe.code ? fe.code : CAPE_EINPUT, "%s", fe.msg);
        return 0; /* a bundled table this install lacks */
    }
    table_entry *te = &c->tab[c->ntab];
    memset(te, 0, sizeof *te);
    te->name = strdup(name);
    te->text = text;
    te->len = len;
    te->served = served;
    if (!te->name) {
        free(text);
        return err_set(e, CAPE_EFAIL, "out of memory");
    }
    c->ntab++;
    scores_options so = {.allow_unknown_columns = served && c->allow_extra};
    cape_err pe = {0};
    te->ok = scores_parse(text, len, name, &so, &te->t, &pe) == 0;
    if (!te->ok) {
        snprintf(te->why, sizeof te->why, "%s", pe.msg);
        if (served)
            return err_set(e, CAPE_EINPUT, "%s", pe.msg);
    }
    return 0;
}

int serve_ctx_new(const serve_options *o, serve_ctx **out, cape_err *e)
{
    *out = NULL;
    serve_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return err_set(e, CAPE_EFAIL, "out of memory");
    c->max_upload = o->max_upload;
    c->allow_extra = o->allow_extra_columns;
    c->assets = o->assets;
    c->nassets = o->assets ? o->nassets : 0;
    c->tab = calloc((size_t)NBUNDLED + (size_t)(o->ntables > 0 ? o->ntables : 0), sizeof *c->tab);
    if (!c->tab) {
        free(c);
        return err_set(e, CAPE_EFAIL, "out of memory");
    }
    int rc = 0;
    for (int i = 0; i < NBUNDLED && rc == 0; i++) {
        char path[4096], name[512];
        snprintf(path, sizeof path, "%s/%s", o->data_dir ? o->data_dir : "data", BUNDLED[i]);
        snprintf(name, sizeof name, "data/%s", BUNDLED[i]);
        rc = add_table(c, path, name, 0, e);
    }
    for (int i = 0; i < o->ntables && rc == 0; i++) {
        for (int k = 0; k < c->ntab && rc == 0; k++)
            if (strcmp(c->tab[k].name, o->tables[i]) == 0)
                rc = err_set(e, CAPE_EINPUT, "%s is given twice", o->tables[i]);
        if (rc == 0)
            rc = add_table(c, o->tables[i], o->tables[i], 1, e);
    }
    if (rc) {
        serve_ctx_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void serve_ctx_free(serve_ctx *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->ntab; i++) {
        if (c->tab[i].ok)
            scores_free(&c->tab[i].t);
        free(c->tab[i].name);
        free(c->tab[i].text);
    }
    free(c->tab);
    free(c);
}

int serve_ctx_ntables(const serve_ctx *c) { return c->ntab; }
const char *serve_ctx_table_name(const serve_ctx *c, int i) { return c->tab[i].name; }

static const table_entry *find_table(const serve_ctx *c, const char *name)
{
    for (int i = 0; i < c->ntab; i++)
        if (strcmp(c->tab[i].name, name) == 0)
            return &c->tab[i];
    return NULL;
}

/* ---- requests --------------------------------------------------------------- */

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

static int url_decode(char *s, cape_err *e)
{
    char *w = s;
    for (const char *p = s; *p; p++) {
        if (*p == '+') {
            *w++ = ' ';
        } else if (*p == '%') {
            int hi = p[1] ? hexval((unsigned char)p[1]) : -1;
            int lo = hi >= 0 && p[2] ? hexval((unsigned char)p[2]) : -1;
            if (hi < 0 || lo < 0)
                return err_set(e, CAPE_EINPUT, "malformed %%-escape in the query");
            if (hi == 0 && lo == 0)
                return err_set(e, CAPE_EINPUT, "%%00 in the query");
            *w++ = (char)(hi * 16 + lo);
            p += 2;
        } else {
            *w++ = *p;
        }
    }
    *w = 0;
    return 0;
}

int serve_parse_query(char *qs, serve_request *r, cape_err *e)
{
    for (char *save = NULL, *kv = strtok_r(qs, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(kv, '=');
        char *v = eq ? eq + 1 : kv + strlen(kv);
        if (eq)
            *eq = 0;
        if (url_decode(kv, e) || url_decode(v, e))
            return CAPE_EINPUT;
        if (r->nargs >= SERVE_MAX_ARGS) {
            r->args_dropped = 1;
            continue;
        }
        r->key[r->nargs] = kv;
        r->val[r->nargs++] = v;
    }
    return 0;
}

static const char *arg(const serve_request *q, const char *key)
{
    for (int i = 0; i < q->nargs; i++)
        if (strcmp(q->key[i], key) == 0)
            return q->val[i];
    return NULL;
}

/* ---- answers ---------------------------------------------------------------- */

static void answer_json(serve_response *r, int status, json_t *doc)
{
    size_t len = 0;
    char *s = doc ? json_emit_string(doc, &len) : NULL;
    json_decref(doc);
    r->status = s ? status : 500;
    r->type = "application/json";
    r->cache = "no-store";
    r->body = s ? s : strdup("{\"error\": \"cape: out of memory\"}\n");
    r->len = s ? len : (r->body ? strlen(r->body) : 0);
}

static void answer_error(serve_response *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void answer_error(serve_response *r, int status, const char *fmt, ...)
{
    char msg[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char line[1300];
    snprintf(line, sizeof line, "cape: %s", msg);
    answer_json(r, status, json_pack("{s:o}", "error", json_text(line)));
}

/* A library error: input errors are the client's (400), others the server's. */
static void answer_err(serve_response *r, const cape_err *e)
{
    answer_error(r, e->code == CAPE_EINPUT ? 400 : 500, "%s", e->msg[0] ? e->msg : "unknown error");
}

/* ---- parameters ------------------------------------------------------------- */

static int p_int(const serve_request *q, const char *key, long lo, long hi, long *out,
                 cape_err *e)
{
    const char *s = arg(q, key);
    if (!s)
        return 0;
    if (text_parse_int(s, out) || *out < lo || *out > hi)
        return err_set(e, CAPE_EINPUT, "%s expects an integer in [%ld, %ld], got '%s'", key, lo,
                       hi, s);
    return 0;
}

static int p_double(const serve_request *q, const char *key, double *out, cape_err *e)
{
    const char *s = arg(q, key);
    if (!s)
        return 0;
    if (text_parse_double(s, out) || !isfinite(*out))
        return err_set(e, CAPE_EINPUT, "%s expects a number, got '%s'", key, s);
    return 0;
}

static int p_bench(const serve_request *q, const char *key, bench_id *out, cape_err *e)
{
    const char *s = arg(q, key);
    if (!s)
        return 0;
    int b = scores_bench_lookup(s);
    if (b < 0)
        return err_set(e, CAPE_EINPUT, "%s: unknown benchmark '%s'", key, s);
    *out = (bench_id)b;
    return 0;
}

static int p_size(const serve_request *q, const char *key, double *out, cape_err *e)
{
    const char *s = arg(q, key);
    if (!s || !*s)
        return 0;
    int had;
    if (text_parse_size(s, 1, out, &had) || !(*out > 0))
        return err_set(e, CAPE_EINPUT, "%s expects a size such as 1.4B or 7e9, got '%s'", key, s);
    if (!had && *out < 1e5)
        return err_set(e, CAPE_EINPUT, "%s '%s' has no unit; write 1B or 1e9", key, s);
    return 0;
}

/* Table options of an upload: scale, sep, family_from_name. */
static int p_table_options(const serve_ctx *c, const serve_request *q, scores_options *so,
                           cape_err *e)
{
    memset(so, 0, sizeof *so);
    so->allow_unknown_columns = c->allow_extra;
    const char *s;
    if ((s = arg(q, "scale"))) {
        if (strcmp(s, "percent") == 0)
            so->scale = SCORES_SCALE_PERCENT;
        else if (strcmp(s, "fraction") == 0)
            so->scale = SCORES_SCALE_FRACTION;
        else if (strcmp(s, "auto") != 0)
            return err_set(e, CAPE_EINPUT, "scale expects percent, fraction or auto, got '%s'", s);
    }
    if ((s = arg(q, "sep"))) {
        if (strcmp(s, "comma") == 0 || strcmp(s, ",") == 0)
            so->sep = ',';
        else if (strcmp(s, "tab") == 0)
            so->sep = '\t';
        else if (strcmp(s, "semicolon") == 0 || strcmp(s, ";") == 0)
            so->sep = ';';
        else
            return err_set(e, CAPE_EINPUT, "sep expects comma, tab or semicolon, got '%s'", s);
    }
    if ((s = arg(q, "family_from_name"))) {
        if (strcmp(s, "off") == 0)
            so->no_family_from_name = 1;
        else if (strcmp(s, "on") != 0)
            return err_set(e, CAPE_EINPUT, "family_from_name expects on or off, got '%s'", s);
    }
    if ((s = arg(q, "allow_extra_columns")))
        so->allow_unknown_columns = strcmp(s, "1") == 0 || strcmp(s, "on") == 0;
    return 0;
}

/* The name an upload is known by (?name=, else upload.csv). */
static const char *upload_name(const serve_request *q)
{
    const char *n = arg(q, "name");
    return n && *n ? n : "upload.csv";
}

/* The table of a request: the posted CSV (parsed into *own), else ?table=NAME,
 * else the default; *t points at it. */
static int request_table(const serve_ctx *c, const serve_request *q, const char *def,
                         scores_table *own, int *owned, const scores_table **t, cape_err *e)
{
    *owned = 0;
    if (q->body && q->len > 0) {
        scores_options so;
        int rc = p_table_options(c, q, &so, e);
        if (rc == 0)
            rc = scores_parse(q->body, q->len, upload_name(q), &so, own, e);
        if (rc)
            return rc;
        *owned = 1;
        *t = own;
        return 0;
    }
    const char *name = arg(q, "table");
    if (!name)
        name = def;
    const table_entry *te = find_table(c, name);
    if (!te)
        return err_set(e, CAPE_EINPUT, "no table '%s' is served (GET /api/tables lists them)",
                       name);
    if (!te->ok)
        return err_set(e, CAPE_EINPUT, "%s", te->why);
    *t = &te->t;
    return 0;
}

/* ---- handlers --------------------------------------------------------------- */

static void h_health(const serve_ctx *c, const serve_request *q, serve_response *r)
{
    (void)q;
    answer_json(r, 200, json_pack("{s:s,s:s,s:i,s:I}", "status", "ok", "cape_version",
                                  CAPE_VERSION, "tables", c->ntab, "max_upload",
                                  (json_int_t)c->max_upload));
}

static json_t *table_summary(const table_entry *te)
{
    json_t *j = json_object();
    json_object_set_new(j, "name", json_text(te->name));
    json_object_set_new(j, "source", json_string(te->served ? "served" : "bundled"));
    json_object_set_new(j, "bytes", json_integer((json_int_t)te->len));
    json_object_set_new(j, "readable", json_boolean(te->ok));
    if (!te->ok) {
        json_object_set_new(j, "error", json_text(te->why));
        return j;
    }
    const scores_table *t = &te->t;
    json_object_set_new(j, "models", json_integer(t->n));
    json_t *cols = json_array(), *fams = json_object();
    for (int b = 0; b < BENCH_COUNT; b++)
        if (t->has_column[b])
            json_array_append_new(cols, json_string(scores_bench_info((bench_id)b)->key));
    for (int i = 0; i < t->n; i++) {
        json_t *n = json_object_get(fams, t->model[i].family);
        json_object_set_new(fams, t->model[i].family,
                            json_integer(n ? json_integer_value(n) + 1 : 1));
    }
    json_object_set_new(j, "benchmarks", cols);
    json_object_set_new(j, "has_params", json_boolean(t->has_params));
    json_object_set_new(j, "families", fams);
    return j;
}

static void h_tables(const serve_ctx *c, const serve_request *q, serve_response *r)
{
    if (q->body && q->len > 0) { /* a posted table: how cape reads it */
        table_entry te;
        memset(&te, 0, sizeof te);
        te.name = (char *)upload_name(q);
        te.len = q->len;
        scores_options so;
        cape_err e = {0};
        int rc = p_table_options(c, q, &so, &e);
        if (rc == 0)
            rc = scores_parse(q->body, q->len, te.name, &so, &te.t, &e);
        if (rc) {
            answer_err(r, &e);
            return;
        }
        te.ok = 1;
        json_t *s = table_summary(&te);
        json_object_set_new(s, "source", json_string("posted"));
        scores_free(&te.t);
        answer_json(r, 200, json_pack("{s:s,s:[o]}", "cape_version", CAPE_VERSION, "tables", s));
        return;
    }
    json_t *arr = json_array();
    for (int i = 0; i < c->ntab; i++)
        json_array_append_new(arr, table_summary(&c->tab[i]));
    answer_json(r, 200, json_pack("{s:s,s:o}", "cape_version", CAPE_VERSION, "tables", arr));
}

static void h_table(const serve_ctx *c, const serve_request *q, serve_response *r)
{
    const char *name = arg(q, "name");
    const table_entry *te = name ? find_table(c, name) : NULL;
    if (!te) {
        answer_error(r, 404, "no table '%s' is served (GET /api/tables lists them)",
                     name ? name : "");
        return;
    }
    r->status = 200;
    r->type = "text/csv; charset=utf-8";
    r->cache = "no-store";
    r->body = malloc(te->len ? te->len : 1);
    if (!r->body) {
        answer_error(r, 500, "out of memory");
        return;
    }
    memcpy(r->body, te->text, te->len);
    r->len = te->len;
}

static void h_diagnose(const serve_ctx *c, const serve_request *q, serve_response *r)
{
    phase_options po;
    phase_options_default(&po);
    cape_err e = {0};
    long v;
    int rc = p_bench(q, "reasoning", &po.reasoning, &e);
    if (rc == 0)
        rc = p_bench(q, "truth", &po.truth, &e);
    if (rc == 0 && (rc = p_int(q, "boot", 0, 100000, &v, &e)) == 0 && arg(q, "boot"))
        po.nboot = (int)v;
    if (rc == 0 && (rc = p_int(q, "seed", 0, 4294967295L, &v, &e)) == 0 && arg(q, "seed"))
        po.seed = (uint32_t)v;
    if (rc == 0 && (rc = p_int(q, "min_family", 2, 1000000, &v, &e)) == 0 && arg(q, "min_family"))
        po.min_family = (int)v;
    if (rc == 0)
        rc = p_double(q, "band", &po.band, &e);
    if (rc == 0 && !(po.band >= 0))
        rc = err_set(&e, CAPE_EINPUT, "band must be >= 0");
    if (rc == 0 && po.reasoning == po.truth)
        rc = err_set(&e, CAPE_EINPUT, "reasoning and truth name the same benchmark");
    scores_options so;
    if (rc == 0)
        rc = p_table_options(c, q, &so, &e);
    const char *text = NULL, *name = NULL;
    size_t len = 0;
    if (rc == 0) {
        if (q->body && q->len > 0) {
            text = q->body, len = q->len, name = upload_name(q);
        } else if (arg(q, "table")) {
            const table_entry *te = find_table(c, arg(q, "table"));
            if (!te)
                rc = err_set(&e, CAPE_EINPUT, "no table '%s' is served (GET /api/tables lists "
                                              "them)",
                             arg(q, "table"));
            else
                text = te->text, len = te->len, name = te->name;
            if (te && !te->served)
                memset(&so, 0, sizeof so); /* the bundled tables, as the command reads them */
        } else {
            rc = err_set(&e, CAPE_EINPUT, "POST a CSV table or give table=NAME");
        }
    }
    scores_table t;
    phase_diagnosis d;
    if (rc == 0)
        rc = analysis_diagnose(text, len, name, &so, &po, &t, &d, &e);
    if (rc) {
        answer_err(r, &e);
        return;
    }
    json_t *arr = json_array();
    json_array_append_new(arr, phase_diagnosis_json(&d));
    phase_diagnosis_free(&d);
    scores_free(&t);
    answer_json(r, 200, analysis_diagnose_doc(arr));
}

static void h_ode(const serve_ctx *c, const serve_request *q, serve_response *r)
{
    ode_options o;
    ode_options_default(&o);
    cape_err e = {0};
    int rc = 0;
    const char *fit = arg(q, "fit");
    if (fit) {
        if (strcmp(fit, "linear") == 0)
            o.fit = ODE_FIT_LINEAR;
        else if (strcmp(fit, "sindy") == 0)
            o.fit = ODE_FIT_SINDY;
        else if (strcmp(fit, "ucurve") == 0)
            o.fit = ODE_FIT_UCURVE;
        else
            rc = err_set(&e, CAPE_EINPUT, "fit expects linear, sindy or ucurve, got '%s'", fit);
    }
    if (rc == 0)
        rc = p_bench(q, "target", &o.target, &e);
    analysis_ode_prepare(&o);
    const char *holdout = arg(q, "holdout");
    if (holdout && !*holdout)
        holdout = NULL;
    int given = (q->body && q->len > 0) || arg(q, "table");
    if (!given && o.fit == ODE_FIT_UCURVE && !holdout)
        holdout = "Llama-2"; /* as `cape ode --fit ucurve` with no table */
    scores_table own;
    int owned = 0;
    const scores_table *t = NULL;
    if (rc == 0)
        rc = request_table(c, q, o.fit == ODE_FIT_UCURVE ? T_SETB : T_SETA, &own, &owned, &t, &e);
    analysis_ode an;
    memset(&an, 0, sizeof an);
    if (rc == 0)
        rc = analysis_ode_run(&t, 1, &o, holdout, &an, &e);
    if (rc)
        answer_err(r, &e);
    else
        answer_json(r, 200, analysis_ode_doc(&an, &t, 1));
    analysis_ode_free(&an);
    if (owned)
        scores_free(&own);
}

static void h_frontier(const serve_ctx *c, const serve_request *q, serve_response *r)
{
    frontier_options o;
    frontier_options_default(&o);
    cape_err e = {0};
    int xg = arg(q, "x") != NULL, yg = arg(q, "y") != NULL;
    int rc = p_bench(q, "x", &o.x, &e);
    if (rc == 0)
        rc = p_bench(q, "y", &o.y, &e);
    if (rc == 0 && xg && yg && o.x == o.y)
        rc = err_set(&e, CAPE_EINPUT, "x and y name the same benchmark");
    scores_table own;
    int owned = 0;
    const scores_table *t = NULL;
    if (rc == 0)
        rc = request_table(c, q, T_FRONT, &own, &owned, &t, &e);
    frontier_result fr;
    memset(&fr, 0, sizeof fr);
    if (rc == 0) {
        frontier_default_pair(t, &o, xg, yg);
        rc = frontier_run(t, &o, &fr, &e);
    }
    if (rc)
        answer_err(r, &e);
    else
        answer_json(r, 200, analysis_doc("frontier", t->path, frontier_result_json(&fr)));
    frontier_result_free(&fr);
    if (owned)
        scores_free(&own);
}

static void h_eigen(const serve_ctx *c, const serve_request *q, serve_response *r)
{
    eigen_options o;
    eigen_options_default(&o);
    cape_err e = {0};
    long v;
    int rc = p_int(q, "boot", 0, 100000, &v, &e);
    if (rc == 0 && arg(q, "boot"))
        o.nboot = (int)v;
    if (rc == 0 && (rc = p_int(q, "seed", 0, 4294967295L, &v, &e)) == 0 && arg(q, "seed"))
        o.seed = (uint32_t)v;
    const char *m = arg(q, "matrix");
    if (rc == 0 && m) {
        if (strcmp(m, "covariance") == 0)
            o.matrix = EIGEN_COVARIANCE;
        else if (strcmp(m, "correlation") != 0)
            rc = err_set(&e, CAPE_EINPUT, "matrix expects correlation or covariance, got '%s'", m);
    }
    scores_table own;
    int owned = 0;
    const scores_table *t = NULL;
    if (rc == 0)
        rc = request_table(c, q, T_SETA, &own, &owned, &t, &e);
    eigen_result er;
    memset(&er, 0, sizeof er);
    if (rc == 0)
        rc = analysis_eigen(t, &o, &er, &e);
    if (rc)
        answer_err(r, &e);
    else
        answer_json(r, 200, analysis_doc("eigen", t->path, eigen_result_json(&er)));
    eigen_result_free(&er);
    if (owned)
        scores_free(&own);
}

/* falsify: a posted table, the table=NAME ones (repeatable, as the command's
 * TABLE arguments), or, with neither, the command's default tables. Each is
 * read as the command reads it (every row needs a size). */
enum { FALSIFY_MAX_TABLES = 16 };

static int p_count(const serve_request *q, const char *key, int *out, cape_err *e)
{
    long v;
    int rc = p_int(q, key, 0, 100000, &v, e);
    if (rc == 0 && arg(q, key))
        *out = (int)v;
    return rc;
}

static int falsify_params(const serve_request *q, falsify_options *o, cape_err *e)
{
    long v;
    int rc = p_bench(q, "reasoning", &o->po.reasoning, e);
    if (rc == 0)
        rc = p_bench(q, "truth", &o->po.truth, e);
    if (rc == 0)
        rc = p_count(q, "boot", &o->nboot, e);
    if (rc == 0)
        rc = p_count(q, "stability_boot", &o->stab_boot, e);
    if (rc == 0)
        rc = p_count(q, "sims", &o->nsim, e);
    if (rc == 0)
        rc = p_count(q, "perms", &o->nperm, e);
    if (rc == 0)
        rc = p_count(q, "width_draws", &o->nwidth, e);
    if (rc == 0 && (rc = p_int(q, "null_degree", 0, 3, &v, e)) == 0 && arg(q, "null_degree"))
        o->null_degree = (int)v;
    if (rc == 0 && (rc = p_int(q, "min_family", 2, 1000000, &v, e)) == 0 && arg(q, "min_family"))
        o->po.min_family = (int)v;
    if (rc == 0 && (rc = p_int(q, "seed", 0, 4294967295L, &v, e)) == 0 && arg(q, "seed"))
        o->po.seed = (uint32_t)v;
    if (rc == 0 && o->po.reasoning == o->po.truth)
        rc = err_set(e, CAPE_EINPUT, "reasoning and truth name the same benchmark");
    return rc;
}

static void h_falsify(const serve_ctx *c, const serve_request *q, serve_response *r)
{
    falsify_options fo;
    falsify_options_default(&fo);
    cape_err e = {0};
    int rc = falsify_params(q, &fo, &e);
    scores_options so;
    if (rc == 0)
        rc = p_table_options(c, q, &so, &e);
    struct {
        const char *text, *name;
        size_t len;
        int bundled;
    } in[FALSIFY_MAX_TABLES];
    int nin = 0;
    if (rc == 0 && q->body && q->len > 0) {
        in[nin].text = q->body, in[nin].len = q->len, in[nin].name = upload_name(q);
        in[nin++].bundled = 0;
    }
    for (int i = 0; i < q->nargs && rc == 0; i++) {
        if (strcmp(q->key[i], "table") != 0)
            continue;
        const table_entry *te = find_table(c, q->val[i]);
        if (!te)
            rc = err_set(&e, CAPE_EINPUT, "no table '%s' is served (GET /api/tables lists them)",
                         q->val[i]);
        else if (nin >= FALSIFY_MAX_TABLES)
            rc = err_set(&e, CAPE_EINPUT, "at most %d tables", FALSIFY_MAX_TABLES);
        else {
            in[nin].text = te->text, in[nin].len = te->len, in[nin].name = te->name;
            in[nin++].bundled = !te->served;
        }
    }
    if (rc == 0 && nin == 0) /* the command's default tables */
        for (int i = 0; i < ANALYSIS_FALSIFY_NTABLES && rc == 0; i++) {
            char name[512];
            snprintf(name, sizeof name, "data/%s", analysis_falsify_tables[i]);
            const table_entry *te = find_table(c, name);
            if (!te)
                rc = err_set(&e, CAPE_EFAIL, "the bundled %s is missing", name);
            else {
                in[nin].text = te->text, in[nin].len = te->len, in[nin].name = te->name;
                in[nin++].bundled = 1;
            }
        }
    scores_table tabs[FALSIFY_MAX_TABLES];
    const scores_table *tp[FALSIFY_MAX_TABLES];
    int nt = 0;
    for (int i = 0; i < nin && rc == 0; i++) {
        scores_options to = in[i].bundled ? (scores_options){0} : so; /* bundled: as the command */
        to.require_params = 1;
        rc = scores_parse(in[i].text, in[i].len, in[i].name, &to, &tabs[nt], &e);
        if (rc == 0) {
            tp[nt] = &tabs[nt];
            nt++;
        }
    }
    if (rc == 0) {
        falsify_result res;
        rc = falsify_run(tp, nt, &fo, &res, &e);
        if (rc == 0)
            answer_json(r, 200, analysis_falsify_doc(&res));
        falsify_result_free(&res);
    }
    if (rc)
        answer_err(r, &e);
    for (int i = 0; i < nt; i++)
        scores_free(&tabs[i]);
}

static const scores_table *bundled(const serve_ctx *c, const char *name)
{
    const table_entry *te = find_table(c, name);
    return te && te->ok ? &te->t : NULL;
}

static void h_advise(const serve_ctx *c, const serve_request *q, serve_response *r)
{
    analysis_advise_args a;
    analysis_advise_args_init(&a);
    cape_err e = {0};
    a.name = arg(q, "model");
    a.family = arg(q, "family");
    if (a.family && !*a.family)
        a.family = NULL;
    static const struct {
        const char *key;
        bench_id b;
    } SC[] = {{"hs", BENCH_HELLASWAG},       {"tqa", BENCH_TRUTHFULQA_MC2},
              {"arc", BENCH_ARC},            {"wg", BENCH_WINOGRANDE},
              {"mmlu", BENCH_MMLU},          {"gpqa", BENCH_GPQA_DIAMOND},
              {"swe", BENCH_SWE_BENCH_VERIFIED}};
    enum { NSC = sizeof SC / sizeof *SC };
    int rc = 0;
    double *given[NSC];
    for (int k = 0; k < NSC && rc == 0; k++) {
        const char *s = arg(q, SC[k].key);
        given[k] = &a.score[SC[k].b];
        if (!s || !*s)
            continue;
        if (text_parse_double(s, given[k]) || !(*given[k] >= 0 && *given[k] <= 100))
            rc = err_set(&e, CAPE_EINPUT, "%s expects a score in points (0-100), got '%s'",
                         SC[k].key, s);
    }
    if (rc == 0)
        rc = p_size(q, "size", &a.size, &e);
    if (rc == 0)
        rc = p_size(q, "next", &a.next, &e);
    if (rc == 0 && arg(q, "d_model") && *arg(q, "d_model")) {
        rc = p_double(q, "d_model", &a.d_model, &e);
        if (rc == 0 && !(a.d_model > 0))
            rc = err_set(&e, CAPE_EINPUT, "d_model must be positive");
    }
    for (int i = 0; i < q->nargs && rc == 0; i++)
        if (strcmp(q->key[i], "sibling") == 0) {
            if (a.nsibling >= ADVICE_MAX_SIBLINGS)
                rc = err_set(&e, CAPE_EINPUT, "at most %d sibling values", ADVICE_MAX_SIBLINGS);
            else
                a.sibling[a.nsibling++] = q->val[i];
        }
    scores_options so;
    if (rc == 0)
        rc = p_table_options(c, q, &so, &e);
    if (rc == 0) {
        cape_err se = {0};
        /* as `cape advise`: scores given as fractions are read as such */
        if (scores_scale_values(given, 5, so.scale, &a.scaled, &se))
            rc = err_set(&e, CAPE_EINPUT, "hs/tqa/arc/wg/mmlu: %s", se.msg);
    }
    scores_table own;
    int owned = 0;
    const scores_table *t = NULL;
    if (rc == 0)
        rc = request_table(c, q, T_BASE, &own, &owned, &t, &e);
    advice_input in;
    advice_result ar;
    if (rc == 0)
        rc = analysis_advise_input(t, t->path, &a, &in, &e);
    const scores_table *pooled = bundled(c, T_SETB);
    if (rc == 0 && !pooled)
        rc = err_set(&e, CAPE_EFAIL, "the bundled %s is missing", T_SETB);
    if (rc == 0) {
        advice_refs refs = {pooled, bundled(c, T_BASE), bundled(c, T_FRONT), bundled(c, T_SETA)};
        rc = advice_run(&in, &refs, &ar, &e);
    }
    if (rc) {
        answer_err(r, &e);
    } else {
        answer_json(r, 200, analysis_doc("advise", t->path, advice_result_json(&in, &ar)));
    }
    if (owned)
        scores_free(&own);
}

static void h_figure(const serve_ctx *c, const serve_request *q, serve_response *r)
{
    report_figure_options o = {.id = arg(q, "id"), .nboot = 2000, .seed = 42};
    cape_err e = {0};
    long v;
    int rc = 0;
    if (!o.id)
        rc = err_set(&e, CAPE_EINPUT, "id names the figure (fig-phase-diagram, ...)");
    if (rc == 0 && (rc = p_int(q, "boot", 0, 100000, &v, &e)) == 0 && arg(q, "boot"))
        o.nboot = (int)v;
    if (rc == 0 && (rc = p_int(q, "seed", 0, 4294967295L, &v, &e)) == 0 && arg(q, "seed"))
        o.seed = (uint32_t)v;
    o.family = arg(q, "family");
    if (o.family && !*o.family)
        o.family = NULL;
    o.mark_label = arg(q, "mark");
    if (rc == 0 && o.mark_label) {
        if (!arg(q, "mark_hs") || !arg(q, "mark_tqa"))
            rc = err_set(&e, CAPE_EINPUT, "mark needs mark_hs and mark_tqa");
        else if ((rc = p_double(q, "mark_hs", &o.mark_x, &e)) == 0)
            rc = p_double(q, "mark_tqa", &o.mark_y, &e);
    }
    const char *def = T_BASE;
    if (rc == 0) {
        if (strcmp(o.id, "fig-phase-diagram") == 0)
            def = "data/benchmarks/paper/paper_base_63.csv";
        else if (strcmp(o.id, "fig-gamma-size") == 0 || strcmp(o.id, "fig-nc-bootstrap") == 0 ||
                 strcmp(o.id, "fig-loss-law") == 0)
            def = T_SETB;
        else if (strcmp(o.id, "fig-width") == 0 || strcmp(o.id, "fig-eigen") == 0)
            def = T_SETA;
        else if (strcmp(o.id, "fig-frontier") == 0)
            def = T_FRONT;
    }
    scores_table own;
    int owned = 0;
    const scores_table *t = NULL;
    if (rc == 0)
        rc = request_table(c, q, def, &own, &owned, &t, &e);
    char *svg = NULL;
    size_t len = 0;
    if (rc == 0)
        rc = report_figure(t, &o, &svg, &len, &e);
    if (rc) {
        answer_err(r, &e);
    } else {
        r->status = 200;
        r->type = "image/svg+xml";
        r->cache = "no-store";
        r->body = svg;
        r->len = len;
    }
    if (owned)
        scores_free(&own);
}

typedef struct {
    const char *path;
    int post; /* POST accepted (a CSV body); GET always */
    void (*fn)(const serve_ctx *, const serve_request *, serve_response *);
} route;

static const route ROUTES[] = {
    {"/api/health", 0, h_health},     {"/api/tables", 1, h_tables},
    {"/api/table", 0, h_table},       {"/api/diagnose", 1, h_diagnose},
    {"/api/ode", 1, h_ode},           {"/api/frontier", 1, h_frontier},
    {"/api/eigen", 1, h_eigen},       {"/api/advise", 1, h_advise},
    {"/api/figure", 1, h_figure},     {"/api/falsify", 1, h_falsify},
};

void serve_handle(const serve_ctx *c, const serve_request *q, serve_response *r)
{
    memset(r, 0, sizeof *r);
    const char *path = q->path ? q->path : "";
    int get = q->method && (strcmp(q->method, "GET") == 0 || strcmp(q->method, "HEAD") == 0);
    int post = q->method && strcmp(q->method, "POST") == 0;
    if (q->len > c->max_upload) {
        answer_error(r, 413, "the request body has %zu bytes, more than the limit of %zu",
                     q->len, c->max_upload);
        return;
    }
    if (q->args_dropped) {
        answer_error(r, 400, "more than %d query arguments", SERVE_MAX_ARGS);
        return;
    }
    for (size_t i = 0; i < sizeof ROUTES / sizeof *ROUTES; i++) {
        if (strcmp(path, ROUTES[i].path) != 0)
            continue;
        if (!get && !(post && ROUTES[i].post)) {
            answer_error(r, 405, "%s does not accept %s", path, q->method ? q->method : "");
            return;
        }
        ROUTES[i].fn(c, q, r);
        return;
    }
    if (strcmp(path, "/") == 0)
        path = "/index.html";
    for (int i = 0; i < c->nassets; i++) {
        if (strcmp(path, c->assets[i].path) != 0)
            continue;
        if (!get) {
            answer_error(r, 405, "%s does not accept %s", path, q->method ? q->method : "");
            return;
        }
        r->status = 200;
        r->type = c->assets[i].type;
        r->body = (char *)c->assets[i].data;
        r->len = c->assets[i].len;
        r->fixed = 1;
        r->cache = "no-cache";
        return;
    }
    answer_error(r, 404, "not found");
}

void serve_response_free(serve_response *r)
{
    if (!r->fixed)
        free(r->body);
    r->body = NULL;
}
