/* The built-in model configs (`unizoo zoo`, `unizoo train NAME`), embedded
 * as JSON so the binary is self-contained, and the model families they and
 * config files may name. */
#ifndef UZ_ZOO_H
#define UZ_ZOO_H

#include "train/model.h"

typedef struct uz_zoo_entry {
    const char *name;
    const char *json;     /* a complete training config */
} uz_zoo_entry;

int uz_zoo_count(void);
const uz_zoo_entry *uz_zoo_at(int i);
/* NULL when there is no built-in of that name. */
const uz_zoo_entry *uz_zoo_find(const char *name);

/* Every model family, for config loading. */
const uz_model_family *const *uz_zoo_families(int *n);

#endif
