#include "base/text.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *skip_blank(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

static int only_blank(const char *s)
{
    return *skip_blank(s) == 0;
}

int text_is_blank(const char *s)
{
    return !s || only_blank(s);
}

int text_parse_double(const char *s, double *out)
{
    s = skip_blank(s);
    if (!*s)
        return -1;
    /* strtod accepts "nan", "inf" and hex floats; a score table should not. */
    for (const char *q = s; *q && *q != ' ' && *q != '\t'; q++)
        if (!(isdigit((unsigned char)*q) || *q == '.' || *q == '-' || *q == '+' || *q == 'e' ||
              *q == 'E'))
            return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno == ERANGE || !only_blank(end) || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

int text_parse_int(const char *s, long *out)
{
    s = skip_blank(s);
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || errno == ERANGE || !only_blank(end))
        return -1;
    *out = v;
    return 0;
}

int text_parse_size(const char *s, double bare_unit, double *out, int *had_suffix)
{
    char buf[64];
    s = skip_blank(s);
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, s, n);
    buf[n] = 0;
    double mult = 0;
    char last = (char)toupper((unsigned char)buf[n - 1]);
    switch (last) {
    case 'K': mult = 1e3; break;
    case 'M': mult = 1e6; break;
    case 'B':
    case 'G': mult = 1e9; break;
    case 'T': mult = 1e12; break;
    default: break;
    }
    if (mult)
        buf[--n] = 0;
    double v;
    if (text_parse_double(buf, &v))
        return -1;
    *out = v * (mult ? mult : bare_unit);
    if (had_suffix)
        *had_suffix = mult != 0;
    return 0;
}

void text_normalise(const char *in, char *out, size_t outsz)
{
    size_t k = 0;
    for (; *in && k + 1 < outsz; in++)
        if (isalnum((unsigned char)*in))
            out[k++] = (char)tolower((unsigned char)*in);
    out[k] = 0;
}

void text_format_size(double n, char *out, size_t outsz)
{
    static const struct {
        double scale;
        const char *unit;
    } units[] = {{1e12, "T"}, {1e9, "B"}, {1e6, "M"}, {1e3, "k"}};
    if (!(n < 1e15)) { /* beyond any model: say so in scientific notation */
        snprintf(out, outsz, "%.3g", n);
        return;
    }
    for (size_t i = 0; i < sizeof units / sizeof *units; i++) {
        if (n >= units[i].scale) {
            double v = n / units[i].scale;
            if (fabs(v - round(v)) < 1e-9 * v)
                snprintf(out, outsz, "%.0f%s", v, units[i].unit);
            else
                snprintf(out, outsz, "%.3g%s", v, units[i].unit);
            return;
        }
    }
    snprintf(out, outsz, "%.3g", n);
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF). */
static int utf8_seq(const unsigned char *p)
{
    unsigned c = p[0];
    if (c < 0x80)
        return 1;
    int n = c >= 0xC2 && c <= 0xDF   ? 2
            : c >= 0xE0 && c <= 0xEF ? 3
            : c >= 0xF0 && c <= 0xF4 ? 4
                                     : 0;
    if (!n)
        return 0;
    for (int k = 1; k < n; k++)
        if ((p[k] & 0xC0) != 0x80)
            return 0;
    if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] > 0x9F) || (c == 0xF0 && p[1] < 0x90) ||
        (c == 0xF4 && p[1] > 0x8F))
        return 0;
    return n;
}

char *text_utf8_copy(const char *s)
{
    size_t len = strlen(s);
    char *out = malloc(3 * len + 1), *w = out;
    if (!out)
        return NULL;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n = utf8_seq(p);
        if (n) {
            memcpy(w, p, (size_t)n);
            w += n;
            p += n;
        } else {
            memcpy(w, "\xEF\xBF\xBD", 3);
            w += 3;
            p++;
        }
    }
    *w = 0;
    return out;
}
