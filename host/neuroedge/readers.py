"""Readers for OT Bioelettronica files (see ../shared/reference/quattrocento.md) and WFDB.

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

import re
import tarfile
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from .recording import Recording, RecordingError, number

CONTROL_CHANNEL = re.compile(r"^(AUX|Buffer|Ramp|Quaternion|LoadCell)", re.IGNORECASE)
ADC_RANGE_V = 5.0


def load_otb_mat(path: Path) -> Recording:
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
        def field(tag, default=None, cast=str):
            el = info.find(tag)
            text = el.text.strip() if el is not None and el.text else default
            if text is None:
                raise RecordingError(f"{path}: a <TrackInfo> lacks <{tag}>")
            try:
                return cast(text)
            except ValueError:
                raise RecordingError(f"{path}: <{tag}> is {text!r}") from None
        tracks.append({"device": field("Device", "unknown"), "gain": field("Gain", cast=float),
                       "bits": field("ADC_Nbits", "16", int), "range": field("ADC_Range", "5", float),
                       "fs": field("SamplingFrequency", cast=float), "stream": field("SignalStreamPath", ""),
                       "channels": field("NumberOfChannels", cast=int), "title": field("SubTitle", "")})
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


READERS = {".mat": load_otb_mat, ".otb+": load_otb_plus, ".otb4": load_otb4, ".hea": load_wfdb}
