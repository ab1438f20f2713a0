"""Serving tasks: choose photos for a contributor, lease them, give leases back.

The work of a request is bounded by the tasks asked for, never by the size of the pool: it
reads the bucket counts (one document), the candidates in the few top buckets, and claims
photos one atomic update each (see `api.survey.selection` and `api.survey.store`).
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from api.database import Database, Document
from api.errors import LimitReached
from api.survey import consensus_store, store
from api.survey.gold import gold_share
from api.survey.questions import Question, question_for
from api.survey.queue import settle_bucket
from api.survey.selection import (
    Policy,
    draws,
    exploration_buckets,
    exploration_draws,
    top_buckets,
)

MAX_TASKS_PER_REQUEST = 20
# Leases one contributor may hold at once: two full requests' worth. Without a bound, one
# client asking again and again without answering would hold a slot on every photo, and a
# photo is leased to no more contributors at once than the answers it still needs.
MAX_HELD_LEASES = 2 * MAX_TASKS_PER_REQUEST
# Candidates read per task wanted: headroom for photos taken by others in the meantime.
_OVERFETCH = 3
_ROUNDS = 3
_REAP_BATCH = 100


@dataclass(frozen=True)
class Task:
    lease_id: str
    photo_id: str
    expires_at: datetime
    question: Question
    policy: str
    score: float
    model_version: str | None


async def next_tasks(
    db: Database,
    *,
    contributor_id: str,
    count: int,
    policy: Policy,
    gold_rate: float,
    lease_seconds: int,
    now: datetime,
    rng: random.Random,
) -> list[Task]:
    """Lease up to `count` photos to the contributor (fewer if that would make them hold
    more than `MAX_HELD_LEASES`, even with several requests at once): gold photos at the
    gold rate, random ones at the exploration rate, the rest most needed first. Raises
    `LimitReached` if they already hold that many."""
    held = len(await store.held_leases(db, contributor_id, now=now))
    if held >= MAX_HELD_LEASES:
        raise LimitReached(
            f"you hold {held} unanswered tasks, the most one contributor may hold; answer or "
            "release some (releaseTask), or wait for their leases to expire"
        )
    count = min(count, MAX_HELD_LEASES - held)
    leasing = _Leasing(db, contributor_id, expires_at=now + timedelta(seconds=lease_seconds))
    gold = await _gold_tasks(leasing, gold_rate=gold_rate, count=count, reason=policy.name, rng=rng)
    tasks: list[Task] = []
    counts = await store.read_bucket_counts(db)
    explore = exploration_draws(policy, count=count - len(gold), rng=rng)
    if explore:
        picks = await leasing.candidates(
            exploration_buckets(counts, draws=explore, rng=rng), explore
        )
        rng.shuffle(picks)
        tasks += await leasing.claim_each(picks, want=explore, reason="exploration")
    skip = 0
    for _ in range(_ROUNDS):
        want = count - len(gold) - len(tasks)
        buckets = top_buckets(counts, want=want * _OVERFETCH, skip=skip) if want > 0 else []
        if not buckets:
            break
        skip += len(buckets)
        picks = await leasing.candidates(buckets, want)
        picks.sort(key=lambda photo: photo["priority"], reverse=True)
        tasks += await leasing.claim_each(picks, want=want, reason=policy.name)
    for task in gold:  # anywhere in the list, as a task the policy chose
        tasks.insert(rng.randrange(len(tasks) + 1), task)
    await store.insert_leases(db, [_lease_document(task, contributor_id, now) for task in tasks])
    # Requests sent at once by one contributor each saw room for theirs. All their leases in
    # one order, oldest first: each request gives back those of its own past the bound.
    oldest_first = await store.held_leases(db, contributor_id, now=now)
    past = {lease["_id"] for lease in oldest_first[MAX_HELD_LEASES:]}
    for task in tasks:
        if task.lease_id in past:
            await _end_lease(db, task.lease_id, photo_id=task.photo_id, now=now)
    return [task for task in tasks if task.lease_id not in past]


async def _gold_tasks(
    leasing: _Leasing, *, gold_rate: float, count: int, reason: str, rng: random.Random
) -> list[Task]:
    if gold_rate <= 0:
        return []
    state = await consensus_store.read_contributor_state(leasing.db, leasing.contributor_id)
    gold = draws(gold_share(gold_rate, gold_answers=state.gold_votes), count=count, rng=rng)
    if not gold:
        return []
    picks = await store.find_gold_candidates(
        leasing.db, contributor_id=leasing.contributor_id, limit=gold * _OVERFETCH
    )
    rng.shuffle(picks)
    # Reported as the policy's choice, the reason most tasks carry: a contributor must not
    # be able to tell a gold photo (exploration may be switched off).
    return await leasing.claim_each(picks, want=gold, reason=reason)


@dataclass
class _Leasing:
    """One request's claims: who claims, until when, and which photos were already tried."""

    db: Database
    contributor_id: str
    expires_at: datetime
    tried: set[str] = field(default_factory=set)

    async def candidates(self, buckets: list[int], want: int) -> list[Document]:
        if not buckets:
            return []
        return await store.find_candidates(
            self.db, buckets, contributor_id=self.contributor_id, limit=want * _OVERFETCH + 10
        )

    async def claim_each(self, photos: list[Document], *, want: int, reason: str) -> list[Task]:
        claimed: list[Task] = []
        for photo in photos:
            if len(claimed) == want:
                break
            if photo["_id"] not in self.tried:
                self.tried.add(photo["_id"])
                task = await self._claim(photo["_id"], reason=reason)
                if task is not None:
                    claimed.append(task)
        return claimed

    async def _claim(self, photo_id: str, *, reason: str) -> Task | None:
        lease_id = uuid.uuid4().hex
        hold = {
            "lease_id": lease_id,
            "contributor_id": self.contributor_id,
            "expires_at": self.expires_at,
        }
        after = await store.claim(self.db, photo_id, hold=hold)
        if after is None:
            return None
        await settle_bucket(self.db, after)
        prediction = after.get("prediction") or {}
        return Task(
            lease_id=lease_id,
            photo_id=photo_id,
            expires_at=self.expires_at,
            question=question_for(prediction.get("top_k", [])),
            policy=reason,
            score=after["score"],
            model_version=prediction.get("model_version"),
        )


def _lease_document(task: Task, contributor_id: str, now: datetime) -> Document:
    return {
        "_id": task.lease_id,
        "photo_id": task.photo_id,
        "contributor_id": contributor_id,
        "question": task.question.to_document(),
        "policy": task.policy,
        "score": task.score,
        "model_version": task.model_version,
        "created_at": now,
        "expires_at": task.expires_at,
        "state": "active",
    }


@dataclass(frozen=True)
class Released:
    """The lease was running and is given back."""


@dataclass(frozen=True)
class AlreadyEnded:
    """The lease had expired or been released already (an expired one's slot is freed now)."""

    ended_at: datetime


@dataclass(frozen=True)
class NoSuchLease:
    """No unanswered lease of the caller's has this id."""


Release = Released | AlreadyEnded | NoSuchLease


async def release_task(
    db: Database, lease_id: str, *, contributor_id: str, now: datetime
) -> Release:
    """Give a lease back: its photo's slot returns to the pool at once."""
    lease = await store.find_lease(db, lease_id)
    if lease is None or lease["contributor_id"] != contributor_id:
        return NoSuchLease()
    # An expired lease too: its slot returns before the reaper's turn.
    active = lease["state"] == "active"
    if active and not await _end_lease(db, lease_id, photo_id=lease["photo_id"], now=now):
        lease = await store.find_lease(db, lease_id) or lease  # answered or released meanwhile
    if lease["state"] == "answered":
        return NoSuchLease()
    ended = store.lease_ended_at(lease, now=now)
    return Released() if ended is None else AlreadyEnded(ended)


async def _end_lease(db: Database, lease_id: str, *, photo_id: str, now: datetime) -> bool:
    """Release an active lease and return its photo's slot; False if it was no longer active."""
    if not await store.set_lease_state(db, lease_id, state="released", expect="active", now=now):
        return False
    await settle_bucket(db, await store.drop_hold(db, photo_id, lease_id=lease_id))
    return True


async def reap_expired_holds(db: Database, *, now: datetime) -> int:
    """Return expired leases' slots to the pool; any process may run it at any time."""
    photos = await store.find_expired_holds(db, now=now, limit=_REAP_BATCH)
    for photo in photos:
        for hold in photo["holds"]:
            if hold["expires_at"] <= now:
                after = await store.drop_hold(db, photo["_id"], lease_id=hold["lease_id"])
                await settle_bucket(db, after)
    return len(photos)
