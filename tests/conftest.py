"""Shared fixtures: the real x64 edgedl.mpy, emulated boards that load it, a tiny trained model
(the helpers the tests share are in helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from neuroedge import native
from neuroedge.emulator import Emulator


@pytest.fixture(scope="session")
def edgedl_mpy() -> Path:
    """Builds (or reuses) the x64 module, as `neuroedge build` does."""
    return native.build("x64")


@pytest.fixture
def emulator(edgedl_mpy, tmp_path) -> Emulator:
    """A fresh emulated board with the default (ESP32-sized) heap and the app as bytecode, as
    `neuroedge deploy` installs it (compiling .py on the board would take heap a board never spends)."""
    return Emulator(tmp_path / "board", module=edgedl_mpy, bytecode=True)


@pytest.fixture
def big_emulator(edgedl_mpy, tmp_path) -> Emulator:
    """A board with room for large randomized buffers (the heap limit is tested on its own)."""
    return Emulator(tmp_path / "board", module=edgedl_mpy, heap=16 * 1024 * 1024)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A labelled 64-channel recording (3 repetitions of 7 gestures, 2048 Hz) and a compact
    int8 model trained on it: small enough to stream through the emulated board quickly."""
    from neuroedge import recording, synth, train

    folder = tmp_path_factory.mktemp("tiny-model")
    cfg = synth.SynthConfig(grids=1, subjects=1, sessions=1, repetitions=3, hold_s=1.0, gap_s=0.3, motor_units=40)
    (path,) = synth.write(cfg, folder / "data")
    train.train([recording.load(path)], folder / "model", train.TrainConfig(epochs=12), log=lambda *a: None)
    return path, folder / "model"
