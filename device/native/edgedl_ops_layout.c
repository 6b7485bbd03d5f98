// Data movement, int8: RESHAPE, SQUEEZE, EXPAND_DIMS, CONCATENATION, and the shape computations
// folded at load (SHAPE, PACK, STRIDED_SLICE of a shape). Bytes are copied, never requantized:
// TFLM requires the input's quantization on the output for all of them.
#include "edgedl_fixed.h"
#include "edgedl_internal.h"

// RESHAPE, SQUEEZE, EXPAND_DIMS: the same bytes under another shape.
static int prepare_reshape(ne_prep_t *P, ne_op_t *op) {
    ne_tensor_t *in = ne_prep_input(P, op, 0), *out = ne_prep_output(P, op, 0);
    ((ne_reshape_t *)op->params)->bytes = ne_tensor_bytes(out);
    if (in->type != out->type || in->count != out->count) {
        return ne_op_error(P, "input and output differ in type or size");
    }
    if (in->type == NE_INT8 && !ne_same_quantization(in, out)) {
        return ne_op_error(P, "input and output quantization differ");
    }
    return 1;
}

static void eval_reshape(ne_model_t *m, const ne_op_t *op) {
    ne_copy(ne_out(m, op, 0), ne_in(m, op, 0), ((const ne_reshape_t *)op->params)->bytes);
}

// The whole (CONCATENATION's output, SPLIT's input) as outer blocks along the axis, each made of
// one chunk per part (the inputs, or the outputs), in order.
static void cut_blocks(ne_prep_t *P, const ne_op_t *op, const ne_tensor_t *whole, int32_t axis, int outputs,
    ne_concat_t *p) {
    uint32_t inner = 1;
    p->outer = 1;
    for (int d = 0; d < axis; d++) {
        p->outer *= (uint32_t)whole->dims[d];
    }
    for (int d = axis + 1; d < whole->rank; d++) {
        inner *= (uint32_t)whole->dims[d];
    }
    int parts = outputs ? op->n_outputs : op->n_inputs;
    for (int k = 0; k < parts; k++) {
        const ne_tensor_t *part = outputs ? ne_prep_output(P, op, k) : ne_prep_input(P, op, k);
        p->chunk[k] = (uint32_t)part->dims[axis] * inner;
    }
}

// CONCATENATION's inputs or SPLIT's outputs (`outputs`) against the whole: int8 with its rank and
// quantization (TFLM's converter gives them the same), its shape outside the axis, adding up along it.
static int check_parts(ne_prep_t *P, const ne_op_t *op, const ne_tensor_t *whole, int32_t axis, int outputs) {
    int64_t total = 0;
    int parts = outputs ? op->n_outputs : op->n_inputs;
    for (int k = 0; k < parts; k++) {
        const ne_tensor_t *part = outputs ? ne_prep_output(P, op, k) : ne_prep_input(P, op, k);
        if (!ne_require_int8(P, part, outputs ? "output" : "input")) {
            return 0;
        }
        if (part->rank != whole->rank || !ne_same_quantization(part, whole)) {
            return ne_op_error(P, "parts must have the same rank and quantization as the whole");
        }
        for (int i = 0; i < whole->rank; i++) {
            if (i != axis && part->dims[i] != whole->dims[i]) {
                return ne_op_error(P, "part shapes differ outside the axis");
            }
        }
        total += part->dims[axis];
    }
    if (total != whole->dims[axis]) {
        return ne_op_error(P, "parts do not add up along the axis");
    }
    return 1;
}

static int prepare_concat(ne_prep_t *P, ne_op_t *op) {
    ne_concat_t *p = op->params;
    ne_tensor_t *out = ne_prep_output(P, op, 0);
    uint8_t act;
    int32_t axis;
    if (!ne_opt_i32(P, 0, 0, &axis) || !ne_opt_u8(P, 1, 0, &act) || !ne_require_int8(P, out, "output")) {
        return 0;
    }
    if (act != ACT_NONE) {
        return ne_op_error(P, "a fused activation is not supported");
    }
    if (axis < 0) {
        axis += out->rank;
    }
    if (axis < 0 || axis >= out->rank) {
        return ne_op_error(P, "axis out of range");
    }
    if (!check_parts(P, op, out, axis, 0)) {
        return 0;
    }
    cut_blocks(P, op, out, axis, 0, p);
    return 1;
}

static void eval_concat(ne_model_t *m, const ne_op_t *op) {
    const ne_concat_t *p = op->params;
    int8_t *dst = ne_out(m, op, 0);
    for (uint32_t o = 0; o < p->outer; o++) {
        for (int k = 0; k < op->n_inputs; k++) {
            ne_copy(dst, ne_in(m, op, k) + o * p->chunk[k], p->chunk[k]);
            dst += p->chunk[k];
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

// ---------------------------------------------------------------------------
// Views: STRIDED_SLICE and SLICE of data, and TRANSPOSE, copy the input read through a 4-D view
// (an element offset and a step per output axis; steps may be negative).

static void view_of(const ne_tensor_t *in, int32_t *in_stride) {
    int32_t dims[NE_MAX_RANK], stride = 1;
    ne_dims4(in, dims);
    for (int a = NE_MAX_RANK - 1; a >= 0; a--) {
        in_stride[a] = stride;
        stride *= dims[a];
    }
}

static int require_int8_data(ne_prep_t *P, const ne_tensor_t *in, const ne_tensor_t *out) {
    if (in->type != NE_INT8 || out->type != NE_INT8) {
        return ne_op_error(P, "input and output must be int8 tensors");
    }
    return 1;
}

static void eval_view(ne_model_t *m, const ne_op_t *op) {
    const ne_view_t *p = op->params;
    const int8_t *in = ne_in(m, op, 0) + p->start;
    int8_t *out = ne_out(m, op, 0);
    const int32_t *d = p->dims, *s = p->step;
    for (int32_t i0 = 0; i0 < d[0]; i0++) {
        for (int32_t i1 = 0; i1 < d[1]; i1++) {
            for (int32_t i2 = 0; i2 < d[2]; i2++) {
                const int8_t *src = in + i0 * s[0] + i1 * s[1] + i2 * s[2];
                if (s[3] == 1) {
                    ne_copy(out, src, (uint32_t)d[3]);
                    out += d[3];
                } else {
                    for (int32_t i3 = 0; i3 < d[3]; i3++) {
                        *out++ = src[i3 * s[3]];
                    }
                }
            }
        }
    }
}

// The view's output shape must be the output tensor's, leaving out the `dropped` axes (a bit per
// 4-D axis: STRIDED_SLICE's shrunk axes).
static int check_view_shape(ne_prep_t *P, const ne_view_t *p, const ne_tensor_t *out, uint32_t dropped) {
    int32_t kept[NE_MAX_RANK];
    int n = 0;
    for (int a = 0; a < NE_MAX_RANK; a++) {
        if (!(dropped & (1u << a))) {
            kept[n++] = p->dims[a];
        }
    }
    int32_t want[NE_MAX_RANK];
    ne_dims4(out, want);
    for (int k = 0; k < NE_MAX_RANK; k++) {
        int32_t have = k - (NE_MAX_RANK - n) >= 0 ? kept[k - (NE_MAX_RANK - n)] : 1;
        if (have != want[k]) {
            return ne_op_error(P, "output shape does not match the slice of the input");
        }
    }
    return 1;
}

// StridedSlice's start and stop of one axis (reference_ops::StridedSlice, as run by TFLM).
static void slice_axis(int32_t n, int32_t begin, int32_t end, int32_t stride, int begin_masked, int end_masked,
    int shrink, int32_t *start, int32_t *count) {
    int32_t s = begin < 0 ? begin + n : begin, e;
    s = stride > 0 ? ne_clamp(s, 0, n) : ne_clamp(s, -1, n - 1);
    if (begin_masked) {
        s = stride > 0 ? 0 : n - 1;
    }
    if (shrink) {
        e = s >= n ? s : s + 1;
    } else {
        e = end < 0 ? end + n : end;
        e = stride > 0 ? ne_clamp(e, 0, n) : ne_clamp(e, -1, n - 1);
        if (end_masked) {
            e = stride > 0 ? n : -1;
        }
    }
    int32_t span = stride > 0 ? e - s : s - e;
    uint32_t step = stride > 0 ? (uint32_t)stride : 0u - (uint32_t)stride;
    *start = s;
    *count = span > 0 ? 1 + (int32_t)((uint32_t)(span - 1) / step) : 0;
}

// STRIDED_SLICE: of a shape value (a dynamic-batch Flatten) it is folded at load; of data it is a
// view. TFLM ignores the ellipsis and new-axis masks and the offset option; edgedl refuses them.
static int prepare_strided_slice(ne_prep_t *P, ne_op_t *op) {
    ne_tensor_t *in = ne_prep_input(P, op, 0), *out = ne_prep_output(P, op, 0);
    if (in->folded || (in->is_const && in->type == NE_INT32)) {
        return fold_shape_op(P, op);
    }
    ne_view_t *p = op->params;
    int32_t begin[NE_MAX_RANK], end[NE_MAX_RANK], strides[NE_MAX_RANK], begin_mask, end_mask, ellipsis, new_axis,
        shrink;
    uint8_t offset;
    if (!require_int8_data(P, in, out) || !ne_opt_i32(P, 0, 0, &begin_mask) || !ne_opt_i32(P, 1, 0, &end_mask)
        || !ne_opt_i32(P, 2, 0, &ellipsis) || !ne_opt_i32(P, 3, 0, &new_axis) || !ne_opt_i32(P, 4, 0, &shrink)
        || !ne_opt_u8(P, 5, 0, &offset)) {
        return 0;
    }
    if (op->n_inputs != 4) {
        return ne_op_error(P, "needs begin, end and strides");
    }
    if (ellipsis || new_axis || offset) {
        return ne_op_error(P, "ellipsis and new-axis masks and offset are not supported (TFLM ignores them)");
    }
    const ne_tensor_t *tb = ne_prep_input(P, op, 1), *te = ne_prep_input(P, op, 2), *ts = ne_prep_input(P, op, 3);
    if (!ne_const_i32(P, tb, "begin", begin, NE_MAX_RANK) || !ne_const_i32(P, te, "end", end, NE_MAX_RANK)
        || !ne_const_i32(P, ts, "strides", strides, NE_MAX_RANK)) {
        return 0;
    }
    if (tb->count != in->rank || te->count != in->rank || ts->count != in->rank) {
        return ne_op_error(P, "begin, end and strides must have one value per input axis");
    }
    int32_t in_stride[NE_MAX_RANK], dims[NE_MAX_RANK];
    uint32_t dropped = 0;
    view_of(in, in_stride);
    ne_dims4(in, dims);
    p->start = 0;
    for (int a = 0; a < NE_MAX_RANK; a++) {
        int k = a - (NE_MAX_RANK - in->rank);  // the model's axis (the 4-D view pads in front)
        if (k < 0) {
            p->dims[a] = 1;
            p->step[a] = 0;
            continue;
        }
        int is_shrunk = (shrink >> k) & 1;
        if (strides[k] == 0 || (is_shrunk && strides[k] < 0)) {
            return ne_op_error(P, "a stride is 0, or a shrunk axis has a negative stride");
        }
        int32_t start, count;
        slice_axis(dims[a], begin[k], end[k], strides[k], (begin_mask >> k) & 1, (end_mask >> k) & 1, is_shrunk,
            &start, &count);
        if (is_shrunk && count != 1) {  // TFLM would leave the output unwritten
            return ne_op_error(P, "a shrunk axis' begin is outside the input");
        }
        p->dims[a] = count;
        p->step[a] = count > 1 ? strides[k] * in_stride[a] : 0;  // |stride| < dims[a] when count > 1
        p->start += start * in_stride[a];
        dropped |= (uint32_t)is_shrunk << a;
    }
    return check_view_shape(P, p, out, dropped);
}

// SLICE: begin and size (-1: to the end) per axis.
static int prepare_slice(ne_prep_t *P, ne_op_t *op) {
    ne_view_t *p = op->params;
    ne_tensor_t *in = ne_prep_input(P, op, 0), *out = ne_prep_output(P, op, 0);
    const ne_tensor_t *tb = ne_prep_input(P, op, 1), *tsize = ne_prep_input(P, op, 2);
    int32_t begin[NE_MAX_RANK], size[NE_MAX_RANK], in_stride[NE_MAX_RANK], dims[NE_MAX_RANK];
    if (!require_int8_data(P, in, out) || !ne_const_i32(P, tb, "begin", begin, NE_MAX_RANK)
        || !ne_const_i32(P, tsize, "size", size, NE_MAX_RANK)) {
        return 0;
    }
    if (tb->count != in->rank || tsize->count != in->rank) {
        return ne_op_error(P, "begin and size must have one value per input axis");
    }
    view_of(in, in_stride);
    ne_dims4(in, dims);
    for (int a = 0; a < NE_MAX_RANK; a++) {
        int k = a - (NE_MAX_RANK - in->rank);
        int32_t b = k < 0 ? 0 : begin[k];
        if (b < 0 || b > dims[a]) {
            return ne_op_error(P, "begin and size reach outside the input");
        }
        int32_t n = k < 0 ? 1 : (size[k] == -1 ? dims[a] - b : size[k]);
        if (n < 0 || n > dims[a] - b) {
            return ne_op_error(P, "begin and size reach outside the input");
        }
        p->dims[a] = n;
        p->step[a] = in_stride[a];
        p->start += b * in_stride[a];
    }
    return check_view_shape(P, p, out, 0);
}

// TRANSPOSE: output axis k walks input axis perm[k].
static int prepare_transpose(ne_prep_t *P, ne_op_t *op) {
    ne_view_t *p = op->params;
    ne_tensor_t *in = ne_prep_input(P, op, 0), *out = ne_prep_output(P, op, 0);
    const ne_tensor_t *tperm = ne_prep_input(P, op, 1);
    int32_t perm[NE_MAX_RANK], in_stride[NE_MAX_RANK], dims[NE_MAX_RANK];
    uint32_t seen = 0;
    if (!require_int8_data(P, in, out) || !ne_const_i32(P, tperm, "perm", perm, NE_MAX_RANK)) {
        return 0;
    }
    if (tperm->count != in->rank) {
        return ne_op_error(P, "perm must have one value per input axis");
    }
    view_of(in, in_stride);
    ne_dims4(in, dims);
    int pad = NE_MAX_RANK - in->rank;
    for (int a = 0; a < NE_MAX_RANK; a++) {
        int k = a - pad;
        if (k >= 0 && (perm[k] < 0 || perm[k] >= in->rank || (seen & (1u << perm[k])))) {
            return ne_op_error(P, "perm is not a permutation of the input axes");
        }
        int32_t from = k < 0 ? a : perm[k] + pad;  // padded axes stay in place
        seen |= k >= 0 ? 1u << perm[k] : 0;
        p->dims[a] = dims[from];
        p->step[a] = in_stride[from];
    }
    return check_view_shape(P, p, out, 0);
}

// ---------------------------------------------------------------------------
// SPLIT and SPLIT_V: the input as outer x (axis x inner) blocks dealt out to the outputs, each
// taking its own extent of the axis (TFLM reads the extents from the output shapes).

static int prepare_split_kind(ne_prep_t *P, ne_op_t *op, int data_input, int axis_input) {
    ne_concat_t *p = op->params;
    ne_tensor_t *in = ne_prep_input(P, op, data_input);
    int32_t axis;
    if (!ne_const_i32(P, ne_prep_input(P, op, axis_input), "axis", &axis, 1)
        || ne_prep_input(P, op, axis_input)->count != 1) {
        return ne_op_error(P, "axis must be a constant int32 scalar");
    }
    axis = axis < 0 ? axis + in->rank : axis;
    if (axis < 0 || axis >= in->rank) {
        return ne_op_error(P, "axis out of range");
    }
    if (!check_parts(P, op, in, axis, 1)) {
        return 0;
    }
    p->data_input = (uint8_t)data_input;
    cut_blocks(P, op, in, axis, 1, p);
    return 1;
}

static int prepare_split(ne_prep_t *P, ne_op_t *op) {
    // SPLIT takes (axis, input) and cuts equal parts (TFLM uses output 0's extent for all).
    if (!prepare_split_kind(P, op, 1, 0)) {
        return 0;
    }
    const ne_concat_t *p = op->params;
    for (int k = 1; k < op->n_outputs; k++) {
        if (p->chunk[k] != p->chunk[0]) {
            return ne_op_error(P, "outputs must be equal parts");
        }
    }
    return 1;
}

static int prepare_split_v(ne_prep_t *P, ne_op_t *op) {
    return prepare_split_kind(P, op, 0, 2);  // (input, size_splits, axis); the sizes are the outputs'
}

static void eval_split(ne_model_t *m, const ne_op_t *op) {
    const ne_concat_t *p = op->params;
    const int8_t *src = ne_in(m, op, p->data_input);
    for (uint32_t o = 0; o < p->outer; o++) {
        for (int k = 0; k < op->n_outputs; k++) {
            ne_copy(ne_out(m, op, k) + o * p->chunk[k], src, p->chunk[k]);
            src += p->chunk[k];
        }
    }
}

// ---------------------------------------------------------------------------
// GATHER with constant int32 positions (checked at load: TFLM fails at invoke on one out of range).

static int prepare_gather(ne_prep_t *P, ne_op_t *op) {
    ne_gather_t *p = op->params;
    ne_tensor_t *in = ne_prep_input(P, op, 0), *out = ne_prep_output(P, op, 0);
    const ne_tensor_t *pos = ne_prep_input(P, op, 1);
    int32_t axis, batch_dims;
    if (!ne_opt_i32(P, 0, 0, &axis) || !ne_opt_i32(P, 1, 0, &batch_dims) || !require_int8_data(P, in, out)) {
        return 0;
    }
    if (pos->type != NE_INT32 || !pos->is_const) {
        return ne_op_error(P, "positions must be a constant int32 tensor");
    }
    axis = axis < 0 ? axis + in->rank : axis;
    batch_dims = batch_dims < 0 ? batch_dims + pos->rank : batch_dims;
    if (axis < 0 || axis >= in->rank || batch_dims < 0 || batch_dims > axis || batch_dims > pos->rank) {
        return ne_op_error(P, "axis or batch_dims out of range");
    }
    // Output shape: input[:axis] + positions[batch_dims:] + input[axis + 1:].
    int32_t want[2 * NE_MAX_RANK];
    int n = 0;
    p->batch = p->outer = p->inner = p->per_batch = 1;
    for (int i = 0; i < axis; i++) {
        want[n++] = in->dims[i];
        if (i < batch_dims) {
            if (in->dims[i] != pos->dims[i]) {
                return ne_op_error(P, "input and positions differ in a batch dimension");
            }
            p->batch *= (uint32_t)in->dims[i];
        } else {
            p->outer *= (uint32_t)in->dims[i];
        }
    }
    for (int i = batch_dims; i < pos->rank; i++) {
        want[n++] = pos->dims[i];
        p->per_batch *= (uint32_t)pos->dims[i];
    }
    for (int i = axis + 1; i < in->rank; i++) {
        want[n++] = in->dims[i];
        p->inner *= (uint32_t)in->dims[i];
    }
    if (n != out->rank) {
        return ne_op_error(P, "output shape does not match the gather");
    }
    for (int i = 0; i < n; i++) {
        if (want[i] != out->dims[i]) {
            return ne_op_error(P, "output shape does not match the gather");
        }
    }
    p->n = in->dims[axis];
    for (uint32_t i = 0; i < pos->count; i++) {
        int32_t v = (int32_t)fb_load_u32(ne_const_data(P, pos) + 4 * i);
        if (v < 0 || v >= p->n) {
            return ne_op_error(P, "a position is outside the input's axis");
        }
    }
    return 1;
}

static void eval_gather(ne_model_t *m, const ne_op_t *op) {
    const ne_gather_t *p = op->params;
    const int8_t *in = ne_in(m, op, 0);
    const uint8_t *pos = (const uint8_t *)ne_in(m, op, 1);  // int32, little-endian, any alignment
    int8_t *out = ne_out(m, op, 0);
    for (uint32_t b = 0; b < p->batch; b++) {
        for (uint32_t o = 0; o < p->outer; o++) {
            const int8_t *block = in + (b * p->outer + o) * (uint32_t)p->n * p->inner;
            for (uint32_t c = 0; c < p->per_batch; c++) {
                uint32_t index = fb_load_u32(pos + 4 * (b * p->per_batch + c));
                ne_copy(out, block + index * p->inner, p->inner);
                out += p->inner;
            }
        }
    }
}

// ---------------------------------------------------------------------------
// PAD and PADV2: the input's bytes inside a border of the output's zero point (PAD) or of the
// constant's raw value (PADV2, whose quantization TFLM requires to be the output's).

static int prepare_pad(ne_prep_t *P, ne_op_t *op) {
    ne_pad_t *p = op->params;
    ne_tensor_t *in = ne_prep_input(P, op, 0), *out = ne_prep_output(P, op, 0);
    const ne_tensor_t *tpad = ne_prep_input(P, op, 1);
    int32_t pads[2 * NE_MAX_RANK];
    if (!require_int8_data(P, in, out) || !ne_const_i32(P, tpad, "paddings", pads, 2 * NE_MAX_RANK)) {
        return 0;
    }
    if (tpad->count != 2u * in->rank || out->rank != in->rank) {
        return ne_op_error(P, "paddings must be a before and an after value per input axis");
    }
    int pad = NE_MAX_RANK - in->rank;
    ne_dims4(in, p->in_dims);
    ne_dims4(out, p->out_dims);
    for (int a = 0; a < NE_MAX_RANK; a++) {
        int k = a - pad;
        int32_t before = k < 0 ? 0 : pads[2 * k], after = k < 0 ? 0 : pads[2 * k + 1];
        int32_t added = p->out_dims[a] - p->in_dims[a];  // dimensions are 1..2^24
        if (before < 0 || after < 0 || before > added || after != added - before) {
            return ne_op_error(P, "output shape is not the input's plus the paddings");
        }
        p->before[a] = before;
    }
    p->value = (int8_t)out->zero_point;
    if (op->n_inputs == 3) {
        const ne_tensor_t *c = ne_prep_input(P, op, 2);
        if (c->type != NE_INT8 || !c->is_const || c->count != 1 || !ne_same_quantization(c, out)) {
            return ne_op_error(P, "the pad value must be one constant int8 with the output's quantization");
        }
        p->value = (int8_t)ne_const_data(P, c)[0];
    }
    return 1;
}

static void eval_pad(ne_model_t *m, const ne_op_t *op) {
    const ne_pad_t *p = op->params;
    const int8_t *in = ne_in(m, op, 0);
    int8_t *out = ne_out(m, op, 0);
    const int32_t *d = p->out_dims, *n = p->in_dims, *b = p->before;
    for (int32_t i0 = 0; i0 < d[0]; i0++) {
        for (int32_t i1 = 0; i1 < d[1]; i1++) {
            for (int32_t i2 = 0; i2 < d[2]; i2++) {
                int32_t j0 = i0 - b[0], j1 = i1 - b[1], j2 = i2 - b[2];
                int inside = j0 >= 0 && j0 < n[0] && j1 >= 0 && j1 < n[1] && j2 >= 0 && j2 < n[2];
                int32_t i3 = 0;
                if (inside) {
                    for (; i3 < b[3]; i3++) {
                        *out++ = p->value;
                    }
                    ne_copy(out, in + ((j0 * n[1] + j1) * n[2] + j2) * n[3], (uint32_t)n[3]);
                    out += n[3];
                    i3 += n[3];
                }
                for (; i3 < d[3]; i3++) {
                    *out++ = p->value;
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// SPACE_TO_BATCH_ND and BATCH_TO_SPACE_ND: what the converter makes of a dilated Conv1D with a
// dynamic batch (S2B -> CONV_2D -> B2S). The model file keeps the input's batch on the tensors
// between them, where the data has batch x block items (TFLM runs it so and computes only the
// first item); edgedl gives those tensors their real batch (ne_scale_batch). S2B pads with the
// output's zero point, as TFLite does (TFLM pads with a byte it never sets).

static int space_batch_geometry(ne_prep_t *P, ne_op_t *op, ne_space_batch_t *p, int32_t *before, int32_t *after) {
    ne_tensor_t *in = ne_prep_input(P, op, 0), *out = ne_prep_output(P, op, 0);
    const ne_tensor_t *tblock = ne_prep_input(P, op, 1), *tpad = ne_prep_input(P, op, 2);
    int32_t block[2], pads[4];  // filled for every spatial axis once the counts are checked
    if (!require_int8_data(P, in, out) || !ne_const_i32(P, tblock, "block_shape", block, 2)
        || !ne_const_i32(P, tpad, "paddings or crops", pads, 4)) {
        return 0;
    }
    if ((in->rank != 3 && in->rank != 4) || out->rank != in->rank || tblock->count != in->rank - 2u
        || tpad->count != 2 * (in->rank - 2u)) {
        return ne_op_error(P, "takes a rank 3 or 4 input with a block and a before and after value per spatial axis");
    }
    p->block_h = block[0];
    p->block_w = in->rank == 4 ? block[1] : 1;
    before[0] = pads[0];
    after[0] = pads[1];
    before[1] = in->rank == 4 ? pads[2] : 0;
    after[1] = in->rank == 4 ? pads[3] : 0;
    for (int i = 0; i < 2; i++) {
        if (before[i] < 0 || after[i] < 0 || before[i] > (1 << 24) || after[i] > (1 << 24)) {
            return ne_op_error(P, "paddings and crops must be 0 to 2^24");
        }
    }
    if (p->block_h < 1 || p->block_w < 1 || p->block_h > 255 || p->block_w > 255 || p->block_h * p->block_w > 255) {
        return ne_op_error(P, "block sizes must be 1 or more, 255 items at most");
    }
    p->top = before[0];
    p->left = before[1];
    return 1;
}

// [N, H, C] as [N, H, 1, C]; [N, H, W, C] as is.
static void nhwc_of(const ne_tensor_t *t, int32_t *dims) {
    dims[0] = t->dims[0];
    dims[1] = t->dims[1];
    dims[2] = t->rank == 4 ? t->dims[2] : 1;
    dims[3] = t->dims[t->rank - 1];
}

static int prepare_space_to_batch(ne_prep_t *P, ne_op_t *op) {
    ne_space_batch_t *p = op->params;
    int32_t before[2], after[2];
    if (!space_batch_geometry(P, op, p, before, after)) {
        return 0;
    }
    ne_tensor_t *in = ne_prep_input(P, op, 0), *out = ne_prep_output(P, op, 0);
    nhwc_of(in, p->in_dims);
    nhwc_of(out, p->out_dims);
    int32_t h = p->in_dims[1] + before[0] + after[0], w = p->in_dims[2] + before[1] + after[1];
    int64_t items = p->block_h * p->block_w;
    if (h % p->block_h || w % p->block_w || p->out_dims[1] != h / p->block_h || p->out_dims[2] != w / p->block_w
        || p->out_dims[3] != p->in_dims[3]) {
        return ne_op_error(P, "output shape does not match the padded input and the block");
    }
    if (p->out_dims[0] == p->in_dims[0] && items > 1) {
        if (!ne_scale_batch(P, out, (uint32_t)items)) {  // the converter's batch-1 shape
            return 0;
        }
        p->out_dims[0] = out->dims[0];
    }
    if (p->out_dims[0] != p->in_dims[0] * items) {
        return ne_op_error(P, "output batch is not the input's times the block");
    }
    p->value = (int8_t)out->zero_point;
    return 1;
}

static void eval_space_to_batch(ne_model_t *m, const ne_op_t *op) {
    const ne_space_batch_t *p = op->params;
    const int8_t *in = ne_in(m, op, 0);
    int8_t *out = ne_out(m, op, 0);
    const int32_t *id = p->in_dims, *od = p->out_dims, depth = id[3];
    for (int32_t ob = 0; ob < od[0]; ob++) {
        const int32_t b = ob % id[0], item = ob / id[0];
        const int32_t shift_w = item % p->block_w, shift_h = item / p->block_w;
        for (int32_t oh = 0; oh < od[1]; oh++) {
            const int32_t h = oh * p->block_h + shift_h - p->top;
            for (int32_t ow = 0; ow < od[2]; ow++, out += depth) {
                const int32_t w = ow * p->block_w + shift_w - p->left;
                if (h < 0 || h >= id[1] || w < 0 || w >= id[2]) {
                    for (int32_t c = 0; c < depth; c++) {
                        out[c] = p->value;
                    }
                } else {
                    ne_copy(out, in + ((b * id[1] + h) * id[2] + w) * depth, (uint32_t)depth);
                }
            }
        }
    }
}

static int prepare_batch_to_space(ne_prep_t *P, ne_op_t *op) {
    ne_space_batch_t *p = op->params;
    int32_t crop_before[2], crop_after[2];
    if (!space_batch_geometry(P, op, p, crop_before, crop_after)) {
        return 0;
    }
    ne_tensor_t *in = ne_prep_input(P, op, 0), *out = ne_prep_output(P, op, 0);
    nhwc_of(in, p->in_dims);
    nhwc_of(out, p->out_dims);
    int64_t items = p->block_h * p->block_w;
    if (p->in_dims[0] != p->out_dims[0] * items || p->out_dims[3] != p->in_dims[3]
        || p->out_dims[1] != (int64_t)p->in_dims[1] * p->block_h - crop_before[0] - crop_after[0]
        || p->out_dims[2] != (int64_t)p->in_dims[2] * p->block_w - crop_before[1] - crop_after[1]) {
        return ne_op_error(P, "output shape does not match the input, the block and the crops");
    }
    return 1;
}

static void eval_batch_to_space(ne_model_t *m, const ne_op_t *op) {
    const ne_space_batch_t *p = op->params;
    const int8_t *in = ne_in(m, op, 0);
    int8_t *out = ne_out(m, op, 0);
    const int32_t *id = p->in_dims, *od = p->out_dims, depth = id[3];
    for (int32_t ib = 0; ib < id[0]; ib++) {
        const int32_t ob = ib % od[0], item = ib / od[0];
        for (int32_t ih = 0; ih < id[1]; ih++) {
            const int32_t oh = ih * p->block_h + item / p->block_w - p->top;
            if (oh < 0 || oh >= od[1]) {
                continue;
            }
            for (int32_t iw = 0; iw < id[2]; iw++) {
                const int32_t ow = iw * p->block_w + item % p->block_w - p->left;
                if (ow >= 0 && ow < od[2]) {
                    ne_copy(out + ((ob * od[1] + oh) * od[2] + ow) * depth, in + ((ib * id[1] + ih) * id[2] + iw) * depth,
                        (uint32_t)depth);
                }
            }
        }
    }
}

// The op table rows of this file (edgedl_ops.c looks them up).
const ne_op_kind_t ne_ops_layout[] = {
    // name, code, options, inputs min..max, outputs, flags, params, prepare, eval
    {"CONCATENATION", OP_CONCATENATION, OPT_CONCAT, 1, NE_MAX_OP_INPUTS, 1, 0, sizeof(ne_concat_t), prepare_concat,
        eval_concat},
    {"RESHAPE", OP_RESHAPE, OPT_RESHAPE, 1, 2, 1, NE_KIND_SHAPE_INPUT1, sizeof(ne_reshape_t), prepare_reshape,
        eval_reshape},
    {"SQUEEZE", OP_SQUEEZE, OPT_SQUEEZE, 1, 1, 1, 0, sizeof(ne_reshape_t), prepare_reshape, eval_reshape},
    {"STRIDED_SLICE", OP_STRIDED_SLICE, OPT_STRIDED_SLICE, 3, 4, 1, NE_KIND_SHAPE_OP, sizeof(ne_view_t),
        prepare_strided_slice, eval_view},
    {"SLICE", OP_SLICE, OPT_SLICE, 3, 3, 1, 0, sizeof(ne_view_t), prepare_slice, eval_view},
    {"TRANSPOSE", OP_TRANSPOSE, OPT_TRANSPOSE, 2, 2, 1, 0, sizeof(ne_view_t), prepare_transpose, eval_view},
    {"SPLIT", OP_SPLIT, OPT_SPLIT, 2, 2, NE_MAX_OP_OUTPUTS, 0, sizeof(ne_concat_t), prepare_split, eval_split},
    {"SPLIT_V", OP_SPLIT_V, OPT_SPLIT_V, 3, 3, NE_MAX_OP_OUTPUTS, 0, sizeof(ne_concat_t), prepare_split_v, eval_split},
    {"GATHER", OP_GATHER, OPT_GATHER, 2, 2, 1, 0, sizeof(ne_gather_t), prepare_gather, eval_gather},
    {"SPACE_TO_BATCH_ND", OP_SPACE_TO_BATCH_ND, OPT_SPACE_TO_BATCH, 3, 3, 1, 0, sizeof(ne_space_batch_t),
        prepare_space_to_batch, eval_space_to_batch},
    {"BATCH_TO_SPACE_ND", OP_BATCH_TO_SPACE_ND, OPT_BATCH_TO_SPACE, 3, 3, 1, 0, sizeof(ne_space_batch_t),
        prepare_batch_to_space, eval_batch_to_space},
    {"PAD", OP_PAD, OPT_PAD, 2, 2, 1, 0, sizeof(ne_pad_t), prepare_pad, eval_pad},
    {"PADV2", OP_PADV2, OPT_PADV2, 3, 3, 1, 0, sizeof(ne_pad_t), prepare_pad, eval_pad},
    {"EXPAND_DIMS", OP_EXPAND_DIMS, OPT_EXPAND_DIMS, 1, 2, 1, 0, sizeof(ne_reshape_t), prepare_reshape,
        eval_reshape},
    {"SHAPE", OP_SHAPE, OPT_SHAPE, 1, 1, 1, NE_KIND_SHAPE_OP, 0, fold_shape_op, eval_folded},
    {"PACK", OP_PACK, OPT_PACK, 1, NE_MAX_OP_INPUTS, 1, NE_KIND_SHAPE_OP, 0, fold_shape_op, eval_folded},
    {0},
};
