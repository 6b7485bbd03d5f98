// BATCH_MATMUL, int8 (TFLM's reference: both operands offset by their zero points, one
// requantization by lhs scale * rhs scale / output scale in double). Batch dimensions broadcast;
// adj_x and adj_y read an operand transposed, which here is only a change of strides.
#include "edgedl_fixed.h"
#include "edgedl_internal.h"
#include "edgedl_dot.h"

static int prepare_batch_matmul(ne_prep_t *P, ne_op_t *op) {
    ne_matmul_t *p = op->params;
    ne_tensor_t *lhs = ne_prep_input(P, op, 0), *rhs = ne_prep_input(P, op, 1), *out = ne_prep_output(P, op, 0);
    uint8_t adj_x, adj_y;
    if (!ne_opt_u8(P, 0, 0, &adj_x) || !ne_opt_u8(P, 1, 0, &adj_y) || !ne_require_int8(P, lhs, "input 1")
        || !ne_require_int8(P, rhs, "input 2") || !ne_require_int8(P, out, "output")) {
        return 0;
    }
    if (lhs->rank < 2 || rhs->rank < 2 || lhs->n_scales != 1 || rhs->n_scales != 1) {
        return ne_op_error(P, "operands must be per-tensor quantized matrices (rank 2 to 4)");
    }
    int32_t l[NE_MAX_RANK], r[NE_MAX_RANK], o[NE_MAX_RANK];
    ne_dims4(lhs, l);
    ne_dims4(rhs, r);
    ne_dims4(out, o);
    p->rows = adj_x ? l[3] : l[2];
    p->depth = adj_x ? l[2] : l[3];
    p->cols = adj_y ? r[2] : r[3];
    if ((adj_y ? r[3] : r[2]) != p->depth) {
        return ne_op_error(P, "the operands' inner dimensions differ");
    }
    if (p->depth > 32768) {
        return ne_op_error(P, "more than 32768 products per output (the int32 sum could overflow)");
    }
    // Element strides: row i and inner k of the lhs, inner k and column j of the rhs.
    p->lhs_row = adj_x ? 1 : l[3];
    p->lhs_k = adj_x ? l[3] : 1;
    p->rhs_k = adj_y ? 1 : r[3];
    p->rhs_col = adj_y ? r[3] : 1;
    int32_t lhs_size = l[2] * l[3], rhs_size = r[2] * r[3];
    for (int a = 0; a < 2; a++) {
        if (l[a] != r[a] && l[a] != 1 && r[a] != 1) {
            return ne_op_error(P, "batch dimensions do not broadcast");
        }
        p->batches[a] = l[a] > r[a] ? l[a] : r[a];
    }
    p->lhs_batch[1] = l[1] == 1 ? 0 : lhs_size;
    p->lhs_batch[0] = l[0] == 1 ? 0 : lhs_size * l[1];
    p->rhs_batch[1] = r[1] == 1 ? 0 : rhs_size;
    p->rhs_batch[0] = r[0] == 1 ? 0 : rhs_size * r[1];
    if (o[0] != p->batches[0] || o[1] != p->batches[1] || o[2] != p->rows || o[3] != p->cols) {
        return ne_op_error(P, "output shape does not match the product");
    }
    p->lhs_offset = -lhs->zero_point;
    p->rhs_offset = -rhs->zero_point;
    p->out_offset = out->zero_point;
    ne_real_t product = ne_real_mul(ne_scale_of(P, lhs, 0), ne_scale_of(P, rhs, 0));
    op->macs = (uint32_t)out->count * (uint32_t)p->depth;
    return ne_multiplier(P, ne_real_div(product, ne_scale_of(P, out, 0), 53), &p->mult, &p->shift);
}

// Output columns in blocks: acc/wsum arrays of MATMUL_BLOCK on the stack.
#define MATMUL_BLOCK 64

// Rows of op(lhs), contiguous along the inner dimension, against `block` columns of op(rhs), column j
// at w + j * wstride, contiguous along the inner dimension, into output columns j0...:
// sum((x + lo)(w + ro)) = sum(x w) + lo sum(w) + ro sum(x) + depth lo ro, with plain int8 dots (exact
// integer sums; wrapping adds, as the int32 accumulator would).
static void rows_by_block(const ne_matmul_t *p, const int8_t *lb, const int8_t *w, int32_t wstride, int32_t j0,
    int32_t block, int8_t *out) {
    const int32_t lo = p->lhs_offset, ro = p->rhs_offset, depth = p->depth, oo = p->out_offset;
    const int32_t mult = p->mult, shift = p->shift;
    int32_t wterm[MATMUL_BLOCK];
    int32_t acc[MATMUL_BLOCK];
    for (int32_t j = 0; j < block; j++) {
        wterm[j] = lo * ne_sum_i8(w + j * wstride, depth);
    }
    for (int32_t i = 0; i < p->rows; i++) {
        const int8_t *x = lb + i * p->lhs_row;
        const int32_t row_terms = ne_wrap_add(ro * ne_sum_i8(x, depth), depth * lo * ro);
        int32_t j = 0;
#ifdef NE_DOT4
        for (; j + 4 <= block; j += 4) {
            acc[j] = acc[j + 1] = acc[j + 2] = acc[j + 3] = 0;
            ne_dot4_i8(w + j * wstride, wstride, x, depth, acc + j);
        }
#endif
        for (; j < block; j++) {
            acc[j] = ne_dot_i8(x, w + j * wstride, depth);
        }
        int8_t *o = out + i * p->cols + j0;
        for (j = 0; j < block; j++) {
            const int32_t v = ne_wrap_add(ne_wrap_add(acc[j], wterm[j]), row_terms);
            o[j] = (int8_t)ne_clamp(ne_mbqm(v, mult, shift) + oo, -128, 127);
        }
    }
}

// Both operands contiguous along the inner dimension (rhs read as op(rhs) with adj_y, e.g. q . k^T).
static void rows_by_columns(const ne_matmul_t *p, const int8_t *lb, const int8_t *rb, int8_t *out) {
    for (int32_t j0 = 0; j0 < p->cols; j0 += MATMUL_BLOCK) {
        const int32_t block = p->cols - j0 < MATMUL_BLOCK ? p->cols - j0 : MATMUL_BLOCK;
        rows_by_block(p, lb, rb + j0 * p->rhs_col, p->rhs_col, j0, block, out);
    }
}

#ifdef NE_DOT4
// The lhs contiguous along the inner dimension, the rhs not (e.g. weights . v): a block of rhs columns
// is gathered into a contiguous buffer on the stack (depth bytes per column), then as above. Returns 0
// when a column is too deep for a block of four.
static int rows_by_gathered_columns(const ne_matmul_t *p, const int8_t *lb, const int8_t *rb, int8_t *out) {
    const int32_t depth = p->depth;
    int32_t width = (NE_PATCH_MAX / depth) & ~3;
    if (width < 4) {
        return 0;
    }
    width = width < MATMUL_BLOCK ? width : MATMUL_BLOCK;
    int8_t columns[NE_PATCH_MAX];
    for (int32_t j0 = 0; j0 < p->cols; j0 += width) {
        const int32_t block = p->cols - j0 < width ? p->cols - j0 : width;
        for (int32_t k = 0; k < depth; k++) {
            const int8_t *w = rb + k * p->rhs_k + j0 * p->rhs_col;
            for (int32_t j = 0; j < block; j++) {
                columns[j * depth + k] = w[j * p->rhs_col];
            }
        }
        rows_by_block(p, lb, columns, depth, j0, block, out);
    }
    return 1;
}
#endif

static void eval_batch_matmul(ne_model_t *m, const ne_op_t *op) {
    const ne_matmul_t *p = op->params;
    const int8_t *lhs = ne_in(m, op, 0), *rhs = ne_in(m, op, 1);
    int8_t *out = ne_out(m, op, 0);
    int32_t acc[MATMUL_BLOCK];
    for (int32_t b0 = 0; b0 < p->batches[0]; b0++) {
        for (int32_t b1 = 0; b1 < p->batches[1]; b1++) {
            const int8_t *lb = lhs + b0 * p->lhs_batch[0] + b1 * p->lhs_batch[1];
            const int8_t *rb = rhs + b0 * p->rhs_batch[0] + b1 * p->rhs_batch[1];
            if (p->lhs_k == 1 && p->rhs_k == 1) {
                rows_by_columns(p, lb, rb, out);
                out += p->rows * p->cols;
                continue;
            }
#ifdef NE_DOT4
            if (p->lhs_k == 1 && rows_by_gathered_columns(p, lb, rb, out)) {
                out += p->rows * p->cols;
                continue;
            }
#endif
            // Each row of op(lhs) is added into a block's accumulators column by column of op(rhs),
            // so that the innermost loop runs over contiguous memory when the rhs rows are contiguous.
            for (int32_t i = 0; i < p->rows; i++) {
                const int8_t *x = lb + i * p->lhs_row;
                for (int32_t j0 = 0; j0 < p->cols; j0 += MATMUL_BLOCK) {
                    const int32_t block = p->cols - j0 < MATMUL_BLOCK ? p->cols - j0 : MATMUL_BLOCK;
                    for (int32_t j = 0; j < block; j++) {
                        acc[j] = 0;
                    }
                    for (int32_t k = 0; k < p->depth; k++) {
                        const int32_t xv = x[k * p->lhs_k] + p->lhs_offset;
                        const int8_t *w = rb + k * p->rhs_k + j0 * p->rhs_col;
                        if (p->rhs_col == 1) {  // contiguous: vectorised
                            for (int32_t j = 0; j < block; j++) {
                                acc[j] += xv * (w[j] + p->rhs_offset);
                            }
                        } else {
                            for (int32_t j = 0; j < block; j++) {
                                acc[j] += xv * (w[j * p->rhs_col] + p->rhs_offset);
                            }
                        }
                    }
                    for (int32_t j = 0; j < block; j++) {
                        *out++ = (int8_t)ne_clamp(ne_mbqm(acc[j], p->mult, p->shift) + p->out_offset, -128, 127);
                    }
                }
            }
        }
    }
}

// The op table rows of this file (edgedl_ops.c looks them up).
const ne_op_kind_t ne_ops_matmul[] = {
    // name, code, options, inputs min..max, outputs, flags, params, prepare, eval
    {"BATCH_MATMUL", OP_BATCH_MATMUL, OPT_BATCH_MATMUL, 2, 2, 1, 0, sizeof(ne_matmul_t), prepare_batch_matmul,
        eval_batch_matmul},
    {0},
};
