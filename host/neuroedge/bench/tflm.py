"""TFLite Micro, the oracle: the `tflite-micro` package's interpreter.

It runs TFLM's reference kernels with its default double-rounding
requantization, which is what edgedl must equal byte for byte. Note that TFLM
reuses the input tensor's memory for later tensors, so the input is set again
before every invoke.
"""

from __future__ import annotations

import re
import struct
import time

import numpy as np
from ..errors import InputError


def _interpreter(model: bytes):
    from tflite_micro.python.tflite_micro import runtime

    try:
        return runtime.Interpreter.from_bytes(bytes(model))
    except (struct.error, IndexError, RuntimeError) as exc:  # its flatbuffer reading, or its C++ refusing
        raise InputError(f"tflite-micro cannot load this model: {exc}") from None


def input_signature(model: bytes) -> tuple[tuple, type]:
    """(shape, numpy dtype) of the model's single input."""
    details = _interpreter(model).get_input_details(0)
    return tuple(int(d) for d in details["shape"]), np.dtype(details["dtype"]).type


def run_reference(model: bytes, inputs: np.ndarray) -> np.ndarray:
    """Outputs for a batch (batch, *input_shape), one invoke per record (input 0, output 0)."""
    interp = _interpreter(model)
    details = interp.get_input_details(0)
    shape, dtype = tuple(details["shape"]), np.dtype(details["dtype"])
    if inputs.dtype != dtype:
        raise InputError(f"inputs have dtype {inputs.dtype}, the model's input is {dtype}")
    if int(np.prod(inputs.shape[1:])) != int(np.prod(shape)):
        raise InputError(f"inputs have shape {inputs.shape}, the model's input is {shape}")
    outputs = []
    for record in inputs:
        interp.set_input(record.reshape(shape), 0)
        interp.invoke()
        outputs.append(np.array(interp.get_output(0), copy=True))
    return np.stack(outputs)


def time_reference(model: bytes, x: np.ndarray, repeats: int = 20) -> float:
    """Median seconds per invoke (set_input excluded) on one input record."""
    interp = _interpreter(model)
    shape = tuple(interp.get_input_details(0)["shape"])
    record = x.reshape(shape)
    interp.set_input(record, 0)
    interp.invoke()  # warm up
    inner = max(1, int(0.005 / max(_time_one(interp, record), 1e-7)))
    rounds = []
    for _ in range(repeats):
        total = 0.0
        for _ in range(inner):
            interp.set_input(record, 0)
            total += _time_one(interp, None)
        rounds.append(total / inner)
    return float(np.median(rounds))


def _time_one(interp, record) -> float:
    if record is not None:
        interp.set_input(record, 0)
    t0 = time.perf_counter()
    interp.invoke()
    return time.perf_counter() - t0


def _allocation_report(model: bytes) -> str:
    """What TFLM's RecordingMicroAllocator prints (from C++, so it is captured at the fd level)."""
    from ..convert import captured_output

    interp = _interpreter(model)
    with captured_output() as text:
        interp.print_allocations()
    return text[0]


def reference_arena(model: bytes) -> dict[str, int]:
    """TFLM's arena use for this model: 'total' = 'head' (planned tensors and
    scratch) + 'tail' (persistent: tensor structs, per-channel params, op data)."""
    text = _allocation_report(model)
    found = dict(re.findall(r"Arena allocation (total|head|tail) (\d+) bytes", text))
    if set(found) != {"total", "head", "tail"}:
        raise RuntimeError(f"unexpected tflite-micro allocation report:\n{text}")
    return {k: int(v) for k, v in found.items()}


def reference_arena_bytes(model: bytes) -> int:
    """The total arena tflite-micro allocates for this model."""
    return reference_arena(model)["total"]
