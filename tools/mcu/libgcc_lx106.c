// The libgcc helpers Debian's lx106 libgcc.a lacks (the core has no divider and no 32x32->64
// multiply): plain C, for the bench harness only. Division by zero never happens in the core.
#include <stdint.h>

uint32_t __udivsi3(uint32_t n, uint32_t d) {
    uint32_t q = 0, r = 0;
    for (int i = 31; i >= 0; i--) {
        r = (r << 1) | ((n >> i) & 1u);
        if (r >= d) {
            r -= d;
            q |= 1u << i;
        }
    }
    return q;
}

uint32_t __umodsi3(uint32_t n, uint32_t d) {
    return n - __udivsi3(n, d) * d;
}

int32_t __divsi3(int32_t n, int32_t d) {
    uint32_t q = __udivsi3(n < 0 ? 0u - (uint32_t)n : (uint32_t)n, d < 0 ? 0u - (uint32_t)d : (uint32_t)d);
    return (n < 0) != (d < 0) ? (int32_t)(0u - q) : (int32_t)q;
}

int32_t __modsi3(int32_t n, int32_t d) {
    return n - __divsi3(n, d) * d;
}

// 64-bit product from 16-bit halves (the lx106 multiplies 16 x 16 -> 32 in hardware).
uint64_t __muldi3(uint64_t a, uint64_t b) {
    uint32_t al = (uint32_t)a, ah = (uint32_t)(a >> 32), bl = (uint32_t)b, bh = (uint32_t)(b >> 32);
    uint32_t a0 = al & 0xffff, a1 = al >> 16, b0 = bl & 0xffff, b1 = bl >> 16;
    uint64_t low = (uint64_t)(a0 * b0) + ((uint64_t)(a1 * b0) << 16) + ((uint64_t)(a0 * b1) << 16)
        + ((uint64_t)(a1 * b1) << 32);
    return low + ((uint64_t)(al * bh + ah * bl) << 32);
}

// Single-precision helpers Debian's lx106 libgcc.a lacks (__addsf3, __subsf3, __mulsf3,
// __floatsisf): IEEE 754 binary32, round to nearest even, subnormals kept; NaN results are the
// default quiet NaN. The core uses float only to load a model and for float32 model inputs.
typedef union {
    float f;
    uint32_t u;
} f32_bits;

// Packs sign, biased exponent and a significand with 3 extra low bits (guard, round, sticky)
// whose leading 1 is at bit 26 for a normal number (below it at exponent 1: a subnormal);
// rounds to nearest even.
static float pack(uint32_t sign, int32_t exp, uint32_t sig) {
    f32_bits r;
    if (exp < 1) {  // below the normal range: to the subnormal scale, keeping a sticky bit
        int32_t shift = 1 - exp;
        sig = shift >= 32 ? (sig != 0) : (sig >> shift) | ((sig & ((1u << shift) - 1u)) != 0);
        exp = 1;
    }
    uint32_t low = sig & 7u;
    sig >>= 3;
    if (low > 4 || (low == 4 && (sig & 1u))) {
        sig++;
        if (sig == (1u << 24)) {  // rounding carried into a new bit
            sig >>= 1;
            exp++;
        }
    }
    if (exp >= 255) {
        r.u = sign | 0x7f800000u;
        return r.f;
    }
    r.u = sign | (sig < (1u << 23) ? 0u : (uint32_t)exp << 23) | (sig & 0x7fffffu);
    return r.f;
}

float __addsf3(float a, float b) {
    f32_bits x = {a}, y = {b};
    uint32_t ex = (x.u >> 23) & 255, ey = (y.u >> 23) & 255;
    if (ex == 255 || ey == 255) {  // NaN or infinity
        if ((ex == 255 && (x.u & 0x7fffffu)) || (ey == 255 && (y.u & 0x7fffffu))
            || (ex == 255 && ey == 255 && ((x.u ^ y.u) >> 31))) {
            x.u = 0x7fc00000u;
            return x.f;
        }
        return ex == 255 ? a : b;
    }
    if ((x.u & 0x7fffffffu) < (y.u & 0x7fffffffu)) {  // x: the larger magnitude
        f32_bits t = x;
        x = y;
        y = t;
        uint32_t te = ex;
        ex = ey;
        ey = te;
    }
    uint32_t sx = x.u & 0x80000000u, sy = y.u & 0x80000000u;
    uint32_t mx = (x.u & 0x7fffffu) | (ex ? 0x800000u : 0), my = (y.u & 0x7fffffu) | (ey ? 0x800000u : 0);
    int32_t exx = ex ? (int32_t)ex : 1, eyy = ey ? (int32_t)ey : 1;
    mx <<= 3;
    my <<= 3;
    int32_t d = exx - eyy;
    if (d) {
        my = d >= 32 ? (my != 0) : (my >> d) | ((my & ((1u << d) - 1u)) != 0);
    }
    uint32_t m;
    if (sx == sy) {
        m = mx + my;
        if (m & (1u << 27)) {
            m = (m >> 1) | (m & 1u);
            exx++;
        }
    } else {
        m = mx - my;
        if (!m) {
            x.u = 0;  // exact cancellation: +0 in round to nearest
            return x.f;
        }
        while (!(m & (1u << 26)) && exx > 1) {
            m <<= 1;
            exx--;
        }
    }
    return pack(sx, exx, m);  // without bit 26 at exponent 1: a subnormal
}

float __subsf3(float a, float b) {
    f32_bits y = {b};
    y.u ^= 0x80000000u;
    return __addsf3(a, y.f);
}

// A significand with its leading 1 at bit 23 (subnormals normalised, the exponent lowered).
static void with_leading_one(int32_t *exp, uint32_t *sig) {
    if (*exp) {
        *sig |= 0x800000u;
        return;
    }
    *exp = 1;
    while (!(*sig & 0x800000u)) {
        *sig <<= 1;
        --*exp;
    }
}

float __mulsf3(float a, float b) {
    f32_bits x = {a}, y = {b}, r;
    uint32_t sign = (x.u ^ y.u) & 0x80000000u;
    int32_t ex = (x.u >> 23) & 255, ey = (y.u >> 23) & 255;
    uint32_t mx = x.u & 0x7fffffu, my = y.u & 0x7fffffu;
    if (ex == 255 || ey == 255) {
        if ((ex == 255 && mx) || (ey == 255 && my) || (ex == 255 && !ey && !my) || (ey == 255 && !ex && !mx)) {
            r.u = 0x7fc00000u;  // NaN, or infinity times zero
        } else {
            r.u = sign | 0x7f800000u;
        }
        return r.f;
    }
    if ((!ex && !mx) || (!ey && !my)) {
        r.u = sign;
        return r.f;
    }
    with_leading_one(&ex, &mx);
    with_leading_one(&ey, &my);
    uint64_t p = __muldi3(mx, my);  // 2^46 <= p < 2^48
    int32_t e = ex + ey - 127;
    if (p & (1ull << 47)) {
        e++;
    } else {
        p <<= 1;
    }
    // Leading 1 at bit 47: keep 24 bits + 3 (guard, round, sticky).
    uint32_t sig = (uint32_t)(p >> 21) | ((p & ((1u << 21) - 1u)) != 0);
    return pack(sign, e, sig);
}

float __floatsisf(int32_t i) {
    f32_bits r;
    if (!i) {
        r.u = 0;
        return r.f;
    }
    uint32_t sign = i < 0 ? 0x80000000u : 0, m = i < 0 ? 0u - (uint32_t)i : (uint32_t)i;
    int32_t e = 127 + 31;
    while (!(m & 0x80000000u)) {
        m <<= 1;
        e--;
    }
    // Leading 1 at bit 31: to bit 26 with a sticky bit.
    uint32_t sig = (m >> 5) | ((m & 31u) != 0);
    return pack(sign, e, sig);
}
