// MAX_POOL_2D, AVERAGE_POOL_2D and MEAN, int8 (TFLite Micro reference
// semantics: pooling windows clipped to the input, average rounded half away
// from zero with no requantization; MEAN via QuantizedMeanOrSum).
#include "edgedl_fixed.h"
#include "edgedl_internal.h"

static inline void window(int32_t origin, int32_t filter, int32_t size, int32_t *start, int32_t *end) {
    *start = origin < 0 ? -origin : 0;
    *end = size - origin < filter ? size - origin : filter;
}

void ne_max_pool(const ne_op_t *op, const int8_t *in, int8_t *out) {
    const int32_t in_h = op->in_h, in_w = op->in_w, depth = op->in_c;
    for (int32_t b = 0; b < op->batches; b++) {
        for (int32_t oy = 0; oy < op->out_h; oy++) {
            const int32_t y0 = oy * op->stride_h - op->pad_h;
            int32_t fy0, fy1;
            window(y0, op->filter_h, in_h, &fy0, &fy1);
            for (int32_t ox = 0; ox < op->out_w; ox++) {
                const int32_t x0 = ox * op->stride_w - op->pad_w;
                int32_t fx0, fx1;
                window(x0, op->filter_w, in_w, &fx0, &fx1);
                for (int32_t c = 0; c < depth; c++) {
                    int32_t best = -128;
                    for (int32_t fy = fy0; fy < fy1; fy++) {
                        for (int32_t fx = fx0; fx < fx1; fx++) {
                            int32_t v = in[((b * in_h + y0 + fy) * in_w + x0 + fx) * depth + c];
                            best = v > best ? v : best;
                        }
                    }
                    *out++ = (int8_t)ne_clamp(best, op->act_min, op->act_max);
                }
            }
        }
    }
}

void ne_average_pool(const ne_op_t *op, const int8_t *in, int8_t *out) {
    const int32_t in_h = op->in_h, in_w = op->in_w, depth = op->in_c;
    for (int32_t b = 0; b < op->batches; b++) {
        for (int32_t oy = 0; oy < op->out_h; oy++) {
            const int32_t y0 = oy * op->stride_h - op->pad_h;
            int32_t fy0, fy1;
            window(y0, op->filter_h, in_h, &fy0, &fy1);
            for (int32_t ox = 0; ox < op->out_w; ox++) {
                const int32_t x0 = ox * op->stride_w - op->pad_w;
                int32_t fx0, fx1;
                window(x0, op->filter_w, in_w, &fx0, &fx1);
                const int32_t count = (fy1 - fy0) * (fx1 - fx0);  // >= 1: the loader checked shapes
                for (int32_t c = 0; c < depth; c++) {
                    int32_t acc = 0;
                    for (int32_t fy = fy0; fy < fy1; fy++) {
                        for (int32_t fx = fx0; fx < fx1; fx++) {
                            acc += in[((b * in_h + y0 + fy) * in_w + x0 + fx) * depth + c];
                        }
                    }
                    acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                    *out++ = (int8_t)ne_clamp(acc, op->act_min, op->act_max);
                }
            }
        }
    }
}

void ne_mean(const ne_op_t *op, const int8_t *in, int8_t *out) {
    // Input viewed as 4-D (trailing 1s); the output is the flattened kept axes.
    const int32_t *d = op->out_dims;
    int32_t ostride[NE_MAX_RANK], n_out = 1;
    for (int i = NE_MAX_RANK - 1; i >= 0; i--) {
        if (op->reduce_mask & (1u << i)) {
            ostride[i] = 0;
        } else {
            ostride[i] = n_out;
            n_out *= d[i];
        }
    }
    int32_t *sum = op->scratch;
    for (int32_t i = 0; i < n_out; i++) {
        sum[i] = 0;
    }
    const int8_t *x = in;
    for (int32_t i0 = 0; i0 < d[0]; i0++) {
        for (int32_t i1 = 0; i1 < d[1]; i1++) {
            for (int32_t i2 = 0; i2 < d[2]; i2++) {
                int32_t *row = sum + i0 * ostride[0] + i1 * ostride[1] + i2 * ostride[2];
                if (ostride[3]) {
                    for (int32_t i3 = 0; i3 < d[3]; i3++) {
                        row[i3] += *x++;
                    }
                } else {
                    for (int32_t i3 = 0; i3 < d[3]; i3++) {
                        row[0] += *x++;
                    }
                }
            }
        }
    }
    const int32_t offset = op->in_offset * op->reduce_count;
    for (int32_t i = 0; i < n_out; i++) {
        int32_t v = ne_mbqm(sum[i] + offset, op->mult, op->shift) + op->out_offset;
        out[i] = (int8_t)ne_clamp(v, -128, 127);
    }
}
