# StreamBridge: raw HD-EMG from an OT Quattrocento over TCP into edgedl.Stream.
#
# The board is the TCP client (the amplifier listens on port 23456): it sends
# a stop then the configuration command, and frames flow on the same socket.
# Bytes go straight into the native ring buffer, which keeps the grid channels
# (MULTIPLE IN 1..3 by default), watches the accessory sample counter for
# frames lost upstream, and counts what it must drop itself when the consumer
# lags. Runs unchanged on an ESP32 (after WiFi is up) and in the emulator.
import select
import socket
import time

import edgedl
import quattrocento as q
from protocol import POLL_MS, frames_per_read, read_available, ring_frames
LAYOUT_CHECK_FRAMES = 256


class StreamBridge:
    def __init__(self, host, port=q.PORT, fs=2048, nch=2, grids=(1, 2, 3), window=32, hop=32,
                 capacity=None, recv_bytes=8192, conf=(0x1A, 0x04, 0x94), stall_ms=3000):
        self.host, self.port = host, port
        self.channels = q.channels_for(nch)
        select = [c for m in grids for c in q.grid_channels(nch, m)]
        self.frame_bytes = 2 * self.channels
        self.max_frames = frames_per_read(recv_bytes, self.frame_bytes)
        if capacity is None:
            capacity = ring_frames(max(window, hop), self.max_frames)
        self.stream = edgedl.Stream(self.channels, window, hop=hop, capacity=capacity, select=select,
                                    counter=q.counter_channel(self.channels))
        multis = q.NCH[nch][1]
        self.start_command = q.command(fs=fs, nch=nch, multiple_in_conf=[
            tuple(conf) if i + 1 in grids else (0, 0, 0) for i in range(multis)] + [(0, 0, 0)] * (4 - multis))
        self.buf = bytearray(recv_bytes)
        self.view = memoryview(self.buf)
        self.sock = self.poller = None
        self.bytes_received = 0
        self.stall_ms, self.stalled_ms = stall_ms, 0
        self.stalls = 0
        self.layout_errors = 0
        self.checked_at = self.gaps_at = self.lost_at = 0
        self.misread_gaps = self.misread_lost = 0
        self.disconnects = 0
        self.reconnects = 0
        # The amplifier's "free space in the internal buffer" accessory channel, read from
        # the last whole frame of each read: near 0, the amplifier is about to lose samples
        # because they are not read fast enough (the board, or the network, is too slow).
        self.buffer_at = 2 * q.buffer_channel(self.channels)
        self.buffer_free = self.buffer_free_min = self.buffer_free_max = -1
        self.buffer_low = 0  # times the level fell below 1/8 of the highest seen
        self.buffer_kept = (-1, 0)

    def connect(self, timeout=5.0):
        addr = socket.getaddrinfo(self.host, self.port)[0][-1]
        sock = socket.socket()
        sock.settimeout(timeout)
        sock.connect(addr)
        # OT: always stop before a new start, or the amplifier loses synchronisation.
        sock.write(q.stop_command(self.start_command))
        sock.write(self.start_command)
        sock.setblocking(False)  # reads take what has arrived (protocol.read_available)
        self.poller = select.poll()
        self.poller.register(sock, select.POLLIN)
        self.sock = sock
        self.buffer_free = self.buffer_free_max = -1  # its empty-buffer level is learnt again
        self.buffer_kept = (self.buffer_free_min, self.buffer_low)

    def reconnect(self, attempts=3, backoff_ms=100):
        """After a disconnect: drop the torn frame and connect again. True on success."""
        self.stream.resync()
        for attempt in range(attempts):
            try:
                self.connect()
                self.reconnects += 1
                return True
            except OSError:
                time.sleep_ms(backoff_ms * (attempt + 1))
        return False

    # The source interface of sources.py: open / receive / deliver / reopen / close / stats.
    open = connect
    reopen = reconnect

    def receive(self):
        """Waits up to POLL_MS for bytes from the socket into self.buf; returns how many,
        None when none came yet, 0 when the socket closed or stalled for stall_ms (a
        stall counts as a disconnect: the amplifier or the network is gone)."""
        if self.sock is None:
            return 0  # dropped after a layout error: reconnect
        n = read_available(self.sock, self.poller, self.buf, POLL_MS)
        if n is None:
            if self.stalled_ms < self.stall_ms:
                self.stalled_ms += POLL_MS
                return None  # nothing yet: the caller may check whether to stop
            self.stalls += 1
            n = 0
        self.stalled_ms = 0
        if not n:
            self.disconnects += 1
            self.close(send_stop=False)
            return 0
        self.bytes_received += n
        return n

    def deliver(self, n):
        """Hands received bytes to the Stream (the caller may hold the Stream's lock)."""
        stream = self.stream
        stream.push(self.buf if n == len(self.buf) else self.view[:n])
        end = n - stream.bytes_pending  # where the last whole frame in buf ends
        if end >= self.frame_bytes:
            self._watch_buffer(end - self.frame_bytes + self.buffer_at)
        if stream.frames_pushed - self.checked_at >= LAYOUT_CHECK_FRAMES:
            self._check_layout()

    def _watch_buffer(self, at):
        level = self.buf[at] | self.buf[at + 1] << 8
        was_low = 0 <= self.buffer_free < self.buffer_free_max >> 3
        self.buffer_free = level
        if level > self.buffer_free_max:
            self.buffer_free_max = level
        if self.buffer_free_min < 0 or level < self.buffer_free_min:
            self.buffer_free_min = level
        if level < self.buffer_free_max >> 3 and not was_low:
            self.buffer_low += 1

    def _check_layout(self):
        # The accessory counter goes up by one per frame. If it is "gapped" in most frames,
        # the frames are not the width we configured (wrong channel count): the bytes are
        # sliced at the wrong places, so every sample is wrong. Drop the connection; the
        # reconnect sends stop + our configuration again and starts on a frame boundary.
        st = self.stream.stats()
        frames = st["frames_pushed"] - self.checked_at
        gaps = st["counter_gaps"] - self.gaps_at
        lost = st["frames_lost"] - self.lost_at
        self.checked_at, self.gaps_at, self.lost_at = st["frames_pushed"], st["counter_gaps"], st["frames_lost"]
        if gaps * 2 > frames:
            self.layout_errors += 1
            # What the "counter" said in misread frames is noise, not frames lost upstream.
            self.misread_gaps += gaps
            self.misread_lost += lost
            self.buffer_free_min, self.buffer_low = self.buffer_kept  # so were its buffer levels
            self.close(send_stop=True)
            self.sock = None

    def poll(self):
        """receive() then deliver(), in one thread; returns the bytes received (0: closed)."""
        n = self.receive()
        while n is None:
            n = self.receive()
        if n:
            self.deliver(n)
        return n

    def close(self, send_stop=True):
        if self.sock is None:
            return
        try:
            if send_stop:
                self.sock.write(q.stop_command(self.start_command))
        except OSError:
            pass
        self.sock.close()
        self.sock = None

    def stats(self):
        st = self.stream.stats()
        st["bytes_received"] = self.bytes_received
        st["disconnects"] = self.disconnects
        st["reconnects"] = self.reconnects
        st["stalls"] = self.stalls
        st["layout_errors"] = self.layout_errors
        st["buffer_free"], st["buffer_free_min"], st["buffer_low"] = self.buffer_free, self.buffer_free_min, self.buffer_low
        st["counter_gaps"] -= self.misread_gaps
        st["frames_lost"] -= self.misread_lost
        return st
