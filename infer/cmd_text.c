/* `unizoo text train-tokenizer --out PREFIX --vocab N [--captions FILE]...
 * [--texts FILE]... [--classes fashion-mnist]`: trains the SentencePiece
 * model the generalist reads its texts with (PREFIX.model, PREFIX.vocab)
 * on the task texts: COCO captions, plain text lines and class names. */
#include "cli.h"

#include "core/alloc.h"
#include "core/file_io.h"
#include "datasets/coco.h"
#include "datasets/datasets.h"
#include "text/text.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: unizoo text train-tokenizer --out PREFIX --vocab N [--captions FILE]...\n"
            "                  [--texts FILE]... [--classes fashion-mnist]\n"
            "                  [--model-type unigram|bpe|word|char] [--verbose]\n"
            "  --out       writes PREFIX.model and PREFIX.vocab\n"
            "  --vocab     vocabulary size, an upper bound: a small corpus gives fewer pieces\n"
            "  --captions  a COCO captions file (its annotations[].caption); repeatable\n"
            "  --texts     a text file, one sentence per line; repeatable\n"
            "  --classes   add the class names of a data set (fashion-mnist)\n"
            "  --model-type  unigram (default), bpe, word or char; use bpe for templated\n"
            "              captions (generated scenes): unigram spells out in characters\n"
            "              the words always followed by the same words (\"left\" of \"left of\")\n"
            "The model has <pad> 0, <unk> 1, <s> 2, </s> 3 and the user symbol <spe> 4.\n");
}

/* Every text the trainer sees; strings point into the loaded files. */
typedef struct corpus {
    const char **texts;
    int64_t n, cap;
    uz_coco *cocos;
    int n_cocos;
    char **files;
    int n_files;
} corpus;

static bool corpus_add(corpus *c, const char *text)
{
    if (c->n == c->cap) {
        int64_t cap = c->cap ? 2 * c->cap : 1024;
        const char **t = realloc(c->texts, (size_t)cap * sizeof *t);
        if (!t) {
            fprintf(stderr, "unizoo text: out of memory\n");
            return false;
        }
        c->texts = t;
        c->cap = cap;
    }
    c->texts[c->n++] = text;
    return true;
}

static void corpus_free(corpus *c)
{
    for (int i = 0; i < c->n_cocos; i++)
        uz_coco_free(&c->cocos[i]);
    for (int i = 0; i < c->n_files; i++)
        uz_free(c->files[i]);
    free(c->cocos);
    free(c->files);
    free(c->texts);
}

static bool add_captions(corpus *c, const char *path)
{
    uz_coco *coco = &c->cocos[c->n_cocos];
    if (uz_coco_load(NULL, path, NULL, coco) != UZ_OK) {
        uz_cli_error("text", NULL);
        return false;
    }
    c->n_cocos++;
    for (int64_t i = 0; i < coco->n_captions; i++)
        if (!corpus_add(c, coco->captions[i].caption))
            return false;
    return true;
}

/* Non-empty lines of a text file (a trailing '\r' dropped). */
static bool add_lines(corpus *c, const char *path)
{
    char *buf;
    size_t len;
    if (uz_file_read_all(path, SIZE_MAX, &buf, &len) != UZ_OK) {
        uz_cli_error("text", NULL);
        return false;
    }
    c->files[c->n_files++] = buf;
    for (char *line = buf; *line;) {
        char *nl = strchr(line, '\n');
        char *next = nl ? nl + 1 : line + strlen(line);
        if (nl)
            *nl = '\0';
        size_t n = strlen(line);
        if (n && line[n - 1] == '\r')
            line[--n] = '\0';
        if (n && !corpus_add(c, line))
            return false;
        line = next;
    }
    return true;
}

static int train_tokenizer(int argc, char **argv)
{
    const char *out = NULL;
    long long vocab = 0;
    uz_tokenizer_train_opts opts = uz_tokenizer_train_defaults();
    corpus c = {0};
    c.cocos = calloc((size_t)argc + 1, sizeof *c.cocos);
    c.files = calloc((size_t)argc + 1, sizeof *c.files);
    int rc = 2;
    if (!c.cocos || !c.files) {
        fprintf(stderr, "unizoo text: out of memory\n");
        goto done;
    }
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            usage(stdout);
            rc = 0;
            goto done;
        }
        if (strcmp(s, "--verbose") == 0) {
            opts.verbose = true;
            continue;
        }
        const char *v = uz_cli_option_value("text", argc, argv, &i);
        if (!v)
            goto done;
        if (strcmp(s, "--out") == 0) {
            out = v;
        } else if (strcmp(s, "--vocab") == 0) {
            if (!uz_cli_parse_int("text", s, v, 8, 1000000, &vocab))
                goto done;
        } else if (strcmp(s, "--model-type") == 0) {
            opts.model_type = v;
        } else if (strcmp(s, "--captions") == 0) {
            if (!add_captions(&c, v)) {
                rc = 1;
                goto done;
            }
        } else if (strcmp(s, "--texts") == 0) {
            if (!add_lines(&c, v)) {
                rc = 1;
                goto done;
            }
        } else if (strcmp(s, "--classes") == 0) {
            if (strcmp(v, "fashion-mnist") != 0) {
                fprintf(stderr, "unizoo text: --classes '%s' is unknown (known: fashion-mnist)\n",
                        v);
                goto done;
            }
            for (int k = 0; k < 10; k++)
                if (!corpus_add(&c, uz_fmnist_classes[k]))
                    goto done;
        } else {
            fprintf(stderr, "unizoo text: unknown option '%s'\n", s);
            usage(stderr);
            goto done;
        }
    }
    if (!out || !vocab || c.n == 0) {
        fprintf(stderr, "unizoo text: train-tokenizer needs --out, --vocab and at least one "
                        "text (--captions, --texts or --classes)\n");
        goto done;
    }
    rc = 1;
    if (uz_tokenizer_train(c.texts, c.n, out, (int)vocab, &opts) != UZ_OK) {
        uz_cli_error("text", NULL);
        goto done;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s.model", out);
    uz_tokenizer *tok = uz_tokenizer_load(path);
    if (!tok) {
        uz_cli_error("text", NULL);
        goto done;
    }
    printf("%s: %d pieces from %lld texts\n", path, (int)uz_tokenizer_vocab_size(tok),
           (long long)c.n);
    uz_tokenizer_free(tok);
    rc = 0;
done:
    corpus_free(&c);
    return rc;
}

int uz_cmd_text(int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "train-tokenizer") == 0)
        return train_tokenizer(argc - 1, argv + 1);
    bool help = argc >= 1 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0);
    usage(help ? stdout : stderr);
    return help ? 0 : 2;
}
