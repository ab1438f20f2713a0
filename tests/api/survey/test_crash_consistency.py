"""kill -9 under load: no acknowledged answer is lost or counted twice, and every count
(stats, contributors, photos, consensus) equals what the stored answers imply."""

import asyncio
import contextlib
import random
import signal
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from api.database import Database
from api.settings import Settings
from api.survey.operations import NEXT_TASKS, SUBMIT
from tests.api.survey.builders import answer_for, load_open_photos, token_for
from tests.processes import ServiceProcess

CLIENTS = 6
KILLS = 4


@dataclass
class Ledger:
    """What the clients were told: answers acknowledged, and answers whose fate they never
    learnt (the connection died), to send again with the same key."""

    acknowledged: dict[str, str] = field(default_factory=dict)  # answer id -> idempotency key
    unsure: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # token, input


async def _post(client: httpx.AsyncClient, query: str, token: str, **variables: Any) -> Any:
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )
    return response.json()


async def _work(client: httpx.AsyncClient, token: str, ledger: Ledger) -> None:
    """Ask and answer until the service dies under it."""
    while True:
        payload: dict[str, Any] | None = None
        try:
            body = await _post(client, NEXT_TASKS, token, count=3)
            for task in body["data"]["nextTasks"]:
                payload = {"leaseId": task["leaseId"], "answer": answer_for(task),
                           "idempotencyKey": task["leaseId"]}  # fmt: skip
                result = (await _post(client, SUBMIT, token, input=payload))["data"]
                if result["submitAnswer"]["__typename"] == "AnswerAccepted":
                    ledger.acknowledged[result["submitAnswer"]["answerId"]] = task["leaseId"]
                payload = None
        except (httpx.TransportError, KeyError, TypeError, ValueError):
            if payload is not None:
                ledger.unsure.append((token, payload))
            return


async def _load_until_killed(service: ServiceProcess, tokens: list[str], ledger: Ledger) -> None:
    async with httpx.AsyncClient(base_url=service.base_url, timeout=30) as client:
        workers = [asyncio.create_task(_work(client, token, ledger)) for token in tokens]
        await asyncio.sleep(random.uniform(1.0, 2.5))
        service.process.send_signal(signal.SIGKILL)
        service.process.wait()
        await asyncio.gather(*workers)


async def test_kill_9_of_the_service_under_load_leaves_every_count_exact(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    await load_open_photos(db, [random.uniform(0.05, 0.95) for _ in range(400)],
                           rng=random.Random(4))  # fmt: skip
    tokens = [await token_for(db) for _ in range(CLIENTS)]
    ledger = Ledger()
    for kill in range(KILLS):
        service = ServiceProcess(settings, log_path=tmp_path / f"service-{kill}.log")
        service.wait_until_ready()
        await _load_until_killed(service, tokens, ledger)

    service = ServiceProcess(settings, log_path=tmp_path / "service-last.log")
    try:
        service.wait_until_ready()
        async with httpx.AsyncClient(base_url=service.base_url, timeout=30) as client:
            for token, payload in ledger.unsure:  # their fate settled by sending them again
                result = (await _post(client, SUBMIT, token, input=payload))["data"]
                outcome = result["submitAnswer"]
                if outcome["__typename"] == "AnswerAccepted":
                    ledger.acknowledged[outcome["answerId"]] = payload["idempotencyKey"]
            stats = await _post(client, "{ stats { answers } }", tokens[0])
    finally:
        service.stop()

    answers = await db.answers.find({}, {"photo_id": 1, "contributor_id": 1}).to_list()
    assert ledger.acknowledged, "no answer was acknowledged: the load never ran"
    assert set(ledger.acknowledged) <= {answer["_id"] for answer in answers}, "lost an answer"
    pairs = Counter((a["photo_id"], a["contributor_id"]) for a in answers)
    assert max(pairs.values()) == 1, "an answer stored twice"
    await assert_counts_match_answers(db, answers, stats_answers=stats["data"]["stats"]["answers"])


async def assert_counts_match_answers(
    db: Database, answers: list[dict[str, Any]], *, stats_answers: int
) -> None:
    """Every count the service keeps equals what `answers` (all stored answers) imply."""
    assert stats_answers == len(answers), "stats.answers drifted from the stored answers"
    per_contributor = Counter(a["contributor_id"] for a in answers)
    async for contributor in db.contributors.find({}, {"answer_count": 1}):
        assert contributor.get("answer_count", 0) == per_contributor[contributor["_id"]]
    per_photo = Counter(a["photo_id"] for a in answers)
    async for photo in db.photos.find({}, {"answer_count": 1, "consensus": 1, "answerers": 1}):
        expected = per_photo[photo["_id"]]
        assert photo.get("answer_count", 0) == expected
        assert len(photo.get("answerers", [])) == expected
        consensus = photo.get("consensus") or {}
        with contextlib.suppress(KeyError):
            assert consensus["answer_count"] == expected
    async for evidence in db.consensus.find({}, {"answer_count": 1}):
        assert evidence.get("answer_count", 0) == per_photo[evidence["_id"]]
