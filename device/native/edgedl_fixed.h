// Fixed-point primitives of TFLite Micro's int8 kernels (gemmlowp semantics,
// double-rounding requantization), for the hot loops. Signed overflow is
// avoided by doing wrapping arithmetic in uint32 where gemmlowp wraps.
#ifndef EDGEDL_FIXED_H
#define EDGEDL_FIXED_H

#include <stdint.h>

// SaturatingRoundingDoublingHighMul
static inline int32_t ne_srdhm(int32_t a, int32_t b) {
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    // gemmlowp: (ab + nudge) / 2^31 truncated toward zero, nudge 2^30 or 1 - 2^30 by the sign of ab.
    // For ab < 0 that truncation is floor((ab + 1 - 2^30 + 2^31 - 1) / 2^31) = floor((ab + 2^30) / 2^31),
    // the same expression as for ab >= 0: one add and an arithmetic shift, no branch.
    return (int32_t)(((int64_t)a * b + (1 << 30)) >> 31);
}

// RoundingDivideByPOT: rounds half away from zero.
static inline int32_t ne_rdbpot(int32_t x, int exponent) {
    int32_t mask = (int32_t)((1u << exponent) - 1u);
    int32_t remainder = x & mask;
    int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

// MultiplyByQuantizedMultiplier (double rounding, TFLM's default build).
static inline int32_t ne_mbqm(int32_t x, int32_t mult, int32_t shift) {
    int left = shift > 0 ? shift : 0;
    int right = shift > 0 ? 0 : -shift;
    return ne_rdbpot(ne_srdhm((int32_t)((uint32_t)x << left), mult), right);
}

// Saturating left shift of a raw fixed-point value (gemmlowp Rescale up).
static inline int32_t ne_sat_shl(int32_t x, int exponent) {
    int32_t threshold = (int32_t)((1u << (31 - exponent)) - 1u);
    if (x > threshold) {
        return INT32_MAX;
    }
    if (x < -threshold) {
        return INT32_MIN;
    }
    return (int32_t)((uint32_t)x << exponent);
}

static inline int32_t ne_wrap_add(int32_t a, int32_t b) {
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

static inline int32_t ne_wrap_sub(int32_t a, int32_t b) {
    return (int32_t)((uint32_t)a - (uint32_t)b);
}

static inline int32_t ne_clamp(int32_t v, int32_t lo, int32_t hi) {
    return v < lo ? lo : (v > hi ? hi : v);
}

// gemmlowp's fixed-point functions (edgedl_ops_misc.c), shared by SOFTMAX, LOGISTIC and TANH.
// exp(a) for a <= 0 given with integer_bits integer bits (Q<integer_bits>.<31 - integer_bits>), in Q0.31.
int32_t ne_exp_on_negative_values(int32_t a, int integer_bits);
int32_t ne_one_over_one_plus_x(int32_t a);            // 1 / (1 + a), a in [0, 1), Q0.31
int32_t ne_one_minus_x_over_one_plus_x(int32_t a);    // (1 - a) / (1 + a), a in [0, 1), Q0.31

#endif // EDGEDL_FIXED_H
