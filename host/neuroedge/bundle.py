"""The model bundle: the contract between host and device.

models/NAME/
    model.tflite   full-int8 flatbuffer that edgedl runs
    model.json     schema "neuroedge-bundle" version 1 (below)
    report.md      metrics, split, data summary; confusion.png, and activity.png (each gesture's
                   mean activity per electrode in the training data, a heatmap per grid)

model.json fields: schema, version, labels, fs, channels (count and selection),
window, hop (frames after decimation), preprocess (Hz and the Q15 coefficients
edgedl.Preprocess takes), input (shape, dtype, scale, zero_point, gain from
counts to the float input, and from_counts: the int multiplier and shift that
edgedl.quantize applies), output (shape, dtype, scale, zero_point),
architecture, parameters, macs, training (data summary, split, seed, epochs),
metrics. Their rules are device/app/bundle_rules.py, which the board runs too.
"""

from __future__ import annotations

import fnmatch
import json
import math
import secrets
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from .errors import InputError
from .dataset import WindowConfig, config_from_json
from .project import load_device_module

rules = load_device_module("bundle_rules")
SCHEMA, VERSION = rules.SCHEMA, rules.VERSION
# What a bundle folder holds: what write() makes, and the timelines `neuroedge replay` draws beside it.
OWN_FILES = ("model.tflite", "model.json", "report.md", "confusion.png", "activity.png", "replay-*.png")


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
        raise InputError(f"input gain {real} cannot be represented")
    return mult, shift


def input_quantizer(model: bytes, gain: float) -> dict:
    """int16 counts -> int8 input: q = round(counts * gain / scale) + zero_point, in fixed point."""
    details = _io_details(model, "input")
    if details["dtype"] != "int8":
        raise InputError("bundles use int8 model inputs")
    mult, shift = quantize_multiplier(gain / details["scale"])
    return {"mult": mult, "shift": shift, "zero_point": details["zero_point"]}


def metrics(y: np.ndarray, float_pred: np.ndarray, int8_pred: np.ndarray, names) -> dict:
    """Confusion matrix, per-class precision and recall, float and int8 accuracy of a test split."""
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
             epochs: int, velocity: dict | None = None, grids: list | None = None, drift: dict | None = None) -> dict:
    """model.json's contents for a trained model: I/O, windows, preprocessing, labels, metrics and
    provenance; velocity levels (neuroedge.velocity), electrode grids when known, and drift
    tracking's settings (neuroedge.drift) when the board follows a session's drift."""
    from .convert import tflite_op_names

    return {
        "schema": SCHEMA, "version": VERSION, "labels": list(labels), "fs": fs,
        "channels": {"count": channels, "select": None if windows.channels is None else list(windows.channels)},
        **{k: v for k, v in windows.to_json(fs).items() if k != "channels"},
        "input": {**_io_details(tflite, "input"), "gain": gain, "from_counts": input_quantizer(tflite, gain)},
        "output": _io_details(tflite, "output"),
        "architecture": architecture, "parameters": parameters, "ops": tflite_op_names(tflite),
        "velocity": velocity, "grids": grids, "drift": drift,
        "window_ms": windows.latency_ms(fs),
        "training": {"data": data, "split": split, "seed": seed, "epochs": epochs},
        "metrics": metrics,
    }


def check_out(out_dir: Path, force: bool = False) -> None:
    """Refuses to write a bundle where it would destroy something else: out_dir must be
    missing, empty, or a bundle (model.json of this schema, nothing but a bundle's files);
    force replaces any folder. Run before training, and again by write()."""
    out_dir = Path(out_dir)
    if not out_dir.exists() and not out_dir.is_symlink():
        return
    if not out_dir.is_dir():
        raise InputError(f"{out_dir}: exists and is not a folder; the output must name a bundle folder")
    if force:
        return
    entries = sorted(out_dir.iterdir())
    if not entries:
        return
    foreign = [p.name + ("/" if p.is_dir() else "") for p in entries
               if not (p.is_file() and any(fnmatch.fnmatchcase(p.name, pattern) for pattern in OWN_FILES))]
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise InputError(f"{out_dir}: holds {shown}, which a model bundle does not; writing the bundle would "
                         "delete them: choose another folder, or --force to replace it")
    try:
        schema = json.loads((out_dir / "model.json").read_text()).get("schema")
    except (OSError, ValueError, AttributeError):
        schema = None
    if schema != SCHEMA:
        raise InputError(f"{out_dir}: not a model bundle (no model.json of schema {SCHEMA}); writing the bundle "
                         "would delete what it holds: choose another folder, or --force to replace it")


def write(out_dir: Path, tflite: bytes, meta: dict, y: np.ndarray, pred: np.ndarray, force: bool = False,
          activity: np.ndarray | None = None) -> Path:
    """Writes the bundle into a new folder beside out_dir and swaps it in: a failed or
    interrupted write leaves the previous bundle (or nothing), never half of one. activity:
    (gestures, electrodes) mean level in training, drawn as activity.png."""
    out_dir = Path(out_dir)
    check_out(out_dir, force)
    try:
        rules.check(meta)  # never write a bundle that load() and the board would refuse
    except rules.BundleError as exc:
        raise InputError(f"{out_dir / 'model.json'}: {exc}") from None
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    new = _new_folder(out_dir.parent, f".{out_dir.name}-new-")
    old = None
    try:
        (new / "model.tflite").write_bytes(tflite)
        (new / "model.json").write_text(json.dumps(meta, indent=2) + "\n")
        _confusion_png(new / "confusion.png", np.array(meta["metrics"]["confusion"]), meta["labels"])
        if activity is not None:
            _activity_png(new / "activity.png", activity, meta["labels"], meta.get("grids"))
        (new / "report.md").write_text(_report(meta, activity is not None))
        if out_dir.exists() or out_dir.is_symlink():
            old = out_dir.parent / f".{out_dir.name}-old-{secrets.token_hex(4)}"
            out_dir.rename(old)
        new.rename(out_dir)
    except BaseException:
        if old is not None and not (out_dir.exists() or out_dir.is_symlink()):
            old.rename(out_dir)  # the previous bundle back in place
        shutil.rmtree(new, ignore_errors=True)
        raise
    if old is not None:
        try:
            if old.is_symlink():
                old.unlink()  # a link to a folder: the folder is not the bundle's to delete
            else:
                shutil.rmtree(old)
        except OSError as exc:
            raise InputError(f"{out_dir}: the new bundle is in place, but the previous one could not be removed "
                             f"from {old} ({exc})") from None
    return out_dir


def _new_folder(parent: Path, prefix: str) -> Path:
    """A new empty folder made as mkdir makes one (0777 less the umask; tempfile.mkdtemp's
    0700 would stay on the bundle once it is renamed into place)."""
    while True:
        path = parent / f"{prefix}{secrets.token_hex(4)}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue


def _model_facts(tflite: bytes) -> SimpleNamespace | None:
    """The facts bundle_rules.matches compares, as edgedl.Model names them; None when the
    flatbuffer cannot be read (edgedl, which validates the whole model, then says why)."""
    try:
        sides = {side: _io_details(tflite, side) for side in ("input", "output")}
    except Exception:  # noqa: BLE001 - any damage to the flatbuffer
        return None
    return SimpleNamespace(**{f"{side}_{k}": v for side, d in sides.items()
                              for k, v in (("shape", d["shape"]), ("dtype", d["dtype"]),
                                           ("quantization", (d["scale"], d["zero_point"])))})


def load(path: Path) -> tuple[bytes, dict]:
    """The bundle at path, refused (InputError naming the file and field) unless the board
    would run it, and run it as the host computes: see bundle_rules."""
    path = Path(path)
    try:
        meta = json.loads((path / "model.json").read_text())
        tflite = (path / "model.tflite").read_bytes()
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a model bundle ({exc})") from None
    try:
        rules.check(meta)
    except rules.BundleError as exc:
        raise InputError(f"{path / 'model.json'}: {exc}") from None
    model = _model_facts(tflite)
    if model is not None:
        try:
            rules.matches(meta, model)
        except rules.BundleError as exc:
            raise InputError(f"{path}: {exc}") from None
    # The host computes windows from the corner frequencies, the board runs the Q15
    # coefficients: they must be the same filter, or evaluate would score another model.
    p = meta["preprocess"]
    try:
        expected = config_from_json(meta).preprocess.coefficients(meta["fs"])
    except ValueError as exc:
        raise InputError(f"{path / 'model.json'}: {exc}") from None
    for key, value in expected.items():
        if p.get(key, 0) != value:  # bundles made before features have neither features nor threshold
            raise InputError(f"{path / 'model.json'}: preprocess.{key} is {p.get(key, 0)}, but the settings "
                             f"in physical units at fs {meta['fs']} give {value}")
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


def _activity_png(path: Path, activity: np.ndarray, labels, grids) -> None:
    """Each gesture's mean activity per electrode in the training windows (log2 MAV, one colour
    scale for all), as people look at HD-EMG maps: a heatmap per gesture (columns) and grid
    (rows); without grids (an armband) one map of gestures x channels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = activity / 1024
    lo, hi = np.percentile(values, 1), np.percentile(values, 99)
    if not grids:
        fig, ax = plt.subplots(figsize=(2 + 0.35 * values.shape[1], 1 + 0.35 * len(labels)))
        image = ax.imshow(values, cmap="viridis", vmin=lo, vmax=hi, aspect="auto")
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlabel("channel")
        axes = ax
    else:
        fig, axes = plt.subplots(len(grids), len(labels), figsize=(1.2 + 1.5 * len(labels), 0.8 + 1.6 * len(grids)),
                                 squeeze=False)
        for j, (rows, cols, first) in enumerate(grids):
            for i, name in enumerate(labels):
                ax = axes[j, i]
                image = ax.imshow(values[i, first:first + rows * cols].reshape(rows, cols), cmap="viridis",
                                  vmin=lo, vmax=hi)
                ax.set_xticks([])
                ax.set_yticks([])
                if j == 0:
                    ax.set_title(name, fontsize=9)
                if i == 0:
                    ax.set_ylabel(f"grid {j + 1}", fontsize=9)
    fig.colorbar(image, ax=axes, shrink=0.8, label="log2 MAV (counts)")
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _report(meta: dict, activity: bool = False) -> str:
    m = meta["metrics"]
    lines = [f"# Model report: {meta['architecture']} ({meta['parameters']} parameters)", "",
             f"- held out by {meta['training']['split']['by']}: {', '.join(meta['training']['split']['test'])}",
             f"- float accuracy {m['float_accuracy']:.4f}; int8 accuracy (edgedl) {m['int8_accuracy']:.4f}",
             f"- time-domain features + LDA baseline (same windows, same split) {m.get('td_lda_baseline_accuracy', float('nan')):.4f}",
             f"- window {meta['window']} frames x {meta['channels']['count']} channels "
             f"({meta['window_ms']:.1f} ms), hop {meta['hop']}; preprocess {meta['preprocess']}", "",
             "| class | precision | recall | support |", "|---|---|---|---|"]
    for name, c in m["per_class"].items():
        lines.append(f"| {name} | {c['precision']:.3f} | {c['recall']:.3f} | {c['support']} |")
    lines += ["", "![confusion matrix](confusion.png)", ""]
    if activity:
        lines += ["Mean activity per electrode and gesture in the training data:", "",
                  "![activity per gesture](activity.png)", ""]
    return "\n".join(lines)
