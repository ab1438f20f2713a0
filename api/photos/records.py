"""Photo records: plain data shared by the store, ingest, routes and GraphQL types."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from api.text import UNSAFE, unsafe_character

PhotoSource = Literal["import", "upload", "sample"]
PhotoSize = Literal["small", "original"]
ContentType = Literal["image/jpeg", "image/png", "image/webp"]

PHOTO_SIZES: tuple[PhotoSize, ...] = ("small", "original")
NEW_STATUS = "new"
"""The only status photo code writes; the survey's pre-label worker moves photos on."""
STATUSES = (NEW_STATUS, "open", "unreadable", "retired", "gold")
"""Every status a photo can have (what `photos(filter: {status})` accepts)."""


@dataclass(frozen=True, kw_only=True)
class PhotoRecord:
    """One document of the ``photos`` collection (the fields this domain owns and reads)."""

    id: str
    """The first 24 hex digits of `sha256`."""
    sha256: str
    filename: str | None
    source: PhotoSource
    added_by: str | None
    content_type: ContentType
    size_bytes: int
    width: int
    height: int
    original_file_id: object
    """Opaque GridFS id; only `api.photos.files` knows what it is."""
    small_file_id: object
    small_width: int
    small_height: int
    created_at: datetime
    status: str

    def file_id(self, size: PhotoSize) -> object:
        return self.small_file_id if size == "small" else self.original_file_id


def photo_id_for(sha256: str) -> str:
    """A photo's id from its content hash: short enough for URLs, 96 bits against collisions."""
    return sha256[:24]


MAX_FILENAME_LENGTH = 255


def filename_problem(name: str) -> str | None:
    """Why `name` cannot be a photo's filename (shown to people as is), or None."""
    if not name.strip():
        return "must not be blank"
    if len(name) > MAX_FILENAME_LENGTH:
        return f"is {len(name):,} characters; at most {MAX_FILENAME_LENGTH} are accepted"
    if "/" in name or "\\" in name or name in (".", ".."):
        return "must be a file's name, without a folder (no / or \\, not . or ..)"
    if unsafe_character(name) is not None:
        return f"must not contain {UNSAFE}"
    return None
