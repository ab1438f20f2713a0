"""States are plain documents, and an answer is two MongoDB-style `$inc` updates."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.consensus.aggregation import PhotoState, answer_update, apply_update
from api.consensus.evidence import DescribeAnswer, LabelIndex, evidence_of
from api.consensus.keys import NONE_KEY, decode_key, encode_key
from api.consensus.priors import LabelPrior
from api.consensus.reliability import ContributorState, ErrorPattern, ReliabilityPrior
from tests.api.consensus.builders import closed_answer, skilled


def inc(document: dict[str, Any], increments: dict[str, float]) -> None:
    """MongoDB `$inc` semantics: dotted paths, missing fields and parents created."""
    for path, amount in increments.items():
        *parents, leaf = path.split(".")
        node = document
        for name in parents:
            node = node.setdefault(name, {})
        node[leaf] = node.get(leaf, 0) + amount


@given(st.text() | st.none())
def test_label_keys_round_trip_and_are_safe_field_names(label: str | None) -> None:
    key = encode_key(label)
    assert decode_key(key) == label
    assert "." not in key
    assert "\x00" not in key
    assert not key.startswith("$")
    assert key != ""
    assert (key == NONE_KEY) == (label is None)


def test_an_answer_applied_as_inc_matches_the_in_memory_update() -> None:
    labels = ("a.b", "$c")  # ids that would break field paths unescaped
    photo, contributor = PhotoState(), skilled(right=5, wrong=1, labels=labels)
    photo_doc, contributor_doc = photo.to_document(), contributor.to_document()
    for choice in ["a.b", "$c", "a.b"]:
        update = answer_update(
            photo,
            contributor,
            closed_answer(choice, labels),
            prior=LabelPrior(),
            reliability_prior=ReliabilityPrior(),
        )
        inc(photo_doc, update.photo_inc())
        inc(contributor_doc, update.contributor_inc())
        apply_update(photo, contributor, update)
    assert PhotoState.from_document(photo_doc) == photo
    restored = ContributorState.from_document(contributor_doc)
    for truth, row in contributor.confusion.items():
        assert restored.confusion[truth] == pytest.approx(row)
    assert restored.confusion.keys() == contributor.confusion.keys()
    assert restored.vote_count == contributor.vote_count == 3


def test_tags_and_not_sure_are_counted_in_the_document() -> None:
    photo, contributor = PhotoState(), ContributorState()
    document = photo.to_document()
    evidence = evidence_of(DescribeAnswer(("sunset", "beach")), LabelIndex())
    update = answer_update(
        photo, contributor, evidence, prior=LabelPrior(), reliability_prior=ReliabilityPrior()
    )
    inc(document, update.photo_inc())
    assert document["tags"] == {"sunset": 1, "beach": 1}
    assert document["answer_count"] == 1
    assert document["vote_count"] == 0


def test_every_state_round_trips_through_its_document() -> None:
    photo = PhotoState(log_odds={"x": 1.5}, tally={"x": 2.0}, answer_count=3, gold_label="x")
    assert PhotoState.from_document(photo.to_document()) == photo
    contributor = ContributorState(
        confusion={"x": {None: 2.0}, None: {"x": 1.0}}, vote_count=3, agreed=2.0, gold_votes=1
    )
    assert ContributorState.from_document(contributor.to_document()) == contributor
    prior = LabelPrior(counts={"x": 4.0}, label_count=1000)
    assert LabelPrior.from_document(prior.to_document()) == prior
    pattern = ErrorPattern(errors={"x": {"y": 3.0, None: 1.0}})
    assert ErrorPattern.from_document(pattern.to_document()) == pattern
