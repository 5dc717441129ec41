/* `unizoo data summary FILE`: loads user histories (S3-Rec text, a RecBole
 * .inter file or its directory) and prints what was loaded, or the first
 * malformed line.
 * `unizoo data scenes --out DIR --n N --seed S ...`: writes the synthetic
 * Fashion-MNIST scenes (vision/scenes.h) with their COCO JSON. */
#include "cli.h"

#include "datasets/datasets.h"
#include "models/seqrec.h"
#include "vision/scenes.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: unizoo data summary FILE   (S3-Rec .txt, RecBole .inter or its directory)\n"
            "       unizoo data scenes --out DIR --n N --seed S [--split train|test|both]\n"
            "                          [--size PX] [--fmnist DIR]\n"
            "  scenes: 1-4 Fashion-MNIST items per canvas, as DIR/<split>/images/*.jpg plus\n"
            "  DIR/<split>/instances.json and captions.json (COCO format)\n"
            "  --n       scenes in the train split; with --split both the test split gets\n"
            "            N/5 (rounded up), with --split test it gets N\n"
            "  --split   both (default), train (Fashion-MNIST train items) or test (test items)\n"
            "  --size    canvas side in pixels (default %d)\n"
            "  --fmnist  the Fashion-MNIST IDX directory (default %s)\n",
            UZ_SCENE_DEFAULT_SIZE, UZ_FMNIST_DEFAULT_DIR);
}

typedef struct scenes_args {
    const char *out, *fmnist, *split;
    long long n, size;
    unsigned long long seed;
    bool have_n, have_seed;
} scenes_args;

/* 0: parsed, 1: help printed, -1: error printed. */
static int parse_scenes(int argc, char **argv, scenes_args *a)
{
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            usage(stdout);
            return 1;
        }
        const char *v = uz_cli_option_value("data scenes", argc, argv, &i);
        if (!v)
            return -1;
        bool ok = true;
        if (strcmp(s, "--out") == 0) {
            a->out = v;
        } else if (strcmp(s, "--fmnist") == 0) {
            a->fmnist = v;
        } else if (strcmp(s, "--split") == 0) {
            a->split = v;
            ok = strcmp(v, "train") == 0 || strcmp(v, "test") == 0 || strcmp(v, "both") == 0;
            if (!ok)
                fprintf(stderr, "unizoo data scenes: --split '%s' is not train, test or both\n", v);
        } else if (strcmp(s, "--n") == 0) {
            ok = a->have_n = uz_cli_parse_int("data scenes", s, v, 1, 100000000, &a->n);
        } else if (strcmp(s, "--size") == 0) {
            ok = uz_cli_parse_int("data scenes", s, v, UZ_SCENE_MIN_SIZE, UZ_SCENE_MAX_SIZE,
                                  &a->size);
        } else if (strcmp(s, "--seed") == 0) {
            char *end;
            errno = 0;
            a->seed = strtoull(v, &end, 10);
            ok = a->have_seed = *v && *v != '-' && !*end && !errno;
            if (!ok)
                fprintf(stderr, "unizoo data scenes: --seed '%s' is not a non-negative integer\n", v);
        } else {
            fprintf(stderr, "unizoo data scenes: unknown option '%s' (see --help)\n", s);
            ok = false;
        }
        if (!ok)
            return -1;
    }
    if (!a->out || !a->have_n || !a->have_seed) {
        fprintf(stderr, "unizoo data scenes: --out, --n and --seed are required (see --help)\n");
        return -1;
    }
    return 0;
}

/* One split: loads its Fashion-MNIST items and writes the scenes. */
static bool write_split(const scenes_args *a, bool train, int64_t n, int64_t *items)
{
    uz_fmnist src;
    if (uz_fmnist_load(a->fmnist, train, &src) != UZ_OK) {
        uz_cli_error("data scenes", NULL);
        return false;
    }
    uz_status st = uz_scenes_write(a->out, train, &src, n, (uint64_t)a->seed, (int)a->size, items);
    uz_fmnist_free(&src);
    if (st != UZ_OK) {
        uz_cli_error("data scenes", NULL);
        return false;
    }
    return true;
}

static int cmd_scenes(int argc, char **argv)
{
    scenes_args a = {.split = "both", .size = UZ_SCENE_DEFAULT_SIZE};
    int r = parse_scenes(argc, argv, &a);
    if (r != 0)
        return r > 0 ? 0 : 2;
    bool both = strcmp(a.split, "both") == 0;
    bool do_train = both || strcmp(a.split, "train") == 0;
    bool do_test = both || strcmp(a.split, "test") == 0;
    int64_t n_train = do_train ? a.n : 0, n_test = do_test ? (both ? (a.n + 4) / 5 : a.n) : 0;
    int64_t items_train = 0, items_test = 0;
    if (do_train && !write_split(&a, true, n_train, &items_train))
        return 1;
    if (do_test && !write_split(&a, false, n_test, &items_test))
        return 1;
    printf("scenes: %s: %dx%d, seed %llu:", a.out, (int)a.size, (int)a.size, a.seed);
    if (do_train)
        printf(" train %lld images (%lld items)%s", (long long)n_train, (long long)items_train,
               do_test ? "," : "");
    if (do_test)
        printf(" test %lld images (%lld items)", (long long)n_test, (long long)items_test);
    printf(", %d captions each\n", UZ_SCENE_CAPTIONS);
    return 0;
}

int uz_cmd_data(int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "scenes") == 0)
        return cmd_scenes(argc - 1, argv + 1);
    if (argc != 2 || strcmp(argv[0], "summary") != 0) {
        bool help = argc >= 1 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0);
        usage(help ? stdout : stderr);
        return help ? 0 : 2;
    }
    char path[PATH_MAX];
    uz_data_path_resolve(argv[1], path, sizeof path);
    uz_seqrec d;
    if (uz_seqrec_load(path, &d) != UZ_OK) {
        uz_cli_error("data", NULL);
        return 1;
    }
    char line[256];
    uz_seqrec_summary(&d, line, sizeof line);
    printf("%s: %s%s\n", path, line, d.titles ? ", with titles" : "");
    uz_seqrec_free(&d);
    return 0;
}
