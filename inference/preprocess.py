"""From decoded pixels to the model's input tensor.

Geometry: scale the image so it covers the model input divided by the crop ratio (for a
square input, "resize the shorter side to 256, then centre-crop 224"), then centre-crop.
`crop_box` computes, in source pixels, the region that ends up in the crop, so Pillow can
resize just that region in one pass (`Image.resize(box=...)`), which is both the same
result and cheaper than resizing the whole photo and cropping after.

Values: the model sees (pixel - mean) / std, quantized with the input tensor's own
parameters when the input is integer. Because pixels are uint8, this is folded into one
per-channel affine map `pixel * a + b` (float input), or a 256-entry table (integer input).
When that table is the identity or a shift by 128, which is what an int8/uint8 input
calibrated on (x - 127) / 128 gives, the input is a plain copy or a sign-bit flip.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from .quantization import Quantization, quantize

__all__ = ["InputEncoder", "crop_box", "fit_to_input", "input_encoder"]

_RESAMPLE = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC}


def crop_box(
    *, source: tuple[int, int], target: tuple[int, int], crop_ratio: float
) -> tuple[float, float, float, float]:
    """The (left, top, right, bottom) source region that becomes the centre crop.

    `source` and `target` are (width, height). The image is scaled so that it covers
    target / crop_ratio, keeping its aspect ratio; the target-sized centre of that is kept.
    """
    src_w, src_h = source
    dst_w, dst_h = target
    scale = max(dst_w / crop_ratio / src_w, dst_h / crop_ratio / src_h)
    box_w, box_h = dst_w / scale, dst_h / scale
    left, top = (src_w - box_w) / 2, (src_h - box_h) / 2
    return left, top, left + box_w, top + box_h


def fit_to_input(
    image: Image.Image,
    *,
    size: tuple[int, int],
    crop_ratio: float,
    resample: Literal["bilinear", "bicubic"] = "bilinear",
) -> Image.Image:
    """Resize and centre-crop `image` to `size` (width, height) in one resampling pass.

    An image already at `size` is returned as is: it is taken as already cropped.
    """
    if image.size == size:
        return image
    box = crop_box(source=image.size, target=size, crop_ratio=crop_ratio)
    # reducing_gap=3 first shrinks by whole factors with a box filter: indistinguishable
    # from a full-quality resample (Pillow docs) and much faster on big photos.
    return image.resize(size, _RESAMPLE[resample], box=box, reducing_gap=3.0)


@dataclass(frozen=True, slots=True)
class InputEncoder:
    """Writes uint8 HxWxC pixels into a model input buffer of another dtype."""

    kind: Literal["copy", "flip_sign", "affine", "table"]
    dtype: np.dtype[Any]
    scale: NDArray[np.float32]  # per channel, for "affine"
    offset: NDArray[np.float32]
    table: NDArray[Any]  # [256, channels], for "table"

    def encode(self, pixels: NDArray[np.uint8], out: NDArray[Any]) -> None:
        """Fill `out` (same HxWxC shape, model dtype) from `pixels`."""
        if self.kind == "copy":
            np.copyto(out, pixels, casting="unsafe")
        elif self.kind == "flip_sign":
            # int8 q = pixel - 128 is the uint8 pixel with its top bit flipped.
            np.bitwise_xor(pixels, 0x80, out=out.view(np.uint8))
        elif self.kind == "affine":
            np.multiply(pixels, self.scale, out=out)
            out += self.offset
        elif self.table.shape[1] == 1 or _same_columns(self.table):
            np.take(self.table[:, 0], pixels, out=out)
        else:
            for channel in range(self.table.shape[1]):
                out[..., channel] = self.table[pixels[..., channel], channel]


def _same_columns(table: NDArray[Any]) -> bool:
    return bool(np.all(table == table[:, :1]))


def _per_channel(values: Sequence[float], channels: int) -> NDArray[np.float64]:
    array = np.asarray(values, dtype=np.float64)
    if array.size not in (1, channels):
        raise ValueError(f"{array.size} values for {channels} channels: give 1 or {channels}")
    return np.broadcast_to(array, (channels,)).copy()


def input_encoder(
    *,
    dtype: np.dtype[Any] | type,
    quantization: Quantization | None,
    mean: Sequence[float],
    std: Sequence[float],
    channels: int,
) -> InputEncoder:
    """How pixels become the input: (pixel - mean) / std, then quantized if integer."""
    dtype = np.dtype(dtype)
    m, s = _per_channel(mean, channels), _per_channel(std, channels)
    empty = np.zeros((256, channels), dtype=dtype)
    if dtype.kind == "f":
        scale, offset = (1.0 / s).astype(np.float32), (-m / s).astype(np.float32)
        return InputEncoder("affine", dtype, scale, offset, empty)
    if quantization is None:
        raise ValueError(f"an integer input ({dtype}) needs quantization parameters")
    pixels = np.arange(256, dtype=np.float64)[:, None]
    table = quantize((pixels - m) / s, quantization, dtype)
    ramp = np.arange(256)[:, None]
    zeros = np.zeros(channels, dtype=np.float32)
    if dtype == np.uint8 and np.array_equal(table, np.broadcast_to(ramp, table.shape)):
        return InputEncoder("copy", dtype, zeros, zeros, table)
    if dtype == np.int8 and np.array_equal(table, np.broadcast_to(ramp - 128, table.shape)):
        return InputEncoder("flip_sign", dtype, zeros, zeros, table)
    return InputEncoder("table", dtype, zeros, zeros, table)
