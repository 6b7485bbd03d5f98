"""Train a compact 1-D CNN on HD-EMG windows and write an int8 model bundle.

recordings -> windows (device preprocessing, same C) -> split by repetition /
session / subject -> Keras 1-D CNN (seeded) -> full-int8 .tflite (only ops edgedl
runs) -> float and int8 evaluation on the held-out split (int8 by edgedl itself,
in the emulator) -> models/NAME/{model.tflite, model.json, report.md, confusion.png}.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import bundle, dataset, infer
from .convert import convert_int8, quiet_tensorflow, unsupported_ops
from .emulator import Emulator
from .preprocess import SettingsError
from .recording import Recording


def compact_cnn(keras, window: int, channels: int, classes: int, batch_size=None):
    """The default, the reference system's size (~2.9 k parameters for 192 channels):
    a learned spatial filter (pointwise) then two temporal convolutions."""
    L = keras.layers
    inputs = keras.Input((window, channels), batch_size=batch_size)
    x = L.Conv1D(8, 1, activation="relu")(inputs)
    x = L.Conv1D(16, 3, padding="same", activation="relu")(x)
    x = L.Conv1D(16, 3, padding="same", activation="relu")(x)
    x = L.GlobalAveragePooling1D()(x)
    return keras.Model(inputs, L.Dense(classes, activation="softmax")(x), name="compact")


def larger_cnn(keras, window: int, channels: int, classes: int, batch_size=None):
    """A larger variant (~15 k parameters for 192 channels) for harder data."""
    L = keras.layers
    inputs = keras.Input((window, channels), batch_size=batch_size)
    x = L.Conv1D(24, 1, activation="relu")(inputs)
    x = L.Conv1D(32, 5, padding="same", activation="relu")(x)
    x = L.DepthwiseConv1D(3, padding="same", activation="relu")(x)
    x = L.Conv1D(32, 1, activation="relu")(x)
    x = L.GlobalAveragePooling1D()(x)
    return keras.Model(inputs, L.Dense(classes, activation="softmax")(x), name="larger")


ARCHITECTURES = {"compact": compact_cnn, "larger": larger_cnn}


@dataclass
class TrainConfig:
    architecture: str = "compact"
    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 3e-3
    seed: int = 0
    split_by: str = "repetition"
    windows: dataset.WindowConfig = dataset.WindowConfig()

    def __post_init__(self):
        if self.architecture not in ARCHITECTURES:
            raise SettingsError(f"unknown architecture {self.architecture!r}: use {', '.join(ARCHITECTURES)}")
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if not (isinstance(value, int) and value >= 1):
                raise SettingsError(f"{name} must be a whole number >= 1, got {value!r}")
        if not (isinstance(self.learning_rate, (int, float)) and 0 < self.learning_rate < float("inf")):
            raise SettingsError(f"learning_rate must be a positive number, got {self.learning_rate!r}")


def input_gain(x: np.ndarray) -> float:
    """counts -> float model input: a robust range of the training windows maps to about 1."""
    return float(1.0 / max(np.percentile(np.abs(x), 99.5), 1.0))


def lda_rms_baseline(train: dataset.Windows, test: dataset.Windows) -> float:
    """Accuracy of per-channel RMS features + shrinkage LDA: the classic simple baseline."""
    def features(w):
        return np.log(np.sqrt((w.x.astype(np.float64) ** 2).mean(axis=1)) + 1.0)
    f_train, f_test = features(train), features(test)
    classes = np.unique(train.y)
    means = np.array([f_train[train.y == c].mean(0) for c in classes])
    centred = f_train - means[np.searchsorted(classes, train.y)]
    cov = centred.T @ centred / len(f_train)
    cov = 0.9 * cov + 0.1 * np.eye(len(cov)) * np.trace(cov) / len(cov)
    inv = np.linalg.inv(cov)
    scores = f_test @ inv @ means.T - 0.5 * np.einsum("ij,jk,ik->i", means, inv, means)
    return float((classes[scores.argmax(1)] == test.y).mean())


def evaluate_int8(model: bytes, from_counts: dict, x: np.ndarray, board: Emulator | None = None) -> np.ndarray:
    """Class indices that edgedl (in the emulator) predicts for int16 windows, quantized as
    the board does it: edgedl.quantize's C with a bundle's input.from_counts."""
    from .preprocess import quantize

    q = from_counts
    inputs = quantize(x, q["mult"], q["shift"], q["zero_point"])
    outputs, _ = infer.run_on_emulator(model, inputs[:, None], board=board, heap=16 * 1024 * 1024)
    return outputs.reshape(len(x), -1).argmax(1)


def train(recordings: list[Recording], out_dir: Path, cfg: TrainConfig, log=print, force: bool = False) -> dict:
    """force: replace out_dir even if it holds more than a bundle (see bundle.check_out)."""
    bundle.check_out(out_dir, force)  # now, not after minutes of training
    t0 = time.monotonic()
    tf = quiet_tensorflow()
    import keras

    fs = {r.fs for r in recordings}
    if len(fs) != 1:
        raise ValueError(f"recordings have different sampling rates {sorted(fs)}; resample them first")
    fs = fs.pop()
    all_windows = dataset.Windows.concat([dataset.make_windows(r, cfg.windows) for r in recordings])
    train_w, test_w, split = dataset.split(all_windows, cfg.split_by)
    log(f"windows: {len(train_w)} train, {len(test_w)} test (held out by {split['by']}: {', '.join(split['test'])})")
    gain = input_gain(train_w.x)
    classes = len(all_windows.label_names)
    window, channels = cfg.windows.window, all_windows.x.shape[2]
    build = ARCHITECTURES[cfg.architecture]

    keras.utils.set_random_seed(cfg.seed)
    model = build(keras, window, channels, classes)
    model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    x_train = train_w.x.astype(np.float32) * gain
    model.fit(x_train, train_w.y, epochs=cfg.epochs, batch_size=cfg.batch_size, shuffle=True,
              verbose=1 if log is print else 0)
    float_pred = model.predict(test_w.x.astype(np.float32) * gain, verbose=0).argmax(1)

    # A batch-1 twin with the same weights converts to static shapes (no SHAPE ops).
    static = build(keras, window, channels, classes, batch_size=1)
    static.set_weights(model.get_weights())
    rng = np.random.default_rng(cfg.seed)
    representative = x_train[rng.choice(len(x_train), size=min(200, len(x_train)), replace=False)]
    tflite = convert_int8(static, representative)
    refused = unsupported_ops(tflite)
    if refused:
        raise ValueError(f"the converted model uses ops edgedl does not run: {', '.join(refused)}")
    int8_pred = evaluate_int8(tflite, bundle.input_quantizer(tflite, gain), test_w.x)
    seconds = time.monotonic() - t0

    metrics = bundle.metrics(test_w.y, float_pred, int8_pred, all_windows.label_names)
    metrics["lda_rms_baseline_accuracy"] = lda_rms_baseline(train_w, test_w)
    metrics["train_seconds"] = round(seconds, 1)
    meta = bundle.describe(
        tflite=tflite, fs=fs, labels=all_windows.label_names, channels=channels, windows=cfg.windows, gain=gain,
        architecture=cfg.architecture, parameters=int(model.count_params()), split=split,
        data={"recordings": [r.source for r in recordings], "train": dataset.summary(train_w),
              "test": dataset.summary(test_w)},
        metrics=metrics, seed=cfg.seed, epochs=cfg.epochs)
    bundle.write(out_dir, tflite, meta, test_w.y, int8_pred, force=force)
    log(f"float accuracy {metrics['float_accuracy']:.4f}, int8 accuracy (edgedl) {metrics['int8_accuracy']:.4f}, "
        f"RMS+LDA baseline {metrics['lda_rms_baseline_accuracy']:.4f}; {seconds:.0f} s -> {out_dir}")
    return meta
