"""The narrow interface the service needs from a model, and the default one behind it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from api.settings import Settings
from inference import Label, Model, ModelSpec, Prediction


class Labeller(Protocol):
    """Anything that predicts labels for photo bytes; `inference.Model` is one."""

    @property
    def spec(self) -> ModelSpec: ...

    @property
    def labels(self) -> tuple[Label, ...]: ...

    def predict_many(self, images: Sequence[bytes]) -> list[Prediction]: ...

    def predict(self, image: bytes) -> Prediction: ...


def load_labeller(settings: Settings) -> Labeller:
    """The configured model, loaded once per process (never per request).

    Raises `inference.InferenceError` (with what was wrong) for a missing or bad file, or a
    model that cannot predict a synthetic photo (`Model.self_check`).
    """
    model = Model.from_path(settings.model_path)
    model.self_check()
    return model
