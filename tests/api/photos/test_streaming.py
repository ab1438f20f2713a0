"""Originals are streamed from GridFS a few chunks at a time: byte-identical, with their
headers, and without a cursor or connection left behind by a client that goes away."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from gridfs.errors import CorruptGridFile
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message

from api.app import create_app
from api.database import Database
from api.photos import files
from api.photos.ingest import Added, ingest_photo
from api.photos.records import PhotoRecord
from api.settings import Settings
from tests.api.photos.builders import bearer, noise_png

MIB = 1024 * 1024


async def _original(
    db: Database, width: int = 1100, height: int = 1000
) -> tuple[PhotoRecord, bytes]:
    """A stored photo whose original spans several read batches and ends in a short chunk."""
    data = noise_png(width, height)
    assert len(data) > 8 * files.CHUNK_BYTES
    assert len(data) % files.CHUNK_BYTES != 0
    result = await ingest_photo(db, data, filename="noise.png", source="import")
    assert isinstance(result, Added)
    return result.photo, data


async def test_an_original_arrives_byte_identical_with_its_headers(
    http: httpx.AsyncClient, db: Database
) -> None:
    photo, data = await _original(db)
    response = await http.get(
        f"/photos/{photo.id}", params={"size": "original"}, headers=await bearer(db, "cy")
    )

    assert response.status_code == 200
    assert response.content == data
    assert response.headers["content-length"] == str(len(data))
    assert response.headers["content-type"] == "image/png"
    assert response.headers["etag"] == f'"{hashlib.sha256(data).hexdigest()}"'
    assert response.headers["cache-control"].startswith("private, max-age=")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "transfer-encoding" not in response.headers


async def test_head_and_a_matching_etag_answer_without_the_bytes(
    http: httpx.AsyncClient, db: Database
) -> None:
    photo, data = await _original(db)
    headers = await bearer(db, "cy")
    url, params = f"/photos/{photo.id}", {"size": "original"}

    head = await http.head(url, params=params, headers=headers)
    unchanged = await http.get(
        url, params=params, headers={**headers, "if-none-match": head.headers["etag"]}
    )

    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(data))
    assert head.headers["etag"] == f'"{photo.sha256}"'
    assert head.headers["content-type"] == "image/png"
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged.headers["etag"] == head.headers["etag"]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ({"$set": {"data": b"short"}}, "chunk #5 is 5 bytes; expected 261,120"),
        (None, "has no chunk #5"),
    ],
)
async def test_a_damaged_file_is_never_read_whole(
    db: Database, damage: dict[str, Any] | None, message: str
) -> None:
    photo, _ = await _original(db)
    chunk = {"files_id": photo.original_file_id, "n": 5}
    if damage is None:
        await db[files.CHUNKS].delete_one(chunk)
    else:
        await db[files.CHUNKS].update_one(chunk, damage)
    opened = await files.open_file(db, photo.original_file_id)
    assert opened is not None

    with pytest.raises(CorruptGridFile, match=message):
        await opened.read()


# --- the ASGI exchange itself: how the body is sent, and a client that goes away ---------


def _scope(path: str, *, query: str, headers: dict[str, str], spec_version: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": spec_version},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("photosurvey.test", 80),
    }


async def _exchange(
    app: ASGIApp, scope: dict[str, Any], *, leave_after: int | None = None
) -> list[Message]:
    """Run one request through `app`; the messages it sent. With `leave_after`, the client
    goes away after that many body messages: ``receive`` says so, and ``send`` then does
    nothing (ASGI 2.3 servers such as uvicorn) or fails (2.4 servers)."""
    send_fails = scope["asgi"]["spec_version"] == "2.4"
    sent: list[Message] = []
    gone = asyncio.Event()
    requested = False

    async def receive() -> Message:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if gone.is_set():
            if send_fails:
                raise OSError("the client went away")
            return
        sent.append(message)
        bodies = sum(m["type"] == "http.response.body" for m in sent)
        if leave_after is not None and bodies >= leave_after:
            gone.set()

    try:
        await app(scope, receive, send)
    except ClientDisconnect:  # how Starlette ends a 2.4 response whose send failed
        assert leave_after is not None
    return sent


@asynccontextmanager
async def _started(settings: Settings) -> AsyncIterator[ASGIApp]:
    async with LifespanManager(create_app(settings)) as manager:
        yield manager.app


async def _server_status(db: Database) -> dict[str, Any]:
    status = await db.client.admin.command("serverStatus")
    return {
        "cursors": status["metrics"]["cursor"]["open"]["total"],
        "connections": status["connections"]["current"],
    }


async def test_the_original_is_sent_a_chunk_at_a_time(settings: Settings, db: Database) -> None:
    photo, data = await _original(db)
    scope = _scope(
        f"/photos/{photo.id}",
        query="size=original",
        headers=await bearer(db, "cy"),
        spec_version="2.3",
    )
    async with _started(settings) as app:
        sent = await _exchange(app, scope)

    pieces = [m["body"] for m in sent if m["type"] == "http.response.body"]
    assert b"".join(pieces) == data
    assert max(len(piece) for piece in pieces) == files.CHUNK_BYTES
    assert len([p for p in pieces if p]) == -(-len(data) // files.CHUNK_BYTES)


@pytest.mark.parametrize("spec_version", ["2.3", "2.4"])
async def test_a_client_that_leaves_mid_stream_leaves_no_cursor_or_connection(
    settings: Settings, db: Database, spec_version: str
) -> None:
    photo, data = await _original(db)
    headers = await bearer(db, "cy")
    scope = _scope(
        f"/photos/{photo.id}", query="size=original", headers=headers, spec_version=spec_version
    )
    async with _started(settings) as app:
        await _exchange(app, scope)  # the app's pool holds its connection from now on
        before = await _server_status(db)
        for _ in range(10):
            sent = await _exchange(app, scope, leave_after=2)
            assert len(sent) < 1 + len(data) // files.CHUNK_BYTES  # it stopped early
        after = await _server_status(db)
        again = await _exchange(app, scope)

    assert after["cursors"] == before["cursors"]
    assert after["connections"] <= before["connections"] + 1
    assert b"".join(m.get("body", b"") for m in again) == data
