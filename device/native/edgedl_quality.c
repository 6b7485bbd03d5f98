// EdgeDL signal levels and electrode quality: see edgedl_quality.h.
#include "edgedl_quality.h"

int32_t ne_column_means(const int16_t *window, uint32_t frames, uint32_t width, int16_t *out, uint32_t count) {
    int32_t total = 0;
    int32_t half = (int32_t)frames / 2;
    for (uint32_t c = 0; c < count; c++) {
        int32_t sum = 0;
        for (uint32_t f = 0; f < frames; f++) {
            sum += window[f * width + c];
        }
        // Rounded half away from zero (C's division truncates toward zero).
        int32_t mean = (sum >= 0 ? sum + half : sum - half) / (int32_t)frames;
        out[c] = (int16_t)mean;
        total += mean;
    }
    return total;
}

// sin(2 pi i / 64) in Q15, i = 0..63 (cosine: a quarter turn on).
static const int16_t sine_q15[64] = {
    0, 3212, 6393, 9512, 12540, 15447, 18205, 20788, 23170, 25330, 27246, 28899, 30274, 31357, 32138, 32610,
    32767, 32610, 32138, 31357, 30274, 28899, 27246, 25330, 23170, 20788, 18205, 15447, 12540, 9512, 6393, 3212,
    0, -3212, -6393, -9512, -12540, -15447, -18205, -20788, -23170, -25330, -27246, -28899, -30274, -31357, -32138,
    -32610, -32767, -32610, -32138, -31357, -30274, -28899, -27246, -25330, -23170, -20788, -18205, -15447, -12540,
    -9512, -6393, -3212,
};

void ne_quality_init(ne_quality_t *q, uint32_t channels, uint32_t period, uint32_t phase_step, uint32_t stride,
    void *state) {
    q->channels = channels;
    q->period = period;
    q->phase_step = phase_step;
    q->stride = stride;
    q->skip = 0;
    // The int64 sums first: the block is 8-byte aligned.
    q->sum_sq = (int64_t *)state;
    int32_t *words = (int32_t *)(q->sum_sq + channels);
    q->sum = words;
    q->mean = words + channels;
    q->in_phase = words + 2 * channels;
    q->quadrature = words + 3 * channels;
    q->saturated = words + 4 * channels;
    q->rms_x16 = (int16_t *)(words + 5 * channels);
    q->hum_permille = q->rms_x16 + channels;
    q->saturated_permille = q->hum_permille + channels;
    ne_quality_reset(q);
    for (uint32_t c = 0; c < channels; c++) {
        q->mean[c] = 0;
        q->rms_x16[c] = q->hum_permille[c] = q->saturated_permille[c] = 0;
    }
    q->periods = 0;
}

void ne_quality_reset(ne_quality_t *q) {
    for (uint32_t c = 0; c < q->channels; c++) {
        q->sum_sq[c] = 0;
        q->sum[c] = q->in_phase[c] = q->quadrature[c] = q->saturated[c] = 0;
    }
    q->frames = 0;
}

static uint32_t isqrt32(uint32_t v) {
    uint32_t r = 0, bit = 1u << 30;
    while (bit > v) {
        bit >>= 2;
    }
    while (bit) {
        if (v >= r + bit) {
            v -= r + bit;
            r = (r >> 1) + bit;
        } else {
            r >>= 1;
        }
        bit >>= 2;
    }
    return r;
}

// Signed int32 -> float conversions only: a native module cannot link the compiler's int64 one,
// and the lx106's libgcc has no unsigned ones.
static float int64_to_float(int64_t v) {
    uint32_t low = (uint32_t)v;
    return (float)(int32_t)(v >> 32) * 4294967296.0f + (float)(int32_t)(low >> 1) * 2.0f + (float)(int32_t)(low & 1u);
}

// The period's results (once per period and channel, so in float), and the sums start again.
static void finish_period(ne_quality_t *q) {
    float n = (float)(int32_t)q->frames;
    for (uint32_t c = 0; c < q->channels; c++) {
        // Samples were taken about the previous period's mean m0; with d = mean - m0 the power
        // about this period's mean is E[(x - m0)^2] - d^2.
        float d = (float)q->sum[c] / n;
        float power = int64_to_float(q->sum_sq[c]) / n - d * d;
        if (power < 0.0f) {
            power = 0.0f;
        }
        float rms_x16_sq = power * 256.0f;
        q->rms_x16[c] = (int16_t)(rms_x16_sq >= 32767.0f * 32767.0f ? 32767
                                  : isqrt32((uint32_t)(int32_t)rms_x16_sq));
        // A sine of amplitude A gives |I + jQ| = n A / 2, so its power A^2 / 2 is 2 (I^2 + Q^2) / n^2.
        float i = (float)q->in_phase[c] / n, qq = (float)q->quadrature[c] / n;
        float hum = power > 0.0f ? 2000.0f * (i * i + qq * qq) / power : 0.0f;
        q->hum_permille[c] = (int16_t)(hum > 1000.0f ? 1000 : (int32_t)hum);
        q->saturated_permille[c] = (int16_t)(q->saturated[c] * 1000 / (int32_t)q->frames);
        q->mean[c] += q->sum[c] / (int32_t)q->frames;
    }
    q->periods++;
    ne_quality_reset(q);
}

uint32_t ne_quality_update(ne_quality_t *q, const int16_t *in, uint32_t frames) {
    uint32_t done = 0, channels = q->channels;
    for (uint32_t f = 0; f < frames; f++) {
        if (q->skip) {
            q->skip--;
            continue;
        }
        q->skip = q->stride - 1;
        const int16_t *x = in + f * channels;
        int32_t s = sine_q15[q->phase >> 26], co = sine_q15[((q->phase >> 26) + 16u) & 63u];
        q->phase += q->phase_step;
        for (uint32_t c = 0; c < channels; c++) {
            int32_t v = x[c];
            q->saturated[c] += v >= NE_QUALITY_SATURATED || v <= -NE_QUALITY_SATURATED;
            v -= q->mean[c];  // about the previous mean: DC stays out of I and Q; |v| < 2^16, so v x Q15 fits int32
            q->sum[c] += v;
            q->sum_sq[c] += (int64_t)v * v;
            q->in_phase[c] += (v * s) >> 15;
            q->quadrature[c] += (v * co) >> 15;
        }
        if (++q->frames == q->period) {
            finish_period(q);
            done++;
        }
    }
    return done;
}
