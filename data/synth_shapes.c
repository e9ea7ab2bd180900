#include "data/synth_shapes.h"

#include "util/error.h"
#include "util/fileio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <stb_image_write.h>

typedef struct {
    const char *name;
    unsigned char rgb[3];
} colour;

static const colour colours[] = {{"red", {220, 30, 30}},   {"green", {30, 180, 40}},  {"blue", {40, 60, 220}},
                                 {"yellow", {235, 220, 40}}, {"white", {245, 245, 245}}, {"black", {15, 15, 15}}};
#define NCOLOURS 6
static const char *const shapes[] = {"circle", "square", "triangle"};
static const char *const sizes[] = {"small", "large"};
static const char *const extra_words[] = {"a", "on", "background", "picture", "of", "the", "an", "with"};

static uint64_t rng_next(uint64_t *s) { /* splitmix64: the same stream on every platform */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static int rng_int(uint64_t *s, int n) { return (int)(rng_next(s) % (uint64_t)n); }

/* 1 if (x, y) lies inside the shape centred at (cx, cy) with half-size r */
static int inside(int shape, double x, double y, double cx, double cy, double r) {
    double dx = x - cx, dy = y - cy;
    switch (shape) {
    case 0: return dx * dx + dy * dy <= r * r;
    case 1: return dx >= -r && dx <= r && dy >= -r && dy <= r;
    default: /* upward triangle: apex at the top, base at the bottom */
        if (dy < -r || dy > r) return 0;
        double half = r * (dy + r) / (2 * r);
        return dx >= -half && dx <= half;
    }
}

static int write_image(const char *path, int S, int shape, int size, int fg, int bg, uint64_t *rng) {
    unsigned char *px = malloc((size_t)S * S * 3);
    if (!px) return vk_err_set("out of memory");
    double r = S * (size ? 0.32 : 0.16);
    double cx = r + 1 + rng_int(rng, (int)(S - 2 * r - 1) > 0 ? (int)(S - 2 * r - 1) : 1);
    double cy = r + 1 + rng_int(rng, (int)(S - 2 * r - 1) > 0 ? (int)(S - 2 * r - 1) : 1);
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            const unsigned char *c = inside(shape, x + 0.5, y + 0.5, cx, cy, r) ? colours[fg].rgb : colours[bg].rgb;
            int noise = rng_int(rng, 13) - 6; /* a little texture so images differ */
            for (int k = 0; k < 3; k++) {
                int v = c[k] + noise;
                px[((size_t)y * S + x) * 3 + k] = (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
    size_t n = strlen(path) + 16;
    char *tmp = malloc(n);
    if (!tmp) {
        free(px);
        return vk_err_set("out of memory");
    }
    snprintf(tmp, n, "%s.tmp.png", path);
    int ok = stbi_write_png(tmp, S, S, 3, px, S * 3);
    free(px);
    int rc = 0;
    if (!ok || rename(tmp, path)) {
        remove(tmp);
        rc = vk_err_set("%s: cannot write the image", path);
    }
    free(tmp);
    return rc;
}

static int write_vocab(const char *dir) {
    char *path = vk_path_join(dir, "vocab.txt");
    vk_atomic_file af;
    if (!path || vk_atomic_open(&af, path)) {
        free(path);
        return -1;
    }
    fputs("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n", af.fp);
    for (int i = 0; i < NCOLOURS; i++) fprintf(af.fp, "%s\n", colours[i].name);
    for (int i = 0; i < 3; i++) fprintf(af.fp, "%s\n", shapes[i]);
    for (int i = 0; i < 2; i++) fprintf(af.fp, "%s\n", sizes[i]);
    for (size_t i = 0; i < sizeof extra_words / sizeof extra_words[0]; i++) fprintf(af.fp, "%s\n", extra_words[i]);
    /* single characters and continuations: any other text still tokenizes */
    for (int c = 33; c < 127; c++)
        if (!(c >= 'A' && c <= 'Z')) fprintf(af.fp, "%c\n", c);
    for (int c = 'a'; c <= 'z'; c++) fprintf(af.fp, "##%c\n", c);
    int rc = vk_atomic_commit(&af);
    free(path);
    return rc;
}

static int write_split(const synth_shapes_options *o, const char *split, int n, uint64_t *rng) {
    char name[64];
    snprintf(name, sizeof name, "%s.jsonl", split);
    char *path = vk_path_join(o->out_dir, name);
    vk_atomic_file af;
    if (!path || vk_atomic_open(&af, path)) {
        free(path);
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        int shape = rng_int(rng, 3), size = rng_int(rng, 2), fg = rng_int(rng, NCOLOURS), bg = rng_int(rng, NCOLOURS - 1);
        if (bg >= fg) bg++; /* never the shape's own colour */
        char rel[96], full[4200];
        snprintf(rel, sizeof rel, "images/%s_%05d.png", split, i);
        snprintf(full, sizeof full, "%s/%s", o->out_dir, rel);
        rc = write_image(full, o->image_size, shape, size, fg, bg, rng);
        if (o->style == SYNTH_STYLE_SHORT)
            fprintf(af.fp, "{\"image\": \"%s\", \"image_id\": %d, \"captions\": [\"%s %s\"]}\n", rel, i, colours[fg].name,
                    shapes[shape]);
        else
            fprintf(af.fp,
                    "{\"image\": \"%s\", \"image_id\": %d, \"captions\": [\"a %s %s %s on a %s background\", \"a %s %s on %s\"]}\n",
                    rel, i, sizes[size], colours[fg].name, shapes[shape], colours[bg].name, colours[fg].name, shapes[shape],
                    colours[bg].name);
    }
    if (rc) vk_atomic_abort(&af);
    else rc = vk_atomic_commit(&af);
    free(path);
    return rc;
}

int synth_shapes_write(const synth_shapes_options *o) {
    if (o->image_size < 16 || o->image_size > 1024) return vk_err_set("synth: image size must be in [16, 1024]");
    if (o->n_train < 1 || o->n_val < 0 || o->n_test < 0) return vk_err_set("synth: need at least one training image");
    char *img = vk_path_join(o->out_dir, "images");
    if ((mkdir(o->out_dir, 0777) && errno != EEXIST) || (mkdir(img, 0777) && errno != EEXIST)) {
        int e = errno;
        free(img);
        return vk_err_set("%s: cannot create: %s", o->out_dir, strerror(e));
    }
    free(img);
    uint64_t rng = o->seed * 0x2545F4914F6CDD1Dull + 1;
    if (write_split(o, "train", o->n_train, &rng) || write_split(o, "val", o->n_val, &rng) ||
        write_split(o, "test", o->n_test, &rng))
        return -1;
    return write_vocab(o->out_dir);
}
