# OT Bioelettronica Quattrocento streaming protocol (see shared/reference/quattrocento.md).
#
# Plain Python that MicroPython runs unchanged: the board's StreamBridge uses it
# to configure the amplifier, and the host's simulator imports the same file, so
# the two sides cannot disagree about a byte.
#
# The host (here: the board) connects over TCP to port 23456 and writes a
# 40-byte command: ACQ_SETT, AN_OUT_IN_SEL, AN_OUT_CH_SEL, 3 configuration bytes
# for each of IN1-8 and MULTIPLE IN1-4, then a CRC-8/MAXIM of the first 39.
# Samples then flow as little-endian int16 frames of all streamed channels:
# IN channels (16 each), MULTIPLE IN channels (64 each), 16 AUX, 8 accessory.

from protocol import AMPLIFIER_PORT as PORT  # noqa: E402 - the amplifier's TCP port, one place for board and host

COMMAND_BYTES = 40
FSAMP = {512: 0, 2048: 1, 5120: 2, 10240: 3}
# NCH code -> (IN inputs, MULTIPLE IN inputs) streamed
NCH = {0: (2, 1), 1: (4, 2), 2: (6, 3), 3: (8, 4)}
AUX_CHANNELS = 16
ACCESSORY_CHANNELS = 8
UV_PER_COUNT = 5 / 65536 / 150 * 1e6  # 0.50863: 5 V span, 16 bits, gain 150


def crc8_maxim(data):
    """CRC-8/MAXIM (Dallas/1-Wire): reflected poly 0x8C, init 0, as OT's CRC8.m."""
    crc = 0
    for byte in data:
        for _ in range(8):
            mix = (crc ^ byte) & 1
            crc >>= 1
            if mix:
                crc ^= 0x8C
            byte >>= 1
    return crc


def channels_for(nch):
    """Channels per frame for an NCH code: 120, 216, 312 or 408."""
    ins, multis = NCH[nch]
    return 16 * ins + 64 * multis + AUX_CHANNELS + ACCESSORY_CHANNELS


def nch_for_channels(channels):
    for code in NCH:
        if channels_for(code) == channels:
            return code
    raise ValueError("Quattrocento streams 120, 216, 312 or 408 channels, not %d" % channels)


def grid_channels(nch, multiple_in):
    """Frame indices of MULTIPLE IN `multiple_in` (1-based) for an NCH code."""
    ins, multis = NCH[nch]
    if not 1 <= multiple_in <= multis:
        raise ValueError("MULTIPLE IN%d is not streamed with NCH=%d" % (multiple_in, nch))
    first = 16 * ins + 64 * (multiple_in - 1)
    return range(first, first + 64)


def counter_channel(channels):
    """Index of the accessory sample counter (uint16, rolls over)."""
    return channels - ACCESSORY_CHANNELS


def buffer_channel(channels):
    """Index of the accessory 'free space in the internal buffer' channel."""
    return channels - ACCESSORY_CHANNELS + 3


def command(fs=2048, nch=2, acquire=True, decim=False, rec_on=False, an_out=0, an_out_channel=0,
            in_conf=None, multiple_in_conf=None):
    """The 40-byte configuration command. in_conf / multiple_in_conf: 8 / 4 triples
    (CONF0, CONF1, CONF2); the default is all zero."""
    if fs not in FSAMP:
        raise ValueError("Quattrocento samples at 512, 2048, 5120 or 10240 Hz, not %r" % (fs,))
    if nch not in NCH:
        raise ValueError("NCH must be 0..3, not %r" % (nch,))
    acq = 0x80 | (0x40 if decim else 0) | (0x20 if rec_on else 0) | (FSAMP[fs] << 3) | (nch << 1) | (1 if acquire else 0)
    out = bytearray([acq, an_out & 0x3F, an_out_channel & 0x3F])
    for confs, count in ((in_conf, 8), (multiple_in_conf, 4)):
        confs = confs or [(0, 0, 0)] * count
        if len(confs) != count:
            raise ValueError("expected %d input configurations, got %d" % (count, len(confs)))
        for conf in confs:
            out.extend(bytes(conf))
    out.append(crc8_maxim(out))
    return bytes(out)


def stop_command(cmd):
    """The same configuration with acquisition off (byte 1 = 0x80), CRC recomputed."""
    out = bytearray(cmd[:COMMAND_BYTES - 1])
    out[0] = 0x80
    out.append(crc8_maxim(out))
    return bytes(out)


def parse_command(data):
    """(fs, nch, acquire) of a 40-byte command; ValueError naming what is wrong."""
    if len(data) != COMMAND_BYTES:
        raise ValueError("a command has 40 bytes, got %d" % len(data))
    if crc8_maxim(data[:COMMAND_BYTES - 1]) != data[COMMAND_BYTES - 1]:
        raise ValueError("command CRC mismatch: got 0x%02x, expected 0x%02x"
                         % (data[COMMAND_BYTES - 1], crc8_maxim(data[:COMMAND_BYTES - 1])))
    acq = data[0]
    if not acq & 0x80:
        raise ValueError("command byte 1 must have bit 7 set, got 0x%02x" % acq)
    fs = [rate for rate, code in FSAMP.items() if code == (acq >> 3) & 3][0]
    return fs, (acq >> 1) & 3, bool(acq & 1)
