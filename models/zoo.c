/* The built-in configs. Each one is a full training config; `unizoo zoo`
 * resolves, validates and builds each (without data) to list it, so a
 * broken entry shows up there and in the tests. */
#include "models/zoo.h"

#include "models/fmnist_mlp.h"

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
};

static const uz_model_family *const FAMILIES[] = {&uz_family_mlp};

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
