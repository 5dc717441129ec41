/* Captioning metrics as the COCO caption evaluation (pycocoevalcap)
 * computes them: corpus BLEU-1..4 and CIDEr-D.
 *
 * A corpus is n images, each with one candidate caption cands[i] and its
 * references refs[ref_start[i] .. ref_start[i+1]) (ref_start has n + 1
 * entries, ref_start[0] = 0, at least one reference per image).
 *
 * Text is first normalised by uz_caption_normalize: ASCII lowercased,
 * punctuation dropped, split at whitespace. That approximates the PTB
 * tokenizer coco-caption runs (which also lowercases and deletes the
 * punctuation tokens); it differs only where PTB splits inside a word
 * ("don't" -> "do n't"), which the captions we score do not contain. */
#ifndef UZ_CAPTION_METRICS_H
#define UZ_CAPTION_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* Writes the normalised text (words separated by one space) into out,
 * NUL-terminated and truncated to cap - 1 bytes, and returns its full
 * length, snprintf style. Separators: whitespace and ASCII punctuation,
 * except that '-' and '\'' inside a word are kept ("t-shirt"); they are
 * trimmed from a word's ends. Non-ASCII bytes are kept as they are. */
size_t uz_caption_normalize(const char *text, char *out, size_t cap);

typedef struct uz_caption_scores {
    double bleu[4]; /* bleu[k] = corpus BLEU-(k+1) */
    double cider_d; /* mean over images of the CIDEr-D score (x10 scale) */
} uz_caption_scores;

/* Corpus BLEU (pycocoevalcap's Bleu, option "closest"): n-gram counts of
 * each candidate are clipped by their maximum count in any one reference
 * and summed over the corpus; BLEU-N is the geometric mean of the first N
 * precisions, each (matched + 1e-15) / (total + 1e-9), times the brevity
 * penalty exp(1 - r/c) when the corpus candidate length c is below r, the
 * sum over images of the reference length closest to the candidate's (the
 * shorter on ties). */
uz_status uz_caption_bleu(const char *const *cands, const char *const *refs,
                          const int64_t *ref_start, int64_t n, double bleu[4]);

/* CIDEr-D (pycocoevalcap's Cider, n = 1..4, sigma = 6): every sentence
 * becomes tf-idf vectors, one per n, with weight count * (log(N) -
 * log(max(1, df))), N the number of images and df the number of images
 * whose references hold the n-gram. A candidate and a reference score
 * sum(min(c, r) * r) / (|c| |r|) per n (0 when a norm is 0), times
 * exp(-d^2 / (2 * 36)) with d the difference of their bigram counts (as the
 * reference code measures length); an image scores 10 * the mean over n of
 * the mean over its references. *cider is the mean over images;
 * per_image (may be NULL) receives each image's score. */
uz_status uz_caption_cider_d(const char *const *cands, const char *const *refs,
                             const int64_t *ref_start, int64_t n, double *cider,
                             double *per_image);

/* Both, from one pass over the corpus. */
uz_status uz_caption_score(const char *const *cands, const char *const *refs,
                           const int64_t *ref_start, int64_t n, uz_caption_scores *out);

#endif
