"""StreamBridge on the emulated board against the Quattrocento simulator over loopback."""

from __future__ import annotations

import json

import numpy as np

from helpers import run_device_script
from neuroedge import synth
from neuroedge.quattrocento_sim import Faults, QuattrocentoSimulator

REC = synth.generate(synth.SynthConfig(subjects=1, sessions=1, repetitions=1, hold_s=0.3, gap_s=0.1,
                                       motor_units=30), 0, 0)

def run_bridge(emulator, sim, frames: int) -> dict:
    stdout = run_device_script(emulator, "streambridge_read", {"port": sim.port, "frames": frames, "pause": 0},
                               timeout=60)
    return json.loads(stdout.strip().splitlines()[-1])["stats"]


def test_bridge_receives_the_grid_channels_in_real_time_without_loss(big_emulator):
    with QuattrocentoSimulator(REC, port=0, speed=None, loop=True) as sim:
        stats = run_bridge(big_emulator, sim, 8192)
    assert stats["frames_pushed"] >= 8192 and stats["counter_gaps"] == 0 and stats["frames_lost"] == 0
    assert stats["frames_dropped"] == 0
    grid = np.fromfile(big_emulator.board_path("grid.bin"), "<i2").reshape(-1, 192)
    n = min(len(grid), REC.samples)
    assert len(grid) >= 8000 and np.array_equal(grid[:n], REC.emg[:n])


def test_bridge_counts_frames_lost_upstream_and_survives_a_disconnect(big_emulator):
    with QuattrocentoSimulator(REC, port=0, speed=None, faults=Faults(drop_every=2000, drop_count=5)) as sim:
        stats = run_bridge(big_emulator, sim, 6000)
    assert stats["counter_gaps"] >= 2 and stats["frames_lost"] == 5 * stats["counter_gaps"]
    with QuattrocentoSimulator(REC, port=0, speed=None, faults=Faults(disconnect_at=1000)) as sim:
        stats = run_bridge(big_emulator, sim, 5000)
    assert stats["disconnects"] == 1 and stats["frames_pushed"] == 1000
    assert stats["bytes_pending"] == 7  # the torn frame is held, never pushed as data


def test_app_reconnects_after_a_disconnect_and_drops_only_the_torn_frame(big_emulator, tmp_path):
    import shutil

    from neuroedge import train

    rec64 = synth.generate(synth.SynthConfig(grids=1, subjects=1, sessions=1, repetitions=2, hold_s=0.5,
                                             motor_units=30), 0, 0)
    train.train([rec64], tmp_path / "model", train.TrainConfig(epochs=2), log=lambda *a: None)
    shutil.copytree(tmp_path / "model", big_emulator.board_path("model"))
    with QuattrocentoSimulator(rec64, port=0, speed=None, faults=Faults(disconnect_at=1000)) as sim:
        out = big_emulator.run("import app, json\n"
                            "a = app.App(model='model', output='quiet')\n"
                            f"a.run_quattrocento('127.0.0.1', {sim.port}, frames=2500)\n"
                            "print(json.dumps(a.stats()))\n", timeout=60).check().stdout
    stats = json.loads(out.strip().splitlines()[-1])
    assert stats["disconnects"] == 2 and stats["reconnects"] == 2
    assert stats["bytes_discarded"] == 14 and stats["frames_pushed"] >= 2500
    assert stats["model_windows"] > 15 and stats["frames_lost"] == 0


def test_bridge_watches_the_amplifier_buffer_when_it_reads_too_slowly(big_emulator):
    with QuattrocentoSimulator(REC, port=0, speed=2.0) as sim:
        stdout = run_device_script(big_emulator, "streambridge_read", {"port": sim.port, "frames": 12000, "pause": 2.0},
                                   timeout=60)
        res = json.loads(stdout.strip().splitlines()[-1])
        overflowed = sim.stats.frames_overflowed
    stats, levels = res["stats"], res["levels"]
    # Read in time, the amplifier's buffer stays about empty (a block waits while the sender sleeps late).
    assert 2048 - 64 < min(levels[:20]) and max(levels) == 2048
    # Paused for 2 s at 2x real time, 8192 frames were made: the buffer filled and overflowed.
    assert stats["buffer_free_min"] == 0 and stats["buffer_low"] == 1 and stats["buffer_free"] > 1800
    assert overflowed > 2000 and stats["frames_lost"] == overflowed and stats["counter_gaps"] >= 1
    assert stats["frames_dropped"] == 0  # the board itself lost nothing


def test_a_heap_without_room_for_8_kb_reads_gets_a_bridge_with_smaller_ones(emulator):
    out = emulator.run(
        "import streambridge, sources\n"
        "made = streambridge.StreamBridge\n"
        "def tight_heap(*args, recv_bytes=8192, **kw):\n"
        "    if recv_bytes > sources.SMALL_READ_BYTES:\n"
        "        raise MemoryError('memory allocation failed, allocating %d bytes' % recv_bytes)\n"
        "    return made(*args, recv_bytes=recv_bytes, **kw)\n"
        "streambridge.StreamBridge = tight_heap\n"
        "src = sources.open_source({'kind': 'quattrocento', 'host': '127.0.0.1', 'port': 1, 'nch': 2,\n"
        "                           'stall_ms': 3000}, 64, 8)\n"
        "print(len(src.buf), src.stream.channels)").check().stdout.split()
    assert out == ["2048", "64"]
