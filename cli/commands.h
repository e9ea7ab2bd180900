/* commands.h — every subcommand's entry point. argv[0] is the subcommand name.
 * Return value is the process exit status (0 ok, 1 failure, 2 usage error).
 * cmd_inspect and cmd_score are pure C (in the vlkit binary); the others live in
 * libvlkit_torch.so (cli/torch/) and are looked up by name with dlsym. */
#ifndef VLKIT_CLI_COMMANDS_H
#define VLKIT_CLI_COMMANDS_H

int cmd_env(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_caption(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_bench(int argc, char **argv);

#endif
