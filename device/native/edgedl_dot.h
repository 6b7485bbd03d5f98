// int8 dot products for the host emulator (x64): SSE2's PMADDWD multiplies eight int16 pairs and
// adds neighbours into four int32, which GCC does not find for int8 inputs on its own. Integer sums
// in another order: the same results, bit for bit. Other builds have NE_DOT4 undefined and the
// portable ne_dot_i8; ne_sum_i8 is for every build.
#ifndef EDGEDL_DOT_H
#define EDGEDL_DOT_H

#include <stdint.h>

#if defined(__SSE2__) && !defined(NE_PORTABLE)
#include <emmintrin.h>

// Sign-extend bytes to int16: each byte into the high half of a lane, then shift back down.
static inline __m128i widen_lo(__m128i v) {
    return _mm_srai_epi16(_mm_unpacklo_epi8(v, v), 8);
}

static inline __m128i widen_hi(__m128i v) {
    return _mm_srai_epi16(_mm_unpackhi_epi8(v, v), 8);
}

static inline int32_t horizontal_sum(__m128i v) {
    v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0x4e));
    v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0xb1));
    return _mm_cvtsi128_si32(v);
}

static inline __m128i madd_i8(__m128i a, __m128i b) {
    return _mm_add_epi32(_mm_madd_epi16(widen_lo(a), widen_lo(b)), _mm_madd_epi16(widen_hi(a), widen_hi(b)));
}

static inline int32_t ne_dot_i8(const int8_t *a, const int8_t *b, int32_t n) {
    __m128i sum = _mm_setzero_si128();
    int32_t i = 0;
    for (; i + 16 <= n; i += 16) {
        sum = _mm_add_epi32(sum, madd_i8(_mm_loadu_si128((const __m128i *)(a + i)),
            _mm_loadu_si128((const __m128i *)(b + i))));
    }
    if (i + 8 <= n) {  // eight more: the low halves only
        sum = _mm_add_epi32(sum, _mm_madd_epi16(widen_lo(_mm_loadl_epi64((const __m128i *)(a + i))),
            widen_lo(_mm_loadl_epi64((const __m128i *)(b + i)))));
        i += 8;
    }
    int32_t acc = horizontal_sum(sum);
    for (; i < n; i++) {
        acc += (int32_t)a[i] * (int32_t)b[i];
    }
    return acc;
}

// Four filters (w, w + stride, ...) against one input vector x, which is widened once for all four.
static inline void ne_dot4_i8(const int8_t *w, int32_t stride, const int8_t *x, int32_t n, int32_t *acc) {
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, i = 0;
    if (n >= 8) {  // shorter ones skip the vectors and their horizontal sums
        __m128i s0 = _mm_setzero_si128(), s1 = s0, s2 = s0, s3 = s0;
        for (; i + 16 <= n; i += 16) {
            const __m128i vx = _mm_loadu_si128((const __m128i *)(x + i));
            const __m128i x_lo = widen_lo(vx), x_hi = widen_hi(vx);
            __m128i vw = _mm_loadu_si128((const __m128i *)(w + i));
            s0 = _mm_add_epi32(s0, _mm_add_epi32(_mm_madd_epi16(widen_lo(vw), x_lo), _mm_madd_epi16(widen_hi(vw), x_hi)));
            vw = _mm_loadu_si128((const __m128i *)(w + stride + i));
            s1 = _mm_add_epi32(s1, _mm_add_epi32(_mm_madd_epi16(widen_lo(vw), x_lo), _mm_madd_epi16(widen_hi(vw), x_hi)));
            vw = _mm_loadu_si128((const __m128i *)(w + 2 * stride + i));
            s2 = _mm_add_epi32(s2, _mm_add_epi32(_mm_madd_epi16(widen_lo(vw), x_lo), _mm_madd_epi16(widen_hi(vw), x_hi)));
            vw = _mm_loadu_si128((const __m128i *)(w + 3 * stride + i));
            s3 = _mm_add_epi32(s3, _mm_add_epi32(_mm_madd_epi16(widen_lo(vw), x_lo), _mm_madd_epi16(widen_hi(vw), x_hi)));
        }
        if (i + 8 <= n) {  // eight more: the low halves only
            const __m128i x_lo = widen_lo(_mm_loadl_epi64((const __m128i *)(x + i)));
            s0 = _mm_add_epi32(s0, _mm_madd_epi16(widen_lo(_mm_loadl_epi64((const __m128i *)(w + i))), x_lo));
            s1 = _mm_add_epi32(s1, _mm_madd_epi16(widen_lo(_mm_loadl_epi64((const __m128i *)(w + stride + i))), x_lo));
            s2 = _mm_add_epi32(s2, _mm_madd_epi16(widen_lo(_mm_loadl_epi64((const __m128i *)(w + 2 * stride + i))), x_lo));
            s3 = _mm_add_epi32(s3, _mm_madd_epi16(widen_lo(_mm_loadl_epi64((const __m128i *)(w + 3 * stride + i))), x_lo));
            i += 8;
        }
        a0 = horizontal_sum(s0), a1 = horizontal_sum(s1), a2 = horizontal_sum(s2), a3 = horizontal_sum(s3);
    }
    for (; i < n; i++) {
        const int32_t xv = x[i];
        a0 += w[i] * xv;
        a1 += w[stride + i] * xv;
        a2 += w[2 * stride + i] * xv;
        a3 += w[3 * stride + i] * xv;
    }
    acc[0] += a0;
    acc[1] += a1;
    acc[2] += a2;
    acc[3] += a3;
}
#define NE_DOT4 1
#define NE_PATCH_MAX 2048  // bytes of a gathered convolution patch (or matmul column block), on the stack
#else
// The portable dot (MCU builds; Cortex-M with DSP has its own in edgedl_ops_conv.c).
static inline int32_t ne_dot_i8(const int8_t *a, const int8_t *b, int32_t n) {
    int32_t acc = 0;
    for (int32_t i = 0; i < n; i++) {
        acc += (int32_t)a[i] * (int32_t)b[i];
    }
    return acc;
}
#endif

static inline int32_t ne_sum_i8(const int8_t *a, int32_t n) {
    int32_t acc = 0;
    for (int32_t i = 0; i < n; i++) {
        acc += a[i];
    }
    return acc;
}

#endif // EDGEDL_DOT_H
