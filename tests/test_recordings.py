"""Recordings: the in-memory type, the generic formats, OT readers, synthetic HD-EMG."""

from __future__ import annotations

import dataclasses
import io
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from helpers import run_neuroedge
from neuroedge import native, recording, synth
from neuroedge.recording import Grid, Recording, RecordingError

SMALL = synth.SynthConfig(subjects=2, sessions=2, repetitions=2, hold_s=0.5, gap_s=0.25, motor_units=40)


@pytest.fixture(scope="module")
def small_recording() -> Recording:
    return synth.generate(SMALL, 0, 0)


def test_synth_is_seeded_deterministic_and_labelled(small_recording):
    again = synth.generate(SMALL, 0, 0)
    assert np.array_equal(again.emg, small_recording.emg)
    other = synth.generate(synth.SynthConfig(**{**SMALL.__dict__, "seed": 1}), 0, 0)
    assert not np.array_equal(other.emg, small_recording.emg)
    r = small_recording
    assert r.channels == 192 and r.fs == 2048 and r.emg.dtype == np.int16
    assert r.uv_per_count == pytest.approx(0.50863, abs=1e-5)
    assert r.label_names == ("rest", "supination", "pronation", "hand close", "hand open", "wrist flexion",
                             "wrist extension")
    assert set(np.unique(r.labels)) == set(range(7)) and set(np.unique(r.repetition)) == {1, 2}
    assert [g.channels for g in r.grids] == [range(0, 64), range(64, 128), range(128, 192)]


def test_synth_gestures_have_distinct_spatial_patterns_and_sessions_shift(small_recording):
    from scipy.signal import butter, sosfiltfilt

    def band(rec):  # the EMG band, as amplitudes are quoted for real recordings
        return sosfiltfilt(butter(4, [20, 450], btype="band", fs=rec.fs, output="sos"), rec.microvolts(), axis=0)

    def rms_maps(rec):
        uv = band(rec)
        return np.array([np.sqrt((uv[rec.labels == g] ** 2).mean(0)) for g in range(1, 7)])

    maps = rms_maps(small_recording)
    rest = np.median(np.sqrt((band(small_recording)[small_recording.labels == 0] ** 2).mean(0)))
    # Real surface EMG (reference/real-emg.md): rest at a 1-4 uV noise floor, gestures about 10x
    # stronger at the median channel and up to a few hundred uV on the strongest.
    assert 1 < rest < 4
    assert maps.max(axis=1).min() > 5 * rest  # every gesture stands out of the rest level somewhere
    full = synth.generate(synth.SynthConfig(grids=1, subjects=1, sessions=1, repetitions=1, hold_s=1.0), 0, 0)
    full_maps, full_rest = rms_maps(full), np.median(np.sqrt((band(full)[full.labels == 0] ** 2).mean(0)))
    assert 1 < full_rest < 4 and 5 < np.median(np.median(full_maps, axis=1)) / full_rest < 30
    assert 40 < full_maps.max() < 400
    corr = np.corrcoef(maps)
    assert corr[np.triu_indices(6, 1)].max() < 0.95  # no two gestures look alike
    shifted = rms_maps(synth.generate(SMALL, 0, 1))
    same = [np.corrcoef(maps[g], shifted[g])[0, 1] for g in range(6)]
    assert 0.3 < np.mean(same) < 0.999  # the same muscles, seen through shifted electrodes
    frequent = synth.generate(dataclasses.replace(SMALL, artifacts_per_minute=60), 0, 0).extra["artifacts"]
    assert {a["kind"] for a in frequent} == {"motion", "lost contact"}


@pytest.mark.parametrize("suffix", [".npz", ".csv"])
def test_generic_formats_round_trip(small_recording, tmp_path, suffix):
    r = small_recording
    part = Recording(emg=r.emg[:3000], fs=r.fs, uv_per_count=r.uv_per_count, labels=r.labels[:3000],
                     label_names=r.label_names, repetition=r.repetition[:3000], session="1", subject="7",
                     grids=r.grids)
    back = recording.load(part.save(tmp_path / f"r{suffix}"))
    assert np.array_equal(back.emg, part.emg) and back.emg.dtype == np.int16
    assert np.array_equal(back.labels, part.labels) and np.array_equal(back.repetition, part.repetition)
    assert (back.fs, back.uv_per_count, back.label_names, back.session, back.subject, back.grids) == \
        (part.fs, part.uv_per_count, part.label_names, "1", "7", part.grids)


def test_cli_synth_writes_loadable_recordings(tmp_path):
    result = run_neuroedge("synth", "--out", str(tmp_path), "--subjects", "1", "--sessions", "2",
                           "--repetitions", "1", "--hold", "0.3", "--grids", "1")
    assert result.returncode == 0, result.stderr
    paths = [Path(p) for p in result.stdout.split()]
    assert [p.name for p in paths] == ["subject0_session0.npz", "subject0_session1.npz"]
    assert recording.load(paths[1]).channels == 64


def test_inconsistent_recordings_are_refused_with_the_problem_named(tmp_path):
    emg = np.zeros((100, 4), np.int16)
    cases = [
        (dict(emg=emg, fs=2048, uv_per_count=0.5, labels=np.zeros(99, np.int16), label_names=("a",)),
         "labels has shape (99,), expected (100,)"),
        (dict(emg=emg, fs=2048, uv_per_count=0.5, labels=np.full(100, 3, np.int16), label_names=("a", "b")),
         "labels range 3..3 does not fit 2 label names"),
        (dict(emg=np.full((10, 2), np.nan, np.float32), fs=2048), "NaN or infinity (first at sample 0, channel 0)"),
        (dict(emg=emg, fs=2048, uv_per_count=0.5, grids=(Grid(8, 8, 0),)), "grid 8x8 at channel 0 does not fit 4"),
        (dict(emg=emg.astype(np.float32), fs=0), "sampling rate must be positive"),
        (dict(emg=emg.astype(np.int32), fs=2048, uv_per_count=0.5), "raw counts must be int16"),
    ]
    for kwargs, message in cases:
        with pytest.raises(RecordingError, match=message.replace("(", r"\(").replace(")", r"\)")):
            Recording(source="test.npz", **kwargs)
    bad = tmp_path / "truncated.npz"
    good = Recording(emg=emg, fs=2048, uv_per_count=0.5).save(tmp_path / "good.npz")
    bad.write_bytes(good.read_bytes()[:200])
    with pytest.raises(RecordingError, match="truncated.npz: not a readable .npz"):
        recording.load(bad)
    csv = tmp_path / "x.csv"
    csv.write_text("# format=neuroedge-recording-1\n# fs=2048\n# grids=8y8@0\nlabel,repetition,ch0\n-1,-1,0\n")
    with pytest.raises(RecordingError, match="unknown grid '8y8@0'"):
        recording.load(csv)
    with pytest.raises(RecordingError, match="unknown recording format '.edf'"):
        (tmp_path / "a.edf").write_bytes(b"0")
        recording.load(tmp_path / "a.edf")


@pytest.fixture(scope="session")
def otb_testfile() -> Path:
    """The real OTBiolab+ export shipped in the openhdemg wheel, fetched with pip at test time."""
    cache = native.BUILD_DIR / "testdata"
    target = cache / "otb_testfile.mat"
    if not target.exists():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "openhdemg==0.1.2",
                        "-d", str(cache)], check=True, capture_output=True)
        (wheel,) = cache.glob("openhdemg-*.whl")
        with zipfile.ZipFile(wheel) as z:
            data = z.read("openhdemg/library/decomposed_test_files/otb_testfile.mat")
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(target)
    return target


def test_reads_the_real_otbiolab_mat_export(otb_testfile):
    r = recording.load(otb_testfile)
    assert (r.channels, r.fs, r.samples) == (64, 2048.0, 66560)
    assert r.extra["channel_names"][0].endswith("GR08MM1305 (1)[uV]")
    steps = np.diff(np.unique(r.emg[:, 0]))
    assert steps.min() == pytest.approx(recording.QUATTROCENTO_UV_PER_COUNT, rel=1e-3)  # the amplifier's LSB
    assert 20 < np.sqrt((r.emg ** 2).mean()) < 2000  # microvolts, not millivolts


def otb_plus_archive(frames: np.ndarray, xml: str, sig_bytes: bytes | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (("rec.sig", frames.astype("<i2").tobytes() if sig_bytes is None else sig_bytes),
                           ("rec.xml", xml.encode()), ("patient.xml", b"<Patient/>")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


OTB_XML = """<Device Name="QUATTROCENTO" SampleFrequency="2048" DeviceTotalChannels="{total}" ad_bits="16">
  <Channels>
    <Adapter ID="AD1x64" Gain="150" ChannelStartIndex="0">
      {emg}
    </Adapter>
    <Adapter ID="AUX" Gain="0.5" ChannelStartIndex="{aux}">
      <Channel Index="0" ID="AUX Acc" Gain="1"/>
    </Adapter>
  </Channels>
</Device>"""


def test_reads_otb_plus_archives_and_refuses_truncated_ones(tmp_path):
    frames = np.random.default_rng(0).integers(-2000, 2000, size=(500, 9), dtype=np.int16)
    xml = OTB_XML.format(total=9, aux=8, emg="".join(f'<Channel Index="{i}" ID="CH{i}" Gain="1"/>' for i in range(8)))
    path = tmp_path / "rec.otb+"
    path.write_bytes(otb_plus_archive(frames, xml))
    r = recording.load(path)
    assert np.array_equal(r.emg, frames[:, :8]) and r.fs == 2048
    assert r.uv_per_count == pytest.approx(recording.QUATTROCENTO_UV_PER_COUNT)
    truncated = tmp_path / "cut.otb+"
    truncated.write_bytes(otb_plus_archive(frames, xml, frames.astype("<i2").tobytes()[:-3]))
    with pytest.raises(RecordingError, match="not whole frames of 9 int16 channels"):
        recording.load(truncated)
    broken = tmp_path / "broken.otb+"
    broken.write_bytes(path.read_bytes()[:700])
    with pytest.raises(RecordingError, match="broken.otb\\+"):
        recording.load(broken)


def test_reads_wfdb_records_as_hyser_stores_them(tmp_path):
    import wfdb

    counts = np.random.default_rng(1).integers(-3000, 3000, size=(4096, 6)).astype(np.int16)
    # Hyser: 16-bit samples, gain in digital units per mV, zero baseline.
    wfdb.wrsamp("hyser", fs=2048, units=["mV"] * 6, sig_name=[f"ch{i}" for i in range(6)], d_signal=counts,
                fmt=["16"] * 6, adc_gain=[1966.08] * 6, baseline=[0] * 6, write_dir=str(tmp_path))
    r = recording.load(tmp_path / "hyser.hea")
    assert np.array_equal(r.emg, counts) and r.fs == 2048
    assert r.uv_per_count == pytest.approx(1000 / 1966.08)
    (tmp_path / "broken.hea").write_text("not a header\n")
    with pytest.raises(RecordingError, match="broken.hea: not a readable WFDB record"):
        recording.load(tmp_path / "broken.hea")


def otb4_archive(frames: np.ndarray, tracks: list[tuple[str, float, int]], cut: int = 0) -> bytes:
    body = "".join(f"<TrackInfo><Device>QUATTROCENTO</Device><Gain>{gain}</Gain><ADC_Nbits>16</ADC_Nbits>"
                   f"<ADC_Range>5</ADC_Range><SamplingFrequency>2048</SamplingFrequency>"
                   f"<SignalStreamPath>rec.sig</SignalStreamPath><NumberOfChannels>{n}</NumberOfChannels>"
                   f"<AcquisitionChannel>0</AcquisitionChannel><SubTitle>{title}</SubTitle></TrackInfo>"
                   for title, gain, n in tracks)
    files = {"Tracks_000.xml": f"<ArrayOfTrackInfo>{body}</ArrayOfTrackInfo>".encode(),
             "DeviceParameters.xml": b"<DeviceParameters/>",
             "rec.sig": frames.astype("<i2").tobytes()[:len(frames.astype("<i2").tobytes()) - cut]}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_reads_otb4_archives(tmp_path):
    frames = np.random.default_rng(2).integers(-3000, 3000, size=(300, 20), dtype=np.int16)
    tracks = [("GR10MM0808 grid 1", 150, 8), ("GR10MM0808 grid 2", 150, 8), ("AUX 1", 0.5, 4)]
    path = tmp_path / "rec.otb4"
    path.write_bytes(otb4_archive(frames, tracks))
    r = recording.load(path)
    assert np.array_equal(r.emg, frames[:, :16]) and r.fs == 2048
    assert r.uv_per_count == pytest.approx(recording.QUATTROCENTO_UV_PER_COUNT)
    cut = tmp_path / "cut.otb4"
    cut.write_bytes(otb4_archive(frames, tracks, cut=5))
    with pytest.raises(RecordingError, match="not whole frames of 20 int16 channels"):
        recording.load(cut)
