"""`validate()`: untrusted model files are checked in a limited child process."""

from __future__ import annotations

import signal
from pathlib import Path

import numpy as np
import pytest
from inference_testkit import build_script, tiny_model

from inference import (
    InferenceError,
    InvalidModelError,
    LabelsMismatchError,
    Model,
    ModelCrashed,
    ResourceLimitExceeded,
    UnsupportedModelError,
    ValidationTimeout,
    validate,
)
from inference.validation import outcome_error


def test_a_good_model_gives_the_same_spec_as_loading_it() -> None:
    path = tiny_model("int8_logits")
    assert validate(path) == Model.from_path(path).spec


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", InvalidModelError),
        (b"\x00" * 8, InvalidModelError),
        (np.random.default_rng(3).bytes(2048), InvalidModelError),
        (b"\x1c\x00\x00\x00TFL3" + np.random.default_rng(4).bytes(2048), InvalidModelError),
        (tiny_model("float_probs").read_bytes()[:1000], InvalidModelError),
        (tiny_model("not_image").read_bytes(), UnsupportedModelError),
    ],
    ids=["empty", "8-bytes", "random", "random-with-header", "truncated", "not-image"],
)
def test_bad_models_get_typed_errors(tmp_path: Path, data: bytes, error: type) -> None:
    path = tmp_path / "m.tflite"
    path.write_bytes(data)
    (tmp_path / "m.labels.txt").write_text("a\nb\nc\n")
    with pytest.raises(error):
        validate(path)


def test_truncated_default_model(tmp_path: Path, default_model: Path) -> None:
    data = default_model.read_bytes()
    path = tmp_path / "m.tflite"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidModelError):
        validate(path, labels=default_model.with_suffix(".labels.txt"))


def test_labels_of_the_wrong_count(tmp_path: Path) -> None:
    labels = tmp_path / "labels.txt"
    labels.write_text("one\ntwo\n")
    with pytest.raises(LabelsMismatchError):
        validate(tiny_model("float_logits"), labels=labels)


def test_a_model_needing_more_memory_than_allowed(tmp_path: Path) -> None:
    # A legal classifier whose 20000x20000 float input alone needs 4.8 GB.
    script = build_script()
    path = tmp_path / "huge.tflite"
    path.write_bytes(script.serialize(script.huge_input_graph(20000)))
    (tmp_path / "huge.labels.txt").write_text("r\ng\nb\n")
    with pytest.raises(ResourceLimitExceeded):
        validate(path, memory_bytes=2 * 1024**3)


def test_wall_clock_timeout() -> None:
    with pytest.raises(ValidationTimeout):
        validate(tiny_model("float_logits"), timeout=0.01)


def test_a_tiny_memory_limit_is_reported_not_crashed() -> None:
    with pytest.raises(InferenceError):
        validate(tiny_model("float_logits"), memory_bytes=64 * 1024**2)


@pytest.mark.parametrize(
    ("returncode", "error"),
    [
        (-signal.SIGSEGV, ModelCrashed),
        (-signal.SIGABRT, ModelCrashed),
        (-signal.SIGBUS, ModelCrashed),
        (-signal.SIGXCPU, ResourceLimitExceeded),
        (-signal.SIGKILL, ResourceLimitExceeded),
        (1, ModelCrashed),
    ],
)
def test_how_the_child_died_maps_to_a_typed_error(returncode: int, error: type) -> None:
    request = {"path": "/x/m.tflite", "cpu_seconds": 30}
    assert type(outcome_error(returncode, None, "Traceback...", request)) is error


def test_the_child_report_keeps_its_error_type() -> None:
    report = {"error": "LabelsMismatchError", "message": "3 labels but 4 scores"}
    err = outcome_error(2, report, "", {"path": "m.tflite"})
    assert isinstance(err, LabelsMismatchError)
    assert str(err) == "3 labels but 4 scores"
    # A name outside the error tree is never instantiated from a child's report.
    assert isinstance(outcome_error(2, {"error": "SystemExit"}, "", {"path": "m"}), ModelCrashed)


def test_a_model_whose_scores_are_nan_is_invalid() -> None:
    with pytest.raises(InvalidModelError, match="non-finite scores"):
        validate(tiny_model("nan_logits"))
