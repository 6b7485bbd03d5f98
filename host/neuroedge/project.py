"""Where things live in a NeuroEdge checkout (one place for every path)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD_DIR = ROOT / "build"
NATIVE_DIR = ROOT / "device" / "native"
DEVICE_APP_DIR = ROOT / "device" / "app"
MODELS_DIR = ROOT / "models"
TOOLS_DIR = ROOT / "tools"
