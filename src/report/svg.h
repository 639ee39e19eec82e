/* svg: a small plotting library that writes standalone SVG: one plot area with
 * labelled axes (linear or log10, "nice" ticks, minor log ticks, size labels
 * such as 70M / 1B), scatter, lines, filled bands, spans, histograms, text,
 * and a legend placed in the emptiest corner. A plot collects items and
 * renders them in layers: grid, spans and bands, lines, markers, text, axes,
 * legend. Colours are CSS colour strings. */
#ifndef CAPE_SVG_H
#define CAPE_SVG_H

#include <stddef.h>

typedef struct svg_plot svg_plot;

typedef enum { SVG_LINEAR, SVG_LOG10 } svg_scale;
typedef enum {
    SVG_MARK_NONE,
    SVG_MARK_CIRCLE,
    SVG_MARK_SQUARE,
    SVG_MARK_TRIANGLE,
    SVG_MARK_DIAMOND
} svg_marker;
typedef enum { SVG_ANCHOR_START, SVG_ANCHOR_MIDDLE, SVG_ANCHOR_END } svg_anchor;

typedef struct {
    const char *color;  /* stroke, and marker fill unless fill is set */
    double width;       /* line width (1.5) */
    const char *dash;   /* SVG dash array such as "5 3"; NULL: solid */
    svg_marker marker;
    double size;        /* marker radius (3.5) */
    const char *fill;   /* marker fill; "none" for hollow markers */
    double opacity;     /* 0: opaque */
} svg_style;

typedef void (*svg_tick_format)(double v, char *buf, size_t n);

/* id: unique in the document that will hold the SVG (clip paths use it). */
svg_plot *svg_plot_new(const char *id, double width, double height);
void svg_plot_free(svg_plot *p);

void svg_title(svg_plot *p, const char *title);
/* label includes the unit, e.g. "HellaSwag (%)"; fmt NULL: plain numbers. */
void svg_axis_x(svg_plot *p, const char *label, svg_scale scale, svg_tick_format fmt);
void svg_axis_y(svg_plot *p, const char *label, svg_scale scale, svg_tick_format fmt);
/* Fixes an axis range (otherwise it covers every item, padded). */
void svg_range_x(svg_plot *p, double lo, double hi);
void svg_range_y(svg_plot *p, double lo, double hi);
void svg_legend_title(svg_plot *p, const char *title);
/* Puts the legend under the plot in ncol columns (the SVG grows taller)
 * instead of inside the emptiest corner. */
void svg_legend_below(svg_plot *p, int ncol);

/* Each call copies its data. label NULL keeps the item out of the legend;
 * titles (may be NULL) become hover tooltips per point. Points with a
 * non-finite or, on a log axis, non-positive coordinate are skipped. */
int svg_scatter(svg_plot *p, const double *x, const double *y, int n, svg_style s,
                const char *label, const char *const *titles);
int svg_line(svg_plot *p, const double *x, const double *y, int n, svg_style s,
             const char *label);
/* Filled region between ylo and yhi along x. */
int svg_band(svg_plot *p, const double *x, const double *ylo, const double *yhi, int n,
             const char *color, double opacity, const char *label);
/* A vertical span x0..x1 (or a horizontal one) across the whole plot. */
int svg_vspan(svg_plot *p, double x0, double x1, const char *color, double opacity,
              const char *label);
int svg_hspan(svg_plot *p, double y0, double y1, const char *color, double opacity,
              const char *label);
int svg_vline(svg_plot *p, double x, svg_style s, const char *label);
int svg_hline(svg_plot *p, double y, svg_style s, const char *label);
/* Bars of a histogram of values into nbins equal bins over [lo, hi]
 * (lo >= hi: the data's range); on a log x axis the bins are equal in log10. */
int svg_histogram(svg_plot *p, const double *values, int n, int nbins, double lo, double hi,
                  const char *color, const char *label);
/* Text at data coordinates, offset by (dx, dy) pixels. */
int svg_text(svg_plot *p, double x, double y, double dx, double dy, const char *text,
             svg_anchor anchor, const char *color, double size);

/* Renders the plot; the caller frees the string. NULL when out of memory. */
char *svg_render(svg_plot *p, size_t *len);

/* Tick formats: 70M, 1.4B, 12B; percent with no decimals; plain %g. */
void svg_format_size(double v, char *buf, size_t n);
void svg_format_plain(double v, char *buf, size_t n);

/* Nice ticks for [lo, hi]: writes up to max tick values and returns the
 * count (exposed for tests). Linear: a 1-2-5 step; log: decades, with 2 and 5
 * within each decade when the range is under two decades. */
int svg_ticks(double lo, double hi, svg_scale scale, double *ticks, int max);

/* XML-escapes text into buf (always NUL-terminated). */
void svg_escape(const char *in, char *buf, size_t n);

#endif
