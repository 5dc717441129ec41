/* The model-facing tokenizer over the SentencePiece shim: argument checks,
 * bos/eos handling and the trainer's flags. */
#include "text/tokenizer.h"

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "text/spm_shim.h"

struct uz_tokenizer {
    uz_spm *spm;
};

uz_tokenizer *uz_tokenizer_load(const char *model_path)
{
    uz_spm *spm = uz_spm_load(model_path);
    if (!spm)
        return NULL;
    uz_tokenizer *tok = uz_malloc(sizeof *tok, "tokenizer");
    if (!tok) {
        uz_spm_free(spm);
        return NULL;
    }
    tok->spm = spm;
    return tok;
}

void uz_tokenizer_free(uz_tokenizer *tok)
{
    if (!tok)
        return;
    uz_spm_free(tok->spm);
    uz_free(tok);
}

int64_t uz_tokenizer_encode(const uz_tokenizer *tok, const char *text, int flags, int32_t *ids,
                            int64_t cap)
{
    if (!tok || !text) {
        UZ_FAIL(UZ_ERR_ARG, "tokenizer_encode: %s is NULL", tok ? "text" : "tokenizer");
        return -1;
    }
    if (cap < 0 || (cap > 0 && !ids) || (flags & ~(UZ_TOK_BOS | UZ_TOK_EOS))) {
        UZ_FAIL(UZ_ERR_ARG, "tokenizer_encode: bad arguments (cap %lld, ids %s, flags %d)",
                (long long)cap, ids ? "set" : "NULL", flags);
        return -1;
    }
    const int32_t bos = uz_spm_bos_id(tok->spm), eos = uz_spm_eos_id(tok->spm);
    if (((flags & UZ_TOK_BOS) && bos < 0) || ((flags & UZ_TOK_EOS) && eos < 0)) {
        UZ_FAIL(UZ_ERR_ARG, "tokenizer_encode: %s requested but the model has none (trained "
                "with %s -1)", (flags & UZ_TOK_BOS) && bos < 0 ? "bos" : "eos",
                (flags & UZ_TOK_BOS) && bos < 0 ? "bos_id" : "eos_id");
        return -1;
    }
    int64_t pre = 0;
    if (flags & UZ_TOK_BOS) {
        if (cap > 0)
            ids[0] = bos;
        pre = 1;
    }
    const int64_t room = cap > pre ? cap - pre : 0;
    const int64_t n = uz_spm_encode(tok->spm, text, room ? ids + pre : NULL, room);
    if (n < 0)
        return -1;
    int64_t total = pre + n;
    if (flags & UZ_TOK_EOS) {
        if (total < cap)
            ids[total] = eos;
        total++;
    }
    return total;
}

int64_t uz_tokenizer_decode(const uz_tokenizer *tok, const int32_t *ids, int64_t n, char *out,
                            size_t cap)
{
    if (!tok || n < 0 || (n > 0 && !ids) || (cap > 0 && !out)) {
        UZ_FAIL(UZ_ERR_ARG, "tokenizer_decode: bad arguments (tokenizer %s, n %lld)",
                tok ? "set" : "NULL", (long long)n);
        return -1;
    }
    return uz_spm_decode(tok->spm, ids, n, out, cap);
}

int32_t uz_tokenizer_vocab_size(const uz_tokenizer *tok)
{
    return tok ? uz_spm_piece_size(tok->spm) : 0;
}

int32_t uz_tokenizer_piece_id(const uz_tokenizer *tok, const char *piece)
{
    return tok && piece ? uz_spm_piece_to_id(tok->spm, piece) : -1;
}

const char *uz_tokenizer_piece(const uz_tokenizer *tok, int32_t id)
{
    return tok ? uz_spm_id_to_piece(tok->spm, id) : NULL;
}

int32_t uz_tokenizer_pad_id(const uz_tokenizer *tok)
{
    return tok ? uz_spm_pad_id(tok->spm) : -1;
}

int32_t uz_tokenizer_unk_id(const uz_tokenizer *tok)
{
    return tok ? uz_spm_unk_id(tok->spm) : -1;
}

int32_t uz_tokenizer_bos_id(const uz_tokenizer *tok)
{
    return tok ? uz_spm_bos_id(tok->spm) : -1;
}

int32_t uz_tokenizer_eos_id(const uz_tokenizer *tok)
{
    return tok ? uz_spm_eos_id(tok->spm) : -1;
}

static const char *const uz_default_user_symbols[] = {"<spe>"};

uz_tokenizer_train_opts uz_tokenizer_train_defaults(void)
{
    return (uz_tokenizer_train_opts){
        .model_type = "unigram",
        .pad_id = 0,
        .unk_id = 1,
        .bos_id = 2,
        .eos_id = 3,
        .user_symbols = uz_default_user_symbols,
        .n_user_symbols = 1,
        .control_symbols = NULL,
        .n_control_symbols = 0,
        .character_coverage = 1.0,
        .hard_vocab_limit = false,
        .normalization = "nmt_nfkc",
        .verbose = false,
    };
}

/* SentencePiece takes a symbol list as one comma-separated flag, so a
 * symbol may not hold a comma (nor be empty). Returns the joined list
 * (malloc'd, "" for none) or NULL with the error set. */
static char *join_symbols(const char *const *syms, int n, const char *what)
{
    if (n < 0 || (n > 0 && !syms)) {
        UZ_FAIL(UZ_ERR_ARG, "tokenizer_train: %d %ss but no list", n, what);
        return NULL;
    }
    size_t len = 1;
    for (int i = 0; i < n; i++) {
        if (!syms[i] || !syms[i][0] || strchr(syms[i], ',')) {
            UZ_FAIL(UZ_ERR_ARG, "tokenizer_train: %s %d ('%s') is empty or holds a comma", what,
                    i, syms[i] ? syms[i] : "NULL");
            return NULL;
        }
        len += strlen(syms[i]) + 1;
    }
    char *s = uz_malloc(len, "tokenizer symbols");
    if (!s)
        return NULL;
    s[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (i)
            strcat(s, ",");
        strcat(s, syms[i]);
    }
    return s;
}

uz_status uz_tokenizer_train(const char *const *texts, int64_t n, const char *model_prefix,
                             int vocab_size, const uz_tokenizer_train_opts *opts)
{
    if (!texts || n <= 0 || !model_prefix || !model_prefix[0] || vocab_size <= 0)
        return UZ_FAIL(UZ_ERR_ARG, "tokenizer_train: need texts (got %lld), a model prefix and "
                       "a positive vocabulary size (got %d)", (long long)n, vocab_size);
    for (int64_t i = 0; i < n; i++)
        if (!texts[i])
            return UZ_FAIL(UZ_ERR_ARG, "tokenizer_train: text %lld is NULL", (long long)i);
    const uz_tokenizer_train_opts o = opts ? *opts : uz_tokenizer_train_defaults();
    if (o.unk_id < 0)
        return UZ_FAIL(UZ_ERR_ARG, "tokenizer_train: SentencePiece needs an unk id (got %d)",
                       o.unk_id);
    if (!(o.character_coverage > 0.0 && o.character_coverage <= 1.0))
        return UZ_FAIL(UZ_ERR_ARG, "tokenizer_train: character coverage %g is outside (0, 1]",
                       o.character_coverage);

    char *user = join_symbols(o.user_symbols, o.n_user_symbols, "user symbol");
    char *control = user ? join_symbols(o.control_symbols, o.n_control_symbols, "control symbol")
                         : NULL;
    if (!control) {
        uz_free(user);
        return uz_error_status();
    }
    char vocab[16], pad[16], unk[16], bos[16], eos[16], coverage[32];
    snprintf(vocab, sizeof vocab, "%d", vocab_size);
    snprintf(pad, sizeof pad, "%d", (int)o.pad_id);
    snprintf(unk, sizeof unk, "%d", (int)o.unk_id);
    snprintf(bos, sizeof bos, "%d", (int)o.bos_id);
    snprintf(eos, sizeof eos, "%d", (int)o.eos_id);
    snprintf(coverage, sizeof coverage, "%.17g", o.character_coverage);
    /* One thread: the unigram EM sums per-thread statistics, so the thread
     * count would otherwise change the floats and hence the pieces. Quiet
     * means errors only: the soft vocabulary limit makes BPE warn whenever
     * the corpus runs out of merges, which is expected. */
    const char *keys[16] = {"model_prefix", "vocab_size", "model_type", "pad_id", "unk_id",
                            "bos_id", "eos_id", "character_coverage", "hard_vocab_limit",
                            "normalization_rule_name", "num_threads", "minloglevel"};
    const char *values[16] = {model_prefix, vocab,
                              o.model_type ? o.model_type : "unigram", pad, unk, bos, eos,
                              coverage, o.hard_vocab_limit ? "true" : "false",
                              o.normalization ? o.normalization : "nmt_nfkc", "1",
                              o.verbose ? "0" : "2"};
    int nf = 12;
    if (user[0]) {
        keys[nf] = "user_defined_symbols";
        values[nf++] = user;
    }
    if (control[0]) {
        keys[nf] = "control_symbols";
        values[nf++] = control;
    }
    uz_status st = uz_spm_train(texts, n, keys, values, nf);
    if (st != UZ_OK)
        uz_error_context("tokenizer_train (prefix '%s')", model_prefix);
    uz_free(user);
    uz_free(control);
    return st;
}
