// EdgeDL preprocessing: see edgedl_preprocess.h.
#include "edgedl_preprocess.h"
#include "edgedl_fixed.h"

ne_pre_status_t ne_pre_check(uint32_t channels, int32_t highpass_q15, int32_t rectify, int32_t envelope_q15,
    uint32_t decimate, uint32_t features, int32_t threshold) {
    if (channels < 1 || channels > NE_PRE_MAX_CHANNELS) {
        return NE_PRE_BAD_CHANNELS;
    }
    if (highpass_q15 < 0 || highpass_q15 > 32767 || envelope_q15 < 0 || envelope_q15 > 32767) {
        return NE_PRE_BAD_FILTER;
    }
    if (rectify != 0 && rectify != 1) {
        return NE_PRE_BAD_RECTIFY;
    }
    if (decimate < 1 || decimate > NE_PRE_MAX_DECIMATE) {
        return NE_PRE_BAD_DECIMATE;
    }
    if ((features & ~(NE_FEAT_ALL | NE_FEAT_RING_DIFF)) || (features && !(features & NE_FEAT_ALL))
        || (features && (rectify || envelope_q15))) {
        return NE_PRE_BAD_FEATURES;
    }
    if (threshold < 0 || threshold > 32767) {
        return NE_PRE_BAD_THRESHOLD;
    }
    return NE_PRE_OK;
}

static uint32_t feature_count(uint32_t features) {
    uint32_t n = 0;
    for (features &= NE_FEAT_ALL; features; features >>= 1) {
        n += features & 1u;
    }
    return n;
}

void ne_pre_init(ne_pre_t *p, uint32_t channels, int32_t highpass_q15, int32_t rectify, int32_t envelope_q15,
    uint32_t decimate, uint32_t features, int32_t threshold, int32_t *state) {
    p->channels = channels;
    p->highpass_q15 = highpass_q15;
    p->rectify = rectify;
    p->envelope_q15 = envelope_q15;
    p->decimate = decimate;
    p->features = features;
    p->threshold = threshold;
    p->signals = features & NE_FEAT_RING_DIFF ? 2 * channels : channels;
    p->width = features ? p->signals * feature_count(features) : channels;
    p->state = state;
    ne_pre_reset(p);
}

void ne_pre_reset(ne_pre_t *p) {
    for (uint32_t i = 0; i < NE_PRE_STATE_WORDS(p->features) * p->channels; i++) {
        p->state[i] = 0;
    }
    p->phase = 0;
}

// round(1024 * log2(1 + i / 32)), i = 0..32
static const uint16_t log2_table[33] = {
    0, 45, 90, 132, 174, 214, 254, 292, 330, 366, 402, 436, 470, 504, 536, 568, 599, 629, 659, 689, 717, 745, 773, 800, 827, 853, 879, 904, 929, 953, 977, 1001, 1024
};

int32_t ne_log2_q10(uint32_t v) {
    int32_t top = 31;
    while (top > 0 && !(v >> top)) {
        top--;
    }
    // The 15 bits below the leading one: the mantissa's fraction in Q15.
    uint32_t frac = top >= 15 ? (v >> (top - 15)) & 0x7fffu : (v << (15 - top)) & 0x7fffu;
    uint32_t i = frac >> 10, within = frac & 0x3ffu;  // table step 1/32 = 1024 in Q15
    int32_t lo = log2_table[i], hi = log2_table[i + 1];
    return top * 1024 + lo + (int32_t)(((hi - lo) * (int32_t)within + 512) >> 10);
}

static inline int16_t sat16(int32_t v) {
    return (int16_t)(v > 32767 ? 32767 : (v < -32768 ? -32768 : v));
}

static inline int32_t highpass(const ne_pre_t *p, int32_t *prev_x, int32_t *prev_y, int32_t v) {
    // a * y[n-1] in Q15 with rounding; |y| stays below 2^17, so no overflow.
    int32_t feedback = (int32_t)(((int64_t)p->highpass_q15 * *prev_y + (1 << 14)) >> 15);
    int32_t hp = v - *prev_x + feedback;
    *prev_x = v;
    *prev_y = hp;
    return hp;
}

static inline int32_t abs32(int32_t v) {
    return v < 0 ? -v : v;
}

// Per-signal accumulators of the feature blocks, laid out after the high-pass state.
typedef struct {
    int32_t *last, *sum_abs, *sum_wl, *zc, *ssc, *prev_d;  // the last three with ZC or SSC only
} feature_sums_t;

static inline void accumulate(const feature_sums_t *s, uint32_t i, int32_t v, int counts, int32_t thr) {
    int32_t last = s->last[i], d = v - last;
    s->sum_abs[i] += abs32(v);
    s->sum_wl[i] += abs32(d);
    if (counts) {
        int32_t prev_d = s->prev_d[i];
        if (((v < 0 && last > 0) || (v > 0 && last < 0)) && abs32(d) >= thr) {
            s->zc[i]++;
        }
        if (((d < 0 && prev_d > 0) || (d > 0 && prev_d < 0)) && (abs32(d) >= thr || abs32(prev_d) >= thr)) {
            s->ssc[i]++;
        }
        if (d) {
            s->prev_d[i] = d;  // a flat step keeps the slope's sign
        }
    }
    s->last[i] = v;
}

// Time-domain features over blocks of `decimate` frames (see the header).
static uint32_t features_process(ne_pre_t *p, const int16_t *in, uint32_t frames, int16_t *out) {
    const uint32_t n = p->channels, m = p->signals, block = p->decimate;
    const int counts = (p->features & (NE_FEAT_ZC | NE_FEAT_SSC)) != 0, ring = m != n;
    int32_t *prev_x = p->state, *prev_y = p->state + n, *cur = p->state + 2 * n;  // cur: with ring only
    int32_t *sums = cur + (ring ? n : 0);
    const feature_sums_t s = { sums, sums + m, sums + 2 * m, sums + 3 * m, sums + 4 * m, sums + 5 * m };
    const int32_t thr = p->threshold, log_block = ne_log2_q10(block);
    uint32_t written = 0;
    for (uint32_t f = 0; f < frames; f++) {
        const int16_t *x = in + f * n;
        for (uint32_t c = 0; c < n; c++) {
            int32_t v = p->highpass_q15 ? highpass(p, &prev_x[c], &prev_y[c], x[c]) : x[c];
            accumulate(&s, c, v, counts, thr);
            if (ring) {
                cur[c] = v;
            }
        }
        if (ring) {
            // Differences of the high-passed values: the filter is linear, so this is the
            // high-passed difference without a second filter state.
            for (uint32_t c = 0; c < n; c++) {
                accumulate(&s, n + c, cur[c] - cur[c + 1 < n ? c + 1 : 0], counts, thr);
            }
        }
        if (++p->phase < block) {
            continue;
        }
        p->phase = 0;
        int16_t *y = out + written * p->width;
        for (uint32_t i = 0; i < m; i++) {
            // log2(1 + sum / block) = log2(block + sum) - log2(block): no division.
            uint32_t k = 0;
            if (p->features & NE_FEAT_LOG_MAV) {
                y[k++ * m + i] = sat16(ne_log2_q10(block + (uint32_t)s.sum_abs[i]) - log_block);
            }
            if (p->features & NE_FEAT_LOG_WL) {
                y[k++ * m + i] = sat16(ne_log2_q10(block + (uint32_t)s.sum_wl[i]) - log_block);
            }
            if (p->features & NE_FEAT_ZC) {
                y[k++ * m + i] = sat16((int32_t)((uint32_t)s.zc[i] * 2048u / block));
            }
            if (p->features & NE_FEAT_SSC) {
                y[k++ * m + i] = sat16((int32_t)((uint32_t)s.ssc[i] * 2048u / block));
            }
            s.sum_abs[i] = s.sum_wl[i] = 0;
            if (counts) {
                s.zc[i] = s.ssc[i] = 0;
            }
        }
        written++;
    }
    return written;
}

uint32_t ne_pre_process(ne_pre_t *p, const int16_t *in, uint32_t frames, int16_t *out) {
    if (p->features) {
        return features_process(p, in, frames, out);
    }
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
                v = highpass(p, &prev_x[c], &prev_y[c], v);
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

void ne_drift_apply(int16_t *window, uint32_t frames, uint32_t width, const int32_t *offset_q8) {
    for (uint32_t c = 0; c < width; c++) {
        // Clamped first: the offsets are the caller's array, whatever it holds.
        int32_t off = (ne_clamp(offset_q8[c], -NE_DRIFT_MAX_OFFSET, NE_DRIFT_MAX_OFFSET) + 128) >> 8;
        if (!off) {
            continue;
        }
        for (uint32_t i = 0; i < frames; i++) {
            int16_t *v = window + i * width + c;
            *v = (int16_t)ne_clamp((int32_t)*v - off, -32768, 32767);
        }
    }
}

void ne_drift_track(const int16_t *window, uint32_t frames, uint32_t width, const int16_t *class_mean,
    int32_t rate_shift, int32_t *offset_q8) {
    for (uint32_t c = 0; c < width; c++) {
        // sum - frames * mean fits int32 for any window a Stream holds; split the division so
        // that x256 cannot overflow: (q / frames) * 256 + (q % frames) * 256 / frames.
        int32_t q = -(int32_t)frames * class_mean[c];
        for (uint32_t i = 0; i < frames; i++) {
            q += window[i * width + c];
        }
        int32_t step_q8 = (q / (int32_t)frames) * 256 + (q % (int32_t)frames) * 256 / (int32_t)frames;
        int32_t step = rate_shift ? (step_q8 + (1 << (rate_shift - 1))) >> rate_shift : step_q8;
        int32_t held = ne_clamp(offset_q8[c], -NE_DRIFT_MAX_OFFSET, NE_DRIFT_MAX_OFFSET);
        offset_q8[c] = ne_clamp(held + step, -NE_DRIFT_MAX_OFFSET, NE_DRIFT_MAX_OFFSET);
    }
}
