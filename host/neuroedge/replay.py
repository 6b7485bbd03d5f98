"""`neuroedge replay`: a labelled recording through the device runtime, scored.

--via-quattrocento (the reference setup, and the default on the emulator): the
Quattrocento simulator serves the recording over loopback TCP, the emulated
board runs device/app/app.py (StreamBridge -> Runtime), and its JSON-line
events are scored against the labels: accuracy after the vote (overall and per
class), event latency (last sample of a window in -> event out, as the board
measures it), frames dropped and lost, and a timeline PNG.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import bundle, recording
from .emulator import DEFAULT_HEAP, Emulator
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


APP_RUN = """
import json, app
a = app.App(model='model', vote={vote}, threshold={threshold})
a.run_quattrocento('127.0.0.1', {port}, frames={frames})
print('STATS ' + json.dumps(a.stats()))
"""


def replay_via_quattrocento(rec: recording.Recording, bundle_dir: Path, *, speed: float | None = 1.0,
                            vote: int = 5, threshold: float = 0.5, heap: int = DEFAULT_HEAP) -> ReplayResult:
    _, meta = bundle.load(bundle_dir)
    if rec.labels is None:
        raise ValueError(f"{rec.source}: replay scores against labels, and this recording has none")
    if rec.channels != meta["channels"]["count"] or rec.channels % 64:
        raise ValueError(f"{rec.source}: {rec.channels} channels; the model takes {meta['channels']['count']} "
                         "grid channels (64 per MULTIPLE IN)")
    with Emulator(heap=heap) as board, QuattrocentoSimulator(rec, port=0, speed=speed, loop=False) as sim:
        shutil.copytree(bundle_dir, board.board_path("model"))
        result = board.run(APP_RUN.format(vote=vote, threshold=threshold, port=sim.port, frames=rec.samples),
                           timeout=rec.samples / rec.fs / (speed or 50) + 120).check()
    lines = result.stdout.strip().splitlines()
    stats = json.loads(next(line for line in reversed(lines) if line.startswith("STATS "))[6:])
    events = [json.loads(line) for line in lines if line.startswith("{")]
    sample = np.array([e["raw_frame"] for e in events], dtype=np.int64)
    predicted = np.array([e["index"] for e in events])
    truth = rec.labels[np.clip(sample, 0, rec.samples - 1)]
    per_class = {name: float((predicted[truth == i] == i).mean()) if np.any(truth == i) else None
                 for i, name in enumerate(meta["labels"])}
    lat = np.array([e["latency_us"] for e in events if e["latency_us"] >= 0]) / 1000
    latency = {"median": float(np.median(lat)), "p95": float(np.percentile(lat, 95)), "max": float(lat.max())} \
        if len(lat) else {}
    return ReplayResult(len(events), float((predicted == truth).mean()) if len(events) else 0.0, per_class,
                        latency, stats.get("frames_dropped", 0), stats.get("frames_lost", 0),
                        stats.get("counter_gaps", 0), stats, predicted, truth, sample,
                        [e["process_us"] for e in events])


def timeline_png(path: Path, rec: recording.Recording, result: ReplayResult, labels) -> Path:
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


def main(recording_path: Path, bundle_dir: Path, speed: float | None, as_json: bool, png: Path | None) -> int:
    rec = recording.load(recording_path)
    _, meta = bundle.load(bundle_dir)
    result = replay_via_quattrocento(rec, bundle_dir, speed=speed)
    png = png or Path(bundle_dir) / f"replay-{Path(recording_path).stem}.png"
    timeline_png(png, rec, result, meta["labels"])
    summary = {"events": result.events, "accuracy": result.accuracy, "per_class": result.per_class,
               "latency_ms": result.latency_ms, "frames_dropped": result.frames_dropped,
               "frames_lost": result.frames_lost, "counter_gaps": result.counter_gaps, "timeline": str(png)}
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        lat = result.latency_ms
        print(f"{result.events} events, accuracy after the vote {result.accuracy:.1%}; latency median "
              f"{lat.get('median', float('nan')):.2f} ms, p95 {lat.get('p95', float('nan')):.2f} ms, max "
              f"{lat.get('max', float('nan')):.2f} ms; frames dropped {result.frames_dropped}, lost upstream "
              f"{result.frames_lost}")
        for name, acc in result.per_class.items():
            print(f"  {name:16} {'-' if acc is None else f'{acc:.1%}'}")
        print(f"timeline: {png}")
    return 0
