from __future__ import annotations

import pytest

from api.consensus.aggregation import Consensus, ConsensusMethod
from api.consensus.retirement import (
    Demand,
    RetirementPolicy,
    RetirementReason,
    answers_still_needed,
    demand,
    retirement_reason,
)

POLICY = RetirementPolicy()  # target 0.95, cap 7


def weighted(confidence: float, answers: int) -> Consensus:
    """Every answer a vote, all for the consensus label."""
    return Consensus(
        "cat", confidence, answers, ConsensusMethod.WEIGHTED, vote_count=answers, support=answers
    )


def test_defaults_are_the_services() -> None:
    assert (POLICY.target, POLICY.cap) == (0.95, 7)


@pytest.mark.parametrize(
    ("confidence", "answers", "reason"),
    [
        (0.95, 2, RetirementReason.CONFIDENT),
        (0.9499, 6, None),
        (0.6, 7, RetirementReason.CAP),
        (0.99, 7, RetirementReason.CONFIDENT),
    ],
)
def test_a_photo_retires_when_confident_or_at_the_cap(
    confidence: float, answers: int, reason: RetirementReason | None
) -> None:
    assert retirement_reason(weighted(confidence, answers), POLICY) is reason


def test_one_vote_never_retires_a_photo_on_confidence() -> None:
    assert retirement_reason(weighted(0.999, 1), POLICY) is None
    not_sure_and_one_vote = Consensus("cat", 0.999, 2, ConsensusMethod.WEIGHTED, vote_count=1)
    assert retirement_reason(not_sure_and_one_vote, POLICY) is None
    assert retirement_reason(weighted(0.999, 1), RetirementPolicy(min_votes=1)) is (
        RetirementReason.CONFIDENT
    )


def test_a_label_no_vote_named_never_retires_a_photo_on_confidence() -> None:
    # e.g. n1 after "n0" from a contributor who is always wrong, and a NONE
    unnamed = Consensus("n1", 0.96, 2, ConsensusMethod.WEIGHTED, vote_count=2, support=0.0)
    assert retirement_reason(unnamed, POLICY) is None
    named_once = Consensus("n1", 0.96, 2, ConsensusMethod.WEIGHTED, vote_count=2, support=1.0)
    assert retirement_reason(named_once, POLICY) is RetirementReason.CONFIDENT


def test_gold_photos_never_retire() -> None:
    gold = Consensus("cat", 1.0, 50, ConsensusMethod.GOLD)
    assert retirement_reason(gold, POLICY) is None
    assert retirement_reason(weighted(0.99, 50), POLICY, is_gold=True) is None
    assert demand(weighted(0.5, 1), POLICY, is_gold=True).answers_still_needed == 0


def test_a_confident_model_alone_does_not_retire_a_photo_here() -> None:
    model = Consensus("cat", 0.99, 0, ConsensusMethod.MODEL)
    assert retirement_reason(model, POLICY) is None
    assert retirement_reason(Consensus("cat", 0.99, 7, ConsensusMethod.MODEL), POLICY) is (
        RetirementReason.CAP
    )


def test_contested_photos_need_more_answers_than_clear_ones() -> None:
    clear = answers_still_needed(weighted(0.9, 2), POLICY)
    contested = answers_still_needed(weighted(0.5, 2), POLICY)
    assert 1 <= clear < contested
    # 0.5 -> 0.95 is logit 2.94; a 0.7-accurate binary answer moves it 0.4 * 0.85 = 0.34.
    assert contested == 5  # bounded by the cap: 7 - 2


def test_answers_still_needed_is_zero_once_retired_and_bounded_by_the_cap() -> None:
    assert answers_still_needed(weighted(0.97, 2), POLICY) == 0
    assert answers_still_needed(weighted(0.5, 6), POLICY) == 1
    policy = RetirementPolicy(cap=100)
    assert answers_still_needed(weighted(0.5, 0), policy) == 9  # ceil(2.944 / 0.339)
    better = answers_still_needed(weighted(0.5, 0), policy, typical_accuracy=0.9)
    assert better < 9


def test_useless_contributors_mean_asking_until_the_cap() -> None:
    assert answers_still_needed(weighted(0.5, 1), POLICY, typical_accuracy=0.5) == 6


def test_selection_prefers_started_photos_with_fewest_answers_needed() -> None:
    started_close = demand(weighted(0.9, 2), POLICY)
    started_far = demand(weighted(0.5, 2), POLICY)
    fresh = demand(Consensus(None, 0.0, 0, ConsensusMethod.WEIGHTED), POLICY)
    retired = demand(weighted(0.99, 3), POLICY)
    assert started_close.priority > started_far.priority > fresh.priority > retired.priority
    assert fresh == Demand(None, answers_still_needed(fresh_consensus(), POLICY), False)


def fresh_consensus() -> Consensus:
    return Consensus(None, 0.0, 0, ConsensusMethod.WEIGHTED)
