/* Captioning metrics on hand-made corpora whose values are worked out in the
 * comments (pycocoevalcap's formulas: corpus BLEU with "closest" reference
 * length, CIDEr-D with sigma 6), plus normalisation and argument errors.
 *
 * Tolerance: the expected values are exact closed forms except for the
 * 1e-9 / 1e-15 guards BLEU adds to every precision (relative 1e-9 at the
 * counts used here) and double rounding, so 1e-8 absolute separates them
 * from any counting mistake, which moves a score by at least 1e-3. */
#include <check.h>
#include <math.h>
#include <string.h>

#include "gradcheck.h"
#include "text/text.h"

#define TOL 1e-8

static const int64_t one_ref[] = {0, 1};

START_TEST(test_normalize)
{
    char out[128];
    ck_assert_uint_eq(uz_caption_normalize("A Sneaker, left of the T-shirt.", out, sizeof out),
                      strlen("a sneaker left of the t-shirt"));
    ck_assert_str_eq(out, "a sneaker left of the t-shirt");
    uz_caption_normalize("  -- Hello!!\t'quoted'  (x)y;z ", out, sizeof out);
    ck_assert_str_eq(out, "hello quoted x y z");
    uz_caption_normalize("it's a bag's-strap", out, sizeof out);
    ck_assert_str_eq(out, "it's a bag's-strap");
    uz_caption_normalize("...!?", out, sizeof out);
    ck_assert_str_eq(out, "");
    uz_caption_normalize("caf\xc3\xa9 OK", out, sizeof out);
    ck_assert_str_eq(out, "caf\xc3\xa9 ok");
    /* snprintf style: full length back, truncated text written. */
    char small[6];
    ck_assert_uint_eq(uz_caption_normalize("A red bag", small, sizeof small), 9);
    ck_assert_str_eq(small, "a red");
    ck_assert_uint_eq(uz_caption_normalize("A red bag", NULL, 0), 9);
}
END_TEST

START_TEST(test_bleu_identical)
{
    /* Every n-gram matches: precisions 1, lengths equal, so BLEU-1..4 = 1
     * (up to the 1e-9 guards). Punctuation and case do not matter. */
    const char *cand[] = {"A bag left of a boot."};
    const char *refs[] = {"a bag, left of a boot"};
    double b[4];
    UZ_CK_OK(uz_caption_bleu(cand, refs, one_ref, 1, b));
    for (int k = 0; k < 4; k++)
        ck_assert_double_eq_tol(b[k], 1.0, TOL);
}
END_TEST

START_TEST(test_bleu_brevity_penalty)
{
    /* Candidate "a bag" (c = 2) against a 6-word reference (r = 6):
     * p1 = 2/2, p2 = 1/1 ("a bag" is in the reference), no trigrams or
     * 4-grams: p3 = p4 = 1e-15 / 1e-9 = 1e-6. BP = exp(1 - 6/2) = e^-2.
     * BLEU-1 = e^-2, BLEU-2 = e^-2, BLEU-3 = (1e-6)^(1/3) e^-2 = 0.01 e^-2,
     * BLEU-4 = (1e-12)^(1/4) e^-2 = 0.001 e^-2. */
    const char *cand[] = {"a bag"};
    const char *refs[] = {"a bag left of a boot"};
    double b[4];
    UZ_CK_OK(uz_caption_bleu(cand, refs, one_ref, 1, b));
    const double bp = exp(-2.0);
    ck_assert_double_eq_tol(b[0], bp, TOL);
    ck_assert_double_eq_tol(b[1], bp, TOL);
    ck_assert_double_eq_tol(b[2], 0.01 * bp, TOL);
    ck_assert_double_eq_tol(b[3], 0.001 * bp, TOL);
}
END_TEST

START_TEST(test_bleu_clipping_and_closest_length)
{
    /* "the the the the" vs two references: "the" occurs at most twice in
     * one reference, so the clipped unigram count is 2 of 4: p1 = 1/2. No
     * bigram matches: p2 = 1e-15/3 (so BLEU-2 is ~1e-8, i.e. 0). Closest
     * reference length to c = 4 among {6, 7} is 6: BP = exp(1 - 6/4).
     * BLEU-1 = 0.5 * e^-0.5. */
    const char *cand[] = {"the the the the"};
    const char *refs[] = {"the cat is on the mat", "there is a cat on the mat"};
    const int64_t start[] = {0, 2};
    double b[4];
    UZ_CK_OK(uz_caption_bleu(cand, refs, start, 1, b));
    ck_assert_double_eq_tol(b[0], 0.5 * exp(-0.5), TOL);
    ck_assert_double_lt(b[1], 1e-7);

    /* Ties on distance pick the shorter reference: c = 4 with references of
     * 3 and 5 words gives r = 3, no penalty, and every word of the
     * candidate is in some reference: BLEU-1 = 1 (with r = 5 it would be
     * exp(1 - 5/4) = 0.78). */
    const char *cand2[] = {"a b c d"};
    const char *refs2[] = {"a b c", "a b c d e"};
    UZ_CK_OK(uz_caption_bleu(cand2, refs2, start, 1, b));
    ck_assert_double_eq_tol(b[0], 1.0, TOL);
}
END_TEST

START_TEST(test_bleu_corpus_sums)
{
    /* Counts are summed over the corpus before dividing. Image 1 matches
     * exactly (4 words: unigrams 4/4, bigrams 3/3); image 2 "x y" vs "x z":
     * unigrams 1/2, bigrams 0/1. Totals: p1 = 5/6, p2 = 3/4, c = r = 6.
     * BLEU-1 = 5/6 (the mean of sentence scores would be 0.75),
     * BLEU-2 = sqrt(5/6 * 3/4) = sqrt(0.625). */
    const char *cand[] = {"a b c d", "x y"};
    const char *refs[] = {"a b c d", "x z"};
    const int64_t start[] = {0, 1, 2};
    double b[4];
    UZ_CK_OK(uz_caption_bleu(cand, refs, start, 2, b));
    ck_assert_double_eq_tol(b[0], 5.0 / 6.0, TOL);
    ck_assert_double_eq_tol(b[1], sqrt(0.625), TOL);
}
END_TEST

START_TEST(test_cider_identical)
{
    /* Two images. N = 2, so idf = log 2 - log df: "a" is in both images'
     * references (df 2, idf 0), every other n-gram in one (idf log 2).
     * Each candidate equals its references: cosine 1 for n = 1, 2, 3;
     * no 4-grams (3-word sentences), so the n = 4 term is 0 (zero norms).
     * Same length, no penalty. Score = 10 * (1 + 1 + 1 + 0) / 4 = 7.5 for
     * each image (averaging over image 1's two identical references). */
    const char *cand[] = {"a red bag", "a blue shoe"};
    const char *refs[] = {"a red bag", "A red bag.", "a blue shoe"};
    const int64_t start[] = {0, 2, 3};
    double c, per[2];
    UZ_CK_OK(uz_caption_cider_d(cand, refs, start, 2, &c, per));
    ck_assert_double_eq_tol(per[0], 7.5, TOL);
    ck_assert_double_eq_tol(per[1], 7.5, TOL);
    ck_assert_double_eq_tol(c, 7.5, TOL);

    /* One image: N = 1 makes every idf log 1 - log 1 = 0, so CIDEr-D is 0. */
    UZ_CK_OK(uz_caption_cider_d(cand, refs, one_ref, 1, &c, NULL));
    ck_assert_double_eq_tol(c, 0.0, TOL);
}
END_TEST

START_TEST(test_cider_partial_and_length_penalty)
{
    /* Image 1: "red bag" vs "a red bag" (image 2: "a blue shoe" exactly).
     * With L = log 2 ("a" has idf 0):
     * n = 1: cand {red L, bag L}, ref {a 0, red L, bag L}: 2L^2 / (sqrt2 L *
     *        sqrt2 L) = 1;
     * n = 2: cand {red bag L}, ref {a red L, red bag L}: L^2 / (L * sqrt2 L)
     *        = 1/sqrt2;
     * n = 3, 4: the candidate has none: 0.
     * Length (bigram count) 1 vs 2: penalty exp(-1 / (2 * 36)).
     * Image 1 = 10 * (1 + 1/sqrt2) / 4 * exp(-1/72); image 2 = 7.5. */
    const char *cand[] = {"red bag", "a blue shoe"};
    const char *refs[] = {"a red bag", "a blue shoe"};
    const int64_t start[] = {0, 1, 2};
    double c, per[2];
    UZ_CK_OK(uz_caption_cider_d(cand, refs, start, 2, &c, per));
    const double s1 = 10.0 * (1.0 + 1.0 / sqrt(2.0)) / 4.0 * exp(-1.0 / 72.0);
    ck_assert_double_eq_tol(per[0], s1, TOL);
    ck_assert_double_eq_tol(per[1], 7.5, TOL);
    ck_assert_double_eq_tol(c, (s1 + 7.5) / 2.0, TOL);
}
END_TEST

START_TEST(test_cider_clipping)
{
    /* Image 1: "bag bag bag" vs "a red bag". n = 1: cand {bag 3L} (norm 3L),
     * ref {a 0, red L, bag L} (norm sqrt2 L); clipped: min(3L, L) * L = L^2,
     * cosine 1 / (3 sqrt2) (unclipped it would be 1/sqrt2). n = 2: "bag
     * bag" (count 2, df 0 so idf log 2 - log 1 = L) is not in the
     * reference: 0; n = 3: 0; n = 4: none. Both have 2 bigrams: no penalty.
     * Image 1 = 10 * (1 / (3 sqrt2)) / 4. */
    const char *cand[] = {"bag bag bag", "a blue shoe"};
    const char *refs[] = {"a red bag", "a blue shoe"};
    const int64_t start[] = {0, 1, 2};
    double c, per[2];
    UZ_CK_OK(uz_caption_cider_d(cand, refs, start, 2, &c, per));
    ck_assert_double_eq_tol(per[0], 10.0 / (3.0 * sqrt(2.0)) / 4.0, TOL);

    /* uz_caption_score gives both metrics from one pass, identically. */
    uz_caption_scores sc;
    UZ_CK_OK(uz_caption_score(cand, refs, start, 2, &sc));
    ck_assert_double_eq_tol(sc.cider_d, c, 1e-12);
    double b[4];
    UZ_CK_OK(uz_caption_bleu(cand, refs, start, 2, b));
    for (int k = 0; k < 4; k++)
        ck_assert_double_eq_tol(sc.bleu[k], b[k], 1e-12);
}
END_TEST

START_TEST(test_empty_candidate_and_errors)
{
    /* An empty candidate has no n-grams: CIDEr-D 0, BLEU tiny, no NaN. */
    const char *cand[] = {"", "a blue shoe"};
    const char *refs[] = {"a red bag", "a blue shoe"};
    const int64_t start[] = {0, 1, 2};
    uz_caption_scores sc;
    double per[2];
    UZ_CK_OK(uz_caption_cider_d(cand, refs, start, 2, &sc.cider_d, per));
    ck_assert_double_eq_tol(per[0], 0.0, TOL);
    UZ_CK_OK(uz_caption_score(cand, refs, start, 2, &sc));
    for (int k = 0; k < 4; k++)
        ck_assert(isfinite(sc.bleu[k]) && sc.bleu[k] >= 0.0 && sc.bleu[k] < 1.0);

    double b[4];
    ck_assert_int_eq(uz_caption_bleu(cand, refs, start, 0, b), UZ_ERR_ARG);
    const int64_t no_refs[] = {0, 0, 2};
    ck_assert_int_eq(uz_caption_bleu(cand, refs, no_refs, 2, b), UZ_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "image 0 has no reference"));
    const char *null_cand[] = {"a", NULL};
    ck_assert_int_eq(uz_caption_score(null_cand, refs, start, 2, &sc), UZ_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "candidate 1 is NULL"));
    const int64_t bad_start[] = {1, 2, 2};
    ck_assert_int_eq(uz_caption_cider_d(cand, refs, bad_start, 2, &sc.cider_d, NULL),
                     UZ_ERR_ARG);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("caption_metrics");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_normalize);
    tcase_add_test(tc, test_bleu_identical);
    tcase_add_test(tc, test_bleu_brevity_penalty);
    tcase_add_test(tc, test_bleu_clipping_and_closest_length);
    tcase_add_test(tc, test_bleu_corpus_sums);
    tcase_add_test(tc, test_cider_identical);
    tcase_add_test(tc, test_cider_partial_and_length_penalty);
    tcase_add_test(tc, test_cider_clipping);
    tcase_add_test(tc, test_empty_candidate_and_errors);
    suite_add_tcase(s, tc);
    return s;
}

#include "check_main.h"
