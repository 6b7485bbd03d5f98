# WiFi station bring-up for the network sources and outputs (the Quattrocento over
# TCP, tcp/udp frames, udp/tcp events). MicroPython.
#
# On an ESP32 the app joins the network named in config.json before it opens a
# socket:  "wifi": {"ssid": "lab-emg", "password": "...", "timeout_ms": 15000,
#                   "ifconfig": ["169.254.1.20", "255.255.0.0", "169.254.1.1", "0.0.0.0"]}
# "ifconfig" (optional) sets a static address, for an amplifier's network without
# DHCP (OT's examples put the Quattrocento at 169.254.1.10). Ports without the
# `network` module (the unix port: the emulator uses the host's network) skip it.
import time


class WifiError(OSError):
    pass


# Station states after which waiting longer cannot help (ESP32 names; getattr: not
# every port defines every one).
_FAILED = ("STAT_WRONG_PASSWORD", "STAT_NO_AP_FOUND", "STAT_CONNECT_FAIL", "STAT_ASSOC_FAIL",
           "STAT_HANDSHAKE_TIMEOUT", "STAT_BEACON_TIMEOUT")


def connect(cfg, network=None):
    """Joins cfg's network and returns the board's address; None where the port has no
    `network` module. WifiError names the network and why it failed."""
    if network is None:
        try:
            import network
        except ImportError:
            return None
    ssid = cfg["ssid"]
    wlan = network.WLAN(network.STA_IF)
    wlan.active(True)
    if wlan.isconnected() and wlan.config("ssid") == ssid:
        return wlan.ifconfig()[0]  # a soft reset keeps the radio connected
    if wlan.isconnected():
        wlan.disconnect()
    if cfg.get("ifconfig"):
        wlan.ifconfig(tuple(cfg["ifconfig"]))
    wlan.connect(ssid, cfg["password"])
    failed = {getattr(network, name): name[5:].lower().replace("_", " ") for name in _FAILED if hasattr(network, name)}
    start = time.ticks_ms()
    while not wlan.isconnected():
        status = wlan.status()
        if status in failed:
            wlan.active(False)
            raise WifiError("wifi: cannot join %r: %s" % (ssid, failed[status]))
        if time.ticks_diff(time.ticks_ms(), start) > cfg["timeout_ms"]:
            wlan.active(False)
            raise WifiError("wifi: no connection to %r after %d ms (status %r)" % (ssid, cfg["timeout_ms"], status))
        time.sleep_ms(100)
    return wlan.ifconfig()[0]
