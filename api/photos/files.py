"""Photo bytes in GridFS (bucket ``photo_files``), behind three functions.

Files are written here in the GridFS layout (a ``photo_files.files`` document plus
``photo_files.chunks``), readable by any GridFS client, rather than through
`AsyncGridFSBucket.upload_from_stream`: before every upload that call runs an unfiltered
``find_one`` on the files collection to decide whether to create indexes, and on the
embedded database such a query costs time proportional to the whole collection. The indexes
are ensured at start-up instead (`INDEXES`). Reading goes through the driver's bucket.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from bson import Binary, ObjectId
from gridfs import AsyncGridFSBucket, AsyncGridOut
from gridfs.errors import NoFile
from pymongo import ASCENDING, IndexModel

from api.database import CollectionIndexes, Database

BUCKET = "photo_files"
CHUNK_BYTES = 255 * 1024  # the GridFS default

# The same keys and names the driver would create, so either may create them first.
INDEXES = (
    CollectionIndexes(
        f"{BUCKET}.files",
        (
            IndexModel(
                [("filename", ASCENDING), ("uploadDate", ASCENDING)],
                name="filename_1_uploadDate_1",
            ),
        ),
    ),
    CollectionIndexes(
        f"{BUCKET}.chunks",
        (
            IndexModel(
                [("files_id", ASCENDING), ("n", ASCENDING)], unique=True, name="files_id_1_n_1"
            ),
        ),
    ),
)


@dataclass(frozen=True)
class OpenedFile:
    """A stored file whose facts are known and whose bytes are read on demand.

    Opening reads only the files document, so a conditional request (ETag) is answered
    without reading the chunks.
    """

    sha256: str
    content_type: str
    length: int
    _stream: AsyncGridOut

    async def read(self) -> bytes:
        return await self._stream.read()


async def put_file(
    db: Database, data: bytes, *, filename: str | None, content_type: str
) -> ObjectId:
    """Store `data`; chunks first, then the files document, so a listed file is complete."""
    file_id = ObjectId()
    chunks = [
        {"files_id": file_id, "n": n, "data": Binary(data[start : start + CHUNK_BYTES])}
        for n, start in enumerate(range(0, len(data), CHUNK_BYTES))
    ]
    if chunks:
        await db[f"{BUCKET}.chunks"].insert_many(chunks)
    await db[f"{BUCKET}.files"].insert_one(
        {
            "_id": file_id,
            "length": len(data),
            "chunkSize": CHUNK_BYTES,
            "uploadDate": datetime.now(UTC),
            "filename": filename,
            # The digest of these exact bytes: the strong ETag when the file is served.
            "metadata": {"contentType": content_type, "sha256": hashlib.sha256(data).hexdigest()},
        }
    )
    return file_id


async def open_file(db: Database, file_id: object) -> OpenedFile | None:
    """A stored file, or None when it does not exist."""
    bucket = AsyncGridFSBucket(db, bucket_name=BUCKET)
    try:
        stream = await bucket.open_download_stream(file_id)
    except NoFile:
        return None
    metadata = stream.metadata or {}
    return OpenedFile(
        sha256=str(metadata.get("sha256", "")),
        content_type=str(metadata.get("contentType", "application/octet-stream")),
        length=stream.length,
        _stream=stream,
    )


async def read_file(db: Database, file_id: object) -> bytes | None:
    """A stored file's bytes, or None when it does not exist."""
    opened = await open_file(db, file_id)
    return None if opened is None else await opened.read()


async def delete_file(db: Database, file_id: object) -> None:
    """Remove a file and its chunks; a missing file is not an error."""
    with contextlib.suppress(NoFile):
        await AsyncGridFSBucket(db, bucket_name=BUCKET).delete(file_id)
