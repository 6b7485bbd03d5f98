"""The host ML pipeline: windows as the device computes them, leak-free splits,
training, int8 conversion, the bundle, evaluate and info (small, fast settings)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import run_neuroedge
from neuroedge import bundle, dataset, synth, train
from neuroedge.preprocess import PreprocessConfig, quantize

TINY = synth.SynthConfig(grids=1, subjects=1, sessions=2, repetitions=3, hold_s=1.0, gap_s=0.3, motor_units=40)
WINDOWS = dataset.WindowConfig(PreprocessConfig(highpass_hz=20, rectify=True, envelope_hz=8, decimate=8), 16, 4)


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    return [p for p in synth.write(TINY, out)]


@pytest.fixture(scope="module")
def trained(recordings, tmp_path_factory):
    from neuroedge import recording

    out = tmp_path_factory.mktemp("models") / "tiny"
    meta = train.train([recording.load(p) for p in recordings], out,
                       train.TrainConfig(epochs=12, windows=WINDOWS), log=lambda *a: None)
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


def test_device_computes_the_same_int8_windows_as_training(recordings, big_board):
    """Raw counts -> edgedl.Preprocess -> window -> edgedl.quantize on the board equals
    dataset.make_windows -> preprocess.quantize on the host."""
    from neuroedge import recording

    rec = recording.load(recordings[0])
    coeffs = WINDOWS.preprocess.coefficients(rec.fs)
    raw = rec.emg[:4096]
    raw.astype("<i2").tofile(big_board.board_path("raw.bin"))
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
    big_board.run(code).check()
    board_q = np.fromfile(big_board.board_path("q.bin"), dtype=np.int8).reshape(-1, 16, 64)
    from neuroedge.preprocess import Preprocessor

    frames = Preprocessor(64, coeffs).process(raw)
    starts = range(0, len(frames) - 16 + 1, 4)
    host_q = np.stack([quantize(frames[s:s + 16], mult, shift, zp) for s in starts])
    assert board_q.shape == host_q.shape and np.array_equal(board_q, host_q)


def test_training_writes_a_bundle_the_device_runs_with_the_promised_accuracy(trained):
    out, meta = trained
    assert {p.name for p in out.iterdir()} == {"model.tflite", "model.json", "report.md", "confusion.png"}
    on_disk = json.loads((out / "model.json").read_text())
    assert on_disk["schema"] == "neuroedge-bundle" and on_disk["version"] == 1
    assert on_disk["labels"] == list(synth.GESTURES) and on_disk["channels"]["count"] == 64
    assert on_disk["input"]["dtype"] == "int8" and on_disk["input"]["from_counts"]["mult"] > 0
    assert set(on_disk["ops"]) <= {"RESHAPE", "CONV_2D", "MEAN", "FULLY_CONNECTED", "SOFTMAX"}
    m = meta["metrics"]
    assert m["int8_accuracy"] >= 0.85 and abs(m["int8_accuracy"] - m["float_accuracy"]) <= 0.03, m
    assert 0 < m["lda_rms_baseline_accuracy"] <= 1
    assert meta["parameters"] < 5000
    report = (out / "report.md").read_text()
    assert "| hand close |" in report and "confusion.png" in report


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
