"""Answers into consensus, online: each accepted answer updates its photo's evidence and
its contributor's counts (``$inc``), then the photo's consensus decides whether it retires
and how many more answers it needs (dynamic overlap). Pure core in `api.consensus`.

A photo's prior is the model's prediction (`photo_prior`): its top-k probabilities, the
rest spread over the model's other labels. The questions' options come from that top-k, so
it is what makes "one of these" likely and lets NONE and a VERIFY "no" move the consensus
off the model's labels. The default model is under-confident rather than over-confident on
the evaluation photos (README, Consensus), so it does not push answers aside."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from functools import partial
from typing import Any

from api import counters
from api.consensus import (
    Answer,
    ChooseAnswer,
    Consensus,
    Demand,
    DescribeAnswer,
    LabelIndex,
    ModelPrior,
    Prior,
    ReliabilityPrior,
    RetirementPolicy,
    VerifyAnswer,
    VerifyResponse,
    Vote,
    answer_update,
    consensus,
    demand,
    evidence_of,
)
from api.database import Database, Document
from api.settings import Settings
from api.survey import consensus_store
from api.survey.questions import Question, QuestionKind, question_for
from api.survey.selection import priority
from api.survey.store import GOLD_SLOTS


@dataclass(frozen=True)
class ConsensusConfig:
    """Retirement and reliability settings, from the service's settings."""

    retirement: RetirementPolicy
    reliability: ReliabilityPrior
    gold_rate: float

    @classmethod
    def from_settings(cls, settings: Settings) -> ConsensusConfig:
        return cls(
            retirement=RetirementPolicy(target=settings.consensus_target, cap=settings.answer_cap),
            reliability=ReliabilityPrior(floor=settings.reliability_floor),
            gold_rate=settings.gold_rate,
        )


def consensus_answer(question: Question, value: Mapping[str, Any]) -> Answer:
    """The consensus core's view of a stored answer (see `api.survey.questions`)."""
    ids = tuple(label.id for label in question.labels)
    if question.kind is QuestionKind.VERIFY:
        return VerifyAnswer(label=ids[0], response=VerifyResponse(value["verify"]))
    if question.kind is QuestionKind.CHOOSE:
        return ChooseAnswer(options=ids, choice=value["choose"], none_allowed=True)
    return DescribeAnswer(tags=tuple(value["describe"]))


def model_prior(photo: Mapping[str, Any]) -> ModelPrior | None:
    """The model's prediction for the photo as a prior; None if it has none, or one stored
    before predictions recorded the size of the model's label space."""
    prediction = photo.get("prediction") or {}
    if not prediction.get("top_k") or "label_count" not in prediction:
        return None
    probabilities = {s["label_id"]: s["probability"] for s in prediction["top_k"]}
    return ModelPrior(probabilities, label_count=prediction["label_count"])


def photo_prior(photo: Mapping[str, Any], estimates: consensus_store.Estimates) -> Prior:
    """The model's prediction for the photo, or the crowd's class prior if it has none."""
    return model_prior(photo) or estimates.label_prior


def label_index(photo: Mapping[str, Any]) -> LabelIndex:
    """Labels a DESCRIBE tag may name: the model's candidates for this photo, by id or name."""
    top_k = (photo.get("prediction") or {}).get("top_k", [])
    return LabelIndex.from_names({s["label_id"]: [s["name"]] for s in top_k})


async def aggregate_answer(
    db: Database,
    answer: Document,
    photo: Document,
    *,
    config: ConsensusConfig,
    estimates: consensus_store.Estimates,
) -> None:
    """Count one stored answer into consensus and into the answer counts, at most once: a
    replay after a crash finds it counted. A crash right after the claim loses its evidence
    until the next full re-estimation, and its place in the counts."""
    question = Question.from_document(answer["question"])
    evidence = evidence_of(consensus_answer(question, answer["value"]), label_index(photo))
    if not await consensus_store.claim_aggregation(
        db, answer["_id"], votes=[asdict(vote) for vote in evidence.votes]
    ):
        return
    update = answer_update(
        await consensus_store.read_photo_state(db, photo["_id"]),
        await consensus_store.read_contributor_state(db, answer["contributor_id"]),
        evidence,
        prior=photo_prior(photo, estimates),
        reliability_prior=config.reliability,
        pattern=estimates.pattern,
    )
    await consensus_store.add_photo_evidence(db, photo["_id"], update.photo_inc())
    await consensus_store.add_contributor_counts(
        db, answer["contributor_id"], update.contributor_inc() | {"answer_count": 1}
    )
    await counters.count(db, answers=1)


def vote_of(document: Mapping[str, Any]) -> Vote:
    """A vote as `aggregate_answer` stored it on the answer."""
    return Vote(
        options=tuple(document["options"]),
        choice=document["choice"],
        none_allowed=document["none_allowed"],
        weight=document["weight"],
    )


async def photo_demand(
    db: Database,
    photo: Document,
    *,
    config: ConsensusConfig,
    estimates: consensus_store.Estimates,
) -> tuple[Consensus, Demand]:
    """The photo's consensus now, and what it still needs (what its contributors are told).

    A gold photo never retires, and what a contributor is told about it must not give it
    away: it needs what an ordinary photo would if its answers had said nothing (gold
    answers move no consensus), until the answer cap, then 0.
    """
    state = await consensus_store.read_photo_state(db, photo["_id"])
    prior = photo_prior(photo, estimates)
    verdict = consensus(state, prior)
    typical = estimates.typical_accuracy
    need_of = partial(
        demand,
        policy=config.retirement,
        typical_accuracy=config.reliability.prior_mean if typical is None else typical,
        alphabet_size=_alphabet_size((photo.get("prediction") or {}).get("top_k", [])),
    )
    if state.gold_label is None:
        return verdict, need_of(verdict)
    cover = need_of(consensus(replace(state, gold_label=None), prior))
    return verdict, Demand(None, cover.answers_still_needed, cover.started)


def _alphabet_size(top_k: list[Mapping[str, Any]]) -> int:
    question = question_for(top_k)  # the same question every task on the photo asks
    return len(question.labels) + 1 if question.kind is QuestionKind.CHOOSE else 2


def queue_state(photo: Mapping[str, Any], *, verdict: Consensus, need: Demand) -> Document:
    """The photo's queue fields given its consensus (see `api.survey.store`)."""
    answers = verdict.answer_count
    if photo.get("status") == "gold":
        return {"still_needed": GOLD_SLOTS, "priority": 0.0}
    still_needed = need.answers_still_needed
    return {
        "still_needed": still_needed,
        "priority": priority(score=photo["score"], answers=answers, still_needed=still_needed),
        "status": "retired" if need.retired is not None else "open",
        "retirement_reason": None if need.retired is None else need.retired.value,
        "consensus": {
            "label": _label(photo, verdict.label),
            "confidence": verdict.confidence,
            "method": verdict.method.value,
            "answer_count": answers,
        },
    }


def _label(photo: Mapping[str, Any], label_id: str | None) -> dict[str, str] | None:
    return None if label_id is None else {"id": label_id, "name": label_name(photo, label_id)}


def label_name(photo: Mapping[str, Any], label_id: str) -> str:
    """The label's display name from the photo's prediction; its id if the model gave none."""
    top_k = (photo.get("prediction") or {}).get("top_k", [])
    return next((s["name"] for s in top_k if s["label_id"] == label_id), label_id)
