"""Votes as flat integer arrays for the vectorised EM in `em.py`.

Slots are (vote, option) entries, pairs are (photo, label) entries grouped by photo, cells
are (contributor, truth, answer) entries of the sparse confusion matrices; index `none`
(one past the last label) stands for NONE.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from api.consensus.em import VoteRecord

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]


def sum_by(index: Ints, weights: Floats | NDArray[np.bool_], minlength: int) -> Floats:
    """Sum `weights` by `index` (a float-typed `np.bincount`)."""
    return np.bincount(index, weights, minlength).astype(np.float64, copy=False)


class VoteTable:
    """Votes encoded as integer codes as they arrive, so a re-estimation need not re-encode.

    Append-only; `Votes(table)` snapshots it as arrays.
    """

    def __init__(self) -> None:
        self.photo_index: dict[str, int] = {}
        self.contributor_index: dict[str, int] = {}
        self.label_index: dict[str, int] = {}
        self._option_sets: dict[tuple[str, ...], int] = {}
        self.set_codes: list[list[int]] = []
        self.v_photo: list[int] = []
        self.v_contributor: list[int] = []
        self.v_set: list[int] = []
        self.v_choice: list[int] = []  # -1 for NONE
        self.v_none: list[bool] = []
        self.v_weight: list[float] = []

    def __len__(self) -> int:
        return len(self.v_photo)

    def add_label(self, label: str) -> int:
        return self.label_index.setdefault(label, len(self.label_index))

    def append(self, record: VoteRecord) -> None:
        vote = record.vote
        self.v_photo.append(self.photo_index.setdefault(record.photo, len(self.photo_index)))
        contributors = self.contributor_index
        self.v_contributor.append(contributors.setdefault(record.contributor, len(contributors)))
        code = self._option_sets.get(vote.options)
        if code is None:  # option tuples repeat: encode each distinct one once
            code = self._option_sets[vote.options] = len(self.set_codes)
            self.set_codes.append([self.add_label(t) for t in vote.options])
        self.v_set.append(code)
        self.v_choice.append(-1 if vote.choice is None else self.add_label(vote.choice))
        self.v_none.append(vote.none_allowed)
        self.v_weight.append(vote.weight)


class Votes:
    """A snapshot of a `VoteTable` as flat arrays (built once per re-estimation)."""

    def __init__(self, table: VoteTable) -> None:
        self.photo_index = dict(table.photo_index)
        self.contributor_index = dict(table.contributor_index)
        self.label_index = dict(table.label_index)
        self.none = len(self.label_index)  # the NONE row and column
        n = len(table)
        self.v_photo = np.array(table.v_photo[:n], np.int64)
        self.v_contributor = np.array(table.v_contributor[:n], np.int64)
        v_set = np.array(table.v_set[:n], np.int64)
        set_size = np.array([len(codes) for codes in table.set_codes], np.int64)
        set_start = np.r_[0, np.cumsum(set_size)[:-1]].astype(np.int64)
        flat = np.fromiter(chain.from_iterable(table.set_codes), np.int64, int(set_size.sum()))
        v_options = set_size[v_set]
        self.s_vote = np.repeat(np.arange(n), v_options)
        slot_start = np.r_[0, np.cumsum(v_options)[:-1]].astype(np.int64)
        within = np.arange(len(self.s_vote)) - slot_start[self.s_vote]
        self.s_label = flat[set_start[v_set][self.s_vote] + within]
        choice = np.array(table.v_choice[:n], np.int64)
        self.v_choice = np.where(choice < 0, self.none, choice)
        self.v_none = np.array(table.v_none[:n], bool)
        self.v_size = v_options + self.v_none
        self.v_weight = np.array(table.v_weight[:n], np.float64)
        self._build_cells()
        self._build_variants()

    def _build_cells(self) -> None:
        width = self.none + 1
        rows = self.v_contributor * width
        slot_cells = (rows[self.s_vote] + self.s_label) * width + self.v_choice[self.s_vote]
        none_cells = (rows + self.none) * width + self.v_choice
        cells, inverse = np.unique(np.concatenate([slot_cells, none_cells]), return_inverse=True)
        self.s_cell, self.v_none_cell = inverse[: len(slot_cells)], inverse[len(slot_cells) :]
        self.cell_contributor = cells // (width * width)
        self.cell_truth = (cells // width) % width
        self.cell_answer = cells % width
        row_keys, self.cell_row = np.unique(cells // width, return_inverse=True)
        self.n_rows = len(row_keys)
        # The crowd's error pattern: (truth, answer) pairs pooled over contributors.
        pattern_keys, self.cell_pattern = np.unique(cells % (width * width), return_inverse=True)
        self.pattern_truth = pattern_keys // width
        self.pattern_answer = pattern_keys % width

    def _build_variants(self) -> None:
        """(cell, alphabet size) variants: one likelihood value each per EM iteration."""
        sizes = int(self.v_size.max(initial=0)) + 1
        slot_keys = self.s_cell * sizes + self.v_size[self.s_vote]
        none_keys = self.v_none_cell * sizes + self.v_size
        keys, inverse = np.unique(np.concatenate([slot_keys, none_keys]), return_inverse=True)
        self.s_variant, self.v_none_variant = inverse[: len(slot_keys)], inverse[len(slot_keys) :]
        self.variant_cell = keys // sizes
        self.variant_wrong_picks = np.maximum(keys % sizes, 2) - 1
        self.variant_hit = self.cell_truth[self.variant_cell] == self.cell_answer[self.variant_cell]
        self.variant_contributor = self.cell_contributor[self.variant_cell]
        self.variant_row = self.cell_row[self.variant_cell]
        self.variant_pattern = self.cell_pattern[self.variant_cell]
        self.variant_truth = self.cell_truth[self.variant_cell]
        self.v_wrong_picks = np.maximum(self.v_size, 2) - 1
        self.v_scale = np.where(self.v_size >= 2, self.v_weight, 0.0)


class Pairs:
    """(photo, label) pairs that get explicit evidence, grouped by photo."""

    def __init__(self, votes: Votes, prior_pairs: Sequence[tuple[int, int]]) -> None:
        width = votes.none + 1
        slot_keys = votes.v_photo[votes.s_vote] * width + votes.s_label
        extra = np.array([p * width + t for p, t in prior_pairs], np.int64)
        keys, inverse = np.unique(np.concatenate([slot_keys, extra]), return_inverse=True)
        self.s_pair = inverse[: len(slot_keys)]
        self.photo = keys // width
        self.label = keys % width
        self.starts = np.flatnonzero(np.r_[True, self.photo[1:] != self.photo[:-1]])
        self.size = np.diff(np.r_[self.starts, len(keys)])
