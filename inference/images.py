"""Photo bytes to a decoded, upright RGB (or L) Pillow image, defensively.

- Formats: JPEG, PNG and WebP only, recognised by their magic bytes; a file's name is never
  consulted (a TIFF or PDF named `.jpg` is refused as what it is).
- Decompression bombs: the pixel count in the header is checked against `max_pixels` before
  any pixel is decoded, and the error is raised, never just warned. The Pillow plugin is
  opened directly, so Pillow's global `MAX_IMAGE_PIXELS` warning is not involved and no
  process-wide setting is changed.
- Scan bombs: a JPEG with more than `MAX_JPEG_SCANS` scans is refused before decoding. The
  scans are counted by walking the marker segments as the decoder does (segments skipped by
  their length, so an EXIF thumbnail's own scan is not counted; a scan's entropy-coded data
  skipped up to the next marker), not by searching the bytes; a JPEG of more than
  `MAX_JPEG_SEGMENTS` marker segments is refused too, so that the walk stays quick.
- JPEG draft mode: the decoder scales by 1/2, 1/4 or 1/8 while decoding (DCT scaling) to the
  smallest size still covering `min_size`, so a 12 MP photo decodes near the model's size.
- Memory: `read_header` tells, from the header alone, about the most memory decoding will
  hold (`ImageHeader.decode_bytes`), so that a caller can keep large decodes from running
  all at once.
- EXIF orientation is applied (`ImageOps.exif_transpose`), after drafting, so the cheap
  small image is the one rotated.
- Modes: everything becomes RGB (or L for a one-channel model). Transparent images (LA,
  RGBA, PA, P with transparency) are composited on white, as a photo viewer shows them;
  16-bit and 32-bit grey (I;16, I) are scaled to 8 bits (65535 -> 255) rather than
  clipped; CMYK goes through Pillow's conversion. Compositing and scaling go a strip at a
  time, so they cost the converted image and not several full-size copies.
"""

from __future__ import annotations

import io
import os
import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeAlias

import numpy as np
from PIL import Image, ImageFile, ImageOps, JpegImagePlugin, PngImagePlugin, WebPImagePlugin

from .errors import ImageDecodeError, ImageTooLargeError, UnsupportedImageFormat

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "MAX_JPEG_SCANS",
    "MAX_JPEG_SEGMENTS",
    "ColourMode",
    "ImageHeader",
    "ImageSource",
    "decode_image",
    "read_header",
    "read_image_bytes",
    "sniff_format",
    "to_mode",
]

ImageSource: TypeAlias = bytes | bytearray | memoryview | str | os.PathLike[str]
ImageFormat = Literal["JPEG", "PNG", "WEBP"]
ColourMode = Literal["RGB", "L"]

# 100 megapixels: above 48-64 MP phone photos, far below a bomb. Configurable per Model.
DEFAULT_MAX_PIXELS = 100_000_000

# A progressive JPEG is decoded scan by scan, and each scan is a pass over every block of
# its component however few bytes it holds: an 8000x8000 JPEG repeating one 95-byte scan
# 2,000 times (440 KB) took 18 s of CPU, in a thread that cannot be stopped; a 25 MiB one
# would take an hour or more. The costliest scans (AC refinement) took 90 ms each at
# 100 megapixels, 12 ms at 12. Encoders write 1 to 4 scans for a sequential JPEG and about
# 10 for a progressive one (libjpeg's default script: 10 in colour, 6 in grey; mozjpeg's
# scan optimiser wrote 2 to 17 on our sample photos and a CMYK one); libjpeg-turbo's djpeg
# has -maxscans against exactly this. 50 is five times the usual and bounds the scans of a
# JPEG at the pixel limit to about 4.5 s of decoding (0.6 s at 12 megapixels).
MAX_JPEG_SCANS = 50

# The walk runs in Python, about 1.3 us a segment, and so does Pillow's header parser: 25 MiB
# of 4-byte comment segments took 8 s to walk, and 13 s for Pillow to open when they came
# before the frame header. A photo has tens of segments (metadata, tables, one header per
# scan); even 25 MiB of the largest (64 KiB) metadata segments is 400.
MAX_JPEG_SEGMENTS = 10_000

_OTHER_FORMATS = (
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"%PDF", "PDF"),
    (b"GIF8", "GIF"),
    (b"BM", "BMP"),
    (b"\x00\x00\x01\x00", "ICO"),
)
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error)

# 16-bit grey and transparent images are converted a strip of a quarter megapixel at a time.
# Converted whole, a 100-megapixel 16-bit PNG of 220 KB peaked at 2.0 GB (float64 copies)
# and an RGBA one at 1.95 GB (several full-size RGBA copies); in strips, 0.62 and 0.81 GB:
# the decoded image and the converted one (Pillow keeps RGB in 4 bytes a pixel).
_STRIP_PIXELS = 1 << 18

# Where libjpeg finds the next marker: 0xFF followed by a code that is none of 0x00 (a
# stuffed 0xFF byte inside entropy-coded data), 0xFF (fill), RST0-7 (restart markers inside
# a scan's data) or TEM. The same search skips a scan's entropy-coded data.
_JPEG_MARKER = re.compile(rb"\xff[^\x00\x01\xd0-\xd7\xff]")
_JPEG_SOI, _JPEG_EOI, _JPEG_SOS = 0xD8, 0xD9, 0xDA

# The most memory decode_image held per pixel of the full image, measured with Pillow 13 at
# 9 and 90 megapixels, and rounded up. A PNG decodes at full size, 4 bytes a pixel (Pillow
# keeps RGB in 4), and converting it (alpha, 16-bit grey) costs as much again: 3.9 bytes a
# pixel for RGB, 6.4 for 16-bit grey, 8.5 for RGBA. A WebP goes through libwebp's animation
# decoder, which keeps two RGBA canvases besides the frame's bytes and the image: 16.0. A
# JPEG decodes at its drafted size, 4 bytes a pixel twice (decoded, then turned upright or
# converted), but a progressive one also keeps every DCT coefficient of the full image across
# its scans, 2 bytes per component (2.9 bytes a pixel at 4:2:0): a baseline 90-megapixel
# JPEG drafted for a 384-pixel side held 9 MiB, a progressive one 264 MiB.
_FULL_SIZE_BYTES_PER_PIXEL = {"PNG": 9, "WEBP": 17}
_DRAFTED_BYTES_PER_PIXEL = 8
_COEFFICIENT_BYTES = 2


def read_image_bytes(source: ImageSource) -> bytes:
    """The bytes of a photo given as bytes or as a path."""
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source)
    try:
        return Path(source).read_bytes()
    except OSError as exc:
        raise ImageDecodeError(f"cannot read image file {os.fspath(source)!r}: {exc}") from exc


def sniff_format(data: bytes) -> ImageFormat:
    """JPEG, PNG or WebP from the magic bytes; anything else is `UnsupportedImageFormat`."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if not data:
        raise UnsupportedImageFormat("the image is empty (0 bytes); accepted: JPEG, PNG, WebP")
    seen = next((name for magic, name in _OTHER_FORMATS if data.startswith(magic)), None)
    if seen is None and data[4:8] == b"ftyp":
        seen = "HEIF/AVIF or another ISO media file"
    what = f"a {seen} file" if seen else f"not a recognised image (starts {data[:8]!r})"
    raise UnsupportedImageFormat(f"the image is {what}; accepted: JPEG, PNG, WebP")


def _open(data: bytes, fmt: ImageFormat, *, max_pixels: int) -> ImageFile.ImageFile:
    stream = io.BytesIO(data)
    try:
        if fmt == "JPEG":
            return JpegImagePlugin.JpegImageFile(stream)
        if fmt == "PNG":
            return PngImagePlugin.PngImageFile(stream)
        return WebPImagePlugin.WebPImageFile(stream)
    except Image.DecompressionBombError as exc:
        # Pillow refuses some headers itself (WebP), at twice its own pixel limit.
        raise ImageTooLargeError(
            f"the {fmt} image has more pixels than the limit of {max_pixels:,} ({exc})"
        ) from exc
    except _DECODE_ERRORS as exc:
        # Pillow reads a PNG or JPEG header piece by piece; it ran out of file when it failed
        # for want of bytes with every byte read. (A complete file can fail at its end too,
        # on a bad checksum, say; a WebP is read whole, whatever its state.)
        if fmt != "WEBP" and stream.tell() >= len(data) and _wants_bytes(exc):
            raise ImageDecodeError(
                f"the {fmt} ends inside its header (the file is {len(data):,} bytes): it is "
                "cut short"
            ) from exc
        raise ImageDecodeError(f"cannot read the {fmt} header: {exc}") from exc


def _wants_bytes(exc: BaseException) -> bool:
    """Whether Pillow failed for want of more bytes: a short unpack, a short read, or a
    checksum it could not read whole."""
    return (
        isinstance(exc, struct.error | EOFError)
        or isinstance(exc.__cause__, struct.error)
        or any(words in str(exc) for words in ("Truncated File Read", "incomplete checksum"))
    )


@dataclass(frozen=True)
class ImageHeader:
    """What photo bytes' header says, read without decoding a pixel (`read_header`)."""

    format: ImageFormat
    width: int
    height: int
    """As stored, before EXIF orientation."""
    decode_bytes: int
    """About the most memory `decode_image` holds at once for these bytes, given the same
    `mode` and `min_size`: an upper bound measured with Pillow 13."""


def read_header(
    data: bytes,
    *,
    mode: ColourMode = "RGB",
    min_size: tuple[int, int] | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> ImageHeader:
    """The format, size and decoding cost of photo bytes, after the checks `decode_image`
    makes before decoding (it raises the same errors for them)."""
    fmt, image = _opened(data, max_pixels=max_pixels)
    width, height = image.size
    if fmt != "JPEG":
        cost = width * height * _FULL_SIZE_BYTES_PER_PIXEL[fmt]
    else:
        components = len(image.getbands())
        _draft(image, mode=mode, min_size=min_size)  # sets the scale; decodes nothing
        cost = image.width * image.height * _DRAFTED_BYTES_PER_PIXEL
        if image.info.get("progressive"):
            cost += width * height * components * _COEFFICIENT_BYTES
    return ImageHeader(format=fmt, width=width, height=height, decode_bytes=cost)


def decode_image(
    data: bytes,
    *,
    mode: ColourMode = "RGB",
    min_size: tuple[int, int] | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Image.Image:
    """Decode photo bytes to an upright image in `mode` (see the module docstring).

    `min_size` (width, height) lets a JPEG decode at a reduced scale that still covers it.
    """
    fmt, image = _opened(data, max_pixels=max_pixels)
    try:
        if fmt == "JPEG":
            _draft(image, mode=mode, min_size=min_size)
        image.load()
        # In place: without an orientation tag the default would still copy the pixels.
        ImageOps.exif_transpose(image, in_place=True)
        return to_mode(image, mode)
    except _DECODE_ERRORS as exc:
        raise ImageDecodeError(f"the {fmt} image cannot be decoded: {exc}") from exc


def _opened(data: bytes, *, max_pixels: int) -> tuple[ImageFormat, ImageFile.ImageFile]:
    """The bytes' format and their image with its header read and checked, not decoded."""
    fmt = sniff_format(data)
    if fmt == "JPEG":
        _check_jpeg_structure(data)  # before Pillow parses the header, in Python
    image = _open(data, fmt, max_pixels=max_pixels)
    width, height = image.size
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"the image is {width}x{height} = {width * height:,} pixels; "
            f"the limit is {max_pixels:,}"
        )
    return fmt, image


def _draft(
    image: ImageFile.ImageFile, *, mode: ColourMode, min_size: tuple[int, int] | None
) -> None:
    # A JPEG's scale, set before decoding: the smallest that still covers `min_size`.
    if min_size is not None:
        side = max(min_size)  # either orientation must still cover the target
        image.draft(mode, (side, side))


def _check_jpeg_structure(data: bytes) -> None:
    scans = segments = 0
    for code in _jpeg_segments(data):
        segments += 1
        if segments > MAX_JPEG_SEGMENTS:
            break
        if code == _JPEG_SOS:
            scans += 1
    if scans > MAX_JPEG_SCANS:
        counted = f"{scans:,}" if segments <= MAX_JPEG_SEGMENTS else f"at least {scans:,}"
        raise ImageTooLargeError(
            f"the JPEG has {counted} scans; at most {MAX_JPEG_SCANS} are accepted (a progressive "
            "photo has about 10, and decoding each scan is a pass over the whole image)"
        )
    if segments > MAX_JPEG_SEGMENTS:
        raise ImageTooLargeError(
            f"the JPEG has more than {MAX_JPEG_SEGMENTS:,} marker segments; at most "
            f"{MAX_JPEG_SEGMENTS:,} are accepted (a photo has tens: metadata, tables and one "
            "header per scan)"
        )


def _jpeg_segments(data: bytes) -> Iterator[int]:
    # The marker code of each segment that the decoder reaches, from just after SOI.
    at = 2
    while (marker := _JPEG_MARKER.search(data, at)) is not None:
        code = data[marker.start() + 1]
        if code in (_JPEG_SOI, _JPEG_EOI):  # the decoder stops at EOI, and at a second SOI
            return
        yield code
        at = marker.end()
        # The marker starts a segment whose length counts its own two bytes (libjpeg skips
        # nothing more when it is smaller); after an SOS segment come the scan's
        # entropy-coded data, which the next search skips.
        at += max(int.from_bytes(data[at : at + 2], "big"), 2)


def to_mode(image: Image.Image, mode: ColourMode) -> Image.Image:
    """Any Pillow mode to RGB or L (rules in the module docstring)."""
    if image.mode == mode:
        return image
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        return _by_strips(image, lambda strip: _grey_to_8_bit(strip).convert(mode), mode=mode)
    if image.mode in ("LA", "La", "RGBA", "RGBa", "PA") or (
        image.mode == "P" and "transparency" in image.info
    ):
        return _by_strips(image, lambda strip: _on_white(strip).convert(mode), mode=mode)
    return image.convert(mode)


def _by_strips(
    image: Image.Image, convert: Callable[[Image.Image], Image.Image], *, mode: ColourMode
) -> Image.Image:
    # Each output pixel depends on its own input pixel only, so converting strip by strip
    # gives the same image as converting it whole, with intermediates the size of a strip.
    converted = Image.new(mode, image.size)
    rows = max(1, _STRIP_PIXELS // max(1, image.width))
    for top in range(0, image.height, rows):
        box = (0, top, image.width, min(top + rows, image.height))
        converted.paste(convert(image.crop(box)), box[:2])
    return converted


def _on_white(image: Image.Image) -> Image.Image:
    rgba = image.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba)


def _grey_to_8_bit(image: Image.Image) -> Image.Image:
    values = np.asarray(image)
    if image.mode == "F":
        scaled = np.clip(values, 0, 255)
    else:
        # I;16 and I (how Pillow opens 16-bit PNGs) hold 0..65535.
        scaled = np.clip(values.astype(np.float64) / 257.0, 0, 255)
    return Image.fromarray(np.rint(scaled).astype(np.uint8))
