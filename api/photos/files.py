"""Photo bytes in GridFS (bucket ``photo_files``): put, open, read and delete files, and
find the files an interrupted upload left behind (for `pruning`).

Files are written here in the GridFS layout (a ``photo_files.files`` document plus
``photo_files.chunks``), readable by any GridFS client, rather than through
`AsyncGridFSBucket.upload_from_stream`: before every upload that call runs an unfiltered
``find_one`` on the files collection to decide whether to create indexes, and on the
embedded database such a query costs time proportional to the whole collection. The indexes
are ensured at start-up instead (`INDEXES`).

Reading is ours too, a few chunks at a time (`OpenedFile.chunks`): the driver's reader
fetches a file's chunks through one cursor whose batches reach 16 MiB (64 chunks on the
embedded server), so 16 readers of a 22 MiB original held about 16 x 16 MiB; here each
holds at most `READ_BATCH` chunks, and each batch is one query that the server answers
whole, so no cursor outlives it and a reader abandoned mid-file leaves nothing open.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from bson import Binary, ObjectId
from gridfs.errors import CorruptGridFile
from pymongo import ASCENDING, IndexModel

from api.database import CollectionIndexes, Database, Document

BUCKET = "photo_files"
FILES, CHUNKS = f"{BUCKET}.files", f"{BUCKET}.chunks"  # its two collections
CHUNK_BYTES = 255 * 1024  # the GridFS default
_CHUNKS_KEY = [("files_id", ASCENDING), ("n", ASCENDING)]
_BATCH = 500  # files looked at per round trip when searching the whole bucket
READ_BATCH = 4
"""Chunks read per query (1 MiB): the memory one reader holds, and 4 ms a query on the
embedded server, so a 22 MiB original is read at over 200 MB/s."""
WRITE_BATCH = 4
"""Chunks written per insert: the copy of the bytes that a writer holds besides them."""

# The same keys and names the driver would create, so either may create them first.
INDEXES = (
    CollectionIndexes(
        FILES,
        (
            IndexModel(
                [("filename", ASCENDING), ("uploadDate", ASCENDING)],
                name="filename_1_uploadDate_1",
            ),
        ),
    ),
    CollectionIndexes(
        CHUNKS,
        (IndexModel(_CHUNKS_KEY, unique=True, name="files_id_1_n_1"),),
    ),
)


@dataclass(frozen=True)
class OpenedFile:
    """A stored file whose facts are known and whose bytes are read on demand.

    Opening reads only the files document, so a conditional request (ETag) is answered
    without reading the chunks.
    """

    id: ObjectId
    sha256: str
    content_type: str
    length: int
    chunk_bytes: int
    _db: Database

    async def chunks(self) -> AsyncIterator[bytes]:
        """The file's bytes, a chunk at a time, `READ_BATCH` chunks per query.

        Raises `gridfs.errors.CorruptGridFile` at a chunk that is missing or of the wrong
        length (what the driver's reader checks), so a damaged file is never served whole.
        """
        count = math.ceil(self.length / self.chunk_bytes) if self.length else 0
        for first in range(0, count, READ_BATCH):
            last = min(first + READ_BATCH, count)
            found = (
                await self._db[CHUNKS]
                .find(
                    {"files_id": self.id, "n": {"$gte": first, "$lt": last}},
                    sort=[("n", ASCENDING)],
                    limit=last - first,
                )
                .to_list()
            )
            for n, chunk in enumerate(found, start=first):
                yield self._checked(chunk, n=n, count=count)
            if len(found) < last - first:
                raise CorruptGridFile(f"file {self.id} has no chunk #{first + len(found)}")

    def _checked(self, chunk: Document, *, n: int, count: int) -> bytes:
        if chunk["n"] != n:
            raise CorruptGridFile(f"file {self.id} has no chunk #{n}")
        data = bytes(chunk["data"])
        expected = self.chunk_bytes if n < count - 1 else self.length - self.chunk_bytes * n
        if len(data) != expected:
            raise CorruptGridFile(
                f"file {self.id}: chunk #{n} is {len(data):,} bytes; expected {expected:,}"
            )
        return data

    async def read(self) -> bytes:
        """The whole file: for small copies, which are tens of kilobytes."""
        return b"".join([chunk async for chunk in self.chunks()])


async def put_file(
    db: Database, data: bytes, *, photo_id: str, filename: str | None, content_type: str
) -> ObjectId:
    """Store `data`, the bytes of photo `photo_id`; chunks first, then the files document,
    so a listed file is complete. The photo's id is kept with the file, so a file left
    without its photo (a stop between the two writes) can be found (`pruning`)."""
    file_id = ObjectId()
    count = math.ceil(len(data) / CHUNK_BYTES)
    for first in range(0, count, WRITE_BATCH):
        await db[CHUNKS].insert_many(
            [
                {
                    "files_id": file_id,
                    "n": n,
                    "data": Binary(data[n * CHUNK_BYTES : (n + 1) * CHUNK_BYTES]),
                }
                for n in range(first, min(first + WRITE_BATCH, count))
            ]
        )
    await db[FILES].insert_one(
        {
            "_id": file_id,
            "length": len(data),
            "chunkSize": CHUNK_BYTES,
            "uploadDate": datetime.now(UTC),
            "filename": filename,
            # The digest of these exact bytes: the strong ETag when the file is served.
            "metadata": {
                "contentType": content_type,
                "sha256": hashlib.sha256(data).hexdigest(),
                "photo": photo_id,
            },
        }
    )
    return file_id


async def open_file(db: Database, file_id: object) -> OpenedFile | None:
    """A stored file, or None when it does not exist."""
    found = await db[FILES].find_one({"_id": file_id})
    if found is None:
        return None
    metadata = found.get("metadata") or {}
    return OpenedFile(
        id=found["_id"],
        sha256=str(metadata.get("sha256", "")),
        content_type=str(metadata.get("contentType", "application/octet-stream")),
        length=int(found["length"]),
        chunk_bytes=int(found["chunkSize"]),
        _db=db,
    )


async def read_file(db: Database, file_id: object) -> bytes | None:
    """A stored file's bytes, or None when it does not exist."""
    opened = await open_file(db, file_id)
    return None if opened is None else await opened.read()


async def delete_files(db: Database, file_ids: Collection[object]) -> None:
    """Remove files' chunks, then their files documents; a missing one is not an error.

    The reverse of `put_file`'s order, so a stop in between leaves listed files that no
    photo refers to, which the next search for leftovers finds again (`pruning`); a file
    with chunks and no files document (`incomplete_files_before`) goes the same way.
    """
    if file_ids:
        await db[CHUNKS].delete_many({"files_id": {"$in": list(file_ids)}})
        await db[FILES].delete_many({"_id": {"$in": list(file_ids)}})


@dataclass(frozen=True)
class StoredFile:
    """A complete file as the search for leftovers sees it."""

    id: ObjectId
    photo_id: str
    length: int


async def files_written_before(db: Database, moment: datetime) -> AsyncIterator[list[StoredFile]]:
    """Files written before `moment` (their id's time) that record their photo, in batches.

    Files written by a version that did not record the photo are left out: nothing here can
    tell whether a photo refers to them.
    """
    cursor = db[FILES].find(
        {"_id": {"$lt": ObjectId.from_datetime(moment)}, "metadata.photo": {"$exists": True}},
        {"metadata.photo": 1, "length": 1},
        batch_size=_BATCH,
    )
    while documents := await cursor.to_list(_BATCH):
        yield [StoredFile(d["_id"], d["metadata"]["photo"], d["length"]) for d in documents]


async def incomplete_files_before(db: Database, moment: datetime) -> list[ObjectId]:
    """Files written before `moment` whose chunks are stored but whose files document is not
    (a stop between the two writes of `put_file`, whose first chunk is written first)."""
    cursor = db[CHUNKS].find(
        {"files_id": {"$lt": ObjectId.from_datetime(moment)}, "n": 0},
        {"files_id": 1, "_id": 0},
        batch_size=_BATCH,
        # Real MongoDB picks this index by itself; the embedded one would read every chunk.
        hint=_CHUNKS_KEY,
    )
    incomplete: list[ObjectId] = []
    while documents := await cursor.to_list(_BATCH):
        ids = [d["files_id"] for d in documents]
        listed = {d["_id"] async for d in db[FILES].find({"_id": {"$in": ids}}, {"_id": 1})}
        incomplete += [file_id for file_id in ids if file_id not in listed]
    return incomplete
