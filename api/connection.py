"""Opening the configured database: MongoDB by URI, or the embedded server started here."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from api.database import Database, connect
from api.settings import Settings
from api.supervisor import DatabaseSupervisor


@dataclass(frozen=True)
class Connection:
    db: Database
    supervisor: DatabaseSupervisor | None
    """The embedded server's supervisor; None with MongoDB by URI."""


@asynccontextmanager
async def open_connection(settings: Settings) -> AsyncIterator[Connection]:
    """The service's database for the duration of the block; the embedded server, when
    started here, is supervised (restarted if it dies) and stopped at the end."""
    async with AsyncExitStack() as stack:
        uri = settings.mongodb_uri
        supervisor = None
        if uri is None:
            supervisor = DatabaseSupervisor(settings.data_dir / "db")
            stack.push_async_callback(asyncio.to_thread, supervisor.stop)
            uri = await asyncio.to_thread(supervisor.start)
        client = connect(uri)
        stack.push_async_callback(client.close)
        yield Connection(client[settings.db_name], supervisor)


@asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[Database]:
    """`open_connection`'s database alone, for the command-line tools."""
    async with open_connection(settings) as connection:
        yield connection.db
