"""Every query the survey runs on a request path, and in its background work, is served by
an index: explain() shows an index scan, never a collection scan.

Each entry is the filter shape the named function sends, except point writes: they filter
on ``_id`` plus compare-and-set conditions, which the embedded server executes through its
``_id`` fast path (about 4 ms at 20,000 photos, as fast as ``_id`` alone) while its explain()
plans the extra fields as a scan; for them the test explains the ``_id`` lookup, and
bench/api.py measures them at 1,000 and 50,000 photos.
"""

from datetime import UTC, datetime

import pytest

from api.database import Database, Document
from tests.api.survey.builders import add_open_photos, token_for

NOW = datetime.now(UTC)
BY_ID = {"_id": "p"}

QUERIES: dict[str, tuple[str, Document]] = {
    "auth.find_by_token": ("contributors", {"token_sha256": "0" * 64}),
    "store.read_bucket_counts / read_stats": ("queue", {"_id": "buckets"}),
    "store.find_candidates": ("photos", {"bucket": {"$in": [600, 599]}}),
    "store.find_gold_candidates": ("photos", {"status": "gold"}),
    "store.find_photo / claim / record_answer / move_bucket / open_photo": ("photos", BY_ID),
    "store.survey_states (loader)": ("photos", {"_id": {"$in": ["p", "q"]}}),
    "store.find_expired_holds (reaper)": (
        "photos", {"holds.expires_at": {"$gte": datetime(1970, 1, 1, tzinfo=UTC), "$lte": NOW}}
    ),
    "store.find_lease / set_lease_state": ("leases", {"_id": "l"}),
    "store.held_leases": (
        "leases", {"contributor_id": "c", "state": "active", "expires_at": {"$gt": NOW}}
    ),
    "store.find_answer_by_key": ("answers", {"contributor_id": "c", "idempotency_key": "k"}),
    "store.predictions_for (loader)": ("predictions", {"photo_id": {"$in": ["p", "q"]}}),
    "consensus_store.read_photo_state / set_photo_log_odds": ("consensus", BY_ID),
    "consensus_store.read_contributor_state": ("contributors", {"_id": "c"}),
    "consensus_store.claim_aggregation": ("answers", {"_id": "a"}),
    "consensus_store.read_estimates / lease": ("consensus_meta", {"_id": "estimates"}),
    "counters.read_counts / count": ("counters", {"_id": "service"}),
    "prelabel.claim_new_photos / count_to_do": (
        "photos", {"status": "new", "model_fault.model": None}
    ),
    "prelabel.retry_model_faults": ("photos", {"status": "new", "model_fault.model": {"$gt": "m"}}),
    "prelabel.model_faults": ("photos", {"status": "new", "model_fault.model": "m"}),
    "prelabel.start_counts (faulted)": (
        "photos", {"status": "new", "model_fault.model": {"$gt": ""}}
    ),
    "prelabel.start_counts (unreadable)": ("photos", {"status": "unreadable"}),
}  # fmt: skip


@pytest.mark.parametrize("name", QUERIES)
async def test_survey_queries_use_an_index(db: Database, name: str) -> None:
    await add_open_photos(db, [0.2, 0.5, 0.9])
    await token_for(db)
    await db.consensus.insert_one({"_id": "p", "answer_count": 0})
    await db.consensus_meta.insert_one({"_id": "estimates"})
    collection, query = QUERIES[name]
    plan = str(await db[collection].find(query).explain())
    assert "COLLSCAN" not in plan, f"{name} scans the whole collection: {plan}"
    assert "IXSCAN" in plan, plan
