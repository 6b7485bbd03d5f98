"""edgedl: the NeuroEdge C core as a MicroPython module (mod_edgedl.c), for editors and docs.

Every buffer is the caller's: nothing here allocates after construction. Errors name the
argument: ValueError for a wrong size or value, TypeError for a wrong kind of buffer,
MemoryError (naming the buffer) when the heap cannot hold what a constructor needs.
tests/test_edgedl_stub.py checks that the module in the emulator has exactly these names.
"""

from typing import Any, Sequence

__version__: str
MAX_CHANNELS: int  # the most channels a Stream takes (a Quattrocento's 408)
LINK_OVERHEAD: int  # bytes of framing link_encode adds to a payload (A5 5A, sequence, length, CRC)

_Buffer = Any  # bytes, bytearray, memoryview or array.array, as each method says


class Stream:
    """Interleaved little-endian int16 frames in (any chunking), channels selected, windows out
    of a ring buffer; frames are dropped (and counted) when the ring is full, never blocking."""

    channels: int        # channels kept per frame (after select)
    in_channels: int     # channels per incoming frame
    window: int          # frames per window
    hop: int             # frames between window starts
    capacity: int        # frames the ring holds
    frames_pushed: int
    bytes_pending: int   # bytes of an incomplete frame waiting for the rest
    room: int            # frames the ring can take now

    def __init__(self, channels: int, window: int, hop: int | None = None, capacity: int | None = None,
                 select: Sequence[int] | None = None, counter: int | None = None) -> None:
        """hop defaults to window, capacity to 4 x window; select keeps these channels (in this
        order); counter watches that channel as a uint16 sample counter (gaps are counted)."""

    def push(self, data: _Buffer) -> int:
        """Bytes of frames in; returns the frames completed."""

    def read(self, out: _Buffer) -> bool:
        """The next window (window x channels int16, time-major) into out (array('h')); False
        when none is ready (out untouched)."""

    def ready(self) -> int:
        """Windows that read() can give now."""

    def stats(self) -> dict:
        """frames_pushed, frames_dropped, windows, windows_ready, frames_held, bytes_pending,
        counter_gaps, frames_lost, bytes_discarded."""

    def reset(self) -> None:
        """Forgets all frames and zeroes the counters; the configuration stays."""

    def resync(self) -> int:
        """After a broken connection: drops an incomplete frame's bytes (returned, and counted)."""


class Model:
    """An int8 .tflite (full-integer quantization) run exactly as TFLite Micro's reference
    kernels do; the weights are used in place from the bytes given."""

    input_shape: tuple
    output_shape: tuple
    input_dtype: str          # "int8" or "float32"
    output_dtype: str
    input_quantization: tuple  # (scale, zero_point)
    output_quantization: tuple
    embedding_shape: tuple | None         # the classifier head's input (FULLY_CONNECTED -> SOFTMAX)
    embedding_quantization: tuple | None  # None when the model has no such head
    arena_bytes: int
    meta_bytes: int
    ops: int
    macs: int

    def __init__(self, model: _Buffer) -> None:
        """The .tflite file's bytes (a mutable buffer is copied). ValueError names what is wrong
        or unsupported (op, tensor, quantization)."""

    def invoke(self, input: _Buffer, output: _Buffer) -> None:
        """input: array('b') or bytes-like of the input tensor's size (float32: array('f'));
        output: a writable buffer of the output tensor's size, filled in place."""

    def embedding(self, out: _Buffer) -> None:
        """After an invoke: the classifier head's int8 input into out (array('b') or bytearray)."""


class Preprocess:
    """The board's preprocessing, bit-identical to the host's: high-pass, rectify, envelope,
    decimation, or feature blocks (log2 MAV, log2 WL, ZC, SSC; ring differences)."""

    width: int        # values per output frame
    signals: int      # channels, or 2 x channels with ring differences
    state_bytes: int  # the filter state it holds

    def __init__(self, channels: int, highpass_q15: int = 0, rectify: bool = False, envelope_q15: int = 0,
                 decimate: int = 1, *, features: int = 0, threshold: int = 0) -> None:
        """features: a mask of 1 (log MAV), 2 (log WL), 4 (ZC), 8 (SSC), plus 16 for ring
        differences; with features, decimate is the block length in frames."""

    def process(self, frames_in: _Buffer, frames_out: _Buffer) -> int:
        """array('h') time-major frames in; the kept frames of `width` values out; returns the
        frames written. frames_out may be frames_in unless features are on."""

    def reset(self) -> None:
        """A new signal: the filter state starts again."""


def quantize(window: _Buffer, out: _Buffer, mult: int, shift: int, zero_point: int) -> None:
    """int16 window (array('h')) -> int8 model input (array('b') or bytearray) of the same length:
    clamp(MultiplyByQuantizedMultiplier(x, mult, shift) + zero_point)."""


def column_means(window: _Buffer, width: int, out: _Buffer) -> int:
    """out[c] = the mean (rounded) over the window's frames of column c, for the first len(out)
    columns (array('h') window of `width` values per frame, array('h') out); returns their sum."""


def drift_apply(window: _Buffer, width: int, offsets: _Buffer) -> None:
    """Drift tracking: takes each column's offset (array('i'), Q8 feature units, one per column)
    off the window (array('h'), `width` values per frame), in place, saturating."""


def drift_track(window: _Buffer, width: int, class_means: _Buffer, index: int, rate_shift: int,
                offsets: _Buffer) -> None:
    """One drift-tracking step after a decision for class `index` on a window drift_apply has
    offset: each offset moves 1 / 2^rate_shift (0..16) of the way from the column's mean minus
    that class's training mean (class_means: array('h'), classes x width)."""


class Quality:
    """Electrode checks over periods of raw frames, per channel: RMS, the share of mains hum,
    the share of samples at the int16 rails."""

    periods: int      # completed so far
    period: int       # raw frames per period
    channels: int
    state_bytes: int  # the sums it holds

    def __init__(self, channels: int, fs: int, mains: int = 50, period_ms: int = 250) -> None: ...

    def update(self, frames: _Buffer) -> int:
        """array('h') time-major raw frames in; returns the periods completed."""

    def read(self, out: _Buffer) -> None:
        """The last complete period into array('h') out of 3 x channels: RMS x 16 (counts) of each
        channel, then hum per mille of its power, then saturated samples per mille."""

    def reset(self) -> None:
        """A new signal: the sums and results start again."""


class LinkDecoder:
    """The framed link (UART, SPI, USB serial): packets with a sequence number and CRC16,
    resynchronised after noise; their payloads go into a Stream."""

    def __init__(self, max_payload: int = 2048) -> None: ...

    def feed(self, data: _Buffer, stream: Stream) -> int:
        """Received bytes in; returns the packets decoded (their payloads pushed to stream)."""

    def stats(self) -> dict:
        """packets, crc_errors, bytes_skipped, packets_lost."""

    def reset(self) -> None:
        """A new link session: sequence numbers start again, counters go to zero."""


def link_encode(seq: int, payload: _Buffer, out: _Buffer) -> int:
    """One packet (payload + 8 bytes of framing) into out; returns the bytes written."""
