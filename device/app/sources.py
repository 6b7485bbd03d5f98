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
#         turns the keyboard interrupt off, reads fixed-size chunks and answers each
#         with an "ACK <bytes>" line, so the host never sends more than the board holds.
import socket
import sys

import edgedl

POLL_MS = 250
USB_CHUNK = 2048
LINK_FRAMES = 8  # frames a link packet carries at most (the decoder's buffer is sized for it)


def ring_frames(block, max_frames):
    """Frames the Stream's ring holds: one block being read, one being filled, and the most
    one delivery brings, so the receiver can always wait for room instead of overwriting."""
    return 2 * block + max_frames


def frames_per_read(read_bytes, frame_bytes):
    # A read may complete a frame left partial by the one before it.
    return (read_bytes + frame_bytes - 1) // frame_bytes


def open_source(cfg, channels, block):
    """The configured source, feeding windows of `block` frames of `channels` channels."""
    kind = cfg["kind"]
    if kind == "quattrocento":
        import streambridge
        import quattrocento as q

        grids = tuple(range(1, channels // 64 + 1))
        if channels % 64 or len(grids) > q.NCH[cfg["nch"]][1]:
            raise ValueError("a model of %d channels cannot be fed from MULTIPLE IN grids at nch=%d"
                             % (channels, cfg["nch"]))
        return streambridge.StreamBridge(cfg["host"], cfg["port"], nch=cfg["nch"], grids=grids, window=block,
                                         hop=block, stall_ms=cfg["stall_ms"])
    if kind == "tcp":
        src = TcpFrames(channels, cfg["port"])
    elif kind == "udp":
        src = UdpLink(channels, cfg["port"])
    elif kind == "serial":
        src = SerialLink(channels, uart=cfg)
    else:
        src = SerialLink(channels)
    src.stream = edgedl.Stream(channels, block, hop=block, capacity=ring_frames(block, src.max_frames))
    return src


class TcpFrames:
    """Raw int16 frames from whoever connects to `port`; one client at a time."""

    def __init__(self, channels, port, recv_bytes=2048):
        self.stream, self.port = None, port
        self.max_frames = frames_per_read(recv_bytes, 2 * channels)
        self.buf = bytearray(recv_bytes)
        self.view = memoryview(self.buf)
        self.server = self.sock = None
        self.bytes_received = self.clients = self.disconnects = 0

    def open(self):
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(socket.getaddrinfo("0.0.0.0", self.port)[0][-1])
        self.server.listen(1)
        self.server.settimeout(POLL_MS / 1000)

    def receive(self):
        if self.sock is None:
            try:
                self.sock, _ = self.server.accept()
            except OSError:
                return None  # nobody yet
            self.sock.settimeout(POLL_MS / 1000)
            self.clients += 1
        try:
            n = self.sock.readinto(self.buf)
        except OSError as exc:
            if exc.errno == 110:  # ETIMEDOUT: nothing yet
                return None
            n = 0
        if not n:
            self.disconnects += 1
            self.sock.close()
            self.sock = None
            self.stream.resync()  # a torn last frame must not shift the next client's
            return None           # wait for the next client
        self.bytes_received += n
        return n

    def deliver(self, n):
        self.stream.push(self.buf if n == len(self.buf) else self.view[:n])

    def reopen(self):
        return True

    def close(self):
        for s in (self.sock, self.server):
            if s is not None:
                s.close()
        self.sock = self.server = None

    def stats(self):
        st = self.stream.stats()
        st.update(bytes_received=self.bytes_received, clients=self.clients, disconnects=self.disconnects)
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
    """Framed-link datagrams sent to `port`; sequence numbers count the ones lost."""

    def __init__(self, channels, port):
        _LinkSource.__init__(self, channels, 0)  # a datagram is one whole packet
        self.port = port
        self.buf = bytearray(2 * channels * LINK_FRAMES + 8)  # only its size: the largest datagram
        self.datagram = b""
        self.sock = None

    def open(self):
        _LinkSource.open(self)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(socket.getaddrinfo("0.0.0.0", self.port)[0][-1])
        self.sock.settimeout(POLL_MS / 1000)

    def receive(self):
        # recv, not readinto: a stream read would gather several datagrams and cut the last.
        try:
            self.datagram = self.sock.recv(len(self.buf))
        except OSError:
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


class SerialLink(_LinkSource):
    """The framed link on a UART (uart=config) or on the USB serial console (uart=None).

    On the console, bytes that look like Ctrl-C must reach the decoder, so the
    keyboard interrupt is off while it runs (close() turns it back on); the host
    ends a replay by going quiet for idle_ms.
    """

    def __init__(self, channels, uart=None, idle_ms=1500):
        _LinkSource.__init__(self, channels, USB_CHUNK)
        self.uart_cfg = uart
        self.idle_ms = idle_ms
        self.idle = 0
        self.buf = bytearray(USB_CHUNK)
        self.view = memoryview(self.buf)
        self.port = self.poller = None

    def open(self):
        import select

        _LinkSource.open(self)
        self.idle = 0
        if self.uart_cfg is None:
            import micropython

            micropython.kbd_intr(-1)
            self.port = sys.stdin.buffer
            self.poller = select.poll()
            self.poller.register(sys.stdin, select.POLLIN)
            self.ack(0)  # ready
        else:
            from machine import UART

            c = self.uart_cfg
            kw = {k: c[k] for k in ("rx", "tx") if k in c}
            self.port = UART(c["uart"], baudrate=c["baudrate"], rxbuf=8 * USB_CHUNK, timeout=POLL_MS, **kw)

    def ack(self, n):
        sys.stdout.write("ACK %d\n" % n)

    def receive(self):
        if self.poller is None:  # UART: readinto waits up to its timeout, returns what came
            n = self.port.readinto(self.buf)
            if not n:
                return None
        else:
            if not self.poller.poll(POLL_MS):
                self.idle += POLL_MS
                return 0 if self.idle >= self.idle_ms else None
            # The host sends whole chunks (padding the last), so this read never waits long.
            n = self.port.readinto(self.buf)
        self.idle = 0
        self.bytes_received += n
        return n

    def deliver(self, n):
        _LinkSource.deliver(self, n)
        if self.poller is not None:
            self.ack(self.bytes_received)  # credit for the host's next chunk

    def reopen(self):
        return False  # the host went quiet: the replay is over

    def close(self):
        if self.poller is not None:
            import micropython

            micropython.kbd_intr(3)
            self.poller = None
