"""Photo bytes that no photo refers to, found and removed (`photosurvey prune-files`).

A photo's two files are written before its record (`ingest`). A process stopped in between
(killed, crashed, its database connection lost) leaves files that no photo refers to, and
one stopped while writing a file leaves chunks with no files document. Nothing else would
ever remove them: the same bytes uploaded again get new files. Each file records its
photo's id (`files.put_file`), so whether a photo still refers to it is a lookup by id.

Only files written before a moment are looked at: younger ones may belong to an upload
still in progress, whose record is about to be written. `MIN_GRACE_MINUTES` keeps that moment at
least ten minutes in the past. A file's age comes from its id, made by the process that
wrote it, so the machines' clocks must agree to within that margin.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from api.database import Database
from api.photos import files, store

DEFAULT_GRACE_MINUTES = 60
MIN_GRACE_MINUTES = 10


@dataclass(frozen=True)
class Pruned:
    """What was removed (or, in a dry run, would be)."""

    files: int  # complete files no photo refers to
    size_bytes: int  # their size
    incomplete: int  # files whose chunks were written but not their files document


async def prune_files(db: Database, *, written_before: datetime, dry_run: bool = False) -> Pruned:
    """Remove the files written before `written_before` that no photo refers to."""
    unreferenced: list[files.StoredFile] = []
    async for batch in files.files_written_before(db, written_before):
        referenced = await store.file_ids_of(db, {stored.photo_id for stored in batch})
        unreferenced += [stored for stored in batch if stored.id not in referenced]
    incomplete = await files.incomplete_files_before(db, written_before)
    if not dry_run:
        await files.delete_files(db, [stored.id for stored in unreferenced] + incomplete)
    return Pruned(len(unreferenced), sum(stored.length for stored in unreferenced), len(incomplete))
