"""The README's real-recording table: `neuroedge train` per participant, int8 by edgedl.

    .venv/bin/python tools/real_emg_table.py myodisco data/myo --subjects 1-5 [-- --arch lda --no-drift]
    .venv/bin/python tools/real_emg_table.py 3dc data/3dc --subjects 1-5

DIR holds `neuroedge import` output (S<n>_day1/day2.npz for MyoDisCo, P<n>_train/test.npz for
3DC). Each participant trains on the first session and is tested on the second; the row
gives int8 (float) accuracy beside the time-domain features + LDA baseline on the same
windows. Arguments after `--` go to `neuroedge train`.
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

SESSIONS = {"myodisco": ("S", "day1", "day2"), "3dc": ("P", "train", "test")}


def subjects(text: str) -> list[int]:
    lo, _, hi = text.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def main() -> int:
    args, extra = sys.argv[1:], []
    if "--" in args:
        extra = args[args.index("--") + 1:]
        args = args[:args.index("--")]
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", choices=sorted(SESSIONS))
    p.add_argument("dir", type=Path)
    p.add_argument("--subjects", default="1-5")
    a = p.parse_args(args)
    prefix, first, second = SESSIONS[a.dataset]
    neuroedge = Path(sys.executable).parent / "neuroedge"
    rows = []
    for s in subjects(a.subjects):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "bundle"
            subprocess.run([str(neuroedge), "train", str(a.dir / f"{prefix}{s}_{first}.npz"),
                            str(a.dir / f"{prefix}{s}_{second}.npz"), "--split", "session", "--hold-out", second,
                            "--out", str(out), *extra], check=True, capture_output=True)
            m = json.loads((out / "model.json").read_text())["metrics"]
        rows.append((s, m["int8_accuracy"], m["float_accuracy"], m["td_lda_baseline_accuracy"]))
        print(f"{prefix}{s}: int8 {m['int8_accuracy']:.1%} (float {m['float_accuracy']:.1%}), "
              f"baseline {m['td_lda_baseline_accuracy']:.1%}", flush=True)
    mean = [sum(r[i] for r in rows) / len(rows) for i in (1, 2, 3)]
    print(f"mean: int8 {mean[0]:.1%} (float {mean[1]:.1%}), baseline {mean[2]:.1%}, "
          f"int8 - baseline {100 * (mean[0] - mean[2]):+.1f} points, worst participant "
          f"{100 * min(r[1] - r[3] for r in rows):+.1f}, largest int8 - float gap "
          f"{100 * max(abs(r[1] - r[2]) for r in rows):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
