"""Every query on a photo request path is served by an index (explain, no COLLSCAN)."""

from typing import Any

import pytest

from api.database import Database, Document, ensure_indexes
from api.photos import files, store
from api.photos.ingest import Added, ingest_photo
from tests.api.photos.builders import jpeg_bytes

LOW, HIGH = "3" + "0" * 23, "c" + "0" * 23


async def _plan(db: Database, collection: str, query: Document, sort: Any = None) -> str:
    cursor = db[collection].find(query)
    if sort is not None:
        cursor = cursor.sort(sort)
    return str(await cursor.explain())


@pytest.mark.parametrize(
    "query",
    [
        {"_id": "0" * 24},  # find_photo
        {"sha256": "0" * 64},  # find_by_sha256 (dedupe)
        *(
            store.window_filter(after=after, below=below, **narrow)
            for after, below in [(None, LOW), (LOW, HIGH), (HIGH, None)]
            for narrow in [
                {},
                {"status": "new"},
                {"source": "import"},
                {"status": "new", "source": "import"},
            ]
        ),
    ],
)
async def test_photo_queries_use_an_index(db: Database, query: Document) -> None:
    await ensure_indexes(db, (store.INDEXES, *files.INDEXES))
    for n in range(3):
        assert isinstance(await ingest_photo(db, jpeg_bytes(60 + n, 40), filename=None,
                                             source="import"), Added)  # fmt: skip

    plan = await _plan(db, store.COLLECTION, query)

    assert "IXSCAN" in plan
    assert "COLLSCAN" not in plan


async def test_file_reads_use_an_index(db: Database) -> None:
    await ensure_indexes(db, (store.INDEXES, *files.INDEXES))
    result = await ingest_photo(db, jpeg_bytes(), filename=None, source="import")
    assert isinstance(result, Added)
    file_id = result.photo.small_file_id

    # What the driver's GridFS download runs: the files document, then the chunks in order.
    files_plan = await _plan(db, files.FILES, {"_id": file_id})
    chunks_plan = await _plan(db, files.CHUNKS, {"files_id": file_id}, [("n", 1)])

    for plan in (files_plan, chunks_plan):
        assert "IXSCAN" in plan
        assert "COLLSCAN" not in plan
