/* COCO box mAP, a transcription of pycocotools' COCOeval.evaluateImg and
 * accumulate for iouType "bbox", area range "all", maxDets 100, down to its
 * floating-point details (thresholds as numpy.linspace builds them, IoU as
 * maskApi's bbIou, the np.spacing(1) in the precision denominator), so the
 * numbers agree with pycocotools to rounding of the final mean. */
#include "vision/det_metrics.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

enum { MAX_DETS = 100, N_RECALL = 101 };

/* numpy.linspace(.5, .95, 10) bit for bit: an IoU of exactly .6 passes the
 * third threshold, and the ninth is 0.8999999999999999, not .9. */
static const double iou_thr[UZ_DET_N_IOU] = {0.5, 0.55, 0.6, 0.65, 0.7,
                                             0.75, 0.8, 0.85, 0.8999999999999999, 0.95};

/* numpy.linspace(0, 1, 101): i * 0.01, the last point exactly 1. */
static double recall_thr(int i) { return i == N_RECALL - 1 ? 1.0 : (double)i * 0.01; }

/* How a kept detection fared at one threshold. */
enum { DET_FP = 0, DET_TP = 1, DET_IGNORED = 2 };

typedef struct gt_key {
    int64_t cat, img, idx;
    int crowd;
} gt_key;

typedef struct det_key {
    int64_t cat, img, idx;
    double score;
} det_key;

/* A kept detection in its category's pooled ranking; slot indexes its
 * per-threshold status. */
typedef struct ranked {
    double score;
    int64_t slot;
} ranked;

static int cmp_i64(int64_t a, int64_t b) { return (a > b) - (a < b); }

/* Per category and image, non-crowd objects first (pycocotools sorts the
 * ignored ones last), then input order. */
static int gt_cmp(const void *pa, const void *pb)
{
    const gt_key *a = pa, *b = pb;
    int c = cmp_i64(a->cat, b->cat);
    c = c ? c : cmp_i64(a->img, b->img);
    c = c ? c : (a->crowd > b->crowd) - (a->crowd < b->crowd);
    return c ? c : cmp_i64(a->idx, b->idx);
}

/* Per category and image, score descending; input order breaks ties (the
 * stable mergesort of pycocotools). */
static int det_cmp(const void *pa, const void *pb)
{
    const det_key *a = pa, *b = pb;
    int c = cmp_i64(a->cat, b->cat);
    c = c ? c : cmp_i64(a->img, b->img);
    c = c ? c : (a->score < b->score) - (a->score > b->score);
    return c ? c : cmp_i64(a->idx, b->idx);
}

/* The pooled ranking: score descending; slots are laid out by image id, then
 * rank within the image, which is the order pycocotools' stable sort keeps. */
static int ranked_cmp(const void *pa, const void *pb)
{
    const ranked *a = pa, *b = pb;
    int c = (a->score < b->score) - (a->score > b->score);
    return c ? c : cmp_i64(a->slot, b->slot);
}

/* maskApi.c bbIou on xywh boxes; a crowd region divides by the detection's area. */
static double coco_iou(const double *d, const double *g, bool crowd)
{
    double w = fmin(d[2] + d[0], g[2] + g[0]) - fmax(d[0], g[0]);
    if (w <= 0.0)
        return 0.0;
    double h = fmin(d[3] + d[1], g[3] + g[1]) - fmax(d[1], g[1]);
    if (h <= 0.0)
        return 0.0;
    double inter = w * h;
    double da = d[2] * d[3], ga = g[2] * g[3];
    double uni = crowd ? da : da + ga - inter;
    return inter / uni;
}

typedef struct eval {
    const uz_det_pred *dets;
    const uz_det_gt *gts;
    const gt_key *gk;
    const det_key *dk;
    unsigned char *gtm;    /* per ground truth (sorted position): matched */
    unsigned char *status; /* [UZ_DET_N_IOU][n_dets] by slot */
    int64_t n_dets;
    ranked *rank;
    double *rc, *pr;
} eval;

/* Greedy matching of one image's kept detections [d0, d1) against its
 * objects [g0, g1) at threshold t (evaluateImg's inner loops). */
static void match_image(eval *e, int t, int64_t d0, int64_t d1, int64_t g0, int64_t g1,
                        int64_t slot0)
{
    memset(e->gtm + g0, 0, (size_t)(g1 - g0));
    unsigned char *status = e->status + (int64_t)t * e->n_dets;
    for (int64_t k = d0; k < d1; k++) {
        const double *box = e->dets[e->dk[k].idx].box;
        double best = fmin(iou_thr[t], 1.0 - 1e-10);
        int64_t m = -1;
        for (int64_t g = g0; g < g1; g++) {
            bool crowd = e->gk[g].crowd;
            if (e->gtm[g] && !crowd)
                continue;
            /* Holding a real match, stop at the crowd regions listed last. */
            if (m >= 0 && !e->gk[m].crowd && crowd)
                break;
            double iou = coco_iou(box, e->gts[e->gk[g].idx].box, crowd);
            if (iou < best)
                continue;
            best = iou;
            m = g;
        }
        unsigned char s = DET_FP;
        if (m >= 0) {
            s = e->gk[m].crowd ? DET_IGNORED : DET_TP;
            e->gtm[m] = 1;
        }
        status[slot0 + k - d0] = s;
    }
}

/* Sum over the 101 recall points of the interpolated precision at threshold
 * t, for a category with npig non-crowd objects and nk ranked detections. */
static double precision_sum(eval *e, int t, int64_t nk, int64_t npig)
{
    const unsigned char *status = e->status + (int64_t)t * e->n_dets;
    double tp = 0.0, fp = 0.0;
    for (int64_t i = 0; i < nk; i++) {
        unsigned char s = status[e->rank[i].slot];
        tp += s == DET_TP ? 1.0 : 0.0;
        fp += s == DET_FP ? 1.0 : 0.0;
        e->rc[i] = tp / (double)npig;
        e->pr[i] = tp / (fp + tp + DBL_EPSILON); /* np.spacing(1) */
    }
    for (int64_t i = nk - 1; i > 0; i--)
        if (e->pr[i] > e->pr[i - 1])
            e->pr[i - 1] = e->pr[i];
    double sum = 0.0;
    int64_t i = 0;
    for (int r = 0; r < N_RECALL; r++) {
        /* searchsorted(rc, thr, "left"); past the end, precision is 0. */
        double thr = recall_thr(r);
        while (i < nk && e->rc[i] < thr)
            i++;
        if (i == nk)
            break;
        sum += e->pr[i];
    }
    return sum;
}

/* Matches every image of one category (objects [g0, g1), detections
 * [d0, d1) in sorted order) and adds its per-threshold precision sums. */
static void eval_category(eval *e, int64_t g0, int64_t g1, int64_t d0, int64_t d1,
                          int64_t npig, double *sums)
{
    int64_t nk = 0, g = g0, d = d0;
    while (g < g1 || d < d1) {
        int64_t img;
        if (g < g1 && d < d1)
            img = e->gk[g].img < e->dk[d].img ? e->gk[g].img : e->dk[d].img;
        else
            img = g < g1 ? e->gk[g].img : e->dk[d].img;
        int64_t ge = g, de = d;
        while (ge < g1 && e->gk[ge].img == img)
            ge++;
        while (de < d1 && e->dk[de].img == img)
            de++;
        int64_t kept = de - d < MAX_DETS ? de - d : MAX_DETS;
        for (int t = 0; t < UZ_DET_N_IOU; t++)
            match_image(e, t, d, d + kept, g, ge, nk);
        for (int64_t k = 0; k < kept; k++)
            e->rank[nk + k] = (ranked){e->dets[e->dk[d + k].idx].score, nk + k};
        nk += kept;
        g = ge;
        d = de;
    }
    qsort(e->rank, (size_t)nk, sizeof *e->rank, ranked_cmp);
    for (int t = 0; t < UZ_DET_N_IOU; t++)
        sums[t] += precision_sum(e, t, nk, npig);
}

static uz_status check_box(const double *b, const char *what, int64_t i)
{
    for (int k = 0; k < 4; k++)
        if (!isfinite(b[k]))
            return UZ_FAIL(UZ_ERR_NUMERIC, "det_map: %s %lld has a non-finite box value %g", what,
                           (long long)i, b[k]);
    if (b[2] < 0.0 || b[3] < 0.0)
        return UZ_FAIL(UZ_ERR_ARG, "det_map: %s %lld has a negative size %g x %g (xywh expected)",
                       what, (long long)i, b[2], b[3]);
    return UZ_OK;
}

static uz_status check_inputs(const uz_det_pred *dets, int64_t n_dets, const uz_det_gt *gts,
                              int64_t n_gts)
{
    if (n_dets < 0 || n_gts < 0 || (n_dets && !dets) || (n_gts && !gts))
        return UZ_FAIL(UZ_ERR_ARG, "det_map: bad input arrays (%lld detections, %lld objects)",
                       (long long)n_dets, (long long)n_gts);
    for (int64_t i = 0; i < n_dets; i++) {
        if (!isfinite(dets[i].score))
            return UZ_FAIL(UZ_ERR_NUMERIC, "det_map: detection %lld has score %g", (long long)i,
                           dets[i].score);
        uz_status st = check_box(dets[i].box, "detection", i);
        if (st != UZ_OK)
            return st;
    }
    for (int64_t i = 0; i < n_gts; i++) {
        uz_status st = check_box(gts[i].box, "ground truth", i);
        if (st != UZ_OK)
            return st;
    }
    return UZ_OK;
}

uz_status uz_det_map_compute(const uz_det_pred *dets, int64_t n_dets, const uz_det_gt *gts,
                             int64_t n_gts, uz_det_map *out)
{
    int64_t n_cats;
    return uz_det_map_compute_categories(dets, n_dets, gts, n_gts, out, NULL, INT64_MAX,
                                         &n_cats);
}

uz_status uz_det_map_compute_categories(const uz_det_pred *dets, int64_t n_dets,
                                        const uz_det_gt *gts, int64_t n_gts, uz_det_map *out,
                                        uz_det_category_ap *cats, int64_t cap, int64_t *n_cats)
{
    *n_cats = 0;
    uz_status st = check_inputs(dets, n_dets, gts, n_gts);
    if (st != UZ_OK)
        return st;
    size_t nd = (size_t)n_dets, ng = (size_t)n_gts;
    eval e = {.dets = dets, .gts = gts, .n_dets = n_dets};
    gt_key *gk = uz_malloc(ng * sizeof *gk, "det_map objects");
    det_key *dk = uz_malloc(nd * sizeof *dk, "det_map detections");
    e.gtm = uz_malloc(ng, "det_map matches");
    e.status = uz_malloc((size_t)UZ_DET_N_IOU * nd, "det_map status");
    e.rank = uz_malloc(nd * sizeof *e.rank, "det_map ranking");
    e.rc = uz_malloc(2 * nd * sizeof(double), "det_map curves");
    if (!gk || !dk || !e.gtm || !e.status || !e.rank || !e.rc) {
        st = UZ_ERR_NOMEM;
        goto done;
    }
    e.pr = e.rc + nd;
    for (int64_t i = 0; i < n_gts; i++)
        gk[i] = (gt_key){gts[i].category_id, gts[i].image_id, i, gts[i].iscrowd ? 1 : 0};
    for (int64_t i = 0; i < n_dets; i++)
        dk[i] = (det_key){dets[i].category_id, dets[i].image_id, i, dets[i].score};
    qsort(gk, ng, sizeof *gk, gt_cmp);
    qsort(dk, nd, sizeof *dk, det_cmp);
    e.gk = gk;
    e.dk = dk;

    double sums[UZ_DET_N_IOU] = {0};
    int64_t n_cat = 0, g = 0, d = 0;
    while (g < n_gts) {
        int64_t cat = gk[g].cat, ge = g, npig = 0;
        for (; ge < n_gts && gk[ge].cat == cat; ge++)
            npig += !gk[ge].crowd;
        /* Detections of categories without ground truth count nowhere. */
        while (d < n_dets && dk[d].cat < cat)
            d++;
        int64_t de = d;
        while (de < n_dets && dk[de].cat == cat)
            de++;
        if (npig > 0) {
            double cs[UZ_DET_N_IOU] = {0}, all = 0.0;
            eval_category(&e, g, ge, d, de, npig, cs);
            for (int t = 0; t < UZ_DET_N_IOU; t++) {
                sums[t] += cs[t];
                all += cs[t];
            }
            if (n_cat >= cap) {
                st = UZ_FAIL(UZ_ERR_ARG, "det_map: room for the APs of %lld categories, more "
                             "have ground truth", (long long)cap);
                goto done;
            }
            if (cats)
                cats[n_cat] = (uz_det_category_ap){cat, all / (UZ_DET_N_IOU * N_RECALL),
                                                   cs[0] / N_RECALL};
            n_cat++;
        }
        g = ge;
        d = de;
    }
    /* pycocotools' np.mean over every (threshold, recall, category) cell. */
    out->n_categories = n_cat;
    double total = 0.0;
    for (int t = 0; t < UZ_DET_N_IOU; t++) {
        out->ap_at[t] = n_cat ? sums[t] / (double)(N_RECALL * n_cat) : -1.0;
        total += sums[t];
    }
    out->ap = n_cat ? total / (double)(UZ_DET_N_IOU * N_RECALL * n_cat) : -1.0;
    out->ap50 = out->ap_at[0];
    out->ap75 = out->ap_at[5];
    *n_cats = n_cat;
done:
    uz_free(gk);
    uz_free(dk);
    uz_free(e.gtm);
    uz_free(e.status);
    uz_free(e.rank);
    uz_free(e.rc);
    return st;
}

uz_status uz_det_keep_top(uz_det_pred *dets, int64_t n_dets, int64_t per_image, int64_t *n_kept)
{
    if (per_image < 0)
        return UZ_FAIL(UZ_ERR_ARG, "det_keep_top: %lld per image, must be >= 0",
                       (long long)per_image);
    uz_status st = check_inputs(dets, n_dets, NULL, 0);
    if (st != UZ_OK)
        return st;
    /* det_cmp with one category: image, score descending, input order. */
    det_key *dk = uz_malloc((size_t)(n_dets > 0 ? n_dets : 1) * sizeof *dk, "det_keep_top");
    unsigned char *keep = uz_calloc((size_t)(n_dets > 0 ? n_dets : 1), "det_keep_top marks");
    if (!dk || !keep) {
        uz_free(dk);
        uz_free(keep);
        return UZ_ERR_NOMEM;
    }
    for (int64_t i = 0; i < n_dets; i++)
        dk[i] = (det_key){0, dets[i].image_id, i, dets[i].score};
    qsort(dk, (size_t)n_dets, sizeof *dk, det_cmp);
    for (int64_t i = 0, rank = 0; i < n_dets; i++) {
        rank = i > 0 && dk[i].img == dk[i - 1].img ? rank + 1 : 0;
        keep[dk[i].idx] = rank < per_image;
    }
    int64_t n = 0;
    for (int64_t i = 0; i < n_dets; i++)
        if (keep[i])
            dets[n++] = dets[i];
    *n_kept = n;
    uz_free(dk);
    uz_free(keep);
    return UZ_OK;
}
