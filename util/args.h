/* args.h — one option table per subcommand; parsing, errors and --help all come from it.
 *
 *   static int beams = 1; static const char *model = NULL;
 *   static const vk_arg opts[] = {
 *       {"--model", "DIR", VK_ARG_STRING, &model, "model folder (required)", NULL, 1},
 *       {"--beams", "N",   VK_ARG_INT,    &beams, "beam width", "VLKIT_BEAMS", 0},
 *       {0}};
 *   static const vk_argspec spec = {"caption", "[options] IMAGE...", "caption images", opts, 1, -1, NULL};
 *   vk_strlist pos = {0};
 *   int rc = vk_args_parse(&spec, argc, argv, &pos);   // VK_ARGS_OK / VK_ARGS_HELP / VK_ARGS_ERROR
 *
 * Options take "--name VALUE" or "--name=VALUE"; "--" ends options. An option with an env name
 * takes its default from that environment variable when given neither. A bad value prints the
 * error and the usage line of that option only. */
#ifndef VLKIT_UTIL_ARGS_H
#define VLKIT_UTIL_ARGS_H

#include <stdio.h>

typedef enum {
    VK_ARG_FLAG,    /* int*: set to 1 when present */
    VK_ARG_STRING,  /* const char**: last occurrence wins */
    VK_ARG_INT,     /* int*: decimal, range-checked to int */
    VK_ARG_DOUBLE,  /* double*: finite */
    VK_ARG_STRINGS, /* vk_strlist*: every occurrence appended (e.g. --set k=v --set k2=v2) */
} vk_arg_kind;

typedef struct {
    const char **items; /* pointers into argv; the array itself is malloc'd */
    int n;
} vk_strlist;
void vk_strlist_free(vk_strlist *l);

typedef struct {
    const char *name;    /* "--beams" */
    const char *metavar; /* "N"; NULL for flags */
    vk_arg_kind kind;
    void *dest;
    const char *help;
    const char *env;     /* environment variable mirror, or NULL */
    int required;
} vk_arg;

typedef struct {
    const char *command;    /* "caption" */
    const char *usage;      /* "[options] IMAGE..." */
    const char *summary;    /* one line */
    const vk_arg *args;     /* terminated by an entry with name == NULL */
    int min_positional;
    int max_positional;     /* -1: unlimited */
    const char *epilog;     /* extra help text (examples), or NULL */
} vk_argspec;

enum { VK_ARGS_OK = 0, VK_ARGS_HELP = 1, VK_ARGS_ERROR = 2 };

/* argv[0] is the subcommand name. Positionals go to *positional (may be NULL when the spec
 * allows none). Errors and help are printed to stderr / stdout. */
int vk_args_parse(const vk_argspec *spec, int argc, char **argv, vk_strlist *positional);
void vk_args_print_help(const vk_argspec *spec, FILE *fp);

#endif
