"""`neuroedge bench mcu`: the C core's instructions on an emulated microcontroller core.

The board's pipeline (channel selection of a 312-channel stream, preprocessing, windowing,
quantization, the model's invoke) is cross-built from `device/native` with the harness in
`tools/mcu`, run bare-metal under QEMU on a recorded input, and every executed instruction is
counted (`-singlestep -d exec,nochain`: one trace line per instruction), grouped by function
through the link map. The same harness built for this machine gives the reference outputs:
every window's scores must be equal. Figures are instructions, not cycles; the load on a
240 MHz core assumes one instruction per cycle.

Cores: Cortex-M4F (`qemu-system-arm -M mps2-an386`, `arm-none-eabi-gcc`, the project's
armv7emsp flags), portable C and the DSP path; Xtensa lx106 (`qemu-system-xtensa -M sim`, Debian's
lx106 compiler), an upper bound for the ESP32's LX6, which has no compiler on the registries.
`--kernels` counts one-layer models of the zoo (zoo.KERNEL_MODELS) instead of the pipeline.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import NeuroEdgeError
from ..project import NATIVE_DIR, TOOLS_DIR, load_device_module

HARNESS_DIR = TOOLS_DIR / "mcu"
# Every C file of the core but the MicroPython binding.
CORE_SOURCES = tuple(sorted(p.name for p in NATIVE_DIR.glob("edgedl_*.c")))
STREAM_CHANNELS = 312      # a Quattrocento stream (the model's channels are selected from it)
CLOCK_HZ = 240e6           # an ESP32-class core; instructions per second / this = load at 1 instruction per cycle
MODEL_POOL = 64 * 1024     # static room for the parsed model and for its tensor arena
PROTOCOL = load_device_module("protocol")
CHUNK = PROTOCOL.CHUNK     # raw frames preprocessed at a time, as the board's runtime does


class McuError(NeuroEdgeError, RuntimeError):
    """A tool is missing, a build failed, or the emulated core disagreed with the host."""


@dataclass
class Core:
    name: str
    compiler: str
    cflags: tuple
    opt: str         # the optimisation the project's build uses for this kind of core
    ldflags: tuple
    startup: tuple   # files of tools/mcu linked in: start-up, output, helpers
    qemu: tuple
    variants: tuple  # kernel builds worth running (VARIANTS); a core without a DSP path has one
    apt: str         # the Debian packages that provide compiler, C library headers and emulator
    files: tuple = ()  # besides the tools: files those packages install


CORTEX_M4 = Core(
    "cortex-m4f", "arm-none-eabi-gcc",
    ("-mthumb", "-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"), "-O2",
    ("-nostdlib", "-T", str(HARNESS_DIR / "cortex_m.ld"), "-lgcc"),
    ("startup_cortex_m.c",),
    ("qemu-system-arm", "-M", "mps2-an386", "-display", "none", "-serial", "none", "-monitor", "none",
     "-semihosting"),
    ("portable", "dsp"), "gcc-arm-none-eabi qemu-system-arm")
# The ESP8266's core, call0 ABI, at the project's Xtensa -Os: an upper bound for the ESP32's LX6
# (which adds a divider, MUL32HIGH, and MAC16/LOOP instructions this build does not use).
PICOLIBC_SPECS = "/usr/lib/xtensa-lx106-elf/picolibc.specs"  # its C headers: the core has no libc
LX106 = Core(
    "lx106", "xtensa-lx106-elf-gcc",
    (f"--specs={PICOLIBC_SPECS}", "-mtext-section-literals"), "-Os",
    ("-nostdlib", "-T", str(HARNESS_DIR / "xtensa_sim.ld"), "-lgcc"),
    ("entry_xtensa.S", "startup_xtensa.c", "libgcc_lx106.c"),
    ("qemu-system-xtensa", "-M", "sim", "-cpu", "lx106", "-display", "none", "-serial", "none", "-monitor", "none",
     "-semihosting"),
    ("portable",), "gcc-xtensa-lx106 picolibc-xtensa-lx106-elf qemu-system-misc",
    (PICOLIBC_SPECS,))
CORES = {core.name: core for core in (CORTEX_M4, LX106)}
COMMON_CFLAGS = ("-std=c99", "-Wall", "-Werror", "-ffunction-sections", "-fno-tree-loop-distribute-patterns")

STAGES = ("stream", "preprocess", "quantize", "model", "quality")
PIPELINE = STAGES[:4]  # the default board's stages: the electrode checks ("quality") run when switched on
FRAME_STAGES = ("stream", "preprocess", "quality")  # per raw frame (the others per window)
QUALITY_PERIOD_MS, MAINS_HZ = 250, 50  # edgedl.Quality's defaults


@dataclass
class StageCount:
    stage: str
    instructions: int           # executed in the run's loop
    per_second: float           # instructions per second of signal
    load: float                 # share of a CLOCK_HZ core at one instruction per cycle


KERNELS = ("ne_conv2d", "ne_depthwise_conv2d", "ne_fully_connected")
KERNEL_OBJECT = "edgedl_ops_conv"  # where the kernels and their helpers are


@dataclass
class VariantCount:
    stages: list                # StageCount as dicts
    instructions_per_mac: float
    kernel_instructions_per_mac: dict  # per kernel function, over that kernel's MACs (absent: no such op)
    per_second: float
    load: float


@dataclass
class McuBench:
    core: str
    channels: int
    stream_channels: int
    fs: float
    frames: int
    windows: int
    macs_per_window: int
    variants: dict              # "portable", "dsp" -> VariantCount as a dict
    outputs_equal: bool


def check_tools(core: Core = CORTEX_M4) -> None:
    """McuError naming the Debian packages when the core's compiler, QEMU or C library headers are missing."""
    missing = [tool for tool in (core.compiler, core.qemu[0]) if shutil.which(tool) is None]
    missing += [path for path in core.files if not Path(path).exists()]
    if missing:
        raise McuError(f"{' and '.join(missing)} not found: install the Debian packages {core.apt}")


def _c_array(name: str, data: bytes, ctype: str = "uint8_t") -> str:
    body = ",".join(str(b) for b in data)
    return f"static const {ctype} {name}[{len(data)}] __attribute__((aligned(16))) = {{{body}}};\n"


def quality_defines(fs: int) -> dict:
    """edgedl.Quality(channels, fs)'s parameters, with mod_edgedl.c's arithmetic."""
    stride = fs // 1000 if fs >= 2000 else 1
    step = np.float32(MAINS_HZ) / np.float32(fs) * np.float32(stride) * np.float32(2 ** 32)
    return {"QUALITY_PERIOD": fs * QUALITY_PERIOD_MS // 1000 // stride, "QUALITY_STRIDE": stride,
            "QUALITY_PHASE_STEP": f"{int(step)}u"}


def write_input(bundle_dir: Path, counts: np.ndarray, out: Path) -> dict:
    """bench_input.h: the bundle's parameters, its .tflite, and the raw frames as the amplifier
    sends them (the model's channels first, then the rest of a STREAM_CHANNELS-channel frame)."""
    from .. import bundle

    model, meta = bundle.load(bundle_dir)  # refused, naming the field, unless the board would run it
    p, q = meta["preprocess"], meta["input"]["from_counts"]
    channels = meta["channels"]["count"]
    if counts.shape[1] != channels:
        raise McuError(f"the recording has {counts.shape[1]} channels, the model takes {channels}")
    stream_channels = max(STREAM_CHANNELS, channels)
    frames = np.zeros((len(counts) // CHUNK * CHUNK, stream_channels), np.int16)  # whole chunks, as the board
    counts = counts[:len(frames)]
    frames[:, :channels] = counts
    defines = {"IN_CHANNELS": stream_channels, "OUT_CHANNELS": channels, "FRAME_WIDTH": bundle.rules.frame_width(meta),
               "WINDOW": meta["window"], "HOP": meta["hop"], "DECIMATE": p["decimate"],
               "HIGHPASS_Q15": p["highpass_q15"], "RECTIFY": int(bool(p["rectify"])),
               "ENVELOPE_Q15": p["envelope_q15"], "FEATURES": p.get("features", 0),
               "THRESHOLD": p.get("threshold", 0), "Q_MULT": q["mult"], "Q_SHIFT": q["shift"],
               "Q_ZERO_POINT": q["zero_point"], "CLASSES": len(meta["labels"]), "MODEL_BYTES": len(model),
               "RAW_FRAME_COUNT": len(frames), "META_POOL": MODEL_POOL, "ARENA_POOL": MODEL_POOL,
               "CHUNK": CHUNK, "PUSH_BYTES": PROTOCOL.USB_CHUNK,
               **quality_defines(int(meta["fs"] + 0.5))}
    text = "// Generated by neuroedge bench mcu: do not edit.\n#include <stdint.h>\n"
    text += "".join(f"#define {k} ({v})\n" for k, v in defines.items())
    text += "#define PRE_STATE_WORDS NE_PRE_STATE_WORDS(FEATURES)\n"
    text += _c_array("MODEL", model)
    text += _c_array("RAW_FRAMES", frames.astype("<i2").tobytes())
    out.write_text(text)
    return {"channels": channels, "stream_channels": stream_channels, "fs": float(meta["fs"]),
            "frames": len(frames), "block": p["decimate"] * meta["hop"]}


def _run(cmd: list, what: str, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if proc.returncode != 0:
        raise McuError(f"{what} failed ({' '.join(cmd[:3])} ...):\n{(proc.stderr or proc.stdout)[-3000:]}")
    return proc


OBJECT_STAGES = {"edgedl_stream": "stream", "edgedl_preprocess": "preprocess", "edgedl_quality": "quality",
                 "edgedl_model": "model", "edgedl_tflite": "model", "edgedl_quant": "model", "edgedl_prepare": "model"}


def stage_of(function: str, obj: str) -> str | None:
    """The pipeline stage of a function of the core (None: the harness, start-up, libgcc)."""
    if function == "ne_quantize_window":
        return "quantize"  # in edgedl_preprocess.c, run once per window
    if obj.startswith("edgedl_ops"):
        return "model"  # the op table and the ops' prepare and eval
    return OBJECT_STAGES.get(obj)


VARIANTS = {"portable": ("-DNE_PORTABLE",), "dsp": ()}  # dsp: the core's own choice for ARMv7E-M


def build(core: Core | None, gen_dir: Path, out: Path, variant: str = "dsp", harness: str = "harness.c") -> Path:
    """The harness and the C core as one program: an ELF for `core` (with a link map naming
    each function's object file), or this machine's executable when core is None. variant
    "portable" builds the plain C kernels, "dsp" what the core selects for the target."""
    sources = [NATIVE_DIR / s for s in CORE_SOURCES] + [HARNESS_DIR / harness]
    includes = ("-I", str(NATIVE_DIR), "-I", str(gen_dir))
    if core is None:
        _run(["gcc", *COMMON_CFLAGS, "-O2", *includes, *map(str, sources), str(HARNESS_DIR / "host_main.c"),
              "-o", str(out)], "the host build")
        return out
    objects, obj_dir = [], out.parent / f"{out.stem}.objects"
    obj_dir.mkdir(exist_ok=True)
    for src in [*sources, *(HARNESS_DIR / name for name in core.startup)]:
        obj = obj_dir / f"{src.stem}.o"
        _run([core.compiler, *COMMON_CFLAGS, *core.cflags, core.opt, *VARIANTS[variant], "-ffreestanding", *includes, "-c",
              str(src), "-o", str(obj)], f"the {core.name} build of {src.name}")
        objects.append(str(obj))
    _run([core.compiler, *core.cflags, *objects, *core.ldflags, f"-Wl,-Map={out}.map", "-o", str(out)],
         f"the {core.name} link")
    return out


def functions_of(map_file: Path) -> list[tuple[str, str]]:
    """(function, object stem) of every non-empty .text.<function> section in a GNU ld map."""
    found = re.findall(r"^ \.text\.(\S+)\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+(\S+)", map_file.read_text(), re.M)
    return [(f, Path(o).stem) for f, n, o in found if int(n, 16)]


def _entry_contexts(functions: list, entry: dict) -> dict:
    """Entry address -> (stage, kernel) the instructions after it count for: a stage's own
    functions set both, the harness and start-up clear both, and the functions that belong to
    neither (libgcc's division, 64-bit and float helpers) are credited to their caller's."""
    contexts = {}
    for name, obj in functions:
        if name not in entry:
            continue
        stage = stage_of(name, obj)
        if stage is not None:
            kernel = name if name in KERNELS else (KEEP if obj == KERNEL_OBJECT else None)
            contexts[entry[name]] = (stage, kernel)
        elif obj in HARNESS_OBJECTS:
            contexts[entry[name]] = (None, None)
    return contexts


KEEP = "keep"  # a kernel's helper (edgedl_ops_conv.c, not inlined): the kernel it serves stays
HARNESS_OBJECTS = {"harness", "models_harness", "startup_cortex_m", "startup_xtensa", "entry_xtensa", "host_main"}


def run_counted(core: Core, elf: Path, start: str = "bench_loop") -> tuple[str, Counter]:
    """Runs the ELF under QEMU, one trace line per executed instruction; returns its output and
    the instructions per (stage, kernel) from the first entry into `start` on (_entry_contexts
    says which stage and which kernel each instruction serves)."""
    functions = functions_of(Path(f"{elf}.map"))
    # Entry points from the symbol table: a section may begin with its literal pool (Xtensa).
    symbols = _run([core.compiler.replace("-gcc", "-nm"), str(elf)], "reading the symbols").stdout
    entry = {name: f"{int(addr, 16):08x}".encode()
             for addr, kind, name in re.findall(r"^([0-9a-f]+) ([Tt]) (\S+)$", symbols, re.M)}
    if start not in entry:
        raise McuError(f"{elf.name}: no function {start}")
    first, contexts = entry[start], _entry_contexts(functions, entry)
    with tempfile.TemporaryDirectory(prefix="neuroedge-mcu-") as tmp:
        fifo = Path(tmp) / "trace"
        os.mkfifo(fifo)
        proc = subprocess.Popen([*core.qemu, "-kernel", str(elf), "-singlestep", "-d", "exec,nochain",
                                 "-D", str(fifo)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        output = {}
        reader = threading.Thread(target=lambda: output.update(zip(("out", "err"), proc.communicate())))
        reader.start()
        counted, started, stage, kernel = Counter(), False, None, None
        with open(fifo, "rb") as trace:
            for line in trace:
                # "Trace 0: 0x7f.. [00000000/0000a3c4/...] fn": the guest PC is the second field
                at = line.find(b"/")
                if at < 0:
                    continue
                pc = line[at + 1:line.find(b"/", at + 1)][-8:]
                if not started:
                    started = pc == first
                    if not started:
                        continue
                context = contexts.get(pc)
                if context is not None:
                    stage = context[0]
                    kernel = kernel if context[1] is KEEP else context[1]
                counted[stage, kernel] += 1
        reader.join()
    if proc.returncode != 0:
        raise McuError(f"QEMU stopped with code {proc.returncode}:\n{output.get('err', b'').decode()[-2000:]}")
    return output.get("err", b"").decode(), counted  # QEMU writes semihosting output to stderr


def bench(bundle_dir: Path, counts: np.ndarray, core: Core = CORTEX_M4, log=print) -> McuBench:
    """The pipeline of `bundle_dir` on `counts` (int16 frames of the model's channels) on the
    emulated core, portable C and DSP path, counted by stage, both outputs checked against
    this machine's build."""
    check_tools(core)
    variants = {}
    with tempfile.TemporaryDirectory(prefix="neuroedge-mcu-") as tmp:
        tmp = Path(tmp)
        info = write_input(bundle_dir, counts, tmp / "bench_input.h")
        host_out = _run([str(build(None, tmp, tmp / "host"))], "the host run").stdout
        windows = int(re.search(r"windows (\d+)", host_out).group(1))
        macs = int(re.search(r"macs (\d+)", host_out).group(1))
        if not windows:
            raise McuError(f"{info['frames']} frames make no window: a longer input is needed")
        for variant in core.variants:
            elf = build(core, tmp, tmp / f"{core.name}-{variant}.elf", variant)
            log(f"running {info['frames']} frames of {info['stream_channels']} channels on the emulated {core.name}, "
                f"{variant} kernels (every instruction traced)...")
            mcu_out, counted = run_counted(core, elf)
            if mcu_out != host_out:
                raise McuError(f"the {core.name} {variant} build's outputs differ from this machine's:\n"
                               f"{mcu_out[-600:]}\n---\n{host_out[-600:]}")
            kernel_macs = {k: int(re.search(rf"macs {k} (\d+)", host_out).group(1)) for k in KERNELS}
            variants[variant] = asdict(_by_stage(counted, info, windows, macs, kernel_macs))
    return McuBench(core.name, info["channels"], info["stream_channels"], info["fs"], info["frames"], windows,
                    macs, variants, True)


def _by_stage(counted: dict, info: dict, windows: int, macs: int, kernel_macs: dict) -> VariantCount:
    by_stage, by_kernel = Counter(), Counter()
    for (stage, kernel), n in counted.items():
        by_stage[stage] += n
        by_kernel[kernel] += n
    per_kernel = {k: by_kernel[k] / (windows * kernel_macs[k]) for k in KERNELS if kernel_macs[k]}
    # Per second of signal: frame stages scale with the frames, window stages with the windows.
    seconds = info["frames"] / info["fs"]
    windows_per_s = info["fs"] / info["block"]
    stages = []
    for stage in STAGES:
        n = by_stage[stage]
        per_s = n / seconds if stage in FRAME_STAGES else n / windows * windows_per_s
        stages.append(asdict(StageCount(stage, n, per_s, per_s / CLOCK_HZ)))
    total = sum(s["per_second"] for s in stages if s["stage"] in PIPELINE)
    return VariantCount(stages, by_stage["model"] / (windows * macs), per_kernel, total, total / CLOCK_HZ)


def _models_header(models: dict[str, bytes], inputs: dict[str, bytes], count_macs: bool = False) -> str:
    """models_input.h for tools/mcu/models_harness.c."""
    names = list(models)
    text = "// Generated by neuroedge.bench.mcu: do not edit.\n#include <stdint.h>\n"
    for i, name in enumerate(names):
        text += _c_array(f"MODEL_{i}", models[name]) + _c_array(f"INPUT_{i}", inputs[name])
    text += f"#define MODEL_COUNT {len(names)}\n#define POOL (1024 * 1024)\n#define MAX_OUTPUT 65536\n"
    text += "#define COUNT_MACS 1\n" if count_macs else ""
    text += "static const uint8_t *const MODELS[] = {" + ",".join(f"MODEL_{i}" for i in range(len(names))) + "};\n"
    text += "static const uint8_t *const INPUTS[] = {" + ",".join(f"INPUT_{i}" for i in range(len(names))) + "};\n"
    text += "static const uint32_t MODEL_SIZES[] = {" + ",".join(str(len(models[n])) for n in names) + "};\n"
    text += "static const uint32_t INPUT_SIZES[] = {" + ",".join(str(len(inputs[n])) for n in names) + "};\n"
    return text


def run_models(models: dict[str, bytes], inputs: dict[str, bytes], variant: str = "dsp",
               core: Core = CORTEX_M4) -> dict[str, bytes]:
    """Each model invoked once on its input on the emulated core: its output bytes (one image,
    one run for all of them)."""
    check_tools(core)
    names = list(models)
    with tempfile.TemporaryDirectory(prefix="neuroedge-mcu-") as tmp:
        tmp = Path(tmp)
        (tmp / "models_input.h").write_text(_models_header(models, inputs))
        elf = build(core, tmp, tmp / f"models-{variant}.elf", variant, harness="models_harness.c")
        proc = subprocess.run([*core.qemu, "-kernel", str(elf)], capture_output=True, timeout=600)
    if proc.returncode != 0:
        raise McuError(f"QEMU stopped with code {proc.returncode}:\n{proc.stderr.decode()[-2000:]}")
    lines = proc.stderr.decode().splitlines()  # QEMU writes semihosting output to stderr
    if len(lines) != len(names) or any(not re.fullmatch(r"[0-9a-f]+", line) for line in lines):
        raise McuError(f"the {core.name} run printed {lines[:5]} for {len(names)} models")
    return {name: bytes.fromhex(line) for name, line in zip(names, lines)}


@dataclass
class KernelCount:
    model: str                  # a one-layer model of the zoo (zoo.KERNEL_MODELS)
    kernel: str
    macs: int
    instructions_per_mac: dict  # variant -> the kernel's instructions over its MACs


def kernel_bench(core: Core = CORTEX_M4, names: tuple = (), log=print) -> list[KernelCount]:
    """Each kernel model invoked once on the emulated core per kernel build, its kernel's
    instructions counted; its output must equal TFLite Micro's."""
    import struct

    from .. import native
    from . import engine, tflm, zoo

    check_tools(core)
    names = names or zoo.KERNEL_MODELS
    paths = zoo.build_zoo(native.BUILD_DIR / "zoo", list(names))
    results = []
    for name in names:
        model = paths[name].read_bytes()
        x = engine.sample_input(model, seed=0)
        expected = tflm.run_reference(model, x[None])[0].tobytes()
        per_mac, macs, kernel = {}, {}, None
        for variant in core.variants:
            log(f"running {name} on the emulated {core.name}, {variant} kernels (every instruction traced)...")
            with tempfile.TemporaryDirectory(prefix="neuroedge-mcu-") as tmp:
                tmp = Path(tmp)
                (tmp / "models_input.h").write_text(_models_header({name: model}, {name: x.tobytes()}, True))
                elf = build(core, tmp, tmp / f"{name}-{variant}.elf", variant, harness="models_harness.c")
                output, counted = run_counted(core, elf, start="bench_main")
            lines = output.splitlines()
            if len(lines) != 2 or bytes.fromhex(lines[0]) != expected:
                raise McuError(f"{name} on the {core.name} ({variant}): output differs from TFLite Micro's")
            macs = dict(zip(KERNELS, struct.unpack("<3I", bytes.fromhex(lines[1]))))
            kernel = max(macs, key=macs.get)
            in_kernel = sum(n for (_, k), n in counted.items() if k == kernel)
            per_mac[variant] = in_kernel / macs[kernel]
        results.append(KernelCount(name, kernel, macs[kernel], per_mac))
    return results


def describe_kernels(core: Core, results: list[KernelCount]) -> str:
    """The kernel benchmark as a table: instructions per MAC per layer and kernel build."""
    lines = [f"{core.name} under QEMU, {core.opt}: one-layer models, instructions per MAC in the kernel "
             "(requantization included); outputs equal to TFLite Micro's",
             f"{'layer':<28}{'kernel':<22}{'MACs':>10}" + "".join(f"{v:>12}" for v in core.variants)]
    for r in results:
        lines.append(f"{r.model.removeprefix('kernel_'):<28}{r.kernel.removeprefix('ne_'):<22}{r.macs:>10,}"
                     + "".join(f"{r.instructions_per_mac[v]:>12.2f}" for v in core.variants))
    return "\n".join(lines)


def frames_for(bundle_dir: Path, windows: int) -> int:
    """Raw frames that make `windows` windows of this bundle."""
    meta = json.loads((bundle_dir / "model.json").read_text())
    block = meta["preprocess"]["decimate"]
    need = (meta["window"] + (windows - 1) * meta["hop"]) * block
    return -(-need // CHUNK) * CHUNK


def describe(result: McuBench) -> str:
    """The pipeline benchmark as text: instructions per second of signal by stage, and per MAC by kernel."""
    lines = [f"{result.core} under QEMU, {CORES[result.core].opt}: {result.channels} of {result.stream_channels} "
             f"channels at {result.fs:g} Hz, {result.frames} frames, {result.windows} windows of "
             f"{result.macs_per_window:,} MACs; outputs equal to this machine's build",
             "instructions per second of signal (share of a 240 MHz core at one instruction per cycle):",
             f"{'stage':<12}" + "".join(f"{v:>26}" for v in result.variants)]
    def row(label, i):
        cells = ""
        for v in result.variants.values():
            s = v["stages"][i]
            cells += f"{s['per_second'] / 1e6:>16.2f} M ({100 * s['load']:4.1f} %)"
        return f"{label:<12}{cells}"
    lines += [row(stage, i) for i, stage in enumerate(PIPELINE)]
    lines.append(f"{'total':<12}" + "".join(f"{v['per_second'] / 1e6:>16.2f} M ({100 * v['load']:4.1f} %)"
                                           for v in result.variants.values()))
    lines.append(row("+ quality", STAGES.index("quality")) + "   electrode checks, when switched on")
    lines.append(f"{'per MAC':<12}" + "".join(f"{v['instructions_per_mac']:>26.2f}" for v in result.variants.values()))
    for kernel in KERNELS:
        cells = [v["kernel_instructions_per_mac"].get(kernel) for v in result.variants.values()]
        if cells[0] is not None:
            lines.append(f"  {kernel.removeprefix('ne_'):<10}" + "".join(f"{c:>26.2f}" for c in cells))
    lines.append("(instructions, not cycles)")
    return "\n".join(lines)


def main(as_json: bool, bundle_dir: Path | None = None, recording_path: Path | None = None, windows: int = 2,
         cores: list[str] | None = None, kernels: bool = False) -> int:
    """`neuroedge bench mcu`: the demo's model (made when missing) and its first recording by
    default, on every core (or the named ones); with kernels, the one-layer kernel models.
    --json prints a list, one entry per core."""
    import contextlib

    from .. import dataset, demo, recording

    unknown = [name for name in cores or () if name not in CORES]
    if unknown:
        raise McuError(f"unknown core {', '.join(unknown)}: the cores are {', '.join(CORES)}")
    chosen = [CORES[name] for name in cores or CORES]
    for core in chosen:
        check_tools(core)
    if kernels:
        log = lambda text: print(text, file=sys.stderr)  # noqa: E731
        found = {core.name: kernel_bench(core, log=log) for core in chosen}
        print(json.dumps({name: [asdict(r) for r in rs] for name, rs in found.items()}, indent=2) if as_json
              else "\n\n".join(describe_kernels(CORES[name], rs) for name, rs in found.items()))
        return 0
    if windows < 1:
        raise McuError(f"--windows must be at least 1, got {windows}")
    if bundle_dir is None or recording_path is None:
        if not (demo.DEMO_BUNDLE / "model.json").exists() or not list(demo.DEMO_DATA.glob("*.npz")):
            with contextlib.redirect_stdout(sys.stderr):
                demo.train_default_model()
    bundle_dir = bundle_dir or demo.DEMO_BUNDLE
    rec = recording.load(recording_path or sorted(demo.DEMO_DATA.glob("*.npz"))[0])
    frames = frames_for(bundle_dir, windows)
    if rec.samples < frames:
        raise McuError(f"{rec.source}: {rec.samples} samples, {windows} windows need {frames}")
    results = [bench(bundle_dir, dataset.device_counts(rec)[:frames], core,
                     log=lambda text: print(text, file=sys.stderr)) for core in chosen]
    print(json.dumps([asdict(r) for r in results], indent=2) if as_json
          else "\n\n".join(describe(r) for r in results))
    return 0
