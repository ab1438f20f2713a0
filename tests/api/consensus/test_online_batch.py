"""Online updates, one-shot scoring and the vectorised EM agree on the same answers."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.consensus.aggregation import (
    PhotoState,
    answer_update,
    apply_update,
    log_odds_of,
    posterior,
    posterior_from,
)
from api.consensus.em import VoteRecord, reestimate
from api.consensus.evidence import Evidence, Vote
from api.consensus.priors import LabelPrior
from api.consensus.reliability import ContributorState, ErrorPattern, ReliabilityPrior

LABELS = ("a", "b", "c", "d")
PHOTOS = ("p1", "p2", "p3")
RELIABILITY = ReliabilityPrior()

counts = st.floats(min_value=0.0, max_value=20.0, allow_nan=False)
truths = st.sampled_from([*LABELS, None])


@st.composite
def votes(draw: st.DrawFn) -> Vote:
    options = tuple(draw(st.lists(st.sampled_from(LABELS), min_size=1, max_size=4, unique=True)))
    none_allowed = draw(st.booleans())
    choices = [*options, None] if none_allowed else list(options)
    weight = draw(st.sampled_from([1.0, 0.5]))
    return Vote(options, draw(st.sampled_from(choices)), none_allowed=none_allowed, weight=weight)


confusions = st.dictionaries(truths, st.dictionaries(truths, counts, max_size=3), max_size=4)
contributors = st.builds(ContributorState, confusion=confusions)
answers = st.lists(
    st.tuples(st.sampled_from(PHOTOS), st.integers(0, 2), votes()), min_size=1, max_size=25
)
priors = st.builds(
    LabelPrior,
    counts=st.dictionaries(st.sampled_from(LABELS), counts, max_size=4),
    label_count=st.sampled_from([None, 10]),
)
patterns = st.builds(ErrorPattern, errors=confusions)


def close(left: dict[str, float], right: dict[str, float]) -> bool:
    labels = left.keys() | right.keys()
    return all(left.get(t, 0.0) == pytest.approx(right.get(t, 0.0), abs=1e-9) for t in labels)


@settings(max_examples=150, deadline=None)
@given(
    crowd=st.lists(contributors, min_size=3, max_size=3),
    sequence=answers,
    prior=priors,
    pattern=patterns,
)
def test_online_posterior_equals_batch_posterior_with_the_same_reliabilities(
    crowd: list[ContributorState],
    sequence: list[tuple[str, int, Vote]],
    prior: LabelPrior,
    pattern: ErrorPattern,
) -> None:
    photos = {p: PhotoState() for p in PHOTOS}
    for photo, who, vote in sequence:
        # Reliabilities stay fixed: the contributor's own counts go to a throwaway copy.
        update = answer_update(
            photos[photo],
            crowd[who],
            Evidence(votes=(vote,)),
            prior=prior,
            reliability_prior=RELIABILITY,
            pattern=pattern,
        )
        apply_update(photos[photo], copy.deepcopy(crowd[who]), update)
    records = [VoteRecord(p, str(who), vote) for p, who, vote in sequence]
    states = {str(i): state for i, state in enumerate(crowd)}
    vectorised = reestimate(
        records, given=states, given_prior=prior, given_pattern=pattern, max_iterations=0
    )
    for photo, state in photos.items():
        mine = [(crowd[who], vote) for p, who, vote in sequence if p == photo]
        batch = log_odds_of(mine, RELIABILITY, pattern)
        assert close(state.log_odds, batch)
        online = posterior(state, prior).probabilities
        assert close(dict(online), dict(posterior_from(batch, prior).probabilities))
        if mine:
            assert close(state.log_odds, vectorised.log_odds[photo])


@settings(max_examples=60, deadline=None)
@given(sequence=answers, iterations=st.integers(1, 4))
def test_reestimated_states_reproduce_the_evidence_em_returns(
    sequence: list[tuple[str, int, Vote]], iterations: int
) -> None:
    records = [VoteRecord(p, str(who), vote) for p, who, vote in sequence]
    result = reestimate(records, max_iterations=iterations, tolerance=0.0)
    for photo, log_odds in result.log_odds.items():
        mine = [(result.contributors[r.contributor], r.vote) for r in records if r.photo == photo]
        assert close(log_odds, log_odds_of(mine, RELIABILITY, result.pattern))
    assert result.iterations == iterations
