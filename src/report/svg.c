#include "report/svg.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
    IT_SCATTER,
    IT_LINE,
    IT_BAND,
    IT_VSPAN,
    IT_HSPAN,
    IT_VLINE,
    IT_HLINE,
    IT_HIST,
    IT_TEXT
} item_kind;

typedef struct {
    item_kind kind;
    double *x, *y, *y2; /* hist: x = n + 1 edges, y = n counts */
    int n;
    char **titles;
    svg_style s;
    char *label;
    double a, b;        /* spans and reference lines */
    char *text;
    double dx, dy, tsize;
    svg_anchor anchor;
} item;

typedef struct {
    char *label;
    svg_scale scale;
    svg_tick_format fmt;
    int fixed;
    double lo, hi;
} axis;

struct svg_plot {
    char *id, *title, *legend_title;
    double w, h;
    int legend_cols; /* > 0: legend below the plot */
    axis ax[2];
    item *it;
    int nit, cap;
};

enum { AX_X, AX_Y };

static const double FONT = 11.5, CHAR_W = 0.56; /* approximate glyph width per font size */
static const char *FONT_FAMILY = "DejaVu Sans, Helvetica, Arial, sans-serif";

svg_plot *svg_plot_new(const char *id, double width, double height)
{
    svg_plot *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->id = strdup(id ? id : "plot");
    p->w = width;
    p->h = height;
    if (!p->id) {
        free(p);
        return NULL;
    }
    return p;
}

static void item_free(item *it)
{
    free(it->x);
    free(it->y);
    free(it->y2);
    if (it->titles)
        for (int i = 0; i < it->n; i++)
            free(it->titles[i]);
    free(it->titles);
    free(it->label);
    free(it->text);
}

void svg_plot_free(svg_plot *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->nit; i++)
        item_free(&p->it[i]);
    free(p->it);
    free(p->id);
    free(p->title);
    free(p->legend_title);
    for (int a = 0; a < 2; a++)
        free(p->ax[a].label);
    free(p);
}

static void set_str(char **dst, const char *s)
{
    free(*dst);
    *dst = s ? strdup(s) : NULL;
}

void svg_title(svg_plot *p, const char *title)
{
    set_str(&p->title, title);
}

void svg_legend_title(svg_plot *p, const char *title)
{
    set_str(&p->legend_title, title);
}

void svg_legend_below(svg_plot *p, int ncol)
{
    p->legend_cols = ncol < 1 ? 1 : ncol;
}

static void set_axis(axis *a, const char *label, svg_scale scale, svg_tick_format fmt)
{
    set_str(&a->label, label);
    a->scale = scale;
    a->fmt = fmt;
}

void svg_axis_x(svg_plot *p, const char *label, svg_scale scale, svg_tick_format fmt)
{
    set_axis(&p->ax[AX_X], label, scale, fmt);
}

void svg_axis_y(svg_plot *p, const char *label, svg_scale scale, svg_tick_format fmt)
{
    set_axis(&p->ax[AX_Y], label, scale, fmt);
}

void svg_range_x(svg_plot *p, double lo, double hi)
{
    p->ax[AX_X].fixed = 1;
    p->ax[AX_X].lo = lo;
    p->ax[AX_X].hi = hi;
}

void svg_range_y(svg_plot *p, double lo, double hi)
{
    p->ax[AX_Y].fixed = 1;
    p->ax[AX_Y].lo = lo;
    p->ax[AX_Y].hi = hi;
}

static item *new_item(svg_plot *p, item_kind kind, const char *label)
{
    if (p->nit == p->cap) {
        int cap = p->cap ? 2 * p->cap : 16;
        item *it = realloc(p->it, (size_t)cap * sizeof *it);
        if (!it)
            return NULL;
        p->it = it;
        p->cap = cap;
    }
    item *it = &p->it[p->nit++];
    memset(it, 0, sizeof *it);
    it->kind = kind;
    it->label = label ? strdup(label) : NULL;
    return it;
}

static double *copy(const double *v, int n)
{
    double *c = malloc((size_t)(n > 0 ? n : 1) * sizeof *c);
    if (c && n > 0)
        memcpy(c, v, (size_t)n * sizeof *c);
    return c;
}

static svg_style defaults(svg_style s)
{
    if (!s.color)
        s.color = "#333";
    if (!(s.width > 0))
        s.width = 1.5;
    if (!(s.size > 0))
        s.size = 3.5;
    return s;
}

int svg_scatter(svg_plot *p, const double *x, const double *y, int n, svg_style s,
                const char *label, const char *const *titles)
{
    item *it = new_item(p, IT_SCATTER, label);
    if (!it)
        return -1;
    it->n = n;
    it->x = copy(x, n);
    it->y = copy(y, n);
    it->s = defaults(s);
    if (it->s.marker == SVG_MARK_NONE)
        it->s.marker = SVG_MARK_CIRCLE;
    if (titles) {
        it->titles = calloc((size_t)(n > 0 ? n : 1), sizeof *it->titles);
        for (int i = 0; it->titles && i < n; i++)
            it->titles[i] = titles[i] ? strdup(titles[i]) : NULL;
    }
    return it->x && it->y ? 0 : -1;
}

int svg_line(svg_plot *p, const double *x, const double *y, int n, svg_style s,
             const char *label)
{
    item *it = new_item(p, IT_LINE, label);
    if (!it)
        return -1;
    it->n = n;
    it->x = copy(x, n);
    it->y = copy(y, n);
    it->s = defaults(s);
    return it->x && it->y ? 0 : -1;
}

int svg_band(svg_plot *p, const double *x, const double *ylo, const double *yhi, int n,
             const char *color, double opacity, const char *label)
{
    item *it = new_item(p, IT_BAND, label);
    if (!it)
        return -1;
    it->n = n;
    it->x = copy(x, n);
    it->y = copy(ylo, n);
    it->y2 = copy(yhi, n);
    it->s = defaults((svg_style){.color = color, .opacity = opacity});
    return it->x && it->y && it->y2 ? 0 : -1;
}

static int span(svg_plot *p, item_kind k, double a, double b, const char *color, double opacity,
                const char *label)
{
    item *it = new_item(p, k, label);
    if (!it)
        return -1;
    it->a = fmin(a, b);
    it->b = fmax(a, b);
    it->s = defaults((svg_style){.color = color, .opacity = opacity});
    return 0;
}

int svg_vspan(svg_plot *p, double x0, double x1, const char *color, double opacity,
              const char *label)
{
    return span(p, IT_VSPAN, x0, x1, color, opacity, label);
}

int svg_hspan(svg_plot *p, double y0, double y1, const char *color, double opacity,
              const char *label)
{
    return span(p, IT_HSPAN, y0, y1, color, opacity, label);
}

static int rule_line(svg_plot *p, item_kind kind, double at, svg_style s, const char *label)
{
    item *it = new_item(p, kind, label);
    if (!it)
        return -1;
    it->a = at;
    it->s = defaults(s);
    return 0;
}

int svg_vline(svg_plot *p, double x, svg_style s, const char *label)
{
    return rule_line(p, IT_VLINE, x, s, label);
}

int svg_hline(svg_plot *p, double y, svg_style s, const char *label)
{
    return rule_line(p, IT_HLINE, y, s, label);
}

int svg_histogram(svg_plot *p, const double *values, int n, int nbins, double lo, double hi,
                  const char *color, const char *label)
{
    if (nbins < 1)
        return -1;
    int logx = p->ax[AX_X].scale == SVG_LOG10;
    if (!(lo < hi)) {
        lo = INFINITY, hi = -INFINITY;
        for (int i = 0; i < n; i++)
            if (isfinite(values[i]) && (!logx || values[i] > 0))
                lo = fmin(lo, values[i]), hi = fmax(hi, values[i]);
        if (!(lo < hi)) {
            double c = isfinite(lo) ? lo : 1;
            lo = logx ? c / 2 : c - 0.5;
            hi = logx ? c * 2 : c + 0.5;
        }
    }
    item *it = new_item(p, IT_HIST, label);
    if (!it)
        return -1;
    it->n = nbins;
    it->x = malloc((size_t)(nbins + 1) * sizeof *it->x);
    it->y = calloc((size_t)nbins, sizeof *it->y);
    it->s = defaults((svg_style){.color = color});
    if (!it->x || !it->y)
        return -1;
    double a = logx ? log10(lo) : lo, b = logx ? log10(hi) : hi;
    for (int k = 0; k <= nbins; k++) {
        double e = a + (b - a) * k / nbins;
        it->x[k] = logx ? pow(10, e) : e;
    }
    for (int i = 0; i < n; i++) {
        double v = values[i];
        if (!isfinite(v) || (logx && v <= 0))
            continue;
        double u = ((logx ? log10(v) : v) - a) / (b - a);
        int k = (int)floor(u * nbins);
        if (k == nbins && u <= 1 + 1e-12)
            k = nbins - 1;
        if (k >= 0 && k < nbins)
            it->y[k] += 1;
    }
    return 0;
}

int svg_text(svg_plot *p, double x, double y, double dx, double dy, const char *text,
             svg_anchor anchor, const char *color, double size)
{
    item *it = new_item(p, IT_TEXT, NULL);
    if (!it)
        return -1;
    it->a = x;
    it->b = y;
    it->dx = dx;
    it->dy = dy;
    it->text = strdup(text ? text : "");
    it->anchor = anchor;
    it->tsize = size > 0 ? size : FONT - 1;
    it->s = defaults((svg_style){.color = color});
    return it->text ? 0 : -1;
}

/* ---- formats and ticks ---------------------------------------------------- */

void svg_format_size(double v, char *buf, size_t n)
{
    static const struct {
        double s;
        const char *u;
    } units[] = {{1e12, "T"}, {1e9, "B"}, {1e6, "M"}, {1e3, "k"}};
    for (size_t i = 0; i < sizeof units / sizeof *units; i++)
        if (fabs(v) >= units[i].s * 0.9999) {
            snprintf(buf, n, "%.3g%s", v / units[i].s, units[i].u);
            return;
        }
    snprintf(buf, n, "%.3g", v);
}

void svg_format_plain(double v, char *buf, size_t n)
{
    if (fabs(v) < 1e-12)
        v = 0;
    snprintf(buf, n, "%.6g", v);
}

static double nice_step(double span, int target)
{
    double raw = span / target, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

static int linear_ticks(double lo, double hi, double *t, int max)
{
    if (!(hi > lo))
        return 0;
    double step = nice_step(hi - lo, 5);
    int n = 0;
    for (double v = ceil(lo / step - 1e-9) * step; v <= hi + 1e-9 * step && n < max; v += step)
        t[n++] = fabs(v) < 1e-12 * step ? 0 : v;
    return n;
}

int svg_ticks(double lo, double hi, svg_scale scale, double *t, int max)
{
    if (scale == SVG_LINEAR || !(lo > 0))
        return linear_ticks(lo, hi, t, max);
    double a = log10(lo), b = log10(hi);
    int n = 0;
    static const double within[3] = {1, 2, 5};
    int dense = b - a < 2;
    for (int d = (int)floor(a); d <= (int)ceil(b) && n < max; d++)
        for (int k = 0; k < (dense ? 3 : 1) && n < max; k++) {
            double v = within[k] * pow(10, d);
            if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9))
                t[n++] = v;
        }
    if (n < 3) /* under a decade: plain 1-2-5 ticks on the values */
        return linear_ticks(lo, hi, t, max);
    return n;
}

void svg_escape(const char *in, char *buf, size_t n)
{
    size_t k = 0;
    for (const char *s = in; s && *s && k + 7 < n; s++) {
        const char *rep = *s == '<' ? "&lt;" : *s == '>' ? "&gt;" : *s == '&' ? "&amp;"
                          : *s == '"' ? "&quot;" : *s == '\'' ? "&#39;" : NULL;
        if (rep) {
            size_t l = strlen(rep);
            memcpy(buf + k, rep, l);
            k += l;
        } else {
            buf[k++] = *s;
        }
    }
    buf[k] = 0;
}

/* ---- layout --------------------------------------------------------------- */

typedef struct {
    double left, top, pw, ph;
    double lo[2], hi[2];
    int logs[2];
} frame;

static int usable(double v, int logscale)
{
    return isfinite(v) && (!logscale || v > 0);
}

static void extend(double *lo, double *hi, double v, int logscale)
{
    if (usable(v, logscale)) {
        *lo = fmin(*lo, v);
        *hi = fmax(*hi, v);
    }
}

static void data_range(const svg_plot *p, int a, double *lo, double *hi, int *zero_floor)
{
    int lg = p->ax[a].scale == SVG_LOG10;
    *lo = INFINITY, *hi = -INFINITY;
    *zero_floor = 0;
    for (int i = 0; i < p->nit; i++) {
        const item *it = &p->it[i];
        switch (it->kind) {
        case IT_SCATTER:
        case IT_LINE:
        case IT_BAND:
            for (int k = 0; k < it->n; k++) {
                if (!usable(it->x[k], p->ax[AX_X].scale == SVG_LOG10) ||
                    !usable(it->y[k], p->ax[AX_Y].scale == SVG_LOG10))
                    continue;
                extend(lo, hi, a == AX_X ? it->x[k] : it->y[k], lg);
                if (it->kind == IT_BAND && a == AX_Y)
                    extend(lo, hi, it->y2[k], lg);
            }
            break;
        case IT_VSPAN:
            if (a == AX_X)
                extend(lo, hi, it->a, lg), extend(lo, hi, it->b, lg);
            break;
        case IT_HSPAN:
            if (a == AX_Y)
                extend(lo, hi, it->a, lg), extend(lo, hi, it->b, lg);
            break;
        case IT_VLINE:
            if (a == AX_X)
                extend(lo, hi, it->a, lg);
            break;
        case IT_HLINE:
            if (a == AX_Y)
                extend(lo, hi, it->a, lg);
            break;
        case IT_HIST:
            if (a == AX_X) {
                extend(lo, hi, it->x[0], lg);
                extend(lo, hi, it->x[it->n], lg);
            } else {
                *zero_floor = !lg;
                extend(lo, hi, lg ? 0.5 : 0, lg);
                for (int k = 0; k < it->n; k++)
                    extend(lo, hi, it->y[k], lg);
            }
            break;
        case IT_TEXT:
            extend(lo, hi, a == AX_X ? it->a : it->b, lg);
            break;
        }
    }
}

static void axis_range(const svg_plot *p, int a, double *lo, double *hi)
{
    const axis *ax = &p->ax[a];
    int lg = ax->scale == SVG_LOG10, zero = 0;
    if (ax->fixed) {
        *lo = ax->lo;
        *hi = ax->hi;
        return;
    }
    data_range(p, a, lo, hi, &zero);
    if (!(*lo <= *hi)) {
        *lo = lg ? 1 : 0;
        *hi = lg ? 10 : 1;
        return;
    }
    double u = lg ? log10(*lo) : *lo, v = lg ? log10(*hi) : *hi;
    double span = v - u;
    if (span <= 0)
        span = lg ? 0.5 : (fabs(u) > 0 ? fabs(u) * 0.2 : 1);
    double pad = 0.05 * span;
    double nu = zero && u >= 0 ? u : u - pad, nv = v + pad;
    if (span == 0 || v == u)
        nu = u - span / 2, nv = v + span / 2;
    *lo = lg ? pow(10, nu) : nu;
    *hi = lg ? pow(10, nv) : nv;
}

static double map(const frame *f, int a, double v)
{
    double lo = f->lo[a], hi = f->hi[a];
    double t = f->logs[a] ? (log10(v) - log10(lo)) / (log10(hi) - log10(lo)) : (v - lo) / (hi - lo);
    return a == AX_X ? f->left + t * f->pw : f->top + f->ph - t * f->ph;
}

static void fmt_tick(const axis *ax, double v, double step, char *buf, size_t n)
{
    if (ax->fmt) {
        ax->fmt(v, buf, n);
        return;
    }
    int dec = step > 0 && step < 1 ? (int)ceil(-log10(step) - 1e-9) : 0;
    if (ax->scale == SVG_LOG10)
        snprintf(buf, n, "%g", v);
    else
        snprintf(buf, n, "%.*f", dec, fabs(v) < 1e-12 ? 0.0 : v);
}

/* ---- rendering ------------------------------------------------------------ */

static void marker(FILE *o, svg_marker m, double x, double y, double r, const svg_style *s,
                   const char *title)
{
    const char *fill = s->fill ? s->fill : s->color;
    char op[40] = "";
    if (s->opacity > 0)
        snprintf(op, sizeof op, " fill-opacity=\"%.2f\"", s->opacity);
    switch (m) {
    case SVG_MARK_SQUARE:
        fprintf(o, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\"", x - r, y - r,
                2 * r, 2 * r);
        break;
    case SVG_MARK_TRIANGLE:
        fprintf(o, "<path d=\"M%.2f %.2fL%.2f %.2fL%.2f %.2fZ\"", x, y - 1.2 * r, x + 1.1 * r,
                y + 0.8 * r, x - 1.1 * r, y + 0.8 * r);
        break;
    case SVG_MARK_DIAMOND:
        fprintf(o, "<path d=\"M%.2f %.2fL%.2f %.2fL%.2f %.2fL%.2f %.2fZ\"", x, y - 1.3 * r,
                x + 1.1 * r, y, x, y + 1.3 * r, x - 1.1 * r, y);
        break;
    default:
        fprintf(o, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"%.2f\"", x, y, r);
    }
    fprintf(o, " fill=\"%s\"%s stroke=\"%s\" stroke-width=\"1\"", fill, op, s->color);
    if (title) {
        char esc[512];
        svg_escape(title, esc, sizeof esc);
        fprintf(o, "><title>%s</title></%s>",
                esc, m == SVG_MARK_SQUARE ? "rect" : m == SVG_MARK_CIRCLE || m == SVG_MARK_NONE
                                                         ? "circle"
                                                         : "path");
    } else {
        fprintf(o, "/>");
    }
}

static void stroke_attrs(FILE *o, const svg_style *s)
{
    fprintf(o, " fill=\"none\" stroke=\"%s\" stroke-width=\"%.2f\"", s->color, s->width);
    if (s->dash)
        fprintf(o, " stroke-dasharray=\"%s\"", s->dash);
    if (s->opacity > 0)
        fprintf(o, " stroke-opacity=\"%.2f\"", s->opacity);
}

static void render_line(FILE *o, const frame *f, const item *it)
{
    int open = 0;
    for (int k = 0; k < it->n; k++) {
        if (!usable(it->x[k], f->logs[AX_X]) || !usable(it->y[k], f->logs[AX_Y])) {
            if (open)
                fprintf(o, "\"/>");
            open = 0;
            continue;
        }
        double x = map(f, AX_X, it->x[k]), y = map(f, AX_Y, it->y[k]);
        if (!open) {
            fprintf(o, "<path");
            stroke_attrs(o, &it->s);
            fprintf(o, " stroke-linejoin=\"round\" d=\"M%.2f %.2f", x, y);
            open = 1;
        } else {
            fprintf(o, "L%.2f %.2f", x, y);
        }
    }
    if (open)
        fprintf(o, "\"/>");
    fputc('\n', o);
}

static void render_band(FILE *o, const frame *f, const item *it)
{
    fprintf(o, "<path fill=\"%s\" fill-opacity=\"%.2f\" stroke=\"none\" d=\"", it->s.color,
            it->s.opacity > 0 ? it->s.opacity : 0.25);
    int first = 1;
    for (int k = 0; k < it->n; k++)
        if (usable(it->x[k], f->logs[AX_X]) && usable(it->y2[k], f->logs[AX_Y])) {
            fprintf(o, "%c%.2f %.2f", first ? 'M' : 'L', map(f, AX_X, it->x[k]),
                    map(f, AX_Y, it->y2[k]));
            first = 0;
        }
    for (int k = it->n - 1; k >= 0; k--)
        if (usable(it->x[k], f->logs[AX_X]) && usable(it->y[k], f->logs[AX_Y])) {
            fprintf(o, "%c%.2f %.2f", first ? 'M' : 'L', map(f, AX_X, it->x[k]),
                    map(f, AX_Y, it->y[k]));
            first = 0;
        }
    fprintf(o, "Z\"/>\n");
}

static double clampd(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static void render_item(FILE *o, const frame *f, const item *it)
{
    double x0 = f->left, x1 = f->left + f->pw, y0 = f->top, y1 = f->top + f->ph;
    switch (it->kind) {
    case IT_VSPAN: {
        if (!usable(it->a, f->logs[AX_X]) || !usable(it->b, f->logs[AX_X]))
            return;
        double a = clampd(map(f, AX_X, it->a), x0, x1), b = clampd(map(f, AX_X, it->b), x0, x1);
        fprintf(o, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\" "
                   "fill-opacity=\"%.2f\"/>\n",
                a, y0, b - a, f->ph, it->s.color, it->s.opacity > 0 ? it->s.opacity : 0.2);
        return;
    }
    case IT_HSPAN: {
        if (!usable(it->a, f->logs[AX_Y]) || !usable(it->b, f->logs[AX_Y]))
            return;
        double a = clampd(map(f, AX_Y, it->b), y0, y1), b = clampd(map(f, AX_Y, it->a), y0, y1);
        fprintf(o, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\" "
                   "fill-opacity=\"%.2f\"/>\n",
                x0, a, f->pw, b - a, it->s.color, it->s.opacity > 0 ? it->s.opacity : 0.2);
        return;
    }
    case IT_VLINE:
    case IT_HLINE: {
        int v = it->kind == IT_VLINE;
        if (!usable(it->a, f->logs[v ? AX_X : AX_Y]))
            return;
        double c = map(f, v ? AX_X : AX_Y, it->a);
        fprintf(o, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"", v ? c : x0, v ? y0 : c,
                v ? c : x1, v ? y1 : c);
        stroke_attrs(o, &it->s);
        fprintf(o, "/>\n");
        return;
    }
    case IT_BAND: render_band(o, f, it); return;
    case IT_LINE: render_line(o, f, it); return;
    case IT_HIST:
        for (int k = 0; k < it->n; k++) {
            if (it->y[k] <= 0)
                continue;
            double a = map(f, AX_X, it->x[k]), b = map(f, AX_X, it->x[k + 1]);
            double top = map(f, AX_Y, it->y[k]), base = map(f, AX_Y, f->logs[AX_Y] ? f->lo[AX_Y]
                                                                                   : fmax(0, f->lo[AX_Y]));
            fprintf(o, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\" "
                       "fill-opacity=\"0.75\" stroke=\"white\" stroke-width=\"0.5\"/>\n",
                    a, top, b - a, base - top, it->s.color);
        }
        return;
    case IT_SCATTER:
        for (int k = 0; k < it->n; k++) {
            if (!usable(it->x[k], f->logs[AX_X]) || !usable(it->y[k], f->logs[AX_Y]))
                continue;
            marker(o, it->s.marker, map(f, AX_X, it->x[k]), map(f, AX_Y, it->y[k]), it->s.size,
                   &it->s, it->titles ? it->titles[k] : NULL);
        }
        fputc('\n', o);
        return;
    case IT_TEXT: {
        if (!usable(it->a, f->logs[AX_X]) || !usable(it->b, f->logs[AX_Y]))
            return;
        char esc[512];
        svg_escape(it->text, esc, sizeof esc);
        static const char *anchors[] = {"start", "middle", "end"};
        fprintf(o, "<text x=\"%.2f\" y=\"%.2f\" font-size=\"%.1f\" fill=\"%s\" "
                   "text-anchor=\"%s\">%s</text>\n",
                map(f, AX_X, it->a) + it->dx, map(f, AX_Y, it->b) + it->dy, it->tsize,
                it->s.color, anchors[it->anchor], esc);
        return;
    }
    }
}

static void render_axes(FILE *o, const svg_plot *p, const frame *f)
{
    double t[64];
    char buf[64], esc[256];
    for (int a = 0; a < 2; a++) {
        const axis *ax = &p->ax[a];
        int n = svg_ticks(f->lo[a], f->hi[a], ax->scale, t, 64);
        double step = n > 1 ? t[1] - t[0] : 0;
        for (int k = 0; k < n; k++) {
            double c = map(f, a, t[k]);
            fmt_tick(ax, t[k], step, buf, sizeof buf);
            svg_escape(buf, esc, sizeof esc);
            if (a == AX_X)
                fprintf(o, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#333\"/>"
                           "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" "
                           "font-size=\"%.1f\" fill=\"#333\">%s</text>\n",
                        c, f->top + f->ph, c, f->top + f->ph + 5, c, f->top + f->ph + 17, FONT - 1,
                        esc);
            else
                fprintf(o, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#333\"/>"
                           "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"end\" font-size=\"%.1f\" "
                           "fill=\"#333\">%s</text>\n",
                        f->left - 5, c, f->left, c, f->left - 8, c + 4, FONT - 1, esc);
        }
        /* minor ticks at 2..9 of each decade */
        if (ax->scale == SVG_LOG10 && log10(f->hi[a] / f->lo[a]) <= 8) {
            for (int d = (int)floor(log10(f->lo[a])); d <= (int)ceil(log10(f->hi[a])); d++)
                for (int m = 2; m <= 9; m++) {
                    double v = m * pow(10, d);
                    if (v < f->lo[a] || v > f->hi[a])
                        continue;
                    double c = map(f, a, v);
                    if (a == AX_X)
                        fprintf(o, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" "
                                   "stroke=\"#777\"/>",
                                c, f->top + f->ph, c, f->top + f->ph + 3);
                    else
                        fprintf(o, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" "
                                   "stroke=\"#777\"/>",
                                f->left - 3, c, f->left, c);
                }
            fputc('\n', o);
        }
    }
    fprintf(o, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"none\" "
               "stroke=\"#333\"/>\n",
            f->left, f->top, f->pw, f->ph);
    if (p->ax[AX_X].label) {
        svg_escape(p->ax[AX_X].label, esc, sizeof esc);
        fprintf(o, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" font-size=\"%.1f\" "
                   "fill=\"#111\">%s</text>\n",
                f->left + f->pw / 2, f->top + f->ph + 35, FONT + 0.5, esc);
    }
    if (p->ax[AX_Y].label) {
        svg_escape(p->ax[AX_Y].label, esc, sizeof esc);
        double cx = 15, cy = f->top + f->ph / 2;
        fprintf(o, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" font-size=\"%.1f\" "
                   "fill=\"#111\" transform=\"rotate(-90 %.2f %.2f)\">%s</text>\n",
                cx, cy, FONT + 0.5, cx, cy, esc);
    }
}

static void render_grid(FILE *o, const svg_plot *p, const frame *f)
{
    double t[64];
    for (int a = 0; a < 2; a++) {
        int n = svg_ticks(f->lo[a], f->hi[a], p->ax[a].scale, t, 64);
        for (int k = 0; k < n; k++) {
            double c = map(f, a, t[k]);
            if (a == AX_X)
                fprintf(o, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" "
                           "stroke=\"#e6e6e6\"/>",
                        c, f->top, c, f->top + f->ph);
            else
                fprintf(o, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" "
                           "stroke=\"#e6e6e6\"/>",
                        f->left, c, f->left + f->pw, c);
        }
    }
    fputc('\n', o);
}

static void legend_entry(FILE *o, const item *it, double sx, double sy)
{
    char esc[512];
    switch (it->kind) {
    case IT_SCATTER: marker(o, it->s.marker, sx + 8, sy, fmin(it->s.size, 5), &it->s, NULL); break;
    case IT_LINE:
    case IT_VLINE:
    case IT_HLINE:
        fprintf(o, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"", sx, sy, sx + 16, sy);
        stroke_attrs(o, &it->s);
        fprintf(o, "/>");
        break;
    default:
        fprintf(o, "<rect x=\"%.2f\" y=\"%.2f\" width=\"16\" height=\"9\" fill=\"%s\" "
                   "fill-opacity=\"%.2f\"/>",
                sx, sy - 4.5, it->s.color,
                it->kind == IT_HIST ? 0.75 : it->s.opacity > 0 ? fmin(1, it->s.opacity * 1.6)
                                                               : 0.35);
    }
    svg_escape(it->label, esc, sizeof esc);
    fprintf(o, "<text x=\"%.2f\" y=\"%.2f\" font-size=\"%.1f\" fill=\"#222\">%s</text>\n",
            sx + 22, sy + 4, FONT - 1, esc);
}

static int legend_count(const svg_plot *p, size_t *longest)
{
    int n = 0;
    *longest = p->legend_title ? strlen(p->legend_title) : 0;
    for (int i = 0; i < p->nit; i++)
        if (p->it[i].label) {
            n++;
            size_t l = strlen(p->it[i].label);
            *longest = l > *longest ? l : *longest;
        }
    return n;
}

enum { LEGEND_ROW = 15 };

/* Columns of a legend under the plot: as many as asked for that fit. */
static int legend_columns(const svg_plot *p, size_t longest)
{
    double need = 30 + CHAR_W * (FONT - 1) * (double)longest + 10;
    int fit = (int)((p->w - 24) / need);
    int c = p->legend_cols < fit ? p->legend_cols : fit;
    return c < 1 ? 1 : c;
}

/* Height the legend adds under the plot (0 for an inside legend). */
static double legend_below_height(const svg_plot *p)
{
    size_t longest;
    int n = legend_count(p, &longest);
    if (p->legend_cols <= 0 || n == 0)
        return 0;
    int cols = legend_columns(p, longest);
    int rows = (n + cols - 1) / cols + (p->legend_title ? 1 : 0);
    return rows * LEGEND_ROW + 10;
}

static void render_legend_below(FILE *o, const svg_plot *p)
{
    size_t longest;
    int n = legend_count(p, &longest);
    if (n == 0)
        return;
    int cols = legend_columns(p, longest);
    double colw = (p->w - 24) / cols, y = p->h + 4;
    char esc[512];
    fprintf(o, "<g class=\"legend\">\n");
    if (p->legend_title) {
        svg_escape(p->legend_title, esc, sizeof esc);
        fprintf(o, "<text x=\"16\" y=\"%.2f\" font-size=\"%.1f\" font-weight=\"bold\" "
                   "fill=\"#111\">%s</text>\n",
                y + 4, FONT - 1, esc);
        y += LEGEND_ROW;
    }
    int k = 0, rows = (n + cols - 1) / cols;
    for (int i = 0; i < p->nit; i++) {
        if (!p->it[i].label)
            continue;
        int c = k / rows, r = k % rows; /* fill column by column */
        legend_entry(o, &p->it[i], 12 + c * colw, y + r * LEGEND_ROW);
        k++;
    }
    fprintf(o, "</g>\n");
}

/* Legend in the inner corner that covers the fewest data points. */
static void render_legend(FILE *o, const svg_plot *p, const frame *f)
{
    if (p->legend_cols > 0) {
        render_legend_below(o, p);
        return;
    }
    size_t longest;
    int n = legend_count(p, &longest);
    if (n == 0)
        return;
    double row = LEGEND_ROW, lw = 30 + CHAR_W * (FONT - 1) * (double)longest + 8;
    double lh = row * (n + (p->legend_title ? 1 : 0)) + 8;
    double best_x = 0, best_y = 0;
    long best = -1;
    for (int c = 0; c < 4; c++) {
        double bx = c & 1 ? f->left + 6 : f->left + f->pw - lw - 6;
        double by = c & 2 ? f->top + f->ph - lh - 6 : f->top + 6;
        long cnt = 0;
        for (int i = 0; i < p->nit; i++) {
            const item *it = &p->it[i];
            if (it->kind != IT_SCATTER && it->kind != IT_LINE && it->kind != IT_BAND &&
                it->kind != IT_TEXT)
                continue;
            int npt = it->kind == IT_TEXT ? 1 : it->n;
            for (int k = 0; k < npt; k++) {
                double xv = it->kind == IT_TEXT ? it->a : it->x[k];
                double yv = it->kind == IT_TEXT ? it->b : it->y[k];
                if (!usable(xv, f->logs[AX_X]) || !usable(yv, f->logs[AX_Y]))
                    continue;
                double x = map(f, AX_X, xv), y = map(f, AX_Y, yv);
                int w = it->kind == IT_SCATTER ? 4 : it->kind == IT_TEXT ? 3 : 1;
                if (x >= bx - 4 && x <= bx + lw + 4 && y >= by - 4 && y <= by + lh + 4)
                    cnt += w;
            }
        }
        if (best < 0 || cnt < best) {
            best = cnt;
            best_x = bx;
            best_y = by;
        }
    }
    fprintf(o, "<g class=\"legend\"><rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" "
               "fill=\"white\" fill-opacity=\"0.88\" stroke=\"#bbb\" rx=\"3\"/>\n",
            best_x, best_y, lw, lh);
    double y = best_y + 4 + row / 2;
    char esc[512];
    if (p->legend_title) {
        svg_escape(p->legend_title, esc, sizeof esc);
        fprintf(o, "<text x=\"%.2f\" y=\"%.2f\" font-size=\"%.1f\" font-weight=\"bold\" "
                   "fill=\"#111\">%s</text>\n",
                best_x + 6, y + 4, FONT - 1, esc);
        y += row;
    }
    for (int i = 0; i < p->nit; i++) {
        if (!p->it[i].label)
            continue;
        legend_entry(o, &p->it[i], best_x + 8, y);
        y += row;
    }
    fprintf(o, "</g>\n");
}

char *svg_render(svg_plot *p, size_t *len)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *o = open_memstream(&buf, &n);
    if (!o)
        return NULL;
    frame f;
    f.left = 64;
    f.top = p->title ? 30 : 12;
    f.pw = p->w - f.left - 16;
    f.ph = p->h - f.top - 48;
    for (int a = 0; a < 2; a++) {
        f.logs[a] = p->ax[a].scale == SVG_LOG10;
        axis_range(p, a, &f.lo[a], &f.hi[a]);
    }
    char esc[512];
    double total_h = p->h + legend_below_height(p);
    fprintf(o, "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"%s\" width=\"%.0f\" height=\"%.0f\" "
               "viewBox=\"0 0 %.0f %.0f\" font-family=\"%s\" role=\"img\">\n",
            p->id, p->w, total_h, p->w, total_h, FONT_FAMILY);
    if (p->title) {
        svg_escape(p->title, esc, sizeof esc);
        fprintf(o, "<title>%s</title>\n", esc);
    }
    fprintf(o, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(o, "<defs><clipPath id=\"%s-clip\"><rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
               "height=\"%.2f\"/></clipPath></defs>\n",
            p->id, f.left, f.top, f.pw, f.ph);
    render_grid(o, p, &f);
    fprintf(o, "<g clip-path=\"url(#%s-clip)\">\n", p->id);
    static const item_kind order[] = {IT_VSPAN, IT_HSPAN, IT_BAND, IT_HIST, IT_VLINE,
                                      IT_HLINE, IT_LINE,  IT_SCATTER};
    for (size_t l = 0; l < sizeof order / sizeof *order; l++)
        for (int i = 0; i < p->nit; i++)
            if (p->it[i].kind == order[l])
                render_item(o, &f, &p->it[i]);
    fprintf(o, "</g>\n");
    for (int i = 0; i < p->nit; i++)
        if (p->it[i].kind == IT_TEXT)
            render_item(o, &f, &p->it[i]);
    render_axes(o, p, &f);
    render_legend(o, p, &f);
    if (p->title) {
        svg_escape(p->title, esc, sizeof esc);
        fprintf(o, "<text x=\"%.2f\" y=\"19\" font-size=\"%.1f\" font-weight=\"bold\" "
                   "fill=\"#111\">%s</text>\n",
                f.left, FONT + 1.5, esc);
    }
    fprintf(o, "</svg>\n");
    if (fclose(o) != 0) {
        free(buf);
        return NULL;
    }
    if (len)
        *len = n;
    return buf;
}
