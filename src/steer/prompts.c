#include "steer/prompts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"

static int push(prompt_set *p, int *cap, char *s)
{
    if (!s)
        return -1;
    if (p->n == *cap) {
        int nc = *cap ? *cap * 2 : 64;
        char **t = realloc(p->text, (size_t)nc * sizeof *t);
        if (!t) {
            free(s);
            return -1;
        }
        p->text = t;
        *cap = nc;
    }
    p->text[p->n++] = s;
    return 0;
}

/* Copies a line, turning the two characters '\' 'n' into a newline. */
static char *unescape_line(const char *s, size_t n)
{
    char *out = malloc(n + 1), *w = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n && s[i + 1] == 'n') {
            *w++ = '\n';
            i++;
        } else {
            *w++ = s[i];
        }
    }
    *w = 0;
    return out;
}

int prompts_read(const char *path, prompt_set *p, cape_err *e)
{
    memset(p, 0, sizeof *p);
    size_t len;
    char *buf = file_read_all(path, &len, e);
    if (!buf)
        return e->code;
    if (memchr(buf, 0, len)) {
        free(buf);
        return err_set(e, CAPE_EINPUT, "%s: contains a NUL byte; expected text", path);
    }
    int cap = 0;
    for (char *line = buf; line < buf + len;) {
        char *nl = memchr(line, '\n', (size_t)(buf + len - line));
        size_t n = nl ? (size_t)(nl - line) : (size_t)(buf + len - line);
        if (n && line[n - 1] == '\r')
            n--;
        size_t k = 0;
        while (k < n && (line[k] == ' ' || line[k] == '\t'))
            k++;
        if (k < n && push(p, &cap, unescape_line(line, n))) {
            free(buf);
            prompts_free(p);
            return err_set(e, CAPE_EFAIL, "out of memory");
        }
        if (!nl)
            break;
        line = nl + 1;
    }
    free(buf);
    if (p->n == 0)
        return err_set(e, CAPE_EINPUT, "%s: no prompts (one per line expected)", path);
    return 0;
}

int prompts_from_tqa(const tqa_set *s, const int *idx, int n, prompt_set *t, prompt_set *u,
                     cape_err *e)
{
    memset(t, 0, sizeof *t);
    memset(u, 0, sizeof *u);
    int ct = 0, cu = 0;
    for (int i = 0; i < n; i++) {
        const tqa_item *it = &s->item[idx ? idx[i] : i];
        char *a = NULL, *b = NULL;
        if (asprintf(&a, "Q: %s\nA: %s", it->question, it->true_ans[it->best_index]) < 0)
            a = NULL;
        if (asprintf(&b, "Q: %s\nA: %s", it->question, it->false_ans[0]) < 0)
            b = NULL;
        if (push(t, &ct, a) || push(u, &cu, b)) {
            prompts_free(t);
            prompts_free(u);
            return err_set(e, CAPE_EFAIL, "out of memory");
        }
    }
    return 0;
}

void prompts_free(prompt_set *p)
{
    for (int i = 0; i < p->n; i++)
        free(p->text[i]);
    free(p->text);
    memset(p, 0, sizeof *p);
}
