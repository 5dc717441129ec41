/* Subcommands of the unizoo command line. */
#ifndef UZ_CLI_H
#define UZ_CLI_H

#include "train/config.h"

int uz_cmd_train(int argc, char **argv);
int uz_cmd_eval(int argc, char **argv);
int uz_cmd_zoo(int argc, char **argv);

/* Shared by the subcommands (infer/cli_config.c). */

/* The config text of a built-in name or a file path (malloc'd), or NULL
 * with a message printed. */
char *uz_cli_config_text(const char *cmd, const char *name_or_file);
/* Loads a config with the zoo's families; prints the error and returns
 * false on failure. */
bool uz_cli_load_config(const char *cmd, const char *text, const char *source,
                        const char *const *sets, int n_sets, uz_train_config *cfg);
/* Prints "unizoo CMD: message" for the current error, without the
 * source-file locations that are meant for developers. */
void uz_cli_error(const char *cmd, const char *what);

#endif
