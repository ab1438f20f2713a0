"""`photosurvey import PATH...`: files and folders into the photos collection.

Files named on the command line are taken as photos. In folders, files that are not images
(notes, sidecar metadata, anything but a JPEG, PNG or WebP by its content unless its name
ends as an image's) are skipped and counted; a photo file that cannot be taken (a HEIC, a
broken JPEG, a 1x1 image) is rejected with its reason.

Exit codes: 0 when every photo file was imported or already stored; 1 when some photo file
was rejected or the paths held no photo file at all; 2 when nothing could be done (a missing
path, a database that will not open).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from api.connection import open_database
from api.database import ensure_indexes
from api.embedded import EmbeddedDatabaseError
from api.photos import files, store
from api.photos.ingest import Added, Duplicate, Rejected, ingest_file
from api.settings import Settings
from inference import UnsupportedImageFormat
from inference.images import sniff_format

OK, INCOMPLETE, FAILED = 0, 1, 2  # see the exit codes above

# Names of image files: such a file in a folder is a photo to import, or to reject with its
# reason, whatever its content.
IMAGE_SUFFIXES = frozenset({
    ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp",
    ".heic", ".heif", ".avif", ".gif", ".tif", ".tiff", ".bmp", ".dng",
})  # fmt: skip
_HEAD_BYTES = 16  # enough for sniff_format to tell JPEG, PNG and WebP


@dataclass
class Found:
    """What the paths hold: the photo files, and the files in folders that are not images."""

    photos: list[Path] = field(default_factory=list)
    skipped: int = 0


def run_import(paths: Sequence[Path], *, settings: Settings) -> int:
    missing = [path for path in paths if not path.exists()]
    if missing:
        for path in missing:
            print(f"photosurvey import: no such file or folder: {path}", file=sys.stderr)
        return FAILED
    found = collect_files(paths)
    skipped = f"skipped {found.skipped} (not images)"
    if not found.photos:
        print(f"photosurvey import: no photo files to import; {skipped}", file=sys.stderr)
        return INCOMPLETE
    try:
        imported, duplicates, rejected = asyncio.run(_import_all(found.photos, settings=settings))
    except EmbeddedDatabaseError as exc:
        print(f"photosurvey import: database error: {exc}", file=sys.stderr)
        return FAILED
    print(f"imported {imported}, duplicates {duplicates}, rejected {rejected}, {skipped}")
    return INCOMPLETE if rejected else OK


def collect_files(paths: Sequence[Path]) -> Found:
    """Given files as they are; folders walked recursively, skipping hidden entries and
    counting the files that are not images (`is_image_file`)."""
    found = Found()
    for path in paths:
        if not path.is_dir():
            found.photos.append(path)
            continue
        for entry in sorted(path.rglob("*")):
            hidden = any(part.startswith(".") for part in entry.relative_to(path).parts)
            if not entry.is_file() or hidden:
                continue
            if is_image_file(entry):
                found.photos.append(entry)
            else:
                found.skipped += 1
    return found


def is_image_file(path: Path) -> bool:
    """Whether a regular file is an image: by its name's suffix, else by its first bytes
    (JPEG, PNG or WebP). One that cannot be read counts as an image, so that the import
    reports why rather than skipping it unseen."""
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return True
    try:
        with path.open("rb") as file:
            sniff_format(file.read(_HEAD_BYTES))
    except OSError:
        return True
    except UnsupportedImageFormat:
        return False
    return True


async def _import_all(paths: list[Path], *, settings: Settings) -> tuple[int, int, int]:
    async with open_database(settings) as db:
        # The service may never have run on this database.
        await ensure_indexes(db, (store.INDEXES, *files.INDEXES))
        imported = duplicates = rejected = 0
        with tqdm(paths, desc="importing", unit="photo", file=sys.stderr, disable=None) as bar:
            for path in bar:
                result = await ingest_file(db, path, max_bytes=settings.max_upload_bytes)
                if isinstance(result, Added):
                    imported += 1
                elif isinstance(result, Duplicate):
                    duplicates += 1
                    bar.write(f"{_shown(path)}: duplicate of {result.photo.id}", file=sys.stderr)
                elif isinstance(result, Rejected):
                    rejected += 1
                    bar.write(f"{_shown(path)}: rejected: {result.reason}", file=sys.stderr)
        return imported, duplicates, rejected


def _shown(path: Path) -> str:
    """`path` printable whatever its bytes: a name that is not UTF-8 shows as \\xff escapes."""
    return str(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
