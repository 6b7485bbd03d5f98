"""The framed link of device/native/edgedl_link.c, on the host: packets for replay into a
board over its USB serial, and for tests of the two-MCU (bridge -> inference) layout.

Packet: A5 5A | seq u16 | len u16 | payload | CRC-16/CCITT-FALSE u16 over seq, len, payload.
"""

from __future__ import annotations

import binascii
import struct

MAGIC = b"\xa5\x5a"
OVERHEAD = 8


def crc16_ccitt(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF): binascii's CRC-CCITT in C."""
    return binascii.crc_hqx(data, crc)


def encode(seq: int, payload: bytes) -> bytes:
    """One framed-link packet: A5 5A, sequence, length, payload, CRC-16/CCITT (edgedl_link.h's format)."""
    if len(payload) > 65535:
        raise ValueError(f"a link packet carries at most 65535 bytes, not {len(payload)}")
    body = struct.pack("<HH", seq & 0xFFFF, len(payload)) + payload
    return MAGIC + body + struct.pack("<H", crc16_ccitt(body))
