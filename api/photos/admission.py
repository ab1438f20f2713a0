"""How much of the machine ingesting photos may take at once, whatever the clients send.

- Ingest slots: a photo's bytes (up to PHOTOSURVEY_MAX_UPLOAD_BYTES) are read into memory
  only inside a slot, held until they are stored. There is one slot per core: decoding is
  CPU-bound, and more photos at once would not be ingested sooner. The others wait with
  their bytes where they are (an upload's in the multipart parser's file on disk).
- Large decodes: a baseline JPEG decodes in draft mode in a few MiB whatever its size (9 MiB
  at 90 megapixels), but a PNG, a WebP or a progressive JPEG decodes at full size (a
  90-megapixel WebP holds 1.4 GiB). A decode whose header says it would hold more than
  `LARGE_DECODE_BYTES` runs on the one thread kept for them: one at a time, and always on
  the same thread, so that the memory one frees is what the next one takes (glibc keeps
  freed memory in the arena of the thread that used it: four 20-megapixel PNGs decoded one
  after the other, each on whichever thread was free, left the service 176 MiB larger, twice
  what one decode holds).
"""

from __future__ import annotations

import asyncio
import os
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Final, TypeVar

T = TypeVar("T")

LARGE_DECODE_BYTES: Final = 64 * 1024 * 1024
"""Decodes estimated (`inference.images.ImageHeader.decode_bytes`) to hold more than this run
one at a time; smaller ones (any baseline JPEG) side by side, on the loop's default
executor."""


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may run on
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


INGEST_SLOTS: Final = _cores()

# One semaphore per event loop: an asyncio primitive belongs to the loop it waits in (the
# service runs one loop; the tests, one per test).
_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)
# Process-wide, like the memory it guards; its thread starts with the first large decode.
_large_decodes = ThreadPoolExecutor(max_workers=1, thread_name_prefix="photosurvey-decode")


def ingest_slot() -> asyncio.Semaphore:
    """This event loop's ingest slots: hold one (``async with``) from reading a photo's
    bytes into memory until they are stored."""
    loop = asyncio.get_running_loop()
    slots = _slots.get(loop)
    if slots is None:
        slots = _slots[loop] = asyncio.Semaphore(INGEST_SLOTS)
    return slots


async def decode(work: Callable[[], T], *, decode_bytes: int) -> T:
    """`work()` (a decode estimated to hold `decode_bytes`) in a worker thread: the large-
    decode thread when it is large, else the loop's default executor."""
    executor = _large_decodes if decode_bytes > LARGE_DECODE_BYTES else None
    return await asyncio.get_running_loop().run_in_executor(executor, work)
