/* test_loader.c — the prefetching batch loader.
 *
 * The dataset: the six fixture images (blip-tiny/preprocess/images, by absolute path) with two
 * captions each, 12 examples, preprocessed at the fixture's 32x32 with the blip-tiny tokenizer.
 * Runs are compared by their full content: every row's example index, and a hash of the exact
 * pixel bytes and token ids of each batch, so "the same batches" means bit-identical batches.
 * Expected orders come from shuffle_permutation (data/shuffle.h), expected pixels from
 * image_preprocess_file, expected tokens from wordpiece_encode of "prompt caption". */
#include "data/caption_dataset.h"
#include "data/loader.h"
#include "data/shuffle.h"
#include "tests/common/fixtures.h"
#include "util/error.h"
#include "util/fileio.h"

#include <criterion/criterion.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define IMG "blip-tiny/preprocess/images/"
#define N_IMAGES 6

static const char *const IMAGES[N_IMAGES] = {"img0_landscape_rgb.png", "img1_portrait_rgb_q90_420.jpg",
                                             "img2_gray.png", "img3_rgba.png", "img4_exact_rgb.png",
                                             "img5_small_q95_444.jpg"};
static const char *const CAPTIONS[N_IMAGES][2] = {
    {"a red car on the street", "a street with one car"},
    {"a man standing", "a man is standing on the beach with a dog and two cats playing"},
    {"a black and white photo", "a gray image"},
    {"a cat sitting on the couch", "the cat is sitting"},
    {"two people playing", "three people are running on the beach"},
    {"a blue table", "a table that is blue and green"},
};

/* ---- fixture setup -------------------------------------------------------------------------- */

static char *tmp;
static wordpiece *tok;
static image_preproc_config cfg;

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *f) {
    (void)st, (void)flag, (void)f;
    return remove(p);
}

static void setup(void) {
    tmp = test_tmpdir();
    tok = wordpiece_load(fixture_path("blip-tiny/tokenizer"));
    cr_assert_not_null(tok, "%s", vk_err_msg());
    cr_assert_eq(image_preproc_load(fixture_path("blip-tiny/preprocess/preprocessor_config.json"), &cfg), 0, "%s",
                 vk_err_msg());
    cr_assert_eq(cfg.height, 32);
}

static void teardown(void) {
    wordpiece_free(tok);
    nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(tmp);
}

static const char *in_tmp(const char *rel) {
    static char bufs[4][PATH_MAX];
    static int slot;
    char *b = bufs[slot++ % 4];
    snprintf(b, sizeof bufs[0], "%s/%s", tmp, rel);
    return b;
}

static void write_bytes(const char *rel, const void *data, size_t n) {
    cr_assert_eq(vk_write_file_atomic(in_tmp(rel), data, n), 0, "%s", vk_err_msg());
}

/* JSONL: the six images (two captions each), with `extra` lines appended. */
static caption_dataset *make_dataset(const char *extra, caption_on_error on_error, int64_t max_bad) {
    char *text = malloc(1 << 16);
    size_t k = 0;
    for (int i = 0; i < N_IMAGES; i++) {
        char abs[PATH_MAX], rel[256];
        snprintf(rel, sizeof rel, IMG "%s", IMAGES[i]);
        cr_assert_not_null(realpath(fixture_path(rel), abs));
        k += (size_t)snprintf(text + k, (1 << 16) - k, "{\"image\": \"%s\", \"captions\": [\"%s\", \"%s\"]}\n", abs,
                              CAPTIONS[i][0], CAPTIONS[i][1]);
    }
    if (extra) k += (size_t)snprintf(text + k, (1 << 16) - k, "%s", extra);
    write_bytes("train.jsonl", text, k);
    free(text);
    caption_dataset_opts o = caption_dataset_default_opts();
    o.on_error = on_error;
    o.max_bad = max_bad;
    caption_dataset *ds = caption_dataset_load(in_tmp("train.jsonl"), &o);
    cr_assert_not_null(ds, "%s", vk_err_msg());
    return ds;
}

static loader_opts base_opts(int workers) {
    loader_opts o = loader_default_opts();
    o.batch_size = 5;
    o.workers = workers;
    o.seed = 1234;
    o.image = cfg;
    o.tokenizer = tok;
    o.prompt = "a picture of ";
    o.max_length = 12;
    return o;
}

/* ---- recording runs ------------------------------------------------------------------------- */

#define MAX_BATCHES 64

typedef struct {
    int nb;
    int n[MAX_BATCHES], cols[MAX_BATCHES];
    int64_t epoch[MAX_BATCHES], position[MAX_BATCHES], next_epoch[MAX_BATCHES], next_position[MAX_BATCHES];
    int64_t ex[MAX_BATCHES][16];
    uint64_t hash[MAX_BATCHES];   /* FNV-1a over pixels, ids, mask, prompt_len */
    int64_t bad_images;
} run_log;

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

/* Up to max_batches batches (stopping at n == 0). */
static void record_run(const caption_dataset *ds, const loader_opts *o, int max_batches, run_log *log) {
    memset(log, 0, sizeof *log);
    loader *ld = loader_new(ds, o);
    cr_assert_not_null(ld, "%s", vk_err_msg());
    for (int i = 0; i < max_batches; i++) {
        const loader_batch *b;
        cr_assert_eq(loader_next(ld, &b), 0, "batch %d: %s", i, vk_err_msg());
        if (b->n == 0) break;
        int k = log->nb++;
        cr_assert_lt(k, MAX_BATCHES);
        log->n[k] = b->n;
        log->cols[k] = b->cols;
        log->epoch[k] = b->epoch;
        log->position[k] = b->position;
        log->next_epoch[k] = b->next_epoch;
        log->next_position[k] = b->next_position;
        memcpy(log->ex[k], b->example, (size_t)b->n * sizeof *b->example);
        uint64_t h = 14695981039346656037ull;
        h = fnv(h, b->pixels, (size_t)b->n * 3 * b->height * b->width * sizeof(float));
        if (b->cols) {
            h = fnv(h, b->ids, (size_t)b->n * b->cols * sizeof *b->ids);
            h = fnv(h, b->mask, (size_t)b->n * b->cols * sizeof *b->mask);
        }
        h = fnv(h, b->prompt_len, (size_t)b->n * sizeof *b->prompt_len);
        log->hash[k] = h;
    }
    log->bad_images = loader_bad_images(ld);
    loader_free(ld);
}

static void expect_same_runs(const run_log *a, const run_log *b, int from_a, const char *what) {
    cr_assert_eq(a->nb - from_a, b->nb, "%s: %d vs %d batches", what, a->nb - from_a, b->nb);
    for (int i = 0; i < b->nb; i++) {
        int j = i + from_a;
        cr_assert_eq(a->n[j], b->n[i], "%s: batch %d rows", what, i);
        cr_expect_eq(a->epoch[j], b->epoch[i], "%s: batch %d epoch", what, i);
        cr_expect_eq(a->position[j], b->position[i], "%s: batch %d position", what, i);
        cr_expect_eq(a->next_epoch[j], b->next_epoch[i], "%s: batch %d next epoch", what, i);
        cr_expect_eq(a->next_position[j], b->next_position[i], "%s: batch %d next position", what, i);
        cr_expect_eq(a->cols[j], b->cols[i], "%s: batch %d cols", what, i);
        for (int r = 0; r < a->n[j]; r++) cr_expect_eq(a->ex[j][r], b->ex[i][r], "%s: batch %d row %d", what, i, r);
        cr_expect_eq(a->hash[j], b->hash[i], "%s: batch %d content differs", what, i);
    }
}

TestSuite(loader, .init = setup, .fini = teardown, .timeout = 120);

/* ---- order ---------------------------------------------------------------------------------- */

Test(loader, order_depends_only_on_seed_and_epoch_not_workers) {
    caption_dataset *ds = make_dataset(NULL, CAPTION_ON_ERROR_SKIP, -1);
    cr_assert_eq(ds->n_examples, 12);
    run_log runs[3];
    const int workers[3] = {0, 1, 3};
    for (int w = 0; w < 3; w++) {
        loader_opts o = base_opts(workers[w]);
        o.epochs = 3;
        o.prefetch = w + 1;
        record_run(ds, &o, MAX_BATCHES, &runs[w]);
    }
    /* 12 examples in batches of 5: 5, 5, 2 per epoch, never across an epoch */
    const run_log *r0 = &runs[0];
    cr_assert_eq(r0->nb, 9);
    int64_t perm[12];
    for (int e = 0; e < 3; e++) {
        shuffle_permutation(1234, e, 12, perm);
        for (int k = 0; k < 3; k++) {
            int bi = e * 3 + k;
            cr_expect_eq(r0->n[bi], k < 2 ? 5 : 2);
            cr_expect_eq(r0->epoch[bi], e);
            cr_expect_eq(r0->position[bi], 5 * k);
            cr_expect_eq(r0->next_epoch[bi], k < 2 ? e : e + 1);
            cr_expect_eq(r0->next_position[bi], k < 2 ? 5 * (k + 1) : 0);
            for (int r = 0; r < r0->n[bi]; r++)
                cr_expect_eq(r0->ex[bi][r], perm[5 * k + r], "epoch %d batch %d row %d", e, k, r);
        }
    }
    expect_same_runs(&runs[0], &runs[1], 0, "workers 0 vs 1");
    expect_same_runs(&runs[0], &runs[2], 0, "workers 0 vs 3");
    caption_dataset_free(ds);
}

Test(loader, epochs_and_seeds_give_different_orders_and_no_shuffle_keeps_file_order) {
    int64_t a[12], b[12], c[12];
    shuffle_permutation(1234, 0, 12, a);
    shuffle_permutation(1234, 1, 12, b);
    shuffle_permutation(1235, 0, 12, c);
    cr_expect_neq(memcmp(a, b, sizeof a), 0, "epochs 0 and 1 in the same order");
    cr_expect_neq(memcmp(a, c, sizeof a), 0, "seeds 1234 and 1235 in the same order");
    /* a permutation: every index once */
    int seen[12] = {0};
    for (int i = 0; i < 12; i++) seen[a[i]]++;
    for (int i = 0; i < 12; i++) cr_expect_eq(seen[i], 1);
    /* bigger n: over 200 epochs no two orders of 1000 are equal, and positions are spread */
    enum { N = 1000, E = 200 };
    int64_t *p = malloc(sizeof(int64_t) * N * E);
    double first_mean = 0;
    for (int e = 0; e < E; e++) {
        shuffle_permutation(7, e, N, p + (size_t)e * N);
        first_mean += (double)p[(size_t)e * N];
        for (int f = 0; f < e; f++)
            cr_assert_neq(memcmp(p + (size_t)e * N, p + (size_t)f * N, N * sizeof *p), 0, "epochs %d, %d", e, f);
    }
    first_mean /= E;   /* uniform on 0..999: mean 499.5, sd of the mean 289/sqrt(200) ~ 20 */
    cr_expect(first_mean > 400 && first_mean < 600, "first element mean %.1f", first_mean);
    free(p);

    caption_dataset *ds = make_dataset(NULL, CAPTION_ON_ERROR_SKIP, -1);
    loader_opts o = base_opts(2);
    o.shuffle = 0;
    o.epochs = 2;
    run_log log;
    record_run(ds, &o, MAX_BATCHES, &log);
    cr_assert_eq(log.nb, 6);
    for (int k = 0; k < 6; k++)
        for (int r = 0; r < log.n[k]; r++) cr_expect_eq(log.ex[k][r], (k % 3) * 5 + r);
    caption_dataset_free(ds);
}

Test(loader, resume_at_epoch_and_position_gives_the_same_batches) {
    caption_dataset *ds = make_dataset(NULL, CAPTION_ON_ERROR_SKIP, -1);
    loader_opts o = base_opts(2);
    o.epochs = 3;
    run_log full;
    record_run(ds, &o, MAX_BATCHES, &full);
    cr_assert_eq(full.nb, 9);
    /* after batch k (mid-epoch, the epoch's last batch, a later epoch), with other worker counts */
    const int after[] = {0, 1, 2, 4, 7};
    for (size_t i = 0; i < sizeof after / sizeof after[0]; i++) {
        int k = after[i];
        loader_opts r = base_opts((int)i % 3);
        r.epochs = 3;
        r.start_epoch = full.next_epoch[k];
        r.start_position = full.next_position[k];
        run_log rest;
        record_run(ds, &r, MAX_BATCHES, &rest);
        char what[64];
        snprintf(what, sizeof what, "resumed after batch %d", k);
        expect_same_runs(&full, &rest, k + 1, what);
    }
    /* an arbitrary position (not a batch boundary) starts the batch there */
    loader_opts r = base_opts(1);
    r.start_epoch = 1;
    r.start_position = 3;
    run_log odd;
    record_run(ds, &r, 2, &odd);
    int64_t perm[12];
    shuffle_permutation(1234, 1, 12, perm);
    cr_assert_eq(odd.n[0], 5);
    for (int j = 0; j < 5; j++) cr_expect_eq(odd.ex[0][j], perm[3 + j]);
    cr_expect_eq(odd.n[1], 4, "the rest of epoch 1");
    cr_expect_eq(odd.next_epoch[1], 2);
    cr_expect_eq(odd.next_position[1], 0);
    caption_dataset_free(ds);
}

Test(loader, drop_last_and_epoch_limit) {
    caption_dataset *ds = make_dataset(NULL, CAPTION_ON_ERROR_SKIP, -1);
    loader_opts o = base_opts(2);
    o.drop_last = 1;
    o.epochs = 2;
    run_log log;
    record_run(ds, &o, MAX_BATCHES, &log);
    cr_assert_eq(log.nb, 4, "two full batches per epoch, the 2 left over dropped");
    int64_t perm[12];
    for (int k = 0; k < 4; k++) {
        shuffle_permutation(1234, k / 2, 12, perm);
        cr_expect_eq(log.n[k], 5);
        cr_expect_eq(log.epoch[k], k / 2);
        for (int r = 0; r < 5; r++) cr_expect_eq(log.ex[k][r], perm[(k % 2) * 5 + r]);
    }
    loader *ld = loader_new(ds, &o);
    cr_assert_not_null(ld);
    cr_expect_eq(loader_batches_per_epoch(ld), 2);
    for (int k = 0; k < 4; k++) {
        const loader_batch *b;
        cr_assert_eq(loader_next(ld, &b), 0);
    }
    for (int k = 0; k < 2; k++) {   /* the end stays the end */
        const loader_batch *b;
        cr_assert_eq(loader_next(ld, &b), 0);
        cr_expect_eq(b->n, 0);
    }
    loader_free(ld);
    o.drop_last = 0;
    ld = loader_new(ds, &o);
    cr_expect_eq(loader_batches_per_epoch(ld), 3);
    loader_free(ld);
    caption_dataset_free(ds);
}

/* ---- content -------------------------------------------------------------------------------- */

/* ids of wordpiece_encode("<prompt> <caption>") with max_length: the reference. */
static wordpiece_batch reference_tokens(const char *prompt, const char *caption, int max_length) {
    char text[512];
    snprintf(text, sizeof text, "%s%s%s", prompt, prompt[0] && prompt[strlen(prompt) - 1] != ' ' ? " " : "", caption);
    wordpiece_encode_opts eo = wordpiece_encode_defaults();
    eo.max_length = max_length;
    wordpiece_batch wb;
    const char *texts[1] = {text};
    cr_assert_eq(wordpiece_encode(tok, texts, 1, &eo, &wb), 0, "%s", vk_err_msg());
    return wb;
}

static void check_batch_content(const caption_dataset *ds, const loader_batch *b, const char *prompt, int max_length,
                                int64_t bos, int prompt_tokens) {
    size_t numel = image_preproc_numel(&cfg);
    float *want = malloc(numel * sizeof *want);
    wordpiece_special_ids sp = wordpiece_specials(tok);
    int longest = 0;
    for (int r = 0; r < b->n; r++) {
        const caption_example *e = &ds->examples[b->example[r]];
        const caption_record *rec = &ds->records[e->record];
        cr_expect_eq(b->record[r], e->record);
        cr_expect_str_eq(b->image[r], rec->image);
        cr_expect_eq(b->image_id[r], rec->image_id);
        cr_expect_str_eq(b->caption[r], rec->captions[e->caption]);
        /* pixels: bit-identical to preprocessing the file directly */
        cr_assert_eq(image_preprocess_file(&cfg, rec->image, want), 0, "%s", vk_err_msg());
        cr_expect_eq(memcmp(b->pixels + (size_t)r * numel, want, numel * sizeof *want), 0, "row %d pixels (%s)", r,
                     rec->image);
        /* tokens: "[CLS] prompt caption [SEP]" as the tokenizer encodes the joined text */
        wordpiece_batch wb = reference_tokens(prompt, rec->captions[e->caption], max_length);
        int len = wb.lengths[0];
        cr_expect_eq(b->lengths[r], len, "row %d length", r);
        if (len > longest) longest = len;
        for (int c = 0; c < b->cols; c++) {
            int64_t w = c >= len ? sp.pad : c == 0 && bos >= 0 ? bos : wb.ids[c];
            cr_expect_eq(b->ids[(size_t)r * b->cols + c], w, "row %d col %d", r, c);
            cr_expect_eq(b->mask[(size_t)r * b->cols + c], c < len, "row %d mask %d", r, c);
        }
        cr_expect_eq(b->ids[(size_t)r * b->cols + len - 1], sp.sep, "row %d ends with [SEP]", r);
        int pl = 1 + prompt_tokens < len ? 1 + prompt_tokens : len;
        cr_expect_eq(b->prompt_len[r], pl, "row %d prompt_len", r);
        wordpiece_batch_free(&wb);
    }
    cr_expect_eq(b->cols, longest, "padded to the longest row");
    free(want);
}

Test(loader, pixels_tokens_prompt_len_and_bos) {
    caption_dataset *ds = make_dataset(NULL, CAPTION_ON_ERROR_SKIP, -1);
    wordpiece_special_ids sp = wordpiece_specials(tok);
    int64_t *pids;
    size_t np;
    cr_assert_eq(wordpiece_tokenize(tok, "a picture of", &pids, &np), 0);
    cr_assert_eq(np, 3, "a / picture / of");
    free(pids);
    struct {
        const char *prompt;
        int max_length;
        int64_t bos;
        int prompt_tokens;
        int workers;
    } cases[] = {
        {"a picture of ", 40, -1, 3, 2},      /* transformers-style: [CLS] first */
        {"a picture of ", 40, sp.bos, 3, 0},  /* BLIP: [DEC] first */
        {"a picture of", 40, sp.bos, 3, 3},   /* no trailing space: one is added */
        {"", 40, -1, 0, 1},                   /* no prompt: prompt_len 1 ([CLS]) */
        {"a picture of ", 6, sp.bos, 3, 2},   /* truncated: [CLS] a picture of <1 token> [SEP] */
        {"a picture of ", 3, -1, 3, 2},       /* the prompt itself cut: prompt_len = the row */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        loader_opts o = base_opts(cases[i].workers);
        o.prompt = cases[i].prompt;
        o.max_length = cases[i].max_length;
        o.bos_id = cases[i].bos;
        loader *ld = loader_new(ds, &o);
        cr_assert_not_null(ld, "%s", vk_err_msg());
        for (int k = 0; k < 3; k++) {
            const loader_batch *b;
            cr_assert_eq(loader_next(ld, &b), 0, "%s", vk_err_msg());
            cr_assert_eq(b->n, k < 2 ? 5 : 2);
            cr_expect_eq(b->height, 32);
            cr_expect_eq(b->width, 32);
            check_batch_content(ds, b, cases[i].prompt, cases[i].max_length, cases[i].bos, cases[i].prompt_tokens);
            if (cases[i].max_length <= 6) cr_expect_eq(b->cols, cases[i].max_length);
        }
        loader_free(ld);
    }
    /* pixels only: no tokenizer */
    loader_opts o = base_opts(2);
    o.tokenizer = NULL;
    loader *ld = loader_new(ds, &o);
    cr_assert_not_null(ld);
    const loader_batch *b;
    cr_assert_eq(loader_next(ld, &b), 0);
    cr_expect_eq(b->n, 5);
    cr_expect_eq(b->cols, 0);
    loader_free(ld);
    caption_dataset_free(ds);
}

/* ---- bad images ----------------------------------------------------------------------------- */

/* Two corrupt images: bytes that are no image, and a JPEG cut in half. Each has two captions,
 * lines 7 and 8 of train.jsonl. */
static caption_dataset *dataset_with_corrupt_images(caption_on_error on_error, int64_t max_bad) {
    write_bytes("garbage.jpg", "this is not an image at all", 27);
    size_t n;
    char *jpeg = vk_read_file(fixture_path(IMG "img1_portrait_rgb_q90_420.jpg"), &n, 0);
    cr_assert_not_null(jpeg);
    write_bytes("cut.jpg", jpeg, n / 2);
    free(jpeg);
    char extra[2 * PATH_MAX + 256];
    snprintf(extra, sizeof extra,
             "{\"image\": \"garbage.jpg\", \"captions\": [\"a red car\", \"a blue car\"]}\n"
             "{\"image\": \"cut.jpg\", \"captions\": [\"a man\", \"a woman\"]}\n");
    return make_dataset(extra, on_error, max_bad);
}

Test(loader, corrupt_images_skipped_deterministically) {
    caption_dataset *ds = dataset_with_corrupt_images(CAPTION_ON_ERROR_SKIP, -1);
    cr_assert_eq(ds->n_examples, 16);
    cr_assert_eq(ds->n_bad, 0, "the files exist: only decoding finds them bad");
    run_log runs[3];
    const int workers[3] = {0, 1, 3};
    for (int w = 0; w < 3; w++) {
        loader_opts o = base_opts(workers[w]);
        o.epochs = 3;
        record_run(ds, &o, MAX_BATCHES, &runs[w]);
        cr_expect_eq(runs[w].bad_images, 2, "workers %d: each bad image counted once", workers[w]);
    }
    expect_same_runs(&runs[0], &runs[1], 0, "workers 0 vs 1");
    expect_same_runs(&runs[0], &runs[2], 0, "workers 0 vs 3");
    /* each epoch: the order without the 4 examples of records 6 and 7, in batches 5, 5, 2 */
    const run_log *r0 = &runs[0];
    cr_assert_eq(r0->nb, 9);
    for (int e = 0; e < 3; e++) {
        int64_t perm[16], good[16];
        int ng = 0;
        shuffle_permutation(1234, e, 16, perm);
        for (int i = 0; i < 16; i++)
            if (ds->examples[perm[i]].record < N_IMAGES) good[ng++] = perm[i];
        cr_assert_eq(ng, 12);
        for (int k = 0; k < 3; k++) {
            int bi = e * 3 + k;
            cr_assert_eq(r0->n[bi], k < 2 ? 5 : 2, "epoch %d batch %d: full batches despite bad images", e, k);
            for (int r = 0; r < r0->n[bi]; r++) cr_expect_eq(r0->ex[bi][r], good[5 * k + r]);
        }
    }
    /* the messages name the dataset line and the image */
    loader_opts o = base_opts(2);
    o.epochs = 1;
    loader *ld = loader_new(ds, &o);
    const loader_batch *b;
    do cr_assert_eq(loader_next(ld, &b), 0, "%s", vk_err_msg());
    while (b->n);
    int nw;
    const char *const *w = loader_warnings(ld, &nw);
    cr_assert_eq(nw, 2);
    cr_expect_eq(loader_bad_images(ld), 2);
    for (int i = 0; i < 2; i++) {
        int is_garbage = strstr(w[i], "garbage.jpg") != NULL;
        char want[PATH_MAX + 32];
        snprintf(want, sizeof want, "%s:%d: %s", ds->path, is_garbage ? 7 : 8,
                 in_tmp(is_garbage ? "garbage.jpg" : "cut.jpg"));
        cr_expect_eq(strncmp(w[i], want, strlen(want)), 0, "warning \"%s\" should start \"%s\"", w[i], want);
    }
    loader_free(ld);
    caption_dataset_free(ds);
}

/* The position of the first batch that reaches a corrupt image in run order (epoch 0). */
static int first_bad_batch(const caption_dataset *ds, int nth) {
    int64_t perm[16];
    shuffle_permutation(1234, 0, 16, perm);
    int good = 0, bad_seen = 0;
    int seen_rec[8] = {0};
    for (int i = 0; i < 16; i++) {
        int64_t rec = ds->examples[perm[i]].record;
        if (rec >= N_IMAGES) {
            if (!seen_rec[rec] && ++bad_seen == nth) return good / 5;
            seen_rec[rec] = 1;
        } else {
            good++;
        }
    }
    return -1;
}

Test(loader, corrupt_image_fatal_by_policy) {
    struct {
        caption_on_error on_error;
        int64_t max_bad;
        int fails_at;   /* 0: never; n: at the n-th distinct bad image */
    } cases[] = {
        {CAPTION_ON_ERROR_FAIL, -1, 1},
        {CAPTION_ON_ERROR_SKIP, 0, 1},
        {CAPTION_ON_ERROR_SKIP, 1, 2},
        {CAPTION_ON_ERROR_SKIP, 2, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        caption_dataset *ds = dataset_with_corrupt_images(cases[i].on_error, cases[i].max_bad);
        for (int workers = 0; workers <= 2; workers += 2) {
            loader_opts o = base_opts(workers);
            o.epochs = 1;
            loader *ld = loader_new(ds, &o);
            cr_assert_not_null(ld);
            int expect_fail_batch = cases[i].fails_at ? first_bad_batch(ds, cases[i].fails_at) : -1;
            int k = 0, rc;
            const loader_batch *b = NULL;
            while ((rc = loader_next(ld, &b)) == 0 && b->n) k++;
            if (!cases[i].fails_at) {
                cr_expect_eq(rc, 0, "case %zu: %s", i, vk_err_msg());
                cr_expect_eq(k, 3);
            } else {
                cr_assert_eq(rc, -1, "case %zu workers %d: should fail", i, workers);
                cr_expect_eq(k, expect_fail_batch, "case %zu: failed at batch %d, expected %d", i, k,
                             expect_fail_batch);
                char msg[4096];
                snprintf(msg, sizeof msg, "%s", vk_err_msg());
                char want[PATH_MAX];
                snprintf(want, sizeof want, "%s:", ds->path);
                cr_expect(strstr(msg, want) && (strstr(msg, "garbage.jpg") || strstr(msg, "cut.jpg")), "%s", msg);
                if (cases[i].on_error == CAPTION_ON_ERROR_SKIP)
                    cr_expect(strstr(msg, "more than max_bad"), "%s", msg);
                cr_expect_eq(loader_next(ld, &b), -1, "the error stays");
                cr_expect_str_eq(vk_err_msg(), msg);
            }
            loader_free(ld);
        }
        caption_dataset_free(ds);
    }
}

Test(loader, no_decodable_image_is_an_error_not_a_hang) {
    write_bytes("a.jpg", "nope", 4);
    write_bytes("b.png", "nope", 4);
    write_bytes("all_bad.jsonl", "{\"image\": \"a.jpg\", \"caption\": \"x\"}\n{\"image\": \"b.png\", \"caption\": \"y\"}\n",
                70);
    caption_dataset *ds = caption_dataset_load(in_tmp("all_bad.jsonl"), NULL);
    cr_assert_not_null(ds, "%s", vk_err_msg());
    for (int mode = 0; mode < 2; mode++)
        for (int workers = 0; workers <= 2; workers += 2) {
            loader_opts o = base_opts(workers);
            o.mode = mode ? LOADER_EVAL : LOADER_TRAIN;
            loader *ld = loader_new(ds, &o);
            const loader_batch *b;
            int rc = loader_next(ld, &b);
            if (mode == 0) {
                cr_expect_eq(rc, -1);
                cr_expect(strstr(vk_err_msg(), "none of the 2 examples has an image that decodes"), "%s",
                          vk_err_msg());
            } else {
                cr_expect_eq(rc, -1, "eval: %s", rc ? "" : "no error");
            }
            loader_free(ld);
        }
    caption_dataset_free(ds);
}

/* ---- evaluation mode ------------------------------------------------------------------------ */

Test(loader, eval_mode_one_row_per_image_in_file_order) {
    caption_dataset *ds = make_dataset(NULL, CAPTION_ON_ERROR_SKIP, -1);
    wordpiece_special_ids sp = wordpiece_specials(tok);
    size_t numel = image_preproc_numel(&cfg);
    float *want = malloc(numel * sizeof *want);
    for (int workers = 0; workers <= 3; workers += 3) {
        loader_opts o = base_opts(workers);
        o.mode = LOADER_EVAL;
        o.batch_size = 4;
        o.bos_id = sp.bos;
        loader *ld = loader_new(ds, &o);
        cr_assert_not_null(ld, "%s", vk_err_msg());
        cr_expect_eq(loader_batches_per_epoch(ld), 2);
        const loader_batch *b;
        int64_t next = 0;
        for (int k = 0; k < 2; k++) {
            cr_assert_eq(loader_next(ld, &b), 0, "%s", vk_err_msg());
            cr_assert_eq(b->n, k == 0 ? 4 : 2);
            cr_expect_eq(b->position, next);
            for (int r = 0; r < b->n; r++) {
                int64_t rec = next + r;
                cr_expect_eq(b->example[r], rec);
                cr_expect_eq(b->record[r], rec);
                cr_expect_str_eq(b->image[r], ds->records[rec].image);
                cr_expect_null(b->caption[r]);
                cr_assert_eq(image_preprocess_file(&cfg, ds->records[rec].image, want), 0);
                cr_expect_eq(memcmp(b->pixels + (size_t)r * numel, want, numel * sizeof *want), 0);
                /* the generation prefix: [DEC] a picture of */
                cr_assert_eq(b->cols, 4);
                const int64_t *ids = b->ids + (size_t)r * 4;
                cr_expect_eq(ids[0], sp.bos);
                cr_expect_eq(ids[1], wordpiece_token_id(tok, "a"));
                cr_expect_eq(ids[2], wordpiece_token_id(tok, "picture"));
                cr_expect_eq(ids[3], wordpiece_token_id(tok, "of"));
                cr_expect_eq(b->prompt_len[r], 4);
            }
            next += b->n;
            cr_expect_eq(b->next_position, next);
        }
        for (int k = 0; k < 2; k++) {
            cr_assert_eq(loader_next(ld, &b), 0);
            cr_expect_eq(b->n, 0, "one pass");
        }
        loader_free(ld);
    }
    free(want);
    /* limit and a start position */
    loader_opts o = base_opts(2);
    o.mode = LOADER_EVAL;
    o.limit = 3;
    run_log log;
    record_run(ds, &o, MAX_BATCHES, &log);
    cr_assert_eq(log.nb, 1);
    cr_expect_eq(log.n[0], 3);
    o.limit = 0;
    o.start_position = 4;
    record_run(ds, &o, MAX_BATCHES, &log);
    cr_assert_eq(log.nb, 1);
    cr_expect_eq(log.n[0], 2);
    cr_expect_eq(log.ex[0][0], 4);
    cr_expect_eq(log.ex[0][1], 5);
    caption_dataset_free(ds);

    /* bad images are skipped in eval mode too, the next record filling the row */
    ds = dataset_with_corrupt_images(CAPTION_ON_ERROR_SKIP, -1);
    o = base_opts(2);
    o.mode = LOADER_EVAL;
    o.batch_size = 7;
    record_run(ds, &o, MAX_BATCHES, &log);
    cr_assert_eq(log.nb, 1);
    cr_expect_eq(log.n[0], 6);
    cr_expect_eq(log.bad_images, 2);
    caption_dataset_free(ds);
}

/* ---- options -------------------------------------------------------------------------------- */

Test(loader, bad_options_are_refused) {
    caption_dataset *ds = make_dataset(NULL, CAPTION_ON_ERROR_SKIP, -1);
    loader_opts o = base_opts(1);
    o.batch_size = 0;
    cr_expect_null(loader_new(ds, &o));
    cr_expect(strstr(vk_err_msg(), "batch_size 0"), "%s", vk_err_msg());
    o = base_opts(-1);
    cr_expect_null(loader_new(ds, &o));
    cr_expect(strstr(vk_err_msg(), "workers -1"), "%s", vk_err_msg());
    o = base_opts(1);
    o.max_length = 1;
    cr_expect_null(loader_new(ds, &o));
    cr_expect(strstr(vk_err_msg(), "max_length 1"), "%s", vk_err_msg());
    o = base_opts(1);
    o.start_position = 13;
    cr_expect_null(loader_new(ds, &o));
    cr_expect(strstr(vk_err_msg(), "out of range for 12 examples"), "%s", vk_err_msg());
    o = base_opts(1);
    o.mode = LOADER_EVAL;
    o.max_length = 3;
    cr_expect_null(loader_new(ds, &o));
    cr_expect(strstr(vk_err_msg(), "the prompt takes 4 tokens, more than max_length 3"), "%s", vk_err_msg());
    cr_expect_null(loader_new(NULL, NULL));
    /* freeing a loader whose workers are busy prefetching: no hang, no leak */
    o = base_opts(3);
    o.prefetch = 4;
    loader *ld = loader_new(ds, &o);
    cr_assert_not_null(ld);
    loader_free(ld);
    ld = loader_new(ds, &o);
    const loader_batch *b;
    cr_assert_eq(loader_next(ld, &b), 0);
    loader_free(ld);
    loader_free(NULL);
    caption_dataset_free(ds);
}

/* ---- sharding (data-parallel ranks) -------------------------------------------------------- */

/* Per row: example index and a hash of its pixels and unpadded tokens (cols differ by rank). */
typedef struct {
    int n;
    int64_t ex[64];
    uint64_t row_hash[64];
    int64_t next_epoch, next_position;
    int end;
} step_rows;

static void take_step(loader *ld, step_rows *s) {
    const loader_batch *b;
    cr_assert_eq(loader_next(ld, &b), 0, "%s", vk_err_msg());
    s->n = b->n;
    s->end = b->end;
    s->next_epoch = b->next_epoch;
    s->next_position = b->next_position;
    for (int r = 0; r < b->n; r++) {
        s->ex[r] = b->example[r];
        size_t per = (size_t)3 * b->height * b->width;
        uint64_t h = fnv(14695981039346656037ull, b->pixels + per * r, per * sizeof(float));
        h = fnv(h, b->ids + (size_t)r * b->cols, (size_t)b->lengths[r] * sizeof *b->ids);
        s->row_hash[r] = fnv(h, &b->prompt_len[r], sizeof b->prompt_len[r]);
    }
}

/* W ranks x batch B, step by step, equal the unsharded loader with batch W*B: the same rows in
 * rank order, the same resume positions; the short last step of an epoch split evenly (ranks
 * with nothing get n == 0 and end == 0); the end is the end on every rank. */
static void check_shards(const caption_dataset *ds, int W, int B, int64_t start_epoch, int64_t start_position) {
    loader_opts g = base_opts(1);
    g.batch_size = W * B;
    g.epochs = 3;
    g.start_epoch = start_epoch;
    g.start_position = start_position;
    loader *whole = loader_new(ds, &g);
    cr_assert_not_null(whole, "%s", vk_err_msg());
    loader *rank[8];
    for (int r = 0; r < W; r++) {
        loader_opts o = base_opts(r % 3);
        o.batch_size = B;
        o.epochs = 3;
        o.start_epoch = start_epoch;
        o.start_position = start_position;
        o.shard_index = r;
        o.shard_count = W;
        rank[r] = loader_new(ds, &o);
        cr_assert_not_null(rank[r], "%s", vk_err_msg());
        cr_expect_eq(loader_batches_per_epoch(rank[r]), (12 + W * B - 1) / (W * B));
    }
    for (int step = 0;; step++) {
        step_rows all, part;
        take_step(whole, &all);
        int k = 0;
        for (int r = 0; r < W; r++) {
            take_step(rank[r], &part);
            cr_assert_eq(part.end, all.n == 0, "W %d B %d step %d rank %d: end", W, B, step, r);
            if (all.n == 0) continue;
            int64_t lo = (int64_t)r * all.n / W, hi = (int64_t)(r + 1) * all.n / W;
            if (all.n == W * B) lo = r * B, hi = (r + 1) * B;
            cr_assert_eq(part.n, hi - lo, "W %d B %d step %d rank %d: rows", W, B, step, r);
            cr_expect_eq(part.next_epoch, all.next_epoch, "W %d B %d step %d rank %d", W, B, step, r);
            cr_expect_eq(part.next_position, all.next_position, "W %d B %d step %d rank %d", W, B, step, r);
            for (int j = 0; j < part.n; j++, k++) {
                cr_assert_eq(part.ex[j], all.ex[k], "W %d B %d step %d rank %d row %d", W, B, step, r, j);
                cr_assert_eq(part.row_hash[j], all.row_hash[k], "W %d B %d step %d rank %d row %d content", W, B, step, r, j);
            }
        }
        if (all.n == 0) break;
        cr_assert_eq(k, all.n, "W %d B %d step %d: every row of the global batch on some rank", W, B, step);
    }
    loader_free(whole);
    for (int r = 0; r < W; r++) loader_free(rank[r]);
}

Test(loader, shards_of_a_step_are_the_global_batch) {
    caption_dataset *ds = make_dataset(NULL, CAPTION_ON_ERROR_SKIP, -1);
    /* 12 examples: W*B = 4 divides them, 6 leaves 0, 10 leaves 2 for 5 ranks (three get none),
     * 15 is more than an epoch */
    const int cases[][2] = {{2, 2}, {2, 3}, {3, 2}, {5, 2}, {3, 5}, {1, 4}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_shards(ds, cases[i][0], cases[i][1], 0, 0);
    /* resumed at step boundaries, mid-epoch and at an epoch start */
    check_shards(ds, 2, 2, 1, 8);
    check_shards(ds, 5, 2, 1, 10);
    check_shards(ds, 3, 2, 2, 0);
    caption_dataset_free(ds);
}

Test(loader, shard_options_and_start_off_a_step_boundary_are_refused) {
    caption_dataset *ds = make_dataset(NULL, CAPTION_ON_ERROR_SKIP, -1);
    loader_opts o = base_opts(0);
    o.batch_size = 2;
    o.shard_count = 2;
    o.shard_index = 2;
    cr_expect_null(loader_new(ds, &o));
    cr_expect(strstr(vk_err_msg(), "shard 2 of 2"), "%s", vk_err_msg());
    o.shard_index = 1;
    o.start_position = 6; /* steps are 4 positions */
    cr_expect_null(loader_new(ds, &o));
    cr_expect(strstr(vk_err_msg(), "not at a step boundary"), "%s", vk_err_msg());
    o.start_position = 0;
    o.drop_last = 1;
    o.batch_size = 7;
    cr_expect_null(loader_new(ds, &o));
    cr_expect(strstr(vk_err_msg(), "fewer than one global batch"), "%s", vk_err_msg());
    o.drop_last = 0;
    o.mode = LOADER_EVAL;
    cr_expect_null(loader_new(ds, &o));
    caption_dataset_free(ds);
}

static int is_bad_image(const char *path) { return strstr(path, "garbage.jpg") || strstr(path, "cut.jpg"); }

/* A bad image on one rank shortens that rank's batch; the other ranks are unaffected. */
Test(loader, sharded_bad_image_shortens_only_its_rank) {
    caption_dataset *ds = dataset_with_corrupt_images(CAPTION_ON_ERROR_SKIP, -1);
    int64_t n_bad_total = 0, rows_total = 0;
    for (int r = 0; r < 2; r++) {
        loader_opts o = base_opts(1);
        o.shuffle = 0;
        o.batch_size = 4;
        o.epochs = 1;
        o.shard_index = r;
        o.shard_count = 2;
        loader *ld = loader_new(ds, &o);
        cr_assert_not_null(ld, "%s", vk_err_msg());
        for (int step = 0;; step++) {
            const loader_batch *b;
            cr_assert_eq(loader_next(ld, &b), 0, "%s", vk_err_msg());
            if (b->end) break;
            int64_t lo = (int64_t)step * 8 + r * 4;
            int expect = 0;
            for (int64_t p = lo; p < lo + 4 && p < ds->n_examples; p++) {
                const char *img = ds->records[ds->examples[p].record].image;
                expect += !is_bad_image(img);
            }
            int64_t n_short = ds->n_examples - (int64_t)step * 8;
            if (n_short < 8) { /* the short last step: split evenly */
                lo = (int64_t)step * 8 + r * n_short / 2;
                int64_t hi = (int64_t)step * 8 + (r + 1) * n_short / 2;
                expect = 0;
                for (int64_t p = lo; p < hi; p++) expect += !is_bad_image(ds->records[ds->examples[p].record].image);
            }
            cr_expect_eq(b->n, expect, "rank %d step %d", r, step);
            rows_total += b->n;
        }
        n_bad_total += loader_bad_images(ld);
        loader_free(ld);
    }
    cr_expect_gt(n_bad_total, 0);
    int64_t good_rows = 0;
    for (int64_t p = 0; p < ds->n_examples; p++) good_rows += !is_bad_image(ds->records[ds->examples[p].record].image);
    cr_expect_eq(rows_total, good_rows, "every decodable example once");
    caption_dataset_free(ds);
}
