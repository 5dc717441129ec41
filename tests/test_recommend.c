/* Offline top-K against brute force (full sort) with a fake encoder on
 * integer vectors, so every score is exact and ties are frequent; the TSV and
 * JSONL writers; error paths; and the Beauty-sized speed figure. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_main.h"
#include "gradcheck.h"
#include "subprocess.h"
#include "recsys/recsys.h"

enum { DIM = 8 };

/* Representation = sum of the window's item vectors: a function of exactly
 * what the batch holds, so a wrong window or padding shows up. */
typedef struct fake {
    const float *vec; /* [n_items + 1, dim] */
    int64_t dim;
    int64_t calls;
    int32_t nan_user; /* -1 = none */
} fake;

static uz_status fake_encode(void *ctx, const uz_seqrec_batch *bt, float *out)
{
    fake *f = ctx;
    f->calls++;
    for (int64_t r = 0; r < bt->b; r++) {
        float *h = out + r * f->dim;
        for (int64_t c = 0; c < f->dim; c++)
            h[c] = 0.0f;
        for (int64_t p = 0; p < bt->len; p++) {
            int32_t it = bt->ids[r * bt->len + p];
            ck_assert_int_eq(it != 0, p < bt->lengths[r]); /* left-aligned, zero-padded */
            for (int64_t c = 0; it && c < f->dim; c++)
                h[c] += f->vec[it * f->dim + c];
        }
        if (bt->users[r] == f->nan_user)
            h[0] = NAN;
    }
    return UZ_OK;
}

static uz_status failing_encode(void *ctx, const uz_seqrec_batch *bt, float *out)
{
    (void)ctx;
    (void)bt;
    (void)out;
    return UZ_FAIL(UZ_ERR_ARG, "encoder refused the batch");
}

static const char *write_tmp(const char *suffix, const char *text)
{
    static char path[4][128];
    static int slot;
    char *p = path[slot++ % 4];
    snprintf(p, 128, "/tmp/uz_rec_%d_%s", (int)getpid(), suffix);
    FILE *f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return p;
}

/* Random histories over n_items with lengths 1..max_hist. */
static void load_random(uz_seqrec *d, int64_t n_users, int64_t n_items, int max_hist,
                        unsigned seed)
{
    srand(seed);
    size_t cap = (size_t)n_users * ((size_t)max_hist * 8 + 16), w = 0;
    char *text = malloc(cap);
    for (int64_t u = 0; u < n_users; u++) {
        int len = 1 + rand() % max_hist;
        w += (size_t)snprintf(text + w, cap - w, "%lld", (long long)u + 1);
        for (int i = 0; i < len; i++)
            w += (size_t)snprintf(text + w, cap - w, " %d", 1 + rand() % (int)n_items);
        text[w++] = '\n';
    }
    text[w] = '\0';
    const char *path = write_tmp("data.txt", text);
    free(text);
    UZ_CK_OK(uz_seqrec_load_text(path, d));
    unlink(path);
}

typedef struct cand {
    int64_t s;
    int32_t item;
} cand;

static int cmp_cand(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->s != y->s)
        return x->s > y->s ? -1 : 1;
    return x->item - y->item;
}

/* Exact integer scores, a full sort per user, the first k candidates. */
static void check_brute(const uz_seqrec *d, const float *vec, const uz_recs *r, int64_t k,
                        int64_t max_len, bool keep)
{
    int64_t n = d->n_items;
    cand *c = malloc((size_t)n * sizeof *c);
    char *hist = malloc((size_t)n + 1);
    for (int64_t u = 0; u < d->n_users; u++) {
        const int32_t *seq = d->items + d->offsets[u];
        int64_t len = uz_seqrec_len(d, u), from = len > max_len ? len - max_len : 0;
        int64_t h[DIM] = {0};
        for (int64_t p = from; p < len; p++)
            for (int j = 0; j < DIM; j++)
                h[j] += (int64_t)vec[seq[p] * DIM + j];
        memset(hist, 0, (size_t)n + 1);
        for (int64_t p = 0; p < len; p++)
            hist[seq[p]] = !keep;
        int64_t m = 0;
        for (int64_t i = 1; i <= n; i++) {
            if (hist[i])
                continue;
            int64_t s = 0;
            for (int j = 0; j < DIM; j++)
                s += h[j] * (int64_t)vec[i * DIM + j];
            c[m++] = (cand){s, (int32_t)i};
        }
        qsort(c, (size_t)m, sizeof *c, cmp_cand);
        for (int64_t j = 0; j < k; j++) {
            int32_t got = r->items[u * k + j];
            if (j < m) {
                ck_assert_msg(got == c[j].item, "user %lld rank %lld: item %d, want %d (score %lld)",
                              (long long)u, (long long)j, got, c[j].item, (long long)c[j].s);
                ck_assert_float_eq(r->scores[u * k + j], (float)c[j].s);
            } else {
                ck_assert_int_eq(got, 0);
            }
        }
    }
    free(c);
    free(hist);
}

static float *int_vectors(int64_t n_items, unsigned seed)
{
    srand(seed);
    float *v = malloc((size_t)((n_items + 1) * DIM) * sizeof *v);
    for (int64_t i = 0; i < (n_items + 1) * DIM; i++)
        v[i] = (float)(rand() % 5 - 2);
    return v;
}

START_TEST(test_topk_brute_force)
{
    uz_seqrec d;
    load_random(&d, 300, 400, 70, 7);
    float *vec = int_vectors(d.n_items, 11);
    fake f = {.vec = vec, .dim = DIM, .nan_user = -1};
    uz_recs r;
    uz_recommend_opts o = {.topk = 10, .batch = 37, .max_len = 50};
    UZ_CK_OK(uz_recommend_topk(&d, fake_encode, &f, vec, DIM, &o, &r));
    ck_assert_int_eq(f.calls, (300 + 36) / 37);
    ck_assert_int_eq(r.n_users, 300);
    ck_assert_int_eq(r.k, 10);
    check_brute(&d, vec, &r, 10, 50, false);
    uz_recs_free(&r);

    o = (uz_recommend_opts){.topk = 25, .keep_history = true};
    UZ_CK_OK(uz_recommend_topk(&d, fake_encode, &f, vec, DIM, &o, &r));
    check_brute(&d, vec, &r, 25, 50, true);
    uz_recs_free(&r);

    o = (uz_recommend_opts){.topk = 3, .batch = 1000, .max_len = 5};
    UZ_CK_OK(uz_recommend_topk(&d, fake_encode, &f, vec, DIM, &o, &r));
    check_brute(&d, vec, &r, 3, 5, false);
    uz_recs_free(&r);
    free(vec);
    uz_seqrec_free(&d);
}
END_TEST

START_TEST(test_fewer_candidates_than_k)
{
    const char *path = write_tmp("few.txt", "1 1 2 3 4 5 6 7 8 9 10\n2 3\n");
    uz_seqrec d;
    UZ_CK_OK(uz_seqrec_load_text(path, &d));
    unlink(path);
    float *vec = int_vectors(d.n_items, 3);
    fake f = {.vec = vec, .dim = DIM, .nan_user = -1};
    uz_recs r;
    uz_recommend_opts o = {.topk = 12};
    UZ_CK_OK(uz_recommend_topk(&d, fake_encode, &f, vec, DIM, &o, &r));
    ck_assert_int_eq(r.items[0], 0); /* user 1 has seen every item */
    check_brute(&d, vec, &r, 12, 50, false);
    ck_assert_int_eq(r.items[12 + 9], 0); /* user 2: 9 candidates */
    ck_assert_int_ne(r.items[12 + 8], 0);

    /* Errors: a NaN score names the user; encoder failures pass through. */
    uz_recs_free(&r);
    f.nan_user = 1;
    ck_assert_int_eq(uz_recommend_topk(&d, fake_encode, &f, vec, DIM, &o, &r), UZ_ERR_NUMERIC);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "NaN score for user 2"));
    ck_assert_ptr_null(r.items);
    ck_assert_int_eq(uz_recommend_topk(&d, failing_encode, NULL, vec, DIM, &o, &r), UZ_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "encoder refused the batch"));
    o.topk = 0;
    ck_assert_int_eq(uz_recommend_topk(&d, fake_encode, &f, vec, DIM, &o, &r), UZ_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "topk >= 1 (got 0)"));
    free(vec);
    uz_seqrec_free(&d);
}
END_TEST

START_TEST(test_writers)
{
    const char *ip = write_tmp("w.inter", "user_id:token\titem_id:token\ttimestamp:float\n"
                                          "alice\tm1\t1\nalice\tm2\t2\nbob\tm3\t1\n"
                                          "bob\tm1\t2\ncarol\tm2\t1\n");
    const char *tp = write_tmp("w.item", "item_id:token\tmovie_title:token_seq\n"
                                         "m1\tSay \"Hi\"\\Bye\nm2\tTwo\n");
    uz_seqrec d;
    UZ_CK_OK(uz_seqrec_load_atomic(ip, tp, &d));
    unlink(ip);
    unlink(tp);
    /* Item i's vector makes score = id with the fake encoder's constant h. */
    float vec[4 * DIM] = {0};
    for (int i = 0; i < 4; i++)
        vec[i * DIM] = (float)i;
    fake f = {.vec = vec, .dim = DIM, .nan_user = -1};
    uz_recs r;
    uz_recommend_opts o = {.topk = 2};
    UZ_CK_OK(uz_recommend_topk(&d, fake_encode, &f, vec, DIM, &o, &r));

    char out[128];
    snprintf(out, sizeof out, "/tmp/uz_rec_%d_out.tsv", (int)getpid());
    ck_assert_int_eq(uz_recs_format_for(out), UZ_RECS_TSV);
    UZ_CK_OK(uz_recs_write(&r, &d, UZ_RECS_TSV, out));
    /* v(m_i) = (i, 0, ..): alice (m1 m2) h = 3: only m3 is left, 9; bob (m3
     * m1) h = 4: m2 8; carol (m2) h = 2: m3 6, m1 2. */
    char *text = uz_test_slurp(out);
    ck_assert_str_eq(text, "user\trank\titem\tscore\ttitle\n"
                                 "alice\t1\tm3\t9\t\n"
                                 "bob\t1\tm2\t8\tTwo\n"
                                 "carol\t1\tm3\t6\t\n"
                                 "carol\t2\tm1\t2\tSay \"Hi\"\\Bye\n");
    free(text);
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", out, (int)getpid());
    ck_assert_int_ne(access(tmp, F_OK), 0);
    unlink(out);

    snprintf(out, sizeof out, "/tmp/uz_rec_%d_out.jsonl", (int)getpid());
    ck_assert_int_eq(uz_recs_format_for(out), UZ_RECS_JSONL);
    UZ_CK_OK(uz_recs_write(&r, &d, uz_recs_format_for(out), out));
    text = uz_test_slurp(out);
    ck_assert_str_eq(text,
                     "{\"user\": \"alice\", \"recs\": [{\"rank\": 1, \"item\": \"m3\", \"score\": 9}]}\n"
                     "{\"user\": \"bob\", \"recs\": [{\"rank\": 1, \"item\": \"m2\", \"score\": 8, "
                     "\"title\": \"Two\"}]}\n"
                     "{\"user\": \"carol\", \"recs\": [{\"rank\": 1, \"item\": \"m3\", \"score\": 6}, "
                     "{\"rank\": 2, \"item\": \"m1\", \"score\": 2, \"title\": \"Say \\\"Hi\\\"\\\\Bye\"}]}\n");
    free(text);
    unlink(out);

    ck_assert_int_eq(uz_recs_write(&r, &d, UZ_RECS_TSV, "/nonexistent-dir/x.tsv"), UZ_ERR_IO);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "/nonexistent-dir/x.tsv: cannot create"));
    uz_recs_free(&r);
    uz_seqrec_free(&d);
}
END_TEST

typedef struct fixed {
    const float *user_vec;
    int64_t dim;
} fixed;

static uz_status fixed_encode(void *ctx, const uz_seqrec_batch *bt, float *out)
{
    const fixed *f = ctx;
    for (int64_t r = 0; r < bt->b; r++)
        memcpy(out + r * f->dim, f->user_vec + (int64_t)bt->users[r] * f->dim,
               (size_t)f->dim * sizeof *out);
    return UZ_OK;
}

/* Beauty's shape (the real file when ../shared has it): 22,363 users x
 * 12,101 items, d = 64, top-10, history excluded. */
START_TEST(test_speed_beauty_shape)
{
    char path[512];
    const char *src = getenv("UZ_SOURCE_DIR");
    snprintf(path, sizeof path, "%s/../shared/datasets/seqrec/Beauty.txt", src ? src : ".");
    uz_seqrec d;
    if (access(path, R_OK) == 0) {
        UZ_CK_OK(uz_seqrec_load_text(path, &d));
    } else {
        fprintf(stderr, "Beauty.txt not found: random data of the same shape\n");
        load_random(&d, 22363, 12101, 13, 5);
    }
    const int64_t dim = 64;
    srand(9);
    float *items = malloc((size_t)((d.n_items + 1) * dim) * sizeof *items);
    float *users = malloc((size_t)(d.n_users * dim) * sizeof *users);
    for (int64_t i = 0; i < (d.n_items + 1) * dim; i++)
        items[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    for (int64_t i = 0; i < d.n_users * dim; i++)
        users[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    fixed f = {users, dim};
    uz_recs r;
    uz_recommend_opts o = {.topk = 10};
    UZ_CK_OK(uz_recommend_topk(&d, fixed_encode, &f, items, dim, &o, &r));
    char out[128];
    snprintf(out, sizeof out, "/tmp/uz_rec_%d_speed.tsv", (int)getpid());
    UZ_CK_OK(uz_recs_write(&r, &d, UZ_RECS_TSV, out));
    unlink(out);
    /* Spot-check a few users against a direct computation. */
    for (int64_t u = 0; u < d.n_users; u += 5591) {
        const int32_t *seq = d.items + d.offsets[u];
        float best = -INFINITY;
        int32_t arg = 0;
        for (int32_t i = 1; i <= d.n_items; i++) {
            bool seen = false;
            for (int64_t p = 0; p < uz_seqrec_len(&d, u); p++)
                seen = seen || seq[p] == i;
            double s = 0;
            for (int64_t c = 0; c < dim; c++)
                s += (double)users[u * dim + c] * (double)items[i * dim + c];
            if (!seen && (float)s > best) {
                best = (float)s;
                arg = i;
            }
        }
        ck_assert_int_eq(r.items[u * 10], arg);
        ck_assert_float_eq_tol(r.scores[u * 10], best, 1e-4f);
    }
    uz_recs_free(&r);
    free(items);
    free(users);
    uz_seqrec_free(&d);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("recommend");
    TCase *tc = tcase_create("topk");
    tcase_add_test(tc, test_topk_brute_force);
    tcase_add_test(tc, test_fewer_candidates_than_k);
    tcase_add_test(tc, test_writers);
    tcase_add_test(tc, test_speed_beauty_shape);
    suite_add_tcase(s, tc);
    return s;
}
