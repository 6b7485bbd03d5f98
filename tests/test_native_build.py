"""Building edgedl.mpy: ABI bookkeeping, the x64 build, the portable armv7emsp build."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from helpers import require_tool, run_neuroedge
from neuroedge import native
from neuroedge.native import BuildError, MpyAbi


def test_abi_decoding_of_board_values_and_mpy_headers():
    assert MpyAbi.from_sys_mpy(2822) == MpyAbi("x64", 6, 3)          # the unix port here
    assert MpyAbi.from_sys_mpy(10 << 10 | 3 << 8 | 6).tag == "xtensawin_6.3"  # ESP32 / ESP32-S3
    assert MpyAbi.from_mpy_header(b"M\x06\x1f\x1f") == MpyAbi("armv7emsp", 6, 3)
    with pytest.raises(ValueError, match="no native code support"):
        MpyAbi.from_sys_mpy(6)  # a port built without native code
    with pytest.raises(ValueError, match="not a .mpy file"):
        MpyAbi.from_mpy_header(b"\x7fELF", "x.mpy")


def test_x64_build_is_filed_by_arch_and_abi_and_matches_the_emulator(edgedl_mpy, emulator):
    assert edgedl_mpy == native.BUILD_DIR / "x64_6.3" / "edgedl.mpy"
    assert native.module_abi(edgedl_mpy) == MpyAbi("x64", 6, 3)
    # The host picks the build from what the board reports.
    sys_mpy = int(emulator.run("import sys; print(sys.implementation._mpy)").check().stdout)
    assert native.find_module_for_board(sys_mpy) == edgedl_mpy
    assert emulator.run("import edgedl; print(edgedl.__version__)").check().stdout.strip() == "0.1.0"


def test_missing_build_for_a_board_says_which_build_is_needed(tmp_path):
    with pytest.raises(BuildError, match=r"no edgedl.mpy built for xtensawin_6.3: run `neuroedge build --arch xtensawin`"):
        native.find_module_for_board(10 << 10 | 3 << 8 | 6, build_dir=tmp_path)


def test_cli_build_prints_the_module_path():
    result = run_neuroedge("build", "--arch", "x64")
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()) == native.BUILD_DIR / "x64_6.3" / "edgedl.mpy"


def test_bad_mpy_dir_and_missing_toolchain_are_clear_errors(tmp_path, monkeypatch):
    with pytest.raises(BuildError, match="is not a MicroPython source tree"):
        native.build("x64", tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))  # no compilers at all
    with pytest.raises(BuildError, match="building for xtensawin needs xtensa-esp32-elf-gcc on PATH"):
        native.build("xtensawin")
    result = run_neuroedge("build", "--arch", "sparc")
    assert result.returncode != 0 and "invalid choice: 'sparc'" in result.stderr


def symbols(path: Path) -> tuple[set[str], set[str]]:
    """(defined, undefined) global symbol names of an object file."""
    defined, undefined = set(), set()
    with open(path, "rb") as f:
        for section in ELFFile(f).iter_sections():
            if isinstance(section, SymbolTableSection):
                for sym in section.iter_symbols():
                    if not sym.name or sym["st_info"]["type"] == "STT_FILE":
                        continue
                    (undefined if sym["st_shndx"] == "SHN_UNDEF" else defined).add(sym.name)
    return defined, undefined


def writable_data_bytes(path: Path) -> int:
    with open(path, "rb") as f:
        elf = ELFFile(f)
        return sum(s["sh_size"] for s in elf.iter_sections()
                   if s.name.startswith((".data", ".bss")) and not s.name.startswith(".data.rel.ro"))


@pytest.mark.slow
def test_armv7emsp_build_is_portable_mcu_c(tmp_path):
    """Cortex-M4F build: the C core needs no libc/libm/libgcc and has no writable statics."""
    require_tool("arm-none-eabi-gcc")
    path = native.build("armv7emsp", build_dir=tmp_path)
    assert path == tmp_path / "armv7emsp_6.3" / "edgedl.mpy"
    assert native.module_abi(path) == MpyAbi("armv7emsp", 6, 3)
    objects = sorted((tmp_path / "obj" / "armv7emsp").glob("*.o"))
    binding = tmp_path / "obj" / "armv7emsp" / "mod_edgedl.o"
    core = [o for o in objects if o != binding]
    assert len(core) >= 2
    core_defined = set().union(*(symbols(o)[0] for o in core))
    for obj in core:
        # Everything the core calls is the core's own: no libc, libm or libgcc helpers. (The op
        # table reaches the rows in other files through the position-independent code's GOT.)
        needed = symbols(obj)[1] - {"_GLOBAL_OFFSET_TABLE_"}
        assert needed <= core_defined, (obj.name, needed - core_defined)
        assert writable_data_bytes(obj) == 0, obj.name
    # The binding reaches MicroPython only through the natmod function table.
    external = symbols(binding)[1] - core_defined
    assert external <= {"mp_fun_table", "mp_native_qstr_table", "_GLOBAL_OFFSET_TABLE_", "mp_type_dict",
                        "mp_type_fun_builtin_1", "mp_type_fun_builtin_2", "mp_type_fun_builtin_3",
                        "mp_type_fun_builtin_var"}, external


@pytest.mark.slow
def test_firmware_user_c_module_files_list_the_natmod_sources_and_compile(tmp_path):
    """micropython.mk / micropython.cmake describe the same sources as the natmod,
    and those compile without dynruntime against MicroPython's real headers."""
    require_tool("cmake")
    listed = native.user_module_sources(tmp_path)
    # The natmod Makefile builds every .c file of device/native.
    natmod_sources = sorted(native.NATIVE_DIR.glob("*.c"))
    assert len(natmod_sources) >= 8
    assert sorted(listed["micropython.mk"]) == natmod_sources
    assert sorted(listed["micropython.cmake"]) == natmod_sources
    native.compile_check_user_module(tmp_path / "firmware", natmod_sources)
    assert (tmp_path / "firmware" / "mod_edgedl.o").stat().st_size > 0


@pytest.mark.slow
def test_every_file_compiles_for_xtensa_and_calls_only_helpers_an_esp32_runs_inline(tmp_path):
    require_tool("xtensa-lx106-elf-gcc")
    check = native.check_xtensa(build_dir=tmp_path)
    assert check.unresolved == {}
    assert "mod_edgedl.c" in check.helpers["__udivsi3"]  # the lx106 has no divider: listed, and allowed
    assert set(check.helpers) <= set(native.ESP32_INLINE_HELPERS)
    assert "__muldi3" in check.report() and "NOT PROVIDED" not in check.report()


@pytest.mark.slow
def test_xtensa_check_names_a_helper_the_esp32_build_could_not_link(tmp_path):
    """A 64-bit variable shift and a 64-bit division call libgcc on every Xtensa core."""
    require_tool("xtensa-lx106-elf-gcc")
    source = tmp_path / "wide.c"
    source.write_text("#include <stdint.h>\n"
                      "uint64_t wide(uint64_t a, uint64_t b, int n) { return (a << n) / b; }\n")
    obj = tmp_path / "wide.o"
    subprocess.run(["xtensa-lx106-elf-gcc", "-Os", "-c", str(source), "-o", str(obj)], check=True)
    with pytest.raises(BuildError, match=r"__ashldi3 +NOT PROVIDED.*wide\.c") as raised:
        native.sort_xtensa_symbols([obj])
    assert "__udivdi3" in str(raised.value)


def test_lx106_module_build_says_why_and_points_at_the_check():
    with pytest.raises(BuildError, match="--xtensa-check"):
        native.build("xtensa")
