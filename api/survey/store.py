"""MongoDB access for the survey: the queue fields of ``photos``, ``leases``, ``answers``,
``predictions`` and the ``queue`` bookkeeping documents.

The queue fields of a photo document (the photos store writes the rest):
``status`` (``new`` -> ``open`` -> ``completed``), ``prediction`` (summary of the active
model's), ``score``, ``priority``, ``answer_count``, ``still_needed``, ``holds`` (active
leases: ``lease_id``, ``contributor_id``, ``expires_at``), ``answerers``, ``bucket`` (set only
while the photo is *available*: open with a free lease slot) and ``queue_version``, which
every queue write increments so that bucket moves can be made compare-and-set.

The document ``queue/buckets`` counts available photos per bucket; ``queue/stats`` counts
events for `stats`. Each query here is served by an index and matches a bounded set.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError

from api.database import BY_ID, CollectionIndexes, Database, Document

BY_BUCKET = "bucket"
BY_STATUS = "status"

INDEXES = (
    CollectionIndexes(
        "photos",
        (
            IndexModel([("bucket", ASCENDING)], name=BY_BUCKET),
            IndexModel([("holds.expires_at", ASCENDING)], name="hold_expiry"),
            IndexModel([("status", ASCENDING)], name=BY_STATUS),
        ),
    ),
    CollectionIndexes(
        "leases", (IndexModel([("contributor_id", ASCENDING), ("state", ASCENDING)], name="mine"),)
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
_STATS = "stats"
_CANDIDATE_FIELDS = {"priority": 1, "score": 1, "prediction": 1, "bucket": 1}


# --- the queue -------------------------------------------------------------------------


async def read_bucket_counts(db: Database) -> dict[int, int]:
    doc = await db.queue.find_one({"_id": _BUCKETS})
    counts = {} if doc is None else doc.get("counts", {})
    return {int(bucket): max(int(n), 0) for bucket, n in counts.items()}


async def find_candidates(
    db: Database, buckets: Sequence[int], *, contributor_id: str, limit: int
) -> list[Document]:
    """Available photos in `buckets` that `contributor_id` neither answered nor holds."""
    cursor = (
        db.photos.find(
            {
                "bucket": {"$in": list(buckets)},
                "answerers": {"$ne": contributor_id},
                "holds.contributor_id": {"$ne": contributor_id},
            },
            _CANDIDATE_FIELDS,
        )
        .hint(BY_BUCKET)
        .limit(limit)
    )
    return await cursor.to_list()


async def find_photo(db: Database, photo_id: str) -> Document | None:
    return await db.photos.find_one({"_id": photo_id})


async def move_bucket(db: Database, doc: Document, *, bucket: int | None) -> bool:
    """Compare-and-set the photo's bucket and count it; False if the photo changed meanwhile."""
    old = doc.get("bucket")
    moved = await db.photos.update_one(
        {"_id": doc["_id"], "queue_version": doc["queue_version"]},
        {"$set": {"bucket": bucket}, "$inc": {"queue_version": 1}},
        hint=BY_ID,
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


async def claim(db: Database, photo_id: str, *, hold: Document, now: datetime) -> Document | None:
    """Atomically add `hold` to the photo if it is open, has a free slot (expired holds
    dropped first) and the contributor neither answered nor holds it. Returns the photo
    after the claim, or None when it could not be claimed."""
    contributor_id = hold["contributor_id"]
    active = {"$filter": {"input": "$holds", "as": "h", "cond": {"$gt": ["$$h.expires_at", now]}}}
    fits = {"$lt": [{"$size": "$holds"}, "$still_needed"]}
    doc = await db.photos.find_one_and_update(
        {
            "_id": photo_id,
            "status": "open",
            "answerers": {"$ne": contributor_id},
            "holds.contributor_id": {"$ne": contributor_id},
        },
        [
            {"$set": {"holds": active}},
            # The version moves only when the hold is added, so a refused claim does not
            # disturb other writers' compare-and-set.
            {
                "$set": {
                    "queue_version": {"$add": ["$queue_version", {"$cond": [fits, 1, 0]}]},
                    "holds": {"$cond": [fits, {"$concatArrays": ["$holds", [hold]]}, "$holds"]},
                }
            },
        ],
        return_document=ReturnDocument.AFTER,
        hint=BY_ID,
    )
    if doc is None or not any(h["lease_id"] == hold["lease_id"] for h in doc["holds"]):
        return None
    return doc


async def drop_hold(db: Database, photo_id: str, *, lease_id: str) -> Document | None:
    """Remove a lease's hold from the photo; returns the photo after."""
    return await db.photos.find_one_and_update(
        {"_id": photo_id},
        {"$pull": {"holds": {"lease_id": lease_id}}, "$inc": {"queue_version": 1}},
        return_document=ReturnDocument.AFTER,
    )


async def find_expired_holds(db: Database, *, now: datetime, limit: int) -> list[Document]:
    cursor = db.photos.find({"holds.expires_at": {"$lte": now}}).limit(limit)
    return await cursor.to_list()


async def drop_expired_holds(db: Database, photo_id: str, *, now: datetime) -> Document | None:
    return await db.photos.find_one_and_update(
        {"_id": photo_id},
        {"$pull": {"holds": {"expires_at": {"$lte": now}}}, "$inc": {"queue_version": 1}},
        return_document=ReturnDocument.AFTER,
    )


async def open_photo(db: Database, photo_id: str, *, fields: Document) -> Document | None:
    """Move a ``new`` photo to its first queue state; None if it was not ``new``."""
    return await db.photos.find_one_and_update(
        {"_id": photo_id, "status": "new"},
        {"$set": fields, "$inc": {"queue_version": 1}},
        return_document=ReturnDocument.AFTER,
        hint=BY_ID,
    )


async def record_answer(
    db: Database, doc: Document, *, contributor_id: str, lease_id: str, fields: Document
) -> Document | None:
    """Set the photo's state after an answer, computed from `doc`'s answers: compare-and-set
    on ``answer_count``, so only another answer on the same photo makes it retry. None if
    it did."""
    return await db.photos.find_one_and_update(
        {
            "_id": doc["_id"],
            "answer_count": doc["answer_count"],
            "answerers": {"$ne": contributor_id},
        },
        {
            "$set": fields,
            "$push": {"answerers": contributor_id},
            "$pull": {"holds": {"lease_id": lease_id}},
            "$inc": {"queue_version": 1, "answer_count": 1},
        },
        return_document=ReturnDocument.AFTER,
        hint=BY_ID,
    )


# --- leases ----------------------------------------------------------------------------


async def insert_leases(db: Database, leases: Sequence[Document]) -> None:
    if leases:
        await db.leases.insert_many(list(leases), ordered=False)


async def find_lease(db: Database, lease_id: str) -> Document | None:
    return await db.leases.find_one({"_id": lease_id})


async def set_lease_state(db: Database, lease_id: str, *, state: str, expect: str) -> bool:
    changed = await db.leases.update_one(
        {"_id": lease_id, "state": expect}, {"$set": {"state": state}}
    )
    return changed.modified_count == 1


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


async def count_contributor_answer(db: Database, contributor_id: str) -> None:
    await db.contributors.update_one({"_id": contributor_id}, {"$inc": {"answer_count": 1}})


# --- predictions -----------------------------------------------------------------------


async def save_prediction(db: Database, prediction: Document) -> None:
    """Store a prediction; a second one for the same photo and model version is ignored."""
    with contextlib.suppress(DuplicateKeyError):
        await db.predictions.insert_one(prediction)


async def answer_counts(db: Database, photo_ids: Sequence[str]) -> dict[str, int]:
    cursor = db.photos.find({"_id": {"$in": list(photo_ids)}}, {"answer_count": 1})
    return {doc["_id"]: doc.get("answer_count", 0) async for doc in cursor}


async def predictions_for(db: Database, photo_ids: Sequence[str]) -> list[Document]:
    cursor = db.predictions.find({"photo_id": {"$in": list(photo_ids)}})
    return await cursor.to_list()


# --- stats -----------------------------------------------------------------------------


async def count_event(db: Database, **events: int) -> None:
    await db.queue.update_one({"_id": _STATS}, {"$inc": events}, upsert=True)


async def read_stats(db: Database) -> dict[str, Any]:
    doc = await db.queue.find_one({"_id": _STATS}) or {}
    return {
        "photos": await db.photos.estimated_document_count(),
        "contributors": await db.contributors.estimated_document_count(),
        "prelabelled": doc.get("prelabelled", 0),
        "completed": doc.get("completed", 0),
        "answers": doc.get("answers", 0),
        "queue_depth": sum((await read_bucket_counts(db)).values()),
    }
