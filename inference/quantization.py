"""Affine quantization, as TFLite defines it: real = scale * (q - zero_point).

Pure functions on arrays. The parameters always come from the model's tensor details,
never from constants here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["Quantization", "dequantize", "integer_range", "quantize"]


@dataclass(frozen=True, slots=True)
class Quantization:
    """Per-tensor quantization parameters of one tensor."""

    scale: float
    zero_point: int


def integer_range(dtype: np.dtype[Any] | type) -> tuple[int, int]:
    """The lowest and highest value of an integer dtype."""
    info = np.iinfo(dtype)
    return int(info.min), int(info.max)


def quantize(
    values: ArrayLike, quantization: Quantization, dtype: np.dtype[Any] | type
) -> NDArray[Any]:
    """Real values to integers of `dtype`: round half to even, then saturate."""
    low, high = integer_range(dtype)
    scaled = np.asarray(values, dtype=np.float64) / quantization.scale
    q = np.rint(scaled) + quantization.zero_point
    result: NDArray[Any] = np.clip(q, low, high).astype(dtype)
    return result


def dequantize(values: ArrayLike, quantization: Quantization) -> NDArray[np.float32]:
    """Integers back to real values, as float32."""
    q = np.asarray(values).astype(np.float32)
    return (q - np.float32(quantization.zero_point)) * np.float32(quantization.scale)
