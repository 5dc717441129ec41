/* Leave-one-out split over prefix samples and the batch builder. */
#include "split.h"

#include "core/alloc.h"

#include <string.h>

/* RecBole's _split_index_by_leave_one_out: of a user's m samples at most
 * min(2, m-1) are held out, the last one going to test. */
static void held_out(int64_t n_items, int64_t *train, int64_t *valid, int64_t *test)
{
    int64_t m = n_items > 0 ? n_items - 1 : 0;
    int64_t hold = m - 1 < 2 ? (m - 1 > 0 ? m - 1 : 0) : 2;
    *train = m - hold;
    *test = hold >= 1;
    *valid = hold >= 2;
}

static uz_status samples_alloc(uz_seqrec_samples *s, int64_t n, const char *what)
{
    s->n = n;
    s->user = uz_malloc((size_t)n * sizeof *s->user + 1, what);
    s->pos = uz_malloc((size_t)n * sizeof *s->pos + 1, what);
    if (!s->user || !s->pos) {
        uz_seqrec_samples_free(s);
        return UZ_ERR_NOMEM;
    }
    return UZ_OK;
}

void uz_seqrec_samples_free(uz_seqrec_samples *s)
{
    uz_free(s->user);
    uz_free(s->pos);
    *s = (uz_seqrec_samples){0};
}

void uz_seqrec_split_free(uz_seqrec_split *s)
{
    uz_seqrec_samples_free(&s->train);
    uz_seqrec_samples_free(&s->valid);
    uz_seqrec_samples_free(&s->test);
}

uz_status uz_seqrec_split_loo(const uz_seqrec *d, uz_seqrec_split *out)
{
    *out = (uz_seqrec_split){0};
    int64_t n_train = 0, n_valid = 0, n_test = 0;
    for (int64_t u = 0; u < d->n_users; u++) {
        int64_t tr, va, te;
        held_out(uz_seqrec_len(d, u), &tr, &va, &te);
        n_train += tr;
        n_valid += va;
        n_test += te;
    }
    uz_status st = samples_alloc(&out->train, n_train, "train samples");
    if (st == UZ_OK)
        st = samples_alloc(&out->valid, n_valid, "valid samples");
    if (st == UZ_OK)
        st = samples_alloc(&out->test, n_test, "test samples");
    if (st != UZ_OK) {
        uz_seqrec_split_free(out);
        return st;
    }
    int64_t k = 0, kv = 0, kt = 0;
    for (int64_t u = 0; u < d->n_users; u++) {
        int64_t tr, va, te;
        held_out(uz_seqrec_len(d, u), &tr, &va, &te);
        for (int64_t p = 1; p <= tr; p++, k++) {
            out->train.user[k] = (int32_t)u;
            out->train.pos[k] = (int32_t)p;
        }
        if (va) {
            out->valid.user[kv] = (int32_t)u;
            out->valid.pos[kv++] = (int32_t)(tr + 1);
        }
        if (te) {
            out->test.user[kt] = (int32_t)u;
            out->test.pos[kt++] = (int32_t)(tr + va + 1);
        }
    }
    return UZ_OK;
}

uz_status uz_seqrec_samples_all(const uz_seqrec *d, uz_seqrec_samples *out)
{
    *out = (uz_seqrec_samples){0};
    uz_status st = samples_alloc(out, d->n_users, "user samples");
    if (st != UZ_OK)
        return st;
    for (int64_t u = 0; u < d->n_users; u++) {
        out->user[u] = (int32_t)u;
        out->pos[u] = (int32_t)uz_seqrec_len(d, u);
    }
    return UZ_OK;
}

uz_status uz_seqrec_batch_init(uz_seqrec_batch *bt, int64_t cap, int64_t max_len)
{
    *bt = (uz_seqrec_batch){0};
    if (cap < 1 || max_len < 1)
        return UZ_FAIL(UZ_ERR_ARG, "seqrec batch: capacity %lld x %lld must be positive",
                       (long long)cap, (long long)max_len);
    bt->cap = cap;
    bt->max_len = max_len;
    bt->ids = uz_malloc((size_t)(cap * max_len) * sizeof *bt->ids, "batch ids");
    bt->lengths = uz_malloc((size_t)cap * sizeof *bt->lengths, "batch lengths");
    bt->targets = uz_malloc((size_t)cap * sizeof *bt->targets, "batch targets");
    bt->users = uz_malloc((size_t)cap * sizeof *bt->users, "batch users");
    bt->pos = uz_malloc((size_t)cap * sizeof *bt->pos, "batch positions");
    if (!bt->ids || !bt->lengths || !bt->targets || !bt->users || !bt->pos) {
        uz_seqrec_batch_free(bt);
        return UZ_ERR_NOMEM;
    }
    return UZ_OK;
}

void uz_seqrec_batch_free(uz_seqrec_batch *bt)
{
    uz_free(bt->ids);
    uz_free(bt->lengths);
    uz_free(bt->targets);
    uz_free(bt->users);
    uz_free(bt->pos);
    *bt = (uz_seqrec_batch){0};
}

uz_status uz_seqrec_batch_fill(uz_seqrec_batch *bt, const uz_seqrec *d, const uz_seqrec_samples *s,
                               const int64_t *idx, int64_t n, bool cut)
{
    if (n < 1 || n > bt->cap)
        return UZ_FAIL(UZ_ERR_ARG, "seqrec batch: %lld samples for a batch of capacity %lld",
                       (long long)n, (long long)bt->cap);
    int64_t len = 1;
    for (int64_t r = 0; r < n; r++) {
        int64_t k = idx[r];
        if (k < 0 || k >= s->n)
            return UZ_FAIL(UZ_ERR_ARG, "seqrec batch: sample index %lld outside 0..%lld",
                           (long long)k, (long long)s->n - 1);
        int64_t l = uz_seqrec_sample_len(s, k, bt->max_len);
        len = l > len ? l : len;
    }
    bt->b = n;
    bt->len = cut ? len : bt->max_len;
    for (int64_t r = 0; r < n; r++) {
        int64_t k = idx[r], u = s->user[k], p = s->pos[k];
        int64_t l = uz_seqrec_sample_len(s, k, bt->max_len);
        const int32_t *seq = d->items + d->offsets[u];
        int32_t *row = bt->ids + r * bt->len;
        memcpy(row, seq + (p - l), (size_t)l * sizeof *row);
        memset(row + l, 0, (size_t)(bt->len - l) * sizeof *row);
        bt->lengths[r] = (int32_t)l;
        bt->targets[r] = p < uz_seqrec_len(d, u) ? seq[p] : 0;
        bt->users[r] = (int32_t)u;
        bt->pos[r] = (int32_t)p;
    }
    return UZ_OK;
}
