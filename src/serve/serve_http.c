/* serve_http: the HTTP layer of serve on libmicrohttpd: a thread pool,
 * connection timeouts, the body collected up to the upload limit, security
 * headers on every answer, and a clean stop on SIGINT/SIGTERM. */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "serve/serve.h"

typedef struct {
    const serve_ctx *ctx;
    size_t max_upload;
} http_state;

/* per request: the body so far */
typedef struct {
    char *buf;
    size_t len, cap;
    int too_big;
    serve_request req;
} http_conn;

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind;
    http_conn *hc = cls;
    serve_request *q = &hc->req;
    if (q->nargs >= SERVE_MAX_ARGS) {
        q->args_dropped = 1;
        return MHD_YES;
    }
    q->key[q->nargs] = key;
    q->val[q->nargs++] = value ? value : "";
    return MHD_YES;
}

static int append(http_conn *hc, const char *data, size_t n, size_t max)
{
    if (hc->too_big || hc->len + n > max) {
        hc->too_big = 1;
        hc->len += n; /* counted, not kept */
        return 0;
    }
    if (hc->len + n > hc->cap) {
        size_t cap = hc->cap ? hc->cap : 4096;
        while (cap < hc->len + n)
            cap *= 2;
        char *nb = realloc(hc->buf, cap);
        if (!nb)
            return -1;
        hc->buf = nb;
        hc->cap = cap;
    }
    memcpy(hc->buf + hc->len, data, n);
    hc->len += n;
    return 0;
}

static enum MHD_Result send_answer(struct MHD_Connection *con, serve_response *r)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        r->len, r->body, r->fixed ? MHD_RESPMEM_PERSISTENT : MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", r->type ? r->type : "text/plain");
    if (r->cache)
        MHD_add_response_header(resp, "Cache-Control", r->cache);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'none'; script-src 'self'; style-src 'self'; "
                            "img-src 'self' data: blob:; connect-src 'self'; "
                            "frame-ancestors 'none'; base-uri 'none'; form-action 'none'");
    enum MHD_Result ret = MHD_queue_response(con, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *con, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    http_state *st = cls;
    http_conn *hc = *con_cls;
    if (!hc) {
        hc = calloc(1, sizeof *hc);
        if (!hc)
            return MHD_NO;
        *con_cls = hc;
        const char *cl = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Content-Length");
        if (cl) {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(cl, &end, 10);
            if (errno || *end || n > st->max_upload) {
                /* refused before the body is read; the connection is closed */
                serve_request q = {.method = method, .path = url, .len = (size_t)-1};
                serve_response r;
                if (!errno && !*end)
                    q.len = (size_t)n;
                serve_handle(st->ctx, &q, &r);
                enum MHD_Result ret = send_answer(con, &r);
                serve_response_free(&r);
                hc->too_big = 2; /* answered */
                return ret;
            }
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (hc->too_big != 2 && append(hc, upload_data, *upload_data_size, st->max_upload) < 0)
            return MHD_NO;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (hc->too_big == 2)
        return MHD_YES;
    serve_request *q = &hc->req;
    q->method = method;
    q->nargs = 0;
    q->path = url;
    MHD_get_connection_values(con, MHD_GET_ARGUMENT_KIND, collect_arg, hc);
    q->body = hc->buf;
    q->len = hc->len;
    serve_response r;
    serve_handle(st->ctx, q, &r);
    enum MHD_Result ret = send_answer(con, &r);
    serve_response_free(&r);
    return ret;
}

static void on_done(void *cls, struct MHD_Connection *con, void **con_cls,
                    enum MHD_RequestTerminationCode code)
{
    (void)cls, (void)con, (void)code;
    http_conn *hc = *con_cls;
    if (hc) {
        free(hc->buf);
        free(hc);
    }
    *con_cls = NULL;
}

int serve_run(const serve_ctx *c, const serve_options *o,
              void (*on_ready)(void *user, int port), void *user, cape_err *e)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    const char *host = o->host && strcmp(o->host, "localhost") != 0 ? o->host : "127.0.0.1";
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)o->port);
    } else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)o->port);
        flags |= MHD_USE_IPv6;
    } else {
        return err_set(e, CAPE_EINPUT, "--host expects a numeric IPv4 or IPv6 address or "
                                       "localhost, got '%s'",
                       o->host);
    }
    /* SIGINT/SIGTERM wait in sigwait below: blocked in every thread */
    sigset_t sigs, old;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, &old);
    http_state st = {c, o->max_upload};
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, &st, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(o->threads > 0 ? o->threads : 1),
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(o->timeout_s > 0 ? o->timeout_s : 15),
        MHD_OPTION_CONNECTION_LIMIT, 1000u, MHD_OPTION_PER_IP_CONNECTION_LIMIT, 0u,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
        MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_END);
    if (!d) {
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return err_set(e, CAPE_EINPUT, "cannot listen on %s port %d (in use, or not an address "
                                       "of this machine)",
                       host, o->port);
    }
    int port = o->port;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    if (info)
        port = info->port;
    if (on_ready)
        on_ready(user, port);
    int sig = 0;
    sigwait(&sigs, &sig);
    MHD_stop_daemon(d);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return 0;
}
