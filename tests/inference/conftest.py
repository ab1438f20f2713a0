"""Fixtures for the inference tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from inference_testkit import DEFAULT_MODEL, huge_png


@pytest.fixture(scope="session")
def png_20000() -> bytes:
    """A 20000 x 20000 PNG: 400 megapixels that compress to about 400 KB."""
    return huge_png(20000, 20000)


@pytest.fixture(scope="session")
def default_model() -> Path:
    """The committed default model (built by scripts/build_default_model.py)."""
    assert DEFAULT_MODEL.is_file(), f"{DEFAULT_MODEL} is missing: it is committed with the repo"
    return DEFAULT_MODEL
