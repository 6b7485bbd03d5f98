"""Keras -> full-int8 .tflite, and what edgedl can run.

Shared by the model zoo (tests) and training: int8 activations, per-channel
int8 weights, int32 bias, a representative set from real training windows.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import sys
import tempfile

from .project import NATIVE_DIR


def _op_table_names() -> tuple[str, ...]:
    """The ops edgedl runs: the names in the op table's rows (device/native/edgedl_ops_*.c). SHAPE and
    PACK are folded at load (they compute a shape: a dynamic-batch Flatten), and so is STRIDED_SLICE
    when it slices a shape."""
    rows = (re.findall(r'^\s*\{"([A-Z0-9_]+)", OP_', path.read_text(), re.M)
            for path in sorted(NATIVE_DIR.glob("edgedl_ops_*.c")))
    return tuple(name for names in rows for name in names)


SUPPORTED_OPS = _op_table_names()


@contextlib.contextmanager
def captured_output():
    """Collects what C/C++ code prints to fds 1 and 2 (TensorFlow's converter, TFLM's
    allocation report); yields a list that receives the text."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    text: list[str] = []
    with tempfile.TemporaryFile(mode="w+b") as capture:
        for fd in saved:
            os.dup2(capture.fileno(), fd)
        try:
            yield text
        finally:
            ctypes.CDLL(None).fflush(None)
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)
            capture.seek(0)
            text.append(capture.read().decode(errors="replace"))


def quiet_tensorflow():
    """TensorFlow imported with its logging turned down to errors."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import absl.logging
    import tensorflow as tf

    absl.logging.set_verbosity(absl.logging.ERROR)
    tf.get_logger().setLevel("ERROR")
    return tf


def convert_int8(model, representative, float_io: bool = False) -> bytes:
    """Full-integer quantization: int8 activations, per-channel int8 weights, int32 bias."""
    tf = quiet_tensorflow()
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([sample[None].astype("float32")] for sample in representative)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if not float_io:
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    log: list[str] = []
    try:
        with captured_output() as log:  # the converter prints pages of diagnostics
            return converter.convert()
    except Exception as exc:
        raise RuntimeError(f"TFLite conversion failed: {exc}\n{''.join(log)[-3000:]}") from exc


def tflite_op_names(model: bytes) -> list[str]:
    """Builtin op names of a .tflite's first subgraph, in execution order."""
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    root = schema.Model.GetRootAs(model, 0)
    graph = root.Subgraphs(0)
    result = []
    for i in range(graph.OperatorsLength()):
        code = root.OperatorCodes(graph.Operators(i).OpcodeIndex())
        result.append(names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "UNKNOWN"))
    return result


def unsupported_ops(model: bytes) -> list[str]:
    """The model's ops edgedl does not run, by name."""
    return sorted(set(tflite_op_names(model)) - set(SUPPORTED_OPS))
