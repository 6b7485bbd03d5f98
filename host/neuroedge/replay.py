"""`neuroedge replay`: a labelled recording through the device runtime, scored.

Three ways in, one scoring:

--via quattrocento (the reference setup, the default): the Quattrocento
    simulator serves the recording over loopback TCP and the emulated board runs
    device/app/app.py (StreamBridge -> Runtime).
--via usb --port PORT: a board (or a virtual board's pty) with the app deployed
    receives the recording over its USB serial as framed-link packets,
    flow-controlled by the board's ACK lines, and answers with its events on the
    same line.
--via usb: the same USB-serial replay into a fresh virtual board (the emulator
    on a pty) that the model is first deployed to, as onto a real board.

The board's JSON-line events are scored against the labels: accuracy after the
vote (overall and per class), event latency (last sample of a window in ->
event out, as the board measures it), frames dropped and lost, link packets
lost and corrupted, and a timeline PNG.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import InputError
from . import bundle, dataset, recording
from .emulator import DEFAULT_HEAP, Emulator
from .project import load_device_module
from .quattrocento_sim import QuattrocentoSimulator


@dataclass
class ReplayResult:
    events: int
    accuracy: float
    per_class: dict
    latency_ms: dict
    frames_dropped: int
    frames_lost: int
    counter_gaps: int
    stats: dict = field(repr=False)
    predicted: np.ndarray = field(repr=False)
    truth: np.ndarray = field(repr=False)
    event_sample: np.ndarray = field(repr=False)
    process_us: list = field(repr=False, default_factory=list)
    heap: dict = field(repr=False, default_factory=dict)  # bytes the app takes on the board's heap
    onset_ms: dict = field(default_factory=dict)  # labelled gesture onset -> first correct decision

    @property
    def link(self) -> dict:
        """The framed link's counters (packets, crc_errors, packets_lost, bytes_skipped); {} for TCP."""
        return {k[5:]: v for k, v in self.stats.items() if k.startswith("link_")}


def replay_via_quattrocento(rec: recording.Recording, bundle_dir: Path, *, speed: float | None = 1.0,
                            vote: int = 3, threshold: float = 0.5, heap: int = DEFAULT_HEAP) -> ReplayResult:
    """The recording through the simulator into the emulated board's app over TCP, scored."""
    _, meta = bundle.load(bundle_dir)
    if rec.labels is None:
        raise InputError(f"{rec.source}: replay scores against labels, and this recording has none")
    if rec.channels != meta["channels"]["count"] or rec.channels % 64:
        raise InputError(f"{rec.source}: {rec.channels} channels; the model takes {meta['channels']['count']} "
                         "grid channels (64 per MULTIPLE IN)")
    with Emulator(heap=heap, bytecode=True) as board, \
            QuattrocentoSimulator(rec, port=0, speed=speed, loop=False) as sim:
        shutil.copytree(bundle_dir, board.board_path("model"))
        board.board_path("replay_quattrocento.json").write_text(json.dumps(
            {"port": sim.port, "frames": rec.samples, "vote": vote, "threshold": threshold}))
        result = board.run_file("replay_quattrocento.py", timeout=rec.samples / rec.fs / (speed or 50) + 120).check()
    lines = result.stdout.strip().splitlines()
    stats = json.loads(next(line for line in reversed(lines) if line.startswith("STATS "))[6:])
    heap = json.loads(next(line for line in reversed(lines) if line.startswith("HEAP "))[5:])
    events = [json.loads(line) for line in lines if line.startswith("{")]
    return score(rec, meta, events, stats, heap)


def onset_delays(labels: np.ndarray, rest: int, event_sample: np.ndarray, predicted: np.ndarray,
                 latency_ms: np.ndarray, fs: float) -> dict:
    """For each labelled gesture onset (the cue changes to a gesture other than rest): the time
    from the onset to the first event that names that gesture, before the cue changes again,
    plus the board's own latency for that event; the figure to compare with a reference
    system's "total latency". Onsets never recognised are counted as missed."""
    change = np.flatnonzero(np.diff(labels)) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [len(labels)]])
    delays, missed = [], 0
    for start, end in zip(starts, ends):
        gesture = labels[start]
        if gesture < 0 or gesture == rest:
            continue
        hit = np.flatnonzero((event_sample >= start) & (event_sample < end) & (predicted == gesture))
        if len(hit):
            first = hit[0]
            delays.append((event_sample[first] - start) / fs * 1000 + max(latency_ms[first], 0.0))
        else:
            missed += 1
    out = {"onsets": len(delays) + missed, "missed": missed}
    if delays:
        out.update(median=float(np.median(delays)), p95=float(np.percentile(delays, 95)))
    return out


def score(rec: recording.Recording, meta: dict, events: list[dict], stats: dict, heap: dict | None = None) -> ReplayResult:
    """Events against the labels at the last raw sample of each event's window."""
    sample = np.array([e["raw_frame"] for e in events], dtype=np.int64)
    predicted = np.array([e["index"] for e in events])
    truth = rec.labels[np.clip(sample, 0, rec.samples - 1)]
    per_class = {name: float((predicted[truth == i] == i).mean()) if np.any(truth == i) else None
                 for i, name in enumerate(meta["labels"])}
    lat = np.array([e["latency_us"] for e in events if e["latency_us"] >= 0]) / 1000
    latency = {"median": float(np.median(lat)), "p95": float(np.percentile(lat, 95)), "max": float(lat.max())} \
        if len(lat) else {}
    labels = list(meta["labels"])
    onset = onset_delays(rec.labels, labels.index("rest") if "rest" in labels else 0, sample, predicted,
                         np.array([e["latency_us"] for e in events]) / 1000, rec.fs)
    return ReplayResult(len(events), float((predicted == truth).mean()) if len(events) else 0.0, per_class,
                        latency, stats.get("frames_dropped", 0), stats.get("frames_lost", 0),
                        stats.get("counter_gaps", 0), stats, predicted, truth, sample,
                        [e["process_us"] for e in events], heap or {}, onset)


# The USB-serial replay's chunks, units, credit and packet size: device/app/protocol.py.
PROTOCOL = load_device_module("protocol")
USB_CHUNK, USB_UNIT, CREDIT_CHUNKS = PROTOCOL.USB_CHUNK, PROTOCOL.USB_UNIT, PROTOCOL.CREDIT_CHUNKS
FRAMES_PER_PACKET = PROTOCOL.LINK_FRAMES


@dataclass
class LinkFaults:
    """Damage to the USB-serial replay, for tests: every Nth packet left out (lost on the line)
    or with one payload bit flipped (the board's CRC check must catch it). 0: never."""
    drop_every: int = 0
    corrupt_every: int = 0

    def apply(self, seq: int, packet: bytes) -> bytes:
        """The packet as the damaged link delivers it: dropped (b""), corrupted or intact."""
        if self.drop_every and seq % self.drop_every == self.drop_every - 1:
            return b""
        if self.corrupt_every and seq % self.corrupt_every == self.corrupt_every - 1:
            damaged = bytearray(packet)
            damaged[len(damaged) // 2] ^= 0x04
            return bytes(damaged)
        return packet


def replay_via_port(rec: recording.Recording, bundle_dir: Path, port: str, *, speed: float | None = 1.0,
                    faults: LinkFaults | None = None, log=lambda *a: None) -> ReplayResult:
    """The recording into a board over its USB serial (send_over_usb), events back as JSON
    lines on the same line, scored against the recording's labels."""
    from .serial_board import BoardConnection, ensure_app_code

    _, meta = bundle.load(bundle_dir)
    if rec.labels is None:
        raise InputError(f"{rec.source}: replay scores against labels, and this recording has none")
    counts = dataset.device_counts(rec)  # int16 as the amplifier sends them
    with BoardConnection(port) as board:
        channels = board.call(ensure_app_code(), "app.runtime.channels")
        if channels != counts.shape[1]:
            raise InputError(f"{rec.source}: {counts.shape[1]} channels, the model on the board at {port} "
                             f"takes {channels}")
        stats, lines, sent = send_over_usb(
            board, counts, rec.fs, lambda size, end: f"app.serve_usb(frames={len(counts)}, data_bytes={size}, "
                                                     f"end={end!r})", speed=speed, faults=faults)
    events = [json.loads(line) for line in lines if line.startswith("{")]
    log(f"{sent:,} B sent in {sent // USB_CHUNK} chunks")
    return score(rec, meta, events, stats)


def send_over_usb(board, counts: np.ndarray, fs: float, board_call, *, speed: float | None = 1.0,
                  faults: LinkFaults | None = None, on_line=None, what: str = "replay") -> tuple:
    """Raw frames into a board's app over its USB console, as framed-link packets in chunks the
    board acknowledges; board_call(data_bytes, end) is the app call that receives them (serve_usb,
    calibrate; `what` names it in errors). Returns (the call's JSON result, the board's other
    lines, bytes sent).

    Nothing of the signal may reach the board's REPL as keystrokes: the board is told how
    many bytes come and the random end marker after them, and reads everything up to that
    marker before it gives the console back; the host sends whole chunks only, stops at the
    first line that is neither a credit (ACK) nor an event, and always ends with the marker,
    also when it is interrupted (Ctrl-C, KeyboardInterrupt re-raised once the board is back
    at its REPL)."""
    import secrets
    import threading

    from .serial_board import MARK, DeviceError, ensure_app_code
    from .link import encode

    port = board.port
    data = bytearray()
    for seq, start in enumerate(range(0, len(counts), FRAMES_PER_PACKET)):
        packet = encode(seq, counts[start:start + FRAMES_PER_PACKET].astype("<i2").tobytes())
        data += faults.apply(seq, packet) if faults else packet
    data += bytes(-len(data) % USB_CHUNK)  # whole chunks: the board reads exactly this much at a time
    end = secrets.token_hex(8)  # printable: harmless even if it ever reached a REPL
    marker = (end * (USB_UNIT // len(end))).encode()  # one whole unit
    ser = board.transport.serial
    board.transport.exec_raw_no_follow(
        ensure_app_code() + f"_st = {board_call(len(data), end)}\n"
        f"import json\nprint({MARK!r} + json.dumps(_st) + {MARK!r})\n")
    session = _UsbSession(ser, on_line)
    session.start()
    if not session.ready.wait(30):
        raise DeviceError(f"the board at {port} did not start the {what}")
    sender = threading.Thread(target=session.send, args=(data, marker, len(counts) / fs, speed),
                              name="usb-replay-sender", daemon=True)
    sender.start()
    timeout = len(counts) / fs / (speed or 50) + 60
    try:
        if not session.ended.wait(timeout):
            raise DeviceError(f"the board at {port} did not finish the {what}")
    except KeyboardInterrupt:
        # Let the chunk on its way finish and the marker follow, so the board ends the
        # session and is at its REPL again for the next command.
        session.stop.set()
        sender.join(10)
        session.ended.wait(10)
        raise
    sender.join(10)
    text = "\n".join(session.lines)
    if MARK not in text:
        time.sleep(0.5)
        board.transport.serial.reset_input_buffer()
        board.soft_reset()
        raise DeviceError(f"the board at {port} failed during the {what}:\n{text[-2000:]}")
    return json.loads(text.split(MARK)[-2]), session.lines, session.sent


class _UsbSession:
    """The two directions of a USB-serial replay: a reader thread for the board's lines
    (credits, events, anything else) and a sender that honours the credit."""

    def __init__(self, ser, on_line=None):
        import threading

        self.ser = ser
        self.on_line = on_line  # called with each line that is not a credit (progress, cues)
        self.lines: list[str] = []
        self.acked = 0
        self.sent = 0
        self.ready, self.ended = threading.Event(), threading.Event()
        self.board_stopped = threading.Event()  # a line that is neither a credit nor an event
        self.stop = threading.Event()            # the user interrupted
        self.credit = threading.Condition()

    def start(self) -> None:
        import threading

        self.ser.timeout = 0.2
        threading.Thread(target=self._read, name="usb-replay-reader", daemon=True).start()

    def _read(self) -> None:
        buf = bytearray()
        try:
            while buf.count(b"\x04") < 2:  # the raw REPL's two end markers: the board's code ended
                buf += self.ser.read(self.ser.in_waiting or 1)
                while b"\n" in buf and buf.index(b"\n") < (buf.index(b"\x04") if b"\x04" in buf else len(buf)):
                    line, _, rest = bytes(buf).partition(b"\n")
                    buf[:] = rest
                    self._line(line.decode(errors="replace").strip())
        except Exception as exc:  # noqa: BLE001 - the port went away: the replay is over
            buf += f"\n(reading the board failed: {exc})".encode()
        self.lines.append(bytes(buf).decode(errors="replace"))
        self.board_stopped.set()
        self.ended.set()
        self.ready.set()
        with self.credit:
            self.credit.notify_all()

    def _line(self, text: str) -> None:
        if text.startswith("ACK ") and text[4:].isdigit():
            with self.credit:
                self.acked = int(text[4:])
                self.credit.notify_all()
            self.ready.set()
            return
        if text and not text.startswith("{"):
            self.board_stopped.set()  # an error, a traceback, the board's STOP: send no more data
            with self.credit:
                self.credit.notify_all()
        if text:
            self.lines.append(text)
            if self.on_line:
                self.on_line(text)

    def send(self, data: bytes, marker: bytes, seconds: float, speed: float | None) -> None:
        start = time.monotonic()
        chunk_s = USB_CHUNK / len(data) * seconds / (speed or 1)
        try:
            for i in range(0, len(data), USB_CHUNK):
                with self.credit:
                    while (i - self.acked >= CREDIT_CHUNKS * USB_CHUNK and not self.board_stopped.is_set()
                           and not self.stop.is_set()):
                        self.credit.wait(0.1)
                if self.board_stopped.is_set() or self.stop.is_set():
                    break
                if speed:
                    delay = start + (i // USB_CHUNK) * chunk_s - time.monotonic()
                    if delay > 0 and self.stop.wait(delay):
                        break
                self.ser.write(data[i:i + USB_CHUNK])  # a whole chunk, never half of one
                self.sent += USB_CHUNK
        finally:
            if not self.ended.is_set():
                self.ser.write(marker)


def replay_via_emulator(rec: recording.Recording, bundle_dir: Path, *, speed: float | None = 1.0,
                        heap: int = DEFAULT_HEAP) -> ReplayResult:
    """A virtual board on a pty, the bundle deployed to it, then replay_via_port."""
    from .virtual_board import VirtualBoard
    from .deploy import deploy

    with VirtualBoard(heap=heap) as board:
        deploy(board.port, bundle_dir, None, log=lambda *a: None)  # the board's defaults: the USB source
        return replay_via_port(rec, bundle_dir, board.port, speed=speed)


def timeline_png(path: Path, rec: recording.Recording, result: ReplayResult, labels) -> Path:
    """A timeline plot: true vs predicted gesture over time, the signal's RMS underneath."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 5), sharex=True, height_ratios=[2, 1])
    t = result.event_sample / rec.fs
    top.step(np.arange(rec.samples)[::64] / rec.fs, rec.labels[::64], where="post", label="true", lw=2, alpha=0.6)
    top.step(t, result.predicted, where="post", label="predicted (after vote)", lw=1)
    top.set_yticks(range(len(labels)), labels)
    top.legend(loc="upper right")
    uv = rec.microvolts()
    block = 256
    n = len(uv) // block * block
    rms = np.sqrt((uv[:n].reshape(-1, block, uv.shape[1]) ** 2).mean(axis=(1, 2)))
    bottom.plot(np.arange(len(rms)) * block / rec.fs, rms, color="gray")
    bottom.set_ylabel("RMS (uV)")
    bottom.set_xlabel("time (s)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def main(recording_path: Path, bundle_dir: Path, speed: float | None, as_json: bool, png: Path | None,
         port: str | None = None, emulator_usb: bool = False) -> int:
    """`neuroedge replay`: replay, print the scores, draw the timeline."""
    rec = recording.load(recording_path)
    _, meta = bundle.load(bundle_dir)
    if port:
        result = replay_via_port(rec, bundle_dir, port, speed=speed)
    elif emulator_usb:
        result = replay_via_emulator(rec, bundle_dir, speed=speed)
    else:
        result = replay_via_quattrocento(rec, bundle_dir, speed=speed)
    png = png or Path(bundle_dir) / f"replay-{Path(recording_path).stem}.png"
    timeline_png(png, rec, result, meta["labels"])
    summary = {"events": result.events, "accuracy": result.accuracy, "per_class": result.per_class,
               "latency_ms": result.latency_ms, "frames_dropped": result.frames_dropped,
               "frames_lost": result.frames_lost, "counter_gaps": result.counter_gaps,
               "onset_to_decision_ms": result.onset_ms, "timeline": str(png)}
    link = result.link
    if link:
        summary["link"] = link
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        lat = result.latency_ms
        print(f"{result.events} events, accuracy after the vote {result.accuracy:.1%}; latency median "
              f"{lat.get('median', float('nan')):.2f} ms, p95 {lat.get('p95', float('nan')):.2f} ms, max "
              f"{lat.get('max', float('nan')):.2f} ms; frames dropped {result.frames_dropped}, lost upstream "
              f"{result.frames_lost}" + (f"; link packets {link['packets']}, lost {link['packets_lost']}, CRC errors "
                                          f"{link['crc_errors']}" if link else ""))
        on = result.onset_ms
        if on.get("onsets"):
            print(f"gesture onset -> first correct decision: median {on.get('median', float('nan')):.0f} ms, p95 "
                  f"{on.get('p95', float('nan')):.0f} ms over {on['onsets']} onsets ({on['missed']} never recognised)")
        for name, acc in result.per_class.items():
            print(f"  {name:16} {'-' if acc is None else f'{acc:.1%}'}")
        print(f"timeline: {png}")
    return 0
