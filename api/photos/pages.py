"""Cursor pagination over photos without counting, sorting or scanning the collection.

Photos are ordered by ``sha256`` (their id is its prefix), and because hashes are uniform,
photos of any filter are spread evenly over the key space. A page reads successive key
windows just above the cursor: the first window is sized for a large collection
(`EXPECTED_PHOTOS`), an empty window grows eightfold, and once photos are found the next
window is sized from the density seen so far. Each query therefore matches about as many
photos as the page still needs (a few dozen), whatever the collection's size, and only
that slice is sorted, in Python. Counting the collection first is no way out: on the
embedded database a count costs time proportional to the whole collection.

The order (by content hash) is arbitrary but stable: a walk with cursors visits every photo
that existed when it began exactly once.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from api.photos.records import PhotoRecord
from api.text import quoted

KEY_DIGITS = 24
KEY_SPACE = 16**KEY_DIGITS
EXPECTED_PHOTOS = 4_000_000
"""Collection size the first window is sized for; above it the first query reads more."""
MAX_GROWTH = 8
_CURSOR_PREFIX = "photo:"
_SHA256 = re.compile(r"[0-9a-f]{64}")

FetchWindow = Callable[[str | None, str | None], Awaitable[list[PhotoRecord]]]
"""Reads the photos with ``after < sha256 < below`` (either bound may be None)."""


class InvalidCursor(ValueError):
    """An `after` cursor that this server did not issue."""


@dataclass(frozen=True)
class Page:
    photos: list[PhotoRecord]
    has_next_page: bool


def encode_cursor(photo: PhotoRecord) -> str:
    return base64.urlsafe_b64encode((_CURSOR_PREFIX + photo.sha256).encode()).decode()


def decode_cursor(cursor: str) -> str:
    """The ``sha256`` a cursor points after."""
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidCursor(f"{quoted(cursor)} is not a photo cursor") from None
    sha256 = text.removeprefix(_CURSOR_PREFIX)
    if not text.startswith(_CURSOR_PREFIX) or not _SHA256.fullmatch(sha256):
        raise InvalidCursor(f"{quoted(cursor)} is not a photo cursor")
    return sha256


def _key(value: int) -> str:
    return format(value, f"0{KEY_DIGITS}x")


def _next_width(width: int, *, found: int, needed: int) -> int:
    if found == 0:
        return width * MAX_GROWTH
    # Aim a little past what is still needed, from the density seen so far.
    growth = 1.5 * needed / found
    return max(width, int(width * min(MAX_GROWTH, growth)))


async def read_page(fetch: FetchWindow, *, first: int, after: str | None) -> Page:
    """Up to `first` photos with ``sha256`` above `after` (a decoded cursor), in order."""
    wanted = first + 1  # one more tells whether there is a next page
    start = 0 if after is None else int(after[:KEY_DIGITS], 16)
    width = max(1, KEY_SPACE * wanted // EXPECTED_PHOTOS)
    lower, found = after, list[PhotoRecord]()
    while len(found) < wanted and start < KEY_SPACE:
        end = start + width
        below = _key(end) if end < KEY_SPACE else None
        batch = await fetch(lower, below)
        found.extend(batch)
        width = _next_width(width, found=len(batch), needed=wanted - len(found))
        start, lower = end, below
    found.sort(key=lambda photo: photo.sha256)
    return Page(photos=found[:first], has_next_page=len(found) > first)
