from __future__ import annotations

import pytest

from api.consensus.evidence import (
    ChooseAnswer,
    DescribeAnswer,
    InvalidAnswer,
    LabelIndex,
    VerifyAnswer,
    VerifyResponse,
    Vote,
    evidence_of,
    normalise_tag,
)

INDEX = LabelIndex.from_names(
    {
        "n02099601": ["golden retriever"],
        "n02123045": ["tabby, tabby cat"],
        "n03126707": ["crane"],
        "n02012849": ["crane"],
    }
)


def test_verify_yes_is_a_vote_for_the_label_against_none() -> None:
    evidence = evidence_of(VerifyAnswer("n02099601", VerifyResponse.YES))
    assert evidence.votes == (Vote(("n02099601",), "n02099601"),)
    assert evidence.votes[0].alphabet_size == 2
    assert not evidence.not_sure


def test_verify_no_is_a_vote_for_none() -> None:
    evidence = evidence_of(VerifyAnswer("n02099601", VerifyResponse.NO))
    assert evidence.votes == (Vote(("n02099601",), None),)


def test_verify_not_sure_gives_no_vote_but_is_recorded() -> None:
    evidence = evidence_of(VerifyAnswer("n02099601", VerifyResponse.NOT_SURE))
    assert evidence.votes == ()
    assert evidence.not_sure


def test_choose_maps_to_one_vote_over_candidates_and_none() -> None:
    evidence = evidence_of(ChooseAnswer(("a", "b", "c"), None))
    assert evidence.votes == (Vote(("a", "b", "c"), None, none_allowed=True),)
    assert evidence.votes[0].alphabet_size == 4


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (ChooseAnswer(("a", "b"), "z"), "not one of the options"),
        (ChooseAnswer(("a", "b"), None, none_allowed=False), "NONE is not"),
        (ChooseAnswer(("a", "a"), "a"), "distinct"),
        (ChooseAnswer((), None), "distinct"),
    ],
)
def test_choose_rejects_a_choice_outside_its_question(answer: ChooseAnswer, message: str) -> None:
    with pytest.raises(InvalidAnswer, match=message):
        evidence_of(answer)


def test_describe_matches_names_and_ids_and_keeps_the_rest_as_tags() -> None:
    answer = DescribeAnswer(("Golden_Retriever", "TABBY CAT", "n02099601", "grass", "crane", " "))
    evidence = evidence_of(answer, INDEX)
    assert [v.choice for v in evidence.votes] == ["n02099601", "n02123045"]
    assert all(v.weight == pytest.approx(0.5) for v in evidence.votes)
    assert all(v.options == (v.choice,) and v.none_allowed for v in evidence.votes)
    # "crane" names two labels (bird and machine): ambiguous, so kept as a tag.
    assert evidence.unmatched_tags == ("grass", "crane")


def test_describe_without_matches_gives_no_vote() -> None:
    evidence = evidence_of(DescribeAnswer(("sunset",)), INDEX)
    assert evidence.votes == ()
    assert evidence.unmatched_tags == ("sunset",)
    assert not evidence.not_sure


def test_normalise_tag_folds_case_width_and_separators() -> None:
    assert normalise_tag("  Golden-Retriever! ") == "golden retriever"
    assert normalise_tag("\uff34\uff21\uff22\uff22\uff39_cat")  # full-width "TABBY" == "tabby cat"
