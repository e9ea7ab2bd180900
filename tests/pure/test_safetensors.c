/* test_safetensors.c — the safetensors reader and writer.
 *
 * Expected values come from the fixture files themselves (expected.json lists every parameter
 * with its shape; the LoRA expected.json lists the adapter's header entries; the fixture
 * safetensors files were written by the reference Python writer) or from tensors this test
 * builds by hand: nothing is compared against output of the code under test. */
#include "model/weights/safetensors.h"
#include "model/weights/weights.h"
#include "tests/common/fixtures.h"
#include "util/error.h"
#include "util/fileio.h"

#include <criterion/criterion.h>
#include <ftw.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------------------------ */

/* Each test (its own process under Criterion) writes into one fresh folder, removed afterwards. */
static char *test_dir;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void dir_setup(void) { test_dir = test_tmpdir(); }
static void dir_teardown(void) {
    if (test_dir) nftw(test_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(test_dir);
    test_dir = NULL;
}

static char *tmp_file(const char *name) { return vk_path_join(test_dir, name); }

TestSuite(safetensors_fixtures, .init = dir_setup, .fini = dir_teardown);
TestSuite(safetensors_malformed, .init = dir_setup, .fini = dir_teardown);
TestSuite(safetensors_read, .init = dir_setup, .fini = dir_teardown);
TestSuite(safetensors_write, .init = dir_setup, .fini = dir_teardown);


static void write_raw(const char *path, const void *data, size_t len) {
    FILE *fp = fopen(path, "wb");
    cr_assert(fp, "cannot create %s", path);
    cr_assert_eq(fwrite(data, 1, len, fp), len);
    fclose(fp);
}

/* A safetensors file from a header text and `data_len` bytes of data (bytes 0, 1, 2, ...).
 * The header length field is the text's length unless `forced_len` is non-zero. */
static char *make_file(const char *name, const char *header, size_t data_len, uint64_t forced_len) {
    size_t hl = strlen(header);
    uint64_t n = forced_len ? forced_len : hl;
    unsigned char *buf = malloc(8 + hl + data_len + 1);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(n >> (8 * i));
    memcpy(buf + 8, header, hl);
    for (size_t i = 0; i < data_len; i++) buf[8 + hl + i] = (unsigned char)i;
    char *path = tmp_file(name);
    write_raw(path, buf, 8 + hl + data_len);
    free(buf);
    return path;
}

/* The file must be refused, with a message naming it and containing every fragment given. */
static void expect_rejected(const char *path, const char *frag1, const char *frag2) {
    vk_err_clear();
    vk_weights *w = vk_weights_open(path);
    cr_assert_null(w, "%s was accepted", path);
    const char *msg = vk_err_msg();
    cr_expect(strstr(msg, path) != NULL, "message does not name the file: %s", msg);
    if (frag1) cr_expect(strstr(msg, frag1) != NULL, "message lacks '%s': %s", frag1, msg);
    if (frag2) cr_expect(strstr(msg, frag2) != NULL, "message lacks '%s': %s", frag2, msg);
    /* The direct entry point must agree with the dispatcher. */
    cr_expect_null(vk_safetensors_open(path));
}

static char *read_all(const char *path, size_t *len) {
    char *b = vk_read_file(path, len, 0);
    cr_assert(b, "%s", vk_err_msg());
    return b;
}

static uint64_t header_len_of(const unsigned char *b) {
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | b[i];
    return n;
}

static int count_dir_entries(const char *dir) {
    DIR *d = opendir(dir);
    cr_assert(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

/* ---- writer, round trip ------------------------------------------------------------------- */

Test(safetensors_write, round_trip_values_order_padding_metadata) {
    float f32[6] = {1.5f, -2.25f, 3.0f, 0.0f, -0.0f, 1e-30f};
    int64_t i64[4] = {INT64_MIN, -1, 0, INT64_MAX};
    uint8_t u8[5] = {0, 1, 127, 128, 255};
    uint16_t bf16[3] = {0x3f80, 0xc000, 0x7f80};
    double f64 = 3.141592653589793;
    vk_tensor_view in[] = {
        {.name = "a.f32", .dtype = VK_DTYPE_F32, .ndim = 2, .shape = {2, 3}, .data = f32, .nbytes = sizeof f32},
        {.name = "z.i64", .dtype = VK_DTYPE_I64, .ndim = 1, .shape = {4}, .data = i64, .nbytes = sizeof i64},
        {.name = "b.u8", .dtype = VK_DTYPE_U8, .ndim = 1, .shape = {5}, .data = u8, .nbytes = sizeof u8},
        {.name = "c.bf16", .dtype = VK_DTYPE_BF16, .ndim = 1, .shape = {3}, .data = bf16, .nbytes = sizeof bf16},
        {.name = "scalar", .dtype = VK_DTYPE_F64, .ndim = 0, .data = &f64, .nbytes = sizeof f64},
        {.name = "empty", .dtype = VK_DTYPE_BOOL, .ndim = 2, .shape = {0, 7}, .data = NULL, .nbytes = 0},
        {.name = "a.f32b", .dtype = VK_DTYPE_F32, .ndim = 1, .shape = {1}, .data = f32, .nbytes = 4},
    };
    size_t n = sizeof in / sizeof *in;
    char *path = tmp_file("rt.safetensors");
    cr_assert_eq(vk_safetensors_write(path, in, n, NULL, 0), 0, "%s", vk_err_msg());

    /* The reference order: dtype descending in the crate's Dtype order (BOOL < U8 < ... < BF16 <
     * I32 < U32 < F32 < C64 < F64 < I64 < U64), then name. */
    static const char *const order[] = {"z.i64", "scalar", "a.f32", "a.f32b", "c.bf16", "b.u8", "empty"};
    vk_weights *w = vk_weights_open(path);
    cr_assert_not_null(w, "%s", vk_err_msg());
    cr_assert_eq(vk_weights_format_of(w), VK_WEIGHTS_SAFETENSORS);
    cr_assert_eq(vk_weights_count(w), n);
    for (size_t i = 0; i < n; i++) cr_expect_str_eq(vk_weights_tensor(w, i)->name, order[i], "position %zu", i);
    for (size_t i = 0; i < n; i++) {
        const vk_tensor_view *t = vk_weights_find(w, in[i].name);
        cr_assert_not_null(t, "%s missing", in[i].name);
        cr_expect_eq(t->dtype, in[i].dtype);
        cr_expect_eq(t->ndim, in[i].ndim);
        for (int d = 0; d < in[i].ndim; d++) cr_expect_eq(t->shape[d], in[i].shape[d]);
        cr_expect_eq(t->nbytes, in[i].nbytes);
        if (in[i].nbytes) cr_expect_eq(memcmp(t->data, in[i].data, in[i].nbytes), 0, "%s values differ", in[i].name);
        /* The reference layout keeps every tensor aligned to its element size. */
        cr_expect_eq((uintptr_t)t->data % vk_dtype_size(t->dtype), 0, "%s misaligned", t->name);
    }
    cr_expect_null(vk_weights_find(w, "nope"));
    cr_expect_eq(vk_weights_metadata_count(w), 1);
    cr_expect_str_eq(vk_weights_metadata_get(w, "format"), "pt");
    vk_weights_close(w);

    /* On disk: header length a multiple of 8, padded with spaces, __metadata__ first, and the
     * data region exactly the tensors' bytes. */
    size_t len;
    unsigned char *b = (unsigned char *)read_all(path, &len);
    uint64_t hl = header_len_of(b);
    cr_expect_eq(hl % 8, 0, "header length %llu", (unsigned long long)hl);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += in[i].nbytes;
    cr_expect_eq(len, 8 + hl + total);
    const char *head = "{\"__metadata__\":{\"format\":\"pt\"},\"z.i64\":";
    cr_expect_eq(memcmp(b + 8, head, strlen(head)), 0, "header starts: %.60s", b + 8);
    const unsigned char *jend = b + 8; /* the JSON ends at its last closing brace */
    for (const unsigned char *p = b + 8; p < b + 8 + hl; p++)
        if (*p == '}') jend = p;
    for (const unsigned char *p = jend + 1; p < b + 8 + hl; p++) cr_expect_eq(*p, ' ', "padding byte is not a space");
    free(b);
    free(path);
}

Test(safetensors_write, exact_header_bytes) {
    /* What the reference writer produces for these two tensors (checked by hand against
     * safetensors/src/tensor.rs: compact serde_json, dtype-descending order, space padding). */
    int32_t i32[2] = {1, 2};
    uint8_t u8[3] = {7, 8, 9};
    vk_tensor_view in[] = {
        {.name = "b", .dtype = VK_DTYPE_U8, .ndim = 1, .shape = {3}, .data = u8, .nbytes = 3},
        {.name = "a", .dtype = VK_DTYPE_I32, .ndim = 2, .shape = {1, 2}, .data = i32, .nbytes = 8},
    };
    char *path = tmp_file("exact.safetensors");
    cr_assert_eq(vk_safetensors_write(path, in, 2, NULL, 0), 0, "%s", vk_err_msg());
    const char *want = "{\"__metadata__\":{\"format\":\"pt\"},\"a\":{\"dtype\":\"I32\",\"shape\":[1,2],\"data_offsets\":[0,8]},"
                       "\"b\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[8,11]}}";
    size_t wl = strlen(want), padded = (wl + 7) / 8 * 8, len;
    unsigned char *b = (unsigned char *)read_all(path, &len);
    cr_assert_eq(header_len_of(b), padded);
    cr_expect_eq(memcmp(b + 8, want, wl), 0, "header: %.*s", (int)padded, b + 8);
    for (size_t i = wl; i < padded; i++) cr_expect_eq(b[8 + i], ' ');
    cr_assert_eq(len, 8 + padded + 11);
    cr_expect_eq(memcmp(b + 8 + padded, i32, 8), 0);
    cr_expect_eq(memcmp(b + 8 + padded + 8, u8, 3), 0);
    free(b);
    free(path);
}

Test(safetensors_write, user_metadata_and_escaping) {
    float v = 1.0f;
    vk_tensor_view t = {.name = "we\"ird\\name\n\x01", .dtype = VK_DTYPE_F32, .ndim = 1, .shape = {1}, .data = &v, .nbytes = 4};
    vk_safetensors_kv meta[] = {{"format", "pt"}, {"note", "tab\there \"quoted\" \xc3\xa9t\xc3\xa9"}, {"k\\", "\x1f"}};
    char *path = tmp_file("meta.safetensors");
    cr_assert_eq(vk_safetensors_write(path, &t, 1, meta, 3), 0, "%s", vk_err_msg());
    vk_weights *w = vk_weights_open(path);
    cr_assert_not_null(w, "%s", vk_err_msg());
    cr_assert_eq(vk_weights_metadata_count(w), 3);
    for (size_t i = 0; i < 3; i++) {
        const char *k, *val;
        cr_assert_eq(vk_weights_metadata_at(w, i, &k, &val), 0);
        cr_expect_str_eq(k, meta[i].key);
        cr_expect_str_eq(val, meta[i].value);
    }
    cr_expect_not_null(vk_weights_find(w, t.name));
    vk_weights_close(w);
    /* serde_json's escapes: \" \\ \n \t and \u00xx (lower case) for other control bytes. */
    size_t len;
    char *b = read_all(path, &len);
    cr_expect(memmem(b, len, "\"we\\\"ird\\\\name\\n\\u0001\"", 23) != NULL);
    cr_expect(memmem(b, len, "\"k\\\\\":\"\\u001f\"", 14) != NULL);
    free(b);
    free(path);
}

Test(safetensors_write, refuses_bad_input_and_leaves_nothing) {
    float v[2] = {1, 2};
    char *dir = tmp_file("out");
    cr_assert_eq(mkdir(dir, 0700), 0);
    char *path = vk_path_join(dir, "bad.safetensors");
    vk_tensor_view dup[] = {
        {.name = "x", .dtype = VK_DTYPE_F32, .ndim = 1, .shape = {1}, .data = v, .nbytes = 4},
        {.name = "x", .dtype = VK_DTYPE_F32, .ndim = 1, .shape = {1}, .data = v + 1, .nbytes = 4},
    };
    cr_expect_eq(vk_safetensors_write(path, dup, 2, NULL, 0), -1);
    cr_expect(strstr(vk_err_msg(), "'x' given twice"), "%s", vk_err_msg());
    vk_tensor_view size = {.name = "s", .dtype = VK_DTYPE_F32, .ndim = 1, .shape = {3}, .data = v, .nbytes = 8};
    cr_expect_eq(vk_safetensors_write(path, &size, 1, NULL, 0), -1);
    cr_expect(strstr(vk_err_msg(), "'s'") && strstr(vk_err_msg(), "12 bytes"), "%s", vk_err_msg());
    vk_tensor_view meta = {.name = "__metadata__", .dtype = VK_DTYPE_F32, .ndim = 1, .shape = {1}, .data = v, .nbytes = 4};
    cr_expect_eq(vk_safetensors_write(path, &meta, 1, NULL, 0), -1);
    vk_tensor_view neg = {.name = "n", .dtype = VK_DTYPE_F32, .ndim = 1, .shape = {-1}, .data = v, .nbytes = 4};
    cr_expect_eq(vk_safetensors_write(path, &neg, 1, NULL, 0), -1);
    vk_safetensors_kv kv[] = {{"a", "1"}, {"a", "2"}};
    cr_expect_eq(vk_safetensors_write(path, dup, 1, kv, 2), -1);
    cr_expect_eq(count_dir_entries(dir), 0, "a refused write left a file behind");
    /* A directory that does not exist: the error names the path. */
    cr_expect_eq(vk_safetensors_write("/nonexistent-dir/x.safetensors", dup, 1, NULL, 0), -1);
    cr_expect(strstr(vk_err_msg(), "/nonexistent-dir/x.safetensors"), "%s", vk_err_msg());
    free(path);
    free(dir);
}

Test(safetensors_write, replaces_atomically) {
    char *dir = tmp_file("out");
    cr_assert_eq(mkdir(dir, 0700), 0);
    char *path = vk_path_join(dir, "m.safetensors");
    write_raw(path, "old", 3);
    int64_t v = 42;
    vk_tensor_view t = {.name = "v", .dtype = VK_DTYPE_I64, .ndim = 0, .data = &v, .nbytes = 8};
    cr_assert_eq(vk_safetensors_write(path, &t, 1, NULL, 0), 0, "%s", vk_err_msg());
    cr_expect_eq(count_dir_entries(dir), 1, "temporary file left behind");
    vk_weights *w = vk_weights_open(path);
    cr_assert_not_null(w, "%s", vk_err_msg());
    cr_expect_eq(*(const int64_t *)vk_weights_find(w, "v")->data, 42);
    vk_weights_close(w);
    free(path);
    free(dir);
}

/* A write that fails midway (here: the file-size limit, standing in for a full disk) reports the
 * path and leaves the previous file untouched and no temporary file behind. */
Test(safetensors_write, failed_write_keeps_old_file) {
    char *dir = tmp_file("out");
    cr_assert_eq(mkdir(dir, 0700), 0);
    char *path = vk_path_join(dir, "m.safetensors");
    write_raw(path, "old", 3);
    size_t n = 1 << 20;
    unsigned char *big = calloc(n, 1);
    vk_tensor_view t = {.name = "big", .dtype = VK_DTYPE_U8, .ndim = 1, .shape = {(int64_t)n}, .data = big, .nbytes = n};
    signal(SIGXFSZ, SIG_IGN); /* let write() fail with EFBIG instead of killing the process */
    struct rlimit lim = {4096, 4096};
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    cr_expect_eq(vk_safetensors_write(path, &t, 1, NULL, 0), -1);
    cr_expect(strstr(vk_err_msg(), path) && strstr(vk_err_msg(), "write failed"), "%s", vk_err_msg());
    size_t len;
    char *b = read_all(path, &len);
    cr_expect(len == 3 && memcmp(b, "old", 3) == 0, "the old file was replaced");
    cr_expect_eq(count_dir_entries(dir), 1, "temporary file left behind");
    free(b);
    free(big);
    free(path);
    free(dir);
}

/* ---- the fixture files ----------------------------------------------------------------------- */

static const char *const fixture_files[] = {
    "blip-tiny/captioning/model/model.safetensors", "blip-tiny/captioning/lora/merged/model.safetensors",
    "blip-tiny/captioning/lora/adapter/adapter_model.safetensors", "blip-tiny/vqa/model/model.safetensors",
    "blip-tiny/itm/model/model.safetensors", "blip-tiny/captioning/expected.safetensors",
    "blip-tiny/captioning/lora/expected.safetensors", "blip-tiny/vqa/expected.safetensors",
    "blip-tiny/itm/expected.safetensors", "blip-tiny/preprocess/expected.safetensors",
};

/* Every fixture file was written by the reference writer (safetensors 0.4 via transformers /
 * safetensors.torch.save_file). Reading it and writing its tensors back must reproduce it byte
 * for byte: this pins the writer's order (F32 / I64 / U8 mixes), header form and padding. */
Test(safetensors_fixtures, rewrite_is_byte_identical_to_reference_writer) {
    for (size_t f = 0; f < sizeof fixture_files / sizeof *fixture_files; f++) {
        const char *src = fixture_path(fixture_files[f]);
        vk_weights *w = vk_weights_open(src);
        cr_assert_not_null(w, "%s", vk_err_msg());
        size_t n = vk_weights_count(w);
        vk_tensor_view *ts = malloc((n ? n : 1) * sizeof *ts);
        for (size_t i = 0; i < n; i++) ts[i] = *vk_weights_tensor(w, i);
        size_t nm = vk_weights_metadata_count(w);
        vk_safetensors_kv *kv = malloc((nm ? nm : 1) * sizeof *kv);
        for (size_t i = 0; i < nm; i++) vk_weights_metadata_at(w, i, &kv[i].key, &kv[i].value);
        char *out = tmp_file("rewrite.safetensors");
        cr_assert_eq(vk_safetensors_write(out, ts, n, kv, nm), 0, "%s", vk_err_msg());
        size_t la, lb;
        char *a = read_all(src, &la), *b = read_all(out, &lb);
        cr_expect(la == lb && memcmp(a, b, la) == 0, "%s: rewrite differs from the reference file", src);
        free(a);
        free(b);
        free(out);
        free(kv);
        free(ts);
        vk_weights_close(w);
    }
}

static const cJSON *json_at(const cJSON *j, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    cr_assert_not_null(v, "fixture JSON lacks '%s'", key);
    return v;
}

static void expect_shape(const vk_tensor_view *t, const cJSON *shape) {
    cr_assert_eq(t->ndim, cJSON_GetArraySize(shape), "%s: ndim", t->name);
    int d = 0;
    for (const cJSON *x = shape->child; x; x = x->next, d++)
        cr_expect_eq(t->shape[d], (int64_t)x->valuedouble, "%s: dim %d", t->name, d);
}

/* Names and shapes of a model file = the parameters listed by expected.json ("grad.<name>" for
 * every parameter, with its shape), its count = saved_keys.num_saved_tensors, its metadata =
 * saved_keys.safetensors_metadata, its first keys = saved_keys.first_keys_in_file_order, and the
 * file order is by name (all tensors are F32). */
static void check_model_file(const char *model_rel, const char *expected_rel, int have_grads) {
    cJSON *exp = fixture_json(expected_rel);
    const cJSON *saved = json_at(exp, "saved_keys");
    vk_weights *w = vk_weights_open(fixture_path(model_rel));
    cr_assert_not_null(w, "%s", vk_err_msg());
    size_t n = vk_weights_count(w);
    cr_expect_eq(n, (size_t)json_at(saved, "num_saved_tensors")->valuedouble, "%s: tensor count", model_rel);
    const cJSON *meta = json_at(saved, "safetensors_metadata");
    cr_expect_eq(vk_weights_metadata_count(w), (size_t)cJSON_GetArraySize(meta));
    for (const cJSON *kv = meta->child; kv; kv = kv->next) {
        const char *got = vk_weights_metadata_get(w, kv->string);
        cr_expect(got && strcmp(got, kv->valuestring) == 0, "metadata %s", kv->string);
    }
    int i = 0;
    for (const cJSON *k = json_at(saved, "first_keys_in_file_order")->child; k; k = k->next, i++)
        cr_expect_str_eq(vk_weights_tensor(w, (size_t)i)->name, k->valuestring);
    for (size_t k = 1; k < n; k++)
        cr_expect_lt(strcmp(vk_weights_tensor(w, k - 1)->name, vk_weights_tensor(w, k)->name), 0, "file order");
    if (have_grads) {
        size_t grads = 0;
        for (const cJSON *t = json_at(exp, "tensors")->child; t; t = t->next) {
            if (strncmp(t->string, "grad.", 5) != 0) continue;
            grads++;
            const vk_tensor_view *v = vk_weights_find(w, t->string + 5);
            cr_assert_not_null(v, "%s: parameter %s missing", model_rel, t->string + 5);
            cr_expect_eq(v->dtype, VK_DTYPE_F32);
            expect_shape(v, json_at(t, "shape"));
            cr_expect_eq(v->nbytes, (size_t)vk_tensor_numel(v) * 4);
        }
        cr_expect_eq(grads, n, "%s: every saved tensor is a parameter with a gradient", model_rel);
    }
    vk_weights_close(w);
    cJSON_Delete(exp);
}

Test(safetensors_fixtures, captioning_model) {
    check_model_file("blip-tiny/captioning/model/model.safetensors", "blip-tiny/captioning/expected.json", 1);
}
Test(safetensors_fixtures, vqa_model) {
    check_model_file("blip-tiny/vqa/model/model.safetensors", "blip-tiny/vqa/expected.json", 1);
}
Test(safetensors_fixtures, itm_model) {
    check_model_file("blip-tiny/itm/model/model.safetensors", "blip-tiny/itm/expected.json", 0);
}

/* The adapter: every header entry (dtype, shape, data_offsets) as lora/expected.json records it,
 * and every value equal to the live PEFT parameter saved in lora/expected.safetensors
 * ("param.<name with .default>"). */
Test(safetensors_fixtures, lora_adapter) {
    cJSON *exp = fixture_json("blip-tiny/captioning/lora/expected.json");
    const cJSON *keys = json_at(exp, "adapter_safetensors_keys");
    vk_weights *w = vk_weights_open(fixture_path("blip-tiny/captioning/lora/adapter/adapter_model.safetensors"));
    cr_assert_not_null(w, "%s", vk_err_msg());
    vk_weights *e = vk_weights_open(fixture_path("blip-tiny/captioning/lora/expected.safetensors"));
    cr_assert_not_null(e, "%s", vk_err_msg());
    cr_expect_eq(vk_weights_count(w), (size_t)cJSON_GetArraySize(keys));
    const char *base = vk_weights_tensor(w, 0)->data; /* offset 0 of the data region */
    for (const cJSON *k = keys->child; k; k = k->next) {
        const vk_tensor_view *v = vk_weights_find(w, k->string);
        cr_assert_not_null(v, "%s missing", k->string);
        cr_expect_str_eq(vk_dtype_name(v->dtype), json_at(k, "dtype")->valuestring);
        expect_shape(v, json_at(k, "shape"));
        const cJSON *off = json_at(k, "data_offsets");
        cr_expect_eq((const char *)v->data - base, (ptrdiff_t)off->child->valuedouble, "%s begin", k->string);
        cr_expect_eq(v->nbytes, (size_t)(off->child->next->valuedouble - off->child->valuedouble));
        /* "....lora_A.weight" -> "param.....lora_A.default.weight" */
        char live[1024];
        size_t L = strlen(k->string) - strlen(".weight");
        snprintf(live, sizeof live, "param.%.*s.default.weight", (int)L, k->string);
        const vk_tensor_view *p = vk_weights_find(e, live);
        cr_assert_not_null(p, "%s missing from lora/expected.safetensors", live);
        cr_assert_eq(p->nbytes, v->nbytes);
        cr_expect_eq(memcmp(p->data, v->data, v->nbytes), 0, "%s values", k->string);
    }
    const cJSON *meta = json_at(exp, "adapter_safetensors_metadata");
    for (const cJSON *kv = meta->child; kv; kv = kv->next)
        cr_expect_str_eq(vk_weights_metadata_get(w, kv->string), kv->valuestring);
    vk_weights_close(e);
    vk_weights_close(w);
    cJSON_Delete(exp);
}

/* The merged model has the base model's names and shapes; exactly the keys in
 * merged_model_changed_keys differ from the base, all others are bitwise equal. */
Test(safetensors_fixtures, lora_merged) {
    cJSON *exp = fixture_json("blip-tiny/captioning/lora/expected.json");
    const cJSON *changed = json_at(exp, "merged_model_changed_keys");
    vk_weights *base = vk_weights_open(fixture_path("blip-tiny/captioning/model/model.safetensors"));
    vk_weights *m = vk_weights_open(fixture_path("blip-tiny/captioning/lora/merged/model.safetensors"));
    cr_assert(base && m, "%s", vk_err_msg());
    cr_assert_eq(vk_weights_count(m), vk_weights_count(base));
    size_t ndiff = 0;
    for (size_t i = 0; i < vk_weights_count(base); i++) {
        const vk_tensor_view *b = vk_weights_tensor(base, i), *t = vk_weights_find(m, b->name);
        cr_assert_not_null(t, "%s missing from merged", b->name);
        cr_assert_eq(t->ndim, b->ndim);
        cr_expect_eq(memcmp(t->shape, b->shape, sizeof t->shape), 0);
        cr_assert_eq(t->nbytes, b->nbytes);
        int differs = memcmp(t->data, b->data, b->nbytes) != 0, listed = 0;
        for (const cJSON *c = changed->child; c; c = c->next) listed |= strcmp(c->valuestring, b->name) == 0;
        cr_expect_eq(differs, listed, "%s: differs=%d, listed as changed=%d", b->name, differs, listed);
        ndiff += (size_t)differs;
    }
    cr_expect_eq(ndiff, (size_t)cJSON_GetArraySize(changed));
    vk_weights_close(m);
    vk_weights_close(base);
    cJSON_Delete(exp);
}

/* ---- malformed files ---------------------------------------------------------------------- */

#define T1 "\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}"

Test(safetensors_malformed, empty_file) {
    char *p = make_file("empty.safetensors", "", 0, 0);
    write_raw(p, "", 0);
    expect_rejected(p, "too short", NULL);
    free(p);
}

Test(safetensors_malformed, truncated_length_field) {
    char *p = tmp_file("short.safetensors");
    write_raw(p, "\x10\x00\x00", 3);
    expect_rejected(p, "too short", NULL);
    free(p);
}

Test(safetensors_malformed, truncated_data) {
    /* A valid file cut 3 bytes short: the last tensor's span now runs past the data. */
    char *p = make_file("trunc.safetensors", "{" T1 ",\"u\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 13, 0);
    expect_rejected(p, "tensor 'u'", "past the end");
    free(p);
}

Test(safetensors_malformed, truncated_header) {
    const char *h = "{" T1 "}";
    char *p = make_file("trunch.safetensors", h, 0, 0);
    /* Keep the length field, drop most of the header. */
    write_raw(p, (const char[]){(char)strlen(h), 0, 0, 0, 0, 0, 0, 0, '{', '"'}, 10);
    expect_rejected(p, "runs past the end of the file", NULL);
    free(p);
}

Test(safetensors_malformed, header_length_past_end) {
    char *p = make_file("past.safetensors", "{" T1 "}", 8, 4096);
    expect_rejected(p, "header length 4096 runs past the end", NULL);
    free(p);
}

Test(safetensors_malformed, absurd_header_length) {
    char *p = make_file("absurd.safetensors", "{" T1 "}", 8, 0x7fffffffffffffffull);
    expect_rejected(p, "100 MB", NULL);
    free(p);
    p = make_file("absurd2.safetensors", "{" T1 "}", 8, 100000001ull);
    expect_rejected(p, "100 MB", NULL);
    free(p);
}

Test(safetensors_malformed, bad_json) {
    char *p = make_file("badjson.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],", 8, 0);
    expect_rejected(p, "not valid JSON", NULL);
    free(p);
}

Test(safetensors_malformed, trailing_garbage_after_json) {
    char *p = make_file("trail.safetensors", "{" T1 "}  x", 8, 0);
    expect_rejected(p, "after its JSON value", NULL);
    free(p);
}

Test(safetensors_malformed, non_object_header) {
    char *p = make_file("array.safetensors", "[1, 2, 3]", 0, 0);
    expect_rejected(p, "not a JSON object", "a list");
    free(p);
}

Test(safetensors_malformed, unknown_dtype) {
    char *p = make_file("dtype.safetensors", "{\"w\":{\"dtype\":\"F31\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0);
    expect_rejected(p, "tensor 'w'", "unknown dtype 'F31'");
    free(p);
}

Test(safetensors_malformed, sub_byte_dtype_is_named_as_unsupported) {
    char *p = make_file("f4.safetensors", "{\"w\":{\"dtype\":\"F4\",\"shape\":[2],\"data_offsets\":[0,1]}}", 1, 0);
    expect_rejected(p, "tensor 'w'", "not supported");
    free(p);
}

Test(safetensors_malformed, overlapping_spans) {
    char *p = make_file("overlap.safetensors",
                        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                        "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                        12, 0);
    expect_rejected(p, "tensor 'b'", "overlap tensor 'a'");
    free(p);
}

Test(safetensors_malformed, hole_between_spans) {
    char *p = make_file("hole.safetensors",
                        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                        "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
                        12, 0);
    expect_rejected(p, "tensor 'b'", "hole");
    free(p);
}

Test(safetensors_malformed, hole_at_start) {
    char *p = make_file("hole0.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, 0);
    expect_rejected(p, "tensor 'a'", "hole");
    free(p);
}

Test(safetensors_malformed, trailing_bytes_after_last_span) {
    char *p = make_file("tail.safetensors", "{" T1 "}", 12, 0);
    expect_rejected(p, "4 trailing bytes", NULL);
    free(p);
}

Test(safetensors_malformed, span_past_end) {
    char *p = make_file("spanend.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, 0);
    expect_rejected(p, "tensor 't'", "past the end of the data");
    free(p);
}

Test(safetensors_malformed, shape_size_mismatch) {
    char *p = make_file("mismatch.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, 0);
    expect_rejected(p, "tensor 't'", "needs 12 bytes");
    free(p);
}

Test(safetensors_malformed, shape_overflow) {
    char *p = make_file("overflow.safetensors",
                        "{\"t\":{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 8, 0);
    expect_rejected(p, "tensor 't'", NULL);
    free(p);
}

Test(safetensors_malformed, end_before_begin) {
    char *p = make_file("rev.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", 8, 0);
    expect_rejected(p, "tensor 't'", "end before");
    free(p);
}

Test(safetensors_malformed, duplicate_key) {
    char *p = make_file("dup.safetensors",
                        "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                        "\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                        8, 0);
    expect_rejected(p, "tensor 't'", "more than once");
    free(p);
}

Test(safetensors_malformed, garbage) {
    /* Deterministic pseudo-random bytes whose length field is small enough to reach the parser. */
    unsigned char buf[4096];
    uint32_t s = 12345;
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)((s = s * 1103515245u + 12345u) >> 16);
    memcpy(buf, "\x00\x08\x00\x00\x00\x00\x00\x00", 8); /* 2048-byte "header" of noise */
    char *p = tmp_file("garbage.safetensors");
    write_raw(p, buf, sizeof buf);
    expect_rejected(p, "header", NULL);
    /* And noise all the way, length field included. */
    buf[0] = 0xd1, buf[1] = 0x5e;
    buf[5] = 0x33;
    write_raw(p, buf, sizeof buf);
    expect_rejected(p, NULL, NULL);
    free(p);
}

Test(safetensors_malformed, non_string_metadata) {
    char *p = make_file("meta.safetensors", "{\"__metadata__\":{\"format\":1}," T1 "}", 8, 0);
    expect_rejected(p, "__metadata__", "'format' is a number");
    free(p);
    p = make_file("meta2.safetensors", "{\"__metadata__\":[\"pt\"]," T1 "}", 8, 0);
    expect_rejected(p, "__metadata__", "a list");
    free(p);
}

Test(safetensors_malformed, negative_dim) {
    char *p = make_file("neg.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, 0);
    expect_rejected(p, "tensor 't'", "dimension 0 is -2");
    free(p);
}

Test(safetensors_malformed, non_integer_dim) {
    char *p = make_file("frac.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[2,1.5],\"data_offsets\":[0,8]}}", 8, 0);
    expect_rejected(p, "tensor 't'", "dimension 1 is 1.5");
    free(p);
    p = make_file("strdim.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8, 0);
    expect_rejected(p, "tensor 't'", "a string");
    free(p);
}

Test(safetensors_malformed, too_many_dims) {
    char *p = make_file("dims.safetensors",
                        "{\"t\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1, 0);
    expect_rejected(p, "tensor 't'", "9 dimensions");
    free(p);
}

Test(safetensors_malformed, missing_field_and_wrong_types) {
    char *p = make_file("nofield.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, 0);
    expect_rejected(p, "tensor 't'", "data_offsets");
    free(p);
    p = make_file("entry.safetensors", "{\"t\":[0,8]}", 8, 0);
    expect_rejected(p, "tensor 't'", "not an object");
    free(p);
    p = make_file("offs.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, 0);
    expect_rejected(p, "tensor 't'", "data_offsets");
    free(p);
}

Test(safetensors_malformed, invalid_utf8_and_nul_in_header) {
    char *p = make_file("utf8.safetensors", "{\"t\xff\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0);
    expect_rejected(p, "UTF-8", NULL);
    free(p);
    /* A NUL inside the header would cut a C string parser short: refused as such. */
    char h[] = "{" T1 "}";
    h[1] = 0; /* make_file measures with strlen, so write it by hand */
    unsigned char buf[8 + sizeof h - 1 + 8] = {(unsigned char)(sizeof h - 1)};
    memcpy(buf + 8, h, sizeof h - 1);
    p = tmp_file("nul.safetensors");
    write_raw(p, buf, sizeof buf);
    expect_rejected(p, "NUL", NULL);
    free(p);
}

Test(safetensors_malformed, missing_file) {
    vk_err_clear();
    cr_expect_null(vk_weights_open("/nonexistent/model.safetensors"));
    cr_expect(strstr(vk_err_msg(), "/nonexistent/model.safetensors"), "%s", vk_err_msg());
}

Test(safetensors_read, empty_header_object_and_zero_tensors) {
    /* Legal edge cases: no tensors at all; a zero-size tensor. */
    char *p = make_file("none.safetensors", "{}      ", 0, 0);
    vk_weights *w = vk_weights_open(p);
    cr_assert_not_null(w, "%s", vk_err_msg());
    cr_expect_eq(vk_weights_count(w), 0);
    vk_weights_close(w);
    free(p);
    p = make_file("zero.safetensors", "{\"z\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[0,0]}," T1 "}", 8, 0);
    w = vk_weights_open(p);
    cr_assert_not_null(w, "%s", vk_err_msg());
    cr_expect_eq(vk_weights_find(w, "z")->nbytes, 0);
    cr_expect_eq(vk_tensor_numel(vk_weights_find(w, "z")), 0);
    const float *t = vk_weights_find(w, "t")->data;
    unsigned char b0[4] = {0, 1, 2, 3};
    cr_expect_eq(memcmp(t, b0, 4), 0);
    vk_weights_close(w);
    free(p);
}
