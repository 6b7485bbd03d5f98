"""`neuroedge bench engine`: edgedl in the emulator against tflite-micro, same run.

Both run natively on this machine: edgedl as the x64 .mpy inside MicroPython's
unix port (timed on the board with time.ticks_us around back-to-back
invoke() calls), tflite-micro's interpreter with its reference kernels (timed
around invoke() from Python). Outputs for the timed input must be identical.
"""

from __future__ import annotations

import contextlib
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..emulator import Emulator
from ..project import BUILD_DIR
from ..recording import RecordingError

BENCH_HEAP = 8 * 1024 * 1024  # room for the largest zoo models; speed does not depend on it


@dataclass
class EngineBench:
    model: str
    macs: int
    edgedl_us: float
    tflm_us: float
    edgedl_arena_bytes: int
    tflm_arena_bytes: int
    identical: bool

    @property
    def speedup(self) -> float:
        return self.tflm_us / self.edgedl_us


def sample_input(model: bytes, seed: int = 0) -> np.ndarray:
    """A seeded random input of the model's shape and type (int8 over its range, or float32)."""
    from . import tflm

    shape, dtype = tflm.input_signature(model)
    rng = np.random.default_rng(seed)
    if dtype == np.int8:
        return rng.integers(-128, 128, size=shape, dtype=np.int8)
    return rng.normal(size=shape).astype(np.float32)


def bench_models(models: dict[str, bytes], rounds: int = 15) -> list[EngineBench]:
    """Each model's invoke time in edgedl (emulator) and in tflite-micro's reference kernels, best of `rounds`."""
    from .. import infer
    from . import tflm

    results = []
    with Emulator(heap=BENCH_HEAP) as board:
        for name, model in models.items():
            x = sample_input(model)
            edgedl_us, edgedl_out, report = infer.bench_on_emulator(model, x, rounds, board)
            tflm_us = tflm.time_reference(model, x, repeats=max(rounds, 20)) * 1e6
            reference = tflm.run_reference(model, x[None])[0]
            results.append(EngineBench(
                model=name, macs=report.macs, edgedl_us=edgedl_us, tflm_us=tflm_us,
                edgedl_arena_bytes=report.arena_bytes, tflm_arena_bytes=tflm.reference_arena_bytes(model),
                identical=bool(np.array_equal(edgedl_out.reshape(reference.shape), reference))))
    return results


def default_models(new_ops: bool = False) -> dict[str, bytes]:
    """The zoo's conv-heavy models and the reference-size 192-channel CNN, or (new_ops) its
    EMG-sized models of the ops beyond them."""
    from . import zoo

    if new_ops:
        names = [spec.name for spec in zoo.ZOO if spec.new_ops_bench]
    else:
        names = [spec.name for spec in zoo.ZOO if spec.conv_heavy or spec.name == zoo.REFERENCE_MODEL]
    paths = zoo.build_zoo(BUILD_DIR / "zoo", names)
    return {name: Path(path).read_bytes() for name, path in paths.items()}


def main(model_paths: list[str], as_json: bool, new_ops: bool = False) -> int:
    """`neuroedge bench engine`: the given .tflite files (default: the zoo's conv-heavy models) timed both ways."""
    from .. import infer

    models = {Path(p).stem: Path(p).read_bytes() for p in model_paths} if model_paths else default_models(new_ops)
    for path in model_paths:  # the user's files: tflite-micro must not be the first to read them
        infer.check_readable(Path(path).read_bytes(), path)
    results = bench_models(models)
    median = float(np.median([r.speedup for r in results]))
    if as_json:
        print(json.dumps({"models": [asdict(r) | {"speedup": r.speedup} for r in results],
                          "median_speedup": median}, indent=2))
    else:
        print(f"{'model':28} {'MACs':>10} {'edgedl us':>10} {'tflm us':>10} {'speedup':>8} "
              f"{'arena B':>9} {'tflm arena B':>12}  outputs")
        for r in results:
            print(f"{r.model:28} {r.macs:>10,} {r.edgedl_us:>10.1f} {r.tflm_us:>10.1f} {r.speedup:>7.2f}x "
                  f"{r.edgedl_arena_bytes:>9,} {r.tflm_arena_bytes:>12,}  "
                  f"{'identical' if r.identical else 'DIFFERENT'}")
        print(f"median speedup of edgedl (emulator, x64 .mpy) over tflite-micro reference kernels: {median:.2f}x")
    return 0 if all(r.identical for r in results) else 1


ESP32_HEAP = (110_000, 150_000)  # what stock ESP32 firmware (no PSRAM) leaves to MicroPython


def bench_stream(as_json: bool, bundle_dir: Path | None = None, recording_path: Path | None = None) -> int:
    """The grid channels (192 for the default model) out of a 312-channel Quattrocento stream
    at 2048 Hz, served by the simulator over loopback as fast as the board takes them, through
    the model, on the ESP32-sized heap. The peer is real time: the ratio is signal seconds per
    wall second. Default: the demo's model and its first recording (made when missing)."""
    from .. import bundle, dataset, demo, recording, replay

    if bundle_dir is None or recording_path is None:
        if not (demo.DEMO_BUNDLE / "model.json").exists() or not list(demo.DEMO_DATA.glob("*.npz")):
            with contextlib.redirect_stdout(sys.stderr):  # progress; stdout is for the results (--json)
                demo.train_default_model()
    bundle_dir = bundle_dir or demo.DEMO_BUNDLE
    rec = recording.load(recording_path or sorted(demo.DEMO_DATA.glob("*.npz"))[0])
    dataset.config_from_json(bundle.load(bundle_dir)[1]).check_length(rec)
    result = replay.replay_via_quattrocento(rec, bundle_dir, speed=None)
    if not result.process_us:
        raise RecordingError(f"{rec.source}: the board made no window of its {rec.samples} samples; "
                             "a longer recording is needed")
    st = result.stats
    signal_s = st["frames_pushed"] / rec.fs
    wall_s = st["elapsed_us"] / 1e6
    classify = np.array(result.process_us)
    summary = {"frames": st["frames_pushed"], "signal_s": signal_s, "wall_s": wall_s,
               "realtime_factor": signal_s / wall_s, "frames_dropped": result.frames_dropped,
               "frames_lost": result.frames_lost, "windows": result.events,
               "window_classify_us": {"p50": float(np.percentile(classify, 50)),
                                      "p99": float(np.percentile(classify, 99)), "max": float(classify.max())},
               # the processor thread's whole time (preprocessing the hop's raw frames included)
               "window_process_mean_us": st["stage_us"]["process"] / max(1, result.events),
               "latency_ms": result.latency_ms, "accuracy": result.accuracy, "heap": result.heap}
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        w, heap = summary["window_classify_us"], result.heap
        print(f"stream: {summary['frames']} frames of 312 channels ({rec.channels} kept) = {signal_s:.1f} s of signal in "
              f"{wall_s:.2f} s on the emulated board: {summary['realtime_factor']:.1f}x real time; frames dropped "
              f"{summary['frames_dropped']}, lost upstream {summary['frames_lost']}")
        print(f"per window: quantize + invoke + vote p50 {w['p50']:.0f} us, p99 {w['p99']:.0f} us, max "
              f"{w['max']:.0f} us over {summary['windows']} windows; with preprocessing, mean "
              f"{summary['window_process_mean_us']:.0f} us; accuracy after the vote {result.accuracy:.1%}")
        buffers = heap["buffers"]
        print(f"heap: the app takes {heap['app']:,} B of the board's {heap['total']:,} B ({heap['after_run']:,} B "
              f"after the run; ESP32 without PSRAM: {ESP32_HEAP[0] // 1000}-{ESP32_HEAP[1] // 1000} kB); "
              f"big buffers {sum(buffers.values()):,} B: "
              + ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in buffers.items()))
    return 0 if summary["frames_dropped"] == 0 and summary["frames_lost"] == 0 else 1
