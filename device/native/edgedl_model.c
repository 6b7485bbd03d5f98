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

#define ALIGN_UP(x, a) (((x) + ((a) - 1)) / (a) * (a))  // a: a constant power of two

// ---------------------------------------------------------------------------
// The loader's view of the flatbuffer

// The ops that use a tensor, by index (0: the graph input; op i is i + 1), for the planner.
typedef struct {
    int16_t first, last;  // -1: not produced yet
} lifetime_t;

typedef struct {
    fb_t fb;
    ne_error_t *err;
    fb_vec_t opcodes, buffers, tensors, operators, inputs, outputs;
    lifetime_t *life;     // per tensor, at load only (it shares memory with the int32 scratch)
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
            "float32 only at the input/output)", index, ne_type_name(t->type));
        return 0;
    }
    if (is_variable || fb_table(fb, &tt, T_SPARSITY, &unused, "Tensor.sparsity")) {
        ne_errorf(L->err, "unsupported model: tensor %u is variable or sparse", index);
        return 0;
    }
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
            if (data.len != ne_tensor_bytes(t)) {
                ne_errorf(L->err, "malformed model: tensor %u has %u bytes of data, its shape needs %u",
                    index, data.len, ne_tensor_bytes(t));
                return 0;
            }
            t->is_const = 1;
            t->offset = data.pos;
        }
    }
    if (fb_table(fb, &tt, T_QUANT, &q, "Tensor.quantization")) {
        fb_vec_t scales, zps;
        fb_vector(fb, &q, Q_SCALE, 4, &scales, "QuantizationParameters.scale");
        fb_vector(fb, &q, Q_ZERO_POINT, 8, &zps, "QuantizationParameters.zero_point");
        int32_t dimension;
        if (!fb_i32(fb, &q, Q_DIMENSION, 0, &dimension, "QuantizationParameters.quantized_dimension")) {
            return 0;
        }
        if (dimension < 0 || dimension >= NE_MAX_RANK || scales.len > 65535) {
            ne_errorf(L->err, "malformed model: tensor %u has a quantized dimension of %d or over 65535 scales",
                index, dimension);
            return 0;
        }
        t->quantized_dimension = (uint8_t)dimension;
        if (scales.len && zps.len) {
            const uint8_t *zp = fb->data + zps.pos;
            uint32_t lo = fb_load_u32(zp), hi = fb_load_u32(zp + 4);
            if (hi != ((lo >> 31) ? 0xffffffffu : 0)) {
                ne_errorf(L->err, "malformed model: tensor %u zero point does not fit in 32 bits", index);
                return 0;
            }
            if ((int32_t)lo < -32768 || (int32_t)lo > 32767) {
                ne_errorf(L->err, "malformed model: tensor %u zero point %d is outside -32768..32767", index,
                    (int32_t)lo);
                return 0;
            }
            t->zero_point = (int16_t)(int32_t)lo;
            t->n_scales = (uint16_t)scales.len;
            t->scales_at = scales.pos;
            t->scale_bits = fb_load_u32(fb->data + scales.pos);
            for (uint32_t i = 0; i < scales.len; i++) {
                ne_real_t r;
                if (!ne_real_from_f32(fb_load_u32(fb->data + scales.pos + 4 * i), &r)) {
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

// Meta bytes of op i beside its record (tensor indices, parameter block and per-channel arrays)
// and its int32 scratch, from its row of the op table and its output's shape. Unknown ops and
// malformed counts measure as nothing: the full load refuses them with context.
static int op_needs(loader_t *L, uint32_t i, uint32_t *bytes, uint32_t *scratch) {
    fb_table_t opt, oc;
    fb_vec_t ins, outs;
    int32_t code;
    *bytes = *scratch = 0;
    if (!read_operator(L, i, &opt, &oc, &code)) {
        return 0;
    }
    const ne_op_kind_t *kind = ne_op_kind(code);
    fb_vector(&L->fb, &opt, OP_INPUTS, 4, &ins, "Operator.inputs");
    fb_vector(&L->fb, &opt, OP_OUTPUTS, 4, &outs, "Operator.outputs");
    if (L->fb.failed) {
        return 0;
    }
    if (!kind || ins.len > NE_MAX_OP_INPUTS || outs.len < 1 || outs.len > NE_MAX_OP_OUTPUTS) {
        return 1;
    }
    *bytes = ALIGN_UP(2 * (ins.len + outs.len), 8) + ALIGN_UP(kind->params_bytes, 8);
    if (!(kind->flags & (NE_KIND_CHANNEL_ARRAYS | NE_KIND_SCRATCH_CHANNELS | NE_KIND_SCRATCH_OUTPUT))) {
        return 1;
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
    uint32_t channels = rank ? (uint32_t)dims[rank - 1] : 1;
    if (kind->flags & NE_KIND_CHANNEL_ARRAYS) {  // int32 multiplier and addend, int8 shift
        *bytes += 2 * ALIGN_UP(4 * channels, 8) + ALIGN_UP(channels, 8);
    }
    *scratch = kind->flags & NE_KIND_SCRATCH_OUTPUT ? count : kind->flags & NE_KIND_SCRATCH_CHANNELS ? channels : 0;
    return 1;
}

// The loader's work area: every tensor's full record, lifetimes and the planner's order.
static uint64_t work_bytes_for(uint32_t n_tensors) {
    return ALIGN_UP((uint64_t)n_tensors * sizeof(ne_tensor_t), 8) + ALIGN_UP((uint64_t)n_tensors * sizeof(lifetime_t), 8)
        + ALIGN_UP(2 * (uint64_t)n_tensors, 8);
}

static int measure(loader_t *L, uint32_t *meta_bytes, uint32_t *work_bytes, uint32_t *scratch_len) {
    uint64_t bytes = ALIGN_UP(sizeof(ne_model_t), 8)
        + ALIGN_UP((uint64_t)L->tensors.len * sizeof(uint32_t), 8)
        + ALIGN_UP((uint64_t)L->operators.len * sizeof(ne_op_t), 8);
    uint32_t scratch = 0;
    for (uint32_t i = 0; i < L->operators.len; i++) {
        uint32_t op_bytes, need;
        if (!op_needs(L, i, &op_bytes, &need)) {
            return 0;
        }
        bytes += op_bytes;
        scratch = need > scratch ? need : scratch;
    }
    bytes += ALIGN_UP(4 * (uint64_t)scratch + 4, 8);
    uint64_t work = work_bytes_for(L->tensors.len);
    if (bytes > (1u << 30) || work > (1u << 30)) {
        ne_errorf(L->err, "malformed model: metadata would need %u MB", (uint32_t)((bytes + work) >> 20));
        return 0;
    }
    *meta_bytes = (uint32_t)bytes;
    *work_bytes = (uint32_t)work;
    *scratch_len = scratch;
    return 1;
}

int ne_model_meta_bytes(const uint8_t *model, uint32_t len, uint32_t *meta_bytes, uint32_t *work_bytes,
    ne_error_t *err) {
    loader_t L;
    uint32_t scratch;
    err->text[0] = 0;
    return read_header(&L, model, len, err) && measure(&L, meta_bytes, work_bytes, &scratch);
}

static int refuse_code(loader_t *L, uint32_t i, int32_t code) {
    char name[40];
    if (code == OP_CUSTOM) {
        ne_errorf(L->err, "unsupported model: op %u is a custom operator", i);
    } else if (ne_builtin_name(code, name, sizeof(name))) {
        ne_errorf(L->err, "unsupported model: op %u is %s, which edgedl does not run: %s", i, name,
            ne_refusal_reason(code));
    } else {
        ne_errorf(L->err, "unsupported model: op %u has builtin code %d, %s", i, code, ne_refusal_reason(code));
    }
    return 0;
}

// Reads op i's row, tensors and options, checks what every op needs (the tensors exist, inputs
// are produced before they are read, outputs are produced once), then runs its prepare.
static int read_op(ne_prep_t *P, loader_t *L, uint32_t i) {
    ne_model_t *m = P->m;
    ne_op_t *op = &m->ops[i];
    fb_table_t opt, oc;
    fb_vec_t ins, outs, custom_code;
    int32_t code;
    uint8_t options_type;
    P->index = i;
    if (!read_operator(L, i, &opt, &oc, &code)) {
        return 0;
    }
    if (fb_vector(&L->fb, &oc, OC_CUSTOM_CODE, 1, &custom_code, "OperatorCode.custom_code")) {
        code = OP_CUSTOM;
    }
    const ne_op_kind_t *kind = ne_op_kind(code);
    if (!kind) {
        return refuse_code(L, i, code);
    }
    op->kind = kind;
    fb_vector(&L->fb, &opt, OP_INPUTS, 4, &ins, "Operator.inputs");
    fb_vector(&L->fb, &opt, OP_OUTPUTS, 4, &outs, "Operator.outputs");
    if (!fb_u8(&L->fb, &opt, OP_OPTIONS_TYPE, 0, &options_type, "Operator.builtin_options_type")) {
        return 0;
    }
    P->has_options = fb_table(&L->fb, &opt, OP_OPTIONS, &P->options, "Operator.builtin_options");
    if (L->fb.failed) {
        return 0;
    }
    if (options_type != kind->options && !(options_type == OPT_NONE && !P->has_options)) {
        return ne_op_error(P, "builtin options of the wrong type");
    }
    if (ins.len < kind->min_inputs || ins.len > kind->max_inputs || outs.len < 1 || outs.len > kind->max_outputs) {
        ne_errorf(P->err, "op %u (%s): takes %u to %u inputs and at most %u outputs, not %u and %u", i, kind->name,
            kind->min_inputs, kind->max_inputs, kind->max_outputs, ins.len, outs.len);
        return 0;
    }
    op->n_inputs = (uint8_t)ins.len;
    op->n_outputs = (uint8_t)outs.len;
    op->io = ne_prep_alloc(P, 2 * (ins.len + outs.len));
    if (!op->io) {
        return 0;
    }
    for (uint32_t k = 0; k < ins.len + outs.len; k++) {
        int32_t t = k < ins.len ? vec_i32(L, &ins, k) : vec_i32(L, &outs, k - ins.len);
        int optional = t == -1 && k == 2 && k < ins.len && (kind->flags & NE_KIND_OPTIONAL_BIAS);
        if (!optional && (t < 0 || (uint32_t)t >= m->n_tensors)) {
            return ne_op_error(P, k < ins.len ? "input tensor index out of range" : "output tensor index out of range");
        }
        op->io[k] = (int16_t)t;
    }
    for (uint32_t k = 0; k < outs.len; k++) {
        const ne_tensor_t *out = ne_prep_output(P, op, (int)k);
        if (out->is_const || L->life[op->io[ins.len + k]].first >= 0) {
            return ne_op_error(P, "output is a constant or already produced");
        }
    }
    // Every non-constant input must exist already: the graph input or an earlier op's output.
    for (uint32_t k = 0; k < ins.len; k++) {
        if (op->io[k] < 0) {
            continue;
        }
        const ne_tensor_t *in = ne_prep_input(P, op, (int)k);
        if (!in->is_const && L->life[op->io[k]].first < 0) {
            return ne_op_error(P, "reads a tensor that no earlier op produces");
        }
        int shape_allowed = (kind->flags & NE_KIND_SHAPE_OP) || (k == 1 && (kind->flags & NE_KIND_SHAPE_INPUT1));
        if (in->folded && !shape_allowed) {
            return ne_op_error(P, "computes on a shape value, which edgedl folds at load (only RESHAPE may take it)");
        }
    }
    for (uint32_t k = 0; k < outs.len; k++) {
        L->life[op->io[ins.len + k]].first = L->life[op->io[ins.len + k]].last = (int16_t)(i + 1);
    }
    // Ops after SPACE_TO_BATCH_ND compute on batch x block items where the model says batch: their
    // outputs carry the factor too, until BATCH_TO_SPACE_ND folds the items back.
    const ne_tensor_t *data = op->io[0] >= 0 ? ne_prep_input(P, op, 0) : 0;
    if (data && data->batch_factor > 1 && code != OP_BATCH_TO_SPACE_ND) {
        for (uint32_t k = 0; k < outs.len; k++) {
            if (!ne_scale_batch(P, ne_prep_output(P, op, (int)k), data->batch_factor)) {
                return 0;
            }
        }
    }
    if (kind->params_bytes && !(op->params = ne_prep_alloc(P, kind->params_bytes))) {
        return 0;
    }
    if (!kind->prepare(P, op)) {
        return 0;
    }
    if (!op->folded) {  // a folded op runs at load: it keeps no input alive
        for (uint32_t k = 0; k < ins.len; k++) {
            if (op->io[k] >= 0 && !ne_prep_input(P, op, (int)k)->is_const) {
                L->life[op->io[k]].last = (int16_t)(i + 1);
            }
        }
    }
    return 1;
}

// TFLM's GreedyMemoryPlanner: largest first, each at the lowest offset that does not overlap (in
// memory and lifetime) a buffer placed before it. Among buffers of one size TFLM places the later
// tensor first; the earlier-first order is sometimes smaller, so the loader plans both and keeps
// the smaller. Offsets go to the tensors' records.
static uint32_t plan_order(ne_tensor_t *tensors, uint32_t n_tensors, const lifetime_t *life, int16_t *order,
    int later_first) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < n_tensors; i++) {
        if (tensors[i].planned) {
            order[n++] = (int16_t)i;
        }
    }
    for (uint32_t i = 1; i < n; i++) {  // insertion sort: size descending, then by index
        int16_t v = order[i];
        uint32_t size = ALIGN_UP(ne_tensor_bytes(&tensors[v]), 16);
        uint32_t j = i;
        while (j > 0) {
            uint32_t before = ALIGN_UP(ne_tensor_bytes(&tensors[order[j - 1]]), 16);
            if (before > size || (before == size && !later_first)) {
                break;
            }
            order[j] = order[j - 1];
            j--;
        }
        order[j] = v;
    }
    uint32_t head = 0;
    for (uint32_t i = 0; i < n; i++) {
        ne_tensor_t *t = &tensors[order[i]];
        const lifetime_t *lt = &life[order[i]];
        uint32_t size = ALIGN_UP(ne_tensor_bytes(t), 16), offset = 0;
        // Raise the candidate offset past every conflicting placed buffer until it fits.
        int moved = 1;
        while (moved) {
            moved = 0;
            for (uint32_t j = 0; j < i; j++) {
                const ne_tensor_t *o = &tensors[order[j]];
                const lifetime_t *lo = &life[order[j]];
                uint32_t osize = ALIGN_UP(ne_tensor_bytes(o), 16);
                int time_overlap = lt->first <= lo->last && lo->first <= lt->last;
                if (time_overlap && offset < o->offset + osize && o->offset < offset + size) {
                    offset = o->offset + osize;
                    moved = 1;
                }
            }
        }
        t->offset = offset;
        if (offset + size > head) {
            head = offset + size;
        }
    }
    return head;
}

static uint32_t plan_arena(ne_tensor_t *tensors, uint32_t n, const lifetime_t *life, int16_t *order) {
    uint32_t later_first = plan_order(tensors, n, life, order, 1), earlier_first = plan_order(tensors, n, life, order, 0);
    return earlier_first <= later_first ? earlier_first : plan_order(tensors, n, life, order, 1);
}

static void io_info(const ne_tensor_t *t, ne_io_info_t *info) {
    info->type = t->type;
    info->rank = t->rank;
    for (int i = 0; i < NE_MAX_RANK; i++) {
        info->dims[i] = i < t->rank ? t->dims[i] : 0;
    }
    info->bytes = ne_tensor_bytes(t);
    info->scale_bits = t->scale_bits;
    info->zero_point = t->zero_point;
}

static void find_embedding(ne_model_t *m, const ne_tensor_t *tensors, lifetime_t *life);

int ne_model_load(const uint8_t *model, uint32_t len, void *meta, uint32_t meta_bytes, void *work,
    uint32_t work_bytes, ne_model_t **out, ne_error_t *err) {
    loader_t L;
    uint32_t need, need_work, scratch_len;
    err->text[0] = 0;
    if (!read_header(&L, model, len, err) || !measure(&L, &need, &need_work, &scratch_len)) {
        return 0;
    }
    if (need > meta_bytes || meta == 0 || ((uintptr_t)meta & 7) || need_work > work_bytes || work == 0
        || ((uintptr_t)work & 7)) {
        ne_errorf(err, "metadata (%u bytes, needs %u) or work area (%u bytes, needs %u) too small or misaligned",
            meta_bytes, need, work_bytes, need_work);
        return 0;
    }
    uint32_t n = L.tensors.len;
    ne_prep_t P = {&L.fb, 0, 0, err, meta, 0, meta_bytes, 0, {0, 0, 0, 0}, 0, 0, scratch_len};
    ne_model_t *m = ne_prep_alloc(&P, sizeof(ne_model_t));
    P.m = m;
    m->model = model;
    m->n_tensors = n;
    m->n_ops = L.operators.len;
    m->where = ne_prep_alloc(&P, n * sizeof(uint32_t));
    m->ops = ne_prep_alloc(&P, m->n_ops * sizeof(ne_op_t));
    P.scratch = ne_prep_alloc(&P, 4 * scratch_len + 4);
    if (!m->where || !m->ops || !P.scratch) {
        return 0;
    }
    // The work area (zeroed): records, lifetimes, the planner's order.
    uint8_t *w = work;
    for (uint32_t i = 0; i < need_work; i++) {
        w[i] = 0;
    }
    P.tensors = (ne_tensor_t *)w;
    L.life = (lifetime_t *)(w + ALIGN_UP(n * sizeof(ne_tensor_t), 8));
    int16_t *order = (int16_t *)((uint8_t *)L.life + ALIGN_UP(n * sizeof(lifetime_t), 8));
    for (uint32_t i = 0; i < n; i++) {
        L.life[i].first = L.life[i].last = -1;
        if (!read_tensor(&L, i, &P.tensors[i])) {
            return 0;
        }
    }
    int32_t gin = vec_i32(&L, &L.inputs, 0), gout = vec_i32(&L, &L.outputs, 0);
    if (gin < 0 || (uint32_t)gin >= n || gout < 0 || (uint32_t)gout >= n) {
        ne_errorf(err, "malformed model: graph input or output tensor index out of range");
        return 0;
    }
    ne_tensor_t *tin = &P.tensors[gin], *tout = &P.tensors[gout];
    if (tin->is_const || (tin->type != NE_INT8 && tin->type != NE_FLOAT32)
        || (tout->type != NE_INT8 && tout->type != NE_FLOAT32)) {
        ne_errorf(err, "unsupported model: graph input and output must be int8 or float32 activations");
        return 0;
    }
    m->input = (int16_t)gin;
    m->output = (int16_t)gout;
    L.life[gin].first = L.life[gin].last = 0;
    for (uint32_t i = 0; i < m->n_ops; i++) {
        if (!read_op(&P, &L, i)) {
            return 0;
        }
    }
    if (L.life[gout].first < 0 || tout->is_const || tout->folded) {
        ne_errorf(err, "malformed model: no op produces the graph output");
        return 0;
    }
    L.life[gout].last = (int16_t)m->n_ops;
    find_embedding(m, P.tensors, L.life);
    // Plan every non-constant tensor that is used.
    for (uint32_t i = 0; i < n; i++) {
        ne_tensor_t *t = &P.tensors[i];
        t->planned = !t->is_const && L.life[i].first >= 0 && !t->folded;
        if (t->planned && t->type == NE_INT32) {
            ne_errorf(err, "unsupported model: int32 activation tensor %u", i);
            return 0;
        }
    }
    m->arena_bytes = plan_arena(P.tensors, n, L.life, order);
    // What invoke keeps: where each tensor's data is, and the shapes of its inputs and outputs.
    for (uint32_t i = 0; i < n; i++) {
        const ne_tensor_t *t = &P.tensors[i];
        m->where[i] = t->is_const ? NE_IN_MODEL | t->offset : t->planned ? t->offset : 0;
    }
    io_info(tin, &m->input_info);
    io_info(tout, &m->output_info);
    if (m->embedding >= 0) {
        io_info(&P.tensors[m->embedding], &m->embedding_info);
    }
    *out = m;
    return 1;
}

// The classifier head is a FULLY_CONNECTED op feeding the final SOFTMAX. Its int8 input is
// the model's embedding: it lives to the end of invoke (the planner does not reuse it), so
// that the board can re-fit a classifier on it (calibration).
static void find_embedding(ne_model_t *m, const ne_tensor_t *tensors, lifetime_t *life) {
    m->embedding = -1;
    if (m->n_ops < 2) {
        return;
    }
    const ne_op_t *last = &m->ops[m->n_ops - 1];
    if (last->kind->code != OP_SOFTMAX || last->io[last->n_inputs] != m->output) {
        return;
    }
    for (int32_t i = (int32_t)m->n_ops - 2; i >= 0; i--) {
        const ne_op_t *op = &m->ops[i];
        if (op->io[op->n_inputs] == last->io[0]) {
            const ne_tensor_t *t = &tensors[op->io[0]];
            if (op->kind->code == OP_FULLY_CONNECTED && t->type == NE_INT8 && !t->is_const) {
                life[op->io[0]].last = (int16_t)m->n_ops;
                m->embedding = op->io[0];
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

void ne_model_info(const ne_model_t *m, ne_io_info_t *input, ne_io_info_t *output) {
    ne_copy(input, &m->input_info, sizeof(ne_io_info_t));  // no libc: no struct assignment
    ne_copy(output, &m->output_info, sizeof(ne_io_info_t));
}

int ne_model_embedding_info(const ne_model_t *m, ne_io_info_t *info) {
    if (m->embedding < 0) {
        return 0;
    }
    ne_copy(info, &m->embedding_info, sizeof(ne_io_info_t));
    return 1;
}

void ne_model_embedding(ne_model_t *m, void *out) {
    ne_copy(out, ne_tensor_data(m, m->embedding), m->embedding_info.bytes);
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

void ne_model_invoke(ne_model_t *m, const void *input, void *output) {
    ne_copy(ne_tensor_data(m, m->input), input, m->input_info.bytes);
    for (uint32_t i = 0; i < m->n_ops; i++) {
        const ne_op_t *op = &m->ops[i];
        if (!op->folded) {  // a folded shape computation was done at load
            op->kind->eval(m, op);
        }
    }
    ne_copy(output, ne_tensor_data(m, m->output), m->output_info.bytes);
}
