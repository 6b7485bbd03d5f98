"""The op table's names and codes against TFLite's schema, and refusals that say which builtin
and why (through the real edgedl.mpy in the emulator)."""

from __future__ import annotations

import re

import flatbuffers
import pytest
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from neuroedge import native
from neuroedge.bench import zoo
from neuroedge.project import NATIVE_DIR

# The core's abbreviations of schema.fbs's BuiltinOptions names.
OPTION_NAMES = {
    "CONV": "Conv2DOptions", "DEPTHWISE": "DepthwiseConv2DOptions", "POOL": "Pool2DOptions",
    "FC": "FullyConnectedOptions", "CONCAT": "ConcatenationOptions", "MAXMIN": "MaximumMinimumOptions",
    "BATCH_TO_SPACE": "BatchToSpaceNDOptions", "SPACE_TO_BATCH": "SpaceToBatchNDOptions", "PADV2": "PadV2Options",
    "BATCH_MATMUL": "BatchMatMulOptions",
}


def schema_enum(cls) -> dict[str, int]:
    return {name: value for name, value in vars(cls).items() if not name.startswith("_")}


def c_enum(prefix: str) -> dict[str, int]:
    text = (NATIVE_DIR / "edgedl_internal.h").read_text()
    return {name: int(value) for name, value in re.findall(rf"\b{prefix}([A-Z0-9_]+) = (\d+)", text)}


def c_builtin_names() -> list[str]:
    text = (NATIVE_DIR / "edgedl_ops.c").read_text()
    body = text[text.index("BUILTIN_NAMES[] ="):]
    body = body[:body.index(";")]
    joined = "".join(re.findall(r'"([^"]*)"', body))
    return [name.replace("~", "STABLEHLO_").lstrip("!%") for name in joined.split("\\0")[:-1]]


def test_every_builtin_of_the_schema_is_named_in_code_order():
    builtins = schema_enum(schema.BuiltinOperator)
    expected = [name for name, _ in sorted(builtins.items(), key=lambda item: item[1])]
    assert sorted(builtins.values()) == list(range(len(builtins)))
    assert c_builtin_names() == expected


def test_the_cores_op_codes_and_option_types_are_the_schemas():
    builtins, options = schema_enum(schema.BuiltinOperator), schema_enum(schema.BuiltinOptions)
    for name, code in c_enum("OP_").items():
        assert builtins[name] == code, name
    for name, value in c_enum("OPT_").items():
        if name == "NONE":
            continue
        schema_name = OPTION_NAMES.get(name) or "".join(w.capitalize() for w in name.split("_")) + "Options"
        assert options[schema_name] == value, name


def edited(model: bytes, edit) -> bytes:
    """The model after edit(ModelT)."""
    m = schema.ModelT.InitFromObj(schema.Model.GetRootAs(model, 0))
    edit(m)
    builder = flatbuffers.Builder(len(model) + 1024)
    builder.Finish(m.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def with_first_op_code(model: bytes, code: int) -> bytes:
    """The model with its first op's operator code set to `code`."""
    def edit(m):
        opcode = m.operatorCodes[m.subgraphs[0].operators[0].opcodeIndex]
        opcode.builtinCode = code
        opcode.deprecatedBuiltinCode = min(code, schema.BuiltinOperator.PLACEHOLDER_FOR_GREATER_OP_CODES)
    return edited(model, edit)


def zoo_model(name: str) -> bytes:
    return zoo.build_zoo(native.BUILD_DIR / "zoo", [name])[name].read_bytes()


@pytest.mark.parametrize("code, message", [
    (schema.BuiltinOperator.WHILE, "op 0 is WHILE, which edgedl does not run: control flow"),
    (schema.BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM,
     "op 0 is UNIDIRECTIONAL_SEQUENCE_LSTM, which edgedl does not run: a stateful or recurrent op"),
    (schema.BuiltinOperator.STABLEHLO_ADD, "op 0 is STABLEHLO_ADD, which edgedl does not run: a StableHLO op"),
    (schema.BuiltinOperator.SQUARE, "op 0 is SQUARE, which edgedl does not run: not among the ops edgedl runs"),
    (250, "op 0 has builtin code 250, an operator code beyond TFLite's schema"),
])
def test_a_refused_builtin_is_named_with_the_reason(code, message, emulator):
    emulator.board_path("m.tflite").write_bytes(with_first_op_code(zoo_model("conv_same_relu"), code))
    result = emulator.run("import edgedl\nedgedl.Model(open('m.tflite', 'rb').read())")
    assert result.returncode == 1
    assert "ValueError: Model: unsupported model: " + message in result.output, result.output


def test_an_absent_output_is_not_taken_for_an_absent_bias(emulator):
    """Input 2 of a convolution or dense layer may be -1 (no bias); an output may not, even when
    it is the op's third tensor (found by libFuzzer: the loader read before its records)."""
    def edit(m):
        dense = next(op for op in m.subgraphs[0].operators
                     if m.operatorCodes[op.opcodeIndex].builtinCode == schema.BuiltinOperator.FULLY_CONNECTED)
        dense.inputs, dense.outputs = list(dense.inputs[:2]), [-1]
    emulator.board_path("m.tflite").write_bytes(edited(zoo_model("conv_same_relu"), edit))
    result = emulator.run("import edgedl\nedgedl.Model(open('m.tflite', 'rb').read())")
    assert result.returncode == 1
    assert "(FULLY_CONNECTED): output tensor index out of range" in result.output, result.output


def test_a_shrunk_slice_axis_outside_the_input_is_refused(emulator):
    """t[:, 3] with its begin moved past the end: TFLM leaves the output unwritten (libFuzzer
    found two invokes disagreeing); edgedl refuses the model."""
    import numpy as np

    def edit(m):
        graph = m.subgraphs[0]
        sliced = next(op for op in graph.operators
                      if m.operatorCodes[op.opcodeIndex].builtinCode == schema.BuiltinOperator.STRIDED_SLICE
                      and op.builtinOptions.shrinkAxisMask)
        begin = graph.tensors[sliced.inputs[1]]
        m.buffers[begin.buffer].data = np.array([0, 768, 0], np.int32).view(np.uint8)
    emulator.board_path("m.tflite").write_bytes(edited(zoo_model("slices"), edit))
    result = emulator.run("import edgedl\nedgedl.Model(open('m.tflite', 'rb').read())")
    assert result.returncode == 1
    assert "(STRIDED_SLICE): a shrunk axis' begin is outside the input" in result.output, result.output
