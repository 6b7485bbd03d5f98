# What the lab's tools read from the board: velocity and every gesture's probability in a
# decision, LibEMG's messages, and the activity map for a live display. MicroPython; imported
# only when one of them is asked for, so its code takes no heap otherwise.
import time


def add_to_decision(rt, event, gesture):
    """What the runtime's settings ask a decision to carry: "velocity" (the window's level
    between the gesture's low and high levels in training, 0..1; 0 with no decision or a bundle
    without levels) and "probabilities" (the model's dequantized softmax, or a calibration's)."""
    if rt.velocity:
        v = rt.meta["velocity"]
        share = 0.0
        if gesture >= 0 and v is not None:
            low, high = v["low"][gesture], v["high"][gesture]
            share = min(1.0, max(0.0, (rt.level - low) / (high - low)))
        event["velocity"] = round(share, 2)
    if rt.probabilities:
        if rt.classifier is not None:
            event["probabilities"] = rt.classifier.probabilities()
        else:
            out, scale, zp = [], rt.out_scale, rt.out_zp
            for s in rt.scores:
                out.append(round(((s - 256 if s > 127 else s) - zp) * scale, 3))
            event["probabilities"] = out


def libemg_message(event, fmt, velocity):
    """A decision as LibEMG's OnlineEMGClassifier sends it: "<class index>[ <velocity>]\n" (-1:
    rejected), or "<p0> <p1> ...[ <velocity>] <timestamp>" (two decimals, seconds)."""
    v = ""
    if velocity:
        v = " %.2f" % event["velocity"] if event["index"] >= 0 else " 0"
    if fmt == "libemg":
        return "%d%s\n" % (event["index"], v)
    t = time.time_ns()  # integers: a board's single-precision float cannot hold seconds since 1970
    return " ".join(["%.2f" % p for p in event["probabilities"]]) + v + " %d.%06d" % (t // 1000000000,
                                                                                       t % 1000000000 // 1000)


def activity(app):
    """The activity map: each electrode's level in the latest window (its amplitude feature,
    e.g. 1024 x log2 MAV; null for a bundle without levels), the bad and masked channels, and
    the counters a live display shows."""
    rt = app.runtime
    q = rt.quality
    src = app.source.stats() if app.source else {}
    _, windows_per_s, latency = app.rates()
    counters = {"windows_per_s": windows_per_s,
                "latency_ms": [latency["mean"] / 1000 if latency["mean"] >= 0 else -1, latency["max"] / 1000],
                "frames_dropped": src.get("frames_dropped", 0),
                "frames_lost": src.get("frames_lost", 0) + src.get("link_packets_lost", 0),
                "buffer_free": src.get("buffer_free", -1)}
    return {"activity": list(rt.levels) if rt.levels is not None else None,
            "bad": q.bad() if q is not None else {}, "masked": list(rt.mask), "window": rt.windows,
            "counters": counters}
