"""Calibration on the board (device/app/calibration.py, app.calibrate, `neuroedge calibrate`):
the closed-form re-fit from window statistics, its guard rails, and the whole loop on the
virtual board: deploy, calibrate from a recording, reboot and keep it, reset."""

from __future__ import annotations

import array
import dataclasses
import json

import numpy as np
import pytest

from neuroedge import recording, synth, train
from neuroedge.project import load_device_module

calibration = load_device_module("calibration")


def gaussian_windows(rng, means, n, spread=300.0):
    """Feature vectors (Q10 units) around each gesture's mean."""
    return [(k, means[k] + rng.normal(0, spread, means.shape[1])) for k in range(len(means)) for _ in range(n)]


def test_the_fit_separates_what_lda_separates():
    rng = np.random.default_rng(0)
    means = rng.normal(6000, 1500, size=(4, 12))
    stats = calibration.Statistics(4, 12)
    for k, f in gaussian_windows(rng, means, 80):
        stats.add(k, f)
    clf, shrink = stats.fit()
    test = gaussian_windows(rng, means, 50)
    on_board = np.array([clf.classify_features(f)[0] for _, f in test])
    assert np.mean(on_board == [k for k, _ in test]) > 0.95 and 0 <= shrink <= 1
    # The same choices as the host's shrinkage LDA fitted on the same windows.
    from neuroedge.classic import ShrinkageLDA

    train_x = np.array([f for _, f in gaussian_windows(np.random.default_rng(0), means, 80)])
    host = ShrinkageLDA().fit(train_x, np.repeat(np.arange(4), 80)).predict(np.array([f for _, f in test]))
    assert np.mean(on_board == host) > 0.97


def board_window(values) -> array.array:
    """A window as the board holds it: array('h') (sums in Python ints, as on the board)."""
    return array.array("h", np.asarray(values, dtype=np.int16).tolist())


def add_window(session, values, frame: int, predicted: int) -> None:
    """What a runtime with an LDA bundle hands the session: the window and its mean features."""
    win = board_window(values)
    f = array.array("f", bytes(4 * session.width))
    calibration.window_mean(win, session.width, f)
    session.add(win, f, frame, predicted)


def session_with(features_of_gesture, labels=("rest", "fist", "open"), width=6, seconds=3, fs=1000, hop=50):
    """A Session fed windows as a board would: features_of_gesture(k, i) -> the window mean."""
    session = calibration.Session(list(labels), width, fs, None, seconds, activity_columns=(0, 1, 2), raw_hop=hop)
    for i in range(len(labels)):
        for frame in range(i * session.frames_per_cue + hop - 1, (i + 1) * session.frames_per_cue, hop):
            f = features_of_gesture(i, frame)
            win = np.tile(np.round(f).astype(np.int16), 8)  # 8 identical frames: the mean is f
            add_window(session, win, frame, 0)
    return session


def test_guard_rails_report_and_keep_the_running_classifier():
    rng = np.random.default_rng(2)
    levels = np.array([[2000] * 6, [6000] * 3 + [3000] * 3, [3000] * 3 + [6000] * 3], dtype=float)
    good = session_with(lambda k, t: levels[k] + rng.normal(0, 200, 6)).finish()
    assert good["problems"] == [] and good["classifier"] is not None
    assert good["accuracy_after"] > 0.9 and good["windows"]["fist"] == 40  # 3 s cues, the first second skipped

    # A cue the person did not perform: "open" looks like rest.
    lazy = levels.copy()
    lazy[2] = levels[0]
    result = session_with(lambda k, t: lazy[k] + rng.normal(0, 200, 6)).finish()
    assert any(p.startswith("open: no more activity than rest") for p in result["problems"])

    # Too few usable windows: a short cue.
    short = calibration.Session(["rest", "fist"], 6, 1000, None, 1.5, activity_columns=(0,), raw_hop=100)
    for frame in range(99, short.frames, 100):
        add_window(short, np.full(48, 3000 if frame > short.frames_per_cue else 1000), frame, 0)
    assert any("usable windows, at least 10 needed" in p for p in short.finish()["problems"])

    # Worse than the running classifier on the calibration windows: the running one said
    # the truth every time (prediction = the cue), the new fit cannot do better on noise.
    noisy = calibration.Session(["rest", "fist"], 6, 1000, None, 3, activity_columns=(), raw_hop=50)
    for frame in range(49, noisy.frames, 50):
        k = frame // noisy.frames_per_cue
        add_window(noisy, np.round(rng.normal(3000, 300, 48)), frame, k)
    result = noisy.finish()
    assert result["accuracy_before"] == 1.0 and result["accuracy_after"] < 1.0
    assert any("kept the running one" in p for p in result["problems"])


def test_a_calibration_file_that_does_not_fit_is_named(tmp_path):
    rng = np.random.default_rng(3)
    stats = calibration.Statistics(2, 4)
    for k, f in gaussian_windows(rng, np.array([[1000.0] * 4, [3000.0] * 4]), 30):
        stats.add(k, f)
    clf, _ = stats.fit()
    path = str(tmp_path / calibration.FILE)
    calibration.save(path, clf, {"labels": ["rest", "fist"]})
    loaded, record = calibration.load(path, ["rest", "fist"], 4)
    assert loaded.classify_features([3000.0] * 4)[0] == 1 and record["labels"] == ["rest", "fist"]
    with pytest.raises(calibration.CalibrationError, match="made for gestures"):
        calibration.load(path, ["rest", "open"], 4)
    with pytest.raises(calibration.CalibrationError, match="every coef row must hold 6 finite numbers"):
        calibration.load(path, ["rest", "fist"], 6)
    (tmp_path / calibration.FILE).write_text("{not json")
    with pytest.raises(calibration.CalibrationError, match="not valid JSON"):
        calibration.load(path, ["rest", "fist"], 4)
    assert calibration.load(str(tmp_path / "none.json"), ["rest"], 4) == (None, None)


def armband(rec: recording.Recording) -> recording.Recording:
    """One row of the synthetic grid: 8 electrodes around the forearm, like an armband."""
    return dataclasses.replace(rec, emg=rec.emg[:, 32:40], grids=(), source=rec.source + " (row 5)")


@pytest.mark.slow
def test_calibrate_on_the_virtual_board_keep_it_after_a_reboot_and_reset(edgedl_mpy, tmp_path):
    from helpers import reset_friendly

    from neuroedge import calibrate, deploy, replay, tune
    from neuroedge.virtual_board import VirtualBoard
    from neuroedge.serial_board import BoardConnection

    # Session 2 has the electrodes shifted and a new gain; each repetition is held at its own
    # random effort. A person calibrates with 5 s of each gesture (here its first three 2 s
    # repetitions, as in a recorded calibration set) and then uses the board (repetitions 4-5).
    cfg = synth.SynthConfig(grids=1, subjects=1, sessions=2, repetitions=5, hold_s=2.0, gap_s=1.0, motor_units=40)
    s0, s1 = (armband(recording.load(p)) for p in synth.write(cfg, tmp_path / "data"))
    train.train([s0, s1], tmp_path / "lda", train.TrainConfig(architecture="lda", split_by="session",
                                                             hold_out=(s1.session,)), log=lambda *a: None)
    calib = s1.part(s1.repetition <= 3, "session 1, repetitions 1-3")
    use = s1.part(s1.repetition >= 4, "session 1, repetitions 4-5")
    with VirtualBoard(tmp_path / "flash") as emulator:
        deploy.deploy(emulator.port, tmp_path / "lda", log=lambda *a: None)
        deployed = replay.replay_via_port(use, tmp_path / "lda", emulator.port, speed=None)
        result = calibrate.calibrate(emulator.port, seconds=5, from_recording=calib, speed=None)
        assert result["applied"] and result["problems"] == []
        assert result["accuracy_after"] >= result["accuracy_before"] and result["accuracy_after"] > 0.8
        assert set(result["windows"].values()) <= {80, 81}  # 4 s of each 5 s cue, a window every 50 ms
        assert 4096 < result["heap_free_least"] < 128 * 1024  # measured by the board, in its 128 KiB heap
        home = next(emulator.board_path("/neuroedge").glob("*/model"))
        saved = json.loads((home / calibration.FILE).read_text())
        assert saved["format"] == calibration.FORMAT and len(saved["coef"]) == 7

        calibrated = replay.replay_via_port(use, tmp_path / "lda", emulator.port, speed=None)
        assert calibrated.stats["classifier"]["kind"] == "calibrated" and calibrated.events > 100
        assert calibrated.accuracy > deployed.accuracy + 0.05, (deployed.accuracy, calibrated.accuracy)

        reset_friendly(emulator.port)  # a reboot: the calibration is still used
        with BoardConnection(emulator.port) as conn:
            about = tune.show(conn)["stats"]["classifier"]
        assert about["kind"] == "calibrated" and about["stamp"] == saved["stamp"]
        assert tune.classifier_line(about).startswith("classifier     calibrated ")

        # A cue the person did not perform: not applied, the calibration in use stays.
        lazy = calib.part(slice(None), "hand close replaced by rest")
        lazy.labels = lazy.labels.copy()
        rest, fist = lazy.label_names.index("rest"), lazy.label_names.index("hand close")
        lazy.labels[lazy.labels == fist] = -1
        lazy.labels[np.flatnonzero(calib.labels == rest)[-int(5 * calib.fs):]] = fist
        refused = calibrate.calibrate(emulator.port, seconds=5, from_recording=lazy, speed=None)
        assert not refused["applied"]
        assert any(p.startswith("hand close: no more activity than rest") for p in refused["problems"])
        assert json.loads((home / calibration.FILE).read_text())["stamp"] == saved["stamp"]

        assert calibrate.reset(emulator.port)["kind"] == "deployed"
        assert not (home / calibration.FILE).exists()


@pytest.mark.slow
def test_a_cnn_bundle_calibrates_its_classifier_head_on_the_embedding(edgedl_mpy, tmp_path):
    """The network stays as deployed; the classifier on its embedding (the 32 values the last
    dense layer reads) is re-fitted on the board, and the new session gains."""
    from neuroedge import calibrate, deploy, replay
    from neuroedge.virtual_board import VirtualBoard

    cfg = synth.SynthConfig(grids=1, subjects=1, sessions=2, repetitions=5, hold_s=2.0, gap_s=1.0, motor_units=40)
    s0, s1 = (armband(recording.load(p)) for p in synth.write(cfg, tmp_path / "data"))
    train.train([s0, s1], tmp_path / "cnn", train.TrainConfig(architecture="compact", epochs=20, split_by="session",
                                                             hold_out=(s1.session,)), log=lambda *a: None)
    use = s1.part(s1.repetition >= 4, "session 1, repetitions 4-5")
    with VirtualBoard(tmp_path / "flash") as emulator:
        deploy.deploy(emulator.port, tmp_path / "cnn", log=lambda *a: None)
        deployed = replay.replay_via_port(use, tmp_path / "cnn", emulator.port, speed=None)
        result = calibrate.calibrate(emulator.port, seconds=5, from_recording=s1.part(s1.repetition <= 3, "reps 1-3"),
                                     speed=None)
        assert result["applied"] and result["problems"] == [], result
        home = next(emulator.board_path("/neuroedge").glob("*/model"))
        saved = json.loads((home / calibration.FILE).read_text())
        assert {len(row) for row in saved["coef"]} == {32}  # the compact CNN's embedding
        calibrated = replay.replay_via_port(use, tmp_path / "cnn", emulator.port, speed=None)
        assert calibrated.stats["classifier"]["kind"] == "calibrated"
        assert calibrated.accuracy > deployed.accuracy + 0.05, (deployed.accuracy, calibrated.accuracy)


def test_a_session_the_heap_cannot_hold_is_refused_before_it_starts(edgedl_mpy, tiny_model, tmp_path):
    """A board whose heap the app nearly fills (the 64-channel CNN app in 112 KiB) refuses a
    session with the figures, and goes on running its deployed model."""
    import shutil

    from neuroedge.emulator import Emulator

    emulator = Emulator(tmp_path / "board", module=edgedl_mpy, bytecode=True, heap=112 * 1024)
    _, model = tiny_model
    shutil.copytree(model, emulator.board_path("model"))
    out = emulator.run("import app\na = app.App(model='model', output='quiet', source={'kind': 'usb'})\n"
                    "try:\n    a.calibrate(data_bytes=0, end='')\nexcept ValueError as exc:\n"
                    "    print(type(exc).__name__, exc)\nprint(a.classifier()['kind'], a.runtime.collector)\n"
                    ).check().stdout.splitlines()
    assert out[0].startswith("CalibrationError not enough heap for a calibration session of 32 features: "), out
    assert out[0].endswith("8192 B needed to go on streaming (a bundle with fewer features, or a board with more RAM)")
    assert out[1] == "deployed None"


def test_kept_windows_keep_negative_features():
    """A CNN's embedding is signed (int8 steps from its zero point): the kept copy must not round
    -3 to -2."""
    session = calibration.Session(["rest", "fist"], 2, 1000, None, 3, activity_columns=(), raw_hop=50)
    session.add(board_window([0, 0]), array.array("f", [-3.0, 2.0]), session.settle + 49, 0)
    assert list(session.kept_features[0]) == [-3, 2]
