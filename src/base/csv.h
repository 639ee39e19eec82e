/* csv: RFC 4180 reader (quoted fields, doubled quotes, CRLF, UTF-8 BOM).
 * Every row remembers the line it starts on so errors can name file:line:col. */
#ifndef CAPE_CSV_H
#define CAPE_CSV_H

#include <stddef.h>

#include "base/err.h"

typedef struct {
    char **field;
    int nfield;
    int line; /* 1-based line of the row's first character */
} csv_row;

typedef struct {
    char *name; /* file name used in messages */
    csv_row *row; /* row[0] is the header */
    int nrow;
    char *store; /* all field text, NUL-separated */
} csv_table;

/* Parses `len` bytes. Rows with a different field count than the header, bare
 * quotes inside unquoted fields, unterminated quotes, NUL bytes and an empty
 * input are errors (CAPE_EINPUT). Blank lines are skipped. */
int csv_parse(const char *buf, size_t len, const char *name, csv_table *t, cape_err *e);
/* The same with another field separator (',' '\t' ';'); sep 0 sniffs it
 * with csv_sniff_sep. */
int csv_parse_sep(const char *buf, size_t len, const char *name, char sep, csv_table *t,
                  cape_err *e);
/* The separator of the header line: ',' when it has a comma (outside quotes)
 * or none of tab/semicolon; otherwise the more frequent of tab and ';'. */
char csv_sniff_sep(const char *buf, size_t len);
int csv_read_file(const char *path, csv_table *t, cape_err *e);
void csv_free(csv_table *t);

#endif
