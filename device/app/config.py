# config.json: what the gesture app runs, and the one set of rules that checks it.
#
# The same rules apply to the file at boot, to app.set(...) at the REPL and to
# `neuroedge tune set` (which calls app.set on the board), so a value that a
# running app accepts is a value it can boot with after `save`.
#
#   {"model": "model",                            bundle folder, relative to this app
#    "source": {"kind": "quattrocento", "host": "192.168.1.50", "port": 23456, "nch": 2,
#               "stall_ms": 3000},                 no bytes this long: reconnect
#    "vote": 3, "threshold": 0.5, "hop": null, "channel_mask": [],
#    "output": "console", "destination": null, "format": "json",
#    "velocity": false, "reject": false, "probabilities": false, "quality": false, "mains": 50,
#    "auto_mask": false, "drift": true,
#    "activity_ms": 0,
#    "wifi": {"ssid": "lab-emg", "password": "...", "timeout_ms": 15000}}   or null (wifi.py)
#
# Events go to the output (console, udp, tcp to "destination" [host, port], or quiet) as
# "format": json (one object per line: gesture, confidence, latency, ...), libemg (LibEMG's
# OnlineEMGClassifier message "<class index>[ <velocity>]\n", -1 when rejected) or
# libemg-probabilities ("<p0> <p1> ...[ <velocity>] <timestamp>"); with a libemg format a
# destination [host] goes to LibEMG's port, 12346. "velocity": proportional control, 0..1 per
# decision from the window's amplitude between that gesture's rest and strong levels in
# training (the bundle's "velocity"). "reject": a window below the threshold is no decision
# (-1) instead of rest. "probabilities": every gesture's in each decision. "quality": electrode checks while streaming (quality.py; "mains" is the
# hum frequency in Hz; off by default: about 40 B per channel and 3 kB of code on a small heap),
# which "auto_mask" uses to silence bad channels. "activity_ms": every
# that many ms an activity event (per-electrode level of the latest window and the bad
# channels) for a dashboard; 0 = none. "drift": drift tracking, when the bundle has it (its
# "drift": the offsets follow a session's shift of the features; runtime.py).
#
# Source kinds: quattrocento (TCP client to the amplifier), tcp (the board listens
# for raw int16 frames), udp (the board listens for framed-link datagrams); tcp and
# udp take "bind" (listen on this address only) and "peer" (frames from it only),
# serial (framed link on a UART: {"uart": 1, "baudrate": 2000000, "rx": 16, "tx": 17}),
# usb (framed link on the USB serial; the host starts it: `neuroedge replay --port`).
#
# "bridge": null, or the bridge role of the two-MCU layout (bridge.py): instead of classifying,
# the board forwards `channels` channels of its source over the framed link on a UART to a
# classifier board (whose source is "serial"): {"channels": 64, "uart": 1, "baudrate": 4000000,
# "tx": 17, "rx": 16}. A UART's "wire": [host, port] stands in for its pins in the emulator (the
# unix port has no machine.UART): a TCP connection to the tests' model of the wires.
import json
import os

from protocol import AMPLIFIER_PORT, LIBEMG_PORT, THRESHOLD, VOTE

SOURCES = ("quattrocento", "tcp", "udp", "serial", "usb")
OUTPUTS = ("console", "udp", "tcp", "quiet")
FORMATS = ("json", "libemg", "libemg-probabilities")
TUNABLE = ("vote", "threshold", "hop", "channel_mask", "output", "destination", "format", "velocity", "reject",
           "probabilities", "quality", "mains", "auto_mask", "activity_ms", "drift")
DEFAULTS = {"model": "model", "source": {"kind": "usb"}, "vote": VOTE, "threshold": THRESHOLD, "hop": None,
            "channel_mask": [], "output": "console", "destination": None, "format": "json", "velocity": False,
            "reject": False, "probabilities": False, "quality": False, "mains": 50, "auto_mask": False, "activity_ms": 0, "drift": True, "wifi": None,
            "bridge": None}


class ConfigError(ValueError):
    pass


def _int(key, value, lo, hi):
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ConfigError("%s must be an integer %d..%d, got %r" % (key, lo, hi, value))
    return value


MAX_TEXT = 256  # characters in any string of a setting: the board's heap is small


def _short_text(key, value):
    """Every string in value (nested keys and items too) is at most MAX_TEXT characters."""
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise ConfigError("%s: a text of %d characters, at most %d allowed" % (key, len(value), MAX_TEXT))
    elif isinstance(value, dict):
        for k in value:
            _short_text(key, k)
            _short_text(key, value[k])
    elif isinstance(value, (list, tuple)):
        for v in value:
            _short_text(key, v)


def check(key, value, channels=None, window=None):
    """The checked value of one setting; ConfigError names the key and the rule."""
    _short_text("a setting's name", key)
    _short_text(key, value)
    if key == "vote":
        return _int(key, value, 1, 50)
    if key == "threshold":
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1:
            raise ConfigError("threshold must be a number 0..1, got %r" % (value,))
        return float(value)
    if key == "hop":
        return None if value is None else _int(key, value, 1, window or 1024)
    if key == "channel_mask":
        if not isinstance(value, (list, tuple)):
            raise ConfigError("channel_mask must be a list of channel numbers, got %r" % (value,))
        top = (channels or 65536) - 1
        return sorted(set(_int("channel_mask entry", c, 0, top) for c in value))
    if key == "output":
        if value not in OUTPUTS:
            raise ConfigError("output must be one of %s, got %r" % (", ".join(OUTPUTS), value))
        return value
    if key == "destination":
        if value is None:
            return None
        if not (isinstance(value, (list, tuple)) and len(value) in (1, 2) and isinstance(value[0], str)):
            raise ConfigError("destination must be [host, port] (or [host]: LibEMG's port), got %r" % (value,))
        return [value[0], _int("destination port", value[1], 1, 65535) if len(value) == 2 else None]
    if key == "format":
        if value not in FORMATS:
            raise ConfigError("format must be one of %s, got %r" % (", ".join(FORMATS), value))
        return value
    if key in ("velocity", "reject", "probabilities", "quality", "auto_mask", "drift"):
        if not isinstance(value, bool):
            raise ConfigError("%s must be true or false, got %r" % (key, value))
        return value
    if key == "mains":
        if value not in (50, 60):
            raise ConfigError("mains must be 50 or 60 (Hz), got %r" % (value,))
        return value
    if key == "activity_ms":
        value = _int(key, value, 0, 60000)
        if 0 < value < 100:
            raise ConfigError("activity_ms must be 0 (off) or 100..60000: a faster map would cost the classifier "
                              "time, got %d" % value)
        return value
    if key == "model":
        # A folder beside the app: a path could reach anywhere on the flash ("../../x").
        if not isinstance(value, str) or not value or value[0] == "." or not _name_chars(value, "-_."):
            raise ConfigError("model must be a bundle folder name beside the app (letters, digits, - _ .), got %r"
                              % (value,))
        return value
    if key == "source":
        return check_source(value)
    if key == "wifi":
        return None if value is None else check_wifi(value)
    if key == "bridge":
        return None if value is None else check_bridge(value)
    raise ConfigError("unknown setting %r (settings: %s)" % (key, ", ".join(sorted(DEFAULTS))))


def check_source(src):
    if not isinstance(src, dict) or src.get("kind") not in SOURCES:
        raise ConfigError("source must be {\"kind\": one of %s, ...}, got %r" % (", ".join(SOURCES), src))
    kind = src["kind"]
    out = dict(src)
    if kind == "quattrocento":
        host = src.get("host")
        if not isinstance(host, str) or not 1 <= len(host) <= 253 or not _name_chars(host, "-.") or host[0] in "-.":
            raise ConfigError("a quattrocento source needs \"host\": the amplifier's IPv4 address or host name, "
                              "got %r" % (host,))
        out["port"] = _int("source port", src.get("port", AMPLIFIER_PORT), 1, 65535)
        out["nch"] = _int("source nch", src.get("nch", 2), 0, 3)
        out["stall_ms"] = _int("source stall_ms", src.get("stall_ms", 3000), 250, 60000)
    elif kind in ("tcp", "udp"):
        out["port"] = _int("source port", src.get("port", 9000), 1, 65535)
        # Listen on one interface only, and take frames from one sender only (both optional).
        for key in ("bind", "peer"):
            if src.get(key) is not None:
                out[key] = _address("source " + key, src[key])
    elif kind == "serial":
        out.update(check_uart("source", src))
    return out


UART_KEYS = ("uart", "baudrate", "rx", "tx", "wire")


def check_uart(what, cfg):
    """The UART settings of cfg (a serial source or the bridge's link), checked."""
    out = {"uart": _int(what + " uart", cfg.get("uart", 1), 0, 3),
           "baudrate": _int(what + " baudrate", cfg.get("baudrate", 2000000), 9600, 5000000)}
    for pin in ("rx", "tx"):
        if cfg.get(pin) is not None:
            out[pin] = _int(what + " " + pin + " pin", cfg[pin], 0, 48)
    if cfg.get("wire") is not None:
        wire = cfg["wire"]
        if not (isinstance(wire, (list, tuple)) and len(wire) == 2 and isinstance(wire[0], str)):
            raise ConfigError("%s wire must be [host, port], got %r" % (what, wire))
        out["wire"] = [_address(what + " wire host", wire[0]), _int(what + " wire port", wire[1], 1, 65535)]
    return out


def check_bridge(b):
    if not isinstance(b, dict):
        raise ConfigError("bridge must be null or {\"channels\": n, \"uart\": 1, \"baudrate\": ...}, got %r" % (b,))
    for key in b:
        if key != "channels" and key not in UART_KEYS:
            raise ConfigError("unknown bridge setting %r (channels, %s)" % (key, ", ".join(UART_KEYS)))
    out = check_uart("bridge", b)
    out["channels"] = _int("bridge channels", b.get("channels"), 1, 65535)  # edgedl.Stream names its own limit
    return out


def _name_chars(text, extra):
    for ch in text:
        if not (ch.isalpha() or ch.isdigit() or ch in extra) or ord(ch) > 127:
            return False
    return True


def _address(key, value):
    parts = value.split(".") if isinstance(value, str) else ()
    if len(parts) != 4 or not all(p.isdigit() and int(p) <= 255 for p in parts):
        raise ConfigError("%s must be an IPv4 address like 169.254.1.20, got %r" % (key, value))
    return value


def check_wifi(w):
    if not isinstance(w, dict) or not isinstance(w.get("ssid"), str) or not 1 <= len(w["ssid"]) <= 32:
        raise ConfigError("wifi must be {\"ssid\": name (1..32 characters), \"password\": ...}, got %r" % (w,))
    password = w.get("password", "")
    if not isinstance(password, str) or not (password == "" or 8 <= len(password) <= 64):
        raise ConfigError("wifi password must be empty (an open network) or 8..64 characters")
    out = {"ssid": w["ssid"], "password": password,
           "timeout_ms": _int("wifi timeout_ms", w.get("timeout_ms", 15000), 1000, 120000)}
    if w.get("ifconfig") is not None:
        ifc = w["ifconfig"]
        if not isinstance(ifc, (list, tuple)) or len(ifc) != 4:
            raise ConfigError("wifi ifconfig must be [address, netmask, gateway, dns], got %r" % (ifc,))
        out["ifconfig"] = [_address("wifi ifconfig " + name, v) for name, v in zip(("address", "netmask", "gateway", "dns"), ifc)]
    for key in w:
        if key not in ("ssid", "password", "timeout_ms", "ifconfig"):
            raise ConfigError("unknown wifi setting %r (ssid, password, timeout_ms, ifconfig)" % (key,))
    return out


def needs_network(cfg):
    """True when the source or the event output goes over IP (checked config)."""
    return cfg["source"]["kind"] in ("quattrocento", "tcp", "udp") or (cfg["output"] in ("udp", "tcp")
                                                                      and cfg["bridge"] is None)


def check_all(cfg, channels=None, window=None):
    if not isinstance(cfg, dict):
        raise ConfigError("config must be a JSON object")
    out = {}
    for key in DEFAULTS:
        out[key] = check(key, cfg.get(key, DEFAULTS[key]), channels, window)
    for key in cfg:
        if key not in DEFAULTS:
            check(key, None)  # raises: unknown setting
    if out["output"] in ("udp", "tcp") and out["destination"] is None:
        raise ConfigError("output %r needs a destination [host, port]" % out["output"])
    dest = out["destination"]
    if dest is not None and dest[1] is None:
        if out["format"] == "json":
            raise ConfigError("destination [host] without a port is for the libemg formats (port %d); json "
                              "events need [host, port]" % LIBEMG_PORT)
        out["destination"] = [dest[0], LIBEMG_PORT]
    return out


def load(path):
    try:
        with open(path) as f:
            cfg = json.load(f)
    except OSError:
        return dict(DEFAULTS)
    except ValueError:
        raise ConfigError("%s: not valid JSON" % path)
    try:
        return check_all(cfg)
    except ConfigError as exc:
        raise ConfigError("%s: %s" % (path, exc))


def save(path, cfg):
    """Write atomically: a power cut leaves the old file or the new one, never half of one."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(cfg, f)
    try:
        os.rename(tmp, path)   # littlefs (ESP32's default) and POSIX replace in one step
    except OSError:
        os.remove(path)        # FAT refuses to rename over a file
        os.rename(tmp, path)
