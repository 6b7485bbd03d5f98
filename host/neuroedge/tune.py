"""`neuroedge tune`: read and change a running app's settings over the serial REPL.

The board side is the `app` object that /main.py leaves at the REPL (device/app/app.py):
get(), set(**settings), stats(), save(). Values are checked there, with the rules of
device/app/config.py, so what `set` accepts the app can also boot with after `save`.
The connection does not soft-reset the board, so the stream keeps running.
"""

from __future__ import annotations

import json
import math
import sys
import time

from .errors import InputError
from .serial_board import BoardConnection, ensure_app_code

PREFIX = ensure_app_code()


def parse_assignment(text: str) -> tuple[str, object]:
    """'vote=3' -> ('vote', 3); values are JSON ('[1,2]', 'null', '0.6'), else a string."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise InputError(f"{text!r}: settings are KEY=VALUE, e.g. vote=3 threshold=0.6 channel_mask=[5,17]")

    def finite(number: str) -> float:
        # JSON's NaN, Infinity and 1e999 would reach the board as repr() text it cannot run.
        if not math.isfinite(float(number)):
            raise InputError(f"{text!r}: {number} is not a finite number")
        return float(number)

    try:
        return key.strip(), json.loads(value, parse_float=finite, parse_constant=finite)
    except json.JSONDecodeError:
        return key.strip(), value


def show(board: BoardConnection) -> dict:
    """The running app's settings and counters."""
    return board.call(PREFIX, "{'settings': app.get(), 'stats': app.stats()}")


def set_values(board: BoardConnection, assignments: list[str]) -> dict:
    """Applies KEY=VALUE settings on the running app (checked by the board's rules); the settings now."""
    settings = dict(parse_assignment(a) for a in assignments)
    return board.call(PREFIX + f"_new = app.set(**{settings!r})", "_new")


def save(board: BoardConnection) -> str:
    """Saves the running settings to the board's config.json; its path."""
    return board.call(PREFIX + "_path = app.save()", "_path")


def watch_line(st: dict) -> str:
    """One status line from the app's counters."""
    lat = st.get("latency_us", {})
    lost = st.get("frames_lost", 0) + st.get("link_packets_lost", 0)
    return (f"{'running' if st.get('running') else 'stopped'}  windows/s {st.get('windows_per_s', 0):7.1f}  "
            f"frames {st.get('frames_pushed', 0):>9}  dropped {st.get('frames_dropped', 0)}  lost {lost}  "
            f"latency mean {lat.get('mean', -1) / 1000:.2f} ms max {lat.get('max', -1) / 1000:.2f} ms  "
            f"gesture {st.get('current')}"
            + (f"  amp buffer free {st['buffer_free']} (min {st['buffer_free_min']}, low {st['buffer_low']}x)"
               if st.get("buffer_free", -1) >= 0 else "")
            + (f"  electrodes {electrodes_text(st['electrodes'])}" if st.get("electrodes") else "")
            + (f"  error {st['error']}" if st.get("error") else ""))


def electrodes_text(e: dict) -> str:
    """The electrode checks of app.stats(): the bad channels and why, the ones masked."""
    if not e["bad"]:
        return f"all good ({e['periods']} checks)"
    bad = ", ".join(f"{ch} {why}" for ch, why in sorted(e["bad"].items(), key=lambda kv: int(kv[0])))
    return f"bad: {bad}" + (f"; masked {e['masked']}" if e["masked"] else "")


def classifier_line(about: dict) -> str:
    """Which classifier the app runs: the deployed model or a calibration (and when)."""
    if about.get("kind") == "calibrated":
        return (f"classifier     calibrated {about.get('stamp') or '(time unknown)'} on {', '.join(about['gestures'])}"
                f" ({100 * about['accuracy_before']:.1f} % -> {100 * about['accuracy_after']:.1f} % on its windows)")
    error = about.get("calibration_error")
    return "classifier     deployed model" + (f" (calibration not used: {error})" if error else "")


def watch(board: BoardConnection, interval: float, count: int | None, out=sys.stdout) -> None:
    """Prints a status line every `interval` seconds, `count` times (forever when None)."""
    n = 0
    live = out.isatty()
    while count is None or n < count:
        st = board.call(PREFIX, "app.stats()")
        out.write(("\r\x1b[K" if live else "") + watch_line(st) + ("" if live else "\n"))
        out.flush()
        n += 1
        if count is None or n < count:
            time.sleep(interval)
    if live:
        out.write("\n")


def main(port: str, action: str, assignments: list[str], interval: float, count: int | None) -> int:
    """`neuroedge tune show|set|save|watch`."""
    with BoardConnection(port) as board:
        if action == "show":
            d = show(board)
            for key, value in d["settings"].items():
                print(f"{key:14} {json.dumps(value)}")
            print(watch_line(d["stats"]))
            print(classifier_line(d["stats"].get("classifier", {})))
        elif action == "set":
            if not assignments:
                raise InputError("tune set needs KEY=VALUE settings, e.g. vote=3 threshold=0.6")
            for key, value in set_values(board, assignments).items():
                print(f"{key:14} {json.dumps(value)}")
        elif action == "save":
            print(f"saved to {save(board)} on the board; it boots with these settings")
        else:
            try:
                watch(board, interval, count)
            except KeyboardInterrupt:
                print()
    return 0
