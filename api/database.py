"""The MongoDB connection: one `AsyncMongoClient` per process, indexes ensured at start."""

from __future__ import annotations

import asyncio
import logging
import random
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import pymongo
from pymongo import AsyncMongoClient, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ClientBulkWriteException, OperationFailure, PyMongoError
from pymongo.operations import DeleteOne, InsertOne, UpdateOne
from pymongo.read_concern import ReadConcern
from pymongo.results import ClientBulkWriteResult
from pymongo.write_concern import WriteConcern

logger = logging.getLogger(__name__)

Document = dict[str, Any]


# Notes on the embedded server that shape every query here (measured on SecantusDB 0.7):
# - a find whose filter names more than its index's fields is planned as a collection scan,
#   so request-path finds filter on one indexed key and narrow the few results in Python;
# - point writes (update_one) filtering on ``_id`` plus conditions go through its ``_id``
#   fast path and are atomic, so they carry compare-and-set conditions in the filter;
# - find_one_and_update and index hints are slow on large collections (the write step of
#   find_one_and_update scans the collection: 0.5 s at 50,000 photos, holding the
#   collection's write lock), and update pipelines are not atomic under concurrency: none
#   of them is used;
# - a filter with a top-level ``$and``/``$or``, or ``$ne``/``$nin`` as its only clause, is a
#   collection scan; a range or ``$in`` on an indexed field reads (and decodes) every
#   matching document before the first is returned, whatever the limit, so a query is
#   bounded by what it matches, never by ``limit``;
# - multi-document transactions work (snapshot isolation: a second writer of a document
#   fails at once with a transient WriteConflict), and so does the client-level
#   ``bulkWrite`` command, inside a transaction too; a transaction's writes are synced once,
#   at commit, where separate writes are synced one by one;
# - ``{"_id": {"$in": ids}}`` is fast for a page of ids (100 among 50,000 photos: 0.03 s) but
#   grows about with the square of their number (1,000: 1.5 s; 10,000: 143 s), so bulk reads
#   ask in pages of `ID_PAGE` ids (1,000 ids: 0.28 s). A scan is no way out: one over 50,000
#   photos, even with a projection, holds the server for 6.3 s while every request waits.

ID_PAGE = 100


def id_pages(ids: Iterable[str]) -> Iterator[list[str]]:
    """`ids` sorted, in lists of at most `ID_PAGE` (for ``$in`` filters; see above)."""
    ordered = sorted(ids)
    for start in range(0, len(ordered), ID_PAGE):
        yield ordered[start : start + ID_PAGE]


Client = AsyncMongoClient[Document]
Database = AsyncDatabase[Document]
Session = AsyncClientSession


@dataclass(frozen=True)
class CollectionIndexes:
    """The indexes one collection needs; each domain store declares its own."""

    collection: str
    indexes: tuple[IndexModel, ...]
    # Names of indexes an earlier version made and nothing uses now: dropped at start-up,
    # as each one still costs a write on every insert.
    retired: tuple[str, ...] = ()


SERVER_SELECTION_TIMEOUT_MS = 5000


def connect(uri: str) -> Client:
    """A client for `uri`. It connects lazily, inside the event loop that first uses it."""
    # Fail a request after 5 s without a server rather than the driver's 30 s, unless the
    # URI chooses its own (a keyword argument would override the URI's option).
    options = urllib.parse.parse_qsl(urllib.parse.urlsplit(uri).query)
    chosen = any(name.lower() == "serverselectiontimeoutms" for name, _ in options)
    timeout: dict[str, Any] = (
        {} if chosen else {"serverSelectionTimeoutMS": SERVER_SELECTION_TIMEOUT_MS}
    )
    return AsyncMongoClient(uri, appname="photosurvey", tz_aware=True, **timeout)


async def ensure_indexes(db: Database, specs: Iterable[CollectionIndexes]) -> None:
    """Create every declared index (existing identical ones are left alone) and drop the
    retired ones still there."""
    for spec in specs:
        collection = db[spec.collection]
        if spec.indexes:
            names = await collection.create_indexes(list(spec.indexes))
            logger.info("indexes ensured", extra={"collection": spec.collection, "indexes": names})
        if spec.retired:
            existing = await collection.index_information()
            for name in spec.retired:
                if name in existing:
                    await _drop_index(collection, name)


INDEX_NOT_FOUND = 27  # the server's code when the index is gone already


async def _drop_index(collection: AsyncCollection[Document], name: str) -> None:
    """Drop the index; a process starting alongside may have dropped it first."""
    try:
        await collection.drop_index(name)
    except OperationFailure as exc:
        if exc.code != INDEX_NOT_FOUND:
            raise
        return
    logger.info("retired index dropped", extra={"collection": collection.name, "index": name})


READY_TIMEOUT_SECONDS = 2.0


async def is_ready(db: Database) -> bool:
    """Whether the database answers ``ping`` within `READY_TIMEOUT_SECONDS`."""
    try:
        # PyMongo's own deadline: it also bounds server selection, which asyncio's would not
        # cancel cleanly.
        with pymongo.timeout(READY_TIMEOUT_SECONDS):
            await db.command("ping")
    except PyMongoError:
        logger.warning("database ping failed", exc_info=True)
        return False
    return True


Write = InsertOne[Document] | UpdateOne | DeleteOne
"""One write of a client-level bulk write; it names its collection (`namespace`)."""


def namespace(db: Database, collection: str) -> str:
    return f"{db.name}.{collection}"


class Conflict(Exception):
    """A write guarded by what a transaction read matched nothing: another writer changed
    the data first. The transaction is aborted and tried again from fresh reads."""


class Contended(Exception):
    """A transaction kept conflicting with other writers `TRANSACTION_TRIES` times."""


TRANSACTION_TRIES = 10
_BACKOFF_SECONDS = 0.005
T = TypeVar("T")


async def in_transaction(
    db: Database,
    attempt: Callable[[Session], Awaitable[T]],
    *,
    tries: int = TRANSACTION_TRIES,
) -> T:
    """Run `attempt` (its reads and writes passing the session) as one transaction, and
    commit it; run it again from the start when it conflicts with another writer (a
    transient transaction error, or `Conflict` from `write_all`). Raises `Contended` after
    `tries` conflicts, each retry after a short random wait."""
    async with db.client.start_session() as session:
        for trial in range(tries):
            if trial:
                await asyncio.sleep(random.uniform(0, _BACKOFF_SECONDS * 2**trial))
            try:
                async with await session.start_transaction(
                    read_concern=ReadConcern("snapshot"), write_concern=WriteConcern("majority")
                ):
                    return await attempt(session)
            except Conflict:
                continue
            except PyMongoError as exc:
                if not exc.has_error_label("TransientTransactionError"):
                    raise
    raise Contended(f"a transaction conflicted with other writers {tries} times")


async def write_all(
    session: Session, writes: Sequence[Write], *, guarded: Iterable[int] = ()
) -> ClientBulkWriteResult:
    """Send `writes` in one round trip, inside the session's transaction. Each update at an
    index in `guarded` must match a document, else `Conflict` (the transaction is aborted):
    its filter states what the transaction read."""
    try:
        result = await session.client.bulk_write(
            list(writes), session=session, ordered=True, verbose_results=True
        )
    except ClientBulkWriteException as exc:
        # A write conflict comes wrapped, its transient label on the error inside.
        inner = exc.error
        if isinstance(inner, PyMongoError) and inner.has_error_label("TransientTransactionError"):
            raise Conflict from exc
        raise
    if any(result.update_results[index].matched_count != 1 for index in guarded):
        raise Conflict
    return result


async def run_empty_transaction(db: Database) -> None:
    """A transaction that reads one document. The embedded server aborts a transaction left
    open by a killed process (past its 60 s lifetime, as MongoDB does) only when another
    transaction begins; until then any plain write to a document it wrote waits. Running
    one every few seconds (`api.survey.background`) bounds that wait to the lifetime."""

    async def attempt(session: Session) -> None:
        await db.queue.find_one({"_id": "-"}, session=session)

    await in_transaction(db, attempt)
