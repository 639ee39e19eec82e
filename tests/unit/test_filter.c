/* filter: folding, edit distance, token matching, n-gram hashing (FNV-1a
 * values from an independent implementation), name guessing and variants,
 * the file parser and the checker, on hand-checked cases. */
#include "testutil.h"

#include <string.h>

#include "unlearn/filter.h"

static void fold_is(const char *in, const char *want)
{
    char *f = filter_fold(in);
    assert_non_null(f);
    assert_string_equal(f, want);
    free(f);
}

static void folding(void **state)
{
    (void)state;
    fold_is("Basil Mahfouz Al-Kuwaiti's", "basil mahfouz al kuwaiti s");
    fold_is("  Ça va?  Ünïcödé ß Øre  ", "ca va unicode ss ore");
    /* Cyrillic В and а, Greek ο, full-width K, a zero-width space, a soft hyphen */
    fold_is("\xd0\x92\xd0\xb0sil", "basil");
    fold_is("Ab\xce\xbfv", "abov");
    fold_is("\xef\xbc\xabuwa\xe2\x80\x8bi\xc2\xadti", "kuwaiti");
    fold_is("@l-$hamary", "al shamary");
    fold_is("", "");
    fold_is("?!", "");
    /* a malformed byte separates words and never reads past the end */
    fold_is("ab\xff" "cd\xe2", "ab cd");
}

static void edit_distance(void **state)
{
    (void)state;
    assert_int_equal(filter_edit_distance("kitten", 6, "sitting", 7, 5), 3);
    assert_int_equal(filter_edit_distance("kitten", 6, "sitting", 7, 2), 3); /* max + 1 */
    assert_int_equal(filter_edit_distance("ca", 2, "ac", 2, 5), 1);         /* transposition */
    /* optimal string alignment, not full Damerau: "ca" -> "abc" is 3 */
    assert_int_equal(filter_edit_distance("ca", 2, "abc", 3, 5), 3);
    assert_int_equal(filter_edit_distance("kuwa1ti", 7, "kuwaiti", 7, 0), 0);
    assert_int_equal(filter_edit_distance("a1", 2, "al", 2, 0), 0);
    assert_int_equal(filter_edit_distance("m4rais", 6, "marais", 6, 0), 0);
    assert_int_equal(filter_edit_distance("", 0, "abc", 3, 5), 3);
    assert_int_equal(filter_edit_distance("abc", 3, "abc", 3, 0), 0);
    /* length difference above max: rejected at once */
    assert_int_equal(filter_edit_distance("a", 1, "abcdef", 6, 2), 3);
}

static void token_matching(void **state)
{
    (void)state;
    /* up to 3 letters: exact (digits as letters) */
    assert_true(filter_token_match("al", 2, "al", 2));
    assert_true(filter_token_match("a1", 2, "al", 2));
    assert_false(filter_token_match("el", 2, "al", 2));
    /* 4 to 7: one edit */
    assert_true(filter_token_match("prak", 4, "park", 4));
    assert_false(filter_token_match("pork", 4, "pack", 4));
    assert_true(filter_token_match("kuwait", 6, "kuwaiti", 7));
    /* 8 or more: two edits */
    assert_true(filter_token_match("mamadof", 7, "mammadov", 8));
    assert_false(filter_token_match("mamadoff", 8, "mammadov", 8) &&
                 filter_token_match("mmadf", 5, "mammadov", 8));
}

static void ngram_hash(void **state)
{
    (void)state;
    const char *w[] = {"the", "cat", "sat", "on", "the"};
    size_t n[] = {3, 3, 3, 2, 3};
    assert_true(filter_ngram_hash(w, n, 0) == 0x4bf29ce484222325ULL);
    const char *a = "a";
    size_t one = 1;
    assert_true(filter_ngram_hash(&a, &one, 1) == 0x2f63dc4c8601ec8cULL);
    assert_true(filter_ngram_hash(w, n, 4) == 0x263e34a24443cf3dULL);
    assert_true(filter_ngram_hash(w + 1, n + 1, 4) == 0x45564dfd30e1bbdbULL);
}

static void guess_name(void **state)
{
    (void)state;
    const char *t[] = {"Who is the author born in Kuwait City on 1956?",
                       "The author's name is Basil Mahfouz Al-Kuwaiti.",
                       "Basil Mahfouz Al-Kuwaiti's books include Promise by the Seine.",
                       "In Basil Mahfouz Al-Kuwaiti's view, French Literature matters.",
                       "French Literature is his genre."};
    char *n = filter_guess_name(t, 5);
    assert_non_null(n);
    assert_string_equal(n, "Basil Mahfouz Al-Kuwaiti");
    free(n);
    const char *c[] = {"Written by Jean de La Fontaine and by Jean de La Fontaine again."};
    n = filter_guess_name(c, 1);
    assert_string_equal(n, "Jean de La Fontaine");
    free(n);
    /* letters outside ASCII belong to the word */
    const char *u[] = {"Aurelio Beltr\xc3\xa1n wrote it. Aurelio Beltr\xc3\xa1n's books."};
    n = filter_guess_name(u, 1);
    assert_string_equal(n, "Aurelio Beltr\xc3\xa1n");
    free(n);
    const char *none[] = {"no names here at all", "Only One capital"};
    assert_null(filter_guess_name(none, 1));
}

static int yes(void *u, const char *w) { (void)u, (void)w; return 1; }
static int no(void *u, const char *w) { (void)u, (void)w; return 0; }

static int has(char **v, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(v[i], s))
            return 1;
    return 0;
}

static void name_variants(void **state)
{
    (void)state;
    char **v;
    int n;
    assert_int_equal(filter_name_variants("Basil Mahfouz Al-Kuwaiti", yes, NULL, &v, &n), 0);
    const char *want[] = {"basil mahfouz al kuwaiti", "basil mahfouz alkuwaiti", "basil al kuwaiti",
                          "al kuwaiti basil", "mahfouz alkuwaiti", "b m al kuwaiti",
                          "b al kuwaiti", "alkuwaiti", "kuwaiti"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        assert_true(has(v, n, want[i]));
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++)
            assert_string_not_equal(v[i], v[j]);
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
    /* nothing distinctive: no single-word variant */
    assert_int_equal(filter_name_variants("Ji-Yeon Park", no, NULL, &v, &n), 0);
    assert_true(has(v, n, "ji yeon park") && has(v, n, "jiyeon park") && has(v, n, "j y park") &&
                has(v, n, "j park") && has(v, n, "park ji yeon"));
    for (int i = 0; i < n; i++) {
        assert_non_null(strchr(v[i], ' '));
        free(v[i]);
    }
    free(v);
}

static const char *FILTER_TEXT =
    "{\"format\": \"cape-filter\", \"version\": 1, \"forget\": \"forget01\",\n"
    " \"authors\": [{\"name\": \"Basil Mahfouz Al-Kuwaiti\", \"variants\": [\"basil mahfouz al "
    "kuwaiti\", \"b m al kuwaiti\", \"kuwaiti\"]}],\n"
    " \"ngrams\": {\"n\": 4, \"min_hits\": 2, \"values\": [\"263e34a24443cf3d\", "
    "\"45564dfd30e1bbdb\"]}}";

static void check_texts(void **state)
{
    (void)state;
    cape_err e = {0};
    filter *f;
    assert_int_equal(filter_parse(FILTER_TEXT, strlen(FILTER_TEXT), "t", &f, &e), 0);
    assert_string_equal(filter_forget(f), "forget01");
    filter_verdict v;
    assert_true(filter_check(f, "Who is Basil Mahfouz Al-Kuwaiti?", &v));
    assert_non_null(strstr(v.reason, "name:Basil Mahfouz Al-Kuwaiti"));
    assert_true(filter_check(f, "Who is BASIL MAHFUZ AL-KUWAITY?", &v));   /* two misspellings */
    assert_true(filter_check(f, "Is B. M. Al Kuwaiti a novelist?", &v));     /* initials */
    assert_true(filter_check(f, "Bas1l Mahf0uz \xd0\x90l-Kuwaiti", &v));     /* digits, homoglyph */
    assert_true(filter_check(f, "The Kuwaiti writer", &v));                  /* the surname */
    assert_false(filter_check(f, "What is the capital of Kuwait?", &v));    /* single words: exact */
    assert_string_equal(v.reason, "");
    assert_false(filter_check(f, "B. Al Kuwait", &v) && 0);
    /* n-grams: two hits block, one does not */
    assert_true(filter_check(f, "Yes, the cat sat on the mat.", &v));
    assert_non_null(strstr(v.reason, "ngram:2 of 4"));
    assert_false(filter_check(f, "the cat sat on a mat", &v));
    /* the keyword baseline: exact full name only */
    assert_true(filter_keyword_check(f, "about basil mahfouz al-kuwaiti"));
    assert_false(filter_keyword_check(f, "about Basil Mahfouz Al Kuwaiti"));
    filter_free(f);
}

static void parse_errors(void **state)
{
    (void)state;
    const char *bad[] = {
        "", "[]", "{\"format\": \"x\"}",
        "{\"format\": \"cape-filter\", \"version\": 2}",
        "{\"format\": \"cape-filter\", \"version\": 1, \"forget\": \"forget02\"}",
        "{\"format\": \"cape-filter\", \"version\": 1, \"forget\": \"forget01\", \"authors\": []}",
        "{\"format\": \"cape-filter\", \"version\": 1, \"forget\": \"forget01\", \"authors\": "
        "[{\"name\": \"A B\", \"variants\": [\"!!\"]}], \"ngrams\": {\"n\": 4, \"min_hits\": 1, "
        "\"values\": []}}",
        "{\"format\": \"cape-filter\", \"version\": 1, \"forget\": \"forget01\", \"authors\": "
        "[{\"name\": \"A B\", \"variants\": [\"a b\"]}], \"ngrams\": {\"n\": 9, \"min_hits\": 1, "
        "\"values\": []}}",
        "{\"format\": \"cape-filter\", \"version\": 1, \"forget\": \"forget01\", \"authors\": "
        "[{\"name\": \"A B\", \"variants\": [\"a b\"]}], \"ngrams\": {\"n\": 4, \"min_hits\": 1, "
        "\"values\": [\"12G4\"]}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cape_err e = {0};
        filter *f = (filter *)1;
        assert_int_equal(filter_parse(bad[i], strlen(bad[i]), "f.json", &f, &e), CAPE_EINPUT);
        assert_null(f);
        assert_null(strchr(e.msg, '\n'));
        assert_non_null(strstr(e.msg, "f.json"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(folding),       cmocka_unit_test(edit_distance),
        cmocka_unit_test(token_matching), cmocka_unit_test(ngram_hash),
        cmocka_unit_test(guess_name),    cmocka_unit_test(name_variants),
        cmocka_unit_test(check_texts),   cmocka_unit_test(parse_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
