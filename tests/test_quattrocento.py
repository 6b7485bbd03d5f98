"""The Quattrocento protocol module: byte-exact against the reference vectors, and the
same file runs on the board (MicroPython) and on the host (CPython)."""

from __future__ import annotations

import pytest

from neuroedge.project import load_device_module

# The NeuroEdge-like start command from shared/reference/quattrocento.md: 2048 Hz, 312 channels,
# MULTIPLE IN1-3 as 1A 04 94 (Ext. Dig. Communis, AD1x64, right, HPF 10 Hz, LPF 500 Hz).
NEUROEDGE_START = "8d10" + "00" * 25 + "1a04941a04941a04940000007d"


q = load_device_module("quattrocento")  # device/app/quattrocento.py, the file the board runs
NEUROEDGE_KW = dict(fs=2048, nch=2, an_out=0x10, multiple_in_conf=[(0x1A, 0x04, 0x94)] * 3 + [(0, 0, 0)])


def test_crc_is_crc8_maxim():
    assert q.crc8_maxim(b"123456789") == 0xA1


def test_commands_match_the_reference_vectors():
    start = q.command(**NEUROEDGE_KW)
    assert start.hex() == NEUROEDGE_START and len(start) == 40
    stop = q.stop_command(start)
    assert stop[0] == 0x80 and stop[-1] == 0x73
    assert q.parse_command(start) == (2048, 2, True)
    assert q.parse_command(stop)[2] is False  # byte 1 = 0x80: acquisition off


def test_frame_layout():
    assert [q.channels_for(n) for n in range(4)] == [120, 216, 312, 408]
    assert q.nch_for_channels(312) == 2
    grid = [c for m in (1, 2, 3) for c in q.grid_channels(2, m)]
    assert grid == list(range(96, 288))
    assert (q.counter_channel(312), q.buffer_channel(312)) == (304, 307)


def test_bad_commands_and_settings_are_named():
    start = q.command(**NEUROEDGE_KW)
    with pytest.raises(ValueError, match="command CRC mismatch: got 0x7c, expected 0x7d"):
        q.parse_command(start[:-1] + b"\x7c")
    with pytest.raises(ValueError, match="a command has 40 bytes, got 39"):
        q.parse_command(start[:-1])
    with pytest.raises(ValueError, match="not 4000"):
        q.command(fs=4000)
    with pytest.raises(ValueError, match="not 300"):
        q.nch_for_channels(300)
    with pytest.raises(ValueError, match="MULTIPLE IN4 is not streamed with NCH=2"):
        q.grid_channels(2, 4)


def test_the_board_builds_the_same_bytes(emulator):
    code = ("import quattrocento as q\n"
            "c = q.command(fs=2048, nch=2, an_out=0x10, multiple_in_conf=[(0x1A, 4, 0x94)] * 3 + [(0, 0, 0)])\n"
            "print(c.hex(), q.stop_command(c)[-1], list(q.grid_channels(2, 3))[0], q.crc8_maxim(b'123456789'))")
    assert emulator.run(code).check().stdout.split() == [NEUROEDGE_START, str(0x73), "224", str(0xA1)]
