"""The virtual board: the emulator presented as a serial device.

`VirtualBoard` opens a pseudo-terminal (the "USB serial" a user or mpremote
connects to) and runs MicroPython's unix port behind it on a second pty, over
a sandbox folder that is the board's flash ('/' on the board, with /lib on
sys.path). A small bridge between the two makes the unix port behave like a
board's firmware where it does not:

- soft reset: the unix port exits on Ctrl-D; the bridge prints the board's
  "MPY: soft reboot" line and boots it again (boot.py, then main.py when the
  reset came from the friendly REPL; back into the raw REPL when it came from
  there, as mpremote expects);
- Ctrl-C: while code runs, the unix port expects SIGINT rather than the byte;
  the bridge sends the signal when the program has the interrupt enabled (as
  a board's UART does), and passes the byte through otherwise (at a prompt,
  or after micropython.kbd_intr(-1) for binary input);
- a program that dies while the raw REPL runs it gets the two end markers
  mpremote waits for, then a reboot, so mpremote never waits forever on a pty
  (it reads one without a timeout).
"""

from __future__ import annotations

import errno
import os
import pty
import select
import shutil
import signal
import subprocess
import tempfile
import termios
import threading
import tty
from pathlib import Path

from . import native
from .emulator import DEFAULT_HEAP, micropython_command
from .project import DEVICE_APP_DIR, VIRTUAL_BOARD_BOOT

CTRL_A, CTRL_C, CTRL_D = b"\x01", b"\x03", b"\x04"
RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n>"
FRIENDLY_BANNER = b'Type "help()" for more information.'
SOFT_REBOOT = b"MPY: soft reboot\r\n"
DEFAULT_FLASH = 2 * 1024 * 1024  # the filesystem of a 4 MB ESP32 module
INPUT_QUEUE = 64 * 1024  # input held for a busy board before the user's pty is left to fill
OUTPUT_LIMIT = 1 << 20  # bytes kept for a reader that is not reading; older output is dropped


def _make_raw(fd: int) -> None:
    tty.setraw(fd)


def _sigint_handled(pid: int) -> bool:
    """True when the program has a SIGINT handler installed (its interrupt is enabled)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) >> (signal.SIGINT - 1) & 1)
    except OSError:
        pass
    return False


class VirtualBoard:
    """An emulated board on a pty. `with VirtualBoard() as b: mpremote connect b.port ...`

    root: the board's flash (a temporary folder, removed on close, when not
    given). blank=True starts like a fresh board with stock firmware (empty
    flash); blank=False installs device/app and the x64 edgedl.mpy first.
    """

    def __init__(self, root: str | os.PathLike | None = None, *, heap: int = DEFAULT_HEAP, blank: bool = True,
                 module: str | os.PathLike | None = None, flash: int | None = DEFAULT_FLASH):
        self._owns_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="neuroedge-vboard-")) if root is None else Path(root)
        (self.root / "lib").mkdir(parents=True, exist_ok=True)
        if not blank:
            shutil.copytree(DEVICE_APP_DIR, self.root, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            module = module or native.module_path(native.MpyAbi("x64", 6, 3))
            shutil.copyfile(module, self.root / "lib" / f"{native.MODULE_NAME}.mpy")
        self.heap = heap
        self.flash = flash
        self.boots = 0
        self.port = ""
        self._proc: subprocess.Popen | None = None
        self._inner = -1           # master side of the pty the unix port runs on
        self._outer = -1           # master side of the user's pty
        self._outer_slave = -1     # held open so the master never reads EIO between connections
        self._to_user = bytearray()
        self._to_board_queue = bytearray()
        self._held_input = bytearray()  # user input that arrives while the board reboots
        self._swallow = False           # hide a reboot's friendly banner on the way back to the raw REPL
        self._tail = b""                # recent output, to follow the REPL mode and soft resets
        self.raw_mode = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> str:
        """Boot the board and serve its pty in a background thread; returns the port path."""
        self._outer, self._outer_slave = pty.openpty()
        _make_raw(self._outer_slave)
        self.port = os.ttyname(self._outer_slave)
        os.set_blocking(self._outer, False)
        self._boot(raw=False)
        self._thread = threading.Thread(target=self._serve, name="virtual-board", daemon=True)
        self._thread.start()
        return self.port

    def __enter__(self) -> "VirtualBoard":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stops the board and its bridge thread, closes the ptys, removes its own sandbox."""
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        self._kill()
        for fd in (self._outer, self._outer_slave):
            if fd >= 0:
                os.close(fd)
        self._outer = self._outer_slave = -1
        if self._owns_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def serve_forever(self) -> None:
        """Serve until interrupted (for `neuroedge emulator --pty`)."""
        try:
            while not self._stop.wait(0.5):
                if self._thread and not self._thread.is_alive():
                    break
        finally:
            self.close()

    def board_path(self, path: str) -> Path:
        """Host path of a board path such as '/lib/edgedl.mpy'."""
        return self.root / path.lstrip("/")

    # -- the unix port -------------------------------------------------------------------------------
    def _boot(self, raw: bool) -> None:
        master, slave = pty.openpty()
        _make_raw(slave)  # bytes pass untouched; the unix port switches modes itself
        env = dict(os.environ, NEUROEDGE_BOARD_ROOT=str(self.root.resolve()),
                   NEUROEDGE_BOARD_MODE="raw" if raw else "friendly")
        env.pop("MICROPYPATH", None)
        if self.flash:
            env["NEUROEDGE_BOARD_FLASH"] = str(self.flash)
        # The unix port runs inside a CPython process (the PyPI package's launcher), whose own
        # SIGINT handler would end the whole board if a Ctrl-C came during start-up. Started
        # with SIGINT ignored, CPython installs none; MicroPython installs its handler when it
        # runs code, and only then does the bridge turn Ctrl-C into the signal.
        command = [micropython_command(), "-X", f"heapsize={self.heap}", "-i", str(VIRTUAL_BOARD_BOOT)]
        self._proc = subprocess.Popen(["/bin/sh", "-c", 'trap "" INT; exec "$0" "$@"', *command],
                                      stdin=slave, stdout=slave, stderr=slave, cwd=self.root, env=env,
                                      start_new_session=True, close_fds=True)
        os.close(slave)
        os.set_blocking(master, False)
        self._inner = master
        self.boots += 1
        self.raw_mode = raw
        self._tail = b""
        if raw:
            # The friendly REPL reads this first and switches to the raw REPL; its banner is
            # hidden until the raw one appears, so mpremote sees what a board prints.
            self._swallow = True
            os.write(master, b"\r" + CTRL_A)

    def _kill(self) -> None:
        if self._proc and self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait()
        if self._inner >= 0:
            os.close(self._inner)
            self._inner = -1

    def _executing(self) -> bool:
        """The unix port leaves the terminal's raw mode (lflag 0) only while it runs code."""
        try:
            return termios.tcgetattr(self._inner)[3] != 0
        except termios.error:
            return False

    # -- the bridge ---------------------------------------------------------------------------------
    def _serve(self) -> None:
        # Nothing here blocks: input for the board waits in _to_board_queue and output in
        # _to_user, so a board that is busy printing while the host is busy sending (a replay)
        # cannot deadlock with the bridge. While the board is behind, the user's input is left
        # in the pty, which is how flow control reaches the sender.
        while not self._stop.is_set():
            inner = [self._inner] if self._inner >= 0 else []
            readers = inner + ([self._outer] if len(self._to_board_queue) < INPUT_QUEUE else [])
            writers = ([self._outer] if self._to_user else []) + (inner if self._to_board_queue else [])
            ready, writable, _ = select.select(readers, writers, [], 0.1)
            if self._outer in writable:
                self._flush_to_user()
            if self._inner in writable:
                self._flush_to_board()
            if self._inner in ready:
                self._from_board()
            if self._outer in ready:
                self._from_user()

    def _from_user(self) -> None:
        try:
            data = os.read(self._outer, 4096)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EIO):
                return
            raise
        if self._swallow or self._inner < 0:
            self._held_input += data
            return
        self._to_board(data)

    def _to_board(self, data: bytes) -> None:
        while data:
            cut = data.find(CTRL_C)
            if cut < 0:
                self._write_inner(data)
                return
            self._write_inner(data[:cut])
            if self._executing() and _sigint_handled(self._proc.pid):
                os.kill(self._proc.pid, signal.SIGINT)  # what a board's UART interrupt does
            else:
                self._write_inner(CTRL_C)
            data = data[cut + 1:]

    def _write_inner(self, data: bytes) -> None:
        self._to_board_queue += data
        self._flush_to_board()

    def _flush_to_board(self) -> None:
        while self._to_board_queue and self._inner >= 0:
            try:
                n = os.write(self._inner, self._to_board_queue)
            except BlockingIOError:
                return
            except OSError:
                self._to_board_queue.clear()  # the program is gone; the reboot takes over
                return
            del self._to_board_queue[:n]

    def _from_board(self) -> None:
        try:
            data = os.read(self._inner, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._rebooted()
            return
        self._tail = (self._tail + data)[-256:]
        if RAW_BANNER.rstrip(b">") in self._tail:
            self.raw_mode = True
        elif FRIENDLY_BANNER in self._tail:
            self.raw_mode = False
        if self._swallow:
            at = self._tail.find(RAW_BANNER)
            if at < 0:
                return
            self._swallow = False
            data = self._tail[at:]
            self._tail = data
            self._emit(data)
            if self._held_input:
                held, self._held_input = bytes(self._held_input), bytearray()
                self._to_board(held)
            return
        self._emit(data)

    def _rebooted(self) -> None:
        """The unix port exited: a soft reset (Ctrl-D, sys.exit) or a crash. Boot again."""
        status = self._proc.wait() if self._proc else 0
        was_raw = self.raw_mode
        self._kill()
        self._to_board_queue.clear()  # input for the program that ended
        if was_raw and not self._tail.endswith(b"OK\r\n"):
            # It died while running a command: close the output and error sections that
            # mpremote follows (a board's sys.exit() prints both before its soft reset).
            self._emit(CTRL_D * max(0, 2 - self._end_markers_sent()))
        if status < 0:
            self._emit(f"\r\nneuroedge: the emulator died ({signal.Signals(-status).name})\r\n".encode())
        self._emit(SOFT_REBOOT)
        self._boot(raw=was_raw)

    def _end_markers_sent(self) -> int:
        """How many of a raw-REPL command's two end markers (Ctrl-D) the board already printed:
        counted after "OK" (raw REPL) or after the ack that ends a raw-paste upload."""
        ok, paste = self._tail.rfind(b"OK"), self._tail.rfind(b"R\x01")
        if paste > ok:
            return max(0, self._tail[paste + 2:].count(CTRL_D) - 1)
        return self._tail[ok:].count(CTRL_D) if ok >= 0 else 0

    def _emit(self, data: bytes) -> None:
        self._to_user += data
        if len(self._to_user) > OUTPUT_LIMIT:
            del self._to_user[:len(self._to_user) - OUTPUT_LIMIT]
            termios.tcflush(self._outer_slave, termios.TCIFLUSH)  # nobody is reading
        self._flush_to_user()

    def _flush_to_user(self) -> None:
        while self._to_user:
            try:
                n = os.write(self._outer, self._to_user)
            except BlockingIOError:
                return
            except OSError:
                return
            del self._to_user[:n]


def main(root: str | None, heap: int, blank: bool, link: str | None, flash: int | None = DEFAULT_FLASH) -> int:
    """`neuroedge emulator --pty`: a virtual board until interrupted; prints its port."""
    board = VirtualBoard(root, heap=heap, blank=blank, flash=flash)
    port = board.start()
    if link:
        Path(link).unlink(missing_ok=True)
        Path(link).symlink_to(port)
    print(f"virtual board on {port}{f' ({link})' if link else ''}; flash in {board.root}", flush=True)
    print(f"try: mpremote connect {link or port} exec \"import sys; print(sys.implementation)\"", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: board._stop.set())
    try:
        board.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        if link:
            Path(link).unlink(missing_ok=True)
    return 0
