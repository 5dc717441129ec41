/* The built-in configs. Each one is a full training config; `unizoo zoo`
 * resolves, validates and builds each (without data) to list it, so a
 * broken entry shows up there and in the tests. */
#include "models/zoo.h"

#include "models/fmnist_mlp.h"
#include "models/generalist_model.h"
#include "models/seqrec.h"

#include <string.h>

static const uz_zoo_entry ZOO[] = {
    {"fmnist-mlp",
     "{\"name\":\"fmnist-mlp\",\"family\":\"mlp\","
     "\"description\":\"MLP 784-256-10 on Fashion-MNIST, momentum SGD, 3 epochs (~85% test accuracy)\","
     "\"model\":{\"hidden\":[256],\"heads\":[\"classes\"]},"
     "\"train\":{\"steps\":1407,\"batch\":128,\"seed\":1,\"log_every\":100,\"eval_every\":469,"
     "\"ckpt_every\":469},"
     "\"optim\":{\"kind\":\"sgd\",\"momentum\":0.9},"
     "\"lr\":{\"base\":0.05},"
     "\"tasks\":[{\"name\":\"classes\"}]}"},
    {"fmnist-multitask",
     "{\"name\":\"fmnist-multitask\",\"family\":\"mlp\","
     "\"description\":\"two tasks on Fashion-MNIST (10 classes, 5 coarse groups): shared trunk "
     "with dropout, unmixed sampling, MT-AdamW\","
     "\"model\":{\"hidden\":[256],\"dropout\":0.1,\"heads\":[\"classes\",\"coarse\"]},"
     "\"train\":{\"steps\":1000,\"batch\":128,\"seed\":1,\"log_every\":100,\"eval_every\":250,"
     "\"ckpt_every\":250},"
     "\"optim\":{\"kind\":\"mt-adamw\",\"weight_decay\":0.01,\"exclude\":\"bias\"},"
     "\"lr\":{\"base\":0.002,\"warmup_steps\":50,\"decay\":\"cosine\",\"min_lr\":0.0001},"
     "\"tasks\":[{\"name\":\"classes\",\"ratio\":0.6},{\"name\":\"coarse\",\"ratio\":0.4}],"
     "\"sampling\":\"unmixed\"}"},
    {"fmnist-multitask-mixed",
     "{\"name\":\"fmnist-multitask-mixed\",\"family\":\"mlp\","
     "\"description\":\"the two-task toy with mixed batches and AdamW (the sampling ablation)\","
     "\"model\":{\"hidden\":[256],\"dropout\":0.1,\"heads\":[\"classes\",\"coarse\"]},"
     "\"train\":{\"steps\":1000,\"batch\":128,\"seed\":1,\"log_every\":100,\"eval_every\":250,"
     "\"ckpt_every\":250},"
     "\"optim\":{\"kind\":\"adamw\",\"weight_decay\":0.01,\"exclude\":\"bias\"},"
     "\"lr\":{\"base\":0.002,\"warmup_steps\":50,\"decay\":\"cosine\",\"min_lr\":0.0001},"
     "\"tasks\":[{\"name\":\"classes\",\"ratio\":0.6},{\"name\":\"coarse\",\"ratio\":0.4}],"
     "\"sampling\":\"mixed\"}"},
    {"fmnist-adabatch",
     "{\"name\":\"fmnist-adabatch\",\"family\":\"mlp\","
     "\"description\":\"MLP on Fashion-MNIST with the adaptive batch size (norm test over 4 "
     "micro-batches, batch 32 growing to at most 512, linear lr rescaling)\","
     "\"model\":{\"hidden\":[256],\"heads\":[\"classes\"]},"
     "\"train\":{\"steps\":800,\"batch\":32,\"micro_batches\":4,\"seed\":1,\"log_every\":100,"
     "\"eval_every\":400,\"ckpt_every\":400},"
     "\"optim\":{\"kind\":\"sgd\",\"momentum\":0.9},"
     "\"lr\":{\"base\":0.005},"
     "\"batch_schedule\":{\"kind\":\"adaptive\",\"eta\":0.5,\"b_max\":512,\"lr_rule\":\"auto\"},"
     "\"tasks\":[{\"name\":\"classes\"}]}"},
    /* The MCLRec paper's settings (batch 256, d 64, 2 layers, 2 heads,
     * length 50, dropout 0.5, Adam 1e-3) with its per-dataset lambda and
     * beta; an evaluation every epoch, early stopping on validation
     * MRR@10 after 10 without a gain, as the official scripts. */
#define SEQREC_TRAIN(epoch)                                                                        \
    "\"train\":{\"steps\":" #epoch "00,\"batch\":256,\"seed\":2020,\"log_every\":50,"               \
    "\"eval_every\":" #epoch ",\"ckpt_every\":" #epoch ",\"early_stop\":\"valid/mrr@10\","          \
    "\"patience\":10},"                                                                            \
    "\"optim\":{\"kind\":\"adamw\",\"weight_decay\":0},\"lr\":{\"base\":0.001},"                   \
    "\"tasks\":[{\"name\":\"next-item\"}]}"
    {"mclrec-beauty",
     "{\"name\":\"mclrec-beauty\",\"family\":\"seqrec\","
     "\"description\":\"MCLRec on Amazon Beauty (paper settings, lambda 0, beta 0.05; up to 100 "
     "epochs of 514 steps, early stopping)\","
     "\"model\":{\"data\":\"../shared/datasets/seqrec/Beauty.txt\",\"n_items\":12101,"
     "\"variant\":\"mclrec\",\"lambda\":0,\"beta\":0.05},"
     SEQREC_TRAIN(514)},
    {"mclrec-sports",
     "{\"name\":\"mclrec-sports\",\"family\":\"seqrec\","
     "\"description\":\"MCLRec on Amazon Sports and Outdoors (paper settings, lambda 0.04, beta "
     "0.4; up to 100 epochs of 741 steps, early stopping)\","
     "\"model\":{\"data\":\"../shared/datasets/seqrec/Sports_and_Outdoors.txt\","
     "\"n_items\":18357,\"variant\":\"mclrec\",\"lambda\":0.04,\"beta\":0.4},"
     SEQREC_TRAIN(741)},
    {"sasrec-beauty",
     "{\"name\":\"sasrec-beauty\",\"family\":\"seqrec\","
     "\"description\":\"SASRec with full-softmax cross-entropy on Amazon Beauty (the MCLRec "
     "encoder without contrastive terms)\","
     "\"model\":{\"data\":\"../shared/datasets/seqrec/Beauty.txt\",\"n_items\":12101,"
     "\"variant\":\"sasrec\"},"
     SEQREC_TRAIN(514)},
    {"cl4srec-beauty",
     "{\"name\":\"cl4srec-beauty\",\"family\":\"seqrec\","
     "\"description\":\"CL4SRec on Amazon Beauty: cross-entropy plus InfoNCE between two "
     "augmented views (lambda 0.1), no augmenters\","
     "\"model\":{\"data\":\"../shared/datasets/seqrec/Beauty.txt\",\"n_items\":12101,"
     "\"variant\":\"cl4srec\",\"lambda\":0.1},"
     SEQREC_TRAIN(514)},
    {"mclrec-ml100k",
     "{\"name\":\"mclrec-ml100k\",\"family\":\"seqrec\","
     "\"description\":\"MCLRec on MovieLens-100k (scripts/fetch-ml100k.sh), the quickstart: "
     "histories cut to 20, 300 steps of 128 (one epoch is 760), a few minutes on 2 cores\","
     "\"model\":{\"data\":\"~/.cache/unizoo/ml-100k\",\"n_items\":1682,"
     "\"variant\":\"mclrec\",\"max_len\":20,\"hidden_dropout\":0.2,\"attn_dropout\":0.2,"
     "\"beta\":0.05},"
     "\"train\":{\"steps\":300,\"batch\":128,\"seed\":2020,\"log_every\":25,"
     "\"eval_every\":100,\"ckpt_every\":100,\"early_stop\":\"valid/mrr@10\"},"
     "\"optim\":{\"kind\":\"adamw\",\"weight_decay\":0},\"lr\":{\"base\":0.001},"
     "\"tasks\":[{\"name\":\"next-item\"}]}"},
#undef SEQREC_TRAIN
    /* The generalist on Fashion-MNIST and the scenes composed from it
     * (`unizoo data scenes`, `unizoo text train-tokenizer`; scripts/setup.sh
     * makes both): one task per step (unmixed) with MT-AdamW; the
     * specialists and the AdamW ablation are the same model and schedule.
     * MT-AdamW's moments add up unit-norm task gradients scaled by 1/s_k,
     * which makes its steps about twice AdamW's (with clipping at 1) here,
     * so it runs at half AdamW's learning rate (measured better than at
     * the same rate on three tasks of four, equal on the fourth).
     * Classification steps take 128 digits (32x32, a third of a scene's
     * cost each) where the other tasks take 32 scenes: the classifier sees
     * four times the images for about 3 more minutes of the run. */
#define GEN_TRAIN(steps, lr)                                                                       \
    "\"train\":{\"steps\":" #steps ",\"batch\":32,\"seed\":1,\"log_every\":50,"                    \
    "\"eval_every\":" #steps ",\"ckpt_every\":300},"                                               \
    "\"lr\":{\"base\":" #lr ",\"warmup_steps\":200,\"decay\":\"cosine\",\"min_lr\":0.00002},"
#define GEN_OPTIM(kind)                                                                            \
    "\"optim\":{\"kind\":\"" kind "\",\"weight_decay\":0.05,\"max_grad_norm\":1,"             \
    "\"exclude\":\"bias,norm,ln,embed,spe,logit_scale\"},"
#define GEN_CLASSIFY_BATCH "\"batch\":128"
/* Two epochs of the training digits for the backbone alone before step 1
 * (models/backbone_pretrain.h): the paper's backbones start trained. */
#define GEN_PRETRAIN "\"pretrain_steps\":960"
#define GEN_TASKS4                                                                                 \
    "\"tasks\":[{\"name\":\"classify\",\"ratio\":0.2," GEN_CLASSIFY_BATCH "},"                        \
    "{\"name\":\"detect\",\"ratio\":0.35},"                                                          \
    "{\"name\":\"caption\",\"ratio\":0.25},{\"name\":\"retrieve\",\"ratio\":0.2}],"             \
    "\"sampling\":\"unmixed\"}"
    {"generalist",
     "{\"name\":\"generalist\",\"family\":\"generalist\","
     "\"description\":\"Uni-Perceiver v2-style generalist: classification (Fashion-MNIST), "
     "detection, captioning and retrieval (scenes), unmixed sampling, MT-AdamW\","
     "\"model\":{" GEN_PRETRAIN "}," GEN_TRAIN(2400, 0.00025) GEN_OPTIM("mt-adamw") GEN_TASKS4},
    {"generalist-adamw",
     "{\"name\":\"generalist-adamw\",\"family\":\"generalist\","
     "\"description\":\"the generalist with plain AdamW (the MT-AdamW ablation)\","
     "\"model\":{" GEN_PRETRAIN "}," GEN_TRAIN(2400, 0.0005) GEN_OPTIM("adamw") GEN_TASKS4},
#define GEN_SPECIALIST(task, steps, batch)                                                         \
    {"specialist-" task,                                                                           \
     "{\"name\":\"specialist-" task "\",\"family\":\"generalist\","                                \
     "\"description\":\"the generalist's model trained on " task " alone (a specialist)\","       \
     "\"model\":{" GEN_PRETRAIN ",\"tasks\":[\"" task "\"]}," GEN_TRAIN(steps, 0.0005) GEN_OPTIM("adamw")                   \
     "\"tasks\":[{\"name\":\"" task "\"" batch "}]}"}
    GEN_SPECIALIST("classify", 480, "," GEN_CLASSIFY_BATCH),
    GEN_SPECIALIST("detect", 840, ""),
    GEN_SPECIALIST("caption", 600, ""),
    GEN_SPECIALIST("retrieve", 480, ""),
#undef GEN_SPECIALIST
#undef GEN_TASKS4
#undef GEN_PRETRAIN
#undef GEN_CLASSIFY_BATCH
#undef GEN_OPTIM
#undef GEN_TRAIN
};

static const uz_model_family *const FAMILIES[] = {&uz_family_mlp, &uz_family_seqrec,
                                                   &uz_family_generalist};

int uz_zoo_count(void)
{
    return (int)(sizeof ZOO / sizeof ZOO[0]);
}

const uz_zoo_entry *uz_zoo_at(int i)
{
    return i >= 0 && i < uz_zoo_count() ? &ZOO[i] : NULL;
}

const uz_zoo_entry *uz_zoo_find(const char *name)
{
    for (int i = 0; i < uz_zoo_count(); i++)
        if (strcmp(ZOO[i].name, name) == 0)
            return &ZOO[i];
    return NULL;
}

const uz_model_family *const *uz_zoo_families(int *n)
{
    *n = (int)(sizeof FAMILIES / sizeof FAMILIES[0]);
    return FAMILIES;
}
