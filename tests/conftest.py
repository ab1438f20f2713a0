"""Shared fixtures: one real database server per test session, a throwaway database per test."""

from __future__ import annotations

import gc
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import hypothesis
import pytest
from asgi_lifespan import LifespanManager

from api.app import INDEXES, create_app
from api.database import Database, connect, ensure_indexes
from api.embedded import EmbeddedDatabase
from api.settings import Settings
from api.survey import background, reestimation

# Property tests check results, not speed: on a shared CI machine one example can stall past
# hypothesis's default 200 ms deadline (a garbage collection, a busy neighbour).
hypothesis.settings.register_profile("photosurvey", deadline=None)
hypothesis.settings.load_profile("photosurvey")


@pytest.fixture(autouse=True)
def _collect_garbage_after_each_test() -> Iterator[None]:
    """Collect garbage after every test, so that a socket or file left unclosed warns (an
    error here, ``filterwarnings = error``) in the test that left it, not in whichever later
    test the garbage collector happens to run in."""
    yield
    gc.collect()


@pytest.fixture(scope="session")
def mongodb_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URI of a real server: ``PHOTOSURVEY_TEST_MONGODB_URI``, else the embedded one.

    A server that will not start fails the tests that need it; it never skips them.
    """
    external = os.environ.get("PHOTOSURVEY_TEST_MONGODB_URI")
    if external:
        yield external
        return
    server = EmbeddedDatabase.start(tmp_path_factory.mktemp("database") / "db")
    try:
        server.wait_until_ready()
        yield server.uri
    finally:
        server.stop()


@pytest.fixture
def db_name() -> str:
    return f"test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def db(mongodb_uri: str, db_name: str) -> AsyncIterator[Database]:
    """A throwaway database on the session's server, in this test's event loop, with every
    index the service creates at start-up (queries hint them)."""
    client = connect(mongodb_uri)
    try:
        await ensure_indexes(client[db_name], INDEXES)
        yield client[db_name]
        await client.drop_database(db_name)
    finally:
        await client.close()


@pytest.fixture
def cli_env(
    monkeypatch: pytest.MonkeyPatch, mongodb_uri: str, db_name: str, tmp_path: Path
) -> None:
    """The environment a `photosurvey` command reads, pointed at the test database."""
    monkeypatch.setenv("PHOTOSURVEY_MONGODB_URI", mongodb_uri)
    monkeypatch.setenv("PHOTOSURVEY_DB_NAME", db_name)
    monkeypatch.setenv("PHOTOSURVEY_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("PHOTOSURVEY_ENV", "dev")


@pytest.fixture
def background_paused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The service's background loops (re-estimation check, lease reaper) run their first pass
    at start, then not again during the test: for tests that count the server's reads or
    run a loop's step themselves."""
    monkeypatch.setattr(reestimation, "CHECK_EVERY_SECONDS", 3600.0)
    monkeypatch.setattr(background, "REAP_EVERY_SECONDS", 3600.0)


@pytest.fixture
def settings(mongodb_uri: str, db_name: str, tmp_path: Path) -> Settings:
    # No exploration: tests see the policy's order. No background pre-labelling: tests that
    # want it run it. Both have tests of their own.
    return Settings(
        mongodb_uri=mongodb_uri,
        db_name=db_name,
        data_dir=tmp_path,
        env="dev",
        exploration=0.0,
        prelabel_worker=False,
    )


@asynccontextmanager
async def serve(
    settings: Settings, *, shutdown_timeout: float = 5
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking through ASGI to an app started (lifespan run) with `settings`."""
    async with (
        LifespanManager(create_app(settings), shutdown_timeout=shutdown_timeout) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://photosurvey.test"
        ) as client,
    ):
        yield client


@pytest.fixture
async def http(settings: Settings, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the started app; `db` is its database."""
    async with serve(settings) as client:
        yield client
