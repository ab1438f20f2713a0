"""Periodic full re-estimation: EM over every answer refreshes contributors' reliabilities
and the crowd's estimates, and rescores every photo (a photo may retire or reopen).

It runs in the background of any service process, at most one at a time across processes
(a lease in ``consensus_meta``), whenever one is due (`is_due`: each time the answers
double while there are few, then every `REESTIMATE_EVERY`, and within `CATCH_UP_SECONDS`
of any answer the last one left out); EM itself runs in a worker thread and stops at its
time budget, so requests never wait on it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from api import counters
from api.consensus import (
    PhotoState,
    Reestimate,
    VoteRecord,
    reestimate,
    reestimate_due,
    typical_accuracy,
)
from api.consensus.engine import REESTIMATE_MAX_ITERATIONS, REESTIMATE_TIME_BUDGET
from api.database import Database
from api.periodic import run_periodically
from api.survey import consensus_store, store
from api.survey.aggregating import (
    ConsensusConfig,
    model_prior,
    photo_demand,
    queue_state,
    vote_of,
)
from api.survey.queue import settle_change

logger = logging.getLogger(__name__)

# Two point reads per check; frequent enough to catch the early, doubling re-estimations.
CHECK_EVERY_SECONDS = 2.0
# Between re-estimations answers are graded online only, each against the posterior before
# it (a photo's first answer against the model alone). A survey that goes quiet would keep
# those grades until 2,000 more answers came; answers the last re-estimation left out are
# taken in within this long instead.
CATCH_UP_SECONDS = 600.0
_LEASE_SECONDS = 600.0


async def reestimate_now(db: Database, config: ConsensusConfig) -> int:
    """Re-estimate from every counted answer; returns how many photos were rescored."""
    votes = [
        VoteRecord(doc["photo_id"], doc["contributor_id"], vote_of(vote))
        async for doc in consensus_store.answer_votes(db)
        for vote in doc["votes"]
    ]
    if not votes:
        return 0
    photos = {doc["_id"]: doc async for doc in consensus_store.consensus_documents(db)}
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
    estimates = await _save_crowd(db, result, config=config)
    rescored = 0
    for photo_id, log_odds in result.log_odds.items():
        encoded = PhotoState(log_odds=log_odds).to_document()["log_odds"]
        answers = int(photos[photo_id].get("answer_count", 0))
        if await consensus_store.set_photo_log_odds(db, photo_id, encoded, answer_count=answers):
            rescored += await rescore_photo(db, photo_id, config=config, estimates=estimates)
    return rescored


async def _save_crowd(
    db: Database, result: Reestimate, *, config: ConsensusConfig
) -> consensus_store.Estimates:
    for contributor_id, state in result.contributors.items():
        await consensus_store.set_contributor_state(db, contributor_id, state)
    answers = int((await counters.read_counts(db)).get("answers", 0))
    estimates = consensus_store.Estimates(
        label_prior=result.label_prior,
        pattern=result.pattern,
        typical_accuracy=typical_accuracy(result.contributors, config.reliability),
        answers_at=answers,
        made_at=datetime.now(UTC),
    )
    await consensus_store.write_estimates(db, estimates)
    return estimates


async def rescore_photo(
    db: Database,
    photo_id: str,
    *,
    config: ConsensusConfig,
    estimates: consensus_store.Estimates,
) -> int:
    """Bring a photo's queue state in line with its consensus now; 1 if it changed."""
    photo = await store.find_photo(db, photo_id)
    if photo is None or photo.get("status") not in ("open", "retired"):
        return 0
    if photo.get("retirement_reason") == "MODEL":
        return 0  # labelled by the model, never asked: nothing to rescore
    verdict, need = await photo_demand(db, photo, config=config, estimates=estimates)
    after = await store.rescore(db, photo, fields=queue_state(photo, verdict=verdict, need=need))
    if after is None:
        return 0  # an answer arrived meanwhile; it rescored the photo itself
    await settle_change(db, before=photo, after=after)
    return 1


@asynccontextmanager
async def run_reestimation(db: Database, config: ConsensusConfig) -> AsyncIterator[None]:
    """Re-estimate in the background whenever enough answers arrived, while the block runs."""
    holder = uuid.uuid4().hex

    async def step() -> bool:
        await reestimate_if_due(db, config, holder=holder, now=datetime.now(UTC))
        return False

    async with run_periodically("reestimation", step, every=CHECK_EVERY_SECONDS):
        yield


def is_due(answers: int, estimates: consensus_store.Estimates, *, now: datetime) -> bool:
    """Whether to re-estimate: on the answer schedule (`reestimate_due`), or when answers
    arrived since a re-estimation at least `CATCH_UP_SECONDS` old."""
    if reestimate_due(answers, estimates.answers_at):
        return True
    made_at = estimates.made_at
    stale = made_at is not None and now - made_at >= timedelta(seconds=CATCH_UP_SECONDS)
    return stale and answers > estimates.answers_at


async def reestimate_if_due(
    db: Database, config: ConsensusConfig, *, holder: str, now: datetime
) -> None:
    """Re-estimate if `is_due`, unless another process holds the re-estimation lease."""
    answers = int((await counters.read_counts(db)).get("answers", 0))
    if not is_due(answers, await consensus_store.read_estimates(db), now=now):
        return
    if not await consensus_store.take_reestimation_lease(
        db, holder=holder, now=now, seconds=_LEASE_SECONDS
    ):
        return
    try:
        rescored = await reestimate_now(db, config)
        logger.info("re-estimated", extra={"answers": answers, "photos_rescored": rescored})
    finally:
        await consensus_store.release_reestimation_lease(db, holder=holder, now=datetime.now(UTC))
