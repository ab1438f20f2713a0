#!/usr/bin/env bash
# Build the default EfficientNet-Lite0 models in their own venv (see build_default_model.py).
# Extra arguments go to the build script, e.g. --calib DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-model-build
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
# torch==2.13.0 is pinned in the requirements: its CPU wheel is found via PIP_FIND_LINKS.
"$VENV/bin/pip" install -q -r scripts/requirements-model-build.txt
"$VENV/bin/python" scripts/build_default_model.py "$@"
