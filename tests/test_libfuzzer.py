"""Coverage-guided fuzzing (libFuzzer, AddressSanitizer + UndefinedBehaviorSanitizer) of the
C core: the .tflite loader and interpreter, seeded with the zoo's models, and the framed link
decoder feeding a Stream, seeded with valid link sessions. A short run of each must find no
sanitizer report or broken bookkeeping and must reach code the seeds did not."""

from __future__ import annotations

import importlib.util
import os
import sys

import pytest
from helpers import require_tool

from neuroedge import native

# target: (seconds, least runs). Unloaded, the model target runs ~13,000 inputs a second, the link
# target more: the minimums leave a wide margin for a busy machine.
RUNS = {"model": (25, 20_000), "link": (15, 20_000)}


def load_runner():
    path = native.TOOLS_DIR / "fuzz" / "run_libfuzzer.py"
    spec = importlib.util.spec_from_file_location("run_libfuzzer", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def runner():
    require_tool("clang-19")
    module = load_runner()
    problem = module.toolchain_problem()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"{problem}, but CI must run this test (.ci/run installs clang-19 and libclang-rt-19-dev)")
        pytest.skip(problem)
    return module


@pytest.mark.slow
@pytest.mark.parametrize("target", sorted(RUNS))
def test_short_libfuzzer_run_finds_nothing_and_grows_coverage(runner, target, tmp_path):
    seconds, least_runs = RUNS[target]
    result = runner.run(target, seconds=seconds, corpus=tmp_path / "corpus", seed=1)
    log = result.log.read_text(errors="replace")
    assert result.reports == [], result.summary() + "\n" + log[-6000:]
    assert result.returncode == 0, log[-4000:]
    assert result.runs >= least_runs, result.summary()
    # INITED: the seeds alone; the end must cover edges they did not.
    assert result.cov_start > 0, log[-2000:]
    assert result.cov_end > result.cov_start, result.summary()
    assert result.corpus_end > 0


def test_summary_line_parsing():
    """The summary reads libFuzzer's status lines, final stats and any sanitizer report."""
    runner = load_runner()
    output = "\n".join([
        "INFO: Seed: 1",
        "#6\tINITED cov: 621 ft: 940 corp: 6/28Kb exec/s: 0 rss: 40Mb",
        "#9\tNEW    cov: 640 ft: 951 corp: 7/29Kb lim: 6248 exec/s: 0 rss: 41Mb L: 10/10 MS: 1 ChangeBit-",
        "==1==ERROR: AddressSanitizer: heap-buffer-overflow on address 0x6020 at pc 0x55",
        "artifact_prefix='x/'; Test unit written to x/crash-abc",
        "stat::number_of_executed_units: 12",
    ])
    r = runner.parse_output("model", 1, output)
    assert (r.runs, r.cov_start, r.cov_end, r.ft_start, r.ft_end, r.corpus_end) == (12, 621, 640, 940, 951, 7)
    assert r.reports == ["ERROR: AddressSanitizer: heap-buffer-overflow on address 0x6020 at pc 0x55"]
    assert r.artifacts == ["x/crash-abc"]
    assert "1 sanitizer report(s)" in r.summary() and "x/crash-abc" in r.summary()
    clean = runner.parse_output("link", 0, "#5\tINITED cov: 10 ft: 20 corp: 5/1Kb\n"
                                "#900\tDONE cov: 12 ft: 30 corp: 9/2Kb\n"
                                "Done 900 runs in 2 second(s)\nstat::number_of_executed_units: 900\n")
    assert clean.reports == [] and clean.runs == 900 and clean.cov_end == 12
    assert clean.summary().endswith("0 sanitizer reports")
