# Where raw frames come from. Every source has the same small interface, so the
# app's receiver thread does not care which one it runs:
#
#   src.stream          the edgedl.Stream it fills (frames of the model's channels)
#   src.max_frames      the most frames one deliver() can add to it
#   src.open()          connect / listen
#   src.receive()       wait a little for bytes into src.buf: n, None (nothing yet), 0 (gone)
#   src.deliver(n)      hand n received bytes to the Stream (the app holds its lock)
#   src.reopen()        after a loss: accept / connect again; False if that failed
#   src.close(), src.stats()
#
# quattrocento: streambridge.StreamBridge (the amplifier over TCP).
# tcp:    the board listens; a host sends raw int16 little-endian frames (any chunking).
# udp:    the board listens; each datagram is one framed-link packet (lost ones counted).
# serial: framed link on a UART (the two-MCU layout: a bridge MCU forwards to this one).
# usb:    framed link on the USB serial console (`neuroedge replay --port`): the board
#         turns the keyboard interrupt off, reads whole chunks and answers each with an
#         "ACK <bytes>" line, so the host never sends more than the board holds. Before
#         the console is the REPL's again, every byte up to the host's end marker is read
#         and thrown away: recording bytes must never reach the REPL as keystrokes.
#
# tcp and udp listen on "bind" (default every interface) and, with "peer" set, take
# frames from that address only: a board on a shared network trusts nobody else.
import gc
import select
import socket
import sys

import edgedl
from protocol import LINK_FRAMES, POLL_MS, USB_CHUNK, USB_UNIT, frames_per_read, read_available, ring_frames

SMALL_READ_BYTES = 2048  # a StreamBridge's reads when its usual 8 kB buffer does not fit the heap


def open_source(cfg, channels, block):
    """The configured source, feeding windows of `block` frames of `channels` channels."""
    kind = cfg["kind"]
    if kind == "quattrocento":
        import streambridge  # here: a board fed otherwise never loads it
        import quattrocento as q

        grids = tuple(range(1, channels // 64 + 1))
        if channels % 64 or len(grids) > q.NCH[cfg["nch"]][1]:
            raise ValueError("a model of %d channels cannot be fed from MULTIPLE IN grids at nch=%d"
                             % (channels, cfg["nch"]))
        kw = {"nch": cfg["nch"], "grids": grids, "window": block, "hop": block, "stall_ms": cfg["stall_ms"]}
        try:
            return streambridge.StreamBridge(cfg["host"], cfg["port"], **kw)
        except MemoryError:  # a fragmented heap: smaller reads (slower, nothing lost)
            gc.collect()
            return streambridge.StreamBridge(cfg["host"], cfg["port"], recv_bytes=SMALL_READ_BYTES, **kw)
    if kind == "tcp":
        src = TcpFrames(channels, cfg["port"], cfg.get("bind"), cfg.get("peer"))
    elif kind == "udp":
        src = UdpLink(channels, cfg["port"], cfg.get("bind"), cfg.get("peer"))
    elif kind == "serial":
        src = SerialLink(channels, cfg)
    else:
        src = UsbConsoleLink(channels)
    src.stream = edgedl.Stream(channels, block, hop=block, capacity=ring_frames(block, src.max_frames))
    return src


def listening_address(bind, port):
    return socket.getaddrinfo(bind or "0.0.0.0", port)[0][-1]


def peer_host(addr):
    """The IPv4 address of accept()/recvfrom()'s peer, as text."""
    if isinstance(addr, tuple):
        return addr[0]                          # ESP32 (lwIP): (host, port)
    return "%d.%d.%d.%d" % tuple(addr[4:8])     # unix port: a raw sockaddr_in


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


class _LinkSource:
    def __init__(self, channels, read_bytes):
        self.stream = None
        # A read may complete a packet begun by earlier reads: at most one packet's payload
        # beyond what the read itself carries.
        self.max_frames = frames_per_read(read_bytes, 2 * channels) + LINK_FRAMES
        self.decoder = edgedl.LinkDecoder(2 * channels * LINK_FRAMES)  # the largest payload
        self.bytes_received = 0

    def open(self):
        self.decoder.reset()  # a new sender numbers its packets from 0
        self.bytes_received = 0

    def deliver(self, n):
        self.decoder.feed(self.buf if n == len(self.buf) else self.view[:n], self.stream)

    def reopen(self):
        return True

    def stats(self):
        st = self.stream.stats()
        for k, v in self.decoder.stats().items():
            st["link_" + k] = v
        st["bytes_received"] = self.bytes_received
        return st


class UdpLink(_LinkSource):
    """Framed-link datagrams sent to `port` (from `peer` only, when set); sequence numbers
    count the ones lost."""

    def __init__(self, channels, port, bind=None, peer=None):
        _LinkSource.__init__(self, channels, 0)  # a datagram is one whole packet
        self.port, self.bind, self.peer = port, bind, peer
        self.buf = bytearray(2 * channels * LINK_FRAMES + 8)  # only its size: the largest datagram
        self.datagram = b""
        self.sock = None
        self.refused = 0

    def open(self):
        _LinkSource.open(self)
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
        st = _LinkSource.stats(self)
        st["refused"] = self.refused
        return st


class SerialLink(_LinkSource):
    """The framed link on a UART: {"uart": 1, "baudrate": 2000000, "rx": 16, "tx": 17}."""

    def __init__(self, channels, uart):
        _LinkSource.__init__(self, channels, USB_CHUNK)
        self.uart_cfg = uart
        self.buf = bytearray(USB_CHUNK)
        self.view = memoryview(self.buf)
        self.port = None

    def open(self):
        import uart  # here: a board without a UART source never loads it

        _LinkSource.open(self)
        self.port = uart.open_uart(self.uart_cfg, rxbuf=8 * USB_CHUNK)

    def receive(self):
        n = self.port.readinto(self.buf)  # waits up to its timeout, returns what came
        if not n:
            return None
        self.bytes_received += n
        return n

    def close(self):
        if self.port is not None:
            self.port.deinit()
            self.port = None


class UsbConsoleLink(_LinkSource):
    """The framed link on the USB serial console, for a replay the host starts
    (`neuroedge replay --port`, app.serve_usb).

    Bytes that look like Ctrl-C must reach the decoder, so the keyboard interrupt is
    off while it runs. The host says how many data bytes it sends (whole chunks) and
    the end marker that follows them (random per replay, so no recording can spell
    it); it stops early, finishing its chunk and sending the marker, when the board
    prints a line that is neither an ACK nor an event. close() reads and discards
    everything up to that marker (or until the line is quiet) before it turns the
    keyboard interrupt back on, so no recording byte reaches the REPL.
    """

    def __init__(self, channels, idle_ms=1500):
        _LinkSource.__init__(self, channels, USB_CHUNK)
        self.idle_ms = idle_ms
        self.buf = bytearray(USB_CHUNK)
        self.view = memoryview(self.buf)
        # One view per unit, made once: slicing a memoryview in the loop would allocate.
        self.units = [self.view[i:i + USB_UNIT] for i in range(0, USB_CHUNK, USB_UNIT)]
        self.poller = None
        self.expect()

    def expect(self, data_bytes=None, end=None):
        """What the host will send: data_bytes of packets, then the end marker (text)."""
        self.data_bytes = data_bytes
        self.end = end.encode() if isinstance(end, str) else end
        self.ended = False        # the marker came, or the host is gone
        self.marker_seen = False
        self.torn_chunks = 0      # chunks the host stopped sending halfway (their bytes are kept)
        self.discarded = 0        # bytes thrown away after the replay, before the REPL's turn

    def open(self):
        import micropython

        _LinkSource.open(self)
        self.idle = 0
        micropython.kbd_intr(-1)
        self.port = sys.stdin.buffer
        self.poller = select.poll()
        self.poller.register(sys.stdin, select.POLLIN)
        self.ack(0)  # ready

    def ack(self, n):
        sys.stdout.write("ACK %d\n" % n)

    def _is_marker(self, unit):
        end = self.end
        if not end or unit[0] != end[0]:
            return False
        for i in range(len(end)):
            if unit[i] != end[i]:
                return False
        return True

    def receive(self):
        if self.ended or (self.data_bytes is not None and self.bytes_received >= self.data_bytes):
            return 0
        got = 0
        for unit in self.units:
            # A poll before every unit: a sender that stops mid-chunk (unplugged, killed)
            # leaves a torn chunk that ends the replay instead of a read that waits forever.
            if not self.poller.poll(POLL_MS):
                if got:
                    self.torn_chunks += 1
                    self.ended = True
                    break
                self.idle += POLL_MS
                return 0 if self.idle >= self.idle_ms else None
            self.port.readinto(unit)
            if self._is_marker(unit):  # the host stopped early: no more data
                self.marker_seen = self.ended = True
                break
            got += USB_UNIT
        self.idle = 0
        if not got:
            return 0
        self.bytes_received += got
        return got

    def deliver(self, n):
        _LinkSource.deliver(self, n)
        self.ack(self.bytes_received)  # credit for the host's next chunk

    def reopen(self):
        return False  # the host stopped or went quiet: the replay is over

    def _discard_until_marker(self):
        # Byte by byte: whatever still arrives may be any length (a reconnecting tool sends
        # a few bytes), and a read of more than poll promises could wait forever.
        end = self.end or b""
        tail = bytearray()
        one = bytearray(1)
        quiet = 0
        while quiet < self.idle_ms:
            if not self.poller.poll(POLL_MS):
                quiet += POLL_MS
                continue
            quiet = 0
            self.port.readinto(one)
            self.discarded += 1
            if end:
                tail.append(one[0])
                if len(tail) > len(end):
                    tail = tail[1:]
                if tail == end:
                    return

    def close(self):
        if self.poller is None:
            return
        import micropython

        if not self.ended and (self.data_bytes is None or self.bytes_received < self.data_bytes):
            # The board stopped first (an error, a stop): a line that is neither an ACK nor
            # an event tells the host to stop sending and send its end marker.
            sys.stdout.write("STOP\n")
        if not self.marker_seen:
            self._discard_until_marker()
        micropython.kbd_intr(3)
        self.poller = None

    def stats(self):
        st = _LinkSource.stats(self)
        st.update(usb_torn_chunks=self.torn_chunks, usb_discarded=self.discarded)
        return st
