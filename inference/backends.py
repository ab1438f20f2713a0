"""The TFLite runtimes an interpreter can come from.

- `"ai-edge-litert"` (default): LiteRT, the successor of TensorFlow Lite.
- `"tflite-runtime"`: the legacy wheel, for devices that ship it (needs NumPy < 2).

Both apply the XNNPACK delegate by default through their built-in op resolver; we ask for
that resolver explicitly and then check the execution plan: a delegated graph shows
`DELEGATE` nodes. Without XNNPACK an int8 model runs about 6x slower here, so the model
spec records whether it applied (`ModelSpec.xnnpack`).
"""

from __future__ import annotations

import importlib
from typing import Any, Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from .errors import (
    BackendUnavailableError,
    InvalidModelError,
    ModelTooLargeError,
    UnsupportedModelError,
)

__all__ = [
    "BACKENDS",
    "DEFAULT_BACKEND",
    "Interpreter",
    "delegated_nodes",
    "invoke",
    "open_interpreter",
]

Backend = Literal["ai-edge-litert", "tflite-runtime"]
DEFAULT_BACKEND: Backend = "ai-edge-litert"
# backend name -> (module holding Interpreter, pip package to install)
BACKENDS: dict[str, tuple[str, str]] = {
    "ai-edge-litert": ("ai_edge_litert.interpreter", "ai-edge-litert"),
    "tflite-runtime": ("tflite_runtime.interpreter", "tflite-runtime"),
}


class Interpreter(Protocol):
    """The part of the TFLite `Interpreter` API this package uses."""

    def allocate_tensors(self) -> None: ...
    def get_input_details(self) -> list[dict[str, Any]]: ...
    def get_output_details(self) -> list[dict[str, Any]]: ...
    def tensor(self, tensor_index: int) -> Any: ...
    def get_tensor(self, tensor_index: int) -> NDArray[Any]: ...
    def set_tensor(self, tensor_index: int, value: NDArray[Any]) -> None: ...
    def invoke(self) -> None: ...


def _interpreter_module(backend: str) -> Any:
    if backend not in BACKENDS:
        raise BackendUnavailableError(
            f"unknown backend {backend!r}; accepted: {', '.join(sorted(BACKENDS))}"
        )
    module_name, package = BACKENDS[backend]
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        raise BackendUnavailableError(
            f"backend {backend!r} needs the Python package {package!r}, which cannot be "
            f"imported ({exc}); install it with `pip install {package}`"
        ) from exc


def open_interpreter(
    model: bytes, *, backend: str | None = None, num_threads: int | None = None
) -> Interpreter:
    """A ready (tensors allocated) interpreter for the model bytes."""
    module = _interpreter_module(backend or DEFAULT_BACKEND)
    if num_threads is not None and num_threads < 1:
        raise ValueError(f"num_threads must be at least 1, got {num_threads}")
    try:
        interpreter: Interpreter = module.Interpreter(
            model_content=model,
            num_threads=num_threads,
            # BUILTIN applies the default delegates (XNNPACK); AUTO means the same today,
            # naming it keeps that true if the default ever changes.
            experimental_op_resolver_type=module.OpResolverType.BUILTIN,
        )
    except (ValueError, RuntimeError) as exc:
        raise InvalidModelError(f"the runtime rejected the model: {_first_line(exc)}") from exc
    try:  # decoded on first use: a tensor name that is not UTF-8 fails here
        interpreter.get_input_details()
        interpreter.get_output_details()
    except (ValueError, RuntimeError) as exc:
        raise InvalidModelError(
            f"the runtime cannot describe the model's tensors: {_first_line(exc)}"
        ) from exc
    _check_fixed_input(interpreter)
    try:
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError, MemoryError) as exc:
        needed = _tensor_bytes(interpreter)
        if isinstance(exc, MemoryError) or not str(exc).strip():
            # The runtime reports a failed allocation with an empty message.
            raise ModelTooLargeError(
                f"the runtime cannot allocate the model's tensors (at least {needed:,} bytes)"
            ) from exc
        raise InvalidModelError(f"the runtime rejected the model: {_first_line(exc)}") from exc
    return interpreter


def invoke(interpreter: Interpreter) -> None:
    """Run the interpreter on the input set in it. A graph can load and still fail on some
    inputs only (a lookup past a table's end, say): that is the model's fault."""
    try:
        interpreter.invoke()
    except (ValueError, RuntimeError) as exc:
        raise InvalidModelError(f"the model failed to run: {_first_line(exc)}") from exc


def _check_fixed_input(interpreter: Interpreter) -> None:
    """Refuse an input whose height, width or channels are dynamic (-1 when exported): run
    as is, its placeholder size (1 x 1, say) would be taken for the model's. A dynamic batch
    is fine: one photo at a time is a batch of 1."""
    for detail in interpreter.get_input_details():
        signature = [int(n) for n in detail.get("shape_signature", detail["shape"])]
        if any(n < 0 for n in signature[1:]) or any(int(n) < 0 for n in detail["shape"]):
            raise UnsupportedModelError(
                f"the input {detail['name']!r} has the dynamic shape {signature}; accepted: "
                "a fixed height, width and channels (export the model with a fixed input size)"
            )


def delegated_nodes(interpreter: Interpreter) -> int | None:
    """How many delegate (XNNPACK) nodes the execution plan holds; None if unknown.

    `_get_ops_details` is private in both runtimes; it is only read here, for reporting.
    """
    ops_details = getattr(interpreter, "_get_ops_details", None)
    if ops_details is None:
        return None
    try:
        return sum(1 for op in ops_details() if op.get("op_name") == "DELEGATE")
    except (RuntimeError, ValueError):
        return None


def producing_ops(interpreter: Interpreter) -> dict[int, tuple[str, list[int]]] | None:
    """Tensor index -> (op name, op input indices) for every non-delegate op, if readable."""
    ops_details = getattr(interpreter, "_get_ops_details", None)
    if ops_details is None:
        return None
    try:
        ops = ops_details()
    except (RuntimeError, ValueError):
        return None
    produced: dict[int, tuple[str, list[int]]] = {}
    for op in ops:
        if op.get("op_name") == "DELEGATE":
            continue
        for tensor in np.asarray(op.get("outputs", [])).tolist():
            produced[int(tensor)] = (str(op.get("op_name")), np.asarray(op["inputs"]).tolist())
    return produced


def _tensor_bytes(interpreter: Interpreter) -> int:
    details = getattr(interpreter, "get_tensor_details", None)
    if details is None:
        return 0
    return sum(
        int(np.prod(d["shape"], dtype=np.int64)) * np.dtype(d["dtype"]).itemsize for d in details()
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
