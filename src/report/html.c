#include "report/html.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct html_doc {
    FILE *fp;
    char *buf;
    size_t len;
};

static const char *CSS =
    "body{margin:0;background:#f6f6f4;color:#1d1d1d;font:14px/1.45 'DejaVu Sans',Helvetica,"
    "Arial,sans-serif}\n"
    "main{max-width:1220px;margin:0 auto;padding:18px 22px 40px}\n"
    "h1{font-size:22px;margin:8px 0 2px}h2{font-size:17px;margin:26px 0 8px;border-bottom:1px "
    "solid #ccc;padding-bottom:3px}\n"
    ".sub{color:#555;margin:0 0 12px}\n"
    ".figs{display:flex;flex-wrap:wrap;gap:16px}\n"
    "figure{margin:0;background:#fff;border:1px solid #ddd;border-radius:4px;padding:8px 8px 6px;"
    "flex:1 1 560px;max-width:1180px;box-sizing:border-box}\n"
    "figure.wide{flex-basis:100%}\n"
    "figure .panels{display:flex;flex-wrap:wrap;gap:6px;justify-content:center;align-items:flex-start}\n"
    "figure svg{max-width:100%;height:auto}\n"
    "figcaption{font-size:12.5px;color:#333;margin-top:4px}\n"
    "table{border-collapse:collapse;background:#fff;font-size:13px;margin:6px 0 10px}\n"
    "th,td{border:1px solid #d4d4d4;padding:3px 8px;text-align:left;vertical-align:top}\n"
    "th{background:#eee}td.num{text-align:right;font-variant-numeric:tabular-nums}\n"
    ".ok{color:#1a7f37}.no{color:#b42318}\n"
    "footer{margin-top:28px;color:#666;font-size:12px}\n";

void html_escape(const char *in, char *buf, size_t n)
{
    size_t k = 0;
    for (const char *s = in; s && *s && k + 7 < n; s++) {
        const char *rep = *s == '<' ? "&lt;" : *s == '>' ? "&gt;" : *s == '&' ? "&amp;"
                          : *s == '"' ? "&quot;" : NULL;
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

static void put_escaped(FILE *fp, const char *s)
{
    char buf[4096];
    html_escape(s, buf, sizeof buf);
    fputs(buf, fp);
}

html_doc *html_new(const char *title, const char *subtitle)
{
    html_doc *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->fp = open_memstream(&d->buf, &d->len);
    if (!d->fp) {
        free(d);
        return NULL;
    }
    fprintf(d->fp, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                   "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n"
                   "<title>");
    put_escaped(d->fp, title);
    fprintf(d->fp, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<main>\n<h1>", CSS);
    put_escaped(d->fp, title);
    fprintf(d->fp, "</h1>\n");
    if (subtitle) {
        fprintf(d->fp, "<p class=\"sub\">");
        put_escaped(d->fp, subtitle);
        fprintf(d->fp, "</p>\n");
    }
    return d;
}

void html_free(html_doc *d)
{
    if (!d)
        return;
    if (d->fp)
        fclose(d->fp);
    free(d->buf);
    free(d);
}

void html_heading(html_doc *d, int level, const char *text)
{
    level = level < 2 ? 2 : level > 4 ? 4 : level;
    fprintf(d->fp, "<h%d>", level);
    put_escaped(d->fp, text);
    fprintf(d->fp, "</h%d>\n", level);
}

void html_para(html_doc *d, const char *text)
{
    fprintf(d->fp, "<p>");
    put_escaped(d->fp, text);
    fprintf(d->fp, "</p>\n");
}

void html_raw(html_doc *d, const char *markup)
{
    fputs(markup, d->fp);
}

void html_figure(html_doc *d, const char *id, const char *const *svgs, int nsvg,
                 const char *caption)
{
    fprintf(d->fp, "<figure id=\"%s\"%s>\n<div class=\"panels\">\n", id,
            nsvg > 1 ? " class=\"wide\"" : "");
    for (int i = 0; i < nsvg; i++)
        if (svgs[i])
            fputs(svgs[i], d->fp);
    fprintf(d->fp, "</div>\n<figcaption>");
    put_escaped(d->fp, caption);
    fprintf(d->fp, "</figcaption>\n</figure>\n");
}

void html_table_begin(html_doc *d, const char *const *headers, int n)
{
    fprintf(d->fp, "<table>\n<tr>");
    for (int i = 0; i < n; i++) {
        fprintf(d->fp, "<th>");
        put_escaped(d->fp, headers[i]);
        fprintf(d->fp, "</th>");
    }
    fprintf(d->fp, "</tr>\n");
}

void html_table_row(html_doc *d, const char *const *cells, int n)
{
    fprintf(d->fp, "<tr>");
    for (int i = 0; i < n; i++) {
        fprintf(d->fp, "<td>");
        put_escaped(d->fp, cells[i] ? cells[i] : "");
        fprintf(d->fp, "</td>");
    }
    fprintf(d->fp, "</tr>\n");
}

void html_table_end(html_doc *d)
{
    fprintf(d->fp, "</table>\n");
}

char *html_finish(html_doc *d, size_t *len)
{
    fprintf(d->fp, "</main>\n</body>\n</html>\n");
    if (fclose(d->fp) != 0) {
        d->fp = NULL;
        return NULL;
    }
    d->fp = NULL;
    char *out = d->buf;
    if (len)
        *len = d->len;
    d->buf = NULL;
    return out;
}
