/* The unizoo command line: parse, call, print; the only place that exits. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: unizoo <command> [options]\n"
            "commands:\n"
            "  zoo                 list the built-in models\n"
            "  train NAME|FILE     train a built-in model or a JSON config (--help for options)\n"
            "  eval DIR|--ckpt F   evaluate the checkpoint of a training run\n"
            "  recommend --ckpt F  top-K items for every user (sequential recommendation)\n"
            "  data summary FILE   load user histories and print what was loaded\n"
            "  data scenes ...     generate Fashion-MNIST scenes with COCO boxes and captions\n"
            "  text train-tokenizer  train the SentencePiece tokenizer (--help for options)\n"
            "  infer --ckpt F ...  classify, detect, caption or retrieve with a generalist\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "train") == 0)
        return uz_cmd_train(argc - 2, argv + 2);
    if (strcmp(cmd, "eval") == 0)
        return uz_cmd_eval(argc - 2, argv + 2);
    if (strcmp(cmd, "zoo") == 0)
        return uz_cmd_zoo(argc - 2, argv + 2);
    if (strcmp(cmd, "recommend") == 0)
        return uz_cmd_recommend(argc - 2, argv + 2);
    if (strcmp(cmd, "data") == 0)
        return uz_cmd_data(argc - 2, argv + 2);
    if (strcmp(cmd, "text") == 0)
        return uz_cmd_text(argc - 2, argv + 2);
    if (strcmp(cmd, "infer") == 0)
        return uz_cmd_infer(argc - 2, argv + 2);
    fprintf(stderr, "unizoo: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
