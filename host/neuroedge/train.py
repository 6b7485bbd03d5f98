"""Train a model on EMG windows and write an int8 model bundle: the steps a researcher
can also call one by one.

    windows = dataset.windows_of(recordings, cfg.windows)   # the board's own C preprocessing
    train_w, test_w, split = dataset.split(windows, "repetition")   # whole repetitions held out
    fitted = fit(train_w, cfg)                                # Keras CNN or shrinkage LDA
    tflite = to_int8(fitted, train_w)                         # full int8, only ops edgedl runs
    float_pred, int8_pred = predict(fitted, tflite, test_w)   # int8 by edgedl in the emulator
    baseline = td_lda_baseline(recordings, cfg.windows, split)   # the classic figure, same windows
    train(recordings, "models/NAME", cfg)                     # all of the above + the bundle

Models: `compact` (the default on grids), `larger`, and `lda` (the default up to 32 channels:
time-domain features + shrinkage LDA as one int8 dense layer, with the channels' and the ring
differences' features taken as uncorrelated). A Keras model of your own: see `fit_keras`.

Inputs are the board's feature blocks (log2 MAV and log2 waveform length per channel
every 25 ms by default): the logarithm keeps rest and strong contractions apart within
one int8 scale, and a change of contraction strength or skin contact becomes a shift,
which training teaches the model to ignore by augmentation (random gains per window
and per channel). Each feature is standardised with the training data's mean and
spread, folded into the first layer's weights, so the int8 input stays the board's
plain quantized counts. Early stopping picks the number of epochs on the last training
repetition; the model is then refit on all training repetitions.

Drift tracking (drift.py; `lda`'s default): the bundle keeps each gesture's mean features and
the board follows a new session's shift of them from its own decisions; `predict` then runs
the test windows as the board would, in order, one stream per recording.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .errors import InputError
from . import bundle, classic, dataset, drift, infer, velocity
from .convert import convert_int8, quiet_tensorflow, unsupported_ops
from .emulator import Emulator
from .preprocess import FEATURES, GRID_CHANNELS, SettingsError
from .recording import Recording

SPATIAL_FILTERS = 16  # the compact CNN's learned spatial filters (pointwise, first layer)
# Armbands, on request (--rotation): LDA also learns from the training recordings turned by a
# fraction of an electrode (dataset.rotated). Measured with drift tracking on participants kept
# apart from the README's table (int8, gain over the classic baseline): a band put on again
# the next day gains, the same session loses: MyoDisCo S6-14 (day 1 -> day 2) +3.1 points
# without, +3.3 at 0.25, +4.4 at 0.35; 3DC P6-22 (train -> test block, same session) +3.2,
# +2.6, +2.3. Off by default: the smaller of the two gains is largest without.


def compact_cnn(keras, window: int, width: int, classes: int, batch_size=None):
    """The default: a learned spatial filter (pointwise, so standardisation folds into it
    exactly), two temporal convolutions, global average pooling, dense. 5.4 k parameters
    for 10 channels x 2 features, 8.0 k for 192 electrodes x 1."""
    L = keras.layers
    inputs = keras.Input((window, width), batch_size=batch_size)
    x = L.Conv1D(SPATIAL_FILTERS, 1)(inputs)
    x = L.Conv1D(32, 3, padding="same", activation="relu")(x)
    x = L.Conv1D(32, 3, padding="same", activation="relu")(x)
    x = L.GlobalAveragePooling1D()(x)
    x = L.Dropout(0.2)(x)
    return keras.Model(inputs, L.Dense(classes, activation="softmax")(x), name="compact")


def larger_cnn(keras, window: int, width: int, classes: int, batch_size=None):
    """A larger variant for more data."""
    L = keras.layers
    inputs = keras.Input((window, width), batch_size=batch_size)
    x = L.Conv1D(24, 1)(inputs)
    x = L.Conv1D(48, 3, padding="same", activation="relu")(x)
    x = L.DepthwiseConv1D(3, padding="same", activation="relu")(x)
    x = L.Conv1D(48, 1, activation="relu")(x)
    x = L.GlobalAveragePooling1D()(x)
    x = L.Dropout(0.2)(x)
    return keras.Model(inputs, L.Dense(classes, activation="softmax")(x), name="larger")


ARCHITECTURES = {"compact": compact_cnn, "larger": larger_cnn, "lda": None, "auto": None}  # lda: classic


def default_architecture(channels: int) -> str:
    """Measured (see the README): with a few channels (armbands, real recordings) time-domain
    features + LDA beat the CNN (88.0 vs 85.9 % on 3DC, 80.0 vs 76.8 % on MyoDisCo, both
    without ring differences); on electrode grids the CNN learns the spatial pattern (99.3 vs 93.3 % on synthetic HD-EMG)."""
    return "compact" if channels > GRID_CHANNELS else "lda"


def resolved(cfg: "TrainConfig", channels: int) -> "TrainConfig":
    """cfg with its automatic choices (architecture, features) settled for `channels` channels."""
    windows = cfg.windows.resolved(channels)
    kept = len(windows.channels) if windows.channels is not None else channels
    architecture = default_architecture(kept) if cfg.architecture == "auto" else cfg.architecture
    # Drift tracking was measured with LDA on armbands (drift.py); a CNN can have it by asking.
    tracking = (architecture == "lda" and bool(windows.preprocess.features)) if cfg.drift is None else cfg.drift
    if tracking and not windows.preprocess.features:
        raise SettingsError("drift tracking follows shifts of time-domain features: use it with --features")
    return replace(cfg, architecture=architecture, windows=windows, drift=tracking)


@dataclass
class TrainConfig:
    architecture: str = "auto"    # lda, compact, larger; auto: by channel count (default_architecture)
    epochs: int = 40              # at most: early stopping on a held-out training repetition picks fewer
    patience: int = 6             # epochs without a better validation accuracy before stopping
    batch_size: int = 64
    learning_rate: float = 3e-3
    augment: bool = True          # random gains per window (0.5-2x) and per channel (0.8-1.25x)
    seed: int = 0
    split_by: str = "repetition"
    hold_out: tuple | None = None  # the repetitions / sessions / subjects tested on (None: the last)
    windows: dataset.WindowConfig = field(default_factory=dataset.WindowConfig)
    drift: bool | None = None     # the board follows a session's drift (drift.py); None: on for lda
    rotation: float = 0.0         # lda: also train on the band turned by +-this fraction of an electrode

    def __post_init__(self):
        if self.architecture not in ARCHITECTURES:
            raise SettingsError(f"unknown architecture {self.architecture!r}: use {', '.join(ARCHITECTURES)}")
        for name in ("epochs", "batch_size", "patience"):
            value = getattr(self, name)
            if not (isinstance(value, int) and value >= 1):
                raise SettingsError(f"{name} must be a whole number >= 1, got {value!r}")
        if not (isinstance(self.rotation, (int, float)) and 0 <= self.rotation < 1):
            raise SettingsError(f"rotation must be a fraction of an electrode spacing 0..1, got {self.rotation!r}")
        if self.rotation and self.architecture not in ("lda", "auto"):
            raise SettingsError("rotation augmentation is measured and made for lda; the CNNs train without it")
        if not (isinstance(self.learning_rate, (int, float)) and 0 < self.learning_rate < float("inf")):
            raise SettingsError(f"learning_rate must be a positive number, got {self.learning_rate!r}")


def input_gain(x: np.ndarray) -> float:
    """counts -> float model input: a robust range of the training windows maps to about 1."""
    return float(1.0 / max(np.percentile(np.abs(x), 99.5), 1.0))


@dataclass
class Fitted:
    """A trained model: `keras_model` takes windows x `gain` (float); `static` is its batch-1
    twin for conversion (static shapes, no SHAPE ops), with standardisation folded in."""
    architecture: str
    keras_model: object
    static: object
    gain: float
    epochs: int
    parameters: int
    lda: classic.ShrinkageLDA | None = None
    mean: np.ndarray | None = None   # the standardisation keras_model expects (folded into static)
    std: np.ndarray | None = None
    drift: dict | None = None        # drift tracking's settings (drift.settings), model.json's "drift"


def _amplitude_columns(windows: dataset.WindowConfig, width: int) -> np.ndarray:
    """Which input columns scale with the signal's amplitude, and in what way: 1 for a log2
    feature (a gain g adds log2(g) x 1024), 0 for rates; None for filtered frames (a gain multiplies)."""
    names = windows.preprocess.features
    if not names:
        return None
    per_feature = np.array([1.0 if name.startswith("log_") else 0.0 for name in names])
    return np.repeat(per_feature, width // len(names))


def augment(x: np.ndarray, columns, channels: int, rng: np.random.Generator) -> np.ndarray:
    """Random gains as a change of contraction strength or skin contact makes them: one per
    window (0.5-2x) and one per channel (0.8-1.25x), in the units of the input."""
    n, _, width = x.shape
    window_gain = rng.uniform(-1, 1, (n, 1, 1))                  # log2: 0.5x .. 2x
    channel_gain = np.log2(rng.uniform(0.8, 1.25, (n, 1, channels)))
    log_gain = window_gain + np.tile(channel_gain, (1, 1, width // channels))
    if columns is None:
        return x * np.exp2(log_gain)
    return x + log_gain * 1024 * columns


def fit_keras(model, train_w: dataset.Windows, cfg: TrainConfig, gain: float, channels: int, log=print):
    """Trains any Keras model on the windows (x * gain): per-feature standardisation as a
    first step, augmentation, early stopping on the last training repetition, then a refit
    on all of them for the epochs found. Returns (model, epochs, mean, std)."""
    import keras

    x = train_w.x.astype(np.float32)
    columns = _amplitude_columns(cfg.windows, x.shape[2])
    mean = (x * gain).mean(axis=(0, 1))
    std = (x * gain).std(axis=(0, 1)) + 1e-3
    reps = sorted(set(train_w.repetition.tolist()))
    held = train_w.repetition == reps[-1] if len(reps) > 1 else np.zeros(len(x), bool)
    rng = np.random.default_rng(cfg.seed)
    initial = model.get_weights()

    def run(mask, epochs, watch):
        model.set_weights(initial)
        model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate), loss="sparse_categorical_crossentropy")
        best, best_epoch, since = -1.0, epochs, 0
        for epoch in range(1, epochs + 1):
            xe = augment(x[mask], columns, channels, rng) if cfg.augment else x[mask]
            model.fit((xe * gain - mean) / std, train_w.y[mask], epochs=1, batch_size=cfg.batch_size,
                      shuffle=True, verbose=0)
            if watch is None:
                continue
            acc = float((model.predict((x[watch] * gain - mean) / std, verbose=0).argmax(1)
                         == train_w.y[watch]).mean())
            if acc > best:
                best, best_epoch, since = acc, epoch, 0
            else:
                since += 1
                if since >= cfg.patience:
                    break
        return best_epoch, best

    if held.any():
        epochs, val = run(~held, cfg.epochs, held)
        log(f"early stopping: best at epoch {epochs} ({val:.1%} on held-out training repetition {reps[-1]})")
    else:
        epochs = cfg.epochs
    run(np.ones(len(x), bool), epochs, None)
    return model, epochs, mean, std


def fold_standardisation(keras, build, model, mean: np.ndarray, std: np.ndarray, window, width, classes):
    """The batch-1 twin of `model` with (x - mean) / std folded into its first, pointwise layer:
    W' = W / std, b' = b - (mean / std) @ W. Exact, since a pointwise layer sees no padding."""
    static = build(keras, window, width, classes, batch_size=1)
    weights = model.get_weights()
    kernel, bias = weights[0], weights[1]  # (1, width, filters), (filters,)
    weights[0] = kernel / std[None, :, None]
    weights[1] = bias - (mean / std) @ kernel[0]
    static.set_weights(weights)
    return static


def fit(train_w: dataset.Windows, cfg: TrainConfig, log=print, rotated_w: dataset.Windows | None = None) -> Fitted:
    """The model cfg.architecture names, trained on the training windows (for lda, also on
    rotated_w: the same recordings turned, dataset.rotated_windows)."""
    quiet_tensorflow()  # before Keras loads TensorFlow
    import keras

    gain = input_gain(train_w.x)
    classes = len(train_w.label_names)
    window, width = train_w.x.shape[1], train_w.x.shape[2]
    channels = None  # known when the windows know their settled features: settle the rest likewise
    if train_w.config is not None:
        channels = width // train_w.config.preprocess.values_per_channel()
        cfg = resolved(replace(cfg, windows=train_w.config), channels)
    keras.utils.set_random_seed(cfg.seed)
    tracking = drift.settings(train_w.x, train_w.y, classes) if cfg.drift else None
    if cfg.architecture == "lda":
        fit_w = train_w if rotated_w is None else dataset.Windows.concat([train_w, rotated_w])
        # Channels' and differences' features as uncorrelated: their covariance is what an
        # electrode shift changes on another day (chosen on participants kept apart, see the README).
        blocks = cfg.windows.preprocess.difference_columns(channels) if channels else None
        lda = classic.ShrinkageLDA(blocks=blocks).fit(classic.window_features(fit_w.x) * gain, fit_w.y)
        model = classic.lda_keras_model(keras, lda, classes, window, width)
        static = classic.lda_keras_model(keras, lda, classes, window, width, batch_size=1)
        return Fitted("lda", model, static, gain, 0, int(model.count_params()), lda, drift=tracking)
    build = ARCHITECTURES[cfg.architecture]
    model = build(keras, window, width, classes)
    signals = width // max(1, len(cfg.windows.preprocess.features))  # each gets its own random gain
    model, epochs, mean, std = fit_keras(model, train_w, cfg, gain, signals, log)
    static = fold_standardisation(keras, build, model, mean, std, window, width, classes)
    return Fitted(cfg.architecture, model, static, gain, epochs, int(model.count_params()), mean=mean, std=std,
                  drift=tracking)


def to_int8(fitted: Fitted, train_w: dataset.Windows, seed: int = 0) -> bytes:
    """Full-int8 .tflite of the fitted model, calibrated on training windows; refuses a model
    with ops edgedl does not run."""
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(train_w), size=min(300, len(train_w)), replace=False)
    tflite = convert_int8(fitted.static, train_w.x[pick].astype(np.float32) * fitted.gain)
    refused = unsupported_ops(tflite)
    if refused:
        raise InputError(f"the converted model uses ops edgedl does not run: {', '.join(refused)}")
    return tflite


def evaluate_int8(model: bytes, from_counts: dict, x: np.ndarray, board: Emulator | None = None,
                  tracking: dict | None = None, starts=(0,)) -> np.ndarray:
    """Class indices that edgedl (in the emulator) predicts for int16 windows, quantized as
    the board does it: edgedl.quantize's C with a bundle's input.from_counts. With drift
    tracking (model.json's "drift") the windows are streams, in order, beginning at `starts`,
    and the board's own loop runs them one by one."""
    from .preprocess import quantize

    if tracking is not None:
        return infer.run_tracked_on_emulator(model, x, from_counts, tracking, starts, board=board,
                                             heap=16 * 1024 * 1024)
    q = from_counts
    inputs = quantize(x, q["mult"], q["shift"], q["zero_point"])
    outputs, _ = infer.run_on_emulator(model, inputs[:, None], board=board, heap=16 * 1024 * 1024)
    return outputs.reshape(len(x), -1).argmax(1)


def predict(fitted: Fitted, tflite: bytes, w: dataset.Windows) -> tuple[np.ndarray, np.ndarray]:
    """(float predictions, int8 predictions by edgedl) for the windows (a stream, in order,
    with drift tracking)."""
    if fitted.lda is not None:
        def classify(x):
            return fitted.lda.predict(classic.window_features(x) * fitted.gain)
    else:
        def classify(x):
            x = (x.astype(np.float32) * fitted.gain - fitted.mean) / fitted.std
            # One window at a time (tracking): a direct call, predict() costs ~30 ms a call.
            scores = fitted.keras_model.predict(x, verbose=0) if len(x) > 1 else fitted.keras_model(x, training=False)
            return np.asarray(scores).argmax(1)
    starts = drift.stream_starts(w)
    if fitted.drift is None:
        float_pred = classify(w.x)
    else:
        float_pred = drift.tracked(w.x, lambda one: int(classify(one[None])[0]), fitted.drift, starts)
    return float_pred, evaluate_int8(tflite, bundle.input_quantizer(tflite, fitted.gain), w.x,
                                     tracking=fitted.drift, starts=starts)


def td_windows_config(windows: dataset.WindowConfig, fs: float) -> dataset.WindowConfig:
    """The classic baseline's windows: the same spans and hops, all four time-domain features."""
    pre = windows.preprocess
    td = replace(pre, features=FEATURES, ring_differences=False, rectify=False, envelope_hz=0.0,
                 decimate=pre.decimation(fs))
    return replace(windows, preprocess=td)


def td_lda_baseline(recordings: list[Recording], windows: dataset.WindowConfig, split: dict) -> float:
    """Time-domain features (log2 MAV, log2 WL, ZC, SSC) + shrinkage LDA on the same windows
    and the same split: the figure every bundle reports beside its model."""
    fs = recordings[0].fs
    w = dataset.windows_of(recordings, td_windows_config(windows, fs))
    train_w, test_w, _ = dataset.split(w, split["by"], split["test"])
    return classic.td_lda_accuracy(train_w.x, train_w.y, test_w.x, test_w.y)


def model_grids(recordings: list[Recording], select) -> list | None:
    """The recordings' electrode grids in the model's channel numbers ([rows, cols, first]), for
    the board's neighbour checks and the dashboard's heatmaps; None when they disagree or a
    channel selection splits a grid."""
    layouts = {tuple(r.grids) for r in recordings}
    if len(layouts) != 1 or not recordings[0].grids:
        return None
    index = {c: i for i, c in enumerate(select)} if select is not None else None
    out = []
    for g in recordings[0].grids:
        first = g.first if index is None else index.get(g.first)
        if first is None or (index is not None and any(index.get(g.first + k) != first + k
                                                       for k in range(g.rows * g.cols))):
            return None
        out.append([g.rows, g.cols, first])
    return out


def train(recordings: list[Recording], out_dir: Path, cfg: TrainConfig, log=print, force: bool = False) -> dict:
    """Windows, split, fit, int8, evaluate (with the classic baseline), bundle. force: replace
    out_dir even if it holds more than a bundle (see bundle.check_out)."""
    bundle.check_out(out_dir, force)  # now, not after minutes of training
    t0 = time.monotonic()
    fs = {r.fs for r in recordings}
    if len(fs) != 1:
        raise InputError(f"recordings have different sampling rates {sorted(fs)}; resample them first")
    fs = fs.pop()
    channels = {r.channels for r in recordings}
    if len(channels) != 1:
        raise InputError(f"recordings have different channel counts {sorted(channels)}")
    cfg = resolved(cfg, channels.pop())
    log(f"model: {cfg.architecture} on {', '.join(cfg.windows.preprocess.features) or 'filtered frames'}")
    all_windows = dataset.windows_of(recordings, cfg.windows)
    train_w, test_w, split = dataset.split(all_windows, cfg.split_by, cfg.hold_out)
    log(f"windows: {len(train_w)} train, {len(test_w)} test (held out by {split['by']}: {', '.join(split['test'])})")
    rotated_w = None
    if cfg.rotation and cfg.architecture == "lda":
        rotated_w = dataset.rotated_windows(recordings, cfg.windows, split, cfg.rotation)
        log(f"also training on the band turned by +-{cfg.rotation:g} of an electrode")
    fitted = fit(train_w, cfg, log, rotated_w)
    tflite = to_int8(fitted, train_w, cfg.seed)
    float_pred, int8_pred = predict(fitted, tflite, test_w)
    seconds = time.monotonic() - t0
    channels = len(cfg.windows.channels) if cfg.windows.channels else recordings[0].channels

    metrics = bundle.metrics(test_w.y, float_pred, int8_pred, all_windows.label_names)
    metrics["td_lda_baseline_accuracy"] = td_lda_baseline(recordings, cfg.windows, split)
    metrics["train_seconds"] = round(seconds, 1)
    pre = cfg.windows.preprocess
    columns = velocity.level_columns(pre.features, pre.rectify, channels)
    meta = bundle.describe(
        velocity=velocity.gesture_levels(train_w.x, train_w.y, len(all_windows.label_names), columns)
        if columns else None, grids=model_grids(recordings, cfg.windows.channels),
        tflite=tflite, fs=fs, labels=all_windows.label_names, channels=channels, windows=cfg.windows,
        gain=fitted.gain, architecture=cfg.architecture, parameters=fitted.parameters, split=split,
        drift=fitted.drift,
        data={"recordings": [r.source for r in recordings], "train": dataset.summary(train_w),
              "test": dataset.summary(test_w)},
        metrics=metrics, seed=cfg.seed, epochs=fitted.epochs)
    activity = velocity.gesture_activity(train_w.x, train_w.y, len(all_windows.label_names), columns) if columns \
        else None
    bundle.write(out_dir, tflite, meta, test_w.y, int8_pred, force=force, activity=activity)
    log(f"float accuracy {metrics['float_accuracy']:.4f}, int8 accuracy (edgedl) {metrics['int8_accuracy']:.4f}, "
        f"time-domain features + LDA baseline {metrics['td_lda_baseline_accuracy']:.4f}; {seconds:.0f} s -> {out_dir}")
    return meta
