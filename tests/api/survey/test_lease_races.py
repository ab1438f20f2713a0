"""Leases under requests sent at once: the bound on leases one contributor holds, and a
release racing the answer on the same lease. Real concurrent requests, in one process and
across two service processes on one database."""

import asyncio
import random
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from api.database import Database
from api.settings import Settings
from api.survey.operations import NEXT_TASKS, SUBMIT
from api.survey.tasks import MAX_HELD_LEASES
from tests.api.survey.builders import answer_for, graphql, load_open_photos, token_for
from tests.processes import running_services

RELEASE = """mutation($id: ID!) { releaseTask(leaseId: $id) {
    __typename ... on LeaseExpired { expiredAt } } }"""
ME = "{ me { answerCount } stats { answers } }"


async def _held(db: Database) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    return await db.leases.find({"state": "active", "expires_at": {"$gt": now}}).to_list()


async def _check_bound(db: Database, bodies: list[dict[str, Any]]) -> None:
    given = [task for body in bodies for task in (body.get("data") or {}).get("nextTasks") or []]
    held = await _held(db)
    assert len(held) <= MAX_HELD_LEASES, f"one contributor holds {len(held)} leases"
    assert {lease["_id"] for lease in held} == {task["leaseId"] for task in given}
    assert len(given) == MAX_HELD_LEASES  # plenty asked for, and plenty of photos
    refused = [body for body in bodies if body.get("errors")]
    assert all(body["errors"][0]["extensions"]["code"] == "LIMIT_REACHED" for body in refused)
    photos = {photo["_id"]: photo async for photo in db.photos.find({}, {"holds": 1})}
    holds = [hold for photo in photos.values() for hold in photo.get("holds", [])]
    assert sorted(hold["lease_id"] for hold in holds) == sorted(t["leaseId"] for t in given)


async def test_requests_at_once_in_one_process_keep_to_the_lease_bound(
    http: httpx.AsyncClient, db: Database
) -> None:
    await load_open_photos(db, [0.3 + 0.001 * i for i in range(200)], rng=random.Random(1))
    token = await token_for(db)
    bodies = await asyncio.gather(*(graphql(http, NEXT_TASKS, token, count=10) for _ in range(12)))
    await _check_bound(db, bodies)


async def test_requests_at_once_through_two_processes_keep_to_the_lease_bound(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    await load_open_photos(db, [0.3 + 0.001 * i for i in range(300)], rng=random.Random(2))
    token = await token_for(db)
    with running_services(settings, 2, log_dir=tmp_path) as urls:
        async with httpx.AsyncClient(timeout=60) as client:
            calls = [_post(client, urls[i % 2], NEXT_TASKS, token, count=10) for i in range(24)]
            bodies = await asyncio.gather(*calls)
    await _check_bound(db, bodies)


async def _post(
    client: httpx.AsyncClient, base_url: str, query: str, token: str, **variables: Any
) -> dict[str, Any]:
    response = await client.post(
        f"{base_url}/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


TRIES = 20


async def test_a_release_and_an_answer_sent_at_once_on_one_lease_have_one_winner(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    photo_ids = await load_open_photos(db, [0.3] * TRIES, rng=random.Random(3))
    token = await token_for(db)
    outcomes: Counter[tuple[str, str]] = Counter()
    accepted: list[str] = []
    with running_services(settings, 2, log_dir=tmp_path) as urls:
        async with httpx.AsyncClient(timeout=60) as client:
            for attempt in range(TRIES):
                body = await _post(client, urls[0], NEXT_TASKS, token, count=1)
                (task,) = body["data"]["nextTasks"]
                payload = {"leaseId": task["leaseId"], "answer": answer_for(task),
                           "idempotencyKey": f"k-{attempt}"}  # fmt: skip
                released, answered = await asyncio.gather(
                    _post(client, urls[attempt % 2], RELEASE, token, id=task["leaseId"]),
                    _post(client, urls[(attempt + 1) % 2], SUBMIT, token, input=payload),
                )
                release = released["data"]["releaseTask"]["__typename"]
                answer = answered["data"]["submitAnswer"]["__typename"]
                outcomes[(release, answer)] += 1
                if answer == "AnswerAccepted":
                    accepted.append(task["photoId"])
                # The loser's view holds afterwards too: repeating either says the same.
                again = await _post(client, urls[0], SUBMIT, token, input=payload)
                assert again["data"]["submitAnswer"]["__typename"] == answer
            counts = await _post(client, urls[0], ME, token)

    assert set(outcomes) <= {("TaskReleased", "LeaseExpired"), ("LeaseNotFound", "AnswerAccepted")}
    stored = await db.answers.find({}, {"photo_id": 1}).to_list()
    assert sorted(a["photo_id"] for a in stored) == sorted(accepted)
    assert counts["data"] == {"me": {"answerCount": len(accepted)},
                              "stats": {"answers": len(accepted)}}  # fmt: skip
    for photo in await db.photos.find({"_id": {"$in": photo_ids}}).to_list():
        answered = photo["_id"] in accepted
        assert photo["answer_count"] == int(answered)
        assert photo.get("holds", []) == []
        evidence = await db.consensus.find_one({"_id": photo["_id"]}) or {}
        assert evidence.get("answer_count", 0) == int(answered)
