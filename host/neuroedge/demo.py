"""`make demo`: the whole story on the emulator.

1. Stream: a 312-channel Quattrocento-layout stream (the 192 grid channels of
   MULTIPLE IN 1-3 at 96..287, per reference/quattrocento.md) at 2048 Hz through
   edgedl.Stream in the emulated board: channels selected at ingest, windows of
   20 frames with hop 10 (the reference system's window), checked against numpy.
2. Train: synthetic HD-EMG (cached) -> the default compact CNN -> int8 bundle.
3. Real time: the held-out repetition served by the Quattrocento simulator over
   loopback TCP to the board app (StreamBridge -> edgedl -> vote), scored.
4. The board on the desk: the bundle deployed to a virtual board (the emulator
   on a pty, driven with mpremote as an ESP32 would be), a recording replayed
   into it over its USB serial, and a setting tuned live over the REPL.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from . import native
from .project import BUILD_DIR, MODELS_DIR
from .emulator import Emulator

FS = 2048
QUATTROCENTO_CHANNELS = 312
GRID_CHANNELS = range(96, 288)


@dataclass
class StreamDemoResult:
    frames: int
    channels_in: int
    channels_kept: int
    window: int
    hop: int
    windows: int
    frames_dropped: int
    seconds_of_signal: float
    total_s: float
    stream_s: float
    last_window_ok: bool

    @property
    def realtime_factor(self) -> float:
        """Signal seconds handled per wall second, source reads included."""
        return self.seconds_of_signal / self.total_s

    @property
    def stream_realtime_factor(self) -> float:
        """The same, counting only time inside edgedl (push + window reads)."""
        return self.seconds_of_signal / self.stream_s


def synthetic_frames(seconds: float, channels: int = QUATTROCENTO_CHANNELS, seed: int = 0) -> np.ndarray:
    """int16 frames: bursts of EMG-like noise on the grid, baseline noise elsewhere,
    and the accessory sample counter in the last-but-7 channel as the amplifier sends it."""
    rng = np.random.default_rng(seed)
    n = int(seconds * FS)
    frames = rng.normal(0, 20, size=(n, channels))
    t = np.arange(n) / FS
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 0.5 * t) ** 2  # contractions every second
    frames[:, GRID_CHANNELS.start:GRID_CHANNELS.stop] *= 20 * envelope[:, None]
    frames[:, channels - 8] = np.arange(n) % 65536 - 32768
    return np.clip(np.round(frames), -32768, 32767).astype("<i2")


def run_stream_demo(seconds: float = 10.0, window: int = 20, hop: int = 10,
                    heap: int | None = None) -> StreamDemoResult:
    """Synthetic 312-channel frames streamed through edgedl.Stream on the emulator; its counters and speed."""
    frames = synthetic_frames(seconds)
    kwargs = {} if heap is None else {"heap": heap}
    with Emulator(**kwargs) as board:
        frames.tofile(board.board_path("stream.bin"))
        select = f"range({GRID_CHANNELS.start}, {GRID_CHANNELS.stop})"
        code = (f"import stream_bench; stream_bench.main('stream.bin', {QUATTROCENTO_CHANNELS}, "
                f"{window}, {hop}, select={select})")
        result = board.run(code, timeout=600).check()
    report = json.loads(result.stdout.strip().splitlines()[-1])
    n = len(frames)
    windows = (n - window) // hop + 1
    last = frames[(windows - 1) * hop:(windows - 1) * hop + window, GRID_CHANNELS.start:GRID_CHANNELS.stop]
    return StreamDemoResult(
        frames=report["frames_pushed"], channels_in=QUATTROCENTO_CHANNELS, channels_kept=report["channels"],
        window=window, hop=hop, windows=report["windows"], frames_dropped=report["frames_dropped"],
        seconds_of_signal=n / FS, total_s=report["total_us"] / 1e6, stream_s=report["stream_us"] / 1e6,
        last_window_ok=bytes.fromhex(report["last_window"]) == last.astype("<i2").tobytes()
        and report["windows"] == windows)


DEMO_DATA = BUILD_DIR / "demo" / "synthetic"
DEMO_BUNDLE = MODELS_DIR / "synthetic-default"
DEMO_LDA_BUNDLE = MODELS_DIR / "synthetic-lda"


def train_default_model() -> tuple[dict, dict]:
    """Synthetic HD-EMG (cached) -> the default model for electrode grids (the compact CNN)
    and time-domain features + LDA beside it -> int8 bundles."""
    from . import recording, synth, train

    cfg = synth.SynthConfig()
    # The cache is keyed by the generator's settings: changing a default regenerates.
    key = hashlib.sha256(json.dumps(asdict(cfg), sort_keys=True).encode()).hexdigest()[:16]
    marker = DEMO_DATA / f"{key}.done"
    if not marker.exists():
        for old in DEMO_DATA.glob("*"):
            old.unlink()
        print(f"synthesising {cfg.subjects} subjects x {cfg.sessions} sessions x {cfg.repetitions} repetitions "
              f"of {len(synth.GESTURES)} gestures, {cfg.grids * 64} channels at {cfg.fs:g} Hz -> {DEMO_DATA}")
        synth.write(cfg, DEMO_DATA)
        marker.write_text("ok\n")
    recordings = [recording.load(p) for p in sorted(DEMO_DATA.glob("*.npz"))]
    default = train.train(recordings, DEMO_BUNDLE, train.TrainConfig(), log=lambda *a: None)
    lda = train.train(recordings, DEMO_LDA_BUNDLE, train.TrainConfig(architecture="lda"), log=lambda *a: None)
    return default, lda


def replay_held_out() -> None:
    """The held-out repetition of the last recording, in real time: Quattrocento simulator
    (312 channels over loopback TCP) -> StreamBridge -> runtime on the emulated board."""
    from . import recording, replay

    rec = recording.load(sorted(DEMO_DATA.glob("*.npz"))[-1])
    part = rec.part(rec.repetition == rec.repetition.max(), f"{rec.source} (held-out repetition)")
    print(f"Replaying {part.samples / part.fs:.1f} s held out ({Path(rec.source).name}, last repetition) in real "
          "time: Quattrocento simulator -> loopback TCP -> StreamBridge -> edgedl on the emulated board...")
    result = replay.replay_via_quattrocento(part, DEMO_BUNDLE, speed=1.0)
    png = replay.timeline_png(DEMO_BUNDLE / "replay-held-out.png", part, result, rec.label_names)
    lat = result.latency_ms
    print(f"  {result.events} gesture events, accuracy after the vote {result.accuracy:.1%}; event latency (last "
          f"sample in -> event out) median {lat['median']:.2f} ms, p95 {lat['p95']:.2f} ms, max {lat['max']:.2f} ms; "
          f"frames dropped {result.frames_dropped}, lost upstream {result.frames_lost}")
    onset = result.onset_ms
    print(f"  gesture onset -> first correct decision: median {onset.get('median', float('nan')):.0f} ms, p95 "
          f"{onset.get('p95', float('nan')):.0f} ms ({onset['onsets']} onsets, {onset['missed']} never recognised)")
    print(f"  timeline: {png}")


def board_workflow() -> None:
    """Deploy to a virtual board, replay over its USB serial, tune it while it runs."""
    from . import deploy, recording, replay, tune
    from .virtual_board import VirtualBoard
    from .serial_board import BoardConnection

    rec = recording.load(sorted(DEMO_DATA.glob("*.npz"))[-1])
    part = rec.part(slice(-4 * FS, None), "last 4 s")
    print("The board on the desk: a virtual board (the emulator on a pty, as mpremote sees an ESP32)...")
    with VirtualBoard() as board:
        done = deploy.deploy(board.port, DEMO_BUNDLE, None, log=lambda *a: None)
        print(f"  deploy: {len(done['files'])} files ({sum(done['files'].values()):,} B) hash-verified on the board "
              f"as install {done['install']}, switched atomically")
        result = replay.replay_via_port(part, DEMO_BUNDLE, board.port, speed=1.0)
        link = result.link
        print(f"  replay over USB serial (framed link, flow-controlled): {link['packets']} packets, "
              f"{link['packets_lost']} lost, {link['crc_errors']} CRC errors; {result.events} events, accuracy "
              f"{result.accuracy:.1%}, latency median {result.latency_ms['median']:.2f} ms")
        with BoardConnection(board.port) as conn:
            before = tune.show(conn)["settings"]
            after = tune.set_values(conn, ["vote=5", "threshold=0.6"])
        print(f"  tune over the REPL: vote {before['vote']} -> {after['vote']}, threshold {before['threshold']} -> "
              f"{after['threshold']} (`neuroedge tune --port PORT save` keeps them across reboots)")


def main() -> int:
    """`make demo`: build, train the default model, replay it through the emulated board, deploy and tune a
    virtual board."""
    module = native.build("x64")
    print(f"edgedl module: {module}")
    r = run_stream_demo()
    print(f"Stream demo on the emulator (MicroPython unix port, {r.channels_kept} of {r.channels_in} channels "
          f"at {FS} Hz, window {r.window} hop {r.hop}):")
    print(f"  frames pushed     {r.frames} ({r.seconds_of_signal:.1f} s of signal)")
    print(f"  windows produced  {r.windows}")
    print(f"  frames dropped    {r.frames_dropped}")
    print(f"  windows match numpy reference: {'yes' if r.last_window_ok else 'NO'}")
    print(f"  throughput        {r.frames / r.total_s:,.0f} frames/s = {r.realtime_factor:.0f}x real time "
          f"(file reads included); {r.stream_realtime_factor:.0f}x inside edgedl")
    print("Training on synthetic HD-EMG (held out: the last repetition; log2 MAV of 25 ms blocks, windows of 8 "
          "blocks every 2)...")
    for meta, bundle_dir in zip(train_default_model(), (DEMO_BUNDLE, DEMO_LDA_BUNDLE)):
        m = meta["metrics"]
        name = {"lda": "time-domain features + LDA", "compact": "default: compact CNN"}[meta["architecture"]]
        print(f"  {name}, {meta['parameters']:,} parameters, window {meta['window_ms']:.0f} ms: float accuracy "
              f"{m['float_accuracy']:.1%}, int8 accuracy on edgedl {m['int8_accuracy']:.1%} (classic baseline "
              f"{m['td_lda_baseline_accuracy']:.1%}); trained in {m['train_seconds']:.0f} s -> {bundle_dir}")
    replay_held_out()
    board_workflow()
    return 0 if r.last_window_ok and r.frames_dropped == 0 else 1
