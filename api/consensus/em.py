"""Full re-estimation: EM over every vote, refreshing reliabilities and every photo's evidence.

The same model as the online path (`reliability.py`, `aggregation.py`), vectorised with
numpy over flat arrays: votes, vote-option "slots", (photo, label) "pairs" and
(contributor, truth, answer) "cells" of the sparse confusion matrices. Each iteration is a
few `bincount`s: about 2-3 ms for 25,000 votes here. Bounded by `max_iterations` and
`time_budget` seconds. Gold photos are clamped to their gold label: they teach reliability
and are left out of the returned evidence.

Without `given` states EM begins where Dawid and Skene begin: everyone a one-coin voter of
the prior's accuracy, i.e. from a majority vote (weighted by the photos' priors). The
engine and the service always start there.
Starting each re-estimation from the last one's states instead let one bad early solution
persist: a replay of the Dog crowd (`bench/replay.py`, exploration 0.5, target 0.98, seed
4) locked into a solution with two breeds swapped, accuracy 0.50, where EM from majority
vote on the same answers reaches 0.83. `given` states (with `max_iterations=0`) give the
posterior under fixed reliabilities instead (the tests compare it with the online path).

Who is below the reliability floor is decided from the starting reliabilities and kept for
the whole run (re-deciding each iteration makes EM oscillate at the threshold). From
majority vote that is no one: everyone starts at the prior's accuracy, above any floor the
settings accept, so a contributor's consistent mistakes still teach EM while it runs. The
returned evidence is recomputed without those the final states put below the floor.

Ids are only used as dictionary keys here: they are never parsed.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from api.consensus._encoding import Floats, Pairs, Votes, VoteTable, sum_by
from api.consensus._states import contributor_states, error_pattern, photo_evidence
from api.consensus.evidence import Vote
from api.consensus.priors import LabelPrior, Prior
from api.consensus.reliability import ContributorState, ErrorPattern, ReliabilityPrior, reliability


@dataclass(frozen=True, slots=True)
class VoteRecord:
    """One vote as stored: which photo, which contributor, what vote."""

    photo: str
    contributor: str
    vote: Vote


@dataclass(frozen=True, slots=True)
class Reestimate:
    """Result of a full re-estimation; `log_odds` replaces each non-gold photo's evidence."""

    contributors: dict[str, ContributorState]
    label_prior: LabelPrior
    log_odds: dict[str, dict[str, float]]
    pattern: ErrorPattern
    iterations: int
    converged: bool


def _table(records: Sequence[VoteRecord]) -> VoteTable:
    table = VoteTable()
    for record in records:
        table.append(record)
    return table


@dataclass(slots=True)
class _Params:
    cells: Floats  # soft confusion counts per cell
    rows: Floats  # row sums per (contributor, truth)
    accuracy: Floats  # per contributor
    errors: Floats  # the crowd's wrong answers per (truth, answer) pattern key
    error_rows: Floats  # their sums per truth


def reestimate(
    records: Sequence[VoteRecord] | VoteTable,
    *,
    gold: Mapping[str, str] | None = None,
    model_priors: Mapping[str, Prior] | None = None,
    label_count: int | None = None,
    reliability_prior: ReliabilityPrior | None = None,
    given: Mapping[str, ContributorState] | None = None,
    given_prior: LabelPrior | None = None,
    given_pattern: ErrorPattern | None = None,
    max_iterations: int = 200,
    tolerance: float = 1e-4,
    time_budget: float | None = None,
) -> Reestimate:
    """Run EM over all votes; see the module docstring.

    `given`, `given_prior` and `given_pattern` replace the start from majority vote. It
    stops when no posterior moves by `tolerance`, after `max_iterations`, or when
    `time_budget` seconds are spent, whichever comes first.
    """
    table = records if isinstance(records, VoteTable) else _table(records)
    if given_prior is not None:  # a given class prior's labels belong to the space
        for label in given_prior.counts:
            table.add_label(label)
    solver = _Solver(table, gold or {}, model_priors or {}, label_count, reliability_prior)
    initial = (given or {}, given_prior, given_pattern or ErrorPattern())
    return solver.run(initial, max_iterations, tolerance, time_budget)


class _Solver:
    def __init__(
        self,
        table: VoteTable,
        gold: Mapping[str, str],
        model_priors: Mapping[str, Prior],
        label_count: int | None,
        reliability_prior: ReliabilityPrior | None,
    ) -> None:
        self.prior = reliability_prior or ReliabilityPrior()
        for label in [t for p in model_priors.values() for t in p.labels()] + list(gold.values()):
            table.add_label(label)
        self.votes = v = Votes(table)
        prior_pairs = [
            (v.photo_index[photo], v.label_index[t])
            for photo, p in model_priors.items()
            if photo in v.photo_index
            for t in p.labels()
        ]
        self.pairs = Pairs(v, prior_pairs)
        self.label_count = label_count
        self.pattern_pseudo = ErrorPattern().pseudo
        self._fixed_priors(model_priors)
        self._gold(gold)

    def _fixed_priors(self, model_priors: Mapping[str, Prior]) -> None:
        v, pairs = self.votes, self.pairs
        self.model_photo = np.zeros(len(v.photo_index), bool)
        self.model_pair_prior = np.zeros(len(pairs.photo))
        self.model_outside = np.zeros(len(v.photo_index))
        labels = list(v.label_index)
        for photo, prior in model_priors.items():
            if photo not in v.photo_index:
                continue
            p = v.photo_index[photo]
            start, size = pairs.starts[p], pairs.size[p]
            explicit = [labels[t] for t in pairs.label[start : start + size]]
            masses, outside = prior.log_masses(explicit)
            self.model_pair_prior[start : start + size] = [masses[t] for t in explicit]
            self.model_photo[p], self.model_outside[p] = True, outside

    def _gold(self, gold: Mapping[str, str]) -> None:
        v = self.votes
        self.gold_photo = np.zeros(len(v.photo_index), bool)
        gold_label = np.full(len(v.photo_index), -1, np.int64)
        for photo, label in gold.items():
            if photo in v.photo_index:
                self.gold_photo[v.photo_index[photo]] = True
                gold_label[v.photo_index[photo]] = v.label_index[label]
        self.gold_target = (self.pairs.label == gold_label[self.pairs.photo]).astype(np.float64)

    def run(
        self,
        initial: tuple[Mapping[str, ContributorState], LabelPrior | None, ErrorPattern],
        max_iterations: int,
        tolerance: float,
        time_budget: float | None,
    ) -> Reestimate:
        deadline = None if time_budget is None else time.monotonic() + time_budget
        given, given_prior, given_pattern = initial
        params = self._params_from(given, given_pattern)
        floored = params.accuracy < self.prior.floor
        counts = np.zeros(self.votes.none)
        if given_prior is not None:
            counts[:] = [given_prior.counts.get(t, 0.0) for t in self.votes.label_index]
        previous: Floats | None = None
        iterations, converged = 0, False
        while True:
            log_odds, post = self._expect(params, counts, floored)
            converged = previous is not None and float(np.abs(post - previous).max()) < tolerance
            out_of_time = deadline is not None and time.monotonic() > deadline
            if converged or out_of_time or iterations >= max_iterations:
                break
            params, counts = self._maximise(post)
            previous, iterations = post, iterations + 1
        final_floored = params.accuracy < self.prior.floor
        if (final_floored != floored).any():  # the evidence returned must match the states
            log_odds, post = self._expect(params, counts, final_floored)
        return self._result(params, counts, log_odds, post, iterations, converged)

    def _params_from(self, given: Mapping[str, ContributorState], pattern: ErrorPattern) -> _Params:
        v = self.votes
        labels: list[str | None] = [*v.label_index, None]
        contributors = list(v.contributor_index)
        cells = np.zeros(len(v.cell_truth))
        rows = np.zeros(v.n_rows)
        # From majority vote (no states given) every count starts at zero: skip the walk.
        cell_keys = zip(v.cell_contributor, v.cell_truth, v.cell_answer, strict=True)
        for i, (w, t, a) in enumerate(cell_keys if given else ()):
            state = given.get(contributors[w])
            if state is not None:
                row = state.confusion.get(labels[t], {})
                cells[i] = row.get(labels[a], 0.0)
                rows[v.cell_row[i]] = sum(row.values())
        empty = ContributorState()
        accuracy = np.array(
            [reliability(given.get(c, empty), self.prior) for c in contributors], np.float64
        )
        errors = np.array(
            [
                pattern.errors.get(labels[t], {}).get(labels[a], 0.0)
                for t, a in zip(v.pattern_truth, v.pattern_answer, strict=True)
            ]
        )
        error_rows = np.array([sum(pattern.errors.get(t, {}).values()) for t in labels])
        return _Params(cells, rows, accuracy, errors, error_rows)

    def _expect(
        self, params: _Params, counts: Floats, floored: NDArray[np.bool_]
    ) -> tuple[Floats, Floats]:
        """Evidence per pair under `params`, and the posterior per pair (gold clamped)."""
        log_odds = self._log_odds(params, floored)
        prior_pair, outside = self._log_priors(counts)
        scores = prior_pair + log_odds
        pairs = self.pairs
        top = np.maximum(np.maximum.reduceat(scores, pairs.starts), outside)
        top = np.where(np.isfinite(top), top, 0.0)
        weights = np.exp(scores - top[pairs.photo])
        total = np.add.reduceat(weights, pairs.starts) + np.exp(outside - top)
        post = weights / total[pairs.photo]
        return log_odds, np.where(self.gold_photo[pairs.photo], self.gold_target, post)

    def _log_odds(self, params: _Params, floored: NDArray[np.bool_]) -> Floats:
        v, strength = self.votes, self.prior.strength
        accuracy = params.accuracy[v.variant_contributor]
        pseudo = self.pattern_pseudo
        share = (params.errors[v.variant_pattern] + pseudo / v.variant_wrong_picks) / (
            params.error_rows[v.variant_truth] + pseudo
        )
        base = np.where(v.variant_hit, accuracy, (1.0 - accuracy) * share)
        counts, rows = params.cells[v.variant_cell], params.rows[v.variant_row]
        variant_log = np.log((counts + strength * base) / (rows + strength))
        wrong_log = np.log((1.0 - params.accuracy[v.v_contributor]) / v.v_wrong_picks)
        outside = np.where(v.v_none, variant_log[v.v_none_variant], wrong_log)
        scale = np.where(floored[v.v_contributor], 0.0, v.v_scale)
        terms = scale[v.s_vote] * (variant_log[v.s_variant] - outside[v.s_vote])
        return sum_by(self.pairs.s_pair, terms, minlength=len(self.pairs.photo))

    def _log_priors(self, counts: Floats) -> tuple[Floats, Floats]:
        """Class prior (`LabelPrior` formula) per pair, or the model's where it has one."""
        pairs = self.pairs
        space = self.label_count if self.label_count is not None else self.votes.none
        normaliser = counts.sum() + space  # pseudo-count 1 per label
        with np.errstate(divide="ignore"):
            pair_prior = np.log((counts[pairs.label] + 1.0) / normaliser)
            inside = np.add.reduceat(counts[pairs.label], pairs.starts)
            outside_labels = space - pairs.size
            outside_mass = np.maximum(counts.sum() - inside, 0.0) + outside_labels
            outside = np.where(outside_labels > 0, np.log(outside_mass / normaliser), -np.inf)
        pair_prior = np.where(self.model_photo[pairs.photo], self.model_pair_prior, pair_prior)
        return pair_prior, np.where(self.model_photo, self.model_outside, outside)

    def _maximise(self, post: Floats) -> tuple[_Params, Floats]:
        v = self.votes
        n_cells = len(v.cell_truth)
        slot_mass = post[self.pairs.s_pair]
        inside = sum_by(v.s_vote, slot_mass, minlength=len(v.v_choice))
        none_mass = np.where(v.v_none, np.maximum(1.0 - inside, 0.0), 0.0) * v.v_weight
        cells = sum_by(v.s_cell, v.v_weight[v.s_vote] * slot_mass, minlength=n_cells)
        cells += sum_by(v.v_none_cell, none_mass, minlength=n_cells)
        rows = sum_by(v.cell_row, cells, minlength=v.n_rows)
        diagonal = np.where(v.cell_truth == v.cell_answer, cells, 0.0)
        n_contributors = len(v.contributor_index)
        right = sum_by(v.cell_contributor, diagonal, minlength=n_contributors)
        total = sum_by(v.cell_contributor, cells, minlength=n_contributors)
        prior = self.prior
        accuracy = (right + prior.prior_strength * prior.prior_mean) / (
            total + prior.prior_strength
        )
        counts = sum_by(self.pairs.label, post, minlength=v.none)
        wrong = np.where(v.cell_truth != v.cell_answer, cells, 0.0)
        errors = sum_by(v.cell_pattern, wrong, minlength=len(v.pattern_truth))
        error_rows = sum_by(v.pattern_truth, errors, minlength=v.none + 1)
        return _Params(cells, rows, accuracy, errors, error_rows), counts

    def _result(
        self,
        params: _Params,
        counts: Floats,
        log_odds: Floats,
        post: Floats,
        iterations: int,
        converged: bool,
    ) -> Reestimate:
        v, pairs = self.votes, self.pairs
        label_prior = LabelPrior(
            counts={t: float(counts[i]) for t, i in v.label_index.items()},
            label_count=self.label_count,
        )
        return Reestimate(
            contributors=contributor_states(v, pairs, params.cells, post, self.gold_photo),
            label_prior=label_prior,
            log_odds=photo_evidence(v, pairs, log_odds, self.gold_photo),
            pattern=error_pattern(v, params.errors),
            iterations=iterations,
            converged=converged,
        )
