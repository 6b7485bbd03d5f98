# The real-time gesture runtime: frames -> preprocessing -> windows -> int8
# model -> vote -> gesture events. MicroPython; runs unchanged on a board and
# in the emulator.
#
#   rt = Runtime('model')            # a bundle folder: model.json + model.tflite
#   rt.feed(block)                   # array('h') of raw frames (the model's channels)
#   rt.last_event                    # the latest decision (also printed as a JSON line / sent)
#
# A decision carries, when asked: "velocity" (proportional control: the window's amplitude
# between the decided gesture's rest and strong levels in training, 0..1, as LibEMG's
# add_velocity scales it), "probabilities" (every gesture's), and with `reject` a window
# below the threshold is no decision (index -1, gesture null) instead of rest.
#
# A calibration made on the board (calibration.py) replaces the classifier: a linear
# classifier on the window's mean features (LDA bundles) or on the network's embedding (CNN
# bundles), kept in calibration.json beside the bundle and used from then on, also after a
# reboot, until calibrate_reset().
#
# All buffers are allocated here, once; feed() allocates only for the event
# it emits. A bundle the device cannot honour is refused with a reason.
import array
import gc
import json
import sys
import time

import edgedl
from protocol import CHUNK, THRESHOLD, VOTE
MAX_CALIBRATION_WIDTH = 64  # features a calibration fits: its scatter matrix grows with the square


def lab_module():
    """lab.py, imported when a setting asks for it: from the thread that changes settings (the
    REPL's, at start-up the app's), never from a board loop's thread, whose small stack an
    import can overflow (the unix port then dies with SIGSEGV)."""
    import lab

    return lab


def best_of(scores):
    """(index, value) of the largest int8 in a buffer of int8 outputs, the first on a tie:
    the decision, here and in infer_batch's tracked evaluation alike."""
    best, top = 0, -129
    for i in range(len(scores)):
        v = scores[i] - 256 if scores[i] > 127 else scores[i]
        if v > top:
            best, top = i, v
    return best, top


class BundleError(ValueError):
    """A bundle this board cannot run: the message names the file and the field."""


def load_bundle(path):
    name = path + "/model.json"
    try:
        with open(name) as f:
            meta = json.load(f)
    except OSError:
        raise BundleError("%s: no model.json" % path)
    except ValueError:
        raise BundleError("%s: not valid JSON" % name)
    # model.json's rules (shared with the host) are needed only here: unloaded after, so
    # their code does not keep a few kB of the board's heap.
    import bundle_rules
    try:
        try:
            bundle_rules.check(meta)
        except bundle_rules.BundleError as exc:
            raise BundleError("%s: %s" % (name, exc))
        # Keep what the board uses; the training summary and metrics would only take heap.
        meta = {k: meta.get(k) for k in ("labels", "fs", "channels", "window", "hop", "preprocess", "input",
                                         "output", "architecture", "velocity", "grids", "drift")}  # the last 4 optional
        meta["frame_width"] = bundle_rules.frame_width(meta)
        gc.collect()  # the big blocks next, into the space model.json's objects left
        try:
            model, meta["model_file_bytes"] = bundle_rules.load_model(path + "/model.tflite", edgedl)
        except OSError:
            raise BundleError("%s: no model.tflite" % path)
        try:
            bundle_rules.matches(meta, model)
        except bundle_rules.BundleError as exc:
            raise BundleError("%s: %s" % (path, exc))
    finally:
        del sys.modules["bundle_rules"]
    return meta, model


class Runtime:
    def __init__(self, bundle, vote=VOTE, threshold=THRESHOLD, fs=None, channels=None, on_event=None, echo=False):
        self.bundle = bundle
        self.meta, self.model = load_bundle(bundle)
        meta = self.meta
        self.labels = meta["labels"]
        self.window, self.hop = meta["window"], meta["hop"]
        self.channels = meta["channels"]["count"]
        if fs is not None and fs != meta["fs"]:
            raise BundleError("the stream runs at %s Hz, the model was trained at %s Hz" % (fs, meta["fs"]))
        if channels is not None and channels != self.channels:
            raise BundleError("the stream delivers %d channels, the model expects %d" % (channels, self.channels))
        p = meta["preprocess"]
        self.pre = edgedl.Preprocess(self.channels, highpass_q15=p["highpass_q15"], rectify=bool(p["rectify"]),
                                     envelope_q15=p["envelope_q15"], decimate=p["decimate"],
                                     features=p.get("features", 0), threshold=p.get("threshold", 0))
        # A preprocessed frame: one value per channel, or one per channel and feature
        # (feature-major: every channel's first feature, then every channel's second, ...).
        self.width = meta["frame_width"]
        if self.pre.width != self.width:
            raise BundleError("frame_width %d does not match the preprocessing's %d values per frame"
                              % (self.width, self.pre.width))
        # feed() pushes at most ceil(CHUNK / decimate) frames before reading every ready window.
        self.decimate = p["decimate"]
        kept = (CHUNK + self.decimate - 1) // self.decimate
        self.capacity = self.window + kept
        self.frames = edgedl.Stream(self.width, self.window, hop=self.hop, capacity=self.capacity)
        self.pushed = 0        # preprocessed frames pushed so far
        self.origin = 0        # ... when self.frames was made (a hop change makes a new one)
        self.stream_windows = 0
        self.mask = self.mask_columns = self.user_mask = ()
        q = meta["input"]["from_counts"]
        self.q_mult, self.q_shift, self.q_zp = q["mult"], q["shift"], q["zero_point"]
        out_scale, self.out_zp = self.model.output_quantization
        self.out_scale = out_scale
        classes = self.model.output_shape[-1]
        self.win = array.array("h", bytes(2 * self.window * self.width))
        self.qin = bytearray(self.window * self.width)
        self.scores = bytearray(classes)
        self.block = array.array("h", bytes(2 * kept * self.width))
        self.vote = vote
        self.threshold = threshold
        self.reject = self.velocity = self.probabilities = False
        self.lab = None  # lab.py while a decision carries velocity or probabilities
        # The window's per-electrode level (its amplitude feature's mean): velocity and the
        # activity map read it; the bundle says which columns ("velocity": {"columns": n, ...}).
        v = meta["velocity"]
        self.levels = array.array("h", bytes(2 * v["columns"])) if v else None
        self.level = 0.0
        self.want_levels = False
        self.quality = None  # a quality.ElectrodeCheck while electrode checks are on
        self.recent = []
        self.rest = self.labels.index("rest") if "rest" in self.labels else 0
        self.windows = 0
        self.memory_errors = 0  # decisions lost to a full heap (feed goes on without them)
        self.last_event = None
        self.on_event = on_event
        self.echo = echo
        self.auto_masking = False
        # Drift tracking (the bundle's "drift"; the host's drift.py says why): per-column offsets
        # that follow a session's shift of the features, moved by the decisions themselves.
        d = meta["drift"]
        self.drift_means = array.array("h", [v for row in d["class_means"] for v in row]) if d else None
        self.drift_shift = d["rate_shift"] if d else 0
        self.drift_offsets = array.array("i", bytes(4 * self.width)) if d else None
        self.drift = d is not None
        self.collector = None   # a calibration.Session while one runs
        self.classifier = None  # a calibration.LinearClassifier, or None: the bundle's model
        self.calibration = None  # what calibration.json says about it
        self.calibration_error = None
        # What a calibrated classifier reads: an LDA bundle's window means, a CNN's embedding.
        self.window_means = meta["architecture"] == "lda"
        embedding = self.model.embedding_shape
        self.head_width = self.width if self.window_means else (embedding[-1] if embedding else 0)
        self.embedding = array.array("b", bytes(self.head_width)) if embedding and not self.window_means else None
        self.head = array.array("f", bytes(4 * self.head_width))
        self.embedding_zp = self.model.embedding_quantization[1] if self.embedding is not None else 0
        try:
            open(self.calibration_path()).close()
        except OSError:
            return  # not calibrated: calibration.py is not even imported (its code would take heap)
        import calibration
        try:
            self.classifier, self.calibration = calibration.load(self.calibration_path(), self.labels, self.head_width)
        except calibration.CalibrationError as exc:
            self.calibration_error = str(exc)  # the bundle's model runs; stats() shows why
            print("calibration not used: %s" % exc)

    def calibration_path(self):
        return self.bundle + "/calibration.json"  # calibration.FILE

    def calibration_setup(self):
        """(features the classifier reads, the frame columns that say whether a gesture was
        performed: the channels' log2 MAV); CalibrationError when this bundle cannot be
        calibrated on the board."""
        import calibration

        features = self.meta["preprocess"].get("features", 0)
        if self.window_means and not features & 15:
            raise calibration.CalibrationError("an LDA bundle calibrates on time-domain features; this one's "
                                               "frames are filtered signals")
        if not self.head_width:
            raise calibration.CalibrationError("this model has no classifier head to re-fit (FULLY_CONNECTED -> "
                                               "SOFTMAX at its end)")
        if self.head_width > MAX_CALIBRATION_WIDTH:
            raise calibration.CalibrationError(
                "calibration fits %d features at most, this bundle's classifier reads %d (an armband bundle, "
                "`neuroedge train --arch lda`, or a CNN with a smaller last layer calibrates)"
                % (MAX_CALIBRATION_WIDTH, self.head_width))
        return self.head_width, tuple(range(self.channels)) if features & 1 else ()  # log2 MAV comes first

    def use_classifier(self, classifier, record):
        self.classifier, self.calibration, self.calibration_error = classifier, record, None
        self.recent = []

    def memory(self):
        """Bytes of the runtime's big buffers, by what they hold."""
        model = self.model
        return {"model_file": self.meta["model_file_bytes"], "model_parsed": model.meta_bytes,
                "model_arena": model.arena_bytes, "preprocess_state": self.pre.state_bytes,
                "window_ring": 2 * self.capacity * self.width,
                "window_buffers": 2 * len(self.win) + len(self.qin) + len(self.scores) + 2 * len(self.block)}

    def reset(self):
        """A new signal begins (a new replay, a new connection): filters, windows, votes and
        frame numbers start again."""
        self.pre.reset()
        self.frames.reset()
        self.pushed = self.origin = self.stream_windows = self.windows = self.memory_errors = 0
        self.recent = []
        self.last_event = None
        self.drift_reset()  # a new signal may be a new session
        if self.quality is not None:
            self.quality.reset()
            self._apply_mask()

    def drift_reset(self):
        """Drift tracking starts again from the training session's features."""
        if self.drift_offsets is not None:
            for c in range(self.width):
                self.drift_offsets[c] = 0

    def drift_state(self):
        """Whether drift tracking runs, and the offsets' mean size in log2 units (1 = a factor 2)."""
        if self.drift_offsets is None:
            return {"on": False, "available": False}
        size = sum(abs(v) for v in self.drift_offsets) / len(self.drift_offsets) / 256 / 1024
        return {"on": self.drift, "available": True, "mean_offset_log2": round(size, 3)}

    def set(self, vote=None, threshold=None, hop=None, channel_mask=None, reject=None, velocity=None,
            probabilities=None, levels=None, drift=None):
        """Live tuning (values checked by config.check): vote length, confidence threshold,
        hop between windows (preprocessed frames; None = the model's), channels to silence,
        rejection, velocity and probabilities in events, per-electrode levels for an activity map.
        A new hop needs a new ring, made first: if the heap refuses it, the old hop stays and
        no other setting changes."""
        hop = hop or self.meta["hop"]
        if hop != self.hop:
            # The old ring goes first to make room; a window in progress is skipped.
            self.frames = None
            gc.collect()
            try:
                self.frames = edgedl.Stream(self.width, self.window, hop=hop, capacity=self.capacity)
            except MemoryError:
                self.frames = edgedl.Stream(self.width, self.window, hop=self.hop, capacity=self.capacity)
                raise
            self.hop, self.origin, self.stream_windows = hop, self.pushed, 0
        if vote is not None:
            self.vote = vote
            self.recent = self.recent[-vote:]
        if threshold is not None:
            self.threshold = threshold
        if reject is not None:
            self.reject = reject
        if velocity is not None:
            self.velocity = velocity
        if probabilities is not None:
            self.probabilities = probabilities
        if levels is not None:
            self.want_levels = levels
        if drift is not None:
            self.drift = drift and self.drift_means is not None  # a bundle without it: nothing to run
            if not self.drift:
                self.drift_reset()
        self.lab = lab_module() if self.velocity or self.probabilities else None
        if channel_mask is not None:
            self.user_mask = tuple(channel_mask)
            self._apply_mask()

    def _apply_mask(self):
        """The silenced channels: the user's mask and those quality checks masked."""
        auto = self.quality.masked if self.quality is not None else ()
        self.mask = tuple(sorted(set(self.user_mask) | set(auto)))
        self.mask_columns = self._columns_of(self.mask)

    def auto_mask(self, on):
        """Whether quality checks mask bad channels (config auto_mask)."""
        self.auto_masking = on

    def check_electrodes(self, on, mains=50):
        """Electrode checks on (at `mains` Hz) or off. MemoryError when the heap has no room for
        them: the checks are then off."""
        if on and (self.quality is None or self.quality.mains != mains):
            import quality

            self.quality = None
            gc.collect()
            self.quality = quality.ElectrodeCheck(self.channels, self.meta["fs"], self.meta["grids"], mains)
        elif not on and self.quality is not None:
            self.quality = None
            sys.modules.pop("quality", None)  # its code goes too
        self._apply_mask()

    def _columns_of(self, channels):
        """The frame columns that carry these channels: their features, and with ring
        differences the differences they take part in."""
        n, signals = self.channels, self.pre.signals
        columns = []
        for base in range(0, self.width, signals):
            for c in channels:
                columns.append(base + c)
                if signals != n:
                    columns += [base + n + c, base + n + (c - 1) % n]
        return sorted(set(columns))

    def feed(self, frames):
        """Raw frames (array('h'), time-major, the model's channels) in; decisions out."""
        n = len(frames) // self.channels
        done = 0
        while done < n:
            take = min(CHUNK, n - done)
            piece = memoryview(frames)[done * self.channels:(done + take) * self.channels]
            if self.quality is not None and self.quality.update(piece, self.auto_masking):
                self._apply_mask()
            kept = self.pre.process(piece, self.block)
            self.frames.push(memoryview(self.block)[:kept * self.width])
            self.pushed += kept
            while self.frames.read(self.win):
                try:
                    self._classify()
                except MemoryError:
                    # The heap was full for a moment (a REPL command compiling beside a burst of
                    # events): this window's decision is lost, the classifier goes on.
                    self.memory_errors += 1
                    gc.collect()
            done += take

    def _head_features(self):
        """What a calibrated classifier reads, in self.head: the window's mean features, or
        the embedding of the invoke just made (int8 steps from its zero point)."""
        head = self.head
        if self.embedding is None:
            import calibration  # loaded already: a classifier or a session is in use

            calibration.window_mean(self.win, self.width, head)
        else:
            self.model.embedding(self.embedding)
            zp = self.embedding_zp
            for j in range(self.head_width):
                head[j] = self.embedding[j] - zp
        return head

    def _classify(self):
        t0 = time.ticks_us()
        if self.levels is not None and (self.velocity or self.want_levels):
            # Before the mask: the contraction's amplitude, not what masking leaves of it.
            self.level = edgedl.column_means(self.win, self.width, self.levels) / len(self.levels)
        # Not under a calibration: it is today's fit, and a session collects the windows as they are.
        tracking = self.drift and self.classifier is None and self.collector is None
        if tracking:
            edgedl.drift_apply(self.win, self.width, self.drift_offsets)
        if self.mask:  # silenced channels read 0 uV (a bad electrode, a lifted grid): every feature
            win, width = self.win, self.width
            for first in self.mask_columns:
                for i in range(first, len(win), width):
                    win[i] = 0
        if self.classifier is None or not self.window_means:
            edgedl.quantize(self.win, self.qin, self.q_mult, self.q_shift, self.q_zp)
            self.model.invoke(self.qin, self.scores)
            best, top = best_of(self.scores)
            confidence = (top - self.out_zp) * self.out_scale
            if tracking:
                edgedl.drift_track(self.win, self.width, self.drift_means, best, self.drift_shift, self.drift_offsets)
                for c in self.mask_columns:  # a silenced column's zeros say nothing of drift
                    self.drift_offsets[c] = 0
        if self.classifier is not None or self.collector is not None:
            head = self._head_features()
            if self.classifier is not None:
                best, confidence = self.classifier.classify_features(head)
        last = self.origin + self.stream_windows * self.hop + self.window - 1  # preprocessed frame
        raw_frame = (last + 1) * self.decimate - 1
        window = self.windows
        # Counted before anything below allocates: a window whose decision a MemoryError takes
        # still took its frames, and the next windows keep their numbers.
        self.stream_windows += 1
        self.windows += 1
        if self.collector is not None:
            self.collector.add(self.win, head, raw_frame, best)
        choice = best if confidence >= self.threshold else -1 if self.reject else self.rest
        self.recent.append(choice)
        if len(self.recent) > self.vote:
            self.recent.pop(0)
        counts = {}
        for c in self.recent:
            counts[c] = counts.get(c, 0) + 1
        decided = max(counts, key=lambda c: (counts[c], c == choice))
        event = {"window": window, "raw_frame": raw_frame,
                 "gesture": self.labels[decided] if decided >= 0 else None, "index": decided,
                 "confidence": round(confidence, 3), "process_us": time.ticks_diff(time.ticks_us(), t0)}
        if self.lab is not None:
            self.lab.add_to_decision(self, event, decided)
        self.last_event = event
        if self.echo:
            print(json.dumps(event))
        if self.on_event:
            self.on_event(event)
