# PhotoSurvey: `make run` serves, `make test` checks everything. Each sets itself up on a
# fresh machine that has only Python >= 3.11 and make: a virtual environment in .venv,
# installed from uv.lock.

PYTHON ?= python3
VENV := .venv
UV_VERSION := 0.13.9
BIN := $(VENV)/bin
# The marker is rebuilt whenever the project or the lock changes.
INSTALLED := $(VENV)/.installed
# mongosh runs compose.yaml's MongoDB health check in a test; from npm, as locked.
MONGOSH := tools/node_modules/.bin/mongosh

.PHONY: run test lint typecheck pytest test-tflite-runtime schema graphiql clean

run: $(INSTALLED)
	PHOTOSURVEY_ENV=$${PHOTOSURVEY_ENV:-dev} $(BIN)/photosurvey serve

test: lint typecheck pytest test-tflite-runtime

lint: $(INSTALLED)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: $(INSTALLED)
	$(BIN)/mypy

pytest: $(INSTALLED) $(MONGOSH)
	PHOTOSURVEY_TEST_MONGOSH=$(MONGOSH) $(BIN)/pytest -m "not tflite_runtime"

# The legacy tflite-runtime backend needs NumPy < 2, which must stay out of uv.lock: its
# tests run in a second environment built from the lock with only NumPy swapped.
test-tflite-runtime: $(INSTALLED)
	$(BIN)/python scripts/tflite_runtime_env.py --venv .venv-tflite-runtime -- \
		-m tflite_runtime tests/inference

schema: $(INSTALLED)
	$(BIN)/photosurvey export-schema --output schema.graphql

# GraphiQL's files, fetched again from npm (needs npm) at the versions pinned in api/graphiql.py.
graphiql: $(INSTALLED)
	$(BIN)/python scripts/vendor_graphiql.py

$(INSTALLED): pyproject.toml uv.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else \
		"PhotoSurvey needs Python >= 3.11; set PYTHON=/path/to/python3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(BIN)/uv sync --frozen --extra embedded
	touch $@

$(MONGOSH): tools/package.json tools/package-lock.json
	npm ci --prefix tools --no-audit --no-fund --loglevel=error
	touch $@

clean:
	rm -rf $(VENV) .venv-tflite-runtime .mypy_cache .ruff_cache .pytest_cache tools/node_modules
