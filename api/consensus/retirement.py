"""When a photo needs no more answers, and how many more it needs until then.

A photo retires when its consensus confidence reaches `target` (`CONFIDENT`) or its answer
count reaches `cap` (`CAP`); `MODEL` is set elsewhere, for photos auto-accepted from the
model. Gold photos never retire (they are served by the gold-mixing rule, not by demand).

`answers_still_needed` turns the posterior into a count (dynamic overlap): each answer from
a typical contributor (accuracy `p` over `m` picks) moves the top label's log-odds by about
`(2p - 1) * log(p (m - 1) / (1 - p))` when the top label is right; a clear photo needs few
such steps to reach the target, a contested one more, and none ever needs more than the
cap allows. Selection (issue 4) uses it to finish started photos first.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from api.consensus.aggregation import Consensus, ConsensusMethod

DEFAULT_TARGET = 0.95
DEFAULT_CAP = 7


class RetirementReason(enum.Enum):
    CONFIDENT = "CONFIDENT"
    CAP = "CAP"
    MODEL = "MODEL"


@dataclass(frozen=True, slots=True)
class RetirementPolicy:
    """Confidence target and answer cap (service defaults 0.95 and 7)."""

    target: float = DEFAULT_TARGET
    cap: int = DEFAULT_CAP
    # One vote never retires a photo on confidence alone, however reliable its author looks:
    # reliabilities are estimates, and a second opinion is the cheapest guard against one
    # contributor's mistake (or a class prior that makes a single "no" look conclusive).
    min_votes: int = 2


@dataclass(frozen=True, slots=True)
class Demand:
    """What selection needs to know about one photo."""

    retired: RetirementReason | None
    answers_still_needed: int
    started: bool

    @property
    def priority(self) -> float:
        """Higher first: started photos before new ones, then fewest answers still needed."""
        if self.retired is not None or self.answers_still_needed == 0:
            return 0.0
        return (1.0 if self.started else 0.0) + 1.0 / (1.0 + self.answers_still_needed)


def retirement_reason(
    consensus: Consensus, policy: RetirementPolicy, *, is_gold: bool = False
) -> RetirementReason | None:
    """Why the photo is retired, or None while it still takes answers."""
    if is_gold or consensus.method is ConsensusMethod.GOLD:
        return None
    # A confident model alone retires a photo only through auto-accept (`MODEL`, elsewhere).
    confident = consensus.method is not ConsensusMethod.MODEL and consensus.label is not None
    # Nor does a label no vote named: "not n0" from a contributor who is always wrong, and
    # a NONE, make n1 or n2 likelier, never one of them certain.
    backed = consensus.vote_count >= policy.min_votes and consensus.support > 0.0
    if confident and backed and consensus.confidence >= policy.target:
        return RetirementReason.CONFIDENT
    if consensus.answer_count >= policy.cap:
        return RetirementReason.CAP
    return None


def _logit(p: float) -> float:
    p = min(max(p, 1e-12), 1.0 - 1e-12)
    return math.log(p / (1.0 - p))


def answers_still_needed(
    consensus: Consensus,
    policy: RetirementPolicy,
    *,
    typical_accuracy: float = 0.7,
    alphabet_size: int = 2,
) -> int:
    """Expected further answers to reach the target, in [1, cap - answers] while open, else 0."""
    if retirement_reason(consensus, policy) is not None:
        return 0
    room = max(policy.cap - consensus.answer_count, 0)
    if room == 0 or consensus.method is ConsensusMethod.GOLD:
        return 0
    p = min(max(typical_accuracy, 1e-6), 1.0 - 1e-6)
    step = (2.0 * p - 1.0) * math.log(p * (max(alphabet_size, 2) - 1) / (1.0 - p))
    if step <= 0.0:
        return room
    gap = _logit(policy.target) - _logit(consensus.confidence)
    return min(max(math.ceil(gap / step), 1), room)


def demand(
    consensus: Consensus,
    policy: RetirementPolicy,
    *,
    is_gold: bool = False,
    typical_accuracy: float = 0.7,
    alphabet_size: int = 2,
) -> Demand:
    """Retirement state and answers still needed, together (for selection)."""
    reason = retirement_reason(consensus, policy, is_gold=is_gold)
    needed = (
        0
        if is_gold
        else answers_still_needed(
            consensus, policy, typical_accuracy=typical_accuracy, alphabet_size=alphabet_size
        )
    )
    return Demand(reason, needed, consensus.answer_count > 0)
