"""Re-evaluate a model bundle on recordings, and describe a bundle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .errors import InputError
from . import bundle, dataset, drift, infer, recording
from .train import evaluate_int8


def evaluate(bundle_dir: Path, paths: list[Path]) -> dict:
    """A bundle's int8 model (edgedl) and float model scored on the windows of recordings."""
    tflite, meta = bundle.load(bundle_dir)
    cfg = dataset.config_from_json(meta)
    recs = [recording.load(p) for p in paths]
    for r in recs:
        if r.fs != meta["fs"]:
            raise InputError(f"{r.source}: sampled at {r.fs} Hz, the model expects {meta['fs']} Hz")
        kept = len(cfg.channels) if cfg.channels is not None else r.channels
        if kept != meta["channels"]["count"]:
            raise InputError(f"{r.source}: {kept} channels, the model expects {meta['channels']['count']}")
        if tuple(r.label_names) != tuple(meta["labels"]):
            raise InputError(f"{r.source}: gestures {list(r.label_names)} differ from the model's {meta['labels']}")
    windows = dataset.Windows.concat([dataset.make_windows(r, cfg) for r in recs])
    pred = evaluate_int8(tflite, meta["input"]["from_counts"], windows.x, tracking=meta.get("drift"),
                         starts=drift.stream_starts(windows))
    m = bundle.metrics(windows.y, pred, pred, meta["labels"])
    return {"windows": len(windows), "int8_accuracy": m["int8_accuracy"], "per_class": m["per_class"],
            "confusion": m["confusion"]}


def main_evaluate(bundle_dir: Path, paths: list[Path], as_json: bool) -> int:
    """`neuroedge evaluate`: the scores as text or JSON."""
    result = evaluate(bundle_dir, paths)
    if as_json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{result['windows']} windows, int8 accuracy (edgedl) {result['int8_accuracy']:.4f}")
    for name, c in result["per_class"].items():
        print(f"  {name:16} precision {c['precision']:.3f}  recall {c['recall']:.3f}  ({c['support']})")
    return 0


def main_info(bundle_dir: Path) -> int:
    """`neuroedge info`: the bundle's model, its cost on edgedl and its training metrics."""
    tflite, meta = bundle.load(bundle_dir)
    _, report = infer.run_on_emulator(tflite, np.zeros((1,) + tuple(meta["input"]["shape"]), np.int8))
    m = meta["metrics"]
    print(f"{bundle_dir}: {meta['architecture']} CNN, {meta['parameters']} parameters, {report.macs:,} MACs per window")
    print(f"  gestures    {', '.join(meta['labels'])}")
    print(f"  input       {meta['channels']['count']} channels at {meta['fs']:g} Hz; window {meta['window']} frames "
          f"({meta['window_ms']:.1f} ms), hop {meta['hop']}; preprocess {meta['preprocess']}")
    print(f"  int8        input scale {meta['input']['scale']:.6g} zero point {meta['input']['zero_point']}; "
          f"ops {', '.join(dict.fromkeys(meta['ops']))}")
    print(f"  memory      arena {report.arena_bytes:,} B + parsed model {report.meta_bytes:,} B + "
          f"model file {len(tflite):,} B")
    print(f"  accuracy    float {m['float_accuracy']:.4f}, int8 {m['int8_accuracy']:.4f} "
          f"(held out by {meta['training']['split']['by']}: {', '.join(meta['training']['split']['test'])})")
    return 0
