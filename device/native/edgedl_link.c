// EdgeDL link framing: see edgedl_link.h.
#include "edgedl_link.h"

uint16_t ne_crc16_ccitt(const uint8_t *data, uint32_t len, uint16_t crc) {
    for (uint32_t i = 0; i < len; i++) {
        crc ^= (uint16_t)(data[i] << 8);
        for (int b = 0; b < 8; b++) {
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
        }
    }
    return crc;
}

void ne_link_init(ne_link_t *l, uint8_t *buf, uint32_t cap, uint32_t max_payload) {
    l->buf = buf;
    l->cap = cap;
    l->len = 0;
    l->max_payload = max_payload;
    l->have_seq = 0;
    l->last_seq = 0;
    l->packets = l->crc_errors = l->bytes_skipped = l->packets_lost = 0;
}

uint32_t ne_link_encode(uint16_t seq, const uint8_t *payload, uint32_t len, uint8_t *out) {
    out[0] = 0xA5;
    out[1] = 0x5A;
    out[2] = (uint8_t)seq;
    out[3] = (uint8_t)(seq >> 8);
    out[4] = (uint8_t)len;
    out[5] = (uint8_t)(len >> 8);
    for (uint32_t i = 0; i < len; i++) {
        out[6 + i] = payload[i];
    }
    uint16_t crc = ne_crc16_ccitt(out + 2, len + 4, 0xFFFF);
    out[6 + len] = (uint8_t)crc;
    out[7 + len] = (uint8_t)(crc >> 8);
    return len + NE_LINK_OVERHEAD;
}

// Parses what the buffer holds; keeps an incomplete packet (or a lone A5) for later.
static uint32_t parse(ne_link_t *l, ne_link_sink_t sink, void *ctx) {
    uint32_t pos = 0, decoded = 0;
    uint8_t *b = l->buf;
    while (pos < l->len) {
        if (b[pos] != 0xA5 || (pos + 1 < l->len && b[pos + 1] != 0x5A)) {
            pos++;
            l->bytes_skipped++;
            continue;
        }
        if (pos + 6 > l->len) {
            break;  // header not complete yet
        }
        uint32_t plen = (uint32_t)b[pos + 4] | ((uint32_t)b[pos + 5] << 8);
        if (plen > l->max_payload) {
            pos++;  // not a real header: look further
            l->bytes_skipped++;
            continue;
        }
        if (pos + plen + NE_LINK_OVERHEAD > l->len) {
            break;  // payload not complete yet
        }
        uint16_t want = (uint16_t)(b[pos + 6 + plen] | (b[pos + 7 + plen] << 8));
        if (ne_crc16_ccitt(b + pos + 2, plen + 4, 0xFFFF) != want) {
            l->crc_errors++;
            pos++;  // resynchronise on the next A5 5A
            l->bytes_skipped++;
            continue;
        }
        uint32_t seq = (uint32_t)b[pos + 2] | ((uint32_t)b[pos + 3] << 8);
        if (l->have_seq) {
            l->packets_lost += (seq - l->last_seq - 1u) & 0xffffu;
        }
        l->have_seq = 1;
        l->last_seq = seq;
        l->packets++;
        decoded++;
        sink(ctx, b + pos + 6, plen);
        pos += plen + NE_LINK_OVERHEAD;
    }
    // Keep the unparsed tail at the front of the buffer.
    for (uint32_t i = pos; i < l->len; i++) {
        b[i - pos] = b[i];
    }
    l->len -= pos;
    return decoded;
}

uint32_t ne_link_feed(ne_link_t *l, const uint8_t *data, size_t len, ne_link_sink_t sink, void *ctx) {
    uint32_t decoded = 0;
    while (len) {
        uint32_t room = l->cap - l->len;
        uint32_t take = len < room ? (uint32_t)len : room;
        for (uint32_t i = 0; i < take; i++) {
            l->buf[l->len + i] = data[i];
        }
        l->len += take;
        data += take;
        len -= take;
        decoded += parse(l, sink, ctx);
        if (l->len == l->cap) {
            // Full of bytes that cannot start a packet (cap >= one whole packet): drop one.
            for (uint32_t i = 1; i < l->len; i++) {
                l->buf[i - 1] = l->buf[i];
            }
            l->len--;
            l->bytes_skipped++;
        }
    }
    return decoded;
}
