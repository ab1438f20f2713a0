"""Write the tiny TFLite classifiers the inference tests run, without TensorFlow.

Run from the repository root (it rewrites the committed files next to this script):

    .venv/bin/python tests/inference/models/build_tiny_models.py

Each model is one FULLY_CONNECTED op (plus a SOFTMAX for the probability models) written
with the `tflite` flatbuffer schema package, a few KB each. The weights are fixed and
chosen so that a test can name the expected label: the colour models answer "red",
"green", "blue" or "dark" for a solid colour, the grey model "dark" or "light".

For a colour model the logit of class c (red, green, blue) is the mean over pixels of
2*x_c - x_other1 - x_other2, and "dark" is minus the mean of all channels, where x is the
normalised pixel (p - 127) / 128. The output is bit-identical on every run, which
`test_build_script_regenerates_identical_bytes` checks.
"""

from __future__ import annotations

import io
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import flatbuffers
import numpy as np
import tflite
from tflite.BuiltinOperator import BuiltinOperator
from tflite.BuiltinOptions import BuiltinOptions
from tflite.TensorType import TensorType

HERE = Path(__file__).resolve().parent
COLOUR_NAMES = ("red", "green", "blue", "dark")


@dataclass
class TensorDef:
    name: str
    shape: tuple[int, ...]
    dtype: int
    data: bytes = b""
    scale: float | None = None
    zero_point: int = 0
    shape_signature: tuple[int, ...] | None = None  # -1 marks a dynamic dimension


@dataclass
class GraphDef:
    tensors: list[TensorDef]
    inputs: list[int]
    outputs: list[int]
    # (opcode, input tensor indices, output tensor indices)
    ops: list[tuple[int, list[int], list[int]]] = field(default_factory=list)


def _aligned_bytes(builder: flatbuffers.Builder, data: bytes) -> int:
    # Weights are read in place by the runtime: keep them 16-byte aligned.
    builder.StartVector(1, len(data), 16)
    builder.head = builder.head - len(data)
    builder.Bytes[builder.head : builder.head + len(data)] = data
    return int(builder.EndVector())


def _int_vector(builder: flatbuffers.Builder, values: list[int], dtype: str = "<i4") -> int:
    return int(builder.CreateNumpyVector(np.asarray(values, dtype=dtype)))


def _quantization(builder: flatbuffers.Builder, tensor: TensorDef) -> int:
    scale = builder.CreateNumpyVector(np.asarray([tensor.scale], dtype="<f4"))
    zero_point = _int_vector(builder, [tensor.zero_point], "<i8")
    tflite.QuantizationParametersStart(builder)
    tflite.QuantizationParametersAddScale(builder, scale)
    tflite.QuantizationParametersAddZeroPoint(builder, zero_point)
    return int(tflite.QuantizationParametersEnd(builder))


def _tensor(builder: flatbuffers.Builder, tensor: TensorDef, buffer_index: int) -> int:
    name = builder.CreateString(tensor.name)
    shape = _int_vector(builder, list(tensor.shape))
    quant = _quantization(builder, tensor) if tensor.scale is not None else None
    dynamic = tensor.shape_signature
    signature = None if dynamic is None else _int_vector(builder, list(dynamic))
    tflite.TensorStart(builder)
    tflite.TensorAddShape(builder, shape)
    if signature is not None:
        tflite.TensorAddShapeSignature(builder, signature)
    tflite.TensorAddType(builder, tensor.dtype)
    tflite.TensorAddBuffer(builder, buffer_index)
    tflite.TensorAddName(builder, name)
    if quant is not None:
        tflite.TensorAddQuantization(builder, quant)
    return int(tflite.TensorEnd(builder))


def _operator(builder: flatbuffers.Builder, opcode_index: int, opcode: int, io_: tuple) -> int:
    inputs = _int_vector(builder, io_[0])
    outputs = _int_vector(builder, io_[1])
    if opcode == BuiltinOperator.GATHER:
        tflite.GatherOptionsStart(builder)
        tflite.GatherOptionsAddAxis(builder, 0)
        options, options_type = tflite.GatherOptionsEnd(builder), BuiltinOptions.GatherOptions
    elif opcode in (BuiltinOperator.CAST, BuiltinOperator.RESHAPE):
        options, options_type = None, BuiltinOptions.NONE  # both read all they need from tensors
    elif opcode == BuiltinOperator.MEAN:
        tflite.ReducerOptionsStart(builder)
        tflite.ReducerOptionsAddKeepDims(builder, False)
        options, options_type = tflite.ReducerOptionsEnd(builder), BuiltinOptions.ReducerOptions
    elif opcode == BuiltinOperator.FULLY_CONNECTED:
        tflite.FullyConnectedOptionsStart(builder)
        options, options_type = (
            tflite.FullyConnectedOptionsEnd(builder),
            BuiltinOptions.FullyConnectedOptions,
        )
    else:
        tflite.SoftmaxOptionsStart(builder)
        tflite.SoftmaxOptionsAddBeta(builder, 1.0)
        options, options_type = tflite.SoftmaxOptionsEnd(builder), BuiltinOptions.SoftmaxOptions
    tflite.OperatorStart(builder)
    tflite.OperatorAddOpcodeIndex(builder, opcode_index)
    tflite.OperatorAddInputs(builder, inputs)
    tflite.OperatorAddOutputs(builder, outputs)
    if options is not None:
        tflite.OperatorAddBuiltinOptionsType(builder, options_type)
        tflite.OperatorAddBuiltinOptions(builder, options)
    return int(tflite.OperatorEnd(builder))


def _table_vector(builder: flatbuffers.Builder, offsets: list[int]) -> int:
    builder.StartVector(4, len(offsets), 4)
    for offset in reversed(offsets):
        builder.PrependUOffsetTRelative(offset)
    return int(builder.EndVector())


def serialize(graph: GraphDef) -> bytes:
    """Serialise a one-subgraph model; buffer 0 is the empty sentinel TFLite expects."""
    builder = flatbuffers.Builder(4096)
    opcodes = sorted({op for op, _, _ in graph.ops})
    buffer_offsets = [_buffer(builder, b"")]
    tensor_offsets = []
    for tensor in graph.tensors:
        buffer_index = 0
        if tensor.data:
            buffer_index = len(buffer_offsets)
            buffer_offsets.append(_buffer(builder, tensor.data))
        tensor_offsets.append(_tensor(builder, tensor, buffer_index))
    op_offsets = [
        _operator(builder, opcodes.index(op), op, (inputs, outputs))
        for op, inputs, outputs in graph.ops
    ]
    subgraph = _subgraph(builder, graph, tensor_offsets, op_offsets)
    code_offsets = [_opcode(builder, op) for op in opcodes]
    description = builder.CreateString("photosurvey tiny test model")
    codes_vec = _table_vector(builder, code_offsets)
    subgraphs_vec = _table_vector(builder, [subgraph])
    buffers_vec = _table_vector(builder, buffer_offsets)
    tflite.ModelStart(builder)
    tflite.ModelAddVersion(builder, 3)
    tflite.ModelAddOperatorCodes(builder, codes_vec)
    tflite.ModelAddSubgraphs(builder, subgraphs_vec)
    tflite.ModelAddDescription(builder, description)
    tflite.ModelAddBuffers(builder, buffers_vec)
    builder.Finish(tflite.ModelEnd(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _buffer(builder: flatbuffers.Builder, data: bytes) -> int:
    data_offset = _aligned_bytes(builder, data) if data else None
    tflite.BufferStart(builder)
    if data_offset is not None:
        tflite.BufferAddData(builder, data_offset)
    return int(tflite.BufferEnd(builder))


def _opcode(builder: flatbuffers.Builder, op: int) -> int:
    tflite.OperatorCodeStart(builder)
    tflite.OperatorCodeAddDeprecatedBuiltinCode(builder, op)
    tflite.OperatorCodeAddBuiltinCode(builder, op)
    tflite.OperatorCodeAddVersion(builder, 1)
    return int(tflite.OperatorCodeEnd(builder))


def _subgraph(builder: flatbuffers.Builder, graph: GraphDef, tensors: list, ops: list) -> int:
    tensors_vec = _table_vector(builder, tensors)
    inputs = _int_vector(builder, graph.inputs)
    outputs = _int_vector(builder, graph.outputs)
    ops_vec = _table_vector(builder, ops)
    name = builder.CreateString("main")
    tflite.SubGraphStart(builder)
    tflite.SubGraphAddTensors(builder, tensors_vec)
    tflite.SubGraphAddInputs(builder, inputs)
    tflite.SubGraphAddOutputs(builder, outputs)
    tflite.SubGraphAddOperators(builder, ops_vec)
    tflite.SubGraphAddName(builder, name)
    return int(tflite.SubGraphEnd(builder))


def colour_weights(height: int, width: int) -> np.ndarray:
    """Float FC weights [4, H*W*3] for the classes red, green, blue, dark (NHWC order)."""
    per_channel = np.array(
        [[2, -1, -1], [-1, 2, -1], [-1, -1, 2], [-1, -1, -1]], dtype=np.float64
    ) / (height * width)
    return np.tile(per_channel, (1, height * width))


def grey_weights(height: int, width: int) -> np.ndarray:
    """Float FC weights [2, H*W] for the classes dark, light."""
    return np.array([[-1.0], [1.0]]) / (height * width) * np.ones((1, height * width))


def overflow_weights(height: int, width: int) -> np.ndarray:
    """`colour_weights` with red's row scaled so that its logit overflows float32 (to an
    infinite score) when the photo's mean red is more than half way from mid-grey to either
    end, and stays finite otherwise: a model that breaks on some photos only."""
    weights = colour_weights(height, width)
    red = np.zeros(height * width * 3)
    red[0::3] = np.finfo(np.float32).max / (height * width / 2)
    weights[0] = red
    return weights


def float_graph(weights: np.ndarray, input_shape: tuple[int, ...], *, softmax: bool) -> GraphDef:
    classes = weights.shape[0]
    tensors = [
        TensorDef("image", input_shape, TensorType.FLOAT32),
        TensorDef("weights", weights.shape, TensorType.FLOAT32, weights.astype("<f4").tobytes()),
        TensorDef("bias", (classes,), TensorType.FLOAT32, np.zeros(classes, "<f4").tobytes()),
        TensorDef("logits", (1, classes), TensorType.FLOAT32),
    ]
    graph = GraphDef(tensors, [0], [3], [(BuiltinOperator.FULLY_CONNECTED, [0, 1, 2], [3])])
    if softmax:
        tensors.append(TensorDef("probabilities", (1, classes), TensorType.FLOAT32))
        graph.ops.append((BuiltinOperator.SOFTMAX, [3], [4]))
        graph.outputs = [4]
    return graph


@dataclass(frozen=True)
class QuantSpec:
    dtype: int  # TensorType.INT8 or UINT8
    input_scale: float
    input_zero_point: int
    output_scale: float
    output_zero_point: int


def quantized_graph(
    weights: np.ndarray, input_shape: tuple[int, ...], quant: QuantSpec, *, softmax: bool
) -> GraphDef:
    classes = weights.shape[0]
    weight_scale = float(np.abs(weights).max()) / 127.0
    weight_zero_point = 0 if quant.dtype == TensorType.INT8 else 128
    q_weights = np.round(weights / weight_scale) + weight_zero_point
    q_dtype = "<i1" if quant.dtype == TensorType.INT8 else "<u1"
    bias_scale = quant.input_scale * weight_scale
    tensors = [
        TensorDef(
            "image", input_shape, quant.dtype, b"", quant.input_scale, quant.input_zero_point
        ),
        TensorDef(
            "weights",
            weights.shape,
            quant.dtype,
            q_weights.astype(q_dtype).tobytes(),
            weight_scale,
            weight_zero_point,
        ),
        TensorDef(
            "bias", (classes,), TensorType.INT32, np.zeros(classes, "<i4").tobytes(), bias_scale
        ),
        TensorDef(
            "logits", (1, classes), quant.dtype, b"", quant.output_scale, quant.output_zero_point
        ),
    ]
    graph = GraphDef(tensors, [0], [3], [(BuiltinOperator.FULLY_CONNECTED, [0, 1, 2], [3])])
    if softmax:
        # TFLite requires a quantized softmax output of scale 1/256 (zero point -128 for int8).
        zero_point = -128 if quant.dtype == TensorType.INT8 else 0
        tensors.append(
            TensorDef("probabilities", (1, classes), quant.dtype, b"", 1 / 256, zero_point)
        )
        graph.ops.append((BuiltinOperator.SOFTMAX, [3], [4]))
        graph.outputs = [4]
    return graph


def huge_input_graph(side: int) -> GraphDef:
    """A legal 3-class classifier (MEAN over H, W) whose input is side x side: an OOM probe.

    Not committed: the tests build it on the fly to check validate()'s memory limit.
    """
    axes = np.array([1, 2], dtype="<i4").tobytes()
    tensors = [
        TensorDef("image", (1, side, side, 3), TensorType.FLOAT32),
        TensorDef("axes", (2,), TensorType.INT32, axes),
        TensorDef("scores", (1, 3), TensorType.FLOAT32),
    ]
    return GraphDef(tensors, [0], [2], [(BuiltinOperator.MEAN, [0, 1], [2])])


def dynamic_input_graph(signature: tuple[int, ...]) -> GraphDef:
    """The MEAN classifier of `huge_input_graph` at 1 x 1, exported with the input shape
    `signature` (-1 for a dynamic dimension). Not committed: built by the tests."""
    graph = huge_input_graph(1)
    graph.tensors[0].shape_signature = signature
    return graph


def bright_gather_graph() -> GraphDef:
    """A 2 x 2 uint8 model that fails to run on bright photos only: it looks each pixel value
    up in a table of 250 scores (its 12 outputs are the values themselves), and the runtime
    refuses to run a lookup past the table's end, that is on any value from 250 to 255. The
    softmax at the end makes the output kind plain from the graph, so loading runs nothing.
    With scale 1/128 and zero point 127 the input is the pixel itself (see `build_all`)."""
    shape = (1, 2, 2, 3)
    table = np.arange(250, dtype="<f4") / 250
    tensors = [
        TensorDef("image", shape, TensorType.UINT8, b"", 1 / 128, 127),
        TensorDef("index", shape, TensorType.INT32),
        TensorDef("table", (250,), TensorType.FLOAT32, table.tobytes()),
        TensorDef("looked_up", shape, TensorType.FLOAT32),
        TensorDef("shape", (2,), TensorType.INT32, np.array([1, 12], "<i4").tobytes()),
        TensorDef("logits", (1, 12), TensorType.FLOAT32),
        TensorDef("probabilities", (1, 12), TensorType.FLOAT32),
    ]
    ops = [
        (BuiltinOperator.CAST, [0], [1]),
        (BuiltinOperator.GATHER, [2, 1], [3]),
        (BuiltinOperator.RESHAPE, [3, 4], [5]),
        (BuiltinOperator.SOFTMAX, [5], [6]),
    ]
    return GraphDef(tensors, [0], [6], ops)


def with_packed_labels(model: bytes, labels: list[str]) -> bytes:
    """Append a zip holding labels.txt, as the TFLite metadata writer packs associated files."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zf:
        info = zipfile.ZipInfo("labels.txt", date_time=(2020, 1, 1, 0, 0, 0))
        zf.writestr(info, "\n".join(labels) + "\n")
    return model + archive.getvalue()


# (file stem, model bytes, labels file text or None when the labels are packed in the model)
def build_all() -> dict[str, tuple[bytes, str | None]]:
    """Every tiny model, keyed by file stem, with its sidecar labels text."""
    plain = "\n".join(COLOUR_NAMES) + "\n"
    with_ids = "".join(f"c{i}\t{name}\n" for i, name in enumerate(COLOUR_NAMES))
    # x = (p - 127) / 128 with scale 1/128 and zero point -1 gives q = p - 128 exactly.
    int8 = QuantSpec(TensorType.INT8, 1 / 128, -1, 1 / 16, 0)
    # With scale 1/128 and zero point 127 a uint8 input is the pixel itself.
    uint8 = QuantSpec(TensorType.UINT8, 1 / 128, 127, 1 / 16, 128)
    # Deliberately awkward parameters so the general (table) quantize path is exercised.
    grey = QuantSpec(TensorType.INT8, 0.02, 3, 0.05, -10)
    return {
        "float_logits": (
            serialize(float_graph(colour_weights(8, 8), (1, 8, 8, 3), softmax=False)),
            plain,
        ),
        "float_probs": (
            serialize(float_graph(colour_weights(8, 8), (1, 8, 8, 3), softmax=True)),
            with_ids,
        ),
        "int8_logits": (
            serialize(quantized_graph(colour_weights(12, 12), (1, 12, 12, 3), int8, softmax=False)),
            plain,
        ),
        "uint8_probs": (
            serialize(quantized_graph(colour_weights(8, 8), (1, 8, 8, 3), uint8, softmax=True)),
            plain,
        ),
        "grey_int8": (
            serialize(quantized_graph(grey_weights(8, 8), (1, 8, 8, 1), grey, softmax=False)),
            "dark\nlight\n",
        ),
        "nan_logits": (  # a broken model: every score comes out NaN
            serialize(float_graph(np.full((4, 8 * 8 * 3), np.nan), (1, 8, 8, 3), softmax=False)),
            plain,
        ),
        "red_overflow": (  # breaks on bright or dark red only: an infinite red score
            serialize(float_graph(overflow_weights(8, 8), (1, 8, 8, 3), softmax=False)),
            plain,
        ),
        "bright_gather": (  # fails to run on pixel values of 250 or more only
            serialize(bright_gather_graph()),
            "".join(f"v{i}\n" for i in range(12)),
        ),
        "not_image": (
            serialize(float_graph(np.eye(3, 16), (1, 16), softmax=False)),
            "a\nb\nc\n",
        ),
        "packed_labels": (
            with_packed_labels(
                serialize(float_graph(colour_weights(6, 10), (1, 6, 10, 3), softmax=False)),
                list(COLOUR_NAMES),
            ),
            None,
        ),
    }


def main(out_dir: Path = HERE) -> None:
    for stem, (model, labels) in build_all().items():
        (out_dir / f"{stem}.tflite").write_bytes(model)
        if labels is not None:
            (out_dir / f"{stem}.labels.txt").write_text(labels, encoding="utf-8")
        print(f"{stem}.tflite: {len(model)} bytes", file=sys.stderr)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
