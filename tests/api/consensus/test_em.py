from __future__ import annotations

from statistics import mean

import pytest

from api.consensus.aggregation import posterior_from
from api.consensus.em import VoteRecord, reestimate
from api.consensus.reliability import ReliabilityPrior, reliability
from tests.api.consensus.builders import closed_vote, simulated_crowd

LABELS = ("x", "y", "z")


def crowd_records() -> tuple[dict[str, str], list[VoteRecord]]:
    accuracies: dict[str, float | None] = {"p": 0.9, "q": 0.8, "r": 0.75, "s": 0.7, "flip": None}
    truth, answers = simulated_crowd(photos=150, accuracies=accuracies, labels=LABELS, seed=3)
    return truth, [VoteRecord(p, c, closed_vote(a, LABELS)) for p, c, a in answers]


def test_em_recovers_planted_truth_and_reliabilities() -> None:
    truth, records = crowd_records()
    result = reestimate(records)
    labels = {
        p: posterior_from(lo, result.label_prior).top()[0] for p, lo in result.log_odds.items()
    }
    assert mean(labels[p] == t for p, t in truth.items()) >= 0.95
    prior = ReliabilityPrior()
    score = {c: reliability(s, prior) for c, s in result.contributors.items()}
    assert score["p"] > score["s"] > score["flip"]
    assert score["flip"] < prior.floor  # always wrong: flagged, weighs nothing
    assert result.converged


def test_gold_photos_teach_reliability_and_get_no_consensus() -> None:
    records = [
        VoteRecord("gold", "ann", closed_vote("x", LABELS)),
        VoteRecord("gold", "bob", closed_vote("y", LABELS)),
        VoteRecord("open", "ann", closed_vote("z", LABELS)),
    ]
    result = reestimate(records, gold={"gold": "x"})
    assert "gold" not in result.log_odds
    ann, bob = result.contributors["ann"], result.contributors["bob"]
    assert (ann.gold_votes, ann.gold_correct) == (1, 1)
    assert (bob.gold_votes, bob.gold_correct) == (1, 0)
    assert bob.confusion["x"]["y"] == pytest.approx(1.0)


def test_time_budget_and_iteration_bound_stop_em() -> None:
    _, records = crowd_records()
    assert reestimate(records, max_iterations=2, tolerance=0.0).iterations == 2
    assert reestimate(records, time_budget=0.0).iterations <= 1
