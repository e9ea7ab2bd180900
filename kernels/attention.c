/* kernels/attention.c — fused single-head attention (see attention.h).
 *
 * Layouts (keys padded to a multiple of 16 with zeros, so every vector load is whole):
 *   float32  keys   [ceil(S/16)][d][16]          16 keys side by side for each feature
 *            values [S][ceil16(d)]               rows padded to whole vectors
 *   bf16     keys   [ceil(S/16)][ceil(d/2)][16][2]  feature pairs, as VDPBF16PS takes them
 *            values [ceil(S/2)][ceil16(d)][2]    key pairs
 * q k^T runs as tiles of up to 6 query rows x 64 keys (1 row: 128 keys), p v as 6 rows x 64
 * features: up to 24 accumulators of the 32 vector registers, each loaded vector used 6 times,
 * each broadcast 4 times (12 rows x 32 keys, with 2 uses per broadcast, ran 15-30 % slower). The scores' row maxima are taken as the tiles store them; the softmax is then one pass
 * for exp and sum and one for the normalisation (bf16: with the rounding to bf16). */
#include "kernels/attention.h"

#include "kernels/x86.h"

#include <math.h>
#include <string.h>

enum { QK_ROWS = 6, QK_MAXV = 8, PV_ROWS = 6, PV_VECS = 4 };

static int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

int vk_attn_supported(vk_attn_dtype dt) {
    return dt == VK_ATTN_F32 ? vk_x86_avx512_ready() : dt == VK_ATTN_BF16 ? vk_x86_bf16_ready() : 0;
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
    /* float32 scores (+ bf16 probabilities), then each row's max and 1 / sum */
    size_t row = (size_t)round_up(S, 16) * (dt == VK_ATTN_F32 ? 4 : 6) + 2 * sizeof(float);
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
    /* keys: whole feature pairs move as 32-bit words (packing is ~10 % of a vision head's time) */
    for (int64_t s = 0; s < S; s++) {
        uint32_t *dst = (uint32_t *)kp + (s / 16) * pairs * 16 + s % 16;
        const uint16_t *src = kk + s * ldk;
        for (int64_t c = 0; c < d / 2; c++) memcpy(dst + c * 16, src + 2 * c, 4);
        if (d % 2) kp[((s / 16) * pairs + d / 2) * 32 + (s % 16) * 2] = src[d - 1];
    }
    /* values: two keys' rows interleaved */
    for (int64_t s = 0; s + 1 < S; s += 2) {
        uint32_t *dst = (uint32_t *)vp + (s / 2) * dv;
        const uint16_t *a = vv + s * ldv, *b = a + ldv;
        for (int64_t c = 0; c < d; c++) dst[c] = (uint32_t)a[c] | (uint32_t)b[c] << 16;
    }
    if (S % 2)
        for (int64_t c = 0; c < d; c++) vp[((S / 2) * dv + c) * 2] = vv[(S - 1) * ldv + c];
}

#ifdef VK_X86
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

/* Scores of a tile, scaled, stored, and their row maxima over the valid keys folded into rowmax
 * (the softmax then needs no pass of its own for them). */
INLINE AVX512 void store_scores(int rows, int vecs, __m512 acc[][QK_MAXV], float scale, float *sc, int64_t lds, int64_t valid,
                                float *rowmax) {
    __m512 vscale = _mm512_set1_ps(scale);
    UNROLL for (int r = 0; r < rows; r++) {
        __m512 m = _mm512_set1_ps(-INFINITY);
        UNROLL for (int j = 0; j < vecs; j++) {
            __m512 t = _mm512_mul_ps(acc[r][j], vscale);
            _mm512_storeu_ps(sc + r * lds + j * 16, t);
            m = _mm512_mask_max_ps(m, vk_tail_mask(valid - j * 16), m, t);
        }
        float top = _mm512_reduce_max_ps(m);
        if (top > rowmax[r]) rowmax[r] = top;
    }
}

/* Row i of x [rows, S] (stride lds, scaled scores): x = exp(x - rowmax[i]); returns nothing but
 * leaves 1 / sum of the row in inv[i]. */
static AVX512 void exp_rows(float *x, int64_t lds, int64_t rows, int64_t S, const float *rowmax, float *inv) {
    for (int64_t i = 0; i < rows; i++) {
        float *row = x + i * lds;
        __m512 mx = _mm512_set1_ps(rowmax[i]), vsum = _mm512_setzero_ps();
        for (int64_t s = 0; s < S; s += 16) {
            __mmask16 m = vk_tail_mask(S - s);
            __m512 e = exp_nonpositive(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, row + s), mx));
            _mm512_mask_storeu_ps(row + s, m, e);
            vsum = _mm512_mask_add_ps(vsum, m, vsum, e);
        }
        inv[i] = 1.0f / _mm512_reduce_add_ps(vsum);
    }
}

/* x = x * inv[i] over the first S entries of each row: the float32 probabilities */
static AVX512 void normalise_rows(float *x, int64_t lds, int64_t rows, int64_t S, const float *inv) {
    for (int64_t i = 0; i < rows; i++) {
        float *row = x + i * lds;
        __m512 v = _mm512_set1_ps(inv[i]);
        for (int64_t s = 0; s < S; s += 16) {
            __mmask16 m = vk_tail_mask(S - s);
            _mm512_mask_storeu_ps(row + s, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, row + s), v));
        }
    }
}

/* ---- tiles ------------------------------------------------------------------------------
 * Every accumulator is a chain of dependent multiply-adds (4-6 cycles each), so a tile needs
 * 8 or more of them to keep both units busy: few query rows (decoding: 1-3) take more key
 * blocks per q k^T tile and split p v's sum over the keys in two halves (even and odd key pairs). */

/* q k^T: key blocks per tile for a tile of `rows` query rows */
static int qk_vecs(int rows) { return rows >= 2 ? 4 : QK_MAXV; }
/* p v: partial sums per accumulator */
#define PV_SPLIT(rows) ((rows) <= 3 ? 2 : 1)

/* ---- float32 ---------------------------------------------------------------------------- */

/* scores[rows, 16*vecs] = q[rows, d] . keys of blocks kp[0..vecs), scaled, maxima to rowmax */
INLINE AVX512 void qk_tile_f32(int rows, int vecs, const float *q, int64_t ldq, const float *kp, int64_t d, float scale,
                               float *sc, int64_t lds, int64_t valid, float *rowmax) {
    __m512 acc[QK_ROWS][QK_MAXV];
    UNROLL for (int r = 0; r < rows; r++)
        UNROLL for (int j = 0; j < vecs; j++) acc[r][j] = _mm512_setzero_ps();
    for (int64_t c = 0; c < d; c++) {
        __m512 b[QK_MAXV];
        UNROLL for (int j = 0; j < vecs; j++) b[j] = _mm512_loadu_ps(kp + (j * d + c) * 16);
        UNROLL for (int r = 0; r < rows; r++) {
            __m512 a = _mm512_set1_ps(q[r * ldq + c]);
            UNROLL for (int j = 0; j < vecs; j++) acc[r][j] = _mm512_fmadd_ps(a, b[j], acc[r][j]);
        }
    }
    store_scores(rows, vecs, acc, scale, sc, lds, valid, rowmax);
}

/* out[rows, cols] = p[rows, S] . v[S, c0 .. c0 + cols) (cols <= 64) */
INLINE AVX512 void pv_tile_f32(int rows, int vecs, int split, const float *p, int64_t lds, const float *vp, int64_t dv,
                               int64_t S, float *out, int64_t ldo, int64_t cols) {
    __m512 acc[2][PV_ROWS][PV_VECS];
    UNROLL for (int u = 0; u < split; u++)
        UNROLL for (int r = 0; r < rows; r++)
            UNROLL for (int j = 0; j < vecs; j++) acc[u][r][j] = _mm512_setzero_ps();
    for (int64_t s = 0; s < S; s += split)
        UNROLL for (int u = 0; u < split; u++) {
            if (s + u >= S) break;
            __m512 b[PV_VECS];
            UNROLL for (int j = 0; j < vecs; j++) b[j] = _mm512_loadu_ps(vp + (s + u) * dv + j * 16);
            UNROLL for (int r = 0; r < rows; r++) {
                __m512 a = _mm512_set1_ps(p[r * lds + s + u]);
                UNROLL for (int j = 0; j < vecs; j++) acc[u][r][j] = _mm512_fmadd_ps(a, b[j], acc[u][r][j]);
            }
        }
    UNROLL for (int r = 0; r < rows; r++)
        UNROLL for (int j = 0; j < vecs; j++) {
            __m512 t = split == 2 ? _mm512_add_ps(acc[0][r][j], acc[1][r][j]) : acc[0][r][j];
            _mm512_mask_storeu_ps(out + r * ldo + j * 16, vk_tail_mask(cols - j * 16), t);
        }
}

/* The tiles with constant row and vector counts (the compiler keeps their accumulators in
 * registers only when both are known): rows 1-6, key blocks as qk_vecs allows. */
#define QK_ARGS q, ldq, kp, d, scale, sc, lds, valid, rowmax
#define QK_ONE_ROW_CASE(TILE)                                                                                          \
    case 1:                                                                                                            \
        if (vecs == 8) TILE(1, 8, QK_ARGS);                                                                            \
        else if (vecs == 4) TILE(1, 4, QK_ARGS);                                                                       \
        else if (vecs == 2) TILE(1, 2, QK_ARGS);                                                                       \
        else TILE(1, 1, QK_ARGS);                                                                                      \
        break;
#define QK_CASE(TILE, n)                                                                                               \
    case n:                                                                                                            \
        if (vecs == 4) TILE(n, 4, QK_ARGS);                                                                            \
        else if (vecs == 2) TILE(n, 2, QK_ARGS);                                                                       \
        else TILE(n, 1, QK_ARGS);                                                                                      \
        break;
#define QK_CASES(TILE)                                                                                                 \
    QK_ONE_ROW_CASE(TILE) QK_CASE(TILE, 2) QK_CASE(TILE, 3) QK_CASE(TILE, 4) QK_CASE(TILE, 5) QK_CASE(TILE, 6)
static AVX512 void qk_f32(int rows, int vecs, const float *q, int64_t ldq, const float *kp, int64_t d, float scale,
                          float *sc, int64_t lds, int64_t valid, float *rowmax) {
    switch (rows) { QK_CASES(qk_tile_f32) }
}

#define PV_CASE(TILE, n, ...)                                                                                          \
    case n:                                                                                                            \
        switch (vecs) {                                                                                                \
        case 4: TILE(n, 4, PV_SPLIT(n), __VA_ARGS__); break;                                                           \
        case 3: TILE(n, 3, PV_SPLIT(n), __VA_ARGS__); break;                                                           \
        case 2: TILE(n, 2, PV_SPLIT(n), __VA_ARGS__); break;                                                           \
        default: TILE(n, 1, PV_SPLIT(n), __VA_ARGS__); break;                                                          \
        }                                                                                                              \
        break;
#define PV_CASES(TILE, ...)                                                                                            \
    PV_CASE(TILE, 1, __VA_ARGS__) PV_CASE(TILE, 2, __VA_ARGS__) PV_CASE(TILE, 3, __VA_ARGS__)                          \
    PV_CASE(TILE, 4, __VA_ARGS__) PV_CASE(TILE, 5, __VA_ARGS__) PV_CASE(TILE, 6, __VA_ARGS__)
static AVX512 void pv_f32(int rows, int vecs, const float *p, int64_t lds, const float *vp, int64_t dv, int64_t S,
                          float *out, int64_t ldo, int64_t cols) {
    switch (rows) { PV_CASES(pv_tile_f32, p, lds, vp, dv, S, out, ldo, cols) }
}

/* q k^T for R rows over `blocks` key blocks of `block_elems` elements each, tile by tile */
#define QK_ROWS_LOOP(QK, kp, block_elems)                                                                              \
    for (int64_t r = 0; r < R; r += QK_ROWS) {                                                                         \
        int rows = (int)(R - r < QK_ROWS ? R - r : QK_ROWS), want = qk_vecs(rows);                                     \
        for (int64_t b = 0; b < blocks;) {                                                                             \
            int vecs = want;                                                                                           \
            while (vecs > blocks - b) vecs /= 2;                                                                       \
            QK(rows, vecs, q + r * ldq, ldq, kp + b * (block_elems), d, scale, sc + r * lds + b * 16, lds, S - b * 16, \
               rowmax + r);                                                                                            \
            b += vecs;                                                                                                 \
        }                                                                                                              \
    }

static AVX512 void rows_f32(const float *q, int64_t ldq, int64_t R, const float *kp, int64_t S, int64_t d, float scale,
                            float *sc, float *out, int64_t ldo) {
    int64_t blocks = (S + 15) / 16, lds = blocks * 16, dv = round_up(d, 16);
    const float *vp = kp + blocks * d * 16;
    float *rowmax = sc + R * lds, *inv = rowmax + R;
    for (int64_t r = 0; r < R; r++) rowmax[r] = -INFINITY;
    QK_ROWS_LOOP(qk_f32, kp, d * 16)
    exp_rows(sc, lds, R, S, rowmax, inv);
    normalise_rows(sc, lds, R, S, inv);
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

/* The same pair for a whole pair, broadcast to every lane straight from memory (as a float's
 * bits: vbroadcastss reads memory; a broadcast from a general register costs a transfer per
 * row and step). */
INLINE AVX512 __m512bh bf16_pair_bcast(const uint16_t *x) {
    float bits;
    memcpy(&bits, x, sizeof bits);
    return (__m512bh)_mm512_castps_si512(_mm512_set1_ps(bits));
}

INLINE AVX512_BF16 void qk_tile_bf16(int rows, int vecs, const uint16_t *q, int64_t ldq, const uint16_t *kp, int64_t d,
                                     float scale, float *sc, int64_t lds, int64_t valid, float *rowmax) {
    int64_t pairs = (d + 1) / 2;
    __m512 acc[QK_ROWS][QK_MAXV];
    UNROLL for (int r = 0; r < rows; r++)
        UNROLL for (int j = 0; j < vecs; j++) acc[r][j] = _mm512_setzero_ps();
    for (int64_t c = 0; c < d / 2; c++) {
        __m512bh b[QK_MAXV];
        UNROLL for (int j = 0; j < vecs; j++) b[j] = (__m512bh)_mm512_loadu_si512(kp + (j * pairs + c) * 32);
        UNROLL for (int r = 0; r < rows; r++) {
            __m512bh a = bf16_pair_bcast(q + r * ldq + 2 * c);
            UNROLL for (int j = 0; j < vecs; j++) acc[r][j] = _mm512_dpbf16_ps(acc[r][j], a, b[j]);
        }
    }
    for (int64_t c = d / 2; c < pairs; c++) { /* odd d: the last feature, 0 beside it */
        __m512bh b[QK_MAXV];
        UNROLL for (int j = 0; j < vecs; j++) b[j] = (__m512bh)_mm512_loadu_si512(kp + (j * pairs + c) * 32);
        UNROLL for (int r = 0; r < rows; r++) {
            __m512bh a = (__m512bh)_mm512_set1_epi32((int)bf16_pair(q + r * ldq, c, d));
            UNROLL for (int j = 0; j < vecs; j++) acc[r][j] = _mm512_dpbf16_ps(acc[r][j], a, b[j]);
        }
    }
    store_scores(rows, vecs, acc, scale, sc, lds, valid, rowmax);
}

INLINE AVX512_BF16 void pv_tile_bf16(int rows, int vecs, int split, const uint16_t *p, int64_t ldp, const uint16_t *vp,
                                     int64_t dv, int64_t S, uint16_t *out, int64_t ldo, int64_t cols) {
    int64_t pairs = (S + 1) / 2; /* the row of p is padded with a 0 past S, v with a 0 row */
    __m512 acc[2][PV_ROWS][PV_VECS];
    UNROLL for (int u = 0; u < split; u++)
        UNROLL for (int r = 0; r < rows; r++)
            UNROLL for (int j = 0; j < vecs; j++) acc[u][r][j] = _mm512_setzero_ps();
    for (int64_t s = 0; s < pairs; s += split)
        UNROLL for (int u = 0; u < split; u++) {
            if (s + u >= pairs) break;
            __m512bh b[PV_VECS];
            UNROLL for (int j = 0; j < vecs; j++) b[j] = (__m512bh)_mm512_loadu_si512(vp + ((s + u) * dv + j * 16) * 2);
            UNROLL for (int r = 0; r < rows; r++) {
                __m512bh a = bf16_pair_bcast(p + r * ldp + 2 * (s + u));
                UNROLL for (int j = 0; j < vecs; j++) acc[u][r][j] = _mm512_dpbf16_ps(acc[u][r][j], a, b[j]);
            }
        }
    UNROLL for (int r = 0; r < rows; r++)
        UNROLL for (int j = 0; j < vecs; j++) {
            __m512 t = split == 2 ? _mm512_add_ps(acc[0][r][j], acc[1][r][j]) : acc[0][r][j];
            _mm256_mask_storeu_epi16(out + r * ldo + j * 16, vk_tail_mask(cols - j * 16), (__m256i)_mm512_cvtneps_pbh(t));
        }
}

static AVX512_BF16 void qk_bf16(int rows, int vecs, const uint16_t *q, int64_t ldq, const uint16_t *kp, int64_t d,
                                float scale, float *sc, int64_t lds, int64_t valid, float *rowmax) {
    switch (rows) { QK_CASES(qk_tile_bf16) }
}

static AVX512_BF16 void pv_bf16(int rows, int vecs, const uint16_t *p, int64_t ldp, const uint16_t *vp, int64_t dv,
                                int64_t S, uint16_t *out, int64_t ldo, int64_t cols) {
    switch (rows) { PV_CASES(pv_tile_bf16, p, ldp, vp, dv, S, out, ldo, cols) }
}

/* Probabilities x * inv[i] rounded to bf16 (nearest even), each row padded with zeros to its stride. */
static AVX512_BF16 void to_bf16_rows(const float *x, int64_t lds, int64_t rows, int64_t S, const float *inv, uint16_t *p) {
    for (int64_t i = 0; i < rows; i++) {
        __m512 v = _mm512_set1_ps(inv[i]);
        for (int64_t s = 0; s < lds; s += 16) {
            __m512 t = _mm512_mul_ps(_mm512_maskz_loadu_ps(vk_tail_mask(S - s), x + i * lds + s), v);
            _mm256_storeu_si256((__m256i *)(p + i * lds + s), (__m256i)_mm512_cvtneps_pbh(t));
        }
    }
}

static AVX512_BF16 void rows_bf16(const uint16_t *q, int64_t ldq, int64_t R, const uint16_t *kp, int64_t S, int64_t d,
                                  float scale, float *sc, uint16_t *out, int64_t ldo) {
    int64_t blocks = (S + 15) / 16, lds = blocks * 16, pairs = (d + 1) / 2, dv = round_up(d, 16);
    const uint16_t *vp = kp + blocks * pairs * 32;
    float *rowmax = sc + R * lds, *inv = rowmax + R;
    uint16_t *p = (uint16_t *)(inv + R);
    for (int64_t r = 0; r < R; r++) rowmax[r] = -INFINITY;
    QK_ROWS_LOOP(qk_bf16, kp, pairs * 32)
    exp_rows(sc, lds, R, S, rowmax, inv);
    to_bf16_rows(sc, lds, R, S, inv, p);
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
#ifdef VK_X86
    if (R <= 0 || S <= 0 || d <= 0) return;
    if (dt == VK_ATTN_F32) rows_f32(q, ldq, R, packed, S, d, scale, scratch, out, ldo);
    else rows_bf16(q, ldq, R, packed, S, d, scale, scratch, out, ldo);
#else
    (void)dt, (void)q, (void)ldq, (void)R, (void)packed, (void)S, (void)d, (void)scale, (void)scratch, (void)out, (void)ldo;
#endif
}
