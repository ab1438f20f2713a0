"""Policies on the real database: exploration, random order, auto-accept."""

import random
from datetime import UTC, datetime

from api.database import Database
from api.survey import store
from api.survey.selection import Policy
from api.survey.tasks import Task, next_tasks
from tests.api.survey.builders import POLICY, add_open_photos


async def _next(
    db: Database, policy: Policy, *, count: int, contributor: str = "c1", seed: int = 0
) -> list[Task]:
    return await next_tasks(
        db,
        contributor_id=contributor,
        count=count,
        policy=policy,
        gold_rate=0.0,
        lease_seconds=60,
        now=datetime.now(UTC),
        rng=random.Random(seed),
    )


async def test_full_exploration_serves_only_exploration_picks(db: Database) -> None:
    await add_open_photos(db, [0.1 * i for i in range(1, 10)])
    explore = Policy(kind="uncertainty", measure="margin", exploration=1.0, auto_accept=None)
    assert [task.policy for task in await _next(db, explore, count=4)] == ["exploration"] * 4


async def test_exploration_reaches_photos_the_policy_would_leave_for_last(db: Database) -> None:
    ids = await add_open_photos(db, [0.05] + [0.95] * 3)  # the first is the most uncertain
    explore = Policy(kind="uncertainty", measure="least_confidence", exploration=1.0,
                     auto_accept=None)  # fmt: skip
    least_needed = ids[1:]
    reached = set()
    for seed in range(12):
        tasks = await _next(db, explore, count=1, contributor=f"c{seed}", seed=seed)
        reached |= {task.photo_id for task in tasks}
    assert reached & set(least_needed)


async def test_random_policy_orders_by_each_photos_draw(db: Database) -> None:
    randomly = Policy(kind="random", measure="least_confidence", exploration=0.0, auto_accept=None)
    ids = await add_open_photos(db, [0.5] * 6, policy=randomly)
    photos = {p["_id"]: p for p in await db.photos.find({"_id": {"$in": ids}}).to_list()}
    assert len({p["score"] for p in photos.values()}) == 6
    tasks = await _next(db, randomly, count=3)
    expected = sorted(photos, key=lambda pid: photos[pid]["draw"], reverse=True)[:3]
    assert [task.photo_id for task in tasks] == expected
    assert {task.policy for task in tasks} == {"random"}


async def test_auto_accept_labels_confident_photos_without_asking(db: Database) -> None:
    accepting = Policy(kind="uncertainty", measure="least_confidence", exploration=0.0,
                       auto_accept=0.9)  # fmt: skip
    sure, unsure = await add_open_photos(db, [0.95, 0.5], policy=accepting)
    photo = await store.find_photo(db, sure)
    assert photo is not None
    assert (photo["status"], photo["retirement_reason"]) == ("retired", "MODEL")
    assert photo["consensus"]["label"] == {"id": "n0", "name": "label zero"}
    tasks = await _next(db, POLICY, count=5)
    assert [task.photo_id for task in tasks] == [unsure]
    assert (await store.read_stats(db))["retired"] == {"MODEL": 1}
