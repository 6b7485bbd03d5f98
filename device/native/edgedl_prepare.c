// What the ops' prepare functions share: errors that name the op, option fields, int8 and
// constant checks, TFLite's multiplier and activation-range arithmetic, and meta memory.
#include "edgedl_internal.h"

const char *ne_op_name(ne_prep_t *P) {
    return P->m->ops[P->index].kind->name;
}

int ne_op_error(ne_prep_t *P, const char *problem) {
    ne_errorf(P->err, "op %u (%s): %s", P->index, ne_op_name(P), problem);
    return 0;
}

ne_tensor_t *ne_prep_input(ne_prep_t *P, const ne_op_t *op, int k) {
    return &P->tensors[op->io[k]];
}

ne_tensor_t *ne_prep_output(ne_prep_t *P, const ne_op_t *op, int k) {
    return &P->tensors[op->io[op->n_inputs + k]];
}

int ne_opt_u8(ne_prep_t *P, int field, uint8_t def, uint8_t *out) {
    if (!P->has_options) {
        *out = def;
        return 1;
    }
    return fb_u8(P->fb, &P->options, field, def, out, "op options");
}

int ne_opt_i32(ne_prep_t *P, int field, int32_t def, int32_t *out) {
    if (!P->has_options) {
        *out = def;
        return 1;
    }
    return fb_i32(P->fb, &P->options, field, def, out, "op options");
}

int ne_opt_u32(ne_prep_t *P, int field, uint32_t def, uint32_t *out) {
    if (!P->has_options) {
        *out = def;
        return 1;
    }
    return fb_u32(P->fb, &P->options, field, def, out, "op options");
}

const char *ne_type_name(uint8_t type) {
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

int ne_require_int8(ne_prep_t *P, const ne_tensor_t *t, const char *which) {
    if (t->type != NE_INT8 || t->n_scales == 0) {
        ne_errorf(P->err, "op %u (%s): %s must be a quantized int8 tensor, not %s", P->index, ne_op_name(P), which,
            ne_type_name(t->type));
        return 0;
    }
    return 1;
}

int ne_const_i32(ne_prep_t *P, const ne_tensor_t *t, const char *which, int32_t *values, uint32_t max) {
    if (t->type != NE_INT32 || !t->is_const || t->count > max) {
        ne_errorf(P->err, "op %u (%s): %s must be a small constant int32 tensor", P->index, ne_op_name(P), which);
        return 0;
    }
    for (uint32_t i = 0; i < t->count; i++) {
        values[i] = (int32_t)fb_load_u32(ne_const_data(P, t) + 4 * i);
    }
    return 1;
}

int ne_same_quantization(const ne_tensor_t *a, const ne_tensor_t *b) {
    return a->scale_bits == b->scale_bits && a->zero_point == b->zero_point;
}

ne_real_t ne_scale_of(const ne_prep_t *P, const ne_tensor_t *t, uint32_t i) {
    ne_real_t r;
    ne_real_from_f32(fb_load_u32(P->m->model + t->scales_at + 4 * (t->n_scales > 1 ? i : 0)), &r);  // validated
    return r;
}

float ne_f32_from_bits(uint32_t bits) {
    union {
        uint32_t u;
        float f;
    } v = {bits};
    return v.f;
}

int ne_multiplier(ne_prep_t *P, ne_real_t value, int32_t *mult, int32_t *shift) {
    if (!ne_quantize_multiplier(value, mult, shift)) {
        return ne_op_error(P, "requantization multiplier out of range (inconsistent scales)");
    }
    return 1;
}

// CalculateActivationRangeQuantized: float32 division, round half away.
int ne_activation_range(ne_prep_t *P, uint8_t act, const ne_tensor_t *out, int32_t *lo, int32_t *hi) {
    ne_real_t scale = ne_scale_of(P, out, 0);
    ne_real_t one = {1, 0}, six = {6, 0};
    int32_t zp = out->zero_point;
    *lo = -128;
    *hi = 127;
    switch (act) {
        case ACT_NONE:
            break;
        case ACT_RELU:
            *lo = zp > *lo ? zp : *lo;
            break;
        case ACT_RELU6: {
            int32_t top = zp + ne_real_round_int(ne_real_div(six, scale, 24));
            *lo = zp > *lo ? zp : *lo;
            *hi = top < *hi ? top : *hi;
            break;
        }
        case ACT_RELU_N1_TO_1: {
            int32_t r = ne_real_round_int(ne_real_div(one, scale, 24));
            *lo = zp - r > *lo ? zp - r : *lo;
            *hi = zp + r < *hi ? zp + r : *hi;
            break;
        }
        default:
            return ne_op_error(P, "unsupported fused activation (edgedl: NONE, RELU, RELU6, RELU_N1_TO_1)");
    }
    return 1;
}

void *ne_prep_alloc(ne_prep_t *P, uint32_t bytes) {
    uint32_t start = (P->meta_used + 7) & ~7u;
    if (start > P->meta_cap || bytes > P->meta_cap - start) {
        ne_errorf(P->err, "internal: model metadata larger than measured");
        return 0;
    }
    P->meta_used = start + bytes;
    uint8_t *p = P->meta + start;
    for (uint32_t i = 0; i < bytes; i++) {
        p[i] = 0;
    }
    return p;
}

void ne_dims4(const ne_tensor_t *t, int32_t *dims) {
    for (int i = 0; i < NE_MAX_RANK; i++) {
        int k = i - (NE_MAX_RANK - t->rank);
        dims[i] = k >= 0 ? t->dims[k] : 1;
    }
}

int ne_broadcast(ne_prep_t *P, const ne_tensor_t *a, const ne_tensor_t *b, const ne_tensor_t *out, ne_broadcast_t *bc) {
    int32_t da[NE_MAX_RANK], db[NE_MAX_RANK], dout[NE_MAX_RANK];
    ne_dims4(a, da);
    ne_dims4(b, db);
    ne_dims4(out, dout);
    for (int i = 0; i < NE_MAX_RANK; i++) {
        int32_t want = da[i] == 1 ? db[i] : da[i];
        if ((da[i] != 1 && db[i] != 1 && da[i] != db[i]) || want != dout[i]) {
            return ne_op_error(P, "input shapes do not broadcast to the output shape");
        }
        bc->dims[i] = dout[i];
    }
    int32_t sa = 1, sb = 1;
    for (int i = NE_MAX_RANK - 1; i >= 0; i--) {
        bc->stride1[i] = da[i] == 1 ? 0 : sa;
        bc->stride2[i] = db[i] == 1 ? 0 : sb;
        sa *= da[i];
        sb *= db[i];
    }
    return 1;
}

int ne_scale_batch(ne_prep_t *P, ne_tensor_t *t, uint32_t factor) {
    // Within the loader's limits on shapes: dimensions up to 2^24, under 2^28 elements.
    if (t->rank == 0 || factor > 255 || (uint64_t)t->dims[0] * factor > (1u << 24)
        || (uint64_t)t->count * factor >= (1u << 28)) {
        return ne_op_error(P, "the output's batch times the block is too large");
    }
    t->dims[0] *= (int32_t)factor;
    t->count *= factor;
    t->batch_factor = (uint8_t)factor;
    return 1;
}
