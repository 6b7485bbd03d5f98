// EdgeDL engine internals shared by the loader and the op kernels.
#ifndef EDGEDL_INTERNAL_H
#define EDGEDL_INTERNAL_H

#include "edgedl_engine.h"

// TFLite builtin operator codes (schema.fbs BuiltinOperator).
enum {
    OP_ADD = 0,
    OP_AVERAGE_POOL_2D = 1,
    OP_CONCATENATION = 2,
    OP_CONV_2D = 3,
    OP_DEPTHWISE_CONV_2D = 4,
    OP_DEQUANTIZE = 6,
    OP_FULLY_CONNECTED = 9,
    OP_MAX_POOL_2D = 17,
    OP_RESHAPE = 22,
    OP_SOFTMAX = 25,
    OP_MEAN = 40,
    OP_SQUEEZE = 43,
    OP_STRIDED_SLICE = 45,  // folded at load when it slices a shape (a dynamic-batch Flatten)
    OP_EXPAND_DIMS = 70,
    OP_SHAPE = 77,          // folded at load
    OP_PACK = 83,           // folded at load when it packs shape values
    OP_QUANTIZE = 114,
};

typedef struct {
    int32_t dims[NE_MAX_RANK];
    uint8_t rank;
    uint8_t type;
    uint8_t is_const;
    uint8_t planned;        // lives in the arena
    uint8_t folded;         // a shape value the loader folded away: no data, read only by shape ops
    uint32_t count;         // elements
    uint32_t bytes;
    const uint8_t *data;    // constant data in the model (any alignment)
    uint32_t arena_offset;
    int32_t zero_point;
    uint32_t scale_bits;    // float32 bits of scale[0]
    uint32_t n_scales;      // per-channel scales in the model
    const uint8_t *scales;  // little-endian float32 array in the model
    int32_t quantized_dimension;
    int16_t first_use, last_use;  // op scopes, for the planner
} ne_tensor_t;

typedef struct {
    uint8_t code;
    uint8_t n_inputs;
    uint8_t act;            // fused activation
    uint8_t folded;         // computes a shape only (SHAPE, STRIDED_SLICE, PACK): nothing to run
    int16_t inputs[NE_MAX_OP_INPUTS];
    int16_t output;
    // geometry, NHWC views (1-D models have H == 1)
    int32_t batches, in_h, in_w, in_c, out_h, out_w, out_c;
    int32_t filter_h, filter_w, stride_h, stride_w, dilation_h, dilation_w, pad_h, pad_w;
    int32_t depth_multiplier, filter_in_c;
    // quantization
    int32_t in_offset, in2_offset, out_offset;   // -zp of inputs, +zp of output
    int32_t act_min, act_max;
    int32_t mult, shift, mult1, shift1, mult2, shift2;
    int32_t left_shift, diff_min, reduce_count;
    uint32_t scale_bits;    // QUANTIZE/DEQUANTIZE float scale
    int32_t *ch_mult, *ch_shift, *bias, *wsum;  // per output channel (meta block)
    int32_t *scratch;       // MEAN sums, per-channel accumulators (shared by all ops)
    // generic shape bookkeeping (ADD broadcast, MEAN, CONCAT)
    int32_t out_dims[NE_MAX_RANK];
    int32_t in1_strides[NE_MAX_RANK], in2_strides[NE_MAX_RANK];
    uint8_t reduce_mask;    // MEAN: bit i set if axis i is reduced
    int32_t axis;           // CONCATENATION axis
    uint32_t macs;
} ne_op_t;

struct ne_model {
    const uint8_t *model;
    uint8_t *arena;
    ne_tensor_t *tensors;
    ne_op_t *ops;
    uint32_t n_tensors, n_ops;
    int16_t input, output;
    int16_t embedding;      // the classifier head's int8 input (-1: no head found)
    uint32_t arena_bytes;
};

// Error formatting: %d %u %s only (no libc on the MCU).
void ne_errorf(ne_error_t *err, const char *fmt, ...);

// Kernels: geometry and requantization were validated and precomputed at load.
void ne_conv2d(const ne_op_t *op, const int8_t *in, const int8_t *filter, int8_t *out);
void ne_depthwise_conv2d(const ne_op_t *op, const int8_t *in, const int8_t *filter, int8_t *out);
void ne_fully_connected(const ne_op_t *op, const int8_t *in, const int8_t *filter, int8_t *out);
void ne_max_pool(const ne_op_t *op, const int8_t *in, int8_t *out);
void ne_average_pool(const ne_op_t *op, const int8_t *in, int8_t *out);
void ne_mean(const ne_op_t *op, const int8_t *in, int8_t *out);
void ne_add(const ne_op_t *op, const int8_t *in1, const int8_t *in2, int8_t *out);
void ne_softmax(const ne_op_t *op, const int8_t *in, int8_t *out);
void ne_requantize(const ne_op_t *op, const int8_t *in, int8_t *out, uint32_t count);
void ne_quantize_f32(const ne_op_t *op, const uint8_t *in, int8_t *out, uint32_t count);
void ne_dequantize(const ne_op_t *op, const int8_t *in, uint8_t *out, uint32_t count);
void ne_copy(void *dst, const void *src, uint32_t bytes);

#endif // EDGEDL_INTERNAL_H
