"""Which photos most need a human answer next. Plain Python on plain data.

Every open photo has a *priority* in [0, 2):

- not started (no answer yet): its policy *score* in [0, 1): the model's uncertainty under
  the ``uncertainty`` policy, a fixed random draw under ``random``;
- started: 1 + a value in [0, 1) that grows as the answers still needed shrink, so photos
  already started are finished first ("finish what is started"), nearest to done first,
  the score breaking ties.

The priority is cut into `BUCKETS_PER_UNIT` buckets per unit. The store keeps, per bucket,
how many photos are *available* (open, with a free lease slot), so a request reads only
the few top buckets it needs: it never sorts, or even touches, the whole pool. A share of
tasks (epsilon, `Policy.exploration`) is drawn instead from a bucket chosen in proportion
to its size, i.e. a uniformly random available photo.
"""

from __future__ import annotations

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


def top_buckets(counts: Mapping[int, int], *, want: int, skip: int = 0) -> list[int]:
    """The highest non-empty buckets, after the first `skip`, holding at least `want` photos."""
    chosen: list[int] = []
    total = 0
    for bucket in sorted((b for b, n in counts.items() if n > 0), reverse=True)[skip:]:
        chosen.append(bucket)
        total += counts[bucket]
        if total >= want:
            break
    return chosen


def exploration_buckets(counts: Mapping[int, int], *, draws: int, rng: random.Random) -> list[int]:
    """`draws` buckets, each chosen with probability proportional to its size."""
    population = [b for b, n in counts.items() if n > 0]
    if not population or draws <= 0:
        return []
    weights = [counts[b] for b in population]
    return rng.choices(population, weights=weights, k=draws)


def draws(share: float, *, count: int, rng: random.Random) -> int:
    """How many of `count` tasks are drawn aside, each independently with probability `share`."""
    return sum(rng.random() < share for _ in range(count))


def exploration_draws(policy: Policy, *, count: int, rng: random.Random) -> int:
    """How many of `count` tasks explore (epsilon, `Policy.exploration`)."""
    return draws(policy.exploration, count=count, rng=rng)
