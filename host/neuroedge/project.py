"""Where things live in a NeuroEdge checkout (one place for every path)."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD_DIR = ROOT / "build"
NATIVE_DIR = ROOT / "device" / "native"
DEVICE_APP_DIR = ROOT / "device" / "app"
VIRTUAL_BOARD_BOOT = ROOT / "device" / "virtual_board" / "boot.py"  # MicroPython: the virtual board's "firmware" boot
MODELS_DIR = ROOT / "models"
TOOLS_DIR = ROOT / "tools"
# The app's modules, as deploy installs them (device/package.json lists the same for mip).
APP_MODULES = ("app.py", "config.py", "runtime.py", "bundle_rules.py", "calibration.py", "sources.py",
               "protocol.py", "streambridge.py", "quattrocento.py", "wifi.py", "infer_batch.py", "bridge.py",
               "uart.py")


def load_device_module(name: str, as_name: str | None = None):
    """A plain-Python module of device/app (e.g. "config", "quattrocento") loaded on the host,
    so board and host run the same file."""
    spec = importlib.util.spec_from_file_location(as_name or f"neuroedge_device_{name}", DEVICE_APP_DIR / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
