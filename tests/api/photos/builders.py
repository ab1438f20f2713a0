"""Small synthetic photos and helpers for the photo tests (plain functions)."""

from __future__ import annotations

import io
import json
import random
import struct
import zlib

import httpx
from PIL import Image

from api.auth.store import add_contributor
from api.database import Database
from tests.inference.inference_testkit import progressive_jpeg


def jpeg_bytes(
    width: int = 640, height: int = 480, *, colour: tuple[int, int, int] = (200, 30, 30),
    orientation: int | None = None,
) -> bytes:  # fmt: skip
    image = Image.new("RGB", (width, height), colour)
    buffer = io.BytesIO()
    if orientation is None:
        image.save(buffer, format="JPEG", quality=90)
    else:
        exif = Image.Exif()
        exif[0x0112] = orientation
        image.save(buffer, format="JPEG", quality=90, exif=exif.tobytes())
    return buffer.getvalue()


def png_bytes(width: int = 320, height: int = 200, *, mode: str = "RGBA") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (width, height), (10, 120, 200, 128)[: len(mode)]).save(buffer, "PNG")
    return buffer.getvalue()


def webp_bytes(width: int = 300, height: int = 300) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (0, 128, 0)).save(buffer, "WEBP")
    return buffer.getvalue()


def noise_png(width: int, height: int, *, seed: int = 0) -> bytes:
    """Incompressible pixels: a file about 3 bytes per pixel, for size limits."""
    data = random.Random(seed).randbytes(width * height * 3)
    buffer = io.BytesIO()
    Image.frombytes("RGB", (width, height), data).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def tiff_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(buffer, "TIFF")
    return buffer.getvalue()


def png_header_bomb(width: int = 20000, height: int = 20000) -> bytes:
    """A valid PNG header claiming `width` x `height` pixels, with one tiny IDAT."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def webp_header_bomb(side: int = 16383) -> bytes:
    """A lossless WebP whose header claims `side` x `side` pixels (Pillow refuses the header)."""
    buffer = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buffer, "WEBP", lossless=True)
    data = bytearray(buffer.getvalue())
    at = data.index(b"VP8L") + 9  # after the chunk header and the 0x2F signature byte
    bits = int.from_bytes(data[at : at + 4], "little") & ~((1 << 28) - 1)
    data[at : at + 4] = (bits | (side - 1) | ((side - 1) << 14)).to_bytes(4, "little")
    return bytes(data)


def scan_bomb_jpeg(scans: int = 300) -> bytes:
    """A small grey progressive JPEG of `scans` scans (see `progressive_jpeg`)."""
    return progressive_jpeg(Image.new("L", (64, 64), 128), scans=scans)


def long_thin_png(width: int = 65535, height: int = 32) -> bytes:
    """A real PNG far longer than it is wide: its small copy cannot be a JPEG."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(buffer, "PNG")
    return buffer.getvalue()


async def bearer(db: Database, name: str, *, admin: bool = False) -> dict[str, str]:
    """Authorization headers for a new contributor."""
    _, token = await add_contributor(db, name, role="admin" if admin else "contributor")
    return {"authorization": f"Bearer {token}"}


ADD_PHOTO = """
mutation ($file: Upload!, $filename: String) {
  addPhoto(file: $file, filename: $filename) {
    __typename
    ... on PhotoAdded { photo { id filename width height contentType sizeBytes source status } }
    ... on DuplicatePhoto { photo { id } message }
    ... on InvalidImage { message accepted }
  }
}
"""


def upload_request(
    data: bytes, *, filename: str = "photo.jpg", headers: dict[str, str] | None = None
) -> httpx.Request:
    """A GraphQL multipart request (the spec's operations/map/file parts) for addPhoto."""
    operations = {"query": ADD_PHOTO, "variables": {"file": None, "filename": filename}}
    return httpx.Request(
        "POST",
        "http://photosurvey.test/graphql",
        data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.file"]})},
        files={"0": (filename, data, "application/octet-stream")},
        headers=headers,
    )
