"""The host ML pipeline: windows as the device computes them, leak-free splits,
training, int8 conversion, the bundle, evaluate and info (small, fast settings)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import run_neuroedge
from neuroedge import bundle, dataset, synth, train
from neuroedge.preprocess import PreprocessConfig, quantize

TINY = synth.SynthConfig(grids=1, subjects=1, sessions=2, repetitions=3, hold_s=1.0, gap_s=0.3, motor_units=40)
WINDOWS = dataset.WindowConfig(PreprocessConfig(highpass_hz=20, features=(), rectify=True, envelope_hz=8, decimate=8), 16, 4)


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    return [p for p in synth.write(TINY, out)]


@pytest.fixture(scope="module")
def trained(recordings, tmp_path_factory):
    from neuroedge import recording

    out = tmp_path_factory.mktemp("models") / "tiny"
    meta = train.train([recording.load(p) for p in recordings], out,
                       train.TrainConfig(architecture="compact", epochs=20), log=lambda *a: None)
    return out, meta


def test_splits_hold_out_whole_repetitions_sessions_and_subjects(recordings):
    from neuroedge import recording

    w = dataset.Windows.concat([dataset.make_windows(recording.load(p), WINDOWS) for p in recordings])
    train_w, test_w, info = dataset.split(w, "repetition")
    assert info == {"by": "repetition", "test": ["3"], "train": ["1", "2"]}
    assert set(test_w.repetition) == {3} and 3 not in set(train_w.repetition)
    assert len(train_w) + len(test_w) == len(w)
    _, test_s, _ = dataset.split(w, "session")
    assert set(test_s.session) == {"1"}
    with pytest.raises(ValueError, match="cannot split by subject: the data has only \\['0'\\]"):
        dataset.split(w, "subject")
    # No window straddles a change of cue: every frame of a window shares its label.
    assert len(set(w.y)) == 7 and len(w) > 500


def test_device_computes_the_same_int8_windows_as_training(recordings, big_emulator):
    """Raw counts -> edgedl.Preprocess -> window -> edgedl.quantize on the board equals
    dataset.make_windows -> preprocess.quantize on the host."""
    from neuroedge import recording

    rec = recording.load(recordings[0])
    coeffs = WINDOWS.preprocess.coefficients(rec.fs)
    raw = rec.emg[:4096]
    raw.astype("<i2").tofile(big_emulator.board_path("raw.bin"))
    mult, shift, zp = 1_200_000_000, -2, -128
    code = (
        "import edgedl, array\n"
        f"p = edgedl.Preprocess(64, highpass_q15={coeffs['highpass_q15']}, rectify=True, "
        f"envelope_q15={coeffs['envelope_q15']}, decimate=8)\n"
        "s = edgedl.Stream(64, 16, hop=4, capacity=64)\n"
        "data = open('raw.bin', 'rb').read()\n"
        "frames = array.array('h', bytes(2 * 64 * 13))\n"
        "win = array.array('h', bytes(2 * 16 * 64))\n"
        "q = bytearray(16 * 64)\n"
        "out = open('q.bin', 'wb')\n"
        "for pos in range(0, len(data), 2 * 64 * 100):\n"
        "    chunk = array.array('h', data[pos:pos + 2 * 64 * 100])\n"
        "    k = p.process(chunk, frames)\n"
        "    s.push(memoryview(frames)[:k * 64])\n"
        "    while s.read(win):\n"
        f"        edgedl.quantize(win, q, {mult}, {shift}, {zp})\n"
        "        out.write(q)\n"
        "out.close()\n")
    big_emulator.run(code).check()
    board_q = np.fromfile(big_emulator.board_path("q.bin"), dtype=np.int8).reshape(-1, 16, 64)
    from neuroedge.preprocess import Preprocessor

    frames = Preprocessor(64, coeffs).process(raw)
    starts = range(0, len(frames) - 16 + 1, 4)
    host_q = np.stack([quantize(frames[s:s + 16], mult, shift, zp) for s in starts])
    assert board_q.shape == host_q.shape and np.array_equal(board_q, host_q)


def test_training_writes_a_bundle_the_device_runs_with_the_promised_accuracy(trained):
    out, meta = trained
    assert {p.name for p in out.iterdir()} == {"model.tflite", "model.json", "report.md", "confusion.png", "activity.png"}
    on_disk = json.loads((out / "model.json").read_text())
    assert on_disk["schema"] == "neuroedge-bundle" and on_disk["version"] == 1
    assert on_disk["labels"] == list(synth.GESTURES) and on_disk["channels"]["count"] == 64
    assert on_disk["input"]["dtype"] == "int8" and on_disk["input"]["from_counts"]["mult"] > 0
    assert set(on_disk["ops"]) <= {"RESHAPE", "CONV_2D", "MEAN", "FULLY_CONNECTED", "SOFTMAX"}
    # 64 channels are an electrode grid: one feature per electrode (log2 MAV).
    assert on_disk["preprocess"]["feature_names"] == ["log_mav"]
    assert on_disk["input"]["shape"] == [1, 8, 64] and on_disk["architecture"] == "compact"
    m = meta["metrics"]
    # Log-compressed features: int8 within a point of float (a linear envelope lost up to 16 points).
    assert m["int8_accuracy"] >= 0.85 and abs(m["int8_accuracy"] - m["float_accuracy"]) <= 0.01, m
    assert 0.5 < m["td_lda_baseline_accuracy"] <= 1
    assert meta["parameters"] < 10000
    report = (out / "report.md").read_text()
    assert "| hand close |" in report and "confusion.png" in report and "activity.png" in report
    # Proportional control's levels and the grid, for the board and the dashboard.
    v = on_disk["velocity"]
    assert v["columns"] == 64 and all(hi > lo for lo, hi in zip(v["low"], v["high"]))
    assert v["high"][0] < max(v["high"][1:])  # rest is weaker than the gestures
    assert on_disk["grids"] == [[8, 8, 0]]


def test_cli_evaluate_and_info(trained, recordings):
    out, meta = trained
    result = run_neuroedge("evaluate", str(out), str(recordings[1]), "--json")
    assert result.returncode == 0, result.stderr
    evaluated = json.loads(result.stdout)
    assert evaluated["windows"] > 100 and evaluated["int8_accuracy"] > 0.8
    info = run_neuroedge("info", str(out))
    assert info.returncode == 0, info.stderr
    assert f"{meta['parameters']} parameters" in info.stdout and "MACs per window" in info.stdout
    assert "arena" in info.stdout
    bad = run_neuroedge("info", str(out.parent))
    assert bad.returncode == 2 and "not a model bundle" in bad.stderr


def test_bundle_quantize_multiplier_matches_tflite():
    assert bundle.quantize_multiplier(0.5) == (1 << 30, 0)
    assert bundle.quantize_multiplier(1.0) == (1 << 30, 1)
    mult, shift = bundle.quantize_multiplier(0.3)
    assert abs(mult * 2.0 ** (shift - 31) - 0.3) < 1e-9


@pytest.fixture(scope="module")
def effort_recordings():
    from dataclasses import replace

    base = synth.SynthConfig(grids=1, subjects=1, sessions=1, repetitions=4, hold_s=1.0, gap_s=0.3, efforts=(50,))
    return {e: synth.generate(replace(base, efforts=(e,)), 0, 0) for e in (20, 50, 80)}


def int8_accuracy(fitted, tflite, w):
    return float((train.predict(fitted, tflite, w)[1] == w.y).mean())


@pytest.mark.parametrize("electrodes", [64, 16])  # a grid (compact CNN), an armband's count (lda, tracking)
def test_the_default_model_holds_when_the_contraction_strength_changes(effort_recordings, electrodes):
    cfg = train.TrainConfig(windows=dataset.WindowConfig(channels=tuple(range(0, 64, 64 // electrodes))))
    cfg = train.resolved(cfg, 64)  # the default model and preprocessing for that many electrodes
    assert (cfg.architecture, cfg.drift) == (("compact", False) if electrodes == 64 else ("lda", True))
    at_half = dataset.windows_of([effort_recordings[50]], cfg.windows)
    train_w, test_w, _ = dataset.split(at_half, "repetition")
    fitted = train.fit(train_w, cfg, log=lambda *a: None)
    same = int8_accuracy(fitted, train.to_int8(fitted, train_w), test_w)
    fitted = train.fit(at_half, cfg, log=lambda *a: None)
    tflite = train.to_int8(fitted, at_half)
    for effort in (20, 80):
        other = int8_accuracy(fitted, tflite, dataset.windows_of([effort_recordings[effort]], cfg.windows))
        assert other >= same - 0.10, (effort, other, same)


def test_int8_inputs_keep_rest_and_gestures_apart(effort_recordings, tmp_path):
    # Rest is about 10x weaker than a gesture in real EMG: with a linear envelope and one int8
    # scale set by the strongest windows, rest sat 1-3 steps above the zero point. Log features
    # keep both within the int8 range, many steps apart, and int8 decides like float.
    rec = effort_recordings[20]
    meta = train.train([rec], tmp_path / "m", train.TrainConfig(), log=lambda *a: None)
    w = dataset.windows_of([rec], dataset.config_from_json(meta))
    q = meta["input"]["from_counts"]
    x = quantize(w.x, q["mult"], q["shift"], q["zero_point"]).astype(int)
    log_mav = x[:, :, :64].mean(axis=(1, 2))  # the first feature block: log2 MAV of every channel
    assert np.median(log_mav[w.y != 0]) - np.median(log_mav[w.y == 0]) > 20
    assert (x == 127).mean() < 0.01 and (x == -128).mean() < 0.01  # hardly anything saturates
    m = meta["metrics"]
    assert abs(m["int8_accuracy"] - m["float_accuracy"]) <= 0.01 and m["per_class"]["rest"]["recall"] > 0.8


def test_lda_takes_channels_and_their_differences_as_uncorrelated(recordings):
    # On another day an electrode shift changes how a channel's features go with its
    # neighbours' differences: the LDA leaves that covariance out, so its scores are one
    # LDA's on the channels' features plus another's on the differences'.
    from neuroedge import classic, recording

    rec = recording.load(recordings[0])
    pre = PreprocessConfig(features=("log_mav", "log_wl"), ring_differences=True)
    w = dataset.windows_of([rec], dataset.WindowConfig(pre))
    fitted = train.fit(w, train.TrainConfig(architecture="lda", drift=False), log=lambda *a: None)
    f = classic.window_features(w.x) * fitted.gain
    differences = w.config.preprocess.difference_columns(rec.channels)
    assert differences.sum() == 2 * rec.channels
    parts = [classic.ShrinkageLDA().fit(f[:, cols], w.y) for cols in (~differences, differences)]
    summed = parts[0].scores(f[:, ~differences]) + parts[1].scores(f[:, differences])
    assert np.allclose(fitted.lda.scores(f), summed)
    assert not np.allclose(classic.ShrinkageLDA().fit(f, w.y).scores(f), summed)  # the joint fit differs

    # The int8 scores start at 0 (a ReLU on the scores less their mean): their steps are set by
    # the best class's range only, and the decisions stay float's.
    import tensorflow as tf

    tflite = train.to_int8(fitted, w)
    interp = tf.lite.Interpreter(model_content=tflite)
    fc = next(op for op in interp._get_ops_details() if op["op_name"] == "FULLY_CONNECTED")
    scale, zero_point = interp.get_tensor_details()[fc["outputs"][0]]["quantization"]
    scores = fitted.lda.scores(f)
    best = (scores - scores.mean(1, keepdims=True)).max()
    assert zero_point == -128 and scale <= 1.01 * best / 255
    int8_pred = train.evaluate_int8(tflite, bundle.input_quantizer(tflite, fitted.gain), w.x)
    assert (int8_pred == fitted.lda.predict(f)).mean() > 0.98


def test_the_lda_kind_deploys_replays_and_tunes_like_a_cnn(recordings, edgedl_mpy, tmp_path):
    from neuroedge import deploy, recording, replay, tune
    from neuroedge.virtual_board import VirtualBoard
    from neuroedge.serial_board import BoardConnection

    rec = recording.load(recordings[0])
    meta = train.train([rec], tmp_path / "lda", train.TrainConfig(architecture="lda"), log=lambda *a: None)
    # One int8 graph: a scale per feature, the mean over the window, the discriminant functions.
    assert meta["architecture"] == "lda" and {"DEPTHWISE_CONV_2D", "MEAN", "FULLY_CONNECTED"} <= set(meta["ops"])
    assert set(meta["ops"]) <= {"DEPTHWISE_CONV_2D", "MEAN", "FULLY_CONNECTED", "SOFTMAX", "RESHAPE"}
    m = meta["metrics"]
    assert abs(m["int8_accuracy"] - m["float_accuracy"]) <= 0.01 and m["int8_accuracy"] > 0.75
    with VirtualBoard(tmp_path / "flash") as emulator:
        deploy.deploy(emulator.port, tmp_path / "lda", log=lambda *a: None)
        res = replay.replay_via_port(rec.part(slice(8192), "4 s"), tmp_path / "lda", emulator.port, speed=None)
        assert res.events > 60 and res.accuracy > 0.7 and res.stats["error"] is None
        with BoardConnection(emulator.port) as conn:
            assert tune.set_values(conn, ["vote=5", "threshold=0.7"])["vote"] == 5
