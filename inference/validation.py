"""`validate(path)`: vouch for an untrusted model file without risking this process.

The model is loaded and run on a synthetic photo in a child process
(`python -m inference._validate_worker`) that caps its own address space (RLIMIT_AS) and
CPU time (RLIMIT_CPU) before importing the runtime; the parent enforces a wall-clock
timeout. Whatever happens in the child (a Python error, a MemoryError, a segfault in the
runtime, a CPU-limit signal, a hang) comes back as a typed `InferenceError`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from . import errors
from .config import ModelConfig
from .spec import ModelSpec

__all__ = ["DEFAULT_LIMITS", "Limits", "outcome_error", "validate"]

Limits = dict[str, float]
# 2 GiB of address space: the runtime, NumPy and Pillow map about 1 GiB before any model.
DEFAULT_LIMITS: Limits = {"memory_bytes": 2 * 1024**3, "cpu_seconds": 30.0, "timeout": 60.0}
_STDERR_TAIL = 400


def validate(
    path: str | os.PathLike[str],
    *,
    labels: str | os.PathLike[str] | None = None,
    config: ModelConfig | str | os.PathLike[str] | None = None,
    backend: str | None = None,
    memory_bytes: int = int(DEFAULT_LIMITS["memory_bytes"]),
    cpu_seconds: float = DEFAULT_LIMITS["cpu_seconds"],
    timeout: float = DEFAULT_LIMITS["timeout"],
) -> ModelSpec:
    """Load `path` and predict a synthetic photo in a limited child process.

    Returns the `ModelSpec` (as `Model.from_path` would build it), or raises the typed
    error: `ModelError`/`LabelsError`/`ConfigError` subclasses for a bad model, labels or
    config, `ValidationTimeout`, `ResourceLimitExceeded` or `ModelCrashed` otherwise.
    """
    request = {
        # Absolute paths: the child must find the same files whatever its directory.
        "path": os.path.abspath(path),
        "labels": os.path.abspath(labels) if labels is not None else None,
        "config": _config_argument(config),
        "backend": backend,
        "memory_bytes": memory_bytes,
        "cpu_seconds": cpu_seconds,
    }
    command = [sys.executable, "-m", "inference._validate_worker", json.dumps(request)]
    package_root = str(Path(__file__).resolve().parent.parent)
    pythonpath = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            timeout=timeout,
            env={**os.environ, "PYTHONPATH": pythonpath},
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise errors.ValidationTimeout(
            f"validating {Path(path).name} took longer than {timeout:g} s"
        ) from None
    return _outcome(done.returncode, done.stdout, done.stderr, request)


def _config_argument(config: ModelConfig | str | os.PathLike[str] | None) -> object:
    if isinstance(config, ModelConfig):
        return config.to_dict()
    return os.path.abspath(config) if config is not None else None


def _outcome(returncode: int, stdout: bytes, stderr: bytes, request: dict[str, Any]) -> ModelSpec:
    try:
        report = json.loads(stdout.decode("utf-8").strip().splitlines()[-1])
    except (UnicodeDecodeError, json.JSONDecodeError, IndexError):
        report = None
    if returncode == 0 and isinstance(report, dict) and "spec" in report:
        return ModelSpec.from_dict(report["spec"])
    raise outcome_error(returncode, report, stderr.decode("utf-8", "replace"), request)


def outcome_error(
    returncode: int, report: object, stderr: str, request: dict[str, Any]
) -> errors.InferenceError:
    """The typed error for a failed child: its own report, else how it died."""
    name = Path(str(request["path"])).name
    if isinstance(report, dict) and "error" in report:
        cls = getattr(errors, str(report["error"]), None)
        if isinstance(cls, type) and issubclass(cls, errors.InferenceError):
            return cls(str(report.get("message", "")))
    if returncode < 0:
        return _signal_error(-returncode, name, request)
    tail = stderr.strip()[-_STDERR_TAIL:]
    return errors.ModelCrashed(
        f"validating {name} failed with exit status {returncode} and no report: {tail}"
    )


def _signal_error(signum: int, name: str, request: dict[str, Any]) -> errors.InferenceError:
    if signum in (signal.SIGXCPU, signal.SIGKILL):
        return errors.ResourceLimitExceeded(
            f"validating {name} hit the CPU-time limit of {request['cpu_seconds']:g} s "
            f"(or was killed, signal {signal.Signals(signum).name})"
        )
    try:
        signame = signal.Signals(signum).name
    except ValueError:
        signame = str(signum)
    return errors.ModelCrashed(f"the runtime crashed on {name} ({signame})")
