// EdgeDL model loader: validates a .tflite completely, precomputes every
// kernel's parameters the way TFLite Micro's Prepare does, plans the arena,
// and dispatches Eval. See edgedl_engine.h for the calling sequence.
#include "edgedl_internal.h"
#include "edgedl_quant.h"
#include "edgedl_tflite.h"

// schema.fbs field ids
enum { MODEL_VERSION = 0, MODEL_OPCODES = 1, MODEL_SUBGRAPHS = 2, MODEL_BUFFERS = 4 };
enum { SG_TENSORS = 0, SG_INPUTS = 1, SG_OUTPUTS = 2, SG_OPERATORS = 3 };
enum { T_SHAPE = 0, T_TYPE = 1, T_BUFFER = 2, T_QUANT = 4, T_IS_VARIABLE = 5, T_SPARSITY = 6 };
enum { BUF_DATA = 0, BUF_OFFSET = 1 };
enum { OP_OPCODE_INDEX = 0, OP_INPUTS = 1, OP_OUTPUTS = 2, OP_OPTIONS_TYPE = 3, OP_OPTIONS = 4,
       OP_CUSTOM_OPTIONS = 5 };
enum { OC_DEPRECATED_CODE = 0, OC_CUSTOM_CODE = 1, OC_BUILTIN_CODE = 3 };
enum { Q_SCALE = 2, Q_ZERO_POINT = 3, Q_DIMENSION = 6 };

// BuiltinOptions union ids
enum { OPT_NONE = 0, OPT_CONV = 1, OPT_DEPTHWISE = 2, OPT_POOL = 5, OPT_FC = 8, OPT_SOFTMAX = 9,
       OPT_CONCAT = 10, OPT_ADD = 11, OPT_RESHAPE = 17, OPT_REDUCER = 27, OPT_SQUEEZE = 30,
       OPT_DEQUANTIZE = 38, OPT_EXPAND_DIMS = 52, OPT_QUANTIZE = 89 };

enum { ACT_NONE = 0, ACT_RELU = 1, ACT_RELU_N1_TO_1 = 2, ACT_RELU6 = 3 };
enum { PAD_SAME = 0, PAD_VALID = 1 };

#define ALIGN_UP(x, a) (((x) + ((a) - 1)) & ~(uint32_t)((a) - 1))

static const char *op_name(int32_t code) {
    switch (code) {
        case OP_ADD: return "ADD";
        case OP_AVERAGE_POOL_2D: return "AVERAGE_POOL_2D";
        case OP_CONCATENATION: return "CONCATENATION";
        case OP_CONV_2D: return "CONV_2D";
        case OP_DEPTHWISE_CONV_2D: return "DEPTHWISE_CONV_2D";
        case OP_DEQUANTIZE: return "DEQUANTIZE";
        case OP_FULLY_CONNECTED: return "FULLY_CONNECTED";
        case OP_MAX_POOL_2D: return "MAX_POOL_2D";
        case OP_RESHAPE: return "RESHAPE";
        case OP_SOFTMAX: return "SOFTMAX";
        case OP_MEAN: return "MEAN";
        case OP_SQUEEZE: return "SQUEEZE";
        case OP_EXPAND_DIMS: return "EXPAND_DIMS";
        case OP_QUANTIZE: return "QUANTIZE";
        case OP_SHAPE: return "SHAPE";
        case OP_PACK: return "PACK";
        // Common ones that edgedl refuses, named so the message is useful.
        case 14: return "LOGISTIC";
        case 18: return "MUL";
        case 19: return "RELU";
        case 21: return "RELU6";
        case 28: return "TANH";
        case 34: return "PAD";
        case 37: return "BATCH_TO_SPACE_ND";
        case 38: return "SPACE_TO_BATCH_ND";
        case 39: return "TRANSPOSE";
        case 41: return "SUB";
        case OP_STRIDED_SLICE: return "STRIDED_SLICE";
        case 82: return "REDUCE_MAX";
        case 97: return "LEAKY_RELU";
        case 117: return "HARD_SWISH";
        default: return 0;
    }
}

static int is_supported(int32_t code) {
    switch (code) {
        case OP_ADD: case OP_AVERAGE_POOL_2D: case OP_CONCATENATION: case OP_CONV_2D:
        case OP_DEPTHWISE_CONV_2D: case OP_DEQUANTIZE: case OP_FULLY_CONNECTED: case OP_MAX_POOL_2D:
        case OP_RESHAPE: case OP_SOFTMAX: case OP_MEAN: case OP_SQUEEZE: case OP_EXPAND_DIMS:
        case OP_QUANTIZE: case OP_SHAPE: case OP_STRIDED_SLICE: case OP_PACK:
            return 1;
        default:
            return 0;
    }
}

static const char *type_name(uint8_t type) {
    switch (type) {
        case 0: return "FLOAT32";
        case 1: return "FLOAT16";
        case 2: return "INT32";
        case 3: return "UINT8";
        case 4: return "INT64";
        case 7: return "INT16";
        case 9: return "INT8";
        default: return "an unknown type";
    }
}

static uint32_t type_size(uint8_t type) {
    return type == NE_INT8 ? 1 : 4;
}

// ---------------------------------------------------------------------------
// Meta memory: a bump allocator over the caller's block

typedef struct {
    uint8_t *base;
    uint32_t used, cap;
} bump_t;

static void *bump_alloc(bump_t *b, uint32_t bytes) {
    uint32_t start = ALIGN_UP(b->used, 8);
    if (b->base == 0 || start > b->cap || bytes > b->cap - start) {
        return 0;
    }
    b->used = start + bytes;
    uint8_t *p = b->base + start;
    for (uint32_t i = 0; i < bytes; i++) {
        p[i] = 0;
    }
    return p;
}

// ---------------------------------------------------------------------------
// The loader's view of the flatbuffer

typedef struct {
    fb_t fb;
    ne_error_t *err;
    fb_vec_t opcodes, buffers, tensors, operators, inputs, outputs;
} loader_t;

static int read_header(loader_t *L, const uint8_t *model, uint32_t len, ne_error_t *err) {
    L->err = err;
    L->fb.data = model;
    L->fb.len = len;
    L->fb.err = err;
    L->fb.failed = 0;
    fb_t *fb = &L->fb;
    fb_table_t root, sg;
    fb_vec_t subgraphs;
    uint32_t version;
    if (!fb_root(fb, &root, "model")
        || !fb_u32(fb, &root, MODEL_VERSION, 0, &version, "Model.version")) {
        return 0;
    }
    if (version != 3) {
        ne_errorf(err, "unsupported model: schema version %u (expected 3)", version);
        return 0;
    }
    fb_vector(fb, &root, MODEL_OPCODES, 4, &L->opcodes, "Model.operator_codes");
    fb_vector(fb, &root, MODEL_BUFFERS, 4, &L->buffers, "Model.buffers");
    fb_vector(fb, &root, MODEL_SUBGRAPHS, 4, &subgraphs, "Model.subgraphs");
    if (fb->failed) {
        return 0;
    }
    if (subgraphs.len != 1) {
        ne_errorf(err, "unsupported model: %u subgraphs (edgedl runs exactly one)", subgraphs.len);
        return 0;
    }
    if (!fb_vector_table(fb, &subgraphs, 0, &sg, "SubGraph")) {
        return 0;
    }
    fb_vector(fb, &sg, SG_TENSORS, 4, &L->tensors, "SubGraph.tensors");
    fb_vector(fb, &sg, SG_OPERATORS, 4, &L->operators, "SubGraph.operators");
    fb_vector(fb, &sg, SG_INPUTS, 4, &L->inputs, "SubGraph.inputs");
    fb_vector(fb, &sg, SG_OUTPUTS, 4, &L->outputs, "SubGraph.outputs");
    if (fb->failed) {
        return 0;
    }
    if (L->tensors.len == 0 || L->tensors.len > NE_MAX_TENSORS) {
        ne_errorf(err, "unsupported model: %u tensors (1..%d)", L->tensors.len, NE_MAX_TENSORS);
        return 0;
    }
    if (L->operators.len == 0 || L->operators.len > NE_MAX_OPS) {
        ne_errorf(err, "unsupported model: %u operators (1..%d)", L->operators.len, NE_MAX_OPS);
        return 0;
    }
    if (L->inputs.len != 1 || L->outputs.len != 1) {
        ne_errorf(err, "unsupported model: %u inputs and %u outputs (edgedl runs one of each)",
            L->inputs.len, L->outputs.len);
        return 0;
    }
    return 1;
}

static int32_t vec_i32(const loader_t *L, const fb_vec_t *v, uint32_t i) {
    return (int32_t)fb_load_u32(L->fb.data + v->pos + 4 * i);
}

// Shape of tensor `index` (validated: rank <= 4, dims >= 1, product < 2^28).
static int read_shape(loader_t *L, uint32_t index, int32_t *dims, uint8_t *rank, uint32_t *count) {
    fb_table_t t;
    fb_vec_t shape;
    if (!fb_vector_table(&L->fb, &L->tensors, index, &t, "Tensor")) {
        return 0;
    }
    fb_vector(&L->fb, &t, T_SHAPE, 4, &shape, "Tensor.shape");
    if (L->fb.failed) {
        return 0;
    }
    if (shape.len > NE_MAX_RANK) {
        ne_errorf(L->err, "unsupported model: tensor %u has rank %u (edgedl supports up to 4)", index, shape.len);
        return 0;
    }
    uint32_t n = 1;
    for (uint32_t i = 0; i < shape.len; i++) {
        int32_t d = vec_i32(L, &shape, i);
        if (d < 1 || d > (1 << 24) || (uint64_t)n * (uint32_t)d > (1u << 28)) {
            ne_errorf(L->err, "malformed model: tensor %u dimension %u is %d (must be 1..2^24, total < 2^28)",
                index, i, d);
            return 0;
        }
        dims[i] = d;
        n *= (uint32_t)d;
    }
    *rank = (uint8_t)shape.len;
    *count = n;
    return 1;
}

static int read_tensor(loader_t *L, uint32_t index, ne_tensor_t *t) {
    fb_t *fb = &L->fb;
    fb_table_t tt, q, unused;
    uint32_t buffer_index;
    uint8_t is_variable;
    if (!read_shape(L, index, t->dims, &t->rank, &t->count)
        || !fb_vector_table(fb, &L->tensors, index, &tt, "Tensor")
        || !fb_u8(fb, &tt, T_TYPE, 0, &t->type, "Tensor.type")
        || !fb_u32(fb, &tt, T_BUFFER, 0, &buffer_index, "Tensor.buffer")
        || !fb_u8(fb, &tt, T_IS_VARIABLE, 0, &is_variable, "Tensor.is_variable")) {
        return 0;
    }
    if (t->type != NE_INT8 && t->type != NE_INT32 && t->type != NE_FLOAT32) {
        ne_errorf(L->err, "unsupported model: tensor %u has type %s (edgedl runs int8 models, "
            "float32 only at the input/output)", index, type_name(t->type));
        return 0;
    }
    if (is_variable || fb_table(fb, &tt, T_SPARSITY, &unused, "Tensor.sparsity")) {
        ne_errorf(L->err, "unsupported model: tensor %u is variable or sparse", index);
        return 0;
    }
    t->bytes = t->count * type_size(t->type);
    if (buffer_index >= L->buffers.len) {
        ne_errorf(L->err, "malformed model: tensor %u refers to buffer %u of %u", index, buffer_index, L->buffers.len);
        return 0;
    }
    if (buffer_index != 0) {
        fb_table_t buf;
        fb_vec_t data;
        uint32_t offset_lo = 0;
        if (!fb_vector_table(fb, &L->buffers, buffer_index, &buf, "Buffer")
            || !fb_u32(fb, &buf, BUF_OFFSET, 0, &offset_lo, "Buffer.offset")) {
            return 0;
        }
        if (offset_lo > 1) {
            ne_errorf(L->err, "unsupported model: tensor %u keeps its data outside the flatbuffer", index);
            return 0;
        }
        fb_vector(fb, &buf, BUF_DATA, 1, &data, "Buffer.data");
        if (fb->failed) {
            return 0;
        }
        if (data.len) {
            if (data.len != t->bytes) {
                ne_errorf(L->err, "malformed model: tensor %u has %u bytes of data, its shape needs %u",
                    index, data.len, t->bytes);
                return 0;
            }
            t->is_const = 1;
            t->data = fb->data + data.pos;
        }
    }
    if (fb_table(fb, &tt, T_QUANT, &q, "Tensor.quantization")) {
        fb_vec_t scales, zps;
        fb_vector(fb, &q, Q_SCALE, 4, &scales, "QuantizationParameters.scale");
        fb_vector(fb, &q, Q_ZERO_POINT, 8, &zps, "QuantizationParameters.zero_point");
        if (!fb_i32(fb, &q, Q_DIMENSION, 0, &t->quantized_dimension, "QuantizationParameters.quantized_dimension")) {
            return 0;
        }
        if (scales.len && zps.len) {
            const uint8_t *zp = fb->data + zps.pos;
            uint32_t lo = fb_load_u32(zp), hi = fb_load_u32(zp + 4);
            if (hi != ((lo >> 31) ? 0xffffffffu : 0)) {
                ne_errorf(L->err, "malformed model: tensor %u zero point does not fit in 32 bits", index);
                return 0;
            }
            t->zero_point = (int32_t)lo;
            t->n_scales = scales.len;
            t->scales = fb->data + scales.pos;
            t->scale_bits = fb_load_u32(t->scales);
            for (uint32_t i = 0; i < scales.len; i++) {
                ne_real_t r;
                if (!ne_real_from_f32(fb_load_u32(t->scales + 4 * i), &r)) {
                    ne_errorf(L->err, "malformed model: tensor %u scale %u is not a finite positive number", index, i);
                    return 0;
                }
            }
        }
    }
    if (fb->failed) {
        return 0;
    }
    if (t->type == NE_INT8 && !t->is_const && t->n_scales == 0) {
        ne_errorf(L->err, "unsupported model: int8 tensor %u has no quantization parameters", index);
        return 0;
    }
    if (t->type == NE_INT8 && (t->zero_point < -128 || t->zero_point > 127)) {
        ne_errorf(L->err, "malformed model: tensor %u zero point %d is outside -128..127", index, t->zero_point);
        return 0;
    }
    return 1;
}

// ---------------------------------------------------------------------------
// Per-op preparation (TFLM Prepare, with errors instead of aborts)

typedef struct {
    loader_t *L;
    ne_model_t *m;
    bump_t *meta;
    uint32_t index;         // op index, for messages
    fb_table_t options;
    int has_options;
    uint8_t options_type;
    int32_t *scratch;
    uint32_t scratch_len;
} prep_t;

static int op_error(prep_t *P, const char *problem) {
    ne_errorf(P->L->err, "op %u (%s): %s", P->index, op_name(P->m->ops[P->index].code), problem);
    return 0;
}

static ne_tensor_t *op_input(prep_t *P, int k) {
    return &P->m->tensors[P->m->ops[P->index].inputs[k]];
}

static ne_tensor_t *op_output(prep_t *P) {
    return &P->m->tensors[P->m->ops[P->index].output];
}

static int expect_options(prep_t *P, uint8_t type) {
    if (P->options_type != type && !(P->options_type == OPT_NONE && !P->has_options)) {
        return op_error(P, "builtin options of the wrong type");
    }
    return 1;
}

static int opt_u8(prep_t *P, int field, uint8_t def, uint8_t *out) {
    if (!P->has_options) {
        *out = def;
        return 1;
    }
    return fb_u8(&P->L->fb, &P->options, field, def, out, "op options");
}

static int opt_i32(prep_t *P, int field, int32_t def, int32_t *out) {
    if (!P->has_options) {
        *out = def;
        return 1;
    }
    return fb_i32(&P->L->fb, &P->options, field, def, out, "op options");
}

static int require_int8(prep_t *P, const ne_tensor_t *t, const char *which) {
    if (t->type != NE_INT8 || t->n_scales == 0) {
        ne_errorf(P->L->err, "op %u (%s): %s must be a quantized int8 tensor, not %s", P->index,
            op_name(P->m->ops[P->index].code), which, type_name(t->type));
        return 0;
    }
    return 1;
}

static ne_real_t scale_of(const ne_tensor_t *t, uint32_t i) {
    ne_real_t r;
    ne_real_from_f32(fb_load_u32(t->scales + 4 * (t->n_scales > 1 ? i : 0)), &r);  // validated at read
    return r;
}

static float f32_from_bits(uint32_t bits) {
    union {
        uint32_t u;
        float f;
    } v = {bits};
    return v.f;
}

// QuantizeMultiplier, refusing what the kernels cannot shift.
static int multiplier(prep_t *P, ne_real_t value, int32_t *mult, int32_t *shift) {
    if (!ne_quantize_multiplier(value, mult, shift)) {
        return op_error(P, "requantization multiplier out of range (inconsistent scales)");
    }
    return 1;
}

// CalculateActivationRangeQuantized: float32 division, round half away.
static int activation_range(prep_t *P, uint8_t act, const ne_tensor_t *out, ne_op_t *op) {
    ne_real_t scale = scale_of(out, 0);
    ne_real_t one = {1, 0}, six = {6, 0};
    int32_t zp = out->zero_point;
    int32_t lo = -128, hi = 127;
    switch (act) {
        case ACT_NONE:
            break;
        case ACT_RELU:
            lo = zp > lo ? zp : lo;
            break;
        case ACT_RELU6: {
            int32_t top = zp + ne_real_round_int(ne_real_div(six, scale, 24));
            lo = zp > lo ? zp : lo;
            hi = top < hi ? top : hi;
            break;
        }
        case ACT_RELU_N1_TO_1: {
            int32_t r = ne_real_round_int(ne_real_div(one, scale, 24));
            lo = zp - r > lo ? zp - r : lo;
            hi = zp + r < hi ? zp + r : hi;
            break;
        }
        default:
            return op_error(P, "unsupported fused activation (edgedl: NONE, RELU, RELU6, RELU_N1_TO_1)");
    }
    op->act = act;
    op->act_min = lo;
    op->act_max = hi;
    return 1;
}

// Output size and leading padding of one spatial axis (tensorflow/lite/kernels/padding.h).
static int conv_axis(prep_t *P, int32_t in, int32_t filter, int32_t stride, int32_t dilation, uint8_t padding,
    int32_t out_expected, int32_t *pad) {
    if (stride < 1 || dilation < 1 || filter < 1 || stride > 4096 || dilation > 4096) {
        return op_error(P, "stride, dilation and filter size must be >= 1");
    }
    int32_t eff = (filter - 1) * dilation + 1;
    int32_t out = padding == PAD_SAME ? (in + stride - 1) / stride : (in + stride - eff) / stride;
    if (padding > PAD_VALID) {
        return op_error(P, "padding must be SAME or VALID");
    }
    if (out < 1 || out != out_expected) {
        return op_error(P, "output shape does not match the input, filter, stride and padding");
    }
    int32_t total = (out - 1) * stride + eff - in;
    *pad = total > 0 ? total / 2 : 0;
    return 1;
}

static int alloc_channel_arrays(prep_t *P, ne_op_t *op, int32_t channels) {
    uint32_t bytes = 4 * (uint32_t)channels;
    op->ch_mult = bump_alloc(P->meta, bytes);
    op->ch_shift = bump_alloc(P->meta, bytes);
    op->bias = bump_alloc(P->meta, bytes);
    op->wsum = bump_alloc(P->meta, bytes);
    if (!op->ch_mult || !op->ch_shift || !op->bias || !op->wsum) {
        ne_errorf(P->L->err, "internal: model metadata larger than measured");
        return 0;
    }
    return 1;
}

// Per-channel multipliers (double(in) * double(filter[c]) / double(out)), bias copy.
static int per_channel_params(prep_t *P, ne_op_t *op, const ne_tensor_t *in, const ne_tensor_t *filter,
    const ne_tensor_t *bias, const ne_tensor_t *out, int32_t channels, int32_t qdim) {
    if (filter->n_scales != 1 && filter->n_scales != (uint32_t)channels) {
        return op_error(P, "filter has neither one scale nor one per output channel");
    }
    if (filter->n_scales > 1 && filter->quantized_dimension != qdim) {
        return op_error(P, "filter quantized along the wrong dimension");
    }
    if (bias) {
        if (bias->type != NE_INT32 || !bias->is_const || bias->count != (uint32_t)channels) {
            return op_error(P, "bias must be a constant int32 vector with one value per output channel");
        }
    }
    if (!alloc_channel_arrays(P, op, channels)) {
        return 0;
    }
    ne_real_t in_s = scale_of(in, 0), out_s = scale_of(out, 0);
    for (int32_t c = 0; c < channels; c++) {
        ne_real_t eff = ne_real_div(ne_real_mul(in_s, scale_of(filter, (uint32_t)c)), out_s, 53);
        if (!multiplier(P, eff, &op->ch_mult[c], &op->ch_shift[c])) {
            return 0;
        }
        op->bias[c] = bias ? (int32_t)fb_load_u32(bias->data + 4 * c) : 0;
    }
    return 1;
}

static int check_filter(prep_t *P, const ne_tensor_t *filter, uint32_t volume) {
    if (filter->type != NE_INT8 || !filter->is_const || filter->rank != 4 || filter->n_scales == 0) {
        return op_error(P, "filter must be a constant quantized int8 tensor of rank 4");
    }
    if (volume > 65536) {
        return op_error(P, "filter volume over 65536 (the int32 accumulator could overflow)");
    }
    return 1;
}

// NHWC view of a rank-4 activation.
static int nhwc(prep_t *P, const ne_tensor_t *t, const char *which, int32_t *n, int32_t *h, int32_t *w, int32_t *c) {
    if (t->rank != 4) {
        ne_errorf(P->L->err, "op %u (%s): %s must have rank 4", P->index, op_name(P->m->ops[P->index].code), which);
        return 0;
    }
    *n = t->dims[0];
    *h = t->dims[1];
    *w = t->dims[2];
    *c = t->dims[3];
    return 1;
}

static int prepare_conv(prep_t *P, ne_op_t *op, int depthwise) {
    ne_tensor_t *in = op_input(P, 0), *filter = op_input(P, 1), *out = op_output(P);
    ne_tensor_t *bias = op->n_inputs > 2 && op->inputs[2] >= 0 ? op_input(P, 2) : 0;
    uint8_t padding, act;
    int32_t on = 0, oc = 0, fo;
    if (!expect_options(P, depthwise ? OPT_DEPTHWISE : OPT_CONV)) {
        return 0;
    }
    if (depthwise) {
        if (!opt_u8(P, 0, 0, &padding) || !opt_i32(P, 1, 1, &op->stride_w) || !opt_i32(P, 2, 1, &op->stride_h)
            || !opt_i32(P, 3, 1, &op->depth_multiplier) || !opt_u8(P, 4, 0, &act)
            || !opt_i32(P, 5, 1, &op->dilation_w) || !opt_i32(P, 6, 1, &op->dilation_h)) {
            return 0;
        }
    } else if (!opt_u8(P, 0, 0, &padding) || !opt_i32(P, 1, 1, &op->stride_w) || !opt_i32(P, 2, 1, &op->stride_h)
               || !opt_u8(P, 3, 0, &act) || !opt_i32(P, 4, 1, &op->dilation_w) || !opt_i32(P, 5, 1, &op->dilation_h)) {
        return 0;
    }
    if (!require_int8(P, in, "input") || !require_int8(P, out, "output")
        || !nhwc(P, in, "input", &op->batches, &op->in_h, &op->in_w, &op->in_c)
        || !nhwc(P, out, "output", &on, &op->out_h, &op->out_w, &oc)) {
        return 0;
    }
    if (filter->rank != 4) {
        return op_error(P, "filter must have rank 4");
    }
    if (depthwise) {
        fo = filter->dims[3];
        op->filter_h = filter->dims[1];
        op->filter_w = filter->dims[2];
        op->filter_in_c = 1;
        if (filter->dims[0] != 1 || op->depth_multiplier < 1 || fo != oc
            || (int64_t)op->in_c * op->depth_multiplier != oc) {
            return op_error(P, "filter, depth multiplier and channel counts do not agree");
        }
    } else {
        fo = filter->dims[0];
        op->filter_h = filter->dims[1];
        op->filter_w = filter->dims[2];
        op->filter_in_c = filter->dims[3];
        if (fo != oc || op->in_c % op->filter_in_c != 0 || oc % (op->in_c / op->filter_in_c) != 0) {
            return op_error(P, "filter and channel counts do not agree");
        }
    }
    if (on != op->batches) {
        return op_error(P, "input and output batch sizes differ");
    }
    if (!check_filter(P, filter, (uint32_t)(op->filter_h * op->filter_w * op->filter_in_c))
        || !conv_axis(P, op->in_h, op->filter_h, op->stride_h, op->dilation_h, padding, op->out_h, &op->pad_h)
        || !conv_axis(P, op->in_w, op->filter_w, op->stride_w, op->dilation_w, padding, op->out_w, &op->pad_w)) {
        return 0;
    }
    op->out_c = oc;
    op->in_offset = -in->zero_point;
    op->out_offset = out->zero_point;
    if (!per_channel_params(P, op, in, filter, bias, out, oc, depthwise ? 3 : 0)
        || !activation_range(P, act, out, op)) {
        return 0;
    }
    // Sum of each output channel's weights: folds the input offset out of the inner loop.
    uint32_t taps = (uint32_t)(op->filter_h * op->filter_w);
    const int8_t *w = (const int8_t *)filter->data;
    for (int32_t c = 0; c < oc; c++) {
        int32_t s = 0;
        if (depthwise) {
            for (uint32_t t = 0; t < taps; t++) {
                s += w[t * (uint32_t)oc + (uint32_t)c];
            }
        } else {
            uint32_t n = taps * (uint32_t)op->filter_in_c;
            for (uint32_t i = 0; i < n; i++) {
                s += w[(uint32_t)c * n + i];
            }
        }
        op->wsum[c] = s;
    }
    op->macs = (uint32_t)op->batches * op->out_h * op->out_w * oc * taps * op->filter_in_c;
    if ((uint32_t)oc > P->scratch_len) {
        return op_error(P, "internal: scratch smaller than measured");
    }
    op->scratch = P->scratch;
    return 1;
}

static int prepare_fully_connected(prep_t *P, ne_op_t *op) {
    ne_tensor_t *in = op_input(P, 0), *filter = op_input(P, 1), *out = op_output(P);
    ne_tensor_t *bias = op->n_inputs > 2 && op->inputs[2] >= 0 ? op_input(P, 2) : 0;
    uint8_t act, weights_format;
    if (!expect_options(P, OPT_FC) || !opt_u8(P, 0, 0, &act) || !opt_u8(P, 1, 0, &weights_format)) {
        return 0;
    }
    if (!require_int8(P, in, "input") || !require_int8(P, out, "output")) {
        return 0;
    }
    if (weights_format != 0) {
        return op_error(P, "shuffled weights are not supported");
    }
    if (filter->type != NE_INT8 || !filter->is_const || filter->rank != 2 || filter->n_scales == 0) {
        return op_error(P, "weights must be a constant quantized int8 matrix");
    }
    int32_t units = filter->dims[0], depth = filter->dims[1];
    if (depth > 65536) {
        return op_error(P, "more than 65536 inputs per unit (the int32 accumulator could overflow)");
    }
    if (in->count % (uint32_t)depth != 0 || out->count != in->count / (uint32_t)depth * (uint32_t)units
        || out->dims[out->rank - 1] != units) {
        return op_error(P, "input, weights and output shapes do not agree");
    }
    op->batches = (int32_t)(in->count / (uint32_t)depth);
    op->in_c = depth;
    op->out_c = units;
    op->in_offset = -in->zero_point;
    op->out_offset = out->zero_point;
    if (filter->n_scales == 1) {
        if (filter->zero_point != 0) {
            return op_error(P, "weights must be symmetric (zero point 0)");
        }
        if (bias && (bias->type != NE_INT32 || !bias->is_const || bias->count != (uint32_t)units)) {
            return op_error(P, "bias must be a constant int32 vector with one value per unit");
        }
        if (!alloc_channel_arrays(P, op, units)) {
            return 0;
        }
        // GetQuantizedConvolutionMultipler: the float32 product, widened, / out.
        ne_real_t product = ne_real_round_bits(ne_real_mul(scale_of(in, 0), scale_of(filter, 0)), 24);
        int32_t mult, shift;
        if (!multiplier(P, ne_real_div(product, scale_of(out, 0), 53), &mult, &shift)) {
            return 0;
        }
        for (int32_t c = 0; c < units; c++) {
            op->ch_mult[c] = mult;
            op->ch_shift[c] = shift;
            op->bias[c] = bias ? (int32_t)fb_load_u32(bias->data + 4 * c) : 0;
        }
    } else if (!per_channel_params(P, op, in, filter, bias, out, units, 0)) {
        return 0;
    }
    const int8_t *w = (const int8_t *)filter->data;
    for (int32_t c = 0; c < units; c++) {
        int32_t s = 0;
        for (int32_t i = 0; i < depth; i++) {
            s += w[(uint32_t)c * (uint32_t)depth + (uint32_t)i];
        }
        op->wsum[c] = s;
    }
    op->macs = (uint32_t)op->batches * (uint32_t)units * (uint32_t)depth;
    if ((uint32_t)units > P->scratch_len) {
        return op_error(P, "internal: scratch smaller than measured");
    }
    op->scratch = P->scratch;
    return activation_range(P, act, out, op);
}

static int same_quantization(const ne_tensor_t *a, const ne_tensor_t *b) {
    return a->scale_bits == b->scale_bits && a->zero_point == b->zero_point;
}

static int prepare_pool(prep_t *P, ne_op_t *op) {
    ne_tensor_t *in = op_input(P, 0), *out = op_output(P);
    uint8_t padding, act;
    int32_t on = 0, oc = 0;
    if (!expect_options(P, OPT_POOL) || !opt_u8(P, 0, 0, &padding) || !opt_i32(P, 1, 1, &op->stride_w)
        || !opt_i32(P, 2, 1, &op->stride_h) || !opt_i32(P, 3, 1, &op->filter_w)
        || !opt_i32(P, 4, 1, &op->filter_h) || !opt_u8(P, 5, 0, &act)) {
        return 0;
    }
    if (!require_int8(P, in, "input") || !require_int8(P, out, "output")
        || !nhwc(P, in, "input", &op->batches, &op->in_h, &op->in_w, &op->in_c)
        || !nhwc(P, out, "output", &on, &op->out_h, &op->out_w, &oc)) {
        return 0;
    }
    if (on != op->batches || oc != op->in_c) {
        return op_error(P, "input and output batch or channel counts differ");
    }
    float si = f32_from_bits(in->scale_bits), so = f32_from_bits(out->scale_bits);
    float diff = si > so ? si - so : so - si;
    if (!(diff <= 1e-6f) || in->zero_point != out->zero_point) {
        return op_error(P, "input and output quantization must match");
    }
    op->dilation_h = op->dilation_w = 1;
    if (!conv_axis(P, op->in_h, op->filter_h, op->stride_h, 1, padding, op->out_h, &op->pad_h)
        || !conv_axis(P, op->in_w, op->filter_w, op->stride_w, 1, padding, op->out_w, &op->pad_w)) {
        return 0;
    }
    op->out_c = oc;
    return activation_range(P, act, out, op);
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

static int prepare_mean(prep_t *P, ne_op_t *op) {
    ne_tensor_t *in = op_input(P, 0), *axes = op_input(P, 1), *out = op_output(P);
    uint8_t keep_dims;
    if (!expect_options(P, OPT_REDUCER) || !opt_u8(P, 0, 0, &keep_dims)) {
        return 0;
    }
    if (!require_int8(P, in, "input") || !require_int8(P, out, "output")) {
        return 0;
    }
    if (axes->type != NE_INT32 || !axes->is_const || axes->rank > 1 || axes->count > NE_MAX_RANK) {
        return op_error(P, "axis must be a constant int32 vector");
    }
    uint8_t mask = 0;
    for (uint32_t i = 0; i < axes->count; i++) {
        int32_t a = (int32_t)fb_load_u32(axes->data + 4 * i);
        if (a < 0) {
            a += in->rank;
        }
        if (a < 0 || a >= in->rank) {
            return op_error(P, "axis out of range");
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
        return op_error(P, "output shape does not match the reduction");
    }
    for (uint32_t i = 0; i < k; i++) {
        if (expect[i] != out->dims[i]) {
            return op_error(P, "output shape does not match the reduction");
        }
    }
    if (n > (1u << 23)) {
        return op_error(P, "more than 2^23 values per mean (the int32 sum could overflow)");
    }
    int32_t mult, shift;
    if (!multiplier(P, ne_real_div(scale_of(in, 0), scale_of(out, 0), 53), &mult, &shift)) {
        return 0;
    }
    // QuantizedMeanOrSum folds 1/n into the multiplier.
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
        return op_error(P, "output scale too small for the input scale");
    }
    op->mult = (int32_t)udiv64(ne_shl64((uint32_t)mult, s), n);
    op->shift = shift - s;
    op->reduce_count = (int32_t)n;
    op->reduce_mask = mask;
    op->in_offset = -in->zero_point;
    op->out_offset = out->zero_point;
    op->in_c = in->rank;
    for (int i = 0; i < NE_MAX_RANK; i++) {
        op->out_dims[i] = i < in->rank ? in->dims[i] : 1;
    }
    if (out->count > P->scratch_len) {
        return op_error(P, "internal: scratch smaller than measured");
    }
    op->scratch = P->scratch;
    return 1;
}

static int prepare_add(prep_t *P, ne_op_t *op) {
    ne_tensor_t *a = op_input(P, 0), *b = op_input(P, 1), *out = op_output(P);
    uint8_t act;
    if (!expect_options(P, OPT_ADD) || !opt_u8(P, 0, 0, &act)) {
        return 0;
    }
    if (!require_int8(P, a, "input 1") || !require_int8(P, b, "input 2") || !require_int8(P, out, "output")) {
        return 0;
    }
    // Broadcast shapes right-aligned into 4-D; a dimension of 1 has stride 0.
    int32_t da[NE_MAX_RANK], db[NE_MAX_RANK], dout[NE_MAX_RANK];
    for (int i = 0; i < NE_MAX_RANK; i++) {
        int ia = i - (NE_MAX_RANK - a->rank), ib = i - (NE_MAX_RANK - b->rank), io = i - (NE_MAX_RANK - out->rank);
        da[i] = ia >= 0 ? a->dims[ia] : 1;
        db[i] = ib >= 0 ? b->dims[ib] : 1;
        dout[i] = io >= 0 ? out->dims[io] : 1;
        int32_t want = da[i] == 1 ? db[i] : da[i];
        if ((da[i] != 1 && db[i] != 1 && da[i] != db[i]) || want != dout[i]) {
            return op_error(P, "input shapes do not broadcast to the output shape");
        }
        op->out_dims[i] = dout[i];
    }
    int32_t sa = 1, sb = 1;
    for (int i = NE_MAX_RANK - 1; i >= 0; i--) {
        op->in1_strides[i] = da[i] == 1 ? 0 : sa;
        op->in2_strides[i] = db[i] == 1 ? 0 : sb;
        sa *= da[i];
        sb *= db[i];
    }
    op->in_offset = -a->zero_point;
    op->in2_offset = -b->zero_point;
    op->out_offset = out->zero_point;
    op->left_shift = 20;
    ne_real_t s1 = scale_of(a, 0), s2 = scale_of(b, 0), so = scale_of(out, 0);
    ne_real_t twice_max = ne_real_shift(ne_real_cmp(s1, s2) >= 0 ? s1 : s2, 1);
    ne_real_t m1 = ne_real_div(s1, twice_max, 53), m2 = ne_real_div(s2, twice_max, 53);
    ne_real_t mo = ne_real_div(twice_max, ne_real_shift(so, 20), 53);
    ne_real_t one = {1, 0};
    if (ne_real_cmp(mo, one) >= 0) {
        return op_error(P, "output scale too small for the input scales");
    }
    if (!multiplier(P, m1, &op->mult1, &op->shift1) || !multiplier(P, m2, &op->mult2, &op->shift2)
        || !multiplier(P, mo, &op->mult, &op->shift)) {
        return 0;
    }
    if (op->shift1 > 0 || op->shift2 > 0 || op->shift > 0) {
        return op_error(P, "multiplier out of range");
    }
    return activation_range(P, act, out, op);
}

static int prepare_softmax(prep_t *P, ne_op_t *op) {
    ne_tensor_t *in = op_input(P, 0), *out = op_output(P);
    uint32_t beta_bits;
    if (!expect_options(P, OPT_SOFTMAX)) {
        return 0;
    }
    if (P->has_options) {
        if (!fb_u32(&P->L->fb, &P->options, 0, 0, &beta_bits, "SoftmaxOptions.beta")) {
            return 0;
        }
    } else {
        beta_bits = 0;
    }
    if (!require_int8(P, in, "input") || !require_int8(P, out, "output")) {
        return 0;
    }
    if (in->count != out->count || in->rank < 1 || in->dims[in->rank - 1] != out->dims[out->rank - 1]) {
        return op_error(P, "input and output shapes differ");
    }
    if (out->zero_point != -128 || out->scale_bits != 0x3b800000u) {
        return op_error(P, "output must be quantized with scale 1/256 and zero point -128");
    }
    ne_real_t beta;
    if (!ne_real_from_f32(beta_bits, &beta)) {
        return op_error(P, "beta must be positive");
    }
    // PreprocessSoftmaxScaling: min(beta * in_scale * 2^26, 2^31 - 1), > 1.
    ne_real_t real = ne_real_shift(ne_real_mul(beta, scale_of(in, 0)), 26);
    ne_real_t cap = {0x7fffffffu, 0}, one = {1, 0};
    if (ne_real_cmp(real, cap) > 0) {
        real = cap;
    }
    if (ne_real_cmp(real, one) <= 0) {
        return op_error(P, "beta * input scale too small");
    }
    ne_quantize_multiplier(real, &op->mult, &op->left_shift);  // real <= 2^31 - 1: shift <= 31
    if (op->left_shift < 0 || op->left_shift > 31) {
        return op_error(P, "input scale out of range");
    }
    op->diff_min = -(int32_t)((31u << 26) >> op->left_shift);  // TFLM's int64 expression, which fits 32 bits
    op->out_c = in->dims[in->rank - 1];
    op->batches = (int32_t)(in->count / (uint32_t)op->out_c);
    return 1;
}

static int prepare_quantize(prep_t *P, ne_op_t *op) {
    ne_tensor_t *in = op_input(P, 0), *out = op_output(P);
    if (!expect_options(P, OPT_QUANTIZE) || !require_int8(P, out, "output")) {
        return 0;
    }
    if (in->count != out->count) {
        return op_error(P, "input and output sizes differ");
    }
    op->out_offset = out->zero_point;
    op->scale_bits = out->scale_bits;
    if (in->type == NE_FLOAT32) {
        return 1;
    }
    if (!require_int8(P, in, "input")) {
        return 0;
    }
    op->in_offset = -in->zero_point;
    return multiplier(P, ne_real_div(scale_of(in, 0), scale_of(out, 0), 53), &op->mult, &op->shift);
}

static int prepare_dequantize(prep_t *P, ne_op_t *op) {
    ne_tensor_t *in = op_input(P, 0), *out = op_output(P);
    if (!expect_options(P, OPT_DEQUANTIZE) || !require_int8(P, in, "input")) {
        return 0;
    }
    if (out->type != NE_FLOAT32 || in->count != out->count) {
        return op_error(P, "output must be float32 of the input's size");
    }
    op->in_offset = -in->zero_point;
    op->scale_bits = in->scale_bits;
    return 1;
}

static int prepare_concat(prep_t *P, ne_op_t *op) {
    ne_tensor_t *out = op_output(P);
    uint8_t act;
    if (!expect_options(P, OPT_CONCAT) || !opt_i32(P, 0, 0, &op->axis) || !opt_u8(P, 1, 0, &act)) {
        return 0;
    }
    if (!require_int8(P, out, "output")) {
        return 0;
    }
    if (act != ACT_NONE) {
        return op_error(P, "a fused activation is not supported");
    }
    if (op->axis < 0) {
        op->axis += out->rank;
    }
    if (op->axis < 0 || op->axis >= out->rank) {
        return op_error(P, "axis out of range");
    }
    int32_t total = 0;
    for (int k = 0; k < op->n_inputs; k++) {
        ne_tensor_t *in = op_input(P, k);
        if (!require_int8(P, in, "input")) {
            return 0;
        }
        if (in->rank != out->rank || !same_quantization(in, out)) {
            return op_error(P, "inputs must match the output's rank and quantization");
        }
        for (int i = 0; i < out->rank; i++) {
            if (i != op->axis && in->dims[i] != out->dims[i]) {
                return op_error(P, "input shapes differ outside the axis");
            }
        }
        total += in->dims[op->axis];
    }
    if (total != out->dims[op->axis]) {
        return op_error(P, "inputs do not add up to the output along the axis");
    }
    return 1;
}

static int prepare_reshape(prep_t *P, ne_op_t *op) {
    ne_tensor_t *in = op_input(P, 0), *out = op_output(P);
    uint8_t want = op->code == OP_RESHAPE ? OPT_RESHAPE : op->code == OP_SQUEEZE ? OPT_SQUEEZE : OPT_EXPAND_DIMS;
    if (!expect_options(P, want)) {
        return 0;
    }
    if (in->type != out->type || in->count != out->count) {
        return op_error(P, "input and output differ in type or size");
    }
    if (in->type == NE_INT8 && !same_quantization(in, out)) {
        return op_error(P, "input and output quantization differ");
    }
    return 1;
}

// ---------------------------------------------------------------------------
// Measuring, loading, planning

// Operator i's table, its OperatorCode table, and its builtin code
// (max of builtin_code and deprecated_builtin_code, as TFLite's GetBuiltinCode).
static int read_operator(loader_t *L, uint32_t i, fb_table_t *opt, fb_table_t *oc, int32_t *code) {
    uint32_t opcode_index;
    uint8_t dep;
    if (!fb_vector_table(&L->fb, &L->operators, i, opt, "Operator")
        || !fb_u32(&L->fb, opt, OP_OPCODE_INDEX, 0, &opcode_index, "Operator.opcode_index")) {
        return 0;
    }
    if (opcode_index >= L->opcodes.len) {
        ne_errorf(L->err, "malformed model: op %u uses operator code %u of %u", i, opcode_index, L->opcodes.len);
        return 0;
    }
    if (!fb_vector_table(&L->fb, &L->opcodes, opcode_index, oc, "OperatorCode")
        || !fb_u8(&L->fb, oc, OC_DEPRECATED_CODE, 0, &dep, "OperatorCode.deprecated_builtin_code")
        || !fb_i32(&L->fb, oc, OC_BUILTIN_CODE, 0, code, "OperatorCode.builtin_code")) {
        return 0;
    }
    if ((int32_t)(int8_t)dep > *code) {
        *code = (int8_t)dep;
    }
    return 1;
}

// Per-op output channels (conv, depthwise, FC) and scratch needs, from shapes only.
static int op_needs(loader_t *L, uint32_t i, uint32_t *channels, uint32_t *scratch) {
    fb_table_t opt, oc;
    fb_vec_t outs;
    int32_t code;
    *channels = *scratch = 0;
    if (!read_operator(L, i, &opt, &oc, &code)) {
        return 0;
    }
    if (code != OP_CONV_2D && code != OP_DEPTHWISE_CONV_2D && code != OP_FULLY_CONNECTED && code != OP_MEAN) {
        return 1;
    }
    fb_vector(&L->fb, &opt, OP_OUTPUTS, 4, &outs, "Operator.outputs");
    if (L->fb.failed || outs.len != 1) {
        return L->fb.failed ? 0 : 1;  // reported with context by the full load
    }
    int32_t t = vec_i32(L, &outs, 0);
    if (t < 0 || (uint32_t)t >= L->tensors.len) {
        return 1;
    }
    int32_t dims[NE_MAX_RANK];
    uint8_t rank;
    uint32_t count;
    if (!read_shape(L, (uint32_t)t, dims, &rank, &count)) {
        return 0;
    }
    if (code == OP_MEAN) {
        *scratch = count;
    } else if (rank) {
        *channels = (uint32_t)dims[rank - 1];
        *scratch = *channels;  // accumulators: depthwise, and the DSP path's conv and dense
    }
    return 1;
}

static int measure(loader_t *L, uint32_t *meta_bytes, uint32_t *scratch_len) {
    uint64_t bytes = ALIGN_UP(sizeof(ne_model_t), 8)
        + (uint64_t)L->tensors.len * ALIGN_UP(sizeof(ne_tensor_t), 8)
        + (uint64_t)L->operators.len * ALIGN_UP(sizeof(ne_op_t), 8)
        + ALIGN_UP(2 * L->tensors.len, 8) + 8;
    uint32_t scratch = 0;
    for (uint32_t i = 0; i < L->operators.len; i++) {
        uint32_t channels, need;
        if (!op_needs(L, i, &channels, &need)) {
            return 0;
        }
        bytes += 4 * (uint64_t)ALIGN_UP(4 * channels, 8);
        scratch = need > scratch ? need : scratch;
    }
    bytes += ALIGN_UP(4 * scratch + 4, 8);
    if (bytes > (1u << 30)) {
        ne_errorf(L->err, "malformed model: metadata would need %u MB", (uint32_t)(bytes >> 20));
        return 0;
    }
    *meta_bytes = (uint32_t)bytes;
    *scratch_len = scratch;
    return 1;
}

int ne_model_meta_bytes(const uint8_t *model, uint32_t len, uint32_t *meta_bytes, ne_error_t *err) {
    loader_t L;
    uint32_t scratch;
    err->text[0] = 0;
    return read_header(&L, model, len, err) && measure(&L, meta_bytes, &scratch);
}

// SHAPE, and STRIDED_SLICE or PACK of shape values: what a dynamic batch makes of Flatten
// (SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE). Every tensor's shape is static in the model (batch
// 1) and RESHAPE takes its output's, so the values are never needed: the ops are folded away at
// load (never run, nothing in the arena). On data, STRIDED_SLICE and PACK are refused.
static int fold_shape_op(prep_t *P, ne_op_t *op, int32_t code) {
    ne_model_t *m = P->m;
    ne_tensor_t *out = op_output(P);
    for (uint32_t k = 0; k < op->n_inputs; k++) {
        if (op->inputs[k] < 0) {
            return op_error(P, "input tensor index out of range");
        }
        const ne_tensor_t *in = &m->tensors[op->inputs[k]];
        if (!in->is_const && in->first_use < 0) {
            return op_error(P, "reads a tensor that no earlier op produces");
        }
        int shape_value = in->folded || (in->is_const && in->type == NE_INT32);
        if (code == OP_SHAPE || shape_value) {
            continue;  // SHAPE reads only its input's static dimensions
        }
        return op_error(P, code == OP_STRIDED_SLICE
            ? "slices data (not a shape), which edgedl does not run" : "packs data (not shapes), which edgedl does not run");
    }
    if (code == OP_STRIDED_SLICE && !m->tensors[op->inputs[0]].folded) {
        return op_error(P, "slices a constant, which edgedl does not run");
    }
    if (out->type != NE_INT32 || out->rank > 1) {
        return op_error(P, "a shape computation must make an int32 scalar or vector");
    }
    op->folded = 1;
    out->folded = 1;
    out->first_use = out->last_use = (int16_t)(P->index + 1);
    return 1;
}

static int read_op(prep_t *P, uint32_t i) {
    loader_t *L = P->L;
    ne_model_t *m = P->m;
    ne_op_t *op = &m->ops[i];
    fb_table_t opt, oc;
    fb_vec_t ins, outs;
    int32_t code;
    P->index = i;
    if (!read_operator(L, i, &opt, &oc, &code)) {
        return 0;
    }
    fb_vec_t custom_code;
    if (fb_vector(&L->fb, &oc, OC_CUSTOM_CODE, 1, &custom_code, "OperatorCode.custom_code") || code == 32) {
        ne_errorf(L->err, "unsupported model: op %u is a custom operator", i);
        return 0;
    }
    if (!is_supported(code)) {
        const char *name = op_name(code);
        if (name) {
            ne_errorf(L->err, "unsupported model: op %u is %s, which edgedl does not run", i, name);
        } else {
            ne_errorf(L->err, "unsupported model: op %u has builtin code %d, which edgedl does not run", i, code);
        }
        return 0;
    }
    op->code = (uint8_t)code;
    fb_vector(&L->fb, &opt, OP_INPUTS, 4, &ins, "Operator.inputs");
    fb_vector(&L->fb, &opt, OP_OUTPUTS, 4, &outs, "Operator.outputs");
    if (!fb_u8(&L->fb, &opt, OP_OPTIONS_TYPE, 0, &P->options_type, "Operator.builtin_options_type")) {
        return 0;
    }
    P->has_options = fb_table(&L->fb, &opt, OP_OPTIONS, &P->options, "Operator.builtin_options");
    if (L->fb.failed) {
        return 0;
    }
    if (outs.len != 1 || ins.len < 1 || ins.len > NE_MAX_OP_INPUTS) {
        return op_error(P, "must have 1 output and 1 to 10 inputs");
    }
    op->n_inputs = (uint8_t)ins.len;
    for (uint32_t k = 0; k < ins.len; k++) {
        int32_t t = vec_i32(L, &ins, k);
        int optional = t == -1 && k == 2 && (code == OP_CONV_2D || code == OP_DEPTHWISE_CONV_2D
                                             || code == OP_FULLY_CONNECTED);
        if (!optional && (t < 0 || (uint32_t)t >= m->n_tensors)) {
            return op_error(P, "input tensor index out of range");
        }
        op->inputs[k] = (int16_t)t;
    }
    int32_t t = vec_i32(L, &outs, 0);
    if (t < 0 || (uint32_t)t >= m->n_tensors) {
        return op_error(P, "output tensor index out of range");
    }
    op->output = (int16_t)t;
    ne_tensor_t *out = &m->tensors[t];
    if (out->is_const || out->first_use >= 0) {
        return op_error(P, "output is a constant or already produced");
    }
    if (code == OP_SHAPE || code == OP_STRIDED_SLICE || code == OP_PACK) {
        return fold_shape_op(P, op, code);
    }
    // Every non-constant input must exist already: the graph input or an earlier op's output.
    for (uint32_t k = 0; k < ins.len; k++) {
        if (op->inputs[k] < 0) {
            continue;
        }
        ne_tensor_t *in = &m->tensors[op->inputs[k]];
        if (!in->is_const && in->first_use < 0) {
            return op_error(P, "reads a tensor that no earlier op produces");
        }
        if (in->folded && !(code == OP_RESHAPE && k == 1)) {
            return op_error(P, "computes on a shape value, which edgedl folds at load (only RESHAPE may take it)");
        }
        if (!in->is_const) {
            in->last_use = (int16_t)(i + 1);
        }
    }
    out->first_use = out->last_use = (int16_t)(i + 1);
    int needs_two = code == OP_CONV_2D || code == OP_DEPTHWISE_CONV_2D || code == OP_FULLY_CONNECTED
        || code == OP_MEAN || code == OP_ADD;
    if (needs_two && ins.len < 2) {
        return op_error(P, "missing inputs");
    }
    switch (code) {
        case OP_CONV_2D: return prepare_conv(P, op, 0);
        case OP_DEPTHWISE_CONV_2D: return prepare_conv(P, op, 1);
        case OP_FULLY_CONNECTED: return prepare_fully_connected(P, op);
        case OP_MAX_POOL_2D:
        case OP_AVERAGE_POOL_2D: return prepare_pool(P, op);
        case OP_MEAN: return prepare_mean(P, op);
        case OP_ADD: return prepare_add(P, op);
        case OP_SOFTMAX: return prepare_softmax(P, op);
        case OP_QUANTIZE: return prepare_quantize(P, op);
        case OP_DEQUANTIZE: return prepare_dequantize(P, op);
        case OP_CONCATENATION: return prepare_concat(P, op);
        default: return prepare_reshape(P, op);
    }
}

// TFLM's GreedyMemoryPlanner: largest first, each at the lowest offset that
// does not overlap (in memory and lifetime) a buffer placed before it.
static void plan_arena(ne_model_t *m, int16_t *order) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < m->n_tensors; i++) {
        if (m->tensors[i].planned) {
            order[n++] = (int16_t)i;
        }
    }
    for (uint32_t i = 1; i < n; i++) {  // insertion sort: size descending, then index
        int16_t v = order[i];
        uint32_t size = ALIGN_UP(m->tensors[v].bytes, 16);
        uint32_t j = i;
        while (j > 0 && ALIGN_UP(m->tensors[order[j - 1]].bytes, 16) < size) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = v;
    }
    uint32_t head = 0;
    for (uint32_t i = 0; i < n; i++) {
        ne_tensor_t *t = &m->tensors[order[i]];
        uint32_t size = ALIGN_UP(t->bytes, 16), offset = 0;
        // Raise the candidate offset past every conflicting placed buffer until it fits.
        int moved = 1;
        while (moved) {
            moved = 0;
            for (uint32_t j = 0; j < i; j++) {
                ne_tensor_t *o = &m->tensors[order[j]];
                uint32_t osize = ALIGN_UP(o->bytes, 16);
                int time_overlap = t->first_use <= o->last_use && o->first_use <= t->last_use;
                if (time_overlap && offset < o->arena_offset + osize && o->arena_offset < offset + size) {
                    offset = o->arena_offset + osize;
                    moved = 1;
                }
            }
        }
        t->arena_offset = offset;
        if (offset + size > head) {
            head = offset + size;
        }
    }
    m->arena_bytes = head;
}

static void find_embedding(ne_model_t *m);

int ne_model_load(const uint8_t *model, uint32_t len, void *meta, uint32_t meta_bytes,
    ne_model_t **out, ne_error_t *err) {
    loader_t L;
    uint32_t need, scratch_len;
    err->text[0] = 0;
    if (!read_header(&L, model, len, err) || !measure(&L, &need, &scratch_len)) {
        return 0;
    }
    if (need > meta_bytes || ((uintptr_t)meta & 7)) {
        ne_errorf(err, "metadata block too small (%u bytes, needs %u) or misaligned", meta_bytes, need);
        return 0;
    }
    bump_t b = {meta, 0, meta_bytes};
    ne_model_t *m = bump_alloc(&b, sizeof(ne_model_t));
    m->model = model;
    m->n_tensors = L.tensors.len;
    m->n_ops = L.operators.len;
    m->tensors = bump_alloc(&b, m->n_tensors * sizeof(ne_tensor_t));
    m->ops = bump_alloc(&b, m->n_ops * sizeof(ne_op_t));
    int16_t *order = bump_alloc(&b, 2 * m->n_tensors);
    int32_t *scratch = bump_alloc(&b, 4 * scratch_len + 4);
    if (!m->tensors || !m->ops || !order || !scratch) {
        ne_errorf(err, "internal: model metadata larger than measured");
        return 0;
    }
    for (uint32_t i = 0; i < m->n_tensors; i++) {
        ne_tensor_t *t = &m->tensors[i];
        t->first_use = t->last_use = -1;
        if (!read_tensor(&L, i, t)) {
            return 0;
        }
    }
    int32_t gin = vec_i32(&L, &L.inputs, 0), gout = vec_i32(&L, &L.outputs, 0);
    if (gin < 0 || (uint32_t)gin >= m->n_tensors || gout < 0 || (uint32_t)gout >= m->n_tensors) {
        ne_errorf(err, "malformed model: graph input or output tensor index out of range");
        return 0;
    }
    ne_tensor_t *tin = &m->tensors[gin], *tout = &m->tensors[gout];
    if (tin->is_const || (tin->type != NE_INT8 && tin->type != NE_FLOAT32)
        || (tout->type != NE_INT8 && tout->type != NE_FLOAT32)) {
        ne_errorf(err, "unsupported model: graph input and output must be int8 or float32 activations");
        return 0;
    }
    m->input = (int16_t)gin;
    m->output = (int16_t)gout;
    tin->first_use = tin->last_use = 0;

    prep_t P = {&L, m, &b, 0, {0, 0, 0, 0}, 0, 0, scratch, scratch_len};
    for (uint32_t i = 0; i < m->n_ops; i++) {
        if (!read_op(&P, i)) {
            return 0;
        }
    }
    if (tout->first_use < 0 || tout->is_const || tout->folded) {
        ne_errorf(err, "malformed model: no op produces the graph output");
        return 0;
    }
    tout->last_use = (int16_t)m->n_ops;
    find_embedding(m);
    // Plan every non-constant tensor that is used.
    for (uint32_t i = 0; i < m->n_tensors; i++) {
        ne_tensor_t *t = &m->tensors[i];
        t->planned = !t->is_const && t->first_use >= 0 && !t->folded;
        if (t->planned && t->type == NE_INT32) {
            ne_errorf(err, "unsupported model: int32 activation tensor %u", i);
            return 0;
        }
    }
    plan_arena(m, order);
    *out = m;
    return 1;
}

// The classifier head is a FULLY_CONNECTED op feeding the final SOFTMAX. Its int8 input is
// the model's embedding: it lives to the end of invoke (the planner does not reuse it), so
// that the board can re-fit a classifier on it (calibration).
static void find_embedding(ne_model_t *m) {
    m->embedding = -1;
    if (m->n_ops < 2) {
        return;
    }
    const ne_op_t *last = &m->ops[m->n_ops - 1];
    if (last->code != OP_SOFTMAX || last->output != m->output) {
        return;
    }
    for (int32_t i = (int32_t)m->n_ops - 2; i >= 0; i--) {
        const ne_op_t *op = &m->ops[i];
        if (op->output == last->inputs[0]) {
            ne_tensor_t *t = &m->tensors[op->inputs[0]];
            if (op->code == OP_FULLY_CONNECTED && t->type == NE_INT8 && !t->is_const) {
                t->last_use = (int16_t)m->n_ops;
                m->embedding = op->inputs[0];
            }
            return;
        }
    }
}

uint32_t ne_model_arena_bytes(const ne_model_t *m) {
    return m->arena_bytes;
}

void ne_model_set_arena(ne_model_t *m, void *arena) {
    m->arena = arena;
}

static void io_info(const ne_tensor_t *t, ne_io_info_t *info) {
    info->type = t->type;
    info->rank = t->rank;
    for (int i = 0; i < NE_MAX_RANK; i++) {
        info->dims[i] = i < t->rank ? t->dims[i] : 0;
    }
    info->bytes = t->bytes;
    info->scale_bits = t->scale_bits;
    info->zero_point = t->zero_point;
}

void ne_model_info(const ne_model_t *m, ne_io_info_t *input, ne_io_info_t *output) {
    io_info(&m->tensors[m->input], input);
    io_info(&m->tensors[m->output], output);
}

static uint8_t *tensor_data(ne_model_t *m, int16_t index);

int ne_model_embedding_info(const ne_model_t *m, ne_io_info_t *info) {
    if (m->embedding < 0) {
        return 0;
    }
    io_info(&m->tensors[m->embedding], info);
    return 1;
}

void ne_model_embedding(ne_model_t *m, void *out) {
    ne_copy(out, tensor_data(m, m->embedding), m->tensors[m->embedding].bytes);
}

uint32_t ne_model_op_count(const ne_model_t *m) {
    return m->n_ops;
}

uint32_t ne_model_macs(const ne_model_t *m) {
    uint32_t total = 0;
    for (uint32_t i = 0; i < m->n_ops; i++) {
        total += m->ops[i].macs;
    }
    return total;
}

// ---------------------------------------------------------------------------
// Invoke

static uint8_t *tensor_data(ne_model_t *m, int16_t index) {
    ne_tensor_t *t = &m->tensors[index];
    return t->is_const ? (uint8_t *)t->data : m->arena + t->arena_offset;
}

void ne_model_invoke(ne_model_t *m, const void *input, void *output) {
    ne_copy(tensor_data(m, m->input), input, m->tensors[m->input].bytes);
    for (uint32_t i = 0; i < m->n_ops; i++) {
        const ne_op_t *op = &m->ops[i];
        if (op->folded) {
            continue;  // a shape computation, done at load
        }
        const int8_t *in = (const int8_t *)tensor_data(m, op->inputs[0]);
        int8_t *out = (int8_t *)tensor_data(m, op->output);
        switch (op->code) {
            case OP_CONV_2D:
                ne_conv2d(op, in, (const int8_t *)tensor_data(m, op->inputs[1]), out);
                break;
            case OP_DEPTHWISE_CONV_2D:
                ne_depthwise_conv2d(op, in, (const int8_t *)tensor_data(m, op->inputs[1]), out);
                break;
            case OP_FULLY_CONNECTED:
                ne_fully_connected(op, in, (const int8_t *)tensor_data(m, op->inputs[1]), out);
                break;
            case OP_MAX_POOL_2D:
                ne_max_pool(op, in, out);
                break;
            case OP_AVERAGE_POOL_2D:
                ne_average_pool(op, in, out);
                break;
            case OP_MEAN:
                ne_mean(op, in, out);
                break;
            case OP_ADD:
                ne_add(op, in, (const int8_t *)tensor_data(m, op->inputs[1]), out);
                break;
            case OP_SOFTMAX:
                ne_softmax(op, in, out);
                break;
            case OP_QUANTIZE:
                if (m->tensors[op->inputs[0]].type == NE_FLOAT32) {
                    ne_quantize_f32(op, (const uint8_t *)in, out, m->tensors[op->output].count);
                } else {
                    ne_requantize(op, in, out, m->tensors[op->output].count);
                }
                break;
            case OP_DEQUANTIZE:
                ne_dequantize(op, in, (uint8_t *)out, m->tensors[op->output].count);
                break;
            case OP_CONCATENATION: {
                // outer x (axis x inner) blocks, inputs side by side.
                const ne_tensor_t *t = &m->tensors[op->output];
                uint32_t outer = 1, inner = 1;
                for (int d = 0; d < op->axis; d++) {
                    outer *= (uint32_t)t->dims[d];
                }
                for (int d = op->axis + 1; d < t->rank; d++) {
                    inner *= (uint32_t)t->dims[d];
                }
                int8_t *dst = out;
                for (uint32_t o = 0; o < outer; o++) {
                    for (int k = 0; k < op->n_inputs; k++) {
                        uint32_t chunk = (uint32_t)m->tensors[op->inputs[k]].dims[op->axis] * inner;
                        ne_copy(dst, tensor_data(m, op->inputs[k]) + o * chunk, chunk);
                        dst += chunk;
                    }
                }
                break;
            }
            default:  // RESHAPE, SQUEEZE, EXPAND_DIMS
                ne_copy(out, in, m->tensors[op->output].bytes);
                break;
        }
    }
    ne_copy(output, tensor_data(m, m->output), m->tensors[m->output].bytes);
}
