"""Data builders for survey tests: photos with synthetic predictions, contributors, GraphQL."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import httpx

from api import counters
from api.auth.store import Role, add_contributor
from api.database import Database
from api.photos.records import PhotoRecord
from api.photos.store import insert_photo, photo_document
from api.settings import Settings
from api.survey.aggregating import ConsensusConfig
from api.survey.opening import open_photo, queue_fields
from api.survey.queue import PhotoStatus
from api.survey.queue import open_photo as open_photo_change
from api.survey.selection import Policy

POLICY = Policy(kind="uncertainty", measure="least_confidence", exploration=0.0, auto_accept=None)
CONFIG = ConsensusConfig.from_settings(Settings())


def prediction(top: float, *, labels: int = 3, version: str = "test-model@1") -> dict[str, Any]:
    """A prediction whose top label, n0, has probability `top` (least confidence = 1 - top);
    the other `labels - 1` of its top-k share the rest, none above `top`, and the model's
    other labels (1,000 in all) what is left."""
    rest = min((1.0 - top) / (labels - 1), top)
    top_k = [{"label_id": "n0", "name": "label zero", "probability": top}]
    top_k += [
        {"label_id": f"n{i}", "name": f"label {i}", "probability": rest} for i in range(1, labels)
    ]
    return {
        "model_version": version,
        "model_sha256": "0" * 64,
        "top_k": top_k,
        "label_count": 1000,
        "uncertainty": {
            "least_confidence": 1.0 - top,
            "margin": 1.0 - (top - rest),
            "entropy": 0.5,
        },
    }


async def add_open_photos(
    db: Database,
    tops: list[float],
    *,
    policy: Policy = POLICY,
    config: ConsensusConfig = CONFIG,
    rng: random.Random | None = None,
) -> list[str]:
    """Photos pre-labelled with the given top probabilities, opened for the survey; their
    ids are drawn from `rng` (a seeded one makes a run reproducible), else at random."""
    draw = rng or random.Random()
    ids = []
    for top in tops:
        photo_id = f"{draw.getrandbits(96):024x}"
        await insert_photo(db, _record(photo_id))
        await open_photo(
            db,
            photo_id,
            prediction(top),
            policy=policy,
            config=config,
            rng=random.Random(photo_id),
            now=datetime.now(UTC),
        )
        ids.append(photo_id)
    return ids


def _record(photo_id: str) -> PhotoRecord:
    """A stored photo's record, as `photosurvey import` would write it (without the files)."""
    return PhotoRecord(
        id=photo_id, sha256=photo_id + "0" * 40, filename=f"{photo_id}.jpg", source="import",
        added_by=None, content_type="image/jpeg", size_bytes=1000, width=640, height=480,
        original_file_id=None, small_file_id=None, small_width=512, small_height=384,
        created_at=datetime.now(UTC), status="new",
    )  # fmt: skip


async def token_for(db: Database, name: str | None = None, *, role: Role = "contributor") -> str:
    _, token = await add_contributor(db, name or f"c-{uuid.uuid4().hex[:8]}", role=role)
    return token


async def graphql(
    http: httpx.AsyncClient, query: str, token: str | None = None, **variables: Any
) -> dict[str, Any]:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    response = await http.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def answer_for(task: dict[str, Any], *, choice: int = 0) -> dict[str, Any]:
    """A valid answer to the task's question."""
    question = task["question"]
    if question["kind"] == "VERIFY":
        return {"verify": "YES"}
    if question["kind"] == "CHOOSE":
        return {"choose": {"labelId": question["labels"][choice]["id"]}}
    return {"describe": {"tags": ["something"]}}


async def load_open_photos(
    db: Database, tops: list[float], *, rng: random.Random, config: ConsensusConfig = CONFIG
) -> list[str]:
    """Like `add_open_photos`, in bulk: the photos' queue state as the service computes it
    when it opens them (`queue_fields`, `queue.open_photo`), written with one insert, for
    pools too large to open one by one. (The full predictions are not stored: serving and
    consensus read the summary on the photo.)"""
    now = datetime.now(UTC)
    photos = []
    buckets: Counter[int] = Counter()
    for top in tops:
        photo_id = f"{rng.getrandbits(96):024x}"
        summary = prediction(top)
        fields = queue_fields(summary, policy=POLICY, config=config, draw=rng.random(), now=now)
        opened = open_photo_change(photo_id, fields)  # the change `open_photo` writes
        photo = {**photo_document(_record(photo_id)), **opened.update["$set"]}
        if opened.bucket_to is not None:
            buckets[opened.bucket_to] += 1
        photos.append(photo)
    if photos:
        await db.photos.insert_many(photos)
        inc = {f"counts.{bucket}": n for bucket, n in buckets.items()}
        await db.queue.update_one({"_id": "buckets"}, {"$inc": inc}, upsert=True)
        opened = sum(photo["status"] == PhotoStatus.OPEN for photo in photos)
        await counters.count(db, photos=len(photos), prelabelled=len(photos), open=opened)
    return [photo["_id"] for photo in photos]


async def record_test_model(db: Database, *, version: str = "test-model@1") -> None:
    """Record the label set of the model `prediction` stands for (n0 to n999), as a
    pre-label worker records its model's."""
    labels = [{"id": f"n{i}", "name": "label zero" if i == 0 else f"label {i}"}
              for i in range(1000)]  # fmt: skip
    await db.models.insert_one({"_id": version, "sha256": "0" * 64, "labels": labels})
