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
#
# Each kind is a module of its own (streambridge, tcp_source, udp_source, serial_source,
# usb_source), imported only when configured: a board keeps one source's code on its heap.
import gc

import edgedl
from protocol import ring_frames

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
        import tcp_source

        src = tcp_source.TcpFrames(channels, cfg["port"], cfg.get("bind"), cfg.get("peer"))
    elif kind == "udp":
        import udp_source

        src = udp_source.UdpLink(channels, cfg["port"], cfg.get("bind"), cfg.get("peer"))
    elif kind == "serial":
        import serial_source

        src = serial_source.SerialLink(channels, cfg)
    else:
        import usb_source

        src = usb_source.UsbConsoleLink(channels)
    src.stream = edgedl.Stream(channels, block, hop=block, capacity=ring_frames(block, src.max_frames))
    return src
