"""Contributors' standing: reliability, agreement and the floor below which they weigh nothing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from api.consensus import ContributorState, ReliabilityPrior, agreement_rate, reliability
from api.database import Database, Document
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


def published_standing(state: ContributorState, prior: ReliabilityPrior) -> Document:
    """Reliability and agreement as a re-estimation leaves them: what a contributor is shown.

    Not the live values: those move with each answer, and by exactly one right (or wrong)
    answer's worth on a gold photo, where an ordinary photo moves them by a fraction. A
    contributor watching them could tell gold photos, and their labels, apart.
    """
    return {"reliability": reliability(state, prior), "agreement_rate": agreement_rate(state)}


async def own_standing(db: Database, contributor_id: str, prior: ReliabilityPrior) -> Standing:
    """The caller's standing as they may see it: reliability and agreement as of the last
    re-estimation that counted their answers (the prior's accuracy before that)."""
    doc = await db.contributors.find_one({"_id": contributor_id})
    if doc is None:
        raise LookupError(f"no contributor {contributor_id}")
    shown = doc.get("published", {"reliability": prior.prior_mean, "agreement_rate": None})
    return replace(
        standing_of(doc, prior),
        reliability=shown["reliability"],
        agreement_rate=shown["agreement_rate"],
    )


async def by_reliability(db: Database, prior: ReliabilityPrior, *, first: int) -> list[Standing]:
    """The `first` contributors, least reliable first (those to review come first).

    Reads every contributor: an admin view over a set far smaller than the photo pool.
    """
    everyone = [standing_of(doc, prior) async for doc in consensus_store.contributor_documents(db)]
    return sorted(everyone, key=lambda s: (s.reliability, s.name))[:first]
