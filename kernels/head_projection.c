/* kernels/head_projection.c — see head_projection.h.
 *
 * expand: tiles of 6 rows x 64 features; per term a row of w (64 bf16 widened to float32,
 * exact) is multiplied by 6 broadcast q values: 24 float32 accumulators. (VDPBF16PS would want
 * w's pairs interleaved along d: a copy of every weight at every call.)
 * reduce: tiles of 4 rows x 4 outputs, VDPBF16PS along E, where c's and w's pairs are already
 * adjacent: 16 accumulators, each reduced across its lanes at the end. Rows (and outputs) past
 * the end of a tile repeat the last one; their results are not stored. */
#include "kernels/head_projection.h"

#include "kernels/x86.h"

#include <string.h>

int vk_heads_supported(void) { return vk_x86_bf16_ready(); }

#ifdef VK_X86
#define INLINE static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 16") /* keep the accumulators in registers (see attention.c) */

enum { EX_ROWS = 6, EX_VECS = 4, RD_ROWS = 4, RD_OUTS = 4 };

/* bf16 -> float32, 16 at a time and one (exact: bf16 is the top half of a float32) */
INLINE AVX512_BF16 __m512 widen(__m256i x) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(x), 16)); }
static inline float widen_one(uint16_t x) {
    uint32_t bits = (uint32_t)x << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* out[rows, 64] (cols valid) for one tile; q32 holds the tile's q rows as float32 [EX_ROWS][d] */
INLINE AVX512_BF16 void expand_tile(const float *q32, int64_t d, const uint16_t *w, int64_t ldw, int64_t cols,
                                    uint16_t *out, int64_t ldo, int rows, const uint16_t *ahead) {
    __m512 acc[EX_ROWS][EX_VECS];
    __mmask16 m[EX_VECS];
    UNROLL for (int j = 0; j < EX_VECS; j++) m[j] = vk_tail_mask(cols - 16 * j);
    UNROLL for (int r = 0; r < EX_ROWS; r++)
        UNROLL for (int j = 0; j < EX_VECS; j++) acc[r][j] = _mm512_setzero_ps();
    for (int64_t i = 0; i < d; i++) {
        if (ahead) { /* the next block's 128 bytes of this row of w */
            _mm_prefetch((const char *)(ahead + i * ldw), _MM_HINT_T0);
            _mm_prefetch((const char *)(ahead + i * ldw + 32), _MM_HINT_T0);
        }
        __m512 b[EX_VECS];
        UNROLL for (int j = 0; j < EX_VECS; j++) b[j] = widen(_mm256_maskz_loadu_epi16(m[j], w + i * ldw + 16 * j));
        UNROLL for (int r = 0; r < EX_ROWS; r++) {
            __m512 a = _mm512_set1_ps(q32[r * d + i]);
            UNROLL for (int j = 0; j < EX_VECS; j++) acc[r][j] = _mm512_fmadd_ps(a, b[j], acc[r][j]);
        }
    }
    UNROLL for (int r = 0; r < EX_ROWS; r++)
        if (r < rows)
            UNROLL for (int j = 0; j < EX_VECS; j++)
                _mm256_mask_storeu_epi16(out + r * ldo + 16 * j, m[j], (__m256i)_mm512_cvtneps_pbh(acc[r][j]));
}

/* Ask for rows x E bf16 of w now: the first blocks of a kernel's weight. Decoding reads each
 * weight once per step, from DRAM, and neither kernel's order of reading is one the hardware
 * prefetchers follow (expand: 128 bytes of each row, rows 1.5 KB apart; reduce: 4 rows of 24
 * lines at a time): the kernels ask for the blocks ahead of the one they compute (without that
 * they wait on memory latency, ~10x slower; all at once up front, ~1.4x). */
static AVX512_BF16 void prefetch_rows(const uint16_t *w, int64_t rows, int64_t ldw, int64_t E) {
    for (int64_t i = 0; i < rows; i++)
        for (int64_t e = 0; e < E; e += 32) _mm_prefetch((const char *)(w + i * ldw + e), _MM_HINT_T1);
}

static AVX512_BF16 void expand(const uint16_t *q, int64_t ldq, int64_t R, int64_t d, const uint16_t *w, int64_t ldw,
                               int64_t E, uint16_t *out, int64_t ldo) {
    enum { CHUNK = 4 * EX_ROWS }; /* rows whose q is widened at once; w's blocks are read once per chunk */
    float q32[CHUNK * VK_HEAD_MAX_D];
    const int64_t block = 16 * EX_VECS;
    prefetch_rows(w, d, ldw, E < block ? E : block);
    for (int64_t c0 = 0; c0 < R; c0 += CHUNK) {
        int64_t n = R - c0 < CHUNK ? R - c0 : CHUNK, tiles = (n + EX_ROWS - 1) / EX_ROWS;
        for (int64_t r = 0; r < tiles * EX_ROWS; r++) { /* rows past the end repeat the last one */
            const uint16_t *src = q + (c0 + (r < n ? r : n - 1)) * ldq;
            for (int64_t i = 0; i < d; i++) q32[r * d + i] = widen_one(src[i]);
        }
        for (int64_t e0 = 0; e0 < E; e0 += block) {
            const uint16_t *ahead = c0 == 0 && e0 + block < E ? w + e0 + block : NULL;
            for (int64_t t = 0; t < tiles; t++) {
                int rows = n - t * EX_ROWS < EX_ROWS ? (int)(n - t * EX_ROWS) : EX_ROWS;
                expand_tile(q32 + t * EX_ROWS * d, d, w + e0, ldw, E - e0, out + (c0 + t * EX_ROWS) * ldo + e0, ldo, rows,
                            t == 0 ? ahead : NULL);
            }
        }
    }
}

/* out[rows, outs] of one tile: c rows cr[], w rows wr[] */
INLINE AVX512_BF16 void reduce_tile(const uint16_t *const *cr, const uint16_t *const *wr, int64_t E, const uint16_t *bias,
                                    uint16_t *out, int64_t ldo, int rows, int outs, const uint16_t *ahead, int64_t ldw) {
    __m512 acc[RD_ROWS][RD_OUTS];
    UNROLL for (int r = 0; r < RD_ROWS; r++)
        UNROLL for (int j = 0; j < RD_OUTS; j++) acc[r][j] = _mm512_setzero_ps();
    for (int64_t e = 0; e < E; e += 32) {
        __mmask32 m = E - e >= 32 ? (__mmask32)0xFFFFFFFFu : (__mmask32)((1u << (E - e)) - 1);
        if (ahead)
            UNROLL for (int j = 0; j < RD_OUTS; j++) _mm_prefetch((const char *)(ahead + j * ldw + e), _MM_HINT_T0);
        __m512bh b[RD_OUTS];
        UNROLL for (int j = 0; j < RD_OUTS; j++) b[j] = (__m512bh)_mm512_maskz_loadu_epi16(m, wr[j] + e);
        UNROLL for (int r = 0; r < RD_ROWS; r++) {
            __m512bh a = (__m512bh)_mm512_maskz_loadu_epi16(m, cr[r] + e);
            UNROLL for (int j = 0; j < RD_OUTS; j++) acc[r][j] = _mm512_dpbf16_ps(acc[r][j], a, b[j]);
        }
    }
    UNROLL for (int r = 0; r < RD_ROWS; r++)
        UNROLL for (int j = 0; j < RD_OUTS; j++) {
            if (r >= rows || j >= outs) continue;
            float v = _mm512_reduce_add_ps(acc[r][j]);
            if (bias) v += widen_one(bias[j]);
            out[r * ldo + j] = (uint16_t)_mm_extract_epi16((__m128i)_mm_cvtneps_pbh(_mm_set_ss(v)), 0);
        }
}

static AVX512_BF16 void reduce(const uint16_t *c, int64_t ldc, int64_t R, int64_t E, const uint16_t *w, int64_t ldw,
                               int64_t d, const uint16_t *bias, uint16_t *out, int64_t ldo) {
    prefetch_rows(w, d < 2 * RD_OUTS ? d : 2 * RD_OUTS, ldw, E);
    for (int64_t j0 = 0; j0 < d; j0 += RD_OUTS) {
        int outs = d - j0 < RD_OUTS ? (int)(d - j0) : RD_OUTS;
        const uint16_t *wr[RD_OUTS];
        for (int j = 0; j < RD_OUTS; j++) wr[j] = w + (j0 + (j < outs ? j : outs - 1)) * ldw;
        /* w's rows two tiles ahead, asked for while this tile runs */
        const uint16_t *ahead = j0 + 3 * RD_OUTS <= d ? w + (j0 + 2 * RD_OUTS) * ldw : NULL;
        for (int64_t r0 = 0; r0 < R; r0 += RD_ROWS) {
            int rows = R - r0 < RD_ROWS ? (int)(R - r0) : RD_ROWS;
            const uint16_t *cr[RD_ROWS];
            for (int r = 0; r < RD_ROWS; r++) cr[r] = c + (r0 + (r < rows ? r : rows - 1)) * ldc;
            reduce_tile(cr, wr, E, bias ? bias + j0 : NULL, out + r0 * ldo + j0, ldo, rows, outs, r0 ? NULL : ahead, ldw);
        }
    }
}
#endif

void vk_head_expand(const uint16_t *q, int64_t ldq, int64_t R, int64_t d, const uint16_t *w, int64_t ldw, int64_t E,
                    uint16_t *out, int64_t ldo) {
#ifdef VK_X86
    if (R > 0 && d > 0 && d <= VK_HEAD_MAX_D) expand(q, ldq, R, d, w, ldw, E, out, ldo);
#else
    (void)q, (void)ldq, (void)R, (void)d, (void)w, (void)ldw, (void)E, (void)out, (void)ldo;
#endif
}

void vk_head_reduce(const uint16_t *c, int64_t ldc, int64_t R, int64_t E, const uint16_t *w, int64_t ldw, int64_t d,
                    const uint16_t *bias, uint16_t *out, int64_t ldo) {
#ifdef VK_X86
    if (R > 0 && d > 0) reduce(c, ldc, R, E, w, ldw, d, bias, out, ldo);
#else
    (void)c, (void)ldc, (void)R, (void)E, (void)w, (void)ldw, (void)d, (void)bias, (void)out, (void)ldo;
#endif
}
