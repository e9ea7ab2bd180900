#include "tests/common/fixtures.h"

#include "util/error.h"
#include "util/fileio.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *fixtures_root(void) {
    const char *e = getenv("VLKIT_FIXTURES");
    return e && *e ? e : "../shared/fixtures";
}

const char *fixture_path(const char *rel) {
    static char bufs[8][4096];
    static int slot;
    char *b = bufs[slot++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", fixtures_root(), rel);
    return b;
}

cJSON *fixture_json(const char *rel) {
    const char *p = fixture_path(rel);
    size_t n;
    char *text = vk_read_file(p, &n, 0);
    cr_assert(text != NULL, "cannot read fixture %s: %s", p, vk_err_msg());
    cJSON *j = cJSON_ParseWithLength(text, n);
    free(text);
    cr_assert(j != NULL, "fixture %s is not valid JSON", p);
    return j;
}

char *test_tmpdir(void) {
    const char *base = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/vlkit-test-XXXXXX", base && *base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    cr_assert(d != NULL, "mkdtemp failed");
    return strdup(d);
}

/* A six-image caption training set over the fixture's preprocess images ("train.jsonl" in dir,
 * absolute image paths); malloc'd path. */
char *fixture_caption_jsonl(const char *dir) {
    char *path = vk_path_join(dir, "train.jsonl");
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    const char *imgs[] = {"img0_landscape_rgb.png", "img2_gray.png", "img3_rgba.png", "img5_small_q95_444.jpg",
                          "img1_portrait_rgb_q90_420.jpg", "img4_exact_rgb.png"};
    const char *caps[] = {"a cat sitting on the couch", "two dogs playing on the beach", "a red car on the street",
                          "a man riding a wave", "a woman standing there", "a picture of a house"};
    char *root = realpath(fixture_path("blip-tiny/preprocess/images"), NULL);
    cr_assert_not_null(root, "fixture images missing");
    for (int i = 0; i < 6; i++) fprintf(f, "{\"image\": \"%s/%s\", \"caption\": \"%s\"}\n", root, imgs[i], caps[i]);
    fclose(f);
    free(root);
    return path;
}
