# What the board's sources and the host's tools must agree on, in one file: the board
# imports it, the host loads it (neuroedge.project.load_device_module) as it loads
# config.py. Plain Python for MicroPython and CPython alike.
import errno
import socket

AMPLIFIER_PORT = 23456  # the Quattrocento's TCP port (quattrocento.py, config.py, the host's simulator)
LIBEMG_PORT = 12346     # where LibEMG's OnlineEMGClassifier sends its decisions (and its environments listen)
VOTE, THRESHOLD = 3, 0.5  # the decision's defaults: majority over 3 windows, confidence 0.5 (config, runtime)
POLL_MS = 250      # how long a source waits for bytes before its thread looks whether to stop
LOOP_STACK = 16 * 1024  # the stack of a board loop's thread (app, bridge): the C core's calls need it
CHUNK = 32         # raw frames the runtime preprocesses at a time (`bench mcu` runs the C core the same way)
LINK_FRAMES = 8    # frames a framed-link packet carries at most (the decoder's buffer is sized for it)
# USB-serial replay (`neuroedge replay --port`): the host sends whole chunks and waits for the
# board's "ACK <bytes>" before it would have more than CREDIT_CHUNKS unacknowledged; each chunk
# is written at once, and the board reads it in units, each after a poll.
USB_CHUNK = 2048
USB_UNIT = 64
CREDIT_CHUNKS = 8


def frames_per_read(read_bytes, frame_bytes):
    # A read may complete a frame left partial by the one before it.
    return (read_bytes + frame_bytes - 1) // frame_bytes


def ring_frames(block, max_frames):
    """Frames a source's ring holds: one block being read, one being filled, and the most
    one delivery brings, so the receiver can always wait for room instead of overwriting."""
    return 2 * block + max_frames


def read_available(sock, poller, buf, timeout_ms):
    """Reads what has arrived, at most len(buf) bytes, waiting up to timeout_ms when nothing
    has: n > 0, None when nothing came, 0 when the peer is gone. The socket is non-blocking:
    a blocking readinto that times out after a partial read raises and the bytes it had are
    lost. A stream that keeps up is read without a poll: one system call, not two."""
    n = _read_now(sock, buf)
    if n is None and poller.poll(timeout_ms):
        n = _read_now(sock, buf)
    return n  # None: nothing yet, or woken with nothing to read after all


def _read_now(sock, buf):
    try:
        return sock.readinto(buf)  # None when nothing has arrived
    except OSError as exc:
        return None if exc.errno == errno.EAGAIN else 0


def listening_address(bind, port):
    return socket.getaddrinfo(bind or "0.0.0.0", port)[0][-1]


def peer_host(addr):
    """The IPv4 address of accept()/recvfrom()'s peer, as text."""
    if isinstance(addr, tuple):
        return addr[0]                          # ESP32 (lwIP): (host, port)
    return "%d.%d.%d.%d" % tuple(addr[4:8])     # unix port: a raw sockaddr_in
