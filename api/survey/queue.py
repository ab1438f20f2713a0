"""Keeping a photo's queue state and its bucket in step; used by every queue change."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from api import counters
from api.database import Database, Document
from api.survey import store
from api.survey.selection import bucket_of

_MAX_RETRIES = 8


def available_bucket(photo: Mapping[str, Any]) -> int | None:
    """The bucket an open photo with a free lease slot belongs in; None otherwise."""
    if photo.get("status") != "open" or photo.get("free_slots", 0) <= 0:
        return None  # gold photos are served by their own rule, never from the buckets
    return bucket_of(photo["priority"])


async def settle_bucket(db: Database, photo: Document | None) -> None:
    """Move the photo to the bucket its current state calls for (compare-and-set, retried
    from a fresh read when another writer changed it in between)."""
    for _ in range(_MAX_RETRIES):
        if photo is None:
            return
        wanted = available_bucket(photo)
        if photo.get("bucket") == wanted:
            return
        if await store.move_bucket(db, photo, bucket=wanted):
            return
        photo = await store.find_photo(db, photo["_id"])
    # Another writer keeps winning; it settles the bucket itself after its own change.


def _retired(photo: Mapping[str, Any]) -> tuple[str, int] | None:
    if photo.get("status") != "retired":
        return None
    return str(photo["retirement_reason"]), int(photo.get("answer_count", 0))


async def count_retirement(
    db: Database, *, before: Mapping[str, Any], after: Mapping[str, Any]
) -> None:
    """Keep the retired counts (by reason) and their answers in step with a photo's change."""
    old, new = _retired(before), _retired(after)
    if old == new:
        return
    change: dict[str, int] = {}
    for retired, sign in ((old, -1), (new, 1)):
        if retired is not None:
            reason, answers = retired
            change[f"retired.{reason}"] = change.get(f"retired.{reason}", 0) + sign
            change["retired_answers"] = change.get("retired_answers", 0) + sign * answers
    await counters.count(db, **change)


async def settle_change(db: Database, *, before: Mapping[str, Any], after: Document) -> None:
    """After a compare-and-set change of a photo from `before` to `after` (as the change
    wrote it): the retired counts follow the change itself, and the bucket the photo as it
    is now, read afresh (a release, say, may have moved it since the change's read)."""
    await settle_bucket(db, await store.find_photo(db, after["_id"]))
    await count_retirement(db, before=before, after=after)
