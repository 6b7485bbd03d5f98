// EdgeDL preprocessing: see edgedl_preprocess.h.
#include "edgedl_preprocess.h"
#include "edgedl_fixed.h"

int ne_pre_check(uint32_t channels, int32_t highpass_q15, int32_t rectify, int32_t envelope_q15, uint32_t decimate) {
    if (channels < 1 || channels > 408) {
        return 1;
    }
    if (highpass_q15 < 0 || highpass_q15 > 32767 || envelope_q15 < 0 || envelope_q15 > 32767) {
        return 2;
    }
    if (rectify != 0 && rectify != 1) {
        return 3;
    }
    if (decimate < 1 || decimate > 256) {
        return 4;
    }
    return 0;
}

void ne_pre_init(ne_pre_t *p, uint32_t channels, int32_t highpass_q15, int32_t rectify, int32_t envelope_q15,
    uint32_t decimate, int32_t *state) {
    p->channels = channels;
    p->highpass_q15 = highpass_q15;
    p->rectify = rectify;
    p->envelope_q15 = envelope_q15;
    p->decimate = decimate;
    p->state = state;
    ne_pre_reset(p);
}

void ne_pre_reset(ne_pre_t *p) {
    for (uint32_t i = 0; i < 3 * p->channels; i++) {
        p->state[i] = 0;
    }
    p->phase = 0;
}

static inline int16_t sat16(int32_t v) {
    return (int16_t)(v > 32767 ? 32767 : (v < -32768 ? -32768 : v));
}

uint32_t ne_pre_process(ne_pre_t *p, const int16_t *in, uint32_t frames, int16_t *out) {
    const uint32_t n = p->channels;
    int32_t *prev_x = p->state, *prev_y = p->state + n, *env = p->state + 2 * n;
    uint32_t written = 0;
    for (uint32_t f = 0; f < frames; f++) {
        const int16_t *x = in + f * n;
        const int keep = p->phase == 0;
        int16_t *y = out + written * n;
        for (uint32_t c = 0; c < n; c++) {
            int32_t v = x[c];
            if (p->highpass_q15) {
                // a * y[n-1] in Q15 with rounding; |y| stays below 2^17, so no overflow.
                int32_t feedback = (int32_t)(((int64_t)p->highpass_q15 * prev_y[c] + (1 << 14)) >> 15);
                int32_t hp = v - prev_x[c] + feedback;
                prev_x[c] = v;
                prev_y[c] = hp;
                v = hp;
            }
            if (p->rectify && v < 0) {
                v = -v;
            }
            if (p->envelope_q15) {
                // State in Q8 keeps small envelopes from rounding away.
                int32_t target = v * 256;
                env[c] += (int32_t)(((int64_t)p->envelope_q15 * (target - env[c]) + (1 << 14)) >> 15);
                v = (env[c] + 128) >> 8;
            }
            if (keep) {
                y[c] = sat16(v);
            }
        }
        if (keep) {
            written++;
        }
        p->phase = p->phase + 1 == p->decimate ? 0 : p->phase + 1;
    }
    return written;
}

void ne_quantize_window(const int16_t *in, uint32_t count, int32_t mult, int32_t shift, int32_t zero_point,
    int8_t *out) {
    for (uint32_t i = 0; i < count; i++) {
        int32_t q = ne_mbqm(in[i], mult, shift) + zero_point;
        out[i] = (int8_t)ne_clamp(q, -128, 127);
    }
}
