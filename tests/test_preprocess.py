"""Preprocessing: the board's edgedl.Preprocess and the host's ctypes build of the
same C must agree bit for bit (no train/serve skew), in any chunking."""

from __future__ import annotations

import numpy as np
import pytest

from neuroedge.preprocess import PreprocessConfig, Preprocessor, quantize

CONFIGS = [
    PreprocessConfig(highpass_hz=0, rectify=False, envelope_hz=0, decimate=1),   # raw
    PreprocessConfig(highpass_hz=20, rectify=True, envelope_hz=0, decimate=1),
    PreprocessConfig(highpass_hz=10, rectify=True, envelope_hz=8, decimate=8),
    PreprocessConfig(highpass_hz=0, rectify=False, envelope_hz=40, decimate=3),
]


@pytest.mark.parametrize("index", range(len(CONFIGS)))
def test_board_and_host_preprocessing_are_bit_identical(index, big_board):
    config = CONFIGS[index]
    coeffs = config.coefficients(2048.0)
    rng = np.random.default_rng(index)
    frames = rng.integers(-32768, 32768, size=(999, 12), dtype=np.int16)
    frames[:100] = rng.normal(0, 300, size=(100, 12)).astype(np.int16)  # EMG-like stretch
    frames[100:110] = 32767  # saturation
    frames.astype("<i2").tofile(big_board.board_path("frames.bin"))
    chunks = [int(c) for c in rng.integers(1, 60, size=40)]
    code = (
        "import edgedl, array\n"
        f"p = edgedl.Preprocess(12, highpass_q15={coeffs['highpass_q15']}, rectify={bool(coeffs['rectify'])}, "
        f"envelope_q15={coeffs['envelope_q15']}, decimate={coeffs['decimate']})\n"
        "data = open('frames.bin', 'rb').read()\n"
        "out = open('out.bin', 'wb')\n"
        "pos = 0\n"
        f"for n in {chunks + [999]}:\n"
        "    piece = array.array('h', data[pos * 24:(pos + n) * 24])\n"
        "    if not len(piece): break\n"
        "    buf = array.array('h', bytes(len(piece) * 2))\n"
        "    k = p.process(piece, buf)\n"
        "    out.write(memoryview(buf)[:k * 12])\n"
        "    pos += n\n"
        "out.close()\n")
    big_board.run(code).check()
    board = np.fromfile(big_board.board_path("out.bin"), dtype="<i2").reshape(-1, 12)
    host = Preprocessor(12, coeffs).process(frames)
    assert board.shape == host.shape == ((999 + coeffs["decimate"] - 1) // coeffs["decimate"], 12)
    assert np.array_equal(board, host)


def test_filters_do_what_they_say():
    fs = 2048.0
    t = np.arange(4096) / fs
    drift_and_burst = (2000 * np.sin(2 * np.pi * 0.5 * t) + 300 * np.sin(2 * np.pi * 150 * t)).astype(np.int16)
    frames = np.column_stack([drift_and_burst, np.zeros_like(drift_and_burst)])
    hp = Preprocessor(2, PreprocessConfig(highpass_hz=20, rectify=False, envelope_hz=0, decimate=1)
                      .coefficients(fs)).process(frames)
    assert abs(hp[2048:, 0].mean()) < 20 and 250 < hp[2048:, 0].std() * np.sqrt(2) < 330  # drift gone
    env = Preprocessor(2, PreprocessConfig(highpass_hz=20, envelope_hz=5, decimate=8).coefficients(fs))
    out = env.process(frames)
    assert out.shape == (512, 2)
    assert 150 < out[256:, 0].mean() < 230  # mean of |300 sin| = 191
    assert np.all(out[:, 1] == 0)


def test_quantize_matches_the_board(board):
    values = np.array([-32768, -1000, -17, 0, 1, 16, 17, 5000, 32767], dtype=np.int16)
    host = quantize(values, 1 << 30, -3, 5)
    out = board.run("import edgedl, array\n"
                    "q = bytearray(9)\n"
                    f"edgedl.quantize(array.array('h', {values.tolist()}), q, {1 << 30}, -3, 5)\n"
                    "print(list(q))").check().stdout
    assert np.array_equal(np.array(eval(out), dtype=np.uint8).astype(np.int8), host)
    assert host.tolist() == [-128, -58, 4, 5, 5, 6, 6, 127, 127]  # x / 16, half away from zero, + 5


def test_preprocess_errors_name_the_problem(board):
    out = board.run("import edgedl, array\n"
                    "for expr in ['edgedl.Preprocess(0)', 'edgedl.Preprocess(4, decimate=0)',\n"
                    "             'edgedl.Preprocess(4, highpass_q15=40000)',\n"
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
        "ValueError Preprocess.process: 3 samples are not whole frames of 4 channels",
        "TypeError Preprocess.process: frames_in must be an array('h')",
    ]
