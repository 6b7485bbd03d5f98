"""`neuroedge import`: the LibEMG 3DC and MyoDisCo text layouts, on tiny fake copies built here."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from helpers import run_neuroedge
from neuroedge import libemg_sets, recording
from neuroedge.recording import RecordingError

REPS = (0, 1)
CLASSES_3DC = (0, 1, 2)      # 0 = neutral, imported as "rest"
CLASSES_MYO = (0, 3, 9)      # 9 = z_rest, imported as "rest"
MYO_SAMPLES = 400            # about 2 s at 200 Hz, like the real files


def rows_3dc(rep: int, cls: int) -> int:
    return 50 + 10 * rep + cls  # distinct lengths show the concatenation order


def burst_start(rep: int, cls: int) -> int:
    """Where the 20-sample burst of a MyoDisCo gesture file begins (the first one near the file's end)."""
    return {(0, 0): 100, (0, 3): 250, (1, 0): 370, (1, 3): 180}[rep, cls]


def write_table(path: Path, table: np.ndarray, newline: str = "\n", final_newline: bool = True) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = newline.join(",".join(map(str, row)) for row in table)
    path.write_text(text + (newline if final_newline else ""), newline="")


def fake_3dc(root: Path, participants=(1, 2)) -> dict:
    """Participant<N>/{train,test}/EMG/3dc_EMG_gesture_<rep>_<class>.txt; returns the tables written."""
    rng = np.random.default_rng(3)
    tables = {}
    for p in participants:
        for block in ("train", "test"):
            (root / f"Participant{p}" / block / "IMU").mkdir(parents=True)  # beside EMG, not read
            for rep in REPS:
                for cls in CLASSES_3DC:
                    table = rng.integers(-2000, 2000, (rows_3dc(rep, cls), 10))
                    # like the real files: LF, no newline after the last row
                    write_table(root / f"Participant{p}/{block}/EMG/3dc_EMG_gesture_{rep}_{cls}.txt", table,
                                final_newline=False)
                    tables[p, block, rep, cls] = table
    return tables


def fake_myo(root: Path, subjects=(1,)) -> dict:
    """S<n>/{day1,day2}/R_<rep>_C_<class>_EMG.csv: quiet noise, and a loud 20-sample burst in gesture files."""
    rng = np.random.default_rng(9)
    tables = {}
    for s in subjects:
        for day in ("day1", "day2"):
            folder = root / f"S{s}" / day
            for rep in REPS:
                for cls in CLASSES_MYO:
                    table = rng.integers(-3, 4, (MYO_SAMPLES, 8))
                    if cls != 9:
                        start = burst_start(rep, cls)
                        table[start:start + 20] = rng.choice([-100, 100], (20, 8))
                    write_table(folder / f"R_{rep}_C_{cls}_EMG.csv", table, newline="\r\n")  # CRLF, as real
                    tables[s, day, rep, cls] = table
            # stale metadata (as some real subjects have): must not be trusted
            (folder / "metadata.json").write_text(json.dumps({"x": {"class_idx": 10, "class_name": "z_rest"}}))
    return tables


def test_3dc_recordings_hold_every_file_in_rep_class_order(tmp_path):
    tables = fake_3dc(tmp_path)
    recs = list(libemg_sets.read("3dc", tmp_path))
    assert [(r.subject, r.session) for r in recs] == [("P1", "train"), ("P1", "test"), ("P2", "train"),
                                                      ("P2", "test")]
    for rec in recs:
        assert rec.fs == 1000.0 and rec.uv_per_count == 1.0 and rec.emg.dtype == np.int16
        assert rec.label_names == ("rest", "radial_deviation", "wrist_flexion", "ulnar_deviation",
                                   "wrist_extension", "supination", "pronation", "power_grip", "open_hand",
                                   "chuck_grip", "pinch_grip")
        order = [(rep, cls) for rep in REPS for cls in CLASSES_3DC]
        assert rec.emg.shape == (sum(rows_3dc(*k) for k in order), 10)
        expected = np.concatenate([tables[int(rec.subject[1:]), rec.session, rep, cls] for rep, cls in order])
        assert np.array_equal(rec.emg, expected)
        assert np.array_equal(rec.labels, np.concatenate([np.full(rows_3dc(r, c), c) for r, c in order]))
        assert np.array_equal(rec.repetition, np.concatenate([np.full(rows_3dc(r, c), r) for r, c in order]))


def test_myodisco_keeps_the_100_samples_around_each_burst_and_samples_100_200_of_rest(tmp_path):
    tables = fake_myo(tmp_path)
    day1, day2 = libemg_sets.read("myodisco", tmp_path)
    assert (day1.subject, day1.session, day2.session) == ("S1", "day1", "day2")
    assert day1.fs == 200.0 and day1.uv_per_count == 1.0 and day1.emg.dtype == np.int16
    assert day1.label_names == ("double_tap", "extension", "finger_gun", "flexion", "hand_close", "hand_open",
                                "point", "snap", "thumbs_up", "rest")
    order = [(rep, cls) for rep in REPS for cls in CLASSES_MYO]
    assert day1.emg.shape == (100 * len(order), 8)
    assert np.array_equal(day1.labels, np.repeat([c for _, c in order], 100))
    assert np.array_equal(day1.repetition, np.repeat([r for r, _ in order], 100))
    for i, (rep, cls) in enumerate(order):
        kept, table = day1.emg[100 * i:100 * (i + 1)], tables[1, "day1", rep, cls]
        if cls == 9:
            assert np.array_equal(kept, table[100:200])
            continue
        start = burst_start(rep, cls)
        # libemg's crop: 50 samples either side of the loudest window's end, unless the file ends first
        first = min(start - 30, MYO_SAMPLES - 100)
        assert np.array_equal(kept, table[first:first + 100]), (rep, cls)
        if start + 70 <= MYO_SAMPLES:
            assert np.all(np.abs(kept[30:50]) == 100)  # the burst, just before the middle of the part kept
            assert np.abs(kept[:30]).max() <= 3 and np.abs(kept[50:]).max() <= 3


def test_cli_writes_loadable_recordings_for_the_chosen_subjects(tmp_path):
    fake_3dc(tmp_path / "3dc", participants=(1, 2, 3))
    fake_myo(tmp_path / "myo", subjects=(1, 2))
    result = run_neuroedge("import", "3dc", str(tmp_path / "3dc"), "--out", str(tmp_path / "out3"),
                           "--subjects", "1,3", timeout=60)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "out3").iterdir()) == ["P1_test.npz", "P1_train.npz",
                                                                      "P3_test.npz", "P3_train.npz"]
    rec = recording.load(tmp_path / "out3" / "P3_test.npz")
    assert (rec.subject, rec.session, rec.channels, rec.fs, rec.label_names[0]) == ("P3", "test", 10, 1000.0,
                                                                                      "rest")
    assert rec.labels is not None and rec.repetition is not None and rec.uv_per_count == 1.0
    result = run_neuroedge("import", "myodisco", str(tmp_path / "myo"), "--out", str(tmp_path / "outm"),
                           "--subjects", "1-2", timeout=60)
    assert result.returncode == 0, result.stderr
    assert len(list((tmp_path / "outm").glob("S*_day*.npz"))) == 4
    rec = recording.load(tmp_path / "outm" / "S2_day2.npz")
    assert (rec.subject, rec.session, rec.samples, rec.channels, rec.label_names[9]) == ("S2", "day2", 600, 8,
                                                                                          "rest")


def test_subject_selections():
    assert libemg_sets.subject_numbers("1-5") == (1, 2, 3, 4, 5)
    assert libemg_sets.subject_numbers("3,1") == (1, 3)
    assert libemg_sets.subject_numbers("1-2,7") == (1, 2, 7)
    for bad in ("", "1-", "a", "5-1", "1;2"):
        with pytest.raises(ValueError):
            libemg_sets.subject_numbers(bad)


def replace_file(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def rename(path: Path, name: str) -> Path:
    return path.rename(path.with_name(name))


def remove_all(folder: Path, pattern: str) -> Path:
    for f in folder.glob(pattern):
        f.unlink()
    return folder


def remove_folder(folder: Path) -> Path:
    remove_all(folder, "*").rmdir()
    return folder


TEN = ",".join(["1"] * 10)
EMG = "Participant1/train/EMG"
# case: (dataset, how to spoil the fake copy (returns what the message must name), expected message)
MALFORMED = {
    "3dc-no-block": ("3dc", lambda r: remove_folder(r / "Participant1/test/EMG"), "no such folder"),
    "3dc-no-files": ("3dc", lambda r: remove_all(r / EMG, "*.txt"), "no 3dc_EMG_gesture_<rep>_<class>.txt files"),
    "3dc-short-row": ("3dc", lambda r: replace_file(r / EMG / "3dc_EMG_gesture_1_2.txt", f"{TEN}\n{TEN}\n1,2,3\n"),
                      "line 3 has 3 values, expected 10"),
    "3dc-nine-columns": ("3dc", lambda r: replace_file(r / EMG / "3dc_EMG_gesture_0_1.txt", "1,2,3,4,5,6,7,8,9\n"),
                         "9 columns, expected 10"),
    "3dc-float": ("3dc", lambda r: replace_file(r / EMG / "3dc_EMG_gesture_0_0.txt", f"{TEN}\n1.5{TEN[1:]}\n"),
                  "line 2: '1.5' is not an integer"),
    "3dc-text": ("3dc", lambda r: replace_file(r / EMG / "3dc_EMG_gesture_0_0.txt", "ch0,ch1\n"),
                 "line 1 has 2 values, expected 10"),
    "3dc-too-big": ("3dc", lambda r: replace_file(r / EMG / "3dc_EMG_gesture_0_0.txt", f"{TEN}\n40000{TEN[1:]}\n"),
                    "a value on row 2 does not fit int16 counts"),
    "3dc-empty": ("3dc", lambda r: replace_file(r / EMG / "3dc_EMG_gesture_1_1.txt", ""), "empty file"),
    "3dc-rep-name": ("3dc", lambda r: rename(r / EMG / "3dc_EMG_gesture_1_1.txt", "3dc_EMG_gesture_x_1.txt"),
                     "repetition 'x' in the file name is not a whole number"),
    "3dc-class-11": ("3dc", lambda r: rename(r / EMG / "3dc_EMG_gesture_1_1.txt", "3dc_EMG_gesture_1_11.txt"),
                     "class 11 is not one of the 3DC classes 0..10"),
    "3dc-no-participant": ("3dc", lambda r: r / "Participant7", "no such folder (found: 1, 2)"),
    "3dc-not-the-dataset": ("3dc", lambda r: remove_all(r, "nothing") / "Participant1" / "train",
                            "no Participant<N> folders"),
    "myo-no-day": ("myodisco", lambda r: remove_folder(r / "S1/day2"), "no such folder"),
    "myo-no-files": ("myodisco", lambda r: remove_all(r / "S1/day1", "*.csv"), "no R_<rep>_C_<class>_EMG.csv files"),
    "myo-class-name": ("myodisco", lambda r: rename(r / "S1/day1/R_1_C_3_EMG.csv", "R_1_C_three_EMG.csv"),
                       "class 'three' in the file name is not a whole number"),
    "myo-class-10": ("myodisco", lambda r: rename(r / "S1/day1/R_1_C_3_EMG.csv", "R_1_C_10_EMG.csv"),
                     "class 10 is not one of the MyoDisCo classes 0..9"),
    "myo-semicolons": ("myodisco", lambda r: replace_file(r / "S1/day2/R_0_C_0_EMG.csv", "1;2;3;4;5;6;7;8\n" * 400),
                       "line 1 has 1 values, expected 8"),
    "myo-blank": ("myodisco", lambda r: replace_file(r / "S1/day2/R_0_C_9_EMG.csv", "\r\n\r\n"), "empty file"),
    "myo-short-rest": ("myodisco", lambda r: replace_file(r / "S1/day2/R_1_C_9_EMG.csv", "0,0,0,0,0,0,0,0\n" * 150),
                       "150 samples; a rest file needs at least 200"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_copies_name_the_file_and_the_problem(case, tmp_path):
    dataset, spoil, message = MALFORMED[case]
    root = tmp_path / "src"
    (fake_3dc if dataset == "3dc" else fake_myo)(root, (1, 2))
    named = spoil(root)
    args = ["import", dataset, str(root), "--out", str(tmp_path / "out")]
    if case == "3dc-no-participant":
        args += ["--subjects", "1,7"]
    if case == "3dc-not-the-dataset":
        args[2] = str(named)  # a folder inside the dataset, not its top
    result = run_neuroedge(*args, timeout=60)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert f"neuroedge import: {named}" in result.stderr and message in result.stderr, result.stderr


def test_malformed_subject_selection_is_refused_by_the_parser(tmp_path):
    result = run_neuroedge("import", "3dc", str(tmp_path), "--out", str(tmp_path / "o"), "--subjects", "1-x")
    assert result.returncode == 2 and "is not a subject selection" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_library_raises_recording_errors(tmp_path):
    fake_myo(tmp_path)
    rename(tmp_path / "S1/day1/R_0_C_0_EMG.csv", "R_00_C_0_EMG.csv")
    (tmp_path / "S1/day1/R_0_C_0_EMG.csv").write_text("0,0,0,0,0,0,0,0\n" * 400)
    with pytest.raises(RecordingError, match=r"repetition 0 class 0 again"):
        list(libemg_sets.read("myodisco", tmp_path))
