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

#if NE_DSP
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

// A shared input (a fully-connected layer's vector, one row of a convolution's patch) is
// sign-extended once into int16 pairs in SXTB16's order (x0 x2 x1 x3 per 4 bytes), a chunk
// at a time; then four weight rows run over it per pass. Per 4 inputs: two loads of the
// shared pairs, and per row one load, two SXTB16 and two SMLAD: 22 instructions for 16 MACs.
#define NE_DSP_CHUNK 256  // shared values extended at a time (int16, on the stack)

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

// sum += 4 int8 values at row . the shared pairs x02, x13.
#define NE_SMLAD_ROW(sum, row, x02, x13) do {                         \
        uint32_t w_ = read32(row);                                       \
        sum = __smlad(__sxtb16(w_), x02, sum);                           \
        sum = __smlad(sxtb16_odd(w_), x13, sum);                         \
    } while (0)

// Four values of one weight row (at `addr`) times the shared pairs, into sum s.
#define NE_ROW4(addr, s)                                  \
    "ldr %[v], " addr "\n\t"                              \
    "sxtb16 %[t], %[v]\n\t"                               \
    "smlad %[" s "], %[t], %[x02], %[" s "]\n\t"          \
    "sxtb16 %[v], %[v], ror #8\n\t"                       \
    "smlad %[" s "], %[v], %[x13], %[" s "]\n\t"

// 4 shared values times the four rows: rows 1-3 at register offsets from row 0's pointer,
// which the last load advances (no add, and one pointer for four rows).
#define NE_ROWS4                                                                       \
    "ldrd %[x02], %[x13], [%[xq]], #8\n\t"                                              \
    NE_ROW4("[%[w0], %[stride]]", "s1") NE_ROW4("[%[w0], %[stride], lsl #1]", "s2")     \
    NE_ROW4("[%[w0], %[stride3]]", "s3") NE_ROW4("[%[w0]], #4", "s0")

#define NE_ROWS_OPERANDS                                                                              \
    : [s0] "+r"(s0), [s1] "+r"(s1), [s2] "+r"(s2), [s3] "+r"(s3), [w0] "+r"(w0), [xq] "+r"(xq),        \
      [x02] "=&r"(x02), [x13] "=&r"(x13), [v] "=&r"(v), [t] "=&r"(t)

// acc[0..3] += rows w, w + stride, w + 2 stride, w + 3 stride . x over n values (x as int8
// and as extend_shared made it). The loop is assembly: in C, GCC spills the row pointers and
// sums, which doubled its instructions; here 12 registers, which a position-independent
// (natmod) build still has. Per 16 inputs: four LDRD of the shared pairs, 4 x 4 x (LDR,
// 2 SXTB16, 2 SMLAD), and 3 for the loop (its end is read from memory): 87 instructions
// for 64 MACs.
static inline void dot4_shared(const int8_t *w, int32_t stride, const int16_t *xq, const int8_t *x, int32_t n,
    int32_t *acc) {
    const int8_t *w0 = w;
    const int32_t stride3 = 3 * stride;
    int32_t s0 = acc[0], s1 = acc[1], s2 = acc[2], s3 = acc[3];
    const int32_t sixteens = n & ~15, fours = n & ~3;
    uint32_t x02, x13, v, t;
    if (sixteens) {
        const int16_t *const xq_end = xq + sixteens;
        __asm__ volatile(
            "1:\n\t" NE_ROWS4 NE_ROWS4 NE_ROWS4 NE_ROWS4
            "ldr %[t], %[end]\n\t"
            "cmp %[xq], %[t]\n\t"
            "bne 1b\n\t"
            NE_ROWS_OPERANDS
            : [end] "m"(xq_end), [stride] "r"(stride), [stride3] "r"(stride3)
            : "cc", "memory");
    }
    for (int32_t i = sixteens; i < fours; i += 4) {
        __asm__ volatile(NE_ROWS4 NE_ROWS_OPERANDS : [stride] "r"(stride), [stride3] "r"(stride3) : "memory");
    }
    const int8_t *w1 = w0 + stride, *w2 = w1 + stride, *w3 = w2 + stride;
    for (int32_t i = fours; i < n; i++) {
        const int32_t xv = x[i];
        s0 += (int32_t)*w0++ * xv;
        s1 += (int32_t)*w1++ * xv;
        s2 += (int32_t)*w2++ * xv;
        s3 += (int32_t)*w3++ * xv;
    }
    acc[0] = s0;
    acc[1] = s1;
    acc[2] = s2;
    acc[3] = s3;
}

static inline int32_t dot1_shared(const int8_t *w, const int16_t *xq, const int8_t *x, int32_t n) {
    int32_t s = 0, i = 0;
    for (; i + 4 <= n; i += 4) {
        NE_SMLAD_ROW(s, w + i, read32_i16(xq + i), read32_i16(xq + i + 2));
    }
    for (; i < n; i++) {
        s += (int32_t)w[i] * (int32_t)x[i];
    }
    return s;
}

// acc[oc] += (row oc of the weights, at w + oc * stride) . x over n values, for oc < count.
static void accumulate_shared(const int8_t *w, int32_t stride, const int8_t *x, int32_t n, int32_t count,
    int32_t *acc) {
    int16_t xq[NE_DSP_CHUNK];
    for (int32_t c0 = 0; c0 < n; c0 += NE_DSP_CHUNK) {
        const int32_t len = n - c0 < NE_DSP_CHUNK ? n - c0 : NE_DSP_CHUNK;
        extend_shared(x + c0, len, xq);
        int32_t oc = 0;
        for (; oc + 4 <= count; oc += 4) {
            dot4_shared(w + oc * stride + c0, stride, xq, x + c0, len, acc + oc);
        }
        for (; oc < count; oc++) {
            acc[oc] += dot1_shared(w + oc * stride + c0, xq, x + c0, len);
        }
    }
}

#else
#include "edgedl_dot.h"  // SSE2 dots on the host emulator, else the portable one
#define dot_i8 ne_dot_i8
#ifdef NE_DOT4
#define dot4_i8 ne_dot4_i8
#endif
#endif

#include "edgedl_dot.h"  // ne_sum_i8 for every build (the Cortex-M DSP branch keeps its own dot_i8)
#define sum_i8 ne_sum_i8

static inline int8_t requantize(const ne_conv_t *p, int32_t acc, int32_t c) {
    acc = ne_wrap_add(acc, p->ch_add[c]);
    acc = ne_mbqm(acc, p->ch_mult[c], p->ch_shift[c]) + p->out_offset;
    return (int8_t)ne_clamp(acc, p->act_min, p->act_max);
}

#if NE_DSP
// out[c] = requantize(acc[c]) for c < count. The params are read once (stores through an int8
// pointer may alias anything, so a loop of requantize() reloads them per output), and in two
// passes: the additions, then the multiplier, each with few enough live values that a Cortex-M
// keeps them in registers.
static void requantize_all(const ne_conv_t *p, int32_t *acc, int32_t count, int8_t *out) {
    const int32_t *add = p->ch_add, *mult = p->ch_mult;
    const int8_t *shift = p->ch_shift;
    for (int32_t c = 0; c < count; c++) {
        acc[c] = ne_wrap_add(acc[c], add[c]);
    }
    const int32_t out_offset = p->out_offset, lo = p->act_min, hi = p->act_max;
    for (int32_t c = 0; c < count; c++) {
        out[c] = (int8_t)ne_clamp(ne_mbqm(acc[c], mult[c], shift[c]) + out_offset, lo, hi);
    }
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

void ne_conv2d(const ne_conv_t *p, const int8_t *in, const int8_t *filter, int8_t *out) {
    const int32_t in_h = p->in_h, in_w = p->in_w, in_c = p->in_c;
    const int32_t fh = p->filter_h, fw = p->filter_w, fic = p->filter_in_c, out_c = p->out_c;
    const int32_t per_group = out_c / (in_c / fic);
    const int32_t dh = p->dilation_h, dw = p->dilation_w;
    const int32_t filter_per_oc = fh * fw * fic;
    for (int32_t b = 0; b < p->batches; b++) {
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            const int32_t y0 = oy * p->stride_h - p->pad_h;
            int32_t ky0, ky1;
            tap_range(y0, fh, dh, in_h, &ky0, &ky1);
            for (int32_t ox = 0; ox < p->out_w; ox++) {
                const int32_t x0 = ox * p->stride_w - p->pad_w;
                int32_t kx0, kx1;
                tap_range(x0, fw, dw, in_w, &kx0, &kx1);
                int full = ky0 == 0 && ky1 == fh && kx0 == 0 && kx1 == fw;
                // Channels of one filter row run on into the next tap when the
                // whole input depth is used with unit dilation: one long dot.
                const int contiguous = dw == 1 && fic == in_c;
                const int32_t row_len = contiguous ? (kx1 - kx0) * fic : fic;
#ifdef NE_DSP_CHUNK
                // Each row of an ungrouped, undilated patch is one contiguous vector that every
                // filter reads: the shared-input path, all output channels at once.
                if (contiguous) {
                    int32_t *acc = p->scratch;
                    for (int32_t oc = 0; oc < out_c; oc++) {
                        acc[oc] = 0;
                    }
                    if (full && fh == 1) {  // the patch is one vector in the input
                        accumulate_shared(filter, filter_per_oc, in + ((b * in_h + y0) * in_w + x0) * in_c,
                            filter_per_oc, out_c, acc);
                    } else if (filter_per_oc <= NE_DSP_CHUNK) {
                        // Gathered into one vector, taps outside the input as the input's zero point:
                        // x + in_offset == 0 there, so they add nothing, and the full weight sums hold.
                        int8_t patch[NE_DSP_CHUNK] __attribute__((aligned(4)));
                        if (!full) {
                            const int8_t zero_point = (int8_t)-p->in_offset;
                            for (int32_t i = 0; i < filter_per_oc; i++) {
                                patch[i] = zero_point;
                            }
                        }
                        for (int32_t ky = ky0; ky < ky1; ky++) {
                            const int8_t *src = in + ((b * in_h + y0 + ky * dh) * in_w + x0 + kx0) * in_c;
                            int8_t *dst = patch + (ky * fw + kx0) * fic;
                            int32_t i = 0;
                            for (; i + 4 <= row_len; i += 4) {  // no libc: words, then bytes
                                uint32_t word = read32(src + i);
                                __builtin_memcpy(dst + i, &word, 4);
                            }
                            for (; i < row_len; i++) {
                                dst[i] = src[i];
                            }
                        }
                        accumulate_shared(filter, filter_per_oc, patch, filter_per_oc, out_c, acc);
                        full = 1;
                    } else {
                        for (int32_t ky = ky0; ky < ky1; ky++) {
                            accumulate_shared(filter + (ky * fw + kx0) * fic, filter_per_oc,
                                in + ((b * in_h + y0 + ky * dh) * in_w + x0 + kx0) * in_c, row_len, out_c, acc);
                        }
                    }
                    if (!full) {  // ch_add counts the input offset on every tap: take the outside taps' back
                        for (int32_t oc = 0; oc < out_c; oc++) {
                            int32_t inside = 0;
                            for (int32_t ky = ky0; ky < ky1; ky++) {
                                inside += sum_i8(filter + oc * filter_per_oc + (ky * fw + kx0) * fic, row_len);
                            }
                            int32_t outside = sum_i8(filter + oc * filter_per_oc, filter_per_oc) - inside;
                            acc[oc] = ne_wrap_sub(acc[oc], p->in_offset * outside);
                        }
                    }
                    requantize_all(p, acc, out_c, out);
                    out += out_c;
                    continue;
                }
#endif
#ifdef NE_DOT4
                // Ungrouped: every filter reads the same patch, four output channels at a time share
                // the widened input. A 1-D patch inside the input is read in place; otherwise it is
                // gathered, taps outside the input as the input's zero point (x + in_offset == 0
                // there: they add nothing, so ch_add's whole-filter offset term holds).
                if (fic == in_c && ((contiguous && full && fh == 1) || filter_per_oc <= NE_PATCH_MAX)) {
                    int8_t patch[NE_PATCH_MAX];
                    const int8_t *x = in + ((b * in_h + y0) * in_w + x0) * in_c;
                    if (!(contiguous && full && fh == 1)) {
                        const int8_t zero_point = (int8_t)-p->in_offset;
                        for (int32_t ky = 0; ky < fh; ky++) {
                            for (int32_t kx = 0; kx < fw; kx++) {
                                int8_t *dst = patch + (ky * fw + kx) * fic;
                                if (ky >= ky0 && ky < ky1 && kx >= kx0 && kx < kx1) {
                                    ne_copy(dst, in + ((b * in_h + y0 + ky * dh) * in_w + x0 + kx * dw) * in_c, (uint32_t)fic);
                                } else {
                                    for (int32_t c = 0; c < fic; c++) {
                                        dst[c] = zero_point;
                                    }
                                }
                            }
                        }
                        x = patch;
                    }
                    int32_t oc = 0;
                    for (; oc + 4 <= out_c; oc += 4) {
                        int32_t acc[4] = {0, 0, 0, 0};
                        dot4_i8(filter + oc * filter_per_oc, filter_per_oc, x, filter_per_oc, acc);
                        for (int32_t k = 0; k < 4; k++) {
                            *out++ = requantize(p, acc[k], oc + k);
                        }
                    }
                    for (; oc < out_c; oc++) {
                        *out++ = requantize(p, dot_i8(filter + oc * filter_per_oc, x, filter_per_oc), oc);
                    }
                    continue;
                }
#endif
                // The input channels of oc's group, advanced without a division per channel.
                int32_t group_offset = 0, in_group = 0;
                for (int32_t oc = 0; oc < out_c; oc++, in_group++) {
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
                    if (!full) {  // ch_add counts the input offset on every tap: take the outside taps' back
                        acc = ne_wrap_sub(acc, p->in_offset * (sum_i8(wf, filter_per_oc) - wsum));
                    }
                    *out++ = requantize(p, acc, oc);
                }
            }
        }
    }
}

// Output channels in blocks of DEPTHWISE_BLOCK, accumulated on the stack over the taps (channels
// innermost: contiguous memory, vectorised on the host), so depthwise needs no scratch memory.
#define DEPTHWISE_BLOCK 64

void ne_depthwise_conv2d(const ne_conv_t *p, const int8_t *in, const int8_t *filter, int8_t *out) {
    const int32_t in_h = p->in_h, in_w = p->in_w, in_c = p->in_c;
    const int32_t fh = p->filter_h, fw = p->filter_w, out_c = p->out_c, dm = p->depth_multiplier;
    const int32_t dh = p->dilation_h, dw = p->dilation_w;
    const int32_t in_offset = p->in_offset;
    int32_t acc[DEPTHWISE_BLOCK];
    for (int32_t b = 0; b < p->batches; b++) {
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            const int32_t y0 = oy * p->stride_h - p->pad_h;
            int32_t ky0, ky1;
            tap_range(y0, fh, dh, in_h, &ky0, &ky1);
            for (int32_t ox = 0; ox < p->out_w; ox++) {
                const int32_t x0 = ox * p->stride_w - p->pad_w;
                int32_t kx0, kx1;
                tap_range(x0, fw, dw, in_w, &kx0, &kx1);
                for (int32_t c0 = 0; c0 < out_c; c0 += DEPTHWISE_BLOCK) {
                    const int32_t block = out_c - c0 < DEPTHWISE_BLOCK ? out_c - c0 : DEPTHWISE_BLOCK;
                    for (int32_t c = 0; c < block; c++) {
                        acc[c] = 0;
                    }
                    for (int32_t ky = ky0; ky < ky1; ky++) {
                        for (int32_t kx = kx0; kx < kx1; kx++) {
                            const int8_t *x = in + ((b * in_h + y0 + ky * dh) * in_w + x0 + kx * dw) * in_c;
                            const int8_t *w = filter + (ky * fw + kx) * out_c + c0;
                            if (dm == 1) {
                                for (int32_t c = 0; c < block; c++) {
                                    acc[c] += (int32_t)w[c] * ((int32_t)x[c0 + c] + in_offset);
                                }
                            } else {  // output channel c0 + c reads input channel (c0 + c) / dm
                                int32_t ic = c0 / dm, m = c0 - ic * dm;
                                for (int32_t c = 0; c < block; c++) {
                                    acc[c] += (int32_t)w[c] * ((int32_t)x[ic] + in_offset);
                                    if (++m == dm) {
                                        m = 0;
                                        ic++;
                                    }
                                }
                            }
                        }
                    }
                    for (int32_t c = 0; c < block; c++) {
                        *out++ = requantize(p, acc[c], c0 + c);
                    }
                }
            }
        }
    }
}

void ne_fully_connected(const ne_conv_t *p, const int8_t *in, const int8_t *filter, int8_t *out) {
    const int32_t depth = p->in_c, units = p->out_c;
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *x = in + b * depth;
#ifdef NE_DSP_CHUNK
        int32_t *acc = p->scratch;
        for (int32_t u = 0; u < units; u++) {
            acc[u] = 0;
        }
        accumulate_shared(filter, depth, x, depth, units, acc);
        requantize_all(p, acc, units, out);
        out += units;
#else
        int32_t u = 0;
#ifdef NE_DOT4
        for (; u + 4 <= units; u += 4) {  // four units share the widened input
            int32_t acc[4] = {0, 0, 0, 0};
            dot4_i8(filter + u * depth, depth, x, depth, acc);
            for (int32_t k = 0; k < 4; k++) {
                *out++ = requantize(p, acc[k], u + k);
            }
        }
#endif
        for (; u < units; u++) {
            *out++ = requantize(p, dot_i8(filter + u * depth, x, depth), u);
        }
#endif
    }
}

// ---------------------------------------------------------------------------
// Prepare (TFLM's Conv/DepthwiseConv/FullyConnected Prepare, with errors instead of aborts)

enum { PAD_SAME = 0, PAD_VALID = 1 };

// Output size and leading padding of one spatial axis (tensorflow/lite/kernels/padding.h).
int ne_conv_axis(ne_prep_t *P, int32_t in, int32_t filter, int32_t stride, int32_t dilation, uint8_t padding,
    int32_t out_expected, int32_t *pad) {
    if (stride < 1 || dilation < 1 || filter < 1 || stride > 4096 || dilation > 4096) {
        return ne_op_error(P, "stride, dilation and filter size must be >= 1");
    }
    int32_t eff = (filter - 1) * dilation + 1;
    int32_t out = padding == PAD_SAME ? (in + stride - 1) / stride : (in + stride - eff) / stride;
    if (padding > PAD_VALID) {
        return ne_op_error(P, "padding must be SAME or VALID");
    }
    if (out < 1 || out != out_expected) {
        return ne_op_error(P, "output shape does not match the input, filter, stride and padding");
    }
    int32_t total = (out - 1) * stride + eff - in;
    *pad = total > 0 ? total / 2 : 0;
    return 1;
}

int ne_nhwc(ne_prep_t *P, const ne_tensor_t *t, const char *which, int32_t *n, int32_t *h, int32_t *w, int32_t *c) {
    if (t->rank != 4) {
        ne_errorf(P->err, "op %u (%s): %s must have rank 4", P->index, ne_op_name(P), which);
        return 0;
    }
    *n = t->dims[0];
    *h = t->dims[1];
    *w = t->dims[2];
    *c = t->dims[3];
    return 1;
}

// The per-channel arrays (NE_KIND_CHANNEL_ARRAYS: the loader measures them the same way).
static int alloc_channel_arrays(ne_prep_t *P, ne_conv_t *p, int32_t channels) {
    p->ch_mult = ne_prep_alloc(P, 4 * (uint32_t)channels);
    p->ch_add = ne_prep_alloc(P, 4 * (uint32_t)channels);
    p->ch_shift = ne_prep_alloc(P, (uint32_t)channels);
    return p->ch_mult && p->ch_add && p->ch_shift;
}

// ch_add: the bias, plus (conv and dense) the input offset times the channel's weight sum, which
// takes the offset out of the inner loop: sum(w * (x + in_offset)) == sum(w * x) + in_offset * sum(w).
// Integer sums are exact (the filter volume is bounded), so the result is TFLM's bit for bit.
static void fold_input_offset(ne_conv_t *p, const int8_t *w, int32_t channels, uint32_t per_channel) {
    for (int32_t c = 0; c < channels; c++) {
        int32_t s = 0;
        for (uint32_t i = 0; i < per_channel; i++) {
            s += w[(uint32_t)c * per_channel + i];
        }
        p->ch_add[c] = ne_wrap_add(p->ch_add[c], p->in_offset * s);
    }
}

static int bias_ok(const ne_tensor_t *bias, int32_t channels) {
    return !bias || (bias->type == NE_INT32 && bias->is_const && bias->count == (uint32_t)channels);
}

// Per-channel multipliers (double(in) * double(filter[c]) / double(out)), and the bias.
static int per_channel_params(ne_prep_t *P, ne_conv_t *p, const ne_tensor_t *in, const ne_tensor_t *filter,
    const ne_tensor_t *bias, const ne_tensor_t *out, int32_t channels, int32_t qdim) {
    if (filter->n_scales != 1 && filter->n_scales != (uint32_t)channels) {
        return ne_op_error(P, "filter has neither one scale nor one per output channel");
    }
    if (filter->n_scales > 1 && filter->quantized_dimension != qdim) {
        return ne_op_error(P, "filter quantized along the wrong dimension");
    }
    if (!bias_ok(bias, channels)) {
        return ne_op_error(P, "bias must be a constant int32 vector with one value per output channel");
    }
    if (!alloc_channel_arrays(P, p, channels)) {
        return 0;
    }
    ne_real_t in_s = ne_scale_of(P, in, 0), out_s = ne_scale_of(P, out, 0);
    for (int32_t c = 0; c < channels; c++) {
        ne_real_t eff = ne_real_div(ne_real_mul(in_s, ne_scale_of(P, filter, (uint32_t)c)), out_s, 53);
        int32_t shift;
        if (!ne_multiplier(P, eff, &p->ch_mult[c], &shift)) {
            return 0;
        }
        p->ch_shift[c] = (int8_t)shift;
        p->ch_add[c] = bias ? (int32_t)fb_load_u32(ne_const_data(P, bias) + 4 * c) : 0;
    }
    return 1;
}

static int check_filter(ne_prep_t *P, const ne_tensor_t *filter, uint32_t volume) {
    if (filter->type != NE_INT8 || !filter->is_const || filter->rank != 4 || filter->n_scales == 0) {
        return ne_op_error(P, "filter must be a constant quantized int8 tensor of rank 4");
    }
    if (volume > 65536) {
        return ne_op_error(P, "filter volume over 65536 (the int32 accumulator could overflow)");
    }
    return 1;
}

// The DSP kernels accumulate every output channel of a position at once, in the shared scratch.
static int scratch_for(ne_prep_t *P, ne_conv_t *p, int32_t channels) {
#if NE_DSP
    if ((uint32_t)channels > P->scratch_len) {
        return ne_op_error(P, "internal: scratch smaller than measured");
    }
    p->scratch = P->scratch;
#else
    (void)P;
    (void)p;
    (void)channels;
#endif
    return 1;
}

static const ne_tensor_t *optional_bias(ne_prep_t *P, const ne_op_t *op) {
    return op->n_inputs > 2 && op->io[2] >= 0 ? ne_prep_input(P, op, 2) : 0;
}

static int prepare_conv_kind(ne_prep_t *P, ne_op_t *op, int depthwise) {
    ne_conv_t *p = op->params;
    ne_tensor_t *in = ne_prep_input(P, op, 0), *filter = ne_prep_input(P, op, 1), *out = ne_prep_output(P, op, 0);
    const ne_tensor_t *bias = optional_bias(P, op);
    uint8_t padding, act;
    int32_t on = 0, oc = 0, fo;
    if (depthwise) {
        if (!ne_opt_u8(P, 0, 0, &padding) || !ne_opt_i32(P, 1, 1, &p->stride_w) || !ne_opt_i32(P, 2, 1, &p->stride_h)
            || !ne_opt_i32(P, 3, 1, &p->depth_multiplier) || !ne_opt_u8(P, 4, 0, &act)
            || !ne_opt_i32(P, 5, 1, &p->dilation_w) || !ne_opt_i32(P, 6, 1, &p->dilation_h)) {
            return 0;
        }
    } else if (!ne_opt_u8(P, 0, 0, &padding) || !ne_opt_i32(P, 1, 1, &p->stride_w)
               || !ne_opt_i32(P, 2, 1, &p->stride_h) || !ne_opt_u8(P, 3, 0, &act)
               || !ne_opt_i32(P, 4, 1, &p->dilation_w) || !ne_opt_i32(P, 5, 1, &p->dilation_h)) {
        return 0;
    }
    if (!ne_require_int8(P, in, "input") || !ne_require_int8(P, out, "output")
        || !ne_nhwc(P, in, "input", &p->batches, &p->in_h, &p->in_w, &p->in_c)
        || !ne_nhwc(P, out, "output", &on, &p->out_h, &p->out_w, &oc)) {
        return 0;
    }
    if (filter->rank != 4) {
        return ne_op_error(P, "filter must have rank 4");
    }
    if (depthwise) {
        fo = filter->dims[3];
        p->filter_h = filter->dims[1];
        p->filter_w = filter->dims[2];
        p->filter_in_c = 1;
        if (filter->dims[0] != 1 || p->depth_multiplier < 1 || fo != oc
            || (int64_t)p->in_c * p->depth_multiplier != oc) {
            return ne_op_error(P, "filter, depth multiplier and channel counts do not agree");
        }
    } else {
        fo = filter->dims[0];
        p->filter_h = filter->dims[1];
        p->filter_w = filter->dims[2];
        p->filter_in_c = filter->dims[3];
        if (fo != oc || p->filter_in_c < 1 || p->in_c % p->filter_in_c != 0 || oc % (p->in_c / p->filter_in_c) != 0) {
            return ne_op_error(P, "filter and channel counts do not agree");
        }
    }
    if (on != p->batches) {
        return ne_op_error(P, "input and output batch sizes differ");
    }
    if (!check_filter(P, filter, (uint32_t)(p->filter_h * p->filter_w * p->filter_in_c))
        || !ne_conv_axis(P, p->in_h, p->filter_h, p->stride_h, p->dilation_h, padding, p->out_h, &p->pad_h)
        || !ne_conv_axis(P, p->in_w, p->filter_w, p->stride_w, p->dilation_w, padding, p->out_w, &p->pad_w)) {
        return 0;
    }
    p->out_c = oc;
    p->in_offset = -in->zero_point;
    p->out_offset = out->zero_point;
    if (!per_channel_params(P, p, in, filter, bias, out, oc, depthwise ? 3 : 0)
        || !ne_activation_range(P, act, out, &p->act_min, &p->act_max)) {
        return 0;
    }
    uint32_t taps = (uint32_t)(p->filter_h * p->filter_w);
    if (!depthwise) {  // depthwise adds the offset to each input (its accumulators are per channel)
        fold_input_offset(p, (const int8_t *)ne_const_data(P, filter), oc, taps * (uint32_t)p->filter_in_c);
    }
    op->macs = (uint32_t)p->batches * p->out_h * p->out_w * oc * taps * p->filter_in_c;
    return depthwise || scratch_for(P, p, oc);
}

static int prepare_conv(ne_prep_t *P, ne_op_t *op) {
    return prepare_conv_kind(P, op, 0);
}

static int prepare_depthwise_conv(ne_prep_t *P, ne_op_t *op) {
    return prepare_conv_kind(P, op, 1);
}

static int prepare_fully_connected(ne_prep_t *P, ne_op_t *op) {
    ne_conv_t *p = op->params;
    ne_tensor_t *in = ne_prep_input(P, op, 0), *filter = ne_prep_input(P, op, 1), *out = ne_prep_output(P, op, 0);
    const ne_tensor_t *bias = optional_bias(P, op);
    uint8_t act, weights_format;
    if (!ne_opt_u8(P, 0, 0, &act) || !ne_opt_u8(P, 1, 0, &weights_format)) {
        return 0;
    }
    if (!ne_require_int8(P, in, "input") || !ne_require_int8(P, out, "output")) {
        return 0;
    }
    if (weights_format != 0) {
        return ne_op_error(P, "shuffled weights are not supported");
    }
    if (filter->type != NE_INT8 || !filter->is_const || filter->rank != 2 || filter->n_scales == 0) {
        return ne_op_error(P, "weights must be a constant quantized int8 matrix");
    }
    int32_t units = filter->dims[0], depth = filter->dims[1];
    if (depth > 65536) {
        return ne_op_error(P, "more than 65536 inputs per unit (the int32 accumulator could overflow)");
    }
    if (depth < 1 || in->count % (uint32_t)depth != 0 || out->count != in->count / (uint32_t)depth * (uint32_t)units
        || out->dims[out->rank - 1] != units) {
        return ne_op_error(P, "input, weights and output shapes do not agree");
    }
    p->batches = (int32_t)(in->count / (uint32_t)depth);
    p->in_c = depth;
    p->out_c = units;
    p->in_offset = -in->zero_point;
    p->out_offset = out->zero_point;
    if (filter->n_scales == 1) {
        if (filter->zero_point != 0) {
            return ne_op_error(P, "weights must be symmetric (zero point 0)");
        }
        if (!bias_ok(bias, units)) {
            return ne_op_error(P, "bias must be a constant int32 vector with one value per unit");
        }
        if (!alloc_channel_arrays(P, p, units)) {
            return 0;
        }
        // GetQuantizedConvolutionMultipler: the float32 product, widened, / out.
        ne_real_t product = ne_real_round_bits(ne_real_mul(ne_scale_of(P, in, 0), ne_scale_of(P, filter, 0)), 24);
        int32_t mult, shift;
        if (!ne_multiplier(P, ne_real_div(product, ne_scale_of(P, out, 0), 53), &mult, &shift)) {
            return 0;
        }
        for (int32_t c = 0; c < units; c++) {
            p->ch_mult[c] = mult;
            p->ch_shift[c] = (int8_t)shift;
            p->ch_add[c] = bias ? (int32_t)fb_load_u32(ne_const_data(P, bias) + 4 * c) : 0;
        }
    } else if (!per_channel_params(P, p, in, filter, bias, out, units, 0)) {
        return 0;
    }
    fold_input_offset(p, (const int8_t *)ne_const_data(P, filter), units, (uint32_t)depth);
    op->macs = (uint32_t)p->batches * (uint32_t)units * (uint32_t)depth;
    return scratch_for(P, p, units) && ne_activation_range(P, act, out, &p->act_min, &p->act_max);
}

// ---------------------------------------------------------------------------
// Eval

static void eval_conv(ne_model_t *m, const ne_op_t *op) {
    ne_conv2d(op->params, ne_in(m, op, 0), ne_in(m, op, 1), ne_out(m, op, 0));
}

static void eval_depthwise_conv(ne_model_t *m, const ne_op_t *op) {
    ne_depthwise_conv2d(op->params, ne_in(m, op, 0), ne_in(m, op, 1), ne_out(m, op, 0));
}

static void eval_fully_connected(ne_model_t *m, const ne_op_t *op) {
    ne_fully_connected(op->params, ne_in(m, op, 0), ne_in(m, op, 1), ne_out(m, op, 0));
}

// The op table rows of this file (edgedl_ops.c looks them up).
const ne_op_kind_t ne_ops_conv[] = {
    // name, code, options, inputs min..max, outputs, flags, params, prepare, eval
    {"CONV_2D", OP_CONV_2D, OPT_CONV, 2, 3, 1, NE_KIND_OPTIONAL_BIAS | NE_KIND_CHANNEL_ARRAYS | NE_KIND_DSP_SCRATCH,
        sizeof(ne_conv_t), prepare_conv, eval_conv},
    {"DEPTHWISE_CONV_2D", OP_DEPTHWISE_CONV_2D, OPT_DEPTHWISE, 2, 3, 1,
        NE_KIND_OPTIONAL_BIAS | NE_KIND_CHANNEL_ARRAYS, sizeof(ne_conv_t),
        prepare_depthwise_conv, eval_depthwise_conv},
    {"FULLY_CONNECTED", OP_FULLY_CONNECTED, OPT_FC, 2, 3, 1,
        NE_KIND_OPTIONAL_BIAS | NE_KIND_CHANNEL_ARRAYS | NE_KIND_DSP_SCRATCH, sizeof(ne_conv_t),
        prepare_fully_connected, eval_fully_connected},
    {0},
};
