/* test_image.c — image decoding, PIL bicubic resize and BLIP normalisation against the fixtures.
 *
 * Every expected value is read from blip-tiny/preprocess: expected.json lists the images and the
 * processor settings, expected.safetensors holds what PIL + transformers produced for each image
 * (rgb_u8 = PIL decode + convert('RGB'), resized_pil_u8 = Image.resize(BICUBIC), pixel_values =
 * BlipImageProcessor output). Because rgb_u8 is stored, the resize and normalisation are checked
 * bit-exactly on PIL's own decode, independent of the JPEG decoder.
 *
 * Tolerances: PNG decoding is exact; stb_image vs libjpeg-turbo differ by at most 2 levels on
 * these JPEGs (fixture README); normalisation of the same bytes is exact (checked against the
 * file's atol, 1e-6). End to end on a JPEG the 2-level decode difference passes through the
 * resize, whose weights sum to 1 with negative lobes (sum |w| < 1.5), so <= 3 levels after
 * rounding, i.e. 3 / 255 / std[c] in pixel_values units. */
#include "data/image.h"
#include "data/pil_resize.h"
#include "data/preprocess.h"
#include "model/weights/weights.h"
#include "tests/common/fixtures.h"
#include "util/error.h"
#include "util/fileio.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stb_image_write.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define PRE "blip-tiny/preprocess/"
#define JPEG_DECODE_TOL 2   /* levels, fixture README: stb vs libjpeg-turbo */
#define JPEG_E2E_TOL 3      /* levels after the resize (see top comment) */

/* ---- fixture access ----------------------------------------------------------------------- */

typedef struct {
    cJSON *json;          /* expected.json */
    vk_weights *w;        /* expected.safetensors */
    cJSON *images;        /* json["images"] */
    int n;
} fixture;

static fixture load_fixture(void) {
    fixture f;
    f.json = fixture_json(PRE "expected.json");
    f.w = vk_weights_open(fixture_path(PRE "expected.safetensors"));
    cr_assert_not_null(f.w, "%s", vk_err_msg());
    f.images = cJSON_GetObjectItem(f.json, "images");
    cr_assert(cJSON_IsArray(f.images));
    f.n = cJSON_GetArraySize(f.images);
    cr_assert_eq(f.n, 6, "the fixture has 6 images");
    return f;
}

static void free_fixture(fixture *f) {
    vk_weights_close(f->w);
    cJSON_Delete(f->json);
}

static const char *img_str(const fixture *f, int i, const char *key) {
    const cJSON *s = cJSON_GetObjectItem(cJSON_GetArrayItem(f->images, i), key);
    cr_assert(cJSON_IsString(s), "images[%d].%s", i, key);
    return s->valuestring;
}

/* "img1_portrait_rgb_q90_420.jpg" -> tensor "img1_portrait_rgb_q90_420.<what>" */
static const vk_tensor_view *img_tensor(const fixture *f, int i, const char *what, vk_dtype dt) {
    const char *file = img_str(f, i, "file");
    char name[256];
    const char *dot = strrchr(file, '.');
    snprintf(name, sizeof name, "%.*s.%s", (int)(dot - file), file, what);
    const vk_tensor_view *t = vk_weights_find(f->w, name);
    cr_assert_not_null(t, "tensor %s missing from expected.safetensors", name);
    cr_assert_eq(t->dtype, dt, "%s dtype", name);
    return t;
}

static int is_jpeg(const fixture *f, int i) { return strcmp(img_str(f, i, "format"), "JPEG") == 0; }

static const char *img_path(const fixture *f, int i) {
    static char buf[4][4096];
    static int slot;
    char *b = buf[slot++ % 4];
    snprintf(b, sizeof buf[0], "%s", fixture_path(PRE "images/"));
    strncat(b, img_str(f, i, "file"), sizeof buf[0] - strlen(b) - 1);
    return b;
}

static image_preproc_config fixture_config(void) {
    image_preproc_config cfg;
    int rc = image_preproc_load(fixture_path(PRE "preprocessor_config.json"), &cfg);
    cr_assert_eq(rc, 0, "%s", vk_err_msg());
    return cfg;
}

/* Largest |a - b| over n bytes, and how many differ. */
static int u8_maxdiff(const uint8_t *a, const uint8_t *b, size_t n, size_t *ndiff) {
    int m = 0;
    *ndiff = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)a[i] - (int)b[i]);
        if (d) (*ndiff)++;
        if (d > m) m = d;
    }
    return m;
}

/* ---- configuration ------------------------------------------------------------------------ */

Test(image_config, fixture_preprocessor_config_matches_expected_json) {
    fixture f = load_fixture();
    image_preproc_config cfg = fixture_config();
    int s = cJSON_GetObjectItem(f.json, "image_size")->valueint;
    cr_expect_eq(cfg.height, s);
    cr_expect_eq(cfg.width, s);
    cr_expect(cfg.do_resize && cfg.do_rescale && cfg.do_normalize && cfg.do_convert_rgb);
    cr_expect_eq(cfg.rescale_factor, cJSON_GetObjectItem(f.json, "rescale_factor")->valuedouble);
    const cJSON *mean = cJSON_GetObjectItem(f.json, "image_mean"), *std = cJSON_GetObjectItem(f.json, "image_std");
    for (int c = 0; c < 3; c++) {
        cr_expect_eq(cfg.mean[c], (float)cJSON_GetArrayItem(mean, c)->valuedouble);
        cr_expect_eq(cfg.std[c], (float)cJSON_GetArrayItem(std, c)->valuedouble);
    }
    cr_expect_eq(image_preproc_numel(&cfg), (size_t)3 * s * s);
    free_fixture(&f);
}

Test(image_config, defaults_are_blip_base) {
    image_preproc_config c = image_preproc_default();
    cr_expect_eq(c.height, 384);
    cr_expect_eq(c.width, 384);
    cr_expect_eq(c.rescale_factor, 1.0 / 255.0);
    cr_expect_eq(c.mean[0], 0.48145466f);
    cr_expect_eq(c.std[2], 0.27577711f);
}

Test(image_config, size_forms_and_partial_files) {
    image_preproc_config c;
    const char *a = "{\"size\": 224}";
    cr_assert_eq(image_preproc_parse(a, strlen(a), "a.json", &c), 0, "%s", vk_err_msg());
    cr_expect(c.height == 224 && c.width == 224);
    const char *b = "{\"image_size\": 480, \"do_normalize\": false, \"image_mean\": 0.5}";
    cr_assert_eq(image_preproc_parse(b, strlen(b), "b.json", &c), 0, "%s", vk_err_msg());
    cr_expect(c.height == 480 && c.width == 480 && !c.do_normalize);
    cr_expect(c.mean[0] == 0.5f && c.mean[1] == 0.5f && c.mean[2] == 0.5f);
    cr_expect_eq(c.std[1], 0.26130258f, "missing keys keep the defaults");
    const char *d = "{\"size\": {\"height\": 20, \"width\": 30}}";
    cr_assert_eq(image_preproc_parse(d, strlen(d), "d.json", &c), 0, "%s", vk_err_msg());
    cr_expect(c.height == 20 && c.width == 30);
}

static void expect_bad_config(const char *json, const char *frag) {
    char *dir = test_tmpdir();
    char *p = vk_path_join(dir, "preprocessor_config.json");
    cr_assert_eq(vk_write_file_atomic(p, json, strlen(json)), 0);
    image_preproc_config c;
    vk_err_clear();
    cr_expect_eq(image_preproc_load(dir, &c), -1, "accepted: %s", json);
    const char *msg = vk_err_msg();
    cr_expect(strstr(msg, p) != NULL, "message does not name the file: %s", msg);
    cr_expect(strstr(msg, frag) != NULL, "message lacks '%s': %s", frag, msg);
    remove(p);
    remove(dir);
    free(p);
    free(dir);
}

Test(image_config, malformed_files_are_refused_with_the_file_and_key) {
    expect_bad_config("{\"size\": {\"height\": 32", "not valid JSON");
    expect_bad_config("[1, 2]", "not a JSON object");
    expect_bad_config("{\"size\": \"big\"}", "size");
    expect_bad_config("{\"size\": {\"shortest_edge\": 384}}", "height");
    expect_bad_config("{\"size\": {\"height\": 0, \"width\": 32}}", "size.height");
    expect_bad_config("{\"size\": {\"height\": 32.5, \"width\": 32}}", "size.height");
    expect_bad_config("{\"image_mean\": [0.5, 0.5]}", "image_mean");
    expect_bad_config("{\"image_std\": [0.5, 0, 0.5]}", "image_std");
    expect_bad_config("{\"image_std\": [0.5, \"x\", 0.5]}", "image_std");
    expect_bad_config("{\"do_resize\": \"yes\"}", "do_resize");
    expect_bad_config("{\"rescale_factor\": null, \"resample\": 2}", "resample");
    expect_bad_config("{\"rescale_factor\": \"1/255\"}", "rescale_factor");
    expect_bad_config("{\"do_center_crop\": true}", "do_center_crop");
}

Test(image_config, missing_file_is_named) {
    image_preproc_config c;
    vk_err_clear();
    cr_expect_eq(image_preproc_load("/nonexistent/dir/preprocessor_config.json", &c), -1);
    cr_expect(strstr(vk_err_msg(), "/nonexistent/dir/preprocessor_config.json") != NULL, "%s", vk_err_msg());
}

/* ---- decoding ----------------------------------------------------------------------------- */

Test(image_decode, fixture_images_decode_like_pil) {
    fixture f = load_fixture();
    for (int i = 0; i < f.n; i++) {
        const vk_tensor_view *ref = img_tensor(&f, i, "rgb_u8", VK_DTYPE_U8);
        image_rgb img;
        cr_assert_eq(image_decode_file(img_path(&f, i), &img), 0, "%s", vk_err_msg());
        cr_assert_eq(ref->ndim, 3);
        cr_expect_eq(img.height, ref->shape[0], "%s height", img_path(&f, i));
        cr_expect_eq(img.width, ref->shape[1], "%s width", img_path(&f, i));
        cr_expect_eq(ref->shape[2], 3);
        /* the file's own metadata agrees with the stored tensor */
        cr_expect_eq(img.width, cJSON_GetObjectItem(cJSON_GetArrayItem(f.images, i), "width")->valueint);
        size_t n = (size_t)img.width * img.height * 3, ndiff;
        cr_assert_eq(n, ref->nbytes);
        int m = u8_maxdiff(img.rgb, ref->data, n, &ndiff);
        if (is_jpeg(&f, i)) {
            cr_expect_leq(m, JPEG_DECODE_TOL, "%s: JPEG decode differs from PIL by %d levels", img_path(&f, i), m);
            cr_log_info("%s: stb vs PIL: %zu of %zu values differ, max %d levels", img_str(&f, i, "file"),
                        ndiff, n, m);
            cr_expect_lt(ndiff, n / 5, "most JPEG samples must agree exactly");
        } else {
            cr_expect_eq(m, 0, "%s: PNG decode differs from PIL (%zu values, max %d)", img_path(&f, i), ndiff, m);
        }
        image_rgb_free(&img);
        cr_expect_null(img.rgb);
    }
    free_fixture(&f);
}

Test(image_decode, memory_equals_file) {
    fixture f = load_fixture();
    for (int i = 0; i < f.n; i++) {
        size_t len;
        char *bytes = vk_read_file(img_path(&f, i), &len, 0);
        cr_assert_not_null(bytes);
        image_rgb a, b;
        cr_assert_eq(image_decode_file(img_path(&f, i), &a), 0, "%s", vk_err_msg());
        cr_assert_eq(image_decode_memory(bytes, len, "mem", &b), 0, "%s", vk_err_msg());
        cr_expect(a.width == b.width && a.height == b.height);
        cr_expect_eq(memcmp(a.rgb, b.rgb, (size_t)a.width * a.height * 3), 0);
        int w, h;
        cr_expect_eq(image_probe_memory(bytes, len, "mem", &w, &h), 0);
        cr_expect(w == a.width && h == a.height);
        image_rgb_free(&a);
        image_rgb_free(&b);
        free(bytes);
    }
    free_fixture(&f);
}

/* Other containers, built here from the fixture's pixels: BMP and TGA round-trip exactly; a
 * grey+alpha PNG gives grey replicated with the alpha dropped (PIL 'LA' -> 'RGB'). */
static void write_cb(void *ctx, void *data, int size) {
    FILE *fp = ctx;
    cr_assert_eq(fwrite(data, 1, (size_t)size, fp), (size_t)size);
}

Test(image_decode, bmp_tga_and_gray_alpha_png) {
    fixture f = load_fixture();
    const vk_tensor_view *ref = img_tensor(&f, 0, "rgb_u8", VK_DTYPE_U8);
    int h = (int)ref->shape[0], w = (int)ref->shape[1];
    char *dir = test_tmpdir();
    const char *names[] = {"x.bmp", "x.tga"};
    for (int k = 0; k < 2; k++) {
        char *p = vk_path_join(dir, names[k]);
        FILE *fp = fopen(p, "wb");
        cr_assert(fp);
        int ok = k == 0 ? stbi_write_bmp_to_func(write_cb, fp, w, h, 3, ref->data)
                        : stbi_write_tga_to_func(write_cb, fp, w, h, 3, ref->data);
        cr_assert(ok);
        fclose(fp);
        image_rgb img;
        cr_assert_eq(image_decode_file(p, &img), 0, "%s", vk_err_msg());
        cr_expect(img.width == w && img.height == h);
        cr_expect_eq(memcmp(img.rgb, ref->data, ref->nbytes), 0, "%s round trip", names[k]);
        image_rgb_free(&img);
        remove(p);
        free(p);
    }
    /* grey + alpha: grey from the red channel, alpha from the green one */
    uint8_t *la = malloc((size_t)w * h * 2);
    const uint8_t *rgb = ref->data;
    for (int i = 0; i < w * h; i++) {
        la[2 * i] = rgb[3 * i];
        la[2 * i + 1] = rgb[3 * i + 1];
    }
    char *p = vk_path_join(dir, "la.png");
    cr_assert(stbi_write_png(p, w, h, 2, la, w * 2));
    image_rgb img;
    cr_assert_eq(image_decode_file(p, &img), 0, "%s", vk_err_msg());
    for (int i = 0; i < w * h; i++)
        for (int c = 0; c < 3; c++)
            cr_assert_eq(img.rgb[3 * i + c], la[2 * i], "pixel %d channel %d", i, c);
    image_rgb_free(&img);
    remove(p);
    free(p);
    free(la);
    remove(dir);
    free(dir);
    free_fixture(&f);
}

/* A 1x1 GIF with two frames: frame 1 is palette entry 0 (255,128,0), frame 2 entry 1 (0,0,255).
 * Hand-assembled: LZW min code size 2, codes clear(4) 0|1 end(5) packed LSB first. */
Test(image_decode, gif_first_frame) {
    static const uint8_t gif[] = {
        'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0x80, 0, 0,  /* 1x1, global palette of 2 */
        255, 128, 0, 0, 0, 255,                                /* palette */
        0x21, 0xF9, 4, 0, 10, 0, 0, 0,                         /* graphic control, no transparency */
        0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0,                       /* image descriptor */
        2, 2, 0x44, 0x01, 0,                                   /* LZW: 100 000 101 -> index 0 */
        0x21, 0xF9, 4, 0, 10, 0, 0, 0,
        0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0,
        2, 2, 0x4C, 0x01, 0,                                   /* LZW: 100 001 101 -> index 1 */
        0x3B,
    };
    image_rgb img;
    cr_assert_eq(image_decode_memory(gif, sizeof gif, "anim.gif", &img), 0, "%s", vk_err_msg());
    cr_assert(img.width == 1 && img.height == 1);
    cr_expect(img.rgb[0] == 255 && img.rgb[1] == 128 && img.rgb[2] == 0, "got %d %d %d", img.rgb[0],
              img.rgb[1], img.rgb[2]);
    image_rgb_free(&img);
}

/* ---- bad input ---------------------------------------------------------------------------- */

static char *write_tmp(const char *name, const void *data, size_t len) {
    char *dir = test_tmpdir();
    char *p = vk_path_join(dir, name);
    free(dir);
    FILE *fp = fopen(p, "wb");
    cr_assert(fp);
    if (len) cr_assert_eq(fwrite(data, 1, len, fp), len);
    fclose(fp);
    return p;
}

static void expect_decode_error(const char *path, const char *frag) {
    image_rgb img = {.width = 7, .rgb = (uint8_t *)1};
    vk_err_clear();
    cr_expect_eq(image_decode_file(path, &img), -1, "%s was accepted", path);
    cr_expect_null(img.rgb, "nothing to free after an error");
    const char *msg = vk_err_msg();
    cr_expect(strstr(msg, path) != NULL, "message does not name the file: %s", msg);
    if (frag) cr_expect(strstr(msg, frag) != NULL, "message lacks '%s': %s", frag, msg);
    /* the full pipeline reports the same */
    image_preproc_config cfg = image_preproc_default();
    float *out = malloc(image_preproc_numel(&cfg) * sizeof *out);
    vk_err_clear();
    cr_expect_eq(image_preprocess_file(&cfg, path, out), -1);
    cr_expect(strstr(vk_err_msg(), path) != NULL, "%s", vk_err_msg());
    free(out);
}

static void remove_tmp(char *p) {
    remove(p);
    char *slash = strrchr(p, '/');
    *slash = 0;
    remove(p);
    free(p);
}

Test(image_errors, truncated_png_and_jpeg) {
    fixture f = load_fixture();
    for (int i = 0; i < f.n; i++) {
        size_t len;
        char *bytes = vk_read_file(img_path(&f, i), &len, 0);
        cr_assert_not_null(bytes);
        /* cut in the header, in the middle of the data, and just before the end marker */
        size_t cuts[] = {10, len / 2, is_jpeg(&f, i) ? len - 2 : len - 16};
        for (int k = 0; k < 3; k++) {
            char name[64];
            snprintf(name, sizeof name, "cut%d_%s", k, img_str(&f, i, "file"));
            char *p = write_tmp(name, bytes, cuts[k]);
            expect_decode_error(p, NULL);
            remove_tmp(p);
        }
        free(bytes);
    }
    free_fixture(&f);
}

Test(image_errors, empty_garbage_missing_directory) {
    char *p = write_tmp("empty.jpg", "", 0);
    expect_decode_error(p, "empty");
    remove_tmp(p);

    uint8_t junk[4096];
    uint32_t s = 12345;
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (uint8_t)((s = s * 1103515245u + 12345u) >> 24);
    p = write_tmp("junk.png", junk, sizeof junk);
    expect_decode_error(p, "not an image");
    remove_tmp(p);

    const char *text = "this is a text file, not a picture\n";
    p = write_tmp("notes.jpg", text, strlen(text));
    expect_decode_error(p, NULL);
    remove_tmp(p);

    expect_decode_error("/nonexistent/vlkit/cat.jpg", NULL);

    char *dir = test_tmpdir();
    expect_decode_error(dir, NULL);
    remove(dir);
    free(dir);
}

/* A PNG whose IHDR claims w x h (valid CRC) followed by nothing: refused from the header alone. */
static char *png_header_only(const char *name, uint32_t w, uint32_t h) {
    uint8_t b[33] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
    uint32_t v[2] = {w, h};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 4; i++) b[16 + 4 * k + i] = (uint8_t)(v[k] >> (24 - 8 * i));
    b[24] = 8;   /* bit depth */
    b[25] = 2;   /* colour type RGB */
    uLong crc = crc32(0, b + 12, 17);
    for (int i = 0; i < 4; i++) b[29 + i] = (uint8_t)(crc >> (24 - 8 * i));
    return write_tmp(name, b, sizeof b);
}

Test(image_errors, huge_and_zero_dimensions) {
    char *p = png_header_only("huge.png", 100000, 100000);
    expect_decode_error(p, "too large");
    remove_tmp(p);
    /* just over the limit, each side under stb's own 2^24 limit */
    p = png_header_only("over.png", 16385, 16384);
    expect_decode_error(p, "too large");
    remove_tmp(p);
    p = png_header_only("zero.png", 0, 10);
    expect_decode_error(p, "zero size");
    remove_tmp(p);

    /* a GIF and a BMP header claiming 65535 x 65535, and a BMP with a zero width */
    uint8_t gif[13] = {'G', 'I', 'F', '8', '9', 'a', 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0};
    p = write_tmp("huge.gif", gif, sizeof gif);
    expect_decode_error(p, "too large");
    remove_tmp(p);
    uint8_t bmp[54] = {'B', 'M'};
    bmp[14] = 40;   /* BITMAPINFOHEADER */
    bmp[18] = bmp[19] = bmp[22] = bmp[23] = 0xFF;
    bmp[26] = 1;    /* planes */
    bmp[28] = 24;   /* bits per pixel */
    p = write_tmp("huge.bmp", bmp, sizeof bmp);
    expect_decode_error(p, "too large");
    remove_tmp(p);
    bmp[18] = bmp[19] = 0;
    p = write_tmp("zero.bmp", bmp, sizeof bmp);
    expect_decode_error(p, "zero size");
    remove_tmp(p);
}

/* The fixture JPEG with its frame header (SOF) edited to claim 60000 x 60000. */
Test(image_errors, jpeg_with_huge_frame_header) {
    fixture f = load_fixture();
    int ji = -1;
    for (int i = 0; i < f.n; i++)
        if (is_jpeg(&f, i)) ji = i;
    size_t len;
    uint8_t *b = (uint8_t *)vk_read_file(img_path(&f, ji), &len, 0);
    cr_assert_not_null(b);
    size_t sof = 0;
    for (size_t i = 2; i + 9 < len; i++)
        if (b[i] == 0xFF && (b[i + 1] == 0xC0 || b[i + 1] == 0xC2)) { sof = i; break; }
    cr_assert(sof, "no SOF marker in %s", img_path(&f, ji));
    b[sof + 5] = b[sof + 7] = 0xEA;   /* 0xEA60 = 60000 */
    b[sof + 6] = b[sof + 8] = 0x60;
    char *p = write_tmp("huge.jpg", b, len);
    expect_decode_error(p, "too large");
    remove_tmp(p);
    free(b);
    free_fixture(&f);
}

/* ---- resize and normalisation ------------------------------------------------------------- */

Test(image_resize, pil_bicubic_bit_exact_on_pil_decoded_pixels) {
    fixture f = load_fixture();
    for (int i = 0; i < f.n; i++) {
        const vk_tensor_view *rgb = img_tensor(&f, i, "rgb_u8", VK_DTYPE_U8);
        const vk_tensor_view *ref = img_tensor(&f, i, "resized_pil_u8", VK_DTYPE_U8);
        int oh = (int)ref->shape[0], ow = (int)ref->shape[1];
        uint8_t *out = malloc(ref->nbytes);
        int rc = pil_resize_bicubic(rgb->data, (int)rgb->shape[1], (int)rgb->shape[0], 3, out, ow, oh);
        cr_assert_eq(rc, 0, "%s", vk_err_msg());
        size_t ndiff;
        int m = u8_maxdiff(out, ref->data, ref->nbytes, &ndiff);
        cr_expect_eq(m, 0, "%s: %zu values differ from PIL, max %d levels", img_str(&f, i, "file"), ndiff, m);
        free(out);
    }
    free_fixture(&f);
}

Test(image_resize, grey_resize_equals_rgb_resize_of_replicated_grey) {
    /* one channel gives the same bytes as the replicated three (PIL resizes mode L the same way) */
    fixture f = load_fixture();
    int gi = -1;
    for (int i = 0; i < f.n; i++)
        if (strcmp(img_str(&f, i, "mode"), "L") == 0) gi = i;
    cr_assert_geq(gi, 0);
    const vk_tensor_view *rgb = img_tensor(&f, gi, "rgb_u8", VK_DTYPE_U8);
    const vk_tensor_view *ref = img_tensor(&f, gi, "resized_pil_u8", VK_DTYPE_U8);
    int w = (int)rgb->shape[1], h = (int)rgb->shape[0], ow = (int)ref->shape[1], oh = (int)ref->shape[0];
    uint8_t *g = malloc((size_t)w * h), *out = malloc((size_t)ow * oh);
    for (int i = 0; i < w * h; i++) g[i] = ((const uint8_t *)rgb->data)[3 * i];
    cr_assert_eq(pil_resize_bicubic(g, w, h, 1, out, ow, oh), 0);
    for (int i = 0; i < ow * oh; i++) cr_assert_eq(out[i], ((const uint8_t *)ref->data)[3 * i]);
    free(g);
    free(out);
    free_fixture(&f);
}

Test(image_resize, bad_arguments) {
    uint8_t px[12] = {0}, out[12];
    cr_expect_eq(pil_resize_bicubic(px, 0, 2, 3, out, 2, 2), -1);
    cr_expect_eq(pil_resize_bicubic(px, 2, 2, 5, out, 2, 2), -1);
    cr_expect_eq(pil_resize_bicubic(px, 2, 2, 3, out, -1, 2), -1);
}

static void expect_pixel_values(const fixture *f, int i, const float *got, const vk_tensor_view *ref,
                                double tol, const char *what) {
    cr_assert_eq(ref->dtype, VK_DTYPE_F32);
    size_t n = ref->nbytes / 4;
    const float *r = ref->data;
    double m = 0;
    size_t nexact = 0;
    for (size_t k = 0; k < n; k++) {
        double d = fabs((double)got[k] - r[k]);
        if (d > m) m = d;
        if (got[k] == r[k]) nexact++;
    }
    cr_expect_leq(m, tol, "%s %s: max |diff| %g > %g", img_str(f, i, "file"), what, m, tol);
    cr_log_info("%s %s: max |diff| %g, %zu/%zu bit-identical", img_str(f, i, "file"), what, m, nexact, n);
}

static double atol_of(const fixture *f, const char *file, const char *what) {
    char name[256];
    const char *dot = strrchr(file, '.');
    snprintf(name, sizeof name, "%.*s.%s", (int)(dot - file), file, what);
    const cJSON *t = cJSON_GetObjectItem(cJSON_GetObjectItem(f->json, "tensors"), name);
    const cJSON *a = cJSON_GetObjectItem(t, "atol");
    cr_assert(cJSON_IsNumber(a), "expected.json: %s has no atol", name);
    return a->valuedouble;
}

Test(image_preprocess, pixel_values_from_pil_decoded_pixels) {
    fixture f = load_fixture();
    image_preproc_config cfg = fixture_config();
    float *out = malloc(image_preproc_numel(&cfg) * sizeof *out);
    for (int i = 0; i < f.n; i++) {
        const vk_tensor_view *rgb = img_tensor(&f, i, "rgb_u8", VK_DTYPE_U8);
        const vk_tensor_view *pv = img_tensor(&f, i, "pixel_values", VK_DTYPE_F32);
        cr_assert_eq(pv->nbytes, image_preproc_numel(&cfg) * sizeof(float));
        int rc = image_preprocess_rgb(&cfg, rgb->data, (int)rgb->shape[1], (int)rgb->shape[0], out);
        cr_assert_eq(rc, 0, "%s", vk_err_msg());
        expect_pixel_values(&f, i, out, pv, atol_of(&f, img_str(&f, i, "file"), "pixel_values"),
                            "from rgb_u8");
        /* the normalisation alone, on the stored resized bytes and on the plain-resize bytes */
        const vk_tensor_view *rs = img_tensor(&f, i, "resized_pil_u8", VK_DTYPE_U8);
        image_preprocess_normalize(&cfg, rs->data, out);
        cr_expect_eq(memcmp(out, pv->data, pv->nbytes), 0, "%s: normalisation not bit-exact", img_str(&f, i, "file"));
        const vk_tensor_view *pl = img_tensor(&f, i, "resized_plain_u8", VK_DTYPE_U8);
        const vk_tensor_view *pvl = img_tensor(&f, i, "pixel_values_plain", VK_DTYPE_F32);
        image_preprocess_normalize(&cfg, pl->data, out);
        expect_pixel_values(&f, i, out, pvl, atol_of(&f, img_str(&f, i, "file"), "pixel_values_plain"),
                            "plain");
    }
    free(out);
    free_fixture(&f);
}

Test(image_preprocess, end_to_end_from_files) {
    fixture f = load_fixture();
    image_preproc_config cfg = fixture_config();
    size_t per = image_preproc_numel(&cfg);
    float *batch = malloc((size_t)f.n * per * sizeof *batch);   /* NCHW, one slot per image */
    for (int i = 0; i < f.n; i++) {
        int rc = image_preprocess_file(&cfg, img_path(&f, i), batch + (size_t)i * per);
        cr_assert_eq(rc, 0, "%s", vk_err_msg());
    }
    float min_std = fminf(cfg.std[0], fminf(cfg.std[1], cfg.std[2]));
    for (int i = 0; i < f.n; i++) {
        const vk_tensor_view *pv = img_tensor(&f, i, "pixel_values", VK_DTYPE_F32);
        double tol = is_jpeg(&f, i) ? JPEG_E2E_TOL / 255.0 / min_std + 1e-6
                                    : atol_of(&f, img_str(&f, i, "file"), "pixel_values");
        expect_pixel_values(&f, i, batch + (size_t)i * per, pv, tol, "end to end");
        if (!is_jpeg(&f, i))
            cr_expect_eq(memcmp(batch + (size_t)i * per, pv->data, pv->nbytes), 0,
                         "%s: PNG end to end should be bit-exact", img_str(&f, i, "file"));
    }
    /* from memory: identical to the file path */
    size_t len;
    char *bytes = vk_read_file(img_path(&f, 1), &len, 0);
    float *one = malloc(per * sizeof *one);
    cr_assert_eq(image_preprocess_memory(&cfg, bytes, len, "img1", one), 0, "%s", vk_err_msg());
    cr_expect_eq(memcmp(one, batch + per, per * sizeof *one), 0);
    free(one);
    free(bytes);
    free(batch);
    free_fixture(&f);
}

Test(image_preprocess, no_resize_flag_and_wrong_size) {
    fixture f = load_fixture();
    image_preproc_config cfg = fixture_config();
    cfg.do_resize = 0;
    float *out = malloc(image_preproc_numel(&cfg) * sizeof *out);
    /* the exact-size image still works (the fixture's img4 is S x S) */
    int exact = -1, other = -1;
    for (int i = 0; i < f.n; i++) {
        const vk_tensor_view *rgb = img_tensor(&f, i, "rgb_u8", VK_DTYPE_U8);
        if (rgb->shape[0] == cfg.height && rgb->shape[1] == cfg.width) exact = i;
        else other = i;
    }
    cr_assert(exact >= 0 && other >= 0);
    cr_expect_eq(image_preprocess_file(&cfg, img_path(&f, exact), out), 0, "%s", vk_err_msg());
    const vk_tensor_view *pv = img_tensor(&f, exact, "pixel_values", VK_DTYPE_F32);
    cr_expect_eq(memcmp(out, pv->data, pv->nbytes), 0);
    vk_err_clear();
    cr_expect_eq(image_preprocess_file(&cfg, img_path(&f, other), out), -1);
    cr_expect(strstr(vk_err_msg(), img_path(&f, other)) != NULL, "%s", vk_err_msg());
    cr_expect(strstr(vk_err_msg(), "do_resize") != NULL, "%s", vk_err_msg());
    /* rescale / normalise switched off: raw levels as float */
    cfg.do_resize = 1;
    cfg.do_rescale = 0;
    cfg.do_normalize = 0;
    const vk_tensor_view *rs = img_tensor(&f, 0, "resized_pil_u8", VK_DTYPE_U8);
    image_preprocess_normalize(&cfg, rs->data, out);
    const uint8_t *b = rs->data;
    size_t hw = (size_t)cfg.height * cfg.width;
    for (size_t k = 0; k < hw; k++)
        for (int c = 0; c < 3; c++) cr_assert_eq(out[c * hw + k], (float)b[3 * k + c]);
    free(out);
    free_fixture(&f);
}

Test(image_errors, jpeg_huffman_table_with_too_many_codes) {
    /* Found by fuzz_image: a DHT table declaring more than 256 codes made Debian's stb_image
     * v2.27 write past its Huffman table. Such a file is refused before stb sees it. */
    size_t len;
    char *bytes = vk_read_file(fixture_path("blip-tiny/preprocess/images/img5_small_q95_444.jpg"), &len, 0);
    cr_assert_not_null(bytes, "%s", vk_err_msg());
    uint8_t *b = (uint8_t *)bytes;
    size_t i = 2;
    while (i + 4 < len && !(b[i] == 0xFF && b[i + 1] == 0xC4)) i++;
    cr_assert(i + 21 < len, "the fixture has a DHT segment");
    memset(b + i + 5, 0x20, 16); /* 16 lengths x 32 codes = 512 */
    image_rgb img;
    cr_expect_eq(image_decode_memory(b, len, "bad-dht.jpg", &img), -1);
    cr_expect(strstr(vk_err_msg(), "bad-dht.jpg") && strstr(vk_err_msg(), "DHT"), "%s", vk_err_msg());
    int w, h;
    cr_expect_eq(image_probe_memory(b, len, "bad-dht.jpg", &w, &h), -1);
    /* stb also takes fill bytes before SOI (FF FF D8): the check must too */
    uint8_t *c = malloc(len + 1);
    c[0] = 0xFF;
    memcpy(c + 1, b, len);
    cr_expect_eq(image_decode_memory(c, len + 1, "bad-dht2.jpg", &img), -1);
    cr_expect(strstr(vk_err_msg(), "DHT"), "%s", vk_err_msg());
    free(c);
    free(bytes);
}

Test(image_errors, png_header_with_huge_sides) {
    /* Found by fuzz_image: width x height of two near-2^32 PNG sides overflowed a long long. */
    uint8_t png[33] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                       0xFB, 0xFF, 0xFF, 0xDF, 0xFF, 0xFF, 0xFF, 0xDF, 8, 2, 0, 0, 0};
    int w, h;
    cr_expect_eq(image_probe_memory(png, sizeof png, "huge.png", &w, &h), -1);
    cr_expect(strstr(vk_err_msg(), "too large") != NULL, "%s", vk_err_msg());
}
