"""Online aggregation: a photo's posterior over labels, updated by one answer at a time.

Representation. The label space may be large (1000 ImageNet classes), but a photo only
ever has evidence about a few labels: the options its questions showed and the labels its
prior names (the model's top-k). A photo keeps `log_odds[label]`: the summed log-likelihood
of its votes for that label *relative to a label no vote named*. Every unnamed label shares
the same likelihood (for each of them NONE was the right pick), so the posterior is

    P(t)     ~ prior(t) * exp(log_odds[t])        for each explicit label t
    P(other) ~ prior mass of all other labels     (one lump, likelihood ratio 1)

An answer adds `reliability.vote_terms` to `log_odds`: a few floats, additive and
commutative, so in MongoDB it is a single `$inc` on the photo document and several API
processes can apply answers in any order. A label first named later starts at 0, exactly
what it had while it was unnamed. The prior is applied when reading, so a refreshed class
prior needs no rewrite. Gold photos take no evidence: their answers only teach reliability.

The contributor's confusion counts are updated in the same step with the photo's posterior
*before* the answer (leave-one-out, so an answer does not grade itself).
"""

from __future__ import annotations

import enum
import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from api.consensus.evidence import Evidence, Vote
from api.consensus.keys import decode_key, encode_key
from api.consensus.priors import Prior
from api.consensus.reliability import (
    ContributorState,
    ErrorPattern,
    ReliabilityPrior,
    Truth,
    add_counts,
    count_increments,
    vote_terms,
)


class ConsensusMethod(enum.Enum):
    WEIGHTED = "WEIGHTED"  # reliability-weighted posterior (Dawid-Skene style)
    MAJORITY = "MAJORITY"
    MODEL = "MODEL"  # no votes yet: the model's prior alone
    GOLD = "GOLD"


@dataclass(slots=True)
class PhotoState:
    """Per-photo aggregation state; lives in one MongoDB document (see `to_document`)."""

    log_odds: dict[str, float] = field(default_factory=dict)
    tally: dict[str, float] = field(default_factory=dict)  # plain votes: majority, support
    answer_count: int = 0
    vote_count: int = 0
    not_sure_count: int = 0
    tags: dict[str, int] = field(default_factory=dict)
    gold_label: str | None = None

    def to_document(self) -> dict[str, Any]:
        return {
            "log_odds": {encode_key(t): x for t, x in self.log_odds.items()},
            "tally": {encode_key(t): x for t, x in self.tally.items()},
            "answer_count": self.answer_count,
            "vote_count": self.vote_count,
            "not_sure_count": self.not_sure_count,
            "tags": {encode_key(t): n for t, n in self.tags.items()},
            "gold_label": self.gold_label,
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> PhotoState:
        def labels(name: str) -> dict[str, Any]:
            return {str(decode_key(k)): v for k, v in document.get(name, {}).items()}

        return cls(
            log_odds={t: float(x) for t, x in labels("log_odds").items()},
            tally={t: float(x) for t, x in labels("tally").items()},
            answer_count=int(document.get("answer_count", 0)),
            vote_count=int(document.get("vote_count", 0)),
            not_sure_count=int(document.get("not_sure_count", 0)),
            tags={t: int(n) for t, n in labels("tags").items()},
            gold_label=document.get("gold_label"),
        )


@dataclass(frozen=True, slots=True)
class Posterior:
    """Probabilities of the explicit labels, and `other`: all remaining labels together."""

    probabilities: Mapping[str, float]
    other: float

    def top(self) -> tuple[str | None, float]:
        """The most probable explicit label and its probability ((None, 0.0) if none)."""
        if not self.probabilities:
            return None, 0.0
        label = max(sorted(self.probabilities), key=self.probabilities.__getitem__)
        return label, self.probabilities[label]


@dataclass(frozen=True, slots=True)
class Consensus:
    """What the crowd (and the model) say about a photo."""

    label: str | None
    confidence: float
    answer_count: int
    method: ConsensusMethod
    vote_count: int = 0  # answers that voted (NOT_SURE and unmatched tags do not)
    support: float = 0.0  # votes that named `label` (a DESCRIBE vote naming k labels: 1/k)


def posterior_from(log_odds: Mapping[str, float], prior: Prior) -> Posterior:
    """Normalise `prior * exp(log_odds)` over the explicit labels and the outside lump."""
    explicit = sorted(set(log_odds) | set(prior.labels()))  # a fixed order: reproducible sums
    masses, log_outside = prior.log_masses(explicit)
    scores = {t: masses[t] + log_odds.get(t, 0.0) for t in explicit}
    top = max([*scores.values(), log_outside], default=-math.inf)
    if top == -math.inf:
        return Posterior({}, 1.0)
    weights = {t: math.exp(s - top) for t, s in scores.items()}
    other = math.exp(log_outside - top)
    total = sum(weights.values()) + other
    return Posterior({t: w / total for t, w in weights.items()}, other / total)


def posterior(photo: PhotoState, prior: Prior) -> Posterior:
    """The photo's current posterior (gold photos: certain of their gold label)."""
    if photo.gold_label is not None:
        return Posterior({photo.gold_label: 1.0}, 0.0)
    return posterior_from(photo.log_odds, prior)


def consensus(photo: PhotoState, prior: Prior) -> Consensus:
    """Label, confidence, answer count and method for a photo."""
    label, confidence = posterior(photo, prior).top()
    if photo.gold_label is not None:
        method = ConsensusMethod.GOLD
    elif photo.vote_count == 0 and label is not None:
        method = ConsensusMethod.MODEL
    else:
        method = ConsensusMethod.WEIGHTED
    support = photo.tally.get(label, 0.0) if label is not None else 0.0
    return Consensus(label, confidence, photo.answer_count, method, photo.vote_count, support)


def majority(photo: PhotoState, rng: random.Random) -> Consensus:
    """Majority vote over plain votes, ties broken by `rng`; confidence is the vote share."""
    if not photo.tally:
        return Consensus(None, 0.0, photo.answer_count, ConsensusMethod.MAJORITY, photo.vote_count)
    best = max(photo.tally.values())
    label = rng.choice(sorted(t for t, n in photo.tally.items() if n == best))
    share = best / sum(photo.tally.values())
    return Consensus(label, share, photo.answer_count, ConsensusMethod.MAJORITY, photo.vote_count)


@dataclass(frozen=True, slots=True)
class AnswerUpdate:
    """The additive change one answer makes to a photo and to its contributor.

    `photo_inc()` and `contributor_inc()` give the same change as MongoDB `$inc` documents.
    """

    log_odds: Mapping[str, float]
    tally: Mapping[str, float]
    counts: Mapping[tuple[Truth, Truth], float]
    votes: int
    not_sure: bool
    tags: tuple[str, ...]
    agreed: float
    gold_votes: int
    gold_correct: int

    def photo_inc(self) -> dict[str, float]:
        inc: dict[str, float] = {"answer_count": 1, "vote_count": self.votes}
        inc.update({f"log_odds.{encode_key(t)}": x for t, x in self.log_odds.items()})
        inc.update({f"tally.{encode_key(t)}": x for t, x in self.tally.items()})
        inc.update({f"tags.{encode_key(t)}": 1 for t in self.tags})
        inc["not_sure_count"] = 1 if self.not_sure else 0
        return inc

    def contributor_inc(self) -> dict[str, float]:
        inc: dict[str, float] = {
            f"confusion.{encode_key(t)}.{encode_key(a)}": n for (t, a), n in self.counts.items()
        }
        inc.update(
            vote_count=self.votes,
            agreed=self.agreed,
            gold_votes=self.gold_votes,
            gold_correct=self.gold_correct,
        )
        return inc


def _agrees(vote: Vote, label: str | None) -> bool:
    return vote.choice == label if vote.choice is not None else label not in vote.options


def answer_update(
    photo: PhotoState,
    contributor: ContributorState,
    evidence: Evidence,
    *,
    prior: Prior,
    reliability_prior: ReliabilityPrior,
    pattern: ErrorPattern | None = None,
) -> AnswerUpdate:
    """The online update for one accepted answer, from the states before it."""
    is_gold = photo.gold_label is not None
    if is_gold:
        before = posterior(photo, prior)
    else:
        # The vote's options join the explicit labels (at 0, where they were while unnamed),
        # so that a closed label space has a posterior even before the first vote.
        named = {t: 0.0 for vote in evidence.votes for t in vote.options}
        before = posterior_from(named | photo.log_odds, prior)
    label, _ = before.top()
    compared = is_gold or photo.vote_count > 0
    counts: dict[tuple[Truth, Truth], float] = {}
    tally: dict[str, float] = {}
    agreed = 0.0
    for vote in evidence.votes:
        if not is_gold and vote.choice is not None:  # gold answers never move consensus
            tally[vote.choice] = tally.get(vote.choice, 0.0) + vote.weight
        for key, n in count_increments(vote, before.probabilities).items():
            counts[key] = counts.get(key, 0.0) + n
        agreed += 1.0 if compared and _agrees(vote, label) else 0.0
    votes = [(contributor, vote) for vote in evidence.votes]
    return AnswerUpdate(
        log_odds={} if is_gold else log_odds_of(votes, reliability_prior, pattern),
        tally=tally,
        counts=counts,
        votes=len(evidence.votes),
        not_sure=evidence.not_sure,
        tags=evidence.unmatched_tags,
        agreed=agreed,
        gold_votes=len(evidence.votes) if is_gold else 0,
        gold_correct=int(agreed) if is_gold else 0,
    )


def updated_photo(photo: PhotoState, update: AnswerUpdate) -> PhotoState:
    """The photo's state after `update` (`photo` is left as it is): what the store's `$inc`
    of `AnswerUpdate.photo_inc` makes of it."""
    log_odds, tally, tags = dict(photo.log_odds), dict(photo.tally), dict(photo.tags)
    for t, x in update.log_odds.items():
        log_odds[t] = log_odds.get(t, 0.0) + x
    for t, x in update.tally.items():
        tally[t] = tally.get(t, 0.0) + x
    for tag in update.tags:
        tags[tag] = tags.get(tag, 0) + 1
    return PhotoState(
        log_odds=log_odds,
        tally=tally,
        answer_count=photo.answer_count + 1,
        vote_count=photo.vote_count + update.votes,
        not_sure_count=photo.not_sure_count + (1 if update.not_sure else 0),
        tags=tags,
        gold_label=photo.gold_label,
    )


def apply_update(photo: PhotoState, contributor: ContributorState, update: AnswerUpdate) -> None:
    """Apply an `AnswerUpdate` in memory: what the store does with two `$inc`s."""
    after = updated_photo(photo, update)
    for name in ("log_odds", "tally", "answer_count", "vote_count", "not_sure_count", "tags"):
        setattr(photo, name, getattr(after, name))
    add_counts(contributor, update.counts)
    contributor.vote_count += update.votes
    contributor.agreed += update.agreed
    contributor.gold_votes += update.gold_votes
    contributor.gold_correct += update.gold_correct


def log_odds_of(
    votes: Iterable[tuple[ContributorState, Vote]],
    reliability_prior: ReliabilityPrior,
    pattern: ErrorPattern | None = None,
) -> dict[str, float]:
    """A photo's `log_odds` from its votes (one answer's update, and tests)."""
    log_odds: dict[str, float] = {}
    for contributor, vote in votes:
        for t, x in vote_terms(contributor, vote, reliability_prior, pattern).items():
            log_odds[t] = log_odds.get(t, 0.0) + x
    return log_odds
