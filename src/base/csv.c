#include "base/csv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"

typedef struct {
    const char *p, *end;
    int line, col;
    char sep;
} cursor;

static int grow_rows(csv_table *t, int *cap)
{
    if (t->nrow < *cap)
        return 0;
    int ncap = *cap ? *cap * 2 : 64;
    csv_row *r = realloc(t->row, (size_t)ncap * sizeof *r);
    if (!r)
        return -1;
    t->row = r;
    *cap = ncap;
    return 0;
}

static void advance(cursor *c)
{
    if (*c->p == '\n') {
        c->line++;
        c->col = 1;
    } else {
        c->col++;
    }
    c->p++;
}

/* Parses one field at c into out (NUL-terminated); returns the terminator:
 * ',' , '\n' or 0 at end of input; -1 on error. */
static int parse_field(cursor *c, char **out, const char *name, cape_err *e)
{
    char *w = *out;
    if (c->p < c->end && *c->p == '"') {
        int qline = c->line, qcol = c->col;
        advance(c);
        for (;;) {
            if (c->p >= c->end)
                return err_set(e, CAPE_EINPUT, "%s:%d:%d: unterminated quoted field", name,
                               qline, qcol),
                       -1;
            if (*c->p == '"') {
                if (c->p + 1 < c->end && c->p[1] == '"') {
                    *w++ = '"';
                    advance(c);
                    advance(c);
                    continue;
                }
                advance(c);
                break;
            }
            *w++ = *c->p;
            advance(c);
        }
        if (c->p < c->end && *c->p == '\r')
            advance(c);
        if (c->p < c->end && *c->p != c->sep && *c->p != '\n')
            return err_set(e, CAPE_EINPUT,
                           "%s:%d:%d: expected '%s' or end of line after a closing quote", name,
                           c->line, c->col, c->sep == '\t' ? "\\t" : (char[]){c->sep, 0}),
                   -1;
    } else {
        while (c->p < c->end && *c->p != c->sep && *c->p != '\n') {
            if (*c->p == '"')
                return err_set(e, CAPE_EINPUT,
                               "%s:%d:%d: quote inside an unquoted field (quote the whole field)",
                               name, c->line, c->col),
                       -1;
            if (*c->p == '\r' && (c->p + 1 == c->end || c->p[1] == '\n')) {
                advance(c);
                continue;
            }
            *w++ = *c->p;
            advance(c);
        }
    }
    *w++ = 0;
    *out = w;
    if (c->p >= c->end)
        return 0;
    int term = *c->p;
    advance(c);
    return term;
}

static int is_blank_line(const cursor *c)
{
    const char *q = c->p;
    while (q < c->end && (*q == ' ' || *q == '\t' || *q == '\r'))
        q++;
    return q >= c->end || *q == '\n';
}

char csv_sniff_sep(const char *buf, size_t len)
{
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) {
        buf += 3;
        len -= 3;
    }
    /* the first non-blank line is the header */
    const char *p = buf, *end = buf + len;
    while (p < end && (*p == '\n' || *p == '\r' || *p == ' '))
        p++;
    int comma = 0, tab = 0, semi = 0, quoted = 0;
    for (; p < end && (*p != '\n' || quoted); p++) {
        if (*p == '"')
            quoted = !quoted;
        else if (!quoted)
            comma += *p == ',', tab += *p == '\t', semi += *p == ';';
    }
    if (comma > 0 || (tab == 0 && semi == 0))
        return ',';
    return tab >= semi ? '\t' : ';';
}

int csv_parse(const char *buf, size_t len, const char *name, csv_table *t, cape_err *e)
{
    return csv_parse_sep(buf, len, name, ',', t, e);
}

int csv_parse_sep(const char *buf, size_t len, const char *name, char sep, csv_table *t,
                  cape_err *e)
{
    memset(t, 0, sizeof *t);
    t->name = strdup(name ? name : "<input>");
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) {
        buf += 3;
        len -= 3;
    }
    if (memchr(buf, 0, len)) {
        csv_free(t);
        return err_set(e, CAPE_EINPUT, "%s: contains a NUL byte; not a text CSV file", name);
    }
    t->store = malloc(2 * len + 2); /* each field adds at most one NUL */
    if (!t->store || !t->name) {
        csv_free(t);
        return err_set(e, CAPE_EFAIL, "%s: out of memory", name);
    }
    cursor c = {buf, buf + len, 1, 1, sep ? sep : csv_sniff_sep(buf, len)};
    char *w = t->store;
    int cap = 0, fcap = 0;
    char **fields = NULL;
    int rc = 0;
    while (c.p < c.end) {
        if (is_blank_line(&c)) {
            while (c.p < c.end && *c.p != '\n')
                advance(&c);
            if (c.p < c.end)
                advance(&c);
            continue;
        }
        int line = c.line, nf = 0, term;
        do {
            if (nf == fcap) {
                fcap = fcap ? fcap * 2 : 16;
                char **nfld = realloc(fields, (size_t)fcap * sizeof *nfld);
                if (!nfld) {
                    rc = err_set(e, CAPE_EFAIL, "%s: out of memory", name);
                    goto done;
                }
                fields = nfld;
            }
            fields[nf++] = w;
            term = parse_field(&c, &w, name, e);
            if (term < 0) {
                rc = CAPE_EINPUT;
                goto done;
            }
        } while (term == c.sep);
        if (t->nrow > 0 && nf != t->row[0].nfield) {
            rc = err_set(e, CAPE_EINPUT, "%s:%d:1: expected %d fields as in the header, found %d",
                         name, line, t->row[0].nfield, nf);
            goto done;
        }
        if (grow_rows(t, &cap)) {
            rc = err_set(e, CAPE_EFAIL, "%s: out of memory", name);
            goto done;
        }
        csv_row *r = &t->row[t->nrow++];
        r->line = line;
        r->nfield = nf;
        r->field = malloc((size_t)nf * sizeof(char *));
        if (!r->field) {
            t->nrow--;
            rc = err_set(e, CAPE_EFAIL, "%s: out of memory", name);
            goto done;
        }
        memcpy(r->field, fields, (size_t)nf * sizeof(char *));
    }
    if (t->nrow == 0)
        rc = err_set(e, CAPE_EINPUT, "%s:1:1: empty file; expected a header line", name);
done:
    free(fields);
    if (rc)
        csv_free(t);
    return rc;
}

int csv_read_file(const char *path, csv_table *t, cape_err *e)
{
    size_t len;
    char *buf = file_read_all(path, &len, e);
    if (!buf) {
        memset(t, 0, sizeof *t);
        return e->code;
    }
    int rc = csv_parse(buf, len, path, t, e);
    free(buf);
    return rc;
}

void csv_free(csv_table *t)
{
    for (int i = 0; i < t->nrow; i++)
        free(t->row[i].field);
    free(t->row);
    free(t->store);
    free(t->name);
    memset(t, 0, sizeof *t);
}
