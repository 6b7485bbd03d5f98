// CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED, int8 with per-channel
// requantization: TFLite Micro's reference arithmetic (ConvPerChannel,
// DepthwiseConvPerChannel, FullyConnected), reorganised for speed:
//   sum(w * (x + in_offset)) == sum(w * x) + in_offset * sum(w)
// over the same in-bounds taps, so the inner loop is a plain int8 dot product
// over contiguous memory, and sum(w) is precomputed per channel at load.
// Integer sums are exact (the loader bounds the filter volume), so the
// reordering gives bit-identical results.
#include "edgedl_fixed.h"
#include "edgedl_internal.h"

#if defined(__ARM_FEATURE_SIMD32) && __ARM_FEATURE_SIMD32 && !defined(NE_PORTABLE)
// The DSP path of ARMv7E-M and later (Cortex-M4/M7/M33; NE_PORTABLE turns it off): SMLAD
// multiplies two pairs of int16 and adds both products in one instruction, SXTB16
// sign-extends bytes 0 and 2 of a word (rotated by 8: bytes 1 and 3). Integer sums in
// another order: the same result, bit for bit.
#include <arm_acle.h>

// Bytes 1 and 3 sign-extended: SXTB16 with its rotation (GCC does not fold a shift into it).
static inline uint32_t sxtb16_odd(uint32_t x) {
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}

static inline uint32_t read32(const int8_t *p) {
    uint32_t v;
    __builtin_memcpy(&v, p, 4);  // one LDR: the core allows unaligned word loads
    return v;
}

static inline int32_t dot_i8(const int8_t *a, const int8_t *b, int32_t n) {
    int32_t acc = 0, i = 0;
    for (; i + 8 <= n; i += 8) {
        uint32_t a0 = read32(a + i), b0 = read32(b + i), a1 = read32(a + i + 4), b1 = read32(b + i + 4);
        acc = __smlad(__sxtb16(a0), __sxtb16(b0), acc);
        acc = __smlad(sxtb16_odd(a0), sxtb16_odd(b0), acc);
        acc = __smlad(__sxtb16(a1), __sxtb16(b1), acc);
        acc = __smlad(sxtb16_odd(a1), sxtb16_odd(b1), acc);
    }
    for (; i < n; i++) {
        acc += (int32_t)a[i] * (int32_t)b[i];
    }
    return acc;
}

// A shared input (a fully-connected layer's vector, a convolution's patch) is sign-extended
// once into int16 pairs in SXTB16's order (x0 x2 x1 x3 per 4 bytes); then two weight rows
// at a time cost, per 4 MACs each: one load and two SXTB16 per row, two loads of the
// shared pairs, four SMLAD.
#define NE_DSP_SHARED 256  // longest shared input (int16 on the stack); longer ones take dot_i8

static inline uint32_t read32_i16(const int16_t *p) {
    uint32_t v;
    __builtin_memcpy(&v, p, 4);
    return v;
}

static inline void extend_shared(const int8_t *x, int32_t n, int16_t *xq) {
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        uint32_t w = read32(x + i), even = __sxtb16(w), odd = sxtb16_odd(w);
        __builtin_memcpy(xq + i, &even, 4);
        __builtin_memcpy(xq + i + 2, &odd, 4);
    }
    for (; i < n; i++) {
        xq[i] = x[i];
    }
}

// acc[0] = w0 . x and acc[1] = w1 . x over n values (x as int8 and as extend_shared made it).
static inline void dot2_shared(const int8_t *w0, const int8_t *w1, const int16_t *xq, const int8_t *x, int32_t n,
    int32_t *acc) {
    int32_t s0 = 0, s1 = 0, i = 0;
    for (; i + 8 <= n; i += 8) {
        uint32_t x02 = read32_i16(xq + i), x13 = read32_i16(xq + i + 2);
        uint32_t y02 = read32_i16(xq + i + 4), y13 = read32_i16(xq + i + 6);
        uint32_t u = read32(w0 + i), v = read32(w1 + i), u2 = read32(w0 + i + 4), v2 = read32(w1 + i + 4);
        s0 = __smlad(__sxtb16(u), x02, s0);
        s0 = __smlad(sxtb16_odd(u), x13, s0);
        s1 = __smlad(__sxtb16(v), x02, s1);
        s1 = __smlad(sxtb16_odd(v), x13, s1);
        s0 = __smlad(__sxtb16(u2), y02, s0);
        s0 = __smlad(sxtb16_odd(u2), y13, s0);
        s1 = __smlad(__sxtb16(v2), y02, s1);
        s1 = __smlad(sxtb16_odd(v2), y13, s1);
    }
    for (; i < n; i++) {
        s0 += (int32_t)w0[i] * (int32_t)x[i];
        s1 += (int32_t)w1[i] * (int32_t)x[i];
    }
    acc[0] = s0;
    acc[1] = s1;
}

#else
static inline int32_t dot_i8(const int8_t *a, const int8_t *b, int32_t n) {
    int32_t acc = 0;
    for (int32_t i = 0; i < n; i++) {
        acc += (int32_t)a[i] * (int32_t)b[i];
    }
    return acc;
}
#endif

static inline int32_t sum_i8(const int8_t *a, int32_t n) {
    int32_t acc = 0;
    for (int32_t i = 0; i < n; i++) {
        acc += a[i];
    }
    return acc;
}

static inline int8_t requantize(const ne_op_t *op, int32_t acc, int32_t c) {
    acc = ne_wrap_add(acc, op->bias[c]);
    acc = ne_mbqm(acc, op->ch_mult[c], op->ch_shift[c]) + op->out_offset;
    return (int8_t)ne_clamp(acc, op->act_min, op->act_max);
}

// Output channels oc and oc + 1 from one shared input (DSP path): their requantized values.
#ifdef NE_DSP_SHARED
static inline void two_outputs(const ne_op_t *op, const int8_t *filter, int32_t n, int32_t oc, const int16_t *xq,
    const int8_t *x, int8_t *out) {
    int32_t acc[2];
    dot2_shared(filter + oc * n, filter + (oc + 1) * n, xq, x, n, acc);
    out[0] = requantize(op, ne_wrap_add(acc[0], op->in_offset * op->wsum[oc]), oc);
    out[1] = requantize(op, ne_wrap_add(acc[1], op->in_offset * op->wsum[oc + 1]), oc + 1);
}

// Outputs 0, 1, ... of `count` in pairs from one shared input x of n values (row oc of the
// filter is filter + oc * n): the number written, 0 when x is too long for its int16 copy.
static int32_t pairs_of_outputs(const ne_op_t *op, const int8_t *filter, int32_t n, const int8_t *x, int32_t count,
    int8_t *out) {
    if (n > NE_DSP_SHARED) {
        return 0;
    }
    int16_t xq[NE_DSP_SHARED];
    extend_shared(x, n, xq);
    int32_t oc = 0;
    for (; oc + 2 <= count; oc += 2) {
        two_outputs(op, filter, n, oc, xq, x, out + oc);
    }
    return oc;
}
#endif

// First and one-past-last filter tap that lands inside [0, size).
static inline void tap_range(int32_t origin, int32_t taps, int32_t dilation, int32_t size,
    int32_t *first, int32_t *last) {
    int32_t f = 0, l = taps;
    while (f < l && origin + f * dilation < 0) {
        f++;
    }
    while (l > f && origin + (l - 1) * dilation >= size) {
        l--;
    }
    *first = f;
    *last = l;
}

void ne_conv2d(const ne_op_t *op, const int8_t *in, const int8_t *filter, int8_t *out) {
    const int32_t in_h = op->in_h, in_w = op->in_w, in_c = op->in_c;
    const int32_t fh = op->filter_h, fw = op->filter_w, fic = op->filter_in_c, out_c = op->out_c;
    const int32_t per_group = out_c / (in_c / fic);
    const int32_t dh = op->dilation_h, dw = op->dilation_w;
    const int32_t filter_per_oc = fh * fw * fic;
    for (int32_t b = 0; b < op->batches; b++) {
        for (int32_t oy = 0; oy < op->out_h; oy++) {
            const int32_t y0 = oy * op->stride_h - op->pad_h;
            int32_t ky0, ky1;
            tap_range(y0, fh, dh, in_h, &ky0, &ky1);
            for (int32_t ox = 0; ox < op->out_w; ox++) {
                const int32_t x0 = ox * op->stride_w - op->pad_w;
                int32_t kx0, kx1;
                tap_range(x0, fw, dw, in_w, &kx0, &kx1);
                const int full = ky0 == 0 && ky1 == fh && kx0 == 0 && kx1 == fw;
                // Channels of one filter row run on into the next tap when the
                // whole input depth is used with unit dilation: one long dot.
                const int contiguous = dw == 1 && fic == in_c;
                const int32_t row_len = contiguous ? (kx1 - kx0) * fic : fic;
                int32_t oc = 0;
#ifdef NE_DSP_SHARED
                // A full 1-D patch of an ungrouped convolution is one contiguous vector that every
                // filter reads: extended once, then two filters at a time.
                if (contiguous && full && fh == 1) {
                    oc = pairs_of_outputs(op, filter, filter_per_oc, in + ((b * in_h + y0) * in_w + x0) * in_c,
                        out_c, out);
                    out += oc;
                }
#endif
                // The input channels of oc's group, advanced without a division per channel (the
                // DSP path above runs only ungrouped, so oc is then still inside group 0).
                int32_t group_offset = 0, in_group = oc;
                for (; oc < out_c; oc++, in_group++) {
                    if (in_group == per_group) {
                        in_group = 0;
                        group_offset += fic;
                    }
                    const int8_t *wf = filter + oc * filter_per_oc;
                    int32_t acc = 0, wsum = 0;
                    for (int32_t ky = ky0; ky < ky1; ky++) {
                        const int8_t *xrow = in + ((b * in_h + y0 + ky * dh) * in_w) * in_c + group_offset;
                        const int8_t *wrow = wf + ky * fw * fic;
                        if (contiguous) {
                            acc += dot_i8(wrow + kx0 * fic, xrow + (x0 + kx0) * in_c, row_len);
                            if (!full) {
                                wsum += sum_i8(wrow + kx0 * fic, row_len);
                            }
                        } else {
                            for (int32_t kx = kx0; kx < kx1; kx++) {
                                acc += dot_i8(wrow + kx * fic, xrow + (x0 + kx * dw) * in_c, fic);
                                if (!full) {
                                    wsum += sum_i8(wrow + kx * fic, fic);
                                }
                            }
                        }
                    }
                    acc = ne_wrap_add(acc, op->in_offset * (full ? op->wsum[oc] : wsum));
                    *out++ = requantize(op, acc, oc);
                }
            }
        }
    }
}

void ne_depthwise_conv2d(const ne_op_t *op, const int8_t *in, const int8_t *filter, int8_t *out) {
    const int32_t in_h = op->in_h, in_w = op->in_w, in_c = op->in_c;
    const int32_t fh = op->filter_h, fw = op->filter_w, out_c = op->out_c, dm = op->depth_multiplier;
    const int32_t dh = op->dilation_h, dw = op->dilation_w;
    const int32_t in_offset = op->in_offset;
    int32_t *acc = op->scratch;
    for (int32_t b = 0; b < op->batches; b++) {
        for (int32_t oy = 0; oy < op->out_h; oy++) {
            const int32_t y0 = oy * op->stride_h - op->pad_h;
            int32_t ky0, ky1;
            tap_range(y0, fh, dh, in_h, &ky0, &ky1);
            for (int32_t ox = 0; ox < op->out_w; ox++) {
                const int32_t x0 = ox * op->stride_w - op->pad_w;
                int32_t kx0, kx1;
                tap_range(x0, fw, dw, in_w, &kx0, &kx1);
                for (int32_t oc = 0; oc < out_c; oc++) {
                    acc[oc] = 0;
                }
                for (int32_t ky = ky0; ky < ky1; ky++) {
                    for (int32_t kx = kx0; kx < kx1; kx++) {
                        const int8_t *x = in + ((b * in_h + y0 + ky * dh) * in_w + x0 + kx * dw) * in_c;
                        const int8_t *w = filter + (ky * fw + kx) * out_c;
                        if (dm == 1) {
                            for (int32_t c = 0; c < out_c; c++) {
                                acc[c] += (int32_t)w[c] * ((int32_t)x[c] + in_offset);
                            }
                        } else {
                            for (int32_t ic = 0; ic < in_c; ic++) {
                                const int32_t xv = (int32_t)x[ic] + in_offset;
                                for (int32_t m = 0; m < dm; m++) {
                                    acc[ic * dm + m] += (int32_t)w[ic * dm + m] * xv;
                                }
                            }
                        }
                    }
                }
                for (int32_t oc = 0; oc < out_c; oc++) {
                    *out++ = requantize(op, acc[oc], oc);
                }
            }
        }
    }
}

void ne_fully_connected(const ne_op_t *op, const int8_t *in, const int8_t *filter, int8_t *out) {
    const int32_t depth = op->in_c, units = op->out_c;
    for (int32_t b = 0; b < op->batches; b++) {
        const int8_t *x = in + b * depth;
        int32_t u = 0;
#ifdef NE_DSP_SHARED
        u = pairs_of_outputs(op, filter, depth, x, units, out);
        out += u;
#endif
        for (; u < units; u++) {
            int32_t acc = ne_wrap_add(dot_i8(filter + u * depth, x, depth), op->in_offset * op->wsum[u]);
            *out++ = requantize(op, acc, u);
        }
    }
}
