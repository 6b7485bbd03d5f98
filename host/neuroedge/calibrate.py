"""`neuroedge calibrate`: a calibration session on a board (device/app/calibration.py).

The board cues each gesture in turn and re-fits its classifier from its own windows; this
command shows the cues, a countdown and a progress bar, and the result. With
--from-recording the recording plays the person: for each cued gesture its first `seconds`
of signal go to the board over the USB console (replay.send_over_usb), through the same
path as a live session. --reset returns the board to the deployed model.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timezone

import numpy as np

from .errors import InputError
from . import dataset, recording
from .serial_board import MARK, BoardConnection, DeviceError, ensure_app_code
from .replay import send_over_usb


def calibration_signal(rec: recording.Recording, gestures: list[str], seconds: float) -> np.ndarray:
    """int16 counts for a session: each gesture's first `seconds` of signal in the recording,
    in the order the board cues them."""
    if rec.labels is None:
        raise InputError(f"{rec.source}: a calibration recording needs labels (which gesture is when)")
    counts = dataset.device_counts(rec)
    need = int(seconds * rec.fs)
    parts = []
    for name in gestures:
        if name not in rec.label_names:
            raise InputError(f"{rec.source}: no {name!r} in this recording (it has {', '.join(rec.label_names)})")
        where = np.flatnonzero(rec.labels == rec.label_names.index(name))
        if len(where) < need:
            raise InputError(f"{rec.source}: {name} lasts {len(where) / rec.fs:.1f} s, a session needs "
                             f"{seconds:g} s of each gesture (use --seconds)")
        parts.append(counts[where[:need]])
    return np.concatenate(parts)


class Progress:
    """Cue lines and a progress bar from the board's events (raw frame numbers)."""

    def __init__(self, fs: float, gestures: list[str], seconds: float, out=sys.stdout):
        self.fs, self.gestures, self.seconds, self.out = fs, gestures, seconds, out
        self.live = out.isatty()
        self.total = int(seconds * fs) * len(gestures)

    def line(self, text: str) -> None:
        """Shows one line the board printed: cues and progress events advance the display, others are ignored."""
        try:
            event = json.loads(text)
        except ValueError:
            return
        if event.get("event") == "cue":
            self.out.write(("\n" if self.live else "") + f"cue {event['cue']}/{event['of']}: {event['gesture']} "
                           f"for {event['seconds']} s\n")
        elif "raw_frame" in event and self.live:
            done = min(1.0, (event["raw_frame"] + 1) / self.total)
            per_cue = int(self.seconds * self.fs)
            left = (per_cue - (event["raw_frame"] + 1) % per_cue) / self.fs
            bar = "#" * int(30 * done)
            self.out.write(f"\r[{bar:<30}] {100 * done:3.0f} %  {left:4.1f} s left of this cue  "
                           f"now: {event.get('gesture')}   ")
        self.out.flush()


def describe(result: dict) -> str:
    """A calibration result as text: accuracy before and after, per-gesture windows, whether it was applied."""
    lines = []
    if result.get("accuracy_before") is not None:
        lines.append(f"accuracy on the calibration windows: {100 * result['accuracy_before']:.1f} % before, "
                     f"{100 * result['accuracy_after']:.1f} % after ({result.get('evaluated_windows')} windows)")
    lines.append("windows used per gesture: " + ", ".join(f"{g} {n}" for g, n in result["windows"].items()))
    if result.get("heap_free_least") is not None:
        lines.append(f"took {result['seconds_taken']:.1f} s; the board's heap had at least "
                     f"{result['heap_free_least']:,} B free at its fullest (after a collection)")
    for problem in result["problems"]:
        lines.append(f"problem: {problem}")
    lines.append("applied: the board uses the calibrated classifier (kept after a reboot)" if result["applied"]
                 else "not applied: the board keeps its classifier (--force applies it anyway)")
    return "\n".join(lines)


def calibrate(port: str, *, seconds: float = 5.0, gestures: list[str] | None = None, force: bool = False,
              from_recording: recording.Recording | None = None, speed: float | None = 1.0,
              out=sys.stdout) -> dict:
    """A calibration session on the board at `port`; returns the board's result."""
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    with BoardConnection(port) as board:
        about = board.call(ensure_app_code(), "{'labels': app.runtime.labels, 'fs': app.runtime.meta['fs'], "
                                              "'channels': app.runtime.channels}")
        gestures = list(gestures or about["labels"])
        unknown = [g for g in gestures if g not in about["labels"]]
        if unknown:
            raise InputError(f"the model on the board knows {', '.join(about['labels'])}, not {', '.join(unknown)}")
        progress = Progress(about["fs"], gestures, seconds, out)
        call = f"app.calibrate(gestures={gestures!r}, seconds={seconds!r}, force={force!r}, stamp={stamp!r}"
        if from_recording is not None:
            if from_recording.fs != about["fs"] or from_recording.channels != about["channels"]:
                raise InputError(f"{from_recording.source}: {from_recording.channels} channels at "
                                 f"{from_recording.fs:g} Hz, the model on the board takes {about['channels']} at "
                                 f"{about['fs']:g} Hz")
            counts = calibration_signal(from_recording, gestures, seconds)
            result, _, _ = send_over_usb(board, counts, from_recording.fs,
                                         lambda size, end: call + f", data_bytes={size}, end={end!r})",
                                         speed=speed, on_line=progress.line, what="calibration")
        else:
            result = _live(board, call + ")", len(gestures) * seconds, progress)
    if progress.live:
        out.write("\n")
    return result


def _live(board: BoardConnection, call: str, seconds: float, progress: Progress) -> dict:
    """A session on the board's configured source (a person): lines as they come."""
    ser = board.transport.serial
    board.transport.exec_raw_no_follow(ensure_app_code() + f"_r = {call}\nimport json\n"
                                       f"print({MARK!r} + json.dumps(_r) + {MARK!r})\n")
    deadline = time.monotonic() + seconds + 60
    buf, text = bytearray(), []
    ser.timeout = 0.2
    while buf.count(b"\x04") < 2:
        if time.monotonic() > deadline:
            raise DeviceError(f"{board.port}: the calibration session did not end")
        buf += ser.read(ser.in_waiting or 1)
        while b"\n" in buf:
            line, _, rest = bytes(buf).partition(b"\n")
            buf[:] = rest
            line = line.decode(errors="replace").strip()
            text.append(line)
            progress.line(line)
    joined = "\n".join(text) + bytes(buf).decode(errors="replace")
    if MARK not in joined:
        raise DeviceError(f"{board.port}: the calibration failed on the board:\n{joined[-2000:]}")
    return json.loads(joined.split(MARK)[-2])


def reset(port: str) -> dict:
    """Makes the board at `port` run its deployed model again (its calibration is removed); what it runs now."""
    with BoardConnection(port) as board:
        return board.call(ensure_app_code() + "_c = app.calibrate_reset()", "_c")
