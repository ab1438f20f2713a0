"""The selection policy, as plain functions."""

import random
from collections import Counter

import pytest

from api.survey.selection import (
    BUCKETS_PER_UNIT,
    TOP_BUCKET,
    Cursor,
    Policy,
    Span,
    after,
    auto_accepts,
    bucket_of,
    exploration_cursor,
    exploration_draws,
    next_span,
    priority,
    score,
)

UNCERTAINTY = {"least_confidence": 0.7, "margin": 0.9, "entropy": 0.4}


def _policy(**changes: object) -> Policy:
    base: dict[str, object] = {
        "kind": "uncertainty",
        "measure": "least_confidence",
        "exploration": 0.0,
        "auto_accept": None,
    }
    return Policy(**(base | changes))  # type: ignore[arg-type]


@pytest.mark.parametrize("measure", ["least_confidence", "margin", "entropy"])
def test_uncertainty_policy_scores_by_its_measure(measure: str) -> None:
    assert (
        score(_policy(measure=measure), uncertainty=UNCERTAINTY, draw=0.1) == UNCERTAINTY[measure]
    )


def test_random_policy_scores_by_the_photos_draw() -> None:
    assert score(_policy(kind="random"), uncertainty=UNCERTAINTY, draw=0.123) == 0.123
    assert _policy(kind="random").name == "random"
    assert _policy(measure="margin").name == "uncertainty:margin"


def test_scores_stay_below_one() -> None:
    assert score(_policy(), uncertainty={"least_confidence": 1.0}, draw=0) < 1.0
    assert score(_policy(), uncertainty={"least_confidence": -0.5}, draw=0) == 0.0


def test_started_photos_come_before_any_unstarted_one() -> None:
    unstarted_most_uncertain = priority(score=0.99, answers=0, still_needed=3)
    started_least_uncertain = priority(score=0.0, answers=1, still_needed=2)
    assert started_least_uncertain > unstarted_most_uncertain


def test_nearest_to_done_comes_first_among_started_photos() -> None:
    one_left = priority(score=0.1, answers=2, still_needed=1)
    two_left = priority(score=0.9, answers=1, still_needed=2)
    assert one_left > two_left


def test_score_breaks_ties_between_equally_started_photos() -> None:
    assert priority(score=0.8, answers=1, still_needed=2) > priority(
        score=0.2, answers=1, still_needed=2
    )


def test_buckets_preserve_the_order_of_priorities() -> None:
    priorities = [0.0, 0.0021, 0.5, 0.999, 1.0, 1.5, 1.9999999]
    buckets = [bucket_of(p) for p in priorities]
    assert buckets == sorted(buckets)
    assert buckets[0] == 0
    assert buckets[-1] == 2 * BUCKETS_PER_UNIT - 1


def _walk(counts: dict[int, int], size: int) -> list[Span]:
    spans, cursor = [], Cursor()
    while (span := next_span(counts, size=size, cursor=cursor)) is not None:
        spans.append(span)
        cursor = after(span)
    return spans


def test_spans_hold_about_what_is_asked_for_top_first() -> None:
    counts = {900: 2, 800: 0, 700: 5, 10: 100}
    assert _walk(counts, size=3)[:2] == [Span(700, TOP_BUCKET), Span(11, 699)]
    assert _walk(counts, size=1)[0] == Span(900, TOP_BUCKET)
    assert _walk(counts, size=1000) == [Span(0, TOP_BUCKET)]
    assert _walk({}, size=5) == [Span(0, TOP_BUCKET)]


def test_a_crowded_bucket_is_read_in_slices_of_its_draw() -> None:
    spans = _walk({700: 5, 400: 100}, size=10)
    assert spans[:2] == [Span(401, TOP_BUCKET), Span(400, 400, 0.9, 1.0)]
    slices = [span for span in spans if span.low == span.high == 400]
    assert len(slices) == 10
    assert slices[-1] == Span(400, 400, 0.0, pytest.approx(0.1))
    assert spans[-1] == Span(0, 399)


@pytest.mark.parametrize("size", [1, 3, 10, 50])
def test_the_spans_cover_every_bucket_once_whatever_the_counts(size: int) -> None:
    rng = random.Random(size)
    counts = {rng.randrange(TOP_BUCKET + 1): rng.randrange(1, 80) for _ in range(60)}
    covered: Counter[tuple[int, float]] = Counter()
    for span in _walk(counts, size):
        for bucket in range(span.low, span.high + 1):
            covered[(bucket, span.draw_from)] += 1
    whole = {bucket for bucket, draw_from in covered if draw_from == 0.0}
    assert whole == set(range(TOP_BUCKET + 1))
    assert max(covered.values()) == 1


def test_exploration_draws_follow_epsilon() -> None:
    rng = random.Random(1)
    draws = sum(exploration_draws(_policy(exploration=0.2), count=5, rng=rng) for _ in range(2000))
    assert 0.18 < draws / 10_000 < 0.22
    assert exploration_draws(_policy(exploration=0.0), count=5, rng=rng) == 0
    assert exploration_draws(_policy(exploration=1.0), count=5, rng=rng) == 5


def test_exploration_starts_at_buckets_in_proportion_to_their_size() -> None:
    rng = random.Random(2)
    picks = Counter(exploration_cursor({1: 90, 2: 10, 3: 0}, rng=rng).bucket for _ in range(5000))  # type: ignore[union-attr]
    assert picks[3] == 0
    assert 0.87 < picks[1] / 5000 < 0.93
    assert exploration_cursor({}, rng=rng) is None


def test_auto_accept_needs_a_threshold_and_a_confident_model() -> None:
    assert not auto_accepts(_policy(), top_probability=0.999)
    assert auto_accepts(_policy(auto_accept=0.95), top_probability=0.95)
    assert not auto_accepts(_policy(auto_accept=0.95), top_probability=0.94)
