/* expect.h — comparing shim tensors with the golden tensors of an expected.safetensors file.
 * Header-only (static) so that only the torch tests pull in the shim. */
#ifndef VLKIT_TESTS_TORCH_EXPECT_H
#define VLKIT_TESTS_TORCH_EXPECT_H

#include "model/weights/weights.h"
#include "shim/tt.h"
#include "tests/common/fixtures.h"
#include "util/error.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

static inline vk_weights *expect_open(const char *rel) {
    vk_weights *w = vk_weights_open(fixture_path(rel));
    cr_assert_not_null(w, "%s", vk_err_msg());
    return w;
}

/* A copy of the named golden tensor as a shim tensor (F32 / I64 / U8 as stored). */
static inline tt_tensor *expect_tensor(vk_weights *w, const char *name) {
    const vk_tensor_view *v = vk_weights_find(w, name);
    cr_assert_not_null(v, "%s: no tensor %s", vk_weights_path(w), name);
    tt_dtype dt = v->dtype == VK_DTYPE_F32 ? TT_F32 : v->dtype == VK_DTYPE_I64 ? TT_I64 : TT_U8;
    tt_tensor *t = tt_from_data(v->data, v->shape, v->ndim, dt);
    cr_assert_not_null(t, "%s", tt_last_error());
    return t;
}

/* The captioning fixture's teacher-forced inputs from an expected.safetensors: pixel_values,
 * input_ids, attention_mask (copied into mask, at most 64 entries) and the labels of the
 * "masked" loss (input_ids with -100 where the mask is 0); the tensors are persistent. */
static inline void expect_caption_inputs(vk_weights *w, tt_tensor **pixels, tt_tensor **ids, int64_t mask[64],
                                         tt_tensor **labels) {
    *pixels = expect_tensor(w, "pixel_values");
    *ids = expect_tensor(w, "input_ids");
    tt_tensor *m = expect_tensor(w, "attention_mask");
    cr_assert_leq(tt_numel(m), 64);
    cr_assert_eq(tt_copy_to(m, mask, sizeof(int64_t) * (size_t)tt_numel(m)), 0);
    tt_scope_begin();
    *labels = tt_persist(tt_masked_fill(*ids, tt_eq_scalar(m, 0), -100));
    tt_scope_end();
    tt_free(m);
}

/* max |got - want| over all elements; asserts equal shapes. */
static inline double expect_max_abs_diff(tt_tensor *got, tt_tensor *want, const char *what) {
    cr_assert_not_null(got, "%s: computation failed: %s / %s", what, tt_last_error(), vk_err_msg());
    int64_t gs[8], ws[8];
    int gn = tt_shape(got, gs, 8), wn = tt_shape(want, ws, 8);
    cr_assert_eq(gn, wn, "%s: %d dims, expected %d", what, gn, wn);
    for (int i = 0; i < gn; i++) cr_assert_eq(gs[i], ws[i], "%s: dim %d is %ld, expected %ld", what, i, (long)gs[i], (long)ws[i]);
    tt_scope_begin();
    double d = tt_item(tt_max_dim(tt_flatten(tt_abs(tt_sub(tt_to_dtype(got, TT_F64), tt_to_dtype(want, TT_F64))), 0, -1), 0, 0, NULL));
    tt_scope_end();
    return gn == 0 ? fabs(tt_item(got) - tt_item(want)) : d;
}

static inline void expect_close(tt_tensor *got, vk_weights *w, const char *name, double atol) {
    tt_tensor *want = expect_tensor(w, name);
    double d = expect_max_abs_diff(got, want, name);
    cr_assert(d <= atol, "%s: max abs diff %.3g > %.3g", name, d, atol);
    tt_free(want);
}

static inline void expect_ids_equal(const int64_t *got, int64_t rows, int64_t cols, vk_weights *w, const char *name) {
    const vk_tensor_view *v = vk_weights_find(w, name);
    cr_assert_not_null(v, "no tensor %s", name);
    cr_assert(v->dtype == VK_DTYPE_I64 && v->ndim == 2, "%s: expected a 2-d I64 tensor", name);
    cr_assert_eq(v->shape[0], rows, "%s: %ld rows, expected %ld", name, (long)rows, (long)v->shape[0]);
    cr_assert_eq(v->shape[1], cols, "%s: %ld columns, expected %ld", name, (long)cols, (long)v->shape[1]);
    const int64_t *want = v->data;
    for (int64_t i = 0; i < rows * cols; i++)
        cr_assert_eq(got[i], want[i], "%s: row %ld col %ld: got %ld, expected %ld", name, (long)(i / cols), (long)(i % cols),
                     (long)got[i], (long)want[i]);
}

#endif
