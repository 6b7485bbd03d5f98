# The gesture app: StreamBridge (Quattrocento over TCP) -> Runtime -> events,
# with live counters and event latency. MicroPython; the same on a board and
# in the emulator.
#
#   import app
#   a = app.App('model')
#   a.run_quattrocento('192.168.1.50', seconds=60)
#   a.stats()
#
# Latency of an event = time it is emitted - time the last raw sample of its
# window arrived from the socket (what the board itself can measure).
import array
import json
import socket
import time

import runtime
import streambridge

BLOCK = 16  # raw frames handed to the runtime at a time


class App:
    def __init__(self, bundle="model", vote=5, threshold=0.5, echo=True, udp=None, callback=None):
        """echo: JSON lines on the console; udp: (host, port) to send each event to as a
        datagram; callback: a function called with each event (a prosthesis driver, GPIO)."""
        self.echo = echo
        self.callback = callback
        self.udp = None
        if udp:
            self.udp_addr = socket.getaddrinfo(udp[0], udp[1])[0][-1]
            self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.runtime = runtime.Runtime(bundle, vote=vote, threshold=threshold, on_event=self._event)
        meta = self.runtime.meta
        self.decimate = meta["preprocess"]["decimate"]
        self.bridge = None
        self.arrivals = []          # (raw frames received so far, ticks_us) after each socket read
        self.stage_us = {"receive": 0, "process": 0}

    def _arrival_time(self, frame):
        for count, t in self.arrivals:
            if count > frame:
                return t
        return None

    def _event(self, event):
        rt = self.runtime
        last_raw = ((event["window"] * rt.hop + rt.window) * self.decimate) - 1
        t_in = self._arrival_time(last_raw)
        now = time.ticks_us()
        latency = time.ticks_diff(now, t_in) if t_in is not None else -1
        event["latency_us"] = latency
        event["t_us"] = now
        line = json.dumps(event)
        if self.echo:
            print(line)
        if self.udp:
            try:
                self.udp.sendto(line, self.udp_addr)
            except OSError:
                pass  # a missing listener must not stop the classifier
        if self.callback:
            self.callback(event)
        # Arrival records older than this window are no longer needed.
        while len(self.arrivals) > 2 and self.arrivals[1][0] <= last_raw:
            self.arrivals.pop(0)

    def run_quattrocento(self, host, port=23456, seconds=None, frames=None, reconnect=3):
        """Streams until `seconds` pass or `frames` arrived; after a disconnect it
        reconnects (up to `reconnect` times in a row) and goes on."""
        rt = self.runtime
        grids = tuple(range(1, rt.channels // 64 + 1))
        self.bridge = streambridge.StreamBridge(host, port, grids=grids, window=BLOCK, hop=BLOCK,
                                                capacity=2 * BLOCK)
        raw = array.array("h", bytes(2 * BLOCK * rt.channels))
        self.bridge.connect()
        start = time.ticks_ms()
        self.started_us = time.ticks_us()
        stream = self.bridge.stream
        try:
            while True:
                t0 = time.ticks_us()
                if not self.bridge.poll():
                    if not reconnect or not self.bridge.reconnect(attempts=reconnect):
                        break
                    continue
                t1 = time.ticks_us()
                self.arrivals.append((stream.stats()["frames_pushed"], t1))
                while stream.read(raw):
                    rt.feed(raw)
                t2 = time.ticks_us()
                self.stage_us["receive"] += time.ticks_diff(t1, t0)
                self.stage_us["process"] += time.ticks_diff(t2, t1)
                if seconds is not None and time.ticks_diff(time.ticks_ms(), start) > seconds * 1000:
                    break
                if frames is not None and stream.stats()["frames_pushed"] >= frames:
                    break
        finally:
            self.elapsed_us = time.ticks_diff(time.ticks_us(), self.started_us)
            self.bridge.close()

    def stats(self):
        st = self.bridge.stats() if self.bridge else {}
        st["model_windows"] = self.runtime.windows
        st["stage_us"] = self.stage_us
        st["elapsed_us"] = getattr(self, "elapsed_us", 0)
        st["current"] = self.runtime.last_event["gesture"] if self.runtime.last_event else None
        return st
