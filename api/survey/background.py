"""Background work of the survey that any number of processes may run side by side."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from api.database import Database
from api.survey.tasks import reap_expired_holds

logger = logging.getLogger(__name__)

REAP_EVERY_SECONDS = 5.0


@asynccontextmanager
async def run_lease_reaper(
    db: Database, *, every: float = REAP_EVERY_SECONDS
) -> AsyncIterator[None]:
    """Return expired leases' slots to the pool every `every` seconds while the block runs."""
    task = asyncio.create_task(_reap_forever(db, every), name="lease-reaper")
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _reap_forever(db: Database, every: float) -> None:
    while True:
        try:
            returned = await reap_expired_holds(db, now=datetime.now(UTC))
            if returned:
                logger.info("expired leases returned", extra={"photos": returned})
        except Exception:
            # The next round tries again; a failing reaper must not take the service down.
            logger.exception("lease reaper failed")
        await asyncio.sleep(every)
