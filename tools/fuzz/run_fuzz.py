"""Build and run the EdgeDL fuzz harness (AddressSanitizer + UBSan, host gcc).

    python tools/fuzz/run_fuzz.py --iterations 20000 --seed 1 MODEL.tflite...
    python tools/fuzz/run_fuzz.py --iterations 2000000 --zoo     # a long run over the zoo's seed models

The harness compiles the same C core as the native module (device/native/
edgedl_*.c, without the MicroPython binding).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NATIVE = ROOT / "device" / "native"
HARNESS_SOURCE = Path(__file__).with_name("fuzz_engine.c")
BINARY = ROOT / "build" / "fuzz" / "fuzz_engine"
CFLAGS = ["-std=c11", "-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
          "-fno-omit-frame-pointer", "-Wall", "-Werror"]


def build_harness() -> Path:
    sources = [HARNESS_SOURCE, *sorted(NATIVE.glob("edgedl_*.c"))]
    inputs = sources + sorted(NATIVE.glob("*.h"))
    if BINARY.exists() and BINARY.stat().st_mtime >= max(p.stat().st_mtime for p in inputs):
        return BINARY
    BINARY.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["gcc", *CFLAGS, "-I", str(NATIVE), *map(str, sources), "-o", str(BINARY)]
    subprocess.run(cmd, check=True)
    return BINARY


def run_fuzz(models, iterations: int, seed: int) -> tuple[int, str]:
    binary = build_harness()
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=1",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    proc = subprocess.run([str(binary), "--iterations", str(iterations), "--seed", str(seed), *map(str, models)],
                          capture_output=True, text=True, env=env)
    return proc.returncode, proc.stdout + proc.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", help="seed .tflite files")
    parser.add_argument("--zoo", action="store_true", help="use the zoo's fuzz seed models (needs the .venv)")
    parser.add_argument("--iterations", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    models = list(args.models)
    if args.zoo:
        sys.path.insert(0, str(ROOT / "host"))
        from neuroedge.bench import zoo

        models += [str(p) for p in zoo.build_zoo(ROOT / "build" / "zoo", zoo.FUZZ_SEED_MODELS).values()]
    if not models:
        parser.error("give seed models or --zoo")
    returncode, output = run_fuzz(models, args.iterations, args.seed)
    print(output, end="")
    return returncode


if __name__ == "__main__":
    sys.exit(main())
