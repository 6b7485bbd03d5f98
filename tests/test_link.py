"""The framed link: host encoder and the board's C decoder agree, and the decoder survives
corruption, garbage, lost packets and any chunking."""

from __future__ import annotations

import json
import random

import numpy as np

from neuroedge import link


def test_crc_is_crc16_ccitt_false():
    assert link.crc16_ccitt(b"123456789") == 0x29B1


def test_board_encoder_matches_the_host(emulator):
    payload = bytes(range(200))
    out = emulator.run("import edgedl\n"
                    "buf = bytearray(208)\n"
                    f"n = edgedl.link_encode(513, {payload!r}, buf)\n"
                    "print(n, bytes(buf).hex())\n").check().stdout.split()
    assert out == ["208", link.encode(513, payload).hex()]


def test_decoder_recovers_frames_through_corruption_garbage_and_losses(big_emulator):
    rng = random.Random(4)
    frames = np.random.default_rng(4).integers(-32768, 32768, size=(400, 312), dtype=np.int16)
    stream_bytes, kept, corrupted, lost = bytearray(), [], 0, 0
    for seq, start in enumerate(range(0, 400, 4)):
        packet = bytearray(link.encode(seq, frames[start:start + 4].astype("<i2").tobytes()))
        roll = rng.random()
        if roll < 0.1:
            packet[rng.randrange(6, len(packet))] ^= 0x40  # a flipped bit: CRC error, resync
            corrupted += 1
        elif roll < 0.15:
            lost += 1
            continue  # never sent
        else:
            kept.append(frames[start:start + 4])
        if rng.random() < 0.2:
            stream_bytes += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 30))).replace(b"\xa5", b"\x00")
        stream_bytes += packet
    big_emulator.board_path("link.bin").write_bytes(bytes(stream_bytes))
    chunks = [rng.randrange(1, 700) for _ in range(len(stream_bytes) // 300 + 10)]
    out = big_emulator.run(
        "import edgedl, json, array\n"
        "d = edgedl.LinkDecoder(4 * 624)\n"
        "s = edgedl.Stream(312, 4, capacity=1000, counter=None)\n"
        "data = open('link.bin', 'rb').read()\n"
        "pos = 0\n"
        f"for n in {chunks}:\n"
        "    d.feed(data[pos:pos + n], s)\n"
        "    pos += n\n"
        "w = array.array('h', bytes(2 * 4 * 312))\n"
        "f = open('frames.bin', 'wb')\n"
        "while s.read(w): f.write(w)\n"
        "f.close()\n"
        "print(json.dumps(d.stats()))\n").check().stdout
    stats = json.loads(out)
    got = np.fromfile(big_emulator.board_path("frames.bin"), "<i2").reshape(-1, 312)
    assert np.array_equal(got, np.concatenate(kept))
    assert stats["packets"] == len(kept) and stats["crc_errors"] == corrupted
    assert stats["packets_lost"] == corrupted + lost and stats["bytes_skipped"] > 0
