# The usb source: the framed link on the USB serial console, for a replay the host starts
# (`neuroedge replay --port`). See sources.py for the interface every source has.
import select
import sys

from link_source import LinkSource
from protocol import POLL_MS, USB_CHUNK, USB_UNIT


class UsbConsoleLink(LinkSource):
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
        LinkSource.__init__(self, channels, USB_CHUNK)
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

        LinkSource.open(self)
        self.idle = 0
        self.credit_owed = False
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

    def _send_credit(self):
        self.ack(self.bytes_received)  # the host's credit for its next chunk
        self.credit_owed = False

    def _readable(self):
        # ipoll, not poll: it allocates nothing, so a full heap cannot stop a chunk between
        # two units (the first would be read and then forgotten).
        for _ in self.poller.ipoll(POLL_MS):
            return True
        return False

    def receive(self):
        if self.credit_owed:  # a full heap kept the last delivery's credit from the host
            self._send_credit()
        if self.ended or (self.data_bytes is not None and self.bytes_received >= self.data_bytes):
            return 0
        got = 0
        for unit in self.units:
            # A poll before every unit: a sender that stops mid-chunk (unplugged, killed)
            # leaves a torn chunk that ends the replay instead of a read that waits forever.
            if not self._readable():
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
        LinkSource.deliver(self, n)
        self.credit_owed = True  # until it is written: the next receive sends it if this one cannot
        self._send_credit()

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
        st = LinkSource.stats(self)
        st.update(usb_torn_chunks=self.torn_chunks, usb_discarded=self.discarded)
        return st
