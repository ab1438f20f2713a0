"""nextTasks never leaves a contributor empty-handed while a photo is available to them."""

import asyncio
import itertools
import random
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.database import Database, connect
from api.settings import Settings
from api.survey.operations import NEXT_TASKS, SUBMIT
from api.survey.tasks import MAX_HELD_LEASES
from tests.api.survey.availability import available_to, held_by
from tests.api.survey.builders import (
    add_open_photos,
    answer_for,
    graphql,
    load_open_photos,
    token_for,
)
from tests.conftest import serve

RELEASE = "mutation($id: ID!) { releaseTask(leaseId: $id) { __typename } }"


async def _my_id(http: httpx.AsyncClient, token: str) -> str:
    me: str = (await graphql(http, "{ me { id } }", token))["data"]["me"]["id"]
    return me


async def test_a_contributor_who_answered_the_top_of_the_ranking_still_gets_tasks(
    http: httpx.AsyncClient, db: Database
) -> None:
    # Each answer moves its photo to the top ("finish what is started"), where this
    # contributor can no longer take it: the photos left to them sink ever lower.
    await add_open_photos(db, [0.2 + 0.02 * i for i in range(30)])
    token = await token_for(db)
    me = await _my_id(http, token)
    empty_while_available = []
    for call in range(30):
        available = await available_to(db, me, now=datetime.now(UTC))
        tasks = (await graphql(http, NEXT_TASKS, token, count=1))["data"]["nextTasks"]
        if not tasks and available:
            empty_while_available.append((call, len(available)))
        for task in tasks:
            payload = {"leaseId": task["leaseId"], "answer": answer_for(task),
                       "idempotencyKey": task["leaseId"]}  # fmt: skip
            accepted = await graphql(http, SUBMIT, token, input=payload)
            assert accepted["data"]["submitAnswer"]["__typename"] == "AnswerAccepted"
    assert empty_while_available == []
    assert await available_to(db, me, now=datetime.now(UTC)) == set()


async def test_a_contributor_gets_as_many_tasks_as_are_available_to_them(
    http: httpx.AsyncClient, db: Database
) -> None:
    await add_open_photos(db, [0.1 + 0.005 * i for i in range(120)])
    busy, other = await token_for(db), await token_for(db)
    busy_id = await _my_id(http, busy)
    # The busy contributor answers 100 photos; the other leaves them all open by answering
    # none: then both ask for the rest.
    answered = 0
    while answered < 100:
        tasks = (await graphql(http, NEXT_TASKS, busy, count=10))["data"]["nextTasks"]
        assert tasks
        for task in tasks:
            payload = {"leaseId": task["leaseId"], "answer": answer_for(task),
                       "idempotencyKey": task["leaseId"]}  # fmt: skip
            await graphql(http, SUBMIT, busy, input=payload)
            answered += 1
    available = await available_to(db, busy_id, now=datetime.now(UTC))
    tasks = (await graphql(http, NEXT_TASKS, busy, count=20))["data"]["nextTasks"]
    assert len(tasks) == min(20, len(available))
    assert {task["photoId"] for task in tasks} <= available
    assert len((await graphql(http, NEXT_TASKS, other, count=20))["data"]["nextTasks"]) == 20


# --- the property ----------------------------------------------------------------------

Action = str  # what a contributor does with each task it gets: answer, release or keep it
ACTIONS = ("answer", "release", "keep")


@dataclass(frozen=True)
class Call:
    contributor: int
    count: int
    actions: tuple[Action, ...]  # one per task returned, in order (cycled)


@dataclass(frozen=True)
class Plan:
    pool: int
    contributors: int
    calls: tuple[Call, ...]
    seed: int


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    # Mostly small pools, where contributors run out of photos; one in four up to 2,000.
    small = st.integers(1, 40)
    pool = draw(st.one_of(small, small, small, st.integers(41, 2000)))
    contributors = draw(st.integers(1, 8))
    call = st.builds(
        Call,
        contributor=st.integers(0, contributors - 1),
        count=st.integers(1, 10),
        actions=st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=4).map(tuple),
    )
    calls = draw(st.lists(call, min_size=1, max_size=10).map(tuple))
    return Plan(pool, contributors, calls, seed=draw(st.integers(0, 2**32 - 1)))


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=plans())
def test_next_tasks_returns_what_is_available_whatever_contributors_do(
    plan: Plan, settings: Settings
) -> None:
    asyncio.run(_run(plan, replace(settings, db_name=f"test_{uuid.uuid4().hex[:12]}")))


async def _run(plan: Plan, settings: Settings) -> None:
    """Run the plan's calls one after another; after each, a contributor given fewer tasks
    than they asked for (and than their lease bound allows) has none left available."""
    rng = random.Random(plan.seed)
    client = connect(str(settings.mongodb_uri))
    db = client[settings.db_name]
    try:
        async with serve(settings) as http:
            await load_open_photos(db, [rng.uniform(0.02, 0.99) for _ in range(plan.pool)], rng=rng)
            tokens = [await token_for(db) for _ in range(plan.contributors)]
            ids = [await _my_id(http, token) for token in tokens]
            for step, call in enumerate(plan.calls):
                now = datetime.now(UTC)
                room = MAX_HELD_LEASES - await held_by(db, ids[call.contributor], now=now)
                body = await graphql(http, NEXT_TASKS, tokens[call.contributor], count=call.count)
                if room == 0:
                    assert body["errors"][0]["extensions"]["code"] == "LIMIT_REACHED"
                    continue
                tasks = body["data"]["nextTasks"]
                if len(tasks) < min(call.count, room):
                    left = await available_to(db, ids[call.contributor], now=datetime.now(UTC))
                    assert left == set(), (
                        f"call {step}: asked {call.count}, got {len(tasks)} with {len(left)} "
                        "photos still available"
                    )
                for task, action in zip(tasks, itertools.cycle(call.actions), strict=False):
                    await _act(http, tokens[call.contributor], task, action)
    finally:
        await client.drop_database(settings.db_name)
        await client.close()


async def _act(http: httpx.AsyncClient, token: str, task: dict[str, Any], action: Action) -> None:
    if action == "answer":
        payload = {"leaseId": task["leaseId"], "answer": answer_for(task),
                   "idempotencyKey": task["leaseId"]}  # fmt: skip
        result = await graphql(http, SUBMIT, token, input=payload)
        assert result["data"]["submitAnswer"]["__typename"] == "AnswerAccepted"
    elif action == "release":
        result = await graphql(http, RELEASE, token, id=task["leaseId"])
        assert result["data"]["releaseTask"]["__typename"] == "TaskReleased"
