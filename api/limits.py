"""Limits on what one request may make the service read: its body's size, and the shape
of its JSON.

Starlette reads a body of any size (a multipart upload is spooled to disk). The middleware
here refuses one whose ``Content-Length`` is over the cap before reading it, and counts the
bytes as they arrive otherwise: the header may be absent (chunked transfer) or lie. Past the
cap the request is cut off and answered 413 with a JSON message. Uploads (multipart) may be
as large as PHOTOSURVEY_MAX_UPLOAD_BYTES; any other request at most `MAX_REQUEST_BYTES`.

A JSON body (or multipart part) is read by `read_json`, which walks it once
(`json_problem`) before strawberry sees it: the parser, strawberry's conversion of variables
and the checks after it all run on the event loop, so a body of millions of small items
would hold every other request (20 MB of one-letter tags: 9 s).
"""

from __future__ import annotations

import json
from typing import Any

from cross_web import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.http.parse_content_type import parse_content_type

MAX_REQUEST_BYTES = 1024 * 1024
"""The body of a request that is not an upload: a GraphQL query is at most 20,000
characters (`api.documents`), and no operation's variables come near the rest."""
MAX_JSON_ITEMS = 1000
"""Entries in one JSON list or object: no operation takes more than 20 (the tags of a
DESCRIBE answer)."""


class _BodyTooLarge(Exception):
    """Raised inside `receive` to unwind the app once the cap is passed."""


class BodySizeLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_upload_bytes: int) -> None:
        self.app = app
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, what = self._limit(scope)
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _refuse(send, limit, what)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if started:  # too late for a 413; the connection is cut instead
                raise
            await _refuse(send, limit, what)

    def _limit(self, scope: Scope) -> tuple[int, str]:
        """The cap for this request, and what it is called in the refusal."""
        # Read as strawberry reads it, so that only what it takes as multipart gets the cap of
        # uploads ("multipart/form-data+application/json" is JSON to it).
        media_type, _ = parse_content_type(_header(scope, b"content-type") or "")
        if media_type == "multipart/form-data":
            return self.max_upload_bytes, "for an upload (PHOTOSURVEY_MAX_UPLOAD_BYTES)"
        return min(MAX_REQUEST_BYTES, self.max_upload_bytes), "for a request that is not an upload"


async def _refuse(send: Send, limit: int, what: str) -> None:
    body = json.dumps(
        {"error": f"the request body is larger than the limit of {limit:,} bytes {what}"}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def read_json(data: str | bytes, *, what: str) -> object:
    """`data` decoded; else an HTTP 400 saying what is wrong with `what` ("the request", "the
    multipart 'map' part"): not JSON; JSON that cannot be read (invalid UTF-8, nesting deeper
    than the parser's stack, an integer of over 4,300 digits), each of which would otherwise
    be a 500; or JSON that `json_problem` refuses."""
    try:
        decoded = json.loads(data)
    except json.JSONDecodeError as exc:
        raise HTTPException(400, f"{what} is not JSON: {exc}") from exc
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise HTTPException(400, f"{what} cannot be read as JSON: {exc}") from exc
    problem = json_problem(decoded)
    if problem is not None:
        raise HTTPException(400, f"{what} {problem}")
    return decoded


def json_problem(value: Any) -> str | None:
    """What makes a decoded JSON request unfit to go further ("holds ..."), or None.

    A lone surrogate: no database or log can hold one. A list or object of more than
    `MAX_JSON_ITEMS` entries. Strings are checked by the UTF-8 encoder (which refuses exactly
    the surrogates) rather than character by character, and nesting is walked with a list,
    not recursion (the JSON parser accepts deeper nesting than a recursive walk).
    """
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return (
                    "holds a lone surrogate (a \\ud800-\\udfff escape without its pair); "
                    "send valid Unicode"
                )
        elif isinstance(item, dict | list):
            if len(item) > MAX_JSON_ITEMS:
                kind = "an object" if isinstance(item, dict) else "a list"
                return f"holds {kind} of {len(item):,} entries; at most {MAX_JSON_ITEMS:,}"
            if isinstance(item, dict):
                pending += item.keys()
                pending += item.values()
            else:
                pending += item
    return None
