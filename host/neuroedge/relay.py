"""`neuroedge relay --lsl`: the board's events as Lab Streaming Layer streams, for LabRecorder
and any LSL client (pylsl, whose wheel carries liblsl).

Three streams, named for the source (e.g. "NeuroEdge gestures"):

- ``NeuroEdge gestures`` (type Markers, one string channel): the decided gesture each time it
  changes ("none" for no decision), the way event markers are recorded next to the EMG;
- ``NeuroEdge decisions`` (type Control, float32): every decision's class index (-1: none),
  confidence and velocity, then every gesture's probability when the board sends them;
- ``NeuroEdge counters`` (type Status, float32): windows/s, mean and max latency (ms), frames
  dropped and lost, the amplifier's free buffer and the number of bad electrodes, with each
  activity map.

Samples are stamped with LSL's clock when the host receives them.
"""
from __future__ import annotations

import threading

from .errors import InputError

COUNTERS = ("windows_per_s", "latency_mean_ms", "latency_max_ms", "frames_dropped", "frames_lost", "buffer_free",
            "bad_electrodes")


def _pylsl():
    try:
        import pylsl
    except (ImportError, RuntimeError) as exc:  # RuntimeError: the wheel's liblsl did not load
        raise InputError(f"Lab Streaming Layer is not available here ({exc})") from None
    return pylsl


def _outlet(pylsl, name: str, kind: str, channels: list[str], fmt, source_id: str):
    info = pylsl.StreamInfo(name, kind, len(channels), pylsl.IRREGULAR_RATE, fmt, source_id)
    desc = info.desc().append_child("channels")
    for label in channels:
        desc.append_child("channel").append_child_value("label", label)
    info.desc().append_child_value("manufacturer", "NeuroEdge")
    return pylsl.StreamOutlet(info)


def decision_channels(labels: list[str]) -> list[str]:
    """The channel labels of the decisions stream."""
    return ["index", "confidence", "velocity"] + [f"p_{name}" for name in labels]


class LslRelay:
    """LSL outlets for a board whose gestures are `labels`; push(event) forwards one event."""

    def __init__(self, labels: list[str], source_id: str = "neuroedge"):
        pylsl = self.pylsl = _pylsl()
        self.labels = list(labels)
        self.markers = _outlet(pylsl, "NeuroEdge gestures", "Markers", ["gesture"], pylsl.cf_string,
                               f"{source_id}-gestures")
        self.decisions = _outlet(pylsl, "NeuroEdge decisions", "Control", decision_channels(self.labels),
                                 pylsl.cf_float32, f"{source_id}-decisions")
        self.counters = _outlet(pylsl, "NeuroEdge counters", "Status", list(COUNTERS), pylsl.cf_float32,
                                f"{source_id}-counters")
        self.last_gesture = object()
        self.pushed = {"markers": 0, "decisions": 0, "counters": 0}

    def push(self, event: dict) -> None:
        """One event to its streams: a decision (a marker when the gesture changes), or the
        counters of an activity map."""
        if "index" in event:
            gesture = event["gesture"] if event["gesture"] is not None else "none"
            if gesture != self.last_gesture:
                self.markers.push_sample([gesture])
                self.last_gesture = gesture
                self.pushed["markers"] += 1
            probabilities = event.get("probabilities") or [float("nan")] * len(self.labels)
            self.decisions.push_sample([float(event["index"]), float(event["confidence"]),
                                        float(event.get("velocity", float("nan")))] + [float(p) for p in probabilities])
            self.pushed["decisions"] += 1
        elif "activity" in event:
            c = event.get("counters") or {}
            latency = c.get("latency_ms") or [float("nan"), float("nan")]
            self.counters.push_sample([float(c.get("windows_per_s", float("nan"))), float(latency[0]), float(latency[1]),
                                       float(c.get("frames_dropped", 0)), float(c.get("frames_lost", 0)),
                                       float(c.get("buffer_free", -1)), float(len(event.get("bad") or {}))])
            self.pushed["counters"] += 1

    def run(self, events, stop: threading.Event) -> dict:
        """Forwards events until they end or `stop` is set; the counts pushed per stream."""
        for event in events(stop):
            self.push(event)
            if stop.is_set():
                break
        return self.pushed
