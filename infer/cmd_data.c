/* `unizoo data summary FILE`: loads user histories (S3-Rec text, a RecBole
 * .inter file or its directory) and prints what was loaded, or the first
 * malformed line. */
#include "cli.h"

#include "datasets/seqrec.h"
#include "models/seqrec.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

int uz_cmd_data(int argc, char **argv)
{
    if (argc != 2 || strcmp(argv[0], "summary") != 0) {
        bool help = argc >= 1 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0);
        fprintf(help ? stdout : stderr,
                "usage: unizoo data summary FILE   (S3-Rec .txt, RecBole .inter or its directory)\n");
        return help ? 0 : 2;
    }
    char path[PATH_MAX];
    uz_seqrec_resolve_path(argv[1], path, sizeof path);
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
