/* html: a self-contained HTML document (inline CSS, inline SVG, no scripts,
 * fonts or other resources fetched), written section by section. */
#ifndef CAPE_HTML_H
#define CAPE_HTML_H

#include <stddef.h>

typedef struct html_doc html_doc;

html_doc *html_new(const char *title, const char *subtitle);
void html_free(html_doc *d);

void html_heading(html_doc *d, int level, const char *text);
/* A paragraph of plain text (escaped). */
void html_para(html_doc *d, const char *text);
/* Trusted markup, written as is. */
void html_raw(html_doc *d, const char *markup);
/* <figure id=...> holding one or more SVG documents side by side and a
 * caption (plain text, escaped). */
void html_figure(html_doc *d, const char *id, const char *const *svgs, int nsvg,
                 const char *caption);
/* Tables of plain-text cells; the header row is escaped too. */
void html_table_begin(html_doc *d, const char *const *headers, int n);
void html_table_row(html_doc *d, const char *const *cells, int n);
void html_table_end(html_doc *d);

/* Closes the document and returns it (caller frees); NULL when out of memory. */
char *html_finish(html_doc *d, size_t *len);

/* HTML-escapes text into buf (always NUL-terminated). */
void html_escape(const char *in, char *buf, size_t n);

#endif
