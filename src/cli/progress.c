/* A one-line progress bar on stderr, drawn only when stderr is a terminal. */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void cli_progress_init(cli_progress *p, const char *label)
{
    p->label = label;
    p->start = now_s();
    p->last_draw = 0;
    p->tty = isatty(2);
}

void cli_progress_cb(void *user, long done, long total)
{
    cli_progress *p = user;
    if (!p->tty)
        return;
    double t = now_s();
    if (done < total && t - p->last_draw < 0.1)
        return;
    p->last_draw = t;
    double el = t - p->start, rate = el > 0 ? done / el : 0;
    double eta = rate > 0 ? (total - done) / rate : 0;
    int width = 30, fill = total > 0 ? (int)(width * done / total) : 0;
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    fprintf(stderr, "\r%s [%s] %ld/%ld  %.1f/s  ETA %d:%02d ", p->label, bar, done, total, rate,
            (int)eta / 60, (int)eta % 60);
    if (done >= total)
        fputc('\n', stderr);
    fflush(stderr);
}
