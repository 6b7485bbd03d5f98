"""The virtual board: real mpremote and pyserial against the emulator on a pty."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import serial

from neuroedge.virtual_board import VirtualBoard

MPREMOTE = [sys.executable, "-m", "mpremote"]


def mpremote(port: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*MPREMOTE, "connect", port, *args], capture_output=True, text=True, timeout=timeout)


def read_until(ser: serial.Serial, marker: bytes, timeout: float = 10) -> bytes:
    out = b""
    end = time.monotonic() + timeout
    while marker not in out:
        if time.monotonic() > end:
            raise AssertionError(f"{marker!r} not seen; got {out!r}")
        out += ser.read(ser.in_waiting or 1)
    return out


@pytest.fixture
def vboard(tmp_path):
    with VirtualBoard(tmp_path / "flash") as b:
        yield b


def test_mpremote_exec_fs_and_soft_reset(vboard, tmp_path):
    r = mpremote(vboard.port, "exec", "import sys; print(sys.implementation._mpy)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "2822"
    src = tmp_path / "hello.py"
    src.write_text("GREETING = 'hi'\n")
    r = mpremote(vboard.port, "fs", "mkdir", ":apps", "+", "fs", "cp", str(src), ":apps/hello.py", "+",
                 "exec", "import os; print(sorted(os.listdir('/')), os.listdir('/apps'))")
    assert r.returncode == 0, r.stderr
    assert "['apps', 'lib'] ['hello.py']" in r.stdout
    # '/' on the board is the sandbox, not the host's root.
    assert (vboard.root / "apps" / "hello.py").read_text() == "GREETING = 'hi'\n"
    boots = vboard.boots
    r = mpremote(vboard.port, "exec", "x = 1", "+", "soft-reset", "+", "exec", "print('x' in globals())")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith("False")  # the reset cleared the interpreter
    assert vboard.boots == boots + 2  # mpremote's own soft reset before its first exec, then ours


def test_friendly_ctrl_d_runs_main_py_and_ctrl_c_interrupts(vboard):
    vboard.board_path("main.py").write_text("print('main.py ran')\nBOOTED = True\n")
    with serial.Serial(vboard.port, timeout=0.2) as ser:
        ser.write(b"\r\x02")
        read_until(ser, b">>> ")
        ser.write(b"\x04")
        # Read to main.py's line, not to the next prompt: the boot, "\r" and Ctrl-B each print one.
        out = read_until(ser, b"main.py ran")
        assert b"MPY: soft reboot\r\n" in out
        if b">>> " not in out.partition(b"main.py ran")[2]:
            read_until(ser, b">>> ")
        ser.write(b"print(BOOTED)\r")
        answer = read_until(ser, b"True")
        if b">>> " not in answer.partition(b"True")[2]:
            read_until(ser, b">>> ")  # the prompt after the answer, so the next read starts after it
        # A running loop stops on Ctrl-C, in the friendly and the raw REPL.
        ser.write(b"while True: pass\r\r")
        time.sleep(0.3)
        ser.write(b"\x03")
        assert b"KeyboardInterrupt" in read_until(ser, b">>> ")
        ser.write(b"\x01")
        read_until(ser, b"raw REPL; CTRL-B to exit\r\n>")
        ser.write(b"while True: pass\n\x04")
        read_until(ser, b"OK")
        time.sleep(0.3)
        ser.write(b"\x03")
        assert b"KeyboardInterrupt" in read_until(ser, b"\x04>")
        # With the interrupt disabled (binary input), 0x03 is data for the program.
        ser.write(b"import micropython, sys\nmicropython.kbd_intr(-1)\nprint(sys.stdin.buffer.read(2))\n\x04")
        read_until(ser, b"OK")
        time.sleep(0.3)
        ser.write(b"\x03\x04")
        assert b"b'\\x03\\x04'" in read_until(ser, b"\x04>")


def test_a_program_that_dies_does_not_hang_mpremote(vboard):
    boots = vboard.boots
    # The unix port is killed mid-command: mpremote still gets its end markers.
    r = mpremote(vboard.port, "exec", "import os; os.system('kill -9 $PPID')", timeout=30)
    # mpremote's soft reset, then the reboot after the kill. The bridge sends mpremote its end
    # markers before it starts the new board, so mpremote may be gone before the count moves.
    deadline = time.monotonic() + 10
    while vboard.boots < boots + 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert vboard.boots == boots + 2
    r = mpremote(vboard.port, "exec", "print(6 * 7)")
    assert r.returncode == 0 and r.stdout.strip() == "42", r.stderr


def test_emulator_pty_command(tmp_path):
    link = tmp_path / "port"
    proc = subprocess.Popen([sys.executable, "-m", "neuroedge", "emulator", "--pty", "--link", str(link),
                             "--sandbox", str(tmp_path / "flash")], stdout=subprocess.PIPE, text=True)
    try:
        assert "virtual board on /dev/pts/" in proc.stdout.readline()
        r = mpremote(str(link), "exec", "print('up')")
        assert r.returncode == 0 and r.stdout.strip() == "up", r.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert not Path(link).exists()
