/* Subcommands of the unizoo command line. */
#ifndef UZ_CLI_H
#define UZ_CLI_H

#include "train/config.h"

int uz_cmd_train(int argc, char **argv);
int uz_cmd_eval(int argc, char **argv);
int uz_cmd_zoo(int argc, char **argv);
int uz_cmd_recommend(int argc, char **argv);
int uz_cmd_data(int argc, char **argv);
int uz_cmd_text(int argc, char **argv);
int uz_cmd_infer(int argc, char **argv);

/* Shared by the subcommands (infer/cli_config.c). */

/* The config text of a built-in name or a file path, or NULL with a message
 * printed. free() it (a file's text is uz_malloc'd, which free() releases). */
char *uz_cli_config_text(const char *cmd, const char *name_or_file);
/* Loads a config with the zoo's families; prints the error and returns
 * false on failure. */
bool uz_cli_load_config(const char *cmd, const char *text, const char *source,
                        const char *const *sets, int n_sets, uz_train_config *cfg);
/* Prints "unizoo CMD: message" for the current error, without the
 * source-file locations that are meant for developers. */
void uz_cli_error(const char *cmd, const char *what);
/* For `--option value` loops: the value after the option argv[*i], with
 * *i moved onto it, or NULL with "OPTION needs a value" (or, for an argv[*i]
 * that is not an option, "unexpected argument") printed. */
const char *uz_cli_option_value(const char *cmd, int argc, char **argv, int *i);
/* The integer v of option opt into *out, or false with "OPT 'v' is not an
 * integer in [lo, hi]" printed. */
bool uz_cli_parse_int(const char *cmd, const char *opt, const char *v, long long lo, long long hi,
                      long long *out);

/* infer/cli_model.c */

/* The model of ckpt for inference: a run directory (its best.safetensors
 * when early stopping kept one, else its last checkpoint), a checkpoint
 * file, or a bare SASRec encoder file (RecBole names; the data must then
 * be given). data (may be NULL) and sets override the stored config's
 * model.data and fields. Prints the error and returns false on failure;
 * on success the caller frees *m and cfg. */
bool uz_cli_load_model(const char *cmd, const char *ckpt, const char *data,
                       const char *const *sets, int n_sets, uz_train_config *cfg, uz_model **m);
/* As uz_cli_load_model, but the model is built without its data sets
 * (inference on inputs the caller brings); what the family loads besides
 * its data (e.g. a tokenizer) it loads when present. */
bool uz_cli_load_model_only(const char *cmd, const char *ckpt, const char *const *sets,
                            int n_sets, uz_train_config *cfg, uz_model **m);
/* Peak resident memory of this process so far, in MiB. */
double uz_cli_peak_mb(void);

#endif
