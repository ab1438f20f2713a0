"""Many contributors at once through two app instances on one database."""

import asyncio
import random
from collections import Counter
from typing import Any

import httpx

from api import counters
from api.database import Database
from api.settings import Settings
from api.survey.operations import NEXT_TASKS, SUBMIT
from api.survey.queue import lease_slots
from tests.api.survey.builders import add_open_photos, answer_for, graphql, token_for
from tests.conftest import serve

CONTRIBUTORS = 20
MARK_GOLD = """mutation($photo: ID!) { markGold(photoId: $photo, labelId: "n0") { __typename } }"""
CALLS = 50


async def _session(
    client: httpx.AsyncClient, token: str, served: list[tuple[str, str]], results: Counter[str]
) -> None:
    tasks = (await graphql(client, NEXT_TASKS, token, count=3))["data"]["nextTasks"]
    served += [(token, task["photoId"]) for task in tasks]
    for task in tasks:
        payload: dict[str, Any] = {
            "leaseId": task["leaseId"],
            "answer": answer_for(task),
            "idempotencyKey": task["leaseId"],
        }
        body = await graphql(client, SUBMIT, token, input=payload)
        results[body["data"]["submitAnswer"]["__typename"]] += 1


async def test_concurrent_contributors_on_two_instances(settings: Settings, db: Database) -> None:
    photo_ids = await add_open_photos(db, [random.Random(i).random() for i in range(30)])
    tokens = [await token_for(db) for _ in range(CONTRIBUTORS)]
    served: list[tuple[str, str]] = []
    results: Counter[str] = Counter()
    async with serve(settings) as first, serve(settings) as second:
        clients = [first, second]
        await asyncio.gather(
            *(
                _session(clients[i % 2], tokens[i % CONTRIBUTORS], served, results)
                for i in range(CALLS)
            )
        )

    assert served, "nothing was served"
    assert len(served) == len(set(served)), "a contributor was served a photo twice"
    assert set(results) == {"AnswerAccepted"}
    answers = await db.answers.find({}, {"photo_id": 1, "contributor_id": 1}).to_list()
    assert len(answers) == results["AnswerAccepted"] == len(served)
    pairs = [(a["photo_id"], a["contributor_id"]) for a in answers]
    assert len(pairs) == len(set(pairs)), "duplicate answer"
    per_photo = Counter(a["photo_id"] for a in answers)
    assert max(per_photo.values()) <= settings.answer_cap, "a photo got answers past its cap"
    for photo in await db.photos.find({"_id": {"$in": photo_ids}}).to_list():
        assert photo["answer_count"] == per_photo.get(photo["_id"], 0)
        assert len(photo["holds"]) <= lease_slots(photo["still_needed"]), "leased beyond need"
        assert photo["free_slots"] == lease_slots(photo["still_needed"]) - len(photo["holds"])
    counts = await db.queue.find_one({"_id": "buckets"})
    assert counts is not None
    available = await db.photos.count_documents({"bucket": {"$ne": None}})
    assert sum(counts["counts"].values()) == available, "bucket counts drifted"


async def test_photos_marked_gold_while_answers_land_keep_every_count_exact(
    settings: Settings, db: Database
) -> None:
    photo_ids = await add_open_photos(db, [0.9] * 6)  # VERIFY questions
    tokens = [await token_for(db) for _ in range(6)]
    admin = await token_for(db, role="admin")
    async with serve(settings) as first, serve(settings) as second:
        tasks = [(await graphql(first, NEXT_TASKS, t, count=3))["data"]["nextTasks"]
                 for t in tokens]  # fmt: skip
        answers = [
            graphql(second if i % 2 else first, SUBMIT, token, input={
                "leaseId": task["leaseId"], "answer": {"verify": "YES"},
                "idempotencyKey": task["leaseId"]})
            for i, (token, held) in enumerate(zip(tokens, tasks, strict=True))
            for task in held
        ]  # fmt: skip
        golds = [graphql(first, MARK_GOLD, admin, photo=pid) for pid in photo_ids[:3]]
        results = await asyncio.gather(*answers, *golds)

    assert {r["data"]["submitAnswer"]["__typename"] for r in results[: len(answers)]} == {
        "AnswerAccepted"
    }
    assert all(r["data"]["markGold"]["__typename"] == "GoldMarked" for r in results[-3:])
    stored = await db.answers.find({}, {"photo_id": 1}).to_list()
    per_photo = Counter(a["photo_id"] for a in stored)
    photos = await db.photos.find({"_id": {"$in": photo_ids}}).to_list()
    retired = Counter(p["retirement_reason"] for p in photos if p["status"] == "retired")
    counts = await counters.read_counts(db)
    assert counts["answers"] == len(stored)
    assert {k: v for k, v in counts.get("retired", {}).items() if v} == dict(retired)
    assert counts.get("retired_answers", 0) == sum(
        per_photo[p["_id"]] for p in photos if p["status"] == "retired"
    )
    assert counts["open"] == sum(p["status"] == "open" for p in photos)
    for photo in photos:
        assert photo["answer_count"] == per_photo[photo["_id"]]
        assert photo["bucket"] is None or photo["status"] == "open"
