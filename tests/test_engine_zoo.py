"""EdgeDL against TFLite Micro on a seeded zoo of Keras models: byte-for-byte."""

from __future__ import annotations

import numpy as np
import pytest

from neuroedge import infer, native
from neuroedge.bench import tflm, zoo
from neuroedge.emulator import Emulator

INPUTS_PER_MODEL = 100


@pytest.fixture(scope="module")
def zoo_models() -> dict:
    return {name: path.read_bytes() for name, path in zoo.build_zoo(native.BUILD_DIR / "zoo").items()}


@pytest.fixture(scope="module")
def zoo_board(edgedl_mpy, tmp_path_factory):
    with Emulator(tmp_path_factory.mktemp("zoo-board"), module=edgedl_mpy, heap=16 * 1024 * 1024) as emulator:
        yield emulator


def random_inputs(model: bytes, count: int, seed: int) -> np.ndarray:
    shape, dtype = tflm.input_signature(model)
    rng = np.random.default_rng(seed)
    if dtype == np.float32:
        x = rng.normal(0, 2, size=(count,) + shape).astype(np.float32)
        x[0] = 0
        x[1] = 1e3  # saturates
        return x
    x = rng.integers(-128, 128, size=(count,) + shape, dtype=np.int8)
    x[0], x[1], x[2] = -128, 127, 0  # the extremes of the int8 range
    return x


def test_zoo_covers_every_op_and_option(zoo_models):
    assert len(zoo_models) >= 30
    seen = set()
    for model in zoo_models.values():
        seen.update(zoo.tflite_op_names(model))
    assert set(zoo.SUPPORTED_OPS) <= seen, set(zoo.SUPPORTED_OPS) - seen


def test_the_fuzz_seeds_hold_every_op(zoo_models):
    seen = set()
    for name in zoo.FUZZ_SEED_MODELS:
        seen.update(zoo.tflite_op_names(zoo_models[name]))
    assert set(zoo.SUPPORTED_OPS) <= seen, set(zoo.SUPPORTED_OPS) - seen


@pytest.mark.slow
@pytest.mark.parametrize("name", [spec.name for spec in zoo.ZOO])
def test_zoo_model_outputs_equal_tflite_micro(name, zoo_models, zoo_board):
    model = zoo_models[name]
    oracle = zoo_models[zoo.SPECS[name].oracle or name]
    x = random_inputs(model, INPUTS_PER_MODEL, seed=sum(map(ord, name)))
    got, report = infer.run_on_emulator(model, x, board=zoo_board)
    expected = tflm.run_reference(oracle, x)
    got = got.reshape(expected.shape)
    mismatches = int(np.sum(got != expected))
    assert mismatches == 0, f"{name}: {mismatches} of {expected.size} output values differ"
    # The arena planned once at load is no larger than the part of TFLM's arena that holds tensors
    # (its "head"), and the parsed model no larger than TFLM's persistent allocations (its "tail").
    reference = tflm.reference_arena(oracle)
    assert report.arena_bytes <= reference["head"]
    assert report.meta_bytes <= reference["tail"]


def test_tflm_itself_is_wrong_on_the_dynamic_batch_dilated_tcn(zoo_models):
    """Why that model's oracle is its static-batch twin (the same network and weights): TFLM runs the
    dynamic one with the file's batch-1 shapes, and most of its outputs differ from the twin's."""
    dynamic, static = zoo_models["dilated_tcn_dynamic_batch"], zoo_models["dilated_tcn_static_batch"]
    x = random_inputs(static, 20, seed=1)
    assert np.mean(tflm.run_reference(dynamic, x) != tflm.run_reference(static, x)) > 0.5
