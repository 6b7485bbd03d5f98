"""The emulator: real MicroPython over a board-like sandbox, with an ESP32-sized heap."""

from __future__ import annotations

import pytest

from helpers import run_neuroedge
from neuroedge import native
from neuroedge.emulator import DEFAULT_HEAP, Emulator, EmulatorError


def test_sandbox_is_laid_out_like_a_board(emulator):
    assert (emulator.root / "stream_bench.py").exists()           # device/app at /
    assert (emulator.root / "lib" / "edgedl.mpy").exists()       # the module in /lib
    out = emulator.run("import os, sys; print(sorted(os.listdir('lib'))); print(sys.path[0] == '')").check().stdout
    assert out.split() == ["['edgedl.mpy']", "True"]


def test_run_returns_output_and_exit_status(emulator):
    ok = emulator.run("print('hello from', __import__('sys').implementation.name)")
    assert (ok.returncode, ok.stdout) == (0, "hello from micropython\n")
    bad = emulator.run("import edgedl\nedgedl.Stream(0, 1)")
    assert bad.returncode == 1
    assert "ValueError: Stream: channels must be >= 1, got 0" in bad.output
    with pytest.raises(EmulatorError, match="channels must be >= 1"):
        bad.check()


def test_run_file_runs_from_the_board_root(emulator, tmp_path):
    script = tmp_path / "hello.py"
    script.write_text("import stream_bench\nprint(open('lib/edgedl.mpy', 'rb').read(1))\n")
    assert emulator.run_file(script).check().stdout == "b'M'\n"
    assert emulator.run_file("hello.py").check().stdout == "b'M'\n"  # now on the board
    with pytest.raises(EmulatorError, match="no such script"):
        emulator.run_file("missing.py")


def test_heap_is_esp32_sized_and_configurable(edgedl_mpy, tmp_path):
    code = "import gc; gc.collect(); print(gc.mem_free() + gc.mem_alloc())"
    with Emulator(module=edgedl_mpy) as small:
        total = int(small.run(code).check().stdout)
        assert 100 * 1024 <= total <= DEFAULT_HEAP
        # What would not fit on an ESP32 without PSRAM fails here too.
        failed = small.run("b = bytearray(200 * 1024)")
        assert failed.returncode == 1 and "MemoryError" in failed.output
    with Emulator(module=edgedl_mpy, heap=1024 * 1024) as large:
        assert large.run("b = bytearray(200 * 1024); print(len(b))").check().stdout == "204800\n"


def test_temporary_sandbox_is_removed_on_close(edgedl_mpy):
    with Emulator(module=edgedl_mpy) as emulator:
        root = emulator.root
        assert root.exists()
    assert not root.exists()


def test_emulator_refuses_a_module_for_another_arch(tmp_path):
    foreign = tmp_path / "edgedl.mpy"
    foreign.write_bytes(b"M\x06\x1f\x1f" + bytes(16))  # an armv7emsp header
    with pytest.raises(EmulatorError, match="built for armv7emsp; the emulator loads x64 modules"):
        Emulator(tmp_path / "board", module=foreign)


def test_cli_emulator_runs_code_and_files(edgedl_mpy, tmp_path):
    result = run_neuroedge("emulator", "-c", "import edgedl; print(edgedl.MAX_CHANNELS)")
    assert (result.returncode, result.stdout) == (0, "408\n")
    failing = run_neuroedge("emulator", "-c", "raise SystemExit(3)")
    assert failing.returncode == 3
    script = tmp_path / "s.py"
    script.write_text("import gc; print(gc.mem_free() > 0)")
    result = run_neuroedge("emulator", "--heap", "64k", "--run", str(script))
    assert (result.returncode, result.stdout) == (0, "True\n")
    result = run_neuroedge("emulator", "--heap", "lots", "-c", "pass")
    assert result.returncode == 2 and "'lots' is not a size" in result.stderr


def test_module_path_for_the_emulator_abi(edgedl_mpy):
    assert native.module_path(native.MpyAbi("x64", 6, 3)) == edgedl_mpy
