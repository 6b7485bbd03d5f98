// EdgeDL preprocessing: per-channel integer filters on int16 frames, and the
// int16 -> int8 quantization of a window for the model.
//
// The same C runs on the device (inside edgedl.mpy) and on the host (a shared
// library loaded by neuroedge.preprocess to compute training windows), so
// there is no train/serve skew: the arithmetic is integer and identical.
//
// Stages, each optional, in this order per channel:
//   high-pass   y[n] = x[n] - x[n-1] + a * y[n-1]      (DC blocker, a in Q15)
//   rectify     y = |y|
//   envelope    e += k * (y - e)                      (one-pole low-pass, k in Q15; state in Q8)
//   decimate    keep one frame out of `decimate`
// Output samples saturate to int16.
#ifndef EDGEDL_PREPROCESS_H
#define EDGEDL_PREPROCESS_H

#include <stdint.h>

typedef struct {
    uint32_t channels;
    int32_t highpass_q15;  // pole a (0 = off), e.g. round(exp(-2*pi*fc/fs) * 32768)
    int32_t rectify;       // 0 or 1
    int32_t envelope_q15;  // smoothing k (0 = off), e.g. round((1 - exp(-2*pi*fc/fs)) * 32768)
    uint32_t decimate;     // >= 1
    int32_t *state;        // 3 * channels int32, caller-owned
    uint32_t phase;        // frames until the next kept frame
} ne_pre_t;

// 0 if the settings are valid (a, k in 0..32767, decimate 1..256, channels 1..408).
int ne_pre_check(uint32_t channels, int32_t highpass_q15, int32_t rectify, int32_t envelope_q15, uint32_t decimate);
void ne_pre_init(ne_pre_t *p, uint32_t channels, int32_t highpass_q15, int32_t rectify, int32_t envelope_q15,
    uint32_t decimate, int32_t *state);
void ne_pre_reset(ne_pre_t *p);
// Filters `frames` frames of `channels` int16 (time-major) from `in`; writes the
// kept frames to `out` (room for frames / decimate + 1 frames). Returns the
// number of frames written. `in` and `out` may be the same buffer.
uint32_t ne_pre_process(ne_pre_t *p, const int16_t *in, uint32_t frames, int16_t *out);

// int8 model input from int16 samples: clamp(MultiplyByQuantizedMultiplier(x, mult, shift) + zero_point).
void ne_quantize_window(const int16_t *in, uint32_t count, int32_t mult, int32_t shift, int32_t zero_point,
    int8_t *out);

#endif // EDGEDL_PREPROCESS_H
