"""Child process of `validate()`: limit itself, load the model, predict, report JSON.

Usage (by `inference.validation` only): python -m inference._validate_worker REQUEST_JSON

Prints one JSON line: {"spec": {...}} on success, {"error": "ClassName", "message": "..."}
on a typed failure. A crash shows as a signal in the exit status, which the parent maps.
"""

from __future__ import annotations

import json
import resource
import sys
from typing import Any


def _limit(memory_bytes: int, cpu_seconds: float) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    soft = max(1, int(cpu_seconds))
    # The soft limit sends SIGXCPU; the hard limit, a second later, SIGKILL.
    resource.setrlimit(resource.RLIMIT_CPU, (soft, soft + 1))


def _check(request: dict[str, Any]) -> dict[str, Any]:
    # Imported after the limits are set: the runtime's own start-up counts too.
    from inference.config import ModelConfig
    from inference.model import Model

    config = request["config"]
    model = Model.from_path(
        request["path"],
        labels=request["labels"],
        config=ModelConfig.from_mapping(config) if isinstance(config, dict) else config,
        backend=request["backend"],
        num_threads=1,
    )
    model.self_check()
    return {"spec": model.spec.to_dict()}


def main(argv: list[str]) -> int:
    request = json.loads(argv[1])
    _limit(int(request["memory_bytes"]), float(request["cpu_seconds"]))
    from inference.errors import ModelTooLargeError

    try:
        report = _check(request)
    except (MemoryError, ModelTooLargeError):
        report = {
            "error": "ResourceLimitExceeded",
            "message": f"the model needs more than the {request['memory_bytes']:,} byte limit",
        }
    except Exception as exc:  # every failure must reach the parent as a report
        from inference.errors import InferenceError

        typed = isinstance(exc, InferenceError)
        report = {
            "error": type(exc).__name__ if typed else "InvalidModelError",
            "message": str(exc) if typed else f"{type(exc).__name__}: {exc}",
        }
    print(json.dumps(report), flush=True)
    return 0 if "spec" in report else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
