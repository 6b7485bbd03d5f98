"""Drift tracking: the board follows a new session's shift of the features from its own
decisions (edgedl.drift_apply / drift_track, the same C on host and board), and the bundle,
the evaluation and the runtime all run it the same way."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from neuroedge import bundle, dataset, drift, infer, synth, train
from neuroedge.errors import InputError
from neuroedge.preprocess import PreprocessConfig, Preprocessor


def test_board_and_host_track_drift_bit_identically(emulator):
    rng = np.random.default_rng(3)
    frames, width, classes, n = 8, 12, 5, 40
    windows = rng.integers(-3000, 12000, size=(n, frames, width), dtype=np.int16)
    windows[5] = 32767    # saturates upwards once the offsets are negative
    windows[6] = -32768
    means = rng.integers(0, 9000, size=(classes, width), dtype=np.int16)
    decided = rng.integers(0, classes, size=n)
    offsets = np.zeros(width, np.int32)
    applied_host = []
    for window, k in zip(windows, decided):
        applied = drift.apply(window, offsets)
        drift.track(applied, means, int(k), drift.RATE_SHIFT, offsets)
        applied_host.append(applied)
    windows.astype("<i2").tofile(emulator.board_path("windows.bin"))
    code = ("import edgedl, array\n"
            f"means = array.array('h', {means.ravel().tolist()})\n"
            f"offsets = array.array('i', bytes(4 * {width}))\n"
            "data = open('windows.bin', 'rb').read()\n"
            "out = open('applied.bin', 'wb')\n"
            f"size = {frames * width * 2}\n"
            f"for i, k in enumerate({decided.tolist()}):\n"
            "    win = array.array('h', data[i * size:(i + 1) * size])\n"
            f"    edgedl.drift_apply(win, {width}, offsets)\n"
            f"    edgedl.drift_track(win, {width}, means, k, {drift.RATE_SHIFT}, offsets)\n"
            "    out.write(win)\n"
            "out.close()\n"
            "print(list(offsets))\n")
    board_offsets = json.loads(emulator.run(code).check().stdout)
    on_board = np.fromfile(emulator.board_path("applied.bin"), dtype="<i2").reshape(n, frames, width)
    assert np.array_equal(on_board, np.stack(applied_host))
    assert board_offsets == offsets.tolist() and np.abs(offsets).max() > 256  # they moved by whole units


def test_tracking_moves_towards_the_decided_class_at_its_rate():
    window = np.full((4, 3), 1000, np.int16)
    means = np.array([[1000, 1000, 1000], [0, 2000, 1000]], np.int16)
    offsets = np.zeros(3, np.int32)
    drift.track(window, means, 1, 6, offsets)  # 1/64 of (+1000, -1000, 0), in Q8
    assert offsets.tolist() == [4000, -4000, 0]
    drift.track(window, means, 0, 6, offsets)  # the window matches class 0: no step
    assert offsets.tolist() == [4000, -4000, 0]
    assert drift.apply(window, offsets)[0].tolist() == [984, 1016, 1000]  # 4000 / 256 = 15.6 -> 16
    big = np.full(3, 2 ** 31 - 1000, np.int32)
    drift.track(np.full((1, 3), 32767, np.int16), np.full((1, 3), -32768, np.int16), 0, 0, big)
    assert big.tolist() == [32767 * 256] * 3  # held within the range an int16 feature can use


def test_drift_errors_name_the_problem(emulator):
    out = emulator.run(
        "import edgedl, array\n"
        "w = array.array('h', bytes(2 * 24)); o = array.array('i', bytes(4 * 6)); m = array.array('h', bytes(2 * 12))\n"
        "for expr in ['edgedl.drift_apply(w, 5, o)', 'edgedl.drift_apply(w, 6, array.array(\"i\", bytes(8)))',\n"
        "             'edgedl.drift_apply(w, 6, array.array(\"h\", bytes(12)))',\n"
        "             'edgedl.drift_track(w, 6, m, 2, 6, o)', 'edgedl.drift_track(w, 6, m, -1, 6, o)',\n"
        "             'edgedl.drift_track(w, 6, m, 0, 17, o)']:\n"
        "    try:\n"
        "        eval(expr)\n"
        "    except Exception as e:\n"
        "        print(type(e).__name__, e)\n").check().stdout.splitlines()
    assert out == [
        "ValueError drift_apply: a window of 24 values is not whole frames of width 5",
        "ValueError drift_apply: offsets has 2 items, the window has 6 columns",
        "TypeError drift_apply: offsets must be a writable array('i')",
        "ValueError drift_track: class 2 is not one of the 2 rows of width 6 in class_means",
        "ValueError drift_track: class -1 is not one of the 2 rows of width 6 in class_means",
        "ValueError drift_track: rate_shift must be 0..16, got 17",
    ]


# Electrodes whose skin coupling changes between sessions (lognormal spread 0.4 per electrode),
# 16 electrodes of a grid: a session-1 model on session 2.
GAINS = synth.SynthConfig(grids=1, subjects=1, sessions=2, repetitions=4, hold_s=1.0, gap_s=0.3, motor_units=40,
                          session_gain_sd=0.0, electrode_gain_sd=0.4, session_shift_mm=0.0, seed=3, efforts=(50,))
SIXTEEN = dataset.WindowConfig(channels=tuple(range(0, 64, 4)))


@pytest.fixture(scope="module")
def sessions():
    return [synth.generate(GAINS, 0, s) for s in (0, 1)]


def test_tracking_recovers_what_changed_electrode_gains_cost(sessions):
    def int8_accuracy(recs, split, tracking):
        cfg = train.resolved(train.TrainConfig(architecture="lda", drift=tracking, windows=SIXTEEN), 64)
        train_w, test_w, _ = dataset.split(dataset.windows_of(recs, cfg.windows), *split)
        fitted = train.fit(train_w, cfg, log=lambda *a: None)
        float_pred, int8_pred = train.predict(fitted, train.to_int8(fitted, train_w), test_w)
        assert abs((float_pred == test_w.y).mean() - (int8_pred == test_w.y).mean()) <= 0.01
        return (int8_pred == test_w.y).mean()

    same = int8_accuracy(sessions[:1], ("repetition",), False)
    without = int8_accuracy(sessions, ("session", ("1",)), False)
    tracked = int8_accuracy(sessions, ("session", ("1",)), True)
    assert same - without > 0.05                        # the gains cost the model (7.5 points)
    assert tracked - without >= 0.5 * (same - without)  # tracking wins back at least half of it


def test_an_lda_bundle_tracks_drift_on_the_board_as_the_evaluation_does(sessions, big_emulator, tmp_path):
    out = tmp_path / "lda"
    meta = train.train(sessions, out, train.TrainConfig(windows=SIXTEEN, split_by="session"), log=lambda *a: None)
    assert meta["architecture"] == "lda" and meta["drift"]["rate_shift"] == drift.RATE_SHIFT
    assert np.array(meta["drift"]["class_means"]).shape == (7, meta["input"]["shape"][-1])
    shutil.copytree(out, big_emulator.board_path("model"))
    raw = sessions[1].emg[:, list(SIXTEEN.channels)][:30000]
    raw.astype("<i2").tofile(big_emulator.board_path("raw.bin"))
    code = ("import runtime, array, json\n"
            "rt = runtime.Runtime('model', vote=1, threshold=0.0, fs=2048, channels=16)\n"
            "got = []\n"
            "rt.on_event = lambda e: got.append(e['index'])\n"
            "data = open('raw.bin', 'rb').read()\n"
            "for i in range(0, len(data), 3200):\n"
            "    rt.feed(array.array('h', data[i:i + 3200]))\n"
            "print(json.dumps(got)); print(json.dumps(rt.drift_state()))\n"
            "rt.set(drift=False); print(json.dumps(rt.drift_state()))\n")
    lines = big_emulator.run(code).check().stdout.splitlines()
    on_board, state, off = json.loads(lines[0]), json.loads(lines[1]), json.loads(lines[2])
    # The evaluation's loop on every window of the same stream: the same decisions.
    tflite, meta = bundle.load(out)
    cfg = dataset.config_from_json(meta)
    frames = Preprocessor(16, cfg.preprocess.coefficients(2048)).process(raw)
    starts = range(0, len(frames) - cfg.window + 1, cfg.hop)
    windows = np.stack([frames[s:s + cfg.window] for s in starts])
    expected = infer.run_tracked_on_emulator(tflite, windows, meta["input"]["from_counts"], meta["drift"])
    assert on_board == expected.tolist()
    assert state["on"] and state["mean_offset_log2"] > 0.05
    assert off == {"on": False, "available": True, "mean_offset_log2": 0.0}


def test_rotation_mixes_each_electrode_with_its_neighbour(sessions):
    rec = sessions[0]
    half = dataset.rotated(rec, 0.5, channels=(0, 1, 2))
    counts = rec.emg.astype(np.float64)
    assert np.array_equal(half.emg[:, 0], np.round((counts[:, 0] + counts[:, 1]) / 2).astype(np.int16))
    assert np.array_equal(half.emg[:, 2], np.round((counts[:, 2] + counts[:, 0]) / 2).astype(np.int16))  # the ring
    assert np.array_equal(half.emg[:, 3:], rec.emg[:, 3:])  # channels outside the ring stay
    back = dataset.rotated(rec, -0.5, channels=(0, 1, 2))
    assert np.array_equal(back.emg[:, 1], np.round((counts[:, 1] + counts[:, 0]) / 2).astype(np.int16))
    with pytest.raises(InputError, match="between -1 and 1"):
        dataset.rotated(rec, 1.5)
    with pytest.raises(InputError, match="measured and made for lda"):
        train.TrainConfig(architecture="compact", rotation=0.3)
    filtered = dataset.WindowConfig(PreprocessConfig(features=(), rectify=True, envelope_hz=8, decimate=8))
    with pytest.raises(InputError, match="follows shifts of time-domain features"):
        train.resolved(train.TrainConfig(architecture="compact", drift=True, windows=filtered), 16)


def test_training_on_a_turned_band_keeps_the_model_on_its_own_windows(sessions, tmp_path):
    meta = train.train(sessions, tmp_path / "m", train.TrainConfig(windows=SIXTEEN, split_by="session", rotation=0.35),
                       log=lambda *a: None)
    m = meta["metrics"]
    # Tracking lets one decision int8 makes differently steer the later ones: 7 of these 528
    # windows part (untracked, int8 and float agree here to the window).
    assert m["int8_accuracy"] > 0.6 and abs(m["int8_accuracy"] - m["float_accuracy"]) <= 0.02
    # The drift means are the band as worn (the unturned windows), not the turned copies.
    cfg = dataset.config_from_json(meta)
    w = dataset.split(dataset.windows_of(sessions, cfg), "session")[0]
    assert meta["drift"]["class_means"] == drift.class_means(w.x, w.y, 7).tolist()
