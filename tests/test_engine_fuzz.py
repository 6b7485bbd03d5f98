"""The loader under AddressSanitizer + UndefinedBehaviorSanitizer: mutated and
truncated real models must be refused cleanly or run, never read out of bounds."""

from __future__ import annotations

import importlib.util
import re

import pytest

from neuroedge import native
from neuroedge.bench import zoo

FUZZ_ITERATIONS = 20_000


def load_runner():
    path = native.TOOLS_DIR / "fuzz" / "run_fuzz.py"
    spec = importlib.util.spec_from_file_location("run_fuzz", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_20000_mutated_models_without_sanitizer_reports():
    seeds = zoo.build_zoo(native.BUILD_DIR / "zoo", zoo.FUZZ_SEED_MODELS)
    returncode, output = load_runner().run_fuzz(list(seeds.values()), FUZZ_ITERATIONS, seed=1)
    assert returncode == 0, output[-4000:]
    assert "ERROR: AddressSanitizer" not in output and "runtime error" not in output
    summary = re.search(r"fuzz: (\d+) iterations, (\d+) loaded and invoked, (\d+) rejected", output)
    assert summary, output[-2000:]
    iterations, loaded, rejected = map(int, summary.groups())
    assert iterations == FUZZ_ITERATIONS
    # Both paths are exercised: many mutants are refused, some still load and run.
    assert loaded > 0 and rejected > FUZZ_ITERATIONS // 2
