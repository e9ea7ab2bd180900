/* test_shim.c — the libtorch shim checked against values computed here independently (closed
 * forms, plain C loops), gradients against central finite differences in float64, error paths,
 * handle lifetimes, and AdamW against the formula written out by hand. */
#include "shim/tt.h"

#include "tests/common/random_values.h"

#include <criterion/criterion.h>
#include <math.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NOT_NULL(t) cr_assert((t) != NULL, "%s failed: %s", #t, tt_last_error())

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double urand(void) { return test_urand(&rng_state); }
static void fill_random(double *x, int n, double scale) {
    for (int i = 0; i < n; i++) x[i] = scale * urand();
}

static tt_tensor *f64(const double *data, const int64_t *dims, int ndim) { return tt_from_data(data, dims, ndim, TT_F64); }

static void copy_f64(tt_tensor *t, double *out, int64_t n) {
    cr_assert_eq(tt_numel(t), n);
    cr_assert_eq(tt_copy_to(t, out, (size_t)n * sizeof(double)), 0, "%s", tt_last_error());
}

/* ---- finite-difference gradient check ------------------------------------------------------
 * f builds an output from float64 inputs; the scalar objective is sum(out * w) with a fixed
 * random w, so every output element contributes with its own weight. */
typedef tt_tensor *(*fd_fn)(tt_tensor **inputs, void *ctx);

typedef struct {
    double *data;
    int64_t dims[4];
    int ndim;
    int64_t n;
} fd_input;

static double objective(fd_fn f, void *ctx, fd_input *in, int nin, int grad_of, double *grad_out) {
    tt_scope_begin();
    tt_tensor *ts[8];
    for (int i = 0; i < nin; i++) {
        ts[i] = f64(in[i].data, in[i].dims, in[i].ndim);
        NOT_NULL(ts[i]);
        if (i == grad_of) tt_requires_grad(ts[i], 1);
    }
    tt_tensor *out = f(ts, ctx);
    NOT_NULL(out);
    int64_t m = tt_numel(out);
    double *w = malloc(sizeof(double) * (size_t)m);
    uint64_t saved = rng_state;
    rng_state = 12345;
    fill_random(w, (int)m, 1.0);
    rng_state = saved;
    int64_t shape[8];
    int nd = tt_shape(out, shape, 8);
    tt_tensor *loss = tt_sum(tt_mul(out, f64(w, shape, nd)));
    NOT_NULL(loss);
    double v = tt_item(loss);
    if (grad_out) {
        cr_assert_eq(tt_backward(loss), 0, "%s", tt_last_error());
        tt_tensor *g = tt_grad(ts[grad_of]);
        NOT_NULL(g);
        copy_f64(g, grad_out, in[grad_of].n);
    }
    free(w);
    tt_scope_end();
    return v;
}

static void check_gradients(const char *name, fd_fn f, void *ctx, fd_input *in, int nin) {
    for (int k = 0; k < nin; k++) {
        double *analytic = malloc(sizeof(double) * (size_t)in[k].n);
        objective(f, ctx, in, nin, k, analytic);
        const double h = 1e-6;
        for (int64_t i = 0; i < in[k].n; i++) {
            double keep = in[k].data[i];
            in[k].data[i] = keep + h;
            double up = objective(f, ctx, in, nin, -1, NULL);
            in[k].data[i] = keep - h;
            double down = objective(f, ctx, in, nin, -1, NULL);
            in[k].data[i] = keep;
            double numeric = (up - down) / (2 * h);
            /* central differences in float64: truncation O(h^2), rounding ~1e-16/h = 1e-10 */
            cr_assert(fabs(numeric - analytic[i]) <= 1e-6 + 1e-6 * fabs(numeric),
                      "%s: d/d input%d[%ld]: analytic %.10g, numeric %.10g", name, k, (long)i, analytic[i], numeric);
        }
        free(analytic);
    }
    cr_assert_eq(tt_live_handles(), 0, "%s leaked %ld handles", name, (long)tt_live_handles());
}

static fd_input make_input(int ndim, const int64_t *dims, double scale) {
    fd_input in = {0};
    in.ndim = ndim;
    in.n = 1;
    for (int i = 0; i < ndim; i++) in.dims[i] = dims[i], in.n *= dims[i];
    in.data = malloc(sizeof(double) * (size_t)in.n);
    fill_random(in.data, (int)in.n, scale);
    return in;
}

static void free_inputs(fd_input *in, int n) {
    for (int i = 0; i < n; i++) free(in[i].data);
}

/* ---- op values ------------------------------------------------------------------------------ */

Test(shim_values, matmul_linear_bmm_match_c_loops) {
    enum { B = 2, M = 3, K = 4, N = 5 };
    double a[B * M * K], w[N * K], bias[N], b[B * K * N];
    fill_random(a, B * M * K, 1);
    fill_random(w, N * K, 1);
    fill_random(bias, N, 1);
    fill_random(b, B * K * N, 1);
    tt_scope_begin();
    tt_tensor *ta = f64(a, (int64_t[]){B, M, K}, 3);
    tt_tensor *y = tt_linear(ta, f64(w, (int64_t[]){N, K}, 2), f64(bias, (int64_t[]){N}, 1));
    NOT_NULL(y);
    double out[B * M * N];
    copy_f64(y, out, B * M * N);
    for (int i = 0; i < B * M; i++)
        for (int n = 0; n < N; n++) {
            double s = bias[n];
            for (int k = 0; k < K; k++) s += a[i * K + k] * w[n * K + k];
            cr_assert_float_eq(out[i * N + n], s, 1e-12);
        }
    tt_tensor *z = tt_bmm(ta, f64(b, (int64_t[]){B, K, N}, 3));
    tt_tensor *z2 = tt_matmul(ta, f64(b, (int64_t[]){B, K, N}, 3));
    NOT_NULL(z);
    cr_assert_eq(tt_allclose(z, z2, 0, 0), 1);
    copy_f64(z, out, B * M * N);
    for (int bb = 0; bb < B; bb++)
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                double s = 0;
                for (int k = 0; k < K; k++) s += a[(bb * M + m) * K + k] * b[(bb * K + k) * N + n];
                cr_assert_float_eq(out[(bb * M + m) * N + n], s, 1e-12);
            }
    tt_scope_end();
    cr_assert_eq(tt_live_handles(), 0);
}

Test(shim_values, softmax_layer_norm_gelu_closed_forms) {
    double x[6] = {1.0, 2.0, 3.0, -1.0, 0.0, 1.0};
    tt_scope_begin();
    tt_tensor *t = f64(x, (int64_t[]){2, 3}, 2);
    double out[6];
    copy_f64(tt_softmax(t, -1), out, 6);
    for (int r = 0; r < 2; r++) {
        double z = 0;
        for (int c = 0; c < 3; c++) z += exp(x[r * 3 + c]);
        for (int c = 0; c < 3; c++) cr_assert_float_eq(out[r * 3 + c], exp(x[r * 3 + c]) / z, 1e-14);
    }
    copy_f64(tt_log_softmax(t, 1), out, 6);
    for (int r = 0; r < 2; r++) {
        double z = 0;
        for (int c = 0; c < 3; c++) z += exp(x[r * 3 + c]);
        for (int c = 0; c < 3; c++) cr_assert_float_eq(out[r * 3 + c], x[r * 3 + c] - log(z), 1e-14);
    }
    double g[3] = {0.5, 1.0, 2.0}, b[3] = {0.1, -0.2, 0.3};
    copy_f64(tt_layer_norm(t, 1, f64(g, (int64_t[]){3}, 1), f64(b, (int64_t[]){3}, 1), 1e-5), out, 6);
    for (int r = 0; r < 2; r++) {
        /* each row is (m-1, m, m+1): mean m, biased variance 2/3 */
        for (int c = 0; c < 3; c++) {
            double want = ((double)(c - 1) / sqrt(2.0 / 3.0 + 1e-5)) * g[c] + b[c];
            cr_assert_float_eq(out[r * 3 + c], want, 1e-12);
        }
    }
    copy_f64(tt_gelu(t), out, 6);
    for (int i = 0; i < 6; i++) cr_assert_float_eq(out[i], 0.5 * x[i] * (1 + erf(x[i] / sqrt(2.0))), 1e-14);
    copy_f64(tt_gelu_tanh(t), out, 6);
    for (int i = 0; i < 6; i++) {
        double want = 0.5 * x[i] * (1 + tanh(sqrt(2 / M_PI) * (x[i] + 0.044715 * x[i] * x[i] * x[i])));
        cr_assert_float_eq(out[i], want, 1e-14);
    }
    tt_scope_end();
}

Test(shim_values, cross_entropy_ignore_index_and_label_smoothing) {
    enum { N = 4, C = 5 };
    double logits[N * C];
    fill_random(logits, N * C, 2);
    int64_t targets[N] = {1, -100, 4, 0};
    const double eps = 0.1;
    /* reference: per row loss = (1-eps) * nll + eps * mean over classes of -logp; mean over rows kept */
    double total = 0, total_plain = 0, per_row[N];
    int kept = 0;
    for (int i = 0; i < N; i++) {
        double mx = -INFINITY, z = 0;
        for (int c = 0; c < C; c++) mx = fmax(mx, logits[i * C + c]);
        for (int c = 0; c < C; c++) z += exp(logits[i * C + c] - mx);
        double lz = mx + log(z), smooth = 0;
        for (int c = 0; c < C; c++) smooth += lz - logits[i * C + c];
        per_row[i] = 0;
        if (targets[i] == -100) continue;
        double nll = lz - logits[i * C + targets[i]];
        per_row[i] = nll;
        total_plain += nll;
        total += (1 - eps) * nll + eps * smooth / C;
        kept++;
    }
    tt_scope_begin();
    tt_tensor *l = f64(logits, (int64_t[]){N, C}, 2);
    tt_tensor *t = tt_from_data(targets, (int64_t[]){N}, 1, TT_I64);
    cr_assert_float_eq(tt_item(tt_cross_entropy(l, t, TT_REDUCE_MEAN, -100, 0.0)), total_plain / kept, 1e-12);
    cr_assert_float_eq(tt_item(tt_cross_entropy(l, t, TT_REDUCE_SUM, -100, 0.0)), total_plain, 1e-12);
    cr_assert_float_eq(tt_item(tt_cross_entropy(l, t, TT_REDUCE_MEAN, -100, eps)), total / kept, 1e-12);
    double rows[N];
    copy_f64(tt_cross_entropy(l, t, TT_REDUCE_NONE, -100, 0.0), rows, N);
    for (int i = 0; i < N; i++) cr_assert_float_eq(rows[i], per_row[i], 1e-12);
    tt_scope_end();
}

Test(shim_values, conv2d_and_embedding_match_loops) {
    enum { CI = 2, H = 5, W = 5, CO = 3, KH = 2, KW = 2, S = 2 };
    double x[CI * H * W], w[CO * CI * KH * KW], b[CO];
    fill_random(x, CI * H * W, 1);
    fill_random(w, CO * CI * KH * KW, 1);
    fill_random(b, CO, 1);
    tt_scope_begin();
    tt_tensor *y = tt_conv2d(f64(x, (int64_t[]){1, CI, H, W}, 4), f64(w, (int64_t[]){CO, CI, KH, KW}, 4),
                             f64(b, (int64_t[]){CO}, 1), S, S, 0, 0);
    NOT_NULL(y);
    enum { OH = (H - KH) / S + 1, OW = (W - KW) / S + 1 };
    cr_assert_eq(tt_size(y, 2), OH);
    double out[CO * OH * OW];
    copy_f64(y, out, CO * OH * OW);
    for (int o = 0; o < CO; o++)
        for (int i = 0; i < OH; i++)
            for (int j = 0; j < OW; j++) {
                double s = b[o];
                for (int c = 0; c < CI; c++)
                    for (int p = 0; p < KH; p++)
                        for (int q = 0; q < KW; q++)
                            s += x[(c * H + i * S + p) * W + j * S + q] * w[((o * CI + c) * KH + p) * KW + q];
                cr_assert_float_eq(out[(o * OH + i) * OW + j], s, 1e-12);
            }
    double table[4 * 3];
    fill_random(table, 12, 1);
    int64_t ids[5] = {3, 0, 3, 1, 2};
    double e[15];
    copy_f64(tt_embedding(f64(table, (int64_t[]){4, 3}, 2), tt_from_data(ids, (int64_t[]){5}, 1, TT_I64), -1), e, 15);
    for (int i = 0; i < 5; i++)
        for (int d = 0; d < 3; d++) cr_assert_eq(e[i * 3 + d], table[ids[i] * 3 + d]);
    tt_scope_end();
}

Test(shim_values, shape_ops_and_selection) {
    float x[24];
    for (int i = 0; i < 24; i++) x[i] = (float)i;
    tt_scope_begin();
    tt_tensor *t = tt_from_data(x, (int64_t[]){2, 3, 4}, 3, TT_F32);
    /* permute (2,0,1) then contiguous: out[k][i][j] = x[i][j][k] */
    float p[24];
    cr_assert_eq(tt_copy_to(tt_permute(t, (int64_t[]){2, 0, 1}, 3), p, sizeof p), 0);
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 4; k++) cr_assert_eq(p[(k * 2 + i) * 3 + j], x[(i * 3 + j) * 4 + k]);
    cr_assert_eq(tt_is_contiguous(tt_transpose(t, 0, 2)), 0);
    cr_assert_eq(tt_is_contiguous(tt_contiguous(tt_transpose(t, 0, 2))), 1);
    float n[8];
    cr_assert_eq(tt_copy_to(tt_narrow(t, 2, 1, 2), n, sizeof n), -1); /* needs 12 floats, buffer has 8 */
    cr_assert(strstr(tt_last_error(), "needs 48") != NULL, "message: %s", tt_last_error());
    cr_assert_eq(tt_copy_to(tt_narrow(tt_select(t, 0, 1), 1, 1, 2), n, sizeof(float) * 6), 0);
    for (int j = 0; j < 3; j++)
        for (int k = 0; k < 2; k++) cr_assert_eq(n[j * 2 + k], x[(1 * 3 + j) * 4 + 1 + k]);
    tt_tensor *flat = tt_view(t, (int64_t[]){-1, 4}, 2);
    cr_assert_eq(tt_size(flat, 0), 6);
    cr_assert_eq(tt_size(tt_reshape(tt_transpose(t, 0, 1), (int64_t[]){24}, 1), 0), 24);
    cr_assert_eq(tt_size(tt_unsqueeze(t, 0), 0), 1);
    cr_assert_eq(tt_ndim(tt_squeeze_dim(tt_unsqueeze(t, 1), 1)), 3);
    cr_assert_eq(tt_size(tt_expand(tt_unsqueeze(t, 0), (int64_t[]){5, -1, -1, -1}, 4), 0), 5);
    cr_assert_eq(tt_size(tt_flatten(t, 1, 2), 1), 12);
    tt_tensor *parts[2] = {t, t};
    cr_assert_eq(tt_size(tt_cat(parts, 2, 1), 1), 6);
    cr_assert_eq(tt_size(tt_stack(parts, 2, 0), 0), 2);
    float r[48];
    cr_assert_eq(tt_copy_to(tt_repeat_interleave(t, 2, 0), r, sizeof r), 0);
    cr_assert_eq(r[12], x[0]);
    cr_assert_eq(r[24], x[12]);

    int64_t idx[2] = {2, 0};
    tt_tensor *ti = tt_from_data(idx, (int64_t[]){2}, 1, TT_I64);
    float s[16];
    cr_assert_eq(tt_copy_to(tt_index_select(t, 2, ti), s, sizeof(float) * 12), 0);
    for (int i = 0; i < 6; i++) {
        cr_assert_eq(s[i * 2], x[i * 4 + 2]);
        cr_assert_eq(s[i * 2 + 1], x[i * 4]);
    }
    int64_t gidx[6] = {3, 0, 1, 2, 2, 1};
    float g[6];
    cr_assert_eq(tt_copy_to(tt_gather(tt_view(t, (int64_t[]){6, 4}, 2), 1, tt_from_data(gidx, (int64_t[]){6, 1}, 2, TT_I64)),
                            g, sizeof g),
                 0);
    for (int i = 0; i < 6; i++) cr_assert_eq(g[i], x[i * 4 + gidx[i]]);

    float v[6] = {0.5f, 3.0f, -1.0f, 3.5f, 2.0f, 0.0f};
    tt_tensor *tv = tt_from_data(v, (int64_t[]){6}, 1, TT_F32);
    cr_assert_eq(tt_item(tt_argmax(tv, 0, 0)), 3.0);
    tt_tensor *ix = NULL;
    float top[3];
    int64_t topi[3];
    cr_assert_eq(tt_copy_to(tt_topk(tv, 3, 0, 1, &ix), top, sizeof top), 0);
    cr_assert_eq(tt_copy_to(ix, topi, sizeof topi), 0);
    cr_assert(top[0] == 3.5f && top[1] == 3.0f && top[2] == 2.0f);
    cr_assert(topi[0] == 3 && topi[1] == 1 && topi[2] == 4);
    float sorted[6];
    int64_t order[6];
    cr_assert_eq(tt_copy_to(tt_sort(tv, 0, 0, &ix), sorted, sizeof sorted), 0);
    cr_assert_eq(tt_copy_to(ix, order, sizeof order), 0);
    for (int i = 0; i < 5; i++) cr_assert(sorted[i] <= sorted[i + 1]);
    for (int i = 0; i < 6; i++) cr_assert_eq(sorted[i], v[order[i]]);
    tt_tensor *mx_i = NULL;
    cr_assert_eq(tt_item(tt_max_dim(tv, 0, 0, &mx_i)), 3.5);
    cr_assert_eq(tt_item(mx_i), 3.0);

    /* masks */
    tt_tensor *mask = tt_gt_scalar(tv, 1.0);
    float mf[6];
    cr_assert_eq(tt_copy_to(tt_masked_fill(tv, mask, -9.0), mf, sizeof mf), 0);
    for (int i = 0; i < 6; i++) cr_assert_eq(mf[i], v[i] > 1.0f ? -9.0f : v[i]);
    cr_assert_eq(tt_copy_to(tt_where(mask, tv, tt_zeros_like(tv)), mf, sizeof mf), 0);
    for (int i = 0; i < 6; i++) cr_assert_eq(mf[i], v[i] > 1.0f ? v[i] : 0.0f);
    cr_assert_eq(tt_item(tt_sum(tt_to_dtype(tt_logical_not(mask), TT_I64))), 3.0);
    tt_scope_end();
    cr_assert_eq(tt_live_handles(), 0);
}

Test(shim_values, reductions_elementwise_and_dtypes) {
    double x[6] = {1, -2, 3, -4, 5, -6};
    tt_scope_begin();
    tt_tensor *t = f64(x, (int64_t[]){2, 3}, 2);
    cr_assert_float_eq(tt_item(tt_sum(t)), -3.0, 1e-15);
    cr_assert_float_eq(tt_item(tt_mean(t)), -0.5, 1e-15);
    cr_assert_float_eq(tt_item(tt_norm(t, 2)), sqrt(91.0), 1e-12);
    double r[3];
    copy_f64(tt_sum_dim(t, 0, 0), r, 3);
    cr_assert(r[0] == -3 && r[1] == 3 && r[2] == -3);
    copy_f64(tt_mean_dim(t, 1, 0), r, 2);
    cr_assert_float_eq(r[0], 2.0 / 3, 1e-15);
    copy_f64(tt_norm_dim(t, 1, 1, 0), r, 2);
    cr_assert(r[0] == 6 && r[1] == 15);
    double o[6];
    copy_f64(tt_div(tt_sub(tt_mul(t, t), t), tt_add_scalar(tt_abs(t), 1)), o, 6);
    for (int i = 0; i < 6; i++) cr_assert_float_eq(o[i], (x[i] * x[i] - x[i]) / (fabs(x[i]) + 1), 1e-14);
    copy_f64(tt_clamp(tt_neg(t), -2, 2), o, 6);
    for (int i = 0; i < 6; i++) cr_assert_eq(o[i], fmin(2, fmax(-2, -x[i])));
    copy_f64(tt_pow_scalar(tt_exp(tt_log(tt_abs(t))), 2), o, 6);
    for (int i = 0; i < 6; i++) cr_assert_float_eq(o[i], x[i] * x[i], 1e-12);
    copy_f64(tt_mul_scalar(tt_rsqrt(tt_sqrt(tt_abs(t))), 2), o, 6);
    for (int i = 0; i < 6; i++) cr_assert_float_eq(o[i], 2 / sqrt(sqrt(fabs(x[i]))), 1e-12);
    copy_f64(tt_sigmoid(t), o, 6);
    for (int i = 0; i < 6; i++) cr_assert_float_eq(o[i], 1 / (1 + exp(-x[i])), 1e-14);
    copy_f64(tt_maximum(tt_relu(t), tt_tanh(t)), o, 6);
    for (int i = 0; i < 6; i++) cr_assert_float_eq(o[i], fmax(fmax(x[i], 0), tanh(x[i])), 1e-15);
    tt_tensor *acc = tt_clone(t);
    cr_assert_eq(tt_add_(acc, t, 0.5), 0);
    cr_assert_eq(tt_mul_scalar_(acc, 2), 0);
    copy_f64(acc, o, 6);
    for (int i = 0; i < 6; i++) cr_assert_eq(o[i], 3 * x[i]);

    /* dtypes: bf16 keeps 8 bits of mantissa; 1 + 2^-9 rounds to 1 */
    float fv[2] = {1.0f + 1.0f / 512, 3.0f};
    tt_tensor *b = tt_to_dtype(tt_from_data(fv, (int64_t[]){2}, 1, TT_F32), TT_BF16);
    cr_assert_eq(tt_dtype_of(b), TT_BF16);
    uint16_t raw[2];
    cr_assert_eq(tt_copy_to(b, raw, sizeof raw), 0);
    cr_assert_eq(raw[0], 0x3F80); /* 1.0 */
    cr_assert_eq(raw[1], 0x4040); /* 3.0 */
    cr_assert_eq(tt_dtype_of(tt_to_dtype(b, TT_F16)), TT_F16);
    uint8_t u[3] = {0, 128, 255};
    cr_assert_float_eq(tt_item(tt_sum(tt_to_dtype(tt_from_data(u, (int64_t[]){3}, 1, TT_U8), TT_F32))), 383.0, 0);
    cr_assert_eq(tt_dtype_size(TT_BF16), 2);
    cr_assert_eq(tt_dtype_size(TT_I64), 8);
    tt_dtype d;
    cr_assert_eq(tt_dtype_parse("bfloat16", &d), 0);
    cr_assert_eq(d, TT_BF16);
    cr_assert_eq(tt_dtype_parse("float128", &d), -1);
    cr_assert(strstr(tt_last_error(), "float128") != NULL);

    /* creation */
    cr_assert_eq(tt_item(tt_sum(tt_ones((int64_t[]){3, 4}, 2, TT_F32))), 12.0);
    cr_assert_eq(tt_item(tt_sum(tt_full((int64_t[]){2}, 1, 2.5, TT_F64))), 5.0);
    cr_assert_eq(tt_item(tt_sum(tt_arange(0, 10, 1, TT_I64))), 45.0);
    cr_assert_eq(tt_item(tt_sum(tt_zeros((int64_t[]){7}, 1, TT_F32))), 0.0);
    cr_assert_eq(tt_item(tt_scalar_tensor(4, TT_F32)), 4.0);
    tt_tensor *u01 = tt_zeros((int64_t[]){1000}, 1, TT_F32);
    cr_assert_eq(tt_uniform_(u01, 2.0, 3.0), 0);
    tt_tensor *mn = tt_max_dim(tt_neg(u01), 0, 0, NULL), *mxv = tt_max_dim(u01, 0, 0, NULL);
    cr_assert(-tt_item(mn) >= 2.0 && tt_item(mxv) < 3.0);
    tt_tensor *rn = tt_randn((int64_t[]){20000}, 1, TT_F64);
    cr_assert(fabs(tt_item(tt_mean(rn))) < 0.05);
    tt_tensor *ru = tt_rand((int64_t[]){20000}, 1, TT_F64);
    cr_assert(fabs(tt_item(tt_mean(ru)) - 0.5) < 0.02);
    cr_assert_eq(tt_all_finite(rn), 1);
    cr_assert_eq(tt_all_finite(tt_log(tt_neg(tt_abs(rn)))), 0);
    tt_scope_end();
    cr_assert_eq(tt_live_handles(), 0);
}

Test(shim_values, manual_seed_repeats_random_draws) {
    float a[8], b[8];
    tt_scope_begin();
    tt_manual_seed(7);
    cr_assert_eq(tt_copy_to(tt_randn((int64_t[]){8}, 1, TT_F32), a, sizeof a), 0);
    tt_manual_seed(7);
    cr_assert_eq(tt_copy_to(tt_randn((int64_t[]){8}, 1, TT_F32), b, sizeof b), 0);
    cr_assert_arr_eq(a, b, sizeof a);
    cr_assert_eq(tt_copy_to(tt_randn((int64_t[]){8}, 1, TT_F32), b, sizeof b), 0);
    cr_assert(memcmp(a, b, sizeof a) != 0);
    tt_scope_end();
}

Test(shim_values, dropout_scales_kept_values) {
    tt_scope_begin();
    tt_tensor *x = tt_ones((int64_t[]){10000}, 1, TT_F32);
    cr_assert_eq(tt_allclose(tt_dropout(x, 0.3, 0), x, 0, 0), 1); /* eval: identity */
    float y[10000];
    cr_assert_eq(tt_copy_to(tt_dropout(x, 0.25, 1), y, sizeof y), 0);
    int zeros = 0;
    for (int i = 0; i < 10000; i++) {
        if (y[i] == 0) zeros++;
        else cr_assert_float_eq(y[i], 1 / 0.75f, 1e-6);
    }
    cr_assert(zeros > 2200 && zeros < 2800, "dropped %d of 10000 at p=0.25", zeros);
    tt_scope_end();
}

/* The keep mask is a hash of (seed from the CPU generator, element index): the same positions
 * for any dtype and thread count, repeated by manual_seed, a fresh one per call; bf16 values are
 * x * scale rounded once (the scale itself is not rounded to bf16). */
Test(shim_values, dropout_mask_is_seeded_and_thread_independent) {
    enum { N = 3 * 256 + 7 }; /* a partial last block */
    static float x[N], a[N], b[N], c[N];
    for (int i = 0; i < N; i++) x[i] = 0.5f + (float)(i % 17) / 8.0f;
    tt_scope_begin();
    tt_tensor *xf = tt_from_data(x, (int64_t[]){N}, 1, TT_F32);
    int threads = tt_get_num_threads();
    tt_manual_seed(11);
    tt_set_num_threads(1);
    cr_assert_eq(tt_copy_to(tt_dropout(xf, 0.3, 1), a, sizeof a), 0, "%s", tt_last_error());
    tt_manual_seed(11);
    tt_set_num_threads(2);
    cr_assert_eq(tt_copy_to(tt_dropout(xf, 0.3, 1), b, sizeof b), 0);
    cr_assert_arr_eq(a, b, sizeof a, "the mask depends on the thread count");
    tt_set_num_threads(threads);
    cr_assert_eq(tt_copy_to(tt_dropout(xf, 0.3, 1), c, sizeof c), 0);
    cr_assert(memcmp(a, c, sizeof a) != 0, "two calls drew the same mask");
    int dropped = 0;
    for (int i = 0; i < N; i++) {
        if (a[i] == 0) dropped++;
        else cr_assert_float_eq(a[i], x[i] / 0.7f, 1e-6f * a[i]);
    }
    cr_assert(dropped > 0.3 * N - 60 && dropped < 0.3 * N + 60, "dropped %d of %d at p=0.3", dropped, N);
    /* bf16: the same positions; kept values are bf16(bf16(x) * 1/0.7) */
    tt_manual_seed(11);
    tt_tensor *xb = tt_to_dtype(xf, TT_BF16);
    tt_tensor *yb = tt_dropout(xb, 0.3, 1);
    cr_assert_eq(tt_dtype_of(yb), TT_BF16);
    tt_tensor *want = tt_to_dtype(tt_mul_scalar(tt_to_dtype(xb, TT_F32), 1.0 / 0.7), TT_BF16);
    cr_assert_eq(tt_copy_to(tt_to_dtype(yb, TT_F32), b, sizeof b), 0);
    cr_assert_eq(tt_copy_to(tt_to_dtype(want, TT_F32), c, sizeof c), 0);
    for (int i = 0; i < N; i++) cr_assert((a[i] == 0) == (b[i] == 0) && (b[i] == 0 || b[i] == c[i]), "bf16 element %d", i);
    /* p = 1 drops everything; bad p is an error */
    cr_assert_eq(tt_copy_to(tt_dropout(xf, 1.0, 1), a, sizeof a), 0);
    for (int i = 0; i < N; i++) cr_assert_eq(a[i], 0.0f);
    cr_assert_null(tt_dropout(xf, 1.5, 1));
    cr_assert(strstr(tt_last_error(), "[0, 1]"), "%s", tt_last_error());
    tt_scope_end();
}

/* y + alpha x W^T in one addmm equals the three-op form, over leading dims */
Test(shim_values, linear_acc_matches_add_of_scaled_product) {
    tt_scope_begin();
    tt_manual_seed(3);
    tt_tensor *x = tt_randn((int64_t[]){2, 3, 4}, 3, TT_F64), *w = tt_randn((int64_t[]){5, 4}, 2, TT_F64);
    tt_tensor *y = tt_randn((int64_t[]){2, 3, 5}, 3, TT_F64);
    tt_tensor *got = tt_linear_acc(y, x, w, 2.5);
    NOT_NULL(got);
    cr_assert_eq(tt_ndim(got), 3);
    cr_assert_eq(tt_allclose(got, tt_add(y, tt_mul_scalar(tt_linear(x, w, NULL), 2.5)), 1e-12, 1e-12), 1);
    cr_assert_null(tt_linear_acc(tt_randn((int64_t[]){2, 4, 5}, 3, TT_F64), x, w, 1.0));
    cr_assert(strstr(tt_last_error(), "shapes"), "%s", tt_last_error());
    tt_scope_end();
}

/* Prepacked bf16 linear against float64 arithmetic on the same bf16 values: bf16 output within
 * its rounding (2^-8 relative, plus the float32 accumulation), the float32 residual sum within
 * float32 accumulation error; any row count; a gradient-needing input takes the autograd path. */
Test(shim_values, packed_linear_matches_float64_on_bf16_values) {
    tt_scope_begin();
    tt_manual_seed(5);
    const int64_t N = 48, K = 80;
    tt_tensor *w = tt_to_dtype(tt_randn((int64_t[]){N, K}, 2, TT_F32), TT_BF16);
    tt_tensor *b = tt_to_dtype(tt_randn((int64_t[]){N}, 1, TT_F32), TT_BF16);
    tt_clear_error();
    tt_packed_linear *p = tt_packed_linear_new(w, b), *nob = tt_packed_linear_new(w, NULL);
    if (!p && !tt_last_error()[0] && !__builtin_cpu_supports("avx512f")) { /* only oneDNN's reference kernels here */
        tt_scope_end();
        return;
    }
    cr_assert(p && nob, "built without oneDNN (libdnnl-dev)? %s", tt_last_error());
    tt_tensor *w64 = tt_to_dtype(w, TT_F64), *b64 = tt_to_dtype(b, TT_F64);
    static const int64_t rows[] = {1, 8, 37};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        tt_tensor *x = tt_to_dtype(tt_randn((int64_t[]){2, rows[i], K}, 3, TT_F32), TT_BF16);
        tt_tensor *x64 = tt_to_dtype(x, TT_F64);
        tt_tensor *want = tt_linear(x64, w64, b64), *got = tt_packed_linear_forward(p, x, NULL);
        NOT_NULL(got);
        cr_assert_eq(tt_dtype_of(got), TT_BF16);
        cr_assert_eq(tt_size(got, 0), 2);
        cr_assert_eq(tt_size(got, 1), rows[i]);
        cr_assert_eq(tt_allclose(tt_to_dtype(got, TT_F64), want, 1.0 / 128, 1e-3), 1, "rows %ld: bf16 output", (long)rows[i]);
        cr_assert_eq(tt_allclose(tt_to_dtype(tt_packed_linear_forward(nob, x, NULL), TT_F64), tt_linear(x64, w64, NULL),
                                 1.0 / 128, 1e-3),
                     1, "rows %ld: without bias", (long)rows[i]);
        tt_tensor *res = tt_randn((int64_t[]){2, rows[i], N}, 3, TT_F32);
        tt_tensor *sum = tt_packed_linear_forward(p, x, res);
        NOT_NULL(sum);
        cr_assert_eq(tt_dtype_of(sum), TT_F32, "the residual sum is float32");
        cr_assert_eq(tt_allclose(tt_to_dtype(sum, TT_F64), tt_add(tt_to_dtype(res, TT_F64), want), 1e-5, 1e-4), 1,
                     "rows %ld: residual sum", (long)rows[i]);
    }
    /* with GELU inside the product: gelu of the float64 product, within bf16 rounding */
    tt_tensor *xg = tt_to_dtype(tt_randn((int64_t[]){2, 5, K}, 3, TT_F32), TT_BF16);
    tt_tensor *g = tt_packed_linear_gelu(p, xg);
    NOT_NULL(g);
    cr_assert_eq(tt_dtype_of(g), TT_BF16);
    cr_assert_eq(tt_allclose(tt_to_dtype(g, TT_F64), tt_gelu(tt_linear(tt_to_dtype(xg, TT_F64), w64, b64)), 1.0 / 128, 1e-3), 1,
                 "gelu epilogue");
    /* an input that needs a gradient: the ATen path, and d sum(y) / dx = column sums of W */
    tt_tensor *x = tt_to_dtype(tt_randn((int64_t[]){3, K}, 2, TT_F32), TT_BF16);
    cr_assert_eq(tt_requires_grad(x, 1), 0);
    tt_tensor *y = tt_packed_linear_forward(p, x, NULL);
    NOT_NULL(y);
    cr_assert_eq(tt_backward(tt_sum(tt_to_dtype(y, TT_F32))), 0, "%s", tt_last_error());
    tt_tensor *colsum = tt_sum_dim(w64, 0, 1);
    cr_assert_eq(tt_allclose(tt_to_dtype(tt_grad(x), TT_F64), tt_expand(colsum, (int64_t[]){3, K}, 2), 1.0 / 64, 1e-2), 1);
    /* wrong input width and a mis-shaped residual: NULL with a message */
    cr_assert_null(tt_packed_linear_forward(p, tt_to_dtype(tt_randn((int64_t[]){2, K + 1}, 2, TT_F32), TT_BF16), NULL));
    cr_assert(strstr(tt_last_error(), "features"), "%s", tt_last_error());
    cr_assert_null(tt_packed_linear_forward(p, tt_to_dtype(tt_randn((int64_t[]){2, K}, 2, TT_F32), TT_BF16),
                                            tt_randn((int64_t[]){2, N + 1}, 2, TT_F32)));
    cr_assert(strstr(tt_last_error(), "residual"), "%s", tt_last_error());
    cr_assert_null(tt_packed_linear_new(tt_randn((int64_t[]){N, K}, 2, TT_F32), NULL));
    cr_assert(strstr(tt_last_error(), "bf16"), "%s", tt_last_error());
    tt_packed_linear_free(p);
    tt_packed_linear_free(nob);
    tt_scope_end();
}

/* softmax(scale q k^T) v with heads merged ([B, L, H*d]), from float64 ops: the reference for
 * the fused attention. q [B, H, L, d], k and v [B', H, S, d] with B a multiple of B' (rows b*G ..
 * b*G+G-1 of q attend to row b of k and v). */
static tt_tensor *attention_f64(tt_tensor *q, tt_tensor *k, tt_tensor *v, double scale) {
    int64_t G = tt_size(q, 0) / tt_size(k, 0);
    tt_tensor *k64 = tt_repeat_interleave(tt_to_dtype(k, TT_F64), G, 0), *v64 = tt_repeat_interleave(tt_to_dtype(v, TT_F64), G, 0);
    tt_tensor *scores = tt_mul_scalar(tt_matmul(tt_to_dtype(q, TT_F64), tt_transpose(k64, -1, -2)), scale);
    tt_tensor *ctx = tt_matmul(tt_softmax(scores, -1), v64);
    return tt_reshape(tt_transpose(ctx, 1, 2), (int64_t[]){tt_size(q, 0), tt_size(q, 2), -1}, 3);
}

/* q, k, v [B, H, T, d] as the vision tower makes them: views into one [B, T, 3*H*d] projection */
static void qkv_views(tt_tensor *qkv, int64_t H, tt_tensor **q, tt_tensor **k, tt_tensor **v) {
    int64_t B = tt_size(qkv, 0), T = tt_size(qkv, 1), d = tt_size(qkv, 2) / (3 * H);
    tt_tensor *x = tt_permute(tt_view(qkv, (int64_t[]){B, T, 3, H, d}, 5), (int64_t[]){2, 0, 3, 1, 4}, 5);
    *q = tt_select(x, 0, 0);
    *k = tt_select(x, 0, 1);
    *v = tt_select(x, 0, 2);
}

Test(shim_values, fused_attention_matches_float64) {
    tt_scope_begin();
    tt_manual_seed(11);
    static const int64_t shapes[][4] = {{2, 17, 4, 8}, {3, 50, 3, 24}, {1, 1, 2, 16}, {2, 97, 12, 64}}; /* B, T, H, d */
    static const tt_dtype dts[] = {TT_F32, TT_BF16};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int j = 0; j < 2; j++) {
            int64_t B = shapes[i][0], T = shapes[i][1], H = shapes[i][2], d = shapes[i][3];
            double scale = 1.0 / sqrt((double)d), tol = dts[j] == TT_F32 ? 1e-5 : 2e-2;
            tt_tensor *q, *k, *v;
            qkv_views(tt_to_dtype(tt_randn((int64_t[]){B, T, 3 * H * d}, 3, TT_F32), dts[j]), H, &q, &k, &v);
            tt_tensor *got = tt_attention(q, k, v, scale);
            NOT_NULL(got);
            cr_assert_eq(tt_dtype_of(got), dts[j]);
            cr_assert_eq(tt_allclose(tt_to_dtype(got, TT_F64), attention_f64(q, k, v, scale), tol, tol), 1, "shape %zu %s", i,
                         tt_dtype_name(dts[j]));
        }
    /* inputs that need a gradient take ATen's ops: the same values, and the gradient reaches them */
    tt_tensor *leaf = tt_randn((int64_t[]){2, 9, 3 * 16}, 3, TT_F32), *q, *k, *v;
    cr_assert_eq(tt_requires_grad(leaf, 1), 0);
    qkv_views(leaf, 2, &q, &k, &v);
    tt_tensor *y = tt_attention(q, k, v, 0.25);
    NOT_NULL(y);
    cr_assert_eq(tt_allclose(tt_to_dtype(tt_detach(y), TT_F64), attention_f64(q, k, v, 0.25), 1e-5, 1e-5), 1);
    cr_assert_eq(tt_backward(tt_sum(y)), 0, "%s", tt_last_error());
    cr_assert(tt_has_grad(leaf));
    /* mismatched shapes: NULL with a message */
    cr_assert_null(tt_attention(tt_randn((int64_t[]){2, 3, 4, 8}, 4, TT_F32), tt_randn((int64_t[]){2, 3, 5, 6}, 4, TT_F32),
                                tt_randn((int64_t[]){2, 3, 5, 6}, 4, TT_F32), 1.0));
    cr_assert(strstr(tt_last_error(), "disagree"), "%s", tt_last_error());
    cr_assert_null(tt_attention(tt_randn((int64_t[]){9, 48}, 2, TT_F32), k, v, 1.0));
    tt_scope_end();
}

Test(shim_values, packed_keys_values_serve_groups_of_rows) {
    tt_scope_begin();
    tt_manual_seed(12);
    static const tt_dtype dts[] = {TT_F32, TT_BF16};
    static const int64_t groups_tokens[][2] = {{1, 1}, {3, 1}, {1, 4}, {3, 2}}; /* G, L */
    const int64_t B = 2, H = 3, S = 41, d = 24;
    for (int j = 0; j < 2; j++) {
        /* keys and values as the decoder keeps them: split from [B, S, H*d] projections */
        tt_tensor *k = tt_transpose(tt_view(tt_to_dtype(tt_randn((int64_t[]){B, S, H * d}, 3, TT_F32), dts[j]), (int64_t[]){B, S, H, d}, 4), 1, 2);
        tt_tensor *v = tt_transpose(tt_view(tt_to_dtype(tt_randn((int64_t[]){B, S, H * d}, 3, TT_F32), dts[j]), (int64_t[]){B, S, H, d}, 4), 1, 2);
        tt_clear_error();
        tt_tensor *packed = tt_attention_pack(k, v);
        if (!packed && !tt_last_error()[0] && !__builtin_cpu_supports("avx512f")) continue; /* no kernel on this CPU */
        NOT_NULL(packed);
        for (size_t i = 0; i < sizeof groups_tokens / sizeof groups_tokens[0]; i++) {
            int64_t G = groups_tokens[i][0], L = groups_tokens[i][1];
            tt_tensor *q = tt_transpose(tt_view(tt_to_dtype(tt_randn((int64_t[]){B * G, L, H * d}, 3, TT_F32), dts[j]), (int64_t[]){B * G, L, H, d}, 4), 1, 2);
            tt_tensor *got = tt_attention_packed(q, packed, S, 0.2);
            NOT_NULL(got);
            cr_assert_eq(tt_size(got, 0), B * G);
            cr_assert_eq(tt_size(got, 1), L);
            double tol = dts[j] == TT_F32 ? 1e-5 : 2e-2;
            cr_assert_eq(tt_allclose(tt_to_dtype(got, TT_F64), attention_f64(q, k, v, 0.2), tol, tol), 1, "%s G %ld L %ld",
                         tt_dtype_name(dts[j]), (long)G, (long)L);
        }
        /* a q whose batch is not a multiple of the packed rows, or of another head size: refused */
        cr_assert_null(tt_attention_packed(tt_to_dtype(tt_randn((int64_t[]){3, H, 1, d}, 4, TT_F32), dts[j]), packed, S, 1.0));
        cr_assert(strstr(tt_last_error(), "packed"), "%s", tt_last_error());
        cr_assert_null(tt_attention_packed(tt_to_dtype(tt_randn((int64_t[]){2, H, 1, d + 2}, 4, TT_F32), dts[j]), packed, S, 1.0));
    }
    tt_scope_end();
}

Test(shim_values, layer_norm_bf16_matches_float64) {
    tt_scope_begin();
    tt_manual_seed(13);
    tt_tensor *x = tt_add_scalar(tt_mul_scalar(tt_randn((int64_t[]){3, 7, 40}, 3, TT_F32), 2.0), 5.0);
    tt_tensor *w = tt_randn((int64_t[]){40}, 1, TT_F32), *b = tt_randn((int64_t[]){40}, 1, TT_F32);
    tt_tensor *want = tt_layer_norm(tt_to_dtype(x, TT_F64), 1, tt_to_dtype(w, TT_F64), tt_to_dtype(b, TT_F64), 1e-6);
    tt_tensor *got = tt_layer_norm_bf16(x, w, b, 1e-6);
    NOT_NULL(got);
    cr_assert_eq(tt_dtype_of(got), TT_BF16);
    cr_assert_eq(tt_allclose(tt_to_dtype(got, TT_F64), want, 1.0 / 128, 1e-3), 1, "within bf16 rounding");
    got = tt_layer_norm_bf16(x, NULL, NULL, 1e-6);
    NOT_NULL(got);
    cr_assert_eq(tt_allclose(tt_to_dtype(got, TT_F64), tt_layer_norm(tt_to_dtype(x, TT_F64), 1, NULL, NULL, 1e-6), 1.0 / 128, 1e-3), 1);
    /* a weight that needs a gradient: libtorch's layer_norm, and the gradient reaches it */
    cr_assert_eq(tt_requires_grad(w, 1), 0);
    got = tt_layer_norm_bf16(x, w, b, 1e-6);
    NOT_NULL(got);
    cr_assert_eq(tt_allclose(tt_to_dtype(tt_detach(got), TT_F64), want, 1.0 / 128, 1e-3), 1);
    cr_assert_eq(tt_backward(tt_sum(tt_to_dtype(got, TT_F32))), 0, "%s", tt_last_error());
    cr_assert(tt_has_grad(w));
    cr_assert_null(tt_layer_norm_bf16(x, tt_randn((int64_t[]){41}, 1, TT_F32), NULL, 1e-6));
    cr_assert(strstr(tt_last_error(), "features"), "%s", tt_last_error());
    tt_scope_end();
}

/* The folded cross-attention's per-head products against float64: q [2, 5, H*d] through w
 * [H*d, E] per head, and c [2, 5, H, E] back through w^T, with a bias. bf16 (the kernel where the
 * CPU has it), float32 and a weight needing a gradient (ATen's batched products). */
Test(shim_values, heads_expand_and_reduce_match_float64) {
    const int64_t H = 3, d = 8, E = 40;
    tt_scope_begin();
    tt_manual_seed(17);
    /* inputs that bf16 holds exactly, so every variant multiplies the same numbers */
    tt_tensor *q = tt_to_dtype(tt_to_dtype(tt_randn((int64_t[]){2, 5, H * d}, 3, TT_F32), TT_BF16), TT_F32);
    tt_tensor *w = tt_to_dtype(tt_to_dtype(tt_randn((int64_t[]){H * d, E}, 2, TT_F32), TT_BF16), TT_F32);
    tt_tensor *c = tt_to_dtype(tt_to_dtype(tt_randn((int64_t[]){2, 5, H, E}, 4, TT_F32), TT_BF16), TT_F32);
    tt_tensor *b = tt_to_dtype(tt_to_dtype(tt_randn((int64_t[]){H * d}, 1, TT_F32), TT_BF16), TT_F32);
    /* references: head h of q times rows h*d .. h*d+d-1 of w, in float64 */
    tt_tensor *q64 = tt_to_dtype(q, TT_F64), *w64 = tt_to_dtype(w, TT_F64), *c64 = tt_to_dtype(c, TT_F64), *b64 = tt_to_dtype(b, TT_F64);
    tt_tensor *wh = tt_view(w64, (int64_t[]){H, d, E}, 3);
    tt_tensor *qh = tt_permute(tt_view(q64, (int64_t[]){10, H, d}, 3), (int64_t[]){1, 0, 2}, 3);
    tt_tensor *want_x = tt_reshape(tt_permute(tt_bmm(qh, wh), (int64_t[]){1, 0, 2}, 3), (int64_t[]){2, 5, H, E}, 4);
    tt_tensor *ch = tt_permute(tt_view(c64, (int64_t[]){10, H, E}, 3), (int64_t[]){1, 0, 2}, 3);
    tt_tensor *want_r = tt_add(tt_reshape(tt_permute(tt_bmm(ch, tt_transpose(wh, 1, 2)), (int64_t[]){1, 0, 2}, 3),
                                          (int64_t[]){2, 5, H * d}, 3), b64);
    for (int variant = 0; variant < 3; variant++) { /* bf16, float32, bf16 weight needing a gradient */
        tt_dtype dt = variant == 1 ? TT_F32 : TT_BF16;
        tt_tensor *wv = tt_to_dtype(w, dt);
        if (variant == 2) cr_assert_eq(tt_requires_grad(wv, 1), 0);
        tt_tensor *x = tt_heads_expand(tt_to_dtype(q, dt), wv, H);
        tt_tensor *r = tt_heads_reduce(tt_to_dtype(c, dt), wv, tt_to_dtype(b, dt));
        NOT_NULL(x);
        NOT_NULL(r);
        int64_t xs[4], rs[3];
        cr_assert_eq(tt_shape(x, xs, 4), 4);
        cr_assert(xs[0] == 2 && xs[1] == 5 && xs[2] == H && xs[3] == E);
        cr_assert_eq(tt_shape(r, rs, 3), 3);
        cr_assert(rs[0] == 2 && rs[1] == 5 && rs[2] == H * d);
        /* bf16 results: one bf16 step (2^-8 relative) plus the sums' rounding */
        cr_assert_eq(tt_allclose(tt_to_dtype(tt_detach(x), TT_F64), want_x, 1.0 / 128, 1e-2), 1, "expand, variant %d", variant);
        cr_assert_eq(tt_allclose(tt_to_dtype(tt_detach(r), TT_F64), want_r, 1.0 / 128, 1e-2), 1, "reduce, variant %d", variant);
    }
    cr_assert_null(tt_heads_expand(q, tt_randn((int64_t[]){H * d + 1, E}, 2, TT_F32), H));
    cr_assert(strstr(tt_last_error(), "heads_expand"), "%s", tt_last_error());
    cr_assert_null(tt_heads_reduce(c, w, tt_randn((int64_t[]){H * d + 1}, 1, TT_F32)));
    cr_assert(strstr(tt_last_error(), "bias"), "%s", tt_last_error());
    tt_scope_end();
}

/* ---- gradients against finite differences ------------------------------------------------ */

static tt_tensor *fn_linear(tt_tensor **in, void *ctx) { return tt_linear(in[0], in[1], in[2]); }
Test(shim_grad, linear) {
    fd_input in[3] = {make_input(2, (int64_t[]){3, 4}, 1), make_input(2, (int64_t[]){5, 4}, 1),
                      make_input(1, (int64_t[]){5}, 1)};
    check_gradients("linear", fn_linear, NULL, in, 3);
    free_inputs(in, 3);
}

static tt_tensor *fn_layer_norm(tt_tensor **in, void *ctx) { return tt_layer_norm(in[0], 1, in[1], in[2], 1e-5); }
Test(shim_grad, layer_norm) {
    fd_input in[3] = {make_input(2, (int64_t[]){3, 6}, 2), make_input(1, (int64_t[]){6}, 1),
                      make_input(1, (int64_t[]){6}, 1)};
    check_gradients("layer_norm", fn_layer_norm, NULL, in, 3);
    free_inputs(in, 3);
}

static tt_tensor *fn_gelu(tt_tensor **in, void *ctx) { return tt_gelu(in[0]); }
Test(shim_grad, gelu) {
    fd_input in[1] = {make_input(2, (int64_t[]){4, 5}, 3)};
    check_gradients("gelu", fn_gelu, NULL, in, 1);
    free_inputs(in, 1);
}

static tt_tensor *fn_softmax(tt_tensor **in, void *ctx) { return tt_softmax(in[0], -1); }
Test(shim_grad, softmax) {
    fd_input in[1] = {make_input(2, (int64_t[]){3, 7}, 2)};
    check_gradients("softmax", fn_softmax, NULL, in, 1);
    free_inputs(in, 1);
}

typedef struct {
    const int64_t *targets;
    int n;
    double smoothing;
} ce_ctx;
static tt_tensor *fn_cross_entropy(tt_tensor **in, void *ctx) {
    ce_ctx *c = ctx;
    tt_tensor *t = tt_from_data(c->targets, (int64_t[]){c->n}, 1, TT_I64);
    return tt_cross_entropy(in[0], t, TT_REDUCE_MEAN, -100, c->smoothing);
}
Test(shim_grad, cross_entropy_with_ignore_and_smoothing) {
    static const int64_t targets[5] = {2, -100, 0, 6, 3};
    for (int s = 0; s < 2; s++) {
        ce_ctx c = {targets, 5, s ? 0.1 : 0.0};
        fd_input in[1] = {make_input(2, (int64_t[]){5, 7}, 2)};
        check_gradients("cross_entropy", fn_cross_entropy, &c, in, 1);
        free_inputs(in, 1);
    }
}

/* the same seed in every evaluation: the same mask, so the function is differentiable */
static tt_tensor *fn_dropout(tt_tensor **in, void *ctx) {
    tt_manual_seed(5);
    return tt_dropout(in[0], 0.4, 1);
}
Test(shim_grad, dropout) {
    fd_input in[1] = {make_input(2, (int64_t[]){4, 9}, 1)};
    check_gradients("dropout", fn_dropout, NULL, in, 1);
    free_inputs(in, 1);
}

static tt_tensor *fn_linear_acc(tt_tensor **in, void *ctx) { return tt_linear_acc(in[0], in[1], in[2], -0.75); }
Test(shim_grad, linear_acc) {
    fd_input in[3] = {make_input(3, (int64_t[]){2, 3, 5}, 1), make_input(3, (int64_t[]){2, 3, 4}, 1),
                      make_input(2, (int64_t[]){5, 4}, 1)};
    check_gradients("linear_acc", fn_linear_acc, NULL, in, 3);
    free_inputs(in, 3);
}

static tt_tensor *fn_conv2d(tt_tensor **in, void *ctx) { return tt_conv2d(in[0], in[1], in[2], 2, 2, 1, 0); }
Test(shim_grad, conv2d) {
    fd_input in[3] = {make_input(4, (int64_t[]){2, 2, 5, 4}, 1), make_input(4, (int64_t[]){3, 2, 2, 2}, 1),
                      make_input(1, (int64_t[]){3}, 1)};
    check_gradients("conv2d", fn_conv2d, NULL, in, 3);
    free_inputs(in, 3);
}

static tt_tensor *fn_embedding(tt_tensor **in, void *ctx) {
    static const int64_t ids[6] = {1, 3, 1, 0, 4, 1}; /* repeated ids: gradients accumulate */
    return tt_embedding(in[0], tt_from_data(ids, (int64_t[]){2, 3}, 2, TT_I64), -1);
}

Test(shim_grad, embedding_padding_idx_gets_no_gradient) {
    static const int64_t ids[4] = {0, 2, 0, 1};
    tt_scope_begin();
    tt_tensor *w = tt_ones((int64_t[]){3, 2}, 2, TT_F64);
    tt_requires_grad(w, 1);
    cr_assert_eq(tt_backward(tt_sum(tt_embedding(w, tt_from_data(ids, (int64_t[]){4}, 1, TT_I64), 0))), 0);
    double g[6];
    copy_f64(tt_grad(w), g, 6);
    cr_assert(g[0] == 0 && g[1] == 0, "padding row got a gradient");
    cr_assert(g[2] == 1 && g[4] == 1);
    tt_scope_end();
}
Test(shim_grad, embedding) {
    fd_input in[1] = {make_input(2, (int64_t[]){5, 3}, 1)};
    check_gradients("embedding", fn_embedding, NULL, in, 1);
    free_inputs(in, 1);
}

/* ---- autograd state ----------------------------------------------------------------------- */

Test(shim_autograd, grad_mode_zero_grad_and_clipping) {
    double w[3] = {1, 2, 3};
    tt_tensor *p = f64(w, (int64_t[]){3}, 1);
    cr_assert_eq(tt_requires_grad(p, 1), 0);
    cr_assert_eq(tt_has_grad(p), 0);
    cr_assert_null(tt_grad(p));
    cr_assert(strstr(tt_last_error(), "no gradient") != NULL);

    tt_scope_begin();
    int prev = tt_set_grad_enabled(0);
    cr_assert_eq(prev, 1);
    tt_tensor *l = tt_sum(tt_mul(p, p));
    cr_assert_eq(tt_requires_grad_of(l), 0);
    cr_assert_eq(tt_backward(l), -1); /* nothing to differentiate under no-grad */
    tt_set_grad_enabled(prev);
    cr_assert_eq(tt_is_grad_enabled(), 1);

    l = tt_sum(tt_mul(p, p)); /* d/dw = 2w = (2,4,6), norm sqrt(56) */
    cr_assert_eq(tt_backward(l), 0);
    double before = tt_clip_grad_norm(&p, 1, 1.0);
    cr_assert_float_eq(before, sqrt(56.0), 1e-12);
    tt_tensor *g = tt_grad(p);
    cr_assert_float_eq(tt_item(tt_norm(g, 2)), 1.0, 1e-5); /* torch scales by max/(norm+1e-6) */
    cr_assert_eq(tt_zero_grad(p), 0);
    cr_assert_eq(tt_has_grad(p), 0);
    tt_scope_end();
    tt_free(p);
    cr_assert_eq(tt_live_handles(), 0);
}

/* ---- AdamW: torch's decoupled formula, two groups with their own lr and weight decay -------- */

Test(shim_optim, adamw_matches_formula_and_state_round_trips) {
    const double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8;
    double w0[3] = {0.5, -1.0, 2.0}, v0[2] = {1.0, -3.0};
    tt_tensor *w = f64(w0, (int64_t[]){3}, 1), *v = f64(v0, (int64_t[]){2}, 1);
    tt_requires_grad(w, 1);
    tt_requires_grad(v, 1);
    tt_optim *opt = tt_adamw_new(lr, b1, b2, eps, 0.0);
    cr_assert_not_null(opt, "%s", tt_last_error());
    cr_assert_eq(tt_optim_add_group(opt, &w, 1, lr, 0.05), 0);
    cr_assert_eq(tt_optim_add_group(opt, &v, 1, 2 * lr, 0.0), 1);
    cr_assert_eq(tt_optim_num_groups(opt), 2);
    /* reference state */
    double rw[3], rv[2], mw[3] = {0}, sw[3] = {0}, mv[2] = {0}, sv[2] = {0};
    memcpy(rw, w0, sizeof rw);
    memcpy(rv, v0, sizeof rv);
    for (int step = 1; step <= 3; step++) {
        /* loss = sum(w^3) + sum(v^2): grads 3w^2 and 2v */
        tt_scope_begin();
        tt_tensor *loss = tt_add(tt_sum(tt_pow_scalar(w, 3)), tt_sum(tt_mul(v, v)));
        cr_assert_eq(tt_backward(loss), 0, "%s", tt_last_error());
        tt_scope_end();
        cr_assert_eq(tt_optim_step(opt), 0, "%s", tt_last_error());
        cr_assert_eq(tt_optim_zero_grad(opt), 0);
        double bc1 = 1 - pow(b1, step), bc2 = 1 - pow(b2, step);
        for (int i = 0; i < 3; i++) {
            double g = 3 * rw[i] * rw[i];
            rw[i] *= 1 - lr * 0.05;
            mw[i] = b1 * mw[i] + (1 - b1) * g;
            sw[i] = b2 * sw[i] + (1 - b2) * g * g;
            rw[i] -= lr / bc1 * mw[i] / (sqrt(sw[i]) / sqrt(bc2) + eps);
        }
        for (int i = 0; i < 2; i++) {
            double g = 2 * rv[i];
            mv[i] = b1 * mv[i] + (1 - b1) * g;
            sv[i] = b2 * sv[i] + (1 - b2) * g * g;
            rv[i] -= 2 * lr / bc1 * mv[i] / (sqrt(sv[i]) / sqrt(bc2) + eps);
        }
    }
    double got[3];
    copy_f64(w, got, 3);
    for (int i = 0; i < 3; i++) cr_assert_float_eq(got[i], rw[i], 1e-12);
    copy_f64(v, got, 2);
    for (int i = 0; i < 2; i++) cr_assert_float_eq(got[i], rv[i], 1e-12);

    int64_t step;
    tt_tensor *m = NULL, *s = NULL;
    cr_assert_eq(tt_optim_get_state(opt, 0, 0, &step, &m, &s), 0, "%s", tt_last_error());
    cr_assert_eq(step, 3);
    double mm[3];
    copy_f64(m, mm, 3);
    for (int i = 0; i < 3; i++) cr_assert_float_eq(mm[i], mw[i], 1e-12);

    /* restoring the state into a fresh optimizer continues identically */
    tt_tensor *w_detached = tt_detach(w), *w2 = tt_clone(w_detached);
    tt_free(w_detached);
    tt_requires_grad(w2, 1);
    tt_optim *opt2 = tt_adamw_new(lr, b1, b2, eps, 0.0);
    cr_assert_eq(tt_optim_add_group(opt2, &w2, 1, lr, 0.05), 0);
    cr_assert_eq(tt_optim_set_state(opt2, 0, 0, step, m, s), 0, "%s", tt_last_error());
    tt_tensor *ws[2] = {w, w2};
    tt_optim *opts[2] = {opt, opt2};
    for (int k = 0; k < 2; k++) {
        tt_scope_begin();
        cr_assert_eq(tt_backward(tt_sum(tt_pow_scalar(ws[k], 3))), 0);
        tt_scope_end();
        cr_assert_eq(tt_optim_step(opts[k]), 0);
    }
    cr_assert_eq(tt_allclose(w, w2, 0, 0), 1);

    cr_assert_eq(tt_optim_set_lr(opt, -1, 0.5), 0);
    cr_assert_float_eq(tt_optim_get_lr(opt, 1), 0.5, 0);
    cr_assert_eq(tt_optim_set_lr(opt, 5, 0.5), -1);
    cr_assert(strstr(tt_last_error(), "out of range") != NULL);
    cr_assert_eq(tt_optim_set_state(opt, 0, 0, 1, v, v), -1); /* wrong shape */
    tt_free(m);
    tt_free(s);
    tt_optim_free(opt);
    tt_optim_free(opt2);
    tt_free(w);
    tt_free(w2);
    tt_free(v);
    cr_assert_eq(tt_live_handles(), 0);
}

/* ---- errors and lifetimes ----------------------------------------------------------------- */

Test(shim_errors, shape_mismatch_returns_null_with_message) {
    tt_scope_begin();
    tt_tensor *a = tt_zeros((int64_t[]){2, 3}, 2, TT_F32), *b = tt_zeros((int64_t[]){4, 5}, 2, TT_F32);
    cr_assert_null(tt_matmul(a, b));
    cr_assert(strstr(tt_last_error(), "shapes cannot be multiplied") != NULL, "message: %s", tt_last_error());
    cr_assert(strstr(tt_last_error(), "Exception raised from") == NULL, "C++ backtrace leaked into the message");
    /* a second error before the first is read replaces it, no crash */
    cr_assert_null(tt_add(a, b));
    cr_assert(strstr(tt_last_error(), "size of tensor") != NULL, "message: %s", tt_last_error());
    /* NULL inputs (a failed earlier call) propagate, keeping the first failure's message */
    cr_assert_null(tt_gelu(NULL));
    cr_assert(strstr(tt_last_error(), "size of tensor") != NULL, "message: %s", tt_last_error());
    tt_clear_error();
    cr_assert_null(tt_gelu(NULL));
    cr_assert(strstr(tt_last_error(), "null tensor") != NULL);
    cr_assert_null(tt_linear(a, NULL, NULL));
    cr_assert_eq(tt_ndim(NULL), -1);
    cr_assert(isnan(tt_item(a))); /* more than one element */
    cr_assert_eq(tt_copy_to(a, NULL, 3), -1);
    cr_assert_null(tt_view(a, (int64_t[]){7}, 1));
    cr_assert_null(tt_layer_norm(a, 3, NULL, NULL, 1e-5));
    int64_t bad_ids[1] = {9};
    cr_assert_null(tt_embedding(a, tt_from_data(bad_ids, (int64_t[]){1}, 1, TT_I64), -1));
    cr_assert_null(tt_cross_entropy(a, tt_from_data(bad_ids, (int64_t[]){1}, 1, TT_I64), TT_REDUCE_MEAN, -100, 0));
    cr_assert_null(tt_from_data(NULL, (int64_t[]){3}, 1, TT_F32));
    tt_clear_error();
    cr_assert_str_eq(tt_last_error(), "");
    tt_scope_end();
    cr_assert_eq(tt_live_handles(), 0);
}

Test(shim_errors, devices) {
    cr_assert_eq(tt_device_check("cpu"), 0);
    cr_assert_eq(tt_device_check("tpu"), -1);
    cr_assert_eq(tt_device_check("cuda:x"), -1);
    if (!tt_cuda_available()) {
        cr_assert_eq(tt_device_check("cuda"), -1);
        cr_assert(strstr(tt_last_error(), "CUDA") != NULL, "message: %s", tt_last_error());
        tt_tensor *a = tt_zeros((int64_t[]){2}, 1, TT_F32);
        cr_assert_null(tt_to_device(a, "cuda:0"));
        tt_free(a);
    } else {
        cr_assert_eq(tt_device_check("cuda:0"), 0);
        cr_assert_eq(tt_device_check("cuda:999"), -1);
        tt_tensor *a = tt_ones((int64_t[]){2}, 1, TT_F32);
        tt_tensor *g = tt_to_device(a, "cuda:0");
        char name[32];
        cr_assert_eq(tt_device_of(g, name, sizeof name), 0);
        cr_assert_str_eq(name, "cuda:0");
        cr_assert_eq(tt_item(tt_keep(tt_sum(g))), 2.0);
        tt_free(a);
        tt_free(g);
    }
}

static int released;
static void count_release(void *ctx) { released += *(int *)ctx; }

Test(shim_lifetimes, from_blob_is_zero_copy_and_releases_once) {
    static float buf[6] = {1, 2, 3, 4, 5, 6};
    static int one = 1;
    released = 0;
    tt_tensor *t = tt_from_blob(buf, (int64_t[]){2, 3}, 2, TT_F32, count_release, &one);
    cr_assert_not_null(t);
    cr_assert_eq(tt_data_ptr(t), (void *)buf);
    tt_tensor *v = tt_transpose(t, 0, 1); /* a view keeps the memory alive */
    tt_free(t);
    cr_assert_eq(released, 0);
    cr_assert_eq(tt_item(tt_keep(tt_sum(v))), 21.0);
    tt_free(v);
    cr_assert_eq(released, 1);
}

static tt_tensor *small_forward(tt_tensor *x, tt_tensor *w) {
    tt_scope_begin();
    tt_tensor *h = tt_gelu(tt_linear(x, w, NULL));
    tt_tensor *y = tt_keep(tt_softmax(tt_layer_norm(h, 1, NULL, NULL, 1e-5), -1));
    tt_scope_end();
    return y;
}

Test(shim_lifetimes, scopes_free_everything_but_kept_handles) {
    cr_assert_eq(tt_live_handles(), 0);
    tt_tensor *x = tt_randn((int64_t[]){4, 8}, 2, TT_F32), *w = tt_randn((int64_t[]){8, 8}, 2, TT_F32);
    cr_assert_eq(tt_live_handles(), 2);
    tt_tensor *y = small_forward(x, w);
    cr_assert_not_null(y);
    cr_assert_eq(tt_live_handles(), 3, "forward left %ld handles", (long)tt_live_handles() - 2);
    /* nested: kept handle moves to the outer scope and dies with it */
    cr_assert_eq(tt_scope_begin(), 1);
    cr_assert_eq(tt_scope_begin(), 2);
    tt_tensor *inner = tt_keep(tt_mul(y, y));
    tt_scope_end();
    cr_assert_eq(tt_live_handles(), 4);
    cr_assert_eq(tt_item(tt_sum(inner)) > 0, 1);
    tt_free(inner); /* freeing a scoped handle early is fine, no double free at scope end */
    tt_scope_end();
    cr_assert_eq(tt_live_handles(), 3);
    /* errors inside a scope leave nothing behind */
    tt_scope_begin();
    cr_assert_null(tt_matmul(tt_randn((int64_t[]){3, 2}, 2, TT_F32), tt_randn((int64_t[]){3, 2}, 2, TT_F32)));
    tt_scope_end();
    tt_free(x);
    tt_free(w);
    tt_free(y);
    cr_assert_eq(tt_live_handles(), 0);
    tt_free(NULL);
    tt_scope_end(); /* unbalanced end is harmless */
}

Test(shim_lifetimes, rebind_swaps_what_a_handle_holds) {
    float a[3] = {1, 2, 3}, b[3] = {7, 8, 9}, got[3];
    tt_tensor *h = tt_from_data(a, (int64_t[]){3}, 1, TT_F32), *src = tt_from_data(b, (int64_t[]){3}, 1, TT_F32);
    tt_tensor *old = tt_shallow_clone(h); /* a second handle keeps the old tensor alive */
    cr_assert_eq(tt_rebind(h, src), 0, "%s", tt_last_error());
    cr_assert_eq(tt_copy_to(h, got, sizeof got), 0);
    cr_assert(got[0] == 7 && got[1] == 8 && got[2] == 9);
    /* h and src now share one tensor: a write through one shows through the other */
    cr_assert_eq(tt_fill_(src, 5), 0);
    cr_assert_eq(tt_copy_to(h, got, sizeof got), 0);
    cr_assert(got[0] == 5 && got[2] == 5);
    cr_assert_eq(tt_copy_to(old, got, sizeof got), 0);
    cr_assert(got[0] == 1 && got[1] == 2 && got[2] == 3);
    cr_assert_eq(tt_rebind(h, NULL), -1);
    cr_assert_eq(tt_rebind(NULL, src), -1);
    tt_free(src), tt_free(old), tt_free(h);
    cr_assert_eq(tt_live_handles(), 0);
}

Test(shim_runtime, threads_default_to_all_cores) {
    cpu_set_t set;
    cr_assert_eq(sched_getaffinity(0, sizeof set, &set), 0);
    int cores = CPU_COUNT(&set);
    /* all cores by default; a user's OMP_NUM_THREADS wins */
    const char *omp = getenv("OMP_NUM_THREADS");
    cr_assert_eq(tt_get_num_threads(), omp && *omp ? atoi(omp) : cores);
    cr_assert_eq(tt_set_num_threads(1), 0);
    cr_assert_eq(tt_get_num_threads(), 1);
    cr_assert_eq(tt_set_num_threads(0), 0);
    cr_assert_eq(tt_get_num_threads(), cores);
    cr_assert_str_neq(tt_torch_version(), "");
}
