"""Hostile and clumsy input to the CLI: a short message naming the problem and exit status 2,
130 on Ctrl-C, and never a traceback."""

from __future__ import annotations

import contextlib
import io
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time

import numpy as np
import pytest

from helpers import free_port, run_neuroedge
from neuroedge import bundle, recording, synth

REC = synth.generate(synth.SynthConfig(grids=1, subjects=1, sessions=1, repetitions=1, hold_s=0.3, gap_s=0.1,
                                       motor_units=20), 0, 0)


def refused(result: subprocess.CompletedProcess, message: str) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2 and message in result.stderr, (result.returncode, result.stderr)


def npz_with(path, **changes):
    good = REC.save(path.with_name("good.npz"))
    with np.load(good) as z:
        fields = {k: z[k] for k in z.files}
    np.savez(path, **{**fields, **changes})
    return path


def csv_with_rate(path, rate: str):
    path.write_text(f"# format=neuroedge-recording-1\n# fs={rate}\nlabel,repetition,ch0\n-1,-1,0\n")
    return path


def otb_plus(path, device: str, channel: str):
    xml = (f'<Device SampleFrequency="2048" {device} ad_bits="16"><Channels><Adapter ID="AD1x64" Gain="150" '
           f'ChannelStartIndex="0"><Channel {channel} ID="CH0" Gain="1"/></Adapter></Channels></Device>')
    with tarfile.open(path, "w") as tar:
        for name, data in (("rec.sig", bytes(40)), ("rec.xml", xml.encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


MALFORMED_RECORDINGS = {
    "fs-array": (lambda p: npz_with(p / "r.npz", fs=np.array([2048.0, 1000.0])), "r.npz: fs must be one number"),
    "grids-flat": (lambda p: npz_with(p / "r.npz", grids=np.array([8, 8, 0])), "r.npz: grids must be integer rows"),
    "grids-2-columns": (lambda p: npz_with(p / "r.npz", grids=np.array([[8, 8], [0, 0]])),
                        "r.npz: grids must be integer rows"),
    "409-channels": (lambda p: npz_with(p / "r.npz", emg=np.zeros((REC.samples, 409), np.int16)),
                     "r.npz: 409 channels; a board takes in at most 408"),
    "csv-string-rate": (lambda p: csv_with_rate(p / "r.csv", "fast"), "r.csv: fs must be one number, got 'fast'"),
    "otb-string-channel": (lambda p: otb_plus(p / "r.otb+", 'DeviceTotalChannels="20"', 'Index="first"'),
                           "r.otb+: channel CH0 Index must be one number, got 'first'"),
    "otb-no-channels": (lambda p: otb_plus(p / "r.otb+", 'DeviceTotalChannels="0"', 'Index="0"'),
                        "r.otb+: DeviceTotalChannels is 0"),
}


@pytest.mark.parametrize("case", MALFORMED_RECORDINGS)
def test_malformed_recordings_are_named(case, tmp_path):
    make, message = MALFORMED_RECORDINGS[case]
    refused(run_neuroedge("train", str(make(tmp_path)), "--out", str(tmp_path / "m"), timeout=60), message)


@pytest.mark.parametrize("args, message", [
    (["--window", "0"], "window must be a whole number of frames >= 1, got 0"),
    (["--hop", "0"], "hop must be a whole number of frames >= 1, got 0"),
    (["--epochs", "0"], "epochs must be a whole number >= 1, got 0"),
    (["--highpass", "-5"], "highpass_hz must be a frequency >= 0 Hz"),
    (["--channels", "0:0"], "the channel selection is empty"),
    (["--channels", "3,3"], "the channel selection lists a channel twice"),
    (["--highpass", "1500"], "high-pass corner 1500 Hz must be below the Nyquist frequency 1024 Hz"),
], ids=["window-0", "hop-0", "epochs-0", "negative-highpass", "channels-0:0", "channels-twice", "highpass-nyquist"])
def test_training_settings_that_cannot_work_are_refused(args, message, tmp_path):
    refused(run_neuroedge("train", str(REC.save(tmp_path / "r.npz")), "--out", str(tmp_path / "m"), *args,
                          timeout=120), message)
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("args, message", [
    (["quattrocento-sim", "REC", "--speed", "-1"], "'-1' is not a speed"),
    (["quattrocento-sim", "REC", "--speed", "0"], "'0' is not a speed"),
    (["quattrocento-sim", "REC", "--port", "70000"], "'70000' is not a TCP port"),
    (["emulator", "--heap", "100000M", "-c", "pass"], "the emulator's heap must be 16 KiB..1 GiB"),
    (["synth", "--out", "FILE"], "FILE: exists and is not a folder"),
], ids=["speed-negative", "speed-0", "port-70000", "heap-100000M", "synth-out-file"])
def test_option_values_are_checked(args, message, tmp_path):
    (tmp_path / "FILE").write_text("not a folder")
    paths = {"REC": str(REC.save(tmp_path / "r.npz")), "FILE": str(tmp_path / "FILE")}
    refused(run_neuroedge(*[paths.get(a, a) for a in args], timeout=60), message)


def test_simulator_on_a_port_in_use_says_so(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run_neuroedge("quattrocento-sim", str(REC.save(tmp_path / "r.npz")), "--port", str(port), timeout=60)
    refused(result, f"port {port} is in use")


def test_infer_refuses_malformed_models_and_a_folder_as_output(tmp_path):
    inputs = tmp_path / "in.npy"
    np.save(inputs, np.zeros((2, 16, 64), np.int8))
    for name, data in (("junk", bytes(range(100))), ("empty", b""),
                       ("cut", b"\x1c\x00\x00\x00TFL3" + bytes(range(200)))):
        model = tmp_path / f"{name}.tflite"
        model.write_bytes(data)
        refused(run_neuroedge("infer", str(model), str(inputs), "--out", str(tmp_path / "o.npy"), "--reference",
                              timeout=60), f"{name}.tflite: not a readable .tflite model")
    refused(run_neuroedge("infer", str(model), str(inputs), "--out", str(tmp_path)), "is a folder")
    refused(run_neuroedge("bench", "engine", str(model), timeout=60), "cut.tflite: not a readable .tflite model")


def test_tune_refuses_numbers_the_board_cannot_take():
    from neuroedge.tune import parse_assignment

    for text in ("threshold=NaN", "threshold=-Infinity", "threshold=1e999", "channel_mask=[5, NaN]"):
        with pytest.raises(ValueError, match="is not a finite number"):
            parse_assignment(text)
    assert parse_assignment("threshold=0.6") == ("threshold", 0.6)
    assert parse_assignment("output=udp") == ("output", "udp")


@pytest.mark.parametrize("content, message", [
    ([1, 2], "model.json must hold a JSON object"),
    ({"schema": bundle.SCHEMA, "version": bundle.VERSION}, "model.json"),
    ("channels-string", "model.json"),
], ids=["list", "missing-keys", "string-channel-count"])
def test_broken_model_json_is_named_by_info_and_evaluate(content, message, tiny_model, tmp_path):
    path, model = tiny_model
    broken = tmp_path / "broken"
    shutil.copytree(model, broken)
    if content == "channels-string":
        content = json.loads((model / "model.json").read_text())
        content["channels"]["count"] = str(content["channels"]["count"])
    (broken / "model.json").write_text(json.dumps(content))
    refused(run_neuroedge("info", str(broken), timeout=60), message)
    refused(run_neuroedge("evaluate", str(broken), str(path), timeout=60), message)


def test_recordings_too_short_for_a_window(tiny_model, tmp_path):
    path, model = tiny_model
    one = recording.load(path).part(slice(0, 1)).save(tmp_path / "one.npz")
    refused(run_neuroedge("evaluate", str(model), str(one), timeout=60), "one.npz: too short")
    refused(run_neuroedge("bench", "stream", "--model", str(model), "--recording", str(one), timeout=60),
            "one.npz: too short")


def test_bench_stream_json_stays_parseable_when_the_default_model_is_made(tiny_model, tmp_path, monkeypatch,
                                                                          capsys):
    from neuroedge import demo
    from neuroedge.bench import engine

    path, model = tiny_model
    monkeypatch.setattr(demo, "DEMO_BUNDLE", tmp_path / "bundle")
    monkeypatch.setattr(demo, "DEMO_DATA", tmp_path / "data")

    def make_default_model():  # stands in for a minute of synthesis and training
        print("synthesising ...")
        shutil.copytree(model, demo.DEMO_BUNDLE)
        demo.DEMO_DATA.mkdir()
        recording.load(path).part(slice(0, 2048)).save(demo.DEMO_DATA / "r.npz")

    monkeypatch.setattr(demo, "train_default_model", make_default_model)
    engine.bench_stream(as_json=True)
    out, err = capsys.readouterr()
    assert json.loads(out)["frames"] > 0 and "synthesising" in err


def interrupted(args: list[str], started) -> subprocess.CompletedProcess:
    """Runs the CLI in its own process group and, once started() holds, sends SIGINT to the
    group, as Ctrl-C in a terminal does."""
    proc = subprocess.Popen([sys.executable, "-m", "neuroedge", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            # the tests may run from a shell that ignores SIGINT in the background
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 30
        while not started(proc):
            assert proc.poll() is None and time.monotonic() < deadline, "the command did not start"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_ctrl_c_is_a_short_message_and_status_130(edgedl_mpy, tmp_path):
    sandbox = tmp_path / "board"
    emulator = interrupted(["emulator", "--sandbox", str(sandbox), "-c",
                            "open('started', 'w').close(); import time; time.sleep(30)"],
                           lambda proc: (sandbox / "started").exists())
    rec = str(REC.save(tmp_path / "r.npz"))
    sim = interrupted(["quattrocento-sim", rec, "--port", str(free_port())],
                      lambda proc: select.select([proc.stdout], [], [], 0)[0] and proc.stdout.readline())
    for result, command in ((emulator, "emulator"), (sim, "quattrocento-sim")):
        assert "Traceback" not in result.stderr, result.stderr
        assert result.returncode == 130 and f"neuroedge {command}: interrupted" in result.stderr, result.stderr


def test_replay_takes_its_source_from_one_option(tmp_path):
    rec = REC.save(tmp_path / "r.npz")
    refused(run_neuroedge("replay", str(rec), "--model", str(tmp_path), "--via", "quattrocento", "--port", "/dev/null"),
            "--via quattrocento feeds the emulator; the board at /dev/null is fed over its USB serial (--via usb)")
    wrong = run_neuroedge("replay", str(rec), "--model", str(tmp_path), "--via", "tcp")
    assert wrong.returncode == 2 and "invalid choice: 'tcp'" in wrong.stderr


def test_a_bug_is_not_reported_as_the_users_problem(monkeypatch, capsys):
    """Only NeuroEdgeError is the user's to fix: a ValueError from inside the code keeps its traceback."""
    from neuroedge import cli

    def broken(args):
        raise ValueError("operands could not be broadcast together")  # numpy's words, the code's fault

    parser = cli.make_parser
    monkeypatch.setattr(cli, "make_parser", lambda: _with_func(parser(), broken))
    with pytest.raises(ValueError, match="broadcast"):
        cli.main(["demo"])


def _with_func(parser, func):
    parser.set_defaults(func=func)
    sub = next(a for a in parser._actions if a.dest == "command")
    for p in sub.choices.values():
        p.set_defaults(func=func)
    return parser
