"""`neuroedge bench mcu`: the C core cross-built for Cortex-M4F, run bare-metal under QEMU with every
instruction counted, its outputs equal to this machine's build of the same harness."""

from __future__ import annotations

import json

import pytest
from helpers import require_tool, run_neuroedge

from neuroedge.bench import mcu


@pytest.mark.slow
def test_bench_mcu_counts_each_stage_on_both_cores_and_matches_the_host_build(tiny_model, emulator):
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm", "xtensa-lx106-elf-gcc", "qemu-system-xtensa"):
        require_tool(tool)
    recording, model = tiny_model
    run = run_neuroedge("bench", "mcu", "--model", str(model), "--recording", str(recording), "--windows", "1",
                        "--json", timeout=600)
    assert run.returncode == 0, run.stderr
    results = {r["core"]: r for r in json.loads(run.stdout)}
    assert list(results) == ["cortex-m4f", "lx106"]
    # The MAC count the harness reads from the engine is the one the board reports.
    emulator.board_path("m.tflite").write_bytes((model / "model.tflite").read_bytes())
    macs = int(emulator.run("import edgedl\nprint(edgedl.Model(open('m.tflite', 'rb').read()).macs)").check().stdout)
    for result in results.values():
        assert result["outputs_equal"] and result["windows"] == 1 and result["channels"] == 64
        assert result["frames"] % mcu.CHUNK == 0 and result["stream_channels"] == mcu.STREAM_CHANNELS
        assert result["macs_per_window"] == macs
        for counted in result["variants"].values():
            stages = {s["stage"]: s for s in counted["stages"]}
            assert list(stages) == list(mcu.STAGES) and all(s["instructions"] > 0 for s in stages.values())
            assert counted["per_second"] == pytest.approx(sum(stages[s]["per_second"] for s in mcu.PIPELINE))
            # The electrode checks (when on), far below preprocessing: every second frame at 2 kHz;
            # the lx106 has no 32 x 32 -> 64-bit multiply for the sum of squares.
            samples_per_s = result["fs"] * result["channels"]
            assert stages["quality"]["per_second"] < 0.6 * stages["preprocess"]["per_second"], stages
            assert stages["quality"]["per_second"] / samples_per_s < (20 if result["core"] == "cortex-m4f" else 80)
            assert counted["load"] == pytest.approx(counted["per_second"] / mcu.CLOCK_HZ)
            assert set(counted["kernel_instructions_per_mac"]) == {"ne_conv2d", "ne_fully_connected"}
    portable, dsp = results["cortex-m4f"]["variants"]["portable"], results["cortex-m4f"]["variants"]["dsp"]
    # The portable C's inner loop (ldrsb, ldrsb, cmp, smlabb, bne) costs 5-8 instructions per MAC;
    # SMLAD does two MACs in one, the rest of the pipeline is the same code.
    assert 4 < portable["instructions_per_mac"] < 10
    assert dsp["instructions_per_mac"] < 0.75 * portable["instructions_per_mac"]
    assert dsp["kernel_instructions_per_mac"]["ne_conv2d"] < 0.6 * portable["kernel_instructions_per_mac"]["ne_conv2d"]
    assert dsp["stages"][1] == portable["stages"][1]  # preprocessing: no DSP path
    assert dsp["stages"][4] == portable["stages"][4]  # nor the electrode checks
    # The lx106 has neither SMLAD nor a 32 x 32 multiplier's high word: more per MAC, one build.
    lx106 = results["lx106"]["variants"]
    assert list(lx106) == ["portable"] and lx106["portable"]["instructions_per_mac"] > portable["instructions_per_mac"]


@pytest.mark.slow
def test_the_zoo_is_exact_on_the_emulated_cortex_m4_with_both_kernels():
    """Every zoo model on both cores (on the Cortex-M4F: portable C and the SMLAD path), byte for
    byte against TFLite Micro (lx106: through the float and division helpers of tools/mcu)."""
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm", "xtensa-lx106-elf-gcc", "qemu-system-xtensa"):
        require_tool(tool)
    from neuroedge import native
    from neuroedge.bench import engine, tflm, zoo

    paths = zoo.build_zoo(native.BUILD_DIR / "zoo", [spec.name for spec in zoo.ZOO])
    models = {name: path.read_bytes() for name, path in paths.items()}
    inputs, expected = {}, {}
    for seed, (name, model) in enumerate(models.items()):
        x = engine.sample_input(model, seed=seed)
        oracle = models[zoo.SPECS[name].oracle or name]  # see ZooSpec.oracle
        inputs[name], expected[name] = x.tobytes(), tflm.run_reference(oracle, x[None])[0].tobytes()
    for core in (mcu.CORTEX_M4, mcu.LX106):
        for variant in core.variants:
            got = mcu.run_models(models, inputs, variant, core)
            assert [n for n in models if got[n] != expected[n]] == [], (core.name, variant)
    assert len(models) >= 30


@pytest.mark.slow
def test_dsp_kernels_meet_their_instruction_budgets_on_emg_sized_layers():
    """Counted instructions, not time: at most 2 per MAC for convolution (1-D, and 2-D 3x3 through the
    gathered patch) and 1.5 for a Flatten head's dense layer, outputs equal to TFLite Micro's."""
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
        require_tool(tool)
    from neuroedge.bench import zoo

    found = {r.model: r for r in mcu.kernel_bench(mcu.CORTEX_M4, log=lambda text: None)}
    assert set(found) == set(zoo.KERNEL_MODELS)
    budget = {"ne_conv2d": 2.0, "ne_fully_connected": 1.5}
    for r in found.values():
        assert r.instructions_per_mac["dsp"] <= budget[r.kernel], r
        assert r.instructions_per_mac["portable"] > 2.5 * r.instructions_per_mac["dsp"], r


def test_bench_mcu_names_what_is_missing(monkeypatch):
    monkeypatch.setattr(mcu.shutil, "which", lambda name: None)
    with pytest.raises(mcu.McuError, match="arm-none-eabi-gcc and qemu-system-arm not found: install the Debian "
                                            "packages gcc-arm-none-eabi qemu-system-arm"):
        mcu.check_tools()
    with pytest.raises(mcu.McuError, match="install the Debian packages gcc-xtensa-lx106 picolibc-xtensa-lx106-elf "
                                            "qemu-system-misc"):
        mcu.check_tools(mcu.LX106)
    with pytest.raises(mcu.McuError, match="unknown core esp32: the cores are cortex-m4f, lx106"):
        mcu.main(False, cores=["esp32"])


def test_stages_follow_the_core_files():
    assert mcu.stage_of("ne_quantize_window", "edgedl_preprocess") == "quantize"
    assert mcu.stage_of("ne_pre_process", "edgedl_preprocess") == "preprocess"
    assert mcu.stage_of("ne_conv2d", "edgedl_ops_conv") == "model"
    assert mcu.stage_of("ne_quality_update", "edgedl_quality") == "quality"
    assert mcu.stage_of("bench_loop", "harness") is None
