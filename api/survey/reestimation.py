"""Periodic full re-estimation: EM over every answer refreshes contributors' reliabilities
and the crowd's estimates, and rescores every photo (a photo may retire or reopen).

It runs in the background of any service process, at most one at a time across processes
(a lease in ``consensus_meta``), whenever one is due (`is_due`: each time the answers
double while there are few, then every `REESTIMATE_EVERY`, and once the answers have stood
still for `QUIET_SECONDS` with some left out); EM itself runs in a worker thread and stops
at its time budget, so requests never wait on it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from api import counters
from api.consensus import (
    Reestimate,
    RetirementReason,
    VoteRecord,
    reestimate,
    reestimate_due,
    typical_accuracy,
)
from api.consensus.engine import REESTIMATE_MAX_ITERATIONS, REESTIMATE_TIME_BUDGET
from api.database import Database, Document, Session, Write, in_transaction, write_all
from api.periodic import run_periodically
from api.survey import consensus_store, queue, store
from api.survey.aggregating import ConsensusConfig, model_prior, settled, vote_of
from api.survey.queue import Change, PhotoStatus, QueueState
from api.survey.standing import published_standing

logger = logging.getLogger(__name__)

# Two point reads per check; frequent enough to catch the early, doubling re-estimations.
CHECK_EVERY_SECONDS = 2.0
# Between re-estimations answers are graded online only, each against the posterior before
# it (a photo's first answer against the model alone). A survey that goes quiet would keep
# those grades until the schedule's next re-estimation, up to 2,000 answers away; once no
# answer has arrived for this long, the answers the last one left out are taken in instead.
QUIET_SECONDS = 600.0


@dataclass
class AnswerWatch:
    """How long the service's answer count has stood still, as one process saw it."""

    answers: int = -1
    since: float = 0.0

    def quiet_for(self, answers: int, now: float) -> float:
        """Seconds since `answers` was first seen (`now`: a monotonic clock)."""
        if answers != self.answers:
            self.answers, self.since = answers, now
        return now - self.since


_LEASE_SECONDS = 600.0


async def reestimate_now(db: Database, config: ConsensusConfig) -> int:
    """Re-estimate from every counted answer; returns how many photos were rescored."""
    # Counted, and the photos' evidence read, before the votes are: an answer's votes are
    # stored before it is counted, so every answer counted here is in the estimate, and a
    # photo whose count moves after this read keeps its evidence (the next one takes it in).
    answers = await _answer_count(db)
    photos = {doc["_id"]: doc async for doc in consensus_store.consensus_documents(db)}
    votes = [
        VoteRecord(doc["photo_id"], doc["contributor_id"], vote_of(vote))
        async for doc in consensus_store.answer_votes(db)
        for vote in doc["votes"]
    ]
    if not votes:
        return 0
    gold = {pid: doc["gold_label"] for pid, doc in photos.items() if doc.get("gold_label")}
    model_priors = {
        doc["_id"]: prior
        async for doc in store.predictions_of(db, {vote.photo for vote in votes})
        if (prior := model_prior(doc)) is not None
    }
    result = await asyncio.to_thread(
        reestimate,
        votes,
        gold=gold,
        model_priors=model_priors,
        reliability_prior=config.reliability,
        max_iterations=REESTIMATE_MAX_ITERATIONS,
        time_budget=REESTIMATE_TIME_BUDGET,
    )
    estimates = await _save_crowd(db, result, config=config, answers=answers)
    rescored = 0
    rng = random.Random()
    for photo_id, log_odds in result.log_odds.items():
        counted = photos.get(photo_id, {}).get("answer_count")
        rescored += await rescore_photo(db, photo_id, log_odds, counted=counted, config=config,
                                        estimates=estimates, rng=rng)  # fmt: skip
    return rescored


async def _save_crowd(
    db: Database, result: Reestimate, *, config: ConsensusConfig, answers: int
) -> consensus_store.Estimates:
    for contributor_id, state in result.contributors.items():
        published = published_standing(state, config.reliability)
        await consensus_store.set_contributor_state(db, contributor_id, state, published=published)
    estimates = consensus_store.Estimates(
        label_prior=result.label_prior,
        pattern=result.pattern,
        typical_accuracy=typical_accuracy(result.contributors, config.reliability),
        answers_at=answers,
    )
    await consensus_store.write_estimates(db, estimates)
    return estimates


async def rescore_photo(
    db: Database,
    photo_id: str,
    log_odds: Mapping[str, float],
    *,
    counted: int | None,
    config: ConsensusConfig,
    estimates: consensus_store.Estimates,
    rng: random.Random,
) -> int:
    """Replace a photo's evidence by the re-estimation's and bring its queue state in line,
    in one transaction, unless an answer was counted since `counted` answers were read (it
    used the old estimates; the next re-estimation takes it in). 1 if the photo changed."""

    async def attempt(session: Session) -> Change | None:
        state = await consensus_store.read_photo_state(db, photo_id, session=session)
        if counted is not None and state.answer_count != counted:
            return None
        state.log_odds = dict(log_odds)
        writes: list[Write] = [consensus_store.set_log_odds_write(db, photo_id, state)]
        photo = await store.find_photo(db, photo_id, session=session)
        change = None
        if _rescorable(photo):
            assert photo is not None
            position, _ = settled(photo, state, config=config, estimates=estimates)
            change = queue.settle(QueueState.from_document(photo), position, now=datetime.now(UTC))
            writes.append(store.change_write(db, change))
            writes += store.open_answers_writes(db, change)
            if change.counts:
                writes.append(counters.count_write(db, change.counts, rng=rng))
        await write_all(session, writes, guarded=[1] if change else [])
        return change

    change = await in_transaction(db, attempt)
    if change is None:
        return 0
    await store.count_moves(db, [change])
    return 1


def _rescorable(photo: Document | None) -> bool:
    """Open and retired photos, but those the model labelled (never asked: nothing to
    rescore) and gold ones."""
    if photo is None or photo.get("status") not in (PhotoStatus.OPEN, PhotoStatus.RETIRED):
        return False
    return photo.get("retirement_reason") != RetirementReason.MODEL.value


@asynccontextmanager
async def run_reestimation(db: Database, config: ConsensusConfig) -> AsyncIterator[None]:
    """Re-estimate in the background whenever one `is_due`, while the block runs."""
    holder = uuid.uuid4().hex
    watch = AnswerWatch()

    async def step() -> bool:
        await reestimate_if_due(db, config, holder=holder, watch=watch, now=time.monotonic())
        return False

    async with run_periodically("reestimation", step, every=CHECK_EVERY_SECONDS):
        yield


def is_due(answers: int, answers_at: int, *, quiet_for: float) -> bool:
    """Whether to re-estimate, `answers_at` being the answers the last one took in: on the
    answer schedule (`reestimate_due`), or when some were left out and no answer has arrived
    for `QUIET_SECONDS`."""
    left_out = answers > answers_at and quiet_for >= QUIET_SECONDS
    return reestimate_due(answers, answers_at) or left_out


async def reestimate_if_due(
    db: Database, config: ConsensusConfig, *, holder: str, watch: AnswerWatch, now: float
) -> None:
    """Re-estimate if `is_due`, unless another process holds the re-estimation lease or
    ran one meanwhile."""

    async def due() -> bool:
        answers = await _answer_count(db)
        answers_at = (await consensus_store.read_estimates(db)).answers_at
        return is_due(answers, answers_at, quiet_for=watch.quiet_for(answers, now))

    if not await due():
        return
    if not await consensus_store.take_reestimation_lease(
        db, holder=holder, now=datetime.now(UTC), seconds=_LEASE_SECONDS
    ):
        return
    try:
        if not await due():  # another process re-estimated between the check and the lease
            return
        rescored = await reestimate_now(db, config)
        logger.info("re-estimated", extra={"photos_rescored": rescored})
    finally:
        await consensus_store.release_reestimation_lease(db, holder=holder, now=datetime.now(UTC))


async def _answer_count(db: Database) -> int:
    return int((await counters.read_counts(db)).get("answers", 0))
