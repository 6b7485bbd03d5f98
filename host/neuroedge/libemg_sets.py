"""Importers for two public LibEMG gesture datasets, from their plain-text layouts, into Recordings.

Both are armband recordings with one text file per (repetition, gesture); there is no header and
no timestamp column, just comma-separated integers, one row per sample (LF or CRLF line ends).
Each participant's block or day becomes one Recording: the files concatenated in (repetition,
class) order, label per sample = the file's class, repetition per sample = the file's repetition.
Class and repetition come from the file names. Class indices are kept as the files number them;
the rest class is named "rest" (the runtime and replay find the rest class by that name).
File boundaries are discontinuities: a training window should stay inside a run of constant
(label, repetition).

- 3DC (`LibEMG/3DCDataset`, Cote-Allard et al., IEEE TNSRE 2019): 3DC armband, 10 channels,
  1000 Hz, 22 participants. ``Participant<N>/{train,test}/EMG/3dc_EMG_gesture_<rep>_<class>.txt``,
  10 columns, about 5 s each; 4 repetitions of 11 gestures: 0 neutral (named "rest" here),
  1 radial deviation, 2 wrist flexion, 3 ulnar deviation, 4 wrist extension, 5 supination,
  6 pronation, 7 power grip, 8 open hand, 9 chuck grip, 10 pinch grip. Everything is kept.
  Recordings: subject "P<N>", session "train" / "test", files ``P<N>_<session>.npz``. The IMU
  folders beside ``EMG`` are not read.
- MyoDisCo (`LibEMG/MyoDisCo`, Campbell et al., J. Neural Eng. 2024): Myo armband, 8 channels,
  200 Hz, 14 subjects. ``S<n>/{day1,day2}/R_<rep>_C_<class>_EMG.csv``, 8 columns, about 2 s each;
  20 repetitions of 10 classes a day: 0 double_tap, 1 extension, 2 finger_gun, 3 flexion,
  4 hand_close, 5 hand_open, 6 point, 7 snap, 8 thumbs_up, 9 z_rest (named "rest" here). Each file
  is mostly rest around one gesture, so only its active part is kept, as the dataset's authors
  do (libemg's crop, so that figures compare with published ones): for a gesture, the mean
  absolute value of 20-sample windows every 10 samples, and the 100 samples (0.5 s) centred on
  the end of the loudest window (moved inwards at the file's ends); for rest, samples
  100-200. The class is taken from the file name: the ``metadata.json`` of some
  subjects is stale (it lists 11 classes), so it is not read. Recordings: subject "S<n>",
  session "day1" / "day2", files ``S<n>_<session>.npz``.

Scale: neither repository publishes the armband's ADC scale, so samples are stored as int16
counts with a nominal uv_per_count of 1.0 (not microvolts; amplitudes compare only within a
dataset). Myo samples are int8-range integers.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .errors import InputError
from .recording import Recording, RecordingError

NOMINAL_UV_PER_COUNT = 1.0
INT16 = np.iinfo(np.int16)


def crop_myodisco(emg: np.ndarray, label: int, path: Path) -> np.ndarray:
    """The active part of one MyoDisCo file (see the module docstring)."""
    if label == MYODISCO.rest:
        if len(emg) < 200:
            raise RecordingError(f"{path}: {len(emg)} samples; a rest file needs at least 200 "
                                 "(samples 100-200 are kept)")
        return emg[100:200]
    if len(emg) < 100:
        raise RecordingError(f"{path}: {len(emg)} samples; a gesture file needs at least 100 "
                             "(the 100 around its peak are kept)")
    # Integer sums, so equal windows tie exactly and the first one wins.
    total = np.concatenate([[0], np.cumsum(np.abs(emg.astype(np.int64)).sum(axis=1))])
    window = (total[20:] - total[:-20])[::10]       # window[i]: samples 10 i .. 10 i + 19
    centre = int(np.argmax(window)) * 10 + 20       # the end of the loudest window
    start = min(max(centre - 50, 0), len(emg) - 100)
    return emg[start:start + 100]


@dataclass(frozen=True)
class Layout:
    """Where one dataset keeps its files and what they hold."""

    title: str
    fs: float
    channels: int
    label_names: tuple
    subject_folder: str            # folder name pattern with one integer group
    subject_id: str                # "P{}" -> Recording.subject
    sessions: tuple                # session name -> folder below the subject folder
    session_folder: str            # "{}/EMG": where a session's files are
    file_glob: str
    file_name: re.Pattern          # groups rep, label
    file_form: str                 # for messages
    crop: Callable | None = None   # (emg, label, path) -> the part kept

    @property
    def rest(self) -> int:
        return self.label_names.index("rest")


THREE_DC = Layout(
    title="3DC", fs=1000.0, channels=10,
    label_names=("rest", "radial_deviation", "wrist_flexion", "ulnar_deviation", "wrist_extension",
                 "supination", "pronation", "power_grip", "open_hand", "chuck_grip", "pinch_grip"),
    subject_folder=r"Participant(\d+)", subject_id="P{}", sessions=("train", "test"), session_folder="{}/EMG",
    file_glob="3dc_EMG_gesture_*.txt", file_name=re.compile(r"3dc_EMG_gesture_([^_]*)_([^_]*)\.txt"),
    file_form="3dc_EMG_gesture_<rep>_<class>.txt")

MYODISCO = Layout(
    title="MyoDisCo", fs=200.0, channels=8,
    label_names=("double_tap", "extension", "finger_gun", "flexion", "hand_close", "hand_open", "point",
                 "snap", "thumbs_up", "rest"),
    subject_folder=r"S(\d+)", subject_id="S{}", sessions=("day1", "day2"), session_folder="{}",
    file_glob="R_*_C_*_EMG.csv", file_name=re.compile(r"R_([^_]*)_C_([^_]*)_EMG\.csv"),
    file_form="R_<rep>_C_<class>_EMG.csv", crop=crop_myodisco)

DATASETS = {"3dc": THREE_DC, "myodisco": MYODISCO}


def subject_numbers(text: str) -> tuple:
    """'1-5', '1,3' or '1-3,7' -> sorted distinct subject numbers (ValueError names the problem)."""
    numbers = set()
    for item in text.split(","):
        match = re.fullmatch(r"\s*([0-9]+)\s*(?:-\s*([0-9]+)\s*)?", item)
        if not match:
            raise InputError(f"{text!r} is not a subject selection (e.g. 1-5 or 1,3)")
        first, last = int(match.group(1)), int(match.group(2) or match.group(1))
        if first > last:
            raise InputError(f"{text!r}: the range {first}-{last} is empty")
        numbers.update(range(first, last + 1))
    return tuple(sorted(numbers))


def read_integers(path: Path, columns: int) -> np.ndarray:
    """A headerless text file of comma-separated integers, `columns` per row, as int16
    (samples, columns); a RecordingError names the file, and the line where it can."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)  # numpy warns (instead of failing) on a file without rows
            table = np.loadtxt(path, delimiter=",", dtype=np.int64, ndmin=2, comments=None)
    except UserWarning:
        raise RecordingError(f"{path}: empty file (no samples)") from None
    except ValueError as exc:
        raise RecordingError(f"{path}: {_first_bad_line(path, columns) or exc}") from None
    except OSError as exc:
        raise RecordingError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if table.shape[1] != columns:
        raise RecordingError(f"{path}: {table.shape[1]} columns, expected {columns}")
    if table.size and (table.min() < INT16.min or table.max() > INT16.max):
        row = int(np.flatnonzero((table < INT16.min).any(axis=1) | (table > INT16.max).any(axis=1))[0])
        raise RecordingError(f"{path}: a value on row {row + 1} does not fit int16 counts")
    return table.astype(np.int16)


def _first_bad_line(path: Path, columns: int) -> str | None:
    """What is wrong where, once numpy has refused the file (its messages count rows two ways)."""
    with open(path, "rb") as f:
        text = f.read().decode("utf-8", errors="replace")
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        values = line.split(",")
        if len(values) != columns:
            return f"line {number} has {len(values)} values, expected {columns}"
        for value in values:
            if not re.fullmatch(r"\s*[-+]?[0-9]+\s*", value):
                return f"line {number}: {value.strip()[:40]!r} is not an integer"
    return None


def _file_numbers(layout: Layout, path: Path) -> tuple:
    """(repetition, class) from a file name."""
    match = layout.file_name.fullmatch(path.name)
    if not match:
        raise RecordingError(f"{path}: file name is not {layout.file_form}")
    numbers = []
    for what, text in zip(("repetition", "class"), match.groups()):
        if not re.fullmatch(r"[0-9]+", text):
            raise RecordingError(f"{path}: {what} {text!r} in the file name is not a whole number")
        numbers.append(int(text))
    rep, label = numbers
    if label >= len(layout.label_names):
        raise RecordingError(f"{path}: class {label} is not one of the {layout.title} classes "
                             f"0..{len(layout.label_names) - 1}")
    if rep > INT16.max:
        raise RecordingError(f"{path}: repetition {rep} is too large")
    return rep, label


def read_session(layout: Layout, folder: Path, session: str, subject: str) -> Recording:
    """One block or day of one participant: every data file in `folder`, in (rep, class) order."""
    if not folder.is_dir():
        raise RecordingError(f"{folder}: no such folder")
    files = {}
    for path in folder.glob(layout.file_glob):
        key = _file_numbers(layout, path)
        if key in files:
            raise RecordingError(f"{path}: repetition {key[0]} class {key[1]} again (also {files[key].name})")
        files[key] = path
    if not files:
        raise RecordingError(f"{folder}: no {layout.file_form} files")
    emg, labels, reps = [], [], []
    for (rep, label), path in sorted(files.items()):
        part = read_integers(path, layout.channels)
        if layout.crop is not None:
            part = layout.crop(part, label, path)
        emg.append(part)
        labels.append(np.full(len(part), label, np.int16))
        reps.append(np.full(len(part), rep, np.int16))
    return Recording(emg=np.concatenate(emg), fs=layout.fs, uv_per_count=NOMINAL_UV_PER_COUNT,
                     labels=np.concatenate(labels), label_names=layout.label_names,
                     repetition=np.concatenate(reps), session=session, subject=subject, source=str(folder),
                     extra={"files": len(files)})


def subjects_in(layout: Layout, src: Path) -> tuple:
    """The subject numbers that have a folder in `src`."""
    if not src.is_dir():
        raise RecordingError(f"{src}: {'not a folder' if src.exists() else 'no such folder'}")
    found = [re.fullmatch(layout.subject_folder, p.name) for p in src.iterdir() if p.is_dir()]
    return tuple(sorted(int(m.group(1)) for m in found if m))


def read(dataset: str, src: Path, subjects: tuple | None = None) -> Iterator[Recording]:
    """Recordings of `dataset` ("3dc" or "myodisco") from its folder `src`, per subject and
    session; all subjects found when `subjects` is None. Every folder is checked before the
    first file is read."""
    layout = DATASETS[dataset]
    src = Path(src)
    present = subjects_in(layout, src)
    example = layout.subject_folder.replace(r"(\d+)", "<N>")
    if subjects is None:
        if not present:
            raise RecordingError(f"{src}: no {example} folders (is this the {layout.title} dataset?)")
        subjects = present
    folders = []
    for n in subjects:
        subject_dir = src / layout.subject_folder.replace(r"(\d+)", str(n))
        if n not in present:
            found = f"found: {', '.join(map(str, present))}" if present else f"no {example} folders there"
            raise RecordingError(f"{subject_dir}: no such folder ({found})")
        for session in layout.sessions:
            folder = subject_dir / layout.session_folder.format(session)
            if not folder.is_dir():
                raise RecordingError(f"{folder}: no such folder")
            folders.append((folder, session, layout.subject_id.format(n)))
    for folder, session, subject in folders:
        yield read_session(layout, folder, session, subject)


def write(dataset: str, src: Path, out: Path, subjects: tuple | None = None) -> Iterator[tuple]:
    """Imports into `out` as <subject>_<session>.npz; yields (path, recording) as each is written."""
    out = Path(out)
    for rec in read(dataset, src, subjects):
        out.mkdir(parents=True, exist_ok=True)
        yield rec.save(out / f"{rec.subject}_{rec.session}.npz"), rec
