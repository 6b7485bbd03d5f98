# The serial source: the framed link on a UART (the two-MCU layout: a bridge board forwards its
# amplifier to this one). See sources.py for the interface every source has.
from link_source import LinkSource
from protocol import USB_CHUNK


class SerialLink(LinkSource):
    """The framed link on a UART: {"uart": 1, "baudrate": 2000000, "rx": 16, "tx": 17}."""

    def __init__(self, channels, uart):
        LinkSource.__init__(self, channels, USB_CHUNK)
        self.uart_cfg = uart
        self.buf = bytearray(USB_CHUNK)
        self.view = memoryview(self.buf)
        self.port = None

    def open(self):
        import uart  # here: a board without a UART source never loads it

        LinkSource.open(self)
        self.port = uart.open_uart(self.uart_cfg, rxbuf=8 * USB_CHUNK)

    def receive(self):
        n = self.port.readinto(self.buf)  # waits up to its timeout, returns what came
        if not n:
            return None
        self.bytes_received += n
        return n

    def close(self):
        if self.port is not None:
            self.port.deinit()
            self.port = None
