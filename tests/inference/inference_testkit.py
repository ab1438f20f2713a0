"""Plain builders shared by the inference tests (a unique module name: tests/ is no package)."""

from __future__ import annotations

import concurrent.futures
import functools
import importlib.util
import io
import os
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TypeVar

import numpy as np
from PIL import Image

TESTS_DIR = Path(__file__).resolve().parent
MODELS_DIR = TESTS_DIR / "models"
REPO_ROOT = TESTS_DIR.parent.parent
DEFAULT_MODEL = REPO_ROOT / "models" / "efficientnet_lite0_int8.tflite"

T = TypeVar("T")


def tiny_model(stem: str) -> Path:
    """Path of a committed tiny model (see models/build_tiny_models.py)."""
    return MODELS_DIR / f"{stem}.tflite"


def without_opening_fifo(fifo: Path, call: Callable[[], T]) -> T:
    """`call()`, which must not open `fifo`. Were it opened, the read would wait for a writer
    forever: after 10 s the FIFO gets one, so that the call ends, and the test fails."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(call)
        try:
            return future.result(timeout=10)
        except concurrent.futures.TimeoutError:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # frees the blocked reader
            future.exception(timeout=10)
            raise AssertionError(f"{fifo} was opened: the read waited for a writer") from None


def encode(image: Image.Image, fmt: str = "PNG", **params: object) -> bytes:
    """An image saved to bytes in `fmt`."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def solid(rgb: tuple[int, int, int], size: tuple[int, int] = (40, 30)) -> Image.Image:
    """A solid-colour RGB image of `size` (width, height)."""
    return Image.new("RGB", size, rgb)


def progressive_jpeg(image: Image.Image, *, scans: int, exif: bytes = b"") -> bytes:
    """`image` as a progressive JPEG of exactly `scans` scans, as a scan bomb is made: Pillow
    writes libjpeg's default script (10 scans in colour, 6 in grey) with a restart marker
    after every block, then the last scan is repeated (each copy is one more decoding pass)."""
    params: dict[str, object] = {"progressive": True, "restart_marker_blocks": 1}
    written = encode(image, "JPEG", **params).count(b"\xff\xda")  # one per scan header
    assert written <= scans, written
    data = encode(image, "JPEG", **params, exif=exif)
    last_scan = data[data.rindex(b"\xff\xda") : -2]  # up to the end-of-image marker
    return data[:-2] + last_scan * (scans - written) + data[-2:]


def huge_png(width: int, height: int) -> bytes:
    """A real, valid, all-black greyscale PNG of any size, a few hundred KB for 20000^2."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data).to_bytes(4, "big")
        return len(data).to_bytes(4, "big") + kind + data + crc

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    compressor = zlib.compressobj(9)
    row = bytes(width + 1)  # filter byte 0, then black pixels
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )


@functools.cache
def build_script() -> ModuleType:
    """The tiny-model build script, imported as a module (it lives beside the models)."""
    spec = importlib.util.spec_from_file_location(
        "build_tiny_models", MODELS_DIR / "build_tiny_models.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the class is built.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def colour_probabilities(rgb: tuple[int, int, int], *, height: int, width: int) -> np.ndarray:
    """Float reference for the tiny colour models on a solid colour: softmax of W x."""
    x = (np.array(rgb, dtype=np.float64) - 127.0) / 128.0
    logits = build_script().colour_weights(height, width) @ np.tile(x, height * width)
    exp = np.exp(logits - logits.max())
    result: np.ndarray = exp / exp.sum()
    return result
