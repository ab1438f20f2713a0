"""Data builders for the consensus tests: plain functions, small synthetic crowds."""

from __future__ import annotations

import random
from collections.abc import Sequence

from api.consensus.evidence import ChooseAnswer, Evidence, Vote, evidence_of
from api.consensus.reliability import ContributorState

LABELS = ("cat", "dog")


def closed_vote(choice: str, labels: Sequence[str] = LABELS) -> Vote:
    """A crowd-style vote: one of `labels`, no NONE."""
    return Vote(tuple(labels), choice, none_allowed=False)


def closed_answer(choice: str, labels: Sequence[str] = LABELS) -> Evidence:
    return evidence_of(ChooseAnswer(tuple(labels), choice, none_allowed=False))


def skilled(right: float, wrong: float, labels: Sequence[str] = LABELS) -> ContributorState:
    """A contributor whose confusion counts are `right` on the diagonal, `wrong` elsewhere."""
    confusion: dict[str | None, dict[str | None, float]] = {
        t: {a: (right if a == t else wrong) for a in labels} for t in labels
    }
    return ContributorState(confusion=confusion)


def simulated_crowd(
    *,
    photos: int,
    accuracies: dict[str, float | None],
    labels: Sequence[str],
    seed: int = 0,
) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """Planted truth and one answer per (photo, contributor).

    Accuracy None is an always-wrong contributor (a fixed wrong label); otherwise each
    answer is right with that probability and a uniform wrong label otherwise.
    """
    rng = random.Random(seed)
    truth = {f"photo-{i}": rng.choice(labels) for i in range(photos)}
    answers = []
    for photo, label in truth.items():
        for contributor, accuracy in accuracies.items():
            wrong = [t for t in labels if t != label]
            if accuracy is None:
                answer = wrong[0]
            else:
                answer = label if rng.random() < accuracy else rng.choice(wrong)
            answers.append((photo, contributor, answer))
    return truth, answers
