"""`neuroedge bench mcu`: the C core cross-built for Cortex-M4F, run bare-metal under QEMU with every
instruction counted, its outputs equal to this machine's build of the same harness."""

from __future__ import annotations

import json

import pytest
from conftest import require_tool, run_neuroedge

from neuroedge import mcu


@pytest.mark.slow
def test_bench_mcu_counts_each_stage_and_matches_the_host_build(tiny_model, board):
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
        require_tool(tool)
    recording, model = tiny_model
    run = run_neuroedge("bench", "mcu", "--model", str(model), "--recording", str(recording), "--windows", "1",
                        "--json", timeout=300)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["outputs_equal"] and result["windows"] == 1 and result["channels"] == 64
    assert result["frames"] % mcu.CHUNK == 0 and result["stream_channels"] == mcu.STREAM_CHANNELS
    stages = {s["stage"]: s for s in result["stages"]}
    assert list(stages) == list(mcu.STAGES) and all(s["instructions"] > 0 for s in stages.values())
    # The MAC count the harness reads from the engine is the one the board reports.
    board.board_path("m.tflite").write_bytes((model / "model.tflite").read_bytes())
    macs = int(board.run("import edgedl\nprint(edgedl.Model(open('m.tflite', 'rb').read()).macs)").check().stdout)
    assert result["macs_per_window"] == macs
    # The portable C's inner loops (ldrsb, ldrsb, cmp, smlabb, bne) cost 5-8 instructions per MAC.
    assert 4 < result["instructions_per_mac"] < 10
    assert result["per_second"] == pytest.approx(sum(s["per_second"] for s in stages.values()))
    assert result["load"] == pytest.approx(result["per_second"] / mcu.CLOCK_HZ)


def test_bench_mcu_names_what_is_missing(monkeypatch):
    monkeypatch.setattr(mcu.shutil, "which", lambda name: None)
    with pytest.raises(mcu.McuError, match="arm-none-eabi-gcc and qemu-system-arm not found: install the Debian "
                                            "packages gcc-arm-none-eabi qemu-system-arm"):
        mcu.check_tools()


def test_stages_follow_the_core_files():
    assert mcu.stage_of("ne_quantize_window", "edgedl_preprocess") == "quantize"
    assert mcu.stage_of("ne_pre_process", "edgedl_preprocess") == "preprocess"
    assert mcu.stage_of("ne_conv2d", "edgedl_ops_conv") == "model"
    assert mcu.stage_of("bench_loop", "harness") is None
