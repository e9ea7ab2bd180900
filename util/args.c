#include "util/args.h"

#include "util/error.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void vk_strlist_free(vk_strlist *l) {
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

static int strlist_push(vk_strlist *l, const char *s) {
    const char **p = realloc(l->items, sizeof *p * (size_t)(l->n + 1));
    if (!p) return -1;
    l->items = p;
    l->items[l->n++] = s;
    return 0;
}

static void print_arg_usage(const vk_arg *a, FILE *fp) {
    char left[96];
    if (a->metavar)
        snprintf(left, sizeof left, "%s %s", a->name, a->metavar);
    else
        snprintf(left, sizeof left, "%s", a->name);
    fprintf(fp, "  %-26s %s%s", left, a->help ? a->help : "", a->required ? " (required)" : "");
    if (a->env) fprintf(fp, " [env %s]", a->env);
    fputc('\n', fp);
}

void vk_args_print_help(const vk_argspec *spec, FILE *fp) {
    fprintf(fp, "usage: vlkit %s %s\n\n%s\n\noptions:\n", spec->command, spec->usage ? spec->usage : "[options]",
            spec->summary ? spec->summary : "");
    for (const vk_arg *a = spec->args; a && a->name; a++) print_arg_usage(a, fp);
    fprintf(fp, "  %-26s %s\n", "-h, --help", "show this help");
    if (spec->epilog) fprintf(fp, "\n%s", spec->epilog);
}

static int arg_error(const vk_argspec *spec, const vk_arg *a, const char *fmt, const char *detail) {
    char msg[512];
    snprintf(msg, sizeof msg, fmt, detail);
    vk_print_error("%s: %s", spec->command, msg);
    if (a) {
        fputs("usage:\n", stderr);
        print_arg_usage(a, stderr);
    } else {
        fprintf(stderr, "see 'vlkit %s --help'\n", spec->command);
    }
    return VK_ARGS_ERROR;
}

static int set_value(const vk_argspec *spec, const vk_arg *a, const char *val) {
    char *end;
    switch (a->kind) {
    case VK_ARG_FLAG:
        *(int *)a->dest = 1;
        return VK_ARGS_OK;
    case VK_ARG_STRING:
        *(const char **)a->dest = val;
        return VK_ARGS_OK;
    case VK_ARG_STRINGS:
        if (strlist_push((vk_strlist *)a->dest, val) != 0) return arg_error(spec, a, "%s", "out of memory");
        return VK_ARGS_OK;
    case VK_ARG_INT: {
        errno = 0;
        long v = strtol(val, &end, 10);
        if (errno || end == val || *end || v < INT_MIN || v > INT_MAX) {
            char d[300];
            snprintf(d, sizeof d, "%s: expected an integer, got '%.200s'", a->name, val);
            return arg_error(spec, a, "%s", d);
        }
        *(int *)a->dest = (int)v;
        return VK_ARGS_OK;
    }
    case VK_ARG_DOUBLE: {
        errno = 0;
        double v = strtod(val, &end);
        if (errno || end == val || *end || !isfinite(v)) {
            char d[300];
            snprintf(d, sizeof d, "%s: expected a number, got '%.200s'", a->name, val);
            return arg_error(spec, a, "%s", d);
        }
        *(double *)a->dest = v;
        return VK_ARGS_OK;
    }
    }
    return VK_ARGS_ERROR;
}

static const vk_arg *find_arg(const vk_argspec *spec, const char *name, size_t len) {
    for (const vk_arg *a = spec->args; a && a->name; a++)
        if (strlen(a->name) == len && strncmp(a->name, name, len) == 0) return a;
    return NULL;
}

int vk_args_parse(const vk_argspec *spec, int argc, char **argv, vk_strlist *positional) {
    int nargs = 0;
    for (const vk_arg *a = spec->args; a && a->name; a++) nargs++;
    char *seen = calloc((size_t)nargs + 1, 1);
    if (!seen) return arg_error(spec, NULL, "%s", "out of memory");
    int rc = VK_ARGS_OK, npos = 0, only_pos = 0;
    for (int i = 1; i < argc && rc == VK_ARGS_OK; i++) {
        const char *s = argv[i];
        if (!only_pos && strcmp(s, "--") == 0) {
            only_pos = 1;
            continue;
        }
        if (!only_pos && (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0)) {
            vk_args_print_help(spec, stdout);
            free(seen);
            return VK_ARGS_HELP;
        }
        if (!only_pos && s[0] == '-' && s[1] != 0) {
            const char *eq = strchr(s, '=');
            size_t len = eq ? (size_t)(eq - s) : strlen(s);
            const vk_arg *a = find_arg(spec, s, len);
            if (!a) {
                char d[300];
                snprintf(d, sizeof d, "unknown option '%.*s'", (int)(len > 200 ? 200 : len), s);
                rc = arg_error(spec, NULL, "%s", d);
                break;
            }
            seen[a - spec->args] = 1;
            const char *val = NULL;
            if (a->kind == VK_ARG_FLAG) {
                if (eq) {
                    rc = arg_error(spec, a, "%s: takes no value", a->name);
                    break;
                }
            } else if (eq) {
                val = eq + 1;
            } else if (i + 1 < argc) {
                val = argv[++i];
            } else {
                rc = arg_error(spec, a, "%s: missing value", a->name);
                break;
            }
            rc = set_value(spec, a, val);
            continue;
        }
        if (spec->max_positional >= 0 && npos >= spec->max_positional) {
            char d[300];
            snprintf(d, sizeof d, "unexpected argument '%.200s'", s);
            rc = arg_error(spec, NULL, "%s", d);
            break;
        }
        if (!positional || strlist_push(positional, s) != 0) {
            rc = arg_error(spec, NULL, "%s", "out of memory");
            break;
        }
        npos++;
    }
    /* environment mirrors, then required checks */
    for (int k = 0; rc == VK_ARGS_OK && k < nargs; k++) {
        const vk_arg *a = &spec->args[k];
        if (seen[k] || !a->env) continue;
        const char *v = getenv(a->env);
        if (v && *v) {
            rc = set_value(spec, a, v);
            seen[k] = 1;
        }
    }
    for (int k = 0; rc == VK_ARGS_OK && k < nargs; k++)
        if (spec->args[k].required && !seen[k]) rc = arg_error(spec, &spec->args[k], "%s is required", spec->args[k].name);
    if (rc == VK_ARGS_OK && npos < spec->min_positional)
        rc = arg_error(spec, NULL, "missing %s", spec->usage ? spec->usage : "arguments");
    free(seen);
    if (rc != VK_ARGS_OK && positional) vk_strlist_free(positional);
    return rc;
}
