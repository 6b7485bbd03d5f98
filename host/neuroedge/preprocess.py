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
from dataclasses import asdict, dataclass

import numpy as np

from . import native


class SettingsError(ValueError):
    """Preprocessing, window or training settings that cannot work; names the setting."""


@dataclass(frozen=True)
class PreprocessConfig:
    # Defaults: the envelope of the 20 Hz high-passed, rectified signal at 256 Hz
    # (see the README for how they were chosen).
    highpass_hz: float = 20.0     # 0: off
    rectify: bool = True
    envelope_hz: float = 8.0      # 0: off (raw or rectified samples)
    decimate: int = 8

    def __post_init__(self):
        for name in ("highpass_hz", "envelope_hz"):
            hz = getattr(self, name)
            if not (isinstance(hz, (int, float)) and math.isfinite(hz) and hz >= 0):
                raise SettingsError(f"{name} must be a frequency >= 0 Hz (0 = off), got {hz!r}")
        # The upper bound is ne_pre_check's (decimate 1..256), reported by Preprocessor.
        if not (isinstance(self.decimate, int) and self.decimate >= 1):
            raise SettingsError(f"decimate must be a whole number >= 1, got {self.decimate!r}")

    def coefficients(self, fs: float) -> dict:
        """Q15 integers for ne_pre_init at sampling rate fs."""
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
            "decimate": int(self.decimate),
        }

    def to_json(self, fs: float) -> dict:
        return {**asdict(self), **self.coefficients(fs)}


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
    return lib


class _PreState(ctypes.Structure):
    # Mirrors ne_pre_t in edgedl_preprocess.h.
    _fields_ = [("channels", ctypes.c_uint32), ("highpass_q15", ctypes.c_int32), ("rectify", ctypes.c_int32),
                ("envelope_q15", ctypes.c_int32), ("decimate", ctypes.c_uint32), ("features", ctypes.c_uint32),
                ("threshold", ctypes.c_int32), ("width", ctypes.c_uint32), ("state", ctypes.c_void_p),
                ("phase", ctypes.c_uint32)]


STATE_WORDS = 8  # NE_PRE_STATE_WORDS: int32 of filter state per channel


class Preprocessor:
    """Streaming preprocessing of int16 frames, exactly as edgedl.Preprocess does it."""

    def __init__(self, channels: int, coefficients: dict):
        self.lib = _library()
        c = coefficients
        features, threshold = c.get("features", 0), c.get("threshold", 0)
        if self.lib.ne_pre_check(channels, c["highpass_q15"], c["rectify"], c["envelope_q15"], c["decimate"],
                                 features, threshold):
            raise ValueError(f"invalid preprocessing for {channels} channels: {coefficients}")
        self.channels = channels
        self.decimate = c["decimate"]
        self._state = np.zeros(STATE_WORDS * channels, dtype=np.int32)
        self._pre = _PreState()
        self.lib.ne_pre_init(ctypes.byref(self._pre), channels, c["highpass_q15"], c["rectify"],
                             c["envelope_q15"], c["decimate"], features, threshold, self._state.ctypes.data)
        self.width = self._pre.width  # values per output frame

    def process(self, frames: np.ndarray) -> np.ndarray:
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
