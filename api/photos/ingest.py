"""One way in for photo bytes, shared by the CLI import, uploads and the sample photos.

hash -> dedupe -> validate and make the small copy -> store. The duplicate check comes
before decoding because it is a cheap index lookup and decoding is the costly step; a
stored photo was valid when it was stored, so the outcome is the same.

Whoever reads a photo's bytes into memory (an upload, a file) holds an ingest slot until
they are stored, and large decodes run one at a time (`api.photos.admission`).
"""

from __future__ import annotations

import asyncio
import hashlib
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from api.database import Database
from api.photos import admission, files, store
from api.photos.images import PreparedPhoto, check_photo, prepare_photo
from api.photos.records import (
    NEW_STATUS,
    PhotoRecord,
    PhotoSource,
    filename_problem,
    photo_id_for,
)
from api.settings import DEFAULT_MAX_UPLOAD_BYTES
from inference import ImageError
from inference.images import DEFAULT_MAX_PIXELS


@dataclass(frozen=True)
class Added:
    photo: PhotoRecord


@dataclass(frozen=True)
class Duplicate:
    """The same bytes are already stored as `photo`."""

    photo: PhotoRecord


@dataclass(frozen=True)
class Rejected:
    reason: str
    """What was wrong and what is accepted, fit to show as is."""


IngestResult = Added | Duplicate | Rejected


async def ingest_photo(
    db: Database,
    data: bytes,
    *,
    filename: str | None,
    source: PhotoSource,
    added_by: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> IngestResult:
    """Store a photo's original bytes (unchanged) and its small copy, unless already stored."""
    sha256 = hashlib.sha256(data).hexdigest()
    existing = await store.find_by_sha256(db, sha256)
    if existing is not None:
        return Duplicate(existing)
    try:
        # Reading the header and decoding are CPU-bound, and Pillow releases the GIL: both
        # run in worker threads, keeping the event loop free.
        header = await asyncio.to_thread(check_photo, data, max_pixels=max_pixels)
        prepared = await admission.decode(
            partial(prepare_photo, data, max_pixels=max_pixels, header=header),
            decode_bytes=header.decode_bytes,
        )
    except ImageError as exc:
        return Rejected(str(exc))
    return await _store(
        db, data, prepared, sha256=sha256, filename=filename, source=source, added_by=added_by
    )


async def ingest_file(
    db: Database,
    path: Path,
    *,
    max_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    source: PhotoSource = "import",
    added_by: str | None = None,
) -> IngestResult:
    """`ingest_photo` for a regular file of at most `max_bytes`; its name (not its folder)
    is kept as the filename."""
    problem = filename_problem(path.name)
    if problem is not None:
        return Rejected(f"its name {problem}")
    async with admission.ingest_slot():
        data = await asyncio.to_thread(_read_file, path, max_bytes=max_bytes)
        if isinstance(data, Rejected):
            return data
        return await ingest_photo(db, data, filename=path.name, source=source, added_by=added_by)


def _read_file(path: Path, *, max_bytes: int) -> bytes | Rejected:
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):  # a FIFO would block the read, a device not end
            return Rejected("not a regular file (a FIFO, device or socket); give photo files")
        if info.st_size > max_bytes:
            return Rejected(
                f"the file is {info.st_size:,} bytes; the limit is {max_bytes:,} "
                "(PHOTOSURVEY_MAX_UPLOAD_BYTES)"
            )
        return path.read_bytes()
    except OSError as exc:
        return Rejected(f"cannot read the file: {exc.strerror or exc}")


async def _store(
    db: Database,
    data: bytes,
    prepared: PreparedPhoto,
    *,
    sha256: str,
    filename: str | None,
    source: PhotoSource,
    added_by: str | None,
) -> IngestResult:
    photo_id = photo_id_for(sha256)
    original_id = await files.put_file(
        db, data, photo_id=photo_id, filename=filename, content_type=prepared.content_type
    )
    small_id = await files.put_file(
        db, prepared.small, photo_id=photo_id, filename=filename, content_type="image/jpeg"
    )
    record = PhotoRecord(
        id=photo_id,
        sha256=sha256,
        filename=filename,
        source=source,
        added_by=added_by,
        content_type=prepared.content_type,
        size_bytes=len(data),
        width=prepared.width,
        height=prepared.height,
        original_file_id=original_id,
        small_file_id=small_id,
        small_width=prepared.small_width,
        small_height=prepared.small_height,
        created_at=_now_in_milliseconds(),
        status=NEW_STATUS,
    )
    if await store.insert_photo(db, record):
        return Added(record)
    # Another request stored the same bytes meanwhile: keep its files, drop ours.
    await files.delete_files(db, (original_id, small_id))
    existing = await store.find_by_sha256(db, sha256)
    if existing is None:  # the other copy was deleted in between; report it plainly
        return Rejected("the photo was stored and removed concurrently; try again")
    return Duplicate(existing)


def _now_in_milliseconds() -> datetime:
    # BSON dates hold milliseconds: the record returned equals the one read back later.
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)
