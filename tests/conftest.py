"""Shared fixtures: the real x64 edgedl.mpy, and emulated boards that load it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from neuroedge import native
from neuroedge.emulator import Emulator

TESTS_DIR = Path(__file__).parent
DEVICE_TEST_DIR = TESTS_DIR / "device"


@pytest.fixture(scope="session")
def edgedl_mpy() -> Path:
    """Builds (or reuses) the x64 module, as `neuroedge build` does."""
    return native.build("x64")


@pytest.fixture
def board(edgedl_mpy, tmp_path) -> Emulator:
    """A fresh emulated board with the default (ESP32-sized) heap."""
    return Emulator(tmp_path / "board", module=edgedl_mpy)


@pytest.fixture
def big_board(edgedl_mpy, tmp_path) -> Emulator:
    """A board with room for large randomized buffers (the heap limit is tested on its own)."""
    return Emulator(tmp_path / "board", module=edgedl_mpy, heap=16 * 1024 * 1024)


def run_neuroedge(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """The CLI as a user runs it, in a subprocess."""
    return subprocess.run([sys.executable, "-m", "neuroedge", *args], capture_output=True, text=True,
                          timeout=timeout)


def require_tool(name: str) -> None:
    """Skip when a tool is missing on a developer machine; fail in CI, which installs it."""
    if shutil.which(name) is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed, but CI must run this test (.ci/run installs it)")
        pytest.skip(f"{name} not installed")
