"""softmax, top-k and uncertainty, without a model."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from inference.scores import looks_like_probabilities, normalise, softmax, top_k, uncertainty


def test_softmax_matches_the_formula_and_survives_large_logits() -> None:
    logits = np.array([1.0, 2.0, 3.0])
    expected = np.exp(logits) / np.exp(logits).sum()
    np.testing.assert_allclose(softmax(logits), expected)
    np.testing.assert_allclose(softmax(logits + 1000.0), expected)


def test_top_k_orders_by_probability_and_ties_by_index() -> None:
    assert top_k(np.array([0.1, 0.4, 0.1, 0.4]), 3) == [1, 3, 0]
    assert top_k(np.zeros(10), 3) == [0, 1, 2]
    assert top_k(np.array([0.2, 0.8]), 5) == [1, 0]


def test_uncertainty_of_certain_and_uniform_predictions() -> None:
    certain = uncertainty(np.array([1.0, 0.0, 0.0, 0.0]))
    assert (certain.least_confidence, certain.margin, certain.entropy) == (0.0, 0.0, 0.0)
    uniform = uncertainty(np.full(4, 0.25))
    assert uniform.least_confidence == pytest.approx(1.0)
    assert uniform.margin == pytest.approx(1.0)
    assert uniform.entropy == pytest.approx(1.0)


def test_uncertainty_known_values() -> None:
    p = np.array([0.6, 0.3, 0.1])
    u = uncertainty(p)
    assert u.least_confidence == pytest.approx(0.4 * 3 / 2)
    assert u.margin == pytest.approx(0.7)
    assert u.entropy == pytest.approx(-(p * np.log(p)).sum() / math.log(3))


@given(arrays(np.float64, st.integers(2, 50), elements=st.floats(0, 1)))
def test_uncertainty_measures_stay_in_unit_interval(raw: np.ndarray) -> None:
    u = uncertainty(normalise(raw))
    for value in (u.least_confidence, u.margin, u.entropy):
        assert 0.0 <= value <= 1.0


@given(arrays(np.float32, st.integers(1, 40), elements=st.floats(-50, 50, width=32)))
def test_top_k_agrees_with_a_stable_sort(logits: np.ndarray) -> None:
    k = min(5, logits.size)
    expected = sorted(range(logits.size), key=lambda i: (-float(logits[i]), i))[:k]
    assert top_k(logits, 5) == expected


def test_normalise_rescales_a_dequantized_softmax() -> None:
    p = normalise(np.array([0.5, 0.25, 0.2421875]))
    assert p.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(normalise(np.zeros(4)), 0.25)


def test_looks_like_probabilities() -> None:
    assert looks_like_probabilities(np.array([0.7, 0.2, 0.1]))
    assert not looks_like_probabilities(np.array([0.9, 0.2, -0.1]))
    assert not looks_like_probabilities(np.array([2.0, 1.0, 0.5]))
