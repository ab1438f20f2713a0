"""The consensus engine in memory: the reference for how the service wires the pure parts.

`ConsensusEngine` keeps the same plain states the service keeps in MongoDB (one
`PhotoState` per photo, one `ContributorState` per contributor, the `LabelPrior`, the
votes) and runs the same steps: `submit` applies one answer with `answer_update` (two
`$inc`s in the store) and, on the `reestimate_due` schedule, a full `reestimate` refreshes
reliabilities and rescores every stored photo. The benchmarks and tests drive it; the
service replaces the dictionaries with collections. Not safe for concurrent use.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from api.consensus._encoding import VoteTable
from api.consensus.aggregation import (
    AnswerUpdate,
    Consensus,
    PhotoState,
    answer_update,
    apply_update,
    consensus,
)
from api.consensus.em import Reestimate, VoteRecord, reestimate
from api.consensus.evidence import Answer, Evidence, LabelIndex, evidence_of
from api.consensus.priors import LabelPrior, Prior
from api.consensus.reliability import (
    ContributorState,
    ErrorPattern,
    ReliabilityPrior,
    reliability,
    typical_accuracy,
)
from api.consensus.retirement import Demand, RetirementPolicy, demand

# Full re-estimation every this many accepted answers (the service's default). Measured on
# the crowd benchmarks: one re-estimation over 25,000 votes takes about 0.2 s, and
# re-estimating every 500 to 2,000 answers leaves online accuracy within 0.0015 of batch.
REESTIMATE_EVERY = 2000
# Early on, reliabilities move fast: re-estimate whenever the answers have doubled since the
# last re-estimation, from this many on, until that gap reaches `REESTIMATE_EVERY`.
REESTIMATE_FIRST = 32
REESTIMATE_TIME_BUDGET = 5.0  # seconds; EM stops early rather than block for longer
# Each re-estimation starts from majority vote (see `em`); on the crowd benchmarks EM then
# converges in 24 (Dog) to 71 (Product) steps, and stopping at 50 changes neither accuracy.
REESTIMATE_MAX_ITERATIONS = 50


def reestimate_due(
    answers: int,
    answers_at: int,
    *,
    every: int = REESTIMATE_EVERY,
    first: int = REESTIMATE_FIRST,
) -> bool:
    """Whether a full re-estimation is due, `answers_at` being the answers at the last one.

    Due once the answers have doubled (from `first` on), or `every` more arrived, whichever
    comes first: 32, 64, 128, ... 2048, 4048, 6048, ... with the defaults.
    """
    return answers - answers_at >= min(every, max(answers_at, first))


class AlreadyAnswered(ValueError):
    """The contributor already answered this photo: one answer per photo and contributor."""


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """Knobs of the engine; the defaults are the service's defaults."""

    reliability_prior: ReliabilityPrior = field(default_factory=ReliabilityPrior)
    policy: RetirementPolicy = field(default_factory=RetirementPolicy)
    reestimate_every: int = REESTIMATE_EVERY
    reestimate_first: int = REESTIMATE_FIRST
    time_budget: float = REESTIMATE_TIME_BUDGET
    max_iterations: int = REESTIMATE_MAX_ITERATIONS
    label_count: int | None = None  # None: a closed label space (the labels answers name)


class ConsensusEngine:
    """Online aggregation, periodic re-estimation and retirement over in-memory state."""

    def __init__(self, settings: EngineSettings | None = None, labels: LabelIndex | None = None):
        self.settings = settings or EngineSettings()
        self.labels = labels or LabelIndex()
        self.photos: dict[str, PhotoState] = {}
        self.contributors: dict[str, ContributorState] = {}
        self.label_prior = LabelPrior(label_count=self.settings.label_count)
        self.pattern = ErrorPattern()
        self.model_priors: dict[str, Prior] = {}
        self._table = VoteTable()  # every vote, kept encoded for re-estimation
        self._answered: set[tuple[str, str]] = set()
        self._alphabets: Counter[int] = Counter()
        self._answers_at = 0  # answers when the last re-estimation ran

    def prior_for(self, photo: str) -> Prior:
        return self.model_priors.get(photo, self.label_prior)

    def submit(self, photo: str, contributor: str, answer: Answer | Evidence) -> AnswerUpdate:
        """Accept one answer; re-estimates first when that is due (`reestimate_due`)."""
        if (photo, contributor) in self._answered:
            raise AlreadyAnswered(f"{contributor!r} already answered {photo!r}")
        if self.reestimate_due():
            self.reestimate()
        evidence = answer if isinstance(answer, Evidence) else evidence_of(answer, self.labels)
        photo_state = self.photos.setdefault(photo, PhotoState())
        contributor_state = self.contributors.setdefault(contributor, ContributorState())
        update = answer_update(
            photo_state,
            contributor_state,
            evidence,
            prior=self.prior_for(photo),
            reliability_prior=self.settings.reliability_prior,
            pattern=self.pattern,
        )
        apply_update(photo_state, contributor_state, update)
        self._answered.add((photo, contributor))
        for vote in evidence.votes:
            self._table.append(VoteRecord(photo, contributor, vote))
        self._alphabets.update(vote.alphabet_size for vote in evidence.votes)
        return update

    def reestimate(self) -> Reestimate:
        """EM over every vote so far; replaces reliabilities and rescores every photo."""
        gold = {p: s.gold_label for p, s in self.photos.items() if s.gold_label is not None}
        result = reestimate(
            self._table,
            gold=gold,
            model_priors=self.model_priors,
            label_count=self.settings.label_count,
            reliability_prior=self.settings.reliability_prior,
            max_iterations=self.settings.max_iterations,
            time_budget=self.settings.time_budget,
        )
        self.contributors.update(result.contributors)
        self.label_prior = result.label_prior
        self.pattern = result.pattern
        for photo, log_odds in result.log_odds.items():
            self.photos[photo].log_odds = log_odds
        self._answers_at = len(self._answered)
        return result

    def reestimate_due(self) -> bool:
        settings = self.settings
        return reestimate_due(
            len(self._answered),
            self._answers_at,
            every=settings.reestimate_every,
            first=settings.reestimate_first,
        )

    def consensus(self, photo: str) -> Consensus:
        return consensus(self.photos.get(photo, PhotoState()), self.prior_for(photo))

    def typical_accuracy(self) -> float:
        """Vote-weighted mean reliability; the prior's mean before any vote."""
        prior = self.settings.reliability_prior
        typical = typical_accuracy(self.contributors, prior)
        return prior.prior_mean if typical is None else typical

    def demand(self, photo: str, *, typical_accuracy: float | None = None) -> Demand:
        """Retirement and answers still needed for `photo` (pass `typical_accuracy` to reuse it)."""
        state = self.photos.get(photo, PhotoState())
        alphabet = self._alphabets.most_common(1)[0][0] if self._alphabets else 2
        return demand(
            self.consensus(photo),
            self.settings.policy,
            is_gold=state.gold_label is not None,
            typical_accuracy=self.typical_accuracy()
            if typical_accuracy is None
            else typical_accuracy,
            alphabet_size=alphabet,
        )

    def reliabilities(self) -> Mapping[str, float]:
        prior = self.settings.reliability_prior
        return {c: reliability(s, prior) for c, s in self.contributors.items()}
