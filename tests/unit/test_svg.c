/* svg and html: ticks by hand, escaping, and rendered documents that are
 * well-formed XML (checked by a small tag-balance parser), never print NaN and
 * keep log axes away from non-positive values. */
#include "testutil.h"

#include <ctype.h>
#include <string.h>

#include "report/html.h"
#include "report/svg.h"

static void ticks_linear_and_log(void **state)
{
    (void)state;
    double t[32];
    int n = svg_ticks(0, 10, SVG_LINEAR, t, 32);
    assert_int_equal(n, 6);
    for (int i = 0; i < n; i++)
        assert_close(t[i], 2 * i, 1e-12);
    n = svg_ticks(-0.93, 0.41, SVG_LINEAR, t, 32); /* step 0.2 (1.34 / 5 -> 0.268 -> 0.2) */
    assert_int_equal(n, 7);
    assert_close(t[0], -0.8, 1e-12);
    assert_close(t[4], 0, 0);
    /* three decades: decades only */
    n = svg_ticks(5e7, 2e10, SVG_LOG10, t, 32);
    assert_int_equal(n, 3);
    assert_close(t[0], 1e8, 1);
    assert_close(t[2], 1e10, 1);
    /* one decade: 1-2-5 within decades */
    n = svg_ticks(1.5e9, 2.5e10, SVG_LOG10, t, 32);
    assert_int_equal(n, 4);
    assert_close(t[0], 2e9, 1);
    assert_close(t[1], 5e9, 1);
    assert_close(t[3], 2e10, 1);
    /* a narrow log range falls back to linear ticks on the values */
    n = svg_ticks(2.5e9, 3.5e9, SVG_LOG10, t, 32);
    assert_true(n >= 3);
    assert_close(t[1] - t[0], 2e8, 1);
}

static void formats_and_escaping(void **state)
{
    (void)state;
    char b[64];
    svg_format_size(7e7, b, sizeof b);
    assert_string_equal(b, "70M");
    svg_format_size(1.4e9, b, sizeof b);
    assert_string_equal(b, "1.4B");
    svg_format_size(1e12, b, sizeof b);
    assert_string_equal(b, "1T");
    svg_escape("a<b & \"c\" 'd'>", b, sizeof b);
    assert_string_equal(b, "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;");
    html_escape("<script>&", b, sizeof b);
    assert_string_equal(b, "&lt;script&gt;&amp;");
}

/* Checks that every start tag is closed in order (comments, <!DOCTYPE> and
 * void HTML elements aside). Returns the number of elements seen. */
static int balanced(const char *s)
{
    static const char *VOID[] = {"meta", "br", "img", "input", "link", "hr"};
    char stack[256][32];
    int depth = 0, count = 0;
    for (const char *p = s; (p = strchr(p, '<')); ) {
        if (strncmp(p, "<!--", 4) == 0) {
            p = strstr(p, "-->");
            assert_non_null(p);
            continue;
        }
        if (p[1] == '!') {
            p = strchr(p, '>');
            continue;
        }
        const char *end = strchr(p, '>');
        assert_non_null(end);
        int closing = p[1] == '/', selfc = end[-1] == '/';
        const char *nm = p + 1 + closing;
        size_t len = 0;
        while (isalnum((unsigned char)nm[len]) || nm[len] == '-')
            len++;
        assert_true(len > 0 && len < 32);
        char name[32];
        memcpy(name, nm, len);
        name[len] = 0;
        int is_void = 0;
        for (size_t k = 0; k < sizeof VOID / sizeof *VOID; k++)
            is_void |= strcmp(VOID[k], name) == 0;
        if (closing) {
            assert_true(depth > 0);
            if (strcmp(stack[depth - 1], name) != 0)
                fail_msg("</%s> closes <%s>", name, stack[depth - 1]);
            depth--;
        } else if (!selfc && !is_void) {
            assert_true(depth < 256);
            strcpy(stack[depth++], name);
            count++;
        } else {
            count++;
        }
        p = end;
    }
    assert_int_equal(depth, 0);
    return count;
}

static void rendered_svg_is_well_formed(void **state)
{
    (void)state;
    svg_plot *p = svg_plot_new("t1", 500, 360);
    svg_title(p, "Title with <angle> & \"quotes\"");
    svg_axis_x(p, "size (parameters)", SVG_LOG10, svg_format_size);
    svg_axis_y(p, "score (%)", SVG_LINEAR, NULL);
    double x[5] = {7e7, 4e8, -1, 2.8e9, 1.2e10}, y[5] = {27.3, 40.9, 50, NAN, 67.3};
    const char *titles[5] = {"a", "b<c", "neg", "nan", "e"};
    assert_int_equal(svg_scatter(p, x, y, 5, (svg_style){.color = "#123456"}, "models", titles),
                     0);
    assert_int_equal(svg_line(p, x, y, 5, (svg_style){.color = "red", .dash = "4 2"}, "line"), 0);
    double lo[2] = {20, 30}, hi[2] = {30, 40}, bx[2] = {1e8, 1e10};
    assert_int_equal(svg_band(p, bx, lo, hi, 2, "#ccc", 0.3, "band"), 0);
    assert_int_equal(svg_vspan(p, 2.9e9, 1.34e10, "blue", 0.1, "N_c interval"), 0);
    assert_int_equal(svg_hline(p, 35, (svg_style){0}, NULL), 0);
    assert_int_equal(svg_text(p, 1e9, 45, 3, -3, "label & more", SVG_ANCHOR_START, NULL, 0), 0);
    svg_legend_below(p, 2);
    size_t len;
    char *s = svg_render(p, &len);
    svg_plot_free(p);
    assert_non_null(s);
    assert_int_equal(strlen(s), len);
    assert_true(balanced(s) > 20);
    assert_null(strstr(s, "nan"));
    assert_null(strstr(s, "inf"));
    assert_non_null(strstr(s, "&lt;angle&gt; &amp; &quot;quotes&quot;"));
    assert_non_null(strstr(s, "<title>b&lt;c</title>"));
    assert_null(strstr(s, "<title>neg</title>")); /* x = -1 cannot sit on a log axis */
    assert_null(strstr(s, "<title>nan</title>"));
    assert_non_null(strstr(s, ">1B<"));           /* size ticks */
    assert_non_null(strstr(s, "clip-path=\"url(#t1-clip)\""));
    free(s);

    /* histogram: counts land in the right bins */
    p = svg_plot_new("t2", 400, 300);
    double v[6] = {1, 1.2, 2.5, 2.6, 2.7, 4};
    assert_int_equal(svg_histogram(p, v, 6, 3, 1, 4, "#888", "counts"), 0);
    s = svg_render(p, NULL);
    svg_plot_free(p);
    assert_true(balanced(s) > 5);
    int bars = 0;
    for (const char *q = s; (q = strstr(q, "fill-opacity=\"0.75\" stroke=\"white\"")); q++)
        bars++;
    assert_int_equal(bars, 3);
    free(s);

    /* an empty plot still renders axes */
    p = svg_plot_new("t3", 300, 200);
    s = svg_render(p, NULL);
    svg_plot_free(p);
    assert_true(balanced(s) > 3);
    free(s);
}

static void html_document(void **state)
{
    (void)state;
    html_doc *d = html_new("T <1>", "sub & title");
    html_heading(d, 2, "H");
    html_para(d, "a < b");
    const char *hdr[2] = {"x", "y"}, *cells[2] = {"1 & 2", NULL};
    html_table_begin(d, hdr, 2);
    html_table_row(d, cells, 2);
    html_table_end(d);
    const char *svgs[1] = {"<svg xmlns=\"http://www.w3.org/2000/svg\"><rect/></svg>"};
    html_figure(d, "fig-a", svgs, 1, "caption <b>");
    size_t len;
    char *s = html_finish(d, &len);
    html_free(d);
    assert_non_null(s);
    assert_true(balanced(s) > 10);
    assert_non_null(strstr(s, "<title>T &lt;1&gt;</title>"));
    assert_non_null(strstr(s, "<figure id=\"fig-a\">"));
    assert_non_null(strstr(s, "caption &lt;b&gt;"));
    /* nothing is fetched: the only URL is the SVG namespace */
    int urls = 0, ns = 0;
    for (const char *q = s; (q = strstr(q, "http")); q++)
        urls++;
    for (const char *q = s; (q = strstr(q, "http://www.w3.org/2000/svg")); q++)
        ns++;
    assert_int_equal(urls, ns);
    assert_null(strstr(s, "<script"));
    assert_null(strstr(s, "<link"));
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ticks_linear_and_log),
        cmocka_unit_test(formats_and_escaping),
        cmocka_unit_test(rendered_svg_is_well_formed),
        cmocka_unit_test(html_document),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
