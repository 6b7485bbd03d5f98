"""A seeded zoo of small Keras models, converted to full-int8 .tflite.

It exists to test edgedl against TFLite Micro: together the models cover every
op and option edgedl runs (see SUPPORTED_OPS), with shapes typical of HD-EMG
windows (10 to 400 frames, 8 to 192 channels). Models are built with a fixed
batch of 1 so the converter emits static shapes (a dynamic batch adds SHAPE /
STRIDED_SLICE ops that no MCU engine needs). Conversion results are cached by
a key over this file's source, the seed and the TensorFlow version.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..convert import SUPPORTED_OPS, convert_int8, quiet_tensorflow, tflite_op_names, unsupported_ops  # noqa: F401

REFERENCE_MODEL = "neuroedge_ref_192"
# Small, varied models the fuzzers mutate: together they hold every op edgedl runs.
FUZZ_SEED_MODELS = ("conv_same_relu", "depthwise_dm2_valid", "residual_add_relu", "concat_channels",
                    "float_io_conv", "mean_keepdims_broadcast_add", "maxpool_same_and_valid", "avgpool_same_and_valid",
                    "squeeze_rewritten", "dynamic_batch_conv", "dynamic_batch_flatten_head", "causal_tcn",
                    "gated_units", "separate_activations", "reductions", "paddings", "slices",
                    "splits_and_gather", "attention", "dilated_tcn_dynamic_batch")


@dataclass(frozen=True)
class ZooSpec:
    name: str
    input_shape: tuple          # (frames, channels) or any shape without the batch
    layers: Callable            # (keras module, input tensor) -> output tensor
    float_io: bool = False      # keep float32 input/output (QUANTIZE / DEQUANTIZE at the ends)
    conv_heavy: bool = False    # used by `neuroedge bench engine`
    new_ops_bench: bool = False  # used by `neuroedge bench engine --new-ops`
    dynamic_batch: bool = False  # batch None: the converter emits EXPAND_DIMS for 1-D layers
    squeeze: bool = False       # rewrite dims-dropping RESHAPEs to SQUEEZE (see reshape_to_squeeze)
    # The zoo model whose TFLM outputs are this one's oracle, made from the same weights. For a
    # dilated Conv1D with a dynamic batch (SPACE_TO_BATCH_ND ... BATCH_TO_SPACE_ND) TFLM's own
    # output is wrong (it runs the model file's batch-1 shapes: tflite-micro issues 2319 and
    # 3185), so its static-batch twin is the oracle.
    oracle: str = ""


def _chain(*make_layers):
    """Layers applied in sequence; each item is a function of the keras module."""
    def build(keras, x):
        for make in make_layers:
            x = make(keras)(x)
        return x
    return build


def _residual(keras, x, act):
    L = keras.layers
    a = L.Conv1D(16, 3, padding="same", activation="relu")(x)
    b = L.Conv1D(16, 3, padding="same")(a)
    y = L.Add()([a, b])
    if act:
        y = L.ReLU()(y)
    return L.Dense(5)(L.GlobalAveragePooling1D()(y))


def _concat_channels(keras, x):
    L = keras.layers
    a = L.Conv1D(8, 3, padding="same", activation="relu")(x)
    b = L.Conv1D(12, 5, padding="same", activation="relu")(x)
    y = L.Concatenate(axis=-1)([a, b])
    return L.Dense(7, activation="softmax")(L.GlobalAveragePooling1D()(y))


def _concat_time(keras, x):
    L = keras.layers
    a = L.Conv1D(8, 3, padding="same")(x)
    b = L.Conv1D(8, 1)(x)
    y = L.Concatenate(axis=1)([a, b, a])
    return L.Dense(4)(L.GlobalAveragePooling1D()(y))


def _mean_keepdims_broadcast_add(keras, x):
    L, ops = keras.layers, keras.ops
    y = L.Conv1D(12, 3, padding="same", activation="relu")(x)
    mean = L.Lambda(lambda t: ops.mean(t, axis=1, keepdims=True))(y)   # MEAN keep_dims
    y = L.Add()([y, L.Lambda(lambda t: ops.broadcast_to(t, (1, 24, 12)))(mean)])
    return L.Dense(3)(L.Reshape((24 * 12,))(y))


def _broadcast_add(keras, x):
    L, ops = keras.layers, keras.ops
    y = L.Conv1D(8, 3, padding="same")(x)
    y = L.Lambda(lambda t: t + ops.mean(t, axis=1, keepdims=True))(y)   # ADD with (1,T,C) + (1,1,C)
    return L.Dense(4)(L.GlobalAveragePooling1D()(y))


def _squeeze(keras, x):
    L, ops = keras.layers, keras.ops
    y = L.Conv1D(1, 5, padding="same", activation="relu")(x)
    y = L.Lambda(lambda t: ops.squeeze(t, axis=-1))(y)                 # SQUEEZE
    return L.Dense(6, activation="softmax")(y)


def _clip_n1_1(keras, x):
    L, ops = keras.layers, keras.ops
    y = L.Conv1D(8, 3, padding="same")(x)
    y = L.Lambda(lambda t: ops.clip(t, -1.0, 1.0))(y)                  # fuses to RELU_N1_TO_1
    return L.Dense(4)(L.GlobalAveragePooling1D()(y))


def _conv2d_grid(keras, x):
    L = keras.layers
    y = L.Reshape((20, 64, 1))(x)
    y = L.Conv2D(4, (3, 3), strides=(1, 2), padding="same", activation="relu")(y)
    y = L.MaxPooling2D((2, 2))(y)
    y = L.Conv2D(8, (3, 3), padding="valid", activation="relu6")(y)
    y = L.AveragePooling2D((2, 2), padding="same")(y)
    return L.Dense(7, activation="softmax")(L.GlobalAveragePooling2D()(y))



# Layers of researchers' own models beyond the project's CNNs (issue: the models people bring).
def _causal_tcn(keras, x):
    L = keras.layers
    y = L.Conv1D(8, 3, padding="causal")(x)                            # PAD -> CONV_2D
    y = L.LeakyReLU(negative_slope=0.1)(y)                              # LEAKY_RELU
    y = L.Conv1D(8, 3, dilation_rate=2, padding="causal")(y)            # PAD -> dilated CONV_2D
    y = L.Activation("tanh")(y)                                         # TANH
    y = L.ZeroPadding1D((2, 1))(y)                                      # PAD
    return L.Dense(4)(L.GlobalAveragePooling1D()(y))


def _gated_units(keras, x):
    L = keras.layers
    a = L.Conv1D(8, 3, padding="same")(x)
    gate = L.Activation("sigmoid")(L.Conv1D(8, 3, padding="same")(x))  # LOGISTIC
    y = L.Multiply()([a, gate])                                          # MUL
    y = L.Subtract()([y, L.Conv1D(8, 1)(x)])                             # SUB
    y = L.Maximum()([y, a])                                              # MAXIMUM
    y = L.Minimum()([y, L.Conv1D(8, 1)(x)])                              # MINIMUM
    return L.Dense(5)(L.GlobalAveragePooling1D()(y))


def _separate_activations(keras, x):
    L = keras.layers
    y = L.Activation("hard_swish")(L.Conv1D(12, 3, padding="same")(x))  # HARD_SWISH
    y = L.GlobalAveragePooling1D()(y)
    a = L.ReLU()(y)                                                      # RELU (MEAN has no fused activation)
    b = L.ReLU(max_value=6.0)(L.Dense(12)(y))                            # fused into FULLY_CONNECTED
    b = L.ReLU(max_value=6.0)(L.Concatenate()([a, b]))                   # RELU6
    return L.Dense(4)(b)


def _reductions(keras, x):
    L, ops = keras.layers, keras.ops
    y = L.Conv1D(8, 3, padding="same")(x)
    total = L.Lambda(lambda t: ops.sum(t, axis=1))(y)                    # SUM
    peak = L.GlobalMaxPooling1D()(y)                                     # REDUCE_MAX
    channel_sum = L.Lambda(lambda t: ops.sum(t, axis=-1, keepdims=True))(y)  # SUM, keep_dims
    return L.Dense(4)(L.Concatenate()([total, peak, L.Flatten()(channel_sum)]))


def _paddings(keras, x):
    L, ops = keras.layers, keras.ops
    y = L.Conv1D(6, 3)(x)
    y = L.Lambda(lambda t: ops.pad(t, [[0, 0], [2, 1], [1, 0]], constant_values=0.5))(y)  # PADV2
    y = L.ZeroPadding1D(3)(y)                                            # PAD
    return L.Dense(3)(L.Flatten()(y))


def _slices(keras, x):
    L, ops = keras.layers, keras.ops
    y = L.Conv1D(8, 3, padding="same")(x)
    a = L.Lambda(lambda t: t[:, 1:9])(y)                                 # STRIDED_SLICE
    b = L.Lambda(lambda t: t[:, 12:2:-2, ::-1])(y)                       # STRIDED_SLICE, negative strides
    c = L.Lambda(lambda t: ops.slice(t, (0, 3, 2), (1, 5, 4)))(y)        # SLICE
    d = L.Lambda(lambda t: t[:, 3])(y)                                   # STRIDED_SLICE, shrunk axis
    e = L.Permute((2, 1))(L.Cropping1D((2, 4))(y))                       # TRANSPOSE
    parts = [L.Flatten()(t) for t in (a, b, c, e)] + [d]
    return L.Dense(5)(L.Concatenate()(parts))


def _splits_and_gather(keras, x):
    L, ops = keras.layers, keras.ops
    y = L.Conv1D(12, 3, padding="same")(x)
    halves = L.Lambda(lambda t: ops.split(t, 2, axis=-1))(y)             # SPLIT
    thirds = L.Lambda(lambda t: ops.split(t, [2, 7], axis=-1))(y)        # SPLIT_V
    picked = L.Lambda(lambda t: ops.take(t, [3, 1, 1, 7, 0], axis=1))(y)  # GATHER
    parts = [L.Flatten()(t) for t in (*halves, *thirds, picked)]
    return L.Dense(4)(L.Concatenate()(parts))


def _dilated_tcn(keras, x):
    L = keras.layers
    y = L.Conv1D(8, 3, dilation_rate=2, padding="causal")(x)
    y = L.Conv1D(8, 3, dilation_rate=4, padding="same")(y)
    y = L.DepthwiseConv1D(3, dilation_rate=2, padding="same")(y)
    y = L.Conv1D(6, 3, dilation_rate=2, padding="valid")(y)
    return L.Dense(4)(L.GlobalAveragePooling1D()(y))


def _gated_tcn(keras, x):
    """An EMG-sized causal TCN with gated units (the new ops at the scale of the project's CNNs)."""
    L = keras.layers
    y = L.LeakyReLU(negative_slope=0.1)(L.Conv1D(32, 3, padding="causal")(x))
    for dilation in (2, 4):
        a = L.Conv1D(32, 3, dilation_rate=dilation, padding="causal")(y)
        gate = L.Activation("sigmoid")(L.Conv1D(32, 3, dilation_rate=dilation, padding="causal")(y))
        y = L.Add()([y, L.Activation("tanh")(L.Multiply()([a, gate]))])
    return L.Dense(7, activation="softmax")(L.GlobalMaxPooling1D()(y))


def _attention_block(keras, x):
    """Self-attention over a strided convolution's frames, EMG-sized."""
    L, ops = keras.layers, keras.ops
    y = L.Conv1D(32, 5, strides=4, padding="same", activation="relu")(x)
    q, k, v = L.Dense(32)(y), L.Dense(32)(y), L.Dense(32)(y)
    scores = L.Softmax()(L.Lambda(lambda t: ops.matmul(t[0], ops.transpose(t[1], (0, 2, 1))))([q, k]))
    y = L.Add()([y, L.Lambda(lambda t: ops.matmul(t[0], t[1]))([scores, v])])
    return L.Dense(7, activation="softmax")(L.GlobalAveragePooling1D()(y))


def _attention(keras, x):
    L, ops = keras.layers, keras.ops
    q, k, v = L.Dense(8)(x), L.Dense(8)(x), L.Dense(8)(x)
    scores = L.Lambda(lambda t: ops.matmul(t[0], ops.transpose(t[1], (0, 2, 1))))([q, k])  # BATCH_MATMUL
    weights = L.Softmax()(scores)
    y = L.Lambda(lambda t: ops.matmul(t[0], t[1]))([weights, v])        # BATCH_MATMUL
    return L.Dense(4)(L.GlobalAveragePooling1D()(y))


ZOO: tuple[ZooSpec, ...] = (
    ZooSpec("conv_same_relu", (20, 16), _chain(
        lambda k: k.layers.Conv1D(8, 3, padding="same", activation="relu"),
        lambda k: k.layers.GlobalAveragePooling1D(), lambda k: k.layers.Dense(7, activation="softmax"))),
    ZooSpec("conv_valid_stride2", (64, 8), _chain(
        lambda k: k.layers.Conv1D(16, 5, strides=2, padding="valid"),
        lambda k: k.layers.GlobalAveragePooling1D(), lambda k: k.layers.Dense(4))),
    ZooSpec("conv_stride3_relu6_maxpool", (90, 32), _chain(
        lambda k: k.layers.Conv1D(12, 7, strides=3, padding="same", activation="relu6"),
        lambda k: k.layers.MaxPooling1D(2), lambda k: k.layers.GlobalAveragePooling1D(),
        lambda k: k.layers.Dense(5))),
    ZooSpec("conv_kernel1_dense", (10, 64), _chain(
        lambda k: k.layers.Conv1D(32, 1, activation="relu"), lambda k: k.layers.Reshape((320,)),
        lambda k: k.layers.Dense(7))),
    ZooSpec("conv_kernel9_avgpool_400", (400, 8), _chain(
        lambda k: k.layers.Conv1D(8, 9, strides=4, padding="same", activation="relu"),
        lambda k: k.layers.AveragePooling1D(4), lambda k: k.layers.GlobalAveragePooling1D(),
        lambda k: k.layers.Dense(3))),
    ZooSpec("depthwise_dm1_same", (50, 24), _chain(
        lambda k: k.layers.DepthwiseConv1D(5, padding="same", activation="relu"),
        lambda k: k.layers.Conv1D(16, 1), lambda k: k.layers.GlobalAveragePooling1D(),
        lambda k: k.layers.Dense(7, activation="softmax"))),
    ZooSpec("depthwise_dm2_valid", (40, 12), _chain(
        lambda k: k.layers.DepthwiseConv1D(3, depth_multiplier=2, padding="valid"),
        lambda k: k.layers.GlobalAveragePooling1D(), lambda k: k.layers.Dense(6))),
    ZooSpec("depthwise_dm3_stride2_relu6", (60, 8), _chain(
        lambda k: k.layers.DepthwiseConv1D(4, strides=2, depth_multiplier=3, padding="same", activation="relu6"),
        lambda k: k.layers.MaxPooling1D(3), lambda k: k.layers.Reshape((10 * 24,)), lambda k: k.layers.Dense(5))),
    ZooSpec("separable_conv", (100, 32), _chain(
        lambda k: k.layers.SeparableConv1D(16, 5, padding="same", activation="relu"),
        lambda k: k.layers.GlobalAveragePooling1D(), lambda k: k.layers.Dense(7, activation="softmax"))),
    ZooSpec("maxpool_same_and_valid", (32, 16), _chain(
        lambda k: k.layers.Conv1D(8, 3), lambda k: k.layers.MaxPooling1D(3, strides=2, padding="same"),
        lambda k: k.layers.MaxPooling1D(2, padding="valid"), lambda k: k.layers.Reshape((7 * 8,)),
        lambda k: k.layers.Dense(4))),
    ZooSpec("avgpool_same_and_valid", (33, 16), _chain(
        lambda k: k.layers.Conv1D(8, 3, padding="same"),
        lambda k: k.layers.AveragePooling1D(3, strides=2, padding="same"),
        lambda k: k.layers.AveragePooling1D(2, strides=1, padding="valid"),
        lambda k: k.layers.GlobalAveragePooling1D(), lambda k: k.layers.Dense(4))),
    ZooSpec("mean_of_input_192", (20, 192), _chain(
        lambda k: k.layers.GlobalAveragePooling1D(), lambda k: k.layers.Dense(7, activation="softmax"))),
    ZooSpec("dense_stack", (10, 8), _chain(
        lambda k: k.layers.Reshape((80,)), lambda k: k.layers.Dense(32, activation="relu"),
        lambda k: k.layers.Dense(16, activation="relu6"), lambda k: k.layers.Dense(7, activation="softmax"))),
    ZooSpec("dense_no_activation", (16, 16), _chain(
        lambda k: k.layers.Reshape((256,)), lambda k: k.layers.Dense(10))),
    ZooSpec("residual_add", (64, 16), lambda k, x: _residual(k, x, act=False)),
    ZooSpec("residual_add_relu", (64, 16), lambda k, x: _residual(k, x, act=True)),
    ZooSpec("concat_channels", (48, 16), _concat_channels),
    ZooSpec("concat_time", (30, 8), _concat_time),
    ZooSpec("mean_keepdims_broadcast_add", (24, 10), _mean_keepdims_broadcast_add),
    ZooSpec("broadcast_add", (36, 12), _broadcast_add),
    ZooSpec("squeeze_dense", (40, 16), _squeeze),
    ZooSpec("clip_relu_n1_to_1", (30, 8), _clip_n1_1),
    ZooSpec("conv2d_grid", (20, 64), _conv2d_grid),
    ZooSpec("float_io_conv", (20, 16), _chain(
        lambda k: k.layers.Conv1D(8, 3, padding="same", activation="relu"),
        lambda k: k.layers.GlobalAveragePooling1D(), lambda k: k.layers.Dense(7, activation="softmax")),
        float_io=True),
    ZooSpec("float_io_dense", (12, 10), _chain(
        lambda k: k.layers.Reshape((120,)), lambda k: k.layers.Dense(16, activation="relu"),
        lambda k: k.layers.Dense(4)), float_io=True),
    ZooSpec("window10_ch8", (10, 8), _chain(
        lambda k: k.layers.Conv1D(4, 3, padding="valid"), lambda k: k.layers.Reshape((32,)),
        lambda k: k.layers.Dense(3))),
    ZooSpec(REFERENCE_MODEL, (20, 192), _chain(
        lambda k: k.layers.Conv1D(4, 3, padding="same", activation="relu"),
        lambda k: k.layers.Conv1D(16, 3, padding="same", activation="relu"),
        lambda k: k.layers.GlobalAveragePooling1D(), lambda k: k.layers.Dense(7, activation="softmax"))),
    ZooSpec("neuroedge_large_192", (20, 192), _chain(
        lambda k: k.layers.Conv1D(32, 5, padding="same", activation="relu"),
        lambda k: k.layers.DepthwiseConv1D(3, padding="same", activation="relu"),
        lambda k: k.layers.Conv1D(32, 1, activation="relu"),
        lambda k: k.layers.GlobalAveragePooling1D(), lambda k: k.layers.Dense(7, activation="softmax")),
        conv_heavy=True),
    ZooSpec("heavy_conv_200x64", (200, 64), _chain(
        lambda k: k.layers.Conv1D(32, 7, padding="same", activation="relu"),
        lambda k: k.layers.DepthwiseConv1D(5, padding="same", activation="relu"),
        lambda k: k.layers.Conv1D(32, 3, strides=2, padding="valid", activation="relu"),
        lambda k: k.layers.GlobalAveragePooling1D(), lambda k: k.layers.Dense(7, activation="softmax")),
        conv_heavy=True),
    ZooSpec("heavy_conv_400x32", (400, 32), _chain(
        lambda k: k.layers.Conv1D(32, 9, strides=2, padding="same", activation="relu"),
        lambda k: k.layers.Conv1D(32, 5, padding="same", activation="relu"),
        lambda k: k.layers.MaxPooling1D(2), lambda k: k.layers.Conv1D(64, 3, activation="relu"),
        lambda k: k.layers.GlobalAveragePooling1D(), lambda k: k.layers.Dense(7, activation="softmax")),
        conv_heavy=True),
    ZooSpec("heavy_depthwise_200x96", (200, 96), _chain(
        lambda k: k.layers.DepthwiseConv1D(7, padding="same", activation="relu"),
        lambda k: k.layers.Conv1D(48, 1, activation="relu"),
        lambda k: k.layers.DepthwiseConv1D(5, strides=2, padding="same", activation="relu6"),
        lambda k: k.layers.Conv1D(48, 1), lambda k: k.layers.GlobalAveragePooling1D(),
        lambda k: k.layers.Dense(7))),
    ZooSpec("window400_ch192_strided", (400, 192), _chain(
        lambda k: k.layers.Conv1D(8, 8, strides=8, activation="relu"),
        lambda k: k.layers.GlobalAveragePooling1D(), lambda k: k.layers.Dense(7, activation="softmax")),
        conv_heavy=True),
    ZooSpec("grouped_conv", (40, 16), _chain(
        lambda k: k.layers.Conv1D(16, 3, groups=4, padding="same", activation="relu"),
        lambda k: k.layers.GlobalAveragePooling1D(), lambda k: k.layers.Dense(4))),
    ZooSpec("dynamic_batch_conv", (24, 16), _chain(
        lambda k: k.layers.Conv1D(8, 3, padding="same", activation="relu"),
        lambda k: k.layers.DepthwiseConv1D(3, padding="valid"),
        lambda k: k.layers.GlobalAveragePooling1D(), lambda k: k.layers.Dense(5)), dynamic_batch=True),
    ZooSpec("squeeze_rewritten", (40, 16), _squeeze, dynamic_batch=True, squeeze=True),
    # Keras' Flatten with a dynamic batch: SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE, folded at load.
    ZooSpec("dynamic_batch_flatten_head", (16, 8), _chain(
        lambda k: k.layers.Conv1D(8, 3, padding="same", activation="relu"),
        lambda k: k.layers.Flatten(), lambda k: k.layers.Dense(5)), dynamic_batch=True),
    ZooSpec("dilated_conv_static", (60, 12), _chain(
        lambda k: k.layers.Conv1D(8, 3, dilation_rate=2, padding="same", activation="relu"),
        lambda k: k.layers.Conv1D(8, 3, dilation_rate=3, padding="valid"),
        lambda k: k.layers.GlobalAveragePooling1D(), lambda k: k.layers.Dense(4))),
    # Layers of the shapes EMG CNNs use, for `neuroedge bench mcu --kernels` (one kernel each).
    ZooSpec("kernel_conv1d_k3_64x64", (64, 64), _chain(
        lambda k: k.layers.Conv1D(64, 3, padding="same", activation="relu"))),
    ZooSpec("kernel_conv2d_3x3_16x32", (16, 256), _chain(
        lambda k: k.layers.Reshape((16, 16, 16)),
        lambda k: k.layers.Conv2D(32, (3, 3), padding="same", activation="relu"))),
    ZooSpec("kernel_dense_1024x64", (32, 32), _chain(
        lambda k: k.layers.Reshape((1024,)), lambda k: k.layers.Dense(64, activation="relu"))),
    # Researchers' own layers: causal TCNs, gates, separate activations, reductions, paddings,
    # slices, splits, gathers and a small attention block.
    ZooSpec("causal_tcn", (24, 8), _causal_tcn),
    ZooSpec("gated_units", (20, 8), _gated_units),
    ZooSpec("separate_activations", (16, 8), _separate_activations),
    ZooSpec("reductions", (20, 8), _reductions),
    ZooSpec("paddings", (16, 8), _paddings),
    ZooSpec("slices", (16, 10), _slices),
    ZooSpec("splits_and_gather", (12, 6), _splits_and_gather),
    ZooSpec("attention", (10, 6), _attention),
    # The new ops at the scale of an EMG window, for `neuroedge bench engine --new-ops`.
    ZooSpec("gated_tcn_200x64", (200, 64), _gated_tcn, new_ops_bench=True),
    ZooSpec("attention_200x64", (200, 64), _attention_block, new_ops_bench=True),
    # With a dynamic batch a dilated Conv1D becomes SPACE_TO_BATCH_ND -> CONV_2D -> BATCH_TO_SPACE_ND.
    ZooSpec("dilated_tcn_dynamic_batch", (32, 8), _dilated_tcn, dynamic_batch=True, oracle="dilated_tcn_static_batch"),
    ZooSpec("dilated_tcn_static_batch", (32, 8), _dilated_tcn),
    ZooSpec("float_io_softmax_192", (20, 192), _chain(
        lambda k: k.layers.Conv1D(8, 3, activation="relu"), lambda k: k.layers.MaxPooling1D(2),
        lambda k: k.layers.GlobalAveragePooling1D(), lambda k: k.layers.Dense(7, activation="softmax")),
        float_io=True),
)
SPECS = {spec.name: spec for spec in ZOO}
KERNEL_MODELS = tuple(spec.name for spec in ZOO if spec.name.startswith("kernel_"))


def build_keras(spec: ZooSpec, seed: int):
    """The spec's Keras model with seeded weights (and the TensorFlow module it was made with)."""
    tf = quiet_tensorflow()
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input(spec.input_shape, batch_size=None if spec.dynamic_batch else 1)
    return keras.Model(inputs, spec.layers(keras, inputs), name=spec.name), tf


def reshape_to_squeeze(model: bytes) -> bytes:
    """The converter folds every squeeze into RESHAPE, so SQUEEZE would go untested:
    rewrite each RESHAPE that only drops size-1 dimensions into the equivalent SQUEEZE."""
    import flatbuffers
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    m = schema.ModelT.InitFromObj(schema.Model.GetRootAs(model, 0))
    graph = m.subgraphs[0]
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.SQUEEZE
    code.version = 1
    m.operatorCodes.append(code)
    for op in graph.operators:
        opcode = m.operatorCodes[op.opcodeIndex]
        if max(opcode.builtinCode, opcode.deprecatedBuiltinCode) != schema.BuiltinOperator.RESHAPE:
            continue
        src = list(graph.tensors[op.inputs[0]].shape)
        dst = list(graph.tensors[op.outputs[0]].shape)
        ones = [i for i, d in enumerate(src) if d == 1]
        fits = [c for c in itertools.combinations(ones, len(src) - len(dst))
                if [d for i, d in enumerate(src) if i not in c] == dst]
        if len(dst) >= len(src) or not fits:
            continue
        dims = list(fits[-1])
        options = schema.SqueezeOptionsT()
        options.squeezeDims = dims
        op.opcodeIndex = len(m.operatorCodes) - 1
        op.inputs = [op.inputs[0]]
        op.builtinOptionsType = schema.BuiltinOptions.SqueezeOptions
        op.builtinOptions = options
    builder = flatbuffers.Builder(len(model) + 1024)
    builder.Finish(m.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def build_model(spec: ZooSpec, seed: int) -> bytes:
    """The spec's model converted to a full-int8 .tflite, refused if it uses an op edgedl does not run."""
    import numpy as np

    model, _ = build_keras(spec, seed)
    representative = np.random.default_rng(seed).normal(size=(32,) + spec.input_shape).astype("float32")
    tflite = convert_int8(model, representative, spec.float_io)
    if spec.squeeze:
        tflite = reshape_to_squeeze(tflite)
    unsupported = unsupported_ops(tflite)
    if unsupported:
        raise ValueError(f"zoo model {spec.name} converted to ops edgedl does not run: {', '.join(unsupported)}")
    return tflite


def seed_of(spec: ZooSpec) -> int:
    """The seed of the spec's weights: its oracle's, so that the two models share them."""
    return 1000 + [s.name for s in ZOO].index(spec.oracle or spec.name)


def _cache_key(spec: ZooSpec, seed: int) -> str:
    import tensorflow as tf

    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update(f"{spec.name}:{seed}:{tf.__version__}".encode())
    return digest.hexdigest()


def build_zoo(cache_dir: Path, names=None) -> dict[str, Path]:
    """Path of each zoo model's .tflite, converting only what the cache lacks."""
    quiet_tensorflow()
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    chosen = [SPECS[n] for n in names] if names is not None else list(ZOO)
    paths = {}
    for spec in chosen:
        seed = seed_of(spec)
        path, key_path = cache_dir / f"{spec.name}.tflite", cache_dir / f"{spec.name}.key"
        key = _cache_key(spec, seed)
        if not (path.exists() and key_path.exists() and key_path.read_text() == key):
            tmp = path.with_suffix(".tflite.tmp")
            tmp.write_bytes(build_model(spec, seed))
            tmp.replace(path)
            key_path.write_text(key)
        paths[spec.name] = path
    return paths
