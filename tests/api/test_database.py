import asyncio
import socket
from collections.abc import Awaitable, Callable

import pytest

from api.database import connect

SockConnect = Callable[[asyncio.AbstractEventLoop, socket.socket, object], Awaitable[None]]


async def test_the_client_opens_no_background_connection_that_close_could_leak(
    mongodb_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PyMongo 4.20 leaks the socket of a connection whose connect() is cancelled by
    # close(). In streaming mode the monitor opens a third connection (its RTT monitor) in
    # the background at any time, which close() can catch half-open: with connects slowed,
    # 5 of 60 open/insert/close cycles left a socket open (a ResourceWarning, an error in
    # this suite). Polling monitors with the one connection opened before the first query.
    loop_class = type(asyncio.get_running_loop())
    real_sock_connect: SockConnect = loop_class.sock_connect  # type: ignore[assignment]
    attempts: list[object] = []

    async def counted(
        loop: asyncio.AbstractEventLoop, sock: socket.socket, address: object
    ) -> None:
        attempts.append(address)
        await real_sock_connect(loop, sock, address)

    monkeypatch.setattr(loop_class, "sock_connect", counted)
    client = connect(mongodb_uri)
    try:
        await client.test_sockets.things.insert_one({"n": 1})
        await asyncio.sleep(1.0)  # time for a background connection to open
    finally:
        await client.close()
    assert len(attempts) == 2, f"expected the monitor's and the pool's connections: {attempts}"
