"""Opening the configured database: MongoDB by URI, or the embedded server started here."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from api.database import Database, connect
from api.embedded import EmbeddedDatabase
from api.settings import Settings


@asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[Database]:
    """The service's database for the duration of the block; the embedded server, when
    started here, is stopped at the end."""
    async with AsyncExitStack() as stack:
        uri = settings.mongodb_uri
        if uri is None:
            # Spawned on the event loop's (main) thread: the child's parent-death signal is
            # tied to the spawning thread. Waiting may happen in another.
            server = EmbeddedDatabase.start(settings.data_dir / "db")
            stack.callback(server.stop)
            await asyncio.to_thread(server.wait_until_ready)
            uri = server.uri
        client = connect(uri)
        stack.push_async_callback(client.close)
        yield client[settings.db_name]
