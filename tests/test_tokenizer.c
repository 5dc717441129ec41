/* The SentencePiece tokenizer: training on generated captions (special ids,
 * the <spe> symbol, determinism), encode/decode round trips, bos/eos and
 * truncation, agreement with the spm_encode / spm_decode command lines of
 * Debian's `sentencepiece` package on the same model and strings, and clean
 * errors for bad models, bad ids and bad training settings. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gradcheck.h"
#include "text/text.h"

enum { N_SENT = 300, VOCAB = 80, BPE_VOCAB = 120, MAX_IDS = 256 };

static char dir[64];
static char *sents[N_SENT];

/* Captions like the scene generator's, from a fixed LCG so the corpus
 * (and so the model) is the same on every run. */
static void make_sentences(void)
{
    static const char *const items[] = {"t-shirt", "trouser", "pullover", "dress", "coat",
                                        "sandal", "shirt", "sneaker", "bag", "boot"};
    static const char *const colors[] = {"red", "blue", "small", "large", "dark"};
    static const char *const rel[] = {"left of", "right of", "above", "below", "next to"};
    uint64_t s = 12345;
    for (int i = 0; i < N_SENT; i++) {
        uint64_t r[5];
        for (int k = 0; k < 5; k++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            r[k] = s >> 33;
        }
        char buf[128];
        snprintf(buf, sizeof buf, "%s %s %s %s a %s", i % 7 == 0 ? "A" : "a", colors[r[0] % 5],
                 items[r[1] % 10], rel[r[2] % 5], items[r[3] % 10]);
        sents[i] = strdup(buf);
    }
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/uz_tok_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    make_sentences();
}

static void teardown(void)
{
    static const char *const names[] = {"m.model", "m.vocab", "m2.model", "m2.vocab", "in.txt",
                                        "ids.txt", "junk.model"};
    char path[128];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
    for (int i = 0; i < N_SENT; i++)
        free(sents[i]);
}

static uz_tokenizer *train_and_load(const char *name)
{
    char prefix[128], model[160];
    snprintf(prefix, sizeof prefix, "%s/%s", dir, name);
    snprintf(model, sizeof model, "%s.model", prefix);
    UZ_CK_OK(uz_tokenizer_train((const char *const *)sents, N_SENT, prefix, VOCAB, NULL));
    uz_tokenizer *tok = uz_tokenizer_load(model);
    UZ_CK_NOTNULL(tok);
    return tok;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    ck_assert_uint_eq(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return p;
}

START_TEST(test_train_specials_deterministic)
{
    uz_tokenizer *tok = train_and_load("m");
    ck_assert_int_eq(uz_tokenizer_pad_id(tok), 0);
    ck_assert_int_eq(uz_tokenizer_unk_id(tok), 1);
    ck_assert_int_eq(uz_tokenizer_bos_id(tok), 2);
    ck_assert_int_eq(uz_tokenizer_eos_id(tok), 3);
    ck_assert_int_eq(uz_tokenizer_piece_id(tok, "<spe>"), 4);
    ck_assert_str_eq(uz_tokenizer_piece(tok, 4), "<spe>");
    ck_assert_str_eq(uz_tokenizer_piece(tok, 0), "<pad>");
    ck_assert_int_eq(uz_tokenizer_piece_id(tok, "no-such-piece"), -1);
    ck_assert_ptr_null(uz_tokenizer_piece(tok, -1));
    ck_assert_ptr_null(uz_tokenizer_piece(tok, uz_tokenizer_vocab_size(tok)));
    /* The soft limit: at most VOCAB pieces, and more than the specials. */
    const int32_t v = uz_tokenizer_vocab_size(tok);
    ck_assert_int_le(v, VOCAB);
    ck_assert_int_gt(v, 20);
    /* <spe> is one piece wherever it appears. */
    int32_t ids[MAX_IDS];
    int64_t n = uz_tokenizer_encode(tok, "<spe> a bag", 0, ids, MAX_IDS);
    ck_assert_int_gt(n, 1);
    bool found = false;
    for (int64_t i = 0; i < n; i++)
        found |= ids[i] == 4;
    ck_assert(found);
    uz_tokenizer_free(tok);

    /* Same texts, same flags: a byte-identical model (retrained under the
     * same prefix, which the model file records). */
    char a[128];
    snprintf(a, sizeof a, "%s/m.model", dir);
    size_t la, lb;
    char *pa = read_file(a, &la);
    uz_tokenizer_free(train_and_load("m"));
    char *pb = read_file(a, &lb);
    ck_assert_uint_eq(la, lb);
    ck_assert(memcmp(pa, pb, la) == 0);
    free(pa);
    free(pb);
}
END_TEST

START_TEST(test_round_trip_bos_eos_truncation)
{
    uz_tokenizer *tok = train_and_load("m");
    int32_t ids[MAX_IDS];
    char text[512];
    for (int i = 0; i < N_SENT; i++) {
        int64_t n = uz_tokenizer_encode(tok, sents[i], 0, ids, MAX_IDS);
        ck_assert_int_gt(n, 0);
        ck_assert_int_le(n, MAX_IDS);
        for (int64_t k = 0; k < n; k++)
            ck_assert(ids[k] > 4 && ids[k] < uz_tokenizer_vocab_size(tok));
        int64_t len = uz_tokenizer_decode(tok, ids, n, text, sizeof text);
        ck_assert_int_eq(len, (int64_t)strlen(sents[i]));
        ck_assert_str_eq(text, sents[i]);
    }

    const char *s = "a red bag left of a boot";
    int32_t plain[MAX_IDS], both[MAX_IDS];
    const int64_t n = uz_tokenizer_encode(tok, s, 0, plain, MAX_IDS);
    const int64_t nb = uz_tokenizer_encode(tok, s, UZ_TOK_BOS | UZ_TOK_EOS, both, MAX_IDS);
    ck_assert_int_eq(nb, n + 2);
    ck_assert_int_eq(both[0], 2);
    ck_assert_int_eq(both[nb - 1], 3);
    ck_assert(memcmp(both + 1, plain, (size_t)n * sizeof *plain) == 0);
    /* Control symbols (and pad) decode to nothing. */
    int32_t padded[MAX_IDS + 2];
    memcpy(padded, both, (size_t)nb * sizeof *both);
    padded[nb] = 0;
    padded[nb + 1] = 0;
    ck_assert_int_eq(uz_tokenizer_decode(tok, padded, nb + 2, text, sizeof text),
                     (int64_t)strlen(s));
    ck_assert_str_eq(text, s);

    /* Truncation, snprintf style: the full count comes back, cap ids written. */
    int32_t small[3] = {-7, -7, -7};
    ck_assert_int_eq(uz_tokenizer_encode(tok, s, UZ_TOK_BOS | UZ_TOK_EOS, small, 2), nb);
    ck_assert_int_eq(small[0], 2);
    ck_assert_int_eq(small[1], plain[0]);
    ck_assert_int_eq(small[2], -7);
    ck_assert_int_eq(uz_tokenizer_encode(tok, s, UZ_TOK_EOS, NULL, 0), n + 1);
    char shortbuf[5];
    ck_assert_int_eq(uz_tokenizer_decode(tok, plain, n, shortbuf, sizeof shortbuf),
                     (int64_t)strlen(s));
    ck_assert_str_eq(shortbuf, "a re");
    ck_assert_int_eq(uz_tokenizer_encode(tok, "", 0, ids, MAX_IDS), 0);
    uz_tokenizer_free(tok);
}
END_TEST

static bool have_command(const char *name)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", name);
    return system(cmd) == 0;
}

/* Strings beyond the training corpus too: unseen characters (unk),
 * uppercase, extra spaces, <spe>, an empty line, UTF-8. */
static const char *const probes[] = {
    "a red sneaker left of a bag", "A dark coat above a sandal", "zebra quiz!?", "",
    "  two   spaces  ", "<spe> a boot <spe>", "caf\xc3\xa9 na\xc3\xafve", "T-SHIRT 123",
    "a small t-shirt next to a large trouser",
};
enum { N_PROBES = sizeof probes / sizeof probes[0] };

/* Our ids for every probe and training sentence equal spm_encode's on the
 * same model, and spm_decode of those ids equals our decode. */
static void check_against_spm(const char *model)
{
    uz_tokenizer *tok = uz_tokenizer_load(model);
    UZ_CK_NOTNULL(tok);
    char in[128], ids_path[128], cmd[512];
    snprintf(in, sizeof in, "%s/in.txt", dir);
    snprintf(ids_path, sizeof ids_path, "%s/ids.txt", dir);

    const int total = N_PROBES + N_SENT;
    FILE *f = fopen(in, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < total; i++)
        fprintf(f, "%s\n", i < N_PROBES ? probes[i] : sents[i - N_PROBES]);
    fclose(f);
    snprintf(cmd, sizeof cmd, "spm_encode --model '%s' --output_format=id < '%s'", model, in);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    FILE *ids_out = fopen(ids_path, "w");
    ck_assert_ptr_nonnull(ids_out);
    char line[4096];
    int32_t ids[MAX_IDS];
    for (int i = 0; i < total; i++) {
        const char *s = i < N_PROBES ? probes[i] : sents[i - N_PROBES];
        ck_assert_msg(fgets(line, sizeof line, p) != NULL, "spm_encode: no line %d", i);
        const int64_t n = uz_tokenizer_encode(tok, s, 0, ids, MAX_IDS);
        ck_assert_int_ge(n, 0);
        char ours[4096];
        size_t o = 0;
        for (int64_t k = 0; k < n; k++)
            o += (size_t)snprintf(ours + o, sizeof ours - o, k ? " %d" : "%d", (int)ids[k]);
        ours[o] = '\0';
        line[strcspn(line, "\n")] = '\0';
        ck_assert_msg(strcmp(line, ours) == 0, "'%s': spm_encode '%s' vs ours '%s'", s, line,
                      ours);
        fprintf(ids_out, "%s\n", ours);
    }
    ck_assert_int_eq(pclose(p), 0);
    fclose(ids_out);

    snprintf(cmd, sizeof cmd, "spm_decode --model '%s' --input_format=id < '%s'", model,
             ids_path);
    p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    for (int i = 0; i < total; i++) {
        const char *s = i < N_PROBES ? probes[i] : sents[i - N_PROBES];
        ck_assert_msg(fgets(line, sizeof line, p) != NULL, "spm_decode: no line %d", i);
        line[strcspn(line, "\n")] = '\0';
        const int64_t n = uz_tokenizer_encode(tok, s, 0, ids, MAX_IDS);
        char ours[4096];
        ck_assert_int_ge(uz_tokenizer_decode(tok, ids, n, ours, sizeof ours), 0);
        ck_assert_msg(strcmp(line, ours) == 0, "'%s': spm_decode '%s' vs ours '%s'", s, line,
                      ours);
    }
    ck_assert_int_eq(pclose(p), 0);
    uz_tokenizer_free(tok);
}

START_TEST(test_matches_spm_command_line)
{
    ck_assert_msg(have_command("spm_encode") && have_command("spm_decode"),
                  "spm_encode / spm_decode not found: install the Debian package "
                  "`sentencepiece` (apt-get install sentencepiece, or scripts/install-deps.sh)");
    char model[128];
    uz_tokenizer_free(train_and_load("m"));
    snprintf(model, sizeof model, "%s/m.model", dir);
    check_against_spm(model);

    /* BPE, the model type for templated captions: same agreement, and with
     * room for every word, one always followed by the same word ("left of")
     * is one piece. */
    uz_tokenizer_train_opts o = uz_tokenizer_train_defaults();
    o.model_type = "bpe";
    char prefix[128];
    snprintf(prefix, sizeof prefix, "%s/m2", dir);
    UZ_CK_OK(uz_tokenizer_train((const char *const *)sents, N_SENT, prefix, BPE_VOCAB, &o));
    snprintf(model, sizeof model, "%s/m2.model", dir);
    check_against_spm(model);
    uz_tokenizer *tok = uz_tokenizer_load(model);
    UZ_CK_NOTNULL(tok);
    ck_assert_int_ge(uz_tokenizer_piece_id(tok, "\xe2\x96\x81left"), 0);
    ck_assert_int_eq(uz_tokenizer_piece_id(tok, "<spe>"), 4);
    uz_tokenizer_free(tok);
}
END_TEST

START_TEST(test_errors)
{
    char path[128];
    snprintf(path, sizeof path, "%s/missing.model", dir);
    ck_assert_ptr_null(uz_tokenizer_load(path));
    ck_assert_int_eq(uz_error_status(), UZ_ERR_IO);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), path));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "cannot load SentencePiece model"));

    snprintf(path, sizeof path, "%s/junk.model", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("this is not a protobuf\n", f);
    fclose(f);
    ck_assert_ptr_null(uz_tokenizer_load(path));
    ck_assert_int_eq(uz_error_status(), UZ_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), path));
    ck_assert_ptr_null(uz_tokenizer_load(NULL));

    uz_tokenizer *tok = train_and_load("m");
    char out[64];
    const int32_t bad[] = {5, 100000};
    ck_assert_int_eq(uz_tokenizer_decode(tok, bad, 2, out, sizeof out), -1);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "id 100000 at position 1"));
    const int32_t neg[] = {-1};
    ck_assert_int_eq(uz_tokenizer_decode(tok, neg, 1, out, sizeof out), -1);
    int32_t ids[8];
    ck_assert_int_eq(uz_tokenizer_encode(tok, NULL, 0, ids, 8), -1);
    ck_assert_int_eq(uz_tokenizer_encode(tok, "a", 8, ids, 8), -1);
    ck_assert_int_eq(uz_tokenizer_encode(tok, "a", 0, NULL, 8), -1);
    uz_tokenizer_free(tok);

    /* A model trained without bos refuses UZ_TOK_BOS. */
    uz_tokenizer_train_opts o = uz_tokenizer_train_defaults();
    o.bos_id = -1;
    o.eos_id = 2;
    o.user_symbols = NULL;
    o.n_user_symbols = 0;
    snprintf(path, sizeof path, "%s/m2", dir);
    UZ_CK_OK(uz_tokenizer_train((const char *const *)sents, N_SENT, path, VOCAB, &o));
    snprintf(path, sizeof path, "%s/m2.model", dir);
    tok = uz_tokenizer_load(path);
    UZ_CK_NOTNULL(tok);
    ck_assert_int_eq(uz_tokenizer_bos_id(tok), -1);
    ck_assert_int_eq(uz_tokenizer_piece_id(tok, "<spe>"), -1);
    ck_assert_int_eq(uz_tokenizer_encode(tok, "a bag", UZ_TOK_BOS, ids, 8), -1);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "bos requested"));
    ck_assert_int_gt(uz_tokenizer_encode(tok, "a bag", UZ_TOK_EOS, ids, 8), 1);
    uz_tokenizer_free(tok);

    /* Training settings SentencePiece or we refuse, as errors (no abort). */
    snprintf(path, sizeof path, "%s/m2", dir);
    const char *const *texts = (const char *const *)sents;
    ck_assert_int_eq(uz_tokenizer_train(texts, N_SENT, path, 0, NULL), UZ_ERR_ARG);
    ck_assert_int_eq(uz_tokenizer_train(texts, 0, path, VOCAB, NULL), UZ_ERR_ARG);
    o = uz_tokenizer_train_defaults();
    const char *const comma[] = {"<a>,<b>"};
    o.user_symbols = comma;
    ck_assert_int_eq(uz_tokenizer_train(texts, N_SENT, path, VOCAB, &o), UZ_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "comma"));
    o = uz_tokenizer_train_defaults();
    o.hard_vocab_limit = true;
    ck_assert_int_eq(uz_tokenizer_train(texts, N_SENT, path, 5000, &o), UZ_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "Vocabulary size too high"));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), path));
    o = uz_tokenizer_train_defaults();
    o.model_type = "no-such-type";
    ck_assert_int_eq(uz_tokenizer_train(texts, N_SENT, path, VOCAB, &o), UZ_ERR_ARG);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("tokenizer");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_train_specials_deterministic);
    tcase_add_test(tc, test_round_trip_bos_eos_truncation);
    tcase_add_test(tc, test_matches_spm_command_line);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);
    return s;
}

#include "check_main.h"
