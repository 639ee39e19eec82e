/* Sink masks, the switched-off set, routing, and their GGUF metadata. */
#include "testutil.h"

#include <string.h>

#include "train/train_ckpt.h"
#include "unlearn/sink.h"
#include "unlearn/sink_model.h"

static void test_masks(void **state)
{
    (void)state;
    sink_layout l;
    cape_err e = {0};
    assert_int_equal(sink_layout_init(&l, 100, 0.3f, 7, 42, &e), 0);
    assert_int_equal(l.n_backbone, 30); /* floor(100 * 0.3) */
    assert_int_equal(l.pool, 70);
    float m[100], m2[100];
    sink_mask_source(&l, 5, m);
    int on = 0;
    for (int i = 0; i < 100; i++) {
        assert_true(m[i] == 0.0f || m[i] == 1.0f);
        if (i < 30)
            assert_true(m[i] == 1.0f);
        on += m[i] == 1.0f;
    }
    assert_int_equal(on, 37);
    /* deterministic, and another source or seed gives other units */
    sink_mask_source(&l, 5, m2);
    assert_memory_equal(m, m2, sizeof m);
    sink_mask_source(&l, 6, m2);
    assert_true(memcmp(m, m2, sizeof m) != 0);
    sink_layout l2 = l;
    l2.seed = 43;
    sink_mask_source(&l2, 5, m2);
    assert_true(memcmp(m, m2, sizeof m) != 0);
    /* units ascending inside the pool */
    int u[7];
    sink_units(&l, 5, u);
    for (int i = 0; i < 7; i++) {
        assert_true(u[i] >= 30 && u[i] < 100);
        assert_true(m[u[i]] == 1.0f);
        if (i)
            assert_true(u[i] > u[i - 1]);
    }
    /* backbone only: (30 + 7) / 30 on the backbone, sinks 0 */
    sink_mask_backbone(&l, m);
    assert_close(m[0], 37.0 / 30.0, 1e-6);
    assert_true(m[50] == 0.0f);
    /* all: sinks at k / pool, a switched-off source's units 0 */
    uint32_t off = 5;
    sink_mask_all(&l, &off, 1, m);
    assert_close(m[0], 1.0, 0);
    for (int i = 30; i < 100; i++) {
        int mine = 0;
        for (int k = 0; k < 7; k++)
            mine |= u[k] == i;
        assert_close(m[i], mine ? 0.0 : 0.1, 1e-7);
    }
    /* deletion wins: source 6 minus source 5's units */
    sink_mask_source_excluding(&l, 6, &off, 1, m);
    for (int k = 0; k < 7; k++)
        assert_true(m[u[k]] == 0.0f);
    /* bad layouts */
    assert_int_equal(sink_layout_init(&l2, 100, 0.001f, 7, 1, &e), CAPE_EINPUT);
    err_clear(&e);
    assert_int_equal(sink_layout_init(&l2, 100, 0.5f, 51, 1, &e), CAPE_EINPUT);
}

/* The units are a uniform k-subset: the union over n sources covers about
 * 1 - (1 - k/pool)^n of the pool. */
static void test_union_fraction(void **state)
{
    (void)state;
    sink_layout l;
    cape_err e = {0};
    assert_int_equal(sink_layout_init(&l, 2000, 0.5f, 50, 9, &e), 0);
    uint32_t ids[40];
    for (int i = 0; i < 40; i++)
        ids[i] = (uint32_t)i + 1;
    double f = sink_union_fraction(&l, ids, 40);
    double expect = 1.0 - pow(1.0 - 50.0 / 1000.0, 40);
    assert_close(f, expect, 0.03);
    /* each unit is chosen about equally often over many sources */
    int count[1000] = {0}, u[50];
    for (uint32_t s = 1; s <= 2000; s++) {
        sink_units(&l, s, u);
        for (int i = 0; i < 50; i++)
            count[u[i] - 1000]++;
    }
    double mean = 2000.0 * 50 / 1000, var = 0;
    for (int i = 0; i < 1000; i++)
        var += (count[i] - mean) * (count[i] - mean);
    var /= 1000;
    /* binomial variance n p (1 - p) = 2000 * 0.05 * 0.95 = 95 */
    assert_true(var > 60 && var < 140);
}

/* The default units per source: hand-computed k = round(pool (1 - 0.75^(1/m)))
 * with m = a tenth of the sources (at least 1), and what it is for: a
 * tenth of the sources switched off covers about a quarter of the pool. */
static void test_default_k(void **state)
{
    (void)state;
    assert_int_equal(sink_default_k(256, 200), 4); /* m 20: 256 * 0.01428 = 3.66 */
    assert_int_equal(sink_default_k(256, 8), 64);  /* m 1: a quarter */
    assert_int_equal(sink_default_k(256, 14), 64); /* m = round(1.4) = 1 */
    assert_int_equal(sink_default_k(256, 15), 34); /* m 2: 256 * 0.1340 = 34.3 */
    assert_int_equal(sink_default_k(1000, 100), 28); /* m 10: 1000 * 0.02836 */
    assert_int_equal(sink_default_k(3, 400), 1);   /* at least one unit */
    assert_int_equal(sink_default_k(1, 1), 1);
    cape_err e = {0};
    sink_layout l;
    assert_int_equal(sink_layout_from_options(&l, 512, 0.5, -1, 200, 1, &e), 0);
    assert_int_equal(l.k, 4);
    assert_int_equal(sink_layout_from_options(&l, 512, 0.5, 9, 200, 1, &e), 0);
    assert_int_equal(l.k, 9); /* given: kept */
    /* 20 of 200 sources off: 1 - (1 - 18/1280)^20 = 0.247 of the pool */
    uint32_t ids[20];
    double mean = 0;
    assert_int_equal(sink_layout_from_options(&l, 2560, 0.5, -1, 200, 1, &e), 0);
    assert_int_equal(l.k, 18); /* 1280 * 0.01428 = 18.3 */
    for (uint32_t r = 0; r < 10; r++) {
        for (int i = 0; i < 20; i++)
            ids[i] = 1 + r * 20 + (uint32_t)i;
        mean += sink_union_fraction(&l, ids, 20) / 10;
    }
    assert_close(mean, 0.25, 0.03);
}

static void test_routing(void **state)
{
    (void)state;
    sink_router_builder b;
    sink_router r;
    cape_err e = {0};
    assert_int_equal(sink_router_begin(&b, 3, &e), 0);
    sink_router_add(&b, 1, "Jaime Vasquez writes true crime novels in Santiago.");
    sink_router_add(&b, 1, "Vasquez was born in Santiago, Chile.");
    sink_router_add(&b, 2, "Aisha Khan composes poetry about the desert.");
    sink_router_add(&b, 3, "Santiago is also where Lena Park writes crime stories.");
    assert_int_equal(sink_router_finish(&b, &r, &e), 0);
    float sim;
    assert_int_equal(sink_route(&r, "What did Jaime Vasquez write?", NULL, 0, &sim), 1);
    assert_true(sim > 0.0f && sim <= 1.0001f);
    /* with Vasquez switched off, the crime writer from Santiago is next */
    uint32_t off = 1;
    assert_int_equal(sink_route(&r, "What did Jaime Vasquez write on crime in Santiago?", &off,
                                1, NULL),
                     3);
    uint32_t all[3] = {1, 2, 3};
    assert_int_equal(sink_route(&r, "anything", all, 3, NULL), 0);
    sink_router_free(&r);
}

static void test_metadata_roundtrip(void **state)
{
    (void)state;
    cape_err e = {0};
    sink_model s = {0};
    assert_int_equal(sink_layout_init(&s.layout, 64, 0.5f, 4, 77, &e), 0);
    s.enabled = 1;
    assert_int_equal(sink_sources_id(&s.sources, "alice", 1), 1);
    assert_int_equal(sink_sources_id(&s.sources, "bob", 1), 2);
    assert_int_equal(sink_sources_id(&s.sources, "alice", 1), 1);
    sink_router_builder b;
    assert_int_equal(sink_router_begin(&b, 2, &e), 0);
    sink_router_add(&b, 1, "alice text");
    sink_router_add(&b, 2, "bob words");
    assert_int_equal(sink_router_finish(&b, &s.router, &e), 0);
    s.has_router = 1;
    assert_int_equal(sink_model_switch_off(&s, "bob", &e), 0);
    assert_int_equal(sink_model_switch_off(&s, "carol", &e), CAPE_EINPUT);
    assert_non_null(strstr(e.msg, "carol"));

    ckpt_file f = {0};
    assert_int_equal(sink_model_write(&s, &f), 0);
    static const float w[3] = {1, 2, 3};
    assert_int_equal(ckpt_add_tensor(&f, "x", 3, 0, w), 0);
    const char *path = "build/test_sink_meta.gguf";
    assert_int_equal(ckpt_write(&f, path, &e), 0);
    ckpt_free(&f);
    assert_int_equal(ckpt_read(&f, path, &e), 0);
    sink_model t;
    assert_int_equal(sink_model_read(&t, &f, 64, path, &e), 0);
    assert_true(t.enabled && t.has_router);
    assert_int_equal(t.layout.k, 4);
    assert_int_equal((int)t.layout.seed, 77);
    assert_int_equal(t.sources.n, 2);
    assert_string_equal(t.sources.names[1], "bob");
    assert_int_equal(t.n_off, 1);
    assert_int_equal(t.off[0], 2);
    assert_memory_equal(t.router.centroids, s.router.centroids, sizeof(float) * 2 * SINK_ROUTE_DIM);
    /* a query for bob is routed to alice, minus bob's units */
    float mask[64], expect[64];
    assert_int_equal(sink_model_mask(&t, SINK_MODE_SOURCE, 2, "bob words", mask), 1);
    sink_mask_source_excluding(&t.layout, 1, t.off, 1, expect);
    assert_memory_equal(mask, expect, sizeof mask);
    const ckpt_tensor *x = ckpt_tensor_get(&f, "x");
    assert_non_null(x);
    assert_memory_equal(x->data, w, sizeof w);
    sink_model_free(&t);
    sink_model_free(&s);
    ckpt_free(&f);
    remove(path);
}

/* "unknown source" names the first few sources, then how many there are */
/* Retrofitted sinks: the stored p_gen gives back exactly the model's own
 * units as the backbone, for widths from tiny to Gemma's, and the
 * backbone-only mask keeps the backbone at scale 1. */
static void test_retrofit_layout(void **state)
{
    (void)state;
    static const int widths[] = {1, 7, 64, 80, 512, 2048, 6912, 8192, 14336};
    for (size_t w = 0; w < sizeof widths / sizeof *widths; w++)
        for (int extra = 1; extra <= 4096; extra = extra * 3 + 1) {
            int hidden = widths[w] + extra;
            sink_layout l;
            cape_err e = {0};
            float p = sink_retrofit_p_gen(widths[w], hidden);
            assert_int_equal(sink_layout_init(&l, hidden, p, 1, 1, &e), 0);
            assert_int_equal(l.n_backbone, widths[w]);
            assert_int_equal(l.pool, extra);
        }
    sink_layout l;
    cape_err e = {0};
    assert_int_equal(sink_layout_init(&l, 80, sink_retrofit_p_gen(64, 80), 4, 1, &e), 0);
    float mask[80];
    sink_mask_backbone(&l, mask);
    assert_true(mask[0] > 1.0f); /* from scratch: rescaled */
    l.retrofit = 1;
    sink_mask_backbone(&l, mask);
    for (int i = 0; i < 80; i++)
        assert_true(mask[i] == (i < 64 ? 1.0f : 0.0f));
}

static void test_source_list(void **state)
{
    (void)state;
    sink_model s = {0};
    const char *names[] = {"alice", "bob", "carol"};
    for (int i = 0; i < 3; i++)
        assert_int_equal(sink_sources_id(&s.sources, names[i], 1), (uint32_t)i + 1);
    char buf[64];
    assert_string_equal(sink_sources_list(&s.sources, 8, buf, sizeof buf), "alice, bob, carol");
    assert_string_equal(sink_sources_list(&s.sources, 2, buf, sizeof buf),
                        "alice, bob, ... (3 in all)");
    char tiny[8];
    assert_string_equal(sink_sources_list(&s.sources, 8, tiny, sizeof tiny), "alice, ");
    cape_err e = {0};
    assert_int_equal(sink_model_switch_off(&s, "dave", &e), CAPE_EINPUT);
    assert_string_equal(e.msg, "unknown source 'dave'; the model's 3 sources are alice, bob, carol");
    err_clear(&e);
    assert_int_equal(sink_model_switch_off(&s, "bob", &e), 0);
    assert_true(sink_model_is_off(&s, 2));
    sink_model_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_masks),
        cmocka_unit_test(test_source_list),
        cmocka_unit_test(test_retrofit_layout),
        cmocka_unit_test(test_union_fraction),
        cmocka_unit_test(test_default_k),
        cmocka_unit_test(test_routing),
        cmocka_unit_test(test_metadata_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
