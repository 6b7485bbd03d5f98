// Exact load-time quantization arithmetic: see edgedl_quant.h.
#include "edgedl_quant.h"

int ne_real_from_f32(uint32_t bits, ne_real_t *out) {
    uint32_t exp = (bits >> 23) & 0xff;
    uint32_t frac = bits & 0x7fffff;
    if ((bits >> 31) || exp == 0xff || (exp == 0 && frac == 0)) {
        return 0;
    }
    if (exp == 0) {
        out->mantissa = frac;  // subnormal
        out->exponent = -149;
    } else {
        out->mantissa = frac | 0x800000u;
        out->exponent = (int32_t)exp - 150;
    }
    return 1;
}

ne_real_t ne_real_mul(ne_real_t a, ne_real_t b) {
    ne_real_t r = {(uint64_t)(uint32_t)a.mantissa * (uint32_t)b.mantissa, a.exponent + b.exponent};
    return r;
}

ne_real_t ne_real_shift(ne_real_t a, int32_t exponent) {
    a.exponent += exponent;
    return a;
}

// Top bit of the mantissa at position 62.
static ne_real_t normalize62(ne_real_t a) {
    while (a.mantissa < ((uint64_t)1 << 62)) {
        a.mantissa <<= 1;
        a.exponent--;
    }
    while (a.mantissa >= ((uint64_t)1 << 63)) {
        a.mantissa >>= 1;  // only reached by operands >= 2^63, which callers never pass
        a.exponent++;
    }
    return a;
}

static int bit_length(uint64_t v) {
    int n = 0;
    while (v) {
        v >>= 1;
        n++;
    }
    return n;
}

// Drops `drop` low bits of q, rounding to nearest-even (sticky: bits already lost).
static ne_real_t round_drop(uint64_t q, int32_t exponent, int drop, int sticky, int bits) {
    if (drop > 0) {
        uint64_t dropped = q & (ne_shl64(1, drop) - 1);
        uint64_t half = ne_shl64(1, drop - 1);
        q = ne_shr64(q, drop);
        exponent += drop;
        if (dropped > half || (dropped == half && (sticky || (q & 1)))) {
            q++;
        }
        if (ne_shr64(q, bits)) {  // carried into a new top bit
            q >>= 1;
            exponent++;
        }
    }
    ne_real_t r = {q, exponent};
    return r;
}

ne_real_t ne_real_div(ne_real_t a, ne_real_t b, int bits) {
    ne_real_t n = normalize62(a), d = normalize62(b);
    if (n.mantissa < d.mantissa) {
        n.mantissa <<= 1;  // < 2^64: n < d < 2^63
        n.exponent--;
    }
    // Long division: bits + 2 quotient bits of n/d in [1, 2), then a sticky bit.
    uint64_t rem = n.mantissa, q = 0;
    for (int i = 0; i < bits + 2; i++) {
        q <<= 1;
        if (rem >= d.mantissa) {
            rem -= d.mantissa;
            q |= 1;
        }
        rem <<= 1;
    }
    return round_drop(q, n.exponent - d.exponent - (bits + 1), 2, rem != 0, bits);
}

ne_real_t ne_real_round_bits(ne_real_t a, int bits) {
    int drop = bit_length(a.mantissa) - bits;
    return round_drop(a.mantissa, a.exponent, drop, 0, bits);
}

int ne_real_cmp(ne_real_t a, ne_real_t b) {
    a = normalize62(a);
    b = normalize62(b);
    if (a.exponent != b.exponent) {
        return a.exponent < b.exponent ? -1 : 1;
    }
    return a.mantissa < b.mantissa ? -1 : (a.mantissa > b.mantissa ? 1 : 0);
}

int ne_quantize_multiplier(ne_real_t value, int32_t *mult, int32_t *shift) {
    // frexp: value = q * 2^shift with q = m / 2^53 in [0.5, 1).
    value = ne_real_round_bits(value, 53);
    uint64_t m = value.mantissa;
    int32_t e = value.exponent;
    while (m < ((uint64_t)1 << 52)) {
        m <<= 1;
        e--;
    }
    int32_t s = e + 53;
    // q_fixed = round(q * 2^31), half away from zero.
    uint64_t q_fixed = (m + ((uint64_t)1 << 21)) >> 22;
    if (q_fixed == ((uint64_t)1 << 31)) {
        q_fixed >>= 1;
        s++;
    }
    if (s < -31) {
        q_fixed = 0;
        s = 0;
    }
    *mult = (int32_t)q_fixed;
    *shift = s;
    // x * 2^shift must stay a defined 32-bit shift in MultiplyByQuantizedMultiplier.
    return s <= 30;
}

int32_t ne_real_round_int(ne_real_t value) {
    uint64_t m = value.mantissa;
    int32_t e = value.exponent;
    if (e >= 0) {
        if (e > 30 || ne_shl64(m, e) > ((uint64_t)1 << 30)) {
            return 1 << 30;
        }
        return (int32_t)ne_shl64(m, e);
    }
    int32_t s = -e;
    if (s > 62) {
        return 0;
    }
    uint64_t whole = ne_shr64(m, s);
    uint64_t frac = m & (ne_shl64(1, s) - 1);
    if (frac >= ne_shl64(1, s - 1)) {
        whole++;
    }
    return whole > ((uint64_t)1 << 30) ? (1 << 30) : (int32_t)whole;
}
