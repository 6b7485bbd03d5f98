"""One in-memory HD-EMG recording type, and the generic file formats (.npz, .csv).

A Recording holds samples x channels, either raw int16 amplifier counts with
their microvolts per count, or float microvolts; the sampling rate; per-sample
gesture labels with their names; per-sample repetition (trial) ids; session and
subject ids; and the electrode grids where known (e.g. three 8x8 grids).

Generic formats (what `neuroedge synth` writes, readable by anyone):

- ``.npz`` (numpy): ``format`` = "neuroedge-recording-1", ``emg`` (samples, channels) int16 or
  float32, ``fs``, ``uv_per_count`` (0 for float microvolts), ``labels`` (samples,) int16
  (-1 = unlabelled), ``label_names`` (str array), ``repetition`` (samples,) int16 (-1 = none),
  ``session``, ``subject`` (str), ``grids`` (k, 3) int rows, cols, first channel.
- ``.csv``: ``#`` header lines ``format=neuroedge-recording-1``, ``fs=...``,
  ``uv_per_count=...``, ``label_names=rest|...``, ``session=...``, ``subject=...``,
  ``grids=8x8@0;8x8@64``; then a header row ``label,repetition,ch0,...`` and one row per sample.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .project import NATIVE_DIR

FORMAT = "neuroedge-recording-1"
QUATTROCENTO_UV_PER_COUNT = 5 / 2**16 / 150 * 1e6  # 0.50863 uV: 5 V span, 16 bits, gain 150


class RecordingError(ValueError):
    """A recording file or object that is malformed or inconsistent; names the file."""


@functools.cache
def max_channels() -> int:
    """The most channels a board takes in (a full Quattrocento frame), read from the C
    header that sets it, so host and board cannot disagree."""
    header = (NATIVE_DIR / "edgedl_stream.h").read_text()
    return int(re.search(r"#define NE_STREAM_MAX_CHANNELS (\d+)", header).group(1))


def number(source: str, name: str, value, cast=float):
    """One number from a file (a string, or a numpy scalar or 0-d array), or a RecordingError
    naming the file and the field."""
    try:
        found = np.asarray(value)
        if found.size != 1:
            raise ValueError
        return cast(found.item())
    except (TypeError, ValueError):
        raise RecordingError(f"{source}: {name} must be one number, got {value!r}") from None


@dataclass(frozen=True)
class Grid:
    """An electrode grid: rows x cols electrodes stored from channel `first` on, row-major."""

    rows: int
    cols: int
    first: int

    @property
    def channels(self) -> range:
        return range(self.first, self.first + self.rows * self.cols)


@dataclass
class Recording:
    emg: np.ndarray
    fs: float
    uv_per_count: float = 0.0          # > 0: emg holds int16 counts; 0: emg holds float microvolts
    labels: np.ndarray | None = None   # (samples,) index into label_names, -1 = unlabelled
    label_names: tuple = ()
    repetition: np.ndarray | None = None
    session: str = "0"
    subject: str = "0"
    grids: tuple = ()
    source: str = "<memory>"
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        self.validate()

    @property
    def samples(self) -> int:
        return self.emg.shape[0]

    @property
    def channels(self) -> int:
        return self.emg.shape[1]

    def fail(self, problem: str) -> RecordingError:
        return RecordingError(f"{self.source}: {problem}")

    def validate(self) -> None:
        emg = self.emg
        if not isinstance(emg, np.ndarray) or emg.ndim != 2 or emg.shape[0] == 0 or emg.shape[1] == 0:
            raise self.fail(f"emg must be a (samples, channels) array, got shape {getattr(emg, 'shape', None)}")
        if emg.shape[1] > max_channels():
            raise self.fail(f"{emg.shape[1]} channels; a board takes in at most {max_channels()} "
                            "(a full Quattrocento frame)")
        if self.uv_per_count > 0:
            if emg.dtype != np.int16:
                raise self.fail(f"raw counts must be int16, got {emg.dtype}")
        elif emg.dtype not in (np.float32, np.float64):
            raise self.fail(f"emg without uv_per_count must be float microvolts, got {emg.dtype}")
        elif not np.all(np.isfinite(emg)):
            bad = np.argwhere(~np.isfinite(emg))[0]
            raise self.fail(f"emg holds NaN or infinity (first at sample {bad[0]}, channel {bad[1]})")
        if not (np.isfinite(self.fs) and self.fs > 0):
            raise self.fail(f"sampling rate must be positive, got {self.fs}")
        for name in ("labels", "repetition"):
            values = getattr(self, name)
            if values is None:
                continue
            if values.shape != (self.samples,):
                raise self.fail(f"{name} has shape {values.shape}, expected ({self.samples},) like the samples")
            if not np.issubdtype(values.dtype, np.integer):
                raise self.fail(f"{name} must be integers, got {values.dtype}")
        if self.labels is not None:
            if not self.label_names:
                raise self.fail("labels given without label_names")
            top = int(self.labels.max()) if self.samples else -1
            if int(self.labels.min()) < -1 or top >= len(self.label_names):
                raise self.fail(f"labels range {int(self.labels.min())}..{top} does not fit "
                                f"{len(self.label_names)} label names")
        for grid in self.grids:
            if grid.rows < 1 or grid.cols < 1 or grid.first < 0 or grid.channels.stop > self.channels:
                raise self.fail(f"grid {grid.rows}x{grid.cols} at channel {grid.first} does not fit "
                                f"{self.channels} channels")

    def part(self, samples, source: str | None = None) -> "Recording":
        """The same recording cut to `samples` (a slice or a boolean mask): every per-sample
        array follows, the rest (rate, scaling, label names, grids, ids) is kept."""
        return dataclasses.replace(
            self, emg=self.emg[samples], labels=None if self.labels is None else self.labels[samples],
            repetition=None if self.repetition is None else self.repetition[samples],
            source=source or f"{self.source} (part)", extra=dict(self.extra))

    def microvolts(self) -> np.ndarray:
        """float32 microvolts, whatever is stored."""
        if self.uv_per_count > 0:
            return self.emg.astype(np.float32) * np.float32(self.uv_per_count)
        return self.emg.astype(np.float32, copy=False)

    # -- generic formats ---------------------------------------------------

    def save(self, path: Path) -> Path:
        """Writes .npz or .csv (by suffix), atomically."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        if path.suffix == ".npz":
            with open(tmp, "wb") as f:
                np.savez_compressed(
                    f, format=FORMAT, emg=self.emg, fs=self.fs, uv_per_count=self.uv_per_count,
                    labels=_or_empty(self.labels), label_names=np.array(self.label_names, dtype=str),
                    repetition=_or_empty(self.repetition), session=self.session, subject=self.subject,
                    grids=np.array([[g.rows, g.cols, g.first] for g in self.grids], dtype=np.int32).reshape(-1, 3))
        elif path.suffix == ".csv":
            self._save_csv(tmp)
        else:
            raise RecordingError(f"{path}: unknown format (use .npz or .csv)")
        tmp.replace(path)
        return path

    def _save_csv(self, path: Path) -> None:
        grids = ";".join(f"{g.rows}x{g.cols}@{g.first}" for g in self.grids)
        header = [f"format={FORMAT}", f"fs={self.fs!r}", f"uv_per_count={self.uv_per_count!r}",
                  f"label_names={'|'.join(self.label_names)}", f"session={self.session}",
                  f"subject={self.subject}", f"grids={grids}"]
        labels = self.labels if self.labels is not None else np.full(self.samples, -1)
        reps = self.repetition if self.repetition is not None else np.full(self.samples, -1)
        table = np.column_stack([labels, reps, self.emg])
        fmt = "%d" if self.uv_per_count > 0 else ["%d", "%d"] + ["%.6g"] * self.channels
        with open(path, "w") as f:
            f.write("".join(f"# {line}\n" for line in header))
            f.write(",".join(["label", "repetition"] + [f"ch{i}" for i in range(self.channels)]) + "\n")
            np.savetxt(f, table, fmt=fmt, delimiter=",")


def _or_empty(values: np.ndarray | None) -> np.ndarray:
    return np.zeros(0, dtype=np.int16) if values is None else values.astype(np.int16)


def _grids(text: str, source: str) -> tuple:
    grids = []
    for item in filter(None, text.split(";")):
        try:
            shape, first = item.split("@")
            rows, cols = shape.split("x")
            grids.append(Grid(int(rows), int(cols), int(first)))
        except ValueError:
            raise RecordingError(f"{source}: unknown grid {item!r} (expected ROWSxCOLS@FIRST)") from None
    return tuple(grids)


def load_npz(path: Path) -> Recording:
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            d = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise RecordingError(f"{path}: not a readable .npz file ({exc})") from None
    if str(d.get("format", "")) != FORMAT:
        raise RecordingError(f"{path}: not a {FORMAT} file (format={d.get('format')!r})")
    missing = {"emg", "fs"} - set(d)
    if missing:
        raise RecordingError(f"{path}: missing {', '.join(sorted(missing))}")
    labels = d.get("labels")
    reps = d.get("repetition")
    grids = d.get("grids")
    if grids is None or grids.size == 0:
        grids = np.zeros((0, 3), int)
    if grids.ndim != 2 or grids.shape[1] != 3 or not np.issubdtype(grids.dtype, np.integer):
        raise RecordingError(f"{path}: grids must be integer rows of (rows, cols, first channel), "
                             f"got shape {grids.shape} ({grids.dtype})")
    return Recording(
        emg=d["emg"], fs=number(path, "fs", d["fs"]),
        uv_per_count=number(path, "uv_per_count", d.get("uv_per_count", 0.0)),
        labels=labels if labels is not None and labels.size else None,
        label_names=tuple(str(n) for n in d.get("label_names", ())),
        repetition=reps if reps is not None and reps.size else None,
        session=str(d.get("session", "0")), subject=str(d.get("subject", "0")),
        grids=tuple(Grid(int(r), int(c), int(f)) for r, c, f in grids), source=str(path))


def load_csv(path: Path) -> Recording:
    path = Path(path)
    meta = {}
    try:
        with open(path) as f:
            for line in f:
                if not line.startswith("#"):
                    break  # the column header row
                key, _, value = line[1:].strip().partition("=")
                meta[key] = value
        table = np.loadtxt(path, delimiter=",", comments=None, skiprows=len(meta) + 1, ndmin=2)
    except (OSError, ValueError) as exc:
        raise RecordingError(f"{path}: not a readable recording CSV ({exc})") from None
    if meta.get("format") != FORMAT:
        raise RecordingError(f"{path}: not a {FORMAT} CSV (missing '# format={FORMAT}' header)")
    if table.shape[1] < 3:
        raise RecordingError(f"{path}: needs label, repetition and at least one channel column")
    uv = number(path, "uv_per_count", meta.get("uv_per_count", 0))
    emg = table[:, 2:]
    if uv > 0:
        if np.any(emg != np.round(emg)) or emg.min() < -32768 or emg.max() > 32767:
            raise RecordingError(f"{path}: uv_per_count is set but the samples are not int16 counts")
        emg = emg.astype(np.int16)
    else:
        emg = emg.astype(np.float32)
    labels, reps = table[:, 0].astype(np.int16), table[:, 1].astype(np.int16)
    names = tuple(filter(None, meta.get("label_names", "").split("|")))
    return Recording(emg=emg, fs=number(path, "fs", meta.get("fs", "nan")), uv_per_count=uv,
                     labels=labels if names else None, label_names=names,
                     repetition=reps if np.any(reps >= 0) else None,
                     session=meta.get("session", "0"), subject=meta.get("subject", "0"),
                     grids=_grids(meta.get("grids", ""), str(path)), source=str(path))


def load(path: Path) -> Recording:
    """Any supported recording file, by suffix."""
    path = Path(path)
    if not path.exists():
        raise RecordingError(f"{path}: no such file")
    from . import readers as ot_formats  # (imports this module: loaded on first use)

    readers = {".npz": load_npz, ".csv": load_csv, **ot_formats.READERS}
    if path.suffix.lower() not in readers:
        raise RecordingError(f"{path}: unknown recording format {path.suffix!r} "
                             f"(known: {', '.join(sorted(readers))})")
    return readers[path.suffix.lower()](path)
