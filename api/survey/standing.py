"""Contributors' standing: reliability, agreement and the floor below which they weigh nothing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from api.consensus import ContributorState, ReliabilityPrior, agreement_rate, reliability
from api.database import Database
from api.survey import consensus_store


@dataclass(frozen=True)
class Standing:
    id: str
    name: str
    is_admin: bool
    answer_count: int
    agreement_rate: float | None
    reliability: float
    gold_answers: int
    below_floor: bool


def standing_of(doc: Mapping[str, Any], prior: ReliabilityPrior) -> Standing:
    state = ContributorState.from_document(doc)
    value = reliability(state, prior)
    return Standing(
        id=doc["_id"],
        name=doc["name"],
        is_admin=doc["role"] == "admin",
        answer_count=int(doc.get("answer_count", 0)),
        agreement_rate=agreement_rate(state),
        reliability=value,
        gold_answers=state.gold_votes,
        below_floor=value < prior.floor,
    )


async def standing(db: Database, contributor_id: str, prior: ReliabilityPrior) -> Standing:
    doc = await db.contributors.find_one({"_id": contributor_id})
    if doc is None:
        raise LookupError(f"no contributor {contributor_id}")
    return standing_of(doc, prior)


async def by_reliability(db: Database, prior: ReliabilityPrior, *, first: int) -> list[Standing]:
    """The `first` contributors, least reliable first (those to review come first).

    Reads every contributor: an admin view over a set far smaller than the photo pool.
    """
    everyone = [standing_of(doc, prior) async for doc in consensus_store.contributor_documents(db)]
    return sorted(everyone, key=lambda s: (s.reliability, s.name))[:first]
