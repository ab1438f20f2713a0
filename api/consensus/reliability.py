"""Contributor reliability: a sparse confusion matrix shrunk toward a one-coin accuracy.

Model (Dawid-Skene with a prior). A contributor answers a vote with options `O` and
alphabet size `m` (`O`, plus NONE when offered). Given the true label `t` (or NONE, the
truth being outside `O`), they pick `a` with probability

    pi(a | t) = (C[t][a] + strength * base(a | t)) / (C[t][*] + strength)

where `C` are the contributor's (soft) confusion counts and `base` is the one-coin guess:
`accuracy` if `a == t`, else `1 - accuracy` shared among the wrong picks the way the whole
crowd shares them (`ErrorPattern`; uniformly until that is learned). `accuracy` is the posterior
mean of a Beta prior `(prior_mean, prior_strength)` updated by the diagonal mass of `C`.
So a new contributor starts as a sensible one-coin voter, and with answers their class-
specific habits (saying "same" too often, mixing two terrier breeds) take over. Counts are
sparse in `t` and `a`: only pairs that happened are stored, which keeps a 1000-label space
cheap. Counts come from agreement (weighted by the photo's posterior) and from gold photos
(weight 1 on the gold label).

`reliability` is that accuracy: one number in [0, 1] for display and ranking. Below
`floor` a contributor's votes weigh nothing (they still get counted, so they can recover).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from api.consensus.evidence import Vote
from api.consensus.keys import decode_key, encode_key

Truth = str | None  # a label id, or None: "outside the options" (NONE is right)
Confusion = dict[Truth, dict[Truth, float]]


def _encode_confusion(confusion: Confusion) -> dict[str, dict[str, float]]:
    """Counts as a BSON-able dict of dicts; labels become field-safe keys."""
    return {
        encode_key(t): {encode_key(a): n for a, n in row.items()} for t, row in confusion.items()
    }


def _decode_confusion(document: Mapping[str, Mapping[str, Any]]) -> Confusion:
    return {
        decode_key(t): {decode_key(a): float(n) for a, n in row.items()}
        for t, row in document.items()
    }


@dataclass(frozen=True, slots=True)
class ReliabilityPrior:
    """Beta prior on a contributor's accuracy and the weight of the one-coin guess.

    Defaults: a new contributor is taken to be right 70% of the time until about ten
    answers say otherwise (`prior_strength`); their confusion rows lean on that one-coin
    guess with the weight of three answers (`strength`). Below `floor` votes weigh nothing.
    """

    prior_mean: float = 0.7
    prior_strength: float = 10.0
    strength: float = 3.0
    floor: float = 0.2


@dataclass(slots=True)
class ContributorState:
    """Everything reliability needs about one contributor; lives in one MongoDB document."""

    confusion: Confusion = field(default_factory=dict)
    vote_count: int = 0
    agreed: float = 0.0
    gold_votes: int = 0
    gold_correct: int = 0

    def to_document(self) -> dict[str, Any]:
        """Plain BSON-able dict; labels become field-safe keys (see `keys.encode_key`)."""
        return {
            "confusion": _encode_confusion(self.confusion),
            "vote_count": self.vote_count,
            "agreed": self.agreed,
            "gold_votes": self.gold_votes,
            "gold_correct": self.gold_correct,
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> ContributorState:
        return cls(
            confusion=_decode_confusion(document.get("confusion", {})),
            vote_count=int(document.get("vote_count", 0)),
            agreed=float(document.get("agreed", 0.0)),
            gold_votes=int(document.get("gold_votes", 0)),
            gold_correct=int(document.get("gold_correct", 0)),
        )


def reliability(state: ContributorState, prior: ReliabilityPrior) -> float:
    """Posterior mean accuracy in [0, 1]: the share of votes expected to be right."""
    diagonal = sum(row.get(t, 0.0) for t, row in state.confusion.items())
    total = sum(sum(row.values()) for row in state.confusion.values())
    return (diagonal + prior.prior_strength * prior.prior_mean) / (total + prior.prior_strength)


def typical_accuracy(
    contributors: Mapping[str, ContributorState], prior: ReliabilityPrior
) -> float | None:
    """Vote-weighted mean reliability (what one more answer is likely worth); None before
    any vote."""
    weights = {c: s.vote_count for c, s in contributors.items() if s.vote_count}
    if not weights:
        return None
    total = sum(weights.values())
    return sum(reliability(contributors[c], prior) * n for c, n in weights.items()) / total


def agreement_rate(state: ContributorState) -> float | None:
    """Share of votes that matched the consensus; None before any vote was compared."""
    return state.agreed / state.vote_count if state.vote_count else None


@dataclass(slots=True)
class ErrorPattern:
    """Which wrong answers the crowd gives for each true label, pooled over contributors.

    A new contributor is assumed to err like the crowd (Norwich for Norfolk terrier, "same"
    for near-duplicates) rather than uniformly; their own counts take over as they come.
    Refreshed by each full re-estimation; one document for the whole service.
    """

    errors: Confusion = field(default_factory=dict)
    pseudo: float = 1.0

    def share(self, truth: Truth, answer: Truth, alphabet_size: int) -> float:
        """Probability of `answer` among the wrong picks when `truth` is right."""
        row = self.errors.get(truth, {})
        uniform = 1.0 / (alphabet_size - 1)
        return (row.get(answer, 0.0) + self.pseudo * uniform) / (sum(row.values()) + self.pseudo)

    def to_document(self) -> dict[str, Any]:
        return {
            "errors": _encode_confusion(self.errors),
            "pseudo": self.pseudo,
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> ErrorPattern:
        errors = _decode_confusion(document.get("errors", {}))
        return cls(errors=errors, pseudo=float(document.get("pseudo", 1.0)))


_NO_PATTERN = ErrorPattern()


def log_likelihood(
    state: ContributorState,
    vote: Vote,
    truth: Truth,
    *,
    accuracy: float,
    strength: float,
    pattern: ErrorPattern = _NO_PATTERN,
) -> float:
    """log pi(vote.choice | truth) for this contributor; `accuracy` is their reliability."""
    m = vote.alphabet_size
    if m < 2:
        return 0.0  # one possible pick: the answer says nothing
    if vote.choice == truth:
        base = accuracy
    else:
        base = (1.0 - accuracy) * pattern.share(truth, vote.choice, m)
    row = state.confusion.get(truth, {})
    count = row.get(vote.choice, 0.0)
    return math.log((count + strength * base) / (sum(row.values()) + strength))


def vote_terms(
    state: ContributorState,
    vote: Vote,
    prior: ReliabilityPrior,
    pattern: ErrorPattern | None = None,
) -> dict[str, float]:
    """Additive log-evidence of one vote, per option label, relative to an unnamed label.

    Labels outside the options all get the same likelihood (NONE would be right for each),
    so only the options get a term: adding these to a photo's `log_odds` is the whole
    online update, and terms from different votes commute (`$inc`-friendly).
    """
    accuracy = reliability(state, prior)
    if accuracy < prior.floor or vote.weight == 0.0 or vote.alphabet_size < 2:
        return {}
    pattern = pattern or _NO_PATTERN

    def log_pi(truth: Truth) -> float:
        return log_likelihood(
            state, vote, truth, accuracy=accuracy, strength=prior.strength, pattern=pattern
        )

    if vote.none_allowed:
        outside = log_pi(None)
    else:
        # No NONE to pick: a truth outside the options is read as a generic wrong pick.
        outside = math.log((1.0 - accuracy) / (vote.alphabet_size - 1))
    return {t: vote.weight * (log_pi(t) - outside) for t in vote.options}


def count_increments(
    vote: Vote, truth_weights: Mapping[str, float]
) -> dict[tuple[Truth, Truth], float]:
    """Soft confusion counts one vote adds, given the probability of each true label.

    `truth_weights` is the photo's posterior without this vote (or 1 on a gold label);
    mass on labels outside the options goes to the NONE row when NONE was offered.
    """
    increments: dict[tuple[Truth, Truth], float] = {}
    inside = 0.0
    for t in vote.options:
        q = truth_weights.get(t, 0.0)
        inside += q
        if q > 0.0:
            increments[(t, vote.choice)] = vote.weight * q
    if vote.none_allowed and inside < 1.0:
        increments[(None, vote.choice)] = vote.weight * (1.0 - inside)
    return increments


def add_counts(state: ContributorState, increments: Mapping[tuple[Truth, Truth], float]) -> None:
    """Apply `count_increments` in memory (the store does the same with `$inc`)."""
    for (t, a), n in increments.items():
        row = state.confusion.setdefault(t, {})
        row[a] = row.get(a, 0.0) + n
