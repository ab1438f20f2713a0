"""The legacy `tflite-runtime` backend, run only in its own virtual environment.

That environment pins `numpy<2` (the wheel cannot load models under NumPy 2); the main
run deselects these tests with `-m "not tflite_runtime"`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from inference_testkit import colour_probabilities, solid, tiny_model

from inference import Model, validate
from inference.scores import softmax

pytestmark = pytest.mark.tflite_runtime
BACKEND = "tflite-runtime"


def test_float_model_matches_the_reference() -> None:
    model = Model.from_path(tiny_model("float_logits"), backend=BACKEND)
    assert model.spec.backend == BACKEND
    prediction = model.predict(solid((0, 255, 0), (8, 8)))
    got = {s.label_id: s.probability for s in prediction.top_k}
    expected = colour_probabilities((0, 255, 0), height=8, width=8)
    np.testing.assert_allclose(
        [got[n] for n in ("red", "green", "blue", "dark")], expected, rtol=1e-5
    )


def test_int8_model_exact_output() -> None:
    model = Model.from_path(tiny_model("int8_logits"), backend=BACKEND)
    prediction = model.predict(solid((255, 0, 0), (12, 12)))
    assert [s.label_id for s in prediction.top_k] == ["red", "dark", "green", "blue"]
    expected = softmax(np.array([4.0, -2.0, -2.0, 1.0]))[[0, 3, 1, 2]]
    np.testing.assert_allclose([s.probability for s in prediction.top_k], expected, rtol=1e-9)


def test_quantized_softmax_model() -> None:
    model = Model.from_path(tiny_model("uint8_probs"), backend=BACKEND)
    assert model.spec.output_kind == "probabilities"
    assert model.predict(solid((0, 0, 255), (8, 8))).top.label_id == "blue"


def test_validate_runs_the_chosen_backend() -> None:
    assert validate(tiny_model("int8_logits"), backend=BACKEND).backend == BACKEND


def test_default_model_predicts(default_model: Path) -> None:
    model = Model.from_path(default_model, backend=BACKEND)
    assert model.spec.label_count == 1000
    photo = np.random.default_rng(0).integers(0, 256, (224, 224, 3), np.uint8)
    assert len(model.predict(photo).top_k) == 5
