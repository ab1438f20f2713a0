from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager

from api.app import create_app
from api.database import Database
from api.settings import Settings

SMALL_LIMIT = 64 * 1024


@pytest.fixture
async def small_limit_http(settings: Settings, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """Like `http`, with PHOTOSURVEY_MAX_UPLOAD_BYTES at 64 KiB."""
    app = create_app(dataclasses.replace(settings, max_upload_bytes=SMALL_LIMIT))
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://photosurvey.test"
        ) as client,
    ):
        yield client
