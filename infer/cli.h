/* Subcommands of the unizoo command line. */
#ifndef UZ_CLI_H
#define UZ_CLI_H

int uz_cmd_train(int argc, char **argv);

#endif
