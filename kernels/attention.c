/* kernels/attention.c — fused single-head attention (see attention.h).
 *
 * Layouts (keys padded to a multiple of 16 with zeros, so every vector load is whole):
 *   float32  keys   [ceil(S/16)][d][16]          16 keys side by side for each feature
 *            values [S][ceil16(d)]               rows padded to whole vectors
 *   bf16     keys   [ceil(S/16)][ceil(d/2)][16][2]  feature pairs, as VDPBF16PS takes them
 *            values [ceil(S/2)][ceil16(d)][2]    key pairs
 * q k^T runs as tiles of up to 12 query rows x 32 keys, p v as 6 rows x 64 features: 24
 * accumulators of the 32 vector registers, each loaded vector used 6-12 times. */
#include "kernels/attention.h"

#include "util/cpu_tune.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define VK_ATTN_X86 1
#include <immintrin.h>
#endif

enum { QK_ROWS = 12, QK_VECS = 2, PV_ROWS = 6, PV_VECS = 4 };

static int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

int vk_attn_supported(vk_attn_dtype dt) {
#ifdef VK_ATTN_X86
    if (!vk_cpu_has_avx512()) return 0;
    return dt == VK_ATTN_F32 || (dt == VK_ATTN_BF16 && vk_cpu_has_avx512_bf16());
#else
    (void)dt;
    return 0;
#endif
}

static size_t keys_bytes(vk_attn_dtype dt, int64_t S, int64_t d) {
    int64_t blocks = (S + 15) / 16;
    return dt == VK_ATTN_F32 ? (size_t)(blocks * d * 16) * 4 : (size_t)(blocks * ((d + 1) / 2) * 32) * 2;
}

size_t vk_attn_packed_bytes(vk_attn_dtype dt, int64_t S, int64_t d) {
    size_t values = dt == VK_ATTN_F32 ? (size_t)(S * round_up(d, 16)) * 4 : (size_t)((S + 1) / 2 * round_up(d, 16) * 2) * 2;
    return keys_bytes(dt, S, d) + values;
}

size_t vk_attn_scratch_bytes(vk_attn_dtype dt, int64_t R, int64_t S) {
    size_t row = (size_t)round_up(S, 16) * (dt == VK_ATTN_F32 ? 4 : 6); /* float32 scores (+ bf16 probabilities) */
    return (size_t)round_up((int64_t)((size_t)R * row), 64);
}

void vk_attn_pack(vk_attn_dtype dt, const void *k, int64_t ldk, const void *v, int64_t ldv, int64_t S, int64_t d,
                  void *packed) {
    memset(packed, 0, vk_attn_packed_bytes(dt, S, d));
    int64_t dv = round_up(d, 16);
    if (dt == VK_ATTN_F32) {
        const float *kk = k, *vv = v;
        float *kp = packed, *vp = (float *)((char *)packed + keys_bytes(dt, S, d));
        for (int64_t s = 0; s < S; s++)
            for (int64_t c = 0; c < d; c++) kp[((s / 16) * d + c) * 16 + s % 16] = kk[s * ldk + c];
        for (int64_t s = 0; s < S; s++) memcpy(vp + s * dv, vv + s * ldv, sizeof(float) * (size_t)d);
        return;
    }
    const uint16_t *kk = k, *vv = v;
    uint16_t *kp = packed, *vp = (uint16_t *)((char *)packed + keys_bytes(dt, S, d));
    int64_t pairs = (d + 1) / 2;
    for (int64_t s = 0; s < S; s++)
        for (int64_t c = 0; c < d; c++) kp[((s / 16) * pairs + c / 2) * 32 + (s % 16) * 2 + c % 2] = kk[s * ldk + c];
    for (int64_t s = 0; s < S; s++)
        for (int64_t c = 0; c < d; c++) vp[((s / 2) * dv + c) * 2 + s % 2] = vv[s * ldv + c];
}

#ifdef VK_ATTN_X86
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))
#define AVX512_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,avx512bf16")))
#define INLINE static inline __attribute__((always_inline))
/* The tiles' loops over rows and vectors must be unrolled whole (at -O2 GCC leaves them as
 * loops and the accumulators in memory: 2.5x slower). */
#define UNROLL _Pragma("GCC unroll 16")

/* e^x for x <= 0 (the softmax's x - max), float32 to about 1 ulp: Cephes' expf polynomial on
 * x - n ln2, then scaled by 2^n. x below -104 (or -inf) gives 0. */
INLINE AVX512 __m512 exp_nonpositive(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(-104.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    __m512 y = _mm512_add_ps(_mm512_fmadd_ps(_mm512_mul_ps(p, r), r, r), _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(y, n);
}

static __mmask16 tail_mask(int64_t n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1); }

/* Row i of x [rows, S] (stride lds): x = softmax(scale * x) in place, over the first S entries. */
static AVX512 void softmax_rows(float *x, int64_t lds, int64_t rows, int64_t S, float scale) {
    for (int64_t i = 0; i < rows; i++) {
        float *row = x + i * lds;
        __m512 vscale = _mm512_set1_ps(scale), vmax = _mm512_set1_ps(-INFINITY);
        for (int64_t s = 0; s < S; s += 16) {
            __mmask16 m = tail_mask(S - s);
            __m512 t = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, row + s), vscale);
            _mm512_mask_storeu_ps(row + s, m, t);
            vmax = _mm512_mask_max_ps(vmax, m, vmax, t);
        }
        __m512 mx = _mm512_set1_ps(_mm512_reduce_max_ps(vmax)), vsum = _mm512_setzero_ps();
        for (int64_t s = 0; s < S; s += 16) {
            __mmask16 m = tail_mask(S - s);
            __m512 e = exp_nonpositive(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, row + s), mx));
            _mm512_mask_storeu_ps(row + s, m, e);
            vsum = _mm512_mask_add_ps(vsum, m, vsum, e);
        }
        __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(vsum));
        for (int64_t s = 0; s < S; s += 16) {
            __mmask16 m = tail_mask(S - s);
            _mm512_mask_storeu_ps(row + s, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, row + s), inv));
        }
    }
}

/* ---- float32 ---------------------------------------------------------------------------- */

/* scores[rows, 16*vecs] = q[rows, d] . keys of blocks kp[0..vecs) */
INLINE AVX512 void qk_tile_f32(int rows, int vecs, const float *q, int64_t ldq, const float *kp, int64_t d, float *sc,
                               int64_t lds) {
    __m512 acc[QK_ROWS][QK_VECS];
    UNROLL for (int r = 0; r < rows; r++)
        UNROLL for (int j = 0; j < vecs; j++) acc[r][j] = _mm512_setzero_ps();
    for (int64_t c = 0; c < d; c++) {
        __m512 b[QK_VECS];
        UNROLL for (int j = 0; j < vecs; j++) b[j] = _mm512_loadu_ps(kp + (j * d + c) * 16);
        UNROLL for (int r = 0; r < rows; r++) {
            __m512 a = _mm512_set1_ps(q[r * ldq + c]);
            UNROLL for (int j = 0; j < vecs; j++) acc[r][j] = _mm512_fmadd_ps(a, b[j], acc[r][j]);
        }
    }
    UNROLL for (int r = 0; r < rows; r++)
        UNROLL for (int j = 0; j < vecs; j++) _mm512_storeu_ps(sc + r * lds + j * 16, acc[r][j]);
}

/* out[rows, cols] = p[rows, S] . v[S, c0 .. c0 + cols) (cols <= 64) */
INLINE AVX512 void pv_tile_f32(int rows, int vecs, const float *p, int64_t lds, const float *vp, int64_t dv, int64_t S,
                               float *out, int64_t ldo, int64_t cols) {
    __m512 acc[PV_ROWS][PV_VECS];
    UNROLL for (int r = 0; r < rows; r++)
        UNROLL for (int j = 0; j < vecs; j++) acc[r][j] = _mm512_setzero_ps();
    for (int64_t s = 0; s < S; s++) {
        __m512 b[PV_VECS];
        UNROLL for (int j = 0; j < vecs; j++) b[j] = _mm512_loadu_ps(vp + s * dv + j * 16);
        UNROLL for (int r = 0; r < rows; r++) {
            __m512 a = _mm512_set1_ps(p[r * lds + s]);
            UNROLL for (int j = 0; j < vecs; j++) acc[r][j] = _mm512_fmadd_ps(a, b[j], acc[r][j]);
        }
    }
    UNROLL for (int r = 0; r < rows; r++)
        UNROLL for (int j = 0; j < vecs; j++) _mm512_mask_storeu_ps(out + r * ldo + j * 16, tail_mask(cols - j * 16), acc[r][j]);
}

/* The tiles with constant row and vector counts (the compiler keeps their accumulators in
 * registers only when both are known). */
#define ROW_CASES(X) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12)
#define QK_F32_CASE(n)                                                                                                 \
    case n:                                                                                                            \
        if (vecs == 2) qk_tile_f32(n, 2, q, ldq, kp, d, sc, lds);                                                      \
        else qk_tile_f32(n, 1, q, ldq, kp, d, sc, lds);                                                                \
        break;
static AVX512 void qk_f32(int rows, int vecs, const float *q, int64_t ldq, const float *kp, int64_t d, float *sc,
                          int64_t lds) {
    switch (rows) { ROW_CASES(QK_F32_CASE) }
}

#define PV_ROW_CASES(X) X(1) X(2) X(3) X(4) X(5) X(6)
#define PV_F32_CASE(n)                                                                                                 \
    case n:                                                                                                            \
        switch (vecs) {                                                                                                \
        case 4: pv_tile_f32(n, 4, p, lds, vp, dv, S, out, ldo, cols); break;                                           \
        case 3: pv_tile_f32(n, 3, p, lds, vp, dv, S, out, ldo, cols); break;                                           \
        case 2: pv_tile_f32(n, 2, p, lds, vp, dv, S, out, ldo, cols); break;                                           \
        default: pv_tile_f32(n, 1, p, lds, vp, dv, S, out, ldo, cols); break;                                          \
        }                                                                                                              \
        break;
static AVX512 void pv_f32(int rows, int vecs, const float *p, int64_t lds, const float *vp, int64_t dv, int64_t S,
                          float *out, int64_t ldo, int64_t cols) {
    switch (rows) { PV_ROW_CASES(PV_F32_CASE) }
}

static AVX512 void rows_f32(const float *q, int64_t ldq, int64_t R, const float *kp, int64_t S, int64_t d, float scale,
                            float *sc, float *out, int64_t ldo) {
    int64_t blocks = (S + 15) / 16, lds = blocks * 16, dv = round_up(d, 16);
    const float *vp = kp + blocks * d * 16;
    for (int64_t r = 0; r < R; r += QK_ROWS) {
        int rows = (int)(R - r < QK_ROWS ? R - r : QK_ROWS);
        for (int64_t b = 0; b < blocks; b += QK_VECS)
            qk_f32(rows, blocks - b >= 2 ? 2 : 1, q + r * ldq, ldq, kp + b * d * 16, d, sc + r * lds + b * 16, lds);
    }
    softmax_rows(sc, lds, R, S, scale);
    for (int64_t r = 0; r < R; r += PV_ROWS) {
        int rows = (int)(R - r < PV_ROWS ? R - r : PV_ROWS);
        for (int64_t c = 0; c < d; c += 16 * PV_VECS) {
            int64_t cols = d - c < 16 * PV_VECS ? d - c : 16 * PV_VECS;
            pv_f32(rows, (int)((cols + 15) / 16), sc + r * lds, lds, vp + c, dv, S, out + r * ldo + c, ldo, cols);
        }
    }
}

/* ---- bf16 ------------------------------------------------------------------------------- */

/* The feature pair (x[2i], x[2i+1]) as one 32-bit lane (low half first, as VDPBF16PS reads
 * it); the second half is 0 past the row's end. */
INLINE uint32_t bf16_pair(const uint16_t *x, int64_t i, int64_t n) {
    uint32_t pair;
    if (2 * i + 1 < n) memcpy(&pair, x + 2 * i, sizeof pair); /* little-endian: x[2i] in the low half */
    else pair = x[2 * i];
    return pair;
}

INLINE AVX512_BF16 void qk_tile_bf16(int rows, int vecs, const uint16_t *q, int64_t ldq, const uint16_t *kp, int64_t d,
                                     float *sc, int64_t lds) {
    int64_t pairs = (d + 1) / 2;
    __m512 acc[QK_ROWS][QK_VECS];
    UNROLL for (int r = 0; r < rows; r++)
        UNROLL for (int j = 0; j < vecs; j++) acc[r][j] = _mm512_setzero_ps();
    for (int64_t c = 0; c < pairs; c++) {
        __m512bh b[QK_VECS];
        UNROLL for (int j = 0; j < vecs; j++) b[j] = (__m512bh)_mm512_loadu_si512(kp + (j * pairs + c) * 32);
        UNROLL for (int r = 0; r < rows; r++) {
            __m512bh a = (__m512bh)_mm512_set1_epi32((int)bf16_pair(q + r * ldq, c, d));
            UNROLL for (int j = 0; j < vecs; j++) acc[r][j] = _mm512_dpbf16_ps(acc[r][j], a, b[j]);
        }
    }
    UNROLL for (int r = 0; r < rows; r++)
        UNROLL for (int j = 0; j < vecs; j++) _mm512_storeu_ps(sc + r * lds + j * 16, acc[r][j]);
}

INLINE AVX512_BF16 void pv_tile_bf16(int rows, int vecs, const uint16_t *p, int64_t ldp, const uint16_t *vp, int64_t dv,
                                     int64_t S, uint16_t *out, int64_t ldo, int64_t cols) {
    __m512 acc[PV_ROWS][PV_VECS];
    UNROLL for (int r = 0; r < rows; r++)
        UNROLL for (int j = 0; j < vecs; j++) acc[r][j] = _mm512_setzero_ps();
    for (int64_t s = 0; s < (S + 1) / 2; s++) {
        __m512bh b[PV_VECS];
        UNROLL for (int j = 0; j < vecs; j++) b[j] = (__m512bh)_mm512_loadu_si512(vp + (s * dv + j * 16) * 2);
        UNROLL for (int r = 0; r < rows; r++) {
            uint32_t pair;
            memcpy(&pair, p + r * ldp + 2 * s, sizeof pair); /* the row is padded with a 0 past S */
            __m512bh a = (__m512bh)_mm512_set1_epi32((int)pair);
            UNROLL for (int j = 0; j < vecs; j++) acc[r][j] = _mm512_dpbf16_ps(acc[r][j], a, b[j]);
        }
    }
    UNROLL for (int r = 0; r < rows; r++)
        UNROLL for (int j = 0; j < vecs; j++)
            _mm256_mask_storeu_epi16(out + r * ldo + j * 16, tail_mask(cols - j * 16), (__m256i)_mm512_cvtneps_pbh(acc[r][j]));
}

#define QK_BF16_CASE(n)                                                                                                \
    case n:                                                                                                            \
        if (vecs == 2) qk_tile_bf16(n, 2, q, ldq, kp, d, sc, lds);                                                     \
        else qk_tile_bf16(n, 1, q, ldq, kp, d, sc, lds);                                                               \
        break;
static AVX512_BF16 void qk_bf16(int rows, int vecs, const uint16_t *q, int64_t ldq, const uint16_t *kp, int64_t d, float *sc,
                                int64_t lds) {
    switch (rows) { ROW_CASES(QK_BF16_CASE) }
}

#define PV_BF16_CASE(n)                                                                                                \
    case n:                                                                                                            \
        switch (vecs) {                                                                                                \
        case 4: pv_tile_bf16(n, 4, p, ldp, vp, dv, S, out, ldo, cols); break;                                          \
        case 3: pv_tile_bf16(n, 3, p, ldp, vp, dv, S, out, ldo, cols); break;                                          \
        case 2: pv_tile_bf16(n, 2, p, ldp, vp, dv, S, out, ldo, cols); break;                                          \
        default: pv_tile_bf16(n, 1, p, ldp, vp, dv, S, out, ldo, cols); break;                                         \
        }                                                                                                              \
        break;
static AVX512_BF16 void pv_bf16(int rows, int vecs, const uint16_t *p, int64_t ldp, const uint16_t *vp, int64_t dv,
                                int64_t S, uint16_t *out, int64_t ldo, int64_t cols) {
    switch (rows) { PV_ROW_CASES(PV_BF16_CASE) }
}

/* Probabilities rounded to bf16 (nearest even), the row padded with zeros to its stride. */
static AVX512_BF16 void to_bf16_rows(const float *x, int64_t lds, int64_t rows, int64_t S, uint16_t *p) {
    for (int64_t i = 0; i < rows; i++)
        for (int64_t s = 0; s < lds; s += 16) {
            __m512 t = _mm512_maskz_loadu_ps(tail_mask(S - s), x + i * lds + s);
            _mm256_storeu_si256((__m256i *)(p + i * lds + s), (__m256i)_mm512_cvtneps_pbh(t));
        }
}

static AVX512_BF16 void rows_bf16(const uint16_t *q, int64_t ldq, int64_t R, const uint16_t *kp, int64_t S, int64_t d,
                                  float scale, float *sc, uint16_t *out, int64_t ldo) {
    int64_t blocks = (S + 15) / 16, lds = blocks * 16, pairs = (d + 1) / 2, dv = round_up(d, 16);
    const uint16_t *vp = kp + blocks * pairs * 32;
    uint16_t *p = (uint16_t *)(sc + R * lds);
    for (int64_t r = 0; r < R; r += QK_ROWS) {
        int rows = (int)(R - r < QK_ROWS ? R - r : QK_ROWS);
        for (int64_t b = 0; b < blocks; b += QK_VECS)
            qk_bf16(rows, blocks - b >= 2 ? 2 : 1, q + r * ldq, ldq, kp + b * pairs * 32, d, sc + r * lds + b * 16, lds);
    }
    softmax_rows(sc, lds, R, S, scale);
    to_bf16_rows(sc, lds, R, S, p);
    for (int64_t r = 0; r < R; r += PV_ROWS) {
        int rows = (int)(R - r < PV_ROWS ? R - r : PV_ROWS);
        for (int64_t c = 0; c < d; c += 16 * PV_VECS) {
            int64_t cols = d - c < 16 * PV_VECS ? d - c : 16 * PV_VECS;
            pv_bf16(rows, (int)((cols + 15) / 16), p + r * lds, lds, vp + c * 2, dv, S, out + r * ldo + c, ldo, cols);
        }
    }
}
#endif

void vk_attn_rows(vk_attn_dtype dt, const void *q, int64_t ldq, int64_t R, const void *packed, int64_t S, int64_t d,
                  float scale, void *scratch, void *out, int64_t ldo) {
#ifdef VK_ATTN_X86
    if (R <= 0 || S <= 0 || d <= 0) return;
    if (dt == VK_ATTN_F32) rows_f32(q, ldq, R, packed, S, d, scale, scratch, out, ldo);
    else rows_bf16(q, ldq, R, packed, S, d, scale, scratch, out, ldo);
#else
    (void)dt, (void)q, (void)ldq, (void)R, (void)packed, (void)S, (void)d, (void)scale, (void)scratch, (void)out, (void)ldo;
#endif
}
