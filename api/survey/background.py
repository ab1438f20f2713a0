"""Background work of the survey that any number of processes may run side by side."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from api.database import Database, run_empty_transaction
from api.periodic import run_periodically
from api.survey.tasks import reap_expired_holds

logger = logging.getLogger(__name__)

REAP_EVERY_SECONDS = 5.0


@asynccontextmanager
async def run_lease_reaper(db: Database) -> AsyncIterator[None]:
    """Return expired leases' slots to the pool every few seconds while the block runs (and
    let the database reap transactions killed processes left open)."""

    async def reap() -> bool:
        await run_empty_transaction(db)
        returned = await reap_expired_holds(db, now=datetime.now(UTC))
        if returned:
            logger.info("expired leases returned", extra={"photos": returned})
        return False

    async with run_periodically("lease-reaper", reap, every=REAP_EVERY_SECONDS):
        yield
