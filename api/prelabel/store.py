"""Claiming photos to pre-label, so that several workers and processes share the work."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, IndexModel

from api import counters
from api.database import CollectionIndexes, Database, Document

# New photos by the model that failed on them (none: still to do): the claims, the re-queue
# of other models' faults and the count of one model's faults each read one range of it.
INDEXES = CollectionIndexes(
    "photos",
    (IndexModel([("status", ASCENDING), ("model_fault.model", ASCENDING)], name="prelabel_queue"),),
)

# Counted since stats showed them; a database from before holds such photos uncounted.
_FAULTED = {"status": "new", "model_fault.model": {"$gt": ""}}  # any model's SHA-256
_UNREADABLE = {"status": "unreadable"}

CLAIM_SECONDS = 120
# New photos read per batch claimed: some may be claimed by other workers meanwhile.
_CANDIDATES_PER_CLAIM = 4


async def claim_new_photos(
    db: Database, *, worker: str, limit: int, now: datetime
) -> list[Document]:
    """Up to `limit` photos still ``new``, not claimed by a live worker and not failed by a
    model (`mark_model_fault`), now claimed by `worker` for `CLAIM_SECONDS` (a crashed
    worker's claims lapse)."""
    cursor = db.photos.find(
        {"status": "new", "model_fault.model": None}, {"prelabel_claim": 1, "small_file_id": 1}
    )
    candidates = [doc async for doc in cursor.limit(limit * _CANDIDATES_PER_CLAIM)
                  if _unclaimed(doc, now)]  # fmt: skip
    claim = {"worker": worker, "until": now + timedelta(seconds=CLAIM_SECONDS)}
    free = {"$or": [{"prelabel_claim": None}, {"prelabel_claim.until": {"$lte": now}}]}
    claimed = []
    for photo in candidates[:limit]:
        taken = await db.photos.update_one(
            {"_id": photo["_id"], "status": "new", **free}, {"$set": {"prelabel_claim": claim}}
        )
        if taken.modified_count:
            claimed.append({"_id": photo["_id"], "small_file_id": photo["small_file_id"]})
    return claimed


def _unclaimed(doc: Document, now: datetime) -> bool:
    claim = doc.get("prelabel_claim")
    return claim is None or claim["until"] <= now


async def mark_unreadable(db: Database, photo_id: str, *, reason: str, now: datetime) -> None:
    """The model could not read the photo: keep it out of the survey, with the reason."""
    fields = {"status": "unreadable", "unreadable_reason": reason, "checked_at": now}
    marked = await db.photos.update_one({"_id": photo_id, "status": "new"}, {"$set": fields})
    if marked.modified_count:
        await counters.count(db, unreadable=1)


def prelabel_problem(photo: Mapping[str, Any]) -> str | None:
    """Why the model has not labelled the photo, from the fields `mark_unreadable` and
    `mark_model_fault` set; None when nothing stands in the way."""
    if photo.get("status") == "unreadable":
        return f"the photo cannot be read: {photo.get('unreadable_reason')}"
    fault = photo.get("model_fault")
    if photo.get("status") != "new" or fault is None:
        return None
    return f"the model {fault['model'][:12]} failed on it: {fault['reason']}"


async def mark_model_fault(
    db: Database, photo_id: str, *, model: str, reason: str, now: datetime
) -> None:
    """The model (its SHA-256) gave no usable scores for the photo: not the photo's fault, so
    it stays ``new``, out of the claims until another model comes (`retry_model_faults`).
    Counted once, by the first model to fail on it."""
    fault = {"model": model, "reason": reason, "at": now}
    marked = await db.photos.update_one(
        {"_id": photo_id, "status": "new", "model_fault.model": None},
        {"$set": {"model_fault": fault, "prelabel_claim": None}},
    )
    if marked.modified_count:
        await counters.count(db, model_faulted=1)


async def retry_model_faults(db: Database, *, model: str) -> int:
    """Put the new photos another model failed on back into the claims of `model` (its
    SHA-256); run where a model is loaded. Returns how many."""
    retried = 0
    for other in ({"$lt": model}, {"$gt": model}):  # two ranges of the index: no scan
        done = await db.photos.update_many(
            {"status": "new", "model_fault.model": other}, {"$unset": {"model_fault": ""}}
        )
        retried += done.modified_count
    if retried:
        await counters.count(db, model_faulted=-retried)
    return retried


async def model_faults(db: Database, *, model: str, examples: int) -> tuple[int, list[Document]]:
    """How many new photos `model` (its SHA-256) failed on, and the first `examples` of them
    with the error."""
    faulted = {"status": "new", "model_fault.model": model}
    count = await db.photos.count_documents(faulted)
    first = await db.photos.find(faulted, {"model_fault": 1}).limit(examples).to_list()
    return count, first


async def start_counts(db: Database) -> None:
    """Count the unreadable and model-faulted photos a database already holds, once, when it
    has no such counts yet (each a range of `INDEXES`); run at start-up, before any worker."""
    kept = await counters.read_counts(db)
    found = {
        name: await db.photos.count_documents(query)
        for name, query in (("unreadable", _UNREADABLE), ("model_faulted", _FAULTED))
        if name not in kept
    }
    if found:
        await counters.start(db, found)


async def count_to_do(db: Database) -> int:
    """New photos no model failed on: what the workers will claim."""
    return await db.photos.count_documents({"status": "new", "model_fault.model": None})
