"""MongoDB access for the survey: the queue fields of ``photos`` (`api.survey.queue`),
``leases``, ``answers``, ``predictions`` and the bucket counts in ``queue``.

Each query here is served by an index and matches a bounded set: a request reads a span of
the queue's buckets sized to what it needs (`api.survey.selection.spans`), never the pool.
Changes that must hold together (an answer and everything it updates, a lease ending and
its photo's slot) are written in one transaction (`api.database.in_transaction`); a claim
is one guarded update of one photo, so requests for the same photos never wait on each
other's transactions.

The document ``queue/buckets`` counts the available photos per bucket. The counts are
hints for sizing the spans a request reads, written after each change that moves a photo
(`count_moves`): a crash in between leaves them off until `recount_buckets`, and a wrong
hint costs a request a larger or an extra read, never a photo (the spans always cover the
whole queue).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, IndexModel, InsertOne, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import BulkWriteError, DuplicateKeyError

from api import counters
from api.database import CollectionIndexes, Database, Document, id_pages, namespace
from api.survey.queue import Change, PhotoStatus, QueueState
from api.survey.selection import Span

INDEXES = (
    CollectionIndexes(
        "photos",
        (
            # Spans of the queue: a range of buckets, or one bucket's slice by draw.
            IndexModel([("bucket", ASCENDING), ("draw", ASCENDING)], name="bucket_draw"),
            IndexModel([("holds.expires_at", ASCENDING)], name="hold_expiry"),
            IndexModel([("status", ASCENDING)], name="status"),
        ),
        retired=("bucket",),  # the bucket alone, before `bucket_draw`
    ),
    CollectionIndexes(
        "leases",
        (
            IndexModel(
                [("contributor_id", ASCENDING), ("state", ASCENDING), ("expires_at", ASCENDING)],
                name="held",
            ),
            # One running lease per slot of a contributor's: the bound on leases held, kept
            # by the database whatever requests race (`lease_slot`).
            IndexModel([("slot", ASCENDING)], unique=True, sparse=True, name="slot"),
        ),
        retired=("mine",),  # contributor and state, before `held` (0.1.0)
    ),
    CollectionIndexes(
        "answers",
        (
            # One answer per photo and contributor, whatever races happen.
            IndexModel(
                [("photo_id", ASCENDING), ("contributor_id", ASCENDING)],
                unique=True,
                name="one_per_photo",
            ),
            IndexModel(
                [("contributor_id", ASCENDING), ("idempotency_key", ASCENDING)],
                unique=True,
                name="idempotency",
            ),
        ),
    ),
    CollectionIndexes(
        "predictions",
        (
            IndexModel(
                [("photo_id", ASCENDING), ("model_version", ASCENDING)],
                unique=True,
                name="photo_model",
            ),
        ),
    ),
)

_BUCKETS = "buckets"
# Photos sent per round trip of a span's read: the whole of a span as sized, in one.
_SPAN_BATCH = 1000
_QUEUE_FIELDS = {
    name: 1
    for name in (
        "status", "priority", "still_needed", "answer_count", "free_slots", "bucket", "holds",
        "answerers", "skipped_by", "retirement_reason", "score", "prediction",
    )
}  # fmt: skip


# --- the queue -------------------------------------------------------------------------


async def read_bucket_counts(db: Database) -> dict[int, int]:
    doc = await db.queue.find_one({"_id": _BUCKETS})
    counts = {} if doc is None else doc.get("counts", {})
    return {int(bucket): max(int(n), 0) for bucket, n in counts.items()}


async def read_span(db: Database, span: Span, *, contributor_id: str) -> list[QueueState]:
    """The photos in a span of the queue that the contributor may take (each query one range
    of index ``bucket_draw``; the server drops, unsent, those the contributor answered,
    skipped or holds, which a busy contributor meets by the hundred)."""
    if span.whole_buckets:
        query: Document = {"bucket": {"$gte": span.low, "$lte": span.high}}
    else:
        query = {"bucket": span.low, "draw": {"$gte": span.draw_from, "$lt": span.draw_to}}
    query |= {
        "answerers": {"$ne": contributor_id},
        "skipped_by": {"$ne": contributor_id},
        "holds.contributor_id": {"$ne": contributor_id},
    }
    cursor = db.photos.find(query, _QUEUE_FIELDS, batch_size=_SPAN_BATCH)
    return [QueueState.from_document(doc) async for doc in cursor]


async def read_gold(db: Database) -> list[QueueState]:
    """Every gold photo (a small, admin-made set)."""
    cursor = db.photos.find({"status": PhotoStatus.GOLD.value}, _QUEUE_FIELDS)
    return [QueueState.from_document(doc) async for doc in cursor]


async def read_queue_state(
    db: Database, photo_id: str, *, session: AsyncClientSession | None = None
) -> QueueState | None:
    doc = await db.photos.find_one({"_id": photo_id}, _QUEUE_FIELDS, session=session)
    return None if doc is None else QueueState.from_document(doc)


async def find_photo(
    db: Database, photo_id: str, *, session: AsyncClientSession | None = None
) -> Document | None:
    return await db.photos.find_one({"_id": photo_id}, session=session)


async def claim(db: Database, changes: Sequence[Change]) -> list[bool]:
    """Write claims (`api.survey.queue.claim`), each on its own in one round trip: whether
    each was made (a photo taken meanwhile, or changed, is not)."""
    if not changes:
        return []
    result = await db.client.bulk_write(
        [change_write(db, change) for change in changes], ordered=False, verbose_results=True
    )
    return [result.update_results[i].modified_count == 1 for i in range(len(changes))]


def change_write(db: Database, change: Change) -> UpdateOne:
    return UpdateOne(change.filter, change.update, namespace=namespace(db, "photos"))


def open_answers_writes(db: Database, change: Change) -> list[UpdateOne]:
    """The contributors' counts of answers on open photos that `change` moves."""
    return [
        UpdateOne(
            {"_id": contributor_id},
            {"$inc": {"open_answers": n}},
            namespace=namespace(db, "contributors"),
        )
        for contributor_id, n in sorted(change.open_answers.items())
        if n
    ]


async def read_queue_standing(db: Database, contributor_id: str) -> tuple[int, int]:
    """The contributor's gold answers and answers on photos still open."""
    doc = await db.contributors.find_one(
        {"_id": contributor_id}, {"gold_votes": 1, "open_answers": 1}
    )
    doc = doc or {}
    return int(doc.get("gold_votes", 0)), max(int(doc.get("open_answers", 0)), 0)


async def count_moves(db: Database, changes: Iterable[Change]) -> None:
    """Follow the written `changes` in the bucket counts."""
    moves: Counter[str] = Counter()
    for change in changes:
        if change.bucket_from != change.bucket_to:
            if change.bucket_from is not None:
                moves[f"counts.{change.bucket_from}"] -= 1
            if change.bucket_to is not None:
                moves[f"counts.{change.bucket_to}"] += 1
    inc = {name: n for name, n in moves.items() if n}
    if inc:
        await db.queue.update_one({"_id": _BUCKETS}, {"$inc": inc}, upsert=True)


async def recount_buckets(db: Database) -> dict[int, tuple[int, int]]:
    """Count the available photos per bucket afresh and store the counts; the buckets whose
    count was off, with (counted before, counted now). Exact only while no other process
    changes the queue (`photosurvey repair`, or start-up of the database's only user)."""
    found: Counter[int] = Counter()
    async for doc in db.photos.find({"bucket": {"$gte": 0}}, {"bucket": 1}):
        found[int(doc["bucket"])] += 1
    before = await read_bucket_counts(db)
    await db.queue.update_one(
        {"_id": _BUCKETS},
        {"$set": {"counts": {str(b): n for b, n in sorted(found.items())}}},
        upsert=True,
    )
    return {
        bucket: (before.get(bucket, 0), found[bucket])
        for bucket in set(before) | set(found)
        if before.get(bucket, 0) != found[bucket]
    }


async def find_expired_holds(db: Database, *, now: datetime, limit: int) -> list[QueueState]:
    # Bounded below too: the embedded server walks an index range from its start, so an
    # upper bound alone would visit every photo's entry.
    expired = {"$gte": datetime(1970, 1, 1, tzinfo=UTC), "$lte": now}
    cursor = db.photos.find({"holds.expires_at": expired}, _QUEUE_FIELDS).limit(limit)
    return [QueueState.from_document(doc) async for doc in cursor]


# --- leases ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Lease:
    """A lease as stored (its question aside)."""

    id: str
    photo_id: str
    contributor_id: str
    state: str  # active, answered, released or expired
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None
    slot: str | None

    @classmethod
    def from_document(cls, doc: Document) -> Lease:
        return cls(
            id=doc["_id"],
            photo_id=doc["photo_id"],
            contributor_id=doc["contributor_id"],
            state=doc["state"],
            created_at=doc["created_at"],
            expires_at=doc["expires_at"],
            ended_at=doc.get("ended_at"),
            slot=doc.get("slot"),
        )

    def ended(self, *, now: datetime) -> datetime | None:
        """When the lease ended (expired, answered or released), or None while it runs.
        (Leases ended before `ended_at` was kept count as ending now.)"""
        if self.state == "active":
            return self.expires_at if self.expires_at <= now else None
        return min(self.expires_at, self.ended_at or now)


def lease_slot(contributor_id: str, slot: int) -> str:
    """The key a running lease holds: one of the contributor's `MAX_HELD_LEASES` slots."""
    return f"{contributor_id}:{slot}"


async def active_leases(db: Database, contributor_id: str) -> list[Lease]:
    """The contributor's leases not yet ended, expired ones included (index ``held``),
    oldest first."""
    cursor = db.leases.find({"contributor_id": contributor_id, "state": "active"},
                            {"question": 0})  # fmt: skip
    leases = [Lease.from_document(doc) async for doc in cursor]
    return sorted(leases, key=lambda lease: (lease.created_at, lease.id))


async def insert_leases(db: Database, leases: Sequence[Document]) -> set[str]:
    """Insert; the ids of those refused because another lease holds their slot."""
    if not leases:
        return set()
    try:
        await db.leases.insert_many(list(leases), ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(error.get("code") != 11000 for error in errors):
            raise
        return {leases[error["index"]]["_id"] for error in errors}
    return set()


async def find_lease(
    db: Database, lease_id: str, *, session: AsyncClientSession | None = None
) -> Document | None:
    return await db.leases.find_one({"_id": lease_id}, session=session)


def end_lease_write(db: Database, lease_id: str, *, state: str, now: datetime) -> UpdateOne:
    """Move a running lease to `state` (answered, released or expired), freeing its slot."""
    return UpdateOne(
        {"_id": lease_id, "state": "active"},
        {"$set": {"state": state, "ended_at": now}, "$unset": {"slot": ""}},
        namespace=namespace(db, "leases"),
    )


# --- answers ---------------------------------------------------------------------------


async def find_answer_by_key(
    db: Database, *, contributor_id: str, idempotency_key: str
) -> Document | None:
    return await db.answers.find_one(
        {"contributor_id": contributor_id, "idempotency_key": idempotency_key}
    )


def insert_answer_write(db: Database, answer: Document) -> InsertOne[Document]:
    return InsertOne(answer, namespace=namespace(db, "answers"))


# --- predictions -----------------------------------------------------------------------


async def save_prediction(db: Database, prediction: Document) -> None:
    """Store a prediction; a second one for the same photo and model version is ignored."""
    with contextlib.suppress(DuplicateKeyError):
        await db.predictions.insert_one(prediction)


async def predictions_of(db: Database, photo_ids: Iterable[str]) -> AsyncIterator[Document]:
    """These photos' ``prediction`` summaries (``_id``, ``prediction`` from ``photos``), a
    page of ids per request (see `api.database` on ``$in``)."""
    for page in id_pages(photo_ids):
        async for doc in db.photos.find({"_id": {"$in": page}}, {"prediction": 1}):
            yield doc


async def survey_states(db: Database, photo_ids: Sequence[str]) -> dict[str, Document]:
    fields = {
        "answer_count": 1,
        "consensus": 1,
        "retirement_reason": 1,
        "status": 1,
        "unreadable_reason": 1,
        "model_fault": 1,
    }
    cursor = db.photos.find({"_id": {"$in": list(photo_ids)}}, fields)
    return {doc["_id"]: doc async for doc in cursor}


async def predictions_for(db: Database, photo_ids: Sequence[str]) -> list[Document]:
    cursor = db.predictions.find({"photo_id": {"$in": list(photo_ids)}})
    return await cursor.to_list()


# --- stats -----------------------------------------------------------------------------


async def read_stats(db: Database) -> dict[str, Any]:
    doc = await counters.read_counts(db)
    return {
        "photos": doc.get("photos", 0),
        "contributors": doc.get("contributors", 0),
        "prelabelled": doc.get("prelabelled", 0),
        "unreadable": max(doc.get("unreadable", 0), 0),
        "model_faulted": max(doc.get("model_faulted", 0), 0),
        "retired": {reason: max(int(n), 0) for reason, n in doc.get("retired", {}).items()},
        "retired_answers": doc.get("retired_answers", 0),
        "answers": doc.get("answers", 0),
        "queue_depth": max(doc.get("open", 0), 0),
    }


def is_prelabelled(status: PhotoStatus) -> bool:
    """Whether the model has labelled the photo (only such a photo can be made gold)."""
    return status in (PhotoStatus.OPEN, PhotoStatus.RETIRED, PhotoStatus.GOLD)


async def start_counts(db: Database) -> None:
    """Count the open photos of a database kept from before that count (queue depth), once;
    run at start-up."""
    if "open" not in await counters.read_counts(db):
        opened = await db.photos.count_documents({"status": PhotoStatus.OPEN.value})
        await counters.start(db, {"open": opened})
