// EdgeDL engine internals shared by the loader and the op kernels.
//
// Every op edgedl runs is one row of the op table (ne_op_kind_t, see edgedl_ops.c): its builtin
// code, the options it takes, how many inputs and outputs, its parameter block's size, its
// prepare (checks and precomputation at load, as TFLite Micro's Prepare) and its eval (the kernel,
// run by invoke). An op's prepare, eval and row live together in one edgedl_ops_*.c file.
#ifndef EDGEDL_INTERNAL_H
#define EDGEDL_INTERNAL_H

#include "edgedl_engine.h"
#include "edgedl_quant.h"
#include "edgedl_tflite.h"

// TFLite builtin operator codes (schema.fbs BuiltinOperator) that the op table names.
enum {
    OP_ADD = 0,
    OP_AVERAGE_POOL_2D = 1,
    OP_CONCATENATION = 2,
    OP_CONV_2D = 3,
    OP_DEPTHWISE_CONV_2D = 4,
    OP_DEQUANTIZE = 6,
    OP_FULLY_CONNECTED = 9,
    OP_LOGISTIC = 14,
    OP_MAX_POOL_2D = 17,
    OP_MUL = 18,
    OP_RELU = 19,
    OP_RELU6 = 21,
    OP_RESHAPE = 22,
    OP_SOFTMAX = 25,
    OP_TANH = 28,
    OP_CUSTOM = 32,
    OP_PAD = 34,
    OP_GATHER = 36,
    OP_BATCH_TO_SPACE_ND = 37,
    OP_SPACE_TO_BATCH_ND = 38,
    OP_TRANSPOSE = 39,
    OP_MEAN = 40,
    OP_SUB = 41,
    OP_SQUEEZE = 43,
    OP_STRIDED_SLICE = 45,  // folded at load when it slices a shape (a dynamic-batch Flatten)
    OP_SPLIT = 49,
    OP_MAXIMUM = 55,
    OP_MINIMUM = 57,
    OP_PADV2 = 60,
    OP_SLICE = 65,
    OP_EXPAND_DIMS = 70,
    OP_SUM = 74,
    OP_SHAPE = 77,          // folded at load
    OP_REDUCE_MAX = 82,
    OP_PACK = 83,           // folded at load when it packs shape values
    OP_SPLIT_V = 102,
    OP_LEAKY_RELU = 98,
    OP_QUANTIZE = 114,
    OP_HARD_SWISH = 117,
    OP_BATCH_MATMUL = 126,
};

// BuiltinOptions union ids (schema.fbs), the options each op row takes.
enum {
    OPT_NONE = 0, OPT_CONV = 1, OPT_DEPTHWISE = 2, OPT_POOL = 5, OPT_FC = 8, OPT_SOFTMAX = 9,
    OPT_CONCAT = 10, OPT_ADD = 11, OPT_RESHAPE = 17, OPT_MUL = 21, OPT_PAD = 22, OPT_GATHER = 23,
    OPT_BATCH_TO_SPACE = 24, OPT_SPACE_TO_BATCH = 25, OPT_TRANSPOSE = 26, OPT_REDUCER = 27, OPT_SUB = 28,
    OPT_SQUEEZE = 30, OPT_STRIDED_SLICE = 32, OPT_SPLIT = 35, OPT_DEQUANTIZE = 38, OPT_MAXMIN = 39,
    OPT_PADV2 = 43, OPT_SLICE = 48, OPT_EXPAND_DIMS = 52, OPT_SHAPE = 55, OPT_PACK = 59,
    OPT_LEAKY_RELU = 75, OPT_SPLIT_V = 79, OPT_QUANTIZE = 89, OPT_HARD_SWISH = 91, OPT_BATCH_MATMUL = 101,
};

enum { ACT_NONE = 0, ACT_RELU = 1, ACT_RELU_N1_TO_1 = 2, ACT_RELU6 = 3 };

// 44 bytes: the parsed model keeps one per tensor of the graph, constants included.
typedef struct {
    int32_t dims[NE_MAX_RANK];
    uint32_t count;         // elements
    uint32_t offset;        // a constant's data in the model (any alignment), or a planned tensor's in the arena
    uint32_t scale_bits;    // float32 bits of scale[0]
    uint32_t scales_at;     // the little-endian float32 scales in the model (n_scales of them)
    uint16_t n_scales;      // per-channel scales in the model
    int16_t zero_point;
    uint8_t rank;
    uint8_t type;
    uint8_t is_const;
    uint8_t planned;        // lives in the arena
    uint8_t folded;         // a shape value the loader folded away: no data, read only by shape ops
    uint8_t quantized_dimension;
    uint8_t batch_factor;   // > 1: its batch is this times the model's (between SPACE_TO_BATCH_ND and
                            // BATCH_TO_SPACE_ND, where the converter writes the input's batch)
} ne_tensor_t;

static inline uint32_t ne_tensor_bytes(const ne_tensor_t *t) {
    return t->type == NE_INT8 ? t->count : 4 * t->count;  // int8, or int32 and float32
}

typedef struct ne_op_kind ne_op_kind_t;

// One op of the graph: its row of the op table, its tensors and its parameter block.
typedef struct {
    const ne_op_kind_t *kind;
    int16_t *io;            // n_inputs input tensor indices (-1: optional, absent), then the outputs
    void *params;           // the kind's parameter block, filled by its prepare
    uint32_t macs;
    uint8_t n_inputs, n_outputs;
    uint8_t folded;         // computes a shape only (SHAPE, STRIDED_SLICE, PACK): nothing to run
} ne_op_t;

// Where a tensor's data is at invoke: an offset in the arena, or in the model with NE_IN_MODEL.
#define NE_IN_MODEL 0x80000000u

// The parsed model (in the caller's meta block). Tensors' shapes and quantization are needed only
// by the ops' prepare, in the loader's work area; invoke needs only where each tensor's data is.
struct ne_model {
    const uint8_t *model;
    uint8_t *arena;
    uint32_t *where;        // per tensor
    ne_op_t *ops;
    uint32_t n_tensors, n_ops;
    int16_t input, output;
    int16_t embedding;      // the classifier head's int8 input (-1: no head found)
    uint32_t arena_bytes;
    ne_io_info_t input_info, output_info, embedding_info;
};

// ---------------------------------------------------------------------------
// Prepare: what an op's prepare function gets, and the helpers they share (edgedl_prepare.c)

typedef struct {
    fb_t *fb;               // the model's flatbuffer
    ne_model_t *m;
    ne_tensor_t *tensors;   // every tensor's shape and quantization (the loader's work area)
    ne_error_t *err;
    uint8_t *meta;          // the caller's block: meta_used of meta_cap bytes handed out
    uint32_t meta_used, meta_cap;
    uint32_t index;         // op index, for messages
    fb_table_t options;     // the op's builtin options table
    int has_options;
    int32_t *scratch;       // shared by every op (int32 accumulators, sums)
    uint32_t scratch_len;
} ne_prep_t;

// The op table row.
struct ne_op_kind {
    const char *name;
    uint8_t code;
    uint8_t options;            // the BuiltinOptions type it reads (OPT_NONE: none)
    uint8_t min_inputs, max_inputs;
    uint8_t max_outputs;
    uint8_t flags;              // NE_KIND_* below
    uint16_t params_bytes;      // its parameter block
    int (*prepare)(ne_prep_t *P, ne_op_t *op);
    void (*eval)(ne_model_t *m, const ne_op_t *op);
};

enum {
    NE_KIND_OPTIONAL_BIAS = 1,   // input 2 may be absent (-1)
    NE_KIND_CHANNEL_ARRAYS = 2,  // per output channel multiplier, shift and addend (convolutions, dense)
    NE_KIND_SCRATCH_CHANNELS = 4,  // int32 scratch of the output's last dimension
    NE_KIND_SCRATCH_OUTPUT = 8,  // int32 scratch of the output's size (reductions)
    NE_KIND_SHAPE_INPUT1 = 16,   // input 1 may be a folded shape value (RESHAPE)
    NE_KIND_SHAPE_OP = 32,       // may compute on shape values, folded at load (its prepare decides)
};

// The DSP kernels of ARMv7E-M and later (Cortex-M4/M7/M33; NE_PORTABLE turns them off, see
// edgedl_ops_conv.c) accumulate all output channels of a position at once, in int32 scratch.
#if defined(__ARM_FEATURE_SIMD32) && __ARM_FEATURE_SIMD32 && !defined(NE_PORTABLE)
#define NE_DSP 1
#define NE_KIND_DSP_SCRATCH NE_KIND_SCRATCH_CHANNELS
#else
#define NE_DSP 0
#define NE_KIND_DSP_SCRATCH 0
#endif

const ne_op_kind_t *ne_op_kind(int32_t code);
// The schema's name of any builtin code (0 if the code is beyond the schema).
const char *ne_builtin_name(int32_t code, char *buf, uint32_t len);
// Why edgedl refuses a builtin code that has no row, in a few words.
const char *ne_refusal_reason(int32_t code);

// Errors name the op ("op 3 (CONV_2D): ..."); all return 0.
int ne_op_error(ne_prep_t *P, const char *problem);
const char *ne_op_name(ne_prep_t *P);
ne_tensor_t *ne_prep_input(ne_prep_t *P, const ne_op_t *op, int k);
ne_tensor_t *ne_prep_output(ne_prep_t *P, const ne_op_t *op, int k);
// Builtin option fields of the op (absent options or fields give the default).
int ne_opt_u8(ne_prep_t *P, int field, uint8_t def, uint8_t *out);
int ne_opt_i32(ne_prep_t *P, int field, int32_t def, int32_t *out);
int ne_opt_u32(ne_prep_t *P, int field, uint32_t def, uint32_t *out);
const char *ne_type_name(uint8_t type);
int ne_require_int8(ne_prep_t *P, const ne_tensor_t *t, const char *which);
// A constant int32 tensor's values (count <= max), for axes, paddings, begins and sizes.
int ne_const_i32(ne_prep_t *P, const ne_tensor_t *t, const char *which, int32_t *values, uint32_t max);
int ne_same_quantization(const ne_tensor_t *a, const ne_tensor_t *b);
ne_real_t ne_scale_of(const ne_prep_t *P, const ne_tensor_t *t, uint32_t i);
float ne_f32_from_bits(uint32_t bits);
// QuantizeMultiplier, refusing what the kernels cannot shift.
int ne_multiplier(ne_prep_t *P, ne_real_t value, int32_t *mult, int32_t *shift);
// CalculateActivationRangeQuantized for a fused activation.
int ne_activation_range(ne_prep_t *P, uint8_t act, const ne_tensor_t *out, int32_t *lo, int32_t *hi);
void *ne_prep_alloc(ne_prep_t *P, uint32_t bytes);
// Multiplies the tensor's batch (dimension 0) by factor and records it (see ne_tensor_t.batch_factor).
int ne_scale_batch(ne_prep_t *P, ne_tensor_t *t, uint32_t factor);
// Shapes right-aligned to 4-D with broadcasting strides (0 where a dimension is 1).
typedef struct {
    int32_t dims[NE_MAX_RANK];
    int32_t stride1[NE_MAX_RANK], stride2[NE_MAX_RANK];
} ne_broadcast_t;
int ne_broadcast(ne_prep_t *P, const ne_tensor_t *a, const ne_tensor_t *b, const ne_tensor_t *out, ne_broadcast_t *bc);
// The 4-D view of a tensor (leading 1s).
void ne_dims4(const ne_tensor_t *t, int32_t *dims);

// ---------------------------------------------------------------------------
// Eval: tensor data at invoke

static inline uint8_t *ne_tensor_data(const ne_model_t *m, int16_t index) {
    uint32_t where = m->where[index];
    return where & NE_IN_MODEL ? (uint8_t *)m->model + (where & ~NE_IN_MODEL) : m->arena + where;
}

// A constant tensor's data in the model, at load.
static inline const uint8_t *ne_const_data(const ne_prep_t *P, const ne_tensor_t *t) {
    return P->m->model + t->offset;
}

static inline const int8_t *ne_in(const ne_model_t *m, const ne_op_t *op, int k) {
    return (const int8_t *)ne_tensor_data(m, op->io[k]);
}

static inline int8_t *ne_out(const ne_model_t *m, const ne_op_t *op, int k) {
    return (int8_t *)ne_tensor_data(m, op->io[op->n_inputs + k]);
}

// Error formatting: %d %u %s only (no libc on the MCU).
void ne_errorf(ne_error_t *err, const char *fmt, ...);
void ne_copy(void *dst, const void *src, uint32_t bytes);

// ---------------------------------------------------------------------------
// Parameter blocks (TFLM's OpData): what each prepare computes and its eval reads

// CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED
typedef struct {
    int32_t batches, in_h, in_w, in_c, out_h, out_w, out_c;
    int32_t filter_h, filter_w, stride_h, stride_w, dilation_h, dilation_w, pad_h, pad_w;
    int32_t depth_multiplier, filter_in_c;
    int32_t in_offset, out_offset, act_min, act_max;
    int32_t *ch_mult, *ch_add;  // per output channel: multiplier; bias (+ in_offset * weight sum)
    int8_t *ch_shift;
    int32_t *scratch;
} ne_conv_t;

typedef struct {
    int32_t batches, in_h, in_w, depth, out_h, out_w;
    int32_t filter_h, filter_w, stride_h, stride_w, pad_h, pad_w;
    int32_t act_min, act_max;
} ne_pool_t;

// MEAN, SUM, REDUCE_MAX
typedef struct {
    int32_t dims[NE_MAX_RANK];  // the input as 4-D
    uint8_t reduce_mask;        // bit i: axis i is reduced
    uint8_t take_max;           // REDUCE_MAX
    int32_t reduce_count, in_offset, out_offset, mult, shift;
    int32_t *scratch;
} ne_reduce_t;

// ADD, SUB, MUL, MAXIMUM, MINIMUM
typedef struct {
    ne_broadcast_t shape;
    int32_t in1_offset, in2_offset, out_offset;
    int32_t mult1, shift1, mult2, shift2, mult, shift;
    int32_t act_min, act_max;
} ne_binary_t;

// RELU, RELU6, LEAKY_RELU, LOGISTIC, TANH, HARD_SWISH: the output for every int8 input
typedef struct {
    uint32_t count;
    int8_t value[256];  // value[x + 128]
} ne_table_t;

typedef struct {
    int32_t batches, depth;
    int32_t mult, left_shift, diff_min;
} ne_softmax_t;

// QUANTIZE (float32 -> int8, or int8 -> int8 requantization) and DEQUANTIZE
typedef struct {
    uint32_t count;
    uint32_t scale_bits;    // float32 scale of the float side
    int32_t in_offset, out_offset, mult, shift;
    uint8_t from_float;
} ne_quantize_t;

// RESHAPE, SQUEEZE, EXPAND_DIMS
typedef struct {
    uint32_t bytes;
} ne_reshape_t;

// CONCATENATION, SPLIT, SPLIT_V: outer blocks of one chunk per input (or output) each
typedef struct {
    uint32_t outer;
    uint32_t chunk[NE_MAX_OP_INPUTS > NE_MAX_OP_OUTPUTS ? NE_MAX_OP_INPUTS : NE_MAX_OP_OUTPUTS];
    uint8_t data_input;     // SPLIT: 1 (its axis comes first)
} ne_concat_t;

// STRIDED_SLICE, SLICE, TRANSPOSE: the output read from the input through a 4-D view
typedef struct {
    int32_t dims[NE_MAX_RANK];  // the output, 4-D
    int32_t step[NE_MAX_RANK];  // input elements per step of each output axis
    int32_t start;              // input element of output element 0
} ne_view_t;

typedef struct {
    uint32_t batch, outer, inner, per_batch;  // per_batch: positions per batch
    int32_t n;                                // the gathered axis
} ne_gather_t;

// PAD, PADV2
typedef struct {
    int32_t in_dims[NE_MAX_RANK], out_dims[NE_MAX_RANK], before[NE_MAX_RANK];
    int8_t value;
} ne_pad_t;

typedef struct {
    int32_t batches[2], rows, cols, depth;
    int32_t lhs_batch[2], rhs_batch[2];      // element strides per batch index (0: broadcast)
    int32_t lhs_row, lhs_k, rhs_k, rhs_col;  // element strides inside a batch
    int32_t lhs_offset, rhs_offset, out_offset, mult, shift;
} ne_matmul_t;

// SPACE_TO_BATCH_ND, BATCH_TO_SPACE_ND (rank 3 is viewed as [N, H, 1, C])
typedef struct {
    int32_t in_dims[NE_MAX_RANK], out_dims[NE_MAX_RANK];
    int32_t block_h, block_w, top, left;  // paddings before (or crops before)
    int8_t value;                         // SPACE_TO_BATCH_ND's padding: the output's zero point
} ne_space_batch_t;

// Geometry shared by convolution and pooling prepares (edgedl_ops_conv.c).
int ne_conv_axis(ne_prep_t *P, int32_t in, int32_t filter, int32_t stride, int32_t dilation, uint8_t padding,
    int32_t out_expected, int32_t *pad);
int ne_nhwc(ne_prep_t *P, const ne_tensor_t *t, const char *which, int32_t *n, int32_t *h, int32_t *w, int32_t *c);

void ne_conv2d(const ne_conv_t *p, const int8_t *in, const int8_t *filter, int8_t *out);
void ne_depthwise_conv2d(const ne_conv_t *p, const int8_t *in, const int8_t *filter, int8_t *out);
void ne_fully_connected(const ne_conv_t *p, const int8_t *in, const int8_t *filter, int8_t *out);

#endif // EDGEDL_INTERNAL_H
