# What the framed-link sources (udp_source, serial_source, usb_source) share: the decoder that
# checks each packet's CRC and sequence number and pushes its frames into the Stream.
import edgedl
from protocol import LINK_FRAMES, frames_per_read


class LinkSource:
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
