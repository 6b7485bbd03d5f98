# The tcp source: the board listens; a host sends raw int16 little-endian frames (any
# chunking). See sources.py for the interface every source has.
import select
import socket

from protocol import POLL_MS, frames_per_read, listening_address, peer_host, read_available


class TcpFrames:
    """Raw int16 frames from whoever connects to `port` (only `peer`, when set); one
    client at a time."""

    def __init__(self, channels, port, bind=None, peer=None, recv_bytes=2048):
        self.stream, self.port, self.bind, self.peer = None, port, bind, peer
        self.max_frames = frames_per_read(recv_bytes, 2 * channels)
        self.buf = bytearray(recv_bytes)
        self.view = memoryview(self.buf)
        self.server = self.sock = self.poller = None
        self.bytes_received = self.clients = self.disconnects = self.refused = 0

    def open(self):
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(listening_address(self.bind, self.port))
        self.server.listen(1)
        self.server.settimeout(POLL_MS / 1000)
        self.poller = select.poll()

    def _accept(self):
        try:
            sock, addr = self.server.accept()
        except OSError:
            return  # nobody yet
        if self.peer is not None and peer_host(addr) != self.peer:
            sock.close()
            self.refused += 1
            return
        sock.setblocking(False)
        self.poller.register(sock, select.POLLIN)
        self.sock = sock
        self.clients += 1

    def receive(self):
        if self.sock is None:
            self._accept()
            return None
        n = read_available(self.sock, self.poller, self.buf, POLL_MS)
        if n == 0:
            self.disconnects += 1
            self._drop()
            self.stream.resync()  # a torn last frame must not shift the next client's
            return None           # wait for the next client
        if n:
            self.bytes_received += n
        return n

    def deliver(self, n):
        self.stream.push(self.buf if n == len(self.buf) else self.view[:n])

    def reopen(self):
        return True

    def _drop(self):
        self.poller.unregister(self.sock)
        self.sock.close()
        self.sock = None

    def close(self):
        if self.sock is not None:
            self._drop()
        if self.server is not None:
            self.server.close()
            self.server = None

    def stats(self):
        st = self.stream.stats()
        st.update(bytes_received=self.bytes_received, clients=self.clients, disconnects=self.disconnects,
                  refused=self.refused)
        return st
