// ADD, SOFTMAX, QUANTIZE, DEQUANTIZE and data movement, int8 (TFLite Micro
// reference semantics: AddFunc with left shift 20; the gemmlowp fixed-point
// softmax; AffineQuantize with float32 division, round half away from zero).
#include "edgedl_fixed.h"
#include "edgedl_internal.h"
#include "edgedl_dot.h"  // NE_DOT4: the host emulator's build (ADD/SUB tables)

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

// Elementwise binary ops with broadcasting: ADD and SUB (AddFunc/SubFunc, left shift 20), MUL,
// and MAXIMUM and MINIMUM on the raw bytes (TFLM compares without requantizing). Each op has a row
// function over n elements, its parameters read into locals first (the int8 output stores could
// alias them otherwise); the input strides along a row are 1, or 0 for a broadcast input.
typedef void (*binary_row_fn)(const ne_binary_t *p, const int8_t *a, int32_t sa, const int8_t *b, int32_t sb,
    int8_t *out, int32_t n);

// ADD and SUB: (a + in1_offset) << 20 scaled by mult1/shift1 (b likewise), summed or subtracted,
// scaled by mult/shift. The shifted inputs are below 2^28 in magnitude and the multipliers
// positive, so the saturating case of SRDHM (both INT32_MIN) cannot occur.
static inline int32_t scaled_input(int32_t x, int32_t offset, int32_t mult, int32_t exponent) {
    return ne_rdbpot(ne_srdhm((int32_t)((uint32_t)(x + offset) << 20), mult), exponent);
}

#ifdef NE_DOT4
// A long row on the host: each input's scaled value depends only on its byte, so both inputs' 256
// are computed first (2 KB of stack, in a function of its own so that short rows do not carry it),
// and each element costs one requantization instead of three.
#define ADD_SUB_TABLE_MIN 1024
static __attribute__((noinline)) void add_sub_by_tables(const ne_binary_t *p, const int8_t *a, int32_t sa,
    const int8_t *b, int32_t sb, int8_t *out, int32_t n, int subtract) {
    int32_t t1[256], t2[256];
    for (int32_t v = -128; v < 128; v++) {
        t1[v + 128] = scaled_input(v, p->in1_offset, p->mult1, -p->shift1);
        t2[v + 128] = scaled_input(v, p->in2_offset, p->mult2, -p->shift2);
    }
    const int32_t oo = p->out_offset, mo = p->mult, eo = -p->shift, lo = p->act_min, hi = p->act_max;
    for (int32_t i = 0; i < n; i++) {
        const int32_t x = t1[a[i * sa] + 128], y = t2[b[i * sb] + 128];
        const int32_t v = ne_rdbpot(ne_srdhm(subtract ? ne_wrap_sub(x, y) : ne_wrap_add(x, y), mo), eo) + oo;
        out[i] = (int8_t)ne_clamp(v, lo, hi);
    }
}
#define ADD_SUB_TABLES(subtract)                                        \
    if (n >= ADD_SUB_TABLE_MIN) {                                       \
        add_sub_by_tables(p, a, sa, b, sb, out, n, subtract);           \
        return;                                                         \
    }
#else
#define ADD_SUB_TABLES(subtract)
#endif

#define ADD_SUB_ROW(name, combine, subtract)                                                                \
    static void name(const ne_binary_t *p, const int8_t *a, int32_t sa, const int8_t *b, int32_t sb,       \
        int8_t *out, int32_t n) {                                                                           \
        ADD_SUB_TABLES(subtract)                                                                            \
        const int32_t o1 = p->in1_offset, o2 = p->in2_offset, oo = p->out_offset;                           \
        const int32_t m1 = p->mult1, e1 = -p->shift1, m2 = p->mult2, e2 = -p->shift2, mo = p->mult, eo = -p->shift; \
        const int32_t lo = p->act_min, hi = p->act_max;                                                     \
        for (int32_t i = 0; i < n; i++) {                                                                   \
            const int32_t x = scaled_input(a[i * sa], o1, m1, e1), y = scaled_input(b[i * sb], o2, m2, e2);   \
            const int32_t v = ne_rdbpot(ne_srdhm(combine(x, y), mo), eo) + oo;                              \
            out[i] = (int8_t)ne_clamp(v, lo, hi);                                                           \
        }                                                                                                   \
    }

ADD_SUB_ROW(add_row, ne_wrap_add, 0)
ADD_SUB_ROW(sub_row, ne_wrap_sub, 1)

// MUL: (a + in1_offset) (b + in2_offset), at most 255 * 255 in magnitude, requantized.
static void mul_row(const ne_binary_t *p, const int8_t *a, int32_t sa, const int8_t *b, int32_t sb, int8_t *out,
    int32_t n) {
    const int32_t o1 = p->in1_offset, o2 = p->in2_offset, oo = p->out_offset, mult = p->mult, shift = p->shift;
    const int32_t lo = p->act_min, hi = p->act_max;
    for (int32_t i = 0; i < n; i++) {
        const int32_t v = oo + ne_mbqm((a[i * sa] + o1) * (b[i * sb] + o2), mult, shift);
        out[i] = (int8_t)ne_clamp(v, lo, hi);
    }
}

static void max_row(const ne_binary_t *p, const int8_t *a, int32_t sa, const int8_t *b, int32_t sb, int8_t *out,
    int32_t n) {
    (void)p;
    if (sa == 1 && sb == 1) {  // contiguous: vectorised
        for (int32_t i = 0; i < n; i++) {
            out[i] = a[i] > b[i] ? a[i] : b[i];
        }
        return;
    }
    for (int32_t i = 0; i < n; i++) {
        out[i] = a[i * sa] > b[i * sb] ? a[i * sa] : b[i * sb];
    }
}

static void min_row(const ne_binary_t *p, const int8_t *a, int32_t sa, const int8_t *b, int32_t sb, int8_t *out,
    int32_t n) {
    (void)p;
    if (sa == 1 && sb == 1) {
        for (int32_t i = 0; i < n; i++) {
            out[i] = a[i] < b[i] ? a[i] : b[i];
        }
        return;
    }
    for (int32_t i = 0; i < n; i++) {
        out[i] = a[i * sa] < b[i * sb] ? a[i * sa] : b[i * sb];
    }
}

// Rows along the last axis; without broadcasting (both inputs of the output's shape) one row of
// every element.
static void broadcast(const ne_binary_t *p, const int8_t *in1, const int8_t *in2, int8_t *out, binary_row_fn row) {
    const int32_t *d = p->shape.dims, *s1 = p->shape.stride1, *s2 = p->shape.stride2;
    int32_t count = 1, same = 1;
    for (int i = NE_MAX_RANK - 1; i >= 0; i--) {
        if (d[i] > 1) {
            same &= s1[i] == count && s2[i] == count;
            count *= d[i];
        }
    }
    if (same) {
        row(p, in1, 1, in2, 1, out, count);
        return;
    }
    for (int32_t i0 = 0; i0 < d[0]; i0++) {
        for (int32_t i1 = 0; i1 < d[1]; i1++) {
            for (int32_t i2 = 0; i2 < d[2]; i2++) {
                row(p, in1 + i0 * s1[0] + i1 * s1[1] + i2 * s1[2], s1[3], in2 + i0 * s2[0] + i1 * s2[1] + i2 * s2[2],
                    s2[3], out, d[3]);
                out += d[3];
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

int32_t ne_exp_on_negative_values(int32_t a, int integer_bits) {
    const int fraction_bits = 31 - integer_bits;
    const int32_t one_quarter = 1 << (fraction_bits - 2);
    const int32_t mask = one_quarter - 1;
    const int32_t a_mod = ne_wrap_sub(a & mask, one_quarter);
    int32_t result = exp_quarter(ne_sat_shl(a_mod, integer_bits));
    const int32_t remainder = ne_wrap_sub(a_mod, a);
    // exp(-2^exponent) for exponent -2..4, applied while the exponent is below integer_bits.
    static const int32_t multipliers[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    for (int k = 0; k < 7 && k - 2 < integer_bits; k++) {
        if (remainder & (1 << (fraction_bits - 2 + k))) {
            result = ne_srdhm(result, multipliers[k]);
        }
    }
    return a == 0 ? INT32_MAX : result;
}

// gemmlowp's Newton-Raphson for 1 / (1 + a), a in [0, 1) as Q0.31; returns Q2.29.
static int32_t reciprocal_one_plus_x_q2(int32_t a) {
    const int64_t sum = (int64_t)a + INT32_MAX;
    const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
    const int32_t c48_17 = 1515870810, cneg32_17 = -1010580540;
    int32_t x = ne_wrap_add(c48_17, ne_srdhm(half_denominator, cneg32_17));
    for (int i = 0; i < 3; i++) {
        const int32_t hd_x = ne_srdhm(half_denominator, x);
        const int32_t one_minus = ne_wrap_sub(1 << 29, hd_x);
        x = ne_wrap_add(x, ne_sat_shl(ne_srdhm(x, one_minus), 2));
    }
    return x;
}

int32_t ne_one_over_one_plus_x(int32_t a) {
    return ne_sat_shl(reciprocal_one_plus_x_q2(a), 1);
}

int32_t ne_one_minus_x_over_one_plus_x(int32_t a) {
    return ne_sat_shl(ne_wrap_sub(reciprocal_one_plus_x_q2(a), 1 << 29), 2);
}

static inline int32_t clz32(uint32_t v) {
    int32_t n = 0;
    while (n < 32 && !(v & 0x80000000u)) {
        v <<= 1;
        n++;
    }
    return n;
}

// exp(diff) in Q0.31 for diff = x - row max (-255..0), as TFLM computes it.
static inline int32_t softmax_exp(const ne_softmax_t *p, int32_t diff) {
    return ne_exp_on_negative_values(ne_srdhm((int32_t)((uint32_t)diff << p->left_shift), p->mult), 5);
}

// Each exp depends only on x - max, one of 256 values: when the op has more elements than that,
// the 256 are computed once per invoke (on the stack) instead of twice per element.
#define SOFTMAX_TABLE 256
// Without the table, a row of up to this many elements keeps its exps (on the stack) from the sum
// for the outputs, so that each is computed once.
#define SOFTMAX_ROW 64

// table: NULL, or exp(diff) at diff + 255.
static void softmax_rows(const ne_softmax_t *p, const int8_t *in, int8_t *out, const int32_t *table) {
    const int32_t depth = p->depth;
    const int use_table = table != 0, keep = !use_table && depth <= SOFTMAX_ROW;
    int32_t row_exp[SOFTMAX_ROW];
    for (int32_t row = 0; row < p->batches; row++) {
        const int8_t *x = in + row * depth;
        int8_t *y = out + row * depth;
        int32_t max = -128;
        for (int32_t c = 0; c < depth; c++) {
            max = x[c] > max ? x[c] : max;
        }
        int32_t sum = 0;  // Q12.19
        for (int32_t c = 0; c < depth; c++) {
            const int32_t diff = x[c] - max;
            if (diff >= p->diff_min) {
                const int32_t e = use_table ? table[diff + 255] : softmax_exp(p, diff);
                if (keep) {
                    row_exp[c] = e;
                }
                sum = ne_wrap_add(sum, ne_rdbpot(e, 12));
            }
        }
        const int32_t headroom = clz32((uint32_t)sum);
        const int32_t bits_over_unit = 12 - headroom;
        const int32_t shifted_minus_one = (int32_t)(((uint32_t)sum << headroom) - 0x80000000u);
        const int32_t reciprocal = ne_one_over_one_plus_x(shifted_minus_one);
        const int32_t exponent = bits_over_unit + 31 - 8;
        for (int32_t c = 0; c < depth; c++) {
            const int32_t diff = x[c] - max;
            if (diff >= p->diff_min) {
                const int32_t e = use_table ? table[diff + 255] : keep ? row_exp[c] : softmax_exp(p, diff);
                const int32_t v = ne_rdbpot(ne_srdhm(reciprocal, e), exponent) - 128;
                y[c] = (int8_t)ne_clamp(v, -128, 127);
            } else {
                y[c] = -128;
            }
        }
    }
}

// Kept out of softmax() so that a small softmax (a classifier's) does not carry the table's stack frame.
static __attribute__((noinline)) void softmax_with_table(const ne_softmax_t *p, const int8_t *in, int8_t *out) {
    int32_t table[SOFTMAX_TABLE];
    for (int32_t diff = -255; diff <= 0; diff++) {
        table[diff + 255] = diff >= p->diff_min ? softmax_exp(p, diff) : 0;
    }
    softmax_rows(p, in, out, table);
}

static void softmax(const ne_softmax_t *p, const int8_t *in, int8_t *out) {
    if ((uint32_t)p->batches * (uint32_t)p->depth > SOFTMAX_TABLE) {
        softmax_with_table(p, in, out);
    } else {
        softmax_rows(p, in, out, 0);
    }
}

static void requantize(const ne_quantize_t *p, const int8_t *in, int8_t *out, uint32_t count) {
    for (uint32_t i = 0; i < count; i++) {
        const int32_t v = ne_mbqm(in[i] + p->in_offset, p->mult, p->shift) + p->out_offset;
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

static void quantize_f32(const ne_quantize_t *p, const uint8_t *in, int8_t *out, uint32_t count) {
    union {
        uint32_t u;
        float f;
    } scale = {p->scale_bits};
    for (uint32_t i = 0; i < count; i++) {
        int32_t q = round_to_int(f32_load(in + 4 * i) / scale.f);
        // Saturate before adding the zero point so that it cannot overflow.
        q = ne_clamp(q, -256, 256) + p->out_offset;
        out[i] = (int8_t)ne_clamp(q, -128, 127);
    }
}

static void dequantize(const ne_quantize_t *p, const int8_t *in, uint8_t *out, uint32_t count) {
    union {
        uint32_t u;
        float f;
    } scale = {p->scale_bits};
    for (uint32_t i = 0; i < count; i++) {
        f32_store(out + 4 * i, scale.f * (float)(in[i] + p->in_offset));
    }
}

// ---------------------------------------------------------------------------
// Prepare and eval

// Both inputs and the output int8, shapes that broadcast; offsets and the fused activation.
static int prepare_binary(ne_prep_t *P, ne_op_t *op, int has_activation) {
    ne_binary_t *p = op->params;
    ne_tensor_t *a = ne_prep_input(P, op, 0), *b = ne_prep_input(P, op, 1), *out = ne_prep_output(P, op, 0);
    uint8_t act = ACT_NONE;
    if ((has_activation && !ne_opt_u8(P, 0, 0, &act)) || !ne_require_int8(P, a, "input 1")
        || !ne_require_int8(P, b, "input 2") || !ne_require_int8(P, out, "output")
        || !ne_broadcast(P, a, b, out, &p->shape)) {
        return 0;
    }
    p->in1_offset = -a->zero_point;
    p->in2_offset = -b->zero_point;
    p->out_offset = out->zero_point;
    return ne_activation_range(P, act, out, &p->act_min, &p->act_max);
}

// ADD and SUB: both inputs scaled to twice the larger input scale, with 20 bits of headroom
// (TFLM's Prepare, in double).
static int prepare_add_sub(ne_prep_t *P, ne_op_t *op) {
    ne_binary_t *p = op->params;
    ne_tensor_t *a = ne_prep_input(P, op, 0), *b = ne_prep_input(P, op, 1), *out = ne_prep_output(P, op, 0);
    if (!prepare_binary(P, op, 1)) {
        return 0;
    }
    ne_real_t s1 = ne_scale_of(P, a, 0), s2 = ne_scale_of(P, b, 0), so = ne_scale_of(P, out, 0);
    ne_real_t twice_max = ne_real_shift(ne_real_cmp(s1, s2) >= 0 ? s1 : s2, 1);
    ne_real_t m1 = ne_real_div(s1, twice_max, 53), m2 = ne_real_div(s2, twice_max, 53);
    ne_real_t mo = ne_real_div(twice_max, ne_real_shift(so, 20), 53);
    ne_real_t one = {1, 0};
    if (ne_real_cmp(mo, one) >= 0) {
        return ne_op_error(P, "output scale too small for the input scales");
    }
    if (!ne_multiplier(P, m1, &p->mult1, &p->shift1) || !ne_multiplier(P, m2, &p->mult2, &p->shift2)
        || !ne_multiplier(P, mo, &p->mult, &p->shift)) {
        return 0;
    }
    if (p->shift1 > 0 || p->shift2 > 0 || p->shift > 0) {
        return ne_op_error(P, "multiplier out of range");
    }
    return 1;
}

static void eval_add(ne_model_t *m, const ne_op_t *op) {
    broadcast(op->params, ne_in(m, op, 0), ne_in(m, op, 1), ne_out(m, op, 0), add_row);
}

static void eval_sub(ne_model_t *m, const ne_op_t *op) {
    broadcast(op->params, ne_in(m, op, 0), ne_in(m, op, 1), ne_out(m, op, 0), sub_row);
}

// MUL: in1 scale * in2 scale / out scale, in double (may exceed 1).
static int prepare_mul(ne_prep_t *P, ne_op_t *op) {
    ne_binary_t *p = op->params;
    if (!prepare_binary(P, op, 1)) {
        return 0;
    }
    ne_real_t product = ne_real_mul(ne_scale_of(P, ne_prep_input(P, op, 0), 0), ne_scale_of(P, ne_prep_input(P, op, 1), 0));
    return ne_multiplier(P, ne_real_div(product, ne_scale_of(P, ne_prep_output(P, op, 0), 0), 53), &p->mult, &p->shift);
}

static void eval_mul(ne_model_t *m, const ne_op_t *op) {
    broadcast(op->params, ne_in(m, op, 0), ne_in(m, op, 1), ne_out(m, op, 0), mul_row);
}

// MAXIMUM and MINIMUM have no options and, in TFLM, no quantization checks.
static int prepare_max_min(ne_prep_t *P, ne_op_t *op) {
    return prepare_binary(P, op, 0);
}

static void eval_maximum(ne_model_t *m, const ne_op_t *op) {
    broadcast(op->params, ne_in(m, op, 0), ne_in(m, op, 1), ne_out(m, op, 0), max_row);
}

static void eval_minimum(ne_model_t *m, const ne_op_t *op) {
    broadcast(op->params, ne_in(m, op, 0), ne_in(m, op, 1), ne_out(m, op, 0), min_row);
}

static int prepare_softmax(ne_prep_t *P, ne_op_t *op) {
    ne_softmax_t *p = op->params;
    ne_tensor_t *in = ne_prep_input(P, op, 0), *out = ne_prep_output(P, op, 0);
    uint32_t beta_bits;
    if (!ne_opt_u32(P, 0, 0, &beta_bits) || !ne_require_int8(P, in, "input") || !ne_require_int8(P, out, "output")) {
        return 0;
    }
    if (in->count != out->count || in->rank < 1 || in->dims[in->rank - 1] != out->dims[out->rank - 1]) {
        return ne_op_error(P, "input and output shapes differ");
    }
    if (out->zero_point != -128 || out->scale_bits != 0x3b800000u) {
        return ne_op_error(P, "output must be quantized with scale 1/256 and zero point -128");
    }
    ne_real_t beta;
    if (!ne_real_from_f32(beta_bits, &beta)) {
        return ne_op_error(P, "beta must be positive");
    }
    // PreprocessSoftmaxScaling: min(beta * in_scale * 2^26, 2^31 - 1), > 1.
    ne_real_t real = ne_real_shift(ne_real_mul(beta, ne_scale_of(P, in, 0)), 26);
    ne_real_t cap = {0x7fffffffu, 0}, one = {1, 0};
    if (ne_real_cmp(real, cap) > 0) {
        real = cap;
    }
    if (ne_real_cmp(real, one) <= 0) {
        return ne_op_error(P, "beta * input scale too small");
    }
    ne_quantize_multiplier(real, &p->mult, &p->left_shift);  // real <= 2^31 - 1: shift <= 31
    if (p->left_shift < 0 || p->left_shift > 31) {
        return ne_op_error(P, "input scale out of range");
    }
    p->diff_min = -(int32_t)((31u << 26) >> p->left_shift);  // TFLM's int64 expression, which fits 32 bits
    p->depth = in->dims[in->rank - 1];
    if (p->depth < 1) {
        return ne_op_error(P, "input has no classes");
    }
    p->batches = (int32_t)(in->count / (uint32_t)p->depth);
    return 1;
}

static void eval_softmax(ne_model_t *m, const ne_op_t *op) {
    softmax(op->params, ne_in(m, op, 0), ne_out(m, op, 0));
}

static int prepare_quantize(ne_prep_t *P, ne_op_t *op) {
    ne_quantize_t *p = op->params;
    ne_tensor_t *in = ne_prep_input(P, op, 0), *out = ne_prep_output(P, op, 0);
    if (!ne_require_int8(P, out, "output")) {
        return 0;
    }
    if (in->count != out->count) {
        return ne_op_error(P, "input and output sizes differ");
    }
    p->count = out->count;
    p->out_offset = out->zero_point;
    p->scale_bits = out->scale_bits;
    if (in->type == NE_FLOAT32) {
        p->from_float = 1;
        return 1;
    }
    if (!ne_require_int8(P, in, "input")) {
        return 0;
    }
    p->in_offset = -in->zero_point;
    return ne_multiplier(P, ne_real_div(ne_scale_of(P, in, 0), ne_scale_of(P, out, 0), 53), &p->mult, &p->shift);
}

static void eval_quantize(ne_model_t *m, const ne_op_t *op) {
    const ne_quantize_t *p = op->params;
    if (p->from_float) {
        quantize_f32(p, (const uint8_t *)ne_in(m, op, 0), ne_out(m, op, 0), p->count);
    } else {
        requantize(p, ne_in(m, op, 0), ne_out(m, op, 0), p->count);
    }
}

static int prepare_dequantize(ne_prep_t *P, ne_op_t *op) {
    ne_quantize_t *p = op->params;
    ne_tensor_t *in = ne_prep_input(P, op, 0), *out = ne_prep_output(P, op, 0);
    if (!ne_require_int8(P, in, "input")) {
        return 0;
    }
    if (out->type != NE_FLOAT32 || in->count != out->count) {
        return ne_op_error(P, "output must be float32 of the input's size");
    }
    p->count = out->count;
    p->in_offset = -in->zero_point;
    p->scale_bits = in->scale_bits;
    return 1;
}

static void eval_dequantize(ne_model_t *m, const ne_op_t *op) {
    const ne_quantize_t *p = op->params;
    dequantize(p, ne_in(m, op, 0), (uint8_t *)ne_out(m, op, 0), p->count);
}

// The op table rows of this file (edgedl_ops.c looks them up).
const ne_op_kind_t ne_ops_misc[] = {
    // name, code, options, inputs min..max, outputs, flags, params, prepare, eval
    {"ADD", OP_ADD, OPT_ADD, 2, 2, 1, 0, sizeof(ne_binary_t), prepare_add_sub, eval_add},
    {"SUB", OP_SUB, OPT_SUB, 2, 2, 1, 0, sizeof(ne_binary_t), prepare_add_sub, eval_sub},
    {"MUL", OP_MUL, OPT_MUL, 2, 2, 1, 0, sizeof(ne_binary_t), prepare_mul, eval_mul},
    {"MAXIMUM", OP_MAXIMUM, OPT_MAXMIN, 2, 2, 1, 0, sizeof(ne_binary_t), prepare_max_min, eval_maximum},
    {"MINIMUM", OP_MINIMUM, OPT_MAXMIN, 2, 2, 1, 0, sizeof(ne_binary_t), prepare_max_min, eval_minimum},
    {"DEQUANTIZE", OP_DEQUANTIZE, OPT_DEQUANTIZE, 1, 1, 1, 0, sizeof(ne_quantize_t), prepare_dequantize,
        eval_dequantize},
    {"SOFTMAX", OP_SOFTMAX, OPT_SOFTMAX, 1, 1, 1, 0, sizeof(ne_softmax_t), prepare_softmax, eval_softmax},
    {"QUANTIZE", OP_QUANTIZE, OPT_QUANTIZE, 1, 1, 1, 0, sizeof(ne_quantize_t), prepare_quantize, eval_quantize},
    {0},
};
