from __future__ import annotations

import math

import pytest

from api.consensus.priors import LabelPrior, ModelPrior


def total(masses: dict[str, float], outside: float) -> float:
    return sum(math.exp(x) for x in masses.values()) + math.exp(outside)


def test_class_prior_over_an_open_space_sums_to_one_with_its_outside_mass() -> None:
    prior = LabelPrior(counts={"a": 8.0, "b": 2.0}, label_count=10)
    masses, outside = prior.log_masses({"a", "c"})
    assert math.exp(masses["a"]) == pytest.approx(9 / 20)
    assert math.exp(masses["c"]) == pytest.approx(1 / 20)
    assert total(masses, outside) == pytest.approx(1.0)


def test_a_closed_space_has_nothing_outside() -> None:
    masses, outside = LabelPrior(counts={"a": 3.0, "b": 1.0}).log_masses({"a", "b"})
    assert outside == -math.inf
    assert math.exp(masses["a"]) == pytest.approx(4 / 6)


def test_model_prior_spreads_the_rest_over_unnamed_labels() -> None:
    prior = ModelPrior({"a": 0.6, "b": 0.2}, label_count=12)
    masses, outside = prior.log_masses({"a", "b", "z"})
    assert math.exp(masses["z"]) == pytest.approx(0.02)
    assert math.exp(outside) == pytest.approx(0.18)
    assert total(masses, outside) == pytest.approx(1.0)
