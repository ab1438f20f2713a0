"""From a model's output vector to probabilities, top-k and uncertainty. Pure functions.

Uncertainty measures follow Munro, *Human-in-the-Loop Machine Learning* (2021), ch. 3.
All three lie in [0, 1] and grow with uncertainty, so they sort the same way:

- least confidence: (1 - p1) * K / (K - 1), with p1 the top probability and K classes;
- margin: 1 - (p1 - p2), with p2 the runner-up;
- normalised entropy: -sum(p log p) / log K.
"""

from __future__ import annotations

import math
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
    shifted = np.asarray(logits, dtype=np.float64) - np.max(logits)
    exp = np.exp(shifted)
    result: NDArray[np.float64] = exp / exp.sum()
    return result


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
    # Partition finds the k-th value in O(n); every index reaching it is a candidate, so
    # ties at the boundary are all seen and the lower index wins (lexsort is stable).
    kth = np.partition(values, values.size - k)[values.size - k]
    candidates = np.flatnonzero(values >= kth)
    order = candidates[np.lexsort((candidates, -values[candidates]))][:k]
    return [int(i) for i in order]


def uncertainty(probabilities: NDArray[np.floating]) -> Uncertainty:
    """Least confidence, margin and normalised entropy of a probability vector."""
    p = np.asarray(probabilities, dtype=np.float64)
    classes = p.size
    if classes < 2:
        return Uncertainty(least_confidence=0.0, margin=0.0, entropy=0.0)
    first, second = np.partition(p, classes - 2)[-1:-3:-1]
    nonzero = p[p > 0]
    entropy = float(-(nonzero * np.log(nonzero)).sum()) / math.log(classes)
    return Uncertainty(
        least_confidence=_unit((1.0 - float(first)) * classes / (classes - 1)),
        margin=_unit(1.0 - (float(first) - float(second))),
        entropy=_unit(entropy),
    )


def _unit(value: float) -> float:
    # Rounding error can push a measure a hair outside [0, 1].
    return min(1.0, max(0.0, value))
