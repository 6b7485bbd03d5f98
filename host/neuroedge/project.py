"""Where things live in a NeuroEdge checkout (one place for every path)."""

import importlib.abc
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD_DIR = ROOT / "build"
NATIVE_DIR = ROOT / "device" / "native"
DEVICE_APP_DIR = ROOT / "device" / "app"
VIRTUAL_BOARD_BOOT = ROOT / "device" / "virtual_board" / "boot.py"  # MicroPython: the virtual board's "firmware" boot
MODELS_DIR = ROOT / "models"
TOOLS_DIR = ROOT / "tools"
# Scripts of device/app the host runs on the emulated board; not deployed.
EMULATOR_SCRIPTS = ("stream_bench.py", "replay_quattrocento.py")
# The app's modules, as deploy installs them (device/package.json lists the same for mip).
APP_MODULES = ("app.py", "config.py", "runtime.py", "bundle_rules.py", "calibration.py", "sources.py",
               "tcp_source.py", "udp_source.py", "serial_source.py", "usb_source.py", "link_source.py",
               "protocol.py", "streambridge.py", "quattrocento.py", "wifi.py", "infer_batch.py", "bridge.py",
               "uart.py", "quality.py", "lab.py")


class _DeviceSiblings(importlib.abc.MetaPathFinder):
    """Resolves a device module's imports of its siblings (`from protocol import POLL_MS`, as on
    a board) to the files of device/app, while load_device_module runs one."""

    def find_spec(self, fullname, path=None, target=None):
        file = DEVICE_APP_DIR / f"{fullname}.py"
        return importlib.util.spec_from_file_location(fullname, file) if "." not in fullname and file.exists() else None


def load_device_module(name: str, as_name: str | None = None):
    """A plain-Python module of device/app (e.g. "config", "quattrocento") loaded on the host,
    so board and host run the same file. Its imports of other device modules get those files
    too; they are not left in sys.modules under their bare names."""
    spec = importlib.util.spec_from_file_location(as_name or f"neuroedge_device_{name}", DEVICE_APP_DIR / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    finder, before = _DeviceSiblings(), set(sys.modules)
    sys.meta_path.insert(0, finder)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.meta_path.remove(finder)
        for added in set(sys.modules) - before:
            if (DEVICE_APP_DIR / f"{added}.py").exists():
                del sys.modules[added]
    return module
