"""The device runtime on the emulated board: bundle in, raw frames in, gesture events out,
with the same arithmetic as training (no train/serve skew)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from helpers import run_device_script
from neuroedge import bundle, dataset, synth, train
from neuroedge.bench import tflm
from neuroedge.preprocess import Preprocessor, quantize

TINY = synth.SynthConfig(grids=1, subjects=1, sessions=1, repetitions=3, hold_s=1.0, gap_s=0.3, motor_units=40)


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory):
    rec = synth.generate(TINY, 0, 0)
    out = tmp_path_factory.mktemp("rt") / "model"
    train.train([rec], out, train.TrainConfig(architecture="compact", epochs=12), log=lambda *a: None)
    return out, rec


def install(emulator, bundle_dir):
    shutil.copytree(bundle_dir, emulator.board_path("model"))


def test_runtime_decisions_equal_the_host_pipeline_exactly(tiny_bundle, big_emulator):
    bundle_dir, rec = tiny_bundle
    install(big_emulator, bundle_dir)
    raw = rec.emg[:20000]
    raw.astype("<i2").tofile(big_emulator.board_path("raw.bin"))
    out = run_device_script(big_emulator, "runtime_feed", {"vote": 1, "threshold": 0.0})
    events = [json.loads(line) for line in out.splitlines()]
    # The host: the same C preprocessing, every window, the same int8 quantization, TFLM.
    tflite, meta = bundle.load(bundle_dir)
    frames = Preprocessor(64, dataset.config_from_json(meta).preprocess.coefficients(2048)).process(raw)
    starts = range(0, len(frames) - meta["window"] + 1, meta["hop"])
    q = meta["input"]["from_counts"]
    x = np.stack([quantize(frames[s:s + meta["window"]], q["mult"], q["shift"], q["zero_point"]) for s in starts])
    expected = tflm.run_reference(tflite, x[:, None]).reshape(len(x), -1).argmax(1)
    assert len(events) == len(expected)
    assert [e["index"] for e in events] == expected.tolist()


def test_a_full_heap_costs_a_decision_not_the_classifier(tiny_bundle, big_emulator):
    """A MemoryError while a decision goes out (the REPL compiling a command beside a burst of
    events, on a 128 KiB heap) loses that decision, counted; the windows after it keep their
    numbers and decisions, and the classifier never stops."""
    bundle_dir, rec = tiny_bundle
    install(big_emulator, bundle_dir)
    rec.emg[:20000].astype("<i2").tofile(big_emulator.board_path("raw.bin"))
    key = lambda e: (e["window"], e["raw_frame"], e["index"], e["confidence"])  # noqa: E731
    whole = [key(json.loads(line)) for line in run_device_script(
        big_emulator, "runtime_feed", {"vote": 3, "threshold": 0.5}).splitlines()]
    lines = run_device_script(big_emulator, "runtime_feed",
                              {"vote": 3, "threshold": 0.5, "full_heap_every": 3}).splitlines()
    kept = [key(json.loads(line)) for line in lines[:-1]]
    assert len(whole) > 30
    assert kept == [e for i, e in enumerate(whole) if (i + 1) % 3]
    assert json.loads(lines[-1]) == {"memory_errors": len(whole) // 3}


def test_runtime_vote_steadies_decisions_and_tracks_the_gestures(tiny_bundle, big_emulator):
    bundle_dir, rec = tiny_bundle
    install(big_emulator, bundle_dir)
    rec.emg.astype("<i2").tofile(big_emulator.board_path("raw.bin"))
    _, meta = bundle.load(bundle_dir)
    d, w, h = meta["preprocess"]["decimate"], meta["window"], meta["hop"]

    def decisions(vote, threshold):
        out = run_device_script(big_emulator, "runtime_feed", {"vote": vote, "threshold": threshold})
        got = np.array([json.loads(line)["index"] for line in out.splitlines()])
        first = dataset.config_from_json(meta).preprocess.first_frame(2048)  # the block's last raw frame
        truth = rec.labels[first::d][np.arange(len(got)) * h + w - 1]
        # A vote lags a change of gesture by up to half its length: score the steady parts.
        steady = np.ones(len(truth), bool)
        for change in np.flatnonzero(np.diff(truth)) + 1:
            steady[change:change + 2] = False
        return got, (got == truth)[steady].mean()

    raw, raw_accuracy = decisions(1, 0.0)
    voted, voted_accuracy = decisions(3, 0.0)
    flips = lambda seq: int(np.sum(seq[1:] != seq[:-1]))  # noqa: E731
    assert flips(voted) < flips(raw)            # fewer spurious gesture changes
    assert voted_accuracy >= raw_accuracy - 0.04 and voted_accuracy > 0.65


def test_runtime_refuses_a_bundle_it_cannot_honour(tiny_bundle, emulator):
    bundle_dir, _ = tiny_bundle
    install(emulator, bundle_dir)
    code = ("import runtime\n"
            "for kw in ({'fs': 1000}, {'channels': 192}):\n"
            "    try:\n"
            "        runtime.Runtime('model', **kw)\n"
            "    except runtime.BundleError as e:\n"
            "        print(e)\n"
            "try:\n"
            "    runtime.Runtime('nowhere')\n"
            "except runtime.BundleError as e:\n"
            "    print(e)\n")
    meta = json.loads(emulator.board_path("model/model.json").read_text())
    assert emulator.run(code).check().stdout.splitlines() == [
        "the stream runs at 1000 Hz, the model was trained at 2048.0 Hz",
        "the stream delivers 192 channels, the model expects 64",
        "nowhere: no model.json",
    ]
    meta["version"] = 2
    emulator.board_path("model/model.json").write_text(json.dumps(meta))
    result = emulator.run("import runtime\nruntime.Runtime('model')")
    assert "bundle schema 'neuroedge-bundle' version 2; this runtime reads neuroedge-bundle version 1" \
        in result.output
