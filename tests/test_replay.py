"""neuroedge replay: the Quattrocento simulator feeds the emulated board's app over loopback."""

from __future__ import annotations

import json

import pytest

from helpers import run_neuroedge
from neuroedge import recording, replay, synth, train

TINY = synth.SynthConfig(grids=1, subjects=1, sessions=1, repetitions=3, hold_s=1.0, gap_s=0.3, motor_units=40)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("replay")
    (path,) = synth.write(TINY, folder / "data")
    out = folder / "model"
    train.train([recording.load(path)], out, train.TrainConfig(epochs=12), log=lambda *a: None)
    return path, out


def test_onset_delay_is_the_time_to_the_first_correct_decision():
    import numpy as np

    fs = 1000.0
    labels = np.array([0] * 100 + [2] * 100 + [0] * 100 + [3] * 100 + [1] * 100)
    # Events every 10 samples: gesture 2 is named from sample 150 on, gesture 3 never, gesture 1 at 420
    # (before its onset at 400: not counted) and again at 460.
    sample = np.arange(0, 500, 10)
    predicted = np.zeros(len(sample), int)
    predicted[(sample >= 150) & (sample < 200)] = 2
    predicted[sample == 390] = 1
    predicted[sample == 460] = 1
    latency = np.full(len(sample), 0.5)
    out = replay.onset_delays(labels, 0, sample, predicted, latency, fs)
    assert out == {"onsets": 3, "missed": 1, "median": 55.5, "p95": pytest.approx(60.0)}


@pytest.mark.slow
def test_replay_in_real_time_scores_events_against_the_labels(trained):
    path, model = trained
    rec = recording.load(path)
    short = rec.part(slice(8192), "first 4 s")
    result = replay.replay_via_quattrocento(short, model, speed=1.0)  # real time, ESP32-sized heap
    assert result.events > 60 and result.frames_dropped == 0 and result.frames_lost == 0  # one per 50 ms
    assert 0 <= result.latency_ms["median"] < 20 and result.latency_ms["max"] < 200
    assert result.accuracy > 0.5


def test_cli_replay_at_max_speed_writes_the_timeline(trained, tmp_path):
    path, model = trained
    png = tmp_path / "timeline.png"
    result = run_neuroedge("replay", str(path), "--model", str(model), "--speed", "max", "--json", "--png", str(png))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["events"] > 400 and summary["accuracy"] > 0.7
    assert set(summary["per_class"]) == set(synth.GESTURES)
    onset = summary["onset_to_decision_ms"]
    assert onset["onsets"] == 3 * 6 and onset["missed"] < 6 and 0 < onset["median"] <= onset["p95"] < 1000
    assert png.stat().st_size > 10_000
    wrong = run_neuroedge("replay", str(path), "--model", str(path.parent))
    assert wrong.returncode == 2 and "not a model bundle" in wrong.stderr


def test_app_sends_events_over_udp_and_to_a_callback(trained, big_emulator):
    import shutil
    import socket as pysocket

    from neuroedge.quattrocento_sim import QuattrocentoSimulator

    path, model = trained
    shutil.copytree(model, big_emulator.board_path("model"))
    listener = pysocket.socket(pysocket.AF_INET, pysocket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.settimeout(5)
    rec = recording.load(path)
    with QuattrocentoSimulator(rec, port=0, speed=None, loop=False) as sim:
        out = big_emulator.run(
            "import app\n"
            "seen = []\n"
            f"a = app.App(model='model', output='udp', destination=['127.0.0.1', {listener.getsockname()[1]}], "
            "callback=lambda e: seen.append(e['gesture']))\n"
            f"a.run_quattrocento('127.0.0.1', {sim.port}, frames=4096)\n"
            "print(len(seen), a.stats()['model_windows'], a.stats()['current'])\n").check().stdout.split()
    datagrams = []
    try:
        while True:
            datagrams.append(json.loads(listener.recv(2048)))
            listener.settimeout(0.5)
    except pysocket.timeout:
        pass
    listener.close()
    assert int(out[0]) == int(out[1]) > 25 and len(datagrams) == int(out[0])
    assert {"window", "gesture", "confidence", "latency_us"} <= set(datagrams[0])


@pytest.mark.slow
def test_cli_replay_into_the_emulator_over_its_usb_serial(trained, tmp_path):
    path, model = trained
    rec = recording.load(path)
    short = tmp_path / "short.npz"
    rec.part(slice(6144), "first 3 s").save(short)
    result = run_neuroedge("replay", str(short), "--model", str(model), "--via", "usb", "--speed", "max", "--json",
                           "--png", str(tmp_path / "t.png"))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    # 6144 frames in packets of 8: every packet arrives; a window of blocks every hop blocks.
    assert summary["link"]["packets"] == 6144 // 8 and summary["link"]["packets_lost"] == 0
    assert summary["link"]["crc_errors"] == 0 and summary["frames_dropped"] == 0
    d, w, h = (json.loads((model / "model.json").read_text())[k] for k in ("preprocess", "window", "hop"))
    assert summary["events"] == (6144 // d["decimate"] - w) // h + 1 and summary["accuracy"] > 0.6


@pytest.mark.slow
def test_bench_stream_reports_speed_against_real_time_and_the_heap(trained):
    path, model = trained
    result = run_neuroedge("bench", "stream", "--model", str(model), "--recording", str(path), "--json")
    assert result.returncode == 0, result.stderr
    s = json.loads(result.stdout)
    assert s["frames"] == recording.load(path).samples and s["frames_dropped"] == 0 and s["frames_lost"] == 0
    assert s["realtime_factor"] == pytest.approx(s["signal_s"] / s["wall_s"]) and s["realtime_factor"] > 1
    assert 0 < s["window_classify_us"]["p50"] <= s["window_classify_us"]["p99"] <= s["window_classify_us"]["max"]
    heap = s["heap"]
    # The big buffers are part of what the app takes, and the app fits the ESP32-sized heap.
    assert sum(heap["buffers"].values()) < heap["app"] < heap["total"] <= 128 * 1024
    assert heap["buffers"]["model_file"] == (model / "model.tflite").stat().st_size
    assert heap["after_run"] - heap["app"] < 4096  # nothing piles up while it streams
