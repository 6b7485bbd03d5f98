"""The host's live tools against an emulated board replaying a recording: the LSL relay (read
back with an LSL inlet) and the dashboard (loaded in headless Chromium)."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from helpers import free_port, require_tool

ROOT = Path(__file__).parents[1]
NEUROEDGE = [sys.executable, "-m", "neuroedge"]


def start(*args: str, ready: str, timeout: float = 60) -> tuple[subprocess.Popen, str]:
    """A neuroedge command in the background, once it printed a line matching `ready`."""
    proc = subprocess.Popen([*NEUROEDGE, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    end = time.monotonic() + timeout
    lines = []
    while time.monotonic() < end:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if re.search(ready, line):
            return proc, line
    proc.kill()
    raise AssertionError("the command did not start:\n" + "".join(lines))


def stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGINT)  # Ctrl-C, as a user stops it: the emulated board goes too
    out, _ = proc.communicate(timeout=30)
    return out


@pytest.mark.slow
def test_lsl_inlets_get_the_boards_gestures_decisions_and_counters(tiny_model):
    import pylsl

    path, model = tiny_model
    labels = json.loads((model / "model.json").read_text())["labels"]
    proc, _ = start("relay", "--model", str(model), "--recording", str(path), "--lsl", "--seconds", "40",
                    ready="relaying")
    try:
        inlets = {}
        for name in ("NeuroEdge gestures", "NeuroEdge decisions", "NeuroEdge counters"):
            found = pylsl.resolve_byprop("name", name, timeout=15)
            assert found, f"no LSL stream named {name!r}"
            inlets[name] = pylsl.StreamInlet(found[0])
            inlets[name].open_stream(timeout=10)
        assert inlets["NeuroEdge decisions"].info().channel_count() == 3 + len(labels)
        got = {name: [] for name in inlets}
        end = time.monotonic() + 8
        while time.monotonic() < end:
            for name, inlet in inlets.items():
                samples, _ = inlet.pull_chunk(timeout=0.1)
                got[name] += samples
    finally:
        out = stop(proc)
    markers = [s[0] for s in got["NeuroEdge gestures"]]
    decisions = np.array(got["NeuroEdge decisions"])
    counters = np.array(got["NeuroEdge counters"])
    assert len(markers) >= 2 and set(markers) <= set(labels) | {"none"}, (markers, out)
    assert len(decisions) > 50  # 20 decisions a second
    assert set(decisions[:, 0].astype(int)) <= set(range(len(labels)))
    assert np.allclose(decisions[:, 3:].sum(axis=1), 1, atol=0.05)  # every gesture's probability
    assert len(counters) >= 10 and counters[-1, 0] > 15  # windows/s of a live board (20 at real time)


@pytest.mark.slow
def test_the_dashboard_updates_in_headless_chromium_and_shows_the_grid(tiny_model, tmp_path):
    require_tool("chromium")
    path, model = tiny_model
    port = free_port()
    proc, _ = start("dashboard", "--model", str(model), "--recording", str(path), "--http", str(port),
                    "--fault", "flat:3", "--seconds", "60", ready="dashboard of")
    url = f"http://127.0.0.1:{port}/"
    browser = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1100,700"]
    try:
        def page_counts():
            dom = subprocess.run([*browser, "--virtual-time-budget=2500", "--dump-dom", url], capture_output=True,
                                 text=True, timeout=90).stdout
            body = re.search(r'<body data-updates="(\d+)" data-decisions="(\d+)"', dom)
            assert body, dom[:2000]
            return int(body.group(1)), int(body.group(2)), dom
        updates, first, _ = page_counts()
        time.sleep(1.0)
        _, later, dom = page_counts()
        shot = tmp_path / "dashboard.png"
        subprocess.run([*browser, "--virtual-time-budget=2500", f"--screenshot={shot}", url], capture_output=True,
                       timeout=90, check=True)
    finally:
        stop(proc)
    assert updates >= 3 and later > first > 0  # the page refreshes, and the board keeps deciding
    assert "3 flat" in dom  # the bad electrode is listed
    keep = ROOT / "build" / "dashboard.png"
    keep.parent.mkdir(exist_ok=True)
    shutil.copy(shot, keep)  # for a look after the tests
    from matplotlib.image import imread

    image = imread(shot)[..., :3]
    # The heatmap: cells of the blue-to-yellow ramp (blue or yellow strong, unlike the page's greys),
    # and the red cross on the flat electrode.
    ramp = (np.abs(image[..., 2] - image[..., 0]) > 0.35) & (image.max(axis=-1) - image.min(axis=-1) > 0.35)
    red = (image[..., 0] > 0.8) & (image[..., 1] < 0.2) & (image[..., 2] < 0.2)
    assert ramp.sum() > 64 * 100 * 0.5, ramp.sum()  # most of 64 cells of 22 x 22 pixels
    assert red.sum() > 20, red.sum()


@pytest.mark.slow
def test_the_relay_reads_a_deployed_boards_console(edgedl_mpy, tiny_model, tmp_path):
    """A board as a lab has it: deployed, streaming from the amplifier, events on its console;
    the relay switches its activity maps on over the REPL and forwards what it prints."""
    import pylsl

    from helpers import reset_friendly
    from neuroedge import deploy, recording, tune
    from neuroedge.quattrocento_sim import QuattrocentoSimulator
    from neuroedge.serial_board import BoardConnection
    from neuroedge.virtual_board import VirtualBoard

    path, model = tiny_model
    with VirtualBoard(tmp_path / "flash") as board, \
            QuattrocentoSimulator(recording.load(path), port=0, speed=1.0) as sim:
        config = {"source": {"kind": "quattrocento", "host": "127.0.0.1", "port": sim.port}, "output": "console"}
        deploy.deploy(board.port, model, config, log=lambda *a: None)
        reset_friendly(board.port)
        time.sleep(1.0)
        with BoardConnection(board.port) as b:  # electrode checks switched on while it streams
            assert tune.set_values(b, ["quality=true", "auto_mask=true"])["quality"] is True
        proc, _ = start("relay", "--model", str(model), "--port", board.port, "--lsl", "--seconds", "30",
                        ready="relaying")
        try:
            found = {name: pylsl.resolve_byprop("name", name, timeout=15)
                     for name in ("NeuroEdge decisions", "NeuroEdge counters")}
            inlets = {name: pylsl.StreamInlet(f[0]) for name, f in found.items() if f}
            assert len(inlets) == 2, found
            for inlet in inlets.values():
                inlet.open_stream(timeout=10)
            got = {name: [] for name in inlets}
            end = time.monotonic() + 5
            while time.monotonic() < end:
                for name, inlet in inlets.items():
                    got[name] += inlet.pull_chunk(timeout=0.1)[0]
        finally:
            out = stop(proc)
        with BoardConnection(board.port) as b:
            electrodes = b.call("", "app.stats()")["electrodes"]
    assert len(got["NeuroEdge decisions"]) > 30, out  # 20 a second
    assert len(got["NeuroEdge counters"]) >= 5, out   # the activity maps the relay switched on (4 a second)
    assert electrodes["periods"] > 10 and electrodes["bad"] == {}, electrodes
    assert all(sample[-1] == 0 for sample in got["NeuroEdge counters"])  # no bad electrode on a clean recording


def test_a_board_printing_events_answers_every_repl_call(edgedl_mpy, tiny_model, tmp_path):
    """A deployed 64-channel board on the default 128 KiB heap printing decisions, electrode
    checks and an activity map every 100 ms on its console: every REPL call answers (mpremote's
    raw-paste upload took an event line for a protocol error, and its waits, which end on
    silence, never ended), a refused setting is named by its exception line, and the
    classifier runs on."""
    from helpers import reset_friendly
    from neuroedge import deploy, recording, tune
    from neuroedge.quattrocento_sim import QuattrocentoSimulator
    from neuroedge.serial_board import BoardConnection, BoardRaised
    from neuroedge.virtual_board import VirtualBoard

    path, model = tiny_model
    with VirtualBoard(tmp_path / "flash") as board, \
            QuattrocentoSimulator(recording.load(path), port=0, speed=1.0, loop=True) as sim:
        config = {"source": {"kind": "quattrocento", "host": "127.0.0.1", "port": sim.port}, "output": "console"}
        deploy.deploy(board.port, model, config, log=lambda *a: None)
        reset_friendly(board.port)
        time.sleep(1.0)
        with BoardConnection(board.port) as b:
            tune.set_values(b, ["quality=true", "auto_mask=true", "activity_ms=100"])
            windows = [b.call("", "app.stats()['model_windows']", timeout=20) for _ in range(15)]
            with pytest.raises(BoardRaised, match=r"^ConfigError: .*vote"):
                b.call("", "app.set(vote=0)", timeout=20)
            stats, free = b.call("import gc\ngc.collect()", "[app.stats(), gc.mem_free()]", timeout=20)
    assert windows == sorted(windows) and windows[-1] > windows[0], windows
    assert stats["running"] and stats["error"] is None, stats
    assert free > 8 * 1024, free  # the app's working set leaves the REPL room on the default heap


def test_a_board_error_is_named_by_its_exception_line_not_the_events_after_it():
    from neuroedge.serial_board import BoardRaised

    err = BoardRaised('Traceback (most recent call last):\r\n  File "<stdin>", line 2, in <module>\r\n'
                      'ConfigError: vote must be an integer from 1 to 15\r\n'
                      '{"gesture": "OK", "index": 3, "window": 812}\n{"activity": [1, 2]}\n')
    assert str(err) == "ConfigError: vote must be an integer from 1 to 15"
    assert str(BoardRaised("MemoryError: memory allocation failed, allocating 1280 bytes\n")).startswith("MemoryError")


def test_an_emulated_board_that_stops_is_reported_with_its_reason(tiny_model):
    from helpers import run_neuroedge

    path, model = tiny_model
    # 64 KiB cannot hold the app with electrode checks and probabilities: the board stops, and the
    # dashboard says why instead of ending quietly.
    run = run_neuroedge("dashboard", "--model", str(model), "--recording", str(path), "--http", "0", "--heap", "64k",
                        "--seconds", "30", timeout=90)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "the emulated board stopped:" in run.stderr and "MemoryError" in run.stderr
    assert "--heap raises it" in run.stderr
