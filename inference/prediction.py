"""The record a prediction leaves: top-k labels, uncertainty, and which model said it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .scores import Uncertainty

__all__ = ["LabelScore", "Prediction"]


@dataclass(frozen=True, slots=True)
class LabelScore:
    """One class in a prediction: its stable id, display name and probability."""

    label_id: str
    name: str
    probability: float


@dataclass(frozen=True, slots=True)
class Prediction:
    """A model's answer for one photo.

    `top_k` is ordered by probability, highest first (ties: lower output index first), the
    most probable of the model's `label_count` labels. `model_version` and `model_sha256`
    identify the model file that produced it.
    """

    top_k: tuple[LabelScore, ...]
    uncertainty: Uncertainty
    model_version: str
    model_sha256: str
    label_count: int

    @property
    def top(self) -> LabelScore:
        """The most probable label."""
        return self.top_k[0]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data, e.g. for storage."""
        return asdict(self)
