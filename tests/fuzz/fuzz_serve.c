/* libFuzzer harness: one request to the dashboard's handler. The input is
 * "METHOD PATH[?QUERY]\n" then the body. The query goes through
 * serve_parse_query and the request through serve_handle with the bundled
 * tables loaded (from ./data: run from the repository root). Beyond "no
 * crash": every answer has a known status, a JSON answer parses as JSON and
 * an error answer is one line starting "cape: ". Bootstrap and simulation
 * counts are capped (boot=20, sims=20, ... come first, and the first value of
 * a key wins) so that one input stays fast. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/serve.h"

static serve_ctx *ctx;

static const unsigned char PAGE[] = "<!doctype html><title>t</title>";
static const serve_asset ASSETS[] = {{"/index.html", "text/html", PAGE, sizeof PAGE - 1}};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    serve_options o;
    serve_options_default(&o);
    o.data_dir = getenv("CAPE_DATA") ? getenv("CAPE_DATA") : "data";
    o.max_upload = 1 << 16;
    o.assets = ASSETS;
    o.nassets = 1;
    cape_err e = {0};
    if (serve_ctx_new(&o, &ctx, &e)) {
        fprintf(stderr, "fuzz_serve: %s\n", e.msg);
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t head = nl ? (size_t)(nl - data) : size;
    if (head > 4096)
        return 0;
    char *line = malloc(head + 1);
    memcpy(line, data, head);
    line[head] = 0;
    if (strlen(line) != head) { /* a NUL in the request line: HTTP never gets here */
        free(line);
        return 0;
    }
    char *sp = strchr(line, ' ');
    const char *method = "GET";
    char *target = line;
    if (sp) {
        *sp = 0;
        method = line;
        target = sp + 1;
    }
    serve_request q = {.method = method};
    static const char *const CAP[] = {"boot", "sims", "perms", "width_draws", "stability_boot"};
    for (size_t k = 0; k < sizeof CAP / sizeof *CAP; k++) {
        q.key[k] = CAP[k];
        q.val[k] = "20";
    }
    q.nargs = (int)(sizeof CAP / sizeof *CAP);
    char *qm = strchr(target, '?');
    cape_err e = {0};
    int qrc = 0;
    if (qm) {
        *qm = 0;
        qrc = serve_parse_query(qm + 1, &q, &e);
    }
    q.path = target;
    q.body = nl ? (const char *)nl + 1 : NULL;
    q.len = nl ? size - head - 1 : 0;
    if (qrc == 0) {
        serve_response r;
        serve_handle(ctx, &q, &r);
        int st = r.status;
        if (st != 200 && st != 400 && st != 404 && st != 405 && st != 413 && st != 500)
            abort();
        if (r.type && strcmp(r.type, "application/json") == 0) {
            json_error_t je;
            json_t *j = json_loadb(r.body, r.len, 0, &je);
            if (!j)
                abort();
            json_t *err = json_object_get(j, "error");
            if ((st != 200) != (err != NULL))
                abort();
            if (err) {
                const char *m = json_string_value(err);
                if (!m || strncmp(m, "cape: ", 6) != 0 || strchr(m, '\n'))
                    abort();
            }
            json_decref(j);
        } else if (st != 200) {
            abort();
        }
        serve_response_free(&r);
    }
    free(line);
    return 0;
}
