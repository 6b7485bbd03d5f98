"""One in-memory HD-EMG recording type, and the files it is read from: the generic formats
(.npz, .csv), OT Bioelettronica's files and WFDB records (`load` picks by suffix).

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

OT Bioelettronica files (see ../shared/reference/quattrocento.md) and WFDB:

- OTBiolab+ .mat export: ``Data`` (samples x signals, float32, in the units its
  ``Description`` names: [uV] or [mV]), ``Description``, ``SamplingFrequency``.
  EMG channels are the signals in uV or mV; the rest (decomposition sources,
  force references) is kept in ``extra`` by description.
- .otb+ archive: a tar of ``*.sig`` (interleaved little-endian int16, samples x
  DeviceTotalChannels) and the matching ``*.xml`` (Device SampleFrequency,
  DeviceTotalChannels, ad_bits; Adapter Gain and ChannelStartIndex; Channel ID
  and Gain). EMG channels are those of adapters whose channels are not control
  channels (AUX*, BufferChannel, RampChannel, ...); counts are kept with their
  scale ADC range / 2^bits / (adapter gain x channel gain).
- .otb4 archive: a tar of ``Tracks_000.xml`` (one ``<TrackInfo>`` per group of
  channels: Device, Gain, ADC_Nbits, ADC_Range, SamplingFrequency,
  SignalStreamPath, NumberOfChannels, SubTitle) and the interleaved int16 ``.sig``
  stream the tracks share, in order; scale ADC_Range / 2^bits / Gain.
- WFDB records (PhysioNet; the Hyser HD-sEMG dataset's format), through the
  `wfdb` package.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import tarfile
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import InputError
from .project import NATIVE_DIR

FORMAT = "neuroedge-recording-1"
QUATTROCENTO_UV_PER_COUNT = 5 / 2**16 / 150 * 1e6  # 0.50863 uV: 5 V span, 16 bits, gain 150


class RecordingError(InputError):
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
        """A RecordingError that names this recording."""
        return RecordingError(f"{self.source}: {problem}")

    def validate(self) -> None:
        """RecordingError unless the arrays are consistent (shapes, types, labels, channel count)."""
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
    """A recording saved by Recording.save (.npz)."""
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
    """A recording from CSV: one row per sample, a label column, `# key: value` header lines."""
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

CONTROL_CHANNEL = re.compile(r"^(AUX|Buffer|Ramp|Quaternion|LoadCell)", re.IGNORECASE)
ADC_RANGE_V = 5.0


def load_otb_mat(path: Path) -> Recording:
    """An OT BioLab export (.mat) as a recording."""
    import scipy.io

    path = Path(path)
    try:
        mat = scipy.io.loadmat(path)
    except (OSError, ValueError, NotImplementedError) as exc:
        raise RecordingError(f"{path}: not a readable OTBiolab+ .mat export ({exc})") from None
    missing = {"Data", "Description", "SamplingFrequency"} - set(mat)
    if missing:
        raise RecordingError(f"{path}: not an OTBiolab+ export (missing {', '.join(sorted(missing))})")
    data = mat["Data"]
    while data.dtype == object and data.size == 1:  # MATLAB cell wrapping
        data = data.item()
    data = np.asarray(data)
    descriptions = [str(np.asarray(d).ravel()[0]) if np.asarray(d).size else "" for d in mat["Description"].ravel()]
    if data.ndim != 2 or data.shape[1] != len(descriptions):
        raise RecordingError(f"{path}: Data has shape {data.shape} but there are {len(descriptions)} descriptions")
    scale = np.array([1.0 if d.endswith("[uV]") else 1000.0 if d.endswith("[mV]") else 0.0 for d in descriptions])
    emg_columns = np.flatnonzero(scale > 0)
    if emg_columns.size == 0:
        raise RecordingError(f"{path}: no EMG signals (descriptions in [uV] or [mV])")
    emg = (data[:, emg_columns] * scale[emg_columns]).astype(np.float32)
    others = {descriptions[i]: data[:, i] for i in np.flatnonzero(scale == 0)}
    return Recording(emg=emg, fs=number(path, "SamplingFrequency", mat["SamplingFrequency"]), source=str(path),
                     extra={"channel_names": [descriptions[i] for i in emg_columns], "other_signals": others})


def load_otb_plus(path: Path) -> Recording:
    """An OT BioLab+ archive (.otb+) as a recording."""
    path = Path(path)
    try:
        with tarfile.open(path) as tar:
            members = {m.name: m for m in tar.getmembers() if m.isfile()}
            sigs = [n for n in members if n.endswith(".sig")]
            if len(sigs) != 1:
                raise RecordingError(f"{path}: expected one .sig signal file, found {len(sigs)}")
            xml_name = sigs[0][:-4] + ".xml"
            if xml_name not in members:
                raise RecordingError(f"{path}: {sigs[0]} has no matching {xml_name}")
            raw = tar.extractfile(members[sigs[0]]).read()
            root = ET.fromstring(tar.extractfile(members[xml_name]).read())
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise RecordingError(f"{path}: not a readable .otb+ archive ({exc})") from None
    except ET.ParseError as exc:
        raise RecordingError(f"{path}: malformed XML ({exc})") from None
    device = root if root.tag == "Device" else root.find(".//Device")
    if device is None:
        raise RecordingError(f"{path}: no <Device> in {xml_name}")
    try:
        fs = float(device.attrib["SampleFrequency"])
        total = int(device.attrib["DeviceTotalChannels"])
        bits = int(device.attrib.get("ad_bits", 16))
    except (KeyError, ValueError) as exc:
        raise RecordingError(f"{path}: <Device> lacks a valid {exc}") from None
    if bits != 16:
        raise RecordingError(f"{path}: {bits}-bit samples; only 16-bit (Quattrocento) files are read")
    if total < 1:
        raise RecordingError(f"{path}: DeviceTotalChannels is {total}")
    if len(raw) % (2 * total):
        raise RecordingError(f"{path}: {sigs[0]} holds {len(raw)} bytes, not whole frames of {total} "
                             f"int16 channels (truncated?)")
    frames = np.frombuffer(raw, dtype="<i2").reshape(-1, total)
    emg_channels, gains, names = [], [], []
    for adapter in device.iter("Adapter"):
        start = number(path, "an <Adapter> ChannelStartIndex", adapter.attrib.get("ChannelStartIndex", 0), int)
        adapter_gain = number(path, "an <Adapter> Gain", adapter.attrib.get("Gain", 1))
        for channel in adapter.iter("Channel"):
            channel_id = channel.attrib.get("ID", "")
            if CONTROL_CHANNEL.match(channel_id) or CONTROL_CHANNEL.match(adapter.attrib.get("ID", "")):
                continue
            index = start + number(path, f"channel {channel_id} Index", channel.attrib.get("Index", 0), int)
            if not 0 <= index < total:
                raise RecordingError(f"{path}: channel {channel_id} at index {index} is outside the {total} channels")
            emg_channels.append(index)
            gains.append(adapter_gain * number(path, f"channel {channel_id} Gain", channel.attrib.get("Gain", 1)))
            names.append(channel_id)
    if not emg_channels:
        raise RecordingError(f"{path}: the XML names no EMG channels")
    if len(set(gains)) != 1:
        raise RecordingError(f"{path}: EMG channels have different gains {sorted(set(gains))}; "
                             "a single microvolts-per-count scale is needed")
    uv_per_count = ADC_RANGE_V / 2**bits / gains[0] * 1e6
    return Recording(emg=np.ascontiguousarray(frames[:, emg_channels]), fs=fs, uv_per_count=uv_per_count,
                     source=str(path), extra={"channel_names": names})


def _otb4_tracks(root: ET.Element, path: Path) -> list[dict]:
    tracks = []
    for info in root.iter("TrackInfo"):
        def value_of(tag, default=None, cast=str):
            el = info.find(tag)
            text = el.text.strip() if el is not None and el.text else default
            if text is None:
                raise RecordingError(f"{path}: a <TrackInfo> lacks <{tag}>")
            try:
                return cast(text)
            except ValueError:
                raise RecordingError(f"{path}: <{tag}> is {text!r}") from None
        tracks.append({"device": value_of("Device", "unknown"), "gain": value_of("Gain", cast=float),
                       "bits": value_of("ADC_Nbits", "16", int), "range": value_of("ADC_Range", "5", float),
                       "fs": value_of("SamplingFrequency", cast=float), "stream": value_of("SignalStreamPath", ""),
                       "channels": value_of("NumberOfChannels", cast=int), "title": value_of("SubTitle", "")})
    if not tracks:
        raise RecordingError(f"{path}: Tracks_000.xml lists no <TrackInfo>")
    return tracks


def load_otb4(path: Path) -> Recording:
    """OT .otb4 archive: Tracks_000.xml describes tracks (groups of channels with their
    gain, ADC bits and range) that share one interleaved int16 .sig stream, in order."""
    path = Path(path)
    try:
        with tarfile.open(path) as tar:
            members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
            if "Tracks_000.xml" not in members:
                raise RecordingError(f"{path}: no Tracks_000.xml: not an .otb4 archive")
            root = ET.fromstring(tar.extractfile(members["Tracks_000.xml"]).read())
            tracks = _otb4_tracks(root, path)
            if any(t["device"].lower().startswith("novecento") or t["bits"] != 16 for t in tracks):
                raise RecordingError(f"{path}: only 16-bit recordings are read (this one is from "
                                     f"{tracks[0]['device']} with {tracks[0]['bits']}-bit samples)")
            streams = {t["stream"] for t in tracks}
            sig = next((n for n in members if n.endswith(".sig") and (n in streams or len(streams) == 1)), None)
            if sig is None:
                raise RecordingError(f"{path}: no .sig signal file in the archive")
            raw = tar.extractfile(members[sig]).read()
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise RecordingError(f"{path}: not a readable .otb4 archive ({exc})") from None
    except ET.ParseError as exc:
        raise RecordingError(f"{path}: malformed Tracks_000.xml ({exc})") from None
    total = sum(t["channels"] for t in tracks)
    if total < 1 or len(raw) % (2 * total):
        raise RecordingError(f"{path}: {sig} holds {len(raw)} bytes, not whole frames of {total} int16 "
                             f"channels (truncated?)")
    frames = np.frombuffer(raw, dtype="<i2").reshape(-1, total)
    if len({t["fs"] for t in tracks}) != 1:
        raise RecordingError(f"{path}: tracks have different sampling rates")
    columns, scales, names, start = [], [], [], 0
    for t in tracks:
        if not CONTROL_CHANNEL.match(t["title"]) and t["gain"] > 0:
            uv = t["range"] / 2 ** t["bits"] * 1e6 / t["gain"]
            columns += range(start, start + t["channels"])
            scales += [uv] * t["channels"]
            names += [f"{t['title']} {i + 1}" for i in range(t["channels"])]
        start += t["channels"]
    if not columns:
        raise RecordingError(f"{path}: no EMG tracks")
    emg = frames[:, columns]
    fs = tracks[0]["fs"]
    if len(set(scales)) == 1:
        return Recording(emg=np.ascontiguousarray(emg), fs=fs, uv_per_count=scales[0], source=str(path),
                         extra={"channel_names": names})
    return Recording(emg=(emg * np.array(scales)).astype(np.float32), fs=fs, source=str(path),
                     extra={"channel_names": names})


def load_wfdb(path: Path) -> Recording:
    """A WFDB record (Hyser's format): give the .hea header; the .dat sits beside it.
    Digital samples are kept as int16 counts when every channel shares one gain and a
    zero baseline (as Hyser's do); otherwise they are converted to float microvolts."""
    import wfdb

    path = Path(path)
    try:
        rec = wfdb.rdrecord(str(path.with_suffix("")), physical=False)
    except (OSError, ValueError, IndexError, TypeError) as exc:
        raise RecordingError(f"{path}: not a readable WFDB record ({exc})") from None
    if rec.d_signal is None or rec.d_signal.ndim != 2:
        raise RecordingError(f"{path}: the record holds no signal samples")
    to_uv = []
    for unit, gain in zip(rec.units, rec.adc_gain):
        factor = {"uv": 1.0, "mv": 1e3, "v": 1e6}.get(str(unit).lower())
        if factor is None or not gain:
            raise RecordingError(f"{path}: channel unit {unit!r} with gain {gain} is not a voltage")
        to_uv.append(factor / gain)
    to_uv = np.array(to_uv)
    digital = rec.d_signal
    baseline = np.asarray(rec.baseline)
    names = list(rec.sig_name)
    if np.allclose(to_uv, to_uv[0]) and not baseline.any() and digital.min() >= -32768 and digital.max() <= 32767:
        return Recording(emg=digital.astype(np.int16), fs=float(rec.fs), uv_per_count=float(to_uv[0]),
                         source=str(path), extra={"channel_names": names})
    uv = ((digital - baseline) * to_uv).astype(np.float32)
    return Recording(emg=uv, fs=float(rec.fs), source=str(path), extra={"channel_names": names})


READERS = {".npz": load_npz, ".csv": load_csv, ".mat": load_otb_mat, ".otb+": load_otb_plus, ".otb4": load_otb4,
           ".hea": load_wfdb}
SUFFIXES = tuple(READERS)  # what counts as a recording file (also when a folder is given)


def load(path: Path) -> Recording:
    """Any supported recording file, by suffix."""
    path = Path(path)
    if not path.exists():
        raise RecordingError(f"{path}: no such file")
    if path.suffix.lower() not in READERS:
        raise RecordingError(f"{path}: unknown recording format {path.suffix!r} "
                             f"(known: {', '.join(sorted(READERS))})")
    return READERS[path.suffix.lower()](path)
