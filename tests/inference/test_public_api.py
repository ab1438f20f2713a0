"""The public face of `inference`: its names, and that it stands alone."""

from __future__ import annotations

import inspect
import subprocess
import sys

import inference
from inference import errors


def test_all_lists_exactly_the_public_names() -> None:
    public = {
        name
        for name, value in vars(inference).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert set(inference.__all__) == public
    assert sorted(inference.__all__) == inference.__all__


def test_every_error_is_an_inference_error_and_exported() -> None:
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.InferenceError)
        assert getattr(inference, name) is cls
        assert name in (errors.__doc__ or ""), f"{name} missing from the drawn error tree"


def test_inference_imports_nothing_from_the_api_side() -> None:
    code = (
        "import sys, inference; "
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('api', 'strawberry', 'starlette', 'pymongo')]; "
        "print(bad)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
