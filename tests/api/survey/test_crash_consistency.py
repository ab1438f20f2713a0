"""kill -9 under load, of the service and of its embedded database: no acknowledged answer
is lost or counted twice, and every count (stats, contributors, photos, consensus) equals
what the stored answers imply."""

import asyncio
import contextlib
import os
import random
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx

from api.app import INDEXES
from api.database import Database, connect, ensure_indexes
from api.embedded import EmbeddedDatabase
from api.settings import Settings
from api.survey.operations import NEXT_TASKS, SUBMIT
from tests.api.survey.builders import answer_for, load_open_photos, token_for
from tests.processes import ServiceProcess, children_of

CLIENTS = 6
# Kills in turn: the service (its embedded database dies with it), then the database alone
# (the service's supervisor restarts it while the service runs on).
KILLS = ("service", "database", "service", "database")


@dataclass
class Ledger:
    """What the clients were told: answers acknowledged, and answers whose fate they never
    learnt (the connection died, the database was away), to send again with the same key."""

    acknowledged: dict[str, str] = field(default_factory=dict)  # answer id -> idempotency key
    unsure: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)  # key -> input


async def _post(client: httpx.AsyncClient, query: str, token: str, **variables: Any) -> Any:
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )
    return response.json()


async def _answer(client: httpx.AsyncClient, token: str, payload: dict[str, Any],
                  ledger: Ledger) -> None:  # fmt: skip
    key = payload["idempotencyKey"]
    ledger.unsure[key] = (token, payload)
    outcome = (await _post(client, SUBMIT, token, input=payload))["data"]["submitAnswer"]
    del ledger.unsure[key]
    if outcome["__typename"] == "AnswerAccepted":
        ledger.acknowledged[outcome["answerId"]] = key


async def _work(client: httpx.AsyncClient, token: str, ledger: Ledger, *, until: float) -> None:
    """Ask and answer until `until`, going on through errors (the database away, the
    service gone)."""
    while time.monotonic() < until:
        try:
            body = await _post(client, NEXT_TASKS, token, count=3)
            for task in body["data"]["nextTasks"]:
                payload = {"leaseId": task["leaseId"], "answer": answer_for(task),
                           "idempotencyKey": task["leaseId"]}  # fmt: skip
                await _answer(client, token, payload, ledger)
        except (httpx.TransportError, KeyError, TypeError, ValueError):
            await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def _serving(settings: Settings, log_path: Path) -> AsyncIterator[ServiceProcess]:
    service = ServiceProcess(settings, log_path=log_path)
    try:
        await asyncio.to_thread(service.wait_until_ready)
        yield service
    finally:
        service.stop()


async def test_kill_9_under_load_of_the_service_and_its_database_leaves_every_count_exact(
    settings: Settings, tmp_path: Path
) -> None:
    # The service's own embedded database, in its data folder: loaded first, then served.
    embedded = replace(settings, mongodb_uri=None, data_dir=tmp_path / "var")
    tokens = await _prepare(embedded)
    ledger = Ledger()
    for kill, what in enumerate(KILLS):
        async with (
            _serving(embedded, tmp_path / f"service-{kill}.log") as service,
            httpx.AsyncClient(base_url=service.base_url, timeout=30) as client,
        ):
            until = time.monotonic() + 30
            workers = [asyncio.create_task(_work(client, t, ledger, until=until)) for t in tokens]
            await asyncio.sleep(random.uniform(1.0, 2.5))
            (database,) = children_of(service.process.pid)
            victim = service.process.pid if what == "service" else database
            await asyncio.to_thread(_kill, victim)
            if what == "database":  # the service restarts it: work on against it a while
                await asyncio.to_thread(service.wait_until_ready)
                await asyncio.sleep(1.5)
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async with (
        _serving(embedded, tmp_path / "service-last.log") as service,
        httpx.AsyncClient(base_url=service.base_url, timeout=30) as client,
    ):
        for token, payload in list(ledger.unsure.values()):  # their fate, by sending again
            await _answer(client, token, payload, ledger)
        stats = await _post(client, "{ stats { answers } }", tokens[0])
    assert ledger.acknowledged, "no answer was acknowledged: the load never ran"
    assert not ledger.unsure

    async with _database(embedded) as db:
        answers = await db.answers.find({}, {"photo_id": 1, "contributor_id": 1}).to_list()
        assert set(ledger.acknowledged) <= {a["_id"] for a in answers}, "lost an answer"
        pairs = Counter((a["photo_id"], a["contributor_id"]) for a in answers)
        assert max(pairs.values()) == 1, "an answer stored twice"
        await assert_counts_match_answers(
            db, answers, stats_answers=stats["data"]["stats"]["answers"]
        )


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


@contextlib.asynccontextmanager
async def _database(settings: Settings) -> AsyncIterator[Database]:
    """The embedded database of `settings`' data folder, while no service runs on it."""
    server = EmbeddedDatabase.start(settings.data_dir / "db")
    client = None
    try:
        await asyncio.to_thread(server.wait_until_ready)
        client = connect(server.uri)
        yield client[settings.db_name]
    finally:
        if client is not None:
            await client.close()
        server.stop()


async def _prepare(settings: Settings) -> list[str]:
    async with _database(settings) as db:
        await ensure_indexes(db, INDEXES)
        tops = [random.uniform(0.05, 0.95) for _ in range(400)]
        await load_open_photos(db, tops, rng=random.Random(4))
        return [await token_for(db) for _ in range(CLIENTS)]


async def assert_counts_match_answers(
    db: Database, answers: list[dict[str, Any]], *, stats_answers: int
) -> None:
    """Every count the service keeps equals what `answers` (all stored answers) imply."""
    assert stats_answers == len(answers), "stats.answers drifted from the stored answers"
    open_photos = {p["_id"] async for p in db.photos.find({"status": "open"}, {"_id": 1})}
    per_contributor = Counter(a["contributor_id"] for a in answers)
    on_open = Counter(a["contributor_id"] for a in answers if a["photo_id"] in open_photos)
    async for contributor in db.contributors.find({}, {"answer_count": 1, "open_answers": 1}):
        assert contributor.get("answer_count", 0) == per_contributor[contributor["_id"]]
        assert contributor.get("open_answers", 0) == on_open[contributor["_id"]]
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
