import hashlib
import io
from datetime import UTC

import pytest
from PIL import Image

from api.database import Database
from api.photos import files, store
from api.photos.images import MIN_SIDE, SMALL_SIDE, prepare_photo
from api.photos.ingest import Added, Duplicate, Rejected, ingest_photo
from tests.api.photos.builders import (
    jpeg_bytes,
    long_thin_png,
    png_bytes,
    png_header_bomb,
    scan_bomb_jpeg,
    tiff_bytes,
    webp_bytes,
    webp_header_bomb,
)


async def test_a_photo_is_stored_with_its_small_copy(db: Database) -> None:
    data = jpeg_bytes(1200, 900)
    result = await ingest_photo(db, data, filename="red.jpg", source="import")

    assert isinstance(result, Added)
    sha256 = hashlib.sha256(data).hexdigest()
    doc = await db.photos.find_one({"_id": sha256[:24]})
    assert doc is not None
    assert doc["sha256"] == sha256
    assert (doc["filename"], doc["source"], doc["added_by"]) == ("red.jpg", "import", None)
    assert (doc["content_type"], doc["size_bytes"]) == ("image/jpeg", len(data))
    assert (doc["width"], doc["height"]) == (1200, 900)
    assert (doc["small_width"], doc["small_height"]) == (512, SMALL_SIDE)
    assert doc["status"] == "new"
    assert doc["created_at"].tzinfo is not None
    assert doc["created_at"].utcoffset() == UTC.utcoffset(None)
    assert await files.read_file(db, doc["original_file_id"]) == data  # unchanged
    small = Image.open(io.BytesIO(await files.read_file(db, doc["small_file_id"]) or b""))
    assert (small.format, small.mode, small.size) == ("JPEG", "RGB", (512, SMALL_SIDE))


async def test_the_same_bytes_are_a_duplicate(db: Database) -> None:
    data = png_bytes()
    first = await ingest_photo(db, data, filename="a.png", source="upload", added_by="c1")
    second = await ingest_photo(db, data, filename="b.png", source="import")

    assert isinstance(first, Added)
    assert isinstance(second, Duplicate)
    assert second.photo.id == first.photo.id
    assert await db.photos.count_documents({}) == 1
    assert await db[files.FILES].count_documents({}) == 2


def test_exif_rotation_swaps_width_and_height() -> None:
    # Orientation 6: the camera was turned; the upright photo is portrait.
    prepared = prepare_photo(jpeg_bytes(1600, 1200, orientation=6))
    assert (prepared.width, prepared.height) == (1200, 1600)
    assert (prepared.small_width, prepared.small_height) == (SMALL_SIDE, 512)


@pytest.mark.parametrize("size", [(MIN_SIDE, 500), (500, MIN_SIDE), (MIN_SIDE, MIN_SIDE)])
def test_a_photo_as_small_as_the_minimum_is_accepted(size: tuple[int, int]) -> None:
    prepared = prepare_photo(jpeg_bytes(*size))
    assert (prepared.width, prepared.height) == (prepared.small_width, prepared.small_height)
    assert (prepared.width, prepared.height) == size


@pytest.mark.parametrize(
    ("data", "content_type", "small_size"),
    [
        (png_bytes(320, 200), "image/png", (320, 200)),  # small photos are not enlarged
        (webp_bytes(600, 400), "image/webp", (576, SMALL_SIDE)),
    ],
)
def test_png_and_webp_are_accepted(
    data: bytes, content_type: str, small_size: tuple[int, int]
) -> None:
    prepared = prepare_photo(data)
    assert prepared.content_type == content_type
    assert (prepared.small_width, prepared.small_height) == small_size
    assert Image.open(io.BytesIO(prepared.small)).mode == "RGB"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (tiff_bytes(), "TIFF"),
        (jpeg_bytes(800, 600)[:1500], "cannot be decoded"),
        (png_header_bomb(), "20000x20000"),
        (webp_header_bomb(), "more pixels than the limit of 100,000,000"),
        (scan_bomb_jpeg(), "the JPEG has 300 scans; at most 50"),
        (long_thin_png(), "65535x32: too long and thin"),
        (long_thin_png(32, 65535), "32x65535: too long and thin"),
        (png_bytes(1, 1), "the image is 1x1 pixels; a photo must be at least 32 pixels on its"),
        (jpeg_bytes(31, 500), "the image is 31x500 pixels; a photo must be at least 32 pixels"),
        (webp_bytes(500, 31), "the image is 500x31 pixels; a photo must be at least 32 pixels"),
        (b"just some text, not a photo", "not a recognised image"),
    ],
)
async def test_bad_files_are_rejected_with_a_reason(db: Database, data: bytes, reason: str) -> None:
    result = await ingest_photo(db, data, filename="x.jpg", source="import")

    assert isinstance(result, Rejected)
    assert reason in result.reason
    assert await db.photos.count_documents({}) == 0
    assert await db[files.FILES].count_documents({}) == 0


async def test_a_photo_is_found_by_id_and_hash(db: Database) -> None:
    result = await ingest_photo(db, webp_bytes(), filename=None, source="sample")
    assert isinstance(result, Added)
    assert await store.find_photo(db, result.photo.id) == result.photo
    assert await store.find_by_sha256(db, result.photo.sha256) == result.photo
    assert await store.find_photo(db, "0" * 24) is None
