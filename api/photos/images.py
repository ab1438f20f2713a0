"""The small copy of a photo: what the model and thumbnails read instead of the original.

Decoding a full phone photo is the costliest step of the pipeline (about 100 ms for 12 MP,
DESIGN.md); the small copy is made once, at ingest, with JPEG draft mode, and every later
read (pre-labels, re-ranking, thumbnails) decodes about 30 kB instead. Validation and
decoding are `inference.images.decode_image`'s: one way through the code for image bytes.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Final

from PIL import ExifTags, Image, JpegImagePlugin

from api.photos.records import ContentType
from inference import ImageError, ImageTooLargeError
from inference.images import DEFAULT_MAX_PIXELS, ImageHeader, decode_image, read_header

SMALL_SIDE: Final = 384
"""Shorter side of the small copy: above the model's 256-px resize, enough for thumbnails."""
MIN_SIDE: Final = 32
"""Shorter side below which an image is not taken as a photo (an icon, a tracking pixel):
nobody can say what it shows, and the model would see it blown up from a few pixels."""
SMALL_QUALITY: Final = 90
JPEG_MAX_SIDE: Final = 65_500  # the longest side libjpeg writes
ACCEPTED = "JPEG, PNG or WebP"

_SMALL_BOX = (SMALL_SIDE, SMALL_SIDE)  # what a drafted JPEG must still cover
_CONTENT_TYPES: dict[str, ContentType] = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
}
# EXIF orientations 5-8 turn the picture by a quarter: width and height swap.
_QUARTER_TURNS = frozenset({5, 6, 7, 8})


class PhotoTooSmall(ImageError):
    """The image is smaller than `MIN_SIDE` on its shorter side."""


@dataclass(frozen=True)
class PreparedPhoto:
    """What ingest stores besides the original bytes."""

    content_type: ContentType
    width: int
    height: int
    """Upright size of the original (after EXIF orientation)."""
    small: bytes
    small_width: int
    small_height: int


def check_photo(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageHeader:
    """What the header of photo bytes says, once the checks before decoding pass: format,
    pixel count, JPEG structure, and the size of a photo (`PhotoTooSmall`)."""
    header = read_header(data, mode="RGB", min_size=_SMALL_BOX, max_pixels=max_pixels)
    if min(header.width, header.height) < MIN_SIDE:
        raise PhotoTooSmall(
            f"the image is {header.width}x{header.height} pixels; a photo must be at least "
            f"{MIN_SIDE} pixels on its shorter side"
        )
    return header


def prepare_photo(
    data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, header: ImageHeader | None = None
) -> PreparedPhoto:
    """Validate photo bytes and make the small copy; `header` is `check_photo`'s, when it
    has run already.

    Raises `inference.ImageError` (unsupported format, undecodable, too many pixels or JPEG
    scans, too long and thin for a small copy) or `PhotoTooSmall`.
    """
    fmt = (header or check_photo(data, max_pixels=max_pixels)).format
    image = decode_image(data, mode="RGB", min_size=_SMALL_BOX, max_pixels=max_pixels)
    # Only JPEGs are drafted (decoded smaller); other formats decode at full size.
    width, height = _upright_jpeg_size(data) if fmt == "JPEG" else image.size
    small_size = shrunk_size(image.size, shorter_side=SMALL_SIDE)
    if max(small_size) > JPEG_MAX_SIDE:
        raise ImageTooLargeError(
            f"the image is {width}x{height}: too long and thin (its small copy would be "
            f"{small_size[0]}x{small_size[1]}, and a JPEG side is at most {JPEG_MAX_SIDE:,} "
            "pixels)"
        )
    small = shrink(image, shorter_side=SMALL_SIDE)
    buffer = io.BytesIO()
    small.save(buffer, format="JPEG", quality=SMALL_QUALITY)
    return PreparedPhoto(
        content_type=_CONTENT_TYPES[fmt],
        width=width,
        height=height,
        small=buffer.getvalue(),
        small_width=small.width,
        small_height=small.height,
    )


def shrunk_size(size: tuple[int, int], *, shorter_side: int) -> tuple[int, int]:
    """`size` scaled so its shorter side is `shorter_side`; never enlarged."""
    width, height = size
    shortest = min(width, height)
    if shortest <= shorter_side:
        return size
    scale = shorter_side / shortest
    return (max(shorter_side, round(width * scale)), max(shorter_side, round(height * scale)))


def shrink(image: Image.Image, *, shorter_side: int) -> Image.Image:
    """`image` scaled to `shrunk_size`."""
    size = shrunk_size(image.size, shorter_side=shorter_side)
    if size == image.size:
        return image
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _upright_jpeg_size(data: bytes) -> tuple[int, int]:
    # The drafted image is smaller than the original, so the original's size comes from the
    # header (already validated by decode_image) and its EXIF orientation.
    header = JpegImagePlugin.JpegImageFile(io.BytesIO(data))
    width, height = header.size
    orientation = header.getexif().get(ExifTags.Base.Orientation)
    return (height, width) if orientation in _QUARTER_TURNS else (width, height)
