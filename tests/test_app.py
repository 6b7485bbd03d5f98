"""The whole device app in the emulator: every source, the faults each one meets, and live
tuning. Each test streams a labelled recording and checks the events against its labels."""

from __future__ import annotations

import json
import random
import shutil
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from helpers import accuracy, free_port, run_app, run_device_script
from neuroedge import link, recording
from neuroedge.quattrocento_sim import Faults, QuattrocentoSimulator

sys.path.insert(0, str(Path(__file__).parents[1] / "device" / "app"))
import config  # noqa: E402  (device/app/config.py: plain Python, the same file the board runs)

@pytest.fixture
def app_board(big_emulator, tiny_model):
    path, model = tiny_model
    shutil.copytree(model, big_emulator.board_path("model"))
    return big_emulator, recording.load(path)


def connect_retry(port: int, timeout: float = 20) -> socket.socket:
    end = time.monotonic() + timeout
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.1)


def test_tcp_frames_source_survives_a_client_torn_mid_frame(app_board):
    emulator, rec = app_board
    frames = rec.emg[:6144].astype("<i2")
    port = free_port()
    rng = random.Random(1)
    with ThreadPoolExecutor(1) as pool:
        # wifi set: on the unix port (no `network` module) the app uses the host's network.
        job = pool.submit(run_app, emulator, len(frames), source={"kind": "tcp", "port": port},
                          wifi={"ssid": "lab-emg", "password": ""})
        for i, part in enumerate((frames[:3000], frames[3000:])):
            data = part.tobytes()
            with connect_retry(port) as s:
                pos = 0
                while pos < len(data):
                    n = rng.randrange(1, 5000)  # any chunking
                    s.sendall(data[pos:pos + n])
                    pos += n
                if i == 0:
                    s.sendall(b"\x01" * 7)  # a torn frame: the cable is pulled mid-frame
        stats, events = job.result()
    assert stats["clients"] == 2 and stats["bytes_discarded"] == 7 and stats["error"] is None, json.dumps(stats)
    assert stats["frames_pushed"] == len(frames) and stats["frames_dropped"] == 0
    assert len(events) > 50 and accuracy(events, rec.labels) > 0.6  # a decision every 50 ms


def test_udp_link_source_counts_lost_and_corrupted_packets(app_board):
    emulator, rec = app_board
    frames = rec.emg[:6144].astype("<i2")
    port = free_port(socket.SOCK_DGRAM)
    per_packet = 8  # protocol.LINK_FRAMES
    sent = lost = corrupted = 0
    with ThreadPoolExecutor(1) as pool, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        packets = [link.encode(seq, frames[i:i + per_packet].tobytes())
                   for seq, i in enumerate(range(0, len(frames), per_packet))]
        delivered = sum(1 for seq in range(len(packets)) if seq % 10 != 7 and seq % 13 != 5) * per_packet
        job = pool.submit(run_app, emulator, delivered, 20, source={"kind": "udp", "port": port})
        time.sleep(1.0)  # the board binds its port
        for seq, packet in enumerate(packets):
            if seq % 10 == 7:
                lost += 1
                continue  # lost on the network
            if seq % 13 == 5:
                packet = bytearray(packet)
                packet[20] ^= 0x10  # one flipped bit: the CRC catches it
                corrupted += 1
            s.sendto(bytes(packet), ("127.0.0.1", port))
            sent += 1
            if seq % 8 == 0:
                time.sleep(0.002)  # about 10x real time: UDP has no flow control
        stats, events = job.result()
    # Sequence numbers reveal a missing packet only when a later one arrives: missing packets
    # at the very end cannot be seen.
    good = [seq for seq in range(len(packets)) if seq % 10 != 7 and seq % 13 != 5]
    assert stats["link_crc_errors"] == corrupted, json.dumps(stats)
    assert stats["link_packets_lost"] == good[-1] + 1 - len(good)
    assert lost + corrupted - stats["link_packets_lost"] == len(packets) - 1 - good[-1]
    assert stats["frames_pushed"] == delivered and stats["error"] is None
    assert len(events) > 40 and accuracy(events, rec.labels) > 0.5


@pytest.mark.parametrize("fault, check", [
    (Faults(wrong_nch=3), lambda st: st["layout_errors"] >= 1 and st["reconnects"] >= 1),
    # The simulator serves one connection at a time, so the reconnect can meet the tail of the stall too.
    (Faults(stall_at=1500, stall_s=1.5), lambda st: st["stalls"] >= 1 and st["reconnects"] == st["stalls"]),
    (Faults(corrupt_every=2, drop_every=700, drop_count=3), lambda st: st["frames_lost"] > 0),
], ids=["wrong-channel-count", "stall", "corrupt-and-drop"])
def test_quattrocento_faults_are_detected_and_the_app_recovers(app_board, fault, check):
    emulator, rec = app_board
    with QuattrocentoSimulator(rec, port=0, speed=4.0, faults=fault) as sim:
        code = ("import app, json\n"
                "got = []\n"
                "a = app.App(model='model', output='quiet', callback=lambda e: got.append((e['raw_frame'], e['index'])))\n"
                f"a.run_quattrocento('127.0.0.1', {sim.port}, frames=5000, stall_ms=500)\n"
                "print(json.dumps({'stats': a.stats(), 'events': got}))\n")
        out = json.loads(emulator.run(code, timeout=90).check().stdout.strip().splitlines()[-1])
    stats = out["stats"]
    assert check(stats), json.dumps(stats)
    assert stats["error"] is None and stats["frames_pushed"] >= 5000 and stats["model_windows"] > 40


def test_tuning_on_the_board_checks_values_and_changes_the_decisions(app_board):
    emulator, rec = app_board
    emulator.board_path("raw.bin").write_bytes(rec.emg[:12288].astype("<i2").tobytes())
    out = emulator.run(
        "import app, array, json\n"
        "got = []\n"
        "a = app.App(model='model', output='quiet', callback=lambda e: got.append(e['index']))\n"
        "rt = a.runtime\n"
        "data = open('raw.bin', 'rb').read()\n"
        "def windows():\n"
        "    before = rt.windows\n"
        "    rt.feed(array.array('h', data))\n"
        "    return rt.windows - before\n"
        "errors = []\n"
        "for bad in ({'vote': 0}, {'threshold': 1.5}, {'hop': 99}, {'channel_mask': [64]}, {'output': 'udp'},\n"
        "            {'model': 'other'}, {'colour': 'red'}):\n"
        "    try:\n"
        "        a.set(**bad)\n"
        "    except ValueError as exc:\n"
        "        errors.append(str(exc))\n"
        "base = windows()\n"
        "a.set(hop=4)\n"  # twice the default hop: half the windows
        "half = windows()\n"
        "a.set(hop=None, channel_mask=list(range(64)), threshold=0.0, vote=1)\n"
        "masked = windows()\n"
        "print(json.dumps({'errors': errors, 'windows': [base, half, masked], 'get': a.get(),\n"
        "                  'unmasked': got[:base], 'masked': got[-masked:]}))\n").check().stdout
    res = json.loads(out.strip().splitlines()[-1])
    assert [e.split(" ")[0] for e in res["errors"]] == ["vote", "threshold", "hop", "channel_mask", "output",
                                                        "model", "colour"]
    assert "1..50" in res["errors"][0] and "needs a destination" in res["errors"][4]
    base, half, masked = res["windows"]
    assert abs(half - base / 2) <= 2 and masked == base
    assert res["get"]["channel_mask"] == list(range(64)) and res["get"]["hop"] is None
    # With every channel silenced the model sees a flat window: one answer, whatever the signal.
    assert len(set(res["masked"])) == 1 and len(set(res["unmasked"])) > 2


def test_config_rules_are_the_same_on_the_host():
    cfg = config.check_all({"source": {"kind": "quattrocento", "host": "10.0.0.2"}, "vote": 3})
    assert cfg["source"] == {"kind": "quattrocento", "host": "10.0.0.2", "port": 23456, "nch": 2, "stall_ms": 3000}
    with pytest.raises(config.ConfigError, match="a quattrocento source needs \"host\""):
        config.check_all({"source": {"kind": "quattrocento"}})
    with pytest.raises(config.ConfigError, match="source must be"):
        config.check_all({"source": {"kind": "bluetooth"}})
    with pytest.raises(config.ConfigError, match="vote must be an integer 1..50, got True"):
        config.check("vote", True)


@pytest.mark.parametrize("ap, cfg, result", [
    ({}, {"ssid": "lab-emg", "password": "correct horse"}, "192.168.4.2"),
    ({}, {"ssid": "lab-emg", "password": "correct horse", "ifconfig": ["169.254.1.20", "255.255.0.0",
                                                                       "169.254.1.1", "0.0.0.0"]}, "169.254.1.20"),
    ({}, {"ssid": "lab-emg", "password": "wrong password"}, "WifiError: wifi: cannot join 'lab-emg': wrong password"),
    ({}, {"ssid": "lab-emg-5g", "password": "correct horse"}, "WifiError: wifi: cannot join 'lab-emg-5g': no ap found"),
    ({"answers": False}, {"ssid": "lab-emg", "password": "correct horse", "timeout_ms": 1000},
     "WifiError: wifi: no connection to 'lab-emg' after 1000 ms (status 1001)"),
], ids=["dhcp", "static-address", "wrong-password", "no-such-network", "timeout"])
def test_wifi_joins_the_network_or_says_why_not(emulator, ap, cfg, result):
    cfg = config.check("wifi", cfg)  # the rules the app applies first
    out = json.loads(run_device_script(emulator, "wifi_join", {"ap": ap, "cfg": cfg}).strip().splitlines()[-1])
    assert out["result"] == result
    calls = [tuple(c) for c in out["calls"]]
    assert calls[0] == ("active", True) and ("connect", cfg["ssid"]) in calls
    if "ifconfig" in cfg:  # the static address is set before joining: no DHCP on the amplifier's network
        assert calls.index(("ifconfig", cfg["ifconfig"])) < calls.index(("connect", cfg["ssid"]))
    if result.startswith("WifiError"):
        assert calls[-1] == ("active", False)  # the radio is not left searching


def test_wifi_config_rules():
    assert config.check_all({"wifi": {"ssid": "lab", "password": ""}})["wifi"] == \
        {"ssid": "lab", "password": "", "timeout_ms": 15000}
    for bad, message in [({"ssid": ""}, "wifi must be"), ({"ssid": "lab", "password": "short"}, "8..64 characters"),
                         ({"ssid": "lab", "ifconfig": ["10.0.0.300", "255.0.0.0", "10.0.0.1", "10.0.0.1"]},
                          "wifi ifconfig address must be an IPv4 address"),
                         ({"ssid": "lab", "channel": 6}, "unknown wifi setting 'channel'")]:
        with pytest.raises(config.ConfigError, match=message):
            config.check("wifi", bad)
    # The emulator has no `network` module: an app with wifi set runs on the host's network.
    assert config.needs_network(config.check_all({"source": {"kind": "udp"}}))
    assert not config.needs_network(config.check_all({}))
