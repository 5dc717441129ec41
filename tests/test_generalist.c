/* The generalist assembled through its model family on a tiny config and a
 * tiny generated scene set: every task's loss is finite and falls when one
 * batch is fitted; captioning's teacher forcing cannot see the future
 * (changing caption tokens after j leaves query outputs up to j alone);
 * greedy and beam captions, detections and class probabilities are well
 * formed; evaluation reports every metric in range; a fresh run's backbone
 * pre-training moves the backbone and nothing else; bad configs and data
 * name the field or file. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_main.h"
#include "gradcheck.h"
#include "core/unizoo.h"
#include "datasets/datasets.h"
#include "models/generalist_model.h"
#include "models/zoo.h"
#include "train/config.h"
#include "train/optim.h"
#include "vision/scenes.h"

static char dir[256];

/* A scene set (train 24, test 8), a tokenizer over its captions. */
static void write_data(void)
{
    uz_fmnist f;
    ck_assert_int_eq(uz_fmnist_load(NULL, 0, &f), UZ_OK);
    /* Both splits draw from the test items: a unit test needs no 60k load. */
    ck_assert_msg(uz_scenes_write(dir, true, &f, 24, 5, 64, NULL) == UZ_OK, "%s",
                  uz_error_message());
    ck_assert_msg(uz_scenes_write(dir, false, &f, 8, 5, 64, NULL) == UZ_OK, "%s",
                  uz_error_message());
    uz_fmnist_free(&f);
    uz_coco c;
    char caps[512], prefix[512];
    snprintf(caps, sizeof caps, "%s/train/captions.json", dir);
    ck_assert_msg(uz_coco_load(NULL, caps, NULL, &c) == UZ_OK, "%s", uz_error_message());
    const char **texts = malloc(sizeof(char *) * (size_t)(c.n_captions + 11));
    for (int64_t i = 0; i < c.n_captions; i++)
        texts[i] = c.captions[i].caption;
    for (int i = 0; i < 10; i++)
        texts[c.n_captions + i] = uz_fmnist_caption_names[i];
    texts[c.n_captions + 10] = "background";
    uz_tokenizer_train_opts o = uz_tokenizer_train_defaults();
    o.model_type = "bpe";
    snprintf(prefix, sizeof prefix, "%s/tok", dir);
    ck_assert_msg(uz_tokenizer_train(texts, c.n_captions + 11, prefix, 256, &o) == UZ_OK, "%s",
                  uz_error_message());
    free(texts);
    uz_coco_free(&c);
}

/* Made once, before Check forks the tests, in a child process: OpenMP
 * (the scene writer's) must not start in a process that later forks. */
static void make_data(void)
{
    snprintf(dir, sizeof dir, "/tmp/uz_gen_test_%d", (int)getpid());
    pid_t pid = fork();
    if (pid == 0) {
        write_data();
        _exit(0);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "making the test data failed");
}

static void remove_data(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* The model section of a tiny generalist over the test data, with extra
 * fields (JSON members, e.g. ",\"moe\":true"). */
static uz_status build_layers(const char *extra, int decoder_layers, uz_model **m)
{
    char json[2048];
    snprintf(json, sizeof json,
             "{\"name\":\"t\",\"family\":\"generalist\",\"model\":{\"scenes\":\"%s\","
             "\"tokenizer\":\"%s/tok.model\",\"width\":32,\"heads\":2,"
             "\"backbone\":[8,8,16,32],\"queries\":4,\"pools\":1,\"rpn_layers\":1,"
             "\"text_layers\":1,\"decoder_layers\":%d,\"caption_len\":12,"
             "\"train_limit\":48,\"test_limit\":8%s},"
             "\"tasks\":[{\"name\":\"c\"},{\"name\":\"d\"},{\"name\":\"p\"},{\"name\":\"r\"}]}",
             dir, dir, decoder_layers, extra);
    int n;
    const uz_model_family *const *fam = uz_zoo_families(&n);
    uz_train_config cfg;
    uz_status st = uz_config_load(json, "test", fam, n, NULL, 0, &cfg);
    if (st != UZ_OK)
        return st;
    st = cfg.model_family->build(cfg.model, 3, true, m);
    uz_config_free(&cfg);
    return st;
}

static uz_status build(const char *extra, uz_model **m)
{
    return build_layers(extra, 1, m);
}

/* Loop 0: the dense model fits one batch of each task. Loop 1: the MoE
 * model trains (its values are the golden test's job). */
START_TEST(test_losses_fall)
{
    int steps = _i ? 2 : 12;
    uz_model *m;
    ck_assert_msg(build(_i ? ",\"moe\":true" : ",\"moe\":false", &m) == UZ_OK, "%s",
                  uz_error_message());
    ck_assert_int_eq(m->n_tasks, 4);
    uz_optim_config oc = uz_optim_defaults(UZ_OPTIM_ADAMW);
    oc.weight_decay = 0.0f;
    oc.max_grad_norm = 1.0f; /* as the zoo's configs: early spikes would stall Adam */
    uz_optim *o;
    ck_assert_int_eq(uz_optim_new(&oc, m->params, &o), UZ_OK);
    uz_ctx *ctx = uz_ctx_new(0, 0);
    int64_t idx[4] = {0, 1, 2, 3};
    for (int task = 0; task < 4; task++) {
        double first = 0, last = 0;
        for (int step = 0; step < steps; step++) {
            uz_ctx_set_seed(ctx, 11);
            uz_ctx_set_stream(ctx, 0);
            uz_params_zero_grad(m->params);
            uz_tensor *loss = m->ops->loss(m, ctx, task, idx, 4);
            ck_assert_msg(loss != NULL, "task %d: %s", task, uz_error_message());
            double v = loss->data[0];
            ck_assert_msg(isfinite(v), "task %d step %d: loss %g", task, step, v);
            ck_assert_int_eq(uz_backward(ctx, loss), UZ_OK);
            ck_assert_int_eq(uz_optim_step(o, 2e-3f, NULL, NULL), UZ_OK);
            uz_ctx_reset(ctx);
            if (step == 0)
                first = v;
            last = v;
        }
        ck_assert_msg(_i || last < 0.8 * first,
                      "task %d: loss %g -> %g after fitting one batch", task, first, last);
    }
    uz_optim_free(o);
    uz_ctx_free(ctx);
    uz_model_free(m);
}
END_TEST

/* Query j sees context < j only: changing tokens after J changes nothing
 * up to query J + 1. */
START_TEST(test_caption_no_future)
{
    uz_model *m;
    ck_assert_msg(build("", &m) == UZ_OK, "%s", uz_error_message());
    const uz_generalist *g = uz_gen_model_net(m);
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_grad_enable(ctx, false);
    enum { L = 8, J = 3 };
    int32_t a[2 * L], b[2 * L];
    int64_t len[2] = {L, 6};
    for (int i = 0; i < 2 * L; i++)
        a[i] = b[i] = 5 + (i * 7) % 40;
    for (int i = 0; i < 2; i++)
        for (int j = J + 1; j < L; j++)
            b[i * L + j] = 50 + j;
    float img[2 * 64 * 64];
    for (int i = 0; i < 2 * 64 * 64; i++)
        img[i] = sinf((float)i * 0.01f);
    uz_tensor *x = uz_tensor_from(ctx, 4, (int64_t[]){2, 1, 64, 64}, img);
    uz_image_encoding enc;
    ck_assert_int_eq(uz_image_encoder_forward(ctx, &g->image, x, false, &enc), UZ_OK);
    uz_tensor *qa = uz_gen_caption_queries(ctx, g, &enc, a, len, L, false);
    uz_tensor *qb = uz_gen_caption_queries(ctx, g, &enc, b, len, L, false);
    ck_assert(qa && qb);
    int64_t D = qa->shape[2];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < L; j++) {
            double diff = 0;
            for (int64_t k = 0; k < D; k++)
                diff = fmax(diff, fabs(qa->data[(i * L + j) * D + k] -
                                       qb->data[(i * L + j) * D + k]));
            if (j <= J + 1)
                ck_assert_msg(diff == 0.0, "row %d query %d changed by %g", i, j, diff);
            else if (j < len[i])
                ck_assert_msg(diff > 1e-6, "row %d query %d should see the change", i, j);
        }
    uz_ctx_free(ctx);
    uz_model_free(m);
}
END_TEST

/* Decoding a step at a time over the cached image prefix gives each query
 * of the full two-stream pass (teacher forcing on the same ids). Two
 * decoder layers, so that the context tokens' own mask shows in the query. */
START_TEST(test_caption_step_matches_full_pass)
{
    uz_model *m;
    ck_assert_msg(build_layers(",\"moe\":true", 2, &m) == UZ_OK, "%s", uz_error_message());
    const uz_generalist *g = uz_gen_model_net(m);
    /* Sharper attention than the N(0, 0.02) init, so that what each token
     * sees shows well above rounding. */
    for (int i = 0; i < uz_params_count(m->params); i++) {
        uz_tensor *w = uz_params_at(m->params, i);
        if (strstr(w->name, "decoder.layers.") && strstr(w->name, "qkv.weight"))
            for (int64_t j = 0; j < uz_tensor_numel(w); j++)
                w->data[j] *= 20.0f;
    }
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_grad_enable(ctx, false);
    enum { B = 2, L = 7 };
    int32_t ids[B * L];
    int64_t len[B] = {L, L};
    for (int i = 0; i < B * L; i++)
        ids[i] = 5 + (i * 11) % 40;
    float img[B * 64 * 64];
    for (int i = 0; i < B * 64 * 64; i++)
        img[i] = sinf((float)i * 0.013f);
    uz_tensor *x = uz_tensor_from(ctx, 4, (int64_t[]){B, 1, 64, 64}, img);
    uz_image_encoding enc;
    ck_assert_int_eq(uz_image_encoder_forward(ctx, &g->image, x, false, &enc), UZ_OK);
    uz_tensor *full = uz_gen_caption_queries(ctx, g, &enc, ids, len, L, false);
    uz_kv kv[UZ_DECODER_MAX_LAYERS];
    ck_assert_msg(full && uz_gen_caption_prefix(ctx, g, &enc, kv) == UZ_OK, "%s",
                  uz_error_message());
    int64_t D = full->shape[2];
    for (int t = 0; t < L; t++) {
        uz_tensor *q = uz_gen_caption_query(ctx, g, kv, ids, L, t);
        ck_assert_msg(q && q->shape[0] == B && q->shape[1] == D, "%s", uz_error_message());
        for (int b = 0; b < B; b++)
            for (int64_t k = 0; k < D; k++) {
                float want = full->data[(b * L + t) * D + k], got = q->data[b * D + k];
                ck_assert_msg(fabsf(got - want) < 3e-6f, "row %d query %d [%lld]: %g vs %g", b,
                              t, (long long)k, (double)got, (double)want);
            }
    }
    /* Beam 1 is greedy decoding: each token it picks is the best (up to
     * rounding) of the teacher-forced full pass over the caption it made. */
    int32_t dec[B * L];
    int64_t dec_len[B];
    ck_assert_msg(uz_gen_caption_beam(ctx, g, x, 1, L, dec, dec_len) == UZ_OK, "%s",
                  uz_error_message());
    x = uz_tensor_from(ctx, 4, (int64_t[]){B, 1, 64, 64}, img);
    ck_assert_int_eq(uz_image_encoder_forward(ctx, &g->image, x, false, &enc), UZ_OK);
    full = uz_gen_caption_queries(ctx, g, &enc, dec, dec_len, L, false);
    uz_tensor *vocab = uz_gen_embed_vocab(ctx, g, false);
    uz_tensor *sc = full && vocab ? uz_unified_decoder_scores(
                                        ctx, &g->dec, UZ_GEN_CAPTION,
                                        uz_reshape(ctx, full, 2, (int64_t[]){B * L, D}), vocab)
                                  : NULL;
    ck_assert_msg(sc, "%s", uz_error_message());
    int64_t V = vocab->shape[0];
    for (int b = 0; b < B; b++)
        for (int t = 0; t < dec_len[b]; t++) {
            const float *row = sc->data + (b * L + t) * V;
            float best = -INFINITY;
            for (int64_t w = 0; w < V; w++) {
                bool banned = false;
                for (int k = 0; k < g->n_banned; k++)
                    banned = banned || g->banned[k] == w;
                if (!banned && row[w] > best)
                    best = row[w];
            }
            int32_t got = dec[b * L + t];
            ck_assert_msg(row[got] >= best - 1e-5f, "image %d step %d: token %d scores %g, the "
                          "best %g", b, t, got, (double)row[got], (double)best);
        }
    uz_ctx_free(ctx);
    uz_model_free(m);
}
END_TEST

START_TEST(test_predict_and_eval)
{
    uz_model *m;
    ck_assert_msg(build("", &m) == UZ_OK, "%s", uz_error_message());
    const uz_generalist *g = uz_gen_model_net(m);
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_grad_enable(ctx, false);
    float img[2 * 64 * 64];
    /* Two unlike images, so that even untrained weights caption them apart. */
    for (int i = 0; i < 2 * 64 * 64; i++)
        img[i] = i < 64 * 64 ? cosf((float)i * 0.02f) : 8.0f * sinf((float)(i * i) * 0.37f);
    uz_tensor *x = uz_tensor_from(ctx, 4, (int64_t[]){2, 1, 64, 64}, img);
    float probs[2 * UZ_GEN_CLASSES];
    ck_assert_int_eq(uz_gen_classify(ctx, g, x, probs), UZ_OK);
    for (int i = 0; i < 2; i++) {
        double s = 0;
        for (int k = 0; k < UZ_GEN_CLASSES; k++)
            s += probs[i * UZ_GEN_CLASSES + k];
        ck_assert_msg(fabs(s - 1) < 1e-5, "probabilities sum to %g", s);
    }
    uz_gen_detection det[2 * 4], all[2 * 4 * UZ_GEN_CLASSES];
    ck_assert_int_eq(uz_gen_detect(ctx, g, x, 1, det), UZ_OK);
    ck_assert_int_eq(uz_gen_detect(ctx, g, x, UZ_GEN_CLASSES, all), UZ_OK);
    for (int i = 0; i < 8; i++) {
        ck_assert(det[i].cls >= 0 && det[i].cls < UZ_GEN_CLASSES);
        ck_assert(det[i].score >= 0 && det[i].score <= 1);
        for (int k = 0; k < 4; k++)
            ck_assert(det[i].box[k] > 0 && det[i].box[k] < 1);
        /* Every class of the proposal, best first: the first is k = 1's. */
        const uz_gen_detection *a = all + i * UZ_GEN_CLASSES;
        ck_assert_int_eq(a[0].cls, det[i].cls);
        ck_assert(a[0].score == det[i].score);
        int seen = 0;
        for (int j = 0; j < UZ_GEN_CLASSES; j++) {
            seen |= 1 << a[j].cls;
            ck_assert(j == 0 || a[j].score <= a[j - 1].score);
            ck_assert_mem_eq(a[j].box, det[i].box, sizeof det[i].box);
        }
        ck_assert_int_eq(seen, (1 << UZ_GEN_CLASSES) - 1);
    }
    ck_assert_int_eq(uz_gen_detect(ctx, g, x, 0, det), UZ_ERR_ARG);
    ck_assert_int_eq(uz_gen_detect(ctx, g, x, UZ_GEN_CLASSES + 1, all), UZ_ERR_ARG);
    int32_t no_ids[2 * 12];
    int64_t no_len[2];
    ck_assert_int_eq(uz_gen_caption_beam(ctx, g, x, 0, 12, no_ids, no_len), UZ_ERR_ARG);
    /* Beam search over the batch: each image's caption is the one it gets
     * alone. Captioning resets the context, so the images are made again. */
    for (int beam = 1; beam <= 3; beam += 2) {
        int32_t ids[2 * 12], one_ids[12];
        int64_t len[2], one_len;
        x = uz_tensor_from(ctx, 4, (int64_t[]){2, 1, 64, 64}, img);
        ck_assert_msg(uz_gen_caption_beam(ctx, g, x, beam, 12, ids, len) == UZ_OK, "%s",
                      uz_error_message());
        for (int i = 0; i < 2; i++) {
            ck_assert(len[i] >= 1 && len[i] <= 12);
            for (int j = 0; j < len[i]; j++)
                for (int k = 0; k < g->n_banned; k++)
                    ck_assert_int_ne(ids[i * 12 + j], g->banned[k]);
            uz_tensor *one = uz_tensor_from(ctx, 4, (int64_t[]){1, 1, 64, 64},
                                            img + i * 64 * 64);
            ck_assert_int_eq(uz_gen_caption_beam(ctx, g, one, beam, 12, one_ids, &one_len),
                             UZ_OK);
            ck_assert_int_eq(one_len, len[i]);
            ck_assert_mem_eq(one_ids, ids + i * 12, sizeof(int32_t) * (size_t)one_len);
        }
        ck_assert_msg(memcmp(ids, ids + 12, sizeof(int32_t) * 12) != 0,
                      "the two images share a caption");
    }
    uz_metrics met;
    ck_assert_msg(m->ops->eval(m, ctx, &met) == UZ_OK, "%s", uz_error_message());
    /* Detection's mAP@.5 is the mean of the per-class APs it reports. */
    int n_ap = 0;
    double ap_sum = 0.0, map50 = -1.0;
    for (int i = 0; i < met.n; i++) {
        if (strncmp(met.m[i].name, "ap50/", 5) == 0) {
            n_ap++;
            ap_sum += met.m[i].value;
        }
        if (strcmp(met.m[i].name, "map50") == 0)
            map50 = met.m[i].value;
    }
    ck_assert(n_ap >= 1 && n_ap <= 10);
    ck_assert_double_eq_tol(ap_sum / n_ap, map50, 1e-9);
    ck_assert_int_eq(met.n, 1 + 3 + n_ap + 2 + 6);
    for (int i = 0; i < met.n; i++)
        ck_assert_msg(met.m[i].value >= 0 && met.m[i].value <= (strcmp(met.m[i].name, "cider")
                                                                     ? 1.0
                                                                     : 10.0),
                      "%s = %g", met.m[i].name, met.m[i].value);
    uz_ctx_free(ctx);
    uz_model_free(m);
}
END_TEST

START_TEST(test_prepare_pretrains_backbone_only)
{
    uz_model *m = NULL;
    UZ_CK_OK(build(",\"pretrain_steps\":3,\"pretrain_batch\":8", &m));
    int64_t n = uz_params_numel(m->params);
    float *before = malloc(sizeof(float) * (size_t)n);
    memcpy(before, uz_params_data(m->params), sizeof(float) * (size_t)n);
    UZ_CK_OK(m->ops->prepare(m));
    int moved = 0;
    for (int i = 0; i < uz_params_count(m->params); i++) {
        uz_tensor *t = uz_params_at(m->params, i);
        bool changed = memcmp(t->data, before + (t->data - uz_params_data(m->params)),
                              sizeof(float) * (size_t)uz_tensor_numel(t)) != 0;
        ck_assert_msg(changed == (strncmp(t->name, "image.backbone.", 15) == 0), "%s %s",
                      t->name, changed ? "changed" : "did not change");
        moved += changed;
    }
    ck_assert_int_ge(moved, 7);
    free(before);
    uz_model_free(m);
    /* pretrain_steps 0 (the default) leaves every parameter as it was */
    UZ_CK_OK(build("", &m));
    memcpy(before = malloc(sizeof(float) * (size_t)n), uz_params_data(m->params),
           sizeof(float) * (size_t)n);
    UZ_CK_OK(m->ops->prepare(m));
    ck_assert(memcmp(before, uz_params_data(m->params), sizeof(float) * (size_t)n) == 0);
    free(before);
    uz_model_free(m);
}
END_TEST

START_TEST(test_bad_config_and_data)
{
    uz_model *m = NULL;
    ck_assert_int_ne(build(",\"pretrain_lr\":0", &m), UZ_OK);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "model.pretrain_lr"));
    ck_assert_int_ne(build(",\"tasks\":[\"classify\",\"classify\"]", &m), UZ_OK);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "model.tasks.1"));
    ck_assert_int_ne(build(",\"top_k\":3,\"experts\":2", &m), UZ_OK);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "model.top_k"));
    ck_assert_int_ne(build(",\"vocab\":16", &m), UZ_OK);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "model.vocab"));
    /* A missing image of the scene set names the file. */
    char path[512];
    char moved[600];
    snprintf(path, sizeof path, "%s/test/images/000002.jpg", dir);
    snprintf(moved, sizeof moved, "%s.away", path);
    ck_assert_int_eq(rename(path, moved), 0);
    uz_status st = build("", &m);
    ck_assert_int_eq(rename(moved, path), 0);
    ck_assert_int_ne(st, UZ_OK);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "000002.jpg"));
    ck_assert_ptr_null(m);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("generalist");
    TCase *tc = tcase_create("generalist");
    tcase_set_timeout(tc, 600);
    /* One data set for all tests, made before Check forks them. */
    tcase_add_unchecked_fixture(tc, make_data, remove_data);
    tcase_add_loop_test(tc, test_losses_fall, 0, 2);
    tcase_add_test(tc, test_caption_no_future);
    tcase_add_test(tc, test_caption_step_matches_full_pass);
    tcase_add_test(tc, test_predict_and_eval);
    tcase_add_test(tc, test_prepare_pretrains_backbone_only);
    tcase_add_test(tc, test_bad_config_and_data);
    suite_add_tcase(s, tc);
    return s;
}
