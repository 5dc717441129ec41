/* MCLRec training-step benchmark on Beauty with the paper's settings (batch
 * 256, d 64, 2 layers, 2 heads, inner 256, length 50, dropout 0.5/0.5, Adam
 * 1e-3, Beauty's lmd 0 and beta 0.05). Batches are what an epoch feeds the
 * trainer: the training prefixes of the leave-one-out split, shuffled
 * (seeded Fisher-Yates), 256 at a time, padded to 50 or cut to the batch's
 * longest history (--cut), with the two augmented views of
 * recsys/augment.h. Times uz_mclrec_train_step (MCLRec's three updates, or
 * SASRec's one CE update with --variant sasrec) on WARMUP untimed then
 * `batches` timed batches, and prints one JSON line: ms per batch, the
 * epoch time extrapolated to all of the split's batches, GFLOP per batch
 * (the count of bench/run_mclrec.sh's table note, for the work this side
 * runs), GFLOP/s, and peak RSS.
 *
 * --dump FILE writes the warm-up and timed batches (int32 little endian:
 * b, len, ids[b*len], lengths[b], targets[b], then each view's ids and
 * lengths) so that bench/reference/mclrec_torch.py trains on the very same
 * batches.
 *
 * usage: bench_mclrec [--data Beauty.txt] [--variant mclrec|sasrec] [--cut]
 *                     [--batches N] [--warmup W] [--dump FILE]
 * (threads: OMP_NUM_THREADS) */
#include "bench/support/bench_time.h"
#include "recsys/recsys.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

enum { BATCH = 256, MAX_LEN = 50 };

/* One encoder forward over b rows of width len: per token and layer the
 * q/k/v/o projections (8 d^2), the feed-forward (4 d inner) and the scores
 * and weighted sum over len keys (4 len d), as mclrec.md's appendix counts
 * them; embeddings, norms, dropout and softmax are not counted. */
static double encoder_flop(const uz_sasrec_config *c, int64_t b, int64_t len)
{
    double per_token = 8.0 * (double)(c->hidden * c->hidden) + 4.0 * (double)(c->hidden * c->inner) +
                       4.0 * (double)(len * c->hidden);
    return (double)(b * len) * (double)c->layers * per_token;
}

typedef struct options {
    const char *data, *dump;
    uz_mclrec_variant variant;
    bool cut;
    int batches, warmup;
} options;

static bool parse(int argc, char **argv, options *o)
{
    *o = (options){.data = "../shared/datasets/seqrec/Beauty.txt", .variant = UZ_MCLREC_ALTERNATING,
                   .batches = 20, .warmup = 3};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--cut") == 0)
            o->cut = true;
        else if (v && strcmp(a, "--data") == 0)
            o->data = argv[++i];
        else if (v && strcmp(a, "--dump") == 0)
            o->dump = argv[++i];
        else if (v && strcmp(a, "--batches") == 0)
            o->batches = atoi(argv[++i]);
        else if (v && strcmp(a, "--warmup") == 0)
            o->warmup = atoi(argv[++i]);
        else if (v && strcmp(a, "--variant") == 0) {
            if (uz_mclrec_variant_parse(argv[++i], &o->variant) != UZ_OK) {
                fprintf(stderr, "bench_mclrec: %s\n", uz_error_message());
                return false;
            }
        } else {
            fprintf(stderr, "bench_mclrec: bad argument %s\n", a);
            return false;
        }
    }
    if (o->batches < 1 || o->warmup < 0) {
        fprintf(stderr, "bench_mclrec: need --batches >= 1 and --warmup >= 0\n");
        return false;
    }
    return true;
}

/* Fisher-Yates over 0..n-1 with Philox draws. */
static void shuffle(int64_t *idx, int64_t n, uint64_t seed)
{
    for (int64_t i = 0; i < n; i++)
        idx[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        uint32_t r[4];
        uz_philox(seed, 0, (uint64_t)i, r);
        int64_t j = (int64_t)((((uint64_t)r[0] << 32) | r[1]) % (uint64_t)(i + 1));
        int64_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

static bool dump_batch(FILE *f, const uz_seqrec_batch *bt, int32_t *const view_ids[2],
                       int32_t *const view_len[2])
{
    size_t cells = (size_t)(bt->b * bt->len), rows = (size_t)bt->b;
    int32_t head[2] = {(int32_t)bt->b, (int32_t)bt->len};
    bool ok = fwrite(head, sizeof head, 1, f) == 1 &&
              fwrite(bt->ids, sizeof(int32_t), cells, f) == cells &&
              fwrite(bt->lengths, sizeof(int32_t), rows, f) == rows &&
              fwrite(bt->targets, sizeof(int32_t), rows, f) == rows;
    for (int v = 0; v < 2 && ok; v++)
        ok = fwrite(view_ids[v], sizeof(int32_t), cells, f) == cells &&
             fwrite(view_len[v], sizeof(int32_t), rows, f) == rows;
    return ok;
}

int main(int argc, char **argv)
{
    options o;
    if (!parse(argc, argv, &o))
        return 2;
    uz_seqrec d;
    uz_seqrec_split sp;
    if (uz_seqrec_load_text(o.data, &d) != UZ_OK) {
        fprintf(stderr, "bench_mclrec: %s\n", uz_error_message());
        return 1;
    }
    if (uz_seqrec_split_loo(&d, &sp) != UZ_OK) {
        fprintf(stderr, "bench_mclrec: %s\n", uz_error_message());
        uz_seqrec_free(&d);
        return 1;
    }
    int64_t n_train = sp.train.n, epoch_batches = (n_train + BATCH - 1) / BATCH;
    int total = o.warmup + o.batches;
    if ((int64_t)total * BATCH > n_train) {
        fprintf(stderr, "bench_mclrec: %d batches need %d samples, the split has %lld\n", total,
                total * BATCH, (long long)n_train);
        return 2;
    }

    uz_sasrec_config ec = uz_sasrec_config_default(d.n_items);
    uz_sasrec enc;
    uz_params *ep = uz_params_new();
    uz_mclrec *m = NULL;
    uz_mclrec_config mc = uz_mclrec_config_default();
    mc.variant = o.variant;
    mc.lambda = 0.0f;   /* Beauty's script: lmd 0, beta 0.05 */
    mc.beta = 0.05f;
    if (!ep || uz_sasrec_declare(&enc, ep, "", &ec) != UZ_OK || uz_params_finalize(ep) != UZ_OK) {
        fprintf(stderr, "bench_mclrec: %s\n", uz_error_message());
        return 1;
    }
    uz_sasrec_init(&enc, 2020);
    if (uz_mclrec_new(&mc, &enc, ep, 2020, &m) != UZ_OK) {
        fprintf(stderr, "bench_mclrec: %s\n", uz_error_message());
        return 1;
    }

    int64_t *order = malloc(sizeof(int64_t) * (size_t)n_train);
    int32_t *vids[2], *vlen[2];
    for (int v = 0; v < 2; v++) {
        vids[v] = malloc(sizeof(int32_t) * BATCH * MAX_LEN);
        vlen[v] = malloc(sizeof(int32_t) * BATCH);
    }
    uz_seqrec_batch bt;
    uz_ctx *ctx = uz_ctx_new(0, 0);
    FILE *dump = o.dump ? fopen(o.dump, "wb") : NULL;
    if (!order || !vids[0] || !vids[1] || !vlen[0] || !vlen[1] || !ctx ||
        uz_seqrec_batch_init(&bt, BATCH, MAX_LEN) != UZ_OK || (o.dump && !dump)) {
        fprintf(stderr, "bench_mclrec: out of memory or cannot open %s\n", o.dump ? o.dump : "");
        return 1;
    }
    uz_ctx_set_seed(ctx, 2020);
    shuffle(order, n_train, 2020);
    uz_augment_config ac = uz_augment_defaults();
    bool views = o.variant != UZ_MCLREC_SASREC;

    double *times = malloc(sizeof(double) * (size_t)o.batches);
    double build_ms = 0.0, flop = 0.0, padded_tokens = 0.0, real_tokens = 0.0;
    for (int i = 0; i < total; i++) {
        double t0 = bench_now_ms();
        uz_status st = uz_seqrec_batch_fill(&bt, &d, &sp.train, order + (int64_t)i * BATCH, BATCH,
                                            o.cut);
        if (!st && views)
            st = uz_augment_batch(&ac, bt.ids, bt.lengths, bt.b, bt.len, 2020, (uint64_t)i, vids,
                                  vlen, NULL);
        double t1 = bench_now_ms();
        if (st) {
            fprintf(stderr, "bench_mclrec: %s\n", uz_error_message());
            return 1;
        }
        if (dump && !dump_batch(dump, &bt, vids, vlen)) {
            fprintf(stderr, "bench_mclrec: cannot write %s\n", o.dump);
            return 1;
        }
        uz_mclrec_batch b = {.size = bt.b, .max_len = bt.len, .ids = bt.ids, .lengths = bt.lengths,
                             .targets = bt.targets};
        if (views)
            for (int v = 0; v < 2; v++) {
                b.view_ids[v] = vids[v];
                b.view_lengths[v] = vlen[v];
            }
        uz_mclrec_step_stats s;
        double t2 = bench_now_ms();
        st = uz_mclrec_train_step(m, ctx, &b, &s);
        double t3 = bench_now_ms();
        if (st) {
            fprintf(stderr, "bench_mclrec: batch %d: %s\n", i, uz_error_message());
            return 1;
        }
        if (i >= o.warmup) {
            int k = i - o.warmup;
            times[k] = t3 - t2;
            build_ms += t1 - t0;
            /* The encoder computes only the batch's longest history (it is
             * the padded width when cut, and <= it otherwise). */
            int64_t longest = 0;
            for (int64_t r = 0; r < bt.b; r++) {
                longest = bt.lengths[r] > longest ? bt.lengths[r] : longest;
                real_tokens += (double)bt.lengths[r];
            }
            padded_tokens += (double)(bt.b * bt.len);
            double f = encoder_flop(&ec, bt.b, longest);
            double ce = 2.0 * (double)(bt.b * ec.hidden * (ec.n_items + 1));
            /* Backward = 2x forward. MCLRec: steps 1 and 3 encode the batch
             * and both views with gradients and the CE (3 x (3F + CE)
             * each); step 2 encodes the views without recording (2F) and
             * back-propagates through the augmenters only. SASRec: 3 x
             * (F + CE). */
            flop += views ? 2.0 * 3.0 * (3.0 * f + ce) + 2.0 * f : 3.0 * (f + ce);
        }
    }
    if (dump)
        fclose(dump);

    double mean = 0.0;
    for (int k = 0; k < o.batches; k++)
        mean += times[k] / o.batches;
    bench_sort(times, o.batches);
    double median = times[o.batches / 2];
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double gflop = flop / o.batches * 1e-9;
    const char *wait = getenv("OMP_WAIT_POLICY");
    printf("{\"impl\": \"unizoo\", \"case\": \"%s_%s\", \"threads\": %d, \"wait_policy\": \"%s\", "
           "\"batches\": %d, \"ms_mean\": %.1f, \"ms_median\": %.1f, \"ms_min\": %.1f, "
           "\"epoch_batches\": %lld, \"epoch_s\": %.1f, \"gflop_batch\": %.2f, \"gflops\": %.2f, "
           "\"batch_build_ms\": %.2f, \"padded_tokens\": %.0f, \"real_tokens\": %.0f, "
           "\"peak_rss_mb\": %.1f, \"arena_mb\": %.1f}\n",
           views ? "mclrec" : "sasrec", o.cut ? "cut" : "pad", omp_get_max_threads(),
           wait ? wait : "default", o.batches, mean, median, times[0], (long long)epoch_batches,
           mean * 1e-3 * (double)epoch_batches, gflop, gflop / (mean * 1e-3),
           build_ms / o.batches, padded_tokens / o.batches, real_tokens / o.batches,
           (double)ru.ru_maxrss / 1024.0, (double)uz_ctx_arena_peak(ctx) / (1024.0 * 1024.0));

    free(times);
    uz_ctx_free(ctx);
    uz_seqrec_batch_free(&bt);
    for (int v = 0; v < 2; v++) {
        free(vids[v]);
        free(vlen[v]);
    }
    free(order);
    uz_mclrec_free(m);
    uz_params_free(ep);
    uz_seqrec_split_free(&sp);
    uz_seqrec_free(&d);
    return 0;
}
