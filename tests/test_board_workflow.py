"""The daily loop with a board on the desk, against the virtual board over its pty: deploy,
reset, replay over the USB serial, tune while it runs, save, reboot; interrupted deploys;
and every deploy error a user can meet."""

from __future__ import annotations

import json
import os
import pty
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import reset_friendly, run_neuroedge
from neuroedge import deploy, native, recording, replay, serial_board, tune
from neuroedge.virtual_board import VirtualBoard
from neuroedge.serial_board import BoardConnection, BoardInfo, DeviceError
from neuroedge.quattrocento_sim import QuattrocentoSimulator

pytestmark = pytest.mark.slow


def board_state(port: str) -> dict:
    with BoardConnection(port) as b:
        return b.call(serial_board.ensure_app_code(),
                      "{'settings': app.get(), 'stats': app.stats(), 'channels': app.runtime.channels, "
                      "'labels': app.runtime.labels, 'source': app.cfg['source']['kind']}")


@pytest.fixture
def vboard(edgedl_mpy, tmp_path):
    with VirtualBoard(tmp_path / "flash") as b:
        yield b


def test_deploy_reset_replay_tune_save_reboot(vboard, tiny_model):
    path, model = tiny_model
    rec = recording.load(path)
    with QuattrocentoSimulator(rec, port=0, speed=1.0) as sim:
        config = {"source": {"kind": "quattrocento", "host": "127.0.0.1", "port": sim.port}, "output": "quiet"}
        result = deploy.deploy(vboard.port, model, config, log=lambda *a: None)
        assert set(result["files"]) >= {"app.mpy", "runtime.mpy", "edgedl.mpy", "model/model.tflite", "config.json"}
        home = vboard.board_path(f"/neuroedge/{result['install']}")
        assert (home / "model" / "model.tflite").read_bytes() == (model / "model.tflite").read_bytes()
        assert vboard.board_path("/neuroedge/current").read_text() == result["install"]

        # The board boots the new app (main.py) with the deployed model and config: it streams.
        reset_friendly(vboard.port)
        time.sleep(1.5)
        state = board_state(vboard.port)
        assert state["channels"] == 64 and state["labels"] == list(rec.label_names)
        assert state["source"] == "quattrocento" and state["stats"]["running"]
        assert state["stats"]["model_windows"] > 20 and state["stats"]["error"] is None

        # Replay a recording into it over the USB serial in real time (the amplifier stream pauses).
        short = rec.part(slice(8192), "first 4 s")
        res = replay.replay_via_port(short, model, vboard.port, speed=1.0)
        d, w, h = (json.loads((model / "model.json").read_text())[k] for k in ("preprocess", "window", "hop"))
        assert res.events == (8192 // d["decimate"] - w) // h + 1  # a window of blocks, every hop blocks
        assert res.frames_dropped == 0 and res.accuracy > 0.6
        assert res.stats["link_packets"] == 8192 // 8 and res.stats["link_packets_lost"] == 0
        assert res.latency_ms["median"] < 20

        # Tune while it streams from the amplifier again: the window rate follows the hop.
        with BoardConnection(vboard.port) as b:
            time.sleep(1.5)
            before = b.call("", "app.stats()")
            assert tune.set_values(b, ["hop=4", "vote=5"])["hop"] == 4
            mid = b.call("", "app.stats()")
            time.sleep(1.5)
            after = b.call("", "app.stats()")
            with pytest.raises(DeviceError, match="threshold must be a number 0..1"):
                tune.set_values(b, ["threshold=2"])
            assert tune.save(b).endswith("/config.json")
    assert before["running"] and before["error"] is None
    frames_per_window = (after["frames_pushed"] - mid["frames_pushed"]) / (after["model_windows"] - mid["model_windows"])
    assert 184 <= frames_per_window <= 225  # hop 4 blocks of 51 frames, +-10 % (it was 102 at hop 2)
    assert after["frames_dropped"] == 0 and after["frames_lost"] == 0

    # Saved settings survive a reboot: the app boots with them.
    reset_friendly(vboard.port)
    state = board_state(vboard.port)
    assert state["settings"]["hop"] == 4 and state["settings"]["vote"] == 5 and state["source"] == "quattrocento"


def test_interrupted_deploys_leave_a_bootable_board(vboard, tiny_model, tmp_path):
    _, model_a = tiny_model
    first = deploy.deploy(vboard.port, model_a, log=lambda *a: None)
    # A second model: the same network with other gestures' names, so each boot shows which one runs.
    model_b = tmp_path / "model-b"
    shutil.copytree(model_a, model_b)
    meta = json.loads((model_b / "model.json").read_text())
    meta["labels"] = [f"g{i}" for i in range(len(meta["labels"]))]
    (model_b / "model.json").write_text(json.dumps(meta))
    rng = random.Random(6)
    seen = set()
    for attempt in range(5):
        proc = subprocess.Popen([sys.executable, "-m", "neuroedge", "deploy", "--port", vboard.port, "--model",
                                 str(model_b if attempt % 2 == 0 else model_a)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 2.5))  # anywhere: connecting, copying, verifying, switching
        proc.send_signal(signal.SIGKILL)    # the cable is pulled
        proc.wait()
        reset_friendly(vboard.port)
        state = board_state(vboard.port)    # raises if the board cannot boot an app
        assert state["labels"][0] in ("rest", "g0")
        seen.add(state["labels"][0])
    final = deploy.deploy(vboard.port, model_b, log=lambda *a: None)
    assert final["install"] != first["install"]
    reset_friendly(vboard.port)
    assert board_state(vboard.port)["labels"][0] == "g0"
    # Leftovers of the interrupted deploys are gone: one install remains.
    assert sorted(p.name for p in vboard.board_path("/neuroedge").iterdir()) == ["current", final["install"]]


def test_deploy_errors_name_the_problem(edgedl_mpy, tiny_model, tmp_path):
    _, model = tiny_model
    with pytest.raises(DeviceError, match="no such serial port"):
        deploy.deploy(str(tmp_path / "ttyUSB9"), model)
    master, slave = pty.openpty()  # a serial port with nothing answering behind it
    try:
        with pytest.raises(DeviceError, match="no MicroPython REPL answered"):
            deploy.deploy(os.ttyname(slave), model)
    finally:
        os.close(master)
        os.close(slave)
    with VirtualBoard(tmp_path / "small-flash", flash=96 * 1024) as small:
        with pytest.raises(deploy.DeployError, match="not enough flash: this install takes"):
            deploy.deploy(small.port, model, log=lambda *a: None)
    with VirtualBoard(tmp_path / "small-heap", heap=64 * 1024) as small:
        with pytest.raises(deploy.DeployError, match="not enough RAM: the app with this model needs about"):
            deploy.deploy(small.port, model, log=lambda *a: None)
    with VirtualBoard(tmp_path / "flash") as emulator:
        broken = tmp_path / "broken"
        shutil.copytree(model, broken)
        meta = json.loads((broken / "model.json").read_text())
        meta["version"] = 99
        (broken / "model.json").write_text(json.dumps(meta))
        with pytest.raises(deploy.DeployError, match="bundle schema 'neuroedge-bundle' version 99"):
            deploy.deploy(emulator.port, broken, log=lambda *a: None)
        with pytest.raises(deploy.DeployError, match="config: vote must be an integer 1..50"):
            deploy.deploy(emulator.port, model, {"vote": 0}, log=lambda *a: None)
        cut = tmp_path / "cut"
        shutil.copytree(model, cut)
        (cut / "model.tflite").write_bytes((model / "model.tflite").read_bytes()[:3000])  # a copy cut short
        with pytest.raises(deploy.DeployError, match="the app cannot run this bundle: .*malformed model"):
            deploy.deploy(emulator.port, cut, log=lambda *a: None)
        # Nothing deployed yet: tune says so instead of a bare file error.
        blank = run_neuroedge("tune", "--port", emulator.port, "show")
        assert blank.returncode == 2 and "no app on this board" in blank.stderr
        # Nothing was installed by the refused deploys.
        assert not emulator.board_path("/neuroedge").exists()
        cli = run_neuroedge("deploy", "--port", emulator.port, "--model", str(broken))
        assert cli.returncode == 2 and "version 99" in cli.stderr


def test_board_firmware_checks(tmp_path):
    def info(version, sys_mpy):
        return BoardInfo(version, "", "esp32", sys_mpy, 10**6, 2 * 10**6, 10**5, None)

    with pytest.raises(deploy.DeployError, match=r"MicroPython 1.19.1 on the board is too old for native modules"):
        deploy.module_for(info((1, 19, 1), None))
    xtensawin = 6 | 3 << 8 | 10 << 10  # what an ESP32 running MicroPython 1.23+ reports
    assert native.MpyAbi.from_sys_mpy(xtensawin).tag == "xtensawin_6.3"
    module = native.module_path(native.MpyAbi.from_sys_mpy(xtensawin))
    if not module.exists():  # no Xtensa toolchain here: the error says which build is needed
        with pytest.raises(deploy.DeployError, match=r"edgedl.mpy for xtensawin_6.3"):
            deploy.module_for(info((1, 23, 0), xtensawin))
    with pytest.raises(deploy.DeployError, match="no native code support"):
        deploy.module_for(info((1, 23, 0), 6 | 3 << 8))  # a port built without native .mpy support
    with pytest.raises(deploy.DeployError, match="ABI 5.0"):
        deploy.module_for(info((1, 22, 0), 5 | 2 << 10))


def test_mip_installs_the_app_from_a_local_path(vboard):
    pkg = Path(__file__).parents[1] / "device" / "package.json"
    r = subprocess.run([sys.executable, "-m", "mpremote", "connect", vboard.port, "mip", "install", str(pkg)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    names = {p.name for p in vboard.board_path("/lib").iterdir()}
    assert {"app.py", "runtime.py", "sources.py", "protocol.py", "bundle_rules.py", "config.py", "streambridge.py",
            "quattrocento.py", "wifi.py"} <= names
    assert (vboard.board_path("/lib/app.py").read_bytes()
            == (Path(__file__).parents[1] / "device" / "app" / "app.py").read_bytes())


def test_tune_cli_reports_board_errors(vboard, tiny_model):
    _, model = tiny_model
    deploy.deploy(vboard.port, model, log=lambda *a: None)
    shown = run_neuroedge("tune", "--port", vboard.port, "show")
    assert shown.returncode == 0 and "vote           3" in shown.stdout, shown.stderr
    bad = run_neuroedge("tune", "--port", vboard.port, "set", "channel_mask=[70]")
    assert bad.returncode == 2 and "channel_mask entry must be an integer 0..63, got 70" in bad.stderr
    watched = run_neuroedge("tune", "--port", vboard.port, "watch", "--count", "2", "--interval", "0.2")
    assert watched.returncode == 0 and watched.stdout.count("windows/s") == 2


def test_usb_replay_through_a_damaged_line_counts_every_loss(vboard, tiny_model):
    path, model = tiny_model
    rec = recording.load(path)
    deploy.deploy(vboard.port, model, log=lambda *a: None)  # the board's defaults: the USB source
    short = rec.part(slice(8000), "first 4 s")
    faults = replay.LinkFaults(drop_every=9, corrupt_every=7)
    packets = 8000 // 8
    dropped = [seq for seq in range(packets) if seq % 9 == 8]
    corrupted = [seq for seq in range(packets) if seq % 7 == 6 and seq % 9 != 8]
    res = replay.replay_via_port(short, model, vboard.port, speed=None, faults=faults)
    st = res.stats
    assert st["link_crc_errors"] == len(corrupted) and st["error"] is None
    assert st["link_packets"] == packets - len(dropped) - len(corrupted)
    assert st["link_packets_lost"] == len(dropped) + len(corrupted)  # the last packet arrives whole
    assert st["frames_pushed"] == 8 * st["link_packets"] and res.frames_dropped == 0
    assert res.events > 45 and res.accuracy > 0.5  # the classifier carries on through the gaps
    # The board is still answering, and the app is ready for the next replay.
    assert replay.replay_via_port(short, model, vboard.port, speed=None).stats["link_packets_lost"] == 0
