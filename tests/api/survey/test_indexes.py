"""Every query on a survey request path, and the background ones, is served by an index.

Each entry is a query's collection, filter shape and hint, as the named function runs it.
"""

from datetime import UTC, datetime

import pytest

from api.app import INDEXES
from api.database import BY_ID, Database, Document, ensure_indexes
from api.survey.store import BY_BUCKET, BY_STATUS
from tests.api.survey.builders import add_open_photos, token_for

NOW = datetime.now(UTC)
NOT_MINE = {"answerers": {"$ne": "c"}, "holds.contributor_id": {"$ne": "c"}}

QUERIES: dict[str, tuple[str, Document, str | None]] = {
    "auth.find_by_token": ("contributors", {"token_sha256": "0" * 64}, None),
    "store.read_bucket_counts": ("queue", {"_id": "buckets"}, None),
    "store.find_candidates": ("photos", {"bucket": {"$in": [600, 599]}, **NOT_MINE}, BY_BUCKET),
    "store.find_photo / drop_hold": ("photos", {"_id": "p"}, None),
    "store.claim": ("photos", {"_id": "p", "status": "open", **NOT_MINE}, BY_ID),
    "store.open_photo": ("photos", {"_id": "p", "status": "new"}, BY_ID),
    "store.record_answer": (
        "photos", {"_id": "p", "answer_count": 1, "answerers": {"$ne": "c"}}, BY_ID
    ),
    "store.move_bucket": ("photos", {"_id": "p", "queue_version": 3}, BY_ID),
    "store.find_expired_holds (reaper)": ("photos", {"holds.expires_at": {"$lte": NOW}}, None),
    "store.find_lease": ("leases", {"_id": "l"}, None),
    "store.set_lease_state": ("leases", {"_id": "l", "state": "active"}, BY_ID),
    "store.find_answer_by_key": (
        "answers", {"contributor_id": "c", "idempotency_key": "k"}, None
    ),
    "store.predictions_for": ("predictions", {"photo_id": {"$in": ["p", "q"]}}, None),
    "prelabel.claim_new_photos (worker)": (
        "photos",
        {"status": "new", "$or": [{"prelabel_claim": None}, {"prelabel_claim.until": NOW}]},
        BY_STATUS,
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", QUERIES)
async def test_survey_queries_use_an_index(db: Database, name: str) -> None:
    await ensure_indexes(db, INDEXES)
    await add_open_photos(db, [0.2, 0.5, 0.9])
    await token_for(db)
    collection, query, hint = QUERIES[name]
    cursor = db[collection].find(query)
    plan = str(await (cursor if hint is None else cursor.hint(hint)).explain())
    assert "COLLSCAN" not in plan, f"{name} scans the whole collection: {plan}"
    assert "IXSCAN" in plan, plan
