"""The errors `inference` raises, all rooted at `InferenceError`.

    InferenceError
    ├── ModelError                  a model file cannot be used
    │   ├── ModelLoadError          the file cannot be read (missing, a directory, no permission)
    │   ├── InvalidModelError       not a TFLite model, or one the runtime rejects (truncated,
    │   │                           random bytes, inconsistent graph), or whose scores are
    │   │                           not finite (NaN weights)
    │   │   └── ModelTooLargeError  the runtime cannot allocate the model's tensors
    │   └── UnsupportedModelError   a valid model that is not a one-image classifier we can run
    │                               (input not an NHWC image, several outputs, per-channel input)
    ├── LabelsError                 the class labels cannot be used
    │   ├── LabelsNotFoundError     no labels file given, beside the model, or packed in it
    │   ├── InvalidLabelsError      unreadable file, bad line, duplicate id
    │   └── LabelsMismatchError     the label count differs from the model's output size
    ├── ConfigError                 the per-model sidecar config is malformed
    ├── BackendUnavailableError     the chosen runtime package is not installed or unknown
    ├── ImageError                  a photo cannot be turned into model input
    │   ├── UnsupportedImageFormat  not JPEG, PNG or WebP (judged by content, never by name)
    │   ├── ImageDecodeError        a JPEG/PNG/WebP that fails to decode (truncated, corrupt)
    │   └── ImageTooLargeError      more pixels than the cap, or a JPEG with more scans or
    │                               marker segments than the caps: refused before decoding
    └── ValidationError             `validate()` could not vouch for a model
        ├── ValidationTimeout       the check ran past its wall-clock limit
        ├── ResourceLimitExceeded   the check hit its memory or CPU-time limit
        └── ModelCrashed            the runtime died (a signal such as SIGSEGV) on the model

Every message says what was wrong and what is accepted, so it can be shown to the model
team as is.
"""

from __future__ import annotations

__all__ = [
    "BackendUnavailableError",
    "ConfigError",
    "ImageDecodeError",
    "ImageError",
    "ImageTooLargeError",
    "InferenceError",
    "InvalidLabelsError",
    "InvalidModelError",
    "LabelsError",
    "LabelsMismatchError",
    "LabelsNotFoundError",
    "ModelCrashed",
    "ModelError",
    "ModelLoadError",
    "ModelTooLargeError",
    "ResourceLimitExceeded",
    "UnsupportedImageFormat",
    "UnsupportedModelError",
    "ValidationError",
    "ValidationTimeout",
]


class InferenceError(Exception):
    """Root of every error raised by `inference`."""


class ModelError(InferenceError):
    """A model file cannot be used."""


class ModelLoadError(ModelError):
    """The model file cannot be read."""


class InvalidModelError(ModelError):
    """The file is not a TFLite model, the runtime rejects it, or its scores are not finite."""


class ModelTooLargeError(InvalidModelError):
    """The runtime cannot allocate the model's tensors (out of memory)."""


class UnsupportedModelError(ModelError):
    """A valid TFLite model that is not a one-image classifier this package can run."""


class LabelsError(InferenceError):
    """The class labels cannot be used."""


class LabelsNotFoundError(LabelsError):
    """No labels were given, found beside the model, or packed in its metadata."""


class InvalidLabelsError(LabelsError):
    """A labels file is unreadable or malformed."""


class LabelsMismatchError(LabelsError):
    """The number of labels differs from the size of the model's output."""


class ConfigError(InferenceError):
    """The per-model sidecar config is malformed."""


class BackendUnavailableError(InferenceError):
    """The chosen runtime package is not installed, or the backend name is unknown."""


class ImageError(InferenceError):
    """A photo cannot be turned into model input."""


class UnsupportedImageFormat(ImageError):
    """The bytes are not JPEG, PNG or WebP."""


class ImageDecodeError(ImageError):
    """A JPEG, PNG or WebP that fails to decode."""


class ImageTooLargeError(ImageError):
    """More pixels than the cap, or a JPEG of too many scans or segments; refused undecoded."""


class ValidationError(InferenceError):
    """`validate()` could not vouch for a model."""


class ValidationTimeout(ValidationError):
    """The validation ran past its wall-clock limit."""


class ResourceLimitExceeded(ValidationError):
    """The validation hit its memory or CPU-time limit."""


class ModelCrashed(ValidationError):
    """The runtime process died on the model (killed by a signal)."""
