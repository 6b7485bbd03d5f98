"""`neuroedge deploy`: the app, edgedl.mpy, a model bundle and its config onto a board.

On the board:

    /main.py                      the launcher (device/main.py): boots the install named in
    /neuroedge/current            <- this one name, switched last
    /neuroedge/<install>/         app modules (bytecode .mpy), edgedl.mpy, model/, config.json

An install goes into its own folder under a temporary name, every file is hashed on
the board and compared, the folder is renamed, and only then is /neuroedge/current
replaced (write + rename, one step on littlefs). A deploy cut off at any point (cable,
Ctrl-C) leaves the previous install booting; leftovers are removed by the next deploy.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from . import bundle, native
from .project import APP_MODULES, DEVICE_APP_DIR, ROOT, load_device_module
from .serial_board import INSTALL_ROOT, BoardConnection, BoardInfo, DeviceError

LAUNCHER = ROOT / "device" / "main.py"
BUNDLE_FILES = ("model.json", "model.tflite")
# Natmods that edgedl.mpy is built as need .mpy ABI 6.x, which MicroPython has read since 1.22.
MIN_VERSION = (1, 22)
GC_MARGIN = 8 * 1024  # events, JSON lines and fragmentation while the app runs
FLASH_MARGIN = 16 * 1024


class DeployError(DeviceError):
    """A deploy that cannot go on; the board keeps its previous install."""


@dataclass
class Install:
    name: str
    files: dict[str, bytes]  # path inside the install folder -> content

    @property
    def size(self) -> int:
        return sum(len(d) for d in self.files.values())


def check_config(cfg: dict | None, meta: dict) -> dict:
    """The board's rules, run here before anything is copied. None: the board's defaults
    (frames over the USB serial, events on the console)."""
    rules = load_device_module("config")
    try:
        return rules.check_all(dict(rules.DEFAULTS) if cfg is None else cfg, meta["channels"]["count"],
                               meta["window"])
    except rules.ConfigError as exc:
        raise DeployError(f"config: {exc}") from None


def ram_needed(install: "Install") -> int:
    """Heap the app takes with this model and config, measured: the install is built in the
    emulator (x64, whose 8-byte pointers make this an overestimate for a 32-bit board) and
    the heap in use once App() has read config.json and made its buffers is read, plus a
    margin for the GC. App() connects nothing (sources open in run(); wifi.connect returns
    None without a `network` module), except a tcp event output: "quiet" stands in for it,
    an output's socket being no buffer worth measuring. A USB replay swaps the configured
    source for the framed link: the larger of the two counts."""
    import tempfile

    from .emulator import Emulator

    with tempfile.TemporaryDirectory(prefix="neuroedge-ram-") as tmp:
        for path, data in install.files.items():
            if path == f"{native.MODULE_NAME}.mpy":
                continue  # the board's machine code: the emulator has its own x64 build
            (Path(tmp) / path).parent.mkdir(parents=True, exist_ok=True)
            (Path(tmp) / path).write_bytes(data)
        with Emulator(Path(tmp), heap=16 * 1024 * 1024, app_dir=None) as emu:
            result = emu.run("import gc\n"
                             "gc.collect()\n"
                             "_before = gc.mem_alloc()\n"
                             "import app\n"
                             "a = app.App(output='quiet')\n"
                             "gc.collect()\n"
                             "_used = gc.mem_alloc() - _before\n"
                             "a.source = a._make_source({'kind': 'usb'})\n"  # what App.serve_usb swaps in
                             "gc.collect()\n"
                             "print(max(_used, gc.mem_alloc() - _before))\n")
    if result.returncode != 0:
        # The app refused the bundle as the board would (edgedl validates the whole model):
        # nothing is copied. The exception's own line names the problem.
        lines = [line for line in result.output.strip().splitlines() if line.strip()]
        raise DeployError(f"the app cannot run this bundle: {lines[-1] if lines else 'no output'}")
    out = result.stdout
    return int(out.split()[-1]) + GC_MARGIN


def build_install(bundle_dir: Path, config: dict | None, module: Path) -> tuple[Install, dict]:
    """The files of an install (app bytecode, edgedl.mpy, bundle, config.json) and their manifest."""
    try:
        tflite, meta = bundle.load(bundle_dir)
    except ValueError as exc:
        raise DeployError(str(exc)) from None
    files: dict[str, bytes] = {}
    for name in APP_MODULES:  # precompiled: the board imports them without compiling
        try:
            files[name[:-3] + ".mpy"] = native.compile_bytecode(DEVICE_APP_DIR / name)
        except native.BuildError as exc:
            raise DeployError(str(exc)) from None
    files[f"{native.MODULE_NAME}.mpy"] = module.read_bytes()
    for name in BUNDLE_FILES:
        files[f"model/{name}"] = (Path(bundle_dir) / name).read_bytes()
    cfg = check_config(config, meta)
    files["config.json"] = json.dumps(cfg, indent=1).encode()
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.encode() + b"\0" + files[path])
    return Install("i-" + digest.hexdigest()[:10], files), meta


def module_for(info: BoardInfo, build: bool = True) -> Path:
    """The built edgedl.mpy the board can load (built now for x64 when missing and `build`)."""
    if info.sys_mpy is None or info.version[:2] < MIN_VERSION:
        raise DeployError(f"MicroPython {'.'.join(map(str, info.version[:3]))} on the board is too old for native "
                          f"modules like edgedl.mpy: flash {MIN_VERSION[0]}.{MIN_VERSION[1]} or newer")
    try:
        abi = native.MpyAbi.from_sys_mpy(info.sys_mpy)
    except ValueError as exc:
        raise DeployError(str(exc)) from None
    path = native.module_path(abi)
    if path.exists():
        return path
    if abi.version != 6 or abi.sub_version not in (1, 2, 3):
        raise DeployError(f"the board reads .mpy ABI {abi.version}.{abi.sub_version}; edgedl builds for ABI 6.x "
                          "(MicroPython 1.22 or newer)")
    if build and abi.arch in native.NATMOD_ARCHS:
        try:
            return native.build(abi.arch)
        except native.BuildError as exc:
            raise DeployError(f"the board needs edgedl.mpy for {abi.tag} and building it failed: {exc}") from None
    raise DeployError(f"the board needs edgedl.mpy for {abi.tag}: run `neuroedge build --arch {abi.arch}`")


REMOVE_TREE = """
import os
def _rm(p):
    try:
        mode = os.stat(p)[0]
    except OSError:
        return
    if mode & 0x4000:
        for e in os.ilistdir(p):
            _rm(p + '/' + e[0])
        os.rmdir(p)
    else:
        os.remove(p)
"""


def deploy(port: str, bundle_dir: Path, config: dict | None = None, *, log=print,
           board: BoardConnection | None = None) -> dict:
    """Installs a bundle with the app on the board at `port`: new folder, verified by hash, then switched to."""
    own = board is None
    # A soft reset first: it stops the running app (about to be replaced) and leaves the
    # heap as the new app will find it, so the RAM check measures what it will have.
    board = board or BoardConnection(port, soft_reset=True)
    try:
        info = board.info()
        module = module_for(info)
        install, meta = build_install(Path(bundle_dir), config, module)
        need_ram = ram_needed(install)
        if info.ram_free < need_ram:
            raise DeployError(f"not enough RAM: the app with this model needs about {need_ram:,} B of heap, the "
                              f"board has {info.ram_free:,} B free (a smaller model, or a board with PSRAM)")
        launcher = LAUNCHER.read_bytes()
        need_flash = install.size + len(launcher) + FLASH_MARGIN
        flash_free = _remove_partial_installs(board)
        if flash_free < need_flash:
            raise DeployError(f"not enough flash: this install takes {need_flash:,} B, the board has "
                              f"{flash_free:,} B free of {info.flash_total:,} B")
        log(f"board: MicroPython {'.'.join(map(str, info.version[:3]))} ({info.platform}, "
            f"{native.MpyAbi.from_sys_mpy(info.sys_mpy).tag}), {flash_free:,} B flash and "
            f"{info.ram_free:,} B RAM free")
        home = f"{INSTALL_ROOT}/{install.name}"
        if info.installed == install.name:
            log(f"{install.name} is already installed and current")
        else:
            _upload(board, install, home, log)
        _switch(board, install.name, launcher)
        board.exec(REMOVE_TREE + f"for _e in os.listdir('{INSTALL_ROOT}'):\n"
                   f"    if _e not in ('current', '{install.name}'):\n"
                   f"        _rm('{INSTALL_ROOT}/' + _e)\n")
        listing = board.call(f"import os\n_h = '{home}'",
                             "sorted([(p, os.stat(_h + '/' + p)[6]) for p in "
                             + repr(sorted(install.files)) + "])")
        log(f"installed {install.name} ({install.size:,} B): {meta['channels']['count']} channels, "
            f"gestures {', '.join(meta['labels'])}")
        for path, size in listing:
            log(f"  {home}/{path}  {size:,} B")
        board.soft_reset()  # the next connection finds a clean heap for the new app
        log("reset the board (Ctrl-D at its REPL, or the reset button) to start the app; "
            "`neuroedge tune --port PORT show` starts it too")
        return {"install": install.name, "files": dict(listing), "board": info.__dict__}
    finally:
        if own:
            board.close()


def _remove_partial_installs(board: BoardConnection) -> int:
    """Removes what interrupted deploys left (NAME.partial: never booted) and returns the
    flash then free, so the flash check counts the room they took."""
    return board.call(REMOVE_TREE + "try:\n"
                      f"    _l = os.listdir('{INSTALL_ROOT}')\n"
                      "except OSError:\n"
                      "    _l = []\n"
                      "for _e in _l:\n"
                      "    if _e.endswith('.partial'):\n"
                      f"        _rm('{INSTALL_ROOT}/' + _e)\n"
                      "_s = os.statvfs('/')\n", "_s[0] * _s[3]")


def _upload(board: BoardConnection, install: Install, home: str, log) -> None:
    staging = home + ".partial"
    board.exec(REMOVE_TREE + f"_rm('{staging}')\n"
               f"for _d in ('{INSTALL_ROOT}', '{staging}', '{staging}/model'):\n"
               "    try:\n"
               "        os.mkdir(_d)\n"
               "    except OSError:\n"
               "        pass\n")
    for path, data in sorted(install.files.items()):
        log(f"  copying {path} ({len(data):,} B)")
        board.write_file(f"{staging}/{path}", data)
    for path, data in sorted(install.files.items()):
        got = board.sha256(f"{staging}/{path}")
        if got != hashlib.sha256(data).hexdigest():
            raise DeployError(f"{path} arrived corrupted (sha256 {got[:12]} on the board, "
                              f"{hashlib.sha256(data).hexdigest()[:12]} sent); the board keeps its previous install")
    board.exec(REMOVE_TREE + f"_rm('{home}')\nos.rename('{staging}', '{home}')\n")


def _switch(board: BoardConnection, name: str, launcher: bytes) -> None:
    """Point /neuroedge/current at the new install, then make sure /main.py is the launcher."""
    replace = ("import os\n"
               "def _replace(tmp, path):\n"
               "    try:\n"
               "        os.rename(tmp, path)\n"
               "    except OSError:\n"   # FAT will not rename over a file
               "        os.remove(path)\n"
               "        os.rename(tmp, path)\n")
    board.write_file(f"{INSTALL_ROOT}/current.tmp", name.encode())
    board.exec(replace + f"_replace('{INSTALL_ROOT}/current.tmp', '{INSTALL_ROOT}/current')\n")
    try:
        same = board.sha256("/main.py") == hashlib.sha256(launcher).hexdigest()
    except DeviceError:
        same = False
    if not same:
        board.write_file("/main.py.tmp", launcher)
        if board.sha256("/main.py.tmp") != hashlib.sha256(launcher).hexdigest():
            raise DeployError("/main.py arrived corrupted; the board keeps its previous launcher")
        board.exec(replace + "try:\n    os.stat('/main.py')\n    _replace('/main.py.tmp', '/main.py')\n"
                   "except OSError:\n    os.rename('/main.py.tmp', '/main.py')\n")


def main(port: str, bundle_dir: Path, config_path: Path | None) -> int:
    """`neuroedge deploy`: deploy with progress, the config from a JSON file when given."""
    config = None
    if config_path is not None:
        try:
            config = json.loads(Path(config_path).read_text())
        except (OSError, ValueError) as exc:
            raise DeployError(f"{config_path}: not a readable JSON config ({exc})") from None
    deploy(port, bundle_dir, config)
    return 0

