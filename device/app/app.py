# The gesture app: a source -> edgedl.Stream -> Runtime -> events, with live
# counters, event latency and live tuning. MicroPython; the same on a board and
# in the emulator.
#
# Two threads, so ingestion never waits on inference: a receiver moves bytes from
# the source into the native ring buffer (holding a lock only for the copy), and
# the processor reads blocks of frames and runs preprocessing, the model and the
# vote. On a board, main.py calls start(): both run in the background and the
# REPL stays free for tuning by hand or with `neuroedge tune`:
#
#   >>> app.get()                      the tunable settings
#   >>> app.set(vote=3, threshold=0.6) checked with config.py's rules, applied between blocks
#   >>> app.stats()                    counters: frames, drops, windows/s, latency, gesture, electrodes
#   >>> app.memory()                   bytes of the big buffers (model, arena, rings)
#   >>> app.save()                     config.json, atomically
#   >>> app.calibrate(seconds=5)       cue each gesture, re-fit the classifier (see calibrate)
#   >>> app.calibrate_reset()          back to the deployed model
#
# Latency of an event = time it is emitted - time the last raw sample of its
# window arrived from the source (what the board itself can measure).
import array
import gc
import json
import socket
import sys
import time

import _thread

import config
import runtime
import sources
from protocol import LOOP_STACK

BLOCK = 8  # raw frames handed to the runtime at a time
ARRIVALS = 256  # deliveries whose arrival time is kept (a window spans up to ~140 of them)
TICKS_MASK = 0x3FFFFFFF  # arrival times keep 30 bits of ticks_us (an ESP32's whole period): int32, no wrap trouble


def signal(lock):
    """Wakes the thread waiting on `lock` (a lock held means "no news"); a signal nobody waits
    for stays, so the next wait returns at once."""
    try:
        if lock.locked():
            lock.release()
    except RuntimeError:
        pass  # released by another thread in between: the news is out


class App:
    def __init__(self, cfg=None, base=".", callback=None, **overrides):
        """cfg: a config dict, or None for base/config.json; overrides: settings to use instead
        (e.g. vote=3, source={...}); callback: called with each event (a prosthesis driver, GPIO)."""
        self.base = base
        self.config_path = base + "/config.json"
        if cfg is None:
            cfg = config.load(self.config_path)
        cfg = dict(cfg)
        cfg.update(overrides)
        self.cfg = config.check_all(cfg)
        self.address = None
        if self.cfg["wifi"] and config.needs_network(self.cfg):
            import wifi

            self.address = wifi.connect(self.cfg["wifi"])  # before any socket; None in the emulator
        self.runtime = runtime.Runtime(base + "/" + self.cfg["model"], vote=self.cfg["vote"],
                                       threshold=self.cfg["threshold"], on_event=self._event)
        rt = self.runtime
        self.cfg = config.check_all(self.cfg, rt.channels, rt.window)  # channel_mask and hop in range
        rt.set(hop=self.cfg["hop"], channel_mask=self.cfg["channel_mask"], **event_settings(self.cfg))
        rt.auto_mask(self.cfg["auto_mask"])
        rt.check_electrodes(self.cfg["quality"], self.cfg["mains"])
        self.lab = lab_for(self.cfg)
        self.activity_due = 0  # ticks_ms of the next activity event
        self.callback = callback
        self.decimate = rt.decimate
        # The big buffers are made now, one after another, while the heap is still in one
        # piece: made later, next to small objects, they may not find a contiguous block.
        self.raw = array.array("h", bytes(2 * BLOCK * rt.channels))
        self.source = self._make_source(self.cfg["source"])
        self.lock = _thread.allocate_lock()    # the Stream, between receiver and processor
        self.tuning = _thread.allocate_lock()  # the Runtime, between processor and set()
        # Wake-ups between the two threads, so one waiting for room or for frames runs the
        # moment the other has made some, instead of sleeping a scheduler tick and looking again
        # (that sleep cost the emulator a third of its speed, and a board 1 ms per wait).
        self.room_freed = _thread.allocate_lock()  # the processor took a block from the Stream
        self.frames_came = _thread.allocate_lock()  # the receiver delivered (or looked and found none)
        self.room_freed.acquire()
        self.frames_came.acquire()
        self.running = self.background = False
        self.threads = 0
        self.error = None
        # When frames arrived, for event latency: a ring of (frames pushed so far, ticks_us) the
        # receiver writes per delivery; made once, so the hot path allocates nothing.
        self.arrival_frames = array.array("i", bytes(4 * ARRIVALS))
        self.arrival_us = array.array("i", bytes(4 * ARRIVALS))
        self.arrivals = 0           # deliveries recorded so far
        self.receiver_memory_errors = 0  # full-heap moments the receiver went on after (a retry)
        self.stage_us = {"receive": 0, "process": 0}
        self.latency_us = {"last": -1, "max": -1, "sum": 0, "n": 0}
        self.out = None
        self._use_output(*self._make_output(self.cfg["output"], self.cfg["destination"]))
        self.session = None  # a calibration.Session while one runs

    def _make_source(self, cfg):
        self.source = None
        gc.collect()  # the old source's buffers go before the new one's are made
        return sources.open_source(cfg, self.runtime.channels, BLOCK)

    # -- events ---------------------------------------------------------------------------
    def _make_output(self, mode, dest):
        """The socket and address events go to: (None, None) for console/quiet. Raises
        ConfigError when the destination does not resolve, before anything is changed."""
        if mode not in ("udp", "tcp"):
            return None, None
        try:
            addr = socket.getaddrinfo(dest[0], dest[1])[0][-1]
        except OSError as exc:
            raise config.ConfigError("destination %r cannot be resolved (%s)" % (dest[0], exc))
        out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if mode == "udp" else socket.SOCK_STREAM)
        if mode == "tcp":
            try:
                out.connect(addr)
            except OSError:
                out.close()
                out = None  # no listener: events stay on the board (counted as unsent)
        return out, addr

    def _use_output(self, out, addr):
        if self.out is not None:
            self.out.close()
        self.out, self.out_addr = out, addr
        self.unsent = 0

    def _arrival_time(self, frame):
        """When the delivery that completed raw frame `frame` arrived (None: not known). Newest
        first: a window's last frame came with one of the latest deliveries."""
        found = None
        end = self.arrivals
        for n in range(end - 1, max(0, end - ARRIVALS) - 1, -1):
            i = n % ARRIVALS
            if self.arrival_frames[i] <= frame:
                break
            found = self.arrival_us[i]
        return found

    def _event(self, event):
        last_raw = event["raw_frame"]
        t_in = self._arrival_time(last_raw)
        now = time.ticks_us()
        latency = (now - t_in) & TICKS_MASK if t_in is not None else -1
        event["latency_us"] = latency
        event["t_us"] = now
        if latency >= 0:
            lat = self.latency_us
            lat["last"] = latency
            lat["max"] = max(lat["max"], latency)
            lat["sum"] += latency
            lat["n"] += 1
        if self.session is not None:
            cue = self.session.cue_at(last_raw + 1)
            if cue is not None:
                self._cue(cue)
        self._emit(event)
        every = self.cfg["activity_ms"]
        if every and time.ticks_diff(time.ticks_ms(), self.activity_due) >= 0:
            self.activity_due = time.ticks_add(time.ticks_ms(), every)
            self._emit(self.lab.activity(self))

    def _cue(self, cue):
        """A calibration cue: on the console for the person (or the host's progress bar), and
        on the configured output too (a screen, a buzzer)."""
        if self.cfg["output"] != "console":
            sys.stdout.write(json.dumps(cue) + "\n")
        self._emit(cue)

    def _emit(self, event):
        """An event (a decision, a calibration cue, an activity map) to the configured output and
        the callback. In a libemg format only decisions go out, as LibEMG's messages."""
        mode, fmt = self.cfg["output"], self.cfg["format"]
        if fmt != "json" and "index" not in event:
            mode = "quiet"
        if mode != "quiet":
            if fmt == "json":
                line = json.dumps(event) + "\n"
            else:
                line = self.lab.libemg_message(event, fmt, self.cfg["velocity"])
            if mode == "console":
                # One write (the receiver may print ACK lines meanwhile), one line.
                sys.stdout.write(line if line[-1] == "\n" else line + "\n")
            else:
                try:
                    if mode == "udp":
                        self.out.sendto(line if fmt != "json" else line[:-1], self.out_addr)
                    elif self.out is not None:
                        self.out.write(line)
                    else:
                        self.unsent += 1
                except OSError:
                    self.unsent += 1  # a missing listener must not stop the classifier
        if self.callback:
            self.callback(event)

    # -- the two loops ------------------------------------------------------------------------
    def _receiver(self):
        src, stream, lock = self.source, self.source.stream, self.lock
        room_needed = src.max_frames
        try:
            while self.running:
                try:
                    if not self._receive_once(src, stream, lock, room_needed):
                        break
                except MemoryError:
                    # The heap was full for a moment (a calibration's fit beside a REPL command):
                    # a source takes nothing half-way that a second try would miss, so go on.
                    self.receiver_memory_errors += 1
                    gc.collect()
        except Exception as exc:  # noqa: BLE001 - recorded, reported by stats() and run()
            self.error = "receiver: %r" % (exc,)
        finally:
            self.receiving = False
            with lock:
                self.threads -= 1
            signal(self.frames_came)  # the processor sees the end

    def _receive_once(self, src, stream, lock, room_needed):
        """One receive and its delivery into the stream; False when the source has ended."""
        t0 = time.ticks_us()
        n = src.receive()
        if n is None:
            signal(self.frames_came)  # none: the processor may check its time limit
            return True
        if n == 0:
            return src.reopen()
        # Never overwrite unread frames: while the processor catches up, bytes wait
        # upstream (socket buffers, TCP flow control, the host's credit), and whatever
        # a source loses there is counted by its counter or sequence numbers.
        while self.running and stream.room < room_needed:
            self.room_freed.acquire()
        if not self.running:
            return False
        t1 = time.ticks_us()
        with lock:
            src.deliver(n)
            i = self.arrivals % ARRIVALS
            self.arrival_frames[i] = stream.frames_pushed
            self.arrival_us[i] = t1 & TICKS_MASK
            self.arrivals += 1
        signal(self.frames_came)
        self.stage_us["receive"] += time.ticks_diff(t1, t0)
        return True

    def run(self, frames=None, seconds=None):
        """Receives in a second thread and processes here until the source ends, `frames`
        raw frames arrived, `seconds` passed or stop() is called."""
        rt = self.runtime
        if self.source is None:
            self.source = self._make_source(self.cfg["source"])
        src = self.source
        stream = src.stream
        raw = self.raw
        # A run is a new signal: frames, windows and events are numbered from 0 again.
        stream.reset()
        rt.reset()
        self.arrivals = self.receiver_memory_errors = 0
        src.open()
        self.running = self.receiving = True
        self.started_us = time.ticks_us()
        start_ms = time.ticks_ms()
        with self.lock:
            self.threads += 1
        _thread.start_new_thread(self._receiver, ())
        try:
            while self.running:
                with self.lock:
                    got = stream.read(raw)
                    pushed = stream.frames_pushed
                if got:
                    signal(self.room_freed)
                    t0 = time.ticks_us()
                    with self.tuning:
                        rt.feed(raw)
                    self.stage_us["process"] += time.ticks_diff(time.ticks_us(), t0)
                    continue
                if not self.receiving:
                    break
                if frames is not None and pushed >= frames:
                    break
                if seconds is not None and time.ticks_diff(time.ticks_ms(), start_ms) > seconds * 1000:
                    break
                self.frames_came.acquire()  # nothing to do until the receiver has news
        finally:
            self.stop()
            self.elapsed_us = time.ticks_diff(time.ticks_us(), self.started_us)
            src.close()
        if self.error:
            raise RuntimeError(self.error)

    def start(self):
        """Runs the app in the background (the board's main.py); returns at once."""
        _thread.stack_size(LOOP_STACK)
        self.background = True
        _thread.start_new_thread(self._run_background, ())
        return self

    def _run_background(self):
        try:
            self.run()
        except Exception as exc:  # noqa: BLE001
            self.error = "app: %r" % (exc,)
        finally:
            self.background = False

    def stop(self, wait_ms=2000):
        self.running = False
        signal(self.room_freed)
        signal(self.frames_came)
        deadline = time.ticks_add(time.ticks_ms(), wait_ms)
        while self.threads and time.ticks_diff(deadline, time.ticks_ms()) > 0:
            time.sleep_ms(5)

    # -- tuning ---------------------------------------------------------------------------------
    def get(self):
        """The tunable settings, as config.json holds them."""
        return {k: self.cfg[k] for k in config.TUNABLE}

    def set(self, **settings):
        """Change settings while the app runs; all are checked before any is applied."""
        rt = self.runtime
        new = dict(self.cfg)
        for key, value in settings.items():
            if key not in config.TUNABLE:
                raise config.ConfigError("%s cannot be changed while running (tunable: %s)"
                                         % (key, ", ".join(config.TUNABLE)))
            new[key] = value
        new = config.check_all(new, rt.channels, rt.window)
        # Everything the change needs is made before any of it is applied: a refused change
        # leaves the running app exactly as it was.
        output_changes = new["output"] != self.cfg["output"] or new["destination"] != self.cfg["destination"]
        if new["quality"] != self.cfg["quality"] or new["mains"] != self.cfg["mains"]:
            if new["quality"]:
                import quality  # noqa: F401 - imported before the lock (see runtime.lab_module)
            with self.tuning:
                try:
                    rt.check_electrodes(new["quality"], new["mains"])
                except MemoryError:
                    raise config.ConfigError("quality: no room on the heap for the electrode checks of %d channels"
                                             % rt.channels)
        lab = lab_for(new)  # before the lock: an import takes a while
        if output_changes:
            out = self._make_output(new["output"], new["destination"])
        with self.tuning:  # between two blocks: the processor never sees half a change
            rt.set(vote=new["vote"], threshold=new["threshold"], hop=new["hop"], channel_mask=new["channel_mask"],
                   **event_settings(new))
            rt.auto_mask(new["auto_mask"])
            self.lab = lab
            self.cfg = new
            if output_changes:
                self._use_output(*out)
        return self.get()

    def save(self):
        """Persist the current settings to config.json (atomically), to boot with them."""
        config.save(self.config_path, self.cfg)
        return self.config_path

    def rates(self):
        """(elapsed_us, windows_per_s, latency_us {last, max, mean}) of the current or last run:
        what stats() reports and the activity map carries."""
        elapsed = time.ticks_diff(time.ticks_us(), self.started_us) if self.running else getattr(self, "elapsed_us", 0)
        lat = self.latency_us
        return (elapsed, round(self.runtime.windows * 1e6 / elapsed, 1) if elapsed > 0 else 0.0,
                {"last": lat["last"], "max": lat["max"], "mean": lat["sum"] // lat["n"] if lat["n"] else -1})

    def stats(self):
        st = self.source.stats() if self.source else {}
        rt = self.runtime
        elapsed, windows_per_s, latency = self.rates()
        st.update(model_windows=rt.windows, stage_us=self.stage_us, elapsed_us=elapsed, running=self.running,
                  windows_per_s=windows_per_s, latency_us=latency,
                  current=rt.last_event["gesture"] if rt.last_event else None, unsent_events=self.unsent,
                  decisions_lost_to_memory=rt.memory_errors, receiver_memory_errors=self.receiver_memory_errors,
                  error=self.error, classifier=self.classifier(), drift=rt.drift_state())
        if rt.quality is not None:
            st["electrodes"] = rt.quality.stats()
        return st

    def classifier(self):
        """Which classifier runs: the deployed model, or a calibration and when it was made."""
        rt = self.runtime
        if rt.classifier is None:
            about = {"kind": "deployed"}
            if rt.calibration_error:
                about["calibration_error"] = rt.calibration_error
            return about
        c = rt.calibration
        return {"kind": "calibrated", "stamp": c.get("stamp"), "gestures": c.get("gestures"),
                "accuracy_before": c.get("accuracy_before"), "accuracy_after": c.get("accuracy_after")}

    # -- calibration (calibration.py, imported only when used: its code takes heap) --------------
    def calibrate(self, gestures=None, seconds=5, force=False, stamp=None, data_bytes=None, end=None):
        """A cued calibration session: see calibration.run_session."""
        import calibration

        return calibration.run_session(self, gestures, seconds, force, stamp, data_bytes, end)

    def calibrate_reset(self):
        """Back to the deployed model: the calibration file goes, the bundle's model runs."""
        import calibration

        return calibration.reset(self)

    def memory(self):
        """Bytes of the big buffers, by what they hold; the rest of the heap is Python objects."""
        m = self.runtime.memory()
        src = self.source
        if src is not None:
            m["source_ring"] = 2 * src.stream.capacity * src.stream.channels
            m["source_buffer"] = len(src.buf)
        m["raw_block"] = 2 * len(self.raw)
        if self.runtime.quality is not None:
            m["quality"] = self.runtime.quality.state_bytes()
        return m

    def serve_usb(self, frames=None, data_bytes=None, end=None):
        """A replay from the host over the USB serial console (`neuroedge replay --port`): the
        configured source pauses, frames arrive as framed-link packets (data_bytes of them,
        then the end marker `end`: see sources.UsbConsoleLink), events go back as JSON lines.
        Returns the stats of the replay."""
        resume = self.background
        if resume:
            self.stop()
            while self.background:
                time.sleep_ms(10)
        output = self.cfg["output"]
        # The configured source waits with its buffers: made again after the replay, they might
        # find no room in a heap the replay has fragmented.
        configured = self.cfg["source"]["kind"] == "usb"
        kept = None
        if not configured:
            kept, self.source = self.source, None
        if self.source is None:
            try:
                self.source = self._make_source({"kind": "usb"})
            except MemoryError:
                if kept is None:
                    raise
                kept = None  # no room for both: the configured source is made again after the replay
                self.source = self._make_source({"kind": "usb"})
        self.source.expect(data_bytes, end)
        fmt = self.cfg["format"]
        self.cfg["output"], self.cfg["format"] = "console", "json"  # the host reads JSON lines back
        try:
            self.run(frames=frames)
            return self.stats()
        finally:
            self.cfg["output"], self.cfg["format"] = output, fmt
            if not configured:
                self.source = kept  # None: the next run makes it
            if resume:
                self.start()

    # -- compatibility: the Quattrocento loop in the foreground ----------------------------------
    def run_quattrocento(self, host, port=None, seconds=None, frames=None, nch=2, stall_ms=3000):
        import quattrocento

        port = quattrocento.PORT if port is None else port
        self.cfg["source"] = config.check_source({"kind": "quattrocento", "host": host, "port": port, "nch": nch,
                                                  "stall_ms": stall_ms})
        self.source = None
        self.run(frames=frames, seconds=seconds)


def lab_for(cfg):
    """lab.py when the settings ask for what it makes (LibEMG messages, activity maps, velocity,
    probabilities), else None: its code stays off the heap. Imported here, before any lock, in
    the thread that changes settings: see runtime.lab_module."""
    wanted = cfg["format"] != "json" or cfg["activity_ms"] or cfg["velocity"] or cfg["probabilities"]
    return runtime.lab_module() if wanted else None


def event_settings(cfg):
    """What a decision carries, from the checked config (Runtime.set's keywords)."""
    return {"reject": cfg["reject"], "velocity": cfg["velocity"],
            "probabilities": cfg["probabilities"] or cfg["format"] == "libemg-probabilities",
            "levels": cfg["activity_ms"] > 0, "drift": cfg["drift"]}


def start(base=".", **overrides):
    """main.py: build the app from config.json and run it in the background. With a usb
    source it waits instead: the host starts it (`neuroedge replay --port`). With "bridge"
    set, the board forwards its source to a classifier board instead (bridge.py)."""
    cfg = config.load(base + "/config.json")
    cfg.update(overrides)
    cfg = config.check_all(cfg)
    if cfg["bridge"] is not None:
        import bridge

        return bridge.Bridge(cfg).start()
    a = App(cfg, base=base)
    if a.cfg["source"]["kind"] != "usb":
        a.start()
    return a
