"""The board's live output on the host, for the tools that show or forward it (`neuroedge relay`,
`neuroedge dashboard`).

A board's app writes its events as JSON lines: on its USB serial console (output "console"), as
UDP datagrams (output "udp"), or, on an emulated board fed by the Quattrocento simulator, on
the emulator's standard output. Each source here yields those events as dicts, and
:class:`LiveState` keeps what a display needs: the current decision and its scores, and the
latest activity map with the app's counters (the app sends one every ``activity_ms``).
"""
from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from . import bundle, recording
from .emulator import LIVE_HEAP, Emulator, RunResult
from .errors import InputError
from .quattrocento_sim import Faults, QuattrocentoSimulator

ACTIVITY_MS = 250  # how often a board sends its activity map to a live display


def parse_event(line: str) -> dict | None:
    """An event from one line of the board's output; None for anything else (REPL text, ACKs)."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


def serial_events(port: str, stop: threading.Event):
    """Events a board prints on its USB serial console while its app runs (output "console")."""
    import serial

    try:
        ser = serial.Serial(port, 115200, timeout=0.2)
    except (OSError, serial.SerialException) as exc:
        raise InputError(f"{port}: cannot open the serial port ({exc})") from None
    with ser:
        pending = b""
        while not stop.is_set():
            pending += ser.read(4096)
            *lines, pending = pending.split(b"\n")
            for line in lines:
                event = parse_event(line.decode("utf-8", "replace"))
                if event is not None:
                    yield event


def udp_events(port: int, stop: threading.Event, host: str = "0.0.0.0"):
    """Events a board sends as UDP datagrams (output "udp", format "json", destination this host)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind((host, port))
        except OSError as exc:
            raise InputError(f"UDP port {port}: cannot listen ({exc})") from None
        s.settimeout(0.2)
        while not stop.is_set():
            try:
                data = s.recv(65536)
            except socket.timeout:
                continue
            event = parse_event(data.decode("utf-8", "replace"))
            if event is not None:
                yield event


@contextmanager
def emulated_board(model: Path, rec_path: Path, *, speed: float | None = 1.0, loop: bool = True,
                   heap: int = LIVE_HEAP, faults: Faults | None = None, **settings):
    """An emulated board running the app on `model`, fed `rec_path` by the Quattrocento simulator
    (looping, with its faults), with the app's settings (activity maps and electrode checks on
    by default): yields a function that takes a stop Event and returns the board's events as
    they come."""
    bundle.load(model)  # refused here, with the bundle's own message, before a board starts
    rec = recording.load(rec_path)
    settings = {"activity_ms": ACTIVITY_MS, "quality": True, **settings}
    with Emulator(heap=heap, bytecode=True) as board, \
            QuattrocentoSimulator(rec, port=0, speed=speed, loop=loop, faults=faults) as sim:
        import shutil

        shutil.copytree(model, board.board_path("model"))
        frames = 2 ** 30 if loop else rec.samples
        board.board_path("replay_quattrocento.json").write_text(json.dumps(
            {"port": sim.port, "frames": frames, "settings": settings}))
        proc = subprocess.Popen(board.command("replay_quattrocento.py"), cwd=board.root, env=board.environment(),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)

        def events(stop: threading.Event):
            threading.Thread(target=lambda: (stop.wait(), proc.terminate()), daemon=True).start()
            said = []  # what the board printed besides events: a traceback if it stops
            for line in proc.stdout:
                event = parse_event(line)
                if event is not None:
                    yield event
                else:
                    said = (said + [line.rstrip()])[-6:]
            status = proc.wait()
            if status != 0 and not stop.is_set():
                hint = RunResult(status, "\n".join(said), "", heap).heap_hint()
                raise InputError("the emulated board stopped: " + " / ".join(said[-3:]) + hint)
        try:
            yield events
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()


class LiveState:
    """What a live display shows, from the board's events: thread-safe, one writer."""

    def __init__(self, labels: list[str], grids: list | None, channels: int):
        self.labels, self.grids, self.channels = list(labels), grids, channels
        self.lock = threading.Lock()
        self.decision: dict | None = None
        self.status: dict | None = None
        self.decisions = 0
        self.started = time.monotonic()

    def update(self, event: dict) -> None:
        """Takes one event: a decision, or an activity map with the counters."""
        with self.lock:
            if "index" in event:
                self.decision = event
                self.decisions += 1
            elif "activity" in event:
                self.status = event

    def snapshot(self) -> dict:
        """JSON for the page: the gesture, its confidence and every gesture's score, the app's
        counters and the activity map with the bad channels."""
        with self.lock:
            d, st = self.decision, self.status or {}
            return {"labels": self.labels, "grids": self.grids, "channels": self.channels,
                    "decisions": self.decisions,
                    "gesture": d["gesture"] if d else None, "confidence": d["confidence"] if d else None,
                    "scores": d.get("probabilities") if d else None, "velocity": d.get("velocity") if d else None,
                    **{k: st.get(k) for k in ("activity", "bad", "masked", "counters")}}


@contextmanager
def open_events(model: Path, *, port: str | None = None, udp: int | None = None, recording_path: Path | None = None,
                speed: float | None = 1.0, faults: Faults | None = None, heap: int = LIVE_HEAP, **settings):
    """The events of one source, as (events(stop) -> iterator, description): a board's serial
    console (its app's activity maps are switched on over the REPL first), UDP datagrams, or an
    emulated board fed `recording_path` (with the simulator's faults)."""
    if sum(x is not None for x in (port, udp, recording_path)) != 1:
        raise InputError("name one source: --port (a board's serial port), --udp (a port the board sends its "
                         "events to) or --recording (an emulated board replays it)")
    if port is not None:
        from .serial_board import BoardConnection
        from .tune import PREFIX

        with BoardConnection(port) as board:
            if not board.call(PREFIX, "app.get()").get("activity_ms"):
                board.call(PREFIX, f"app.set(activity_ms={ACTIVITY_MS})")
        yield (lambda stop: serial_events(port, stop)), f"the board at {port}"
    elif udp is not None:
        yield (lambda stop: udp_events(udp, stop)), f"UDP port {udp}"
    else:
        with emulated_board(model, recording_path, speed=speed, faults=faults, heap=heap, **settings) as events:
            yield events, f"an emulated board replaying {Path(recording_path).name}"
