// libFuzzer target for the bytes a board takes from a cable or a network: the
// framed-link decoder (edgedl_link.h) feeding a Stream (edgedl_stream.h) as
// mod_edgedl.c's LinkDecoder.feed does, and raw int16 frames pushed straight
// into the Stream (a board's USB or TCP source). Built with AddressSanitizer and
// UndefinedBehaviorSanitizer by tools/fuzz/run_libfuzzer.py.
//
// Input: a 10-byte header, then operations.
//   h0 input channels (1..32, or 393..408 when h0 >= 0xF0)
//   h1 channels kept (1 + h1 % in_channels; in_channels - h1 for 393..408);
//   h2 bit 0: an index list (else a contiguous range), h2 >> 1: first
//   channel; h3: the list's stride (0xFF: every other index, possibly out of range).
//   A configuration ne_stream_check_config refuses falls back to all channels. (The
//   validator also gets raw header values, as a binding passes what a user typed.)
//   h4 window, h5 hop, h6 capacity beyond the window, h7 the sample-counter channel
//   (0: none; 0xFF: in_channels, which ne_stream_set_counter refuses; else counted
//   back from the last channel: 1 is the last),
//   h8 h9 the decoder's max_payload (1..4096, from the low 12 bits); its buffer is
//   2 * (max_payload + 8) as in mod_edgedl.c when h9 >> 4 is 0, else the least it may
//   be, max_payload + 8, plus (h9 >> 4) - 1 bytes.
// Each operation is a byte c, kind c & 7 and n = c >> 3 (0..31):
//   0, 1  feed the next n bytes to the decoder
//   2     feed the next n * 64 + p bytes (p: one more byte)
//   3     encode the next 8 * n bytes as a packet (ne_link_encode) and feed it in two
//         parts cut at p; p == 0xFF also skips 3 sequence numbers (packets lost)
//   4     push the next n bytes straight into the Stream (raw frames, any cut)
//   5     push the next n * 64 + p bytes straight into the Stream
//   6     read every ready window (n & 1: then resync the Stream)
//   7     n & 3: 0 resync, 1 reset the Stream, 2 reset the decoder, 3 set the counter
//         channel to (n >> 2) - 1
// Missing bytes at the end read as 0. With LIBFUZZ_VERBOSE set, the counters are printed
// at the end (for running one input by hand).
//
// Besides the sanitizers, the harness checks the counters' bookkeeping after every
// operation and aborts (libFuzzer saves the input) when it does not add up: every
// byte fed to the decoder is skipped, decoded or held; every byte pushed into the
// Stream is in a frame, held in the partial frame or counted as discarded; a packet
// fed to an empty decoder comes out whole; ready windows are exactly those read.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgedl_link.h"
#include "edgedl_stream.h"

static void fail(const char *what) {
    fprintf(stderr, "libfuzz_link: %s\n", what);
    abort();
}

typedef struct {
    const uint8_t *data;
    size_t size, pos;
} reader_t;

static uint8_t next_byte(reader_t *r) {
    return r->pos < r->size ? r->data[r->pos++] : 0;
}

// Up to n bytes from the reader (fewer at the end); returns the count.
static size_t take(reader_t *r, size_t n, const uint8_t **out) {
    size_t left = r->size - r->pos;
    if (n > left) {
        n = left;
    }
    *out = r->data + r->pos;
    r->pos += n;
    return n;
}

typedef struct {
    ne_stream_t *stream;
    uint64_t stream_bytes;   // bytes pushed into the Stream since its last reset
    uint64_t link_bytes;     // bytes fed to the decoder since its last init
    uint64_t link_decoded;   // packet bytes (payload + overhead) the decoder handed on
    uint64_t sink_packets;
    const uint8_t *last_payload;
    uint32_t last_len;
    uint8_t last_copy[256];
} harness_t;

// The sink of mod_edgedl.c (push_to_stream), plus bookkeeping.
static void push_to_stream(void *ctx, const uint8_t *payload, uint32_t len) {
    harness_t *h = ctx;
    h->sink_packets++;
    h->link_decoded += (uint64_t)len + NE_LINK_OVERHEAD;
    h->stream_bytes += len;
    h->last_len = len;
    memcpy(h->last_copy, payload, len < sizeof(h->last_copy) ? len : sizeof(h->last_copy));
    ne_stream_push(h->stream, payload, len);
}

static void check(const harness_t *h, const ne_link_t *l, const ne_stream_t *s) {
    uint32_t frame_bytes = 2u * s->in_channels;
    if (s->held > s->capacity || s->read_slot >= s->capacity) {
        fail("the Stream holds more frames than its capacity");
    }
    if (s->partial_len >= frame_bytes) {
        fail("the Stream's partial frame is a whole frame");
    }
    if (h->stream_bytes != s->frames_pushed * frame_bytes + s->partial_len + s->bytes_discarded) {
        fail("bytes pushed into the Stream != frames * frame bytes + partial + discarded");
    }
    if (s->frames_lost < s->counter_gaps) {
        fail("fewer frames lost than counter gaps");
    }
    if (l->len >= l->cap) {
        fail("the decoder's buffer is full after a feed");
    }
    if (h->link_bytes != l->bytes_skipped + h->link_decoded + l->len) {
        fail("bytes fed to the decoder != skipped + decoded + held");
    }
    if (l->packets != h->sink_packets) {
        fail("the decoder's packet count differs from the packets its sink got");
    }
}

static void feed(harness_t *h, ne_link_t *l, const uint8_t *bytes, size_t n) {
    uint64_t before = l->packets;
    h->link_bytes += n;
    uint32_t decoded = ne_link_feed(l, bytes, n, push_to_stream, h);
    if (l->packets - before != decoded) {
        fail("ne_link_feed's return differs from the packets it counted");
    }
}

static void read_windows(ne_stream_t *s, int16_t *out, size_t out_items) {
    uint32_t ready = ne_stream_windows_ready(s);
    uint64_t windows = s->windows;
    for (uint32_t k = 0; k < ready; k++) {
        if (!ne_stream_read_window(s, out)) {
            fail("a window reported ready could not be read");
        }
    }
    if (s->windows - windows != ready) {
        fail("the window count did not advance by the windows read");
    }
    for (size_t i = 0; i < out_items; i++) {
        out[i] = 0x7b7b;
    }
    if (ne_stream_windows_ready(s) != 0 || ne_stream_read_window(s, out)) {
        fail("a window was still ready after reading every ready one");
    }
    for (size_t i = 0; i < out_items; i++) {
        if (out[i] != 0x7b7b) {
            fail("a refused read_window wrote to its output");
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    reader_t r = {data, size, 0};
    uint8_t hd[10];
    for (int i = 0; i < 10; i++) {
        hd[i] = next_byte(&r);
    }
    uint32_t in_channels = hd[0] >= 0xF0 ? NE_STREAM_MAX_CHANNELS - (hd[0] & 15u) : 1u + hd[0] % 32u;
    uint32_t out_channels = in_channels > 255 ? in_channels - hd[1] : 1u + hd[1] % in_channels;
    uint32_t select_first = hd[2] >> 1;
    uint16_t *select = NULL;
    if (hd[2] & 1) {
        select = malloc(sizeof(uint16_t) * out_channels);
        int contiguous = 1;
        for (uint32_t i = 0; i < out_channels; i++) {
            select[i] = (uint16_t)(hd[3] == 0xFF ? select_first + 2 * i : (select_first + i * hd[3]) % in_channels);
            contiguous &= select[i] == select[0] + i;
        }
        if (contiguous) {  // as mod_edgedl.c stores a run of consecutive indices
            select_first = select[0];
            free(select);
            select = NULL;
        }
    }
    (void)ne_stream_check_config((uint32_t)hd[0] << 1, hd[1], hd[2], NULL, hd[4] >> 4, hd[5] >> 4, hd[6] >> 2);
    uint32_t window = 1u + hd[4] % 16u;
    uint32_t hop = 1u + hd[5] % 24u;
    uint32_t capacity = window + hd[6] % 48u;
    if (ne_stream_check_config(in_channels, out_channels, select_first, select, window, hop, capacity) !=
        NE_STREAM_OK) {
        free(select);
        select = NULL;
        out_channels = in_channels;
        select_first = 0;
        if (ne_stream_check_config(in_channels, out_channels, 0, NULL, window, hop, capacity) != NE_STREAM_OK) {
            fail("a valid configuration was refused");
        }
    }
    // Every buffer exactly as large as the API asks: ASan sees one byte past.
    int16_t *ring = malloc(sizeof(int16_t) * capacity * out_channels);
    uint8_t *partial = malloc(2u * in_channels);
    size_t out_items = (size_t)window * out_channels;
    int16_t *out = malloc(sizeof(int16_t) * out_items);
    ne_stream_t stream;
    ne_stream_init(&stream, in_channels, out_channels, select_first, select, window, hop, capacity, ring, partial);
    int32_t counter = hd[7] == 0 ? -1
        : hd[7] == 0xFF ? (int32_t)in_channels : (int32_t)(in_channels - 1u - (hd[7] - 1u) % in_channels);
    if (ne_stream_set_counter(&stream, counter) != (counter < (int32_t)in_channels)) {
        fail("ne_stream_set_counter accepted an invalid channel or refused a valid one");
    }

    uint32_t max_payload = 1u + (uint32_t)(hd[8] | (hd[9] << 8)) % 4096u;
    uint32_t cap = hd[9] >> 4 ? max_payload + NE_LINK_OVERHEAD + (hd[9] >> 4) - 1u
                              : 2u * (max_payload + NE_LINK_OVERHEAD);
    uint8_t *link_buf = malloc(cap);
    ne_link_t link;
    ne_link_init(&link, link_buf, cap, max_payload);

    harness_t h;
    memset(&h, 0, sizeof(h));
    h.stream = &stream;
    uint16_t seq = 0;
    uint8_t packet[31 * 8 + NE_LINK_OVERHEAD];

    while (r.pos < r.size) {
        uint8_t c = next_byte(&r);
        uint32_t n = c >> 3;
        const uint8_t *bytes;
        size_t got;
        switch (c & 7) {
            case 0:
            case 1:
                got = take(&r, n, &bytes);
                feed(&h, &link, bytes, got);
                break;
            case 2: {
                size_t want = (size_t)n * 64u + next_byte(&r);
                got = take(&r, want, &bytes);
                feed(&h, &link, bytes, got);
                break;
            }
            case 3: {
                uint8_t cut = next_byte(&r);
                got = take(&r, 8u * n, &bytes);
                uint32_t plen = ne_link_encode(seq, bytes, (uint32_t)got, packet);
                if (plen != got + NE_LINK_OVERHEAD) {
                    fail("ne_link_encode returned the wrong size");
                }
                seq = (uint16_t)(seq + (cut == 0xFF ? 4 : 1));
                int whole = link.len == 0 && got <= max_payload;
                uint64_t before = link.packets, lost = link.packets_lost;
                int had_seq = link.have_seq;
                uint32_t last_seq = link.last_seq;
                uint32_t first = cut % (plen + 1);
                feed(&h, &link, packet, first);
                feed(&h, &link, packet + first, plen - first);
                if (whole) {
                    // A good packet fed to an empty decoder comes out whole, in order.
                    if (link.packets != before + 1 || h.last_len != got ||
                        memcmp(h.last_copy, bytes, got) != 0 || link.len != 0) {
                        fail("an encoded packet fed to an empty decoder did not come out whole");
                    }
                    uint16_t sent = (uint16_t)(packet[2] | (packet[3] << 8));
                    if (had_seq && link.packets_lost - lost != (uint16_t)(sent - last_seq - 1u)) {
                        fail("packets_lost does not match the sequence gap");
                    }
                }
                break;
            }
            case 4:
                got = take(&r, n, &bytes);
                h.stream_bytes += got;
                ne_stream_push(&stream, bytes, got);
                break;
            case 5: {
                size_t want = (size_t)n * 64u + next_byte(&r);
                got = take(&r, want, &bytes);
                h.stream_bytes += got;
                ne_stream_push(&stream, bytes, got);
                break;
            }
            case 6:
                read_windows(&stream, out, out_items);
                if (n & 1) {
                    ne_stream_resync(&stream);
                }
                break;
            default:
                switch (n & 3) {
                    case 0: {
                        uint32_t pending = stream.partial_len;
                        if (ne_stream_resync(&stream) != pending || stream.partial_len != 0) {
                            fail("ne_stream_resync did not drop exactly the partial frame");
                        }
                        break;
                    }
                    case 1:
                        ne_stream_reset(&stream);
                        h.stream_bytes = 0;
                        if (ne_stream_windows_ready(&stream) != 0) {
                            fail("a reset Stream has windows ready");
                        }
                        break;
                    case 2:
                        ne_link_init(&link, link_buf, cap, max_payload);
                        h.link_bytes = h.link_decoded = h.sink_packets = 0;
                        break;
                    default: {
                        int32_t ch = (int32_t)(n >> 2) - 1;
                        if (ne_stream_set_counter(&stream, ch) != (ch < (int32_t)in_channels)) {
                            fail("ne_stream_set_counter accepted an invalid channel or refused a valid one");
                        }
                        break;
                    }
                }
                break;
        }
        check(&h, &link, &stream);
    }
    read_windows(&stream, out, out_items);
    check(&h, &link, &stream);
    if (getenv("LIBFUZZ_VERBOSE")) {  // running one input by hand: what it did
        fprintf(stderr, "libfuzz_link: %u of %u channels, window %u hop %u capacity %u counter %d | packets %llu "
                "crc_errors %llu bytes_skipped %llu packets_lost %llu | frames %llu dropped %llu windows %llu "
                "counter_gaps %llu frames_lost %llu bytes_discarded %llu\n", out_channels, in_channels, window, hop,
                capacity, (int)stream.counter_channel, (unsigned long long)link.packets,
                (unsigned long long)link.crc_errors, (unsigned long long)link.bytes_skipped,
                (unsigned long long)link.packets_lost, (unsigned long long)stream.frames_pushed,
                (unsigned long long)stream.frames_dropped, (unsigned long long)stream.windows,
                (unsigned long long)stream.counter_gaps, (unsigned long long)stream.frames_lost,
                (unsigned long long)stream.bytes_discarded);
    }

    free(link_buf);
    free(out);
    free(partial);
    free(ring);
    free(select);
    return 0;
}
