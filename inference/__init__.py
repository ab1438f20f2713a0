"""PhotoSurvey inference: run any TFLite image classifier on photos, on this machine.

    from inference import Model, validate

    spec = validate("models/new.tflite")          # untrusted file: checked in a child process
    model = Model.from_path("models/new.tflite")  # labels: models/new.labels.txt
    prediction = model.predict("photo.jpg")
    prediction.top.name, prediction.top.probability, prediction.uncertainty.margin

Stands alone: imports nothing from `api/`. Errors are rooted at `InferenceError`
(tree in `inference.errors`).
"""

from .config import ModelConfig
from .errors import (
    BackendUnavailableError,
    ConfigError,
    ImageDecodeError,
    ImageError,
    ImageTooLargeError,
    InferenceError,
    InvalidLabelsError,
    InvalidModelError,
    LabelsError,
    LabelsMismatchError,
    LabelsNotFoundError,
    ModelCrashed,
    ModelError,
    ModelLoadError,
    ModelTooLargeError,
    ResourceLimitExceeded,
    UnsupportedImageFormat,
    UnsupportedModelError,
    ValidationError,
    ValidationTimeout,
)
from .labels import Label
from .model import ImageInput, Model
from .prediction import LabelScore, Prediction
from .quantization import Quantization
from .scores import Uncertainty
from .spec import ModelSpec, TensorSpec
from .validation import validate

__all__ = [
    "BackendUnavailableError",
    "ConfigError",
    "ImageDecodeError",
    "ImageError",
    "ImageInput",
    "ImageTooLargeError",
    "InferenceError",
    "InvalidLabelsError",
    "InvalidModelError",
    "Label",
    "LabelScore",
    "LabelsError",
    "LabelsMismatchError",
    "LabelsNotFoundError",
    "Model",
    "ModelConfig",
    "ModelCrashed",
    "ModelError",
    "ModelLoadError",
    "ModelSpec",
    "ModelTooLargeError",
    "Prediction",
    "Quantization",
    "ResourceLimitExceeded",
    "TensorSpec",
    "Uncertainty",
    "UnsupportedImageFormat",
    "UnsupportedModelError",
    "ValidationError",
    "ValidationTimeout",
    "validate",
]
