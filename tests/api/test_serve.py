"""The real `photosurvey serve` process: start, answer, stop on SIGINT with no orphan."""

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.embedded import EmbeddedDatabase, free_port, port_listens
from tests.processes import (
    PHOTOSURVEY,
    children_of,
    command_line,
    photosurvey_environment,
    wait_until_gone,
)


def _wait_ready(base_url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "photosurvey serve exited during start-up"
        # Ask over HTTP only once the port listens: a refused httpx connection leaves its
        # socket to the garbage collector (a ResourceWarning, an error in this suite).
        port = int(base_url.rsplit(":", 1)[1])
        if port_listens(port) and httpx.get(f"{base_url}/readyz", timeout=5).status_code == 200:
            return
        time.sleep(0.2)
    raise AssertionError(f"{base_url}/readyz never answered 200")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    env = photosurvey_environment(
        PHOTOSURVEY_DATA_DIR=str(tmp_path / "var"),
        PHOTOSURVEY_PORT=str(port),
        PHOTOSURVEY_ENV="dev",
    )
    process = subprocess.Popen(
        [PHOTOSURVEY, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        yield process, f"http://127.0.0.1:{port}"
    finally:
        process.kill()
        process.wait()


def test_serve_answers_then_stops_on_sigint_leaving_no_database(
    served: tuple[subprocess.Popen[bytes], str],
) -> None:
    process, base_url = served
    _wait_ready(base_url, process)
    reply = httpx.post(f"{base_url}/graphql", json={"query": "{ serverInfo { database } }"})
    assert reply.json() == {"data": {"serverInfo": {"database": "EMBEDDED"}}}
    (database,) = children_of(process.pid)
    assert "secantus" in command_line(database)

    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 0
    assert wait_until_gone(database, timeout=5)


def test_sigkill_of_the_service_leaves_no_database(
    served: tuple[subprocess.Popen[bytes], str],
) -> None:
    process, base_url = served
    _wait_ready(base_url, process)
    (database,) = children_of(process.pid)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert wait_until_gone(database), f"database process {database} outlived the service"


@pytest.mark.parametrize(
    ("variable", "value"),
    [("PHOTOSURVEY_PORT", "abc"), ("PHOTOSURVEY_ENV", "staging"), ("PHOTOSURVEY_MONGODB_URI", "x")],
)
def test_a_bad_setting_stops_start_up_naming_the_variable(variable: str, value: str) -> None:
    result = subprocess.run(
        [PHOTOSURVEY, "serve"],
        env=photosurvey_environment(**{variable: value}),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert variable in result.stderr
    assert "Traceback" not in result.stderr


def test_a_tls_file_the_driver_cannot_use_stops_start_up_naming_the_variable(
    tmp_path: Path,
) -> None:
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate\n")
    result = subprocess.run(
        [PHOTOSURVEY, "serve"],
        env=photosurvey_environment(
            PHOTOSURVEY_MONGODB_URI=f"mongodb://db.invalid/?tls=true&tlsCAFile={not_pem}",
            PHOTOSURVEY_ENV="dev",
            PHOTOSURVEY_DATA_DIR=str(tmp_path / "var"),
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith(
        "photosurvey: configuration error: PHOTOSURVEY_MONGODB_URI names TLS files the driver "
        f"cannot use (tlsCAFile={str(not_pem)!r}): [X509: NO_CERTIFICATE_OR_CRL_FOUND]"
    )
    assert "Traceback" not in result.stderr


def test_a_data_folder_in_use_stops_start_up_with_one_line(tmp_path: Path) -> None:
    running = EmbeddedDatabase.start(tmp_path / "db")  # as if another service ran on it
    try:
        running.wait_until_ready()
        result = subprocess.run(
            [PHOTOSURVEY, "serve"],
            env=photosurvey_environment(
                PHOTOSURVEY_DATA_DIR=str(tmp_path),
                PHOTOSURVEY_PORT=str(free_port()),
                PHOTOSURVEY_ENV="dev",
            ),
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        running.stop()
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"photosurvey: database error: the data folder {tmp_path} is in use")


@pytest.mark.parametrize("arguments", [[], ["nonsense"], ["export-schema", "--bogus"]])
def test_bad_command_line_is_a_usage_error(arguments: list[str]) -> None:
    result = subprocess.run([PHOTOSURVEY, *arguments], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "usage: photosurvey" in result.stderr


def test_export_schema_writes_the_schema(tmp_path: Path) -> None:
    target = tmp_path / "schema.graphql"
    result = subprocess.run(
        [PHOTOSURVEY, "export-schema", "--output", str(target)], capture_output=True, timeout=30
    )
    assert result.returncode == 0
    assert "serverInfo: ServerInfo!" in target.read_text()
