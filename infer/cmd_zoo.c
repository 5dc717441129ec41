/* `unizoo zoo`: the built-in configs, each resolved, validated and built
 * (parameters only, no data read) so the listing shows real counts. */
#include "cli.h"

#include "models/zoo.h"

#include <stdio.h>
#include <string.h>

int uz_cmd_zoo(int argc, char **argv)
{
    if (argc > 0 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0)) {
        printf("usage: unizoo zoo   (lists the built-in models: name, family, parameters, what it is)\n");
        return 0;
    }
    if (argc > 0) {
        fprintf(stderr, "unizoo zoo: takes no arguments (got '%s')\n", argv[0]);
        return 2;
    }
    int rc = 0;
    printf("%-24s %-8s %12s  %s\n", "NAME", "FAMILY", "PARAMETERS", "DESCRIPTION");
    for (int i = 0; i < uz_zoo_count(); i++) {
        const uz_zoo_entry *e = uz_zoo_at(i);
        uz_train_config cfg;
        if (!uz_cli_load_config("zoo", e->json, e->name, NULL, 0, &cfg)) {
            rc = 1;
            continue;
        }
        uz_model *m = NULL;
        if (cfg.model_family->build(cfg.model, cfg.seed, false, &m) != UZ_OK) {
            uz_cli_error("zoo", e->name);
            rc = 1;
        } else {
            printf("%-24s %-8s %12lld  %s\n", e->name, cfg.family,
                   (long long)uz_params_numel(m->params), cfg.description);
        }
        uz_model_free(m);
        uz_config_free(&cfg);
    }
    return rc;
}
