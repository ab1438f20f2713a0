"""The MongoDB connection: one `AsyncMongoClient` per process, indexes ensured at start."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pymongo
from pymongo import AsyncMongoClient, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

logger = logging.getLogger(__name__)

Document = dict[str, Any]

BY_ID = "_id_"
"""The name MongoDB gives every collection's ``_id`` index. Filters that add conditions to
an indexed field (``{_id: x, status: "open"}``) hint the index they rely on: the embedded
server's planner picks an index only when it covers every field of the filter, and would
otherwise scan the whole collection (a test runs ``explain()`` on every such query)."""
Client = AsyncMongoClient[Document]
Database = AsyncDatabase[Document]


@dataclass(frozen=True)
class CollectionIndexes:
    """The indexes one collection needs; each domain store declares its own."""

    collection: str
    indexes: tuple[IndexModel, ...]


def connect(uri: str) -> Client:
    """A client for `uri`. It connects lazily, inside the event loop that first uses it."""
    return AsyncMongoClient(uri, appname="photosurvey", tz_aware=True)


async def ensure_indexes(db: Database, specs: Iterable[CollectionIndexes]) -> None:
    """Create every declared index; existing identical ones are left alone."""
    for spec in specs:
        if spec.indexes:
            names = await db[spec.collection].create_indexes(list(spec.indexes))
            logger.info("indexes ensured", extra={"collection": spec.collection, "indexes": names})


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
