/* tt.h — the thin C API over libtorch. The only door between vlkit's C and C++.
 *
 * Basic usage:
 *
 *   tt_scope_begin();                                  // temporaries made from here on ...
 *   tt_tensor *h = tt_linear(x, w, b);                 // ... are freed by tt_scope_end()
 *   tt_tensor *y = tt_keep(tt_gelu(h));                // except those kept (moved to the outer scope)
 *   tt_scope_end();
 *   if (!y) fprintf(stderr, "%s\n", tt_last_error());
 *   tt_free(y);
 *
 * Conventions (as tch-rs's torch_api.h):
 * - tt_tensor* is an opaque handle to an at::Tensor. Every function returning a tensor returns a
 *   NEW handle owned by the caller (or by the innermost open scope); free it with tt_free().
 * - No C++ exception crosses this boundary. On failure a function returns NULL (tensors), -1
 *   (int status) or NaN (doubles) and the message is kept in a thread-local buffer,
 *   tt_last_error(). A later error replaces an unread one (no leak, no crash).
 * - Every tensor argument may be NULL only where documented ("optional"); passing NULL elsewhere
 *   is an error ("null tensor"), so a failure propagates through a chain of calls: the chain
 *   returns NULL and the first error message is kept.
 * - Shapes cross as (const int64_t *dims, int ndim); lists of tensors as (tt_tensor *const *, int).
 * - Names follow ATen (matmul, layer_norm, cross_entropy, ...); a trailing underscore means in
 *   place, as in ATen.
 * Compiles as C11 and as C++17.
 */
#ifndef VLKIT_SHIM_TT_H
#define VLKIT_SHIM_TT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tt_tensor tt_tensor;
typedef struct tt_optim tt_optim;

typedef enum {
    TT_F32 = 0,
    TT_F64,
    TT_BF16,
    TT_F16,
    TT_I64,
    TT_I32,
    TT_I16,
    TT_I8,
    TT_U8,
    TT_BOOL,
} tt_dtype;

typedef enum { TT_REDUCE_NONE = 0, TT_REDUCE_MEAN = 1, TT_REDUCE_SUM = 2 } tt_reduction;

/* ---- errors ---------------------------------------------------------------------------- */
/* The last error message on this thread ("" when none since tt_clear_error()). */
const char *tt_last_error(void);
void tt_clear_error(void);

/* ---- runtime --------------------------------------------------------------------------- */
const char *tt_torch_version(void);         /* "1.13.0" */
/* Intra-op threads. n <= 0: all cores this process may use (the default at start-up, since
 * Debian's libtorch otherwise starts with one). */
int tt_set_num_threads(int n);
int tt_get_num_threads(void);
int tt_manual_seed(uint64_t seed);
/* The CPU generator's state (dropout, randn, ...), for exact resume: *buf malloc'd. */
int tt_rng_state_get(uint8_t **buf, size_t *len);
int tt_rng_state_set(const uint8_t *buf, size_t len);
int tt_cuda_available(void);
int tt_cuda_device_count(void);
/* Dtype helpers. */
size_t tt_dtype_size(tt_dtype dt);
const char *tt_dtype_name(tt_dtype dt);     /* "f32", "bf16", ... */
int tt_dtype_parse(const char *name, tt_dtype *out); /* accepts f32/float32/fp32, bf16/bfloat16, ... */

/* ---- lifetimes ------------------------------------------------------------------------- */
void tt_free(tt_tensor *t);                 /* NULL is fine */
int64_t tt_live_handles(void);              /* handles alive in this process (for leak tests) */
int tt_scope_begin(void);                   /* returns the new depth (1 = outermost) */
tt_tensor *tt_keep(tt_tensor *t);           /* survive the current scope (NULL passes through) */
void tt_scope_end(void);                    /* free handles made in this scope and not kept */
/* Take t out of every scope: the caller frees it with tt_free (for state that outlives the
 * scopes it was computed in: caches, parameters). NULL passes through. */
tt_tensor *tt_persist(tt_tensor *t);
tt_tensor *tt_shallow_clone(tt_tensor *t);  /* a second handle to the same tensor */
/* Make the handle dst refer to src's tensor (both handles then share it; dst's old tensor is
 * released unless another handle holds it). For swapping a parameter that model structs
 * borrow by handle (LoRA modules_to_save). */
int tt_rebind(tt_tensor *dst, tt_tensor *src);

/* ---- creation -------------------------------------------------------------------------- */
/* Wrap caller memory without copying; release(ctx) is called when the last tensor using the
 * memory is gone (e.g. to unmap a safetensors file). release may be NULL. The memory must stay
 * valid and must not be written while tensors use it unless the caller owns that contract. */
tt_tensor *tt_from_blob(void *data, const int64_t *dims, int ndim, tt_dtype dt, void (*release)(void *ctx),
                        void *ctx);
tt_tensor *tt_from_data(const void *data, const int64_t *dims, int ndim, tt_dtype dt); /* copies */
tt_tensor *tt_scalar_tensor(double v, tt_dtype dt);
tt_tensor *tt_zeros(const int64_t *dims, int ndim, tt_dtype dt);
tt_tensor *tt_ones(const int64_t *dims, int ndim, tt_dtype dt);
tt_tensor *tt_full(const int64_t *dims, int ndim, double value, tt_dtype dt);
tt_tensor *tt_arange(double start, double end, double step, tt_dtype dt);
tt_tensor *tt_randn(const int64_t *dims, int ndim, tt_dtype dt);
tt_tensor *tt_rand(const int64_t *dims, int ndim, tt_dtype dt);
tt_tensor *tt_zeros_like(tt_tensor *t);
int tt_uniform_(tt_tensor *t, double lo, double hi);
int tt_normal_(tt_tensor *t, double mean, double std);
int tt_zero_(tt_tensor *t);
int tt_fill_(tt_tensor *t, double value);
int tt_copy_(tt_tensor *dst, tt_tensor *src);  /* dst.copy_(src), broadcasting, casting */

/* ---- inspection and copying out -------------------------------------------------------- */
int tt_ndim(tt_tensor *t);                   /* -1 on error */
int64_t tt_size(tt_tensor *t, int dim);      /* negative dim counts from the end; -1 on error */
int tt_shape(tt_tensor *t, int64_t *dims, int cap); /* returns ndim; fills up to cap dims */
int64_t tt_numel(tt_tensor *t);
int tt_dtype_of(tt_tensor *t);               /* a tt_dtype, or -1 */
int tt_is_contiguous(tt_tensor *t);
int tt_requires_grad_of(tt_tensor *t);
/* Copy the elements, in row-major order and in the tensor's dtype, to dst (nbytes must equal
 * numel * dtype size). Works for any layout and device. */
int tt_copy_to(tt_tensor *t, void *dst, size_t nbytes);
/* Pointer to the data of a contiguous CPU tensor (NULL otherwise). */
void *tt_data_ptr(tt_tensor *t);
double tt_item(tt_tensor *t);                /* one-element tensor to double; NaN + error otherwise */
int tt_allclose(tt_tensor *a, tt_tensor *b, double rtol, double atol); /* 1, 0, or -1 */
int tt_all_finite(tt_tensor *t);             /* 1 when no NaN/Inf, 0 otherwise, -1 on error */

/* ---- dtype and device ------------------------------------------------------------------ */
tt_tensor *tt_to_dtype(tt_tensor *t, tt_dtype dt);
/* "cpu", "cuda", "cuda:N". A libtorch without CUDA gives a clear error, not an abort. */
tt_tensor *tt_to_device(tt_tensor *t, const char *device);
int tt_device_check(const char *device);     /* 0 when usable here, -1 + message otherwise */
int tt_device_of(tt_tensor *t, char *buf, size_t cap); /* writes "cpu" / "cuda:0" */

/* ---- elementwise ----------------------------------------------------------------------- */
tt_tensor *tt_add(tt_tensor *a, tt_tensor *b);
tt_tensor *tt_sub(tt_tensor *a, tt_tensor *b);
tt_tensor *tt_mul(tt_tensor *a, tt_tensor *b);
tt_tensor *tt_div(tt_tensor *a, tt_tensor *b);
tt_tensor *tt_add_scalar(tt_tensor *a, double s);
tt_tensor *tt_sub_scalar(tt_tensor *a, double s);
tt_tensor *tt_mul_scalar(tt_tensor *a, double s);
tt_tensor *tt_div_scalar(tt_tensor *a, double s);
tt_tensor *tt_pow_scalar(tt_tensor *a, double exponent);
int tt_add_(tt_tensor *a, tt_tensor *b, double alpha); /* a += alpha * b */
int tt_mul_scalar_(tt_tensor *a, double s);
tt_tensor *tt_neg(tt_tensor *a);
tt_tensor *tt_exp(tt_tensor *a);
tt_tensor *tt_log(tt_tensor *a);
tt_tensor *tt_sqrt(tt_tensor *a);
tt_tensor *tt_rsqrt(tt_tensor *a);
tt_tensor *tt_abs(tt_tensor *a);
tt_tensor *tt_tanh(tt_tensor *a);
tt_tensor *tt_sigmoid(tt_tensor *a);
tt_tensor *tt_relu(tt_tensor *a);
tt_tensor *tt_gelu(tt_tensor *a);            /* exact: x * 0.5 * (1 + erf(x / sqrt(2))) */
tt_tensor *tt_gelu_tanh(tt_tensor *a);       /* tanh approximation */
tt_tensor *tt_clamp(tt_tensor *a, double lo, double hi);
tt_tensor *tt_maximum(tt_tensor *a, tt_tensor *b);
tt_tensor *tt_minimum(tt_tensor *a, tt_tensor *b);
/* Comparisons give TT_BOOL tensors. */
tt_tensor *tt_eq(tt_tensor *a, tt_tensor *b);
tt_tensor *tt_eq_scalar(tt_tensor *a, double s);
tt_tensor *tt_ne_scalar(tt_tensor *a, double s);
tt_tensor *tt_lt_scalar(tt_tensor *a, double s);
tt_tensor *tt_gt_scalar(tt_tensor *a, double s);
tt_tensor *tt_logical_not(tt_tensor *a);
tt_tensor *tt_masked_fill(tt_tensor *a, tt_tensor *mask, double value);
int tt_masked_fill_(tt_tensor *a, tt_tensor *mask, double value);
tt_tensor *tt_where(tt_tensor *cond, tt_tensor *a, tt_tensor *b);
/* F.dropout: identity when !train or p == 0. */
tt_tensor *tt_dropout(tt_tensor *a, double p, int train);

/* ---- linear algebra and nn ------------------------------------------------------------- */
tt_tensor *tt_matmul(tt_tensor *a, tt_tensor *b);
tt_tensor *tt_bmm(tt_tensor *a, tt_tensor *b);
/* y = x W^T + b; bias optional (NULL). */
tt_tensor *tt_linear(tt_tensor *x, tt_tensor *weight, tt_tensor *bias);
/* y + alpha * x W^T in one product that accumulates into (a copy of) y: x [..., in], W [out, in],
 * y [..., out] with the same leading dims (ATen addmm over the flattened rows). */
tt_tensor *tt_linear_acc(tt_tensor *y, tt_tensor *x, tt_tensor *weight, double alpha);
/* A frozen bf16 linear layer whose weight is reordered once into oneDNN's blocked layout (the
 * layout its bf16 kernels compute on; ATen's bf16 addmm repacks the plain weight at every call,
 * which costs more than the product itself when few rows are multiplied, as in decoding).
 * new: weight [out, in] and optional bias [out], both bf16 (copies are kept); NULL with no error
 * set when vlkit was built without oneDNN's headers or oneDNN has only reference kernels for bf16
 * on this CPU (callers then use tt_linear), NULL with an error for bad arguments.
 * forward: x [..., in] -> y = x W^T + b [..., out] in bf16, the same numbers as tt_linear; with
 * residual (float32, y's shape), residual + y in float32, added to the float32 accumulator
 * inside the product (the residual stream's add without a pass of its own). Falls back to ATen
 * ops of the same meaning when x is not contiguous bf16 or a gradient is needed (no autograd in
 * the oneDNN call). Thread-safe; free once, after the last forward. */
typedef struct tt_packed_linear tt_packed_linear;
tt_packed_linear *tt_packed_linear_new(tt_tensor *weight, tt_tensor *bias);
tt_tensor *tt_packed_linear_forward(tt_packed_linear *p, tt_tensor *x, tt_tensor *residual);
/* gelu(x W^T + b) (erf form) in bf16, the GELU applied to the float32 accumulator before the
 * rounding (libtorch rounds the product to bf16 first); ATen ops where forward falls back. */
tt_tensor *tt_packed_linear_gelu(tt_packed_linear *p, tt_tensor *x);
void tt_packed_linear_free(tt_packed_linear *p);
/* Multi-head attention without a mask, fused for inference: softmax(scale q k^T) v for q
 * [B, H, L, d] and k, v [B, H, S, d] (views with any strides, e.g. heads split from a projection),
 * returned with the heads merged, [B, L, H*d], in q's dtype (float32 or bf16). Runs
 * kernels/attention.c (each head's keys and values packed once, the scores kept in cache, q read
 * and the output written in place) where the CPU has AVX-512 (bf16: AVX512-BF16), each input has
 * unit stride along d and none needs a gradient; otherwise the same through ATen ops. */
tt_tensor *tt_attention(tt_tensor *q, tt_tensor *k, tt_tensor *v, double scale);
/* Keys and values [B, H, S, d] packed once for many tt_attention_packed calls (decoding reads the
 * same image tokens at every step): [B, H, bytes] u8. NULL with no error set where the kernel does
 * not apply (see tt_attention; callers keep the ATen path), NULL with an error for bad arguments. */
tt_tensor *tt_attention_pack(tt_tensor *k, tt_tensor *v);
/* tt_attention for q [B*G, H, L, d] against packed keys/values of B rows and S keys: rows
 * b*G .. b*G+G-1 of q (an image's beams) all attend to row b. Returns [B*G, L, H*d]. */
tt_tensor *tt_attention_packed(tt_tensor *q, tt_tensor *packed, int64_t keys, double scale);
/* The per-head products of a cross-attention with its key/value projections folded into the
 * queries and the context (model/blip_text.h), for inference. w [H*d, E] is a key or value
 * weight, split by rows into H heads of d.
 *   expand: q [..., H*d] -> [..., H, E], head h: q_h w_h       (q_h [.., d], w_h [d, E])
 *   reduce: c [..., H, E] -> [..., H*d], head h: c_h w_h^T + b_h (bias [H*d] or NULL)
 * bf16 runs kernels/head_projection.c (heads in parallel) where the CPU has AVX512-BF16 and
 * nothing needs a gradient; otherwise ATen's batched products. */
tt_tensor *tt_heads_expand(tt_tensor *q, tt_tensor *w, int64_t heads);
tt_tensor *tt_heads_reduce(tt_tensor *c, tt_tensor *w, tt_tensor *bias);
/* Over the trailing ndim_norm dims; weight/bias optional. */
tt_tensor *tt_layer_norm(tt_tensor *x, int ndim_norm, tt_tensor *weight, tt_tensor *bias, double eps);
/* LayerNorm over the last dim of a float32 x, returned in bf16: for a norm whose only consumer is a
 * bf16 product. Rounds as it writes (kernels/layer_norm.c, rows in parallel) where the CPU has
 * AVX512-BF16, x is contiguous and nothing needs a gradient; otherwise libtorch's layer_norm and
 * a cast. weight/bias optional. */
tt_tensor *tt_layer_norm_bf16(tt_tensor *x, tt_tensor *weight, tt_tensor *bias, double eps);
tt_tensor *tt_softmax(tt_tensor *x, int dim);
tt_tensor *tt_log_softmax(tt_tensor *x, int dim);
/* NCHW input, OIHW weight, bias optional. */
tt_tensor *tt_conv2d(tt_tensor *x, tt_tensor *weight, tt_tensor *bias, int stride_h, int stride_w, int pad_h,
                     int pad_w);
/* weight [V, D] indexed by ids (i64) of any shape. Rows equal to padding_idx get no gradient
 * (nn.Embedding(padding_idx=...)); -1: none. */
tt_tensor *tt_embedding(tt_tensor *weight, tt_tensor *ids, int64_t padding_idx);
/* logits [N, C] (or [N, C, d...]), targets i64 [N]; ignore_index entries contribute nothing. */
tt_tensor *tt_cross_entropy(tt_tensor *logits, tt_tensor *targets, tt_reduction reduction, int64_t ignore_index,
                            double label_smoothing);

/* ---- reductions and selection ---------------------------------------------------------- */
tt_tensor *tt_sum(tt_tensor *a);
tt_tensor *tt_sum_dim(tt_tensor *a, int dim, int keepdim);
tt_tensor *tt_mean(tt_tensor *a);
tt_tensor *tt_mean_dim(tt_tensor *a, int dim, int keepdim);
tt_tensor *tt_max_dim(tt_tensor *a, int dim, int keepdim, tt_tensor **indices); /* indices optional */
tt_tensor *tt_norm(tt_tensor *a, double p);                        /* over all elements */
tt_tensor *tt_norm_dim(tt_tensor *a, double p, int dim, int keepdim);
tt_tensor *tt_argmax(tt_tensor *a, int dim, int keepdim);
/* values returned, indices (i64) through *indices (required). */
tt_tensor *tt_topk(tt_tensor *a, int64_t k, int dim, int largest, tt_tensor **indices);
tt_tensor *tt_sort(tt_tensor *a, int dim, int descending, tt_tensor **indices);
tt_tensor *tt_index_select(tt_tensor *a, int dim, tt_tensor *index);
tt_tensor *tt_gather(tt_tensor *a, int dim, tt_tensor *index);

/* ---- shape ----------------------------------------------------------------------------- */
tt_tensor *tt_view(tt_tensor *a, const int64_t *dims, int ndim);    /* -1 allowed once */
tt_tensor *tt_reshape(tt_tensor *a, const int64_t *dims, int ndim);
tt_tensor *tt_permute(tt_tensor *a, const int64_t *order, int ndim);
tt_tensor *tt_transpose(tt_tensor *a, int dim0, int dim1);
tt_tensor *tt_contiguous(tt_tensor *a);
tt_tensor *tt_narrow(tt_tensor *a, int dim, int64_t start, int64_t length);
tt_tensor *tt_select(tt_tensor *a, int dim, int64_t index);
tt_tensor *tt_unsqueeze(tt_tensor *a, int dim);
tt_tensor *tt_squeeze_dim(tt_tensor *a, int dim);
tt_tensor *tt_expand(tt_tensor *a, const int64_t *dims, int ndim); /* -1 keeps a dim */
tt_tensor *tt_repeat_interleave(tt_tensor *a, int64_t repeats, int dim);
tt_tensor *tt_flatten(tt_tensor *a, int start_dim, int end_dim);
tt_tensor *tt_cat(tt_tensor *const *ts, int n, int dim);
tt_tensor *tt_stack(tt_tensor *const *ts, int n, int dim);
tt_tensor *tt_clone(tt_tensor *a);
tt_tensor *tt_detach(tt_tensor *a);

/* ---- autograd -------------------------------------------------------------------------- */
int tt_requires_grad(tt_tensor *t, int on);
int tt_backward(tt_tensor *loss);            /* scalar loss */
/* The gradient of t, or NULL when it has none (tt_last_error says so). */
tt_tensor *tt_grad(tt_tensor *t);
int tt_has_grad(tt_tensor *t);
int tt_zero_grad(tt_tensor *t);              /* drops the gradient (set_to_none, as torch 2 does) */
/* Gradient mode for this thread; returns the previous mode so calls nest:
 *   int prev = tt_set_grad_enabled(0); ... tt_set_grad_enabled(prev); */
int tt_set_grad_enabled(int on);
int tt_is_grad_enabled(void);
/* Scale the gradients of params so their global L2 norm is at most max_norm (as
 * torch.nn.utils.clip_grad_norm_); returns the norm before clipping, NaN on error. */
double tt_clip_grad_norm(tt_tensor *const *params, int n, double max_norm);

/* ---- optimizer: libtorch's AdamW ------------------------------------------------------- */
tt_optim *tt_adamw_new(double lr, double beta1, double beta2, double eps, double weight_decay);
/* Adds a parameter group with its own lr and weight decay; returns the group index or -1. */
int tt_optim_add_group(tt_optim *opt, tt_tensor *const *params, int n, double lr, double weight_decay);
int tt_optim_set_lr(tt_optim *opt, int group, double lr);  /* group < 0: every group */
double tt_optim_get_lr(tt_optim *opt, int group);
int tt_optim_num_groups(tt_optim *opt);
int tt_optim_step(tt_optim *opt);
int tt_optim_zero_grad(tt_optim *opt);
/* Optimizer state of parameter `index` of `group` (for checkpoints): step count and the two
 * moments. *exp_avg / *exp_avg_sq receive new handles (NULL before the first step). */
int tt_optim_get_state(tt_optim *opt, int group, int index, int64_t *step, tt_tensor **exp_avg,
                       tt_tensor **exp_avg_sq);
int tt_optim_set_state(tt_optim *opt, int group, int index, int64_t step, tt_tensor *exp_avg,
                       tt_tensor *exp_avg_sq);
void tt_optim_free(tt_optim *opt);

/* ---- distributed: c10d process groups (Gloo on CPU, NCCL with a CUDA libtorch) -------------
 *
 *   tt_dist_options o = {.rank = r, .world_size = w, .master_addr = "127.0.0.1",
 *                        .master_port = 29500, .backend = "gloo", .timeout_s = 300};
 *   tt_dist *d = tt_dist_init(&o);      // rank 0 serves the TCPStore; all ranks rendezvous there
 *   tt_dist_all_reduce_grads(d, params, n, TT_DIST_AVG);
 *   tt_dist_destroy(d);
 *
 * Every call is collective (all ranks make it, in the same order) except the store calls. A
 * peer that is gone, a timeout, an address in use: -1 / NULL with tt_last_error(), never a hang
 * past timeout_s and never an abort. */
typedef struct tt_dist tt_dist;
typedef struct {
    int rank, world_size;
    const char *master_addr; /* host of the TCPStore (rank 0 listens there) */
    int master_port;
    const char *backend;     /* "gloo" | "nccl"; NULL: gloo */
    double timeout_s;        /* rendezvous and every collective; <= 0: 300 */
} tt_dist_options;
typedef enum { TT_DIST_SUM, TT_DIST_AVG, TT_DIST_MAX, TT_DIST_MIN } tt_dist_op;

/* 1 when this build has the backend ("gloo", "nccl"), else 0. */
int tt_dist_available(const char *backend);
tt_dist *tt_dist_init(const tt_dist_options *o);
int tt_dist_rank(const tt_dist *d);
int tt_dist_world_size(const tt_dist *d);
/* In place over all ranks. The tensors (same dtype, contiguous or not) travel as one flat buffer:
 * one collective per call, whatever n is. */
int tt_dist_all_reduce(tt_dist *d, tt_tensor *const *ts, int n, tt_dist_op op);
/* The gradients of params, reduced in place; a parameter without a gradient (a rank that had no
 * example this step) takes part with zeros and has one afterwards. */
int tt_dist_all_reduce_grads(tt_dist *d, tt_tensor *const *params, int n, tt_dist_op op);
/* root's values into every rank's tensors, in place. */
int tt_dist_broadcast(tt_dist *d, tt_tensor *const *ts, int n, int root);
int tt_dist_barrier(tt_dist *d);
/* The shared key-value store: set is immediate; get waits for the key (up to timeout_s) and
 * returns a malloc'd copy of its bytes (free() it). Keys are plain strings. */
int tt_dist_store_set(tt_dist *d, const char *key, const void *data, size_t n);
int tt_dist_store_get(tt_dist *d, const char *key, void **data, size_t *n);
/* Leaves the group and closes its connections (not collective). NULL is fine. */
void tt_dist_destroy(tt_dist *d);

#ifdef __cplusplus
}
#endif
#endif
