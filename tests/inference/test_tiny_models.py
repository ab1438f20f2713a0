"""The committed tiny models are what the build script writes, byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest
from inference_testkit import MODELS_DIR, build_script


def test_build_script_regenerates_identical_bytes(tmp_path: Path) -> None:
    build_script().main(tmp_path)
    written = sorted(p.name for p in tmp_path.iterdir())
    committed = sorted(p.name for p in MODELS_DIR.iterdir() if p.suffix in (".tflite", ".txt"))
    assert written == committed
    for name in written:
        assert (tmp_path / name).read_bytes() == (MODELS_DIR / name).read_bytes(), name


@pytest.mark.parametrize("path", sorted(MODELS_DIR.glob("*.tflite")), ids=lambda p: p.stem)
def test_tiny_models_are_a_few_kilobytes(path: Path) -> None:
    assert path.stat().st_size < 4096
