"""Proportional control: how strong a contraction is, 0..1, per decision.

A window's *level* is the mean of its electrodes' amplitude feature (1024 x log2 MAV, or log2 WL,
or the envelope of filtered frames), computed by the board's own C (``ne_column_means``, through
ctypes here). For each gesture, the training windows' levels give a low and a high level by
LibEMG's ``add_velocity`` rule (low = min + 10 % of the range, high = min + 70 %); the board
reports ``(level - low) / (high - low)``, clipped to 0..1. In log units a contraction twice as
strong is one step of 1024, whatever the electrode's gain.
"""
from __future__ import annotations

import numpy as np

from .preprocess import _library

LOW_SHARE, HIGH_SHARE = 0.1, 0.7  # LibEMG's thresholds, as shares of a gesture's training range


def level_columns(features: tuple, rectified: bool, channels: int) -> int | None:
    """How many leading columns of a frame are the electrodes' amplitude (None: no amplitude
    in the frames, e.g. rates only, or unrectified filtered signals)."""
    if features:
        return channels if features[0].startswith("log_") else None
    return channels if rectified else None


def window_levels(x: np.ndarray, columns: int) -> np.ndarray:
    """Each window's level: (n, window, width) int16 -> (n,) float, as the board computes it."""
    lib = _library()
    x = np.ascontiguousarray(x, dtype=np.int16)
    out = np.empty(columns, dtype=np.int16)
    n, frames, width = x.shape
    sums = [lib.ne_column_means(x[i].ctypes.data, frames, width, out.ctypes.data, columns) for i in range(n)]
    return np.array(sums, dtype=np.float64) / columns


def gesture_activity(x: np.ndarray, y: np.ndarray, classes: int, columns: int) -> np.ndarray:
    """(classes, columns): each gesture's mean level per electrode over its windows (the
    bundle's activity maps)."""
    per_window = x[:, :, :columns].mean(axis=1)
    return np.array([per_window[y == k].mean(axis=0) if (y == k).any() else np.zeros(columns)
                     for k in range(classes)])


def gesture_levels(x: np.ndarray, y: np.ndarray, classes: int, columns: int) -> dict:
    """model.json's "velocity": {"columns", "low", "high"} from training windows and labels."""
    levels = window_levels(x, columns)
    low, high = [], []
    for k in range(classes):
        mine = levels[y == k]
        lo, hi = (float(mine.min()), float(mine.max())) if len(mine) else (float(levels.min()), float(levels.max()))
        span = max(hi - lo, 1.0)  # a gesture seen at one level still gets a usable range
        low.append(round(lo + LOW_SHARE * span, 2))
        high.append(round(lo + HIGH_SHARE * span, 2))
    return {"columns": columns, "low": low, "high": high}
