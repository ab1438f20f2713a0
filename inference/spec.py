"""What a model file is: `ModelSpec`, read from the model itself.

Accepted models: one input, an NHWC image [1, H, W, C] with C in {1, 3}, of dtype float32,
uint8 or int8 (per-tensor quantization for the integer ones); one output of K scores,
shaped [K], [1, K] or [1, 1, 1, K], float32, uint8 or int8. Everything else is
`UnsupportedModelError`, with the reason.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from .config import ModelConfig, OutputKind
from .errors import UnsupportedModelError
from .quantization import Quantization

__all__ = ["ModelSpec", "OutputKindSource", "TensorSpec", "tensor_spec"]

OutputKindSource = Literal["config", "graph", "probe"]
_DTYPES = ("float32", "uint8", "int8")


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """Shape, dtype and quantization (None when float) of a model input or output."""

    index: int
    shape: tuple[int, ...]
    dtype: str
    quantization: Quantization | None


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """Everything known about a loaded model; JSON-ready through `to_dict`.

    `output_kind` says whether the raw output is logits (softmax is applied) or
    probabilities, and `output_kind_source` how that was decided: the sidecar config, the
    graph (a SOFTMAX op produces the output), or a probe (outputs on synthetic inputs were
    non-negative and summed to 1, or not). A quantized output is dequantized first.
    """

    path: str
    version: str
    sha256: str
    file_size: int
    backend: str
    xnnpack: bool | None
    input: TensorSpec
    output: TensorSpec
    output_kind: OutputKind
    output_kind_source: OutputKindSource
    label_count: int
    labels_source: str
    config: ModelConfig
    config_source: str

    @property
    def height(self) -> int:
        """Input height in pixels."""
        return self.input.shape[1]

    @property
    def width(self) -> int:
        """Input width in pixels."""
        return self.input.shape[2]

    @property
    def channels(self) -> int:
        """Input channels: 3 (RGB) or 1 (grey)."""
        return self.input.shape[3]

    @property
    def quantized(self) -> bool:
        """Whether the input or the output is integer (quantized)."""
        return self.input.quantization is not None or self.output.quantization is not None

    @property
    def postprocessing(self) -> tuple[str, ...]:
        """The steps from raw output to probabilities, e.g. ("dequantize", "softmax")."""
        steps = ["dequantize"] if self.output.quantization is not None else []
        steps.append("softmax" if self.output_kind == "logits" else "renormalise")
        return tuple(steps)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data; `from_dict` reads it back."""
        data = asdict(self)
        data["config"] = self.config.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        """The inverse of `to_dict`."""
        values = dict(data)
        values["input"] = _tensor_from_dict(values["input"])
        values["output"] = _tensor_from_dict(values["output"])
        values["config"] = ModelConfig.from_mapping(values["config"])
        return cls(**values)


def _tensor_from_dict(data: dict[str, Any]) -> TensorSpec:
    quant = data["quantization"]
    return TensorSpec(
        index=data["index"],
        shape=tuple(data["shape"]),
        dtype=data["dtype"],
        quantization=Quantization(**quant) if quant is not None else None,
    )


def tensor_spec(details: dict[str, Any], role: str) -> TensorSpec:
    """A `TensorSpec` from one entry of `get_input_details()`/`get_output_details()`."""
    dtype = np.dtype(details["dtype"]).name
    if dtype not in _DTYPES:
        raise UnsupportedModelError(f"the {role} is {dtype}; accepted: {', '.join(_DTYPES)}")
    params = details.get("quantization_parameters", {})
    scales = np.asarray(params.get("scales", []))
    zero_points = np.asarray(params.get("zero_points", []))
    quant = None
    if dtype != "float32":
        if scales.size != 1 or zero_points.size != 1 or not scales[0] > 0:
            raise UnsupportedModelError(
                f"the {role} is {dtype} with {scales.size} quantization scales; "
                "accepted: one per-tensor scale and zero point"
            )
        quant = Quantization(scale=float(scales[0]), zero_point=int(zero_points[0]))
    shape = tuple(int(d) for d in details["shape"])
    return TensorSpec(index=int(details["index"]), shape=shape, dtype=dtype, quantization=quant)


def check_image_input(details: list[dict[str, Any]]) -> TensorSpec:
    """The single NHWC image input, or `UnsupportedModelError` saying what is wrong."""
    if len(details) != 1:
        raise UnsupportedModelError(f"the model has {len(details)} inputs; accepted: one image")
    spec = tensor_spec(details[0], "input")
    shape = spec.shape
    if len(shape) != 4 or shape[0] != 1 or shape[3] not in (1, 3) or min(shape) < 1:
        raise UnsupportedModelError(
            f"the input has shape {list(shape)}; accepted: one NHWC image [1, height, width, "
            "channels] with 1 or 3 channels"
        )
    return spec


def check_scores_output(details: list[dict[str, Any]]) -> TensorSpec:
    """The single output of class scores, or `UnsupportedModelError`."""
    if len(details) != 1:
        raise UnsupportedModelError(
            f"the model has {len(details)} outputs; accepted: one vector of class scores"
        )
    spec = tensor_spec(details[0], "output")
    classes = spec.shape[-1] if spec.shape else 0
    if classes < 1 or int(np.prod(spec.shape)) != classes:
        raise UnsupportedModelError(
            f"the output has shape {list(spec.shape)}; accepted: [K], [1, K] or [1, 1, 1, K]"
        )
    return spec


# Ops that pass a softmax output through unchanged in meaning.
_PASS_THROUGH = frozenset({"DEQUANTIZE", "QUANTIZE", "RESHAPE", "SQUEEZE"})


def softmax_in_graph(producers: dict[int, tuple[str, list[int]]], output_index: int) -> bool:
    """Whether the output is made by a SOFTMAX op (possibly reshaped or (de)quantized)."""
    tensor = output_index
    for _ in range(8):  # a short chain; guards against a malformed cycle
        if tensor not in producers:
            return False
        op_name, inputs = producers[tensor]
        if op_name == "SOFTMAX":
            return True
        if op_name not in _PASS_THROUGH or not inputs:
            return False
        tensor = inputs[0]
    return False


def probe_inputs(spec: TensorSpec, *, count: int = 3) -> list[np.ndarray[Any, Any]]:
    """Deterministic synthetic inputs spanning the input range (for the output probe)."""
    rng = np.random.default_rng(0)
    dtype = np.dtype(spec.dtype)
    if dtype.kind == "f":
        return [rng.uniform(-1, 1, spec.shape).astype(dtype) for _ in range(count)]
    info = np.iinfo(dtype)
    return [
        rng.integers(info.min, info.max, spec.shape, endpoint=True).astype(dtype)
        for _ in range(count)
    ]
