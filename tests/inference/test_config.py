"""The per-model sidecar config."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest
from inference_testkit import without_opening_fifo

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
    ("data", "message"),
    [
        ({"crop": 0.9}, "unknown config keys ['crop']"),
        ({"crop_ratio": 0}, "crop_ratio"),
        ({"crop_ratio": 1.5}, "crop_ratio"),
        ({"crop_ratio": "0.875"}, "crop_ratio takes numbers, got '0.875'"),
        ({"std": 0}, "std"),
        ({"mean": "x"}, "mean takes numbers, got 'x'"),
        ({"mean": [127, True, 127]}, "mean takes numbers, got True"),
        ({"std": 10**400}, "std is out of range"),
        ({"top_k": 0}, "top_k must be 1-100, got 0"),
        ({"top_k": 1001}, "top_k must be 1-100, got 1001"),
        ({"crop_ratio": 1e-320}, "crop_ratio must be in [0.1, 1]"),
        ({"std": 1e-320}, "std must be numbers in [0.001, 10000]"),
        ({"mean": 1e308}, "mean must be numbers in [-1000, 1000]"),
        ({"version": "a\x00b"}, "version must be 1-200 printable characters"),
        ({"version": "\ud800"}, "version must be 1-200 printable characters"),
        ({"version": "v" * 201}, "version must be 1-200 printable characters"),
        ({"top_k": 2.5}, "top_k must be a whole number, got 2.5"),
        ({"top_k": True}, "top_k must be a whole number, got True"),
        ({"output": "scores"}, "output must be 'logits' or 'probabilities'"),
        ({"resample": "lanczos"}, "resample"),
        ({"version": 3}, "version"),
    ],
)
def test_bad_configs_are_refused(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        ModelConfig.from_mapping(data)


def test_an_integer_too_long_to_read_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "m.config.json").write_text('{"top_k": ' + "9" * 5000 + "}")
    with pytest.raises(ConfigError, match="cannot read model config"):
        find_config(tmp_path / "m.tflite")


@pytest.mark.parametrize(("make", "kind"), [(os.mkdir, "a folder"), (os.mkfifo, "a FIFO")])
def test_a_config_sidecar_that_is_not_a_regular_file_is_refused_not_ignored(
    tmp_path: Path, make: Callable[[Path], None], kind: str
) -> None:
    sidecar = tmp_path / "m.config.json"
    make(sidecar)
    for given in (None, sidecar):
        with pytest.raises(ConfigError) as caught:
            without_opening_fifo(sidecar, partial(find_config, tmp_path / "m.tflite", given))
        assert str(caught.value) == (
            f"cannot read model config {str(sidecar)!r}: it is {kind}, not a regular file"
        )


def test_malformed_json_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "m.config.json").write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read"):
        find_config(tmp_path / "m.tflite")
