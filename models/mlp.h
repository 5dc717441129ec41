/* A multi-layer perceptron: linear layers with ReLU between them. */
#ifndef UZ_MLP_H
#define UZ_MLP_H

#include "core/unizoo.h"

enum { UZ_MLP_MAX_LAYERS = 8 };

typedef struct uz_mlp {
    int n_layers;
    uz_tensor *weight[UZ_MLP_MAX_LAYERS]; /* "fc<i>.weight" [out, in] */
    uz_tensor *bias[UZ_MLP_MAX_LAYERS];   /* "fc<i>.bias" [out] */
} uz_mlp;

/* Declares n_sizes-1 layers in p: sizes = {in, hidden..., out}. */
uz_status uz_mlp_declare(uz_mlp *m, uz_params *p, int n_sizes, const int64_t *sizes);
/* Same, naming the layers prefix + "fc<i>.weight" (e.g. "trunk.fc0.weight"). */
uz_status uz_mlp_declare_named(uz_mlp *m, uz_params *p, const char *prefix, int n_sizes,
                               const int64_t *sizes);
/* PyTorch's nn.Linear default: U(-1/sqrt(in), 1/sqrt(in)) for weights and biases. */
void uz_mlp_init(uz_mlp *m, uint64_t seed);
/* Same, drawing from Philox streams first_stream, first_stream + 1, ... so
 * several MLPs in one model start from independent values. */
void uz_mlp_init_streams(uz_mlp *m, uint64_t seed, uint64_t first_stream);
/* x [..., in] -> logits [..., out]. */
uz_tensor *uz_mlp_forward(uz_ctx *ctx, const uz_mlp *m, uz_tensor *x);
/* x [..., in] -> features [..., out] with ReLU and then dropout (p, when
 * training) after every layer, the last included: a trunk for task heads. */
uz_tensor *uz_mlp_forward_features(uz_ctx *ctx, const uz_mlp *m, uz_tensor *x, float dropout,
                                   bool training);

#endif
