// EdgeDL Stream: see edgedl_stream.h for the semantics.
#include "edgedl_stream.h"

ne_stream_error_t ne_stream_check_config(uint32_t in_channels, uint32_t out_channels,
    uint32_t select_first, const uint16_t *select,
    uint32_t window, uint32_t hop, uint32_t capacity) {
    if (in_channels < 1 || in_channels > NE_STREAM_MAX_CHANNELS) {
        return NE_STREAM_E_CHANNELS;
    }
    if (out_channels < 1 || out_channels > in_channels) {
        return NE_STREAM_E_SELECT_COUNT;
    }
    if (select == NULL) {
        if (select_first + out_channels > in_channels) {
            return NE_STREAM_E_SELECT_INDEX;
        }
    } else {
        // One bit per input channel finds duplicates without allocating.
        uint32_t seen[(NE_STREAM_MAX_CHANNELS + 31) / 32];
        for (uint32_t i = 0; i < (NE_STREAM_MAX_CHANNELS + 31) / 32; i++) {
            seen[i] = 0;
        }
        for (uint32_t i = 0; i < out_channels; i++) {
            uint32_t ch = select[i];
            if (ch >= in_channels) {
                return NE_STREAM_E_SELECT_INDEX;
            }
            if (seen[ch >> 5] & (1u << (ch & 31))) {
                return NE_STREAM_E_SELECT_DUPLICATE;
            }
            seen[ch >> 5] |= 1u << (ch & 31);
        }
    }
    if (window < 1) {
        return NE_STREAM_E_WINDOW;
    }
    if (hop < 1) {
        return NE_STREAM_E_HOP;
    }
    // The product bound keeps ring sizes computable in 32 bits on the MCU.
    if (capacity < window || (uint64_t)capacity * out_channels > 0x3fffffffu) {
        return NE_STREAM_E_CAPACITY;
    }
    return NE_STREAM_OK;
}

void ne_stream_init(ne_stream_t *s, uint32_t in_channels, uint32_t out_channels,
    uint32_t select_first, const uint16_t *select,
    uint32_t window, uint32_t hop, uint32_t capacity,
    int16_t *ring, uint8_t *partial) {
    s->in_channels = (uint16_t)in_channels;
    s->out_channels = (uint16_t)out_channels;
    s->select_first = (uint16_t)select_first;
    s->select = select;
    s->capacity = capacity;
    s->window = window;
    s->hop = hop;
    s->ring = ring;
    s->partial = partial;
    s->counter_channel = -1;
    ne_stream_reset(s);
}

int ne_stream_set_counter(ne_stream_t *s, int32_t channel) {
    if (channel < -1 || channel >= (int32_t)s->in_channels) {
        return 0;
    }
    s->counter_channel = channel;
    s->have_counter = 0;
    return 1;
}

void ne_stream_reset(ne_stream_t *s) {
    s->partial_len = 0;
    s->read_slot = 0;
    s->held = 0;
    s->skip = 0;
    s->frames_pushed = 0;
    s->frames_dropped = 0;
    s->windows = 0;
    s->have_counter = 0;
    s->counter_gaps = 0;
    s->frames_lost = 0;
    s->bytes_discarded = 0;
}

uint32_t ne_stream_resync(ne_stream_t *s) {
    uint32_t dropped = s->partial_len;
    s->bytes_discarded += dropped;
    s->partial_len = 0;
    s->have_counter = 0;
    return dropped;
}

static inline int16_t load_le16(const uint8_t *p) {
    // Byte loads: frames may sit at any address (Xtensa faults on unaligned loads).
    return (int16_t)(uint16_t)(p[0] | ((uint16_t)p[1] << 8));
}

// Stores one complete incoming frame into the ring.
static void ingest_frame(ne_stream_t *s, const uint8_t *frame) {
    s->frames_pushed++;
    if (s->counter_channel >= 0) {
        const uint8_t *c = frame + 2u * (uint32_t)s->counter_channel;
        uint32_t value = (uint32_t)c[0] | ((uint32_t)c[1] << 8);
        uint32_t missing = (value - s->last_counter - 1u) & 0xffffu;
        if (s->have_counter && missing) {
            s->counter_gaps++;
            s->frames_lost += missing;
        }
        s->last_counter = value;
        s->have_counter = 1;
    }
    if (s->skip) {
        // Between windows when hop > window: passed over on purpose, not dropped.
        s->skip--;
        return;
    }
    if (s->held == s->capacity) {
        // Consumer lags: overwrite the oldest unread frame and account for it.
        s->frames_dropped++;
        s->held--;
        if (++s->read_slot == s->capacity) {
            s->read_slot = 0;
        }
    }
    uint32_t slot = s->read_slot + s->held;
    if (slot >= s->capacity) {
        slot -= s->capacity;
    }
    int16_t *dst = s->ring + (size_t)slot * s->out_channels;
    const uint32_t n = s->out_channels;
    if (s->select == NULL) {
        const uint8_t *src = frame + 2u * s->select_first;
        for (uint32_t c = 0; c < n; c++) {
            dst[c] = load_le16(src + 2u * c);
        }
    } else {
        const uint16_t *sel = s->select;
        for (uint32_t c = 0; c < n; c++) {
            dst[c] = load_le16(frame + 2u * sel[c]);
        }
    }
    s->held++;
}

uint32_t ne_stream_push(ne_stream_t *s, const uint8_t *data, size_t len) {
    const uint32_t frame_bytes = 2u * s->in_channels;
    uint32_t completed = 0;
    // Finish a frame left incomplete by an earlier push.
    if (s->partial_len) {
        while (len && s->partial_len < frame_bytes) {
            s->partial[s->partial_len++] = *data++;
            len--;
        }
        if (s->partial_len < frame_bytes) {
            return 0;
        }
        ingest_frame(s, s->partial);
        s->partial_len = 0;
        completed++;
    }
    // Whole frames straight from the caller's bytes.
    while (len >= frame_bytes) {
        ingest_frame(s, data);
        data += frame_bytes;
        len -= frame_bytes;
        completed++;
    }
    // Keep the tail for the next push.
    while (len) {
        s->partial[s->partial_len++] = *data++;
        len--;
    }
    return completed;
}

uint32_t ne_stream_windows_ready(const ne_stream_t *s) {
    if (s->held < s->window) {
        return 0;
    }
    return 1u + (s->held - s->window) / s->hop;
}

int ne_stream_read_window(ne_stream_t *s, int16_t *out) {
    if (s->held < s->window) {
        return 0;
    }
    const uint32_t n = s->out_channels;
    // The window may wrap around the end of the ring: copy in up to two runs.
    uint32_t first_run = s->capacity - s->read_slot;
    if (first_run > s->window) {
        first_run = s->window;
    }
    const int16_t *src = s->ring + (size_t)s->read_slot * n;
    size_t count = (size_t)first_run * n;
    for (size_t i = 0; i < count; i++) {
        out[i] = src[i];
    }
    out += count;
    count = (size_t)(s->window - first_run) * n;
    for (size_t i = 0; i < count; i++) {
        out[i] = s->ring[i];
    }

    if (s->hop <= s->held) {
        s->held -= s->hop;
        s->read_slot += s->hop;  // hop <= held <= capacity: one wrap at most
        if (s->read_slot >= s->capacity) {
            s->read_slot -= s->capacity;
        }
    } else {
        // The next window starts beyond the frames received so far.
        s->skip = s->hop - s->held;
        s->read_slot += s->held;
        if (s->read_slot >= s->capacity) {
            s->read_slot -= s->capacity;
        }
        s->held = 0;
    }
    s->windows++;
    return 1;
}
