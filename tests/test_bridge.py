"""The two-MCU layout end to end: the simulated amplifier feeds a bridge board, which forwards the
grid's channels over the framed link on a "UART" to a classifier board. The UART is a wire the test
owns: it carries baudrate / 10 bytes a second and can lose or flip bits."""

from __future__ import annotations

import json
import random
import shutil
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from helpers import accuracy, free_port, run_app, run_device_script

from neuroedge import recording
from neuroedge.emulator import Emulator
from neuroedge.project import load_device_module
from neuroedge.quattrocento_sim import QuattrocentoSimulator

FS = 2048
FRAMES = 3 * FS  # seconds of signal the bridge forwards, served in real time
CHANNELS = 64    # the tiny model's grid


class Wire:
    """The UART wires from the bridge's TX to the classifier's RX: both boards connect to it (their
    "wire" setting); bytes move at `baudrate` (10 bits a byte, 8N1), and one in `lose_every` is lost
    and one bit in `flip_every` bytes flipped (0: none)."""

    def __init__(self, baudrate: int, lose_every: int = 0, flip_every: int = 0, seed: int = 0):
        self.bytes_per_s = baudrate / 10
        self.lose_every, self.flip_every = lose_every, flip_every
        self.rng = random.Random(seed)
        self.servers = {end: socket.create_server(("127.0.0.1", 0)) for end in ("tx", "rx")}
        self.port = {end: s.getsockname()[1] for end, s in self.servers.items()}
        self.ends: dict[str, socket.socket] = {}
        self.carried = self.lost = self.flipped = 0
        self.classifier_connected = threading.Event()
        self.thread = threading.Thread(target=self._carry, daemon=True)
        self.thread.start()

    def _damage(self, data: bytes) -> bytes:
        out = bytearray()
        for byte in data:
            if self.lose_every and self.rng.randrange(self.lose_every) == 0:
                self.lost += 1
                continue
            if self.flip_every and self.rng.randrange(self.flip_every) == 0:
                byte ^= 1 << self.rng.randrange(8)
                self.flipped += 1
            out.append(byte)
        return bytes(out)

    def _carry(self):
        self.ends["rx"], _ = self.servers["rx"].accept()
        self.classifier_connected.set()
        self.ends["tx"], _ = self.servers["tx"].accept()
        start = time.monotonic()
        while True:
            data = self.ends["tx"].recv(4096)
            if not data:
                break
            self.carried += len(data)
            # A UART cannot go faster than its baud rate: hold the bytes until their time.
            due = start + self.carried / self.bytes_per_s
            time.sleep(max(0.0, due - time.monotonic()))
            self.ends["rx"].sendall(self._damage(data))

    def close(self):
        for s in [*self.ends.values(), *self.servers.values()]:
            s.close()


def run_layout(classifier_board, bridge_board, rec, baudrate, **damage):
    """Both boards and the amplifier, until the bridge has forwarded FRAMES frames; the stats of
    both boards, the classifier's events and the wire."""
    wire = Wire(baudrate, **damage)
    try:
        with QuattrocentoSimulator(rec, port=0, speed=1.0) as amp, ThreadPoolExecutor(1) as pool:
            classifier = pool.submit(run_app, classifier_board, FRAMES, FRAMES / FS + 6,
                                     source={"kind": "serial", "baudrate": baudrate,
                                             "wire": ["127.0.0.1", wire.port["rx"]]})
            assert wire.classifier_connected.wait(30), "the classifier board never opened its UART"
            started = time.monotonic()
            stdout = run_device_script(bridge_board, "run_bridge", {"frames": FRAMES, "config": {
                "source": {"kind": "quattrocento", "host": "127.0.0.1", "port": amp.port, "nch": 2},
                "bridge": {"channels": CHANNELS, "baudrate": baudrate, "wire": ["127.0.0.1", wire.port["tx"]]}}},
                timeout=60)
            bridge_seconds = time.monotonic() - started
            bridge_stats = json.loads(stdout.strip().splitlines()[-1])
            classifier_stats, events = classifier.result()
    finally:
        wire.close()
    return bridge_stats, bridge_seconds, classifier_stats, events, wire


@pytest.fixture
def layout(big_emulator, edgedl_mpy, tiny_model, tmp_path):
    path, model = tiny_model
    shutil.copytree(model, big_emulator.board_path("model"))
    bridge_board = Emulator(tmp_path / "bridge-board", module=edgedl_mpy, bytecode=True)
    return big_emulator, bridge_board, recording.load(path)


@pytest.mark.slow
def test_the_bridge_forwards_the_grid_and_the_classifier_decides_as_if_fed_directly(layout):
    classifier_board, bridge_board, rec = layout
    bridge, _, classifier, events, wire = run_layout(classifier_board, bridge_board, rec, baudrate=4_000_000)
    # 64 channels at 2048 Hz are 264 kB/s with the framing: a 4 Mbaud UART (400 kB/s) carries them all.
    assert bridge["error"] is None and bridge["frames_pushed"] >= FRAMES and bridge["packets_dropped"] == 0
    assert bridge["frames_lost"] == 0 and bridge["link_bytes_per_s"] == 400_000
    assert classifier["link_crc_errors"] == 0 and classifier["link_packets_lost"] == 0
    assert classifier["link_packets"] == bridge["packets_sent"] and wire.carried == bridge["bytes_sent"]
    assert classifier["frames_pushed"] == bridge["frames_forwarded"] and classifier["error"] is None
    assert len(events) > 40 and accuracy(events, rec.labels) > 0.6


@pytest.mark.slow
def test_a_damaged_link_is_counted_on_the_classifier_and_decisions_go_on(layout):
    classifier_board, bridge_board, rec = layout
    bridge, _, classifier, events, wire = run_layout(classifier_board, bridge_board, rec, baudrate=4_000_000,
                                                     lose_every=40_000, flip_every=20_000, seed=3)
    assert wire.lost > 0 and wire.flipped > 0
    damaged = classifier["link_crc_errors"] + classifier["link_packets_lost"]
    # Every damaged packet is refused (its CRC, or the sequence gap it leaves), none passes as data.
    assert damaged > 0 and classifier["link_packets"] + damaged >= bridge["packets_sent"] - 2
    assert classifier["link_packets"] <= bridge["packets_sent"] - (wire.lost + wire.flipped) // 2
    assert classifier["frames_pushed"] == 8 * classifier["link_packets"] and classifier["error"] is None
    assert len(events) > 30 and accuracy(events, rec.labels) > 0.5


@pytest.mark.slow
def test_a_link_too_slow_for_the_signal_drops_packets_at_the_bridge_never_upstream(layout):
    classifier_board, bridge_board, rec = layout
    bridge, seconds, classifier, events, _ = run_layout(classifier_board, bridge_board, rec, baudrate=1_000_000)
    need = (2 * CHANNELS * 8 + 8) * FS / 8  # bytes a second the signal needs as packets
    carried = bridge["packets_sent"] / (bridge["packets_sent"] + bridge["packets_dropped"])
    # The amplifier is read on time (nothing lost upstream, real time kept); the link takes what it can.
    assert bridge["frames_lost"] == 0 and bridge["frames_pushed"] >= FRAMES and seconds < FRAMES / FS + 5
    assert carried == pytest.approx(bridge["link_bytes_per_s"] / need, abs=0.08)
    # Dropped packets keep their sequence numbers: the classifier counts them as lost (all but those
    # after the last packet sent: a gap shows only when a later packet arrives).
    assert 0 <= bridge["packets_dropped"] - classifier["link_packets_lost"] <= 4
    assert classifier["link_crc_errors"] == 0 and classifier["error"] is None
    assert classifier["model_windows"] > 0 and len(events) > 0  # fewer frames: fewer windows, still decided


def test_bridge_settings_are_checked_with_the_names_of_what_is_wrong():
    config = load_device_module("config")  # device/app/config.py, the file the board runs

    good = config.check_all({"bridge": {"channels": 192, "baudrate": 4_000_000, "tx": 17}})
    assert good["bridge"] == {"channels": 192, "uart": 1, "baudrate": 4_000_000, "tx": 17}
    for bad, message in [({"channels": 0}, "bridge channels must be an integer 1"),
                         ({"baudrate": 4_000_000}, "bridge channels must be an integer"),
                         ({"channels": 64, "baudrate": 20_000_000}, "bridge baudrate must be an integer 9600..5000000"),
                         ({"channels": 64, "tx": 99}, "bridge tx pin must be an integer 0..48"),
                         ({"channels": 64, "wire": "localhost"}, r"bridge wire must be \[host, port\]"),
                         ({"channels": 64, "parity": 1}, "unknown bridge setting 'parity'"),
                         ([64], "bridge must be null or")]:
        with pytest.raises(config.ConfigError, match=message):
            config.check_all({"bridge": bad})
    with pytest.raises(config.ConfigError, match="source rx pin"):
        config.check_all({"source": {"kind": "serial", "rx": -1}})


def test_main_starts_the_bridge_role_and_a_board_without_a_uart_says_what_it_needs(emulator):
    emulator.board_path("config.json").write_text(json.dumps(
        {"source": {"kind": "tcp", "port": free_port()}, "bridge": {"channels": 64}}))
    out = emulator.run("import app, time\n"
                    "b = app.start()\n"
                    "time.sleep_ms(300)\n"
                    "print(type(b).__name__, b.stats()['error'])\n"
                    "b.stop()\n").check().stdout
    # The unix port has no machine.UART: without a "wire" the bridge stops with a message naming it.
    assert "Bridge" in out and "no machine.UART" in out and '"wire": [host, port]' in out


@pytest.mark.parametrize("baudrate", [9600, 115200, 4_000_000, 5_000_000])
def test_the_link_budget_is_the_baud_rate_at_any_speed(emulator, baudrate):
    """The budget a bridge earns in a second is baudrate / 10 bytes, also below 10 kbaud (where
    whole kilobytes a second round to 0) and at 5 Mbaud (where a second of microseconds times the
    rate would pass the ESP32's small ints)."""
    emulator.board_path("config.json").write_text(json.dumps(
        {"source": {"kind": "tcp", "port": free_port()}, "bridge": {"channels": 8, "baudrate": baudrate}}))
    out = emulator.run("import bridge, config\n"
                       "b = bridge.Bridge(config.load('config.json'))\n"
                       "print(b._bytes_in(1000000), b._bytes_in(250000), b._bytes_in(1))").check().stdout.split()
    assert [int(v) for v in out] == [baudrate // 10, baudrate // 40, baudrate // 10 // 1_000_000]
