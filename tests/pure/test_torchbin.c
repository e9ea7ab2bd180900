/* test_torchbin.c — PyTorch zip checkpoints (pytorch_model.bin) and the restricted unpickler.
 *
 * The fixture pytorch_model.bin (written by torch.save through transformers) must give exactly the
 * tensors of the fixture model.safetensors. Everything else is built here by hand, byte by byte: a
 * small zip writer (stored / deflated / zip64 records) and pickle opcodes, so each test knows the
 * values it expects without running the code under test. */
#include "model/weights/pickle.h"
#include "model/weights/torchbin.h"
#include "model/weights/weights.h"
#include "tests/common/fixtures.h"
#include "util/error.h"
#include "util/fileio.h"

#include <criterion/criterion.h>
#include <ftw.h>
#include <sys/stat.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* ---- byte buffers ------------------------------------------------------------------------- */

typedef struct {
    unsigned char *b;
    size_t n, cap;
} buf;

static void put(buf *o, const void *p, size_t n) {
    if (o->n + n > o->cap) {
        o->cap = (o->n + n) * 2 + 64;
        o->b = realloc(o->b, o->cap);
        cr_assert(o->b);
    }
    memcpy(o->b + o->n, p, n);
    o->n += n;
}
static void put1(buf *o, unsigned v) { unsigned char c = (unsigned char)v; put(o, &c, 1); }
static void putle(buf *o, uint64_t v, int n) {
    for (int i = 0; i < n; i++) put1(o, (unsigned)(v >> (8 * i)) & 0xff);
}
static void puts_(buf *o, const char *s) { put(o, s, strlen(s)); }

/* ---- a minimal zip writer --------------------------------------------------------------------- */

typedef struct {
    const char *name;
    const void *data;
    size_t len;
} zentry;

enum { Z_STORED_ALL = 0, Z_DEFLATE_ALL = 1, Z_ZIP64 = 2 };

/* Local headers carry zero sizes and flag bit 3, as PyTorch's writer does: readers must take
 * sizes from the central directory. Z_ZIP64 puts every size/offset in zip64 extra fields. */
static buf make_zip(const zentry *es, size_t n, int mode) {
    buf z = {0}, cd = {0};
    for (size_t i = 0; i < n; i++) {
        const zentry *e = &es[i];
        uint32_t crc = (uint32_t)crc32(0, e->data, (uInt)e->len);
        buf payload = {0};
        int method = 0;
        if (mode == Z_DEFLATE_ALL) {
            z_stream s = {0};
            cr_assert_eq(deflateInit2(&s, 9, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
            uLong bound = deflateBound(&s, (uLong)e->len);
            payload.b = malloc(bound + 1);
            s.next_in = (unsigned char *)e->data;
            s.avail_in = (uInt)e->len;
            s.next_out = payload.b;
            s.avail_out = (uInt)bound;
            cr_assert_eq(deflate(&s, Z_FINISH), Z_STREAM_END);
            payload.n = s.total_out;
            deflateEnd(&s);
            method = 8;
        } else {
            put(&payload, e->data, e->len);
        }
        size_t local = z.n, nlen = strlen(e->name);
        putle(&z, 0x04034b50, 4);
        putle(&z, 20, 2), putle(&z, 8, 2), putle(&z, (uint64_t)method, 2), putle(&z, 0, 4);
        putle(&z, 0, 4), putle(&z, 0, 4), putle(&z, 0, 4); /* crc, sizes: in the data descriptor */
        /* Align the data to 64 bytes with an extra field of 'Z's, as torch's writer does. */
        size_t pad = (64 - (local + 30 + nlen + 4) % 64) % 64 + 4;
        putle(&z, nlen, 2), putle(&z, pad, 2);
        puts_(&z, e->name);
        putle(&z, 0x4246, 2), putle(&z, pad - 4, 2);
        for (size_t k = 4; k < pad; k++) put1(&z, 'Z');
        put(&z, payload.b, payload.n);
        putle(&z, 0x08074b50, 4), putle(&z, crc, 4), putle(&z, payload.n, 4), putle(&z, e->len, 4);

        int z64 = mode == Z_ZIP64;
        putle(&cd, 0x02014b50, 4);
        putle(&cd, z64 ? 45 : 20, 2), putle(&cd, z64 ? 45 : 20, 2), putle(&cd, 8, 2), putle(&cd, (uint64_t)method, 2);
        putle(&cd, 0, 4), putle(&cd, crc, 4);
        putle(&cd, z64 ? 0xFFFFFFFFu : payload.n, 4), putle(&cd, z64 ? 0xFFFFFFFFu : e->len, 4);
        putle(&cd, nlen, 2), putle(&cd, z64 ? 28 : 0, 2), putle(&cd, 0, 2), putle(&cd, 0, 2), putle(&cd, 0, 2);
        putle(&cd, 0, 4), putle(&cd, z64 ? 0xFFFFFFFFu : local, 4);
        puts_(&cd, e->name);
        if (z64) { /* uncompressed, compressed, local offset */
            putle(&cd, 1, 2), putle(&cd, 24, 2);
            putle(&cd, e->len, 8), putle(&cd, payload.n, 8), putle(&cd, local, 8);
        }
        free(payload.b);
    }
    size_t cd_off = z.n;
    put(&z, cd.b, cd.n);
    if (mode == Z_ZIP64) {
        size_t rec = z.n;
        putle(&z, 0x06064b50, 4), putle(&z, 44, 8), putle(&z, 45, 2), putle(&z, 45, 2), putle(&z, 0, 4), putle(&z, 0, 4);
        putle(&z, n, 8), putle(&z, n, 8), putle(&z, cd.n, 8), putle(&z, cd_off, 8);
        putle(&z, 0x07064b50, 4), putle(&z, 0, 4), putle(&z, rec, 8), putle(&z, 1, 4);
    }
    int z64 = mode == Z_ZIP64;
    putle(&z, 0x06054b50, 4), putle(&z, 0, 2), putle(&z, 0, 2);
    putle(&z, z64 ? 0xFFFF : n, 2), putle(&z, z64 ? 0xFFFF : n, 2);
    putle(&z, z64 ? 0xFFFFFFFFu : cd.n, 4), putle(&z, z64 ? 0xFFFFFFFFu : cd_off, 4), putle(&z, 0, 2);
    free(cd.b);
    return z;
}

/* ---- pickle opcodes ------------------------------------------------------------------------- */

static void p_str(buf *p, const char *s) {
    put1(p, 'X');
    putle(p, strlen(s), 4);
    puts_(p, s);
}
static void p_int(buf *p, int64_t v) {
    if (v >= 0 && v < 256) put1(p, 'K'), put1(p, (unsigned)v);
    else if (v >= 0 && v < 65536) put1(p, 'M'), putle(p, (uint64_t)v, 2);
    else if (v >= INT32_MIN && v <= INT32_MAX) put1(p, 'J'), putle(p, (uint64_t)v, 4);
    else put1(p, 0x8a), put1(p, 8), putle(p, (uint64_t)v, 8);
}
static void p_global(buf *p, const char *mod, const char *name) {
    put1(p, 'c');
    puts_(p, mod);
    put1(p, '\n');
    puts_(p, name);
    put1(p, '\n');
}
static void p_tuple(buf *p, int n, const int64_t *v) {
    put1(p, '(');
    for (int i = 0; i < n; i++) p_int(p, v[i]);
    put1(p, 't');
}

typedef struct {
    const char *name, *storage_type, *key;
    int64_t numel, offset;
    int ndim;
    int64_t shape[4], stride[4];
    int as_parameter;
} ptensor;

/* What torch.save writes for one tensor: _rebuild_tensor_v2((pid...), offset, size, stride,
 * requires_grad, OrderedDict()), the globals memoized and fetched back with BINGET as torch does. */
static void p_tensor(buf *p, const ptensor *t) {
    if (t->as_parameter) p_global(p, "torch._utils", "_rebuild_parameter"), put1(p, '(');
    p_global(p, "torch._utils", "_rebuild_tensor_v2");
    put1(p, 'q'), put1(p, 1);
    put1(p, '(');
    put1(p, '(');
    p_str(p, "storage");
    p_global(p, "torch", t->storage_type);
    p_str(p, t->key);
    p_str(p, "cpu");
    p_int(p, t->numel);
    put1(p, 't');
    put1(p, 'Q');
    p_int(p, t->offset);
    p_tuple(p, t->ndim, t->shape);
    p_tuple(p, t->ndim, t->stride);
    put1(p, 0x89);
    p_global(p, "collections", "OrderedDict");
    put1(p, ')'), put1(p, 'R');
    put1(p, 't');
    put1(p, 'R');
    if (t->as_parameter) put1(p, 0x88), p_global(p, "collections", "OrderedDict"), put1(p, ')'), put1(p, 'R'), put1(p, 't'), put1(p, 'R');
}

/* A state dict pickle: OrderedDict() REDUCE, SETITEMS, then BUILD with a `_metadata` state as
 * nn.Module.state_dict() leaves it (plain dict when ordered_dict == 0, as transformers saves). */
static buf p_state_dict(const ptensor *ts, size_t n, int ordered_dict) {
    buf p = {0};
    put1(&p, 0x80), put1(&p, 2);
    if (ordered_dict) p_global(&p, "collections", "OrderedDict"), put1(&p, ')'), put1(&p, 'R');
    else put1(&p, '}');
    put1(&p, '(');
    for (size_t i = 0; i < n; i++) {
        p_str(&p, ts[i].name);
        p_tensor(&p, &ts[i]);
    }
    put1(&p, 'u');
    if (ordered_dict) {
        put1(&p, '}'), p_str(&p, "_metadata"), put1(&p, '}'), p_str(&p, ""), put1(&p, '}');
        p_str(&p, "version"), p_int(&p, 1), put1(&p, 's'), put1(&p, 's'), put1(&p, 's'), put1(&p, 'b');
    }
    put1(&p, '.');
    return p;
}

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

TestSuite(torchbin_corrupt, .init = dir_setup, .fini = dir_teardown);
TestSuite(torchbin_fixture, .init = dir_setup, .fini = dir_teardown);
TestSuite(torchbin_pickle, .init = dir_setup, .fini = dir_teardown);
TestSuite(torchbin_views, .init = dir_setup, .fini = dir_teardown);


static char *write_tmp(const char *name, const buf *b) {
    char *path = tmp_file(name);
    FILE *fp = fopen(path, "wb");
    cr_assert(fp);
    cr_assert_eq(fwrite(b->b, 1, b->n, fp), b->n);
    fclose(fp);
    return path;
}

static void expect_rejected(const char *path, const char *frag1, const char *frag2) {
    vk_err_clear();
    vk_weights *w = vk_weights_open(path);
    cr_assert_null(w, "%s was accepted", path);
    const char *msg = vk_err_msg();
    cr_expect(strstr(msg, path) != NULL, "message does not name the file: %s", msg);
    if (frag1) cr_expect(strstr(msg, frag1) != NULL, "message lacks '%s': %s", frag1, msg);
    if (frag2) cr_expect(strstr(msg, frag2) != NULL, "message lacks '%s': %s", frag2, msg);
    cr_expect_null(vk_torchbin_open(path));
}

/* A one-pickle archive "archive/data.pkl" plus storages "archive/data/<key>". */
static char *write_ckpt(const char *fname, const buf *pkl, const zentry *storages, size_t ns, int mode) {
    zentry es[16];
    es[0] = (zentry){"archive/data.pkl", pkl->b, pkl->n};
    for (size_t i = 0; i < ns; i++) es[1 + i] = storages[i];
    es[1 + ns] = (zentry){"archive/version", "3\n", 2};
    buf z = make_zip(es, ns + 2, mode);
    char *path = write_tmp(fname, &z);
    free(z.b);
    return path;
}

/* ---- the fixture ------------------------------------------------------------------------------ */

/* pytorch_model.bin holds the state dict, including the key save_pretrained leaves out of
 * model.safetensors (saved_keys.state_dict_keys_not_saved, which shares its storage with another
 * key: the spec's shared_storage_groups). Everything else is bitwise the safetensors tensors. */
Test(torchbin_fixture, equals_safetensors_bitwise) {
    vk_weights *bin = vk_weights_open(fixture_path("blip-tiny/captioning/model-bin/pytorch_model.bin"));
    cr_assert_not_null(bin, "%s", vk_err_msg());
    vk_weights *st = vk_weights_open(fixture_path("blip-tiny/captioning/model/model.safetensors"));
    cr_assert_not_null(st, "%s", vk_err_msg());
    cr_expect_eq(vk_weights_format_of(bin), VK_WEIGHTS_TORCHBIN);
    cr_expect_eq(vk_weights_metadata_count(bin), 0);

    cJSON *exp = fixture_json("blip-tiny/captioning/expected.json");
    const cJSON *not_saved = cJSON_GetObjectItem(cJSON_GetObjectItem(exp, "saved_keys"), "state_dict_keys_not_saved");
    cr_assert(cJSON_IsArray(not_saved));
    cr_expect_eq(vk_weights_count(bin), vk_weights_count(st) + (size_t)cJSON_GetArraySize(not_saved));

    for (size_t i = 0; i < vk_weights_count(st); i++) {
        const vk_tensor_view *s = vk_weights_tensor(st, i), *b = vk_weights_find(bin, s->name);
        cr_assert_not_null(b, "%s missing from pytorch_model.bin", s->name);
        cr_expect_eq(b->dtype, s->dtype, "%s dtype", s->name);
        cr_assert_eq(b->ndim, s->ndim, "%s ndim", s->name);
        cr_expect_eq(memcmp(b->shape, s->shape, sizeof b->shape), 0, "%s shape", s->name);
        cr_assert_eq(b->nbytes, s->nbytes, "%s bytes", s->name);
        cr_expect_eq(memcmp(b->data, s->data, s->nbytes), 0, "%s values differ", s->name);
    }
    /* Each extra key aliases a saved key (in the model: the LM-head bias, one Parameter under
     * two names): the bin maps both names onto one storage, so the extra view must be the very
     * memory of a saved key's view, and those bytes must equal that key in model.safetensors. */
    for (const cJSON *k = not_saved->child; k; k = k->next) {
        const vk_tensor_view *extra = vk_weights_find(bin, k->valuestring);
        cr_assert_not_null(extra, "%s missing", k->valuestring);
        const vk_tensor_view *partner = NULL;
        for (size_t i = 0; i < vk_weights_count(bin); i++) {
            const vk_tensor_view *b = vk_weights_tensor(bin, i);
            if (b != extra && b->data == extra->data && b->nbytes == extra->nbytes) partner = b;
        }
        cr_assert_not_null(partner, "%s shares no storage with another key", k->valuestring);
        const vk_tensor_view *s = vk_weights_find(st, partner->name);
        cr_assert_not_null(s, "%s's partner %s is not in model.safetensors", k->valuestring, partner->name);
        cr_assert_eq(extra->nbytes, s->nbytes);
        cr_expect_eq(memcmp(extra->data, s->data, s->nbytes), 0);
    }
    cJSON_Delete(exp);
    vk_weights_close(st);
    vk_weights_close(bin);
}

Test(torchbin_fixture, corrupted_storage_byte_fails_crc) {
    size_t len;
    char *b = vk_read_file(fixture_path("blip-tiny/captioning/model-bin/pytorch_model.bin"), &len, 0);
    cr_assert(b, "%s", vk_err_msg());
    /* The pickle record comes first; flip a byte well inside the storages. */
    b[len / 2] ^= 0x40;
    buf o = {(unsigned char *)b, len, len};
    char *path = write_tmp("flipped.bin", &o);
    expect_rejected(path, "CRC-32 mismatch", "pytorch_model/data/");
    free(path);
    free(b);
}

/* ---- hand-built checkpoints --------------------------------------------------------------------- */

static float f12[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
static int64_t i3[3] = {-1, (int64_t)1 << 40, 7};
static uint8_t b2[2] = {1, 0};

static const ptensor views[] = {
    {"full", "FloatStorage", "0", 12, 0, 2, {3, 4}, {4, 1}, 0},
    {"transposed", "FloatStorage", "0", 12, 0, 2, {4, 3}, {1, 4}, 0},
    {"row1", "FloatStorage", "0", 12, 4, 1, {4}, {1}, 0},
    {"scalar", "FloatStorage", "0", 12, 11, 0, {0}, {0}, 0},
    {"empty", "FloatStorage", "0", 12, 0, 2, {0, 5}, {5, 1}, 0},
    {"column", "FloatStorage", "0", 12, 2, 2, {3, 1}, {4, 1}, 0},
    {"ids", "LongStorage", "1", 3, 0, 1, {3}, {1}, 0},
    {"mask", "BoolStorage", "2", 2, 0, 1, {2}, {1}, 1},
};
static const zentry view_storages[] = {
    {"archive/data/0", f12, sizeof f12}, {"archive/data/1", i3, sizeof i3}, {"archive/data/2", b2, sizeof b2}};

static void check_views(const char *path) {
    vk_weights *w = vk_weights_open(path);
    cr_assert_not_null(w, "%s", vk_err_msg());
    cr_assert_eq(vk_weights_count(w), sizeof views / sizeof *views);
    for (size_t i = 0; i < vk_weights_count(w); i++) cr_expect_str_eq(vk_weights_tensor(w, i)->name, views[i].name);
    const vk_tensor_view *full = vk_weights_find(w, "full"), *tr = vk_weights_find(w, "transposed");
    cr_assert_eq(full->nbytes, 48);
    cr_expect_eq(memcmp(full->data, f12, 48), 0);
    /* transposed[i][j] = storage[j * 4 + i], now stored row-major */
    const float *t = tr->data;
    cr_assert_eq(tr->nbytes, 48);
    cr_expect_eq(tr->ndim, 2);
    cr_expect(tr->shape[0] == 4 && tr->shape[1] == 3);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++) cr_expect_eq(t[i * 3 + j], (float)(j * 4 + i), "transposed[%d][%d]", i, j);
    const vk_tensor_view *row = vk_weights_find(w, "row1");
    cr_expect_eq(memcmp(row->data, f12 + 4, 16), 0);
    cr_expect_eq((const float *)row->data, (const float *)full->data + 4, "offset view should share the storage");
    const vk_tensor_view *sc = vk_weights_find(w, "scalar");
    cr_expect_eq(sc->ndim, 0);
    cr_expect_eq(sc->nbytes, 4);
    cr_expect_eq(*(const float *)sc->data, 11.0f);
    const vk_tensor_view *em = vk_weights_find(w, "empty");
    cr_expect_eq(em->nbytes, 0);
    cr_expect(em->ndim == 2 && em->shape[0] == 0 && em->shape[1] == 5);
    /* A [3,1] column with stride 4: size-1 dims do not break contiguity, but rows do. */
    const float *col = vk_weights_find(w, "column")->data;
    cr_expect(col[0] == 2 && col[1] == 6 && col[2] == 10);
    const vk_tensor_view *ids = vk_weights_find(w, "ids");
    cr_expect_eq(ids->dtype, VK_DTYPE_I64);
    cr_expect_eq(memcmp(ids->data, i3, sizeof i3), 0);
    const vk_tensor_view *mask = vk_weights_find(w, "mask");
    cr_expect_eq(mask->dtype, VK_DTYPE_BOOL);
    cr_expect_eq(memcmp(mask->data, b2, 2), 0);
    vk_weights_close(w);
}

Test(torchbin_views, strides_offsets_shared_storage_dtypes) {
    buf p = p_state_dict(views, sizeof views / sizeof *views, 0);
    char *path = write_ckpt("views.bin", &p, view_storages, 3, Z_STORED_ALL);
    check_views(path);
    free(path);
    free(p.b);
}

Test(torchbin_views, ordered_dict_with_metadata_state) {
    buf p = p_state_dict(views, sizeof views / sizeof *views, 1);
    char *path = write_ckpt("od.bin", &p, view_storages, 3, Z_STORED_ALL);
    check_views(path);
    free(path);
    free(p.b);
}

Test(torchbin_views, deflated_records) {
    buf p = p_state_dict(views, sizeof views / sizeof *views, 1);
    char *path = write_ckpt("deflated.bin", &p, view_storages, 3, Z_DEFLATE_ALL);
    check_views(path);
    free(path);
    free(p.b);
}

Test(torchbin_views, zip64_records) {
    buf p = p_state_dict(views, sizeof views / sizeof *views, 0);
    char *path = write_ckpt("zip64.bin", &p, view_storages, 3, Z_ZIP64);
    check_views(path);
    free(path);
    free(p.b);
}

Test(torchbin_views, byteorder_little_accepted_big_refused) {
    buf p = p_state_dict(views, 1, 0);
    zentry es[] = {{"archive/data.pkl", p.b, p.n}, {"archive/byteorder", "little", 6}, view_storages[0]};
    buf z = make_zip(es, 3, Z_STORED_ALL);
    char *path = write_tmp("little.bin", &z);
    vk_weights *w = vk_weights_open(path);
    cr_expect_not_null(w, "%s", vk_err_msg());
    vk_weights_close(w);
    free(z.b);
    free(path);
    es[1] = (zentry){"archive/byteorder", "big", 3};
    z = make_zip(es, 3, Z_STORED_ALL);
    path = write_tmp("big.bin", &z);
    expect_rejected(path, "big-endian", NULL);
    free(z.b);
    free(path);
    free(p.b);
}

/* ---- malicious pickles: refused by name, nothing run ------------------------------------------------ */

static char *marker_path(void) { return tmp_file("pwned"); }

/* GLOBAL mod name; ("touch <marker>",) ; REDUCE — what `os.system("touch ...")` pickles to. */
static void check_refused_global(const char *mod, const char *name) {
    char *marker = marker_path();
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "touch %s", marker);
    buf p = {0};
    put1(&p, 0x80), put1(&p, 2);
    p_global(&p, mod, name);
    put1(&p, '('), p_str(&p, cmd), put1(&p, 't'), put1(&p, 'R'), put1(&p, '.');
    char *path = write_ckpt("evil.bin", &p, NULL, 0, Z_STORED_ALL);
    char want[256];
    snprintf(want, sizeof want, "refusing to load %s.%s", mod, name);
    expect_rejected(path, want, "data.pkl");
    cr_expect(!vk_file_exists(marker), "the pickle's command ran");
    free(path);
    free(p.b);
    free(marker);
}

Test(torchbin_pickle, refuses_posix_system) { check_refused_global("posix", "system"); }
Test(torchbin_pickle, refuses_os_system) { check_refused_global("os", "system"); }
Test(torchbin_pickle, refuses_builtins_eval) { check_refused_global("builtins", "eval"); }
Test(torchbin_pickle, refuses_builtin_exec_py2) { check_refused_global("__builtin__", "exec"); }
Test(torchbin_pickle, refuses_subprocess_popen) { check_refused_global("subprocess", "Popen"); }
Test(torchbin_pickle, refuses_near_miss_torch_names) {
    check_refused_global("torch._utils", "_rebuild_tensor_v3");
    check_refused_global("torch", "load");
    check_refused_global("collections", "OrderedDic");
}

Test(torchbin_pickle, refuses_stack_global_protocol4) {
    buf p = {0};
    put1(&p, 0x80), put1(&p, 4);
    put1(&p, 0x8c), put1(&p, 8), puts_(&p, "builtins");
    put1(&p, 0x8c), put1(&p, 4), puts_(&p, "exec");
    put1(&p, 0x93);
    put1(&p, '('), p_str(&p, "import os"), put1(&p, 't'), put1(&p, 'R'), put1(&p, '.');
    char *path = write_ckpt("evil4.bin", &p, NULL, 0, Z_STORED_ALL);
    expect_rejected(path, "refusing to load builtins.exec", NULL);
    free(path);
    free(p.b);
}

Test(torchbin_pickle, refuses_evil_global_after_valid_tensors) {
    /* A real-looking state dict whose last value is os.system(...). */
    buf p = {0};
    put1(&p, 0x80), put1(&p, 2), put1(&p, '}'), put1(&p, '(');
    p_str(&p, "full"), p_tensor(&p, &views[0]);
    p_str(&p, "payload"), p_global(&p, "posix", "system"), put1(&p, '('), p_str(&p, "id"), put1(&p, 't'), put1(&p, 'R');
    put1(&p, 'u'), put1(&p, '.');
    char *path = write_ckpt("evil2.bin", &p, view_storages, 1, Z_STORED_ALL);
    expect_rejected(path, "refusing to load posix.system", NULL);
    free(path);
    free(p.b);
}

Test(torchbin_pickle, refuses_inst_and_unknown_opcodes) {
    /* INST ('i') names a class inline and calls it: not in the accepted set. */
    buf p = {0};
    put1(&p, 0x80), put1(&p, 2), put1(&p, '('), puts_(&p, "iposix\nsystem\n"), put1(&p, '.');
    char *path = write_ckpt("inst.bin", &p, NULL, 0, Z_STORED_ALL);
    expect_rejected(path, "opcode 0x69", NULL);
    free(path);
    free(p.b);
}

Test(torchbin_pickle, refuses_calling_a_storage_class) {
    buf p = {0};
    put1(&p, 0x80), put1(&p, 2), p_global(&p, "torch", "FloatStorage"), put1(&p, ')'), put1(&p, 'R'), put1(&p, '.');
    char *path = write_ckpt("callstorage.bin", &p, NULL, 0, Z_STORED_ALL);
    expect_rejected(path, "storage class", NULL);
    free(path);
    free(p.b);
}

/* ---- corrupt archives and pickles ---------------------------------------------------------------- */

Test(torchbin_corrupt, truncated_pickle) {
    buf p = p_state_dict(views, 2, 0);
    p.n -= 1; /* drop STOP */
    char *path = write_ckpt("nostop.bin", &p, view_storages, 1, Z_STORED_ALL);
    expect_rejected(path, "truncated", "data.pkl");
    free(path);
    p.n = 40; /* cut inside a string */
    path = write_ckpt("cut.bin", &p, view_storages, 1, Z_STORED_ALL);
    expect_rejected(path, "truncated", NULL);
    free(path);
    free(p.b);
}

Test(torchbin_corrupt, storage_size_mismatch) {
    ptensor t = views[0];
    t.numel = 16; /* the record holds 12 floats */
    buf p = p_state_dict(&t, 1, 0);
    char *path = write_ckpt("size.bin", &p, view_storages, 1, Z_STORED_ALL);
    expect_rejected(path, "tensor 'full'", "has 48 bytes but the pickle declares 16 elements");
    free(path);
    free(p.b);
}

Test(torchbin_corrupt, view_outside_storage) {
    ptensor t = {"oob", "FloatStorage", "0", 12, 10, 1, {4}, {1}, 0};
    buf p = p_state_dict(&t, 1, 0);
    char *path = write_ckpt("oob.bin", &p, view_storages, 1, Z_STORED_ALL);
    expect_rejected(path, "tensor 'oob'", "element 13");
    free(path);
    free(p.b);
}

Test(torchbin_corrupt, missing_storage_record) {
    buf p = p_state_dict(&views[6], 1, 0); /* storage "1", not in the archive */
    char *path = write_ckpt("nostorage.bin", &p, view_storages, 1, Z_STORED_ALL);
    expect_rejected(path, "tensor 'ids'", "archive/data/1' is missing");
    free(path);
    free(p.b);
}

Test(torchbin_corrupt, non_tensor_value) {
    buf p = {0};
    put1(&p, 0x80), put1(&p, 2), put1(&p, '}'), p_str(&p, "epoch"), p_int(&p, 3), put1(&p, 's'), put1(&p, '.');
    char *path = write_ckpt("nontensor.bin", &p, NULL, 0, Z_STORED_ALL);
    expect_rejected(path, "entry 'epoch' is an int, not a tensor", NULL);
    free(path);
    free(p.b);
}

Test(torchbin_corrupt, crc_mismatch_in_handmade_archive) {
    buf p = p_state_dict(views, 1, 0);
    zentry es[] = {{"archive/data.pkl", p.b, p.n}, view_storages[0]};
    buf z = make_zip(es, 2, Z_STORED_ALL);
    /* The storage's bytes follow the pickle's record: find them and change one. */
    unsigned char *at = memmem(z.b, z.n, f12, sizeof f12);
    cr_assert(at);
    at[5] ^= 1;
    char *path = write_tmp("crc.bin", &z);
    expect_rejected(path, "CRC-32 mismatch", "archive/data/0");
    free(path);
    free(z.b);
    free(p.b);
}

Test(torchbin_corrupt, truncated_archive) {
    buf p = p_state_dict(views, 1, 0);
    zentry es[] = {{"archive/data.pkl", p.b, p.n}, view_storages[0]};
    buf z = make_zip(es, 2, Z_STORED_ALL);
    z.n -= 30; /* the end-of-central-directory record is gone */
    char *path = write_tmp("trunc.bin", &z);
    expect_rejected(path, "end-of-central-directory", NULL);
    free(path);
    z.n = 200; /* cut in the middle of a record */
    path = write_tmp("trunc2.bin", &z);
    expect_rejected(path, NULL, NULL);
    free(path);
    free(z.b);
    free(p.b);
}

Test(torchbin_corrupt, central_directory_outside_file) {
    buf p = p_state_dict(views, 1, 0);
    zentry es[] = {{"archive/data.pkl", p.b, p.n}, view_storages[0]};
    buf z = make_zip(es, 2, Z_STORED_ALL);
    /* EOCD is the last 22 bytes; its central-directory offset field is at +16. */
    unsigned char *eocd = z.b + z.n - 22;
    eocd[16] = 0xff, eocd[17] = 0xff, eocd[18] = 0xff, eocd[19] = 0x0f;
    char *path = write_tmp("cdoff.bin", &z);
    expect_rejected(path, "central directory", "outside the file");
    free(path);
    free(z.b);
    free(p.b);
}

Test(torchbin_corrupt, corrupt_deflate_stream) {
    buf p = p_state_dict(views, 1, 0);
    zentry es[] = {{"archive/data.pkl", p.b, p.n}, view_storages[0]};
    buf z = make_zip(es, 2, Z_DEFLATE_ALL);
    /* Overwrite the start of the first record's compressed bytes (64-aligned, after its header). */
    memset(z.b + 64, 0xff, 8);
    char *path = write_tmp("badinflate.bin", &z);
    expect_rejected(path, "archive/data.pkl", NULL);
    free(path);
    free(z.b);
    free(p.b);
}

Test(torchbin_corrupt, garbage_after_zip_magic) {
    unsigned char junk[512] = "PK\003\004";
    for (size_t i = 4; i < sizeof junk; i++) junk[i] = (unsigned char)(i * 37 + 11);
    buf o = {junk, sizeof junk, sizeof junk};
    char *path = write_tmp("junk.bin", &o);
    expect_rejected(path, "zip", NULL);
    free(path);
}

Test(torchbin_corrupt, zip_without_pickle) {
    zentry es[] = {{"readme.txt", "hello", 5}};
    buf z = make_zip(es, 1, Z_STORED_ALL);
    char *path = write_tmp("plain.zip", &z);
    expect_rejected(path, "not a PyTorch checkpoint", NULL);
    free(path);
    free(z.b);
}

Test(torchbin_corrupt, legacy_torch_save_named) {
    /* torch.save before 1.6: a bare pickle stream starting with the magic number. */
    unsigned char legacy[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, '.'};
    buf o = {legacy, sizeof legacy, sizeof legacy};
    char *path = write_tmp("legacy.bin", &o);
    vk_err_clear();
    cr_expect_null(vk_weights_open(path));
    cr_expect(strstr(vk_err_msg(), "legacy") && strstr(vk_err_msg(), path), "%s", vk_err_msg());
    free(path);
}

Test(torchbin_pickle, pop_mark_pops_one_mark) {
    /* Found by fuzz_pickle: POP_MARK popped two marks (a macro evaluated its argument twice), so
     * a later SETITEMS lost its MARK. EMPTY_DICT MARK MARK POP_MARK SETITEMS STOP = {}. */
    static const unsigned char p[] = {0x80, 2, '}', '(', '(', '1', 'u', '.'};
    vk_pickle_tensor *t = NULL;
    size_t n = 1;
    cr_assert_eq(vk_pickle_load_state_dict("popmark", p, sizeof p, &t, &n), 0, "%s", vk_err_msg());
    cr_expect_eq(n, 0);
    vk_pickle_tensors_free(t, n);
}

Test(torchbin_pickle, setitems_on_an_empty_stack) {
    /* Found by fuzz_pickle (UBSan: offset applied to the NULL stack): MARK SETITEMS is refused. */
    static const unsigned char p[] = {0x80, 2, '(', 'u', '.'};
    vk_pickle_tensor *t = NULL;
    size_t n = 0;
    cr_expect_eq(vk_pickle_load_state_dict("emptyset", p, sizeof p, &t, &n), -1);
    cr_expect(strstr(vk_err_msg(), "underflow") != NULL, "%s", vk_err_msg());
}
