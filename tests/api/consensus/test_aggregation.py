"""Hand-computed aggregation cases. A new contributor is right with probability 0.7."""

from __future__ import annotations

import math
import random

import pytest

from api.consensus.aggregation import (
    ConsensusMethod,
    PhotoState,
    answer_update,
    apply_update,
    consensus,
    majority,
    posterior,
)
from api.consensus.evidence import Evidence, VerifyAnswer, VerifyResponse, Vote, evidence_of
from api.consensus.priors import LabelPrior, ModelPrior
from api.consensus.reliability import ContributorState, ReliabilityPrior
from tests.api.consensus.builders import closed_answer, skilled

RELIABILITY = ReliabilityPrior()  # prior mean 0.7, so a new contributor's vote has odds 7:3
CLOSED = LabelPrior()  # closed label space, uniform until re-estimation learns counts


def answered(*answers: tuple[ContributorState, Evidence], prior: LabelPrior = CLOSED) -> PhotoState:
    photo = PhotoState()
    for contributor, evidence in answers:
        update = answer_update(
            photo, contributor, evidence, prior=prior, reliability_prior=RELIABILITY
        )
        apply_update(photo, contributor, update)
    return photo


def test_unanimous_answers_multiply_their_odds() -> None:
    photo = answered(*[(ContributorState(), closed_answer("cat")) for _ in range(3)])
    expected = 0.7**3 / (0.7**3 + 0.3**3)  # 0.927
    result = consensus(photo, CLOSED)
    assert result.label == "cat"
    assert result.confidence == pytest.approx(expected)
    assert (result.answer_count, result.method) == (3, ConsensusMethod.WEIGHTED)


def test_split_answers_leave_one_vote_of_margin() -> None:
    photo = answered(
        (ContributorState(), closed_answer("cat")),
        (ContributorState(), closed_answer("dog")),
        (ContributorState(), closed_answer("cat")),
    )
    assert consensus(photo, CLOSED).label == "cat"
    assert consensus(photo, CLOSED).confidence == pytest.approx(0.7)
    assert consensus(photo, CLOSED).support == 2.0  # the votes that named "cat"


def test_a_single_answer_is_worth_the_prior_accuracy() -> None:
    photo = answered((ContributorState(), closed_answer("dog")))
    assert posterior(photo, CLOSED).probabilities == pytest.approx({"dog": 0.7, "cat": 0.3})


def test_one_expert_outweighs_two_spammers() -> None:
    expert = skilled(right=90, wrong=0)  # 180 of 180 right
    spammers = [skilled(right=25, wrong=25) for _ in range(2)]  # coin flips
    photo = answered(
        (expert, closed_answer("cat")),
        (spammers[0], closed_answer("dog")),
        (spammers[1], closed_answer("dog")),
    )
    # By hand: reliability = (diagonal + 10 * 0.7) / (total + 10); a cell's probability is
    # (count + 3 * base) / (row + 3), base = reliability on the diagonal, 1 - it elsewhere.
    r_expert = (180 + 7) / (180 + 10)
    r_spam = (50 + 7) / (100 + 10)
    expert_ratio = ((90 + 3 * r_expert) / 93) / ((0 + 3 * (1 - r_expert)) / 93)
    spam_ratio = ((25 + 3 * r_spam) / 53) / ((25 + 3 * (1 - r_spam)) / 53)
    odds = expert_ratio / spam_ratio**2
    result = consensus(photo, CLOSED)
    assert result.label == "cat"
    assert result.confidence == pytest.approx(odds / (1 + odds))
    assert majority(photo, random.Random(0)).label == "dog"  # majority vote gets it wrong


def test_not_sure_only_counts_answers_but_moves_nothing() -> None:
    not_sure = evidence_of(VerifyAnswer("cat", VerifyResponse.NOT_SURE))
    contributor = ContributorState()
    photo = answered((contributor, not_sure), (ContributorState(), not_sure))
    assert (photo.answer_count, photo.not_sure_count, photo.vote_count) == (2, 2, 0)
    assert photo.log_odds == {}
    assert contributor.confusion == {}
    assert consensus(photo, CLOSED).label is None
    model = ModelPrior({"cat": 0.6, "dog": 0.3}, label_count=1000)
    assert consensus(photo, model).label == "cat"
    assert consensus(photo, model).method is ConsensusMethod.MODEL


def test_verify_answers_move_one_label_against_the_rest_of_a_large_space() -> None:
    model = ModelPrior({"cat": 0.5, "dog": 0.3}, label_count=1000)
    yes = evidence_of(VerifyAnswer("dog", VerifyResponse.YES))
    photo = answered((ContributorState(), yes), (ContributorState(), yes), prior=model)
    assert photo.log_odds == pytest.approx({"dog": 2 * math.log(0.7 / 0.3)})
    dog = 0.3 * (0.7 / 0.3) ** 2
    expected = dog / (dog + 0.5 + 0.2)  # cat and the 998 other labels keep their prior mass
    after = posterior(photo, model)
    assert after.probabilities["dog"] == pytest.approx(expected)
    assert after.other == pytest.approx(0.2 / (dog + 0.7))


def test_gold_answers_grade_the_contributor_and_leave_consensus_alone() -> None:
    photo = PhotoState(gold_label="cat")
    contributor = ContributorState()
    update = answer_update(
        photo, contributor, closed_answer("dog"), prior=CLOSED, reliability_prior=RELIABILITY
    )
    apply_update(photo, contributor, update)
    assert photo.log_odds == {}
    assert contributor.confusion == {"cat": {"dog": 1.0}}
    assert (contributor.gold_votes, contributor.gold_correct) == (1, 0)
    assert consensus(photo, CLOSED).method is ConsensusMethod.GOLD


def test_a_contributor_below_the_floor_weighs_nothing() -> None:
    always_wrong = skilled(right=0, wrong=40)
    photo = answered((always_wrong, closed_answer("dog")))
    assert photo.log_odds == {}
    assert photo.vote_count == 1  # still counted, so reliability can be measured


def test_counts_use_the_posterior_before_the_answer() -> None:
    first, second = ContributorState(), ContributorState()
    answered((first, closed_answer("cat")), (second, closed_answer("cat")))
    # The first answer saw a uniform posterior; the second saw 0.7 on cat.
    assert first.confusion == {"cat": {"cat": 0.5}, "dog": {"cat": 0.5}}
    assert second.confusion["cat"]["cat"] == pytest.approx(0.7)
    assert second.agreed == 1.0
    assert first.agreed == 0.0


def test_vote_weights_scale_evidence() -> None:
    half = Evidence(votes=(Vote(("cat",), "cat", weight=0.5),))
    photo = answered((ContributorState(), half))
    assert photo.log_odds == pytest.approx({"cat": 0.5 * math.log(0.7 / 0.3)})
