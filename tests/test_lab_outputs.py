"""What the board gives the lab's tools: LibEMG's messages (parsed with LibEMG's own rules),
proportional control, rejection, electrode-quality checks and the activity map, all on the
emulated board fed by the Quattrocento simulator."""

from __future__ import annotations

import json
import shutil
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from helpers import run_device_script
from neuroedge import recording, synth, train
from neuroedge.quattrocento_sim import Faults, QuattrocentoSimulator
from neuroedge.tune import watch_line


def run_board(emulator, rec, frames, faults=None, speed=None, **settings):
    """The app on the emulated board, fed `rec` by the simulator (as fast as it takes it, or at a
    multiple of real time): (stats, events)."""
    # Streamed once: a looping amplifier's last delivery can run past `frames` into the
    # recording's start again, and a window ending there has no label in `rec`.
    with QuattrocentoSimulator(rec, port=0, speed=speed, faults=faults, loop=False) as sim:
        out = run_device_script(emulator, "run_app_quattrocento",
                                {"settings": {"output": "quiet", **settings}, "port": sim.port, "frames": frames},
                                timeout=240)
    result = json.loads(out.strip().splitlines()[-1])
    return result["stats"], result["events"]


class LibEmgController:
    """The parsing of LibEMG's ClassifierController (libemg/environments/controllers.py): a
    datagram's text split on single spaces."""

    def __init__(self, output_format: str, num_classes: int):
        self.output_format, self.num_classes = output_format, num_classes

    def prediction(self, action: str) -> float:
        if self.output_format == "predictions":
            return float(action.split(" ")[0])
        return float(np.argmax(self.probabilities(action)))

    def velocity(self, action: str) -> float:
        components = action.split(" ")
        if self.output_format == "predictions":
            return float(components[1])
        assert len(components) >= self.num_classes + 2, "no velocity in the message"
        return float(components[-2])

    def probabilities(self, action: str) -> list[float]:
        return [float(p) for p in action.split(" ")[:self.num_classes]]

    def timestamp(self, action: str) -> float:
        return float(action.split(" ")[-1])


@pytest.fixture
def board(big_emulator, tiny_model):
    path, model = tiny_model
    shutil.copytree(model, big_emulator.board_path("model"))
    return big_emulator, recording.load(path)


def receive_datagrams(port_holder: list, stop_after: float):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        s.bind(("127.0.0.1", 0))
        port_holder.append(s.getsockname()[1])
        s.settimeout(stop_after)
        got = []
        try:
            while True:
                got.append(s.recvfrom(1024)[0].decode("utf-8"))
        except socket.timeout:
            return got


@pytest.mark.slow
@pytest.mark.parametrize("output_format", ["predictions", "probabilities"])
def test_libemg_environments_parse_the_boards_datagrams(board, output_format):
    emulator, rec = board
    labels = json.loads((emulator.board_path("model") / "model.json").read_text())["labels"]
    holder: list = []
    with ThreadPoolExecutor(1) as pool:
        datagrams = pool.submit(receive_datagrams, holder, 8.0)
        while not holder:
            time.sleep(0.01)
        fmt = "libemg" if output_format == "predictions" else "libemg-probabilities"
        # A high threshold with rejection: some windows are no decision (-1), as LibEMG sends them.
        stats, events = run_board(emulator, rec, 8000, output="udp", destination=["127.0.0.1", holder[0]],
                                  format=fmt, velocity=True, reject=True, threshold=0.95, vote=1)
        sent_at = time.time()
        messages = datagrams.result()
    decisions = [e for e in events if "index" in e]
    assert stats["error"] is None and stats["unsent_events"] == 0
    assert len(messages) == len(decisions) > 50
    controller = LibEmgController(output_format, len(labels))
    rejected = 0
    for text, event in zip(messages, decisions):
        if output_format == "predictions":
            assert text.endswith("\n") and text.count(" ") == 1, text
            assert controller.prediction(text) == event["index"]
        else:
            probabilities = controller.probabilities(text)
            assert len(text.split(" ")) == len(labels) + 2 and abs(sum(probabilities) - 1) < 0.05, text
            assert probabilities == [round(p, 2) for p in event["probabilities"]]
            assert abs(controller.timestamp(text) - sent_at) < 120  # seconds since 1970, as time.time()
        velocity = controller.velocity(text)
        assert 0 <= velocity <= 1
        if event["index"] == -1:
            rejected += 1
            assert event["gesture"] is None and velocity == 0
        else:
            assert velocity == event["velocity"]
    assert 0 < rejected < len(decisions)


def test_without_rejection_a_doubtful_window_is_rest_and_with_it_no_decision(board):
    emulator, rec = board
    _, kept = run_board(emulator, rec, 4000, threshold=0.95, vote=1)
    _, rejected = run_board(emulator, rec, 4000, threshold=0.95, vote=1, reject=True)
    kept, rejected = [e for e in kept if "index" in e], [e for e in rejected if "index" in e]
    doubtful = [a for a, b in zip(kept, rejected) if b["index"] == -1]
    assert doubtful and all(e["gesture"] == "rest" for e in doubtful)
    assert all(b["index"] == a["index"] for a, b in zip(kept, rejected) if b["index"] != -1)


@pytest.mark.slow
def test_velocity_rises_with_the_replayed_effort(big_emulator, tmp_path):
    # Three repetitions at 20, 50 and 80 % of maximum effort; the model learns the gestures and
    # each gesture's levels from the first two, and the replay reports velocity per decision.
    cfg = synth.SynthConfig(grids=1, subjects=1, sessions=1, repetitions=3, hold_s=1.0, gap_s=0.3, motor_units=40,
                            efforts=(20, 50, 80))
    (path,) = synth.write(cfg, tmp_path / "data")
    rec = recording.load(path)
    train.train([rec], tmp_path / "model", train.TrainConfig(architecture="lda"), log=lambda *a: None)
    shutil.copytree(tmp_path / "model", big_emulator.board_path("model"))
    stats, events = run_board(big_emulator, rec, rec.samples, velocity=True, vote=1)
    assert stats["error"] is None
    by_effort = {20: [], 50: [], 80: []}
    for e in events:
        if "index" in e and e["index"] > 0 and e["index"] == rec.labels[e["raw_frame"]]:
            by_effort[cfg.efforts[rec.repetition[e["raw_frame"]] - 1]].append(e["velocity"])
    means = {k: float(np.mean(v)) for k, v in by_effort.items()}
    assert all(len(v) > 10 for v in by_effort.values()), means
    assert means[20] < means[50] < means[80], means
    assert means[80] - means[20] > 0.3, means


FAULTS = {"flat": 3, "saturated": 10, "hum": 20, "noisy": 45}


@pytest.mark.slow
def test_each_electrode_fault_is_found_and_masked_when_asked(board):
    emulator, rec = board
    faults = Faults(**{kind: (channel,) for kind, channel in FAULTS.items()})
    stats, events = run_board(emulator, rec, 6000, faults=faults, speed=2.0, quality=True, auto_mask=True,
                              activity_ms=100)
    electrodes = stats["electrodes"]
    assert electrodes["bad"] == {str(c): kind for kind, c in FAULTS.items()}, json.dumps(electrodes)
    assert electrodes["masked"] == sorted(FAULTS.values())
    assert all(electrodes["counts"][kind] >= electrodes["periods"] - 1 for kind in FAULTS)
    maps = [e for e in events if "activity" in e]
    assert len(maps) >= 5 and len(maps[-1]["activity"]) == rec.channels  # about 15 in 1.5 s
    assert maps[-1]["bad"] == electrodes["bad"] and maps[-1]["masked"] == sorted(FAULTS.values())
    line = watch_line(stats)  # `neuroedge tune watch`
    assert "electrodes bad: 3 flat, 10 saturated, 20 hum, 45 noisy; masked [3, 10, 20, 45]" in line, line
    # Without auto_mask the faults are reported and nothing is silenced.
    stats, _ = run_board(emulator, rec, 3000, faults=faults, quality=True)
    assert stats["electrodes"]["bad"] == electrodes["bad"] and stats["electrodes"]["masked"] == []


def test_a_clean_grid_has_no_bad_electrode(board):
    emulator, rec = board
    stats, _ = run_board(emulator, rec, 6000, quality=True)
    assert stats["electrodes"]["periods"] >= 10
    assert stats["electrodes"]["bad"] == {} and sum(stats["electrodes"]["counts"].values()) == 0, \
        json.dumps(stats["electrodes"])
