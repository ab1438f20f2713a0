"""Turning EM's arrays back into plain states: contributors, photo evidence, error pattern."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from api.consensus._encoding import Floats, Pairs, Votes, sum_by
from api.consensus.reliability import Confusion, ContributorState, ErrorPattern


def contributor_states(
    v: Votes, pairs: Pairs, cells: Floats, post: Floats, gold_photo: NDArray[np.bool_]
) -> dict[str, ContributorState]:
    """Each contributor's confusion counts, vote and agreement tallies, gold results."""
    labels: list[str | None] = [*v.label_index, None]
    contributors = list(v.contributor_index)
    states = {c: ContributorState() for c in contributors}
    entries = zip(
        v.cell_contributor.tolist(),
        v.cell_truth.tolist(),
        v.cell_answer.tolist(),
        cells.tolist(),
        strict=True,
    )
    for w, t, a, n in entries:
        states[contributors[w]].confusion.setdefault(labels[t], {})[labels[a]] = n
    _tally_agreement(v, pairs, post, gold_photo, [states[c] for c in contributors])
    return states


def _tally_agreement(
    v: Votes,
    pairs: Pairs,
    post: Floats,
    gold_photo: NDArray[np.bool_],
    states: list[ContributorState],
) -> None:
    best = np.full(len(v.photo_index), -1, np.int64)
    order = np.lexsort((-post, pairs.photo))  # best pair first within each photo
    firsts = order[np.r_[True, pairs.photo[order][1:] != pairs.photo[order][:-1]]]
    best[pairs.photo[firsts]] = pairs.label[firsts]
    top = best[v.v_photo]
    in_options = sum_by(v.s_vote, pairs.label[pairs.s_pair] == top[v.s_vote], len(top))
    agrees = np.where(v.v_choice == v.none, in_options == 0, v.v_choice == top)
    gold = gold_photo[v.v_photo]
    n = len(states)
    tallies = zip(
        sum_by(v.v_contributor, np.ones(len(agrees)), n).tolist(),
        sum_by(v.v_contributor, agrees, n).tolist(),
        sum_by(v.v_contributor, gold, n).tolist(),
        sum_by(v.v_contributor, gold & agrees, n).tolist(),
        strict=True,
    )
    for state, (votes, agreed, gold_votes, gold_correct) in zip(states, tallies, strict=True):
        state.vote_count, state.agreed = int(votes), agreed
        state.gold_votes, state.gold_correct = int(gold_votes), int(gold_correct)


def photo_evidence(
    v: Votes, pairs: Pairs, log_odds: Floats, gold_photo: NDArray[np.bool_]
) -> dict[str, dict[str, float]]:
    """Per non-gold photo, its `log_odds` dictionary."""
    labels = list(v.label_index)
    photos = list(v.photo_index)
    evidence: dict[str, dict[str, float]] = {p: {} for p in photos}
    entries = zip(pairs.photo.tolist(), pairs.label.tolist(), log_odds.tolist(), strict=True)
    for p, t, x in entries:
        evidence[photos[p]][labels[t]] = x
    for p in np.flatnonzero(gold_photo).tolist():
        del evidence[photos[p]]
    return evidence


def error_pattern(v: Votes, errors: Floats) -> ErrorPattern:
    """The crowd's pooled wrong answers as an `ErrorPattern`."""
    labels: list[str | None] = [*v.label_index, None]
    pattern: Confusion = {}
    entries = zip(v.pattern_truth.tolist(), v.pattern_answer.tolist(), errors.tolist(), strict=True)
    for t, a, n in entries:
        if t != a:
            pattern.setdefault(labels[t], {})[labels[a]] = n
    return ErrorPattern(errors=pattern)
