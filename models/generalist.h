/* The generalist (Uni-Perceiver v2 style): one set of weights for image
 * classification, detection, captioning and image-text retrieval, each
 * posed as choosing among candidate targets by cosine similarity in the
 * unified decoder's space.
 *
 * Image x -> backbone -> F2, F3 -> region proposals (q_sem + B(box), with
 * boxes and objectness) and global tokens (attention pools + F3 tokens);
 * text -> SentencePiece ids -> text encoder. The unified decoder g runs over
 * [<SPE>, tokens]; its outputs, projected and L2-normalised, are scored
 * against the candidates (class names, the vocabulary, the other modality),
 * which go through the same encoders and g. */
#ifndef UZ_GENERALIST_H
#define UZ_GENERALIST_H

#include "models/generalist_data.h"
#include "models/image_encoder.h"
#include "models/text_encoder.h"
#include "models/unified_decoder.h"
#include "train/model.h"

typedef enum uz_gen_task {
    UZ_GEN_CLASSIFY,
    UZ_GEN_DETECT,
    UZ_GEN_CAPTION,
    UZ_GEN_RETRIEVE,
    UZ_GEN_TASKS
} uz_gen_task;

extern const char *const uz_gen_task_names[UZ_GEN_TASKS];

enum { UZ_GEN_CLASSES = 10, UZ_GEN_MAX_TEXT = 64 };

typedef struct uz_gen_config {
    int channels;           /* 1 (gray) or 3 */
    int cls_size, scene_size;
    int64_t width;          /* d */
    int heads;
    int64_t widths[4];      /* backbone stem, F1, F2, F3 */
    int rpn_layers, queries, pools;
    uz_rpn_query_content query_content;
    int text_layers, decoder_layers;
    int64_t vocab;          /* from the tokenizer */
    int64_t text_len;       /* class names and retrieval texts */
    int64_t caption_len;    /* caption tokens, eos included */
    bool moe;
    int experts, top_k;
    float dropout;
    /* Detection: matching costs and loss weights (DETR / DINO's), and the
     * weight of background rows in the classification term (DETR's eos_coef). */
    float cost_obj, cost_l1, cost_giou;
    float w_obj, w_l1, w_giou, bg_weight;
} uz_gen_config;

typedef struct uz_generalist {
    uz_gen_config cfg;
    uz_image_encoder image;
    uz_text_encoder text;
    uz_unified_decoder dec;
    /* The candidate texts: the class names then "background" (detection). */
    uz_gen_texts classes;
    int64_t n_pieces;    /* the tokenizer's vocabulary: the caption candidates */
    int32_t eos_id;
    int32_t banned[4];   /* ids captions never contain: pad, unk, bos, <spe> */
    int n_banned;
} uz_generalist;

/* A proposal's detection: box cx, cy, w, h relative to the image, a class
 * other than background and its score (objectness x class probability). */
typedef struct uz_gen_detection {
    float box[4];
    int cls;
    float score;
} uz_gen_detection;

/* Declares and initialises every block in p (finalizing it). */
uz_status uz_gen_declare(uz_generalist *g, uz_params *p, const uz_gen_config *cfg, uint64_t seed);

/* g over [<SPE>, global, regional] of an encoded image batch (from
 * uz_image_encoder_forward over g->image) for `task`: the output rows
 * [start, start + len) -> [B, len, d] (uz_unified_decoder_forward_rows). */
uz_tensor *uz_gen_decode_image(uz_ctx *ctx, const uz_generalist *g, uz_gen_task task,
                               const uz_image_encoding *im, int64_t start, int64_t len,
                               bool training);

/* The normalised <SPE> output of h [B, T, d] (projected): [B, D]. */
uz_tensor *uz_gen_spe(uz_ctx *ctx, const uz_generalist *g, uz_tensor *h);

/* images [n, C, S, S] of the batch idx[0..n) of a set, normalised. */
uz_tensor *uz_gen_image_batch(uz_ctx *ctx, const uz_gen_images *im, const int64_t *idx,
                              int64_t n);

/* Image encoder, then g for task: the normalised <SPE> outputs [B, D]; the
 * encoding (proposals included) is left in *enc. */
uz_tensor *uz_gen_image_embedding(uz_ctx *ctx, const uz_generalist *g, uz_gen_task task,
                                  uz_tensor *images, bool training, uz_image_encoding *enc);

/* Classification scores [B, UZ_GEN_CLASSES] of images against the class
 * names (before the softmax). */
uz_tensor *uz_gen_class_scores(uz_ctx *ctx, const uz_generalist *g, uz_tensor *images,
                               bool training);

/* Detection scores [B * Q, classes + background] of every regional output
 * of an encoded batch against the class names and "background". */
uz_tensor *uz_gen_region_scores(uz_ctx *ctx, const uz_generalist *g,
                                const uz_image_encoding *enc, bool training);

/* The mean training loss of `task` over examples idx[0..n) of the train
 * split: classification and retrieval index images, captioning captions,
 * detection scene images. */
uz_tensor *uz_gen_loss(uz_ctx *ctx, const uz_generalist *g, const uz_gen_data *d,
                       uz_gen_task task, const int64_t *idx, int64_t n);

/* Texts ids [n, len] through the text encoder and g, as inputs or as
 * candidate targets of `task`: the normalised <SPE> outputs [n, D]. */
uz_tensor *uz_gen_embed_texts(uz_ctx *ctx, const uz_generalist *g, uz_gen_task task,
                              bool target, const int32_t *ids, int64_t n, int64_t len,
                              bool training);

/* Every vocabulary id as a one-token text: the caption candidates [V, D]. */
uz_tensor *uz_gen_embed_vocab(uz_ctx *ctx, const uz_generalist *g, bool training);

/* Captioning a step at a time (inference): uz_gen_caption_prefix runs
 * <SPE> and the image tokens through the decoder once, writing each layer's
 * keys and values to kv[0..decoder layers); uz_gen_caption_query then gives
 * the normalised output [B, D] of query t from those and the caption so
 * far, ids[b * ld + i] for i < t: the same as uz_gen_caption_queries' query
 * t, for a fraction of the work (the image tokens are not run again, and
 * neither are the other queries). */
uz_status uz_gen_caption_prefix(uz_ctx *ctx, const uz_generalist *g, const uz_image_encoding *im,
                                uz_kv *kv);
uz_tensor *uz_gen_caption_query(uz_ctx *ctx, const uz_generalist *g, const uz_kv *prefix,
                                const int32_t *ids, int64_t ld, int64_t t);

/* Captioning's two-stream pass: image tokens plus caption ids [B, L]
 * (lengths[b] valid) -> normalised query outputs [B, L, D]; query j
 * predicts token j. */
uz_tensor *uz_gen_caption_queries(uz_ctx *ctx, const uz_generalist *g,
                                  const uz_image_encoding *im, const int32_t *ids,
                                  const int64_t *lengths, int64_t L, bool training);

/* Inference (gradient recording off). images are normalised batches
 * [B, C, S, S]. */

/* Class probabilities [B, UZ_GEN_CLASSES] into probs. */
uz_status uz_gen_classify(uz_ctx *ctx, const uz_generalist *g, uz_tensor *images, float *probs);
/* Every proposal of every image with its k best classes (1 <= k <=
 * UZ_GEN_CLASSES), best first: out[B * Q * k], image-major. */
uz_status uz_gen_detect(uz_ctx *ctx, const uz_generalist *g, uz_tensor *images, int k,
                        uz_gen_detection *out);
/* Caption ids (up to the eos) as text into out[cap]. */
uz_status uz_gen_caption_text(const uz_generalist *g, const uz_tokenizer *tok, const int32_t *ids,
                              int64_t n, char *out, size_t cap);
/* Captions by beam search (beam >= 1; 1 is greedy decoding), `beam` hypotheses
 * per image, all images decoded together: each image's best hypothesis by
 * summed log-probability (no length penalty) in ids [B, L] (eos last when
 * it came before L), its length in lengths [B]. The context is reset
 * between steps. */
uz_status uz_gen_caption_beam(uz_ctx *ctx, const uz_generalist *g, uz_tensor *images, int beam,
                              int64_t L, int32_t *ids, int64_t *lengths);

#endif
