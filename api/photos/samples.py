"""Sample photos (public domain or CC0, see api/samples/LICENSES.md) for a first dev run."""

from __future__ import annotations

import logging
from pathlib import Path

from api.database import Database
from api.photos import store
from api.photos.ingest import Added, IngestResult, ingest_file
from api.photos.pages import read_page
from api.photos.records import PhotoRecord

logger = logging.getLogger(__name__)

SAMPLES_DIR = Path(__file__).resolve().parents[1] / "samples"
_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp"})
HINT = "Import your own photos with: photosurvey import PATH... (files or folders)"


def sample_paths() -> list[Path]:
    return sorted(path for path in SAMPLES_DIR.iterdir() if path.suffix.lower() in _SUFFIXES)


async def has_photos(db: Database) -> bool:
    """Whether any photo is stored, without a query that matches the whole collection."""

    async def fetch(after: str | None, below: str | None) -> list[PhotoRecord]:
        return await store.find_in_window(db, after=after, below=below)

    page = await read_page(fetch, first=1, after=None)
    return bool(page.photos)


async def import_samples(db: Database) -> list[IngestResult]:
    return [await ingest_file(db, path, source="sample") for path in sample_paths()]


async def first_run_samples(db: Database) -> str | None:
    """On an empty photos collection, import the samples and say so; else None."""
    if await has_photos(db):
        return None
    results = await import_samples(db)
    added = sum(isinstance(result, Added) for result in results)
    logger.info("sample photos imported", extra={"photos": added})
    return (
        f"Imported {added} sample photos (public domain or CC0: api/samples/LICENSES.md).\n{HINT}"
    )
