# StreamBridge: raw HD-EMG from an OT Quattrocento over TCP into edgedl.Stream.
#
# The board is the TCP client (the amplifier listens on port 23456): it sends
# a stop then the configuration command, and frames flow on the same socket.
# Bytes go straight into the native ring buffer, which keeps the grid channels
# (MULTIPLE IN 1..3 by default), watches the accessory sample counter for
# frames lost upstream, and counts what it must drop itself when the consumer
# lags. Runs unchanged on an ESP32 (after WiFi is up) and in the emulator.
import socket
import time

import edgedl
import quattrocento as q


class StreamBridge:
    def __init__(self, host, port=q.PORT, fs=2048, nch=2, grids=(1, 2, 3), window=32, hop=32,
                 capacity=None, recv_bytes=2048, conf=(0x1A, 0x04, 0x94)):
        self.host, self.port = host, port
        self.channels = q.channels_for(nch)
        select = [c for m in grids for c in q.grid_channels(nch, m)]
        self.stream = edgedl.Stream(self.channels, window, hop=hop, capacity=capacity, select=select,
                                    counter=q.counter_channel(self.channels))
        multis = q.NCH[nch][1]
        self.start_command = q.command(fs=fs, nch=nch, multiple_in_conf=[
            tuple(conf) if i + 1 in grids else (0, 0, 0) for i in range(multis)] + [(0, 0, 0)] * (4 - multis))
        self.buf = bytearray(recv_bytes)
        self.view = memoryview(self.buf)
        self.sock = None
        self.bytes_received = 0
        self.disconnects = 0
        self.reconnects = 0

    def connect(self, timeout=5.0):
        addr = socket.getaddrinfo(self.host, self.port)[0][-1]
        sock = socket.socket()
        sock.settimeout(timeout)
        sock.connect(addr)
        # OT: always stop before a new start, or the amplifier loses synchronisation.
        sock.write(q.stop_command(self.start_command))
        sock.write(self.start_command)
        self.sock = sock

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

    def poll(self):
        """Moves what the socket has into the Stream; returns the bytes received (0: closed)."""
        try:
            n = self.sock.readinto(self.buf)
        except OSError:
            n = 0
        if not n:
            self.disconnects += 1
            self.close(send_stop=False)
            return 0
        self.bytes_received += n
        self.stream.push(self.buf if n == len(self.buf) else self.view[:n])
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
        return st
