"""quantize and dequantize, without a model."""

from __future__ import annotations

import numpy as np

from inference.quantization import Quantization, dequantize, integer_range, quantize


def test_quantize_rounds_half_to_even_and_saturates() -> None:
    q = Quantization(scale=0.5, zero_point=-1)
    values = np.array([0.0, 0.25, 0.75, 1000.0, -1000.0])
    assert quantize(values, q, np.int8).tolist() == [-1, -1, 1, 127, -128]


def test_uint8_range_and_zero_point() -> None:
    q = Quantization(scale=1 / 128, zero_point=127)
    assert quantize(np.array([-1.0, 0.0, 1.0]), q, np.uint8).tolist() == [0, 127, 255]
    assert integer_range(np.uint8) == (0, 255)
    assert integer_range(np.int8) == (-128, 127)


def test_dequantize_inverts_quantize_within_half_a_step() -> None:
    q = Quantization(scale=0.0625, zero_point=3)
    values = np.linspace(-7.9, 7.7, 101)  # the int8 range is [-8.1875, 7.75]
    restored = dequantize(quantize(values, q, np.int8), q)
    assert restored.dtype == np.float32
    assert np.max(np.abs(restored - values)) <= q.scale / 2 + 1e-6


def test_dequantize_a_softmax_output() -> None:
    q = Quantization(scale=1 / 256, zero_point=0)
    assert dequantize(np.array([256 - 1, 1], dtype=np.uint8), q).tolist() == [255 / 256, 1 / 256]
