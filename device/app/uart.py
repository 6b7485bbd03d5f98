# A UART for the framed link (the serial source, the bridge's output), and its stand-in in
# the emulator: the unix port has no machine.UART, so a UART's "wire": [host, port] setting
# makes it a TCP connection to the tests' model of the wires between two boards.
import select
import socket
import time

from protocol import POLL_MS, read_available


def open_uart(cfg, rxbuf=256, txbuf=0):
    """The UART of checked settings cfg (config.check_uart): reads wait up to POLL_MS and
    return what came. Where there is no machine.UART (the emulator), its "wire" instead."""
    try:
        from machine import UART
    except ImportError:
        if "wire" not in cfg:
            raise ValueError("this board has no machine.UART: give the UART a \"wire\": [host, port]")
        return WireUart(cfg["wire"])
    kw = {k: cfg[k] for k in ("rx", "tx") if k in cfg}
    if txbuf:
        kw["txbuf"] = txbuf
    return UART(cfg["uart"], baudrate=cfg["baudrate"], rxbuf=rxbuf, timeout=POLL_MS, **kw)


class WireUart:
    """A UART's two wires as a TCP connection to [host, port] (the tests' model of the wires
    between two boards, which sets the baud rate and can damage the bytes): readinto and write
    as machine.UART's."""

    def __init__(self, wire):
        self.sock = socket.socket()
        self.sock.connect(socket.getaddrinfo(wire[0], wire[1])[0][-1])
        self.poller = select.poll()
        self.poller.register(self.sock, select.POLLIN)

    def readinto(self, buf):
        self.sock.setblocking(False)
        n = read_available(self.sock, self.poller, buf, POLL_MS)
        if n == 0:  # the wires are cut: silence, as on a UART
            time.sleep_ms(POLL_MS)
            return None
        return n

    def write(self, data):
        self.sock.setblocking(True)
        view, sent = memoryview(data), 0
        while sent < len(view):
            sent += self.sock.write(view[sent:])
        return sent

    def deinit(self):
        self.sock.close()
