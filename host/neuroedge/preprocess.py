"""Preprocessing, run by the device's own C code on the host (ctypes), and windows.

PreprocessConfig is what a model bundle records: filter corners in Hz and the
Q15 coefficients derived from them (computed here, once, and stored, so the
board never needs floating-point exp()). `Preprocessor` runs
device/native/edgedl_preprocess.c built as a shared library, the same code as
`edgedl.Preprocess` on the board; tests prove the two bit-identical.
"""

from __future__ import annotations

import ctypes
import math
from dataclasses import asdict, dataclass, replace

import numpy as np

from .errors import InputError
from . import native


class SettingsError(InputError):
    """Preprocessing, window or training settings that cannot work; names the setting."""


# edgedl.Preprocess's features, bit i of its `features` mask (NE_FEAT_* in edgedl_preprocess.h).
FEATURES = ("log_mav", "log_wl", "zc", "ssc")
RING_DIFF = 1 << len(FEATURES)  # NE_FEAT_RING_DIFF: the features of neighbour differences too
GRID_CHANNELS = 32  # more channels than this: electrode grids (HD-EMG), fewer: an armband or a few pairs


def default_features(channels: int) -> tuple:
    """Measured (see the README): with a few bipolar channels (armbands) log2 MAV and log2 WL
    do as well as all four Hudgins features (LDA on real recordings: 88.0 vs 88.2 % on 3DC,
    80.0 vs 79.9 % on MyoDisCo); on electrode grids the spatial pattern carries the gesture and
    log2 MAV alone does best (compact CNN 99.3 % int8 on synthetic HD-EMG, 96.8 % with WL too)
    at half the board's memory per channel, which 192 channels need to fit an ESP32's heap."""
    return ("log_mav",) if channels > GRID_CHANNELS else ("log_mav", "log_wl")


def default_ring_differences(channels: int) -> bool:
    """Measured (see the README): on armbands (3-32 electrodes around the forearm) the
    differences between neighbours add what single amplitudes miss. Chosen on participants
    kept apart from the reported figures (LDA, int8, train -> test block / day 1 -> day 2):
    3DC P6-12 92.2 % with them vs 89.7 % without, MyoDisCo S6-12 64.8 vs 65.4 %. Grids are
    left to the CNN's convolutions, and two channels' difference would only repeat itself."""
    return 3 <= channels <= GRID_CHANNELS


@dataclass(frozen=True)
class PreprocessConfig:
    """What the board's edgedl.Preprocess does to the raw counts, in physical units.

    Two modes. Features (the default, see the README for how it was chosen): the 20 Hz
    high-passed signal is cut into blocks of `block_ms`, and each block gives one frame of
    time-domain features per channel (log2 MAV, log2 waveform length, zero crossings,
    slope sign changes). Filters: high-pass, rectify, envelope low-pass, then one frame
    kept in `decimate`."""

    highpass_hz: float = 20.0     # 0: off
    features: tuple | None = None  # None: by channel count (default_features), once it is known
    block_ms: float = 25.0        # features: block length; decimate, when set, counts it in frames
    threshold: int = 1            # counts a step must reach to count as a zero crossing / slope change
    rectify: bool = False
    envelope_hz: float = 0.0      # 0: off (raw or rectified samples)
    decimate: int | None = None   # frames per output frame; None: block_ms at the recording's rate
    ring_differences: bool | None = None  # features of channel c minus c + 1 too; None: off with chosen
                                          # features, with the default ones by channel count

    def __post_init__(self):
        for name in ("highpass_hz", "envelope_hz"):
            hz = getattr(self, name)
            if not (isinstance(hz, (int, float)) and math.isfinite(hz) and hz >= 0):
                raise SettingsError(f"{name} must be a frequency >= 0 Hz (0 = off), got {hz!r}")
        if not (isinstance(self.block_ms, (int, float)) and math.isfinite(self.block_ms) and self.block_ms > 0):
            raise SettingsError(f"block_ms must be a duration > 0 ms, got {self.block_ms!r}")
        # The upper bound is ne_pre_check's (decimate 1..256), reported by Preprocessor.
        if self.decimate is not None and not (isinstance(self.decimate, int) and self.decimate >= 1):
            raise SettingsError(f"decimate must be a whole number >= 1, got {self.decimate!r}")
        names = self.features or ()
        unknown = [f for f in names if f not in FEATURES]
        if unknown or len(set(names)) != len(names):
            raise SettingsError(f"features must be distinct names from {', '.join(FEATURES)}, got {self.features}")
        if self.features and (self.rectify or self.envelope_hz):
            raise SettingsError("features are computed from the high-passed signal: use them without rectify "
                                "and envelope")
        if self.ring_differences is None and self.features is not None:
            object.__setattr__(self, "ring_differences", False)  # features chosen by hand: as given
        if self.ring_differences and self.features == ():
            raise SettingsError("ring_differences are features of neighbour differences: they need features")
        if not (isinstance(self.threshold, int) and 0 <= self.threshold <= 32767):
            raise SettingsError(f"threshold must be 0..32767 counts, got {self.threshold!r}")

    def resolved(self, channels: int) -> "PreprocessConfig":
        """This config with its features and ring differences settled for `channels` channels."""
        features = self.features
        if features is None:
            features = () if self.rectify or self.envelope_hz else default_features(channels)
        ring = self.ring_differences
        if ring is None:
            ring = bool(features) and default_ring_differences(channels)
        return replace(self, features=features, ring_differences=ring)

    def _settled(self) -> tuple:
        if self.features is None or self.ring_differences is None:
            raise SettingsError("the default features depend on the channel count: use resolved(channels) first")
        return self.features

    def decimation(self, fs: float) -> int:
        """Raw frames per output frame at sampling rate fs."""
        self._settled()
        if self.decimate is not None:
            return self.decimate
        if not self.features:
            return 1
        return max(1, round(self.block_ms * fs / 1000))

    def values_per_channel(self) -> int:
        """Output values per input channel: its features (and its difference's with ring
        differences), 1 for filtered frames."""
        if not self._settled():
            return 1
        return len(self.features) * (2 if self.ring_differences else 1)

    def width(self, channels: int) -> int:
        """Values in one output frame."""
        return channels * self.values_per_channel()

    def difference_columns(self, channels: int) -> np.ndarray:
        """True for each value of an output frame that is a feature of a neighbour difference
        (a frame holds, per feature, the channels' values, then their differences')."""
        signals = channels * (2 if self.ring_differences else 1)
        return np.arange(self.width(channels)) % signals >= channels

    def first_frame(self, fs: float) -> int:
        """The raw frame (within its block) that an output frame stands for: feature frames
        are written at a block's last frame, filtered frames keep its first."""
        return self.decimation(fs) - 1 if self.features else 0

    def coefficients(self, fs: float) -> dict:
        """The integers edgedl.Preprocess takes at sampling rate fs."""
        for name, hz in (("high-pass", self.highpass_hz), ("envelope", self.envelope_hz)):
            # A corner at or above Nyquist makes a filter that does nothing useful, silently.
            if hz >= fs / 2:
                raise SettingsError(f"{name} corner {hz:g} Hz must be below the Nyquist frequency "
                                    f"{fs / 2:g} Hz of signals sampled at {fs:g} Hz")

        def pole(hz):
            return math.exp(-2 * math.pi * hz / fs)
        return {
            "highpass_q15": int(round(pole(self.highpass_hz) * 32768)) if self.highpass_hz > 0 else 0,
            "rectify": int(self.rectify),
            "envelope_q15": int(round((1 - pole(self.envelope_hz)) * 32768)) if self.envelope_hz > 0 else 0,
            "decimate": int(self.decimation(fs)),
            "features": sum(1 << FEATURES.index(f) for f in self._settled()) | (RING_DIFF if self.ring_differences
                                                                                else 0),
            "threshold": int(self.threshold),
        }

    def to_json(self, fs: float) -> dict:
        """Physical settings and the board's integers; "features" is the board's mask, the
        names are kept as "feature_names"."""
        settings = asdict(self)
        settings["feature_names"] = list(settings.pop("features"))
        return {**settings, **self.coefficients(fs)}

    @classmethod
    def from_json(cls, p: dict) -> "PreprocessConfig":
        """The config a bundle's model.json records (bundles before features had none)."""
        return cls(highpass_hz=p["highpass_hz"], features=tuple(p.get("feature_names", ())),
                   block_ms=p.get("block_ms", 25.0), threshold=p.get("threshold", 0), rectify=bool(p["rectify"]),
                   envelope_hz=p["envelope_hz"], decimate=p["decimate"],
                   ring_differences=bool(p.get("ring_differences", False)))


def _library():
    lib = ctypes.CDLL(str(native.build_host_library()))
    lib.ne_pre_check.argtypes = [ctypes.c_uint32, ctypes.c_int32, ctypes.c_int32, ctypes.c_int32, ctypes.c_uint32,
                                 ctypes.c_uint32, ctypes.c_int32]
    lib.ne_pre_init.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int32, ctypes.c_int32, ctypes.c_int32,
                                ctypes.c_uint32, ctypes.c_uint32, ctypes.c_int32, ctypes.c_void_p]
    lib.ne_log2_q10.argtypes = [ctypes.c_uint32]
    lib.ne_log2_q10.restype = ctypes.c_int32
    lib.ne_pre_process.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p]
    lib.ne_pre_process.restype = ctypes.c_uint32
    lib.ne_quantize_window.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int32, ctypes.c_int32,
                                       ctypes.c_int32, ctypes.c_void_p]
    lib.ne_column_means.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_void_p,
                                    ctypes.c_uint32]
    lib.ne_column_means.restype = ctypes.c_int32
    lib.ne_drift_apply.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_void_p]
    lib.ne_drift_track.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_void_p,
                                   ctypes.c_int32, ctypes.c_void_p]
    return lib


class _PreState(ctypes.Structure):
    # Mirrors ne_pre_t in edgedl_preprocess.h.
    _fields_ = [("channels", ctypes.c_uint32), ("highpass_q15", ctypes.c_int32), ("rectify", ctypes.c_int32),
                ("envelope_q15", ctypes.c_int32), ("decimate", ctypes.c_uint32), ("features", ctypes.c_uint32),
                ("threshold", ctypes.c_int32), ("signals", ctypes.c_uint32), ("width", ctypes.c_uint32),
                ("state", ctypes.c_void_p),
                ("phase", ctypes.c_uint32)]





class Preprocessor:
    """Streaming preprocessing of int16 frames, exactly as edgedl.Preprocess does it."""

    def __init__(self, channels: int, coefficients: dict):
        self.lib = _library()
        c = coefficients
        features, threshold = c.get("features", 0), c.get("threshold", 0)
        if self.lib.ne_pre_check(channels, c["highpass_q15"], c["rectify"], c["envelope_q15"], c["decimate"],
                                 features, threshold):
            raise SettingsError(f"invalid preprocessing for {channels} channels: {coefficients}")
        self.channels = channels
        self.decimate = c["decimate"]
        self._state = np.zeros(15 * channels, dtype=np.int32)  # the most NE_PRE_STATE_WORDS asks for
        self._pre = _PreState()
        self.lib.ne_pre_init(ctypes.byref(self._pre), channels, c["highpass_q15"], c["rectify"],
                             c["envelope_q15"], c["decimate"], features, threshold, self._state.ctypes.data)
        self.width = self._pre.width  # values per output frame

    def process(self, frames: np.ndarray) -> np.ndarray:
        """int16 frames (n, channels) -> the preprocessed frames the board's windows are made of."""
        frames = np.ascontiguousarray(frames, dtype=np.int16)
        if frames.ndim != 2 or frames.shape[1] != self.channels:
            raise ValueError(f"frames have shape {frames.shape}, expected (n, {self.channels})")
        out = np.empty(((len(frames) + self.decimate - 1) // self.decimate, self.width), dtype=np.int16)
        n = self.lib.ne_pre_process(ctypes.byref(self._pre), frames.ctypes.data, len(frames), out.ctypes.data)
        return out[:n]


def log2_q10(v: int) -> int:
    """1024 * log2(v), as the device computes it (ne_log2_q10)."""
    return _library().ne_log2_q10(v)


def quantize(values: np.ndarray, mult: int, shift: int, zero_point: int) -> np.ndarray:
    """int16 -> int8 exactly as edgedl.quantize (ne_quantize_window)."""
    values = np.ascontiguousarray(values, dtype=np.int16)
    out = np.empty(values.shape, dtype=np.int8)
    _library().ne_quantize_window(values.ctypes.data, values.size, mult, shift, zero_point, out.ctypes.data)
    return out
