"""Hostile and clumsy input against a board (the virtual board on a pty, as a real ESP32 is
driven): recording bytes that spell REPL input, a replay cut off with Ctrl-C, a refused tuning
change, and a tcp source whose sender pauses mid-read."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from helpers import free_port
from neuroedge import deploy, recording, replay, tune
from neuroedge.virtual_board import VirtualBoard
from neuroedge.serial_board import BoardConnection, DeviceError, ensure_app_code

pytestmark = pytest.mark.slow

# Ctrl-C clears any REPL line, the Python writes a file, \r runs it at the friendly REPL and
# Ctrl-D at the raw REPL: what a hostile recording's samples spell, byte for byte.
INJECTION = b"\x03\x03f=open('/pwned','w');f.write('x');f.close()\r\x04"


def crafted_recording(channels: int, frames: int, fs: float = 2048.0) -> recording.Recording:
    frame = bytearray(b" " * (2 * channels))
    frame[:len(INJECTION)] = INJECTION
    counts = np.frombuffer(bytes(frame) * frames, dtype="<i2").reshape(frames, channels).copy()
    return recording.Recording(counts, fs, uv_per_count=recording.QUATTROCENTO_UV_PER_COUNT,
                               labels=np.zeros(frames, dtype=np.int16), label_names=("rest",),
                               source="crafted")


@pytest.fixture
def vboard(edgedl_mpy, tmp_path):
    with VirtualBoard(tmp_path / "flash") as b:
        yield b


def answers(port: str) -> bool:
    with BoardConnection(port) as b:
        return b.call("", "6 * 7") == 42


def test_recording_bytes_never_reach_the_repl_when_the_app_fails_mid_replay(vboard, tiny_model):
    _, model = tiny_model
    deploy.deploy(vboard.port, model, log=lambda *a: None)
    # A bug in the app (here: the event callback raises after 20 events) stops it mid-replay,
    # while the host has more of the crafted recording on its way.
    with BoardConnection(vboard.port) as b:
        b.call(ensure_app_code() + "def _bug(e):\n    if e['window'] >= 20:\n        raise ValueError('injected')\n"
               "app.callback = _bug\n", "1")
    rec = crafted_recording(64, 2048 * 6)
    with pytest.raises(DeviceError, match="(?s)failed during the replay.*ValueError: injected"):
        replay.replay_via_port(rec, model, vboard.port, speed=None)
    time.sleep(1.0)
    assert answers(vboard.port)
    assert not vboard.board_path("/pwned").exists(), "recording bytes ran as code on the board"


def test_a_full_heap_in_the_usb_receiver_costs_no_frames(vboard, tiny_model):
    # A calibration's fit beside a REPL command once filled the heap for a moment in the
    # receiver thread, and the whole session stopped. Here the 3rd receive and the 5th credit
    # to the host meet a MemoryError: the replay goes on and loses nothing.
    path, model = tiny_model
    deploy.deploy(vboard.port, model, log=lambda *a: None)
    rec = recording.load(path).part(slice(4096), "2 s")
    clean = replay.replay_via_port(rec, model, vboard.port, speed=None)
    with BoardConnection(vboard.port) as b:
        b.call("import usb_source\n"
               "_link, _calls = usb_source.UsbConsoleLink, {'receive': 0, 'ack': 0}\n"
               "def _heap_full_at(name, at, real):\n"
               "    def method(self, *args):\n"
               "        _calls[name] += 1\n"
               "        if _calls[name] == at:\n"
               "            raise MemoryError('injected')\n"
               "        return real(self, *args)\n"
               "    return method\n"
               "_link.receive = _heap_full_at('receive', 3, _link.receive)\n"
               "_link.ack = _heap_full_at('ack', 5, _link.ack)\n", "1")
    hit = replay.replay_via_port(rec, model, vboard.port, speed=None)
    assert hit.stats["error"] is None and hit.stats["receiver_memory_errors"] == 2
    assert hit.stats["link_packets_lost"] == 0 and hit.events == clean.events > 0


def test_ctrl_c_during_a_usb_replay_leaves_the_board_answering(vboard, tiny_model, tmp_path):
    path, model = tiny_model
    deploy.deploy(vboard.port, model, log=lambda *a: None)
    proc = subprocess.Popen([sys.executable, "-m", "neuroedge", "replay", str(path), "--model", str(model),
                             "--port", vboard.port, "--png", str(tmp_path / "t.png")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(6)  # connected and streaming in real time
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    # Reconnecting right away works: the board ended the replay and gave the console back.
    assert answers(vboard.port)
    res = replay.replay_via_port(recording.load(path).part(slice(4096), "2 s"), model, vboard.port, speed=None)
    assert res.stats["link_packets_lost"] == 0 and res.events > 0


def test_a_refused_tuning_change_is_not_applied(vboard, tiny_model):
    path, model = tiny_model
    deploy.deploy(vboard.port, model, log=lambda *a: None)
    with BoardConnection(vboard.port) as b:
        before = tune.show(b)["settings"]
        with pytest.raises(DeviceError, match="destination .*no-such-host.invalid.* cannot be resolved"):
            tune.set_values(b, ["output=udp", 'destination=["no-such-host.invalid", 5005]'])
        assert tune.show(b)["settings"] == before  # nothing half-applied
    # The classifier still runs and emits events with the old output.
    res = replay.replay_via_port(recording.load(path).part(slice(4096), "2 s"), model, vboard.port, speed=None)
    assert res.events > 0 and res.stats["error"] is None and res.stats["unsent_events"] == 0


def test_tcp_source_counts_bytes_that_arrive_in_bursts_with_pauses(emulator, tiny_model):
    _, model = tiny_model
    shutil.copytree(model, emulator.board_path("model"))
    port = free_port()
    channels = 64
    code = (
        "import app, json\n"
        f"a = app.App(model='model', output='quiet', source={{'kind': 'tcp', 'port': {port}}})\n"
        "a.run(seconds=5)\n"
        "print('STATS ' + json.dumps(a.stats()))\n")
    proc = subprocess.Popen(emulator.command("-c", code), cwd=emulator.root, env=emulator.environment(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    proc.kill()
                    out, err = proc.communicate()
                    raise AssertionError(f"the app never listened on port {port}: {out}{err}")
                time.sleep(0.1)
        frame = bytes(2 * channels)
        with sock:
            for _ in range(5):  # 5 bursts of 10 frames, 0.6 s apart: each is a partial 2 kB read
                sock.sendall(frame * 10)
                time.sleep(0.6)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    st = json.loads(next(line for line in out.splitlines() if line.startswith("STATS "))[6:])
    assert st["bytes_received"] == 50 * 2 * channels and st["frames_pushed"] == 50, (st, err)


def test_config_refuses_paths_and_odd_hosts_and_checks_listening_addresses():
    from neuroedge.project import load_device_module

    config = load_device_module("config")
    for model in ("../../../etc", "/lib", ".hidden", "a/b", ""):
        with pytest.raises(config.ConfigError, match="model must be a bundle folder name beside the app"):
            config.check_all({"model": model})
    for host in ("../../etc", "amp;rm", "", "-x", "a" * 254):
        with pytest.raises(config.ConfigError, match="the amplifier's IPv4 address or host name"):
            config.check_all({"source": {"kind": "quattrocento", "host": host}})
    assert config.check_all({"source": {"kind": "quattrocento", "host": "amp-1.lab"}})["source"]["host"] == "amp-1.lab"
    src = config.check_all({"source": {"kind": "tcp", "port": 9000, "bind": "192.168.4.1", "peer": "192.168.4.2"}})
    assert src["source"]["bind"] == "192.168.4.1" and src["source"]["peer"] == "192.168.4.2"
    with pytest.raises(config.ConfigError, match="source peer must be an IPv4 address"):
        config.check_all({"source": {"kind": "udp", "peer": "anyone"}})


def test_tcp_source_takes_frames_only_from_its_peer(emulator, tiny_model):
    _, model = tiny_model
    shutil.copytree(model, emulator.board_path("model"))
    port = free_port()
    code = (
        "import app, json\n"
        f"a = app.App(model='model', output='quiet', source={{'kind': 'tcp', 'port': {port}, "
        "'bind': '127.0.0.1', 'peer': '127.0.0.2'})\n"
        "a.run(seconds=4)\n"
        "print('STATS ' + json.dumps(a.stats()))\n")
    proc = subprocess.Popen(emulator.command("-c", code), cwd=emulator.root, env=emulator.environment(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    frame = bytes(128)
    sent = {"127.0.0.1": 0, "127.0.0.2": 0}
    try:
        time.sleep(1.5)
        for source in ("127.0.0.1", "127.0.0.2"):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2, source_address=(source, 0)) as s:
                    s.sendall(frame * 20)
                    sent[source] = 20
                    time.sleep(0.5)
            except OSError:
                pass  # the board closed the stranger's connection
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    st = json.loads(next(line for line in out.splitlines() if line.startswith("STATS "))[6:])
    assert st["refused"] == 1 and st["clients"] == 1, (st, err)
    assert st["frames_pushed"] == 20  # the peer's frames only


@pytest.mark.parametrize("output_ends_after", [None, 1.2])
def test_a_board_that_streams_events_but_never_ends_a_command_is_reported_in_time(output_ends_after):
    """A fake board on a pty: its raw REPL takes the command and says OK, then only event lines
    come, for ever (after ending the command's output at `output_ends_after` s, if given). The
    call fails at its one deadline, naming what never came (mpremote's waits, which end on
    silence, waited for ever)."""
    import os
    import pty
    import threading
    import tty

    master, slave = pty.openpty()
    tty.setraw(slave)
    stop = threading.Event()

    def board():
        while not stop.is_set():
            got = os.read(master, 4096)
            if b"\x01" in got:
                os.write(master, b"raw REPL; CTRL-B to exit\r\n>")
            if b"\x04" in got:
                os.write(master, b"OK")
                began, ended = time.monotonic(), output_ends_after is None
                while not stop.is_set():
                    if not ended and time.monotonic() - began > output_ends_after:
                        os.write(master, b"1\r\n\x04")
                        ended = True
                    os.write(master, b'{"gesture": "rest", "window": 1}\n')
                    time.sleep(0.01)

    threading.Thread(target=board, daemon=True).start()
    try:
        with BoardConnection(os.ttyname(slave)) as b:
            start = time.monotonic()
            late = "the end of the output" if output_ends_after is None else "the end of the error output"
            with pytest.raises(DeviceError, match=f"stopped answering.*{late} did not come within 2 s"):
                b.exec("print(1)", timeout=2)
            assert time.monotonic() - start < 2.8  # one deadline for the whole call, not one per part
    finally:
        stop.set()
        time.sleep(0.05)
        os.close(slave)
        os.close(master)
