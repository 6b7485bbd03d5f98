"""The model bundle: the contract between host and device.

models/NAME/
    model.tflite   full-int8 flatbuffer that edgedl runs
    model.json     schema "neuroedge-bundle" version 1 (below)
    report.md      metrics, split, data summary; confusion.png

model.json fields: schema, version, labels, fs, channels (count and selection),
window, hop (frames after decimation), preprocess (Hz and the Q15 coefficients
edgedl.Preprocess takes), input (shape, dtype, scale, zero_point, gain from
counts to the float input, and from_counts: the int multiplier and shift that
edgedl.quantize applies), output (shape, dtype, scale, zero_point),
architecture, parameters, macs, training (data summary, split, seed, epochs),
metrics.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from pathlib import Path

import numpy as np

from .dataset import WindowConfig

SCHEMA = "neuroedge-bundle"
VERSION = 1


def _io_details(model: bytes, which: str) -> dict:
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    root = schema.Model.GetRootAs(model, 0)
    graph = root.Subgraphs(0)
    tensor = graph.Tensors(graph.Inputs(0) if which == "input" else graph.Outputs(0))
    q = tensor.Quantization()
    dtype = {9: "int8", 0: "float32"}.get(tensor.Type(), f"type {tensor.Type()}")
    return {"shape": tensor.ShapeAsNumpy().tolist(), "dtype": dtype,
            "scale": float(q.Scale(0)) if q and q.ScaleLength() else 0.0,
            "zero_point": int(q.ZeroPoint(0)) if q and q.ZeroPointLength() else 0}


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite's QuantizeMultiplier: real = mult * 2^(shift - 31), mult in [2^30, 2^31)."""
    if real <= 0:
        return 0, 0
    q, shift = math.frexp(real)
    mult = math.floor(q * 2**31 + 0.5)
    if mult == 2**31:
        mult //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > 30:
        raise ValueError(f"input gain {real} cannot be represented")
    return mult, shift


def input_quantizer(model: bytes, gain: float) -> dict:
    """int16 counts -> int8 input: q = round(counts * gain / scale) + zero_point, in fixed point."""
    details = _io_details(model, "input")
    if details["dtype"] != "int8":
        raise ValueError("bundles use int8 model inputs")
    mult, shift = quantize_multiplier(gain / details["scale"])
    return {"mult": mult, "shift": shift, "zero_point": details["zero_point"]}


def metrics(y: np.ndarray, float_pred: np.ndarray, int8_pred: np.ndarray, names) -> dict:
    k = len(names)
    confusion = np.zeros((k, k), dtype=int)
    np.add.at(confusion, (y, int8_pred), 1)
    per_class = {}
    for i, name in enumerate(names):
        tp = confusion[i, i]
        per_class[name] = {"precision": float(tp / max(confusion[:, i].sum(), 1)),
                           "recall": float(tp / max(confusion[i].sum(), 1)), "support": int(confusion[i].sum())}
    return {"float_accuracy": float((float_pred == y).mean()), "int8_accuracy": float((int8_pred == y).mean()),
            "per_class": per_class, "confusion": confusion.tolist()}


def describe(*, tflite: bytes, fs: float, labels, channels: int, windows: WindowConfig, gain: float,
             architecture: str, parameters: int, split: dict, data: dict, metrics: dict, seed: int,
             epochs: int) -> dict:
    from .convert import tflite_op_names

    return {
        "schema": SCHEMA, "version": VERSION, "labels": list(labels), "fs": fs,
        "channels": {"count": channels, "select": None if windows.channels is None else list(windows.channels)},
        **{k: v for k, v in windows.to_json(fs).items() if k != "channels"},
        "input": {**_io_details(tflite, "input"), "gain": gain, "from_counts": input_quantizer(tflite, gain)},
        "output": _io_details(tflite, "output"),
        "architecture": architecture, "parameters": parameters, "ops": tflite_op_names(tflite),
        "window_ms": windows.latency_ms(fs),
        "training": {"data": data, "split": split, "seed": seed, "epochs": epochs},
        "metrics": metrics,
    }


def write(out_dir: Path, tflite: bytes, meta: dict, y: np.ndarray, pred: np.ndarray) -> Path:
    """Writes the bundle into a temporary folder and swaps it in, so a failed or
    interrupted write never leaves a half bundle behind."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        (tmp / "model.tflite").write_bytes(tflite)
        (tmp / "model.json").write_text(json.dumps(meta, indent=2) + "\n")
        _confusion_png(tmp / "confusion.png", np.array(meta["metrics"]["confusion"]), meta["labels"])
        (tmp / "report.md").write_text(_report(meta))
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def load(path: Path) -> tuple[bytes, dict]:
    path = Path(path)
    try:
        meta = json.loads((path / "model.json").read_text())
        tflite = (path / "model.tflite").read_bytes()
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a model bundle ({exc})") from None
    if meta.get("schema") != SCHEMA or meta.get("version") != VERSION:
        raise ValueError(f"{path}: bundle schema {meta.get('schema')!r} version {meta.get('version')!r}; "
                         f"this neuroedge reads {SCHEMA} version {VERSION}")
    return tflite, meta


def _confusion_png(path: Path, confusion: np.ndarray, labels) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    rows = confusion / np.maximum(confusion.sum(1, keepdims=True), 1)
    ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, str(confusion[i, j]), ha="center", va="center",
                    color="white" if rows[i, j] > 0.5 else "black", fontsize=8)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted (int8, edgedl)")
    ax.set_ylabel("true")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _report(meta: dict) -> str:
    m = meta["metrics"]
    lines = [f"# Model report: {meta['architecture']} ({meta['parameters']} parameters)", "",
             f"- held out by {meta['training']['split']['by']}: {', '.join(meta['training']['split']['test'])}",
             f"- float accuracy {m['float_accuracy']:.4f}; int8 accuracy (edgedl) {m['int8_accuracy']:.4f}",
             f"- RMS + LDA baseline {m.get('lda_rms_baseline_accuracy', float('nan')):.4f}",
             f"- window {meta['window']} frames x {meta['channels']['count']} channels "
             f"({meta['window_ms']:.1f} ms), hop {meta['hop']}; preprocess {meta['preprocess']}", "",
             "| class | precision | recall | support |", "|---|---|---|---|"]
    for name, c in m["per_class"].items():
        lines.append(f"| {name} | {c['precision']:.3f} | {c['recall']:.3f} | {c['support']} |")
    lines += ["", "![confusion matrix](confusion.png)", ""]
    return "\n".join(lines)
