"""Hostile and clumsy input (issue 10): one set of model.json rules (device/app/bundle_rules.py)
refuses, on the host and on the board alike, bundles the board cannot run; deploy refuses them
and oversize configs before copying anything, and counts the flash that leftovers of
interrupted deploys take; `train --out` never deletes a folder that is not a bundle, and swaps
a new bundle in without ever losing the old one."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from helpers import run_neuroedge
from neuroedge import bundle, deploy, native
from neuroedge.virtual_board import VirtualBoard
from neuroedge.serial_board import BoardConnection
from neuroedge.evaluate import evaluate
from neuroedge.project import load_device_module


def _set(*path_and_value):
    *path, value = path_and_value

    def edit(meta):
        node = meta
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return edit


def _drop_last_label(meta):
    meta["labels"] = meta["labels"][:-1]


def _one_more_class(meta):  # consistent in itself, but not the model's output
    meta["labels"].append("extra")
    meta["output"]["shape"][-1] += 1
    for key in ("low", "high"):
        meta["velocity"][key].append(meta["velocity"][key][-1] + 1)


# (a clumsy or hostile edit, the edit, the message after the bundle folder's path: host and board alike)
BAD = [
    ("input shift 100", _set("input", "from_counts", "shift", 100),
     "/model.json: input.from_counts.shift must be an integer -31..16, got 100"),
    ("multiplier 2^40", _set("input", "from_counts", "mult", 2 ** 40),
     "/model.json: input.from_counts.mult must be an integer 0..2147483647, got 1099511627776"),
    ("zero point 1000", _set("input", "from_counts", "zero_point", 1000),
     "/model.json: input.from_counts.zero_point must be input.zero_point = -128, got 1000"),
    ("input zero point 1000", _set("input", "zero_point", 1000),
     "/model.json: input.zero_point must be an integer -128..127, got 1000"),
    ("empty labels", _set("labels", []), "/model.json: labels must be a non-empty list of gesture names, got []"),
    ("labels a string", _set("labels", "rest"),
     "/model.json: labels must be a non-empty list of gesture names, got 'rest'"),
    ("a label a number", _set("labels", 0, 7),
     "/model.json: labels[0] must be a gesture name of 1..64 characters, got 7"),
    ("a label empty", _set("labels", 2, ""),
     "/model.json: labels[2] must be a gesture name of 1..64 characters, got ''"),
    ("a label twice", _set("labels", 3, "rest"),
     "/model.json: labels[3] 'rest' is also labels[0]: gesture names must differ"),
    ("a label missing", _drop_last_label, "/model.json: output.shape [1, 7] gives 7 classes, labels names 6 gestures"),
    ("labels for another model", _one_more_class, ": model.tflite output is int8 [1, 7], model.json says int8 [1, 8]"),
    ("velocity levels reversed", _set("velocity", "high", [0] * 7),
     "/model.json: velocity.high[0] must be above velocity.low[0]"),
    ("a grid beyond the channels", _set("grids", [[8, 8, 32]]),
     "/model.json: grid 8x8 at channel 32 does not fit in 64 channels"),
    ("hop 10^12", _set("hop", 10 ** 12), "/model.json: hop must be an integer 1..4096, got 1000000000000"),
    ("window 0", _set("window", 0), "/model.json: window must be an integer 1..4096, got 0"),
    ("fs 0", _set("fs", 0), "/model.json: fs must be the sampling rate in Hz, above 0 and at most 100000, got 0"),
    ("fs a string", _set("fs", "2048"),
     "/model.json: fs must be the sampling rate in Hz, above 0 and at most 100000, got '2048'"),
    ("500 channels", _set("channels", "count", 500), "/model.json: channels.count must be an integer 1..408, got 500"),
    ("decimate 0", _set("preprocess", "decimate", 0),
     "/model.json: preprocess.decimate must be an integer 1..256, got 0"),
    ("high-pass pole 40000", _set("preprocess", "highpass_q15", 40000),
     "/model.json: preprocess.highpass_q15 must be an integer 0..32767, got 40000"),
    ("rectify 'yes'", _set("preprocess", "rectify", "yes"),
     "/model.json: preprocess.rectify must be true, false, 1 or 0, got 'yes'"),
    ("a bool for a number", _set("input", "from_counts", "shift", True),
     "/model.json: input.from_counts.shift must be an integer -31..16, got True"),
    ("no output scale", _set("output", "scale", None), "/model.json: output.scale must be a number above 0, got None"),
    ("a 200 kB string", _set("labels", 0, "x" * 200_000),
     "/model.json: labels[0] must be a gesture name of 1..64 characters, got 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx..."),
    ("drift step 40", _set("drift", {"rate_shift": 40, "class_means": [[0] * 64] * 7}),
     "/model.json: drift.rate_shift must be an integer 0..16, got 40"),
    ("drift means of 3 columns", _set("drift", {"rate_shift": 6, "class_means": [[0] * 3] * 7}),
     "/model.json: drift.class_means[0] must be 64 integers -32768..32767 (one per input column), got [0, 0, 0]"),
    ("another version", _set("version", 2),
     "/model.json: bundle schema 'neuroedge-bundle' version 2; this runtime reads neuroedge-bundle version 1"),
]


def corrupt(model: Path, folder: Path, edit) -> Path:
    shutil.copytree(model, folder)
    meta = json.loads((folder / "model.json").read_text())
    edit(meta)
    (folder / "model.json").write_text(json.dumps(meta))
    return folder


@pytest.fixture(scope="module")
def bad_bundles(tiny_model, tmp_path_factory):
    _, model = tiny_model
    root = tmp_path_factory.mktemp("bad")
    return [(corrupt(model, root / f"b{i}", edit), message) for i, (_, edit, message) in enumerate(BAD)]


def test_host_and_board_refuse_a_bad_bundle_with_the_same_message(tiny_model, bad_bundles, big_emulator):
    _, model = tiny_model
    bundle.load(model)  # the original passes
    for i, (folder, message) in enumerate(bad_bundles):
        with pytest.raises(ValueError) as exc:
            bundle.load(folder)
        assert str(exc.value) == f"{folder}{message}", BAD[i][0]
        shutil.copytree(folder, big_emulator.board_path(f"b{i}"))
    shutil.copytree(model, big_emulator.board_path("good"))
    code = ("import runtime\n"
            f"for name in ['good'] + ['b%d' % i for i in range({len(bad_bundles)})]:\n"
            "    try:\n"
            "        runtime.load_bundle(name)\n"
            "        print(name + ' accepted')\n"
            "    except runtime.BundleError as e:\n"
            "        print(e)\n")
    lines = big_emulator.run(code).check().stdout.splitlines()
    assert lines == ["good accepted"] + [f"b{i}{message}" for i, (_, message) in enumerate(bad_bundles)]


def test_evaluate_quantizes_as_the_board_does_and_the_host_checks_the_filter(tiny_model, tmp_path):
    data, model = tiny_model
    meta = json.loads((model / "model.json").read_text())
    # A shift the board accepts but that is not the trained gain: 16x, saturating. The host
    # must score what the board computes, not what the gain says.
    louder = corrupt(model, tmp_path / "louder", _set("input", "from_counts", "shift",
                                                      meta["input"]["from_counts"]["shift"] + 4))
    assert evaluate(louder, [data])["int8_accuracy"] < evaluate(model, [data])["int8_accuracy"] - 0.2
    # The board runs the Q15 pole, the host derives its windows from the corner in Hz: they must agree.
    other = corrupt(model, tmp_path / "other-filter", _set("preprocess", "highpass_q15", 30000))
    with pytest.raises(ValueError, match=r"other-filter/model.json: preprocess.highpass_q15 is 30000, but "
                                         r"the settings in physical units at fs 2048.0 give 30818"):
        bundle.load(other)


def test_deploy_refuses_bad_bundles_and_configs_before_copying_anything(tiny_model, bad_bundles, edgedl_mpy,
                                                                         tmp_path):
    _, model = tiny_model
    quiet = lambda *a: None  # noqa: E731
    with VirtualBoard(tmp_path / "flash") as vboard:
        with BoardConnection(vboard.port) as conn:
            for folder, message in bad_bundles:
                with pytest.raises(deploy.DeployError) as exc:
                    deploy.deploy(vboard.port, folder, board=conn, log=quiet)
                assert str(exc.value) == f"{folder}{message}"
            # A 200 kB string in the config (the board would fail at boot with MemoryError).
            for config, message in [
                ({"source": {"kind": "quattrocento", "host": "h" * 200_000}},
                 "config: source: a text of 200000 characters, at most 256 allowed"),
                ({"source": {"kind": "usb", "n" * 300: 1}},
                 "config: source: a text of 300 characters, at most 256 allowed"),
                ({"x" * 1000: 1}, "config: a setting's name: a text of 1000 characters, at most 256 allowed"),
            ]:
                with pytest.raises(deploy.DeployError) as exc:
                    deploy.deploy(vboard.port, model, config, board=conn, log=quiet)
                assert str(exc.value) == message
        assert not vboard.board_path("/neuroedge").exists()
        cli = run_neuroedge("deploy", "--port", vboard.port, "--model", str(bad_bundles[0][0]))
        assert cli.returncode == 2 and "input.from_counts.shift must be an integer -31..16, got 100" in cli.stderr


def test_deploy_measures_the_ram_of_the_config_it_deploys(tiny_model):
    _, model = tiny_model
    module = native.module_path(native.MpyAbi("x64", 6, 3))
    default, _ = deploy.build_install(model, None, module)
    # The amplifier's 408-channel frames take more heap than the USB link (about 11 kB more
    # here). Building the app connects nothing: nothing answers at the TEST-NET address.
    amplifier = {"source": {"kind": "quattrocento", "host": "192.0.2.1", "nch": 3},
                 "output": "tcp", "destination": ["192.0.2.1", 5005],
                 "wifi": {"ssid": "lab", "password": "password1"}}
    full, _ = deploy.build_install(model, amplifier, module)
    assert deploy.ram_needed(full) > deploy.ram_needed(default) + 4096


def test_deploy_counts_the_flash_of_interrupted_deploys(tiny_model, edgedl_mpy, tmp_path):
    _, model = tiny_model
    module = native.module_path(native.MpyAbi("x64", 6, 3))
    install, _ = deploy.build_install(model, None, module)
    need = install.size + len(deploy.LAUNCHER.read_bytes()) + deploy.FLASH_MARGIN
    with VirtualBoard(tmp_path / "flash", flash=need + 64 * 1024) as vboard:
        # An interrupted deploy left a staging folder that fills the flash.
        partial = vboard.board_path("/neuroedge/i-0123456789.partial")
        (partial / "model").mkdir(parents=True)
        (partial / "model" / "model.tflite").write_bytes(bytes(128 * 1024))
        with BoardConnection(vboard.port) as conn:
            assert conn.info().flash_free < need
        result = deploy.deploy(vboard.port, model, log=lambda *a: None)
        assert sorted(p.name for p in vboard.board_path("/neuroedge").iterdir()) == ["current", result["install"]]


# -- train --out ----------------------------------------------------------------------------------


def test_train_refuses_to_replace_what_is_not_a_bundle(tiny_model, tmp_path):
    data, model = tiny_model
    notes = tmp_path / "notes"
    (notes / "figures").mkdir(parents=True)
    (notes / "notes.txt").write_text("do not lose me\n")
    (notes / "model.json").write_text("{}")
    refused = run_neuroedge("train", str(data), "--out", str(notes), "--epochs", "1", timeout=60)
    assert refused.returncode == 2
    assert (f"{notes}: holds figures/, notes.txt, which a model bundle does not; writing the bundle would delete "
            "them: choose another folder, or --force to replace it") in refused.stderr
    assert (notes / "notes.txt").read_text() == "do not lose me\n" and (notes / "figures").is_dir()
    # The folder of the training data itself.
    recordings = sorted(data.parent.iterdir())
    refused = run_neuroedge("train", str(data.parent), "--out", str(data.parent), "--epochs", "1", timeout=60)
    assert refused.returncode == 2 and f"holds {data.name}, which a model bundle does not" in refused.stderr
    assert sorted(data.parent.iterdir()) == recordings
    # Only a bundle's files, but no bundle's model.json.
    lookalike = tmp_path / "lookalike"
    lookalike.mkdir()
    (lookalike / "report.md").write_text("my report\n")
    with pytest.raises(ValueError, match=r"lookalike: not a model bundle \(no model.json of schema neuroedge-bundle\)"):
        bundle.check_out(lookalike)
    # A file, even with --force.
    refused = run_neuroedge("train", str(data), "--out", str(notes / "notes.txt"), "--force", timeout=60)
    assert refused.returncode == 2 and "notes.txt: exists and is not a folder" in refused.stderr
    # --force: the user said so.
    forced = run_neuroedge("train", str(data), "--out", str(notes), "--epochs", "1", "--force", timeout=120)
    assert forced.returncode == 0, forced.stderr
    assert sorted(p.name for p in notes.iterdir()) == ["activity.png", "confusion.png", "model.json", "model.tflite",
                                                       "report.md"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def _write(out: Path, model: Path) -> None:
    tflite, meta = bundle.load(model)
    bundle.write(out, tflite, meta, None, None)


def test_a_new_bundle_replaces_the_old_one_whole_or_not_at_all(tiny_model, tmp_path, monkeypatch):
    _, model = tiny_model
    out = tmp_path / "models" / "mine"
    shutil.copytree(model, out)
    (out / "replay-held-out.png").write_bytes(b"a timeline")  # a bundle's own file: no --force needed
    (out / "model.json").write_text((out / "model.json").read_text().replace('"seed": 0', '"seed": 99'))
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def leftovers():
        return sorted(p.name for p in out.parent.iterdir() if p.name != "mine")

    def broken(*args):
        raise OSError("disk full")

    # Mid-write: the new folder is half written.
    with monkeypatch.context() as m:
        m.setattr(bundle, "_confusion_png", broken)
        with pytest.raises(OSError, match="disk full"):
            _write(out, model)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before and leftovers() == []

    # At the swap: the old bundle is already aside when the new one cannot be renamed into place.
    rename = Path.rename

    def rename_new_fails(self, target):
        if self.name.startswith(".mine-new-"):
            raise OSError("rename failed")
        return rename(self, target)

    with monkeypatch.context() as m:
        m.setattr(Path, "rename", rename_new_fails)
        with pytest.raises(OSError, match="rename failed"):
            _write(out, model)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before and leftovers() == []

    # Succeeds: the new bundle, nothing else, and folders made as mkdir makes them.
    old_umask = os.umask(0o022)
    try:
        _write(out, model)
        assert (out.stat().st_mode & 0o777) == 0o755
        os.umask(0o027)
        _write(tmp_path / "models" / "other", model)
        assert ((tmp_path / "models" / "other").stat().st_mode & 0o777) == 0o750
    finally:
        os.umask(old_umask)
    assert sorted(p.name for p in out.iterdir()) == ["confusion.png", "model.json", "model.tflite", "report.md"]
    assert json.loads((out / "model.json").read_text())["training"]["seed"] == 0
    assert leftovers() == ["other"]

    # A bundle the board would refuse is never written.
    tflite, meta = bundle.load(model)
    meta["hop"] = 0
    with pytest.raises(ValueError, match="never/model.json: hop must be an integer 1..4096, got 0"):
        bundle.write(tmp_path / "models" / "never", tflite, meta, None, None)
    assert leftovers() == ["other"]


def test_config_rules_refuse_oversize_text():
    rules = load_device_module("config")
    with pytest.raises(rules.ConfigError, match="^destination: a text of 257 characters, at most 256 allowed$"):
        rules.check_all({"output": "udp", "destination": ["d" * 257, 5005]})
