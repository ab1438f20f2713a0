"""MongoDB access for consensus: per-photo evidence (``consensus``), contributors' states
(fields of ``contributors``), and the service-wide estimates (``consensus_meta``).

An answer changes evidence with ``$inc`` only (see `api.consensus.AnswerUpdate`), in the
transaction that stores it (`api.survey.answering`); a full re-estimation `$set`s fresh
values.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from pymongo import UpdateOne

from api.consensus import ContributorState, ErrorPattern, LabelPrior, PhotoState
from api.database import Database, Document, Session, namespace

_ESTIMATES = "estimates"
_LEASE = "reestimation"
_CONTRIBUTOR_STATE_FIELDS = ("confusion", "vote_count", "agreed", "gold_votes", "gold_correct")


@dataclass(frozen=True)
class Estimates:
    """What the last full re-estimation learned about the whole crowd."""

    label_prior: LabelPrior
    pattern: ErrorPattern
    typical_accuracy: float | None
    answers_at: int
    """How many answers the service had when they were made."""


async def read_photo_state(
    db: Database, photo_id: str, *, session: Session | None = None
) -> PhotoState:
    doc = await db.consensus.find_one({"_id": photo_id}, session=session)
    return PhotoState() if doc is None else PhotoState.from_document(doc)


def add_photo_evidence_write(db: Database, photo_id: str, inc: Mapping[str, float]) -> UpdateOne:
    return UpdateOne(
        {"_id": photo_id}, {"$inc": dict(inc)}, upsert=True, namespace=namespace(db, "consensus")
    )


def set_gold_label_write(db: Database, photo_id: str, label_id: str) -> UpdateOne:
    return UpdateOne(
        {"_id": photo_id},
        {"$set": {"gold_label": label_id}},
        upsert=True,
        namespace=namespace(db, "consensus"),
    )


def set_log_odds_write(db: Database, photo_id: str, state: PhotoState) -> UpdateOne:
    """Replace a photo's evidence by a re-estimation's (`state.log_odds`); the evidence is
    written for the first time when an answer's votes were stored without it (by a
    version before answers were single transactions)."""
    return UpdateOne(
        {"_id": photo_id},
        {"$set": {"log_odds": state.to_document()["log_odds"]}},
        upsert=True,
        namespace=namespace(db, "consensus"),
    )


async def read_contributor_state(
    db: Database, contributor_id: str, *, session: Session | None = None
) -> ContributorState:
    doc = await db.contributors.find_one(
        {"_id": contributor_id}, list(_CONTRIBUTOR_STATE_FIELDS), session=session
    )
    return ContributorState() if doc is None else ContributorState.from_document(doc)


def add_contributor_counts_write(
    db: Database, contributor_id: str, inc: Mapping[str, float]
) -> UpdateOne:
    return UpdateOne(
        {"_id": contributor_id}, {"$inc": dict(inc)}, namespace=namespace(db, "contributors")
    )


async def set_contributor_state(
    db: Database, contributor_id: str, state: ContributorState, *, published: Document
) -> None:
    """Replace the contributor's state, and the standing shown to them (`standing`)."""
    fields = state.to_document() | {"published": published}
    await db.contributors.update_one({"_id": contributor_id}, {"$set": fields})


async def contributor_documents(db: Database) -> AsyncIterator[Document]:
    """Every contributor (the admin view reads them all)."""
    async for doc in db.contributors.find({}):
        yield doc


async def read_estimates(db: Database) -> Estimates:
    doc = await db.consensus_meta.find_one({"_id": _ESTIMATES}) or {}
    return Estimates(
        label_prior=LabelPrior.from_document(doc.get("label_prior", {})),
        pattern=ErrorPattern.from_document(doc.get("pattern", {})),
        typical_accuracy=doc.get("typical_accuracy"),
        answers_at=int(doc.get("answers_at", 0)),
    )


async def write_estimates(db: Database, estimates: Estimates) -> None:
    await db.consensus_meta.update_one(
        {"_id": _ESTIMATES},
        {
            "$set": {
                "label_prior": estimates.label_prior.to_document(),
                "pattern": estimates.pattern.to_document(),
                "typical_accuracy": estimates.typical_accuracy,
                "answers_at": estimates.answers_at,
            }
        },
        upsert=True,
    )


async def take_reestimation_lease(
    db: Database, *, holder: str, now: datetime, seconds: float
) -> bool:
    """At most one process re-estimates at a time; a crashed holder's lease lapses."""
    until = now + timedelta(seconds=seconds)
    await db.consensus_meta.update_one(
        {"_id": _LEASE}, {"$setOnInsert": {"until": now}}, upsert=True
    )
    taken = await db.consensus_meta.update_one(
        {"_id": _LEASE, "until": {"$lte": now}}, {"$set": {"holder": holder, "until": until}}
    )
    return taken.modified_count == 1


async def release_reestimation_lease(db: Database, *, holder: str, now: datetime) -> None:
    await db.consensus_meta.update_one({"_id": _LEASE, "holder": holder}, {"$set": {"until": now}})


async def answer_votes(db: Database) -> AsyncIterator[Document]:
    """Every counted answer's photo, contributor and votes (for re-estimation)."""
    async for doc in db.answers.find(
        {"votes": {"$ne": None}}, {"photo_id": 1, "contributor_id": 1, "votes": 1}
    ):
        yield doc


async def consensus_documents(db: Database) -> AsyncIterator[Document]:
    async for doc in db.consensus.find({}):
        yield doc
