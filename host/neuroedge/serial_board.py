"""A board on a serial port, driven through mpremote's transport (a real ESP32, or the
virtual board of `neuroedge emulator --pty`).

`connect(port)` enters the raw REPL *without* a soft reset, so a running app keeps
running (its threads do not see the Ctrl-C that stops the REPL's foreground code).
`BoardConnection.call(code)` runs code on the board and returns the JSON value it
prints between markers, so event lines a running app prints at the same time do
not get in the way: such a connection uploads code with the plain raw REPL (mpremote's
raw-paste mode takes those lines for a protocol error) and every wait has a deadline
(mpremote's end on silence, which a chatty console never gives).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import time
from dataclasses import dataclass

from mpremote.transport import TransportError, TransportExecError
from mpremote.transport_serial import SerialTransport

from .errors import NeuroEdgeError

INSTALL_ROOT = "/neuroedge"
MARK = "@@NEJSON@@"  # no whitespace: lines are stripped

# Puts the deployed install on sys.path, as /main.py does at boot (a soft reset from the
# raw REPL, which mpremote does, runs no main.py).
USE_INSTALL = ("import sys\n"
               "try:\n"
               f"    with open('{INSTALL_ROOT}/current') as _f:\n"
               f"        _home = '{INSTALL_ROOT}/' + _f.read().strip()\n"
               "    if _home not in sys.path:\n"
               "        sys.path.insert(0, _home)\n"
               "except OSError:\n"
               "    pass\n")


PLAIN_RAW_CHUNK = 256  # bytes per write in the plain raw REPL, a pause between (as mpremote: a UART's input buffer)
# The line of a traceback that names the exception ("ValueError: ...", "KeyboardInterrupt").
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit|Iteration)\b")


class ChattyConsoleTransport(SerialTransport):
    """mpremote's serial transport for a board whose app may print events on the console while
    the host talks to its raw REPL (a connection without a soft reset). Raw-paste mode reads
    the board's flow-control bytes and takes any other byte for an error; the plain raw REPL
    sends nothing until "OK", so event lines before it are simply read past. Waits end at a
    deadline, not on silence."""

    def exec_raw_no_follow(self, command):
        """Uploads `command` in the plain raw REPL and waits for the board's "OK" (events before it are read past)."""
        data = bytes(command, "utf8") if isinstance(command, str) else command
        self._read_to(b">", time.monotonic() + 10, "the raw REPL prompt did not come within 10 s")
        for i in range(0, len(data), PLAIN_RAW_CHUNK):
            self.serial.write(data[i:i + PLAIN_RAW_CHUNK])
            time.sleep(0.01)
        self.serial.write(b"\x04")
        self._read_to(b"OK", time.monotonic() + 10, "the board's OK for the command did not come within 10 s")

    def follow(self, timeout, data_consumer=None):
        """(output, error output) of the command running, both ended by Ctrl-D within `timeout` s in all."""
        deadline = time.monotonic() + timeout
        out = self._read_to(b"\x04", deadline, f"the end of the output did not come within {timeout} s",
                            data_consumer)
        return out[:-1], self._read_to(b"\x04", deadline,
                                       f"the end of the error output did not come within {timeout} s")[:-1]

    def _read_to(self, ending: bytes, deadline: float, late: str, data_consumer=None) -> bytes:
        """What arrives up to and including `ending`; TransportError saying `late` when it is
        not there by `deadline` (time.monotonic), however much else arrives meanwhile
        (mpremote's read_until looks at its clock only while nothing arrives). Byte by byte,
        so nothing after `ending` is taken."""
        data = b""
        while not data.endswith(ending):
            if time.monotonic() > deadline:
                raise TransportError(f"{late} (last bytes: {data[-60:]!r})")
            byte = self.serial.read(1)  # the port's read timeout (1 s) bounds each wait
            if byte and data_consumer:
                data_consumer(byte)
                data = (data + byte)[-len(ending):]  # a consumer takes the output; keep what ends it
            else:
                data += byte
        return data


class DeviceError(NeuroEdgeError, RuntimeError):
    """The board could not be reached, or code run on it failed; the message says which."""


class BoardRaised(DeviceError):
    """Code on the board raised: str() is the exception line, .traceback all of it."""

    def __init__(self, traceback: str):
        self.traceback = traceback.strip()
        # Event lines a running app printed meanwhile may follow the traceback.
        lines = self.traceback.splitlines() or ["error on the board"]
        named = [line for line in lines if EXCEPTION_LINE.match(line)]
        super().__init__((named or lines)[-1])


@dataclass
class BoardInfo:
    version: tuple
    machine: str
    platform: str
    sys_mpy: int | None
    flash_free: int
    flash_total: int
    ram_free: int
    installed: str | None


class BoardConnection:
    """A board on a serial port through mpremote's transport, entered without a reset so the app runs on."""

    def __init__(self, port: str, baudrate: int = 115200, soft_reset: bool = False):
        if not os.path.exists(port) and not port.startswith(("socket://", "rfc2217://")):
            raise DeviceError(f"{port}: no such serial port (is the board plugged in? `mpremote devs` lists ports)")
        try:
            # A read timeout: mpremote reads a pty one byte at a time with none, so a port with
            # nothing answering would leave it waiting forever instead of reporting.
            transport = SerialTransport if soft_reset else ChattyConsoleTransport  # a reset stops the app
            self.transport = transport(port, baudrate=baudrate, timeout=1)
        except TransportError as exc:
            raise DeviceError(f"{port}: cannot open the serial port ({exc})") from None
        self.port = port
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # mpremote prints what it got instead
                self.transport.enter_raw_repl(soft_reset=soft_reset, timeout_overall=10)
        except TransportError:
            self.transport.close()
            raise DeviceError(f"{port}: no MicroPython REPL answered (not a MicroPython board, or busy; "
                              "try pressing reset)") from None

    def __enter__(self) -> "BoardConnection":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Leaves the raw REPL and closes the port."""
        try:
            self.transport.exit_raw_repl()
        except (TransportError, OSError):
            pass
        self.transport.close()

    def soft_reset(self) -> None:
        """Ctrl-D from the raw REPL: a clean heap; boot.py runs, main.py does not."""
        try:
            self.transport.enter_raw_repl(soft_reset=True, timeout_overall=10)
        except TransportError as exc:
            raise DeviceError(f"{self.port}: the board did not come back from a soft reset ({exc})") from None

    def exec(self, code: str, timeout: float = 30) -> str:
        """Runs code in the board's raw REPL; its output, or DeviceError with the board's traceback."""
        try:
            out, err = self.transport.exec_raw(code, timeout=timeout)
        except TransportError as exc:
            raise DeviceError(f"{self.port}: the board stopped answering ({exc})") from None
        if err:
            raise BoardRaised(err.decode(errors="replace"))
        return out.decode(errors="replace")

    def call(self, code: str, result: str, timeout: float = 30):
        """Runs `code`, then returns the JSON value of the expression `result`. A MemoryError
        on the board is tried once more after a collection: a running app's heap is full only
        for moments, and the app's calls change nothing when they fail (app.set applies a change
        only once all of it is made)."""
        command = f"{code}\nimport json as _j\nprint({MARK!r} + _j.dumps({result}) + {MARK!r})"
        try:
            out = self.exec(command, timeout)
        except BoardRaised as exc:
            if not str(exc).startswith("MemoryError"):
                raise
            self.exec("import gc\ngc.collect()", timeout)
            out = self.exec(command, timeout)
        try:
            return json.loads(out.split(MARK)[-2])
        except (IndexError, ValueError):
            raise DeviceError(f"{self.port}: unexpected reply from the board: {out[-300:]!r}") from None

    def info(self) -> BoardInfo:
        """The board's MicroPython version, .mpy ABI, free heap and flash."""
        d = self.call(
            "import sys, os, gc\n"
            "gc.collect()\n"
            "_s = os.statvfs('/')\n"
            "try:\n"
            f"    _cur = open('{INSTALL_ROOT}/current').read().strip()\n"
            "except OSError:\n"
            "    _cur = None\n",
            "{'version': sys.implementation.version, 'machine': getattr(sys.implementation, '_machine', ''), "
            "'platform': sys.platform, 'mpy': getattr(sys.implementation, '_mpy', None), "
            "'free': _s[0] * _s[3], 'total': _s[0] * _s[2], 'ram': gc.mem_free(), 'installed': _cur}")
        return BoardInfo(tuple(d["version"]), d["machine"], d["platform"], d["mpy"], d["free"], d["total"], d["ram"],
                         d["installed"])

    def write_file(self, path: str, data: bytes, chunk: int = 2048) -> None:
        """Writes a file on the board in chunks."""
        try:
            self.transport.fs_writefile(path, data, chunk_size=chunk)
        except (TransportError, TransportExecError, OSError) as exc:
            raise DeviceError(f"{self.port}: writing {path} failed ({exc})") from None

    def sha256(self, path: str) -> str:
        """The SHA-256 of a file on the board, computed there."""
        try:
            return self.transport.fs_hashfile(path, "sha256", chunk_size=1024).hex()
        except (TransportError, TransportExecError, OSError) as exc:
            raise DeviceError(f"{self.port}: hashing {path} failed ({exc})") from None


def ensure_app_code() -> str:
    """Board code that makes `app` exist at the REPL: after a raw-REPL soft reset main.py
    has not run, so this runs it (as the board's boot would)."""
    return ("if globals().get('app') is None:\n"
            "    try:\n"
            "        _main = open('/main.py').read()\n"
            "    except OSError:\n"
            "        raise RuntimeError('no app on this board (no /main.py): deploy one with `neuroedge deploy`')\n"
            "    exec(_main)\n"
            "if globals().get('app') is None:\n"
            "    raise RuntimeError(globals().get('app_error') or 'no app on this board: deploy one with "
            "`neuroedge deploy`')\n")
