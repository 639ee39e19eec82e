/* serve: the dashboard's request handler called directly (status codes,
 * hand-checked gamma12 steps of a posted table, errors with the commands'
 * messages, the upload limit, paths that are not routes or assets) and the
 * HTTP layer over a real loopback connection (413 before the body, a slow
 * client that does not block another, the idle timeout). */
#include <arpa/inet.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#include "base/json.h"
#include "phase/analysis.h"
#include "serve/serve.h"

static serve_ctx *ctx;
static serve_options opt;

static int setup(void **state)
{
    (void)state;
    serve_options_default(&opt);
    opt.data_dir = test_data_dir();
    opt.max_upload = 4096;
    opt.assets = serve_assets;
    opt.nassets = serve_nassets;
    cape_err e = {0};
    int rc = serve_ctx_new(&opt, &ctx, &e);
    if (rc)
        fprintf(stderr, "%s\n", e.msg);
    return rc;
}

static int teardown(void **state)
{
    (void)state;
    serve_ctx_free(ctx);
    return 0;
}

/* one request; query is copied and parsed */
static void call(const char *method, const char *path, const char *query, const char *body,
                 serve_response *r)
{
    serve_request q = {.method = method, .path = path};
    char qs[2048] = "";
    if (query) {
        snprintf(qs, sizeof qs, "%s", query);
        cape_err e = {0};
        assert_int_equal(serve_parse_query(qs, &q, &e), 0);
    }
    q.body = body;
    q.len = body ? strlen(body) : 0;
    serve_handle(ctx, &q, r);
}

static json_t *body_json(const serve_response *r)
{
    json_error_t je;
    json_t *j = json_loadb(r->body, r->len, 0, &je);
    assert_non_null(j);
    return j;
}

static const char *error_of(const serve_response *r, json_t **keep)
{
    *keep = body_json(r);
    return json_string_value(json_object_get(*keep, "error"));
}

static void health_and_tables(void **state)
{
    (void)state;
    serve_response r;
    call("GET", "/api/health", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.type, "application/json");
    json_t *j = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "ok");
    json_decref(j);
    serve_response_free(&r);

    call("GET", "/api/tables", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    j = body_json(&r);
    json_t *arr = json_object_get(j, "tables");
    int found = 0;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *t = json_array_get(arr, i);
        if (strcmp(json_string_value(json_object_get(t, "name")),
                   "data/benchmarks/paper/pythia_set_a.csv") == 0) {
            found = 1;
            assert_string_equal(json_string_value(json_object_get(t, "source")), "bundled");
            assert_true(json_integer_value(json_object_get(t, "models")) >= 8);
        }
    }
    assert_true(found);
    json_decref(j);
    serve_response_free(&r);
}

/* gamma12 = dTQA/dHS between consecutive sizes: (42 - 45)/(40 - 30) = -0.3,
 * (46 - 42)/(60 - 40) = +0.2, by hand */
static const char *FAMILY_CSV = "model,family,params,hellaswag,truthfulqa_mc2\n"
                                "a-100m,toy,100M,30,45\n"
                                "a-1b,toy,1B,40,42\n"
                                "a-10b,toy,10B,60,46\n";

static void diagnose_posted_table(void **state)
{
    (void)state;
    serve_response r;
    call("POST", "/api/diagnose", "name=toy.csv&boot=0", FAMILY_CSV, &r);
    assert_int_equal(r.status, 200);
    assert_true(r.len > 0 && r.body[r.len - 1] == '\n');
    json_t *j = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "command")), "diagnose");
    json_t *t0 = json_array_get(json_object_get(j, "tables"), 0);
    assert_string_equal(json_string_value(json_object_get(t0, "table")), "toy.csv");
    json_t *f = json_array_get(json_object_get(t0, "families"), 0);
    assert_string_equal(json_string_value(json_object_get(f, "name")), "toy");
    json_t *steps = json_object_get(f, "steps");
    assert_int_equal(json_array_size(steps), 2);
    assert_close(json_real_value(json_object_get(json_array_get(steps, 0), "gamma12")), -0.3,
                        1e-9);
    assert_close(json_real_value(json_object_get(json_array_get(steps, 1), "gamma12")), 0.2,
                        1e-9);
    assert_string_equal(json_string_value(json_object_get(json_array_get(steps, 0), "phase")), "tax");
    assert_string_equal(json_string_value(json_object_get(json_array_get(steps, 1), "phase")),
                        "bonus");
    json_t *nc = json_object_get(f, "critical_scale");
    assert_true(json_is_true(json_object_get(nc, "found")));
    json_decref(j);
    serve_response_free(&r);
}

static void errors(void **state)
{
    (void)state;
    serve_response r;
    json_t *j;
    /* a malformed table: 400 with the parser's one-line message, named as uploaded */
    call("POST", "/api/diagnose", "name=bad.csv", "model,params,hellaswag\nx,abc,3\n", &r);
    assert_int_equal(r.status, 400);
    const char *msg = error_of(&r, &j);
    assert_non_null(msg);
    assert_true(strncmp(msg, "cape: bad.csv:2", 15) == 0);
    assert_null(strchr(msg, '\n'));
    json_decref(j);
    serve_response_free(&r);
    /* a bad parameter */
    call("GET", "/api/diagnose", "table=data/benchmarks/paper/set_b_14.csv&boot=lots", NULL, &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(error_of(&r, &j),
                        "cape: boot expects an integer in [0, 100000], got 'lots'");
    json_decref(j);
    serve_response_free(&r);
    /* a table that is not served, a path among them */
    call("GET", "/api/eigen", "table=../../etc/passwd", NULL, &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(error_of(&r, &j), "cape: no table '../../etc/passwd' is served (GET "
                                          "/api/tables lists them)");
    json_decref(j);
    serve_response_free(&r);
    call("GET", "/api/table", "name=/etc/passwd", NULL, &r);
    assert_int_equal(r.status, 404);
    serve_response_free(&r);
    /* advise: the model is not in the table and is not described */
    call("GET", "/api/advise", "model=nobody", NULL, &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(error_of(&r, &j),
                        "cape: model 'nobody' is not in data/benchmarks/base_models.csv; "
                        "describe it with --size, --hs and --tqa");
    json_decref(j);
    serve_response_free(&r);
    /* a malformed query */
    serve_request q = {0};
    char qs[] = "a=%zz";
    cape_err e = {0};
    assert_int_equal(serve_parse_query(qs, &q, &e), CAPE_EINPUT);
}

static void limits_and_paths(void **state)
{
    (void)state;
    serve_response r;
    /* 413 above the upload limit (4096 here) */
    char *big = malloc(5000);
    memset(big, 'a', 4999);
    big[4999] = 0;
    call("POST", "/api/diagnose", NULL, big, &r);
    assert_int_equal(r.status, 413);
    serve_response_free(&r);
    free(big);
    /* nothing outside the routes and the embedded files: 404 */
    static const char *const bad[] = {"/nope", "/../etc/passwd", "/index.html/../../etc/passwd",
                                      "//etc/passwd", "/%2e%2e/%2e%2e/etc/passwd",
                                      "/api/../index.html", "/api", "/data/benchmarks/base_models.csv",
                                      "/src/serve/serve.c", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        call("GET", bad[i], NULL, NULL, &r);
        assert_int_equal(r.status, 404);
        serve_response_free(&r);
    }
    /* the wrong method */
    call("DELETE", "/api/health", NULL, NULL, &r);
    assert_int_equal(r.status, 405);
    serve_response_free(&r);
    call("POST", "/api/health", NULL, "x", &r);
    assert_int_equal(r.status, 405);
    serve_response_free(&r);
    /* a posted table: how cape reads it (families, benchmarks) */
    call("POST", "/api/tables", "name=toy.csv", FAMILY_CSV, &r);
    assert_int_equal(r.status, 200);
    json_t *j = body_json(&r);
    json_t *t0 = json_array_get(json_object_get(j, "tables"), 0);
    assert_string_equal(json_string_value(json_object_get(t0, "source")), "posted");
    assert_int_equal(json_integer_value(json_object_get(t0, "models")), 3);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(t0, "families"), "toy")), 3);
    json_decref(j);
    serve_response_free(&r);
    /* the page is the embedded copy of web/index.html */
    call("GET", "/", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.type, "text/html; charset=utf-8");
    FILE *fp = fopen("web/index.html", "rb");
    assert_non_null(fp);
    char *want = malloc(r.len + 16);
    size_t n = fread(want, 1, r.len + 16, fp);
    fclose(fp);
    assert_int_equal(n, r.len);
    assert_memory_equal(want, r.body, r.len);
    free(want);
    serve_response_free(&r);
}

static void advise_from_family(void **state)
{
    (void)state;
    serve_response r;
    /* Pythia-1B's scores with the Pythia family of the paper's table: gamma12
     * from the family's own step 410M -> 1B, (38.9 - 41.2)/(49.7 - 40.9) =
     * -0.2614 (tax) */
    call("GET", "/api/advise",
         "model=mine&size=1B&hs=49.7&tqa=38.9&family=Pythia&table=data/benchmarks/paper/"
         "paper_base_63.csv",
         NULL, &r);
    assert_int_equal(r.status, 200);
    json_t *j = body_json(&r);
    json_t *ph = json_object_get(j, "phase");
    assert_string_equal(json_string_value(json_object_get(ph, "phase")), "tax");
    assert_string_equal(json_string_value(json_object_get(ph, "gamma12_source")), "family");
    assert_close(json_real_value(json_object_get(ph, "gamma12")), (38.9 - 41.2) / (49.7 - 40.9),
                        1e-9);
    json_decref(j);
    serve_response_free(&r);
}

static void figures(void **state)
{
    (void)state;
    serve_response r;
    call("POST", "/api/figure", "id=fig-phase-diagram&name=toy.csv", FAMILY_CSV, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.type, "image/svg+xml");
    assert_true(r.len > 100 && memcmp(r.body, "<svg", 4) == 0);
    serve_response_free(&r);
    /* the user's model marked on the phase diagram; a mark without scores is refused */
    call("POST", "/api/figure", "id=fig-phase-diagram&mark=mine%20(yours)&mark_hs=50&mark_tqa=40",
         FAMILY_CSV, &r);
    assert_int_equal(r.status, 200);
    char *svg = strndup(r.body, r.len);
    assert_non_null(strstr(svg, "mine (yours)"));
    free(svg);
    serve_response_free(&r);
    call("POST", "/api/figure", "id=fig-phase-diagram&mark=x", FAMILY_CSV, &r);
    assert_int_equal(r.status, 400);
    serve_response_free(&r);
    call("GET", "/api/figure", "id=fig-nope", NULL, &r);
    assert_int_equal(r.status, 400);
    serve_response_free(&r);
}

/* POST /api/falsify answers the document of the library's falsify_run on the
 * same table, byte for byte; the family's N_c is where gamma12, linear in
 * log10 N between the steps' midpoints (8.5, -0.3) and (9.5, +0.2), crosses
 * zero: 10^(8.5 + 0.3 / 0.5) = 10^9.1, by hand. */
static void falsify_posted_table(void **state)
{
    (void)state;
    serve_response r;
    call("POST", "/api/falsify", "name=toy.csv&boot=200&sims=300&perms=200&seed=3", FAMILY_CSV,
         &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.type, "application/json");

    scores_options so = {.require_params = 1};
    scores_table t;
    cape_err e = {0};
    assert_int_equal(scores_parse(FAMILY_CSV, strlen(FAMILY_CSV), "toy.csv", &so, &t, &e), 0);
    falsify_options fo;
    falsify_options_default(&fo);
    fo.nboot = 200;
    fo.nsim = 300;
    fo.nperm = 200;
    fo.po.seed = 3;
    const scores_table *tp = &t;
    falsify_result res;
    assert_int_equal(falsify_run(&tp, 1, &fo, &res, &e), 0);
    size_t len = 0;
    json_t *doc = analysis_falsify_doc(&res);
    char *want = json_emit_string(doc, &len);
    json_decref(doc);
    falsify_result_free(&res);
    scores_free(&t);
    assert_int_equal(r.len, len);
    assert_memory_equal(r.body, want, len);
    free(want);

    json_t *j = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "command")), "falsify");
    json_t *t0 = json_array_get(json_object_get(j, "tables"), 0);
    assert_string_equal(json_string_value(json_object_get(t0, "table")), "toy.csv");
    json_t *f = json_array_get(json_object_get(t0, "families"), 0);
    json_t *u = json_object_get(f, "ushape");
    assert_close(json_real_value(json_object_get(u, "nc_gamma")), pow(10, 9.1),
                 1e-6 * pow(10, 9.1));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "options"), "seed")), 3);
    json_decref(j);
    serve_response_free(&r);

    /* a table without sizes: 400 with the parser's message; a bad count */
    json_t *k;
    call("POST", "/api/falsify", "name=nosize.csv",
         "model,family,hellaswag,truthfulqa_mc2\na,f,30,40\n", &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(error_of(&r, &k), "cape: nosize.csv:1:1: no size column (expected "
                                          "'params' or 'params_b' / '#Params (B)')");
    json_decref(k);
    serve_response_free(&r);
    call("GET", "/api/falsify", "table=data/benchmarks/paper/set_b_14.csv&boot=1000001", NULL, &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(error_of(&r, &k),
                        "cape: boot expects an integer in [0, 100000], got '1000001'");
    json_decref(k);
    serve_response_free(&r);
    call("GET", "/api/falsify", "table=data/benchmarks/paper/set_b_14.csv&reasoning=tqa&truth=tqa",
         NULL, &r);
    assert_int_equal(r.status, 400);
    serve_response_free(&r);
}

/* ---- over a loopback socket -------------------------------------------------- */

static int port_ready;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

static void on_ready(void *user, int port)
{
    (void)user;
    pthread_mutex_lock(&mu);
    port_ready = port;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
}

static void *server_thread(void *arg)
{
    (void)arg;
    serve_options o = opt;
    o.port = 0;
    o.timeout_s = 3;
    o.threads = 2;
    cape_err e = {0};
    if (serve_run(ctx, &o, on_ready, NULL, &e))
        on_ready(NULL, -1);
    return NULL;
}

static int dial(int port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    struct timeval tv = {5, 0};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    assert_int_equal(connect(s, (struct sockaddr *)&a, sizeof a), 0);
    return s;
}

static size_t exchange(int port, const char *req, char *out, size_t n)
{
    int s = dial(port);
    assert_int_equal(write(s, req, strlen(req)), (ssize_t)strlen(req));
    size_t got = 0;
    ssize_t k;
    while (got + 1 < n && (k = read(s, out + got, n - 1 - got)) > 0)
        got += (size_t)k;
    out[got] = 0;
    close(s);
    return got;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void over_http(void **state)
{
    (void)state;
    /* the server thread waits for SIGTERM in sigwait: block it here too */
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGTERM);
    sigaddset(&s, SIGINT);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
    pthread_t th;
    pthread_create(&th, NULL, server_thread, NULL);
    pthread_mutex_lock(&mu);
    while (!port_ready)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    int port = port_ready;
    assert_true(port > 0);
    char buf[65536];

    /* a slow client holding a half-sent request does not block another */
    int slow = dial(port);
    assert_int_equal(write(slow, "GET /api/hea", 12), 12);
    double t0 = now();
    exchange(port, "GET /api/health HTTP/1.0\r\n\r\n", buf, sizeof buf);
    assert_true(strncmp(buf, "HTTP/1.0 200", 12) == 0 || strncmp(buf, "HTTP/1.1 200", 12) == 0);
    assert_non_null(strstr(buf, "\"status\": \"ok\""));
    assert_non_null(strstr(buf, "Content-Security-Policy: default-src 'none'"));
    assert_true(now() - t0 < 2.0); /* well before the slow one times out */
    /* ... and is closed after the 3 s timeout */
    char c;
    ssize_t k = read(slow, &c, 1);
    double waited = now() - t0;
    assert_int_equal(k, 0); /* closed by the server, not our 5 s receive timeout */
    assert_true(waited >= 2.0 && waited < 9.0);
    close(slow);

    /* 413 from Content-Length alone, before any body is sent */
    exchange(port, "POST /api/diagnose HTTP/1.1\r\nHost: x\r\nContent-Length: 999999\r\n\r\n",
             buf, sizeof buf);
    assert_non_null(strstr(buf, " 413 "));
    /* a posted table, its query arguments decoded by the HTTP layer */
    char req[1024];
    snprintf(req, sizeof req,
             "POST /api/diagnose?name=t%%20y.csv&boot=0 HTTP/1.0\r\nContent-Length: %zu\r\n\r\n%s",
             strlen(FAMILY_CSV), FAMILY_CSV);
    exchange(port, req, buf, sizeof buf);
    assert_non_null(strstr(buf, " 200 "));
    assert_non_null(strstr(buf, "\"table\": \"t y.csv\""));
    /* a traversal attempt the client does not normalise */
    exchange(port, "GET /../../etc/passwd HTTP/1.0\r\n\r\n", buf, sizeof buf);
    assert_non_null(strstr(buf, " 404 "));
    assert_null(strstr(buf, "root:"));

    pthread_kill(th, SIGTERM);
    pthread_join(th, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(health_and_tables), cmocka_unit_test(diagnose_posted_table),
        cmocka_unit_test(errors),            cmocka_unit_test(limits_and_paths),
        cmocka_unit_test(advise_from_family), cmocka_unit_test(figures),
        cmocka_unit_test(falsify_posted_table), cmocka_unit_test(over_http),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
