"""Telling a regular file from the other things a path can name, before opening it."""

from __future__ import annotations

import stat
from pathlib import Path

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
)


def not_a_regular_file(path: Path) -> str | None:
    """What `path` names when it is not a regular file ("a folder", "a FIFO", ...), or None
    when it is one. Opening a FIFO would block until something writes to it, so this is
    asked first. Raises OSError when `path` cannot be looked at (missing among others)."""
    mode = path.stat().st_mode
    if stat.S_ISREG(mode):
        return None
    return next((kind for test, kind in _KINDS if test(mode)), "not a regular file")
