# The udp source: the board listens; each datagram is one framed-link packet (lost ones are
# counted by their sequence numbers). See sources.py for the interface every source has.
import socket

from link_source import LinkSource
from protocol import LINK_FRAMES, POLL_MS, listening_address, peer_host


class UdpLink(LinkSource):
    """Framed-link datagrams sent to `port` (from `peer` only, when set); sequence numbers
    count the ones lost."""

    def __init__(self, channels, port, bind=None, peer=None):
        LinkSource.__init__(self, channels, 0)  # a datagram is one whole packet
        self.port, self.bind, self.peer = port, bind, peer
        self.buf = bytearray(2 * channels * LINK_FRAMES + 8)  # only its size: the largest datagram
        self.datagram = b""
        self.sock = None
        self.refused = 0

    def open(self):
        LinkSource.open(self)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(listening_address(self.bind, self.port))
        self.sock.settimeout(POLL_MS / 1000)

    def receive(self):
        # recvfrom, not readinto: a stream read would gather several datagrams and cut the last.
        try:
            self.datagram, addr = self.sock.recvfrom(len(self.buf))
        except OSError:
            return None
        if self.peer is not None and peer_host(addr) != self.peer:
            self.refused += 1
            return None
        n = len(self.datagram)
        self.bytes_received += n
        return n or None

    def deliver(self, n):
        self.decoder.feed(self.datagram, self.stream)

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def stats(self):
        st = LinkSource.stats(self)
        st["refused"] = self.refused
        return st
