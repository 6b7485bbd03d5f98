"""Preprocessing: the board's edgedl.Preprocess and the host's ctypes build of the
same C must agree bit for bit (no train/serve skew), in any chunking."""

from __future__ import annotations

import numpy as np
import pytest

from neuroedge.preprocess import PreprocessConfig, Preprocessor, quantize

CONFIGS = [
    PreprocessConfig(highpass_hz=0, features=(), rectify=False, envelope_hz=0, decimate=1),   # raw
    PreprocessConfig(highpass_hz=20, features=(), rectify=True, envelope_hz=0, decimate=1),
    PreprocessConfig(highpass_hz=10, features=(), rectify=True, envelope_hz=8, decimate=8),
    PreprocessConfig(highpass_hz=0, features=(), rectify=False, envelope_hz=40, decimate=3),
    PreprocessConfig().resolved(12),       # the default for an armband: log2 MAV, log2 WL, with ring differences
    PreprocessConfig(features=("log_mav", "log_wl", "zc", "ssc"), threshold=2, ring_differences=True),
    PreprocessConfig(features=("log_mav", "log_wl", "zc", "ssc"), threshold=3, block_ms=10),
    PreprocessConfig(highpass_hz=0, features=("ssc", "zc"), decimate=7),
]


@pytest.mark.parametrize("index", range(len(CONFIGS)))
def test_board_and_host_preprocessing_are_bit_identical(index, big_emulator):
    config = CONFIGS[index]
    coeffs = config.coefficients(2048.0)
    rng = np.random.default_rng(index)
    frames = rng.integers(-32768, 32768, size=(999, 12), dtype=np.int16)
    frames[:100] = rng.normal(0, 300, size=(100, 12)).astype(np.int16)  # EMG-like stretch
    frames[100:110] = 32767  # saturation
    frames.astype("<i2").tofile(big_emulator.board_path("frames.bin"))
    chunks = [int(c) for c in rng.integers(1, 60, size=40)]
    width = config.width(12)
    code = (
        "import edgedl, array\n"
        f"p = edgedl.Preprocess(12, highpass_q15={coeffs['highpass_q15']}, rectify={bool(coeffs['rectify'])}, "
        f"envelope_q15={coeffs['envelope_q15']}, decimate={coeffs['decimate']}, features={coeffs['features']}, "
        f"threshold={coeffs['threshold']})\n"
        "data = open('frames.bin', 'rb').read()\n"
        "out = open('out.bin', 'wb')\n"
        "pos = 0\n"
        f"for n in {chunks + [999]}:\n"
        "    piece = array.array('h', data[pos * 24:(pos + n) * 24])\n"
        "    if not len(piece): break\n"
        f"    buf = array.array('h', bytes(((len(piece) // 12 + {coeffs['decimate']} - 1) // {coeffs['decimate']}) "
        f"* {width} * 2))\n"
        "    k = p.process(piece, buf)\n"
        f"    out.write(memoryview(buf)[:k * {width}])\n"
        "    pos += n\n"
        "out.close()\n")
    big_emulator.run(code).check()
    on_board = np.fromfile(big_emulator.board_path("out.bin"), dtype="<i2").reshape(-1, width)
    host = Preprocessor(12, coeffs).process(frames)
    d = coeffs["decimate"]
    # Filtered frames keep the first frame of every d, feature frames end a block of d.
    expected = 999 // d if config.features else (999 + d - 1) // d
    assert on_board.shape == host.shape == (expected, width)
    assert np.array_equal(on_board, host)


def test_features_are_the_time_domain_features_they_name():
    fs = 1000.0
    block = 25
    rng = np.random.default_rng(3)
    quiet = rng.normal(0, 3, 2000)
    strong = rng.normal(0, 300, 2000)
    signal = np.concatenate([quiet, strong]).round().astype(np.int16)
    frames = np.column_stack([signal, np.zeros_like(signal)])
    cfg = PreprocessConfig(highpass_hz=0, features=("log_mav", "log_wl", "zc", "ssc"), threshold=0, decimate=block)
    out = Preprocessor(2, cfg.coefficients(fs)).process(frames).astype(np.float64)
    assert out.shape == (4000 // block, 8)
    x = signal.astype(np.float64).reshape(-1, block)
    prev = np.concatenate([[0.0], signal[:-1].astype(np.float64)]).reshape(-1, block)
    np.testing.assert_allclose(out[:, 0], 1024 * np.log2(1 + np.abs(x).mean(1)), atol=2)
    np.testing.assert_allclose(out[:, 2], 1024 * np.log2(1 + np.abs(x - prev).mean(1)), atol=2)
    zc = ((np.sign(x) * np.sign(prev)) < 0).sum(1)
    np.testing.assert_array_equal(out[:, 4], zc * 2048 // block)
    assert np.all(out[:, [1, 3, 5, 7]] == 0)  # a silent channel: log2(1 + 0) = 0, no crossings
    # Rest and a 100x stronger contraction stay about log2(100) = 6.6 apart, not 100x.
    assert 6.0 < (out[100:, 0].mean() - out[:80, 0].mean()) / 1024 < 7.2
    # A gain is a shift of the log features and leaves the rates alone.
    louder = Preprocessor(2, cfg.coefficients(fs)).process((frames // 2).astype(np.int16)).astype(np.float64)
    assert abs((out[100:, 0] - louder[100:, 0]).mean() - 1024) < 20
    assert np.abs(out[100:, 4] - louder[100:, 4]).mean() < 0.05 * out[100:, 4].mean()


def test_ring_differences_are_the_features_of_neighbour_differences():
    # Without the high-pass, the ring's extra signals must be exactly channel c minus c + 1
    # (the last minus the first) run through the same feature blocks.
    rng = np.random.default_rng(7)
    x = rng.normal(0, 200, size=(400, 5)).astype(np.int16)
    features = ("log_mav", "log_wl", "zc", "ssc")
    ring = PreprocessConfig(highpass_hz=0, features=features, threshold=2, decimate=20, ring_differences=True)
    plain = PreprocessConfig(highpass_hz=0, features=features, threshold=2, decimate=20)
    got = Preprocessor(5, ring.coefficients(1000.0)).process(x)
    signals = np.concatenate([x, x - np.roll(x, -1, axis=1)], axis=1).astype(np.int16)
    want = Preprocessor(10, plain.coefficients(1000.0)).process(signals)
    assert got.shape == (20, ring.width(5)) == (20, 40)
    assert np.array_equal(got, want)
    differences = ring.difference_columns(5)  # the columns the LDA keeps apart from the channels'
    assert differences.sum() == 20
    assert np.array_equal(got[:, differences], Preprocessor(5, plain.coefficients(1000.0)).process(signals[:, 5:]))
    assert not plain.difference_columns(5).any()


def test_default_features_follow_the_channel_count():
    armband, pair, grid = (PreprocessConfig().resolved(n) for n in (10, 2, 64))
    assert (armband.features, armband.ring_differences) == (("log_mav", "log_wl"), True)
    assert (pair.features, pair.ring_differences) == (("log_mav", "log_wl"), False)
    assert (grid.features, grid.ring_differences) == (("log_mav",), False)
    assert PreprocessConfig(features=("log_mav",)).resolved(10).ring_differences is False  # chosen by hand
    assert armband.width(10) == 40 and grid.width(64) == 64


def test_filters_do_what_they_say():
    fs = 2048.0
    t = np.arange(4096) / fs
    drift_and_burst = (2000 * np.sin(2 * np.pi * 0.5 * t) + 300 * np.sin(2 * np.pi * 150 * t)).astype(np.int16)
    frames = np.column_stack([drift_and_burst, np.zeros_like(drift_and_burst)])
    hp = Preprocessor(2, PreprocessConfig(highpass_hz=20, features=(), rectify=False, envelope_hz=0, decimate=1)
                      .coefficients(fs)).process(frames)
    assert abs(hp[2048:, 0].mean()) < 20 and 250 < hp[2048:, 0].std() * np.sqrt(2) < 330  # drift gone
    env = Preprocessor(2, PreprocessConfig(highpass_hz=20, features=(), rectify=True, envelope_hz=5, decimate=8).coefficients(fs))
    out = env.process(frames)
    assert out.shape == (512, 2)
    assert 150 < out[256:, 0].mean() < 230  # mean of |300 sin| = 191
    assert np.all(out[:, 1] == 0)


def test_quantize_matches_the_board(emulator):
    values = np.array([-32768, -1000, -17, 0, 1, 16, 17, 5000, 32767], dtype=np.int16)
    host = quantize(values, 1 << 30, -3, 5)
    out = emulator.run("import edgedl, array\n"
                    "q = bytearray(9)\n"
                    f"edgedl.quantize(array.array('h', {values.tolist()}), q, {1 << 30}, -3, 5)\n"
                    "print(list(q))").check().stdout
    assert np.array_equal(np.array(eval(out), dtype=np.uint8).astype(np.int8), host)
    assert host.tolist() == [-128, -58, 4, 5, 5, 6, 6, 127, 127]  # x / 16, half away from zero, + 5


def test_preprocess_errors_name_the_problem(emulator):
    out = emulator.run("import edgedl, array\n"
                    "for expr in ['edgedl.Preprocess(0)', 'edgedl.Preprocess(4, decimate=0)',\n"
                    "             'edgedl.Preprocess(4, highpass_q15=40000)',\n"
                    "             'edgedl.Preprocess(4, rectify=True, features=1)',\n"
                    "             'edgedl.Preprocess(4, features=16)',\n"
                    "             'edgedl.Preprocess(4, features=3, threshold=-1)',\n"
                    "             'edgedl.Preprocess(4, features=3, decimate=4).process(array.array(\"h\", bytes(32)), "
                    "array.array(\"h\", bytes(8)))',\n"
                    "             'edgedl.Preprocess(4).process(array.array(\"h\", bytes(6)), array.array(\"h\", bytes(6)))',\n"
                    "             'edgedl.Preprocess(4).process(bytes(8), array.array(\"h\", bytes(8)))']:\n"
                    "    try:\n"
                    "        eval(expr)\n"
                    "    except Exception as e:\n"
                    "        print(type(e).__name__, e)\n").check().stdout.splitlines()
    assert out == [
        "ValueError Preprocess: channels must be 1..408, got 0",
        "ValueError Preprocess: decimate must be 1..256, got 0",
        "ValueError Preprocess: highpass_q15 and envelope_q15 must be 0..32767",
        "ValueError Preprocess: features must be a mask of 1..15 (log MAV, log WL, ZC, SSC), plus 16 for ring "
        "differences, without rectify or envelope, got 1",
        "ValueError Preprocess: features must be a mask of 1..15 (log MAV, log WL, ZC, SSC), plus 16 for ring "
        "differences, without rectify or envelope, got 16",
        "ValueError Preprocess: threshold must be 0..32767 counts, got -1",
        "ValueError Preprocess.process: frames_out holds 4 samples, needs 8",
        "ValueError Preprocess.process: 3 samples are not whole frames of 4 channels",
        "TypeError Preprocess.process: frames_in must be an array('h')",
    ]
