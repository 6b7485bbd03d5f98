"""edgedl.Model in the emulator: its interface, its checks, and models it must refuse."""

from __future__ import annotations

import re

import numpy as np
import pytest

from neuroedge import infer, native
from neuroedge.bench import tflm, zoo


@pytest.fixture(scope="module")
def models():
    names = [zoo.REFERENCE_MODEL, "float_io_conv", "window400_ch192_strided"]
    return {n: p.read_bytes() for n, p in zoo.build_zoo(native.BUILD_DIR / "zoo", names).items()}


@pytest.fixture(scope="module")
def refused_models():
    """Models edgedl must refuse, made by the real converter."""
    from neuroedge.bench.zoo import ZooSpec, build_keras

    def keras_model(name, layers):
        return build_keras(ZooSpec(name, (40, 8), layers), seed=1)

    rep = np.random.default_rng(0).normal(size=(16, 40, 8)).astype("float32")
    out = {}
    plain, tf = keras_model("plain", lambda k, x: k.layers.Dense(3)(k.layers.Reshape((320,))(x)))
    out["float"] = tf.lite.TFLiteConverter.from_keras_model(plain).convert()
    converter = tf.lite.TFLiteConverter.from_keras_model(plain)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([r[None]] for r in rep)
    converter.target_spec.supported_ops = [
        tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    out["int16"] = converter.convert()
    return out


def run_lines(emulator, code: str) -> list[str]:
    return emulator.run(code).check().stdout.strip().splitlines()


def test_model_reports_shapes_types_quantization_and_memory(models, emulator):
    model = models[zoo.REFERENCE_MODEL]
    emulator.board_path("m.tflite").write_bytes(model)
    lines = run_lines(emulator, "import edgedl\n"
                             "m = edgedl.Model(open('m.tflite', 'rb').read())\n"
                             "print(m.input_shape, m.input_dtype, m.output_shape, m.output_dtype)\n"
                             "print(m.input_quantization[0], m.input_quantization[1], m.output_quantization)\n"
                             "print(m.arena_bytes, m.meta_bytes, m.ops, m.macs)")
    assert lines[0] == "(1, 20, 192) int8 (1, 7) int8"
    scale, zp = lines[1].split()[:2]
    from tflite_micro.python.tflite_micro import runtime

    details = runtime.Interpreter.from_bytes(model).get_input_details(0)
    assert float(scale) == pytest.approx(float(details["quantization_parameters"]["scales"][0]), rel=1e-6)
    assert int(zp) == int(details["quantization_parameters"]["zero_points"][0])
    assert lines[1].endswith("(0.00390625, -128)")  # softmax output
    arena, meta, ops, macs = map(int, lines[2].split())
    assert 0 < arena <= tflm.reference_arena(model)["head"]
    assert ops == len(zoo.tflite_op_names(model)) and macs > 40_000 and meta > 0


def test_model_from_any_buffer_gives_the_same_outputs(models, emulator):
    """bytes, bytearray, and a memoryview at an odd offset (copied, since it could change)."""
    model = models[zoo.REFERENCE_MODEL]
    emulator.board_path("m.tflite").write_bytes(model)
    lines = run_lines(emulator, "import edgedl\n"
                             "raw = open('m.tflite', 'rb').read()\n"
                             "x = bytes(range(256)) * 15\n"
                             "odd = bytearray(1) + bytearray(raw)\n"
                             "for src in (raw, bytearray(raw), memoryview(odd)[1:]):\n"
                             "    out = bytearray(7)\n"
                             "    edgedl.Model(src).invoke(x, out)\n"
                             "    print(bytes(out).hex())")
    assert len(set(lines)) == 1 and len(lines) == 3
    x = np.frombuffer(bytes(range(256)) * 15, dtype=np.int8).reshape(1, 1, 20, 192)
    assert bytes.fromhex(lines[0]) == tflm.run_reference(model, x).tobytes()


def test_float_io_model_takes_and_returns_float32(models, tmp_path):
    model = models["float_io_conv"]
    x = np.random.default_rng(3).normal(size=(5, 20, 16)).astype(np.float32)
    got, report = infer.run_on_emulator(model, x)
    assert report.input_dtype == "float32" and got.dtype == np.float32
    assert np.array_equal(got.reshape(5, -1), tflm.run_reference(model, x.reshape(5, 1, 20, 16)).reshape(5, -1))


INVOKE_ERRORS = [
    ("m.invoke(bytes(3839), bytearray(7))", "ValueError", "input has 3839 bytes, the model's input tensor needs 3840"),
    ("m.invoke(bytes(3840), bytearray(8))", "ValueError", "output has 8 bytes, the model's output tensor needs 7"),
    ("m.invoke(bytes(3840), bytes(7))", "TypeError", "output must be a writable array('b') or bytes-like"),
    ("m.invoke('x' * 3840, bytearray(7))", "TypeError", "input must be a array('b') or bytes-like"),
    ("m.invoke(array.array('h', bytes(3840)), bytearray(7))", "TypeError", "not an array of another type"),
    ("m.invoke(bytes(3840), array.array('f', bytes(28)))", "TypeError", "not an array of another type"),
    ("edgedl.Model(123)", "TypeError", "Model: expected the .tflite file's bytes"),
    ("edgedl.Model('text')", "TypeError", "Model: expected the .tflite file's bytes"),
    ("edgedl.Model(b'')", "ValueError", "Model: malformed model: model is shorter than a flatbuffer header"),
    ("edgedl.Model(b'hello world, not a model')", "ValueError", "has no TFL3 identifier: not a .tflite file"),
    ("edgedl.Model(b'\\x18\\x00\\x00\\x00TFL3')", "ValueError", "Model: malformed model: model table out of bounds"),
]


def test_invoke_and_constructor_errors_name_the_problem(models, emulator):
    emulator.board_path("m.tflite").write_bytes(models[zoo.REFERENCE_MODEL])
    code = ["import edgedl, array", "m = edgedl.Model(open('m.tflite', 'rb').read())"]
    for expr, _, _ in INVOKE_ERRORS:
        code += ["try:", f"    {expr}", "    print('no error')", "except Exception as e:",
                 "    print(type(e).__name__ + ': ' + str(e))"]
    lines = run_lines(emulator, "\n".join(code))
    for (expr, kind, message), line in zip(INVOKE_ERRORS, lines, strict=True):
        assert line.startswith(kind + ":") and message in line, f"{expr}: {line}"


def test_truncated_and_corrupted_models_are_refused_with_a_reason(models, emulator):
    model = models[zoo.REFERENCE_MODEL]
    cases = [model[:n] for n in (8, 12, 64, len(model) // 2, len(model) - 1)]
    rng = np.random.default_rng(5)
    for _ in range(20):
        bad = bytearray(model)
        bad[rng.integers(0, 256)] ^= 0xFF  # the root table, vtables and offsets live near the start
        cases.append(bytes(bad))
    for i, data in enumerate(cases):
        emulator.board_path(f"bad{i}.tflite").write_bytes(data)
    lines = run_lines(emulator, "import edgedl\n"
                             f"for i in range({len(cases)}):\n"
                             "    try:\n"
                             "        m = edgedl.Model(open('bad%d.tflite' % i, 'rb').read())\n"
                             "        m.invoke(bytes(3840), bytearray(7))\n"
                             "        print('ran')\n"
                             "    except ValueError as e:\n"
                             "        print('refused:', e)")
    assert len(lines) == len(cases)
    for line in lines[:5]:  # truncations are always caught
        assert line.startswith("refused: Model: malformed model:"), line
    assert all(line == "ran" or line.startswith("refused: Model: ") for line in lines)


@pytest.mark.slow
@pytest.mark.parametrize("name, message", [
    ("float", "must be a quantized int8 tensor, not FLOAT32"),
    ("int16", "has type INT16 (edgedl runs int8 models"),
])
def test_models_edgedl_cannot_run_are_refused_at_load(name, message, refused_models, emulator):
    emulator.board_path("m.tflite").write_bytes(refused_models[name])
    result = emulator.run("import edgedl\nedgedl.Model(open('m.tflite', 'rb').read())")
    assert result.returncode == 1
    assert "ValueError: Model: " in result.output and message in result.output, result.output


def test_model_too_large_for_the_board_heap_raises_memory_error(models, emulator):
    emulator.board_path("m.tflite").write_bytes(models["window400_ch192_strided"])  # 150 KB arena
    result = emulator.run("import edgedl\nedgedl.Model(open('m.tflite', 'rb').read())")
    assert result.returncode == 1
    assert "MemoryError: edgedl: no memory for the tensor arena (153600 bytes)" in result.output


def test_a_model_that_does_not_fit_says_which_buffer_and_how_much_the_heap_has(models, tmp_path):
    """Through the board's loader (bundle_rules.load_model, as the runtime and `neuroedge infer`
    use it) and the host's emulator commands: the buffer, its bytes, the heap's, and --heap."""
    from helpers import run_neuroedge

    model = tmp_path / "big.tflite"
    model.write_bytes(models["window400_ch192_strided"])  # 150 KB arena
    np.save(tmp_path / "x.npy", np.zeros((1, 1, 400, 192), np.int8))
    run = run_neuroedge("infer", str(model), str(tmp_path / "x.npy"), "--out", str(tmp_path / "y.npy"),
                        "--heap", "128k")
    assert run.returncode == 2, run.stdout + run.stderr
    assert re.search(r"MemoryError: edgedl: no memory for the tensor arena \(153600 bytes\); the heap has \d+ "
                     r"bytes free beside the model file \(\d+ bytes\)", run.stderr), run.stderr
    assert "the emulated board's heap is 131072 bytes: --heap raises it" in run.stderr
    # A model file larger than the heap: its own buffer is named.
    huge = tmp_path / "huge.tflite"
    huge.write_bytes(models["window400_ch192_strided"] + bytes(200_000))
    run = run_neuroedge("infer", str(huge), str(tmp_path / "x.npy"), "--out", str(tmp_path / "y.npy"),
                        "--heap", "128k")
    assert run.returncode == 2 and re.search(r"the model file \S+ needs \d+ bytes, the heap has \d+ free",
                                             run.stderr), run.stderr


def test_invoke_allocates_nothing(models, emulator):
    emulator.board_path("m.tflite").write_bytes(models[zoo.REFERENCE_MODEL])
    lines = run_lines(emulator, "import edgedl, gc\n"
                             "def loop(m, x, out, n):\n"
                             "    while n:\n"
                             "        n -= 1\n"
                             "        m.invoke(x, out)\n"
                             "def measure():\n"
                             "    m = edgedl.Model(open('m.tflite', 'rb').read())\n"
                             "    x, out = bytes(3840), bytearray(7)\n"
                             "    gc.collect(); gc.disable()\n"
                             "    before = gc.mem_free()\n"
                             "    loop(m, x, out, 100)\n"
                             "    after = gc.mem_free()\n"
                             "    gc.enable()\n"
                             "    return before - after\n"
                             "print(measure())")
    assert lines == ["0"]


@pytest.mark.slow
def test_cli_infer_matches_reference_and_bench_reports_identical_outputs(models, tmp_path):
    from helpers import run_neuroedge

    model_path = tmp_path / "ref.tflite"
    model_path.write_bytes(models[zoo.REFERENCE_MODEL])
    x = np.random.default_rng(9).integers(-128, 128, size=(12, 20, 192), dtype=np.int8)
    np.save(tmp_path / "x.npy", x)
    a = run_neuroedge("infer", str(model_path), str(tmp_path / "x.npy"), "--out", str(tmp_path / "a.npy"))
    b = run_neuroedge("infer", str(model_path), str(tmp_path / "x.npy"), "--reference", "--out",
                      str(tmp_path / "b.npy"))
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    assert np.array_equal(np.load(tmp_path / "a.npy").reshape(12, -1), np.load(tmp_path / "b.npy").reshape(12, -1))
    bad = run_neuroedge("infer", str(model_path), str(tmp_path / "a.npy"), "--out", str(tmp_path / "c.npy"))
    assert bad.returncode == 2 and "expected (batch, 1, 20, 192)" in bad.stderr
    bench = run_neuroedge("bench", "engine", str(model_path), "--json")
    assert bench.returncode == 0, bench.stderr
    import json

    result = json.loads(bench.stdout[bench.stdout.index("{"):])
    assert result["models"][0]["identical"] and result["median_speedup"] > 0


def test_embedding_is_the_classifier_heads_input_as_tflite_computes_it(models, emulator):
    """The tensor FULLY_CONNECTED -> SOFTMAX reads (what calibration re-fits a classifier on),
    read after invoke, equals TFLite's reference kernels' intermediate tensor byte for byte."""
    import tensorflow as tf

    model = models[zoo.REFERENCE_MODEL]
    interp = tf.lite.Interpreter(model_content=model, experimental_preserve_all_tensors=True,
                                 experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_REF)
    interp.allocate_tensors()
    fc = next(op for op in interp._get_ops_details() if op["op_name"] == "FULLY_CONNECTED")
    embedding = interp.get_tensor_details()[fc["inputs"][0]]
    inp = interp.get_input_details()[0]
    xs = np.random.default_rng(5).integers(-128, 128, (3, *inp["shape"])).astype(np.int8)
    expected = []
    for x in xs:
        interp.set_tensor(inp["index"], x)
        interp.invoke()
        expected.append(interp.get_tensor(embedding["index"]).tobytes().hex())
    emulator.board_path("m.tflite").write_bytes(model)
    code = ("import edgedl, array\n"
            "m = edgedl.Model(open('m.tflite', 'rb').read())\n"
            "print(m.embedding_shape, m.embedding_quantization)\n"
            "e, out = array.array('b', bytes(m.embedding_shape[-1])), bytearray(7)\n")
    for x in xs:
        code += f"m.invoke(bytes.fromhex('{x.tobytes().hex()}'), out)\nm.embedding(e)\nprint(bytes(e).hex())\n"
    code += ("for bad in ('bytearray(3)', 'array.array(\"h\", bytes(32))'):\n"
             "    try:\n        m.embedding(eval(bad))\n    except (ValueError, TypeError) as exc:\n"
             "        print(type(exc).__name__, exc)\n")
    lines = run_lines(emulator, code)
    scale, zero_point = embedding["quantization"]
    assert lines[0] == f"(1, 16) ({scale!r}, {zero_point})"
    assert lines[1:4] == expected and len(set(expected)) == 3
    assert lines[4] == "ValueError Model.embedding: out has 3 bytes, the embedding needs 16"
    assert lines[5] == "TypeError Model.embedding: out must be a writable array('b') or bytearray"


def test_a_model_without_a_classifier_head_has_no_embedding(emulator):
    from neuroedge.bench.zoo import ZooSpec, build_keras, convert_int8

    headless, _ = build_keras(ZooSpec("headless", (40, 8), lambda k, x: k.layers.Dense(3)(
        k.layers.GlobalAveragePooling1D()(x))), seed=1)
    emulator.board_path("m.tflite").write_bytes(convert_int8(headless, np.zeros((4, 40, 8), np.float32)))
    lines = run_lines(emulator, "import edgedl\nm = edgedl.Model(open('m.tflite', 'rb').read())\n"
                             "print(m.embedding_shape, m.embedding_quantization)\n"
                             "try:\n    m.embedding(bytearray(3))\nexcept ValueError as exc:\n    print(exc)")
    assert lines == ["None None", "Model.embedding: this model has no classifier head (FULLY_CONNECTED -> SOFTMAX "
                                  "at its end)"]
