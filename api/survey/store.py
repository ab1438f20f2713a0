"""MongoDB access for the survey: the queue fields of ``photos``, ``leases``, ``answers``,
``predictions`` and the ``queue`` bookkeeping documents.

The queue fields of a photo document (the photos store writes the rest):
``status`` (``new`` -> ``open`` -> ``retired``, or ``gold``; ``unreadable``), ``prediction``
(summary of the active model's), ``score``, ``priority``, ``answer_count``, ``still_needed``,
``holds`` (leases: ``lease_id``, ``contributor_id``, ``expires_at``), ``free_slots`` (lease
slots left: `lease_slots` of ``still_needed`` less the holds, kept by ``$inc``),
``answerers``, ``bucket`` (set only while the photo is *available*: open with a free slot)
and ``queue_version``, which every queue write increments so that bucket moves can be made
compare-and-set.

The document ``queue/buckets`` counts available photos per bucket. Each query here is
served by an index and matches a bounded set.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from api import counters
from api.database import CollectionIndexes, Database, Document, id_pages

GOLD_SLOTS = 1_000_000
"""``still_needed`` of a gold photo: it never retires."""
MAX_CONCURRENT_LEASES = 3
"""Leases one photo may have at once, even when it needs more answers than that (gold
photos too): answers arriving one after another let consensus stop asking as soon as it is
confident."""


INDEXES = (
    CollectionIndexes(
        "photos",
        (
            IndexModel([("bucket", ASCENDING)], name="bucket"),
            IndexModel([("holds.expires_at", ASCENDING)], name="hold_expiry"),
            IndexModel([("status", ASCENDING)], name="status"),
        ),
    ),
    CollectionIndexes(
        "leases",
        (
            IndexModel(
                [("contributor_id", ASCENDING), ("state", ASCENDING), ("expires_at", ASCENDING)],
                name="held",
            ),
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
_CANDIDATE_FIELDS = {"priority": 1, "score": 1, "bucket": 1, "answerers": 1, "holds": 1}


# --- the queue -------------------------------------------------------------------------


async def read_bucket_counts(db: Database) -> dict[int, int]:
    doc = await db.queue.find_one({"_id": _BUCKETS})
    counts = {} if doc is None else doc.get("counts", {})
    return {int(bucket): max(int(n), 0) for bucket, n in counts.items()}


# Photos read per candidate wanted, at most: what a busy contributor may have to skip.
CANDIDATE_READS = 10


async def find_candidates(
    db: Database, buckets: Sequence[int], *, contributor_id: str, limit: int
) -> list[Document]:
    """Up to `limit` available photos in `buckets` that `contributor_id` neither answered nor
    holds, from at most `limit * CANDIDATE_READS` read."""
    # Filtered here, not in the query: the embedded server plans a filter on more than the
    # indexed field as a collection scan. Read past the photos this contributor cannot take
    # (a busy contributor has answered or holds the first ones of a bucket), within a bound.
    found: list[Document] = []
    cursor = db.photos.find({"bucket": {"$in": list(buckets)}}, _CANDIDATE_FIELDS)
    async for photo in cursor.limit(limit * CANDIDATE_READS).batch_size(limit):
        if _free_for(photo, contributor_id):
            found.append(photo)
            if len(found) == limit:
                break
    await cursor.close()
    return found


def _free_for(photo: Document, contributor_id: str) -> bool:
    holders = {hold["contributor_id"] for hold in photo.get("holds", ())}
    return contributor_id not in photo.get("answerers", ()) and contributor_id not in holders


async def find_photo(db: Database, photo_id: str) -> Document | None:
    return await db.photos.find_one({"_id": photo_id})


async def predictions_of(db: Database, photo_ids: Iterable[str]) -> AsyncIterator[Document]:
    """These photos' ``prediction`` summaries (``_id``, ``prediction`` from ``photos``), a
    page of ids per request (see `api.database` on ``$in``)."""
    for page in id_pages(photo_ids):
        async for doc in db.photos.find({"_id": {"$in": page}}, {"prediction": 1}):
            yield doc


async def move_bucket(db: Database, doc: Document, *, bucket: int | None) -> bool:
    """Compare-and-set the photo's bucket and count it; False if the photo changed meanwhile."""
    old = doc.get("bucket")
    moved = await db.photos.update_one(
        {"_id": doc["_id"], "queue_version": doc["queue_version"]},
        {"$set": {"bucket": bucket}, "$inc": {"queue_version": 1}},
    )
    if moved.modified_count == 0:
        return False
    change: dict[str, int] = {}
    if old is not None:
        change[f"counts.{old}"] = -1
    if bucket is not None:
        change[f"counts.{bucket}"] = change.get(f"counts.{bucket}", 0) + 1
    if change:
        await db.queue.update_one({"_id": _BUCKETS}, {"$inc": change}, upsert=True)
    return True


def lease_slots(still_needed: int) -> int:
    """Leases a photo may have at once: what it still needs, at most `MAX_CONCURRENT_LEASES`."""
    return max(min(still_needed, MAX_CONCURRENT_LEASES), 0)


async def claim(db: Database, photo_id: str, *, hold: Document) -> Document | None:
    """Atomically add `hold` to the photo if it is open (or gold), has a free lease slot and
    the contributor neither answered nor holds it. Returns the photo after the claim, or
    None when it could not be claimed."""
    contributor_id = hold["contributor_id"]
    claimed = await db.photos.update_one(
        {
            "_id": photo_id,
            "status": {"$in": ["open", "gold"]},
            "free_slots": {"$gt": 0},
            "answerers": {"$ne": contributor_id},
            "holds.contributor_id": {"$ne": contributor_id},
        },
        {"$push": {"holds": hold}, "$inc": {"queue_version": 1, "free_slots": -1}},
    )
    return await find_photo(db, photo_id) if claimed.modified_count else None


async def drop_hold(db: Database, photo_id: str, *, lease_id: str) -> Document | None:
    """Remove a lease's hold from the photo, freeing its slot; returns the photo after."""
    await db.photos.update_one(
        {"_id": photo_id, "holds.lease_id": lease_id},
        {"$pull": {"holds": {"lease_id": lease_id}}, "$inc": {"queue_version": 1, "free_slots": 1}},
    )
    return await find_photo(db, photo_id)


async def find_expired_holds(db: Database, *, now: datetime, limit: int) -> list[Document]:
    # Bounded below too: the embedded server walks an index range from its start, so an
    # upper bound alone would visit every photo's entry.
    expired = {"$gte": datetime(1970, 1, 1, tzinfo=UTC), "$lte": now}
    cursor = db.photos.find({"holds.expires_at": expired}, {"holds": 1}).limit(limit)
    return await cursor.to_list()


async def open_photo(db: Database, photo_id: str, *, fields: Document) -> Document | None:
    """Move a ``new`` photo to its first queue state; None if it was not ``new``, or a model
    failed on it meanwhile (a worker whose claim had lapsed): it stays counted as a fault,
    and comes back with the next model (`retry_model_faults`)."""
    opened = await db.photos.update_one(
        {"_id": photo_id, "status": "new", "model_fault.model": None},
        {"$set": fields, "$inc": {"queue_version": 1}},
    )
    return await find_photo(db, photo_id) if opened.modified_count else None


async def record_answer(
    db: Database, doc: Document, *, contributor_id: str, lease_id: str, fields: Document
) -> Document | None:
    """Set the photo's state after an answer, computed from `doc`'s answers: compare-and-set
    on ``answer_count``, so only another answer on the same photo makes it retry. None if
    it did."""
    held = any(hold["lease_id"] == lease_id for hold in doc.get("holds", ()))
    freed = lease_slots(fields["still_needed"]) - lease_slots(doc["still_needed"]) + int(held)
    recorded = await db.photos.update_one(
        {
            **_unchanged(doc),
            "answerers": {"$ne": contributor_id},
            "holds.lease_id": lease_id if held else {"$ne": lease_id},
        },
        {
            "$set": fields,
            "$push": {"answerers": contributor_id},
            "$pull": {"holds": {"lease_id": lease_id}},
            "$inc": {"queue_version": 1, "answer_count": 1, "free_slots": freed},
        },
    )
    return _written(doc, fields, answers=1) if recorded.modified_count else None


def _written(doc: Document, fields: Document, *, answers: int) -> Document:
    """The photo as a compare-and-set on `doc` (`_unchanged`) just wrote it, for the retired
    counts: its status, reason and answers are exact, so the counts follow each change
    once, even when another write lands right after. Its other queue fields (holds, slots,
    bucket) are as of `doc`: the bucket is settled from a fresh read
    (`queue.settle_change`)."""
    return doc | fields | {"answer_count": doc["answer_count"] + answers}


# --- leases ----------------------------------------------------------------------------


async def insert_leases(db: Database, leases: Sequence[Document]) -> None:
    if leases:
        await db.leases.insert_many(list(leases), ordered=False)


async def held_leases(db: Database, contributor_id: str, *, now: datetime) -> list[Document]:
    """The leases the contributor holds, active and not yet expired (index ``held``), oldest
    first (made earliest, then by id)."""
    cursor = db.leases.find(
        {"contributor_id": contributor_id, "state": "active", "expires_at": {"$gt": now}},
        {"created_at": 1},
    )
    return sorted(await cursor.to_list(), key=lambda lease: (lease["created_at"], lease["_id"]))


async def find_lease(db: Database, lease_id: str) -> Document | None:
    return await db.leases.find_one({"_id": lease_id})


async def set_lease_state(
    db: Database, lease_id: str, *, state: str, expect: str, now: datetime
) -> bool:
    """Move the lease from `expect` to `state` (answered or released), noting when it ended."""
    changed = await db.leases.update_one(
        {"_id": lease_id, "state": expect}, {"$set": {"state": state, "ended_at": now}}
    )
    return changed.modified_count == 1


def lease_ended_at(lease: Document, *, now: datetime) -> datetime | None:
    """When the lease ended (expired, answered or released), or None while it runs. (Leases
    ended before `ended_at` was kept count as ending now.)"""
    expires_at: datetime = lease["expires_at"]
    if lease["state"] == "active":
        return expires_at if expires_at <= now else None
    ended_at: datetime = lease.get("ended_at", now)
    return min(expires_at, ended_at)


# --- answers ---------------------------------------------------------------------------


async def find_answer_by_key(
    db: Database, *, contributor_id: str, idempotency_key: str
) -> Document | None:
    return await db.answers.find_one(
        {"contributor_id": contributor_id, "idempotency_key": idempotency_key}
    )


async def insert_answer(db: Database, answer: Document) -> str | None:
    """Insert; on a unique-index clash, return the name of the index that refused it."""
    try:
        await db.answers.insert_one(answer)
    except DuplicateKeyError as exc:
        key_pattern = (exc.details or {}).get("keyPattern") or {}
        clashed = "idempotency_key" in key_pattern or "idempotency" in str(exc)
        return "idempotency" if clashed else "one_per_photo"
    return None


async def set_answer_result(db: Database, answer_id: str, *, result: Document) -> None:
    await db.answers.update_one({"_id": answer_id}, {"$set": {"result": result}})


async def set_answer_given_up(db: Database, answer_id: str) -> None:
    """Its attempt stopped short of a result (`TryAgain`): a retry finishes it at once."""
    await db.answers.update_one({"_id": answer_id}, {"$set": {"given_up": True}})


# --- predictions -----------------------------------------------------------------------


async def save_prediction(db: Database, prediction: Document) -> None:
    """Store a prediction; a second one for the same photo and model version is ignored."""
    with contextlib.suppress(DuplicateKeyError):
        await db.predictions.insert_one(prediction)


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
        "queue_depth": sum((await read_bucket_counts(db)).values()),
    }


async def find_gold_candidates(db: Database, *, contributor_id: str, limit: int) -> list[Document]:
    """Gold photos the contributor neither answered nor holds (a small, admin-made set)."""
    cursor = db.photos.find({"status": "gold"}, _CANDIDATE_FIELDS)
    return [photo async for photo in cursor if _free_for(photo, contributor_id)][:limit]


def is_prelabelled(doc: Document) -> bool:
    """Whether the model has labelled the photo (only such a photo can be made gold)."""
    return doc.get("status") in ("open", "retired", "gold")


async def mark_gold(db: Database, doc: Document) -> Document | None:
    """Take a pre-labelled photo out of the pool as a gold photo; None if it is not one
    (or changed meanwhile)."""
    if not is_prelabelled(doc):
        return None
    fields = {"status": "gold", "still_needed": GOLD_SLOTS, "retirement_reason": None}
    return await rescore(db, doc, fields=fields)


def _unchanged(doc: Document) -> Document:
    """A filter matching the photo only while its answers, demand and retirement are as in
    `doc`."""
    return {
        "_id": doc["_id"],
        "answer_count": doc["answer_count"],
        "still_needed": doc["still_needed"],
        "status": doc["status"],
        "retirement_reason": doc.get("retirement_reason"),
    }


async def rescore(db: Database, doc: Document, *, fields: Document) -> Document | None:
    """Set a photo's queue state (rescored or marked gold), unless an answer came in; the
    photo as written (`_written`), or None."""
    freed = lease_slots(fields["still_needed"]) - lease_slots(doc["still_needed"])
    rescored = await db.photos.update_one(
        _unchanged(doc), {"$set": fields, "$inc": {"queue_version": 1, "free_slots": freed}}
    )
    return _written(doc, fields, answers=0) if rescored.modified_count else None
