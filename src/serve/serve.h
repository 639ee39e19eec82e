/* serve: cape's dashboard over HTTP. One page (embedded in the binary: no
 * request ever reaches the file system) and a JSON API whose handlers call
 * the same library entry points as the commands, so that POST /api/diagnose
 * answers exactly the document `cape diagnose --json` writes for that CSV.
 *
 * The handler (serve_handle) is a function of the loaded tables and one
 * request; the HTTP layer (serve_run, on libmicrohttpd) only moves bytes:
 * it collects the query and the body (up to max_upload bytes, else 413),
 * calls the handler from its thread pool and sends the answer. docs/SERVE.md
 * lists the endpoints. */
#ifndef CAPE_SERVE_H
#define CAPE_SERVE_H

#include <stddef.h>

#include "base/err.h"

/* A file of the page, embedded at build time (web/ -> serve_assets.c). */
typedef struct {
    const char *path; /* "/index.html" */
    const char *type; /* Content-Type */
    const unsigned char *data;
    size_t len;
} serve_asset;

/* The page built from web/ (generated at build time). */
extern const serve_asset serve_assets[];
extern const int serve_nassets;

typedef struct {
    const char *data_dir;      /* the bundled tables are read from here at start */
    const char *const *tables; /* further tables to serve (paths), read at start */
    int ntables;
    int allow_extra_columns;   /* in the served tables and in uploads */
    const char *host;          /* numeric address or "localhost" (127.0.0.1) */
    int port;                  /* 0: any free port (serve_run reports it) */
    size_t max_upload;         /* bytes of a request body (4 MiB) */
    int threads;               /* thread pool (4) */
    int timeout_s;             /* an idle or slow connection is closed after this (15) */
    const serve_asset *assets; /* the page's files (serve_assets; NULL: none) */
    int nassets;
} serve_options;

void serve_options_default(serve_options *o);

typedef struct serve_ctx serve_ctx;

/* Reads the bundled tables (a missing one is left out) and the served ones
 * (an unreadable or malformed one is an error). */
int serve_ctx_new(const serve_options *o, serve_ctx **out, cape_err *e);
void serve_ctx_free(serve_ctx *c);
/* The loaded tables, for messages: count and i-th name. */
int serve_ctx_ntables(const serve_ctx *c);
const char *serve_ctx_table_name(const serve_ctx *c, int i);

enum { SERVE_MAX_ARGS = 64 };

typedef struct {
    const char *method;        /* "GET", "POST" ... */
    const char *path;          /* without the query */
    int nargs;                 /* decoded query arguments, in order; keys may repeat */
    const char *key[SERVE_MAX_ARGS], *val[SERVE_MAX_ARGS];
    int args_dropped;          /* more than SERVE_MAX_ARGS were given */
    const char *body;          /* NULL or len bytes (not NUL-terminated) */
    size_t len;
} serve_request;

typedef struct {
    int status;
    const char *type;          /* Content-Type */
    char *body;                /* malloc'd unless fixed */
    size_t len;
    int fixed;                 /* body points into an asset: not freed */
    const char *cache;         /* Cache-Control */
} serve_response;

/* Splits "a=1&b=x%20y" into r's arguments, decoding %XX and '+' in place
 * (qs is modified and must outlive r). A malformed escape is an error. */
int serve_parse_query(char *qs, serve_request *r, cape_err *e);
/* Answers one request; never fails (errors are 4xx/5xx answers with a JSON
 * body {"error": "cape: ..."}). */
void serve_handle(const serve_ctx *c, const serve_request *req, serve_response *r);
void serve_response_free(serve_response *r);

/* Serves until SIGINT or SIGTERM, then stops cleanly. on_ready (may be
 * NULL) is called once listening, with the port bound. */
int serve_run(const serve_ctx *c, const serve_options *o,
              void (*on_ready)(void *user, int port), void *user, cape_err *e);

#endif
