"""The per-model sidecar config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inference import ConfigError, ModelConfig
from inference.config import find_config


def test_defaults_fit_efficientnet_lite_and_mobilenet() -> None:
    config = ModelConfig()
    assert round(224 / config.crop_ratio) == 256
    assert (config.mean, config.std) == ((127.0,), (128.0,))


def test_sidecar_is_read_and_round_trips(tmp_path: Path) -> None:
    (tmp_path / "m.config.json").write_text(
        json.dumps({"crop_ratio": 1, "mean": [1, 2, 3], "top_k": 3, "output": "logits"})
    )
    config, source = find_config(tmp_path / "m.tflite")
    assert source == str(tmp_path / "m.config.json")
    assert config == ModelConfig(crop_ratio=1.0, mean=(1.0, 2.0, 3.0), top_k=3, output="logits")
    assert ModelConfig.from_mapping(config.to_dict()) == config


def test_no_sidecar_means_defaults(tmp_path: Path) -> None:
    assert find_config(tmp_path / "m.tflite") == (ModelConfig(), "defaults")


@pytest.mark.parametrize(
    "data",
    [
        {"crop": 0.9},
        {"crop_ratio": 0},
        {"crop_ratio": 1.5},
        {"std": 0},
        {"mean": "x"},
        {"top_k": 0},
        {"top_k": 2.5},
        {"output": "scores"},
        {"resample": "lanczos"},
        {"version": 3},
    ],
)
def test_bad_configs_are_refused(data: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        ModelConfig.from_mapping(data)


def test_malformed_json_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "m.config.json").write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read"):
        find_config(tmp_path / "m.tflite")
