"""Which photos most need a human answer next. Plain Python on plain data.

Every open photo has a *priority* in [0, 2):

- not started (no answer yet): its policy *score* in [0, 1): the model's uncertainty under
  the ``uncertainty`` policy, a fixed random draw under ``random``;
- started: 1 + a value in [0, 1) that grows as the answers still needed shrink, so photos
  already started are finished first ("finish what is started"), nearest to done first,
  the score breaking ties.

The priority is cut into `BUCKETS_PER_UNIT` buckets per unit. Only *available* photos (open,
with a free lease slot) have a bucket, and the store keeps a count of them per bucket. A
request walks the queue from the top in `spans`, each sized from those counts to hold
about what it still needs, and stops once it has its tasks: it never sorts, or even
touches, the whole pool, yet nothing is skipped for good, since the spans cover every
bucket (the counts are hints, and a wrong one only costs a larger read). A crowded
bucket is read in slices of each photo's fixed random *draw*. A share of tasks (epsilon,
`Policy.exploration`) is drawn instead from a span at a random place in the queue,
weighted by the counts: about a uniformly random available photo.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass

from api.settings import SelectionPolicy, Settings, UncertaintyMeasure

BUCKETS_PER_UNIT = 500
MAX_PRIORITY = 2.0
_BELOW_ONE = 1.0 - 1e-9
# Share of a started photo's priority that comes from its progress; the rest is its score.
_PROGRESS_WEIGHT = 0.9


@dataclass(frozen=True)
class Policy:
    """The configured selection policy."""

    kind: SelectionPolicy
    measure: UncertaintyMeasure
    exploration: float
    auto_accept: float | None

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(
            kind=settings.selection_policy,
            measure=settings.uncertainty_measure,
            exploration=settings.exploration,
            auto_accept=settings.auto_accept,
        )

    @property
    def name(self) -> str:
        """What a task's reason reports, e.g. ``uncertainty:margin`` or ``random``."""
        return f"uncertainty:{self.measure}" if self.kind == "uncertainty" else "random"


def score(policy: Policy, *, uncertainty: Mapping[str, float], draw: float) -> float:
    """A photo's policy score in [0, 1): higher means ask sooner."""
    value = uncertainty[policy.measure] if policy.kind == "uncertainty" else draw
    return min(max(value, 0.0), _BELOW_ONE)


def priority(*, score: float, answers: int, still_needed: int) -> float:
    """The photo's place in the queue (see the module docstring)."""
    if answers == 0 or still_needed <= 0:
        return score
    progress = answers / (answers + still_needed)
    return 1.0 + min(_PROGRESS_WEIGHT * progress + (1 - _PROGRESS_WEIGHT) * score, _BELOW_ONE)


def bucket_of(priority_value: float) -> int:
    return min(int(priority_value * BUCKETS_PER_UNIT), int(MAX_PRIORITY * BUCKETS_PER_UNIT) - 1)


def auto_accepts(policy: Policy, *, top_probability: float) -> bool:
    """Whether the model is confident enough to label the photo without asking anyone."""
    return policy.auto_accept is not None and top_probability >= policy.auto_accept


TOP_BUCKET = int(MAX_PRIORITY * BUCKETS_PER_UNIT) - 1
STARTED_BUCKET = BUCKETS_PER_UNIT
"""The lowest bucket of started photos (priority 1 and over)."""


@dataclass(frozen=True)
class Span:
    """A part of the queue that one query reads: the buckets `low` to `high`, or (`low ==
    high`) the photos of one bucket whose draw is in [`draw_from`, `draw_to`)."""

    low: int
    high: int
    draw_from: float = 0.0
    draw_to: float = 1.0

    @property
    def whole_buckets(self) -> bool:
        return self.draw_from == 0.0 and self.draw_to == 1.0 and self.low <= self.high


@dataclass(frozen=True)
class Cursor:
    """How far down a walk of the queue has read: what is left is every bucket below
    `bucket`, and the photos of `bucket` whose draw is below `draw`."""

    bucket: int = TOP_BUCKET
    draw: float = 1.0


def next_span(counts: Mapping[int, int], *, size: int, cursor: Cursor) -> Span | None:
    """The next span below `cursor`, holding about `size` photos by `counts`; None once the
    walk has read the whole queue. A bucket of more than twice `size` is read in slices."""
    if cursor.bucket < 0:
        return None
    if cursor.draw < 1.0:  # inside a crowded bucket
        return _slice_below(
            cursor.bucket, cursor.draw, slices=_slices(counts.get(cursor.bucket, 0), size)
        )
    held = 0
    for bucket in sorted((b for b, n in counts.items() if n > 0 and b <= cursor.bucket),
                         reverse=True):  # fmt: skip
        if counts[bucket] > 2 * size:
            if bucket < cursor.bucket:  # first the buckets above it
                return Span(bucket + 1, cursor.bucket)
            return _slice_below(bucket, 1.0, slices=_slices(counts[bucket], size))
        held += counts[bucket]
        if held >= size:
            return Span(bucket, cursor.bucket)
    return Span(0, cursor.bucket)


def _slices(count: int, size: int) -> int:
    return max(math.ceil(count / max(size, 1)), 1)


def _slice_below(bucket: int, draw: float, *, slices: int) -> Span:
    """The slice of `bucket` just below `draw`, on a grid of `slices` equal slices."""
    below = math.ceil(draw * slices - 1e-9) - 1
    return Span(bucket, bucket, max(below, 0) / slices, draw)


def after(span: Span) -> Cursor:
    """Where a walk stands once it has read `span`."""
    if span.draw_from > 0.0:
        return Cursor(span.low, span.draw_from)
    return Cursor(span.low - 1)


def exploration_cursor(counts: Mapping[int, int], *, rng: random.Random) -> Cursor | None:
    """A place in the queue at a photo drawn uniformly by `counts`; None when the counts
    show no photo."""
    weights = {b: n for b, n in counts.items() if n > 0}
    if not weights:
        return None
    (bucket,) = rng.choices(list(weights), weights=list(weights.values()))
    return Cursor(bucket, rng.uniform(0.0, 1.0))


def draws(share: float, *, count: int, rng: random.Random) -> int:
    """How many of `count` tasks are drawn aside, each independently with probability `share`."""
    return sum(rng.random() < share for _ in range(count))


def exploration_draws(policy: Policy, *, count: int, rng: random.Random) -> int:
    """How many of `count` tasks explore (epsilon, `Policy.exploration`)."""
    return draws(policy.exploration, count=count, rng=rng)
