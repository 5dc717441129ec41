/* The unizoo command line: parse, call, print; the only place that exits. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: unizoo <command> [options]\n"
            "commands:\n"
            "  train NAME   train a built-in model (now: fmnist-mlp)\n"
            "  eval, infer, recommend, data, zoo   (not built yet)\n"
            "run `unizoo train fmnist-mlp --help` for its options\n");
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
    static const char *const later[] = {"eval", "infer", "recommend", "data", "zoo"};
    for (size_t i = 0; i < sizeof later / sizeof later[0]; i++)
        if (strcmp(cmd, later[i]) == 0) {
            fprintf(stderr, "unizoo: '%s' is not built yet in this version\n", cmd);
            return 2;
        }
    fprintf(stderr, "unizoo: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
