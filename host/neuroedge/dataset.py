"""Training windows, computed as the device computes them, and leak-free splits.

The device sees int16 amplifier counts: it selects channels, runs
edgedl.Preprocess (high-pass, then time-domain feature blocks, or rectify,
envelope and decimation) continuously, cuts
windows of `window` frames every `hop` frames, and quantizes each window to the
model's int8 input. `make_windows` does exactly that with the same C code
(neuroedge.preprocess), over each recording as one continuous stream.

A window's label is the cue at its last frame (what a real-time decision is
scored against); windows that straddle a change of cue are kept out of training
and offline scoring, since no single label is right for them.

Splits never shuffle frames: whole repetitions, sessions or subjects are held
out, so no window of the test set shares samples with one used for training.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .errors import InputError
from .preprocess import PreprocessConfig, Preprocessor, SettingsError
from .recording import QUATTROCENTO_UV_PER_COUNT, Recording, RecordingError, max_channels


def check_channels(channels) -> None:
    """A channel selection a board's Stream takes: not empty, each channel once, within a frame."""
    if not channels:
        raise SettingsError("the channel selection is empty")
    top = max_channels()
    bad = [c for c in channels if not (isinstance(c, int) and 0 <= c < top)]
    if bad:
        raise SettingsError(f"channel {bad[0]!r} is not one of a board's channels 0..{top - 1}")
    if len(set(channels)) != len(channels):
        raise SettingsError("the channel selection lists a channel twice")


@dataclass(frozen=True)
class WindowConfig:
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    window: int = 8             # output frames of edgedl.Preprocess (default: 8 blocks of 25 ms)
    hop: int = 2                # output frames between windows (50 ms)
    channels: tuple | None = None  # channel indices kept (None: all)

    def __post_init__(self):
        for name in ("window", "hop"):
            value = getattr(self, name)
            if not (isinstance(value, int) and value >= 1):
                raise SettingsError(f"{name} must be a whole number of frames >= 1, got {value!r}")
        if self.channels is not None:
            check_channels(self.channels)

    def resolved(self, channels: int) -> "WindowConfig":
        """This config with its defaults settled for recordings of `channels` channels (before
        any selection)."""
        kept = len(self.channels) if self.channels is not None else channels
        return replace(self, preprocess=self.preprocess.resolved(kept))

    def samples_needed(self, fs: float) -> int:
        """Raw samples that make one window."""
        return (self.window - 1) * self.preprocess.decimation(fs) + self.preprocess.first_frame(fs) + 1

    def check_length(self, rec: Recording) -> None:
        """RecordingError unless the recording holds at least one window."""
        if rec.samples < self.samples_needed(rec.fs):
            raise RecordingError(f"{rec.source}: too short: one window takes {self.samples_needed(rec.fs)} samples "
                                 f"({self.window} frames of {self.preprocess.decimation(rec.fs)}), "
                                 f"the recording holds {rec.samples}")

    def to_json(self, fs: float) -> dict:
        """The window settings as model.json stores them, for a sampling rate fs."""
        return {"window": self.window, "hop": self.hop, "channels": None if self.channels is None
                else list(self.channels), "preprocess": self.preprocess.to_json(fs)}

    def latency_ms(self, fs: float) -> float:
        """Signal time one window spans."""
        return 1000 * self.window * self.preprocess.decimation(fs) / fs


@dataclass
class Windows:
    x: np.ndarray          # (n, window, width) int16, preprocessed (width: channels x features)
    y: np.ndarray          # (n,) label index
    repetition: np.ndarray
    session: np.ndarray    # (n,) str
    subject: np.ndarray    # (n,) str
    label_names: tuple
    config: WindowConfig | None = None  # what made them, its defaults settled

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, mask: np.ndarray) -> "Windows":
        """The windows where mask is true, with their labels and provenance."""
        return Windows(self.x[mask], self.y[mask], self.repetition[mask], self.session[mask],
                       self.subject[mask], self.label_names, self.config)

    @staticmethod
    def concat(parts: list["Windows"]) -> "Windows":
        names = {p.label_names for p in parts}
        if len(names) != 1:
            raise InputError(f"recordings disagree on gesture names: {sorted(names)}")
        return Windows(*(np.concatenate([getattr(p, f) for p in parts]) for f in
                         ("x", "y", "repetition", "session", "subject")), label_names=parts[0].label_names,
                       config=parts[0].config)


def device_counts(rec: Recording) -> np.ndarray:
    """int16 counts as the amplifier sends them (float microvolts are converted at its LSB)."""
    if rec.uv_per_count > 0:
        return rec.emg
    return np.clip(np.round(rec.emg / QUATTROCENTO_UV_PER_COUNT), -32768, 32767).astype(np.int16)


def make_windows(rec: Recording, cfg: WindowConfig) -> Windows:
    """A labelled recording's windows, preprocessed exactly as the board does it."""
    cfg = cfg.resolved(rec.channels)
    if rec.labels is None:
        raise RecordingError(f"{rec.source}: training and evaluation need per-sample labels")
    cfg.check_length(rec)
    counts = device_counts(rec)
    if cfg.channels is not None:
        if max(cfg.channels) >= rec.channels:
            raise RecordingError(f"{rec.source}: channel selection up to {max(cfg.channels)} but the recording "
                                 f"has {rec.channels} channels")
        counts = counts[:, list(cfg.channels)]
    pre = Preprocessor(counts.shape[1], cfg.preprocess.coefficients(rec.fs))
    frames = pre.process(counts)
    # Each output frame stands for one raw frame of its block (the last, for features).
    d, first = cfg.preprocess.decimation(rec.fs), cfg.preprocess.first_frame(rec.fs)
    labels = rec.labels[first::d][:len(frames)]
    reps = rec.repetition[first::d][:len(frames)] if rec.repetition is not None else np.zeros(len(frames), int)
    starts = np.arange(0, len(frames) - cfg.window + 1, cfg.hop)
    ends = starts + cfg.window - 1
    idx = starts[:, None] + np.arange(cfg.window)
    same = (labels[idx] == labels[ends][:, None]).all(axis=1) & (reps[idx] == reps[ends][:, None]).all(axis=1)
    same &= labels[ends] >= 0
    keep = starts[same]
    if not len(keep):
        raise RecordingError(f"{rec.source}: no window lies within one labelled gesture and repetition")
    x = frames[keep[:, None] + np.arange(cfg.window)]
    n = len(keep)
    return Windows(x, labels[keep + cfg.window - 1].astype(np.int64), reps[keep + cfg.window - 1].astype(np.int64),
                   np.full(n, rec.session), np.full(n, rec.subject), rec.label_names, cfg)


def windows_of(recordings: list[Recording], cfg: WindowConfig) -> Windows:
    """Every recording's windows, one after another (each recording is one continuous stream)."""
    return Windows.concat([make_windows(r, cfg) for r in recordings])


def rotated(rec: Recording, fraction: float, channels: tuple | None = None) -> Recording:
    """The recording as an armband turned by `fraction` of an electrode spacing would have made
    it: each electrode's signal mixed with its neighbour's around the ring (towards the next
    electrode for a positive fraction, the previous for a negative one), among `channels` (None:
    all). Training on such copies teaches a classifier the small turns a band makes when it is
    put on again (chosen on real recordings: see train.ROTATION)."""
    if not -1 < fraction < 1:
        raise SettingsError(f"a rotation is a fraction of an electrode spacing between -1 and 1, got {fraction!r}")
    counts = device_counts(rec).astype(np.float64)
    ring = list(channels) if channels is not None else list(range(rec.channels))
    part = counts[:, ring]
    part = (1 - abs(fraction)) * part + abs(fraction) * np.roll(part, -1 if fraction > 0 else 1, axis=1)
    counts[:, ring] = part
    emg = np.clip(np.round(counts), -32768, 32767).astype(np.int16)
    return replace(rec, emg=emg, uv_per_count=rec.uv_per_count or QUATTROCENTO_UV_PER_COUNT,
                   source=f"{rec.source} (turned by {fraction:+g} electrode)")


def rotated_windows(recordings: list[Recording], cfg: WindowConfig, split_info: dict, fraction: float) -> Windows:
    """The training windows (split_info, from split) of the recordings turned by +fraction and by
    -fraction of an electrode (rotated): augmentation for armbands."""
    parts = []
    for sign in (1, -1):
        w = windows_of([rotated(r, sign * fraction, cfg.channels) for r in recordings], cfg)
        parts.append(split(w, split_info["by"], tuple(split_info["test"]))[0])
    return Windows.concat(parts)


def split(w: Windows, by: str = "repetition", test: tuple | None = None) -> tuple[Windows, Windows, dict]:
    """(train, test, description). By default the last repetition / session / subject is held out."""
    key = {"repetition": w.repetition, "session": w.session, "subject": w.subject}.get(by)
    if key is None:
        raise InputError(f"unknown split {by!r}: use repetition, session or subject")
    values = sorted(set(key.tolist()))
    if len(values) < 2:
        raise InputError(f"cannot split by {by}: the data has only {values}")
    held = [str(v) for v in test] if test else [str(values[-1])]
    missing = [v for v in held if v not in {str(v) for v in values}]
    if missing:
        raise InputError(f"cannot hold out {by} {', '.join(missing)}: the data has {', '.join(map(str, values))}")
    mask = np.isin(key.astype(str), held)
    if mask.all():
        raise InputError(f"holding out {by} {', '.join(held)} leaves nothing to train on")
    return w.subset(~mask), w.subset(mask), {"by": by, "test": held,
                                              "train": [str(v) for v in values if str(v) not in held]}


def summary(w: Windows) -> dict:
    """Window counts per class, and the subjects and sessions they come from."""
    return {"windows": len(w), "per_class": {name: int((w.y == i).sum()) for i, name in enumerate(w.label_names)},
            "subjects": sorted(set(w.subject.tolist())), "sessions": sorted(set(w.session.tolist()))}


def config_from_json(meta: dict) -> WindowConfig:
    """The WindowConfig a bundle's model.json records."""
    pre = PreprocessConfig.from_json(meta["preprocess"])
    select = meta["channels"]["select"]
    return WindowConfig(pre, meta["window"], meta["hop"], None if select is None else tuple(select))
