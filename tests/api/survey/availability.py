"""What the tests believe a contributor may be served, computed from the stored photos,
answers and leases alone, never by the service's selection code.

A photo is *available* to a contributor when it is open (not retired, not gold), the
contributor has neither answered it nor skipped it (released a lease on it) nor holds a
lease on it, and its running leases are fewer than the answers it still needs allow
(at most `MAX_CONCURRENT_LEASES` at once).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from api.database import Database
from api.survey.queue import MAX_CONCURRENT_LEASES


async def available_to(db: Database, contributor_id: str, *, now: datetime) -> set[str]:
    """The ids of the photos available to the contributor at `now` (see the module)."""
    open_photos = {
        photo["_id"]: int(photo["still_needed"])
        async for photo in db.photos.find({"status": "open"}, {"still_needed": 1})
    }
    answered = {
        answer["photo_id"]
        async for answer in db.answers.find({"contributor_id": contributor_id}, {"photo_id": 1})
    }
    running: Counter[str] = Counter()
    excluded = set(answered)
    async for lease in db.leases.find(
        {}, {"photo_id": 1, "contributor_id": 1, "state": 1, "expires_at": 1}
    ):
        live = lease["state"] == "active" and lease["expires_at"] > now
        if live:
            running[lease["photo_id"]] += 1
        if lease["contributor_id"] == contributor_id and (live or lease["state"] == "released"):
            excluded.add(lease["photo_id"])
    return {
        photo_id
        for photo_id, still_needed in open_photos.items()
        if photo_id not in excluded and running[photo_id] < min(still_needed, MAX_CONCURRENT_LEASES)
    }


async def held_by(db: Database, contributor_id: str, *, now: datetime) -> int:
    """Running leases the contributor holds."""
    return await db.leases.count_documents(
        {"contributor_id": contributor_id, "state": "active", "expires_at": {"$gt": now}}
    )
