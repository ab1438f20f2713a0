"""The ``photos`` collection: the fields this domain writes at insert, and bounded reads.

The survey code shares the collection and owns the queue fields (`status` after ``new``).
Every read here is served by an index (tests/api/photos/test_indexes.py checks the plans):
point lookups by ``_id`` or ``sha256``, and key windows over ``sha256`` for pagination. A
range on ``_id`` is not used because the embedded database answers it with a collection
scan; ``sha256`` starts with the id, so both give the same order.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from api import counters
from api.database import CollectionIndexes, Database, Document
from api.photos.records import PhotoRecord

COLLECTION = "photos"

INDEXES = CollectionIndexes(
    COLLECTION,
    (
        # Sparse: photo documents made by other code paths (benchmarks, tests with synthetic
        # predictions) may carry no hash, and must not collide on a missing value.
        IndexModel([("sha256", ASCENDING)], unique=True, sparse=True, name="photos_sha256"),
        # Key windows for `photos(filter: ...)`: equality fields first, then the window key.
        IndexModel([("status", ASCENDING), ("sha256", ASCENDING)], name="photos_status_sha256"),
        IndexModel([("source", ASCENDING), ("sha256", ASCENDING)], name="photos_source_sha256"),
        IndexModel(
            [("status", ASCENDING), ("source", ASCENDING), ("sha256", ASCENDING)],
            name="photos_status_source_sha256",
        ),
    ),
)

_FIELDS = (
    "sha256",
    "filename",
    "source",
    "added_by",
    "content_type",
    "size_bytes",
    "width",
    "height",
    "original_file_id",
    "small_file_id",
    "small_width",
    "small_height",
    "created_at",
    "status",
)
_PROJECTION = dict.fromkeys(_FIELDS, 1)


def photo_document(record: PhotoRecord) -> Document:
    """The document `insert_photo` writes for `record`."""
    doc: Document = {"_id": record.id}
    doc.update({name: getattr(record, name) for name in _FIELDS})
    return doc


def _from_document(doc: Document) -> PhotoRecord:
    return PhotoRecord(
        id=doc["_id"],
        sha256=doc["sha256"],
        filename=doc.get("filename"),
        source=doc["source"],
        added_by=doc.get("added_by"),
        content_type=doc["content_type"],
        size_bytes=doc["size_bytes"],
        width=doc["width"],
        height=doc["height"],
        original_file_id=doc["original_file_id"],
        small_file_id=doc["small_file_id"],
        small_width=doc["small_width"],
        small_height=doc["small_height"],
        created_at=doc["created_at"],
        status=doc["status"],
    )


async def insert_photo(db: Database, record: PhotoRecord) -> bool:
    """Insert a new photo; False when one with the same content is already stored."""
    try:
        await db[COLLECTION].insert_one(photo_document(record))
    except DuplicateKeyError:
        return False
    await counters.count(db, photos=1)
    return True


async def find_photo(db: Database, photo_id: str) -> PhotoRecord | None:
    doc = await db[COLLECTION].find_one({"_id": photo_id}, _PROJECTION)
    return None if doc is None else _from_document(doc)


async def find_by_sha256(db: Database, sha256: str) -> PhotoRecord | None:
    doc = await db[COLLECTION].find_one({"sha256": sha256}, _PROJECTION)
    return None if doc is None else _from_document(doc)


async def file_ids_of(db: Database, photo_ids: Collection[str]) -> set[object]:
    """The ids of the files (original and small copy) that these photos refer to."""
    cursor = db[COLLECTION].find(
        {"_id": {"$in": list(photo_ids)}}, {"original_file_id": 1, "small_file_id": 1}
    )
    return {doc[field] async for doc in cursor for field in ("original_file_id", "small_file_id")}


def window_filter(
    *, after: str | None, below: str | None, status: str | None = None, source: str | None = None
) -> Document:
    """Photos whose ``sha256`` lies in (after, below), narrowed by status and source.

    `after` is excluded (it is a cursor); `below` is an exclusive upper key, so a window
    matches only the photos between its bounds, never the rest of the collection.
    """
    key: dict[str, Any] = {}
    if after is not None:
        key["$gt"] = after
    if below is not None:
        key["$lt"] = below
    query: Document = {"sha256": key} if key else {}
    if status is not None:
        query["status"] = status
    if source is not None:
        query["source"] = source
    return query


async def find_in_window(
    db: Database,
    *,
    after: str | None,
    below: str | None,
    status: str | None = None,
    source: str | None = None,
) -> list[PhotoRecord]:
    """The photos of one key window (see `window_filter`), in no particular order."""
    query = window_filter(after=after, below=below, status=status, source=source)
    # No sort and no limit: the embedded database would sort in memory and does not push a
    # limit down; the window bounds what is read, and the caller sorts this small slice.
    return [_from_document(doc) async for doc in db[COLLECTION].find(query, _PROJECTION)]
