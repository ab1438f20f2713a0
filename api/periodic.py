"""Background loops of the service: run a step now and then until the app stops.

Stopping sets an event and the loop ends after the step under way, so a step is not cut
half-way (a cancelled database call leaves its connection behind); a step still running
after `STOP_GRACE_SECONDS` (say, waiting on a database that went away) is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

logger = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 3.0

Step = Callable[[], Awaitable[bool]]
"""One round of work; returns True when more work is waiting (run again at once)."""


@asynccontextmanager
async def run_periodically(name: str, step: Step, *, every: float) -> AsyncIterator[None]:
    """Run `step` every `every` seconds (at once while it reports more work) in the block."""
    stop = asyncio.Event()
    task = asyncio.create_task(_loop(name, step, every=every, stop=stop), name=name)
    try:
        yield
    finally:
        stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=STOP_GRACE_SECONDS)
        except TimeoutError:
            logger.warning("background step cancelled at shutdown", extra={"loop": name})
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def _loop(name: str, step: Step, *, every: float, stop: asyncio.Event) -> None:
    while not stop.is_set():
        busy = False
        try:
            busy = await step()
        except Exception:
            logger.exception("background step failed; trying again later", extra={"loop": name})
        if not busy:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every)
