from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from api.database import Database
from api.settings import Settings
from tests.conftest import serve

SMALL_LIMIT = 64 * 1024


@pytest.fixture
async def small_limit_http(settings: Settings, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """Like `http`, with PHOTOSURVEY_MAX_UPLOAD_BYTES at 64 KiB."""
    async with serve(dataclasses.replace(settings, max_upload_bytes=SMALL_LIMIT)) as client:
        yield client


@pytest.fixture
def cli_env(
    monkeypatch: pytest.MonkeyPatch, mongodb_uri: str, db_name: str, tmp_path: Path
) -> None:
    """The environment a `photosurvey` command reads, pointed at the test database."""
    monkeypatch.setenv("PHOTOSURVEY_MONGODB_URI", mongodb_uri)
    monkeypatch.setenv("PHOTOSURVEY_DB_NAME", db_name)
    monkeypatch.setenv("PHOTOSURVEY_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("PHOTOSURVEY_ENV", "dev")
