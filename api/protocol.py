"""The HTTP/1.1 protocol the service runs on: uvicorn's h11 one, with two fixes for requests
that h11 refuses.

- A request head (request line and headers) over `MAX_HEAD_BYTES` gets 431 Request Header
  Fields Too Large, not uvicorn's 400. h11 measures a head only while it is incomplete, so
  one that arrives whole in a single read would slip past its limit; it is measured here
  too, and the limit holds however the bytes arrive.
- The refusal reaches the client. uvicorn closes the connection right after it, while the
  client may still be sending the rest of its request: the kernel then resets the
  connection, and the client reads "connection reset by peer" instead of the answer. Here
  the connection is half-closed and what still comes is read and dropped for up to
  `LINGER_SECONDS` (as nginx's ``lingering_close`` does).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

MAX_HEAD_BYTES = 16 * 1024  # h11's own default; far above any head a client sends here
LINGER_SECONDS = 2.0


class _Connection(h11.Connection):
    """h11's server connection, remembering why it refused a request."""

    def __init__(self) -> None:
        super().__init__(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
        self.refused_with: HTTPStatus | None = None

    def next_event(self) -> Any:  # h11's own annotation is a private union of types
        try:
            event = super().next_event()
        except h11.RemoteProtocolError as exc:
            self.refused_with = HTTPStatus(exc.error_status_hint)
            raise
        if isinstance(event, h11.Request) and _head_bytes(event) > MAX_HEAD_BYTES:
            self.refused_with = HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
            raise h11.RemoteProtocolError("request head too large", error_status_hint=431)
        return event


def _head_bytes(request: h11.Request) -> int:
    """About the size of the request's head as sent: its target and its header lines."""
    lines = (len(name) + len(value) + 4 for name, value in request.headers)  # ": ", CRLF
    return len(request.method) + len(request.target) + sum(lines)


class PhotoSurveyH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the fixes above; give it to uvicorn as ``http=``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn: _Connection = _Connection()
        self._lingering = False

    def data_received(self, data: bytes) -> None:
        if not self._lingering:  # after a refusal, what the client still sends is dropped
            super().data_received(data)

    def send_400_response(self, msg: str) -> None:
        status = self.conn.refused_with
        if status is not HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE:
            status, reason = HTTPStatus.BAD_REQUEST, msg
        else:
            reason = f"the request line and headers are over {MAX_HEAD_BYTES // 1024} KiB"
        body = reason.encode()
        headers = [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        for event in (
            h11.Response(status_code=status, headers=headers, reason=status.phrase),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event) or b"")
        self._linger()

    def _linger(self) -> None:
        """Half-close, drop what the client still sends, close when it is done or after
        `LINGER_SECONDS`."""
        self._lingering = True
        if self.transport.can_write_eof():  # not over TLS
            self.transport.write_eof()  # after what is buffered: the answer goes first
        self.loop.call_later(LINGER_SECONDS, self.transport.close)
