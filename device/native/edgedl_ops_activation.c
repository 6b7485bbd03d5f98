// Activations as separate ops, int8: RELU, RELU6, LEAKY_RELU, LOGISTIC, TANH, HARD_SWISH, with
// TFLite Micro's reference arithmetic. Its Prepare computes scale ratios in double (as the
// tflite-micro build the tests compare with does), which ne_real_div reproduces exactly.
// LOGISTIC and TANH are gemmlowp fixed point; HARD_SWISH is int16 fixed point.
//
// Each maps an int8 to an int8 alone, so prepare runs TFLM's arithmetic on all 256 inputs into a
// table (the same bytes by construction) and eval looks the values up.
#include "edgedl_fixed.h"
#include "edgedl_internal.h"

static int require_int8_io(ne_prep_t *P, const ne_op_t *op, ne_tensor_t **in, ne_tensor_t **out) {
    *in = ne_prep_input(P, op, 0);
    *out = ne_prep_output(P, op, 0);
    if (!ne_require_int8(P, *in, "input") || !ne_require_int8(P, *out, "output")) {
        return 0;
    }
    if ((*in)->count != (*out)->count) {
        return ne_op_error(P, "input and output sizes differ");
    }
    return 1;
}

// ---------------------------------------------------------------------------
// RELU: requantized, clamped at the output's zero. RELU6: TFLM clamps the input bytes to
// [zero point, quantized 6] in the input's quantization and ignores the output's; edgedl does
// the same, to give the same bytes.

typedef int8_t (*element_fn)(const void *params, int32_t x);

// The op's table: element(params, x) for every int8 x.
static int fill_table(ne_prep_t *P, ne_op_t *op, element_fn element, const void *params) {
    ne_table_t *t = op->params;
    t->count = ne_prep_output(P, op, 0)->count;
    for (int32_t x = -128; x < 128; x++) {
        t->value[x + 128] = element(params, x);
    }
    return 1;
}

static void eval_table(ne_model_t *m, const ne_op_t *op) {
    const ne_table_t *t = op->params;
    const int8_t *x = ne_in(m, op, 0);
    int8_t *y = ne_out(m, op, 0);
    for (uint32_t i = 0; i < t->count; i++) {
        y[i] = t->value[x[i] + 128];
    }
}

typedef struct {
    int32_t in_offset, out_offset, mult, shift, lo, hi;
} relu_t;

static int8_t relu_one(const void *params, int32_t x) {
    const relu_t *p = params;
    return (int8_t)ne_clamp(p->out_offset + ne_mbqm(x + p->in_offset, p->mult, p->shift), p->lo, p->hi);
}

static int prepare_relu(ne_prep_t *P, ne_op_t *op) {
    ne_tensor_t *in, *out;
    relu_t p;
    if (!require_int8_io(P, op, &in, &out)) {
        return 0;
    }
    p.in_offset = -in->zero_point;
    p.out_offset = out->zero_point;
    p.lo = out->zero_point;
    p.hi = 127;
    return ne_multiplier(P, ne_real_div(ne_scale_of(P, in, 0), ne_scale_of(P, out, 0), 53), &p.mult, &p.shift)
        && fill_table(P, op, relu_one, &p);
}

static int8_t clamp_one(const void *params, int32_t x) {
    const relu_t *p = params;
    return (int8_t)ne_clamp(x, p->lo, p->hi);
}

static int prepare_relu6(ne_prep_t *P, ne_op_t *op) {
    ne_tensor_t *in, *out;
    relu_t p;
    if (!require_int8_io(P, op, &in, &out)) {
        return 0;
    }
    ne_real_t six = {6, 0};
    p.lo = in->zero_point;
    p.hi = ne_clamp(in->zero_point + ne_real_round_int(ne_real_div(six, ne_scale_of(P, in, 0), 24)), -128, 127);
    return fill_table(P, op, clamp_one, &p);
}

// ---------------------------------------------------------------------------
// LEAKY_RELU: identity multiplier in/out for x >= 0, alpha * in/out below (alpha may be negative).

typedef struct {
    int32_t in_offset, out_offset;
    int32_t mult_identity, shift_identity, mult_alpha, shift_alpha;
    uint8_t negate_alpha;
} leaky_relu_t;

static int8_t leaky_relu_one(const void *params, int32_t x) {
    const leaky_relu_t *p = params;
    int32_t v = x + p->in_offset, o;
    if (v >= 0) {
        o = ne_mbqm(v, p->mult_identity, p->shift_identity);
    } else {
        o = ne_mbqm(v, p->mult_alpha, p->shift_alpha);
        o = p->negate_alpha ? -o : o;
    }
    return (int8_t)ne_clamp(p->out_offset + o, -128, 127);
}

static int prepare_leaky_relu(ne_prep_t *P, ne_op_t *op) {
    leaky_relu_t store, *p = &store;
    ne_tensor_t *in, *out;
    uint32_t alpha_bits;
    if (!ne_opt_u32(P, 0, 0, &alpha_bits) || !require_int8_io(P, op, &in, &out)) {
        return 0;
    }
    p->in_offset = -in->zero_point;
    p->out_offset = out->zero_point;
    ne_real_t in_s = ne_scale_of(P, in, 0), out_s = ne_scale_of(P, out, 0), alpha;
    if (!ne_multiplier(P, ne_real_div(in_s, out_s, 53), &p->mult_identity, &p->shift_identity)) {
        return 0;
    }
    p->negate_alpha = (uint8_t)(alpha_bits >> 31);
    if ((alpha_bits & 0x7fffffffu) == 0) {
        p->mult_alpha = p->shift_alpha = 0;  // QuantizeMultiplier(0)
        return fill_table(P, op, leaky_relu_one, p);
    }
    if (!ne_real_from_f32(alpha_bits & 0x7fffffffu, &alpha)) {
        return ne_op_error(P, "alpha must be a finite number");
    }
    // (double)in_scale * (double)alpha is exact; one rounding for the division.
    return ne_multiplier(P, ne_real_div(ne_real_mul(in_s, alpha), out_s, 53), &p->mult_alpha, &p->shift_alpha)
        && fill_table(P, op, leaky_relu_one, p);
}

// ---------------------------------------------------------------------------
// LOGISTIC and TANH: the input rescaled to Q4.27, gemmlowp's logistic or tanh in Q0.31, then
// shifted to the output's fixed scale (1/256 with zero point -128, or 1/128 with zero point 0).

// gemmlowp logistic of a Q4.27 value, in Q0.31.
static int32_t logistic_q4(int32_t a) {
    if (a == 0) {
        return 1 << 30;
    }
    int32_t negative_abs = a > 0 ? -a : a;
    int32_t positive = ne_one_over_one_plus_x(ne_exp_on_negative_values(negative_abs, 4));
    return a > 0 ? positive : INT32_MAX - positive;
}

// gemmlowp tanh of a Q4.27 value, in Q0.31: (1 - e^2x) / (1 + e^2x), e^2x of the same raw bits as Q5.26.
static int32_t tanh_q4(int32_t a) {
    if (a == 0) {
        return 0;
    }
    int32_t negative_abs = a > 0 ? -a : a;
    int32_t t = ne_one_minus_x_over_one_plus_x(ne_exp_on_negative_values(negative_abs, 5));
    return a < 0 ? -t : t;
}

typedef struct {
    int32_t in_zero_point, mult, left_shift, radius;
    int32_t (*function)(int32_t);  // Q4.27 in, Q0.31 out
    int32_t out_shift, out_offset;  // to the output's fixed scale
} sigmoid_t;

// Inputs beyond the radius saturate; the others go through the function, then to the output's scale.
static int8_t sigmoid_one(const void *params, int32_t x) {
    const sigmoid_t *p = params;
    int32_t v = x - p->in_zero_point;
    if (v <= -p->radius) {
        return -128;
    }
    if (v >= p->radius) {
        return 127;
    }
    int32_t q0 = p->function(ne_mbqm(v, p->mult, p->left_shift));
    return (int8_t)ne_clamp(ne_rdbpot(q0, p->out_shift) + p->out_offset, -128, 127);
}

static int prepare_sigmoid_kind(ne_prep_t *P, ne_op_t *op, sigmoid_t *p, uint32_t out_scale_bits,
    const char *requirement) {
    ne_tensor_t *in, *out;
    if (!require_int8_io(P, op, &in, &out)) {
        return 0;
    }
    if (out->zero_point != p->out_offset || out->scale_bits != out_scale_bits) {
        return ne_op_error(P, requirement);
    }
    p->in_zero_point = in->zero_point;
    // input_scale * 2^(31 - 4) as multiplier and left shift (exact: a float32 has 24 bits).
    ne_real_t rescale = ne_real_shift(ne_scale_of(P, in, 0), 27);
    ne_real_t one = {1, 0};
    if (ne_real_cmp(rescale, one) < 0 || !ne_quantize_multiplier(rescale, &p->mult, &p->left_shift)) {
        return ne_op_error(P, "input scale out of range for the fixed-point function");
    }
    // CalculateInputRadius(4, left_shift, 31): floor(15 * 2^27 / 2^left_shift).
    int32_t d = 27 - p->left_shift;  // <= 26: the rescale is >= 1
    p->radius = d >= 0 ? 15 << d : 15 >> -d;
    return fill_table(P, op, sigmoid_one, p);
}

static int prepare_logistic(ne_prep_t *P, ne_op_t *op) {
    sigmoid_t p;  // fields set one by one: an initializer would be a memcpy, and the core has no libc
    p.function = logistic_q4;
    p.out_shift = 23;
    p.out_offset = -128;
    return prepare_sigmoid_kind(P, op, &p, 0x3b800000u, "output must be quantized with scale 1/256 and zero point -128");
}

static int prepare_tanh(ne_prep_t *P, ne_op_t *op) {
    sigmoid_t p;
    p.function = tanh_q4;
    p.out_shift = 24;
    p.out_offset = 0;
    return prepare_sigmoid_kind(P, op, &p, 0x3c000000u, "output must be quantized with scale 1/128 and zero point 0");
}

// ---------------------------------------------------------------------------
// HARD_SWISH: x * relu6(x + 3) / 6 in TFLM's int16 fixed point (reference_ops::HardSwish).

static int16_t downscale_to_int16(int32_t m) {
    return m >= INT32_MAX - (1 << 15) ? 32767 : (int16_t)((m + (1 << 15)) >> 16);
}

typedef struct {
    int16_t in_zero_point, out_zero_point, out_mult, reluish_mult;
    int32_t out_exponent, reluish_exponent;
} hard_swish_t;

static int8_t hard_swish_one(const void *params, int32_t x);

static int prepare_hard_swish(ne_prep_t *P, ne_op_t *op) {
    hard_swish_t store, *p = &store;
    ne_tensor_t *in, *out;
    if (!require_int8_io(P, op, &in, &out)) {
        return 0;
    }
    p->in_zero_point = (int16_t)in->zero_point;
    p->out_zero_point = (int16_t)out->zero_point;
    ne_real_t hires = ne_real_shift(ne_scale_of(P, in, 0), -7), three = {3, 0};
    int32_t m32;
    if (!ne_multiplier(P, ne_real_div(hires, ne_scale_of(P, out, 0), 53), &m32, &p->out_exponent)) {
        return 0;
    }
    if (p->out_exponent > 0) {
        return ne_op_error(P, "output scale below 1/128 of the input scale");
    }
    p->out_mult = downscale_to_int16(m32);
    // hires / (3 / 2^15), both float32 values, divided in double.
    if (!ne_multiplier(P, ne_real_div(ne_real_shift(hires, 15), three, 53), &m32, &p->reluish_exponent)) {
        return 0;
    }
    p->reluish_mult = downscale_to_int16(m32);
    return fill_table(P, op, hard_swish_one, p);
}

// gemmlowp's int16 SaturatingRoundingDoublingHighMul, SaturatingDoublingHighMul (no rounding),
// RoundingDivideByPOT and SaturatingRoundingMultiplyByPOT.
static int16_t srdhm16(int16_t a, int16_t b) {
    if (a == INT16_MIN && b == INT16_MIN) {
        return INT16_MAX;
    }
    int32_t ab = (int32_t)a * b;
    int32_t nudge = ab >= 0 ? (1 << 14) : (1 - (1 << 14));
    return (int16_t)((ab + nudge) / (1 << 15));
}

static int16_t sdhm16(int16_t a, int16_t b) {
    if (a == INT16_MIN && b == INT16_MIN) {
        return INT16_MAX;
    }
    return (int16_t)(((int32_t)a * b) / (1 << 15));
}

static int16_t rdbpot16(int16_t x, int exponent) {
    int16_t mask = (int16_t)((1u << exponent) - 1u);  // exponent <= 31
    int16_t remainder = (int16_t)(x & mask);
    int16_t threshold = (int16_t)((mask >> 1) + (x < 0 ? 1 : 0));
    return (int16_t)((x >> exponent) + (remainder > threshold ? 1 : 0));
}

static int16_t sat_shl16(int16_t v, int n) {
    int32_t r = (int32_t)v * (1 << n);
    return (int16_t)ne_clamp(r, INT16_MIN, INT16_MAX);
}

static int8_t hard_swish_one(const void *params, int32_t x) {
    const hard_swish_t *p = params;
    const int rexp = p->reluish_exponent;
    const int16_t hires = (int16_t)((x - p->in_zero_point) * (1 << 7));
    const int16_t scaled = srdhm16(hires, p->out_mult);
    int16_t reluish = hires;
    if (rexp > 0) {
        reluish = sat_shl16(reluish, rexp - 1);
    }
    reluish = srdhm16(reluish, p->reluish_mult);
    if (rexp > 0) {
        reluish = sat_shl16(reluish, 1);
    }
    if (rexp < 0) {
        reluish = rdbpot16(reluish, -rexp);
    }
    reluish = (int16_t)(((int32_t)reluish + (1 << 15)) >> 1);  // [-1, 1] -> [0, 1]
    int16_t v = rdbpot16(sdhm16(reluish, scaled), -p->out_exponent);
    return (int8_t)ne_clamp(v + p->out_zero_point, -128, 127);
}

// The op table rows of this file (edgedl_ops.c looks them up).
const ne_op_kind_t ne_ops_activation[] = {
    // name, code, options, inputs min..max, outputs, flags, params, prepare, eval
    {"RELU", OP_RELU, OPT_NONE, 1, 1, 1, 0, sizeof(ne_table_t), prepare_relu, eval_table},
    {"RELU6", OP_RELU6, OPT_NONE, 1, 1, 1, 0, sizeof(ne_table_t), prepare_relu6, eval_table},
    {"LEAKY_RELU", OP_LEAKY_RELU, OPT_LEAKY_RELU, 1, 1, 1, 0, sizeof(ne_table_t), prepare_leaky_relu, eval_table},
    {"LOGISTIC", OP_LOGISTIC, OPT_NONE, 1, 1, 1, 0, sizeof(ne_table_t), prepare_logistic, eval_table},
    {"TANH", OP_TANH, OPT_NONE, 1, 1, 1, 0, sizeof(ne_table_t), prepare_tanh, eval_table},
    {"HARD_SWISH", OP_HARD_SWISH, OPT_HARD_SWISH, 1, 1, 1, 0, sizeof(ne_table_t), prepare_hard_swish, eval_table},
    {0},
};
