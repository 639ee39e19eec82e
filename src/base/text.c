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

char *text_utf8_copyn(const char *s, size_t n, size_t *out_len)
{
    char *o = malloc(3 * n + 1);
    size_t k = 0;
    if (!o)
        return NULL;
    for (size_t i = 0; i < n;) {
        unsigned char b = (unsigned char)s[i];
        int need = 0;
        unsigned char lo = 0x80, hi = 0xbf;
        if (b < 0x80) {
            o[k++] = (char)b;
            i++;
            continue;
        }
        if (b >= 0xc2 && b <= 0xdf)
            need = 1;
        else if (b >= 0xe0 && b <= 0xef)
            need = 2, lo = b == 0xe0 ? 0xa0 : 0x80, hi = b == 0xed ? 0x9f : 0xbf;
        else if (b >= 0xf0 && b <= 0xf4)
            need = 3, lo = b == 0xf0 ? 0x90 : 0x80, hi = b == 0xf4 ? 0x8f : 0xbf;
        /* the longest prefix of a valid sequence starting here */
        size_t j = 1;
        while (need && (int)j <= need && i + j < n) {
            unsigned char c = (unsigned char)s[i + j];
            if (c < (j == 1 ? lo : 0x80) || c > (j == 1 ? hi : 0xbf))
                break;
            j++;
        }
        if (need && (int)j == need + 1) {
            memcpy(o + k, s + i, j);
            k += j;
        } else {
            memcpy(o + k, "\xef\xbf\xbd", 3);
            k += 3;
        }
        i += j;
    }
    o[k] = 0;
    if (out_len)
        *out_len = k;
    return o;
}

char *text_utf8_copy(const char *s)
{
    return text_utf8_copyn(s, strlen(s), NULL);
}
