"""edgedl.Stream in real MicroPython (x64 .mpy in the unix port) against the numpy model."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from helpers import DEVICE_TEST_DIR
from stream_model import StreamModel

CHANNEL_COUNTS = [1, 2, 3, 16, 64, 120, 216, 312, 408]


def random_scenario(rng: random.Random, index: int):
    channels = rng.choice(CHANNEL_COUNTS)
    window = rng.choice([1, 2, 5, 20, 40, rng.randint(1, 64)])
    hop = rng.choice([1, window, max(1, window // 2), window + rng.randint(1, 10), rng.randint(1, 2 * window)])
    capacity = window + rng.choice([0, 1, hop, rng.randint(0, 3 * window)])
    kind = rng.choice(["none", "range", "list", "permutation"])
    if kind == "none":
        select = None
    elif kind == "range":
        first = rng.randint(0, channels - 1)
        select = [first, rng.randint(first + 1, channels)]
    else:
        count = rng.randint(1, channels)
        select = rng.sample(range(channels), count)
        if kind == "list":
            select.sort()
    n_frames = rng.randint(0, 300)
    np_rng = np.random.default_rng(index)
    frames = np_rng.integers(-32768, 32768, size=(n_frames, channels), dtype=np.int16)
    frames[:, 0] = np.arange(n_frames)  # frame numbers make misplaced frames easy to see
    if n_frames:
        frames[0, -1] = -32768
    frame_bytes = 2 * channels
    ops, remaining = [], n_frames * frame_bytes
    while remaining:
        # Pushes of any size: empty, a few bytes, split frames, many frames.
        size = min(remaining, rng.choice([0, 1, rng.randint(1, frame_bytes), frame_bytes,
                                          rng.randint(1, 8 * frame_bytes)]))
        ops.append(["push", size, rng.choice(["bytes", "bytearray", "memoryview", "array"])])
        remaining -= size
        if rng.random() < 0.4:  # a lagging consumer reads rarely, so the ring overflows
            ops.append(["read", rng.choice([1, 2, 1000])])
    ops.append(["read", 10000])
    sel_model = None if select is None else (list(range(*select)) if kind == "range" else select)
    config = {"channels": channels, "window": window, "hop": hop, "capacity": capacity,
              "select": select, "select_kind": kind}
    return config, frames, StreamModel(frames, window, hop, capacity, sel_model), ops


def run_scenarios(emulator, count: int, seed: int):
    rng = random.Random(seed)
    scenarios, models = [], []
    for i in range(count):
        config, frames, model, ops = random_scenario(rng, seed * 1000 + i)
        data = f"s{i}.bin"
        frames.astype("<i2").tofile(emulator.board_path(data))
        scenarios.append({"config": config, "data": data, "ops": ops})
        models.append(model)
    emulator.board_path("scenarios.json").write_text(json.dumps(scenarios))
    result = emulator.run_file(DEVICE_TEST_DIR / "stream_driver.py", timeout=300).check()
    lines = result.stdout.strip().splitlines()
    assert len(lines) == count, result.output
    return scenarios, models, [json.loads(line) for line in lines]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_chunkings_windows_and_overload_match_numpy(big_emulator, seed):
    scenarios, models, outputs = run_scenarios(big_emulator, 40, seed)
    total_drops = total_windows = 0
    for i, (sc, model, out) in enumerate(zip(scenarios, models, outputs)):
        where = f"scenario {i}: {sc['config']}"
        expected_windows = []
        log = iter(out["log"])
        for op in sc["ops"]:
            entry = next(log)
            if op[0] == "push":
                assert entry == model.push(op[1]), f"{where}: frames completed by push"
            else:
                ready, got, stats = entry
                assert ready == model.ready(), f"{where}: ready()"
                read_now = 0
                for _ in range(op[1]):
                    w = model.read()
                    if w is None:
                        break
                    expected_windows.append(w)
                    read_now += 1
                assert got == read_now, f"{where}: windows read"
                assert stats == model.stats(), f"{where}: stats after read"
        assert out["stats"] == model.stats(), where
        cfg = sc["config"]
        assert out["attrs"] == [len(model.select), cfg["channels"], cfg["window"], cfg["hop"], cfg["capacity"]]
        raw = big_emulator.board_path(sc["data"] + ".windows").read_bytes()
        expected = b"".join(w.astype("<i2").tobytes() for w in expected_windows)
        assert raw == expected, f"{where}: window contents differ"
        total_drops += model.dropped
        total_windows += model.windows
    # The random schedules must really exercise overload and windowing.
    assert total_drops > 0 and total_windows > 100


def test_select_312_channel_quattrocento_frame_to_192_grid_channels(emulator):
    """The reference use: MULTIPLE IN 1-3 (channels 96..287) out of the 312-channel mode."""
    frames = np.random.default_rng(7).integers(-32768, 32768, size=(50, 312), dtype=np.int16)
    frames.astype("<i2").tofile(emulator.board_path("q.bin"))
    result = emulator.run(
        "import edgedl, array\n"
        "s = edgedl.Stream(312, 20, hop=10, capacity=40, select=range(96, 288))\n"
        "s.push(open('q.bin', 'rb').read())\n"
        "out = array.array('h', bytes(2 * 20 * 192))\n"
        "f = open('w.bin', 'wb')\n"
        "while s.read(out): f.write(out)\n"
        "f.close()\n"
        "print(s.channels, s.stats()['windows'], s.stats()['frames_dropped'])\n").check()
    # 50 frames into a 40-frame ring: 10 dropped; windows start at 10, 20, 30.
    assert result.stdout.split() == ["192", "3", "10"]
    got = np.frombuffer(emulator.board_path("w.bin").read_bytes(), "<i2").reshape(-1, 20, 192)
    for i, start in enumerate([10, 20, 30]):
        assert np.array_equal(got[i], frames[start:start + 20, 96:288])


def test_lagging_consumer_drops_oldest_frames_and_counts_them(emulator):
    result = emulator.run(
        "import edgedl, array\n"
        "s = edgedl.Stream(4, 10, hop=5, capacity=50)\n"
        "for i in range(1000):\n"
        "    s.push(bytes([i & 255, 0] * 4))\n"
        "st = s.stats()\n"
        "out = array.array('h', bytes(80))\n"
        "s.read(out)\n"
        "print(st['frames_pushed'], st['frames_dropped'], st['frames_held'], st['windows_ready'], out[0])\n").check()
    # 1000 frames into a 50-frame ring: 950 dropped, never a crash; the first
    # window starts at the oldest frame still held (frame 950, value 950 & 255).
    assert result.stdout.split() == ["1000", "950", "50", "9", str(950 & 255)]


def test_push_and_read_allocate_nothing(emulator):
    """The hot path (push, read, ready) must not touch the GC heap."""
    result = emulator.run(
        "import edgedl, array, gc\n"
        "def hot_loop(s, chunk, out, n):\n"  # locals only: the loop itself allocates nothing
        "    while n:\n"
        "        n -= 1\n"
        "        s.push(chunk)\n"
        "        while s.read(out):\n"
        "            pass\n"
        "        s.ready()\n"
        "def allocated(n):\n"
        "    s = edgedl.Stream(312, 20, hop=10, capacity=64, select=range(96, 288))\n"
        "    out = array.array('h', bytes(2 * 20 * 192))\n"
        "    chunk = bytes(312 * 2 * 7 + 3)\n"  # odd size: partial frames on every push
        "    gc.collect()\n"
        "    gc.disable()\n"
        "    before = gc.mem_free()\n"
        "    hot_loop(s, chunk, out, n)\n"
        "    after = gc.mem_free()\n"
        "    gc.enable()\n"
        "    return before - after, s.stats()['windows']\n"
        "print(*allocated(200))\n").check()
    allocated, windows = map(int, result.stdout.split())
    assert windows > 100
    assert allocated == 0


def test_reset_forgets_frames_and_counters(emulator):
    result = emulator.run(
        "import edgedl\n"
        "s = edgedl.Stream(2, 3)\n"
        "s.push(bytes(4 * 10 + 1))\n"
        "s.reset()\n"
        "print(sorted(s.stats().items()))\n").check()
    assert result.stdout.strip() == ("[('bytes_discarded', 0), ('bytes_pending', 0), ('counter_gaps', 0), "
                                     "('frames_dropped', 0), "
                                     "('frames_held', 0), ('frames_lost', 0), ('frames_pushed', 0), "
                                     "('windows', 0), ('windows_ready', 0)]")


ERROR_CASES = [
    ("edgedl.Stream(0, 10)", "ValueError", "channels must be >= 1, got 0"),
    ("edgedl.Stream(409, 10)", "ValueError", "channels must be 1..408 (Quattrocento maximum), got 409"),
    ("edgedl.Stream(8, 0)", "ValueError", "window must be >= 1, got 0"),
    ("edgedl.Stream(8, 10, hop=0)", "ValueError", "hop must be >= 1, got 0"),
    ("edgedl.Stream(8, 10, capacity=9)", "ValueError", "capacity (9 frames) must hold at least one window (10 frames)"),
    ("edgedl.Stream(8, 10, select=[])", "ValueError", "select must keep 1..8 channels, got 0"),
    ("edgedl.Stream(8, 10, select=range(10))", "ValueError", "select must keep 1..8 channels, got 10"),
    ("edgedl.Stream(8, 10, select=[1, 8])", "ValueError", "select[1] = 8 is outside 0..7"),
    ("edgedl.Stream(8, 10, select=[-1])", "ValueError", "select[0] = -1 is outside 0..7"),
    ("edgedl.Stream(8, 10, select=[3, 1, 3])", "ValueError", "select lists a channel twice"),
    ("edgedl.Stream(8, 10, select=['a'])", "TypeError", ""),
    ("edgedl.Stream(8, 10, select=5)", "TypeError", ""),
    ("edgedl.Stream('8', 10)", "TypeError", ""),
    ("edgedl.Stream(8)", "TypeError", ""),
    ("edgedl.Stream(8, 10, capacity=100000000)", "MemoryError",
     "edgedl: no memory for the ring buffer (capacity x channels x 2) (1600000000 bytes)"),
    ("edgedl.Stream(312, 20, capacity=400)", "MemoryError", "edgedl: no memory for the ring buffer"),
    ("edgedl.Stream(8, 10).push(12)", "TypeError", "Stream.push: data must be bytes-like"),
    ("edgedl.Stream(8, 10).push('text')", "TypeError", "Stream.push: data must be bytes-like"),
    ("edgedl.Stream(8, 10).read(bytearray(160))", "TypeError", "Stream.read: out must be a writable array('h')"),
    ("edgedl.Stream(8, 10).read(bytes(160))", "TypeError", "Stream.read: out must be a writable array('h')"),
    ("edgedl.Stream(8, 10).read(array.array('i', bytes(320)))", "TypeError", "out must be a writable array('h')"),
    ("edgedl.Stream(8, 10).read(array.array('h', bytes(158)))", "ValueError",
     "Stream.read: out has 79 items, window needs 80 (10 frames x 8 channels)"),
    ("edgedl.Stream(8, 10, select=range(2, 4)).read(array.array('h', bytes(160)))", "ValueError",
     "out has 80 items, window needs 20 (10 frames x 2 channels)"),
]


def test_bad_arguments_raise_errors_that_name_the_problem(emulator):
    code = ["import edgedl, array", "cases = ["]
    code += [f"    {expr!r}," for expr, _, _ in ERROR_CASES]
    code += ["]",
             "for expr in cases:",
             "    try:",
             "        eval(expr)",
             "        print('no error')",
             "    except Exception as e:",
             "        print(type(e).__name__ + ': ' + str(e))"]
    lines = emulator.run("\n".join(code)).check().stdout.strip().splitlines()
    assert len(lines) == len(ERROR_CASES)
    for (expr, kind, message), line in zip(ERROR_CASES, lines):
        assert line.startswith(kind + ":"), f"{expr}: {line}"
        assert message in line, f"{expr}: {line}"


def test_counter_channel_reveals_frames_lost_before_the_stream(emulator):
    """The Quattrocento's accessory counter: a jump means frames never arrived."""
    counters = list(range(65530, 65536)) + list(range(0, 5)) + list(range(8, 12))  # wraps, then 3 lost
    frames = np.zeros((len(counters), 6), dtype="<i2")
    frames[:, 4] = np.array(counters, dtype=np.uint16).view(np.int16)
    frames.tofile(emulator.board_path("c.bin"))
    out = emulator.run("import edgedl\n"
                    "s = edgedl.Stream(6, 2, select=range(0, 4), counter=4)\n"
                    "data = open('c.bin', 'rb').read()\n"
                    "for i in range(0, len(data), 5): s.push(data[i:i + 5])\n"
                    "st = s.stats(); print(st['counter_gaps'], st['frames_lost'], st['frames_pushed'])\n"
                    "try:\n"
                    "    edgedl.Stream(6, 2, counter=6)\n"
                    "except ValueError as e:\n"
                    "    print(e)\n").check().stdout.splitlines()
    assert out == [f"1 3 {len(counters)}", "Stream: counter channel 6 is outside 0..5"]
