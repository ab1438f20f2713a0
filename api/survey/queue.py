"""Keeping a photo's queue state and its bucket in step; used by every queue change."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from api.database import Database, Document
from api.survey import store
from api.survey.selection import bucket_of

_MAX_RETRIES = 8


def available_bucket(photo: Mapping[str, Any], *, now: datetime) -> int | None:
    """The bucket an open photo with a free lease slot belongs in; None otherwise."""
    if photo.get("status") != "open":
        return None
    active = sum(1 for hold in photo.get("holds", ()) if hold["expires_at"] > now)
    if active >= photo["still_needed"]:
        return None
    return bucket_of(photo["priority"])


async def settle_bucket(db: Database, photo: Document | None, *, now: datetime) -> None:
    """Move the photo to the bucket its current state calls for (compare-and-set, retried
    from a fresh read when another writer changed it in between)."""
    for _ in range(_MAX_RETRIES):
        if photo is None:
            return
        wanted = available_bucket(photo, now=now)
        if photo.get("bucket") == wanted:
            return
        if await store.move_bucket(db, photo, bucket=wanted):
            return
        photo = await store.find_photo(db, photo["_id"])
    # Another writer keeps winning; it settles the bucket itself after its own change.
