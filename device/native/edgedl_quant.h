// Load-time quantization arithmetic, exact and without floating point.
//
// TFLite Micro computes multipliers in double precision (e.g. conv:
// double(in_scale) * double(filter_scale) / double(out_scale), then
// QuantizeMultiplier). Products of two float32 values are exact in double,
// so each such value is "one IEEE operation on exact operands": a rational
// num/den rounded to nearest-even. This file does that rounding with integer
// long division, so results are identical to the double code on every MCU,
// including those without a double FPU, and need no libgcc soft-float.
#ifndef EDGEDL_QUANT_H
#define EDGEDL_QUANT_H

#include <stdint.h>

// 64-bit shifts by a variable count (0..63), from 32-bit halves: GCC calls a libgcc
// helper (__ashldi3, __lshrdi3) for them on Xtensa, which MicroPython's native-module
// linker cannot provide (see `neuroedge build --arch xtensa`).
static inline uint64_t ne_shl64(uint64_t v, int n) {
    uint32_t hi = (uint32_t)(v >> 32), lo = (uint32_t)v;
    if (n >= 32) {
        return (uint64_t)(lo << (n - 32)) << 32;
    }
    if (n == 0) {
        return v;
    }
    return ((uint64_t)((hi << n) | (lo >> (32 - n))) << 32) | (uint32_t)(lo << n);
}

static inline uint64_t ne_shr64(uint64_t v, int n) {
    uint32_t hi = (uint32_t)(v >> 32), lo = (uint32_t)v;
    if (n >= 32) {
        return hi >> (n - 32);
    }
    if (n == 0) {
        return v;
    }
    return ((uint64_t)(hi >> n) << 32) | ((lo >> n) | (hi << (32 - n)));
}

// A positive number mantissa * 2^exponent (mantissa != 0).
typedef struct {
    uint64_t mantissa;
    int32_t exponent;
} ne_real_t;

// float32 bits -> exact real. Returns 0 unless finite and > 0.
int ne_real_from_f32(uint32_t bits, ne_real_t *out);
ne_real_t ne_real_mul(ne_real_t a, ne_real_t b);         // exact (operands < 2^32)
ne_real_t ne_real_shift(ne_real_t a, int32_t exponent);  // a * 2^exponent
// a / b rounded to nearest-even at `bits` significant bits (53: double, 24: float).
ne_real_t ne_real_div(ne_real_t a, ne_real_t b, int bits);
ne_real_t ne_real_round_bits(ne_real_t a, int bits);     // same rounding, no division
int ne_real_cmp(ne_real_t a, ne_real_t b);

// TFLite QuantizeMultiplier on a double value (given as a real already rounded
// to 53 bits). Returns 0 when the multiplier is out of range (shift > 30),
// which only inconsistent scales produce.
int ne_quantize_multiplier(ne_real_t value, int32_t *mult, int32_t *shift);
// std::round(value) for a float32-rounded value; saturates to +-2^30.
int32_t ne_real_round_int(ne_real_t value);

#endif // EDGEDL_QUANT_H
