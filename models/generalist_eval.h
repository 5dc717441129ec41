/* The generalist's held-out evaluation over the test splits. */
#ifndef UZ_GENERALIST_EVAL_H
#define UZ_GENERALIST_EVAL_H

#include "models/generalist.h"

typedef struct uz_gen_eval {
    const uz_generalist *g;
    const uz_gen_data *data;
    const uz_tokenizer *tok;
    int64_t limit;       /* > 0: the first `limit` test images of each set */
    int beam;            /* captions: beam width >= 1, 1 = greedy */
} uz_gen_eval;

/* Metrics of model tasks 0..n_tasks-1 (tasks[k] is the generalist task of
 * model task k): "accuracy" (classify); "map", "map50" and "map50_boxes"
 * (detect; the last counts every class as one, each proposal once, ranked
 * by objectness x its best class's probability); "bleu4" and "cider"
 * (captions by beam search of width beam, 1 = greedy);
 * "i2t_r1/5/10" and "t2i_r1/5/10" (retrieve). */
uz_status uz_gen_evaluate(uz_ctx *ctx, const uz_gen_eval *e, const int *tasks, int n_tasks,
                          uz_metrics *out);

#endif
