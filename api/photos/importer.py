"""`photosurvey import PATH...`: files and folders into the photos collection.

Exit codes: 0 when nothing was rejected, 1 when some file was, 2 when nothing could be done
(a missing path, a database that will not open).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from tqdm import tqdm

from api.connection import open_database
from api.database import ensure_indexes
from api.embedded import EmbeddedDatabaseError
from api.photos import files, store
from api.photos.ingest import Added, Duplicate, Rejected, ingest_file
from api.settings import Settings

OK, SOME_REJECTED, FAILED = 0, 1, 2


def run_import(paths: Sequence[Path], *, settings: Settings) -> int:
    missing = [path for path in paths if not path.exists()]
    if missing:
        for path in missing:
            print(f"photosurvey import: no such file or folder: {path}", file=sys.stderr)
        return FAILED
    photo_files = list(collect_files(paths))
    try:
        imported, duplicates, rejected = asyncio.run(_import_all(photo_files, settings=settings))
    except EmbeddedDatabaseError as exc:
        print(f"photosurvey import: database error: {exc}", file=sys.stderr)
        return FAILED
    print(f"imported {imported}, duplicates {duplicates}, rejected {rejected}")
    return SOME_REJECTED if rejected else OK


def collect_files(paths: Sequence[Path]) -> Iterator[Path]:
    """Given files as they are; folders walked recursively, skipping hidden entries."""
    for path in paths:
        if not path.is_dir():
            yield path
            continue
        for found in sorted(path.rglob("*")):
            hidden = any(part.startswith(".") for part in found.relative_to(path).parts)
            if found.is_file() and not hidden:
                yield found


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
