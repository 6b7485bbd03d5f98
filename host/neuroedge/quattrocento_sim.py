"""A TCP server that behaves like an OT Quattrocento amplifier, fed by a recording.

It waits for a 40-byte configuration command, checks its CRC (a bad command is
ignored, as the amplifier does), and while acquisition is on streams the
recording at the configured rate and channel count: the recording's channels
fill MULTIPLE IN 1.. (64 each) and then the IN inputs, unused inputs carry a
little noise, AUX is zero, and the accessory channels hold a real 16-bit
sample counter, the trigger (0) and the buffer-free level. A stop command
pauses, a new command reconfigures.

In real time (speed set) the amplifier's internal buffer is modelled: samples
are made on the clock whether or not the client reads them, so a client that
reads too slowly (TCP flow control stops the sender) sees the buffer-free
channel fall, and once BUFFER_FRAMES are waiting the oldest are lost, as on
the amplifier: the sample counter jumps. The socket's send buffer is kept
small, like an embedded TCP stack's, so the backlog shows in the channel
rather than in the host's kernel. The byte-level protocol comes from
device/app/quattrocento.py, the same file the board uses.

Like the amplifier it streams to one client, but a stuck client cannot lock a
board out: the newest client to send a valid command takes over (the previous
one is hung up on), so a rebooted board reconnects at once; a client that sends
no valid command for `idle_timeout` seconds while nothing streams to it is
dropped; and commands are found byte by byte, so after garbage the next valid
command on the same connection is still recognised.

Faults for tests: dropped frames (the counter jumps), stalls (no data for a
while), corrupted bytes, and a disconnect after a number of frames; and electrode
faults on chosen recording channels, as a bad grid shows them: flat (a lost contact
reads a constant), saturated (the input driven to the rails), mains hum (a loose
electrode picks up 50 Hz of a few hundred uV) and noisy (broadband noise far above
the neighbours').
"""

from __future__ import annotations

import errno
import select
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError, NeuroEdgeError
from .dataset import device_counts
from .project import load_device_module
from .recording import Recording


Q = load_device_module("quattrocento", "quattrocento")  # the board's protocol file
BLOCK_FRAMES = 32  # frames per send: 15.6 ms at 2048 Hz
# The simulated amplifier buffer, and the level its buffer-free channel reports when empty
# (OT does not publish either; one second of frames, reported in frames).
BUFFER_FRAMES = 2048
NOISE_FRAMES = 4096  # frames of noise the spare input channels repeat
SEND_BUFFER_BYTES = 64 * 1024
IDLE_TIMEOUT_S = 5.0  # a board sends its command right after connecting


class SimulatorError(NeuroEdgeError, OSError):
    """The simulator cannot listen where it was asked to (port in use, unknown address)."""


@dataclass
class Faults:
    drop_every: int = 0         # drop 1..drop_count frames after every N frames sent (0: never)
    drop_count: int = 1
    stall_at: int = -1          # frame number at which the first connection's stream stalls
    stall_s: float = 0.0
    corrupt_every: int = 0      # flip a byte in every Nth block (0: never)
    disconnect_at: int = -1     # close the connection after this many frames
    wrong_nch: int = -1         # on the first connection, stream this NCH layout whatever was asked
    # Electrode faults: recording channels (numbered as in the recording) with that fault.
    flat: tuple = ()
    saturated: tuple = ()
    hum: tuple = ()
    noisy: tuple = ()
    mains_hz: float = 50.0


ELECTRODE_FAULTS = ("flat", "saturated", "hum", "noisy")
HUM_COUNTS = 600     # amplitude of injected mains hum (about 300 uV at the Quattrocento's LSB)
NOISE_COUNTS = 400   # RMS of injected broadband noise


def electrode_faults(counts: np.ndarray, faults: Faults, idx: np.ndarray, fs: float) -> np.ndarray:
    """The recording's counts at sample indices idx with the electrode faults applied."""
    out = counts[idx].copy()
    for c in faults.flat:
        out[:, c] = 120  # a constant offset: no signal at all
    for c in faults.saturated:
        # Driven against the rail with a large gain: about half the samples clip there.
        swing = (counts[idx, c].astype(np.int32) - counts[idx - 1, c]) * 40  # the slope: no baseline drift
        out[:, c] = np.clip(32760 + swing, -32768, 32767)
    t = idx / fs
    for c in faults.hum:
        hum = HUM_COUNTS * np.sin(2 * np.pi * faults.mains_hz * t + c)
        out[:, c] = np.clip(counts[idx, c] + hum, -32768, 32767).astype(np.int16)
    for c in faults.noisy:
        noise = np.random.default_rng(idx[0] * 1000 + c).normal(0, NOISE_COUNTS, len(idx))
        out[:, c] = np.clip(counts[idx, c] + noise, -32768, 32767).astype(np.int16)
    return out


@dataclass
class SimStats:
    connections: int = 0
    commands: int = 0           # valid commands
    bad_commands: int = 0       # runs of bytes that held no valid command, skipped
    bytes_skipped: int = 0
    takeovers: int = 0          # clients hung up on because a newer one sent a valid command
    idle_drops: int = 0         # clients dropped for sending no valid command in time
    frames_sent: int = 0
    frames_dropped: int = 0
    frames_overflowed: int = 0  # lost in the amplifier's full buffer: the client read too slowly
    buffer_free_min: int = BUFFER_FRAMES


class _Commands:
    """A client's bytes -> its valid commands. The protocol has no start marker, so a command is
    looked for at every byte (40 bytes whose CRC holds are one) and anything else is skipped:
    after garbage, the next valid command is still recognised."""

    def __init__(self, stats: SimStats):
        self.pending = bytearray()
        self.stats = stats
        self.skipping = False  # inside a run of garbage, counted once

    def next(self):
        while len(self.pending) >= Q.COMMAND_BYTES:
            if self.pending[0] & 0x80:  # parse_command refuses any other first byte: spare the CRC
                try:
                    command = Q.parse_command(bytes(self.pending[:Q.COMMAND_BYTES]))
                except ValueError:
                    pass  # the amplifier ignores a command with a bad CRC
                else:
                    del self.pending[:Q.COMMAND_BYTES]
                    self.stats.commands += 1
                    self.skipping = False
                    return command
            if not self.skipping:
                self.stats.bad_commands += 1
                self.skipping = True
            del self.pending[0]
            self.stats.bytes_skipped += 1
        return None


def _hang_up(conn: socket.socket) -> None:
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already gone


class QuattrocentoSimulator:
    """The OT Quattrocento amplifier over TCP: it serves a recording as the amplifier streams, with faults for tests."""

    def __init__(self, rec: Recording, host: str = "127.0.0.1", port: int = Q.PORT, speed: float | None = 1.0,
                 faults: Faults | None = None, loop: bool = True, idle_timeout: float = IDLE_TIMEOUT_S):
        if not idle_timeout > 0:
            raise InputError(f"idle timeout must be > 0 seconds, got {idle_timeout}")
        self.rec = rec
        self.counts = device_counts(rec)
        self.host, self.port = host, port
        self.speed = speed          # multiple of real time; None: as fast as the socket takes it
        self.faults = faults or Faults()
        for kind in ELECTRODE_FAULTS:
            bad = [c for c in getattr(self.faults, kind) if not 0 <= c < rec.channels]
            if bad:
                raise InputError(f"a {kind} fault on channel {bad[0]}: the recording has channels 0-{rec.channels - 1}")
        self.loop = loop            # restart the recording at its end
        self.idle_timeout = idle_timeout
        self.stats = SimStats()
        self._layouts: dict[int, tuple] = {}  # per NCH: see _layout
        self._server: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._owner: socket.socket | None = None  # the client the amplifier serves
        self._clients: dict[socket.socket, threading.Thread] = {}

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> tuple[str, int]:
        """Listens and serves in a thread; returns the address it listens on."""
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            server.bind((self.host, self.port))
        except OSError as exc:
            server.close()
            if exc.errno == errno.EADDRINUSE:
                raise SimulatorError(f"port {self.port} is in use (on {self.host})") from None
            raise SimulatorError(f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}") from None
        server.listen(4)
        server.settimeout(0.2)
        self._server = server
        self.port = server.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, name="quattrocento-sim", daemon=True)
        self._thread.start()
        return self.host, self.port

    def stop(self) -> None:
        """Stops serving and closes every connection."""
        self._stopping.set()
        if self._thread:
            self._thread.join(timeout=5)
        with self._lock:
            clients = dict(self._clients)
        for conn, thread in clients.items():
            _hang_up(conn)  # wakes a sender blocked on a client that does not read
            thread.join(timeout=5)
        if self._server:
            self._server.close()

    def __enter__(self) -> "QuattrocentoSimulator":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- frames ----------------------------------------------------------------

    def _layout(self, nch: int) -> tuple[int, list, list, np.ndarray]:
        """For NCH `nch`: the channel count, the slots the recording fills, the spare input
        slots, and NOISE_FRAMES frames of their noise (made once: a stream as fast as the
        socket takes it must not wait for the random generator)."""
        if nch not in self._layouts:
            ins, multis = Q.NCH[nch]
            slots = [c for m in range(1, multis + 1) for c in Q.grid_channels(nch, m)] + list(range(16 * ins))
            used = min(len(slots), self.counts.shape[1])
            noise = np.random.default_rng(nch).normal(0, 8, size=(NOISE_FRAMES, len(slots) - used)).astype(np.int16)
            self._layouts[nch] = Q.channels_for(nch), slots[:used], slots[used:], noise
        return self._layouts[nch]

    def frames(self, start: int, count: int, nch: int, counter: int, buffer_free: int = BUFFER_FRAMES) -> np.ndarray:
        """`count` frames of the full channel layout for NCH `nch`, from recording sample `start`."""
        total, filled, spare, noise = self._layout(nch)
        idx = (start + np.arange(count)) % self.rec.samples
        out = np.zeros((count, total), dtype=np.int16)
        f = self.faults
        recorded = (electrode_faults(self.counts, f, idx, self.rec.fs) if f.flat or f.saturated or f.hum or f.noisy
                    else self.counts[idx])
        out[:, filled] = recorded[:, :len(filled)]
        if spare:
            out[:, spare] = noise[idx % NOISE_FRAMES]
        c = Q.counter_channel(total)
        out[:, c] = ((counter + np.arange(count)) & 0xFFFF).astype(np.uint16).view(np.int16)
        out[:, Q.buffer_channel(total)] = buffer_free
        return out

    # -- connection handling -----------------------------------------------------

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._server.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.stats.connections += 1
            thread = threading.Thread(target=self._client, args=(conn, self.stats.connections),
                                      name=f"quattrocento-client-{self.stats.connections}", daemon=True)
            with self._lock:
                self._clients[conn] = thread
            thread.start()

    def _client(self, conn: socket.socket, number: int) -> None:
        try:
            with conn:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
                self._session(conn, number)
        except OSError:
            pass  # the client went away, or a newer one took over
        finally:
            with self._lock:
                self._clients.pop(conn, None)
                if self._owner is conn:
                    self._owner = None

    def _take_over(self, conn: socket.socket) -> None:
        """The amplifier serves one client: the newest to configure it."""
        with self._lock:
            previous, self._owner = self._owner, conn
        if previous is not None and previous is not conn:
            self.stats.takeovers += 1
            _hang_up(previous)

    def _read_command(self, conn: socket.socket, commands: _Commands, timeout: float):
        """The next valid command if one has arrived within timeout, else None."""
        if len(commands.pending) >= Q.COMMAND_BYTES:
            timeout = 0  # another command came in the same read (stop, then start)
        ready, _, _ = select.select([conn], [], [], timeout)
        if ready:
            data = conn.recv(4096)
            if not data:
                raise ConnectionError("client closed")
            commands.pending.extend(data)
        return commands.next()

    def _session(self, conn: socket.socket, number: int) -> None:
        commands = _Commands(self.stats)
        fs, nch, acquiring = 2048, 2, False
        position = counter = sent = 0
        blocks = 0
        next_time = last_command = time.monotonic()
        owner = False
        f = self.faults
        while not self._stopping.is_set():
            if owner and self._owner is not conn:
                return  # a newer client took over
            cmd = self._read_command(conn, commands, 0 if acquiring else 0.2)
            if cmd is not None:
                self._take_over(conn)
                owner = True
                fs, nch, acquiring = cmd
                if f.wrong_nch >= 0 and number == 1:
                    nch = f.wrong_nch  # e.g. another program reconfigured the amplifier
                next_time = last_command = time.monotonic()
            if not acquiring:
                if time.monotonic() - last_command > self.idle_timeout:
                    self.stats.idle_drops += 1
                    return  # silent, stuck or talking garbage
                continue
            if not self.loop and position >= self.rec.samples:
                return
            free = BUFFER_FRAMES
            if self.speed:
                # Frames made by the clock but not yet sent wait in the amplifier's buffer.
                waiting = int((time.monotonic() - next_time) * fs * self.speed)
                if waiting > BUFFER_FRAMES:  # full: the oldest are overwritten
                    lost = waiting - BUFFER_FRAMES
                    position, counter = position + lost, counter + lost
                    next_time += lost / (fs * self.speed)
                    self.stats.frames_overflowed += lost
                    waiting = BUFFER_FRAMES
                free = BUFFER_FRAMES - max(0, waiting)
                self.stats.buffer_free_min = min(self.stats.buffer_free_min, free)
            count = BLOCK_FRAMES if self.loop else min(BLOCK_FRAMES, self.rec.samples - position)
            block = self.frames(position, count, nch, counter, free)
            position += count
            counter += count
            if f.drop_every and sent // f.drop_every != (sent + count) // f.drop_every:
                block = block[f.drop_count:]     # lost in the amplifier: the counter skips
                self.stats.frames_dropped += f.drop_count
            if 0 <= f.stall_at < sent + len(block) and f.stall_at >= sent and number == 1:
                time.sleep(f.stall_s)
            payload = bytearray(block.astype("<i2").tobytes())
            blocks += 1
            if f.corrupt_every and blocks % f.corrupt_every == 0:
                payload[len(payload) // 2] ^= 0xFF
            if 0 <= f.disconnect_at <= sent + len(block):
                conn.sendall(payload[:max(0, (f.disconnect_at - sent) * 2 * block.shape[1] + 7)])
                return  # mid-frame, like a pulled cable
            conn.sendall(payload)
            sent += len(block)
            self.stats.frames_sent += len(block)
            if self.speed:
                next_time += BLOCK_FRAMES / (fs * self.speed)
                delay = next_time - time.monotonic()
                if delay > 0:
                    time.sleep(delay)


def main(recording_path: Path, host: str, port: int, speed: float | None,
         idle_timeout: float = IDLE_TIMEOUT_S) -> int:
    """`neuroedge quattrocento-sim`: serves a recording until interrupted."""
    from . import recording

    rec = recording.load(recording_path)
    sim = QuattrocentoSimulator(rec, host, port, speed, idle_timeout=idle_timeout)
    sim.start()
    print(f"Quattrocento simulator on {sim.host}:{sim.port}: {rec.channels} channels of {recording_path} at "
          f"{rec.fs:g} Hz ({'max speed' if not speed else f'{speed:g}x real time'}); Ctrl-C stops", flush=True)
    try:
        while True:
            time.sleep(1)
    finally:  # Ctrl-C goes on to the CLI: "interrupted", exit status 130
        sim.stop()
        print(f"served {sim.stats.connections} connections, {sim.stats.frames_sent} frames")
