"""Coverage-guided fuzzing of the EdgeDL C core with libFuzzer (clang-19, ASan + UBSan).

    python tools/fuzz/run_libfuzzer.py model --seconds 3600   # the .tflite loader and interpreter
    python tools/fuzz/run_libfuzzer.py link --seconds 3600    # link decoder -> Stream, raw frames
    python tools/fuzz/run_libfuzzer.py all --runs 200000      # both, one after the other

Targets: tools/fuzz/libfuzz_model.c (seeded with the zoo's fuzz seed models, needs the
.venv) and tools/fuzz/libfuzz_link.c (seeded with a few valid link sessions encoded like
host/neuroedge/link.py). Each is compiled with the same C core as the native module
(device/native/edgedl_*.c, without the MicroPython binding) into build/libfuzzer/<target>/.
The corpus that libFuzzer grows is kept in build/libfuzzer/<target>/corpus and reused by
the next run (--fresh starts again from the seeds); libFuzzer's output goes to corpus.log
beside it. Inputs that crash are written to build/libfuzzer/<target>/artifacts/; rerun one
with `build/libfuzzer/model/libfuzz_model FILE` (for the link target, LIBFUZZ_VERBOSE=1 also
prints the decoder's and the Stream's counters).

Each run ends with a summary line: runs, coverage (libFuzzer's cov: edges) when the seeds
were loaded and at the end, and the sanitizer reports (any report stops the run).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NATIVE = ROOT / "device" / "native"
FUZZ_DIR = Path(__file__).resolve().parent
WORK = ROOT / "build" / "libfuzzer"
CLANG = "clang-19"
CFLAGS = ["-std=c11", "-g", "-O1", "-fsanitize=fuzzer,address,undefined", "-fno-sanitize-recover=all",
          "-fno-omit-frame-pointer", "-Wall", "-Werror"]
TARGETS = {"model": "libfuzz_model.c", "link": "libfuzz_link.c"}
# Longest input libFuzzer makes: the seeds' size plus room to grow (model), a long session (link).
EXTRA_MODEL_LEN = 4096
LINK_MAX_LEN = 16384
TIMEOUT_S = 30  # one input running longer is reported as a timeout

REPORT_PATTERNS = (
    re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer)[^\n]*"),
    re.compile(r"[^\n]*: runtime error: [^\n]*"),
    re.compile(r"ERROR: libFuzzer: [^\n]*"),
    re.compile(r"libfuzz_(model|link): [^\n]*"),  # a harness check that failed
)


def core_sources() -> list[Path]:
    """The C core as run_fuzz.py compiles it: every edgedl_*.c that needs no MicroPython header."""
    return [p for p in sorted(NATIVE.glob("edgedl_*.c")) if '#include "py/' not in p.read_text()]


def toolchain_problem() -> str | None:
    """Why libFuzzer targets cannot be built here (None if they can): clang-19 and its runtimes
    (Debian's clang-19 and libclang-rt-19-dev)."""
    if shutil.which(CLANG) is None:
        return f"{CLANG} not installed"
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "probe.c"
        src.write_text("#include <stddef.h>\n#include <stdint.h>\n"
                       "int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n")
        proc = subprocess.run([CLANG, *CFLAGS, str(src), "-o", str(Path(tmp) / "probe")],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            return f"{CLANG} cannot link a libFuzzer target (libclang-rt-19-dev missing?): {proc.stderr.strip()[-300:]}"
    return None


def binary_path(target: str) -> Path:
    return WORK / target / f"libfuzz_{target}"


def build(target: str) -> Path:
    """Compiles the target (only when a source or header changed); its path."""
    harness = FUZZ_DIR / TARGETS[target]
    sources = [harness, *core_sources()]
    binary = binary_path(target)
    inputs = sources + sorted(NATIVE.glob("*.h")) + [Path(__file__)]
    if binary.exists() and binary.stat().st_mtime >= max(p.stat().st_mtime for p in inputs):
        return binary
    binary.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([CLANG, *CFLAGS, "-I", str(NATIVE), *map(str, sources), "-o", str(binary)], check=True)
    return binary


# ---------------------------------------------------------------------------
# Seeds


def seed_models(all_models: bool = False) -> list[Path]:
    """The zoo's fuzz seed models (every zoo model with all_models), converted once into build/zoo."""
    sys.path.insert(0, str(ROOT / "host"))
    from neuroedge.bench import zoo

    names = None if all_models else zoo.FUZZ_SEED_MODELS
    return list(zoo.build_zoo(ROOT / "build" / "zoo", names).values())


def _link_header(channels: int, keep: int, window: int, hop: int, capacity: int, counter: int,
                 max_payload: int, first: int = 0, index_list: bool = False, stride: int = 1,
                 tight: int = 0) -> bytes:
    """libfuzz_link.c's 10-byte header for this configuration (channels <= 32 or >= 393); tight:
    a decoder buffer of max_payload + 8 + tight - 1 bytes instead of mod_edgedl.c's."""
    h0, h1 = (channels - 1, keep - 1) if channels <= 32 else (0xF0 | (408 - channels), channels - keep)
    h7 = 0 if counter < 0 else channels - counter
    return bytes([h0, h1, first << 1 | int(index_list), stride, window - 1, hop - 1, capacity - window,
                  h7, (max_payload - 1) & 0xFF, (max_payload - 1) >> 8 | tight << 4])


def _ops(kind_short: int, kind_long: int, data: bytes, chunk: int) -> bytes:
    """Operations handing `data` over in pieces of `chunk` bytes (feed: 0/2, raw push: 4/5)."""
    out = bytearray()
    for at in range(0, len(data), chunk):
        piece = data[at:at + chunk]
        while piece:
            if len(piece) <= 31:
                out += bytes([len(piece) << 3 | kind_short]) + piece
                piece = b""
            else:
                n = min(len(piece) // 64, 31)
                p = min(len(piece) - 64 * n, 255)
                out += bytes([n << 3 | kind_long, p]) + piece[:64 * n + p]
                piece = piece[64 * n + p:]
    return bytes(out)


def _feed(data: bytes, chunk: int) -> bytes:
    return _ops(0, 2, data, chunk)


def _push(data: bytes, chunk: int) -> bytes:
    return _ops(4, 5, data, chunk)


READ, RESYNC, STREAM_RESET, LINK_RESET = bytes([6]), bytes([7]), bytes([1 << 3 | 7]), bytes([2 << 3 | 7])


def _frames(channels: int, count: int, start: int = 0, counter: int | None = None) -> bytes:
    """`count` frames of int16 samples; channel `counter` holds a uint16 sample counter."""
    out = bytearray()
    for t in range(start, start + count):
        row = [((t * 37 + c * 1009) % 65536) - 32768 for c in range(channels)]
        if counter is not None:
            row[counter] = (t & 0xFFFF) - 65536 if t & 0x8000 else t & 0xFFFF
        out += struct.pack(f"<{channels}h", *row)
    return bytes(out)


def link_seeds() -> dict[str, bytes]:
    """A few sessions a board could receive: valid packets in several cuttings, a bad CRC, a lost
    packet, junk between packets, channel selections, raw frames and resyncs."""
    sys.path.insert(0, str(ROOT / "host"))
    from neuroedge import link

    seeds = {}
    # 8 channels, all kept, counter in the last; packets of 4 frames cut at 5, 13, 64 and 100 bytes.
    stream = b"".join(link.encode(seq, _frames(8, 4, 4 * seq, counter=7)) for seq in range(6))
    seeds["contiguous"] = (_link_header(8, 8, 4, 2, 16, 7, 64) + _feed(stream[:40], 5) + READ
                           + _feed(stream[40:200], 13) + READ + _feed(stream[200:], 64) + READ)
    # 16 channels, 6 kept by index list (3, 8, 13, 2, 7, 12), a bad CRC, a gap and junk.
    packets = [link.encode(seq, _frames(16, 2, 2 * seq, counter=15)) for seq in (0, 1, 2, 4, 5)]
    bad = bytearray(packets[2])
    bad[10] ^= 0x40
    junk = b"\x00\xa5\x11\xa5\x5a\xff\xff"
    session = packets[0] + junk + packets[1] + bytes(bad) + packets[3] + junk[:3] + packets[4]
    seeds["selection"] = (_link_header(16, 6, 8, 8, 24, 15, 64, first=3, index_list=True, stride=5)
                          + _feed(session, 7) + READ + RESYNC + _feed(session, 31) + READ)
    # Raw frames straight into a Stream: 4 channels, keep 1..2, hop beyond the window, a torn frame.
    raw = _frames(4, 40)
    seeds["raw"] = (_link_header(4, 2, 5, 7, 10, 3, 32, first=1) + _push(raw[:101], 9) + RESYNC
                    + _push(raw[101:], 200) + READ + STREAM_RESET + _push(raw, 64) + READ)
    # Packets made by the harness itself (op 3), one with a skipped sequence number; the decoder's
    # buffer holds just one largest packet.
    seeds["encode"] = (_link_header(2, 2, 3, 1, 6, -1, 64, tight=1) + bytes([2 << 3 | 3, 5]) + bytes(range(16))
                       + bytes([4 << 3 | 3, 0xFF]) + _frames(2, 8) + READ + LINK_RESET
                       + bytes([1 << 3 | 3, 3]) + _frames(2, 2) + READ)
    # A Quattrocento-sized frame: 408 channels, 384 kept, the counter in the last.
    big = b"".join(link.encode(seq, _frames(408, 2, 2 * seq, counter=407)) for seq in range(3))
    seeds["quattrocento"] = _link_header(408, 384, 2, 1, 4, 407, 1632) + _feed(big, 1000) + READ
    return seeds


def write_seeds(target: str, seed_dir: Path, all_models: bool = False) -> int:
    """Writes the target's seed inputs into seed_dir; their largest size."""
    seed_dir.mkdir(parents=True, exist_ok=True)
    if target == "model":
        for path in seed_models(all_models):
            shutil.copyfile(path, seed_dir / path.name)
    else:
        for name, data in link_seeds().items():
            (seed_dir / name).write_bytes(data)
    return max(p.stat().st_size for p in seed_dir.iterdir())


# ---------------------------------------------------------------------------
# Running


@dataclass
class FuzzResult:
    target: str
    returncode: int
    runs: int = 0
    cov_start: int = 0      # edges covered by the seed corpus (libFuzzer's INITED line)
    cov_end: int = 0        # at the end (DONE, or the last status line before a crash)
    ft_start: int = 0
    ft_end: int = 0
    corpus_end: int = 0
    seconds: int = 0
    reports: list[str] = field(default_factory=list)
    artifacts: list[str] = field(default_factory=list)
    log: Path | None = None

    def summary(self) -> str:
        reports = f"{len(self.reports)} sanitizer reports" if not self.reports else \
            f"{len(self.reports)} sanitizer report(s): {'; '.join(self.reports[:3])}"
        line = (f"libfuzzer {self.target}: {self.runs} runs in {self.seconds} s, cov {self.cov_start} -> "
                f"{self.cov_end} (ft {self.ft_start} -> {self.ft_end}), corpus {self.corpus_end} inputs, {reports}")
        if self.artifacts:
            line += f"; crash input: {', '.join(self.artifacts)}"
        return line


def parse_output(target: str, returncode: int, output: str) -> FuzzResult:
    r = FuzzResult(target, returncode)
    status = re.compile(r"^#(\d+)\s+(\w+)\s+cov: (\d+) ft: (\d+) corp: (\d+)", re.M)
    lines = status.findall(output)
    for _runs, kind, cov, ft, _corp in lines:
        if kind == "INITED":
            r.cov_start, r.ft_start = int(cov), int(ft)
    if lines:
        r.cov_end, r.ft_end, r.corpus_end = int(lines[-1][2]), int(lines[-1][3]), int(lines[-1][4])
        r.runs = int(lines[-1][0])
    m = re.search(r"stat::number_of_executed_units: (\d+)", output)
    if m:
        r.runs = int(m.group(1))
    m = re.search(r"Done (\d+) runs in (\d+) second", output)
    if m:
        r.runs, r.seconds = int(m.group(1)), int(m.group(2))
    for pattern in REPORT_PATTERNS:
        r.reports += [m.group(0).strip() for m in pattern.finditer(output)]
    r.artifacts = re.findall(r"Test unit written to (\S+)", output)
    if returncode != 0 and not r.reports:
        r.reports.append(f"libFuzzer exited with {returncode}")
    return r


def run(target: str, *, seconds: int | None = None, runs: int | None = None, corpus: Path | None = None,
        fresh: bool = False, seed: int = 1, all_models: bool = False, extra: tuple = ()) -> FuzzResult:
    """Builds the target, writes its seeds and runs libFuzzer until `runs` inputs or `seconds`."""
    binary = build(target)
    home = WORK / target
    corpus = Path(corpus) if corpus else home / "corpus"
    if fresh and corpus.exists():
        shutil.rmtree(corpus)
    corpus.mkdir(parents=True, exist_ok=True)
    artifacts = home / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    log = corpus.with_name(corpus.name + ".log")  # beside the corpus: runs on other corpora do not mix
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:symbolize=1",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    with tempfile.TemporaryDirectory(prefix=f"libfuzz-{target}-seeds-") as seed_dir:
        largest = write_seeds(target, Path(seed_dir), all_models)
        max_len = largest + EXTRA_MODEL_LEN if target == "model" else max(largest, LINK_MAX_LEN)
        cmd = [str(binary), f"-seed={seed}", f"-max_len={max_len}", f"-timeout={TIMEOUT_S}", "-rss_limit_mb=4096",
               "-print_final_stats=1", f"-artifact_prefix={artifacts}/", *extra]
        if seconds is not None:
            cmd.append(f"-max_total_time={seconds}")
        cmd.append(f"-runs={runs if runs is not None else -1}")
        cmd += [str(corpus), seed_dir]
        with open(log, "w") as f:
            proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
    result = parse_output(target, proc.returncode, log.read_text(errors="replace"))
    result.log = log
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", choices=[*TARGETS, "all"])
    parser.add_argument("--seconds", type=int, help="stop after this long (default 60 when --runs is not given)")
    parser.add_argument("--runs", type=int, help="stop after this many inputs")
    parser.add_argument("--seed", type=int, default=1, help="libFuzzer's random seed")
    parser.add_argument("--corpus", type=Path, help="corpus directory (default build/libfuzzer/<target>/corpus)")
    parser.add_argument("--fresh", action="store_true", help="empty the corpus first: start from the seeds")
    parser.add_argument("--all-models", action="store_true", help="seed the model target with every zoo model")
    args, extra = parser.parse_known_args()
    if args.seconds is None and args.runs is None:
        args.seconds = 60
    problem = toolchain_problem()
    if problem:
        print(f"run_libfuzzer: {problem}", file=sys.stderr)
        return 2
    failed = 0
    for target in TARGETS if args.target == "all" else [args.target]:
        corpus = args.corpus / target if args.corpus and args.target == "all" else args.corpus
        result = run(target, seconds=args.seconds, runs=args.runs, corpus=corpus, fresh=args.fresh,
                     seed=args.seed, all_models=args.all_models, extra=tuple(extra))
        if result.reports:
            print(result.log.read_text(errors="replace")[-6000:], file=sys.stderr)
        print(result.summary())
        print(f"  log: {result.log}")
        failed |= bool(result.reports)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
