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
//
// Or, with `features` set (instead of rectify and envelope), time-domain features
// of the high-passed signal over blocks of `decimate` frames, one output frame per
// block (written at the block's last frame), feature-major: [f0 of every channel,
// f1 of every channel, ...] in the order of the bits below:
//   NE_FEAT_LOG_MAV  1024 * log2(1 + mean |y|)              (Q10 log2 of counts)
//   NE_FEAT_LOG_WL   1024 * log2(1 + mean |y[n] - y[n-1]|)  (waveform length per frame)
//   NE_FEAT_ZC       zero crossings whose step is >= threshold, 2048 * count / block
//   NE_FEAT_SSC      slope sign changes with a slope >= threshold, 2048 * count / block
// With NE_FEAT_RING_DIFF also in the mask, the same features are computed for `channels`
// more signals after the channels' own: channel c minus channel c + 1 (the last minus the
// first), the bipolar derivations between neighbouring electrodes of an armband. They
// carry what one electrode's amplitude cannot: how neighbours differ (on real armband
// recordings, LDA accuracy +2 points; see the README).
// The logarithm keeps rest (a few counts) and a strong contraction (hundreds) apart
// in a range one int8 scale covers. Rates are in Q11 so that, on real recordings,
// each feature's spread within a gesture is alike (one int8 scale and per-tensor
// weights then resolve them all, and a linear classifier's weights have one range).
#ifndef EDGEDL_PREPROCESS_H
#define EDGEDL_PREPROCESS_H

#include <stdint.h>

#include "edgedl_stream.h"  // NE_STREAM_MAX_CHANNELS

#define NE_FEAT_LOG_MAV 1u
#define NE_FEAT_LOG_WL 2u
#define NE_FEAT_ZC 4u
#define NE_FEAT_SSC 8u
#define NE_FEAT_ALL 15u
#define NE_FEAT_RING_DIFF 16u  // a modifier: the features of neighbour differences too
#define NE_PRE_MAX_CHANNELS NE_STREAM_MAX_CHANNELS  // it filters the frames a Stream holds
#define NE_PRE_MAX_DECIMATE 256
// int32 words of filter state per channel: high-pass and envelope (3); with features, the
// high-pass (2) and per signal the last value and the block's sums (3), with ZC or SSC also
// their counts and the last slope (6); ring differences add a signal per channel and the
// frame's high-passed values (1).
#define NE_PRE_SIGNAL_WORDS(features) ((features) & (NE_FEAT_ZC | NE_FEAT_SSC) ? 6u : 3u)
#define NE_PRE_STATE_WORDS(features) (!(features) ? 3u : (features) & NE_FEAT_RING_DIFF \
    ? 3u + 2u * NE_PRE_SIGNAL_WORDS(features) : 2u + NE_PRE_SIGNAL_WORDS(features))

typedef struct {
    uint32_t channels;
    int32_t highpass_q15;  // pole a (0 = off), e.g. round(exp(-2*pi*fc/fs) * 32768)
    int32_t rectify;       // 0 or 1
    int32_t envelope_q15;  // smoothing k (0 = off), e.g. round((1 - exp(-2*pi*fc/fs)) * 32768)
    uint32_t decimate;     // >= 1 (with features: the block length)
    uint32_t features;     // NE_FEAT_* bits, 0 = filters only
    int32_t threshold;     // counts, for ZC and SSC
    uint32_t signals;      // channels, or 2 x channels with ring differences
    uint32_t width;        // values per output frame: signals x features (or channels)
    int32_t *state;        // NE_PRE_STATE_WORDS(features) * channels int32, caller-owned
    uint32_t phase;        // frames until the next kept frame
} ne_pre_t;

typedef enum {
    NE_PRE_OK = 0,
    NE_PRE_BAD_CHANNELS,   // channels 1..NE_PRE_MAX_CHANNELS
    NE_PRE_BAD_FILTER,     // a, k 0..32767
    NE_PRE_BAD_RECTIFY,    // 0 or 1
    NE_PRE_BAD_DECIMATE,   // 1..256
    NE_PRE_BAD_FEATURES,   // unknown bits, ring differences alone, or features with rectify / envelope
    NE_PRE_BAD_THRESHOLD,  // 0..32767
} ne_pre_status_t;

ne_pre_status_t ne_pre_check(uint32_t channels, int32_t highpass_q15, int32_t rectify, int32_t envelope_q15,
    uint32_t decimate, uint32_t features, int32_t threshold);
void ne_pre_init(ne_pre_t *p, uint32_t channels, int32_t highpass_q15, int32_t rectify, int32_t envelope_q15,
    uint32_t decimate, uint32_t features, int32_t threshold, int32_t *state);
void ne_pre_reset(ne_pre_t *p);
// Filters `frames` frames of `channels` int16 (time-major) from `in`; writes the
// kept frames of `width` values to `out` (room for ceil(frames / decimate) frames).
// Returns the number of frames written. `in` and `out` may be the same buffer
// unless features are on (a feature frame may be wider than a raw one).
uint32_t ne_pre_process(ne_pre_t *p, const int16_t *in, uint32_t frames, int16_t *out);

// 1024 * log2(v) for v >= 1 (Q10), within about one unit (0.001 in log2): integer part from the
// leading bit, fraction from a table with linear interpolation.
int32_t ne_log2_q10(uint32_t v);

// int8 model input from int16 samples: clamp(MultiplyByQuantizedMultiplier(x, mult, shift) + zero_point).
void ne_quantize_window(const int16_t *in, uint32_t count, int32_t mult, int32_t shift, int32_t zero_point,
    int8_t *out);

// Drift tracking: a day's electrodes sit a little elsewhere and couple differently, which moves
// every feature of every gesture by about the same amount (in log2 units a gain is a shift).
// The board follows that shift without labels: after each decision, each column's offset
// moves a step (1 / 2^rate_shift) towards the window's mean minus the decided class's
// training mean, and the next windows are read with the offsets taken off. On real armband
// recordings (LDA, day 1 -> day 2, chosen on participants kept apart) it gains 2 points and
// loses none on a gesture held for seconds, since each class is compared with its own mean.
// Offsets are Q8 feature units. The window is frames x width int16 (time-major).
#define NE_DRIFT_MAX_OFFSET (32767 * 256)
#define NE_DRIFT_MAX_SHIFT 16
// Subtracts each column's offset (rounded to whole units) from the window, saturating.
void ne_drift_apply(int16_t *window, uint32_t frames, uint32_t width, const int32_t *offset_q8);
// One tracking step from a window already offset by ne_drift_apply and the class decided on it:
// offset[c] += (mean of column c - class_mean[c]) / 2^rate_shift, in Q8, within +-NE_DRIFT_MAX_OFFSET.
void ne_drift_track(const int16_t *window, uint32_t frames, uint32_t width, const int16_t *class_mean,
    int32_t rate_shift, int32_t *offset_q8);

#endif // EDGEDL_PREPROCESS_H
