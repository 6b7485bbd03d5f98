// EdgeDL signal levels and electrode quality, computed from the frames a board streams.
//
// Levels: the mean over a window's frames of some of its columns (an electrode's log2 MAV,
// or its envelope): the activity map a dashboard draws, and the amplitude proportional
// control scales (LibEMG's velocity).
//
// Quality: per channel, over periods of `period` raw frames, the numbers that tell a bad
// electrode from a good one:
//   rms        RMS about the previous period's mean, in counts x 16 (flat or disconnected:
//              near 0; far noisier than its neighbours: many times theirs)
//   hum        share of that power at the mains frequency, per mille (a sine at 50 Hz: 1000),
//              from one in-phase and one quadrature sum (a single-bin DFT)
//   saturated  share of samples at the int16 rails, per mille
// Integer arithmetic, no division per sample: a few adds and three multiplies per measured
// sample; every `stride`-th frame is measured (about 1 kHz is plenty for these checks, and costs
// half the instructions at 2 kHz: 14 per sample on a Cortex-M4F, `neuroedge bench mcu`).
#ifndef EDGEDL_QUALITY_H
#define EDGEDL_QUALITY_H

#include <stdint.h>

#include "edgedl_stream.h"  // NE_STREAM_MAX_CHANNELS

// Means (rounded) over `frames` frames of the first `count` of `width` columns; returns their sum.
int32_t ne_column_means(const int16_t *window, uint32_t frames, uint32_t width, int16_t *out, uint32_t count);

#define NE_QUALITY_MAX_CHANNELS NE_STREAM_MAX_CHANNELS
#define NE_QUALITY_MAX_PERIOD 16384u  // raw frames: the int32 sums stay within their words
#define NE_QUALITY_SATURATED 32767   // |x| at or above this is at the rails (-32768 too)
// Per channel: sum, previous mean, in-phase and quadrature sums, saturated count (int32),
// the sum of squares (int64) and the three results (int16 each).
#define NE_QUALITY_CHANNEL_BYTES (5u * 4u + 8u + 3u * 2u)

typedef struct {
    uint32_t channels;
    uint32_t period;      // measured frames per period
    uint32_t phase_step;  // mains / fs x stride in 2^32 units per measured frame
    uint32_t stride;      // every stride-th frame is measured
    uint32_t skip;        // frames until the next measured one
    uint32_t phase;
    uint32_t frames;      // into the current period
    uint32_t periods;     // completed so far
    int32_t *sum, *mean, *in_phase, *quadrature, *saturated;
    int64_t *sum_sq;
    int16_t *rms_x16, *hum_permille, *saturated_permille;  // of the last complete period
} ne_quality_t;

// state: NE_QUALITY_CHANNEL_BYTES * channels bytes, 8-byte aligned, caller-owned.
void ne_quality_init(ne_quality_t *q, uint32_t channels, uint32_t period, uint32_t phase_step, uint32_t stride,
    void *state);
void ne_quality_reset(ne_quality_t *q);
// Adds `frames` time-major frames of `channels` int16; returns how many periods completed.
uint32_t ne_quality_update(ne_quality_t *q, const int16_t *in, uint32_t frames);

#endif // EDGEDL_QUALITY_H
