"""The real `photosurvey serve` process: start, answer, stop on a signal with no orphan."""

import json
import signal
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from api.embedded import EmbeddedDatabase, free_port
from tests.processes import (
    PHOTOSURVEY,
    children_of,
    command_line,
    photosurvey_environment,
    wait_until_gone,
    wait_until_ready,
)


@dataclass(frozen=True)
class Served:
    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path  # its standard error: the service's log

    def log(self) -> list[dict[str, object]]:
        """The JSON lines of the log (the inference runtime's own lines are not JSON)."""
        lines = self.log_path.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    port = free_port()
    env = photosurvey_environment(
        PHOTOSURVEY_DATA_DIR=str(tmp_path / "var"),
        PHOTOSURVEY_PORT=str(port),
        PHOTOSURVEY_ENV="dev",
    )
    log_path = tmp_path / "service.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [PHOTOSURVEY, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=log
        )
    try:
        yield Served(process, f"http://127.0.0.1:{port}", log_path)
    finally:
        process.kill()
        process.wait()


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_serve_answers_then_stops_cleanly_on_a_signal_leaving_no_database(
    served: Served, stop: signal.Signals
) -> None:
    process = served.process
    wait_until_ready(served.base_url, process)
    reply = httpx.post(f"{served.base_url}/graphql", json={"query": "{ serverInfo { database } }"})
    assert reply.json() == {"data": {"serverInfo": {"database": "EMBEDDED"}}}
    (database,) = children_of(process.pid)
    assert "secantus" in command_line(database)

    process.send_signal(stop)
    assert process.wait(timeout=30) == 0
    assert wait_until_gone(database, timeout=5)
    # Stopped in order by the service (SIGTERM, exit 0), not killed with it.
    stopped = [line for line in served.log() if line["message"] == "embedded database stopped"]
    assert stopped == [stopped[0] | {"code": 0}]


def test_sigkill_of_the_service_leaves_no_database(served: Served) -> None:
    process = served.process
    wait_until_ready(served.base_url, process)
    (database,) = children_of(process.pid)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert wait_until_gone(database), f"database process {database} outlived the service"


def test_a_port_in_use_stops_start_up_with_one_line_before_the_database_starts(
    tmp_path: Path,
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = subprocess.run(
            [PHOTOSURVEY, "serve"],
            env=photosurvey_environment(
                PHOTOSURVEY_DATA_DIR=str(tmp_path / "var"),
                PHOTOSURVEY_PORT=str(port),
                PHOTOSURVEY_ENV="dev",
            ),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert result.stderr == (
        f"photosurvey: configuration error: cannot listen on 127.0.0.1:{port} "
        "(PHOTOSURVEY_HOST, PHOTOSURVEY_PORT): Address already in use\n"
    )
    assert result.stdout == ""  # no demo tokens
    assert not (tmp_path / "var").exists()  # no database was started


@pytest.mark.parametrize("header_bytes", [20 * 1024, 200 * 1024, 2 * 1024 * 1024])
def test_a_request_head_over_16_kib_gets_431_not_a_reset(served: Served, header_bytes: int) -> None:
    wait_until_ready(served.base_url, served.process)
    port = int(served.base_url.rsplit(":", 1)[1])
    request = b"GET /healthz HTTP/1.1\r\nHost: photosurvey\r\nX-Big: %s\r\n\r\n" % (
        b"a" * header_bytes
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(request)
        answer = b"".join(iter(lambda: client.recv(65536), b""))
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert body == b"the request line and headers are over 16 KiB"
    # httpx, as a client library sees it; and the service goes on answering.
    too_large = httpx.get(f"{served.base_url}/healthz", headers={"x-big": "a" * header_bytes})
    assert too_large.status_code == 431
    assert httpx.get(f"{served.base_url}/healthz").status_code == 200


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
