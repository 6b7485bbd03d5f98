"""The Quattrocento simulator against clients that connect and say nothing, get stuck, or send garbage:
none of them may lock a board out."""

from __future__ import annotations

import socket
import time

import numpy as np

from neuroedge import synth
from neuroedge.quattrocento_sim import Q, QuattrocentoSimulator
from simulator_client import connect, read_frames

REC = synth.generate(synth.SynthConfig(grids=1, subjects=1, sessions=1, repetitions=1, hold_s=0.3, gap_s=0.1,
                                       motor_units=20), 0, 0)
START_312 = Q.command(fs=2048, nch=2)


def closed_within(s: socket.socket, seconds: float) -> bool:
    """True if the server closes the connection within `seconds` (what is in flight is drained)."""
    s.settimeout(0.1)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            if not s.recv(65536):
                return True
        except socket.timeout:
            pass
        except ConnectionResetError:
            return True
    return False


def test_a_silent_client_neither_blocks_another_nor_stays_forever():
    with QuattrocentoSimulator(REC, port=0, speed=None, idle_timeout=1.0) as sim, connect(sim) as silent:
        with connect(sim) as emulator:
            emulator.settimeout(2)  # well before the silent client's idle timeout
            emulator.sendall(START_312)
            assert read_frames(emulator, 312, 200).shape == (200, 312)
        assert closed_within(silent, 3) and sim.stats.idle_drops >= 1


def test_a_newer_client_that_configures_takes_over_from_a_stuck_one():
    with QuattrocentoSimulator(REC, port=0, speed=None) as sim, connect(sim) as stuck:
        stuck.sendall(START_312)
        assert read_frames(stuck, 312, 10).shape == (10, 312)
        # The stuck client reads no more (a board that rebooted without closing its socket).
        with connect(sim) as emulator:
            emulator.settimeout(2)
            emulator.sendall(START_312)
            frames = read_frames(emulator, 312, 500)
        assert frames.shape == (500, 312)
        counter = frames[:, Q.counter_channel(312)].view(np.uint16).astype(int)
        assert np.all(np.diff(counter) % 65536 == 1)
        assert closed_within(stuck, 3) and sim.stats.takeovers == 1


def test_a_valid_command_after_garbage_is_recognised_on_the_same_connection():
    with QuattrocentoSimulator(REC, port=0, speed=None) as sim, connect(sim) as s:
        s.settimeout(2)
        # 7 stray bytes, then a command whose CRC is broken, cut: nothing aligns on 40 bytes any more.
        s.sendall(b"\x81\xff\x00\x12\x80\x99\x07" + START_312[:-1] + bytes([START_312[-1] ^ 1]) + START_312[:25])
        time.sleep(0.3)
        s.sendall(START_312[25:])
        assert read_frames(s, 312, 100).shape == (100, 312)
        assert sim.stats.commands == 1 and sim.stats.bad_commands == 1
        assert sim.stats.bytes_skipped == 7 + 40


def test_a_client_that_only_sends_garbage_is_dropped():
    with QuattrocentoSimulator(REC, port=0, speed=None, idle_timeout=0.5) as sim, connect(sim) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" * 20)  # a probe that gets the port wrong
        assert closed_within(s, 3)
        assert sim.stats.commands == 0 and sim.stats.idle_drops == 1
