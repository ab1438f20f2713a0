"""The Docker image and compose file. No Docker engine runs here, so the image's command is
run as the image would run it: its CMD, with the environment its ENV lines give, from a
folder holding what its WORKDIR holds (the models)."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from api.embedded import EmbeddedDatabase, free_port
from tests.processes import REPO, wait_until_ready

IMAGE_VENV_BIN = "/opt/venv/bin"
WRITABLE_PRIMARY = "quit(db.hello().isWritablePrimary ? 0 : 1)"


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """The final stage's instructions, as (keyword, arguments), continuation lines joined."""
    text = dockerfile.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    found = [
        (keyword.upper(), arguments.strip())
        for keyword, _, arguments in (line.partition(" ") for line in lines)
        if keyword and not keyword.startswith("#")
    ]
    last_from = max(i for i, (keyword, _) in enumerate(found) if keyword == "FROM")
    return found[last_from:]


def _image_command() -> list[str]:
    (command,) = [json.loads(args) for keyword, args in _instructions(REPO / "Dockerfile")
                  if keyword == "CMD"]  # fmt: skip
    assert isinstance(command, list)
    return [str(part) for part in command]


def _image_health_check() -> list[str]:
    (check,) = [args for keyword, args in _instructions(REPO / "Dockerfile")
                if keyword == "HEALTHCHECK"]  # fmt: skip
    command: list[str] = json.loads(check[check.index(" CMD ") + len(" CMD ") :])
    return command


def _image_environment(**overrides: str) -> dict[str, str]:
    """The ENV lines of the image, with its virtual environment standing for ours, over the
    base image's PATH (this machine's) and nothing else of this process's environment."""
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/")}
    for keyword, arguments in _instructions(REPO / "Dockerfile"):
        if keyword == "ENV":
            for item in shlex.split(arguments):
                name, _, value = item.partition("=")
                env[name] = value.replace("$PATH", env["PATH"])
    ours = str(Path(sys.executable).parent)
    env["PATH"] = env["PATH"].replace(IMAGE_VENV_BIN, ours)
    return env | overrides


@pytest.fixture
def image_environment(mongodb_uri: str, db_name: str) -> dict[str, str]:
    """As compose runs the image: MongoDB by URI and a secret key. Only the port is this
    machine's (8000 may be taken here)."""
    return _image_environment(
        PHOTOSURVEY_MONGODB_URI=mongodb_uri,
        PHOTOSURVEY_DB_NAME=db_name,
        PHOTOSURVEY_SECRET_KEY="s" * 32,
        PHOTOSURVEY_PORT=str(free_port()),
    )


def test_the_image_runs_photosurvey_serve_with_settings_from_its_environment() -> None:
    assert _image_command() == ["photosurvey", "serve"]
    env = _image_environment()
    assert env["PHOTOSURVEY_ENV"] == "production"
    assert env["PHOTOSURVEY_HOST"] == "0.0.0.0"
    assert "PHOTOSURVEY_SECRET_KEY" not in env  # never baked into an image


def test_the_image_command_serves_answers_its_health_check_and_stops_with_status_0(
    image_environment: dict[str, str],
) -> None:
    process = subprocess.Popen(
        _image_command(),
        env=image_environment,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base_url = f"http://127.0.0.1:{image_environment['PHOTOSURVEY_PORT']}"
        wait_until_ready(base_url, process)
        health = httpx.get(f"{base_url}/healthz")
        check = subprocess.run(
            _image_health_check(), env=image_environment, capture_output=True, timeout=30
        )
        process.send_signal(signal.SIGTERM)  # as `docker stop` does
        code = process.wait(timeout=30)
    finally:
        process.kill()
        process.wait()
    assert health.json() == {"status": "ok"}
    assert check.returncode == 0, check.stderr
    assert code == 0


def test_the_image_command_without_a_secret_key_says_so_in_one_line(
    image_environment: dict[str, str],
) -> None:
    del image_environment["PHOTOSURVEY_SECRET_KEY"]
    result = subprocess.run(
        _image_command(),
        env=image_environment,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(
        "photosurvey: configuration error: PHOTOSURVEY_SECRET_KEY is required when "
        "PHOTOSURVEY_ENV=production"
    )


def _compose_health_check() -> list[str]:
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    test: list[str] = compose["services"]["mongo"]["healthcheck"]["test"]
    return test


def test_compose_waits_for_a_writable_primary_before_starting_the_service() -> None:
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    kind, program, *options, script = _compose_health_check()
    assert (kind, program, options) == ("CMD", "mongosh", ["--quiet", "--eval"])
    assert script.rstrip().endswith(WRITABLE_PRIMARY)
    assert "rs.initiate(" in script  # the replica set is still initiated on first start
    condition = compose["services"]["photosurvey"]["depends_on"]["mongo"]["condition"]
    assert condition == "service_healthy"


LOCKED_MONGOSH = REPO / "tools" / "node_modules" / ".bin" / "mongosh"


def _mongosh() -> str:
    """The mongosh `make test` installs from tools/package-lock.json (or the one
    PHOTOSURVEY_TEST_MONGOSH names); missing, the test fails: it is never skipped."""
    found = os.environ.get("PHOTOSURVEY_TEST_MONGOSH") or str(LOCKED_MONGOSH)
    assert Path(found).is_file(), f"no mongosh at {found}: run `make test` (npm ci --prefix tools)"
    return found


@pytest.fixture
def mongosh_server(tmp_path: Path) -> Iterator[str]:
    server = EmbeddedDatabase.start(tmp_path / "db")
    try:
        server.wait_until_ready()
        yield server.uri
    finally:
        server.stop()


def test_compose_health_check_runs_in_mongosh(mongosh_server: str) -> None:
    mongosh = _mongosh()
    _, _, *options, script = _compose_health_check()

    def run(code: str) -> int:
        command = [mongosh, mongosh_server, *options, code]
        return subprocess.run(command, capture_output=True, timeout=60).returncode

    # The embedded server is a writable primary; the check's status follows the hello
    # reply, unlike a bare expression, which exits 0 even when it prints false.
    assert run(script) == 0
    assert run(WRITABLE_PRIMARY.replace("isWritablePrimary", "isNotAField")) == 1
    assert run("db.hello().isNotAField === true") == 0
