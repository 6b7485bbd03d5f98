// MAX_POOL_2D, AVERAGE_POOL_2D and MEAN, int8 (TFLite Micro reference
// semantics: pooling windows clipped to the input, average rounded half away
// from zero with no requantization; MEAN via QuantizedMeanOrSum).
#include "edgedl_fixed.h"
#include "edgedl_internal.h"


static inline void window(int32_t origin, int32_t filter, int32_t size, int32_t *start, int32_t *end) {
    *start = origin < 0 ? -origin : 0;
    *end = size - origin < filter ? size - origin : filter;
}

static void max_pool(const ne_pool_t *p, const int8_t *in, int8_t *out) {
    const int32_t in_h = p->in_h, in_w = p->in_w, depth = p->depth;
    for (int32_t b = 0; b < p->batches; b++) {
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            const int32_t y0 = oy * p->stride_h - p->pad_h;
            int32_t fy0, fy1;
            window(y0, p->filter_h, in_h, &fy0, &fy1);
            for (int32_t ox = 0; ox < p->out_w; ox++) {
                const int32_t x0 = ox * p->stride_w - p->pad_w;
                int32_t fx0, fx1;
                window(x0, p->filter_w, in_w, &fx0, &fx1);
                for (int32_t c = 0; c < depth; c++) {
                    int32_t best = -128;
                    for (int32_t fy = fy0; fy < fy1; fy++) {
                        for (int32_t fx = fx0; fx < fx1; fx++) {
                            int32_t v = in[((b * in_h + y0 + fy) * in_w + x0 + fx) * depth + c];
                            best = v > best ? v : best;
                        }
                    }
                    *out++ = (int8_t)ne_clamp(best, p->act_min, p->act_max);
                }
            }
        }
    }
}

static void average_pool(const ne_pool_t *p, const int8_t *in, int8_t *out) {
    const int32_t in_h = p->in_h, in_w = p->in_w, depth = p->depth;
    for (int32_t b = 0; b < p->batches; b++) {
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            const int32_t y0 = oy * p->stride_h - p->pad_h;
            int32_t fy0, fy1;
            window(y0, p->filter_h, in_h, &fy0, &fy1);
            for (int32_t ox = 0; ox < p->out_w; ox++) {
                const int32_t x0 = ox * p->stride_w - p->pad_w;
                int32_t fx0, fx1;
                window(x0, p->filter_w, in_w, &fx0, &fx1);
                const int32_t count = (fy1 - fy0) * (fx1 - fx0);  // >= 1: the loader checked shapes
                for (int32_t c = 0; c < depth; c++) {
                    int32_t acc = 0;
                    for (int32_t fy = fy0; fy < fy1; fy++) {
                        for (int32_t fx = fx0; fx < fx1; fx++) {
                            acc += in[((b * in_h + y0 + fy) * in_w + x0 + fx) * depth + c];
                        }
                    }
                    acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                    *out++ = (int8_t)ne_clamp(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}

// MEAN and SUM: sums of raw int8 per output, less the input zero point times the count, then
// requantized (MEAN's multiplier has 1/n folded in). REDUCE_MAX: the largest raw value.
static void reduce(const ne_reduce_t *p, const int8_t *in, int8_t *out) {
    // Input viewed as 4-D (trailing 1s); the output is the flattened kept axes.
    // Trailing 1s dropped (leading 1s put in their place), so that the last axis is a real one:
    // the same elements in the same order, and the innermost loop has length.
    int32_t d[NE_MAX_RANK];
    uint32_t mask = p->reduce_mask;
    for (int i = 0; i < NE_MAX_RANK; i++) {
        d[i] = p->dims[i];
    }
    for (int k = 0; k < NE_MAX_RANK - 1 && d[3] == 1; k++) {
        d[3] = d[2];
        d[2] = d[1];
        d[1] = d[0];
        d[0] = 1;
        mask = (mask << 1) & 0xfu;
    }
    int32_t ostride[NE_MAX_RANK], n_out = 1;
    for (int i = NE_MAX_RANK - 1; i >= 0; i--) {
        if (mask & (1u << i)) {
            ostride[i] = 0;
        } else {
            ostride[i] = n_out;
            n_out *= d[i];
        }
    }
    int32_t *acc = p->scratch;
    for (int32_t i = 0; i < n_out; i++) {
        acc[i] = p->take_max ? -128 : 0;
    }
    const int8_t *x = in;
    for (int32_t i0 = 0; i0 < d[0]; i0++) {
        for (int32_t i1 = 0; i1 < d[1]; i1++) {
            for (int32_t i2 = 0; i2 < d[2]; i2++) {
                int32_t *row = acc + i0 * ostride[0] + i1 * ostride[1] + i2 * ostride[2];
                // The last axis kept (a row of accumulators, vectorised) or reduced (one).
                const int32_t n3 = d[3];
                if (ostride[3] && p->take_max) {
                    for (int32_t i3 = 0; i3 < n3; i3++) {
                        row[i3] = x[i3] > row[i3] ? x[i3] : row[i3];
                    }
                } else if (ostride[3]) {
                    for (int32_t i3 = 0; i3 < n3; i3++) {
                        row[i3] += x[i3];
                    }
                } else if (p->take_max) {
                    int32_t v = row[0];
                    for (int32_t i3 = 0; i3 < n3; i3++) {
                        v = x[i3] > v ? x[i3] : v;
                    }
                    row[0] = v;
                } else {
                    int32_t v = row[0];
                    for (int32_t i3 = 0; i3 < n3; i3++) {
                        v += x[i3];
                    }
                    row[0] = v;
                }
                x += n3;
            }
        }
    }
    if (p->take_max) {
        for (int32_t i = 0; i < n_out; i++) {
            out[i] = (int8_t)acc[i];
        }
        return;
    }
    const int32_t offset = p->in_offset * p->reduce_count;
    for (int32_t i = 0; i < n_out; i++) {
        int32_t v = ne_mbqm(ne_wrap_add(acc[i], offset), p->mult, p->shift) + p->out_offset;
        out[i] = (int8_t)ne_clamp(v, -128, 127);
    }
}

// ---------------------------------------------------------------------------
// Prepare and eval

static int prepare_pool(ne_prep_t *P, ne_op_t *op) {
    ne_pool_t *p = op->params;
    ne_tensor_t *in = ne_prep_input(P, op, 0), *out = ne_prep_output(P, op, 0);
    uint8_t padding, act;
    int32_t on = 0, oc = 0;
    if (!ne_opt_u8(P, 0, 0, &padding) || !ne_opt_i32(P, 1, 1, &p->stride_w) || !ne_opt_i32(P, 2, 1, &p->stride_h)
        || !ne_opt_i32(P, 3, 1, &p->filter_w) || !ne_opt_i32(P, 4, 1, &p->filter_h) || !ne_opt_u8(P, 5, 0, &act)) {
        return 0;
    }
    if (!ne_require_int8(P, in, "input") || !ne_require_int8(P, out, "output")
        || !ne_nhwc(P, in, "input", &p->batches, &p->in_h, &p->in_w, &p->depth)
        || !ne_nhwc(P, out, "output", &on, &p->out_h, &p->out_w, &oc)) {
        return 0;
    }
    if (on != p->batches || oc != p->depth) {
        return ne_op_error(P, "input and output batch or channel counts differ");
    }
    float si = ne_f32_from_bits(in->scale_bits), so = ne_f32_from_bits(out->scale_bits);
    float diff = si > so ? si - so : so - si;
    if (!(diff <= 1e-6f) || in->zero_point != out->zero_point) {
        return ne_op_error(P, "input and output quantization must match");
    }
    if (!ne_conv_axis(P, p->in_h, p->filter_h, p->stride_h, 1, padding, p->out_h, &p->pad_h)
        || !ne_conv_axis(P, p->in_w, p->filter_w, p->stride_w, 1, padding, p->out_w, &p->pad_w)) {
        return 0;
    }
    return ne_activation_range(P, act, out, &p->act_min, &p->act_max);
}

static void eval_max_pool(ne_model_t *m, const ne_op_t *op) {
    max_pool(op->params, ne_in(m, op, 0), ne_out(m, op, 0));
}

static void eval_average_pool(ne_model_t *m, const ne_op_t *op) {
    average_pool(op->params, ne_in(m, op, 0), ne_out(m, op, 0));
}

// 64-by-32-bit unsigned division without libgcc (load time only).
static uint64_t udiv64(uint64_t n, uint32_t d) {
    uint64_t q = 0, r = 0;
    for (int i = 63; i >= 0; i--) {
        r = (r << 1) | (ne_shr64(n, i) & 1);
        if (r >= d) {
            r -= d;
            q |= ne_shl64(1, i);
        }
    }
    return q;
}

// MEAN, SUM and REDUCE_MAX over constant axes (TFLM's PrepareMeanOrSum / PrepareMinMax).
static int prepare_reduce(ne_prep_t *P, ne_op_t *op) {
    ne_reduce_t *p = op->params;
    ne_tensor_t *in = ne_prep_input(P, op, 0), *axes = ne_prep_input(P, op, 1), *out = ne_prep_output(P, op, 0);
    uint8_t keep_dims;
    int32_t axis[NE_MAX_RANK];
    if (!ne_opt_u8(P, 0, 0, &keep_dims) || !ne_require_int8(P, in, "input") || !ne_require_int8(P, out, "output")) {
        return 0;
    }
    if (axes->rank > 1 || !ne_const_i32(P, axes, "axis", axis, NE_MAX_RANK)) {
        return ne_op_error(P, "axis must be a constant int32 vector");
    }
    uint8_t mask = 0;
    for (uint32_t i = 0; i < axes->count; i++) {
        int32_t a = axis[i] < 0 ? axis[i] + in->rank : axis[i];
        if (a < 0 || a >= in->rank) {
            return ne_op_error(P, "axis out of range");
        }
        mask |= (uint8_t)(1u << a);
    }
    // Expected output shape; the reduced count n.
    uint32_t n = 1, k = 0;
    int32_t expect[NE_MAX_RANK];
    for (int i = 0; i < in->rank; i++) {
        if (mask & (1u << i)) {
            n *= (uint32_t)in->dims[i];
            if (keep_dims) {
                expect[k++] = 1;
            }
        } else {
            expect[k++] = in->dims[i];
        }
    }
    if (k != out->rank) {
        return ne_op_error(P, "output shape does not match the reduction");
    }
    for (uint32_t i = 0; i < k; i++) {
        if (expect[i] != out->dims[i]) {
            return ne_op_error(P, "output shape does not match the reduction");
        }
    }
    if (n > (1u << 23)) {
        return ne_op_error(P, "more than 2^23 values per output (the int32 sum could overflow)");
    }
    // The input as 4-D, axes kept where they are (trailing 1s: the mask's bits stay valid).
    for (int i = 0; i < NE_MAX_RANK; i++) {
        p->dims[i] = i < in->rank ? in->dims[i] : 1;
    }
    p->reduce_mask = mask;
    p->reduce_count = (int32_t)n;
    p->in_offset = -in->zero_point;
    p->out_offset = out->zero_point;
    if (out->count > P->scratch_len) {
        return ne_op_error(P, "internal: scratch smaller than measured");
    }
    p->scratch = P->scratch;
    int32_t code = op->kind->code;
    if (code == OP_REDUCE_MAX) {
        p->take_max = 1;  // raw bytes: TFLM requires equal quantization (it fails at invoke otherwise)
        return ne_same_quantization(in, out) ? 1 : ne_op_error(P, "input and output quantization must match");
    }
    int32_t mult, shift;
    if (!ne_multiplier(P, ne_real_div(ne_scale_of(P, in, 0), ne_scale_of(P, out, 0), 53), &mult, &shift)) {
        return 0;
    }
    if (code == OP_SUM) {
        p->mult = mult;
        p->shift = shift;
        return 1;
    }
    // QuantizedMeanOrSum folds 1/n into MEAN's multiplier.
    int s = 63;
    while (s > 0 && !ne_shr64(n, s)) {
        s--;
    }
    if (s > 32) {
        s = 32;
    }
    if (s > 31 + shift) {
        s = 31 + shift;
    }
    if (s < 0) {
        return ne_op_error(P, "output scale too small for the input scale");
    }
    p->mult = (int32_t)udiv64(ne_shl64((uint32_t)mult, s), n);
    p->shift = shift - s;
    return 1;
}

static void eval_reduce(ne_model_t *m, const ne_op_t *op) {
    reduce(op->params, ne_in(m, op, 0), ne_out(m, op, 0));
}

// The op table rows of this file (edgedl_ops.c looks them up).
const ne_op_kind_t ne_ops_pool[] = {
    // name, code, options, inputs min..max, outputs, flags, params, prepare, eval
    {"AVERAGE_POOL_2D", OP_AVERAGE_POOL_2D, OPT_POOL, 1, 1, 1, 0, sizeof(ne_pool_t), prepare_pool,
        eval_average_pool},
    {"MAX_POOL_2D", OP_MAX_POOL_2D, OPT_POOL, 1, 1, 1, 0, sizeof(ne_pool_t), prepare_pool, eval_max_pool},
    {"MEAN", OP_MEAN, OPT_REDUCER, 2, 2, 1, NE_KIND_SCRATCH_OUTPUT, sizeof(ne_reduce_t), prepare_reduce, eval_reduce},
    {"SUM", OP_SUM, OPT_REDUCER, 2, 2, 1, NE_KIND_SCRATCH_OUTPUT, sizeof(ne_reduce_t), prepare_reduce, eval_reduce},
    {"REDUCE_MAX", OP_REDUCE_MAX, OPT_REDUCER, 2, 2, 1, NE_KIND_SCRATCH_OUTPUT, sizeof(ne_reduce_t), prepare_reduce,
        eval_reduce},
    {0},
};
