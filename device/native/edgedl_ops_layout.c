// Data movement, int8: RESHAPE, SQUEEZE, EXPAND_DIMS, CONCATENATION, and the shape computations
// folded at load (SHAPE, PACK, STRIDED_SLICE of a shape). Bytes are copied, never requantized:
// TFLM requires the input's quantization on the output for all of them.
#include "edgedl_internal.h"

// RESHAPE, SQUEEZE, EXPAND_DIMS: the same bytes under another shape.
static int prepare_reshape(ne_prep_t *P, ne_op_t *op) {
    ne_tensor_t *in = ne_prep_input(P, op, 0), *out = ne_prep_output(P, op, 0);
    if (in->type != out->type || in->count != out->count) {
        return ne_op_error(P, "input and output differ in type or size");
    }
    if (in->type == NE_INT8 && !ne_same_quantization(in, out)) {
        return ne_op_error(P, "input and output quantization differ");
    }
    return 1;
}

static void eval_reshape(ne_model_t *m, const ne_op_t *op) {
    ne_copy(ne_out(m, op, 0), ne_in(m, op, 0), ne_out_tensor(m, op, 0)->bytes);
}

static int prepare_concat(ne_prep_t *P, ne_op_t *op) {
    ne_concat_t *p = op->params;
    ne_tensor_t *out = ne_prep_output(P, op, 0);
    uint8_t act;
    if (!ne_opt_i32(P, 0, 0, &p->axis) || !ne_opt_u8(P, 1, 0, &act) || !ne_require_int8(P, out, "output")) {
        return 0;
    }
    if (act != ACT_NONE) {
        return ne_op_error(P, "a fused activation is not supported");
    }
    if (p->axis < 0) {
        p->axis += out->rank;
    }
    if (p->axis < 0 || p->axis >= out->rank) {
        return ne_op_error(P, "axis out of range");
    }
    int32_t total = 0;
    for (int k = 0; k < op->n_inputs; k++) {
        ne_tensor_t *in = ne_prep_input(P, op, k);
        if (!ne_require_int8(P, in, "input")) {
            return 0;
        }
        if (in->rank != out->rank || !ne_same_quantization(in, out)) {
            return ne_op_error(P, "inputs must match the output's rank and quantization");
        }
        for (int i = 0; i < out->rank; i++) {
            if (i != p->axis && in->dims[i] != out->dims[i]) {
                return ne_op_error(P, "input shapes differ outside the axis");
            }
        }
        total += in->dims[p->axis];
    }
    if (total != out->dims[p->axis]) {
        return ne_op_error(P, "inputs do not add up to the output along the axis");
    }
    p->outer = p->inner = 1;
    for (int d = 0; d < p->axis; d++) {
        p->outer *= (uint32_t)out->dims[d];
    }
    for (int d = p->axis + 1; d < out->rank; d++) {
        p->inner *= (uint32_t)out->dims[d];
    }
    return 1;
}

static void eval_concat(ne_model_t *m, const ne_op_t *op) {
    const ne_concat_t *p = op->params;
    int8_t *dst = ne_out(m, op, 0);
    for (uint32_t o = 0; o < p->outer; o++) {
        for (int k = 0; k < op->n_inputs; k++) {
            uint32_t chunk = (uint32_t)m->tensors[op->io[k]].dims[p->axis] * p->inner;
            ne_copy(dst, ne_in(m, op, k) + o * chunk, chunk);
            dst += chunk;
        }
    }
}

// SHAPE, and STRIDED_SLICE or PACK of shape values: what a dynamic batch makes of Flatten
// (SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE). Every tensor's shape is static in the model (batch
// 1) and RESHAPE takes its output's, so the values are never needed: the ops are folded away at
// load (never run, nothing in the arena). A PACK of data is refused.
static int fold_shape_op(ne_prep_t *P, ne_op_t *op) {
    ne_tensor_t *out = ne_prep_output(P, op, 0);
    int is_shape = op->kind->code == OP_SHAPE;
    for (uint32_t k = 0; k < op->n_inputs; k++) {
        const ne_tensor_t *in = ne_prep_input(P, op, k);
        int shape_value = in->folded || (in->is_const && in->type == NE_INT32);
        if (!is_shape && !shape_value) {
            return ne_op_error(P, "packs data (not shapes), which edgedl does not run");
        }
    }
    if (out->type != NE_INT32 || out->rank > 1) {
        return ne_op_error(P, "a shape computation must make an int32 scalar or vector");
    }
    op->folded = 1;
    out->folded = 1;
    return 1;
}

static void eval_folded(ne_model_t *m, const ne_op_t *op) {
    (void)m;
    (void)op;  // computed at load
}

// STRIDED_SLICE: of a shape value (a dynamic-batch Flatten), folded at load.
static int prepare_strided_slice(ne_prep_t *P, ne_op_t *op) {
    if (ne_prep_input(P, op, 0)->folded) {
        return fold_shape_op(P, op);
    }
    return ne_op_error(P, "slices data (not a shape), which edgedl does not run");
}

// The op table rows of this file (edgedl_ops.c looks them up).
const ne_op_kind_t ne_ops_layout[] = {
    // name, code, options, inputs min..max, outputs, flags, params, prepare, eval
    {"CONCATENATION", OP_CONCATENATION, OPT_CONCAT, 1, NE_MAX_OP_INPUTS, 1, 0, sizeof(ne_concat_t), prepare_concat,
        eval_concat},
    {"RESHAPE", OP_RESHAPE, OPT_RESHAPE, 1, 2, 1, NE_KIND_SHAPE_INPUT1, 0, prepare_reshape, eval_reshape},
    {"SQUEEZE", OP_SQUEEZE, OPT_SQUEEZE, 1, 1, 1, 0, 0, prepare_reshape, eval_reshape},
    {"STRIDED_SLICE", OP_STRIDED_SLICE, OPT_STRIDED_SLICE, 3, 4, 1, NE_KIND_SHAPE_OP, 0,
        prepare_strided_slice, eval_folded},
    {"EXPAND_DIMS", OP_EXPAND_DIMS, OPT_EXPAND_DIMS, 1, 2, 1, 0, 0, prepare_reshape, eval_reshape},
    {"SHAPE", OP_SHAPE, OPT_SHAPE, 1, 1, 1, NE_KIND_SHAPE_OP, 0, fold_shape_op, eval_folded},
    {"PACK", OP_PACK, OPT_PACK, 1, NE_MAX_OP_INPUTS, 1, NE_KIND_SHAPE_OP, 0, fold_shape_op, eval_folded},
    {0},
};
