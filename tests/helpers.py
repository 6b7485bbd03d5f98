"""Helpers the tests share (the fixtures are in conftest.py)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

TESTS_DIR = Path(__file__).parent
DEVICE_TEST_DIR = TESTS_DIR / "device"  # MicroPython scripts the tests run on emulated boards


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


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A local port nobody listens on now."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_device_script(emulator, name: str, params: dict, timeout: float = 120) -> str:
    """Runs tests/device/<name>.py on the emulated board with its parameters in <name>.json (the
    scripts read them through tests/device/run_job.py); its standard output."""
    shutil.copytree(DEVICE_TEST_DIR, emulator.board_path("device"), dirs_exist_ok=True)
    emulator.board_path(f"{name}.json").write_text(json.dumps(params))
    return emulator.run_file(DEVICE_TEST_DIR / f"{name}.py", timeout=timeout).check().stdout


def run_app(emulator, frames: int, seconds: float = 30, **settings) -> tuple[dict, np.ndarray]:
    """The gesture app on an emulated board (its bundle in /model) until `frames` raw frames
    arrived or `seconds` passed: its counters and its events as (raw frame, gesture index) rows."""
    stdout = run_device_script(emulator, "run_app", {"settings": settings, "frames": frames, "seconds": seconds},
                               timeout=seconds + 60)
    out = json.loads(stdout.strip().splitlines()[-1])
    return out["stats"], np.array(out["events"]).reshape(-1, 2)


def accuracy(events: np.ndarray, labels: np.ndarray) -> float:
    """Share of events whose gesture is the label of their window's last raw frame."""
    return float((labels[events[:, 0]] == events[:, 1]).mean())


def reset_friendly(port: str) -> bytes:
    """Ctrl-D at the friendly REPL, as a user does: the board reboots and runs main.py."""
    import serial

    with serial.Serial(port, timeout=0.2) as ser:
        ser.write(b"\r\x03\x02")
        time.sleep(0.3)
        ser.reset_input_buffer()
        ser.write(b"\x04")
        out = b""
        end = time.monotonic() + 20
        while b">>> " not in out and time.monotonic() < end:
            out += ser.read(4096)
    assert b"MPY: soft reboot" in out, out
    return out
