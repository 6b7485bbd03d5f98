# Calibration on the board: a short cued session re-fits the classifier to today's
# electrodes, in closed form, without the host's training stack.
#
#   session = Session(runtime, gestures, seconds, fs)  # the cue schedule, in raw frames
#   runtime.collector = session                       # every window: session.add(...)
#   result = session.finish()                         # fit, check, before/after accuracy
#
# What adapts: the classifier on top of the model. For an LDA bundle, the whole model: its
# features are the window's mean feature blocks (what the bundle's int8 graph averages).
# For a CNN bundle, the classifier head: its features are the network's embedding (the int8
# input of its last FULLY_CONNECTED -> SOFTMAX), the feature extractor stays as deployed.
# Per gesture the session keeps a count and a sum, and one scatter matrix shared by all
# gestures, so memory is O(features^2), whatever the session's length. The fit is shrinkage LDA: the pooled
# within-gesture covariance, standardised, shrunk towards the identity by the OAS rule
# (Chen et al. 2010, which needs only the covariance itself), solved by Cholesky.
# A few windows per gesture are kept (evenly spread, at most EVAL_PER_GESTURE) to score
# the old and the new classifier on the same calibration data.
#
# Plain Python for MicroPython and CPython alike (the host measures with this module).
import array
import gc
import json
import math
import os
import time

FORMAT = "neuroedge-calibration-1"
FILE = "calibration.json"     # beside model.json in the bundle folder
SETTLE_S = 1.0                # seconds of each cue skipped: the person reacts and reaches the gesture
MIN_WINDOWS = 10              # usable windows a gesture needs
MIN_ACTIVITY = 512            # Q10 log2 units (x1.41 in amplitude) a gesture must rise above rest
EVAL_PER_GESTURE = 6          # windows per gesture kept to score before / after
# Free heap a session must leave once its arrays are made: the app goes on streaming and
# sending events, the fit and the save allocate (the 8-channel CNN app went from 20 kB free
# to 18 kB at the fit; a session that left none stopped the app at its next event).
MIN_FREE_HEAP = 8 * 1024
REST = "rest"
_mem_free = getattr(gc, "mem_free", None)  # MicroPython's; CPython (the host's measurements) has none


class CalibrationError(ValueError):
    pass


def window_mean(win, width, out):
    """The mean over a window's frames of each of its `width` values (int16, time-major)."""
    frames = len(win) // width
    for j in range(width):
        s = 0
        for i in range(j, len(win), width):
            s += win[i]
        out[j] = s / frames


def window_activity(win, width, columns):
    """The mean over a window's frames and the given columns (the channels' log2 MAV)."""
    s = 0
    for j in columns:
        for i in range(j, len(win), width):
            s += win[i]
    return s / (len(columns) * (len(win) // width))


class LinearClassifier:
    """scores = coef @ features + intercept; the confidence is the softmax of the best."""

    def __init__(self, coef, intercept):
        self.coef = coef              # one array('f') of `width` weights per gesture
        self.intercept = intercept    # array('f'), one per gesture
        self.width = len(coef[0])
        self.scores = array.array("f", bytes(4 * len(intercept)))
        self.top = 0.0

    def classify_features(self, f):
        """(best gesture, its softmax probability) for the window features f."""
        w, scores = self.width, self.scores
        best, top = 0, None
        for k in range(len(scores)):
            s, row = self.intercept[k], self.coef[k]
            for j in range(w):
                s += row[j] * f[j]
            scores[k] = s
            s = scores[k]  # as stored (float32): the softmax below must see the same numbers
            if top is None or s > top:
                best, top = k, s
        total = 0.0
        for s in scores:
            total += math.exp(s - top)
        self.top = top
        return best, 1.0 / total

    def probabilities(self):
        """Every gesture's softmax probability for the features classify_features saw last."""
        exps = [math.exp(s - self.top) for s in self.scores]
        total = sum(exps)
        return [round(e / total, 3) for e in exps]


def _cholesky_solve(a, d, rhs):
    """Solves a x = b in place for each row array b of rhs, a symmetric positive definite
    (a list of d row arrays, overwritten by its Cholesky factor in the lower triangle)."""
    for j in range(d):
        aj = a[j]
        s = aj[j]
        for k in range(j):
            s -= aj[k] ** 2
        if s <= 0:
            raise CalibrationError("the features' covariance is singular: are all channels connected?")
        aj[j] = math.sqrt(s)
        for i in range(j + 1, d):
            ai = a[i]
            s = ai[j]
            for k in range(j):
                s -= ai[k] * aj[k]
            ai[j] = s / aj[j]
    for y in rhs:
        for i in range(d):
            ai = a[i]
            s = y[i]
            for k in range(i):
                s -= ai[k] * y[k]
            y[i] = s / ai[i]
        for i in range(d - 1, -1, -1):
            s = y[i]
            for k in range(i + 1, d):
                s -= a[k][i] * y[k]
            y[i] = s / a[i][i]


def _floats(n):
    return array.array("f", bytes(4 * n))


def _rows(typecode, count, n):
    """count arrays of n zeros, made from one zero buffer into a list of its final size: a
    temporary beside each array (its own zero bytes, a list growing) would leave a hole next to
    every one of them for as long as the session lives, and a heap of small holes cannot give
    the app the few hundred bytes it asks for later."""
    zeros = bytes(n * (4 if typecode == "f" else 2))
    out = [None] * count
    for i in range(count):
        out[i] = array.array(typecode, zeros)
    return out


class Statistics:
    """Per gesture a count and a sum, and one shared scatter of the windows around a reference
    per gesture (its first window: keeps float32 sums of Q10 values away from cancellation).
    Every array, the fit's work space too, is made here at once, and none is bigger than a
    row of `width` floats: a board's heap after hours of running has room in many small
    pieces, rarely in one big one."""

    def __init__(self, gestures, width):
        w = self.width = width
        self.gestures = gestures
        self.count = [0] * gestures
        self.ref = _rows("f", gestures, w)
        self.sum = _rows("f", gestures, w)
        self.scatter = _rows("f", w, w)   # upper triangle; fit() turns it into the factor
        self.diff = _floats(w)
        self.scale = _floats(w)

    def add(self, k, f):
        w, ref, s, d = self.width, self.ref[k], self.sum[k], self.diff
        if not self.count[k]:
            for j in range(w):
                ref[j] = f[j]
        for j in range(w):
            d[j] = f[j] - ref[j]
            s[j] += d[j]
        for i in range(w):
            di, row = d[i], self.scatter[i]
            for j in range(i, w):
                row[j] += di * d[j]
        self.count[k] += 1

    def fit(self):
        """Shrinkage LDA on what was added: (LinearClassifier with equal priors, shrinkage).
        Works in place: the statistics are used up (scatter -> covariance -> its factor,
        ref -> means, sum -> discriminants), so a board needs no second copy of them."""
        w, cov, scale = self.width, self.scatter, self.scale
        classes = [k for k in range(self.gestures) if self.count[k]]
        n = sum(self.count)
        for i in range(w):
            for j in range(i + 1, w):
                cov[j][i] = cov[i][j]
        for k in classes:  # scatter around each gesture's own mean: minus n_k m m^T (m: mean - ref)
            nk, s = self.count[k], self.sum[k]
            for i in range(w):
                si, row = s[i] / nk, cov[i]
                for j in range(w):
                    row[j] -= si * s[j]
        dof = max(1, n - len(classes))
        for i in range(w):
            scale[i] = math.sqrt(max(cov[i][i] / dof, 1e-6))
        tr2 = 0.0
        for i in range(w):
            row = cov[i]
            for j in range(w):
                row[j] /= dof * scale[i] * scale[j]
                tr2 += row[j] * row[j]
        # OAS shrinkage of the standardised covariance (trace w) towards the identity.
        denominator = (n + 1 - 2 / w) * (tr2 - w)
        shrink = 1.0 if denominator <= 0 else min(1.0, ((1 - 2 / w) * tr2 + w * w) / denominator)
        for i in range(w):
            row = cov[i]
            for j in range(w):
                row[j] *= 1 - shrink
            row[i] += shrink
        for k in classes:
            means, s = self.ref[k], self.sum[k]
            for j in range(w):
                means[j] += s[j] / self.count[k]
                s[j] = means[j] / scale[j]
        solved = [self.sum[k] for k in classes]
        _cholesky_solve(cov, w, solved)
        coef = [_floats(w) for _ in range(self.gestures)]
        intercept = _floats(self.gestures)
        for k in range(self.gestures):
            intercept[k] = -1e30  # a gesture not calibrated is never chosen
        for r in range(len(classes)):
            k, b = classes[r], 0.0
            for j in range(w):
                c = coef[k][j] = solved[r][j] / scale[j]
                b += c * self.ref[k][j]
            intercept[k] = -0.5 * b
        self.count = [0] * self.gestures  # used up
        return LinearClassifier(coef, intercept), shrink


class Session:
    """The cue schedule of a calibration session and what it collects: gesture i of the list
    is cued for `seconds` from raw frame i x frames_per_cue; windows ending in the first
    SETTLE_S of a cue are not used. width: the classifier's features per window;
    activity_columns: the frame columns (of frame_width) that say how active a window is."""

    def __init__(self, labels, width, fs, gestures=None, seconds=5, activity_columns=None, raw_hop=1,
                 frame_width=None):
        gestures = list(gestures or labels)
        unknown = [g for g in gestures if g not in labels]
        if unknown or not gestures or len(set(gestures)) != len(gestures):
            raise CalibrationError("gestures must be distinct names the model knows (%s), got %s"
                                   % (", ".join(labels), gestures))
        if not (isinstance(seconds, (int, float)) and SETTLE_S + 0.5 <= seconds <= 60):
            raise CalibrationError("seconds per gesture must be %g..60, got %r" % (SETTLE_S + 0.5, seconds))
        self.labels, self.gestures, self.seconds = labels, gestures, seconds
        self.frames_per_cue = int(seconds * fs)
        self.frames = self.frames_per_cue * len(gestures)
        self.settle = int(SETTLE_S * fs)
        self.width = width
        self.frame_width = frame_width or width
        self.activity_columns = activity_columns or ()  # log2 MAV columns of the channels
        # Per gesture, the sum of its windows' activity: stored in place (a list of floats would
        # leave a new float object on the heap at every window, pinning holes between garbage).
        self.activity = array.array("f", bytes(4 * len(labels)))
        self.stats = Statistics(len(labels), width)
        usable = (self.frames_per_cue - self.settle) // raw_hop  # windows per cue
        self.eval_every = max(1, usable // EVAL_PER_GESTURE)
        # Windows kept to score old and new classifier: features, gesture, old prediction.
        self.kept_features = _rows("h", EVAL_PER_GESTURE * len(gestures), width)
        self.kept_gesture = bytearray(EVAL_PER_GESTURE * len(gestures))
        self.kept_old = bytearray(EVAL_PER_GESTURE * len(gestures))
        self.kept_per_gesture = [0] * len(labels)
        self.kept = 0
        self.cued = -1
        self.least_free = None  # free heap at the session's fullest points (all its arrays made, fit done)

    def note_heap(self):
        """Free heap after a collection (without one, mem_free counts garbage as used)."""
        if _mem_free is not None:
            gc.collect()
            free = _mem_free()
            if self.least_free is None or free < self.least_free:
                self.least_free = free

    def cue(self, i):
        return {"event": "cue", "gesture": self.gestures[i], "cue": i + 1, "of": len(self.gestures),
                "seconds": self.seconds, "raw_frame": i * self.frames_per_cue}

    def cue_at(self, raw_frame):
        """The cue event to show when the signal reaches raw_frame, or None."""
        i = min(raw_frame // self.frames_per_cue, len(self.gestures) - 1)
        if i > self.cued:
            self.cued = i
            return self.cue(i)
        return None

    def add(self, win, f, raw_frame, predicted):
        """A window of the session: its frames, its features, its last raw frame, the running
        classifier's choice."""
        i = raw_frame // self.frames_per_cue
        if i >= len(self.gestures) or raw_frame - i * self.frames_per_cue < self.settle:
            return
        k = self.labels.index(self.gestures[i])
        self.stats.add(k, f)
        if self.activity_columns:
            self.activity[k] += window_activity(win, self.frame_width, self.activity_columns)
        if (self.stats.count[k] - 1) % self.eval_every == 0 and self.kept_per_gesture[k] < EVAL_PER_GESTURE:
            kept = self.kept_features[self.kept]
            for j in range(self.width):
                kept[j] = round(f[j])  # Q10 log2 or int8 steps (signed): rounding to 1 is enough
            self.kept_gesture[self.kept], self.kept_old[self.kept] = k, predicted
            self.kept_per_gesture[k] += 1
            self.kept += 1

    def _activity(self, k):
        if not self.activity_columns or not self.stats.count[k]:
            return None
        return self.activity[k] / self.stats.count[k]

    def finish(self):
        """Fits and checks: a dict with the new classifier (None when there is nothing to
        apply), accuracy before / after on the kept windows, and the problems found."""
        problems = []
        counts = {}
        for g in self.gestures:
            k = self.labels.index(g)
            counts[g] = self.stats.count[k]
            if self.stats.count[k] < MIN_WINDOWS:
                problems.append("%s: %d usable windows, at least %d needed (a longer cue, or a hop "
                                "that gives more windows)" % (g, self.stats.count[k], MIN_WINDOWS))
        rest = self._activity(self.labels.index(REST)) if REST in self.gestures else None
        if rest is not None:
            for g in self.gestures:
                level = self._activity(self.labels.index(g))
                if g != REST and level is not None and level - rest < MIN_ACTIVITY:
                    problems.append("%s: no more activity than rest (%.2f log2 units above it, %.2f needed): "
                                    "was the gesture performed?" % (g, (level - rest) / 1024, MIN_ACTIVITY / 1024))
        result = {"gestures": self.gestures, "windows": counts, "problems": problems, "classifier": None,
                  "accuracy_before": None, "accuracy_after": None, "shrinkage": None}
        if sum(1 for g in self.gestures if counts[g]) < 2:
            problems.append("at least two gestures with windows are needed to fit a classifier")
            return result
        try:
            clf, shrink = self.stats.fit()
        except CalibrationError as exc:
            problems.append(str(exc))
            return result
        self.note_heap()
        before = after = 0
        for i in range(self.kept):
            k = self.kept_gesture[i]
            before += self.kept_old[i] == k
            after += clf.classify_features(self.kept_features[i])[0] == k
        n = max(1, self.kept)
        result.update(classifier=clf, shrinkage=round(shrink, 4), accuracy_before=round(before / n, 4),
                      accuracy_after=round(after / n, 4), evaluated_windows=self.kept)
        if after < before:
            problems.append("the new classifier scores %.1f %% on the calibration windows, the running one "
                            "%.1f %%: kept the running one" % (100 * after / n, 100 * before / n))
        return result


def save(path, classifier, info):
    """Writes the calibrated classifier atomically (the old file or the new, never half)."""
    record = {"format": FORMAT}
    record.update(info)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:  # the coefficients a row at a time: a whole list of floats takes heap
        f.write(json.dumps(record)[:-1] + ', "coef": [')
        for i in range(len(classifier.coef)):
            f.write((", " if i else "") + json.dumps([round(v, 9) for v in classifier.coef[i]]))
        f.write('], "intercept": %s}' % json.dumps([round(v, 6) for v in classifier.intercept]))
    try:
        os.rename(tmp, path)
    except OSError:
        os.remove(path)  # FAT refuses to rename over a file
        os.rename(tmp, path)


def load(path, labels, width):
    """(LinearClassifier, the record) from a calibration file; (None, None) when there is
    none. CalibrationError names what is wrong with a file that does not fit the model."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return None, None
    try:
        record = json.loads(text)
    except ValueError:
        raise CalibrationError("%s: not valid JSON" % path)
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise CalibrationError("%s: not a %s file" % (path, FORMAT))
    if record.get("labels") != labels:
        raise CalibrationError("%s: made for gestures %s, the model has %s" % (path, record.get("labels"), labels))
    coef, intercept = record.get("coef"), record.get("intercept")
    if (not isinstance(coef, list) or len(coef) != len(labels) or not isinstance(intercept, list)
            or len(intercept) != len(labels)):
        raise CalibrationError("%s: coef and intercept must have one row per gesture" % path)
    rows = []
    for row in coef:
        if not isinstance(row, list) or len(row) != width or not all(_finite(v) for v in row):
            raise CalibrationError("%s: every coef row must hold %d finite numbers" % (path, width))
        rows.append(array.array("f", row))
    if not all(_finite(v) for v in intercept):
        raise CalibrationError("%s: intercept must hold finite numbers" % path)
    del record["coef"], record["intercept"]  # the arrays hold them; the lists would only take heap
    return LinearClassifier(rows, array.array("f", intercept)), record


def _finite(v):
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and v - v == 0


# -- the session on a running app (app.App.calibrate / calibrate_reset) --------------------------
def run_session(self, gestures=None, seconds=5, force=False, stamp=None, data_bytes=None, end=None):
    """A calibration session: each gesture is cued in turn for `seconds` (cue events on the
    console and the configured output), the windows of its steady part (after the first
    second) are collected, and a new classifier is fitted from their statistics. It is
    applied and saved beside the bundle (calibration.json, used after a reboot too) unless
    a problem was found (too few windows, a gesture no stronger than rest, a result worse
    than the running classifier on the calibration windows); force=True applies it anyway.
    The signal comes from the configured source, or, with data_bytes and end, from the host
    over the USB console (`neuroedge calibrate --from-recording`). Returns the result."""
    rt = self.runtime
    width, columns = rt.calibration_setup()
    gc.collect()
    try:
        session = Session(rt.labels, width, rt.meta["fs"], gestures, seconds, columns,
                          raw_hop=rt.hop * rt.decimate, frame_width=rt.width)
        session.note_heap()
    except MemoryError:
        session = None
    if session is None or (session.least_free is not None and session.least_free < MIN_FREE_HEAP):
        free = session.least_free if session is not None else 0
        session = None
        gc.collect()
        raise CalibrationError("not enough heap for a calibration session of %d features: %s, %d B needed to go "
                               "on streaming (a bundle with fewer features, or a board with more RAM)"
                               % (width, "%d B free once its arrays are made" % free if free else
                                  "its arrays did not fit", MIN_FREE_HEAP))
    with self.tuning:
        rt.collector = self.session = session
    t0 = time.ticks_ms()
    session.cued = 0
    self._cue(session.cue(0))
    try:
        if data_bytes is not None:
            self.serve_usb(frames=session.frames, data_bytes=data_bytes, end=end)
        else:
            _run_for(self, session.frames)
    finally:
        with self.tuning:
            rt.collector = self.session = None
    gc.collect()  # the session's work arrays next, into one piece of heap
    result = session.finish()
    # The statistics are used up and the kept windows scored: their many small arrays go
    # before the save, which wants pieces of a few hundred bytes.
    session.stats = session.kept_features = None
    gc.collect()
    classifier = result.pop("classifier")
    applied = classifier is not None and (force or not result["problems"])
    if applied:
        info = {"labels": rt.labels, "stamp": stamp, "gestures": session.gestures, "seconds": seconds,
                "windows": result["windows"], "accuracy_before": result["accuracy_before"],
                "accuracy_after": result["accuracy_after"], "forced": bool(force and result["problems"])}
        save(rt.calibration_path(), classifier, info)
        with self.tuning:
            rt.use_classifier(classifier, info)
    result.update(applied=applied, seconds_taken=time.ticks_diff(time.ticks_ms(), t0) / 1000,
                  heap_free_least=session.least_free)
    return result

def reset(self):
    """Back to the deployed model: the calibration file goes, the bundle's model runs."""
    import os

    rt = self.runtime
    try:
        os.remove(rt.calibration_path())
    except OSError:
        pass
    with self.tuning:
        rt.use_classifier(None, None)
    return self.classifier()

def _run_for(self, frames):
    """Runs the configured source in the foreground for `frames` raw frames (pausing the
    background app and resuming it after)."""
    if self.cfg["source"]["kind"] == "usb":
        raise CalibrationError("the board's source is usb: the host sends the signal "
                                           "(`neuroedge calibrate --from-recording`)")
    resume = self.background
    if resume:
        self.stop()
        while self.background:
            time.sleep_ms(10)
    try:
        self.run(frames=frames)
    finally:
        if resume:
            self.start()
