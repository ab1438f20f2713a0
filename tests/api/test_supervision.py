"""A database that goes away: the embedded one is noticed, restarted (a bounded number of
times) and reported; requests meanwhile get DATABASE_UNAVAILABLE with HTTP 503, with any
database."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from api.embedded import EmbeddedDatabase, free_port
from api.settings import Settings
from tests.api.photos.builders import ADD_PHOTO, noise_png
from tests.conftest import serve
from tests.processes import (
    PHOTOSURVEY,
    children_of,
    photosurvey_environment,
    wait_until_ready,
)

DETECTED_WITHIN = 3.0  # the supervisor looks every 0.5 s
FAILS_FAST_WITHIN = 1.0  # instead of the driver's 5 s server-selection timeout
RECOVERED_WITHIN = 30.0
PHOTOS_QUERY = "{ photos(first: 1) { edges { cursor } } }"


@dataclass
class Service:
    process: subprocess.Popen[bytes]
    base_url: str
    admin_token: str
    log_path: Path


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    """The real `photosurvey serve` on an embedded database, in dev (demo tokens)."""
    port = free_port()
    env = photosurvey_environment(
        PHOTOSURVEY_DATA_DIR=str(tmp_path / "var"),
        PHOTOSURVEY_PORT=str(port),
        PHOTOSURVEY_ENV="dev",
        PHOTOSURVEY_PRELABEL_WORKER="off",
    )
    log_path = tmp_path / "service.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [PHOTOSURVEY, "serve"], env=env, stdout=subprocess.PIPE, stderr=log
        )
    try:
        assert process.stdout is not None
        token = next(
            line.split(b":", 1)[1].strip().decode()
            for line in process.stdout
            if line.strip().startswith(b"demo-admin:")
        )
        base_url = f"http://127.0.0.1:{port}"
        wait_until_ready(base_url, process)
        yield Service(process, base_url, token, log_path)
    finally:
        process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()


@dataclass
class PhotoWriter:
    """Adds photos one after another, keeping the ids the service acknowledged."""

    http: httpx.AsyncClient
    acknowledged: list[str] = field(default_factory=list)
    unavailable: int = 0
    others: list[str] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            await self._add(noise_png(64, 64, seed=n))  # no two alike
            await asyncio.sleep(0.02)

    async def _add(self, photo: bytes) -> None:
        reply = await self.http.post(
            "/graphql",
            data={"operations": _operations(), "map": '{"0": ["variables.file"]}'},
            files={"0": ("photo.png", photo, "image/png")},
        )
        body = reply.json()
        if reply.status_code == 200 and body["data"]["addPhoto"]["__typename"] == "PhotoAdded":
            self.acknowledged.append(body["data"]["addPhoto"]["photo"]["id"])
        elif reply.status_code == 503 and _codes(body) == ["DATABASE_UNAVAILABLE"]:
            self.unavailable += 1
        else:
            self.others.append(reply.text)

    async def until(self, count: int, *, within: float) -> None:
        deadline = time.monotonic() + within
        while len(self.acknowledged) < count:
            assert time.monotonic() < deadline, f"{len(self.acknowledged)} photos added"
            await asyncio.sleep(0.05)


def _operations() -> str:
    return json.dumps({"query": ADD_PHOTO, "variables": {"file": None}})


def _codes(body: dict[str, object]) -> list[object]:
    errors = body.get("errors")
    assert isinstance(errors, list)
    return [error["extensions"]["code"] for error in errors]


async def _poll(
    http: httpx.AsyncClient,
    path: str,
    *,
    until: Callable[[httpx.Response], bool],
    within: float,
) -> httpx.Response:
    deadline = time.monotonic() + within
    while True:
        response = await http.get(path)
        if until(response) or time.monotonic() > deadline:
            return response
        await asyncio.sleep(0.05)


async def test_a_killed_database_is_restarted_and_every_acknowledged_photo_is_kept(
    service: Service,
) -> None:
    stop = asyncio.Event()
    headers = {"authorization": f"Bearer {service.admin_token}"}
    async with httpx.AsyncClient(base_url=service.base_url, headers=headers, timeout=30) as http:
        writer = PhotoWriter(http)
        writing = asyncio.create_task(writer.run(stop))
        await writer.until(5, within=30)
        (database,) = children_of(service.process.pid)

        killed_at = time.monotonic()
        os.kill(database, signal.SIGKILL)
        down = await _poll(http, "/healthz", until=lambda r: r.status_code == 503, within=10)
        detected_after = time.monotonic() - killed_at
        not_ready = await http.get("/readyz")
        asked_at = time.monotonic()
        refused = await http.post("/graphql", json={"query": PHOTOS_QUERY})
        refused_after = time.monotonic() - asked_at

        back = await _poll(
            http, "/healthz", until=lambda r: r.status_code == 200, within=RECOVERED_WITHIN
        )
        ready = await http.get("/readyz")
        before_recovery = len(writer.acknowledged)
        await writer.until(before_recovery + 5, within=30)  # writes succeed again
        stop.set()
        await writing
        missing = [
            photo_id
            for photo_id in writer.acknowledged
            if (
                await http.post(
                    "/graphql",
                    json={"query": "query($id: ID!) { photo(id: $id) { id } }",
                          "variables": {"id": photo_id}},
                )
            ).json()
            != {"data": {"photo": {"id": photo_id}}}
        ]  # fmt: skip
    restarted = children_of(service.process.pid)
    service.process.send_signal(signal.SIGTERM)
    assert service.process.wait(timeout=30) == 0

    assert detected_after < DETECTED_WITHIN
    assert down.json()["status"] == "database down"
    assert down.json()["database"]["state"] == "restarting"
    assert down.json()["database"]["detail"].startswith("the embedded database exited (code -9)")
    assert not_ready.status_code == 503
    assert not_ready.json()["reason"].startswith("the database is unavailable (the embedded")
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "5"
    assert _codes(refused.json()) == ["DATABASE_UNAVAILABLE"]
    assert refused_after < FAILS_FAST_WITHIN

    assert back.json() == {"status": "ok", "database": {"state": "running", "restarts": 1}}
    assert ready.status_code == 200
    assert len(restarted) == 1
    assert restarted != [database]
    assert writer.others == []
    assert missing == []
    log = service.log_path.read_text()
    assert (
        '"level": "ERROR", "logger": "api.supervisor", "message": "embedded database exited' in log
    )
    assert (
        '"level": "WARNING", "logger": "api.supervisor", "message": "embedded database restarted'
        in log
    )


async def test_restarts_are_bounded_and_the_service_says_it_gave_up(
    service: Service, tmp_path: Path
) -> None:
    # Through the real process with the real delays (0.5 to 8 s, about 25 s in all): in a
    # test's process, the app's client would be closed while its monitor is connecting to
    # the lost server, which leaks that socket (PyMongo 4.20).
    storage = tmp_path / "var" / "db"
    (database,) = children_of(service.process.pid)
    # A storage folder the server can no longer open: every restart exits at once.
    storage.rename(tmp_path / "var" / "db-moved")
    storage.write_text("a file where the storage folder was")
    os.kill(database, signal.SIGKILL)
    async with httpx.AsyncClient(base_url=service.base_url, timeout=30) as http:
        failed = await _poll(
            http,
            "/healthz",
            until=lambda r: r.json()["database"]["state"] == "failed",
            within=120,
        )
        not_ready = await http.get("/readyz")
        asked_at = time.monotonic()
        refused = await http.post("/graphql", json={"query": PHOTOS_QUERY})
        refused_after = time.monotonic() - asked_at
        photo = await http.get(
            "/photos/0123456789abcdef01234567", headers={"authorization": "Bearer ps_any"}
        )
    left = children_of(service.process.pid)
    service.process.send_signal(signal.SIGTERM)
    assert service.process.wait(timeout=30) == 0

    assert failed.status_code == 503
    assert failed.json() == {
        "status": "database down",
        "database": {
            "state": "failed",
            "restarts": 0,
            "detail": "the embedded database exited (code -9); 5 restarts did not keep it "
            "running; see database.log in the data folder, then restart the service",
        },
    }
    assert not_ready.status_code == 503
    assert refused.status_code == 503
    assert refused.json()["errors"][0]["message"] == (
        "the database is unavailable (the embedded database could not be restarted); the "
        "service needs an operator"
    )
    assert refused_after < FAILS_FAST_WITHIN
    assert (photo.status_code, photo.headers["retry-after"]) == (503, "5")
    assert photo.json()["error"].startswith("the database is unavailable (the embedded database")
    assert left == []  # no server left running, none restarting
    log = [json.loads(line) for line in service.log_path.read_text().splitlines()
           if line.startswith("{")]  # fmt: skip
    supervision = [(line["level"], line["message"]) for line in log
                   if line["logger"] == "api.supervisor"]  # fmt: skip
    assert supervision == [
        ("ERROR", "embedded database exited; restarting it"),
        *[("ERROR", "embedded database restart failed")] * 5,
        ("ERROR", "embedded database not restarted: giving up"),
    ]
    tries = [line for line in log if line["message"] == "embedded database restart failed"]
    assert "File exists" in tries[0]["reason"]


async def test_a_lost_mongodb_connection_is_database_unavailable_not_an_unexpected_error(
    tmp_path: Path,
) -> None:
    # A server the service reaches by URI, as it would MongoDB: it is not the service's to
    # restart, so requests fail after the URI's server-selection timeout, with a clear error.
    server = EmbeddedDatabase.start(tmp_path / "db")
    try:
        server.wait_until_ready()
        settings = Settings(
            mongodb_uri=f"{server.uri}&serverSelectionTimeoutMS=1000",
            db_name="lost",
            secret_key="k" * 32,
            prelabel_worker=False,
        )
        unknown = {"authorization": "Bearer ps_unknown"}  # its check reads the database
        async with serve(settings, shutdown_timeout=30) as http:
            server.stop()
            asked_at = time.monotonic()
            refused = await http.post("/graphql", json={"query": PHOTOS_QUERY}, headers=unknown)
            refused_after = time.monotonic() - asked_at
            photo = await http.get("/photos/0123456789abcdef01234567", headers=unknown)
            alive = await http.get("/healthz")
            server = EmbeddedDatabase.start(tmp_path / "db", port=server.port)
            server.wait_until_ready()
            # Back, the same request reaches the database (the token matches no one). The
            # app stops with its database back (see test_app's readyz test).
            again = await _poll(
                http, "/readyz", until=lambda r: r.status_code == 200, within=RECOVERED_WITHIN
            )
            answered = await http.post("/graphql", json={"query": PHOTOS_QUERY}, headers=unknown)
    finally:
        server.stop()
    assert refused.status_code == 503
    assert refused.json()["errors"] == [
        {
            "message": "the database is unavailable (no connection to it); try again in a few "
            "seconds",
            "locations": [{"line": 1, "column": 3}],
            "path": ["photos"],
            "extensions": {"code": "DATABASE_UNAVAILABLE"},
        }
    ]
    assert refused_after < 4  # the URI's 1 s, not the default 5 s
    assert photo.status_code == 503
    assert photo.json() == {
        "error": "the database is unavailable (no connection to it); try again in a few seconds"
    }
    assert alive.json() == {"status": "ok"}  # no supervisor: readiness reports the database
    assert again.status_code == 200
    assert _codes(answered.json()) == ["UNAUTHENTICATED"]
