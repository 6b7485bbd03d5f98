// ADD, SOFTMAX, QUANTIZE, DEQUANTIZE and data movement, int8 (TFLite Micro
// reference semantics: AddFunc with left shift 20; the gemmlowp fixed-point
// softmax; AffineQuantize with float32 division, round half away from zero).
#include "edgedl_fixed.h"
#include "edgedl_internal.h"

void ne_copy(void *dst, const void *src, uint32_t bytes) {
    uint8_t *d = dst;
    const uint8_t *s = src;
    if (d == s) {
        return;
    }
    for (uint32_t i = 0; i < bytes; i++) {
        d[i] = s[i];
    }
}

// MultiplyByQuantizedMultiplierSmallerThanOneExp
static inline int32_t mul_small(int32_t x, int32_t mult, int32_t shift) {
    return ne_rdbpot(ne_srdhm(x, mult), -shift);
}

static inline int8_t add_one(const ne_op_t *op, int32_t a, int32_t b) {
    const int32_t sa = (int32_t)((uint32_t)(a + op->in_offset) << 20);
    const int32_t sb = (int32_t)((uint32_t)(b + op->in2_offset) << 20);
    const int32_t sum = ne_wrap_add(mul_small(sa, op->mult1, op->shift1), mul_small(sb, op->mult2, op->shift2));
    const int32_t v = mul_small(sum, op->mult, op->shift) + op->out_offset;
    return (int8_t)ne_clamp(v, op->act_min, op->act_max);
}

void ne_add(const ne_op_t *op, const int8_t *in1, const int8_t *in2, int8_t *out) {
    const int32_t *d = op->out_dims, *s1 = op->in1_strides, *s2 = op->in2_strides;
    for (int32_t i0 = 0; i0 < d[0]; i0++) {
        for (int32_t i1 = 0; i1 < d[1]; i1++) {
            for (int32_t i2 = 0; i2 < d[2]; i2++) {
                const int8_t *a = in1 + i0 * s1[0] + i1 * s1[1] + i2 * s1[2];
                const int8_t *b = in2 + i0 * s2[0] + i1 * s2[1] + i2 * s2[2];
                for (int32_t i3 = 0; i3 < d[3]; i3++) {
                    *out++ = add_one(op, a[i3 * s1[3]], b[i3 * s2[3]]);
                }
            }
        }
    }
}

// gemmlowp exp_on_interval_between_negative_one_quarter_and_0_excl (Q0.31).
static int32_t exp_quarter(int32_t a) {
    const int32_t constant_term = 1895147668, one_third = 715827883;
    const int32_t x = ne_wrap_add(a, 1 << 28);  // a + 1/8
    const int32_t x2 = ne_srdhm(x, x);
    const int32_t x3 = ne_srdhm(x2, x);
    const int32_t x4 = ne_srdhm(x2, x2);
    const int32_t x4_over_4 = ne_rdbpot(x4, 2);
    const int32_t poly = ne_rdbpot(ne_wrap_add(ne_srdhm(ne_wrap_add(x4_over_4, x3), one_third), x2), 1);
    return ne_wrap_add(constant_term, ne_srdhm(constant_term, ne_wrap_add(x, poly)));
}

// gemmlowp exp_on_negative_values for a Q5.26 input; returns Q0.31.
static int32_t exp_negative(int32_t a) {
    const int32_t one_quarter = 1 << 24;
    const int32_t mask = one_quarter - 1;
    const int32_t a_mod = ne_wrap_sub(a & mask, one_quarter);
    int32_t result = exp_quarter(ne_sat_shl(a_mod, 5));
    const int32_t remainder = ne_wrap_sub(a_mod, a);
    static const int32_t multipliers[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    for (int k = 0; k < 7; k++) {
        if (remainder & (1 << (24 + k))) {  // 2^(26 + exponent) for exponent -2..4
            result = ne_srdhm(result, multipliers[k]);
        }
    }
    return a == 0 ? INT32_MAX : result;
}

// gemmlowp one_over_one_plus_x_for_x_in_0_1 (Q0.31 in, Q0.31 out).
static int32_t one_over_one_plus_x(int32_t a) {
    const int64_t sum = (int64_t)a + INT32_MAX;
    const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
    const int32_t c48_17 = 1515870810, cneg32_17 = -1010580540;
    int32_t x = ne_wrap_add(c48_17, ne_srdhm(half_denominator, cneg32_17));  // Q2.29
    for (int i = 0; i < 3; i++) {
        const int32_t hd_x = ne_srdhm(half_denominator, x);
        const int32_t one_minus = ne_wrap_sub(1 << 29, hd_x);
        x = ne_wrap_add(x, ne_sat_shl(ne_srdhm(x, one_minus), 2));
    }
    return ne_sat_shl(x, 1);
}

static inline int32_t clz32(uint32_t v) {
    int32_t n = 0;
    while (n < 32 && !(v & 0x80000000u)) {
        v <<= 1;
        n++;
    }
    return n;
}

void ne_softmax(const ne_op_t *op, const int8_t *in, int8_t *out) {
    const int32_t depth = op->out_c;
    for (int32_t row = 0; row < op->batches; row++) {
        const int8_t *x = in + row * depth;
        int8_t *y = out + row * depth;
        int32_t max = -128;
        for (int32_t c = 0; c < depth; c++) {
            max = x[c] > max ? x[c] : max;
        }
        int32_t sum = 0;  // Q12.19
        for (int32_t c = 0; c < depth; c++) {
            const int32_t diff = x[c] - max;
            if (diff >= op->diff_min) {
                const int32_t scaled = ne_srdhm((int32_t)((uint32_t)diff << op->left_shift), op->mult);
                sum = ne_wrap_add(sum, ne_rdbpot(exp_negative(scaled), 12));
            }
        }
        const int32_t headroom = clz32((uint32_t)sum);
        const int32_t bits_over_unit = 12 - headroom;
        const int32_t shifted_minus_one = (int32_t)(((uint32_t)sum << headroom) - 0x80000000u);
        const int32_t reciprocal = one_over_one_plus_x(shifted_minus_one);
        const int32_t exponent = bits_over_unit + 31 - 8;
        for (int32_t c = 0; c < depth; c++) {
            const int32_t diff = x[c] - max;
            if (diff >= op->diff_min) {
                const int32_t scaled = ne_srdhm((int32_t)((uint32_t)diff << op->left_shift), op->mult);
                const int32_t v = ne_rdbpot(ne_srdhm(reciprocal, exp_negative(scaled)), exponent) - 128;
                y[c] = (int8_t)ne_clamp(v, -128, 127);
            } else {
                y[c] = -128;
            }
        }
    }
}

void ne_requantize(const ne_op_t *op, const int8_t *in, int8_t *out, uint32_t count) {
    for (uint32_t i = 0; i < count; i++) {
        const int32_t v = ne_mbqm(in[i] + op->in_offset, op->mult, op->shift) + op->out_offset;
        out[i] = (int8_t)ne_clamp(v, -128, 127);
    }
}

static inline float f32_load(const uint8_t *p) {
    union {
        uint32_t u;
        float f;
    } v;
    v.u = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
    return v.f;
}

static inline void f32_store(uint8_t *p, float f) {
    union {
        float f;
        uint32_t u;
    } v = {f};
    p[0] = (uint8_t)v.u;
    p[1] = (uint8_t)(v.u >> 8);
    p[2] = (uint8_t)(v.u >> 16);
    p[3] = (uint8_t)(v.u >> 24);
}

// TfLiteRound (std::round, half away from zero), saturating instead of UB.
static inline int32_t round_to_int(float v) {
    if (!(v == v)) {
        return 0;
    }
    if (v >= 2147483520.0f) {
        return INT32_MAX;
    }
    if (v <= -2147483648.0f) {
        return INT32_MIN;
    }
    int32_t t = (int32_t)v;      // truncates
    float frac = v - (float)t;   // exact: t and v share their leading bits
    if (frac >= 0.5f) {
        t++;
    } else if (frac <= -0.5f) {
        t--;
    }
    return t;
}

void ne_quantize_f32(const ne_op_t *op, const uint8_t *in, int8_t *out, uint32_t count) {
    union {
        uint32_t u;
        float f;
    } scale = {op->scale_bits};
    for (uint32_t i = 0; i < count; i++) {
        int32_t q = round_to_int(f32_load(in + 4 * i) / scale.f);
        // Saturate before adding the zero point so that it cannot overflow.
        q = ne_clamp(q, -256, 256) + op->out_offset;
        out[i] = (int8_t)ne_clamp(q, -128, 127);
    }
}

void ne_dequantize(const ne_op_t *op, const int8_t *in, uint8_t *out, uint32_t count) {
    union {
        uint32_t u;
        float f;
    } scale = {op->scale_bits};
    for (uint32_t i = 0; i < count; i++) {
        f32_store(out + 4 * i, scale.f * (float)(in[i] + op->in_offset));
    }
}
