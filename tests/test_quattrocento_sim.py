"""The Quattrocento simulator, driven by a plain TCP client the way a board drives an amplifier."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import numpy as np

from neuroedge import synth
from neuroedge.quattrocento_sim import BUFFER_FRAMES, Q, Faults, QuattrocentoSimulator
from simulator_client import connect, read_frames

REC = synth.generate(synth.SynthConfig(subjects=1, sessions=1, repetitions=1, hold_s=0.3, gap_s=0.1,
                                       motor_units=30), 0, 0)
START_312 = Q.command(fs=2048, nch=2)


def quiet_for(s: socket.socket, seconds: float) -> bool:
    """True if nothing arrives for `seconds` (after draining what is in flight)."""
    s.settimeout(0.1)
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            if s.recv(65536):
                end = time.monotonic() + seconds  # still draining: restart the quiet period
    except socket.timeout:
        return True
    finally:
        s.settimeout(5)
    return True


def test_streams_the_recording_in_the_configured_layout_with_a_counter():
    with QuattrocentoSimulator(REC, port=0, speed=None) as sim, connect(sim) as s:
        s.sendall(Q.stop_command(START_312) + START_312)
        frames = read_frames(s, 312, 5000)
    assert frames.shape == (5000, 312)
    assert np.array_equal(frames[:, 96:288], REC.emg[:5000])  # the grids on MULTIPLE IN1-3
    counter = frames[:, Q.counter_channel(312)].view(np.uint16).astype(int)
    assert np.all(np.diff(counter) % 65536 == 1)
    assert np.all(frames[:, Q.buffer_channel(312)] == BUFFER_FRAMES)  # read in time: the buffer stays empty


def test_bad_crc_is_ignored_stop_pauses_and_a_new_command_reconfigures():
    with QuattrocentoSimulator(REC, port=0, speed=None) as sim, connect(sim) as s:
        s.sendall(START_312[:-1] + bytes([START_312[-1] ^ 1]))
        assert quiet_for(s, 0.3) and sim.stats.bad_commands == 1
        s.sendall(START_312)
        assert read_frames(s, 312, 100).shape == (100, 312)
        s.sendall(Q.stop_command(START_312))
        assert quiet_for(s, 0.3)
        sent = sim.stats.frames_sent
        time.sleep(0.2)
        assert sim.stats.frames_sent == sent
        s.sendall(Q.command(fs=2048, nch=3))
        frames = read_frames(s, 408, 200)
        counter = frames[:, Q.counter_channel(408)].view(np.uint16).astype(int)
        assert frames.shape == (200, 408) and np.all(np.diff(counter) % 65536 == 1)


def test_real_time_pacing():
    with QuattrocentoSimulator(REC, port=0, speed=1.0) as sim, connect(sim) as s:
        s.sendall(START_312)
        t0 = time.monotonic()
        read_frames(s, 312, 1024)
        elapsed = time.monotonic() - t0
    assert 0.35 < elapsed < 1.5  # 1024 frames at 2048 Hz: 0.5 s


def test_faults_drop_corrupt_and_disconnect():
    with QuattrocentoSimulator(REC, port=0, speed=None, faults=Faults(drop_every=1000, drop_count=3)) as sim, \
            connect(sim) as s:
        s.sendall(START_312)
        frames = read_frames(s, 312, 3000)
        gaps = np.diff(frames[:, Q.counter_channel(312)].view(np.uint16).astype(int)) % 65536
        assert sorted(set(gaps)) == [1, 4] and sim.stats.frames_dropped >= 6
    with QuattrocentoSimulator(REC, port=0, speed=None, faults=Faults(corrupt_every=2)) as sim, connect(sim) as s:
        s.sendall(START_312)
        frames = read_frames(s, 312, 640)
        clean = np.concatenate([sim.frames(k * 32, 32, 2, k * 32) for k in range(20)])
        assert 0 < int(np.sum(frames != clean)) < 40
    with QuattrocentoSimulator(REC, port=0, speed=None, faults=Faults(disconnect_at=500)) as sim, connect(sim) as s:
        s.sendall(START_312)
        data = bytearray()
        while chunk := s.recv(65536):
            data.extend(chunk)
        assert len(data) == 500 * 624 + 7  # 500 whole frames, then the cable is pulled mid-frame


def test_cli_serves_a_recording(tmp_path):
    path = REC.save(tmp_path / "rec.npz")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "neuroedge", "quattrocento-sim", str(path), "--port", str(port),
                             "--speed", "max"], stdout=subprocess.PIPE, text=True)
    try:
        assert "Quattrocento simulator on 127.0.0.1" in proc.stdout.readline()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(START_312)
            assert read_frames(s, 312, 64).shape == (64, 312)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
