"""Per-model settings: the optional sidecar `<model stem>.config.json` beside the model.

All keys are optional; an unknown key is an error (it is most likely a typo):

    {
      "crop_ratio": 0.875,        # centre crop / resized shorter side, in [0.1, 1]
      "mean": 127.0,              # one number, or one per input channel, in [-1000, 1000]
      "std": 128.0,               # idem, in [0.001, 10000]; the model sees (pixel - mean) / std
      "resample": "bilinear",     # or "bicubic"
      "top_k": 5,                 # labels kept in each prediction, 1-100
      "output": null,             # "logits" or "probabilities" to override detection
      "version": null             # model version recorded in predictions (1-200 printable
                                  # characters)
    }

The defaults fit EfficientNet-Lite and MobileNet: resize the shorter side to input/0.875
(256 for a 224 input), centre-crop, `(x - 127) / 128`. For a quantized input the
normalisation is folded into the input quantization (see `preprocess.input_encoder`).
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

from ._files import not_a_regular_file
from .errors import ConfigError

__all__ = ["ModelConfig", "find_config", "sidecar_path"]

MAX_TOP_K = 100
Resample = Literal["bilinear", "bicubic"]
OutputKind = Literal["logits", "probabilities"]


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """Preprocessing and output settings of one model (see the module docstring)."""

    crop_ratio: float = 224 / 256
    mean: tuple[float, ...] = (127.0,)
    std: tuple[float, ...] = (128.0,)
    resample: Resample = "bilinear"
    top_k: int = 5
    output: OutputKind | None = None
    version: str | None = None

    def __post_init__(self) -> None:
        # Bounds, not just signs: a crop ratio of 1e-320 or a std of 1e-320 makes infinite
        # sizes or inputs; no real preprocessing is near them.
        if not 0.1 <= self.crop_ratio <= 1:
            raise ConfigError(f"crop_ratio must be in [0.1, 1], got {self.crop_ratio}")
        if not self.mean or not all(-1000 <= m <= 1000 for m in self.mean):
            raise ConfigError(f"mean must be numbers in [-1000, 1000], got {self.mean}")
        if not self.std or not all(0.001 <= s <= 10000 for s in self.std):
            raise ConfigError(f"std must be numbers in [0.001, 10000], got {self.std}")
        if self.resample not in ("bilinear", "bicubic"):
            raise ConfigError(f"resample must be 'bilinear' or 'bicubic', got {self.resample!r}")
        if not 1 <= self.top_k <= MAX_TOP_K:
            raise ConfigError(f"top_k must be 1-{MAX_TOP_K}, got {self.top_k}")
        if self.version is not None and not _is_version(self.version):
            raise ConfigError(
                "version must be 1-200 printable characters (no control characters or lone "
                f"surrogates), got {str(self.version)[:40]!r}"
            )
        if self.output not in (None, "logits", "probabilities"):
            raise ConfigError(f"output must be 'logits' or 'probabilities', got {self.output!r}")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ModelConfig:
        """Build a config from parsed JSON, checking keys and types."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown config keys {unknown}; accepted: {sorted(known)}")
        values = dict(data)
        for key in ("mean", "std"):
            if key in values:
                raw = values[key]
                values[key] = tuple(
                    _number(key, v) for v in (raw if isinstance(raw, list) else [raw])
                )
        if "crop_ratio" in values:
            values["crop_ratio"] = _number("crop_ratio", values["crop_ratio"])
        top_k = values.get("top_k", 1)
        if isinstance(top_k, bool) or not isinstance(top_k, int):
            raise ConfigError(f"bad config value: top_k must be a whole number, got {top_k!r}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict that `from_mapping` reads back."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in fields(self)}


def _is_version(value: object) -> bool:
    return (
        isinstance(value, str)
        and 1 <= len(value) <= 200
        and not any(unicodedata.category(c) in ("Cc", "Cs") for c in value)
    )


def _number(key: str, value: object) -> float:
    """A JSON number (not a string, not true or false) as a float."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"bad config value: {key} takes numbers, got {value!r}")
    try:
        return float(value)
    except OverflowError:  # a JSON integer beyond any float
        raise ConfigError(f"bad config value: {key} is out of range") from None


def _jsonable(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value


def sidecar_path(model_path: Path) -> Path:
    """Where the config of `model_path` is looked for: `<stem>.config.json` beside it."""
    return model_path.with_name(f"{model_path.stem}.config.json")


def read_config(path: Path) -> ModelConfig:
    """Read a sidecar config file."""
    try:
        kind = not_a_regular_file(path)
        if kind is not None:
            raise ConfigError(
                f"cannot read model config {str(path)!r}: it is {kind}, not a regular file"
            )
        data = json.loads(path.read_text(encoding="utf-8"))
    # ValueError: not UTF-8, not JSON, or an integer of over 4,300 digits.
    except (OSError, ValueError, RecursionError) as exc:
        raise ConfigError(f"cannot read model config {str(path)!r}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the config must be a JSON object")
    try:
        return ModelConfig.from_mapping(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def find_config(
    model_path: Path, config: ModelConfig | str | Path | None = None
) -> tuple[ModelConfig, str]:
    """The config for a model and where it came from ("defaults" when there is none)."""
    if isinstance(config, ModelConfig):
        return config, "argument"
    if config is not None:
        return read_config(Path(config)), str(config)
    sidecar = sidecar_path(model_path)
    if sidecar.exists():  # a folder or FIFO there is refused, not passed over
        return read_config(sidecar), str(sidecar)
    return ModelConfig(), "defaults"
