// tt.cpp — implementation of tt.h over libtorch. The only C++ in vlkit.
//
// Every exported function wraps its body in TT_TRY(...) / TT_CATCH(sentinel): exceptions are
// turned into a thread-local message and a sentinel return. Handles are heap objects holding an
// at::Tensor; a thread-local stack of scopes records the handles made while a scope is open.

#include "shim/tt.h"

extern "C" {
#include "kernels/attention.h"
#include "kernels/head_projection.h"
#include "kernels/layer_norm.h"
}

#include <torch/torch.h> // first: the nn/optim headers below assume it

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>
#include <torch/version.h>

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#ifdef USE_DNNL
#include <oneapi/dnnl/dnnl.hpp>
#endif

#include <malloc.h>
#include <sched.h>
#include <signal.h>

#include <atomic>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

struct tt_tensor {
    at::Tensor t;
    size_t scope; // 0: not in a scope; k: in scopes[k-1]
    size_t slot;
};

struct tt_optim {
    std::unique_ptr<torch::optim::AdamW> adamw;
};

namespace {

thread_local std::string last_error;
thread_local std::vector<std::vector<tt_tensor *>> scopes;
std::atomic<int64_t> live_handles{0};

void set_error(const char *msg) { last_error.assign(msg ? msg : "unknown error"); }

// A NULL input means an earlier call failed: its message is the useful one, so it is kept.
struct null_input : std::invalid_argument {
    null_input() : std::invalid_argument("null tensor argument (an earlier call failed)") {}
};

// c10::Error::what() carries a C++ backtrace; users need the message only.
#define TT_TRY try {
#define TT_CATCH(fail)                                                                                        \
    }                                                                                                         \
    catch (const null_input &tt_exc_) {                                                                       \
        if (last_error.empty()) set_error(tt_exc_.what());                                                    \
        return fail;                                                                                          \
    }                                                                                                         \
    catch (const c10::Error &tt_exc_) {                                                                             \
        set_error(tt_exc_.what_without_backtrace());                                                                \
        return fail;                                                                                          \
    }                                                                                                         \
    catch (const std::exception &tt_exc_) {                                                                       \
        set_error(tt_exc_.what());                                                                               \
        return fail;                                                                                          \
    }                                                                                                         \
    catch (...) {                                                                                             \
        set_error("unknown C++ exception");                                                                   \
        return fail;                                                                                          \
    }

tt_tensor *wrap(at::Tensor t) {
    auto *h = new tt_tensor{std::move(t), 0, 0};
    if (!scopes.empty()) {
        h->scope = scopes.size();
        h->slot = scopes.back().size();
        scopes.back().push_back(h);
    }
    live_handles.fetch_add(1, std::memory_order_relaxed);
    return h;
}

const at::Tensor &T(const tt_tensor *h) {
    if (!h) throw null_input();
    if (!h->t.defined()) throw std::invalid_argument("undefined tensor");
    return h->t;
}

c10::optional<at::Tensor> opt(const tt_tensor *h) {
    if (!h) return c10::nullopt;
    return T(h);
}

// Autograd would record an op on t: the fused paths (oneDNN, vlkit's kernels) have no backward.
bool needs_grad(const at::Tensor &t) { return at::GradMode::is_enabled() && t.requires_grad(); }

// A bf16 tensor's elements as the kernels take them.
uint16_t *bf16_data(const at::Tensor &t) { return reinterpret_cast<uint16_t *>(t.data_ptr()); }

at::ScalarType to_scalar_type(tt_dtype dt) {
    switch (dt) {
    case TT_F32: return at::kFloat;
    case TT_F64: return at::kDouble;
    case TT_BF16: return at::kBFloat16;
    case TT_F16: return at::kHalf;
    case TT_I64: return at::kLong;
    case TT_I32: return at::kInt;
    case TT_I16: return at::kShort;
    case TT_I8: return at::kChar;
    case TT_U8: return at::kByte;
    case TT_BOOL: return at::kBool;
    }
    throw std::invalid_argument("unknown dtype code " + std::to_string((int)dt));
}

int from_scalar_type(at::ScalarType st) {
    switch (st) {
    case at::kFloat: return TT_F32;
    case at::kDouble: return TT_F64;
    case at::kBFloat16: return TT_BF16;
    case at::kHalf: return TT_F16;
    case at::kLong: return TT_I64;
    case at::kInt: return TT_I32;
    case at::kShort: return TT_I16;
    case at::kChar: return TT_I8;
    case at::kByte: return TT_U8;
    case at::kBool: return TT_BOOL;
    default: throw std::invalid_argument(std::string("dtype not supported by vlkit: ") + c10::toString(st));
    }
}

at::IntArrayRef dims_ref(const int64_t *dims, int ndim) {
    if (ndim < 0 || (ndim > 0 && !dims)) throw std::invalid_argument("bad shape (null dims or negative ndim)");
    return at::IntArrayRef(dims, (size_t)ndim);
}

at::TensorOptions options(tt_dtype dt) { return at::TensorOptions().dtype(to_scalar_type(dt)); }

std::vector<at::Tensor> tensor_list(tt_tensor *const *ts, int n) {
    if (n < 0 || (n > 0 && !ts)) throw std::invalid_argument("bad tensor list");
    std::vector<at::Tensor> v;
    v.reserve((size_t)n);
    for (int i = 0; i < n; i++) v.push_back(T(ts[i]));
    return v;
}

c10::Device parse_device(const char *device) {
    if (!device) throw std::invalid_argument("null device name");
    c10::Device d(device); // throws on a malformed string
    if (d.is_cuda()) {
        if (!at::hasCUDA())
            throw std::runtime_error(std::string("device '") + device +
                                     "' requested, but this libtorch was built without CUDA (build vlkit with "
                                     "make LIBTORCH=/path/to/a/cuda/libtorch)");
        int64_t n = (int64_t)torch::cuda::device_count();
        if (n == 0) throw std::runtime_error(std::string("device '") + device + "' requested, but no CUDA device is visible");
        if (d.has_index() && d.index() >= n)
            throw std::runtime_error(std::string("device '") + device + "' requested, but only " + std::to_string(n) +
                                     " CUDA device(s) are visible");
    } else if (!d.is_cpu()) {
        throw std::runtime_error(std::string("unsupported device '") + device + "' (use cpu, cuda or cuda:N)");
    }
    return d;
}

int cores_available() {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    int n = (int)std::thread::hardware_concurrency();
    return n > 0 ? n : 1;
}

// Tensors of tens of MB are allocated and freed at every layer. glibc serves them with mmap and
// returns them to the kernel on free, so each one is page-faulted in again, zeroed, at every
// use: on the VMs measured here that made softmax/GELU/attention 10-40x slower than their
// arithmetic (a 128 MB attention-score tensor: 190 ms instead of 11 ms). Keep freed memory in
// the heap for reuse instead; the process keeps its high-water mark. A user's GLIBC_TUNABLES
// malloc settings win.
const int malloc_tuned = [] {
    const char *t = std::getenv("GLIBC_TUNABLES");
    if (t && std::strstr(t, "glibc.malloc.")) return 0;
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, -1); /* an int; glibc stores it as size_t: never trim */
    mallopt(M_TOP_PAD, 64 << 20);
    return 1;
}();

// Debian's libtorch starts with one intra-op thread. Use every core unless the user chose a
// number through OMP_NUM_THREADS (which libtorch honours itself).
const int default_threads_set = [] {
    const char *omp = std::getenv("OMP_NUM_THREADS");
    if (!omp || !*omp) {
        try {
            at::set_num_threads(cores_available());
        } catch (...) {
        }
    }
    return 1;
}();

torch::optim::AdamWOptions &group_options(tt_optim *opt, int group) {
    if (!opt) throw std::invalid_argument("null optimizer");
    auto &groups = opt->adamw->param_groups();
    if (group < 0 || (size_t)group >= groups.size())
        throw std::out_of_range("optimizer group " + std::to_string(group) + " out of range");
    return static_cast<torch::optim::AdamWOptions &>(groups[(size_t)group].options());
}

const at::Tensor &group_param(tt_optim *opt, int group, int index) {
    group_options(opt, group);
    auto &params = opt->adamw->param_groups()[(size_t)group].params();
    if (index < 0 || (size_t)index >= params.size())
        throw std::out_of_range("parameter " + std::to_string(index) + " out of range in group " + std::to_string(group));
    return params[(size_t)index];
}

// ---- dropout ------------------------------------------------------------------------------
// ATen's CPU dropout draws one Bernoulli sample per element from the locked, serial mt19937
// generator: on a LoRA step (the 577 image tokens of 8 images into 12 cross-attention value
// adapters) that was ~49 M serial draws, ~15 % of a bf16 step. Here the generator gives one
// 64-bit seed per call and the keep mask is a counter-based hash of (seed, element index):
// vectorised, parallel, the same for any thread count, and the backward recomputes it instead
// of storing it. manual_seed and the saved generator state still make runs repeat exactly.
constexpr int64_t kDropBlock = 256; // elements per hash block: 128 64-bit hashes, 2 uniforms each

// The 32-bit uniforms of elements [first, first + kDropBlock): a splitmix64 finaliser over the
// pair index. Fixed trip counts, so the compiler vectorises them (64-bit multiplies: AVX-512DQ).
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"))) void
dropout_uniforms(uint64_t seed, int64_t first, uint32_t *__restrict u) {
    uint64_t h[kDropBlock / 2];
    const uint64_t j0 = (uint64_t)(first / 2);
    for (int k = 0; k < kDropBlock / 2; k++) {
        uint64_t z = seed + (j0 + (uint64_t)k + 1) * 0x9e3779b97f4a7c15ull;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        h[k] = z ^ (z >> 31);
    }
    for (int k = 0; k < kDropBlock / 2; k++) {
        u[2 * k] = (uint32_t)h[k];
        u[2 * k + 1] = (uint32_t)(h[k] >> 32);
    }
}

__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"))) void
dropout_block_f32(const float *__restrict x, float *__restrict y, const uint32_t *__restrict u, uint32_t thr, float scale) {
    for (int i = 0; i < kDropBlock; i++) y[i] = x[i] * (u[i] >= thr ? scale : 0.0f); /* as ATen: x * mask */
}

// bf16 as raw bits: widen, scale in float, round to nearest even (NaN stays NaN).
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"))) void
dropout_block_bf16(const uint16_t *__restrict x, uint16_t *__restrict y, const uint32_t *__restrict u, uint32_t thr,
                   float scale) {
    for (int i = 0; i < kDropBlock; i++) {
        uint32_t b = (uint32_t)x[i] << 16;
        float f;
        std::memcpy(&f, &b, 4);
        f *= u[i] >= thr ? scale : 0.0f;
        std::memcpy(&b, &f, 4);
        uint32_t r = (b + 0x7fffu + ((b >> 16) & 1u)) >> 16;
        y[i] = (uint16_t)(f != f ? 0x7fc0u : r);
    }
}

// y[i] = x[i] * scale where element i is kept (its uniform >= p * 2^32), x[i] * 0 elsewhere; in
// float for the 16-bit dtypes, so the scale is not rounded.
at::Tensor dropout_apply(const at::Tensor &input, double p, uint64_t seed) {
    at::Tensor x = input.contiguous();
    at::Tensor y = at::empty_like(x, at::MemoryFormat::Contiguous);
    const int64_t n = x.numel();
    const uint32_t thr = (uint32_t)std::min(4294967295.0, std::floor(p * 4294967296.0));
    const at::ScalarType st = x.scalar_type();
    const int64_t blocks = (n + kDropBlock - 1) / kDropBlock;
    if (st == at::kFloat || st == at::kBFloat16) {
        const float scale = (float)(1.0 / (1.0 - p));
        const size_t es = x.element_size();
        char *xp = static_cast<char *>(x.data_ptr()), *yp = static_cast<char *>(y.data_ptr());
        at::parallel_for(0, blocks, 64, [&](int64_t b, int64_t e) {
            alignas(64) uint32_t u[kDropBlock];
            alignas(64) char xt[kDropBlock * 4], yt[kDropBlock * 4];
            for (int64_t k = b; k < e; k++) {
                int64_t first = k * kDropBlock, len = std::min(kDropBlock, n - first);
                dropout_uniforms(seed, first, u);
                const char *xs = xp + first * es;
                char *ys = yp + first * es;
                if (len < kDropBlock) { // the tail: through a full-size scratch block
                    std::memset(xt, 0, sizeof xt);
                    std::memcpy(xt, xs, (size_t)len * es);
                    xs = xt;
                    ys = yt;
                }
                if (st == at::kFloat) dropout_block_f32((const float *)xs, (float *)ys, u, thr, scale);
                else dropout_block_bf16((const uint16_t *)xs, (uint16_t *)ys, u, thr, scale);
                if (len < kDropBlock) std::memcpy(yp + first * es, yt, (size_t)len * es);
            }
        });
        return y;
    }
    AT_DISPATCH_FLOATING_TYPES_AND(at::kHalf, st, "tt_dropout", [&] {
        using acc_t = at::opmath_type<scalar_t>;
        const acc_t scale = (acc_t)(1.0 / (1.0 - p));
        const scalar_t *xp = x.data_ptr<scalar_t>();
        scalar_t *yp = y.data_ptr<scalar_t>();
        at::parallel_for(0, blocks, 64, [&](int64_t b, int64_t e) {
            uint32_t u[kDropBlock];
            for (int64_t k = b; k < e; k++) {
                int64_t first = k * kDropBlock, len = std::min(kDropBlock, n - first);
                dropout_uniforms(seed, first, u);
                for (int64_t i = 0; i < len; i++)
                    yp[first + i] = u[i] >= thr ? (scalar_t)((acc_t)xp[first + i] * scale) : (scalar_t)0;
            }
        });
    });
    return y;
}

struct HashDropout : public torch::autograd::Function<HashDropout> {
    static at::Tensor forward(torch::autograd::AutogradContext *ctx, const at::Tensor &x, double p, int64_t seed) {
        ctx->saved_data["p"] = p;
        ctx->saved_data["seed"] = seed;
        return dropout_apply(x, p, (uint64_t)seed);
    }
    static torch::autograd::variable_list backward(torch::autograd::AutogradContext *ctx,
                                                   torch::autograd::variable_list g) {
        double p = ctx->saved_data["p"].toDouble();
        uint64_t seed = (uint64_t)ctx->saved_data["seed"].toInt();
        return {dropout_apply(g[0], p, seed), at::Tensor(), at::Tensor()};
    }
};

at::Tensor hash_dropout(const at::Tensor &x, double p) {
    if (p < 0 || p > 1) throw std::invalid_argument("dropout probability must be in [0, 1], got " + std::to_string(p));
    if (!at::isFloatingType(x.scalar_type())) throw std::invalid_argument("dropout needs a floating-point tensor");
    if (p == 1) return x * 0;
    uint64_t seed;
    {
        auto gen = at::detail::getDefaultCPUGenerator();
        std::lock_guard<std::mutex> lock(gen.mutex());
        seed = at::check_generator<at::CPUGeneratorImpl>(gen)->random64();
    }
    return HashDropout::apply(x, p, (int64_t)seed);
}

} // namespace

// One-line wrappers: a tensor result from an expression over handles.
#define TT_TENSOR_FN(expr)                                                                                    \
    TT_TRY return wrap(expr);                                                                                 \
    TT_CATCH(nullptr)

extern "C" {

// ---- errors ------------------------------------------------------------------------------
const char *tt_last_error(void) { return last_error.c_str(); }
void tt_clear_error(void) { last_error.clear(); }

// ---- runtime -----------------------------------------------------------------------------
const char *tt_torch_version(void) { return TORCH_VERSION; }

int tt_set_num_threads(int n) {
    TT_TRY if (n <= 0) n = cores_available();
    at::set_num_threads(n);
    return 0;
    TT_CATCH(-1)
}

int tt_get_num_threads(void) {
    TT_TRY return at::get_num_threads();
    TT_CATCH(-1)
}

int tt_manual_seed(uint64_t seed) {
    TT_TRY torch::manual_seed(seed);
    return 0;
    TT_CATCH(-1)
}

int tt_rng_state_get(uint8_t **buf, size_t *len) {
    TT_TRY at::Tensor st = at::detail::getDefaultCPUGenerator().get_state();
    size_t n = (size_t)st.numel();
    auto *p = static_cast<uint8_t *>(std::malloc(n ? n : 1));
    if (!p) throw std::bad_alloc();
    std::memcpy(p, st.data_ptr(), n);
    *buf = p;
    *len = n;
    return 0;
    TT_CATCH(-1)
}

int tt_rng_state_set(const uint8_t *buf, size_t len) {
    TT_TRY at::Tensor st = at::empty({(int64_t)len}, at::kByte);
    std::memcpy(st.data_ptr(), buf, len);
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(st);
    return 0;
    TT_CATCH(-1)
}

int tt_cuda_available(void) {
    TT_TRY return torch::cuda::is_available() ? 1 : 0;
    TT_CATCH(0)
}

int tt_cuda_device_count(void) {
    TT_TRY return (int)torch::cuda::device_count();
    TT_CATCH(0)
}

size_t tt_dtype_size(tt_dtype dt) {
    TT_TRY return c10::elementSize(to_scalar_type(dt));
    TT_CATCH(0)
}

static const char *const dtype_names[] = {"f32", "f64", "bf16", "f16", "i64", "i32", "i16", "i8", "u8", "bool"};

const char *tt_dtype_name(tt_dtype dt) {
    if ((int)dt < 0 || (int)dt > (int)TT_BOOL) return "?";
    return dtype_names[dt];
}

int tt_dtype_parse(const char *name, tt_dtype *out) {
    static const struct {
        const char *name;
        tt_dtype dt;
    } aliases[] = {{"f32", TT_F32},    {"fp32", TT_F32},      {"float32", TT_F32}, {"float", TT_F32},
                   {"f64", TT_F64},    {"fp64", TT_F64},      {"float64", TT_F64}, {"double", TT_F64},
                   {"bf16", TT_BF16},  {"bfloat16", TT_BF16}, {"f16", TT_F16},     {"fp16", TT_F16},
                   {"float16", TT_F16}, {"half", TT_F16},     {"i64", TT_I64},     {"int64", TT_I64},
                   {"i32", TT_I32},    {"int32", TT_I32},     {"i16", TT_I16},     {"int16", TT_I16},
                   {"i8", TT_I8},      {"int8", TT_I8},       {"u8", TT_U8},       {"uint8", TT_U8},
                   {"bool", TT_BOOL}};
    if (name)
        for (const auto &a : aliases)
            if (std::strcmp(a.name, name) == 0) {
                *out = a.dt;
                return 0;
            }
    set_error((std::string("unknown dtype '") + (name ? name : "(null)") + "' (use f32, bf16, f16, f64, i64, ...)").c_str());
    return -1;
}

// ---- lifetimes ---------------------------------------------------------------------------
void tt_free(tt_tensor *t) {
    if (!t) return;
    if (t->scope && t->scope <= scopes.size()) {
        auto &s = scopes[t->scope - 1];
        if (t->slot < s.size() && s[t->slot] == t) s[t->slot] = nullptr;
    }
    delete t;
    live_handles.fetch_sub(1, std::memory_order_relaxed);
}

int64_t tt_live_handles(void) { return live_handles.load(std::memory_order_relaxed); }

int tt_scope_begin(void) {
    scopes.emplace_back();
    return (int)scopes.size();
}

tt_tensor *tt_keep(tt_tensor *t) {
    if (!t || scopes.empty() || t->scope != scopes.size()) return t;
    auto &s = scopes.back();
    if (t->slot >= s.size() || s[t->slot] != t) return t;
    s[t->slot] = nullptr;
    if (scopes.size() >= 2) {
        auto &parent = scopes[scopes.size() - 2];
        t->scope = scopes.size() - 1;
        t->slot = parent.size();
        parent.push_back(t);
    } else {
        t->scope = 0;
        t->slot = 0;
    }
    return t;
}

tt_tensor *tt_persist(tt_tensor *t) {
    if (!t || !t->scope) return t;
    if (t->scope <= scopes.size()) {
        auto &s = scopes[t->scope - 1];
        if (t->slot < s.size() && s[t->slot] == t) s[t->slot] = nullptr;
    }
    t->scope = 0;
    t->slot = 0;
    return t;
}

void tt_scope_end(void) {
    if (scopes.empty()) return;
    std::vector<tt_tensor *> s = std::move(scopes.back());
    scopes.pop_back();
    for (tt_tensor *h : s)
        if (h) {
            delete h;
            live_handles.fetch_sub(1, std::memory_order_relaxed);
        }
}

tt_tensor *tt_shallow_clone(tt_tensor *t) { TT_TENSOR_FN(T(t)) }

int tt_rebind(tt_tensor *dst, tt_tensor *src) {
    TT_TRY if (!dst) throw null_input();
    at::Tensor s = T(src);
    dst->t = std::move(s);
    return 0;
    TT_CATCH(-1)
}

// ---- creation ----------------------------------------------------------------------------
tt_tensor *tt_from_blob(void *data, const int64_t *dims, int ndim, tt_dtype dt, void (*release)(void *ctx),
                        void *ctx) {
    TT_TRY if (!data && ndim > 0) {
        bool empty = false;
        for (int i = 0; i < ndim; i++) empty |= dims[i] == 0;
        if (!empty) throw std::invalid_argument("tt_from_blob: null data");
    }
    auto deleter = [release, ctx](void *) {
        if (release) release(ctx);
    };
    return wrap(torch::from_blob(data, dims_ref(dims, ndim), deleter, options(dt)));
    TT_CATCH(nullptr)
}

tt_tensor *tt_from_data(const void *data, const int64_t *dims, int ndim, tt_dtype dt) {
    TT_TRY at::Tensor t = at::empty(dims_ref(dims, ndim), options(dt));
    size_t n = (size_t)t.numel() * t.element_size();
    if (n && !data) throw std::invalid_argument("tt_from_data: null data");
    if (n) std::memcpy(t.data_ptr(), data, n);
    return wrap(t);
    TT_CATCH(nullptr)
}

tt_tensor *tt_scalar_tensor(double v, tt_dtype dt) { TT_TENSOR_FN(at::scalar_tensor(v, options(dt))) }
tt_tensor *tt_zeros(const int64_t *dims, int ndim, tt_dtype dt) { TT_TENSOR_FN(at::zeros(dims_ref(dims, ndim), options(dt))) }
tt_tensor *tt_ones(const int64_t *dims, int ndim, tt_dtype dt) { TT_TENSOR_FN(at::ones(dims_ref(dims, ndim), options(dt))) }
tt_tensor *tt_full(const int64_t *dims, int ndim, double value, tt_dtype dt) {
    TT_TENSOR_FN(at::full(dims_ref(dims, ndim), value, options(dt)))
}
tt_tensor *tt_arange(double start, double end, double step, tt_dtype dt) {
    TT_TENSOR_FN(at::arange(start, end, step, options(dt)))
}
tt_tensor *tt_randn(const int64_t *dims, int ndim, tt_dtype dt) { TT_TENSOR_FN(at::randn(dims_ref(dims, ndim), options(dt))) }
tt_tensor *tt_rand(const int64_t *dims, int ndim, tt_dtype dt) { TT_TENSOR_FN(at::rand(dims_ref(dims, ndim), options(dt))) }
tt_tensor *tt_zeros_like(tt_tensor *t) { TT_TENSOR_FN(at::zeros_like(T(t))) }

// In-place initialisers run without autograd so they work on leaf parameters.
#define TT_INPLACE(stmt)                                                                                      \
    TT_TRY at::NoGradGuard no_grad_;                                                                          \
    stmt;                                                                                                     \
    return 0;                                                                                                 \
    TT_CATCH(-1)

int tt_uniform_(tt_tensor *t, double lo, double hi) { TT_INPLACE(T(t).uniform_(lo, hi)) }
int tt_normal_(tt_tensor *t, double mean, double std) { TT_INPLACE(T(t).normal_(mean, std)) }
int tt_zero_(tt_tensor *t) { TT_INPLACE(T(t).zero_()) }
int tt_fill_(tt_tensor *t, double value) { TT_INPLACE(T(t).fill_(value)) }
int tt_copy_(tt_tensor *dst, tt_tensor *src) { TT_INPLACE(T(dst).copy_(T(src))) }

// ---- inspection --------------------------------------------------------------------------
int tt_ndim(tt_tensor *t) {
    TT_TRY return (int)T(t).dim();
    TT_CATCH(-1)
}

int64_t tt_size(tt_tensor *t, int dim) {
    TT_TRY return T(t).size(dim);
    TT_CATCH(-1)
}

int tt_shape(tt_tensor *t, int64_t *dims, int cap) {
    TT_TRY const at::Tensor &x = T(t);
    int n = (int)x.dim();
    for (int i = 0; i < n && i < cap; i++) dims[i] = x.size(i);
    return n;
    TT_CATCH(-1)
}

int64_t tt_numel(tt_tensor *t) {
    TT_TRY return T(t).numel();
    TT_CATCH(-1)
}

int tt_dtype_of(tt_tensor *t) {
    TT_TRY return from_scalar_type(T(t).scalar_type());
    TT_CATCH(-1)
}

int tt_is_contiguous(tt_tensor *t) {
    TT_TRY return T(t).is_contiguous() ? 1 : 0;
    TT_CATCH(-1)
}

int tt_requires_grad_of(tt_tensor *t) {
    TT_TRY return T(t).requires_grad() ? 1 : 0;
    TT_CATCH(-1)
}

int tt_copy_to(tt_tensor *t, void *dst, size_t nbytes) {
    TT_TRY at::Tensor c = T(t).detach().to(at::kCPU).contiguous();
    size_t want = (size_t)c.numel() * c.element_size();
    if (want != nbytes)
        throw std::invalid_argument("tt_copy_to: buffer is " + std::to_string(nbytes) + " bytes, tensor needs " +
                                    std::to_string(want));
    if (want) std::memcpy(dst, c.data_ptr(), want);
    return 0;
    TT_CATCH(-1)
}

void *tt_data_ptr(tt_tensor *t) {
    TT_TRY const at::Tensor &x = T(t);
    if (!x.is_cpu() || !x.is_contiguous()) throw std::invalid_argument("tt_data_ptr: tensor is not a contiguous CPU tensor");
    return x.data_ptr();
    TT_CATCH(nullptr)
}

double tt_item(tt_tensor *t) {
    TT_TRY return T(t).item<double>();
    TT_CATCH(NAN)
}

int tt_allclose(tt_tensor *a, tt_tensor *b, double rtol, double atol) {
    TT_TRY return at::allclose(T(a), T(b), rtol, atol) ? 1 : 0;
    TT_CATCH(-1)
}

int tt_all_finite(tt_tensor *t) {
    TT_TRY const at::Tensor &x = T(t);
    if (!at::isFloatingType(x.scalar_type())) return 1;
    return at::isfinite(x.detach()).all().item<bool>() ? 1 : 0;
    TT_CATCH(-1)
}

// ---- dtype and device --------------------------------------------------------------------
tt_tensor *tt_to_dtype(tt_tensor *t, tt_dtype dt) { TT_TENSOR_FN(T(t).to(to_scalar_type(dt))) }
tt_tensor *tt_to_device(tt_tensor *t, const char *device) { TT_TENSOR_FN(T(t).to(parse_device(device))) }

int tt_device_check(const char *device) {
    TT_TRY parse_device(device);
    return 0;
    TT_CATCH(-1)
}

int tt_device_of(tt_tensor *t, char *buf, size_t cap) {
    TT_TRY std::string s = T(t).device().str();
    if (cap) {
        std::strncpy(buf, s.c_str(), cap - 1);
        buf[cap - 1] = 0;
    }
    return 0;
    TT_CATCH(-1)
}

// ---- elementwise -------------------------------------------------------------------------
tt_tensor *tt_add(tt_tensor *a, tt_tensor *b) { TT_TENSOR_FN(T(a) + T(b)) }
tt_tensor *tt_sub(tt_tensor *a, tt_tensor *b) { TT_TENSOR_FN(T(a) - T(b)) }
tt_tensor *tt_mul(tt_tensor *a, tt_tensor *b) { TT_TENSOR_FN(T(a) * T(b)) }
tt_tensor *tt_div(tt_tensor *a, tt_tensor *b) { TT_TENSOR_FN(T(a) / T(b)) }
tt_tensor *tt_add_scalar(tt_tensor *a, double s) { TT_TENSOR_FN(T(a) + s) }
tt_tensor *tt_sub_scalar(tt_tensor *a, double s) { TT_TENSOR_FN(T(a) - s) }
tt_tensor *tt_mul_scalar(tt_tensor *a, double s) { TT_TENSOR_FN(T(a) * s) }
tt_tensor *tt_div_scalar(tt_tensor *a, double s) { TT_TENSOR_FN(T(a) / s) }
tt_tensor *tt_pow_scalar(tt_tensor *a, double e) { TT_TENSOR_FN(at::pow(T(a), e)) }

int tt_add_(tt_tensor *a, tt_tensor *b, double alpha) {
    TT_TRY at::Tensor x = T(a);
    x.add_(T(b), alpha);
    return 0;
    TT_CATCH(-1)
}

int tt_mul_scalar_(tt_tensor *a, double s) {
    TT_TRY at::Tensor x = T(a);
    x.mul_(s);
    return 0;
    TT_CATCH(-1)
}

tt_tensor *tt_neg(tt_tensor *a) { TT_TENSOR_FN(at::neg(T(a))) }
tt_tensor *tt_exp(tt_tensor *a) { TT_TENSOR_FN(at::exp(T(a))) }
tt_tensor *tt_log(tt_tensor *a) { TT_TENSOR_FN(at::log(T(a))) }
tt_tensor *tt_sqrt(tt_tensor *a) { TT_TENSOR_FN(at::sqrt(T(a))) }
tt_tensor *tt_rsqrt(tt_tensor *a) { TT_TENSOR_FN(at::rsqrt(T(a))) }
tt_tensor *tt_abs(tt_tensor *a) { TT_TENSOR_FN(at::abs(T(a))) }
tt_tensor *tt_tanh(tt_tensor *a) { TT_TENSOR_FN(at::tanh(T(a))) }
tt_tensor *tt_sigmoid(tt_tensor *a) { TT_TENSOR_FN(at::sigmoid(T(a))) }
tt_tensor *tt_relu(tt_tensor *a) { TT_TENSOR_FN(at::relu(T(a))) }
tt_tensor *tt_gelu(tt_tensor *a) { TT_TENSOR_FN(at::gelu(T(a), "none")) }
tt_tensor *tt_gelu_tanh(tt_tensor *a) { TT_TENSOR_FN(at::gelu(T(a), "tanh")) }
tt_tensor *tt_clamp(tt_tensor *a, double lo, double hi) { TT_TENSOR_FN(at::clamp(T(a), lo, hi)) }
tt_tensor *tt_maximum(tt_tensor *a, tt_tensor *b) { TT_TENSOR_FN(at::maximum(T(a), T(b))) }
tt_tensor *tt_minimum(tt_tensor *a, tt_tensor *b) { TT_TENSOR_FN(at::minimum(T(a), T(b))) }
tt_tensor *tt_eq(tt_tensor *a, tt_tensor *b) { TT_TENSOR_FN(at::eq(T(a), T(b))) }
tt_tensor *tt_eq_scalar(tt_tensor *a, double s) { TT_TENSOR_FN(at::eq(T(a), s)) }
tt_tensor *tt_ne_scalar(tt_tensor *a, double s) { TT_TENSOR_FN(at::ne(T(a), s)) }
tt_tensor *tt_lt_scalar(tt_tensor *a, double s) { TT_TENSOR_FN(at::lt(T(a), s)) }
tt_tensor *tt_gt_scalar(tt_tensor *a, double s) { TT_TENSOR_FN(at::gt(T(a), s)) }
tt_tensor *tt_logical_not(tt_tensor *a) { TT_TENSOR_FN(at::logical_not(T(a))) }
tt_tensor *tt_masked_fill(tt_tensor *a, tt_tensor *mask, double value) { TT_TENSOR_FN(T(a).masked_fill(T(mask), value)) }

int tt_masked_fill_(tt_tensor *a, tt_tensor *mask, double value) {
    TT_TRY at::Tensor x = T(a);
    x.masked_fill_(T(mask), value);
    return 0;
    TT_CATCH(-1)
}

tt_tensor *tt_where(tt_tensor *cond, tt_tensor *a, tt_tensor *b) { TT_TENSOR_FN(at::where(T(cond), T(a), T(b))) }
tt_tensor *tt_dropout(tt_tensor *a, double p, int train) {
    TT_TENSOR_FN(train && p != 0 ? hash_dropout(T(a), p) : T(a))
}

// ---- linear algebra and nn ---------------------------------------------------------------
tt_tensor *tt_matmul(tt_tensor *a, tt_tensor *b) { TT_TENSOR_FN(at::matmul(T(a), T(b))) }
tt_tensor *tt_bmm(tt_tensor *a, tt_tensor *b) { TT_TENSOR_FN(at::bmm(T(a), T(b))) }
tt_tensor *tt_linear(tt_tensor *x, tt_tensor *w, tt_tensor *b) { TT_TENSOR_FN(at::linear(T(x), T(w), opt(b))) }
tt_tensor *tt_linear_acc(tt_tensor *y, tt_tensor *x, tt_tensor *w, double alpha) {
    TT_TRY const at::Tensor &yy = T(y), &xx = T(x), &ww = T(w);
    if (yy.dim() < 1 || xx.dim() != yy.dim() || ww.dim() != 2 || xx.size(-1) != ww.size(1) ||
        yy.size(-1) != ww.size(0) || yy.sizes().slice(0, yy.dim() - 1) != xx.sizes().slice(0, xx.dim() - 1))
        throw std::invalid_argument("linear_acc: shapes do not match (y [..., out], x [..., in], W [out, in])");
    at::Tensor r = at::addmm(yy.reshape({-1, yy.size(-1)}), xx.reshape({-1, xx.size(-1)}), ww.t(), 1, alpha);
    return wrap(r.view(yy.sizes()));
    TT_CATCH(nullptr)
}

// ---- prepacked bf16 linear (oneDNN) --------------------------------------------------------
// libtorch 1.13 has no public op for a linear with a pre-reordered weight, so the weight goes
// through oneDNN directly (Debian's libtorch links the same libdnnl.so.2, so threads follow
// at::set_num_threads). One matmul primitive per (row count, epilogue), made on first use and
// kept; the packed layout is chosen once for 32 rows and imposed on the others (oneDNN picks
// the same one for every row count on AVX512-BF16; a refusal means ATen for that shape).
struct tt_packed_linear {
    at::Tensor weight, bias; // plain copies: the fallback (and autograd) path
#ifdef USE_DNNL
    dnnl::memory packed, bias_mem;
    std::mutex mu;
    std::unordered_map<int64_t, std::unique_ptr<dnnl::matmul>> prims; // key: rows * 3 + epilogue; null: refused
#endif
};

#ifdef USE_DNNL
namespace {
using dnnl_tag = dnnl::memory::format_tag;
using dnnl_dt = dnnl::memory::data_type;

dnnl::engine &cpu_engine() {
    static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
    return eng;
}

// What happens to the float32 accumulator before it is stored: nothing (bf16 out), + a float32
// residual (float32 out), or GELU (erf form, bf16 out).
enum packed_epilogue { EPI_PLAIN = 0, EPI_RESIDUAL = 1, EPI_GELU = 2 };

dnnl::matmul::primitive_desc packed_pd(const tt_packed_linear *p, int64_t rows, const dnnl::memory::desc &w, int epi) {
    int64_t N = p->weight.size(0), K = p->weight.size(1);
    dnnl::memory::desc src({rows, K}, dnnl_dt::bf16, dnnl_tag::ab);
    // with a residual the sum is float32 (the residual stream's dtype), else bf16
    dnnl::memory::desc dst({rows, N}, epi == EPI_RESIDUAL ? dnnl_dt::f32 : dnnl_dt::bf16, dnnl_tag::ab);
    dnnl::post_ops ops;
    if (epi == EPI_RESIDUAL) ops.append_binary(dnnl::algorithm::binary_add, dnnl::memory::desc({rows, N}, dnnl_dt::f32, dnnl_tag::ab));
    if (epi == EPI_GELU) ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_gelu_erf, 0.0f, 0.0f);
    dnnl::primitive_attr attr;
    attr.set_post_ops(ops);
    if (!p->bias.defined()) return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, w, dst), attr, cpu_engine());
    dnnl::memory::desc b({1, N}, dnnl_dt::bf16, dnnl_tag::ab);
    return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, w, b, dst), attr, cpu_engine());
}

// The primitive for `rows` rows with that epilogue, or nullptr when oneDNN refuses it.
dnnl::matmul *packed_primitive(tt_packed_linear *p, int64_t rows, int epi) {
    std::lock_guard<std::mutex> lock(p->mu);
    int64_t key = rows * 3 + epi;
    auto it = p->prims.find(key);
    if (it != p->prims.end()) return it->second.get();
    std::unique_ptr<dnnl::matmul> prim;
    try {
        prim = std::make_unique<dnnl::matmul>(packed_pd(p, rows, p->packed.get_desc(), epi));
    } catch (const dnnl::error &) {
        prim.reset();
    }
    return (p->prims[key] = std::move(prim)).get();
}
} // namespace
#endif

tt_packed_linear *tt_packed_linear_new(tt_tensor *weight, tt_tensor *bias) {
    TT_TRY const at::Tensor &w = T(weight);
    if (w.dim() != 2 || w.scalar_type() != at::kBFloat16)
        throw std::invalid_argument("packed linear: the weight must be a 2-d bf16 tensor");
    if (bias && (T(bias).dim() != 1 || T(bias).size(0) != w.size(0) || T(bias).scalar_type() != at::kBFloat16))
        throw std::invalid_argument("packed linear: the bias must be a bf16 vector of the weight's rows");
#ifdef USE_DNNL
    auto p = std::make_unique<tt_packed_linear>();
    p->weight = w.detach().contiguous();
    if (bias) p->bias = T(bias).detach().contiguous();
    int64_t N = w.size(0), K = w.size(1);
    auto pd = packed_pd(p.get(), 32, dnnl::memory::desc({K, N}, dnnl_dt::bf16, dnnl_tag::any), EPI_PLAIN);
    // Without bf16 instructions (pre-AVX512 CPUs) oneDNN offers only its reference kernels,
    // far slower than ATen's emulated bf16: no packing there.
    if (std::string(pd.impl_info_str()).find("ref") != std::string::npos) return nullptr;
    p->packed = dnnl::memory(pd.weights_desc(), cpu_engine());
    dnnl::memory plain({{K, N}, dnnl_dt::bf16, dnnl_tag::ba}, cpu_engine(), p->weight.data_ptr()); // W^T as a view
    dnnl::stream stream(cpu_engine());
    dnnl::reorder(plain, p->packed).execute(stream, plain, p->packed);
    stream.wait();
    if (bias) p->bias_mem = dnnl::memory({{1, N}, dnnl_dt::bf16, dnnl_tag::ab}, cpu_engine(), p->bias.data_ptr());
    return p.release();
#else
    return nullptr;
#endif
    TT_CATCH(nullptr)
}

namespace {
at::Tensor packed_linear_forward(tt_packed_linear *p, tt_tensor *x, tt_tensor *residual, bool gelu) {
    if (!p) throw std::invalid_argument("packed linear: null layer");
    const at::Tensor &xx = T(x);
    int64_t N = p->weight.size(0), K = p->weight.size(1);
    if (xx.dim() < 1 || xx.size(-1) != K)
        throw std::invalid_argument("packed linear: input has " + std::to_string(xx.dim() ? xx.size(-1) : 0) +
                                    " features, the layer takes " + std::to_string(K));
    std::vector<int64_t> out(xx.sizes().begin(), xx.sizes().end());
    out.back() = N;
    at::Tensor res;
    if (residual) {
        res = T(residual);
        if (res.sizes() != at::IntArrayRef(out)) throw std::invalid_argument("packed linear: the residual's shape is not the output's");
    }
#ifdef USE_DNNL
    bool plain_rows = xx.scalar_type() == at::kBFloat16 && xx.is_contiguous() && xx.numel() > 0 &&
                      (!residual || (res.scalar_type() == at::kFloat && res.is_contiguous()));
    bool grad = needs_grad(xx) || (residual && needs_grad(res));
    if (plain_rows && !grad) {
        int64_t rows = xx.numel() / K;
        int epi = residual ? EPI_RESIDUAL : gelu ? EPI_GELU : EPI_PLAIN;
        if (dnnl::matmul *prim = packed_primitive(p, rows, epi)) {
            at::Tensor y = at::empty(out, xx.options().dtype(residual ? at::kFloat : at::kBFloat16));
            dnnl::memory src({{rows, K}, dnnl_dt::bf16, dnnl_tag::ab}, cpu_engine(), xx.data_ptr());
            dnnl::memory dst({{rows, N}, residual ? dnnl_dt::f32 : dnnl_dt::bf16, dnnl_tag::ab}, cpu_engine(), y.data_ptr());
            std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, p->packed}, {DNNL_ARG_DST, dst}};
            if (p->bias.defined()) args[DNNL_ARG_BIAS] = p->bias_mem;
            if (residual)
                args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1] =
                    dnnl::memory({{rows, N}, dnnl_dt::f32, dnnl_tag::ab}, cpu_engine(), res.data_ptr());
            thread_local dnnl::stream stream(cpu_engine());
            prim->execute(stream, args);
            stream.wait();
            return y;
        }
    }
#endif
    at::Tensor y = at::linear(xx, p->weight, p->bias.defined() ? c10::optional<at::Tensor>(p->bias) : c10::nullopt);
    if (residual) y = at::add(res, y); // float32 + bf16 -> float32, as the fused sum
    if (gelu) y = at::gelu(y);
    return y;
}
} // namespace

tt_tensor *tt_packed_linear_forward(tt_packed_linear *p, tt_tensor *x, tt_tensor *residual) {
    TT_TRY return wrap(packed_linear_forward(p, x, residual, false));
    TT_CATCH(nullptr)
}

tt_tensor *tt_packed_linear_gelu(tt_packed_linear *p, tt_tensor *x) {
    TT_TRY return wrap(packed_linear_forward(p, x, nullptr, true));
    TT_CATCH(nullptr)
}

void tt_packed_linear_free(tt_packed_linear *p) { delete p; }

// ---- fused attention (kernels/attention.c) ---------------------------------------------------
namespace {
// Query rows per kernel call: their float32 scores (96 x 577 keys: 227 KB) stay in L2 beside the
// head's packed keys and values.
constexpr int64_t attention_row_block = 96;

vk_attn_dtype attention_dtype(const at::Tensor &t) { return t.scalar_type() == at::kBFloat16 ? VK_ATTN_BF16 : VK_ATTN_F32; }

// The kernel applies: float32 or bf16, rows with unit stride along the head dim, no autograd.
bool attention_fusable(const at::Tensor &t) {
    return (t.scalar_type() == at::kFloat || t.scalar_type() == at::kBFloat16) && t.dim() == 4 && t.stride(3) == 1 &&
           t.numel() > 0 && !needs_grad(t) && vk_attn_supported(attention_dtype(t));
}

void check_heads(const at::Tensor &t, const char *what) {
    if (t.dim() != 4) throw std::invalid_argument(std::string("attention: ") + what + " must be [B, H, tokens, d]");
}

// Pack head h of batch row b of k and v ([B, H, S, d], unit stride along d) into dst.
void pack_head(vk_attn_dtype dt, const at::Tensor &k, const at::Tensor &v, int64_t b, int64_t h, void *dst) {
    const char *kp = static_cast<const char *>(k.data_ptr()), *vp = static_cast<const char *>(v.data_ptr());
    size_t elem = k.element_size();
    vk_attn_pack(dt, kp + (b * k.stride(0) + h * k.stride(1)) * elem, k.stride(2), vp + (b * v.stride(0) + h * v.stride(1)) * elem,
                 v.stride(2), k.size(2), k.size(3), dst);
}

// [B, H, L, d] -> [B, L, H*d]
at::Tensor merge_heads(const at::Tensor &x) { return x.transpose(1, 2).reshape({x.size(0), x.size(2), x.size(1) * x.size(3)}); }
} // namespace

tt_tensor *tt_attention(tt_tensor *q, tt_tensor *k, tt_tensor *v, double scale) {
    TT_TRY const at::Tensor &qq = T(q), &kk = T(k), &vv = T(v);
    check_heads(qq, "q");
    check_heads(kk, "k");
    check_heads(vv, "v");
    int64_t B = qq.size(0), H = qq.size(1), L = qq.size(2), d = qq.size(3), S = kk.size(2);
    if (kk.size(0) != B || kk.size(1) != H || kk.size(3) != d || vv.sizes() != kk.sizes())
        throw std::invalid_argument("attention: q, k and v disagree in batch, heads or head size");
    bool fused = attention_fusable(qq) && attention_fusable(kk) && attention_fusable(vv) &&
                 kk.scalar_type() == qq.scalar_type() && vv.scalar_type() == qq.scalar_type();
    if (!fused) {
        at::Tensor p = at::softmax(at::matmul(qq * scale, kk.transpose(-1, -2)), -1);
        return wrap(merge_heads(at::matmul(p, vv)));
    }
    vk_attn_dtype dt = attention_dtype(qq);
    at::Tensor out = at::empty({B, L, H * d}, qq.options());
    size_t elem = qq.element_size(), packed_bytes = vk_attn_packed_bytes(dt, S, d);
    int64_t rows = std::min(attention_row_block, L);
    size_t scratch_bytes = vk_attn_scratch_bytes(dt, rows, S);
    const char *qp = static_cast<const char *>(qq.data_ptr());
    char *op = static_cast<char *>(out.data_ptr());
    at::parallel_for(0, B * H, 1, [&](int64_t begin, int64_t end) {
        at::Tensor buf = at::empty({(int64_t)(packed_bytes + scratch_bytes)}, at::kByte); // 64-byte aligned
        char *packed = static_cast<char *>(buf.data_ptr()), *scratch = packed + packed_bytes;
        for (int64_t bh = begin; bh < end; bh++) {
            int64_t b = bh / H, h = bh % H;
            pack_head(dt, kk, vv, b, h, packed);
            for (int64_t r = 0; r < L; r += rows)
                vk_attn_rows(dt, qp + (b * qq.stride(0) + h * qq.stride(1) + r * qq.stride(2)) * elem, qq.stride(2),
                             std::min(rows, L - r), packed, S, d, (float)scale, scratch,
                             op + ((b * L + r) * H * d + h * d) * elem, H * d);
        }
    });
    return wrap(std::move(out));
    TT_CATCH(nullptr)
}

tt_tensor *tt_attention_pack(tt_tensor *k, tt_tensor *v) {
    TT_TRY const at::Tensor &kk = T(k), &vv = T(v);
    check_heads(kk, "k");
    if (vv.sizes() != kk.sizes() || vv.scalar_type() != kk.scalar_type())
        throw std::invalid_argument("attention: k and v differ in shape or dtype");
    if (!attention_fusable(kk) || !attention_fusable(vv)) return nullptr;
    int64_t B = kk.size(0), H = kk.size(1);
    vk_attn_dtype dt = attention_dtype(kk);
    int64_t bytes = (int64_t)vk_attn_packed_bytes(dt, kk.size(2), kk.size(3));
    at::Tensor out = at::empty({B, H, bytes}, at::kByte); // every head's block a 64-byte multiple
    char *op = static_cast<char *>(out.data_ptr());
    at::parallel_for(0, B * H, 1, [&](int64_t begin, int64_t end) {
        for (int64_t bh = begin; bh < end; bh++) pack_head(dt, kk, vv, bh / H, bh % H, op + bh * bytes);
    });
    return wrap(std::move(out));
    TT_CATCH(nullptr)
}

tt_tensor *tt_attention_packed(tt_tensor *q, tt_tensor *packed, int64_t keys, double scale) {
    TT_TRY const at::Tensor &qq = T(q), &pk = T(packed);
    check_heads(qq, "q");
    int64_t BG = qq.size(0), H = qq.size(1), L = qq.size(2), d = qq.size(3), S = keys;
    if (!attention_fusable(qq)) throw std::invalid_argument("attention: packed keys/values need a float32 or bf16 q without gradient on an AVX-512 CPU");
    vk_attn_dtype dt = attention_dtype(qq);
    int64_t bytes = (int64_t)vk_attn_packed_bytes(dt, S, d);
    if (pk.dim() != 3 || pk.scalar_type() != at::kByte || pk.size(1) != H || pk.size(2) != bytes || !pk.is_contiguous() ||
        pk.size(0) < 1 || BG % pk.size(0) != 0)
        throw std::invalid_argument("attention: packed keys/values do not match q (heads, head size, " + std::to_string(S) +
                                    " keys, dtype) or its batch is not a divisor of q's");
    int64_t B = pk.size(0), G = BG / B;
    at::Tensor out = at::empty({BG, L, H * d}, qq.options());
    size_t elem = qq.element_size();
    // with one token per row, the G rows that share an image are one kernel call (stride: a row)
    int64_t calls = L == 1 ? 1 : G, rows = L == 1 ? G : L, ldq = L == 1 ? qq.stride(0) : qq.stride(2);
    int64_t block = std::min(attention_row_block, rows);
    // fewer (head, call) pairs than threads (one image, one wide head: the folded cross-attention):
    // split the rows, in whole tiles of the kernel's 6
    int64_t pairs = B * H * calls, threads = at::get_num_threads();
    if (pairs < threads && rows > 6) {
        int64_t parts = std::min((threads + pairs - 1) / pairs, (rows + 5) / 6);
        block = std::min(block, ((rows + parts - 1) / parts + 5) / 6 * 6);
    }
    int64_t blocks = (rows + block - 1) / block;
    size_t scratch_bytes = vk_attn_scratch_bytes(dt, block, S);
    const char *qp = static_cast<const char *>(qq.data_ptr()), *pp = static_cast<const char *>(pk.data_ptr());
    char *op = static_cast<char *>(out.data_ptr());
    at::parallel_for(0, pairs * blocks, 1, [&](int64_t begin, int64_t end) {
        at::Tensor buf = at::empty({(int64_t)scratch_bytes}, at::kByte);
        for (int64_t u = begin; u < end; u++) {
            int64_t bh = u / (calls * blocks), c = u / blocks % calls, r = u % blocks * block;
            int64_t b = bh / H, h = bh % H, n = std::min(block, rows - r);
            int64_t row0 = b * G + (L == 1 ? 0 : c); // q's batch row of this call's first query
            const char *qr = qp + (row0 * qq.stride(0) + h * qq.stride(1)) * elem + r * ldq * elem;
            char *orow = op + ((row0 * L + r) * H * d + h * d) * elem; // rows of out are H*d apart either way
            vk_attn_rows(dt, qr, ldq, n, pp + bh * bytes, S, d, (float)scale, buf.data_ptr(), orow, H * d);
        }
    });
    return wrap(std::move(out));
    TT_CATCH(nullptr)
}

// ---- per-head projections of the folded cross-attention (kernels/head_projection.c) -----------
namespace {
bool heads_fusable(std::initializer_list<const at::Tensor *> ts) {
    for (const at::Tensor *t : ts)
        if (t->scalar_type() != at::kBFloat16 || needs_grad(*t)) return false;
    return vk_heads_supported();
}
} // namespace

tt_tensor *tt_heads_expand(tt_tensor *q, tt_tensor *w, int64_t heads) {
    TT_TRY const at::Tensor &ww = T(w);
    at::Tensor qq = T(q).contiguous();
    if (ww.dim() != 2 || qq.dim() < 1 || heads < 1 || ww.size(0) % heads != 0 || qq.size(-1) != ww.size(0))
        throw std::invalid_argument("heads_expand: q [..., H*d] and w [H*d, E] with H = " + std::to_string(heads) + " disagree");
    int64_t H = heads, d = ww.size(0) / H, E = ww.size(1), R = qq.numel() / qq.size(-1);
    std::vector<int64_t> shape(qq.sizes().begin(), qq.sizes().end() - 1);
    shape.push_back(H);
    shape.push_back(E);
    if (!heads_fusable({&qq, &ww}) || ww.stride(1) != 1 || d > VK_HEAD_MAX_D) {
        at::Tensor qh = qq.reshape({R, H, d}).transpose(0, 1);             // [H, R, d]
        return wrap(at::bmm(qh, ww.reshape({H, d, E})).transpose(0, 1).reshape(shape));
    }
    at::Tensor out = at::empty(shape, qq.options());
    const uint16_t *qp = bf16_data(qq), *wp = bf16_data(ww);
    uint16_t *op = bf16_data(out);
    int64_t ldw = ww.stride(0);
    at::parallel_for(0, H, 1, [&](int64_t begin, int64_t end) {
        for (int64_t h = begin; h < end; h++) vk_head_expand(qp + h * d, H * d, R, d, wp + h * d * ldw, ldw, E, op + h * E, H * E);
    });
    return wrap(std::move(out));
    TT_CATCH(nullptr)
}

tt_tensor *tt_heads_reduce(tt_tensor *c, tt_tensor *w, tt_tensor *bias) {
    TT_TRY const at::Tensor &ww = T(w);
    at::Tensor cc = T(c).contiguous();
    if (ww.dim() != 2 || cc.dim() < 2 || cc.size(-1) != ww.size(1) || ww.size(0) % cc.size(-2) != 0)
        throw std::invalid_argument("heads_reduce: c [..., H, E] and w [H*d, E] disagree");
    int64_t H = cc.size(-2), E = cc.size(-1), d = ww.size(0) / H, R = cc.numel() / (H * E);
    if (bias && (T(bias).dim() != 1 || T(bias).size(0) != H * d))
        throw std::invalid_argument("heads_reduce: bias must have the " + std::to_string(H * d) + " outputs of w");
    std::vector<int64_t> shape(cc.sizes().begin(), cc.sizes().end() - 2);
    shape.push_back(H * d);
    at::Tensor bb = bias ? T(bias).contiguous() : at::Tensor();
    if (!heads_fusable({&cc, &ww}) || (bias && !heads_fusable({&bb})) || ww.stride(1) != 1) {
        at::Tensor ch = cc.reshape({R, H, E}).transpose(0, 1);              // [H, R, E]
        at::Tensor out = at::bmm(ch, ww.reshape({H, d, E}).transpose(1, 2)).transpose(0, 1).reshape(shape);
        return wrap(bias ? out + T(bias) : out);
    }
    at::Tensor out = at::empty(shape, cc.options());
    const uint16_t *cp = bf16_data(cc), *wp = bf16_data(ww), *bp = bias ? bf16_data(bb) : nullptr;
    uint16_t *op = bf16_data(out);
    int64_t ldw = ww.stride(0);
    at::parallel_for(0, H, 1, [&](int64_t begin, int64_t end) {
        for (int64_t h = begin; h < end; h++)
            vk_head_reduce(cp + h * E, H * E, R, E, wp + h * d * ldw, ldw, d, bp ? bp + h * d : nullptr, op + h * d, H * d);
    });
    return wrap(std::move(out));
    TT_CATCH(nullptr)
}

tt_tensor *tt_layer_norm_bf16(tt_tensor *x, tt_tensor *weight, tt_tensor *bias, double eps) {
    TT_TRY const at::Tensor &xx = T(x);
    if (xx.dim() < 1) throw std::invalid_argument("layer_norm: a 0-d tensor has no features to normalise");
    int64_t n = xx.size(-1);
    for (const tt_tensor *p : {weight, bias})
        if (p && (T(p).dim() != 1 || T(p).size(0) != n))
            throw std::invalid_argument("layer_norm: weight and bias must have the " + std::to_string(n) + " features of x");
    auto plain = [](const tt_tensor *p) {
        return !p || (T(p).scalar_type() == at::kFloat && T(p).is_contiguous() && !needs_grad(T(p)));
    };
    bool fused = xx.scalar_type() == at::kFloat && xx.is_contiguous() && xx.numel() > 0 && plain(x) && plain(weight) &&
                 plain(bias) && vk_layer_norm_bf16_supported();
    if (!fused) return wrap(at::layer_norm(xx, {n}, opt(weight), opt(bias), eps).to(at::kBFloat16));
    at::Tensor y = at::empty(xx.sizes(), xx.options().dtype(at::kBFloat16));
    const float *xp = xx.data_ptr<float>(), *wp = weight ? T(weight).data_ptr<float>() : nullptr,
                *bp = bias ? T(bias).data_ptr<float>() : nullptr;
    uint16_t *yp = bf16_data(y);
    at::parallel_for(0, xx.numel() / n, 16, [&](int64_t begin, int64_t end) {
        vk_layer_norm_bf16(xp + begin * n, end - begin, n, wp, bp, (float)eps, yp + begin * n);
    });
    return wrap(std::move(y));
    TT_CATCH(nullptr)
}

tt_tensor *tt_layer_norm(tt_tensor *x, int ndim_norm, tt_tensor *weight, tt_tensor *bias, double eps) {
    TT_TRY const at::Tensor &xx = T(x);
    if (ndim_norm < 1 || ndim_norm > xx.dim())
        throw std::invalid_argument("layer_norm: cannot normalise over " + std::to_string(ndim_norm) +
                                    " trailing dims of a " + std::to_string(xx.dim()) + "-d tensor");
    auto shape = xx.sizes().slice((size_t)(xx.dim() - ndim_norm));
    return wrap(at::layer_norm(xx, shape, opt(weight), opt(bias), eps));
    TT_CATCH(nullptr)
}

tt_tensor *tt_softmax(tt_tensor *x, int dim) { TT_TENSOR_FN(at::softmax(T(x), dim)) }
tt_tensor *tt_log_softmax(tt_tensor *x, int dim) { TT_TENSOR_FN(at::log_softmax(T(x), dim)) }

tt_tensor *tt_conv2d(tt_tensor *x, tt_tensor *w, tt_tensor *b, int sh, int sw, int ph, int pw) {
    TT_TENSOR_FN(at::conv2d(T(x), T(w), opt(b), {sh, sw}, {ph, pw}))
}

tt_tensor *tt_embedding(tt_tensor *weight, tt_tensor *ids, int64_t padding_idx) {
    TT_TENSOR_FN(at::embedding(T(weight), T(ids), padding_idx))
}

tt_tensor *tt_cross_entropy(tt_tensor *logits, tt_tensor *targets, tt_reduction reduction, int64_t ignore_index,
                            double label_smoothing) {
    TT_TRY if ((int)reduction < 0 || (int)reduction > 2) throw std::invalid_argument("cross_entropy: bad reduction");
    return wrap(at::cross_entropy_loss(T(logits), T(targets), c10::nullopt, (int64_t)reduction, ignore_index,
                                       label_smoothing));
    TT_CATCH(nullptr)
}

// ---- reductions and selection ------------------------------------------------------------
tt_tensor *tt_sum(tt_tensor *a) { TT_TENSOR_FN(at::sum(T(a))) }
tt_tensor *tt_sum_dim(tt_tensor *a, int dim, int keepdim) { TT_TENSOR_FN(at::sum(T(a), {(int64_t)dim}, keepdim != 0)) }
tt_tensor *tt_mean(tt_tensor *a) { TT_TENSOR_FN(at::mean(T(a))) }
tt_tensor *tt_mean_dim(tt_tensor *a, int dim, int keepdim) { TT_TENSOR_FN(at::mean(T(a), {(int64_t)dim}, keepdim != 0)) }

tt_tensor *tt_max_dim(tt_tensor *a, int dim, int keepdim, tt_tensor **indices) {
    TT_TRY auto r = at::max(T(a), dim, keepdim != 0);
    tt_tensor *v = wrap(std::get<0>(r));
    if (indices) *indices = wrap(std::get<1>(r));
    return v;
    TT_CATCH(nullptr)
}

tt_tensor *tt_norm(tt_tensor *a, double p) { TT_TENSOR_FN(at::norm(T(a), p)) }
tt_tensor *tt_norm_dim(tt_tensor *a, double p, int dim, int keepdim) {
    TT_TENSOR_FN(at::norm(T(a), p, {(int64_t)dim}, keepdim != 0))
}
tt_tensor *tt_argmax(tt_tensor *a, int dim, int keepdim) { TT_TENSOR_FN(at::argmax(T(a), dim, keepdim != 0)) }

tt_tensor *tt_topk(tt_tensor *a, int64_t k, int dim, int largest, tt_tensor **indices) {
    TT_TRY if (!indices) throw std::invalid_argument("tt_topk: indices output is required");
    auto r = at::topk(T(a), k, dim, largest != 0, true);
    tt_tensor *v = wrap(std::get<0>(r));
    *indices = wrap(std::get<1>(r));
    return v;
    TT_CATCH(nullptr)
}

tt_tensor *tt_sort(tt_tensor *a, int dim, int descending, tt_tensor **indices) {
    TT_TRY if (!indices) throw std::invalid_argument("tt_sort: indices output is required");
    // stable, so equal values keep their order (beam search ties resolve like torch.topk's sorted output)
    auto r = at::sort(T(a), true, dim, descending != 0);
    tt_tensor *v = wrap(std::get<0>(r));
    *indices = wrap(std::get<1>(r));
    return v;
    TT_CATCH(nullptr)
}

tt_tensor *tt_index_select(tt_tensor *a, int dim, tt_tensor *index) { TT_TENSOR_FN(at::index_select(T(a), dim, T(index))) }
tt_tensor *tt_gather(tt_tensor *a, int dim, tt_tensor *index) { TT_TENSOR_FN(at::gather(T(a), dim, T(index))) }

// ---- shape -------------------------------------------------------------------------------
tt_tensor *tt_view(tt_tensor *a, const int64_t *dims, int ndim) { TT_TENSOR_FN(T(a).view(dims_ref(dims, ndim))) }
tt_tensor *tt_reshape(tt_tensor *a, const int64_t *dims, int ndim) { TT_TENSOR_FN(T(a).reshape(dims_ref(dims, ndim))) }
tt_tensor *tt_permute(tt_tensor *a, const int64_t *order, int ndim) { TT_TENSOR_FN(T(a).permute(dims_ref(order, ndim))) }
tt_tensor *tt_transpose(tt_tensor *a, int d0, int d1) { TT_TENSOR_FN(T(a).transpose(d0, d1)) }
tt_tensor *tt_contiguous(tt_tensor *a) { TT_TENSOR_FN(T(a).contiguous()) }
tt_tensor *tt_narrow(tt_tensor *a, int dim, int64_t start, int64_t length) { TT_TENSOR_FN(T(a).narrow(dim, start, length)) }
tt_tensor *tt_select(tt_tensor *a, int dim, int64_t index) { TT_TENSOR_FN(T(a).select(dim, index)) }
tt_tensor *tt_unsqueeze(tt_tensor *a, int dim) { TT_TENSOR_FN(T(a).unsqueeze(dim)) }
tt_tensor *tt_squeeze_dim(tt_tensor *a, int dim) { TT_TENSOR_FN(T(a).squeeze(dim)) }
tt_tensor *tt_expand(tt_tensor *a, const int64_t *dims, int ndim) { TT_TENSOR_FN(T(a).expand(dims_ref(dims, ndim))) }
tt_tensor *tt_repeat_interleave(tt_tensor *a, int64_t repeats, int dim) {
    TT_TENSOR_FN(at::repeat_interleave(T(a), repeats, (int64_t)dim))
}
tt_tensor *tt_flatten(tt_tensor *a, int s, int e) { TT_TENSOR_FN(T(a).flatten(s, e)) }
tt_tensor *tt_cat(tt_tensor *const *ts, int n, int dim) { TT_TENSOR_FN(at::cat(tensor_list(ts, n), dim)) }
tt_tensor *tt_stack(tt_tensor *const *ts, int n, int dim) { TT_TENSOR_FN(at::stack(tensor_list(ts, n), dim)) }
tt_tensor *tt_clone(tt_tensor *a) { TT_TENSOR_FN(T(a).clone()) }
tt_tensor *tt_detach(tt_tensor *a) { TT_TENSOR_FN(T(a).detach()) }

// ---- autograd ----------------------------------------------------------------------------
int tt_requires_grad(tt_tensor *t, int on) {
    TT_TRY at::Tensor x = T(t);
    x.requires_grad_(on != 0);
    return 0;
    TT_CATCH(-1)
}

int tt_backward(tt_tensor *loss) {
    TT_TRY const at::Tensor &l = T(loss);
    if (l.numel() != 1) throw std::invalid_argument("backward: loss must have one element, it has " + std::to_string(l.numel()));
    l.backward();
    return 0;
    TT_CATCH(-1)
}

tt_tensor *tt_grad(tt_tensor *t) {
    TT_TRY const at::Tensor &g = T(t).grad();
    if (!g.defined()) throw std::runtime_error("tensor has no gradient (not a leaf that requires grad, or no backward yet)");
    return wrap(g);
    TT_CATCH(nullptr)
}

int tt_has_grad(tt_tensor *t) {
    TT_TRY return T(t).grad().defined() ? 1 : 0;
    TT_CATCH(-1)
}

int tt_zero_grad(tt_tensor *t) {
    TT_TRY at::Tensor x = T(t);
    x.mutable_grad().reset();
    return 0;
    TT_CATCH(-1)
}

int tt_set_grad_enabled(int on) {
    bool prev = at::GradMode::is_enabled();
    at::GradMode::set_enabled(on != 0);
    return prev ? 1 : 0;
}

int tt_is_grad_enabled(void) { return at::GradMode::is_enabled() ? 1 : 0; }

double tt_clip_grad_norm(tt_tensor *const *params, int n, double max_norm) {
    TT_TRY std::vector<at::Tensor> ps = tensor_list(params, n);
    return torch::nn::utils::clip_grad_norm_(ps, max_norm, 2.0);
    TT_CATCH(NAN)
}

// ---- optimizer ---------------------------------------------------------------------------
tt_optim *tt_adamw_new(double lr, double beta1, double beta2, double eps, double weight_decay) {
    TT_TRY auto o = torch::optim::AdamWOptions(lr).betas({beta1, beta2}).eps(eps).weight_decay(weight_decay);
    auto *opt = new tt_optim;
    opt->adamw = std::make_unique<torch::optim::AdamW>(std::vector<torch::optim::OptimizerParamGroup>{}, o);
    return opt;
    TT_CATCH(nullptr)
}

int tt_optim_add_group(tt_optim *opt, tt_tensor *const *params, int n, double lr, double weight_decay) {
    TT_TRY if (!opt) throw std::invalid_argument("null optimizer");
    auto o = std::make_unique<torch::optim::AdamWOptions>(
        static_cast<const torch::optim::AdamWOptions &>(opt->adamw->defaults()));
    o->lr(lr).weight_decay(weight_decay);
    opt->adamw->add_param_group(torch::optim::OptimizerParamGroup(tensor_list(params, n), std::move(o)));
    return (int)opt->adamw->param_groups().size() - 1;
    TT_CATCH(-1)
}

int tt_optim_set_lr(tt_optim *opt, int group, double lr) {
    TT_TRY if (!opt) throw std::invalid_argument("null optimizer");
    if (group < 0) {
        for (size_t g = 0; g < opt->adamw->param_groups().size(); g++) group_options(opt, (int)g).lr(lr);
    } else {
        group_options(opt, group).lr(lr);
    }
    return 0;
    TT_CATCH(-1)
}

double tt_optim_get_lr(tt_optim *opt, int group) {
    TT_TRY return group_options(opt, group).lr();
    TT_CATCH(NAN)
}

int tt_optim_num_groups(tt_optim *opt) {
    TT_TRY if (!opt) throw std::invalid_argument("null optimizer");
    return (int)opt->adamw->param_groups().size();
    TT_CATCH(-1)
}

int tt_optim_step(tt_optim *opt) {
    TT_TRY if (!opt) throw std::invalid_argument("null optimizer");
    opt->adamw->step();
    return 0;
    TT_CATCH(-1)
}

int tt_optim_zero_grad(tt_optim *opt) {
    TT_TRY if (!opt) throw std::invalid_argument("null optimizer");
    for (auto &g : opt->adamw->param_groups())
        for (auto &p : g.params()) p.mutable_grad().reset();
    return 0;
    TT_CATCH(-1)
}

int tt_optim_get_state(tt_optim *opt, int group, int index, int64_t *step, tt_tensor **exp_avg,
                       tt_tensor **exp_avg_sq) {
    TT_TRY const at::Tensor &p = group_param(opt, group, index);
    auto &state = opt->adamw->state();
    auto it = state.find(c10::guts::to_string(p.unsafeGetTensorImpl()));
    if (it == state.end()) {
        if (step) *step = 0;
        if (exp_avg) *exp_avg = nullptr;
        if (exp_avg_sq) *exp_avg_sq = nullptr;
        return 0;
    }
    auto &s = static_cast<torch::optim::AdamWParamState &>(*it->second);
    if (step) *step = s.step();
    if (exp_avg) *exp_avg = wrap(s.exp_avg());
    if (exp_avg_sq) *exp_avg_sq = wrap(s.exp_avg_sq());
    return 0;
    TT_CATCH(-1)
}

int tt_optim_set_state(tt_optim *opt, int group, int index, int64_t step, tt_tensor *exp_avg, tt_tensor *exp_avg_sq) {
    TT_TRY const at::Tensor &p = group_param(opt, group, index);
    const at::Tensor &m = T(exp_avg), &v = T(exp_avg_sq);
    if (!m.sizes().equals(p.sizes()) || !v.sizes().equals(p.sizes()))
        throw std::invalid_argument("optimizer state shape does not match parameter " + std::to_string(index) +
                                    " of group " + std::to_string(group));
    auto s = std::make_unique<torch::optim::AdamWParamState>();
    s->step(step);
    s->exp_avg(m.detach().to(p.options()).clone());
    s->exp_avg_sq(v.detach().to(p.options()).clone());
    opt->adamw->state()[c10::guts::to_string(p.unsafeGetTensorImpl())] = std::move(s);
    return 0;
    TT_CATCH(-1)
}

void tt_optim_free(tt_optim *opt) { delete opt; }

} // extern "C"

// ---- distributed ---------------------------------------------------------------------------
// A TCPStore (served by rank 0) for the rendezvous and small exchanges, a c10d process group for
// the collectives. Gloo's worker threads keep exceptions in the Work object; wait() rethrows
// them here, so a dead peer or a timeout becomes an error message like any other.

struct tt_dist {
    c10::intrusive_ptr<c10d::Store> store;
    c10::intrusive_ptr<c10d::ProcessGroup> pg;
    int rank = 0, world = 1;
    bool cuda = false; // NCCL: tensors travel through the GPU
    std::chrono::milliseconds timeout{300000};
};

namespace {

c10::intrusive_ptr<c10d::ProcessGroup> dist_group(const char *backend, const c10::intrusive_ptr<c10d::Store> &store,
                                                  int rank, int world, std::chrono::milliseconds timeout,
                                                  const std::string &addr) {
    std::string b = backend ? backend : "gloo";
    if (b == "gloo") {
#ifdef USE_C10D_GLOO
        auto o = c10d::ProcessGroupGloo::Options::create(timeout);
        const char *ifname = getenv("GLOO_SOCKET_IFNAME");
        bool loopback = addr == "localhost" || addr.rfind("127.", 0) == 0 || addr == "::1";
        if (ifname && *ifname) o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
        else if (loopback) o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
        else o->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
        o->threads = 2;
        return c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world, o);
#else
        throw std::runtime_error("this build has no Gloo backend (rebuild with libgloo-dev installed)");
#endif
    }
    if (b == "nccl") {
#ifdef USE_C10D_NCCL
        auto o = c10d::ProcessGroupNCCL::Options::create();
        o->timeout = timeout;
        return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, world, o);
#else
        throw std::runtime_error("this build has no NCCL backend (it needs a CUDA libtorch: make LIBTORCH=...)");
#endif
    }
    throw std::invalid_argument("unknown distributed backend '" + b + "' (gloo or nccl)");
}

tt_dist &D(tt_dist *d) {
    if (!d) throw std::invalid_argument("null process group");
    return *d;
}

void dist_wait(tt_dist &d, c10::intrusive_ptr<c10d::Work> w) {
    if (!w->wait(d.timeout)) throw std::runtime_error("collective did not complete");
}

c10d::ReduceOp reduce_op(tt_dist_op op) {
    switch (op) {
    case TT_DIST_SUM:
    case TT_DIST_AVG: return c10d::ReduceOp::SUM; // AVG: SUM then divide (Gloo has no AVG)
    case TT_DIST_MAX: return c10d::ReduceOp::MAX;
    case TT_DIST_MIN: return c10d::ReduceOp::MIN;
    }
    throw std::invalid_argument("bad reduce op");
}

// The tensors (one dtype) as one flat buffer on the backend's device: one collective for all.
at::Tensor flat_buffer(const tt_dist &d, const std::vector<at::Tensor> &ts, const char *what) {
    std::vector<at::Tensor> flat;
    flat.reserve(ts.size());
    for (auto &t : ts) {
        if (t.scalar_type() != ts[0].scalar_type()) throw std::invalid_argument(std::string(what) + ": tensors of different dtypes");
        flat.push_back(t.reshape({-1}));
    }
    at::Tensor buf = at::cat(flat);
    return d.cuda ? buf.to(at::kCUDA) : buf;
}

// The collective's result copied back into the tensors, in place.
void copy_back(const at::Tensor &buf, std::vector<at::Tensor> &ts) {
    at::Tensor host = buf.to(ts[0].device());
    at::NoGradGuard no_grad;
    int64_t off = 0;
    for (auto &t : ts) {
        t.copy_(host.narrow(0, off, t.numel()).view(t.sizes()));
        off += t.numel();
    }
}

void all_reduce_list(tt_dist &d, std::vector<at::Tensor> &ts, tt_dist_op op) {
    if (ts.empty()) return;
    std::vector<at::Tensor> one{flat_buffer(d, ts, "all_reduce")};
    c10d::AllreduceOptions o;
    o.reduceOp = reduce_op(op);
    o.timeout = d.timeout;
    dist_wait(d, d.pg->allreduce(one, o));
    if (op == TT_DIST_AVG) one[0].div_(d.world);
    copy_back(one[0], ts);
}

} // namespace

int tt_dist_available(const char *backend) {
    std::string b = backend ? backend : "";
#ifdef USE_C10D_GLOO
    if (b == "gloo") return 1;
#endif
#ifdef USE_C10D_NCCL
    if (b == "nccl") return 1;
#endif
    return 0;
}

tt_dist *tt_dist_init(const tt_dist_options *o) {
    TT_TRY if (!o) throw std::invalid_argument("null options");
    if (o->world_size < 1) throw std::invalid_argument("world size " + std::to_string(o->world_size) + " (must be >= 1)");
    if (o->rank < 0 || o->rank >= o->world_size)
        throw std::invalid_argument("rank " + std::to_string(o->rank) + " outside world size " + std::to_string(o->world_size));
    if (o->master_port < 1 || o->master_port > 65535)
        throw std::invalid_argument("master port " + std::to_string(o->master_port) + " (must be 1..65535)");
    std::string addr = o->master_addr && *o->master_addr ? o->master_addr : "127.0.0.1";
    // A peer that closes its sockets must give an error here, not kill this process.
    signal(SIGPIPE, SIG_IGN);
    auto d = std::make_unique<tt_dist>();
    d->rank = o->rank;
    d->world = o->world_size;
    d->timeout = std::chrono::milliseconds((int64_t)((o->timeout_s > 0 ? o->timeout_s : 300) * 1000));
    c10d::TCPStoreOptions so;
    so.port = (uint16_t)o->master_port;
    so.isServer = o->rank == 0;
    so.numWorkers = (size_t)o->world_size;
    so.waitWorkers = true;
    so.timeout = d->timeout;
    try {
        d->store = c10::make_intrusive<c10d::TCPStore>(addr, so);
    } catch (const std::exception &e) {
        std::string m = c10::GetExceptionString(e);
        if (auto *ce = dynamic_cast<const c10::Error *>(&e)) m = ce->what_without_backtrace();
        throw std::runtime_error("store " + addr + ":" + std::to_string(o->master_port) + ": " + m);
    }
    // Launch mistakes that Gloo would report as an address-size mismatch or a hang: every rank
    // must agree with rank 0 on the world size, and each rank number must come once.
    if (o->rank == 0) d->store->set("vlkit/world", std::vector<uint8_t>{(uint8_t)(o->world_size & 255), (uint8_t)(o->world_size >> 8 & 255),
                                                                        (uint8_t)(o->world_size >> 16 & 255)});
    std::vector<uint8_t> w0 = d->store->get("vlkit/world");
    int world0 = w0.size() == 3 ? w0[0] | w0[1] << 8 | w0[2] << 16 : -1;
    if (world0 != o->world_size)
        throw std::runtime_error("world size " + std::to_string(o->world_size) + " here, " + std::to_string(world0) +
                                 " on rank 0: every rank must be started with the same WORLD_SIZE");
    if (d->store->add("vlkit/rank/" + std::to_string(o->rank), 1) != 1)
        throw std::runtime_error("rank " + std::to_string(o->rank) + " was started twice (check RANK of each process)");
    auto prefixed = c10::make_intrusive<c10d::PrefixStore>("pg", d->store);
    d->pg = dist_group(o->backend, prefixed, o->rank, o->world_size, d->timeout, addr);
    d->cuda = o->backend && std::string(o->backend) == "nccl";
    return d.release();
    TT_CATCH(nullptr)
}

int tt_dist_rank(const tt_dist *d) { return d ? d->rank : -1; }
int tt_dist_world_size(const tt_dist *d) { return d ? d->world : -1; }

int tt_dist_all_reduce(tt_dist *d, tt_tensor *const *ts, int n, tt_dist_op op) {
    TT_TRY auto v = tensor_list(ts, n);
    all_reduce_list(D(d), v, op);
    return 0;
    TT_CATCH(-1)
}

int tt_dist_all_reduce_grads(tt_dist *d, tt_tensor *const *params, int n, tt_dist_op op) {
    TT_TRY auto ps = tensor_list(params, n);
    std::vector<at::Tensor> grads;
    grads.reserve(ps.size());
    for (auto &p : ps) {
        if (!p.grad().defined()) p.mutable_grad() = at::zeros_like(p);
        grads.push_back(p.grad());
    }
    all_reduce_list(D(d), grads, op);
    return 0;
    TT_CATCH(-1)
}

int tt_dist_broadcast(tt_dist *d, tt_tensor *const *ts, int n, int root) {
    TT_TRY auto v = tensor_list(ts, n);
    tt_dist &dd = D(d);
    if (root < 0 || root >= dd.world) throw std::invalid_argument("broadcast root " + std::to_string(root) + " outside the group");
    if (v.empty()) return 0;
    std::vector<at::Tensor> one{flat_buffer(dd, v, "broadcast")};
    c10d::BroadcastOptions o;
    o.rootRank = root;
    o.timeout = dd.timeout;
    dist_wait(dd, dd.pg->broadcast(one, o));
    copy_back(one[0], v);
    return 0;
    TT_CATCH(-1)
}

int tt_dist_barrier(tt_dist *d) {
    TT_TRY tt_dist &dd = D(d);
    c10d::BarrierOptions o;
    o.timeout = dd.timeout;
    dist_wait(dd, dd.pg->barrier(o));
    return 0;
    TT_CATCH(-1)
}

int tt_dist_store_set(tt_dist *d, const char *key, const void *data, size_t n) {
    TT_TRY if (!key || (n && !data)) throw std::invalid_argument("store set: null key or data");
    const auto *p = static_cast<const uint8_t *>(data);
    D(d).store->set(std::string("vk/") + key, std::vector<uint8_t>(p, p + n));
    return 0;
    TT_CATCH(-1)
}

int tt_dist_store_get(tt_dist *d, const char *key, void **data, size_t *n) {
    TT_TRY if (!key || !data || !n) throw std::invalid_argument("store get: null argument");
    *data = nullptr;
    *n = 0;
    std::vector<uint8_t> v = D(d).store->get(std::string("vk/") + key);
    void *out = malloc(v.size() + 1);
    if (!out) throw std::bad_alloc();
    if (!v.empty()) memcpy(out, v.data(), v.size());
    static_cast<char *>(out)[v.size()] = 0; // text values can be used as C strings
    *data = out;
    *n = v.size();
    return 0;
    TT_CATCH(-1)
}

void tt_dist_destroy(tt_dist *d) {
    try {
        delete d;
    } catch (...) {
    }
}
