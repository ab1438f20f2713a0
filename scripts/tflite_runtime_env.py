"""Run tests in a second environment that has the legacy ``tflite-runtime`` backend.

tflite-runtime 2.14 (its last release) fails to load any model under NumPy 2 and has wheels
only up to Python 3.11. The main environment and ``uv.lock`` use NumPy 2, so this builds
``--venv`` from the same lock with the ``tflite-runtime`` extra and only NumPy overridden
to ``<2``, installs the project into it, and runs pytest there with the given arguments.

When the backend cannot be installed here (another Python, no wheel for this platform), it
prints why and exits 0: those tests are then skipped with a printed reason, never silently.

    python scripts/tflite_runtime_env.py --venv .venv-tflite-runtime -- -m tflite_runtime tests
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SKIPPED = "SKIPPED tflite-runtime tests:"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, required=True)
    parser.add_argument("pytest_args", nargs="*", help="arguments for pytest (after --)")
    args = parser.parse_args()
    if sys.version_info[:2] != (3, 11):
        print(f"{SKIPPED} tflite-runtime 2.14 has no wheel for Python {sys.version.split()[0]}")
        return 0
    python = args.venv / "bin" / "python"
    try:
        _install(args.venv, python)
    except subprocess.CalledProcessError as exc:
        print(f"{SKIPPED} could not install the environment ({exc.cmd[0]} exit {exc.returncode})")
        return 0
    return subprocess.call([str(python), "-m", "pytest", *args.pytest_args], cwd=REPO)


def _install(venv: Path, python: Path) -> None:
    uv = Path(sys.executable).with_name("uv")
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    with tempfile.TemporaryDirectory() as scratch:
        requirements = Path(scratch) / "requirements.txt"
        overrides = Path(scratch) / "overrides.txt"
        subprocess.run(
            [str(uv), "export", "--frozen", "--quiet", "--extra", "tflite-runtime",
             "--no-emit-project", "--no-hashes", "--output-file", str(requirements)],
            check=True, cwd=REPO,
        )  # fmt: skip
        overrides.write_text("numpy<2\n")
        subprocess.run(
            [str(uv), "pip", "install", "--quiet", "--python", str(python),
             "--requirements", str(requirements), "--override", str(overrides)],
            check=True, cwd=REPO,
        )  # fmt: skip
        subprocess.run(
            [str(uv), "pip", "install", "--quiet", "--python", str(python), "--no-deps",
             "--editable", str(REPO)],
            check=True, cwd=REPO,
        )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
