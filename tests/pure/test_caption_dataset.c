/* test_caption_dataset.c — caption datasets in every format, path rules, bad-record policy.
 *
 * Each test builds its datasets in a fresh temporary folder: imgs/img_10{1,2,3}.* are symlinks to
 * fixture images (blip-tiny/preprocess/images), so the "image exists" check sees real files and
 * the ids 101..103 can be derived from the names. The same three images and six captions are
 * written as JSONL (one caption per line, and one image per line), HF imagefolder
 * metadata.jsonl, BLIP's list, COCO captions and a Karpathy split file, each also gzipped; every
 * one must load to exactly the same records and examples. */
#include "data/caption_dataset.h"
#include "tests/common/fixtures.h"
#include "util/error.h"
#include "util/fileio.h"

#include <criterion/criterion.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define IMG "blip-tiny/preprocess/images/"

/* ---- helpers -------------------------------------------------------------------------------- */

static char *tmp;

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *f) {
    (void)st, (void)flag, (void)f;
    return remove(p);
}

static void setup(void) { tmp = test_tmpdir(); }
static void teardown(void) {
    nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(tmp);
}

/* tmp/rel (static rotating buffer, 8 slots) */
static const char *in_tmp(const char *rel) {
    static char bufs[8][PATH_MAX];
    static int slot;
    char *b = bufs[slot++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", tmp, rel);
    return b;
}

static const char *write_text(const char *rel, const char *text) {
    const char *p = in_tmp(rel);
    FILE *f = fopen(p, "wb");
    cr_assert_not_null(f, "cannot write %s", p);
    fwrite(text, 1, strlen(text), f);
    fclose(f);
    return p;
}

static const char *write_gz(const char *rel, const char *text) {
    const char *p = in_tmp(rel);
    gzFile g = gzopen(p, "wb");
    cr_assert_not_null(g);
    cr_assert_eq(gzwrite(g, text, (unsigned)strlen(text)), (int)strlen(text));
    gzclose(g);
    return p;
}

static void make_dir(const char *rel) { cr_assert_eq(mkdir(in_tmp(rel), 0755), 0, "mkdir %s", rel); }

/* An absolute path to a fixture image (VLKIT_FIXTURES may be relative). */
static const char *fixture_abs(const char *name) {
    static char bufs[4][PATH_MAX];
    static int slot;
    char *b = bufs[slot++ % 4];
    cr_assert_not_null(realpath(fixture_path(name), b), "fixture %s missing", name);
    return b;
}

static void link_images(const char *dir) {
    char rel[256];
    snprintf(rel, sizeof rel, "%s", dir);
    make_dir(rel);
    static const char *const src[] = {"img0_landscape_rgb.png", "img1_portrait_rgb_q90_420.jpg", "img2_gray.png",
                                      "img3_rgba.png"};
    static const char *const dst[] = {"img_101.png", "img_102.jpg", "img_103.png", "img_104.png"};
    for (int i = 0; i < 4; i++) {
        char name[256], fx[300];
        snprintf(name, sizeof name, "%s/%s", dir, dst[i]);
        snprintf(fx, sizeof fx, IMG "%s", src[i]);
        cr_assert_eq(symlink(fixture_abs(fx), in_tmp(name)), 0);
    }
}

static caption_dataset *load_ok(const char *path, const caption_dataset_opts *o) {
    caption_dataset *ds = caption_dataset_load(path, o);
    cr_assert_not_null(ds, "load %s: %s", path, vk_err_msg());
    return ds;
}

static void load_fails(const char *path, const caption_dataset_opts *o, const char *want1, const char *want2) {
    caption_dataset *ds = caption_dataset_load(path, o);
    cr_assert_null(ds, "%s should not load", path);
    cr_assert(strstr(vk_err_msg(), want1), "error \"%s\" lacks \"%s\"", vk_err_msg(), want1);
    if (want2) cr_assert(strstr(vk_err_msg(), want2), "error \"%s\" lacks \"%s\"", vk_err_msg(), want2);
}

/* warnings[i] == "<path><rest>" */
static void expect_warning(const caption_dataset *ds, int i, const char *path, const char *rest) {
    cr_assert_lt(i, ds->n_warnings, "no warning %d (have %d)", i, ds->n_warnings);
    char want[PATH_MAX + 512];
    snprintf(want, sizeof want, "%s%s", path, rest);
    cr_expect_eq(strncmp(ds->warnings[i], want, strlen(want)), 0, "warning %d: \"%s\", expected it to start \"%s\"",
                 i, ds->warnings[i], want);
}

/* ---- the canonical dataset ------------------------------------------------------------------ */

static const char *const CAPS101[] = {"a red square on a table", "a table with a red square"};
static const char *const CAPS102[] = {"a man standing on the street"};
static const char *const CAPS103[] = {"two cats on a couch", "a gray picture", "three dogs"};

static const char JSONL_LINES[] =
    "{\"image\": \"imgs/img_101.png\", \"caption\": \"a red square on a table\"}\n"
    "{\"image\": \"imgs/img_102.jpg\", \"caption\": \"a man standing on the street\"}\n"
    "\n"
    "{\"image\": \"imgs/img_101.png\", \"caption\": \"a table with a red square\"}\r\n"
    "{\"image\": \"imgs/img_103.png\", \"captions\": [\"two cats on a couch\", \"a gray picture\"]}\n"
    "{\"image\": \"imgs/img_103.png\", \"caption\": \"three dogs\"}";   /* no final newline */

static const char JSONL_LISTS[] =
    "\xEF\xBB\xBF"   /* a byte-order mark, as Windows tools write */
    "{\"image\": \"imgs/img_101.png\", \"captions\": [\"a red square on a table\", \"a table with a red square\"], "
    "\"image_id\": 101}\n"
    "{\"file_name\": \"imgs/img_102.jpg\", \"caption\": [\"a man standing on the street\"], \"image_id\": \"102\"}\n"
    "{\"image\": {\"path\": \"imgs/img_103.png\"}, \"text\": [\"two cats on a couch\", \"a gray picture\", "
    "\"three dogs\"]}\n";

static const char IMAGEFOLDER[] =
    "{\"file_name\": \"imgs/img_101.png\", \"text\": \"a red square on a table\"}\n"
    "{\"file_name\": \"imgs/img_101.png\", \"text\": \"a table with a red square\"}\n"
    "{\"file_name\": \"imgs/img_102.jpg\", \"text\": \"a man standing on the street\"}\n"
    "{\"file_name\": \"imgs/img_103.png\", \"text\": \"two cats on a couch\"}\n"
    "{\"file_name\": \"imgs/img_103.png\", \"text\": \"a gray picture\"}\n"
    "{\"file_name\": \"imgs/img_103.png\", \"text\": \"three dogs\"}\n";

static const char BLIP[] =
    "[{\"image\": \"imgs/img_101.png\", \"caption\": [\"a red square on a table\", \"a table with a red square\"]},\n"
    " {\"image\": \"imgs/img_102.jpg\", \"caption\": \"a man standing on the street\", \"image_id\": \"coco_102\"},\n"
    " {\"image\": \"imgs/img_103.png\", \"caption\": \"two cats on a couch\", \"image_id\": \"coco_103\"},\n"
    " {\"image\": \"imgs/img_103.png\", \"caption\": [\"a gray picture\", \"three dogs\"]}]\n";

static const char COCO[] =
    "{\"info\": {}, \"images\": [{\"id\": 101, \"file_name\": \"imgs/img_101.png\", \"width\": 64},\n"
    "  {\"id\": 102, \"file_name\": \"imgs/img_102.jpg\"}, {\"id\": 103, \"file_name\": \"imgs/img_103.png\"}],\n"
    " \"annotations\": [{\"id\": 1, \"image_id\": 103, \"caption\": \"two cats on a couch\"},\n"
    "  {\"id\": 2, \"image_id\": 101, \"caption\": \"a red square on a table\"},\n"
    "  {\"id\": 3, \"image_id\": 102, \"caption\": \"a man standing on the street\"},\n"
    "  {\"id\": 4, \"image_id\": 103, \"caption\": \"a gray picture\"},\n"
    "  {\"id\": 5, \"image_id\": 101, \"caption\": \"a table with a red square\"},\n"
    "  {\"id\": 6, \"image_id\": 103, \"caption\": \"three dogs\"}]}\n";

static const char KARPATHY[] =
    "{\"dataset\": \"coco\", \"images\": [\n"
    " {\"filepath\": \"imgs\", \"filename\": \"img_101.png\", \"split\": \"train\", \"imgid\": 0, \"cocoid\": 101,\n"
    "  \"sentences\": [{\"raw\": \"a red square on a table\", \"tokens\": []}, {\"raw\": \"a table with a red square\"}]},\n"
    " {\"filepath\": \"imgs\", \"filename\": \"img_104.png\", \"split\": \"test\", \"cocoid\": 104,\n"
    "  \"sentences\": [{\"raw\": \"not selected\"}]},\n"
    " {\"filepath\": \"imgs\", \"filename\": \"img_102.jpg\", \"split\": \"restval\", \"cocoid\": 102,\n"
    "  \"sentences\": [{\"raw\": \"a man standing on the street\"}]},\n"
    " {\"filepath\": \"imgs\", \"filename\": \"img_103.png\", \"split\": \"train\", \"cocoid\": 103,\n"
    "  \"sentences\": [{\"raw\": \"two cats on a couch\"}, {\"raw\": \"a gray picture\"}, {\"raw\": \"three dogs\"}]}]}\n";

static void expect_canonical(const caption_dataset *ds, const char *what) {
    cr_assert_eq(ds->n_records, 3, "%s: %lld records", what, (long long)ds->n_records);
    cr_expect_eq(ds->n_bad, 0, "%s: %lld bad (%s)", what, (long long)ds->n_bad,
                 ds->n_warnings ? ds->warnings[0] : "");
    static const char *const files[] = {"imgs/img_101.png", "imgs/img_102.jpg", "imgs/img_103.png"};
    const char *const *caps[] = {CAPS101, CAPS102, CAPS103};
    int ncaps[] = {2, 1, 3};
    for (int r = 0; r < 3; r++) {
        const caption_record *rec = &ds->records[r];
        cr_expect_str_eq(rec->image, in_tmp(files[r]), "%s: record %d image", what, r);
        cr_expect_eq(rec->image_id, 101 + r, "%s: record %d image_id %lld", what, r, (long long)rec->image_id);
        cr_expect_str_eq(rec->source, ds->path, "%s", what);
        cr_assert_eq(rec->n_captions, ncaps[r], "%s: record %d has %d captions", what, r, rec->n_captions);
        for (int c = 0; c < ncaps[r]; c++)
            cr_expect_str_eq(rec->captions[c], caps[r][c], "%s: record %d caption %d", what, r, c);
    }
    static const caption_example ex[] = {{0, 0}, {0, 1}, {1, 0}, {2, 0}, {2, 1}, {2, 2}};
    cr_assert_eq(ds->n_examples, 6, "%s: %lld examples", what, (long long)ds->n_examples);
    for (int i = 0; i < 6; i++) {
        cr_expect_eq(ds->examples[i].record, ex[i].record, "%s: example %d", what, i);
        cr_expect_eq(ds->examples[i].caption, ex[i].caption, "%s: example %d", what, i);
    }
}

TestSuite(caption_dataset, .init = setup, .fini = teardown);

Test(caption_dataset, every_format_and_gzip_gives_the_same_records) {
    link_images("imgs");
    struct {
        const char *name, *text;
        caption_format fmt;
        const char *split;
    } cases[] = {
        {"lines.jsonl", JSONL_LINES, CAPTION_FORMAT_JSONL, NULL},
        {"lists.json", JSONL_LISTS, CAPTION_FORMAT_JSONL, NULL},   /* content, not the suffix, decides */
        {"metadata.jsonl", IMAGEFOLDER, CAPTION_FORMAT_JSONL, NULL},
        {"blip_train.json", BLIP, CAPTION_FORMAT_BLIP, NULL},
        {"captions_train.json", COCO, CAPTION_FORMAT_COCO, NULL},
        {"dataset_coco.json", KARPATHY, CAPTION_FORMAT_KARPATHY, "train, restval"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        caption_dataset_opts o = caption_dataset_default_opts();
        o.split = cases[i].split;
        char gzname[128], plain_gz[128];
        snprintf(gzname, sizeof gzname, "%s.gz", cases[i].name);
        snprintf(plain_gz, sizeof plain_gz, "gz_without_suffix_%zu", i);
        char *paths[3] = {strdup(write_text(cases[i].name, cases[i].text)), strdup(write_gz(gzname, cases[i].text)),
                          strdup(write_gz(plain_gz, cases[i].text))};
        for (int k = 0; k < 3; k++) {
            o.format = CAPTION_FORMAT_AUTO;
            caption_dataset *ds = load_ok(paths[k], &o);
            expect_canonical(ds, paths[k]);
            cr_expect_eq(ds->format, cases[i].fmt, "%s detected as %s", paths[k], caption_format_name(ds->format));
            cr_expect_str_eq(ds->path, paths[k]);
            caption_dataset_free(ds);
            o.format = cases[i].fmt;   /* forced: the same */
            ds = load_ok(paths[k], &o);
            expect_canonical(ds, paths[k]);
            caption_dataset_free(ds);
        }
        for (int k = 0; k < 3; k++) free(paths[k]);
    }
    /* "karpathy" and "blip" are one family: BLIP's Karpathy-split lists read when forced either way */
    for (int f = 0; f < 2; f++) {
        caption_dataset_opts o = caption_dataset_default_opts();
        o.format = f ? CAPTION_FORMAT_BLIP : CAPTION_FORMAT_KARPATHY;
        o.split = f ? "train,restval" : NULL;
        caption_dataset *ds = load_ok(in_tmp(f ? "dataset_coco.json" : "blip_train.json"), &o);
        expect_canonical(ds, f ? "karpathy forced as blip" : "blip forced as karpathy");
        cr_expect_eq(ds->format, f ? CAPTION_FORMAT_KARPATHY : CAPTION_FORMAT_BLIP);
        caption_dataset_free(ds);
    }
    /* imagefolder: the folder itself, forced or detected */
    make_dir("hf");
    cr_assert_eq(symlink(in_tmp("imgs"), in_tmp("hf/imgs")), 0);
    write_gz("hf/metadata.jsonl.gz", IMAGEFOLDER);
    caption_dataset *ds = caption_dataset_load(in_tmp("hf"), NULL);
    cr_assert_not_null(ds, "%s", vk_err_msg());
    cr_expect_eq(ds->format, CAPTION_FORMAT_IMAGEFOLDER);
    cr_expect_str_eq(ds->path, in_tmp("hf/metadata.jsonl.gz"));
    cr_assert_eq(ds->n_records, 3);
    cr_expect_str_eq(ds->records[2].image, in_tmp("hf/imgs/img_103.png"));
    cr_expect_eq(ds->n_examples, 6);
    caption_dataset_free(ds);
}

Test(caption_dataset, karpathy_split_selection) {
    link_images("imgs");
    const char *p = write_text("dataset_coco.json", KARPATHY);
    caption_dataset_opts o = caption_dataset_default_opts();
    caption_dataset *ds = load_ok(p, &o);   /* no split: all four images, file order */
    cr_assert_eq(ds->n_records, 4);
    cr_expect_eq(ds->records[1].image_id, 104);
    cr_expect_str_eq(ds->records[1].captions[0], "not selected");
    caption_dataset_free(ds);
    o.split = "test";
    ds = load_ok(p, &o);
    cr_assert_eq(ds->n_records, 1);
    cr_expect_str_eq(ds->records[0].image, in_tmp("imgs/img_104.png"));
    cr_expect_eq(ds->records[0].index, 1);   /* images[1] in the file */
    char where[PATH_MAX + 64];
    caption_dataset_where(ds, 0, where, sizeof where);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "%s: images[1]", p);
    cr_expect_str_eq(where, want);
    caption_dataset_free(ds);
    o.split = "val";
    load_fails(p, &o, "no images in split \"val\"", "(the file has: train, test, restval)");
    /* a split makes no sense elsewhere */
    p = write_text("coco.json", COCO);
    o.split = "train";
    load_fails(p, &o, "can only be chosen in a Karpathy split file", "coco");
}

Test(caption_dataset, image_paths_relative_absolute_and_image_root) {
    link_images("imgs");
    make_dir("meta");
    make_dir("meta/sub");
    const char *abs = fixture_abs(IMG "img3_rgba.png");
    char text[PATH_MAX * 2];
    snprintf(text, sizeof text,
             "{\"image\": \"../../imgs/img_101.png\", \"caption\": \"relative to the file\"}\n"
             "{\"image\": \"%s\", \"caption\": \"absolute\"}\n",
             abs);
    /* relative paths start at the dataset file's folder, absolute ones are kept */
    const char *p = write_text("meta/sub/d.jsonl", text);
    caption_dataset *ds = load_ok(p, NULL);
    cr_assert_eq(ds->n_records, 2);
    cr_expect_str_eq(ds->records[0].image, in_tmp("meta/sub/../../imgs/img_101.png"));
    cr_expect_str_eq(ds->records[1].image, abs);
    cr_expect_eq(ds->records[1].image_id, 1, "no digits in img3_rgba: the record index");
    caption_dataset_free(ds);

    /* image_root replaces the file's folder for relative paths; absolute ones stay */
    snprintf(text, sizeof text,
             "{\"image\": \"imgs/img_102.jpg\", \"caption\": \"relative to image_root\"}\n"
             "{\"image\": \"%s\", \"caption\": \"absolute\"}\n",
             abs);
    p = write_text("meta/d2.jsonl", text);
    caption_dataset_opts o = caption_dataset_default_opts();
    o.image_root = tmp;
    ds = load_ok(p, &o);
    cr_assert_eq(ds->n_records, 2);
    cr_expect_str_eq(ds->records[0].image, in_tmp("imgs/img_102.jpg"));
    cr_expect_str_eq(ds->records[1].image, abs);
    caption_dataset_free(ds);
    /* without image_root the first image is looked for beside the file: a bad record */
    ds = load_ok(p, NULL);
    cr_expect_eq(ds->n_records, 1);
    cr_expect_eq(ds->n_bad, 1);
    expect_warning(ds, 0, p, ":1: image ");
    cr_expect(strstr(ds->warnings[0], "meta/imgs/img_102.jpg: No such file or directory"), "%s", ds->warnings[0]);
    caption_dataset_free(ds);
    /* check_images = 0 trusts the paths (e.g. images still being downloaded) */
    o = caption_dataset_default_opts();
    o.check_images = 0;
    ds = load_ok(p, &o);
    cr_expect_eq(ds->n_records, 2);
    cr_expect_str_eq(ds->records[0].image, in_tmp("meta/imgs/img_102.jpg"));
    caption_dataset_free(ds);

    /* COCO's file_name and Karpathy's filepath/filename follow the same rule */
    p = write_text("meta/coco.json", COCO);
    o = caption_dataset_default_opts();
    o.image_root = tmp;
    ds = load_ok(p, &o);
    expect_canonical(ds, p);
    caption_dataset_free(ds);
}

Test(caption_dataset, image_ids) {
    cr_expect_eq(caption_image_id_from_path("val2014/COCO_val2014_000000391895.jpg"), 391895);
    cr_expect_eq(caption_image_id_from_path("flickr/1000092795.jpg"), 1000092795);
    cr_expect_eq(caption_image_id_from_path("a_1/b_2/x_12.png"), 12);
    cr_expect_eq(caption_image_id_from_path("7"), 7);
    cr_expect_eq(caption_image_id_from_path("cat.jpg"), -1);
    cr_expect_eq(caption_image_id_from_path("x_.jpg"), -1);
    cr_expect_eq(caption_image_id_from_path("dir_7/file.png"), -1);
    cr_expect_eq(caption_image_id_from_path("x_12a.jpg"), -1);
    cr_expect_eq(caption_image_id_from_path("x_1234567890123456789.jpg"), -1, "19 digits may overflow");
    cr_expect_eq(caption_image_id_from_path(""), -1);

    /* from the file: a number, BLIP's "coco_N" string; else the name; else the record index */
    const char text[] = "{\"image\": \"a_5.jpg\", \"caption\": \"x\", \"image_id\": 9}\n"
                        "{\"image\": \"b_6.jpg\", \"caption\": \"x\", \"image_id\": \"coco_77\"}\n"
                        "{\"image\": \"c_7.jpg\", \"caption\": \"x\", \"image_id\": \"abc\"}\n"
                        "{\"image\": \"d.jpg\", \"caption\": \"x\"}\n";
    caption_dataset_opts o = caption_dataset_default_opts();
    o.check_images = 0;
    caption_dataset *ds = caption_dataset_load_memory(text, strlen(text), "ids.jsonl", NULL, &o);
    cr_assert_not_null(ds, "%s", vk_err_msg());
    cr_assert_eq(ds->n_records, 4);
    int64_t want[] = {9, 77, 7, 3};
    for (int i = 0; i < 4; i++) cr_expect_eq(ds->records[i].image_id, want[i], "record %d", i);
    cr_expect_str_eq(ds->records[3].image, "d.jpg", "no folder given: the path as written");
    caption_dataset_free(ds);
}

/* A JSONL file with every kind of bad line, between good ones. */
static const char BAD_JSONL[] =
    "{\"image\": \"imgs/img_101.png\", \"caption\": \"good one\"}\n"                     /* 1 */
    "{\"image\": \"imgs/img_102.jpg\", \"caption\": \"unterminated\n"                    /* 2 */
    "{\"image\": \"imgs/missing.png\", \"caption\": \"x\"}\n"                             /* 3 */
    "{\"image\": \"imgs/img_103.png\", \"caption\": \"   \"}\n"                           /* 4 */
    "{\"image\": \"imgs/img_103.png\", \"caption\": 5}\n"                                 /* 5 */
    "{\"image\": 7, \"caption\": \"x\"}\n"                                                /* 6 */
    "{\"caption\": \"x\"}\n"                                                              /* 7 */
    "{\"image\": \"imgs/img_103.png\"}\n"                                                 /* 8 */
    "[1, 2]\n"                                                                            /* 9 */
    "{\"image\": \"imgs/img_103.png\", \"captions\": [\"ok\", 3]}\n"                      /* 10 */
    "{\"image\": \"imgs/img_103.png\", \"caption\": \"ok\"} trailing\n"                   /* 11 */
    "   \t\n"                                                                             /* 12 */
    "{\"image\": \"imgs/img_103.png\", \"caption\": \"\xff\xfe\"}\n"                      /* 13 */
    "{\"image\": \"imgs/img_103.png\", \"caption\": \"x\", \"image_id\": 1.5}\n"          /* 14 */
    "{\"image\": \"imgs/img_103.png\", \"captions\": []}\n"                               /* 15 */
    "{\"image\": \"imgs/img_103.png\", \"caption\": \"fine\", \"image_id\": \"abc\"}\n"   /* 16 */
    "{\"image\": \"imgs\", \"caption\": \"a folder\"}\n";                                 /* 17 */

Test(caption_dataset, bad_jsonl_records_reported_with_line_and_skipped) {
    link_images("imgs");
    const char *p = write_text("bad.jsonl", BAD_JSONL);
    caption_dataset *ds = load_ok(p, NULL);
    cr_assert_eq(ds->n_records, 2);
    cr_expect_str_eq(ds->records[0].captions[0], "good one");
    cr_expect_eq(ds->records[0].line, 1);
    cr_expect_eq(ds->records[1].line, 16);
    cr_expect_eq(ds->records[1].image_id, 103);
    cr_expect_eq(ds->n_examples, 2);
    cr_assert_eq(ds->n_bad, 14, "%lld bad", (long long)ds->n_bad);
    cr_assert_eq(ds->n_warnings, 14);
    int w = 0;
    expect_warning(ds, w++, p, ":2: not valid JSON (column ");
    expect_warning(ds, w++, p, ":3: image ");
    cr_expect(strstr(ds->warnings[1], "imgs/missing.png: No such file or directory"), "%s", ds->warnings[1]);
    expect_warning(ds, w++, p, ":4: \"caption\" is empty");
    expect_warning(ds, w++, p, ":5: \"caption\" must be a string or a list of strings");
    expect_warning(ds, w++, p, ":6: \"image\" must be a string (the image path)");
    expect_warning(ds, w++, p, ":7: no \"image\" (or \"file_name\")");
    expect_warning(ds, w++, p, ":8: no \"caption\" (or \"captions\", \"text\")");
    expect_warning(ds, w++, p, ":9: expected a JSON object");
    expect_warning(ds, w++, p, ":10: \"captions\"[1] must be a string");
    expect_warning(ds, w++, p, ":11: unexpected text after the JSON value (column 48)");
    expect_warning(ds, w++, p, ":13: \"caption\" is not valid UTF-8");
    expect_warning(ds, w++, p, ":14: \"image_id\" must be a non-negative integer");
    expect_warning(ds, w++, p, ":15: \"captions\" is an empty list");
    expect_warning(ds, w++, p, ":17: image ");
    cr_expect(strstr(ds->warnings[13], "not a regular file"), "%s", ds->warnings[13]);
    caption_dataset_free(ds);

    /* on_error = fail: the first bad record is the error */
    caption_dataset_opts o = caption_dataset_default_opts();
    o.on_error = CAPTION_ON_ERROR_FAIL;
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "%s:2: not valid JSON", p);
    load_fails(p, &o, want, NULL);
    cr_expect_eq(strncmp(vk_err_msg(), want, strlen(want)), 0, "%s", vk_err_msg());

    /* skip, up to max_bad: 14 bad records pass max_bad 14 and fail max_bad 13 at the 14th */
    o = caption_dataset_default_opts();
    o.max_bad = 14;
    ds = load_ok(p, &o);
    cr_expect_eq(ds->n_bad, 14);
    caption_dataset_free(ds);
    o.max_bad = 13;
    snprintf(want, sizeof want, "%s:17: image ", p);
    load_fails(p, &o, "more than max_bad = 13 bad records; the last: ", want);
    o.max_bad = 0;
    snprintf(want, sizeof want, "%s:2: not valid JSON", p);
    load_fails(p, &o, "more than max_bad = 0", want);
}

Test(caption_dataset, bad_coco_records_reported_with_index) {
    link_images("imgs");
    const char *p = write_text(
        "coco.json",
        "{\"images\": [{\"id\": 101, \"file_name\": \"imgs/img_101.png\"},\n"
        "  {\"id\": \"x\", \"file_name\": \"imgs/img_102.jpg\"},\n"
        "  {\"id\": 101, \"file_name\": \"imgs/img_102.jpg\"},\n"
        "  {\"id\": 102, \"file_name\": \"imgs/img_102.jpg\"},\n"
        "  {\"id\": 103, \"file_name\": \"imgs/missing.png\"},\n"
        "  {\"id\": 104, \"file_name\": [\"imgs/img_104.png\"]}, 17],\n"
        " \"annotations\": [{\"image_id\": 101, \"caption\": \"ok\"}, {\"image_id\": 999, \"caption\": \"x\"},\n"
        "  {\"image_id\": 101, \"caption\": \"\"}, {\"image_id\": 101}, {\"image_id\": 103, \"caption\": \"y\"},\n"
        "  {\"image_id\": -4, \"caption\": \"y\"}, \"not an object\"]}\n");
    caption_dataset *ds = load_ok(p, NULL);
    cr_assert_eq(ds->n_records, 1);
    cr_expect_eq(ds->records[0].image_id, 101);
    cr_expect_eq(ds->records[0].n_captions, 1);
    cr_expect_str_eq(ds->records[0].captions[0], "ok");
    cr_expect_eq(ds->records[0].index, 0);
    cr_expect_eq(ds->records[0].line, 0);
    int w = 0;
    expect_warning(ds, w++, p, ": images[1]: \"id\" must be a non-negative integer");
    expect_warning(ds, w++, p, ": images[2]: image id 101 already used by images[0]");
    expect_warning(ds, w++, p, ": images[5]: \"file_name\" must be a string");
    expect_warning(ds, w++, p, ": images[6]: expected an object with \"id\" and \"file_name\"");
    expect_warning(ds, w++, p, ": annotations[1]: image_id 999 is not in images[]");
    expect_warning(ds, w++, p, ": annotations[2]: \"caption\" is empty");
    expect_warning(ds, w++, p, ": annotations[3]: \"caption\" must be a string");
    expect_warning(ds, w++, p, ": annotations[5]: \"image_id\" must be a non-negative integer");
    expect_warning(ds, w++, p, ": annotations[6]: expected an object with \"image_id\" and \"caption\"");
    expect_warning(ds, w++, p, ": images[3]: no captions (no annotation has image_id 102)");
    expect_warning(ds, w++, p, ": images[4]: image ");
    cr_expect_eq(ds->n_bad, w);
    cr_expect_eq(ds->n_warnings, w);
    caption_dataset_free(ds);

    caption_dataset_opts o = caption_dataset_default_opts();
    o.on_error = CAPTION_ON_ERROR_FAIL;
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "%s: images[1]: \"id\" must be", p);
    load_fails(p, &o, want, NULL);
}

Test(caption_dataset, bad_blip_and_karpathy_records) {
    link_images("imgs");
    const char *p = write_text("blip.json",
                               "[{\"image\": \"imgs/img_101.png\", \"caption\": [\"a\", \"\"]},\n"
                               " {\"image\": \"imgs/img_102.jpg\", \"caption\": \"fine\"},\n"
                               " \"text\", {\"image\": \"imgs/img_103.png\", \"caption\": null}]");
    caption_dataset *ds = load_ok(p, NULL);
    cr_assert_eq(ds->n_records, 1);
    cr_expect_eq(ds->records[0].index, 1);
    cr_expect_eq(ds->records[0].image_id, 102);
    expect_warning(ds, 0, p, ": record 0: \"caption\"[1] is empty");
    expect_warning(ds, 1, p, ": record 2: expected a JSON object");
    expect_warning(ds, 2, p, ": record 3: no \"caption\"");
    cr_expect_eq(ds->n_bad, 3);
    char where[PATH_MAX + 64], want[PATH_MAX + 64];
    caption_dataset_where(ds, 0, where, sizeof where);
    snprintf(want, sizeof want, "%s: record 1", p);
    cr_expect_str_eq(where, want);
    caption_dataset_free(ds);

    p = write_text("dataset_flickr.json",
                   "{\"images\": [{\"filename\": \"imgs/img_101.png\", \"sentences\": [{\"raw\": \"ok\"}, {}]},\n"
                   " {\"filename\": \"imgs/img_102.jpg\", \"sentences\": \"no\"},\n"
                   " {\"filepath\": 3, \"filename\": \"img_103.png\", \"sentences\": []},\n"
                   " {\"filename\": \"imgs/img_103.png\", \"imgid\": 3, \"sentences\": [{\"raw\": \"fine\"}]},\n"
                   " {\"sentences\": [{\"raw\": \"no file\"}]},\n"
                   " {\"filename\": \"imgs/img_101.png\", \"sentences\": [{\"raw\": \"no id at all\"}]}]}");
    ds = load_ok(p, NULL);
    cr_expect_eq(ds->records[0].image_id, 3, "no cocoid or id: imgid, as vlkit score reads it");
    expect_warning(ds, 0, p, ": images[0]: sentences[1].raw must be a string");
    expect_warning(ds, 1, p, ": images[1]: \"sentences\" must be a list");
    expect_warning(ds, 2, p, ": images[2]: \"filepath\" must be a string");
    expect_warning(ds, 3, p, ": images[4]: \"filename\" must be a string");
    cr_expect_eq(ds->n_bad, 4);
    cr_assert_eq(ds->n_records, 2);
    cr_expect_eq(ds->records[1].image_id, 101, "no id in the record: from the file name");
    caption_dataset_free(ds);
}

Test(caption_dataset, file_level_errors) {
    link_images("imgs");
    caption_dataset_opts o = caption_dataset_default_opts();
    load_fails(in_tmp("nope.jsonl"), NULL, "nope.jsonl: cannot open", "No such file");
    load_fails(write_text("empty.jsonl", ""), NULL, "empty.jsonl: the file is empty", NULL);
    load_fails(write_text("blank.json", " \n\t\n"), NULL, "blank.json: the file is empty", NULL);
    load_fails(write_text("text.txt", "hello world\n"), NULL, "text.txt: not a caption dataset", NULL);
    load_fails(write_text("broken.json", "[{\"image\": \"imgs/img_101.png\", \"caption\": \"x\"},\n {\"image\": 1"),
               NULL, "broken.json: not valid JSON (line 2, column", NULL);
    /* a pretty-printed COCO file cut short is not mistaken for JSON lines */
    load_fails(write_text("cut.json", "{\n  \"images\": [\n    {\"id\": 1, \"file_name\": \"a.jpg\"}\n"), NULL,
               "cut.json: not valid JSON (line 3, column 36), and not JSON lines either", NULL);
    static const char nul[] = "[{\"image\": \"a\", \"caption\": \"b\"}]\n\0junk";
    cr_expect_null(caption_dataset_load_memory(nul, sizeof nul - 1, "nul.json", NULL, NULL));
    cr_expect_str_eq(vk_err_msg(), "nul.json: the file contains a NUL byte");
    static const char nul_line[] = "{\"image\": \"a\", \"caption\": \"b\"}\n{\"image\": \"a\0\"}\n";
    o.check_images = 0;
    caption_dataset *ds = caption_dataset_load_memory(nul_line, sizeof nul_line - 1, "nul.jsonl", NULL, &o);
    cr_assert_not_null(ds, "%s", vk_err_msg());
    cr_expect_str_eq(ds->warnings[0], "nul.jsonl:2: the line contains a NUL byte");
    caption_dataset_free(ds);
    o.check_images = 1;
    load_fails(write_text("allbad.jsonl", "{\"image\": \"imgs/none.png\", \"caption\": \"x\"}\n{}\n"), NULL,
               "allbad.jsonl: no usable records (2 bad; the first: ", "none.png");
    /* forced formats check the shape */
    o.format = CAPTION_FORMAT_COCO;
    load_fails(write_text("lines.jsonl", JSONL_LINES), &o, "lines.jsonl: not valid JSON (line 2", NULL);
    load_fails(write_text("blip.json", BLIP), &o, "blip.json: a COCO captions file is an object with", NULL);
    o.format = CAPTION_FORMAT_KARPATHY;
    load_fails(write_text("coco.json", COCO), &o, "coco.json: a COCO captions file (it has \"annotations\")", "format coco");
    load_fails(write_text("obj.json", "{\"x\": 1}"), &o, "obj.json: a Karpathy split file is an object with", NULL);
    load_fails(write_text("num.json", "[1, 2]"), &o, "num.json: no usable records", "num.json: record 0: expected");
    o.format = CAPTION_FORMAT_BLIP;
    load_fails(write_text("str.json", "\"text\""), &o, "str.json: a BLIP caption file is a JSON list", NULL);
    load_fails(in_tmp("coco.json"), &o, "coco.json: a BLIP caption file is a JSON list", NULL);
    o.format = CAPTION_FORMAT_JSONL;   /* a COCO file read as lines: each line is bad, none usable */
    load_fails(in_tmp("coco.json"), &o, "coco.json: no usable records", "coco.json:1: not valid JSON");
    /* gzip damage: flipped bytes inside the deflate stream, and a file cut in half */
    const char *gz = write_gz("c.json.gz", COCO);
    size_t n = 0;
    char *bytes = vk_read_file(gz, &n, 0);
    cr_assert_not_null(bytes);
    char *bad = malloc(n);
    memcpy(bad, bytes, n);
    for (size_t i = 20; i < 40 && i < n; i++) bad[i] ^= 0x5a;
    cr_assert_eq(vk_write_file_atomic(in_tmp("flipped.json.gz"), bad, n), 0);
    load_fails(in_tmp("flipped.json.gz"), NULL, "flipped.json.gz: ", "gzip");
    cr_assert_eq(vk_write_file_atomic(in_tmp("half.json.gz"), bytes, n / 2), 0);
    load_fails(in_tmp("half.json.gz"), NULL, "half.json.gz: corrupt or truncated gzip data", NULL);
    free(bytes);
    free(bad);
    /* a folder must hold metadata.jsonl */
    make_dir("emptyfolder");
    load_fails(in_tmp("emptyfolder"), NULL, "emptyfolder: a folder without metadata.jsonl", NULL);
    /* format names */
    caption_format f;
    cr_expect_eq(caption_format_parse("COCO", &f), 0);
    cr_expect_eq(f, CAPTION_FORMAT_COCO);
    cr_expect_eq(caption_format_parse("imagefolder", &f), 0);
    cr_expect_eq(f, CAPTION_FORMAT_IMAGEFOLDER);
    cr_expect_eq(caption_format_parse("csv", &f), -1);
    cr_expect(strstr(vk_err_msg(), "\"csv\"") && strstr(vk_err_msg(), "karpathy"), "%s", vk_err_msg());
    for (int i = CAPTION_FORMAT_AUTO; i <= CAPTION_FORMAT_KARPATHY; i++) {
        cr_expect_eq(caption_format_parse(caption_format_name((caption_format)i), &f), 0);
        cr_expect_eq((int)f, i);
    }
}

Test(caption_dataset, warnings_are_capped_but_all_counted) {
    size_t per = 40, n = CAPTION_MAX_WARNINGS + 500;
    char *text = malloc(per * n + 64);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += (size_t)sprintf(text + k, "{\"image\": \"a_%zu.jpg\", \"caption\": 1}\n", i);
    k += (size_t)sprintf(text + k, "{\"image\": \"a.jpg\", \"caption\": \"ok\"}\n");
    caption_dataset_opts o = caption_dataset_default_opts();
    o.check_images = 0;
    caption_dataset *ds = caption_dataset_load_memory(text, k, "many.jsonl", NULL, &o);
    cr_assert_not_null(ds, "%s", vk_err_msg());
    cr_expect_eq(ds->n_bad, (int64_t)n);
    cr_expect_eq(ds->n_warnings, CAPTION_MAX_WARNINGS);
    cr_expect_eq(ds->n_records, 1);
    caption_dataset_free(ds);
    free(text);
}

/* Never a crash: random byte edits of each valid format either load or fail with a message. */
Test(caption_dataset, mutated_inputs_never_crash) {
    link_images("imgs");
    const char *texts[] = {JSONL_LINES, JSONL_LISTS, BLIP, COCO, KARPATHY, IMAGEFOLDER};
    static const char alphabet[] = "{}[]\":,0123456789 -.eE\\/untrfalsxyz_\n\xff\x80";
    uint64_t state = 12345;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", tmp);
    int loaded = 0, refused = 0;
    for (int round = 0; round < 3000; round++) {
        const char *src = texts[round % 6];
        size_t n = strlen(src);
        char *buf = malloc(n + 1);
        memcpy(buf, src, n + 1);
        int edits = 1 + round % 4;
        for (int e = 0; e < edits; e++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            size_t at = (size_t)(state >> 33) % n;
            int kind = (int)(state >> 20) % 3;
            char c = alphabet[(state >> 40) % (sizeof alphabet - 1)];
            if (kind == 0) buf[at] = c;
            else if (kind == 1) n = at;   /* cut */
            else memmove(buf + at, buf + at + 1, n - at), n--;
            buf[n] = 0;
            if (n == 0) break;
        }
        caption_dataset_opts o = caption_dataset_default_opts();
        o.on_error = round % 5 == 0 ? CAPTION_ON_ERROR_FAIL : CAPTION_ON_ERROR_SKIP;
        caption_dataset *ds = caption_dataset_load_memory(buf, n, "m.json", dir, &o);
        if (ds) {
            loaded++;
            cr_assert_gt(ds->n_records, 0);
            for (int64_t i = 0; i < ds->n_examples; i++)
                cr_assert_lt(ds->examples[i].caption, ds->records[ds->examples[i].record].n_captions);
            caption_dataset_free(ds);
        } else {
            refused++;
            cr_assert_neq(vk_err_msg()[0], 0, "an error without a message");
        }
        free(buf);
    }
    cr_expect(loaded > 100 && refused > 100, "loaded %d, refused %d", loaded, refused);
}
