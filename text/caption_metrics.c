/* Corpus BLEU and CIDEr-D over normalised captions. Every n-gram of the
 * corpus gets an integer id (interned once), every sentence a sorted list
 * of (id, count) pairs; both metrics then work on those lists. The
 * arithmetic follows pycocoevalcap's bleu_scorer.py and cider_scorer.py
 * step by step, in double precision. */
#include "text/caption_metrics.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

enum { MAX_N = 4 };

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static bool is_punct(unsigned char c)
{
    return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
           (c >= 123 && c <= 126);
}

/* Kept inside a word, trimmed at its ends. */
static bool is_joiner(unsigned char c)
{
    return c == '-' || c == '\'';
}

static bool is_sep(unsigned char c)
{
    return is_space(c) || (is_punct(c) && !is_joiner(c));
}

size_t uz_caption_normalize(const char *text, char *out, size_t cap)
{
    size_t len = 0;
    const unsigned char *s = (const unsigned char *)(text ? text : "");
    size_t i = 0;
    while (s[i]) {
        while (s[i] && is_sep(s[i]))
            i++;
        size_t a = i;
        while (s[i] && !is_sep(s[i]))
            i++;
        size_t b = i;
        while (a < b && is_joiner(s[a]))
            a++;
        while (b > a && is_joiner(s[b - 1]))
            b--;
        if (a == b)
            continue;
        if (len > 0) {
            if (len + 1 < cap)
                out[len] = ' ';
            len++;
        }
        for (size_t k = a; k < b; k++, len++)
            if (len + 1 < cap)
                out[len] = (char)(s[k] >= 'A' && s[k] <= 'Z' ? s[k] - 'A' + 'a' : s[k]);
    }
    if (cap > 0)
        out[len < cap ? len : cap - 1] = '\0';
    return len;
}

/* The corpus as n-gram count lists. Sentences 0..n_img-1 are the
 * candidates, n_img + j the reference refs[j]. */
typedef struct corpus {
    int64_t n_img, n_sent;
    char *pool;          /* every normalised sentence, NUL-terminated */
    int64_t *words;      /* words per sentence */
    int64_t *pair_start; /* n_sent + 1: the sentence's pairs, sorted by id */
    int64_t *pair_id, *pair_count;
    int64_t n_gram;      /* distinct n-grams */
    int64_t *gram_off;   /* an occurrence of each n-gram in pool */
    int32_t *gram_len;   /* its bytes */
    uint8_t *gram_n;     /* its order, 1..4 */
} corpus;

static void corpus_free(corpus *c)
{
    uz_free(c->pool);
    uz_free(c->words);
    uz_free(c->pair_start);
    uz_free(c->pair_id);
    uz_free(c->pair_count);
    uz_free(c->gram_off);
    uz_free(c->gram_len);
    uz_free(c->gram_n);
}

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static uz_status check_corpus(const char *what, const char *const *cands,
                              const char *const *refs, const int64_t *ref_start, int64_t n)
{
    if (!cands || !refs || !ref_start || n <= 0)
        return UZ_FAIL(UZ_ERR_ARG, "%s: need candidates, references and offsets for n > 0 "
                       "images (n = %lld)", what, (long long)n);
    if (ref_start[0] != 0)
        return UZ_FAIL(UZ_ERR_ARG, "%s: ref_start[0] is %lld, not 0", what,
                       (long long)ref_start[0]);
    for (int64_t i = 0; i < n; i++) {
        if (ref_start[i + 1] <= ref_start[i])
            return UZ_FAIL(UZ_ERR_ARG, "%s: image %lld has no reference (ref_start %lld..%lld)",
                           what, (long long)i, (long long)ref_start[i],
                           (long long)ref_start[i + 1]);
        if (!cands[i])
            return UZ_FAIL(UZ_ERR_ARG, "%s: candidate %lld is NULL", what, (long long)i);
    }
    for (int64_t j = 0; j < ref_start[n]; j++)
        if (!refs[j])
            return UZ_FAIL(UZ_ERR_ARG, "%s: reference %lld is NULL", what, (long long)j);
    return UZ_OK;
}

static const char *sentence(const char *const *cands, const char *const *refs, int64_t n_img,
                            int64_t s)
{
    return s < n_img ? cands[s] : refs[s - n_img];
}

/* Normalises every sentence and interns its n-grams. All sizes are bounded
 * up front (normalising never lengthens a text; a sentence of w words has
 * at most 4w n-grams), so nothing grows. */
static uz_status corpus_build(const char *const *cands, const char *const *refs,
                              const int64_t *ref_start, int64_t n, corpus *c)
{
    *c = (corpus){.n_img = n, .n_sent = n + ref_start[n]};
    size_t pool_bytes = 0;
    for (int64_t s = 0; s < c->n_sent; s++)
        pool_bytes += strlen(sentence(cands, refs, n, s)) + 1;
    /* A word takes at least two pool bytes (itself and a separator or NUL). */
    const int64_t max_occ = MAX_N * (int64_t)(pool_bytes / 2 + 1);
    size_t slots = 1024;
    while ((int64_t)slots < 2 * max_occ)
        slots *= 2;
    c->pool = uz_malloc(pool_bytes, "caption metrics text");
    c->words = uz_malloc((size_t)c->n_sent * sizeof *c->words, "caption metrics");
    c->pair_start = uz_malloc((size_t)(c->n_sent + 1) * sizeof *c->pair_start, "caption metrics");
    c->pair_id = uz_malloc((size_t)max_occ * sizeof *c->pair_id, "caption metrics n-grams");
    c->pair_count = uz_malloc((size_t)max_occ * sizeof *c->pair_count, "caption metrics n-grams");
    c->gram_off = uz_malloc((size_t)max_occ * sizeof *c->gram_off, "caption metrics n-grams");
    c->gram_len = uz_malloc((size_t)max_occ * sizeof *c->gram_len, "caption metrics n-grams");
    c->gram_n = uz_malloc((size_t)max_occ, "caption metrics n-grams");
    int64_t *slot = uz_malloc(slots * sizeof *slot, "caption metrics n-gram table");
    int64_t *tok = uz_malloc((pool_bytes / 2 + 1) * sizeof *tok, "caption metrics words");
    if (!c->pool || !c->words || !c->pair_start || !c->pair_id || !c->pair_count ||
        !c->gram_off || !c->gram_len || !c->gram_n || !slot || !tok) {
        uz_free(slot);
        uz_free(tok);
        corpus_free(c);
        return UZ_ERR_NOMEM;
    }
    memset(slot, 0xff, slots * sizeof *slot);
    size_t used = 0;
    int64_t n_pair = 0;
    for (int64_t s = 0; s < c->n_sent; s++) {
        const char *text = sentence(cands, refs, n, s);
        char *norm = c->pool + used;
        size_t len = uz_caption_normalize(text, norm, strlen(text) + 1);
        used += len + 1;
        /* Word starts; word w ends one byte before word w+1 starts. */
        int64_t w = 0;
        for (size_t i = 0; i < len; i++)
            if (i == 0 || norm[i - 1] == ' ')
                tok[w++] = (int64_t)i;
        tok[w] = (int64_t)len + 1;
        c->words[s] = w;
        c->pair_start[s] = n_pair;
        int64_t occ = n_pair;
        for (int k = 1; k <= MAX_N; k++)
            for (int64_t i = 0; i + k <= w; i++) {
                const char *g = norm + tok[i];
                const size_t glen = (size_t)(tok[i + k] - 1 - tok[i]);
                size_t j = hash_bytes(g, glen) & (slots - 1);
                while (slot[j] >= 0) {
                    const int64_t id = slot[j];
                    if ((size_t)c->gram_len[id] == glen &&
                        memcmp(c->pool + c->gram_off[id], g, glen) == 0)
                        break;
                    j = (j + 1) & (slots - 1);
                }
                if (slot[j] < 0) {
                    slot[j] = c->n_gram;
                    c->gram_off[c->n_gram] = (int64_t)(g - c->pool);
                    c->gram_len[c->n_gram] = (int32_t)glen;
                    c->gram_n[c->n_gram] = (uint8_t)k;
                    c->n_gram++;
                }
                c->pair_id[occ++] = slot[j];
            }
        /* Occurrences -> sorted (id, count) pairs, in place. */
        qsort(c->pair_id + n_pair, (size_t)(occ - n_pair), sizeof *c->pair_id, cmp_i64);
        int64_t out = n_pair;
        for (int64_t i = n_pair; i < occ; i++) {
            if (out > n_pair && c->pair_id[out - 1] == c->pair_id[i]) {
                c->pair_count[out - 1]++;
            } else {
                c->pair_id[out] = c->pair_id[i];
                c->pair_count[out++] = 1;
            }
        }
        n_pair = out;
    }
    c->pair_start[c->n_sent] = n_pair;
    uz_free(slot);
    uz_free(tok);
    return UZ_OK;
}

static uz_status bleu_from_corpus(const corpus *c, const int64_t *ref_start, double bleu[4])
{
    const double small = 1e-9, tiny = 1e-15; /* pycocoevalcap's guards */
    int64_t *maxc = uz_calloc((size_t)(c->n_gram ? c->n_gram : 1) * sizeof *maxc, "bleu counts");
    if (!maxc)
        return UZ_ERR_NOMEM;
    double correct[MAX_N] = {0}, guess[MAX_N] = {0};
    double testlen = 0.0, reflen = 0.0;
    for (int64_t i = 0; i < c->n_img; i++) {
        const int64_t t = c->words[i];
        int64_t best = -1;
        for (int64_t r = c->n_img + ref_start[i]; r < c->n_img + ref_start[i + 1]; r++) {
            const int64_t l = c->words[r];
            const int64_t d = llabs(l - t), bd = llabs(best - t);
            if (best < 0 || d < bd || (d == bd && l < best))
                best = l;
            for (int64_t p = c->pair_start[r]; p < c->pair_start[r + 1]; p++)
                if (c->pair_count[p] > maxc[c->pair_id[p]])
                    maxc[c->pair_id[p]] = c->pair_count[p];
        }
        testlen += (double)t;
        reflen += (double)best;
        for (int k = 0; k < MAX_N; k++)
            guess[k] += (double)(t - k > 0 ? t - k : 0);
        for (int64_t p = c->pair_start[i]; p < c->pair_start[i + 1]; p++) {
            const int64_t m = maxc[c->pair_id[p]], k = c->pair_count[p];
            correct[c->gram_n[c->pair_id[p]] - 1] += (double)(k < m ? k : m);
        }
        for (int64_t r = c->n_img + ref_start[i]; r < c->n_img + ref_start[i + 1]; r++)
            for (int64_t p = c->pair_start[r]; p < c->pair_start[r + 1]; p++)
                maxc[c->pair_id[p]] = 0;
    }
    uz_free(maxc);
    const double ratio = (testlen + tiny) / (reflen + small);
    double prod = 1.0;
    for (int k = 0; k < MAX_N; k++) {
        prod *= (correct[k] + tiny) / (guess[k] + small);
        bleu[k] = pow(prod, 1.0 / (k + 1));
        if (ratio < 1.0)
            bleu[k] *= exp(1.0 - 1.0 / ratio);
    }
    return UZ_OK;
}

/* The tf-idf weights of sentence s (aligned with its pairs), their norm per
 * order, and its "length", the bigram count the reference code compares. */
static void cider_vector(const corpus *c, const double *idf, int64_t s, double *weight,
                         double norm[MAX_N], double *length)
{
    double sq[MAX_N] = {0};
    *length = 0.0;
    for (int64_t p = c->pair_start[s]; p < c->pair_start[s + 1]; p++) {
        const int k = c->gram_n[c->pair_id[p]] - 1;
        const double v = (double)c->pair_count[p] * idf[c->pair_id[p]];
        weight[p - c->pair_start[s]] = v;
        sq[k] += v * v;
        if (k == 1)
            *length += (double)c->pair_count[p];
    }
    for (int k = 0; k < MAX_N; k++)
        norm[k] = sqrt(sq[k]);
}

static uz_status cider_from_corpus(const corpus *c, const int64_t *ref_start, double *cider,
                                   double *per_image)
{
    const double sigma = 6.0;
    const size_t ng = (size_t)(c->n_gram ? c->n_gram : 1);
    int64_t max_pairs = 1;
    for (int64_t s = 0; s < c->n_sent; s++)
        if (c->pair_start[s + 1] - c->pair_start[s] > max_pairs)
            max_pairs = c->pair_start[s + 1] - c->pair_start[s];
    int64_t *df = uz_calloc(ng * sizeof *df, "cider document frequency");
    int64_t *seen = uz_malloc(ng * sizeof *seen, "cider document frequency");
    double *idf = uz_malloc(ng * sizeof *idf, "cider idf");
    double *wc = uz_malloc((size_t)max_pairs * sizeof *wc, "cider vectors");
    double *wr = uz_malloc((size_t)max_pairs * sizeof *wr, "cider vectors");
    if (!df || !seen || !idf || !wc || !wr) {
        uz_free(df);
        uz_free(seen);
        uz_free(idf);
        uz_free(wc);
        uz_free(wr);
        return UZ_ERR_NOMEM;
    }
    for (size_t g = 0; g < ng; g++)
        seen[g] = -1;
    /* Document frequency: images whose reference set holds the n-gram. */
    for (int64_t i = 0; i < c->n_img; i++)
        for (int64_t r = c->n_img + ref_start[i]; r < c->n_img + ref_start[i + 1]; r++)
            for (int64_t p = c->pair_start[r]; p < c->pair_start[r + 1]; p++)
                if (seen[c->pair_id[p]] != i) {
                    seen[c->pair_id[p]] = i;
                    df[c->pair_id[p]]++;
                }
    const double ref_len = log((double)c->n_img);
    for (int64_t g = 0; g < c->n_gram; g++)
        idf[g] = ref_len - log(df[g] > 1 ? (double)df[g] : 1.0);

    double total = 0.0;
    for (int64_t i = 0; i < c->n_img; i++) {
        double nc[MAX_N], lc;
        cider_vector(c, idf, i, wc, nc, &lc);
        double score[MAX_N] = {0};
        const int64_t r0 = c->n_img + ref_start[i], r1 = c->n_img + ref_start[i + 1];
        for (int64_t r = r0; r < r1; r++) {
            double nr[MAX_N], lr;
            cider_vector(c, idf, r, wr, nr, &lr);
            double val[MAX_N] = {0};
            /* Both pair lists are sorted by id: walk them together; an
             * n-gram missing from the reference contributes min(c, 0) * 0. */
            int64_t p = c->pair_start[i], q = c->pair_start[r];
            while (p < c->pair_start[i + 1] && q < c->pair_start[r + 1]) {
                if (c->pair_id[p] < c->pair_id[q]) {
                    p++;
                } else if (c->pair_id[p] > c->pair_id[q]) {
                    q++;
                } else {
                    const double h = wc[p - c->pair_start[i]], v = wr[q - c->pair_start[r]];
                    val[c->gram_n[c->pair_id[p]] - 1] += (h < v ? h : v) * v;
                    p++;
                    q++;
                }
            }
            const double delta = lc - lr;
            const double penalty = exp(-(delta * delta) / (2.0 * sigma * sigma));
            for (int k = 0; k < MAX_N; k++) {
                if (nc[k] != 0.0 && nr[k] != 0.0)
                    val[k] /= nc[k] * nr[k];
                score[k] += val[k] * penalty;
            }
        }
        double mean = 0.0;
        for (int k = 0; k < MAX_N; k++)
            mean += score[k];
        const double s = mean / MAX_N / (double)(r1 - r0) * 10.0;
        if (per_image)
            per_image[i] = s;
        total += s;
    }
    *cider = total / (double)c->n_img;
    uz_free(df);
    uz_free(seen);
    uz_free(idf);
    uz_free(wc);
    uz_free(wr);
    return UZ_OK;
}

uz_status uz_caption_bleu(const char *const *cands, const char *const *refs,
                          const int64_t *ref_start, int64_t n, double bleu[4])
{
    uz_status st = check_corpus("caption_bleu", cands, refs, ref_start, n);
    if (st != UZ_OK)
        return st;
    corpus c;
    if ((st = corpus_build(cands, refs, ref_start, n, &c)) != UZ_OK)
        return st;
    st = bleu_from_corpus(&c, ref_start, bleu);
    corpus_free(&c);
    return st;
}

uz_status uz_caption_cider_d(const char *const *cands, const char *const *refs,
                             const int64_t *ref_start, int64_t n, double *cider,
                             double *per_image)
{
    uz_status st = check_corpus("caption_cider_d", cands, refs, ref_start, n);
    if (st != UZ_OK)
        return st;
    corpus c;
    if ((st = corpus_build(cands, refs, ref_start, n, &c)) != UZ_OK)
        return st;
    st = cider_from_corpus(&c, ref_start, cider, per_image);
    corpus_free(&c);
    return st;
}

uz_status uz_caption_score(const char *const *cands, const char *const *refs,
                           const int64_t *ref_start, int64_t n, uz_caption_scores *out)
{
    uz_status st = check_corpus("caption_score", cands, refs, ref_start, n);
    if (st != UZ_OK)
        return st;
    corpus c;
    if ((st = corpus_build(cands, refs, ref_start, n, &c)) != UZ_OK)
        return st;
    st = bleu_from_corpus(&c, ref_start, out->bleu);
    if (st == UZ_OK)
        st = cider_from_corpus(&c, ref_start, &out->cider_d, NULL);
    corpus_free(&c);
    return st;
}
