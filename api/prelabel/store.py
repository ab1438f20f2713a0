"""Claiming photos to pre-label, so that several workers and processes share the work."""

from __future__ import annotations

from datetime import datetime, timedelta

from api.database import BY_ID, Database, Document
from api.survey.store import BY_STATUS

CLAIM_SECONDS = 120


async def claim_new_photos(
    db: Database, *, worker: str, limit: int, now: datetime
) -> list[Document]:
    """Up to `limit` photos still ``new`` and not claimed by a live worker, now claimed by
    `worker` for `CLAIM_SECONDS` (a crashed worker's claims lapse)."""
    free = {"$or": [{"prelabel_claim": None}, {"prelabel_claim.until": {"$lte": now}}]}
    cursor = db.photos.find({"status": "new", **free}, {"_id": 1}).hint(BY_STATUS).limit(limit)
    claim = {"worker": worker, "until": now + timedelta(seconds=CLAIM_SECONDS)}
    claimed = []
    for candidate in await cursor.to_list():
        photo = await db.photos.find_one_and_update(
            {"_id": candidate["_id"], "status": "new", **free},
            {"$set": {"prelabel_claim": claim}},
            {"small_file_id": 1},
            hint=BY_ID,
        )
        if photo is not None:
            claimed.append(photo)
    return claimed


async def mark_unreadable(db: Database, photo_id: str, *, reason: str, now: datetime) -> None:
    """The model could not read the photo: keep it out of the survey, with the reason."""
    await db.photos.update_one(
        {"_id": photo_id, "status": "new"},
        {"$set": {"status": "unreadable", "unreadable_reason": reason, "checked_at": now}},
        hint=BY_ID,
    )
