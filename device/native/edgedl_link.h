// EdgeDL link: a framed byte stream for the reference system's two-MCU layout
// (a bridge MCU forwarding amplifier frames over UART or SPI to the inference
// MCU), and for replay into a board over its USB serial.
//
// Packet: A5 5A | seq u16 | len u16 | payload[len] | crc u16   (little-endian)
// The CRC is CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) over seq, len and
// payload. The decoder resynchronises after corruption by searching for the
// next A5 5A, counts CRC errors, skipped bytes and packets lost (sequence gaps),
// and hands every good payload to a sink. No allocation: the caller owns the
// reassembly buffer.
#ifndef EDGEDL_LINK_H
#define EDGEDL_LINK_H

#include <stddef.h>
#include <stdint.h>

#define NE_LINK_OVERHEAD 8

typedef void (*ne_link_sink_t)(void *ctx, const uint8_t *payload, uint32_t len);

typedef struct {
    uint8_t *buf;           // reassembly buffer, >= max_payload + NE_LINK_OVERHEAD bytes
    uint32_t cap, len, max_payload;
    uint32_t have_seq;
    uint32_t last_seq;
    uint64_t packets, crc_errors, bytes_skipped, packets_lost;
} ne_link_t;

uint16_t ne_crc16_ccitt(const uint8_t *data, uint32_t len, uint16_t crc);
void ne_link_init(ne_link_t *l, uint8_t *buf, uint32_t cap, uint32_t max_payload);
// Feeds bytes in any chunking; calls sink for each good packet. Returns packets decoded.
uint32_t ne_link_feed(ne_link_t *l, const uint8_t *data, size_t len, ne_link_sink_t sink, void *ctx);
// Writes one packet (len + NE_LINK_OVERHEAD bytes) to out; returns its size.
uint32_t ne_link_encode(uint16_t seq, const uint8_t *payload, uint32_t len, uint8_t *out);

#endif // EDGEDL_LINK_H
