/* vlkit plot RUN_DIR — the loss, learning-rate and eval curves of a training run as an SVG.
 *
 * Reads RUN_DIR/metrics.jsonl (or a metrics file named directly), writes RUN_DIR/curves.svg (or
 * --out) atomically. Malformed lines (a half-written last line of a running job) are skipped
 * with one warning; an empty or unusable file is an error. */
#include "cli/commands.h"
#include "util/args.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/metrics_plot.h"
#include "util/metrics_read.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "runs/x/" -> "x": the default title */
static char *base_name(const char *path) {
    char *s = strdup(path);
    if (!s) return NULL;
    size_t n = strlen(s);
    while (n > 1 && s[n - 1] == '/') s[--n] = 0;
    char *slash = strrchr(s, '/');
    if (slash && slash[1]) memmove(s, slash + 1, strlen(slash + 1) + 1);
    return s;
}

/* The metrics file and the folder it is in: RUN_DIR/metrics.jsonl, or the file itself. */
static int locate(const char *arg, char **metrics, char **dir) {
    if (vk_is_dir(arg)) {
        *metrics = vk_path_join(arg, "metrics.jsonl");
        *dir = strdup(arg);
    } else {
        *metrics = strdup(arg);
        const char *slash = strrchr(arg, '/');
        *dir = slash ? strndup(arg, (size_t)(slash - arg) + (slash == arg)) : strdup(".");
    }
    return *metrics && *dir ? 0 : -1;
}

int cmd_plot(int argc, char **argv) {
    const char *out = NULL, *title = NULL;
    double smooth = 0.8;
    int width = 960;
    const vk_arg args[] = {
        {"--out", "FILE.svg", VK_ARG_STRING, &out, "where to write the SVG (default RUN_DIR/curves.svg)", NULL, 0},
        {"--smooth", "W", VK_ARG_DOUBLE, &smooth, "EMA weight of the smoothed loss, in [0, 1) (default 0.8; 0 = none)", NULL, 0},
        {"--title", "TEXT", VK_ARG_STRING, &title, "title on top (default: the run folder's name)", NULL, 0},
        {"--width", "PX", VK_ARG_INT, &width, "width in pixels, 400 to 20000 (default 960)", NULL, 0},
        {0}};
    static const char epilog[] =
        "RUN_DIR is a `vlkit train` output_dir holding metrics.jsonl (a metrics file may be named instead).\n"
        "Panels: training loss (raw and smoothed, with val_loss), learning rate, eval metrics.\n\n"
        "examples:\n"
        "  vlkit plot runs/caption-lora-base\n"
        "  vlkit plot build/demo/run --out demo.svg --smooth 0.9\n";
    const vk_argspec spec = {"plot", "[options] RUN_DIR", "draw loss / lr / eval curves of a training run to an SVG",
                             args, 1, 1, epilog};
    vk_strlist pos = {0};
    int rc = vk_args_parse(&spec, argc, argv, &pos);
    if (rc == VK_ARGS_HELP) return 0;
    if (rc != VK_ARGS_OK) return 2;

    char *metrics = NULL, *dir = NULL, *name = NULL, *default_out = NULL, *svg = NULL;
    vk_metrics m = {0};
    int status = 1;
    if (!vk_is_dir(pos.items[0]) && !vk_file_exists(pos.items[0])) {
        vk_print_error("%s: no such run folder or metrics file", pos.items[0]);
        goto done;
    }
    if (locate(pos.items[0], &metrics, &dir) != 0 || !(name = base_name(dir))) {
        vk_print_error("out of memory");
        goto done;
    }
    if (!out) {
        if (!(default_out = vk_path_join(dir, "curves.svg"))) goto done;
        out = default_out;
    }
    if (vk_metrics_read(metrics, &m) != 0) {
        vk_print_error("%s", vk_err_msg());
        goto done;
    }
    if (m.malformed)
        vk_print_warning("%s: skipped %zu malformed line%s of %zu (first: line %zu)", metrics, m.malformed,
                         m.malformed == 1 ? "" : "s", m.lines, m.first_malformed_line);
    vk_plot_opts o;
    vk_plot_opts_default(&o);
    o.smooth = smooth;
    o.width = width;
    o.title = title ? title : name;
    if (!(svg = vk_metrics_svg(&m, &o))) {
        vk_print_error("%s", vk_err_msg());
        status = strstr(vk_err_msg(), "must be") ? 2 : 1;
        goto done;
    }
    if (vk_write_file_atomic(out, svg, strlen(svg)) != 0) {
        vk_print_error("%s", vk_err_msg());
        goto done;
    }
    printf("wrote %s: loss %zu points, lr %zu", out, m.loss.n, m.lr.n);
    for (size_t i = 0; i < m.neval; i++) printf(", %s %zu", m.eval[i].name, m.eval[i].n);
    printf("\n");
    status = 0;
done:
    free(svg);
    vk_metrics_free(&m);
    free(default_out);
    free(name);
    free(dir);
    free(metrics);
    vk_strlist_free(&pos);
    return status;
}
