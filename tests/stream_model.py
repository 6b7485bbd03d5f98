"""Reference model of edgedl.Stream in numpy, in absolute frame numbers.

It restates the contract in edgedl_stream.h independently of the ring-buffer
arithmetic in C: the next window starts at `next_start`; a frame below it is
passed over; the unread frames are [next_start, pushed); when more than
`capacity` are unread the oldest is dropped and next_start moves past it.
"""

from __future__ import annotations

import numpy as np


class StreamModel:
    def __init__(self, frames: np.ndarray, window: int, hop: int, capacity: int, select=None):
        self.frames = frames  # all frames that will be pushed, (n, channels_in) int16
        self.frame_bytes = 2 * frames.shape[1]
        self.select = np.arange(frames.shape[1]) if select is None else np.asarray(select)
        self.window, self.hop, self.capacity = window, hop, capacity
        self.bytes_in = 0
        self.pushed = 0
        self.next_start = 0
        self.dropped = 0
        self.windows = 0

    def push(self, nbytes: int) -> int:
        """Push the next nbytes of the byte stream; returns frames completed."""
        self.bytes_in += nbytes
        complete = self.bytes_in // self.frame_bytes
        done = complete - self.pushed
        for n in range(self.pushed, complete):
            self.pushed = n + 1
            if n >= self.next_start and self.pushed - self.next_start > self.capacity:
                self.dropped += 1
                self.next_start += 1
        return done

    def unread(self) -> int:
        return max(0, self.pushed - self.next_start)

    def ready(self) -> int:
        held = self.unread()
        return 0 if held < self.window else 1 + (held - self.window) // self.hop

    def read(self) -> np.ndarray | None:
        if self.unread() < self.window:
            return None
        start = self.next_start
        self.next_start += self.hop
        self.windows += 1
        return self.frames[start:start + self.window][:, self.select]

    def stats(self) -> dict:
        return {
            "frames_pushed": self.pushed,
            "frames_dropped": self.dropped,
            "windows": self.windows,
            "windows_ready": self.ready(),
            "frames_held": self.unread(),
            "bytes_pending": self.bytes_in - self.pushed * self.frame_bytes,
            "counter_gaps": 0,  # the randomized scenarios watch no counter channel
            "frames_lost": 0,
            "bytes_discarded": 0,
        }
