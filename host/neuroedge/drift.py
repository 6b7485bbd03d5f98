"""Drift tracking: the board follows a new session's shift of the features without labels.

Between sessions the electrodes sit a little elsewhere and the skin couples differently; in
log2 feature units every gesture's features then move by about the same amount. After each
decision the board moves a per-column offset a step towards (the window's mean features minus
the decided class's training mean) and reads the next windows with the offsets taken off
(edgedl.drift_apply / drift_track, the C in device/native/edgedl_preprocess.c, also run here
through ctypes). Comparing each window with its own class's mean is what keeps a gesture held
for seconds from pulling the offsets: a plain running mean of the features would (it lost 20
points on 3DC, whose test block holds each gesture for seconds).

Chosen on real recordings of participants kept apart from the README's table (int8-exact
integer model, LDA, day 1 -> day 2 / train -> test block): MyoDisCo S6-12 64.8 -> 67.2 %,
3DC P6-12 92.2 -> 93.6 %; steps of 1/32, 1/64 and 1/128 did alike, 1/64 is the default.

    drift = settings(train_w)                        # class means + rate, model.json's "drift"
    pred = tracked(test_w.x, classify, drift)        # windows in stream order
"""

from __future__ import annotations

from functools import cache
from typing import Callable

import numpy as np

from . import preprocess

RATE_SHIFT = 6  # a step of 1/64 of the difference per decision (about 3 s of decisions at a 50 ms hop)


@cache
def _library():
    return preprocess._library()  # once: tracking calls it twice a window


def class_means(x: np.ndarray, y: np.ndarray, classes: int) -> np.ndarray:
    """(classes, width) int16: each class's mean feature values over its training windows (the
    mean of all windows for a class without any)."""
    per_window = x.astype(np.float64).mean(axis=1)
    means = np.empty((classes, x.shape[2]))
    for k in range(classes):
        means[k] = per_window[y == k].mean(0) if (y == k).any() else per_window.mean(0)
    return np.clip(np.round(means), -32768, 32767).astype(np.int16)


def settings(x: np.ndarray, y: np.ndarray, classes: int, rate_shift: int = RATE_SHIFT) -> dict:
    """model.json's "drift": the training windows' class means and the step."""
    return {"rate_shift": rate_shift, "class_means": class_means(x, y, classes).tolist()}


def apply(window: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """A (frames, width) int16 window with the offsets (Q8, int32) taken off, as edgedl.drift_apply."""
    out = np.ascontiguousarray(window, dtype=np.int16).copy()
    _library().ne_drift_apply(out.ctypes.data, out.shape[0], out.shape[1], offsets.ctypes.data)
    return out


def track(window: np.ndarray, means: np.ndarray, index: int, rate_shift: int, offsets: np.ndarray) -> None:
    """One step of edgedl.drift_track on an applied window (offsets: int32, updated in place)."""
    window = np.ascontiguousarray(window, dtype=np.int16)
    row = np.ascontiguousarray(means[index], dtype=np.int16)
    _library().ne_drift_track(window.ctypes.data, window.shape[0], window.shape[1], row.ctypes.data, rate_shift,
                              offsets.ctypes.data)


def stream_starts(w) -> list[int]:
    """Where each recording's windows begin in Windows w (a new subject or session): each is a
    stream of its own, and tracking starts afresh there, as a board does on a new signal."""
    key = np.char.add(w.subject.astype(str), np.char.add("/", w.session.astype(str)))
    return [0] + [int(i) + 1 for i in np.flatnonzero(key[1:] != key[:-1])]


def tracked(x: np.ndarray, classify: Callable[[np.ndarray], int], drift: dict, starts=(0,)) -> np.ndarray:
    """Class indices for windows x (n, frames, width) int16 in stream order, each classified
    (classify: one applied window -> class index) with the offsets the ones before it left;
    the offsets start again at each index in starts."""
    means = np.asarray(drift["class_means"], dtype=np.int16)
    offsets = np.zeros(x.shape[2], np.int32)
    out = np.empty(len(x), np.int64)
    starts = set(starts)
    for i, window in enumerate(x):
        if i in starts:
            offsets[:] = 0
        applied = apply(window, offsets)
        out[i] = classify(applied)
        track(applied, means, int(out[i]), drift["rate_shift"], offsets)
    return out
