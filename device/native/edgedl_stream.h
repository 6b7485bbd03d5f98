// EdgeDL Stream: a ring buffer of multichannel int16 frames with sliding windows.
//
// Portable MCU C: no libc, no allocation, no writable static data. The caller
// (the MicroPython binding, a firmware module or a host harness) owns every
// buffer and hands it in through ne_stream_init.
//
// Semantics, in absolute frame numbers:
// - frames arrive as C interleaved little-endian int16 channels, in any
//   chunking; a partial frame is held until its last byte arrives;
// - a channel selection (contiguous range or index list) is applied at ingest,
//   so the ring only stores the kept channels;
// - windows of W frames start every H frames (the first at frame 0); a window
//   is copied out time-major (out[t * channels + c]);
// - the ring holds `capacity` unread frames; when it is full the oldest unread
//   frame is overwritten and counted in frames_dropped, and the next window
//   starts at the oldest frame still held.
#ifndef EDGEDL_STREAM_H
#define EDGEDL_STREAM_H

#include <stddef.h>
#include <stdint.h>

#define NE_STREAM_MAX_CHANNELS 408  // Quattrocento: 384 EMG + 16 AUX + 8 accessory

// Errors from ne_stream_check_config; the bindings turn each into a message.
typedef enum {
    NE_STREAM_OK = 0,
    NE_STREAM_E_CHANNELS,
    NE_STREAM_E_SELECT_COUNT,
    NE_STREAM_E_SELECT_INDEX,
    NE_STREAM_E_SELECT_DUPLICATE,
    NE_STREAM_E_WINDOW,
    NE_STREAM_E_HOP,
    NE_STREAM_E_CAPACITY,
} ne_stream_error_t;

typedef struct {
    // configuration (fixed after init)
    uint16_t in_channels;       // channels per incoming frame
    uint16_t out_channels;      // channels kept per frame
    uint16_t select_first;      // contiguous selection: first kept channel
    const uint16_t *select;     // index selection, or NULL for contiguous
    uint32_t capacity;          // frames the ring holds
    uint32_t window;            // frames per window (W)
    uint32_t hop;               // frames between window starts (H)
    int16_t *ring;              // capacity * out_channels samples
    uint8_t *partial;           // in_channels * 2 bytes for a frame split across pushes

    // state
    uint32_t partial_len;       // bytes of the partial frame held
    uint32_t read_slot;         // ring slot of the oldest unread frame
    uint32_t held;              // unread frames in the ring
    uint32_t skip;              // incoming frames to pass over (hop > window)
    uint64_t frames_pushed;
    uint64_t frames_dropped;
    uint64_t windows;

    // Source-side loss accounting from a sample counter inside each frame
    // (the Quattrocento's accessory counter): a jump of the 16-bit counter
    // means frames were lost before they reached us.
    int32_t counter_channel;    // -1: none
    uint32_t last_counter;
    uint32_t have_counter;
    uint64_t counter_gaps;
    uint64_t frames_lost;
    uint64_t bytes_discarded;   // torn frames thrown away at a resync
} ne_stream_t;

// Validates a configuration. `select` is NULL for a contiguous range
// [select_first, select_first + out_channels), else out_channels indices.
ne_stream_error_t ne_stream_check_config(uint32_t in_channels, uint32_t out_channels,
    uint32_t select_first, const uint16_t *select,
    uint32_t window, uint32_t hop, uint32_t capacity);

// Sets up `s` over caller-owned buffers; the configuration must have passed
// ne_stream_check_config. ring: capacity * out_channels int16; partial:
// in_channels * 2 bytes; select (if not NULL) must outlive the stream.
void ne_stream_init(ne_stream_t *s, uint32_t in_channels, uint32_t out_channels,
    uint32_t select_first, const uint16_t *select,
    uint32_t window, uint32_t hop, uint32_t capacity,
    int16_t *ring, uint8_t *partial);

// Watches channel `channel` (0..in_channels-1) of every incoming frame as a
// uint16 sample counter; -1 turns it off. Returns 0 if the channel is invalid.
int ne_stream_set_counter(ne_stream_t *s, int32_t channel);

// After a broken connection: drops the bytes of an incomplete frame (they can
// never be completed) and counts them; the next byte starts a new frame. The
// counter check restarts too. Returns the bytes dropped.
uint32_t ne_stream_resync(ne_stream_t *s);

// Forgets all frames and zeroes the counters; the configuration stays.
void ne_stream_reset(ne_stream_t *s);

// Ingests `len` bytes of interleaved little-endian int16 frames, in any
// chunking. Returns the number of frames completed by this call.
uint32_t ne_stream_push(ne_stream_t *s, const uint8_t *data, size_t len);

// Windows that ne_stream_read_window can produce now, without more input.
uint32_t ne_stream_windows_ready(const ne_stream_t *s);

// Copies the next window (window * out_channels int16, time-major) into
// `out` and advances by hop. Returns 1, or 0 (out untouched) if not ready.
int ne_stream_read_window(ne_stream_t *s, int16_t *out);

#endif // EDGEDL_STREAM_H
