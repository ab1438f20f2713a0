"""From a model's output vector to probabilities, top-k and uncertainty. Pure functions.

Uncertainty measures follow Munro, *Human-in-the-Loop Machine Learning* (2021), ch. 3.
All three lie in [0, 1] and grow with uncertainty, so they sort the same way:

- least confidence: (1 - p1) * K / (K - 1), with p1 the top probability and K classes;
- margin: 1 - (p1 - p2), with p2 the runner-up;
- normalised entropy: -sum(p log p) / log K.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "Uncertainty",
    "looks_like_probabilities",
    "normalise",
    "softmax",
    "top_k",
    "uncertainty",
]


@dataclass(frozen=True, slots=True)
class Uncertainty:
    """How unsure a prediction is; each measure in [0, 1], higher is more uncertain."""

    least_confidence: float
    margin: float
    entropy: float


def softmax(logits: NDArray[np.floating]) -> NDArray[np.float64]:
    """Probabilities from logits, stable for large values."""
    values = np.asarray(logits, dtype=np.float64)
    exp: NDArray[np.float64] = np.exp(values - values.max())
    exp /= exp.sum()
    return exp


def normalise(probabilities: NDArray[np.floating]) -> NDArray[np.float64]:
    """Clip negatives and rescale to sum 1.

    A quantized softmax output (scale 1/256) does not sum to exactly 1 once dequantized.
    """
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 0.0, None)
    total = p.sum()
    if total <= 0:
        return np.full(p.shape, 1.0 / p.size)
    result: NDArray[np.float64] = p / total
    return result


def looks_like_probabilities(output: NDArray[np.floating], *, tolerance: float = 0.02) -> bool:
    """Whether one output vector is non-negative and sums to 1 within `tolerance`."""
    values = np.asarray(output, dtype=np.float64)
    return bool(np.all(values >= 0) and abs(values.sum() - 1.0) <= tolerance)


def top_k(probabilities: NDArray[np.floating], k: int) -> list[int]:
    """Indices of the k highest probabilities, highest first; ties keep the lower index."""
    values = np.asarray(probabilities)
    k = min(k, values.size)
    candidates = np.argpartition(values, values.size - k)[values.size - k :]
    kth = values[candidates].min()
    if np.count_nonzero(values >= kth) > k:
        # A tie at the boundary: argpartition may have kept any of the tied indices, so
        # take them all and let the lower index win.
        candidates = np.flatnonzero(values >= kth)
    ranked = sorted(candidates.tolist(), key=lambda i: (-float(values[i]), i))
    return ranked[:k]


def uncertainty(
    probabilities: NDArray[np.floating], *, ranked: Sequence[int] | None = None
) -> Uncertainty:
    """Least confidence, margin and normalised entropy of a probability vector.

    `ranked`, when given, holds at least the two most probable indices, highest first
    (as `top_k` returns them), which saves ranking the vector again.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    classes = p.size
    if classes < 2:
        return Uncertainty(least_confidence=0.0, margin=0.0, entropy=0.0)
    if ranked is None or len(ranked) < 2:
        ranked = top_k(p, 2)
    first, second = float(p[ranked[0]]), float(p[ranked[1]])
    # 0 * log(0) counts as 0: take the log of the positive entries only.
    logs = np.log(p, out=np.zeros_like(p), where=p > 0)
    entropy = -float(np.dot(p, logs)) / math.log(classes)
    return Uncertainty(
        least_confidence=_unit((1.0 - first) * classes / (classes - 1)),
        margin=_unit(1.0 - (first - second)),
        entropy=_unit(entropy),
    )


def _unit(value: float) -> float:
    # Rounding error can push a measure a hair outside [0, 1].
    return min(1.0, max(0.0, value))
