from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

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
