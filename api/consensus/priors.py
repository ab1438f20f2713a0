"""What a photo's label is believed to be before any answer: a class prior or the model's.

Both priors name a few labels explicitly and give the rest of the label space (possibly
1000 ImageNet classes) one shared "outside" mass, so posteriors stay small: see
`aggregation.py`.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from api.consensus.keys import decode_key, encode_key


class Prior(Protocol):
    """A distribution over the label space, read for a few explicit labels at a time."""

    def labels(self) -> Collection[str]:
        """Labels the prior wants on the posterior even before any vote names them."""
        ...

    def log_masses(self, explicit: Collection[str]) -> tuple[dict[str, float], float]:
        """log prior of each explicit label, and log of the mass on all others (-inf: none)."""
        ...


def _log(x: float) -> float:
    return math.log(x) if x > 0.0 else -math.inf


@dataclass(slots=True)
class LabelPrior:
    """Class prior: soft counts of consensus labels plus `pseudo` per label.

    `label_count` is the size of the label space; None means a closed space made of the
    counted labels (the crowd benchmarks), where nothing lies outside.
    """

    counts: dict[str, float] = field(default_factory=dict)
    label_count: int | None = None
    pseudo: float = 1.0

    def labels(self) -> Collection[str]:
        return ()

    def log_masses(self, explicit: Collection[str]) -> tuple[dict[str, float], float]:
        counted = sum(self.counts.values())
        space = self.label_count
        if space is None:  # closed: the counted labels and whatever is named now
            space = len(self.counts.keys() | set(explicit))
        normaliser = counted + self.pseudo * space
        masses = {t: _log((self.counts.get(t, 0.0) + self.pseudo) / normaliser) for t in explicit}
        outside_labels = max(space - len(masses), 0)
        outside = max(counted - sum(self.counts.get(t, 0.0) for t in masses), 0.0)
        if outside_labels == 0:
            return masses, -math.inf
        return masses, _log((outside + self.pseudo * outside_labels) / normaliser)

    def to_document(self) -> dict[str, Any]:
        return {
            "counts": {encode_key(t): n for t, n in self.counts.items()},
            "label_count": self.label_count,
            "pseudo": self.pseudo,
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> LabelPrior:
        counts = {decode_key(k): float(n) for k, n in document.get("counts", {}).items()}
        return cls(
            counts={t: n for t, n in counts.items() if t is not None},
            label_count=document.get("label_count"),
            pseudo=float(document.get("pseudo", 1.0)),
        )


@dataclass(frozen=True, slots=True)
class ModelPrior:
    """The model's top-k probabilities; the rest is spread over the other labels."""

    probabilities: Mapping[str, float]
    label_count: int

    def labels(self) -> Collection[str]:
        return self.probabilities.keys()

    def log_masses(self, explicit: Collection[str]) -> tuple[dict[str, float], float]:
        others = self.label_count - len(self.probabilities)
        rest = max(1.0 - sum(self.probabilities.values()), 0.0)
        each = rest / others if others > 0 else 0.0
        masses = {t: _log(self.probabilities.get(t, each)) for t in explicit}
        if self.label_count - len(masses) <= 0:
            return masses, -math.inf
        inside = sum(self.probabilities.get(t, each) for t in masses)
        return masses, _log(max(1.0 - inside, 0.0))
