"""Answers into consensus, online: each accepted answer updates its photo's evidence and
its contributor's counts (``$inc``), and the photo's consensus decides whether it retires
and how many more answers it needs (dynamic overlap). Plain functions over the core in
`api.consensus`; `api.survey.answering` writes what they compute.

A photo's prior is the model's prediction (`photo_prior`): its top-k probabilities, the
rest spread over the model's other labels. The questions' options come from that top-k, so
it is what makes "one of these" likely and lets NONE and a VERIFY "no" move the consensus
off the model's labels. The default model is under-confident rather than over-confident on
the evaluation photos (README, Consensus), so it does not push answers aside."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from api.consensus import (
    Answer,
    AnswerUpdate,
    ChooseAnswer,
    Consensus,
    ContributorState,
    Demand,
    DescribeAnswer,
    Evidence,
    LabelIndex,
    ModelPrior,
    PhotoState,
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
from api.settings import Settings
from api.survey import consensus_store
from api.survey.questions import Question, QuestionKind, question_for
from api.survey.queue import GOLD_SLOTS, PhotoStatus, Settled
from api.survey.selection import priority


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


def answer_evidence(
    question: Question, value: Mapping[str, Any], photo: Mapping[str, Any]
) -> Evidence:
    """What a stored answer says, as votes on the photo's labels."""
    return evidence_of(consensus_answer(question, value), label_index(photo))


def count_answer(
    state: PhotoState,
    contributor: ContributorState,
    evidence: Evidence,
    photo: Mapping[str, Any],
    *,
    config: ConsensusConfig,
    estimates: consensus_store.Estimates,
) -> AnswerUpdate:
    """The change one answer makes to its photo's evidence and its contributor's counts."""
    return answer_update(
        state,
        contributor,
        evidence,
        prior=photo_prior(photo, estimates),
        reliability_prior=config.reliability,
        pattern=estimates.pattern,
    )


def vote_of(document: Mapping[str, Any]) -> Vote:
    """A vote as `aggregate_answer` stored it on the answer."""
    return Vote(
        options=tuple(document["options"]),
        choice=document["choice"],
        none_allowed=document["none_allowed"],
        weight=document["weight"],
    )


def photo_demand(
    photo: Mapping[str, Any],
    state: PhotoState,
    *,
    config: ConsensusConfig,
    estimates: consensus_store.Estimates,
) -> tuple[Consensus, Demand]:
    """The photo's consensus given its evidence `state`, and what it still needs (what its
    contributors are told).

    A gold photo never retires, and what a contributor is told about it must not give it
    away: it needs what an ordinary photo would if its answers had said nothing (gold
    answers move no consensus), until the answer cap, then 0.
    """
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


def settled(
    photo: Mapping[str, Any],
    state: PhotoState,
    *,
    config: ConsensusConfig,
    estimates: consensus_store.Estimates,
) -> tuple[Settled, Demand]:
    """Where the photo stands in the queue given its evidence `state` (see
    `api.survey.queue`), and what its contributors are told it still needs."""
    verdict, need = photo_demand(photo, state, config=config, estimates=estimates)
    if photo.get("status") == PhotoStatus.GOLD.value:
        return Settled(PhotoStatus.GOLD, still_needed=GOLD_SLOTS, priority=0.0), need
    still_needed = need.answers_still_needed
    answers = verdict.answer_count
    return Settled(
        status=PhotoStatus.OPEN if need.retired is None else PhotoStatus.RETIRED,
        still_needed=still_needed,
        priority=priority(score=photo["score"], answers=answers, still_needed=still_needed),
        retirement_reason=None if need.retired is None else need.retired.value,
        consensus={
            "label": _label(photo, verdict.label),
            "confidence": verdict.confidence,
            "method": verdict.method.value,
            "answer_count": answers,
        },
    ), need


def _label(photo: Mapping[str, Any], label_id: str | None) -> dict[str, str] | None:
    return None if label_id is None else {"id": label_id, "name": label_name(photo, label_id)}


def label_name(photo: Mapping[str, Any], label_id: str) -> str:
    """The label's display name from the photo's prediction; its id if the model gave none."""
    top_k = (photo.get("prediction") or {}).get("top_k", [])
    return next((s["name"] for s in top_k if s["label_id"] == label_id), label_id)
