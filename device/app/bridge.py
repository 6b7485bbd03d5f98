# The bridge half of the reference system's two-MCU layout: this board receives the
# amplifier (StreamBridge, or any source config.py names), keeps `channels` channels (the
# grids) and forwards them over the framed link on a UART to a classifier board, whose
# source is {"kind": "serial", ...}. Config: "bridge": {"channels": 64, "uart": 1,
# "baudrate": 4000000, "tx": 17, "rx": 16}; main.py starts it instead of the classifier.
#
# Every LINK_FRAMES frames become one packet (edgedl.link_encode: 8 bytes of framing). A
# UART carries baudrate / 10 bytes a second (8N1); when the signal needs more, packets are
# dropped here and counted, so the amplifier is always read on time (its own buffer must
# never fill) and the UART's transmit buffer never blocks the loop. A dropped packet still
# takes its sequence number, so the classifier counts it as lost too.
#
#   >>> app.stats()    source counters, packets_sent, packets_dropped, frames_forwarded, ...
import array
import time

import _thread

import config
import edgedl
import sources
import uart
from protocol import LINK_FRAMES, LOOP_STACK

UART_BITS_PER_BYTE = 10  # 8N1: a start bit, 8 data bits, a stop bit
# The UART's transmit buffer: what may be written ahead of the wire. A network delivers the
# amplifier's frames in bursts (TCP segments, WiFi's aggregation), so it holds 50 ms of the
# link's bytes, and at least two packets.
BURST_MS = 50


class Bridge:
    def __init__(self, cfg):
        """cfg: a checked config (config.check_all) whose "bridge" is set."""
        self.cfg = cfg
        link = cfg["bridge"]
        self.channels = link["channels"]
        if cfg["wifi"] and config.needs_network(cfg):  # the app's rule: a bridge sends no events
            import wifi

            wifi.connect(cfg["wifi"])
        self.source = sources.open_source(cfg["source"], self.channels, LINK_FRAMES)
        self.block = array.array("h", bytes(2 * self.channels * LINK_FRAMES))
        self.packet = bytearray(len(self.block) * 2 + edgedl.LINK_OVERHEAD)
        self.uart = None
        self.bytes_per_s = link["baudrate"] // UART_BITS_PER_BYTE
        self.burst = max(2 * len(self.packet), self.bytes_per_s * BURST_MS // 1000)
        self.running = self.background = False
        self.error = None
        self._reset_counters()

    def _reset_counters(self):
        self.seq = 0
        self.packets_sent = self.packets_dropped = self.bytes_sent = 0
        self.credit = self.burst  # bytes the link can take now
        self.credit_us = time.ticks_us()

    def _bytes_in(self, us):
        """Bytes the link carries in `us` microseconds (<= 1 s), in small ints: the rate's
        thousands and its remainder apart, so neither product passes 2^30 (an ESP32's small int)."""
        return us * (self.bytes_per_s // 1000) // 1000 + us * (self.bytes_per_s % 1000) // 1000000

    def _forward(self):
        """One block as one packet, if the link has room for it; otherwise dropped."""
        now = time.ticks_us()
        elapsed = min(time.ticks_diff(now, self.credit_us), 1000000)  # at most a second: no overflow
        self.credit_us = now
        size = len(self.packet)
        self.credit = min(self.credit + self._bytes_in(elapsed), self.burst)
        if self.credit >= size:
            edgedl.link_encode(self.seq, self.block, self.packet)
            self.uart.write(self.packet)
            self.credit -= size
            self.packets_sent += 1
            self.bytes_sent += size
        else:
            self.packets_dropped += 1
        self.seq = (self.seq + 1) & 0xFFFF

    def run(self, frames=None, seconds=None):
        """Forwards until the source ends, `frames` frames arrived, `seconds` passed or stop()."""
        in_background = self.background
        src = self.source
        stream = src.stream
        stream.reset()
        self._reset_counters()
        self.running = True
        start_ms = time.ticks_ms()
        try:
            src.open()
            self.uart = uart.open_uart(self.cfg["bridge"], txbuf=self.burst)
            while self.running:
                n = src.receive()
                if n == 0:
                    if not src.reopen():
                        break
                    continue
                if n:
                    src.deliver(n)  # the ring holds a delivery beyond one block: read below
                    while stream.read(self.block):
                        self._forward()
                if frames is not None and stream.frames_pushed >= frames:
                    break
                if seconds is not None and time.ticks_diff(time.ticks_ms(), start_ms) > seconds * 1000:
                    break
        except Exception as exc:  # noqa: BLE001 - recorded, reported by stats()
            self.error = "bridge: %r" % (exc,)
        finally:
            self.running = self.background = False
            src.close()
            if self.uart is not None:
                self.uart.deinit()
                self.uart = None
        if self.error and not in_background:
            raise RuntimeError(self.error)

    def start(self):
        """Runs in a second thread (the board's main.py); returns at once."""
        _thread.stack_size(LOOP_STACK)
        self.background = True
        _thread.start_new_thread(self.run, ())  # run() keeps its error for stats()
        return self

    def stop(self, wait_ms=2000):
        self.running = False
        deadline = time.ticks_add(time.ticks_ms(), wait_ms)
        while self.background and time.ticks_diff(deadline, time.ticks_ms()) > 0:
            time.sleep_ms(5)

    def stats(self):
        st = self.source.stats()
        st.update(role="bridge", packets_sent=self.packets_sent, packets_dropped=self.packets_dropped,
                  frames_forwarded=self.packets_sent * LINK_FRAMES,
                  frames_dropped_link=self.packets_dropped * LINK_FRAMES, bytes_sent=self.bytes_sent,
                  link_bytes_per_s=self.bytes_per_s, error=self.error)
        return st
