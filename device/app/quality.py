# Electrode quality while streaming: the C core (edgedl.Quality) measures each channel over
# periods of a quarter second; this judges them. MicroPython; the runtime feeds it the raw
# frames it classifies, so a board and the emulator judge alike.
#
#   flat       RMS below FLAT_RMS counts: a lost contact, a shorted or unplugged lead
#   saturated  SATURATED_PERMILLE of the samples or more at the int16 rails
#   hum        HUM_PERMILLE or more of the power at the mains frequency (a dry or loose
#              electrode picks the room's wiring up instead of the muscle)
#   noisy      NOISY_RATIO times the median RMS of its neighbours on the grid (or around the
#              ring of an armband), or more
#
# A channel bad in BAD_PERIODS periods in a row is masked when auto_mask is on (its features
# read 0, as with channel_mask), and unmasked after GOOD_PERIODS good periods in a row.
import array

import edgedl

REASONS = ("good", "flat", "saturated", "hum", "noisy")
FLAT_RMS = 0.5          # counts (0.25 uV on a Quattrocento); a connected electrode shows its noise floor
SATURATED_PERMILLE = 10
HUM_PERMILLE = 500
NOISY_RATIO = 6
BAD_PERIODS, GOOD_PERIODS = 2, 4
RING_CHANNELS = 32      # up to this many channels without grids: an armband, neighbours around the ring


class ElectrodeCheck:
    def __init__(self, channels, fs, grids=None, mains=50):
        self.channels, self.mains = channels, mains
        self.meter = edgedl.Quality(channels, int(fs + 0.5), mains)
        self.results = array.array("h", bytes(6 * channels))
        self.grids = grids or ()
        self.reason = bytearray(channels)     # REASONS index of the last period
        self.run = bytearray(channels)        # periods in a row with the current verdict (saturating)
        self.reset()

    def state_bytes(self):
        return self.meter.state_bytes + len(self.results) * 2 + 2 * self.channels

    def reset(self):
        """A new signal: measurements, verdicts, masks and counts start again."""
        self.meter.reset()
        for c in range(self.channels):
            self.reason[c] = self.run[c] = 0
        self.masked = set()
        self.counts = {name: 0 for name in REASONS[1:]}  # bad verdicts so far, channel-periods
        self.periods = 0

    def update(self, frames, auto_mask):
        """Raw frames in; True when the set of auto-masked channels changed."""
        if not self.meter.update(frames) or self.meter.periods < 2:
            return False  # the first period measures about an unknown mean: an offset would read as hum
        self.meter.read(self.results)
        self.periods += 1
        return self._judge(auto_mask)

    def neighbours(self, c):
        """The channels beside c: on its grid (up, down, left, right), around the ring of an
        armband, or the channels numbered next to it."""
        for rows, cols, first in self.grids:
            if first <= c < first + rows * cols:
                r, k = divmod(c - first, cols)
                out = []
                if r > 0:
                    out.append(c - cols)
                if r < rows - 1:
                    out.append(c + cols)
                if k > 0:
                    out.append(c - 1)
                if k < cols - 1:
                    out.append(c + 1)
                return out
        n = self.channels
        if not self.grids and n <= RING_CHANNELS:
            return [(c - 1) % n, (c + 1) % n] if n > 2 else [1 - c] if n == 2 else []
        return [d for d in (c - 1, c + 1) if 0 <= d < n]

    def verdict(self, c):
        n, res = self.channels, self.results
        rms = res[c]
        if res[2 * n + c] >= SATURATED_PERMILLE:
            return 2  # before flat: an input stuck at the rail is flat too
        if rms < FLAT_RMS * 16:
            return 1
        if res[n + c] >= HUM_PERMILLE:
            return 3
        near = sorted(res[d] for d in self.neighbours(c))
        if near:
            median = near[len(near) // 2] if len(near) % 2 else (near[len(near) // 2 - 1] + near[len(near) // 2]) // 2
            if rms >= NOISY_RATIO * max(median, FLAT_RMS * 16):
                return 4
        return 0

    def _judge(self, auto_mask):
        changed = False
        for c in range(self.channels):
            v = self.verdict(c)
            if v:
                self.counts[REASONS[v]] += 1
            same = (v != 0) == (self.reason[c] != 0)
            self.run[c] = min(self.run[c] + 1, 255) if same else 1
            self.reason[c] = v
            if auto_mask:
                if v and self.run[c] >= BAD_PERIODS and c not in self.masked:
                    self.masked.add(c)
                    changed = True
                elif not v and self.run[c] >= GOOD_PERIODS and c in self.masked:
                    self.masked.discard(c)
                    changed = True
        if not auto_mask and self.masked:
            self.masked = set()
            changed = True
        return changed

    def bad(self):
        """{"channel": reason} of the last period's bad channels (JSON keys are text)."""
        return {str(c): REASONS[self.reason[c]] for c in range(self.channels) if self.reason[c]}

    def stats(self):
        return {"periods": self.periods, "bad": self.bad(), "counts": dict(self.counts),
                "masked": sorted(self.masked)}
