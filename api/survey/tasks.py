"""Serving tasks: choose photos for a contributor, lease them, give leases back.

A request walks the queue from the top, a span at a time (`api.survey.selection`), and
claims photos the caller may take as it meets them, until it has what it asked for or the
queue is read to the end: whenever a photo is available to the caller, it is served. What
a request reads is what it claims, the photos the caller answered, skipped or holds that
sit above them, and what others took meanwhile; a span that yields too little doubles the
next one.

The bound on leases one contributor holds is kept by the database: a running lease holds
one of the contributor's `MAX_HELD_LEASES` slots (a unique key, `store.lease_slot`), so
requests at once, in any process, cannot hold more between them.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from api.database import Database, Document, Session, Write, in_transaction, write_all
from api.errors import LimitReached
from api.survey import queue, store
from api.survey.gold import gold_share
from api.survey.questions import Question, question_for
from api.survey.queue import Change, Hold, QueueState
from api.survey.selection import (
    STARTED_BUCKET,
    Cursor,
    Policy,
    after,
    draws,
    exploration_cursor,
    exploration_draws,
    next_span,
)

MAX_TASKS_PER_REQUEST = 20
# Leases one contributor may hold at once: two full requests' worth. Without a bound, one
# client asking again and again without answering would hold a slot on every photo, and a
# photo is leased to no more contributors at once than the answers it still needs.
MAX_HELD_LEASES = 2 * MAX_TASKS_PER_REQUEST
# Photos read per task wanted, at first: headroom for photos taken by others meanwhile.
_OVERFETCH = 3
_MIN_SPAN = 10
# Rounds of lease slots tried when requests at once took the ones chosen.
_SLOT_ROUNDS = 3
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
    more than `MAX_HELD_LEASES`): gold photos at the gold rate, random ones at the
    exploration rate, the rest most needed first. Raises `LimitReached` if they already
    hold that many."""
    held = await _running_leases(db, contributor_id, now=now)
    if len(held) >= MAX_HELD_LEASES:
        raise LimitReached(
            f"you hold {len(held)} unanswered tasks, the most one contributor may hold; answer "
            "or release some (releaseTask), or wait for their leases to expire"
        )
    gold_answers, open_answers = await store.read_queue_standing(db, contributor_id)
    expires_at = now + timedelta(seconds=lease_seconds)
    leasing = _Leasing(db, contributor_id, now=now, expires_at=expires_at,
                       open_answers=open_answers)  # fmt: skip
    want = min(count, MAX_HELD_LEASES - len(held))
    share = gold_share(gold_rate, gold_answers=gold_answers)
    gold = draws(share, count=want, rng=rng) if gold_rate > 0 else 0
    if gold:
        await leasing.take(await store.read_gold(db), want=gold, reason=policy.name, rng=rng)
    gold_ids = {photo.photo_id for photo, _, _ in leasing.claimed}
    explore = exploration_draws(policy, count=want - len(leasing.claimed), rng=rng)
    if explore:
        await _explore(leasing, want=explore, rng=rng)
    await _walk_for_most_needed(leasing, want=want, reason=policy.name)
    if len(leasing.claimed) < want and await reap_expired_holds(db, now=now):
        await _walk(leasing, want=want, reason=policy.name)
    if len(leasing.claimed) < want and not gold:  # the pool ran dry for them: gold photos
        await leasing.take(await store.read_gold(db), want=want, reason=policy.name, rng=rng)
    tasks = await _lease(leasing, held=held, rng=rng)
    ordered = [task for task in tasks if task.photo_id not in gold_ids]
    for task in tasks:  # anywhere in the list, as tasks the policy chose
        if task.photo_id in gold_ids:
            ordered.insert(rng.randrange(len(ordered) + 1), task)
    return ordered


async def _running_leases(db: Database, contributor_id: str, *, now: datetime) -> list[store.Lease]:
    """The contributor's running leases; those that expired unreaped are ended now, so
    their slots are free."""
    running = []
    for lease in await store.active_leases(db, contributor_id):
        if lease.expires_at > now:
            running.append(lease)
        else:
            await end_lease(db, lease.id, photo_id=lease.photo_id, state="expired", now=now)
    return running


async def _explore(leasing: _Leasing, *, want: int, rng: random.Random) -> None:
    """Claim `want` photos met walking the queue from a random place in it (each about as
    likely as any other), round to where the walk began."""
    start = exploration_cursor(await leasing.bucket_counts(), rng=rng)
    if start is None:
        return
    total = len(leasing.claimed) + want
    await _walk(leasing, want=total, reason="exploration", cursor=start, rng=rng)
    if len(leasing.claimed) < total:
        await _walk(leasing, want=total, reason="exploration", rng=rng)


async def _walk_for_most_needed(leasing: _Leasing, *, want: int, reason: str) -> None:
    """`_walk` from the top, knowing the caller's answers on open photos: those photos are
    all started (at the top of the queue), and the caller may take none of them. When
    there are as many as there are started photos with a free slot, those are most likely
    all theirs: the walk reads the photos not yet started first, and the started ones only
    if it still wants more. Otherwise its first span is sized to read past theirs at once."""
    counts = await leasing.bucket_counts()
    started = sum(n for bucket, n in counts.items() if bucket >= STARTED_BUCKET)
    mine = min(leasing.open_answers, started)
    if mine and mine >= started:
        await _walk(leasing, want=want, reason=reason, cursor=Cursor(STARTED_BUCKET - 1))
        await _walk(leasing, want=want, reason=reason, floor=STARTED_BUCKET)
    else:
        await _walk(leasing, want=want, reason=reason, extra=mine)


async def _walk(
    leasing: _Leasing,
    *,
    want: int,
    reason: str,
    cursor: Cursor | None = None,
    floor: int = 0,
    extra: int = 0,
    rng: random.Random | None = None,
) -> None:
    """Claim photos the caller may take, reading the queue down from `cursor` (the top by
    default) to bucket `floor`, until `want` are claimed in all or the queue is read down
    there: the most needed first, or in random order with `rng`. The first span holds about
    `extra` photos more than needed."""
    counts = await leasing.bucket_counts()
    cursor = cursor or Cursor()
    size = (want - len(leasing.claimed)) * _OVERFETCH + _MIN_SPAN
    first = size + extra
    while len(leasing.claimed) < want and cursor.bucket >= floor:
        span = next_span(counts, size=first or size, cursor=cursor)
        first = 0
        if span is None:
            return
        photos = await store.read_span(leasing.db, span, contributor_id=leasing.contributor_id)
        photos.sort(key=lambda photo: photo.priority, reverse=True)
        missing = want - len(leasing.claimed)
        await leasing.take(photos, want=missing, reason=reason, rng=rng)
        if len(photos) < missing:  # mostly photos the caller answered, skipped or holds
            size *= 2
        cursor = after(span)


@dataclass
class _Leasing:
    """One request's claims: who claims, until when, and which photos were already tried."""

    db: Database
    contributor_id: str
    now: datetime
    expires_at: datetime
    open_answers: int = 0
    """The caller's answers on photos still open (`queue.Change.open_answers`)."""
    claimed: list[tuple[QueueState, Hold, str]] = field(default_factory=list)
    tried: set[str] = field(default_factory=set)
    _counts: dict[int, int] | None = None

    async def bucket_counts(self) -> dict[int, int]:
        if self._counts is None:
            self._counts = await store.read_bucket_counts(self.db)
        return self._counts

    async def take(
        self,
        photos: Sequence[QueueState],
        *,
        want: int,
        reason: str,
        rng: random.Random | None = None,
    ) -> None:
        """Claim up to `want` of `photos` the caller may take, in order (at random with
        `rng`), each in one guarded write."""
        takeable = [p for p in photos if p.photo_id not in self.tried
                    and p.takeable_by(self.contributor_id)]  # fmt: skip
        if rng is not None:
            rng.shuffle(takeable)
        goal = len(self.claimed) + want
        while takeable and len(self.claimed) < goal:
            missing = goal - len(self.claimed)
            batch, takeable = takeable[:missing], takeable[missing:]
            holds = [Hold(uuid.uuid4().hex, self.contributor_id, self.expires_at) for _ in batch]
            changes = [queue.claim(photo, hold) for photo, hold in zip(batch, holds, strict=True)]
            made = await store.claim(self.db, changes)
            self.tried.update(photo.photo_id for photo in batch)
            for photo, hold, ok in zip(batch, holds, made, strict=True):
                if ok:
                    self.claimed.append((photo, hold, reason))
            await store.count_moves(self.db, [c for c, ok in zip(changes, made, strict=True) if ok])


async def _lease(leasing: _Leasing, *, held: list[store.Lease], rng: random.Random) -> list[Task]:
    """Record a lease for each claim, each on a free slot of the contributor's; claims left
    without a slot (requests at once took them all) are given back."""
    db, contributor_id = leasing.db, leasing.contributor_id
    tasks = [_task(photo, hold, reason) for photo, hold, reason in leasing.claimed]
    pending = {task.lease_id: task for task in tasks}
    used = {lease.slot for lease in held}
    for _ in range(_SLOT_ROUNDS):
        free = [store.lease_slot(contributor_id, n) for n in range(MAX_HELD_LEASES)
                if store.lease_slot(contributor_id, n) not in used]  # fmt: skip
        rng.shuffle(free)  # requests at once then seldom pick the same slots
        documents = [_lease_document(task, contributor_id, slot=slot, now=leasing.now)
                     for task, slot in zip(pending.values(), free, strict=False)]  # fmt: skip
        refused = await store.insert_leases(db, documents)
        for document in documents:
            if document["_id"] not in refused:
                del pending[document["_id"]]
        if not pending:
            break
        used = {lease.slot for lease in await _running_leases(db, contributor_id, now=leasing.now)}
        if len(used) >= MAX_HELD_LEASES:
            break
    for task in pending.values():  # no slot left: the photo's slot goes back
        await end_lease(db, task.lease_id, photo_id=task.photo_id, state="released",
                        now=leasing.now)  # fmt: skip
    return [task for task in tasks if task.lease_id not in pending]


def _task(photo: QueueState, hold: Hold, reason: str) -> Task:
    prediction = photo.prediction or {}
    return Task(
        lease_id=hold.lease_id,
        photo_id=photo.photo_id,
        expires_at=hold.expires_at,
        question=question_for(prediction.get("top_k", [])),
        policy=reason,
        score=photo.score,
        model_version=prediction.get("model_version"),
    )


def _lease_document(task: Task, contributor_id: str, *, slot: str, now: datetime) -> Document:
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
        "slot": slot,
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
    """Give a lease back: its photo's slot returns to the pool at once, and the photo is not
    offered to the caller again. Of a release and an answer on one lease, exactly one wins
    (each ends the running lease in the transaction that makes its change)."""

    async def attempt(session: Session) -> tuple[Release, Change | None]:
        found = await store.find_lease(db, lease_id, session=session)
        if found is None or found["contributor_id"] != contributor_id:
            return NoSuchLease(), None
        lease = store.Lease.from_document(found)
        if lease.state == "answered":
            return NoSuchLease(), None
        ended = lease.ended(now=now)
        if lease.state != "active":
            return AlreadyEnded(ended or now), None
        # An expired lease too: its slot returns before the reaper's turn.
        state = "released" if ended is None else "expired"
        change = await _end_lease(db, session, lease_id, photo_id=lease.photo_id, state=state,
                                  now=now, skipped_by=contributor_id)  # fmt: skip
        return (Released() if ended is None else AlreadyEnded(ended)), change

    outcome, change = await in_transaction(db, attempt)
    await store.count_moves(db, [change] if change else [])
    return outcome


async def end_lease(
    db: Database, lease_id: str, *, photo_id: str, state: str, now: datetime
) -> None:
    """End a lease unanswered (`state`: expired, or released past the bound) if it still
    runs, and free its slot on the photo if the photo holds it, in one transaction (a hold
    whose lease was never recorded, by a request cut short, is freed too)."""

    async def attempt(session: Session) -> Change | None:
        return await _end_lease(db, session, lease_id, photo_id=photo_id, state=state, now=now)

    change = await in_transaction(db, attempt)
    await store.count_moves(db, [change] if change else [])


async def _end_lease(
    db: Database,
    session: Session,
    lease_id: str,
    *,
    photo_id: str,
    state: str,
    now: datetime,
    skipped_by: str | None = None,
) -> Change | None:
    """Within a transaction: end the lease if it runs (`skipped_by` gave it back) and free
    its hold on the photo; the photo's change, if it held the lease."""
    photo = await store.read_queue_state(db, photo_id, session=session)
    change = None if photo is None else queue.end_hold(photo, lease_id, skipped_by=skipped_by)
    writes: list[Write] = [store.end_lease_write(db, lease_id, state=state, now=now)]
    if change is not None:
        writes.append(store.change_write(db, change))
    await write_all(session, writes, guarded=[1] if change is not None else [])
    return change


async def reap_expired_holds(db: Database, *, now: datetime) -> int:
    """Return expired leases' slots to the pool; any process may run it at any time. Returns
    how many photos had such slots."""
    photos = await store.find_expired_holds(db, now=now, limit=_REAP_BATCH)
    for photo in photos:
        for hold in photo.holds:
            if hold.expires_at <= now:
                await end_lease(db, hold.lease_id, photo_id=photo.photo_id, state="expired",
                                now=now)  # fmt: skip
    return len(photos)
