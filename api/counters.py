"""Service-wide counts, kept up to date with one ``$inc`` at each event.

`stats` reads them instead of counting collections: on the embedded server even an
estimated document count walks the whole collection (about 0.35 s at 20,000 photos).

Counts that change with the survey's transactions (answers, retirements, open photos) are
written inside them (`count_write`), so they always equal what the stored answers and
photos imply, crash or not. Every such transaction would write the same document, and two
transactions writing one document conflict, so those counts are spread over `SHARDS`
documents, one picked at random per transaction, and read as their sum. Counts of other
events (photos imported, contributors added) are written on their own (`count`).
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Mapping
from typing import Any

from pymongo import UpdateOne
from pymongo.errors import DuplicateKeyError

from api.database import Database, Document, namespace

_ID = "service"
SHARDS = 16
_SHARD_IDS = [_ID, *(f"{_ID}.{shard}" for shard in range(1, SHARDS))]


async def count(db: Database, **events: int) -> None:
    """Add to named counts; a dotted name counts inside a group (``retired.CAP``)."""
    await db.counters.update_one({"_id": _ID}, {"$inc": events}, upsert=True)


def count_write(db: Database, events: Mapping[str, int], *, rng: random.Random) -> UpdateOne:
    """`count`, as a write of a transaction, on a shard drawn with `rng`."""
    return UpdateOne(
        {"_id": rng.choice(_SHARD_IDS)},
        {"$inc": dict(events)},
        upsert=True,
        namespace=namespace(db, "counters"),
    )


async def read_counts(db: Database) -> Document:
    """Every count, summed over the shards (groups summed member by member)."""
    total: Document = {}
    async for shard in db.counters.find({"_id": {"$in": _SHARD_IDS}}):
        _add(total, {name: value for name, value in shard.items() if name != "_id"})
    return total


def _add(total: Document, counts: Mapping[str, Any]) -> None:
    for name, value in counts.items():
        if isinstance(value, Mapping):
            _add(total.setdefault(name, {}), value)
        elif isinstance(value, int | float):
            total[name] = total.get(name, 0) + value


async def start(db: Database, counts: dict[str, int]) -> None:
    """Set counts that no shard holds yet (a count added to a database kept from before); one
    that an event has meanwhile started is left as it is."""
    kept = await read_counts(db)
    counts = {name: n for name, n in counts.items() if name not in kept}
    if not counts:
        return
    absent = {name: {"$exists": False} for name in counts}
    with contextlib.suppress(DuplicateKeyError):  # started meanwhile: the upsert collides
        await db.counters.update_one({"_id": _ID, **absent}, {"$set": counts}, upsert=True)
