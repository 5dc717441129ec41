/* Offline top-K: batches of users sorted by history length, encoder
 * callback, one GEMM against the item table per batch, then a bounded
 * min-heap per row (O(n log K), never a sort of all items). */
#include "recommend.h"

#include "core/alloc.h"
#include "core/backend.h"
#include "core/file_io.h"
#include "core/kernels.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

/* The heap's order: a is worse than b (lower score; on a tie the larger id,
 * so the final list prefers smaller ids among equal scores). */
static inline bool worse(float as, int32_t ai, float bs, int32_t bi)
{
    return as < bs || (as == bs && ai > bi);
}

static void sift_down(float *hs, int32_t *hi, int64_t n, int64_t i)
{
    for (;;) {
        int64_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && worse(hs[l], hi[l], hs[m], hi[m]))
            m = l;
        if (r < n && worse(hs[r], hi[r], hs[m], hi[m]))
            m = r;
        if (m == i)
            return;
        float ts = hs[i];
        int32_t ti = hi[i];
        hs[i] = hs[m];
        hi[i] = hi[m];
        hs[m] = ts;
        hi[m] = ti;
        i = m;
    }
}

static void sift_up(float *hs, int32_t *hi, int64_t i)
{
    while (i > 0) {
        int64_t p = (i - 1) / 2;
        if (!worse(hs[i], hi[i], hs[p], hi[p]))
            return;
        float ts = hs[i];
        int32_t ti = hi[i];
        hs[i] = hs[p];
        hi[i] = hi[p];
        hs[p] = ts;
        hi[p] = ti;
        i = p;
    }
}

/* One row's bounded heap: the k best seen so far, worst at the root. */
typedef struct heap {
    float *s;
    int32_t *item;
    int64_t cnt;
    bool nan;
} heap;

/* Offers row[0..n) (column j = item first + j) to the heap; `seen` is the
 * user's history bitmap (NULL keeps history items). */
static void heap_scan(heap *h, const float *row, int64_t n, int32_t first, int64_t k,
                      const uint64_t *seen)
{
    float *hs = h->s;
    int32_t *hi = h->item;
    int64_t cnt = h->cnt, j = 0;
    while (j < n) {
        if (cnt == k) {
            /* Items arrive in increasing id, so an equal score never beats
             * the root; skip 16 at a time while none beats it or is NaN
             * (!(s <= root) catches both). Nearly all the time is here. */
            float root = hs[0];
            while (j + 16 <= n) {
                int hit = 0;
                for (int q = 0; q < 16; q++)
                    hit |= !(row[j + q] <= root);
                if (hit)
                    break;
                j += 16;
            }
        }
        for (int64_t end = j + 16 < n ? j + 16 : n; j < end; j++) {
            float s = row[j];
            if (s != s) {
                h->nan = true;
                continue;
            }
            if (cnt == k && !(s > hs[0]))
                continue;
            int32_t item = first + (int32_t)j;
            if (seen && (seen[item >> 6] >> (item & 63) & 1))
                continue;
            if (cnt < k) {
                hs[cnt] = s;
                hi[cnt] = item;
                sift_up(hs, hi, cnt++);
            } else {
                hs[0] = s;
                hi[0] = item;
                sift_down(hs, hi, k, 0);
            }
        }
    }
    h->cnt = cnt;
}

/* Empties the heap into out, best first; missing places get item 0. */
static void heap_finish(heap *h, int64_t k, int32_t *out_items, float *out_scores)
{
    for (int64_t j = h->cnt; j < k; j++) {
        out_items[j] = 0;
        out_scores[j] = -INFINITY;
    }
    /* Pop the worst to the back: the list ends up best first. */
    for (int64_t j = h->cnt - 1; j >= 0; j--) {
        out_items[j] = h->item[0];
        out_scores[j] = h->s[0];
        h->s[0] = h->s[j];
        h->item[0] = h->item[j];
        sift_down(h->s, h->item, j, 0);
    }
}

void uz_recs_free(uz_recs *r)
{
    uz_free(r->items);
    uz_free(r->scores);
    *r = (uz_recs){0};
}

/* Sample order by (window-capped) history length, stable in user id. */
static int64_t *order_by_length(const uz_seqrec_samples *s, int64_t max_len)
{
    int64_t *count = uz_calloc((size_t)(max_len + 2) * sizeof *count, "recommend order");
    int64_t *idx = uz_malloc((size_t)s->n * sizeof *idx + 1, "recommend order");
    if (!count || !idx) {
        uz_free(count);
        uz_free(idx);
        return NULL;
    }
    for (int64_t k = 0; k < s->n; k++)
        count[uz_seqrec_sample_len(s, k, max_len) + 1]++;
    for (int64_t l = 0; l <= max_len; l++)
        count[l + 1] += count[l];
    for (int64_t k = 0; k < s->n; k++)
        idx[count[uz_seqrec_sample_len(s, k, max_len)]++] = k;
    uz_free(count);
    return idx;
}

/* Each thread scores ROWS users against TILE items at a time (a 256 KiB
 * block that stays in L2) with a single-threaded GEMM, and feeds the block
 * to the rows' heaps at once: the [users, items] score matrix is never
 * written to memory, and no thread waits on another's GEMM. (One threaded
 * GEMM per batch followed by a parallel scan was slower on 2 cores: its
 * barriers and the 12 MB round trip per batch dominated.) */
enum { ROWS = 64, TILE = 1024 };

typedef struct work {
    uz_seqrec_samples all;
    uz_seqrec_batch bt;
    int64_t *order;
    float *hidden;
    float *tile;     /* [threads, ROWS * TILE] */
    float *heap_s;   /* [threads, ROWS * k] */
    int32_t *heap_i;
    uint64_t *seen;  /* [threads, ROWS * words]: history bitmaps, cleared after use */
    int64_t words;
} work;

static void work_free(work *w)
{
    uz_seqrec_samples_free(&w->all);
    uz_seqrec_batch_free(&w->bt);
    uz_free(w->order);
    uz_free(w->hidden);
    uz_free(w->tile);
    uz_free(w->heap_s);
    uz_free(w->heap_i);
    uz_free(w->seen);
}

static void history_bits(const uz_seqrec *d, int64_t u, uint64_t *bits, bool set)
{
    const int32_t *seq = d->items + d->offsets[u];
    for (int64_t p = 0; p < uz_seqrec_len(d, u); p++) {
        if (set)
            bits[seq[p] >> 6] |= (uint64_t)1 << (seq[p] & 63);
        else
            bits[seq[p] >> 6] = 0;
    }
}

static uz_status score_batch(const uz_seqrec *d, work *w, const float *item_table, int64_t dim,
                             const uz_recommend_opts *o, int64_t k, uz_recs *out)
{
    const struct uz_kernels_blas *blas = uz_backend_for(UZ_DEVICE_CPU)->blas;
    int64_t b = w->bt.b, n = d->n_items, blocks = (b + ROWS - 1) / ROWS;
    int64_t bad = -1;
#pragma omp parallel
    {
        int t = omp_get_thread_num();
        float *tile = w->tile + (int64_t)t * ROWS * TILE;
        uint64_t *seen = w->seen + (int64_t)t * ROWS * w->words;
        heap h[ROWS];
        for (int64_t r = 0; r < ROWS; r++)
            h[r] = (heap){.s = w->heap_s + ((int64_t)t * ROWS + r) * k,
                          .item = w->heap_i + ((int64_t)t * ROWS + r) * k};
#pragma omp for schedule(dynamic, 1)
        for (int64_t blk = 0; blk < blocks; blk++) {
            int64_t r0 = blk * ROWS, rb = b - r0 < ROWS ? b - r0 : ROWS;
            for (int64_t r = 0; r < rb; r++) {
                h[r].cnt = 0;
                h[r].nan = false;
                if (!o->keep_history)
                    history_bits(d, w->bt.users[r0 + r], seen + r * w->words, true);
            }
            for (int64_t i0 = 0; i0 < n; i0 += TILE) {
                int64_t tn = n - i0 < TILE ? n - i0 : TILE;
                /* Inside a parallel region OpenBLAS runs single-threaded. */
                blas->gemm(false, true, rb, tn, dim, 1.0f, w->hidden + r0 * dim, dim,
                           item_table + (1 + i0) * dim, dim, 0.0f, tile, tn);
                for (int64_t r = 0; r < rb; r++)
                    heap_scan(&h[r], tile + r * tn, tn, (int32_t)(1 + i0), k,
                              o->keep_history ? NULL : seen + r * w->words);
            }
            for (int64_t r = 0; r < rb; r++) {
                int64_t u = w->bt.users[r0 + r];
                heap_finish(&h[r], k, out->items + u * k, out->scores + u * k);
                if (!o->keep_history)
                    history_bits(d, u, seen + r * w->words, false);
                if (h[r].nan) {
#pragma omp critical(uz_recommend_nan)
                    if (bad < 0 || u < bad)
                        bad = u;
                }
            }
        }
    }
    if (bad >= 0)
        return UZ_FAIL(UZ_ERR_NUMERIC, "recommend: NaN score for user %s", d->user_names[bad]);
    return UZ_OK;
}

uz_status uz_recommend_topk(const uz_seqrec *d, uz_seqrec_encoder enc, void *enc_ctx,
                            const float *item_table, int64_t dim, const uz_recommend_opts *opts,
                            uz_recs *out)
{
    *out = (uz_recs){0};
    uz_recommend_opts o = *opts;
    int nt = omp_get_max_threads();
    /* Enough row blocks for every thread. */
    o.batch = o.batch ? o.batch : (256 > ROWS * nt ? 256 : ROWS * nt);
    o.max_len = o.max_len ? o.max_len : 50;
    int64_t k = o.topk, n = d->n_items;
    if (k < 1 || o.batch < 1 || o.max_len < 1 || dim < 1 || !enc || !item_table)
        return UZ_FAIL(UZ_ERR_ARG,
                       "recommend: need topk >= 1 (got %lld), batch >= 1 (%lld), max_len >= 1 "
                       "(%lld), dim >= 1 (%lld), an encoder and an item table",
                       (long long)k, (long long)o.batch, (long long)o.max_len, (long long)dim);
    work w = {0};
    uz_status st = uz_seqrec_samples_all(d, &w.all);
    if (st == UZ_OK)
        st = uz_seqrec_batch_init(&w.bt, o.batch, o.max_len);
    if (st == UZ_OK) {
        w.order = order_by_length(&w.all, o.max_len);
        w.hidden = uz_malloc((size_t)(o.batch * dim) * sizeof(float), "recommend hidden");
        w.tile = uz_malloc((size_t)(nt * ROWS * TILE) * sizeof(float), "recommend score tiles");
        w.heap_s = uz_malloc((size_t)(nt * ROWS * k) * sizeof(float), "recommend heaps");
        w.heap_i = uz_malloc((size_t)(nt * ROWS * k) * sizeof(int32_t), "recommend heaps");
        w.words = (n + 1 + 63) / 64;
        w.seen = uz_calloc((size_t)(nt * ROWS * w.words) * sizeof(uint64_t), "recommend history");
        out->n_users = d->n_users;
        out->k = k;
        out->items = uz_malloc((size_t)(d->n_users * k) * sizeof(int32_t), "recommendations");
        out->scores = uz_malloc((size_t)(d->n_users * k) * sizeof(float), "recommendations");
        if (!w.order || !w.hidden || !w.tile || !w.heap_s || !w.heap_i || !w.seen ||
            !out->items || !out->scores)
            st = UZ_ERR_NOMEM;
    }
    for (int64_t start = 0; st == UZ_OK && start < d->n_users; start += o.batch) {
        int64_t b = d->n_users - start < o.batch ? d->n_users - start : o.batch;
        st = uz_seqrec_batch_fill(&w.bt, d, &w.all, w.order + start, b, true);
        if (st == UZ_OK)
            st = enc(enc_ctx, &w.bt, w.hidden);
        if (st == UZ_OK)
            st = score_batch(d, &w, item_table, dim, &o, k, out);
    }
    work_free(&w);
    if (st != UZ_OK)
        uz_recs_free(out);
    return st;
}

/* ---- writing ------------------------------------------------------------- */

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

uz_recs_format uz_recs_format_for(const char *path)
{
    return ends_with(path, ".jsonl") || ends_with(path, ".json") ? UZ_RECS_JSONL : UZ_RECS_TSV;
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void write_tsv(FILE *f, const uz_recs *r, const uz_seqrec *d)
{
    fprintf(f, "user\trank\titem\tscore%s\n", d->titles ? "\ttitle" : "");
    char buf[16];
    for (int64_t u = 0; u < r->n_users; u++)
        for (int64_t j = 0; j < r->k && r->items[u * r->k + j]; j++) {
            int32_t item = r->items[u * r->k + j];
            fprintf(f, "%s\t%lld\t%s\t%.6g", d->user_names[u], (long long)j + 1,
                    uz_seqrec_item_name(d, item, buf, sizeof buf), (double)r->scores[u * r->k + j]);
            if (d->titles)
                fprintf(f, "\t%s", d->titles[item] ? d->titles[item] : "");
            fputc('\n', f);
        }
}

static void write_jsonl(FILE *f, const uz_recs *r, const uz_seqrec *d)
{
    char buf[16];
    for (int64_t u = 0; u < r->n_users; u++) {
        fputs("{\"user\": ", f);
        json_str(f, d->user_names[u]);
        fputs(", \"recs\": [", f);
        for (int64_t j = 0; j < r->k && r->items[u * r->k + j]; j++) {
            int32_t item = r->items[u * r->k + j];
            float s = r->scores[u * r->k + j];
            fprintf(f, "%s{\"rank\": %lld, \"item\": ", j ? ", " : "", (long long)j + 1);
            json_str(f, uz_seqrec_item_name(d, item, buf, sizeof buf));
            /* JSON has no infinities: a -inf score (from the model) is null. */
            if (isfinite(s))
                fprintf(f, ", \"score\": %.6g", (double)s);
            else
                fputs(", \"score\": null", f);
            if (d->titles && d->titles[item]) {
                fputs(", \"title\": ", f);
                json_str(f, d->titles[item]);
            }
            fputc('}', f);
        }
        fputs("]}\n", f);
    }
}

uz_status uz_recs_write(const uz_recs *r, const uz_seqrec *d, uz_recs_format fmt,
                        const char *path)
{
    if (r->n_users != d->n_users)
        return UZ_FAIL(UZ_ERR_ARG, "recommend write: %lld rows for %lld users",
                       (long long)r->n_users, (long long)d->n_users);
    uz_atomic_file f;
    uz_status st = uz_atomic_file_begin(&f, path);
    if (st != UZ_OK)
        return st;
    /* Optional: without it stdio's default buffer is merely slower. */
    char *iobuf = uz_malloc((size_t)1 << 20, "recommend output buffer");
    if (iobuf)
        setvbuf(f.fp, iobuf, _IOFBF, (size_t)1 << 20);
    if (fmt == UZ_RECS_JSONL)
        write_jsonl(f.fp, r, d);
    else
        write_tsv(f.fp, r, d);
    st = uz_atomic_file_commit(&f, true);
    uz_free(iobuf);
    return st;
}
