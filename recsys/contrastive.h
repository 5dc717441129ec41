/* MCLRec's contrastive terms over two views u, v [B, d] of a batch, built
 * from differentiable core ops (so autograd gives their gradients):
 *
 *   Z = [u; v] [2B, d],  S = Z Z^T / tau  [2B, 2B]  (dot similarity)
 *
 * Anchor a's positive is its partner p(a) = a + B (a < B) or a - B; the
 * negatives are the other 2(B - 1) rows of the batch (no false-negative
 * removal), as the official info_nce / mask_correlated_samples. */
#ifndef UZ_RECSYS_CONTRASTIVE_H
#define UZ_RECSYS_CONTRASTIVE_H

#include "core/unizoo.h"

/* S for views u, v [B, d] (same shape, B >= 1, tau > 0). */
uz_tensor *uz_contrastive_scores(uz_ctx *ctx, uz_tensor *u, uz_tensor *v, float tau);

/* InfoNCE from S [2B, 2B]: the mean over the 2B anchors of
 * -log softmax(S[a, k], k != a)[p(a)], i.e. cross-entropy over the 2B - 1
 * non-self columns with the partner as the label (the official code's CE
 * with label 0 over [positive | negatives]). Returns a 0-d tensor. */
uz_tensor *uz_info_nce_scores(uz_ctx *ctx, uz_tensor *s);

/* uz_info_nce_scores(uz_contrastive_scores(u, v, tau)). */
uz_tensor *uz_info_nce(uz_ctx *ctx, uz_tensor *u, uz_tensor *v, float tau);

/* The contrastive regulariser R of one pair of views, from its S.
 *
 * UZ_MARGIN_CODE (meta_contrast_rl_1 in the official code): margins per
 * anchor row, pos_a = S[a, p(a)], neg_a = max over a's negatives,
 *   R = mean_a [pos_a - neg_a]_+ + mean_{a, k neg} [max(pos_a, neg_a) - S[a, k]]_+
 * (its first term is [pos_a - min(pos_a, neg_a)]_+ as the code writes it).
 *
 * UZ_MARGIN_PAPER (Eq. 11-13): set-level margins over all 2B positives and
 * all 2B(2B - 2) negatives, mar_min = min(min pos, max neg), mar_max =
 * max(min pos, max neg),
 *   R = mean [pos - mar_min]_+ + mean [mar_max - neg]_+.
 *
 * Nothing is detached: gradients flow through the margins too. Needs B >= 2
 * (a batch of one has no negatives). Returns a 0-d tensor. */
typedef enum uz_margin_mode { UZ_MARGIN_CODE, UZ_MARGIN_PAPER } uz_margin_mode;

uz_tensor *uz_contrastive_margin(uz_ctx *ctx, uz_tensor *s, uz_margin_mode mode);

#endif
